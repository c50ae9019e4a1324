# Ripley's K, L, pair correlation and G: spatstat.explore, brute-force
# oracles (helper-kfunctions.R), stored reference values, envelopes.


kf_cells <- function(x, y, type, rings, image = NULL) {
    df <- data.frame(x = x, y = y, type = type)
    if (!is.null(image)) df$image <- image
    quiet(spatial_cells(df, image = if (!is.null(image)) "image",
                        window = kfo_window_df(rings)))
}

est <- function(res, correction, image = NULL) {
    i <- res$correction == correction
    if (!is.null(image)) i <- i & res$image == image
    res$estimate[i]
}

rel_err <- function(a, b) {
    expect_equal(is.na(a), is.na(b) | !is.finite(b))
    ok <- !is.na(a) & is.finite(b)
    if (!any(ok)) return(0)
    max(abs(a[ok] - b[ok]) / pmax(abs(b[ok]), 1e-300))
}

expect_close <- function(a, b, tol = 1e-8) {
    expect_lt(rel_err(a, b), tol)
}

# spatstat's column for each correction
sp_k <- c(none = "un", isotropic = "iso", translate = "trans",
          border = "border")
sp_g <- c(km = "km", rs = "rs", han = "han", none = "raw")

sp_pattern <- function(X, window_rings) {
    kf_cells(X$x, X$y, as.character(spatstat.geom::marks(X)), window_rings)
}

test_that("K, L and G agree with spatstat on its real multitype patterns", {
    skip_if_not_installed("spatstat.explore")
    skip_if_not_installed("spatstat.data")
    suppressPackageStartupMessages(library(spatstat.explore))
    for (nm in c("amacrine", "betacells", "hamster", "ganglia", "mucosa")) {
        X <- get(nm, envir = asNamespace("spatstat.data"))
        if (is.data.frame(marks(X))) marks(X) <- marks(X)$type
        # unit squares of spatstat -> microns
        X <- rescale(X, 1 / 1000, "um")
        W <- Window(X)
        cells <- sp_pattern(X, kfo_rect(W$xrange[1], W$xrange[2],
                                        W$yrange[1], W$yrange[2]))
        lv <- levels(marks(X))
        a <- lv[1]
        b <- lv[2]
        XA <- X[marks(X) == a]
        info <- paste(nm, a, b)

        k <- ripley_k(cells, a, correction = "all")
        ks <- Kest(XA, correction = c("none", "iso", "trans", "border"))
        expect_identical(k$r[k$correction == "isotropic"], ks$r)
        for (cr in names(sp_k)) expect_close(est(k, cr), ks[[sp_k[cr]]])

        k <- ripley_k(cells, a, b, correction = "all")
        ks <- Kcross(X, a, b, correction = c("none", "iso", "trans",
                                             "border"))
        expect_identical(k$r[k$correction == "isotropic"], ks$r)
        for (cr in names(sp_k)) expect_close(est(k, cr), ks[[sp_k[cr]]])

        l <- ripley_l(cells, b, a, correction = c("isotropic", "border"))
        ls <- Lcross(X, b, a, correction = c("iso", "border"))
        expect_close(est(l, "isotropic"), ls$iso)
        expect_close(est(l, "border"), ls$border)
        expect_equal(l$theo[l$correction == "border"], ls$r)

        g <- g_function(cells, a, correction = "all")
        gs <- Gest(XA, correction = c("rs", "km", "han", "none"))
        expect_identical(g$r[g$correction == "km"], gs$r)
        for (cr in names(sp_g)) expect_close(est(g, cr), gs[[sp_g[cr]]])
        expect_equal(g$theo[g$correction == "km"], gs$theo)

        g <- g_function(cells, a, b, correction = "all")
        gs <- Gcross(X, a, b, correction = c("rs", "km", "han", "none"))
        for (cr in names(sp_g)) expect_close(est(g, cr), gs[[sp_g[cr]]])

        # pcf: within 3% (of max(g, 1)) beyond one kernel half-width
        p <- pair_correlation(cells, a, b,
                              correction = c("isotropic", "translate"))
        ps <- pcfcross(X, a, b, correction = c("isotropic", "translate"))
        h <- 0.15 / sqrt(sum(marks(X) == b) / area(W))
        far <- ps$r > h
        for (cr in c("isotropic", "translate")) {
            d <- abs(est(p, cr)[far] - ps[[sp_k[cr]]][far])
            expect_lt(max(d / pmax(1, abs(ps[[sp_k[cr]]][far]))), 0.03)
        }
    }
})

