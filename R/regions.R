# Tumour regions: polygons (with holes, several per image) in the
# tissue-window vertex format (image, polygon, ring, hole, x, y), built from
# the tumour cells (smoothed tumour fraction or a closing) or from a vendor
# tissue classification, and the geometry every compartment result uses:
# signed distances to the region border and areas of distance bands
# (C module src/regions.c on the window geometry of src/window.c).

#' Tumour regions
#'
#' Outlines the tumour of each image as polygons with holes, in the vertex
#' format of tissue windows (`image, polygon, ring, hole, x, y`, microns),
#' so that they can be drawn, converted with [as_sf()] or handed to
#' [compartments()], [infiltration_profile()], [immune_phenotype()],
#' [growth_pattern()] and [compartment_ratios()].
#'
#' The default outlines the tumour as a pathologist draws the tumour border
#' for the invasive margin: the tumour mass with its own stroma, vessels,
#' infiltrates and lymphoid structures, not every tumour nest separately
#' (see "Nest level" below for that).
#'
#' * `method = "density"` (default): the tissue is the closing of all cells
#'   (as the `"concave"` window of [tissue_window()], radius `radius`), and
#'   a point of the tissue is tumour where the fraction of tumour cells
#'   among the cells around it (both counts smoothed with a Gaussian kernel
#'   of standard deviation `bandwidth`, on a raster of pixels of
#'   `bandwidth / 4`, coarser for very large images so that the raster stays
#'   under `max_pixels`) is at least `threshold`. By default (`threshold =
#'   NULL`) that is half the typical fraction inside the tumour (the median
#'   of the smoothed fraction at the tumour cells): the border is where the
#'   tumour fraction has fallen half-way from its level in the tumour to 0,
#'   the half-maximum, whatever share of the tumour's own cells are stroma
#'   or immune cells. Where tumour meets empty space (the edge of the
#'   section, a vessel, necrosis) the border follows the tissue edge.
#' * `method = "concave"`: the closing of the tumour cells alone (the
#'   `"concave"` window of the tumour cells, radius `radius`): every tumour
#'   cell is inside; other cells inside gaps narrower than `2 * radius` are
#'   inside too.
#'
#' With `"density"` the smoothed border is then redrawn at the cell level
#' (`refine`): within `refine` microns of it (default `2 * bandwidth`), on
#' both sides, a point is tumour when it lies in the closing of the tumour
#' cells (radius `radius`, reaching half the median nearest-neighbour
#' distance beyond the outermost tumour cells), so that the border runs between the outermost
#' tumour cells and the other cells next to them instead of wherever the
#' smoothed fraction crosses the threshold. The smoothed border alone
#' wanders by a few tens of microns: the local tumour fraction just inside
#' the border varies (stromal septa, glands) around the image-wide level
#' the threshold is set from, and the kernel rounds curved borders. Where
#' tumour cells are mixed among the host cells over more than the kernel
#' (the replacement growth pattern of liver metastases, tumour cells
#' taking the place of hepatocytes in the liver cell plates) there is no
#' cell-level border: the redrawn border would follow the outermost
#' tumour cells, on average farther out than `bandwidth / 10`, and then
#' the smoothed border (where tumour and host cells are equally frequent)
#' is kept, traced with a kernel twice as wide (when `bandwidth` is not
#' given) to average the wandering front over a longer stretch of border;
#' `attr(, "parameters")` says which (`refined`), the bandwidth used and
#' the mean outward shift measured (`shift`, microns).
#'
#' Then (both methods) channels and notches narrower than `2 * gap` are
#' closed (a closing of the tumour with a disc of radius `gap`), tumour
#' pieces smaller than `min_area` are dropped, the tissue of gaps enclosed
#' by tumour and smaller than `min_hole` becomes tumour (intratumoral
#' stroma, vessels, lymphoid structures; empty parts such as necrosis or
#' large lumens stay holes), and the outline is the marching-squares
#' contour of the raster simplified within half a pixel.
#'
#' Infiltrating immune cells sit on both sides of the border; naming them
#' in `ignore` keeps a dense infiltrate at the tumour edge (an excluded
#' tumour) from pulling the border into the tumour. On simulated liver
#' metastases ([simulate_tme()]) the default regions with `ignore` set to
#' the immune types overlap the true tumour with a median Jaccard index of
#' about 0.98 (bench/validate-compartments.R).
#'
#' **How exact the border is.** At a sharp front (a desmoplastic rim, a
#' pushing front) the simulated sections' border distances are within 15
#' microns of the truth for 95 to 99% of the cells more than 30 microns
#' from the border (median error 3.5 microns). At a replacement front,
#' where tumour and liver interdigitate over about 100 microns on each
#' side, the border is drawn through the middle of that zone with a median
#' error of about 8 microns, and 74 to 90% of the cells are within 15
#' microns: treat border distances and the margin bands there as uncertain
#' by a few tens of microns. The wider kernel of such a front is twice the
#' default, which shrinks with the cell spacing; in denser tissue the border
#' then follows the front's local wandering more: on simulated replacement
#' fronts at 12000 cells per mm^2 it was within 15 microns for a median 77%
#' of the cells, and for 88% with `bandwidth = 48, refine = 0`
#' (bench/validate-compartments.R, `VALIDATE_DENSITY` and
#' `VALIDATE_BANDWIDTH`). A front mixed over only one or two cells passes
#' the cell-level test above; the border then runs along the outermost
#' tumour cells, up to about 20 microns beyond where tumour and host cells
#' are equally frequent (pass `refine = 0` to keep the half-maximum
#' border).
#'
#' @section Nest level:
#' Two different things are called the tumour border. The default
#' (`level = "tumor"`) outlines the tumour mass, the border of the
#' invasive front that the Immuno-Oncology Biomarkers Working Group
#' centres the invasive margin on and that pathologists draw for the
#' tumour core and margin compartments: intratumoral stroma, vessels and
#' lymphoid structures are inside. Use it for [compartments()],
#' [infiltration_profile()], [immune_phenotype()] and [growth_pattern()].
#' Vendor tissue classifiers (inForm, HALO) instead label tumour
#' epithelium nest by nest, with the intratumoral stroma as stroma; to
#' reproduce that (e.g. for epithelium versus stroma densities), use
#' `level = "nests"`: a 5-micron kernel at a tumour fraction of 0.4, no
#' closing (`gap = 0`), pieces and holes down to 100 square microns
#' (`min_area = min_hole = 100`); with `method = "concave"`, `radius = 12`.
#' Arguments given explicitly override these. On the bundled real inForm
#' field and HALO cores `level = "nests"` puts 93.5% and 98.4% of the cells
#' on the same side as the vendor classification (labelling each cell by
#' its own type gives 92.9% and 98.1%), the default level 79.1% and
#' 82.1%, since it counts the intratumoral stroma as tumour
#' (bench/real-regions.R).
#'
#' With `tissue`, the regions come from a tissue classification the vendor
#' software already made per cell (inForm `"Tissue Category"`, HALO
#' `tissue_class`): the cells whose `tissue` value is `tumor` play the part
#' of the tumour cells, so that a pathologist-trained segmentation is used
#' as it is. Such classifications are drawn nest by nest (the intratumoral
#' stroma is stroma), so `tissue` defaults to `level = "nests"`, which
#' follows them (99.3% of the bundled inForm field's cells on the side of
#' their own category, against 65.8% with the tumour-mass closing and
#' hole filling of `level = "tumor"`, bench/real-regions.R); give
#' `level = "tumor"` to outline the tumour mass from them instead.
#'
#' An image without tumour cells gets no polygon and a note in
#' `attr(, "notes")`; later functions give it `NA` distances and a note
#' rather than an error.
#'
#' @section The edge of the image:
#' Where the tumour goes on beyond the image (a field, a core of a tissue
#' microarray, a tissue tear), its region is cut by the edge of the tissue
#' window. That cut is not a tumour border: the tumour continues, and a
#' cell beside it is not in the invasive margin. Edges of the outline that
#' run within `image_edge` microns of the window's boundary, or outside the
#' window (an outline drawn around the tissue), are marked
#' (vertex column `image_edge`), and [compartments()],
#' [infiltration_profile()], [immune_phenotype()], [growth_pattern()] and
#' [detect_tls()] measure distances to the rest of the outline only, the
#' tumour-host interfaces in view (inForm, likewise, leaves the distance of
#' many cells near the edge of a field empty rather than measure it to the
#' edge). A region whose whole
#' outline is image edge (a core or field all tumour) has no border in
#' view: distances are `-Inf` inside and `Inf` outside, and its cells are
#' in the core. `summary()` gives the share of the outline's length that
#' is image edge per image (column `image_edge_frac`, 0 to 1). Distances near the edge of the image are therefore upper
#' bounds: the true border may lie just beyond it. Conversely a real border
#' closer than `image_edge` to the edge of the image (a strip of stroma a
#' cell or two wide along it) is taken for image edge; lower `image_edge`
#' to keep it.
#'
#' @param cells A `spatial_cells` object.
#' @param tumor The tumour cell type(s) (values of `type`), or with `tissue`
#'   the tumour value(s) of that column. Default `"Tumor"`.
#' @param method `"density"` or `"concave"`.
#' @param ... Unused; a misspelled argument is an error.
#' @param tissue `NULL` (default) or the name of a column of `cells` that
#'   holds a per-cell tissue classification (e.g. `"Tissue Category"`).
#' @param bandwidth Standard deviation (microns) of the smoothing kernel of
#'   `"density"`. `NULL` picks `max(15, 2 * q90)`, where `q90` is the 90th
#'   percentile of nearest-neighbour distances between cells (about two
#'   cell spacings: enough cells under the kernel for a stable fraction, a
#'   border accurate to a few cells).
#' @param threshold Tumour fraction (0 to 1) from which a point is tumour
#'   (`"density"`); `NULL` (default): half the median fraction at the
#'   tumour cells.
#' @param gap Radius (microns) of the closing of the tumour: channels and
#'   notches narrower than `2 * gap` are closed. Default 100: the border
#'   of the tumour mass runs over stromal septa, vessels and infiltrates
#'   that reach it, as the border drawn for the invasive margin (a band 1
#'   mm wide) does, instead of dipping into each of them; 0 for none.
#' @param min_area Tumour pieces smaller than this (square microns) are
#'   dropped. Default 5000 (about 20 tumour cells, a nest of 80 microns).
#' @param min_hole Tissue enclosed by tumour in gaps smaller than this
#'   (square microns) becomes tumour. Default 1e6 (1 mm^2: larger than
#'   tertiary lymphoid structures, whose follicle and T-cell zone span a few
#'   hundred microns).
#' @param ignore Cell types that count neither as tumour nor as other
#'   tissue in the tumour fraction (`"density"`), e.g. infiltrating immune
#'   cells, which are found on both sides of the border: an immune-rich
#'   tumour edge or a dense infiltrate then does not pull the border into
#'   the tumour. They still make tissue.
#' @param radius Closing radius in microns (the tissue for `"density"`, the
#'   tumour for `"concave"`). `NULL`: the default of the `"concave"` window,
#'   `max(50, 5 * q90)`.
#' @param refine Half-width (microns) of the band around the smoothed
#'   border in which `"density"` redraws it at the cell level; `NULL`
#'   (default): `2 * bandwidth`; 0: the smoothed border as it is.
#' @param level `"tumor"` (default without `tissue`): the tumour mass;
#'   `"nests"` (default with `tissue`): tumour nests as vendor tissue
#'   classifiers draw them (see "Nest level").
#' @param max_pixels Largest raster (pixels) per image.
#' @param image_edge Distance (microns) within which the outline is taken
#'   to run along the edge of the image rather than along a tumour border
#'   (see "The edge of the image"). `NULL` (default): twice the median
#'   nearest-neighbour spacing of the image's cells, within 15 to 50. 0:
#'   every edge of the outline is a tumour border.
#' @param nthreads Number of OpenMP threads (results do not depend on it).
#' @param BPPARAM `NULL` (serial) or a BiocParallel parameter object.
#' @returns An `immunoscape_regions` data frame of vertices with columns
#'   `image` (factor with the images of `cells`), `polygon`, `ring`, `hole`,
#'   `x`, `y` and `image_edge` (the edge from this vertex to the next runs
#'   along the edge of the image). Attributes: `areas` (a data frame `image`, `polygon`,
#'   `area_mm2`, `n_holes`), `notes` (`image`, `note`), `method`, `tumor`
#'   (the tumour types, unless built from `tissue`),
#'   `parameters` (per image) and `extent` (the cells' bounding box per
#'   image, to catch regions used with other cells). `summary()` gives the
#'   number of polygons, the tumour area (mm^2: of the polygons, also
#'   where polygons given to [as_regions()] reach beyond the tissue window;
#'   [compartments()] gives the areas within it) and the share of the
#'   outline that is image edge (`image_edge_frac`) per image.
#' @seealso [compartments()], [plot_cells()] (`regions =`),
#'   [tissue_window()].
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(3000, 0, 1000), y = runif(3000, 0, 1000))
#' df$type <- ifelse((df$x - 500)^2 + (df$y - 500)^2 < 300^2, "Tumor",
#'                   "Stroma")
#' cells <- spatial_cells(df)
#' reg <- tumor_regions(cells)
#' summary(reg)        # about pi * 0.3^2 = 0.28 mm^2
#' plot_cells(cells, regions = reg)
tumor_regions <- function(cells, tumor = "Tumor",
                          method = c("density", "concave"), ...,
                          tissue = NULL, bandwidth = NULL, threshold = NULL,
                          gap = 100, min_area = 5000, min_hole = 1e6,
                          ignore = NULL, radius = NULL, refine = NULL,
                          level = c("tumor", "nests"), max_pixels = 1e7,
                          image_edge = NULL,
                          nthreads = immunoscape_threads(), BPPARAM = NULL) {
    check_dots(...)
    cells <- check_cells(cells)
    method <- check_choice(method, c("density", "concave"))
    # a vendor classification is used as it is (nest by nest) unless the
    # tumour mass is asked for
    level <- if (missing(level) && !is.null(tissue)) "nests" else
        check_choice(level, c("tumor", "nests"))
    if (level == "nests") {
        # tumour nests as vendor tissue classifiers draw them: a kernel
        # smaller than a cell, no closing, small pieces and holes kept
        if (missing(gap)) gap <- 0
        if (missing(min_area)) min_area <- 100
        if (missing(min_hole)) min_hole <- 100
        if (method == "density") {
            bandwidth <- bandwidth %||% 5
            threshold <- threshold %||% 0.4
        } else {
            radius <- radius %||% 12
        }
    }
    check_positive(bandwidth)
    check_positive(radius)
    if (!is.null(refine)) check_nonneg(refine)
    if (!is.null(threshold)) check_fraction(threshold)
    check_nonneg(gap, max = 1e5)
    check_nonneg(min_area)
    check_nonneg(min_hole)
    check_nonneg(max_pixels, min = 1e4)
    if (!is.null(image_edge)) check_nonneg(image_edge)
    nthreads <- check_nthreads(nthreads)
    is_tumor <- tumor_flags(cells, tumor, tissue)
    cls <- as.integer(is_tumor)
    if (!is.null(ignore)) {
        ignore <- check_types(cells, ignore)
        cls[cells$type %in% ignore & !is_tumor] <- -1L
    }
    cells$.tumor <- cls
    opts <- list(method = method, bandwidth = bandwidth,
                 threshold = threshold, gap = gap, min_area = min_area,
                 min_hole = min_hole, radius = radius, refine = refine,
                 max_pixels = max_pixels, nthreads = nthreads)
    res <- map_images(cells, function(sub, image) {
        regions_image(sub, image, opts)
    }, BPPARAM = BPPARAM, label = "Tumour regions")
    out <- new_regions(res, levels(cells$image), method = method,
                tissue = tissue, tumor = if (is.null(tissue)) tumor, extent = cells_extent(cells),
                problems = attr(res, "problems"))
    if (method == "density" && is.null(bandwidth) && is.null(refine)) {
        par <- attr(out, "parameters")
        wide <- par$image[par$refine %in% 0]
        if (length(wide)) {
            shown <- paste(utils::head(wide, 5), collapse = ", ")
            if (length(wide) > 5) {
                shown <- paste(shown, "and", length(wide) - 5, "more")
            }
            inform_immunoscape(c(
                "i" = "{length(wide)} image{?s} with a diffuse tumour front (tumour and other cells mixed over more than a cell or two): border drawn with a kernel twice as wide and not redrawn at the cell level: {shown}.",
                "i" = "Give {.arg bandwidth} (see {.code attr(regions, \"parameters\")}) for a finer border, or {.code level = \"nests\"} for tumour nests."
            ))
        }
    }
    finish_regions(out, cells, image_edge, nthreads)
}

