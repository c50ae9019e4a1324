# read_cells(): vendor cell tables -> spatial_cells. One file at a time is
# read into a standard table (cell_id, image, x, y, type, then the file's
# other columns unchanged), the tables are bound, and spatial_cells()
# validates the result once.

read_formats <- c("inform", "halo", "qupath", "xenium", "cosmx", "mcmicro",
                  "csv")

# What each format's header must hold (shown when detection fails).
format_signatures <- c(
    inform = paste('"Cell X Position", "Cell Y Position" (plus "Sample Name",',
                   '"Phenotype", "Cell ID")'),
    halo = paste('"XMin", "XMax", "YMin", "YMax" (plus "Image Location",',
                 '"Object Id", "<marker> Positive Classification")'),
    qupath = paste('"Centroid X \u00b5m", "Centroid Y \u00b5m" or',
                   '"Centroid X px", "Centroid Y px" (plus "Image", "Class")'),
    xenium = '"cell_id", "x_centroid", "y_centroid"',
    cosmx = '"fov", "cell_ID", "CenterX_global_px", "CenterY_global_px"',
    mcmicro = '"CellID", "X_centroid", "Y_centroid"',
    csv = paste('x and y columns such as "x"/"y", "x_um"/"y_um", "X"/"Y",',
                '"centroid_x"/"centroid_y"')
)

# Column names guessed for plain tables (first present wins, case-sensitive
# match before a case-insensitive one).
guess_x <- c("x", "x_um", "X", "x_microns", "x_position", "x_coord",
             "cell_x", "centroid_x", "Centroid.X", "pos_x", "Pos_X",
             "Location_Center_X", "x_centroid", "X_centroid")
guess_y <- c("y", "y_um", "Y", "y_microns", "y_position", "y_coord",
             "cell_y", "centroid_y", "Centroid.Y", "pos_y", "Pos_Y",
             "Location_Center_Y", "y_centroid", "Y_centroid")
guess_type <- c("type", "cell_type", "celltype", "CellType", "cell_types",
                "phenotype", "Phenotype", "cell_phenotype", "class", "Class",
                "Classification", "cluster", "Cluster", "label",
                "annotation", "cell_class", "lineage")
guess_image <- c("image", "image_id", "imageid", "image_name", "ImageNumber",
                 "Image", "sample", "sample_id", "sample_name",
                 "Sample Name", "fov", "FOV", "field", "field_id", "roi",
                 "roi_id", "core", "core_id", "tma_core", "slide",
                 "slide_id")
guess_cell_id <- c("cell_id", "cell_ID", "cellID", "CellID", "Cell ID",
                   "cell", "id", "object_id", "Object Id", "Object ID",
                   "ObjectNumber", "Barcode", "barcode", "label_id")

