# Benchmark: interaction_test() against the fastest plain-R route we could
# write with existing packages (dbscan::frNN for the neighbour graph, label
# permutations and tabulation in R), in one run, on synthetic tissue at
# 3000 cells/mm^2 with five cell types, radius 20 um, single thread.
#
#   Rscript bench/bench-interactions.R               # 1e6 cells
#   Rscript bench/bench-interactions.R 1e5 20        # cells, R-route perms
#   Rscript bench/bench-interactions.R real          # the Vectra cohort
#
# `real` runs interaction_test() (nperm = 999) and cellular_neighborhoods()
# on the NSCLC Vectra cohort of ../shared/data (285,412 cells, 247 fields)
# with the default number of threads and a progress bar, and reports the
# times and that every field got a result.
#
# Target at 1e6 cells, nperm = 999, one thread: interaction_test() under
# 60 s and >= 20x faster than the R route. The R route is timed with fewer
# permutations (second argument, default 20) on the same graph and its
# permutation part is extrapolated linearly to 999 (the graph is built
# once in both routes, so time = graph + nperm * per-permutation cost).

suppressPackageStartupMessages(library(immunoscape))
if (!requireNamespace("dbscan", quietly = TRUE)) stop("needs dbscan")
options(immunoscape.verbose = FALSE)

args <- commandArgs(TRUE)
if (length(args) && args[1] == "real") {
    path <- file.path(Sys.getenv("IMMUNOSCAPE_SHARED_DATA",
                                 "/work/shared/data"),
                      "nsclc_vectra_cohort", "cells.csv.gz")
    if (!file.exists(path)) stop("data not found: ", path)
    df <- utils::read.csv(path)
    cells <- spatial_cells(df, x = "x_um", y = "y_um", type = "phenotype",
                           image = "patientImage_id")
    options(immunoscape.verbose = TRUE)
    t1 <- system.time(it <- interaction_test(cells, radius = 20,
                                             nperm = 999))[["elapsed"]]
    t2 <- system.time(cn <- cellular_neighborhoods(cells, k = 10,
                                                   n = 8))[["elapsed"]]
    cat(sprintf("NSCLC Vectra cohort: %s cells, %d fields, %d threads\n",
                format(nrow(cells), big.mark = ","),
                nlevels(cells$image), immunoscape_threads()))
    cat(sprintf("interaction_test(radius = 20, nperm = 999): %.1f s, %d fields with results, %d failed\n",
                t1, length(unique(it$image)), nrow(attr(it, "problems"))))
    cat(sprintf("cellular_neighborhoods(k = 10, n = 8): %.1f s, %d fields, %s cells labelled\n",
                t2, length(unique(cn$image)),
                format(nrow(cn), big.mark = ",")))
    print(utils::head(summary(it)[order(-abs(summary(it)$stouffer_z)), ], 8))
    print(cn)
    quit(save = "no")
}
n <- if (length(args) >= 1) as.numeric(args[1]) else 1e6
r_perm <- if (length(args) >= 2) as.integer(args[2]) else 20L
nperm <- 999L
radius <- 20
density <- 3000
types <- c("Tumor", "CD8 T", "CD4 T", "Macrophage", "B cell")
prob <- c(0.4, 0.15, 0.15, 0.2, 0.1)

set.seed(42)
side <- sqrt(n / density) * 1000
df <- data.frame(x = runif(n, 0, side), y = runif(n, 0, side),
                 type = sample(types, n, TRUE, prob = prob))
cells <- spatial_cells(df, window = "rectangle")
lab <- as.integer(cells$type)
nt <- nlevels(cells$type)

# --- the R route --------------------------------------------------------
r_graph <- function() {
    nb <- dbscan::frNN(cbind(cells$x, cells$y), eps = radius, sort = FALSE)
    from <- rep.int(seq_along(nb$id), lengths(nb$id))
    list(from = from, to = unlist(nb$id, use.names = FALSE))
}
# statistics matrix (from x to) for one labelling
r_stat <- function(g, l, method) {
    ntype <- tabulate(l, nt)
    if (method == "classic") {
        s <- tabulate((l[g$from] - 1L) * nt + l[g$to], nt * nt)
        return(matrix(s, nt, nt, byrow = TRUE) / ntype)
    }
    # per cell and neighbour type counts, then by the cell's type
    key <- (g$from - 1L) * nt + l[g$to]
    cnt <- matrix(tabulate(key, n * nt), nt, n)
    sum_c <- rowsum(t(cnt), l, reorder = TRUE)
    any_c <- rowsum(t(cnt > 0) + 0, l, reorder = TRUE)
    ifelse(any_c > 0, sum_c / any_c, 0)
}
r_route <- function(g, method, np) {
    obs <- r_stat(g, lab, method)
    perm <- vapply(seq_len(np), function(i) {
        as.vector(r_stat(g, sample(lab), method))
    }, numeric(nt * nt))
    list(obs = obs, perm = perm)
}

rows <- list()
for (method in c("histocat", "classic")) {
    gc(FALSE)
    t_c <- system.time(res <- interaction_test(cells, radius = radius,
                                               method = method,
                                               nperm = nperm,
                                               nthreads = 1))[["elapsed"]]
    gc(FALSE)
    t_g <- system.time(g <- r_graph())[["elapsed"]]
    t_p <- system.time(rr <- r_route(g, method, r_perm))[["elapsed"]]
    t_r <- t_g + t_p * (nperm + 1) / (r_perm + 1)
    # same observed statistics (up to cells at exactly `radius`)
    obs_c <- matrix(res$observed, nt, nt, byrow = TRUE)
    agree <- max(abs(obs_c - rr$obs))
    rows[[method]] <- data.frame(
        n = n, method = method, nperm = nperm,
        immunoscape_s = round(t_c, 2),
        r_route_graph_s = round(t_g, 2),
        r_route_s_per_perm = round(t_p / (r_perm + 1), 3),
        r_route_extrapolated_s = round(t_r, 1),
        ratio = round(t_r / t_c, 1),
        max_abs_diff_observed = signif(agree, 3)
    )
    rm(g, rr)
}
out <- do.call(rbind, rows)
rownames(out) <- NULL
cat(sprintf("interaction_test() vs dbscan::frNN + R permutations: %s cells, radius %g um, %d types, 1 thread\n",
            format(n, big.mark = ","), radius, nt))
cat(sprintf("(R route timed with %d permutations, extrapolated to %d)\n",
            r_perm, nperm))
print(out, row.names = FALSE)
