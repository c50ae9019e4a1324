# Cohort profiles: one row of spatial features per image, built from a
# registry of feature groups, and their aggregation to patients.

#' Spatial feature profile of every image of a cohort
#'
#' One row per image with a stable set of spatial features, ready for
#' [aggregate_profile()] (images to patients) and [associate_outcome()]
#' (Cox models and group tests). The features come from a registry of
#' feature groups ([profile_features()]): each group is a function of one
#' image returning a one-row data frame, so a new analysis joins the
#' profile by adding one entry to the list.
#'
#' @section Columns:
#' Type names become column names in lower case with every run of other
#' characters than letters and digits replaced by `_` (`"CD8 T"` ->
#' `cd8_t`, `"Tumor (CK+)"` -> `tumor_ck`); `attr(profile, "slugs")`
#' gives the mapping. Distances are microns, areas mm^2, densities cells
#' per mm^2. Every column is `NA` where it cannot be computed; the reason
#' is in `note`.
#'
#' * Always: `image` (factor), the `carry` columns (e.g. `patient`), and
#'   at the end `note` (character, `NA` when nothing went wrong: the
#'   errors of failed groups, as `group: message`, and reasons for `NA`
#'   values, separated by `"; "`).
#' * `counts`: `n_cells` (cells in the image), `area_mm2` (area of the
#'   image's window, mm^2), `density_cells` (all cells per mm^2),
#'   `tumor_cells`, `tumor_density`, `immune_cells`, `immune_density`
#'   (cells of the `tumor` and `immune` types pooled, count and per
#'   mm^2), and for
#'   every cell type of the cohort `n_<type>` (count) and
#'   `density_<type>` (per mm^2 of window).
#' * `ratio`: `cd8_cells`, `treg_cells` (cells of the `cd8` and `treg`
#'   types), `cd8_treg_ratio` (`cd8_cells / treg_cells`; zero rule: `NA`
#'   when `treg_cells` is 0, whatever `cd8_cells`, with a note),
#'   `log2_cd8_treg` (`log2((cd8_cells + 1) / (treg_cells + 1))`, defined
#'   for every image).
#' * `distances`: `cd8_tumor_median_um` (median over CD8 cells of the
#'   distance to the nearest tumour cell, microns),
#'   `cd8_tumor_frac_near` (fraction of CD8 cells with a tumour cell
#'   within `near` microns, distance <= `near`; 20 um by default), and the
#'   same for all immune cells pooled: `immune_tumor_median_um`,
#'   `immune_tumor_frac_near`. `NA` when the image has no CD8 (immune) or
#'   no tumour cells.
#' * `mixing`: `n_immune_tumor_pairs`, `n_immune_immune_pairs` (pairs
#'   of touching cells, centres within `contact` microns, each counted
#'   once), `mixing_score` (their ratio, Keren et al. 2018; `NA` instead
#'   of `Inf` when no two immune cells touch, with a note),
#'   `normalized_mixing_score` (about 1 under random labels) and
#'   `architecture` (factor: cold, compartmentalized, mixed; see
#'   [classify_architecture()] for `threshold` and `min_immune`).
#' * `interactions`: for each pair (A, B) in `pairs`, `z_<A>_to_<B>`: the
#'   z score of the "classic" [interaction_test()] (mean number of B
#'   cells within `radius` of an A cell, against `nperm` random
#'   relabellings of the image's cells; unitless).
#' * `kfunctions`: for each pair, `l_area_<A>_to_<B>` (um^2: the integral
#'   over `r` of the cross-type L function minus the mean of its random
#'   labelling envelope, [ripley_l()] with `envelope = "labels"` and
#'   `nsim` relabellings; positive: B cells gather around A cells more
#'   than the other cells do) and `l_outside_<A>_to_<B>` (fraction of the
#'   `r` values where L lies outside the pointwise envelope).
#' * `neighborhoods`: `frac_cn<i>` (fraction of the image's cells in
#'   cellular neighbourhood `CN<i>`, [cellular_neighborhoods()] with
#'   windows of `k` cells clustered over the whole cohort into
#'   `n_neighborhoods` communities; or given as `neighborhoods`).
#' * `compartments`: the tumour regions of the image ([tumor_regions()]
#'   with its defaults on the `tumor` types) split into compartments by
#'   [compartments()] with half-width `margin` (500 um, the IOBWG invasive
#'   margin): `area_<compartment>_mm2` for `core`, `inner_margin`,
#'   `outer_margin`, `stroma` (mm^2 of the window), and for every cell type
#'   `density_<type>_<compartment>` (cells per mm^2 of that compartment;
#'   `NA` when the compartment is empty of area).
#' * `phenotype`: [immune_phenotype()] of the `cd8` cells on those
#'   regions (its default thresholds), leaving out the lymphoid
#'   aggregates of the `tls_b` cells (its `aggregates`); a tumour without
#'   any `cd8` cell is a desert (densities 0), as in [immune_phenotype()]
#'   of the cohort: `immune_phenotype` (factor:
#'   inflamed, excluded, desert), `cd8_density_core`,
#'   `cd8_density_margin` (per mm^2, as the call uses them) and the areas
#'   they divide by, `phenotype_core_mm2`, `phenotype_margin_mm2`.
#' * `growth`: [growth_pattern()] of the tumour-`liver` interface (liver
#'   metastases): `growth_pattern` (factor: desmoplastic, replacement,
#'   pushing), `growth_two_tier` (factor: desmoplastic,
#'   non-desmoplastic), `frac_desmoplastic`, `frac_replacement`,
#'   `frac_pushing` (fractions of the assessable interface) and
#'   `interface_um` (its length, microns). `NA` without a note in a cohort
#'   without any `liver` cell.
#' * `tls`: [detect_tls()] with its defaults on those types and, when the
#'   image has tumour cells, the tumour regions: `n_tls`, `tls_per_mm2`
#'   (per mm^2 of window), `n_tls_aggregate`, `n_tls_primary`,
#'   `n_tls_secondary` (maturity), `n_tls_intratumoral`, `n_tls_margin`,
#'   `n_tls_peritumoral`, `n_tls_distal` (location), `tls_n_b` (B cells)
#'   and `frac_b_in_tls` (fraction of them inside a TLS). `NA` without a
#'   note in a cohort without any `tls_b` cell. The location counts are
#'   `NA` in an image without tumour cells, and with a note in one where
#'   no tumour region was found (its TLS are still counted).
#'
#' @section Options:
#' Passed in `...` (a misspelled option is an error):
#' * `cd8 = "CD8 T"`, `treg = "Treg"`: the CD8 T-cell and regulatory T-cell
#'   types. `NULL` when the panel has none: their columns are then `NA`
#'   (not 0). A type named explicitly must exist in some image; a default
#'   that does not is an error when the panel seems to name that cell
#'   otherwise (a type containing "CD8", or "Treg"/"FoxP3", is suggested),
#'   and otherwise gives `NA` columns with a message.
#' * `radius = 20`: neighbourhood radius (um) of the interaction z.
#' * `contact = 10`: centre distance (um) at which two cells touch, for
#'   the mixing score (see [mixing_score()]).
#' * `near = 20`: distance (um) of `*_frac_near`.
#' * `threshold = 0.22`, `min_immune = 390` (immune cells per mm^2):
#'   architecture classes (see [classify_architecture()]).
#' * `pairs`: a data frame with columns `from`, `to` (or a list of
#'   `c(from, to)` vectors) of the type pairs of the interaction and
#'   L-function columns; default every `immune` type to every `tumor` type.
#' * `nperm = 199`: permutations of the interaction z.
#' * `nsim = 39` and the grid `r` (default `seq(0, 100, by = 5)`, um):
#'   relabellings of the L-function envelope and its distances.
#' * `k = 10`, `n_neighborhoods = 6`, `neighborhoods = NULL`: cellular
#'   neighbourhoods (a [cellular_neighborhoods()] result may be given).
#' * `margin = 500`: half-width (um) of the invasive margin of the
#'   `compartments` and `phenotype` groups.
#' * `liver = "Hepatocyte"`: hepatocyte type(s) of the `growth` group.
#' * `tls_b = "B"`, `tls_t = c("T", "CD4 T", "CD8 T", "Treg")`,
#'   `tls_fdc = "FDC"`, `tls_gc = "GC B"`: the B-cell, T-cell,
#'   follicular dendritic cell and germinal-centre B-cell types of the
#'   `tls` group (`tls_t`, `tls_fdc` and `tls_gc` types absent from the
#'   cohort are left out); `tls_b` also marks the lymphoid aggregates the
#'   `phenotype` group leaves out. `tls_b` follows the rule of `cd8`: `NULL`
#'   for a panel without B cells (TLS columns `NA`); a default absent from
#'   every image is an error when a type looks like B cells ("B cell",
#'   "CD20+ B", ...), a message otherwise. So does `tls_t` when none of its
#'   types is in the cohort (a type such as "CD4 T (CD4+)" is suggested);
#'   an image without them has no TLS.
#' * `nthreads`: OpenMP threads per image (results do not depend on it).
#' * `whole_slide = 1e6`: images with more cells than this take the
#'   whole-slide path of the `kfunctions` and `interactions` groups (see
#'   Whole slides); `Inf` never, `0` always.
#'
#' @section Whole slides:
#' The `kfunctions` and `interactions` groups test against random
#' labelling by simulation: `nsim` relabellings of a cross-type K per
#' pair and `nperm` permutations, each a pass over all pairs of cells.
#' On a whole-slide section (1e7 cells) this alone takes many minutes.
#' For images with more than `whole_slide` cells (default 1e6; a message
#' says when this happens) both groups use the exact first two moments
#' of the random-labelling null instead, from one pass over the pairs of
#' all cells shared by every type pair; smaller images (fields, cores)
#' are computed exactly as before. For a pair sum
#' \eqn{S = \sum_{i \ne j} w_{ij} a_i b_j}{S = sum_{i != j} w_ij a_i b_j}
#' (\eqn{a_i = 1} when cell i is of type A, \eqn{b_j = 1} when cell j is
#' of type B; \eqn{w_{ij}} the isotropic edge-correction weight about i
#' for pairs within `r`, or 1 for pairs within `radius`), random
#' labelling of \eqn{n_A} A and \eqn{n_B} B labels among \eqn{n} cells
#' gives \eqn{E S = n_A n_B S_0 / (n (n - 1))}{E S = nA nB S0 / (n (n -
#' 1))} with \eqn{S_0} the pair sum of all cells (so the null mean of the
#' cross-type K is the K of all cells pooled), and a variance from five
#' further label-free sums (squares of the weights and of their row and
#' column sums): the join-count moments of Cliff and Ord (1981), here for
#' asymmetric weights. Both are exact (tested against an enumeration of
#' all labellings).
#' * `z_<A>_to_<B>` is then (observed - mean) / sd with the exact mean and
#'   sd of the classic statistic instead of the permutation mean and sd
#'   (they differ by Monte Carlo error: about 5 % of the z with
#'   `nperm = 199`).
#' * `l_area_<A>_to_<B>` integrates L minus its null mean, obtained from
#'   the exact mean \eqn{\mu} and variance \eqn{\sigma^2} of K by the
#'   second-order delta method, \eqn{E L \approx \sqrt{\mu / \pi} -
#'   \sigma^2 / (8 \sqrt{\pi} \mu^{3/2})}{E L ~ sqrt(mu / pi) - sigma^2 /
#'   (8 sqrt(pi) mu^1.5)}, instead of the mean of `nsim` simulated L
#'   curves; on a whole slide the relative sd of K is a fraction of a per
#'   cent, so this is more accurate than 39 simulations.
#'   `l_outside_<A>_to_<B>` is the fraction of `r` where
#'   \eqn{|L - E L| > q \, sd(L)}{|L - E L| > q sd(L)}, with \eqn{q} =
#'   `qnorm(1 - 1 / (nsim + 1))`: the normal counterpart of leaving the
#'   pointwise envelope of `nsim` relabellings, which happens with
#'   probability \eqn{2 / (nsim + 1)} under the null.
#'
#' These images get a note (`kfunctions: whole slide: ...`), and the
#' attribute `whole_slide` of the profile lists per image the number of
#' cells, whether the whole-slide path was taken and the null of each of
#' the two groups (`"exact moments"`, or e.g. `"39 relabellings"`).
#' Cellular neighbourhoods of more than `fit_size` (2e5) windows are
#' clustered on a subsample and then assigned over all windows (see
#' [cellular_neighborhoods()]); the other groups are exact at any size.
#'

