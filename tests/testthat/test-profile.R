# spatial_profile() and aggregate_profile(): every feature column against
# an independent computation, failures as notes, reproducibility under
# BiocParallel, patient aggregation against hand computation.

profile_cohort <- function(seed = 1) {
    set.seed(seed)
    one <- function(img, patient, n, p) {
        data.frame(x = runif(n, 0, 300), y = runif(n, 0, 200),
                   type = sample(c("Tumor", "CD8 T", "Treg", "B"), n, TRUE,
                                 prob = p),
                   image = img, patient = patient)
    }
    df <- rbind(one("a", "p1", 300, c(0.6, 0.2, 0.1, 0.1)),
                one("b", "p1", 250, c(0.5, 0.3, 0.1, 0.1)),
                one("c", "p2", 200, c(0.7, 0.2, 0, 0.1)))
    spatial_cells(df, image = "image", window = "rectangle")
}

few <- function(...) profile_features(c(...))

test_that("counts, densities and the CD8/Treg ratio equal hand counts", {
    cells <- profile_cohort()
    p <- spatial_profile(cells, tumor = "Tumor",
                         features = few("counts", "ratio"))
    expect_s3_class(p, "spatial_profile")
    expect_identical(as.character(p$image), c("a", "b", "c"))
    expect_identical(p$patient, c("p1", "p1", "p2"))
    for (im in c("a", "b", "c")) {
        s <- cells[cells$image == im, ]
        area <- diff(range(s$x)) * diff(range(s$y)) / 1e6
        row <- p[p$image == im, ]
        nt <- table(factor(s$type, levels = levels(cells$type)))
        expect_equal(row$area_mm2, area)
        expect_equal(row$n_cells, nrow(s))
        expect_equal(row$n_cd8_t, nt[["CD8 T"]])
        expect_equal(row$density_cd8_t, nt[["CD8 T"]] / area)
        expect_equal(row$density_b, nt[["B"]] / area)
        expect_equal(row$tumor_cells, nt[["Tumor"]])
        expect_equal(row$immune_cells, nt[["CD8 T"]] + nt[["Treg"]] +
                         nt[["B"]])
        expect_equal(row$immune_density, row$immune_cells / area)
        expect_equal(row$log2_cd8_treg,
                     log2((nt[["CD8 T"]] + 1) / (nt[["Treg"]] + 1)))
        if (nt[["Treg"]] > 0) {
            expect_equal(row$cd8_treg_ratio, nt[["CD8 T"]] / nt[["Treg"]])
        }
    }
    # zero rule: image c has no Treg -> NA ratio and a note
    expect_true(is.na(p$cd8_treg_ratio[3]))
    expect_match(p$note[3], "no Treg")
    expect_true(all(is.na(p$note[1:2])))
})

test_that("role types: a panel's own names are not silently missed", {
    cells <- profile_cohort()
    # the panel calls its CD8 T cells "CD8 T (CD8+)": the default "CD8 T"
    # is an error that names it, not a column of zeros
    renamed <- cells
    levels(renamed$type)[levels(renamed$type) == "CD8 T"] <- "CD8 T (CD8+)"
    expect_error(spatial_profile(renamed, tumor = "Tumor",
                                 features = few("ratio")),
                 "CD8 T (CD8+)", fixed = TRUE,
                 class = "immunoscape_error_type")
    p <- spatial_profile(renamed, tumor = "Tumor", cd8 = "CD8 T (CD8+)",
                         features = few("ratio", "distances"))
    q <- spatial_profile(cells, tumor = "Tumor",
                         features = few("ratio", "distances"))
    expect_equal(p$cd8_cells, q$cd8_cells)
    expect_equal(p$cd8_tumor_median_um, q$cd8_tumor_median_um)
    # explicit but absent: an error; NULL: NA columns, no note
    expect_error(spatial_profile(cells, tumor = "Tumor", treg = "FoxP3+",
                                 features = few("ratio")),
                 "treg", class = "immunoscape_error_type")
    n <- spatial_profile(cells, tumor = "Tumor", cd8 = NULL, treg = NULL,
                         features = few("ratio", "distances"))
    expect_true(all(is.na(n$cd8_cells)) && all(is.na(n$treg_cells)))
    expect_true(all(is.na(n$cd8_treg_ratio)) && all(is.na(n$log2_cd8_treg)))
    expect_true(all(is.na(n$cd8_tumor_median_um)))
    expect_equal(n$immune_tumor_median_um, q$immune_tumor_median_um)
    expect_false(any(grepl("CD8|Treg", n$note)))
    # a default absent with nothing like it (a panel without Treg): NA
    # columns and one message, not 0
    notreg <- cells
    levels(notreg$type)[levels(notreg$type) == "Treg"] <- "Macrophage"
    expect_message(m <- spatial_profile(notreg, tumor = "Tumor",
                                        features = few("ratio")),
                   "treg", class = "immunoscape_message")
    expect_true(all(is.na(m$treg_cells)))
    expect_equal(m$cd8_cells, q$cd8_cells)
})

