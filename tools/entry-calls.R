# Every .Call entry point of the installed package on tiny inputs, found
# generically: the package's functions are rewritten so that each .Call
# records its arguments, a small workload (the examples of every help
# topic plus a few calls per family) runs once with 1 and once with 2
# threads, and the smallest recorded calls of each registered routine are
# replayed.  New entry points (other families) are covered as soon as
# an R function or an example reaches them; routines never reached are
# listed, and fail the run under STRICT=1.
#
#   Rscript tools/entry-calls.R record FILE     record the calls into FILE
#   Rscript tools/entry-calls.R replay FILE     replay them (for valgrind)
#   Rscript tools/entry-calls.R gctorture FILE  replay under gctorture()

args <- commandArgs(trailingOnly = TRUE)
mode <- args[1]
file <- args[2]
suppressPackageStartupMessages(library(immunoscape))
options(immunoscape.verbose = FALSE, warn = 1)
ns <- asNamespace("immunoscape")
dll <- getLoadedDLLs()[["immunoscape"]]
routines <- names(getDLLRegisteredRoutines(dll)$.Call)

record <- function(file, per_routine = 3L) {
    calls <- new.env()
    rec_call <- function(.NAME, ...) {
        a <- list(...)
        nm <- if (inherits(.NAME, "NativeSymbolInfo")) .NAME$name else
            as.character(.NAME)
        if (nm %in% routines) {
            size <- sum(vapply(a, function(v) as.numeric(utils::object.size(v)),
                               numeric(1)))
            have <- calls[[nm]] %||% list()
            have[[length(have) + 1L]] <- list(args = a, size = size)
            sizes <- vapply(have, `[[`, numeric(1), "size")
            # keep the smallest few (distinct sizes first)
            keep <- order(duplicated(sizes), sizes)[seq_len(min(per_routine, length(have)))]
            calls[[nm]] <- have[keep]
        }
        .Call(.NAME, ...)
    }
    swap <- function(e) {
        if (is.call(e)) {
            if (identical(e[[1]], quote(.Call))) e[[1]] <- quote(rec_call)
            for (i in seq_along(e)[-1]) {
                if (!is.null(e[[i]])) e[[i]] <- swap(e[[i]])
            }
        } else if (is.pairlist(e) || is.list(e)) {
            for (i in seq_along(e)) if (!is.null(e[[i]])) e[[i]] <- swap(e[[i]])
        }
        e
    }
    pkg_env <- as.environment("package:immunoscape")
    for (fn in ls(ns, all.names = TRUE)) {
        f <- get(fn, ns)
        if (!is.function(f) || is.primitive(f)) next
        if (!any(grepl(".Call", deparse(body(f)), fixed = TRUE))) next
        body(f) <- swap(body(f))
        environment(f) <- list2env(list(rec_call = rec_call),
                                   parent = environment(f))
        unlockBinding(fn, ns)
        assign(fn, f, envir = ns)
        lockBinding(fn, ns)
        if (exists(fn, envir = pkg_env, inherits = FALSE)) {
            unlockBinding(fn, pkg_env)
            assign(fn, f, envir = pkg_env)
            lockBinding(fn, pkg_env)
        }
    }
    workload <- function() {
        set.seed(1)
        df <- data.frame(x = runif(40, 0, 100), y = runif(40, 0, 100),
                         type = rep(c("A", "B", "C", "D"), 10))
        cells <- spatial_cells(df)
        try(tissue_window(cells, "concave"))
        try(nearest_distances(cells, to = "A", k = 2))
        try(count_neighbors(cells, radius = 20))
        for (f in c("ripley_k", "pair_correlation", "g_function")) {
            try(get(f)(cells, "A", "B", r = seq(0, 20, 5), envelope = "labels",
                       nsim = 3, correction = "all"))
            try(get(f)(cells, "A", r = seq(0, 20, 5), envelope = "csr",
                       nsim = 2))
        }
        try(interaction_test(cells, radius = 20, nperm = 3))
        try(interaction_test(cells, radius = 20, nperm = 3,
                             method = "classic"))
        try(colocalization_quotient(cells, k = 3, nperm = 2))
        try(local_colocalization_quotient(cells, from = "A", k = 3))
        try(cellular_neighborhoods(cells, k = 5, n = 2))
        # k-means fitted on a sample, then every cell assigned (C)
        try(cellular_neighborhoods(cells, k = 5, n = 2, fit_size = 20))
        # the whole-slide path of the profile: exact labelling moments and
        # the k-d tree nearest distances
        try(spatial_profile(cells, tumor = "A", immune = c("B", "C"),
                            features = profile_features(c(
                                "distances", "kfunctions", "interactions")),
                            cd8 = "B", whole_slide = 0, r = seq(0, 20, 5)))
        try(hotspots(cells, "A", cell_size = 25))
        try(mixing_score(cells, reference = "A", target = "B"))
        try(immunoscape:::interaction_grid_order(cells, k = 3))
        # internal helpers that tests call directly
        hex <- data.frame(x = 50 + 40 * cos(0:5 * pi / 3),
                          y = 50 + 40 * sin(0:5 * pi / 3))
        hc <- set_window(cells, hex)
        w <- attr(hc, "windows")
        try(immunoscape:::window_bdist(w, "image1", df$x[1:5], df$y[1:5]))
        try(immunoscape:::window_circle_frac(w, "image1", df$x[1:5],
                                             df$y[1:5], c(0, 5, 20, 30, 90)))
        try(immunoscape:::window_overlap(w, "image1", c(0, 3), c(0, 4)))
        win <- immunoscape:::kf_window_spec(w, "image1")
        try(immunoscape:::kf_edge_weights(win, df$x[1:3], df$y[1:3],
                                          df$x[4:6], df$y[4:6]))
        try(ripley_k(hc, "A", r = seq(0, 20, 5), correction = "all"))
        # every example of every help topic (other families' too)
        db <- tools::Rd_db("immunoscape")
        for (rd in names(db)) {
            ex <- tempfile(fileext = ".R")
            tools::Rd2ex(db[[rd]], ex)
            if (file.exists(ex)) {
                utils::capture.output(try(suppressWarnings(
                    source(ex, local = new.env())), silent = TRUE))
            }
        }
    }
    for (nth in 1:2) {
        options(immunoscape.threads = nth)
        grDevices::pdf(NULL)
        suppressWarnings(workload())
        grDevices::dev.off()
    }
    out <- as.list(calls)
    # routines that only tests call, directly
    out$ffi_kfun_status <- list(list(args = list(2L), size = 0))
    if ("ffi_kfun_acos_fast" %in% routines) {
        out$ffi_kfun_acos_fast <- list(list(args = list(seq(-1, 1, 0.25)),
                                            size = 0))
    }
    # zero-argument routines need no recording
    for (r in routines) {
        if (is.null(out[[r]]) &&
            getDLLRegisteredRoutines(dll)$.Call[[r]]$numParameters == 0) {
            out[[r]] <- list(list(args = list(), size = 0))
        }
    }
    missing <- setdiff(routines, names(out))
    cat(sprintf("recorded %d of %d .Call entry points (%d calls)\n",
                length(out), length(routines), sum(lengths(out))))
    if (length(missing)) {
        cat("NOT COVERED:", missing, "\n")
        if (nzchar(Sys.getenv("STRICT"))) quit(status = 1)
    }
    saveRDS(out, file)
}

