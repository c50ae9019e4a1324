# Tertiary lymphoid structures: B-cell seeds linked into groups (C:
# src/tls.c), groups with a T-cell zone kept, outlined (the concave closing
# of R/window.R), staged by the follicular dendritic and germinal-centre
# cells inside the outline, and placed relative to the tumour border.

tls_maturity_levels <- c("aggregate", "primary", "secondary")
tls_location_levels <- c("intratumoral", "margin", "peritumoral", "distal")

# Settings for common panels: cell type names and thresholds. Anything the
# user passes explicitly wins over the preset.
tls_preset_table <- list(
    default = list(),
    simulated = list(b_cells = "B", gc = "GC B", fdc = "FDC",
                     t_cells = c("CD4 T", "CD8 T", "Treg")),
    vectra_lung = list(b_cells = c("B cell", "B cell (CD19+)"),
                       t_cells = c("CD4 T", "CD8 T", "CD4 T (CD4+)",
                                   "CD8 T (CD8+)")),
    mif_tls = list(b_cells = "CD20+", t_cells = c("CD3+", "CD8+", "CD4+"),
                   fdc = "CD21+", gc = "CD23+"),
    imc = list(b_cells = c("B cell", "B cells", "B"),
               t_cells = c("CD4 T cell", "CD8 T cell", "Treg", "T cell",
                           "CD4 T cells", "CD8 T cells", "T cells"),
               link = 15)
)

#' Settings of `detect_tls()` for common panels
#'
#' Presets name the cell types of common multiplex panels and, where the
#' resolution differs, the linkage distance. Pass the name as `preset` to
#' [detect_tls()]; any argument given explicitly overrides the preset.
#'
#' * `"default"`: the defaults of [detect_tls()] (B cells typed `"B"`; no
#'   staging markers).
#' * `"simulated"`: the type names of [simulate_tme()]: `"B"` and
#'   `"GC B"` seeds, T cells `"CD4 T"`, `"CD8 T"`, `"Treg"`, follicular
#'   dendritic cells `"FDC"`, germinal-centre B cells `"GC B"`.
#' * `"vectra_lung"`: the Vectra 3 lung panel of the NSCLC cohort of
#'   Johnson et al. (2021) (CD19: `"B cell (CD19+)"`; `"CD4 T (CD4+)"`,
#'   `"CD8 T (CD8+)"`, or the same names without the marker), no staging
#'   markers.
#' * `"mif_tls"`: a TLS staging panel in the style of Vanhersecke et al.
#'   (2021): CD20 B cells (`"CD20+"`), CD3/CD4/CD8 T cells, CD21+
#'   follicular dendritic cells, CD23+ germinal-centre B cells.
#' * `"imc"`: common imaging mass cytometry type names (1 um pixels, cells
#'   packed more tightly: `link = 15`).
#'
#' @param name A preset name; `NULL` lists them.
#' @returns A named list of [detect_tls()] arguments (or, for `NULL`, the
#'   names of the presets).
#' @export
#' @examples
#' tls_preset()
#' tls_preset("mif_tls")
tls_preset <- function(name = NULL) {
    if (is.null(name)) return(names(tls_preset_table))
    name <- check_choice(name, names(tls_preset_table))
    tls_preset_table[[name]]
}

