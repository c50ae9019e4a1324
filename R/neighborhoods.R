# Neighbourhood compositions and cellular neighbourhoods ("functional
# communities", Schürch et al. 2020) on the C spatial index.

# Per-cell counts of every type (columns: levels of cells$type) in each
# cell's neighbourhood, for the cells of one image: the k nearest other
# cells (radius NULL; with every cell tied with the k-th when `ties`), or
# every other cell within `radius` (the pair counting of count_neighbors()),
# plus the cell itself when `self`.
neighborhood_counts <- function(sub, k, radius, self, ties, nthreads) {
    lv <- levels(sub$type)
    lab <- as.integer(sub$type) - 1L
    n <- nrow(sub)
    if (!is.null(radius)) {
        nc <- neighbor_count_matrix(sub, radius, lv, nthreads)
        m <- matrix(0L, n, length(lv))
        m[nc$rows, ] <- nc$counts
    } else if (k == 0L) {
        m <- matrix(0L, n, length(lv))
    } else {
        m <- .Call(ffi_nbhd_counts, sub$x, sub$y, lab, length(lv),
                   as.integer(k), as.integer(ties), as.integer(nthreads))
    }
    if (self) {
        own <- cbind(seq_len(n), lab + 1L)
        m[own] <- m[own] + 1L
    }
    dimnames(m) <- list(NULL, lv)
    m
}

# k or radius, validated: exactly one neighbourhood definition.
check_window_size <- function(k, radius, k_given = FALSE,
                              call = rlang::caller_env()) {
    if (!is.null(radius) && k_given && !is.null(k)) {
        stop_immunoscape(c(
            "Give either {.arg k} or {.arg radius}, not both.",
            "i" = "{.arg k} counts the nearest cells, {.arg radius} takes every cell within that distance."
        ), class = "argument", call = call)
    }
    if (!is.null(radius)) {
        return(list(k = NULL, radius = check_radius(radius, call = call)))
    }
    if (is.null(k)) {
        stop_immunoscape(c(
            "Give the neighbourhood size: {.arg k} (nearest cells) or {.arg radius} (microns).",
            "i" = "For example {.code k = 10}."
        ), class = "argument", call = call)
    }
    list(k = check_count(k, "k", call = call), radius = NULL)
}

# Terms -f log(f) of the Shannon entropy, 0 for f = 0.
entropy_terms <- function(f) {
    h <- -f * log(f)
    h[f == 0] <- 0
    h
}

