# Child-process side of the hostile-input test (test-hostile.R) and of
# `make fuzz`: sourced in a fresh R process (callr or Rscript), never by
# testthat directly.  Defines the fixtures the cases refer to and a runner
# that evaluates cases one by one, appending each outcome to a file so
# that the parent knows how far a child got if it crashed or hung.

suppressPackageStartupMessages(library(immunoscape))
options(immunoscape.verbose = FALSE, warn = 1)

hostile_fixtures <- function(dir) {
    set.seed(42)
    n <- 60
    df <- data.frame(x = runif(n, 0, 200), y = runif(n, 0, 200),
                     type = rep(c("A", "B", "C"), length.out = n),
                     stringsAsFactors = FALSE)
    e <- new.env(parent = globalenv())
    e$df <- df
    e$cells <- spatial_cells(df, window = "rectangle")
    square <- data.frame(x = c(0, 200, 200, 0), y = c(0, 0, 200, 200))
    e$cells1 <- spatial_cells(df[1, ], window = square)
    e$cells2 <- spatial_cells(df[1:2, ], window = square)
    dd <- df
    dd$x[2:10] <- dd$x[1]
    dd$y[2:10] <- dd$y[1]
    e$cells_dup <- spatial_cells(dd)
    lat <- expand.grid(x = 0:9 * 10, y = 0:9 * 10)
    lat$type <- rep(c("A", "B", "C", "A"), length.out = nrow(lat))
    e$cells_lattice <- spatial_cells(lat)
    line <- data.frame(x = 1:20, y = 1:20 * 2, type = rep(c("A", "B", "C"),
                                                        length.out = 20))
    e$cells_line <- suppressWarnings(tryCatch(spatial_cells(line),
        error = function(err) e$cells))
    two <- rbind(cbind(df, image = "i1"),
                 cbind(transform(df, type = ifelse(type == "A", "B", type)),
                       image = "i2"))
    e$cells_absent <- spatial_cells(two, image = "image")
    na <- e$cells
    na$x[3] <- NA
    e$cells_na <- na
    nan <- e$cells
    nan$y[4] <- NaN
    e$cells_nan <- nan
    inf <- e$cells
    inf$x[5] <- Inf
    e$cells_inf <- inf
    chr <- e$cells
    chr$x <- as.character(chr$x)
    e$cells_chr <- chr
    e$cells_empty <- e$cells[0, ]
    e$cells_notype <- df[c("x", "y")]
    e$df0 <- df[0, ]
    e$square <- data.frame(x = c(0, 200, 200, 0), y = c(0, 0, 200, 200))
    e$bowtie <- data.frame(x = c(0, 200, 0, 200), y = c(0, 200, 200, 0))
    e$flat <- data.frame(x = c(0, 100, 200), y = c(0, 0, 0))
    e$huge <- data.frame(x = c(0, 1e155, 1e155, 0), y = c(0, 0, 1e155, 1e155))
    e$tiny_win <- data.frame(x = c(0, 1e-9, 1e-9, 0), y = c(0, 0, 1e-9, 1e-9))
    e$win0 <- data.frame(x = numeric(), y = numeric())
    e$win_na <- data.frame(x = c(0, NA, 200, 0), y = c(0, 0, 200, 200))
    # the tumour-architecture families (simulate_tme and what reads it)
    e$sim <- simulate_tme(size = 1000, cells_per_mm2 = 1000, seed = 1,
                          n_tls = 1)
    e$reg <- tumor_regions(e$sim)
    other <- simulate_tme(size = 1000, cells_per_mm2 = 1000, seed = 2,
                          n_tls = 0)
    other <- as.data.frame(other)[c("x", "y", "type")]
    other$image <- "elsewhere"
    e$reg_other <- tumor_regions(spatial_cells(other, image = "image"))
    e$sim_liver <- simulate_tme(size = 1000, cells_per_mm2 = 1000, seed = 1,
                                pattern = "replacement", n_tls = 0)
    e$reg_liver <- tumor_regions(e$sim_liver)
    e$tls <- detect_tls(e$sim, min_b = 5, min_t = 5, link = 40)
    e$tls_truth <- attr(e$sim, "tls_truth")
    e$tls_none <- detect_tls(e$sim, min_b = 1e4)
    e$prof <- spatial_profile(e$sim, features = profile_features("counts"))
    set.seed(3)
    e$prof_df <- structure(
        data.frame(patient = paste0("p", 1:20), density_cd8 = rexp(20, 0.01),
                   note = NA_character_),
        class = c("spatial_profile", "immunoscape_result", "data.frame"),
        aggregate = c(density_cd8 = "mean"), by = "patient")
    e$clin <- data.frame(patient = paste0("p", 1:20), time = rexp(20),
                         event = rep(0:1, 10),
                         stage = rep(c("I", "II"), 10))
    e$dist_res <- nearest_distances(e$cells, to = "A")
    # loading SingleCellExperiment takes seconds: only when a case asks
    delayedAssign("sce", as_sce(cells), eval.env = e, assign.env = e)
    # files
    f <- function(name) file.path(dir, name)
    utils::write.csv(df, f("ok.csv"), row.names = FALSE)
    e$csv_file <- f("ok.csv")
    # render_report(): where to write, where not to, outcome data
    e$report_file <- f("report.html")
    dir.create(f("readonly"), showWarnings = FALSE)
    Sys.chmod(f("readonly"), "0555")
    e$ro_file <- file.path(f("readonly"), "report.html")
    e$tmp_dir <- dir
    dir.create(f("folder.html"), showWarnings = FALSE)
    e$html_dir <- f("folder.html")
    e$clin_report <- data.frame(patient = "patient1", time = 10, event = 1)
    con <- gzfile(f("ok.csv.gz"), "w")
    utils::write.csv(df, con, row.names = FALSE)
    close(con)
    raw <- readBin(f("ok.csv.gz"), "raw", file.size(f("ok.csv.gz")))
    writeBin(raw[seq_len(length(raw) - 20)], f("cut.csv.gz"))
    e$cut_gz <- f("cut.csv.gz")
    txt <- readBin(f("ok.csv"), "raw", file.size(f("ok.csv")))
    writeBin(txt[seq_len(length(txt) %/% 2)], f("half.csv"))
    e$half_csv <- f("half.csv")
    file.create(f("empty.csv"))
    e$empty_file <- f("empty.csv")
    writeLines("x,y,type", f("header.csv"))
    e$header_only <- f("header.csv")
    writeBin(as.raw(c(0:255, 0:255)), f("garbage.csv"))
    e$garbage <- f("garbage.csv")
    writeLines(c("a,b,c", "1,2,3"), f("nocoords.csv"))
    e$nocoords <- f("nocoords.csv")
    writeLines(c("x,y,x,type", "1,2,3,A", "2,3,4,B", "5,1,1,A"), f("dup.csv"))
    e$dupcols <- f("dup.csv")
    writeLines(c("x,y,type", "1,a,A", "2,3,B", "NA,4,A"), f("badnum.csv"))
    e$badnum <- f("badnum.csv")
    writeLines(c("Cell X Position,Cell Y Position,Phenotype",
                 "1,2,CD8", "3"), f("inform_cut.txt"))
    e$inform_cut <- f("inform_cut.txt")
    dir.create(f("nodata"), showWarnings = FALSE)
    e$empty_dir <- f("nodata")
    e
}

