
# A window with a hole and a second piece, and points inside it.
holed_window <- function() {
    spatstat.geom::owin(poly = list(
        list(x = c(0, 100, 100, 0), y = c(0, 0, 80, 80)),
        list(x = c(30, 30, 60, 60), y = c(20, 50, 50, 20)),
        list(x = c(150, 190, 170), y = c(0, 0, 60))
    ))
}
grid_points <- function(W, step = 7) {
    g <- expand.grid(x = seq(1, 199, by = step), y = seq(1, 79, by = step))
    ok <- spatstat.geom::inside.owin(g$x, g$y, W)
    g <- g[ok, ]
    types <- factor(rep(c("T", "B", "Tumor"), length.out = nrow(g)))
    spatstat.geom::ppp(g$x, g$y, window = W, marks = types)
}

test_that("ppp -> cells -> ppp keeps points, marks, window (amacrine)", {
    skip_if_not_installed("spatstat.geom")
    skip_if_not_installed("spatstat.data")
    amacrine <- spatstat.data::amacrine
    # in the pattern's own unit (662 microns: far too dense for microns,
    # which the units warning says)
    expect_warning(cells <- as_spatial_cells(amacrine, pixel_size = 1),
                   "another unit", class = "immunoscape_warning_units")
    expect_s3_class(cells, "spatial_cells")
    expect_equal(nrow(cells), amacrine$n)
    expect_identical(cells$x, amacrine$x)
    expect_identical(cells$type, spatstat.geom::marks(amacrine))
    back <- spatstat.geom::as.ppp(cells)
    expect_identical(back$x, amacrine$x)
    expect_identical(back$y, amacrine$y)
    expect_identical(spatstat.geom::marks(back), spatstat.geom::marks(amacrine))
    expect_identical(back$window$type, "rectangle")
    expect_identical(back$window$xrange, amacrine$window$xrange)
    expect_identical(back$window$yrange, amacrine$window$yrange)
    expect_equal(unname(window_area(cells)),
                 spatstat.geom::area(amacrine), tolerance = 1e-14)
    # by default, converted to microns from the unit (one unit = 662 um)
    um <- as_spatial_cells(amacrine)
    ref <- spatstat.geom::rescale(amacrine)
    expect_equal(um$x, ref$x, tolerance = 1e-14)
    expect_equal(um$y, ref$y, tolerance = 1e-14)
    expect_equal(unname(window_area(um)), spatstat.geom::area(ref),
                 tolerance = 1e-14)
    expect_equal(attr(um, "pixel_size"), 662)
    expect_equal(spatstat.geom::unitname(spatstat.geom::as.ppp(um))[[1]],
                 "micron")
})

test_that("data frame marks: type chosen, the rest kept (betacells)", {
    skip_if_not_installed("spatstat.geom")
    skip_if_not_installed("spatstat.data")
    beta <- spatstat.data::betacells
    cells <- as_spatial_cells(beta)
    m <- spatstat.geom::marks(beta)
    expect_identical(cells$type, m$type)
    expect_identical(cells$area, m$area)
    expect_identical(cells$x, beta$x)
    back <- spatstat.geom::as.ppp(cells)
    expect_identical(spatstat.geom::marks(back), m$type)
    expect_identical(back$window$xrange, beta$window$xrange)
    expect_identical(back$window$yrange, beta$window$yrange)
    # explicit type column; numeric marks alone give "unassigned"
    b2 <- beta
    spatstat.geom::marks(b2) <- data.frame(area = m$area,
                                           kind = as.character(m$type))
    expect_identical(as.character(as_spatial_cells(b2, type = "kind")$type),
                     as.character(m$type))
    expect_error(as_spatial_cells(b2, type = "nope"),
                 class = "immunoscape_error_column")
    b3 <- beta
    spatstat.geom::marks(b3) <- m$area
    c3 <- quiet(as_spatial_cells(b3))
    expect_true(all(c3$type == "unassigned"))
    expect_identical(c3$marks, m$area)
    expect_error(as_spatial_cells(beta, types = "type"),
                 class = "immunoscape_error_argument")
})

