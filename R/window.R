# Tissue windows: one polygon set (with holes) per image, stored as a plain
# vertex data frame (image, polygon, ring, hole, x, y) so that ggplot2 draws
# it and as_sf() converts it. Outer rings run counter-clockwise, holes
# clockwise; rings are not closed (the first vertex is not repeated).

window_columns <- c("image", "polygon", "ring", "hole", "x", "y")

#' Tissue windows
#'
#' The window of an image is the region of tissue the cells were sampled
#' from: densities per mm^2 divide by its area and edge corrections of
#' point-pattern statistics use its boundary.
#'
#' * `"rectangle"`: the bounding box of the cells.
#' * `"convex"`: the convex hull of the cells (the default of
#'   [spatial_cells()]).
#' * `"concave"`: a tissue mask that follows the outline of the tissue and
#'   leaves holes where large areas hold no cells (vessels, necrosis, tears).
#'   It is the morphological closing of the cells with a disc of radius
#'   `radius`, computed on a raster of pixels of `radius / 20` (at most the
#'   pixel of the default radius or half the median cell spacing; coarser for
#'   very large images, so that the raster stays under 2.5e7 pixels, about
#'   150 MB; radii beyond twice the extent of the cells act as that, the
#'   closing being then nearly their convex hull) with exact Euclidean distance transforms, and traced into
#'   polygons (marching squares, simplified within half a pixel). The
#'   closing is eroded by slightly less than `radius`: along a tissue edge it
#'   would otherwise lie inside the outermost cells by about the depth an
#'   empty disc reaches between them (about 0.7 median nearest-neighbour
#'   distances in random tissue), and that margin is given back, so the area
#'   is close to the tissue area (within 1% in simulated tissue) and every
#'   cell lies inside the window. Isolated cells get small pieces of their
#'   own.
#'
#' A user window is a data frame of polygon vertices with columns `x`, `y`
#' (microns) and optionally `image` (which image it belongs to), `polygon`
#' (separate pieces), `ring` (rings within a polygon) and `hole` (`TRUE`
#' for holes); pass it as `window` to [spatial_cells()] or to
#' [set_window()]. Rings may be closed or not and run either way (outer
#' rings are turned counter-clockwise, holes clockwise). Holes must lie
#' inside an outer ring of their polygon, pieces must not overlap and edges
#' must not cross; a ring with zero area is an error of class
#' `immunoscape_error_window`. An sf `POLYGON` / `MULTIPOLYGON` (with an
#' optional `image` column) or a spatstat `owin` is accepted too.
#'
#' @param cells A `spatial_cells` object.
#' @param method `"convex"`, `"rectangle"` or `"concave"`.
#' @param radius For `"concave"`: the length scale in microns. Gaps in the
#'   tissue narrower than about `2 * radius` are closed; empty areas wider
#'   than that become holes or notches. `NULL` picks
#'   `max(50, 5 * q90)`, where `q90` is the 90th percentile of
#'   nearest-neighbour distances between cells of the image: five times
#'   the largest usual gap between neighbours, so that sparse images are not
#'   cut into islands, and at least 50 microns (a few cell diameters), which
#'   on the bundled real images (q90 of 9 to 12 microns) keeps lumens and
#'   vessels wider than about 100 microns as holes.
#' @param ... Unused; a misspelled argument is an error.
#' @param nthreads Number of OpenMP threads for the `"concave"` mask; the
#'   window does not depend on it.
#' @returns A `tissue_window` data frame with columns `image`, `polygon`,
#'   `ring`, `hole`, `x`, `y`.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(2000, 0, 1000), y = runif(2000, 0, 600),
#'                  type = "tumor")
#' # a vessel: no cells within 150 microns of (500, 300)
#' df <- df[(df$x - 500)^2 + (df$y - 300)^2 > 150^2, ]
#' cells <- spatial_cells(df)
#' window_area(tissue_window(cells, "rectangle"))
#' w <- tissue_window(cells, "concave")
#' window_area(w)
#' any(w$hole)
tissue_window <- function(cells, method = c("convex", "rectangle", "concave"),
                          radius = NULL, ..., nthreads = immunoscape_threads()) {
    check_dots(...)
    cells <- check_cells(cells)
    method <- check_choice(method, c("convex", "rectangle", "concave"))
    check_radius(radius, allow_null = TRUE)
    nthreads <- check_nthreads(nthreads)
    make_windows(cells, method, radius = radius, nthreads = nthreads)
}

