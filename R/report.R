# The HTML report of a cohort (or of one image): the analyses are run here,
# section by section, and handed to the R Markdown template
# inst/report/report.Rmd, which only draws them. A section whose analysis
# fails shows the error instead of stopping the report.

report_section_names <- c("overview", "maps", "compartments", "tls",
                          "kfunctions", "interactions", "neighborhoods",
                          "features", "patients", "outcome")

#' Render an HTML report of a cohort or of one image
#'
#' Runs the analyses of immunoscape on `cells` and writes one
#' self-contained HTML page (figures embedded, no external files) from a
#' parameterised R Markdown template (`system.file("report", "report.Rmd",
#' package = "immunoscape")`). The sections, each left out when it does
#' not apply:
#'
#' * `"overview"`: cells, area and densities per image (one scrollable
#'   table whatever the number of images) and the cohort's composition.
#' * `"maps"`: cell maps of the representative images (see Selection),
#'   with the tumour regions and the TLS outlined.
#' * `"compartments"`: tumour regions ([tumor_regions()]), the invasive
#'   margin ([compartments()], `margin` microns either side of the
#'   border) drawn on the maps, infiltration profiles
#'   ([infiltration_profile()]), immune phenotype ([immune_phenotype()])
#'   of every image and, when `liver` cells are present, the growth
#'   pattern ([growth_pattern()]).
#' * `"tls"`: tertiary lymphoid structures ([detect_tls()]) of every image
#'   (count, density, maturity, location), when `b_cells` are present.
#' * `"kfunctions"`: cross-type L functions from the tumour to each immune
#'   type with their random-labelling envelopes ([ripley_l()]) in the
#'   representative images.
#' * `"interactions"`: the neighbourhood-enrichment z of every pair of
#'   types ([interaction_test()]), pooled over the cohort and per
#'   representative image.
#' * `"neighborhoods"`: cellular neighbourhoods clustered over all images
#'   ([cellular_neighborhoods()]): their composition, their share in every
#'   image and maps of the representative images.
#' * `"features"`: the per-image feature table ([spatial_profile()]) and
#'   its heatmap.
#' * `"patients"`: the per-patient table ([aggregate_profile()]), when
#'   `patient` names a column of `cells`.
#' * `"outcome"`: Cox models of every feature and their forest plot
#'   ([associate_outcome()]), when `clinical`, `time` and `event` are
#'   given.
#'
#' @section Selection:
#' Figures of single images (maps, L functions, per-image heatmaps) are
#' drawn for at most `n_images` representative images, so that a report of
#' 250 images stays readable: the images are ordered by immune-cell
#' density and picked at evenly spaced ranks (lowest, ..., median, ...,
#' highest), at most one per patient while there are enough patients.
#' `images` overrides the choice. Cohort-wide results are tables (which
#' scroll) and single plots of all images.
#'
#' @param cells A `spatial_cells` object (one image or a cohort).
#' @param file Path of the HTML file to write (ending in `.html`). Its
#'   folder must exist and be writable: this is checked before anything is
#'   computed (an error of class `immunoscape_error_file`).
#' @param clinical `NULL` or a data frame with one row per patient (or per
#'   image): the `patient` column (or `image`) and the `time` and `event`
#'   columns of the outcome. At least one of its patients (images) must
#'   be among those of `cells`; an error (class
#'   `immunoscape_error_argument`, `_column` or `_empty`) names
#'   `clinical` otherwise.
#' @param ... Unused; a misspelled argument is an error.
#' @param tumor Tumour cell type(s).
#' @param immune Immune cell types; `NULL` for every type present that is
#'   neither `tumor` nor `liver` nor a type named like "other".
#' @param patient `NULL` or the column of `cells` naming the patient of
#'   each image (default: the first image-level group of `cells`, i.e. a
#'   `patient` column, see [set_groups()]).
#' @param time,event Survival time and event (1 = event) columns of
#'   `clinical`.
#' @param b_cells,liver The B-cell type(s) for TLS detection and the
#'   liver-parenchyma type(s) for the growth pattern; sections that need
#'   them are left out when they are absent (or `NULL`). A `b_cells` named
#'   explicitly must exist in some image, and the default `"B"` is an error
#'   when the panel names its B cells otherwise (e.g. `"B cell (CD19+)"`),
#'   rather than a report silently without TLS.
#' @param title Title of the report.
#' @param images Images to draw (names); `NULL` picks `n_images`
#'   representative images (see Selection).
#' @param n_images Number of representative images drawn.
#' @param sections Sections to include (see above); `NULL` for all that
#'   apply.
#' @param margin Half-width of the invasive margin in microns.
#' @param nsim,nperm Simulations of the L-function envelopes and
#'   permutations of the interaction test.
#' @param seed Seed of the random numbers (envelopes, permutations,
#'   clustering), so that a report can be reproduced.
#' @param quiet If `FALSE`, show the output of knitr and pandoc.
#' @param nthreads Number of OpenMP threads.
#' @param BPPARAM `NULL` (serial) or a BiocParallel parameter object for
#'   the per-image analyses.
#' @returns The path of the HTML file, invisibly. The analyses are attached
#'   as attribute `report` (a list with one element per section).
#' @seealso [spatial_profile()], [plot_cells()].
#' @export
#' @examples
#' \donttest{
#' if (requireNamespace("rmarkdown", quietly = TRUE) &&
#'     rmarkdown::pandoc_available()) {
#'     cells <- simulate_tme(n_images = 2, size = 1000, seed = 1)
#'     html <- render_report(cells, file.path(tempdir(), "report.html"))
#' }
#' }
render_report <- function(cells, file = "immunoscape-report.html",
                          clinical = NULL, ..., tumor = "Tumor",
                          immune = NULL, patient = NULL, time = NULL,
                          event = NULL, b_cells = "B", liver = "Hepatocyte",
                          title = NULL, images = NULL, n_images = 6,
                          sections = NULL, margin = 500, nsim = 39,
                          nperm = 199, seed = 1, quiet = TRUE,
                          nthreads = immunoscape_threads(), BPPARAM = NULL) {
    check_dots(...)
    if (missing(cells)) {
        stop_immunoscape(c(
            "{.arg cells} is missing.",
            "i" = "Give the cells of the cohort or image, e.g. {.code render_report(simulate_tme(n_images = 2, size = 1000))}."
        ), class = "argument")
    }
    report_check_tools()
    cells <- check_cells(cells)
    file <- report_check_file(file)
    tumor <- check_types(cells, tumor)
    present <- types_present(cells)
    liver <- intersect(as.character(liver %||% character()), present)
    # a B-cell type the panel names otherwise is an error, not a report
    # without its TLS section
    if (!is.null(b_cells) && (is.null(sections) || "tls" %in% sections)) {
        finish_role_types(list(b_cells = check_role_types(
            b_cells, "b_cells", present, explicit = !missing(b_cells),
            used = TRUE)), call = rlang::current_env())
    }
    b_cells <- intersect(as.character(b_cells %||% character()), present)
    if (is.null(immune)) {
        immune <- report_immune_types(setdiff(present, c(tumor, liver)))
    } else {
        immune <- check_types(cells, immune)
    }
    patient <- report_check_patient(cells, patient)
    outcome <- report_check_clinical(clinical, time, event, patient, cells)
    sections <- report_check_sections(sections)
    n_images <- check_count(n_images, "n_images")
    check_margin(margin, "margin")
    nsim <- check_count(nsim, "nsim")
    nperm <- check_count(nperm, "nperm")
    seed <- check_count(seed, "seed", min = 0L)
    check_flag(quiet)
    nthreads <- check_nthreads(nthreads)
    if (!is.null(title)) check_string(title)
    if (!is.null(images)) images <- check_plot_images(cells, images)

    opts <- list(tumor = tumor, immune = immune, liver = liver,
                 b_cells = b_cells, patient = patient, margin = margin,
                 nsim = nsim, nperm = nperm, seed = seed,
                 nthreads = nthreads, BPPARAM = BPPARAM,
                 n_images = n_images, images = images)
    rep <- report_compute(cells, clinical, outcome, sections, opts)
    rep$title <- title %||% sprintf(
        "immunoscape report: %d image%s, %s cells",
        nlevels(droplevels(cells$image)),
        if (nlevels(droplevels(cells$image)) == 1L) "" else "s",
        format(nrow(cells), big.mark = ","))
    html <- report_knit(rep, file, quiet)
    invisible(structure(html, report = rep))
}