#' Detect tertiary lymphoid structures
#'
#' Finds B-cell aggregates with an adjacent T-cell zone in every image,
#' outlines them, counts the cells inside, stages their maturity and, given
#' tumour regions, places them relative to the tumour border.
#'
#' The steps, per image:
#'
#' 1. **Seeds.** Cells of the `b_cells` types (and the `gc` types, which
#'    are germinal-centre B cells) are linked when their distance is at
#'    most `link` microns (a distance equal to `link` links); the connected
#'    groups of this graph (single linkage, the same partition as
#'    `dbscan::dbscan(eps = link, minPts = 1)`) are found by union-find on
#'    the spatial index in C, in O(n) memory.
#' 2. **Candidates.** A group is a TLS when it has at least `min_b` seeds
#'    and at least `min_t` cells of the `t_cells` types lie within
#'    `t_radius` microns of one of its seeds (the T-cell zone).
#' 3. **Extent.** The shape of a TLS is its seeds plus its T-cell zone:
#'    the T cells within `t_radius` of its seeds that are linked (within
#'    `link`, directly or through other such T cells) to a seed, so that
#'    a dense T-cell cuff counts and isolated T cells nearby do not. The
#'    outline is the closing of these cells with a disc of radius
#'    `max(link, buffer)` (the concave window of [tissue_window()]: gaps
#'    the linkage bridged are filled, holes wider than the disc stay),
#'    grown by `buffer` microns, traced on a raster of `max(link,
#'    buffer) / 10` microns (2 at the defaults): the outline lies up to
#'    about a third of a pixel outside the exact one (TLS areas 1 to 3%
#'    larger, a cell or two more per TLS). Every cell inside the outline (of any
#'    type) is a member. A TLS whose seeds fall inside the outline of a
#'    larger one is merged into it; otherwise a cell inside two outlines
#'    belongs to the TLS with more seeds.
#' 4. **Maturity** (needs `fdc` and/or `gc`): `"secondary"` (secondary
#'    follicle-like, a germinal centre) when at least `min_gc` members are
#'    `gc` cells; otherwise `"primary"` (primary follicle-like) when at
#'    least `min_fdc` members are follicular dendritic cells (`fdc`);
#'    otherwise `"aggregate"` (lymphoid aggregate / early TLS). Without
#'    either marker the maturity is `NA`.
#' 5. **Location** (needs `regions`): from the signed distances to the
#'    tumour border (negative inside the tumour) of the members (their
#'    range `border_min` .. `border_max`) and of the centroid
#'    (`border_distance`): `"intratumoral"` when every member is inside
#'    the tumour deeper than `margin`; `"margin"` when a member lies within
#'    `margin` of the border or the TLS spans it; `"peritumoral"` when
#'    every member is outside beyond `margin` and the centroid at most
#'    `distal` microns away; `"distal"` beyond. The signed distance comes
#'    from `region_signed_distance()` of the tumour-region family when the
#'    package has it, otherwise from the region polygons directly (the
#'    same quantity).
#'
#' @section Defaults and the literature:
#' A TLS is an organised aggregate of B cells (CD20+ or CD19+) forming a
#' follicle with an adjacent T-cell zone (CD3+, mostly CD4+), high
#' endothelial venules and, when mature, a network of CD21+ follicular
#' dendritic cells and a germinal centre (Sautes-Fridman et al. 2019;
#' Schumacher & Thommen 2022). Detecting them from single-cell coordinates
#' by linking neighbouring lymphocytes into graphs was shown by Schaadt et
#' al. (2020). The defaults translate this into cell-table terms:
#' `link = 20` um (about two cell diameters: B cells of a follicle touch,
#' scattered B cells in tumour are usually much farther apart), `min_b =
#' 50` linked B cells (a follicle of a few cell layers; smaller clusters
#' are reported only when asked for with a smaller `min_b`), `min_t = 20`
#' T cells within `t_radius = 100` um (the T-cell zone cuffs the follicle
#' over roughly 50 to 150 um), `buffer = 15` um (about one cell).
#' TLS are a few hundred microns to about 2 mm across, which bounds the two
#' distances that shape an outline (larger values are errors of class
#' `immunoscape_error_radius`): `link` at most 500 um (25 times the
#' default, wider than a follicle of 200 to 500 um: a longer link chains
#' separate aggregates and scattered B cells across the section into one
#' "TLS") and `buffer` at most 250 um (the outline is then 0.5 mm wider
#' than its cells, a quarter of the largest TLS; beyond that an outline
#' and its members are mostly the buffer, and its area can exceed the
#' image). `t_radius`, `margin` and `distal` only select and place TLS
#' (they do not grow outlines) and may be any finite distance. Maturity
#' follows the staging of Silina et al. (2018) and Vanhersecke et al.
#' (2021): early TLS / lymphoid aggregates without follicular dendritic
#' cells, primary follicle-like TLS with a CD21+ FDC network, secondary
#' follicle-like TLS with a CD23+ (or BCL6+) germinal centre. The FDC and
#' GC thresholds (`min_fdc = 5`, `min_gc = 10` cells) ask for a network or
#' a centre, not a single positive cell. `margin = 100` um calls a TLS
#' "margin" when it touches the tumour-stroma interface (a few cell
#' layers either side of the border) and `distal = 1000` um separates
#' peritumoral TLS from those more than 1 mm away. On the Vectra NSCLC
#' cohort (tumour compartment only, scattered B cells) the defaults find a
#' single small aggregate in 247 fields. The vignette `vignette("tls")`
#' compares parameter choices on simulated and real data.
#'
#' @param cells A `spatial_cells` object.
#' @param b_cells Cell types of B cells (the seeds).
#' @param t_cells Cell types of T cells (the T-cell zone). Types absent
#'   from the data are ignored.
#' @param link Linkage distance in microns: seeds at most this far apart
#'   belong to the same group. More than 0 and at most 500 (see Defaults
#'   and the literature).
#' @param min_b Smallest number of seeds of a TLS.
#' @param min_t Smallest number of T cells within `t_radius` of the seeds.
#' @param t_radius Reach of the T-cell zone beyond the seeds, in microns.
#' @param buffer Microns the outline extends beyond the closing of the
#'   seeds; at most 250 (see Defaults and the literature).
#' @param fdc Follicular dendritic cells: `NULL` (not typed), a character
#'   vector of cell types, or a one-sided formula evaluated in the columns
#'   of `cells`, e.g. `~ CD21 > 3` (a marker rule; cells where it is `TRUE`).
#' @param gc Germinal-centre B cells, as `fdc` (e.g. `"GC B"` or
#'   `~ CD23 > 2 | BCL6 > 2`). Cells of `gc` types are seeds too.
#' @param regions Optional tumour regions: the result of `tumor_regions()`
#'   or any polygon data frame in the tissue-window vertex format (columns
#'   `image`, `polygon`, `ring`, `hole`, `x`, `y`), for the location of
#'   each TLS. Images without regions (e.g. no tumour found) get `NA`
#'   locations and a note in `attr(, "notes")`.
#' @param ... Unused; a misspelled argument is an error.
#' @param min_fdc,min_gc Smallest numbers of FDC and GC members for the
#'   primary and secondary stages.
#' @param margin,distal Location thresholds in microns (see Details).
#' @param preset `NULL` or a name of [tls_preset()]: panel settings used
#'   for every argument not given explicitly.
#' @param BPPARAM `NULL` (serial, with a progress bar) or a BiocParallel
#'   parameter object.
#' @param nthreads Number of OpenMP threads; results do not depend on it.
#' @returns An `immunoscape_tls` object, a list of data frames:
#'   * `tls`: one row per TLS: `image`, `tls_id` (1 = most seeds),
#'     `n_cells` (members), `n_b` (B-cell members, `gc` included), `n_t`,
#'     `n_fdc`, `n_gc`, `n_seeds`, `n_t_zone` (T cells within `t_radius`
#'     of the seeds), `area_mm2` (of the outline, within the tissue
#'     window), centroid `x`, `y` (mean of the members),
#'     `bt_ratio` (`n_b / n_t`), `maturity`, `location`,
#'     `border_distance` (of the centroid; um, negative inside the
#'     tumour), `border_min`, `border_max` (range over the members);
#'   * `members`: one row per member cell: `image`, `cell_id`, `tls_id`,
#'     `type`;
#'   * `composition`: `image`, `tls_id`, `type`, `n`: members by type;
#'   * `outlines`: polygon vertices `image`, `tls_id`, `polygon`, `ring`,
#'     `hole`, `x`, `y`;
#'   * `images`: per image `n_tls`, `n_aggregate`, `n_primary`,
#'     `n_secondary`, `area_mm2` (window), `tls_per_mm2`, `n_b`,
#'     `frac_b_in_tls`, and with `regions`: `tumor_area_mm2`,
#'     `tls_per_mm2_tumor` (intratumoral TLS per mm^2 of tumour) and
#'     `tls_per_mm2_stroma` (the others per mm^2 of non-tumour tissue).
#'   Attributes hold the settings, the windows, per-image problems and,
#'   with `regions`, `notes` (`image`, `note`: the images without a tumour
#'   region, whose TLS have `NA` locations).
#' @references
#' Sautes-Fridman C, Petitprez F, Calderaro J, Fridman WH (2019). Tertiary
#' lymphoid structures in the era of cancer immunotherapy. *Nature Reviews
#' Cancer* 19:307-325.
#'
#' Silina K, Soltermann A, Attar FM, et al. (2018). Germinal centers
#' determine the prognostic relevance of tertiary lymphoid structures and
#' are impaired by corticosteroids in lung squamous cell carcinoma.
#' *Cancer Research* 78:1308-1320.
#'
#' Vanhersecke L, Brunet M, Guegan JP, et al. (2021). Mature tertiary
#' lymphoid structures predict immune checkpoint inhibitor efficacy in
#' solid tumors independently of PD-L1 expression. *Nature Cancer*
#' 2:794-802.
#'
#' Schaadt NS, Schonmeyer R, Forestier G, et al. (2020). Graph-based
#' description of tertiary lymphoid organs at single-cell level. *PLoS
#' Computational Biology* 16:e1007385.
#'
#' Schumacher TN, Thommen DS (2022). Tertiary lymphoid structures in
#' cancer. *Science* 375:eabf9419.
#' @seealso [tls_preset()], [plot_cells()] with `tls = `.
#' @export
#' @examples
#' set.seed(1)
#' bg <- data.frame(x = runif(1500, 0, 800), y = runif(1500, 0, 800),
#'                  type = sample(c("Tumor", "CD8 T", "B"), 1500, TRUE,
#'                                c(0.85, 0.1, 0.05)))
#' a <- runif(150, 0, 2 * pi)
#' r <- 60 * sqrt(runif(150))
#' fol <- data.frame(x = 400 + r * cos(a), y = 400 + r * sin(a), type = "B")
#' a <- runif(120, 0, 2 * pi)
#' r <- 60 + 40 * sqrt(runif(120))
#' tz <- data.frame(x = 400 + r * cos(a), y = 400 + r * sin(a),
#'                  type = "CD8 T")
#' cells <- spatial_cells(rbind(bg, fol, tz))
#' tls <- detect_tls(cells, t_cells = "CD8 T")
#' tls
#' summary(tls)
detect_tls <- function(cells, b_cells = "B",
                       t_cells = c("T", "CD4 T", "CD8 T", "Treg"),
                       link = 20, min_b = 50, min_t = 20, t_radius = 100,
                       buffer = 15, fdc = NULL, gc = NULL, regions = NULL,
                       ..., min_fdc = 5, min_gc = 10, margin = 100,
                       distal = 1000, preset = NULL, BPPARAM = NULL,
                       nthreads = immunoscape_threads()) {
    check_dots(...)
    cells <- check_cells(cells)
    if (!is.null(preset)) {
        pre <- tls_preset(preset)
        given <- names(match.call())[-1]
        for (nm in setdiff(names(pre), given)) {
            assign(nm, pre[[nm]])
        }
    }
    b_cells <- check_tls_types(b_cells)
    t_cells <- check_tls_types(t_cells)
    link <- check_radius(link)
    t_radius <- check_radius(t_radius)
    buffer <- check_radius(buffer)
    tls_check_max(link, tls_max_link,
                  "For example {.code link = 20} (about two cell diameters).")
    tls_check_max(buffer, tls_max_buffer,
                  "For example {.code buffer = 15} (about one cell).")
    margin <- check_radius(margin)
    distal <- check_radius(distal)
    min_b <- check_count(min_b, "min_b")
    min_t <- check_count(min_t, "min_t", min = 0L)
    min_fdc <- check_count(min_fdc, "min_fdc")
    min_gc <- check_count(min_gc, "min_gc")
    nthreads <- check_nthreads(nthreads)
    if (!(link > 0)) {
        stop_immunoscape(c(
            "{.arg link} must be > 0 microns.",
            "i" = "For example {.code link = 20} (about two cell diameters)."
        ), class = "radius")
    }
    if (distal < margin) {
        stop_immunoscape(c(
            "{.arg distal} ({distal}) must be at least {.arg margin} ({margin}) microns.",
            "i" = "Peritumoral TLS lie between {.arg margin} and {.arg distal} microns outside the tumour."
        ), class = "argument")
    }
    is_fdc <- tls_rule(cells, fdc, "fdc")
    is_gc <- tls_rule(cells, gc, "gc")
    present <- types_present(cells)
    gc_types <- if (is.character(gc)) gc
    seed_types <- unique(c(b_cells, gc_types))
    # a misnamed B- or T-cell type is an error, not zero TLS; a panel
    # without them gets a note
    explicit <- c(names(match.call())[-1],
                  if (!is.null(preset)) names(tls_preset(preset)))
    # (not when spatial_profile() calls it on one image of a cohort whose
    # types it has checked: a type of the cohort may be absent there)
    roles <- !isFALSE(getOption("immunoscape.check_roles"))
    b_role <- check_role_types(b_cells, "b_cells", present,
                               explicit = "b_cells" %in% explicit,
                               used = roles && !any(gc_types %in% present))
    # T cells matter once there are seeds (or the B-cell type is wrong too)
    t_role <- check_role_types(t_cells, "t_cells", present,
                               explicit = "t_cells" %in% explicit,
                               used = roles && min_t > 0 &&
                                   (any(seed_types %in% present) ||
                                    !is.null(b_role$error)))
    finish_role_types(list(b_cells = b_role, t_cells = t_role),
                      call = rlang::current_env())
    notes <- NULL
    if (!is.null(regions)) {
        # vertex polygons, validated and oriented (window_rings() format);
        # tumor_regions() results are, and may have no polygon in an image
        # (or in any): those images get NA locations and a note
        # (as_regions() for polygon data frames, which marks the outline
        # along the image edge, not a tumour border)
        regions <- check_regions(regions, cells)
        notes <- regions_notes(regions, levels(cells$image), cells = cells)
    }
    par <- list(seed_types = seed_types, t_types = t_cells, link = link,
                min_b = min_b, min_t = min_t, t_radius = t_radius,
                buffer = buffer, min_fdc = min_fdc, min_gc = min_gc,
                staged = !is.null(fdc) || !is.null(gc), margin = margin,
                distal = distal, nthreads = nthreads)
    cells$.fdc <- is_fdc
    cells$.gc <- is_gc
    cells$.seed <- cells$type %in% seed_types
    windows <- attr(cells, "windows")
    areas <- window_areas(cells) / 1e6

    res <- map_images(cells, function(sub, image) {
        one <- tls_image(sub, image, par, unname(areas[image]), regions)
        data.frame(image = image, part = I(list(one)))
    }, BPPARAM = BPPARAM, label = "TLS")
    problems <- attr(res, "problems")
    parts <- res$part
    pick <- function(what, empty) {
        d <- lapply(parts, `[[`, what)
        out <- if (length(d)) do.call(rbind, d) else empty
        if (!nrow(out)) out <- empty
        out$image <- factor(as.character(out$image),
                            levels = levels(cells$image))
        rownames(out) <- NULL
        out
    }
    tls <- pick("tls", tls_empty_table())
    tls$maturity <- factor(tls$maturity, levels = tls_maturity_levels)
    tls$location <- factor(tls$location, levels = tls_location_levels)
    out <- list(
        tls = tls,
        members = pick("members", data.frame(image = character(),
                                             cell_id = cells$cell_id[0],
                                             tls_id = integer(),
                                             type = cells$type[0])),
        composition = pick("composition",
                           data.frame(image = character(),
                                      tls_id = integer(),
                                      type = character(), n = integer())),
        outlines = pick("outlines",
                        data.frame(image = character(), tls_id = integer(),
                                   polygon = integer(), ring = integer(),
                                   hole = logical(), x = double(),
                                   y = double())),
        images = pick("images", tls_empty_images(!is.null(regions)))
    )
    # every image has its row: one without cells (or left out by an error,
    # see attr "problems") has NA counts, and a note when empty
    lv <- levels(cells$image)
    out$images <- complete_images(out$images, lv, function(miss) {
        na <- out$images[rep(NA_integer_, length(miss)), , drop = FALSE]
        na$image <- factor(miss, levels = lv)
        na
    })
    empty <- lv[tabulate(cells$image, length(lv)) == 0L]
    notes <- notes %||% data.frame(image = empty,
                                   note = rep("no cells in this image",
                                              length(empty)))
    out <- lapply(out, carry_groups, cells)
    structure(out, class = "immunoscape_tls",
              settings = par[setdiff(names(par), "nthreads")],
              has_regions = !is.null(regions), windows = windows,
              regions = regions, notes = notes,
              problems = problems)
}