test_that("options in ... are checked up front", {
    cells <- profile_cohort()
    for (bad in list(NA, -1, "a", c(0.1, 0.9), Inf)) {
        expect_error(spatial_profile(cells, tumor = "Tumor",
                                     features = few("mixing"),
                                     threshold = bad),
                     "threshold", class = "immunoscape_error_argument")
    }
    for (bad in list(5, NA_character_, character(0))) {
        expect_error(spatial_profile(cells, tumor = "Tumor",
                                     features = few("tls"), tls_t = bad),
                     "tls_t", class = "immunoscape_error_type")
    }
    expect_error(spatial_profile(cells, tumor = "Tumor",
                                 features = few("tls"), tls_fdc = 1),
                 "tls_fdc", class = "immunoscape_error_type")
    for (bad in list(c(1, 2), Inf)) {
        expect_error(spatial_profile(cells, tumor = "Tumor",
                                     features = few("tls"), tls_b = bad),
                     "tls_b", class = "immunoscape_error_type")
    }
    # a misspelled liver type: an error, not NA growth columns
    liver <- cells
    levels(liver$type)[levels(liver$type) == "B"] <- "Hepatocyte"
    expect_error(spatial_profile(liver, tumor = "Tumor",
                                 features = few("growth"),
                                 liver = "Hepatocite"),
                 "Hepatocyte", class = "immunoscape_error_type")
    # not a liver cohort: the default gives NA without a message
    expect_no_message(g <- spatial_profile(cells, tumor = "Tumor",
                                           features = few("growth")),
                      class = "immunoscape_message")
    expect_true(all(is.na(g$growth_pattern)))
})

test_that("distance summaries equal brute force", {
    cells <- profile_cohort(2)
    p <- spatial_profile(cells, tumor = "Tumor", near = 15,
                         features = few("distances"))
    for (im in c("a", "b", "c")) {
        s <- as.data.frame(cells[cells$image == im, ])
        tum <- s[s$type == "Tumor", ]
        dmin <- function(rows) vapply(seq_len(nrow(rows)), function(i) {
            min(sqrt((tum$x - rows$x[i])^2 + (tum$y - rows$y[i])^2))
        }, numeric(1))
        d8 <- dmin(s[s$type == "CD8 T", ])
        di <- dmin(s[s$type != "Tumor", ])
        row <- p[p$image == im, ]
        expect_equal(row$cd8_tumor_median_um, stats::median(d8))
        expect_equal(row$cd8_tumor_frac_near, mean(d8 <= 15))
        expect_equal(row$immune_tumor_median_um, stats::median(di))
        expect_equal(row$immune_tumor_frac_near, mean(di <= 15))
    }
})

