# simulate_tme(): structure, truth against brute-force geometry, the
# make-up of each growth pattern and infiltration, reproducibility.

# Brute force: distance from points to the nearest edge of any ring, and
# even-odd inside test over all rings (holes count as outside).
oracle_polygon <- function(poly, px, py) {
    rings <- split(poly, paste(poly$polygon, poly$ring))
    d <- rep(Inf, length(px))
    inside <- rep(FALSE, length(px))
    for (r in rings) {
        ax <- r$x
        ay <- r$y
        bx <- c(ax[-1], ax[1])
        by <- c(ay[-1], ay[1])
        for (k in seq_along(px)) {
            vx <- bx - ax
            vy <- by - ay
            t <- ((px[k] - ax) * vx + (py[k] - ay) * vy) / (vx^2 + vy^2)
            t <- pmin(1, pmax(0, t))
            dk <- sqrt((ax + t * vx - px[k])^2 + (ay + t * vy - py[k])^2)
            d[k] <- min(d[k], dk)
            cross <- ((ay > py[k]) != (by > py[k])) &
                (px[k] < ax + (py[k] - ay) * (bx - ax) / (by - ay))
            if (sum(cross) %% 2 == 1) inside[k] <- !inside[k]
        }
    }
    ifelse(inside, -d, d)
}

# (small sections have no room for some TLS: that message is tested below)
small_sim <- function(..., size = 1500, cells_per_mm2 = 2000) {
    suppressMessages(
        simulate_tme(size = size, cells_per_mm2 = cells_per_mm2, ...)
    )
}

test_that("simulate_tme returns spatial_cells with the agreed columns", {
    cells <- small_sim(n_images = 2, seed = 1, n_tls = 2)
    expect_s3_class(cells, "spatial_cells")
    expect_named(cells, c("cell_id", "image", "x", "y", "type",
                          "true_border_distance", "true_region",
                          "true_tls_id", "patient"))
    expect_equal(levels(cells$type),
                 c("Tumor", "Hepatocyte", "Kupffer", "Endothelial",
                   "Fibroblast", "CD8 T", "CD4 T", "Treg", "B",
                   "Macrophage", "FDC", "GC B", "Other"))
    expect_equal(levels(cells$true_region), c("tumor", "necrosis", "liver"))
    expect_equal(levels(cells$image), c("image1", "image2"))
    expect_equal(levels(cells$patient), c("patient1", "patient2"))
    expect_type(cells$true_tls_id, "integer")
    expect_type(cells$true_border_distance, "double")
    # window: the rectangle of each section, holding every cell
    w <- get_window(cells)
    expect_equal(unname(window_area(cells)), c(1500^2, 1500^2))
    expect_equal(range(w$x), c(0, 1500))
    expect_true(all(cells$x >= 0 & cells$x <= 1500 &
                    cells$y >= 0 & cells$y <= 1500))
    expect_equal(cells$cell_id[cells$image == "image2"],
                 seq_len(sum(cells$image == "image2")))
    # attributes
    poly <- attr(cells, "tumor_polygons")
    expect_s3_class(poly, "tissue_window")
    expect_named(poly, c("image", "polygon", "ring", "hole", "x", "y"))
    tls <- attr(cells, "tls_truth")
    expect_named(tls, c("image", "tls_id", "x", "y", "radius",
                        "follicle_radius", "n_cells", "maturity",
                        "location", "border_distance"))
    it <- attr(cells, "image_truth")
    expect_equal(as.character(it$image), c("image1", "image2"))
    expect_true(all(c("patient", "pattern", "infiltration", "n_cells",
                      "survival_time", "survival_event", "risk") %in%
                        names(it)))
    expect_equal(it$n_cells, as.vector(table(cells$image)))
})

test_that("counts follow cells_per_mm2 * area", {
    for (d in c(1000, 3000)) {
        cells <- simulate_tme(size = c(2000, 1500), cells_per_mm2 = d,
                              seed = 2)
        expect_equal(nrow(cells) / (d * 3), 1, tolerance = 0.05)
    }
})

