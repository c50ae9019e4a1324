# Forked workers (BiocParallel::MulticoreParam, parallel::mclapply) after
# OpenMP has started in the parent: the GNU OpenMP runtime is not
# fork-safe, so a child runs on one thread instead of hanging.

test_that("a child forked after OpenMP ran gets the same answer, not a hang", {
    skip_on_os("windows")
    withr::local_options(immunoscape.verbose = FALSE)
    set.seed(8)
    df <- data.frame(x = runif(3000, 0, 500), y = runif(3000, 0, 500),
                     type = sample(c("A", "B", "C"), 3000, TRUE))
    cells <- spatial_cells(df, window = "rectangle")
    # start the parent's OpenMP thread pool
    set.seed(9)
    parent <- interaction_test(cells, radius = 20, nperm = 39, nthreads = 2)
    expect_identical(.Call(immunoscape:::ffi_threads_forked), 0L)
    job <- parallel::mcparallel({
        set.seed(9)
        list(forked = .Call(immunoscape:::ffi_threads_forked),
             res = interaction_test(cells, radius = 20, nperm = 39,
                                    nthreads = 2))
    })
    out <- parallel::mccollect(job, wait = FALSE, timeout = 60)
    if (is.null(out)) {
        tools::pskill(job$pid)
        parallel::mccollect(job, wait = FALSE)
        fail("the forked child did not finish within 60 s")
    }
    child <- out[[1]]
    expect_identical(child$forked, 1L)
    expect_identical(child$res$z, parent$z)
    expect_identical(child$res$p_greater, parent$p_greater)
})

test_that("set.seed() gives the same permutations with or without BPPARAM", {
    skip_on_os("windows")
    skip_if_not_installed("BiocParallel")
    withr::local_options(immunoscape.verbose = FALSE)
    set.seed(10)
    df <- data.frame(image = rep(letters[1:4], each = 300),
                     x = runif(1200, 0, 400), y = runif(1200, 0, 400),
                     type = sample(c("A", "B", "C"), 1200, TRUE))
    cells <- spatial_cells(df, image = "image", window = "rectangle")
    run <- function(bp) {
        set.seed(11)
        it <- interaction_test(cells, radius = 25, nperm = 29, BPPARAM = bp)
        k <- ripley_l(cells, "A", "B", r = seq(0, 40, 5), envelope = "labels",
                      nsim = 9, BPPARAM = bp)
        clq <- colocalization_quotient(cells, radius = 25, nperm = 19,
                                       BPPARAM = bp)
        list(it$z, k$lo, k$hi, clq$p_greater, stats::runif(1))
    }
    serial <- run(NULL)
    expect_identical(run(NULL), serial)
    expect_identical(run(BiocParallel::SerialParam()), serial)
    expect_identical(run(BiocParallel::MulticoreParam(2)), serial)
    # a seed per image: an image's permutations do not depend on the
    # images analysed before it
    set.seed(11)
    alone <- interaction_test(cells[cells$image == "a", ], radius = 25,
                              nperm = 29)
    set.seed(11)
    all4 <- interaction_test(cells, radius = 25, nperm = 29)
    expect_identical(alone$z, all4$z[all4$image == "a"])
})
