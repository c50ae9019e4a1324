# The spatial_cells object: one row per cell, validated once.

standard_columns <- c("cell_id", "image", "x", "y", "type")

#' Build a validated table of cells
#'
#' `spatial_cells()` turns a data frame of segmented cells (one row per cell)
#' into the object every immunoscape function takes. It is validated once:
#' coordinates are finite numbers, every cell has a type, cell ids are unique
#' within an image, and every image gets a window (the tissue region used for
#' areas, densities and edge corrections).
#'
#' Selecting rows with `[` keeps the class and each remaining image's
#' window. A spatial crop (say `cells[cells$x < 1000, ]`) therefore keeps
#' the window of the whole image: give the crop its own window with
#' [set_window()] before computing densities or K/L/pcf/G on it.
#'
#' Column names not given are guessed, and the guesses named in one
#' message: coordinates `x`/`y`, else a pair such as `x_um`/`y_um`,
#' `X`/`Y`, `Pos_X`/`Pos_Y`, `centroid_x`/`centroid_y`; the type `type`,
#' else a column such as `cell_type`, `celltype`, `phenotype`, `cluster`;
#' the image `image`, else the image-like column (`image_id`,
#' `patientImage_id`, `sample_id`, `fov`, `core`, ...) with the most values;
#' cell ids from a column such as `cell_id` or `CellID` when unique within
#' images. Name the columns to choose others, and `image = NULL` for one
#' image.
#'
#' @param data A data frame, one row per cell.
#' @param x,y Names of the coordinate columns (default `"x"`, `"y"`, else
#'   guessed, see above).
#' @param type Name of the column with the cell type (phenotype); default
#'   `"type"`, else guessed.
#' @param image Name of the column identifying the image (field, core,
#'   slide); `NULL` for a single image, named `"image1"`. Not given: an
#'   `image` column, else the guessed image-like column, else one image.
#' @param cell_id Name of a column of cell identifiers, unique within each
#'   image; `NULL` numbers cells 1..n within each image. Not given: a
#'   column such as `cell_id` when its ids are unique within images, else
#'   numbers.
#' @param pixel_size Microns per coordinate unit: coordinates are multiplied
#'   by it once, here, so everything downstream is in microns.
#' @param window The tissue window of each image: a method of
#'   [tissue_window()] (`"convex"`, `"rectangle"`, `"concave"`), or a
#'   polygon data frame (see [tissue_window()]), or a spatstat `owin` for a
#'   single image. Polygon coordinates are in microns. With a method, an
#'   image whose cells span no area (fewer than three cells, or all on a
#'   line) is an error when it is the only image; in a cohort it is kept
#'   without a window and a warning (class `immunoscape_warning_window`)
#'   names it: its densities are `NA` and the area-based statistics
#'   (K, L, pcf, G, hotspots) list it among their problems.
#' @param groups Image-level grouping columns carried into every result,
#'   such as the patient: names of columns constant within each image (a
#'   named column that varies within an image is an error of class
#'   `immunoscape_error_groups`). `NULL` (default): a column named
#'   `patient`, else one named like `Patient`, `patient_id`, `PatientID`,
#'   when it is constant within every image (a message names a column
#'   taken under another name than `patient`, or one passed over because
#'   it varies within images); `character()` for none. Images whose group
#'   value is `NA` are allowed (a message lists them). See [set_groups()].
#' @returns A `spatial_cells` object: a data frame with columns `cell_id`,
#'   `image` (factor), `x`, `y` (microns), `type` (factor), then every other
#'   column of `data` unchanged (a column named like a standard one but not
#'   used for it is dropped when it repeats it, else renamed
#'   `<name>_input`); attributes `windows` (polygon vertices per
#'   image), `units` (`"um"`), `pixel_size` and `groups` (the image-level
#'   grouping columns, see [set_groups()]).
#'
#'   Every analysis result with an `image` column gets the `groups`
#'   columns (e.g. `patient`) right after `image`, so per-image results
#'   of a cohort aggregate or merge by patient directly, e.g.
#'   `aggregate_profile(spatial_profile(cells), by = "patient")`.
#' @seealso [read_cells()] for vendor files, [as_spatial_cells()] for
#'   Bioconductor and spatstat objects.
#' @export
#' @examples
#' df <- data.frame(
#'     x = c(10, 40, 25, 80, 60), y = c(5, 20, 60, 30, 75),
#'     phenotype = c("Tumor", "CD8 T", "Tumor", "CD8 T", "B cell")
#' )
#' cells <- spatial_cells(df, type = "phenotype")
#' cells
#' summary(cells)
#'
#' # a cohort: the patient column is carried into every result
#' df2 <- rbind(cbind(df, image = "a", patient = "p1"),
#'              cbind(df, image = "b", patient = "p2"))
#' cohort <- spatial_cells(df2, type = "phenotype")
#' attr(cohort, "groups")
#' nearest_distances(cohort, from = "Tumor", to = "CD8 T")
spatial_cells <- function(data, x = "x", y = "y", type = "type",
                          image = NULL, cell_id = NULL, pixel_size = 1,
                          window = "convex", groups = NULL) {
    call <- rlang::current_env()
    if (inherits(data, "spatial_cells")) data <- as.data.frame(data)
    check_data_frame(data, "data", call = call)
    data <- as.data.frame(data, stringsAsFactors = FALSE)
    g <- guess_columns(data, x = if (!missing(x)) x,
                       y = if (!missing(y)) y,
                       type = if (!missing(type)) type,
                       image = if (missing(image)) NA else image,
                       cell_id = if (missing(cell_id)) NA else cell_id)
    x <- g$x
    y <- g$y
    type <- g$type
    image <- g$image
    cell_id <- g$cell_id
    check_column(data, x, "x", call = call)
    check_column(data, y, "y", call = call)
    check_column(data, type, "type", call = call)
    check_column(data, image, "image", call = call, required = FALSE)
    check_column(data, cell_id, "cell_id", call = call, required = FALSE)
    if (!is.numeric(pixel_size) || length(pixel_size) != 1L ||
        !is.finite(pixel_size) || pixel_size < 1e-6 || pixel_size > 1e6) {
        stop_immunoscape(c(
            "{.arg pixel_size} must be one positive number (microns per coordinate unit, between 1e-6 and 1e6), not {.val {format(pixel_size)}}.",
            "i" = "Use {.code pixel_size = 1} when coordinates are already in microns."
        ), class = "argument", call = call)
    }

    xx <- data[[x]]
    yy <- data[[y]]
    check_coordinates(xx, x, call = call)
    check_coordinates(yy, y, call = call)

    img <- if (is.null(image)) {
        factor(rep("image1", nrow(data)))
    } else {
        v <- data[[image]]
        if (anyNA(v)) {
            stop_immunoscape(c(
                "Column {.val {image}} (argument {.arg image}) has {sum(is.na(v))} missing value{?s}.",
                "i" = "Every cell must belong to an image."
            ), class = "argument", call = call)
        }
        if (is.factor(v)) droplevels(v) else factor(v, levels = unique(v))
    }

    ty <- data[[type]]
    bad_type <- is.na(ty) | (is.character(ty) & !nzchar(trimws(ty)))
    if (is.factor(ty)) bad_type <- is.na(ty) | !nzchar(trimws(as.character(ty)))
    if (any(bad_type)) {
        rows <- utils::head(which(bad_type), 5L)
        stop_immunoscape(c(
            "Column {.val {type}} (argument {.arg type}) has {sum(bad_type)} cell{?s} without a type (row{?s} {rows}{if (sum(bad_type) > 5) ' ...'}).",
            "i" = "Give them a type such as {.val other}, or drop them."
        ), class = "type", call = call)
    }
    ty <- if (is.factor(ty)) droplevels(ty) else factor(as.character(ty))

    ids <- if (is.null(cell_id)) {
        stats::ave(seq_len(nrow(data)), img, FUN = seq_along)
    } else {
        data[[cell_id]]
    }
    if (anyNA(ids)) {
        stop_immunoscape(c(
            "Column {.val {cell_id}} (argument {.arg cell_id}) has missing ids.",
            "i" = "Use {.code cell_id = NULL} to number cells within each image."
        ), class = "cell_id", call = call)
    }
    # one numeric key per (image, id) pair: hashing is O(n)
    key <- as.numeric(match(ids, unique(ids)) - 1L) * nlevels(img) +
        as.integer(img)
    dup <- duplicated(key)
    if (any(dup)) {
        first <- which(dup)[1]
        stop_immunoscape(c(
            "{sum(dup)} duplicated cell id{?s} within an image, e.g. id {.val {ids[first]}} in image {.val {as.character(img[first])}}.",
            "i" = "Cell ids must be unique per image; use {.code cell_id = NULL} to number cells, or give the right {.arg image} column."
        ), class = "cell_id", call = call)
    }

    used <- c(x, y, type, image, cell_id)
    rest <- data[setdiff(names(data), used)]
    out <- data.frame(
        cell_id = ids,
        image = img,
        x = as.numeric(xx) * pixel_size,
        y = as.numeric(yy) * pixel_size,
        type = ty,
        stringsAsFactors = FALSE
    )
    if (pixel_size != 1) {
        check_coordinates(out$x, x, call = call, pixel_size = pixel_size)
        check_coordinates(out$y, y, call = call, pixel_size = pixel_size)
    }
    rest <- rename_clashes(rest, out)
    if (ncol(rest)) out <- cbind(out, rest)
    rownames(out) <- NULL
    out <- new_spatial_cells(out, windows = NULL, pixel_size = pixel_size)
    attr(out, "groups") <- resolve_groups(out, groups, call = call)
    windows <- build_windows(out, window, call = call)
    attr(out, "windows") <- windows
    warn_outside(out)
    warn_units(out)
    out
}

