# tumor_regions(), compartments(), growth_pattern() and immune_phenotype()
# against the ground truth of simulate_tme() (one section per growth
# pattern; bench/validate-compartments.R runs 5 seeds of every kind).

immune_types <- c("CD8 T", "CD4 T", "Treg", "B", "Macrophage")

# Jaccard index of two polygon sets of one image, rasterised at h microns.
sim_jaccard <- function(a, b, image, h = 5) {
    xr <- range(a$x, b$x)
    yr <- range(a$y, b$y)
    g <- expand.grid(x = seq(xr[1] + h / 2, xr[2], by = h),
                     y = seq(yr[1] + h / 2, yr[2], by = h))
    ia <- immunoscape:::window_inside(a, image, g$x, g$y)
    ib <- immunoscape:::window_inside(b, image, g$x, g$y)
    c(sum(ia & ib) / sum(ia | ib), sum(ia) / sum(ib) - 1)
}

test_that("simulated sections: regions, distances, compartments, calls", {
    kinds <- data.frame(pattern = c("desmoplastic", "replacement", "pushing"),
                        infiltration = c("excluded", "inflamed", "desert"))
    for (k in seq_len(nrow(kinds))) {
        sim <- simulate_tme(pattern = kinds$pattern[k],
                            infiltration = kinds$infiltration[k],
                            seed = 100 + k, nthreads = 1L)
        im <- levels(sim$image)
        reg <- tumor_regions(sim, ignore = immune_types)
        truth <- as_regions(attr(sim, "tumor_polygons"), sim)
        jc <- sim_jaccard(reg, truth, im)
        expect_gt(jc[1], 0.85)
        expect_lt(abs(jc[2]), 0.1)
        comp <- compartments(sim, reg)
        tb <- sim$true_border_distance
        bd <- comp$border_distance[match(sim$cell_id, comp$cell_id)]
        clear <- abs(tb) > 30 & abs(bd) > 30
        # the replacement border is a band of interdigitating cords, so
        # the outline found lies within a few tens of microns of the truth
        expect_lt(stats::median(abs(bd - tb)[clear]),
                  if (kinds$pattern[k] == "replacement") 40 else 15)
        away <- pmin(abs(tb - 500), abs(tb), abs(tb + 500)) > 30
        tc <- immunoscape:::compartment_of(tb, 500)
        oc <- as.integer(comp$compartment[match(sim$cell_id, comp$cell_id)])
        expect_gt(mean(tc[away] == oc[away]), 0.9)
        g <- growth_pattern(sim, reg)
        expect_equal(as.character(g$pattern), kinds$pattern[k])
        ph <- immune_phenotype(sim, reg)
        expect_equal(as.character(ph$phenotype), kinds$infiltration[k])
    }
})

test_that("extreme geometry arguments are classed errors naming the argument (issue 12)", {
    sim <- quiet(simulate_tme(size = 1000, cells_per_mm2 = 1000, seed = 1,
                              n_tls = 0))
    expect_error(tumor_regions(sim, gap = 1e300), "gap",
                 class = "immunoscape_error_argument")
    reg <- tumor_regions(sim)
    expect_error(immune_phenotype(sim, reg, tile = 1e-300), "tile",
                 class = "immunoscape_error_argument")
    # a factor names the argument, not its value
    expect_error(immune_phenotype(sim, reg, immune = factor("Z")), "immune",
                 class = "immunoscape_error_type")
    liver <- quiet(simulate_tme(size = 1000, cells_per_mm2 = 1000, seed = 1,
                                pattern = "replacement", n_tls = 0))
    expect_error(growth_pattern(liver, tumor_regions(liver), segment = 1e-300),
                 "segment", class = "immunoscape_error_argument")
})
