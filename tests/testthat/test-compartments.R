# compartments(), infiltration_profile(), immune_phenotype(),
# compartment_ratios() and growth_pattern() on hand-made polygons and
# synthetic tissue with known answers.

sq_cells <- function(types, x, y, image = "image1") {
    spatial_cells(data.frame(x = x, y = y, type = types, image = image),
                  image = "image",
                  window = data.frame(x = c(0, 1000, 1000, 0),
                                      y = c(0, 0, 1000, 1000)))
}

test_that("compartments label cells by signed distance and give areas", {
    set.seed(3)
    n <- 2000
    x <- stats::runif(n, 0, 1000)
    y <- stats::runif(n, 0, 1000)
    ty <- sample(c("Tumor", "CD8 T", "Treg"), n, TRUE)
    cells <- sq_cells(ty, x, y)
    sq <- ro_square(300, 300, 400)
    reg <- as_regions(sq, cells)
    comp <- compartments(cells, reg, margin = 100)
    expect_s3_class(comp, "immunoscape_compartments")
    expect_named(as.data.frame(comp)[1:5], c("image", "cell_id", "type",
                                             "border_distance",
                                             "compartment"))
    d <- ro_signed_distance(x, y, sq)
    o <- match(comp$cell_id, cells$cell_id)
    expect_equal(comp$border_distance, d[o], tolerance = 1e-9)
    want <- cut(d[o], c(-Inf, -100, 0, 100, Inf),
                labels = c("core", "inner_margin", "outer_margin", "stroma"))
    expect_equal(as.character(comp$compartment), as.character(want))
    a <- attr(comp, "areas")$area_mm2 * 1e6
    exact <- c(200^2, 400^2 - 200^2, 4 * 400 * 100 + pi * 100^2)
    expect_equal(a, c(exact, 1e6 - sum(exact)), tolerance = 1e-4)
    s <- summary(comp)
    expect_named(as.data.frame(unclass(s)), c("image", "compartment", "type",
                                              "n", "area_mm2",
                                              "density_mm2"))
    k <- s$compartment == "core" & s$type == "CD8 T"
    expect_equal(s$n[k], sum(ty[o] == "CD8 T" & want == "core"))
    expect_equal(s$density_mm2[k], s$n[k] / 0.04, tolerance = 1e-4)
    expect_equal(sum(s$n), n)
    # margin 0: only core and stroma
    comp0 <- compartments(cells, reg, margin = 0)
    expect_setequal(unique(as.character(comp0$compartment)),
                    c("core", "stroma"))
    expect_identical(compartments(cells, reg, margin = 100, nthreads = 2L),
                     comp)
    expect_s3_class(autoplot(comp), "ggplot")
    expect_output(print(comp), "immunoscape_compartments")
})

test_that("bad regions and margins are classed errors", {
    cells <- sq_cells(c("Tumor", "A", "A"), c(100, 500, 900), c(100, 500, 900))
    reg <- as_regions(ro_square(0, 0, 200), cells)
    expect_error(compartments(cells, reg, margin = -1),
                 class = "immunoscape_error_margin")
    expect_error(compartments(cells, reg, margin = NA),
                 class = "immunoscape_error_margin")
    other <- sq_cells(c("Tumor", "A", "A"), c(1, 5, 9), c(1, 5, 9),
                      image = "elsewhere")
    expect_error(compartments(other, reg),
                 class = "immunoscape_error_regions")
    far <- spatial_cells(data.frame(x = c(1e5, 1e5 + 50, 1e5),
                                    y = c(0, 0, 50), type = "A"))
    expect_error(compartments(far, as_regions(ro_square(0, 0, 200), cells)),
                 class = "immunoscape_error_regions")
    expect_error(compartments(cells, list(1)),
                 class = "immunoscape_error_regions")
})

