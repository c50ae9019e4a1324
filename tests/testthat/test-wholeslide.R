# Whole-slide mode of spatial_profile(): the exact random-labelling
# moments against exhaustive enumeration (new math), the C pair sums
# against brute force, and the approximate summaries against the
# simulation path they replace on moderate images.

ws_cells <- function(n = 1500, seed = 1, side = 400) {
    set.seed(seed)
    x <- runif(n, 0, side)
    y <- runif(n, 0, side)
    # tumour on the left, CD8 T attracted to its edge, B cells anywhere
    p_t <- ifelse(x < side / 2, 0.8, 0.1)
    u <- runif(n)
    type <- ifelse(u < p_t, "Tumor",
                   ifelse(u < p_t + 0.5 * (1 - p_t) *
                              exp(-abs(x - side / 2) / 60), "CD8 T",
                          ifelse(runif(n) < 0.3, "B", "Stroma")))
    spatial_cells(data.frame(x = x, y = y, type = type), window = "rectangle")
}

test_that("null_pair_moments() equals the exact mean and variance over all labellings", {
    ns <- asNamespace("immunoscape")
    set.seed(3)
    n <- 7
    W <- matrix(runif(n * n), n)
    diag(W) <- 0
    W[W < 0.3] <- 0                       # asymmetric, with zeros
    R <- rowSums(W)
    C <- colSums(W)
    m <- list(S0 = sum(W), Q1 = sum(W^2), Q1T = sum(W * t(W)),
              RR = sum(R^2), CC = sum(C^2), RC = sum(R * C))
    for (nA in 1:3) for (nB in 1:3) {
        S <- unlist(lapply(utils::combn(n, nA, simplify = FALSE), function(A) {
            rest <- setdiff(seq_len(n), A)
            vapply(utils::combn(rest, nB, simplify = FALSE),
                   function(B) sum(W[A, B]), numeric(1))
        }))
        mm <- ns$null_pair_moments(m, nA, nB, n)
        expect_equal(mm$mean, mean(S), tolerance = 1e-12)
        expect_equal(mm$var, mean(S^2) - mean(S)^2, tolerance = 1e-10)
    }
    na <- ns$null_pair_moments(m, 1, 1, 3)
    expect_true(is.na(na$mean) && is.na(na$var))
})

test_that("label_moments() pair sums equal a brute-force enumeration", {
    ns <- asNamespace("immunoscape")
    rings <- list(list(x = c(0, 300, 260, 120, -20),
                       y = c(0, 20, 240, 300, 200)))
    set.seed(5)
    n <- 90
    x <- runif(n, 0, 280)
    y <- runif(n, 0, 280)
    ok <- kfo_inside(x, y, rings)
    x <- x[ok]
    y <- y[ok]
    type <- sample(c("A", "B", "C"), length(x), TRUE)
    cells <- quiet(spatial_cells(data.frame(x = x, y = y, type = type),
                                 window = kfo_window_df(rings)))
    r <- seq(0, 60, by = 7.5)
    for (corr in c("isotropic", "none")) {
        m <- ns$label_moments(cells, r, corr, nthreads = 1)
        P <- kfo_pairs(cells$x, cells$y, seq_len(nrow(cells)),
                       seq_len(nrow(cells)), rings, max(r))
        w <- if (corr == "isotropic") P$iso else rep(1, length(P$d))
        # w_ji for each ordered pair (i, j)
        back <- match(paste(P$j, P$i), paste(P$i, P$j))
        nn <- nrow(cells)
        for (k in seq_along(r)) {
            on <- P$d <= r[k]
            W <- matrix(0, nn, nn)
            W[cbind(P$i[on], P$j[on])] <- w[on]
            Rs <- rowSums(W)
            Cs <- colSums(W)
            expect_equal(m$S0[k], sum(W), tolerance = 1e-10)
            expect_equal(m$Q1[k], sum(W^2), tolerance = 1e-10)
            expect_equal(m$Q1T[k], sum(W * t(W)), tolerance = 1e-10)
            expect_equal(m$RR[k], sum(Rs^2), tolerance = 1e-10)
            expect_equal(m$CC[k], sum(Cs^2), tolerance = 1e-10)
            expect_equal(m$RC[k], sum(Rs * Cs), tolerance = 1e-10)
            ty <- as.character(cells$type)
            for (a in c("A", "B")) for (b in c("B", "C")) {
                expect_equal(m$T[k, a, b], sum(W[ty == a, ty == b]),
                             tolerance = 1e-10)
            }
        }
        expect_true(all(is.finite(back)))
        expect_identical(m$n, nrow(cells))
    }
    # thread invariance
    m1 <- ns$label_moments(cells, r, "isotropic", nthreads = 1)
    m2 <- ns$label_moments(cells, r, "isotropic", nthreads = 2)
    expect_identical(m1, m2)
})

