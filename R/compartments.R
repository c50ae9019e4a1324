# Compartments relative to the tumour border: per-cell signed distances and
# core / inner margin / outer margin / stroma labels, compartment areas
# clipped to the tissue window, densities in distance bands (infiltration
# profiles). The geometry is in R/regions.R (region_signed_distance(),
# region_band_areas()).

compartment_levels <- c("core", "inner_margin", "outer_margin", "stroma")
# their colours on maps: tumour side red, host side blue
compartment_palette <- c(core = "#B2182B", inner_margin = "#F4A582",
                         outer_margin = "#92C5DE", stroma = "#2166AC")

#' Tumour compartments of every cell
#'
#' Gives every cell its signed distance to the nearest tumour border
#' (`border_distance`, microns: negative inside the tumour, the exact
#' Euclidean distance to the region polygons' edges, holes included) and
#' its compartment:
#'
#' | compartment | `border_distance` |
#' |---|---|
#' | `core` | `<= -margin` |
#' | `inner_margin` | in `(-margin, 0]` |
#' | `outer_margin` | in `(0, margin]` |
#' | `stroma` | `> margin` |
#'
#' The invasive margin is the band of width `2 * margin` centred on the
#' border. The default `margin = 500` follows the International
#' Immuno-Oncology Biomarkers Working Group (IOBWG, Hendry et al. 2017,
#' parts 1 and 2), which defines the invasive margin as a region 1 mm wide
#' centred on the border between the malignant cell nests and the host
#' tissue (the same band as the Immunoscore of Galon et al. 2014): 500
#' microns on each side.
#'
#' `summary()` gives per image, compartment and cell type the number of
#' cells, the compartment's area in mm^2 (the part of the band inside the
#' image's tissue window, computed from the polygons: a quadtree of blocks
#' whose distance range lies in one band is counted whole, the rest are
#' refined to 1/4000 of the image extent) and the density per mm^2.
#'
#' @param cells A `spatial_cells` object.
#' @param regions Tumour regions of the same cells: the result of
#'   [tumor_regions()] or polygons accepted by [as_regions()].
#' @param margin Half-width of the invasive margin in microns (>= 0).
#' @param ... Unused; a misspelled argument is an error.
#' @param nthreads Number of OpenMP threads (results do not depend on it).
#' @param BPPARAM `NULL` (serial) or a BiocParallel parameter object.
#' @returns An `immunoscape_compartments` data frame with one row per cell:
#'   `image`, `cell_id`, `type`, `border_distance`, `compartment` (factor
#'   with levels `core`, `inner_margin`, `outer_margin`, `stroma`; `NA`
#'   with `border_distance` in images without a tumour region). Attributes
#'   `margin`, `areas` (`image`, `compartment`, `area_mm2`) and `notes`.
#' @references
#' Hendry S, Salgado R, Gevaert T, et al. Assessing tumor-infiltrating
#' lymphocytes in solid tumors: a practical review for pathologists and
#' proposal for a standardized method from the International
#' Immuno-Oncology Biomarkers Working Group: Part 1. Adv Anat Pathol.
#' 2017;24(5):235-251; Part 2. Adv Anat Pathol. 2017;24(6):311-335.
#'
#' Galon J, Mlecnik B, Bindea G, et al. Towards the introduction of the
#' 'Immunoscore' in the classification of malignant tumours. J Pathol.
#' 2014;232(2):199-209.
#' @seealso [tumor_regions()], [infiltration_profile()],
#'   [immune_phenotype()], [compartment_ratios()].
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(3000, 0, 2000), y = runif(3000, 0, 2000))
#' df$type <- ifelse((df$x - 1000)^2 + (df$y - 1000)^2 < 600^2, "Tumor",
#'                   sample(c("Stroma", "CD8 T"), 3000, TRUE))
#' cells <- spatial_cells(df)
#' comp <- compartments(cells, tumor_regions(cells), margin = 200)
#' head(comp)
#' summary(comp)
compartments <- function(cells, regions, margin = 500, ...,
                         nthreads = immunoscape_threads(), BPPARAM = NULL) {
    check_dots(...)
    cells <- check_cells(cells)
    regions <- check_regions(regions, cells)
    check_margin(margin)
    nthreads <- check_nthreads(nthreads)
    windows <- attr(cells, "windows")
    breaks <- c(-margin, 0, margin)
    res <- map_images(cells, function(sub, image) {
        d <- region_signed_distance(regions, image, sub$x, sub$y, nthreads)
        data.frame(image = sub$image, cell_id = sub$cell_id, type = sub$type,
                   border_distance = d,
                   compartment = structure(compartment_of(d, margin),
                                           levels = compartment_levels,
                                           class = "factor"))
    }, BPPARAM = BPPARAM, label = "Compartments")
    lv <- levels(cells$image)
    used <- lv[tabulate(cells$image, length(lv)) > 0L]
    areas <- do.call(rbind, lapply(used, function(im) {
        a <- region_band_areas(regions, windows, im, breaks,
                               nthreads = nthreads)
        data.frame(image = im, compartment = compartment_levels,
                   area_mm2 = a / 1e6)
    }))
    areas <- areas %||% data.frame(image = character(),
                                   compartment = character(),
                                   area_mm2 = double())
    areas$image <- factor(as.character(areas$image), levels = lv)
    areas$compartment <- factor(areas$compartment, levels = compartment_levels)
    if (!identical(levels(res$image), lv)) {
        res$image <- factor(as.character(res$image), levels = lv)
    }
    rn <- regions_notes(regions, lv, windows, no_border = TRUE,
                        cells = cells)
    structure(res,
              class = c("immunoscape_compartments", "immunoscape_result",
                        "data.frame"),
              margin = margin, areas = areas,
              notes = add_notes(rn, shallow_notes(res, margin)),
              # without the shallow-tumour notes, for immune_phenotype(),
              # which has its own core then
              region_notes = rn, cells_key = cells_key(cells))
}

