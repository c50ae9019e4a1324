# Cohort figures for issue 8 (envelope directions, architecture classes) on
# the 247-field Vectra NSCLC cohort. Run with the library to measure:
#   R_LIBS=/work/lib-NAME Rscript bench/issue8-cohort.R out.rds
# and compare two outputs with bench/issue8-compare.R.
suppressPackageStartupMessages(library(immunoscape))
args <- commandArgs(TRUE)
out <- if (length(args)) args[1] else "issue8-cohort.rds"
path <- "/work/shared/data/nsclc_vectra_cohort/cells.csv.gz"
df <- utils::read.csv(path)
df$phenotype <- sub(" \\(.*\\)$", "", df$phenotype)
cells <- spatial_cells(df, x = "x_um", y = "y_um", type = "phenotype",
                       image = "patientImage_id", cell_id = "cell_id")
set.seed(1)
t0 <- proc.time()[["elapsed"]]
l <- ripley_l(cells, "Tumor", "CD8 T", envelope = "labels", nsim = 99)
t_l <- proc.time()[["elapsed"]] - t0
s <- summary(l)
immune <- c("CD8 T", "CD4 T", "B cell", "Monocyte/Macrophage")
arch <- classify_architecture(cells, tumor = "Tumor", immune = immune)
saveRDS(list(summary_l = as.data.frame(s), arch = as.data.frame(arch),
             arch_attr = attributes(arch)[c("radius", "min_immune",
                                            "threshold")],
             time_l = t_l, areas = window_area(cells)), out)
print(table(s$direction, useNA = "ifany"))
print(table(arch$class, useNA = "ifany"))
