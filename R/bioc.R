# Back to Bioconductor: spatial_cells -> SingleCellExperiment /
# SpatialExperiment, per-cell results -> colData, and SingleCellExperiment
# or SpatialExperiment objects accepted by every analysis function (through
# check_cells()). The Bioconductor packages are suggested, not imported.

#' Convert `spatial_cells` to a SingleCellExperiment or SpatialExperiment
#'
#' `as_sce()` gives a `SingleCellExperiment` with one column per cell and
#' every column of the cells (`cell_id`, `image`, `x`, `y`, `type`, the
#' rest) in `colData()`; `as_spe()` gives a `SpatialExperiment` with the
#' coordinates (microns) in `spatialCoords()` and the image as `sample_id`.
#' `as(cells, "SingleCellExperiment")` and `as(cells, "SpatialExperiment")`
#' do the same once the Bioconductor package is loaded. The tissue windows,
#' the pixel size and the image-level groups ([set_groups()], e.g. the
#' patient) are kept in `metadata(x)$immunoscape`, so that
#' [as_spatial_cells()] gives the same cells back.
#'
#' Numeric columns named in `assay_columns` (marker intensities, say) become
#' the rows of an assay instead of `colData` columns. Without them the
#' object has no rows (features), which Bioconductor allows.
#'
#' Results go back with [add_cell_results()]; the analysis functions take
#' the Bioconductor object directly (see [as_spatial_cells_interop]).
#'
#' @param cells A `spatial_cells` object.
#' @param assay_columns Names of numeric columns of `cells` to move into an
#'   assay (one row per column); `NULL` for none.
#' @param assay_name Name of that assay.
#' @param ... Unused.
#' @returns A `SingleCellExperiment` (`as_sce()`) or `SpatialExperiment`
#'   (`as_spe()`); column names `<image>_<cell_id>` (or the cell ids when
#'   they are unique across images).
#' @seealso [as_spatial_cells()] for the other direction,
#'   [add_cell_results()].
#' @export
#' @examplesIf requireNamespace("SingleCellExperiment", quietly = TRUE)
#' df <- data.frame(x = c(0, 100, 100, 0, 40), y = c(0, 0, 80, 80, 30),
#'                  type = c("Tumor", "CD8 T", "Tumor", "CD8 T", "Tumor"),
#'                  CD8 = c(0.1, 3.2, 0.2, 2.9, 0.1))
#' cells <- spatial_cells(df)
#' sce <- as_sce(cells, assay_columns = "CD8")
#' sce
#' identical(as.data.frame(as_spatial_cells(sce, assay = "intensities")),
#'           as.data.frame(cells))
as_sce <- function(cells, assay_columns = NULL, assay_name = "intensities",
                   ...) {
    call <- rlang::current_env()
    check_dots(..., call = call)
    rlang::check_installed(c("SingleCellExperiment", "S4Vectors"),
                           reason = "to build a SingleCellExperiment.")
    parts <- bioc_parts(cells, assay_columns, assay_name, call = call)
    sce <- SingleCellExperiment::SingleCellExperiment(
        assays = parts$assays,
        colData = S4Vectors::DataFrame(parts$df, check.names = FALSE,
                                       row.names = parts$names),
        metadata = list(immunoscape = parts$meta)
    )
    colnames(sce) <- parts$names
    sce
}

#' @rdname as_sce
#' @export
as_spe <- function(cells, assay_columns = NULL, assay_name = "intensities",
                   ...) {
    call <- rlang::current_env()
    check_dots(..., call = call)
    rlang::check_installed(c("SpatialExperiment", "S4Vectors"),
                           reason = "to build a SpatialExperiment.")
    parts <- bioc_parts(cells, assay_columns, assay_name, call = call)
    df <- parts$df
    xy <- cbind(x = df$x, y = df$y)
    rownames(xy) <- parts$names
    df$x <- NULL
    df$y <- NULL
    sample_id <- as.character(df$image)
    df$image <- NULL
    # the image is the SpatialExperiment's sample_id: a column of that name
    # in the cells is kept under another name
    if ("sample_id" %in% names(df)) {
        inform_immunoscape(c(
            "i" = "Column {.field sample_id} of {.arg cells} is stored as {.field sample_id_input}: {.field sample_id} holds the image."
        ))
        names(df)[names(df) == "sample_id"] <- "sample_id_input"
    }
    spe <- SpatialExperiment::SpatialExperiment(
        assays = parts$assays,
        colData = S4Vectors::DataFrame(df, check.names = FALSE,
                                       row.names = parts$names),
        metadata = list(immunoscape = parts$meta),
        sample_id = sample_id, spatialCoords = xy
    )
    colnames(spe) <- parts$names
    spe
}

