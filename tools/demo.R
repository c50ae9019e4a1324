# `make demo`: render_report() of the installed immunoscape on the bundled
# data, into <outdir>:
#   liver-metastasis-report.html  a simulated cohort of colorectal liver
#                                 metastases (simulate_tme(), with survival)
#   nsclc-vectra-report.html      the real 247-field Vectra NSCLC cohort of
#                                 50 patients (inst/extdata), with survival
# Both pages are self-contained HTML. The last lines printed are their
# absolute paths.
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
suppressPackageStartupMessages(library(immunoscape))
dir.create(outdir, recursive = TRUE, showWarnings = FALSE)
outdir <- normalizePath(outdir, mustWork = TRUE)
options(immunoscape.verbose = FALSE)
threads <- min(2L, immunoscape_threads())
started <- Sys.time()
say <- function(...) {
    message(sprintf("[%4.0f s] ", as.numeric(difftime(Sys.time(), started,
                                                      units = "secs"))),
            ...)
}

# 1. A simulated cohort of colorectal liver metastases: 20 sections of
#    2 x 2 mm from 12 patients, the three growth patterns and the three
#    immune phenotypes, TLS of every maturity, simulated survival.
say("simulating 20 liver-metastasis sections ...")
liver <- simulate_tme(n_images = 20, size = 2000, n_patients = 12,
                      pattern = c("desmoplastic", "replacement", "pushing"),
                      infiltration = c("inflamed", "excluded", "desert",
                                       "inflamed"),
                      n_tls = 2, seed = 2024, nthreads = threads)
truth <- attr(liver, "image_truth")
clin <- unique(truth[c("patient", "survival_time", "survival_event")])
say("rendering the liver-metastasis report ...")
html_liver <- render_report(
    liver, file.path(outdir, "liver-metastasis-report.html"),
    clinical = clin, time = "survival_time", event = "survival_event",
    title = "Simulated colorectal liver metastases: 20 sections, 12 patients",
    nthreads = threads
)

# 2. The real Vectra NSCLC cohort (tumour compartment only: no tumour-stroma
#    border to draw compartments from, so that section is left out).
path <- system.file("extdata", "nsclc_vectra_cohort.csv.xz",
                    package = "immunoscape")
html_lung <- NULL
if (nzchar(path)) {
    say("reading the NSCLC Vectra cohort ...")
    raw <- utils::read.csv(path)
    lung <- spatial_cells(raw, x = "x_um", y = "y_um", type = "phenotype",
                          image = "image")
    clin_lung <- utils::read.csv(system.file(
        "extdata", "nsclc_vectra_clinical.csv", package = "immunoscape"))
    say("rendering the NSCLC report ...")
    html_lung <- render_report(
        lung, file.path(outdir, "nsclc-vectra-report.html"),
        clinical = clin_lung, patient = "patient_id",
        time = "survival_days", event = "survival_status",
        b_cells = "B cell",
        sections = c("overview", "maps", "tls", "kfunctions",
                     "interactions", "neighborhoods", "features", "patients",
                     "outcome"),
        title = "Non-small-cell lung cancer, Vectra: 247 fields, 50 patients",
        nthreads = threads
    )
} else {
    say("the NSCLC cohort is not bundled in this version; skipped")
}
say("done")
for (h in c(html_liver, html_lung)) cat(as.vector(h), "\n", sep = "")
