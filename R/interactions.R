# Interactions between cell types: permutation neighbourhood enrichment
# (histoCAT / imcRtools style), the colocation quotient, the Keren et al.
# (2018) mixing score and tumour architecture class.

interaction_methods <- c(classic = 0L, histocat = 1L, patch = 2L, clq = 3L)

# One image: the neighbour graph once, then nperm label permutations on it.
# Returns the raw list of ffi_inter_perm() (T x T matrices, row-major).
interaction_perm_image <- function(sub, k, radius, ties, method, patch_size,
                                   nperm, nthreads, keep = FALSE) {
    if (nlevels(sub$type) > 65535L) {
        stop_immunoscape(c(
            "Too many cell types ({nlevels(sub$type)}) for a pairwise test.",
            "i" = "Merge rare phenotypes or drop unused factor levels first."
        ), class = "type")
    }
    lab <- as.integer(sub$type) - 1L
    .Call(ffi_inter_perm, sub$x, sub$y, lab, nlevels(sub$type),
          if (is.null(radius)) as.integer(k) else 0L,
          if (is.null(radius)) 0 else as.numeric(radius),
          as.integer(ties), interaction_methods[[method]],
          as.integer(patch_size), as.integer(nperm), as.integer(keep),
          as.integer(nthreads))
}

# Tests only: the order in which ffi_inter_perm() visits an image's cells
# (row numbers of `sub`), so an R oracle can sum in the same order.
interaction_grid_order <- function(sub, k = NULL, radius = NULL,
                                   ties = FALSE) {
    .Call(ffi_inter_order, sub$x, sub$y,
          if (is.null(radius)) as.integer(k) else 0L,
          if (is.null(radius)) 0 else as.numeric(radius), as.integer(ties))
}

# Tidy rows (image x ordered pair of `types`) from ffi_inter_perm() output.
perm_rows <- function(res, image, lv, types, ntype, nperm, alpha) {
    nt <- length(lv)
    sel <- match(types, lv)
    from <- rep(sel, each = length(sel))
    to <- rep(sel, times = length(sel))
    w <- (from - 1L) * nt + to
    na <- function(v) {
        v <- v[w]
        v[is.nan(v)] <- NA
        v
    }
    absent <- ntype[from] == 0L | ntype[to] == 0L
    obs <- na(res[[1]])
    obs[absent] <- NA
    out <- data.frame(image = rep(image, length(w)),
                      from = factor(lv[from], levels = types),
                      to = factor(lv[to], levels = types),
                      n_from = ntype[from], n_to = ntype[to],
                      observed = obs)
    if (nperm > 0) {
        mean <- na(res[[2]])
        sd <- na(res[[3]])
        nval <- res[[6]][w]
        ok <- !is.na(obs) & nval > 0
        p_greater <- ifelse(ok, (1 + res[[4]][w]) / (1 + nval), NA_real_)
        p_less <- ifelse(ok, (1 + res[[5]][w]) / (1 + nval), NA_real_)
        z <- ifelse(ok & !is.na(sd) & sd > 0, (obs - mean) / sd, NA_real_)
        p <- pmin(1, 2 * pmin(p_greater, p_less))
        out$perm_mean <- ifelse(ok, mean, NA_real_)
        out$perm_sd <- ifelse(ok, sd, NA_real_)
        out$z <- z
        out$p_greater <- p_greater
        out$p_less <- p_less
        out$p <- p
        out$call <- ifelse(is.na(p), NA_integer_,
                           ifelse(p <= alpha,
                                  ifelse(p_greater < p_less, 1L, -1L), 0L))
    }
    out
}

check_alpha <- function(alpha, call = rlang::caller_env()) {
    if (!is.numeric(alpha) || length(alpha) != 1L || is.na(alpha) ||
        alpha <= 0 || alpha >= 1) {
        stop_immunoscape(
            "{.arg alpha} must be one number between 0 and 1, not {.val {format(alpha)}}.",
            class = "argument", call = call
        )
    }
    invisible(alpha)
}