test_that("the L null from exact moments matches random relabelling", {
    ns <- asNamespace("immunoscape")
    cells <- ws_cells(1500)
    r <- seq(0, 60, by = 10)
    m <- ns$label_moments(cells, r, "isotropic", nthreads = 1)
    l <- ns$ws_l_null(m, "CD8 T", "Tumor", r)
    # the observed L is ripley_l()'s
    obs <- ripley_l(cells, "CD8 T", "Tumor", r = r)
    expect_equal(l$estimate, obs$estimate, tolerance = 1e-10)
    # relabelling by hand: permute the types, L of the same pair
    set.seed(11)
    nsim <- 300
    sims <- vapply(seq_len(nsim), function(s) {
        perm <- cells
        perm$type <- perm$type[sample.int(nrow(perm))]
        ripley_l(perm, "CD8 T", "Tumor", r = r)$estimate
    }, numeric(length(r)))
    mu <- rowMeans(sims)
    sdv <- apply(sims, 1, stats::sd)
    k <- r > 0
    # mean within 4 standard errors of the simulated mean
    expect_true(all(abs(l$mmean[k] - mu[k]) < 4 * sdv[k] / sqrt(nsim)))
    # sd within 15 % (sampling error of an sd from 300 draws: about 4 %)
    expect_true(all(abs(l$sd[k] / sdv[k] - 1) < 0.15))
    expect_identical(l$mmean[1], 0)
    expect_identical(l$sd[1], 0)
})

test_that("interaction z from exact moments matches the permutation test", {
    ns <- asNamespace("immunoscape")
    cells <- ws_cells(2000, seed = 2)
    ty <- c("Tumor", "CD8 T", "B")
    set.seed(4)
    nperm <- 2000
    it <- interaction_test(cells, radius = 20, nperm = nperm, types = ty,
                           nthreads = 1)
    mo <- ns$interaction_moments(cells, 20, ty, nthreads = 1)
    key <- match(paste(mo$from, mo$to), paste(it$from, it$to))
    expect_false(anyNA(key))
    it <- it[key, ]
    expect_equal(mo$observed, it$observed, tolerance = 1e-12)
    expect_true(all(abs(mo$mean - it$perm_mean) <
                        4 * it$perm_sd / sqrt(nperm)))
    expect_true(all(abs(mo$sd / it$perm_sd - 1) < 0.08))
    expect_true(all(abs(mo$z - it$z) < 0.1 * pmax(1, abs(it$z))))
})