#' @section Reproducibility and failures:
#' Each image runs on its own seed drawn from R's generator before the
#' images are dispatched, so `set.seed()` gives identical profiles
#' serially and under any `BPPARAM` (SerialParam, MulticoreParam,
#' SnowParam, BatchtoolsParam on a cluster). An error in one group of one
#' image (any error, also from a user's group) leaves that group's columns
#' `NA` for the image and its message in `note`; the rest completes.
#'
#' @param cells A `spatial_cells` object.
#' @param tumor Tumour cell type(s).
#' @param immune Immune cell types; `NULL` for every type that is not
#'   `tumor`.
#' @param features A named list of feature groups: functions
#'   `function(cells, ctx)` of one image's `spatial_cells` and a context
#'   list (`tumor`, `immune`, `pairs`, `slug()`, `types`, the options)
#'   returning a one-row data frame. See [profile_features()].
#' @param carry Columns of `cells` constant within each image carried into
#'   the profile (e.g. `"patient"`, clinical variables); by default the
#'   image-level groups of `cells` (a `patient` column, see
#'   [set_groups()]), so that `aggregate_profile(profile, by = "patient")`
#'   works directly.
#' @param BPPARAM `NULL` (serial, with a progress bar) or a BiocParallel
#'   parameter object.
#' @param ... Options (see Options).
#' @returns A `spatial_profile` data frame, one row per image (see
#'   Columns), with attributes `aggregate` (the rule of each column for
#'   [aggregate_profile()]), `slugs`, `options`, `tumor`, `immune`,
#'   `pairs`, `whole_slide` (see Whole slides). `summary()` gives per column the number of images with a
#'   value, median and range; `autoplot()` draws the features (scaled)
#'   as a heatmap of images by columns.
#' @references Cliff AD, Ord JK (1981). *Spatial Processes: Models and
#'   Applications*. Pion, London (join-count moments under random
#'   labelling).
#'
#'   Diggle PJ (2013). *Statistical Analysis of Spatial and
#'   Spatio-Temporal Point Patterns*, 3rd ed. CRC Press (random labelling
#'   and its envelopes).
#'
#'   Keren L, Bosse M, Marquez D, et al. (2018). A structured
#'   tumor-immune microenvironment in triple negative breast cancer
#'   revealed by multiplexed ion beam imaging. *Cell* 174:1373-1387.
#' @seealso [profile_features()], [aggregate_profile()],
#'   [associate_outcome()].
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(1200, 0, 500), y = runif(1200, 0, 500),
#'                  image = rep(c("a", "b", "c"), each = 400),
#'                  patient = rep(c("p1", "p1", "p2"), each = 400))
#' df$type <- sample(c("Tumor", "CD8 T", "Treg", "B"), 1200, TRUE,
#'                   prob = c(0.6, 0.2, 0.1, 0.1))
#' cells <- spatial_cells(df, image = "image")
#' prof <- spatial_profile(cells, tumor = "Tumor",
#'                         features = profile_features(c("counts", "ratio",
#'                                                       "distances")))
#' prof
#' aggregate_profile(prof, by = "patient")
spatial_profile <- function(cells, tumor = "Tumor", immune = NULL,
                            features = profile_features(), carry = NULL,
                            BPPARAM = NULL, ...) {
    cells <- check_cells(cells)
    if (is.null(immune)) {
        if (is.null(tumor)) {
            stop_immunoscape(
                "{.arg tumor} and {.arg immune} are both NULL: name the tumour cell type.",
                class = "type")
        }
        tumor <- check_types(cells, tumor, arg = "tumor")
        immune <- setdiff(types_present(cells), tumor)
    }
    roles <- check_roles(cells, immune, tumor, "immune", "tumor")
    features <- check_features(features)
    opts <- profile_options(cells, names(features), list(...))
    carry <- check_carry(cells, carry)
    ctx <- c(list(tumor = roles[[2]], immune = roles[[1]],
                  types = levels(cells$type),
                  present = types_present(cells),
                  slug = type_slugger(levels(cells$type))), opts)
    ctx$pairs <- check_pairs(cells, opts$pairs, ctx)

    # cohort-wide preparation (e.g. neighbourhoods clustered over all
    # images) adds per-cell columns before the images are dispatched
    for (g in names(features)) {
        prep <- attr(features[[g]], "prepare")
        if (is.function(prep)) cells <- prep(cells, ctx)
    }
    # cohort-wide inputs stay here: workers get only their image
    ctx$neighborhoods <- NULL
    ws <- ws_table(cells, features, ctx)
    worker <- profile_worker(features, ctx)
    res <- map_images(cells, worker, BPPARAM = BPPARAM,
                      label = "Spatial profile", seeded = TRUE)
    out <- profile_assemble(res, cells, features, carry)
    structure(out$df, whole_slide = ws,
              class = c("spatial_profile", "immunoscape_result",
                        "data.frame"),
              aggregate = out$aggregate, slugs = ctx$slug(ctx$types),
              options = opts[setdiff(names(opts), "neighborhoods")],
              tumor = ctx$tumor, immune = ctx$immune, pairs = ctx$pairs,
              by = "image", problems = attr(res, "problems"),
              image_groups = if (length(carry)) carry)
}