finish_pairs <- function(out, cells, types, nperm) {
    if (!nrow(out)) {
        out <- data.frame(image = factor(), from = factor(), to = factor(),
                          n_from = integer(), n_to = integer(),
                          observed = double())
        if (nperm > 0) {
            out$perm_mean <- out$perm_sd <- out$z <- double()
            out$p_greater <- out$p_less <- out$p <- double()
            out$call <- integer()
        }
    }
    out$image <- factor(as.character(out$image), levels = levels(cells$image))
    out$from <- factor(as.character(out$from), levels = types)
    out$to <- factor(as.character(out$to), levels = types)
    out
}

#' Permutation test of neighbourhood enrichment between cell types
#'
#' For every ordered pair of types (A, B) and every image: is B found
#' around A more (attraction) or less (avoidance) often than if the type
#' labels were scattered at random over the same cells? Neighbours are the
#' other cells within `radius` microns (a distance equal to `radius`
#' counts). The neighbour graph is built once per image and reused by all
#' permutations; labels are permuted within each image, keeping the
#' number of cells of each type.
#'
#' Statistics, with `c_i(B)` the number of B neighbours of cell i (the
#' definitions of `imcRtools::countInteractions()`):
#' * `"classic"`: mean of `c_i(B)` over all A cells ("how many B
#'   neighbours does an A cell have on average?").
#' * `"histocat"` (imcRtools' "histocat", later called "conditional";
#'   Schapiro et al. 2017): mean of `c_i(B)` over the A cells with at least
#'   one B neighbour; 0 when no A cell has one.
#' * `"patch"` (Schulz et al. 2018): fraction of A cells with at least
#'   `patch_size` B neighbours.
#'
#' Choosing: `"histocat"` conditions on contact, so it asks "where A and B
#' meet, do they meet in numbers?". In a compartmentalized tumour the few
#' tumour cells at the margin that touch T cells touch several, and
#' tumour -> T cell can come out as attraction although T cells are kept
#' out of the tumour nests; `"classic"` (and the reverse pair) shows the
#' exclusion. For questions of infiltration or exclusion use `"classic"`;
#' read the two directions of a pair together in either case.
#'
#' From `nperm` permutations: `perm_mean`, `perm_sd`, `z = (observed -
#' perm_mean) / perm_sd`, `p_greater = (1 + #{perm >= observed}) / (1 +
#' nperm)` and `p_less = (1 + #{perm <= observed}) / (1 + nperm)`, where
#' comparisons allow a relative tolerance of 1e-9 so that floating-point
#' noise never breaks a tie. `p` is the two-sided
#' `min(1, 2 * min(p_greater, p_less))` and `call` is `1` (attraction),
#' `-1` (avoidance) or `0` at level `alpha` on `p`; so under random labels
#' about a fraction `alpha` of the calls are non-zero. (imcRtools instead
#' calls at `min(p_gt, p_lt) < p_threshold`, one-sided in either
#' direction.) A pair with a type absent from an image gives `NA`
#' throughout.
#'
#' Reproducible with [set.seed()] and identical for any `nthreads`: R's
#' random number generator draws one seed per permutation (two uniform
#' draws, images in order, on the main thread), and each permutation is a
#' Fisher-Yates shuffle driven by a xoshiro256** generator started from
#' its seed, so permutations can be drawn and evaluated in parallel. Each
#' image starts from its own seed, drawn from R's generator before the
#' images are dispatched, so results are the same with or without
#' `BPPARAM` (any backend, any number of workers).
#'
#' @param cells A `spatial_cells` object.
#' @param radius Neighbourhood radius in microns.
#' @param method `"histocat"` (default), `"classic"` or `"patch"`.
#' @param nperm Number of label permutations (0: observed statistics only).
#' @param types Types to test (all ordered pairs); `NULL` for every type.
#'   Labels of all cells are permuted either way.
#' @param patch_size For `method = "patch"`: the number of B neighbours that
#'   makes an A cell part of a patch.
#' @param alpha Level of the -1/0/1 `call`.
#' @param nthreads Number of OpenMP threads; results do not depend on it.
#' @param BPPARAM `NULL` (serial, with a progress bar) or a BiocParallel
#'   parameter object to analyse images in parallel.
#' @param ... Unused; a misspelled argument is an error.
#' @returns An `interaction_test` data frame, one row per image and ordered
#'   pair: `image`, `from` (A), `to` (B), `n_from`, `n_to` (cells of each
#'   type in the image), `observed`, and with `nperm > 0`: `perm_mean`,
#'   `perm_sd`, `z`, `p_greater`, `p_less`, `p`, `call`. `summary()` pools
#'   the images (fraction of images with attraction / avoidance per pair
#'   and Stouffer's z); `autoplot()` draws a heatmap of z with marks on
#'   significant pairs.
#' @references Schapiro D, Jackson HW, Raghuraman S, et al. (2017).
#'   histoCAT: analysis of cell phenotypes and interactions in multiplex
#'   image cytometry data. *Nature Methods* 14:873-876.
#'
#'   Schulz D, Zanotelli VRT, Fischer JR, et al. (2018). Simultaneous
#'   multiplexed imaging of mRNA and proteins with subcellular resolution
#'   in breast cancer tissue samples by mass cytometry. *Cell Systems*
#'   6:25-36.
#' @seealso [colocalization_quotient()], [mixing_score()].
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(400, 0, 300), y = runif(400, 0, 300),
#'                  type = sample(c("Tumor", "CD8 T", "Macrophage"), 400,
#'                                TRUE))
#' cells <- spatial_cells(df)
#' it <- interaction_test(cells, radius = 20, nperm = 99)
#' it
#' summary(it)
interaction_test <- function(cells, radius = 20,
                             method = c("histocat", "classic", "patch"),
                             nperm = 999, types = NULL, patch_size = 3,
                             alpha = 0.05, nthreads = immunoscape_threads(),
                             BPPARAM = NULL, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    radius <- check_radius(radius)
    method <- check_choice(method, c("histocat", "classic", "patch"))
    nperm <- check_count(nperm, "nperm", min = 0L)
    types <- check_types(cells, types)
    patch_size <- check_count(patch_size, "patch_size")
    check_alpha(alpha)
    nthreads <- check_nthreads(nthreads)
    lv <- levels(cells$type)

    out <- map_images(cells, function(sub, image) {
        res <- interaction_perm_image(sub, NULL, radius, FALSE, method,
                                      patch_size, nperm, nthreads)
        perm_rows(res, image, lv, types,
                  tabulate(as.integer(sub$type), length(lv)), nperm, alpha)
    }, BPPARAM = BPPARAM, label = "Interaction test", seeded = nperm > 0)
    problems <- attr(out, "problems")
    out <- finish_pairs(out, cells, types, nperm)
    structure(out,
              class = c("interaction_test", "immunoscape_result",
                        "data.frame"),
              radius = radius, method = method, nperm = nperm,
              patch_size = patch_size, alpha = alpha, problems = problems)
}

