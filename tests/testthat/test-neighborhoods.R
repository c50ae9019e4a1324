# Progress bars (drawn for multi-image calls in interactive sessions) off.
withr::local_options(immunoscape.verbose = FALSE)

test_that("neighborhood_composition (k) equals brute force on varied patterns", {
    for (kind in c("random", "clustered", "duplicated", "integer")) {
        set.seed(switch(kind, random = 31, clustered = 32, duplicated = 33,
                        integer = 34))
        df <- make_pattern(kind, n = 300)
        cells <- spatial_cells(df, window = "rectangle")
        lv <- levels(cells$type)
        for (k in c(1L, 5L, 10L)) {
            res <- neighborhood_composition(cells, k = k, nthreads = 1)
            bf <- bf_window_counts(df$x, df$y, df$type, lv, k = k)
            got <- as.matrix(as.data.frame(res)[paste0("count_", lv)])
            expect_identical(unname(got), unname(bf))
            expect_identical(res$n, rep(as.integer(k), nrow(df)))
            got_f <- as.matrix(as.data.frame(res)[paste0("frac_", lv)])
            expect_identical(unname(got_f), unname(bf / k))
        }
    }
})

test_that("neighborhood_composition (radius) equals brute force, ties count", {
    set.seed(35)
    df <- make_pattern("integer", n = 250)
    cells <- spatial_cells(df, window = "rectangle")
    lv <- levels(cells$type)
    for (r in c(0, 3, 5)) {
        res <- neighborhood_composition(cells, radius = r, nthreads = 2)
        bf <- bf_window_counts(df$x, df$y, df$type, lv, radius = r)
        got <- as.matrix(as.data.frame(res)[paste0("count_", lv)])
        expect_identical(unname(got), unname(bf))
        expect_identical(res$n, as.integer(rowSums(bf)))
    }
})

test_that("composition reports selected types, entropy and windows per image", {
    set.seed(36)
    df <- rbind(make_pattern("random", n = 120), make_pattern("random", n = 5))
    df$image <- rep(c("big", "tiny"), c(120, 5))
    cells <- spatial_cells(df, image = "image")
    res <- neighborhood_composition(cells, k = 10, types = "B")
    expect_s3_class(res, "neighborhood_composition")
    expect_named(res, c("image", "cell_id", "type", "n", "count_B", "frac_B",
                        "entropy"))
    # the tiny image has 5 cells: windows of 5, never reaching the big one
    expect_identical(res$n[res$image == "tiny"], rep(5L, 5))
    bf <- bf_window_counts(df$x[121:125], df$y[121:125], df$type[121:125],
                           c("A", "B", "C"), k = 10)
    expect_identical(res$count_B[res$image == "tiny"], bf[, 2])
    p <- bf / rowSums(bf)
    h <- -rowSums(ifelse(p > 0, p * log(p), 0))
    expect_equal(res$entropy[res$image == "tiny"], h, tolerance = 1e-14)
    expect_true(all(res$entropy >= 0 & res$entropy <= log(3) + 1e-12))
    expect_identical(
        neighborhood_composition(cells, k = 4, nthreads = 1),
        neighborhood_composition(cells, k = 4, nthreads = 2)
    )
    s <- summary(res)
    expect_true(all(c("image", "type", "to", "mean_fraction") %in% names(s)))
    full <- neighborhood_composition(cells, k = 10)
    ld <- ggplot2::layer_data(autoplot(full))
    expect_identical(nrow(ld), 9L)
    expect_output(print(full), "neighborhood_composition")
})

test_that("neighborhood_composition rejects bad input by class", {
    cells <- spatial_cells(make_pattern("random", n = 30))
    expect_error(neighborhood_composition(cells, k = 0),
                 class = "immunoscape_error_argument")
    expect_error(neighborhood_composition(cells, k = 2.5),
                 class = "immunoscape_error_argument")
    expect_error(neighborhood_composition(cells, k = 5, radius = 10),
                 class = "immunoscape_error_argument")
    expect_error(neighborhood_composition(cells, radius = -1),
                 class = "immunoscape_error_radius")
    expect_error(neighborhood_composition(cells, types = "Z"),
                 class = "immunoscape_error_type")
    expect_error(neighborhood_composition(cells, kk = 3),
                 class = "immunoscape_error_argument")
    expect_error(neighborhood_composition(list(1)),
                 class = "immunoscape_error_argument")
})

