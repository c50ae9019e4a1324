# spatial_profile() on the real 247-field Vectra NSCLC cohort (50 patients):
# time with SerialParam(), SnowParam(2), MulticoreParam(2) and check that
# the three profiles are identical.
#   R_LIBS=<lib> Rscript bench/bench-profile.R [data dir]
# Measured 2026-12-05 at load < 1 (2 cores), default feature groups, 247
# images / 50 patients / 285,412 cells, 50 columns, all three identical:
#   SerialParam 11.1 s, SnowParam(2) 10.3 s, MulticoreParam(2) 7.3 s;
# the cohort plus one broken image gives 248 rows, its note filled.
suppressPackageStartupMessages({
    library(immunoscape)
    library(BiocParallel)
})
args <- commandArgs(TRUE)
path <- if (length(args)) args[1] else
    "/work/shared/data/nsclc_vectra_cohort/cells.csv.gz"
raw <- utils::read.csv(path)
# "CD8 T (CD8+)" -> "CD8 T", "Tumor (CK+)" -> "Tumor"
raw$phenotype <- sub(" \\(.*\\)$", "", raw$phenotype)
cells <- spatial_cells(raw, x = "x_um", y = "y_um", type = "phenotype",
                       image = "patientImage_id", cell_id = "cell_id")
immune <- c("CD8 T", "CD4 T", "B cell", "Monocyte/Macrophage")
carry <- c("patient_id", "gender", "age", "stage", "survival_days",
           "survival_status")
options(immunoscape.verbose = FALSE)
# the groups that do not outline tumour regions (the fields are crops of
# the tumour compartment)
feats <- profile_features(c("counts", "ratio", "distances", "mixing",
                            "interactions", "kfunctions", "neighborhoods"))
run <- function(bp) {
    set.seed(42)
    t <- system.time(p <- spatial_profile(cells, tumor = "Tumor",
                                          immune = immune, carry = carry,
                                          features = feats,
                                          nthreads = 1, BPPARAM = bp))
    list(profile = p, time = t[["elapsed"]])
}
backends <- list(SerialParam = SerialParam(),
                 SnowParam2 = SnowParam(2),
                 MulticoreParam2 = MulticoreParam(2))
res <- lapply(backends, run)
times <- vapply(res, `[[`, numeric(1), "time")
same <- vapply(res, function(r) identical(r$profile, res[[1]]$profile),
               logical(1))
p <- res[[1]]$profile
cat(sprintf("%d images, %d patients, %d cells, %d feature columns\n",
            nrow(p), length(unique(p$patient_id)), nrow(cells),
            length(attr(p, "aggregate"))))
print(data.frame(backend = names(backends), seconds = round(times, 1),
                 identical_to_serial = same, row.names = NULL))
stopifnot(all(same))

# a cohort with one broken image (one cell, no tumour cell) completes
broken <- data.frame(x_um = 10, y_um = 10, phenotype = "CD8 T",
                     patientImage_id = "broken_1", cell_id = 1L,
                     patient_id = 999L, gender = "F", age = 60, stage = "1",
                     survival_days = 100, survival_status = 0L)
raw2 <- rbind(raw[names(broken)], broken)
cells2 <- spatial_cells(raw2, x = "x_um", y = "y_um", type = "phenotype",
                        image = "patientImage_id", cell_id = "cell_id")
set.seed(42)
p2 <- spatial_profile(cells2, tumor = "Tumor", immune = immune,
                      carry = carry, features = feats, nthreads = 1)
cat(sprintf("with a broken image: %d rows; its note: %s\n", nrow(p2),
            p2$note[p2$image == "broken_1"]))
stopifnot(nrow(p2) == nrow(p) + 1L, !is.na(p2$note[p2$image == "broken_1"]))