# Images whose tumour is shallower than the margin: no cell is deeper
# than `margin`, so there is no core (immune_phenotype() then takes the
# core deeper than half the depth).
shallow_notes <- function(res, margin) {
    d <- res$border_distance
    inside <- is.finite(d) & d < 0
    if (!any(inside) || !(margin > 0)) {
        return(data.frame(image = character(), note = character()))
    }
    depth <- -tapply(d[inside], droplevels(res$image[inside]), min)
    sh <- depth[depth < margin]
    data.frame(image = names(sh),
               note = sprintf("tumour at most %.0f um deep, less than the margin (%g um): no core (immune_phenotype() takes the core deeper than half the depth)",
                              sh, margin))
}

# Notes of `b` joined to those of `a` (one row per image; two notes of an
# image separated by "; ").
add_notes <- function(a, b) {
    if (!nrow(b)) return(a)
    both <- rbind(a, b)
    im <- factor(as.character(both$image),
                 levels = unique(as.character(both$image)))
    note <- tapply(both$note, im, paste, collapse = "; ")
    data.frame(image = levels(im), note = as.vector(note))
}

# A cheap fingerprint of the cells' positions, to tell a result of these
# cells from one of other cells with as many rows.
cells_key <- function(cells) {
    c(nrow(cells), sum(cells$x), sum(cells$y))
}

# Compartment number (1 core, 2 inner margin, 3 outer margin, 4 stroma) of
# signed distances; NA stays NA.
compartment_of <- function(d, margin) {
    1L + (d > -margin) + (d > 0) + (d > margin)
}

check_margin <- function(margin, arg = rlang::caller_arg(margin),
                         call = rlang::caller_env()) {
    if (!is.numeric(margin) || length(margin) != 1L || !is.finite(margin) ||
        margin < 0) {
        stop_immunoscape(c(
            "{.arg {arg}} must be one finite number >= 0 (microns), not {.val {format(margin)}}.",
            "i" = "The IOBWG invasive margin is {.code {arg} = 500}: 500 microns on each side of the border."
        ), class = "margin", call = call)
    }
    invisible(margin)
}

