# Interactions between cell types: permutation neighbourhood enrichment
# (histoCAT / imcRtools style) and the pair heatmaps shared with the
# colocation quotient (R/colocalization.R); the mixing score and
# architecture are in R/mixing.R.

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
    # a type with itself when the image has one cell of it: the count is
    # 0 (as imcRtools gives) but no permutation can change it, so there is
    # nothing to test (p, z and call NA)
    single <- from == to & ntype[from] == 1L
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
        ok <- !is.na(obs) & nval > 0 & !single
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
#' counts), or, with `k`, the `k` nearest other cells of each cell. The
#' neighbour graph is built once per image and reused by all
#' permutations; labels are permuted within each image, keeping the
#' number of cells of each type.
#'
#' Statistics, with `c_i(B)` the number of B neighbours of cell i (the
#' definitions of `imcRtools::countInteractions()`):
#' * `"classic"` (the default, as in imcRtools): mean of `c_i(B)` over all
#'   A cells ("how many B neighbours does an A cell have on average?").
#' * `"histocat"` (imcRtools' "histocat", since renamed "conditional",
#'   which is accepted here too; Schapiro et al. 2017): mean of `c_i(B)`
#'   over the A cells with at least one B neighbour; 0 when no A cell has
#'   one.
#' * `"patch"` (Schulz et al. 2018): fraction of A cells with at least
#'   `patch_size` B neighbours.
#'
#' Choosing: start with `"classic"` (the default here and in imcRtools,
#' and the one its documentation recommends). `"histocat"` conditions on
#' contact, so it asks "where A and B meet, do they meet in numbers?". In
#' a compartmentalized tumour the few tumour cells at the margin that
#' touch T cells touch several, and tumour -> T cell can come out as
#' attraction with `"histocat"` although T cells are kept out of the
#' tumour nests; `"classic"` shows the exclusion. Read the two directions
#' of a pair together in either case.
#'
#' Neighbourhoods: `radius` (default 20 microns) makes an undirected graph
#' (A is B's neighbour exactly when B is A's). `k` makes the directed
#' k-nearest-neighbour graph of `imcRtools::buildSpatialGraph(type =
#' "knn")`: each cell points to its `k` nearest other cells (exactly `k`,
#' fewer only when the image has at most `k` cells; among equidistant
#' cells the one earlier in the table is taken), and `c_i(B)` counts the
#' B cells among cell i's `k` nearest. So an analysis ported from
#' imcRtools with `buildSpatialGraph(type = "knn", k = 5)` becomes
#' `interaction_test(cells, k = 5)`. Give `radius` or `k`, not both.
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
#' throughout; the pair of a type with itself in an image with one cell
#' of it has `observed` 0 (as in imcRtools) but `NA` permutation results
#' and `call` (no permutation can change it: nothing to test).
#'
#' Reproducible with [set.seed()] (for the same cells in the same row
#' order: the permutations shuffle rows) and identical for any `nthreads`: R's
#' random number generator draws one seed per permutation (two uniform
#' draws, images in order, on the main thread), and each permutation is a
#' Fisher-Yates shuffle driven by a xoshiro256** generator started from
#' its seed, so permutations can be drawn and evaluated in parallel. Each
#' image starts from its own seed, drawn from R's generator before the
#' images are dispatched, so results are the same with or without
#' `BPPARAM` (any backend, any number of workers).
#'
#' @param cells A `spatial_cells` object.
#' @param radius Neighbourhood radius in microns (default 20; `NULL` or
#'   left out when `k` is given).
#' @param method `"classic"` (default), `"histocat"` (or its imcRtools
#'   name `"conditional"`) or `"patch"`.
#' @param nperm Number of label permutations (0: observed statistics only).
#' @param types Types to test (all ordered pairs); `NULL` for every type.
#'   Labels of all cells are permuted either way.
#' @param patch_size For `method = "patch"`: the number of B neighbours that
#'   makes an A cell part of a patch.
#' @param alpha Level of the -1/0/1 `call`.
#' @param nthreads Number of OpenMP threads; results do not depend on it.
#' @param BPPARAM `NULL` (serial, with a progress bar) or a BiocParallel
#'   parameter object to analyse images in parallel.
#' @param k Number of nearest neighbours of each cell (a directed kNN
#'   graph, as imcRtools' `buildSpatialGraph(type = "knn")`), in place of
#'   `radius`.
#' @param ... Unused; a misspelled argument is an error.
#' @returns An `interaction_test` data frame, one row per image and ordered
#'   pair: `image`, `from` (A), `to` (B), `n_from`, `n_to` (cells of each
#'   type in the image), `observed`, and with `nperm > 0`: `perm_mean`,
#'   `perm_sd`, `z`, `p_greater`, `p_less`, `p`, `call`. `from` and `to`
#'   have the same levels (`types`). Attributes `method`, `radius` and `k`
#'   (one of them `NULL`). `summary()` pools the images (fraction of images
#'   with attraction / avoidance per pair and Stouffer's z); `autoplot()`
#'   draws a heatmap of z with marks on significant pairs.
#' @references Schapiro D, Jackson HW, Raghuraman S, et al. (2017).
#'   histoCAT: analysis of cell phenotypes and interactions in multiplex
#'   image cytometry data. *Nature Methods* 14:873-876.
#'
#'   Schulz D, Zanotelli VRT, Fischer JR, et al. (2018). Simultaneous
#'   multiplexed imaging of mRNA and proteins with subcellular resolution
#'   in breast cancer tissue samples by mass cytometry. *Cell Systems*
#'   6:25-36.
#'
#'   Windhager J, Zanotelli VRT, Schulz D, et al. (2023). An end-to-end
#'   workflow for multiplexed image processing and analysis. *Nature
#'   Protocols* 18:3565-3613 (imcRtools).
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
#' # the directed 5-nearest-neighbour graph of imcRtools
#' interaction_test(cells, k = 5, nperm = 99)
interaction_test <- function(cells, radius = 20,
                             method = c("classic", "histocat", "patch"),
                             nperm = 999, types = NULL, patch_size = 3,
                             alpha = 0.05, nthreads = immunoscape_threads(),
                             BPPARAM = NULL, k = NULL, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    nb <- check_neighbors(if (missing(radius) && !is.null(k)) NULL
                          else radius, k)
    if (is.null(nb$radius) && is.null(nb$k)) {
        stop_immunoscape(c(
            "Give a neighbourhood: {.arg radius} (microns) or {.arg k} (nearest neighbours).",
            "i" = "Both are {.code NULL}."
        ), class = "argument")
    }
    if (identical(method, "conditional")) method <- "histocat"
    method <- check_choice(method, c("classic", "histocat", "patch"))
    nperm <- check_count(nperm, "nperm", min = 0L)
    check_memory(16 * (nperm + 1) * as.double(nlevels(cells$type))^2,
                 "nperm")
    types <- check_types(cells, types)
    patch_size <- check_count(patch_size, "patch_size")
    check_alpha(alpha)
    nthreads <- check_nthreads(nthreads)
    lv <- levels(cells$type)

    out <- map_images(cells, function(sub, image) {
        res <- interaction_perm_image(sub, nb$k, nb$radius, FALSE, method,
                                      patch_size, nperm, nthreads)
        perm_rows(res, image, lv, types,
                  tabulate(as.integer(sub$type), length(lv)), nperm, alpha)
    }, BPPARAM = BPPARAM, label = "Interaction test", seeded = nperm > 0)
    problems <- attr(out, "problems")
    out <- finish_pairs(out, cells, types, nperm)
    structure(out,
              class = c("interaction_test", "immunoscape_result",
                        "data.frame"),
              radius = nb$radius, k = nb$k, method = method, nperm = nperm,
              patch_size = patch_size, alpha = alpha, problems = problems)
}

