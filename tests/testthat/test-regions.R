# Tumour regions and their geometry: signed distances and band areas
# against brute-force R oracles (helper-regions.R), region building on
# synthetic tissue.

# every edge a border (the image-edge rule has its own tests below)
reg_of <- function(df, cells) as_regions(df, cells, image_edge = 0)

test_that("signed distances match the brute-force oracle", {
    # two nodules, one with a hole
    p <- rbind(ro_square(100, 100, 300), ro_square(200, 200, 100, ring = 2L,
                                                  hole = TRUE),
               ro_square(600, 150, 150, polygon = 2L))
    cells <- spatial_cells(data.frame(x = c(0, 900, 900, 0),
                                      y = c(0, 0, 600, 600), type = "A"))
    reg <- reg_of(p, cells)
    set.seed(2)
    px <- c(stats::runif(3000, -100, 1000), 250, 100, 400, 675, 200)
    py <- c(stats::runif(3000, -100, 700), 250, 100, 250, 225, 250)
    got <- immunoscape:::region_signed_distance(reg, "image1", px, py, 1L)
    w <- reg[reg$image == "image1", ]
    expect_equal(got, ro_signed_distance(px, py, w), tolerance = 1e-9)
    # on the edge: 0; centre of the hole: outside, 50 from its edges
    expect_equal(got[3002], 0)
    expect_equal(got[3001], 50)
    # thread invariance
    expect_identical(
        immunoscape:::region_signed_distance(reg, "image1", px, py, 2L), got)
})

test_that("an image without regions gives NA distances", {
    cells <- spatial_cells(data.frame(x = c(0, 10, 0, 5), y = c(0, 0, 10, 5),
                                      type = "A", image = c("a", "a", "a",
                                                            "b")),
                           image = "image", window = data.frame(
                               x = c(-1, 11, 11, -1), y = c(-1, -1, 11, 11)))
    reg <- as_regions(cbind(image = "a", ro_square(0, 0, 5)), cells)
    expect_true(all(is.na(immunoscape:::region_signed_distance(
        reg, "b", 1, 1, 1L))))
})

test_that("band areas are exact for a square and match the grid oracle", {
    cells <- spatial_cells(data.frame(x = c(-200, 300, 300, -200),
                                      y = c(-200, -200, 300, 300),
                                      type = "A"), window = "rectangle")
    reg <- reg_of(ro_square(0, 0, 100), cells)
    win <- attr(cells, "windows")
    a <- immunoscape:::region_band_areas(reg, win, "image1",
                                         c(-30, 0, 50))
    exact <- c(40^2, 100^2 - 40^2, 4 * 100 * 50 + pi * 50^2)
    exact <- c(exact, 500^2 - sum(exact))
    # the outside band has round corners: leaf blocks of 0.25 um
    expect_equal(a, exact, tolerance = 1e-4)
    expect_equal(sum(a), 500^2)
    # clipped by the window: the square at the window corner
    reg2 <- reg_of(ro_square(-200, -200, 100), cells)
    a2 <- immunoscape:::region_band_areas(reg2, win, "image1", c(0, 50))
    expect_equal(a2[2], 2 * 100 * 50 + pi * 50^2 / 4, tolerance = 1e-4)
    # holes and several nodules against the midpoint-rule oracle
    p <- rbind(ro_square(-150, -150, 200), ro_square(-100, -100, 80,
                                                     ring = 2L, hole = TRUE),
               ro_square(120, 100, 120, polygon = 2L))
    reg3 <- reg_of(p, cells)
    br <- c(-40, -10, 0, 25, 60)
    a3 <- immunoscape:::region_band_areas(reg3, win, "image1", br)
    w <- as.data.frame(win)
    oracle <- ro_band_areas(reg3[reg3$image == "image1", ], w, br, h = 1)
    expect_equal(a3, oracle, tolerance = 5e-3)
    # (0, 25]: the two squares' outer bands (perimeter x 25 + pi 25^2 each)
    # and the hole less its core farther than 25 from its edges
    expect_equal(a3[4], 800 * 25 + 480 * 25 + 2 * pi * 25^2 + 80^2 - 30^2,
                 tolerance = 1e-4)
    expect_equal(sum(a3), 500^2)
    expect_identical(immunoscape:::region_band_areas(reg3, win, "image1",
                                                     br, nthreads = 2L), a3)
})