#' Read segmented cell tables from imaging platforms
#'
#' `read_cells()` reads the cell tables written by multiplex-imaging and
#' spatial-omics software into a [spatial_cells()] object: one row per
#' cell, coordinates in microns, a cell type and an image for every cell,
#' and every other column of the file kept under its original name.
#'
#' @section Formats:
#' The format is detected from the header (`format = "auto"`) or named:
#'
#' * `"inform"`: Akoya inForm `cell_seg_data.txt` (tab-separated, or a CSV).
#'   `Cell X Position`/`Cell Y Position` (microns), `Sample Name` (image),
#'   `Cell ID`, `Phenotype`. Newer inForm exports have one
#'   `Phenotype <marker>` column per marker (values such as `CD8+` / `CD8-`)
#'   instead of a single `Phenotype`: the type is then built from them (see
#'   *Phenotypes*). `#N/A` is read as missing. When the export is in pixels
#'   (column names such as `Nucleus Area (pixels)` and no micron units),
#'   `pixel_size` defaults to 0.5 (20x Vectra fields, 2 pixels per micron).
#' * `"halo"`: Indica Labs HALO object data. The centre of the bounding box
#'   `XMin`, `XMax`, `YMin`, `YMax` is the cell position; the image is the
#'   file name of `Image Location` (or `Image File Name`, or a
#'   `sample`-like column); the cell id is `Object Id`. The type comes from
#'   a `phenotype` column if the table has one, otherwise from the
#'   `<marker> Positive Classification` columns (0/1), or `<marker>_pos`
#'   columns. HALO can export pixels: give `pixel_size` (microns per pixel)
#'   then.
#' * `"qupath"`: QuPath detection or cell measurements (tab-separated).
#'   `Centroid X µm`, `Centroid Y µm` (or `Centroid X px` with
#'   `pixel_size`), `Image`, `Class` (`Classification` in QuPath >= 0.4),
#'   `Object ID`. Multiplex classes such as `CD3: CD8` are split into
#'   markers for the `phenotypes` rules.
#' * `"xenium"`: 10x Genomics Xenium `cells.csv.gz` (`cell_id`,
#'   `x_centroid`, `y_centroid`, microns). The file has no cell types: give
#'   them with `cell_types` (a data frame, or the path of a clustering file
#'   such as `analysis/clustering/gene_expression_graphclust/clusters.csv`
#'   with columns `Barcode`, `Cluster`).
#' * `"cosmx"`: NanoString CosMx cell metadata (`fov`, `cell_ID`,
#'   `CenterX_global_px`, `CenterY_global_px`). One image per field of view
#'   (`fov<N>`); `pixel_size` defaults to 0.12028 microns (CosMx SMI).
#'   Cell types through `cell_types`.
#' * `"mcmicro"`: MCMICRO / CODEX quantification tables (`CellID`,
#'   `X_centroid`, `Y_centroid`, mean marker intensities) in pixels: give
#'   `pixel_size`. Cell types through `cell_types` or `type`.
#' * `"csv"`: any CSV/TSV with named columns. `x`, `y`, `type`, `image` and
#'   `cell_id` name them; left `NULL`, common names are guessed (`x`,
#'   `x_um`, `centroid_x`...; `type`, `cell_type`, `phenotype`, `cluster`...;
#'   `image`, `image_id`, `sample`, `fov`... (among several image-like
#'   columns the one with the most distinct values, e.g. a field id nested
#'   in a patient id); `cell_id`, `CellID`, `object_id`...).
#'
#' Files may be compressed with gzip, bzip2 or xz (read transparently).
#' The arguments `x`, `y`, `type`, `image` and `cell_id` override the
#' format's own choice of columns for every format.
#'
#' @section Phenotypes:
#' When a table has no single phenotype column but marker-positivity
#' columns (HALO `<marker> Positive Classification`, `<marker>_pos`, inForm
#' `Phenotype <marker>`, QuPath multiplex classes), the type is built from
#' them by `phenotypes`:
#'
#' * `NULL` (default): the combination of positive markers in column order,
#'   e.g. `"CD3+CD8+"`, and `"negative"` for cells positive for none.
#' * A named list of marker sets evaluated in order, the first match
#'   winning and unmatched cells becoming `"other"`, e.g.
#'   `list("CD8 T" = c("CD3", "CD8"), Treg = c("CD3", "FOXP3"),
#'   Tumor = "PanCK")`. A marker written with a trailing `-` (`"CD8-"`)
#'   must be negative. Marker names match case-insensitively.
#' * A function taking the table as read (original column names) and
#'   returning one type per row.
#'
#' A list or a function is applied even when the table has a phenotype
#' column. Positivity values may be 0/1, `TRUE`/`FALSE`, `Positive` /
#' `Negative` or `<marker>+` / `<marker>-`; missing values count as negative.
#'
#' Cells left without a type (an empty phenotype, a cell missing from
#' `cell_types`) get the type `"unassigned"`, with a message giving their
#' number; they are never dropped. Cells without coordinates are dropped
#' with a warning of class `immunoscape_warning_coordinates`.
#'
#' @section Several files:
#' `path` may hold several files or a directory (its `.csv`, `.tsv` and
#' `.txt` files, compressed or not; if some are inForm
#' `*cell_seg_data.txt`/`.csv` files only those, and never inForm
#' `*_summary` files). Each file is one image named after the file, unless
#' the file names its images itself (`Sample Name`, `Image`...). A file
#' that cannot be read gives a warning of class `immunoscape_warning_file`
#' naming it and is skipped; the call fails only if every file does.
#'
#' @param path Path of a cell table, a vector of paths, or a directory.
#' @param format `"auto"` (detect from the header) or one of `"inform"`,
#'   `"halo"`, `"qupath"`, `"xenium"`, `"cosmx"`, `"mcmicro"`, `"csv"`.
#' @param ... Unused; a misspelled argument is an error.
#' @param x,y,type,image,cell_id Column names overriding the format's
#'   choice (see *Formats*); `NULL` uses the format's columns or guesses.
#' @param phenotypes How to build the type from marker-positivity columns:
#'   `NULL`, a named list of marker sets or a function (see *Phenotypes*).
#' @param cell_types Cell types kept outside the table: a data frame, or
#'   the path of a CSV, with a cell id column (`cell_id`, `Barcode`, ...,
#'   else the first column), a type column (`type`, `cell_type`, `Cluster`,
#'   ..., else the second column) and optionally an `image` column. Joined
#'   on the cell id (and image).
#' @param pixel_size Microns per coordinate unit. `NULL` uses the format's
#'   unit: 1 for micron formats (inForm, QuPath `µm`, Xenium, plain
#'   tables), the documented default for CosMx and pixel-unit inForm
#'   exports, and 1 with a warning (class `immunoscape_warning_pixel_size`)
#'   for pixel formats (HALO, MCMICRO, QuPath `px`); for HALO the warning
#'   gives the pixel size that the cell areas in square microns imply.
#' @param window The tissue window of each image, passed to
#'   [spatial_cells()]: `"convex"`, `"rectangle"`, `"concave"` or a polygon
#'   data frame (microns).
#' @returns A `spatial_cells` object (see [spatial_cells()]): columns
#'   `cell_id`, `image` (factor), `x`, `y` (microns), `type` (factor), then
#'   the other columns of the file(s) under their original names; attribute
#'   `source` gives the file and format of each image.
#' @seealso [spatial_cells()], [as_spatial_cells()].
#' @export
#' @examples
#' path <- system.file("extdata", "inform_cell_seg_data.txt.gz",
#'                     package = "immunoscape")
#' cells <- read_cells(path)
#' table(cells$type)
#'
#' # HALO cores: pixels at 0.5 microns, phenotype from positivity columns
#' halo <- system.file("extdata", "halo_tma_cores.csv.xz",
#'                     package = "immunoscape")
#' cores <- read_cells(halo, pixel_size = 0.5,
#'                     phenotypes = list("CD8 T" = c("CD3", "CD8"),
#'                                       Treg = c("CD3", "FOXP3"),
#'                                       "other T" = "CD3"))
#' table(cores$image, cores$type)
read_cells <- function(path, format = "auto", ..., x = NULL, y = NULL,
                       type = NULL, image = NULL, cell_id = NULL,
                       phenotypes = NULL, cell_types = NULL,
                       pixel_size = NULL, window = "convex") {
    call <- rlang::current_env()
    check_dots(..., call = call)
    format <- check_format(format, call = call)
    for (arg in c("x", "y", "type", "image", "cell_id")) {
        v <- get(arg)
        if (!is.null(v) && (!is.character(v) || length(v) != 1L ||
                            is.na(v) || !nzchar(v))) {
            stop_immunoscape(
                "{.arg {arg}} must be a single column name or {.code NULL}, not {.obj_type_friendly {v}}.",
                class = "column", call = call
            )
        }
    }
    check_phenotypes(phenotypes, call = call)
    if (!is.null(pixel_size) &&
        (!is.numeric(pixel_size) || length(pixel_size) != 1L ||
         !is.finite(pixel_size) || pixel_size < 1e-6 || pixel_size > 1e6)) {
        stop_immunoscape(c(
            "{.arg pixel_size} must be one positive number (microns per pixel, between 1e-6 and 1e6) or {.code NULL}, not {.val {format(pixel_size)}}.",
            "i" = "Leave it {.code NULL} when the file is in microns."
        ), class = "argument", call = call)
    }
    files <- list_cell_files(path, call = call)
    types_table <- if (!is.null(cell_types)) {
        read_cell_types(cell_types, call = call)
    }
    opts <- list(x = x, y = y, type = type, image = image,
                 cell_id = cell_id, phenotypes = phenotypes,
                 pixel_size = pixel_size,
                 joined_types = !is.null(types_table))

    labels <- file_labels(files)
    pieces <- vector("list", length(files))
    for (k in seq_along(files)) {
        one <- function() {
            read_one_file(files[k], labels[k], format, opts, call = call)
        }
        if (length(files) == 1L) {
            pieces[[k]] <- one()
        } else {
            pieces[[k]] <- tryCatch(one(), error = function(e) {
                why <- if (inherits(e, "rlang_error")) {
                    rlang::cnd_header(e)
                } else {
                    conditionMessage(e)
                }
                why <- cli::ansi_strip(paste(why, collapse = " "))
                warn_immunoscape(c(
                    "Skipped file {.file {files[k]}}: it could not be read as a cell table.",
                    "x" = "{why}"
                ), class = "file")
                NULL
            })
        }
    }
    ok <- !vapply(pieces, is.null, logical(1))
    if (!any(ok)) {
        stop_immunoscape(c(
            "None of the {length(files)} files could be read as a cell table.",
            "i" = "See the warnings for each file."
        ), class = "file", call = call)
    }
    pieces <- pieces[ok]
    # (the sources after the images shared by files are renamed)
    pieces <- dedup_images(pieces)
    sources <- do.call(rbind, lapply(pieces, attr, "source"))
    data <- bind_tables(pieces)

    if (!is.null(types_table)) {
        data$type <- join_cell_types(data, types_table, call = call)
    }
    data$type <- fill_unassigned(data$type)

    px <- unique(vapply(pieces, attr, numeric(1), "pixel_size"))
    out <- spatial_cells(data, x = "x", y = "y", type = "type",
                         image = "image", cell_id = "cell_id",
                         pixel_size = 1, window = window)
    attr(out, "pixel_size") <- if (length(px) == 1L) px else NA_real_
    rownames(sources) <- NULL
    attr(out, "source") <- sources
    out
}

