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
                         required = TRUE, data_arg = NULL) {
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
        head <- if (is.null(data_arg)) {
            "Column {.val {col}} (argument {.arg {arg}}) is not in the data."
        } else {
            "Column {.val {col}} (argument {.arg {arg}}) is not in {.arg {data_arg}}."
        }
        stop_immunoscape(c(
            head,
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
                              rows = NULL, pixel_size = NULL) {
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
            "i" = if (!is.null(pixel_size) && pixel_size != 1) "The values became infinite when multiplied by {.arg pixel_size} = {format(pixel_size)}.",
            "i" = "Drop those cells or fix their positions before building {.cls spatial_cells}."
        ), class = "coordinates", call = call)
    }
    big <- which(abs(x) > max_coordinate)
    if (length(big)) {
        shown <- utils::head(big, 5L)
        stop_immunoscape(c(
            "Coordinate column {.arg {arg}} has {length(big)} value{?s} beyond {format(max_coordinate)} microns (row{?s} {shown}{if (length(big) > 5) ' ...'}).",
            "i" = if (!is.null(pixel_size) && pixel_size != 1) "{.arg pixel_size} = {format(pixel_size)} multiplies the coordinates; check it.",
            "i" = "Coordinates are microns: check the units (1e12 um is 1000 km)."
        ), class = "coordinates", call = call)
    }
    invisible(x)
}

# The largest coordinate magnitude (microns) accepted: squared distances
# and polygon areas of such coordinates stay far from overflow.
max_coordinate <- 1e12

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
                        max = .Machine$integer.max,
                        call = rlang::caller_env()) {
    if (!is.numeric(k) || length(k) != 1L || is.na(k) || k < min ||
        !is.finite(k) || k != round(k)) {
        stop_immunoscape(
            "{.arg {arg}} must be a whole number >= {min}, not {.val {format(k)}}.",
            class = "argument", call = call
        )
    }
    if (k > max) {
        stop_immunoscape(c(
            "{.arg {arg}} must be at most {format(max, big.mark = ',', scientific = FALSE)}, not {.val {format(k)}}.",
            "i" = "Use a smaller {.arg {arg}}."
        ), class = "argument", call = call)
    }
    invisible(if (k <= .Machine$integer.max) as.integer(k) else k)
}

# Refuse a request whose memory is clearly impossible before allocating:
# `bytes` (an estimate, double) above the machine's physical memory (option
# `immunoscape.max_memory` overrides, in bytes).
check_memory <- function(bytes, arg, call = rlang::caller_env()) {
    limit <- memory_limit()
    if (is.finite(bytes) && bytes <= limit) return(invisible(bytes))
    stop_immunoscape(c(
        "{.arg {arg}} asks for about {format_bytes(bytes)} of memory; this machine has {format_bytes(limit)}.",
        "i" = "Use a smaller {.arg {arg}} or analyse fewer cells at once."
    ), class = "memory", call = call)
}

memory_limit <- function() {
    opt <- getOption("immunoscape.max_memory")
    if (is.numeric(opt) && length(opt) == 1L && !is.na(opt)) return(opt)
    total <- the$mem_total
    if (is.null(total)) {
        total <- tryCatch({
            l <- grep("^MemTotal:", readLines("/proc/meminfo", n = 5L,
                                              warn = FALSE), value = TRUE)
            as.numeric(gsub("[^0-9]", "", l)) * 1024
        }, error = function(e) NA_real_, warning = function(w) NA_real_)
        if (length(total) != 1L || is.na(total) || total <= 0) total <- 2^44
        the$mem_total <- total
    }
    total
}