# Windows for every image of `cells` from a method name.
make_windows <- function(cells, method, radius = NULL,
                         nthreads = immunoscape_threads(),
                         call = rlang::caller_env()) {
    lv <- levels(cells$image)
    idx <- split(seq_len(nrow(cells)), cells$image)
    # images without cells (a subset kept the factor level) get no window
    used <- lv[lengths(idx[lv]) > 0L]
    # fewer than three cells or all on a line: no window, whatever the
    # method (a rectangle or a closing would make up an area)
    flat <- used[vapply(used, function(im) {
        cells_collinear(cells$x[idx[[im]]], cells$y[idx[[im]]])
    }, logical(1))]
    pieces <- lapply(used, function(im) {
        i <- idx[[im]]
        if (im %in% flat) {
            # a zero-area ring, left out below with the warning
            return(data.frame(polygon = 1L, ring = 1L, hole = FALSE,
                              x = cells$x[i][c(1, 1, 1)],
                              y = cells$y[i][c(1, 1, 1)], image = im))
        }
        w <- switch(method,
            rectangle = window_rectangle(cells$x[i], cells$y[i]),
            convex = window_convex(cells$x[i], cells$y[i]),
            concave = window_concave(cells$x[i], cells$y[i], radius,
                                     nthreads = nthreads, call = call)
        )
        w$image <- rep(im, nrow(w))
        w
    })
    w <- do.call(rbind, pieces)
    w <- new_window(w, lv)
    a <- window_area(w)[used]
    bad <- names(a)[!(a > 0)]
    if (length(bad) == length(used)) {
        check_window_area(w, images = used, call = call)
    }
    if (length(bad)) {
        # in a cohort, a degenerate image loses its window rather than
        # stopping the whole cohort; area-based results leave it out
        warn_immunoscape(c(
            "Image{?s} {.val {bad}} {?has/have} fewer than three cells or all cells on a line: no {.arg window}, so {?its/their} densities are NA and statistics that need an area leave {?it/them} out.",
            "i" = "Drop {cli::qty(length(bad))}{?that/those} image{?s}, or supply a polygon as {.arg window} (microns)."
        ), class = "window", call = call)
        w <- w[!as.character(w$image) %in% bad, , drop = FALSE]
        rownames(w) <- NULL
    }
    w
}

# Whether points span no area: fewer than three distinct points, or all
# on one line (every point's distance from the line through the first
# point and the point farthest from it is below 1e-9 of that length).
cells_collinear <- function(x, y) {
    if (length(x) < 3L) return(TRUE)
    d2 <- (x - x[1])^2 + (y - y[1])^2
    k <- which.max(d2)
    L <- sqrt(d2[k])
    if (!(L > 0)) return(TRUE)
    cross <- (x[k] - x[1]) * (y - y[1]) - (y[k] - y[1]) * (x - x[1])
    max(abs(cross)) / L <= 1e-9 * L
}

window_rectangle <- function(x, y) {
    rx <- range(x)
    ry <- range(y)
    data.frame(polygon = 1L, ring = 1L, hole = FALSE,
               x = rx[c(1, 2, 2, 1)], y = ry[c(1, 1, 2, 2)])
}

window_convex <- function(x, y) {
    h <- grDevices::chull(x, y)
    data.frame(polygon = 1L, ring = 1L, hole = FALSE, x = x[h], y = y[h])
}

# The concave window: a closing of the cells with a disc of radius
# `radius` computed on a raster (pixel about radius / 10), eroded by a
# little less than the radius so that every cell keeps a margin, traced
# into rings by marching squares (C: ffi_window_concave()).
window_concave <- function(x, y, radius, nthreads = immunoscape_threads(),
                           call = rlang::caller_env()) {
    if (length(x) < 3L) return(window_convex(x, y))
    p <- concave_parameters(x - min(x), y - min(y), radius,
                            nthreads = nthreads, call = call)
    concave_rings(x, y, p$radius, p$pixel, p$margin, nthreads)
}