check_format <- function(format, call) {
    if (!is.character(format) || length(format) != 1L || is.na(format) ||
        !format %in% c("auto", read_formats)) {
        stop_immunoscape(c(
            "{.arg format} must be one of {.or {.val {c('auto', read_formats)}}}, not {.val {format}}."
        ), class = "argument", call = call)
    }
    format
}

check_phenotypes <- function(phenotypes, call) {
    if (is.null(phenotypes) || is.function(phenotypes)) return(invisible())
    ok <- is.list(phenotypes) && length(phenotypes) > 0L &&
        !is.null(names(phenotypes)) && all(nzchar(names(phenotypes))) &&
        !anyNA(names(phenotypes)) &&
        all(vapply(phenotypes, function(m) {
            is.character(m) && length(m) > 0L && !anyNA(m)
        }, logical(1)))
    if (!ok) {
        stop_immunoscape(c(
            "{.arg phenotypes} must be {.code NULL}, a function, or a named list of marker sets.",
            "i" = "For example {.code list(\"CD8 T\" = c(\"CD3\", \"CD8\"), Treg = c(\"CD3\", \"FOXP3\"), Tumor = \"PanCK\")}."
        ), class = "argument", call = call)
    }
    invisible()
}

# ---------------------------------------------------------------------------
# Files

cell_file_pattern <- "\\.(csv|tsv|txt)(\\.(gz|bz2|xz))?$"

list_cell_files <- function(path, call) {
    if (!is.character(path) || !length(path) || anyNA(path)) {
        stop_immunoscape(
            "{.arg path} must be a character vector of file or directory paths, not {.obj_type_friendly {path}}.",
            class = "file", call = call
        )
    }
    missing <- path[!file.exists(path)]
    if (length(missing)) {
        stop_immunoscape(c(
            "File{?s} not found: {.file {missing}}.",
            "i" = "Check the path (working directory: {.file {getwd()}})."
        ), class = "file", call = call)
    }
    files <- unlist(lapply(path, function(p) {
        if (!dir.exists(p)) return(check_regular_file(p, call))
        f <- list.files(p, pattern = cell_file_pattern, full.names = TRUE,
                        ignore.case = TRUE)
        f <- f[!grepl("summary", basename(f), ignore.case = TRUE)]
        seg <- grepl("cell_seg_data\\.", basename(f), ignore.case = TRUE)
        if (any(seg)) f <- f[seg]
        if (!length(f)) {
            stop_immunoscape(c(
                "Directory {.file {p}} holds no cell tables.",
                "i" = "Expected files ending in {.val .csv}, {.val .tsv} or {.val .txt} (optionally {.val .gz}/{.val .xz})."
            ), class = "file", call = call)
        }
        sort(f)
    }))
    unique(files)
}

# A path that is not a directory must be a regular, non-empty file:
# devices (/dev/zero), pipes and sockets would be read forever or block.
# stat() reports size 0 for all of them, so the size decides.
check_regular_file <- function(p, call) {
    size <- file.size(p)
    if (is.na(size) || size == 0) {
        stop_immunoscape(c(
            "{.file {p}} is empty or not a regular file (a device, pipe or socket).",
            "i" = "Give the path of a cell table file or of a directory of them."
        ), class = "file", call = call)
    }
    p
}

# Image label of each file: its name without extensions, made unique with
# the parent directory where needed (Xenium outputs are all cells.csv.gz).
file_labels <- function(files) {
    strip <- function(f) {
        sub("\\.(csv|tsv|txt)$", "",
            sub("\\.(gz|bz2|xz)$", "", basename(f), ignore.case = TRUE),
            ignore.case = TRUE)
    }
    lab <- strip(files)
    dup <- lab %in% lab[duplicated(lab)]
    if (any(dup)) {
        lab[dup] <- paste(basename(dirname(files[dup])), lab[dup], sep = "/")
    }
    dup <- lab %in% lab[duplicated(lab)]
    if (any(dup)) lab[dup] <- files[dup]
    lab
}

# First line of the file: column names and separator.
read_header <- function(file, call) {
    con <- file(file, "rt")
    on.exit(close(con))
    line <- tryCatch(readLines(con, n = 1L, warn = FALSE),
                     error = function(e) character())
    if (!length(line) || !nzchar(line)) {
        stop_immunoscape(
            "File {.file {file}} is empty or not a text table.",
            class = "file", call = call
        )
    }
    line <- sub("^\xef\xbb\xbf", "", line, useBytes = TRUE)
    n_tab <- lengths(regmatches(line, gregexpr("\t", line, useBytes = TRUE)))
    n_comma <- lengths(regmatches(line, gregexpr(",", line, useBytes = TRUE)))
    n_semi <- lengths(regmatches(line, gregexpr(";", line, useBytes = TRUE)))
    sep <- if (n_tab > 0L && n_tab >= n_comma) {
        "\t"
    } else if (n_comma > 0L || n_semi == 0L) {
        ","
    } else {
        ";"
    }
    nm <- scan(text = line, what = "", sep = sep, quote = "\"",
               quiet = TRUE, na.strings = character(), strip.white = TRUE)
    nm <- fix_names(nm)
    dup <- unique(nm[duplicated(nm)])
    if (length(dup)) {
        warn_immunoscape(c(
            "{.file {basename(file)}} has duplicated column name{?s} {.val {dup}}.",
            "i" = "The first column of each name is used; the later one{?s} {?is/are} kept as {.val {paste0(dup, '_2')}}."
        ), class = "file")
        nm <- make_unique_names(nm)
    }
    list(names = nm, sep = sep)
}

# "x", "x" -> "x", "x_2" (then "x_3" ...), leaving the first as it is.
make_unique_names <- function(nm) {
    k <- stats::ave(seq_along(nm), nm, FUN = seq_along)
    out <- ifelse(k > 1L, paste0(nm, "_", k), nm)
    while (anyDuplicated(out)) {
        d <- duplicated(out)
        out[d] <- paste0(out[d], "_")
    }
    out
}

