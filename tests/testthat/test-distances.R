test_that("nearest_distances matches brute force on varied patterns", {
    for (kind in c("random", "clustered", "duplicated", "integer")) {
        set.seed(switch(kind, random = 1, clustered = 2, duplicated = 3, integer = 4))
        df <- make_pattern(kind)
        cells <- spatial_cells(df, window = "rectangle")
        for (k in c(1L, 3L)) {
            res <- nearest_distances(cells, to = c("A", "B", "C"), k = k,
                                     nthreads = 1)
            expect_equal(nrow(res), nrow(df) * 3L * k)
            b <- lapply(seq_len(nrow(df)), function(i) {
                lapply(c("A", "B", "C"), function(t) {
                    bf_nearest(df$x, df$y, df$type, i, t, k)
                })
            })
            bd <- unlist(lapply(b, lapply, `[[`, "distance"))
            bi <- unlist(lapply(b, lapply, `[[`, "index"))
            expect_identical(res$distance, bd)
            expect_identical(res$nearest_id, bi)
        }
    }
})

test_that("nearest_distances respects from and gives NA for missing types", {
    df <- data.frame(x = c(0, 3, 10, 0, 50), y = c(0, 4, 0, 0, 50),
                     type = c("A", "B", "A", "C", "B"),
                     image = c(1, 1, 1, 2, 2))
    df <- rbind(df, data.frame(x = c(5, 9), y = c(1, 9), type = "A", image = 2))
    cells <- spatial_cells(df, image = "image")
    res <- nearest_distances(cells, from = "A", to = "C")
    img1 <- res[res$image == "1", ]
    expect_true(all(is.na(img1$distance)))
    expect_true(all(is.na(img1$nearest_id)))
    img2 <- res[res$image == "2", ]
    expect_equal(img2$distance, c(sqrt(26), sqrt(81 + 81)))
    expect_equal(img2$nearest_id, c(1L, 1L))
    expect_true(all(res$from == "A"))
})

test_that("k larger than the number of targets pads with NA", {
    df <- data.frame(x = c(0, 1, 2, 10), y = 0, type = c("A", "B", "B", "A"))
    df$y <- c(0, 1, 0, 3)
    cells <- spatial_cells(df)
    res <- nearest_distances(cells, from = "B", to = "B", k = 3)
    expect_equal(sum(!is.na(res$distance)), 2)
    expect_equal(res$distance[res$cell_id == 2 & res$k == 1], sqrt(2))
})

test_that("nearest_distances agrees with spatstat nncross", {
    skip_if_not_installed("spatstat.geom")
    set.seed(11)
    df <- make_pattern("random", n = 3000, side = 1000)
    cells <- spatial_cells(df, window = "rectangle")
    res <- nearest_distances(cells, from = "A", to = "B")
    W <- spatstat.geom::owin(range(df$x), range(df$y))
    A <- spatstat.geom::ppp(df$x[df$type == "A"], df$y[df$type == "A"], window = W)
    B <- spatstat.geom::ppp(df$x[df$type == "B"], df$y[df$type == "B"], window = W)
    nc <- spatstat.geom::nncross(A, B)
    expect_equal(res$distance, nc$dist, tolerance = 1e-12)
    expect_equal(res$nearest_id, which(df$type == "B")[nc$which])
})

test_that("a far-away target cell does not break queries", {
    set.seed(5)
    n <- 5000
    df <- data.frame(x = c(runif(n, 0, 100), 1e6), y = c(runif(n, 0, 100), 1e6),
                     type = c(sample(c("A", "B"), n, TRUE), "B"))
    cells <- spatial_cells(df, window = "rectangle")
    res <- nearest_distances(cells, from = "A", to = "B")
    ia <- which(df$type == "A")[1:300]
    b <- vapply(ia, function(i) bf_nearest(df$x, df$y, df$type, i, "B")$distance, 1)
    expect_identical(res$distance[match(ia, res$cell_id)], b)
    far <- nearest_distances(cells, from = "B", to = "A")
    i <- n + 1L
    expect_identical(far$distance[far$cell_id == i],
                     bf_nearest(df$x, df$y, df$type, i, "A")$distance)
})