# The rings of the closing of points (x, y) with a disc of `radius` on a
# raster of `pixel`, eroded by radius - margin only (so grown by `margin`
# beyond the closing), as a vertex data frame (polygon, ring, hole, x, y).
# Also the outline of a TLS (R/tls.R).
concave_rings <- function(x, y, radius, pixel, margin,
                          nthreads = immunoscape_threads()) {
    # the raster is laid from the lowest cell, so that stage coordinates
    # (offsets of 1e7 microns) give the same outline as local ones
    x0 <- min(x)
    y0 <- min(y)
    x <- as.numeric(x) - x0
    y <- as.numeric(y) - y0
    nth <- as.integer(nthreads)
    # simplified within half a pixel; kept only if no edges cross and every
    # cell stays inside (else the exact marching-squares outline)
    res <- .Call(ffi_window_concave, x, y, radius, pixel, margin, 0.5, nth)
    if (!concave_ok(res, x, y)) {
        res <- .Call(ffi_window_concave, x, y, radius, pixel, margin, 0, nth)
    }
    contour_frame(res, x0, y0)
}

concave_ok <- function(res, x, y) {
    if (length(.Call(ffi_window_crossing, res[[1]], res[[2]], res[[3]]))) {
        return(FALSE)
    }
    all(.Call(ffi_window_inside, x, y, res[[1]], res[[2]], res[[3]]))
}

# Quantiles `probs` of the nearest-neighbour distances of the points (0
# when fewer than two points).
nn_quantiles <- function(x, y, probs, nthreads) {
    n <- length(x)
    nn <- .Call(ffi_dist_nearest, as.numeric(x), as.numeric(y), seq_len(n),
                seq_len(n), 1L, as.integer(nthreads))[[1]][, 1]
    nn <- nn[is.finite(nn)]
    if (length(nn)) stats::quantile(nn, probs, names = FALSE)
    else rep(0, length(probs))
}

# Length scales of the concave window for one image: the closing radius
# (default max(50, 5 * q90 of nearest-neighbour distances); at most twice
# the cells' extent), the pixel (radius / 20, at most max(2.5, q50 / 2,
# q90 / 4), which leaves the default radius's pixel as it is;
# coarser if the raster would exceed `max_pixels`), and the
# margin: the closing is eroded by radius - margin only. Along a tissue
# edge the closing lies inside the outermost cells by about the depth an
# empty disc of the radius reaches between them, about 0.7 median
# nearest-neighbour distances in random tissue (simulations at several
# densities); the margin gives that back, and is at least 1.5 pixels so that
# every cell ends up inside, at most the radius.
concave_parameters <- function(x, y, radius = NULL, max_pixels = 2.5e7,
                               nthreads = immunoscape_threads(),
                               call = rlang::caller_env()) {
    q <- nn_quantiles(x, y, c(0.5, 0.9), nthreads)
    if (is.null(radius)) radius <- max(50, 5 * q[2])
    radius <- as.numeric(radius)
    if (!(radius > 0)) {
        stop_immunoscape(c(
            "{.arg radius} of the {.val concave} window must be > 0 microns.",
            "i" = "Leave it {.code NULL} for the default, or give e.g. {.code radius = 50}."
        ), class = "radius", call = call)
    }
    # a disc wider than the cells closes them to (nearly) their convex
    # hull: larger radii act as twice their extent, and the pixel stays
    # at the scale of the cell spacing (a pixel of radius / 20 would pad
    # the mask by 1.5 such pixels beyond the cells)
    ext <- sqrt(diff(range(x))^2 + diff(range(y))^2)
    if (ext > 0) radius <- min(radius, 2 * ext)
    pixel <- min(radius / 20, max(2.5, q[1] / 2, q[2] / 4))
    wx <- diff(range(x)) + 2 * radius
    wy <- diff(range(y)) + 2 * radius
    need <- sqrt(wx * wy / max_pixels) * 1.05
    pixel <- max(pixel, need)
    if (pixel > radius / 3) {
        stop_immunoscape(c(
            "{.arg radius} = {radius} microns is too small for an image of {round(wx)} x {round(wy)} microns.",
            "i" = "Use {.code radius >= {ceiling(3 * need)}}, a larger {.arg max_pixels} (now {format(max_pixels)}) or, for a window, the {.val convex} one."
        ), class = "radius", call = call)
    }
    margin <- min(radius, max(1.5 * pixel, 0.7 * q[1]))
    list(radius = radius, pixel = pixel, margin = margin, nn_q50 = q[1],
         nn_q90 = q[2])
}

