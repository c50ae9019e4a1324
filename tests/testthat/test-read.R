fixture <- function(...) test_path("fixtures", ...)
plain <- function(x) {
    x <- as.data.frame(x)
    attr(x, "source") <- NULL
    x
}
# type counts, whatever the locale's sort order
expect_counts <- function(v, expected) {
    expect_mapequal(as.list(c(table(as.character(v)))), as.list(expected))
}
inform_counts <- c("CD68+" = 417L, "CD8+" = 228L, "CK+" = 2257L,
                   "FoxP3+" = 228L, other = 2942L)
halo_rules <- list("CD8 T" = c("CD3", "CD8"), Treg = c("CD3", "FOXP3"),
                   "other T" = "CD3")

test_that("the shared inForm field reads with its phenotypes and microns", {
    path <- shared_data("inform_lung_field", "cell_seg_data.csv.gz")
    skip_if_not(file.exists(path))
    cells <- read_cells(path)
    raw <- utils::read.csv(path, check.names = FALSE)
    expect_s3_class(cells, "spatial_cells")
    expect_equal(nrow(cells), 6072L)
    expect_counts(cells$type, inform_counts)
    expect_equal(levels(cells$image), "Set4_1-6plex_[16142,55840].im3")
    expect_equal(cells$x, raw$`Cell X Position`)
    expect_equal(cells$y, raw$`Cell Y Position`)
    expect_equal(cells$cell_id, raw$`Cell ID`)
    expect_counts(cells$`Tissue Category`, c(Stroma = 3512L, Tumor = 2560L))
    # every other inForm column is kept under its name
    expect_equal(ncol(cells), ncol(raw))
    expect_true("Entire Cell CD8 (Opal 540) Mean" %in% names(cells))
    expect_equal(attr(cells, "source")$format, "inform")
})

test_that("the bundled inForm example reads with the field's phenotypes", {
    path <- system.file("extdata", "inform_cell_seg_data.txt.gz",
                        package = "immunoscape")
    expect_true(nzchar(path))
    cells <- read_cells(path)
    expect_equal(nrow(cells), 6072L)
    expect_counts(cells$type, inform_counts)
    # inForm's #N/A is missing, not text
    d <- cells$`Distance from Tissue Category Edge (microns)`
    expect_type(d, "double")
    expect_true(anyNA(d))
    expect_true(all(c("Entire Cell CK (Opal 690) Mean",
                      "Nucleus Area (sq microns)") %in% names(cells)))
    shared <- shared_data("inform_lung_field", "cell_seg_data.csv.gz")
    skip_if_not(file.exists(shared))
    full <- read_cells(shared)
    expect_equal(cells$x, full$x)
    expect_equal(cells$y, full$y)
    expect_equal(cells$type, full$type)
    expect_equal(cells$`Entire Cell CK (Opal 690) Mean`,
                 full$`Entire Cell CK (Opal 690) Mean`)
})

test_that("the shared HALO cores read as 5 images in microns", {
    path <- shared_data("halo_tma_cores", "cells.csv")
    skip_if_not(file.exists(path))
    raw <- utils::read.csv(path, check.names = FALSE)
    cells <- read_cells(path, pixel_size = 0.5)
    expect_equal(nrow(cells), 12782L)
    expect_equal(nlevels(cells$image), 5L)
    expect_equal(c(table(cells$image))[["TMA1_[3,B].tif"]], 3803L)
    expect_counts(cells$type, c("CD3+ other T" = 732L, "CD8 T" = 169L,
                                "Stroma (unphenotyped)" = 1651L,
                                "Treg (CD3+FOXP3+)" = 81L,
                                "Tumor (unphenotyped)" = 10149L))
    # centre of the bounding box, 0.5 micron per pixel
    expect_equal(cells$x, (raw$XMin + raw$XMax) / 2 * 0.5)
    expect_equal(cells$y, raw$y_px * 0.5)
    expect_equal(cells$cell_id, raw$object_id)
    expect_equal(attr(cells, "pixel_size"), 0.5)
    # the positivity rule reproduces the file's T-cell phenotypes
    typed <- quiet(read_cells(path, pixel_size = 0.5,
                              phenotypes = halo_rules))
    expect_counts(typed$type, c("CD8 T" = 169L, other = 11800L,
                                "other T" = 732L, Treg = 81L))
})