# Cells packed far tighter than any tissue allows (more than 1e6 per mm^2
# over an image's extent, a spacing under about 1 micron; dense lymphoid
# tissue holds a few 1e4): coordinates in another unit than microns
# (millimetres, a scaled export). A warning: the cells are kept.
warn_units <- function(cells, max_density = 1e6) {
    img <- cells$image
    n <- tabulate(img, nlevels(img))
    w <- tapply(cells$x, img, function(v) diff(range(v)))
    h <- tapply(cells$y, img, function(v) diff(range(v)))
    dens <- n / (w * h) * 1e6
    bad <- which(n >= 50 & is.finite(dens) & dens > max_density)
    if (!length(bad)) return(invisible())
    k <- bad[which.max(dens[bad])]
    warn_immunoscape(c(
        "{length(bad)} image{?s} ({.val {utils::head(levels(img)[bad], 3)}}{if (length(bad) > 3) ' ...'}) {cli::qty(length(bad))}pack{?s/} more than {format(max_density, big.mark = ',', scientific = FALSE)} cells per mm\u00b2 of {?its/their} extent if the coordinates are microns ({.val {levels(img)[k]}}: {format(signif(dens[k], 2), big.mark = ',', scientific = FALSE)} per mm\u00b2, {signif(w[k], 3)} x {signif(h[k], 3)} units).",
        "i" = "Even dense lymphoid tissue holds a few tens of thousands of cells per mm\u00b2: the coordinates look like another unit. Give {.arg pixel_size} (microns per unit, e.g. 1000 for millimetres)."
    ), class = "units")
}

