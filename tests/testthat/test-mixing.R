# mixing_score() and classify_architecture(): brute-force counts, random
# labels, edge cases, the Keren et al. (2018) classes.

test_that("mixing score counts equal brute force", {
    for (s in 71:73) {
        set.seed(s)
        df <- make_pattern(if (s == 73) "integer" else "clustered", n = 300)
        df$image <- rep(c("p", "q"), each = 150)
        cells <- spatial_cells(df, image = "image")
        r <- if (s == 73) 3 else 20
        res <- mixing_score(cells, reference = c("B", "C"), target = "A",
                            radius = r)
        for (im in c("p", "q")) {
            d <- df[df$image == im, ]
            bf <- bf_mixing(d$x, d$y, d$type, c("B", "C"), "A", r)
            row <- res[res$image == im, ]
            expect_identical(row$n_reference_target, unname(bf[["rt"]]))
            expect_identical(row$n_reference_reference, unname(bf[["rr"]]))
            expect_identical(row$mixing_score, unname(bf[["rt"]] / bf[["rr"]]))
            nr <- sum(d$type %in% c("B", "C"))
            nt <- sum(d$type == "A")
            expect_identical(row$n_reference, nr)
            expect_equal(row$normalized_mixing_score,
                         (bf[["rt"]] / bf[["rr"]]) / (2 * nt / (nr - 1)),
                         ignore_attr = TRUE)
        }
    }
})

test_that("normalized mixing score is about 1 under random labels", {
    set.seed(74)
    df <- do.call(rbind, lapply(1:20, function(i) {
        null_image(600, 400, c("T", "I"), paste0("m", i))
    }))
    cells <- spatial_cells(df, image = "image", window = "rectangle")
    res <- withr::with_options(list(immunoscape.verbose = FALSE),
                               mixing_score(cells, "I", "T", radius = 25))
    expect_equal(mean(res$normalized_mixing_score), 1, tolerance = 0.05)
    expect_s3_class(autoplot(res), "ggplot")
})

test_that("mixing score edge cases: Inf, NA, overlapping roles", {
    df <- data.frame(x = c(0, 10, 100, 200, 300, 5),
                     y = c(0, 0, 100, 0, 300, 200),
                     type = c("I", "T", "I", "T", "T", "T"))
    cells <- spatial_cells(df)
    res <- mixing_score(cells, "I", "T", radius = 15)
    expect_identical(res$n_reference_reference, 0)
    expect_identical(res$mixing_score, Inf)
    res0 <- mixing_score(cells, "I", "T", radius = 1)
    expect_true(is.na(res0$mixing_score))
    expect_error(mixing_score(cells, "I", c("T", "I")),
                 class = "immunoscape_error_type")
    expect_error(mixing_score(cells, target = "T"),
                 class = "immunoscape_error_type")
    expect_error(mixing_score(cells, "I", "T", radius = "a"),
                 class = "immunoscape_error_radius")
})

test_that("classify_architecture finds cold, compartmentalized and mixed", {
    set.seed(75)
    mixed <- data.frame(x = runif(800, 0, 400), y = runif(800, 0, 400),
                        type = sample(c("Tumor", "CD8 T"), 800, TRUE,
                                      c(0.6, 0.4)), image = "mixed")
    comp <- data.frame(x = c(runif(300, 0, 200), runif(500, 200, 400)),
                       y = runif(800, 0, 400),
                       type = rep(c("CD8 T", "Tumor"), c(300, 500)),
                       image = "compartmentalized")
    # min_immune is a density: 40 immune cells in 0.16 mm^2 is 250 per
    # mm^2, below the default 390 (it used to be a count of 250)
    cold <- data.frame(x = runif(800, 0, 400), y = runif(800, 0, 400),
                       type = rep(c("CD8 T", "Tumor"), c(40, 760)),
                       image = "cold")
    notum <- data.frame(x = runif(300, 0, 400), y = runif(300, 0, 400),
                        type = "CD8 T", image = "no tumour")
    cells <- spatial_cells(rbind(mixed, comp, cold, notum), image = "image")
    expect_message(
        res <- classify_architecture(cells, tumor = "Tumor", immune = "CD8 T"),
        class = "immunoscape_message"
    )
    cls <- setNames(as.character(res$class), res$image)
    expect_identical(cls[["mixed"]], "mixed")
    expect_identical(cls[["compartmentalized"]], "compartmentalized")
    expect_identical(cls[["cold"]], "cold")
    expect_true(is.na(cls[["no tumour"]]))
    ms <- mixing_score(cells, "CD8 T", "Tumor")
    expect_identical(res$mixing_score, ms$mixing_score)
    # thresholds move the calls
    expect_message(
        res2 <- classify_architecture(cells, tumor = "Tumor",
                                      immune = "CD8 T", min_immune = 50,
                                      threshold = 100),
        class = "immunoscape_message"
    )
    expect_identical(as.character(res2$class[res2$image == "cold"]),
                     "compartmentalized")
    expect_s3_class(summary(res), "data.frame")
    expect_s3_class(autoplot(res), "ggplot")
    expect_output(print(res), "architecture")
    expect_error(classify_architecture(cells, tumor = "Tumor"),
                 class = "immunoscape_error_type")
    expect_error(classify_architecture(cells, "Tumor", "CD8 T",
                                       threshold = -1),
                 class = "immunoscape_error_argument")
    expect_error(classify_architecture(cells, "Tumor", "CD8 T",
                                       min_immune = -1),
                 class = "immunoscape_error_argument")
    expect_error(classify_architecture(cells, "Tumor", "CD8 T",
                                       min_immune = NA),
                 class = "immunoscape_error_argument")
})