test_that("the bundled HALO cores equal the shared file", {
    path <- system.file("extdata", "halo_tma_cores.csv.xz",
                        package = "immunoscape")
    expect_true(nzchar(path))
    cells <- read_cells(path, pixel_size = 0.5)
    expect_equal(nrow(cells), 12782L)
    expect_equal(nlevels(cells$image), 5L)
    expect_equal(sum(cells$type == "CD8 T"), 169L)
    shared <- shared_data("halo_tma_cores", "cells.csv")
    skip_if_not(file.exists(shared))
    ref <- read_cells(shared, pixel_size = 0.5)
    expect_equal(plain(cells), plain(ref))
})

test_that("the shared NSCLC cohort reads with 247 fields and guessed columns", {
    path <- shared_data("nsclc_vectra_cohort", "cells.csv.gz")
    skip_if_not(file.exists(path))
    cells <- quiet(read_cells(path))
    expect_equal(nrow(cells), 285412L)
    # patientImage_id (field) wins over patient_id and image_id (nested)
    expect_equal(nlevels(cells$image), 247L)
    expect_counts(cells$type, c("B cell (CD19+)" = 7149L,
                                "CD4 T (CD4+)" = 14880L,
                                "CD8 T (CD8+)" = 11775L,
                                "Monocyte/Macrophage (CD14+)" = 18010L,
                                "Other/unclassified" = 46225L,
                                "Tumor (CK+)" = 187373L))
    expect_equal(unique(attr(cells, "source")$format), "csv")
    expect_false("patientImage_id" %in% names(cells))
    expect_true(max(cells$x) < 700 && min(cells$x) >= 0)
    expect_true(max(cells$y) < 520 && min(cells$y) >= 0)
    expect_true(all(c("survival_days", "phenotype_cd8") %in% names(cells)))
})

test_that("a plain table reads like spatial_cells() on the same columns", {
    set.seed(3)
    df <- data.frame(x_um = round(runif(50, 0, 300), 2),
                     y_um = round(runif(50, 0, 300), 2),
                     cell_type = sample(c("T", "B", "Tumor"), 50, TRUE),
                     sample = rep(c("s1", "s2"), each = 25),
                     CD3 = round(runif(50), 3))
    f <- withr::local_tempfile(fileext = ".csv")
    utils::write.csv(df, f, row.names = FALSE)
    got <- read_cells(f)
    ref <- spatial_cells(df, x = "x_um", y = "y_um", type = "cell_type",
                         image = "sample")
    expect_equal(plain(got), plain(ref))
    # tab-separated and xz / gzip compressed: the same cells
    for (ext in c(".tsv.xz", ".tsv.gz", ".tsv")) {
        g <- withr::local_tempfile(fileext = ext)
        con <- switch(ext, ".tsv.xz" = xzfile(g, "w"),
                      ".tsv.gz" = gzfile(g, "w"), file(g, "w"))
        utils::write.table(df, con, sep = "\t", row.names = FALSE,
                           quote = FALSE)
        close(con)
        expect_equal(plain(read_cells(g)), plain(ref))
    }
    # coordinates written with units
    u <- df
    u$x_um <- paste(df$x_um, "um")
    u$y_um <- paste0(df$y_um, "\u00b5m")
    utils::write.csv(u, f, row.names = FALSE, fileEncoding = "UTF-8")
    expect_equal(plain(read_cells(f)), plain(ref))
    utils::write.csv(df, f, row.names = FALSE)
    # explicit names override the guesses
    h <- read_cells(f, type = "sample", image = "cell_type",
                    format = "csv")
    expect_equal(levels(h$type), c("s1", "s2"))
    expect_setequal(levels(h$image), c("T", "B", "Tumor"))
})

