# immune_phenotype() and compartment_ratios() against counts made by hand:
# the invasive margin of a shallow tumour, the lymphoid-aggregate types
# and the zero ratios of autoplot().

# A tumour disc (radius `r0`, polygon of 720 vertices) at the centre of a
# `side` x `side` field of uniform cells, CD8 T cells among the others.
disc_cells <- function(n, side, r0, seed = 1, p_cd8 = 0.1) {
    set.seed(seed)
    df <- data.frame(x = stats::runif(n, 0, side),
                     y = stats::runif(n, 0, side))
    r <- sqrt((df$x - side / 2)^2 + (df$y - side / 2)^2)
    df$type <- ifelse(r < r0, "Tumor",
                      sample(c("Stroma", "CD8 T"), n, TRUE,
                             c(1 - p_cd8, p_cd8)))
    th <- seq(0, 2 * pi, length.out = 721)[-721]
    list(df = df,
         disc = data.frame(polygon = 1L, ring = 1L, hole = FALSE,
                           x = side / 2 + r0 * cos(th),
                           y = side / 2 + r0 * sin(th)))
}

test_that("a shallow tumour's margin counts the cells of its area band", {
    # depth about 290 < 2 * margin: core deeper than half the depth, the
    # margin (-core_depth, margin] with its outer part 500 um wide
    g <- disc_cells(8000, 2000, 300)
    cells <- spatial_cells(g$df, window = "rectangle")
    reg <- as_regions(g$disc, cells)
    ph <- quiet(immune_phenotype(cells, reg, tumor = NULL,
                                 aggregates = NULL))
    cd <- ph$core_depth
    expect_lt(cd, 500)
    d <- ro_signed_distance(cells$x, cells$y, g$disc)
    cd8 <- cells$type == "CD8 T"
    expect_identical(ph$n_margin, sum(cd8 & d > -cd & d <= 500))
    expect_identical(ph$n_core, sum(cd8 & d <= -cd))
    # the areas of the same bands, exact for the regular 720-gon of
    # apothem h: inside, the 720-gon of apothem h - core_depth; outside,
    # the polygon grown by 500 (area + perimeter * 500 + pi * 500^2)
    h <- 300 * cos(pi / 720)
    ngon <- function(h) 720 * h^2 * tan(pi / 720)
    grown <- ngon(h) + 2 * 720 * h * tan(pi / 720) * 500 + pi * 500^2
    expect_equal(ph$margin_area_mm2, (grown - ngon(h - cd)) / 1e6,
                 tolerance = 1e-3)
    expect_equal(ph$core_area_mm2, ngon(h - cd) / 1e6, tolerance = 1e-3)
    expect_equal(ph$density_margin, ph$n_margin / ph$margin_area_mm2)
})

# Image "a": a tumour disc with a B-cell follicle ringed by CD8 T cells in
# its core (a lymphoid aggregate); B cells typed `b`.
follicle_cells <- function(b = "B cell (CD19+)") {
    df <- ro_cells(1200, 15, function(x, y) {
        ifelse((x - 600)^2 + (y - 600)^2 < 450^2, "Tumor", "Stroma")
    }, seed = 2)
    r <- sqrt((df$x - 600)^2 + (df$y - 600)^2)
    df$type[r < 60] <- b
    df$type[r >= 60 & r < 110] <- "CD8 T"
    df
}