# Validate and normalise a vertex data frame: columns, types, orientation.
new_window <- function(w, images) {
    w <- w[window_columns]
    w$image <- factor(as.character(w$image), levels = images)
    w$polygon <- as.integer(w$polygon)
    w$ring <- as.integer(w$ring)
    w$hole <- as.logical(w$hole)
    w$x <- as.numeric(w$x)
    w$y <- as.numeric(w$y)
    w <- w[order(w$image, w$polygon, w$ring, seq_len(nrow(w))), ,
           drop = FALSE]
    # orientation: outer rings counter-clockwise, holes clockwise
    key <- interaction(w$image, w$polygon, w$ring, drop = TRUE,
                       lex.order = TRUE)
    rows <- split(seq_len(nrow(w)), key)
    for (r in rows) {
        a <- ring_signed_area(w$x[r], w$y[r])
        if ((a < 0 && !w$hole[r[1]]) || (a > 0 && w$hole[r[1]])) {
            w[r, c("x", "y")] <- w[rev(r), c("x", "y")]
        }
    }
    rownames(w) <- NULL
    class(w) <- c("tissue_window", "data.frame")
    w
}

ring_signed_area <- function(x, y) {
    n <- length(x)
    if (n < 3) return(0)
    j <- c(2:n, 1L)
    sum((x - x[1]) * (y[j] - y[1]) - (x[j] - x[1]) * (y - y[1])) / 2
}

# Per image: vertex coordinates and 0-based ring offsets for C.
window_rings <- function(w, image) {
    s <- w[w$image == image, , drop = FALSE]
    if (!nrow(s)) {
        return(list(x = double(), y = double(), ring_start = 0L))
    }
    list(x = s$x, y = s$y, ring_start = ring_starts(s))
}

# 0-based ring offsets (then the end) of vertex rows: consecutive rows of
# one polygon and ring form a ring.
ring_starts <- function(d) {
    as.integer(c(0L, cumsum(rle(paste(d$polygon, d$ring))$lengths)))
}

#' Window area
#'
#' @param x A `tissue_window` or a `spatial_cells` object.
#' @returns A named numeric vector: the area of each image's window in
#'   square microns (divide by 1e6 for mm^2).
#' @export
window_area <- function(x) {
    if (inherits(x, "spatial_cells")) return(window_areas(x))
    if (!inherits(x, "tissue_window")) x <- as_window(x)
    lv <- levels(x$image)
    vapply(stats::setNames(lv, lv), function(im) {
        r <- window_rings(x, im)
        if (!length(r$x)) return(NA_real_)   # an image without a window
        if (length(r$x) < 3) return(0)
        .Call(ffi_window_area, r$x, r$y, r$ring_start)
    }, numeric(1))
}

#' @export
print.tissue_window <- function(x, ..., n = 10L) {
    df <- as.data.frame(unclass(x), stringsAsFactors = FALSE)
    img <- factor(as.character(df$image),
                  levels = levels(droplevels(as.factor(x$image))))
    key <- paste(df$image, df$polygon)
    rk <- paste(df$image, df$polygon, df$ring)
    per <- data.frame(
        image = levels(img),
        polygons = as.vector(tapply(key, img, function(v) length(unique(v)))),
        holes = as.vector(tapply(ifelse(df$hole, rk, NA), img,
                                 function(v) length(unique(v[!is.na(v)])))),
        vertices = tabulate(img, nlevels(img)),
        stringsAsFactors = FALSE
    )
    area <- window_area(x)
    per$area_mm2 <- signif(unname(area[per$image]) / 1e6, 4)
    nimg <- nrow(per)
    cat(sprintf("<tissue_window> %d image%s, %s polygon%s (%s hole%s), %s vertices; area %s mm^2\n",
                nimg, if (nimg == 1) "" else "s",
                format(sum(per$polygons), big.mark = ","),
                if (sum(per$polygons) == 1) "" else "s",
                format(sum(per$holes), big.mark = ","),
                if (sum(per$holes) == 1) "" else "s",
                format(nrow(df), big.mark = ","),
                format(signif(sum(area, na.rm = TRUE) / 1e6, 4))))
    print(utils::head(per, n), row.names = FALSE, ...)
    if (nimg > n) {
        cat(sprintf("# ... %s more images; the vertices: as.data.frame(x)\n",
                    format(nimg - n, big.mark = ",")))
    }
    invisible(x)
}