# ---- argument checks -------------------------------------------------------

report_check_tools <- function(call = rlang::caller_env()) {
    need <- c("rmarkdown", "knitr")
    miss <- need[!vapply(need, requireNamespace, logical(1), quietly = TRUE)]
    if (length(miss)) {
        stop_immunoscape(c(
            "{.fn render_report} needs the package{?s} {.pkg {miss}}.",
            "i" = "Install {?it/them} with {.code install.packages({.val {miss}})}."
        ), class = "dependency", call = call)
    }
    if (!rmarkdown::pandoc_available("1.12.3")) {
        stop_immunoscape(c(
            "{.fn render_report} needs pandoc to write HTML.",
            "i" = "Install it (Debian: {.code apt-get install pandoc}) or run R from RStudio, which bundles it."
        ), class = "dependency", call = call)
    }
    invisible()
}

report_check_file <- function(file, call = rlang::caller_env()) {
    check_string(file, "file", call = call)
    if (!grepl("\\.html?$", file, ignore.case = TRUE)) {
        stop_immunoscape(c(
            "{.arg file} must end in {.file .html}, not {.val {file}}.",
            "i" = "For example {.code file = \"immunoscape-report.html\"}."
        ), class = "file", call = call)
    }
    dir <- dirname(file)
    if (!dir.exists(dir)) {
        stop_immunoscape(c(
            "The folder of {.arg file} does not exist: {.path {dir}}.",
            "i" = "Create it first, e.g. with {.code dir.create({.val {dir}}, recursive = TRUE)}."
        ), class = "file", call = call)
    }
    if (dir.exists(file)) {
        stop_immunoscape(c(
            "{.arg file} is a folder: {.path {file}}.",
            "i" = "Name the HTML file to write inside it, e.g. {.code file.path({.val {file}}, \"report.html\")}."
        ), class = "file", call = call)
    }
    out <- file.path(normalizePath(dir, mustWork = TRUE), basename(file))
    # find out now, not after the analyses, whether the file can be written
    # (opened for appending: an existing file is not truncated)
    existed <- file.exists(out)
    con <- suppressWarnings(tryCatch(file(out, open = "ab"),
                                     error = function(e) NULL))
    if (is.null(con)) {
        stop_immunoscape(c(
            "Cannot write {.arg file}: {.path {out}}.",
            "i" = "Choose a folder you can write to (permissions, read-only file system)."
        ), class = "file", call = call)
    }
    close(con)
    if (!existed) unlink(out)
    out
}