test_that("HALO object data: bounding-box centres and positivity phenotypes", {
    path <- fixture("halo_object_data.csv")
    raw <- utils::read.csv(path, check.names = FALSE)
    cells <- quiet(read_cells(path, pixel_size = 0.5))
    # without pixel_size: a warning, with the pixel size the cell areas
    # (square microns) imply against the boxes (pixels)
    expect_warning(px <- quiet(read_cells(path)), "about 0.5 microns",
                   class = "immunoscape_warning_pixel_size")
    expect_equal(px$x, 2 * cells$x)
    expect_equal(attr(cells, "source")$format, c("halo", "halo"))
    # image = file name of "Image Location" (a Windows UNC path)
    expect_equal(levels(cells$image), c("TMA3_[9,K].tif", "TMA1_[3,B].tif"))
    expect_equal(cells$x, (raw$XMin + raw$XMax) / 4)
    expect_equal(cells$y, (raw$YMin + raw$YMax) / 4)
    expect_equal(cells$cell_id, raw$`Object Id`)
    expect_true("Cell Area (\u00b5m\u00b2)" %in% names(cells))
    # default rule: combination of positive markers in column order
    pos <- raw[grep(" Positive Classification$", names(raw))] == 1
    mk <- sub(" Positive Classification$", "", colnames(pos))
    want <- apply(pos, 1, function(p) {
        if (any(p)) paste0(mk[p], "+", collapse = "") else "negative"
    })
    expect_equal(as.character(cells$type), unname(want))
    expect_true("CD3+CD8+" %in% cells$type)
    # a list: first match wins, the rest is "other"
    rules <- list("CD8 T" = c("CD3", "CD8"), Treg = c("CD3", "FOXP3"),
                  Tumor = "PanCK")
    typed <- quiet(read_cells(path, phenotypes = rules, pixel_size = 0.5))
    p <- function(m) raw[[paste(m, "Positive Classification")]] == 1
    want <- ifelse(p("CD3") & p("CD8"), "CD8 T",
                   ifelse(p("CD3") & p("FOXP3"), "Treg",
                          ifelse(p("PanCK"), "Tumor", "other")))
    expect_equal(as.character(typed$type), want)
    # negation and case-insensitive marker names
    neg <- quiet(read_cells(path, pixel_size = 0.5, phenotypes = list(
        "CD4-like T" = c("cd3", "CD8-", "FOXP3-"))))
    expect_equal(as.character(neg$type),
                 ifelse(p("CD3") & !p("CD8") & !p("FOXP3"), "CD4-like T",
                        "other"))
    # a function of the table as read
    fun <- quiet(read_cells(path, pixel_size = 0.5, phenotypes = function(d) {
        ifelse(d$`CD3 Positive Classification` == 1, "T",
               d$`Classifier Label`)
    }))
    expect_equal(as.character(fun$type),
                 ifelse(p("CD3"), "T", raw$`Classifier Label`))
})

test_that("QuPath measurements in microns and pixels", {
    um <- quiet(read_cells(fixture("qupath_measurements.tsv")))
    raw <- utils::read.delim(fixture("qupath_measurements.tsv"),
                             check.names = FALSE, encoding = "UTF-8")
    expect_equal(attr(um, "source")$format[1], "qupath")
    expect_equal(nrow(um), nrow(raw))
    expect_equal(um$x, raw[[6]])
    expect_equal(um$y, raw[[7]])
    # cells without a class are "unassigned", never dropped
    expect_equal(sum(um$type == "unassigned"), sum(!nzchar(raw$Class) |
                                                       is.na(raw$Class)))
    expect_true("CD3: CD8" %in% um$type)
    expect_equal(levels(um$image), c("TMA3_[9,K].tif", "TMA1_[3,B].tif"))
    # QuPath 0.4: "Classification", "Object ID", pixel centroids
    px <- quiet(read_cells(fixture("qupath_0.4_measurements.tsv"),
                           pixel_size = 0.5))
    expect_equal(px$x, um$x)
    expect_equal(px$y, um$y)
    expect_equal(as.character(px$type), as.character(um$type))
    expect_match(px$cell_id[1], "^[0-9a-f]{8}-")
    # multiplex classes split into markers for phenotype rules
    ty <- quiet(read_cells(fixture("qupath_0.4_measurements.tsv"),
                           pixel_size = 0.5,
                           phenotypes = list("CD8 T" = c("CD3", "CD8"),
                                             "CD4 T" = c("CD3", "CD8-"))))
    cls <- as.character(um$type)
    expect_equal(as.character(ty$type),
                 ifelse(cls == "CD3: CD8", "CD8 T",
                        ifelse(cls %in% c("CD3", "CD3: FOXP3"), "CD4 T",
                               "other")))
    # pixel units without pixel_size: kept, with a warning that is not
    # silenced by immunoscape.verbose = FALSE
    expect_warning(quiet(read_cells(fixture("qupath_0.4_measurements.tsv"))),
                   "pixel", class = "immunoscape_warning_pixel_size")
})

