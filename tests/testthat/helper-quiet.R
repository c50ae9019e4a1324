# Evaluate without immunoscape's informative messages.
quiet <- function(expr) {
    withr::with_options(list(immunoscape.verbose = FALSE), expr)
}