# Columns of `data` not used for a standard column but named like one
# (say an `image` column beside the `sample_id` that was used): dropped
# when they repeat the standard column, else kept as <name>_input.
rename_clashes <- function(rest, out) {
    clash <- names(rest)[names(rest) %in% standard_columns]
    for (nm in clash) {
        same <- identical(as.character(rest[[nm]]), as.character(out[[nm]]))
        if (same && nm %in% c("x", "y")) {
            same <- isTRUE(all.equal(as.numeric(rest[[nm]]), out[[nm]]))
        }
        if (same) {
            rest[[nm]] <- NULL
        } else {
            names(rest)[names(rest) == nm] <- paste0(nm, "_input")
        }
    }
    rest
}

# The columns spatial_cells() uses: those named, else the standard names
# when present, else guesses (coordinates such as x_um, types such as
# phenotype, the finest image-like column, a cell-id column unique within
# images), reported in one message. NULL arguments: not given (x, y, type);
# NA: not given (image, cell_id; NULL there means "none").
guess_columns <- function(data, x = NULL, y = NULL, type = NULL,
                          image = NA, cell_id = NA, report = TRUE) {
    nm <- names(data)
    guessed <- character()
    pick <- function(given, default, candidates, what) {
        if (!is.null(given)) return(given)
        if (default %in% nm) return(default)
        hit <- pick_column(nm, candidates)
        if (is.null(hit)) return(default)   # the error names the column
        guessed[[what]] <<- hit
        hit
    }
    x <- pick(x, "x", guess_x, "x")
    y <- pick(y, "y", guess_y, "y")
    type <- pick(type, "type", guess_type, "type")
    if (identical(image, NA)) {
        image <- guess_image_column(data, exclude = c(x, y, type))
        if (!is.null(image) && image != "image") guessed[["image"]] <- image
    }
    if (identical(cell_id, NA)) {
        cell_id <- NULL
        cand <- pick_column(setdiff(nm, c(x, y, type, image)), guess_cell_id)
        if (!is.null(cand)) {
            img <- if (is.null(image)) 1L else data[[image]]
            v <- data[[cand]]
            if (!anyNA(v) && !any_duplicated_pair(img, v)) {
                cell_id <- cand
                if (cand != "cell_id") guessed[["cell_id"]] <- cand
            }
        }
    }
    if (report && length(guessed)) {
        shown <- paste0(names(guessed), " = \"", guessed, "\"")
        inform_immunoscape(c(
            "i" = "Columns taken: {.code {shown}}.",
            "i" = "Name others with {.arg {names(guessed)}}.",
            "i" = if ("image" %in% names(guessed)) "Use {.code image = NULL} for one image."
        ))
    }
    list(x = x, y = y, type = type, image = image, cell_id = cell_id,
         guessed = guessed)
}

