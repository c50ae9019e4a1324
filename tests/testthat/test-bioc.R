# Bioconductor both ways: as_sce() / as_spe(), add_cell_results(), analysis
# functions taking SingleCellExperiment / SpatialExperiment directly, and
# the column guesses of spatial_cells().

bioc_cells <- function(n = 120, seed = 8) {
    set.seed(seed)
    df <- data.frame(
        x = runif(n, 0, 300), y = runif(n, 0, 200),
        type = factor(sample(c("Tumor", "CD8 T", "B"), n, TRUE),
                      levels = c("Tumor", "CD8 T", "B")),
        image = factor(rep(c("f2", "f1"), each = n / 2),
                       levels = c("f2", "f1")),
        cell_id = rep(seq_len(n / 2), 2),
        CD8 = runif(n), area = runif(n, 20, 60)
    )
    quiet(spatial_cells(df, image = "image", cell_id = "cell_id"))
}

test_that("spatial_cells() guesses x_um / phenotype / the finest image column and says so once", {
    df <- data.frame(x_um = c(0, 10, 20, 5, 30, 40, 35, 50),
                     y_um = c(0, 0, 10, 20, 0, 5, 25, 30),
                     phenotype = rep(c("A", "B"), 4),
                     image_id = rep(1, 8),
                     patientImage_id = rep(c("p1_1", "p1_2"), each = 4),
                     cell_id = c(1:4, 1:4))
    msgs <- character()
    cells <- withCallingHandlers(
        spatial_cells(df),
        message = function(m) {
            msgs <<- c(msgs, conditionMessage(m))
            invokeRestart("muffleMessage")
        }
    )
    expect_length(msgs, 1L)
    expect_match(msgs, "x = \"x_um\"", fixed = TRUE)
    expect_match(msgs, "type = \"phenotype\"", fixed = TRUE)
    expect_match(msgs, "image = \"patientImage_id\"", fixed = TRUE)
    expect_match(msgs, "image = NULL", fixed = TRUE)
    expect_identical(levels(cells$image), c("p1_1", "p1_2"))
    expect_identical(cells$cell_id, df$cell_id)
    expect_identical(cells$x, df$x_um)
    expect_false(any(grepl("_input$", names(cells))))
    # named columns: no guess, no message
    expect_no_message(spatial_cells(df, x = "x_um", y = "y_um",
                                    type = "phenotype", image = NULL,
                                    cell_id = NULL))
    # the standard names are used silently
    std <- data.frame(x = df$x_um, y = df$y_um, type = df$phenotype,
                      image = df$patientImage_id)
    expect_no_message(s2 <- spatial_cells(std))
    expect_identical(levels(s2$image), c("p1_1", "p1_2"))
})

test_that("a column repeating a standard one is dropped, a different one kept as _input", {
    df <- data.frame(x = c(0, 10, 20, 5, 0, 10, 20, 5),
                     y = c(0, 0, 10, 20, 0, 0, 10, 20),
                     type = rep(c("A", "B"), 4),
                     sample_id = rep(c("s1", "s2"), each = 4),
                     image = rep(c("s1", "s2"), each = 4),
                     cell_id = c(9, 8, 7, 6, 5, 4, 3, 2))
    cells <- quiet(spatial_cells(df[c(1:5)], image = "sample_id",
                                 window = "rectangle"))
    expect_false("image_input" %in% names(cells))
    cells <- quiet(spatial_cells(df, image = "sample_id", cell_id = NULL,
                                 window = "rectangle"))
    expect_identical(cells$cell_id_input, df$cell_id)
})

test_that("SingleCellExperiment round trip: as_sce(), as(), as_spatial_cells()", {
    skip_if_not_installed("SingleCellExperiment")
    cells <- bioc_cells()
    sce <- as_sce(cells, assay_columns = "CD8")
    expect_s4_class(sce, "SingleCellExperiment")
    expect_identical(ncol(sce), nrow(cells))
    expect_identical(SummarizedExperiment::assayNames(sce), "intensities")
    expect_identical(unname(SummarizedExperiment::assay(sce)["CD8", ]),
                     cells$CD8)
    cd <- SummarizedExperiment::colData(sce)
    expect_identical(cd$x, cells$x)
    expect_identical(cd$type, cells$type)
    expect_false("CD8" %in% names(cd))
    expect_identical(colnames(sce)[1:2], c("f2_1", "f2_2"))
    back <- as_spatial_cells(sce, assay = "intensities")
    expect_identical(as.data.frame(back)[names(cells)], as.data.frame(cells))
    expect_identical(attr(back, "windows"), attr(cells, "windows"))
    # as() once SingleCellExperiment is loaded
    loadNamespace("SingleCellExperiment")
    sce2 <- methods::as(cells, "SingleCellExperiment")
    expect_identical(as.data.frame(as_spatial_cells(sce2)),
                     as.data.frame(cells))
    expect_error(as_sce(cells, assay_columns = "type"),
                 class = "immunoscape_error_column")
    expect_error(as_sce(cells, assay_columns = "nope"),
                 class = "immunoscape_error_column")
})