test_that("spatial_profile() uses the whole-slide path only above the threshold", {
    cells <- ws_cells(1200, seed = 3)
    feats <- profile_features(c("counts", "interactions", "kfunctions"))
    set.seed(1)
    p_def <- spatial_profile(cells, tumor = "Tumor", features = feats,
                             nsim = 19, nperm = 49)
    set.seed(1)
    p_inf <- spatial_profile(cells, tumor = "Tumor", features = feats,
                             nsim = 19, nperm = 49, whole_slide = Inf)
    # ordinary images: the simulation path, unchanged
    expect_identical(as.data.frame(p_def), as.data.frame(p_inf))
    ws <- attr(p_def, "whole_slide")
    expect_identical(ws$whole_slide, FALSE)
    expect_identical(ws$kfunctions, "19 relabellings")
    expect_identical(ws$interactions, "49 permutations")
    expect_true(is.na(p_def$note))

    expect_message(
        p_ws <- spatial_profile(cells, tumor = "Tumor", features = feats,
                                nsim = 19, nperm = 49, whole_slide = 1000),
        "Whole-slide mode for 1 image", class = "immunoscape_message")
    expect_identical(names(p_ws), names(p_def))
    expect_identical(attr(p_ws, "whole_slide")$kfunctions, "exact moments")
    expect_match(p_ws$note, "kfunctions: whole slide")
    expect_match(p_ws$note, "interactions: whole slide")
    # the same features, up to the Monte Carlo error of the simulations
    z_cols <- grep("^z_", names(p_def), value = TRUE)
    for (z in z_cols) {
        expect_lt(abs(p_ws[[z]] - p_def[[z]]),
                  0.3 * max(1, abs(p_def[[z]])))
    }
    a_cols <- grep("^l_area_", names(p_def), value = TRUE)
    for (a in a_cols) {
        expect_lt(abs(p_ws[[a]] - p_def[[a]]),
                  0.1 * max(100, abs(p_def[[a]])))
    }
    expect_error(spatial_profile(cells, features = feats, whole_slide = -1),
                 class = "immunoscape_error_argument")
    expect_error(spatial_profile(cells, features = feats, whole_slide = "a"),
                 class = "immunoscape_error_argument")
})

test_that("whole-slide profiles do not depend on threads or BiocParallel", {
    skip_if_not_installed("BiocParallel")
    cells <- ws_cells(800, seed = 6)
    cells2 <- ws_cells(700, seed = 7)
    cells2$image <- "b"
    df <- rbind(as.data.frame(cells), as.data.frame(cells2))
    co <- spatial_cells(df, image = "image", window = "rectangle")
    feats <- profile_features(c("interactions", "kfunctions"))
    run <- function(...) {
        set.seed(9)
        suppressMessages(spatial_profile(co, tumor = "Tumor",
                                         features = feats, nsim = 9,
                                         nperm = 19, whole_slide = 750, ...))
    }
    a <- run(nthreads = 1)
    expect_identical(attr(a, "whole_slide")$whole_slide, c(TRUE, FALSE))
    expect_identical(as.data.frame(a), as.data.frame(run(nthreads = 2)))
    expect_identical(as.data.frame(a),
                     as.data.frame(run(BPPARAM = BiocParallel::SerialParam())))
})

test_that("ws_nearest() gives the distances of the grid search and of brute force", {
    ns <- asNamespace("immunoscape")
    set.seed(8)
    n <- 3000
    # integer coordinates (ties, duplicates) and a clustered target type
    x <- c(round(runif(n, 0, 500)), rep(250, 5))
    y <- c(round(runif(n, 0, 500)), rep(250, 5))
    type <- ifelse(x < 120 & y < 150, "Tumor",
                   sample(c("CD8 T", "B", "Tumor"), length(x), TRUE,
                          prob = c(0.5, 0.49, 0.01)))
    cells <- spatial_cells(data.frame(x = x, y = y, type = type))
    for (to in list("Tumor", c("Tumor", "B"))) {
        a <- ns$nearest_to_any(cells, c("CD8 T", "B"), to, 1)
        b <- ns$ws_nearest(cells, c("CD8 T", "B"), to, 1)
        expect_identical(b, a)
        expect_identical(ns$ws_nearest(cells, c("CD8 T", "B"), to, 2), a)
        fi <- which(cells$type %in% c("CD8 T", "B"))
        ti <- which(cells$type %in% to)
        brute <- vapply(fi, function(i) {
            tj <- setdiff(ti, i)          # never the cell itself
            sqrt(min((cells$x[tj] - cells$x[i])^2 +
                         (cells$y[tj] - cells$y[i])^2))
        }, numeric(1))
        expect_equal(b, brute, tolerance = 1e-12)
    }
    # one target, and none
    one <- cells[c(which(cells$type == "Tumor")[1],
                   which(cells$type == "B")), ]
    expect_identical(ns$ws_nearest(one, "B", "Tumor", 1),
                     ns$nearest_to_any(one, "B", "Tumor", 1))
    expect_identical(ns$ws_nearest(cells, "B", "Absent", 1),
                     rep(NA_real_, sum(cells$type == "B")))
})

