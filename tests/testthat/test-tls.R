# detect_tls(): linkage against a brute-force oracle, T-zone counts,
# outlines and members, maturity, location, edge cases, errors, plots.

test_that("the linkage gives the connected components of d <= link", {
    set.seed(11)
    for (kind in c("random", "clustered", "duplicated", "integer")) {
        p <- make_pattern(kind, n = 300, side = 200)
        for (link in c(0, 3, 7.5, 20)) {
            got <- immunoscape:::tls_link(p$x, p$y, link, 1L)
            expect_identical(got, bf_components(p$x, p$y, link),
                             info = paste(kind, link))
        }
    }
})

test_that("a distance equal to link links (ties), a hair more does not", {
    # 3-4-5 triangles: exact integer distances of 5
    x <- c(0, 3, 6, 20, 23, 40)
    y <- c(0, 4, 8, 0, 4, 0)
    expect_identical(immunoscape:::tls_link(x, y, 5, 1L),
                     c(1L, 1L, 1L, 2L, 2L, 3L))
    expect_identical(immunoscape:::tls_link(x, y, 5 - 1e-9, 1L),
                     1:6)
    # a lattice with spacing exactly link: one group; any less: singletons
    g <- expand.grid(x = 0:9 * 15, y = 0:9 * 15)
    expect_identical(immunoscape:::tls_link(g$x, g$y, 15, 1L), rep(1L, 100))
    expect_identical(immunoscape:::tls_link(g$x, g$y, 14.999, 1L), 1:100)
    # decimal spacing: the oracle's sqrt decides as the C code does
    x <- c(0, 0.1 + 0.2, 0.6, 0.9)
    expect_identical(immunoscape:::tls_link(x, rep(0, 4), 0.3, 1L),
                     bf_components(x, rep(0, 4), 0.3))
})

test_that("the linkage has no size edge cases and is thread invariant", {
    expect_identical(immunoscape:::tls_link(double(), double(), 10, 1L),
                     integer())
    expect_identical(immunoscape:::tls_link(5, 5, 10, 1L), 1L)
    expect_identical(immunoscape:::tls_link(c(5, 5), c(5, 5), 0, 1L),
                     c(1L, 1L))
    set.seed(3)
    n <- 2e5
    x <- runif(n, 0, 5000)
    y <- runif(n, 0, 5000)
    a <- immunoscape:::tls_link(x, y, 9, 1L)
    b <- immunoscape:::tls_link(x, y, 9, 2L)
    expect_identical(a, b)
    expect_gt(max(a), 1000)
    expect_lt(max(a), n)
})

test_that("the linkage partition equals dbscan with minPts = 1", {
    skip_if_not_installed("dbscan")
    set.seed(5)
    p <- make_pattern("clustered", n = 2000, side = 500)
    got <- immunoscape:::tls_link(p$x, p$y, 6, 1L)
    db <- dbscan::dbscan(cbind(p$x, p$y), eps = 6, minPts = 1)$cluster
    # same partition: a one-to-one map between the labels
    expect_identical(length(unique(paste(got, db))), length(unique(got)))
    expect_identical(length(unique(got)), length(unique(db)))
})

test_that("T-zone counts and nearest groups match brute force", {
    set.seed(8)
    b <- make_pattern("clustered", n = 200, side = 300)
    g <- immunoscape:::tls_link(b$x, b$y, 12, 1L)
    t <- make_pattern("random", n = 300, side = 300)
    for (r in c(0, 10, 30)) {
        got <- immunoscape:::tls_t_counts(b$x, b$y, g, max(g), t$x, t$y, r,
                                          2L)
        expect_identical(got[[1]], bf_near_counts(b$x, b$y, g, t$x, t$y, r,
                                                  max(g)), info = r)
        expect_identical(got[[2]], bf_near_group(b$x, b$y, g, t$x, t$y, r),
                         info = r)
    }
    none <- immunoscape:::tls_t_counts(b$x, b$y, g, max(g), double(),
                                       double(), 10, 1L)
    expect_identical(none[[1]], integer(max(g)))
    expect_identical(none[[2]], integer())
})