# The image-edge flags and the groups of the cells, on the vertices and
# per image (images without a polygon keep theirs in attribute "groups").
finish_regions <- function(out, cells, image_edge, nthreads) {
    out$image_edge <- image_edge_flags(out, cells, image_edge, nthreads)
    attr(out, "groups") <- image_group_table(cells)
    carry_groups(out, cells)
}

# Per-cell tumour flags from types or from a tissue column.
tumor_flags <- function(cells, tumor, tissue, call = rlang::caller_env()) {
    if (is.null(tissue)) {
        tumor <- check_types(cells, tumor, arg = "tumor", call = call)
        return(cells$type %in% tumor)
    }
    check_string(tissue, call = call)
    check_column(cells, tissue, arg = "tissue", call = call)
    v <- as.character(cells[[tissue]])
    if (is.factor(tumor)) tumor <- as.character(tumor)
    if (!is.character(tumor) || !length(tumor) || anyNA(tumor)) {
        stop_immunoscape("{.arg tumor} must name the tumour value(s) of column {.val {tissue}}.",
                         class = "argument", call = call)
    }
    present <- unique(v[!is.na(v)])
    if (!length(present)) {
        stop_immunoscape(c(
            "Column {.val {tissue}} named by {.arg tissue} holds no value (all NA).",
            "i" = "Name the column of the vendor's tissue classification, or leave {.arg tissue} NULL to use the cell types."
        ), class = "column", call = call)
    }
    unknown <- setdiff(tumor, present)
    if (length(unknown)) {
        stop_unknown_values(unknown, present, "tumor",
                            paste0("value of column \"", tissue, "\""),
                            "found in no cell", "type", call = call)
    }
    !is.na(v) & v %in% tumor
}

