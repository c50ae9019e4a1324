# Simulation envelopes of K / L / pcf / G: calibration against the nominal
# pointwise level, and thread invariance on patterns of many blocks.

quiet_env <- function(code) {
    withr::with_options(list(immunoscape.verbose = FALSE), code)
}

# nimg square images [0, side]^2 (given as the window, so that the
# observed cells are a binomial pattern in it, as the CSR simulations are)
# of n cells, types A, B, C in equal numbers at random.
calibration_cells <- function(nimg, n, side) {
    img <- sprintf("i%03d", seq_len(nimg))
    df <- data.frame(x = runif(n * nimg, 0, side),
                     y = runif(n * nimg, 0, side),
                     type = as.vector(replicate(nimg, sample(
                         rep(c("A", "B", "C"), length.out = n)))),
                     image = rep(img, each = n))
    win <- data.frame(image = rep(img, each = 4), polygon = 1L, ring = 1L,
                      hole = FALSE, x = rep(c(0, side, side, 0), nimg),
                      y = rep(c(0, 0, side, side), nimg))
    quiet_env(spatial_cells(df, image = "image", window = win))
}

# Per image, the share of the r values > 0 where the observed curve is
# below lo / above hi.
exclusion_rates <- function(res) {
    res <- res[res$r > 0, ]
    key <- res$image
    list(below = tapply(res$estimate < res$lo, key, mean),
         above = tapply(res$estimate > res$hi, key, mean))
}

test_that("pointwise envelopes with nsim = 99 exclude at the nominal rate", {
    # Under the null hypothesis the observed curve and the 99 simulated ones
    # are exchangeable, so at each r the observed value is the lowest (or
    # the highest) of the 100 with probability 1 / 100: it leaves the
    # pointwise envelope with probability p = 2 / (nsim + 1) = 0.02. The
    # r values of one image are dependent, so the per-image share Y_i of r
    # values outside lies in [0, 1] with mean p; such a variable is at most
    # as spread as a Bernoulli(p) one (convex order), so the tails of
    # Binomial(nimg, p) bound those of sum(Y_i) and give the band (each
    # side missed with probability below 0.005 under the null). It fails
    # for an envelope that cannot exclude (lower end >= 1) and for one of
    # the wrong width (an envelope of 19 simulations excludes 0.1).
    set.seed(20)
    nsim <- 99
    p <- 2 / (nsim + 1)
    # r from 15: several pairs per image, so that ties with lo or hi (which
    # are not outside) are rare
    r <- c(0, 15, 20, 25)
    small <- calibration_cells(300, n = 45, side = 100)
    large <- calibration_cells(1000, n = 45, side = 100)
    runs <- list(
        csr = quiet_env(ripley_l(small, "A", "B", r = r, envelope = "csr",
                                 nsim = nsim)),
        labels = quiet_env(ripley_l(large, "A", "B", r = r,
                                    envelope = "labels", nsim = nsim)),
        labels_self = quiet_env(ripley_l(small, "A", r = r,
                                         envelope = "labels", nsim = nsim)),
        labels_pcf = quiet_env(pair_correlation(small, "A", "B", r = r,
                                                envelope = "labels",
                                                nsim = nsim))
    )
    for (nm in names(runs)) {
        res <- runs[[nm]]
        nimg <- nlevels(res$image)
        band <- stats::qbinom(c(0.005, 0.995), nimg, p)
        half <- stats::qbinom(0.995, nimg, p / 2)
        expect_gte(band[1], 1)
        expect_false(anyNA(res$estimate[res$r > 0]), label = nm)
        ties <- res$r > 0 & (res$estimate == res$lo | res$estimate == res$hi)
        expect_lt(mean(ties), 0.01, label = paste(nm, "ties"))
        ex <- exclusion_rates(res)
        total <- sum(ex$below + ex$above)
        expect_gte(total, band[1], label = paste(nm, "exclusions"))
        expect_lte(total, band[2], label = paste(nm, "exclusions"))
        # both sides: a shifted envelope excludes mostly on one side
        expect_lte(sum(ex$below), half, label = paste(nm, "below"))
        expect_lte(sum(ex$above), half, label = paste(nm, "above"))
    }
})