test_that("count_neighbors matches brute force, ties at radius counted", {
    for (kind in c("random", "clustered", "duplicated", "integer")) {
        set.seed(switch(kind, random = 21, clustered = 22, duplicated = 23, integer = 24))
        df <- make_pattern(kind)
        cells <- spatial_cells(df, window = "rectangle")
        for (radius in c(0, 5, 17.5, 60)) {
            res <- count_neighbors(cells, radius = radius, nthreads = 1)
            m <- matrix(res$count, ncol = 3, byrow = TRUE)
            b <- t(vapply(seq_len(nrow(df)), function(i) {
                bf_count(df$x, df$y, df$type, i, radius, c("A", "B", "C"))
            }, integer(3)))
            expect_identical(m, b)
        }
    }
    # a subset of query cells (pairs between non-queries are skipped)
    set.seed(25)
    df <- make_pattern("clustered", n = 600)
    cells <- spatial_cells(df, window = "rectangle")
    for (nt in 1:2) {
        res <- count_neighbors(cells, radius = 12, from = "C", to = c("C", "A"),
                               nthreads = nt)
        ic <- which(df$type == "C")
        b <- t(vapply(ic, function(i) {
            bf_count(df$x, df$y, df$type, i, 12, c("A", "B", "C"))[c(3, 1)]
        }, integer(2)))
        expect_identical(matrix(res$count, ncol = 2, byrow = TRUE), b)
        expect_identical(res$cell_id, rep(ic, each = 2))
    }
    # a 3-4-5 triangle: the neighbour at exactly the radius counts
    df <- data.frame(x = c(0, 3, 6), y = c(0, 4, 0), type = c("A", "B", "B"))
    res <- count_neighbors(spatial_cells(df, window = "rectangle"), radius = 5,
                           from = "A", to = "B")
    expect_identical(res$count, 1L)
})

test_that("count_neighbors agrees across thread counts and with dbscan", {
    set.seed(31)
    df <- make_pattern("clustered", n = 5000, side = 2000)
    cells <- spatial_cells(df)
    r1 <- count_neighbors(cells, radius = 30, nthreads = 1)
    r2 <- count_neighbors(cells, radius = 30, nthreads = 2)
    expect_identical(r1, r2)
    # the copy-free scheme used when per-thread copies would be too large
    withr::local_options(immunoscape.count_copy_mb = 0)
    r3 <- count_neighbors(cells, radius = 30, nthreads = 2)
    expect_identical(r1, r3)
    r4 <- count_neighbors(cells, radius = 30, from = "B", nthreads = 2)
    expect_identical(r4$count, r1$count[r1$from == "B"])
    d1 <- nearest_distances(cells, to = "B", k = 2, nthreads = 1)
    d2 <- nearest_distances(cells, to = "B", k = 2, nthreads = 2)
    expect_identical(d1, d2)
    skip_if_not_installed("dbscan")
    set.seed(32)
    df <- make_pattern("random", n = 5000, side = 2000)
    r1 <- count_neighbors(spatial_cells(df), radius = 30)
    nn <- dbscan::frNN(as.matrix(df[c("x", "y")]), eps = 30)
    m <- matrix(r1$count, ncol = 3, byrow = TRUE)
    expect_identical(as.integer(rowSums(m)), lengths(nn$id))
})

test_that("distance functions reject bad input with classed errors", {
    cells <- spatial_cells(data.frame(x = c(0, 1, 2), y = c(0, 2, 1),
                                      type = c("A", "B", "A")))
    expect_error(count_neighbors(cells, radius = -1), class = "immunoscape_error_radius")
    expect_error(count_neighbors(cells, radius = NA), class = "immunoscape_error_radius")
    expect_error(count_neighbors(cells), class = "immunoscape_error_radius")
    expect_error(count_neighbors(cells, radius = "a"), class = "immunoscape_error_radius")
    expect_error(nearest_distances(cells, to = "Z"), class = "immunoscape_error_type")
    expect_error(count_neighbors(cells, 10, to = "Tumour"), class = "immunoscape_error_type")
    expect_error(nearest_distances(cells, to = "A", k = 0), class = "immunoscape_error_argument")
    expect_error(nearest_distances(cells, to = "A", kk = 2), class = "immunoscape_error_argument")
    expect_snapshot(nearest_distances(cells, to = "Tumor"), error = TRUE)
})

test_that("from and to share one level set, so they can be compared", {
    df <- data.frame(x = c(0, 10, 20, 30, 40, 5), y = c(0, 5, 0, 5, 0, 20),
                     type = c("Tumor", "CD8 T", "B", "Tumor", "CD8 T", "B"))
    cells <- spatial_cells(df)
    d <- nearest_distances(cells, from = "Tumor", to = c("CD8 T", "B"))
    expect_identical(levels(d$from), levels(d$to))
    expect_identical(levels(d$from), c("B", "CD8 T", "Tumor"))
    # rows still follow the order of `to`
    expect_identical(as.character(d$to[1:2]), c("CD8 T", "B"))
    expect_false(any(d$from == d$to))
    expect_output(print(d), "2 cells x 2 target types")
    n <- count_neighbors(cells, radius = 15, from = "CD8 T", to = "Tumor")
    expect_identical(levels(n$from), levels(n$to))
    expect_identical(levels(n$to), c("CD8 T", "Tumor"))
    expect_output(print(n), "1 target type")
    s <- summary(neighborhood_composition(cells, k = 3))
    expect_identical(levels(s$type), levels(s$to))
    loc <- local_colocalization_quotient(cells, from = "Tumor",
                                         to = c("CD8 T", "B"), k = 2)
    expect_identical(levels(loc$from), levels(loc$to))
    expect_true(all(loc$from != loc$to))
})