test_that("tumor_regions outlines a disc, its hole and separate nodules", {
    df <- ro_cells(1200, 12, function(x, y) {
        r1 <- sqrt((x - 400)^2 + (y - 600)^2)
        r2 <- sqrt((x - 950)^2 + (y - 600)^2)
        ifelse((r1 < 300 & r1 > 100) | r2 < 150, "Tumor", "Stroma")
    })
    cells <- spatial_cells(df)
    # the nodules are 100 um apart: the default closing (gap = 100) bridges
    # channels narrower than 200 um and joins them
    expect_equal(summary(tumor_regions(cells))$n_polygons, 1L)
    # the stroma in the ring's centre is a hole only below min_hole
    reg <- tumor_regions(cells, min_hole = 1e4, gap = 40)
    expect_s3_class(reg, "immunoscape_regions")
    expect_named(as.data.frame(reg), c("image", "polygon", "ring", "hole",
                                       "x", "y", "image_edge"))
    s <- summary(reg)
    expect_equal(s$n_polygons, 2L)
    expect_equal(s$n_holes, 1L)
    truth <- pi * (300^2 - 100^2 + 150^2) / 1e6
    expect_equal(s$area_mm2, truth, tolerance = 0.03)
    # every cell on the right side away from the borders
    d <- immunoscape:::region_signed_distance(reg, "image1", df$x, df$y, 1L)
    r1 <- sqrt((df$x - 400)^2 + (df$y - 600)^2)
    r2 <- sqrt((df$x - 950)^2 + (df$y - 600)^2)
    clear <- pmin(abs(r1 - 300), abs(r1 - 100), abs(r2 - 150)) > 20
    expect_true(all((d[clear] <= 0) == (df$type[clear] == "Tumor")))
    # by default enclosed tissue (up to 1 mm^2) belongs to the tumour
    s_def <- summary(tumor_regions(cells, gap = 40))
    expect_equal(s_def$n_holes, 0L)
    expect_equal(s_def$area_mm2, pi * (300^2 + 150^2) / 1e6, tolerance = 0.03)
    # ... but an empty gap (necrosis, a lumen) stays a hole
    empty <- df[sqrt((df$x - 400)^2 + (df$y - 600)^2) > 100 |
                    df$type == "Tumor", ]
    s_emp <- summary(tumor_regions(spatial_cells(empty), gap = 40))
    expect_equal(s_emp$n_holes, 1L)
    expect_equal(s_emp$area_mm2, truth, tolerance = 0.05)
    # concave method: the same pieces
    reg_c <- tumor_regions(cells, method = "concave", radius = 30,
                           min_hole = 1e4)
    expect_equal(summary(reg_c)$n_polygons, 2L)
    expect_equal(summary(reg_c)$area_mm2, truth, tolerance = 0.05)
    # a small island is dropped by min_area, kept below it
    df2 <- df
    isl <- (df2$x - 900)^2 + (df2$y - 150)^2 < 30^2
    df2$type[isl] <- "Tumor"
    cells2 <- spatial_cells(df2)
    expect_equal(summary(tumor_regions(cells2, gap = 40))$n_polygons, 2L)
    expect_equal(summary(tumor_regions(cells2, min_area = 500,
                                       gap = 0))$n_polygons, 3L)
    # thread invariance
    expect_identical(tumor_regions(cells, min_hole = 1e4, gap = 40,
                                   nthreads = 2L), reg)
})