# Images of `images` without a region polygon, with the reason; with
# `windows`, also those whose tissue window has no area (no area, so no
# density, can be measured in them); with `no_border`, also those whose
# outline is all image edge (distances -Inf / Inf: compartments without a
# margin; the TLS and growth functions handle those images themselves).
regions_notes <- function(regions, images, windows = NULL,
                          no_border = FALSE, cells = NULL) {
    notes <- attr(regions, "notes")
    have <- unique(as.character(regions$image))
    miss <- setdiff(images, have)
    if (is.null(notes)) notes <- data.frame(image = character(),
                                            note = character())
    # with `cells`: an image left without cells (an unused level after
    # subsetting) says so before anything else
    empty <- if (!is.null(cells)) {
        lv <- levels(cells$image)
        intersect(images, lv[tabulate(cells$image, length(lv)) == 0L])
    }
    notes <- notes[!notes$image %in% empty, , drop = FALSE]
    extra <- setdiff(miss, c(notes$image, empty))
    out <- rbind(data.frame(image = empty,
                            note = rep("no cells in this image",
                                       length(empty))),
                 notes[notes$image %in% images, , drop = FALSE],
                 data.frame(image = extra, note = rep("no tumour region",
                                                      length(extra))))
    if (no_border && !is.null(regions$image_edge)) {
        # every edge of the outline along the image edge: a tumour that
        # fills the image (distances -Inf inside, Inf outside)
        all_edge <- tapply(regions$image_edge, as.character(regions$image),
                           all)
        full <- setdiff(intersect(names(all_edge)[all_edge %in% TRUE],
                                  images), out$image)
        out <- rbind(out, data.frame(
            image = full,
            note = rep("no tumour border in view (the outline runs along the edge of the image): border distances -Inf inside, Inf outside, no margin",
                       length(full))))
    }
    if (!is.null(windows)) {
        flat <- images[!vapply(images, function(im) {
            window_has_rings(window_rings(windows, im))
        }, logical(1))]
        flat <- setdiff(flat, out$image)
        out <- rbind(out, data.frame(
            image = flat,
            note = rep("the tissue window has no area (cells on a line?): no areas or densities",
                       length(flat))))
    }
    out
}

#' @export
print.immunoscape_compartments <- function(x, ...) {
    tab <- table(x$compartment, useNA = "ifany")
    cat(sprintf("<immunoscape_compartments> %d cells in %d image%s, margin %g \u00b5m\n",
                nrow(x), nlevels(x$image),
                if (nlevels(x$image) == 1L) "" else "s", attr(x, "margin")))
    cat(paste(sprintf("  %s: %d", names(tab), as.integer(tab)),
              collapse = "\n"), "\n")
    notes <- attr(x, "notes")
    if (nrow(notes)) {
        cat(sprintf("  %d image%s without tumour region (see attr(, \"notes\"))\n",
                    nrow(notes), if (nrow(notes) == 1L) "" else "s"))
    }
    invisible(x)
}

#' @rdname compartments
#' @param object An `immunoscape_compartments` object.
#' @export
summary.immunoscape_compartments <- function(object, ...) {
    areas <- attr(object, "areas")
    lv_img <- levels(object$image)
    types <- levels(droplevels(object$type))
    grid <- expand.grid(type = types, compartment = compartment_levels,
                        image = lv_img, stringsAsFactors = FALSE)
    grid <- grid[c("image", "compartment", "type")]
    key <- paste(object$image, object$compartment, object$type, sep = "\r")
    n <- table(factor(key, levels = paste(grid$image, grid$compartment,
                                          grid$type, sep = "\r")))
    grid$n <- as.integer(n)
    # an image without a tumour region has no compartments: its counts are
    # unknown (NA, as in infiltration_profile()), not 0
    img <- as.character(object$image)
    unplaced <- setdiff(img, img[!is.na(object$compartment)])
    grid$n[grid$image %in% unplaced] <- NA_integer_
    ai <- match(paste(grid$image, grid$compartment),
                paste(areas$image, areas$compartment))
    grid$area_mm2 <- areas$area_mm2[ai]
    grid$density_mm2 <- ifelse(grid$area_mm2 > 0, grid$n / grid$area_mm2,
                               NA_real_)
    grid$image <- factor(grid$image, levels = lv_img)
    grid$compartment <- factor(grid$compartment, levels = compartment_levels)
    grid$type <- factor(grid$type, levels = types)
    rownames(grid) <- NULL
    grid <- carry_result_groups(grid, object)
    structure(grid, class = c("summary_immunoscape_compartments",
                              "data.frame"))
}