test_that("cells are spaced like tissue, not like a Poisson pattern", {
    cells <- small_sim(seed = 3, n_tls = 0)
    nn <- nearest_distances(cells, to = unique(as.character(cells$type)))
    nn <- stats::aggregate(distance ~ image + cell_id, data = nn, FUN = min)
    # Poisson at 2000 / mm^2 puts 18% of cells within 5 microns of another
    expect_lt(mean(nn$distance < 5), 0.01)
    expect_gt(stats::median(nn$distance), 10)
})

test_that("true_border_distance is the exact signed distance to the polygons", {
    cells <- small_sim(n_images = 3, seed = 4, necrosis = TRUE,
                       n_nodules = c(1, 2, 3), size = 2500,
                       merge_nodules = c(FALSE, FALSE, TRUE))
    poly <- attr(cells, "tumor_polygons")
    expect_true(any(poly$hole))
    # separate nodules: one polygon each; merged lobes: one polygon
    n_poly <- tapply(poly$polygon, poly$image, max)
    expect_equal(as.vector(n_poly), c(1, 2, 1))
    expect_equal(attr(cells, "image_truth")$merged, c(FALSE, FALSE, TRUE))
    set.seed(10)
    for (im in levels(cells$image)) {
        s <- cells[cells$image == im, ]
        i <- sample.int(nrow(s), 150)
        # add the cells nearest the border: the sign matters most there
        i <- unique(c(i, order(abs(s$true_border_distance))[1:50]))
        p <- poly[poly$image == im, ]
        expect_equal(s$true_border_distance[i],
                     oracle_polygon(p, s$x[i], s$y[i]), tolerance = 1e-9)
    }
    # sign and region agree
    d <- cells$true_border_distance
    expect_true(all((d < 0) == (cells$true_region == "tumor")))
    expect_true(any(cells$true_region == "necrosis"))
    expect_true(all(d[cells$true_region == "necrosis"] > 0))
})

test_that("immune cells gather at the invasive front, not at necrosis", {
    # excluded tumours with a necrotic centre (seed 2100 of the review:
    # T cells had ringed the necrosis, which made the core inflamed)
    cells <- suppressMessages(simulate_tme(
        n_images = 3, pattern = c("desmoplastic", "replacement", "pushing"),
        infiltration = "excluded", seed = 2100, size = 2000,
        necrosis = TRUE))
    poly <- attr(cells, "tumor_polygons")
    expect_true(any(poly$hole))
    for (im in levels(cells$image)) {
        s <- cells[cells$image == im & cells$true_region == "tumor", ]
        p <- poly[poly$image == im, ]
        front <- -oracle_polygon(p[!p$hole, ], s$x, s$y)
        near_hole <- s$true_border_distance > -80 & front > 200
        near_front <- front < 80
        cd8 <- s$type == "CD8 T"
        expect_gt(sum(near_hole), 100)
        # the T cells are at the outer front, not around the necrosis
        expect_gt(mean(cd8[near_front]), 3 * mean(cd8[near_hole]))
        # no liver plates about the necrosis (replacement pattern)
        expect_lt(mean(s$type[near_hole] == "Hepatocyte"), 0.01)
    }
    reg <- suppressMessages(tumor_regions(
        cells, ignore = c("CD8 T", "CD4 T", "Treg", "B", "Macrophage")))
    ph <- suppressMessages(immune_phenotype(cells, reg))
    expect_equal(as.character(ph$phenotype), rep("excluded", 3))
})

