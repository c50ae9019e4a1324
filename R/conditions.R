# Errors, warnings and messages: one wrapper each over cli.

#' Conditions raised by immunoscape
#'
#' Every error immunoscape raises on purpose has class `immunoscape_error`
#' and one more specific class `immunoscape_error_<what>`; its message names
#' the argument (or column, or file) at fault and says how to fix it.
#' Catch them by class, e.g.
#' `tryCatch(ripley_k(cells, "Tumor"), immunoscape_error_type = function(e) NULL)`.
#'
#' @section Error classes:
#' \describe{
#'   \item{`immunoscape_error_argument`}{An argument has the wrong type,
#'     length or value: not a whole number, out of range (counts such as
#'     `k`, `nperm`, `nsim`, `order` above 2^31 - 1), an unknown choice, a
#'     misspelled argument in `...`.}
#'   \item{`immunoscape_error_column`}{A column named by the user (or
#'     required by a file format) is missing.}
#'   \item{`immunoscape_error_coordinates`}{Coordinates are not numeric,
#'     missing, infinite, or beyond 1e12 microns (also after multiplying by
#'     `pixel_size`).}
#'   \item{`immunoscape_error_empty`}{No cells to analyse (an empty table,
#'     a file with a header only).}
#'   \item{`immunoscape_error_cell_id`}{Missing or duplicated cell ids.}
#'   \item{`immunoscape_error_type`}{A cell type that exists in no image,
#'     or cells without a type.}
#'   \item{`immunoscape_error_window`}{An invalid window: no vertices,
#'     rings with fewer than 3 vertices, zero area, crossing edges,
#'     overlapping pieces, holes outside their polygon, coordinates that
#'     are not finite or beyond 1e12 microns, an empty sf geometry.}
#'   \item{`immunoscape_error_radius`}{A distance argument (`radius`, `r`,
#'     `bw`) that is negative, not finite, zero where a positive value is
#'     needed, or beyond any distance between two cells.}
#'   \item{`immunoscape_error_format`}{A cell table whose format cannot be
#'     recognised.}
#'   \item{`immunoscape_error_file`}{A path that does not exist, is not a
#'     regular file (a device or pipe), is empty, or is truncated or
#'     corrupt (a compressed file that does not decode to its end).}
#'   \item{`immunoscape_error_memory`}{A request whose memory is clearly
#'     impossible on this machine (refused before allocating), or an
#'     allocation that failed. The limit is the physical memory, or the
#'     option `immunoscape.max_memory` (bytes).}
#'   \item{`immunoscape_error_regions`}{Tumour regions that do not belong
#'     to the cells (other images, wrong format).}
#'   \item{`immunoscape_error_margin`}{An invalid invasive-margin width.}
#'   \item{`immunoscape_error_internal`}{A bug: please report it with the
#'     data that triggers it.}
#' }
#'
#' @section Warning classes:
#' Warnings have class `immunoscape_warning` and
#' `immunoscape_warning_<what>`: `file` (a file that may be cut short,
#' duplicated column names, skipped files), `coordinates` (cells dropped
#' for unusable coordinates), `pixel_size` (also a `pixel_size` that the
#' table's own cell areas contradict), `units` (more than 1e6 cells per
#' mm^2: coordinates in another unit than microns), `outside`
#' (cells outside their window), `window` and `image_failed` (images left
#' out of a cohort result; see the result's `problems` attribute).
#'
#' A suggested package that a call needs (sf, spatstat.geom, BiocParallel)
#' and is not installed raises rlang's `rlib_error_package_not_found`.
#'
#' @section Interrupts and time limits:
#' Long computations check for interrupts about every 0.1 s of work, so
#' Ctrl-C stops any call promptly with R's `interrupt` condition; a time
#' limit set with [setTimeLimit()] ends a call with R's own time-limit
#' error, not an immunoscape error. Thread counts above what the OpenMP
#' runtime allows are lowered with a message (see [immunoscape_threads()]).
#'
#' @name immunoscape_errors
#' @aliases immunoscape_error immunoscape_warning
#' @keywords misc
NULL

#' Raise a classed immunoscape error
#'
#' Every error the package raises has class `immunoscape_error` and a more
#' specific `immunoscape_error_<what>`, so callers can catch them with
#' `tryCatch(..., immunoscape_error_column = function(e) ...)`. The classes
#' are listed in `?immunoscape_errors`.
#'
#' @param message A cli-formatted message (bullets allowed).
#' @param class The specific part of the class, e.g. `"column"`.
#' @param ... Passed to [cli::cli_abort()].
#' @param call The call to report.
#' @param .envir Environment for cli interpolation.
#' @returns Never returns.
#' @keywords internal
#' @noRd
stop_immunoscape <- function(message, class, ..., call = rlang::caller_env(),
                             .envir = parent.frame()) {
    cli::cli_abort(
        message,
        class = c(paste0("immunoscape_error_", class), "immunoscape_error"),
        ...,
        call = call,
        .envir = .envir
    )
}

# C kernel status (im_status in src/immunoscape.h) -> classed error; called
# from C by im_stop_status() (src/util.c), so `call` is NULL by default.
status_errors <- list(
    "1" = c(class = "memory", msg = "Out of memory in {what}.",
            hint = "Analyse fewer cells or images at once, use a smaller {.arg r} or fewer simulations ({.arg nsim}), or free memory."),
    "2" = c(class = "coordinates",
            msg = "Coordinates span too large a range in {what}.",
            hint = "Check that {.field x} and {.field y} are in microns."),
    "3" = c(class = "window", msg = "Invalid window polygon in {what}.",
            hint = "Check the window, e.g. with {.fn tissue_window}."),
    "4" = c(class = "coordinates",
            msg = "Non-finite or inconsistent coordinates in {what}.",
            hint = "Check {.field x} and {.field y} for {.code NA} or {.code Inf}.")
)

stop_status <- function(status, what, call = NULL) {
    e <- status_errors[[as.character(status)]] %||%
        c(class = "internal", msg = "Unknown status {status} in {what}.",
          hint = "Please report this.")
    stop_immunoscape(c(e[["msg"]], "i" = e[["hint"]]), class = e[["class"]],
                     call = call)
}

warn_immunoscape <- function(message, class, ..., .envir = parent.frame()) {
    cli::cli_warn(
        message,
        class = c(paste0("immunoscape_warning_", class),
                  "immunoscape_warning"),
        ...,
        .envir = .envir
    )
}

inform_immunoscape <- function(message, ..., .envir = parent.frame()) {
    if (isTRUE(getOption("immunoscape.verbose", TRUE))) {
        cli::cli_inform(message, ..., .envir = .envir,
                        class = "immunoscape_message")
    }
    invisible()
}
