# Results keep their class and attributes when rows are selected and
# become plain data frames when columns are, so print()/summary()/
# autoplot() never see a result with missing columns or attributes.

result_cells <- function() {
    set.seed(21)
    n <- 400
    df <- data.frame(x = runif(n, 0, 300), y = runif(n, 0, 300),
                     type = sample(c("T", "I", "M"), n, TRUE),
                     image = rep(c("a", "b"), each = n / 2))
    spatial_cells(df, image = "image")
}

test_that("row selection keeps a result, column selection gives a data frame", {
    withr::local_options(immunoscape.verbose = FALSE)
    cells <- result_cells()
    results <- list(
        nearest_distances(cells, to = "I"),
        count_neighbors(cells, radius = 30),
        interaction_test(cells, radius = 30, nperm = 19),
        colocalization_quotient(cells, radius = 30),
        local_colocalization_quotient(cells, radius = 30),
        mixing_score(cells, "I", "T"),
        classify_architecture(cells, tumor = "T", immune = "I",
                              min_immune = 10),
        neighborhood_composition(cells, k = 5),
        hotspots(cells, "I", cell_size = 50),
        ripley_l(cells, "T", "I", r = seq(0, 50, 5))
    )
    for (res in results) {
        cls <- class(res)[1]
        expect_s3_class(res, "immunoscape_result")
        rows <- res[res$image == "a", ]
        expect_s3_class(rows, cls)
        expect_identical(attributes(rows)[setdiff(names(attributes(res)),
                                                  "row.names")],
                         attributes(res)[setdiff(names(attributes(res)),
                                                 "row.names")])
        expect_output(print(rows))
        cols <- res[, rev(names(res))]
        expect_identical(class(cols), "data.frame")
        expect_identical(names(attributes(cols)),
                         c("names", "row.names", "class"))
        expect_output(print(cols))
        one <- res[, 1]
        expect_false(is.data.frame(one))
        plain <- as.data.frame(res)
        expect_identical(class(plain), "data.frame")
        expect_identical(names(plain), names(res))
        expect_identical(nrow(plain), nrow(res))
        expect_null(attr(plain, "problems"))
    }
})
