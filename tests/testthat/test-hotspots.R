# Progress bars (drawn for multi-image calls in interactive sessions) off.
withr::local_options(immunoscape.verbose = FALSE)

test_that("Gi* z equals the brute-force formula on the grid", {
    set.seed(81)
    df <- make_pattern("clustered", n = 600, side = 400)
    cells <- spatial_cells(df, window = "rectangle")
    for (ord in 1:2) {
        h <- hotspots(cells, "A", cell_size = 40, order = ord)
        ix <- round((h$x - min(h$xmin)) / 40 + 0.5)
        iy <- round((h$y - min(h$ymin)) / 40 + 0.5)
        v <- matrix(0, max(ix), max(iy))
        keep <- matrix(FALSE, max(ix), max(iy))
        v[cbind(ix, iy)] <- h$count
        keep[cbind(ix, iy)] <- TRUE
        bf <- bf_gi_star(v, keep, ord)
        # bf_gi_star visits kept squares in column-major order
        o <- order(iy, ix)
        expect_equal(h$z[o], bf, tolerance = 1e-12)
        # counts per square equal brute force
        sx <- floor((df$x - min(h$xmin)) / 40) + 1
        sy <- floor((df$y - min(h$ymin)) / 40) + 1
        sx <- pmin(sx, max(ix))
        sy <- pmin(sy, max(iy))
        bf_n <- table(factor(paste(sx, sy)[df$type == "A"],
                             levels = paste(ix, iy)))
        expect_identical(h$count, as.integer(bf_n))
        expect_identical(sum(h$n_cells), nrow(df))
    }
})

test_that("Gi* agrees with spdep::localG", {
    skip_if_not_installed("spdep")
    set.seed(82)
    df <- make_pattern("clustered", n = 800, side = 300)
    cells <- spatial_cells(df, window = "rectangle")
    h <- hotspots(cells, "B", cell_size = 30)
    xy <- cbind(h$x, h$y)
    nb <- spdep::dnearneigh(xy, 0, 30 * sqrt(2) * 1.001)
    lw <- spdep::nb2listw(spdep::include.self(nb), style = "B",
                          zero.policy = TRUE)
    g <- as.vector(spdep::localG(h$count, lw, zero.policy = TRUE))
    expect_equal(h$z, g, tolerance = 1e-10)
})

test_that("a planted cluster is hot, random labels give few calls", {
    set.seed(83)
    n <- 3000
    df <- data.frame(x = runif(n, 0, 600), y = runif(n, 0, 600))
    near <- (df$x - 150)^2 + (df$y - 450)^2 < 90^2
    df$type <- ifelse(near & runif(n) < 0.7, "CD8 T",
                      sample(c("Tumor", "CD8 T"), n, TRUE, c(0.9, 0.1)))
    df$image <- "planted"
    null <- data.frame(x = runif(n, 0, 600), y = runif(n, 0, 600),
                       type = sample(c("Tumor", "CD8 T"), n, TRUE,
                                     c(0.8, 0.2)),
                       image = "null")
    cells <- spatial_cells(rbind(df, null), image = "image")
    h <- hotspots(cells, "CD8 T", cell_size = 50)
    p <- h[h$image == "planted", ]
    centre <- (p$x - 150)^2 + (p$y - 450)^2 < 50^2
    expect_true(all(p$class[centre] == "hot"))
    far <- (p$x - 150)^2 + (p$y - 450)^2 > 250^2
    expect_false(any(p$class[far] == "hot"))
    expect_lte(sum(h$class[h$image == "null"] != "none"), 2)
    # fraction: enrichment regardless of density
    hf <- hotspots(cells, "CD8 T", cell_size = 50, value = "fraction")
    pf <- hf[hf$image == "planted", ]
    expect_true(all(pf$value >= 0 & pf$value <= 1))
    expect_true(any(pf$class == "hot"))
    expect_equal(pf$value, pf$count / pf$n_cells)
    # no correction gives at least as many calls
    hn <- hotspots(cells, "CD8 T", cell_size = 50, adjust = "none")
    expect_gte(sum(hn$class != "none"), sum(h$class != "none"))
    s <- summary(h)
    expect_identical(s$n_hot, as.integer(tapply(h$class == "hot", h$image, sum)))
    ld <- ggplot2::layer_data(autoplot(h, fill = "class"))
    expect_identical(nrow(ld), nrow(h))
    expect_identical(sum(ld$fill == "#D73027"), sum(h$class == "hot"))
    expect_s3_class(autoplot(h, fill = "z"), "ggplot")
    expect_output(print(h), "Gi\\*")
})

