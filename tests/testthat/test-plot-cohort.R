# autoplot() of the compartment, TLS, growth, profile and outcome families
# on one image and on a cohort: maps select and page images like
# plot_cells() (warning above max_panels); cohort summaries draw one
# line or point per image, not one panel per image. The 250-image
# cohorts are copies of a small analysed one (the plots only read the
# result tables).

# Three simulated sections analysed once per test file run (~10 s).
plot_cohort_env <- new.env()
plot_cohort <- function() {
    if (is.null(plot_cohort_env$res)) {
        old <- options(immunoscape.progress = FALSE)
        on.exit(options(old))
        cells <- quiet(simulate_tme(
            3, size = 1000, cells_per_mm2 = 1200, seed = 3,
            pattern = c("desmoplastic", "replacement", "pushing"),
            infiltration = c("inflamed", "excluded", "desert"), n_tls = 1))
        r <- quiet(tumor_regions(cells))
        plot_cohort_env$res <- list(
            cells = cells, regions = r,
            inf = quiet(infiltration_profile(cells, r,
                                             types = c("CD8 T", "Treg"),
                                             breaks = seq(-200, 200, 50))),
            cmp = quiet(compartments(cells, r, margin = 100)),
            ph = quiet(immune_phenotype(cells, r, margin = 100,
                                        min_expected = 0)),
            ra = quiet(compartment_ratios(cells, r, margin = 100)),
            gr = quiet(growth_pattern(cells, r)),
            tls = quiet(detect_tls(cells, regions = r))
        )
    }
    plot_cohort_env$res
}

# A result table of k x its images: the rows repeated with image names
# "<image>_<copy>", class and attributes kept.
copy_images <- function(x, k) {
    df <- as.data.frame(unclass(x), stringsAsFactors = FALSE)
    img <- as.character(df$image)
    out <- do.call(rbind, lapply(seq_len(k), function(i) {
        d <- df
        d$image <- paste(img, i, sep = "_")
        d
    }))
    out$image <- factor(out$image, levels = unique(out$image))
    rownames(out) <- NULL
    keep <- setdiff(names(attributes(x)), c("names", "row.names"))
    attributes(out)[keep] <- attributes(x)[keep]
    out
}

# Builds without any warning or error; returns the built plot.
builds <- function(p) {
    expect_s3_class(p, "ggplot")
    expect_no_warning(b <- ggplot2::ggplot_build(p))
    b
}

panels_of <- function(b) as.character(b$layout$layout$image)

# The images a plot draws: those of its data and of its layers' data.
drawn_images <- function(p) {
    d <- c(list(p$data), lapply(p$layers, function(l) l$data))
    d <- Filter(function(x) is.data.frame(x) && "image" %in% names(x), d)
    sort(unique(unlist(lapply(d, function(x) as.character(x$image)))))
}

test_that("maps of regions, growth and TLS select, page and warn like plot_cells()", {
    a <- plot_cohort()
    lv <- levels(a$cells$image)
    maps <- list(
        regions = function(...) autoplot(a$regions, ...),
        regions_cells = function(...) autoplot(a$regions, cells = a$cells,
                                               ...),
        growth = function(...) autoplot(a$gr, ...),
        growth_cells = function(...) autoplot(a$gr, cells = a$cells, ...),
        tls = function(...) autoplot(a$tls, ...),
        cells_overlay = function(...) plot_cells(a$cells, regions = a$regions,
                                                 tls = a$tls, ...)
    )
    for (nm in names(maps)) {
        f <- maps[[nm]]
        expect_warning(f(max_panels = 2), class = "immunoscape_warning_panels")
        p <- f(max_panels = 2, page = 2)
        b <- builds(p)
        expect_identical(nrow(b$layout$layout), 1L, label = nm)
        expect_identical(drawn_images(p), lv[3], label = nm)
        b <- builds(f(images = c(3, 1)))
        expect_setequal(panels_of(b), lv[c(1, 3)])
        b <- builds(f(images = "image2"))
        expect_identical(nrow(b$layout$layout), 1L, label = nm)
        expect_error(f(page = 2), class = "immunoscape_error_argument")
        expect_error(f(images = "nope"), class = "immunoscape_error_argument")
    }
})

test_that("the growth border is drawn as closed paths, runs of one pattern", {
    a <- plot_cohort()
    b <- attr(a$gr, "border")
    p <- autoplot(a$gr, images = "image2")
    d <- ggplot2::layer_data(p, 2)
    seg <- attr(a$gr, "segments")
    n_runs <- length(unique(d$group))
    # every run is one colour, and consecutive runs share an end point
    expect_true(all(tapply(d$colour, d$group,
                           function(v) length(unique(v))) == 1L))
    ends <- lapply(split(d[c("x", "y")], d$group), function(g)
        c(utils::head(g, 1)$x, utils::tail(g, 1)$x))
    firsts <- vapply(ends, `[`, numeric(1), 1)
    lasts <- vapply(ends, `[`, numeric(1), 2)
    expect_true(all(lasts %in% c(firsts, b$x)))
    # the ring is closed: its first sampled point is drawn twice
    bi <- b[b$image == "image2", ]
    # (y is reversed on the map)
    expect_identical(sum(d$x == bi$x[1] & abs(d$y) == bi$y[1]), 2L)
    expect_gte(n_runs, 1L)
})