test_that("detect_tls finds the follicles, not the scattered B cells", {
    set.seed(21)
    df <- tls_fixture(list(c(250, 250), c(700, 650)))
    cells <- spatial_cells(df, image = "image")
    res <- detect_tls(cells)
    expect_s3_class(res, "immunoscape_tls")
    t <- res$tls
    expect_identical(nrow(t), 2L)
    # centroids near the true centres
    ctr <- rbind(c(250, 250), c(700, 650))
    for (k in 1:2) {
        d <- sqrt((t$x - ctr[k, 1])^2 + (t$y - ctr[k, 2])^2)
        expect_lt(min(d), 15)
    }
    # outline roughly the follicle (radius 60) with its T-cell zone (to
    # 100) plus the buffer
    expect_true(all(t$area_mm2 > pi * 95^2 / 1e6 &
                    t$area_mm2 < pi * 130^2 / 1e6))
    expect_true(all(t$n_t >= 140))
    expect_true(all(t$n_b >= 150))
    expect_true(all(is.na(t$maturity)))
    expect_true(all(is.na(t$location)))
    # members are exactly the cells inside the outlines (brute force)
    for (k in 1:2) {
        ol <- res$outlines[res$outlines$tls_id == k, ]
        ins <- bf_inside(cells$x, cells$y, ol$x, ol$y,
                         paste(ol$polygon, ol$ring))
        m <- res$members$cell_id[res$members$tls_id == k]
        expect_setequal(m, cells$cell_id[ins])
        expect_identical(t$n_cells[k], length(m))
        expect_identical(t$n_b[k], sum(cells$type[ins] == "B"))
        expect_identical(t$n_t[k],
                         sum(cells$type[ins] %in% c("CD4 T", "CD8 T")))
    }
    comp <- res$composition
    expect_identical(sum(comp$n), nrow(res$members))
    s <- summary(res)
    expect_identical(s$n_tls, 2L)
    expect_equal(s$tls_per_mm2, 2 / (window_area(cells) / 1e6),
                 ignore_attr = TRUE)
    expect_equal(s$frac_b_in_tls,
                 sum(t$n_b) / sum(cells$type == "B"))
    # the T-cell zone is required
    expect_identical(nrow(detect_tls(cells, t_cells = "CD8 T")$tls), 0L)
    expect_identical(nrow(detect_tls(cells, min_b = 400)$tls), 0L)
})

test_that("maturity from FDC and GC types or marker rules", {
    set.seed(4)
    a <- tls_fixture(list(c(250, 250)), image = "agg")
    p <- tls_fixture(list(c(250, 250)), fdc = TRUE, image = "pri")
    s <- tls_fixture(list(c(250, 250)), fdc = TRUE, gc = TRUE, image = "sec")
    cells <- spatial_cells(rbind(a, p, s), image = "image")
    res <- detect_tls(cells, fdc = "FDC", gc = "GC B")
    t <- res$tls
    expect_identical(as.character(t$image), c("agg", "pri", "sec"))
    expect_identical(as.character(t$maturity),
                     c("aggregate", "primary", "secondary"))
    expect_identical(t$n_gc, c(0L, 0L, 30L))
    expect_identical(summary(res)$n_secondary, c(0L, 0L, 1L))
    # the same with a marker column rule
    cells$CD21 <- ifelse(cells$type == "FDC", 9, 0.5)
    cells$CD23 <- ifelse(cells$type == "GC B", 5, 0)
    res2 <- detect_tls(cells, fdc = ~ CD21 > 3, gc = ~ CD23 > 2)
    expect_identical(as.character(res2$tls$maturity),
                     c("aggregate", "primary", "secondary"))
    # thresholds are arguments
    res3 <- detect_tls(cells, fdc = "FDC", gc = "GC B", min_gc = 31,
                       min_fdc = 10)
    expect_identical(as.character(res3$tls$maturity),
                     c("aggregate", "primary", "primary"))
    res3 <- detect_tls(cells, fdc = "FDC", gc = "GC B", min_fdc = 11)
    expect_identical(as.character(res3$tls$maturity),
                     c("aggregate", "aggregate", "secondary"))
    # presets give the same as the explicit settings
    res4 <- detect_tls(cells, preset = "simulated")
    expect_identical(res4$tls$maturity, res$tls$maturity)
    expect_identical(tls_preset("simulated")$gc, "GC B")
    expect_true("vectra_lung" %in% tls_preset())
})

test_that("location from the signed distance to the tumour regions", {
    set.seed(9)
    df <- tls_fixture(list(c(250, 250), c(600, 250), c(850, 800)),
                      side = 1200)
    cells <- spatial_cells(df, image = "image")
    # tumour: the square [0, 520] x [0, 1200]
    reg <- data.frame(image = "img", x = c(0, 520, 520, 0),
                      y = c(0, 0, 1200, 1200))
    res <- detect_tls(cells, regions = reg, margin = 100, distal = 300)
    t <- res$tls[order(res$tls$x), ]
    # the sides x = 0, y = 0 and y = 1200 run along (or beyond) the edge
    # of the image: not a tumour border, only x = 520 is
    expect_identical(as_regions(reg, cells)$image_edge,
                     c(TRUE, FALSE, TRUE, TRUE))
    bd <- t$x - 520
    expect_equal(t$border_distance, bd)
    expect_identical(as.character(t$location),
                     c("intratumoral", "margin", "distal"))
    s <- summary(res)
    # the square within the tissue window (the cells' hull): a 1-um raster
    g <- expand.grid(x = seq(0.5, 519.5, by = 1), y = seq(0.5, 1199.5, by = 1))
    inw <- immunoscape:::window_inside(attr(cells, "windows"), "img", g$x,
                                       g$y)
    expect_equal(s$tumor_area_mm2, sum(inw) / 1e6, tolerance = 1e-3)
    expect_lt(s$tumor_area_mm2, 520 * 1200 / 1e6)
    expect_equal(s$tls_per_mm2_tumor, 1 / s$tumor_area_mm2)
    # an image without regions gets NA
    other <- spatial_cells(rbind(df, transform(df, image = "b")),
                           image = "image")
    res2 <- detect_tls(other, regions = reg, margin = 100, distal = 300)
    expect_true(all(is.na(res2$tls$location[res2$tls$image == "b"])))
    expect_false(anyNA(res2$tls$location[res2$tls$image == "img"]))
})

