# Tumour regions from tumour cells alone against the vendors' own tissue
# classification (issue 9): inForm lung field and HALO TMA cores.
#
#   R_LIBS=/work/lib-tissue2 Rscript bench/real-regions.R [outdir]
suppressMessages(library(immunoscape))
options(immunoscape.verbose = FALSE)
args <- commandArgs(TRUE)
out <- if (length(args)) args[1] else tempdir()
data <- "/work/shared/data"

inside <- function(cells, reg) {
    res <- logical(nrow(cells))
    for (im in levels(cells$image)) {
        i <- which(cells$image == im)
        d <- immunoscape:::region_signed_distance(reg, im, cells$x[i],
                                                  cells$y[i], 2L)
        res[i] <- !is.na(d) & d <= 0
    }
    res
}
settings <- list(
    default = list(),
    nests = list(level = "nests"),
    concave = list(method = "concave", level = "nests"),
    default_norefine = list(refine = 0)
)
report <- function(label, cells, tumor, truth) {
    base <- mean((cells$type %in% tumor) == truth)
    cat(sprintf("\n== %s: %d cells; baseline (each cell by its own type): %.4f\n",
                label, nrow(cells), base))
    regs <- list()
    for (nm in names(settings)) {
        reg <- do.call(tumor_regions, c(list(cells, tumor = tumor),
                                        settings[[nm]]))
        a <- mean(inside(cells, reg) == truth)
        cat(sprintf("  %-16s agreement %.4f  (%s)\n", nm, a,
                    paste(names(settings[[nm]]), unlist(settings[[nm]]),
                          sep = " = ", collapse = ", ")))
        regs[[nm]] <- reg
    }
    regs
}

# inForm ------------------------------------------------------------------
inf <- read_cells(file.path(data, "inform_lung_field/cell_seg_data.csv.gz"))
truth <- inf[["Tissue Category"]] == "Tumor"
regs <- report("inForm lung field (CK+ = tumour)", inf, "CK+", truth)
dv <- inf[["Distance from Tissue Category Edge (microns)"]]
for (nm in names(regs)) {
    comp <- compartments(inf, regs[[nm]], margin = 100)
    o <- match(inf$cell_id, comp$cell_id)
    bd <- abs(comp$border_distance[o])
    ok <- !is.na(dv)
    err <- abs(bd - dv)[ok]
    cat(sprintf("  %-8s |border_distance| vs inForm distance: median abs diff %.1f um, q90 %.1f, max %.1f (n = %d)\n",
                nm, stats::median(err), stats::quantile(err, 0.9),
                max(err), sum(ok)))
}
# where they differ most: by vendor category and by our side
comp <- compartments(inf, regs$nests, margin = 100)
o <- match(inf$cell_id, comp$cell_id)
diff <- abs(abs(comp$border_distance[o]) - dv)
big <- !is.na(diff) & diff > 20
cat("  cells differing by > 20 um (nests setting), by vendor category and agreement of side:\n")
print(table(vendor = inf[["Tissue Category"]][big],
            same_side = ((comp$border_distance[o] <= 0) == truth)[big]))
reg_v <- tumor_regions(inf, tissue = "Tissue Category", level = "tumor")
a_v <- mean(inside(inf, reg_v) == truth)
comp_v <- compartments(inf, reg_v, margin = 100)
err_v <- abs(abs(comp_v$border_distance[match(inf$cell_id,
                                              comp_v$cell_id)]) - dv)
cat(sprintf("  regions from the vendor column (tissue = \"Tissue Category\", level = \"tumor\"): agreement %.4f; distance median abs diff %.1f um\n",
            a_v, stats::median(err_v, na.rm = TRUE)))
reg_v2 <- tumor_regions(inf, tissue = "Tissue Category")
comp_v2 <- compartments(inf, reg_v2, margin = 100)
err_v2 <- abs(abs(comp_v2$border_distance[match(inf$cell_id,
                                                comp_v2$cell_id)]) - dv)
cat(sprintf("  ... with the default for tissue (level = \"nests\"): agreement %.4f; distance median abs diff %.1f um\n",
            mean(inside(inf, reg_v2) == truth),
            stats::median(err_v2, na.rm = TRUE)))
ggplot2::ggsave(file.path(out, "inform-regions.png"),
                plot_cells(inf, color_by = "Tissue Category",
                           regions = regs$nests) +
                    ggplot2::ggtitle("inForm field: vendor tissue category, our regions (nests setting)"),
                width = 9, height = 6.5, dpi = 100)
ggplot2::ggsave(file.path(out, "inform-regions-default.png"),
                plot_cells(inf, regions = regs$default) +
                    ggplot2::ggtitle("inForm field: default regions"),
                width = 9, height = 6.5, dpi = 100)

# HALO --------------------------------------------------------------------
h <- utils::read.csv(file.path(data, "halo_tma_cores/cells.csv"))
hc <- spatial_cells(h, x = "x_px", y = "y_px", type = "phenotype",
                    image = "sample", pixel_size = 0.5)
truth_h <- hc$tissue_class == "Tumor"
regs_h <- report("HALO TMA cores (Tumor (unphenotyped) = tumour)", hc,
                 "Tumor (unphenotyped)", truth_h)
for (nm in names(regs_h)) {
    ins <- inside(hc, regs_h[[nm]])
    cat(sprintf("  %-8s per core: %s\n", nm, paste(sprintf("%.3f", tapply(
        ins == truth_h, hc$image, mean)), collapse = " ")))
}
hc$vendor <- hc$tissue_class
ggplot2::ggsave(file.path(out, "halo-regions.png"),
                plot_cells(hc, color_by = "vendor", regions = regs_h$nests,
                           point_size = 0.5) +
                    ggplot2::ggtitle("HALO cores: vendor tissue class, our regions (nests setting)"),
                width = 12, height = 8, dpi = 90)