#' Feature groups of a spatial profile
#'
#' The registry behind [spatial_profile()]: a named list of functions
#' `function(cells, ctx)` that take the `spatial_cells` of one image and
#' a context list and return a one-row data frame. A group may attach to
#' its row the attributes `note` (a reason for `NA` values, copied into
#' the profile's `note` column) and `aggregate` (a named character vector
#' of rules for [aggregate_profile()], e.g. `c(my_count = "sum")`); a
#' function may carry the attribute `prepare`, a function `(cells, ctx)`
#' run once on the whole cohort before the images are dispatched that
#' returns the cells with extra columns.
#'
#' @param groups Names of the groups to keep (default all): any of
#'   `"counts"`, `"ratio"`, `"distances"`, `"mixing"`, `"interactions"`,
#'   `"kfunctions"`, `"neighborhoods"`, `"compartments"`, `"phenotype"`,
#'   `"growth"`, `"tls"`. See [spatial_profile()] for their columns.
#' @returns A named list of functions.
#' @export
#' @examples
#' names(profile_features())
#' # add a group: the share of cells that are B cells
#' my <- c(profile_features(c("counts", "ratio")),
#'         b_share = function(cells, ctx) {
#'             data.frame(b_share = mean(cells$type == "B"))
#'         })
#' names(my)
profile_features <- function(groups = NULL) {
    all <- list(counts = profile_counts, ratio = profile_ratio,
                distances = profile_distances, mixing = profile_mixing,
                interactions = profile_interactions,
                kfunctions = profile_kfunctions,
                neighborhoods = profile_neighborhoods,
                compartments = profile_compartments,
                phenotype = profile_phenotype, growth = profile_growth,
                tls = profile_tls)
    if (is.null(groups)) return(all)
    groups <- check_choice_multi(groups, names(all), "groups")
    all[groups]
}

# ---- checks and context -------------------------------------------------

profile_option_defaults <- function() {
    list(cd8 = "CD8 T", treg = "Treg", radius = 20, near = 20,
         contact = 10, threshold = 0.22, min_immune = 390, pairs = NULL,
         nperm = 199,
         r = seq(0, 100, by = 5), nsim = 39, k = 10, n_neighborhoods = 6,
         neighborhoods = NULL, margin = 500, liver = "Hepatocyte",
         tls_b = "B", tls_t = c("T", "CD4 T", "CD8 T", "Treg"),
         tls_fdc = "FDC", tls_gc = "GC B",
         nthreads = immunoscape_threads(), whole_slide = 1e6)
}

profile_options <- function(cells, groups, dots,
                            call = rlang::caller_env()) {
    def <- profile_option_defaults()
    nms <- names(dots) %||% rep("", length(dots))
    bad <- nms[!nms %in% names(def)]
    if (length(dots) && (any(!nzchar(nms)) || length(bad))) {
        shown <- ifelse(nzchar(nms), nms, "<unnamed>")[!nms %in% names(def)]
        stop_immunoscape(c(
            "Unknown option{?s} in {.code ...}: {.arg {shown}}.",
            "i" = "Options of {.fn spatial_profile}: {.arg {names(def)}}."
        ), class = "argument", call = call)
    }
    opts <- utils::modifyList(def, dots, keep.null = TRUE)
    opts$radius <- check_radius(opts$radius, "radius", call = call)
    opts$near <- check_radius(opts$near, "near", call = call)
    opts$nperm <- check_count(opts$nperm, "nperm", call = call)
    opts$nsim <- check_count(opts$nsim, "nsim", call = call)
    opts$k <- check_count(opts$k, "k", call = call)
    opts$n_neighborhoods <- check_count(opts$n_neighborhoods,
                                        "n_neighborhoods", call = call)
    opts$contact <- check_radius(opts$contact, "contact", call = call)
    opts$margin <- check_radius(opts$margin, "margin", call = call)
    check_nonneg(opts$min_immune, "min_immune", call = call)
    opts$r <- check_r_grid(opts$r, call = call)
    ws <- opts$whole_slide
    if (!is.numeric(ws) || length(ws) != 1L || is.na(ws) || ws < 0) {
        stop_immunoscape(
            "{.arg whole_slide} must be one number of cells >= 0 (or {.code Inf} for never).",
            class = "argument", call = call
        )
    }
    opts$nthreads <- check_nthreads(opts$nthreads, call = call)
    check_fraction(opts$threshold, "threshold", call = call)
    opts$tls_t <- check_tls_types(opts$tls_t, "tls_t", call = call)
    for (o in c("tls_fdc", "tls_gc")) {
        if (!is.null(opts[[o]])) {
            opts[[o]] <- check_tls_types(opts[[o]], o, call = call)
        }
    }
    present <- types_present(cells)
    uses <- list(cd8 = c("ratio", "distances", "phenotype"),
                 treg = "ratio", tls_b = c("tls", "phenotype"),
                 tls_t = "tls", liver = "growth")
    checked <- list()
    for (role in names(uses)) {
        used <- any(uses[[role]] %in% groups)
        # T cells matter for TLS only in a cohort with B cells
        if (role == "tls_t") {
            used <- used && (length(checked$tls_b$value) > 0L ||
                                 !is.null(checked$tls_b$error))
        }
        checked[[role]] <- check_role_types(opts[[role]], role, present,
                                            explicit = role %in% nms,
                                            used = used, call = call)
    }
    finish_role_types(checked, call)
    for (role in names(checked)) opts[[role]] <- checked[[role]]$value
    opts
}

check_features <- function(features, call = rlang::caller_env()) {
    ok <- is.list(features) && length(features) &&
        !is.null(names(features)) && all(nzchar(names(features))) &&
        !anyDuplicated(names(features)) &&
        all(vapply(features, is.function, logical(1)))
    if (!ok) {
        stop_immunoscape(c(
            "{.arg features} must be a named list of functions {.code function(cells, ctx)} with unique names.",
            "i" = "Start from {.code profile_features()} and add entries."
        ), class = "argument", call = call)
    }
    features
}

check_choice_multi <- function(x, choices, arg, call = rlang::caller_env()) {
    if (!is.character(x) || !length(x) || anyNA(x)) {
        stop_immunoscape("{.arg {arg}} must be a character vector.",
                         class = "argument", call = call)
    }
    bad <- setdiff(x, choices)
    if (length(bad)) {
        stop_immunoscape(c(
            "{.arg {arg}} has unknown value{?s} {.val {bad}}.",
            "i" = "Choose from {.val {choices}}."
        ), class = "argument", call = call)
    }
    unique(x)
}

# Columns constant within images, carried into the profile.
check_carry <- function(cells, carry, call = rlang::caller_env()) {
    if (is.null(carry)) {
        return(cell_groups(cells))
    }
    if (!is.character(carry) || anyNA(carry)) {
        stop_immunoscape("{.arg carry} must be a character vector of column names.",
                         class = "argument", call = call)
    }
    carry <- setdiff(unique(carry), "image")
    for (col in carry) {
        check_column(cells, col, "carry", call = call)
        if (length(varies_within_images(cells[[col]], cells$image))) {
            stop_immunoscape(c(
                "Column {.field {col}} named in {.arg carry} varies within images.",
                "i" = "Carry only per-image (or per-patient) columns such as the patient id."
            ), class = "column", call = call)
        }
    }
    carry
}

# Column-name stems of cell types, unique within the cohort.
type_slugger <- function(types) {
    s <- gsub("[^a-z0-9]+", "_", tolower(types))
    s <- gsub("^_+|_+$", "", s)
    s[!nzchar(s) | s == "cells"] <- paste0(s[!nzchar(s) | s == "cells"],
                                           "_type")
    s <- make.unique(s, sep = "_")
    names(s) <- types
    function(x) unname(s[x])
}