test_that("TLS truth matches the cells", {
    cells <- small_sim(seed = 5, n_tls = 3, size = 3000,
                       tls_maturity = c("primary", "secondary"))
    tls <- attr(cells, "tls_truth")
    expect_equal(nrow(tls), 3)
    expect_equal(tls$tls_id, 1:3)
    ids <- cells$true_tls_id
    expect_equal(as.vector(table(factor(ids, levels = 1:3))), tls$n_cells)
    for (k in tls$tls_id) {
        m <- cells[!is.na(ids) & ids == k, ]
        # every member within the TLS radius of its centre
        expect_true(all(sqrt((m$x - tls$x[k])^2 + (m$y - tls$y[k])^2) <=
                            tls$radius[k] + 1e-9))
        tab <- table(m$type)
        expect_gt(sum(tab[c("B", "GC B")]), sum(tab[c("CD8 T")]))
        expect_gt(tab[["CD4 T"]], tab[["CD8 T"]])
        expect_gt(tab[["FDC"]], 0)
        if (tls$maturity[k] == "secondary") {
            expect_gt(tab[["GC B"]], 0)
        } else {
            expect_equal(tab[["GC B"]], 0)
        }
    }
    # a TLS is denser than the tissue around it
    area <- sum(pi * tls$follicle_radius^2)
    expect_gt(sum(!is.na(ids)) / (pi * sum(tls$radius^2)) * 1e6, 2000)
    # aggregates carry neither FDC nor GC B
    agg <- small_sim(seed = 6, n_tls = 2, tls_maturity = "aggregate")
    expect_false(any(agg$type[!is.na(agg$true_tls_id)] %in% c("FDC", "GC B")))
    expect_true(all(attr(agg, "tls_truth")$maturity == "aggregate"))
})

test_that("TLS locations follow the signed distance of their centre", {
    cells <- simulate_tme(n_images = 4, size = 3000, cells_per_mm2 = 1000,
                          n_tls = 3, seed = 7, n_decoys = 0)
    tls <- attr(cells, "tls_truth")
    poly <- attr(cells, "tumor_polygons")
    for (k in seq_len(nrow(tls))) {
        d <- oracle_polygon(poly[poly$image == tls$image[k], ], tls$x[k],
                            tls$y[k])
        expect_equal(tls$border_distance[k], d, tolerance = 1e-9)
    }
    d <- tls$border_distance
    r <- tls$radius
    loc <- as.character(tls$location)
    expect_true(all(d[loc == "intratumoral"] <= -r[loc == "intratumoral"]))
    # margin TLS lie against the tumour front, outside it: every member
    # outside, the nearest within 40 um of the border
    expect_true(any(loc == "margin"))
    expect_true(all(d[loc == "margin"] > 0 &
                        d[loc == "margin"] <= r[loc == "margin"] + 40))
    for (k in which(loc == "margin")) {
        m <- cells$image == tls$image[k] & cells$true_tls_id %in% tls$tls_id[k]
        bd <- cells$true_border_distance[m]
        expect_gte(min(bd), 0)
        expect_lte(min(bd), 40)
    }
    expect_true(all(d[loc == "peritumoral"] > r[loc == "peritumoral"] &
                        d[loc == "peritumoral"] <= 1000))
    expect_true(all(d[loc == "distal"] >= 1250))
    only <- simulate_tme(size = 3000, cells_per_mm2 = 1000, n_tls = 2,
                         seed = 8, tls_location = "intratumoral")
    expect_true(all(attr(only, "tls_truth")$location == "intratumoral"))
    expect_true(all(only$true_region[!is.na(only$true_tls_id)] == "tumor"))
})

test_that("growth patterns shape the interface", {
    sims <- lapply(c("desmoplastic", "replacement", "pushing"), function(p) {
        small_sim(seed = 9, pattern = p, size = 2500, n_tls = 0,
                  n_decoys = 0)
    })
    band <- function(s, lo, hi, type) {
        i <- s$true_border_distance > lo & s$true_border_distance <= hi
        mean(s$type[i] == type)
    }
    # desmoplastic: a fibroblast rim, hepatocytes only beyond it
    expect_gt(band(sims[[1]], 0, 100, "Fibroblast"), 0.4)
    expect_lt(band(sims[[1]], 0, 100, "Hepatocyte"), 0.02)
    rim <- attr(sims[[1]], "image_truth")$rim_width
    expect_true(rim >= 120 && rim <= 250)
    # replacement: tumour cells among hepatocytes on both sides
    expect_gt(band(sims[[2]], 0, 100, "Tumor"), 0.05)
    expect_gt(band(sims[[2]], -100, 0, "Hepatocyte"), 0.03)
    expect_lt(band(sims[[2]], 0, 100, "Fibroblast"), 0.1)
    # pushing: hepatocytes right at the border, no tumour cells outside
    expect_gt(band(sims[[3]], 20, 100, "Hepatocyte"), 0.4)
    expect_equal(band(sims[[3]], 0, 300, "Tumor"), 0)
    expect_lt(band(sims[[3]], 20, 100, "Fibroblast"), 0.05)
    expect_equal(band(sims[[1]], 0, 300, "Tumor"), 0)
})

