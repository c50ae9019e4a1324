# Argument checks shared by every exported function. Each names the user's
# argument, the offending value and the fix, and raises a classed error.

check_dots <- function(..., call = rlang::caller_env()) {
    dots <- list(...)
    if (length(dots) > 0L) {
        nms <- names(dots) %||% rep("", length(dots))
        shown <- ifelse(nzchar(nms), nms, "<unnamed>")
        stop_immunoscape(c(
            "Unknown argument{?s} in {.code ...}: {.arg {shown}}.",
            "i" = "Check the spelling against the function's documentation."
        ), class = "argument", call = call)
    }
    check_full_names(sys.function(-1L), sys.call(-1L), call = call)
    invisible()
}

# R matches an abbreviated argument name (`rad = 50` for `radius`) silently:
# refuse names in the user's call that are not the full name of a formal.
check_full_names <- function(fn, user_call, call = rlang::caller_env()) {
    nms <- names(user_call)
    if (is.null(nms) || !is.function(fn)) return(invisible())
    nms <- nms[-1L]
    full <- setdiff(names(formals(fn)), "...")
    short <- setdiff(nms[nzchar(nms)], full)
    for (a in short) {
        meant <- full[startsWith(full, a)]
        if (!length(meant)) next
        stop_immunoscape(c(
            "Argument name {.arg {a}} is not complete: write {.arg {meant}} in full.",
            "i" = "Abbreviated argument names are not accepted, so that a shortened name never picks the wrong argument."
        ), class = "argument", call = call)
    }
    invisible()
}

check_data_frame <- function(x, arg = rlang::caller_arg(x),
                             call = rlang::caller_env()) {
    if (!is.data.frame(x)) {
        stop_immunoscape(c(
            "{.arg {arg}} must be a data frame, not {.obj_type_friendly {x}}.",
            "i" = "Use {.fn read_cells} for files or {.fn as_spatial_cells} for other objects."
        ), class = "argument", call = call)
    }
    if (nrow(x) == 0L) {
        stop_immunoscape(c(
            "{.arg {arg}} has no rows.",
            "i" = "An analysis needs at least one cell."
        ), class = "empty", call = call)
    }
    invisible(x)
}

# One column name given as a string; must exist in `data`.
check_column <- function(data, col, arg, call = rlang::caller_env(),
                         required = TRUE) {
    if (is.null(col)) {
        if (required) {
            stop_immunoscape("{.arg {arg}} must name a column.",
                             class = "column", call = call)
        }
        return(invisible(NULL))
    }
    if (!is.character(col) || length(col) != 1L || is.na(col) || !nzchar(col)) {
        stop_immunoscape(
            "{.arg {arg}} must be a single column name, not {.obj_type_friendly {col}}.",
            class = "column", call = call
        )
    }
    if (!col %in% names(data)) {
        near <- closest_names(col, names(data))
        stop_immunoscape(c(
            "Column {.val {col}} (argument {.arg {arg}}) is not in the data.",
            "i" = if (length(near)) "Did you mean {.or {.val {near}}}?",
            "i" = "Columns available: {.val {utils::head(names(data), 20)}}{if (ncol(data) > 20) ' ...'}."
        ), class = "column", call = call)
    }
    invisible(col)
}

closest_names <- function(x, choices, max = 3L) {
    if (!length(choices)) return(character())
    exact <- choices[tolower(choices) == tolower(x)]
    if (length(exact)) return(exact)
    d <- utils::adist(tolower(x), tolower(choices))[1, ]
    ok <- d <= max(1, nchar(x) %/% 3)
    ok <- ok | grepl(tolower(x), tolower(choices), fixed = TRUE)
    utils::head(choices[ok][order(d[ok])], max)
}