report_check_patient <- function(cells, patient, call = rlang::caller_env()) {
    if (is.null(patient)) {
        # the image-level group of the cells (see set_groups())
        g <- cell_groups(cells)
        return(if (length(g)) g[1] else NULL)
    }
    check_string(patient, "patient", call = call)
    check_column(cells, patient, "patient", call = call)
    patient
}

report_check_clinical <- function(clinical, time, event, patient, cells,
                                  call = rlang::caller_env()) {
    if (is.null(clinical)) {
        if (!is.null(time) || !is.null(event)) {
            stop_immunoscape(c(
                "{.arg time} and {.arg event} name columns of {.arg clinical}, which is missing.",
                "i" = "Give {.arg clinical}: a data frame with one row per patient."
            ), class = "argument", call = call)
        }
        return(NULL)
    }
    if (!is.data.frame(clinical)) {
        stop_immunoscape(c(
            "{.arg clinical} must be a data frame, not {.obj_type_friendly {clinical}}.",
            "i" = "One row per patient with the outcome columns."
        ), class = "argument", call = call)
    }
    if (is.null(time) || is.null(event)) {
        stop_immunoscape(c(
            "With {.arg clinical}, give {.arg time} and {.arg event}: the survival columns.",
            "i" = "For example {.code time = \"survival_days\", event = \"survival_status\"}."
        ), class = "argument", call = call)
    }
    check_string(time, "time", call = call)
    check_string(event, "event", call = call)
    if (!nrow(clinical)) {
        stop_immunoscape(c(
            "{.arg clinical} has no rows.",
            "i" = "One row per patient with the outcome columns."
        ), class = "empty", call = call)
    }
    check_column(clinical, time, "time", call = call, data_arg = "clinical")
    check_column(clinical, event, "event", call = call, data_arg = "clinical")
    by <- if (!is.null(patient) && patient %in% names(clinical)) patient else
        if ("image" %in% names(clinical)) "image"
    if (is.null(by)) {
        want <- patient %||% "image"
        stop_immunoscape(c(
            "{.arg clinical} has no column {.field {want}} to join it to the images.",
            "i" = "Name the patient column of {.arg cells} with {.arg patient} and give {.arg clinical} the same column."
        ), class = "column", call = call)
    }
    key <- if (by == "image") cells$image else cells[[by]]
    if (!any(as.character(clinical[[by]]) %in% as.character(unique(key)))) {
        stop_immunoscape(c(
            "No {.field {by}} of {.arg clinical} matches one of {.arg cells}.",
            "x" = "{.arg clinical}: {.val {utils::head(unique(as.character(clinical[[by]])), 5)}}; {.arg cells}: {.val {utils::head(as.character(unique(key)), 5)}}.",
            "i" = "Give {.arg clinical} the {.field {by}} values of the cells."
        ), class = "argument", call = call)
    }
    list(time = time, event = event, by = by)
}

