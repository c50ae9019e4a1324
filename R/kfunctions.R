# Point-pattern statistics: Ripley's K, Besag's L, the pair correlation
# function and the nearest-neighbour distance distribution G, per image and
# pair of cell types, edge-corrected, with simulation envelopes. Numbers
# follow spatstat.explore (Kest / Kcross, Lest / Lcross, pcf / pcfcross,
# Gest / Gcross); the pairs are enumerated once on the C spatial index.

#' Ripley's K function
#'
#' Ripley's K function of the cells of type `from` (univariate) or the
#' cross-type K function from `from` cells to `to` cells, per image, with
#' edge corrections and optional simulation envelopes. \eqn{\lambda K(r)} is
#' the expected number of further (`to`) cells within distance `r` of a
#' typical (`from`) cell; under complete spatial randomness (CSR)
#' \eqn{K(r) = \pi r^2}. Larger values mean clustering (attraction of `to`
#' cells to `from` cells), smaller ones regularity (avoidance).
#'
#' @section Estimators:
#' The numbers are those of spatstat.explore (`Kest()` for `from == to`,
#' `Kcross()` otherwise) on the same window, `r` values and correction;
#' a distance equal to `r` counts (\eqn{d \le r}). Where many distances
#' equal some `r` exactly -- coordinates on a pixel grid, such as inForm's
#' 0.5 micron steps, with integer `r` -- spatstat can place such a pair in
#' the next `r` step, and its values at those `r` fall below ours (by
#' several per cent at small `r`); ours then equal a brute-force count of
#' \eqn{d \le r}. On the default convex-hull window some cells sit exactly
#' on its vertices; spatstat's isotropic weights for circles through such a
#' vertex can differ from the exact circle fraction (ours), by about 1e-3
#' relative in K; on rectangles and other polygons the two agree to
#' rounding. With \eqn{n} cells of
#' the type (univariate), or \eqn{n_i} `from` and \eqn{n_j} `to` cells,
#' in a window of area \eqn{|W|}:
#' * `"none"`, `"isotropic"`, `"translate"`: the weighted number of ordered
#'   pairs at distance \eqn{\le r} times \eqn{|W| / (n (n - 1))}, or
#'   \eqn{|W| / (n_i n_j)} cross-type. `"isotropic"` is Ripley's weight
#'   (one over the fraction of the circle through the other cell that lies
#'   in the window, computed exactly for rectangles and polygons);
#'   `"translate"` is \eqn{|W| / |W \cap (W + d)|}, exact for rectangles;
#'   for polygons exact with few pairs (fewer than about 30,000), else
#'   interpolated from a 129 x 129 table of exact overlaps by piecewise
#'   biquadratics (the overlap is a piecewise quadratic function of the
#'   shift, so this is exact away from its breakpoints; for windows of up
#'   to 256 vertices, table cells where a breakpoint makes the
#'   interpolation differ by more than 1e-6 of the window area use exact
#'   overlaps). The relative error of a weight stayed below 1e-5 (up to
#'   256 vertices) and 1e-4 (tissue masks of 1,200 vertices) in our
#'   measurements; spatstat approximates polygons by a pixel mask here and
#'   differs by up to a few percent. Weights are capped at 100 as in
#'   spatstat. Both are `NA` for `r` beyond half the window's diameter.
#' * `"border"`: the reduced-sample estimator. Univariate: pairs whose
#'   `from` cell lies further than `r` from the window boundary, divided
#'   by \eqn{n / |W|} times the number of such cells (spatstat's `Kest()`).
#'   Cross-type: as spatstat's `Kcross()`, which tabulates boundary
#'   distances on the `r` grid: a `from` cell is used at `r[k]` when its
#'   boundary distance is at least `r[k - 1]` and at least the pair
#'   distance; the ratio is taken with \eqn{n_j / |W|}.
#'
#' The default correction is the same whatever the number of cells
#' (spatstat silently switches to `"border"` above 3000 cells).
#'
#' The default `r` is spatstat's: 513 values from 0 to
#' \eqn{\min(\sqrt{1000 / (\pi \lambda)}, s / 4)}{
#' min(sqrt(1000 / (pi lambda)), s / 4)}, where \eqn{\lambda} is the
#' intensity of the `to` cells and \eqn{s} the shorter side of the
#' window's bounding box; so it differs between images and type pairs.
#' A given `r` must start at 0 and increase.
#'
#' @section Envelopes:
#' `envelope = "csr"` simulates the `from` and `to` cells as independent
#' uniform patterns in the window (same numbers of cells); `"labels"`
#' keeps every cell of the image where it is and permutes the cell types
#' at random (random labelling: the null hypothesis that a type's location
#' does not depend on the other types, given where cells are). Each
#' correction gets `lo`, `hi` (pointwise: the minimum and maximum of the
#' `nsim` simulated curves at each `r`, as spatstat's `envelope(nrank = 1)`;
#' with `global = TRUE`: the simulated mean plus or minus the largest
#' absolute deviation of a simulated curve from the mean over all `r`) and
#' `mmean` (the mean of the simulated curves). The pairs are enumerated
#' once for all relabellings; simulations use R's random numbers, so
#' `set.seed()` reproduces them whatever `nthreads`. A pointwise envelope
#' excludes the observed curve at a given `r` with probability
#' \eqn{2 / (nsim + 1)} under the null hypothesis; a global one excludes it
#' anywhere with probability \eqn{1 / (nsim + 1)}.
#'
#' @param cells A `spatial_cells` object.
#' @param from Cell type(s) of the reference cells, or `NULL` for all cells
#'   pooled regardless of type.
#' @param to Cell type(s) of the target cells (default: `from`, the
#'   univariate function), or `NULL` for all cells. With several `from` or
#'   `to` types every combination is computed.
#' @param r Distances (microns): `NULL` for spatstat's default grid, or an
#'   increasing vector starting at 0.
#' @param correction Edge corrections: any of `"isotropic"` (default),
#'   `"translate"`, `"border"`, `"none"`, or `"all"`. Several corrections
#'   come from one pass over the pairs.
#' @param envelope `"none"`, `"csr"` or `"labels"` (see Envelopes).
#' @param nsim Number of simulations for an envelope.
#' @param nthreads Number of OpenMP threads; results do not depend on it.
#' @param global `FALSE` for pointwise envelopes, `TRUE` for global
#'   (simultaneous) ones.
#' @param BPPARAM `NULL` (images one after another, with a progress bar)
#'   or a BiocParallel parameter object to spread images over workers.
#'   Envelopes are the same either way after [set.seed()]: each image
#'   simulates from its own seed, drawn before the images are dispatched.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `ripley_k` data frame (class `immunoscape_fv`), one row per
#'   image, type pair, correction and `r`: `image`, `from`, `to`, `r`,
#'   `correction`, `estimate`, `theo` (the CSR value \eqn{\pi r^2}), and
#'   with an envelope `lo`, `hi`, `mmean`. The attribute `groups` lists per
#'   image and pair the numbers of cells (`n_from`, `n_to`), the window
#'   `area` and a `note` explaining `NA` estimates (fewer than two cells of
#'   the type, no `to` cells, cells outside the window left out).
#'   `summary()` gives per image, pair and correction the direction of
#'   the departure from the simulated null (with an envelope) or from the
#'   CSR curve (without), and the signed areas behind it; see
#'   [summary.immunoscape_fv()].
#' @seealso [ripley_l()], [pair_correlation()], [g_function()].
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(400, 0, 500), y = runif(400, 0, 500),
#'                  type = sample(c("Tumor", "CD8 T"), 400, TRUE))
#' cells <- spatial_cells(df, window = "rectangle")
#' k <- ripley_k(cells, "Tumor", "CD8 T", r = seq(0, 50, by = 5))
#' head(k)
#' summary(k)
ripley_k <- function(cells, from, to = from, r = NULL,
                     correction = "isotropic",
                     envelope = c("none", "csr", "labels"), nsim = 99,
                     nthreads = immunoscape_threads(), global = FALSE,
                     BPPARAM = NULL, ...) {
    if (missing(from)) stop_missing_from()
    kf_main("K", cells, from, to, r, correction, envelope, nsim, nthreads,
            global, BPPARAM, list(...))
}