# Upper bounds of the distances that shape a TLS outline (microns); see
# ?detect_tls, "Defaults and the literature".
tls_max_link <- 500
tls_max_buffer <- 250

# A distance of detect_tls() beyond its documented bound: a classed error
# naming the argument, why, and a typical value.
tls_check_max <- function(value, max, example,
                          arg = rlang::caller_arg(value),
                          call = rlang::caller_env()) {
    if (value <= max) return(invisible(value))
    stop_immunoscape(c(
        "{.arg {arg}} must be at most {max} microns, not {.val {format(value)}}.",
        "x" = "TLS are at most about 2 mm across; a larger {.arg {arg}} joins or outlines tissue regions, not TLS (see {.help immunoscape::detect_tls}).",
        "i" = example
    ), class = "radius", call = call)
}

# Cell types of a role: a character vector (absent types are allowed).
check_tls_types <- function(types, arg = rlang::caller_arg(types),
                            call = rlang::caller_env()) {
    if (is.factor(types)) types <- as.character(types)
    if (!is.character(types) || !length(types) || anyNA(types)) {
        stop_immunoscape(c(
            "{.arg {arg}} must be a character vector of cell types.",
            "i" = "For example {.code {arg} = \"B\"}."
        ), class = "type", call = call)
    }
    unique(types)
}

# Which cells a staging rule (`fdc`, `gc`) selects: NULL (none), cell
# types, or a one-sided formula evaluated in the columns of the cells.
tls_rule <- function(cells, rule, arg, call = rlang::caller_env()) {
    n <- nrow(cells)
    if (is.null(rule)) return(rep(FALSE, n))
    if (is.factor(rule)) rule <- as.character(rule)
    if (is.character(rule) && length(rule) && !anyNA(rule)) {
        return(cells$type %in% rule)
    }
    if (inherits(rule, "formula") && length(rule) == 2L) {
        v <- tryCatch(eval(rule[[2]], as.data.frame(cells),
                           environment(rule)),
                      error = function(e) {
                          stop_immunoscape(c(
                              "The rule {.arg {arg}} = {.code {format(rule)}} could not be evaluated in the columns of {.arg cells}.",
                              "x" = conditionMessage(e),
                              "i" = "Columns: {.val {utils::head(names(cells), 30)}}."
                          ), class = "column", call = call)
                      })
        if (!is.logical(v) || length(v) != n) {
            stop_immunoscape(c(
                "The rule {.arg {arg}} = {.code {format(rule)}} must give one TRUE/FALSE per cell.",
                "i" = "For example {.code ~ CD21 > 3}."
            ), class = "argument", call = call)
        }
        v[is.na(v)] <- FALSE
        return(v)
    }
    stop_immunoscape(c(
        "{.arg {arg}} must be NULL, cell types, or a one-sided formula such as {.code ~ CD21 > 3}.",
        "x" = "It is {.obj_type_friendly {rule}}."
    ), class = "argument", call = call)
}

tls_empty_table <- function() {
    data.frame(image = character(), tls_id = integer(), n_cells = integer(),
               n_b = integer(), n_t = integer(), n_fdc = integer(),
               n_gc = integer(), n_seeds = integer(), n_t_zone = integer(),
               area_mm2 = double(), x = double(), y = double(),
               bt_ratio = double(), maturity = character(),
               location = character(), border_distance = double(),
               border_min = double(), border_max = double())
}

tls_empty_images <- function(regions) {
    d <- data.frame(image = character(), n_tls = integer(),
                    n_aggregate = integer(), n_primary = integer(),
                    n_secondary = integer(), area_mm2 = double(),
                    tls_per_mm2 = double(), n_b = integer(),
                    frac_b_in_tls = double())
    if (regions) {
        d$tumor_area_mm2 <- double()
        d$tls_per_mm2_tumor <- double()
        d$tls_per_mm2_stroma <- double()
    }
    d
}

# Connected groups of points at most `link` apart: labels 1, 2, ...
# numbered by the first point of each group (C: ffi_tls_link()).
tls_link <- function(x, y, link, nthreads = immunoscape_threads()) {
    .Call(ffi_tls_link, as.numeric(x), as.numeric(y), as.numeric(link),
          as.integer(nthreads))
}