check_fraction <- function(x, arg = rlang::caller_arg(x),
                           call = rlang::caller_env()) {
    if (!is.numeric(x) || length(x) != 1L || !is.finite(x) || x <= 0 ||
        x > 1) {
        stop_immunoscape("{.arg {arg}} must be one number in (0, 1].",
                         class = "argument", call = call)
    }
    invisible(x)
}

check_positive <- function(x, arg = rlang::caller_arg(x),
                           call = rlang::caller_env(), allow_null = TRUE,
                           min = 0, max = Inf) {
    if (is.null(x) && allow_null) return(invisible(NULL))
    if (!is.numeric(x) || length(x) != 1L || !is.finite(x) || x <= min ||
        x > max) {
        stop_immunoscape("{.arg {arg}} must be one finite number > {format(min)}{if (is.finite(max)) paste(' and <=', format(max))} (microns){if (allow_null) ' or NULL'}.",
                         class = "argument", call = call)
    }
    invisible(x)
}

# Regions of one image: a vertex data frame (image, polygon, ring, hole, x,
# y) plus the columns .note, .radius, .pixel, .bandwidth (map_images()
# row-binds data frames only); an image with nothing to outline gives one
# row with NA coordinates and its note.
regions_image <- function(sub, image, opts) {
    cls <- sub$.tumor
    tum <- cls == 1L
    note_row <- function(note) {
        data.frame(image = image, polygon = NA_integer_, ring = NA_integer_,
                   hole = NA, x = NA_real_, y = NA_real_, .note = note,
                   .radius = NA_real_, .pixel = NA_real_,
                   .bandwidth = NA_real_, .threshold = NA_real_,
                   .refine = NA_real_, .refined = NA, .shift = NA_real_)
    }
    if (!any(tum)) return(note_row("no tumour cells"))
    concave <- opts$method == "concave"
    if (concave && sum(tum) < 3L) {
        return(note_row("fewer than 3 tumour cells"))
    }
    x0 <- min(sub$x)
    y0 <- min(sub$y)
    x <- sub$x - x0
    y <- sub$y - y0
    if (concave) {
        # the closing of the tumour cells (threshold 0: no smoothing)
        x <- x[tum]
        y <- y[tum]
        cls <- rep(1L, length(x))
    }
    p <- concave_parameters(x, y, opts$radius, max_pixels = opts$max_pixels,
                            nthreads = opts$nthreads)
    if (concave) {
        bw <- NA_real_
        refine <- 0
        s <- p$pixel
        margin <- p$margin
        thr <- 0
    } else {
        bw <- opts$bandwidth %||% max(15, 2 * p$nn_q90)
        s <- min(bw / 4, p$radius / 20)
        wx <- diff(range(x)) + 2 * (max(p$radius, opts$gap) + 3 * s)
        wy <- diff(range(y)) + 2 * (max(p$radius, opts$gap) + 3 * s)
        s <- max(s, sqrt(wx * wy / opts$max_pixels) * 1.05)
        margin <- min(p$radius, max(1.5 * s, p$margin))
        thr <- opts$threshold %||% -0.5
        refine <- opts$refine %||% (2 * bw)
    }
    trace <- function(simplify) {
        .Call(ffi_regions_mask, x, y, cls, if (concave) s else bw, s,
              p$radius, margin, thr, if (concave) 0 else opts$gap,
              opts$min_area / s^2,
              opts$min_hole / s^2, simplify,
              # half the median spacing beyond the outermost tumour cells
              c(as.numeric(refine), max(0.5 * p$nn_q50, s)),
              as.integer(opts$nthreads))
    }
    # simplified within half a pixel unless that makes edges cross
    traced <- function() {
        res <- trace(0.5)
        if (length(res[[1]]) &&
            length(.Call(ffi_window_crossing, res[[1]], res[[2]], res[[3]]))) {
            res <- trace(0)
        }
        res
    }
    res <- traced()
    if (!concave && is.null(opts$bandwidth) && refine > 0 &&
        length(res[[1]]) && !isTRUE(attr(res, "refined"))) {
        # a diffuse front (no cell-level border): the half-maximum of a
        # kernel twice as wide, which averages the wandering of the front
        # over a longer stretch of border
        shift <- attr(res, "shift")
        bw <- 2 * bw
        refine <- 0
        res <- traced()
        attr(res, "shift") <- shift
    }
    if (!length(res[[1]])) {
        return(note_row("no tumour piece larger than min_area"))
    }
    out <- contour_frame(res, x0, y0)
    data.frame(image = image, out, .note = NA_character_,
               .radius = p$radius, .pixel = s, .bandwidth = bw,
               .threshold = if (concave) NA_real_ else attr(res, "threshold"),
               .refine = refine, .refined = isTRUE(attr(res, "refined")),
               .shift = attr(res, "shift") %||% NA_real_)
}