test_that("ignored types count neither way", {
    # tumour disc with a band of immune cells along its inner edge: counted
    # as non-tumour they put the border at the tumour cells' edge (240),
    # ignored the border lies midway between tumour and stroma (270)
    df <- ro_cells(1000, 10, function(x, y) {
        r <- sqrt((x - 500)^2 + (y - 500)^2)
        ifelse(r < 300, ifelse(r > 240, "CD8 T", "Tumor"), "Stroma")
    })
    cells <- spatial_cells(df)
    # (the smoothed border: refine = 0; redrawn at the cell level the
    # border hugs the tumour cells either way)
    a0 <- summary(tumor_regions(cells, gap = 0, refine = 0))$area_mm2
    a1 <- summary(tumor_regions(cells, gap = 0, ignore = "CD8 T",
                                refine = 0))$area_mm2
    expect_equal(a0, pi * 0.24^2, tolerance = 0.05)
    expect_equal(a1, pi * 0.27^2, tolerance = 0.05)
    expect_error(tumor_regions(cells, ignore = "CD8"),
                 class = "immunoscape_error_type")
})

test_that("the border is redrawn at the cell level unless mixed", {
    # a wavy tumour edge with stromal septa reaching it: the smoothed
    # border wanders, the cell-level one runs between the outermost
    # tumour cells and the stroma (oracle: the true outline)
    R0 <- function(a) 300 + 40 * sin(5 * a)
    inside_of <- function(x, y) {
        a <- atan2(y - 500, x - 500)
        sqrt((x - 500)^2 + (y - 500)^2) - R0(a)
    }
    df <- ro_cells(1000, 10, function(x, y) {
        a <- atan2(y - 500, x - 500)
        septum <- abs(sin(7 * a)) < 0.12
        ifelse(inside_of(x, y) < 0 & !septum, "Tumor", "Stroma")
    })
    cells <- spatial_cells(df)
    reg <- tumor_regions(cells)
    reg0 <- tumor_regions(cells, refine = 0)
    expect_true(attr(reg, "parameters")$refined)
    # the true outline, sampled finely
    a <- seq(0, 2 * pi, length.out = 2001)[-1]
    truth <- data.frame(polygon = 1L, ring = 1L, hole = FALSE,
                        x = 500 + R0(a) * cos(a), y = 500 + R0(a) * sin(a))
    tb <- ro_signed_distance(df$x, df$y, truth)
    err <- function(r) {
        d <- immunoscape:::region_signed_distance(r, "image1", df$x, df$y,
                                                  1L)
        far <- abs(tb) > 30
        mean(abs(d - tb)[far] <= 10)
    }
    expect_gt(err(reg), 0.95)
    expect_gt(err(reg), err(reg0))
    # tumour cells mixed among the host cells across a wide band: the
    # smoothed border (half-way) stays
    mixed <- ro_cells(1000, 10, function(x, y) {
        p <- stats::plogis((500 - x) / 40)
        ifelse(stats::runif(length(x)) < p, "Tumor", "Stroma")
    })
    regm <- tumor_regions(spatial_cells(mixed))
    pm <- attr(regm, "parameters")
    expect_false(pm$refined)
    expect_gt(pm$shift, 32 / 10)
    # ... traced with a kernel twice the default
    bw1 <- attr(tumor_regions(spatial_cells(mixed), refine = 0),
                "parameters")$bandwidth
    expect_equal(pm$bandwidth, 2 * bw1)
    expect_identical(regm[, 1:6],
                     tumor_regions(spatial_cells(mixed), refine = 0,
                                   bandwidth = 2 * bw1)[, 1:6])
    # the nest-level preset is the documented settings
    expect_identical(
        tumor_regions(cells, level = "nests")[, 1:6],
        tumor_regions(cells, bandwidth = 5, gap = 0, min_area = 100,
                      min_hole = 100, threshold = 0.4)[, 1:6])
    expect_error(tumor_regions(cells, refine = -1),
                 class = "immunoscape_error_argument")
    expect_error(tumor_regions(cells, level = "nest"),
                 class = "immunoscape_error_argument")
})