# Outcome of one case: "ok", "classed" (an immunoscape_error_* other than
# internal), "internal", "plain" (an unclassed R error), "hang" (the time
# limit ended it), with the error class and whether the message names
# the argument under test.
run_case <- function(case, env, limit) {
    res <- list(id = case$id, outcome = NA_character_, class = NA_character_,
                names_arg = NA, message = NA_character_)
    t0 <- proc.time()[[3]]
    val <- tryCatch({
        setTimeLimit(elapsed = limit, transient = TRUE)
        on.exit(setTimeLimit(elapsed = Inf), add = TRUE)
        suppressWarnings(suppressMessages(
            eval(parse(text = case$code), envir = env)
        ))
        NULL
    }, error = function(e) e)
    setTimeLimit(elapsed = Inf)
    res$seconds <- proc.time()[[3]] - t0
    if (is.null(val)) {
        res$outcome <- "ok"
        return(res)
    }
    msg <- paste(conditionMessage(val), collapse = " ")
    if (inherits(val, "rlang_error")) {
        msg <- paste(c(msg, rlang::cnd_header(val), rlang::cnd_body(val)),
                     collapse = " ")
    }
    res$message <- substr(cli::ansi_strip(msg), 1, 300)
    cls <- grep("^immunoscape_error_", class(val), value = TRUE)
    res$class <- if (length(cls)) cls[1] else class(val)[1]
    res$outcome <- if (grepl("time limit", msg)) {
        "hang"
    } else if (inherits(val, "immunoscape_error_internal")) {
        "internal"
    } else if (length(cls)) {
        "classed"
    } else if (inherits(val, "rlib_error_package_not_found")) {
        "dependency"
    } else {
        "plain"
    }
    if (!is.null(case$arg) && !is.na(case$arg)) {
        res$names_arg <- grepl(case$arg, msg, fixed = TRUE)
    }
    res
}

# Evaluate cases in order; each outcome is appended (one RDS per case) to
# `out_dir` before the next case starts.
run_cases <- function(cases, out_dir, limit = 20) {
    tmp <- tempfile("hostile")
    dir.create(tmp)
    env <- hostile_fixtures(tmp)
    for (case in cases) {
        cat(case$id, "\n", file = file.path(out_dir, "started"),
            append = TRUE)
        r <- run_case(case, env, limit)
        saveRDS(r, file.path(out_dir, sprintf("case-%05d.rds", case$id)))
    }
    invisible(TRUE)
}
