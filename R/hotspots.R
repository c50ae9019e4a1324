# Hotspots of a cell type: Getis-Ord Gi* on a square grid per image.

# Gi* z-scores (Getis & Ord 1992; Ord & Getis 1995) of values v on grid
# squares (ix, iy), with binary weights w_ij = 1 for the squares j within
# Chebyshev distance `order` of square i, i itself included:
#   z_i = (sum_j w_ij v_j - vbar W_i) / (S sqrt((n S1_i - W_i^2) / (n - 1)))
# where W_i = sum_j w_ij, S1_i = sum_j w_ij^2 (= W_i for binary weights),
# vbar and S are the mean and standard deviation (divisor n) of the n
# values. z is NA where it is undefined: fewer than two squares, all values
# equal (S = 0), or a neighbourhood holding every square (n S1_i = W_i^2).
gi_star <- function(v, ix, iy, order) {
    n <- length(v)
    z <- rep(NA_real_, n)
    if (n < 2L || all(v == v[1L])) return(z)
    pos <- cbind(ix, iy)
    val <- matrix(0, max(ix), max(iy))
    has <- matrix(0, max(ix), max(iy))
    val[pos] <- v
    has[pos] <- 1
    lsum <- box_sum(val, order)[pos]
    wsum <- box_sum(has, order)[pos]
    vbar <- sum(v) / n
    s <- sqrt(sum((v - vbar)^2) / n)
    den <- s * sqrt((n * wsum - wsum^2) / (n - 1))
    ok <- den > 0
    z[ok] <- (lsum[ok] - vbar * wsum[ok]) / den[ok]
    z
}

# Sum of m over the block of entries within `order` rows and columns of
# each entry (entries beyond the edges count 0): a sliding sum down the
# columns, then along the rows. No padding, so a large order costs no
# memory.
box_sum <- function(m, order) {
    nr <- nrow(m)
    nc <- ncol(m)
    r <- m
    for (d in seq_len(min(order, nr - 1L))) {
        a <- seq_len(nr - d)
        r[a, ] <- r[a, , drop = FALSE] + m[a + d, , drop = FALSE]
        r[a + d, ] <- r[a + d, , drop = FALSE] + m[a, , drop = FALSE]
    }
    out <- r
    for (d in seq_len(min(order, nc - 1L))) {
        a <- seq_len(nc - d)
        out[, a] <- out[, a, drop = FALSE] + r[, a + d, drop = FALSE]
        out[, a + d] <- out[, a + d, drop = FALSE] + r[, a, drop = FALSE]
    }
    out
}

# Largest number of grid squares over one image: the dense per-square
# vectors cost about 100 bytes a square.
max_grid_squares <- function() {
    getOption("immunoscape.max_squares", 1e7)
}

# The grid of each image: lower-left corner (x0, y0) of the bounding box of
# its window and cells, and the number of squares nx, ny of side
# `cell_size`. Stops with a classed error naming `cell_size` when a grid
# would hold more than max_grid_squares() squares.
hotspot_grids <- function(cells, windows, cell_size,
                          call = rlang::caller_env()) {
    idx <- image_rows(cells)
    idx <- idx[lengths(idx) > 0L]
    cap <- max_grid_squares()
    lapply(stats::setNames(names(idx), names(idx)), function(im) {
        w <- window_rings(windows, im)
        bx <- range(c(w$x, cells$x[idx[[im]]]))
        by <- range(c(w$y, cells$y[idx[[im]]]))
        dims <- grid_dims(bx[2] - bx[1], by[2] - by[1], cell_size)
        if (!(prod(dims) <= cap)) {
            fit <- grid_fit(bx[2] - bx[1], by[2] - by[1], cap)
            stop_immunoscape(c(
                "{.arg cell_size} = {format(cell_size)} um needs {format(prod(dims), big.mark = ',')} grid squares for image {.val {im}}, more than the {format(cap, big.mark = ',', scientific = FALSE)} allowed.",
                "i" = "Use a larger {.arg cell_size}, e.g. {.code cell_size = {format(fit)}}."
            ), class = "argument", call = call)
        }
        list(x0 = bx[1], y0 = by[1], nx = dims[1], ny = dims[2])
    })
}