test_that("polygon windows with a hole agree with spatstat and the oracle", {
    skip_if_not_installed("spatstat.explore")
    skip_if_not_installed("spatstat.random")
    suppressPackageStartupMessages(library(spatstat.explore))
    rings <- list(list(x = c(0, 800, 1000, 900, 300, -100),
                       y = c(0, -50, 400, 800, 900, 500)),
                  list(x = c(400, 400, 600, 600), y = c(300, 500, 500, 300)))
    Wp <- owin(poly = rings)
    set.seed(7)
    pats <- list(
        random = rpoispp(300 / area(Wp), win = Wp),
        clustered = spatstat.random::rThomas(8 / area(Wp), 25, 35, win = Wp)
    )
    for (nm in names(pats)) {
        X <- pats[[nm]]
        marks(X) <- factor(sample(c("A", "B"), npoints(X), TRUE))
        cells <- sp_pattern(X, rings)
        XA <- X[marks(X) == "A"]
        k <- ripley_k(cells, "A", correction = "all")
        ks <- Kest(XA, correction = c("none", "iso"))
        expect_close(est(k, "isotropic"), ks$iso)
        expect_close(est(k, "none"), ks$un)
        # spatstat's exact border engine runs when border is alone
        expect_close(est(k, "border"), Kest(XA, correction = "border")$border)
        # translation: spatstat approximates polygons by a mask, so compare
        # with its exact overlap pair by pair (few pairs: it is slow)
        r <- 0:40
        kt <- ripley_k(cells, "A", r = r, correction = "translate")
        cp <- closepairs(XA, max(r), what = "all")
        wt <- edge.Trans(dx = cp$dx, dy = cp$dy, W = Wp, paired = TRUE,
                         exact = TRUE)
        ko <- vapply(r, function(s) sum(wt[cp$d <= s]), 0) * area(Wp) /
            (npoints(XA) * (npoints(XA) - 1))
        expect_close(kt$estimate, ko)
        # ... and ours is within a few percent of spatstat's mask version
        km <- Kest(XA, r = r, correction = "trans")$trans
        expect_lt(rel_err(kt$estimate[r > 10], km[r > 10]), 0.03)

        k <- ripley_k(cells, "A", "B", correction = "all")
        ks <- Kcross(X, "A", "B", correction = c("none", "iso", "border"))
        for (cr in c("none", "isotropic", "border")) {
            expect_close(est(k, cr), ks[[sp_k[cr]]])
        }
        for (f in list(c("A", "A"), c("A", "B"))) {
            g <- g_function(cells, f[1], f[2], correction = "all")
            gs <- if (f[1] == f[2]) Gest(XA) else Gcross(X, f[1], f[2])
            for (cr in c("km", "rs")) expect_close(est(g, cr), gs[[cr]])
            # Hanisch: eroded areas from pixels (ours finer than spatstat's)
            expect_lt(max(abs(est(g, "han") - gs$han)), 0.03)
        }
    }
})

test_that("univariate L and pcf agree with spatstat on real polygon windows", {
    skip_if_not_installed("spatstat.explore")
    skip_if_not_installed("spatstat.data")
    suppressPackageStartupMessages(library(spatstat.explore))
    # urkiola: one polygon of 44 vertices; demopat: a polygon with a hole;
    # amacrine: a rectangle. Coordinates rescaled to tissue-like microns.
    pats <- list(urkiola = 1 / 10, demopat = 10, amacrine = 1 / 1000)
    for (nm in names(pats)) {
        X <- get(nm, envir = asNamespace("spatstat.data"))
        X <- rescale(X, pats[[nm]], "um")
        W <- Window(X)
        rings <- if (W$type == "polygonal") {
            lapply(W$bdry, function(b) list(x = b$x, y = b$y))
        } else {
            kfo_rect(W$xrange[1], W$xrange[2], W$yrange[1], W$yrange[2])
        }
        cells <- sp_pattern(X, rings)
        a <- levels(marks(X))[2]
        XA <- X[marks(X) == a]
        info <- paste(nm, a)
        l <- ripley_l(cells, a, correction = c("isotropic", "none"))
        ls <- Lest(XA, correction = c("iso", "none"))
        expect_identical(l$r[l$correction == "none"], ls$r, label = info)
        expect_close(est(l, "isotropic"), ls$iso)
        expect_close(est(l, "none"), ls$un)
        expect_equal(l$theo[l$correction == "none"], ls$theo)
        lb <- ripley_l(cells, a, correction = "border")
        expect_close(est(lb, "border"), Lest(XA, correction = "border")$border)
        # pcf: within 3% (of max(g, 1)) beyond one kernel half-width; the
        # translation weights of spatstat come from a pixel mask here
        p <- pair_correlation(cells, a,
                              correction = c("isotropic", "translate"))
        ps <- pcf(XA, correction = c("Ripley", "translate"))
        expect_identical(p$r[p$correction == "isotropic"], ps$r)
        h <- 0.15 / sqrt(npoints(XA) / area(W))
        far <- ps$r > h
        for (cr in c("isotropic", "translate")) {
            d <- abs(est(p, cr)[far] - ps[[sp_k[cr]]][far])
            expect_lt(max(d / pmax(1, abs(ps[[sp_k[cr]]][far]))), 0.03,
                      label = paste(info, cr))
        }
    }
})

