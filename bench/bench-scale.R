# Whole-slide scale (issue 12): every analysis on one simulated section of
# SCALE_N cells (default 1e7) and on SCALE_IMAGES images of SCALE_IMAGE_N
# cells (default 100 x 1e5), single thread; each call in its own R
# process (callr) so that its peak resident memory (VmHWM) is its own.
# Targets for the 1e7-cell section: every function < 60 s single thread,
# total < 5 min, peak memory < 8 GB.
#
#   Rscript bench/bench-scale.R                       # full size
#   SCALE_N=1e6 SCALE_IMAGES=10 Rscript bench/bench-scale.R   # quick
#   SCALE_DIR=/tmp/sb SCALE_ONLY=cellular_neighborhoods Rscript ...  # reuse
#
# Measured 2026-12-05, after the whole-slide mode of spatial_profile()
# (2 shared cores; the first 19 calls ran at load 5-6 from other
# engineers' jobs, so their elapsed is about twice CPU; spatial_profile
# was re-run alone at load < 1; CPU = user + system of the call; peak =
# VmHWM of the call's process, reading the table included; single
# thread: every call with threads passes nthreads = 1, spatial_profile()
# too -- before, it ran on the default 2 threads):
#   SCALE_DIR=/tmp/wslide/bench SCALE_N=1e7 SCALE_IMAGES=0 Rscript bench/bench-scale.R
#   SCALE_DIR=/tmp/wslide/bench SCALE_N=1e7 SCALE_IMAGES=0 SCALE_ONLY=spatial_profile Rscript bench/bench-scale.R
#                               1e7 section (9,998,174)   before (same section)
#   call                        elapsed   cpu  peak GB       cpu  peak GB
#   tissue_window                   9.1   4.5    2.38        4.6   2.38
#   nearest_distances               1.3   0.7    0.81        0.7   0.81
#   count_neighbors                 2.6   1.8    2.16        1.8   2.16
#   ripley_k (Tumor x CD8 T)        0.8   0.4    0.70        0.4   0.70
#   pair_correlation                1.3   0.6    0.70        0.6   0.70
#   g_function                      0.8   0.4    0.71        0.4   0.71
#   interaction_test (19 perm)      7.5   4.7    1.81        4.9   1.81
#   colocalization_quotient        17.7   9.6    1.80        9.6   1.80
#   neighborhood_composition       28.9  14.5    4.38       23.9   6.69
#   cellular_neighborhoods         28.6  14.2    3.69       30.1   4.47
#   mixing_score                    3.6   1.8    2.33        2.0   2.33
#   hotspots                        3.8   1.9    1.34        2.0   1.34
#   ripley_k_pooled (from NULL)     8.0   4.0    1.20        4.2   1.20
#   tumor_regions                   9.1   4.5    2.34        5.0   2.34
#   compartments                   10.6   5.3    1.45        5.9   1.45
#   infiltration_profile            8.6   4.3    1.04        5.7   1.04
#   immune_phenotype               21.8  10.9    2.10       11.8   2.10
#   growth_pattern                  7.4   3.7    0.85        3.8   0.85
#   detect_tls                      2.1   1.1    1.09        1.1   1.09
#   spatial_profile (defaults)     53.9  53.8    3.74      >332   >3.9 (unfinished)
#   total                         227.4 142.5    4.38      >450
# All targets met at 1e7: every call < 60 s CPU single thread (slowest
# spatial_profile 53.8 s), total 142.5 s CPU / 227 s elapsed (< 5 min),
# peak 4.38 GB (< 8 GB; neighborhood_composition, 6.69 GB before).
# spatial_profile() at 1e7, CPU s per feature group before -> after (each
# group alone, so the tumour regions (~5 s) count in each of compartments,
# phenotype, growth and tls): kfunctions not run before (13.9 at 1e6,
# linear: ~140+; nsim = 39 relabellings of 10 cross-type K's, each a pass
# over all ~1e9 pairs within 100 um) -> 8.3 (one pass for the exact
# random-labelling moments shared by all pairs, see ?spatial_profile,
# "Whole slides"); interactions 14.5 -> 1.7 (199 permutations -> exact
# moments); distances 23.3 -> 5.3 (the grid's nearest search costs the
# square of the distance in grid cells for hepatocytes millimetres from
# the tumour -> a k-d tree, same numbers); neighborhoods 36.7 -> 15.8
# (no string keys; k-means assignment and sums of squares in C, same
# numbers); compartments 10.2 -> 10.5, phenotype 15.0 -> 15.7 alone, but
# together the compartments are now computed once for both groups;
# mixing 2.9, growth 8.1 -> 8.5, tls 5.9 -> 6.1, counts + ratio < 1.
# At 1e6: 29 s CPU before (kfunctions 13.9, neighborhoods 4.5, phenotype
# 2.7, compartments 2.3); kfunctions + interactions 1.3 s after (15.8 s
# with whole_slide = Inf).
# neighborhood_composition builds its columns one at a time (same numbers).
# 100 images of 1e5 cells (10,001,201), load ~1, single thread:
#   SCALE_DIR=/tmp/wslide/bench-c SCALE_N=0 SCALE_IMAGES=100 Rscript bench/bench-scale.R
# CPU s (peak GB), before -> after: tissue_window 11.8 -> 11.3 (0.77),
# nearest_distances 0.8 -> 0.7, count_neighbors 1.6 -> 1.5, ripley_k
# 1.5 -> 1.4, pair_correlation 1.8 -> 1.6, g_function 1.8 -> 1.3,
# interaction_test 5.2 -> 4.9, colocalization_quotient 10.4 -> 10.0,
# neighborhood_composition 24.6 -> 22.5 (6.91 -> 7.18: the rbind of the
# 100 per-image tables in map_images() sets this peak, not the images),
# cellular_neighborhoods 33.5 -> 21.3 (5.55 -> 5.52), mixing_score 2.1,
# hotspots 3.4 -> 3.3, ripley_k_pooled 5.5 -> 5.6, tumor_regions 37.6 ->
# 37.2, compartments 13.0 -> 13.1, infiltration_profile 21.2 -> 21.5,
# immune_phenotype 30.8 -> 29.5, growth_pattern 4.9 -> 4.6, detect_tls
# 3.3 -> 2.7; spatial_profile (never finished before) 226.2 (5.55): these
# images have fewer cells than whole_slide (1e6), so it simulates as on
# any field (nsim = 39, nperm = 199; 2.3 s per 1e5-cell image); total
# 422.4 s CPU (196.2 without spatial_profile, 214.8 before), peak 7.18 GB.
# After map_images() binds the per-image tables column by column
# (2026-12-05, same machine, load ~1, same numbers):
#   SCALE_DIR=/tmp/sb100 SCALE_N=0 SCALE_IMAGES=100 SCALE_ONLY=neighborhood_composition,cellular_neighborhoods,compartments Rscript bench/bench-scale.R
# CPU s (peak GB), rbind -> by column: neighborhood_composition 32.7
# (7.05) -> 17.7 (5.13), cellular_neighborhoods 31.8 (5.59) -> 17.1
# (4.89), compartments 13.8 (2.20) -> 9.1 (1.73).
# ripley_k is fast, not partial: it indexes only the `to` cells (CD8 T,
# 3% of the section); the pooled K (from = NULL, every cell, r to 100 um)
# counts all ~1e9 pairs in 4 s, and on 1e6 cells its pair total equals
# count_neighbors(radius = 100) exactly. cellular_neighborhoods fits
# k-means to a 2e5-window subsample (fit_size) followed by two Lloyd
# passes over all windows.

