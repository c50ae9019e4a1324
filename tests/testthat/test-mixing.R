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


test_that("the default contact distance counts touching cells, not the next ring", {
    set.seed(91)
    g <- hex_cells(30, 30, s = 8)
    g$type <- sample(c("Immune", "Tumor"), nrow(g), TRUE, c(0.3, 0.7))
    cells <- spatial_cells(g)
    pr <- hex_touching_pairs(g)
    ti <- g$type[pr[, 1]]
    tj <- g$type[pr[, 2]]
    rt <- sum(ti != tj)
    rr <- sum(ti == "Immune" & tj == "Immune")
    res <- mixing_score(cells, "Immune", "Tumor")
    expect_identical(attr(res, "radius"), 10)
    expect_identical(res$n_reference_target, as.numeric(rt))
    expect_identical(res$n_reference_reference, as.numeric(rr))
    arch <- classify_architecture(cells, tumor = "Tumor", immune = "Immune")
    expect_identical(arch$n_immune_tumor, as.numeric(rt))
    # two cell diameters (the old default) reach the second and third rings
    wide <- mixing_score(cells, "Immune", "Tumor", radius = 20)
    expect_gt(wide$n_reference_target, 2.5 * rt)
})

test_that("architecture defaults on touching-distance lattices", {
    set.seed(92)
    # a band of immune cells 8 cells wide in a tumour: compartmentalized
    comp <- hex_cells(40, 40)
    comp$type <- ifelse(comp$i >= 16 & comp$i < 24, "Immune", "Tumor")
    comp$image <- "compartmentalized"
    # the same numbers of immune cells scattered singly: mixed
    mixd <- hex_cells(40, 40)
    mixd$type <- sample(comp$type)
    mixd$image <- "mixed"
    # few immune cells: 12 in about 0.09 mm^2 (about 135 per mm^2): cold
    cold <- hex_cells(40, 40)
    cold$type <- "Tumor"
    cold$type[sample(nrow(cold), 12)] <- "Immune"
    cold$image <- "cold"
    cells <- spatial_cells(rbind(comp, mixd, cold), image = "image")
    res <- classify_architecture(cells, tumor = "Tumor", immune = "Immune")
    cls <- setNames(as.character(res$class), res$image)
    expect_identical(cls[["compartmentalized"]], "compartmentalized")
    expect_identical(cls[["mixed"]], "mixed")
    expect_identical(cls[["cold"]], "cold")
    area <- window_area(cells)
    expect_equal(res$area_mm2, unname(area[as.character(res$image)]) / 1e6)
    expect_equal(res$immune_density, res$n_immune / res$area_mm2)
    # at two cell diameters the compartmentalized band reads as mixed
    wide <- classify_architecture(cells, tumor = "Tumor", immune = "Immune",
                                  radius = 20)
    expect_identical(as.character(wide$class[wide$image ==
                                                 "compartmentalized"]),
                     "mixed")
})

test_that("cold depends on immune density, not on the size of the field", {
    set.seed(93)
    # one pattern (about 300 immune cells per mm^2) on a small field and
    # on a field 16 times larger: the same class
    field <- function(side, image) {
        n <- round(6000 * side^2 / 1e6)
        d <- data.frame(x = runif(n, 0, side), y = runif(n, 0, side),
                        type = "Tumor", image = image)
        d$type[seq_len(round(300 * side^2 / 1e6))] <- "Immune"
        d
    }
    sq <- function(side, image) {
        data.frame(image = image, polygon = 1L, ring = 1L, hole = FALSE,
                   x = c(0, side, side, 0), y = c(0, 0, side, side))
    }
    df <- rbind(field(500, "small"), field(2000, "large"))
    cells <- spatial_cells(df, image = "image",
                           window = rbind(sq(500, "small"),
                                          sq(2000, "large")))
    res <- classify_architecture(cells, tumor = "Tumor", immune = "Immune")
    expect_equal(res$immune_density, c(300, 300), tolerance = 0.01,
                 ignore_attr = TRUE)
    expect_identical(as.character(res$class), c("cold", "cold"))
    # the large field holds 1200 immune cells: a count rule would call it
    # hot and the small one (75 cells) cold
    expect_gt(res$n_immune[res$image == "large"], 250)
    res2 <- classify_architecture(cells, tumor = "Tumor", immune = "Immune",
                                  min_immune = 200)
    expect_false(any(res2$class == "cold"))
})

