# Calibration of the simulation envelopes of ripley_l() under their nulls.
#
#   Rscript bench/calibrate-envelopes.R [images] [nsim]   (default 500 99)
#
# Each image: 60 cells uniform in a 100 x 100 um square given as the
# window, types A, B, C in equal numbers at random, so the observed pattern
# is a draw from both nulls (CSR in the window, and random labelling).
# Cross-type L(A -> B), isotropic correction, r = 5, 6, ..., 25 um.
# Reported:
#   pointwise: share of (image, r) where the observed curve is outside
#              [lo, hi]; nominal 2 / (nsim + 1);
#   global:    share of images where the curve leaves the global envelope
#              at some r; nominal 1 / (nsim + 1).

suppressPackageStartupMessages(library(immunoscape))
options(immunoscape.verbose = FALSE)
args <- commandArgs(TRUE)
nimg <- if (length(args) >= 1) as.integer(args[1]) else 500L
nsim <- if (length(args) >= 2) as.integer(args[2]) else 99L

set.seed(77)
n <- 60
side <- 100
img <- sprintf("i%04d", seq_len(nimg))
df <- data.frame(x = stats::runif(n * nimg, 0, side),
                 y = stats::runif(n * nimg, 0, side),
                 type = as.vector(replicate(nimg, sample(
                     rep(c("A", "B", "C"), length.out = n)))),
                 image = rep(img, each = n))
win <- data.frame(image = rep(img, each = 4), polygon = 1L, ring = 1L,
                  hole = FALSE, x = rep(c(0, side, side, 0), nimg),
                  y = rep(c(0, 0, side, side), nimg))
cells <- spatial_cells(df, image = "image", window = win)
r <- c(0, 5:25)

rows <- list()
for (env in c("csr", "labels")) {
    for (global in c(FALSE, TRUE)) {
        t <- system.time(res <- ripley_l(cells, "A", "B", r = r,
                                         correction = "isotropic",
                                         envelope = env, nsim = nsim,
                                         global = global))[["elapsed"]]
        res <- res[res$r > 0, ]
        out <- res$estimate < res$lo | res$estimate > res$hi
        rate <- if (global) mean(tapply(out, res$image, any)) else mean(out)
        rows[[length(rows) + 1]] <- data.frame(
            envelope = env, type = if (global) "global" else "pointwise",
            images = nlevels(droplevels(res$image)), nsim = nsim,
            exclusion_rate = round(rate, 4),
            nominal = round(if (global) 1 / (nsim + 1) else 2 / (nsim + 1), 4),
            seconds = round(t, 1))
    }
}
cat(sprintf("ripley_l() envelopes under their nulls: %d images x %d cells, L(A -> B), r 5-25 um\n",
            nimg, n))
print(do.call(rbind, rows), row.names = FALSE)