test_that("absent aggregate type: message if default, error if named", {
    cells <- spatial_cells(follicle_cells())
    reg <- quiet(tumor_regions(cells, min_hole = 1e6))
    # the default "B" is absent but the panel has "B cell (CD19+)": an
    # error naming it, not aggregates silently kept
    expect_error(immune_phenotype(cells, reg, margin = 100),
                 "B cell (CD19+)", fixed = TRUE,
                 class = "immunoscape_error_type")
    # no B-like type at all: a message, and nothing left out (as
    # aggregates = NULL)
    plasma <- cells
    levels(plasma$type)[levels(plasma$type) == "B cell (CD19+)"] <- "Plasma"
    expect_message(ph <- immune_phenotype(plasma, reg, margin = 100),
                   "aggregates", class = "immunoscape_message")
    expect_identical(ph$n_core,
                     quiet(immune_phenotype(cells, reg, margin = 100,
                                            aggregates = NULL))$n_core)
    expect_no_message(quiet(immune_phenotype(plasma, reg, margin = 100)))
    expect_error(immune_phenotype(cells, reg, aggregates = "B"),
                 "aggregates", class = "immunoscape_error_type")
    # the panel's B-cell type leaves the follicle's T cells out
    ph_b <- immune_phenotype(cells, reg, margin = 100,
                             aggregates = "B cell (CD19+)")
    expect_identical(ph_b$n_core, 0L)
    expect_gt(ph$n_core, 20L)
})

test_that("autoplot() of ratios keeps zero ratios, drawn at the bottom", {
    # three images: core CD8 / Treg = 3 / 1, 0 / 2 (ratio 0), 2 / 1
    one <- function(im, n_cd8, n_treg) {
        data.frame(x = c(450 + 10 * seq_len(n_cd8 + n_treg), 50, 950),
                   y = c(rep(450, n_cd8 + n_treg), 50, 950),
                   type = c(rep("CD8 T", n_cd8), rep("Treg", n_treg),
                            "Tumor", "Stroma"),
                   image = im)
    }
    df <- rbind(one("a", 3, 1), one("b", 0, 2), one("c", 2, 1))
    cells <- spatial_cells(df, image = "image",
                           window = data.frame(x = c(0, 1000, 1000, 0),
                                               y = c(0, 0, 1000, 1000)))
    reg <- as_regions(ro_square(300, 300, 400), cells)
    rt <- compartment_ratios(cells, reg, margin = 50)
    core <- rt[rt$compartment == "core", ]
    expect_equal(core$ratio, c(3, 0, 2))
    p <- autoplot(rt)
    pts <- ggplot2::layer_data(p, 2)
    # every finite ratio is drawn, zeros included
    expect_identical(nrow(pts), sum(is.finite(rt$ratio)))
    zero <- sum(rt$ratio == 0, na.rm = TRUE)
    low <- min(log10(rt$ratio[is.finite(rt$ratio) & rt$ratio > 0]), 0)
    expect_identical(sum(pts$y < low), zero)
    # the core box spans the zero: its lower hinge at the bottom
    box <- ggplot2::layer_data(p, 1)
    expect_equal(min(box$ymin), min(pts$y))
    cap <- p$labels$caption
    expect_match(cap, "ratio 0 \\(no CD8 T cell\\) drawn at 0, the bottom")
    # the axis labels that floor "0"
    sc <- ggplot2::ggplot_build(p)$layout$panel_params[[1]]$y
    labs <- sc$get_labels()
    expect_identical(labs[which.min(sc$get_breaks())], "0")
    expect_equal(min(sc$get_breaks(), na.rm = TRUE), min(pts$y))
    n_na <- sum(is.na(rt$ratio) & rt$area_mm2 > 0)
    expect_match(cap, sprintf(
        "%d image compartments without a cell of either type \\(ratio NA\\)",
        n_na))
    expect_false(grepl("or 0", cap))
    # one image with a zero ratio: its stick reaches the bottom
    b <- ggplot2::layer_data(autoplot(rt, images = "b"), 2)
    expect_true(any(b$y < 0))
})