#' @export
print.interaction_test <- function(x, ...) {
    # counts of what x holds (a selection of rows included)
    nimg <- length(unique(x$image))
    npair <- nrow(unique(data.frame(from = x$from, to = x$to)))
    cat(sprintf("<interaction_test> %s statistic, radius %s um, %d permutations; %s row%s: %d image%s x %d ordered pair%s\n",
                attr(x, "method"), format(attr(x, "radius")),
                attr(x, "nperm"), format(nrow(x), big.mark = ","),
                if (nrow(x) == 1) "" else "s", nimg,
                if (nimg == 1) "" else "s", npair,
                if (npair == 1) "" else "s"))
    if (!is.null(x$call)) {
        cat(sprintf("calls at alpha = %s: %d attraction, %d avoidance, %d not significant, %d NA\n",
                    format(attr(x, "alpha")), sum(x$call == 1L, na.rm = TRUE),
                    sum(x$call == -1L, na.rm = TRUE),
                    sum(x$call == 0L, na.rm = TRUE), sum(is.na(x$call))))
    }
    print(utils::head(as.data.frame(x)), ...)
    invisible(x)
}

# Cohort summary of per-image permutation results.
pool_pairs <- function(df) {
    grp <- interaction(df$from, df$to, drop = TRUE, lex.order = TRUE)
    s <- lapply(split(df, grp), function(d) {
        ok <- !is.na(d$observed)
        z <- d$z[is.finite(d$z)]
        zs <- if (length(z)) sum(z) / sqrt(length(z)) else NA_real_
        m <- sum(ok)
        data.frame(from = d$from[1], to = d$to[1], n_images = m,
                   frac_attraction = if (m) sum(d$call[ok] == 1L, na.rm = TRUE) / m
                                     else NA_real_,
                   frac_avoidance = if (m) sum(d$call[ok] == -1L, na.rm = TRUE) / m
                                    else NA_real_,
                   mean_observed = if (m) mean(d$observed[ok]) else NA_real_,
                   mean_z = if (length(z)) mean(z) else NA_real_,
                   n_z = length(z),
                   stouffer_z = zs,
                   stouffer_p = 2 * stats::pnorm(-abs(zs)))
    })
    out <- do.call(rbind, s)
    rownames(out) <- NULL
    out
}

