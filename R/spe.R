# Interoperability: Bioconductor (SingleCellExperiment, SpatialExperiment),
# spatstat (ppp, owin) and sf. All of these packages are suggested, not
# imported: each function checks for the one it needs.

# Coordinate column pairs guessed in colData, in order.
coord_pairs <- list(
    c("x", "y"), c("x_um", "y_um"), c("X", "Y"), c("Pos_X", "Pos_Y"),
    c("x_centroid", "y_centroid"), c("X_centroid", "Y_centroid"),
    c("centroid_x", "centroid_y"), c("Cell X Position", "Cell Y Position"),
    c("Location_Center_X", "Location_Center_Y"), c("x_coord", "y_coord"),
    c("pxl_col_in_fullres", "pxl_row_in_fullres")
)

#' Convert Bioconductor and spatstat objects to `spatial_cells`
#'
#' Methods of [as_spatial_cells()] for single-cell and point-pattern
#' objects.
#'
#' * `SingleCellExperiment` / `SpatialExperiment`: one cell per column.
#'   Coordinates come from `coords` (two `colData` columns) if given, else
#'   from the `spatialCoords` of a SpatialExperiment (read from
#'   `int_colData()`, so the SpatialExperiment package itself is not
#'   needed), else from a reduced dimension named `spatial`, else from
#'   `colData` columns with common names (`x`/`y`, `x_um`/`y_um`,
#'   `Pos_X`/`Pos_Y`, `X_centroid`/`Y_centroid`, ...). The image is
#'   `colData` column `image` (default `sample_id`, the SpatialExperiment
#'   convention, else a guessed column such as `image_id` or `ImageNb`, else
#'   one image). The type is `colData` column `type` (default: a guessed
#'   column such as `cell_type`, `celltype`, `phenotype`, `cluster`,
#'   `label`; cells are `"unassigned"` if there is none). Cell ids come
#'   from a `colData` column such as `cell_id` or `CellID`, else from the
#'   column names, when unique within images. All `colData`
#'   columns are kept; `assay` adds the rows of an assay as columns. The
#'   windows stored by [as_sce()] / [as_spe()] in `metadata()` are used
#'   again unless `window` is given. The columns guessed are named in one
#'   message, with the argument that chooses another.
#'
#'   Every analysis function (distances, neighbours, K/L/pcf/G,
#'   interaction tests, neighbourhoods, hotspots, ...) also takes a
#'   `SingleCellExperiment` or `SpatialExperiment` directly: it is converted
#'   by this method with its defaults, or with the arguments in the option
#'   `immunoscape.bioc`, e.g.
#'   `options(immunoscape.bioc = list(type = "cell_type", image = "fov"))`;
#'   the guesses are said once per session. Per-cell results go back into
#'   `colData()` with [add_cell_results()].
#' * spatstat `ppp`: marks become the type (a factor or character vector;
#'   for a data frame of marks, column `type`, else the first factor or
#'   character column; the other mark columns are kept). The window is kept
#'   exactly (rectangles and polygons with holes; masks are converted to
#'   polygons). Coordinates are converted to microns from the pattern's
#'   unit (`unitname()`: microns, millimetres, nanometres, with their
#'   multiplier) unless `pixel_size` is given.
#'
#' @param x A `SingleCellExperiment`, `SpatialExperiment` or spatstat `ppp`.
#' @param ... Unused; a misspelled argument is an error.
#' @param type Name of the `colData` column (or, for a `ppp`, of the mark
#'   column) holding the cell type; `NULL` guesses.
#' @param image Name of the `colData` column identifying images; `NULL`
#'   uses `sample_id` or a guessed column. For a `ppp`: the image name
#'   (default `"image1"`).
#' @param coords Two `colData` column names giving x and y; `NULL` uses
#'   `spatialCoords` or guesses.
#' @param cell_id Name of a `colData` column of cell ids; `NULL` uses a
#'   column such as `cell_id`, else the column names of `x`, when unique
#'   within images, else numbers the cells.
#' @param assay Name (or index) of an assay whose rows are added as
#'   columns (e.g. marker intensities); `NULL` adds none.
#' @param pixel_size Microns per coordinate unit. For a `ppp`, `NULL`
#'   reads it from the pattern's unit (1 when the unit is unknown).
#' @param window Passed to [spatial_cells()] (not for `ppp`, whose window
#'   is kept).
#' @param groups Image-level grouping columns of `colData` (e.g. the
#'   patient), see [set_groups()]; `NULL` takes those stored by [as_sce()]
#'   / [as_spe()], else a `patient` column constant within images.
#' @returns A `spatial_cells` object (see [spatial_cells()]).
#' @seealso [as.ppp.spatial_cells()] and [as_sf()] for the other direction.
#' @name as_spatial_cells_interop
#' @examplesIf requireNamespace("spatstat.data", quietly = TRUE)
#' data(betacells, package = "spatstat.data")
#' cells <- as_spatial_cells(betacells)
#' table(cells$type)
#' window_area(cells)
NULL

