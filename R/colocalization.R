# The colocation quotient (Leslie & Kronenfeld 2011), global and local,
# on the neighbour graph and permutations of interaction_test().

#' Colocation quotient between cell types
#'
#' The global colocation quotient of Leslie & Kronenfeld (2011) for every
#' ordered pair of types and every image:
#' `CLQ(A -> B) = (C_AB / N_A') / (N_B' / (N - 1))`, where `C_AB` sums, over
#' the A cells, the fraction of each cell's neighbours that are of type B,
#' `N_A'` is the number of A cells with at least one neighbour, `N` the
#' number of cells and `N_B' = N_B` for B != A, `N_B - 1` for B = A (a cell
#' is not its own neighbour). CLQ > 1: B is over-represented around A.
#'
#' Neighbours are the `k` nearest other cells, with every cell tied with
#' the k-th included and weighted equally (as Leslie & Kronenfeld split
#' ties among equidistant nearest neighbours), or the other cells within
#' `radius` microns. Default: `k = 1`, the original nearest-neighbour
#' definition. With `nperm > 0`, labels are permuted within each image on
#' a neighbour graph built once (as in [interaction_test()]) and `p_greater`
#' / `p_less` / `p` / `call` are computed the same way.
#'
#' `local_colocalization_quotient()` gives the per-cell (local) version:
#' for a cell i of type A, `LCLQ_i(A -> B) = f_i(B) / (N_B' / (N - 1))`,
#' with `f_i(B)` the fraction of its neighbours that are B (uniform
#' weights over the same neighbourhood; Cromley et al. 2014 use kernel
#' weights). The global CLQ is the mean of the local ones over the A cells
#' with at least one neighbour.
#'
#' @inheritParams interaction_test
#' @param radius Neighbourhood radius in microns (or `NULL`).
#' @param k Number of nearest neighbours (or `NULL`). Give at most one of
#'   `radius` and `k`; neither means `k = 1`.
#' @param nperm Number of label permutations for p-values (0: none).
#' @returns `colocalization_quotient()`: a `colocalization_quotient` data
#'   frame, one row per image and ordered pair: `image`, `from`, `to`,
#'   `n_from`, `n_to`, `clq`, and with `nperm > 0` `perm_mean`, `perm_sd`,
#'   `z`, `p_greater`, `p_less`, `p`, `call`. `NA` where a type is absent,
#'   where no A cell has a neighbour, or where B = A has a single cell.
#'
#'   `local_colocalization_quotient()`: a `local_clq` data frame, one row
#'   per cell of the `from` types and `to` type: `image`, `cell_id`, `from`
#'   (the cell's type), `to`, `n_neighbors`, `local_clq` (`NA` without
#'   neighbours).
#' @references Leslie TF, Kronenfeld BJ (2011). The colocation quotient: a
#'   new measure of spatial association between categorical subsets of
#'   points. *Geographical Analysis* 43:306-326.
#'
#'   Cromley RG, Hanink DM, Bentley GC (2014). Geographically weighted
#'   colocation quotients: specification and application. *The
#'   Professional Geographer* 66:138-148.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(400, 0, 300), y = runif(400, 0, 300),
#'                  type = sample(c("Tumor", "CD8 T", "Macrophage"), 400,
#'                                TRUE))
#' cells <- spatial_cells(df)
#' colocalization_quotient(cells)
#' colocalization_quotient(cells, radius = 25, nperm = 99)
#' head(local_colocalization_quotient(cells, from = "CD8 T", k = 5))
colocalization_quotient <- function(cells, radius = NULL, k = NULL,
                                    nperm = 0, types = NULL, alpha = 0.05,
                                    nthreads = immunoscape_threads(),
                                    BPPARAM = NULL, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    nb <- check_clq_neighbors(radius, k)
    nperm <- check_count(nperm, "nperm", min = 0L)
    check_memory(16 * (nperm + 1) * as.double(nlevels(cells$type))^2,
                 "nperm")
    types <- check_types(cells, types)
    check_alpha(alpha)
    nthreads <- check_nthreads(nthreads)
    lv <- levels(cells$type)

    out <- map_images(cells, function(sub, image) {
        res <- interaction_perm_image(sub, nb$k, nb$radius, TRUE, "clq", 1L,
                                      nperm, nthreads)
        r <- perm_rows(res, image, lv, types,
                       tabulate(as.integer(sub$type), length(lv)), nperm,
                       alpha)
        names(r)[names(r) == "observed"] <- "clq"
        r
    }, BPPARAM = BPPARAM, label = "Colocation quotient",
       seeded = nperm > 0)
    problems <- attr(out, "problems")
    if (!nrow(out)) {
        out <- finish_pairs(out, cells, types, nperm)
        names(out)[names(out) == "observed"] <- "clq"
    } else {
        out <- finish_pairs(out, cells, types, nperm)
    }
    structure(out,
              class = c("colocalization_quotient", "immunoscape_result",
                        "data.frame"),
              radius = nb$radius, k = nb$k, nperm = nperm, alpha = alpha,
              problems = problems)
}