#' Besag's L function
#'
#' \eqn{L(r) = \sqrt{K(r) / \pi}}{L(r) = sqrt(K(r) / pi)}, the
#' variance-stabilised K function (see [ripley_k()] for the arguments,
#' estimators and envelopes): \eqn{r} under CSR, above the line for
#' clustering or attraction, below it for regularity or avoidance.
#' Envelopes are computed on the L scale.
#'
#' @inheritParams ripley_k
#' @returns A `ripley_l` data frame (class `immunoscape_fv`) with the
#'   columns of [ripley_k()]; `theo` is `r`.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(400, 0, 500), y = runif(400, 0, 500),
#'                  type = sample(c("Tumor", "CD8 T"), 400, TRUE))
#' cells <- spatial_cells(df, window = "rectangle")
#' l <- ripley_l(cells, "Tumor", r = seq(0, 50, by = 5),
#'               envelope = "csr", nsim = 19)
#' summary(l)
ripley_l <- function(cells, from, to = from, r = NULL,
                     correction = "isotropic",
                     envelope = c("none", "csr", "labels"), nsim = 99,
                     nthreads = immunoscape_threads(), global = FALSE,
                     BPPARAM = NULL, ...) {
    if (missing(from)) stop_missing_from()
    kf_main("L", cells, from, to, r, correction, envelope, nsim, nthreads,
            global, BPPARAM, list(...))
}

#' Pair correlation function
#'
#' The pair correlation function \eqn{g(r) = K'(r) / (2 \pi r)} of the
#' `from` cells (univariate) or from `from` to `to` cells: the density of
#' (`to`) cells at distance exactly `r` from a typical (`from`) cell,
#' relative to CSR (\eqn{g = 1}); above 1 at distances where cells attract,
#' below 1 where they avoid each other. See [ripley_k()] for the common
#' arguments and envelopes.
#'
#' @section Smoothing:
#' The estimate is a kernel sum over ordered pairs,
#' \deqn{g(r) = \frac{\sum w_{ij} k_h(r - d_{ij})}{2 \pi r \lambda^2
#' |W|},}{g(r) = sum w_ij k_h(r - d_ij) / (2 pi r lambda^2 |W|),}
#' with the Epanechnikov kernel
#' \eqn{k_h(u) = \frac{3}{4h}(1 - u^2/h^2)}{k_h(u) = 3 / (4h) (1 - u^2/h^2)}
#' of half-width \eqn{h = 0.15 / \sqrt{\lambda}}{h = 0.15 / sqrt(lambda)}
#' (spatstat's `stoyan` rule, \eqn{\lambda} the intensity of the `to`
#' cells) or \eqn{\sqrt{5}}{sqrt(5)} times `bw`, and the same edge
#' weights \eqn{w_{ij}} and intensities as spatstat's `pcf()` /
#' `pcfcross()`
#' (\eqn{\lambda^2 |W| = n (n - 1) / |W|}, cross-type
#' \eqn{n_i n_j / |W|}). The kernel sum is evaluated exactly at every `r`
#' (spatstat bins the distances for `density()`), without reflection at 0,
#' as in spatstat; both therefore underestimate \eqn{g} within one
#' half-width of 0, and agree within a few percent beyond. `"border"`
#' uses only `from` cells further than `r` from the boundary, divided by
#' their number times \eqn{\lambda}. The estimate is `NA` at \eqn{r = 0},
#' and for `"isotropic"` and `"translate"`, as for K, at `r` beyond half
#' the window's diameter (few pairs reach that far; their weights are
#' unreliable).
#'
#' @inheritParams ripley_k
#' @param bw Kernel bandwidth (the standard deviation of the kernel, in
#'   microns, as spatstat's `bw`); `NULL` for the rule above.
#' @returns A `pair_correlation` data frame (class `immunoscape_fv`) with
#'   the columns of [ripley_k()]; `theo` is 1.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(600, 0, 500), y = runif(600, 0, 500),
#'                  type = sample(c("Tumor", "CD8 T"), 600, TRUE))
#' cells <- spatial_cells(df, window = "rectangle")
#' g <- pair_correlation(cells, NULL, r = seq(0, 60, by = 2))
#' head(g)
pair_correlation <- function(cells, from, to = from, r = NULL,
                             correction = "isotropic",
                             envelope = c("none", "csr", "labels"),
                             nsim = 99, nthreads = immunoscape_threads(),
                             global = FALSE, BPPARAM = NULL, bw = NULL,
                             ...) {
    if (missing(from)) stop_missing_from()
    if (!is.null(bw)) {
        bw <- check_radius(bw)
        if (bw <= 0) {
            stop_immunoscape(c(
                "{.arg bw} must be a positive bandwidth (microns), not {.val {format(bw)}}.",
                "i" = "For example {.code bw = 5}, or {.code bw = NULL} for the default rule."
            ), class = "radius")
        }
    }
    kf_main("pcf", cells, from, to, r, correction, envelope, nsim, nthreads,
            global, BPPARAM, list(...), bw = bw)
}