test_that("infiltration_profile densities use exact band areas", {
    set.seed(4)
    n <- 3000
    x <- stats::runif(n, 0, 1000)
    y <- stats::runif(n, 0, 1000)
    cells <- sq_cells(sample(c("Tumor", "CD8 T"), n, TRUE), x, y)
    sq <- ro_square(300, 300, 400)
    reg <- as_regions(sq, cells)
    br <- c(-100, -50, 0, 50, 100)
    prof <- infiltration_profile(cells, reg, types = "CD8 T", breaks = br)
    expect_s3_class(prof, "immunoscape_infiltration")
    d <- ro_signed_distance(x, y, sq)
    cd8 <- cells$type == "CD8 T"
    o <- match(seq_len(n), cells$cell_id)
    want <- tabulate(findInterval(d[cd8], br, left.open = TRUE), 4)
    expect_equal(prof$n, want)
    inner <- function(a) 400^2 - (400 - 2 * a)^2
    outer <- function(b) 4 * 400 * b + pi * b^2
    exact <- c(inner(100) - inner(50), inner(50), outer(50),
               outer(100) - outer(50)) / 1e6
    expect_equal(prof$area_mm2, exact, tolerance = 1e-4)
    expect_equal(prof$density_mm2, want / exact, tolerance = 1e-4)
    expect_equal(prof$mid, c(-75, -25, 25, 75))
    expect_s3_class(autoplot(prof), "ggplot")
    expect_error(infiltration_profile(cells, reg, breaks = c(5, 1)),
                 class = "immunoscape_error_argument")
})

# Tumour disc of radius 300 at the centre of a 1200 x 1200 field, CD8 T
# cells placed by `where`.
phenotype_cells <- function(where, image = "image1", seed = 1) {
    df <- ro_cells(1200, 15, function(x, y) {
        r <- sqrt((x - 600)^2 + (y - 600)^2)
        ifelse(r < 300, "Tumor", "Stroma")
    }, seed = seed, image = image)
    r <- sqrt((df$x - 600)^2 + (df$y - 600)^2)
    set.seed(seed)
    pick <- switch(where,
        inside = r < 250 & stats::runif(nrow(df)) < 0.1,
        border = abs(r - 330) < 60 & stats::runif(nrow(df)) < 0.3,
        none = r > 2000)
    df$type[pick] <- "CD8 T"
    df$type[which(df$type == "Stroma")[1:3]] <- "CD8 T"
    df
}

test_that("immune_phenotype calls inflamed, excluded and desert", {
    df <- rbind(phenotype_cells("inside", "a"), phenotype_cells("border", "b"),
                phenotype_cells("none", "c"))
    cells <- spatial_cells(df, image = "image")
    reg <- tumor_regions(cells)
    ph <- immune_phenotype(cells, reg, margin = 100)
    expect_s3_class(ph, "immunoscape_phenotype")
    expect_equal(as.character(ph$phenotype),
                 c("inflamed", "excluded", "desert"))
    # densities behind the call, against a direct count
    comp <- compartments(cells, reg, margin = 100)
    a <- attr(comp, "areas")
    n_core_a <- sum(comp$image == "a" & comp$type == "CD8 T" &
                        comp$compartment == "core")
    area_a <- a$area_mm2[a$image == "a" & a$compartment == "core"]
    expect_equal(ph$density_core[1], n_core_a / area_a, tolerance = 1e-3)
    # thresholds are arguments
    ph2 <- immune_phenotype(cells, reg, margin = 100, core_min = 1e6,
                            margin_min = 1e6)
    # the Muijlwijk et al. cut-offs are arguments too
    ph3 <- immune_phenotype(cells, reg, margin = 100, core_min = 100,
                            margin_min = 200, statistic = "mean")
    expect_equal(as.character(ph3$phenotype),
                 ifelse(ph3$density_core >= 100, "inflamed",
                        ifelse(ph3$density_margin >= 200, "excluded",
                               "desert")))
    expect_equal(as.character(ph2$phenotype), rep("desert", 3))
    expect_s3_class(autoplot(ph), "ggplot")
    expect_output(print(ph), "inflamed")
})

