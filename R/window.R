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
#'   See the `radius` argument.
#'
#' A user window is a data frame of polygon vertices with columns `x`, `y`
#' (microns) and optionally `image` (which image it belongs to), `polygon`
#' (separate pieces), `ring` (rings within a polygon) and `hole` (`TRUE`
#' for holes); pass it as `window` to [spatial_cells()] or to
#' [set_window()].
#'
#' @param cells A `spatial_cells` object.
#' @param method `"convex"`, `"rectangle"` or `"concave"`.
#' @param radius For `"concave"`: the length scale in microns. Gaps in the
#'   tissue narrower than about `2 * radius` are closed; empty areas wider
#'   than that become holes or notches. `NULL` picks
#'   `max(50, 5 * q90)`, where `q90` is the 90th percentile of
#'   nearest-neighbour distances between cells of the image, so that sparse
#'   images are not cut into islands.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `tissue_window` data frame with columns `image`, `polygon`,
#'   `ring`, `hole`, `x`, `y`.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(200, 0, 500), y = runif(200, 0, 300),
#'                  type = "tumor")
#' cells <- spatial_cells(df)
#' w <- tissue_window(cells, "rectangle")
#' window_area(w)
tissue_window <- function(cells, method = c("convex", "rectangle", "concave"),
                          radius = NULL, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    method <- rlang::arg_match(method)
    check_radius(radius, allow_null = TRUE)
    make_windows(cells, method, radius = radius)
}

# Windows for every image of `cells` from a method name.
make_windows <- function(cells, method, radius = NULL,
                         call = rlang::caller_env()) {
    lv <- levels(cells$image)
    idx <- split(seq_len(nrow(cells)), cells$image)
    pieces <- lapply(lv, function(im) {
        i <- idx[[im]]
        w <- switch(method,
            rectangle = window_rectangle(cells$x[i], cells$y[i]),
            convex = window_convex(cells$x[i], cells$y[i]),
            concave = window_concave(cells$x[i], cells$y[i], radius)
        )
        w$image <- rep(im, nrow(w))
        w
    })
    w <- do.call(rbind, pieces)
    w <- new_window(w, lv)
    check_window_area(w, call = call)
    w
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

window_concave <- function(x, y, radius) {
    stop_immunoscape("The {.val concave} window is not available yet.",
                     class = "argument")
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
    key <- paste(s$polygon, s$ring)
    runs <- rle(key)$lengths
    list(x = s$x, y = s$y, ring_start = as.integer(c(0L, cumsum(runs))))
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
        if (length(r$x) < 3) return(0)
        .Call(ffi_window_area, r$x, r$y, r$ring_start)
    }, numeric(1))
}

window_areas <- function(cells) {
    w <- attr(cells, "windows")
    if (is.null(w)) return(stats::setNames(rep(NA_real_, nlevels(cells$image)),
                                           levels(cells$image)))
    window_area(w)
}

check_window_area <- function(w, call = rlang::caller_env()) {
    a <- window_area(w)
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
    for (im in names(idx)) {
        i <- idx[[im]]
        if (!length(i)) next
        r <- window_rings(w, im)
        inside[i] <- .Call(ffi_window_inside, cells$x[i], cells$y[i], r$x, r$y,
                           r$ring_start)
    }
    inside
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
    missing_img <- setdiff(levels(cells$image), unique(as.character(w$image)))
    if (length(missing_img)) {
        stop_immunoscape(c(
            "The window polygon has no vertices for image{?s} {.val {missing_img}}.",
            "i" = "Give an {.field image} column in the polygon data frame, one set of rings per image."
        ), class = "window", call = call)
    }
    check_window_area(w, call = call)
    w
}

#' Coerce a polygon description to a tissue window
#'
#' @param x A data frame of vertices (columns `x`, `y`, optionally `image`,
#'   `polygon`, `ring`, `hole`), a spatstat `owin`, or a `tissue_window`.
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
    stop_immunoscape(c(
        "A window must be a polygon data frame (columns {.field x}, {.field y}) or a spatstat {.cls owin}, not {.obj_type_friendly {x}}."
    ), class = "window", call = call)
}

#' @export
as_window.data.frame <- function(x, images = NULL, ...,
                                 call = rlang::caller_env()) {
    miss <- setdiff(c("x", "y"), names(x))
    if (length(miss)) {
        stop_immunoscape(c(
            "The window polygon lacks column{?s} {.val {miss}}.",
            "i" = "A polygon is a data frame of vertices with columns {.field x}, {.field y} and optionally {.field image}, {.field polygon}, {.field ring}, {.field hole}."
        ), class = "window", call = call)
    }
    if (!is.numeric(x$x) || !is.numeric(x$y) || any(!is.finite(x$x)) ||
        any(!is.finite(x$y))) {
        stop_immunoscape("The window polygon's {.field x} and {.field y} must be finite numbers.",
                         class = "window", call = call)
    }
    x <- as.data.frame(x)
    if (is.null(x$polygon)) x$polygon <- 1L
    if (is.null(x$ring)) x$ring <- x$polygon
    if (is.null(x$hole)) x$hole <- FALSE
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
    key <- paste(x$image, x$polygon, x$ring)
    small <- table(key) < 3
    if (any(small)) {
        stop_immunoscape("Every ring of a window polygon needs at least 3 vertices.",
                         class = "window", call = call)
    }
    new_window(x, images)
}

#' @export
as_window.owin <- function(x, images = NULL, ..., call = rlang::caller_env()) {
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
as_window.tissue_window <- function(x, images = NULL, ...) {
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
            rs <- c(0L, nrow(o))
            ins <- .Call(ffi_window_inside, r$x[1], r$y[1], o$x, o$y,
                         as.integer(rs))
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