report_check_sections <- function(sections, call = rlang::caller_env()) {
    if (is.null(sections)) return(report_section_names)
    if (!is.character(sections) || !length(sections) || anyNA(sections)) {
        stop_immunoscape(c(
            "{.arg sections} must be a character vector of section names.",
            "i" = "Sections: {.val {report_section_names}}."
        ), class = "argument", call = call)
    }
    bad <- setdiff(sections, report_section_names)
    if (length(bad)) {
        stop_unknown_values(bad, report_section_names, "sections",
                            "section", "of the report", "argument",
                            call = call)
    }
    intersect(report_section_names, sections)
}

# ---- analyses ------------------------------------------------------------

# Run one analysis; an error becomes list(error = message) so that the
# report says what failed instead of failing.
report_try <- function(expr) {
    tryCatch(expr, error = function(e) {
        list(error = conditionMessage(e))
    })
}

report_failed <- function(x) is.list(x) && !is.null(x$error) &&
    !is.data.frame(x)

report_compute <- function(cells, clinical, outcome, sections, opts) {
    say <- function(what) inform_immunoscape("Report: {what}")
    set.seed(opts$seed)
    rep <- list(sections = sections, opts = opts, n_cells = nrow(cells),
                version = as.character(utils::packageVersion("immunoscape")),
                date = format(Sys.time(), "%Y-%m-%d %H:%M %Z"))
    keep <- function(s) s %in% sections
    th <- opts$nthreads
    bp <- opts$BPPARAM

    say("overview")
    rep$overview <- report_overview(cells, opts)
    rep$selected <- report_select(rep$overview, opts$n_images, opts$images,
                                  opts$patient)
    sel <- as.character(rep$selected$image)
    sub <- report_subset(cells, sel)
    rep$cells_selected <- sub

    can_tissue <- keep("compartments")
    if (can_tissue) {
        say("tumour regions and compartments")
        rep$regions <- report_try(tumor_regions(cells, tumor = opts$tumor,
                                                nthreads = th,
                                                BPPARAM = bp))
        if (!report_failed(rep$regions)) {
            reg_sel <- report_try(report_regions_subset(rep$regions, sub))
            rep$regions_selected <- reg_sel
            rep$compartments <- report_try(compartments(
                sub, reg_sel, margin = opts$margin, nthreads = th))
            inf_types <- utils::head(report_rank_immune(
                opts$immune[!grepl("FDC|GC B", opts$immune)],
                types_present(sub)), 4L)
            rep$infiltration <- report_try(infiltration_profile(
                sub, reg_sel, types = inf_types,
                breaks = seq(-opts$margin, opts$margin,
                             length.out = 11L),
                nthreads = th))
            rep$phenotype <- report_try(immune_phenotype(
                cells, rep$regions, immune = report_cd8(opts$immune),
                margin = opts$margin, nthreads = th, BPPARAM = bp))
            if (length(opts$liver)) {
                rep$growth <- report_try(growth_pattern(
                    cells, rep$regions, tumor = opts$tumor,
                    liver = opts$liver, nthreads = th, BPPARAM = bp))
            }
        }
    }
    if (keep("tls") && length(opts$b_cells)) {
        say("tertiary lymphoid structures")
        t_cells <- intersect(opts$immune[grepl("\\bT\\b|Treg|T cell",
                                               opts$immune)],
                             types_present(cells))
        args <- list(cells, b_cells = opts$b_cells, nthreads = th,
                     BPPARAM = bp)
        if (length(t_cells)) args$t_cells <- t_cells
        present <- types_present(cells)
        fdc <- present[grepl("FDC|follicular dendritic", present,
                             ignore.case = TRUE)]
        gc <- present[grepl("GC B|germinal", present, ignore.case = TRUE)]
        if (length(fdc)) args$fdc <- fdc
        if (length(gc)) args$gc <- gc
        if (can_tissue && !report_failed(rep$regions)) {
            args$regions <- rep$regions
        }
        rep$tls <- report_try(do.call(detect_tls, args))
    }
    if (keep("kfunctions")) {
        say("L functions")
        to <- utils::head(setdiff(report_rank_immune(opts$immune,
                                                     types_present(sub)),
                                  opts$tumor), 4L)
        rep$lfun <- report_try(ripley_l(
            sub, from = opts$tumor[1], to = to,
            r = seq(0, 100, by = 2), envelope = "labels", nsim = opts$nsim,
            nthreads = th))
    }
    if (keep("interactions")) {
        say("interaction tests")
        rep$interactions <- report_try(interaction_test(
            cells, radius = 20, nperm = opts$nperm, nthreads = th,
            BPPARAM = bp))
    }
    if (keep("neighborhoods")) {
        say("cellular neighbourhoods")
        rep$neighborhoods <- report_try(cellular_neighborhoods(
            cells, k = 10, n = 6, seed = opts$seed, nstart = 5,
            nthreads = th,
            BPPARAM = bp))
    }
    if (keep("features")) {
        say("spatial profile")
        rep$profile <- report_try(report_profile(cells, rep, opts))
    }
    if (keep("patients") && !is.null(opts$patient) &&
        !is.null(rep$profile) && !report_failed(rep$profile)) {
        rep$patients <- report_try(aggregate_profile(rep$profile,
                                                     by = opts$patient))
    }
    if (keep("outcome") && !is.null(outcome) && !is.null(rep$profile) &&
        !report_failed(rep$profile)) {
        say("outcome")
        unit <- if (outcome$by == "image") rep$profile else rep$patients
        rep$outcome <- report_try(associate_outcome(
            unit, clinical, time = outcome$time, event = outcome$event,
            by = outcome$by))
    }
    rep
}

