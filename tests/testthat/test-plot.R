# plot_cells() and the autoplot() methods, checked through layer_data().

plot_fixture <- function(n = 300, images = c("a", "b", "c"),
                         types = c("Tumor", "CD8 T", "other")) {
    set.seed(42)
    df <- data.frame(x = runif(n, 0, 500), y = runif(n, 0, 300),
                     type = sample(types, n, TRUE),
                     im = sample(images, n, TRUE),
                     marker = rexp(n))
    spatial_cells(df, image = "im")
}

is_grey <- function(col) {
    rgb <- grDevices::col2rgb(col)
    apply(rgb, 2, function(v) max(v) - min(v) < 8)
}

test_that("plot_cells draws one point per cell and one panel per image", {
    cells <- plot_fixture()
    p <- plot_cells(cells)
    expect_s3_class(p, "ggplot")
    pts <- ggplot2::layer_data(p, 1)
    expect_equal(nrow(pts), nrow(cells))
    expect_equal(length(unique(pts$PANEL)), 3L)
    # y reversed by default (image orientation), not with flip_y = FALSE
    expect_equal(sort(pts$y), sort(-cells$y))
    pts2 <- ggplot2::layer_data(plot_cells(cells, flip_y = FALSE), 1)
    expect_equal(sort(pts2$y), sort(cells$y))
    expect_equal(sort(pts2$x), sort(cells$x))

    one <- plot_cells(cells, images = "b")
    d1 <- ggplot2::layer_data(one, 1)
    expect_equal(nrow(d1), sum(cells$image == "b"))
    expect_equal(length(unique(d1$PANEL)), 1L)
    d2 <- ggplot2::layer_data(plot_cells(cells, images = c(1, 3)), 1)
    expect_equal(nrow(d2), sum(cells$image %in% c("a", "c")))
    expect_equal(length(unique(d2$PANEL)), 2L)
})

test_that("plot_cells draws every window ring as a closed path, holes too", {
    w <- rbind(
        data.frame(image = "A", polygon = 1, ring = 1, hole = FALSE,
                   x = c(0, 500, 500, 0), y = c(0, 0, 400, 400)),
        data.frame(image = "A", polygon = 1, ring = 2, hole = TRUE,
                   x = c(150, 150, 300, 300), y = c(100, 250, 250, 100)),
        data.frame(image = "A", polygon = 2, ring = 3, hole = FALSE,
                   x = c(550, 700, 620), y = c(50, 50, 300))
    )
    df <- data.frame(x = c(10, 400, 50, 450, 600, 640),
                     y = c(10, 20, 350, 380, 60, 100),
                     type = c("A", "B", "A", "B", "A", "B"), image = "A")
    cells <- spatial_cells(df, image = "image", window = w)
    p <- plot_cells(cells, flip_y = FALSE)
    path <- ggplot2::layer_data(p, 2)
    rings <- split(path, path$group)
    expect_length(rings, 3L)
    expect_equal(unname(sort(vapply(rings, nrow, integer(1)))), c(4L, 5L, 5L))
    for (r in rings) {
        expect_equal(r$x[1], r$x[nrow(r)])
        expect_equal(r$y[1], r$y[nrow(r)])
    }
    # the hole's vertices are all drawn
    expect_true(all(c(150, 300) %in% path$x))
    expect_length(p$layers, 2L)
    expect_length(plot_cells(cells, window = FALSE)$layers, 1L)

    # autoplot of the window: filled polygon with the hole as a subgroup
    wp <- autoplot(get_window(cells), flip_y = FALSE)
    poly <- ggplot2::layer_data(wp, 1)
    expect_equal(nrow(poly), nrow(get_window(cells)))
    expect_equal(length(unique(poly$group)), 2L)
    expect_equal(length(unique(paste(poly$group, poly$subgroup))), 3L)
    expect_equal(length(unique(ggplot2::layer_data(wp, 2)$group)), 3L)
})

