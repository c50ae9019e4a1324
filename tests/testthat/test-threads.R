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