# What as_sce() and as_spe() share: colData columns, assays, column names,
# metadata.
bioc_parts <- function(cells, assay_columns, assay_name, call) {
    cells <- check_cells(cells, "cells", call = call)
    check_string(assay_name, call = call)
    df <- as.data.frame(cells)
    assays <- list()
    if (length(assay_columns)) {
        for (a in assay_columns) check_column(df, a, "assay_columns", call = call)
        bad <- intersect(assay_columns, standard_columns)
        num <- vapply(df[assay_columns], is.numeric, logical(1))
        if (length(bad) || !all(num)) {
            stop_immunoscape(c(
                "{.arg assay_columns} must name numeric columns other than the standard ones.",
                "x" = "Not possible: {.val {c(bad, assay_columns[!num])}}."
            ), class = "column", call = call)
        }
        m <- t(as.matrix(df[assay_columns]))
        df <- df[setdiff(names(df), assay_columns)]
        assays[[assay_name]] <- m
    }
    id <- as.character(df$cell_id)
    nm <- if (anyDuplicated(id)) paste(df$image, id, sep = "_") else id
    if (length(assays)) colnames(assays[[1]]) <- nm
    list(df = df, assays = assays, names = nm,
         meta = list(windows = attr(cells, "windows"),
                     pixel_size = attr(cells, "pixel_size") %||% 1,
                     image_levels = levels(cells$image),
                     type_levels = levels(cells$type),
                     groups = cell_groups(cells)))
}

#' Write per-cell results into the colData of a Bioconductor object
#'
#' `add_cell_results()` joins a per-cell result (one row per cell, with
#' columns `image` and `cell_id`: [nearest_distances()],
#' [count_neighbors()], [cellular_neighborhoods()], or any data frame of
#' that shape) to the cells of a `SingleCellExperiment` or
#' `SpatialExperiment` and adds its other columns to `colData()`. The cells
#' are matched on the image and cell id that [as_spatial_cells()] gives
#' them (same `image` and `cell_id` arguments), so a result computed on the
#' object, or on `as_spatial_cells()` of it, goes back to the right
#' columns. Cells without a result get `NA`; nothing else of the object
#' changes.
#'
#' A result with several rows per cell (say distances to two types) is an
#' error: select the rows first, e.g. `d[d$to == "CD8 T", ]`.
#'
#' @param x A `SingleCellExperiment` or `SpatialExperiment`.
#' @param results A data frame with columns `image` and `cell_id` and at
#'   most one row per cell.
#' @param columns Columns of `results` to add; `NULL` for all but `image`
#'   and `cell_id`.
#' @param prefix Put before the new column names (e.g. `"cd8_"`).
#' @param image,cell_id As in [as_spatial_cells()]: the `colData` columns
#'   giving each cell's image and id (`NULL`: the same guesses).
#' @returns `x` with the columns added to (or replaced in) `colData()`.
#' @seealso [as_sce()], [as_spatial_cells()].
#' @export
#' @examplesIf requireNamespace("SingleCellExperiment", quietly = TRUE)
#' df <- data.frame(x = c(0, 100, 100, 0, 40), y = c(0, 0, 80, 80, 30),
#'                  type = c("Tumor", "CD8 T", "Tumor", "CD8 T", "Tumor"))
#' sce <- as_sce(spatial_cells(df))
#' d <- nearest_distances(sce, from = "Tumor", to = "CD8 T")
#' sce <- add_cell_results(sce, d, columns = "distance", prefix = "cd8_")
#' SummarizedExperiment::colData(sce)
add_cell_results <- function(x, results, columns = NULL, prefix = "",
                             image = NULL, cell_id = NULL) {
    call <- rlang::current_env()
    if (!methods::is(x, "SingleCellExperiment")) {
        stop_immunoscape(c(
            "{.arg x} must be a {.cls SingleCellExperiment} or {.cls SpatialExperiment}, not {.obj_type_friendly {x}}.",
            "i" = "For {.cls spatial_cells}, join the result by {.field image} and {.field cell_id} with {.fn merge}."
        ), class = "argument", call = call)
    }
    check_data_frame(results, "results", call = call)
    check_column(results, "image", "results", call = call)
    check_column(results, "cell_id", "results", call = call)
    check_string(prefix, call = call)
    columns <- columns %||% setdiff(names(results), c("image", "cell_id"))
    for (cl in columns) check_column(results, cl, "columns", call = call)
    key_r <- paste(results$image, results$cell_id, sep = "\r")
    if (anyDuplicated(key_r)) {
        extra <- setdiff(intersect(c("from", "to", "type", "radius"),
                                   names(results)), "type")
        stop_immunoscape(c(
            "{.arg results} has more than one row for some cells.",
            "i" = "Select one row per cell first{if (length(extra)) paste0(', e.g. by ', paste(extra, collapse = ' / '))}."
        ), class = "argument", call = call)
    }
    cd <- SummarizedExperiment::colData(x)
    df <- as.data.frame(cd, optional = TRUE, stringsAsFactors = FALSE)
    names(df) <- colnames(cd)
    sel <- sce_columns(x, df, image = image, cell_id = cell_id,
                       coords = NULL, type = NULL, call = call)
    img <- if (is.null(sel$image)) rep("image1", ncol(x)) else
        as.character(sel$df[[sel$image]])
    ids <- if (is.null(sel$cell_id)) {
        stats::ave(seq_along(img), factor(img, levels = unique(img)),
                   FUN = seq_along)
    } else {
        sel$df[[sel$cell_id]]
    }
    at <- match(paste(img, ids, sep = "\r"), key_r)
    unmatched <- sum(!seq_len(nrow(results)) %in% at)
    if (unmatched) {
        inform_immunoscape(c(
            "i" = "{unmatched} row{?s} of {.arg results} match{?es/} no cell of {.arg x} (by image and cell id); left out."
        ))
    }
    for (cl in columns) {
        v <- results[[cl]]
        cd[[paste0(prefix, cl)]] <- if (is.data.frame(v)) v[at, ] else v[at]
    }
    SummarizedExperiment::colData(x) <- cd
    x
}