test_that("infiltration phenotypes differ in core and margin CD8 densities", {
    dens <- function(infl, seed) {
        s <- small_sim(seed = seed, infiltration = infl, size = 3000,
                       cells_per_mm2 = 3000, n_tls = 0, n_decoys = 0)
        d <- s$true_border_distance
        core <- d < -250
        margin <- d > 0 & d < 250
        c(core = sum(s$type[core] == "CD8 T") / sum(core),
          margin = sum(s$type[margin] == "CD8 T") / sum(margin))
    }
    for (seed in 1:2) {
        inf <- dens("inflamed", seed)
        exc <- dens("excluded", seed)
        des <- dens("desert", seed)
        expect_gt(inf[["core"]], 3 * exc[["core"]])
        expect_gt(exc[["margin"]], 3 * exc[["core"]])
        expect_gt(exc[["margin"]], 4 * des[["margin"]])
        expect_gt(inf[["core"]], 4 * des[["core"]])
    }
})

test_that("simulations are reproducible and images independent", {
    a <- small_sim(n_images = 3, seed = 11,
                   pattern = c("desmoplastic", "replacement", "pushing"))
    b <- small_sim(n_images = 3, seed = 11,
                   pattern = c("desmoplastic", "replacement", "pushing"))
    expect_identical(a, b)
    # with seed = NULL, set.seed() reproduces; with a seed, the caller's
    # stream is untouched
    set.seed(3)
    c1 <- small_sim(n_tls = 1)
    set.seed(3)
    c2 <- small_sim(n_tls = 1)
    expect_identical(c1, c2)
    set.seed(4)
    before <- .Random.seed
    small_sim(seed = 1)
    expect_identical(.Random.seed, before)
    # image k is the same alone, in a smaller cohort or in a larger one
    one <- small_sim(seed = 11)
    strip <- function(x, im) {
        keep <- x$image == im
        cols <- c("cell_id", "x", "y", "type", "true_border_distance",
                  "true_region", "true_tls_id")
        lapply(unclass(x)[cols], `[`, keep)
    }
    expect_identical(strip(one, "image1"), strip(a, "image1"))
    big <- small_sim(n_images = 5, seed = 11,
                     pattern = c("desmoplastic", "replacement", "pushing"))
    expect_identical(strip(big, "image3"), strip(a, "image3"))
    third <- small_sim(n_images = 3, seed = 11, images = 3,
                       pattern = c("desmoplastic", "replacement", "pushing"))
    expect_identical(strip(third, "image3"), strip(a, "image3"))
    expect_equal(levels(third$image), "image3")
    # the number of threads does not matter
    expect_identical(small_sim(seed = 11, nthreads = 1),
                     small_sim(seed = 11, nthreads = 2))
    # different images differ
    expect_false(isTRUE(all.equal(strip(a, "image1")$type[1:500],
                                  strip(a, "image2")$type[1:500])))
})

test_that("patients group images and get survival from their features", {
    cells <- small_sim(n_images = 6, n_patients = 3, seed = 12, n_tls = 0,
                       infiltration = c("inflamed", "desert"))
    it <- attr(cells, "image_truth")
    expect_equal(as.character(it$patient),
                 paste0("patient", c(1, 2, 3, 1, 2, 3)))
    expect_equal(as.character(cells$patient),
                 as.character(it$patient)[as.integer(cells$image)])
    # images of one patient share its survival
    expect_equal(it$survival_time[1], it$survival_time[4])
    expect_true(all(it$survival_time > 0 & it$survival_time <= 96))
    expect_true(all(it$survival_event %in% 0:1))
    # patient 1 (inflamed, desert) and 2 (desert, inflamed) have the
    # same mean risk
    expect_equal(it$risk[1], it$risk[2])
})