# Neighbourhood arguments: at most one of radius (microns) and k (nearest
# neighbours); returns list(radius, k), both NULL when neither is given.
check_neighbors <- function(radius, k, call = rlang::caller_env()) {
    if (!is.null(radius) && !is.null(k)) {
        stop_immunoscape(c(
            "Give either {.arg radius} or {.arg k}, not both.",
            "i" = "{.arg k} counts nearest neighbours; {.arg radius} is a distance in microns."
        ), class = "argument", call = call)
    }
    list(radius = if (!is.null(radius)) check_radius(radius, call = call),
         k = if (!is.null(k)) check_count(k, "k", call = call))
}

# "radius 20 um" or "k = 5 nearest neighbours", from a result's attributes.
neighbors_label <- function(x, micro = "um") {
    r <- attr(x, "radius")
    if (is.null(r)) sprintf("k = %d nearest neighbours", attr(x, "k"))
    else sprintf("radius %s %s", format(r), micro)
}

#' @export
print.interaction_test <- function(x, ...) {
    # counts of what x holds (a selection of rows included)
    nimg <- length(unique(x$image))
    npair <- nrow(unique(data.frame(from = x$from, to = x$to)))
    cat(sprintf("<interaction_test> %s statistic, %s, %d permutations; %s row%s: %d image%s x %d ordered pair%s\n",
                attr(x, "method"), neighbors_label(x),
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
              k = attr(object, "k"),
              alpha = attr(object, "alpha"))
}

#' @export
print.summary_interaction_test <- function(x, ...) {
    cat(sprintf("Interaction test (%s, %s) pooled over images\n",
                attr(x, "method"), neighbors_label(x)))
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
#' @param images For `autoplot()`: images to draw or pool (names or
#'   positions; `NULL` for all).
#' @param page,max_panels For `autoplot()` with `pooled = FALSE`: draw the
#'   `page`-th group of `max_panels` images (a classed warning suggests
#'   this above `max_panels` panels).
#' @export
autoplot.interaction_test <- function(object, pooled = NULL, limit = 10,
                                      images = NULL, page = NULL,
                                      max_panels = 25L, ...) {
    check_dots(...)
    if (is.null(object$z)) {
        stop_immunoscape("Nothing to plot without permutations ({.code nperm = 0}).",
                         class = "argument")
    }
    df <- as.data.frame(object)
    all <- levels(droplevels(factor(df$image)))
    keep <- select_images(all, images)
    if (is.null(pooled)) pooled <- length(keep) > 1
    if (!pooled && !is.null(page)) keep <- page_images(keep, page, max_panels)
    df <- df[as.character(df$image) %in% keep, , drop = FALSE]
    ttl <- sprintf("Interaction test (%s, %s)", attr(object, "method"),
                   neighbors_label(object, "\u00b5m"))
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

