# autoplot() methods for the result classes of the data and distance
# families. Each returns a ggplot object and draws nothing by itself.

#' Plot a `spatial_cells` object
#'
#' The map of [plot_cells()]: one panel per image, cells coloured by type,
#' the window outline.
#'
#' @param object A `spatial_cells` object.
#' @param ... Passed to [plot_cells()] (e.g. `color_by`, `images`,
#'   `highlight`, `flip_y`).
#' @returns A `ggplot` object.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(200, 0, 300), y = runif(200, 0, 300),
#'                  type = sample(c("Tumor", "CD8 T", "other"), 200, TRUE))
#' autoplot(spatial_cells(df))
autoplot.spatial_cells <- function(object, ...) {
    plot_cells(object, ...)
}

#' Plot the distribution of nearest distances
#'
#' One panel per target type (`to`; rows per `from` type when there are
#' several), showing how far the cells of the `from` type are from their
#' nearest cell of the `to` type. `type = "ecdf"` draws the empirical
#' cumulative distribution (the fraction of cells within each distance),
#' one line per image; with more than `max_lines` images the images are
#' drawn as thin grey lines and all cells together in black.
#' `type = "violin"` draws one violin per image, with the median marked.
#' Cells whose `to` type is absent from their image (distance `NA`) are
#' left out.
#'
#' @param object A `nearest_distances` result.
#' @param type `"ecdf"` (default) or `"violin"`.
#' @param k The rank to show (1 = the nearest); `NULL` (default) for the
#'   largest rank in `object`.
#' @param max_lines Largest number of images drawn as coloured lines.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `ggplot` object.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(300, 0, 400), y = runif(300, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T", "Macrophage"), 300,
#'                                TRUE))
#' d <- nearest_distances(spatial_cells(df), from = "Tumor")
#' autoplot(d)
#' autoplot(d, type = "violin")
autoplot.nearest_distances <- function(object, type = c("ecdf", "violin"),
                                       k = NULL, max_lines = 8L, ...) {
    check_dots(...)
    type <- check_choice(type, c("ecdf", "violin"))
    max_lines <- check_count(max_lines)
    df <- as.data.frame(object)
    if (is.null(k)) {
        k <- if (nrow(df)) max(df$k) else 1L
    } else {
        k <- check_count(k)
        if (!k %in% df$k) {
            stop_immunoscape(c(
                "{.arg k} = {k} is not a rank in this result.",
                "i" = "Ranks available: {.val {sort(unique(df$k))}}."
            ), class = "argument")
        }
    }
    df <- df[df$k == k & !is.na(df$distance), , drop = FALSE]
    check_plot_rows(df, "nearest distances")
    df$image <- droplevels(df$image)
    xlab <- if (k == 1L) {
        "distance to the nearest cell (\u00b5m)"
    } else {
        sprintf("distance to the %s nearest cell (\u00b5m)", ordinal(k))
    }

    if (type == "violin") {
        p <- ggplot2::ggplot(df, ggplot2::aes(.data$image, .data$distance)) +
            ggplot2::geom_violin(fill = "grey85", colour = "grey40",
                                 scale = "width", linewidth = 0.3) +
            ggplot2::stat_summary(fun = stats::median, geom = "point",
                                  size = 1.5) +
            ggplot2::labs(x = "image", y = sub("distance", "Distance", xlab))
        if (nlevels(df$image) > 4L) p <- p + rotate_x()
    } else {
        nimg <- nlevels(df$image)
        if (nimg <= max_lines) {
            p <- ggplot2::ggplot(df, ggplot2::aes(.data$distance,
                                                  colour = .data$image)) +
                ggplot2::stat_ecdf(geom = "step", pad = FALSE,
                                   linewidth = 0.6) +
                ggplot2::scale_colour_manual(
                    values = unname(type_palette(levels(df$image))))
            if (nimg == 1L) {
                p <- p + ggplot2::guides(colour = "none")
            }
        } else {
            p <- ggplot2::ggplot(df, ggplot2::aes(.data$distance)) +
                ggplot2::stat_ecdf(ggplot2::aes(group = .data$image),
                                   geom = "step", pad = FALSE,
                                   colour = "grey60", alpha = 0.5,
                                   linewidth = 0.3) +
                ggplot2::stat_ecdf(geom = "step", pad = FALSE,
                                   colour = "black", linewidth = 0.7) +
                ggplot2::labs(caption = sprintf(
                    "grey: each of %d images; black: all cells", nimg))
        }
        p <- p + ggplot2::scale_y_continuous(
            labels = function(v) paste0(round(100 * v), "%")) +
            ggplot2::labs(x = xlab, y = share_label(df$from))
    }
    p + result_facets(df) + result_theme()
}