check_pairs <- function(cells, pairs, ctx, call = rlang::caller_env()) {
    if (is.null(pairs)) {
        pairs <- expand.grid(from = ctx$immune, to = ctx$tumor,
                             stringsAsFactors = FALSE)
    } else if (is.list(pairs) && !is.data.frame(pairs)) {
        ok <- vapply(pairs, function(p) is.character(p) && length(p) == 2L,
                     logical(1))
        if (!all(ok)) {
            stop_immunoscape(
                "{.arg pairs} must be a data frame with columns {.field from}, {.field to} or a list of {.code c(from, to)} vectors.",
                class = "argument", call = call
            )
        }
        pairs <- data.frame(from = vapply(pairs, `[`, "", 1L),
                            to = vapply(pairs, `[`, "", 2L))
    }
    if (!is.data.frame(pairs) || !all(c("from", "to") %in% names(pairs))) {
        stop_immunoscape(
            "{.arg pairs} must be a data frame with columns {.field from}, {.field to} or a list of {.code c(from, to)} vectors.",
            class = "argument", call = call
        )
    }
    pairs <- data.frame(from = as.character(pairs$from),
                        to = as.character(pairs$to))
    check_types(cells, c(pairs$from, pairs$to), "pairs", call = call)
    pairs <- pairs[pairs$from != pairs$to & !duplicated(pairs), ,
                   drop = FALSE]
    rownames(pairs) <- NULL
    pairs
}

# ---- dispatch and assembly ----------------------------------------------

# The per-image worker: its environment holds only the groups and the
# context, so BiocParallel ships no more than that with each image.
profile_worker <- function(features, ctx) {
    force(features)
    force(ctx)
    function(sub, image) {
        old <- options(immunoscape.verbose = FALSE)
        on.exit(options(old))
        # per-image results shared by groups (e.g. the tumour regions)
        ctx$cache <- new.env(parent = emptyenv())
        rows <- vector("list", length(features))
        names(rows) <- names(features)
        notes <- character()
        for (g in names(features)) {
            r <- tryCatch(profile_group_row(features[[g]](sub, ctx), g),
                          error = function(e) e)
            if (inherits(r, "error")) {
                msg <- gsub("\\s+", " ", conditionMessage(r))
                notes <- c(notes, paste0(g, ": ", msg))
                r <- NULL
            } else if (!is.null(attr(r, "note"))) {
                notes <- c(notes, paste0(g, ": ", attr(r, "note")))
            }
            rows[g] <- list(r)
        }
        out <- data.frame(image = image)
        out$.rows <- list(rows)
        out$note <- if (length(notes)) paste(notes, collapse = "; ") else
            NA_character_
        out
    }
}

profile_group_row <- function(r, group) {
    if (!is.data.frame(r) || nrow(r) != 1L) {
        got <- if (is.data.frame(r)) paste(nrow(r), "rows") else class(r)[1]
        stop_immunoscape(c(
            "Feature group {.val {group}} returned {got}, not a one-row data frame.",
            "i" = "A feature group (see {.fn profile_features}) must return one row per image."
        ), class = "argument", call = NULL)
    }
    r
}

# Per-image rows -> one data frame; a group that failed on an image gets a
# row of NA of the same columns and types as on the other images.
profile_assemble <- function(res, cells, features, carry) {
    images <- levels(cells$image)
    present <- images[tabulate(cells$image, length(images)) > 0L]
    df <- data.frame(image = factor(present, levels = images))
    at <- match(present, as.character(res$image))
    first <- !duplicated(cells$image)
    for (col in carry) {
        v <- cells[[col]][first]
        df[[col]] <- v[match(present, as.character(cells$image[first]))]
    }
    agg <- character()
    for (g in names(features)) {
        rows <- lapply(at, function(i) if (is.na(i)) NULL else
            res$.rows[[i]][[g]])
        ok <- which(!vapply(rows, is.null, logical(1)))
        if (!length(ok)) next
        tmpl <- rows[[ok[1]]]
        agg <- c(agg, attr(tmpl, "aggregate"))
        na_row <- tmpl[NA_integer_, , drop = FALSE]
        rows <- lapply(rows, function(r) {
            if (is.null(r)) return(na_row)
            attr(r, "note") <- NULL
            attr(r, "aggregate") <- NULL
            r
        })
        block <- do.call(rbind, rows)
        clash <- intersect(names(block), names(df))
        if (length(clash)) {
            stop_immunoscape(c(
                "Feature group {.val {g}} returns column{?s} {.val {clash}} that another group (or {.arg carry}) already gives.",
                "i" = "Rename the columns of that group."
            ), class = "argument")
        }
        rownames(block) <- NULL
        df <- cbind(df, block)
    }
    note <- if (nrow(res)) res$note[at] else rep(NA_character_, length(at))
    # images that failed outside the groups (map_images problems)
    probs <- attr(res, "problems")
    if (!is.null(probs) && nrow(probs)) {
        # (images without cells have no row: they stay in "problems")
        k <- match(probs$image, present)
        note[k[!is.na(k)]] <- probs$message[!is.na(k)]
    }
    df$note <- note
    rownames(df) <- NULL
    list(df = df, aggregate = agg[!duplicated(names(agg))])
}

# ---- the feature groups --------------------------------------------------

# Which cells are of one of `types`: `cells$type %in% types` on the
# factor codes (no 1e7 strings on whole slides).
type_in <- function(cells, types) {
    as.integer(cells$type) %in% which(levels(cells$type) %in% types)
}

# Types of `types` present in one image.
present_types <- function(sub, types) intersect(types, types_present(sub))

# Distance of each `from` cell to the nearest cell of any `to` type.
nearest_to_any <- function(sub, from, to, nthreads) {
    fi <- which(type_in(sub, from))
    ti <- which(type_in(sub, to))
    if (!length(fi) || !length(ti)) return(rep(NA_real_, length(fi)))
    res <- .Call(ffi_dist_nearest, sub$x, sub$y, fi, ti, 1L, nthreads)
    as.vector(res[[1]])
}

with_note <- function(df, note = NULL, aggregate = NULL) {
    if (length(note)) attr(df, "note") <- paste(note, collapse = ", ")
    attr(df, "aggregate") <- aggregate
    df
}

profile_counts <- function(cells, ctx) {
    area <- unname(window_areas(cells)[1]) / 1e6
    n <- tabulate(cells$type, length(ctx$types))
    s <- ctx$slug(ctx$types)
    n_t <- sum(n[ctx$types %in% ctx$tumor])
    n_i <- sum(n[ctx$types %in% ctx$immune])
    df <- data.frame(n_cells = nrow(cells), area_mm2 = area,
                     density_cells = nrow(cells) / area,
                     tumor_cells = n_t, tumor_density = n_t / area,
                     immune_cells = n_i, immune_density = n_i / area)
    cnt <- as.data.frame(as.list(stats::setNames(n, paste0("n_", s))))
    den <- as.data.frame(as.list(stats::setNames(n / area,
                                                 paste0("density_", s))))
    df <- cbind(df, cnt, den)
    agg <- c(n_cells = "sum", area_mm2 = "sum",
             density_cells = "ratio:n_cells/area_mm2",
             tumor_cells = "sum",
             tumor_density = "ratio:tumor_cells/area_mm2",
             immune_cells = "sum",
             immune_density = "ratio:immune_cells/area_mm2",
             stats::setNames(rep("sum", length(s)), paste0("n_", s)),
             stats::setNames(paste0("ratio:n_", s, "/area_mm2"),
                             paste0("density_", s)))
    with_note(df, if (!isTRUE(area > 0)) "no window area (densities NA)", agg)
}

profile_ratio <- function(cells, ctx) {
    # a role without a type in the cohort (cd8 = NULL): NA, not 0
    n_cd8 <- if (length(ctx$cd8)) sum(type_in(cells, ctx$cd8)) else NA_integer_
    n_treg <- if (length(ctx$treg)) sum(type_in(cells, ctx$treg)) else NA_integer_
    df <- data.frame(cd8_cells = n_cd8, treg_cells = n_treg,
                     cd8_treg_ratio = if (isTRUE(n_treg > 0)) n_cd8 / n_treg
                                      else NA_real_,
                     log2_cd8_treg = log2((n_cd8 + 1) / (n_treg + 1)))
    # a cohort without any Treg type gets no note on every image
    with_note(df, if (isTRUE(n_treg == 0))
                      "no Treg cells (CD8/Treg ratio NA)",
              c(cd8_cells = "sum", treg_cells = "sum",
                cd8_treg_ratio = "ratio:cd8_cells/treg_cells",
                log2_cd8_treg = "log2ratio1:cd8_cells/treg_cells"))
}