#' @export
print.summary_immunoscape_compartments <- function(x, ...) {
    print(as.data.frame(unclass(x)), row.names = FALSE)
    invisible(x)
}

#' @rdname compartments
#' @param types For `autoplot()`: cell types to show (`NULL`: all).
#' @param images For `autoplot()`: images to draw (names or positions);
#'   `NULL` (default) for all.
#' @param max_lines For `autoplot()`: largest number of images drawn as
#'   coloured lines; beyond it each image is a thin grey line and the
#'   cohort's pooled density (cells over area, all images) a coloured line.
#' @param min_area For `autoplot()`: smallest area (mm^2) of an image's
#'   compartment (or distance band) drawn on its line: densities of
#'   smaller areas rest on a few cells and would set the scale. The pooled
#'   line counts every image's area, and leaves out only points of less
#'   than `min_area` in all.
#' @details `autoplot()` draws, for one image, bars of the density (cells
#'   per mm^2) of each type in each compartment; for several, one panel
#'   per type with a line per image across the compartments (core to
#'   stroma) and, above `max_lines` images, the pooled density of the
#'   cohort.
#' @export
autoplot.immunoscape_compartments <- function(object, types = NULL,
                                              images = NULL, max_lines = 8L,
                                              min_area = 0.01, ...) {
    check_dots(...)
    max_lines <- check_count(max_lines)
    check_nonneg(min_area)
    s <- as.data.frame(unclass(summary(object)))
    keep <- select_images(levels(object$image), images)
    s <- s[as.character(s$image) %in% keep, , drop = FALSE]
    if (!is.null(types)) s <- s[s$type %in% types, , drop = FALSE]
    s <- s[!is.na(s$area_mm2), , drop = FALSE]
    check_plot_rows(s, "compartment densities", region_plot_hint)
    s$image <- factor(as.character(s$image), levels = keep)
    # the colours of plot_cells(): by the cells' type levels
    cols <- type_palette(levels(s$type))
    s$type <- droplevels(s$type)
    cols <- cols[levels(s$type)]
    labels <- gsub("_", " ", compartment_levels)
    title <- sprintf("Density by compartment (margin %g \u00b5m)",
                     attr(object, "margin"))
    if (length(unique(s$image)) > 1L) {
        s$x <- as.integer(s$compartment)
        p <- density_lines(s, max_lines, min_area, cols) +
            ggplot2::scale_x_continuous(breaks = seq_along(labels),
                                        labels = labels) +
            ggplot2::labs(x = NULL, title = title) + rotate_x()
        return(p)
    }
    s$compartment <- factor(labels[as.integer(s$compartment)],
                            levels = labels)
    # compartments with no area in view (no margin in a core all tumour)
    none <- setdiff(labels, as.character(s$compartment[s$area_mm2 > 0]))
    s <- s[s$area_mm2 > 0, , drop = FALSE]
    check_plot_rows(s, "compartment with an area", region_plot_hint)
    s$compartment <- droplevels(s$compartment)
    ggplot2::ggplot(s, ggplot2::aes(.data$compartment, .data$density_mm2,
                                    fill = .data$type)) +
        ggplot2::geom_col(position = "dodge") +
        ggplot2::scale_fill_manual(values = cols) +
        ggplot2::scale_y_continuous(expand = ggplot2::expansion(
            mult = c(0, 0.05))) +
        ggplot2::labs(x = NULL, y = "cells per mm\u00b2", fill = "type",
                      title = title,
                      subtitle = as.character(s$image[1]),
                      caption = if (length(none)) sprintf(
                          "not in this image (no area): %s",
                          paste(none, collapse = ", "))) +
        result_theme()
}

