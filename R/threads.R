# Package-level state (cached machine facts).
the <- new.env(parent = emptyenv())

# The most threads a parallel region may ask for: the OpenMP thread limit,
# at most max(8, 4 x processors) (src/threads.c, the same cap in C).
thread_cap <- function() {
    if (is.null(the$thread_cap)) the$thread_cap <- .Call(ffi_threads_cap)
    the$thread_cap
}

#' Default number of threads
#'
#' Functions that reach OpenMP take `nthreads`, defaulting to this value:
#' the option `immunoscape.threads` if set, else the environment variable
#' `OMP_THREAD_LIMIT`, else the number of processors; never more than 2
#' while `R CMD check` runs. Results never depend on the number of threads.
#' A request (argument `nthreads` or the option) above what the OpenMP
#' runtime allows -- its thread limit, and at most the larger of 8 and four
#' times the number of processors -- is lowered to that with a message.
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
    n <- suppressWarnings(as.numeric(n)[1])
    if (is.na(n) || n < 1) n <- 1
    n <- cap_threads(floor(n), "immunoscape.threads")
    if (nzchar(Sys.getenv("_R_CHECK_PACKAGE_NAME_")) ||
        nzchar(Sys.getenv("_R_CHECK_LIMIT_CORES_"))) {
        n <- min(n, 2L)
    }
    n
}