test_that("SpatialExperiment round trip through spatialCoords and sample_id", {
    skip_if_not_installed("SpatialExperiment")
    cells <- bioc_cells()
    spe <- as_spe(cells)
    expect_s4_class(spe, "SpatialExperiment")
    expect_identical(unname(SpatialExperiment::spatialCoords(spe)[, 1]),
                     cells$x)
    expect_identical(spe$sample_id, as.character(cells$image))
    expect_false(any(c("x", "y", "image") %in%
                         names(SummarizedExperiment::colData(spe))))
    back <- as_spatial_cells(spe)
    expect_identical(as.data.frame(back), as.data.frame(cells))
    expect_identical(attr(back, "windows"), attr(cells, "windows"))
    loadNamespace("SpatialExperiment")
    spe2 <- methods::as(cells, "SpatialExperiment")
    expect_identical(SpatialExperiment::spatialCoords(spe2),
                     SpatialExperiment::spatialCoords(spe))
    # an `image` column repeating sample_id leaves no image_input
    spe3 <- spe
    spe3$image <- spe3$sample_id
    expect_false("image_input" %in% names(as_spatial_cells(spe3)))
})

test_that("a SpatialExperiment built by hand: coordinates, types and images guessed", {
    skip_if_not_installed("SpatialExperiment")
    set.seed(5)
    n <- 60
    xy <- cbind(pxl_x = runif(n, 0, 200), pxl_y = runif(n, 0, 200))
    spe <- SpatialExperiment::SpatialExperiment(
        assays = list(counts = matrix(rpois(2 * n, 3), 2, n,
                                      dimnames = list(c("CD3", "PanCK"),
                                                      NULL))),
        colData = S4Vectors::DataFrame(cell_type = rep(c("A", "B"), 30)),
        spatialCoords = xy,
        sample_id = rep(c("s1", "s2"), each = 30)
    )
    colnames(spe) <- paste0("c", seq_len(n))
    expect_message(cells <- as_spatial_cells(spe, pixel_size = 0.5),
                   "type = \"cell_type\"")
    expect_identical(cells$x, unname(xy[, 1]) * 0.5)
    expect_identical(levels(cells$image), c("s1", "s2"))
    expect_identical(cells$cell_id, colnames(spe))
    got <- quiet(as_spatial_cells(spe, assay = "counts"))
    expect_identical(got$PanCK,
                     unname(SummarizedExperiment::assay(spe)["PanCK", ]))
})

test_that("every analysis function takes a SingleCellExperiment / SpatialExperiment", {
    skip_if_not_installed("SpatialExperiment")
    cells <- bioc_cells(200)
    spe <- as_spe(cells)
    sce <- as_sce(cells)
    strip <- function(x) {
        x <- as.data.frame(x)
        rownames(x) <- NULL
        x
    }
    calls <- list(
        function(z) nearest_distances(z, from = "Tumor", to = "CD8 T"),
        function(z) count_neighbors(z, radius = 30, from = "Tumor"),
        function(z) ripley_l(z, "Tumor", "CD8 T", r = seq(0, 40, 10)),
        function(z) g_function(z, "Tumor", "CD8 T", r = seq(0, 40, 10)),
        function(z) interaction_test(z, radius = 30, nperm = 20),
        function(z) neighborhood_composition(z, k = 5),
        function(z) mixing_score(z, reference = "Tumor", target = "CD8 T"),
        function(z) hotspots(z, "CD8 T", cell_size = 50)
    )
    for (f in calls) {
        set.seed(1)
        ref <- quiet(f(cells))
        set.seed(1)
        a <- quiet(f(spe))
        set.seed(1)
        b <- quiet(f(sce))
        expect_identical(strip(a), strip(ref))
        expect_identical(strip(b), strip(ref))
    }
    expect_error(nearest_distances(list(), to = "B"),
                 class = "immunoscape_error_argument")
})