#' Composition of each cell's neighbourhood
#'
#' For every cell, the number and fraction of cells of each type in its
#' neighbourhood, and the Shannon entropy of that composition. The
#' neighbourhood ("window") is the cell itself and its `k - 1` nearest
#' other cells, so that a window holds `k` cells as in Schürch et al.
#' (2020); or, when `radius` is given, the cell itself and every other cell
#' within `radius` microns (a distance equal to `radius` counts). Ties in
#' distance are broken by row order. Images are analysed separately: a
#' window never reaches into another image, and an image with fewer than
#' `k` cells gives windows of all its cells (column `n`).
#'
#' @param cells A `spatial_cells` object.
#' @param k Window size: the cell and its `k - 1` nearest neighbours.
#' @param radius Radius in microns; if given it is used instead of `k`
#'   (giving both is an error).
#' @param types Types reported as columns; `NULL` (default) for every type.
#'   Fractions are always of the whole window, and the entropy is that of
#'   the composition over all types.
#' @param nthreads Number of OpenMP threads; results do not depend on it.
#' @param BPPARAM `NULL` (serial, with a progress bar) or a BiocParallel
#'   parameter object to analyse images in parallel.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `neighborhood_composition` data frame with one row per cell:
#'   `image`, `cell_id`, `type` (the cell's own type), `n` (cells in the
#'   window, the cell included), then `count_<type>` and `frac_<type>` for
#'   each reported type, and `entropy` (Shannon entropy, natural log, of
#'   the window composition). Join back to the cells by `image` and
#'   `cell_id`.
#' @references Schürch CM, Bhate SS, Barlow GL, et al. (2020). Coordinated
#'   cellular neighborhoods orchestrate antitumoral immunity at the
#'   colorectal cancer invasive front. *Cell* 182:1341-1359.
#' @seealso [cellular_neighborhoods()] to cluster the windows,
#'   [count_neighbors()] for counts that exclude the cell itself.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(300, 0, 400), y = runif(300, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T", "Macrophage"), 300,
#'                                TRUE))
#' cells <- spatial_cells(df)
#' comp <- neighborhood_composition(cells, k = 10)
#' head(comp)
#' head(neighborhood_composition(cells, radius = 30, types = "CD8 T"))
neighborhood_composition <- function(cells, k = 10, radius = NULL,
                                     types = NULL,
                                     nthreads = immunoscape_threads(),
                                     BPPARAM = NULL, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    size <- check_window_size(k, radius, k_given = !missing(k))
    types <- check_types(cells, types)
    nthreads <- check_nthreads(nthreads)
    lv <- levels(cells$type)
    cols <- match(types, lv)

    out <- map_images(cells, function(sub, image) {
        m <- neighborhood_counts(sub, if (is.null(size$k)) 0L else size$k - 1L,
                                 size$radius, self = TRUE, ties = FALSE,
                                 nthreads = nthreads)
        n <- rowSums(m)
        df <- data.frame(image = sub$image, cell_id = sub$cell_id,
                         type = sub$type, n = as.integer(n))
        # column by column (whole slides: no n x types temporaries beyond
        # the entropy terms), the same numbers as m / n
        for (k in seq_along(cols)) {
            df[[paste0("count_", types[k])]] <- m[, cols[k]]
        }
        fr <- vector("list", length(cols))
        h <- matrix(0, nrow(m), ncol(m))
        for (j in seq_len(ncol(m))) {
            f <- m[, j] / n
            h[, j] <- entropy_terms(f)
            k <- match(j, cols)
            if (!is.na(k)) fr[[k]] <- f
        }
        rm(m)
        for (k in seq_along(cols)) {
            df[[paste0("frac_", types[k])]] <- fr[[k]]
            fr[k] <- list(NULL)
        }
        df$entropy <- rowSums(h)
        df
    }, BPPARAM = BPPARAM, label = "Neighbourhood composition")
    if (!nrow(out)) {
        out <- data.frame(image = factor(), cell_id = integer(),
                          type = factor(), n = integer())
    }
    out$image <- factor(as.character(out$image), levels = levels(cells$image))
    out$type <- factor(as.character(out$type), levels = lv)
    structure(out,
              class = c("neighborhood_composition", "immunoscape_result",
                        "data.frame"),
              k = size$k, radius = size$radius, types = types,
              problems = attr(out, "problems"))
}

#' @export
print.neighborhood_composition <- function(x, ...) {
    r <- attr(x, "radius")
    win <- if (is.null(r)) sprintf("k = %d nearest cells", attr(x, "k"))
           else sprintf("radius %s um", format(r))
    cat(sprintf("<neighborhood_composition> %s cells, windows of %s, %d type%s\n",
                format(nrow(x), big.mark = ","), win,
                length(attr(x, "types")),
                if (length(attr(x, "types")) == 1) "" else "s"))
    print(utils::head(as.data.frame(x)), ...)
    invisible(x)
}

#' @rdname neighborhood_composition
#' @param object A `neighborhood_composition` result.
#' @export
summary.neighborhood_composition <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    types <- attr(object, "types")
    grp <- interaction(df$image, df$type, drop = TRUE, lex.order = TRUE)
    s <- lapply(split(df, grp), function(d) {
        fr <- vapply(types, function(t) mean(d[[paste0("frac_", t)]]),
                     numeric(1))
        data.frame(image = d$image[1], type = d$type[1], n_cells = nrow(d),
                   to = factor(types, levels = levels(df$type)),
                   mean_fraction = unname(fr),
                   mean_entropy = mean(d$entropy))
    })
    out <- do.call(rbind, s)
    rownames(out) <- NULL
    carry_result_groups(out, object)
}