# Density along an ordered x (distance bands, compartments) for several
# images: one panel per type; a line per image (coloured by image up to
# `max_lines` images, thin grey beyond, with the pooled density of the
# images, sum of cells over sum of areas, in the type's colour). `df` has
# columns image, type, x, n, area_mm2, density_mm2. Per-image points of
# less than `min_area` mm^2 are left out (a density from a few cells);
# the pooled line keeps them.
density_lines <- function(df, max_lines, min_area, cols = NULL) {
    pooled <- pooled_density(df, min_area)
    df <- df[is.finite(df$density_mm2) & df$area_mm2 >= min_area, ,
             drop = FALSE]
    check_plot_rows(df, "image part of at least `min_area`",
                    region_plot_hint)
    df$image <- droplevels(df$image)
    nimg <- nlevels(df$image)
    cols <- cols %||% type_palette(levels(df$type))
    p <- ggplot2::ggplot(df, ggplot2::aes(.data$x, .data$density_mm2))
    if (nimg <= max_lines) {
        p <- p + ggplot2::geom_line(ggplot2::aes(colour = .data$image,
                                                 group = .data$image),
                                    linewidth = 0.5) +
            ggplot2::geom_point(ggplot2::aes(colour = .data$image),
                                size = 1) +
            ggplot2::scale_colour_manual(
                values = unname(type_palette(levels(df$image))),
                name = "image")
    } else {
        p <- p + ggplot2::geom_line(ggplot2::aes(group = .data$image),
                                    colour = "grey55",
                                    alpha = min(0.6, max(0.12, 8 / nimg)),
                                    linewidth = 0.3) +
            ggplot2::geom_line(data = pooled,
                               ggplot2::aes(colour = .data$type),
                               linewidth = 1.1) +
            ggplot2::geom_point(data = pooled,
                                ggplot2::aes(colour = .data$type),
                                size = 1.6) +
            ggplot2::scale_colour_manual(values = cols, guide = "none") +
            ggplot2::labs(caption = sprintf(
                "grey: each of %d images (parts under %g mm\u00b2 left out); coloured: all images pooled (cells / area)",
                nimg, min_area))
    }
    p + ggplot2::facet_wrap(ggplot2::vars(.data$type), scales = "free_y") +
        ggplot2::labs(y = "cells per mm\u00b2") + result_theme()
}

# Pooled density per type and x: cells over area summed over the images
# with a positive area; points of less than `min_area` mm^2 in all are
# left out.
pooled_density <- function(df, min_area = 0) {
    df <- df[is.finite(df$area_mm2) & df$area_mm2 > 0 & !is.na(df$n), ,
             drop = FALSE]
    key <- interaction(df$type, df$x, drop = TRUE, lex.order = TRUE)
    n <- tapply(df$n, key, sum)
    a <- tapply(df$area_mm2, key, sum)
    first <- df[match(names(n), as.character(key)), c("type", "x")]
    first$density_mm2 <- as.vector(n / a)
    first$n_images <- as.vector(table(key)[names(n)])
    first <- first[as.vector(a) >= min_area, , drop = FALSE]
    rownames(first) <- NULL
    first
}