# Immune cell types among the type names (T, B, NK cells, myeloid cells by
# their usual names and markers); every type not "other" when none match.
report_immune_types <- function(types) {
    pat <- paste0("CD8|CD4|CD3|\\bT\\b|T[ -]?cell|Treg|FOXP3|\\bB\\b|",
                  "B[ -]?cell|CD20|CD19|macrophage|monocyte|CD68|CD163|",
                  "Kupffer|\\bNK\\b|dendritic|\\bDC\\b|neutrophil|",
                  "plasma|lympho|immune|myeloid|FDC|GC B|mast")
    hit <- types[grepl(pat, types, ignore.case = TRUE)]
    if (length(hit)) hit else types[!is_grey_type(types)]
}

# Immune types in the order the L functions show them: CD8 T cells,
# regulatory T cells, CD4 T cells, macrophages, B cells, then the rest.
report_rank_immune <- function(immune, present) {
    pats <- c("CD8", "Treg|FOXP3", "CD4", "macrophage|monocyte|CD68",
              "^B$|B[ -]?cell|CD20")
    first <- unlist(lapply(pats, function(p) {
        immune[grepl(p, immune, ignore.case = TRUE)]
    }))
    intersect(unique(c(first, immune)), present)
}

# CD8 T cells among the immune types, by name; else the first immune type.
report_cd8 <- function(immune) {
    hit <- immune[grepl("CD8", immune, ignore.case = TRUE)]
    if (length(hit)) hit[1] else immune[1]
}