test_that("small and oblong sections work; TLS without room are reported", {
    cells <- small_sim(seed = 16, size = 1000, n_tls = 0, n_decoys = 0)
    expect_gt(sum(cells$true_region == "tumor"), 100)
    expect_equal(unname(window_area(cells)), 1e6)
    wide <- small_sim(seed = 17, size = c(4000, 1200), n_nodules = 2,
                      n_tls = 1)
    expect_true(all(wide$x <= 4000 & wide$y <= 1200))
    expect_equal(nrow(attr(wide, "tumor_polygons")) > 0, TRUE)
    expect_message(
        crowded <- simulate_tme(size = 1000, seed = 18, n_tls = 4,
                                tls_location = "intratumoral"),
        "no room for [0-9]+ of 4 TLS", class = "immunoscape_message"
    )
    expect_lt(nrow(attr(crowded, "tls_truth")), 4)
})

test_that("a section without tumour has NA distances and liver only", {
    cells <- small_sim(seed = 13, n_nodules = 0, n_tls = 1)
    expect_true(all(is.na(cells$true_border_distance)))
    expect_true(all(cells$true_region == "liver"))
    expect_false(any(cells$type == "Tumor"))
    expect_equal(nrow(attr(cells, "tumor_polygons")), 0)
    tls <- attr(cells, "tls_truth")
    expect_true(all(tls$location == "distal"))
    expect_equal(attr(cells, "image_truth")$tumor_area_mm2, 0)
})

test_that("existing analyses run on simulated sections", {
    cells <- small_sim(seed = 14, n_tls = 1)
    d <- nearest_distances(cells, from = "Tumor", to = "CD8 T")
    expect_equal(nrow(d), sum(cells$type == "Tumor"))
    expect_true(all(is.finite(d$distance)))
    it <- interaction_test(cells, radius = 25, nperm = 19,
                           types = c("Tumor", "Hepatocyte", "B", "CD4 T"))
    expect_gt(nrow(it), 0)
    p <- plot_cells(cells)
    expect_s3_class(p, "ggplot")
    expect_equal(nrow(ggplot2::layer_data(p, 1)), nrow(cells))
})

test_that("bad arguments raise classed errors", {
    e <- "immunoscape_error_argument"
    expect_error(simulate_tme(pattern = "infiltrative"), class = e)
    expect_error(simulate_tme(infiltration = "cold"), class = e)
    expect_error(simulate_tme(size = 100), class = e)
    expect_error(simulate_tme(size = c(2000, NA)), class = e)
    expect_error(simulate_tme(cells_per_mm2 = -1), class = e)
    expect_error(simulate_tme(n_images = 0), class = e)
    expect_error(simulate_tme(n_tls = -1), class = e)
    expect_error(simulate_tme(n_nodules = 1.5), class = e)
    expect_error(simulate_tme(necrosis = NA), class = e)
    expect_error(simulate_tme(merge_nodules = "yes"), class = e)
    expect_error(simulate_tme(tls_maturity = "mature"), class = e)
    expect_error(simulate_tme(tls_location = "inside"), class = e)
    expect_error(simulate_tme(seed = "a"), class = e)
    expect_error(simulate_tme(n_images = 2, n_patients = 3), class = e)
    expect_error(simulate_tme(n_images = 2, images = 3), class = e)
    expect_error(simulate_tme(sise = 2000), class = e)
    expect_snapshot(simulate_tme(pattern = "desmoplastik"), error = TRUE)
})