test_that("tumor_regions reads a vendor tissue column", {
    df <- ro_cells(600, 12, function(x, y) ifelse(x < 300, "CK+", "other"))
    df$tissue <- ifelse(df$x < 250, "Tumor", "Stroma")
    cells <- spatial_cells(df)
    reg <- tumor_regions(cells, tissue = "tissue")
    expect_equal(summary(reg)$area_mm2, 250 * 600 / 1e6, tolerance = 0.06)
    expect_error(tumor_regions(cells, tissue = "tisue"),
                 class = "immunoscape_error_column")
    expect_error(tumor_regions(cells, tumor = "Tumour", tissue = "tissue"),
                 class = "immunoscape_error_type")
    # as with types: every value named must exist; factors are values too
    expect_error(tumor_regions(cells, tumor = c("Tumor", "Background"),
                               tissue = "tissue"),
                 class = "immunoscape_error_type")
    expect_identical(tumor_regions(cells, tumor = factor("Tumor"),
                                   tissue = "tissue")[, 1:6], reg[, 1:6])
    cells$empty <- NA_character_
    expect_error(tumor_regions(cells, tissue = "empty"),
                 class = "immunoscape_error_column")
    # the classification is followed nest by nest: a stroma patch inside
    # the tumour category stays out (level = "tumor" fills it)
    df$tissue[(df$x - 130)^2 + (df$y - 300)^2 < 60^2] <- "Stroma"
    holed <- spatial_cells(df)
    reg_n <- tumor_regions(holed, tissue = "tissue")
    expect_identical(reg_n[, 1:6],
                     tumor_regions(holed, tissue = "tissue",
                                   level = "nests")[, 1:6])
    expect_equal(summary(reg_n)$area_mm2,
                 (250 * 600 - pi * 60^2) / 1e6, tolerance = 0.06)
    reg_t <- tumor_regions(holed, tissue = "tissue", level = "tumor")
    expect_gt(summary(reg_t)$area_mm2, summary(reg_n)$area_mm2 + 0.008)
})

test_that("a diffuse front is said to be drawn with a wider kernel", {
    # tumour and stroma mixed over ~100 um around x = 300
    df <- ro_cells(600, 10, function(x, y) {
        ifelse(stats::runif(length(x)) < stats::plogis((300 - x) / 25),
               "Tumor", "Stroma")
    }, seed = 3)
    cells <- spatial_cells(df)
    withr::local_options(immunoscape.verbose = TRUE)
    msgs <- character()
    reg <- withCallingHandlers(tumor_regions(cells), message = function(m) {
        msgs <<- c(msgs, conditionMessage(m))
        invokeRestart("muffleMessage")
    })
    expect_equal(attr(reg, "parameters")$refine, 0)
    expect_true(any(grepl("diffuse tumour front", msgs)))
    # a given bandwidth: no fallback, no message
    msgs <- character()
    withCallingHandlers(tumor_regions(cells, bandwidth = 20),
                        message = function(m) {
        msgs <<- c(msgs, conditionMessage(m))
        invokeRestart("muffleMessage")
    })
    expect_false(any(grepl("diffuse tumour front", msgs)))
})

test_that("an image without tumour cells gets a note, not an error", {
    a <- ro_cells(400, 15, function(x, y) ifelse(x < 200, "Tumor", "S"))
    b <- ro_cells(400, 15, function(x, y) rep("S", length(x)), image = "b")
    cells <- spatial_cells(rbind(a, b), image = "image")
    reg <- tumor_regions(cells)
    s <- summary(reg)
    expect_equal(s$n_polygons, c(1L, 0L))
    expect_equal(s$note[2], "no tumour cells")
    expect_true(all(is.na(immunoscape:::region_signed_distance(
        reg, "b", 1, 1, 1L))))
})