# Assemble the per-image pieces into an immunoscape_regions object.
new_regions <- function(res, images, method, tissue = NULL, tumor = NULL,
                        extent = NULL, problems = NULL) {
    res <- as.data.frame(res)
    if (!nrow(res)) {
        res <- data.frame(image = character(), polygon = integer(),
                          ring = integer(), hole = logical(), x = double(),
                          y = double(), .note = character(),
                          .radius = double(), .pixel = double(),
                          .bandwidth = double(), .threshold = double(),
                          .refine = double(), .refined = logical(),
                          .shift = double())
    }
    first <- !duplicated(res$image)
    params <- data.frame(image = res$image[first],
                         radius = res$.radius[first],
                         pixel = res$.pixel[first],
                         bandwidth = res$.bandwidth[first],
                         threshold = res$.threshold[first],
                         refine = res$.refine[first],
                         refined = res$.refined[first],
                         shift = res$.shift[first])
    params <- params[!is.na(params$pixel), , drop = FALSE]
    note <- !is.na(res$.note)
    notes <- data.frame(image = as.character(res$image[note]),
                        note = res$.note[note])
    if (!is.null(problems) && nrow(problems)) {
        notes <- rbind(notes, data.frame(image = problems$image,
                                         note = problems$message))
    }
    df <- res[!note, window_columns, drop = FALSE]
    if (nrow(df)) {
        df <- as.data.frame(unclass(new_window(df, images)))
    } else {
        df <- df[window_columns]
        df$image <- factor(character(), levels = images)
    }
    rownames(df) <- NULL
    structure(df,
              class = c("immunoscape_regions", "immunoscape_result",
                        "data.frame"),
              areas = regions_areas(df), notes = notes, method = method,
              tissue = tissue, tumor = tumor, parameters = params,
              extent = extent)
}