#' Plot the distribution of neighbour counts
#'
#' One panel per target type (`to`; rows per `from` type when there are
#' several), showing the fraction of `from` cells with each number of `to`
#' neighbours within the radius: bars for one image, one line per image
#' for up to `max_lines` images, and one box plot per image beyond that.
#' Counts above 40 are grouped in bins of equal width.
#'
#' @param object A `neighbor_counts` result.
#' @param max_lines Largest number of images drawn as coloured lines.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `ggplot` object.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(300, 0, 400), y = runif(300, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T"), 300, TRUE))
#' n <- count_neighbors(spatial_cells(df), radius = 40, from = "Tumor")
#' autoplot(n)
autoplot.neighbor_counts <- function(object, max_lines = 8L, ...) {
    check_dots(...)
    max_lines <- check_count(max_lines)
    radius <- attr(object, "radius")
    df <- as.data.frame(object)
    check_plot_rows(df, "neighbour counts")
    df$image <- droplevels(df$image)
    ylab <- sprintf("%s within %s \u00b5m", "neighbours",
                    format(radius %||% NA))
    nimg <- nlevels(df$image)
    if (nimg > max_lines) {
        p <- ggplot2::ggplot(df, ggplot2::aes(.data$image, .data$count)) +
            ggplot2::geom_boxplot(outlier.size = 0.4, fill = "grey90",
                                  linewidth = 0.3) +
            ggplot2::labs(x = "image", y = paste("Number of", ylab))
        if (nimg > 4L) p <- p + rotate_x()
        p <- p + result_facets(df) + result_theme()
        if (nimg > 40L) p <- p + many_images_x(nimg)
        return(p)
    }
    # fraction of cells per count value (bins of integer width for large
    # counts), zeros included, up to the largest count of each panel
    width <- max(1L, ceiling((max(df$count) + 1) / 40))
    df$bin <- (df$count %/% width) * width
    panel <- interaction(df$from, df$to, drop = TRUE)
    top <- tapply(df$bin, panel, max)
    grp <- interaction(df$image, df$from, df$to, drop = TRUE,
                       lex.order = TRUE)
    tab <- lapply(split(df, grp), function(d) {
        bins <- seq(0, top[[as.character(interaction(d$from[1], d$to[1]))]],
                    by = width)
        f <- tabulate(match(d$bin, bins), length(bins))
        data.frame(image = d$image[1], from = d$from[1], to = d$to[1],
                   bin = bins + (width - 1) / 2, fraction = f / nrow(d))
    })
    tab <- do.call(rbind, tab)
    rownames(tab) <- NULL
    xlab <- paste("Number of", ylab)
    pct <- ggplot2::scale_y_continuous(
        labels = function(v) paste0(round(100 * v), "%"))
    if (nimg == 1L) {
        p <- ggplot2::ggplot(tab, ggplot2::aes(.data$bin, .data$fraction)) +
            ggplot2::geom_col(width = width * 0.9, fill = base_palette[1])
    } else {
        p <- ggplot2::ggplot(tab, ggplot2::aes(.data$bin, .data$fraction,
                                               colour = .data$image)) +
            ggplot2::geom_line(linewidth = 0.5) +
            ggplot2::geom_point(size = 1.2) +
            ggplot2::scale_colour_manual(
                values = unname(type_palette(levels(tab$image))))
    }
    p <- p + pct +
        ggplot2::scale_x_continuous(breaks = integer_breaks) +
        ggplot2::labs(x = xlab, y = share_label(df$from), colour = "image")
    p + result_facets(tab, scales = "free_x") + result_theme()
}