#' @rdname neighborhood_composition
#' @details `autoplot()` draws, for each cell type (rows), the mean fraction
#'   of each reported type (columns) in its windows, over all images.
#' @export
autoplot.neighborhood_composition <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    types <- attr(object, "types")
    grp <- split(df, df$type, drop = TRUE)
    m <- do.call(rbind, lapply(grp, function(d) {
        data.frame(type = d$type[1], to = factor(types, levels = types),
                   mean_fraction = vapply(types, function(t) {
                       mean(d[[paste0("frac_", t)]])
                   }, numeric(1)))
    }))
    ggplot2::ggplot(m, ggplot2::aes(x = .data$to, y = .data$type,
                                    fill = .data$mean_fraction)) +
        ggplot2::geom_tile(colour = "white") +
        ggplot2::scale_fill_gradient(low = "white", high = "#B2182B",
                                     limits = c(0, NA),
                                     name = "mean\nfraction") +
        ggplot2::scale_y_discrete(limits = rev) +
        ggplot2::labs(x = "type in the window", y = "cell type",
                      title = "Neighbourhood composition") +
        ggplot2::theme_minimal() +
        ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 45,
                                                           hjust = 1))
}

# Evaluate `expr` with the RNG seeded by `seed` and restore the caller's
# RNG state afterwards (seed NULL: use and advance the current stream).
with_seed <- function(seed, expr) {
    if (is.null(seed)) return(expr)
    genv <- globalenv()
    had <- exists(".Random.seed", envir = genv, inherits = FALSE)
    old <- if (had) get(".Random.seed", envir = genv, inherits = FALSE)
    on.exit({
        if (had) {
            assign(".Random.seed", old, envir = genv)
        } else if (exists(".Random.seed", envir = genv, inherits = FALSE)) {
            rm(".Random.seed", envir = genv)
        }
    })
    set.seed(seed)
    expr
}

# Nearest centre (rows of `centers`) of every row of `x`; ties go to the
# lower centre. Returns the cluster and the squared distance to it (summed
# over the columns in order, in C: src/neighborhoods.c).
nearest_center <- function(x, centers) {
    storage.mode(centers) <- "double"
    res <- .Call(ffi_nbhd_nearest_center, x, centers)
    list(cluster = res[[1]], d2 = res[[2]])
}

# k-means of many windows: stats::kmeans() on the rows `fit_rows`, then two
# passes over every row (assign; move each centre to the mean of its
# rows; assign again). Returns the parts of a kmeans object used here.
kmeans_subsample <- function(feat, fit_rows, n, seed, nstart, iter_max) {
    km <- with_seed(seed, stats::kmeans(feat[fit_rows, , drop = FALSE],
                                        centers = n, nstart = nstart,
                                        iter.max = iter_max))
    centers <- km$centers
    for (pass in 1:2) {
        cl <- nearest_center(feat, centers)$cluster
        size <- tabulate(cl, n)
        used <- which(size > 0)
        centers[used, ] <- rowsum(feat, cl, reorder = TRUE) / size[used]
    }
    # per column: sum((v - mean(v))^2), sum((v - centers[cl, j])^2)
    ss <- .Call(ffi_nbhd_sumsq, feat, centers, cl)
    totss <- sum(ss[1, ])
    tot_within <- sum(ss[2, ])
    list(cluster = cl, centers = centers, tot.withinss = tot_within,
         betweenss = totss - tot_within, totss = totss,
         iter = km$iter, ifault = km$ifault)
}