test_that("mixing score and architecture equal brute-force pair counts", {
    cells <- profile_cohort(3)
    p <- spatial_profile(cells, tumor = "Tumor", contact = 25,
                         min_immune = 20, threshold = 1,
                         features = few("mixing"))
    for (im in c("a", "b", "c")) {
        s <- as.data.frame(cells[cells$image == im, ])
        d <- as.matrix(stats::dist(s[c("x", "y")]))
        imm <- s$type != "Tumor"
        close <- d <= 25
        diag(close) <- FALSE
        it <- sum(close[imm, !imm])
        ii <- sum(close[imm, imm]) / 2
        row <- p[p$image == im, ]
        expect_equal(row$n_immune_tumor_pairs, it)
        expect_equal(row$n_immune_immune_pairs, ii)
        expect_equal(row$mixing_score, it / ii)
        expect_equal(row$normalized_mixing_score,
                     (it / ii) / (2 * sum(!imm) / (sum(imm) - 1)))
        expect_identical(as.character(row$architecture),
                         if (it / ii < 1) "compartmentalized" else "mixed")
    }
    expect_identical(levels(p$architecture),
                     c("cold", "compartmentalized", "mixed"))
})

test_that("interaction z and L areas are those of the per-image seed", {
    cells <- profile_cohort(4)
    pairs <- data.frame(from = c("CD8 T", "B"), to = c("Tumor", "Tumor"))
    r <- seq(0, 40, by = 4)
    set.seed(11)
    p <- spatial_profile(cells, tumor = "Tumor", pairs = pairs, nperm = 49,
                         r = r, nsim = 9,
                         features = few("interactions", "kfunctions"))
    expect_named(p, c("image", "patient", "z_cd8_t_to_tumor",
                      "z_b_to_tumor", "l_area_cd8_t_to_tumor",
                      "l_area_b_to_tumor", "l_outside_cd8_t_to_tumor",
                      "l_outside_b_to_tumor", "note"))
    # the per-image seeds, drawn as map_images() draws them
    set.seed(11)
    seeds <- sample.int(.Machine$integer.max, 3, replace = TRUE)
    trapz <- function(x, y) sum(diff(x) * (y[-1] + y[-length(y)]) / 2)
    for (k in 1:3) {
        im <- c("a", "b", "c")[k]
        s <- cells[cells$image == im, ]
        set.seed(seeds[k])
        it <- interaction_test(s, radius = 20, method = "classic",
                               nperm = 49, types = c("CD8 T", "B", "Tumor"),
                               nthreads = 1)
        z <- it$z[it$from == "CD8 T" & it$to == "Tumor"]
        expect_equal(p$z_cd8_t_to_tumor[k], z)
        # one call for both pairs: they share the relabellings
        both <- as.data.frame(ripley_l(s, c("CD8 T", "B"), "Tumor", r = r,
                                       envelope = "labels", nsim = 9,
                                       nthreads = 1))
        for (f in c("CD8 T", "B")) {
            l <- both[both$from == f, ]
            col <- paste0("l_area_", if (f == "B") "b" else "cd8_t",
                          "_to_tumor")
            expect_equal(p[[col]][k], trapz(l$r, l$estimate - l$mmean))
            out <- mean(l$estimate < l$lo | l$estimate > l$hi)
            expect_equal(p[[sub("area", "outside", col)]][k], out)
        }
    }
})

test_that("neighbourhood fractions match cellular_neighborhoods()", {
    cells <- profile_cohort(5)
    cn <- cellular_neighborhoods(cells, k = 8, n = 3, nthreads = 1)
    p <- spatial_profile(cells, tumor = "Tumor", k = 8, n_neighborhoods = 3,
                         features = few("neighborhoods"))
    fr <- summary(cn, "frequencies")
    for (im in c("a", "b", "c")) {
        f <- fr[fr$image == im, ]
        expect_equal(unlist(p[p$image == im, paste0("frac_cn", 1:3)],
                            use.names = FALSE),
                     f$fraction[match(paste0("CN", 1:3), f$neighborhood)])
    }
    p2 <- spatial_profile(cells, tumor = "Tumor", neighborhoods = cn,
                          features = few("neighborhoods"))
    expect_equal(p2$frac_cn1, p$frac_cn1)
})