# Number of squares of side `cell_size` across extents w and h (doubles:
# a tiny cell_size gives a huge or infinite count, never an integer NA).
grid_dims <- function(w, h, cell_size) {
    c(max(1, ceiling(w / cell_size)), max(1, ceiling(h / cell_size)))
}

# A round square side (two significant digits) whose grid over extents w
# and h holds at most `cap` squares.
grid_fit <- function(w, h, cap) {
    cs <- max(sqrt(w * h / cap), max(w, h) / cap, 1e-6)
    while (prod(grid_dims(w, h, cs)) > cap) cs <- cs * 1.05
    step <- 10^(floor(log10(cs)) - 1)
    ceiling(cs / step) * step
}

#' Hotspots and coldspots of a cell type (Getis-Ord Gi*)
#'
#' Lays a grid of squares of side `cell_size` microns over each image's
#' window, counts the cells of `type` in every square and computes the
#' Getis-Ord Gi* statistic of each square: a z-score comparing the sum over
#' the square and its neighbours (the squares within `order` steps,
#' diagonals included, the square itself included) with what the image's
#' mean would give. Squares are kept when their centre lies in the window
#' or they hold at least one cell. Two-sided p-values from the normal
#' distribution are adjusted within each image with [stats::p.adjust()]
#' (`adjust`, Benjamini-Hochberg by default), and a square is `"hot"`
#' (`z > 0`) or `"cold"` (`z < 0`) when its adjusted p-value is at most
#' `alpha`.
#'
#' With binary weights \eqn{w_{ij} = 1} for the squares \eqn{j} in the
#' neighbourhood of square \eqn{i} (itself included), \eqn{n} squares with
#' values \eqn{x_j}, mean \eqn{\bar x} and standard deviation \eqn{S}
#' (divisor \eqn{n}), \eqn{W_i = \sum_j w_{ij}} and
#' \eqn{S_{1i} = \sum_j w_{ij}^2}, the statistic is (Ord & Getis 1995)
#' \deqn{G_i^* = \frac{\sum_j w_{ij} x_j - \bar x W_i}{S
#'   \sqrt{(n S_{1i} - W_i^2) / (n - 1)}},}{Gi* = (sum_j w_ij x_j -
#'   xbar W_i) / (S sqrt((n S1_i - W_i^2) / (n - 1))),}
#' the exact z-score of the neighbourhood sum over random permutations of
#' the values among the squares. Where it is undefined -- an image with
#' fewer than two squares, all squares with the same value (\eqn{S = 0}),
#' or a neighbourhood holding every square -- `z`, `p` and `p_adj` are `NA`
#' and the square's class is `"none"`; such squares are not counted in the
#' multiple-testing correction.
#'
#' With `value = "fraction"` the square's value is the fraction of its
#' cells that are of `type` (squares without cells are left out), which
#' separates enrichment of the type from cell density.
#'
#' @param cells A `spatial_cells` object.
#' @param type One or more cell types (pooled) whose hotspots are sought.
#' @param cell_size Side of the grid squares in microns. A grid of more
#'   than `getOption("immunoscape.max_squares", 1e7)` squares over one image
#'   is refused with an error suggesting a larger `cell_size`.
#' @param value `"count"` (cells of `type` per square) or `"fraction"`.
#' @param order Neighbourhood of a square: squares within `order` steps
#'   (1: the 3 x 3 block around it).
#' @param adjust Multiple-testing correction, a method of
#'   [stats::p.adjust()] (`"none"` for none).
#' @param alpha Level for calling hot and cold squares.
#' @param BPPARAM `NULL` (serial, with a progress bar) or a BiocParallel
#'   parameter object.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `hotspots` data frame, one row per grid square: `image`,
#'   `x`, `y` (square centre, microns), `xmin`, `xmax`, `ymin`, `ymax`,
#'   `n_cells` (all cells in the square), `count` (cells of `type`),
#'   `value`, `z` (Gi*), `p`, `p_adj`, `class` (factor: hot, cold, none).
#'   `autoplot()` maps the classes (or `fill = "z"`).
#' @references Getis A, Ord JK (1992). The analysis of spatial association
#'   by use of distance statistics. *Geographical Analysis* 24:189-206.
#'
#'   Ord JK, Getis A (1995). Local spatial autocorrelation statistics:
#'   distributional issues and an application. *Geographical Analysis*
#'   27:286-306.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(2000, 0, 500), y = runif(2000, 0, 500))
#' near <- (df$x - 120)^2 + (df$y - 380)^2 < 80^2
#' df$type <- ifelse(near & runif(2000) < 0.7, "CD8 T",
#'                   sample(c("Tumor", "CD8 T"), 2000, TRUE, c(0.9, 0.1)))
#' cells <- spatial_cells(df)
#' h <- hotspots(cells, "CD8 T", cell_size = 50)
#' table(h$class)
hotspots <- function(cells, type, cell_size = 50,
                     value = c("count", "fraction"), order = 1,
                     adjust = "BH", alpha = 0.05, BPPARAM = NULL, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    if (missing(type)) {
        stop_immunoscape(c(
            "{.arg type} is missing.",
            "i" = "Name the cell type whose hotspots you want, e.g. {.code type = \"CD8 T\"}."
        ), class = "type")
    }
    type <- check_types(cells, type)
    if (!is.numeric(cell_size) || length(cell_size) != 1L ||
        !is.finite(cell_size) || cell_size <= 0) {
        stop_immunoscape(c(
            "{.arg cell_size} must be one positive number (microns), not {.val {format(cell_size)}}.",
            "i" = "For example {.code cell_size = 50}."
        ), class = "argument")
    }
    value <- check_choice(value, c("count", "fraction"))
    order <- check_count(order, "order")
    if (!is.character(adjust) || length(adjust) != 1L ||
        !adjust %in% stats::p.adjust.methods) {
        stop_immunoscape(c(
            "{.arg adjust} must be one of {.val {stats::p.adjust.methods}}.",
            "i" = "Use {.code adjust = \"none\"} for unadjusted p-values."
        ), class = "argument")
    }
    check_alpha(alpha)
    windows <- attr(cells, "windows")
    grids <- hotspot_grids(cells, windows, cell_size)

    out <- map_images(cells, function(sub, image) {
        w <- window_rings(windows, image)
        gr <- grids[[image]]
        nx <- gr$nx
        ny <- gr$ny
        # square indices and keys in double arithmetic (nx * ny is capped
        # by hotspot_grids(), far below 2^53)
        cx <- pmin(nx, floor((sub$x - gr$x0) / cell_size) + 1)
        cy <- pmin(ny, floor((sub$y - gr$y0) / cell_size) + 1)
        key <- (cy - 1) * nx + cx
        all_n <- tabulate(key, nx * ny)
        typ_n <- tabulate(key[sub$type %in% type], nx * ny)
        gx <- rep(seq_len(nx), times = ny)
        gy <- rep(seq_len(ny), each = nx)
        mx <- gr$x0 + (gx - 0.5) * cell_size
        my <- gr$y0 + (gy - 0.5) * cell_size
        inside <- if (length(w$x) >= 3) {
            .Call(ffi_window_inside, mx, my, w$x, w$y, w$ring_start)
        } else {
            rep(FALSE, length(mx))
        }
        keep <- inside | all_n > 0
        if (value == "fraction") keep <- all_n > 0
        v <- if (value == "count") typ_n else typ_n / pmax(all_n, 1L)
        z <- gi_star(v[keep], gx[keep], gy[keep], order)
        p <- 2 * stats::pnorm(-abs(z))
        p_adj <- rep(NA_real_, length(p))
        ok <- !is.na(p)
        p_adj[ok] <- stats::p.adjust(p[ok], method = adjust)
        cls <- ifelse(!is.na(p_adj) & p_adj <= alpha,
                      ifelse(z > 0, "hot", "cold"), "none")
        data.frame(image = image, x = mx[keep], y = my[keep],
                   xmin = mx[keep] - cell_size / 2,
                   xmax = mx[keep] + cell_size / 2,
                   ymin = my[keep] - cell_size / 2,
                   ymax = my[keep] + cell_size / 2,
                   n_cells = all_n[keep], count = typ_n[keep],
                   value = v[keep], z = z, p = p, p_adj = p_adj,
                   class = cls)
    }, BPPARAM = BPPARAM, label = "Hotspots")
    problems <- attr(out, "problems")
    if (!nrow(out)) {
        out <- data.frame(image = character(), x = double(), y = double(),
                          xmin = double(), xmax = double(), ymin = double(),
                          ymax = double(), n_cells = integer(),
                          count = integer(), value = double(), z = double(),
                          p = double(), p_adj = double(), class = character())
    }
    out$image <- factor(as.character(out$image), levels = levels(cells$image))
    out$class <- factor(out$class, levels = c("hot", "cold", "none"))
    structure(out,
              class = c("hotspots", "immunoscape_result",
                        "data.frame"),
              type = type,
              cell_size = cell_size, value = value, order = order,
              adjust = adjust, alpha = alpha, problems = problems,
              # for autoplot(): the cells of `type` and the windows
              cells = hotspot_cells(cells, type),
              windows = windows)
}

