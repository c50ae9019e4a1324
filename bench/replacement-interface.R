# The replacement interface of simulate_tme() and how well its true
# outline can be located (issue 9).
#
# A liver-plate cell within 250 um of the hidden true outline is tumour
# with probability plogis((-d + 35 * field) / 12) (R/simulate.R; d: true
# signed distance, field: a smooth random field of unit SD and 90-um
# length scale), so tumour and liver interdigitate over about 100 um on
# each side. This script takes the simulator's own field and, along the
# normals of the true outline (every 4 um of outline, offsets -150 to 150
# um), averages that probability over `window` um of outline and finds the
# equal-area position of the step from tumour to liver. With the
# probabilities themselves (no sampling of cells) that position is within
# 15 um of the outline for:
#   window 0 um: about 58% of the outline; 100 um: about 97%; 200 um and
#   more: all of it
# so the outline is determined by the field, and what limits an estimate
# from the cells is how few cells a stretch of border holds. Beside it,
# the figure of tumor_regions() + compartments() on the cells (border
# distance within 15 um for cells more than 30 um from both borders).
#
#   Rscript bench/replacement-interface.R [seeds]
suppressMessages(library(immunoscape))
options(immunoscape.verbose = FALSE)
ns <- asNamespace("immunoscape")
args <- commandArgs(TRUE)
seeds <- if (length(args)) seq_len(as.integer(args[1])) else 1:3
imm <- c("CD8 T", "CD4 T", "Treg", "B", "Macrophage")
windows <- c(0, 100, 200, 400)
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
    within <- list()
    for (pk in unique(poly$polygon)) {
        r <- poly[poly$polygon == pk & !poly$hole, ]
        n <- nrow(r)
        seg <- sqrt(diff(c(r$x, r$x[1]))^2 + diff(c(r$y, r$y[1]))^2)
        sc <- c(0, cumsum(seg))
        ss <- seq(0, sc[n + 1], by = 4)
        ss <- ss[ss < sc[n + 1]]
        xx <- stats::approx(sc, c(r$x, r$x[1]), ss)$y
        yy <- stats::approx(sc, c(r$y, r$y[1]), ss)$y
        m <- length(xx)
        tx <- c(xx[-1], xx[1]) - c(xx[m], xx[-m])
        ty <- c(yy[-1], yy[1]) - c(yy[m], yy[-m])
        tl <- sqrt(tx^2 + ty^2)
        # the outward normal: the side where the signed distance grows
        nx <- ty / tl
        ny <- -tx / tl
        out <- ns$polygon_signed_distance(poly, xx + 2 * nx, yy + 2 * ny, 2L)$d
        nx <- nx * sign(out)
        ny <- ny * sign(out)
        tt <- seq(-150, 150, by = 1)
        P <- matrix(0, m, length(tt))
        for (j in seq_along(tt)) {
            px <- xx + tt[j] * nx
            py <- yy + tt[j] * ny
            d <- ns$polygon_signed_distance(poly, px, py, 2L)$d
            P[, j] <- stats::plogis((-d + 35 * ns$rff_eval(ctx$f_fing, px, py)) / 12)
        }
        for (w in windows) {
            h <- min(floor((m - 1) / 2), round(w / 2 / 4))
            A <- P
            if (h > 0) {
                cs <- apply(P[c((m - h + 1):m, 1:m, 1:h), , drop = FALSE], 2, cumsum)
                A <- (cs[(2 * h + 1):(m + 2 * h), , drop = FALSE] -
                          rbind(0, cs)[1:m, , drop = FALSE]) / (2 * h + 1)
            }
            # equal-area step position: the profile's integral minus the
            # integral of a step at 0 (tumour 1 inside, liver 0 outside)
            off <- rowSums(A) - sum(tt < 0) - 0.5
            key <- as.character(w)
            within[[key]] <- c(within[[key]], abs(off) <= 15)
        }
    }
    reg <- tumor_regions(sim, ignore = imm, nthreads = 2)
    comp <- compartments(sim, reg, nthreads = 2)
    bd <- comp$border_distance[match(sim$cell_id, comp$cell_id)]
    tb <- sim$true_border_distance
    clear <- abs(tb) > 30 & abs(bd) > 30
    rows[[length(rows) + 1L]] <- data.frame(
        infiltration = infl, seed = s,
        t(vapply(within, mean, numeric(1))),
        estimate = mean(abs(bd - tb)[clear] <= 15), check.names = FALSE)
    print(rows[[length(rows)]], row.names = FALSE)
}
res <- do.call(rbind, rows)
names(res)[match(as.character(windows), names(res))] <-
    paste0("field_", windows, "um")
cat("\nshare within 15 um: the field averaged along the outline (by window),",
    "and the estimate from the cells\n")
print(round(sapply(res[-(1:2)], function(v) c(min = min(v),
    median = stats::median(v), max = max(v))), 3))