#' Plot tissue windows
#'
#' Draws the window polygons of each image (holes left empty), one panel
#' per image, on the same axes as [plot_cells()].
#'
#' @param object A `tissue_window`.
#' @param flip_y If `TRUE` (default), y grows downwards as in the image
#'   (see [plot_cells()]).
#' @param images,page,max_panels Images to draw and paging through a
#'   cohort, as in [plot_cells()].
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `ggplot` object.
#' @export
#' @examples
#' w <- data.frame(
#'     x = c(0, 400, 400, 0, 100, 100, 200, 200),
#'     y = c(0, 0, 300, 300, 100, 200, 200, 100),
#'     ring = c(1, 1, 1, 1, 2, 2, 2, 2),
#'     hole = c(FALSE, FALSE, FALSE, FALSE, TRUE, TRUE, TRUE, TRUE)
#' )
#' autoplot(as_window(w))
autoplot.tissue_window <- function(object, flip_y = TRUE, images = NULL,
                                   page = NULL, max_panels = 25L, ...) {
    check_dots(...)
    check_flag(flip_y)
    all <- levels(droplevels(object$image))
    if (!length(all)) {
        stop_immunoscape("The window has no vertices to draw.",
                         class = "empty")
    }
    images <- page_images(select_images(all, images), page, max_panels)
    df <- as.data.frame(unclass(object), stringsAsFactors = FALSE)
    df <- df[as.character(df$image) %in% images, , drop = FALSE]
    df$image <- factor(as.character(df$image), levels = images)
    df$.polygon <- paste(df$image, df$polygon, sep = "/")
    df$.ring <- paste(df$image, df$polygon, df$ring, sep = "/")
    p <- ggplot2::ggplot(df, ggplot2::aes(.data$x, .data$y)) +
        ggplot2::geom_polygon(ggplot2::aes(group = .data$.polygon,
                                           subgroup = .data$.ring),
                              fill = "#DCE6F2", colour = NA) +
        ggplot2::geom_path(data = closed_rings(object, images),
                           ggplot2::aes(group = .data$.ring,
                                        linetype = .data$hole),
                           colour = "grey25", linewidth = 0.4) +
        ggplot2::scale_linetype_manual(
            values = c("FALSE" = "solid", "TRUE" = "22"),
            labels = c("FALSE" = "outer boundary", "TRUE" = "hole"),
            name = NULL) +
        ggplot2::labs(x = "x (\u00b5m)", y = "y (\u00b5m)")
    if (!any(df$hole)) p <- p + ggplot2::guides(linetype = "none")
    finish_map(p, length(images), flip_y)
}