# Cells, area and densities per image, with the patient.
report_overview <- function(cells, opts) {
    s <- as.data.frame(summary(cells))
    img <- levels(droplevels(cells$image))
    s <- s[as.character(s$image) %in% img, , drop = FALSE]
    by_img <- split(s, factor(as.character(s$image), levels = img))
    rows <- lapply(names(by_img), function(im) {
        d <- by_img[[im]]
        area <- d$area_mm2[1]
        n_t <- sum(d$n[d$type %in% opts$tumor])
        n_i <- sum(d$n[d$type %in% opts$immune])
        data.frame(image = im, cells = sum(d$n), area_mm2 = area,
                   tumor_cells = n_t, immune_cells = n_i,
                   immune_density = if (area > 0) n_i / area else NA_real_,
                   immune_fraction = if (sum(d$n)) n_i / sum(d$n) else NA)
    })
    out <- do.call(rbind, rows)
    if (!is.null(opts$patient)) {
        pid <- cells[[opts$patient]][match(out$image,
                                           as.character(cells$image))]
        out <- cbind(out[1], patient = as.character(pid), out[-1])
    }
    attr(out, "types") <- s
    out
}

# Representative images: evenly spaced ranks of immune density, at most one
# per patient while patients last.
report_select <- function(overview, n, images = NULL, patient = NULL) {
    if (!is.null(images)) {
        out <- overview[match(images, overview$image), , drop = FALSE]
        out$why <- "chosen"
        return(out)
    }
    ord <- overview[order(overview$immune_density, overview$image), ,
                    drop = FALSE]
    n <- min(n, nrow(ord))
    if (!is.null(patient) && length(unique(ord$patient)) >= n) {
        # spread over patients: the median-density image of each patient
        pid <- ord$patient
        mid <- vapply(split(seq_len(nrow(ord)), pid), function(i) {
            i[ceiling(length(i) / 2)]
        }, integer(1))
        ord <- ord[sort(mid), , drop = FALSE]
    }
    pos <- unique(round(seq(1, nrow(ord), length.out = n)))
    out <- ord[pos, , drop = FALSE]
    # rank among all images (1 = lowest immune density)
    all_rank <- rank(overview$immune_density, ties.method = "first",
                     na.last = TRUE)
    r <- all_rank[match(out$image, overview$image)]
    out$why <- sprintf("immune density rank %d of %d", r, nrow(overview))
    out$why[r == 1L] <- paste(out$why[r == 1L], "(lowest)")
    out$why[r == nrow(overview)] <- paste(out$why[r == nrow(overview)],
                                          "(highest)")
    if (nrow(overview) == 1L) out$why <- "the only image"
    rownames(out) <- NULL
    out
}