format_bytes <- function(bytes) {
    if (!is.finite(bytes)) return("an unbounded amount")
    u <- c("bytes", "KB", "MB", "GB", "TB", "PB", "EB")
    e <- max(0, min(length(u) - 1, floor(log(max(bytes, 1), 1024))))
    paste(format(signif(bytes / 1024^e, 3)), u[e + 1])
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

# A thread count: a whole number >= 1, lowered (with a message) to what
# the OpenMP runtime allows (thread_cap()); more threads than that only
# exhaust the stack as the parallel region starts.
check_nthreads <- function(nthreads, call = rlang::caller_env()) {
    check_count(nthreads, "nthreads", max = Inf, call = call)
    cap_threads(nthreads, "nthreads")
}

cap_threads <- function(n, what) {
    cap <- thread_cap()
    if (n <= cap) return(as.integer(n))
    inform_immunoscape(c(
        "i" = "{.arg {what}} = {format(n)} is more than this machine's OpenMP runtime allows; using {cap} thread{?s}."
    ))
    cap
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
    force(arg)
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

# One finite number >= 0.
check_nonneg <- function(x, arg = rlang::caller_arg(x),
                         call = rlang::caller_env(), max = Inf, min = 0) {
    if (!is.numeric(x) || length(x) != 1L || !is.finite(x) || x < min ||
        x > max) {
        stop_immunoscape(
            "{.arg {arg}} must be one number >= {format(min)}{if (is.finite(max)) paste(' and <=', format(max))}, not {.val {format(x)}}.",
            class = "argument", call = call
        )
    }
    invisible(as.numeric(x))
}

# Patterns of type names that probably mean a role under another name
# (e.g. "CD8 T (CD8+)", "B cell (CD19+)", "FoxP3+ T").
b_like <- "(^|[^a-z])b(cells?)?([^a-z]|$)|cd19|cd20"
t_like <- "(^|[^a-z])t(cells?)?([^a-z]|$)|cd3|cd4|cd8|treg"
role_patterns <- c(cd8 = "cd8", treg = "treg|foxp3", tls_b = b_like,
                   b_cells = b_like, aggregates = b_like, liver = "hepat",
                   t_cells = t_like, tls_t = t_like)

role_what <- c(cd8 = "CD8 T-cell", treg = "regulatory T-cell",
               tls_b = "B-cell", b_cells = "B-cell", t_cells = "T-cell",
               aggregates = "B-cell (lymphoid aggregate)",
               liver = "hepatocyte", tls_t = "T-cell (TLS T-cell zone)")
role_effect <- c(cd8 = "the CD8 columns are NA",
                 treg = "the Treg columns are NA",
                 tls_b = "the TLS columns are NA and no lymphoid aggregate is left out of the phenotype",
                 b_cells = "no TLS",
                 aggregates = "no lymphoid aggregate is left out",
                 # most cohorts are not liver: no message
                 liver = NA,
                 t_cells = "no group has a T-cell zone, so no TLS (or set `min_t = 0`)",
                 tls_t = "no TLS has a T-cell zone, so the TLS columns are 0")

# roles that may be NULL (none in the panel)
null_roles <- c("cd8", "treg", "tls_b", "aggregates", "liver")

# A role type (cd8, treg, tls_b of spatial_profile(), b_cells and t_cells
# of detect_tls(), aggregates of immune_phenotype()): NULL or types none
# of which is in any image leave the role's columns NA. A type named
# explicitly must exist; a default that exists under another name (a
# type matching the role's pattern) is an error rather than a column of
# NA or 0, so that a panel's own names are not silently missed.
check_role_types <- function(v, role, present, explicit, used,
                             call = rlang::caller_env()) {
    if (is.factor(v)) v <- as.character(v)
    if (is.null(v) || (is.character(v) && !length(v))) {
        return(list(value = character()))
    }
    if (!is.character(v) || anyNA(v)) {
        stop_immunoscape(
            "{.arg {role}} must name one or more cell types, or be {.code NULL}.",
            class = "type", call = call
        )
    }
    if (!used || any(v %in% present)) return(list(value = v))
    # cli markup in the messages: type names keep their braces
    fmt <- function(x) {
        x <- gsub("}", "}}", gsub("{", "{{", x, fixed = TRUE), fixed = TRUE)
        paste0('"', x, '"', collapse = ", ")
    }
    like <- present[grepl(role_patterns[[role]], tolower(present))]
    if (explicit || length(like)) {
        # spelling neighbours of names of 3+ letters ("B", "T" are found
        # in every name), then the role's look-alikes
        near <- unique(c(unlist(lapply(v[nchar(v) >= 3L], closest_names,
                                       present)), like))
        return(list(error = c(
            sprintf("`%s` (the %s type): %s", role, role_what[[role]], fmt(v)),
            if (length(near)) {
                sug <- fmt(utils::head(near, 3))
                if (min(length(near), 3L) > 1L) sug <- paste0("c(", sug, ")")
                sprintf("Did you mean `%s = %s`?", role, sug)
            } else {
                "No type of the panel looks like it."
            })))
    }
    quiet <- if (role %in% null_roles) {
        sprintf(" (`%s = NULL` does so without this message)", role)
    } else ""
    if (is.na(role_effect[[role]])) return(list(value = character()))
    list(value = character(),
         note = sprintf("`%s` type%s %s %s in no image: %s%s.",
                        role, if (length(v) > 1) "s" else "", fmt(v),
                        if (length(v) > 1) "are" else "is",
                        role_effect[[role]], quiet))
}

# Raise one error naming every misnamed role of check_role_types()
# results, then give the notes of the roles left empty.
finish_role_types <- function(checked, call) {
    bad <- Filter(function(r) !is.null(r$error), checked)
    if (length(bad)) {
        bullets <- unlist(lapply(bad, function(r) r$error), use.names = FALSE)
        names(bullets) <- rep(c("x", "i"), length.out = length(bullets))
        stop_immunoscape(c(
            "{.arg {names(bad)}} name{?s/} cell types found in no image.",
            bullets,
            "i" = if (all(names(bad) %in% null_roles)) {
                "Name the panel's types, or set a role to {.code NULL} if the panel has none."
            } else {
                "Name the panel's types."
            }
        ), class = "type", call = call)
    }
    for (r in checked) {
        if (!is.null(r$note)) inform_immunoscape(c("i" = r$note))
    }
    invisible()
}