window_areas <- function(cells) {
    w <- attr(cells, "windows")
    if (is.null(w)) return(stats::setNames(rep(NA_real_, nlevels(cells$image)),
                                           levels(cells$image)))
    window_area(w)
}

check_window_area <- function(w, images = levels(w$image),
                              call = rlang::caller_env()) {
    a <- window_area(w)[images]
    bad <- names(a)[!(a > 0)]
    if (length(bad)) {
        stop_immunoscape(c(
            "The window of image{?s} {.val {bad}} has zero area (fewer than three cells, or all cells on a line).",
            "i" = "Drop {cli::qty(length(bad))}{?that/those} image{?s}, or supply a polygon as {.arg window} (microns)."
        ), class = "window", call = call)
    }
    invisible(a)
}

# Is each cell inside its image's window (boundary counts as inside)?
cells_in_window <- function(cells) {
    w <- attr(cells, "windows")
    inside <- rep(TRUE, nrow(cells))
    if (is.null(w)) return(inside)
    idx <- split(seq_len(nrow(cells)), cells$image)
    has <- unique(as.character(w$image))
    for (im in intersect(names(idx), has)) {
        i <- idx[[im]]
        if (!length(i)) next
        inside[i] <- window_inside(w, im, cells$x[i], cells$y[i])
    }
    inside
}

# Per cell: distance (microns) to the edge of its image's window (outer
# boundary or hole), as spatstat.geom::bdist.points(); NA without window.
cells_edge_distance <- function(cells, nthreads = immunoscape_threads()) {
    w <- attr(cells, "windows")
    out <- rep(NA_real_, nrow(cells))
    if (is.null(w)) return(out)
    idx <- split(seq_len(nrow(cells)), cells$image)
    for (im in names(idx)) {
        i <- idx[[im]]
        if (!length(i)) next
        out[i] <- window_bdist(w, im, cells$x[i], cells$y[i], nthreads)
    }
    out
}

# ---- geometry of one image's window (C module src/window.c) -------------
# `w` is a tissue_window, `image` one of its images. Used by cells_*()
# above and by the edge corrections of the point-pattern statistics.

window_has_rings <- function(r) length(r$x) >= 3L && length(r$ring_start) > 1L

# Inside (TRUE) or not, boundary included, holes excluded (serial: about
# 30 ns a point).
window_inside <- function(w, image, x, y) {
    r <- window_rings(w, image)
    if (!window_has_rings(r)) return(rep(FALSE, length(x)))
    .Call(ffi_window_inside, as.numeric(x), as.numeric(y), r$x, r$y,
          r$ring_start)
}

# Distance to the nearest window edge.
window_bdist <- function(w, image, x, y, nthreads = immunoscape_threads()) {
    r <- window_rings(w, image)
    if (!window_has_rings(r)) return(rep(NA_real_, length(x)))
    .Call(ffi_window_bdist, as.numeric(x), as.numeric(y), r$x, r$y,
          r$ring_start, as.integer(nthreads))
}

# Fraction of the circle of radius r (one value or one per point) around
# each point that lies in the window. Ripley's isotropic weight is its
# inverse: spatstat.explore::edge.Ripley() gives
# pmin(maxweight, 1 / window_circle_frac()) (maxweight = 100).
window_circle_frac <- function(w, image, x, y, r,
                               nthreads = immunoscape_threads()) {
    rr <- window_rings(w, image)
    if (!window_has_rings(rr)) return(rep(NA_real_, length(x)))
    .Call(ffi_window_circle_frac, as.numeric(x), as.numeric(y),
          as.numeric(r), rr$x, rr$y, rr$ring_start, as.integer(nthreads))
}

# Area of W intersected with W shifted by (dx, dy); the translation weight
# of a pair is window area / overlap (spatstat.explore::edge.Trans()).
window_overlap <- function(w, image, dx, dy,
                           nthreads = immunoscape_threads()) {
    r <- window_rings(w, image)
    if (!window_has_rings(r)) return(rep(NA_real_, length(dx)))
    .Call(ffi_window_overlap, as.numeric(dx), as.numeric(dy), r$x, r$y,
          r$ring_start, as.integer(nthreads))
}