test_that("regions without a polygon: TLS still found, location NA, a note", {
    # tumor_regions() finds no tumour in the image (three scattered
    # tumour cells): its result has no vertex at all
    set.seed(9)
    df <- tls_fixture(list(c(300, 300)), side = 800)
    df$type[df$type == "Tumor"] <- "Stroma"
    df$type[c(1, 100, 200)] <- "Tumor"
    cells <- spatial_cells(df, image = "image")
    reg <- quiet(tumor_regions(cells, tumor = "Tumor"))
    expect_identical(nrow(reg), 0L)
    res <- detect_tls(cells, regions = reg)
    plain <- detect_tls(cells)
    expect_identical(nrow(res$tls), 1L)
    expect_identical(res$members, plain$members)
    expect_equal(res$tls[setdiff(names(res$tls), "location")],
                 plain$tls[setdiff(names(plain$tls), "location")])
    expect_true(is.na(res$tls$location))
    expect_true(is.na(summary(res)$tumor_area_mm2))
    expect_identical(attr(res, "notes")$image, "img")
    expect_match(attr(res, "notes")$note, "tumour")
    expect_output(print(res), "1 image without tumour region")
    expect_s3_class(autoplot(res), "ggplot")
})

test_that("no B cells, one B cell, all B cells: zero TLS, no error", {
    set.seed(2)
    df <- data.frame(x = runif(500, 0, 500), y = runif(500, 0, 500),
                     type = "Tumor")
    cells <- spatial_cells(df)
    expect_message(res <- detect_tls(cells), "b_cells.*no TLS")
    expect_identical(nrow(res$tls), 0L)
    expect_identical(summary(res)$n_tls, 0L)
    expect_true(is.na(summary(res)$frac_b_in_tls))
    df$type[1] <- "B"
    res <- detect_tls(spatial_cells(df), min_b = 1, min_t = 0)
    expect_identical(nrow(res$tls), 1L)
    expect_identical(res$tls$n_seeds, 1L)
    expect_identical(nrow(suppressMessages(detect_tls(spatial_cells(df)))$tls),
                     0L)
    # all cells B: dense enough to link into one group
    g <- expand.grid(x = 0:29 * 10, y = 0:29 * 10)
    g$type <- "B"
    allb <- spatial_cells(g)
    res <- detect_tls(allb, min_t = 0)
    expect_identical(nrow(res$tls), 1L)
    expect_identical(res$tls$n_cells, 900L)
    expect_identical(res$tls$n_b, 900L)
    expect_true(is.na(res$tls$bt_ratio))
    expect_identical(nrow(suppressMessages(detect_tls(allb))$tls), 0L)
    # a cohort: one image with a TLS, one without B cells
    set.seed(7)
    two <- rbind(tls_fixture(list(c(300, 300)), image = "with"),
                 transform(df, image = "without")[df$type == "Tumor", ])
    res <- detect_tls(spatial_cells(two, image = "image"))
    expect_identical(summary(res)$n_tls, c(1L, 0L))
})

test_that("results do not depend on the number of threads", {
    set.seed(13)
    df <- tls_fixture(list(c(250, 250), c(700, 650)), fdc = TRUE)
    cells <- spatial_cells(df, image = "image")
    a <- detect_tls(cells, fdc = "FDC", nthreads = 1)
    b <- detect_tls(cells, fdc = "FDC", nthreads = 2)
    expect_identical(a$tls, b$tls)
    expect_identical(a$members, b$members)
    expect_identical(a$outlines, b$outlines)
})

test_that("bad arguments raise classed errors", {
    set.seed(1)
    cells <- spatial_cells(tls_fixture(list(c(300, 300))), image = "image")
    expect_error(detect_tls(cells, link = 0), class = "immunoscape_error_radius")
    expect_error(detect_tls(cells, link = -1),
                 class = "immunoscape_error_radius")
    expect_error(detect_tls(cells, min_b = 0),
                 class = "immunoscape_error_argument")
    expect_error(detect_tls(cells, b_cells = 3),
                 class = "immunoscape_error_type")
    expect_error(detect_tls(cells, fdc = 3),
                 class = "immunoscape_error_argument")
    expect_error(detect_tls(cells, fdc = ~ CD99 > 1),
                 class = "immunoscape_error_column")
    expect_error(detect_tls(cells, gc = ~ x),
                 class = "immunoscape_error_argument")
    expect_error(detect_tls(cells, preset = "vectre"),
                 class = "immunoscape_error_argument")
    expect_error(detect_tls(cells, margin = 500, distal = 100),
                 class = "immunoscape_error_argument")
    expect_error(detect_tls(cells, lnk = 20),
                 class = "immunoscape_error_argument")
    expect_error(plot_cells(cells, tls = data.frame()),
                 class = "immunoscape_error_argument")
    expect_snapshot(detect_tls(cells, fdc = 3), error = TRUE)
})

