# Problems found by hostile calls (issue 12): each fails without its fix.

harden_cells <- function(n = 60, seed = 1) {
    set.seed(seed)
    df <- data.frame(x = runif(n, 0, 200), y = runif(n, 0, 200),
                     type = rep(c("A", "B", "C"), length.out = n))
    withr::with_options(list(immunoscape.verbose = FALSE),
                        spatial_cells(df, window = "rectangle"))
}

test_that("nthreads above the runtime's limit is capped, not a crash", {
    cells <- harden_cells()
    cap <- immunoscape:::thread_cap()
    expect_gte(cap, 1L)
    ref <- nearest_distances(cells, to = "A", nthreads = 1)
    expect_message(d <- nearest_distances(cells, to = "A", nthreads = 1e6),
                   "allows")
    expect_equal(d$distance, ref$distance)
    expect_message(count_neighbors(cells, radius = 20, nthreads = 1e5),
                   "allows")
    expect_message(interaction_test(cells, radius = 20, nperm = 9,
                                    nthreads = 1e5), "allows")
    expect_message(tissue_window(cells, "concave", nthreads = 1e5), "allows")
    expect_message(nearest_distances(cells, to = "A", nthreads = 1e300),
                   "allows")
    withr::local_options(immunoscape.threads = 1e6)
    expect_message(n <- immunoscape_threads(), "allows")
    expect_lte(n, cap)
})

test_that("huge window coordinates are a classed error, not a hang", {
    big <- data.frame(x = c(0, 1e155, 1e155, 0), y = c(0, 0, 1e155, 1e155))
    expect_error(window_area(big), class = "immunoscape_error_window")
    cells <- harden_cells()
    expect_error(set_window(cells, big), class = "immunoscape_error_window")
    df <- as.data.frame(cells)[c("x", "y", "type")]
    expect_error(spatial_cells(df, window = big),
                 class = "immunoscape_error_window")
    # the C layer refuses them too (no loop on Inf cell counts)
    expect_error(.Call(immunoscape:::ffi_window_crossing, big$x, big$y,
                       c(0L, 4L)), class = "immunoscape_error_coordinates")
})

test_that("ring offsets are validated by the entry points", {
    x <- c(0, 1, 1, 0)
    y <- c(0, 0, 1, 1)
    expect_error(.Call(immunoscape:::ffi_window_area, x, y, c(0L, 5L)),
                 "internal")
    expect_error(.Call(immunoscape:::ffi_window_area, x, y, c(0L, 3L, 2L, 4L)),
                 "internal")
    expect_error(.Call(immunoscape:::ffi_window_area, x, y, c(1L, 4L)),
                 "internal")
    expect_error(.Call(immunoscape:::ffi_window_crossing, x, y,
                       c(0L, NA, 4L)), "internal")
    expect_equal(.Call(immunoscape:::ffi_window_area, x, y, c(0L, 4L)), 1)
})

test_that("read_cells() refuses what is not a regular file", {
    skip_on_os("windows")
    skip_if_not(file.exists("/dev/zero"))
    expect_error(read_cells("/dev/zero"), class = "immunoscape_error_file")
    f <- withr::local_tempfile(fileext = ".csv")
    file.create(f)
    expect_error(read_cells(f), class = "immunoscape_error_file")
})

test_that("counts of 2^31 and more are classed errors naming the argument", {
    cells <- harden_cells()
    expect_error(nearest_distances(cells, to = "A", k = 2^31),
                 class = "immunoscape_error_argument", regexp = "k")
    expect_error(interaction_test(cells, nperm = 2^31),
                 class = "immunoscape_error_argument", regexp = "nperm")
    expect_error(ripley_k(cells, "A", envelope = "csr", nsim = 2^31),
                 class = "immunoscape_error_argument", regexp = "nsim")
    expect_error(hotspots(cells, "A", order = 2^31),
                 class = "immunoscape_error_argument", regexp = "order")
    expect_error(cellular_neighborhoods(cells, k = 2^31),
                 class = "immunoscape_error_argument", regexp = "k")
    expect_error(cellular_neighborhoods(cells, k = 5, n = 2, seed = 1e300),
                 class = "immunoscape_error_argument", regexp = "seed")
})

test_that("k is capped at the number of cells in nearest_distances()", {
    cells <- harden_cells(n = 12)
    d <- nearest_distances(cells, to = "A", k = 1e6)
    expect_equal(attr(d, "k"), 12L)
    expect_equal(max(d$k), 12L)
    # 4 A cells: the 4th nearest A of an A cell does not exist
    expect_true(all(is.na(d$distance[d$k > 4])))
})