# Column names as UTF-8 (Windows exports may write the micro sign in latin1).
fix_names <- function(nm) {
    nm <- sub("^\xef\xbb\xbf", "", nm, useBytes = TRUE)
    bad <- !validUTF8(nm)
    if (any(bad)) nm[bad] <- iconv(nm[bad], "latin1", "UTF-8")
    Encoding(nm) <- "UTF-8"
    nm
}

# The whole table; colClasses fixes the columns whose class is known.
read_table <- function(file, header, classes = NULL,
                       call = rlang::caller_env()) {
    cc <- rep(NA_character_, length(header$names))
    if (length(classes)) {
        hit <- match(names(classes), header$names)
        cc[hit[!is.na(hit)]] <- classes[!is.na(hit)]
    }
    said <- character()
    df <- withCallingHandlers(
        utils::read.table(
            file, header = FALSE, skip = 1L, sep = header$sep, quote = "\"",
            dec = ".", colClasses = cc,
            col.names = paste0("V", seq_along(cc)),
            na.strings = c("NA", "#N/A", "N/A", "NaN", ""),
            comment.char = "", check.names = FALSE, fill = FALSE,
            stringsAsFactors = FALSE, strip.white = TRUE, encoding = "UTF-8",
            blank.lines.skip = TRUE
        ),
        warning = function(w) {
            said <<- c(said, conditionMessage(w))
            invokeRestart("muffleWarning")
        }
    )
    names(df) <- header$names
    check_file_complete(file, nrow(df), said, call = call)
    df
}

# Silent data loss guard: a compressed stream that does not decode to its
# end, a gzip file whose recorded length disagrees with what decodes, a
# text file that does not end with a line break, or read.table's warnings
# ("EOF within quoted string", items not a multiple of the columns).
check_file_complete <- function(file, nrows, said, call) {
    decode <- grepl("decoding|corrupt|invalid|truncat|lzma|bzip|gzip", said,
                    ignore.case = TRUE)
    bad_gz <- !any(decode) && is_gzip(file) && !gzip_length_ok(file)
    if (any(decode) || bad_gz) {
        stop_immunoscape(c(
            "{.file {basename(file)}} is truncated or corrupt: the compressed data end early.",
            "i" = "{nrows} row{?s} could be read before the damage; get a complete copy of the file.",
            "x" = if (any(decode)) "{said[decode][1]}"
        ), class = "file", call = call)
    }
    cut <- !is_compressed(file) && !ends_with_newline(file)
    if (length(said) || cut) {
        warn_immunoscape(c(
            "{.file {basename(file)}} may have been cut short: {nrows} row{?s} read{if (cut) ', and the file does not end with a line break'}.",
            "x" = if (length(said)) "{said[1]}",
            "i" = "Check that the file is complete; the last row may be incomplete."
        ), class = "file")
    }
    invisible()
}

file_magic <- function(file) {
    con <- file(file, "rb")
    on.exit(close(con))
    readBin(con, "raw", 6L)
}

is_gzip <- function(file) {
    m <- file_magic(file)
    length(m) >= 2L && m[1] == as.raw(0x1f) && m[2] == as.raw(0x8b)
}

is_compressed <- function(file) {
    m <- file_magic(file)
    is_gzip(file) ||
        (length(m) >= 3L && identical(m[1:3], charToRaw("BZh"))) ||
        (length(m) >= 6L && identical(m[1:6], as.raw(c(0xfd, 0x37, 0x7a,
                                                       0x58, 0x5a, 0x00))))
}

ends_with_newline <- function(file) {
    size <- file.size(file)
    if (is.na(size) || size == 0) return(TRUE)
    con <- file(file, "rb")
    on.exit(close(con))
    seek(con, size - 1)
    identical(readBin(con, "raw", 1L), as.raw(0x0a)) ||
        identical(readBin(con, "raw", 1L), raw())
}

# The gzip trailer records the decoded length modulo 2^32: a cut file has
# compressed bytes there instead, which (almost surely) disagree.  One
# streaming pass; the table itself was read by read.table.
gzip_length_ok <- function(file) {
    size <- file.size(file)
    if (size < 18) return(FALSE)
    con <- file(file, "rb")
    seek(con, size - 4)
    isize <- readBin(con, "integer", 1L, size = 4L, endian = "little")
    close(con)
    if (isize < 0) isize <- isize + 2^32
    con <- gzfile(file, "rb")
    on.exit(close(con))
    total <- 0
    repeat {
        b <- readBin(con, "raw", 1048576L)
        if (!length(b)) break
        total <- total + length(b)
    }
    total %% 2^32 == isize
}

# ---------------------------------------------------------------------------
# Detection

detect_format <- function(nm) {
    if (all(c("Cell X Position", "Cell Y Position") %in% strip_units(nm))) {
        return("inform")
    }
    if (all(c("XMin", "XMax", "YMin", "YMax") %in% nm)) return("halo")
    if (!is.null(qupath_coords(nm))) return("qupath")
    if (all(c("x_centroid", "y_centroid") %in% nm)) return("xenium")
    if (all(c("CenterX_global_px", "CenterY_global_px") %in% nm) ||
        all(c("CenterX_local_px", "CenterY_local_px") %in% nm)) {
        return("cosmx")
    }
    if (all(c("X_centroid", "Y_centroid") %in% nm)) return("mcmicro")
    if (!is.null(pick_column(nm, guess_x)) &&
        !is.null(pick_column(nm, guess_y))) {
        return("csv")
    }
    NA_character_
}

stop_format <- function(file, nm, call) {
    sig <- format_signatures
    bullets <- stats::setNames(paste0(names(sig), ": ", sig),
                               rep("*", length(sig)))
    stop_immunoscape(c(
        "Cannot tell the format of {.file {file}} from its columns.",
        "i" = "Columns found: {.val {utils::head(nm, 12)}}{if (length(nm) > 12) ' ...'}.",
        "i" = "Each format expects:",
        bullets,
        "i" = "Name the columns with {.arg x}, {.arg y}, {.arg type} and {.code format = \"csv\"}."
    ), class = "format", call = call)
}

strip_units <- function(nm) sub(" \\((microns|pixels|um|px)\\)$", "", nm)

# QuPath centroid columns and their unit, or NULL.
qupath_coords <- function(nm) {
    xs <- nm[startsWith(nm, "Centroid X")]
    ys <- nm[startsWith(nm, "Centroid Y")]
    if (!length(xs) || !length(ys)) return(NULL)
    unit_of <- function(v) {
        s <- trimws(substring(v, 11L))
        ifelse(s == "px" | s == "", "px",
               ifelse(grepl("m$", s, useBytes = TRUE), "um", NA_character_))
    }
    ux <- unit_of(xs)
    uy <- unit_of(ys)
    for (u in c("um", "px")) {
        if (any(ux == u, na.rm = TRUE) && any(uy == u, na.rm = TRUE)) {
            return(list(x = xs[which(ux == u)[1]], y = ys[which(uy == u)[1]],
                        unit = u))
        }
    }
    NULL
}

