# The hostile-input table (test-hostile.R): every exported function fed
# each kind of bad input that applies to it, evaluated in child processes
# (tests/testthat/hostile-child.R) so that a crash or hang fails a test
# instead of killing the suite.

# A valid call of each function on the fixtures of hostile-child.R (small
# nperm / nsim so that the accepted cases stay fast).
hostile_base <- list(
    nearest_distances = list(cells = "cells", to = '"A"', k = "1",
                             nthreads = "1"),
    count_neighbors = list(cells = "cells", radius = "20", nthreads = "1"),
    ripley_k = list(cells = "cells", from = '"A"', r = "seq(0, 50, 5)",
                    nsim = "5", nthreads = "1"),
    ripley_l = list(cells = "cells", from = '"A"', to = '"B"',
                    r = "seq(0, 50, 5)", nsim = "5", nthreads = "1"),
    pair_correlation = list(cells = "cells", from = '"A"',
                            r = "seq(0, 50, 5)", nsim = "5", bw = "5",
                            nthreads = "1"),
    g_function = list(cells = "cells", from = '"A"', r = "seq(0, 50, 5)",
                      nsim = "5", nthreads = "1"),
    interaction_test = list(cells = "cells", radius = "20", nperm = "9",
                            patch_size = "3", alpha = "0.05",
                            nthreads = "1"),
    colocalization_quotient = list(cells = "cells", radius = "20",
                                   nperm = "0", alpha = "0.05",
                                   nthreads = "1"),
    local_colocalization_quotient = list(cells = "cells", from = '"A"',
                                         k = "5", nthreads = "1"),
    mixing_score = list(cells = "cells", reference = '"A"', target = '"B"',
                        radius = "20", nthreads = "1"),
    classify_architecture = list(cells = "cells", tumor = '"A"',
                                 immune = 'c("B", "C")', radius = "20",
                                 threshold = "0.22", min_immune = "5",
                                 nthreads = "1"),
    neighborhood_composition = list(cells = "cells", k = "5",
                                    nthreads = "1"),
    cellular_neighborhoods = list(cells = "cells", k = "5", n = "2",
                                  seed = "1", nstart = "2", iter_max = "10",
                                  nthreads = "1"),
    hotspots = list(cells = "cells", type = '"A"', cell_size = "50",
                    order = "1", alpha = "0.05"),
    tissue_window = list(cells = "cells", method = '"concave"',
                         radius = "NULL", nthreads = "1"),
    set_window = list(cells = "cells", window = "square"),
    get_window = list(cells = "cells"),
    window_area = list(x = "square"),
    as_window = list(x = "square"),
    plot_cells = list(cells = "cells"),
    spatial_cells = list(data = "df", pixel_size = "1", window = '"convex"'),
    as_spatial_cells = list(x = "df"),
    read_cells = list(path = "csv_file", type = '"type"',
                      window = '"rectangle"'),
    simulate_tme = list(n_images = "1", cells_per_mm2 = "1000",
                        size = "1000", n_tls = "1", pattern = '"pushing"',
                        seed = "1", nthreads = "1"),
    tumor_regions = list(cells = "sim", tumor = '"Tumor"', gap = "50",
                         min_area = "5000", nthreads = "1"),
    as_regions = list(x = "reg", cells = "sim"),
    compartments = list(cells = "sim", regions = "reg", margin = "100",
                        nthreads = "1"),
    infiltration_profile = list(cells = "sim", regions = "reg",
                                types = '"CD8 T"',
                                breaks = "seq(-100, 100, 50)",
                                nthreads = "1"),
    immune_phenotype = list(cells = "sim", regions = "reg",
                            immune = '"CD8 T"', margin = "100",
                            core_min = "100", tile = "250", nthreads = "1"),
    growth_pattern = list(cells = "sim_liver", regions = "reg_liver",
                          tumor = '"Tumor"', segment = "250", depth = "100",
                          mixing = "0.1", min_cells = "5", nthreads = "1"),
    compartment_ratios = list(cells = "sim", regions = "reg",
                              numerator = '"CD8 T"', denominator = '"Treg"',
                              margin = "100", pseudocount = "0.5",
                              nthreads = "1"),
    detect_tls = list(cells = "sim", b_cells = '"B"', link = "40",
                      min_b = "5", min_t = "5", t_radius = "100",
                      nthreads = "1"),
    tls_preset = list(name = "NULL"),
    tls_agreement = list(tls = "tls", reference = "tls_truth",
                         jaccard = "0.5", pixel = "2"),
    spatial_profile = list(cells = "sim", tumor = '"Tumor"',
                           features = 'profile_features("counts")'),
    aggregate_profile = list(profile = "prof", by = '"patient"'),
    associate_outcome = list(profile = "prof_df", clinical = "clin",
                             time = '"time"', event = '"event"',
                             min_events = "5", level = "0.95"),
    as_sce = list(cells = "cells"),
    as_spe = list(cells = "cells"),
    add_cell_results = list(x = "sce", results = "dist_res"),
    set_groups = list(cells = "sim", groups = '"patient"'),
    image_groups = list(cells = "cells")
)