test_that("a failing group gives NA columns and a note; the rest completes", {
    cells <- profile_cohort(6)
    boom <- function(cells, ctx) {
        if (cells$image[1] == "b") stop("no luck on b")
        data.frame(my_value = 1.5, my_class = factor("x", levels = c("x", "y")))
    }
    feats <- c(few("counts"), boom = boom)
    p <- spatial_profile(cells, tumor = "Tumor", features = feats)
    expect_equal(nrow(p), 3L)
    expect_equal(p$my_value, c(1.5, NA, 1.5))
    expect_true(is.factor(p$my_class))
    expect_identical(levels(p$my_class), c("x", "y"))
    expect_match(p$note[2], "boom: no luck on b")
    expect_false(anyNA(p$n_cells))
    # a group returning something else than one row
    bad <- c(few("counts"), two = function(cells, ctx) data.frame(a = 1:2))
    p <- spatial_profile(cells, tumor = "Tumor", features = bad)
    expect_false("a" %in% names(p))
    expect_match(p$note[1], "not a one-row data frame")
})

test_that("a broken image (one cell, no tumour) completes with a note", {
    cells <- profile_cohort(7)
    df <- as.data.frame(cells)
    df <- rbind(df[c("x", "y", "type", "image", "patient")],
                data.frame(x = 5, y = 5, type = "CD8 T", image = "z",
                           patient = "p3"))
    cells2 <- suppressWarnings(spatial_cells(df, image = "image",
                                             window = "rectangle"))
    set.seed(1)
    p <- spatial_profile(cells2, tumor = "Tumor", nperm = 9, nsim = 5,
                         r = seq(0, 30, by = 5), min_immune = 5)
    expect_equal(nrow(p), 4L)
    z <- p[p$image == "z", ]
    expect_match(z$note, "no tumour cells")
    expect_true(is.na(z$cd8_tumor_median_um))
    expect_true(is.na(z$mixing_score))
    expect_equal(z$n_cells, 1L)
    expect_false(anyNA(p$n_cells))
    expect_false(anyNA(p$cd8_tumor_median_um[p$image != "z"]))
})

test_that("profiles are reproducible with a seed under any BPPARAM", {
    skip_on_os("windows")
    cells <- profile_cohort(8)
    run <- function(bp) {
        set.seed(99)
        spatial_profile(cells, tumor = "Tumor", nperm = 19, nsim = 5,
                        r = seq(0, 30, by = 5), n_neighborhoods = 3,
                        BPPARAM = bp)
    }
    a <- run(NULL)
    expect_identical(run(BiocParallel::SerialParam()), a)
    expect_identical(run(BiocParallel::MulticoreParam(2)), a)
    set.seed(100)
    b <- spatial_profile(cells, tumor = "Tumor", nperm = 19, nsim = 5,
                         r = seq(0, 30, by = 5), n_neighborhoods = 3)
    expect_false(identical(a$z_cd8_t_to_tumor, b$z_cd8_t_to_tumor))
})

test_that("bad input gives classed errors", {
    cells <- profile_cohort()
    expect_error(spatial_profile(cells, tumor = "Tumor", radus = 3),
                 class = "immunoscape_error_argument")
    expect_error(spatial_profile(cells, tumor = "Tumour"),
                 class = "immunoscape_error_type")
    expect_error(spatial_profile(cells, tumor = "Tumor",
                                 features = list(function(c, x) 1)),
                 class = "immunoscape_error_argument")
    expect_error(profile_features("count"),
                 class = "immunoscape_error_argument")
    expect_error(spatial_profile(cells, tumor = "Tumor", carry = "x"),
                 class = "immunoscape_error_column")
    expect_error(spatial_profile(cells, tumor = "Tumor", carry = "patnt"),
                 class = "immunoscape_error_column")
    expect_error(spatial_profile(cells, tumor = "Tumor",
                                 pairs = list(c("CD8 T", "Tumour"))),
                 class = "immunoscape_error_type")
    expect_error(spatial_profile(cells, tumor = "Tumor", radius = -1),
                 class = "immunoscape_error_radius")
    clash <- c(few("counts"), dup = function(cells, ctx) {
        data.frame(n_cells = 1)
    })
    expect_error(spatial_profile(cells, tumor = "Tumor", features = clash),
                 class = "immunoscape_error_argument")
})