# First of `candidates` present in `nm` (exact, then ignoring case).
pick_column <- function(nm, candidates) {
    hit <- candidates[candidates %in% nm]
    if (length(hit)) return(hit[1])
    low <- match(tolower(candidates), tolower(nm))
    low <- low[!is.na(low)]
    if (length(low)) return(nm[low[1]])
    NULL
}

# ---------------------------------------------------------------------------
# One file

read_one_file <- function(file, label, format, opts, call) {
    header <- read_header(file, call = call)
    nm <- header$names
    fmt <- if (format == "auto") detect_format(nm) else format
    if (is.na(fmt)) {
        if (!is.null(opts$x) && !is.null(opts$y)) {
            fmt <- "csv"
        } else {
            stop_format(file, nm, call = call)
        }
    }
    spec <- switch(fmt,
        inform = spec_inform(nm, opts),
        halo = spec_halo(nm, opts),
        qupath = spec_qupath(nm, opts),
        xenium = spec_xenium(nm, opts),
        cosmx = spec_cosmx(nm, opts),
        mcmicro = spec_mcmicro(nm, opts),
        csv = spec_csv(nm, opts)
    )
    # user overrides
    for (arg in c("x", "y", "type", "image", "cell_id")) {
        if (!is.null(opts[[arg]])) spec[[arg]] <- opts[[arg]]
    }
    if (!is.null(opts$x) || !is.null(opts$y)) spec$box <- NULL
    if (is.null(spec$box) && (is.null(spec$x) || is.null(spec$y))) {
        stop_format(file, nm, call = call)
    }
    for (arg in c("x", "y", "type", "image", "cell_id")) {
        col <- spec[[arg]]
        if (!is.null(col) && !col %in% nm) {
            near <- closest_names(col, nm)
            stop_immunoscape(c(
                "Column {.val {col}} ({if (is.null(opts[[arg]])) paste(fmt, 'format') else paste('argument', arg)}) is not in {.file {file}}.",
                "i" = if (length(near)) "Did you mean {.or {.val {near}}}?",
                "i" = "Columns available: {.val {utils::head(nm, 20)}}{if (length(nm) > 20) ' ...'}."
            ), class = "column", call = call)
        }
    }
    miss <- setdiff(spec$box, nm)
    if (length(miss)) {
        stop_immunoscape(
            "{.file {file}} lacks the HALO bounding-box column{?s} {.val {miss}}.",
            class = "column", call = call
        )
    }

    # text columns stay text; numbers are converted by read.table, and
    # coordinates written with units ("12.5 um") by num() below
    classes <- spec$classes %||% character()
    for (col in c(spec$type, spec$image)) classes[col] <- "character"
    raw <- tryCatch(
        read_table(file, header, classes, call = call),
        error = function(e) {
            if (inherits(e, "immunoscape_error")) rlang::cnd_signal(e)
            stop_immunoscape(c(
                "Could not read {.file {file}} as a {fmt} table.",
                "x" = "{conditionMessage(e)}"
            ), class = "file", call = call)
        }
    )
    if (!nrow(raw)) {
        stop_immunoscape("{.file {file}} has a header but no cells.",
                         class = "empty", call = call)
    }

    # coordinates (a decimal comma is read as such unless commas separate
    # the fields)
    dc <- !identical(header$sep, ",")
    coord_cols <- if (!is.null(spec$box)) spec$box else c(spec$x, spec$y)
    if (!is.null(spec$box)) {
        xx <- (num(raw[[spec$box[1]]], dc) + num(raw[[spec$box[2]]], dc)) / 2
        yy <- (num(raw[[spec$box[3]]], dc) + num(raw[[spec$box[4]]], dc)) / 2
    } else {
        xx <- num(raw[[spec$x]], dc)
        yy <- num(raw[[spec$y]], dc)
    }
    px <- resolve_pixel_size(opts$pixel_size, spec, fmt, file,
                             hint = pixel_size_hint(raw, spec))
    drop <- !is.finite(xx) | !is.finite(yy)
    if (any(drop)) {
        bad <- unparsed_values(raw, coord_cols, dc)
        if (length(bad) && all(drop)) {
            stop_immunoscape(c(
                "The coordinate columns of {.file {basename(file)}} hold text that is not a number, e.g. {.val {bad}}.",
                "i" = "Check the column separator and decimal mark, or convert the columns and use {.fn spatial_cells}."
            ), class = "coordinates", call = call)
        }
        warn_immunoscape(c(
            "Dropped {sum(drop)} cell{?s} without usable coordinates from {.file {basename(file)}}.",
            "i" = if (length(bad)) "Some coordinates are text that is not a number, e.g. {.val {bad}}."
        ), class = "coordinates")
        raw <- raw[!drop, , drop = FALSE]
        xx <- xx[!drop]
        yy <- yy[!drop]
        if (!nrow(raw)) {
            stop_immunoscape("{.file {file}} has no cell with coordinates.",
                             class = "empty", call = call)
        }
    }

    # image: among several image-like columns of a plain table, the finest
    if (isTRUE(spec$image_guess) && is.null(opts$image)) {
        cand <- intersect(c(guess_image, grep("image_?id$", names(raw),
                                                value = TRUE,
                                                ignore.case = TRUE)),
                          names(raw))
        cand <- setdiff(cand, c(spec$x, spec$y, spec$type, spec$cell_id))
        if (length(cand)) {
            nu <- vapply(cand, function(v) length(unique(raw[[v]])),
                         integer(1))
            spec$image <- cand[which.max(nu)]
        }
    }
    img <- if (!is.null(spec$image)) {
        v <- as.character(raw[[spec$image]])
        if (isTRUE(spec$image_basename)) {
            u <- unique(v)
            v <- sub("^.*[/\\\\]", "", u)[match(v, u)]
        }
        if (!is.null(spec$image_prefix)) v <- paste0(spec$image_prefix, v)
        v[is.na(v) | !nzchar(v)] <- label
        v
    } else {
        rep(label, nrow(raw))
    }

    # type
    ty <- cell_type_of(raw, spec, opts, fmt, file, call = call)

    # cell ids: the file's, unless missing or duplicated within an image
    ids <- if (!is.null(spec$cell_id)) raw[[spec$cell_id]]
    if (!is.null(ids) && (anyNA(ids) || any_duplicated_pair(img, ids))) {
        inform_immunoscape(c(
            "i" = "Column {.val {spec$cell_id}} of {.file {basename(file)}} has missing or repeated ids within an image; cells are numbered instead (the column is kept)."
        ))
        spec$cell_id <- NULL
        ids <- NULL
    }
    if (is.null(ids)) {
        ids <- stats::ave(seq_along(img), factor(img, levels = unique(img)),
                          FUN = seq_along)
    }

    used <- c(spec$x, spec$y, spec$cell_id, spec$drop)
    if (!isTRUE(spec$keep_type)) used <- c(used, spec$type)
    if (!isTRUE(spec$image_basename) && is.null(spec$image_prefix)) {
        used <- c(used, spec$image)
    }
    rest <- raw[setdiff(names(raw), used)]
    clash <- names(rest) %in% standard_columns
    if (any(clash)) names(rest)[clash] <- paste0(names(rest)[clash], "_input")
    out <- data.frame(cell_id = ids, image = img, x = xx * px, y = yy * px,
                      type = ty, stringsAsFactors = FALSE)
    if (ncol(rest)) out <- cbind(out, rest)
    attr(out, "pixel_size") <- px
    attr(out, "source") <- data.frame(image = unique(img), file = file,
                                      format = fmt,
                                      stringsAsFactors = FALSE)
    out
}