test_that("the default palette gives >= 12 distinct colours and greys", {
    types <- c("Tumor", "CD8 T", "CD4 T", "Treg", "B cell", "M1", "M2",
               "DC", "NK", "Neutrophil", "Endothelial", "Fibroblast",
               "Plasma", "Mast", "other")
    cells <- plot_fixture(n = 600, images = "a", types = types)
    pts <- ggplot2::layer_data(plot_cells(cells), 1)
    col_of <- tapply(pts$colour, cells$type[match(
        paste(pts$x, -pts$y), paste(cells$x, cells$y))], unique)
    expect_true(all(lengths(col_of) == 1L))
    col_of <- unlist(col_of)
    expect_gte(length(unique(col_of[names(col_of) != "other"])), 12L)
    expect_true(is_grey(col_of[["other"]]))
    expect_false(any(is_grey(col_of[names(col_of) != "other"])))

    pal <- immunoscape:::type_palette(c("CD3+ other T", "Other/unclassified",
                                        "negative", "Unknown", "Other",
                                        "Tumor (CK+)", "Stroma (unphenotyped)"))
    grey <- is_grey(pal)
    names(grey) <- names(pal)
    expect_equal(unname(grey), c(FALSE, TRUE, TRUE, TRUE, TRUE, FALSE, FALSE))
    # more types than the fixed palette: still distinct
    many <- immunoscape:::type_palette(paste0("t", 1:30))
    expect_equal(length(unique(many)), 30L)
    # user colours override
    pal2 <- immunoscape:::type_palette(c("A", "B"), c(B = "#000000"))
    expect_equal(unname(pal2[["B"]]), "#000000")
    expect_error(plot_cells(cells, palette = c("red")),
                 class = "immunoscape_error_argument")
})

test_that("a type keeps its colour whichever images are drawn", {
    cells <- plot_fixture(types = c("A", "B", "C", "D"))
    cells <- cells[!(cells$image == "a" & cells$type == "A"), ]
    all_pts <- ggplot2::layer_data(plot_cells(cells, flip_y = FALSE), 1)
    a_pts <- ggplot2::layer_data(plot_cells(cells, images = "a",
                                            flip_y = FALSE), 1)
    key <- function(d) paste(d$x, d$y)
    m <- match(key(a_pts), key(all_pts))
    expect_false(anyNA(m))
    expect_equal(a_pts$colour, all_pts$colour[m])
})

test_that("highlight shows the chosen types over grey others", {
    cells <- plot_fixture(types = c("Tumor", "CD8 T", "B cell"))
    p <- plot_cells(cells, highlight = "CD8 T", flip_y = FALSE)
    pts <- ggplot2::layer_data(p, 1)
    ty <- cells$type[match(paste(pts$x, pts$y), paste(cells$x, cells$y))]
    expect_true(all(is_grey(pts$colour[ty != "CD8 T"])))
    expect_false(any(is_grey(pts$colour[ty == "CD8 T"])))
    # greys are drawn first (beneath)
    expect_true(all(diff(ty == "CD8 T") >= 0))
    expect_error(plot_cells(cells, highlight = "CD8"),
                 class = "immunoscape_error_argument")
    expect_error(plot_cells(cells, color_by = "marker", highlight = "x"),
                 class = "immunoscape_error_argument")
})

test_that("numeric color_by uses a continuous scale", {
    cells <- plot_fixture()
    p <- plot_cells(cells, color_by = "marker")
    sc <- p$scales$get_scales("colour")
    expect_true(inherits(sc, "ScaleContinuous"))
    pts <- ggplot2::layer_data(p, 1)
    expect_equal(nrow(pts), nrow(cells))
    expect_gt(length(unique(pts$colour)), 50L)
    expect_true(inherits(plot_cells(cells)$scales$get_scales("colour"),
                         "ScaleDiscrete"))
})

