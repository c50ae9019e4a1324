win <- function(df, images = "image1") {
    immunoscape:::as_window.data.frame(df, images = images)
}
g_inside <- function(w, x, y) immunoscape:::window_inside(w, "image1", x, y)
g_bdist <- function(w, x, y, nthreads = 1L) {
    immunoscape:::window_bdist(w, "image1", x, y, nthreads)
}
g_frac <- function(w, x, y, r, nthreads = 1L) {
    immunoscape:::window_circle_frac(w, "image1", x, y, r, nthreads)
}
g_overlap <- function(w, dx, dy, nthreads = 1L) {
    immunoscape:::window_overlap(w, "image1", dx, dy, nthreads)
}

test_that("areas match the shoelace formula and spatstat", {
    p <- wo_polygon()
    w <- win(p)
    expect_equal(unname(window_area(w)), sum(wo_ring_areas(p)))
    expect_equal(unname(window_area(w)), 62 - 4 + 10)
    # orientation is fixed whatever the user gave
    rev_p <- p[nrow(p):1, ]
    expect_equal(window_area(win(rev_p)), window_area(w))
    skip_if_not_installed("spatstat.geom")
    expect_equal(unname(window_area(w)),
                 spatstat.geom::area.owin(wo_owin(w)))
})

test_that("inside agrees with ray casting and spatstat, on edges too", {
    p <- wo_polygon()
    w <- win(p)
    set.seed(11)
    x <- c(runif(3000, -1, 17), p$x, 5, 10, 6, 3, 2, 14, 8, 4, 0)
    y <- c(runif(3000, -1, 9), p$y, 0, 4, 6.5, 1, 2, 1, 5, 3, 2.5)
    got <- g_inside(w, x, y)
    expect_identical(got, wo_inside(x, y, w))
    # vertices and points on edges (including hole edges) are inside
    expect_true(all(got[3000 + seq_len(nrow(p) + 9)]))
    # the hole's interior is not
    expect_false(g_inside(w, 3, 2))
    skip_if_not_installed("spatstat.geom")
    expect_identical(got, spatstat.geom::inside.owin(x, y, wo_owin(w)))
})

test_that("inside stays exact on a window with thousands of vertices", {
    th <- seq(0, 2 * pi, length.out = 4001)[-1]
    rad <- 100 + 15 * sin(7 * th) + 5 * sin(53 * th)
    p <- data.frame(x = rad * cos(th), y = rad * sin(th))
    w <- win(p)
    set.seed(2)
    # (midpoints of generic edges are off the edge by rounding, where the
    # two methods may legitimately differ: vertices only)
    x <- c(runif(2000, -130, 130), p$x[1:50])
    y <- c(runif(2000, -130, 130), p$y[1:50])
    got <- g_inside(w, x, y)
    expect_identical(got, wo_inside(x, y, w))
    expect_true(all(got[2001:2050]))
})

test_that("distance to the edge agrees with brute force and bdist.points", {
    p <- wo_polygon()
    w <- win(p)
    set.seed(12)
    x <- c(runif(2000, -3, 19), p$x)
    y <- c(runif(2000, -3, 11), p$y)
    d <- g_bdist(w, x, y)
    expect_equal(d, wo_bdist(x, y, w), tolerance = 1e-12)
    expect_identical(d[2000 + seq_len(nrow(p))], rep(0, nrow(p)))
    expect_identical(g_bdist(w, x, y, nthreads = 2L), d)
    # rectangle fast path
    r <- win(data.frame(x = c(0, 5, 5, 0), y = c(0, 0, 3, 3)))
    expect_equal(g_bdist(r, c(1, 4.5, 2.5, 7), c(1, 2, 1.5, 3)),
                 c(1, 0.5, 1.5, 2))
    skip_if_not_installed("spatstat.geom")
    ins <- g_inside(w, x, y)
    X <- spatstat.geom::ppp(x[ins], y[ins], window = wo_owin(w), check = FALSE)
    expect_equal(d[ins], spatstat.geom::bdist.points(X), tolerance = 1e-10)
})

test_that("cells_edge_distance() gives each cell's distance to its window", {
    df <- data.frame(x = c(1, 2, 9, 5, 1, 3), y = c(1, 4, 9, 5, 1, 2),
                     type = "A", image = rep(c("a", "b"), each = 3))
    sq <- data.frame(image = rep(c("a", "b"), each = 4),
                     x = c(0, 10, 10, 0, 0, 6, 6, 0),
                     y = c(0, 0, 10, 10, 0, 0, 6, 6))
    cells <- spatial_cells(df, image = "image", window = sq)
    expect_equal(immunoscape:::cells_edge_distance(cells),
                 c(1, 2, 1, 1, 1, 2))
})