#' @rdname as_spatial_cells_interop
#' @export
as_spatial_cells.SingleCellExperiment <- function(x, ..., type = NULL,
                                                  image = NULL,
                                                  coords = NULL,
                                                  cell_id = NULL,
                                                  assay = NULL,
                                                  pixel_size = 1,
                                                  window = "convex",
                                                  groups = NULL) {
    call <- rlang::current_env()
    check_dots(..., call = call)
    rlang::check_installed(c("SingleCellExperiment", "SummarizedExperiment"),
                           reason = "to convert a SingleCellExperiment.")
    cd <- SummarizedExperiment::colData(x)
    df <- as.data.frame(cd, optional = TRUE, stringsAsFactors = FALSE)
    names(df) <- colnames(cd)
    rownames(df) <- NULL
    n <- ncol(x)
    if (n == 0L) {
        stop_immunoscape("{.arg x} has no cells (columns).", class = "empty",
                         call = call)
    }
    sel <- sce_columns(x, df, type = type, image = image, coords = coords,
                       cell_id = cell_id, call = call)
    df <- sel$df
    if (length(sel$guessed)) {
        shown <- paste0(names(sel$guessed), " = ",
                        ifelse(names(sel$guessed) == "coords", "c(\"", "\""),
                        sel$guessed,
                        ifelse(names(sel$guessed) == "coords", "\")", "\""))
        inform_immunoscape(c(
            "i" = "{.fn colData} columns taken: {.code {shown}}.",
            "i" = "Name others with {.arg {names(sel$guessed)}}."
        ))
    }
    if (sel$type == ".immunoscape_type") {
        inform_immunoscape(c(
            "i" = "No cell-type column in {.fn colData}; all {n} cell{?s} are {.val unassigned}.",
            "i" = "Name one with {.arg type}."
        ))
    }
    if (!is.null(assay)) {
        a <- SummarizedExperiment::assay(x, assay)
        a <- t(as.matrix(a))
        colnames(a) <- rownames(x) %||% paste0("feature", seq_len(ncol(a)))
        df <- cbind(df, as.data.frame(a, optional = TRUE))
    }
    # windows stored by as_sce() / as_spe() (microns, as the coordinates
    # there), when the images still match and the coordinates are not
    # rescaled; and the image order stored with them
    meta <- tryCatch(S4Vectors::metadata(x)$immunoscape,
                     error = function(e) NULL)
    present <- if (!is.null(sel$image)) {
        as.character(unique(df[[sel$image]]))
    }
    if (!is.null(present) && is.character(meta$image_levels) &&
        all(present %in% meta$image_levels)) {
        df[[sel$image]] <- factor(as.character(df[[sel$image]]),
                                  levels = intersect(meta$image_levels,
                                                     present))
    }
    if (missing(window)) {
        w <- meta$windows
        if (is.data.frame(w) && !is.null(present) && pixel_size == 1) {
            class(w) <- "data.frame"
            w <- w[as.character(w$image) %in% present, , drop = FALSE]
            if (setequal(present, as.character(unique(w$image)))) {
                w$image <- as.character(w$image)
                rownames(w) <- NULL
                window <- w
            }
        }
    }
    # image-level groups stored by as_sce() / as_spe(), else a patient
    # column of colData (see set_groups())
    if (is.null(groups)) {
        g <- tryCatch(S4Vectors::metadata(x)$immunoscape$groups,
                      error = function(e) NULL)
        if (is.character(g) && length(g) && all(g %in% names(df))) groups <- g
    }
    out <- spatial_cells(df, x = sel$x, y = sel$y, type = sel$type,
                         image = sel$image, cell_id = sel$cell_id,
                         pixel_size = pixel_size, window = window,
                         groups = groups)
    # the pixel size the cells were read with (their coordinates in the
    # object are microns already)
    if (missing(pixel_size) && is.numeric(meta$pixel_size)) {
        attr(out, "pixel_size") <- meta$pixel_size
    }
    out
}