test_that("cellular_neighborhoods recovers planted regions across images", {
    set.seed(41)
    df <- rbind(planted_regions(n = 1500, shift = 0, image = "a"),
                planted_regions(n = 1500, shift = 200, image = "b"))
    cells <- spatial_cells(df, image = "image")
    cn <- cellular_neighborhoods(cells, k = 10, n = 3, seed = 1, nthreads = 1)
    expect_s3_class(cn, "cellular_neighborhoods")
    # as.data.frame(): exactly the join columns
    d <- as.data.frame(cn)
    expect_named(d, c("image", "cell_id", "neighborhood"))
    expect_identical(class(d), "data.frame")
    expect_identical(levels(d$neighborhood), c("CN1", "CN2", "CN3"))
    df$cell_id <- stats::ave(seq_along(df$x), df$image, FUN = seq_along)
    m <- merge(df, d, by = c("image", "cell_id"))
    a <- ari(m$region, m$neighborhood)
    expect_gte(a, 0.9)
    # the same planted region gets the same label in both images
    ai <- ari(m$region[m$image == "a"], m$neighborhood[m$image == "a"])
    ab <- ari(m$region[m$image == "b"], m$neighborhood[m$image == "b"])
    expect_gte(min(ai, ab), 0.9)
    lab_a <- tapply(m$neighborhood[m$image == "a"], m$region[m$image == "a"],
                    function(v) names(which.max(table(v))))
    lab_b <- tapply(m$neighborhood[m$image == "b"], m$region[m$image == "b"],
                    function(v) names(which.max(table(v))))
    expect_identical(lab_a, lab_b)
    expect_length(unique(lab_a), 3)
    if (requireNamespace("mclust", quietly = TRUE)) {
        expect_equal(a, mclust::adjustedRandIndex(m$region, m$neighborhood),
                     tolerance = 1e-12)
    }
    # labels ordered by size, reproducible, RNG of the caller untouched
    sz <- as.vector(table(cn$neighborhood))
    expect_false(is.unsorted(rev(sz)))
    set.seed(99)
    before <- runif(1)
    set.seed(99)
    cn2 <- cellular_neighborhoods(cells, k = 10, n = 3, seed = 1,
                                  nthreads = 2)
    expect_identical(runif(1), before)
    expect_identical(as.data.frame(cn2), as.data.frame(cn))
    # tables
    fr <- summary(cn, "frequencies")
    expect_equal(nrow(fr), 2 * 3)
    expect_equal(vapply(split(fr$fraction, fr$image), sum, 1),
                 c(a = 1, b = 1))
    en <- summary(cn, "enrichment")
    expect_named(en, c("neighborhood", "type", "cell_fraction", "overall",
                       "log2_enrichment"))
    tum <- en[en$type == "Tumor", ]
    expect_equal(sum(tum$log2_enrichment > 1), 1)
    pr <- summary(cn, "profiles")
    expect_equal(vapply(split(pr$window_fraction, pr$neighborhood), sum, 1),
                 c(CN1 = 1, CN2 = 1, CN3 = 1), tolerance = 1e-12)
    p <- autoplot(cn)
    ld <- ggplot2::layer_data(p)
    expect_equal(nrow(ld), 3 * nlevels(cells$type))
    expect_output(print(cn), "cellular_neighborhoods")
    # joins onto the cells for maps
    pc <- plot_cells(cells, color_by = "neighborhood", data = cn)
    ld <- ggplot2::layer_data(pc, 1)
    expect_identical(nrow(ld), nrow(cells))
    expect_identical(length(unique(ld$colour)), 3L)
})

test_that("cellular_neighborhoods on a window subsample (fit_size) recovers regions", {
    set.seed(41)
    df <- rbind(planted_regions(n = 1500, shift = 0, image = "a"),
                planted_regions(n = 1500, shift = 200, image = "b"))
    cells <- spatial_cells(df, image = "image")
    cn <- cellular_neighborhoods(cells, k = 10, n = 3, seed = 1,
                                 fit_size = 500, nthreads = 1)
    d <- as.data.frame(cn)
    df$cell_id <- stats::ave(seq_along(df$x), df$image, FUN = seq_along)
    m <- merge(df, d, by = c("image", "cell_id"))
    expect_gte(ari(m$region, m$neighborhood), 0.9)
    # oracle: every window is at its nearest reported centre (the centres
    # being the means of their windows), sums of squares over all windows
    comp <- as.data.frame(neighborhood_composition(cells, k = 10,
                                                   nthreads = 1))
    lv <- levels(cells$type)
    feat <- as.matrix(comp[paste0("frac_", lv)])
    pr <- summary(cn, "profiles")
    ctr <- matrix(pr$window_fraction, nrow = 3, byrow = TRUE)
    d2 <- vapply(1:3, function(i) colSums((t(feat) - ctr[i, ])^2),
                 numeric(nrow(feat)))
    lab <- as.integer(cn$neighborhood)
    expect_identical(lab, max.col(-d2, ties.method = "first"))
    own <- vapply(1:3, function(i) colMeans(feat[lab == i, , drop = FALSE]),
                  numeric(length(lv)))
    expect_equal(t(own), ctr, tolerance = 1e-12, ignore_attr = TRUE)
    km <- attr(cn, "kmeans")
    expect_equal(km$tot_withinss, sum(d2[cbind(seq_along(lab), lab)]),
                 tolerance = 1e-10)
    expect_equal(km$totss, sum(sweep(feat, 2, colMeans(feat))^2),
                 tolerance = 1e-10)
    # reproducible, independent of threads, caller's RNG untouched
    set.seed(99)
    before <- runif(1)
    set.seed(99)
    cn2 <- cellular_neighborhoods(cells, k = 10, n = 3, seed = 1,
                                  fit_size = 500, nthreads = 2)
    expect_identical(runif(1), before)
    expect_identical(as.data.frame(cn2), as.data.frame(cn))
    expect_error(cellular_neighborhoods(cells, fit_size = 0),
                 class = "immunoscape_error_argument")
})

test_that("cellular_neighborhoods validates input", {
    set.seed(42)
    cells <- spatial_cells(make_pattern("random", n = 60))
    expect_error(cellular_neighborhoods(cells, n = 0),
                 class = "immunoscape_error_argument")
    expect_error(cellular_neighborhoods(cells, k = 1, n = 5),
                 class = "immunoscape_error_argument")
    expect_error(cellular_neighborhoods(cells, seed = "a"),
                 class = "immunoscape_error_argument")
    expect_error(cellular_neighborhoods(cells, types = "Q"),
                 class = "immunoscape_error_type")
    cn <- cellular_neighborhoods(cells, n = 2)
    expect_error(summary(cn, what = "x"), class = "immunoscape_error_argument")
    expect_error(summary(cn, wat = "profiles"),
                 class = "immunoscape_error_argument")
})
