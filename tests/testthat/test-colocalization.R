# colocalization_quotient() and local_colocalization_quotient(): brute-force
# oracles with ties, permutation calibration.

test_that("global colocation quotient equals brute force, ties split", {
    for (kind in c("random", "integer", "duplicated")) {
        set.seed(switch(kind, random = 61, integer = 62, duplicated = 63))
        df <- make_pattern(kind, n = 200)
        cells <- spatial_cells(df, window = "rectangle")
        lv <- levels(cells$type)
        for (nb in list(list(k = 1L), list(k = 4L), list(radius = 12))) {
            ord <- immunoscape:::interaction_grid_order(
                cells, k = nb$k, radius = nb$radius, ties = TRUE)
            res <- colocalization_quotient(cells, k = nb$k, radius = nb$radius,
                                           nthreads = 2)
            bf <- bf_clq(df$x, df$y, df$type, lv, k = nb$k,
                         radius = nb$radius, order = ord)
            expect_identical(obs_matrix(res, lv), bf)
        }
    }
    # default: k = 1
    expect_identical(colocalization_quotient(cells)$clq,
                     colocalization_quotient(cells, k = 1)$clq)
})

test_that("local CLQ equals brute force and averages to the global CLQ", {
    set.seed(64)
    df <- make_pattern("integer", n = 220)
    cells <- spatial_cells(df, window = "rectangle")
    lv <- levels(cells$type)
    for (nb in list(list(k = 1L), list(k = 5L), list(radius = 4))) {
        loc <- local_colocalization_quotient(cells, k = nb$k,
                                             radius = nb$radius)
        bf <- bf_local_clq(df$x, df$y, df$type, lv, k = nb$k,
                           radius = nb$radius)
        expect_identical(loc$local_clq, as.vector(t(bf)))
        glob <- colocalization_quotient(cells, k = nb$k, radius = nb$radius)
        mean_loc <- stats::aggregate(local_clq ~ from + to, data = loc,
                                     FUN = mean)
        key <- paste(glob$from, glob$to)
        expect_equal(mean_loc$local_clq[match(key, paste(mean_loc$from,
                                                         mean_loc$to))],
                     glob$clq, tolerance = 1e-12)
    }
    sl <- summary(loc)
    expect_equal(nrow(sl), 9)
    expect_s3_class(autoplot(loc), "ggplot")
    expect_output(print(loc), "local_clq")
    one <- local_colocalization_quotient(cells, from = "B", to = "A", k = 2)
    expect_true(all(one$from == "B") && all(one$to == "A"))
    expect_error(colocalization_quotient(cells, k = 2, radius = 10),
                 class = "immunoscape_error_argument")
    expect_error(colocalization_quotient(cells, k = 0),
                 class = "immunoscape_error_argument")
    expect_error(local_colocalization_quotient(cells, from = "X"),
                 class = "immunoscape_error_type")
})

test_that("CLQ permutation mean is 1 under random labels", {
    set.seed(65)
    df <- null_image(800, 500, c("A", "B"), "one")
    cells <- spatial_cells(df, window = "rectangle")
    res <- colocalization_quotient(cells, k = 3, nperm = 199)
    expect_equal(res$perm_mean, rep(1, 4), tolerance = 0.02)
    expect_true(all(res$p_greater > 0 & res$p_greater <= 1))
    expect_s3_class(res, "colocalization_quotient")
    expect_output(print(res), "colocalization_quotient")
})