test_that("circle fractions agree with numeric integration and spatstat", {
    p <- wo_polygon()
    w <- win(p)
    set.seed(13)
    x <- c(runif(12, 0, 10), 0, 10, 6, 3)
    y <- c(runif(12, 0, 5), 0, 4, 6.5, 1)
    r <- c(runif(12, 0.5, 6), 1, 2, 1.5, 1)
    f <- g_frac(w, x, y, r)
    expect_equal(f, wo_circle_frac(x, y, r, w), tolerance = 1e-3)
    # exact values: a corner, the middle of an edge, the edge of the hole,
    # a half-plane at distance d
    expect_equal(g_frac(w, 0, 0, 1), 0.25)
    expect_equal(g_frac(w, 8, 0, 1.5), 0.5)
    expect_equal(g_frac(w, 3, 1, 1), 0.5)
    expect_equal(g_frac(w, 8, 1.2, 1.5), 1 - acos(1.2 / 1.5) / pi)
    # r = 0: inside or not; a circle around everything: 0
    expect_identical(g_frac(w, c(3, 3), c(4, 2), 0), c(1, 0))
    expect_identical(g_frac(w, 5, 4, 1000), 0)
    expect_identical(g_frac(w, x, y, r, nthreads = 2L), f)
    skip_if_not_installed("spatstat.explore")
    ins <- g_inside(w, x, y)
    X <- spatstat.geom::ppp(x[ins], y[ins], window = wo_owin(w), check = FALSE)
    wt <- spatstat.explore::edge.Ripley(X, r[ins], maxweight = 1e6)
    expect_equal(1 / f[ins], as.vector(wt), tolerance = 1e-10)
})

test_that("circle fractions on a rectangle match spatstat's exact formula", {
    skip_if_not_installed("spatstat.explore")
    r <- win(data.frame(x = c(0, 50, 50, 0), y = c(0, 0, 30, 30)))
    set.seed(14)
    x <- c(runif(300, 0, 50), 0, 50, 25)
    y <- c(runif(300, 0, 30), 0, 30, 0)
    rr <- runif(length(x), 0, 40)
    X <- spatstat.geom::ppp(x, y, c(0, 50), c(0, 30))
    wt <- spatstat.explore::edge.Ripley(X, rr, maxweight = 1e9)
    # (circles wholly outside: fraction 0, spatstat caps the weight)
    expect_equal(pmin(1 / g_frac(r, x, y, rr), 1e9), as.vector(wt),
                 tolerance = 1e-10)
})

test_that("overlap of W and shifted W is exact on collinear edges", {
    # integer vertices, shifts by halves: counted exactly on 0.5 squares
    p <- data.frame(polygon = 1, ring = rep(1:2, c(8, 4)),
                    hole = rep(c(FALSE, TRUE), c(8, 4)),
                    x = c(0, 6, 6, 4, 4, 2, 2, 0, 1, 1, 3, 3),
                    y = c(0, 0, 5, 5, 2, 2, 5, 5, 0.5, 1.5, 1.5, 0.5))
    w <- win(p)
    shifts <- rbind(c(1, 0), c(0, 1), c(2, 3), c(-2, 0), c(0.5, 0),
                    c(1, 1), c(-1, 1), c(0.5, -1.5), c(4, 0), c(2, 2),
                    c(0, 0))
    got <- g_overlap(w, shifts[, 1], shifts[, 2])
    want <- apply(shifts, 1, function(s) wo_overlap_squares(w, s[1], s[2]))
    expect_equal(got, want, tolerance = 1e-12)
    expect_equal(got[11], unname(window_area(w)))
    # symmetric, zero beyond the extent
    expect_equal(g_overlap(w, -shifts[, 1], -shifts[, 2]), got)
    expect_identical(g_overlap(w, c(6, 0), c(0, -5)), c(0, 0))
    expect_identical(g_overlap(w, shifts[, 1], shifts[, 2], nthreads = 2L),
                     got)
    # rectangle: closed form
    r <- win(data.frame(x = c(0, 5, 5, 0), y = c(0, 0, 3, 3)))
    expect_equal(g_overlap(r, c(1, -2, 0.5), c(1, 0.5, -3)),
                 c(4 * 2, 3 * 2.5, 0))
})

