# Table-driven bad input (issue 12): every exported function, every kind of
# bad input that applies, each case in a child process with a time limit.
# Every outcome must be the documented result or a classed
# immunoscape_error_* that names the argument under test.

test_that("hostile inputs give results or classed errors, never crashes", {
    skip_if(nzchar(Sys.getenv("IMMUNOSCAPE_SKIP_HOSTILE")), "IMMUNOSCAPE_SKIP_HOSTILE set")
    cases <- hostile_cases()
    expect_gt(length(cases), 400L)
    res <- hostile_run(cases)
    expect_setequal(res$id, vapply(cases, `[[`, numeric(1), "id"))
    report <- Sys.getenv("HOSTILE_REPORT")
    if (nzchar(report)) utils::write.csv(res, report, row.names = FALSE)

    bad <- res[!res$outcome %in% c("ok", "classed", "dependency"), ]
    expect(nrow(bad) == 0L, paste0(
        nrow(bad), " case(s) crashed, hung or gave an unclassed error:\n",
        paste(utils::head(sprintf("  [%s] %s -> %s", bad$outcome, bad$code,
                                  bad$message), 20), collapse = "\n")))

    # argument errors name the argument
    unnamed <- res[res$outcome == "classed" & !is.na(res$names_arg) &
                       !res$names_arg, ]
    expect(nrow(unnamed) == 0L, paste0(
        nrow(unnamed), " classed error(s) do not name their argument:\n",
        paste(utils::head(sprintf("  %s -> %s", unnamed$code,
                                  unnamed$message), 20), collapse = "\n")))

    # every function's valid base call works
    base <- res[is.na(res$arg) & res$code %in% vapply(names(hostile_base),
        function(f) {
            a <- hostile_base[[f]]
            sprintf("%s(%s)", f, paste(names(a), "=", unlist(a),
                                       collapse = ", "))
        }, character(1)), ]
    expect_true(all(base$outcome %in% c("ok", "dependency")),
                info = paste(base$code[base$outcome != "ok"], collapse = "; "))
    # render_report()'s valid calls render (or pandoc is missing)
    ok_report <- vapply(hostile_report_cases(), `[[`, "", "code")[c(1L,
        length(hostile_report_cases()))]
    rr <- res[res$code %in% ok_report, ]
    expect_identical(nrow(rr), 2L)
    expect_true(all(rr$outcome %in% c("ok", "dependency")),
                info = paste(rr$code, rr$message, collapse = "; "))
})