test_that("the contact rule applies to the core only, not the margin", {
    set.seed(21)
    th <- seq(0, 2 * pi, length.out = 721)[-721]
    # tumour cells only near the centre; CD8 T cells in the inner margin,
    # far from any tumour cell (a stromal pocket inside the region)
    r_t <- 150 * sqrt(stats::runif(800))
    a_t <- stats::runif(800, 0, 2 * pi)
    r_c <- sqrt(stats::runif(300, 380^2, 680^2))
    a_c <- stats::runif(300, 0, 2 * pi)
    df <- data.frame(x = 1500 + c(r_t * cos(a_t), r_c * cos(a_c)),
                     y = 1500 + c(r_t * sin(a_t), r_c * sin(a_c)),
                     type = rep(c("Tumor", "CD8 T"), c(800, 300)))
    frame <- data.frame(x = c(0, 3000, 3000, 0), y = c(0, 0, 3000, 3000))
    cells <- spatial_cells(df, window = frame)
    reg <- as_regions(data.frame(x = 1500 + 700 * cos(th),
                                 y = 1500 + 700 * sin(th)), cells)
    ph <- immune_phenotype(cells, reg, tumor = "Tumor", aggregates = NULL)
    d <- compartments(cells, reg)$border_distance
    core_depth <- ph$core_depth
    expect_lt(core_depth, 500)
    # every CD8 T cell of the margin band counts, in contact or not
    expect_equal(ph$n_margin, sum(df$type == "CD8 T" & d > -core_depth &
                                      d <= 500))
    expect_gt(ph$n_margin, 250)
})

test_that("a core too small to hold min_expected cells gives no call", {
    # a tumour of radius 150: core deeper than 75 um, pi * 75^2 = 0.018
    # mm^2, which holds about 2 cells at core_min = 100
    g <- disc_cells(4000, 1000, 150, p_cd8 = 0)
    centre <- data.frame(x = 500 + c(-10, 0, 10), y = 500, type = "CD8 T")
    cells <- spatial_cells(rbind(g$df, centre), window = "rectangle")
    reg <- as_regions(g$disc, cells)
    ph <- quiet(immune_phenotype(cells, reg, tumor = NULL,
                                 aggregates = NULL))
    expect_lt(ph$core_area_mm2 * 100, 5)
    expect_identical(ph$n_core, 3L)
    expect_gt(ph$density_core, 100)          # 3 cells read as "inflamed"
    expect_true(is.na(ph$phenotype))
    expect_match(ph$note, "core too small to call")
    # min_expected = 0: the call from the density, as before
    ph0 <- quiet(immune_phenotype(cells, reg, tumor = NULL,
                                  aggregates = NULL, min_expected = 0))
    expect_identical(as.character(ph0$phenotype), "inflamed")
    expect_equal(ph0$density_core, ph$density_core)
    # a core large enough: called (same cells, min_expected below the
    # expected count)
    ph1 <- quiet(immune_phenotype(cells, reg, tumor = NULL,
                                  aggregates = NULL,
                                  min_expected = ph$core_area_mm2 * 100))
    expect_identical(as.character(ph1$phenotype), "inflamed")
    expect_error(immune_phenotype(cells, reg, min_expected = -1),
                 "min_expected", class = "immunoscape_error")
})

test_that("too many tiles is an argument error naming a tile that works", {
    set.seed(1)
    df <- data.frame(x = runif(3000, 0, 30000), y = runif(3000, 0, 30000))
    df$type <- ifelse((df$x - 15000)^2 + (df$y - 15000)^2 < 8000^2,
                      "Tumor", "CD8 T")
    cells <- spatial_cells(df)
    reg <- quiet(tumor_regions(cells))
    e <- tryCatch(immune_phenotype(cells, reg, tile = 25),
                  immunoscape_error_argument = function(e) e)
    expect_s3_class(e, "immunoscape_error_argument")
    expect_match(conditionMessage(e), "tile")
    need <- as.numeric(sub(".*tile >= ([0-9.]+).*", "\\1",
                           cli::ansi_strip(conditionMessage(e))))
    expect_gt(need, 25)
    ph <- quiet(immune_phenotype(cells, reg, tile = need))
    expect_s3_class(ph, "immunoscape_phenotype")
})