test_that("clustered patterns in a rectangle agree with spatstat", {
    skip_if_not_installed("spatstat.explore")
    skip_if_not_installed("spatstat.random")
    suppressPackageStartupMessages(library(spatstat.explore))
    set.seed(11)
    W <- owin(c(0, 1200), c(0, 800))
    X <- spatstat.random::rMatClust(10 / area(W), 40, 40, win = W)
    marks(X) <- factor(sample(c("T", "B", "M"), npoints(X), TRUE))
    cells <- sp_pattern(X, kfo_rect(0, 1200, 0, 800))
    k <- ripley_k(cells, c("T", "B"), "M", correction = "all")
    for (a in c("T", "B")) {
        ks <- Kcross(X, a, "M", correction = c("none", "iso", "trans",
                                               "border"))
        for (cr in names(sp_k)) {
            expect_close(k$estimate[k$from == a & k$correction == cr],
                         ks[[sp_k[cr]]])
        }
    }
    # pooled: from = NULL is every cell regardless of type
    k <- ripley_k(cells, NULL, correction = c("isotropic", "border"))
    ks <- Kest(unmark(X), correction = c("iso", "border"))
    expect_close(est(k, "isotropic"), ks$iso)
    expect_close(est(k, "border"), ks$border)
    expect_setequal(as.character(k$from), "all")
    g <- g_function(cells, "T", NULL, correction = "km")
    gs <- Gdot(X, "T", correction = "km")
    expect_close(est(g, "km"), gs$km)
})