check_coordinates <- function(x, arg, call = rlang::caller_env(),
                              rows = NULL) {
    if (!is.numeric(x)) {
        stop_immunoscape(c(
            "Coordinate column {.arg {arg}} must be numeric, not {.obj_type_friendly {x}}.",
            "i" = "Convert it with {.code as.numeric()} after removing units or commas."
        ), class = "coordinates", call = call)
    }
    bad <- which(!is.finite(x))
    if (length(bad)) {
        shown <- utils::head(bad, 5L)
        stop_immunoscape(c(
            "Coordinate column {.arg {arg}} has {length(bad)} missing or infinite value{?s} (row{?s} {shown}{if (length(bad) > 5) ' ...'}).",
            "i" = "Drop those cells or fix their positions before building {.cls spatial_cells}."
        ), class = "coordinates", call = call)
    }
    invisible(x)
}

check_radius <- function(radius, arg = rlang::caller_arg(radius),
                         call = rlang::caller_env(), allow_null = FALSE) {
    if (is.null(radius) && allow_null) return(invisible(NULL))
    if (!is.numeric(radius) || length(radius) != 1L || is.na(radius) ||
        !is.finite(radius) || radius < 0) {
        stop_immunoscape(c(
            "{.arg {arg}} must be one finite number >= 0 (microns), not {.val {format(radius)}}.",
            "i" = "For example {.code {arg} = 30}."
        ), class = "radius", call = call)
    }
    invisible(as.numeric(radius))
}

check_count <- function(k, arg = rlang::caller_arg(k), min = 1L,
                        call = rlang::caller_env()) {
    if (!is.numeric(k) || length(k) != 1L || is.na(k) || k < min ||
        k != round(k) || !is.finite(k)) {
        stop_immunoscape(
            "{.arg {arg}} must be a whole number >= {min}, not {.val {format(k)}}.",
            class = "argument", call = call
        )
    }
    invisible(as.integer(k))
}

# One value out of a set of choices (the default: the first of them), with a
# classed error instead of rlang's. Use as
#   method <- check_choice(method, c("a", "b"))
# where the function's formal is `method = c("a", "b")`.
check_choice <- function(x, choices, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
    if (identical(x, choices)) return(choices[1])
    if (!is.character(x) || length(x) != 1L || is.na(x) ||
        !x %in% choices) {
        near <- if (is.character(x) && length(x) == 1L && !is.na(x)) {
            closest_names(x, choices)
        }
        stop_immunoscape(c(
            "{.arg {arg}} must be one of {.or {.val {choices}}}, not {.val {format(x)}}.",
            "i" = if (length(near)) "Did you mean {.val {near[1]}}?"
        ), class = "argument", call = call)
    }
    x
}

# "Unknown value" errors that list what exists and the closest names, e.g.
# "`to` names cell type found in no image: "Tumour"."
stop_unknown_values <- function(unknown, present, arg, what, where, class,
                                call = rlang::caller_env()) {
    near <- unique(unlist(lapply(unknown, closest_names, present)))
    stop_immunoscape(c(
        "{.arg {arg}} names {what}{cli::qty(length(unknown))}{?s} {where}: {.val {unknown}}.",
        "i" = if (length(near)) "Did you mean {.or {.val {near}}}?",
        "i" = "Present: {.val {utils::head(present, 20)}}{if (length(present) > 20) ' ...'}."
    ), class = class, call = call)
}

check_nthreads <- function(nthreads, call = rlang::caller_env()) {
    check_count(nthreads, "nthreads", call = call)
}

check_flag <- function(x, arg = rlang::caller_arg(x),
                       call = rlang::caller_env()) {
    if (!is.logical(x) || length(x) != 1L || is.na(x)) {
        stop_immunoscape("{.arg {arg}} must be TRUE or FALSE.",
                         class = "argument", call = call)
    }
    invisible(x)
}

check_string <- function(x, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
    if (!is.character(x) || length(x) != 1L || is.na(x)) {
        stop_immunoscape("{.arg {arg}} must be a single string.",
                         class = "argument", call = call)
    }
    invisible(x)
}

