# Print the testthat tally of an R CMD check run, "N passed, N failed,
# N skipped", from the line tests/testthat.R writes; fail if missing.
args <- commandArgs(TRUE)
dir <- file.path(args[1], "tests")
files <- list.files(dir, pattern = "^testthat\\.Rout(\\.fail)?$", full.names = TRUE)
line <- character()
for (f in files) {
    l <- readLines(f, warn = FALSE)
    line <- c(line, grep("^[0-9]+ passed, [0-9]+ failed", l, value = TRUE))
}
if (!length(line)) {
    message("No test tally found in ", dir)
    for (f in files) writeLines(utils::tail(readLines(f, warn = FALSE), 60))
    cat("0 passed, 1 failed\n")
    quit(status = 1)
}
if (any(grepl("\\.fail$", files))) {
    writeLines(utils::tail(readLines(files[grepl("\\.fail$", files)][1]), 80))
}
cat(line[length(line)], "\n", sep = "")
failed <- as.integer(sub("^[0-9]+ passed, ([0-9]+) failed.*", "\\1", line[length(line)]))
quit(status = if (failed > 0) 1 else 0)
