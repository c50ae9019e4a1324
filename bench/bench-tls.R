# Benchmark: detect_tls() on 1e6 and 1e7 cells, and its linkage step
# (union-find on the grid, C) against dbscan::dbscan(eps = link,
# minPts = 1) -- the same single-linkage partition -- on the same B cells
# in the same run. Synthetic tissue at 3000 cells/mm^2: tumour, stroma and
# scattered immune cells (5% B cells: the decoys), plus one TLS (B
# follicle of radius 150 um with an FDC network, T-cell ring to 250 um)
# per 4 mm^2. Prints times (seconds, best of `reps`) and ratios.
#
#   Rscript bench/bench-tls.R              # 1e6 and 1e7 cells
#   Rscript bench/bench-tls.R 1e5 1e6      # sizes of your choice
#
# Target: the linkage no slower than dbscan (ratio dbscan / ours >= 1),
# single thread and on all threads.

suppressPackageStartupMessages(library(immunoscape))
have_dbscan <- requireNamespace("dbscan", quietly = TRUE)
options(immunoscape.verbose = FALSE)

args <- commandArgs(TRUE)
sizes <- if (length(args)) as.numeric(args) else c(1e6, 1e7)
density <- 3000                           # cells per mm^2
link <- 20
threads <- immunoscape_threads()

best_of <- function(expr, reps) {
    expr <- substitute(expr)
    env <- parent.frame()
    t <- vapply(seq_len(reps), function(i) {
        gc(FALSE)
        system.time(eval(expr, env))[["elapsed"]]
    }, numeric(1))
    min(t)
}

disc <- function(n, cx, cy, r0, r1) {
    a <- runif(n, 0, 2 * pi)
    r <- sqrt(runif(n, r0^2, r1^2))
    list(x = cx + r * cos(a), y = cy + r * sin(a))
}

simulate_tissue <- function(n) {
    side <- sqrt(n / density) * 1000
    n_tls <- max(1, round(side^2 / 4e6))
    # per TLS: 900 B (incl. 60 GC-free follicle), 20 FDC, 900 T
    n_bg <- n - n_tls * 1820
    x <- runif(n_bg, 0, side)
    y <- runif(n_bg, 0, side)
    type <- sample(c("Tumor", "Fibroblast", "CD8 T", "CD4 T", "Macrophage",
                     "B"), n_bg, TRUE, c(0.5, 0.2, 0.08, 0.07, 0.1, 0.05))
    cx <- runif(n_tls, 300, side - 300)
    cy <- runif(n_tls, 300, side - 300)
    parts <- lapply(seq_len(n_tls), function(k) {
        b <- disc(900, cx[k], cy[k], 0, 150)
        f <- disc(20, cx[k], cy[k], 0, 100)
        t <- disc(900, cx[k], cy[k], 150, 250)
        data.frame(x = c(b$x, f$x, t$x), y = c(b$y, f$y, t$y),
                   type = rep(c("B", "FDC", "CD4 T"), c(900, 20, 900)))
    })
    df <- rbind(data.frame(x = x, y = y, type = type),
                do.call(rbind, parts))
    list(df = df, n_tls = n_tls)
}

rows <- list()
for (n in sizes) {
    set.seed(42)
    sim <- simulate_tissue(n)
    cells <- spatial_cells(sim$df, window = "rectangle")
    rm(sim)
    reps <- if (n <= 1e6) 3 else 1
    b <- cells[cells$type == "B", c("x", "y")]
    bx <- b$x
    by <- b$y
    nb <- length(bx)
    t_link1 <- best_of(lab1 <- immunoscape:::tls_link(bx, by, link, 1L),
                       reps)
    t_linkn <- best_of(labn <- immunoscape:::tls_link(bx, by, link,
                                                      threads), reps)
    stopifnot(identical(lab1, labn))
    t_db <- NA_real_
    same <- NA
    if (have_dbscan) {
        m <- cbind(bx, by)
        t_db <- best_of(db <- dbscan::dbscan(m, eps = link, minPts = 1),
                        reps)
        cl <- db$cluster
        same <- length(unique(paste(lab1, cl))) == max(lab1) &&
            max(lab1) == length(unique(cl))
    }
    t_detect <- best_of(res <- detect_tls(cells, fdc = "FDC",
                                          t_cells = c("CD4 T", "CD8 T")),
                        reps)
    rows[[length(rows) + 1]] <- data.frame(
        cells = n, b_cells = nb, groups = max(lab1), tls = nrow(res$tls),
        detect_s = t_detect, link_1thr_s = t_link1,
        link_nthr_s = t_linkn, threads = threads, dbscan_s = t_db,
        ratio_dbscan_1thr = t_db / t_link1,
        ratio_dbscan_nthr = t_db / t_linkn, same_partition = same)
    print(rows[[length(rows)]])
}
out <- do.call(rbind, rows)
cat("\nSummary (seconds; ratio = dbscan time / immunoscape linkage time):\n")
print(out, row.names = FALSE)