test_that("overlap matches spatstat on polygons with holes", {
    skip_if_not_installed("spatstat.geom")
    w <- win(wo_polygon())
    W <- wo_owin(w)
    set.seed(15)
    dx <- c(runif(25, -12, 12), 1, 0, 4)
    dy <- c(runif(25, -6, 6), 0, 2, 3)
    got <- g_overlap(w, dx, dy)
    want <- vapply(seq_along(dx), function(k) {
        spatstat.geom::overlap.owin(W, spatstat.geom::shift(W, c(dx[k], dy[k])))
    }, numeric(1))
    # spatstat clips through polyclip on a snapped integer grid
    expect_equal(got, want, tolerance = 1e-7)
})

test_that("the concave window follows the tissue, with a hole at a vessel", {
    tis <- wo_tissue()
    cells <- spatial_cells(tis$cells, window = "concave")
    w <- get_window(cells)
    expect_s3_class(w, "tissue_window")
    expect_true(all(immunoscape:::cells_in_window(cells)))
    expect_true(any(w$hole))
    # hole at the vessel, notch cut out, tissue kept
    expect_identical(g_inside(w, c(1000, 1550, 300, 1550),
                              c(700, 1300, 300, 600)),
                     c(FALSE, FALSE, TRUE, TRUE))
    a <- unname(window_area(w))
    expect_lt(abs(a / tis$area - 1), 0.03)
    # outer rings counter-clockwise, holes clockwise
    ra <- wo_ring_areas(w)
    hole <- tapply(w$hole, paste(w$polygon, w$ring), `[`, 1)[names(ra)]
    expect_true(all(ra[hole] < 0) && all(ra[!hole] > 0))
    # the same window for any number of threads
    w2 <- withr::with_options(list(immunoscape.threads = 2L),
                              tissue_window(cells, "concave"))
    w1 <- withr::with_options(list(immunoscape.threads = 1L),
                              tissue_window(cells, "concave"))
    expect_identical(w1, w2)
    expect_identical(w1, w)
})

test_that("the concave window does not depend on where the slide sits", {
    set.seed(5)
    d <- data.frame(x = runif(400, 0, 500), y = runif(400, 0, 500),
                    type = "A")
    w0 <- tissue_window(spatial_cells(d), "concave")
    for (off in c(1e4, 1e7)) {
        d2 <- transform(d, x = x + off, y = y + off)
        w <- tissue_window(spatial_cells(d2), "concave")
        expect_identical(nrow(w), nrow(w0))
        expect_equal(w$x - off, w0$x, tolerance = 1e-9)
        expect_equal(unname(window_area(w)), unname(window_area(w0)),
                     tolerance = 1e-9)
    }
})

test_that("the concave radius sets the scale of holes and notches", {
    tis <- wo_tissue(seed = 2)
    cells <- spatial_cells(tis$cells, window = "rectangle")
    big <- tissue_window(cells, "concave", radius = 300)
    expect_false(any(big$hole))          # a 400 um vessel closes at r = 300
    expect_true(g_inside(big, 1000, 700))
    small <- tissue_window(cells, "concave", radius = 60)
    expect_true(any(small$hole))
    expect_gt(window_area(big), window_area(small))
    expect_error(tissue_window(cells, "concave", radius = -1),
                 class = "immunoscape_error_radius")
    expect_error(tissue_window(cells, "concave", radius = 0),
                 class = "immunoscape_error_radius")
    # sparse stray cells get their own small pieces, still inside
    df <- rbind(tis$cells, data.frame(x = 3000, y = 3000, type = "tumor"))
    stray <- spatial_cells(df, window = "concave")
    expect_true(all(immunoscape:::cells_in_window(stray)))
    expect_gt(length(unique(get_window(stray)$polygon)), 1)
})

