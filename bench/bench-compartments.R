# Time and peak memory of compartments() (and tumor_regions()) on
# simulated liver-metastasis sections of 1e6 and 1e7 cells.
#
#   R_LIBS=/work/lib-tissue Rscript bench/bench-compartments.R 1e6 [threads]
#
# The section is simulated and saved first (in a separate process, so that
# its memory does not count), then a fresh R process reads it and runs
# compartments() on the true tumour polygons and on tumor_regions().
# Peak RSS is VmHWM of that process (Linux), reported before and after.
args <- commandArgs(TRUE)
n <- if (length(args)) as.numeric(args[1]) else 1e6
nth <- if (length(args) > 1) as.integer(args[2]) else 1L
file <- file.path(tempdir(), sprintf("sim-%g.rds", n))
lib <- Sys.getenv("R_LIBS")
rscript <- file.path(R.home("bin"), "Rscript")
make <- sprintf(paste0(
    "suppressMessages(library(immunoscape)); options(immunoscape.verbose = FALSE);",
    "side <- sqrt(%g / 3000) * 1000;",
    "t <- system.time(sim <- simulate_tme(size = side, n_nodules = max(1, round(side / 3000)),",
    " n_tls = 0, n_decoys = 0, seed = 1, nthreads = 2L));",
    "cat(sprintf('simulated %%d cells, %%.0f x %%.0f um, in %%.1f s\\n', nrow(sim), side, side, t[[3]]));",
    "saveRDS(sim, '%s', compress = FALSE)"), n, file)
system2(rscript, c("-e", shQuote(make)), env = paste0("R_LIBS=", lib))
suppressMessages(library(immunoscape))
options(immunoscape.verbose = FALSE)
hwm <- function() {
    s <- readLines("/proc/self/status")
    as.numeric(sub("[^0-9]*([0-9]+).*", "\\1", grep("^VmHWM", s, value = TRUE))) / 1024
}
sim <- readRDS(file)
truth <- as_regions(attr(sim, "tumor_polygons"), sim)
invisible(gc())
cat(sprintf("cells: %d; peak RSS after loading: %.0f MB\n", nrow(sim), hwm()))
t1 <- system.time(comp <- compartments(sim, truth, nthreads = nth))
cpu <- function(t) t[[1]] + t[[2]]
cat(sprintf("compartments(true polygons, nthreads = %d): %.2f s elapsed, %.2f s CPU; peak RSS %.0f MB\n",
            nth, t1[[3]], cpu(t1), hwm()))
t2 <- system.time(reg <- tumor_regions(sim, nthreads = nth))
cat(sprintf("tumor_regions(nthreads = %d): %.2f s elapsed, %.2f s CPU (%d vertices); peak RSS %.0f MB\n",
            nth, t2[[3]], cpu(t2), nrow(reg), hwm()))
t3 <- system.time(comp2 <- compartments(sim, reg, nthreads = nth))
cat(sprintf("compartments(estimated regions, nthreads = %d): %.2f s elapsed, %.2f s CPU; peak RSS %.0f MB\n",
            nth, t3[[3]], cpu(t3), hwm()))
cat(sprintf("load average during the run: %s\n",
            paste(readLines("/proc/loadavg"), collapse = " ")))
print(table(comp2$compartment))
unlink(file)