test_that("print, autoplot and plot_cells(tls = ) draw the outlines", {
    set.seed(12)
    df <- tls_fixture(list(c(250, 250), c(700, 650)), fdc = TRUE)
    cells <- spatial_cells(df, image = "image")
    res <- detect_tls(cells, fdc = "FDC")
    expect_output(print(res), "2 TLS in 1 image")
    expect_identical(as.data.frame(res), res$tls)
    p <- ggplot2::autoplot(res)
    ld <- ggplot2::layer_data(p, 2)
    expect_identical(length(unique(ld$group)), 2L)
    expect_setequal(unique(ld$fill), "#F08C1A")       # primary
    q <- plot_cells(cells, tls = res)
    lp <- ggplot2::layer_data(q, 3)
    expect_identical(length(unique(lp$group)),
                     length(unique(paste(res$outlines$tls_id,
                                         res$outlines$polygon,
                                         res$outlines$ring))))
    expect_identical(lp$colour[1], "black")
})

test_that("tls_agreement matches outlines by Jaccard index", {
    set.seed(21)
    df <- tls_fixture(list(c(250, 250), c(700, 650)))
    res <- detect_tls(spatial_cells(df, image = "image"))
    ref <- data.frame(image = "img", tls_id = c(7L, 8L, 9L),
                      x = c(700, 250, 900), y = c(650, 250, 100),
                      radius = c(110, 110, 50))
    a <- tls_agreement(res, ref)
    m <- a[!is.na(a$tls_id), ]
    # detected TLS 1 and 2 lie at (250, 250) or (700, 650)
    near7 <- which.min((res$tls$x - 700)^2 + (res$tls$y - 650)^2)
    expect_identical(m$ref_id[m$tls_id == near7], 7L)
    expect_true(all(m$jaccard > 0.8))
    expect_identical(a$ref_id[is.na(a$tls_id)], 9L)
    expect_equal(attr(a, "precision"), 1)
    expect_equal(attr(a, "recall"), 2 / 3)
    # the Jaccard index of a square against a circle, by hand
    sq <- data.frame(image = "img", tls_id = 1L,
                     x = c(200, 300, 300, 200), y = c(200, 200, 300, 300))
    circ <- data.frame(image = "img", tls_id = 1L, x = 250, y = 250,
                       radius = 50)
    fake <- res
    fake$tls <- res$tls[1, ]
    fake$tls$tls_id <- 1L
    fake$outlines <- transform(sq, polygon = 1L, ring = 1L, hole = FALSE)
    a2 <- tls_agreement(fake, circ, pixel = 0.5)
    expect_equal(a2$jaccard, pi / 4, tolerance = 0.01)
    expect_identical(nrow(tls_agreement(res, ref[0, ])), 2L)
    expect_error(tls_agreement(res, ref[c("x", "y")]),
                 class = "immunoscape_error_column")
})

test_that("simulated ground truth: TLS found, outlined, staged and placed", {
    skip_if_not(exists("simulate_tme", asNamespace("immunoscape")))
    sim <- suppressMessages(simulate_tme(
        n_images = 20, n_tls = 3, seed = 7,
        pattern = c("desmoplastic", "replacement", "pushing"),
        infiltration = c("inflamed", "excluded", "desert")))
    res <- detect_tls(sim, preset = "simulated",
                      regions = attr(sim, "tumor_polygons"))
    s <- sim_tls_scores(res, sim)
    expect_gte(s$n_true, 50)
    expect_gte(s$precision, 0.95)
    expect_gte(s$recall, 0.95)
    expect_gte(s$maturity, 0.90)
    expect_gte(s$location, 0.95)
    # the location with tumour regions estimated from the cells
    if (exists("tumor_regions", asNamespace("immunoscape"))) {
        reg <- tumor_regions(sim, tumor = "Tumor")
        s2 <- sim_tls_scores(detect_tls(sim, preset = "simulated",
                                        regions = reg), sim)
        expect_gte(s2$location, 0.95)
        expect_gte(s2$recall, 0.95)
    }
    # every maturity and location is represented in the truth
    truth <- attr(sim, "tls_truth")
    expect_true(all(table(truth$maturity) > 5))
    expect_true(all(table(truth$location) > 0))
})

test_that("a group inside the outline of a larger TLS is merged into it", {
    set.seed(3)
    a <- tls_ring(200, 300, 300, 0, 60, "B")
    b <- tls_ring(40, 408, 300, 0, 18, "B")       # 30 um from the follicle
    t <- tls_ring(300, 300, 300, 60, 130, "CD4 T")
    t <- t[(t$x - 408)^2 + (t$y - 300)^2 > 22^2, ]
    cells <- spatial_cells(rbind(a, b, t))
    bb <- cells[cells$type == "B", ]
    expect_identical(sort(tabulate(immunoscape:::tls_link(bb$x, bb$y, 20,
                                                          1L))),
                     c(40L, 200L))
    res <- detect_tls(cells, min_b = 20)
    expect_identical(nrow(res$tls), 1L)
    expect_identical(res$tls$n_seeds, 240L)
    expect_identical(res$tls$n_b, 240L)
    expect_identical(unique(res$outlines$tls_id), 1L)
})