test_that("decimal commas are read; text in coordinates is reported", {
    withr::local_options(immunoscape.verbose = FALSE)
    f <- withr::local_tempfile(fileext = ".csv")
    writeLines(c("x;y;type", "1,5;2,5;A", "3,5;4,5;B", "5,5;1,0;A"), f)
    cells <- read_cells(f)
    expect_equal(cells$x, c(1.5, 3.5, 5.5))
    expect_equal(cells$y, c(2.5, 4.5, 1))
    g <- withr::local_tempfile(fileext = ".csv")
    writeLines(c("x,y,type", "1.5,abc,A", "3.5,4.5,B", "5.5,1.0,A",
                 "2,2,B"), g)
    expect_warning(two <- read_cells(g), "abc",
                   class = "immunoscape_warning_coordinates")
    expect_identical(nrow(two), 3L)
    h <- withr::local_tempfile(fileext = ".csv")
    writeLines(c("x,y,type", "a,b,A", "c,d,B", "e,f,A"), h)
    expect_error(read_cells(h), "not a number",
                 class = "immunoscape_error_coordinates")
})

test_that("inForm per-marker phenotype columns and pixel exports", {
    path <- fixture("inform_phenotype_columns_cell_seg_data.txt")
    raw <- utils::read.delim(path, check.names = FALSE,
                             na.strings = "#N/A")
    cells <- read_cells(path)
    want <- ifelse(raw$`Phenotype CK` == "CK+", "CK+",
            ifelse(raw$`Phenotype CD8` == "CD8+", "CD8+",
            ifelse(raw$`Phenotype FoxP3` == "FoxP3+", "FoxP3+",
            ifelse(raw$`Phenotype CD68` == "CD68+", "CD68+", "negative"))))
    expect_equal(as.character(cells$type), want)
    expect_equal(cells$cell_id, raw$`Cell ID`)
    rules <- quiet(read_cells(path, phenotypes = list(
        Tumor = "CK", "CD8 T" = "CD8", Macrophage = "CD68")))
    expect_equal(as.character(rules$type),
                 unname(c(CK = "Tumor", CD8 = "CD8 T", CD68 = "Macrophage",
                   FoxP3 = "other", negative = "other")[
                       sub("\\+$", "", want)]))

    pix <- fixture("inform_pixels_cell_seg_data.txt")
    expect_message(p <- read_cells(pix), "pixel_size = 0.5")
    expect_equal(p$x, raw$`Cell X Position`)
    expect_equal(p$y, raw$`Cell Y Position`)
    expect_equal(attr(p, "pixel_size"), 0.5)
    p2 <- read_cells(pix, pixel_size = 0.25)
    expect_equal(p2$x, raw$`Cell X Position` / 2)
})

test_that("Xenium cells take their types from a joined table", {
    path <- fixture("xenium_cells.csv.gz")
    expect_message(bare <- read_cells(path), "unassigned")
    expect_true(all(bare$type == "unassigned"))
    expect_equal(nrow(bare), 150L)
    clusters <- utils::read.csv(fixture("xenium_clusters.csv"))
    cells <- quiet(read_cells(path,
                              cell_types = fixture("xenium_clusters.csv")))
    expect_equal(nrow(cells), 150L)
    expect_equal(sum(cells$type == "unassigned"), 5L)
    hit <- match(cells$cell_id, clusters$Barcode)
    expect_equal(as.character(cells$type[!is.na(hit)]),
                 as.character(clusters$Cluster[hit[!is.na(hit)]]))
    expect_message(read_cells(path,
                              cell_types = fixture("xenium_clusters.csv")),
                   "5 cells are not in")
    # a data frame works the same
    df <- data.frame(cell_id = clusters$Barcode,
                     type = paste("cluster", clusters$Cluster))
    by_df <- quiet(read_cells(path, cell_types = df))
    expect_equal(sum(by_df$type == "cluster 1"), sum(clusters$Cluster == 1))
    raw <- utils::read.csv(path)
    expect_equal(cells$x, raw$x_centroid)
    expect_equal(cells$cell_id, raw$cell_id)
    expect_error(read_cells(path, cell_types = data.frame(
        cell_id = "nope", type = "A")), class = "immunoscape_error_argument")
})