test_that("aggregate_profile() follows its rules (hand computation)", {
    cells <- profile_cohort(9)
    p <- spatial_profile(cells, tumor = "Tumor",
                         features = few("counts", "ratio", "distances",
                                        "mixing"), min_immune = 10)
    a <- aggregate_profile(p, by = "patient")
    expect_s3_class(a, "spatial_profile")
    expect_identical(a$patient, c("p1", "p2"))
    expect_equal(a$n_images, c(2L, 1L))
    i <- p$patient == "p1"
    expect_equal(a$n_cells[1], sum(p$n_cells[i]))
    expect_equal(a$area_mm2[1], sum(p$area_mm2[i]))
    # pooled density = area-weighted mean of the image densities
    expect_equal(a$density_cd8_t[1], sum(p$n_cd8_t[i]) / sum(p$area_mm2[i]))
    expect_equal(a$density_cd8_t[1],
                 weighted.mean(p$density_cd8_t[i], p$area_mm2[i]))
    expect_equal(a$cd8_treg_ratio[1],
                 sum(p$cd8_cells[i]) / sum(p$treg_cells[i]))
    expect_true(is.na(a$cd8_treg_ratio[2]))   # p2 has no Treg
    expect_equal(a$log2_cd8_treg[2],
                 log2((p$cd8_cells[3] + 1) / (p$treg_cells[3] + 1)))
    expect_equal(a$cd8_tumor_frac_near[1],
                 weighted.mean(p$cd8_tumor_frac_near[i], p$cd8_cells[i]))
    expect_equal(a$mixing_score[1], sum(p$n_immune_tumor_pairs[i]) /
                     sum(p$n_immune_immune_pairs[i]))
    expect_equal(a$density_cd8_t[2], p$density_cd8_t[3])
    expect_true(is.factor(a$architecture))
    # overrides: the lowest density over a patient's images
    m <- aggregate_profile(p, by = "patient",
                           rules = c(density_cd8_t = "min",
                                     mixing_score = "max"))
    expect_equal(m$density_cd8_t[1], min(p$density_cd8_t[i]))
    expect_equal(m$mixing_score[1], max(p$mixing_score[i]))
    # NA images are left out of every rule
    q <- p
    q$density_b[1] <- NA
    q$n_b[1] <- NA
    expect_equal(aggregate_profile(q, by = "patient")$density_b[1],
                 p$density_b[2])
    # mode with ties goes to the first level
    q$architecture <- factor(c("mixed", "compartmentalized", "cold"),
                             levels = c("cold", "compartmentalized",
                                        "mixed"))
    expect_identical(as.character(aggregate_profile(q)$architecture),
                     c("compartmentalized", "cold"))
    expect_error(aggregate_profile(p, by = "patnt"),
                 class = "immunoscape_error_column")
    expect_error(aggregate_profile(p, rules = c(n_cells = "geomean")),
                 class = "immunoscape_error_argument")
    expect_error(aggregate_profile(as.data.frame(p)),
                 class = "immunoscape_error_argument")
})

test_that("print, summary and autoplot work", {
    cells <- profile_cohort()
    p <- spatial_profile(cells, tumor = "Tumor",
                         features = few("counts", "ratio"))
    expect_output(print(p), "spatial_profile")
    s <- summary(p)
    expect_true(all(c("feature", "n", "median", "rule") %in% names(s)))
    expect_equal(s$rule[s$feature == "density_b"], "ratio:n_b/area_mm2")
    g <- autoplot(p)
    ld <- ggplot2::layer_data(g)
    expect_true(all(abs(ld$x - round(ld$x)) < 1e-12))
    expect_gt(nrow(ld), 0)
})