profile_distances <- function(cells, ctx) {
    # whole slides: the same distances from a k-d tree
    nearest <- if (ws_active(cells, ctx)) ws_nearest else nearest_to_any
    one <- function(from) {
        d <- nearest(cells, from, ctx$tumor, ctx$nthreads)
        if (!length(d) || anyNA(d)) return(c(NA_real_, NA_real_))
        c(stats::median(d), mean(d <= ctx$near))
    }
    a <- if (length(ctx$cd8)) one(ctx$cd8) else c(NA_real_, NA_real_)
    b <- one(ctx$immune)
    df <- data.frame(cd8_tumor_median_um = a[1], cd8_tumor_frac_near = a[2],
                     immune_tumor_median_um = b[1],
                     immune_tumor_frac_near = b[2])
    note <- c(if (!any(type_in(cells, ctx$tumor))) "no tumour cells",
              if (length(ctx$cd8) && !any(type_in(cells, ctx$cd8)))
                  "no CD8 cells",
              if (!any(type_in(cells, ctx$immune))) "no immune cells")
    n_imm <- "weighted:immune_cells"
    with_note(df, note,
              c(cd8_tumor_median_um = "weighted:cd8_cells",
                cd8_tumor_frac_near = "weighted:cd8_cells",
                immune_tumor_median_um = n_imm,
                immune_tumor_frac_near = n_imm))
}

profile_mixing <- function(cells, ctx) {
    imm <- present_types(cells, ctx$immune)
    tum <- present_types(cells, ctx$tumor)
    arch_lv <- c("cold", "compartmentalized", "mixed")
    note <- NULL
    if (!length(imm) || !length(tum)) {
        # no classify_architecture() call: it needs both roles present
        area <- unname(window_areas(cells)[1]) / 1e6
        dens <- sum(type_in(cells, ctx$immune)) / area
        cls <- if (isTRUE(dens < ctx$min_immune)) "cold" else NA_character_
        df <- data.frame(n_immune_tumor_pairs = NA_real_,
                         n_immune_immune_pairs = NA_real_,
                         mixing_score = NA_real_,
                         normalized_mixing_score = NA_real_,
                         architecture = factor(cls, levels = arch_lv))
        note <- if (!length(tum)) "no tumour cells" else "no immune cells"
    } else {
        a <- classify_architecture(cells, tumor = tum, immune = imm,
                                   radius = ctx$contact,
                                   threshold = ctx$threshold,
                                   min_immune = ctx$min_immune,
                                   nthreads = ctx$nthreads)
        ms <- a$mixing_score
        note <- if (!is.null(a$note) && !is.na(a$note[1])) a$note[1]
        if (!is.finite(ms)) {
            # Inf (no immune-immune contact) would break means and models
            note <- paste(c(note, "mixing score NA"), collapse = ": ")
            ms <- NA_real_
        }
        df <- data.frame(n_immune_tumor_pairs = a$n_immune_tumor,
                         n_immune_immune_pairs = a$n_immune_immune,
                         mixing_score = ms,
                         normalized_mixing_score =
                             if (is.na(ms)) NA_real_ else
                                 a$normalized_mixing_score,
                         architecture = factor(as.character(a$class),
                                               levels = arch_lv))
    }
    with_note(df, note,
              c(n_immune_tumor_pairs = "sum", n_immune_immune_pairs = "sum",
                mixing_score =
                    "ratio:n_immune_tumor_pairs/n_immune_immune_pairs",
                normalized_mixing_score = "weighted:immune_cells",
                architecture = "mode"))
}

pair_names <- function(ctx, prefix) {
    paste0(prefix, ctx$slug(ctx$pairs$from), "_to_", ctx$slug(ctx$pairs$to))
}

profile_interactions <- function(cells, ctx) {
    if (ws_active(cells, ctx)) return(profile_interactions_ws(cells, ctx))
    z <- rep(NA_real_, nrow(ctx$pairs))
    ty <- present_types(cells, unique(c(ctx$pairs$from, ctx$pairs$to)))
    if (length(ty) && nrow(ctx$pairs)) {
        it <- interaction_test(cells, radius = ctx$radius,
                               method = "classic", nperm = ctx$nperm,
                               types = ty, nthreads = ctx$nthreads)
        key <- paste(it$from, it$to, sep = "\r")
        z <- it$z[match(paste(ctx$pairs$from, ctx$pairs$to, sep = "\r"),
                        key)]
    }
    nm <- pair_names(ctx, "z_")
    df <- as.data.frame(as.list(stats::setNames(z, nm)))
    with_note(df, NULL, stats::setNames(rep("mean", length(nm)), nm))
}

profile_kfunctions <- function(cells, ctx) {
    if (ws_active(cells, ctx)) return(profile_kfunctions_ws(cells, ctx))
    np <- nrow(ctx$pairs)
    area <- rep(NA_real_, np)
    outside <- rep(NA_real_, np)
    # one call per target type: its pairs share the relabellings
    for (t in present_types(cells, unique(ctx$pairs$to))) {
        from <- present_types(cells, ctx$pairs$from[ctx$pairs$to == t])
        if (!length(from)) next
        l <- ripley_l(cells, from = from, to = t, r = ctx$r,
                      envelope = "labels", nsim = ctx$nsim,
                      nthreads = ctx$nthreads)
        s <- summary(l)
        k <- match(paste(ctx$pairs$from, ctx$pairs$to, sep = "\r"),
                   paste(s$from, s$to, sep = "\r"))
        hit <- !is.na(k)
        area[hit] <- s$area_mmean[k[hit]]
        outside[hit] <- s$outside[k[hit]]
    }
    a_nm <- pair_names(ctx, "l_area_")
    o_nm <- pair_names(ctx, "l_outside_")
    df <- as.data.frame(as.list(c(stats::setNames(area, a_nm),
                                  stats::setNames(outside, o_nm))))
    with_note(df, NULL, stats::setNames(rep("weighted:area_mm2", 2L * np),
                                        c(a_nm, o_nm)))
}

profile_neighborhoods <- function(cells, ctx) {
    lab <- cells$.neighborhood
    if (is.null(lab)) {
        stop_immunoscape(c(
            "No neighbourhood labels: the neighbourhood group's prepare step did not run.",
            "i" = "This is a bug in immunoscape: please report it."
        ), class = "internal", call = NULL)
    }
    fr <- tabulate(lab, nlevels(lab)) / length(lab)
    nm <- paste0("frac_", tolower(levels(lab)))
    df <- as.data.frame(as.list(stats::setNames(fr, nm)))
    with_note(df, NULL, stats::setNames(rep("weighted:n_cells", length(nm)),
                                        nm))
}

# Tumour regions of one image, computed once per image for every group.
profile_regions <- function(cells, ctx) {
    if (is.null(ctx$cache$regions)) {
        ctx$cache$regions <- tumor_regions(cells, tumor = present_types(
            cells, ctx$tumor), nthreads = ctx$nthreads)
    }
    ctx$cache$regions
}

# Compartments of one image on those regions, computed once per image for
# the compartments and phenotype groups.
profile_comp <- function(cells, ctx) {
    if (is.null(ctx$cache$comp)) {
        ctx$cache$comp <- compartments(cells, profile_regions(cells, ctx),
                                       margin = ctx$margin,
                                       nthreads = ctx$nthreads)
    }
    ctx$cache$comp
}

profile_compartments <- function(cells, ctx) {
    lv <- c("core", "inner_margin", "outer_margin", "stroma")
    s <- ctx$slug(ctx$types)
    area <- stats::setNames(rep(NA_real_, length(lv)), lv)
    dens <- matrix(NA_real_, length(ctx$types), length(lv))
    note <- NULL
    if (!length(present_types(cells, ctx$tumor))) {
        note <- "no tumour cells"
    } else {
        comp <- profile_comp(cells, ctx)
        a <- attr(comp, "areas")
        area[] <- a$area_mm2[match(lv, as.character(a$compartment))]
        n <- table(factor(as.character(comp$type), levels = ctx$types),
                   factor(as.character(comp$compartment), levels = lv))
        dens <- sweep(unclass(n), 2L, area, "/")
        dens[, !(area > 0) | is.na(area)] <- NA_real_
        if (all(is.na(comp$compartment))) note <- "no tumour region"
    }
    a_nm <- paste0("area_", lv, "_mm2")
    d_nm <- as.vector(outer(s, lv, function(t, c) {
        paste0("density_", t, "_", c)
    }))
    df <- as.data.frame(as.list(c(stats::setNames(area, a_nm),
                                  stats::setNames(as.vector(dens), d_nm))))
    agg <- c(stats::setNames(rep("sum", length(lv)), a_nm),
             stats::setNames(paste0("weighted:", rep(a_nm, each = length(s))),
                             d_nm))
    with_note(df, note, agg)
}