test_that("infiltration_profile: density by distance, pooled by band area", {
    a <- plot_cohort()
    one <- builds(autoplot(a$inf, images = 1))
    expect_identical(nrow(one$layout$layout), 1L)
    # pooled over the cohort: cells over band area, one line per type
    p <- autoplot(a$inf, show = "pooled")
    b <- builds(p)
    df <- as.data.frame(a$inf)
    df <- df[is.finite(df$area_mm2) & df$area_mm2 > 0, ]
    key <- paste(df$type, df$mid)
    area <- tapply(df$area_mm2, key, sum)
    want <- (tapply(df$n, key, sum) / area)[area >= 0.01]
    pts <- ggplot2::layer_data(p, 4)
    got <- stats::setNames(pts$y, paste(levels(df$type)[pts$group], pts$x))
    expect_equal(got[names(want)], c(want), tolerance = 1e-12,
                 ignore_attr = TRUE)
    # 252 images: one panel per type, never one per band or image
    big <- copy_images(a$inf, 84)
    b <- builds(autoplot(big))
    expect_identical(nrow(b$layout$layout), nlevels(big$type))
    expect_false(is.null(autoplot(big)$labels$caption))
    b <- builds(autoplot(big, images = c("image1_1", "image2_7")))
    ld <- ggplot2::layer_data(autoplot(big, images = c("image1_1",
                                                       "image2_7")), 3)
    expect_identical(length(unique(ld$group)), 2L)
    expect_error(autoplot(big, show = "facets"),
                 class = "immunoscape_error_argument")
})

test_that("compartments: bars for one image, lines and pooled density for a cohort", {
    a <- plot_cohort()
    b <- builds(autoplot(a$cmp, images = "image1"))
    expect_identical(nrow(b$layout$layout), 1L)
    p <- autoplot(a$cmp, types = c("CD8 T", "Tumor"), max_lines = 2)
    b <- builds(p)
    expect_identical(nrow(b$layout$layout), 2L)
    s <- as.data.frame(unclass(summary(a$cmp)))
    s <- s[s$type == "CD8 T" & s$compartment == "inner_margin" &
               is.finite(s$area_mm2) & s$area_mm2 > 0, ]
    pooled <- ggplot2::layer_data(p, 3)
    want <- sum(s$n) / sum(s$area_mm2)
    expect_equal(pooled$y[pooled$PANEL == 2 & pooled$x == 2], want,
                 tolerance = 1e-12)
    b <- builds(autoplot(a$cmp, types = "CD8 T"))
    expect_identical(nrow(b$layout$layout), 1L)
})

test_that("phenotype, ratios and growth shares: one point or bar per image", {
    a <- plot_cohort()
    ph <- copy_images(a$ph, 84)
    p <- autoplot(ph)
    b <- builds(p)
    # the points (layer 1, beneath the thresholds and labels)
    expect_identical(nrow(ggplot2::layer_data(p, 1)),
                     sum(!is.na(ph$phenotype)))
    lab <- b$plot$scales$get_scales("colour")$get_labels()
    expect_match(lab, "\\([0-9]+\\)$")
    expect_identical(nrow(ggplot2::layer_data(autoplot(ph, images = 1:5),
                                              1)), 5L)

    ra <- copy_images(a$ra, 84)
    p <- autoplot(ra)
    builds(p)
    ok <- is.finite(ra$ratio) & ra$ratio > 0
    expect_identical(nrow(ggplot2::layer_data(p, 2)), sum(ok))
    b <- builds(autoplot(a$ra, images = "image1"))
    expect_identical(nrow(b$layout$layout), 1L)

    gr <- copy_images(a$gr, 84)
    p <- autoplot(gr, type = "fractions")
    b <- builds(p)
    bars <- ggplot2::layer_data(p, 1)
    assessed <- sum(gr$interface_um > 0)
    expect_identical(length(unique(bars$y)), assessed)
    # no unreadable names: 252 images, tick labels dropped
    expect_s3_class(b$plot$theme$axis.text.y, "element_blank")
    expect_identical(length(unique(ggplot2::layer_data(
        autoplot(gr, type = "fractions", images = 1:4), 1)$y)), 4L)
})

test_that("profile heatmap: a row per image, constant features left out, values for one image", {
    set.seed(4)
    n <- 250
    prof <- structure(
        data.frame(image = factor(sprintf("f%03d", seq_len(n))),
                   density_cd8_t = stats::rexp(n, 1 / 200),
                   mixing_score = stats::runif(n),
                   treg_cells = 0L, cd8_treg_ratio = NA_real_,
                   note = NA_character_),
        class = c("spatial_profile", "data.frame"),
        aggregate = c(density_cd8_t = "mean", mixing_score = "mean",
                      treg_cells = "sum", cd8_treg_ratio = "mean"))
    p <- autoplot(prof)
    b <- builds(p)
    tiles <- ggplot2::layer_data(p, 1)
    expect_equal(nrow(tiles), 2 * n)
    # a count (treg_cells) is no heatmap column; an unknown one is named
    expect_match(p$labels$caption, "left out: cd8_treg_ratio")
    expect_false(grepl("treg_cells", p$labels$caption))
    expect_false("treg_cells" %in% p$data$feature)
    expect_s3_class(b$plot$theme$axis.text.y, "element_blank")
    p <- autoplot(prof, order_by = "density_cd8_t")
    top <- levels(p$data$id)[n]
    expect_identical(top, as.character(prof$image[which.max(
        prof$density_cd8_t)]))
    p <- autoplot(prof, images = 1:10)
    expect_identical(nlevels(p$data$id), 10L)
    one <- autoplot(prof, images = 1)
    builds(one)
    expect_identical(nrow(ggplot2::layer_data(one, 2)), 3L)
    expect_error(autoplot(prof, order_by = "nope"),
                 class = "immunoscape_error_argument")
})