test_that("tls_agreement() checks its inputs; no TLS detected is not an error (issue 12)", {
    sim <- quiet(simulate_tme(size = 1000, cells_per_mm2 = 1000, seed = 1,
                              n_tls = 1))
    truth <- attr(sim, "tls_truth")
    none <- detect_tls(sim, min_b = 1e4)
    a <- tls_agreement(none, truth)
    expect_equal(nrow(a), nrow(truth))
    expect_true(all(is.na(a$tls_id)))
    expect_equal(attr(a, "recall"), 0)
    # nothing detected: no precision (0 / 0), not 0
    expect_true(is.na(attr(a, "precision")))
    tls <- detect_tls(sim, min_b = 5, min_t = 5, link = 40)
    # an empty polygon reference (no TLS found by another run)
    b <- tls_agreement(tls, as.data.frame(none))
    expect_equal(nrow(b), nrow(tls$tls))
    expect_true(all(is.na(b$ref_id)))
    expect_error(tls_agreement(tls, transform(truth, x = NA)), "x",
                 class = "immunoscape_error_column")
    expect_error(tls_agreement(tls, transform(truth, radius = -1)), "radius",
                 class = "immunoscape_error_column")
    expect_error(tls_agreement(tls, truth, jaccard = NA), "jaccard",
                 class = "immunoscape_error_argument")
    expect_error(tls_agreement(tls, truth, pixel = 1e-300), "pixel",
                 class = "immunoscape_error_radius")
    expect_error(detect_tls(sim, link = 1e300), "link",
                 class = "immunoscape_error_radius")
})

test_that("autoplot of a large cohort draws the images with a TLS", {
    sim <- simulate_tme(n_images = 4, size = 1500, seed = 3,
                        n_tls = c(1, 0, 0, 0), n_decoys = 0)
    tl <- quiet(detect_tls(sim))
    has <- unique(as.character(tl$tls$image))
    expect_gte(length(has), 1L)
    p <- autoplot(tl, max_panels = 2L)
    expect_setequal(levels(droplevels(p$layers[[length(p$layers)]]$data$image)),
                    has)
    expect_match(p$labels$caption, sprintf("%d images without a TLS",
                                           4L - length(has)))
    # asked for: every image, with the panels warning
    expect_warning(autoplot(tl, images = 1:4, max_panels = 2L),
                   class = "immunoscape_warning_panels")
})

test_that("a misnamed B- or T-cell type is an error, not zero TLS", {
    set.seed(3)
    cells <- tls_fixture(list(c(300, 300)), image = "a")
    ok <- detect_tls(spatial_cells(cells), t_cells = "CD4 T")
    expect_identical(nrow(ok$tls), 1L)
    # the panel names its B cells "B cell (CD19+)": the default "B" is
    # an error naming it; so is a B-cell type given and absent
    b <- cells
    b$type[b$type == "B"] <- "B cell (CD19+)"
    b <- spatial_cells(b)
    expect_error(detect_tls(b, t_cells = "CD4 T"), "B cell (CD19+)",
                 fixed = TRUE, class = "immunoscape_error_type")
    expect_error(detect_tls(b, b_cells = "B cells", t_cells = "CD4 T"),
                 "b_cells", class = "immunoscape_error_type")
    named <- detect_tls(b, b_cells = "B cell (CD19+)", t_cells = "CD4 T")
    expect_equal(named$tls$n_b, ok$tls$n_b)
    # an explicit T-cell type found in no image: an error with a
    # suggestion; both at once when both are wrong
    expect_error(detect_tls(spatial_cells(cells), t_cells = "CD4"),
                 "CD4 T", class = "immunoscape_error_type")
    expect_error(detect_tls(b, b_cells = "B cells", t_cells = "CD4"),
                 "b_cells.*t_cells", class = "immunoscape_error_type")
    # a list of default T-cell types of which one is present is fine
    expect_identical(nrow(detect_tls(spatial_cells(cells))$tls), 1L)
})