test_that("decoys are immune-rich but hold no TLS", {
    cells <- small_sim(seed = 15, size = 3000, n_decoys = 3, n_tls = 1)
    dec <- attr(cells, "decoy_truth")
    expect_named(dec, c("image", "kind", "x", "y", "radius"))
    stroma <- dec[dec$kind == "T-cell-rich stroma", ]
    expect_gt(nrow(stroma), 0)
    tls <- attr(cells, "tls_truth")
    for (k in seq_len(nrow(stroma))) {
        near <- (cells$x - stroma$x[k])^2 + (cells$y - stroma$y[k])^2 <
            (0.3 * stroma$radius[k])^2
        ty <- cells$type[near]
        expect_equal(sum(ty == "B"), 0)
        expect_gt(mean(ty %in% c("CD8 T", "CD4 T", "Treg")), 0.3)
        expect_true(all(is.na(cells$true_tls_id[near])))
        # far from every TLS
        expect_true(all(sqrt((tls$x - stroma$x[k])^2 +
                             (tls$y - stroma$y[k])^2) >
                        tls$radius + stroma$radius[k]))
    }
})

test_that("simulate_tme() bounds size and counts with classed errors (issue 12)", {
    expect_error(simulate_tme(size = 1e300), class = "immunoscape_error_argument")
    expect_error(simulate_tme(size = 2^31), class = "immunoscape_error_argument")
    expect_error(simulate_tme(size = 1000, n_tls = 2^31),
                 class = "immunoscape_error_argument")
    expect_error(simulate_tme(size = 1000, n_tls = 1e300), "n_tls",
                 class = "immunoscape_error_argument")
})

test_that("counts a section cannot hold are refused up front", {
    e <- "immunoscape_error_argument"
    # the defects of the review: each ran for a minute or more
    expect_error(simulate_tme(cells_per_mm2 = 300, size = 1000, seed = 1,
                              n_tls = 1000),
                 "`n_tls` must be at most 9 per image in a 1000 x 1000",
                 class = e)
    expect_error(simulate_tme(size = 1000, n_tls = 1e4), "n_tls", class = e)
    expect_error(simulate_tme(n_nodules = 1e4), "n_nodules", class = e)
    for (arg in c("n_images", "n_nodules", "n_tls", "n_decoys")) {
        args <- stats::setNames(list(1e9), arg)
        expect_error(do.call(simulate_tme, args), arg, class = e)
    }
    expect_error(simulate_tme(n_images = 10001), "at most 10,000", class = e)
    # limits follow the section: 4 separate nodules in 1000 x 1000, 39 in
    # 3000 x 3000; 100 at most, merged or not
    expect_error(simulate_tme(size = 1000, n_nodules = 5),
                 "`n_nodules` must be at most 4 per image", class = e)
    expect_error(simulate_tme(n_nodules = 40),
                 "`n_nodules` must be at most 39", class = e)
    expect_error(simulate_tme(n_nodules = 101, merge_nodules = TRUE),
                 "at most 100", class = e)
    expect_error(simulate_tme(n_images = 2, n_nodules = c(1, 40)),
                 "not 40", class = e)
    expect_error(simulate_tme(size = c(1000, 4000), n_images = 2,
                              n_tls = c(2, 40)),
                 "at most 37 per image in a 1000 x 4000", class = e)
    # the smallest TLS depends on the maturities drawn
    expect_error(simulate_tme(size = 1000, n_tls = 6,
                              tls_maturity = "secondary"),
                 "at most 5 per image.*336 microns across", class = e)
    expect_error(simulate_tme(size = 1000, n_decoys = 8),
                 "`n_decoys` must be at most 7 per image", class = e)
    expect_error(simulate_tme(n_decoys = 52), "at most 51", class = e)
    # a cohort that cannot fit in memory
    withr::local_options(immunoscape.max_memory = 1e8)
    expect_error(simulate_tme(n_images = 100), "n_images",
                 class = "immunoscape_error_memory")
    expect_error(simulate_tme(size = 1e5), "size",
                 class = "immunoscape_error_memory")
})