test_that("options(immunoscape.bioc) chooses the columns for analyses", {
    skip_if_not_installed("SingleCellExperiment")
    cells <- bioc_cells()
    sce <- as_sce(cells)
    sce$kind <- ifelse(sce$type == "Tumor", "T", "I")
    withr::local_options(immunoscape.bioc = list(type = "kind"))
    d <- quiet(nearest_distances(sce, from = "T", to = "I"))
    expect_setequal(as.character(unique(d$from)), "T")
    withr::local_options(immunoscape.bioc = "kind")
    expect_error(nearest_distances(sce, from = "T", to = "I"),
                 class = "immunoscape_error_argument")
})

test_that("add_cell_results() writes per-cell results into colData, nothing else changes", {
    skip_if_not_installed("SpatialExperiment")
    cells <- bioc_cells()
    for (obj in list(as_sce(cells, assay_columns = "CD8"), as_spe(cells))) {
        d <- quiet(nearest_distances(obj, from = "Tumor", to = "CD8 T"))
        out <- add_cell_results(obj, d, columns = "distance",
                                prefix = "cd8_")
        cd <- SummarizedExperiment::colData(out)
        tum <- cells$type == "Tumor"
        ref <- rep(NA_real_, nrow(cells))
        key <- paste(cells$image, cells$cell_id)
        ref[match(paste(d$image, d$cell_id), key)] <- d$distance
        expect_identical(cd$cd8_distance, ref)
        expect_true(all(is.na(cd$cd8_distance[!tum])))
        # the object is otherwise unchanged
        cd$cd8_distance <- NULL
        expect_identical(cd, SummarizedExperiment::colData(obj))
        expect_identical(colnames(out), colnames(obj))
        expect_identical(SummarizedExperiment::assays(out),
                         SummarizedExperiment::assays(obj))
        expect_identical(S4Vectors::metadata(out), S4Vectors::metadata(obj))
        if (methods::is(obj, "SpatialExperiment")) {
            expect_identical(SpatialExperiment::spatialCoords(out),
                             SpatialExperiment::spatialCoords(obj))
        }
        # and the round trip still gives the cells, plus the new column
        back <- quiet(as_spatial_cells(out))
        expect_identical(back$cd8_distance, ref)
    }
    sce <- as_sce(cells)
    two <- quiet(nearest_distances(sce, from = "Tumor", to = c("CD8 T", "B")))
    expect_error(add_cell_results(sce, two),
                 class = "immunoscape_error_argument")
    expect_error(add_cell_results(cells, two[two$to == "B", ]),
                 class = "immunoscape_error_argument")
    expect_error(add_cell_results(sce, two[two$to == "B", ], columns = "nope"),
                 class = "immunoscape_error_column")
})

test_that("SpatialExperiment round trips keep windows, image order, subsets", {
    skip_if_not_installed("SpatialExperiment")
    df <- data.frame(x = c(1, 5, 3, 10, 12, 11, 20, 25, 22),
                     y = c(1, 1, 5, 1, 1, 6, 1, 2, 8),
                     type = c("T", "B", "T", "B", "T", "B", "T", "T", "B"),
                     image = factor(rep(c("b", "a", "c"), each = 3),
                                    levels = c("a", "b", "c")))
    # read with a pixel size: the object's coordinates are microns, and
    # the window comes back with them
    px <- spatial_cells(df, pixel_size = 2, window = "rectangle")
    back <- suppressMessages(as_spatial_cells(as_spe(px)))
    expect_equal(window_area(back), window_area(px))
    expect_identical(attr(back, "pixel_size"), 2)
    sc <- spatial_cells(df)
    back <- suppressMessages(as_spatial_cells(as_spe(sc)))
    expect_identical(levels(back$image), c("a", "b", "c"))
    # a subset (unused level kept) goes there and back
    sub <- sc[sc$image %in% c("a", "b"), ]
    back <- suppressMessages(as_spatial_cells(as_spe(sub)))
    expect_identical(levels(back$image), c("a", "b"))
    expect_equal(unname(window_area(back)),
                 unname(window_area(sub)[c("a", "b")]))
    # a column named sample_id does not take the image's place
    d7 <- df
    d7$sample_id <- "S1"
    expect_message(spe <- as_spe(spatial_cells(d7)), "sample_id_input")
    back <- suppressMessages(as_spatial_cells(spe))
    expect_equal(as.vector(table(back$image)), c(3L, 3L, 3L))
    expect_true(all(back$sample_id_input == "S1"))
})