# The columns of a (Spatial/SingleCell)Experiment's colData that
# as_spatial_cells() uses: list(df (colData plus helper columns), x, y,
# type, image, cell_id, guessed = named guesses to report).
sce_columns <- function(x, df, type = NULL, image = NULL, coords = NULL,
                        cell_id = NULL, call = rlang::caller_env()) {
    for (arg in c("type", "image", "cell_id")) {
        check_column(df, get(arg), arg, call = call, required = FALSE)
    }
    n <- ncol(x)
    guessed <- character()
    xy <- sce_coordinates(x, df, coords, call = call)
    if (is.character(xy)) {
        xcol <- xy[1]
        ycol <- xy[2]
        if (is.null(coords) && !identical(xy, c("x", "y"))) {
            guessed[["coords"]] <- paste(xy, collapse = "\", \"")
        }
    } else {
        df$.immunoscape_x <- xy[, 1]
        df$.immunoscape_y <- xy[, 2]
        xcol <- ".immunoscape_x"
        ycol <- ".immunoscape_y"
    }
    if (is.null(image)) {
        image <- if ("sample_id" %in% names(df)) "sample_id" else
            guess_image_column(df, exclude = c(xcol, ycol, type))
        if (!is.null(image) && !image %in% c("sample_id", "image")) {
            guessed[["image"]] <- image
        }
    }
    if (is.null(type)) {
        type <- pick_column(setdiff(names(df), image),
                            c(guess_type, "cell_label", "celltype_major",
                              "CellType"))
        if (!is.null(type) && type != "type") guessed[["type"]] <- type
    }
    if (is.null(type)) {
        df$.immunoscape_type <- "unassigned"
        type <- ".immunoscape_type"
    }
    if (is.null(cell_id)) {
        img <- if (is.null(image)) rep(1L, n) else df[[image]]
        unique_ids <- function(v) {
            !is.null(v) && !anyNA(v) && !any_duplicated_pair(img, v)
        }
        guess <- pick_column(names(df), guess_cell_id)
        if (!is.null(guess) && unique_ids(df[[guess]])) {
            cell_id <- guess
        } else if (unique_ids(colnames(x))) {
            df$.immunoscape_id <- colnames(x)
            cell_id <- ".immunoscape_id"
        }
    }
    list(df = df, x = xcol, y = ycol, type = type, image = image,
         cell_id = cell_id, guessed = guessed)
}

#' @rdname as_spatial_cells_interop
#' @export
as_spatial_cells.SpatialExperiment <- as_spatial_cells.SingleCellExperiment