test_that("data = joins a per-cell result by image and cell_id", {
    cells <- plot_fixture()
    n <- count_neighbors(cells, radius = 60, from = "Tumor", to = "CD8 T")
    p <- plot_cells(cells, color_by = "count", data = n)
    d <- p$data
    expect_equal(nrow(d), nrow(cells))
    m <- match(paste(d$image, d$cell_id), paste(n$image, n$cell_id))
    expect_equal(d$.value, n$count[m])
    expect_true(all(is.na(d$.value[d$type != "Tumor"])))
    expect_true(all(!is.na(d$.value[d$type == "Tumor"])))

    # a neighbourhood-like result: a discrete column joined the same way
    nb <- data.frame(image = cells$image, cell_id = cells$cell_id,
                     neighborhood = factor(paste0("CN", cells$cell_id %% 4)))
    nb <- nb[sample(nrow(nb)), ]
    p2 <- plot_cells(cells, color_by = "neighborhood", data = nb)
    d2 <- p2$data
    m2 <- match(paste(d2$image, d2$cell_id), paste(nb$image, nb$cell_id))
    expect_equal(as.character(d2$.value), as.character(nb$neighborhood[m2]))
    pts <- ggplot2::layer_data(p2, 1)
    expect_equal(length(unique(pts$colour)), 4L)
    # columns of cells still work when data lacks them
    expect_s3_class(plot_cells(cells, color_by = "type", data = nb), "ggplot")

    # an object with an as.data.frame() method
    obj <- structure(nb, class = c("fake_result", "data.frame"))
    expect_s3_class(plot_cells(cells, color_by = "neighborhood", data = obj),
                    "ggplot")
})

test_that("bad arguments raise classed errors", {
    cells <- plot_fixture()
    expect_error(plot_cells(cells, color_by = "nope"),
                 class = "immunoscape_error_column")
    nb <- data.frame(image = cells$image, cell_id = cells$cell_id, v = 1)
    expect_error(plot_cells(cells, color_by = "nope", data = nb),
                 class = "immunoscape_error_column")
    expect_error(plot_cells(cells, color_by = "v", data = nb[, -2]),
                 class = "immunoscape_error_column")
    d <- nearest_distances(cells, from = "Tumor", to = c("CD8 T", "other"))
    expect_error(plot_cells(cells, color_by = "distance", data = d),
                 class = "immunoscape_error_argument")
    expect_error(plot_cells(cells, images = "z"),
                 class = "immunoscape_error_argument")
    expect_error(plot_cells(cells, images = 4),
                 class = "immunoscape_error_argument")
    expect_error(plot_cells(cells, point_size = -1),
                 class = "immunoscape_error_argument")
    expect_error(plot_cells(cells, colour_by = "type"),
                 class = "immunoscape_error_argument")
    expect_error(plot_cells(cells, flip_y = NA),
                 class = "immunoscape_error_argument")
})

test_that("point size shrinks as cells per panel grow", {
    s <- vapply(c(1e2, 1e3, 1e4, 1e5, 1e6), immunoscape:::default_point_size,
                numeric(1))
    expect_true(all(diff(s) <= 0))
    expect_lt(s[4], 0.5)
    expect_gt(s[1], 2)
    cells <- plot_fixture()
    expect_equal(unique(ggplot2::layer_data(plot_cells(cells, point_size = 2),
                                            1)$size), 2)
})