#' Plot cell densities per image and type
#'
#' Horizontal bars of the density of each cell type (cells per mm^2 of
#' window), labelled with the number of cells. For one image the bars are
#' coloured like the types of [plot_cells()]; for up to `max_bars` images
#' they are grouped by type and coloured by image; with more images, one
#' panel per type with a bar per image.
#'
#' @param object A `summary_spatial_cells` object (from
#'   `summary(cells)`).
#' @param max_bars Largest number of images drawn side by side.
#' @param images Images to draw (names or positions); `NULL` for all.
#' @param page,max_images Paging through a cohort: `page = 2` draws the
#'   second group of `max_images` images. Without `page`, more than
#'   `max_images` images (default 40) are all drawn with a warning of class
#'   `immunoscape_warning_panels`.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `ggplot` object.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(300, 0, 400), y = runif(300, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T", "other"), 300, TRUE))
#' autoplot(summary(spatial_cells(df)))
autoplot.summary_spatial_cells <- function(object, max_bars = 6L,
                                           images = NULL, page = NULL,
                                           max_images = 40L, ...) {
    check_dots(...)
    max_bars <- check_count(max_bars)
    df <- as.data.frame(unclass(object), stringsAsFactors = FALSE)
    check_plot_rows(df, "cell counts")
    all <- unique(as.character(df$image))
    keep <- select_images(all, images)
    if (!is.null(page) || length(keep) > max_images) {
        keep <- page_images(keep, page, max_images, what = "image bar")
    }
    df <- df[as.character(df$image) %in% keep, , drop = FALSE]
    df$image <- factor(df$image, levels = keep)
    types <- if (is.factor(object$type)) levels(droplevels(object$type)) else
        unique(as.character(df$type))
    df$type <- factor(as.character(df$type), levels = rev(types))
    df$label <- format(df$n, big.mark = ",", trim = TRUE)
    nimg <- nlevels(df$image)
    xlab <- "cells per mm\u00b2 (numbers at the bars: cell counts)"
    lab_size <- 3
    expand <- ggplot2::expansion(mult = c(0, 0.15))

    if (nimg == 1L) {
        cols <- type_palette(types)
        p <- ggplot2::ggplot(df, ggplot2::aes(.data$density_mm2, .data$type,
                                              fill = .data$type)) +
            ggplot2::geom_col(width = 0.75) +
            ggplot2::geom_text(ggplot2::aes(label = .data$label),
                               hjust = -0.15, size = lab_size) +
            ggplot2::scale_fill_manual(values = cols, guide = "none") +
            ggplot2::labs(x = xlab, y = NULL,
                          title = as.character(df$image[1]))
    } else if (nimg <= max_bars) {
        df$image <- factor(df$image, levels = rev(levels(df$image)))
        p <- ggplot2::ggplot(df, ggplot2::aes(.data$density_mm2, .data$type,
                                              fill = .data$image)) +
            ggplot2::geom_col(position = ggplot2::position_dodge(0.8),
                              width = 0.8) +
            ggplot2::geom_text(ggplot2::aes(label = .data$label),
                               position = ggplot2::position_dodge(0.8),
                               hjust = -0.15, size = lab_size * 0.85) +
            ggplot2::scale_fill_manual(
                values = unname(type_palette(rev(levels(df$image)))),
                breaks = rev(levels(df$image))) +
            ggplot2::labs(x = xlab, y = NULL, fill = "image")
    } else {
        df$panel <- factor(as.character(df$type), levels = types)
        df$image <- factor(df$image, levels = rev(levels(df$image)))
        p <- ggplot2::ggplot(df, ggplot2::aes(.data$density_mm2, .data$image,
                                              fill = .data$panel)) +
            ggplot2::geom_col(width = 0.75) +
            ggplot2::scale_fill_manual(values = type_palette(types),
                                       guide = "none") +
            ggplot2::facet_wrap(ggplot2::vars(.data$panel),
                                scales = "free_x") +
            ggplot2::labs(x = "cells per mm\u00b2", y = NULL)
    }
    p <- p + ggplot2::scale_x_continuous(expand = expand) + result_theme() +
        ggplot2::theme(panel.grid.major.y = ggplot2::element_blank())
    if (nimg > 60L) {
        p <- p + ggplot2::theme(axis.text.y = ggplot2::element_blank(),
                                axis.ticks.y = ggplot2::element_blank()) +
            ggplot2::labs(caption = sprintf(
                "%d images (names not shown); select some with `images =` or `page =`",
                nimg))
    } else if (nimg > 30L) {
        p <- p + ggplot2::theme(axis.text.y = ggplot2::element_text(
            size = max(4, 8 * 30 / nimg)))
    }
    p
}

# Facets of the per-cell results: columns by `to`, rows by `from` when
# there are several `from` types.
result_facets <- function(df, scales = "fixed") {
    if (length(unique(df$from)) > 1L) {
        ggplot2::facet_grid(
            rows = ggplot2::vars(.data$from), cols = ggplot2::vars(.data$to),
            scales = scales,
            labeller = ggplot2::labeller(
                .rows = function(v) paste("from", v),
                .cols = function(v) paste("to", v)))
    } else {
        ggplot2::facet_wrap(
            ggplot2::vars(.data$to), scales = scales,
            labeller = ggplot2::as_labeller(function(v) {
                paste(df$from[1], "to", v)
            }))
    }
}

result_theme <- function() {
    list(ggplot2::theme_bw(base_size = 11),
         ggplot2::theme(panel.grid.minor = ggplot2::element_blank(),
                        strip.background = ggplot2::element_rect(
                            fill = "grey95", colour = NA)))
}