test_that("polygon windows with holes and several pieces survive exactly", {
    skip_if_not_installed("spatstat.geom")
    W <- holed_window()
    P <- grid_points(W)
    cells <- as_spatial_cells(P, image = "field")
    expect_equal(levels(cells$image), "field")
    w <- get_window(cells)
    expect_equal(sum(w$hole), 4L)
    expect_equal(length(unique(w$polygon)), 2L)
    expect_equal(unname(window_area(cells)), spatstat.geom::area(W))
    expect_equal(unname(window_area(cells)), 100 * 80 - 30 * 30 + 40 * 60 / 2)
    back <- spatstat.geom::as.ppp(cells)
    expect_identical(back$x, P$x)
    expect_identical(back$y, P$y)
    expect_identical(spatstat.geom::marks(back), spatstat.geom::marks(P))
    expect_identical(spatstat.geom::area(back), spatstat.geom::area(W))
    # same rings, same vertices
    key <- function(b) {
        sort(vapply(b, function(r) paste(sort(paste(r$x, r$y)),
                                         collapse = ";"), ""))
    }
    expect_identical(key(back$window$bdry), key(W$bdry))
    # a point in the hole is outside the round-tripped window too
    expect_false(spatstat.geom::inside.owin(45, 35, back$window))
    expect_true(spatstat.geom::inside.owin(10, 10, back$window))
})

test_that("as.ppp picks one image and accepts a replacement window", {
    skip_if_not_installed("spatstat.geom")
    set.seed(2)
    df <- data.frame(x = runif(60, 0, 50), y = runif(60, 0, 40),
                     type = sample(c("A", "B", "C"), 60, TRUE),
                     im = rep(c("p1", "p2"), each = 30))
    cells <- spatial_cells(df, image = "im")
    expect_error(spatstat.geom::as.ppp(cells),
                 class = "immunoscape_error_argument")
    expect_error(spatstat.geom::as.ppp(cells, image = "p3"),
                 class = "immunoscape_error_argument")
    expect_null(spatstat.geom::as.ppp(cells, fatal = FALSE))
    p2 <- spatstat.geom::as.ppp(cells, image = "p2")
    expect_equal(p2$n, 30L)
    expect_identical(p2$x, df$x[31:60])
    # marks keep the levels of the whole object
    expect_identical(levels(spatstat.geom::marks(p2)), c("A", "B", "C"))
    # the convex window, as a polygon of the same area
    expect_equal(spatstat.geom::area(p2), unname(window_area(cells)["p2"]))
    sq <- spatstat.geom::owin(c(0, 50), c(0, 40))
    p2w <- spatstat.geom::as.ppp(cells, W = sq, image = "p2")
    expect_equal(spatstat.geom::area(p2w), 2000)
})

test_that("as_sf gives points and polygons with holes", {
    skip_if_not_installed("sf")
    skip_if_not_installed("spatstat.geom")
    cells <- as_spatial_cells(grid_points(holed_window()))
    pts <- as_sf(cells)
    expect_s3_class(pts, "sf")
    expect_equal(nrow(pts), nrow(cells))
    xy <- sf::st_coordinates(pts)
    expect_identical(unname(xy[, 1]), cells$x)
    expect_identical(unname(xy[, 2]), cells$y)
    expect_true(all(sf::st_geometry_type(pts) == "POINT"))
    expect_identical(pts$type, cells$type)

    w <- get_window(cells)
    poly <- as_sf(w)
    expect_equal(nrow(poly), 1L)
    expect_equal(as.character(sf::st_geometry_type(poly)), "MULTIPOLYGON")
    expect_equal(as.numeric(sf::st_area(poly)), unname(window_area(w)))
    # back to a window: the same vertices
    w2 <- as_window(poly)
    expect_equal(as.data.frame(w2)[c("polygon", "hole", "x", "y")],
                 as.data.frame(w)[c("polygon", "hole", "x", "y")])
    expect_equal(window_area(w2), window_area(w))
    # one piece per image: POLYGON
    df <- data.frame(x = c(0, 10, 10, 0, 5, 20, 30, 25),
                     y = c(0, 0, 10, 10, 5, 0, 0, 9),
                     type = "A", im = rep(c("a", "b"), c(5, 3)))
    two <- spatial_cells(df, image = "im")
    p2 <- as_sf(get_window(two))
    expect_equal(as.character(sf::st_geometry_type(p2)),
                 c("POLYGON", "POLYGON"))
    expect_equal(as.numeric(sf::st_area(p2)), c(100, 45))
    expect_equal(window_area(as_window(p2)), window_area(two))
    expect_error(as_sf(1), class = "immunoscape_error_argument")
    expect_error(as_window(sf::st_sfc(sf::st_point(c(1, 2)))),
                 class = "immunoscape_error_window")
})