test_that("comp must come from these cells, regions from their place", {
    g <- disc_cells(3000, 1000, 300)
    cells <- spatial_cells(g$df, window = "rectangle")
    reg <- as_regions(g$disc, cells)
    comp <- compartments(cells, reg)
    ph <- quiet(immune_phenotype(cells, reg, aggregates = NULL, comp = comp))
    expect_identical(ph, quiet(immune_phenotype(cells, reg,
                                                aggregates = NULL)))
    # as many cells, with the same ids, elsewhere
    other <- g$df
    other[c("x", "y")] <- other[c("y", "x")]
    other$x <- 1000 - other$x
    oc <- spatial_cells(other, window = "rectangle")
    expect_error(immune_phenotype(oc, as_regions(g$disc, oc), comp = comp),
                 "comp", class = "immunoscape_error_argument")
    # polygons far from the cells (other units, another image)
    far <- transform(g$disc, x = x + 5000, y = y + 5000)
    expect_error(compartments(cells, far), "outside its cells",
                 class = "immunoscape_error_regions")
    expect_error(compartments(cells), "regions",
                 class = "immunoscape_error_regions")
})

test_that("the area of lymphoid aggregates leaves the densities", {
    # a tumour disc (radius 700) with a B-cell follicle in its core; the
    # aggregate is where at least 30 B cells lie within 150 um
    g <- disc_cells(12000, 2000, 700, seed = 3)
    df <- g$df
    r <- sqrt((df$x - 1000)^2 + (df$y - 1000)^2)
    df$type[r < 90] <- "B"
    cells <- spatial_cells(df, window = "rectangle")
    reg <- as_regions(g$disc, cells)
    ph <- immune_phenotype(cells, reg, immune = "CD8 T", tumor = NULL,
                           margin = 200, aggregates = "B")
    ph0 <- immune_phenotype(cells, reg, immune = "CD8 T", tumor = NULL,
                            margin = 200, aggregates = NULL)
    # oracle: a 4-um raster; B counts within 150 um by brute force
    h <- 4
    gx <- seq(h / 2, 2000, by = h)
    grid <- expand.grid(x = gx, y = gx)
    bx <- df$x[df$type == "B"]
    by <- df$y[df$type == "B"]
    nb <- vapply(seq_len(nrow(grid)), function(k) {
        sum((bx - grid$x[k])^2 + (by - grid$y[k])^2 <= 150^2)
    }, integer(1))
    d <- ro_signed_distance(grid$x, grid$y, g$disc)
    agg <- nb >= 30
    core <- d <= -200
    marg <- d > -200 & d <= 200
    expect_gt(sum(agg), 0)
    expect_equal(ph$aggregate_area_mm2, sum(agg & (core | marg)) * h^2 / 1e6,
                 tolerance = 0.03)
    expect_equal(ph$core_area_mm2, sum(core & !agg) * h^2 / 1e6,
                 tolerance = 0.01)
    expect_equal(ph$core_area_mm2 + ph$aggregate_area_mm2,
                 ph0$core_area_mm2, tolerance = 0.01)
    expect_equal(ph0$aggregate_area_mm2, 0)
    expect_equal(ph$density_core, ph$n_core / ph$core_area_mm2)
})

test_that("aggregate area over B-cell-rich tissue stays within a point budget", {
    # B cells everywhere (1000 per mm^2): every point is in an aggregate
    set.seed(6)
    x <- stats::runif(4000, 0, 2000)
    y <- stats::runif(4000, 0, 2000)
    a <- immunoscape:::aggregate_points(x, y, rep(TRUE, 4000), 150, 30, 1L)
    b <- immunoscape:::aggregate_points(x, y, rep(TRUE, 4000), 150, 30, 1L,
                                        max_points = 1e4)
    # the area where 30 B cells lie within 150 um: nearly all of the
    # 2 x 2 mm field and up to about 100 um beyond it
    expect_gt(length(a$x) * a$w, 3.9e6)
    expect_equal(length(b$x) * b$w, length(a$x) * a$w, tolerance = 0.05)
    expect_lte(length(b$x), 1e4 * 1.01)
    expect_gt(b$w, a$w)
})