test_that("hotspots squares cover the window; bad input by class", {
    set.seed(84)
    df <- make_pattern("random", n = 200, side = 200)
    cells <- spatial_cells(df)
    h <- hotspots(cells, c("A", "B"), cell_size = 200 / 3)
    expect_identical(sum(h$count), sum(df$type %in% c("A", "B")))
    expect_true(all(h$class %in% c("hot", "cold", "none")))
    one <- spatial_cells(data.frame(x = c(0, 10, 5), y = c(0, 0, 8),
                                    type = "A"))
    h1 <- hotspots(one, "A", cell_size = 100)
    expect_identical(nrow(h1), 1L)
    expect_true(is.na(h1$z))
    expect_identical(as.character(h1$class), "none")
    expect_error(hotspots(cells), class = "immunoscape_error_type")
    expect_error(hotspots(cells, "Z"), class = "immunoscape_error_type")
    expect_error(hotspots(cells, "A", cell_size = 0),
                 class = "immunoscape_error_argument")
    expect_error(hotspots(cells, "A", adjust = "fdr2"),
                 class = "immunoscape_error_argument")
    expect_error(hotspots(cells, "A", order = 0),
                 class = "immunoscape_error_argument")
    expect_error(hotspots(cells, "A", value = "density"),
                 class = "immunoscape_error_argument")
    expect_error(hotspots(cells, "A", cellsize = 10),
                 class = "immunoscape_error_argument")
})

test_that("a grid too large for memory is refused, naming cell_size", {
    cells <- spatial_cells(data.frame(x = c(0, 5000, 2500), y = c(0, 0, 4000),
                                      type = "A"))
    err <- expect_error(hotspots(cells, "A", cell_size = 1e-3),
                        class = "immunoscape_error_argument")
    expect_match(conditionMessage(err), "cell_size")
    # a tiny cell_size gives no integer overflow either (1e-300: Inf squares)
    expect_error(hotspots(cells, "A", cell_size = 1e-300),
                 class = "immunoscape_error_argument")
    withr::local_options(immunoscape.max_squares = 200)
    err <- expect_error(hotspots(cells, "A", cell_size = 100),
                        class = "immunoscape_error_argument")
    fit <- immunoscape:::grid_fit(5000, 4000, 200)
    expect_match(conditionMessage(err), format(fit), fixed = TRUE)
    # the suggestion fits and is not needlessly coarse
    n_fit <- prod(immunoscape:::grid_dims(5000, 4000, fit))
    expect_lte(n_fit, 200)
    expect_gt(n_fit, 100)
    h <- hotspots(cells, "A", cell_size = fit)
    expect_lte(nrow(h), n_fit)
})

test_that("Gi* is the published formula and the exact permutation z", {
    set.seed(85)
    # 4 x 2 squares of 100 um, all in the window, with varied counts
    sq <- expand.grid(i = 1:4, j = 1:2)
    df <- do.call(rbind, lapply(seq_len(nrow(sq)), function(s) {
        m <- sample(2:9, 1)
        data.frame(x = (sq$i[s] - 1) * 100 + runif(m, 5, 95),
                   y = (sq$j[s] - 1) * 100 + runif(m, 5, 95),
                   type = sample(c("A", "B"), m, TRUE))
    }))
    df <- rbind(df, data.frame(x = c(0, 400), y = c(0, 200), type = "B"))
    cells <- spatial_cells(df, window = "rectangle")
    for (ord in 1:2) {
        h <- hotspots(cells, "A", cell_size = 100, order = ord)
        expect_identical(nrow(h), 8L)
        ix <- round(h$x / 100 + 0.5)
        iy <- round(h$y / 100 + 0.5)
        w <- bf_chebyshev_weights(ix, iy, ord)
        expect_equal(h$z, bf_gi_formula(h$count, w), tolerance = 1e-12)
        expect_equal(h$z, bf_gi_permutation(h$count, w), tolerance = 1e-9)
        # squares whose neighbourhood holds every square: undefined
        expect_identical(is.na(h$z), rowSums(w) == 8)
    }
    expect_true(any(is.na(h$z)) && any(!is.na(h$z)))
    # the formula with general weights on a larger grid
    df <- make_pattern("clustered", n = 500, side = 300)
    h <- hotspots(spatial_cells(df), "A", cell_size = 25, order = 2,
                  value = "fraction")
    ix <- round((h$x - min(h$xmin)) / 25 + 0.5)
    iy <- round((h$y - min(h$ymin)) / 25 + 0.5)
    expect_equal(h$z, bf_gi_formula(h$value, bf_chebyshev_weights(ix, iy, 2)),
                 tolerance = 1e-10)
})

