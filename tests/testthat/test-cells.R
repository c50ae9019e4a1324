test_that("spatial_cells builds the standard columns and keeps the rest", {
    df <- data.frame(px = c(10, 20, 30, 15), py = c(5, 25, 10, 30),
                     pheno = c("T", "B", "T", "M"), marker = 1:4,
                     sample = c("s1", "s1", "s1", "s1"))
    cells <- spatial_cells(df, x = "px", y = "py", type = "pheno",
                           image = "sample", pixel_size = 0.5)
    expect_s3_class(cells, "spatial_cells")
    expect_named(cells, c("cell_id", "image", "x", "y", "type", "marker"))
    expect_equal(cells$x, df$px * 0.5)
    expect_equal(cells$cell_id, 1:4)
    expect_true(is.factor(cells$type) && is.factor(cells$image))
    expect_equal(attr(cells, "units"), "um")
    w <- attr(cells, "windows")
    expect_s3_class(w, "tissue_window")
    expect_equal(unname(window_area(cells)),
                 abs(immunoscape:::ring_signed_area(df$px[chull(df$px, df$py)] * 0.5,
                                                    df$py[chull(df$px, df$py)] * 0.5)))
})

test_that("subsetting keeps the class, split() goes by image", {
    set.seed(1)
    df <- data.frame(x = runif(60), y = runif(60), type = rep(c("A", "B"), 30),
                     im = rep(c("a", "b", "c"), each = 20))
    cells <- spatial_cells(df, image = "im")
    s <- cells[cells$type == "A", ]
    expect_s3_class(s, "spatial_cells")
    expect_equal(nrow(s), 30)
    expect_identical(attr(s, "windows"), attr(cells, "windows"))
    expect_false(inherits(cells[, c("x", "y")], "spatial_cells"))
    one <- cells[3, c("x", "y")]
    expect_s3_class(one, "data.frame")
    expect_equal(nrow(one), 1)
    expect_identical(cells[, "x"], cells$x)
    expect_identical(cells[2:3, "type"], cells$type[2:3])
    expect_s3_class(cells[5, ], "spatial_cells")
    parts <- split(cells)
    expect_named(parts, c("a", "b", "c"))
    expect_true(all(vapply(parts, inherits, logical(1), "spatial_cells")))
    expect_equal(nrow(parts$b), 20)
    expect_equal(levels(attr(parts$b, "windows")$image), "b")
})

test_that("summary gives counts, area and density per image and type", {
    df <- data.frame(x = c(0, 1000, 1000, 0, 500), y = c(0, 0, 1000, 1000, 500),
                     type = c("A", "A", "B", "B", "B"))
    s <- summary(spatial_cells(df, window = "rectangle"))
    expect_s3_class(s, "summary_spatial_cells")
    expect_equal(s$n, c(2L, 3L))
    expect_equal(s$area_mm2, c(1, 1))
    expect_equal(s$density_mm2, c(2, 3))
})

test_that("bad input raises classed errors", {
    df <- data.frame(x = c(1, 2, 3), y = c(1, 3, 2), type = c("A", "B", "A"))
    expect_error(spatial_cells(df, x = "X"), class = "immunoscape_error_column")
    expect_error(spatial_cells(df, type = "phenotype"), class = "immunoscape_error_column")
    bad <- df
    bad$x <- c("1", "2", "a")
    expect_error(spatial_cells(bad), class = "immunoscape_error_coordinates")
    bad <- df
    bad$x[2] <- NA
    expect_error(spatial_cells(bad), class = "immunoscape_error_coordinates")
    bad$x[2] <- Inf
    expect_error(spatial_cells(bad), class = "immunoscape_error_coordinates")
    expect_error(spatial_cells(df[0, ]), class = "immunoscape_error_empty")
    bad <- df
    bad$type[1] <- NA
    expect_error(spatial_cells(bad), class = "immunoscape_error_type")
    bad <- df
    bad$id <- c(1, 1, 2)
    expect_error(spatial_cells(bad, cell_id = "id"), class = "immunoscape_error_cell_id")
    one <- data.frame(x = 1, y = 1, type = "A")
    expect_error(spatial_cells(one), class = "immunoscape_error_window")
    line <- data.frame(x = 1:5, y = 2 * (1:5), type = "A")
    expect_error(spatial_cells(line), class = "immunoscape_error_window")
    expect_error(spatial_cells(df, pixel_size = 0), class = "immunoscape_error_argument")
    expect_error(spatial_cells(df, window = "circle"), class = "immunoscape_error_window")
    expect_snapshot(spatial_cells(df, x = "X"), error = TRUE)
    expect_snapshot(spatial_cells(bad, cell_id = "id"), error = TRUE)
})