# Per group: the number of points (tx, ty) within r of a seed (bx, by) of
# the group; per point: the smallest such group (0: none).
tls_t_counts <- function(bx, by, lab, ngroup, tx, ty, r,
                         nthreads = immunoscape_threads()) {
    .Call(ffi_tls_near, as.numeric(bx), as.numeric(by), as.integer(lab),
          as.numeric(tx), as.numeric(ty), as.numeric(r), as.integer(ngroup),
          as.integer(nthreads))
}

# The cells that shape a TLS: its seeds, and the T cells within t_radius
# of them that are linked to a seed (directly or through other such T
# cells) -- the dense T-cell zone, not isolated T cells nearby.
tls_zone <- function(sub, seeds, tcells, link, nthreads) {
    if (!length(tcells)) return(seeds)
    i <- c(seeds, tcells)
    lab <- tls_link(sub$x[i], sub$y[i], link, nthreads)
    i[lab %in% lab[seq_along(seeds)]]
}

# The outline of one group of seeds: closing with a disc of
# max(link, buffer), grown by buffer (at least 1.5 raster pixels, so every
# seed is inside), on a raster of radius / 10 (2 um at the default link)
# and at most about 4e6 pixels. Rasters of TLS size run on one thread:
# starting threads would cost more than the work.
tls_outline <- function(x, y, link, buffer, nthreads) {
    radius <- max(link, buffer)
    ext <- (diff(range(x)) + 2 * radius) * (diff(range(y)) + 2 * radius)
    pixel <- max(radius / 10, sqrt(ext / 4e6))
    margin <- min(radius, max(buffer, 1.5 * pixel))
    nth <- if (ext / pixel^2 < 1e6) 1L else nthreads
    concave_rings(x, y, radius, pixel, margin, nth)
}

# Row numbers of the cells in each square of side `side` (for the cells
# near an outline without a pass over all cells per TLS).
tls_buckets <- function(x, y, side) {
    x0 <- min(x)
    y0 <- min(y)
    nx <- floor((max(x) - x0) / side) + 1
    ny <- floor((max(y) - y0) / side) + 1
    key <- floor((y - y0) / side) * nx + floor((x - x0) / side)
    o <- order(key)
    start <- c(0L, cumsum(tabulate(key + 1, nx * ny)))
    list(x0 = x0, y0 = y0, nx = nx, ny = ny, side = side, o = o,
         start = start)
}

tls_bucket_rows <- function(b, xr, yr) {
    cx <- pmin(pmax(floor((xr - b$x0) / b$side), 0), b$nx - 1)
    cy <- pmin(pmax(floor((yr - b$y0) / b$side), 0), b$ny - 1)
    rows <- lapply(seq(cy[1], cy[2]), function(r) {
        k0 <- r * b$nx + cx[1]
        k1 <- r * b$nx + cx[2]
        lo <- b$start[k0 + 1] + 1
        hi <- b$start[k1 + 2]
        if (hi >= lo) b$o[lo:hi] else integer()
    })
    unlist(rows, use.names = FALSE)
}

# Signed distance (um, negative inside) of points to the border of the
# tumour regions of one image; NA when the image has no region. Uses the
# tissue family's region_signed_distance() when the package has it.
tls_border_distance <- function(regions, image, x, y, nthreads) {
    f <- get0("region_signed_distance", envir = topenv(), mode = "function",
              inherits = FALSE)
    if (!is.null(f)) return(f(regions, image, x, y, nthreads))
    r <- window_rings(regions, image)
    if (!window_has_rings(r)) return(rep(NA_real_, length(x)))
    d <- window_bdist(regions, image, x, y, nthreads)
    inside <- window_inside(regions, image, x, y)
    ifelse(inside, -d, d)
}

# Location of TLS from the signed distances to the tumour border of their
# centroid (d) and of their members (range lo..hi): inside the tumour
# deeper than `margin` (intratumoral), reaching within `margin` of the
# border or across it (margin), outside beyond `margin` with the centroid
# at most `distal` away (peritumoral), farther (distal).
tls_location <- function(d, lo, hi, margin, distal) {
    loc <- ifelse(hi < -margin, "intratumoral",
           ifelse(lo <= margin, "margin",
           ifelse(d <= distal, "peritumoral", "distal")))
    loc[is.na(d) | is.na(lo) | is.na(hi)] <- NA_character_
    loc
}

# All tables of one image.
tls_image <- function(sub, image, par, area, regions) {
    nth <- par$nthreads
    seeds <- which(sub$.seed)
    n_tls <- 0L
    tls <- tls_empty_table()
    members <- data.frame(image = character(), cell_id = sub$cell_id[0],
                          tls_id = integer(), type = sub$type[0])
    outlines <- data.frame(image = character(), tls_id = integer(),
                           polygon = integer(), ring = integer(),
                           hole = logical(), x = double(), y = double())
    if (length(seeds) >= par$min_b) {
        lab <- tls_link(sub$x[seeds], sub$y[seeds], par$link, nth)
        nb <- tabulate(lab)
        big <- which(nb >= par$min_b)
        if (length(big)) {
            keep <- lab %in% big
            s <- seeds[keep]
            g <- match(lab[keep], big)
            ti <- which(sub$type %in% par$t_types)
            tz <- tls_t_counts(sub$x[s], sub$y[s], g, length(big),
                               sub$x[ti], sub$y[ti], par$t_radius, nth)
            nt <- tz[[1]]
            ok <- which(nt >= par$min_t)
            # ids: most seeds first (ties: first seen)
            ok <- ok[order(-nb[big[ok]], ok)]
            n_tls <- length(ok)
            if (n_tls) {
                parts <- tls_extent(sub, image, s, g, ok, nt[ok], ti, par)
                tls <- parts$tls
                members <- parts$members
                outlines <- parts$outlines
            }
        }
    }
    if (n_tls && !is.null(regions)) {
        tls$border_distance <- tls_border_distance(regions, image, tls$x,
                                                   tls$y, nth)
        m <- match(members$cell_id, sub$cell_id)
        dm <- tls_border_distance(regions, image, sub$x[m], sub$y[m], nth)
        f <- factor(members$tls_id, levels = tls$tls_id)
        if (!all(is.na(dm))) {
            tls$border_min <- as.numeric(tapply(dm, f, min))
            tls$border_max <- as.numeric(tapply(dm, f, max))
        }
        tls$location <- tls_location(tls$border_distance, tls$border_min,
                                     tls$border_max, par$margin, par$distal)
    }
    composition <- if (nrow(members)) {
        tab <- as.data.frame(table(tls_id = members$tls_id,
                                   type = as.character(members$type)),
                             stringsAsFactors = FALSE)
        tab <- tab[tab$Freq > 0, , drop = FALSE]
        tab <- tab[order(as.integer(tab$tls_id), tab$type), , drop = FALSE]
        data.frame(image = rep(image, nrow(tab)),
                   tls_id = as.integer(tab$tls_id), type = tab$type,
                   n = as.integer(tab$Freq))
    } else {
        data.frame(image = character(), tls_id = integer(),
                   type = character(), n = integer())
    }
    list(tls = tls, members = members, composition = composition,
         outlines = outlines,
         images = tls_image_summary(sub, image, tls, area, regions))
}

# Members of outlines (rings: one vertex data frame per TLS, larger TLS
# first): owner[cell] = the first TLS whose outline holds the cell (0:
# none); area of each outline (um^2).
tls_owners <- function(sub, rings) {
    span <- max(vapply(rings, function(w) {
        max(diff(range(w$x)), diff(range(w$y)))
    }, numeric(1)))
    buckets <- tls_buckets(sub$x, sub$y, max(span, 50))
    owner <- integer(nrow(sub))
    area <- double(length(rings))
    for (k in seq_along(rings)) {
        w <- rings[[k]]
        rs <- ring_starts(w)
        area[k] <- .Call(ffi_window_area, w$x, w$y, rs)
        cand <- tls_bucket_rows(buckets, range(w$x), range(w$y))
        cand <- cand[owner[cand] == 0L]
        if (!length(cand)) next
        ins <- .Call(ffi_window_inside, sub$x[cand], sub$y[cand], w$x, w$y,
                     rs)
        owner[cand[ins]] <- k
    }
    list(owner = owner, area = area)
}