# Per polygon: area (mm^2, holes subtracted) and number of holes.
regions_areas <- function(df) {
    if (!nrow(df)) {
        return(data.frame(image = factor(character(),
                                         levels = levels(df$image)),
                          polygon = integer(), area_mm2 = double(),
                          n_holes = integer()))
    }
    key <- interaction(df$image, df$polygon, df$ring, drop = TRUE,
                       lex.order = TRUE)
    rows <- split(seq_len(nrow(df)), key)
    a <- vapply(rows, function(r) ring_signed_area(df$x[r], df$y[r]),
                numeric(1))
    first <- vapply(rows, `[`, integer(1), 1L)
    ring <- data.frame(image = df$image[first], polygon = df$polygon[first],
                       hole = df$hole[first], area = a)
    out <- stats::aggregate(cbind(area = ring$area, n_holes = ring$hole) ~
                                image + polygon, data = ring, FUN = sum)
    out <- data.frame(image = factor(as.character(out$image),
                                     levels = levels(df$image)),
                      polygon = as.integer(out$polygon),
                      area_mm2 = out$area / 1e6,
                      n_holes = as.integer(out$n_holes))
    out[order(out$image, out$polygon), , drop = FALSE]
}

# Contour rings from C (x, y, ring_start, polygon, hole) as a vertex frame,
# shifted back by (x0, y0).
contour_frame <- function(res, x0, y0) {
    len <- diff(res[[3]])
    poly <- res[[4]]
    hole <- res[[5]]
    # ring numbers within each polygon: the outer ring first
    o <- order(poly, hole)
    ring <- integer(length(poly))
    ring[o] <- stats::ave(seq_along(o), poly[o], FUN = seq_along)
    data.frame(polygon = rep(poly, len), ring = rep(ring, len),
               hole = rep(hole, len), x = res[[1]] + x0, y = res[[2]] + y0)
}

#' Use polygons as tumour regions
#'
#' Turns a polygon description (a vertex data frame with columns `x`, `y`
#' and optionally `image`, `polygon`, `ring`, `hole`, such as the true
#' tumour polygons of [simulate_tme()], an sf polygon or a spatstat `owin`)
#' into an `immunoscape_regions` object for the images of `cells`.
#' Polygons are validated as tissue windows are (see [tissue_window()]).
#'
#' @param x Polygons.
#' @param cells The `spatial_cells` the regions belong to.
#' @param ... Unused.
#' @param image_edge Distance (microns) within which the outline is taken
#'   to run along the edge of the image, not a tumour border (see
#'   [tumor_regions()], "The edge of the image"); `NULL`: the default there
#'   for polygons, and the flags it already has for an
#'   `immunoscape_regions` object.
#' @param nthreads Number of OpenMP threads.
#' @returns An `immunoscape_regions` object (see [tumor_regions()]).
#' @export
#' @examples
#' df <- data.frame(x = c(10, 50, 90), y = c(10, 80, 30),
#'                  type = c("Tumor", "Tumor", "CD8 T"))
#' cells <- spatial_cells(df)
#' sq <- data.frame(x = c(0, 60, 60, 0), y = c(0, 0, 60, 60))
#' reg <- as_regions(sq, cells)
#' compartments(cells, reg, margin = 20)
as_regions <- function(x, cells, ..., image_edge = NULL,
                       nthreads = immunoscape_threads()) {
    check_dots(...)
    cells <- check_cells(cells)
    if (!is.null(image_edge)) check_nonneg(image_edge)
    nthreads <- check_nthreads(nthreads)
    if (inherits(x, "immunoscape_regions")) {
        x <- check_regions(x, cells)
        if (is.null(image_edge)) return(x)
        return(finish_regions(x, cells, image_edge, nthreads))
    }
    polygon_regions(x, cells, image_edge, nthreads)
}

# Regions from a polygon data frame (as_regions(), and check_regions() for
# polygons handed to compartments() and friends, named `arg` in errors).
polygon_regions <- function(x, cells, image_edge, nthreads, arg = "x",
                            call = rlang::caller_env()) {
    w <- as_window(x, images = levels(cells$image))
    ex <- cells_extent(cells)
    have <- unique(as.character(w$image))
    notes <- data.frame(image = setdiff(levels(cells$image), have))
    notes$note <- rep("no region polygon", nrow(notes))
    out <- structure(as.data.frame(unclass(w)),
                     class = c("immunoscape_regions", "immunoscape_result",
                               "data.frame"),
                     areas = regions_areas(w), notes = notes,
                     method = "polygons", tissue = NULL, parameters = NULL,
                     extent = ex)
    check_regions_extent(out, cells, arg, call)
    finish_regions(out, cells, image_edge, nthreads)
}

cells_extent <- function(cells) {
    parts <- split(seq_len(nrow(cells)), cells$image)
    parts <- parts[lengths(parts) > 0L]
    do.call(rbind, lapply(names(parts), function(im) {
        i <- parts[[im]]
        data.frame(image = im, xmin = min(cells$x[i]), xmax = max(cells$x[i]),
                   ymin = min(cells$y[i]), ymax = max(cells$y[i]))
    }))
}

