# interaction_test(): brute-force oracles, permutation calibration,
# reproducibility, planted structure, bad input (CLQ: test-colocalization.R;
# mixing score and architecture: test-mixing.R).

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
    # A -> A and B -> B with one cell each: nothing to test
    expect_identical(it2$p_greater, c(NA, 1, 1, NA))
    expect_identical(it2$call, c(NA, 0L, 0L, NA))
    cl2 <- colocalization_quotient(two)
    expect_identical(cl2$clq, c(NA, 1, 1, NA))
    expect_identical(mixing_score(two, "A", "B")$mixing_score, Inf)
    # radius beyond the image: everything is a neighbour
    big <- interaction_test(two, radius = 1e6, nperm = 0, method = "classic")
    expect_identical(big$observed, c(0, 1, 1, 0))
    expect_identical(neighborhood_composition(two, radius = 1e6)$n, c(2L, 2L))
})

test_that("the default statistic is the classic one (as in imcRtools)", {
    set.seed(81)
    df <- make_pattern("clustered", n = 200)
    cells <- spatial_cells(df, window = "rectangle")
    def <- interaction_test(cells, nperm = 0)
    expect_identical(attr(def, "method"), "classic")
    expect_identical(def$observed,
                     interaction_test(cells, nperm = 0,
                                      method = "classic")$observed)
    expect_output(print(def), "classic statistic, radius 20 um")
    # imcRtools' newer name of the histoCAT statistic
    expect_identical(
        interaction_test(cells, nperm = 0, method = "conditional")$observed,
        interaction_test(cells, nperm = 0, method = "histocat")$observed)
})

# A small fixture: 14 cells of three types at fixed places (no ties).
imc_fixture <- function() {
    data.frame(
        x = c(2.1, 9.7, 14.2, 21.5, 5.3, 12.8, 18.9, 26.4, 3.9, 11.1, 16.6,
              24.2, 30.5, 8.2),
        y = c(3.3, 1.8, 6.1, 2.7, 10.4, 12.9, 9.6, 11.2, 19.5, 21.7, 17.3,
              20.8, 15.1, 27.6),
        type = c("T", "T", "CD8", "M", "T", "CD8", "CD8", "T", "M", "CD8",
                 "T", "M", "T", "CD8"))
}

test_that("statistics equal imcRtools' published definitions (kNN and radius)", {
    df <- imc_fixture()
    cells <- spatial_cells(df, window = "rectangle")
    lv <- levels(cells$type)
    for (k in c(1L, 3L, 5L)) {
        e <- bf_knn_edges(df$x, df$y, k)
        for (m in c("classic", "histocat", "patch")) {
            res <- interaction_test(cells, k = k, method = m, nperm = 0,
                                    patch_size = 2)
            expect_equal(obs_matrix(res, lv),
                         imc_statistics(e$from, e$to, df$type, lv, m, 2L),
                         tolerance = 1e-14)
        }
    }
    # a radius graph is the symmetric edge list of pairs within radius
    nb <- bf_neighbors(df$x, df$y, radius = 9)
    for (m in c("classic", "histocat", "patch")) {
        res <- interaction_test(cells, radius = 9, method = m, nperm = 0,
                                patch_size = 2)
        expect_equal(obs_matrix(res, lv),
                     imc_statistics(rep(seq_along(nb), lengths(nb)),
                                    unlist(nb), df$type, lv, m, 2L),
                     tolerance = 1e-14)
    }
    # the kNN graph is directed: with k = 1, classic T -> M and M -> T
    # (times the numbers of cells) differ
    r1 <- interaction_test(cells, k = 1, nperm = 0)
    e1 <- bf_knn_edges(df$x, df$y, 1L)
    tm <- sum(df$type[e1$from] == "T" & df$type[e1$to] == "M")
    mt <- sum(df$type[e1$from] == "M" & df$type[e1$to] == "T")
    expect_false(tm == mt)
    expect_equal(r1$observed[r1$from == "T" & r1$to == "M"],
                 tm / sum(df$type == "T"))
    expect_equal(r1$observed[r1$from == "M" & r1$to == "T"],
                 mt / sum(df$type == "M"))
})

test_that("kNN counts equal a brute-force kNN graph, ties by row order", {
    for (kind in c("random", "clustered", "integer")) {
        set.seed(switch(kind, random = 82, clustered = 83, integer = 84))
        df <- make_pattern(kind, n = 220)
        cells <- spatial_cells(df, window = "rectangle")
        lv <- levels(cells$type)
        for (k in c(1L, 4L, 10L)) {
            e <- bf_knn_edges(df$x, df$y, k)
            for (m in c("classic", "histocat", "patch")) {
                res <- interaction_test(cells, k = k, method = m,
                                        nperm = 3, patch_size = 2,
                                        nthreads = 2)
                expect_equal(obs_matrix(res, lv),
                             imc_statistics(e$from, e$to, df$type, lv, m,
                                            2L), tolerance = 1e-14)
            }
        }
    }
    # permutations on a kNN graph: reproducible, thread-invariant
    set.seed(85)
    a <- interaction_test(cells, k = 5, nperm = 49, nthreads = 1)
    set.seed(85)
    b <- interaction_test(cells, k = 5, nperm = 49, nthreads = 2)
    expect_identical(a, b)
    expect_identical(attr(a, "k"), 5L)
    expect_null(attr(a, "radius"))
    expect_output(print(a), "k = 5 nearest neighbours")
    expect_output(print(summary(a)), "k = 5 nearest neighbours")
    expect_s3_class(autoplot(a), "ggplot")
    # more neighbours than cells: every other cell
    two <- spatial_cells(data.frame(x = c(0, 5, 9), y = c(0, 3, 1),
                                    type = c("A", "B", "B")))
    expect_identical(interaction_test(two, k = 10, nperm = 0)$observed,
                     c(0, 2, 1, 1))
})