# check_cells() for a SingleCellExperiment / SpatialExperiment: converted
# with as_spatial_cells() and the arguments in
# getOption("immunoscape.bioc"); the columns it guesses are said once per
# session.
bioc_as_cells <- function(cells, arg, call) {
    opts <- getOption("immunoscape.bioc", list())
    if (!is.list(opts)) {
        stop_immunoscape(c(
            "Option {.code immunoscape.bioc} must be a list of arguments of {.fn as_spatial_cells}.",
            "i" = "E.g. {.code options(immunoscape.bioc = list(type = \"cell_type\"))}."
        ), class = "argument", call = call)
    }
    rlang::check_installed(c("SingleCellExperiment", "SummarizedExperiment"),
                           reason = "to analyse a SingleCellExperiment.")
    out <- withCallingHandlers(
        rlang::exec(as_spatial_cells, cells, !!!opts),
        immunoscape_message = function(m) {
            id <- paste0("immunoscape_bioc_", conditionMessage(m))
            if (!is.null(.bioc_said[[id]])) {
                invokeRestart("muffleMessage")
            }
            .bioc_said[[id]] <- TRUE
        }
    )
    out
}

.bioc_said <- new.env(parent = emptyenv())

# as(cells, "SingleCellExperiment") / as(cells, "SpatialExperiment"):
# registered when the Bioconductor package is (or gets) loaded.
register_bioc_coercions <- function(...) {
    if (!methods::isClass("spatial_cells", where = .bioc_methods)) {
        methods::setOldClass(c("spatial_cells", "data.frame"),
                             where = .bioc_methods)
    }
    if (isNamespaceLoaded("SingleCellExperiment") &&
        !methods::existsMethod("coerce",
                               c("spatial_cells", "SingleCellExperiment"))) {
        methods::setAs("spatial_cells", "SingleCellExperiment",
                       function(from) as_sce(from), where = .bioc_methods)
    }
    if (isNamespaceLoaded("SpatialExperiment") &&
        !methods::existsMethod("coerce",
                               c("spatial_cells", "SpatialExperiment"))) {
        methods::setAs("spatial_cells", "SpatialExperiment",
                       function(from) as_spe(from), where = .bioc_methods)
    }
    invisible()
}

.bioc_methods <- new.env()

.onLoad <- function(libname, pkgname) {
    for (p in c("SingleCellExperiment", "SpatialExperiment")) {
        setHook(packageEvent(p, "onLoad"),
                function(...) try(register_bioc_coercions(), silent = TRUE))
    }
    try(register_bioc_coercions(), silent = TRUE)
}