#' @rdname interaction_test
#' @param object An `interaction_test` result.
#' @details `summary()` returns a `summary_interaction_test` data frame,
#'   one row per ordered pair: `from`, `to`, `n_images` (images where both
#'   types occur), `frac_attraction`, `frac_avoidance` (fractions of those
#'   images with call 1 / -1), `mean_observed`, `mean_z`, `n_z` (images
#'   with a finite z), `stouffer_z` (sum of z over sqrt(n_z): pooled
#'   evidence, comparable between cohorts) and its two-sided `stouffer_p`.
#' @export
summary.interaction_test <- function(object, ...) {
    check_dots(...)
    if (is.null(object$z)) {
        stop_immunoscape(c(
            "This result has no permutations to summarise.",
            "i" = "Run {.fn interaction_test} with {.code nperm > 0}."
        ), class = "argument")
    }
    out <- pool_pairs(as.data.frame(object))
    structure(out,
              class = c("summary_interaction_test", "immunoscape_result",
                        "data.frame"),
              method = attr(object, "method"), radius = attr(object, "radius"),
              alpha = attr(object, "alpha"))
}

#' @export
print.summary_interaction_test <- function(x, ...) {
    cat(sprintf("Interaction test (%s, radius %s um) pooled over images\n",
                attr(x, "method"), format(attr(x, "radius"))))
    df <- x
    class(df) <- "data.frame"
    num <- vapply(df, is.double, logical(1))
    df[num] <- lapply(df[num], signif, 3)
    print(df, row.names = FALSE, ...)
    invisible(x)
}

# Heatmap of z (or another column) with marks: shared by the results of
# interaction_test() and colocalization_quotient().
pair_heatmap <- function(df, fill, mark, title, legend, limit = NULL,
                         facet = TRUE) {
    df$fill <- df[[fill]]
    if (!is.null(limit)) df$fill <- pmin(pmax(df$fill, -limit), limit)
    df$mark <- ifelse(is.na(df[[mark]]), "",
                      ifelse(df[[mark]] > 0, "+",
                             ifelse(df[[mark]] < 0, "-", "")))
    p <- ggplot2::ggplot(df, ggplot2::aes(x = .data$to, y = .data$from,
                                          fill = .data$fill)) +
        ggplot2::geom_tile(colour = "white") +
        ggplot2::geom_text(ggplot2::aes(label = .data$mark), size = 4) +
        ggplot2::scale_fill_gradient2(low = "#2166AC", mid = "white",
                                      high = "#B2182B", midpoint = 0,
                                      na.value = "grey85", name = legend,
                                      limits = if (!is.null(limit))
                                          c(-limit, limit)) +
        ggplot2::scale_y_discrete(limits = rev) +
        ggplot2::labs(x = "to (neighbour type)", y = "from (centre type)",
                      title = title) +
        ggplot2::theme_minimal() +
        ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 45,
                                                           hjust = 1))
    if (facet && "image" %in% names(df) && length(unique(df$image)) > 1) {
        page_images(unique(df$image))   # warns above 25 panels
        p <- p + ggplot2::facet_wrap(ggplot2::vars(.data$image))
    }
    p
}