test_that("a SingleCellExperiment gives the same profile", {
    skip_if_not_installed("SingleCellExperiment")
    cells <- profile_cohort()
    sce <- as_sce(cells)
    f <- few("counts", "ratio", "distances")
    a <- spatial_profile(cells, tumor = "Tumor", features = f)
    b <- quiet(spatial_profile(sce, tumor = "Tumor", features = f))
    expect_equal(as.data.frame(b), as.data.frame(a))
})

test_that("compartment, phenotype and growth groups equal direct calls", {
    sim <- simulate_tme(n_images = 2, size = 1200, seed = 3,
                        pattern = c("desmoplastic", "replacement"),
                        infiltration = c("inflamed", "excluded"))
    imm <- c("CD8 T", "CD4 T", "Treg", "B", "Macrophage")
    p <- quiet(spatial_profile(sim, tumor = "Tumor", immune = imm,
                               margin = 200,
                               features = few("compartments", "phenotype",
                                              "growth")))
    for (k in 1:2) {
        im <- levels(sim$image)[k]
        s <- split(sim)[[im]]
        reg <- quiet(tumor_regions(s, tumor = "Tumor"))
        comp <- quiet(compartments(s, reg, margin = 200))
        a <- attr(comp, "areas")
        core <- a$area_mm2[a$compartment == "outer_margin"]
        expect_equal(p$area_outer_margin_mm2[k], core)
        n8 <- sum(comp$type == "CD8 T" & comp$compartment == "outer_margin",
                  na.rm = TRUE)
        expect_equal(p$density_cd8_t_outer_margin[k], n8 / core)
        ph <- quiet(immune_phenotype(s, reg, immune = "CD8 T", margin = 200,
                                     tumor = "Tumor"))
        expect_identical(as.character(p$immune_phenotype[k]),
                         as.character(ph$phenotype))
        expect_equal(p$cd8_density_core[k], ph$density_core)
        g <- quiet(growth_pattern(s, reg, tumor = "Tumor",
                                  liver = "Hepatocyte"))
        expect_identical(as.character(p$growth_pattern[k]),
                         as.character(g$pattern))
        expect_equal(p$frac_desmoplastic[k], g$desmoplastic)
        expect_equal(p$interface_um[k], g$interface_um)
    }
    expect_true(is.factor(p$immune_phenotype))
    expect_true(is.factor(p$growth_pattern))
    # a cohort without hepatocytes: growth columns NA without a note
    q <- spatial_profile(profile_cohort(), tumor = "Tumor",
                         features = few("growth"))
    expect_true(all(is.na(q$growth_pattern)))
    expect_true(all(is.na(q$note)))
})

test_that("the TLS group equals detect_tls() on each image", {
    sim <- quiet(simulate_tme(n_images = 2, size = 1500, seed = 5, n_tls = 2))
    imm <- c("CD8 T", "CD4 T", "Treg", "B", "Macrophage")
    p <- quiet(spatial_profile(sim, tumor = "Tumor", immune = imm,
                               features = few("tls")))
    for (k in 1:2) {
        s <- split(sim)[[levels(sim$image)[k]]]
        reg <- quiet(tumor_regions(s, tumor = "Tumor"))
        tl <- quiet(detect_tls(s, b_cells = "B",
                               t_cells = c("CD4 T", "CD8 T", "Treg"),
                               fdc = "FDC", gc = "GC B", regions = reg))
        expect_equal(p$n_tls[k], tl$images$n_tls)
        expect_equal(p$tls_per_mm2[k], tl$images$tls_per_mm2)
        expect_equal(p$n_tls_secondary[k],
                     sum(tl$tls$maturity == "secondary"))
        expect_equal(p$n_tls_margin[k],
                     sum(as.character(tl$tls$location) == "margin"))
        expect_equal(p$frac_b_in_tls[k], tl$images$frac_b_in_tls)
    }
    # a panel without B cells: tls_b = NULL gives NA without a note
    q <- spatial_profile(profile_cohort(), tumor = "Tumor",
                         features = few("tls"), tls_b = NULL)
    expect_true(all(is.na(q$n_tls)))
    expect_true(all(is.na(q$note)))
    # a B-cell type named explicitly must exist
    expect_error(spatial_profile(profile_cohort(), tumor = "Tumor",
                                 features = few("tls"), tls_b = "Plasma"),
                 "tls_b", class = "immunoscape_error_type")
})

