# Output on a cohort of 250 images (issue 8, item 4): selection and paging
# of panels, the warning above max_panels, printed summaries that count what
# they hold and show, the hotspot map, the grey of untyped cells.

cohort_250 <- function() {
    set.seed(250)
    n_img <- 250L
    per <- 24L
    df <- data.frame(
        image = rep(sprintf("p%03d_%d", rep(seq_len(n_img / 5), each = 5),
                            rep(1:5, n_img / 5)), each = per),
        x = runif(n_img * per, 0, 600), y = runif(n_img * per, 0, 450),
        phenotype = sample(c("Tumor", "CD8 T", "Other/unclassified"),
                           n_img * per, TRUE, c(0.6, 0.2, 0.2))
    )
    quiet(spatial_cells(df, type = "phenotype", image = "image"))
}

panel_images <- function(p) {
    b <- ggplot2::ggplot_build(p)
    as.character(b$layout$layout$image)
}

test_that("plot_cells() on 250 images: warning with advice, selection, pages", {
    cells <- cohort_250()
    lv <- levels(cells$image)
    expect_warning(p <- plot_cells(cells), class = "immunoscape_warning_panels")
    expect_warning(plot_cells(cells), "page = 10")
    p1 <- plot_cells(cells, page = 2)
    expect_identical(panel_images(p1), lv[26:50])
    ld <- ggplot2::layer_data(p1, 1L)
    expect_identical(nrow(ld), sum(cells$image %in% lv[26:50]))
    expect_identical(panel_images(plot_cells(cells, images = c(3, 1))),
                     lv[c(3, 1)])
    last <- plot_cells(cells, page = 10)
    expect_identical(panel_images(last), lv[226:250])
    expect_no_warning(plot_cells(cells, images = 1:30, max_panels = 30))
    expect_error(plot_cells(cells, page = 11),
                 class = "immunoscape_error_argument")
    expect_error(plot_cells(cells, images = "nope"),
                 class = "immunoscape_error_argument")
    # few ticks per axis on small panels
    b <- ggplot2::ggplot_build(p1)
    expect_lte(length(stats::na.omit(b$layout$panel_params[[1]]$x$breaks)), 4)
    # the untyped cells are grey and drawn beneath the others
    cols <- unique(ld$colour[ld$group == which(levels(cells$type) ==
                                                  "Other/unclassified")])
    expect_identical(cols, "grey72")
})

test_that("autoplot() of curves, windows and densities page through a cohort", {
    cells <- cohort_250()
    lv <- levels(cells$image)
    l <- quiet(ripley_l(cells, "Tumor", "CD8 T", r = seq(0, 40, 10)))
    expect_warning(autoplot(l), class = "immunoscape_warning_panels")
    p <- autoplot(l, page = 3)
    expect_identical(nlevels(ggplot2::layer_data(p, 2L)$PANEL), 25L)
    expect_setequal(unique(ggplot2::layer_data(p, 2L)$PANEL), 1:25)
    expect_identical(as.character(unique(p$data$image)), lv[51:75])
    p <- autoplot(l, images = c("p001_2", "p010_5"))
    expect_identical(as.character(unique(p$data$image)),
                     c("p001_2", "p010_5"))

    w <- get_window(cells)
    expect_warning(autoplot(w), class = "immunoscape_warning_panels")
    expect_identical(panel_images(autoplot(w, page = 1)), lv[1:25])

    s <- summary(cells)
    expect_warning(autoplot(s), class = "immunoscape_warning_panels")
    pb <- autoplot(s, page = 2)
    expect_identical(sort(unique(as.character(pb$data$image))),
                     sort(lv[41:80]))
    pb <- autoplot(s, images = 1:5)
    expect_setequal(as.character(pb$data$image), lv[1:5])
})