# Regions handed to compartments() and friends: tumor_regions() output or
# polygons, for the same images (and roughly the same place) as `cells`.
check_regions <- function(regions, cells, arg = rlang::caller_arg(regions),
                          call = rlang::caller_env()) {
    if (missing(regions)) {
        stop_immunoscape(c(
            "{.arg {arg}} is missing: the tumour regions of the cells.",
            "i" = "Build them with {.code tumor_regions(cells)} (or {.fn as_regions} for your own polygons)."
        ), class = "regions", call = call)
    }
    if (!inherits(regions, "immunoscape_regions")) {
        if (is.data.frame(regions) && all(c("x", "y") %in% names(regions))) {
            return(polygon_regions(regions, cells, NULL,
                                   immunoscape_threads(), arg, call))
        }
        stop_immunoscape(c(
            "{.arg {arg}} must be the result of {.fn tumor_regions} (or a polygon data frame), not {.obj_type_friendly {regions}}.",
            "i" = "Build it with {.code tumor_regions(cells)}."
        ), class = "regions", call = call)
    }
    bad <- !all(c("image", "polygon", "ring", "x", "y") %in% names(regions))
    if (!bad && nrow(regions)) {
        key <- paste(regions$image, regions$polygon, regions$ring)
        bad <- anyNA(regions$polygon) || anyNA(regions$ring) ||
            !all(is.finite(regions$x)) || !all(is.finite(regions$y)) ||
            any(table(key) < 3L) || is.unsorted(match(key, unique(key)))
        # reordered vertices: edges that cross
        for (im in if (!bad) unique(as.character(regions$image))) {
            r <- window_rings(regions, im)
            if (length(.Call(ffi_window_crossing, as.numeric(r$x),
                             as.numeric(r$y), r$ring_start))) {
                bad <- TRUE
                break
            }
        }
    }
    if (bad) {
        stop_immunoscape(c(
            "{.arg {arg}} has been edited into invalid polygons (missing or non-finite vertices, rings of fewer than 3 vertices, rows out of order, or crossing edges).",
            "i" = "Rebuild it with {.fn tumor_regions} or {.fn as_regions}."
        ), class = "regions", call = call)
    }
    lv <- levels(cells$image)
    # images of the regions: their levels (images without a polygon too),
    # or, for an image column turned into characters, those with a
    # polygon or a note
    rim <- if (is.factor(regions$image)) levels(regions$image) else
        union(unique(as.character(regions$image)),
              as.character(attr(regions, "notes")$image))
    foreign <- setdiff(unique(as.character(regions$image)), lv)
    missing_img <- setdiff(lv[tabulate(cells$image, length(lv)) > 0L], rim)
    if (length(foreign) || length(missing_img)) {
        stop_immunoscape(c(
            "{.arg {arg}} was not made from these cells: the images differ.",
            "x" = if (length(foreign)) "Regions of image{?s} not in the cells: {.val {foreign}}.",
            "x" = if (length(missing_img)) "Images of the cells without regions: {.val {missing_img}}.",
            "i" = "Run {.code tumor_regions(cells)} on the same cells."
        ), class = "regions", call = call)
    }
    check_regions_extent(regions, cells, arg, call)
    if (is.null(regions$image_edge)) {
        regions$image_edge <- image_edge_flags(regions, cells)
    }
    regions
}

# Regions far from where the cells are (another object with the same image
# names, other units): an error.
check_regions_extent <- function(regions, cells, arg, call) {
    ex <- cells_extent(cells)
    for (k in seq_len(nrow(ex))) {
        s <- regions[as.character(regions$image) == ex$image[k], ,
                     drop = FALSE]
        if (!nrow(s)) next
        pad <- 0.05 * max(ex$xmax[k] - ex$xmin[k], ex$ymax[k] - ex$ymin[k],
                          1)
        if (max(s$x) < ex$xmin[k] - pad || min(s$x) > ex$xmax[k] + pad ||
            max(s$y) < ex$ymin[k] - pad || min(s$y) > ex$ymax[k] + pad) {
            stop_immunoscape(c(
                "{.arg {arg}} was not made from these cells: the regions of image {.val {ex$image[k]}} lie outside its cells.",
                "i" = "Regions x {round(min(s$x))} to {round(max(s$x))}, y {round(min(s$y))} to {round(max(s$y))}; cells x {round(ex$xmin[k])} to {round(ex$xmax[k])}, y {round(ex$ymin[k])} to {round(ex$ymax[k])} (microns).",
                "i" = "Run {.code tumor_regions(cells)} on the same cells, or give polygons in the cells' coordinates."
            ), class = "regions", call = call)
        }
    }
    invisible()
}

#' Signed distance to the tumour border (internal)
#'
#' Exact Euclidean distance (microns) from points to the nearest edge of
#' the region polygons of one image (outer rings and holes) that is a
#' tumour border, not the edge of the image (column `image_edge`, see
#' image_edge_flags()), negative inside a region and 0 on its border; `NA`
#' for every point when the image has no region, `-Inf` / `Inf` when its
#' whole outline is the image edge. Computed in C on a grid of the edges (src/regions.c).
#' Used by [compartments()] and by the TLS and cohort functions.
#'
#' @param regions An `immunoscape_regions` object (or any vertex data frame
#'   with columns `image, polygon, ring, hole, x, y`).
#' @param image One image name.
#' @param x,y Point coordinates (microns).
#' @param nthreads OpenMP threads (results do not depend on it).
#' @returns A numeric vector as long as `x`.
#' @keywords internal
#' @noRd
region_signed_distance <- function(regions, image, x, y,
                                   nthreads = immunoscape_threads()) {
    r <- window_rings(regions, image)
    if (!window_has_rings(r)) return(rep(NA_real_, length(x)))
    .Call(ffi_regions_signed_distance, as.numeric(x), as.numeric(y),
          as.numeric(r$x), as.numeric(r$y), r$ring_start,
          border_rings(regions, image), as.integer(nthreads))
}