test_that("a planted attraction leaves the nsim = 99 envelopes", {
    set.seed(21)
    a <- data.frame(x = runif(50, 20, 380), y = runif(50, 20, 380),
                    type = "A")
    # each B cell within 8 microns of an A cell
    ang <- runif(50, 0, 2 * pi)
    rad <- 8 * sqrt(runif(50))
    b <- data.frame(x = a$x + rad * cos(ang), y = a$y + rad * sin(ang),
                    type = "B")
    o <- data.frame(x = runif(150, 0, 400), y = runif(150, 0, 400),
                    type = "O")
    cells <- quiet_env(spatial_cells(rbind(a, b, o), window = "rectangle"))
    r <- seq(0, 30, by = 2)
    for (env in c("csr", "labels")) {
        l <- ripley_l(cells, "A", "B", r = r, envelope = env, nsim = 99)
        expect_true(all((l$estimate > l$hi)[l$r %in% c(4, 8, 12)]),
                    label = env)
        p <- pair_correlation(cells, "A", "B", r = r, envelope = env,
                              nsim = 99)
        expect_true(all((p$estimate > p$hi)[p$r %in% c(4, 6)]), label = env)
        g <- g_function(cells, "A", "B", r = r, envelope = env, nsim = 99)
        expect_true(all((g$estimate > g$hi)[g$r %in% c(4, 6)]), label = env)
    }
    # A and the independent O cells: inside at most r values
    l <- ripley_l(cells, "A", "O", r = r, envelope = "labels", nsim = 99)
    expect_lt(summary(l)$outside, 0.2)
})

test_that("envelopes on many blocks of cells do not depend on nthreads", {
    # 9,600 cells: several blocks of 2,048 cells in every parallel pass
    set.seed(22)
    n <- 9600
    cells <- quiet_env(spatial_cells(data.frame(
        x = runif(n, 0, 2400), y = runif(n, 0, 2400),
        type = sample(c("A", "B", "C"), n, TRUE)), window = "convex"))
    r <- seq(0, 30, by = 3)
    run <- function(f, to, env, corr, nth) {
        set.seed(5)
        f(cells, "A", to, r = r, correction = corr, envelope = env,
          nsim = 4, nthreads = nth)
    }
    for (env in c("csr", "labels")) {
        for (to in list("A", "B")) {
            k1 <- run(ripley_k, to, env, "all", 1)
            k2 <- run(ripley_k, to, env, "all", 2)
            expect_identical(k1, k2)
            expect_false(anyNA(k1$lo))
            p1 <- run(pair_correlation, to, env,
                      c("isotropic", "translate"), 1)
            p2 <- run(pair_correlation, to, env,
                      c("isotropic", "translate"), 2)
            expect_identical(p1, p2)
            g1 <- run(g_function, to, env, "all", 1)
            g2 <- run(g_function, to, env, "all", 2)
            expect_identical(g1, g2)
        }
    }
    # the simulations differ from each other (the envelope is not the
    # estimate repeated)
    expect_true(any(k1$lo < k1$hi))
})

# Tumour islands in a convex window with CD8 T cells on an even lattice
# over the islands and a band around them: both types crowd the same parts
# of the window (attraction against CSR), but the CD8 cells sit where
# cells are sparse, so relabelling the cells puts more CD8 labels among
# the tumour cells than observed (avoidance against random labelling).
planted_islands <- function() {
    set.seed(1)
    ctr <- cbind(c(200, 500, 800, 250, 750), c(250, 700, 300, 800, 750))
    tum <- do.call(rbind, lapply(seq_len(nrow(ctr)), function(i) {
        rr <- 70 * sqrt(runif(250))
        th <- runif(250, 0, 2 * pi)
        data.frame(x = ctr[i, 1] + rr * cos(th), y = ctr[i, 2] + rr * sin(th))
    }))
    g <- expand.grid(x = seq(0, 1000, 20), y = seq(0, 1000, 20))
    near <- Reduce(`|`, lapply(seq_len(nrow(ctr)), function(i) {
        (g$x - ctr[i, 1])^2 + (g$y - ctr[i, 2])^2 <= 130^2
    }))
    corners <- data.frame(x = c(0, 1000, 1000, 0), y = c(0, 0, 1000, 1000))
    rbind(data.frame(tum, type = "Tumor"),
          data.frame(g[near, ], type = "CD8 T"),
          data.frame(corners, type = "Other"))
}