test_that("print() of a cohort's window and summary: short, counting what is shown", {
    cells <- cohort_250()
    w <- get_window(cells)
    out <- capture.output(print(w))
    expect_lt(length(out), 20L)
    expect_match(out[1], "<tissue_window> 250 images, 250 polygons")
    expect_match(out[length(out)], "240 more images")
    s <- summary(cells)
    out <- capture.output(print(s))
    expect_lt(length(out), 40L)
    expect_match(out[1], "750 rows, 250 images (first 30 shown)",
                 fixed = TRUE)
    # a selection of rows: the header counts the rows and images it holds
    sub <- s[c(1, 4, 7, 10, 13), ]
    out <- capture.output(print(sub))
    expect_match(out[1], "5 rows, 5 images", fixed = TRUE)
    expect_identical(length(out), 7L)
    sub <- s[1:3, ]
    expect_match(capture.output(print(sub))[1], "3 rows, 1 image",
                 fixed = TRUE)
    # images in level order, not alphabetical
    expect_identical(unique(as.character(s$image)), levels(cells$image))
    expect_snapshot(print(summary(cells[cells$image %in%
                                            levels(cells$image)[1:2], ])))
})

test_that("autoplot(hotspots): z as fill, hot squares outlined, cells on top, clipped", {
    set.seed(3)
    df <- data.frame(x = runif(3000, 0, 500), y = runif(3000, 0, 500))
    near <- (df$x - 120)^2 + (df$y - 380)^2 < 80^2
    df$type <- ifelse(near & runif(3000) < 0.7, "CD8 T",
                      sample(c("Tumor", "CD8 T"), 3000, TRUE, c(0.9, 0.1)))
    tri <- data.frame(x = c(0, 500, 0), y = c(0, 500, 500))
    cells <- quiet(spatial_cells(df[df$y >= df$x, ], window = tri))
    h <- hotspots(cells, "CD8 T", cell_size = 50)
    p <- autoplot(h)
    ld <- ggplot2::layer_data(p, 1L)
    expect_identical(nrow(ld), nrow(h))
    # fill follows z: the highest z has the reddest square
    top <- which.max(h$z)
    expect_identical(ld$fill[top], "#B2182B")
    geoms <- vapply(p$layers, function(l) class(l$geom)[1], "")
    # squares, hot outlines, mask, window outline, cells last (on top)
    expect_identical(geoms[length(geoms)], "GeomPoint")
    expect_true("GeomPolygon" %in% geoms)
    hot <- ggplot2::layer_data(p, 2L)
    expect_identical(nrow(hot), sum(h$class == "hot"))
    pts <- ggplot2::layer_data(p, length(geoms))
    expect_identical(nrow(pts), sum(cells$type == "CD8 T"))
    # the mask covers the squares' extent outside the triangle
    mask <- ggplot2::layer_data(p, which(geoms == "GeomPolygon"))
    expect_true(any(mask$subgroup != mask$subgroup[1]))
    expect_false(any(vapply(p$layers, function(l) {
        inherits(l$geom, "GeomPoint")
    }, TRUE)[-length(geoms)]))
    p2 <- autoplot(h, fill = "class", show_cells = FALSE)
    expect_false("GeomPoint" %in% vapply(p2$layers,
                                         function(l) class(l$geom)[1], ""))
})

test_that("untyped cells get a neutral grey in the default palette", {
    pal <- immunoscape:::type_palette(c("CD8 T", "Other", "unphenotyped",
                                        "Other/unclassified", "Tumor"))
    grey <- immunoscape:::is_grey_colour(pal)
    expect_identical(unname(grey), c(FALSE, TRUE, TRUE, TRUE, FALSE))
})

test_that("result headers count the rows printed, not the levels", {
    cells <- cohort_250()
    sub <- cells[cells$image %in% levels(cells$image)[1:3], ]
    it <- quiet(interaction_test(sub, radius = 40, nperm = 10))
    out <- capture.output(print(it[1:4, ]))
    expect_match(out[1], "4 rows: 1 image x 4 ordered pairs", fixed = TRUE)
    out <- capture.output(print(it))
    expect_match(out[1], "27 rows: 3 images x 9 ordered pairs", fixed = TRUE)
    l <- quiet(ripley_l(sub, "Tumor", "CD8 T", r = seq(0, 30, 10)))
    out <- capture.output(print(l[l$image == levels(sub$image)[2], ]))
    expect_match(out[1], "4 rows, 1 image x 1 type pair", fixed = TRUE)
})
