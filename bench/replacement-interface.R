# The replacement interface of simulate_tme() seen from its own random
# field (issue 9). A plate cell near the border is tumour with probability
# plogis((-d + 35 * field) / 12) (R/simulate.R): the side of the front
# changes on the 90-um scale of the field within about 100 um of the
# hidden true outline, so the interface is a zone of interdigitating
# tumour and liver, not a line. This script draws the level set
# -d + 35 * field = 0 on a 2-um grid and reports, for the cells 30 to 300
# um from the true outline:
#   level_within15 / level_median: distance to the nearest point of that
#     level set against the true border distance (a cell-scale "front" is
#     not the true outline: median 37-42 um off, under 15% within 15 um);
#   estimate_within15 / estimate_median: the same figures for
#     tumor_regions() + compartments() (the figure of
#     bench/validate-compartments.R restricted to these cells).
# It shows why the border drawn from the cells is compared with the
# mid-line of the zone, and why the within-15-um target is not reached for
# this pattern.
#
#   Rscript bench/replacement-interface.R [seeds]
suppressMessages(library(immunoscape))
options(immunoscape.verbose = FALSE)
ns <- asNamespace("immunoscape")
args <- commandArgs(TRUE)
seeds <- if (length(args)) seq_len(as.integer(args[1])) else 1:5
imm <- c("CD8 T", "CD4 T", "Treg", "B", "Macrophage")
captured <- NULL
suppressMessages(trace("sim_cell_types", where = ns, print = FALSE,
      tracer = quote(assign("captured", ctx, envir = globalenv()))))
rows <- list()
for (infl in c("inflamed", "excluded", "desert")) for (s in seeds) {
    sim <- simulate_tme(pattern = "replacement", infiltration = infl,
                        seed = 1000 * s + 20 + match(infl, c("inflamed",
                            "excluded", "desert")), nthreads = 2)
    ctx <- captured
    poly <- attr(sim, "tumor_polygons")
    # the simulator's front: -d + 35 * field = 0 (R/simulate.R), on a 2-um
    # grid over the band where it can lie (|35 * field| <= 99 um)
    h <- 2
    g <- expand.grid(x = seq(h / 2, ctx$W, by = h), y = seq(h / 2, ctx$H, by = h))
    d <- ns$polygon_signed_distance(poly, g$x, g$y, 2L)$d
    band <- abs(d) < 110
    f <- -d[band] + 35 * ns$rff_eval(ctx$f_fing, g$x[band], g$y[band])
    gx <- g$x[band]
    gy <- g$y[band]
    cd <- as.data.frame(sim)
    tb <- cd$true_border_distance
    # distance to the front: to the nearest grid point on the other side
    inside <- tb < 0 # cells deeper than 110 um are on their side anyway
    near <- abs(tb) < 300
    fd <- rep(NA_real_, nrow(cd))
    for (side in c(TRUE, FALSE)) {
        q <- which(near & inside == side)
        other <- if (side) f <= 0 else f > 0
        nn <- RANN::nn2(cbind(gx[other], gy[other]), cbind(cd$x[q], cd$y[q]), k = 1)
        fd[q] <- nn$nn.dists[, 1] * ifelse(side, -1, 1)
    }
    reg <- tumor_regions(sim, ignore = imm, nthreads = 2)
    comp <- compartments(sim, reg, nthreads = 2)
    bd <- comp$border_distance[match(sim$cell_id, comp$cell_id)]
    ok <- near & abs(tb) > 30
    clear_l <- ok & abs(fd) > 30
    clear_e <- ok & abs(bd) > 30
    # within 300 um of the true border: the estimate's figure on the same
    # cells as the level set's (deeper cells agree for both)
    rows[[length(rows) + 1L]] <- data.frame(
        infiltration = infl, seed = s,
        level_within15 = mean(abs(fd - tb)[clear_l] <= 15),
        level_median = stats::median(abs(fd - tb)[clear_l]),
        estimate_within15 = mean(abs(bd - tb)[clear_e] <= 15),
        estimate_median = stats::median(abs(bd - tb)[clear_e]))
    print(rows[[length(rows)]], row.names = FALSE)
}
res <- do.call(rbind, rows)
cat("\ncells 30-300 um from the true border (and > 30 um from the level set or the estimate):\n")
print(round(sapply(res[-(1:2)], function(v) c(min = min(v), median = stats::median(v), max = max(v))), 3))