#' @export
print.hotspots <- function(x, ...) {
    nimg <- length(unique(x$image))
    cat(sprintf("<hotspots> Getis-Ord Gi* of %s (%s) on %s um squares, %s squares in %d image%s: %d hot, %d cold (%s, alpha %s)\n",
                paste(attr(x, "type"), collapse = " + "), attr(x, "value"),
                format(attr(x, "cell_size")), format(nrow(x), big.mark = ","),
                nimg, if (nimg == 1) "" else "s", sum(x$class == "hot"),
                sum(x$class == "cold"), attr(x, "adjust"),
                format(attr(x, "alpha"))))
    print(utils::head(as.data.frame(x)), ...)
    invisible(x)
}

#' @rdname hotspots
#' @param object A `hotspots` result.
#' @export
summary.hotspots <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    s <- lapply(split(df, df$image, drop = TRUE), function(d) {
        data.frame(image = d$image[1], n_squares = nrow(d),
                   n_hot = sum(d$class == "hot"),
                   n_cold = sum(d$class == "cold"),
                   frac_hot = mean(d$class == "hot"),
                   frac_cold = mean(d$class == "cold"),
                   max_z = if (any(!is.na(d$z))) max(d$z, na.rm = TRUE)
                           else NA_real_)
    })
    out <- do.call(rbind, s)
    rownames(out) <- NULL
    carry_result_groups(out, object)
}