# Bad values by kind of argument.
hostile_values <- list(
    count = c("0", "-1", "NA", "NaN", "Inf", "2^31", "1e300", "1.5", "'a'",
              "c(1, 2)", "NULL", "TRUE", "integer()"),
    positive = c("0", "-1", "NA", "NaN", "Inf", "-Inf", "1e300", "'a'",
                 "c(1, 2)", "NULL", "2^31", "1e-300"),
    prob = c("0", "1", "-0.5", "1.5", "NA", "Inf", "'a'", "c(0.1, 0.2)"),
    r = c("c(0, NA)", "c(0, -1)", "c(5, 0)", "c(0, Inf)", "c(0, 1e300)",
          "0", "numeric()", "'a'", "c(1, 5)", "c(0, 5, 5)"),
    type = c('"Z"', "NA", "1", "character()", '""', 'c("A", NA)',
             'factor("A")', "NULL"),
    choice = c('"bogus"', "NA", "1", "character()", 'c("a", "b")'),
    flag = c("NA", "'yes'", "c(TRUE, FALSE)", "1"),
    cells = c("1", "NULL", "list()", "'cells'", "df0", "cells_notype",
              "cells1", "cells2", "cells_dup", "cells_lattice", "cells_line",
              "cells_absent", "cells_na", "cells_nan", "cells_inf",
              "cells_chr", "cells_empty", "matrix(1:4, 2)", "df"),
    window = c("win0", "bowtie", "flat", "huge", "tiny_win", "win_na",
               '"bogus"', "1", "NULL", "list()"),
    regions = c("1", "NULL", "list()", "cells", "reg_other", "square",
                "reg[0, ]", "win0"),
    tls = c("1", "NULL", "cells", "tls_none", "reg"),
    frame = c("1", "NULL", "df0", "tls_truth[0, ]", "tls_truth[-1]",
              "transform(tls_truth, radius = -1)",
              "transform(tls_truth, x = NA)", "cells"),
    profile = c("1", "NULL", "df", "df0", "prof[0, ]", "cells"),
    colname = c('"bogus"', "NA", "1", "character()", 'c("a", "b")'),
    features = c("NULL", "list()", '"bogus"', "1", "list(1)"),
    breaks = c("c(0, NA)", "c(5, 0)", "c(0, Inf)", "c(-1e300, 1e300)", "0",
               "numeric()", "'a'", "c(0, 5, 5)"),
    sce = c("1", "NULL", "cells", "df"),
    results = c("1", "NULL", "df0", "df", "dist_res[0, ]",
                "transform(dist_res, cell_id = NA)",
                "transform(dist_res, image = 'nope')"),
    path = c("empty_file", "header_only", "garbage", "nocoords", "dupcols",
             "badnum", "inform_cut", "cut_gz", "half_csv", "empty_dir",
             '"/nonexistent/cells.csv"', '"/dev/zero"', "1", "NA",
             "character()")
)

