# Per-cell distances and counts on the C spatial index.

#' Distances to the nearest cells of each type
#'
#' For each cell of the `from` types, the distance to the `k` nearest cells
#' of each `to` type in the same image (never the cell itself), and the
#' `cell_id` of those cells. Distances are Euclidean, in microns; ties are
#' broken by row order. A `to` type absent from an image gives `NA` for the
#' cells of that image, not an error.
#'
#' @param cells A `spatial_cells` object.
#' @param from Types of the cells to measure from; `NULL` (default) for all
#'   cells.
#' @param to Types to measure to; if missing, every type.
#' @param k Number of nearest cells per type (1 = nearest).
#' @param nthreads Number of OpenMP threads; results do not depend on it.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `nearest_distances` data frame, one row per cell, `to` type and
#'   rank: `image`, `cell_id`, `from` (the cell's type), `to`, `k` (rank),
#'   `distance` (microns), `nearest_id` (`cell_id` of that neighbour).
#'   Join back to the cells by `image` and `cell_id`.
#' @seealso [count_neighbors()].
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(300, 0, 400), y = runif(300, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T", "Macrophage"), 300,
#'                                TRUE, prob = c(0.6, 0.2, 0.2)))
#' cells <- spatial_cells(df)
#' d <- nearest_distances(cells, from = "Tumor", to = "CD8 T")
#' head(d)
#' summary(d)
nearest_distances <- function(cells, from = NULL, to, k = 1,
                              nthreads = immunoscape_threads(), ...) {
    check_dots(...)
    cells <- check_cells(cells)
    from <- check_types(cells, from)
    to <- if (missing(to) || is.null(to)) check_types(cells, NULL) else check_types(cells, to)
    # no more neighbours than cells (the other k-functions do the same)
    k <- min(check_count(k), nrow(cells))
    check_memory(64 * as.double(nrow(cells)) * length(to) * k, "k")
    nthreads <- check_nthreads(nthreads)

    idx <- image_rows(cells)
    whole <- length(idx) == 1L
    nto <- length(to)
    all_from <- length(from) == nlevels(cells$type)
    lv <- levels(cells$type)
    is_from <- lv %in% from
    to_codes <- match(to, lv)
    codes <- as.integer(cells$type)
    parts <- lapply(idx, function(rows) {
        # one image: its columns as they are, no copies
        ty <- if (whole) codes else codes[rows]
        xs <- if (whole) cells$x else cells$x[rows]
        ys <- if (whole) cells$y else cells$y[rows]
        fi <- if (all_from) seq_along(rows) else which(is_from[ty])
        nf <- length(fi)
        # k x type x cell, so that as.vector() runs k fastest, cells slowest
        dist <- array(NA_real_, c(k, nto, nf))
        near <- array(NA_integer_, c(k, nto, nf))
        for (t in seq_len(nto)) {
            ti <- which(ty == to_codes[t])
            if (!length(ti) || !nf) next
            res <- .Call(ffi_dist_nearest, xs, ys, fi, ti, k, nthreads)
            dist[, t, ] <- t(res[[1]])
            near[, t, ] <- t(matrix(res[[2]], nf, k))
        }
        ids <- cells$cell_id[rows]
        list(rows = rows[fi], distance = as.vector(dist),
             nearest_id = ids[as.vector(near)])
    })
    rows <- unlist(lapply(parts, `[[`, "rows"), use.names = FALSE)
    out <- long_per_cell(cells, rows, to, list(
        distance = unlist(lapply(parts, `[[`, "distance"), use.names = FALSE),
        nearest_id = unlist(lapply(parts, `[[`, "nearest_id"),
                            use.names = FALSE)
    ), k = k)
    structure(out,
              class = c("nearest_distances", "immunoscape_result",
                        "data.frame"),
              k = k)
}

#' @export
print.nearest_distances <- function(x, ...) {
    cat(sprintf("<nearest_distances> %s rows: %s cells x %d target type%s x k = %d\n",
                format(nrow(x), big.mark = ","),
                format(if (nrow(x)) sum(x$k == 1L & x$to == x$to[1]) else 0L,
                       big.mark = ","),
                n_distinct(x$to), if (n_distinct(x$to) == 1) "" else "s",
                attr(x, "k")))
    print(utils::head(as.data.frame(x)), ...)
    invisible(x)
}

#' @rdname nearest_distances
#' @param object A `nearest_distances` result.
#' @export
summary.nearest_distances <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    df <- df[df$k == max(df$k), , drop = FALSE]
    grp <- interaction(df$image, df$from, df$to, drop = TRUE,
                       lex.order = TRUE)
    s <- lapply(split(df, grp), function(d) {
        v <- d$distance
        ok <- !is.na(v)
        data.frame(image = d$image[1], from = d$from[1], to = d$to[1],
                   k = d$k[1], n = nrow(d), n_missing = sum(!ok),
                   median = if (any(ok)) stats::median(v[ok]) else NA_real_,
                   mean = if (any(ok)) mean(v[ok]) else NA_real_,
                   q25 = if (any(ok)) stats::quantile(v[ok], 0.25, names = FALSE) else NA_real_,
                   q75 = if (any(ok)) stats::quantile(v[ok], 0.75, names = FALSE) else NA_real_)
    })
    out <- do.call(rbind, s)
    rownames(out) <- NULL
    carry_result_groups(out, object)
}