test_that("estimators match brute force: ties, duplicates, boundary points", {
    set.seed(3)
    rect <- kfo_rect(0, 40, 0, 30)
    poly <- list(list(x = c(0, 40, 45, 10), y = c(0, 5, 35, 30)),
                 list(x = c(15, 15, 25, 25), y = c(10, 20, 20, 10)))
    n <- 60
    cases <- list(
        # integer coordinates: distances equal to r (3-4-5) and to the
        # boundary; cells on the boundary
        integer = list(x = c(round(runif(n - 4, 0, 40)), 0, 40, 3, 0),
                       y = c(round(runif(n - 4, 0, 30)), 0, 30, 4, 15),
                       rings = rect, rect = c(0, 40, 0, 30)),
        duplicated = list(x = rep(runif(n / 2, 0, 40), 2),
                          y = rep(runif(n / 2, 0, 30), 2),
                          rings = rect, rect = c(0, 40, 0, 30)),
        polygon = list(x = NULL, y = NULL, rings = poly, rect = NULL)
    )
    px <- runif(400, 0, 45)
    py <- runif(400, 0, 35)
    ins <- kfo_inside(px, py, poly)
    cases$polygon$x <- px[ins][1:n]
    cases$polygon$y <- py[ins][1:n]
    r <- 0:12
    for (nm in names(cases)) {
        cs <- cases[[nm]]
        type <- rep(c("A", "B"), length.out = n)
        cells <- kf_cells(cs$x, cs$y, type, cs$rings)
        ia <- which(type == "A")
        ib <- which(type == "B")
        corr <- c("none", "isotropic", "border",
                  if (!is.null(cs$rect)) "translate")
        for (ft in list(list(ia, ia, "A", "A"), list(ia, ib, "A", "B"))) {
            k <- ripley_k(cells, ft[[3]], ft[[4]], r = r, correction = corr)
            for (cr in corr) {
                expect_close(est(k, cr), kfo_k(cs$x, cs$y, ft[[1]], ft[[2]],
                                               cs$rings, r, cr, cs$rect),
                             1e-10)
            }
            g <- g_function(cells, ft[[3]], ft[[4]], r = r,
                            correction = c("km", "rs", "none",
                                           if (!is.null(cs$rect)) "han"))
            for (cr in c("km", "rs", "none")) {
                expect_close(est(g, cr), kfo_g(cs$x, cs$y, ft[[1]], ft[[2]],
                                               cs$rings, r, cr), 1e-12)
            }
            if (!is.null(cs$rect)) {
                er <- pmax(40 - 2 * r, 0) * pmax(30 - 2 * r, 0)
                expect_close(est(g, "han"),
                             kfo_g(cs$x, cs$y, ft[[1]], ft[[2]], cs$rings,
                                   r, "han", er), 1e-12)
            }
            p <- pair_correlation(cells, ft[[3]], ft[[4]], r = r,
                                  correction = c("none", "isotropic"),
                                  bw = 1)
            for (cr in c("none", "isotropic")) {
                expect_close(est(p, cr),
                             kfo_pcf(cs$x, cs$y, ft[[1]], ft[[2]], cs$rings,
                                     r, cr, sqrt(5), cs$rect), 1e-9)
            }
        }
    }
    # a distance equal to r counts at r
    cells <- kf_cells(c(10, 13), c(10, 14), c("A", "A"), rect)
    k <- ripley_k(cells, "A", r = 0:6, correction = "none")
    expect_equal(est(k, "none") > 0, c(FALSE, FALSE, FALSE, FALSE, FALSE,
                                       TRUE, TRUE))
})

test_that("stored spatstat reference values are reproduced", {
    idx <- match(ref_at, ref_r)
    cells <- kf_cells(ref_x, ref_y, ref_type, ref_rect)
    k <- ripley_k(cells, "A", r = ref_r, correction = "all")
    for (cr in names(ref_rect_k)) {
        expect_close(est(k, cr)[idx], ref_rect_k[[cr]], 1e-12)
    }
    k <- ripley_k(cells, "A", "B", r = ref_r, correction = "all")
    for (cr in names(ref_rect_kcross)) {
        expect_close(est(k, cr)[idx], ref_rect_kcross[[cr]], 1e-12)
    }
    g <- g_function(cells, "A", "B", r = ref_r, correction = "all")
    for (cr in names(ref_rect_gcross)) {
        expect_close(est(g, cr)[idx], ref_rect_gcross[[cr]], 1e-12)
    }
    ins <- kfo_inside(ref_x, ref_y, ref_poly)
    expect_equal(sum(ins), 33)
    cells <- kf_cells(ref_x[ins], ref_y[ins], ref_type[ins], ref_poly)
    k <- ripley_k(cells, "A", r = ref_r, correction = "all")
    for (cr in names(ref_poly_k)) {
        expect_close(est(k, cr)[idx], ref_poly_k[[cr]], 1e-12)
    }
    k <- ripley_k(cells, "A", "B", r = ref_r, correction = "all")
    for (cr in names(ref_poly_kcross)) {
        expect_close(est(k, cr)[idx], ref_poly_kcross[[cr]], 1e-12)
    }
    g <- g_function(cells, "A", "B", r = ref_r, correction = "all")
    for (cr in names(ref_poly_gcross)) {
        expect_close(est(g, cr)[idx], ref_poly_gcross[[cr]], 1e-12)
    }
})