hostile_kind <- c(
    cells = "cells", x = "cells", data = "cells", object = "cells",
    k = "count", nperm = "count", nsim = "count", order = "count",
    n = "count", nstart = "count", iter_max = "count", min_immune = "count",
    nthreads = "count", patch_size = "count", seed = "count",
    radius = "positive", bw = "positive", cell_size = "positive",
    pixel_size = "positive", threshold = "positive",
    alpha = "prob", r = "r",
    from = "type", to = "type", type = "type", reference = "type",
    target = "type", tumor = "type", immune = "type", types = "type",
    method = "choice", envelope = "choice", correction = "choice",
    value = "choice", adjust = "choice", format = "choice",
    global = "flag", window = "window", path = "path",
    n_images = "count", n_tls = "count", min_b = "count", min_t = "count",
    min_cells = "count", min_events = "count",
    cells_per_mm2 = "positive", size = "positive", gap = "positive",
    min_area = "positive", margin = "positive", core_min = "positive",
    tile = "positive", segment = "positive", depth = "positive",
    pseudocount = "positive", link = "positive", t_radius = "positive",
    pixel = "positive",
    mixing = "prob", jaccard = "prob", level = "prob",
    pattern = "choice", name = "choice", by = "colname", time = "colname",
    event = "colname", regions = "regions", tls = "tls",
    reference = "type", numerator = "type", denominator = "type",
    b_cells = "type", profile = "profile", clinical = "frame",
    features = "features", breaks = "breaks", results = "results",
    groups = "colname"
)

# Arguments whose kind differs by function.
hostile_kind_fun <- list(
    tls_agreement = c(reference = "frame"),
    add_cell_results = c(x = "sce"),
    as_regions = c(x = "regions"),
    associate_outcome = c(clinical = "profile")
)

hostile_arg_kind <- function(fun, arg) {
    over <- hostile_kind_fun[[fun]]
    if (!is.null(over) && arg %in% names(over)) over[[arg]] else
        hostile_kind[[arg]]
}

