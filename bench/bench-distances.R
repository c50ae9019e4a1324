# Benchmark: nearest_distances() and count_neighbors() against spatstat.geom,
# RANN and dbscan, in one run, on synthetic tissue at 3000 cells/mm^2 with
# five cell types. Prints times (seconds, best of `reps`) and ratios.
#
#   Rscript bench/bench-distances.R            # 1e5 and 1e6 cells
#   Rscript bench/bench-distances.R 1e5        # sizes of your choice
#
# Targets at 1e6 cells, single thread: nearest_distances() no slower than
# spatstat.geom::nncross and >= 3x faster than RANN::nn2; count_neighbors()
# (radius 30 um) >= 30x faster than dbscan::frNN + tabulation.

suppressPackageStartupMessages({
    library(immunoscape)
    library(spatstat.geom)
})
have_rann <- requireNamespace("RANN", quietly = TRUE)
have_dbscan <- requireNamespace("dbscan", quietly = TRUE)
options(immunoscape.verbose = FALSE)

args <- commandArgs(TRUE)
sizes <- if (length(args)) as.numeric(args) else c(1e5, 1e6)
density <- 3000                     # cells per mm^2
types <- c("Tumor", "CD8 T", "CD4 T", "Macrophage", "B cell")
prob <- c(0.4, 0.15, 0.15, 0.2, 0.1)

best_of <- function(expr, reps) {
    expr <- substitute(expr)
    env <- parent.frame()
    t <- vapply(seq_len(reps), function(i) {
        gc(FALSE)
        system.time(eval(expr, env))[["elapsed"]]
    }, numeric(1))
    min(t)
}

rows <- list()
for (n in sizes) {
    set.seed(42)
    side <- sqrt(n / density) * 1000          # microns
    df <- data.frame(x = runif(n, 0, side), y = runif(n, 0, side),
                     type = sample(types, n, TRUE, prob = prob))
    cells <- spatial_cells(df, window = "rectangle")
    reps <- if (n <= 1e5) 5 else 3
    a <- df$type == "Tumor"
    b <- df$type == "CD8 T"
    W <- owin(c(0, side), c(0, side))
    A <- ppp(df$x[a], df$y[a], window = W, check = FALSE)
    B <- ppp(df$x[b], df$y[b], window = W, check = FALSE)

    # nearest distance from every tumour cell to the nearest CD8 T cell
    t_ours <- best_of(nearest_distances(cells, from = "Tumor", to = "CD8 T",
                                        nthreads = 1), reps)
    t_nnc <- best_of(nncross(A, B, what = c("dist", "which")), reps)
    t_nn2 <- if (have_rann) {
        best_of(RANN::nn2(cbind(df$x[b], df$y[b]), cbind(df$x[a], df$y[a]),
                          k = 1), reps)
    } else NA
    # same answer?
    chk <- nearest_distances(cells, from = "Tumor", to = "CD8 T", nthreads = 1)
    agree_nn <- isTRUE(all.equal(chk$distance, nncross(A, B)$dist,
                                 tolerance = 1e-12))

    # every cell: counts of each type within 30 um
    t_cnt <- best_of(count_neighbors(cells, radius = 30, nthreads = 1), reps)
    lab <- as.integer(factor(df$type, levels = types))
    t_fr <- if (have_dbscan) {
        best_of({
            nn <- dbscan::frNN(cbind(df$x, df$y), eps = 30, sort = FALSE)
            owner <- rep.int(seq_len(n), lengths(nn$id))
            nb <- lab[unlist(nn$id, use.names = FALSE)]
            m <- matrix(tabulate(owner + (nb - 1L) * n, n * 5L), n, 5L)
        }, if (n <= 1e5) 3 else 1)
    } else NA
    t_cnt2 <- best_of(count_neighbors(cells, radius = 30, nthreads = 2), reps)
    t_ours2 <- best_of(nearest_distances(cells, from = "Tumor", to = "CD8 T",
                                         nthreads = 2), reps)

    rows[[length(rows) + 1]] <- data.frame(
        n = n,
        nearest_s = t_ours, nncross_s = t_nnc, nn2_s = t_nn2,
        nncross_over_ours = t_nnc / t_ours, nn2_over_ours = t_nn2 / t_ours,
        count_s = t_cnt, frnn_tab_s = t_fr, frnn_over_ours = t_fr / t_cnt,
        nearest_2thr_speedup = t_ours / t_ours2,
        count_2thr_speedup = t_cnt / t_cnt2,
        agree_nncross = agree_nn
    )
    print(rows[[length(rows)]], row.names = FALSE, digits = 3)
}
res <- do.call(rbind, rows)
cat("\nSummary (ratios > 1 mean immunoscape is faster):\n")
print(res, row.names = FALSE, digits = 3)

# Clustered targets with one far-away cell: the index must stay linear.
# 1e6 query cells spread over the tissue; 1e4 targets in 5 tight clusters
# (TLS-like, sd 30 um) plus one target 50 mm away.
n <- max(sizes)
set.seed(7)
side <- sqrt(n / density) * 1000
cx <- runif(5, 0, side)
cy <- runif(5, 0, side)
nt <- 1e4
df <- data.frame(
    x = c(runif(n, 0, side), rep(cx, length.out = nt) + rnorm(nt, 0, 30), 5e4),
    y = c(runif(n, 0, side), rep(cy, length.out = nt) + rnorm(nt, 0, 30), 5e4),
    type = c(rep("Tumor", n), rep("B cell", nt + 1))
)
cells <- spatial_cells(df, window = "rectangle")
t_ours <- best_of(nearest_distances(cells, from = "Tumor", to = "B cell",
                                    nthreads = 1), 3)
W <- owin(range(df$x), range(df$y))
A <- ppp(df$x[1:n], df$y[1:n], window = W, check = FALSE)
B <- ppp(df$x[-(1:n)], df$y[-(1:n)], window = W, check = FALSE)
t_nnc <- best_of(nncross(A, B, what = c("dist", "which")), 3)
t_cnt <- best_of(count_neighbors(cells, radius = 30, nthreads = 1), 3)
cat(sprintf("\nClustered targets + far outlier, %g cells: nearest_distances %.3f s, nncross %.3f s (ratio %.2f); count_neighbors %.3f s\n",
            n, t_ours, t_nnc, t_nnc / t_ours, t_cnt))