profile_phenotype <- function(cells, ctx) {
    lv <- c("inflamed", "excluded", "desert")
    df <- data.frame(immune_phenotype = factor(NA_character_, levels = lv),
                     cd8_density_core = NA_real_,
                     cd8_density_margin = NA_real_,
                     phenotype_core_mm2 = NA_real_,
                     phenotype_margin_mm2 = NA_real_)
    note <- NULL
    # the cohort's types, not the image's: a tumour without CD8 cells is a
    # desert (density 0), as immune_phenotype() of the cohort calls it
    cd8 <- intersect(ctx$cd8, ctx$present)
    tum <- present_types(cells, ctx$tumor)
    if (!length(tum)) {
        note <- "no tumour cells"
    } else if (!length(cd8)) {
        note <- "no CD8 cells in the cohort"
    } else {
        set <- utils::modifyList(phenotype_defaults(),
                                 list(margin = ctx$margin,
                                      nthreads = ctx$nthreads))
        # a classed error (the image's note) rather than the C limit
        check_tile_count(cells, set$tile)
        ph <- phenotype_calls(cells, profile_regions(cells, ctx),
                              profile_comp(cells, ctx), immune = cd8,
                              tumor = tum,
                              aggregates = intersect(ctx$tls_b, ctx$present),
                              set = set)
        df$immune_phenotype[1] <- as.character(ph$phenotype[1])
        df$cd8_density_core <- ph$density_core[1]
        df$cd8_density_margin <- ph$density_margin[1]
        df$phenotype_core_mm2 <- ph$core_area_mm2[1]
        df$phenotype_margin_mm2 <- ph$margin_area_mm2[1]
        if (!is.na(ph$note[1])) note <- ph$note[1]
    }
    with_note(df, note,
              c(immune_phenotype = "mode",
                cd8_density_core = "weighted:phenotype_core_mm2",
                cd8_density_margin = "weighted:phenotype_margin_mm2",
                phenotype_core_mm2 = "sum", phenotype_margin_mm2 = "sum"))
}

profile_growth <- function(cells, ctx) {
    df <- data.frame(
        growth_pattern = factor(NA_character_,
                                levels = c("desmoplastic", "replacement",
                                           "pushing")),
        growth_two_tier = factor(NA_character_,
                                 levels = c("desmoplastic",
                                            "non-desmoplastic")),
        frac_desmoplastic = NA_real_, frac_replacement = NA_real_,
        frac_pushing = NA_real_, interface_um = NA_real_)
    agg <- c(growth_pattern = "mode", growth_two_tier = "mode",
             frac_desmoplastic = "weighted:interface_um",
             frac_replacement = "weighted:interface_um",
             frac_pushing = "weighted:interface_um", interface_um = "sum")
    # not a liver cohort: NA without a note
    if (!any(ctx$liver %in% ctx$present)) return(with_note(df, NULL, agg))
    liver <- present_types(cells, ctx$liver)
    tum <- present_types(cells, ctx$tumor)
    if (!length(tum) || !length(liver)) {
        return(with_note(df, if (!length(tum)) "no tumour cells" else
            "no hepatocytes", agg))
    }
    g <- growth_pattern(cells, profile_regions(cells, ctx), tumor = tum,
                        liver = liver, nthreads = ctx$nthreads)
    df$growth_pattern[1] <- as.character(g$pattern[1])
    df$growth_two_tier[1] <- as.character(g$two_tier[1])
    df$frac_desmoplastic <- g$desmoplastic[1]
    df$frac_replacement <- g$replacement[1]
    df$frac_pushing <- g$pushing[1]
    df$interface_um <- g$interface_um[1]
    with_note(df, if (!is.na(g$note[1])) g$note[1], agg)
}

profile_tls <- function(cells, ctx) {
    mat <- c("aggregate", "primary", "secondary")
    loc <- c("intratumoral", "margin", "peritumoral", "distal")
    nm <- c("n_tls", "tls_per_mm2", paste0("n_tls_", c(mat, loc)),
            "tls_n_b", "frac_b_in_tls")
    df <- as.data.frame(as.list(stats::setNames(rep(NA_real_, length(nm)),
                                                nm)))
    agg <- c(stats::setNames(rep("sum", length(nm)), nm),
             tls_per_mm2 = "ratio:n_tls/area_mm2",
             frac_b_in_tls = "weighted:tls_n_b")
    agg <- agg[!duplicated(names(agg), fromLast = TRUE)]
    # not measurable without B cells in the cohort: NA without a note
    if (!any(ctx$tls_b %in% ctx$present)) return(with_note(df, NULL, agg))
    b <- present_types(cells, ctx$tls_b)
    df[1, ] <- 0
    df$tls_per_mm2 <- 0
    if (!length(b)) return(with_note(df, NULL, agg))
    # the staging markers of the cohort: an image without FDC or GC cells
    # is staged (its TLS are aggregates), not unstaged
    keep <- function(t) {
        t <- intersect(t, ctx$present)
        if (length(t)) t
    }
    reg <- if (length(present_types(cells, ctx$tumor)))
        profile_regions(cells, ctx)
    # the cohort's role types are checked (profile_options()); in one
    # image a T-cell type may be absent (then no TLS has a T-cell zone)
    old <- options(immunoscape.check_roles = FALSE)
    on.exit(options(old), add = TRUE)
    tl <- detect_tls(cells, b_cells = b,
                     t_cells = if (length(ctx$tls_t)) ctx$tls_t else "T",
                     fdc = keep(ctx$tls_fdc), gc = keep(ctx$tls_gc),
                     regions = reg, nthreads = ctx$nthreads)
    im <- tl$images
    tab <- tl$tls
    df$n_tls <- im$n_tls[1]
    df$tls_per_mm2 <- im$tls_per_mm2[1]
    for (m in mat) df[[paste0("n_tls_", m)]] <- sum(tab$maturity == m)
    # no tumour cells (no regions) or no tumour region found here: the
    # TLS are counted, their locations unknown
    unplaced <- if (!is.null(reg)) attr(tl, "notes")$note
    for (l in loc) {
        df[[paste0("n_tls_", l)]] <- if (is.null(reg) || length(unplaced))
            NA_real_ else sum(as.character(tab$location) == l, na.rm = TRUE)
    }
    df$tls_n_b <- im$n_b[1]
    df$frac_b_in_tls <- im$frac_b_in_tls[1]
    with_note(df, if (length(unplaced))
        paste("TLS location NA:", unplaced[1]), agg)
}

attr(profile_neighborhoods, "prepare") <- function(cells, ctx) {
    cn <- ctx$neighborhoods
    if (is.null(cn)) {
        cn <- cellular_neighborhoods(cells, k = ctx$k,
                                     n = ctx$n_neighborhoods,
                                     nthreads = ctx$nthreads)
    } else if (!inherits(cn, "cellular_neighborhoods")) {
        stop_immunoscape(
            "{.arg neighborhoods} must be a {.cls cellular_neighborhoods} result of these cells.",
            class = "argument"
        )
    }
    # cellular_neighborhoods() returns the cells in their order within
    # images: then rows correspond without building keys (whole slides)
    same <- length(cn$image) == nrow(cells) &&
        identical(as.integer(cn$image), as.integer(cells$image)) &&
        identical(cn$cell_id, cells$cell_id)
    at <- if (same) seq_len(nrow(cells)) else
        match(paste(cells$image, cells$cell_id, sep = "\r"),
              paste(cn$image, cn$cell_id, sep = "\r"))
    if (anyNA(at)) {
        stop_immunoscape(
            "{.arg neighborhoods} does not label every cell of {.arg cells}.",
            class = "argument"
        )
    }
    cells$.neighborhood <- cn$neighborhood[at]
    cells
}

# ---- methods -------------------------------------------------------------

# Columns of a profile that are features (not ids, carried or notes).
profile_feature_columns <- function(x) {
    agg <- attr(x, "aggregate")
    intersect(names(x), names(agg) %||% character())
}

#' @export
print.spatial_profile <- function(x, ...) {
    by <- attr(x, "by") %||% "image"
    feats <- profile_feature_columns(x)
    nn <- sum(!is.na(x$note))
    cat(sprintf("<spatial_profile> %d %s%s x %d features; %d with a note\n",
                nrow(x), by, if (nrow(x) == 1) "" else "s", length(feats),
                nn))
    print(utils::head(as.data.frame(x)[c(setdiff(names(x), c(feats, "note")),
                                         utils::head(feats, 6))]), ...)
    invisible(x)
}

#' @rdname spatial_profile
#' @param object A `spatial_profile` result.
#' @export
summary.spatial_profile <- function(object, ...) {
    check_dots(...)
    feats <- profile_feature_columns(object)
    rows <- lapply(feats, function(f) {
        v <- object[[f]]
        num <- is.numeric(v)
        ok <- if (num) is.finite(v) else !is.na(v)
        data.frame(feature = f, n = sum(ok),
                   median = if (num && any(ok)) stats::median(v[ok]) else
                       NA_real_,
                   min = if (num && any(ok)) min(v[ok]) else NA_real_,
                   max = if (num && any(ok)) max(v[ok]) else NA_real_,
                   rule = attr(object, "aggregate")[[f]])
    })
    out <- do.call(rbind, rows)
    rownames(out) <- NULL
    out
}