suppressPackageStartupMessages(library(immunoscape))
num <- function(v, d) as.numeric(Sys.getenv(v, d))
n_section <- num("SCALE_N", "1e7")
n_images <- num("SCALE_IMAGES", "100")
n_per_image <- num("SCALE_IMAGE_N", "1e5")
density <- 3000                                   # cells per mm^2
# SCALE_DIR: keep the simulated tables (and tumour regions) there and reuse
# them on the next run; SCALE_ONLY: comma-separated call names to run.
dir <- Sys.getenv("SCALE_DIR", "")
keep <- nzchar(dir)
if (!keep) dir <- tempfile("bench-scale")
dir.create(dir, showWarnings = FALSE, recursive = TRUE)
only <- strsplit(Sys.getenv("SCALE_ONLY", ""), ",")[[1]]

simulate <- function(n_img, n_cells, file) {
    if (file.exists(file)) return(invisible())
    side <- sqrt(n_cells / density) * 1000        # microns
    t <- system.time(cells <- simulate_tme(n_images = n_img,
                                           cells_per_mm2 = density,
                                           size = side, seed = 1))
    saveRDS(cells, file, compress = FALSE)
    cat(sprintf("simulated %s cells in %d image(s) (%.0f um side): %.1f s\n",
                format(nrow(cells), big.mark = ","), n_img, side, t[[3]]))
}

# tumour regions once per data set, for the calls that take them (the
# cost of tumor_regions() itself is one of the timed calls)
make_regions <- function(file) {
    rfile <- sub("[.]rds$", "-regions.rds", file)
    if (file.exists(rfile)) return(rfile)
    callr::r(function(file, rfile) {
        suppressPackageStartupMessages(library(immunoscape))
        options(immunoscape.verbose = FALSE)
        cells <- readRDS(file)
        saveRDS(tumor_regions(cells, tumor = "Tumor", nthreads = 1), rfile)
    }, list(file, rfile))
    rfile
}