# The cells of some images as a spatial_cells with only those images.
report_subset <- function(cells, images) {
    sub <- cells[as.character(cells$image) %in% images, , drop = FALSE]
    w <- attr(sub, "windows")
    df <- as.data.frame(sub)
    df$image <- factor(as.character(df$image), levels = images)
    if (is.data.frame(w) && "image" %in% names(w)) {
        w$image <- factor(as.character(w$image), levels = images)
    }
    new_spatial_cells(df, w, attr(cells, "pixel_size") %||% 1,
                      groups = attr(cells, "groups"))
}

# Tumour regions of the selected images only (image levels as in `sub`).
report_regions_subset <- function(regions, sub) {
    lv <- levels(sub$image)
    keep <- as.character(regions$image) %in% lv
    out <- regions[keep, , drop = FALSE]
    at <- attributes(regions)
    for (a in setdiff(names(at), c("names", "row.names"))) {
        attr(out, a) <- at[[a]]
    }
    attr(out, "row.names") <- seq_len(sum(keep))
    out$image <- factor(as.character(out$image), levels = lv)
    for (a in c("areas", "notes", "parameters", "extent")) {
        v <- attr(out, a)
        if (is.data.frame(v) && "image" %in% names(v)) {
            v <- v[as.character(v$image) %in% lv, , drop = FALSE]
            v$image <- factor(as.character(v$image), levels = lv)
            attr(out, a) <- v
        }
    }
    out
}

# The per-image features, with the image calls of the report's other
# sections (phenotype, growth pattern, TLS) joined when the profile does
# not have them yet.
report_profile <- function(cells, rep, opts) {
    groups <- c("counts", "ratio", "distances", "mixing", "interactions")
    args <- list(cells, tumor = opts$tumor, immune = opts$immune,
                 features = profile_features(groups),
                 BPPARAM = opts$BPPARAM, nthreads = opts$nthreads,
                 cd8 = report_cd8(opts$immune),
                 nperm = min(opts$nperm, 99L))
    if (!is.null(opts$patient)) args$carry <- opts$patient
    cn <- rep$neighborhoods
    if (!is.null(cn) && !report_failed(cn)) {
        args$features <- c(args$features,
                           profile_features("neighborhoods"))
        args$neighborhoods <- cn
    }
    prof <- do.call(spatial_profile, args)
    calls <- report_image_calls(rep)
    if (!is.null(calls)) {
        agg <- attr(prof, "aggregate")
        new <- setdiff(names(calls), c("image", names(prof)))
        if (length(new)) {
            at <- attributes(prof)
            m <- calls[match(as.character(prof$image),
                             as.character(calls$image)), new, drop = FALSE]
            df <- as.data.frame(prof)
            note <- df$note
            df$note <- NULL
            df <- cbind(df, m, note = note)
            rules <- vapply(m, function(v) if (is.numeric(v)) "mean" else
                "mode", character(1))
            at$names <- names(df)
            attributes(df) <- at[c("names", setdiff(names(at), "names"))]
            attr(df, "aggregate") <- c(agg, rules)
            prof <- df
        }
    }
    prof
}