test_that("at the limits, what finds no room is summed up in one message", {
    msgs <- character()
    cells <- withCallingHandlers(
        simulate_tme(cells_per_mm2 = 300, size = 1000, seed = 1, n_tls = 9,
                     n_decoys = 7, n_nodules = 4),
        immunoscape_message = function(m) {
            msgs <<- c(msgs, conditionMessage(m))
            invokeRestart("muffleMessage")
        }
    )
    expect_length(msgs, 1L)
    n_tls <- nrow(attr(cells, "tls_truth"))
    dec <- attr(cells, "decoy_truth")
    n_dec <- sum(dec$kind == "T-cell-rich stroma")
    it <- attr(cells, "image_truth")
    poly <- attr(cells, "tumor_polygons")
    expect_lt(n_tls, 9)
    expect_lt(it$n_nodules, 4)
    expect_match(msgs, paste0("no room for ", 4 - it$n_nodules,
                              " of 4 tumour nodules"), fixed = TRUE)
    expect_match(msgs, paste0(9 - n_tls, " of 9 TLS"), fixed = TRUE)
    # decoys left out are not said; their truth lists those placed
    expect_lt(n_dec, 7)
    expect_false(grepl("decoy", msgs))
    expect_match(msgs, "they are left out")
    expect_equal(it$n_tls, n_tls)
    # the nodules kept are whole, inside the section and 250 microns from
    # its edge (they used to be left at the corner, across the edge)
    expect_equal(length(unique(poly$polygon)), it$n_nodules)
    expect_true(all(poly$x >= 250 & poly$x <= 750 &
                        poly$y >= 250 & poly$y <= 750))
    # one message per image, with the kinds left out only
    msgs <- character()
    withCallingHandlers(
        simulate_tme(n_images = 2, cells_per_mm2 = 300, size = 1000,
                     seed = 2, n_tls = 9, n_decoys = 0),
        immunoscape_message = function(m) {
            msgs <<- c(msgs, conditionMessage(m))
            invokeRestart("muffleMessage")
        }
    )
    expect_length(msgs, 2L)
    expect_match(msgs, "^Image \"image[12]\": no room for [0-9] of 9 TLS;")
    expect_false(any(grepl("decoys|nodules", msgs)))
    # nothing left out, nothing said
    expect_silent(simulate_tme(size = 2000, cells_per_mm2 = 300, seed = 3,
                               n_tls = 1, n_decoys = 0))
})

test_that("placing structures by clearance decides as far_from() does", {
    far_from <- immunoscape:::far_from
    far_enough <- immunoscape:::far_enough
    clear_add <- immunoscape:::clear_add
    set.seed(20)
    pool <- list(x = stats::runif(3000, 0, 2000),
                 y = stats::runif(3000, 0, 2000))
    avoid <- data.frame(x = c(500, 1500, 1000), y = c(500, 800, 1600),
                        radius = c(120, 200, 90))
    # points on and next to the limit distance of the first structure
    ang <- stats::runif(200, 0, 2 * pi)
    rho <- 120 + 103 + 150 + c(-1e-7, 0, 1e-7, 1e-9)
    pool$x <- c(pool$x, 500 + rep(rho, 50) * cos(ang))
    pool$y <- c(pool$y, 500 + rep(rho, 50) * sin(ang))
    clear <- rep(Inf, length(pool$x))
    expect_identical(far_enough(clear, pool, 103, 150, avoid[0, ]),
                     rep(TRUE, length(pool$x)))
    for (k in seq_len(nrow(avoid))) {
        clear <- clear_add(clear, pool, avoid$x[k], avoid$y[k],
                           avoid$radius[k])
    }
    for (r in c(103, 150.5, 280)) {
        want <- far_from(pool$x, pool$y, r, avoid, 150)
        expect_identical(far_enough(clear, pool, r, 150, avoid), want)
        expect_true(any(want) && !all(want))
    }
    # no structure larger than largest_fit() has a place, a slightly
    # smaller one has
    pool$edge <- pmin(pool$x, 2000 - pool$x, pool$y, 2000 - pool$y)
    fit <- immunoscape:::largest_fit(pool, clear, 40, 150)
    fits <- function(r) {
        any(pool$edge >= r + 40 & far_from(pool$x, pool$y, r, avoid, 150))
    }
    expect_false(fits(fit + 1e-5))
    expect_true(fits(fit - 1e-3))
})