# Turn what the user gave as `window` into a tissue_window for `cells`.
build_windows <- function(cells, window, call = rlang::caller_env()) {
    if (is.character(window)) {
        if (length(window) != 1L ||
            !window %in% c("convex", "rectangle", "concave")) {
            stop_immunoscape(c(
                "{.arg window} must be {.val convex}, {.val rectangle}, {.val concave} or a polygon data frame, not {.val {window}}."
            ), class = "window", call = call)
        }
        return(make_windows(cells, window, call = call))
    }
    w <- as_window(window, images = levels(cells$image), call = call)
    # images without cells (unused levels after subsetting) need no window
    lv <- levels(cells$image)
    present <- lv[tabulate(cells$image, length(lv)) > 0L]
    if (length(present) < length(lv)) {
        keep <- as.character(w$image) %in% present
        if (!all(keep)) {
            w <- w[keep, , drop = FALSE]
            rownames(w) <- NULL
        }
    }
    missing_img <- setdiff(present, unique(as.character(w$image)))
    if (length(missing_img)) {
        stop_immunoscape(c(
            "The window polygon has no vertices for image{?s} {.val {missing_img}}.",
            "i" = "Give an {.field image} column in the polygon data frame, one set of rings per image."
        ), class = "window", call = call)
    }
    check_window_area(w, images = present, call = call)
    w
}

#' Coerce a polygon description to a tissue window
#'
#' @param x A data frame of vertices (columns `x`, `y`, optionally `image`,
#'   `polygon`, `ring`, `hole`), an sf `POLYGON` / `MULTIPOLYGON` (`sf`
#'   object with an optional `image` column, `sfc` or `sfg`), a spatstat
#'   `owin`, or a `tissue_window`.
#' @param images Image names the window applies to; a window without an
#'   `image` column is used for every one of them.
#' @param ... Unused.
#' @returns A `tissue_window`.
#' @keywords internal
#' @export
as_window <- function(x, images = NULL, ...) {
    UseMethod("as_window")
}

#' @export
as_window.default <- function(x, images = NULL, ..., call = rlang::caller_env()) {
    check_dots(...)
    stop_immunoscape(c(
        "A window must be a polygon data frame (columns {.field x}, {.field y}), an sf {.cls POLYGON}/{.cls MULTIPOLYGON} or a spatstat {.cls owin}, not {.obj_type_friendly {x}}."
    ), class = "window", call = call)
}

#' @export
as_window.data.frame <- function(x, images = NULL, ...,
                                 call = rlang::caller_env()) {
    check_dots(...)
    miss <- setdiff(c("x", "y"), names(x))
    if (length(miss)) {
        stop_immunoscape(c(
            "The window polygon lacks column{?s} {.val {miss}}.",
            "i" = "A polygon is a data frame of vertices with columns {.field x}, {.field y} and optionally {.field image}, {.field polygon}, {.field ring}, {.field hole}."
        ), class = "window", call = call)
    }
    if (!nrow(x)) {
        stop_immunoscape(c(
            "The window polygon has no vertices (a data frame with 0 rows).",
            "i" = "Give at least 3 vertices per ring, or leave {.arg window} at its default."
        ), class = "window", call = call)
    }
    if (!is.numeric(x$x) || !is.numeric(x$y) || any(!is.finite(x$x)) ||
        any(!is.finite(x$y))) {
        stop_immunoscape("The window polygon's {.field x} and {.field y} must be finite numbers.",
                         class = "window", call = call)
    }
    if (max(abs(x$x), abs(x$y)) > max_coordinate) {
        stop_immunoscape(c(
            "The window polygon's coordinates reach {.val {format(max(abs(x$x), abs(x$y)), digits = 3)}}; at most {.val {format(max_coordinate)}} (microns) is supported.",
            "i" = "Check the units: coordinates are microns (1e12 um is 1000 km)."
        ), class = "window", call = call)
    }
    x <- as.data.frame(x)
    if (is.null(x$polygon)) x$polygon <- 1L
    if (is.null(x$ring)) x$ring <- x$polygon
    if (is.null(x$hole)) x$hole <- FALSE
    if (anyNA(x$polygon) || anyNA(x$ring) || anyNA(x$hole) ||
        !(is.logical(x$hole) || is.numeric(x$hole))) {
        stop_immunoscape(c(
            "The window polygon's {.field polygon}, {.field ring} and {.field hole} columns must have no missing values.",
            "i" = "{.field hole} is {.code TRUE} for the vertices of holes, {.code FALSE} otherwise."
        ), class = "window", call = call)
    }
    if (is.null(x$image)) {
        images <- images %||% "image1"
        x <- do.call(rbind, lapply(images, function(im) {
            x$image <- im
            x
        }))
    } else if (is.null(images)) {
        images <- if (is.factor(x$image)) levels(x$image) else unique(as.character(x$image))
    }
    unknown <- setdiff(unique(as.character(x$image)), images)
    if (length(unknown)) {
        stop_immunoscape("The window polygon names image{?s} not in the cells: {.val {unknown}}.",
                         class = "window", call = call)
    }
    x <- drop_repeated_vertices(x)
    key <- paste(x$image, x$polygon, x$ring)
    small <- table(key) < 3
    if (any(small)) {
        stop_immunoscape(c(
            "Every ring of a window polygon needs at least 3 distinct vertices.",
            "x" = "Ring{?s} with fewer: {.val {names(small)[small]}} (image, polygon, ring)."
        ), class = "window", call = call)
    }
    w <- new_window(x, images)
    check_window_geometry(w, call = call)
    w
}