test_that("lymphoid aggregates and cells away from tumour cells do not count", {
    df <- phenotype_cells("none", "a")
    # a B-cell follicle with T cells inside the tumour core
    r <- sqrt((df$x - 600)^2 + (df$y - 600)^2)
    df$type[r < 60] <- "B"
    df$type[r >= 60 & r < 110] <- "CD8 T"
    cells <- spatial_cells(df)
    reg <- tumor_regions(cells, min_hole = 1e6)
    ph <- immune_phenotype(cells, reg, margin = 100)
    expect_equal(as.character(ph$phenotype), "desert")
    expect_equal(ph$n_core, 0L)
    ph_all <- immune_phenotype(cells, reg, margin = 100, aggregates = NULL,
                               tumor = NULL, statistic = "mean")
    expect_equal(as.character(ph_all$phenotype), "inflamed")
    expect_gt(ph_all$n_core, 100)
})

test_that("an image without tumour gives an NA row with a note", {
    df <- rbind(phenotype_cells("inside", "a"),
                transform(phenotype_cells("none", "b"),
                          type = ifelse(type == "Tumor", "Stroma", type)))
    cells <- spatial_cells(df, image = "image")
    reg <- tumor_regions(cells)
    ph <- immune_phenotype(cells, reg, margin = 100)
    expect_equal(nrow(ph), 2L)
    expect_true(is.na(ph$phenotype[2]))
    expect_match(ph$note[2], "no tumour")
    comp <- compartments(cells, reg)
    expect_true(all(is.na(comp$border_distance[comp$image == "b"])))
    # its counts by compartment are unknown, not 0; image a's add up
    s <- summary(comp)
    expect_true(all(is.na(s$n[s$image == "b"])))
    expect_equal(sum(s$n[s$image == "a"]), sum(comp$image == "a"))
    rt <- compartment_ratios(cells, reg, denominator = "Stroma")
    expect_true(all(is.na(rt$ratio[rt$image == "b"])))
    g <- growth_pattern(cells, reg, liver = "Stroma")
    expect_true(is.na(g$pattern[2]))
})

test_that("an image left without cells keeps its rows and says so", {
    df <- rbind(phenotype_cells("inside", "a"),
                phenotype_cells("inside", "b"),
                phenotype_cells("inside", "c"))
    cells <- spatial_cells(df, image = "image")
    reg <- tumor_regions(cells)
    sub <- cells[cells$image != "b", ]
    expect_identical(levels(sub$image), c("a", "b", "c"))
    # regions of all three images, or of the two left
    for (r in list(reg, tumor_regions(sub))) {
        ip <- infiltration_profile(sub, r, breaks = c(-100, 0, 100))
        expect_setequal(as.character(unique(ip$image)), c("a", "b", "c"))
        expect_true(all(is.na(ip$n[ip$image == "b"])))
        expect_false(anyNA(ip$n[ip$image != "b"]))
        n <- attr(ip, "notes")
        expect_identical(n$note[n$image == "b"], "no cells in this image")
        ph <- immune_phenotype(sub, r, margin = 100)
        expect_identical(ph$note[ph$image == "b"], "no cells in this image")
        expect_false(is.na(ph$phenotype[ph$image == "a"]))
        cr <- compartment_ratios(sub, r, denominator = "Stroma")
        expect_identical(unique(cr$note[cr$image == "b"]),
                         "no cells in this image")
    }
})