#' Cellular neighbourhoods: communities of cells clustered across images
#'
#' The cellular-neighbourhood analysis of Schürch et al. (2020): every
#' cell's window (the cell and its `k - 1` nearest cells in the same image)
#' is described by the fractions of each cell type in it, and the windows
#' of ALL images are clustered together with k-means into `n`
#' neighbourhoods, so that a label means the same composition in every
#' image. Labels `CN1`, `CN2`, ... are ordered by decreasing number of
#' cells (ties by the cluster centre), so they do not depend on the
#' arbitrary numbering of k-means.
#'
#' k-means is [stats::kmeans()] (Hartigan-Wong) with `nstart` random
#' starts, seeded by `seed` without disturbing the caller's random number
#' stream (`seed = NULL` uses and advances the current stream instead).
#'
#' @inheritParams neighborhood_composition
#' @param n Number of neighbourhoods (k-means clusters).
#' @param seed Seed for the k-means starts (`NULL`: the current stream).
#' @param types Types whose fractions describe a window (the clustering
#'   features); `NULL` (default) for every type.
#' @param nstart Number of random k-means starts; the best is kept.
#' @param iter_max Maximum number of k-means iterations.
#' @param fit_size Largest number of windows clustered directly. With more
#'   windows (whole slides), k-means is fitted to `fit_size` windows drawn
#'   at random (seeded by `seed`) and every window is then assigned to the
#'   nearest centre in two Lloyd passes over all windows (assign, move
#'   each centre to the mean of its windows; twice), so that memory and
#'   time stay linear in the number of cells. Labels, centres and sums of
#'   squares refer to all windows.
#' @returns A `cellular_neighborhoods` data frame with one row per cell:
#'   `image`, `cell_id`, `neighborhood` (factor `CN1`..`CNn`);
#'   `as.data.frame()` returns exactly these columns, ready to join to the
#'   cells (e.g. `plot_cells(cells, color_by = "neighborhood", data =
#'   cn)`). Further tables come from `summary(cn, what = ...)`:
#'   * `"frequencies"`: `image`, `neighborhood`, `n` (cells), `fraction`
#'     (of the image's cells): per-image neighbourhood frequencies for
#'     cohort tables (every image x neighbourhood combination, zeros
#'     included).
#'   * `"profiles"`: `neighborhood`, `type`, `n_cells` (cells in the
#'     neighbourhood), `window_fraction` (the cluster centre: mean fraction
#'     of the type in the windows), `cell_fraction` (fraction of the
#'     neighbourhood's cells that are of the type).
#'   * `"enrichment"`: `neighborhood`, `type`, `cell_fraction`, `overall`
#'     (fraction of all cells that are of the type) and `log2_enrichment`
#'     = log2(cell_fraction / overall) (`-Inf` when a type is absent from
#'     a neighbourhood).
#' @references Schürch CM, Bhate SS, Barlow GL, et al. (2020). Coordinated
#'   cellular neighborhoods orchestrate antitumoral immunity at the
#'   colorectal cancer invasive front. *Cell* 182:1341-1359.
#' @seealso [neighborhood_composition()] for the windows themselves.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(600, 0, 600), y = runif(600, 0, 300))
#' df$type <- ifelse(df$x < 300,
#'                   sample(c("Tumor", "CD8 T"), 600, TRUE, c(0.9, 0.1)),
#'                   sample(c("B cell", "CD4 T"), 600, TRUE))
#' cells <- spatial_cells(df)
#' cn <- cellular_neighborhoods(cells, k = 10, n = 2)
#' cn
#' summary(cn, "enrichment")
cellular_neighborhoods <- function(cells, k = 10, n = 10, seed = 1,
                                   types = NULL, nstart = 10,
                                   iter_max = 100,
                                   nthreads = immunoscape_threads(),
                                   BPPARAM = NULL, fit_size = 2e5, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    k <- check_count(k, "k")
    n <- check_count(n, "n")
    nstart <- check_count(nstart, "nstart")
    iter_max <- check_count(iter_max, "iter_max")
    fit_size <- check_count(fit_size, "fit_size")
    if (!is.null(seed)) check_count(seed, "seed", min = -.Machine$integer.max)
    types <- check_types(cells, types)
    nthreads <- check_nthreads(nthreads)
    lv <- levels(cells$type)
    cols <- match(types, lv)

    parts <- map_images(cells, function(sub, image) {
        m <- neighborhood_counts(sub, k - 1L, NULL, self = TRUE,
                                 ties = FALSE, nthreads = nthreads)
        fr <- m[, cols, drop = FALSE] / rowSums(m)
        colnames(fr) <- paste0("f", seq_along(cols))
        data.frame(image = sub$image, cell_id = sub$cell_id, type = sub$type,
                   fr, check.names = FALSE)
    }, BPPARAM = BPPARAM, label = "Cellular neighbourhoods")
    if (!nrow(parts)) {
        stop_immunoscape("No image could be analysed.", class = "empty")
    }
    feat <- as.matrix(parts[paste0("f", seq_along(cols))])
    colnames(feat) <- types
    nwin <- nrow(feat)
    fit_rows <- NULL
    if (nwin > fit_size) {
        fit_rows <- with_seed(seed, sort(sample.int(nwin, fit_size)))
        # enough distinct windows? look at a few first, all only if needed
        few <- fit_rows[seq_len(min(fit_size, 1e4))]
        ndistinct <- nrow(unique(feat[few, , drop = FALSE]))
        if (ndistinct < n) ndistinct <- nrow(unique(feat))
    } else {
        ndistinct <- nrow(unique(feat))
    }
    if (ndistinct < n) {
        stop_immunoscape(c(
            "{.arg n} = {n} neighbourhoods but only {ndistinct} distinct window composition{?s}.",
            "i" = "Use a smaller {.arg n} or a larger {.arg k}."
        ), class = "argument")
    }
    if (is.null(fit_rows)) {
        km <- with_seed(seed, stats::kmeans(feat, centers = n,
                                            nstart = nstart,
                                            iter.max = iter_max))
    } else {
        km <- kmeans_subsample(feat, fit_rows, n, seed, nstart, iter_max)
    }

    # deterministic labels: by decreasing size, ties by the centre
    size <- tabulate(km$cluster, n)
    ctr <- km$centers
    ord <- do.call(order, c(list(-size), lapply(seq_len(ncol(ctr)),
                                                function(j) ctr[, j])))
    relabel <- integer(n)
    relabel[ord] <- seq_len(n)
    cn_levels <- paste0("CN", seq_len(n))
    cl <- relabel[km$cluster]
    neighborhood <- factor(cn_levels[cl], levels = cn_levels)

    out <- data.frame(image = factor(as.character(parts$image),
                                     levels = levels(cells$image)),
                      cell_id = parts$cell_id,
                      neighborhood = neighborhood)
    ctype <- factor(as.character(parts$type), levels = lv)

    # profiles: centre and cell-type fractions of each neighbourhood
    centers <- ctr[ord, , drop = FALSE]
    tab <- table(neighborhood, ctype)
    ncell <- as.vector(table(neighborhood))
    cell_frac <- sweep(unclass(tab), 1, pmax(ncell, 1), "/")
    profiles <- data.frame(
        neighborhood = factor(rep(cn_levels, times = length(types)),
                              levels = cn_levels),
        type = factor(rep(types, each = n), levels = types),
        n_cells = rep(ncell, times = length(types)),
        window_fraction = as.vector(centers),
        cell_fraction = as.vector(cell_frac[, types, drop = FALSE])
    )
    profiles <- profiles[order(profiles$neighborhood, profiles$type), ]
    rownames(profiles) <- NULL
    overall <- as.vector(table(ctype))[match(profiles$type, lv)] /
        length(ctype)
    enrichment <- data.frame(neighborhood = profiles$neighborhood,
                             type = profiles$type,
                             cell_fraction = profiles$cell_fraction,
                             overall = overall,
                             log2_enrichment = log2(profiles$cell_fraction /
                                                        overall))
    ftab <- table(image = out$image, neighborhood = out$neighborhood)
    freq <- as.data.frame(ftab, responseName = "n", stringsAsFactors = FALSE)
    freq$image <- factor(freq$image, levels = levels(cells$image))
    freq$neighborhood <- factor(freq$neighborhood, levels = cn_levels)
    tot <- rowSums(unclass(ftab))
    freq$fraction <- freq$n / tot[as.character(freq$image)]
    freq <- freq[freq$image %in% unique(out$image), , drop = FALSE]
    freq <- freq[order(freq$image, freq$neighborhood), , drop = FALSE]
    rownames(freq) <- NULL
    out <- carry_groups(out, cells)
    freq <- carry_groups(freq, cells)

    structure(out,
              class = c("cellular_neighborhoods", "immunoscape_result",
                        "data.frame"),
              k = k, n = n, seed = seed, types = types,
              profiles = profiles, enrichment = enrichment,
              frequencies = freq,
              kmeans = list(tot_withinss = km$tot.withinss,
                            betweenss = km$betweenss, totss = km$totss,
                            iter = km$iter, ifault = km$ifault),
              problems = attr(parts, "problems"))
}