#' Nearest-neighbour distance distribution G
#'
#' \eqn{G(r)}, the probability that the nearest other cell of the type
#' (univariate) or the nearest `to` cell (cross-type) of a typical `from`
#' cell lies within distance `r`. Under CSR
#' \eqn{G(r) = 1 - \exp(-\lambda \pi r^2)}{G(r) = 1 - exp(-lambda pi r^2)},
#' \eqn{\lambda} the intensity of the `to` cells; larger values mean `to`
#' cells sit closer to `from` cells than by chance.
#'
#' @section Estimators:
#' As spatstat's `Gest()` / `Gcross()` on the same `r` grid, which they
#' tabulate on: with \eqn{d_i} the nearest-neighbour distance and
#' \eqn{b_i} the boundary distance of `from` cell \eqn{i}, a distance is
#' observed when \eqn{d_i \le b_i} and censored at \eqn{b_i} otherwise.
#' `"km"` is the Kaplan-Meier estimator on the grid intervals, `"rs"` the
#' reduced-sample (border) estimator, `"han"` Hanisch's estimator (observed
#' distances weighted by one over the area of the window eroded by the
#' distance, normalised to end at its maximum), `"none"` the empirical
#' distribution of \eqn{d_i}. Nearest-neighbour distances are tabulated on
#' the intervals \eqn{(r_{k-1}, r_k]} (a distance equal to `r` counts at
#' `r`; spatstat's `"km"` and `"rs"` count such ties at the next `r`),
#' boundary distances on \eqn{[r_{k-1}, r_k)} as in spatstat (the first
#' interval starts at `-r[2]`). For polygon windows the eroded areas
#' of `"han"` come from 512 x 512 pixel centres (spatstat uses a coarser
#' pixel mask). The default `r` follows spatstat: 513 values up to
#' \eqn{\min(\sqrt{\log(10^5) / (\pi \lambda)}, D / 2)}{
#' min(sqrt(log(1e5) / (pi lambda)), D / 2)}, \eqn{D} the diagonal of
#' the window's bounding box.
#'
#' Envelopes as in [ripley_k()]; with `"labels"` the nearest `to` cells
#' of every relabelling are found in one pass over the pairs within the
#' largest `r`.
#'
#' @inheritParams ripley_k
#' @param correction Any of `"km"` (default), `"rs"` (alias `"border"`),
#'   `"han"`, `"none"`, or `"all"`.
#' @returns A `g_function` data frame (class `immunoscape_fv`) with the
#'   columns of [ripley_k()]; `theo` is the CSR value.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(400, 0, 500), y = runif(400, 0, 500),
#'                  type = sample(c("Tumor", "CD8 T"), 400, TRUE))
#' cells <- spatial_cells(df, window = "rectangle")
#' g <- g_function(cells, "Tumor", "CD8 T", correction = c("km", "rs"))
#' summary(g)
g_function <- function(cells, from, to = from, r = NULL, correction = "km",
                       envelope = c("none", "csr", "labels"), nsim = 99,
                       nthreads = immunoscape_threads(), global = FALSE,
                       BPPARAM = NULL, ...) {
    if (missing(from)) stop_missing_from()
    kf_main("G", cells, from, to, r, correction, envelope, nsim, nthreads,
            global, BPPARAM, list(...))
}

# ---- argument handling ---------------------------------------------------

stop_missing_from <- function(call = rlang::caller_env()) {
    stop_immunoscape(c(
        "{.arg from} is missing.",
        "i" = "Name the reference cell type, e.g. {.code from = \"Tumor\"}, or use {.code from = NULL} to pool all cells."
    ), class = "argument", call = call)
}

kf_corrections <- list(
    K = c(isotropic = "isotropic", Ripley = "isotropic", iso = "isotropic",
          translate = "translate", translation = "translate",
          trans = "translate", border = "border", none = "none"),
    G = c(km = "km", KM = "km", Kaplan = "km", rs = "rs", border = "rs",
          han = "han", Hanisch = "han", none = "none")
)

check_correction <- function(correction, fun, call = rlang::caller_env()) {
    table <- kf_corrections[[if (fun == "G") "G" else "K"]]
    valid <- unique(table)
    if (!is.character(correction) || !length(correction) ||
        anyNA(correction)) {
        stop_immunoscape(c(
            "{.arg correction} must be a character vector.",
            "i" = "Choose from {.val {c(valid, 'all')}}."
        ), class = "argument", call = call)
    }
    if ("all" %in% correction) return(valid)
    bad <- correction[!correction %in% names(table)]
    if (length(bad)) {
        stop_immunoscape(c(
            "{.arg correction} {.val {bad}} is not available for this function.",
            "i" = "Choose from {.val {c(valid, 'all')}}."
        ), class = "argument", call = call)
    }
    valid[valid %in% unname(table[correction])]
}

check_r_grid <- function(r, call = rlang::caller_env()) {
    if (is.null(r)) return(NULL)
    ok <- is.numeric(r) && length(r) >= 2L && !anyNA(r) &&
        all(is.finite(r))
    if (ok) ok <- r[1] == 0 && all(diff(r) > 0)
    if (!ok) {
        stop_immunoscape(c(
            "{.arg r} must be an increasing vector of at least two distances starting at 0 (microns).",
            "i" = "For example {.code r = seq(0, 100, by = 1)}, or {.code r = NULL} for the default."
        ), class = "radius", call = call)
    }
    # no two cells are further apart than the coordinate range allows,
    # and the CSR value pi r^2 would overflow to Inf beyond ~1e154
    if (max(r) > 4 * max_coordinate) {
        stop_immunoscape(c(
            "{.arg r} reaches {format(max(r), digits = 3)} microns, beyond any distance between two cells (coordinates are at most {format(max_coordinate)} microns).",
            "i" = "Estimates there are undefined and the CSR value {.field theo} would be infinite; use distances up to half the image width."
        ), class = "radius", call = call)
    }
    as.numeric(r)
}

# from / to as character (NA = all cells pooled) and their combinations.
kf_type_pairs <- function(cells, from, to, call = rlang::caller_env()) {
    f <- if (is.null(from)) NA_character_ else
        check_types(cells, from, arg = "from", call = call)
    t <- if (is.null(to)) NA_character_ else
        check_types(cells, to, arg = "to", call = call)
    g <- expand.grid(to = t, from = f, stringsAsFactors = FALSE)
    g[, c("from", "to")]
}

# ---- the driver ----------------------------------------------------------