#' @rdname interaction_test
#' @param pooled For `autoplot()`: `TRUE` draws Stouffer's pooled z of the
#'   cohort (marks where its two-sided p is at most `alpha`); `FALSE` one
#'   panel per image (marks on non-zero calls). Default: pooled when there
#'   is more than one image.
#' @param limit Colour scale limit for z (values beyond are drawn at it).
#' @export
autoplot.interaction_test <- function(object, pooled = NULL, limit = 10,
                                      ...) {
    check_dots(...)
    if (is.null(object$z)) {
        stop_immunoscape("Nothing to plot without permutations ({.code nperm = 0}).",
                         class = "argument")
    }
    df <- as.data.frame(object)
    if (is.null(pooled)) pooled <- length(unique(df$image)) > 1
    ttl <- sprintf("Interaction test (%s, radius %s \u00b5m)",
                   attr(object, "method"), format(attr(object, "radius")))
    if (pooled) {
        s <- pool_pairs(df)
        s$mark <- ifelse(!is.na(s$stouffer_p) &
                             s$stouffer_p <= attr(object, "alpha"),
                         sign(s$stouffer_z), 0)
        return(pair_heatmap(s, "stouffer_z", "mark",
                            paste(ttl, "- pooled"), "Stouffer z", limit,
                            facet = FALSE))
    }
    pair_heatmap(df, "z", "call", ttl, "z", limit)
}

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

check_clq_neighbors <- function(radius, k, call = rlang::caller_env()) {
    if (!is.null(radius) && !is.null(k)) {
        stop_immunoscape(c(
            "Give either {.arg radius} or {.arg k}, not both.",
            "i" = "{.arg k} counts nearest neighbours; {.arg radius} is a distance in microns."
        ), class = "argument", call = call)
    }
    if (!is.null(radius)) {
        return(list(radius = check_radius(radius, call = call), k = NULL))
    }
    list(radius = NULL, k = if (is.null(k)) 1L else check_count(k, "k",
                                                                 call = call))
}

#' @export
print.colocalization_quotient <- function(x, ...) {
    r <- attr(x, "radius")
    nb <- if (is.null(r)) sprintf("k = %d nearest neighbours", attr(x, "k"))
          else sprintf("radius %s um", format(r))
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
    out
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
    out$from <- factor(as.character(out$from), levels = lv)
    out$to <- factor(as.character(out$to), levels = to)
    structure(out,
              class = c("local_clq", "immunoscape_result",
                        "data.frame"),
              radius = nb$radius,
              k = nb$k, problems = problems)
}