#' @export
print.cellular_neighborhoods <- function(x, ...) {
    cat(sprintf("<cellular_neighborhoods> %s cells in %d image%s: %d neighbourhoods of windows of k = %d cells\n",
                format(nrow(x), big.mark = ","),
                nlevels(droplevels(x$image)),
                if (nlevels(droplevels(x$image)) == 1) "" else "s",
                attr(x, "n"), attr(x, "k")))
    km <- attr(x, "kmeans")
    cat(sprintf("between / total sum of squares: %.1f%%\n",
                100 * km$betweenss / km$totss))
    e <- attr(x, "enrichment")
    top <- vapply(split(e, e$neighborhood), function(d) {
        d <- d[is.finite(d$log2_enrichment) & d$log2_enrichment > 0, ]
        d <- d[order(-d$log2_enrichment), ]
        if (!nrow(d)) return("-")
        paste(utils::head(as.character(d$type), 3), collapse = ", ")
    }, character(1))
    sz <- table(x$neighborhood)
    print(data.frame(neighborhood = names(sz), cells = as.vector(sz),
                     enriched = top[names(sz)], row.names = NULL), ...)
    invisible(x)
}

#' @export
as.data.frame.cellular_neighborhoods <- function(x, ...) {
    # every column (image, the groups such as patient, cell_id,
    # neighborhood), without the class and the attributes
    as.data.frame.immunoscape_result(x)
}