test_that("NA and Inf mixing scores come with a note", {
    df <- data.frame(x = c(0, 8, 100, 200, 300, 5),
                     y = c(0, 0, 100, 0, 300, 200),
                     type = c("I", "T", "I", "T", "T", "T"))
    cells <- spatial_cells(df)
    inf <- mixing_score(cells, "I", "T")
    expect_identical(inf$mixing_score, Inf)
    expect_match(inf$note, "no two reference cells within 10 um")
    undef <- mixing_score(cells, "I", "T", radius = 1)
    expect_true(is.na(undef$mixing_score))
    expect_match(undef$note, "undefined")
    ok <- mixing_score(cells, "I", "T", radius = 150)
    expect_true(is.finite(ok$mixing_score))
    expect_true(is.na(ok$note))
    arch <- classify_architecture(cells, tumor = "T", immune = "I",
                                  min_immune = 0)
    expect_identical(as.character(arch$class), "mixed")
    expect_match(arch$note, "no two immune cells")
    # every infinite score has a note, cold images too
    cold <- classify_architecture(cells, tumor = "T", immune = "I")
    expect_identical(as.character(cold$class), "cold")
    expect_false(is.na(cold$note))
    notum <- spatial_cells(data.frame(x = c(0, 50, 90), y = c(0, 30, 10),
                                      type = c("I", "I", "X")))
    expect_message(a2 <- classify_architecture(notum, tumor = "X",
                                               immune = "I", min_immune = 0),
                   class = "immunoscape_message")
    expect_true(is.na(a2$class))
    expect_identical(a2$note, "no immune cell within 10 um of another immune or a tumour cell: score undefined")
})

test_that("autoplot of the architecture shows every score, infinite ones apart", {
    set.seed(94)
    mk <- function(image, p) {
        g <- hex_cells(25, 25)
        g$type <- sample(c("I", "T"), nrow(g), TRUE, c(p, 1 - p))
        g$image <- image
        g
    }
    df <- rbind(mk("a", 0.05), mk("b", 0.1), mk("c", 0.5))
    # an image with no two immune cells in contact: infinite score
    e <- hex_cells(25, 25)
    e$type <- "T"
    e$type[e$i %% 4 == 0 & e$j %% 4 == 0] <- "I"
    e$image <- "d"
    cells <- spatial_cells(rbind(df, e), image = "image")
    arch <- classify_architecture(cells, tumor = "T", immune = "I",
                                  min_immune = 0)
    fin <- arch$mixing_score[is.finite(arch$mixing_score)]
    expect_gte(sum(fin > 1), 2)
    expect_identical(sum(is.infinite(arch$mixing_score)), 1L)
    p <- autoplot(arch)
    ld <- ggplot2::layer_data(p, 1)
    expect_equal(nrow(ld), 4)
    # finite scores are drawn where they are (no cap at 1) ...
    o <- order(arch$image)
    expect_equal(sort(ld$y[ld$shape == 16]), sort(asinh(fin / 0.1)))
    expect_equal(length(unique(ld$y[ld$shape == 16])), 3)
    # ... and the infinite one as a triangle above all, counted
    expect_identical(sum(ld$shape == 17), 1L)
    expect_gt(ld$y[ld$shape == 17], max(ld$y[ld$shape == 16]))
    expect_match(p$labels$caption, "^1 image with an infinite score")
    path <- file.path(tempdir(), "architecture.png")
    ggplot2::ggsave(path, p, width = 6, height = 4, dpi = 60)
    expect_true(file.exists(path))
})

test_that("a partial argument name is a classed error naming the argument", {
    df <- data.frame(x = c(0, 8, 100, 200), y = c(0, 0, 100, 0),
                     type = c("I", "T", "I", "T"))
    cells <- spatial_cells(df)
    # `r` is the grid of the K functions; R would match it to `reference`
    # or `radius`
    expect_error(mixing_score(cells, "I", "T", r = 50),
                 class = "immunoscape_error_argument")
    expect_snapshot(mixing_score(cells, "I", "T", r = 50), error = TRUE)
    expect_error(classify_architecture(cells, "T", "I", r = 50),
                 class = "immunoscape_error_argument")
    # abbreviations R would match silently are refused everywhere
    expect_snapshot(mixing_score(cells, "I", "T", rad = 50), error = TRUE)
    expect_error(classify_architecture(cells, "T", "I", thresh = 0.5),
                 class = "immunoscape_error_argument")
    expect_error(interaction_test(cells, nperm = 0, meth = "patch"),
                 class = "immunoscape_error_argument")
    expect_error(nearest_distances(cells, to = "T", nth = 1),
                 class = "immunoscape_error_argument")
    expect_error(ripley_l(cells, "I", "T", env = "csr"),
                 class = "immunoscape_error_argument")
    # full names still work, positionally too
    expect_identical(attr(mixing_score(cells, "I", "T", 50), "radius"), 50)
})
