# Maps of cells: one panel per image, coloured by type or by any per-cell
# value, with the tissue window drawn as an outline.

#' Map the cells of one or more images
#'
#' Draws every cell at its position (microns, equal aspect), one panel per
#' image, coloured by cell type or by any other per-cell value, with the
#' outline of each image's tissue window (holes included).
#'
#' Most imaging software puts the origin of an image in its top-left corner
#' with y growing downwards (inForm, HALO, QuPath, Xenium, CODEX). With
#' `flip_y = TRUE` (the default) the y axis is reversed so that the map has
#' the orientation of the image on screen; use `flip_y = FALSE` for data
#' whose y axis grows upwards (e.g. spatstat patterns).
#'
#' Discrete values get a fixed palette of 20 distinguishable colours (more
#' types reuse hues from an HCL wheel); values that mean "no type", such as
#' `"other"`, `"Other/unclassified"`, `"negative"` or `"unknown"`, are drawn
#' in grey and beneath the other cells. Numeric values get the viridis
#' scale. Points shrink as the number of cells per panel grows, so that
#' whole-slide images stay readable.
#'
#' @param cells A `spatial_cells` object.
#' @param color_by Name of the column to colour by: a column of `cells`
#'   (default `"type"`) or, when `data` is given, a column of `data`.
#'   Factors, characters and logicals get a discrete palette; numbers a
#'   continuous viridis scale. The `compartment` of [compartments()] gets
#'   tumour-red to host-blue colours (core, inner margin, outer margin,
#'   stroma), and a `border_distance` a diverging scale centred on the
#'   border (tumour side red).
#' @param data Optional per-cell results to colour by: a data frame (or an
#'   object with an `as.data.frame()` method, such as the result of
#'   [count_neighbors()] filtered to one `to` type) with columns `image`,
#'   `cell_id` and `color_by`, at most one row per cell. It is joined to
#'   `cells` by `image` and `cell_id`; cells without a row are drawn in
#'   grey.
#' @param images Images to draw (names, or positions among the image
#'   levels); `NULL` (default) for all. Several images are drawn as facets
#'   on a common micron scale.
#' @param page,max_panels Paging through a cohort: `page = 2` draws the
#'   second group of `max_panels` images (of those selected by `images`).
#'   Without `page`, more than `max_panels` images (default 25, a 5 x 5
#'   grid) are all drawn, with a warning of class
#'   `immunoscape_warning_panels` that says how to select or page.
#' @param highlight Optional values of `color_by` (e.g. cell types) to show
#'   in colour; every other cell is drawn in light grey beneath them.
#'   Discrete `color_by` only.
#' @param flip_y If `TRUE` (default), y grows downwards as in the image.
#' @param window If `TRUE` (default), draw the window outline.
#' @param point_size Point size; `NULL` (default) picks one from the number
#'   of cells per panel.
#' @param palette Optional named character vector of colours for some or
#'   all values of `color_by` (e.g. `c("CK+" = "cyan4")`); unnamed values
#'   keep the default palette.
#' @param tls Optional result of [detect_tls()] on these cells: its TLS
#'   outlines are drawn in black over the cells.
#' @param regions Optional tumour regions ([tumor_regions()]) whose outlines
#'   are drawn in dark red over the cells (a `geom_path` layer after the
#'   window's), the parts along the edge of the image (not a tumour
#'   border, see [tumor_regions()]) in pale red over them.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `ggplot` object. Its first layer (`geom_point`) has one point
#'   per cell drawn, the second (`geom_path`, when `window = TRUE`) one
#'   closed path per window ring.
#' @seealso [autoplot.spatial_cells()], [tissue_window()].
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(400, 0, 600), y = runif(400, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T", "B cell", "other"),
#'                                400, TRUE))
#' cells <- spatial_cells(df)
#' plot_cells(cells)
#' plot_cells(cells, highlight = "CD8 T")
#'
#' # colour by a per-cell result, joined by image and cell_id
#' n <- count_neighbors(cells, radius = 50, from = "Tumor", to = "CD8 T")
#' plot_cells(cells, color_by = "count", data = n)
plot_cells <- function(cells, color_by = "type", data = NULL, images = NULL,
                       highlight = NULL, flip_y = TRUE, window = TRUE,
                       point_size = NULL, palette = NULL, page = NULL,
                       max_panels = 25L, regions = NULL, tls = NULL, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    if (!is.null(regions)) regions <- check_regions(regions, cells)
    check_flag(flip_y)
    check_flag(window)
    check_string(color_by)
    images <- check_plot_images(cells, images)
    images <- page_images(images, page, max_panels)
    df <- as.data.frame(cells)
    # values (and so colours) from all images, then keep the images drawn:
    # a type has the same colour whichever images are shown
    value <- plot_values(df, color_by, data)
    discrete <- !is.numeric(value)
    cols <- NULL
    if (discrete) {
        value <- if (is.factor(value)) droplevels(value) else
            factor(value, levels = sort(unique(value)))
        cols <- if (is.null(palette) &&
                    all(levels(value) %in% compartment_levels)) {
            # compartments: tumour red to host blue, as everywhere
            compartment_palette[levels(value)]
        } else {
            type_palette(levels(value), palette)
        }
    }
    if (!is.null(highlight)) {
        if (!discrete) {
            stop_immunoscape(c(
                "{.arg highlight} needs a discrete {.arg color_by}; column {.val {color_by}} is numeric.",
                "i" = "Drop {.arg highlight}, or colour by a factor such as {.val type}."
            ), class = "argument")
        }
        value <- highlight_values(value, highlight)
        rest <- setdiff(levels(value), highlight)
        cols <- c(cols[intersect(levels(value), highlight)],
                  stats::setNames(rep("grey82", length(rest)), rest))
    }
    df$.value <- value
    df <- df[df$image %in% images, , drop = FALSE]
    df$image <- factor(as.character(df$image), levels = images)

    n_panel <- max(tabulate(df$image, nlevels(df$image)))
    size <- point_size %||% default_point_size(n_panel, nlevels(df$image))
    if (!is.numeric(size) || length(size) != 1L || !is.finite(size) ||
        size <= 0) {
        stop_immunoscape("{.arg point_size} must be one positive number or NULL.",
                         class = "argument")
    }

    if (discrete) {
        # grey categories (and missing values) first, so they lie beneath
        v <- as.character(df$.value)
        grey <- is.na(v) | is_grey_colour(cols[v])
        df <- df[order(!grey), , drop = FALSE]
        present <- names(cols)[names(cols) %in% v]
        scale <- ggplot2::scale_colour_manual(
            values = cols, breaks = present, na.value = "grey85",
            drop = TRUE,
            guide = ggplot2::guide_legend(override.aes = list(size = 3))
        )
    } else {
        # missing values beneath, then increasing: high values on top
        df <- df[order(!is.na(df$.value), df$.value), , drop = FALSE]
        v <- df$.value[is.finite(df$.value)]
        whole <- length(v) > 0L && all(v == round(v))
        scale <- if (grepl("border_distance$", color_by) && length(v)) {
            # signed distances to the tumour border: diverging around the
            # border, tumour side red (infinite: a tumour filling the image)
            m <- max(abs(v))
            ggplot2::scale_colour_gradient2(
                low = "#B2182B", mid = "grey88", high = "#2166AC",
                midpoint = 0, limits = c(-m, m), na.value = "grey70",
                oob = function(x, range) pmin(pmax(x, range[1]), range[2])
            )
        } else {
            ggplot2::scale_colour_viridis_c(
                na.value = "grey85",
                breaks = if (whole) integer_breaks else ggplot2::waiver()
            )
        }
    }

    p <- ggplot2::ggplot(df, ggplot2::aes(.data$x, .data$y,
                                          colour = .data$.value)) +
        ggplot2::geom_point(size = size, shape = 16, stroke = 0) +
        scale +
        ggplot2::labs(x = "x (\u00b5m)", y = "y (\u00b5m)", colour = color_by)
    w <- attr(cells, "windows")
    if (window && !is.null(w)) {
        p <- p + ggplot2::geom_path(
            data = closed_rings(w, images),
            ggplot2::aes(.data$x, .data$y, group = .data$.ring),
            inherit.aes = FALSE, colour = "grey35", linewidth = 0.35
        )
    }
    if (!is.null(regions) && nrow(regions)) {
        p <- p + ggplot2::geom_path(
            data = closed_rings(regions, images),
            ggplot2::aes(.data$x, .data$y, group = .data$.ring),
            inherit.aes = FALSE, colour = "#B2182B", linewidth = 0.6
        )
        p <- image_edge_overlay(p, regions, images)
    }
    if (!is.null(tls)) p <- tls_overlay(p, tls, images)
    finish_map(p, length(images), flip_y)
}

# Shared finish of every map: equal aspect, orientation, facets, theme.
finish_map <- function(p, n_images, flip_y) {
    # a few ticks that do not overlap however small the panels
    nb <- if (n_images > 4L) 3L else NULL
    axis <- ggplot2::guide_axis(check.overlap = TRUE)
    p <- p + ggplot2::scale_x_continuous(n.breaks = nb, guide = axis)
    p <- p + if (flip_y) {
        ggplot2::scale_y_reverse(n.breaks = nb, guide = axis)
    } else {
        ggplot2::scale_y_continuous(n.breaks = nb, guide = axis)
    }
    if (n_images > 1L) {
        p <- p + ggplot2::facet_wrap(ggplot2::vars(.data$image))
    }
    base <- if (n_images > 9L) 9 else 11
    p + ggplot2::coord_equal() +
        ggplot2::theme_bw(base_size = base) +
        ggplot2::theme(panel.grid.minor = ggplot2::element_blank(),
                       panel.grid.major = ggplot2::element_line(
                           colour = "grey94"),
                       strip.background = ggplot2::element_rect(
                           fill = "grey95", colour = NA),
                       # room between panels: the last tick label of one
                       # panel must not run into the first of the next
                       panel.spacing = ggplot2::unit(
                           if (n_images > 1L) 1.3 else 0.5, "lines"))
}

# Which images to draw: NULL = all; names or positions otherwise.
check_plot_images <- function(cells, images, call = rlang::caller_env()) {
    if (!is.null(images) && !is.numeric(images) &&
        !is.character(images) && !is.factor(images)) {
        stop_immunoscape(
            "{.arg images} must be image names, positions, or NULL for all.",
            class = "argument", call = call
        )
    }
    select_images(levels(droplevels(cells$image)), images,
                  where = "not in the cells", call = call)
}

# The images of one page of panels: the `page`-th group of `max_panels`
# images; without a page, all of them, with a warning above max_panels.
page_images <- function(images, page = NULL, max_panels = 25L,
                        what = "image", call = rlang::caller_env()) {
    max_panels <- check_count(max_panels, "max_panels", call = call)
    n <- length(images)
    pages <- max(1L, ceiling(n / max_panels))
    if (!is.null(page)) {
        page <- check_count(page, "page", call = call)
        if (page > pages) {
            stop_immunoscape(c(
                "{.arg page} must be at most {pages} ({n} {what}{?s}, {max_panels} per page).",
                "i" = "Use {.code page = {pages}} for the last one."
            ), class = "argument", call = call)
        }
        return(images[seq((page - 1L) * max_panels + 1L,
                          min(n, page * max_panels))])
    }
    if (n > max_panels) {
        warn_immunoscape(c(
            "Drawing {n} {what} panels: too small to read.",
            "i" = "Select some with {.code images = 1:{max_panels}} (names or positions), or page with {.code page = 1} .. {.code page = {pages}} ({max_panels} per page, see {.arg max_panels})."
        ), class = "panels")
    }
    images
}

# The colouring values, from the cells or joined from `data`.
plot_values <- function(df, color_by, data, call = rlang::caller_env()) {
    if (is.null(data)) {
        check_column(df, color_by, "color_by", call = call)
        return(df[[color_by]])
    }
    if (!is.data.frame(data)) {
        data <- tryCatch(as.data.frame(data), error = function(e) NULL)
        if (is.null(data)) {
            stop_immunoscape(
                "{.arg data} must be a data frame of per-cell results.",
                class = "argument", call = call
            )
        }
    }
    data <- as.data.frame(data)
    miss <- setdiff(c("image", "cell_id"), names(data))
    if (length(miss)) {
        stop_immunoscape(c(
            "{.arg data} lacks column{?s} {.val {miss}}.",
            "i" = "{.arg data} must identify cells by {.field image} and {.field cell_id} to join them to {.arg cells}."
        ), class = "column", call = call)
    }
    if (!color_by %in% names(data) && color_by %in% names(df)) {
        return(df[[color_by]])
    }
    check_column(data, color_by, "color_by", call = call)
    key_data <- paste(data$image, data$cell_id, sep = "\r")
    if (anyDuplicated(key_data)) {
        stop_immunoscape(c(
            "{.arg data} has several rows for some cells (e.g. one per {.field to} type or rank).",
            "i" = "Keep one row per cell first, e.g. {.code data[data$to == \"CD8+\", ]}."
        ), class = "argument", call = call)
    }
    key_cells <- paste(df$image, df$cell_id, sep = "\r")
    m <- match(key_cells, key_data)
    if (all(is.na(m))) {
        stop_immunoscape(c(
            "No cell of {.arg cells} matches a row of {.arg data} by {.field image} and {.field cell_id}.",
            "i" = "Was {.arg data} computed on these cells?"
        ), class = "argument", call = call)
    }
    v <- data[[color_by]]
    out <- v[m]
    if (is.factor(v)) out <- factor(as.character(out), levels = levels(v))
    out
}

# Keep the highlighted values; everything else becomes "other" (grey).
highlight_values <- function(value, highlight, call = rlang::caller_env()) {
    if (is.factor(highlight)) highlight <- as.character(highlight)
    lv <- levels(value)
    if (!is.character(highlight) || !length(highlight) || anyNA(highlight)) {
        stop_immunoscape(c(
            "{.arg highlight} must be a character vector of values of {.arg color_by}.",
            "i" = "Values: {.val {utils::head(lv, 20)}}."
        ), class = "argument", call = call)
    }
    unknown <- setdiff(highlight, lv)
    if (length(unknown)) {
        stop_unknown_values(unknown, lv, "highlight", "value",
                            "absent from `color_by`", "argument", call = call)
    }
    keep <- lv[lv %in% highlight]
    rest <- "other"
    while (rest %in% keep) rest <- paste0(rest, " ")
    v <- as.character(value)
    v[!is.na(v) & !v %in% keep] <- rest
    factor(v, levels = c(keep, if (any(v == rest, na.rm = TRUE)) rest))
}

# Point size from the number of cells per panel and the number of panels:
# 3 for a few hundred cells, 1 for several thousand, 0.15 for 1e6.
default_point_size <- function(n_panel, n_panels = 1L) {
    n_eff <- max(n_panel, 1) * max(1, sqrt(n_panels))
    s <- 2.2 * (1000 / n_eff)^0.4
    min(max(s, 0.05), 3)
}

# The package's qualitative palette: 20 hand-picked colours, ordered so
# that neighbouring entries contrast in hue and lightness.
base_palette <- c(
    "#2B6CC4", "#E0412E", "#2E9E47", "#F08C1A", "#8749BF",
    "#19AFC2", "#D6449A", "#8A5A2E", "#B3BD14", "#12386E",
    "#F2C80F", "#79BDF0", "#F29A8A", "#7FCC7A", "#C7A1E6",
    "#0E6B5E", "#9B1B30", "#FFB866", "#5E5E12", "#E683D4"
)

# Names that mean "no particular type": drawn in grey.
grey_words <- c("other", "others", "negative", "neg", "unclassified",
                "unknown", "undefined", "unassigned", "none", "background",
                "na", "unlabeled", "unlabelled", "rest", "unphenotyped",
                "unspecified", "unidentified", "nan", "missing", "misc",
                "miscellaneous", "ungated")

is_grey_type <- function(x) {
    x <- tolower(trimws(gsub("\\([^)]*\\)", " ", x)))
    vapply(strsplit(x, "[[:space:]/_,;.-]+"), function(tok) {
        tok <- tok[nzchar(tok)]
        length(tok) > 0L && all(tok %in% c(grey_words, "cell", "cells")) &&
            any(tok %in% grey_words)
    }, logical(1))
}

# Colours for the levels of a discrete variable: grey for "other"-like
# levels, the fixed palette in level order for the rest, user overrides.
type_palette <- function(levels, palette = NULL, call = rlang::caller_env()) {
    grey <- is_grey_type(levels)
    cols <- character(length(levels))
    greys <- c("grey72", "grey55", "grey84", "grey40")
    cols[grey] <- rep_len(greys, sum(grey))
    nc <- sum(!grey)
    pal <- base_palette
    if (nc > length(pal)) {
        extra <- grDevices::hcl(h = seq(15, 375, length.out = nc -
                                            length(pal) + 1)[-1],
                                c = 70, l = 55)
        pal <- c(pal, extra)
    }
    cols[!grey] <- pal[seq_len(nc)]
    names(cols) <- levels
    if (!is.null(palette)) {
        if (!is.character(palette) || is.null(names(palette)) ||
            any(!nzchar(names(palette)))) {
            stop_immunoscape(c(
                "{.arg palette} must be a named character vector of colours.",
                "i" = "For example {.code c(\"CK+\" = \"cyan4\", \"CD8+\" = \"gold\")}."
            ), class = "argument", call = call)
        }
        use <- intersect(names(palette), levels)
        cols[use] <- palette[use]
    }
    cols
}

is_grey_colour <- function(cols) {
    rgb <- grDevices::col2rgb(ifelse(is.na(cols), "grey50", cols))
    unname(apply(rgb, 2, function(v) max(v) - min(v) < 8))
}

# Window rings as closed paths (first vertex repeated), one group per ring.
# The parts of region outlines that run along the edge of the image
# (column image_edge), pale over the outline, and a caption line;
# nothing when there are none among `images`.
image_edge_overlay <- function(p, regions, images) {
    df <- as.data.frame(unclass(regions), stringsAsFactors = FALSE)
    if (is.null(df$image_edge)) return(p)
    nxt <- ring_next(paste(df$image, df$polygon, df$ring))
    seg <- data.frame(image = df$image, x = df$x, y = df$y, xend = df$x[nxt],
                      yend = df$y[nxt])
    seg <- seg[df$image_edge %in% TRUE &
                   as.character(df$image) %in% images, , drop = FALSE]
    if (!nrow(seg)) return(p)
    seg$image <- factor(as.character(seg$image), levels = images)
    cap <- p$labels$caption
    p + ggplot2::geom_segment(
        data = seg, ggplot2::aes(x = .data$x, y = .data$y,
                                 xend = .data$xend, yend = .data$yend),
        inherit.aes = FALSE, colour = "#F4A9A3", linewidth = 0.9) +
        ggplot2::labs(caption = paste(c(
            cap, "pale: region outline along the image edge (not a tumour border)"),
            collapse = "\n"))
}

closed_rings <- function(w, images) {
    w <- as.data.frame(unclass(w), stringsAsFactors = FALSE)
    w <- w[as.character(w$image) %in% images, , drop = FALSE]
    if (!nrow(w)) {
        return(data.frame(image = factor(character(), levels = images),
                          x = double(), y = double(), hole = logical(),
                          .ring = character()))
    }
    key <- paste(w$image, w$polygon, w$ring, sep = "\r")
    pieces <- lapply(split(seq_len(nrow(w)), factor(key, unique(key))),
                     function(r) w[c(r, r[1]), , drop = FALSE])
    out <- do.call(rbind, pieces)
    out$.ring <- paste(out$image, out$polygon, out$ring, sep = "/")
    out$image <- factor(as.character(out$image), levels = images)
    rownames(out) <- NULL
    out
}