#' @rdname cellular_neighborhoods
#' @param object A `cellular_neighborhoods` result.
#' @param what Which table: `"frequencies"`, `"profiles"` or
#'   `"enrichment"`.
#' @export
summary.cellular_neighborhoods <- function(object,
                                           what = c("frequencies",
                                                    "profiles",
                                                    "enrichment"), ...) {
    check_dots(...)
    what <- check_choice(what, c("frequencies", "profiles", "enrichment"))
    attr(object, what)
}

#' @rdname cellular_neighborhoods
#' @param limit Colour scale limit of the heatmap: log2 enrichments beyond
#'   +/- `limit` (including `-Inf`) are drawn at the limit.
#' @export
autoplot.cellular_neighborhoods <- function(object, limit = 3, ...) {
    check_dots(...)
    e <- attr(object, "enrichment")
    e$shown <- pmin(pmax(e$log2_enrichment, -limit), limit)
    ggplot2::ggplot(e, ggplot2::aes(x = .data$type, y = .data$neighborhood,
                                    fill = .data$shown)) +
        ggplot2::geom_tile(colour = "white") +
        ggplot2::scale_fill_gradient2(low = "#2166AC", mid = "white",
                                      high = "#B2182B", midpoint = 0,
                                      limits = c(-limit, limit),
                                      name = "log2\nenrichment") +
        ggplot2::scale_y_discrete(limits = rev) +
        ggplot2::labs(x = "cell type", y = "neighbourhood",
                      title = "Cellular neighbourhoods: cell-type enrichment") +
        ggplot2::theme_minimal() +
        ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 45,
                                                           hjust = 1))
}