kf_main <- function(fun, cells, from, to, r, correction, envelope, nsim,
                    nthreads, global, BPPARAM, dots, bw = NULL,
                    call = rlang::caller_env()) {
    if (length(dots)) rlang::exec(check_dots, !!!dots, call = call)
    # abbreviated names in the user's call to ripley_k() & co.
    check_full_names(sys.function(-1L), sys.call(-1L), call = call)
    cells <- check_cells(cells, call = call)
    pairs <- kf_type_pairs(cells, from, to, call = call)
    r <- check_r_grid(r, call = call)
    corr <- check_correction(correction, fun, call = call)
    envelope <- check_choice(envelope, c("none", "csr", "labels"),
                             call = call)
    nsim <- check_count(nsim, "nsim", call = call)
    if (envelope != "none") {
        # random-labelling bits per cell and the simulated curves
        check_memory((nsim + 1) * (nrow(cells) / 4 + 64 * length(r)),
                     "nsim", call = call)
    }
    nthreads <- check_nthreads(nthreads, call = call)
    check_flag(global, "global", call = call)
    if (envelope == "labels" &&
        any(is.na(pairs$from) & is.na(pairs$to))) {
        stop_immunoscape(c(
            "{.code envelope = \"labels\"} needs cell types: with {.code from = NULL} and {.code to = NULL} relabelling changes nothing.",
            "i" = "Name a {.arg from} or {.arg to} type, or use {.code envelope = \"csr\"}."
        ), class = "argument", call = call)
    }
    opts <- list(fun = fun, pairs = pairs, r = r, corr = corr,
                 envelope = envelope, nsim = nsim, nthreads = nthreads,
                 global = global, bw = bw)
    # only the standard columns travel to the per-image worker
    worker <- kf_worker(opts, levels(cells$type))
    res <- map_images(cells[, standard_columns], worker, BPPARAM = BPPARAM,
                      label = paste(kf_titles[[fun]], "per image"),
                      seeded = envelope != "none")
    # the image-level groups (e.g. patient) after `image`
    carry_groups(kf_result(res, fun, cells, opts), cells)
}

# The per-image worker: built here, not inside kf_main(), so that its
# environment holds only the options and the type levels (BiocParallel
# serialises it with each image, never the cohort).
kf_worker <- function(opts, lv) {
    force(opts)
    force(lv)
    function(sub, image) {
        codes <- sub$type
        if (!identical(levels(codes), lv)) codes <- factor(codes, lv)
        data <- list(x = sub$x, y = sub$y, codes = codes, lv = lv)
        kf_image(data, attr(sub, "windows"), image, opts)
    }
}

kf_titles <- list(K = "K function", L = "L function",
                  pcf = "pair correlation", G = "G function")
kf_classes <- list(K = "ripley_k", L = "ripley_l", pcf = "pair_correlation",
                   G = "g_function")
kf_group_cols <- c(".n_from", ".n_to", ".area", ".note")

# Row-bound per-image rows -> the result object; the per-pair bookkeeping
# columns become the `groups` attribute.
kf_result <- function(res, fun, cells, opts) {
    env <- opts$envelope != "none"
    problems <- attr(res, "problems")
    if (!is.data.frame(res) || !nrow(res)) res <- kf_empty_rows(env)
    lv <- c(levels(cells$type), "all")
    used <- unique(c(kf_label(opts$pairs$from), kf_label(opts$pairs$to)))
    tl <- lv[lv %in% used]
    res$image <- factor(as.character(res$image),
                        levels = levels(cells$image))
    res$from <- factor(res$from, levels = tl)
    res$to <- factor(res$to, levels = tl)
    res$correction <- factor(res$correction, levels = opts$corr)
    first <- !duplicated(res[c("image", "from", "to")])
    groups <- data.frame(image = res$image[first], from = res$from[first],
                         to = res$to[first], n_from = res$.n_from[first],
                         n_to = res$.n_to[first], area = res$.area[first],
                         note = res$.note[first], stringsAsFactors = FALSE)
    out <- res[setdiff(names(res), kf_group_cols)]
    rownames(out) <- NULL
    rownames(groups) <- NULL
    structure(out,
              class = c(kf_classes[[fun]], "immunoscape_fv",
                        "immunoscape_result", "data.frame"),
              fun = fun, groups = groups,
              envelope = list(type = opts$envelope, nsim = opts$nsim,
                              global = opts$global),
              problems = problems)
}

kf_label <- function(type) ifelse(is.na(type), "all", type)

kf_empty_rows <- function(env) {
    df <- data.frame(image = character(), from = character(),
                     to = character(), r = double(),
                     correction = character(), estimate = double(),
                     theo = double(), stringsAsFactors = FALSE)
    if (env) {
        df$lo <- double()
        df$hi <- double()
        df$mmean <- double()
    }
    df$.n_from <- integer()
    df$.n_to <- integer()
    df$.area <- double()
    df$.note <- character()
    df
}

# ---- one image -----------------------------------------------------------

kf_image <- function(data, windows, image, opts) {
    win <- kf_window_spec(windows, image)
    x <- data$x
    y <- data$y
    codes <- data$codes
    # cells outside the window (beyond rounding) are left out, as spatstat
    # rejects them; a note says how many
    b <- win$bounds
    tol <- 1e-9 * max(abs(b), 1)
    if (win$rect && .Call(ffi_window_fits, x, y, as.double(b), tol)) {
        dropped <- 0L
    } else {
        inside <- kf_inside(win, x, y, tol)
        dropped <- sum(!inside)
    }
    if (dropped) {
        x <- x[inside]
        y <- y[inside]
        codes <- codes[inside]
    }
    data <- list(x = x, y = y, codes = codes, lv = data$lv,
                 count = tabulate(codes, length(data$lv)), dropped = dropped)
    rows <- lapply(seq_len(nrow(opts$pairs)), function(k) {
        kf_pair(data, opts$pairs$from[k], opts$pairs$to[k], win, image,
                opts)
    })
    do.call(rbind, rows)
}

# Window of one image for C: list(rect, bounds, x, y, ring_start, area)
# plus what the R side needs (frame sides, diameter).
kf_window_spec <- function(w, image) {
    rg <- window_rings(w, image)
    if (!window_has_rings(rg)) {
        # a degenerate image of a cohort (see spatial_cells())
        stop_immunoscape(c(
            "Image {.val {image}} has no window (its cells span no area): K, L, pair correlation and G need one.",
            "i" = "Set a window with {.fn set_window}, or drop the image."
        ), class = "window")
    }
    xr <- range(rg$x)
    yr <- range(rg$y)
    rect <- length(rg$x) == 4L && length(rg$ring_start) == 2L &&
        kf_is_axis_rect(rg$x, rg$y)
    rs <- rg$ring_start
    area <- if (rect) diff(xr) * diff(yr) else
        .Call(ffi_window_area, rg$x, rg$y, rs)
    h <- if (length(rg$x) > 3L) grDevices::chull(rg$x, rg$y) else
        seq_along(rg$x)
    diam <- sqrt(max(stats::dist(cbind(rg$x[h], rg$y[h]))^2))
    list(c = list(rect, c(xr, yr), as.double(rg$x), as.double(rg$y),
                  as.integer(rs), as.double(area)),
         rings = rg, rect = rect, bounds = c(xr, yr), area = area,
         diameter = diam,
         frame_short = min(diff(xr), diff(yr)),
         frame_diag = sqrt(diff(xr)^2 + diff(yr)^2))
}

