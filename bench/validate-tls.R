# Validation of detect_tls() against the ground truth of simulate_tme():
# precision and recall of TLS detection (a detected TLS matches a true one
# when their outlines overlap with a Jaccard index >= 0.5), the fraction of
# matched TLS with the right maturity, and with the right location --
# with the true tumour polygons and, when the package has it, with the
# regions estimated by tumor_regions().
#
#   Rscript bench/validate-tls.R            # 40 images, seeds 1 and 2
#   Rscript bench/validate-tls.R 20 7       # images per seed, seeds

suppressPackageStartupMessages(library(immunoscape))
options(immunoscape.verbose = FALSE)
args <- as.numeric(commandArgs(TRUE))
n_images <- if (length(args) >= 1) args[1] else 20
seeds <- if (length(args) >= 2) args[-1] else c(1, 2)

# true outlines: the concave window of the true member cells of each TLS
reference_outlines <- function(sim) {
    tm <- as.data.frame(sim)
    tm <- tm[!is.na(tm$true_tls_id), ]
    tm$key <- paste(tm$image, tm$true_tls_id, sep = "/")
    w <- tissue_window(spatial_cells(tm, image = "key",
                                     window = "rectangle"),
                       "concave", radius = 20)
    key <- strsplit(as.character(w$image), "/")
    data.frame(image = vapply(key, `[`, "", 1),
               tls_id = as.integer(vapply(key, `[`, "", 2)),
               polygon = w$polygon, ring = w$ring, hole = w$hole,
               x = w$x, y = w$y)
}

scores <- function(res, sim, ref) {
    truth <- attr(sim, "tls_truth")
    a <- tls_agreement(res, ref)
    m <- a[!is.na(a$tls_id) & !is.na(a$ref_id), ]
    d <- res$tls[match(paste(m$image, m$tls_id),
                       paste(res$tls$image, res$tls$tls_id)), ]
    t <- truth[match(paste(m$image, m$ref_id),
                     paste(truth$image, truth$tls_id)), ]
    data.frame(true = nrow(truth), found = nrow(res$tls),
               matched = nrow(m), precision = attr(a, "precision"),
               recall = attr(a, "recall"),
               jaccard_median = stats::median(m$jaccard),
               jaccard_min = min(m$jaccard),
               maturity = mean(as.character(d$maturity) ==
                                   as.character(t$maturity)),
               location = mean(as.character(d$location) ==
                                   as.character(t$location)))
}

rows <- list()
for (seed in seeds) {
    sim <- simulate_tme(n_images = n_images, n_tls = 3, seed = seed,
                        pattern = c("desmoplastic", "replacement",
                                    "pushing"),
                        infiltration = c("inflamed", "excluded", "desert"))
    ref <- reference_outlines(sim)
    t0 <- proc.time()[["elapsed"]]
    res <- detect_tls(sim, preset = "simulated",
                      regions = attr(sim, "tumor_polygons"))
    el <- proc.time()[["elapsed"]] - t0
    rows[[length(rows) + 1]] <- cbind(seed = seed, regions = "true",
                                      scores(res, sim, ref), seconds = el)
    if (exists("tumor_regions", asNamespace("immunoscape"))) {
        reg <- tumor_regions(sim, tumor = "Tumor")
        res2 <- detect_tls(sim, preset = "simulated", regions = reg)
        rows[[length(rows) + 1]] <- cbind(seed = seed,
                                          regions = "tumor_regions()",
                                          scores(res2, sim, ref),
                                          seconds = NA)
    }
}
out <- do.call(rbind, rows)
print(out, digits = 3, row.names = FALSE)
