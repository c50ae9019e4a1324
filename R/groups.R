# Image-level grouping columns ("groups", e.g. the patient): columns of the
# cells that are constant within every image. A spatial_cells object
# records their names in attribute `groups`; every per-image result gets
# them right after its `image` column (map_images() and long_per_cell()
# insert them, matched by image), so that results aggregate or merge by
# patient without a join.
#
# attr(cells, "groups"): NULL = not decided (objects built without
# spatial_cells(), e.g. by simulate_tme(): a patient column is looked for
# when needed), character() = none, else the column names.

#' Image-level groups (e.g. the patient) of a `spatial_cells` object
#'
#' Groups are columns of the cells that are constant within every image,
#' such as the patient an image was taken from. They are recorded with the
#' cells and carried into every per-image result: each result with an
#' `image` column (distances, counts, K/L/pcf/G curves and their
#' summaries, interaction tests, mixing scores, neighbourhoods, hotspots,
#' compartments, phenotypes, growth patterns, TLS tables, regions, spatial
#' profiles, ...) gets the group columns right after `image`, matched by
#' image. [aggregate_profile()] then pools a [spatial_profile()] by
#' patient directly.
#'
#' [spatial_cells()] takes a column named `patient` by itself (else one
#' named like `Patient`, `patient_id`, `PatientID`, `Patient.ID`, in that
#' order of preference) when it is constant within every image, and says
#' so when the name is not exactly `patient`; a patient-like column that
#' varies within an image is not taken (a message says so: the image
#' column is then probably too coarse). `set_groups()` chooses the groups
#' explicitly; a named column that varies within an image is an error
#' (class `immunoscape_error_groups`) naming it. `set_groups(cells,
#' character())` records that there are none.
#'
#' A group value may be `NA` for whole images (an image of unknown
#' patient): allowed, carried as `NA`, and reported by a message when the
#' groups are set. The columns keep their type (factor, character,
#' integer, ...). A result that already has a column of a group's name
#' keeps its own.
#'
#' @param cells A `spatial_cells` object.
#' @param groups Character vector of column names of `cells`, constant
#'   within images; `character()` (or `NULL`) for none.
#' @returns `set_groups()`: `cells` with the groups recorded.
#'   `image_groups()`: a data frame with one row per image, `image` then
#'   the group columns (no group columns when there are none).
#' @seealso [spatial_cells()] (argument `groups`), [aggregate_profile()].
#' @export
#' @examples
#' df <- data.frame(x = c(0, 50, 20, 10, 60, 30), y = c(0, 10, 40, 5, 20, 45),
#'                  type = c("Tumor", "CD8 T", "Tumor", "Tumor", "CD8 T", "B"),
#'                  image = rep(c("a", "b"), each = 3),
#'                  donor = rep(c("d1", "d2"), each = 3))
#' cells <- set_groups(spatial_cells(df), "donor")
#' image_groups(cells)
#' nearest_distances(cells, from = "Tumor", to = "CD8 T")
set_groups <- function(cells, groups) {
    call <- rlang::current_env()
    cells <- check_cells(cells, "cells", call = call)
    attr(cells, "groups") <- check_groups(cells, groups, "groups",
                                          call = call)
    cells
}

#' @rdname set_groups
#' @export
image_groups <- function(cells) {
    cells <- check_cells(cells, "cells")
    tab <- image_group_table(cells)
    if (is.null(tab)) tab <- data.frame(image = levels(cells$image))
    tab$image <- factor(tab$image, levels = levels(cells$image))
    tab
}

# Names that spatial_cells() takes as the patient by itself, in order of
# preference.
patient_pattern <- "^patient([ ._]?id)?$"

# Explicit groups: column names present in `cells`, not standard columns,
# constant within images (classed error naming the column otherwise).
check_groups <- function(cells, groups, arg = "groups",
                         call = rlang::caller_env()) {
    if (is.null(groups)) return(character())
    if (is.factor(groups)) groups <- as.character(groups)
    if (!is.character(groups) || anyNA(groups) || any(!nzchar(groups))) {
        stop_immunoscape(c(
            "{.arg {arg}} must be a character vector of column names, not {.obj_type_friendly {groups}}.",
            "i" = "For example {.code {arg} = \"patient\"}; {.code character()} for none."
        ), class = "groups", call = call)
    }
    groups <- unique(groups)
    std <- intersect(groups, standard_columns)
    if (length(std)) {
        stop_immunoscape(c(
            "{.arg {arg}} names the standard column{?s} {.val {std}}.",
            "i" = "Groups are extra columns constant within images, such as {.field patient}."
        ), class = "groups", call = call)
    }
    for (col in groups) {
        if (!col %in% names(cells)) {
            near <- closest_names(col, names(cells))
            stop_immunoscape(c(
                "Column {.val {col}} (argument {.arg {arg}}) is not in the cells.",
                "i" = if (length(near)) "Did you mean {.or {.val {near}}}?"
            ), class = "groups", call = call)
        }
        bad <- varies_within_images(cells[[col]], cells$image)
        if (length(bad)) {
            stop_immunoscape(c(
                "Column {.field {col}} (argument {.arg {arg}}) varies within {length(bad)} image{?s}, e.g. {.val {utils::head(bad, 3)}}.",
                "i" = "Groups must be constant within each image (the patient of an image); check the {.arg image} column."
            ), class = "groups", call = call)
        }
    }
    report_missing_groups(cells, groups)
    groups
}