# Points in the window (boundary included), or within tol of it.
kf_inside <- function(win, x, y, tol = 0) {
    b <- win$bounds
    if (win$rect) {
        return(x >= b[1] - tol & x <= b[2] + tol & y >= b[3] - tol &
                   y <= b[4] + tol)
    }
    rg <- win$rings
    ins <- .Call(ffi_window_inside, x, y, rg$x, rg$y, rg$ring_start)
    if (tol > 0 && !all(ins)) {
        out <- which(!ins)
        ins[out] <- .Call(ffi_window_bdist, x[out], y[out], rg$x, rg$y,
                          rg$ring_start, 1L) <= tol
    }
    ins
}

kf_is_axis_rect <- function(x, y) {
    j <- c(2:4, 1L)
    horiz <- y == y[j] & x != x[j]
    vert <- x == x[j] & y != y[j]
    all(horiz | vert) && all(horiz != horiz[c(4L, 1:3)])
}

# spatstat's default r: rmax.rule() and make.even.breaks(rmax, rmax / 512).
kf_default_r <- function(fun, win, lambda) {
    if (fun == "G") {
        rmax <- min(sqrt(log(1e5) / (pi * lambda)), win$frame_diag / 2)
    } else {
        rmax <- min(sqrt(1000 / (pi * lambda)), win$frame_short / 4)
        if (!is.finite(rmax)) rmax <- win$diameter
    }
    bstep <- (rmax / 128) / 4
    npos <- ceiling(rmax / bstep)
    seq(0, bstep * npos, length.out = npos + 1L)
}

# ---- one type pair in one image -------------------------------------------

kf_pair <- function(data, from, to, win, image, opts) {
    fun <- opts$fun
    lv <- data$lv
    n <- length(data$x)
    # type codes for C: 1-based factor codes, 0 for all cells
    fc <- if (is.na(from)) 0L else match(from, lv)
    tc <- if (is.na(to)) 0L else match(to, lv)
    self <- identical(from, to)
    nf <- as.double(if (fc == 0L) n else data$count[fc])
    nt <- as.double(if (tc == 0L) n else data$count[tc])
    nij <- if (self) nf else if (is.na(from) || is.na(to)) min(nf, nt) else 0
    area <- win$area
    lambda <- (if (self) nf else nt) / area
    r <- opts$r %||% kf_default_r(fun, win, lambda)
    corr <- opts$corr
    note <- kf_note(self, nf, nt, nij, from, to, fun)
    if (data$dropped) {
        note <- paste(c(note, sprintf(
            "%d cell%s outside the window left out", data$dropped,
            if (data$dropped == 1L) "" else "s")), collapse = "; ")
    }
    env <- opts$envelope != "none"
    est <- matrix(NA_real_, length(r), length(corr))
    sims <- NULL
    if (!kf_undefined(self, nf, nt, nij)) {
        par <- list(fun = fun, self = self, fc = fc, tc = tc, nf = nf,
                    nt = nt, nij = nij, area = area, lambda = lambda, r = r,
                    corr = corr, win = win, bw = opts$bw,
                    nthreads = opts$nthreads)
        if ("han" %in% corr) {
            par$eroded <- .Call(ffi_kfun_eroded, win$c, r, 512L)
        }
        est <- kf_estimate(par, data$x, data$y, data$codes)
        if (env) sims <- kf_simulate(par, data, opts)
    }
    theo <- kf_theo(fun, r, lambda)
    tf <- kf_transform(fun)
    est <- tf(est)
    nr <- length(r)
    nc <- length(corr)
    out <- data.frame(image = rep(image, nr * nc),
                      from = rep(kf_label(from), nr * nc),
                      to = rep(kf_label(to), nr * nc),
                      r = rep(r, nc),
                      correction = rep(corr, each = nr),
                      estimate = as.vector(est),
                      theo = rep(theo, nc), stringsAsFactors = FALSE)
    if (env) {
        e <- kf_envelope(if (is.null(sims)) NULL else tf(sims), nr, nc,
                         opts$global)
        out$lo <- e$lo
        out$hi <- e$hi
        out$mmean <- e$mmean
    }
    out$.n_from <- rep(as.integer(nf), nr * nc)
    out$.n_to <- rep(as.integer(nt), nr * nc)
    out$.area <- rep(area, nr * nc)
    out$.note <- rep(if (length(note)) note else NA_character_, nr * nc)
    out
}

kf_undefined <- function(self, nf, nt, nij) {
    if (self) nf < 2 else nf < 1 || nt < 1 || nf * nt - nij < 1
}

kf_note <- function(self, nf, nt, nij, from, to, fun) {
    if (!kf_undefined(self, nf, nt, nij)) return(NULL)
    lf <- kf_label(from)
    lt <- kf_label(to)
    if (self) {
        return(sprintf("%s: fewer than 2 %s cells (%d)", kf_titles[[fun]],
                       lf, nf))
    }
    if (nf < 1L) return(sprintf("no %s cells", lf))
    if (nt < 1L) return(sprintf("no %s cells", lt))
    "no pair of distinct cells"
}

kf_theo <- function(fun, r, lambda) {
    switch(fun, K = pi * r^2, L = r, pcf = rep(1, length(r)),
           G = 1 - exp(-lambda * pi * r^2))
}

kf_transform <- function(fun) {
    if (fun == "L") function(k) sqrt(pmax(k, 0) / pi) else identity
}

# ---- estimators -------------------------------------------------------------

# C order of the K-type corrections.
kf_c_order <- c("none", "isotropic", "translate", "border")

kf_opts <- function(par, h) {
    c(as.double(kf_c_order %in% par$corr), as.double(par$fun == "pcf"),
      h, as.double(!par$self && par$fun != "pcf"))
}

# pcf kernel half-width: spatstat's stoyan rule, or sqrt(5) * bw.
kf_halfwidth <- function(par) {
    if (!is.null(par$bw)) sqrt(5) * par$bw else 0.15 / sqrt(par$lambda)
}

# Raw sums for the cells of codes par$fc -> par$tc at positions x, y: the
# G histograms, or list(numerators, border denominators); hw and opts as
# from kf_halfwidth() and kf_opts().
kf_sums <- function(par, x, y, codes, opts) {
    if (par$fun == "G") {
        return(.Call(ffi_kfun_nearest, x, y, codes, par$fc, par$tc,
                     par$win$c, par$r, par$nthreads))
    }
    .Call(ffi_kfun_pairs, x, y, codes, par$fc, par$tc, par$win$c, par$r,
          opts, par$nthreads)
}