#' @rdname spatial_profile
#' @param columns Feature columns to draw (default: every numeric feature
#'   column except counts and totals, as [associate_outcome()] tests).
#' @param images For `autoplot()`: rows to draw (names, or positions among
#'   the rows, of the first `by` column: images, or patients after
#'   [aggregate_profile()]); `NULL` (default) for all.
#' @param order_by For `autoplot()`: a feature column to order the rows by
#'   (largest at the top); `NULL` (default) keeps the order of the
#'   profile.
#' @details `autoplot()` draws a heatmap with one row per image (or
#'   patient) and one column per feature, each feature standardised over
#'   the rows drawn (z, capped at 3). Features that are constant or never
#'   known are left out and named in the caption; above 60 rows the row
#'   names are not shown. With fewer than 3 rows (nothing to standardise
#'   against) it shows the values themselves.
#' @export
autoplot.spatial_profile <- function(object, columns = NULL, images = NULL,
                                     order_by = NULL, ...) {
    check_dots(...)
    by <- attr(object, "by") %||% "image"
    all_feats <- profile_feature_columns(object)
    if (is.null(columns)) {
        feats <- all_feats[vapply(all_feats,
                                  function(f) is.numeric(object[[f]]),
                                  logical(1))]
        # counts and totals, as associate_outcome() leaves them out
        feats <- feats[!count_feature(feats, attr(object, "aggregate"))]
    } else {
        feats <- check_choice_multi(columns, all_feats, "columns")
    }
    ids <- as.character(object[[by[1]]])
    keep <- select_images(unique(ids), images)
    df <- as.data.frame(object)[ids %in% keep, , drop = FALSE]
    ids <- as.character(df[[by[1]]])
    if (!is.null(order_by)) {
        order_by <- check_choice(order_by, all_feats)
        o <- order(-xtfrm(df[[order_by]]), na.last = TRUE)
        df <- df[o, , drop = FALSE]
        ids <- ids[o]
    }
    check_plot_rows(df, "rows")
    values <- lapply(feats, function(f) {
        v <- suppressWarnings(as.numeric(df[[f]]))
        v[!is.finite(v)] <- NA
        v
    })
    names(values) <- feats
    if (nrow(df) < 3L) return(profile_values_plot(values, ids, by[1]))
    flat <- vapply(values, function(v) {
        ok <- v[!is.na(v)]
        !length(ok) || all(ok == ok[1])
    }, logical(1))
    if (all(flat)) {
        stop_immunoscape(c(
            "Nothing to plot: every feature drawn is constant or unknown over these rows.",
            "i" = "Choose other {.arg columns}."
        ), class = "empty")
    }
    long <- do.call(rbind, lapply(feats[!flat], function(f) {
        v <- values[[f]]
        z <- (v - mean(v, na.rm = TRUE)) / stats::sd(v, na.rm = TRUE)
        data.frame(id = ids, feature = f, z = pmax(pmin(z, 3), -3))
    }))
    long$id <- factor(long$id, levels = rev(unique(ids)))
    long$feature <- factor(long$feature, levels = feats[!flat])
    nrow_drawn <- length(unique(ids))
    nfeat <- nlevels(long$feature)
    # many features: upright, smaller labels (and a wrapped caption)
    xsize <- if (nfeat > 60L) 5.5 else if (nfeat > 30L) 6.5 else 8
    caption <- c(
        strwrap(missing_caption(feats[flat],
                                "constant or unknown, left out"), 110),
        if (nrow_drawn > 60L) sprintf(
            "%d %ss (names not shown); select some with `images =`",
            nrow_drawn, by[1]),
        if (!is.null(order_by)) sprintf("rows ordered by %s", order_by))
    ggplot2::ggplot(long, ggplot2::aes(x = .data$feature, y = .data$id,
                                       fill = .data$z)) +
        ggplot2::geom_tile() +
        ggplot2::scale_fill_gradient2(low = "#2166AC", mid = "white",
                                      high = "#B2182B", limits = c(-3, 3),
                                      na.value = "grey85",
                                      name = "z (capped\nat 3)") +
        ggplot2::scale_x_discrete(expand = c(0, 0)) +
        ggplot2::scale_y_discrete(expand = c(0, 0)) +
        ggplot2::labs(x = NULL, y = sprintf("%s (%d)", by[1], nrow_drawn),
                      title = "Spatial profile (each feature standardised)",
                      caption = if (length(caption))
                          paste(caption, collapse = "\n")) +
        ggplot2::theme_minimal() +
        ggplot2::theme(axis.text.x = if (nfeat > 30L)
                           ggplot2::element_text(angle = 90, hjust = 1,
                                                 vjust = 0.5, size = xsize)
                       else ggplot2::element_text(angle = 60, hjust = 1,
                                                  size = xsize),
                       plot.caption = ggplot2::element_text(size = 7),
                       axis.text.y = if (nrow_drawn > 60L)
                           ggplot2::element_blank() else
                               ggplot2::element_text(
                                   size = if (nrow_drawn > 30L) 6 else 8),
                       panel.grid = ggplot2::element_blank())
}

# A profile of one or two rows: the values themselves, one column per row.
profile_values_plot <- function(values, ids, by) {
    long <- do.call(rbind, lapply(names(values), function(f) {
        data.frame(id = ids, feature = f, value = values[[f]])
    }))
    long$feature <- factor(long$feature, levels = rev(names(values)))
    long$id <- factor(long$id, levels = unique(ids))
    long$label <- ifelse(is.na(long$value), "NA",
                         formatC(long$value, digits = 3, format = "fg",
                                 big.mark = ","))
    ggplot2::ggplot(long, ggplot2::aes(x = .data$id, y = .data$feature)) +
        ggplot2::geom_tile(fill = "grey96", colour = "white") +
        ggplot2::geom_text(ggplot2::aes(label = .data$label,
                                        colour = is.na(.data$value)),
                           size = 3) +
        ggplot2::scale_colour_manual(values = c(`FALSE` = "black",
                                                `TRUE` = "grey55"),
                                     guide = "none") +
        ggplot2::scale_x_discrete(position = "top") +
        ggplot2::labs(x = by, y = NULL,
                      title = "Spatial profile (values; see ?spatial_profile for units)") +
        ggplot2::theme_minimal() +
        ggplot2::theme(panel.grid = ggplot2::element_blank())
}

# ---- aggregation ---------------------------------------------------------