test_that("phenotype group: no CD8 cell is a desert; tls_b marks aggregates", {
    # "a": a tumour disc with a follicle of "B cell (CD19+)" ringed by
    # CD8 T cells in its core, and no other CD8 T cell; "b": the same
    # tumour without follicle nor CD8 T cell
    disc <- function(x, y) {
        ifelse((x - 500)^2 + (y - 500)^2 < 380^2, "Tumor", "Stroma")
    }
    a <- ro_cells(1000, 15, disc, seed = 1, image = "a")
    r <- sqrt((a$x - 500)^2 + (a$y - 500)^2)
    a$type[r < 60] <- "B cell (CD19+)"
    a$type[r >= 60 & r < 110] <- "CD8 T"
    cells <- spatial_cells(rbind(a, ro_cells(1000, 15, disc, seed = 2,
                                             image = "b")),
                           image = "image")
    p <- quiet(spatial_profile(cells, tumor = "Tumor",
                               tls_b = "B cell (CD19+)",
                               features = few("phenotype")))
    # "b": no CD8 T cell, densities 0 over the areas of immune_phenotype()
    # of the cohort
    reg <- quiet(tumor_regions(cells, tumor = "Tumor"))
    ph <- quiet(immune_phenotype(cells, reg, immune = "CD8 T",
                                 tumor = "Tumor",
                                 aggregates = "B cell (CD19+)"))
    expect_identical(as.character(p$immune_phenotype), c("desert", "desert"))
    expect_identical(as.character(ph$phenotype), c("desert", "desert"))
    expect_identical(c(p$cd8_density_core[2], p$cd8_density_margin[2]),
                     c(0, 0))
    expect_equal(p$phenotype_core_mm2, ph$core_area_mm2)
    expect_equal(p$phenotype_margin_mm2, ph$margin_area_mm2)
    expect_false(any(grepl("CD8", p$note)))
    # "a": every CD8 T cell is in the follicle, left out
    expect_identical(p$cd8_density_core[1], 0)
    q <- quiet(spatial_profile(cells, tumor = "Tumor", tls_b = NULL,
                               features = few("phenotype")))
    expect_gt(q$cd8_density_core[1], 100)
    # the default tls_b ("B") is absent but "B cell (CD19+)" looks like
    # B cells: an error naming it, not a silently empty role
    expect_error(spatial_profile(cells, tumor = "Tumor",
                                 features = few("phenotype")),
                 "B cell (CD19+)", fixed = TRUE,
                 class = "immunoscape_error_type")
    # no B-like type at all: said once, the profile computed
    cells2 <- cells
    levels(cells2$type)[levels(cells2$type) == "B cell (CD19+)"] <- "Plasma"
    expect_message(q2 <- spatial_profile(cells2, tumor = "Tumor",
                                         features = few("phenotype")),
                   "tls_b", class = "immunoscape_message")
    expect_equal(q2$cd8_density_core, q$cd8_density_core)
})

