# Render the demo report (inst/demo-report/demo-report.Rmd; not inst/demo,
# which R reserves for demo() scripts) of the installed
# immunoscape to <outdir>/immunoscape-demo.html, a self-contained page.
# The last line printed is the absolute path of the HTML.
#
# Usage (from the package root, after `make install`):
#     Rscript tools/demo.R <outdir>

args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args)) args[[1]] else "demo-out"

need <- c("immunoscape", "rmarkdown", "knitr")
have <- vapply(need, requireNamespace, logical(1), quietly = TRUE)
if (!all(have)) {
    stop("The demo needs the package(s) ", paste(need[!have], collapse = ", "),
         ": run `make install` (which installs them) first.", call. = FALSE)
}
if (!rmarkdown::pandoc_available("1.12.3")) {
    stop("The demo needs pandoc (https://pandoc.org) to write HTML.",
         call. = FALSE)
}

# The report of the installed package; the source tree's copy otherwise.
rmd <- system.file("demo-report", "demo-report.Rmd",
                   package = "immunoscape")
if (!nzchar(rmd)) rmd <- file.path("inst", "demo-report", "demo-report.Rmd")
if (!file.exists(rmd)) {
    stop("Cannot find demo-report.Rmd; reinstall with `make install`.",
         call. = FALSE)
}

dir.create(outdir, recursive = TRUE, showWarnings = FALSE)
outdir <- normalizePath(outdir, mustWork = TRUE)

# Knit in a scratch directory: the installed package may be read-only and
# the intermediate files (figures, .md) must not land in the source tree.
work <- tempfile("immunoscape-demo-")
dir.create(work)
on.exit(unlink(work, recursive = TRUE), add = TRUE)
invisible(file.copy(rmd, file.path(work, "immunoscape-demo.Rmd")))

html <- rmarkdown::render(
    file.path(work, "immunoscape-demo.Rmd"),
    output_file = "immunoscape-demo.html",
    output_dir = outdir,
    intermediates_dir = work,
    knit_root_dir = work,
    envir = new.env(parent = globalenv()),
    quiet = TRUE
)
cat(normalizePath(html, mustWork = TRUE), "\n", sep = "")