replay <- function(file, torture = FALSE) {
    calls <- readRDS(file)
    n <- 0L
    for (nm in names(calls)) {
        sym <- getNativeSymbolInfo(nm, dll)
        todo <- calls[[nm]]
        if (torture) {
            # the smallest call only: every allocation collects
            todo <- todo[which.min(vapply(todo, `[[`, numeric(1), "size"))]
        }
        for (cl in todo) {
            cl_args <- c(list(sym), cl$args)
            t0 <- proc.time()[[3]]
            if (torture && inherits(try(do.call(.Call, cl_args), silent = TRUE),
                                    "try-error")) {
                # an error path runs cli under torture: minutes; skip
                cat(sprintf("%-28s (raises an error: not tortured)\n", nm))
                next
            }
            if (torture) gctorture(TRUE)
            r <- try(do.call(.Call, cl_args), silent = TRUE)
            if (torture) gctorture(FALSE)
            if (torture) cat(sprintf("%-28s %6.1f s\n", nm, proc.time()[[3]] - t0))
            if (inherits(r, "try-error") &&
                grepl("internal error", r, fixed = TRUE)) {
                cat("FAILED:", nm, r, "\n")
                quit(status = 1)
            }
            n <- n + 1L
        }
    }
    cat(sprintf("replayed %d calls of %d entry points%s\n", n, length(calls),
                if (torture) " under gctorture()" else ""))
}

`%||%` <- function(a, b) if (is.null(a)) b else a

switch(mode,
       record = record(file),
       replay = replay(file),
       gctorture = replay(file, torture = TRUE),
       stop("mode must be record, replay or gctorture"))