# Estimates (nr x corrections x nset) from the sums of nset patterns.
kf_from_sums <- function(par, sums, hw) {
    nset <- length(sums)
    if (par$fun == "G") {
        return(kf_g_normalise(par, unlist(sums, use.names = FALSE), nset))
    }
    num <- unlist(lapply(sums, `[[`, 1L), use.names = FALSE)
    den <- unlist(lapply(sums, `[[`, 2L), use.names = FALSE)
    kf_normalise(par, num, den, hw, nset)
}

# Estimates (nr x corrections) for the cells of codes par$fc -> par$tc at
# positions x, y.
kf_estimate <- function(par, x, y, codes) {
    hw <- if (par$fun == "pcf") kf_halfwidth(par) else 0
    sums <- kf_sums(par, x, y, codes, kf_opts(par, hw))
    kf_from_sums(par, list(sums), hw)[, , 1L]
}

# Numerators (nr x ncomp x nset) -> estimates (nr x ncorr x nset).
kf_normalise <- function(par, num, den, hw, nset) {
    r <- par$r
    nr <- length(r)
    present <- kf_c_order[kf_c_order %in% par$corr]
    nmom <- if (par$fun == "pcf") 3L else 1L
    dim(num) <- c(nr, nmom, length(present), nset)
    if (!is.null(den)) dim(den) <- c(nr, nset)
    A <- par$area
    npairs <- if (par$self) par$nf * (par$nf - 1) else
        if (par$fun == "pcf") par$nf * par$nt - par$nij else par$nf * par$nt
    lam_b <- (if (par$self) par$nf else par$nt) / A
    out <- array(NA_real_, c(nr, length(par$corr), nset))
    for (k in seq_along(par$corr)) {
        cr <- par$corr[k]
        m <- match(cr, present)
        if (par$fun == "pcf") {
            s0 <- matrix(num[, 1L, m, ], nr)
            s1 <- matrix(num[, 2L, m, ], nr)
            s2 <- matrix(num[, 3L, m, ], nr)
            ks <- 3 / (4 * hw) * (s0 - (r^2 * s0 - 2 * r * s1 + s2) / hw^2)
            v <- if (cr == "border") ks / (2 * pi * r * lam_b * den) else
                ks / (2 * pi * r * npairs / A)
            v[r == 0, ] <- NA
        } else {
            v <- matrix(num[, 1L, m, ], nr)
            v <- if (cr == "border") v / (lam_b * den) else v * A / npairs
        }
        if (cr %in% c("isotropic", "translate")) {
            v[r >= par$win$diameter / 2, ] <- NA
        }
        v[!is.finite(v)] <- NA
        out[, k, ] <- v
    }
    out
}

# G histograms ((nr + 1) x 6 x nset) -> estimates (nr x ncorr x nset).
kf_g_normalise <- function(par, h, nset) {
    r <- par$r
    nr <- length(r)
    dim(h) <- c(nr + 1L, 6L, nset)
    eroded <- par$eroded
    top <- seq_len(nr)
    rcum <- function(v) rev(cumsum(rev(v)))
    out <- array(NA_real_, c(nr, length(par$corr), nset))
    for (s in seq_len(nset)) {
        hs <- h[, , s]
        for (k in seq_along(par$corr)) {
            v <- switch(par$corr[k],
                none = cumsum(hs[top, 1L]) / par$nf,
                han = {
                    g <- cumsum(hs[top, 2L] / eroded)
                    ok <- is.finite(g)
                    if (any(ok)) g / max(g[ok]) else g * NA
                },
                km = {
                    risk <- rcum(hs[top, 3L]) + hs[nr + 1L, 3L]
                    surv <- ifelse(risk > 0, 1 - hs[top, 4L] / risk, 1)
                    1 - cumprod(surv)
                },
                rs = {
                    cc <- rcum(hs[top, 5L]) + hs[nr + 1L, 5L]
                    u <- cumsum(hs[top, 4L]) -
                        c(0, cumsum(hs[top, 6L])[-nr])
                    u / cc
                })
            v[!is.finite(v)] <- NA
            out[, k, s] <- v
        }
    }
    out
}

# ---- envelopes -----------------------------------------------------------

# Simulated curves (nr x ncorr x nsim), before the L transform.
kf_simulate <- function(par, data, opts) {
    nsim <- opts$nsim
    if (opts$envelope == "labels") {
        # codes of the from and to types; none: all cells
        fc <- if (par$fc == 0L) integer() else par$fc
        tc <- if (par$tc == 0L) integer() else par$tc
        if (par$fun == "G") {
            h <- .Call(ffi_kfun_nearest_labels, data$x, data$y, data$codes,
                       fc, tc, nsim, par$win$c, par$r, par$nthreads)
            e <- kf_g_normalise(par, h, nsim + 1L)
        } else {
            hw <- if (par$fun == "pcf") kf_halfwidth(par) else 0
            res <- .Call(ffi_kfun_labels, data$x, data$y, data$codes, fc, tc,
                         nsim, par$win$c, par$r, kf_opts(par, hw),
                         par$nthreads)
            e <- kf_normalise(par, res[[1]], res[[2]], hw, nsim + 1L)
        }
        return(e[, , -1L, drop = FALSE])
    }
    # CSR: the from and to cells (their union) uniform in the window
    u <- if (par$fc == 0L || par$tc == 0L) seq_along(data$x) else
        which(as.integer(data$codes) %in% c(par$fc, par$tc))
    cu <- as.integer(data$codes)[u]
    hw <- if (par$fun == "pcf") kf_halfwidth(par) else 0
    copts <- kf_opts(par, hw)
    if (par$fun != "G") {
        # all simulations in one C call: the window, its tables and the
        # buffers are built once (same random numbers as kf_runif_window())
        res <- .Call(ffi_kfun_csr, cu, par$fc, par$tc, nsim, par$win$c,
                     par$r, copts, par$nthreads)
        return(kf_normalise(par, res[[1]], res[[2]], hw, nsim))
    }
    sums <- lapply(seq_len(nsim), function(s) {
        p <- kf_runif_window(length(u), par$win)
        kf_sums(par, p$x, p$y, cu, copts)
    })
    kf_from_sums(par, sums, hw)
}

# n points uniform in the window (rejection sampling for polygons), on R's
# random numbers.
kf_runif_window <- function(n, win) {
    b <- win$bounds
    if (win$rect) {
        return(list(x = stats::runif(n, b[1], b[2]),
                    y = stats::runif(n, b[3], b[4])))
    }
    frac <- win$area / ((b[2] - b[1]) * (b[4] - b[3]))
    x <- y <- double()
    while (length(x) < n) {
        m <- ceiling((n - length(x)) / frac * 1.1) + 16L
        px <- stats::runif(m, b[1], b[2])
        py <- stats::runif(m, b[3], b[4])
        ok <- kf_inside(win, px, py)
        x <- c(x, px[ok])
        y <- c(y, py[ok])
    }
    list(x = x[seq_len(n)], y = y[seq_len(n)])
}

