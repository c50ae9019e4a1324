# Errors, warnings and messages: one wrapper each over cli.

#' Raise a classed immunoscape error
#'
#' Every error the package raises has class `immunoscape_error` and a more
#' specific `immunoscape_error_<what>`, so callers can catch them with
#' `tryCatch(..., immunoscape_error_column = function(e) ...)`. The classes
#' are: `argument`, `column`, `coordinates`, `empty`, `cell_id`, `type`,
#' `window`, `radius`, `format`, `file`, `dependency`, `memory`, `regions`
#' (tumour regions that do not belong to the cells), `margin`.
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