test_that("autoplot methods build and show the data they are given", {
    cells <- plot_fixture()
    expect_equal(nrow(ggplot2::layer_data(autoplot(cells), 1)), nrow(cells))

    d <- nearest_distances(cells, from = "Tumor", to = c("CD8 T", "other"))
    p <- autoplot(d)
    e <- ggplot2::layer_data(p, 1)
    expect_equal(length(unique(e$PANEL)), 2L)
    expect_equal(length(unique(paste(e$PANEL, e$group))), 6L) # 3 images x 2
    expect_equal(max(e$y), 1)
    pv <- ggplot2::layer_data(autoplot(d, type = "violin"), 1)
    expect_equal(length(unique(pv$PANEL)), 2L)
    d2 <- nearest_distances(cells, from = "Tumor", to = "CD8 T", k = 2)
    e2 <- ggplot2::layer_data(autoplot(d2, k = 1), 1)
    expect_equal(sort(unique(e2$x)),
                 sort(unique(d2$distance[d2$k == 1])))
    expect_error(autoplot(d2, k = 3), class = "immunoscape_error_argument")
    expect_error(autoplot(d, type = "box"))
    # many images: grey lines per image plus the pooled line
    pm <- autoplot(d, max_lines = 2)
    expect_length(pm$layers, 2L)

    n <- count_neighbors(cells, radius = 50, from = c("Tumor", "CD8 T"),
                         to = c("CD8 T", "other"))
    pn <- autoplot(n)
    ln <- ggplot2::layer_data(pn, 1)
    expect_equal(length(unique(ln$PANEL)), 4L)
    # fractions of cells sum to one per image and panel
    sums <- tapply(ln$y, paste(ln$PANEL, ln$group), sum)
    expect_equal(unname(as.vector(sums)), rep(1, length(sums)))
    pb <- autoplot(n, max_lines = 1)
    expect_equal(nrow(ggplot2::layer_data(pb, 1)), 3L * 4L)
    n1 <- count_neighbors(cells[cells$image == "a", ], radius = 50,
                          from = "Tumor", to = "CD8 T")
    l1 <- ggplot2::layer_data(autoplot(n1), 1)
    tab <- table(n1$count) / nrow(n1)
    expect_equal(l1$y[match(as.numeric(names(tab)), l1$x)],
                 as.vector(tab))

    s <- summary(cells)
    ls <- ggplot2::layer_data(autoplot(s), 1)
    expect_equal(sort(ls$x), sort(s$density_mm2))
    one <- summary(cells[cells$image == "a", ])
    lo <- ggplot2::layer_data(autoplot(one), 1)
    expect_equal(sort(lo$x), sort(one$density_mm2))
    many <- ggplot2::layer_data(autoplot(s, max_bars = 2), 1)
    expect_equal(length(unique(many$PANEL)), 3L)

    empty <- nearest_distances(cells[cells$type != "CD8 T", ],
                               from = "Tumor", to = "other")[0, ]
    expect_error(autoplot(empty), class = "immunoscape_error_empty")
    expect_error(autoplot(d, colour = "red"),
                 class = "immunoscape_error_argument")
})

test_that("compartment maps: tumour red to host blue; border distance diverging", {
    set.seed(4)
    df <- data.frame(x = runif(2000, 0, 1000), y = runif(2000, 0, 1000))
    df$type <- ifelse((df$x - 500)^2 + (df$y - 500)^2 < 300^2, "Tumor",
                      "Stroma")
    cells <- spatial_cells(df)
    reg <- suppressMessages(tumor_regions(cells))
    comp <- compartments(cells, reg, margin = 100)
    b <- ggplot2::ggplot_build(plot_cells(cells, color_by = "compartment",
                                          data = comp))
    d <- b$data[[1]]
    # each point's cell, by its x (distinct draws of runif)
    o <- match(d$x, cells$x)
    expect_false(anyNA(o))
    o <- match(cells$cell_id[o], comp$cell_id)
    got <- tapply(d$colour, as.character(comp$compartment[o]), unique)
    expect_identical(vapply(got, identity, ""),
                     immunoscape:::compartment_palette[names(got)])
    # signed distance: inside red, outside blue, the border grey
    b <- ggplot2::ggplot_build(plot_cells(cells, color_by = "border_distance",
                                          data = comp))
    d <- b$data[[1]]
    bd <- comp$border_distance[match(cells$cell_id[match(d$x, cells$x)],
                                     comp$cell_id)]
    expect_false(anyNA(bd))
    rgb <- grDevices::col2rgb(d$colour)
    deep_in <- bd < -150
    far_out <- bd > 150
    expect_true(all(rgb["red", deep_in] > rgb["blue", deep_in]))
    expect_true(all(rgb["blue", far_out] > rgb["red", far_out]))
})