# Areas of the TLS outlines within the tissue window: an outline that
# reaches beyond the window (a TLS at the edge of a field or core, whose
# buffer overhangs it) counts only its part in the tissue.
tls_window_area <- function(area, rings, windows, image, nthreads) {
    if (is.null(windows) || !window_has_rings(window_rings(windows, image))) {
        return(area)
    }
    for (k in seq_along(rings)) {
        r <- rings[[k]]
        if (all(window_inside(windows, image, r$x, r$y))) next
        r$image <- factor(rep(image, nrow(r)))
        a <- region_band_areas(r, windows, image, 0, nthreads = nthreads)
        if (is.finite(a[1])) area[k] <- min(area[k], a[1])
    }
    area
}

# For each group of seeds (a list of row numbers of `sub`), the T cells
# (rows `ti`) within `r` microns of one of its seeds; T cells are looked up
# in squares of side r around the group's box, not over the image.
tls_near_t <- function(sub, seeds, ti, r, nthreads) {
    if (!length(ti)) return(lapply(seeds, function(k) integer()))
    b <- tls_buckets(sub$x[ti], sub$y[ti], max(r, 1))
    lapply(seeds, function(k) {
        sx <- sub$x[k]
        sy <- sub$y[k]
        cand <- tls_bucket_rows(b, range(sx) + c(-r, r), range(sy) + c(-r, r))
        if (!length(cand)) return(integer())
        ns <- length(k)
        near <- near_type(c(sx, sub$x[ti[cand]]), c(sy, sub$y[ti[cand]]),
                          to = rep(c(TRUE, FALSE), c(ns, length(cand))),
                          from = rep(c(FALSE, TRUE), c(ns, length(cand))),
                          r = r, nthreads = nthreads)
        sort(ti[cand][near[ns + seq_along(cand)]])
    })
}

# Outlines, members and the TLS table of the kept groups `ok` (seeds
# s with group numbers g; T cells ti; n_t_zone: T cells within t_radius).
tls_extent <- function(sub, image, s, g, ok, n_t_zone, ti, par) {
    nth <- par$nthreads
    seeds <- unname(split(s, factor(g, levels = ok)))
    # the T cells within t_radius of each group's seeds, whichever other
    # group they are near too (the zone does not depend on the order of
    # the cells)
    tz <- tls_near_t(sub, seeds, ti, par$t_radius, nth)
    zones <- lapply(seq_along(ok), function(k) {
        tls_zone(sub, seeds[[k]], tz[[k]], par$link, nth)
    })
    outline <- function(k) {
        i <- zones[[k]]
        tls_outline(sub$x[i], sub$y[i], par$link, par$buffer, nth)
    }
    rings <- lapply(seq_along(zones), outline)
    repeat {
        n_tls <- length(zones)
        own <- tls_owners(sub, rings)
        owner <- own$owner
        # a TLS whose seeds lie in the outline of a larger one (visited
        # first, so with a smaller number) joins it, and its outline is
        # drawn again
        into <- vapply(seq_len(n_tls), function(k) {
            o <- owner[seeds[[k]]]
            o <- o[o > 0L & o != k]
            if (length(o)) min(o) else k
        }, integer(1))
        if (all(into == seq_len(n_tls))) break
        root <- into
        repeat {
            nxt <- root[root]
            if (identical(nxt, root)) break
            root <- nxt
        }
        merged <- unique(root[root != seq_len(n_tls)])
        f <- factor(root)
        seeds <- lapply(split(seeds, f), unlist, use.names = FALSE)
        zones <- lapply(split(zones, f), function(z) {
            unique(unlist(z, use.names = FALSE))
        })
        tz <- lapply(split(tz, f), function(z) {
            unique(unlist(z, use.names = FALSE))
        })
        rings <- rings[as.integer(levels(f))]
        # T cells near two merged parts count once
        n_t_zone <- lengths(tz)
        redo <- which(as.integer(levels(f)) %in% merged)
        rings[redo] <- lapply(redo, outline)
        o <- order(-lengths(seeds), seq_along(seeds))
        seeds <- unname(seeds[o])
        zones <- unname(zones[o])
        tz <- unname(tz[o])
        rings <- unname(rings[o])
        n_t_zone <- n_t_zone[o]
    }
    for (k in seq_along(rings)) rings[[k]]$tls_id <- rep(k, nrow(rings[[k]]))
    area <- tls_window_area(own$area, rings, attr(sub, "windows"), image,
                            nth)
    mem <- which(owner > 0L)
    tid <- owner[mem]
    is_b <- sub$.seed[mem]
    is_t <- sub$type[mem] %in% par$t_types
    cnt <- function(v) tabulate(tid[v], n_tls)
    n_cells <- tabulate(tid, n_tls)
    n_b <- cnt(is_b)
    n_t <- cnt(is_t)
    n_fdc <- cnt(sub$.fdc[mem])
    n_gc <- cnt(sub$.gc[mem])
    maturity <- if (par$staged) {
        ifelse(n_gc >= par$min_gc, "secondary",
               ifelse(n_fdc >= par$min_fdc, "primary", "aggregate"))
    } else {
        rep(NA_character_, n_tls)
    }
    cx <- as.numeric(tapply(sub$x[mem], factor(tid, seq_len(n_tls)), mean))
    cy <- as.numeric(tapply(sub$y[mem], factor(tid, seq_len(n_tls)), mean))
    tls <- data.frame(image = rep(image, n_tls), tls_id = seq_len(n_tls),
                      n_cells = n_cells, n_b = n_b, n_t = n_t,
                      n_fdc = n_fdc, n_gc = n_gc,
                      n_seeds = lengths(seeds),
                      n_t_zone = as.integer(n_t_zone), area_mm2 = area / 1e6,
                      x = cx, y = cy,
                      bt_ratio = ifelse(n_t > 0, n_b / n_t, NA_real_),
                      maturity = maturity,
                      location = rep(NA_character_, n_tls),
                      border_distance = rep(NA_real_, n_tls),
                      border_min = rep(NA_real_, n_tls),
                      border_max = rep(NA_real_, n_tls))
    o <- order(tid, mem)
    members <- data.frame(image = rep(image, length(mem)),
                          cell_id = sub$cell_id[mem][o], tls_id = tid[o],
                          type = sub$type[mem][o])
    outlines <- do.call(rbind, rings)
    outlines$image <- rep(image, nrow(outlines))
    outlines <- outlines[c("image", "tls_id", "polygon", "ring", "hole",
                           "x", "y")]
    list(tls = tls, members = members, outlines = outlines)
}

# Per-image counts and densities (area: the window's, mm^2).
tls_image_summary <- function(sub, image, tls, area, regions) {
    mat <- as.character(tls$maturity)
    n_b <- sum(sub$.seed)
    d <- data.frame(image = image, n_tls = nrow(tls),
                    n_aggregate = sum(mat %in% "aggregate"),
                    n_primary = sum(mat %in% "primary"),
                    n_secondary = sum(mat %in% "secondary"),
                    area_mm2 = area, tls_per_mm2 = nrow(tls) / area,
                    n_b = n_b,
                    frac_b_in_tls = if (n_b > 0) sum(tls$n_b) / n_b else
                        NA_real_)
    if (!is.null(regions)) {
        ta <- tls_tumor_area(regions, image, attr(sub, "windows"))
        loc <- as.character(tls$location)
        d$tumor_area_mm2 <- ta
        d$tls_per_mm2_tumor <- sum(loc %in% "intratumoral") / ta
        d$tls_per_mm2_stroma <- sum(!loc %in% "intratumoral") / (area - ta)
    }
    d
}

# Tumour area (mm^2) of one image: the area of its regions within the
# tissue window (polygons drawn to the edge of a slide reach beyond it).
tls_tumor_area <- function(regions, image, windows = NULL) {
    r <- window_rings(regions, image)
    if (!window_has_rings(r)) return(NA_real_)
    if (!is.null(windows) && window_has_rings(window_rings(windows, image))) {
        a <- region_band_areas(regions, windows, image, 0)[1]
        if (is.finite(a)) return(a / 1e6)
    }
    .Call(ffi_window_area, r$x, r$y, r$ring_start) / 1e6
}

