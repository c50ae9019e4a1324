#' immunoscape: spatial immune architecture of tumours
#'
#' Reads segmented multiplex-imaging cell tables into one validated object
#' ([spatial_cells()]), builds tissue windows ([tissue_window()]) and
#' measures, per image, where cells sit relative to each other
#' ([nearest_distances()], [count_neighbors()]) on a C spatial index.
#'
#' Options:
#' * `immunoscape.threads`: default number of OpenMP threads
#'   (see [immunoscape_threads()]).
#' * `immunoscape.verbose`: `FALSE` silences informative messages.
#' * `immunoscape.bioc`: a list of arguments of [as_spatial_cells()] used
#'   when an analysis function is given a `SingleCellExperiment` or
#'   `SpatialExperiment` (see [as_spatial_cells_interop]).
#'
#' @keywords internal
#' @useDynLib immunoscape, .registration = TRUE
#' @importFrom rlang .data %||%
#' @importFrom ggplot2 autoplot
"_PACKAGE"

#' @export
ggplot2::autoplot
