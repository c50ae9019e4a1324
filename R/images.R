# Per-image dispatch shared by every analysis: one image at a time, serially
# with a progress bar or through BiocParallel, and a failing image becomes a
# recorded problem instead of aborting the cohort.

#' Apply a function to every image
#'
#' @param cells A `spatial_cells` object.
#' @param fun `function(sub, image)` returning a data frame (or NULL) for
#'   one image; `sub` is the `spatial_cells` of that image.
#' @param BPPARAM `NULL` (serial, with a progress bar) or a BiocParallel
#'   parameter object.
#' @param label What the progress bar says it is doing.
#' @param seeded `TRUE` when `fun` draws random numbers: each image then
#'   runs on its own seed, drawn from R's generator before any image is
#'   dispatched, so that `set.seed()` gives the same results serially and
#'   with any `BPPARAM` (SerialParam, MulticoreParam, SnowParam, any number
#'   of workers).
#' @returns The row-bound results, with the image-level group columns of
#'   `cells` (e.g. `patient`, see set_groups()) inserted after `image`,
#'   and attribute `problems`: a data frame (`image`, `message`) of images
#'   that failed.
#' @keywords internal
#' @noRd
map_images <- function(cells, fun, BPPARAM = NULL, label = "Images",
                       seeded = FALSE) {
    parts <- split(cells)
    images <- names(parts)
    seeds <- if (seeded) image_seeds(length(images)) else
        vector("list", length(images))
    kinds <- RNGkind()
    # A data problem of one image (a classed immunoscape error) leaves that
    # image out; anything else is a bug and stops the run, naming the image.
    one <- function(sub, image, seed) {
        tryCatch(
            list(value = with_image_seed(seed, kinds, fun(sub, image)),
                 error = NULL),
            immunoscape_error = function(e) {
                list(value = NULL, error = conditionMessage(e))
            },
            error = function(e) {
                # resource limits are not bugs: a time limit set by the
                # caller (setTimeLimit()) comes out as it is, memory as a
                # classed error
                if (is_time_limit(e)) stop(e)
                if (is_alloc_failure(e)) {
                    stop_immunoscape(c(
                        "Out of memory while analysing image {.val {image}}.",
                        "x" = conditionMessage(e),
                        "i" = "Analyse fewer cells at once or use smaller arguments."
                    ), class = "memory", parent = e)
                }
                stop_immunoscape(c(
                    "Unexpected failure while analysing image {.val {image}}.",
                    "x" = conditionMessage(e),
                    "i" = "Please report this with the data that triggers it."
                ), class = "internal", parent = e)
            }
        )
    }
    if (is.null(BPPARAM)) {
        res <- vector("list", length(images))
        show <- length(images) > 1L &&
            isTRUE(getOption("immunoscape.verbose", TRUE))
        if (show) {
            pb <- cli::cli_progress_bar(label, total = length(images),
                                        .envir = environment())
        }
        for (k in seq_along(images)) {
            res[[k]] <- one(parts[[k]], images[k], seeds[[k]])
            if (show) cli::cli_progress_update(id = pb)
        }
        if (show) cli::cli_progress_done(id = pb)
    } else {
        if (!inherits(BPPARAM, "BiocParallelParam")) {
            stop_immunoscape(
                "{.arg BPPARAM} must be a BiocParallel parameter object (e.g. {.code BiocParallel::MulticoreParam(4)}) or NULL.",
                class = "argument"
            )
        }
        # each worker receives only its own image
        res <- BiocParallel::bpmapply(one, parts, images, seeds,
                                      SIMPLIFY = FALSE, USE.NAMES = FALSE,
                                      BPPARAM = BPPARAM)
    }
    errs <- vapply(res, function(r) r$error %||% NA_character_, character(1))
    # one line per message (cli wraps them for the console)
    errs <- gsub("\\s+", " ", errs)
    problems <- data.frame(image = images[!is.na(errs)],
                           message = errs[!is.na(errs)],
                           stringsAsFactors = FALSE)
    # images without cells (levels a subset kept) are not analysed: said
    # in "problems" (no warning: subsetting is deliberate), so that no
    # image goes missing from a result unexplained
    lv <- levels(cells$image)
    empty <- setdiff(lv, images)
    if (nrow(problems)) {
        warn_immunoscape(c(
            "{nrow(problems)} image{?s} could not be analysed and {?is/are} left out: {.val {utils::head(problems$image, 5)}}.",
            "i" = "First problem: {problems$message[1]}",
            "i" = "See {.code attr(result, \"problems\")}."
        ), class = "image_failed")
    }
    vals <- lapply(res, `[[`, "value")
    vals <- vals[!vapply(vals, is.null, logical(1))]
    rm(res)
    out <- if (length(vals)) bind_images(vals) else data.frame()
    rm(vals)
    rownames(out) <- NULL
    # the image-level groups of the cells (e.g. patient) after `image`
    out <- carry_groups(out, cells)
    if (length(empty)) {
        problems <- rbind(problems, data.frame(
            image = empty, message = rep("no cells in this image",
                                         length(empty)),
            stringsAsFactors = FALSE))
        problems <- problems[order(match(problems$image, lv)), ,
                             drop = FALSE]
        rownames(problems) <- NULL
    }
    attr(out, "problems") <- problems
    out
}