# Extra cases that no table row produces.
hostile_extra <- c(
    'nearest_distances(cells, to = "A", nthreads = 1e6)',
    'count_neighbors(cells, radius = 20, nthreads = 1e5)',
    'interaction_test(cells, radius = 20, nperm = 1e9)',
    'ripley_k(cells, "A", envelope = "labels", nsim = 2^31 - 1)',
    'pair_correlation(cells, "A", bw = 0)',
    'cellular_neighborhoods(cells, seed = 1e300)',
    'window_area(huge)',
    'spatial_cells(transform(df, x = x * 1e155))',
    'spatial_cells(df, pixel_size = 1e300)',
    'spatial_cells(df, window = win0)',
    'spatial_cells(transform(df, x = NA))',
    'spatial_cells(transform(df, x = as.character(x)))',
    'spatial_cells(transform(df, type = NA))',
    'spatial_cells(rbind(df, df), cell_id = "x")',
    'spatial_cells(df, x = "X")',
    'spatial_cells(df, type = "typ")',
    'spatial_cells(df, cell_id = "nope")',
    'tissue_window(cells, "concave", radius = 1e300)',
    'tissue_window(cells_dup, "concave")',
    'tissue_window(cells_line, "convex")',
    'ripley_k(cells, "A", r = c(0, 1e300))',
    'ripley_k(cells_lattice, "A", correction = "all")',
    'g_function(cells_lattice, "A", correction = "all")',
    'interaction_test(cells_lattice, radius = 10, nperm = 5)',
    'nearest_distances(cells, to = "A", k = 1e6)',
    'hotspots(cells, "A", cell_size = 1e-6)',
    'hotspots(cells, "A", cell_size = 1e6)',
    'count_neighbors(cells, radius = 1e300)',
    'mixing_score(cells, reference = "A", target = "B", radius = 1e300)',
    'neighborhood_composition(cells, radius = 1e300)',
    'neighborhood_composition(cells, k = NULL, radius = NULL)',
    'colocalization_quotient(cells)',
    'local_colocalization_quotient(cells, radius = 1e300)',
    'as_window(sf::st_sfc(sf::st_polygon()))',
    'spatial_cells(df, window = sf::st_sfc(sf::st_polygon()))',
    'read_cells(csv_file, bogus = 1)',
    'read_cells(csv_file, format = "halo")',
    'read_cells(csv_file, pixel_size = 1e300, type = "type")',
    'immunoscape_threads()',
    'autoplot(ripley_k(cells, "A", r = seq(0, 50, 5)))',
    'autoplot(interaction_test(cells, nperm = 5))',
    'as_sf(cells)',
    'as_sf(1)',
    'tls_agreement(tls_none, tls_truth)',
    'tls_agreement(tls, tls_truth[0, ])',
    'compartments(sim, reg_other)',
    'compartments(sim, reg, margin = 1e300)',
    'immune_phenotype(sim[sim$type != "CD8 T", ], reg)',
    'tumor_regions(sim[sim$type != "Tumor", ])',
    'tumor_regions(sim[1, ])',
    'tumor_regions(sim, max_pixels = 2^31)',
    'tumor_regions(sim, bandwidth = 1e300)',
    'detect_tls(sim[0, ])',
    'detect_tls(sim, link = 1e300)',
    'growth_pattern(sim, reg)',
    'simulate_tme(size = 1e300)',
    'simulate_tme(size = 1000, cells_per_mm2 = 1000, n_images = 2, images = 3)',
    'spatial_profile(cells)',
    'spatial_profile(sim, tumor = "Tumor", immune = "nope")',
    'aggregate_profile(prof, by = "image")',
    'aggregate_profile(prof, by = "nope")',
    'associate_outcome(prof_df, clin, group = "stage")',
    'associate_outcome(prof_df, clin[1:3, ], time = "time", event = "event")',
    'associate_outcome(prof_df, transform(clin, time = -1), time = "time", event = "event")',
    'as_sce(cells, assay_columns = "bogus")',
    'as_spe(cells, assay_columns = "type")',
    'add_cell_results(sce, dist_res, columns = "bogus")'
)

# render_report() has its own cases: every successful call renders an HTML
# page (seconds each), so the valid calls draw only the overview of the
# one-image simulation `sim`, and the bad values below are all refused
# before anything is computed, except the handful marked "renders".
hostile_report_base <- list(
    cells = "sim", file = "report_file", sections = '"overview"',
    n_images = "1", nsim = "5", nperm = "9", nthreads = "1"
)

hostile_report_values <- list(
    # wrong class, empty, one cell (renders), missing or bad columns
    cells = c("1", "NA", "NULL", "list()", "'cells'", "matrix(1:4, 2)", "df0",
              "cells_empty", "cells1", "cells_notype", "cells_na",
              "cells_inf", "cells_chr"),
    # a folder that does not exist, a read-only folder (renders when run
    # as root, who may write there), a place nobody may write, not a
    # string, two paths, NA, empty, no .html, folders
    file = c('"/nonexistent/dir/report.html"', "ro_file",
             '"/proc/immunoscape-report.html"', "1", "c(report_file, report_file)",
             "NA", "NA_character_", '""', "character()", '"report.txt"',
             "NULL", "tmp_dir", "html_dir"),
    clinical = c("1", "NA", "'clin'", "list(patient = 'patient1')",
                 "clin_report[0, ]", "clin_report[c('patient', 'time')]",
                 "clin_report[c('patient', 'event')]",
                 "clin_report[c('time', 'event')]",
                 "transform(clin_report, patient = 'nobody')"),
    n_images = c("0", "-1", "NA", "Inf", "2^31", "1.5", "NULL", "'a'"),
    margin = c("0", "-1", "NA", "Inf", "2^31", "1.5", "NULL", "'a'"),
    nsim = c("0", "-1", "NA", "Inf", "2^31", "1.5", "NULL", "'a'"),
    nperm = c("0", "-1", "NA", "Inf", "2^31", "1.5", "NULL", "'a'"),
    seed = c("0", "-1", "NA", "Inf", "2^31", "1.5", "NULL", "'a'"),
    nthreads = c("0", "-1", "NA", "Inf", "2^31", "1.5", "NULL", "'a'"),
    tumor = c("NA", '"Z"', "character()", "1"),
    immune = c("NA", '"Z"', "1"),
    patient = c("NA", '"bogus"', "1", 'c("a", "b")'),
    title = c("NA", "1", 'c("a", "b")'),
    images = c("NA", '"bogus"', "0"),
    sections = c("NA", '"bogus"', "character()", "1"),
    quiet = c("NA", "'yes'", "c(TRUE, FALSE)")
)