# One row per image of the phenotype, growth pattern and TLS calls.
report_image_calls <- function(rep) {
    parts <- list()
    ok <- function(x) !is.null(x) && !report_failed(x)
    if (ok(rep$phenotype)) {
        ph <- as.data.frame(rep$phenotype)
        parts$phenotype <- data.frame(image = as.character(ph$image),
                                      immune_phenotype = ph$phenotype)
    }
    if (ok(rep$growth)) {
        g <- as.data.frame(rep$growth)
        parts$growth <- data.frame(image = as.character(g$image),
                                   growth_pattern = g$pattern)
    }
    if (ok(rep$tls)) {
        ts <- report_try(as.data.frame(summary(rep$tls)))
        if (!report_failed(ts) && "image" %in% names(ts)) {
            cols <- intersect(c("n_tls", "tls_per_mm2", "n_secondary"),
                              names(ts))
            if (length(cols)) {
                parts$tls <- data.frame(image = as.character(ts$image),
                                        ts[cols])
            }
        }
    }
    if (!length(parts)) return(NULL)
    Reduce(function(a, b) merge(a, b, by = "image", all = TRUE), parts)
}

# ---- rendering -----------------------------------------------------------

report_template <- function() {
    rmd <- system.file("report", "report.Rmd", package = "immunoscape")
    if (!nzchar(rmd)) {
        stop_immunoscape(c(
            "The report template is missing from the installed package.",
            "i" = "Reinstall immunoscape."
        ), class = "file")
    }
    rmd
}

report_knit <- function(rep, file, quiet) {
    work <- tempfile("immunoscape-report-")
    dir.create(work)
    on.exit(unlink(work, recursive = TRUE), add = TRUE)
    input <- file.path(work, "report.Rmd")
    file.copy(report_template(), input)
    html <- rmarkdown::render(
        input, output_file = basename(file), output_dir = dirname(file),
        intermediates_dir = work, knit_root_dir = work,
        params = list(report = rep), envir = new.env(parent = globalenv()),
        quiet = quiet
    )
    normalizePath(html, mustWork = TRUE)
}

# ---- helpers used by the template -----------------------------------------

# A data frame as an HTML table in a box that scrolls (sticky header), so
# that 250 rows take the room of about 15.
report_table <- function(df, caption = NULL, digits = 3, height = 420) {
    df <- as.data.frame(df)
    for (v in names(df)) {
        x <- df[[v]]
        if (is.numeric(x) && !is.integer(x) &&
            !all(x[is.finite(x)] == round(x[is.finite(x)]))) {
            df[[v]] <- ifelse(is.na(x), "", formatC(signif(x, digits),
                                                    format = "fg",
                                                    digits = digits,
                                                    big.mark = ","))
        } else if (is.numeric(x)) {
            df[[v]] <- ifelse(is.na(x), "", formatC(x, format = "d",
                                                    big.mark = ","))
        } else {
            x <- as.character(x)
            df[[v]] <- ifelse(is.na(x), "", x)
        }
    }
    align <- vapply(df, function(x) "l", character(1))
    tab <- knitr::kable(df, format = "html", row.names = FALSE,
                        caption = caption, escape = TRUE,
                        table.attr = "class=\"table table-condensed report-table\"")
    cls <- if (nrow(df) > 15L) "scroll-box" else "table-box"
    sprintf("\n<div class=\"%s\" style=\"max-height:%dpx\">\n%s\n</div>\n\n",
            cls, as.integer(height), paste(tab, collapse = "\n"))
}

# Text for a section that could not be computed.
report_error_text <- function(x, what) {
    sprintf(
        "\n<div class=\"alert alert-warning\">%s could not be computed: %s</div>\n\n",
        what, htmltools_escape(x$error))
}

htmltools_escape <- function(x) {
    x <- gsub("&", "&amp;", x, fixed = TRUE)
    x <- gsub("<", "&lt;", x, fixed = TRUE)
    gsub(">", "&gt;", x, fixed = TRUE)
}

# Figure height (inches) of a facetted map of n images.
report_map_height <- function(n, width = 10, aspect = 1) {
    ncol <- if (n <= 1L) 1L else if (n <= 4L) 2L else 3L
    nrow <- ceiling(n / ncol)
    max(4, min(14, 0.75 + nrow * aspect * width / ncol))
}