# Does any (a, b) pair repeat? Integer codes, no pasting of strings.
any_duplicated_pair <- function(a, b) {
    ua <- unique(a)
    ub <- unique(b)
    key <- (match(a, ua) - 1) * length(ub) + match(b, ub)
    anyDuplicated(key) > 0L
}

num <- function(v, dec_comma = FALSE) {
    if (is.numeric(v)) return(as.numeric(v))
    v <- trimws(as.character(v))
    v <- sub("\\s*(\u00b5m|\u03bcm|um|microns?|px|pixels?)$", "", v)
    if (dec_comma) {
        # "12,5" (one comma, no point): a decimal comma
        dcm <- grepl("^[-+]?[0-9]*,[0-9]+([eE][-+]?[0-9]+)?$", v)
        v[dcm] <- sub(",", ".", v[dcm], fixed = TRUE)
    }
    suppressWarnings(as.numeric(v))
}

# Up to three distinct values of the columns `cols` of `raw` that are
# present (not NA or empty) but not numbers.
unparsed_values <- function(raw, cols, dec_comma) {
    out <- character()
    for (cl in cols) {
        v <- raw[[cl]]
        if (is.numeric(v)) next
        v <- as.character(v)
        bad <- !is.na(v) & nzchar(trimws(v)) & is.na(num(v, dec_comma))
        out <- c(out, v[bad])
    }
    utils::head(unique(out), 3L)
}

resolve_pixel_size <- function(pixel_size, spec, fmt, file, hint = NULL) {
    unit <- spec$unit %||% "um"
    if (!is.null(pixel_size)) {
        if (unit == "um" && pixel_size != 1 && isTRUE(spec$unit_sure)) {
            warn_immunoscape(c(
                "{.file {basename(file)}} gives coordinates in microns, yet {.arg pixel_size} = {pixel_size} rescales them.",
                "i" = "Leave {.arg pixel_size} {.code NULL} for micron coordinates."
            ), class = "pixel_size")
        }
        if (!is.null(hint) && abs(log(pixel_size / hint)) > log(1.5)) {
            # the table's own cell areas disagree: every density would be
            # off by (pixel_size / hint)^2
            warn_immunoscape(c(
                "{.file {basename(file)}}: its cell areas in square microns suggest about {signif(hint, 2)} microns per pixel, not {.arg pixel_size} = {pixel_size}.",
                "i" = "Densities would be off by a factor of {signif((hint / pixel_size)^2, 2)}; check {.arg pixel_size}."
            ), class = "pixel_size")
        }
        return(pixel_size)
    }
    if (!is.null(spec$default_pixel_size)) {
        inform_immunoscape(c(
            "i" = "{.file {basename(file)}}: coordinates are in pixels; using {.code pixel_size = {spec$default_pixel_size}} microns per pixel ({spec$default_reason}). Set {.arg pixel_size} if that is wrong."
        ))
        return(spec$default_pixel_size)
    }
    if (unit == "px") {
        # not gated by immunoscape.verbose: every distance and density
        # depends on it
        warn_immunoscape(c(
            "{.file {basename(file)}} ({fmt}) has coordinates in pixels or unstated units; they are taken as microns.",
            "i" = if (!is.null(hint)) "Its cell areas in square microns suggest about {signif(hint, 2)} microns per pixel.",
            "i" = "Give {.arg pixel_size} (microns per pixel; 1 if they are microns) to convert them and silence this warning."
        ), class = "pixel_size")
    }
    1
}

# Microns per pixel suggested by a table with both pixel bounding boxes and
# cell areas in square microns (HALO): a cell fills about pi / 4 of its box.
pixel_size_hint <- function(raw, spec) {
    if (is.null(spec$box)) return(NULL)
    area_col <- grep("area.*(um2|um\\^2|\u00b5m\u00b2|\u00b5m\\^2|\\(microns\\))",
                     names(raw), ignore.case = TRUE, value = TRUE)
    if (!length(area_col)) return(NULL)
    box <- (num(raw[[spec$box[2]]]) - num(raw[[spec$box[1]]])) *
        (num(raw[[spec$box[4]]]) - num(raw[[spec$box[3]]]))
    ratio <- num(raw[[area_col[1]]]) / (box * pi / 4)
    ratio <- ratio[is.finite(ratio) & ratio > 0]
    if (length(ratio) < 10L) return(NULL)
    h <- sqrt(stats::median(ratio))
    if (h > 0.01 && h < 10) h else NULL
}

# ---------------------------------------------------------------------------
# Format specifications: which column is what.

spec_inform <- function(nm, opts) {
    base <- strip_units(nm)
    col <- function(b) {
        i <- match(b, base)
        if (is.na(i)) NULL else nm[i]
    }
    xcol <- col("Cell X Position")
    if (is.null(xcol)) return(list(x = NULL, y = NULL))
    px_units <- grepl("\\(pixels\\)$", xcol) ||
        (any(grepl("\\((sq )?pixels\\)", nm)) &&
         !any(grepl("microns\\)", nm)))
    pheno <- if ("Phenotype" %in% nm) "Phenotype"
    text <- intersect(c("Path", "Sample Name", "Tissue Category", "Phenotype",
                        "Slide ID", "Annotation ID", "Process Region ID",
                        grep("^Phenotype[ _-]", nm, value = TRUE)), nm)
    list(
        x = xcol, y = col("Cell Y Position"),
        image = if ("Sample Name" %in% nm) "Sample Name",
        cell_id = if ("Cell ID" %in% nm) "Cell ID",
        type = pheno,
        classes = stats::setNames(rep("character", length(text)), text),
        unit = if (px_units) "px" else "um", unit_sure = !px_units,
        default_pixel_size = if (px_units) 0.5,
        default_reason = "20x Vectra fields, 2 pixels per micron"
    )
}