calls <- c(
    tissue_window = 'tissue_window(cells, "concave", nthreads = 1)',
    nearest_distances = 'nearest_distances(cells, from = "Tumor", to = "CD8 T", nthreads = 1)',
    count_neighbors = 'count_neighbors(cells, radius = 30, from = "Tumor", nthreads = 1)',
    ripley_k = 'ripley_k(cells, "Tumor", "CD8 T", r = seq(0, 100, 5), nthreads = 1)',
    pair_correlation = 'pair_correlation(cells, "Tumor", "CD8 T", r = seq(0, 100, 5), nthreads = 1)',
    g_function = 'g_function(cells, "Tumor", "CD8 T", r = seq(0, 100, 5), nthreads = 1)',
    interaction_test = 'interaction_test(cells, radius = 20, nperm = 19, nthreads = 1)',
    colocalization_quotient = 'colocalization_quotient(cells, k = 5, nthreads = 1)',
    neighborhood_composition = 'neighborhood_composition(cells, k = 10, nthreads = 1)',
    cellular_neighborhoods = 'cellular_neighborhoods(cells, k = 10, n = 6, nstart = 2, nthreads = 1)',
    mixing_score = 'mixing_score(cells, reference = "Tumor", target = "CD8 T", nthreads = 1)',
    hotspots = 'hotspots(cells, "CD8 T", cell_size = 50)',
    ripley_k_pooled = 'ripley_k(cells, from = NULL, r = seq(0, 100, 5), nthreads = 1)',
    tumor_regions = 'tumor_regions(cells, tumor = "Tumor", nthreads = 1)',
    compartments = 'compartments(cells, regions, nthreads = 1)',
    infiltration_profile = 'infiltration_profile(cells, regions, nthreads = 1)',
    immune_phenotype = 'immune_phenotype(cells, regions, nthreads = 1)',
    growth_pattern = 'growth_pattern(cells, regions, nthreads = 1)',
    detect_tls = 'detect_tls(cells, nthreads = 1)',
    spatial_profile = 'spatial_profile(cells, tumor = "Tumor", nthreads = 1)'
)

# elapsed and CPU (user + system) seconds of the call, and the peak
# resident memory of its process (reading the data included)
run_one <- function(file, rfile, code) {
    f <- function(file, rfile, code) {
        suppressPackageStartupMessages(library(immunoscape))
        options(immunoscape.verbose = FALSE)
        cells <- readRDS(file)
        regions <- readRDS(rfile)
        t <- system.time(r <- try(eval(parse(text = code)), silent = TRUE))
        hwm <- grep("^VmHWM", readLines("/proc/self/status"), value = TRUE)
        list(seconds = t[["elapsed"]],
             cpu = t[["user.self"]] + t[["sys.self"]],
             ok = !inherits(r, "try-error"),
             peak_gb = as.numeric(gsub("[^0-9]", "", hwm)) / 1024^2,
             error = if (inherits(r, "try-error")) as.character(r) else "")
    }
    callr::r(f, list(file, rfile, code))
}

bench <- function(label, file) {
    cat(sprintf("\n== %s\n", label))
    rfile <- make_regions(file)
    todo <- if (length(only)) intersect(names(calls), only) else names(calls)
    rows <- lapply(todo, function(nm) {
        r <- run_one(file, rfile, calls[[nm]])
        cat(sprintf("%-26s %8.1f s elapsed %8.1f s cpu  peak %5.2f GB  %s\n",
                    nm, r$seconds, r$cpu, r$peak_gb,
                    if (r$ok) "" else substr(r$error, 1, 60)))
        data.frame(call = nm, seconds = r$seconds, cpu = r$cpu,
                   peak_gb = r$peak_gb, ok = r$ok)
    })
    res <- do.call(rbind, rows)
    cat(sprintf("total %.1f s elapsed, %.1f s cpu; slowest %s (%.1f s cpu), peak %.2f GB\n",
                sum(res$seconds), sum(res$cpu), res$call[which.max(res$cpu)],
                max(res$cpu), max(res$peak_gb)))
    invisible(res)
}

section <- file.path(dir, "section.rds")
if (n_section > 0) {
    simulate(1, n_section, section)
    bench(sprintf("one section of %s cells", format(n_section, big.mark = ",")),
          section)
}
cohort <- file.path(dir, "cohort.rds")
if (n_images > 0) {
    simulate(n_images, n_per_image, cohort)
    bench(sprintf("%d images of %s cells", n_images,
                  format(n_per_image, big.mark = ",")), cohort)
}
if (!keep) unlink(dir, recursive = TRUE)