#' @export
print.immunoscape_tls <- function(x, ...) {
    t <- x$tls
    nimg <- nrow(x$images)
    mat <- table(factor(t$maturity, levels = tls_maturity_levels))
    cat(sprintf("<immunoscape_tls> %d TLS in %d image%s (%d with any)\n",
                nrow(t), nimg, if (nimg == 1) "" else "s",
                sum(x$images$n_tls > 0, na.rm = TRUE)))
    if (nrow(t) && any(!is.na(t$maturity))) {
        cat(sprintf("maturity: %s\n", paste(names(mat), mat, sep = " ",
                                             collapse = ", ")))
    }
    if (nrow(t) && any(!is.na(t$location))) {
        loc <- table(factor(t$location, levels = tls_location_levels))
        cat(sprintf("location: %s\n", paste(names(loc), loc, sep = " ",
                                             collapse = ", ")))
    }
    notes <- attr(x, "notes")
    if (!is.null(notes) && nrow(notes)) {
        empty <- notes$note == "no cells in this image"
        if (any(empty)) {
            cat(sprintf("%d image%s without cells (see attr(, \"notes\"))\n",
                        sum(empty), if (sum(empty) == 1L) "" else "s"))
        }
        if (any(!empty)) {
            cat(sprintf("%d image%s without tumour region: location NA (see attr(, \"notes\"))\n",
                        sum(!empty), if (sum(!empty) == 1L) "" else "s"))
        }
    }
    if (nrow(t)) {
        cols <- c("image", "tls_id", "n_cells", "n_b", "n_t", "area_mm2",
                  "maturity", "location")
        print(utils::head(t[cols], 10), ...)
        if (nrow(t) > 10) cat(sprintf("... %d more\n", nrow(t) - 10))
    }
    invisible(x)
}

#' @rdname detect_tls
#' @param object An `immunoscape_tls` result.
#' @export
summary.immunoscape_tls <- function(object, ...) {
    check_dots(...)
    object$images
}

#' @rdname detect_tls
#' @param x For `as.data.frame()`: an `immunoscape_tls` result (gives its
#'   TLS table).
#' @export
as.data.frame.immunoscape_tls <- function(x, ...) {
    x$tls
}

#' @rdname detect_tls
#' @param images For `autoplot()`: images to draw (names or positions);
#'   `NULL` for all, or, when there are more than `max_panels` and no
#'   `page`, all those with a TLS (the others are counted in the caption).
#' @param flip_y For `autoplot()`: if `TRUE` (default), y grows downwards
#'   as in the image, as in [plot_cells()].
#' @param page,max_panels For `autoplot()`: paging through a cohort as in
#'   [plot_cells()]: `page = 2` draws the second group of `max_panels`
#'   images; more than `max_panels` images without `page` are drawn with a
#'   warning of class `immunoscape_warning_panels`.
#' @details `autoplot()` draws, per image, the tissue window, the tumour
#'   regions when given (dashed) and the TLS outlines filled by maturity
#'   ("not staged" when neither `fdc` nor `gc` was given), each labelled
#'   with its `tls_id`; the subtitle counts the TLS drawn.
#' @export
autoplot.immunoscape_tls <- function(object, images = NULL, flip_y = TRUE,
                                     page = NULL, max_panels = 25L, ...) {
    check_dots(...)
    check_flag(flip_y)
    lv <- levels(object$images$image)
    lv <- lv[lv %in% as.character(object$images$image)]
    # a cohort drawn whole: the images with a TLS (when there are any)
    skipped <- 0L
    with_tls <- lv[lv %in% as.character(object$tls$image)]
    if (is.null(images) && is.null(page) && length(lv) > max_panels &&
        length(with_tls)) {
        skipped <- length(lv) - length(with_tls)
        lv <- with_tls
    }
    images <- page_images(select_images(lv, images), page, max_panels)
    ol <- tls_outline_paths(object, images)
    stage <- c(tls_maturity_levels, "not staged")
    mat <- object$tls$maturity[match(paste(ol$image, ol$tls_id),
                                     paste(object$tls$image,
                                           object$tls$tls_id))]
    ol$maturity <- factor(ifelse(is.na(mat), "not staged",
                                 as.character(mat)), levels = stage)
    lab <- object$tls[as.character(object$tls$image) %in% images, ,
                      drop = FALSE]
    lab$image <- factor(as.character(lab$image), levels = images)
    p <- ggplot2::ggplot()
    w <- attr(object, "windows")
    if (!is.null(w)) {
        p <- p + ggplot2::geom_path(
            data = closed_rings(w, images),
            ggplot2::aes(.data$x, .data$y, group = .data$.ring),
            colour = "grey35", linewidth = 0.35)
    }
    reg <- attr(object, "regions")
    if (!is.null(reg)) {
        p <- p + ggplot2::geom_path(
            data = closed_rings(reg, images),
            ggplot2::aes(.data$x, .data$y, group = .data$.ring),
            colour = "grey35", linewidth = 0.35, linetype = "22")
    }
    present <- stage[stage %in% as.character(ol$maturity)]
    n_img <- length(unique(as.character(lab$image)))
    p <- p +
        ggplot2::geom_polygon(
            data = ol, ggplot2::aes(.data$x, .data$y, group = .data$.piece,
                                    subgroup = .data$.ring,
                                    fill = .data$maturity),
            colour = "grey10", linewidth = 0.3, alpha = 0.75) +
        ggplot2::geom_text(data = lab, ggplot2::aes(.data$x, .data$y,
                                                    label = .data$tls_id),
                           size = if (length(images) > 9L) 2 else 2.6) +
        ggplot2::scale_fill_manual(
            values = c(aggregate = "#F2C80F", primary = "#F08C1A",
                       secondary = "#9B1B30", `not staged` = "grey70"),
            breaks = if (length(present)) present else
                tls_maturity_levels,
            drop = FALSE, name = "maturity") +
        ggplot2::labs(x = "x (\u00b5m)", y = "y (\u00b5m)",
                      title = "Tertiary lymphoid structures",
                      subtitle = sprintf("%d TLS in %d of %d image%s drawn",
                                         nrow(lab), n_img, length(images),
                                         if (length(images) == 1L) "" else
                                             "s"),
                      caption = if (skipped) sprintf(
                          "%d images without a TLS not drawn (choose images with `images =` or `page =`)",
                          skipped))
    finish_map(p, length(images), flip_y)
}

# Outline vertices as closed rings for ggplot2: .piece = one polygon of
# one TLS, .ring = one ring of it (holes drawn by subgroup).
tls_outline_paths <- function(object, images) {
    ol <- object$outlines
    ol <- ol[as.character(ol$image) %in% images, , drop = FALSE]
    ol$.piece <- paste(ol$image, ol$tls_id, ol$polygon, sep = "/")
    ol$.ring <- paste(ol$.piece, ol$ring, sep = "/")
    ol$image <- factor(as.character(ol$image), levels = images)
    ol
}

# The TLS outlines over a plot_cells() map (called by plot_cells(tls = )).
tls_overlay <- function(p, tls, images, call = rlang::caller_env()) {
    if (!inherits(tls, "immunoscape_tls")) {
        stop_immunoscape(c(
            "{.arg tls} must be the result of {.fn detect_tls}, not {.obj_type_friendly {tls}}."
        ), class = "argument", call = call)
    }
    ol <- tls_outline_paths(tls, images)
    if (!nrow(ol)) return(p)
    ol <- do.call(rbind, lapply(split(ol, factor(ol$.ring, unique(ol$.ring))),
                                function(r) r[c(seq_len(nrow(r)), 1L), ]))
    p + ggplot2::geom_path(
        data = ol, ggplot2::aes(.data$x, .data$y, group = .data$.ring),
        inherit.aes = FALSE, colour = "black", linewidth = 0.6)
}