test_that("constant values give NA z and class none, never NaN or Inf", {
    # 10 x 10 squares of 10 um, each with 3 cells of which one is A:
    # fraction 1/3 everywhere (S = 0 up to rounding)
    sq <- expand.grid(i = 0:9, j = 0:9)
    df <- data.frame(x = rep(sq$i * 10, each = 3) + c(2, 5, 8),
                     y = rep(sq$j * 10, each = 3) + c(2, 5, 8),
                     type = rep(c("A", "B", "B"), nrow(sq)), image = "flat")
    # a second image without A: counts 0 everywhere
    df2 <- data.frame(x = runif(50, 0, 100), y = runif(50, 0, 100),
                      type = "B", image = "noA")
    cells <- spatial_cells(rbind(df, df2), image = "image",
                           window = "rectangle")
    for (val in c("count", "fraction")) {
        h <- hotspots(cells, "A", cell_size = 10, value = val)
        flat <- h[h$image == "flat", ]
        expect_identical(nrow(flat), 100L)
        expect_true(all(flat$value == flat$value[1]))
        expect_true(all(is.na(h$z)))
        expect_false(any(is.nan(h$z) | is.nan(h$p) | is.nan(h$p_adj)))
        expect_true(all(is.na(h$p) & is.na(h$p_adj)))
        expect_true(all(h$class == "none"))
        expect_identical(summary(h)$n_hot, c(0L, 0L))
    }
    # one constant image does not disturb another
    set.seed(86)
    var <- make_pattern("clustered", n = 300, side = 100)
    var$type <- ifelse(var$type == "A", "A", "B")
    var$image <- "varied"
    both <- spatial_cells(rbind(df, var), image = "image")
    h <- hotspots(both, "A", cell_size = 10)
    alone <- hotspots(spatial_cells(var, image = "image"), "A", cell_size = 10)
    expect_identical(h$z[h$image == "varied"], alone$z)
})

test_that("p-values are two-sided normal, adjusted within each image", {
    set.seed(87)
    df <- rbind(make_pattern("clustered", n = 600, side = 300),
                make_pattern("random", n = 400, side = 300))
    df$image <- rep(c("c", "r"), c(600, 400))
    cells <- spatial_cells(df, image = "image")
    for (adj in c("BH", "bonferroni", "holm", "none")) {
        h <- hotspots(cells, "A", cell_size = 30, adjust = adj, alpha = 0.1)
        expect_equal(h$p, 2 * pnorm(-abs(h$z)), tolerance = 1e-15)
        for (im in c("c", "r")) {
            d <- h[h$image == im, ]
            ok <- !is.na(d$p)
            expect_identical(d$p_adj[ok], p.adjust(d$p[ok], method = adj))
        }
        call <- ifelse(!is.na(h$p_adj) & h$p_adj <= 0.1,
                       ifelse(h$z > 0, "hot", "cold"), "none")
        expect_identical(as.character(h$class), call)
    }
    # (pooled over both images the adjustment would differ)
    expect_false(identical(
        hotspots(cells, "A", cell_size = 30, adjust = "bonferroni")$p_adj,
        p.adjust(h$p, "bonferroni")
    ))
})