test_that("whole-slide distances columns equal the ordinary ones", {
    cells <- ws_cells(1500, seed = 12)
    f <- profile_features("distances")
    a <- spatial_profile(cells, tumor = "Tumor", features = f)
    b <- suppressMessages(spatial_profile(cells, tumor = "Tumor",
                                          features = f, whole_slide = 0))
    expect_identical(as.data.frame(b), as.data.frame(a))
})

test_that("nearest_center() in C equals the column-wise R computation", {
    ns <- asNamespace("immunoscape")
    set.seed(13)
    x <- matrix(round(runif(4000 * 5), 2), ncol = 5)   # ties on a grid
    centers <- rbind(x[1:3, ], x[1, ] + 0, matrix(runif(10), 2))
    ref <- function(x, centers) {
        sq <- function(ctr) {
            d <- numeric(nrow(x))
            for (j in seq_along(ctr)) d <- d + (x[, j] - ctr[j])^2
            d
        }
        best <- sq(centers[1, ])
        cl <- rep(1L, nrow(x))
        for (i in seq_len(nrow(centers))[-1]) {
            d <- sq(centers[i, ])
            closer <- d < best
            cl[closer] <- i
            best[closer] <- d[closer]
        }
        list(cluster = cl, d2 = best)
    }
    expect_identical(ns$nearest_center(x, centers), ref(x, centers))
    one <- ns$nearest_center(x[, 1, drop = FALSE], centers[, 1, drop = FALSE])
    expect_identical(one, ref(x[, 1, drop = FALSE],
                              centers[, 1, drop = FALSE]))
})

test_that("the k-means sums of squares in C equal R's mean() and sum()", {
    set.seed(14)
    feat <- matrix(runif(30000), ncol = 3)
    feat[, 2] <- round(feat[, 2], 1)
    centers <- matrix(runif(12), 4)
    cl <- sample.int(4L, nrow(feat), TRUE)
    ref <- vapply(seq_len(ncol(feat)), function(j) {
        v <- feat[, j]
        c(sum((v - mean(v))^2), sum((v - centers[cl, j])^2))
    }, numeric(2))
    got <- .Call(asNamespace("immunoscape")$ffi_nbhd_sumsq, feat, centers,
                 cl)
    expect_identical(got, ref)
})

test_that("immune_phenotype() takes the compartments it would compute", {
    sim <- simulate_tme(n_images = 1, cells_per_mm2 = 2500, size = 1500,
                        seed = 2)
    reg <- quiet(tumor_regions(sim, tumor = "Tumor", nthreads = 1))
    comp <- compartments(sim, reg, margin = 300, nthreads = 1)
    a <- immune_phenotype(sim, reg, margin = 300, nthreads = 1)
    b <- immune_phenotype(sim, reg, margin = 300, nthreads = 1, comp = comp)
    expect_identical(b, a)
    expect_error(immune_phenotype(sim, reg, margin = 500, comp = comp),
                 class = "immunoscape_error_argument")
    expect_error(immune_phenotype(sim, reg, comp = data.frame(a = 1)),
                 class = "immunoscape_error_argument")
})
