# Results of the analysis functions are data frames of class
# c(<result class>, "immunoscape_result", "data.frame") whose attributes
# (radius, method, problems, ...) their print(), summary() and autoplot()
# methods read. The two methods here keep that contract when users take
# the result apart with base tools.

#' Plain data frames from immunoscape results
#'
#' Every analysis result (distances, counts, K/L/pcf/G curves, interaction
#' tests, neighbourhoods, hotspots, ...) is a data frame with a class and
#' attributes that its `print()`, `summary()` and `autoplot()` methods use.
#' `as.data.frame()` drops both; selecting rows with `[` keeps them, and
#' selecting or reordering columns gives a plain data frame (the methods
#' need every column).
#'
#' @param x A result of an immunoscape analysis function.
#' @param i,j,drop As for base data frames.
#' @param ... Unused.
#' @returns `as.data.frame()`: a plain `data.frame`. `[`: a result of the
#'   same class when all columns are kept, otherwise what base `[` gives
#'   on a plain data frame.
#' @name immunoscape_result
#' @examples
#' df <- data.frame(x = c(0, 10, 20, 5), y = c(0, 0, 10, 20),
#'                  type = c("A", "B", "A", "B"))
#' d <- nearest_distances(spatial_cells(df), to = "B")
#' d[d$from == "A", ]              # still a nearest_distances result
#' d[, c("cell_id", "distance")]   # a plain data frame
#' class(as.data.frame(d))
NULL

#' @rdname immunoscape_result
#' @export
as.data.frame.immunoscape_result <- function(x, ...) {
    attributes(x) <- list(names = names(x),
                          row.names = .row_names_info(x, 0L),
                          class = "data.frame")
    x
}

#' @rdname immunoscape_result
#' @export
`[.immunoscape_result` <- function(x, i, j, ..., drop) {
    out <- NextMethod()
    if (!is.data.frame(out) || identical(names(out), names(x))) {
        return(out)
    }
    as.data.frame.immunoscape_result(out)
}
