#' Default number of threads
#'
#' Functions that reach OpenMP take `nthreads`, defaulting to this value:
#' the option `immunoscape.threads` if set, else the environment variable
#' `OMP_THREAD_LIMIT`, else the number of processors; never more than 2
#' while `R CMD check` runs. Results never depend on the number of threads.
#'
#' @returns An integer >= 1.
#' @export
#' @examples
#' immunoscape_threads()
immunoscape_threads <- function() {
    n <- getOption("immunoscape.threads")
    if (is.null(n)) {
        env <- Sys.getenv("OMP_THREAD_LIMIT", "")
        n <- if (nzchar(env)) suppressWarnings(as.integer(env)) else NA
        if (is.na(n)) n <- .Call(ffi_threads_available)
    }
    n <- suppressWarnings(as.integer(n)[1])
    if (is.na(n) || n < 1L) n <- 1L
    if (nzchar(Sys.getenv("_R_CHECK_PACKAGE_NAME_")) ||
        nzchar(Sys.getenv("_R_CHECK_LIMIT_CORES_"))) {
        n <- min(n, 2L)
    }
    n
}