# Rings may be given closed (first vertex repeated at the end) and with
# repeated consecutive vertices: drop the repeats, keep the order.
drop_repeated_vertices <- function(x) {
    key <- paste(x$image, x$polygon, x$ring, sep = "\r")
    n <- nrow(x)
    if (n < 2L) return(x)
    same_ring <- c(FALSE, key[-1] == key[-n])
    dup <- same_ring & c(FALSE, x$x[-1] == x$x[-n] & x$y[-1] == x$y[-n])
    # closing vertex: the last vertex of a ring equals its first one
    first <- !duplicated(key)
    last <- !duplicated(key, fromLast = TRUE)
    fi <- match(key, key[first])
    fx <- x$x[first][fi]
    fy <- x$y[first][fi]
    closing <- last & !first & x$x == fx & x$y == fy
    x[!(dup | closing), , drop = FALSE]
}

# User polygons: every ring has area, holes lie inside an outer ring of
# their polygon, pieces do not overlap, edges do not cross.
check_window_geometry <- function(w, call = rlang::caller_env()) {
    bad <- function(msg, ...) {
        stop_immunoscape(c(msg, ...,
            "i" = "A window is a set of polygons (an outer ring each, with optional holes inside it) that do not overlap and whose edges do not cross."
        ), class = "window", call = call, .envir = parent.frame())
    }
    for (im in levels(w$image)) {
        s <- w[w$image == im, , drop = FALSE]
        if (!nrow(s)) next
        key <- paste(s$polygon, s$ring)
        rows <- split(seq_len(nrow(s)), factor(key, unique(key)))
        label <- vapply(rows, function(r) {
            sprintf("ring %s of polygon %s", s$ring[r[1]], s$polygon[r[1]])
        }, character(1))
        r <- window_rings(s, im)
        cr <- .Call(ffi_window_crossing, r$x, r$y, r$ring_start)
        if (length(cr)) {
            z <- unique(label[findInterval(cr - 1L, r$ring_start)])
            bad("Edges of the window of image {.val {im}} cross each other ({.and {z}}).")
        }
        area <- vapply(rows, function(r) ring_signed_area(s$x[r], s$y[r]),
                       numeric(1))
        ext2 <- diff(range(s$x))^2 + diff(range(s$y))^2
        flat <- abs(area) <= 1e-14 * ext2
        if (any(flat)) {
            z <- label[flat][1]
            bad("The window of image {.val {im}} has a ring of zero area ({z}): its vertices lie on a line.")
        }
        hole <- vapply(rows, function(r) s$hole[r[1]], logical(1))
        poly <- vapply(rows, function(r) s$polygon[r[1]], numeric(1))
        outer <- which(!hole)
        # holes: every vertex inside (or on) an outer ring of their polygon,
        # one test per polygon
        for (pp in unique(poly[hole])) {
            hk <- which(hole & poly == pp)
            o <- outer[poly[outer] == pp]
            if (!length(o)) {
                bad("The hole {label[hk[1]]} of the window of image {.val {im}} belongs to no outer ring.",
                    "i" = "Give it the {.field polygon} number of the outer ring it lies in.")
            }
            hr <- unlist(rows[hk], use.names = FALSE)
            ins <- rings_inside(s, rows[o], s$x[hr], s$y[hr])
            out <- hk[!vapply(split(ins, rep(seq_along(hk), lengths(rows[hk]))),
                              all, logical(1))]
            if (length(out)) {
                bad("The hole {label[out[1]]} of the window of image {.val {im}} is not inside its outer ring.")
            }
        }
        # an outer ring inside another outer ring (of any polygon, its own
        # too) and not inside one of the holes there overlaps it: its area
        # would count twice; pairwise, so only for up to 100 pieces (edge
        # crossings are caught above whatever the number)
        if (length(outer) > 1L && length(outer) <= 100L) {
            for (k in outer) {
                others <- seq_along(rows)[-k]
                v <- rows[[k]]
                if (all(rings_inside(s, rows[others], s$x[v], s$y[v]))) {
                    bad("Polygons of the window of image {.val {im}} overlap: {label[k]} lies inside another outer ring.",
                        "i" = "Give a hole {.code hole = TRUE} and the {.field polygon} number of the ring it lies in.")
                }
            }
        }
    }
    invisible(w)
}