# lo, hi, mmean (vectors of nr * ncorr) from simulated curves.
kf_envelope <- function(sims, nr, nc, global) {
    na <- rep(NA_real_, nr * nc)
    if (is.null(sims)) return(list(lo = na, hi = na, mmean = na))
    lo <- hi <- mm <- matrix(NA_real_, nr, nc)
    for (k in seq_len(nc)) {
        s <- matrix(sims[, k, ], nr)
        ok <- rowSums(!is.na(s)) > 0
        mm[ok, k] <- rowMeans(s[ok, , drop = FALSE], na.rm = TRUE)
        if (global) {
            dev <- abs(s - mm[, k])
            dmax <- suppressWarnings(max(apply(dev, 2L, max, na.rm = TRUE)))
            if (is.finite(dmax)) {
                lo[, k] <- mm[, k] - dmax
                hi[, k] <- mm[, k] + dmax
            }
        } else {
            lo[ok, k] <- apply(s[ok, , drop = FALSE], 1L, min, na.rm = TRUE)
            hi[ok, k] <- apply(s[ok, , drop = FALSE], 1L, max, na.rm = TRUE)
        }
    }
    list(lo = as.vector(lo), hi = as.vector(hi), mmean = as.vector(mm))
}

# Isotropic and translation weights of pairs (tests and diagnostics).
kf_edge_weights <- function(win, xi, yi, xj, yj, table_reach = 0) {
    w <- .Call(ffi_kfun_weights, as.double(xi), as.double(yi),
               as.double(xj), as.double(yj), win$c, as.double(table_reach))
    colnames(w) <- c("bdist", "isotropic", "translate")
    w
}

# ---- methods ---------------------------------------------------------------

#' @export
print.immunoscape_fv <- function(x, ...) {
    fun <- attr(x, "fun")
    g <- attr(x, "groups")
    env <- attr(x, "envelope")
    nimg <- length(unique(x$image))
    npair <- nrow(unique(as.data.frame(x)[c("from", "to")]))
    cat(sprintf("<%s> %s: %s rows, %d image%s x %d type pair%s x %s\n",
                class(x)[1], kf_titles[[fun]], format(nrow(x), big.mark = ","),
                nimg, if (nimg == 1) "" else "s", npair,
                if (npair == 1) "" else "s",
                paste(levels(droplevels(x$correction)), collapse = ", ")))
    if (!is.null(env) && env$type != "none") {
        cat(sprintf("envelope: %s, %d simulations, %s\n", env$type, env$nsim,
                    if (isTRUE(env$global)) "global" else "pointwise"))
    }
    notes <- g[!is.na(g$note), , drop = FALSE]
    if (nrow(notes)) {
        cat(sprintf("notes: %s\n", paste(utils::head(sprintf(
            "%s (%s -> %s): %s", notes$image, notes$from, notes$to,
            notes$note), 3), collapse = "; ")))
        if (nrow(notes) > 3) {
            cat(sprintf("# ... %d more notes in attr(x, \"groups\")\n",
                        nrow(notes) - 3))
        }
    }
    print(utils::head(as.data.frame(x)), ...)
    invisible(x)
}

#' Summaries of K, L, pair correlation and G results
#'
#' One row per image, type pair and correction, saying whether the curve
#' departs from the null hypothesis that was simulated, and which way.
#'
#' With an envelope (`envelope = "csr"` or `"labels"`), `direction` comes
#' from the comparison of the estimated curve with that envelope: a curve
#' above the envelope (`estimate > hi`) means attraction (for `from ==
#' to`: clustering), below it (`estimate < lo`) avoidance (regularity),
#' and a curve that never leaves the envelope is `"not significant"`. When
#' the curve leaves on both sides (at different `r`), the side with the
#' larger area outside the band decides. `null` says which null hypothesis
#' that is: `"csr"` (complete spatial randomness: the `from` and `to`
#' cells placed uniformly in the window) or `"labels"` (random labelling:
#' the cells stay where they are and the types are shuffled). The two can
#' disagree: tumour cells packed in islands make every other type look
#' apart from them against CSR, whereas random labelling asks whether the
#' immune cells keep away from the tumour cells more than the cells of the
#' image in general do. With a pointwise envelope (the default) leaving
#' the band somewhere along `r` happens more often than
#' \eqn{2 / (nsim + 1)} under the null (the `r` values are many tests);
#' `global = TRUE` gives envelopes for which `significant` is a test at
#' level \eqn{1 / (nsim + 1)}.
#'
#' Without an envelope there is no test: `null` is `"csr"`, `direction` is
#' the sign of `area_theo` (the signed area between the curve and its
#' theoretical CSR value) and `significant` is `NA`.
#'
#' Areas use the trapezoidal rule over the `r` range and are in the units
#' of the function times microns; a positive area means the curve lies
#' above the reference (attraction or clustering) for every function.
#' Cohort tables can join these rows by `image`.
#'
#' @param object A `ripley_k`, `ripley_l`, `pair_correlation` or
#'   `g_function` result.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A data frame with one row per image, pair and correction:
#' * `image`, `from`, `to`, `correction`, `n_from`, `n_to`, `r_max` (the
#'   largest `r`);
#' * `null`: the null hypothesis `direction` and `significant` refer to,
#'   `"csr"` or `"labels"`;
#' * `area_theo`: signed area between the estimate and the theoretical CSR
#'   curve (`theo`), whatever the envelope;
#' * with an envelope: `area_mmean` (signed area between the estimate and
#'   the mean of the simulated curves, i.e. against the simulated null),
#'   `outside` (share of `r` values where the estimate is outside
#'   `[lo, hi]`), `above`, `below` (shares of `r` values above `hi` and
#'   below `lo`);
#' * `significant`: with an envelope, `TRUE` when the curve leaves the
#'   envelope at some `r`; `NA` without an envelope;
#' * `direction`: `"attraction"`, `"avoidance"`, `"not significant"` (with
#'   an envelope: never outside it) or `NA` (no estimate);
#' * `note`: why estimates are `NA`, from the result's `groups`.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(300, 0, 400), y = runif(300, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T"), 300, TRUE))
#' cells <- spatial_cells(df, window = "rectangle")
#' summary(ripley_l(cells, "Tumor", r = seq(0, 40, by = 2)))
#' summary(ripley_l(cells, "Tumor", "CD8 T", r = seq(0, 40, by = 2),
#'                  envelope = "labels", nsim = 19))
summary.immunoscape_fv <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    g <- attr(object, "groups")
    env <- "mmean" %in% names(df)
    null <- if (env) attr(object, "envelope")$type else "csr"
    key <- interaction(df$image, df$from, df$to, df$correction, drop = TRUE,
                       lex.order = TRUE)
    rows <- lapply(split(seq_len(nrow(df)), key), function(i) {
        d <- df[i, , drop = FALSE]
        gi <- which(g$image == d$image[1] & g$from == d$from[1] &
                        g$to == d$to[1])[1]
        a <- kf_trapz(d$r, d$estimate - d$theo)
        out <- data.frame(image = d$image[1], from = d$from[1],
                          to = d$to[1], correction = d$correction[1],
                          n_from = g$n_from[gi], n_to = g$n_to[gi],
                          r_max = max(d$r), null = null, area_theo = a,
                          stringsAsFactors = FALSE)
        if (env) {
            out$area_mmean <- kf_trapz(d$r, d$estimate - d$mmean)
            out <- cbind(out, kf_envelope_test(d))
        } else {
            out$significant <- NA
            out$direction <- if (is.na(a) || a == 0) NA_character_
                             else if (a > 0) "attraction" else "avoidance"
        }
        out$note <- g$note[gi]
        out
    })
    out <- do.call(rbind, rows)
    if (is.null(out)) return(data.frame())
    rownames(out) <- NULL
    carry_result_groups(out, object)
}