test_that("compartment_ratios follow the zero-count rule", {
    x <- c(400, 450, 500, 420, 900, 920, 940, 50)
    y <- c(400, 450, 500, 480, 900, 920, 940, 50)
    ty <- c("CD8 T", "CD8 T", "CD8 T", "Treg", "CD8 T", "CD8 T", "Tumor",
            "Treg")
    cells <- sq_cells(ty, x, y)
    reg <- as_regions(ro_square(300, 300, 300), cells)
    rt <- compartment_ratios(cells, reg, margin = 50)
    expect_s3_class(rt, "immunoscape_ratios")
    get <- function(comp, col) rt[[col]][rt$compartment == comp]
    # core (deeper than 50): 3 CD8, 1 Treg
    expect_equal(get("core", "ratio"), 3)
    expect_false(get("core", "corrected"))
    # stroma: 2 CD8, 1 Treg (at 50, 50)
    expect_equal(get("stroma", "ratio"), 2)
    # margin: no cells at all -> NA
    expect_true(is.na(get("margin", "ratio")))
    # whole image: 5 / 2
    expect_equal(get("all", "ratio"), 2.5)
    expect_equal(get("core", "density_num"), 3 / get("core", "area_mm2"))
    # zero Treg: Haldane-Anscombe
    cells2 <- sq_cells(c(ty[-c(4, 8)], "Treg"), c(x[-c(4, 8)], 5),
                       c(y[-c(4, 8)], 5))
    rt2 <- compartment_ratios(cells2, as_regions(ro_square(300, 300, 300),
                                                 cells2), margin = 50)
    core <- rt2$compartment == "core"
    expect_equal(rt2$ratio[core], 3.5 / 0.5)
    expect_true(rt2$corrected[core])
    rt3 <- compartment_ratios(cells2, as_regions(ro_square(300, 300, 300),
                                                 cells2), margin = 50,
                              pseudocount = 0)
    expect_equal(rt3$ratio[rt3$compartment == "core"], Inf)
    expect_s3_class(autoplot(rt), "ggplot")
})

# Tumour disc (radius 350) in liver; the interface by `pattern`.
growth_cells <- function(pattern, seed = 1) {
    df <- ro_cells(1400, 14, function(x, y) {
        r <- sqrt((x - 700)^2 + (y - 700)^2)
        ifelse(r < 350, "Tumor", "Hepatocyte")
    }, seed = seed)
    r <- sqrt((df$x - 700)^2 + (df$y - 700)^2)
    set.seed(seed)
    if (pattern == "desmoplastic") {
        df$type[r >= 350 & r < 430] <- "Fibroblast"
    } else if (pattern == "replacement") {
        # tumour cords among hepatocytes across a 120-micron band
        ang <- atan2(df$y - 700, df$x - 700)
        cord <- sin(ang * 40) > 0
        band <- r > 290 & r < 410
        df$type[band] <- ifelse(cord[band], "Tumor", "Hepatocyte")
    }
    df$type[1] <- "Fibroblast"
    df
}

test_that("growth_pattern classifies rim, cords and a sharp border", {
    for (pat in c("desmoplastic", "replacement", "pushing")) {
        cells <- spatial_cells(growth_cells(pat))
        reg <- tumor_regions(cells)
        g <- growth_pattern(cells, reg)
        expect_s3_class(g, "immunoscape_growth")
        expect_equal(as.character(g$pattern), pat)
        expect_gt(g[[pat]], 0.9)
        expect_equal(g$desmoplastic + g$replacement + g$pushing, 1)
        segs <- attr(g, "segments")
        expect_equal(sum(segs$length_um[!is.na(segs$pattern)]),
                     g$interface_um)
        expect_equal(as.character(g$two_tier),
                     if (pat == "desmoplastic") "desmoplastic" else
                         "non-desmoplastic")
    }
    expect_s3_class(autoplot(g), "ggplot")
    expect_s3_class(autoplot(g, cells = cells), "ggplot")
    expect_output(print(g), "growth")
    expect_error(growth_pattern(cells, reg, liver = "Hepatocite"),
                 class = "immunoscape_error_type")
    expect_error(growth_pattern(cells, reg, segment = 0),
                 class = "immunoscape_error_argument")
})