test_that("edge weights of convex windows (edge-line fast path) match the oracle", {
    # a convex heptagon with a collinear vertex; circles up to 90 um cross
    # several edges and corners
    px <- rev(c(0, 30, 110, 130, 100, 50, 25))
    py <- rev(c(0, 60, 70, 20, -10, -5, -2.5))
    for (poly in list(list(list(x = px, y = py)))) {
        set.seed(6)
        cells <- kf_cells(c(50, 100), c(10, 40), c("A", "A"), poly)
        win <- immunoscape:::kf_window_spec(attr(cells, "windows"), "image1")
        xi <- runif(400, 0, 130)
        yi <- runif(400, -10, 70)
        ok <- kfo_inside(xi, yi, poly)
        xi <- c(xi[ok], 0, 130)          # two points on vertices
        yi <- c(yi[ok], 0, 20)
        a <- runif(length(xi), 0, 2 * pi)
        d <- runif(length(xi), 0, 90)
        w <- immunoscape:::kf_edge_weights(win, xi, yi, xi + d * cos(a),
                                           yi + d * sin(a))
        b <- kfo_bdist(xi, yi, poly)
        expect_equal(w[, "bdist"], b, tolerance = 1e-12)
        iso <- vapply(seq_along(xi), function(k) {
            if (d[k] <= b[k]) 1 else
                min(100, 1 / kfo_circle_frac(xi[k], yi[k], d[k], poly))
        }, 0)
        expect_equal(w[, "isotropic"], iso, tolerance = 1e-10)
    }
})

test_that("edge weights match the geometric oracle", {
    poly <- list(list(x = c(0, 100, 120, 20), y = c(0, 10, 90, 80)),
                 list(x = c(40, 40, 60, 60), y = c(30, 50, 50, 30)))
    set.seed(5)
    cells <- kf_cells(c(50, 10), c(10, 40), c("A", "A"), poly)
    win <- immunoscape:::kf_window_spec(attr(cells, "windows"), "image1")
    xi <- runif(50, 5, 100)
    yi <- runif(50, 5, 75)
    ok <- kfo_inside(xi, yi, poly)
    xi <- xi[ok]
    yi <- yi[ok]
    a <- runif(length(xi), 0, 2 * pi)
    d <- runif(length(xi), 0, 40)
    w <- immunoscape:::kf_edge_weights(win, xi, yi, xi + d * cos(a),
                                       yi + d * sin(a))
    b <- kfo_bdist(xi, yi, poly)
    expect_equal(w[, "bdist"], b, tolerance = 1e-12)
    iso <- vapply(seq_along(xi), function(k) {
        if (d[k] <= b[k]) 1 else
            min(100, 1 / kfo_circle_frac(xi[k], yi[k], d[k], poly))
    }, 0)
    expect_equal(w[, "isotropic"], iso, tolerance = 1e-10)
    # the interpolated table of translation weights: within 1e-5
    w2 <- immunoscape:::kf_edge_weights(win, xi, yi, xi + d * cos(a),
                                        yi + d * sin(a), table_reach = 40)
    expect_lt(max(abs(w2[, "translate"] / w[, "translate"] - 1)), 1e-5)
    skip_if_not_installed("spatstat.explore")
    W <- spatstat.geom::owin(poly = poly)
    X <- spatstat.geom::ppp(xi, yi, window = W)
    Y <- spatstat.geom::ppp(xi + d * cos(a), yi + d * sin(a),
                            window = spatstat.geom::boundingbox(W),
                            check = FALSE)
    tr <- spatstat.explore::edge.Trans(dx = Y$x - X$x, dy = Y$y - X$y,
                                       W = W, paired = TRUE, exact = TRUE)
    expect_equal(w[, "translate"], tr, tolerance = 1e-10)
})

test_that("too few cells give NA with a reason, not an error", {
    rect <- kfo_rect(0, 100, 0, 100)
    cells <- kf_cells(c(10, 50, 60, 20, 80), c(10, 50, 52, 70, 30),
                      c("A", "B", "B", "C", "C"), rect,
                      image = c("i1", "i1", "i1", "i1", "i2"))
    k <- ripley_k(cells, c("A", "B"), r = 0:10)
    g <- attr(k, "groups")
    expect_equal(nrow(g), 8)
    # one A cell: univariate undefined; no A cells in image i2
    expect_true(all(is.na(k$estimate[k$from == "A" & k$to == "A"])))
    expect_match(g$note[g$image == "i1" & g$from == "A" & g$to == "A"],
                 "fewer than 2")
    expect_match(g$note[g$image == "i2" & g$from == "A" & g$to == "B"],
                 "no A cells")
    # two B cells in i1: defined, equal to the oracle
    kb <- k$estimate[k$image == "i1" & k$from == "B" & k$to == "B"]
    expect_close(kb, kfo_k(c(10, 50, 60, 20), c(10, 50, 52, 70), 2:3, 2:3,
                           rect, 0:10, "isotropic"), 1e-12)
    # a cross pair with one cell each
    ka <- k$estimate[k$image == "i1" & k$from == "A" & k$to == "B"]
    expect_false(anyNA(ka))
    gg <- g_function(cells, "C", "A", r = 0:10)
    expect_true(all(is.na(gg$estimate[gg$image == "i2"])))
    expect_s3_class(summary(k), "data.frame")
})

