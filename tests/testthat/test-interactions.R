# interaction_test(), colocalization_quotient(), mixing_score(),
# classify_architecture(): brute-force oracles, permutation calibration,
# reproducibility, planted structure, bad input.

obs_matrix <- function(res, lv) {
    d <- as.data.frame(res)
    m <- matrix(NA_real_, length(lv), length(lv), dimnames = list(lv, lv))
    col <- if ("clq" %in% names(d)) "clq" else "observed"
    m[cbind(as.character(d$from), as.character(d$to))] <- d[[col]]
    m
}

test_that("interaction statistics equal brute force (all methods)", {
    for (kind in c("random", "clustered", "integer")) {
        set.seed(switch(kind, random = 51, clustered = 52, integer = 53))
        df <- make_pattern(kind, n = 250)
        cells <- spatial_cells(df, window = "rectangle")
        lv <- levels(cells$type)
        r <- if (kind == "integer") 3 else 25
        for (m in c("classic", "histocat", "patch")) {
            res <- interaction_test(cells, radius = r, method = m, nperm = 0,
                                    patch_size = 2, nthreads = 1)
            expect_identical(obs_matrix(res, lv),
                             bf_interaction(df$x, df$y, df$type, lv, r, m, 2L))
        }
    }
})

test_that("all counting paths agree with brute force (many types, degrees)", {
    # 12 types: packed counts; 16 types and wide radius: degrees too large
    # to pack, loop per cell; 18 types: sparse loop per cell
    for (nt in c(12L, 16L, 18L)) {
        set.seed(100 + nt)
        df <- make_pattern("random", n = 220, types = LETTERS[seq_len(nt)],
                           prob = rep(1, nt), side = 200)
        cells <- spatial_cells(df, window = "rectangle")
        lv <- levels(cells$type)
        r <- if (nt == 16L) 60 else 25
        for (m in c("classic", "histocat", "patch")) {
            res <- interaction_test(cells, radius = r, method = m, nperm = 3,
                                    patch_size = 2, nthreads = 2)
            expect_identical(obs_matrix(res, lv),
                             bf_interaction(df$x, df$y, df$type, lv, r, m, 2L))
        }
        ord <- immunoscape:::interaction_grid_order(cells, radius = r)
        clq <- colocalization_quotient(cells, radius = r, nperm = 3)
        expect_identical(obs_matrix(clq, lv),
                         bf_clq(df$x, df$y, df$type, lv, radius = r,
                                order = ord))
    }
})

test_that("permutation summaries are computed exactly from the permutations", {
    set.seed(54)
    df <- make_pattern("random", n = 300)
    cells <- spatial_cells(df, window = "rectangle")
    for (m in c("classic", "histocat", "patch")) {
        raw <- immunoscape:::interaction_perm_image(cells, NULL, 20, FALSE, m,
                                                    2L, 199L, 2L, keep = TRUE)
        perm <- raw[[8]]
        expect_identical(dim(perm), c(9L, 199L))
        obs <- raw[[1]]
        expect_equal(raw[[2]], rowMeans(perm), tolerance = 1e-14)
        expect_equal(raw[[3]], apply(perm, 1, stats::sd), tolerance = 1e-12)
        tol <- 1e-9 * pmax(1, abs(obs))
        expect_identical(raw[[4]], as.integer(rowSums(perm >= obs - tol)))
        expect_identical(raw[[5]], as.integer(rowSums(perm <= obs + tol)))
        # every permutation keeps the type counts: classic mean over
        # permutations matches E = E_dir (N_b - [a = b]) / (N (N - 1))
        if (m == "classic") {
            n <- nrow(df)
            nt <- as.vector(table(cells$type))
            edir <- raw[[7]]
            expect_identical(edir, sum(lengths(bf_neighbors(df$x, df$y,
                                                            radius = 20))) + 0)
            e <- outer(rep(1, 3), nt) - diag(3)
            e <- as.vector(t(e)) * edir / (n * (n - 1))
            se <- raw[[3]] / sqrt(199)
            expect_true(all(abs(raw[[2]] - e) < 4 * se))
        }
    }
})