test_that("a degenerate image in a cohort loses its window, not the cohort", {
    set.seed(3)
    df <- data.frame(x = c(runif(200, 0, 200), 5, 1, 2),
                     y = c(runif(200, 0, 200), 5, 1, 2),
                     type = c(sample(c("A", "B"), 200, TRUE), "A", "A", "B"),
                     image = c(rep("good", 200), "one", "two", "two"))
    expect_warning(cells <- spatial_cells(df, image = "image"),
                   class = "immunoscape_warning_window")
    expect_identical(nrow(cells), 203L)
    a <- window_area(cells)
    expect_gt(a[["good"]], 0)
    expect_true(is.na(a[["one"]]) && is.na(a[["two"]]))
    s <- summary(cells)
    expect_true(all(is.na(s$density_mm2[s$image != "good"])))
    expect_true(all(s$density_mm2[s$image == "good"] > 0))
    # distances need no window: every image gets its rows
    nd <- nearest_distances(cells, to = "A")
    expect_identical(nrow(nd), 203L)
    expect_identical(nd$distance[nd$image == "two" & nd$from == "B"],
                     sqrt(2))
    if (requireNamespace("spatstat.geom", quietly = TRUE)) {
        expect_error(spatstat.geom::as.ppp(cells, image = "two"),
                     class = "immunoscape_error_window")
        expect_identical(spatstat.geom::npoints(
            spatstat.geom::as.ppp(cells, image = "good")), 200L)
    }
    if (requireNamespace("sf", quietly = TRUE)) {
        expect_identical(as.character(as_sf(get_window(cells))$image),
                         "good")
    }
    # area-based statistics leave those images out, with the reason
    expect_warning(k <- ripley_k(cells, "A", "B", r = seq(0, 20, 5)),
                   class = "immunoscape_warning_image_failed")
    expect_identical(as.character(unique(k$image)), "good")
    p <- attr(k, "problems")
    expect_setequal(as.character(p$image), c("one", "two"))
    expect_match(p$message, "no window")
    # every image degenerate: still an error
    expect_error(spatial_cells(df[201:203, ], image = "image"),
                 class = "immunoscape_error_window")
})

test_that("analyses re-check a spatial_cells edited after it was built", {
    withr::local_options(immunoscape.verbose = FALSE)
    set.seed(4)
    df <- data.frame(x = runif(200, 0, 200), y = runif(200, 0, 200),
                     type = sample(c("A", "B"), 200, TRUE))
    cells <- spatial_cells(df)
    cna <- cells
    cna$x[5] <- NA
    cinf <- cells
    cinf$y[7] <- Inf
    cnotype <- cells
    cnotype$type[3] <- NA
    empty <- cells[0, ]
    calls <- list(
        function(c) nearest_distances(c, to = "A"),
        function(c) count_neighbors(c, radius = 20),
        function(c) ripley_k(c, "A"),
        function(c) neighborhood_composition(c),
        function(c) interaction_test(c, nperm = 9),
        function(c) colocalization_quotient(c),
        function(c) mixing_score(c, "A", "B"),
        function(c) hotspots(c, "A"),
        function(c) plot_cells(c)
    )
    for (f in calls) {
        expect_error(f(cna), "row 5", class = "immunoscape_error_coordinates")
        expect_error(f(cinf), "row 7",
                     class = "immunoscape_error_coordinates")
        expect_error(f(cnotype), class = "immunoscape_error_type")
        expect_error(f(empty), class = "immunoscape_error_empty")
    }
    # integer coordinates assigned later are accepted as numbers
    cdbl <- cells
    cdbl$x <- round(cdbl$x)
    cint <- cdbl
    cint$x <- as.integer(cint$x)
    expect_identical(nearest_distances(cint, to = "A")$distance,
                     nearest_distances(cdbl, to = "A")$distance)
})

test_that("plain data frames are accepted and rebuilt once", {
    df <- data.frame(x = c(1, 2, 3), y = c(1, 3, 2), type = c("A", "B", "A"),
                     image = "i1")
    expect_message(res <- count_neighbors(df, radius = 5), "plain data frame")
    expect_s3_class(res, "neighbor_counts")
})

test_that("immunoscape_threads follows the option", {
    withr::local_options(immunoscape.threads = 1L)
    expect_identical(immunoscape_threads(), 1L)
})

test_that("subsetting drops NA rows, refuses repeats; rbind is refused", {
    df <- data.frame(x = c(1, 5, 3, 10, 12, 11), y = c(1, 1, 5, 1, 1, 6),
                     type = c("T", "B", "T", "B", "T", "B"),
                     image = rep(c("a", "b"), each = 3),
                     flag = c(TRUE, NA, TRUE, TRUE, NA, FALSE))
    sc <- spatial_cells(df, image = "image")
    s <- sc[sc$flag, ]
    expect_equal(nrow(s), 3L)
    expect_false(anyNA(s$x))
    expect_equal(nrow(sc[c(1, NA, 4), ]), 2L)
    expect_error(sc[c(1, 1), ], class = "immunoscape_error_argument")
    expect_error(rbind(sc[sc$image == "a", ], sc[sc$image == "b", ]),
                 "as.data.frame", class = "immunoscape_error_argument")
    # a window for the images with cells, after subsetting
    a <- sc[sc$image == "a", ]
    w <- set_window(a, data.frame(x = c(0, 30, 30, 0), y = c(0, 0, 10, 10)))
    expect_equal(unname(window_area(w)["a"]), 300)
    expect_output(print(w), "window area 3e-04 mm\\^2")
    w2 <- set_window(a, data.frame(image = "a", x = c(0, 30, 30, 0),
                                   y = c(0, 0, 10, 10)))
    expect_equal(unname(window_area(w2)["a"]), 300)
})

test_that("no window for two cells or a line, whatever the method", {
    deg <- rbind(data.frame(x = c(0, 10, 10, 0), y = c(0, 0, 10, 10),
                            type = "A", image = "ok"),
                 data.frame(x = c(1, 2), y = c(1, 2), type = "A",
                            image = "two"),
                 data.frame(x = 1:5, y = 1:5 * 0.5 + 2, type = "A",
                            image = "line"))
    for (m in c("convex", "rectangle", "concave")) {
        expect_warning(cells <- spatial_cells(deg, image = "image",
                                              window = m),
                       class = "immunoscape_warning_window")
        a <- window_area(cells)
        expect_gt(a[["ok"]], 0)
        expect_true(is.na(a[["two"]]))
        expect_true(is.na(a[["line"]]))
    }
})