test_that("SingleCellExperiment round trip and coordinate sources", {
    skip_if_not_installed("SingleCellExperiment")
    skip_if_not_installed("S4Vectors")
    set.seed(4)
    df <- data.frame(x = runif(80, 0, 300), y = runif(80, 0, 200),
                     type = sample(c("T", "B", "Tumor"), 80, TRUE),
                     image = rep(c("f1", "f2"), each = 40),
                     area = runif(80, 20, 60))
    cells <- spatial_cells(df, image = "image")
    counts <- matrix(rpois(3 * 80, 4), 3,
                     dimnames = list(c("CD3", "CD20", "PanCK"), NULL))
    sce <- SingleCellExperiment::SingleCellExperiment(
        assays = list(counts = counts),
        colData = S4Vectors::DataFrame(as.data.frame(cells),
                                       check.names = FALSE)
    )
    back <- as_spatial_cells(sce)
    expect_equal(as.data.frame(back), as.data.frame(cells))
    expect_equal(window_area(back), window_area(cells))

    # sample_id (SpatialExperiment's image), colnames as ids, an assay
    cd <- S4Vectors::DataFrame(Pos_X = df$x, Pos_Y = df$y,
                               cell_type = df$type, sample_id = df$image)
    sce2 <- SingleCellExperiment::SingleCellExperiment(
        assays = list(counts = counts), colData = cd
    )
    colnames(sce2) <- paste0("cell", 1:80)
    got <- as_spatial_cells(sce2, assay = "counts")
    expect_identical(got$x, df$x)
    expect_identical(as.character(got$type), df$type)
    expect_identical(as.character(got$image), df$image)
    expect_identical(got$cell_id, paste0("cell", 1:80))
    expect_identical(got$CD20, counts["CD20", ])
    expect_false(any(c("Pos_X", "Pos_Y") %in% names(got)))

    # explicit colData columns
    expl <- as_spatial_cells(sce2, coords = c("Pos_X", "Pos_Y"),
                             type = "sample_id", image = NULL)
    expect_identical(expl$x, df$x)
    expect_identical(as.character(expl$type), df$image)

    # errors
    bare <- SingleCellExperiment::SingleCellExperiment(
        assays = list(counts = counts),
        colData = S4Vectors::DataFrame(kind = df$type)
    )
    expect_error(as_spatial_cells(bare), class = "immunoscape_error_column")
    expect_error(as_spatial_cells(sce2, coords = "Pos_X"),
                 class = "immunoscape_error_column")
    expect_error(as_spatial_cells(sce2, coords = c("Pos_X", "nope")),
                 class = "immunoscape_error_column")
    expect_error(as_spatial_cells(sce2, type = "celltype"),
                 class = "immunoscape_error_column")
    expect_error(as_spatial_cells(sce2, assy = "counts"),
                 class = "immunoscape_error_argument")
    # no type column: unassigned, with a message
    untyped <- SingleCellExperiment::SingleCellExperiment(
        assays = list(counts = counts),
        colData = S4Vectors::DataFrame(x = df$x, y = df$y)
    )
    expect_message(u <- as_spatial_cells(untyped), "unassigned")
    expect_true(all(u$type == "unassigned"))
})

test_that("a real SpatialExperiment converts through spatialCoords", {
    skip_if_not_installed("SpatialExperiment")
    set.seed(5)
    n <- 50
    xy <- cbind(x = runif(n, 0, 100), y = runif(n, 0, 100))
    spe <- SpatialExperiment::SpatialExperiment(
        assays = list(counts = matrix(0L, 2, n)),
        colData = S4Vectors::DataFrame(cell_type = rep(c("A", "B"), 25)),
        spatialCoords = xy, sample_id = "s1"
    )
    cells <- as_spatial_cells(spe)
    expect_identical(cells$x, unname(xy[, 1]))
    expect_identical(levels(cells$image), "s1")
    expect_identical(as.character(cells$type), rep(c("A", "B"), 25))
    # spatialCoords come first; named colData columns win over them
    spe$Pos_X <- xy[, 1] / 2
    spe$Pos_Y <- xy[, 2] / 2
    expect_identical(quiet(as_spatial_cells(spe))$x, unname(xy[, 1]))
    expl <- quiet(as_spatial_cells(spe, coords = c("Pos_X", "Pos_Y")))
    expect_identical(expl$x, unname(xy[, 1]) / 2)
})