# Areas (square microns) of the bands of signed distance
# (-Inf, b1], (b1, b2], ..., (bk, Inf) within the tissue window of one
# image; NA when the image has no region or no window. The blocks of a
# quadtree whose distance range cannot straddle a band limit or the window
# edge are counted whole; the rest are split down to `leaf` microns
# (default: 1/4000 of the window's extent, at least 0.25, and at most a
# quarter of the narrowest band, not below 0.05); a leaf across a band
# limit is shared among the bands by the plane of its corner distances.
# With `tile` > 0: a matrix of the same areas per square tile of that side
# laid from the window's lower-left corner (attribute "tiles": columns,
# rows; tile k = column + row * columns, 0-based).
region_band_areas <- function(regions, window, image, breaks, leaf = NULL,
                              tile = 0, nthreads = immunoscape_threads()) {
    nb <- length(breaks) + 1L
    r <- window_rings(regions, image)
    w <- if (is.null(window)) list(x = double()) else
        window_rings(window, image)
    if (!window_has_rings(r) || !window_has_rings(w)) {
        return(rep(NA_real_, nb))
    }
    ext <- max(diff(range(w$x)), diff(range(w$y)))
    # blocks finer than a quarter of the narrowest band (not below 0.05 um)
    width <- diff(breaks)
    narrow <- if (any(width > 0)) min(width[width > 0]) / 4 else Inf
    leaf <- leaf %||% max(0.05, min(max(0.25, ext / 4000), narrow))
    .Call(ffi_regions_band_area, as.numeric(r$x), as.numeric(r$y),
          r$ring_start, border_rings(regions, image), as.numeric(w$x),
          as.numeric(w$y), w$ring_start,
          as.numeric(breaks), as.numeric(leaf), as.numeric(tile),
          as.integer(nthreads))
}

# ---- the edge of the image is not a tumour border ------------------------

# Per vertex of `df` (a regions vertex frame): TRUE when the edge from it
# to the next vertex of its ring runs along the edge of the image, i.e.
# every point of it lies within `tol` microns of the boundary of the
# tissue window (outer edge or hole) or outside the window. A tumour cut by the edge of a field
# or core has no border there: it goes on beyond the image. `tol` NULL:
# twice the median nearest-neighbour spacing of the image's cells, within
# 15 to 50 microns (the region outline follows the outermost cells, which
# the window follows too, within about a cell spacing). 0: no edge is.
image_edge_flags <- function(df, cells, tol = NULL, nthreads = 1L) {
    flags <- logical(nrow(df))
    windows <- attr(cells, "windows")
    if (!nrow(df) || is.null(windows) || isTRUE(tol == 0)) return(flags)
    rows <- split(seq_len(nrow(df)), as.character(df$image))
    by_image <- split(seq_len(nrow(cells)), cells$image)
    for (im in names(rows)) {
        i <- rows[[im]]
        if (!window_has_rings(window_rings(windows, im))) next
        s <- by_image[[im]]
        t <- tol %||% min(50, max(15, 2 * nn_quantiles(
            cells$x[s], cells$y[s], 0.5, nthreads)))
        nxt <- ring_next(paste(df$polygon[i], df$ring[i]))
        x <- df$x[i]
        y <- df$y[i]
        # near the window's boundary, or beyond it (an outline drawn
        # around the tissue, e.g. by hand or from another image's
        # coordinates, has no tumour-host interface there either), all
        # along the edge: points every t / 2 of its part over the window
        w <- window_rings(windows, im)
        s <- edge_samples(x, y, x[nxt], y[nxt], range(w$x) + c(-t, t),
                          range(w$y) + c(-t, t), t / 2)
        off <- window_bdist(windows, im, s$x, s$y, nthreads) <= t |
            !window_inside(windows, im, s$x, s$y)
        flags[i] <- tabulate(s$edge[!off], length(x)) == 0L
    }
    flags
}

# Points along each segment (x0, y0)-(x1, y1), every `step` or closer,
# over the part of it inside the box `xr` x `yr` (Liang-Barsky clipping;
# a segment missing the box gets no point): list(x, y, edge), `edge` the
# segment of each point.
edge_samples <- function(x0, y0, x1, y1, xr, yr, step) {
    dx <- x1 - x0
    dy <- y1 - y0
    u0 <- rep(0, length(x0))
    u1 <- rep(1, length(x0))
    miss <- logical(length(x0))
    clip <- function(p, q) {
        par <- p == 0
        miss <<- miss | (par & q < 0)
        r <- q / p
        lo <- !par & p < 0
        hi <- !par & p > 0
        u0[lo] <<- pmax(u0[lo], r[lo])
        u1[hi] <<- pmin(u1[hi], r[hi])
    }
    clip(-dx, x0 - xr[1])
    clip(dx, xr[2] - x0)
    clip(-dy, y0 - yr[1])
    clip(dy, yr[2] - y0)
    miss <- miss | u0 > u1
    len <- ifelse(miss, 0, (u1 - u0) * sqrt(dx^2 + dy^2))
    # at most about 1e7 points (hand-drawn outlines of long edges across a
    # whole slide): a coarser step then
    step <- max(step, sum(len) / 1e7)
    n <- ifelse(miss, 0L, pmax(2L, as.integer(ceiling(len / step)) + 1L))
    edge <- rep(seq_along(x0), n)
    # position of each point along its segment, 0 to 1 within [u0, u1]
    k <- sequence(n) - 1L
    f <- k / pmax(1L, n[edge] - 1L)
    u <- u0[edge] + f * (u1[edge] - u0[edge])
    list(x = x0[edge] + u * dx[edge], y = y0[edge] + u * dy[edge],
         edge = edge)
}

# Position of the next vertex of each vertex's ring (rings are runs of
# equal `key`, in order).
ring_next <- function(key) {
    n <- length(key)
    if (!n) return(integer())
    last <- c(key[-1] != key[-n], TRUE)
    first <- c(TRUE, key[-1] != key[-n])
    nxt <- seq_len(n) + 1L
    nxt[last] <- which(first)
    nxt
}

