# Simulator-truth validation of tumor_regions(), compartments(),
# growth_pattern() and immune_phenotype() (issue 9), and agreement with the
# vendor tissue classification on the real inForm and HALO data.
#
#   Rscript bench/validate-compartments.R [seeds] [csv]
#
# VALIDATE_PATTERNS (e.g. "replacement") limits the growth patterns;
# VALIDATE_DENSITY sets the simulated cells per mm^2 (default 3000);
# VALIDATE_BANDWIDTH draws the regions with that kernel and refine = 0.
#
# Prints one line per simulated image and a summary of every figure; the
# per-image table goes to `csv` (default: a file in tempdir()).
suppressMessages(library(immunoscape))
options(immunoscape.verbose = FALSE)
args <- commandArgs(TRUE)
seeds <- if (length(args)) seq_len(as.integer(args[1])) else 1:5
nth <- 2L

# Jaccard index and area error of two polygon sets of one image, rasterised
# at `h` microns over the union of their bounding boxes.
jaccard <- function(a, b, image, h = 2) {
    xr <- range(a$x, b$x)
    yr <- range(a$y, b$y)
    g <- expand.grid(x = seq(xr[1] + h / 2, xr[2], by = h),
                     y = seq(yr[1] + h / 2, yr[2], by = h))
    ia <- immunoscape:::window_inside(a, image, g$x, g$y)
    ib <- immunoscape:::window_inside(b, image, g$x, g$y)
    c(jaccard = sum(ia & ib) / sum(ia | ib),
      area_error = sum(ia) / sum(ib) - 1)
}

# infiltrating immune cells count neither as tumour nor as host tissue
immune_types <- c("CD8 T", "CD4 T", "Treg", "B", "Macrophage")
rows <- list()
patterns <- strsplit(Sys.getenv("VALIDATE_PATTERNS",
                                 "desmoplastic,replacement,pushing"), ",")[[1]]
# cells per mm^2 of the simulated sections (the simulator's default: 3000)
density <- as.numeric(Sys.getenv("VALIDATE_DENSITY", "3000"))
bw_env <- Sys.getenv("VALIDATE_BANDWIDTH", "")
region_args <- if (nzchar(bw_env)) {
    list(bandwidth = as.numeric(bw_env), refine = 0)
}
for (pattern in patterns) {
    for (infl in c("inflamed", "excluded", "desert")) {
        for (s in seeds) {
            sim <- simulate_tme(pattern = pattern, infiltration = infl,
                                seed = 1000 * s + match(pattern, c(
                                    "desmoplastic", "replacement",
                                    "pushing")) * 10 + match(infl, c(
                                    "inflamed", "excluded", "desert")),
                                cells_per_mm2 = density, nthreads = nth)
            truth <- attr(sim, "tumor_polygons")
            im <- levels(sim$image)[1]
            t0 <- proc.time()[[3]]
            reg <- do.call(tumor_regions, c(list(sim, ignore = immune_types,
                                                 nthreads = nth),
                                            region_args))
            t_reg <- proc.time()[[3]] - t0
            tw <- immunoscape:::as_window.data.frame(truth,
                                                     images = levels(sim$image))
            jc <- jaccard(reg, tw, im)
            comp <- compartments(sim, reg, nthreads = nth)
            o <- match(sim$cell_id, comp$cell_id)
            bd <- comp$border_distance[o]
            tb <- sim$true_border_distance
            # cells more than 30 um from any boundary (ours and the truth)
            clear <- abs(tb) > 30 & abs(bd) > 30
            err <- abs(bd - tb)[clear]
            # compartments away from band edges (30 um)
            tc <- immunoscape:::compartment_of(tb, 500)
            oc <- as.integer(comp$compartment[o])
            away <- pmin(abs(tb - 500), abs(tb), abs(tb + 500)) > 30
            g <- growth_pattern(sim, reg, nthreads = nth)
            ph <- immune_phenotype(sim, reg, nthreads = nth)
            rows[[length(rows) + 1L]] <- data.frame(
                pattern = pattern, infiltration = infl, seed = s,
                n = nrow(sim), jaccard = jc[[1]], area_error = jc[[2]],
                bd_within15 = mean(err <= 15), bd_median = stats::median(err),
                bd_max = max(err), comp_correct = mean(tc[away] == oc[away]),
                growth = as.character(g$pattern),
                growth_frac = g[[pattern]],
                phenotype = as.character(ph$phenotype),
                core = ph$tile_core, margin = ph$tile_margin,
                core_mean = ph$density_core, margin_mean = ph$density_margin,
                refined = attr(reg, "parameters")$refined,
                shift = attr(reg, "parameters")$shift,
                t_regions = t_reg)
            print(rows[[length(rows)]], row.names = FALSE)
        }
    }
}
res <- do.call(rbind, rows)
cat("\n== simulator truth over", nrow(res), "images ==\n")
cat(sprintf("Jaccard: min %.4f, median %.4f; >= 0.90 in %d of %d images\n",
            min(res$jaccard), stats::median(res$jaccard),
            sum(res$jaccard >= 0.9), nrow(res)))
cat(sprintf("area error: max |.| %.4f, median %.4f; within 5%% in %d of %d\n",
            max(abs(res$area_error)), stats::median(res$area_error),
            sum(abs(res$area_error) <= 0.05), nrow(res)))
cat(sprintf("border distance within 15 um (cells > 30 um from boundaries): min %.5f over images; median abs error %.2f um; worst %.1f um\n",
            min(res$bd_within15), stats::median(res$bd_median),
            max(res$bd_max)))
cat(sprintf("compartments correct away from band edges: min %.4f, mean %.4f; >= 95%% in %d of %d\n",
            min(res$comp_correct), mean(res$comp_correct),
            sum(res$comp_correct >= 0.95), nrow(res)))
print(stats::aggregate(cbind(jaccard, area_error, bd_within15, bd_median,
                             comp_correct) ~ pattern, res,
                       function(v) round(c(min = min(v),
                                           median = stats::median(v),
                                           max = max(v)), 3)))
cat(sprintf("growth pattern right: %d / %d\n",
            sum(res$growth == res$pattern), nrow(res)))
print(table(truth = res$pattern, call = res$growth))
cat(sprintf("immune phenotype right: %d / %d\n",
            sum(res$phenotype == res$infiltration), nrow(res)))
print(table(truth = res$infiltration, call = res$phenotype))
csv <- if (length(args) > 1) args[2] else
    file.path(tempdir(), "validate-compartments.csv")
utils::write.csv(res, csv, row.names = FALSE)
cat("per-image table:", csv, "\n")