# CLQ neighbourhoods: radius or k, neither meaning k = 1.
check_clq_neighbors <- function(radius, k, call = rlang::caller_env()) {
    nb <- check_neighbors(radius, k, call = call)
    if (is.null(nb$radius) && is.null(nb$k)) nb$k <- 1L
    nb
}

#' @export
print.colocalization_quotient <- function(x, ...) {
    nb <- neighbors_label(x)
    nimg <- length(unique(x$image))
    cat(sprintf("<colocalization_quotient> %s; %d image%s x %d ordered pairs%s\n",
                nb, nimg, if (nimg == 1) "" else "s", nlevels(x$from)^2,
                if (attr(x, "nperm") > 0)
                    sprintf("; %d permutations", attr(x, "nperm")) else ""))
    print(utils::head(as.data.frame(x)), ...)
    invisible(x)
}

#' @rdname colocalization_quotient
#' @param object A `colocalization_quotient` result.
#' @details `summary()` of a `colocalization_quotient` gives one row per
#'   ordered pair: `n_images`, `mean_clq`, `median_clq`, and with
#'   permutations the fractions of images with call 1 / -1.
#' @export
summary.colocalization_quotient <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    grp <- interaction(df$from, df$to, drop = TRUE, lex.order = TRUE)
    s <- lapply(split(df, grp), function(d) {
        ok <- !is.na(d$clq)
        m <- sum(ok)
        r <- data.frame(from = d$from[1], to = d$to[1], n_images = m,
                        mean_clq = if (m) mean(d$clq[ok]) else NA_real_,
                        median_clq = if (m) stats::median(d$clq[ok])
                                     else NA_real_)
        if (!is.null(d$call)) {
            r$frac_attraction <- if (m) sum(d$call[ok] == 1L, na.rm = TRUE) / m
                                 else NA_real_
            r$frac_avoidance <- if (m) sum(d$call[ok] == -1L, na.rm = TRUE) / m
                                else NA_real_
        }
        r
    })
    out <- do.call(rbind, s)
    rownames(out) <- NULL
    carry_result_groups(out, object)
}

#' @rdname colocalization_quotient
#' @param limit For `autoplot()`: colour limit of log2(CLQ).
#' @details `autoplot()` of a `colocalization_quotient` draws log2(CLQ)
#'   as a heatmap: one panel per image, marking pairs with a non-zero call
#'   when permutations were run, or the mean over images (`pooled`).
#' @param pooled For `autoplot()`: `TRUE` draws the mean log2(CLQ) over
#'   images; default when there is more than one image.
#' @export
autoplot.colocalization_quotient <- function(object, pooled = NULL,
                                             limit = 3, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    df$log2_clq <- log2(df$clq)
    if (is.null(df$call)) df$call <- NA_integer_
    if (is.null(pooled)) pooled <- length(unique(df$image)) > 1
    if (pooled) {
        grp <- interaction(df$from, df$to, drop = TRUE, lex.order = TRUE)
        df <- do.call(rbind, lapply(split(df, grp), function(d) {
            v <- d$log2_clq[is.finite(d$log2_clq)]
            data.frame(from = d$from[1], to = d$to[1],
                       log2_clq = if (length(v)) mean(v) else NA_real_,
                       call = NA_integer_)
        }))
    }
    pair_heatmap(df, "log2_clq", "call",
                 if (pooled) "Colocation quotient - mean over images"
                 else "Colocation quotient",
                 "log2 CLQ", limit, facet = !pooled)
}