test_that("tls_agreement(): missing ids, short rings and duplicated circles are classed errors", {
    a0 <- agreement_case(c(4L, 5L))
    res <- a0$res
    ref <- a0$ref
    ok <- tls_agreement(res, ref)
    expect_identical(ok$ref_id[!is.na(ok$tls_id)], 4L)
    # missing image or id: the column and the row are named
    na_img <- transform(ref, image = c("img", NA))
    expect_error(tls_agreement(res, na_img), "image.*row 2",
                 class = "immunoscape_error_column")
    expect_error(tls_agreement(res, transform(ref, tls_id = NA)),
                 "tls_id.*rows 1, 2", class = "immunoscape_error_column")
    # polygons: a ring needs 3 vertices; the TLS at fault is named
    tri <- data.frame(image = "img", tls_id = 1L, x = c(150, 350, 250),
                      y = c(150, 150, 350))
    expect_true(1L %in% tls_agreement(res, tri)$ref_id)
    for (nv in 1:2) {
        short <- rbind(tri, data.frame(image = "img", tls_id = 42L,
                                       x = c(600, 700)[seq_len(nv)],
                                       y = c(600, 700)[seq_len(nv)]))
        expect_error(tls_agreement(res, short), "42",
                     class = "immunoscape_error_window")
    }
    # a second ring of two vertices in a TLS whose first ring is fine
    two <- rbind(transform(tri, ring = 1L),
                 data.frame(image = "img", tls_id = 1L, x = c(200, 210),
                            y = c(200, 210), ring = 2L))
    expect_error(tls_agreement(res, two), "tls_id",
                 class = "immunoscape_error_window")
    expect_error(tls_agreement(res, transform(tri, polygon = NA)),
                 "polygon", class = "immunoscape_error_column")
    # the same circle id twice in an image: an error naming it, not a
    # silent recycling; the same id in two images is fine
    dup <- rbind(ref[1, ], transform(ref[1, ], x = 900))
    expect_error(tls_agreement(res, dup), "4",
                 class = "immunoscape_error_argument")
    two_img <- rbind(ref[1, ], transform(ref[1, ], image = "other"))
    a <- tls_agreement(res, two_img)
    expect_identical(sort(a$ref_id), c(4L, 4L))
    expect_setequal(a$image, c("img", "other"))
})

test_that("tls_agreement(): pixel is bounded by the smallest reference TLS", {
    a0 <- agreement_case(c(1L, 2L))
    res <- a0$res
    ref <- a0$ref
    limit <- min(ref$radius) / 5
    a <- tls_agreement(res, ref, pixel = limit)
    expect_gt(a$jaccard[!is.na(a$tls_id)], 0.5)
    expect_error(tls_agreement(res, ref, pixel = limit * 1.01), "pixel",
                 class = "immunoscape_error_radius")
    expect_error(tls_agreement(res, ref, pixel = 1e6), "pixel",
                 class = "immunoscape_error_radius")
    # polygons: half the shorter side of the bounding box
    sq <- data.frame(image = "img", tls_id = 1L, x = c(200, 300, 300, 200),
                     y = c(200, 200, 240, 240))
    expect_no_error(tls_agreement(res, sq, pixel = 4))
    expect_error(tls_agreement(res, sq, pixel = 4.1), "pixel",
                 class = "immunoscape_error_radius")
    flat <- transform(sq, y = 200)
    expect_error(tls_agreement(res, flat), "zero width",
                 class = "immunoscape_error_window")
    # an empty reference has no size to bound pixel by
    expect_identical(nrow(tls_agreement(res, ref[0, ], pixel = 1e6)), 1L)
})

test_that("tls_agreement(): the raster drawn in bands equals the whole raster", {
    A <- list(box = c(0, 100, 0, 300), inside = function(px, py) {
        (px - 50)^2 + (py - 150)^2 <= 50^2 | (py > 250 & px < 30)
    })
    B <- list(box = c(20, 90, 100, 200), inside = function(px, py) {
        (px - 55)^2 + (py - 150)^2 <= 35^2
    })
    pixel <- 0.1
    g <- expand.grid(x = seq(0, 100, by = pixel), y = seq(0, 300, by = pixel))
    # several bands of rows
    expect_gt(nrow(g), 2 * 2^20)
    ia <- A$inside(g$x, g$y)
    ib <- B$inside(g$x, g$y)
    expect_identical(immunoscape:::tls_raster_jaccard(A, B, pixel),
                     sum(ia & ib) / sum(ia | ib))
})

test_that("detect_tls(): link and buffer have documented upper bounds", {
    set.seed(4)
    cells <- spatial_cells(tls_fixture(list(c(300, 300)), side = 600,
                                       n_bg = 600))
    expect_error(detect_tls(cells, link = 500 * (1 + 1e-9)), "link",
                 class = "immunoscape_error_radius")
    expect_error(detect_tls(cells, link = 3000), "link",
                 class = "immunoscape_error_radius")
    expect_error(detect_tls(cells, buffer = 250 * (1 + 1e-9)), "buffer",
                 class = "immunoscape_error_radius")
    expect_error(detect_tls(cells, buffer = 1e4), "buffer",
                 class = "immunoscape_error_radius")
    expect_error(detect_tls(cells, buffer = 1e300), "buffer",
                 class = "immunoscape_error_radius")
    # the bounds themselves are accepted and give outlines that hold
    # their cells, grown by at most `buffer` plus the closing
    at <- detect_tls(cells, link = 500, buffer = 250, min_b = 5, min_t = 5)
    expect_gte(nrow(at$tls), 1L)
    expect_true(all(is.finite(at$tls$area_mm2) & at$tls$area_mm2 > 0))
    span <- function(v) diff(range(v))
    expect_lte(span(at$outlines$x), span(cells$x) + 2 * (500 + 250))
})