# Cell types named by the user: each must exist in at least one image.
# NULL means all types.
check_types <- function(cells, types, arg = rlang::caller_arg(types),
                        call = rlang::caller_env()) {
    present <- types_present(cells)
    if (is.null(types)) return(present)
    if (is.factor(types)) types <- as.character(types)
    if (!is.character(types) || anyNA(types) || !length(types)) {
        stop_immunoscape(
            "{.arg {arg}} must be a character vector of cell types.",
            class = "type", call = call
        )
    }
    unknown <- setdiff(types, present)
    if (length(unknown)) {
        stop_unknown_values(unknown, present, arg, "cell type",
                            "found in no image", "type", call = call)
    }
    unique(types)
}

# Levels of cells$type that occur (cheaper than droplevels on big data).
types_present <- function(cells) {
    lv <- levels(cells$type)
    lv[tabulate(cells$type, length(lv)) > 0L]
}

# A spatial_cells object can be edited after it was built (cells$x[5] <-
# NA keeps the class): the cheap O(n) checks again, so that no analysis
# meets a missing coordinate or an empty table.
check_cells_intact <- function(cells, arg, call) {
    miss <- setdiff(standard_columns, names(cells))
    if (length(miss)) {
        stop_immunoscape(c(
            "{.arg {arg}} has lost the standard column{?s} {.val {miss}}.",
            "i" = "Rebuild it with {.fn spatial_cells}."
        ), class = "column", call = call)
    }
    if (!nrow(cells)) {
        stop_immunoscape(c(
            "{.arg {arg}} has no cells.",
            "i" = "Check the subset that produced it."
        ), class = "empty", call = call)
    }
    # one C pass over the four standard columns; the R checks below run
    # only to word the error
    bad <- .Call(ffi_cells_check, cells$x, cells$y, cells$type, cells$image)
    if (bad %in% 1:2) {
        v <- c("x", "y")[bad]
        check_coordinates(cells[[v]], paste0(arg, "$", v), call = call)
    }
    if (bad == 3L || !is.factor(cells$type)) {
        stop_immunoscape(c(
            "{.arg {arg}}{.field $type} must be a factor without missing values.",
            "i" = "Give every cell a type, or rebuild with {.fn spatial_cells}."
        ), class = "type", call = call)
    }
    if (bad == 4L || !is.factor(cells$image)) {
        stop_immunoscape(c(
            "{.arg {arg}}{.field $image} must be a factor without missing values.",
            "i" = "Rebuild it with {.fn spatial_cells}."
        ), class = "argument", call = call)
    }
    for (v in c("x", "y")) {
        if (!is.double(cells[[v]])) cells[[v]] <- as.double(cells[[v]])
    }
    cells
}

# Accept a spatial_cells or a plain data frame with the standard columns.
check_cells <- function(cells, arg = rlang::caller_arg(cells),
                        call = rlang::caller_env()) {
    if (inherits(cells, "spatial_cells") &&
        !is.null(attr(cells, "windows"))) {
        return(check_cells_intact(cells, arg, call))
    }
    if (isS4(cells) && methods::is(cells, "SingleCellExperiment")) {
        return(bioc_as_cells(cells, arg, call))
    }
    if (!is.data.frame(cells)) {
        stop_immunoscape(c(
            "{.arg {arg}} must be a {.cls spatial_cells} object, not {.obj_type_friendly {cells}}.",
            "i" = "Build one with {.fn spatial_cells}, {.fn read_cells} or {.fn as_spatial_cells}; a {.cls SingleCellExperiment} or {.cls SpatialExperiment} is also accepted."
        ), class = "argument", call = call)
    }
    need <- c("x", "y", "type", "image")
    miss <- setdiff(need, names(cells))
    if (length(miss)) {
        stop_immunoscape(c(
            "{.arg {arg}} is a plain data frame without the standard column{?s} {.val {miss}}.",
            "i" = "Build a {.cls spatial_cells} with {.fn spatial_cells}, naming your columns."
        ), class = "column", call = call)
    }
    inform_immunoscape(c(
        "i" = "{.arg {arg}} is a plain data frame: rebuilding {.cls spatial_cells} with default ({.val convex}) windows."
    ))
    spatial_cells(cells, x = "x", y = "y", type = "type", image = "image",
                  cell_id = if ("cell_id" %in% names(cells)) "cell_id")
}