# Image names on a crowded x axis: smaller, and no tick labels beyond a
# few hundred images (a caption says how to select).
many_images_x <- function(nimg) {
    if (nimg > 120L) {
        return(list(
            ggplot2::theme(axis.text.x = ggplot2::element_blank(),
                           axis.ticks.x = ggplot2::element_blank()),
            ggplot2::labs(caption = sprintf(
                "%d images (names not shown); select some to name them", nimg))
        ))
    }
    ggplot2::theme(axis.text.x = ggplot2::element_text(
        angle = 90, hjust = 1, vjust = 0.5, size = min(8, max(4, 8 * 40 / nimg))))
}

# Images chosen by names or positions (NULL: all), in the order given.
select_images <- function(all, images, where = "not in the result",
                          call = rlang::caller_env()) {
    if (is.null(images)) return(all)
    if (is.numeric(images)) {
        if (anyNA(images) || any(images != round(images)) ||
            any(images < 1 | images > length(all)) || !length(images)) {
            stop_immunoscape(c(
                "{.arg images} positions must lie in 1..{length(all)}.",
                "i" = "Or name the images: {.val {utils::head(all, 10)}}."
            ), class = "argument", call = call)
        }
        return(unique(all[images]))
    }
    images <- as.character(images)
    unknown <- setdiff(images, all)
    if (length(unknown) || anyNA(images)) {
        stop_unknown_values(unknown, all, "images", "image", where,
                            "argument", call = call)
    }
    unique(images)
}

rotate_x <- function() {
    ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 45,
                                                       hjust = 1))
}

check_plot_rows <- function(df, what, hint = NULL,
                            call = rlang::caller_env()) {
    if (!nrow(df)) {
        if (is.null(hint)) {
            stop_immunoscape(c(
                "Nothing to plot: the result has no {what} (no cells of the {.arg from} types, or no {.arg to} type present).",
                "i" = "Check the {.arg from} and {.arg to} types of the call that made it."
            ), class = "empty", call = call)
        }
        stop_immunoscape(c("Nothing to plot: the result has no {what}.",
                           "i" = hint), class = "empty", call = call)
    }
    invisible(df)
}

# The hint of check_plot_rows() for the tumour-compartment results.
region_plot_hint <- paste(
    "Check that the images have tumour regions (see the notes) and",
    "that {.arg images}, {.arg types} and {.arg min_area} leave something."
)

# "share of CK+ cells" for one from type, "share of cells" otherwise.
share_label <- function(from) {
    from <- unique(as.character(from))
    if (length(from) == 1L) sprintf("share of %s cells", from) else
        "share of cells"
}

integer_breaks <- function(lim) {
    b <- pretty(lim)
    b[b == round(b)]
}

ordinal <- function(k) {
    suffix <- if (k %% 100 %in% 11:13) "th" else
        switch(as.character(k %% 10), "1" = "st", "2" = "nd", "3" = "rd",
               "th")
    paste0(k, suffix)
}

#' Base-graphics entry points
#'
#' `plot()` on a `spatial_cells` object or a `tissue_window` draws the
#' same map as [autoplot()] (a ggplot2 figure printed on the current
#' device), for users who work with base R's `plot()`.
#'
#' @param x A `spatial_cells` object or a `tissue_window`.
#' @param y Unused (must be missing).
#' @param ... Passed to [plot_cells()] or [autoplot()].
#' @returns The ggplot object, invisibly.
#' @name plot.spatial_cells
#' @importFrom graphics plot
#' @export
#' @examples
#' df <- data.frame(x = runif(50, 0, 100), y = runif(50, 0, 100),
#'                  type = sample(c("Tumor", "CD8 T"), 50, TRUE))
#' plot(spatial_cells(df))
plot.spatial_cells <- function(x, y, ...) {
    p <- plot_cells(x, ...)
    print(p)
    invisible(p)
}

#' @rdname plot.spatial_cells
#' @export
plot.tissue_window <- function(x, y, ...) {
    p <- autoplot(x, ...)
    print(p)
    invisible(p)
}

# A caption naming images left out of a plot (e.g. without a tumour
# region): NULL when there are none, the first few names otherwise.
missing_caption <- function(images, why) {
    if (!length(images)) return(NULL)
    shown <- utils::head(images, 5L)
    more <- length(images) - length(shown)
    sprintf("%s: %s%s", why, paste(shown, collapse = ", "),
            if (more > 0L) sprintf(" and %d more", more) else "")
}