test_that("detect_tls(): huge finite t_radius, margin and distal give results", {
    sim <- quiet(simulate_tme(size = 1000, cells_per_mm2 = 1000, seed = 1,
                              n_tls = 1))
    reg <- quiet(tumor_regions(sim))
    run <- function(...) {
        quiet(detect_tls(sim, regions = reg, min_b = 5, min_t = 5,
                         link = 40, ...))
    }
    base <- run()
    expect_gte(nrow(base$tls), 1L)
    # t_radius beyond the image diagonal reaches every T cell: the same
    # as the diagonal itself
    diag <- sqrt(diff(range(sim$x))^2 + diff(range(sim$y))^2)
    expect_identical(run(t_radius = 1e300)$tls, run(t_radius = diag)$tls)
    # margin = distal = 1e300: every TLS touches the "margin"
    wide <- run(margin = 1e300, distal = 1e300)
    expect_true(all(as.character(wide$tls$location) == "margin"))
    expect_identical(wide$tls[setdiff(names(wide$tls), "location")],
                     base$tls[setdiff(names(base$tls), "location")])
    # distal = 1e300: nothing is distal; the rest as before
    far <- run(distal = 1e300)
    loc <- as.character(base$tls$location)
    loc[loc %in% "distal"] <- "peritumoral"
    expect_identical(as.character(far$tls$location), loc)
})

test_that("hostile TLS inputs end in classed errors in a child process", {
    skip_if(nzchar(Sys.getenv("IMMUNOSCAPE_SKIP_HOSTILE")),
            "IMMUNOSCAPE_SKIP_HOSTILE set")
    # formerly: a 3.7 TB allocation, an internal error, silent nonsense
    cases <- list(
        list(code = "tls_agreement(tls, transform(tls_truth, radius = 1e6))",
             arg = "pixel", class = "immunoscape_error_argument"),
        list(code = "tls_agreement(tls, transform(tls_truth, radius = 5000), pixel = 0.01)",
             arg = "pixel", class = "immunoscape_error_argument"),
        list(code = "tls_agreement(tls, tls_truth, pixel = 1e6)",
             arg = "pixel", class = "immunoscape_error_radius"),
        list(code = "tls_agreement(tls, transform(tls_truth, image = NA))",
             arg = "image", class = "immunoscape_error_column"),
        list(code = "tls_agreement(tls, rbind(tls_truth, tls_truth))",
             arg = "tls_id", class = "immunoscape_error_argument"),
        list(code = "tls_agreement(tls, transform(tls_truth[c('image', 'tls_id', 'x', 'y')], tls_id = 7))",
             arg = "tls_id", class = "immunoscape_error_window"),
        list(code = "detect_tls(sim, buffer = 1e300)", arg = "buffer",
             class = "immunoscape_error_radius"),
        list(code = "detect_tls(sim, link = 3000)", arg = "link",
             class = "immunoscape_error_radius"),
        list(code = "detect_tls(sim, regions = reg, min_b = 5, min_t = 5, t_radius = 1e300, margin = 1e300, distal = 1e300)",
             arg = NA_character_, class = NA_character_)
    )
    for (i in seq_along(cases)) {
        cases[[i]]$id <- i
        cases[[i]]$fun <- sub("\\(.*", "", cases[[i]]$code)
    }
    res <- hostile_run(cases)
    res <- res[order(res$id), ]
    want <- vapply(cases, `[[`, "", "class")
    expect_identical(res$outcome,
                     ifelse(is.na(want), "ok", "classed"),
                     info = paste(res$code, res$message, sep = " -> "))
    cl <- !is.na(want)
    expect_identical(res$class[cl], want[cl], info = paste(res$message[cl]))
    expect_true(all(res$names_arg[cl]), info = paste(res$message[cl]))
    # the suggested pixel is a real way out: it passes the raster check
    msg <- res$message[1]
    need <- suppressWarnings(as.numeric(sub(".*pixel >= ([0-9.e+]+).*",
                                            "\\1", msg)))
    expect_true(is.finite(need) && need > 2, info = msg)
    skip_if_not(is.finite(need))
    sim <- quiet(simulate_tme(size = 1000, cells_per_mm2 = 1000, seed = 1,
                              n_tls = 1))
    tls <- quiet(detect_tls(sim, min_b = 5, min_t = 5, link = 40))
    big <- transform(attr(sim, "tls_truth"), radius = 1e6)
    a <- tls_agreement(tls, big, pixel = need)
    expect_setequal(a$ref_id[!is.na(a$ref_id)], big$tls_id)
})

test_that("a TLS at the edge of the image counts its area in the tissue only", {
    set.seed(2)
    df <- tls_fixture(list(c(60, 500)), side = 1000)
    sq <- data.frame(x = c(0, 1000, 1000, 0), y = c(0, 0, 1000, 1000))
    cells <- suppressWarnings(spatial_cells(df, window = sq))
    for (b in c(15, 100)) {
        t <- detect_tls(cells, buffer = b, t_cells = "CD4 T")
        o <- t$outlines[t$outlines$tls_id == 1, ]
        expect_lt(min(o$x), 0)                       # overhangs the window
        # brute force: grid points inside the outline and the window
        h <- 1
        g <- expand.grid(x = seq(min(o$x) + h / 2, max(o$x), by = h),
                         y = seq(min(o$y) + h / 2, max(o$y), by = h))
        inside <- immunoscape:::window_inside(o, "img", g$x, g$y)
        want <- sum(inside & g$x >= 0) * h^2 / 1e6
        expect_equal(t$tls$area_mm2, want, tolerance = 0.01)
        expect_lt(t$tls$area_mm2, sum(inside) * h^2 / 1e6)
    }
})