test_that("K, L and pcf are NA beyond half the window diameter", {
    set.seed(1)
    rect <- kfo_rect(0, 500, 0, 500)
    cells <- kf_cells(runif(30, 0, 500), runif(30, 0, 500), rep("A", 30),
                      rect)
    r <- c(0, 10, 300, 400, 1e5)
    half <- sqrt(2) * 500 / 2
    for (f in list(ripley_k, ripley_l, pair_correlation)) {
        for (cr in c("isotropic", "translate")) {
            e <- f(cells, "A", r = r, correction = cr)$estimate
            expect_true(all(is.na(e[r >= half])))
            expect_false(anyNA(e[r > 0 & r < half]))
        }
    }
})

test_that("cells outside the window are left out with a note", {
    set.seed(10)
    x <- runif(80, 0, 100)
    y <- runif(80, 0, 100)
    type <- rep(c("A", "B"), 40)
    inner <- kfo_rect(10, 90, 10, 90)
    cells <- suppressWarnings(kf_cells(x, y, type, inner))
    k <- ripley_k(cells, "A", "B", r = 0:10, correction = "all")
    ins <- x >= 10 & x <= 90 & y >= 10 & y <= 90
    expect_match(attr(k, "groups")$note, sprintf("%d cells outside",
                                                  sum(!ins)))
    ref <- ripley_k(kf_cells(x[ins], y[ins], type[ins], inner), "A", "B",
                    r = 0:10, correction = "all")
    expect_equal(k$estimate, ref$estimate)
    expect_equal(attr(k, "groups")$n_from, sum(ins & type == "A"))
})

test_that("the default r grid and correction do not depend on n", {
    set.seed(2)
    n <- 3500
    cells <- quiet(spatial_cells(data.frame(x = runif(n, 0, 2000),
                                            y = runif(n, 0, 1000),
                                            type = "A"),
                                 window = "rectangle"))
    k <- ripley_k(cells, "A")
    expect_equal(levels(k$correction), "isotropic")
    expect_equal(nrow(k), 513)
    lam <- n / window_area(cells)[[1]]
    rmax <- min(sqrt(1000 / (pi * lam)), diff(range(cells$y)) / 4)
    expect_equal(max(k$r), rmax, tolerance = 1e-12)
    expect_false(anyNA(k$estimate))
})

test_that("envelopes: reproducible, thread-invariant, calibrated", {
    set.seed(4)
    n <- 200
    df <- data.frame(x = runif(n, 0, 400), y = runif(n, 0, 300),
                     type = sample(c("A", "B", "C"), n, TRUE),
                     image = sample(c("i1", "i2"), n, TRUE))
    cells <- quiet(spatial_cells(df, image = "image", window = "convex"))
    r <- seq(0, 60, by = 3)
    for (f in list(ripley_k, ripley_l, pair_correlation, g_function)) {
        for (env in c("labels", "csr")) {
            corr <- if (identical(f, g_function)) "all" else
                c("isotropic", "border", "translate")
            set.seed(9)
            a <- f(cells, "A", "B", r = r, correction = corr,
                   envelope = env, nsim = 9, nthreads = 1)
            set.seed(9)
            b <- f(cells, "A", "B", r = r, correction = corr,
                   envelope = env, nsim = 9, nthreads = 2)
            expect_identical(a, b)
            expect_true(all(a$lo <= a$hi, na.rm = TRUE))
            expect_true(all(a$lo <= a$mmean + 1e-12 &
                                a$mmean <= a$hi + 1e-12, na.rm = TRUE))
        }
    }
    # many blocks of cells (2048 each): identical sums for any thread count
    big <- quiet(spatial_cells(data.frame(
        x = runif(9000, 0, 3000), y = runif(9000, 0, 3000),
        type = sample(c("A", "B"), 9000, TRUE)), window = "convex"))
    for (f in list(ripley_k, pair_correlation)) {
        for (to in list("A", "B")) {
            a <- f(big, "A", to, r = r, correction = "all", nthreads = 1)
            b <- f(big, "A", to, r = r, correction = "all", nthreads = 2)
            expect_identical(a, b)
        }
    }
    # images spread by BiocParallel give the same result
    a <- ripley_k(cells, "A", "C", r = r, correction = "all")
    b <- ripley_k(cells, "A", "C", r = r, correction = "all",
                  BPPARAM = BiocParallel::SerialParam())
    expect_identical(a, b)
    # the estimate does not depend on the envelope
    set.seed(1)
    e <- ripley_k(cells, "A", "B", r = r, envelope = "labels", nsim = 5)
    o <- ripley_k(cells, "A", "B", r = r)
    expect_equal(e$estimate, o$estimate)
    # random labelling: the mean of K_AB over relabellings is the pooled K
    set.seed(2)
    e <- ripley_k(cells, "A", "B", r = r, correction = "none",
                  envelope = "labels", nsim = 400)
    pooled <- ripley_k(cells, NULL, r = r, correction = "none")
    far <- r >= 15
    expect_lt(max(abs(e$mmean[far] / pooled$estimate[far] - 1)), 0.05)
    # global envelopes are bands of constant width around the mean
    set.seed(3)
    gl <- ripley_l(cells, "A", r = r, envelope = "csr", nsim = 19,
                   global = TRUE)
    w <- (gl$hi - gl$lo)[gl$image == "i1"]
    expect_equal(diff(range(w)), 0, tolerance = 1e-10)
    # labels with nothing to relabel
    expect_error(ripley_k(cells, NULL, envelope = "labels"),
                 class = "immunoscape_error_argument")
})