test_that("interaction_test is reproducible and thread-invariant", {
    set.seed(55)
    df <- make_pattern("clustered", n = 400)
    df$image <- rep(c("i1", "i2"), each = 200)
    cells <- spatial_cells(df, image = "image")
    set.seed(7)
    a <- interaction_test(cells, radius = 30, nperm = 99, nthreads = 1)
    set.seed(7)
    b <- interaction_test(cells, radius = 30, nperm = 99, nthreads = 2)
    expect_identical(a, b)
    set.seed(8)
    c2 <- interaction_test(cells, radius = 30, nperm = 99, nthreads = 2)
    expect_false(identical(a$perm_mean, c2$perm_mean))
    expect_identical(a$observed, c2$observed)
    set.seed(7)
    d <- colocalization_quotient(cells, k = 3, nperm = 49, nthreads = 1)
    set.seed(7)
    e <- colocalization_quotient(cells, k = 3, nperm = 49, nthreads = 2)
    expect_identical(d, e)
})

test_that("p-values are calibrated under random labels", {
    set.seed(56)
    nimg <- 150
    df <- do.call(rbind, lapply(seq_len(nimg), function(i) {
        null_image(200, 250, c("A", "B", "C"), paste0("img", i))
    }))
    cells <- spatial_cells(df, image = "image", window = "rectangle")
    res <- withr::with_options(list(immunoscape.verbose = FALSE),
                               interaction_test(cells, radius = 20,
                                                method = "classic",
                                                nperm = 99))
    ab <- res[res$from == "A" & res$to == "B", ]
    u <- seq(0.01, 1, by = 0.01)
    ks_d <- max(abs(stats::ecdf(ab$p_greater)(u) - u))
    expect_lt(ks_d, 0.12)
    fpr <- mean(res$call != 0)
    expect_gt(fpr, 0.015)
    expect_lt(fpr, 0.085)
    s <- summary(res)
    expect_s3_class(s, "summary_interaction_test")
    expect_lt(max(abs(s$stouffer_z)), 4)
})

test_that("planted attraction and avoidance get the right sign", {
    set.seed(57)
    na <- 150
    ax <- runif(na, 0, 250)
    ay <- runif(na, 0, 500)
    k <- sample(na, 150, TRUE)
    ang <- runif(150, 0, 2 * pi)
    df <- rbind(
        data.frame(x = ax, y = ay, type = "A"),
        data.frame(x = ax[k] + 6 * cos(ang), y = ay[k] + 6 * sin(ang),
                   type = "B"),
        data.frame(x = runif(150, 300, 500), y = runif(150, 0, 500),
                   type = "C"),
        data.frame(x = runif(400, 0, 500), y = runif(400, 0, 500),
                   type = "D")
    )
    cells <- spatial_cells(df, window = "rectangle")
    for (m in c("classic", "histocat", "patch")) {
        res <- interaction_test(cells, radius = 15, method = m, nperm = 199,
                                patch_size = 1)
        call <- function(f, t) res$call[res$from == f & res$to == t]
        expect_identical(call("A", "B"), 1L)
        expect_identical(call("B", "A"), 1L)
        if (m != "histocat") expect_identical(call("A", "C"), -1L)
        expect_gt(res$z[res$from == "A" & res$to == "B"], 3)
    }
    clq <- colocalization_quotient(cells, k = 3, nperm = 199)
    expect_gt(clq$clq[clq$from == "B" & clq$to == "A"], 1.5)
    expect_identical(clq$call[clq$from == "B" & clq$to == "A"], 1L)
    expect_identical(clq$call[clq$from == "A" & clq$to == "C"], -1L)
})

