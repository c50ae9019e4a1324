# Maps of simulate_tme() sections, one per growth pattern x infiltration,
# with the true tumour outline, plus a zoom on the border of each: look at
# them after changing the simulator.
#   R_LIBS=... Rscript bench/gallery-simulate.R [out_dir]
library(immunoscape)
library(ggplot2)
out <- commandArgs(TRUE)[1]
if (is.na(out)) out <- "sim-gallery"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
pal <- c(Tumor = "#F0A830", Hepatocyte = "#CDBBE0", Kupffer = "#6A3D9A",
         Endothelial = "#E31A1C", Fibroblast = "#7F6B3A", "CD8 T" = "#1F5FD4",
         "CD4 T" = "#2CA02C", Treg = "#FF69B4", B = "#000080",
         Macrophage = "#8B4513", FDC = "#FF00FF", "GC B" = "#00CED1",
         Other = "grey70")
grid <- expand.grid(pattern = c("desmoplastic", "replacement", "pushing"),
                    infiltration = c("inflamed", "excluded", "desert"),
                    stringsAsFactors = FALSE)
for (k in seq_len(nrow(grid))) {
    cells <- simulate_tme(seed = k, pattern = grid$pattern[k],
                          infiltration = grid$infiltration[k],
                          necrosis = k %% 2 == 0,
                          n_nodules = 1 + (k %% 3 == 0))
    poly <- attr(cells, "tumor_polygons")
    outline <- geom_polygon(data = poly,
                            aes(x, y, group = interaction(polygon, ring)),
                            inherit.aes = FALSE, fill = NA,
                            colour = "black", linewidth = 0.3)
    title <- paste(grid$pattern[k], grid$infiltration[k])
    p <- plot_cells(cells, palette = pal, point_size = 0.9) + outline +
        ggtitle(title)
    ggsave(file.path(out, sprintf("%d-%s-%s.png", k, grid$pattern[k],
                                  grid$infiltration[k])),
           p, width = 11, height = 10, dpi = 110)
    v <- poly[which.min(poly$x), ]
    z <- plot_cells(cells, palette = pal, point_size = 2.2) + outline +
        coord_equal(xlim = v$x + c(-500, 300), ylim = v$y + c(-400, 400)) +
        ggtitle(paste("border:", title))
    suppressMessages(ggsave(file.path(out, sprintf("%d-zoom.png", k)), z,
                            width = 9, height = 8, dpi = 100))
}