test_that("bad arguments are classed errors", {
    cells <- spatial_cells(ro_cells(300, 15, function(x, y)
        ifelse(x < 150, "Tumor", "S")))
    expect_error(tumor_regions(cells, tumor = "Tumour"),
                 class = "immunoscape_error_type")
    expect_error(tumor_regions(cells, method = "convex"),
                 class = "immunoscape_error_argument")
    expect_error(tumor_regions(cells, bandwidth = 0),
                 class = "immunoscape_error_argument")
    expect_error(tumor_regions(cells, threshold = 1.5),
                 class = "immunoscape_error_argument")
    expect_error(tumor_regions(cells, min_area = -1),
                 class = "immunoscape_error_argument")
    expect_error(tumor_regions(cells, bandwith = 10),
                 class = "immunoscape_error")
})

test_that("plot_cells draws the regions and autoplot maps them", {
    cells <- spatial_cells(ro_cells(400, 15, function(x, y)
        ifelse(x < 200, "Tumor", "S")))
    reg <- tumor_regions(cells)
    p <- plot_cells(cells, regions = reg)
    ld <- ggplot2::layer_data(p, 3)
    expect_gt(nrow(ld), 3)
    expect_true(all(ld$colour == "#B2182B"))
    expect_s3_class(autoplot(reg), "ggplot")
    expect_s3_class(autoplot(reg, cells = cells), "ggplot")
    expect_output(print(reg), "immunoscape_regions")
})

test_that("the edge of the image is not a tumour border", {
    # a rectangular window 0..500 x 0..300; the tumour fills x < 200 (its
    # outline runs along the window on three sides) and a nodule sits free
    set.seed(3)
    df <- data.frame(x = stats::runif(4000, 0, 500),
                     y = stats::runif(4000, 0, 300))
    df$type <- ifelse(df$x < 200 | (df$x - 400)^2 + (df$y - 150)^2 < 50^2,
                      "Tumor", "Stroma")
    cells <- spatial_cells(df, window = "rectangle")
    p <- rbind(data.frame(polygon = 1L, ring = 1L, hole = FALSE,
                          x = c(0, 200, 200, 0), y = c(0, 0, 300, 300)),
               data.frame(polygon = 2L, ring = 1L, hole = FALSE,
                          x = 400 + 50 * cos(seq(0, 2 * pi, length.out = 41)[-41]),
                          y = 150 + 50 * sin(seq(0, 2 * pi, length.out = 41)[-41])))
    reg <- as_regions(p, cells)
    w <- reg[reg$image == "image1", ]
    # the edges (0,0)-(200,0), (200,300)-(0,300) and (0,300)-(0,0) lie on
    # the window; (200,0)-(200,300) and the nodule are borders
    expect_equal(w$image_edge[1:4], c(TRUE, FALSE, TRUE, TRUE))
    expect_false(any(w$image_edge[-(1:4)]))
    px <- c(df$x, 100, 10, 300)
    py <- c(df$y, 150, 10, 5)
    got <- immunoscape:::region_signed_distance(reg, "image1", px, py, 1L)
    expect_equal(got, ro_signed_distance(px, py, w, skip = w$image_edge),
                 tolerance = 1e-9)
    # a tumour cell by the window corner is 190 um from the border, not 10
    expect_equal(got[4002], -190)
    expect_identical(
        immunoscape:::region_signed_distance(reg, "image1", px, py, 2L), got)
    # band areas: the same rule, against the grid oracle
    win <- attr(cells, "windows")
    br <- c(-150, -50, 0, 30, 100)
    a <- immunoscape:::region_band_areas(reg, win, "image1", br)
    expect_equal(a, ro_band_areas(w, as.data.frame(win), br, h = 1,
                                  skip = w$image_edge), tolerance = 5e-3)
    # exactly: (-150, -50] is a strip 100 um wide across the window (the
    # nodule is not 50 um deep)
    expect_equal(a[2], 100 * diff(range(win$y)), tolerance = 1e-3)
    # compartments agree; summary gives the share of outline on the edge
    comp <- compartments(cells, reg, margin = 100)
    expect_equal(comp$border_distance, got[seq_len(nrow(df))])
    expect_equal(summary(reg)$image_edge_frac, 700 / (1000 + 2 * pi * 50 *
                     sin(pi / 40) / (pi / 40)), tolerance = 1e-9)
    # image_edge = 0: every edge is a border, as a polygon is
    reg0 <- as_regions(reg, cells, image_edge = 0)
    expect_false(any(reg0$image_edge))
    expect_equal(immunoscape:::region_signed_distance(reg0, "image1", px,
                                                      py, 1L),
                 ro_signed_distance(px, py, w), tolerance = 1e-9)
})