# The cells of `type` (image, x, y) kept with a hotspots result for its
# map.
hotspot_cells <- function(cells, type) {
    i <- cells$type %in% type
    data.frame(image = cells$image[i], x = cells$x[i], y = cells$y[i])
}

#' @rdname hotspots
#' @param fill For `autoplot()`: `"z"` (default: the Gi* z-score as
#'   colour, hot squares outlined in black and cold ones in blue) or
#'   `"class"` (hot / cold / none).
#' @param flip_y For `autoplot()`: if `TRUE` (default), y grows downwards
#'   as in the image, as in [plot_cells()].
#' @param show_cells For `autoplot()`: draw the cells of `type` on top.
#' @param images,page,max_panels For `autoplot()`: images to draw and
#'   paging through a cohort, as in [plot_cells()].
#' @param limit For `autoplot()`: colour-scale limit for z (larger values
#'   are drawn at it).
#' @export
autoplot.hotspots <- function(object, fill = c("z", "class"), flip_y = TRUE,
                              show_cells = TRUE, images = NULL, page = NULL,
                              max_panels = 25L, limit = 5, ...) {
    check_dots(...)
    fill <- check_choice(fill, c("z", "class"))
    check_flag(flip_y)
    check_flag(show_cells)
    df <- as.data.frame(object)
    check_plot_rows(df, "grid squares")
    all <- levels(droplevels(as.factor(df$image)))
    images <- page_images(select_images(all, images), page, max_panels)
    df <- df[as.character(df$image) %in% images, , drop = FALSE]
    df$image <- factor(as.character(df$image), levels = images)
    rect <- function(data, ..., fill_by = NULL) {
        m <- ggplot2::aes(xmin = .data$xmin, xmax = .data$xmax,
                          ymin = .data$ymin, ymax = .data$ymax)
        if (!is.null(fill_by)) {
            m$fill <- rlang::quo(.data[[!!fill_by]])
        }
        ggplot2::geom_rect(data = data, mapping = m, inherit.aes = FALSE,
                           ...)
    }
    type <- paste(attr(object, "type"), collapse = " + ")
    p <- ggplot2::ggplot(df)
    if (fill == "z") {
        df$fill <- pmax(pmin(df$z, limit), -limit)
        p <- p + rect(df, colour = NA, fill_by = "fill") +
            ggplot2::scale_fill_gradient2(
                low = "#2166AC", mid = "grey96", high = "#B2182B",
                midpoint = 0, limits = c(-limit, limit),
                na.value = "grey90", name = "Gi* z")
        for (cl in c("hot", "cold")) {
            d <- df[df$class == cl, , drop = FALSE]
            if (nrow(d)) {
                p <- p + rect(d, fill = NA, linewidth = 0.45,
                              colour = if (cl == "hot") "black" else "#08306B")
            }
        }
    } else {
        p <- p + rect(df, colour = NA, fill_by = "class") +
            ggplot2::scale_fill_manual(values = c(hot = "#D73027",
                                                  cold = "#4575B4",
                                                  none = "grey92"),
                                       drop = FALSE, name = NULL)
    }
    # the grid clipped to the window: white outside it, outline on top
    w <- attr(object, "windows")
    if (!is.null(w)) {
        mask <- window_mask(w, images, df)
        if (nrow(mask)) {
            p <- p + ggplot2::geom_polygon(
                data = mask,
                ggplot2::aes(.data$x, .data$y, group = .data$image,
                             subgroup = .data$.ring),
                inherit.aes = FALSE, fill = "white", colour = NA)
        }
        p <- p + ggplot2::geom_path(
            data = closed_rings(w, images),
            ggplot2::aes(.data$x, .data$y, group = .data$.ring),
            inherit.aes = FALSE, colour = "grey35", linewidth = 0.35)
    }
    pts <- attr(object, "cells")
    if (show_cells && !is.null(pts)) {
        pts <- pts[as.character(pts$image) %in% images, , drop = FALSE]
        pts$image <- factor(as.character(pts$image), levels = images)
        n_panel <- max(tabulate(pts$image, length(images)), 1L)
        p <- p + ggplot2::geom_point(
            data = pts, ggplot2::aes(.data$x, .data$y), inherit.aes = FALSE,
            colour = "grey10", shape = 16, stroke = 0,
            size = 0.6 * default_point_size(n_panel, length(images)))
    }
    p <- p + ggplot2::labs(
        x = "x (\u00b5m)", y = "y (\u00b5m)",
        title = sprintf("Hotspots of %s (Getis-Ord Gi*)", type),
        caption = if (show_cells && !is.null(pts))
            sprintf("dots: %s cells%s", type,
                    if (fill == "z") "; outlined: hot (black), cold (blue)"
                    else "")
    )
    finish_map(p, length(images), flip_y)
}

# A polygon that covers the squares' extent outside the window of each
# image: the extent's rectangle with the window's rings as holes (even-odd
# filling also re-covers the window's own holes).
window_mask <- function(w, images, df) {
    rings <- closed_rings(w, images)
    out <- lapply(images, function(im) {
        r <- rings[rings$image == im, , drop = FALSE]
        d <- df[df$image == im, , drop = FALSE]
        if (!nrow(r) || !nrow(d)) return(NULL)
        xr <- range(d$xmin, d$xmax, r$x)
        yr <- range(d$ymin, d$ymax, r$y)
        box <- data.frame(image = im, x = xr[c(1, 2, 2, 1, 1)],
                          y = yr[c(1, 1, 2, 2, 1)], .ring = "box")
        rbind(box, data.frame(image = im, x = r$x, y = r$y,
                              .ring = r$.ring))
    })
    out <- do.call(rbind, out)
    if (is.null(out)) {
        return(data.frame(image = character(), x = double(), y = double(),
                          .ring = character()))
    }
    out$image <- factor(as.character(out$image), levels = images)
    out
}
