skip_if_no_report <- function() {
    skip_if_not_installed("rmarkdown")
    skip_if_not_installed("knitr")
    skip_if_not(rmarkdown::pandoc_available("1.12.3"), "pandoc is missing")
}

tiny_cohort <- function() {
    set.seed(3)
    make <- function(image, patient, n_cd8) {
        tum <- data.frame(x = runif(150, 100, 300), y = runif(150, 100, 300),
                          type = "Tumor")
        bg <- data.frame(x = runif(250, 0, 400), y = runif(250, 0, 400),
                         type = sample(c("Stroma", "Other"), 250, TRUE))
        cd8 <- data.frame(x = runif(n_cd8, 0, 400), y = runif(n_cd8, 0, 400),
                          type = "CD8 T")
        b <- data.frame(x = runif(30, 0, 400), y = runif(30, 0, 400),
                        type = "B")
        d <- rbind(tum, bg, cd8, b)
        d$image <- image
        d$patient <- patient
        d
    }
    df <- rbind(make("a1", "p1", 40), make("a2", "p1", 80),
                make("b1", "p2", 20), make("c1", "p3", 120))
    spatial_cells(df, image = "image")
}

test_that("render_report writes a self-contained HTML with its sections", {
    skip_if_no_report()
    cells <- tiny_cohort()
    out <- withr::local_tempdir()
    file <- file.path(out, "tiny.html")
    old <- options(immunoscape.verbose = FALSE)
    on.exit(options(old), add = TRUE)
    html <- render_report(cells, file, n_images = 2, nsim = 5, nperm = 9,
                          title = "Tiny cohort")
    expect_true(file.exists(file))
    expect_equal(normalizePath(as.vector(html)), normalizePath(file))
    txt <- paste(readLines(file, warn = FALSE), collapse = "\n")
    for (h in c("Tiny cohort", "Overview", "Representative images",
                "K and L functions", "Cell-cell interactions",
                "Cellular neighbourhoods", "Methods and parameters")) {
        expect_match(txt, h, fixed = TRUE)
    }
    expect_match(txt, "Tumour compartments and margins", fixed = TRUE)
    expect_match(txt, "Tertiary lymphoid structures", fixed = TRUE)
    expect_match(txt, "Spatial features per image", fixed = TRUE)
    expect_match(txt, "<h2>Patients</h2>", fixed = TRUE)
    # self-contained: figures inline, no file or http references for them
    expect_match(txt, "<img src=\"data:image/png;base64,", fixed = TRUE)
    expect_false(grepl("<img src=\"(?!data:)", txt, perl = TRUE))
    expect_false(grepl("<script src=\"(?!data:)", txt, perl = TRUE))
    expect_false(grepl("<link[^>]+href=\"(?!data:)[^\"]+\\.css", txt,
                       perl = TRUE))
    # the overview table lists every image
    for (im in c("a1", "a2", "b1", "c1")) expect_match(txt, im, fixed = TRUE)
    rep <- attr(html, "report")
    # two representative images: the lowest and the highest immune density
    expect_equal(nrow(rep$selected), 2L)
    ov <- rep$overview
    expect_setequal(rep$selected$image,
                    ov$image[c(which.min(ov$immune_density),
                               which.max(ov$immune_density))])
    # overview counts against a direct tabulation
    expect_equal(ov$cells, as.vector(table(cells$image)[ov$image]))
    imm <- cells$type %in% c("CD8 T", "B")
    expect_equal(ov$immune_cells,
                 as.vector(tapply(imm, cells$image, sum)[ov$image]))
    expect_equal(rep$opts$immune, c("B", "CD8 T"))
})

test_that("sections can be chosen and single images are reported", {
    skip_if_no_report()
    cells <- tiny_cohort()
    one <- cells[cells$image == "a1", ]
    file <- file.path(withr::local_tempdir(), "one.html")
    old <- options(immunoscape.verbose = FALSE)
    on.exit(options(old), add = TRUE)
    html <- render_report(one, file, sections = c("overview", "maps"))
    txt <- paste(readLines(file, warn = FALSE), collapse = "\n")
    expect_match(txt, "Representative images", fixed = TRUE)
    expect_false(grepl("Cell-cell interactions", txt, fixed = TRUE))
    expect_false(grepl("K and L functions", txt, fixed = TRUE))
    rep <- attr(html, "report")
    expect_equal(rep$selected$why, "the only image")
    expect_null(rep$interactions)
})

test_that("clinical data add the outcome section", {
    skip_if_no_report()
    cells <- tiny_cohort()
    clin <- data.frame(patient = c("p1", "p2", "p3"), t = c(5, 10, 20),
                       e = c(1, 0, 1))
    file <- file.path(withr::local_tempdir(), "clin.html")
    old <- options(immunoscape.verbose = FALSE)
    on.exit(options(old), add = TRUE)
    html <- render_report(cells, file, clinical = clin, time = "t",
                          event = "e", nsim = 5, nperm = 9,
                          sections = c("overview", "features", "patients",
                                       "outcome"))
    txt <- paste(readLines(file, warn = FALSE), collapse = "\n")
    expect_match(txt, "<h2>Outcome</h2>", fixed = TRUE)
    expect_match(txt, "<h2>Patients</h2>", fixed = TRUE)
    expect_false(grepl("could not be computed", txt, fixed = TRUE))
    rep <- attr(html, "report")
    expect_equal(nrow(rep$patients), 3L)
})