# Coordinates of the cells of a (Spatial/SingleCell)Experiment: the names of
# two colData columns, or an n x 2 matrix.
sce_coordinates <- function(x, df, coords, call) {
    if (!is.null(coords)) {
        if (!is.character(coords) || length(coords) != 2L || anyNA(coords)) {
            stop_immunoscape(
                "{.arg coords} must name two {.fn colData} columns (x and y), not {.obj_type_friendly {coords}}.",
                class = "column", call = call
            )
        }
        check_column(df, coords[1], "coords", call = call)
        check_column(df, coords[2], "coords", call = call)
        return(coords)
    }
    sc <- tryCatch(SingleCellExperiment::int_colData(x)$spatialCoords,
                   error = function(e) NULL)
    if (is.matrix(sc) && nrow(sc) == ncol(x) && ncol(sc) >= 2L) {
        return(sc[, 1:2, drop = FALSE])
    }
    rd <- tryCatch(SingleCellExperiment::reducedDimNames(x),
                   error = function(e) character())
    hit <- rd[tolower(rd) %in% c("spatial", "spatialcoords", "coords")]
    if (length(hit)) {
        m <- SingleCellExperiment::reducedDim(x, hit[1])
        if (ncol(m) >= 2L) return(as.matrix(m)[, 1:2, drop = FALSE])
    }
    for (p in coord_pairs) {
        if (all(p %in% names(df))) return(p)
    }
    stop_immunoscape(c(
        "Cannot find cell coordinates in {.arg x}.",
        "i" = "Looked for {.fn spatialCoords}, a {.val spatial} reduced dimension and {.fn colData} columns such as {.val x}/{.val y}, {.val Pos_X}/{.val Pos_Y}.",
        "i" = "Name the columns with {.code coords = c(\"<x column>\", \"<y column>\")}."
    ), class = "column", call = call)
}

#' @rdname as_spatial_cells_interop
#' @export
as_spatial_cells.ppp <- function(x, ..., type = NULL, image = "image1",
                                 pixel_size = NULL) {
    call <- rlang::current_env()
    check_dots(..., call = call)
    rlang::check_installed("spatstat.geom",
                           reason = "to convert a spatstat point pattern.")
    check_string(image, call = call)
    if (x$n == 0L) {
        stop_immunoscape("The point pattern {.arg x} has no points.",
                         class = "empty", call = call)
    }
    px <- pixel_size %||% ppp_micron_factor(x)
    if (!is.numeric(px) || length(px) != 1L || !is.finite(px) || px <= 0) {
        stop_immunoscape(
            "{.arg pixel_size} must be one positive number (microns per unit).",
            class = "argument", call = call
        )
    }
    df <- data.frame(x = x$x, y = x$y)
    m <- x$marks
    tcol <- NULL
    if (is.data.frame(m) || (is.list(m) && !is.null(names(m)))) {
        m <- as.data.frame(m, stringsAsFactors = FALSE)
        if (!is.null(type)) {
            check_column(m, type, "type", call = call)
            tcol <- type
        } else {
            cand <- names(m)[vapply(m, function(v) {
                is.factor(v) || is.character(v)
            }, logical(1))]
            tcol <- if ("type" %in% names(m)) "type" else cand[1]
        }
        if (length(tcol) && !is.na(tcol)) {
            df$type <- m[[tcol]]
            m <- m[setdiff(names(m), tcol)]
        }
        if (ncol(m)) df <- cbind(df, m)
    } else if (!is.null(m)) {
        if (!is.null(type)) {
            stop_immunoscape(
                "{.arg type} names a mark column, but the marks of {.arg x} are a single vector.",
                class = "argument", call = call
            )
        }
        if (is.factor(m) || is.character(m) || is.logical(m)) {
            df$type <- m
        } else {
            df$marks <- m
        }
    }
    if (is.null(df$type)) {
        inform_immunoscape(c(
            "i" = "The point pattern has no categorical marks; its points are {.val unassigned}."
        ))
        df$type <- "unassigned"
    }
    df$image <- image
    w <- as_window.owin(x$window, images = image, call = call)
    w$x <- w$x * px
    w$y <- w$y * px
    out <- spatial_cells(df, x = "x", y = "y", type = "type",
                         image = "image", pixel_size = px, window = w)
    out
}