#' Agreement of detected TLS with reference outlines
#'
#' Matches the TLS of a [detect_tls()] result one-to-one with reference
#' TLS (pathologist annotations, or the truth of [simulate_tme()]) by the
#' Jaccard index of their outlines (area of the intersection over area of
#' the union, computed on a raster of `pixel` microns), greedily from the
#' best pair down; pairs below `jaccard` do not match.
#'
#' @section Checks:
#' `image` and `tls_id` (and `polygon`, `ring` when given) must not be
#' missing; `x`, `y` and `radius` must be finite and at most 1e12 microns
#' in size. Circles need one row per TLS (a `tls_id` repeated within an
#' image is an error); polygon rings need at least 3 vertices. The raster
#' must resolve the reference TLS: `pixel` may be at most a fifth of the
#' size of the smallest reference TLS (its radius, or half the shorter
#' side of the bounding box of a polygon). A pair of overlapping outlines
#' is rasterised on the bounding box of both, which may hold at most 1e7
#' pixels; larger rasters are refused before any work, with the smallest
#' `pixel` that would do (an outline that large is usually a reference in
#' the wrong units: TLS are at most about 2 mm across). These errors have
#' class `immunoscape_error_column` (missing or non-finite values),
#' `immunoscape_error_radius` (`pixel` below 0.01 or too coarse for the
#' smallest reference TLS), `immunoscape_error_argument` (duplicated
#' circles, a raster too large for `pixel`) or `immunoscape_error_window`
#' (rings with fewer than 3 vertices, a polygon of zero width or height).
#'
#' @param tls A [detect_tls()] result.
#' @param reference A data frame of reference TLS: either circles (columns
#'   `image`, `tls_id`, `x`, `y`, `radius`, e.g. the `"tls_truth"`
#'   attribute of [simulate_tme()]), one row per TLS, or polygon vertices
#'   (columns `image`, `tls_id`, `x`, `y` and optionally `polygon`, `ring`,
#'   `hole`; consecutive rows of one `polygon` and `ring` form a ring of at
#'   least 3 vertices).
#' @param jaccard Smallest Jaccard index of a match.
#' @param pixel Raster resolution in microns: at least 0.01, and at most a
#'   fifth of the smallest reference TLS (see Checks).
#' @returns A data frame with one row per detected TLS (`tls_id`, with
#'   `ref_id` `NA` when unmatched) and one per unmatched reference TLS
#'   (`tls_id` `NA`): `image`, `tls_id`, `ref_id`, `jaccard`. Attributes
#'   `precision` (matched / detected; `NA` when nothing is detected) and
#'   `recall` (matched / reference; `NA` without reference TLS).
#' @export
#' @examples
#' set.seed(1)
#' a <- runif(200, 0, 2 * pi)
#' r <- 60 * sqrt(runif(200))
#' df <- data.frame(x = 300 + r * cos(a), y = 300 + r * sin(a), type = "B")
#' df <- rbind(df, data.frame(x = runif(800, 0, 600), y = runif(800, 0, 600),
#'                            type = "CD4 T"))
#' tls <- detect_tls(spatial_cells(df), t_cells = "CD4 T")
#' # the reference outline: the B-cell follicle and its T-cell zone
#' ref <- data.frame(image = "image1", tls_id = 1, x = 300, y = 300,
#'                   radius = 110)
#' tls_agreement(tls, ref)
tls_agreement <- function(tls, reference, jaccard = 0.5, pixel = 2) {
    if (!inherits(tls, "immunoscape_tls")) {
        stop_immunoscape(
            "{.arg tls} must be the result of {.fn detect_tls}.",
            class = "argument")
    }
    if (!is.data.frame(reference)) {
        stop_immunoscape(
            "{.arg reference} must be a data frame of reference TLS.",
            class = "argument")
    }
    circles <- "radius" %in% names(reference)
    need <- c("image", "tls_id", "x", "y", if (circles) "radius")
    miss <- setdiff(need, names(reference))
    if (length(miss)) {
        stop_immunoscape(c(
            "{.arg reference} lacks column{?s} {.val {miss}}.",
            "i" = "Give circles ({.field image}, {.field tls_id}, {.field x}, {.field y}, {.field radius}) or polygon vertices ({.field image}, {.field tls_id}, {.field x}, {.field y})."
        ), class = "column")
    }
    check_radius(pixel)
    if (!(pixel >= 0.01)) {
        stop_immunoscape("{.arg pixel} must be >= 0.01 microns.",
                         class = "radius")
    }
    check_fraction(jaccard)
    reference <- as.data.frame(reference)
    reference <- tls_check_reference(reference, circles)
    max_pixel <- tls_check_pixel(reference, circles, pixel)
    det <- tls$outlines
    ref_ids <- unique(reference[c("image", "tls_id")])
    det_ids <- unique(tls$tls[c("image", "tls_id")])
    images <- union(as.character(det_ids$image), as.character(ref_ids$image))
    shape <- function(d, key) {
        # one shape: a circle or the rings of a polygon set
        if (circles && identical(key, "ref")) {
            list(box = c(d$x - d$radius, d$x + d$radius, d$y - d$radius,
                         d$y + d$radius),
                 inside = function(px, py) {
                     (px - d$x)^2 + (py - d$y)^2 <= d$radius^2
                 })
        } else {
            rs <- ring_starts(d)
            list(box = c(range(d$x), range(d$y)),
                 inside = function(px, py) {
                     .Call(ffi_window_inside, as.numeric(px),
                           as.numeric(py), as.numeric(d$x),
                           as.numeric(d$y), rs)
                 })
        }
    }
    # pass 1: the shapes and the pairs whose boxes overlap, and the size
    # of their rasters (checked before any is drawn)
    per_image <- lapply(images, function(im) {
        di <- det_ids$tls_id[as.character(det_ids$image) == im]
        ri <- ref_ids$tls_id[as.character(ref_ids$image) == im]
        ds <- lapply(di, function(k) {
            shape(det[as.character(det$image) == im & det$tls_id == k, ],
                  "det")
        })
        rsh <- lapply(ri, function(k) {
            shape(reference[as.character(reference$image) == im &
                                reference$tls_id == k, ], "ref")
        })
        ab <- expand.grid(a = seq_along(ds), b = seq_along(rsh))
        # boxes (xmin, xmax, ymin, ymax) of each side of each pair
        box <- function(sh, i) {
            v <- as.numeric(unlist(lapply(sh[i], `[[`, "box")))
            matrix(v, ncol = 4L, byrow = TRUE)
        }
        A <- box(ds, ab$a)
        B <- box(rsh, ab$b)
        keep <- !(A[, 2] < B[, 1] | B[, 2] < A[, 1] | A[, 4] < B[, 3] |
                      B[, 4] < A[, 3])
        ab$w <- pmax(A[, 2], B[, 2]) - pmin(A[, 1], B[, 1])
        ab$h <- pmax(A[, 4], B[, 4]) - pmin(A[, 3], B[, 3])
        ab <- ab[keep, , drop = FALSE]
        list(image = im, di = di, ri = ri, ds = ds, rsh = rsh, pairs = ab)
    })
    tls_check_raster(per_image, pixel, max_pixel)
    # pass 2: the Jaccard index of each pair, then the greedy matching
    rows <- list()
    for (p in per_image) {
        di <- p$di
        ri <- p$ri
        pairs <- list()
        for (q in seq_len(nrow(p$pairs))) {
            a <- p$pairs$a[q]
            b <- p$pairs$b[q]
            j <- tls_raster_jaccard(p$ds[[a]], p$rsh[[b]], pixel)
            if (j > 0) pairs[[length(pairs) + 1]] <- c(a, b, j)
        }
        md <- rep(NA_integer_, length(di))
        mj <- rep(NA_real_, length(di))
        used <- logical(length(ri))
        if (length(pairs)) {
            pm <- do.call(rbind, pairs)
            pm <- pm[order(-pm[, 3]), , drop = FALSE]
            for (q in seq_len(nrow(pm))) {
                a <- pm[q, 1]
                b <- pm[q, 2]
                if (pm[q, 3] < jaccard || !is.na(md[a]) || used[b]) next
                md[a] <- b
                mj[a] <- pm[q, 3]
                used[b] <- TRUE
            }
        }
        rows[[length(rows) + 1]] <- data.frame(
            image = p$image, tls_id = c(di, rep(NA, sum(!used))),
            ref_id = c(ri[md], ri[!used]),
            jaccard = c(mj, rep(NA_real_, sum(!used))))
    }
    out <- if (length(rows)) do.call(rbind, rows) else
        data.frame(image = character(), tls_id = integer(),
                   ref_id = integer(), jaccard = double())
    n_match <- sum(!is.na(out$tls_id) & !is.na(out$ref_id))
    # 0 / 0 is no measure (nothing detected, or no reference TLS): NA
    attr(out, "precision") <- if (nrow(det_ids)) n_match / nrow(det_ids) else
        NA_real_
    attr(out, "recall") <- if (nrow(ref_ids)) n_match / nrow(ref_ids) else
        NA_real_
    out
}

# Largest raster of one pair of outlines in tls_agreement() (pixels).
tls_max_raster <- 1e7

# Describe rows as "1, 2, 3" (at most 5, then "...").
tls_rows_text <- function(rows) {
    txt <- paste(utils::head(rows, 5), collapse = ", ")
    if (length(rows) > 5) txt <- paste0(txt, ", ...")
    txt
}