# Rows for the images of `lv` that a per-image table `out` lacks (no cells,
# or left out by an error): `fill(images)` gives them (its columns those
# of `out`); the table comes back in the order of `lv`, image a character
# column as in `out`.
complete_images <- function(out, lv, fill) {
    miss <- setdiff(lv, as.character(out$image))
    if (!length(miss)) return(out)
    add <- fill(miss)
    out <- rbind(out[names(add)], add)
    out <- out[order(match(as.character(out$image), lv)), , drop = FALSE]
    rownames(out) <- NULL
    out
}

# The per-image tables one under the other: the result of
# do.call(rbind, vals), built column by column when every table is a
# non-empty plain data frame with the same named columns of the same
# plain type (numeric, integer, character, logical, or a factor of levels
# and class only, levels united in the order met as rbind() does). That
# is several times faster and holds one copy of the result instead of
# rbind()'s intermediate ones (a per-cell table of a cohort runs to 10^7
# rows); rbind() otherwise.
bind_images <- function(vals) {
    first <- vals[[1]]
    # a factor that rbind() rebuilds unchanged: levels and class only, no
    # NA level
    plain_factor <- function(f) {
        setequal(names(attributes(f)), c("levels", "class")) &&
            (identical(class(f), "factor") ||
                 identical(class(f), c("ordered", "factor"))) &&
            !anyNA(levels(f))
    }
    plain <- function(col, ref) {
        if (is.factor(ref)) {
            # same levels, or unordered factors whose levels rbind() unites
            return(plain_factor(col) &&
                       (identical(attributes(col), attributes(ref)) ||
                            (identical(class(ref), "factor") &&
                                 identical(class(col), "factor"))))
        }
        is.atomic(col) && is.null(attributes(col)) &&
            identical(typeof(col), typeof(ref))
    }
    nm <- names(first)
    # rbind() drops tables without rows or columns first: leave those
    # inputs to it
    same <- identical(class(first), "data.frame") && length(nm) &&
        !anyNA(nm) && all(nzchar(nm)) && !anyDuplicated(nm) &&
        all(vapply(vals, function(v) {
            # the first table too: plain(ref, ref) checks its own columns
            identical(class(v), "data.frame") && nrow(v) > 0L &&
                identical(names(v), nm) && all(mapply(plain, v, first))
        }, logical(1)))
    if (!same) return(do.call(rbind, vals))
    cols <- lapply(nm, function(col) {
        parts <- lapply(vals, `[[`, col)
        ref <- first[[col]]
        if (!is.factor(ref)) return(unlist(parts, use.names = FALSE))
        # the levels in the order met, as rbind() does
        lv <- unique(unlist(lapply(parts, levels), use.names = FALSE))
        v <- unlist(lapply(parts, function(p) {
            match(levels(p), lv)[as.integer(p)]
        }), use.names = FALSE)
        at <- attributes(ref)
        at$levels <- lv
        attributes(v) <- at
        v
    })
    names(cols) <- nm
    n <- sum(vapply(vals, nrow, integer(1)))
    # rbind() keeps the other attributes of the first table
    extra <- attributes(first)
    extra <- extra[setdiff(names(extra), c("names", "row.names", "class"))]
    do.call(structure, c(list(cols, class = class(first),
                              row.names = .set_row_names(n)), extra))
}

# setTimeLimit()'s errors ("reached elapsed time limit"), in any language.
is_time_limit <- function(e) {
    msg <- conditionMessage(e)
    pats <- c("reached elapsed time limit", "reached CPU time limit")
    any(vapply(c(pats, gettext(pats, domain = "R")), function(p) {
        grepl(p, msg, fixed = TRUE)
    }, logical(1)))
}

is_alloc_failure <- function(e) {
    grepl("cannot allocate|cannot alloca|out of memory",
          conditionMessage(e), ignore.case = TRUE)
}

# One seed per image from the caller's random number stream.
image_seeds <- function(n) {
    as.list(sample.int(.Machine$integer.max, n, replace = TRUE))
}

# Evaluate `expr` (lazily) with R's generator set from `seed` with the
# caller's kinds, then put the generator back as it was: the images of a
# cohort do not share a stream, in this process or in a worker.
with_image_seed <- function(seed, kinds, expr) {
    if (is.null(seed)) return(expr)
    genv <- globalenv()
    old <- if (exists(".Random.seed", envir = genv, inherits = FALSE))
        get(".Random.seed", envir = genv, inherits = FALSE)
    on.exit(if (is.null(old)) {
        rm(".Random.seed", envir = genv)
    } else {
        assign(".Random.seed", old, envir = genv)
    })
    set.seed(seed, kind = kinds[1], normal.kind = kinds[2],
             sample.kind = kinds[3])
    expr
}

# Row indices of each image (a cheap shortcut for the one-image case).
image_rows <- function(cells) {
    if (nlevels(cells$image) == 1L) {
        return(stats::setNames(list(seq_len(nrow(cells))), levels(cells$image)))
    }
    split(seq_len(nrow(cells)), cells$image)
}