test_that("MCMICRO and CosMx tables", {
    mc <- quiet(read_cells(fixture("mcmicro_quantification.csv"),
                           pixel_size = 0.5))
    raw <- utils::read.csv(fixture("mcmicro_quantification.csv"))
    expect_equal(mc$x, raw$X_centroid * 0.5)
    expect_equal(mc$cell_id, raw$CellID)
    expect_true(all(c("CD8", "PanCK") %in% names(mc)))
    typed <- quiet(read_cells(fixture("mcmicro_quantification.csv"),
                              pixel_size = 0.5,
                              phenotypes = function(d) {
                                  ifelse(d$PanCK > 5, "Tumor", "other")
                              }))
    expect_equal(as.character(typed$type),
                 ifelse(raw$PanCK > 5, "Tumor", "other"))

    cx <- quiet(read_cells(fixture("cosmx_metadata_file.csv")))
    raw <- utils::read.csv(fixture("cosmx_metadata_file.csv"))
    expect_equal(levels(cx$image), c("fov1", "fov2"))
    expect_equal(cx$x, raw$CenterX_global_px * 0.12028)
    expect_equal(attr(cx, "pixel_size"), 0.12028)
})

test_that("several files and directories give one object", {
    dir <- withr::local_tempdir()
    file.copy(fixture("xenium_cells.csv.gz"), file.path(dir, "a.csv.gz"))
    file.copy(fixture("xenium_cells.csv.gz"), file.path(dir, "b.csv.gz"))
    cells <- quiet(read_cells(dir))
    expect_equal(levels(cells$image), c("a", "b"))
    expect_equal(nrow(cells), 300L)
    expect_equal(attr(cells, "source")$file,
                 file.path(dir, c("a.csv.gz", "b.csv.gz")))
    # an unreadable file: a classed warning naming it, the rest is read
    writeLines(c("foo,bar", "1,2"), file.path(dir, "c.csv"))
    expect_warning(two <- quiet(read_cells(dir)), "c.csv",
                   class = "immunoscape_warning_file")
    expect_equal(nlevels(two$image), 2L)
    writeLines(c("foo,bar", "1,2"), file.path(dir, "d.csv"))
    expect_error(
        suppressWarnings(read_cells(file.path(dir, c("c.csv", "d.csv")))),
        class = "immunoscape_error_file"
    )
    # files naming the same images keep them apart
    # (pixel_size = 1 contradicts the HALO file's cell areas: a warning)
    expect_warning(
        two_halo <- quiet(read_cells(c(fixture("halo_object_data.csv"),
                                       fixture("qupath_measurements.tsv")),
                                     pixel_size = 1)),
        "about 0.5 microns", class = "immunoscape_warning_pixel_size")
    expect_equal(nlevels(two_halo$image), 4L)
    # the sources name the images as renamed
    expect_setequal(attr(two_halo, "source")$image, levels(two_halo$image))
    # same file name in two directories: the directory names the image
    d1 <- file.path(dir, "s1")
    d2 <- file.path(dir, "s2")
    dir.create(d1)
    dir.create(d2)
    file.copy(fixture("xenium_cells.csv.gz"), file.path(d1, "cells.csv.gz"))
    file.copy(fixture("xenium_cells.csv.gz"), file.path(d2, "cells.csv.gz"))
    xs <- quiet(read_cells(c(d1, d2)))
    expect_equal(levels(xs$image), c("s1/cells", "s2/cells"))
    # an inForm export directory: only the cell_seg_data files
    d3 <- file.path(dir, "inform")
    dir.create(d3)
    file.copy(fixture("inform_pixels_cell_seg_data.txt"),
              file.path(d3, "f1_cell_seg_data.txt"))
    file.copy(fixture("inform_phenotype_columns_cell_seg_data.txt"),
              file.path(d3, "f2_cell_seg_data.txt"))
    writeLines("Sample Name\tTotal Cells\nf1\t80",
               file.path(d3, "f1_cell_seg_data_summary.txt"))
    writeLines("a,b\n1,2", file.path(d3, "f1_tissue_seg_data.csv"))
    inf <- quiet(read_cells(d3))
    expect_equal(basename(attr(inf, "source")$file),
                 c("f1_cell_seg_data.txt", "f2_cell_seg_data.txt"))
    # both files name the same field: kept apart by file
    expect_equal(nlevels(inf$image), 2L)
    expect_equal(nrow(inf), 160L)
})