#' Aggregate image profiles to patients (or any grouping)
#'
#' Pools the rows of a [spatial_profile()] by `by` (e.g. the patient), one
#' rule per column. The default rules (`summary(profile)$rule`) pool what
#' can be pooled:
#'
#' * `"sum"`: counts and areas are added.
#' * `"ratio:<num>/<den>"`: `sum(num) / sum(den)` over the images where
#'   both are known. Densities are pooled counts over the pooled area,
#'   i.e. the area-weighted mean of the image densities; the CD8/Treg
#'   ratio and the mixing score are ratios of pooled counts (`NA` when the
#'   pooled denominator is 0).
#' * `"log2ratio1:<num>/<den>"`: `log2((sum(num) + 1) / (sum(den) + 1))`.
#' * `"weighted:<w>"`: mean weighted by column `w` over images where the
#'   value is known: distance summaries by the number of CD8 (immune)
#'   cells (for the fractions this is the pooled fraction; for the
#'   medians a cell-weighted mean of image medians), neighbourhood
#'   fractions by the number of cells, L-function areas by window area.
#' * `"mean"`: plain mean (interaction z).
#' * `"min"`, `"max"`, `"median"`: as named. The literature takes the
#'   minimum where the worst region decides, e.g. the lowest Immunoscore
#'   over a patient's metastases (Mlecnik et al. 2018): give it with
#'   `rules = c(<column> = "min")`.
#' * `"mode"`: the most frequent value of a categorical column
#'   (architecture), ties broken by the order of the levels.
#'
#' `NA` values (failed images) are left out of every rule; a group whose
#' images are all `NA` for a column gets `NA`. Images whose `by` value is
#' `NA` (unknown patient) form one group of their own, with a message.
#' Carried columns that are constant within groups are kept.
#'
#' @param profile A `spatial_profile` (one row per image).
#' @param by Grouping column(s) of the profile, e.g. `"patient"`. When
#'   not given and the profile has no `patient` column, the patient
#'   column it carries from the cells (see [set_groups()], e.g.
#'   `patient_id`).
#' @param rules Named character vector overriding the rule of columns,
#'   e.g. `c(density_cd8_t = "min")`.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `spatial_profile` with one row per group: the `by` columns,
#'   the constant carried columns, `n_images`, the features, and `note`
#'   (the notes of the images, prefixed by the image).
#' @references Mlecnik B, Van den Eynde M, Bindea G, et al. (2018).
#'   Comprehensive intrametastatic immune quantification and major impact
#'   of Immunoscore on survival. *Journal of the National Cancer
#'   Institute* 110:97-108.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(900, 0, 400), y = runif(900, 0, 400),
#'                  image = rep(c("a", "b", "c"), each = 300),
#'                  patient = rep(c("p1", "p1", "p2"), each = 300),
#'                  type = sample(c("Tumor", "CD8 T", "Treg"), 900, TRUE))
#' prof <- spatial_profile(spatial_cells(df, image = "image"),
#'                         features = profile_features(c("counts", "ratio")))
#' aggregate_profile(prof, by = "patient")
#' aggregate_profile(prof, by = "patient", rules = c(density_cd8_t = "min"))
aggregate_profile <- function(profile, by = "patient", rules = NULL, ...) {
    check_dots(...)
    if (!inherits(profile, "spatial_profile")) {
        stop_immunoscape(c(
            "{.arg profile} must be a {.cls spatial_profile}, not {.obj_type_friendly {profile}}.",
            "i" = "Make one with {.fn spatial_profile}."
        ), class = "argument")
    }
    if (missing(by)) by <- patient_column(profile)
    if (!is.character(by) || !length(by) || anyNA(by)) {
        stop_immunoscape("{.arg by} must name grouping column(s).",
                         class = "argument")
    }
    for (b in by) check_column(profile, b, "by")
    agg <- attr(profile, "aggregate")
    feats <- profile_feature_columns(profile)
    # a default rule whose columns were not profiled (a group left out)
    # falls back to the plain mean (mode for categories)
    for (f in feats) {
        ok <- tryCatch({
            parse_rule(agg[[f]], names(profile))
            TRUE
        }, immunoscape_error = function(e) FALSE)
        if (!ok) agg[[f]] <- if (is.numeric(profile[[f]])) "mean" else "mode"
    }
    if (!is.null(rules)) {
        if (!is.character(rules) || is.null(names(rules))) {
            stop_immunoscape(
                "{.arg rules} must be a named character vector, e.g. {.code c(density_cd8_t = \"min\")}.",
                class = "argument"
            )
        }
        bad <- setdiff(names(rules), feats)
        if (length(bad)) {
            stop_unknown_values(bad, feats, "rules", "feature column",
                                "in the profile", "argument")
        }
        for (f in names(rules)) check_rule_types(rules[[f]], f, profile)
        agg[names(rules)] <- rules
    }
    # images of unknown group (NA) are pooled into a group of their own
    unknown <- Reduce(`|`, lapply(profile[by], is.na))
    if (any(unknown)) {
        inform_immunoscape(c(
            "i" = "{sum(unknown)} image{?s} with {.val NA} in {.field {by}} {?is/are} pooled as one group of unknown {.field {by}}."
        ))
    }
    # (a separator no id holds: "A.1" + "x" is not "A" + "1.x")
    key <- interaction(lapply(profile[by], factor, exclude = NULL),
                       drop = TRUE, lex.order = TRUE, sep = "\r")
    idx <- split(seq_len(nrow(profile)), key)
    idx <- idx[lengths(idx) > 0L]
    df <- as.data.frame(profile)
    out <- df[vapply(idx, `[`, 1L, 1L), by, drop = FALSE]
    rest <- setdiff(names(df), c(by, feats, "note", "image"))
    for (col in rest) {
        same <- vapply(idx, function(i) length(unique(df[[col]][i])) == 1L,
                       logical(1))
        if (all(same)) out[[col]] <- df[[col]][vapply(idx, `[`, 1L, 1L)]
    }
    out$n_images <- lengths(idx)
    for (f in feats) {
        out[[f]] <- apply_rule(agg[[f]], df, f, idx)
    }
    out$note <- vapply(idx, function(i) {
        n <- df$note[i]
        keep <- !is.na(n)
        if (!any(keep)) return(NA_character_)
        paste(paste0(df$image[i][keep], ": ", n[keep]), collapse = " | ")
    }, character(1))
    rownames(out) <- NULL
    structure(out,
              class = c("spatial_profile", "immunoscape_result",
                        "data.frame"),
              aggregate = agg[feats], slugs = attr(profile, "slugs"),
              options = attr(profile, "options"),
              tumor = attr(profile, "tumor"), immune = attr(profile, "immune"),
              pairs = attr(profile, "pairs"), by = by,
              problems = attr(profile, "problems"))
}

rule_names <- c("sum", "mean", "min", "max", "median", "mode", "weighted",
                "ratio", "log2ratio1")

# A user's rule for column `f`: known, and on numbers where it needs them
# (every rule but "mode" on the column; weights, numerators and
# denominators always).
check_rule_types <- function(rule, f, profile, call = rlang::caller_env()) {
    r <- parse_rule(rule, names(profile), call = call)
    num <- function(col) {
        v <- profile[[col]]
        is.numeric(v) || is.logical(v)
    }
    cols <- c(if (!r$kind %in% c("mode", "ratio", "log2ratio1")) f, r$args)
    bad <- cols[!vapply(cols, num, logical(1))]
    if (length(bad)) {
        stop_immunoscape(c(
            "Rule {.val {rule}} for {.field {f}} needs numbers, but {.field {bad}} {?is/are} not numeric.",
            "i" = "Use {.val mode} for a category, or name numeric columns."
        ), class = "argument", call = call)
    }
    invisible(r)
}

parse_rule <- function(rule, cols, call = rlang::caller_env()) {
    parts <- strsplit(rule, ":", fixed = TRUE)[[1]]
    kind <- parts[1]
    args <- if (length(parts) > 1L) strsplit(parts[2], "/", fixed = TRUE)[[1]]
        else character()
    need <- c(weighted = 1L, ratio = 2L, log2ratio1 = 2L)
    nargs <- if (kind %in% names(need)) need[[kind]] else 0L
    if (!kind %in% rule_names || length(args) != nargs ||
        !all(args %in% cols)) {
        stop_immunoscape(c(
            "Unknown aggregation rule {.val {rule}}.",
            "i" = "Rules: {.val {c('sum', 'mean', 'min', 'max', 'median', 'mode')}}, {.code weighted:<column>}, {.code ratio:<num>/<den>}, {.code log2ratio1:<num>/<den>}, naming columns of the profile."
        ), class = "argument", call = call)
    }
    list(kind = kind, args = args)
}

apply_rule <- function(rule, df, col, idx) {
    r <- parse_rule(rule, names(df))
    v <- df[[col]]
    lv <- if (is.factor(v)) levels(v) else sort(unique(v))
    one <- function(i) {
        x <- v[i]
        ok <- !is.na(x)
        switch(r$kind,
            sum = if (any(ok)) sum(x[ok]) else NA,
            mean = if (any(ok)) mean(x[ok]) else NA,
            min = if (any(ok)) min(x[ok]) else NA,
            max = if (any(ok)) max(x[ok]) else NA,
            median = if (any(ok)) stats::median(x[ok]) else NA,
            mode = {
                if (!any(ok)) return(NA)
                tab <- table(factor(x[ok], levels = lv))
                names(tab)[which.max(tab)]
            },
            weighted = {
                w <- df[[r$args[1]]][i]
                ok <- ok & !is.na(w) & w > 0
                if (any(ok)) sum(w[ok] * x[ok]) / sum(w[ok]) else NA
            },
            ratio = , log2ratio1 = {
                num <- df[[r$args[1]]][i]
                den <- df[[r$args[2]]][i]
                ok <- !is.na(num) & !is.na(den)
                if (!any(ok)) return(NA)
                if (r$kind == "log2ratio1") {
                    log2((sum(num[ok]) + 1) / (sum(den[ok]) + 1))
                } else if (sum(den[ok]) > 0) sum(num[ok]) / sum(den[ok])
                else NA
            })
    }
    res <- lapply(idx, one)
    if (r$kind == "mode") {
        return(factor(unlist(lapply(res, as.character)), levels = lv))
    }
    as.numeric(unlist(res))
}

# The patient column of a profile: "patient", else the first group column
# it carries (e.g. "patient_id" taken as the patient by read_cells()).
patient_column <- function(profile) {
    if ("patient" %in% names(profile)) return("patient")
    g <- intersect(attr(profile, "image_groups"), names(profile))
    if (length(g)) g[1] else "patient"
}