test_that("a type absent from an image gives NA rows, not an error", {
    set.seed(58)
    df <- make_pattern("random", n = 300)
    df$image <- rep(c("with", "without"), each = 150)
    df$type[df$image == "without" & df$type == "C"] <- "A"
    cells <- spatial_cells(df, image = "image")
    res <- interaction_test(cells, radius = 30, nperm = 19)
    w <- res[res$image == "without", ]
    has_c <- w$from == "C" | w$to == "C"
    expect_true(all(is.na(w$observed[has_c])))
    expect_true(all(is.na(w$p[has_c])))
    expect_true(all(is.na(w$call[has_c])))
    expect_false(anyNA(w$observed[!has_c]))
    expect_false(anyNA(res$observed[res$image == "with"]))
    expect_false(any(is.nan(res$z)))
    expect_identical(nrow(res), 2L * 9L)
    s <- summary(res)
    expect_identical(s$n_images[s$from == "C" & s$to == "C"], 1L)
    cl <- colocalization_quotient(cells)
    expect_true(all(is.na(cl$clq[cl$image == "without" &
                                     (cl$from == "C" | cl$to == "C")])))
})

test_that("interaction summary pools images as documented; plots build", {
    set.seed(59)
    df <- make_pattern("clustered", n = 600)
    df$image <- rep(paste0("f", 1:3), each = 200)
    cells <- spatial_cells(df, image = "image")
    res <- interaction_test(cells, radius = 30, nperm = 49, alpha = 0.1)
    s <- summary(res)
    d <- res[res$from == "A" & res$to == "B", ]
    row <- s[s$from == "A" & s$to == "B", ]
    expect_equal(row$stouffer_z, sum(d$z) / sqrt(3))
    expect_equal(row$frac_attraction, mean(d$call == 1))
    expect_equal(row$stouffer_p, 2 * pnorm(-abs(row$stouffer_z)))
    ld <- ggplot2::layer_data(autoplot(res), 1)
    expect_equal(nrow(ld), 9)
    ld2 <- ggplot2::layer_data(autoplot(res, pooled = FALSE), 2)
    expect_equal(nrow(ld2), 27)
    expect_equal(sum(ld2$label != ""), sum(res$call != 0))
    expect_output(print(res), "interaction_test")
    expect_output(print(s), "pooled")
    expect_s3_class(autoplot(colocalization_quotient(cells)), "ggplot")
})

test_that("interaction_test rejects bad input by class", {
    cells <- spatial_cells(make_pattern("random", n = 50))
    expect_error(interaction_test(cells, radius = -2),
                 class = "immunoscape_error_radius")
    expect_error(interaction_test(cells, radius = NA),
                 class = "immunoscape_error_radius")
    expect_error(interaction_test(cells, method = "geary"))
    expect_error(interaction_test(cells, nperm = -1),
                 class = "immunoscape_error_argument")
    expect_error(interaction_test(cells, types = c("A", "Q")),
                 class = "immunoscape_error_type")
    expect_error(interaction_test(cells, alpha = 2),
                 class = "immunoscape_error_argument")
    expect_error(interaction_test(cells, nperms = 9),
                 class = "immunoscape_error_argument")
    expect_error(interaction_test(cells, nthreads = 0),
                 class = "immunoscape_error_argument")
    expect_error(summary(interaction_test(cells, nperm = 0)),
                 class = "immunoscape_error_argument")
})

test_that("global colocation quotient equals brute force, ties split", {
    for (kind in c("random", "integer", "duplicated")) {
        set.seed(switch(kind, random = 61, integer = 62, duplicated = 63))
        df <- make_pattern(kind, n = 200)
        cells <- spatial_cells(df, window = "rectangle")
        lv <- levels(cells$type)
        for (nb in list(list(k = 1L), list(k = 4L), list(radius = 12))) {
            ord <- immunoscape:::interaction_grid_order(
                cells, k = nb$k, radius = nb$radius, ties = TRUE)
            res <- colocalization_quotient(cells, k = nb$k, radius = nb$radius,
                                           nthreads = 2)
            bf <- bf_clq(df$x, df$y, df$type, lv, k = nb$k,
                         radius = nb$radius, order = ord)
            expect_identical(obs_matrix(res, lv), bf)
        }
    }
    # default: k = 1
    expect_identical(colocalization_quotient(cells)$clq,
                     colocalization_quotient(cells, k = 1)$clq)
})