#' Count neighbouring cells of each type within a radius
#'
#' For each cell of the `from` types, the number of cells of each `to` type
#' whose distance is at most `radius` microns (a distance equal to `radius`
#' counts), in the same image and excluding the cell itself.
#'
#' @inheritParams nearest_distances
#' @param radius Radius in microns (a number >= 0).
#' @param to Types to count; `NULL` (default) for every type.
#' @returns A `neighbor_counts` data frame, one row per cell and `to` type:
#'   `image`, `cell_id`, `from` (the cell's type), `to`, `count`.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(300, 0, 400), y = runif(300, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T"), 300, TRUE))
#' cells <- spatial_cells(df)
#' n <- count_neighbors(cells, radius = 30, from = "Tumor")
#' head(n)
count_neighbors <- function(cells, radius, from = NULL, to = NULL,
                            nthreads = immunoscape_threads(), ...) {
    check_dots(...)
    cells <- check_cells(cells)
    if (missing(radius)) {
        stop_immunoscape(c(
            "{.arg radius} is missing.",
            "i" = "Give the neighbourhood radius in microns, e.g. {.code radius = 30}."
        ), class = "radius")
    }
    radius <- check_radius(radius)
    from <- check_types(cells, from)
    to <- check_types(cells, to)
    nthreads <- check_nthreads(nthreads)

    counts <- neighbor_count_matrix(cells, radius, from, nthreads,
                                    transposed = TRUE)
    lv <- levels(cells$type)
    m <- counts$counts
    if (!identical(to, lv)) m <- m[match(to, lv), , drop = FALSE]
    rows <- counts$rows
    dim(m) <- NULL
    out <- long_per_cell(cells, rows, to, list(count = m))
    structure(out,
              class = c("neighbor_counts", "immunoscape_result",
                        "data.frame"),
              radius = radius)
}

# Counts of every type (columns: levels of cells$type) within `radius` of
# each cell of the `from` types; rows in the order of `rows`. With
# `transposed = TRUE` the matrix is types x cells (as C computes it).
neighbor_count_matrix <- function(cells, radius, from, nthreads,
                                  transposed = FALSE) {
    lv <- levels(cells$type)
    idx <- image_rows(cells)
    lab <- as.integer(cells$type) - 1L
    all_from <- length(from) == length(lv)
    is_from <- lv %in% from
    whole <- length(idx) == 1L
    parts <- lapply(idx, function(rows) {
        # one image: its columns as they are, no copies
        lb <- if (whole) lab else lab[rows]
        fi <- if (all_from) seq_along(rows) else which(is_from[lb + 1L])
        if (!length(fi)) {
            return(list(rows = integer(), counts = matrix(0L, length(lv), 0)))
        }
        # memory (MB) the extra threads may use for private copies of the
        # counts before they switch to a copy-free (slower) scheme
        copy_mb <- getOption("immunoscape.count_copy_mb", 512)
        m <- .Call(ffi_dist_count, if (whole) cells$x else cells$x[rows],
                   if (whole) cells$y else cells$y[rows], lb, length(lv), fi,
                   radius, nthreads, as.numeric(copy_mb))
        list(rows = rows[fi], counts = m)
    })
    counts <- if (length(parts) == 1L) parts[[1]]$counts else
        do.call(cbind, lapply(parts, `[[`, "counts"))
    rownames(counts) <- lv
    if (!transposed) counts <- t(counts)
    list(rows = unlist(lapply(parts, `[[`, "rows"), use.names = FALSE),
         counts = counts)
}

# A long per-cell result: for each cell of `rows` (slowest), each value of
# `to` and, if `k` is given, each rank 1..k (fastest), the columns image,
# cell_id, from, to (, k), then `values`.
long_per_cell <- function(cells, rows, to, values, k = NULL) {
    each <- k %||% 1L
    nt <- length(to) * each
    n <- length(rows)
    fct <- function(codes, levels) {
        structure(codes, levels = levels, class = "factor")
    }
    img <- as.integer(cells$image)[rows]
    # from and to share one level set: the types used, in the cells' order
    lv <- levels(cells$type)
    fc <- as.integer(cells$type)[rows]
    tc <- match(to, lv)
    keep <- sort(unique(c(tc, fc)))
    used <- lv[keep]
    map <- integer(length(lv))
    map[keep] <- seq_along(keep)
    cols <- list(
        image = fct(if (n && all(img == img[1])) rep.int(img[1], n * nt) else
                        rep(img, each = nt), levels(cells$image)),
        cell_id = rep(cells$cell_id[rows], each = nt),
        from = fct(rep(map[fc], each = nt), used),
        to = fct(rep.int(rep(map[tc], each = each), n), used)
    )
    if (!is.null(k)) cols$k <- rep.int(seq_len(k), length(to) * n)
    cols <- c(cols, values)
    out <- structure(cols, class = "data.frame",
                     row.names = c(NA_integer_, -n * nt))
    carry_groups(out, cells)
}

#' @export
print.neighbor_counts <- function(x, ...) {
    cat(sprintf("<neighbor_counts> radius %s um, %s rows (%d target type%s)\n",
                format(attr(x, "radius")), format(nrow(x), big.mark = ","),
                n_distinct(x$to), if (n_distinct(x$to) == 1) "" else "s"))
    print(utils::head(as.data.frame(x)), ...)
    invisible(x)
}

#' @rdname count_neighbors
#' @param object A `neighbor_counts` result.
#' @export
summary.neighbor_counts <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    grp <- interaction(df$image, df$from, df$to, drop = TRUE,
                       lex.order = TRUE)
    s <- lapply(split(df, grp), function(d) {
        data.frame(image = d$image[1], from = d$from[1], to = d$to[1],
                   n = nrow(d), mean = mean(d$count),
                   median = stats::median(d$count),
                   frac_any = mean(d$count > 0))
    })
    out <- do.call(rbind, s)
    rownames(out) <- NULL
    carry_result_groups(out, object)
}

n_distinct <- function(x) length(unique(x))