# Microns per unit of a ppp, from its unitname (1 if unknown).
ppp_micron_factor <- function(x) {
    u <- unclass(spatstat.geom::unitname(x))
    if (!length(u) || is.null(u$singular)) return(1)
    name <- tolower(u$singular)
    mult <- u$multiplier %||% 1
    scale <- if (name %in% c("micron", "microns", "um", "\u00b5m",
                             "micrometre", "micrometer")) {
        1
    } else if (name %in% c("mm", "millimetre", "millimeter")) {
        1000
    } else if (name %in% c("nm", "nanometre", "nanometer")) {
        1e-3
    } else if (name %in% c("cm", "centimetre", "centimeter")) {
        1e4
    } else {
        NA_real_
    }
    if (is.na(scale)) {
        if (!name %in% c("unit", "units")) {
            inform_immunoscape(c(
                "i" = "Unknown unit {.val {u$singular}} of the point pattern; coordinates are taken as microns.",
                "i" = "Give {.arg pixel_size} (microns per unit) to convert them."
            ))
        }
        return(1)
    }
    scale * mult
}

#' Convert `spatial_cells` to a spatstat point pattern
#'
#' One image of a `spatial_cells` object as a spatstat `ppp` with the cell
#' types as marks and the image's window as the observation window
#' (a rectangle stays a rectangle; polygons keep their holes). Coordinates
#' are in microns.
#'
#' @param X A `spatial_cells` object.
#' @param W An optional window (`owin` or anything
#'   [spatstat.geom::as.owin()] accepts) replacing the image's window.
#' @param ... Unused.
#' @param fatal If `FALSE`, return `NULL` instead of raising an error.
#' @param image The image to convert; may be omitted when there is one.
#' @returns A spatstat `ppp` with factor marks (the cell types, with the
#'   levels of the whole object) and unit "micron".
#' @seealso [as_spatial_cells()] for the other direction.
#' @exportS3Method spatstat.geom::as.ppp
#' @examplesIf requireNamespace("spatstat.geom", quietly = TRUE)
#' df <- data.frame(x = c(0, 100, 100, 0, 40, 60),
#'                  y = c(0, 0, 80, 80, 30, 50),
#'                  type = c("A", "B", "A", "B", "A", "B"))
#' cells <- spatial_cells(df, window = "rectangle")
#' spatstat.geom::as.ppp(cells)
as.ppp.spatial_cells <- function(X, W = NULL, ..., fatal = TRUE,
                                 image = NULL) {
    call <- rlang::current_env()
    run <- function() {
        check_dots(..., call = call)
        rlang::check_installed("spatstat.geom",
                               reason = "to build a spatstat point pattern.")
        cells <- check_cells(X, "X", call = call)
        sub <- one_image(cells, image, call = call)
        im <- as.character(sub$image[1])
        win <- if (is.null(W)) {
            w <- attr(cells, "windows")
            if (!any(w$image == im)) {
                stop_immunoscape(c(
                    "Image {.val {im}} has no window (its cells span no area).",
                    "i" = "Give one as {.arg W}, or set one with {.fn set_window}."
                ), class = "window", call = call)
            }
            window_to_owin(w, im)
        } else {
            spatstat.geom::as.owin(W)
        }
        out <- spatstat.geom::ppp(sub$x, sub$y, window = win,
                                  marks = sub$type, check = !is.null(W))
        spatstat.geom::unitname(out) <- c("micron", "microns")
        out
    }
    if (isTRUE(fatal)) return(run())
    tryCatch(run(), error = function(e) NULL)
}