#' @rdname colocalization_quotient
#' @param from,to Types of the cells to compute the local CLQ for, and of
#'   their neighbours; `NULL` for every type.
#' @export
local_colocalization_quotient <- function(cells, from = NULL, to = NULL,
                                          radius = NULL, k = NULL,
                                          nthreads = immunoscape_threads(),
                                          BPPARAM = NULL, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    nb <- check_clq_neighbors(radius, k)
    from <- check_types(cells, from)
    to <- check_types(cells, to)
    nthreads <- check_nthreads(nthreads)
    lv <- levels(cells$type)
    tcol <- match(to, lv)

    out <- map_images(cells, function(sub, image) {
        rows <- which(sub$type %in% from)
        if (!length(rows)) return(NULL)
        m <- neighborhood_counts(sub, if (is.null(nb$k)) 0L else nb$k,
                                 nb$radius, self = FALSE, ties = TRUE,
                                 nthreads = nthreads)[rows, , drop = FALSE]
        deg <- rowSums(m)
        ntot <- nrow(sub)
        ntype <- tabulate(as.integer(sub$type), length(lv))
        own <- as.integer(sub$type[rows])
        nf <- length(rows)
        nt <- length(to)
        nb_b <- matrix(ntype[tcol], nf, nt, byrow = TRUE) -
            outer(own, tcol, "==")
        frac <- m[, tcol, drop = FALSE] / deg
        lclq <- frac / (nb_b / (ntot - 1))
        lclq[deg == 0 | nb_b <= 0 | !is.finite(lclq)] <- NA
        data.frame(image = rep(sub$image[rows], each = nt),
                   cell_id = rep(sub$cell_id[rows], each = nt),
                   from = rep(sub$type[rows], each = nt),
                   to = rep(to, times = nf),
                   n_neighbors = rep(as.integer(deg), each = nt),
                   local_clq = as.vector(t(lclq)))
    }, BPPARAM = BPPARAM, label = "Local colocation quotient")
    problems <- attr(out, "problems")
    if (!nrow(out)) {
        out <- data.frame(image = factor(), cell_id = integer(),
                          from = factor(), to = character(),
                          n_neighbors = integer(), local_clq = double())
    }
    out$image <- factor(as.character(out$image), levels = levels(cells$image))
    # from and to share one level set (the types of either role)
    used <- lv[lv %in% c(from, to)]
    out$from <- factor(as.character(out$from), levels = used)
    out$to <- factor(as.character(out$to), levels = used)
    structure(out,
              class = c("local_clq", "immunoscape_result",
                        "data.frame"),
              radius = nb$radius,
              k = nb$k, problems = problems)
}

#' @export
print.local_clq <- function(x, ...) {
    nb <- neighbors_label(x)
    cat(sprintf("<local_clq> %s rows (cells x target types), %s\n",
                format(nrow(x), big.mark = ","), nb))
    print(utils::head(as.data.frame(x)), ...)
    invisible(x)
}

#' @rdname colocalization_quotient
#' @details `summary()` of a `local_clq` result gives, per image, `from`
#'   and `to` type, the number of cells, the mean and median local CLQ and
#'   the fraction of cells with local CLQ above 1; `autoplot()` draws the
#'   distribution of log2 local CLQ per pair (cells without neighbours or
#'   with a local CLQ of 0 are left out).
#' @export
summary.local_clq <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    grp <- interaction(df$image, df$from, df$to, drop = TRUE,
                       lex.order = TRUE)
    s <- lapply(split(df, grp), function(d) {
        v <- d$local_clq[!is.na(d$local_clq)]
        data.frame(image = d$image[1], from = d$from[1], to = d$to[1],
                   n_cells = nrow(d), n_defined = length(v),
                   mean_local_clq = if (length(v)) mean(v) else NA_real_,
                   median_local_clq = if (length(v)) stats::median(v)
                                      else NA_real_,
                   frac_above_1 = if (length(v)) mean(v > 1) else NA_real_)
    })
    out <- do.call(rbind, s)
    rownames(out) <- NULL
    carry_result_groups(out, object)
}

#' @rdname colocalization_quotient
#' @export
autoplot.local_clq <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    # cells without neighbours have no local CLQ; zeros (no neighbour of
    # the type) are kept, so the scale is linear
    df <- df[!is.na(df$local_clq), , drop = FALSE]
    if (!nrow(df)) {
        stop_immunoscape(c(
            "No cell has a defined local CLQ: nothing to plot.",
            "i" = "Use a larger {.arg radius} or {.arg k}."
        ), class = "argument")
    }
    ggplot2::ggplot(df, ggplot2::aes(x = .data$to, y = .data$local_clq)) +
        ggplot2::geom_boxplot(outlier.size = 0.5) +
        ggplot2::geom_hline(yintercept = 1, linetype = 2) +
        ggplot2::facet_wrap(ggplot2::vars(.data$from),
                            labeller = ggplot2::label_both) +
        ggplot2::labs(x = "to (neighbour type)",
                      y = "local CLQ (1: as expected by chance)",
                      title = "Local colocation quotient") +
        ggplot2::theme_minimal() +
        ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 45,
                                                           hjust = 1))
}