test_that("a planted attraction is detected", {
    set.seed(6)
    a <- data.frame(x = runif(60, 0, 500), y = runif(60, 0, 500), type = "A")
    b <- data.frame(x = a$x + rnorm(60, 0, 6), y = a$y + rnorm(60, 0, 6),
                    type = "B")
    o <- data.frame(x = runif(200, 0, 500), y = runif(200, 0, 500),
                    type = "O")
    df <- rbind(a, b, o)
    df <- df[df$x > 0 & df$x < 500 & df$y > 0 & df$y < 500, ]
    cells <- quiet(spatial_cells(df, window = "rectangle"))
    r <- seq(0, 40, by = 2)
    for (env in c("labels", "csr")) {
        l <- ripley_l(cells, "A", "B", r = r, envelope = env, nsim = 39)
        s <- summary(l)
        expect_equal(s$direction, "attraction")
        expect_gt(s$outside, 0.5)
        expect_true(all((l$estimate > l$hi)[l$r %in% c(10, 20)]))
    }
    g <- g_function(cells, "A", "B", r = r, envelope = "labels", nsim = 39)
    expect_true(all((g$estimate > g$hi)[g$r %in% c(10, 20)]))
    # ... and A with the independent O cells is not
    l <- ripley_l(cells, "A", "O", r = r, envelope = "csr", nsim = 39)
    expect_lt(summary(l)$outside, 0.5)
})

test_that("result class, print, summary and autoplot", {
    set.seed(8)
    df <- data.frame(x = runif(150, 0, 300), y = runif(150, 0, 300),
                     type = sample(c("T", "CD8"), 150, TRUE))
    cells <- quiet(spatial_cells(df, window = "rectangle"))
    k <- ripley_k(cells, "T", c("T", "CD8"), r = seq(0, 30, by = 5),
                  correction = c("isotropic", "border"), envelope = "labels",
                  nsim = 9)
    expect_s3_class(k, c("ripley_k", "immunoscape_fv", "data.frame"))
    expect_named(k, c("image", "from", "to", "r", "correction", "estimate",
                      "theo", "lo", "hi", "mmean"))
    expect_equal(k$theo, pi * k$r^2)
    expect_output(print(k), "ripley_k")
    expect_output(print(k), "labels, 9 simulations")
    s <- summary(k)
    expect_equal(nrow(s), 4)
    expect_true(all(c("area_theo", "area_mmean", "direction", "outside") %in%
                        names(s)))
    i <- s$to == "CD8" & s$correction == "isotropic"
    d <- k[k$to == "CD8" & k$correction == "isotropic", ]
    expect_equal(s$area_theo[i],
                 sum(diff(d$r) * (head(d$estimate - d$theo, -1) +
                                      tail(d$estimate - d$theo, -1)) / 2))
    expect_s3_class(as.data.frame(k), "data.frame")
    expect_false(inherits(as.data.frame(k), "ripley_k"))
    p <- autoplot(k)
    expect_s3_class(p, "ggplot")
    ld <- ggplot2::layer_data(p, 1)
    expect_true(all(c("ymin", "ymax") %in% names(ld)))
    expect_equal(length(unique(ggplot2::layer_data(p, 4)$PANEL)), 2)
    g <- pair_correlation(cells, "T", r = seq(0, 30, by = 5))
    expect_true(is.na(g$estimate[1]))
    expect_equal(unique(g$theo), 1)
    expect_s3_class(autoplot(g), "ggplot")
})