test_that("user polygons: closed rings accepted, malformed ones rejected", {
    sq <- data.frame(x = c(0, 4, 4, 0, 0), y = c(0, 0, 4, 4, 0))
    expect_identical(nrow(win(sq)), 4L)
    expect_equal(unname(window_area(win(sq))), 16)
    err <- "immunoscape_error_window"
    line <- data.frame(x = c(0, 1, 2), y = c(0, 1, 2))
    expect_error(win(line), class = err)
    expect_error(win(data.frame(x = c(0, 1), y = c(0, 1))), class = err)
    bowtie <- data.frame(x = c(0, 2, 2, 0), y = c(0, 2, 0, 2))
    expect_error(win(bowtie), class = err)
    outside_hole <- rbind(
        data.frame(polygon = 1, ring = 1, hole = FALSE, x = c(0, 4, 4, 0),
                   y = c(0, 0, 4, 4)),
        data.frame(polygon = 1, ring = 2, hole = TRUE, x = c(5, 6, 6, 5),
                   y = c(1, 1, 2, 2)))
    expect_error(win(outside_hole), class = err)
    orphan <- outside_hole
    orphan$polygon[orphan$hole] <- 2
    expect_error(win(orphan), class = err)
    nested <- rbind(
        data.frame(polygon = 1, x = c(0, 4, 4, 0), y = c(0, 0, 4, 4)),
        data.frame(polygon = 2, x = c(1, 2, 2, 1), y = c(1, 1, 2, 2)))
    expect_error(win(nested), class = err)
    # the same two rings as rings of one polygon, the inner one not a hole:
    # its area would count twice
    nested1 <- transform(nested, polygon = 1, ring = rep(1:2, each = 4))
    expect_error(win(nested1), class = err, regexp = "ring 2 of polygon 1")
    # an island in a hole of its own polygon, and two pieces of one
    # polygon side by side, are fine
    island <- rbind(
        data.frame(polygon = 1, ring = 1, hole = FALSE, x = c(0, 6, 6, 0),
                   y = c(0, 0, 6, 6)),
        data.frame(polygon = 1, ring = 2, hole = TRUE, x = c(1, 5, 5, 1),
                   y = c(1, 1, 5, 5)),
        data.frame(polygon = 1, ring = 3, hole = FALSE, x = c(2, 3, 3, 2),
                   y = c(2, 2, 3, 3)))
    expect_equal(unname(window_area(win(island))), 36 - 16 + 1)
    apart <- transform(nested1, x = x + ifelse(ring == 2, 10, 0))
    expect_equal(unname(window_area(win(apart))), 17)
    expect_error(win(data.frame(x = c(0, 1, NA), y = c(0, 1, 1))), class = err)
    expect_error(win(data.frame(x = c(0, 1, 1), y = c(0, 0, 1), hole = NA)),
                 class = err)
    df <- data.frame(x = c(1, 2, 3), y = c(1, 2, 1), type = "A")
    expect_error(spatial_cells(df, window = line), class = err)
    expect_error(spatial_cells(df, window = list(1)), class = err)
    # holes inside outer rings are fine
    ok <- outside_hole
    ok$x[5:8] <- c(1, 2, 2, 1)
    expect_equal(unname(window_area(win(ok))), 15)
})

test_that("sf polygons and multipolygons become windows", {
    skip_if_not_installed("sf")
    outer <- rbind(c(0, 0), c(10, 0), c(10, 8), c(0, 8), c(0, 0))
    hole <- rbind(c(2, 2), c(2, 4), c(4, 4), c(4, 2), c(2, 2))
    tri <- rbind(c(12, 0), c(15, 0), c(12, 3), c(12, 0))
    poly <- sf::st_polygon(list(outer, hole))
    mp <- sf::st_multipolygon(list(list(outer, hole), list(tri)))
    w <- immunoscape:::as_window(sf::st_sfc(mp))
    expect_equal(unname(window_area(w)), as.numeric(sf::st_area(mp)))
    expect_identical(sum(w$hole), 4L)
    expect_equal(unname(window_area(immunoscape:::as_window(poly))), 76)
    # one feature per image
    s <- sf::st_sf(image = c("a", "b"),
                   geometry = sf::st_sfc(poly, sf::st_polygon(list(tri))))
    df <- data.frame(x = c(5, 6, 7, 12.5, 13, 12.2), y = c(5, 6, 1, 0.5, 1, 2),
                     type = "A", image = rep(c("a", "b"), each = 3))
    cells <- spatial_cells(df, image = "image", window = s)
    expect_equal(unname(window_area(cells)), c(76, 4.5))
    line <- sf::st_sfc(sf::st_linestring(outer))
    expect_error(immunoscape:::as_window(line),
                 class = "immunoscape_error_window")
})

test_that("window errors name the ring and the fix", {
    df <- data.frame(x = c(1, 2, 3), y = c(1, 2, 1), type = "A")
    cells <- spatial_cells(df)
    bowtie <- data.frame(x = c(0, 2, 2, 0), y = c(0, 2, 0, 2))
    expect_snapshot(set_window(cells, bowtie), error = TRUE)
    outside_hole <- rbind(
        data.frame(polygon = 1, ring = 1, hole = FALSE, x = c(0, 4, 4, 0),
                   y = c(0, 0, 4, 4)),
        data.frame(polygon = 1, ring = 2, hole = TRUE, x = c(5, 6, 6, 5),
                   y = c(1, 1, 2, 2)))
    expect_snapshot(set_window(cells, outside_hole), error = TRUE)
    flat <- data.frame(x = c(0, 1, 2, 5, 5, 6), y = c(0, 1, 2, 0, 1, 0),
                       polygon = c(1, 1, 1, 2, 2, 2))
    expect_snapshot(set_window(cells, flat), error = TRUE)
    expect_snapshot(tissue_window(cells, "concave", radius = 0), error = TRUE)
})