test_that("impossible memory is refused before allocating", {
    cells <- harden_cells()
    expect_error(interaction_test(cells, nperm = 1e9),
                 class = "immunoscape_error_memory", regexp = "nperm")
    withr::local_options(immunoscape.max_memory = 1e6)
    expect_error(ripley_k(cells, "A", envelope = "labels", nsim = 1e5),
                 class = "immunoscape_error_memory", regexp = "nsim")
})

test_that("pair_correlation(bw = 0) is a classed argument error", {
    cells <- harden_cells()
    expect_error(pair_correlation(cells, "A", bw = 0),
                 class = "immunoscape_error_radius", regexp = "bw")
})

test_that("overflowing coordinates, pixel_size and empty windows are classed", {
    cells <- harden_cells()
    df <- as.data.frame(cells)[c("x", "y", "type")]
    big <- df
    big$x <- big$x * 1e155
    expect_error(spatial_cells(big), class = "immunoscape_error_coordinates")
    expect_error(spatial_cells(df, pixel_size = 1e300),
                 class = "immunoscape_error_argument", regexp = "pixel_size")
    far <- transform(df, x = x * 1e8)
    expect_error(spatial_cells(far, pixel_size = 1e3),
                 class = "immunoscape_error_coordinates",
                 regexp = "pixel_size")
    expect_error(spatial_cells(df, window = data.frame(x = numeric(),
                                                       y = numeric())),
                 class = "immunoscape_error_window")
    skip_if_not_installed("sf")
    empty <- sf::st_sfc(sf::st_polygon())
    expect_error(spatial_cells(df, window = empty),
                 class = "immunoscape_error_window")
})

test_that("ripley_k() refuses distances whose CSR value is infinite", {
    cells <- harden_cells()
    expect_error(ripley_k(cells, "A", r = c(0, 1e300)),
                 class = "immunoscape_error_radius", regexp = "theo")
})

test_that("read_cells() reports truncated and corrupt files", {
    set.seed(2)
    df <- data.frame(x = round(runif(200, 0, 100), 3),
                     y = round(runif(200, 0, 100), 3),
                     type = sample(c("A", "B"), 200, TRUE))
    dir <- withr::local_tempdir()
    gz <- file.path(dir, "cells.csv.gz")
    con <- gzfile(gz, "w")
    utils::write.csv(df, con, row.names = FALSE)
    close(con)
    raw <- readBin(gz, "raw", file.size(gz))
    withr::local_options(immunoscape.verbose = FALSE)
    ok <- read_cells(gz, type = "type")
    expect_equal(nrow(ok), 200L)
    cut <- file.path(dir, "cut.csv.gz")
    writeBin(raw[seq_len(length(raw) - 20)], cut)
    expect_error(read_cells(cut, type = "type"),
                 class = "immunoscape_error_file", regexp = "truncated")
    txt <- file.path(dir, "half.csv")
    utils::write.csv(df, txt, row.names = FALSE)
    t <- readBin(txt, "raw", file.size(txt))
    writeBin(t[seq_len(length(t) %/% 2)], txt)
    w <- testthat::capture_warnings(h <- read_cells(txt, type = "type"))
    expect_true(any(grepl("rows read", w)))
    expect_lt(nrow(h), 200L)
    dup <- file.path(dir, "dup.csv")
    writeLines(c("x,y,x,type", "1,2,3,A", "4,5,6,B", "7,1,2,A"), dup)
    expect_warning(d <- read_cells(dup, type = "type", window = "rectangle"),
                   class = "immunoscape_warning_file", regexp = "duplicated")
    expect_equal(d$x, c(1, 4, 7))
    expect_equal(d$x_2, c(3, 6, 2))
})

test_that("time limits inside per-image work stay time-limit errors", {
    cells <- harden_cells(n = 3000)
    f <- function() {
        setTimeLimit(elapsed = 0.05, transient = TRUE)
        on.exit(setTimeLimit(elapsed = Inf))
        for (i in 1:200) ripley_k(cells, "A", r = seq(0, 100, 1))
    }
    e <- tryCatch(f(), error = function(e) e)
    expect_s3_class(e, "error")
    expect_false(inherits(e, "immunoscape_error_internal"))
    expect_match(conditionMessage(e), "time limit")
})