# The cells of one image (named, or the only one).
one_image <- function(cells, image, call) {
    imgs <- levels(droplevels(cells$image))
    if (is.null(image)) {
        if (length(imgs) > 1L) {
            stop_immunoscape(c(
                "{.arg X} has {length(imgs)} images; choose one with {.arg image}.",
                "i" = "Images: {.val {utils::head(imgs, 10)}}{if (length(imgs) > 10) ' ...'}."
            ), class = "argument", call = call)
        }
        image <- imgs
    }
    if (!is.character(image) || length(image) != 1L || !image %in% imgs) {
        stop_immunoscape(c(
            "{.arg image} must name one image of the cells, not {.val {format(image)}}.",
            "i" = "Images: {.val {utils::head(imgs, 10)}}{if (length(imgs) > 10) ' ...'}."
        ), class = "argument", call = call)
    }
    cells[cells$image == image, ]
}

# The window of one image as an owin: a rectangle when it is one.
window_to_owin <- function(w, image) {
    s <- w[w$image == image, , drop = FALSE]
    key <- paste(s$polygon, s$ring)
    rings <- split(s, factor(key, levels = unique(key)))
    if (length(rings) == 1L) {
        r <- rings[[1]]
        if (nrow(r) == 4L && is_rectangle(r$x, r$y)) {
            return(spatstat.geom::owin(range(r$x), range(r$y)))
        }
    }
    poly <- lapply(rings, function(r) list(x = r$x, y = r$y))
    names(poly) <- NULL
    spatstat.geom::owin(poly = poly)
}

is_rectangle <- function(x, y) {
    ux <- unique(x)
    uy <- unique(y)
    length(ux) == 2L && length(uy) == 2L &&
        all(table(x) == 2L) && all(table(y) == 2L) &&
        # consecutive vertices share x or y (no bow tie)
        all((x == c(x[-1], x[1])) | (y == c(y[-1], y[1])))
}

#' Convert to simple features (sf)
#'
#' `as_sf()` turns cells into an sf data frame of points and tissue
#' windows into polygons, for GIS-style work (overlays with annotations,
#' buffers, export to GeoJSON for QuPath).
#'
#' @param x A `spatial_cells` object or a `tissue_window`.
#' @param ... Unused.
#' @returns For `spatial_cells`: an `sf` data frame with one row per cell,
#'   all columns of `x` (including `x` and `y`) and a `POINT` geometry
#'   column `geometry` (no CRS; microns). For a `tissue_window`: an `sf`
#'   data frame with one row per image, columns `image` and `geometry`
#'   (`POLYGON`, or `MULTIPOLYGON` when some image has several pieces;
#'   holes kept).
#' @export
#' @examplesIf requireNamespace("sf", quietly = TRUE)
#' df <- data.frame(x = c(0, 100, 100, 0, 40), y = c(0, 0, 80, 80, 30),
#'                  type = c("A", "B", "A", "B", "A"))
#' cells <- spatial_cells(df)
#' as_sf(cells)
#' as_sf(get_window(cells))
as_sf <- function(x, ...) {
    UseMethod("as_sf")
}

#' @rdname as_sf
#' @export
as_sf.spatial_cells <- function(x, ...) {
    check_dots(...)
    rlang::check_installed("sf", reason = "to build simple features.")
    df <- as.data.frame(x)
    attr(df, "source") <- NULL
    sf::st_as_sf(df, coords = c("x", "y"), remove = FALSE)
}

#' @rdname as_sf
#' @export
as_sf.tissue_window <- function(x, ...) {
    check_dots(...)
    rlang::check_installed("sf", reason = "to build simple features.")
    # images without a window (degenerate images of a cohort) have no row
    lv <- intersect(levels(x$image), as.character(x$image))
    parts <- lapply(lv, function(im) window_polygons(x[x$image == im, ]))
    multi <- any(lengths(parts) > 1L)
    geoms <- lapply(parts, function(p) {
        if (multi) sf::st_multipolygon(p) else sf::st_polygon(p[[1]])
    })
    sf::st_sf(image = factor(lv, levels = levels(x$image)),
              geometry = sf::st_sfc(geoms))
}