# Cases of render_report() beyond the table: missing arguments, the outcome
# arguments without (or with incomplete) clinical data, and the valid
# calls that render (a base call, patients and outcome sections).
hostile_report_extra <- list(
    list(code = "render_report()", arg = "cells"),
    list(code = "render_report(file = report_file)", arg = "cells"),
    list(code = "render_report(sim, report_file, time = NA)", arg = "time"),
    list(code = "render_report(sim, report_file, time = \"time\", event = \"event\")",
         arg = "clinical"),
    list(code = "render_report(sim, report_file, clin_report)", arg = "clinical"),
    list(code = "render_report(sim, report_file, clin_report, time = \"time\", event = 1)",
         arg = "event"),
    list(code = "render_report(sim, report_file, clin_report, time = \"bogus\", event = \"event\")",
         arg = "time"),
    list(code = "render_report(sim, report_file, bogus = 1)", arg = "bogus"),
    # renders: features, patients and outcome of the one-patient cohort
    # (the outcome section says why no model could be fitted)
    list(code = paste0("render_report(sim, report_file, clin_report, ",
                       "time = \"time\", event = \"event\", sections = ",
                       "c(\"overview\", \"features\", \"patients\", ",
                       "\"outcome\"), nperm = 9, nthreads = 1)"),
         arg = NA)
)

hostile_report_cases <- function() {
    call_str <- function(args) {
        sprintf("render_report(%s)", paste(names(args), "=", unlist(args),
                                           collapse = ", "))
    }
    out <- list(list(code = call_str(hostile_report_base), arg = NA))
    for (arg in names(hostile_report_values)) {
        for (v in hostile_report_values[[arg]]) {
            args <- hostile_report_base
            args[[arg]] <- v
            # the contents of the cells are not the argument's fault
            named <- if (arg == "cells") NA else arg
            # one cell: its only type is the tumour
            if (arg == "cells" && v == "cells1") args$tumor <- '"A"'
            # bad clinical data come with the outcome columns named
            if (arg == "clinical") {
                args$time <- '"time"'
                args$event <- '"event"'
            }
            out[[length(out) + 1L]] <- list(code = call_str(args),
                                            arg = named)
        }
    }
    c(out, hostile_report_extra)
}

# The case table: id, code, function, argument under test (NA: none).
hostile_cases <- function() {
    out <- list()
    add <- function(code, fun, arg) {
        out[[length(out) + 1L]] <<- list(code = code, fun = fun, arg = arg)
    }
    call_str <- function(fun, args) {
        sprintf("%s(%s)", fun, paste(names(args), "=", unlist(args),
                                     collapse = ", "))
    }
    for (fun in names(hostile_base)) {
        base <- hostile_base[[fun]]
        add(call_str(fun, base), fun, NA_character_)
        # a misspelled argument
        if ("..." %in% names(formals(getExportedValue("immunoscape", fun)))) {
            add(call_str(fun, c(base, list(nthread = "2"))), fun, "nthread")
        }
        for (arg in names(base)) {
            kind <- hostile_arg_kind(fun, arg)
            for (v in hostile_values[[kind]]) {
                args <- base
                args[[arg]] <- v
                # a cells-like first argument is not named in messages
                # about its contents (empty table, missing column)
                add(call_str(fun, args), fun,
                    if (kind %in% c("cells", "path", "window", "regions", "tls",
                                 "frame", "profile", "sce", "results")) {
                    NA
                } else {
                    arg
                })
            }
        }
    }
    for (code in hostile_extra) add(code, sub("\\(.*", "", code), NA)
    for (cs in hostile_report_cases()) add(cs$code, "render_report", cs$arg)
    for (i in seq_along(out)) out[[i]]$id <- i
    out
}