#' Immune infiltration by distance to the tumour border
#'
#' Density (cells per mm^2) of each cell type in bands of signed distance
#' to the tumour border (negative inside the tumour), for plots of immune
#' density against distance. The area of each band is computed from the
#' region polygons and the tissue window (the part of the band inside the
#' window; see [compartments()]), not estimated from the cells.
#'
#' @inheritParams compartments
#' @param types Cell types to count (`NULL`: every type).
#' @param breaks Increasing band limits in microns; bands are
#'   `(breaks[k], breaks[k + 1]]`. Cells beyond the first or last limit are
#'   not counted.
#' @returns An `immunoscape_infiltration` data frame: `image`, `type`,
#'   `band` (factor), `from`, `to`, `mid` (microns), `n`, `area_mm2`,
#'   `density_mm2`. Images without a tumour region give `NA` rows and a
#'   note in `attr(, "notes")`.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(3000, 0, 2000), y = runif(3000, 0, 2000))
#' df$type <- ifelse((df$x - 1000)^2 + (df$y - 1000)^2 < 600^2, "Tumor",
#'                   sample(c("Stroma", "CD8 T"), 3000, TRUE))
#' cells <- spatial_cells(df)
#' prof <- infiltration_profile(cells, tumor_regions(cells), types = "CD8 T",
#'                              breaks = seq(-400, 400, 100))
#' prof
infiltration_profile <- function(cells, regions, types = NULL,
                                 breaks = seq(-500, 500, by = 50), ...,
                                 nthreads = immunoscape_threads(),
                                 BPPARAM = NULL) {
    check_dots(...)
    cells <- check_cells(cells)
    regions <- check_regions(regions, cells)
    types <- check_types(cells, types)
    check_breaks(breaks)
    nthreads <- check_nthreads(nthreads)
    windows <- attr(cells, "windows")
    nb <- length(breaks) - 1L
    res <- map_images(cells, function(sub, image) {
        keep <- sub$type %in% types
        d <- region_signed_distance(regions, image, sub$x[keep], sub$y[keep],
                                    nthreads)
        a <- region_band_areas(regions, windows, image, breaks,
                               nthreads = nthreads)[2:(nb + 1L)]
        # right-closed bands (breaks[k], breaks[k + 1]]
        band <- findInterval(d, breaks, left.open = TRUE)
        ok <- !is.na(d) & band >= 1L & band <= nb
        ty <- factor(as.character(sub$type[keep]), levels = types)
        n <- table(factor(band[ok], levels = seq_len(nb)), ty[ok])
        data.frame(image = image, type = rep(types, each = nb),
                   band_no = rep(seq_len(nb), length(types)),
                   n = as.vector(n), area_mm2 = rep(a / 1e6, length(types)))
    }, BPPARAM = BPPARAM, label = "Infiltration profiles")
    # every image has its rows: one without cells (or left out by an
    # error) has unknown counts and areas
    res <- complete_images(res, levels(cells$image), function(miss) {
        k <- nb * length(types)
        data.frame(image = rep(miss, each = k),
                   type = rep(rep(types, each = nb), length(miss)),
                   band_no = rep(seq_len(nb), length(types) * length(miss)),
                   n = NA_integer_, area_mm2 = NA_real_)
    })
    labels <- sprintf("(%g, %g]", breaks[-(nb + 1L)], breaks[-1])
    out <- data.frame(
        image = factor(as.character(res$image), levels = levels(cells$image)),
        type = factor(res$type, levels = types),
        band = factor(labels[res$band_no], levels = labels),
        from = breaks[res$band_no], to = breaks[res$band_no + 1L],
        mid = (breaks[res$band_no] + breaks[res$band_no + 1L]) / 2,
        n = res$n, area_mm2 = res$area_mm2
    )
    out$n[is.na(out$area_mm2)] <- NA_integer_
    out$density_mm2 <- ifelse(out$area_mm2 > 0, out$n / out$area_mm2,
                              NA_real_)
    out <- carry_groups(out, cells)
    structure(out,
              class = c("immunoscape_infiltration", "immunoscape_result",
                        "data.frame"),
              breaks = breaks, type_levels = levels(cells$type),
              notes = regions_notes(regions, levels(cells$image), windows,
                                    no_border = TRUE, cells = cells))
}

check_breaks <- function(breaks, arg = rlang::caller_arg(breaks),
                         call = rlang::caller_env()) {
    if (!is.numeric(breaks) || length(breaks) < 2L ||
        any(!is.finite(breaks)) || any(diff(breaks) <= 0)) {
        stop_immunoscape(c(
            "{.arg {arg}} must be at least two finite, strictly increasing numbers (microns).",
            "i" = "For example {.code {arg} = seq(-500, 500, by = 50)}."
        ), class = "argument", call = call)
    }
    invisible(breaks)
}