spec_halo <- function(nm, opts) {
    img <- pick_column(nm, c("Image Location", "Image File Name", "Image Name",
                             "Image", "sample", "Sample", "sample_id",
                             "image", "image_id"))
    text <- intersect(c("Image Location", "Image File Name", "Analysis Region",
                        "Algorithm Name", "Classifier Label", "tissue_class"),
                      nm)
    list(
        box = c("XMin", "XMax", "YMin", "YMax"),
        image = img,
        image_basename = img %in% c("Image Location", "Image File Name"),
        cell_id = pick_column(nm, c("Object Id", "Object ID", "object_id",
                                    "ObjectId")),
        type = pick_column(nm, c("phenotype", "Phenotype", "cell_type",
                                 "celltype", "type")),
        classes = stats::setNames(rep("character", length(text)), text),
        unit = "px"
    )
}

spec_qupath <- function(nm, opts) {
    xy <- qupath_coords(nm)
    cls <- pick_column(nm, c("Class", "Classification"))
    text <- intersect(c("Image", "Name", "Class", "Classification", "Parent",
                        "ROI", "Object ID", "Object type"), nm)
    list(
        x = xy$x, y = xy$y,
        image = if ("Image" %in% nm) "Image",
        cell_id = pick_column(nm, c("Object ID", "Object Id")),
        type = cls, qupath_class = cls,
        classes = stats::setNames(rep("character", length(text)), text),
        unit = xy$unit, unit_sure = identical(xy$unit, "um")
    )
}

spec_xenium <- function(nm, opts) {
    list(x = "x_centroid", y = "y_centroid",
         cell_id = if ("cell_id" %in% nm) "cell_id",
         type = pick_column(nm, c("cell_type", "celltype", "type", "cluster",
                                  "Cluster")),
         classes = c(cell_id = "character"),
         unit = "um", unit_sure = TRUE)
}

spec_cosmx <- function(nm, opts) {
    glob <- all(c("CenterX_global_px", "CenterY_global_px") %in% nm)
    id <- pick_column(nm, c("cell", "cell_id", "cell_ID"))
    list(x = if (glob) "CenterX_global_px" else "CenterX_local_px",
         y = if (glob) "CenterY_global_px" else "CenterY_local_px",
         image = if ("fov" %in% nm) "fov", image_prefix = "fov",
         cell_id = id,
         type = pick_column(nm, c("cell_type", "celltype", "type",
                                  "cluster")),
         unit = "px", default_pixel_size = 0.12028,
         default_reason = "the CosMx SMI pixel size")
}

spec_mcmicro <- function(nm, opts) {
    list(x = "X_centroid", y = "Y_centroid",
         image = pick_column(nm, c("imageid", "image", "sample", "ImageId")),
         cell_id = if ("CellID" %in% nm) "CellID",
         type = pick_column(nm, c("phenotype", "cell_type", "celltype",
                                  "type", "cluster")),
         unit = "px")
}

spec_csv <- function(nm, opts) {
    xcol <- pick_column(nm, guess_x)
    list(x = xcol, y = pick_column(nm, guess_y),
         image = NULL, image_guess = TRUE,
         cell_id = pick_column(nm, guess_cell_id),
         type = pick_column(nm, guess_type),
         unit = if (!is.null(xcol) && grepl("px$|pixel", xcol)) "px" else "um")
}

# ---------------------------------------------------------------------------
# Types

cell_type_of <- function(raw, spec, opts, fmt, file, call) {
    rule <- opts$phenotypes
    n <- nrow(raw)
    if (is.function(rule)) {
        ty <- rule(raw)
        if (is.factor(ty)) ty <- as.character(ty)
        if (!is.character(ty) || length(ty) != n) {
            stop_immunoscape(
                "The {.arg phenotypes} function must return one type (character) per cell: {n} for {.file {basename(file)}}, not {.obj_type_friendly {ty}} of length {length(ty)}.",
                class = "argument", call = call
            )
        }
        return(ty)
    }
    if (!is.null(opts$type) || (is.null(rule) && !is.null(spec$type))) {
        return(as.character(raw[[spec$type]]))
    }
    pos <- if (!is.null(spec$qupath_class)) {
        class_positivity(raw[[spec$qupath_class]])
    } else {
        positivity_matrix(raw)
    }
    if (is.null(pos)) {
        if (is.list(rule)) {
            stop_immunoscape(c(
                "{.arg phenotypes} gives marker rules, but {.file {basename(file)}} has no marker-positivity columns.",
                "i" = "Expected columns such as {.val CD3 Positive Classification}, {.val CD3_pos} or {.val Phenotype CD3}; or give a function."
            ), class = "argument", call = call)
        }
        if (!is.null(spec$type)) return(as.character(raw[[spec$type]]))
        if (isTRUE(opts$joined_types)) return(rep(NA_character_, n))
        inform_immunoscape(c(
            "i" = "{.file {basename(file)}} ({fmt}) has no cell types; its {n} cell{?s} are {.val unassigned}.",
            "i" = "Give types with {.arg cell_types}, {.arg type} or {.arg phenotypes}."
        ))
        return(rep("unassigned", n))
    }
    apply_phenotypes(pos, rule, call = call)
}

# Names of marker-positivity columns.
positivity_names <- function(nm) {
    c(grep(" Positive Classification$", nm, value = TRUE),
      grep("_pos(itive)?$", nm, value = TRUE, ignore.case = TRUE),
      grep("^Phenotype[ _-].+", nm, value = TRUE, ignore.case = TRUE))
}

# Logical matrix (cells x markers) from positivity columns, or NULL.
positivity_matrix <- function(raw) {
    cols <- positivity_names(names(raw))
    if (!length(cols)) return(NULL)
    markers <- character(length(cols))
    m <- matrix(FALSE, nrow(raw), length(cols))
    for (j in seq_along(cols)) {
        v <- raw[[cols[j]]]
        stem <- sub(" Positive Classification$", "", cols[j])
        stem <- sub("_pos(itive)?$", "", stem, ignore.case = TRUE)
        stem <- sub("^Phenotype[ _-]", "", stem, ignore.case = TRUE)
        if (is.character(v) || is.factor(v)) {
            v <- trimws(as.character(v))
            signed <- v[!is.na(v) & grepl("[+-]$", v)]
            if (length(signed)) {
                stems <- unique(sub("[+-]$", "", signed))
                if (length(stems) == 1L) stem <- stems
            }
            low <- tolower(v)
            m[, j] <- !is.na(v) & (grepl("\\+$", v) |
                low %in% c("1", "true", "t", "yes", "pos", "positive"))
        } else {
            m[, j] <- !is.na(v) & as.numeric(v) > 0
        }
        markers[j] <- stem
    }
    colnames(m) <- markers
    m[, !duplicated(markers), drop = FALSE]
}