# Among the image-like columns of a table, the one with most values (say
# patientImage_id rather than image_id numbered within patients); NULL if
# there is none.
guess_image_column <- function(data, exclude = character()) {
    nm <- names(data)
    cand <- unique(c(intersect(c(guess_image, "ImageNb", "ImageName"), nm),
                     grep("image_?id$|^sample_?id$", nm, value = TRUE,
                          ignore.case = TRUE)))
    cand <- setdiff(cand, exclude)
    cand <- cand[!vapply(cand, function(v) anyNA(data[[v]]), logical(1))]
    if (!length(cand)) return(NULL)
    if ("image" %in% cand) return("image")
    nu <- vapply(cand, function(v) length(unique(data[[v]])), integer(1))
    cand[which.max(nu)]
}

new_spatial_cells <- function(df, windows, pixel_size = 1, groups = NULL) {
    class(df) <- c("spatial_cells", "data.frame")
    attr(df, "windows") <- windows
    attr(df, "units") <- "um"
    attr(df, "pixel_size") <- pixel_size
    # NULL: not decided (a patient column is looked for when needed)
    attr(df, "groups") <- if (!is.null(groups)) intersect(groups, names(df))
    df
}

# Every cell should lie in its image's window; say so if not (kept).
warn_outside <- function(cells) {
    inside <- cells_in_window(cells)
    if (!all(inside)) {
        per <- table(droplevels(cells$image[!inside]))
        warn_immunoscape(c(
            "{sum(!inside)} cell{?s} lie{?s/} outside the window of {length(per)} image{?s} ({.val {names(per)}}); they are kept.",
            "i" = "Check the window polygon's coordinates (microns) or use a method such as {.val convex}."
        ), class = "outside")
    }
    invisible(inside)
}

#' Convert objects to `spatial_cells`
#'
#' Methods for data frames (see [spatial_cells()] for the arguments),
#' `SingleCellExperiment` / `SpatialExperiment` objects (coordinates from
#' `spatialCoords()` or from `colData` columns) and spatstat `ppp` point
#' patterns (marks become the type; the window is kept exactly).
#'
#' @param x The object to convert.
#' @param ... Passed to [spatial_cells()] (e.g. `type`, `image`,
#'   `pixel_size`).
#' @returns A `spatial_cells` object.
#' @export
#' @examples
#' df <- data.frame(x = runif(20, 0, 100), y = runif(20, 0, 100),
#'                  type = sample(c("A", "B"), 20, TRUE))
#' as_spatial_cells(df)
as_spatial_cells <- function(x, ...) {
    UseMethod("as_spatial_cells")
}