test_that("summary direction comes from the envelope of the simulated null", {
    df <- planted_islands()
    cells <- quiet_env(spatial_cells(df))
    r <- seq(0, 60, by = 2)
    set.seed(2)
    lab <- summary(ripley_l(cells, "Tumor", "CD8 T", r = r,
                            envelope = "labels", nsim = 39))
    set.seed(2)
    csr <- summary(ripley_l(cells, "Tumor", "CD8 T", r = r,
                            envelope = "csr", nsim = 39))
    # the curve lies above the CSR line, so area_theo is positive ...
    expect_gt(lab$area_theo, 0)
    # ... but below the random-labelling envelope: avoidance, not attraction
    expect_identical(lab$null, "labels")
    expect_identical(lab$direction, "avoidance")
    expect_true(lab$significant)
    expect_gt(lab$below, 0.5)
    expect_identical(lab$above, 0)
    expect_lt(lab$area_mmean, 0)
    expect_identical(csr$null, "csr")
    expect_identical(csr$direction, "attraction")
    expect_gt(csr$above, 0.5)
    # K reads the same way
    set.seed(2)
    ks <- summary(ripley_k(cells, "Tumor", "CD8 T", r = r,
                           envelope = "labels", nsim = 39))
    expect_identical(ks$direction, "avoidance")
    # random labels on the same cells: inside the global envelope
    set.seed(3)
    df$type <- sample(df$type)
    set.seed(4)
    nul <- summary(ripley_l(quiet_env(spatial_cells(df)), "Tumor", "CD8 T",
                            r = r, envelope = "labels", nsim = 39,
                            global = TRUE))
    expect_gt(nul$area_theo, 0)
    expect_identical(nul$direction, "not significant")
    expect_false(nul$significant)
    expect_identical(nul$outside, 0)
    # without an envelope: the sign of the area against CSR, no test
    no <- summary(ripley_l(cells, "Tumor", "CD8 T", r = r))
    expect_identical(no$null, "csr")
    expect_identical(no$direction, "attraction")
    expect_true(is.na(no$significant))
    expect_false("area_mmean" %in% names(no))
})

test_that("a curve leaving the envelope on both sides takes the larger side", {
    d <- data.frame(r = 0:5, estimate = c(0, 1.5, 1, 1, -3, 0),
                    lo = -1, hi = 1)
    t1 <- immunoscape:::kf_envelope_test(d)
    expect_identical(t1$direction, "avoidance")
    expect_equal(t1$above, 1 / 6)
    expect_equal(t1$below, 1 / 6)
    expect_equal(t1$outside, 2 / 6)
    d$estimate[2] <- 5
    expect_identical(immunoscape:::kf_envelope_test(d)$direction,
                     "attraction")
    d$lo <- NA
    expect_true(is.na(immunoscape:::kf_envelope_test(d)$direction))
})

test_that("CSR simulations side by side in one index equal one pattern at a time", {
    # the cross-type CSR path lays the simulated patterns side by side in
    # one index (kf_sets); each must give what the pattern alone gives,
    # with the same random numbers (a convex window: rejection sampling and
    # the edge-line weights; border and translation corrections too)
    set.seed(31)
    n <- 400
    df <- data.frame(x = runif(n, 0, 300), y = runif(n, 0, 200),
                     type = sample(c("A", "B", "C"), n, TRUE))
    cells <- quiet_env(spatial_cells(df, window = "convex"))
    ns <- asNamespace("immunoscape")
    win <- ns$kf_window_spec(attr(cells, "windows"), "image1")
    lv <- levels(cells$type)
    codes <- as.integer(cells$type)
    r <- seq(0, 40, by = 2)
    for (fun in c("K", "pcf")) {
        par <- list(fun = fun, self = FALSE, fc = 1L, tc = 2L,
                    nf = sum(codes == 1L), nt = sum(codes == 2L), nij = 0,
                    area = win$area, lambda = sum(codes == 2L) / win$area,
                    r = r, corr = c("isotropic", "translate", "border"),
                    win = win, bw = NULL, nthreads = 2L)
        u <- which(codes %in% 1:2)
        hw <- if (fun == "pcf") ns$kf_halfwidth(par) else 0
        opts <- ns$kf_opts(par, hw)
        set.seed(5)
        sets <- .Call(ns$ffi_kfun_csr, codes[u], 1L, 2L, 40L, win$c, r, opts,
                      2L)
        set.seed(5)
        one <- lapply(1:40, function(s) {
            p <- ns$kf_runif_window(length(u), win)
            ns$kf_sums(par, p$x, p$y, codes[u], opts)
        })
        expect_equal(sets[[1]], unlist(lapply(one, `[[`, 1L)),
                     tolerance = 1e-9)
        expect_equal(as.vector(sets[[2]]), unlist(lapply(one, `[[`, 2L)))
        # any number of threads, identical
        set.seed(5)
        one_thread <- .Call(ns$ffi_kfun_csr, codes[u], 1L, 2L, 40L, win$c, r,
                            opts, 1L)
        expect_identical(one_thread, sets)
    }
})