# QuPath multiplex classes "CD3: CD8" -> positivity for CD3 and CD8.
class_positivity <- function(cls) {
    cls <- as.character(cls)
    parts <- strsplit(ifelse(is.na(cls), "", cls), ":\\s*")
    markers <- unique(trimws(unlist(parts)))
    markers <- markers[nzchar(markers)]
    if (!length(markers)) return(NULL)
    m <- vapply(markers, function(mk) {
        vapply(parts, function(p) mk %in% trimws(p), logical(1))
    }, logical(length(cls)))
    m <- matrix(m, nrow = length(cls), dimnames = list(NULL, markers))
    m
}

apply_phenotypes <- function(pos, rule, call) {
    markers <- colnames(pos)
    n <- nrow(pos)
    if (is.null(rule)) {
        lab <- character(n)
        for (j in seq_along(markers)) {
            lab <- paste0(lab, ifelse(pos[, j], paste0(markers[j], "+"), ""))
        }
        lab[!nzchar(lab)] <- "negative"
        return(lab)
    }
    out <- rep(NA_character_, n)
    for (k in seq_along(rule)) {
        want <- rule[[k]]
        neg <- grepl("-$", want)
        stem <- sub("[+-]$", "", trimws(want))
        j <- match(tolower(stem), tolower(markers))
        if (anyNA(j)) {
            stop_immunoscape(c(
                "{.arg phenotypes} rule {.val {names(rule)[k]}} names marker{?s} not in the table: {.val {stem[is.na(j)]}}.",
                "i" = "Markers available: {.val {markers}}."
            ), class = "argument", call = call)
        }
        hit <- is.na(out)
        for (q in seq_along(j)) {
            hit <- hit & (if (neg[q]) !pos[, j[q]] else pos[, j[q]])
        }
        out[hit] <- names(rule)[k]
    }
    out[is.na(out)] <- "other"
    out
}

fill_unassigned <- function(ty) {
    ty <- as.character(ty)
    bad <- is.na(ty) | !nzchar(trimws(ty))
    if (any(bad)) {
        inform_immunoscape(c(
            "i" = "{sum(bad)} cell{?s} without a type {?is/are} typed {.val unassigned}."
        ))
        ty[bad] <- "unassigned"
    }
    ty
}

read_cell_types <- function(cell_types, call) {
    if (is.character(cell_types) && length(cell_types) == 1L) {
        if (!file.exists(cell_types)) {
            stop_immunoscape(
                "{.arg cell_types} file not found: {.file {cell_types}}.",
                class = "file", call = call
            )
        }
        header <- read_header(cell_types, call = call)
        cell_types <- read_table(cell_types, header)
    }
    if (!is.data.frame(cell_types) || ncol(cell_types) < 2L ||
        !nrow(cell_types)) {
        stop_immunoscape(c(
            "{.arg cell_types} must be a data frame (or CSV path) with a cell id column and a type column.",
            "i" = "For example {.code data.frame(cell_id = ..., type = ...)} or Xenium's {.file clusters.csv} ({.field Barcode}, {.field Cluster})."
        ), class = "argument", call = call)
    }
    nm <- names(cell_types)
    id <- pick_column(nm, c(guess_cell_id, "cell_barcode")) %||% nm[1]
    ty <- pick_column(setdiff(nm, id), c(guess_type, "cell type", "group"))
    ty <- ty %||% setdiff(nm, id)[1]
    img <- pick_column(setdiff(nm, c(id, ty)), "image")
    out <- data.frame(id = as.character(cell_types[[id]]),
                      type = as.character(cell_types[[ty]]),
                      stringsAsFactors = FALSE)
    if (!is.null(img)) out$image <- as.character(cell_types[[img]])
    key <- if (is.null(img)) out$id else paste(out$image, out$id, sep = "\r")
    if (anyDuplicated(key)) {
        stop_immunoscape(c(
            "{.arg cell_types} gives several types for cell id {.val {out$id[anyDuplicated(key)]}}.",
            "i" = "One row per cell{if (is.null(img)) ' (add an {.field image} column if ids repeat across images)'}."
        ), class = "argument", call = call)
    }
    attr(out, "columns") <- c(id = id, type = ty)
    out
}

join_cell_types <- function(data, tt, call) {
    ids <- as.character(data$cell_id)
    if (is.null(tt$image)) {
        if (anyDuplicated(ids)) {
            stop_immunoscape(c(
                "Cell ids repeat across images, so {.arg cell_types} needs an {.field image} column to join on."
            ), class = "argument", call = call)
        }
        i <- match(ids, tt$id)
    } else {
        i <- match(paste(data$image, ids, sep = "\r"),
                   paste(tt$image, tt$id, sep = "\r"))
    }
    if (all(is.na(i))) {
        stop_immunoscape(c(
            "No cell id of {.arg cell_types} (column {.val {attr(tt, 'columns')[['id']]}}) matches the cells' ids.",
            "i" = "Cell ids look like {.val {utils::head(ids, 3)}}; {.arg cell_types} ids like {.val {utils::head(tt$id, 3)}}."
        ), class = "argument", call = call)
    }
    if (anyNA(i)) {
        inform_immunoscape(c(
            "i" = "{sum(is.na(i))} cell{?s} {?is/are} not in {.arg cell_types} and {?is/are} typed {.val unassigned}."
        ))
    }
    ty <- tt$type[i]
    ty[is.na(i)] <- "unassigned"
    ty
}

# ---------------------------------------------------------------------------
# Several files

# An image named by two files gets the file label as a prefix.
dedup_images <- function(pieces) {
    if (length(pieces) < 2L) return(pieces)
    imgs <- lapply(pieces, function(p) unique(p$image))
    all_img <- unlist(imgs)
    dup <- unique(all_img[duplicated(all_img)])
    if (!length(dup)) return(pieces)
    lapply(pieces, function(p) {
        src <- attr(p, "source")
        hit <- p$image %in% dup
        if (any(hit)) {
            lab <- file_labels(src$file[1])
            p$image[hit] <- paste(lab, p$image[hit], sep = "/")
            src$image <- unique(p$image)
            attr(p, "source") <- src
        }
        p
    })
}

bind_tables <- function(pieces) {
    if (length(pieces) == 1L) {
        out <- pieces[[1]]
    } else {
        cols <- unique(unlist(lapply(pieces, names)))
        pieces <- lapply(pieces, function(p) {
            miss <- setdiff(cols, names(p))
            for (m in miss) p[[m]] <- rep(NA, nrow(p))
            p[cols]
        })
        out <- do.call(rbind, pieces)
    }
    out$image <- factor(out$image, levels = unique(out$image))
    attr(out, "pixel_size") <- NULL
    attr(out, "source") <- NULL
    rownames(out) <- NULL
    out
}