#' @export
as_spatial_cells.spatial_cells <- function(x, ...) {
    if (...length()) {
        # re-wrap with new settings (e.g. another window), keeping the
        # groups unless new ones are named
        g <- attr(x, "groups")
        if (!is.null(g) && !"groups" %in% names(list(...))) {
            return(as_spatial_cells.data.frame(as.data.frame(x), ...,
                                               groups = g))
        }
        return(as_spatial_cells.data.frame(as.data.frame(x), ...))
    }
    if (is.null(attr(x, "windows"))) {
        return(as_spatial_cells.data.frame(as.data.frame(x), ...))
    }
    x
}

#' @export
as_spatial_cells.data.frame <- function(x, ...) {
    args <- list(...)
    known <- setdiff(names(formals(spatial_cells)), "data")
    nms <- names(args) %||% rep("", length(args))
    unknown <- !nms %in% known
    if (any(unknown)) {
        rlang::exec(check_dots, !!!args[unknown])
    }
    nm <- names(x)
    if (is.null(args$image) && "image" %in% nm) args$image <- "image"
    if (is.null(args$cell_id) && "cell_id" %in% nm) args$cell_id <- "cell_id"
    do.call(spatial_cells, c(list(data = x), args))
}

#' @export
as_spatial_cells.default <- function(x, ...) {
    stop_immunoscape(c(
        "Cannot convert {.obj_type_friendly {x}} to {.cls spatial_cells}.",
        "i" = "Supported: data frames, SingleCellExperiment / SpatialExperiment, spatstat {.cls ppp}."
    ), class = "argument")
}

#' @export
as.data.frame.spatial_cells <- function(x, ...) {
    attr(x, "windows") <- NULL
    attr(x, "units") <- NULL
    attr(x, "pixel_size") <- NULL
    attr(x, "groups") <- NULL
    class(x) <- "data.frame"
    x
}

#' @export
`[.spatial_cells` <- function(x, i, j, ..., drop) {
    windows <- attr(x, "windows")
    px <- attr(x, "pixel_size")
    groups <- attr(x, "groups")
    df <- as.data.frame(x)
    # rows selected by NA are dropped (as subset() does): a cell without
    # coordinates, type or id is no cell
    if (!missing(i) && !is.character(i) && !is.matrix(i) && anyNA(i)) {
        i <- if (is.logical(i)) {
            i & !is.na(rep_len(i, nrow(df)))
        } else i[!is.na(i)]
    }
    # the same rules as base data frames: one column drops to a vector,
    # one row with several columns stays a data frame
    out <- if (missing(j)) {
        if (missing(i)) df else df[i, , drop = FALSE]
    } else if (missing(i)) {
        if (missing(drop)) df[, j] else df[, j, drop = drop]
    } else {
        if (missing(drop)) df[i, j] else df[i, j, drop = drop]
    }
    if (!is.data.frame(out) || !all(standard_columns %in% names(out))) {
        return(out)
    }
    rownames(out) <- NULL
    # (only positive row numbers can select a cell twice)
    if (!missing(i) && is.numeric(i) && anyDuplicated(i[i > 0])) {
        stop_immunoscape(c(
            "{.arg i} selects some cells more than once: cell ids must stay unique within an image.",
            "i" = "Select each cell once (e.g. {.code unique(i)}), or rebuild the table with {.fn spatial_cells} to number copies anew."
        ), class = "argument")
    }
    if (!is.null(windows) && !missing(i)) {
        img <- out$image
        present <- levels(img)[tabulate(img, nlevels(img)) > 0L]
        windows <- windows[windows$image %in% present, , drop = FALSE]
        rownames(windows) <- NULL
    }
    new_spatial_cells(out, windows, px %||% 1, groups = groups)
}

#' @export
rbind.spatial_cells <- function(..., deparse.level = 1) {
    stop_immunoscape(c(
        "{.fn rbind} would keep only the first object's tissue windows.",
        "i" = "Combine the tables and build the object again: {.code spatial_cells(rbind(as.data.frame(a), as.data.frame(b)), image = \"image\")} (pass {.arg window} for user windows)."
    ), class = "argument")
}