# The tumour border of one image for the C distance code: NULL when every
# edge of the outline is a border (the outline itself is used); otherwise
# list(x, y, ring_start) of the runs of border edges, each as a ring traced
# there and back (degenerate, but distances to it are distances to the
# run); with no border edge at all, ring_start = 0 (distances Inf).
border_rings <- function(regions, image) {
    if (is.null(regions$image_edge)) return(NULL)
    i <- which(regions$image == image)
    # NA counts as border, as everywhere else
    edge <- regions$image_edge[i] %in% TRUE
    if (!any(edge)) return(NULL)
    key <- paste(regions$polygon[i], regions$ring[i])
    bx <- list()
    by <- list()
    for (r in split(seq_along(i), factor(key, unique(key)))) {
        x <- regions$x[i[r]]
        y <- regions$y[i[r]]
        e <- edge[r]
        if (!any(e)) {
            # a whole ring of border
            bx[[length(bx) + 1L]] <- x
            by[[length(by) + 1L]] <- y
            next
        }
        # rotate so that the ring starts after an image edge: runs of
        # border edges then never wrap around
        n <- length(r)
        k0 <- which(e)[1]
        o <- c(seq_len(n)[-seq_len(k0)], seq_len(k0))
        runs <- rle(!e[o])
        ends <- cumsum(runs$lengths)
        starts <- ends - runs$lengths + 1L
        for (k in which(runs$values)) {
            v <- o[starts[k]:ends[k]]
            v <- c(v, v[length(v)] %% n + 1L)
            back <- rev(v)[-c(1L, length(v))]
            vx <- c(x[v], x[back])
            vy <- c(y[v], y[back])
            if (length(vx) < 3L) {
                vx <- c(vx, mean(vx))
                vy <- c(vy, mean(vy))
            }
            bx[[length(bx) + 1L]] <- vx
            by[[length(by) + 1L]] <- vy
        }
    }
    len <- lengths(bx)
    list(as.numeric(unlist(bx)), as.numeric(unlist(by)),
         as.integer(c(0L, cumsum(len))))
}

#' @export
print.immunoscape_regions <- function(x, ...) {
    a <- attr(x, "areas")
    n_img <- nlevels(x$image)
    cat(sprintf("<immunoscape_regions> %d polygon%s in %d of %d image%s (method: %s)\n",
                nrow(a), if (nrow(a) == 1L) "" else "s",
                length(unique(as.character(a$image))), n_img,
                if (n_img == 1L) "" else "s", attr(x, "method")))
    s <- summary(x)
    print(as.data.frame(s), row.names = FALSE)
    invisible(x)
}

#' @export
summary.immunoscape_regions <- function(object, ...) {
    a <- attr(object, "areas")
    lv <- levels(object$image)
    img <- factor(as.character(a$image), levels = lv)
    notes <- attr(object, "notes")
    out <- data.frame(
        image = lv,
        n_polygons = as.integer(tabulate(img, length(lv))),
        n_holes = as.integer(vapply(split(a$n_holes, img), sum, numeric(1))),
        area_mm2 = vapply(split(a$area_mm2, img), sum, numeric(1)),
        image_edge_frac = image_edge_share(object, lv),
        note = notes$note[match(lv, notes$image)]
    )
    rownames(out) <- NULL
    out <- if (is.null(attr(object, "groups"))) {
        carry_result_groups(out, object)
    } else {
        add_groups(out, attr(object, "groups"))
    }
    class(out) <- c("summary_immunoscape_regions", "data.frame")
    out
}

# Share of the outline's length that is image edge, per image (NA without
# a region).
image_edge_share <- function(object, images) {
    df <- as.data.frame(object)
    if (!nrow(df)) return(rep(NA_real_, length(images)))
    nxt <- ring_next(paste(df$image, df$polygon, df$ring))
    len <- sqrt((df$x[nxt] - df$x)^2 + (df$y[nxt] - df$y)^2)
    edge <- if (is.null(df$image_edge)) FALSE else df$image_edge %in% TRUE
    img <- factor(as.character(df$image), levels = images)
    tot <- vapply(split(len, img), sum, numeric(1))
    on <- vapply(split(len * edge, img), sum, numeric(1))
    unname(ifelse(tot > 0, on / tot, NA_real_))
}

#' @export
print.summary_immunoscape_regions <- function(x, ...) {
    print(as.data.frame(unclass(x)), row.names = FALSE)
    invisible(x)
}

#' Map of tumour regions
#'
#' One panel per image with the tumour regions filled (holes left empty),
#' or, with `cells`, the cells beneath the region outlines (as
#' [plot_cells()] with `regions = object`). On a cohort, select images or
#' page through them as in [plot_cells()]; images without a tumour region
#' are named in the caption.
#'
#' @param object An `immunoscape_regions` object.
#' @param cells Optional `spatial_cells` to draw beneath the regions (as
#'   [plot_cells()] with `regions = object`).
#' @param flip_y If `TRUE` (default), y grows downwards as in the image.
#' @param images Images to draw (names, or positions among the images of
#'   the result); `NULL` (default) for all.
#' @param page,max_panels Paging through a cohort: `page = 2` draws the
#'   second group of `max_panels` images. Without `page`, more than
#'   `max_panels` images (default 25) are all drawn with a warning of class
#'   `immunoscape_warning_panels`.
#' @param ... Passed to [plot_cells()] when `cells` is given.
#' @returns A `ggplot` object.
#' @export
autoplot.immunoscape_regions <- function(object, cells = NULL, flip_y = TRUE,
                                         images = NULL, page = NULL,
                                         max_panels = 25L, ...) {
    if (!is.null(cells)) {
        return(plot_cells(cells, regions = object, flip_y = flip_y,
                          images = images, page = page,
                          max_panels = max_panels, ...))
    }
    check_dots(...)
    check_flag(flip_y)
    check_plot_rows(as.data.frame(object), "regions", region_plot_hint)
    images <- page_images(select_images(levels(object$image), images), page,
                          max_panels)
    rings <- closed_rings(object, images)
    rings$.poly <- paste(rings$image, rings$polygon, sep = "/")
    p <- ggplot2::ggplot(rings, ggplot2::aes(.data$x, .data$y,
                                             group = .data$.poly,
                                             subgroup = .data$.ring)) +
        ggplot2::geom_polygon(fill = "#E7B7B0", colour = "#B2182B",
                              linewidth = 0.4) +
        ggplot2::labs(x = "x (\u00b5m)", y = "y (\u00b5m)",
                      title = "Tumour regions",
                      caption = missing_caption(
                          setdiff(images, as.character(rings$image)),
                          "no tumour region"))
    p <- image_edge_overlay(p, object, images)
    finish_map(p, length(unique(as.character(rings$image))), flip_y)
}