test_that("cells without coordinates are dropped with a warning", {
    df <- data.frame(x = c(1, 2, NA, 4, 5), y = c(1, 5, 3, 2, 4),
                     type = c("A", "B", "A", "B", "A"))
    f <- withr::local_tempfile(fileext = ".csv")
    utils::write.csv(df, f, row.names = FALSE, na = "#N/A")
    expect_warning(cells <- read_cells(f),
                   class = "immunoscape_warning_coordinates")
    expect_equal(nrow(cells), 4L)
    df$type[2] <- ""
    df$x[3] <- 3
    utils::write.csv(df, f, row.names = FALSE)
    expect_message(cells <- read_cells(f), "unassigned")
    expect_equal(as.character(cells$type[2]), "unassigned")
})

test_that("a malformed row is an error, not a silent shift", {
    f <- withr::local_tempfile(fileext = ".csv")
    writeLines(c("x,y,type", "1,2,A", "3,4", "5,6,B"), f)
    expect_error(read_cells(f), class = "immunoscape_error_file")
})

test_that("bad input raises classed errors", {
    expect_error(read_cells(tempfile(fileext = ".csv")),
                 class = "immunoscape_error_file")
    expect_error(read_cells(1), class = "immunoscape_error_file")
    f <- withr::local_tempfile(fileext = ".csv")
    writeLines(c("foo,bar", "1,2"), f)
    expect_error(read_cells(f), class = "immunoscape_error_format")
    expect_snapshot(read_cells(f), error = TRUE,
                    transform = function(x) {
                        x <- gsub("'[^']*'", "'<file>'", x)
                        gsub("\u00b5|<U\\+00B5>", "u", x)
                    })
    expect_error(read_cells(f, format = "vectra"),
                 class = "immunoscape_error_argument")
    halo <- fixture("halo_object_data.csv")
    expect_error(read_cells(halo, type = "Phenotype"),
                 class = "immunoscape_error_column")
    expect_error(read_cells(halo, format = "inform"),
                 class = "immunoscape_error_format")
    expect_error(read_cells(halo, pixelsize = 0.5),
                 class = "immunoscape_error_argument")
    expect_error(read_cells(halo, pixel_size = -1),
                 class = "immunoscape_error_argument")
    expect_error(read_cells(halo, phenotypes = list(c("CD3", "CD8"))),
                 class = "immunoscape_error_argument")
    expect_error(quiet(read_cells(halo, phenotypes = list(T = "CD4"),
                                  pixel_size = 0.5)),
                 "CD4", class = "immunoscape_error_argument")
    expect_error(quiet(read_cells(halo, phenotypes = function(d) "T",
                                  pixel_size = 0.5)),
                 class = "immunoscape_error_argument")
    expect_error(read_cells(fixture("xenium_cells.csv.gz"),
                            phenotypes = list(T = "CD3")),
                 class = "immunoscape_error_argument")
    writeLines("x,y,type", f)
    expect_error(read_cells(f), class = "immunoscape_error_empty")
    # a forced format whose columns are missing
    g <- withr::local_tempfile(fileext = ".csv")
    writeLines(c("XMin,XMax,YMin", "1,2,3"), g)
    expect_error(read_cells(g, format = "halo"),
                 class = "immunoscape_error_column")
})