test_that("bad input gives classed errors", {
    df <- data.frame(x = c(1, 5, 9, 3), y = c(2, 8, 4, 6),
                     type = c("A", "B", "A", "B"))
    cells <- quiet(spatial_cells(df, window = "rectangle"))
    expect_error(ripley_k(cells), class = "immunoscape_error_argument")
    expect_error(ripley_k(cells, "Z"), class = "immunoscape_error_type")
    expect_error(ripley_k(cells, "A", correction = "km"),
                 class = "immunoscape_error_argument")
    expect_error(g_function(cells, "A", correction = "isotropic"),
                 class = "immunoscape_error_argument")
    expect_error(ripley_k(cells, "A", r = c(1, 2)),
                 class = "immunoscape_error_radius")
    expect_error(ripley_k(cells, "A", r = c(0, 2, 1)),
                 class = "immunoscape_error_radius")
    expect_error(ripley_k(cells, "A", nsim = 0),
                 class = "immunoscape_error_argument")
    expect_error(ripley_k(cells, "A", envelope = "poisson"))
    expect_error(ripley_k(cells, "A", globl = TRUE),
                 class = "immunoscape_error_argument")
    expect_error(pair_correlation(cells, "A", bw = -1),
                 class = "immunoscape_error_radius")
    expect_error(ripley_k(cells, "A", global = NA),
                 class = "immunoscape_error_argument")
})

test_that("kernel status codes become classed errors", {
    stop_status <- immunoscape:::stop_status
    expect_error(stop_status(1L, "the pair sums"),
                 class = "immunoscape_error_memory",
                 regexp = "Out of memory in the pair sums")
    expect_error(stop_status(2L, "x"), class = "immunoscape_error_coordinates")
    expect_error(stop_status(3L, "x"), class = "immunoscape_error_window")
    expect_error(stop_status(4L, "x"), class = "immunoscape_error_coordinates")
    expect_error(stop_status(9L, "x"), class = "immunoscape_error_internal")
    # raised from C as the entry points raise them (no huge allocation)
    expect_error(.Call(immunoscape:::ffi_kfun_status, 1L),
                 class = "immunoscape_error_memory", regexp = "a test")
    expect_error(.Call(immunoscape:::ffi_kfun_status, 3L),
                 class = "immunoscape_error_window")
})

test_that("the per-image worker does not carry the cohort", {
    set.seed(14)
    n <- 20000
    df <- data.frame(x = runif(n, 0, 1000), y = runif(n, 0, 1000),
                     type = sample(c("A", "B"), n, TRUE),
                     image = rep(c("i1", "i2"), each = n / 2),
                     marker = runif(n))
    cells <- quiet(spatial_cells(df, image = "image", window = "rectangle"))
    # record what kf_main() hands to map_images() (testthat's
    # local_mocked_bindings() needs testthat >= 3.1.7)
    real <- immunoscape:::map_images
    seen <- NULL
    utils::assignInNamespace("map_images", function(cells, fun, ...) {
        seen <<- list(size = length(serialize(fun, NULL)),
                      cols = names(cells))
        real(cells, fun, ...)
    }, "immunoscape")
    withr::defer(utils::assignInNamespace("map_images", real, "immunoscape"))
    k <- ripley_k(cells, "A", "B", r = 0:5)
    # what BiocParallel would ship with every image: the options only
    expect_lt(seen$size, 20000)
    expect_lt(seen$size, length(serialize(cells, NULL)) / 50)
    expect_setequal(seen$cols, c("cell_id", "image", "x", "y", "type"))
    expect_equal(nrow(k), 2 * 6)
})