test_that("CSR simulations of large patterns: threads never change the sums", {
    # over 2 * 2048 from cells per pattern: the side-by-side pass runs on
    # several threads in fixed blocks
    set.seed(32)
    n <- 9000
    df <- data.frame(x = runif(n, 0, 600), y = runif(n, 0, 400),
                     type = sample(c("A", "B"), n, TRUE, c(0.5, 0.5)))
    cells <- quiet_env(spatial_cells(df, window = "convex"))
    ns <- asNamespace("immunoscape")
    win <- ns$kf_window_spec(attr(cells, "windows"), "image1")
    codes <- as.integer(cells$type)
    r <- seq(0, 10, by = 1)
    par <- list(fun = "K", self = FALSE, fc = 1L, tc = 2L,
                corr = c("isotropic", "border"))
    opts <- ns$kf_opts(par, 0)
    run <- function(nth) {
        set.seed(9)
        .Call(ns$ffi_kfun_csr, codes, 1L, 2L, 3L, win$c, r, opts, nth)
    }
    one <- run(1L)
    expect_identical(run(2L), one)
    expect_identical(run(3L), one)
    expect_gt(sum(one[[1]]), 0)
})

test_that("the polynomial acos of simulated weights is within 1e-11", {
    # kf_acos_fast() (simulated isotropic weights in convex windows):
    # against R's acos on a fine grid of [-1, 1] with both ends
    q <- c(seq(-1, 1, length.out = 200001), -1 + 1e-15, 1 - 1e-15,
           1 - 2^-40, 0.5)
    a <- .Call(asNamespace("immunoscape")$ffi_kfun_acos_fast, q)
    expect_lt(max(abs(a - acos(q))), 1e-11)
    expect_identical(a[q == 1], 0)
})

test_that("CSR simulations queried from the rarer 'to' cells equal one pattern at a time", {
    # K and L without the border correction with fewer `to` than `from`
    # cells: the side-by-side simulations index the `from` cells and query
    # from the `to` cells (kf_pass_cross_to), weighting each pair at its
    # `from` centre; each pattern must give what the exact estimator gives
    # on the same random numbers (convex: edge lines near each point and
    # the polynomial acos, error bound 4.1e-9 relative; rectangle and
    # concave windows: the general weights), for any number of threads
    ns <- asNamespace("immunoscape")
    set.seed(41)
    n <- 500
    df <- data.frame(x = runif(n, 0, 300), y = runif(n, 0, 200),
                     type = sample(c("A", "B", "C"), n, TRUE,
                                   c(0.6, 0.1, 0.3)))
    r <- seq(0, 50, by = 2.5)
    for (method in c("convex", "rectangle", "concave")) {
        cells <- quiet_env(spatial_cells(df, window = method))
        win <- ns$kf_window_spec(attr(cells, "windows"), "image1")
        codes <- as.integer(cells$type)
        u <- which(codes %in% 1:2)
        for (corr in list("isotropic", c("isotropic", "translate", "none"))) {
            par <- list(fun = "K", self = FALSE, fc = 1L, tc = 2L,
                        nf = sum(codes == 1L), nt = sum(codes == 2L),
                        nij = 0, area = win$area,
                        lambda = sum(codes == 2L) / win$area, r = r,
                        corr = corr, win = win, bw = NULL, nthreads = 2L)
            expect_lt(par$nt, par$nf)
            opts <- ns$kf_opts(par, 0)
            set.seed(6)
            sets <- .Call(ns$ffi_kfun_csr, codes[u], 1L, 2L, 25L, win$c, r,
                          opts, 2L)
            set.seed(6)
            one <- lapply(1:25, function(s) {
                p <- ns$kf_runif_window(length(u), win)
                ns$kf_sums(par, p$x, p$y, codes[u], opts)
            })
            exact <- unlist(lapply(one, `[[`, 1L))
            expect_lt(max(abs(sets[[1]] - exact) / pmax(abs(exact), 1)),
                      1e-8, label = paste(method, length(corr)))
            set.seed(6)
            expect_identical(.Call(ns$ffi_kfun_csr, codes[u], 1L, 2L, 25L,
                                   win$c, r, opts, 1L), sets)
        }
    }
})