test_that("TLS group: an image without tumour region keeps its TLS", {
    set.seed(9)
    t <- tls_fixture(list(c(300, 300)), side = 800, image = "t")
    n <- tls_fixture(list(c(300, 300)), side = 800, image = "n")
    # "n": three scattered tumour cells, no tumour region
    n$type[n$type == "Tumor"] <- "Stroma"
    n$type[c(1, 100, 200)] <- "Tumor"
    cells <- spatial_cells(rbind(t, n), image = "image")
    p <- quiet(spatial_profile(cells, tumor = "Tumor", features = few("tls"),
                               tls_t = "CD4 T"))
    loc <- paste0("n_tls_", c("intratumoral", "margin", "peritumoral",
                              "distal"))
    for (im in c("t", "n")) {
        s <- split(cells)[[im]]
        reg <- quiet(tumor_regions(s, tumor = "Tumor"))
        tl <- quiet(detect_tls(s, b_cells = "B", t_cells = "CD4 T"))
        k <- which(p$image == im)
        expect_equal(p$n_tls[k], nrow(tl$tls))
        expect_equal(p$frac_b_in_tls[k], tl$images$frac_b_in_tls)
        if (im == "t") {
            tr <- quiet(detect_tls(s, b_cells = "B", t_cells = "CD4 T",
                                   regions = reg))
            where <- as.character(tr$tls$location)
            expect_equal(unlist(p[k, loc]),
                         stats::setNames(c(sum(where == "intratumoral"),
                                           sum(where == "margin"),
                                           sum(where == "peritumoral"),
                                           sum(where == "distal")), loc))
        }
    }
    expect_equal(p$n_tls[p$image == "n"], 1)
    expect_true(all(is.na(unlist(p[p$image == "n", loc]))))
    expect_match(p$note[p$image == "n"], "tls: TLS location NA")
    expect_true(is.na(p$note[p$image == "t"]))
})

test_that("spatial_profile() names a bad tumor argument (issue 12)", {
    sim <- quiet(simulate_tme(size = 1000, cells_per_mm2 = 1000, seed = 1,
                              n_tls = 0))
    f <- profile_features("counts")
    expect_error(spatial_profile(sim, tumor = NA, features = f), "tumor",
                 class = "immunoscape_error_type")
    expect_error(spatial_profile(sim, tumor = NULL, features = f), "tumor",
                 class = "immunoscape_error_type")
    expect_error(spatial_profile(sim, tumor = factor("Z"), features = f),
                 "tumor", class = "immunoscape_error_type")
})

test_that("aggregate_profile refuses rules that need numbers on categories", {
    cells <- profile_cohort()
    p <- quiet(spatial_profile(cells, tumor = "Tumor",
                               features = few("counts", "mixing")))
    expect_true(is.factor(p$architecture))
    for (r in list(c(architecture = "sum"), c(architecture = "mean"),
                   c(n_cells = "ratio:architecture/n_cells"),
                   c(n_cells = "weighted:architecture"))) {
        expect_error(aggregate_profile(p, by = "patient", rules = r),
                     "architecture", class = "immunoscape_error_argument")
    }
    a <- aggregate_profile(p, by = "patient",
                           rules = c(architecture = "mode", n_cells = "max"))
    expect_equal(a$n_cells, as.vector(tapply(p$n_cells, p$patient, max)))
})

test_that("TLS group: T-cell types checked for the cohort, not per image", {
    set.seed(9)
    a <- tls_fixture(list(c(300, 300)), side = 800, image = "a")
    b <- tls_fixture(list(c(300, 300)), side = 800, image = "b")
    # image "b" has no T cell at all: no TLS there, and no error
    b <- b[b$type != "CD4 T", ]
    cells <- spatial_cells(rbind(a, b), image = "image")
    p <- quiet(spatial_profile(cells, tumor = "Tumor", features = few("tls"),
                               tls_t = "CD4 T"))
    expect_equal(p$n_tls, c(1, 0))
    expect_true(all(is.na(p$note) | !grepl("t_cells", p$note)))
    # the panel names its T cells otherwise: the default is an error
    # suggesting them
    levels(cells$type)[levels(cells$type) == "CD4 T"] <- "CD4 T (CD4+)"
    levels(cells$type)[levels(cells$type) == "CD8 T"] <- "CD8 T (CD8+)"
    expect_error(spatial_profile(cells, tumor = "Tumor",
                                 features = few("tls")),
                 'tls_t = c("CD4 T (CD4+)", "CD8 T (CD8+)")', fixed = TRUE,
                 class = "immunoscape_error_type")
})