# Two B-cell follicles (hexagonal packing, 8 um) whose T-cell cuffs touch,
# on a sparse background; centres `sep` apart.
twin_follicles <- function(sep, seed = 1) {
    hexdisc <- function(cx, cy, r, sp = 8) {
        g <- expand.grid(i = -40:40, j = -40:40)
        x <- cx + sp * (g$i + 0.5 * (g$j %% 2))
        y <- cy + sp * sqrt(3) / 2 * g$j
        k <- (x - cx)^2 + (y - cy)^2 <= r^2
        data.frame(x = x[k], y = y[k])
    }
    set.seed(seed)
    cuff <- function(cx, r0, r1, n) {
        a <- stats::runif(n, 0, 2 * pi)
        r <- sqrt(stats::runif(n, r0^2, r1^2))
        data.frame(x = cx + r * cos(a), y = 300 + r * sin(a))
    }
    rbind(cbind(hexdisc(250, 300, 50), type = "B"),
          cbind(hexdisc(250 + sep, 300, 65), type = "B"),
          cbind(cuff(250, 55, 110, 220), type = "CD4 T"),
          cbind(cuff(250 + sep, 70, 125, 260), type = "CD4 T"),
          data.frame(x = stats::runif(300, 0, 800), y = stats::runif(300, 0, 600),
                     type = "Other"))
}

test_that("TLS do not depend on the order of the cells; zones count once", {
    for (sep in c(200, 230)) {
        df <- twin_follicles(sep)
        df$id <- seq_len(nrow(df))
        a <- detect_tls(spatial_cells(df, cell_id = "id"), t_cells = "CD4 T")
        b <- detect_tls(spatial_cells(df[nrow(df):1, ], cell_id = "id"),
                        t_cells = "CD4 T")
        cols <- c("n_cells", "n_b", "n_t", "n_seeds", "n_t_zone", "area_mm2")
        ta <- a$tls[order(a$tls$x), cols]
        tb <- b$tls[order(b$tls$x), cols]
        rownames(ta) <- rownames(tb) <- NULL
        expect_equal(ta, tb)
        # n_t_zone: the T cells within t_radius (100) of the TLS's seeds,
        # each once (brute force over the members' seeds)
        for (k in a$tls$tls_id) {
            ids <- a$members$cell_id[a$members$tls_id == k]
            s <- df[df$id %in% ids & df$type == "B", ]
            t <- df[df$type == "CD4 T", ]
            near <- vapply(seq_len(nrow(t)), function(i) {
                min((s$x - t$x[i])^2 + (s$y - t$y[i])^2) <= 100^2
            }, logical(1))
            expect_equal(a$tls$n_t_zone[a$tls$tls_id == k], sum(near))
        }
    }
})

test_that("an image without cells keeps its row; 0/0 agreement is NA", {
    sim <- quiet(simulate_tme(n_images = 3, size = 1500, seed = 3, n_tls = 1))
    sub <- sim[sim$image != "image2", ]
    res <- detect_tls(sub, preset = "simulated")
    expect_identical(as.character(res$images$image),
                     c("image1", "image2", "image3"))
    expect_true(is.na(res$images$n_tls[2]))
    n <- attr(res, "notes")
    expect_named(n, c("image", "note"))
    expect_identical(n$note[n$image == "image2"], "no cells in this image")
    expect_output(print(res), "1 image without cells")
    empty <- detect_tls(sim, min_b = 1e4)
    ag <- tls_agreement(empty, attr(sim, "tls_truth")[0, ])
    expect_true(is.na(attr(ag, "precision")))
    expect_true(is.na(attr(ag, "recall")))
})

test_that("TLS densities use the tumour area within the window", {
    # a tumour polygon drawn beyond the tissue (to the slide edge)
    cells <- square_cells(4000, seed = 4)
    big <- data.frame(x = c(-2000, 400, 400, -2000),
                      y = c(-2000, -2000, 3000, 3000))
    reg <- as_regions(big, cells)
    res <- detect_tls(cells, b_cells = "Other", min_b = 1e5, regions = reg)
    expect_equal(res$images$tumor_area_mm2, 0.4, tolerance = 1e-3)
})

test_that("profile TLS maturity: an image without staging cells is staged", {
    sim <- quiet(simulate_tme(n_images = 2, seed = 42, n_tls = c(3, 2),
                              size = 2500))
    sim$type[sim$image == "image2" & sim$type %in% c("FDC", "GC B")] <- "B"
    pr <- quiet(spatial_profile(sim, features = profile_features("tls")))
    tl <- detect_tls(sim, preset = "simulated")
    for (m in c("aggregate", "primary", "secondary")) {
        got <- pr[[paste0("n_tls_", m)]]
        want <- as.vector(table(factor(tl$tls$image, levels(sim$image)),
                                factor(tl$tls$maturity,
                                       levels = c("aggregate", "primary",
                                                  "secondary")))[, m])
        expect_equal(got, want)
    }
})
