# Runs the whole suite and writes the tally line "N passed, N failed,
# N skipped" that the Makefile and CI read.
library(testthat)
library(immunoscape)

res <- as.data.frame(test_check("immunoscape", stop_on_failure = FALSE,
                                stop_on_warning = FALSE))
passed <- sum(res$passed)
failed <- sum(res$failed) + sum(res$error)
skipped <- sum(res$skipped)
cat(sprintf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped))
if (failed > 0) stop(failed, " test(s) failed")