test_that("a tumour filling the image has no border in view", {
    set.seed(6)
    df <- data.frame(x = stats::runif(3000, 0, 500),
                     y = stats::runif(3000, 0, 500),
                     type = sample(c("Tumor", "CD8 T"), 3000, TRUE,
                                   c(0.98, 0.02)))
    cells <- spatial_cells(df, window = "rectangle")
    reg <- tumor_regions(cells, ignore = "CD8 T")
    expect_true(all(reg$image_edge))
    expect_equal(summary(reg)$image_edge_frac, 1)
    comp <- compartments(cells, reg)
    # no border in view: infinitely far; the tumour cells are core
    expect_true(all(is.infinite(comp$border_distance)))
    expect_gt(mean(comp$compartment == "core"), 0.99)
    expect_equal(comp$compartment == "core", comp$border_distance == -Inf)
    # no margin in view: the window splits into core and stroma only
    a <- attr(comp, "areas")
    expect_equal(a$area_mm2[a$compartment %in% c("inner_margin",
                                                 "outer_margin")], c(0, 0))
    expect_equal(sum(a$area_mm2), unname(window_area(cells)) / 1e6,
                 tolerance = 1e-3)
    expect_gt(a$area_mm2[a$compartment == "core"], 0.99 * sum(a$area_mm2))
    # immune_phenotype() says why there is no margin to score
    ph <- immune_phenotype(cells, reg, aggregates = NULL)
    expect_equal(ph$margin_area_mm2, 0)
    expect_match(ph$note, "no tumour border in view")
    # the whole window is core: (nearly) every CD8 T cell counts there
    expect_lte(ph$n_core, sum(df$type == "CD8 T"))
    expect_gte(ph$n_core, 0.95 * sum(df$type == "CD8 T"))
    expect_gt(ph$core_area_mm2, 0.99 * unname(window_area(cells)) / 1e6)
})

test_that("narrow bands on a large slide keep their area", {
    # 10 cm square, tumour the left half: bands 10 um wide
    L <- 1e5
    set.seed(11)
    df <- data.frame(x = stats::runif(500, 0, L), y = stats::runif(500, 0, L),
                     type = c("Tumor", "CD8 T"))
    cells <- spatial_cells(df, window = data.frame(x = c(0, L, L, 0),
                                                   y = c(0, 0, L, L)))
    bx <- L / 2 + 1.37
    half <- data.frame(x = c(-1e7, bx, bx, -1e7), y = c(-1e7, -1e7, 1e7, 1e7))
    comp <- compartments(cells, as_regions(half, cells), margin = 10)
    a <- attr(comp, "areas")$area_mm2
    expect_equal(a[2:3], c(10, 10) * L / 1e6, tolerance = 1e-3)
    expect_equal(a[1], (bx - 10) * L / 1e6, tolerance = 1e-4)
})

