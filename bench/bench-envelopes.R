# Whole-cohort envelopes: CSR against random labelling (issue 8, item 8).
#
#   Rscript bench/bench-envelopes.R [nthreads]      (installed immunoscape)
#
# The real 247-field Vectra cohort (../shared/data/nsclc_vectra_cohort,
# convex windows), ripley_l(tumour -> CD8 T, nsim = 99) with
# envelope = "labels" and with envelope = "csr", timed in the same run (CPU
# and elapsed seconds; the machine is shared, so CPU time is the steadier
# figure), and their ratio. Target: CSR within 1.5x of labels.
#
# Measured 2026-12-04 on the shared 2-core machine (load average 5-8, so
# elapsed times are noisy; CPU seconds below):
#   before (9ab602e), nthreads = 1: labels 8.1 s, csr 23.7 s, ratio 2.93
#                     nthreads = 2: labels 8.2 s, csr 26.2 s, ratio 3.20
#   after,            nthreads = 1: labels 4.5 s, csr  9.0 s, ratio 2.00
#                     nthreads = 2: labels 4.7 s, csr  9.0 s, ratio 1.93
# Where the CSR time went (perf, before): the isotropic edge weights of
# every simulated pair (a circle-polygon intersection per pair, while
# labelling computes each pair's weight once for all relabellings), then
# one index build, window rebuild and R round trip per simulation. After:
# convex windows use their edge lines (boundary distance = nearest edge
# line, outside arc = union of the arcs beyond the lines; labels gains
# too), the simulations of an image go through one C call with the window
# and tables built once, and the cross-type simulations of an image share
# one index and one pass. What remains is inherent: every simulated pair
# is enumerated and weighted (acos of the arc) anew, about 3x the work of
# a relabelled pair at these sizes. Threads are used for patterns of
# several blocks only (as for one pattern): on this cohort of small fields
# short parallel passes cost more in waiting threads than they saved.

suppressPackageStartupMessages(library(immunoscape))
options(immunoscape.verbose = FALSE)
args <- commandArgs(TRUE)
nth <- if (length(args)) as.integer(args[1]) else immunoscape_threads()
path <- "../shared/data/nsclc_vectra_cohort/cells.csv.gz"
if (!file.exists(path)) {
    cat("bench-envelopes: cohort not found at", path, "- skipped\n")
    quit(status = 0)
}
df <- utils::read.csv(path)
cells <- spatial_cells(df, x = "x_um", y = "y_um", type = "phenotype",
                       image = "patientImage_id", cell_id = NULL)
cat(sprintf("load average: %s\n", paste(utils::head(
    scan("/proc/loadavg", what = "", quiet = TRUE), 3), collapse = " ")))
cat(sprintf("%d images, %d cells, nthreads = %d\n", nlevels(cells$image),
            nrow(cells), nth))

time_envelope <- function(envelope) {
    invisible(gc())
    set.seed(1)
    t <- system.time(ripley_l(cells, "Tumor (CK+)", "CD8 T (CD8+)",
                              envelope = envelope, nsim = 99,
                              nthreads = nth))
    c(cpu = t[["user.self"]] + t[["sys.self"]], elapsed = t[["elapsed"]])
}
lab <- time_envelope("labels")
csr <- time_envelope("csr")
cat(sprintf("labels: %6.1f s CPU, %6.1f s elapsed\n", lab[["cpu"]],
            lab[["elapsed"]]))
cat(sprintf("csr:    %6.1f s CPU, %6.1f s elapsed\n", csr[["cpu"]],
            csr[["elapsed"]]))
cat(sprintf("ratio csr / labels: %.2f (CPU), %.2f (elapsed); target <= 1.5\n",
            csr[["cpu"]] / lab[["cpu"]], csr[["elapsed"]] / lab[["elapsed"]]))
