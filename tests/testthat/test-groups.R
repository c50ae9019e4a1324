# Image-level groups (issue 11, item 2): the patient column of the cells
# carried into every per-image result, checked against a hand join of the
# cells' image -> patient map.

# A cohort of 4 images from 2 patients (image k belongs to patient
# (k - 1) %% 2 + 1), built once.
groups_cohort <- local({
    sim <- NULL
    function() {
        if (is.null(sim)) {
            sim <<- quiet(simulate_tme(n_images = 4, size = 1000,
                                       cells_per_mm2 = 1000, seed = 1,
                                       n_patients = 2, n_tls = 1))
        }
        sim
    }
})

# The patient of each row of a result, by hand from the cells.
hand_patient <- function(res, cells, col = "patient") {
    first <- !duplicated(cells$image)
    map <- stats::setNames(as.character(cells[[col]][first]),
                           as.character(cells$image[first]))
    unname(map[as.character(res$image)])
}

expect_patient <- function(res, cells, col = "patient") {
    df <- as.data.frame(res)
    expect_true(col %in% names(df), label = paste(col, "column present"))
    expect_identical(match(col, names(df)), match("image", names(df)) + 1L)
    expect_identical(as.character(df[[col]]), hand_patient(df, cells, col))
    expect_identical(sum(names(df) == col), 1L)
}

test_that("spatial_cells() takes a patient column constant within images", {
    df <- data.frame(x = c(0, 50, 20, 10, 60, 30), y = c(0, 10, 40, 5, 20, 45),
                     type = c("A", "B", "A", "A", "B", "A"),
                     image = rep(c("i1", "i2"), each = 3),
                     patient = rep(c("p1", "p2"), each = 3))
    cells <- spatial_cells(df)
    expect_identical(attr(cells, "groups"), "patient")
    # other spellings are taken (and said), none when there is no column
    names(df)[5] <- "Patient_ID"
    expect_message(cells <- spatial_cells(df), "Patient_ID")
    expect_identical(attr(cells, "groups"), "Patient_ID")
    expect_identical(attr(spatial_cells(df[1:4]), "groups"), character())
    # explicit groups, and none
    df$donor <- rep(c("d1", "d2"), each = 3)
    expect_identical(attr(spatial_cells(df, groups = "donor"), "groups"),
                     "donor")
    expect_identical(attr(spatial_cells(df, groups = character()), "groups"),
                     character())
})

test_that("a group that varies within an image is refused or passed over", {
    df <- data.frame(x = c(0, 50, 20, 10, 60, 30), y = c(0, 10, 40, 5, 20, 45),
                     type = c("A", "B", "A", "A", "B", "A"),
                     image = rep(c("i1", "i2"), each = 3),
                     patient = c("p1", "p2", "p1", "p2", "p2", "p2"))
    expect_error(spatial_cells(df, groups = "patient"),
                 class = "immunoscape_error_groups")
    expect_snapshot(spatial_cells(df, groups = "patient"), error = TRUE)
    expect_error(spatial_cells(df, groups = "nope"),
                 class = "immunoscape_error_groups")
    expect_error(spatial_cells(df, groups = "x"),
                 class = "immunoscape_error_groups")
    expect_error(spatial_cells(df, groups = 1),
                 class = "immunoscape_error_groups")
    # not named: not taken, with a message naming the column
    expect_message(cells <- spatial_cells(df), "patient")
    expect_identical(attr(cells, "groups"), character())
    d <- nearest_distances(cells, to = "A")
    expect_false("patient" %in% names(d))
    expect_error(set_groups(cells, "patient"),
                 class = "immunoscape_error_groups")
})

test_that("set_groups() and image_groups() record and show the groups", {
    sim <- groups_cohort()
    expect_identical(image_groups(sim),
                     data.frame(image = factor(levels(sim$image)),
                                patient = sim$patient[!duplicated(sim$image)]))
    none <- set_groups(sim, character())
    expect_identical(names(image_groups(none)), "image")
    expect_false("patient" %in% names(nearest_distances(none, from = "Tumor",
                                                          to = "CD8 T")))
    sim$site <- ifelse(sim$image %in% c("image1", "image2"), "liver", "lung")
    two <- set_groups(sim, c("patient", "site"))
    d <- nearest_distances(two, from = "Tumor", to = "CD8 T")
    expect_identical(names(d)[2:3], c("patient", "site"))
    expect_identical(d$site, hand_patient(d, two, "site"))
})