test_that("representative images spread over the density ranks", {
    ov <- data.frame(image = paste0("i", 1:10), immune_density = 10:1,
                     patient = rep(c("a", "b"), 5))
    s <- immunoscape:::report_select(ov, 3, NULL, NULL)
    expect_equal(s$image, c("i10", "i5", "i1"))
    expect_match(s$why[1], "rank 1 of 10 (lowest)", fixed = TRUE)
    expect_match(s$why[3], "rank 10 of 10 (highest)", fixed = TRUE)
    # at most one per patient while there are enough patients
    s2 <- immunoscape:::report_select(ov, 2, NULL, "patient")
    expect_equal(length(unique(s2$patient)), 2L)
    # chosen images are kept as given
    s3 <- immunoscape:::report_select(ov, 3, c("i4", "i2"), NULL)
    expect_equal(s3$image, c("i4", "i2"))
})

test_that("report tables scroll and keep whole numbers whole", {
    skip_if_not_installed("knitr")
    df <- data.frame(image = paste0("i", 1:20), n = 23978 + 0:19,
                     d = seq(0.12345, 2, length.out = 20))
    h <- immunoscape:::report_table(df)
    expect_match(h, "scroll-box", fixed = TRUE)
    expect_match(h, "23,978", fixed = TRUE)
    expect_match(h, "0.123", fixed = TRUE)
    expect_match(immunoscape:::report_table(df[1:3, ]), "table-box",
                 fixed = TRUE)
})

test_that("render_report refuses bad arguments with classed errors", {
    skip_if_no_report()
    cells <- tiny_cohort()
    tmp <- withr::local_tempdir()
    f <- file.path(tmp, "r.html")
    expect_error(render_report(data.frame(a = 1), f),
                 class = "immunoscape_error")
    expect_error(render_report(cells, file.path(tmp, "r.pdf")),
                 class = "immunoscape_error_file")
    expect_error(render_report(cells, file.path(tmp, "no", "dir", "r.html")),
                 class = "immunoscape_error_file")
    expect_error(render_report(cells, c(f, f)),
                 class = "immunoscape_error_argument")
    expect_error(render_report(cells, f, tumor = "Tumour"),
                 class = "immunoscape_error_type")
    # the panel calls its B cells "B cell": the default "B" is an error
    # naming it, not a report without TLS; so is an absent b_cells
    renamed <- cells
    levels(renamed$type)[levels(renamed$type) == "B"] <- "B cell"
    expect_error(render_report(renamed, f), "B cell",
                 class = "immunoscape_error_type")
    expect_error(render_report(cells, f, b_cells = "CD20+ B"),
                 "b_cells", class = "immunoscape_error_type")
    expect_false(file.exists(f))
    expect_error(render_report(cells, f, immune = "NK"),
                 class = "immunoscape_error_type")
    expect_error(render_report(cells, f, sections = "maps2"),
                 class = "immunoscape_error_argument")
    expect_error(render_report(cells, f, n_images = 0),
                 class = "immunoscape_error_argument")
    expect_error(render_report(cells, f, images = "zz"),
                 class = "immunoscape_error_argument")
    expect_error(render_report(cells, f, patient = "donor"),
                 class = "immunoscape_error_column")
    expect_error(render_report(cells, f, clinical = "x", time = "t",
                               event = "e"),
                 class = "immunoscape_error_argument")
    clin <- data.frame(patient = c("p1", "p2", "p3"), t = 1:3, e = 1)
    expect_error(render_report(cells, f, clinical = clin),
                 class = "immunoscape_error_argument")
    expect_error(render_report(cells, f, clinical = clin, time = "days",
                               event = "e"),
                 class = "immunoscape_error_column")
    expect_error(render_report(cells, f, time = "t", event = "e"),
                 class = "immunoscape_error_argument")
    expect_error(render_report(cells, f, clinical = clin[-1], time = "t",
                               event = "e"),
                 class = "immunoscape_error_column")
    expect_error(render_report(cells, f, sectons = "maps"),
                 class = "immunoscape_error_argument")
    expect_error(render_report(cells, f, quiet = NA),
                 class = "immunoscape_error_argument")
    expect_false(file.exists(f))
})

test_that("render_report checks file and clinical data before computing", {
    skip_if_no_report()
    cells <- tiny_cohort()
    tmp <- withr::local_tempdir()
    f <- file.path(tmp, "r.html")
    expect_error(render_report(), class = "immunoscape_error_argument")
    expect_error(render_report(file = f), "cells")
    # a folder, and a place nobody may write (not even root)
    dir.create(file.path(tmp, "d.html"))
    expect_error(render_report(cells, file.path(tmp, "d.html")),
                 class = "immunoscape_error_file")
    if (dir.exists("/proc")) {
        expect_error(render_report(cells, "/proc/immunoscape-test.html"),
                     class = "immunoscape_error_file")
    }
    # an existing file is neither truncated nor left behind by the check
    writeLines("old", f)
    expect_error(render_report(cells, f, margin = -1),
                 class = "immunoscape_error_margin")
    expect_identical(readLines(f), "old")
    unlink(f)
    expect_error(render_report(cells, f, nsim = 2^31),
                 class = "immunoscape_error_argument")
    expect_false(file.exists(f))
    clin <- data.frame(patient = unique(as.character(cells$patient)),
                       t = 1, e = 1)
    expect_error(render_report(cells, f, clinical = clin[0, ], time = "t",
                               event = "e"),
                 class = "immunoscape_error_empty")
    expect_error(render_report(cells, f, clinical = transform(clin,
                                                              patient = "zz"),
                               time = "t", event = "e"),
                 "No patient of `clinical`")
    expect_error(render_report(cells, f, clinical = clin, time = "t",
                               event = "ev"),
                 "not in `clinical`")
    expect_false(file.exists(f))
})