# Where one curve (rows of one image, pair and correction, increasing r)
# leaves its envelope: shares of r outside / above / below, whether it
# leaves at all, and the direction (the side with the larger area outside
# the band when it leaves on both sides).
kf_envelope_test <- function(d) {
    ok <- !is.na(d$estimate) & !is.na(d$lo) & !is.na(d$hi)
    if (!any(ok)) {
        return(data.frame(outside = NA_real_, above = NA_real_,
                          below = NA_real_, significant = NA,
                          direction = NA_character_))
    }
    up <- ok & d$estimate > d$hi
    dn <- ok & d$estimate < d$lo
    ex_up <- kf_trapz(d$r, ifelse(ok, pmax(d$estimate - d$hi, 0), NA))
    ex_dn <- kf_trapz(d$r, ifelse(ok, pmax(d$lo - d$estimate, 0), NA))
    sig <- any(up | dn)
    dir <- if (!sig) "not significant"
           else if (!any(dn)) "attraction"
           else if (!any(up)) "avoidance"
           else if (isTRUE(ex_up >= ex_dn)) "attraction" else "avoidance"
    data.frame(outside = mean(up[ok] | dn[ok]), above = mean(up[ok]),
               below = mean(dn[ok]), significant = sig, direction = dir)
}

# Trapezoidal integral over the finite part of a curve.
kf_trapz <- function(x, y) {
    ok <- !is.na(y)
    if (sum(ok) < 2L) return(NA_real_)
    x <- x[ok]
    y <- y[ok]
    sum(diff(x) * (y[-1] + y[-length(y)]) / 2)
}

#' Plot K, L, pair correlation and G curves
#'
#' The estimated curves against `r`, one colour per correction, the CSR
#' value as a dashed line and the envelope as a grey band, one panel per
#' type pair (and image, when there are several).
#'
#' @param object A `ripley_k`, `ripley_l`, `pair_correlation` or
#'   `g_function` result.
#' @param centre If `TRUE`, draw every curve minus its CSR value, so that
#'   CSR is the horizontal line at 0: \eqn{L(r) - r}, \eqn{K(r) - \pi
#'   r^2}, \eqn{g(r) - 1}, \eqn{G(r) - G_{CSR}(r)}.
#' @param images Images to draw (names or positions); `NULL` for all.
#' @param page,max_panels One panel per image and type pair, at most
#'   `max_panels` (default 25) per page: `page = 2` draws the second
#'   group of images. Without `page`, more panels are all drawn with a
#'   warning of class `immunoscape_warning_panels`.
#' @param ... Unused; a misspelled argument is an error.
#' @returns A `ggplot` object.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(300, 0, 400), y = runif(300, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T"), 300, TRUE))
#' l <- ripley_l(spatial_cells(df, window = "rectangle"), "Tumor", "CD8 T",
#'               r = seq(0, 40, by = 2), envelope = "labels", nsim = 19)
#' autoplot(l)
#' autoplot(l, centre = TRUE)
autoplot.immunoscape_fv <- function(object, centre = FALSE, images = NULL,
                                    page = NULL, max_panels = 25L, ...) {
    check_dots(...)
    check_flag(centre)
    fun <- attr(object, "fun")
    df <- as.data.frame(object)
    check_plot_rows(df, kf_titles[[fun]])
    # one panel per image and pair: select / page by image
    all <- levels(droplevels(as.factor(df$image)))
    npair <- nrow(unique(df[c("from", "to")]))
    keep <- select_images(all, images)
    per_page <- max(1L, check_count(max_panels, "max_panels") %/% npair)
    keep <- page_images(keep, page, per_page, what = "image")
    df <- df[as.character(df$image) %in% keep, , drop = FALSE]
    df$panel <- paste(df$from, "->", df$to)
    if (length(unique(df$image)) > 1L) {
        df$panel <- paste0(df$image, ": ", df$panel)
    }
    df$panel <- factor(df$panel, levels = unique(df$panel))
    ylab <- switch(fun, K = "K(r)", L = "L(r)", pcf = "g(r)", G = "G(r)")
    if (centre) {
        cols <- intersect(c("estimate", "lo", "hi", "mmean"), names(df))
        for (v in cols) df[[v]] <- df[[v]] - df$theo
        df$theo <- 0
        ylab <- switch(fun, K = "K(r) - pi r^2", L = "L(r) - r",
                       pcf = "g(r) - 1", G = "G(r) - G_CSR(r)")
    }
    p <- ggplot2::ggplot(df, ggplot2::aes(.data$r))
    if ("lo" %in% names(df)) {
        env <- df[df$correction == levels(df$correction)[1] &
                      !is.na(df$lo), , drop = FALSE]
        p <- p + ggplot2::geom_ribbon(
            data = env, ggplot2::aes(ymin = .data$lo, ymax = .data$hi),
            fill = "grey80") +
            ggplot2::geom_line(data = env, ggplot2::aes(y = .data$mmean),
                               colour = "grey45", linewidth = 0.3)
    }
    first <- df[df$correction == levels(df$correction)[1], , drop = FALSE]
    p + ggplot2::geom_line(data = first, ggplot2::aes(y = .data$theo),
                           linetype = "dashed", colour = "grey30") +
        ggplot2::geom_line(ggplot2::aes(y = .data$estimate,
                                        colour = .data$correction),
                           linewidth = 0.6, na.rm = TRUE) +
        ggplot2::facet_wrap(ggplot2::vars(.data$panel), scales = "free_y",
                            labeller = ggplot2::label_wrap_gen(width = 20)) +
        ggplot2::labs(x = "r (\u00b5m)", y = ylab, colour = "correction") +
        result_theme()
}
