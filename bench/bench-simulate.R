# Time and peak memory of simulate_tme() for one section of 1e5, 1e6 and
# (with argument "big") 1e7 cells at the default density.
#   R_LIBS=... Rscript bench/bench-simulate.R [big]
library(immunoscape)
options(immunoscape.threads = 1L)
sizes <- c(1e5, 1e6)
if ("big" %in% commandArgs(TRUE)) sizes <- c(sizes, 1e7)
for (n in sizes) {
    side <- sqrt(n / 3000) * 1000
    invisible(gc(reset = TRUE))
    t <- system.time(x <- simulate_tme(size = side, seed = 1, n_tls = 5,
                                       necrosis = TRUE, n_nodules = 3))
    peak <- sum(gc()[, 6])
    cat(sprintf("%.0e cells (side %.1f mm): %d cells, %.1f s elapsed (%.1f s user), peak %.0f MB\n",
                n, side / 1000, nrow(x), t[["elapsed"]], t[["user.self"]], peak))
    rm(x)
}