#' @export
print.immunoscape_infiltration <- function(x, ...) {
    b <- attr(x, "breaks")
    cat(sprintf("<immunoscape_infiltration> %d band%s from %g to %g \u00b5m, %d type%s, %d image%s\n",
                length(b) - 1L, if (length(b) == 2L) "" else "s",
                b[1], b[length(b)], nlevels(x$type),
                if (nlevels(x$type) == 1L) "" else "s", nlevels(x$image),
                if (nlevels(x$image) == 1L) "" else "s"))
    print(utils::head(as.data.frame(x), 10), row.names = FALSE)
    if (nrow(x) > 10) cat(sprintf("# ... %d more rows\n", nrow(x) - 10L))
    invisible(x)
}

#' @rdname infiltration_profile
#' @param object An `immunoscape_infiltration` object.
#' @param images For `autoplot()`: images to draw (names or positions);
#'   `NULL` (default) for all.
#' @param show For `autoplot()`: `"pooled"` draws one panel with a line per
#'   type, the density of the images pooled (cells over band area, summed
#'   over the images: the band-area weighted mean); `"images"` one panel
#'   per type with a line per image (thin grey lines and the pooled line
#'   above `max_lines` images). `"auto"` (default): `"pooled"` for one
#'   image, `"images"` for several.
#' @param max_lines For `autoplot()`: largest number of images drawn as
#'   coloured lines with `show = "images"`.
#' @param min_area For `autoplot()`: smallest band area (mm^2) drawn, for
#'   an image's line and for the pooled line (see [compartments()]).
#' @export
autoplot.immunoscape_infiltration <- function(object, images = NULL,
                                              show = c("auto", "pooled",
                                                       "images"),
                                              max_lines = 8L,
                                              min_area = 0.01, ...) {
    check_dots(...)
    show <- check_choice(show, c("auto", "pooled", "images"))
    max_lines <- check_count(max_lines)
    check_nonneg(min_area)
    keep <- select_images(levels(object$image), images)
    df <- as.data.frame(object)
    df <- df[as.character(df$image) %in% keep &
                 is.finite(df$density_mm2), , drop = FALSE]
    check_plot_rows(df, "infiltration profile", region_plot_hint)
    df$image <- factor(as.character(df$image), levels = keep)
    # the colours of plot_cells(): by the cells' type levels
    cols <- type_palette(attr(object, "type_levels") %||% levels(df$type))
    df$type <- droplevels(df$type)
    cols <- cols[levels(df$type)]
    df$x <- df$mid
    nimg <- length(unique(df$image))
    if (show == "auto") show <- if (nimg == 1L) "pooled" else "images"
    border <- list(
        ggplot2::annotate("rect", xmin = -Inf, xmax = 0, ymin = -Inf,
                          ymax = Inf, fill = "#B2182B", alpha = 0.06),
        ggplot2::geom_vline(xintercept = 0, colour = "grey40",
                            linetype = "dashed"))
    xlab <- "distance to the tumour border (\u00b5m; < 0 inside)"
    if (show == "images") {
        p <- density_lines(df, max_lines, min_area, cols)
        p$layers <- c(border, p$layers)
        return(p + ggplot2::labs(x = xlab, title = "Infiltration profile"))
    }
    pooled <- pooled_density(df, min_area)
    check_plot_rows(pooled, "bands of at least `min_area`",
                    region_plot_hint)
    sub <- if (nimg == 1L) as.character(df$image[1]) else
        sprintf("%d images pooled: cells per mm\u00b2 of band area", nimg)
    ggplot2::ggplot(pooled, ggplot2::aes(.data$x, .data$density_mm2,
                                         colour = .data$type)) +
        border +
        ggplot2::geom_line() +
        ggplot2::geom_point(size = 1.2) +
        ggplot2::scale_colour_manual(values = cols) +
        ggplot2::labs(x = xlab, y = "cells per mm\u00b2", colour = "type",
                      title = "Infiltration profile", subtitle = sub) +
        result_theme()
}