test_that("bands along straight outlines parallel to the axes are exact", {
    # a 3000 x 2000 rectangle in a 6-mm field, 10-um bands: the band
    # limits run with the area blocks, and a block across a limit is
    # shared by the plane of its corners, not given to its centre's band
    set.seed(1)
    cells <- spatial_cells(
        data.frame(x = stats::runif(3000, 0, 6000),
                   y = stats::runif(3000, 0, 6000), type = "A"),
        window = data.frame(x = c(0, 6000, 6000, 0), y = c(0, 0, 6000, 6000)))
    rect <- data.frame(x = c(1500, 4500, 4500, 1500),
                       y = c(2000, 2000, 4000, 4000))
    br <- seq(-50, 50, 10)
    ip <- infiltration_profile(cells, rect, breaks = br)
    # oracle: the area within offset s of the rectangle (s < 0: inside)
    f <- function(s) if (s <= 0) (3000 + 2 * s) * (2000 + 2 * s) else
        6e6 + 2 * 5000 * s + pi * s^2
    exact <- diff(vapply(br, f, numeric(1)))
    expect_equal(ip$area_mm2 * 1e6, exact, tolerance = 1e-4)
})

test_that("huge closing radii stay within the cells' hull", {
    df <- ro_disc_cells(3000, 200, seed = 12)
    cells <- spatial_cells(df)
    tum <- df[df$type == "Tumor", ]
    h <- grDevices::chull(tum$x, tum$y)
    hull <- abs(sum(tum$x[h] * c(tum$y[h][-1], tum$y[h][1]) -
                    c(tum$x[h][-1], tum$x[h][1]) * tum$y[h])) / 2 / 1e6
    for (r in c(1e3, 1e7)) {
        a <- summary(tumor_regions(cells, method = "concave",
                                   radius = r))$area_mm2
        # at most the hull grown by the margin (a few microns)
        expect_lt(a, hull + 2 * pi * 200 * 15 / 1e6)
        expect_gt(a, 0.97 * hull)
    }
    expect_error(tumor_regions(cells, max_pixels = 0),
                 class = "immunoscape_error_argument")
})

test_that("edited regions are refused with a classed error", {
    df <- ro_disc_cells(2000, 300, seed = 13)
    cells <- spatial_cells(df)
    reg <- tumor_regions(cells)
    r1 <- reg
    r1$x[3] <- NA
    expect_error(compartments(cells, r1), class = "immunoscape_error_regions")
    r2 <- reg
    r2$y[3] <- Inf
    expect_error(infiltration_profile(cells, r2),
                 class = "immunoscape_error_regions")
    expect_error(compartments(cells, reg[order(reg$x), ]),
                 class = "immunoscape_error_regions")
    expect_error(compartments(cells, reg[1:2, ]),
                 class = "immunoscape_error_regions")
})

test_that("maps draw the outline along the image edge apart", {
    cells <- ro_split_cells(3000, 600, 400, 300, seed = 14)
    reg <- tumor_regions(cells)
    for (p in list(plot_cells(cells, regions = reg), autoplot(reg))) {
        seg <- Filter(function(l) inherits(l$geom, "GeomSegment"), p$layers)
        expect_length(seg, 1L)
        d <- seg[[1]]$data
        # the segments are the flagged edges: on the window's left, top
        # and bottom sides
        expect_equal(nrow(d), sum(reg$image_edge))
        on_side <- pmin(abs(d$y - min(cells$y)), abs(d$y - max(cells$y)),
                        abs(d$x - min(cells$x)))
        expect_lt(max(on_side), 30)
        expect_match(p$labels$caption, "image edge")
    }
})