test_that("local CLQ equals brute force and averages to the global CLQ", {
    set.seed(64)
    df <- make_pattern("integer", n = 220)
    cells <- spatial_cells(df, window = "rectangle")
    lv <- levels(cells$type)
    for (nb in list(list(k = 1L), list(k = 5L), list(radius = 4))) {
        loc <- local_colocalization_quotient(cells, k = nb$k,
                                             radius = nb$radius)
        bf <- bf_local_clq(df$x, df$y, df$type, lv, k = nb$k,
                           radius = nb$radius)
        expect_identical(loc$local_clq, as.vector(t(bf)))
        glob <- colocalization_quotient(cells, k = nb$k, radius = nb$radius)
        mean_loc <- stats::aggregate(local_clq ~ from + to, data = loc,
                                     FUN = mean)
        key <- paste(glob$from, glob$to)
        expect_equal(mean_loc$local_clq[match(key, paste(mean_loc$from,
                                                         mean_loc$to))],
                     glob$clq, tolerance = 1e-12)
    }
    sl <- summary(loc)
    expect_equal(nrow(sl), 9)
    expect_s3_class(autoplot(loc), "ggplot")
    expect_output(print(loc), "local_clq")
    one <- local_colocalization_quotient(cells, from = "B", to = "A", k = 2)
    expect_true(all(one$from == "B") && all(one$to == "A"))
    expect_error(colocalization_quotient(cells, k = 2, radius = 10),
                 class = "immunoscape_error_argument")
    expect_error(colocalization_quotient(cells, k = 0),
                 class = "immunoscape_error_argument")
    expect_error(local_colocalization_quotient(cells, from = "X"),
                 class = "immunoscape_error_type")
})

test_that("CLQ permutation mean is 1 under random labels", {
    set.seed(65)
    df <- null_image(800, 500, c("A", "B"), "one")
    cells <- spatial_cells(df, window = "rectangle")
    res <- colocalization_quotient(cells, k = 3, nperm = 199)
    expect_equal(res$perm_mean, rep(1, 4), tolerance = 0.02)
    expect_true(all(res$p_greater > 0 & res$p_greater <= 1))
    expect_s3_class(res, "colocalization_quotient")
    expect_output(print(res), "colocalization_quotient")
})

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
    cold <- data.frame(x = runif(800, 0, 400), y = runif(800, 0, 400),
                       type = rep(c("CD8 T", "Tumor"), c(100, 700)),
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
                                       min_immune = 2.5),
                 class = "immunoscape_error_argument")
})

test_that("one- and two-cell images give defined or NA results, no error", {
    sq <- data.frame(x = c(0, 100, 100, 0), y = c(0, 0, 100, 100))
    one <- spatial_cells(data.frame(x = 50, y = 50, type = "A"), window = sq)
    two <- spatial_cells(data.frame(x = c(10, 20), y = c(10, 10),
                                    type = c("A", "B")), window = sq)
    it1 <- interaction_test(one, radius = 20, nperm = 9)
    expect_identical(it1$observed, 0)
    expect_true(is.na(it1$z))
    expect_true(is.na(colocalization_quotient(one, nperm = 9)$clq))
    it2 <- interaction_test(two, radius = 20, nperm = 9, method = "classic")
    expect_identical(it2$observed, c(0, 1, 1, 0))
    expect_identical(it2$p_greater, c(1, 1, 1, 1))
    cl2 <- colocalization_quotient(two)
    expect_identical(cl2$clq, c(NA, 1, 1, NA))
    expect_identical(mixing_score(two, "A", "B")$mixing_score, Inf)
    # radius beyond the image: everything is a neighbour
    big <- interaction_test(two, radius = 1e6, nperm = 0, method = "classic")
    expect_identical(big$observed, c(0, 1, 1, 0))
    expect_identical(neighborhood_composition(two, radius = 1e6)$n, c(2L, 2L))
})