# The reference TLS of tls_agreement(): columns present and of the right
# kind; circles unique per image and id; polygon rings of >= 3 vertices.
# Returns the reference with `polygon` and `ring` filled in for polygons.
tls_check_reference <- function(reference, circles,
                                call = rlang::caller_env()) {
    keys <- c("image", "tls_id",
              if (!circles) intersect(c("polygon", "ring"), names(reference)))
    for (col in keys) {
        v <- reference[[col]]
        if (!is.atomic(v)) {
            stop_immunoscape(
                "Column {.field {col}} of {.arg reference} must be an atomic vector (character, factor or number), not {.obj_type_friendly {v}}.",
                class = "column", call = call)
        }
        bad <- which(is.na(v))
        if (length(bad)) {
            rows <- tls_rows_text(bad)
            stop_immunoscape(c(
                "Column {.field {col}} of {.arg reference} has {length(bad)} missing value{?s} (row{?s} {rows}).",
                "i" = "Every row needs its {.field {col}}: drop or fill those rows."
            ), class = "column", call = call)
        }
    }
    for (col in intersect(c("x", "y", "radius"), names(reference))) {
        v <- reference[[col]]
        if (!is.numeric(v) || !all(is.finite(v)) ||
            any(abs(v) > max_coordinate) ||
            (col == "radius" && any(v <= 0))) {
            stop_immunoscape(c(
                "Column {.field {col}} of {.arg reference} must hold finite numbers{if (col == 'radius') ' > 0'} of at most 1e12 microns.",
                "i" = "Check for {.code NA}, {.code Inf} and the units (microns)."
            ), class = "column", call = call)
        }
    }
    key <- paste(reference$image, reference$tls_id, sep = "\r")
    if (circles) {
        dup <- which(duplicated(key))
        if (length(dup)) {
            ids <- unique(sprintf("%s (image %s)",
                                  format(reference$tls_id[dup]),
                                  as.character(reference$image[dup])))
            stop_immunoscape(c(
                "{.arg reference} holds more than one circle with the same {.field tls_id} in one image: {.field tls_id} {ids}.",
                "i" = "A circle reference has one row per TLS: give each circle its own {.field tls_id} (or use polygon vertices, without a {.field radius} column)."
            ), class = "argument", call = call)
        }
        return(reference)
    }
    if (is.null(reference$polygon)) {
        reference$polygon <- rep_len(1L, nrow(reference))
    }
    if (is.null(reference$ring)) {
        reference$ring <- rep_len(1L, nrow(reference))
    }
    if (!nrow(reference)) return(reference)
    # ring sizes exactly as the rings are drawn: consecutive rows of one
    # polygon and ring within the rows of one TLS
    short <- vapply(split(seq_len(nrow(reference)),
                          factor(key, unique(key))), function(i) {
        any(diff(ring_starts(reference[i, , drop = FALSE])) < 3L)
    }, logical(1))
    if (any(short)) {
        i <- match(names(short)[short], key)
        ids <- sprintf("%s (image %s)", format(reference$tls_id[i]),
                       as.character(reference$image[i]))
        stop_immunoscape(c(
            "{.arg reference} has a ring with fewer than 3 vertices in {.field tls_id} {ids}.",
            "i" = "A TLS outline needs at least 3 vertices per ring (consecutive rows with the same {.field polygon} and {.field ring}); give circles with a {.field radius} column for TLS known by their centre."
        ), class = "window", call = call)
    }
    reference
}

# `pixel` must resolve the smallest reference TLS: at most a fifth of its
# size (radius, or half the shorter side of a polygon's bounding box).
tls_check_pixel <- function(reference, circles, pixel,
                            call = rlang::caller_env()) {
    if (!nrow(reference)) return(invisible(Inf))
    if (circles) {
        size <- reference$radius
        id <- seq_len(nrow(reference))
    } else {
        key <- paste(reference$image, reference$tls_id, sep = "\r")
        f <- factor(key, unique(key))
        half <- function(v) {
            as.numeric(tapply(v, f, function(z) diff(range(z)))) / 2
        }
        size <- pmin(half(reference$x), half(reference$y))
        id <- match(levels(f), key)
    }
    k <- which.min(size)
    if (pixel <= size[k] / 5) return(invisible(size[k] / 5))
    smallest <- signif(size[k], 3)
    ok <- signif(size[k] / 5, 2)
    tid <- format(reference$tls_id[id[k]])
    img <- as.character(reference$image[id[k]])
    if (!(size[k] > 0)) {
        stop_immunoscape(c(
            "{.arg reference} TLS {.field tls_id} {tid} (image {img}) has zero width or height.",
            "i" = "Check its vertices: a TLS outline encloses an area."
        ), class = "window", call = call)
    }
    stop_immunoscape(c(
        "{.arg pixel} ({format(pixel)} microns) is too coarse for the reference TLS.",
        "x" = "The smallest, {.field tls_id} {tid} (image {img}), is {smallest} microns in radius (or half-width); the raster would hardly resolve it and the Jaccard indices would be meaningless.",
        "i" = "Use {.code pixel <= {ok}} (a fifth of that size); the default is {.code pixel = 2}."
    ), class = "radius", call = call)
}

# The raster of each overlapping pair (per_image from tls_agreement())
# must hold at most tls_max_raster pixels; otherwise name the smallest
# `pixel` that would do (or, when that is above max_pixel, the largest
# pixel the smallest reference TLS allows, say that none does).
tls_check_raster <- function(per_image, pixel, max_pixel,
                             call = rlang::caller_env()) {
    npix <- function(w, h, p) (floor(w / p) + 1) * (floor(h / p) + 1)
    worst <- NULL
    for (p in per_image) {
        if (!nrow(p$pairs)) next
        n <- npix(p$pairs$w, p$pairs$h, pixel)
        q <- which.max(n)
        if (is.null(worst) || n[q] > worst$n) {
            worst <- list(n = n[q], w = p$pairs$w[q], h = p$pairs$h[q],
                          image = p$image, tls = p$di[p$pairs$a[q]],
                          ref = p$ri[p$pairs$b[q]])
        }
    }
    if (is.null(worst) || worst$n <= tls_max_raster) return(invisible())
    need <- sqrt(worst$w) * sqrt(worst$h) / sqrt(tls_max_raster)
    while (npix(worst$w, worst$h, need) > tls_max_raster) need <- need * 1.05
    e <- floor(log10(need)) - 1
    need <- ceiling(need / 10^e) * 10^e
    n_txt <- format(worst$n, digits = 3)
    span <- sprintf("%s x %s", format(signif(worst$w, 3)),
                    format(signif(worst$h, 3)))
    fix <- if (need <= max_pixel) {
        "Use {.code pixel >= {format(need)}}, or check that {.arg reference} is in microns: TLS are at most about 2 mm across."
    } else {
        "No {.arg pixel} fits both this pair ({.code pixel >= {format(need)}}) and the smallest reference TLS ({.code pixel <= {format(signif(max_pixel, 2))}}): check that {.arg reference} is in microns; TLS are at most about 2 mm across."
    }
    stop_immunoscape(c(
        "{.arg pixel} = {format(pixel)} microns would need a raster of {n_txt} pixels (more than 1e7) for detected TLS {worst$tls} and reference TLS {format(worst$ref)} (image {worst$image}), which span {span} microns together.",
        "i" = fix
    ), class = "argument", call = call)
}

# Jaccard index of two shapes on the raster of `pixel` microns over the
# bounding box of both, drawn in bands of rows (about 2^20 pixels each).
tls_raster_jaccard <- function(sa, sb, pixel) {
    A <- sa$box
    B <- sb$box
    xs <- seq(min(A[1], B[1]), max(A[2], B[2]), by = pixel)
    ys <- seq(min(A[3], B[3]), max(A[4], B[4]), by = pixel)
    band <- max(1L, floor(2^20 / length(xs)))
    n_and <- 0
    n_or <- 0
    for (k0 in seq(1L, length(ys), by = band)) {
        yk <- ys[k0:min(k0 + band - 1L, length(ys))]
        px <- rep(xs, length(yk))
        py <- rep(yk, each = length(xs))
        ia <- sa$inside(px, py)
        ib <- sb$inside(px, py)
        n_and <- n_and + sum(ia & ib)
        n_or <- n_or + sum(ia | ib)
    }
    n_and / max(1, n_or)
}