test_that("image-edge flags: all edges, NA and integer 0", {
    cells <- square_cells(3000, seed = 3)
    # a strip along the left side: every edge within 50 um of the window
    reg <- as_regions(data.frame(x = c(0, 37.3, 37.3, 0),
                                 y = c(0, 0, 1000, 1000)), cells,
                      image_edge = 50)
    expect_true(all(reg$image_edge))
    a <- attr(compartments(cells, reg, margin = 100), "areas")$area_mm2
    expect_equal(a, c(37.3 * 1000, 0, 0, (1000 - 37.3) * 1000) / 1e6,
                 tolerance = 1e-4)
    # NA flags count as border
    p <- data.frame(x = c(0, 400, 400, 0), y = c(100, 100, 500, 500))
    sq <- as_regions(p, cells)
    expect_equal(sq$image_edge, c(FALSE, FALSE, FALSE, TRUE))
    w <- sq[sq$image == "image1", ]
    px <- c(50, 200, 600, 10)
    py <- c(50, 300, 300, 490)
    for (k in 1:4) {
        r <- sq
        r$image_edge[k] <- NA
        skip <- sq$image_edge
        skip[k] <- FALSE
        expect_equal(immunoscape:::region_signed_distance(r, "image1", px,
                                                          py, 1L),
                     ro_signed_distance(px, py, w, skip = skip))
    }
    # image_edge = 0 in any numeric form: no flag
    expect_false(any(as_regions(p, cells, image_edge = 0L)$image_edge))
    # margin 0: the margin bands are empty, the rest is core and stroma
    b <- attr(compartments(cells, sq, margin = 0), "areas")$area_mm2
    expect_equal(b, c(0.16, 0, 0, 0.84), tolerance = 1e-4)
})

test_that("an outline outside the tissue is image edge, not a tumour border", {
    set.seed(1)
    df <- data.frame(x = runif(400, 0, 1000), y = runif(400, 0, 1000),
                     type = sample(c("Tumor", "CD8 T"), 400, TRUE))
    cells <- spatial_cells(df)
    # a rectangle drawn 10 um around the cells, its corners far from the
    # window's (the hull cuts them)
    around <- data.frame(x = c(-10, 1010, 1010, -10),
                         y = c(-10, -10, 1010, 1010))
    reg <- as_regions(around, cells)
    expect_true(all(reg$image_edge))
    comp <- compartments(cells, reg)
    expect_true(all(comp$compartment == "core"))
    expect_true(all(comp$border_distance == -Inf))
    expect_match(attr(comp, "notes")$note, "no tumour border in view")
    # a side crossing the tissue stays a border, even when its ends and
    # middle are outside or on the window's boundary
    cut <- data.frame(x = c(-1e6, 500, 500, -1e6), y = c(-1e6, -1e6, 1e6, 1e6))
    r2 <- as_regions(cut, cells)
    expect_identical(r2$image_edge, c(TRUE, FALSE, TRUE, TRUE))
    c2 <- compartments(cells, r2, margin = 100)
    o <- match(comp$cell_id, cells$cell_id)
    expect_equal(c2$border_distance, cells$x[o] - 500)
})

test_that("edge samples cover each segment's part in the box, every step", {
    es <- immunoscape:::edge_samples
    # a segment crossing the box [0, 10] x [0, 10], one inside, one missing
    s <- es(c(-10, 2, 20), c(5, 2, 20), c(20, 8, 30), c(5, 8, 30),
            c(0, 10), c(0, 10), step = 1)
    expect_false(3L %in% s$edge)
    a <- s$edge == 1L
    expect_equal(range(s$x[a]), c(0, 10))
    expect_true(all(s$y[a] == 5))
    expect_lte(max(diff(s$x[a])), 1 + 1e-12)
    b <- s$edge == 2L
    expect_equal(c(s$x[b][1], s$y[b][1]), c(2, 2))
    expect_equal(c(s$x[b][sum(b)], s$y[b][sum(b)]), c(8, 8))
    expect_lte(max(sqrt(diff(s$x[b])^2 + diff(s$y[b])^2)), 1 + 1e-12)
    # a vertical segment on the box edge is kept; a parallel one outside
    # is not
    v <- es(c(0, -1), c(-5, -5), c(0, -1), c(15, 15), c(0, 10), c(0, 10), 2)
    expect_identical(unique(v$edge), 1L)
    expect_equal(range(v$y), c(0, 10))
})