#' @export
print.local_clq <- function(x, ...) {
    r <- attr(x, "radius")
    nb <- if (is.null(r)) sprintf("k = %d nearest neighbours", attr(x, "k"))
          else sprintf("radius %s um", format(r))
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
    out
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

check_roles <- function(cells, a, b, arg_a, arg_b,
                        call = rlang::caller_env()) {
    if (missing(a) || is.null(a)) {
        stop_immunoscape("{.arg {arg_a}} is missing: name the cell types of that role.",
                         class = "type", call = call)
    }
    if (missing(b) || is.null(b)) {
        stop_immunoscape("{.arg {arg_b}} is missing: name the cell types of that role.",
                         class = "type", call = call)
    }
    a <- check_types(cells, a, arg = arg_a, call = call)
    b <- check_types(cells, b, arg = arg_b, call = call)
    both <- intersect(a, b)
    if (length(both)) {
        stop_immunoscape(c(
            "{.arg {arg_a}} and {.arg {arg_b}} share the type{?s} {.val {both}}.",
            "i" = "A cell type can play only one role."
        ), class = "type", call = call)
    }
    list(a, b)
}

# Counts of reference-target and reference-reference pairs within radius
# in one image (each unordered pair once).
mixing_counts <- function(sub, reference, target, radius, nthreads) {
    nr <- sum(sub$type %in% reference)
    nt <- sum(sub$type %in% target)
    if (nr == 0L) return(c(nr, nt, 0, 0))
    cm <- neighbor_count_matrix(sub, radius, reference, nthreads)$counts
    rt <- sum(cm[, colnames(cm) %in% target])
    rr2 <- sum(cm[, colnames(cm) %in% reference])
    c(nr, nt, rt, rr2 / 2)
}

#' Mixing score of two cell populations
#'
#' The mixing score of Keren et al. (2018): the number of
#' reference-target pairs of cells within `radius` divided by the number of
#' reference-reference pairs within `radius` (each pair counted once), per
#' image. Keren et al. counted touching cells (reference = immune, target =
#' tumour); here a centroid distance of at most `radius` microns stands in
#' for touching, 20 um by default (about one cell diameter; the default of
#' SPIAT's `mixing_score_summary()`).
#'
#' The normalized mixing score divides by what the score would be if the
#' labels were scattered at random over the same cells: the expected
#' ratio of the pair counts, `2 * N_target / (N_reference - 1)`, so it is
#' about 1 under random labelling, below 1 when the populations keep apart
#' and above 1 when they mix more than chance. (SPIAT's
#' `mixing_score_summary()` counts each reference-reference pair twice:
#' its mixing score is half of ours and its normalised score is twice
#' ours.)
#'
#' @inheritParams interaction_test
#' @param reference,target Cell types (one or several each, pooled) of the
#'   two populations; they must not overlap.
#' @param radius Distance in microns within which two cells interact.
#' @returns A `mixing_score` data frame, one row per image: `image`,
#'   `n_reference`, `n_target`, `n_reference_target`,
#'   `n_reference_reference` (pairs within `radius`), `mixing_score`
#'   (`NA` when both pair counts are 0, `Inf` when only the
#'   reference-reference count is), `expected` and
#'   `normalized_mixing_score` (`NA` when fewer than 2 reference or no
#'   target cells).
#' @references Keren L, Bosse M, Marquez D, et al. (2018). A structured
#'   tumor-immune microenvironment in triple negative breast cancer
#'   revealed by multiplexed ion beam imaging. *Cell* 174:1373-1387.
#'
#'   Feng Y, Yang T, Zhu J, et al. (2023). Spatial analysis with SPIAT and
#'   spaSim to characterize and simulate tissue microenvironments. *Nature
#'   Communications* 14:2697.
#' @seealso [classify_architecture()].
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(500, 0, 400), y = runif(500, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T", "CD4 T"), 500, TRUE,
#'                                prob = c(0.6, 0.2, 0.2)))
#' cells <- spatial_cells(df)
#' mixing_score(cells, reference = c("CD8 T", "CD4 T"), target = "Tumor")
mixing_score <- function(cells, reference, target, radius = 20,
                         nthreads = immunoscape_threads(), BPPARAM = NULL,
                         ...) {
    check_dots(...)
    cells <- check_cells(cells)
    roles <- check_roles(cells, if (!missing(reference)) reference,
                         if (!missing(target)) target, "reference", "target")
    radius <- check_radius(radius)
    nthreads <- check_nthreads(nthreads)
    out <- mixing_table(cells, roles[[1]], roles[[2]], radius, nthreads,
                        BPPARAM)
    structure(out,
              class = c("mixing_score", "immunoscape_result",
                        "data.frame"),
              radius = radius,
              reference = roles[[1]], target = roles[[2]],
              problems = attr(out, "problems"))
}

mixing_table <- function(cells, reference, target, radius, nthreads,
                         BPPARAM) {
    out <- map_images(cells, function(sub, image) {
        v <- mixing_counts(sub, reference, target, radius, nthreads)
        data.frame(image = image, n_reference = as.integer(v[1]),
                   n_target = as.integer(v[2]), n_reference_target = v[3],
                   n_reference_reference = v[4])
    }, BPPARAM = BPPARAM, label = "Mixing score")
    problems <- attr(out, "problems")
    if (!nrow(out)) {
        out <- data.frame(image = character(), n_reference = integer(),
                          n_target = integer(), n_reference_target = double(),
                          n_reference_reference = double())
    }
    out$image <- factor(as.character(out$image), levels = levels(cells$image))
    rt <- out$n_reference_target
    rr <- out$n_reference_reference
    out$mixing_score <- ifelse(rr > 0, rt / rr, ifelse(rt > 0, Inf, NA_real_))
    out$expected <- ifelse(out$n_reference >= 2 & out$n_target > 0,
                           2 * out$n_target / (out$n_reference - 1), NA_real_)
    out$normalized_mixing_score <- out$mixing_score / out$expected
    attr(out, "problems") <- problems
    out
}

#' @export
print.mixing_score <- function(x, ...) {
    cat(sprintf("<mixing_score> reference: %s; target: %s; radius %s um; %d image%s\n",
                paste(attr(x, "reference"), collapse = ", "),
                paste(attr(x, "target"), collapse = ", "),
                format(attr(x, "radius")), nrow(x),
                if (nrow(x) == 1) "" else "s"))
    print(utils::head(as.data.frame(x), 10), ...)
    invisible(x)
}

#' @rdname mixing_score
#' @param object A `mixing_score` result.
#' @export
summary.mixing_score <- function(object, ...) {
    check_dots(...)
    v <- object$mixing_score
    w <- object$normalized_mixing_score
    data.frame(n_images = nrow(object), n_defined = sum(!is.na(v)),
               median_mixing_score = stats::median(v, na.rm = TRUE),
               median_normalized = stats::median(w, na.rm = TRUE))
}

#' @rdname mixing_score
#' @export
autoplot.mixing_score <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    df <- df[is.finite(df$normalized_mixing_score), , drop = FALSE]
    df$image <- stats::reorder(df$image, df$normalized_mixing_score)
    ggplot2::ggplot(df, ggplot2::aes(x = .data$image,
                                     y = .data$normalized_mixing_score)) +
        ggplot2::geom_col(fill = "grey40") +
        ggplot2::geom_hline(yintercept = 1, linetype = 2) +
        ggplot2::labs(x = "image", y = "normalized mixing score",
                      title = "Mixing score (1 = random mixing)") +
        ggplot2::theme_minimal() +
        many_images_x(nlevels(droplevels(df$image)))
}

#' Tumour-immune architecture: cold, compartmentalized or mixed
#'
#' Classifies each image as in Keren et al. (2018): "cold" when it holds
#' fewer than `min_immune` immune cells; otherwise "compartmentalized"
#' when the mixing score (immune-tumour pairs over immune-immune pairs,
#' see [mixing_score()] with reference = `immune`, target = `tumor`) is
#' below `threshold`, and "mixed" when it is at least `threshold`.
#'
#' Defaults follow the paper: fewer than 250 immune cells is cold and a
#' mixing score below 0.22 is compartmentalized. Keren et al. counted
#' cells touching in the segmentation on 800 x 800 um MIBI fields; here
#' cells whose centroids are at most `radius` microns apart count as
#' touching (20 um, about one cell diameter). The threshold was chosen on
#' their cohort: check that it separates yours (e.g. `autoplot()` of
#' [mixing_score()]), and scale `min_immune` with the field area if your
#' fields are much smaller or larger. An image without tumour cells, or
#' with neither immune-immune nor immune-tumour pairs, gets `NA` and a
#' note.
#'
#' @inheritParams mixing_score
#' @param tumor,immune Cell types of the tumour and immune compartments.
#' @param threshold Mixing score below which an image is compartmentalized.
#' @param min_immune Images with fewer immune cells are cold.
#' @returns An `architecture` data frame, one row per image: `image`,
#'   `n_tumor`, `n_immune`, `n_immune_tumor`, `n_immune_immune`,
#'   `mixing_score`, `normalized_mixing_score`, `class` (factor: cold,
#'   compartmentalized, mixed).
#' @references Keren L, Bosse M, Marquez D, et al. (2018). A structured
#'   tumor-immune microenvironment in triple negative breast cancer
#'   revealed by multiplexed ion beam imaging. *Cell* 174:1373-1387.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(800, 0, 400), y = runif(800, 0, 400))
#' df$type <- ifelse(df$x < 200, "Tumor",
#'                   sample(c("Tumor", "CD8 T"), 800, TRUE))
#' cells <- spatial_cells(df)
#' classify_architecture(cells, tumor = "Tumor", immune = "CD8 T",
#'                       min_immune = 50)
classify_architecture <- function(cells, tumor, immune, radius = 20,
                                  threshold = 0.22, min_immune = 250,
                                  nthreads = immunoscape_threads(),
                                  BPPARAM = NULL, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    roles <- check_roles(cells, if (!missing(immune)) immune,
                         if (!missing(tumor)) tumor, "immune", "tumor")
    radius <- check_radius(radius)
    if (!is.numeric(threshold) || length(threshold) != 1L ||
        !is.finite(threshold) || threshold < 0) {
        stop_immunoscape(
            "{.arg threshold} must be one number >= 0, not {.val {format(threshold)}}.",
            class = "argument"
        )
    }
    min_immune <- check_count(min_immune, "min_immune", min = 0L)
    nthreads <- check_nthreads(nthreads)
    m <- mixing_table(cells, roles[[1]], roles[[2]], radius, nthreads,
                      BPPARAM)
    cls <- ifelse(m$n_reference < min_immune, "cold",
                  ifelse(m$n_target == 0L | is.na(m$mixing_score), NA,
                         ifelse(m$mixing_score < threshold,
                                "compartmentalized", "mixed")))
    out <- data.frame(image = m$image, n_tumor = m$n_target,
                      n_immune = m$n_reference,
                      n_immune_tumor = m$n_reference_target,
                      n_immune_immune = m$n_reference_reference,
                      mixing_score = m$mixing_score,
                      normalized_mixing_score = m$normalized_mixing_score,
                      class = factor(cls, levels = c("cold",
                                                     "compartmentalized",
                                                     "mixed")))
    undecided <- as.character(out$image[is.na(out$class)])
    if (length(undecided)) {
        inform_immunoscape(c(
            "i" = "{length(undecided)} image{?s} without tumour cells or without any immune contact {?is/are} left unclassified ({.val {utils::head(undecided, 5)}})."
        ))
    }
    structure(out,
              class = c("architecture", "immunoscape_result",
                        "data.frame"),
              radius = radius,
              threshold = threshold, min_immune = min_immune,
              tumor = roles[[2]], immune = roles[[1]],
              problems = attr(m, "problems"))
}

#' @export
print.architecture <- function(x, ...) {
    tab <- table(x$class, useNA = "ifany")
    cat(sprintf("<architecture> %d image%s (radius %s um, threshold %s, min_immune %d): %s\n",
                nrow(x), if (nrow(x) == 1) "" else "s",
                format(attr(x, "radius")), format(attr(x, "threshold")),
                attr(x, "min_immune"),
                paste(sprintf("%s %d", names(tab), as.vector(tab)),
                      collapse = ", ")))
    print(utils::head(as.data.frame(x), 10), ...)
    invisible(x)
}

#' @rdname classify_architecture
#' @param object An `architecture` result.
#' @export
summary.architecture <- function(object, ...) {
    check_dots(...)
    tab <- table(class = object$class, useNA = "ifany")
    out <- as.data.frame(tab, responseName = "n_images")
    out$fraction <- out$n_images / sum(out$n_images)
    out
}

#' @rdname classify_architecture
#' @export
autoplot.architecture <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    df <- df[!is.na(df$mixing_score) & df$n_immune > 0, , drop = FALSE]
    df$shown <- pmin(df$mixing_score, max(1, 3 * attr(object, "threshold")))
    ggplot2::ggplot(df, ggplot2::aes(x = .data$n_immune, y = .data$shown,
                                     colour = .data$class)) +
        ggplot2::geom_point() +
        ggplot2::geom_hline(yintercept = attr(object, "threshold"),
                            linetype = 2) +
        ggplot2::geom_vline(xintercept = attr(object, "min_immune"),
                            linetype = 3) +
        ggplot2::scale_x_log10() +
        ggplot2::scale_colour_manual(values = c(cold = "#4575B4",
                                                compartmentalized = "#FDAE61",
                                                mixed = "#D73027"),
                                     na.value = "grey60", drop = FALSE) +
        ggplot2::labs(x = "immune cells", y = "mixing score",
                      colour = "architecture",
                      title = "Tumour-immune architecture (Keren et al. 2018)") +
        ggplot2::theme_minimal()
}