# Images (level names) in which `v` takes more than one value (NA counts
# as a value); character() when constant within every image.
varies_within_images <- function(v, image) {
    if (!length(v)) return(character())
    if (is.list(v) || !is.null(dim(v))) return(levels(image)[1])
    code <- as.integer(image)
    first <- match(seq_len(nlevels(image)), code)
    ref <- v[first][code]
    same <- v == ref
    miss <- is.na(same)
    same[miss] <- is.na(v[miss]) & is.na(ref[miss])
    if (all(same)) return(character())
    levels(image)[unique(code[!same])]
}

# Say which images have no value of a group (allowed, carried as NA).
report_missing_groups <- function(cells, groups) {
    if (!length(groups)) return(invisible())
    tab <- image_group_table(cells, groups)
    present <- tabulate(cells$image, nlevels(cells$image)) > 0L
    for (col in groups) {
        miss <- tab$image[present & is.na(tab[[col]])]
        if (length(miss)) {
            inform_immunoscape(c(
                "i" = "{length(miss)} image{?s} {?has/have} no {.field {col}} ({.val NA}): {.val {utils::head(miss, 5)}}{if (length(miss) > 5) ' ...'}.",
                "i" = "Their results carry {.val NA} there; {.fn aggregate_profile} pools them as one group."
            ))
        }
    }
    invisible()
}

# The patient-like column taken when no groups are named: the first
# candidate (by preference) constant within images; list(groups, skipped)
# where skipped names a candidate that varies within images.
auto_groups <- function(cells, exclude = character()) {
    nm <- setdiff(names(cells), c(standard_columns, exclude))
    cand <- nm[grepl(patient_pattern, nm, ignore.case = TRUE)]
    cand <- cand[order(cand != "patient", tolower(cand) != "patient",
                       !grepl("id$", cand, ignore.case = TRUE))]
    skipped <- character()
    for (col in cand) {
        v <- cells[[col]]
        if (!is.atomic(v) || !is.null(dim(v))) next
        if (!length(varies_within_images(v, cells$image))) {
            return(list(groups = col, skipped = skipped))
        }
        skipped <- c(skipped, col)
    }
    list(groups = character(), skipped = skipped)
}

# Groups chosen by spatial_cells(): explicit ones checked, else the
# patient-like column, said when its name is not exactly "patient" or
# when a candidate was passed over.
resolve_groups <- function(cells, groups, exclude = character(),
                           call = rlang::caller_env()) {
    if (!is.null(groups)) return(check_groups(cells, groups, call = call))
    a <- auto_groups(cells, exclude = exclude)
    if (length(a$skipped)) {
        inform_immunoscape(c(
            "i" = "Column{?s} {.field {a$skipped}} var{?ies/y} within images, so {?it is/they are} not carried into results as the patient.",
            "i" = "Check the {.arg image} column, or name groups with {.arg groups}."
        ))
    }
    if (length(a$groups)) {
        if (a$groups != "patient") {
            inform_immunoscape(c(
                "i" = "Column {.field {a$groups}} taken as the patient (carried into every result).",
                "i" = "Use {.code groups = character()} for none, or name others with {.arg groups}."
            ))
        }
        report_missing_groups(cells, a$groups)
    }
    a$groups
}

# The group columns of cells (recorded, else the patient-like column),
# among the columns the cells still have.
cell_groups <- function(cells) {
    g <- attr(cells, "groups")
    if (is.null(g)) g <- auto_groups(cells)$groups
    intersect(g, names(cells))
}

# One row per image level: `image` (character) then the group columns
# (their first value in each image, NA for an image without cells); NULL
# when there are no groups.
image_group_table <- function(cells, groups = cell_groups(cells)) {
    if (!length(groups)) return(NULL)
    lv <- levels(cells$image)
    first <- match(seq_along(lv), as.integer(cells$image))
    tab <- data.frame(image = lv, stringsAsFactors = FALSE)
    for (col in groups) tab[[col]] <- cells[[col]][first]
    tab
}

# Insert the group columns of `tab` (image_group_table()) right after the
# `image` column of a result, matched by image; columns the result already
# has are kept as they are. Results without an `image` column, and empty
# tables, are returned unchanged. Class and attributes are kept; the
# attribute `image_groups` names the group columns for summary methods.
add_groups <- function(out, tab) {
    if (is.null(tab) || !is.data.frame(out) || !"image" %in% names(out)) {
        return(out)
    }
    new <- setdiff(names(tab)[-1L], names(out))
    if (!length(new)) return(out)
    img <- out$image
    at <- if (is.factor(img) && identical(levels(img), tab$image)) {
        as.integer(img)
    } else {
        match(as.character(img), tab$image)
    }
    pos <- match("image", names(out))
    cols <- lapply(tab[new], function(v) v[at])
    lst <- as.list(out)
    res <- c(lst[seq_len(pos)], cols, lst[-seq_len(pos)])
    attrs <- attributes(out)
    attrs$names <- names(res)
    attributes(res) <- attrs
    attr(res, "image_groups") <- union(attr(out, "image_groups"), new)
    res
}

# The groups of cells into a result (see add_groups()).
carry_groups <- function(out, cells) {
    add_groups(out, image_group_table(cells))
}

# The groups a result carries into a table derived from it (a summary with
# an `image` column).
carry_result_groups <- function(out, result) {
    g <- intersect(attr(result, "image_groups"), names(result))
    if (!length(g) || !is.data.frame(result) || !nrow(result)) return(out)
    df <- as.data.frame(result)
    first <- !duplicated(as.character(df$image))
    tab <- data.frame(image = as.character(df$image[first]),
                      stringsAsFactors = FALSE)
    for (col in g) tab[[col]] <- df[[col]][first]
    add_groups(out, tab)
}