#' @export
split.spatial_cells <- function(x, f = x$image, drop = TRUE, ...) {
    if (!missing(f) && !identical(f, x$image)) {
        stop_immunoscape(
            "{.cls spatial_cells} objects are split by image only.",
            class = "argument"
        )
    }
    idx <- image_rows(x)
    idx <- idx[lengths(idx) > 0L]
    lv <- names(idx)
    whole <- length(lv) == 1L && length(idx[[1L]]) == nrow(x)
    out <- lapply(lv, function(im) {
        # one image: no copy of the rows
        s <- if (whole) x else x[idx[[im]], ]
        s$image <- structure(rep.int(1L, nrow(s)), levels = im,
                             class = "factor")
        w <- attr(s, "windows")
        if (!is.null(w)) {
            w$image <- factor(as.character(w$image), levels = im)
            attr(s, "windows") <- w
        }
        s
    })
    names(out) <- lv
    out
}

#' @export
print.spatial_cells <- function(x, ..., n = 6L) {
    nimg <- nlevels(droplevels(x$image))
    types <- levels(droplevels(x$type))
    area <- sum(window_areas(x), na.rm = TRUE) / 1e6
    cat(sprintf("<spatial_cells> %s cells, %d image%s, %d type%s; window area %s mm^2\n",
                format(nrow(x), big.mark = ","), nimg, if (nimg == 1) "" else "s",
                length(types), if (length(types) == 1) "" else "s",
                format(signif(area, 4))))
    cat("types:", paste(utils::head(types, 12), collapse = ", "),
        if (length(types) > 12) "...", "\n")
    df <- as.data.frame(x)
    extra <- setdiff(names(df), standard_columns)
    shown <- c(standard_columns, utils::head(extra, 3L))
    print(utils::head(df[shown], n), ...)
    if (nrow(x) > n) cat(sprintf("# ... %s more rows\n",
                                 format(nrow(x) - n, big.mark = ",")))
    if (length(extra) > 3L) {
        cat(sprintf("# ... %d more columns: %s\n", length(extra) - 3L,
                    paste(utils::head(extra[-(1:3)], 6), collapse = ", ")))
    }
    invisible(x)
}

#' Summaries of a `spatial_cells` object
#'
#' @param object A `spatial_cells` object.
#' @param ... Unused.
#' @returns A `summary_spatial_cells` data frame with one row per image and
#'   type: `image`, `type`, `n` (cells), `area_mm2` (window area, mm^2) and
#'   `density_mm2` (cells per mm^2).
#' @export
summary.spatial_cells <- function(object, ...) {
    check_dots(...)
    tab <- as.data.frame(table(image = droplevels(object$image),
                               type = droplevels(object$type)),
                         responseName = "n", stringsAsFactors = FALSE)
    area <- window_areas(object) / 1e6
    tab$area_mm2 <- unname(area[as.character(tab$image)])
    tab$density_mm2 <- tab$n / tab$area_mm2
    # images and types in level order (not alphabetical)
    tab <- tab[order(match(tab$image, levels(droplevels(object$image))),
                     match(tab$type, levels(droplevels(object$type)))), ,
               drop = FALSE]
    rownames(tab) <- NULL
    class(tab) <- c("summary_spatial_cells", "data.frame")
    tab
}

#' @export
print.summary_spatial_cells <- function(x, ..., n = 30L) {
    # the header counts the rows of x, and says how many are shown
    imgs <- unique(as.character(x$image))
    shown <- min(nrow(x), n)
    cat(sprintf("Cells per image and type: %s row%s, %d image%s%s\n",
                format(nrow(x), big.mark = ","), if (nrow(x) == 1) "" else "s",
                length(imgs), if (length(imgs) == 1) "" else "s",
                if (shown < nrow(x)) sprintf(" (first %d shown)", shown)
                else ""))
    df <- as.data.frame(unclass(x), stringsAsFactors = FALSE)
    df$area_mm2 <- signif(df$area_mm2, 4)
    df$density_mm2 <- round(df$density_mm2, 1)
    print(utils::head(df, n), row.names = FALSE, ...)
    if (shown < nrow(x)) {
        cat(sprintf("# ... %s more rows: print(x, n = Inf) or as.data.frame(x)\n",
                    format(nrow(x) - shown, big.mark = ",")))
    }
    invisible(x)
}