test_that("radius and k: exactly one neighbourhood", {
    df <- imc_fixture()
    cells <- spatial_cells(df, window = "rectangle")
    expect_error(interaction_test(cells, radius = 10, k = 3),
                 class = "immunoscape_error_argument")
    expect_error(interaction_test(cells, radius = NULL),
                 class = "immunoscape_error_argument")
    expect_error(interaction_test(cells, k = 0),
                 class = "immunoscape_error_argument")
    expect_error(interaction_test(cells, k = 2.5),
                 class = "immunoscape_error_argument")
    # k alone replaces the default radius
    expect_identical(attr(interaction_test(cells, k = 3, nperm = 0), "k"), 3L)
})

test_that("the README example and the L function agree (CK+ -> CD8+)", {
    cells <- withr::with_options(list(immunoscape.verbose = FALSE),
        read_cells(system.file("extdata", "inform_cell_seg_data.txt.gz",
                               package = "immunoscape")))
    set.seed(1)
    it <- interaction_test(cells, radius = 20, nperm = 199)
    ck_cd8 <- it[it$from == "CK+" & it$to == "CD8+", ]
    expect_lt(ck_cd8$z, -5)
    expect_identical(ck_cd8$call, -1L)
    set.seed(1)
    l <- summary(ripley_l(cells, "CK+", "CD8+", envelope = "labels",
                          nsim = 19))
    expect_identical(l$direction, "avoidance")
    # the shipped report template uses the default statistic and describes
    # it as the classic mean count
    rmd <- system.file("report", "report.Rmd", package = "immunoscape")
    skip_if(!nzchar(rmd), "report template not installed")
    txt <- readLines(rmd, warn = FALSE)
    expect_false(any(grepl("histocat", txt, ignore.case = TRUE)))
    expect_true(any(grepl("mean number of B cells", txt, fixed = TRUE)))
    expect_identical(eval(formals(interaction_test)$method)[1], "classic")
})

test_that("README and vignettes describe the default statistic as classic", {
    top <- test_path("..", "..")
    files <- c(file.path(top, "README.md"),
               Sys.glob(file.path(top, "vignettes", "*.Rmd")))
    files <- files[file.exists(files)]
    skip_if(!length(files), "sources not available")
    for (f in files) {
        txt <- paste(readLines(f, warn = FALSE), collapse = "\n")
        expect_false(grepl("default `\"histocat\"`", txt, fixed = TRUE),
                     info = f)
        expect_false(grepl("default histoCAT", txt, fixed = TRUE), info = f)
    }
})

test_that("autoplot(interaction_test) selects and pages images", {
    set.seed(5)
    df <- data.frame(x = runif(1800, 0, 300), y = runif(1800, 0, 300),
                     type = sample(c("A", "B"), 1800, TRUE),
                     image = rep(sprintf("f%02d", 1:30), each = 60))
    cells <- quiet(spatial_cells(df, image = "image"))
    it <- interaction_test(cells, radius = 30, nperm = 9)
    expect_warning(autoplot(it, pooled = FALSE),
                   class = "immunoscape_warning_panels")
    p <- autoplot(it, pooled = FALSE, page = 2)
    expect_setequal(unique(as.character(ggplot2::layer_data(p)$PANEL)),
                    as.character(1:5))
    p <- autoplot(it, pooled = FALSE, images = c("f03", "f07"))
    expect_equal(length(unique(ggplot2::layer_data(p)$PANEL)), 2)
    # pooling a selection pools only those images
    sel <- it[it$image %in% c("f03", "f07"), ]
    expect_equal(ggplot2::layer_data(autoplot(it, images = c("f03", "f07")))$fill,
                 ggplot2::layer_data(autoplot(sel))$fill)
    expect_error(autoplot(it, images = "nope"),
                 class = "immunoscape_error_argument")
})

test_that("an image without cells is not lost without a word", {
    set.seed(3)
    df <- data.frame(x = stats::runif(300, 0, 300), y = stats::runif(300, 0, 300),
                     type = sample(c("A", "B"), 300, TRUE),
                     image = rep(c("p", "gone", "q"), each = 100))
    cells <- spatial_cells(df, image = "image")
    sub <- cells[cells$image != "gone", ]
    m <- mixing_score(sub, "A", "B")
    expect_identical(as.character(m$image), c("p", "gone", "q"))
    expect_true(is.na(m$mixing_score[2]))
    expect_identical(m$note[2], "no cells in this image")
    it <- interaction_test(sub, nperm = 0)
    expect_false("gone" %in% as.character(it$image))
    pr <- attr(it, "problems")
    expect_identical(pr$message[pr$image == "gone"], "no cells in this image")
})