test_that("groups survive subsetting, splitting and re-wrapping", {
    sim <- groups_cohort()
    sim$site <- ifelse(sim$image %in% c("image1", "image2"), "liver", "lung")
    sim <- set_groups(sim, "site")
    sub <- sim[sim$image %in% c("image2", "image3"), ]
    expect_identical(attr(sub, "groups"), "site")
    expect_identical(attr(split(sim)[[2]], "groups"), "site")
    expect_identical(attr(sim[, c("cell_id", "image", "x", "y", "type")],
                          "groups"), character())
    expect_identical(attr(as_spatial_cells(sim, window = "rectangle"),
                          "groups"), "site")
    expect_null(attr(as.data.frame(sim), "groups"))
    d <- nearest_distances(sub, from = "Tumor", to = "CD8 T")
    expect_patient(d, sub, "site")
})

test_that("every per-image result carries the patient after image", {
    sim <- groups_cohort()
    r <- seq(0, 50, 10)
    nd <- nearest_distances(sim, from = "Tumor", to = "CD8 T")
    expect_patient(nd, sim)
    expect_patient(summary(nd), sim)
    cn <- count_neighbors(sim, radius = 20, from = "Tumor", to = "CD8 T")
    expect_patient(cn, sim)
    expect_patient(summary(cn), sim)
    for (f in list(ripley_k, ripley_l, pair_correlation, g_function)) {
        k <- f(sim, "Tumor", "CD8 T", r = r)
        expect_patient(k, sim)
        expect_patient(summary(k), sim)
    }
    l <- quiet(ripley_l(sim, "Tumor", "CD8 T", r = r, envelope = "labels",
                        nsim = 5))
    expect_patient(summary(l), sim)
    it <- interaction_test(sim, nperm = 9)
    expect_patient(it, sim)
    ms <- mixing_score(sim, "CD8 T", "Tumor")
    expect_patient(ms, sim)
    ca <- quiet(classify_architecture(sim, tumor = "Tumor", immune = "CD8 T"))
    expect_patient(ca, sim)
    cq <- colocalization_quotient(sim, radius = 20)
    expect_patient(cq, sim)
    lq <- local_colocalization_quotient(sim, from = "Tumor", to = "CD8 T",
                                        radius = 20)
    expect_patient(lq, sim)
    expect_patient(summary(lq), sim)
    h <- hotspots(sim, "CD8 T", cell_size = 50)
    expect_patient(h, sim)
    expect_patient(summary(h), sim)
    nc <- neighborhood_composition(sim, k = 10)
    expect_patient(nc, sim)
    expect_patient(summary(nc), sim)
    cnb <- cellular_neighborhoods(sim, k = 10, n = 4)
    expect_patient(cnb, sim)
    expect_patient(summary(cnb), sim)
})

test_that("compartment, TLS and cohort results carry the patient", {
    sim <- groups_cohort()
    reg <- tumor_regions(sim)
    expect_patient(reg, sim)
    expect_patient(summary(reg), sim)
    cp <- compartments(sim, reg)
    expect_patient(cp, sim)
    expect_patient(summary(cp), sim)
    expect_patient(infiltration_profile(sim, reg, types = "CD8 T"), sim)
    expect_patient(immune_phenotype(sim, reg), sim)
    expect_patient(compartment_ratios(sim, reg), sim)
    expect_patient(growth_pattern(sim, reg), sim)
    tls <- detect_tls(sim, regions = reg)
    for (tab in c("tls", "members", "composition", "outlines", "images")) {
        expect_patient(tls[[tab]], sim)
    }
    expect_patient(summary(tls), sim)
    prof <- spatial_profile(sim, features = profile_features(c("counts",
                                                              "ratio")))
    expect_patient(prof, sim)
    agg <- aggregate_profile(prof, by = "patient")
    expect_identical(as.character(agg$patient), c("patient1", "patient2"))
    expect_identical(agg$n_images, c(2L, 2L))
    expect_identical(agg$n_cells,
                     as.numeric(tapply(prof$n_cells, prof$patient, sum)))
    # carry still chooses (and an explicit carry replaces the groups)
    expect_false("patient" %in% names(spatial_profile(
        sim, features = profile_features("counts"), carry = character())))
})

test_that("pooled summaries and results without an image are unchanged", {
    sim <- groups_cohort()
    it <- interaction_test(sim, nperm = 9)
    expect_false("patient" %in% names(summary(it)))
    ms <- mixing_score(sim, "CD8 T", "Tumor")
    expect_false("patient" %in% names(summary(ms)))
})