#' @export
as_sf.default <- function(x, ...) {
    stop_immunoscape(
        "{.fn as_sf} needs a {.cls spatial_cells} or {.cls tissue_window}, not {.obj_type_friendly {x}}.",
        class = "argument"
    )
}

# Rings of one image's window as a list of polygons, each a list of closed
# coordinate matrices (outer ring first, then its holes).
window_polygons <- function(s) {
    closed <- function(r) {
        m <- cbind(r$x, r$y)
        rbind(m, m[1, , drop = FALSE])
    }
    out <- list()
    for (p in unique(s$polygon)) {
        sp <- s[s$polygon == p, , drop = FALSE]
        rings <- split(sp, factor(sp$ring, levels = unique(sp$ring)))
        outer <- Filter(function(r) !r$hole[1], rings)
        holes <- Filter(function(r) r$hole[1], rings)
        if (!length(outer)) next
        out[[length(out) + 1L]] <- c(list(closed(outer[[1]])),
                                     lapply(holes, closed))
        for (o in outer[-1]) out[[length(out) + 1L]] <- list(closed(o))
    }
    out
}

#' @export
as_window.sfc <- function(x, images = NULL, ..., call = rlang::caller_env()) {
    check_dots(...)
    df <- sfc_vertices(x, call = call)
    df$feature <- NULL
    as_window.data.frame(df, images = images, call = call)
}

#' @export
as_window.sf <- function(x, images = NULL, ..., call = rlang::caller_env()) {
    check_dots(...)
    rlang::check_installed("sf", reason = "to read simple-feature polygons.")
    df <- sfc_vertices(sf::st_geometry(x), call = call)
    if ("image" %in% names(x)) {
        df$image <- as.character(x$image)[df$feature]
        images <- images %||% if (is.factor(x$image)) {
            levels(x$image)
        } else {
            unique(as.character(x$image))
        }
    }
    df$feature <- NULL
    as_window.data.frame(df, images = images, call = call)
}

# Polygon vertices of POLYGON / MULTIPOLYGON geometries (rings unclosed),
# with the feature (row) each belongs to.
sfc_vertices <- function(x, call) {
    rlang::check_installed("sf", reason = "to read simple-feature polygons.")
    gt <- as.character(sf::st_geometry_type(x))
    if (!length(gt) || any(!gt %in% c("POLYGON", "MULTIPOLYGON"))) {
        stop_immunoscape(
            "A window from sf must be made of POLYGON or MULTIPOLYGON geometries, not {.val {unique(gt)}}.",
            class = "window", call = call
        )
    }
    if (any(gt == "POLYGON") && any(gt == "MULTIPOLYGON")) {
        x <- sf::st_cast(x, "MULTIPOLYGON")
    }
    xy <- sf::st_coordinates(x)
    if (!nrow(xy)) {
        stop_immunoscape(c(
            "The sf window is empty: its polygons have no vertices.",
            "i" = "Give a non-empty POLYGON or MULTIPOLYGON, or leave {.arg window} at its default."
        ), class = "window", call = call)
    }
    lcols <- grep("^L[0-9]$", colnames(xy), value = TRUE)
    feature <- xy[, lcols[length(lcols)]]
    piece <- if (length(lcols) == 3L) xy[, "L2"] else rep(1, nrow(xy))
    pk <- paste(feature, piece)
    df <- data.frame(polygon = match(pk, unique(pk)),
                     ring = as.integer(xy[, "L1"]),
                     hole = xy[, "L1"] > 1, x = unname(xy[, "X"]),
                     y = unname(xy[, "Y"]), feature = feature)
    key <- paste(df$polygon, df$ring)
    last <- !duplicated(key, fromLast = TRUE)
    df[!last, , drop = FALSE]
}
