# Errors, warnings and messages: one wrapper each over cli.

#' Raise a classed immunoscape error
#'
#' Every error the package raises has class `immunoscape_error` and a more
#' specific `immunoscape_error_<what>`, so callers can catch them with
#' `tryCatch(..., immunoscape_error_column = function(e) ...)`. The classes
#' are: `argument`, `column`, `coordinates`, `empty`, `cell_id`, `type`,
#' `window`, `radius`, `format`, `file`, `dependency`.
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