# Run the cases in child processes: batches of `batch` cases each, every
# case under a time limit of `limit` s inside the child, each child under
# `timeout` s.  A child that dies (crash) or overruns (hang) marks its
# current case and the rest of the batch goes on in a new child.
hostile_run <- function(cases, batch = 80L, limit = 20, timeout = 120) {
    # under the sanitizers (make sanitize preloads their runtimes) code
    # runs a few times slower: give the children more time
    if (grepl("asan", Sys.getenv("LD_PRELOAD"))) {
        limit <- 3 * limit
        timeout <- 3 * timeout
    }
    child <- normalizePath(test_path("hostile-child.R"))
    results <- list()
    pending <- cases
    while (length(pending)) {
        todo <- pending[seq_len(min(batch, length(pending)))]
        out_dir <- tempfile("hostile-out")
        dir.create(out_dir)
        status <- hostile_child(child, todo, out_dir, limit, timeout)
        if (!file.exists(file.path(out_dir, "started"))) {
            stop("The hostile-input child process failed before its first case (", status, ").")
        }
        done <- list.files(out_dir, "^case-.*rds$", full.names = TRUE)
        got <- lapply(done, readRDS)
        ids <- vapply(got, `[[`, numeric(1), "id")
        results <- c(results, got)
        left <- Filter(function(cs) !cs$id %in% ids, todo)
        if (length(left) && status != "ok") {
            # the case that was running when the child died
            bad <- left[[1]]
            results[[length(results) + 1L]] <- list(
                id = bad$id, outcome = status, class = NA_character_,
                names_arg = NA, message = status, seconds = NA_real_)
            left <- left[-1]
        }
        unlink(out_dir, recursive = TRUE)
        pending <- c(left, pending[-seq_len(length(todo))])
    }
    res <- do.call(rbind, lapply(results, as.data.frame,
                                 stringsAsFactors = FALSE))
    info <- do.call(rbind, lapply(cases, function(cs) {
        data.frame(id = cs$id, fun = cs$fun, arg = cs$arg %||% NA,
                   code = cs$code, stringsAsFactors = FALSE)
    }))
    merge(info, res, by = "id")
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# One child: "ok", "crash" or "hang".
hostile_child <- function(child, cases, out_dir, limit, timeout) {
    f <- function(child, cases, out_dir, limit) {
        source(child)
        run_cases(cases, out_dir, limit)
    }
    if (requireNamespace("callr", quietly = TRUE)) {
        r <- tryCatch({
            callr::r(f, list(child, cases, out_dir, limit), timeout = timeout,
                     libpath = .libPaths(), show = FALSE)
            "ok"
        }, callr_timeout_error = function(e) "hang",
        error = function(e) "crash")
        return(r)
    }
    rds <- tempfile(fileext = ".rds")
    saveRDS(list(child = child, cases = cases, out_dir = out_dir,
                 limit = limit), rds)
    script <- tempfile(fileext = ".R")
    writeLines(c(sprintf("a <- readRDS(%s)", deparse(rds)),
                 "source(a$child)",
                 "run_cases(a$cases, a$out_dir, a$limit)"), script)
    st <- suppressWarnings(system2(
        "timeout", c(timeout, file.path(R.home("bin"), "Rscript"), script),
        stdout = FALSE, stderr = FALSE,
        env = paste0("R_LIBS=", paste(.libPaths(), collapse = ":"))))
    if (st == 0) "ok" else if (st == 124) "hang" else "crash"
}