# Points inside the region made of some rings of `s` (even-odd rule).
rings_inside <- function(s, rows, x, y) {
    rs <- as.integer(c(0L, cumsum(lengths(rows))))
    i <- unlist(rows, use.names = FALSE)
    .Call(ffi_window_inside, as.numeric(x), as.numeric(y), s$x[i], s$y[i],
          rs)
}

#' @export
as_window.owin <- function(x, images = NULL, ..., call = rlang::caller_env()) {
    check_dots(...)
    images <- images %||% "image1"
    if (x$type == "mask") {
        rlang::check_installed("spatstat.geom")
        x <- spatstat.geom::as.polygonal(x)
    }
    if (x$type == "rectangle") {
        df <- data.frame(polygon = 1L, ring = 1L, hole = FALSE,
                         x = x$xrange[c(1, 2, 2, 1)],
                         y = x$yrange[c(1, 1, 2, 2)])
    } else {
        df <- do.call(rbind, lapply(seq_along(x$bdry), function(k) {
            b <- x$bdry[[k]]
            a <- ring_signed_area(b$x, b$y)
            data.frame(polygon = k, ring = k, hole = a < 0, x = b$x, y = b$y)
        }))
        df <- assign_holes(df)
    }
    as_window.data.frame(df, images = images, call = call)
}

#' @export
as_window.sfg <- function(x, images = NULL, ..., call = rlang::caller_env()) {
    check_dots(...)
    rlang::check_installed("sf", reason = "to use an sf polygon as window.")
    as_window(sf::st_sfc(x), images = images, call = call)
}

#' @export
as_window.tissue_window <- function(x, images = NULL, ...) {
    check_dots(...)
    x
}

# spatstat lists rings without saying which outer ring a hole belongs to;
# attach each hole to the smallest outer ring containing its first vertex.
assign_holes <- function(df) {
    rings <- split(df, df$ring)
    outer <- Filter(function(r) !r$hole[1], rings)
    for (k in names(rings)) {
        r <- rings[[k]]
        if (!r$hole[1]) next
        best <- NA
        best_a <- Inf
        for (o in outer) {
            ins <- .Call(ffi_window_inside, r$x[1], r$y[1], o$x, o$y,
                         c(0L, nrow(o)))
            a <- abs(ring_signed_area(o$x, o$y))
            if (ins && a < best_a) {
                best <- o$polygon[1]
                best_a <- a
            }
        }
        if (!is.na(best)) df$polygon[df$ring == r$ring[1]] <- best
    }
    df
}

#' Get or set the windows of a `spatial_cells` object
#'
#' @param cells A `spatial_cells` object.
#' @param window A method name of [tissue_window()] or a polygon data frame.
#' @returns `get_window()`: the `tissue_window`; `set_window()`: `cells`
#'   with new windows.
#' @export
#' @examples
#' df <- data.frame(x = c(0, 10, 10, 0, 5), y = c(0, 0, 10, 10, 5),
#'                  type = "A")
#' cells <- spatial_cells(df)
#' get_window(cells)
#' sq <- data.frame(x = c(-1, 11, 11, -1), y = c(-1, -1, 11, 11))
#' window_area(set_window(cells, sq))
get_window <- function(cells) {
    cells <- check_cells(cells)
    attr(cells, "windows")
}

#' @rdname get_window
#' @export
set_window <- function(cells, window) {
    cells <- check_cells(cells)
    attr(cells, "windows") <- build_windows(cells, window)
    warn_outside(cells)
    cells
}
