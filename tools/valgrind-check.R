# Read a memcheck log (make valgrind) and fail on any error or definite
# leak whose stack passes through the package's shared object.
args <- commandArgs(trailingOnly = TRUE)
log <- readLines(args[1])
body <- sub("^==[0-9]+== ?", "", log)
# error blocks are separated by empty lines
block <- cumsum(body == "")
blocks <- split(body, block)
is_err <- function(b) {
    any(grepl("^(Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|Argument .* of function)", b)) ||
        any(grepl("definitely lost in", b))
}
ours <- Filter(function(b) is_err(b) && any(grepl("immunoscape\\.so", b)),
               blocks)
sumry <- grep("ERROR SUMMARY|definitely lost:", body, value = TRUE)
cat(sumry, sep = "\n")
if (length(ours)) {
    cat(sprintf("%d memcheck report(s) in the package's code:\n", length(ours)))
    for (b in utils::head(ours, 10)) cat(b, sep = "\n")
    quit(status = 1)
}
cat("memcheck: no report in the package's code\n")