test_that("the patient column may be factor, character, integer or NA", {
    sim <- groups_cohort()
    df <- as.data.frame(sim)[c("image", "x", "y", "type", "patient")]
    for (v in list(factor(df$patient), as.character(df$patient),
                   as.integer(factor(df$patient)) + 10L)) {
        df$patient <- v
        cells <- spatial_cells(df, window = "rectangle")
        d <- nearest_distances(cells, from = "Tumor", to = "CD8 T")
        expect_identical(class(d$patient), class(v))
        expect_patient(d, cells)
        k <- summary(ripley_l(cells, "Tumor", "CD8 T", r = c(0, 20, 40)))
        expect_identical(class(k$patient), class(v))
        expect_patient(k, cells)
    }
    # an image of unknown patient: allowed, said, carried as NA
    df$patient <- as.character(sim$patient)
    df$patient[df$image == "image3"] <- NA
    expect_message(cells <- spatial_cells(df, window = "rectangle"),
                   "image3")
    expect_identical(attr(cells, "groups"), "patient")
    d <- mixing_score(cells, "CD8 T", "Tumor")
    expect_identical(d$patient, c("patient1", "patient2", NA, "patient2"))
    # aggregated as one group of unknown patient, not dropped
    prof <- spatial_profile(cells, features = profile_features("counts"))
    expect_message(agg <- aggregate_profile(prof, by = "patient"),
                   "unknown")
    expect_identical(agg$patient, c("patient1", "patient2", NA))
    expect_identical(agg$n_images, c(1L, 2L, 1L))
    expect_equal(sum(agg$n_cells), sum(prof$n_cells))
})

test_that("results keep their own column of a group's name", {
    sim <- groups_cohort()
    sim$type_group <- "x"
    sim <- set_groups(sim, c("patient", "type_group"))
    it <- interaction_test(sim, nperm = 0)
    expect_identical(sum(names(it) == "patient"), 1L)
    # a result that already has the column is not given a second one
    df <- data.frame(image = factor(c("image1", "image2")), patient = "mine")
    out <- immunoscape:::carry_groups(df, sim)
    expect_identical(out$patient, c("mine", "mine"))
    expect_identical(out$type_group, c("x", "x"))
})

test_that("cells without groups give results as before", {
    set.seed(1)
    df <- data.frame(x = runif(200, 0, 300), y = runif(200, 0, 300),
                     type = sample(c("A", "B"), 200, TRUE),
                     image = rep(c("i1", "i2"), each = 100))
    cells <- spatial_cells(df)
    expect_identical(names(nearest_distances(cells, to = "B")),
                     c("image", "cell_id", "from", "to", "k", "distance",
                       "nearest_id"))
    expect_identical(names(mixing_score(cells, "A", "B"))[1:2],
                     c("image", "n_reference"))
    expect_null(attr(nearest_distances(cells, to = "B"), "image_groups"))
})

# The plot is drawn (built), not only constructed.
expect_plot <- function(p) {
    expect_s3_class(p, "ggplot")
    expect_no_error(ggplot2::ggplot_build(p))
}

test_that("printing and plots work with the patient column", {
    sim <- groups_cohort()
    ms <- mixing_score(sim, "CD8 T", "Tumor")
    expect_output(print(ms), "patient")
    l <- ripley_l(sim, "Tumor", "CD8 T", r = seq(0, 50, 10))
    expect_plot(autoplot(l))
    expect_plot(autoplot(ms))
    reg <- tumor_regions(sim)
    expect_plot(autoplot(reg))
    expect_plot(plot_cells(sim, regions = reg))
    ph <- immune_phenotype(sim, reg, min_expected = 0)
    expect_output(print(ph))
    expect_plot(autoplot(ph))
    tls <- detect_tls(sim, regions = reg)
    expect_output(print(tls))
    expect_plot(autoplot(tls))
    expect_plot(autoplot(growth_pattern(sim, reg)))
    # (autoplot() of compartment_ratios() on several images fails with or
    # without groups: it facets by a `to` column the result lacks)
    expect_output(print(compartment_ratios(sim, reg)), "patient")
    expect_plot(autoplot(infiltration_profile(sim, reg, types = "CD8 T")))
    expect_plot(autoplot(spatial_profile(sim, features = profile_features("counts"))))
})

test_that("SingleCellExperiment and SpatialExperiment keep the patient", {
    skip_if_not_installed("SingleCellExperiment")
    sim <- groups_cohort()
    sce <- as_sce(sim)
    back <- as_spatial_cells(sce)
    expect_identical(attr(back, "groups"), "patient")
    d <- nearest_distances(sce, from = "Tumor", to = "CD8 T")
    expect_patient(d, sim)
    # an explicit group under another name is kept with the object
    sim$donor <- paste0("d", as.integer(sim$patient))
    sim <- set_groups(sim, "donor")
    back <- as_spatial_cells(as_sce(sim))
    expect_identical(attr(back, "groups"), "donor")
    skip_if_not_installed("SpatialExperiment")
    spe <- as_spe(sim)
    expect_identical(attr(as_spatial_cells(spe), "groups"), "donor")
    expect_patient(mixing_score(spe, "CD8 T", "Tumor"), sim, "donor")
})