test_that("growth_pattern() scores no image without hepatocytes", {
    # the pushing image with its hepatocytes renamed: a tumour in another
    # organ has no tumour-liver interface (its stroma is not a rim)
    a <- growth_cells("pushing")
    b <- transform(growth_cells("desmoplastic"), image = "b")
    a$image <- "a"
    a$type[a$type == "Hepatocyte"] <- "Alveolar"
    cells <- spatial_cells(rbind(a, b), image = "image")
    g <- growth_pattern(cells, tumor_regions(cells))
    expect_true(is.na(g$pattern[1]))
    expect_true(is.na(g$desmoplastic[1]))
    expect_match(g$note[1], "no hepatocytes \\(Hepatocyte\\)")
    expect_equal(as.character(g$pattern[2]), "desmoplastic")
    expect_true(is.na(g$note[2]))
    segs <- attr(g, "segments")
    expect_true(all(is.na(segs$pattern[segs$image == "a"])))
})

test_that("growth_pattern() leaves out the outline along the image edge", {
    cells <- ro_split_cells(6000, 1000, 600, 400, right = "Hepatocyte",
                            seed = 5)
    reg <- tumor_regions(cells)
    expect_true(any(reg$image_edge))
    g <- growth_pattern(cells, reg)
    b <- attr(g, "border")
    expect_gt(nrow(b), 0)
    # every border point is on the interface at x = 400, none on the edges
    expect_lt(max(abs(b$x - 400)), 30)
    # the whole interface is 600 um long
    seg <- attr(g, "segments")
    expect_equal(sum(seg$length_um), 600, tolerance = 0.1)
})

test_that("an image whose window has no area gets a note, not bare NAs", {
    set.seed(7)
    A <- data.frame(x = stats::runif(1500, 0, 1000),
                    y = stats::runif(1500, 0, 1000), image = "A")
    A$type <- ifelse((A$x - 500)^2 + (A$y - 500)^2 < 300^2, "Tumor",
                     sample(c("CD8 T", "Treg"), 1500, TRUE))
    B <- data.frame(x = seq(0, 1000, length.out = 200), y = 100,
                    type = rep(c("Tumor", "Tumor", "CD8 T", "Treg"), 50),
                    image = "B")
    expect_warning(cells <- spatial_cells(rbind(A, B), image = "image"),
                   class = "immunoscape_warning_window")
    reg <- tumor_regions(cells)
    comp <- compartments(cells, reg)
    n <- attr(comp, "notes")
    expect_match(n$note[n$image == "B"], "no area")
    expect_false(any(grepl("no area", n$note[n$image == "A"])))
    # A's tumour (radius 300) is shallower than the margin: said
    expect_match(n$note[n$image == "A"],
                 "tumour at most [0-9]+ um deep, less than the margin")
    expect_true(all(comp$compartment[comp$image == "A"] != "core",
                    na.rm = TRUE))
    ph <- immune_phenotype(cells, reg)
    expect_match(ph$note[ph$image == "B"], "no area")
    # immune_phenotype() says how it takes the core, not compartments()'
    # "no core"
    expect_match(ph$note[ph$image == "A"], "core taken deeper than")
    expect_false(grepl("less than the margin", ph$note[ph$image == "A"]))
    expect_false(is.na(ph$phenotype[ph$image == "A"]))
    # counts and ratios need no area: kept; densities are NA
    cr <- compartment_ratios(cells, reg)
    b <- cr[cr$image == "B" & cr$compartment == "all", ]
    expect_equal(c(b$n_num, b$n_den), c(50L, 50L))
    expect_equal(b$ratio, 1)
    expect_true(is.na(b$density_num))
})

test_that("compartment plots colour each type as plot_cells() does", {
    sim <- simulate_tme(size = 1000, seed = 1)
    reg <- tumor_regions(sim)
    col_of <- function(p, aes, type) {
        ggplot2::ggplot_build(p)$plot$scales$get_scales(aes)$map(type)
    }
    ref <- col_of(plot_cells(sim), "colour", "CD8 T")
    expect_equal(col_of(autoplot(infiltration_profile(
        sim, reg, types = c("CD8 T", "Treg"))), "colour", "CD8 T"), ref)
    expect_equal(col_of(autoplot(compartments(sim, reg), types = "CD8 T"),
                        "fill", "CD8 T"), ref)
})
