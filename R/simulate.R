# A simulator of colorectal liver-metastasis sections with ground truth:
# tumour nodules (star-shaped Fourier outlines, optional necrotic holes),
# liver parenchyma in plates, the tumour-liver interface of each growth
# pattern, immune infiltration phenotypes, TLS and decoys. Cells sit on a
# jittered hexagonal lattice thinned by a relative density per tissue zone,
# so that they are spaced like cells in tissue rather than Poisson clumps.

sim_types <- c("Tumor", "Hepatocyte", "Kupffer", "Endothelial", "Fibroblast",
               "CD8 T", "CD4 T", "Treg", "B", "Macrophage", "FDC", "GC B",
               "Other")
sim_regions <- c("tumor", "necrosis", "liver")
sim_patterns <- c("desmoplastic", "replacement", "pushing")
sim_infiltrations <- c("inflamed", "excluded", "desert")
sim_maturities <- c("aggregate", "primary", "secondary")
sim_locations <- c("intratumoral", "margin", "peritumoral", "distal")

#' Simulate colorectal liver-metastasis sections with ground truth
#'
#' `simulate_tme()` draws synthetic multiplex-imaging sections of colorectal
#' liver metastases: segmented cells with a type, on the scale and spacing
#' of real tissue, together with the truth every analysis of immunoscape
#' tries to recover (the tumour outline, the signed distance of each cell to
#' it, the growth pattern, the immune phenotype, the tertiary lymphoid
#' structures). It feeds tests, vignettes and benchmarks (up to 1e7 cells).
#'
#' @section Tissue:
#' Cells sit on a jittered hexagonal lattice that is thinned according to a
#' relative density per tissue zone (tumour epithelium is denser than liver,
#' lumens and necrosis almost empty, follicles of TLS the densest), then
#' normalised so that the whole section holds about
#' `cells_per_mm2 * area` cells. Neighbouring cells are therefore never
#' closer than about 0.4 lattice spacings (7 microns at the default
#' density), as in tissue, and never clump as a Poisson pattern would.
#'
#' * **Liver parenchyma**: hepatocytes in sinuous plates separated by
#'   sinusoids lined by endothelial and Kupffer cells; portal tracts (about
#'   one per mm^2: fibrous stroma, vessels, bile-duct epithelium as
#'   `"Other"`, and their own CD4/CD8 T, B cells and macrophages) and
#'   central veins (empty lumens lined by endothelium).
#' * **Tumour nodules**: `n_nodules` non-overlapping star-shaped nodules
#'   with smooth random outlines (a Fourier series of the radius), covering
#'   together 15 to 28% of the section and kept at least 250 microns from
#'   its edge (or, with `merge_nodules = TRUE`, one mass of `n_nodules`
#'   overlapping lobes). When the section cannot hold them all (40 tries,
#'   each with smaller nodules), the nodules of the try that placed most
#'   are kept and the others left out with a message. Inside: glandular
#'   tumour epithelium crossed by a network of
#'   stromal septa (fibroblasts, vessels) and small lumens. With
#'   `necrosis = TRUE` each large nodule gets a central necrotic hole with
#'   few cells (debris `"Other"`, dying tumour cells, macrophages); its
#'   edge is no invasive front (immune cells gather at the tumour's outer
#'   outline, and the liver plates of the replacement pattern stop there),
#'   though it is a border of the true polygons.
#' * **Interface** (histopathological growth pattern, van Dam et al. 2017):
#'   `"desmoplastic"`: a fibroblast-rich rim, 120 to 250 microns wide
#'   (varying along the border), with immune cells, separates the tumour
#'   from the hepatocytes; `"replacement"`: tumour cells take the place of
#'   hepatocytes within the liver cell plates, the front wandering a few
#'   plates (standard deviation 35 microns, up to about 80) on both sides
#'   of the border (short interdigitating cords, hepatocytes next to and
#'   trapped among tumour cells, no rim); `"pushing"`: no rim and no
#'   infiltration, the liver plates bend to run parallel to the tumour over
#'   about 200 microns and are compressed (denser hepatocytes), with a thin
#'   fibrous layer at the border.
#' * **Immune infiltration** (immune phenotypes of the Immunoscore
#'   literature, Galon et al.): `"inflamed"`: CD8 T, CD4 T, Treg and
#'   macrophages dense in the tumour stroma and epithelium and at the
#'   margin; `"excluded"`: dense at the margin (rim, interface and the
#'   outer 100 to 300 microns of the tumour), sparse in the core;
#'   `"desert"`: sparse everywhere. Scattered B cells are everywhere (a
#'   decoy for TLS detection), and immune densities vary in patches.
#' * **TLS** (Sautes-Fridman et al. 2019): a dense round-to-oval B-cell
#'   follicle (radius 60 to 190 microns; aggregates are the smallest,
#'   secondary follicles the largest) set off centre in a T-cell zone 40
#'   to 80 microns wide (CD4 > CD8, Treg, high endothelial venules), with
#'   a wavy outline, about 2.5 times as dense as the tissue, of maturity `"aggregate"` (no FDC),
#'   `"primary"` (FDC network in the follicle centre) or `"secondary"`
#'   (FDC and germinal-centre `"GC B"` cells in the centre). Each TLS is
#'   placed at one location drawn from `tls_location`, with its centre's
#'   signed distance `d` to the tumour border in a clear zone:
#'   `"intratumoral"` (the whole TLS inside the tumour, `d <= -(radius +
#'   100)`), `"margin"` (in the host tissue against the tumour front, e.g.
#'   in the desmoplastic rim: the long axis along the border, the outline
#'   5 to 40 microns from it and never across it, since lymphoid
#'   structures form in the stroma and the tumour border runs around
#'   them), `"peritumoral"` (the whole TLS in the liver beyond the rim,
#'   `radius + rim width + 250 <= d <= 1000`) or `"distal"` (`d >= 1250`).
#'   When a location does not fit in the section another is tried, and a
#'   TLS that fits nowhere is left out. Decoys (`n_decoys` per image):
#'   elongated patches (about 300-550 x 100-180 microns) of T-cell-rich
#'   stroma without B cells, away from the TLS, in the liver or (inflamed
#'   tumours only) in the tumour; a patch without room is left out.
#'   Nodules and TLS left out are counted in one message per image (e.g.
#'   `no room for 1 of 3 tumour nodules and 5 of 9 TLS`); decoys left out
#'   are not (they are a test of TLS detection, not tissue, and a crowded
#'   section often has no room for one: `attr(, "decoy_truth")` lists
#'   those placed). Once not even the smallest TLS or decoy fits anywhere,
#'   the others are not tried.
#'
#' @section Truth:
#' `true_border_distance` is the exact Euclidean distance (microns) from the
#' cell to the nearest edge of the true tumour polygons (outer outlines and
#' necrotic holes), negative for cells inside the tumour (outside necrotic
#' holes) and positive elsewhere; it is `NA` in an image without tumour
#' (`n_nodules = 0`). `true_region` is `"tumor"` inside the tumour
#' polygons, `"necrosis"` inside a necrotic hole and `"liver"` elsewhere
#' (the desmoplastic rim and portal tracts included): it is the truth of
#' the polygons, so with the replacement pattern a tumour cell among
#' hepatocytes just outside the outline is in region `"liver"`.
#'
#' The survival of each patient is simulated from the features of its
#' images (exponential times, median 36 months for a reference patient,
#' administrative censoring between 24 and 96 months): the hazard rises
#' with the replacement (log hazard ratio 0.9) and pushing (0.5) patterns
#' against the desmoplastic one, with the desert (0.5) against the excluded
#' phenotype and falls with the inflamed one (-0.8) and with each mature
#' (primary or secondary) TLS in the tumour or at its margin (-0.35 each,
#' at most 3 counted). Images of one patient contribute the mean of their
#' log hazards. A cohort demo can thus show the published associations.
#'
#' @section Reproducibility:
#' Each image is drawn from its own random stream, derived from `seed` and
#' the image's position: image `k` is the same whether it is simulated
#' alone or within a cohort of any size (given the same per-image
#' arguments). With `seed = NULL` a seed is drawn from R's generator, so
#' `set.seed()` makes the call reproducible; with a `seed` the caller's
#' random stream is left untouched.
#'
#' @param n_images Number of images (sections), at most 10000. A cohort
#'   whose cells clearly exceed the memory of the machine is refused (an
#'   `immunoscape_error_memory`).
#' @param cells_per_mm2 Mean cell density over the section, between 200
#'   and 20000 (real sections: 2000 to 5000 cells per mm^2).
#' @param size Side of the square section in microns, or `c(width,
#'   height)`; at least 1000.
#' @param pattern Growth pattern at the tumour-liver interface:
#'   `"desmoplastic"`, `"replacement"` or `"pushing"`; recycled over the
#'   images.
#' @param infiltration Immune phenotype: `"inflamed"`, `"excluded"` or
#'   `"desert"`; recycled over the images.
#' @param n_nodules Number of tumour nodules per image (0 for a section of
#'   liver without tumour); recycled over the images. At most 100, and at
#'   most as many separate nodules as the section could hold (they keep 250
#'   microns from its edge and 500 from each other): 4 in 1000 x 1000
#'   microns, 9 in 1500 x 1500, 39 in 3000 x 3000.
#' @param necrosis `TRUE` for a necrotic hole in each nodule larger than
#'   400 microns in radius; recycled over the images.
#' @param n_tls Number of TLS per image; recycled over the images. At most
#'   as many as the section could hold (each at least 206 microns across,
#'   336 for secondary follicles only, kept 150 microns apart and 40 from
#'   the edge): 9 in 1000 x 1000 microns, 21 in 1500 x 1500, 83 in 3000 x
#'   3000, and never more than 1000. Fewer usually find room (see the TLS
#'   section).
#' @param tls_maturity The maturities each TLS is drawn from (uniformly).
#' @param seed `NULL` or one whole number: the seed of the simulation.
#' @param ... Unused; a misspelled argument is an error.
#' @param n_patients Number of patients the images belong to: image `k`
#'   belongs to patient `(k - 1) %% n_patients + 1`. `NULL` (default): one
#'   patient per image.
#' @param tls_location The locations each TLS is drawn from (uniformly):
#'   any of `"intratumoral"`, `"margin"`, `"peritumoral"`, `"distal"`.
#' @param n_decoys Number of patches of T-cell-rich stroma (not TLS) per
#'   image. At most as many as the section could hold (each at least 220
#'   microns long, kept 250 microns from other structures and 20 from the
#'   edge): 7 in 1000 x 1000 microns, 51 in 3000 x 3000.
#' @param merge_nodules `TRUE` to merge the `n_nodules` nodules of an image
#'   into one multilobed mass (one polygon), as coalescent metastases;
#'   recycled over the images.
#' @param images `NULL` (all) or the positions (among `1:n_images`) of the
#'   images to simulate: `simulate_tme(100, seed = 1, images = 57)` gives
#'   image 57 of that cohort without simulating the others.
#' @param nthreads Number of OpenMP threads for the distances to the
#'   tumour border; the result does not depend on it.
#' @returns A [spatial_cells] object whose window is the rectangle of each
#'   section (`[0, width] x [0, height]`), with columns `cell_id`, `image`
#'   (factor `"image1"`, `"image2"`, ...), `x`, `y` (microns), `type`
#'   (factor with levels `"Tumor"`, `"Hepatocyte"`, `"Kupffer"`,
#'   `"Endothelial"`, `"Fibroblast"`, `"CD8 T"`, `"CD4 T"`, `"Treg"`, `"B"`,
#'   `"Macrophage"`, `"FDC"`, `"GC B"`, `"Other"`), and the truth:
#'   `true_border_distance` (microns), `true_region` (factor `"tumor"`,
#'   `"necrosis"`, `"liver"`), `true_tls_id` (integer, unique within an
#'   image, `NA` outside TLS), `patient` (factor `"patient1"`, ...: the
#'   image-level group carried into every result, see [set_groups()]).
#'   Attributes:
#'   * `tumor_polygons`: a `tissue_window` data frame (`image`, `polygon`,
#'     `ring`, `hole`, `x`, `y`) of the true tumour outlines, one polygon
#'     per nodule, necrotic holes as rings with `hole = TRUE`;
#'   * `tls_truth`: a data frame with one row per TLS: `image`, `tls_id`,
#'     `x`, `y` (centre), `radius` (microns: no member is farther from the
#'     centre), `follicle_radius` (short semi-axis of the follicle),
#'     `n_cells`, `maturity`,
#'     `location`, `border_distance` (signed distance of the centre);
#'   * `decoy_truth`: a data frame of the structures that hold dense
#'     immune cells but are not TLS: `image`, `kind` (`"T-cell-rich
#'     stroma"` or `"portal tract"`), `x`, `y` (centre), `radius` (long
#'     semi-axis, microns);
#'   * `image_truth`: a data frame with one row per image: `image`,
#'     `patient`, `pattern`, `infiltration`, `n_cells`, `n_nodules` (those
#'     placed),
#'     `merged`, `necrosis`, `n_tls`, `tumor_area_mm2`, `rim_width` (desmoplastic
#'     rim, microns; `NA` otherwise), `seed` (of the image), and the
#'     patient's simulated `risk` (log hazard), `survival_time` (months)
#'     and `survival_event` (1 death, 0 censored).
#' @references
#' van Dam P-J, van der Stok EP, Teuwen L-A, et al. International consensus
#' guidelines for scoring the histopathological growth patterns of liver
#' metastasis. *Br J Cancer* 2017;117:1427-1441.
#'
#' Sautes-Fridman C, Petitprez F, Calderaro J, Fridman WH. Tertiary
#' lymphoid structures in the era of cancer immunotherapy. *Nat Rev Cancer*
#' 2019;19:307-325.
#'
#' Galon J, Costes A, Sanchez-Cabo F, et al. Type, density, and location
#' of immune cells within human colorectal tumors predict clinical outcome.
#' *Science* 2006;313:1960-1964.
#' @seealso [plot_cells()] to look at a section.
#' @export
#' @examples
#' cells <- simulate_tme(size = 1500, n_tls = 1, seed = 1)
#' cells
#' table(cells$type, cells$true_region)
#' attr(cells, "tls_truth")
#' attr(cells, "image_truth")
#' \donttest{
#' # the true tumour outline over the cells
#' plot_cells(cells) +
#'     ggplot2::geom_polygon(
#'         data = attr(cells, "tumor_polygons"),
#'         ggplot2::aes(x, y, group = interaction(polygon, ring)),
#'         inherit.aes = FALSE, fill = NA, colour = "black"
#'     )
#' }
simulate_tme <- function(n_images = 1, cells_per_mm2 = 3000, size = 3000,
                         pattern = "desmoplastic", infiltration = "inflamed",
                         n_nodules = 1, necrosis = FALSE, n_tls = 2,
                         tls_maturity = c("aggregate", "primary",
                                          "secondary"),
                         seed = NULL, ..., n_patients = NULL,
                         tls_location = c("intratumoral", "margin",
                                          "peritumoral", "distal"),
                         n_decoys = 2, merge_nodules = FALSE, images = NULL,
                         nthreads = immunoscape_threads()) {
    check_dots(...)
    n_images <- check_count(n_images, max = sim_max_images)
    check_number_in(cells_per_mm2, 200, 20000)
    size <- check_size(size)
    pattern <- check_choices(pattern, sim_patterns)
    infiltration <- check_choices(infiltration, sim_infiltrations)
    n_nodules <- check_counts(n_nodules, min = 0L)
    n_tls <- check_counts(n_tls, min = 0L)
    check_flags(necrosis)
    check_flags(merge_nodules)
    tls_maturity <- check_choices(tls_maturity, sim_maturities)
    tls_location <- check_choices(tls_location, sim_locations)
    n_decoys <- check_count(n_decoys, min = 0L)
    n_patients <- if (is.null(n_patients)) n_images else
        check_count(n_patients)
    if (n_patients > n_images) {
        stop_immunoscape(c(
            "{.arg n_patients} ({n_patients}) must not exceed {.arg n_images} ({n_images}).",
            "i" = "Every patient needs at least one image."
        ), class = "argument")
    }
    check_room(size, n_images, n_nodules, merge_nodules, n_tls, tls_maturity,
               n_decoys)
    nthreads <- check_nthreads(nthreads)
    images <- if (is.null(images)) seq_len(n_images) else {
        if (!is.numeric(images) || !length(images) || anyNA(images) ||
            any(images != round(images)) || any(images < 1) ||
            any(images > n_images) || anyDuplicated(images)) {
            stop_immunoscape(c(
                "{.arg images} must be distinct positions between 1 and {.arg n_images} ({n_images}).",
                "i" = "For example {.code images = 3} simulates only the third image of the cohort."
            ), class = "argument")
        }
        sort(as.integer(images))
    }
    # at least the cells of each image and the result
    check_memory(sim_cell_bytes * length(images) * cells_per_mm2 *
                     size[1] * size[2] / 1e6,
                 if (length(images) > 1L) "n_images" else "size")
    if (is.null(seed)) {
        seed <- sample.int(.Machine$integer.max - 1L, 1L)
    } else if (!is.numeric(seed) || length(seed) != 1L || !is.finite(seed) ||
               seed != round(seed)) {
        stop_immunoscape(c(
            "{.arg seed} must be NULL or one whole number, not {.val {format(seed)}}.",
            "i" = "For example {.code seed = 1}."
        ), class = "argument")
    }
    seed <- as.integer(seed %% (.Machine$integer.max - 1))

    kinds <- RNGkind()
    image_seed <- with_image_seed(seed, kinds,
                                  sample.int(.Machine$integer.max, n_images,
                                             replace = TRUE))
    patients <- paste0("patient", seq_len(n_patients))
    k <- seq_len(n_images)
    spec <- data.frame(
        image = paste0("image", k),
        patient = patients[(k - 1L) %% n_patients + 1L],
        pattern = rep_len(pattern, n_images),
        infiltration = rep_len(infiltration, n_images),
        n_nodules = rep_len(n_nodules, n_images),
        necrosis = rep_len(necrosis, n_images),
        merge_nodules = rep_len(merge_nodules, n_images),
        n_tls = rep_len(n_tls, n_images),
        seed = image_seed,
        stringsAsFactors = FALSE
    )[images, , drop = FALSE]
    rownames(spec) <- NULL
    opts <- list(width = size[1], height = size[2], density = cells_per_mm2,
                 maturity = tls_maturity, location = tls_location,
                 n_decoys = n_decoys, n_patients = n_patients,
                 nthreads = nthreads)

    show <- nrow(spec) > 1L &&
        isTRUE(getOption("immunoscape.verbose", TRUE))
    if (show) {
        pb <- cli::cli_progress_bar("Simulating sections",
                                    total = nrow(spec),
                                    .envir = environment())
    }
    sims <- vector("list", nrow(spec))
    for (i in seq_len(nrow(spec))) {
        sims[[i]] <- with_image_seed(spec$seed[i], kinds,
                                     sim_image(spec[i, ], opts))
        if (show) cli::cli_progress_update(id = pb)
    }
    if (show) cli::cli_progress_done(id = pb)
    sim_assemble(sims, spec, opts, seed, kinds)
}

# ---- argument checks specific to the simulator --------------------------

check_number_in <- function(x, lo, hi, arg = rlang::caller_arg(x),
                            call = rlang::caller_env()) {
    if (!is.numeric(x) || length(x) != 1L || !is.finite(x) || x < lo ||
        x > hi) {
        stop_immunoscape(c(
            "{.arg {arg}} must be one number between {lo} and {hi}, not {.val {format(x)}}.",
            "i" = "Real sections hold 2000 to 5000 cells per mm^2."
        ), class = "argument", call = call)
    }
    invisible(as.numeric(x))
}

check_size <- function(size, call = rlang::caller_env()) {
    if (!is.numeric(size) || !length(size) %in% 1:2 ||
        any(!is.finite(size)) || any(size < 1000) || any(size > 1e5)) {
        stop_immunoscape(c(
            "{.arg size} must be one or two numbers between 1000 and 1e5 (microns: the side of the section, or width and height), not {.val {format(size)}}.",
            "i" = "For example {.code size = 3000} or {.code size = c(4000, 3000)}."
        ), class = "argument", call = call)
    }
    rep_len(as.numeric(size), 2L)
}

# Several values from a set of choices (recycled over images later).
check_choices <- function(x, choices, arg = rlang::caller_arg(x),
                          call = rlang::caller_env()) {
    if (is.factor(x)) x <- as.character(x)
    if (!is.character(x) || !length(x) || anyNA(x) || !all(x %in% choices)) {
        bad <- if (is.character(x)) setdiff(x, choices) else x
        near <- if (is.character(bad) && length(bad) && !anyNA(bad)) {
            closest_names(bad[1], choices)
        }
        stop_immunoscape(c(
            "{.arg {arg}} must hold values among {.or {.val {choices}}}, not {.val {format(bad)}}.",
            "i" = if (length(near)) "Did you mean {.val {near[1]}}?"
        ), class = "argument", call = call)
    }
    x
}

# TRUE/FALSE values, one or one per image.
check_flags <- function(x, arg = rlang::caller_arg(x),
                        call = rlang::caller_env()) {
    if (!is.logical(x) || !length(x) || anyNA(x)) {
        stop_immunoscape(c(
            "{.arg {arg}} must be TRUE or FALSE (one value, or one per image).",
            "i" = "For example {.code {arg} = TRUE}."
        ), class = "argument", call = call)
    }
    invisible(x)
}

check_counts <- function(x, min = 0L, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
    if (!is.numeric(x) || !length(x) || any(!is.finite(x)) ||
        any(x < min) || any(x != round(x)) ||
        any(x > .Machine$integer.max)) {
        stop_immunoscape(
            "{.arg {arg}} must be whole numbers >= {min} and < 2^31 (one, or one per image), not {.val {format(x)}}.",
            class = "argument", call = call
        )
    }
    as.integer(x)
}

# ---- how much a section can hold ------------------------------------------

# Images in one call: the bookkeeping of a cohort (seeds, outlines, truth
# tables) and its run time grow with them; 10,000 of the smallest sections
# already take about 20 minutes.
sim_max_images <- 10000L

# Nodules (or lobes of one mass) per image: each has its outline drawn
# and, in up to 40 attempts, its place sought among the others.
sim_max_nodules <- 100L

# TLS per image, far above real sections (tens): each one tried at the
# invasive margin measures its outline against the whole tumour border.
sim_max_tls <- 1000L

# Memory a simulated cell needs at least: its columns while the images are
# drawn (36 bytes) and in the result (48).
sim_cell_bytes <- 84

# The smallest TLS (follicle radius 60, 80 or 110 microns by maturity and a
# T zone of 0.3 r + 25 around it) and decoy patch (50 x 2.2 microns).
tls_min_radius <- function(maturity) {
    1.3 * min(c(aggregate = 60, primary = 80, secondary = 110)[maturity]) + 25
}
decoy_min_radius <- 50 * 2.2

# At most how many points at least `d` apart fit in a w x h rectangle:
# Oler's inequality, N <= 2 / sqrt(3) * A / d^2 + P / (2 d) + 1 for a
# convex region of area A and perimeter P.
packing_bound <- function(w, h, d) {
    if (w < 0 || h < 0) return(0)
    floor(2 / sqrt(3) * w * h / d^2 + (w + h) / d + 1)
}

# How many nodules, TLS and decoys a section can hold. Their centres stay
# a margin inside the section and farther apart than their smallest sizes
# allow (see sim_nodules(), sim_place_tls(), sim_place_decoys()), so no
# more than packing_bound() of them fit, whatever the tumour looks like.
room_limits <- function(size, maturity) {
    W <- size[1]
    H <- size[2]
    rt <- tls_min_radius(maturity)
    rd <- decoy_min_radius
    c(nodules = min(sim_max_nodules, packing_bound(W - 500, H - 500, 500)),
      tls = min(sim_max_tls, packing_bound(W - 2 * (rt + 40),
                                           H - 2 * (rt + 40), 2 * rt + 150)),
      decoys = packing_bound(W - 2 * (rd + 20), H - 2 * (rd + 20),
                             2 * rd + 250))
}

check_room <- function(size, n_images, n_nodules, merge_nodules, n_tls,
                       maturity, n_decoys, call = rlang::caller_env()) {
    lim <- room_limits(size, maturity)
    section <- paste(format(size, scientific = FALSE, trim = TRUE),
                     collapse = " x ")
    nod <- rep_len(n_nodules, n_images)
    merged <- rep_len(merge_nodules, n_images) & nod > 1L
    cap <- ifelse(merged, sim_max_nodules, lim[["nodules"]])
    if (any(nod > cap)) {
        i <- which(nod > cap)[1]
        stop_immunoscape(c(
            "{.arg n_nodules} must be at most {cap[i]} per image in a {section} micron section, not {.val {nod[i]}}.",
            "i" = if (cap[i] == sim_max_nodules) {
                "At most {sim_max_nodules} nodules (or lobes of a merged mass) are drawn per image."
            } else {
                "Separate nodules keep 250 microns from the edge of the section and 500 from each other; use fewer nodules, a larger {.arg size}, or {.code merge_nodules = TRUE}."
            }
        ), class = "argument", call = call)
    }
    tls <- rep_len(n_tls, n_images)
    if (any(tls > lim[["tls"]])) {
        d <- round(2 * tls_min_radius(maturity))
        stop_immunoscape(c(
            "{.arg n_tls} must be at most {lim[['tls']]} per image in a {section} micron section, not {.val {max(tls)}}.",
            "i" = if (lim[["tls"]] == sim_max_tls) {
                "At most {sim_max_tls} TLS are drawn per image."
            } else {
                "Each TLS is at least {d} microns across and keeps 150 microns from the others and 40 from the edge; use fewer TLS or a larger {.arg size}."
            }
        ), class = "argument", call = call)
    }
    if (n_decoys > lim[["decoys"]]) {
        stop_immunoscape(c(
            "{.arg n_decoys} must be at most {lim[['decoys']]} per image in a {section} micron section, not {.val {n_decoys}}.",
            "i" = "Each decoy patch is at least {2 * decoy_min_radius} microns long and keeps 250 microns from other structures and 20 from the edge; use fewer decoys or a larger {.arg size}."
        ), class = "argument", call = call)
    }
    invisible()
}

# ---- random building blocks ---------------------------------------------

# A smooth random field of unit variance and length scale `lambda`
# (random Fourier features): parameters, then values at points.
rff_params <- function(lambda, k = 8L) {
    ang <- stats::runif(k, 0, 2 * pi)
    mag <- 2 * pi / lambda * stats::runif(k, 0.6, 1.4)
    list(wx = mag * cos(ang), wy = mag * sin(ang),
         phi = stats::runif(k, 0, 2 * pi))
}

rff_eval <- function(p, x, y) {
    out <- numeric(length(x))
    for (j in seq_along(p$wx)) {
        out <- out + cos(p$wx[j] * x + p$wy[j] * y + p$phi[j])
    }
    out * sqrt(2 / length(p$wx))
}

# Radius of a star-shaped outline at angles `theta`: a Fourier series with
# amplitudes decaying with the harmonic, bounded below by `floor` * R.
star_params <- function(R, rough = 0.22, harmonics = 2:14, floor = 0.5) {
    a <- stats::rnorm(length(harmonics), 0, rough * harmonics^-1.2)
    list(R = R, k = harmonics, a = a, phi = stats::runif(length(harmonics),
                                                        0, 2 * pi),
         floor = floor)
}

star_radius <- function(p, theta) {
    s <- numeric(length(theta))
    for (j in seq_along(p$k)) s <- s + p$a[j] * cos(p$k[j] * theta + p$phi[j])
    lo <- min(star_radius_raw(p))
    # shrink the perturbation so that the radius stays above floor * R
    f <- if (lo < p$floor - 1) (1 - p$floor) / (-lo) else 1
    p$R * (1 + f * s)
}

star_radius_raw <- function(p) {
    th <- seq(0, 2 * pi, length.out = 721)
    s <- numeric(length(th))
    for (j in seq_along(p$k)) s <- s + p$a[j] * cos(p$k[j] * th + p$phi[j])
    s
}

# Type codes from a named probability vector (names among sim_types).
draw_types <- function(n, probs) {
    codes <- match(names(probs), sim_types)
    if (n == 0L) return(integer())
    codes[sample.int(length(probs), n, replace = TRUE, prob = probs)]
}

# Rows j0 .. j0 + nrows - 1 of a jittered hexagonal lattice of spacing `a`
# (row spacing dy) with `nx` sites a row, anchored at (x0, y0); jitter is
# uniform, +-30% of the spacing. Row parity is global, so bands of rows
# drawn one after the other tile the lattice.
hex_rows <- function(j0, nrows, nx, a, x0 = 0, y0 = 0) {
    dy <- a * sqrt(3) / 2
    j <- rep(j0 + seq_len(nrows) - 1L, each = nx)
    i <- rep(seq_len(nx) - 1L, times = nrows)
    n <- nx * nrows
    list(x = x0 + (i + 0.5 * (j %% 2L)) * a +
             (stats::runif(n) - 0.5) * 0.6 * a,
         y = y0 + (j + 0.5) * dy + (stats::runif(n) - 0.5) * 0.6 * a,
         a = a, dy = dy, nx = nx, j0 = j0, ny = nrows, x0 = x0, y0 = y0)
}

lattice_spacing <- function(dens) sqrt(2e6 / (sqrt(3) * dens))

# The whole lattice of density `dens` (per mm^2) over [x0, x0 + w] x
# [y0, y0 + h].
hex_lattice <- function(x0, y0, w, h, dens) {
    a <- lattice_spacing(dens)
    hex_rows(0L, ceiling(h / (a * sqrt(3) / 2)) + 1L, ceiling(w / a) + 1L,
             a, x0, y0)
}

# Indices (within the band of rows held by `lat`) of the sites whose
# unjittered position lies within `r` (+ a margin for the jitter) of
# (cx, cy): a disc lookup without scanning all points.
lattice_near <- function(lat, cx, cy, r) {
    r <- r + lat$a
    j_lo <- max(lat$j0, floor((cy - r - lat$y0) / lat$dy))
    j_hi <- min(lat$j0 + lat$ny - 1L, ceiling((cy + r - lat$y0) / lat$dy))
    i_lo <- max(0L, floor((cx - r - lat$x0) / lat$a) - 1L)
    i_hi <- min(lat$nx - 1L, ceiling((cx + r - lat$x0) / lat$a) + 1L)
    if (i_lo > i_hi || j_lo > j_hi) return(integer())
    as.vector(outer(i_lo:i_hi, (j_lo:j_hi - lat$j0) * lat$nx, `+`)) + 1L
}

# ---- geometry of one section --------------------------------------------

# Tumour nodules: star-shaped outlines that do not overlap and stay `edge`
# microns inside the section; an optional necrotic hole in each. When 40
# attempts, each with smaller nodules, could not place them all, those of
# the attempt that placed most are kept; attribute "left_out" counts the
# others.
sim_nodules <- function(n, width, height, necrosis, merged = FALSE,
                        edge = 250) {
    if (n == 0L) return(structure(list(), left_out = 0L))
    frac <- stats::runif(1, 0.15, 0.28)
    wts <- stats::runif(n, 0.5, 1.5)
    R <- sqrt(frac * width * height * wts / sum(wts) / pi)
    if (merged && n > 1L) {
        # overlapping lobes cover more than their union: start larger
        R <- sort(R, decreasing = TRUE) * 0.85
    }
    best <- list(placed = -1L)
    for (attempt in 1:40) {
        outlines <- if (merged && n > 1L) {
            list(merged_outline(R))
        } else {
            lapply(R, single_outline)
        }
        rmax <- vapply(outlines, `[[`, numeric(1), "rmax")
        m <- length(outlines)
        cx <- cy <- numeric(m)
        ok <- TRUE
        for (k in seq_len(m)) {
            lo <- rmax[k] + edge
            if (lo > width - lo || lo > height - lo) {
                ok <- FALSE
                break
            }
            placed <- FALSE
            for (try in 1:300) {
                x <- stats::runif(1, lo, width - lo)
                y <- stats::runif(1, lo, height - lo)
                prev <- seq_len(k - 1L)
                if (!length(prev) ||
                    all(sqrt((cx[prev] - x)^2 + (cy[prev] - y)^2) >
                        rmax[prev] + rmax[k] + 2 * edge)) {
                    placed <- TRUE
                    break
                }
            }
            if (!placed) {
                ok <- FALSE
                break
            }
            cx[k] <- x
            cy[k] <- y
        }
        if (ok) break
        if (k - 1L > best$placed) {
            best <- list(placed = k - 1L, outlines = outlines, cx = cx, cy = cy)
        }
        R <- R * 0.88
    }
    left <- 0L
    if (!ok) {
        keep <- seq_len(best$placed)
        left <- if (m == n) m - best$placed else n     # n lobes in one mass
        outlines <- best$outlines[keep]
        cx <- best$cx[keep]
        cy <- best$cy[keep]
    }
    nodules <- lapply(seq_along(outlines), function(k) {
        o <- outlines[[k]]
        nod <- list(cx = cx[k], cy = cy[k], R = o$R,
                    x = cx[k] + o$r * cos(o$th), y = cy[k] + o$r * sin(o$th),
                    hole = NULL)
        if (necrosis && o$R >= 400) {
            # the same angles, a fraction of the outline's radius: the hole
            # lies inside, at least 40% of the radius from the border
            hp <- star_params(1, rough = 0.3, harmonics = 2:8, floor = 0.6)
            f <- stats::runif(1, 0.22, 0.35)
            rh <- pmin(f * o$r * star_radius(hp, o$th), 0.6 * o$r)
            nod$hole <- list(x = cx[k] + rh * cos(o$th),
                             y = cy[k] + rh * sin(o$th))
        }
        nod
    })
    structure(nodules, left_out = left)
}

# One nodule's outline about its centre: angles, radii (a vertex every 12
# microns or so), largest radius.
single_outline <- function(R) {
    p <- star_params(R)
    rmax <- max(star_radius(p, seq(0, 2 * pi, length.out = 361)))
    nv <- max(180L, ceiling(2 * pi * rmax / 12))
    th <- seq(0, 2 * pi, length.out = nv + 1L)[-(nv + 1L)]
    r <- star_radius(p, th)
    list(th = th, r = r, rmax = max(r), R = R)
}

# Lobes (radii R, the largest first) merged into one mass: each further
# lobe overlaps the first, and the outline is, along each ray from the
# first lobe's centre, the farthest point of any lobe (star-shaped, so
# the notches where lobes meet are partly filled, as in coalescent
# nodules).
merged_outline <- function(R) {
    shapes <- lapply(R, star_params)
    n <- length(R)
    ox <- oy <- numeric(n)
    for (k in seq_len(n)[-1]) {
        a <- stats::runif(1, 0, 2 * pi)
        dist <- stats::runif(1, 0.45, 0.75) * (R[1] + R[k])
        ox[k] <- dist * cos(a)
        oy[k] <- dist * sin(a)
    }
    reach <- max(sqrt(ox^2 + oy^2) + 1.5 * R)
    nv <- max(360L, ceiling(2 * pi * reach / 12))
    th <- seq(0, 2 * pi, length.out = nv + 1L)[-(nv + 1L)]
    tt <- seq(0, reach, length.out = 600L)
    px <- outer(tt, cos(th))
    py <- outer(tt, sin(th))
    inside <- matrix(FALSE, length(tt), nv)
    for (k in seq_len(n)) {
        dx <- px - ox[k]
        dy <- py - oy[k]
        inside <- inside | (sqrt(dx^2 + dy^2) <=
                                star_radius(shapes[[k]], atan2(dy, dx)))
    }
    r <- apply(inside * tt, 2L, max)
    list(th = th, r = r, rmax = max(r), R = R[1])
}

# The true tumour polygons of one image in the tissue-window vertex format.
nodule_polygons <- function(nodules, image) {
    rows <- lapply(seq_along(nodules), function(k) {
        nd <- nodules[[k]]
        out <- data.frame(image = image, polygon = k, ring = 1L, hole = FALSE,
                          x = nd$x, y = nd$y)
        if (!is.null(nd$hole)) {
            out <- rbind(out, data.frame(image = image, polygon = k,
                                         ring = 2L, hole = TRUE,
                                         x = rev(nd$hole$x),
                                         y = rev(nd$hole$y)))
        }
        out
    })
    do.call(rbind, rows)
}

# Signed distance to the polygons (negative inside) and "inside a hole".
polygon_signed_distance <- function(poly, x, y, nthreads) {
    if (is.null(poly) || !nrow(poly)) {
        return(list(d = rep(NA_real_, length(x)),
                    hole = rep(FALSE, length(x))))
    }
    key <- paste(poly$polygon, poly$ring)
    starts <- as.integer(c(0L, cumsum(rle(key)$lengths)))
    d <- .Call(ffi_window_bdist, as.numeric(x), as.numeric(y), poly$x,
               poly$y, starts, as.integer(nthreads))
    inside <- .Call(ffi_window_inside, as.numeric(x), as.numeric(y), poly$x,
                    poly$y, starts)
    d[inside] <- -d[inside]
    hole <- rep(FALSE, length(x))
    if (any(poly$hole)) {
        h <- poly[poly$hole, , drop = FALSE]
        hk <- paste(h$polygon, h$ring)
        hs <- as.integer(c(0L, cumsum(rle(hk)$lengths)))
        out <- !inside
        hole[out] <- .Call(ffi_window_inside, as.numeric(x[out]),
                           as.numeric(y[out]), h$x, h$y, hs)
    }
    list(d = d, hole = hole)
}

# Zones of tissue: each has a relative density and a make-up.
Z <- list(epi = 1L, stroma = 2L, lumen = 3L, necrosis = 4L, rim = 5L,
          plate = 6L, sinus = 7L, portal = 8L, plumen = 9L, vlumen = 10L,
          vlining = 11L, decoy = 12L, ifplate = 13L, capsule = 14L,
          cplate = 15L, none = 16L)
zone_density <- c(1.15, 0.85, 0.06, 0.12, 0.95, 0.8, 0.35, 1.0, 0.08, 0,
                  0.9, 1.05, 1.0, 1.0, 1.1, 0)
zone_mix <- list(
    c(Tumor = 0.97, Other = 0.03),
    c(Fibroblast = 0.62, Endothelial = 0.2, Tumor = 0.08, Other = 0.1),
    c(Other = 0.6, Tumor = 0.25, Macrophage = 0.15),
    c(Other = 0.55, Tumor = 0.2, Macrophage = 0.25),
    c(Fibroblast = 0.82, Endothelial = 0.12, Other = 0.06),
    c(Hepatocyte = 0.97, Other = 0.03),
    c(Endothelial = 0.5, Kupffer = 0.4, Other = 0.1),
    c(Fibroblast = 0.45, Endothelial = 0.2, Other = 0.35),
    c(Endothelial = 0.5, Other = 0.5),
    c(Other = 1),
    c(Endothelial = 0.75, Fibroblast = 0.25),
    c(Fibroblast = 0.7, Endothelial = 0.2, Other = 0.1),
    c(Hepatocyte = 1),                      # replaced by tumour below
    c(Fibroblast = 0.6, Hepatocyte = 0.3, Endothelial = 0.1),
    c(Hepatocyte = 0.97, Other = 0.03),
    c(Other = 1)                            # no cells (TLS, outside)
)
immune_mix <- list(
    inflamed = c("CD8 T" = 0.38, "CD4 T" = 0.27, Treg = 0.07, B = 0.06,
                 Macrophage = 0.22),
    excluded = c("CD8 T" = 0.33, "CD4 T" = 0.28, Treg = 0.09, B = 0.06,
                 Macrophage = 0.24),
    desert = c("CD8 T" = 0.2, "CD4 T" = 0.25, Treg = 0.1, B = 0.05,
               Macrophage = 0.4),
    portal = c("CD8 T" = 0.25, "CD4 T" = 0.32, Treg = 0.05, B = 0.15,
               Macrophage = 0.23),
    decoy = c("CD8 T" = 0.45, "CD4 T" = 0.4, Treg = 0.07, Macrophage = 0.08)
)

# Probability that a cell of a zone is an immune cell, by infiltration.
# `d`: signed distance to the invasive front (inside the tumour: to its
# outline, necrotic holes left out); `e` is the distance (microns, >= 0)
# to the interface the immune cells gather at outside.
immune_probability <- function(zone, d, e, infiltration) {
    k <- match(infiltration, sim_infiltrations)
    q <- numeric(length(zone))
    pick <- function(v) v[k]
    i <- zone == Z$epi
    # CD8 T cells per mm^2 at 3000 cells/mm^2 (compartment means of
    # bench/validate-compartments.R): inflamed cores about 150 to 300
    # (above the 100/mm^2 of Muijlwijk et al. 2024); excluded cores tens,
    # 1-mm invasive margins about 70 to 190; deserts under 20
    q[i] <- pick(c(0.14, 0.010, 0.006)) +
        pick(c(0.04, 0.10, 0.01)) * exp(-abs(d[i]) / 100)
    i <- zone == Z$stroma
    q[i] <- pick(c(0.42, 0.04, 0.03)) +
        pick(c(0.10, 0.40, 0.04)) * exp(-abs(d[i]) / 150)
    i <- zone == Z$lumen
    q[i] <- 0.05
    i <- zone == Z$rim
    q[i] <- pick(c(0.32, 0.40, 0.05))
    i <- zone %in% c(Z$plate, Z$sinus, Z$ifplate, Z$capsule, Z$cplate)
    q[i] <- pick(c(0.008, 0.008, 0.004)) +
        pick(c(0.30, 0.35, 0.03)) * exp(-e[i] / 100)
    q[zone == Z$portal] <- 0.45
    q[zone == Z$decoy] <- 0.55
    q
}

# ---- one section ----------------------------------------------------------

sim_image <- function(spec, opts) {
    W <- opts$width
    H <- opts$height
    image <- spec$image
    nodules <- sim_nodules(spec$n_nodules, W, H, spec$necrosis,
                           spec$merge_nodules)
    left_out <- c(nodules = attr(nodules, "left_out"))
    poly <- if (length(nodules)) nodule_polygons(nodules, image)
    rim_w <- if (spec$pattern == "desmoplastic") stats::runif(1, 120, 250) else 0
    ang <- stats::runif(1, 0, pi)
    # smooth fields: liver plate warp, tumour septa and glands, rim width,
    # immune patches, interdigitation
    ctx <- list(
        W = W, H = H, poly = poly, has_tumor = !is.null(poly),
        pattern = spec$pattern, infiltration = spec$infiltration,
        rim_w = rim_w, nthreads = opts$nthreads,
        plate_dir = c(cos(ang), sin(ang)), lambda_plate = 42,
        f_warp = rff_params(500), f_stroma = rff_params(450),
        f_gland = rff_params(130), f_rim = rff_params(400),
        f_hot = rff_params(300), f_fing = rff_params(90)
    )

    # the outlines without their necrotic holes: the invasive front
    if (ctx$has_tumor && any(poly$hole)) ctx$outer <- poly[!poly$hole, ]

    # TLS first (they claim space), then portal tracts, veins and decoys
    pool <- sim_pool(W, H, poly, opts$nthreads)
    tls <- sim_place_tls(spec, opts, pool, rim_w, poly)
    left_out[["tls"]] <- attr(tls, "left_out")
    attr(tls, "left_out") <- NULL
    ctx$tls <- tls
    ctx$portal <- sim_place_grid(W, H, poly, opts$nthreads, spacing = 1100,
                                 rlim = c(70, 150),
                                 min_d = rim_w * 1.4 + 200, avoid = tls[xyr])
    ctx$veins <- sim_place_grid(W, H, poly, opts$nthreads, spacing = 1100,
                                rlim = c(25, 50), min_d = rim_w * 1.4 + 150,
                                avoid = rbind(tls[xyr], ctx$portal[xyr]),
                                offset = 0.5)
    ctx$decoys <- sim_place_decoys(
        opts$n_decoys, W, H, pool, rim_w,
        in_tumor = spec$infiltration == "inflamed",
        avoid = rbind(tls[xyr], ctx$portal[xyr], ctx$veins[xyr])
    )
    left_out[["decoys"]] <- attr(ctx$decoys, "left_out")
    attr(ctx$decoys, "left_out") <- NULL
    # decoys left out are not said (see the help)
    inform_left_out(image, left_out[c("nodules", "tls")],
                    c(spec$n_nodules, spec$n_tls))
    tls_cells <- sim_tls_cells(tls, opts$density)

    # The base lattice, denser than the target, is processed in bands of
    # rows (memory: the kept sites, not temporaries over all sites). Pass
    # 1 draws the sites and their zones; the count of sites per zone fixes
    # the thinning; pass 2 thins and types each band.
    a <- lattice_spacing(opts$density * 1.5)
    nx <- ceiling(W / a) + 1L
    ny <- ceiling(H / (a * sqrt(3) / 2)) + 1L
    band <- max(2L, 2L * ceiling(2^17 / nx))
    starts <- seq(0L, ny - 1L, by = band)
    bands <- lapply(starts, function(j0) {
        lat <- hex_rows(j0, min(band, ny - j0), nx, a)
        sim_zones(lat, ctx)
    })
    n_zone <- Reduce(`+`, lapply(bands, function(b) {
        tabulate(b$zone, length(zone_density))
    }))
    target <- opts$density * W * H / 1e6
    # the keep probability is capped at 1: a few fixed-point steps find
    # the scale that gives the target count in expectation
    want <- max(0, target - length(tls_cells$x))
    scale <- want / max(sum(zone_density * n_zone), 1e-9)
    for (it in 1:4) {
        scale <- scale * want /
            max(sum(pmin(1, zone_density * scale) * n_zone), 1e-9)
    }
    p_keep <- pmin(1, zone_density * scale)
    for (b in seq_along(bands)) {
        bands[[b]] <- sim_cell_types(bands[[b]], p_keep, ctx)
    }
    cells <- list(
        x = unlist(lapply(bands, `[[`, "x"), use.names = FALSE),
        y = unlist(lapply(bands, `[[`, "y"), use.names = FALSE),
        type = unlist(lapply(bands, `[[`, "type"), use.names = FALSE),
        d = unlist(lapply(bands, `[[`, "d"), use.names = FALSE),
        region = unlist(lapply(bands, `[[`, "region"), use.names = FALSE)
    )
    rm(bands)
    cells$tls_id <- rep(NA_integer_, length(cells$x))
    if (length(tls_cells$x)) {
        td <- polygon_signed_distance(poly, tls_cells$x, tls_cells$y,
                                      opts$nthreads)
        cells$x <- c(cells$x, tls_cells$x)
        cells$y <- c(cells$y, tls_cells$y)
        cells$type <- c(cells$type, tls_cells$type)
        cells$d <- c(cells$d, td$d)
        cells$region <- c(cells$region, region_code(td$d, td$hole))
        cells$tls_id <- c(cells$tls_id, tls_cells$tls_id)
    }
    tls_tab <- if (nrow(tls)) {
        data.frame(image = image, tls_id = seq_len(nrow(tls)),
                   x = tls$x, y = tls$y, radius = tls$radius,
                   follicle_radius = tls$r,
                   n_cells = tabulate(tls_cells$tls_id, nrow(tls)),
                   maturity = tls$maturity, location = tls$location,
                   border_distance = tls$d, stringsAsFactors = FALSE)
    }
    decoy_tab <- rbind(
        structure_table(ctx$decoys, image, "T-cell-rich stroma"),
        structure_table(ctx$portal, image, "portal tract")
    )
    tumor_area <- if (ctx$has_tumor) {
        key <- paste(poly$polygon, poly$ring)
        sum(vapply(split(poly, factor(key, unique(key))), function(r) {
            ring_signed_area(r$x, r$y) * if (r$hole[1]) -1 else 1
        }, numeric(1))) / 1e6
    } else {
        0
    }
    list(cells = cells, polygons = poly, tls = tls_tab, decoys = decoy_tab,
         info = list(n_nodules = spec$n_nodules - left_out[["nodules"]],
                     tumor_area_mm2 = abs(tumor_area),
                     rim_width = if (rim_w > 0) rim_w else NA_real_,
                     n_tls = nrow(tls)))
}

# One message per image for the structures that found no room: `left`
# and `wanted` count nodules, TLS and decoys.
inform_left_out <- function(image, left, wanted) {
    if (!any(left > 0L)) return(invisible())
    what <- c("tumour nodule", "TLS")
    plural <- c("tumour nodules", "TLS")
    i <- which(left > 0L)
    parts <- paste(left[i], "of", wanted[i],
                   ifelse(wanted[i] == 1L, what[i], plural[i]))
    verb <- if (sum(left) == 1L) "it is" else "they are"
    inform_immunoscape(
        "Image {.val {image}}: no room for {parts}; {verb} left out."
    )
}

region_code <- function(d, hole) {
    ifelse(hole, 2L, ifelse(!is.na(d) & d < 0, 1L, 3L))
}

structure_table <- function(s, image, kind) {
    data.frame(image = rep(image, nrow(s)), kind = rep(kind, nrow(s)),
               x = s$x, y = s$y, radius = s$radius,
               stringsAsFactors = FALSE)
}

# Pass 1 on a band of lattice sites: signed distance and tissue zone.
sim_zones <- function(lat, ctx) {
    x <- lat$x
    y <- lat$y
    n <- length(x)
    sd <- polygon_signed_distance(ctx$poly, x, y, ctx$nthreads)
    d <- sd$d
    dd <- if (ctx$has_tumor) d else rep(Inf, n)
    zone <- integer(n)
    # tumour glands: epithelium between stroma (low values of a smooth
    # field) and lumens (its peaks), crossed by fibrous septa (a
    # larger-scale field)
    it <- which(dd < 0)
    fg <- rff_eval(ctx$f_gland, x[it], y[it])
    fs <- rff_eval(ctx$f_stroma, x[it], y[it])
    zt <- rep(Z$epi, length(it))
    zt[fg > 1.35] <- Z$lumen
    zt[fg < -0.85 | abs(fs) < 0.1] <- Z$stroma
    zone[it] <- zt
    zone[sd$hole] <- Z$necrosis
    rm(it, fg, fs, zt)
    # liver: plates and sinusoids
    il <- which(dd >= 0 & !sd$hole)
    xl <- x[il]
    yl <- y[il]
    dl <- dd[il]
    phase <- liver_phase(ctx, xl, yl)
    if (ctx$pattern == "pushing") {
        # plates bend parallel to the border and are compressed
        near <- which(dl < 200 * (1 + 0.25 * rff_eval(ctx$f_rim, xl, yl)))
        phase[near] <- dl[near] / 30 +
            0.2 * rff_eval(ctx$f_warp, xl[near], yl[near])
    }
    zl <- ifelse(cos(2 * pi * phase) > -0.3, Z$plate, Z$sinus)
    if (ctx$pattern == "desmoplastic") {
        w <- ctx$rim_w * (1 + 0.25 * tanh(rff_eval(ctx$f_rim, xl, yl)))
        zl[dl < w] <- Z$rim
    } else if (ctx$pattern == "pushing") {
        zl[near][zl[near] == Z$plate] <- Z$cplate
        zl[dl < 14] <- Z$capsule
    }
    zone[il] <- zl
    rm(il, xl, yl, dl, phase, zl)
    if (ctx$pattern == "replacement" && ctx$has_tumor) {
        # within 250 microns of the border, on both sides, the liver plate
        # architecture continues and tumour cells take hepatocyte places
        # (of the invasive front: not about a necrotic hole)
        front <- dd
        if (!is.null(ctx$outer)) {
            i <- which(dd < 0 & dd > -250)
            front[i] <- polygon_signed_distance(ctx$outer, x[i], y[i],
                                                ctx$nthreads)$d
        }
        ib <- which(abs(front) < 250 & !sd$hole)
        ph <- liver_phase(ctx, x[ib], y[ib])
        zone[ib] <- ifelse(cos(2 * pi * ph) > -0.3, Z$ifplate, Z$sinus)
    }
    # portal tracts (with a vein lumen), central veins, decoy patches, TLS
    zone <- paint_structures(zone, lat, ctx$portal, 1.6,
                             list(c(1, Z$portal), c(0.3, Z$plumen)))
    zone <- paint_structures(zone, lat, ctx$veins, 1.6,
                             list(c(1.4, Z$vlining), c(1, Z$vlumen)))
    zone <- paint_structures(zone, lat, ctx$decoys, 1,
                             list(c(1, Z$decoy)))
    for (k in seq_len(nrow(ctx$tls))) {
        t <- ctx$tls[k, ]
        idx <- lattice_near(lat, t$x, t$y, t$radius * 1.05)
        s <- tls_radii(t, x[idx], y[idx])$outer
        zone[idx[s <= t$outer]] <- Z$none
    }
    zone[x < 0 | x > ctx$W | y < 0 | y > ctx$H] <- Z$none
    list(x = x, y = y, d = d, zone = zone)
}

liver_phase <- function(ctx, x, y) {
    (x * ctx$plate_dir[1] + y * ctx$plate_dir[2]) / ctx$lambda_plate +
        2.5 * rff_eval(ctx$f_warp, x, y)
}

# Set the zone of the sites within elliptical radii of each structure:
# `rings` lists c(radius, zone), outermost first.
paint_structures <- function(zone, lat, s, reach, rings) {
    for (k in seq_len(nrow(s))) {
        sk <- s[k, ]
        idx <- lattice_near(lat, sk$x, sk$y, sk$radius * reach)
        if (!length(idx)) next
        rr <- ellipse_radius(sk, lat$x[idx], lat$y[idx])
        for (r in rings) zone[idx[rr <= r[1]]] <- as.integer(r[2])
    }
    zone
}

# Pass 2 on a band: thin the sites, then type the cells kept.
sim_cell_types <- function(b, p_keep, ctx) {
    keep <- which(stats::runif(length(b$x)) < p_keep[b$zone])
    x <- b$x[keep]
    y <- b$y[keep]
    d <- b$d[keep]
    zone <- b$zone[keep]
    rm(b, keep)
    dd <- if (ctx$has_tumor) d else rep(Inf, length(x))
    # immune cells gather at the interface: the border, or the outer edge
    # of the desmoplastic rim
    e <- abs(dd)
    if (ctx$pattern == "desmoplastic") {
        out <- which(dd >= 0)
        e[out] <- abs(dd[out] - ctx$rim_w)
    }
    # inside the tumour, at its invasive front: the edge of a necrotic
    # hole is no front (T cells do not gather around necrosis)
    front <- dd
    if (!is.null(ctx$outer)) {
        i <- which(dd < 0 | zone == Z$necrosis)
        front[i] <- -abs(polygon_signed_distance(ctx$outer, x[i], y[i],
                                                 ctx$nthreads)$d)
    }
    q <- immune_probability(zone, front, e, ctx$infiltration)
    # immune patches vary the density, except in the decoy patches and
    # portal tracts, which keep theirs
    hot <- exp(0.5 * rff_eval(ctx$f_hot, x, y) - 0.125)
    hot[zone == Z$decoy | zone == Z$portal] <- 1
    q <- pmin(0.9, q * hot)
    imm <- stats::runif(length(x)) < q
    rm(q, e)
    type <- integer(length(x))
    mix <- rep(match(ctx$infiltration, names(immune_mix)), length(x))
    mix[zone == Z$portal] <- match("portal", names(immune_mix))
    mix[zone == Z$decoy] <- match("decoy", names(immune_mix))
    for (m in unique(mix[imm])) {
        i <- which(imm & mix == m)
        type[i] <- draw_types(length(i), immune_mix[[m]])
    }
    for (z in unique(zone[!imm])) {
        i <- which(!imm & zone == z)
        type[i] <- draw_types(length(i), zone_mix[[z]])
    }
    i <- which(!imm & zone == Z$ifplate)
    if (length(i)) {
        # the tumour front wanders about the true border by a few liver
        # cell plates (sd 35 microns, plates 42 microns apart): tumour
        # cells in the plates a little beyond it, hepatocytes trapped a
        # little inside (van Dam et al. 2017, Latacz et al. 2022)
        fing <- rff_eval(ctx$f_fing, x[i], y[i])
        p_tumor <- stats::plogis((-front[i] + 35 * fing) / 12)
        type[i] <- ifelse(stats::runif(length(i)) < p_tumor,
                          match("Tumor", sim_types),
                          match("Hepatocyte", sim_types))
    }
    list(x = x, y = y, type = type, d = d,
         region = region_code(d, zone == Z$necrosis))
}

# Normalised elliptical radius of points around a structure (1 on the
# outline of semi-axes r * aspect and r, rotated by angle).
ellipse_radius <- function(s, x, y) {
    dx <- x - s$x
    dy <- y - s$y
    ca <- cos(s$angle)
    sa <- sin(s$angle)
    u <- (dx * ca + dy * sa) / (s$r * s$aspect)
    v <- (-dx * sa + dy * ca) / s$r
    sqrt(u^2 + v^2)
}

# Random candidate points with their signed distance to the tumour, for
# placing structures.
sim_pool <- function(W, H, poly, nthreads, n = 20000L) {
    x <- stats::runif(n, 0, W)
    y <- stats::runif(n, 0, H)
    sd <- polygon_signed_distance(poly, x, y, nthreads)
    d <- if (is.null(poly)) rep(Inf, n) else sd$d
    list(x = x, y = y, d = d, edge = pmin(x, W - x, y, H - y), W = W, H = H)
}

no_structures <- function() {
    data.frame(x = numeric(), y = numeric(), r = numeric(), radius = numeric(),
               aspect = numeric(), angle = numeric())
}

no_tls <- function() {
    out <- no_structures()
    out$maturity <- character()
    out$location <- character()
    for (v in c("d", "outer", "a3", "p3", "a5", "p5", "shift",
                "shift_angle")) {
        out[[v]] <- numeric()
    }
    out
}

# Where points lie in a TLS `t`: `outer`, the radius normalised so that
# the TLS outline (an ellipse of semi-axes r * aspect and r, made wavy by
# 3rd and 5th harmonics) is at t$outer, and `follicle`, the normalised
# radius about the follicle's (shifted) centre, 1 on its outline.
tls_radii <- function(t, x, y) {
    dx <- x - t$x
    dy <- y - t$y
    ca <- cos(t$angle)
    sa <- sin(t$angle)
    u <- (dx * ca + dy * sa) / (t$r * t$aspect)
    v <- (-dx * sa + dy * ca) / t$r
    phi <- atan2(v, u)
    wave <- 1 + t$a3 * cos(3 * phi + t$p3) + t$a5 * cos(5 * phi + t$p5)
    list(outer = sqrt(u^2 + v^2) / wave,
         follicle = sqrt((u - t$shift * cos(t$shift_angle))^2 +
                             (v - t$shift * sin(t$shift_angle))^2))
}

xyr <- c("x", "y", "radius")

# A TLS of the invasive margin lies in the host tissue against the tumour
# front (in the desmoplastic rim when there is one), not inside the
# tumour: lymphoid structures form in the stroma, and the tumour border a
# pathologist draws runs around them. Its long axis follows the border
# and its outline comes within 5 to 40 microns of it, never across.
# Candidate centres are tried in random order; NULL when none fits.
tls_at_front <- function(t, pool, cand, poly, nthreads,
                         boxes = polygon_boxes(poly)) {
    if (is.null(poly)) return(NULL)
    phi <- seq(0, 2 * pi, length.out = 49L)[-49L]
    cand <- cand[pool$d[cand] >= 0.5 * t$r * t$outer]
    if (length(cand) > 1L) cand <- cand[sample.int(length(cand))]
    cand <- utils::head(cand, 60L)
    if (!length(cand)) return(NULL)
    h <- 2
    x <- pool$x[cand]
    y <- pool$y[cand]
    # the outline: normalised radius outer * wave at each angle
    wave <- 1 + t$a3 * cos(3 * phi + t$p3) + t$a5 * cos(5 * phi + t$p5)
    u <- t$outer * wave * cos(phi) * t$r * t$aspect
    v <- t$outer * wave * sin(phi) * t$r
    # All candidates at once, two distance calls in all (the distance of a
    # point does not depend on the others), then the first that fits; the
    # polygons too far to hold the nearest edge of any point measured are
    # left out of the calls, which changes no distance.
    reach <- max(sqrt(u^2 + v^2), h) + 1
    sub <- near_polygons(poly, boxes, x, y, abs(pool$d[cand]) + 2 * reach)
    g <- matrix(polygon_signed_distance(sub,
                                        rep(x, each = 4L) + c(h, -h, 0, 0),
                                        rep(y, each = 4L) + c(0, 0, h, -h),
                                        nthreads)$d, nrow = 4L)
    angle <- atan2(g[3L, ] - g[4L, ], g[1L, ] - g[2L, ]) + pi / 2
    ca <- rep(cos(angle), each = length(phi))
    sa <- rep(sin(angle), each = length(phi))
    ox <- rep(x, each = length(phi)) + u * ca - v * sa
    oy <- rep(y, each = length(phi)) + u * sa + v * ca
    gap <- apply(matrix(polygon_signed_distance(sub, ox, oy, nthreads)$d,
                        nrow = length(phi)), 2L, min)
    k <- which(is.finite(gap) & gap >= 5 & gap <= 40)
    if (!length(k)) return(NULL)
    k <- k[1L]
    t$x <- x[k]
    t$y <- y[k]
    t$angle <- angle[k]
    t$d <- pool$d[cand[k]]
    t
}

# Bounding boxes of the tumour polygons (outline and holes together).
polygon_boxes <- function(poly) {
    if (is.null(poly) || !nrow(poly)) return(NULL)
    data.frame(polygon = sort(unique(poly$polygon)),
               xmin = as.vector(tapply(poly$x, poly$polygon, min)),
               xmax = as.vector(tapply(poly$x, poly$polygon, max)),
               ymin = as.vector(tapply(poly$y, poly$polygon, min)),
               ymax = as.vector(tapply(poly$y, poly$polygon, max)))
}

# The polygons whose box lies within `lim[i]` of some point (x[i], y[i]).
# A point within `reach` of (x[i], y[i]), where lim[i] is at least the
# distance from (x[i], y[i]) to the tumour border plus 2 * reach, has its
# nearest edge in them and lies in none of the others, so that its signed
# distance to them is its signed distance to all polygons.
near_polygons <- function(poly, boxes, x, y, lim) {
    if (nrow(boxes) == 1L) return(poly)
    dx <- pmax(outer(boxes$xmin, x, `-`), outer(-boxes$xmax, -x, `-`), 0)
    dy <- pmax(outer(boxes$ymin, y, `-`), outer(-boxes$ymax, -y, `-`), 0)
    keep <- rowSums(sqrt(dx^2 + dy^2) <= rep(lim, each = nrow(boxes))) > 0
    if (all(keep)) return(poly)
    poly[poly$polygon %in% boxes$polygon[keep], , drop = FALSE]
}

far_from <- function(x, y, radius, avoid, gap) {
    if (is.null(avoid) || !nrow(avoid)) return(rep(TRUE, length(x)))
    ok <- rep(TRUE, length(x))
    for (k in seq_len(nrow(avoid))) {
        ok <- ok & (x - avoid$x[k])^2 + (y - avoid$y[k])^2 >
            (radius + avoid$radius[k] + gap)^2
    }
    ok
}

# Room left for a structure among those placed: `clear` holds, for each
# pool point, the least over placed structures of (distance to its centre
# minus its radius), updated as each is placed, so that a check costs the
# same however many are placed. far_enough() decides as far_from() does
# (bit for bit): `clear` settles every point but those within 1e-6 micron
# of the limit, which far_from() settles against the structures themselves
# (`avoid`, only evaluated then).
clear_add <- function(clear, pool, x, y, radius) {
    pmin(clear, sqrt((pool$x - x)^2 + (pool$y - y)^2) - radius)
}

far_enough <- function(clear, pool, radius, gap, avoid) {
    lim <- radius + gap
    ok <- clear > lim
    near <- which(abs(clear - lim) <= 1e-6)
    if (length(near)) {
        ok[near] <- far_from(pool$x[near], pool$y[near], radius, avoid, gap)
    }
    ok
}

# The largest radius with which a structure could still be placed at some
# pool point: its centre `margin` inside the section, `gap` clear of the
# structures placed, and no larger than `zone_max` allows there (the
# largest radius its location condition accepts at each point). A larger
# one finds no candidate, so it need not be tried (1e-6 micron allows for
# rounding; -Inf when no point is left).
largest_fit <- function(pool, clear, margin, gap, zone_max = Inf) {
    max(-Inf, pmin(pool$edge - margin, clear - gap, zone_max)) + 1e-6
}

# TLS: size by maturity, location drawn, centre in the location's zone.
# A TLS larger than any that could still fit is only drawn, not tried (so
# that the random stream, and all that follows, is as if it had been);
# the number left out is attribute "left_out".
sim_place_tls <- function(spec, opts, pool, rim_w, poly = NULL) {
    n <- spec$n_tls
    if (n == 0L) return(structure(no_tls(), left_out = 0L))
    rows <- vector("list", n)
    m <- 0L
    px <- py <- pr <- numeric(n)
    clear <- rep(Inf, length(pool$x))
    has_tumor <- any(is.finite(pool$d))
    boxes <- polygon_boxes(poly)
    fit <- largest_fit(pool, clear, 40, 150)
    left <- 0L
    for (k in seq_len(n)) {
        maturity <- opts$maturity[sample.int(length(opts$maturity), 1L)]
        r <- switch(maturity, aggregate = stats::runif(1, 60, 110),
                    primary = stats::runif(1, 80, 160),
                    secondary = stats::runif(1, 110, 190))
        outer <- 1 + (0.3 * r + 25) / r          # T zone around the follicle
        aspect <- stats::runif(1, 1, 1.3)
        # a wavy outline, and the follicle off centre in the T zone
        a3 <- stats::runif(1, 0, 0.06)
        a5 <- stats::runif(1, 0, 0.03)
        radius <- r * outer * aspect * (1 + a3 + a5)
        wanted <- opts$location[sample.int(length(opts$location), 1L)]
        tries <- c(wanted, sample(setdiff(opts$location, wanted)))
        if (!has_tumor) tries <- intersect(tries, "distal")
        if (radius > fit || !length(tries)) {
            left <- left + 1L
            next
        }
        i <- seq_len(m)
        free <- pool$edge >= radius + 40 &
            far_enough(clear, pool, radius, 150,
                       data.frame(x = px[i], y = py[i], radius = pr[i]))
        placed <- FALSE
        for (loc in tries) {
            d <- pool$d
            ok <- switch(loc,
                intratumoral = d <= -(radius + 100),
                margin = d >= 0.8 * r * outer & d <= radius + 40,
                peritumoral = d >= radius + 250 + rim_w & d <= 1000,
                distal = d >= 1250)
            cand <- which(ok & free)
            if (!length(cand)) next
            j <- cand[sample.int(length(cand), 1L)]
            t <- data.frame(
                x = pool$x[j], y = pool$y[j], r = r, radius = radius,
                aspect = aspect, angle = stats::runif(1, 0, pi),
                maturity = maturity, location = loc, d = pool$d[j],
                outer = outer, a3 = a3, p3 = stats::runif(1, 0, 2 * pi),
                a5 = a5, p5 = stats::runif(1, 0, 2 * pi),
                shift = stats::runif(1, 0, 0.5) * (outer - 1),
                shift_angle = stats::runif(1, 0, 2 * pi),
                stringsAsFactors = FALSE)
            if (loc == "margin") {
                t <- tls_at_front(t, pool, cand, poly, opts$nthreads, boxes)
                if (is.null(t)) next
            }
            m <- m + 1L
            rows[[m]] <- t
            px[m] <- t$x
            py[m] <- t$y
            pr[m] <- t$radius
            clear <- clear_add(clear, pool, t$x, t$y, t$radius)
            fit <- largest_fit(pool, clear, 40, 150)
            placed <- TRUE
            break
        }
        if (!placed) left <- left + 1L
    }
    out <- if (m) do.call(rbind, rows[seq_len(m)]) else no_tls()
    structure(out, left_out = left)
}

# Portal tracts and central veins: one candidate per grid square (jittered),
# kept where the liver is far enough from the tumour and other structures.
sim_place_grid <- function(W, H, poly, nthreads, spacing, rlim, min_d,
                           avoid, offset = 0) {
    gx <- seq(spacing * (0.5 + offset / 2), W, by = spacing)
    gy <- seq(spacing * (0.5 + offset / 2), H, by = spacing)
    if (!length(gx) || !length(gy)) return(no_structures())
    g <- expand.grid(x = gx, y = gy)
    n <- nrow(g)
    x <- g$x + stats::runif(n, -0.3, 0.3) * spacing
    y <- g$y + stats::runif(n, -0.3, 0.3) * spacing
    r <- stats::runif(n, rlim[1], rlim[2])
    aspect <- stats::runif(n, 1, 1.6)
    angle <- stats::runif(n, 0, pi)
    radius <- r * aspect
    d <- if (is.null(poly)) rep(Inf, n) else
        polygon_signed_distance(poly, x, y, nthreads)$d
    ok <- d >= min_d + radius & x > 0 & x < W & y > 0 & y < H &
        far_from(x, y, radius, avoid, 150)
    data.frame(x = x, y = y, r = r, radius = radius, aspect = aspect,
               angle = angle)[ok, , drop = FALSE]
}

# Decoys: T-cell-rich patches in the liver, or in the tumour (inflamed
# only), away from all other structures. As for TLS, a patch larger than
# any that could still fit on its side (inside or outside the tumour) is
# only drawn, not tried; attribute "left_out" counts those that found no
# place.
sim_place_decoys <- function(n, W, H, pool, rim_w, in_tumor, avoid) {
    if (n == 0L) return(structure(no_structures(), left_out = 0L))
    rows <- vector("list", n)
    m <- 0L
    na <- nrow(avoid)
    px <- c(avoid$x, numeric(n))
    py <- c(avoid$y, numeric(n))
    pr <- c(avoid$radius, numeric(n))
    clear <- rep(Inf, length(pool$x))
    for (k in seq_len(na)) clear <- clear_add(clear, pool, px[k], py[k], pr[k])
    # the largest patch that still fits on each side
    zone_max <- list(inside = if (in_tumor) -pool$d - 200 else -Inf,
                     outside = pool$d - rim_w * 1.4 - 150)
    fits <- function(clear) {
        vapply(zone_max, function(z) largest_fit(pool, clear, 20, 250, z),
               numeric(1))
    }
    fit <- fits(clear)
    left <- 0L
    for (k in seq_len(n)) {
        r <- stats::runif(1, 50, 90)
        aspect <- stats::runif(1, 2.2, 3.2)
        radius <- r * aspect
        inside <- stats::runif(1) < 0.5 && in_tumor
        side <- if (inside) "inside" else "outside"
        if (radius > fit[[side]]) {
            left <- left + 1L
            next
        }
        ok <- if (inside) pool$d <= -(radius + 200) else
            pool$d >= radius + rim_w * 1.4 + 150
        i <- seq_len(na + m)
        ok <- ok & pool$edge >= radius + 20 &
            far_enough(clear, pool, radius, 250,
                       data.frame(x = px[i], y = py[i], radius = pr[i]))
        cand <- which(ok)
        if (!length(cand)) {
            left <- left + 1L
            next
        }
        j <- cand[sample.int(length(cand), 1L)]
        m <- m + 1L
        rows[[m]] <- data.frame(
            x = pool$x[j], y = pool$y[j], r = r, radius = radius,
            aspect = aspect, angle = stats::runif(1, 0, pi))
        px[na + m] <- pool$x[j]
        py[na + m] <- pool$y[j]
        pr[na + m] <- radius
        clear <- clear_add(clear, pool, pool$x[j], pool$y[j], radius)
        fit <- fits(clear)
    }
    out <- if (m) do.call(rbind, rows[seq_len(m)]) else no_structures()
    structure(out, left_out = left)
}

# The cells of every TLS: a dense lattice in the ellipse, typed by the
# normalised radius s (follicle s <= 1, T zone 1 < s <= outer).
sim_tls_cells <- function(tls, density) {
    dens <- max(1.3 * density, min(2.5 * density, 9000))
    out <- list(x = list(), y = list(), type = list(), tls_id = list())
    for (k in seq_len(nrow(tls))) {
        t <- tls[k, ]
        R <- t$radius
        lat <- hex_lattice(t$x - R, t$y - R, 2 * R, 2 * R, dens)
        rr <- tls_radii(t, lat$x, lat$y)
        inside <- rr$outer <= t$outer
        x <- lat$x[inside]
        y <- lat$y[inside]
        s <- rr$follicle[inside]
        type <- integer(length(x))
        fol <- s <= 1
        type[!fol] <- draw_types(sum(!fol), c(
            "CD4 T" = 0.5, "CD8 T" = 0.22, Treg = 0.06, B = 0.08,
            Endothelial = 0.06, Macrophage = 0.05, Other = 0.03))
        mix_fol <- if (t$maturity == "aggregate") {
            c(B = 0.7, "CD4 T" = 0.15, "CD8 T" = 0.08, Macrophage = 0.07)
        } else {
            c(B = 0.85, "CD4 T" = 0.09, "CD8 T" = 0.02, Macrophage = 0.04)
        }
        type[fol] <- draw_types(sum(fol), mix_fol)
        if (t$maturity == "primary") {
            ctr <- which(s <= 0.6)
            type[ctr] <- draw_types(length(ctr), c(
                FDC = 0.2, B = 0.72, "CD4 T" = 0.06, Macrophage = 0.02))
        } else if (t$maturity == "secondary") {
            ctr <- which(s <= 0.6)
            type[ctr] <- draw_types(length(ctr), c(
                "GC B" = 0.55, FDC = 0.15, B = 0.18, "CD4 T" = 0.08,
                Macrophage = 0.04))
        }
        out$x[[k]] <- x
        out$y[[k]] <- y
        out$type[[k]] <- type
        out$tls_id[[k]] <- rep(k, length(x))
    }
    # pieces joined once (growing the vectors TLS by TLS is quadratic)
    list(x = as.numeric(unlist(out$x)), y = as.numeric(unlist(out$y)),
         type = as.integer(unlist(out$type)),
         tls_id = as.integer(unlist(out$tls_id)))
}

# ---- assembling the cohort -------------------------------------------------

sim_assemble <- function(sims, spec, opts, seed, kinds) {
    n_per <- vapply(sims, function(s) length(s$cells$x), integer(1))
    images <- spec$image
    column <- function(v) {
        unlist(lapply(sims, function(s) s$cells[[v]]), use.names = FALSE)
    }
    img <- structure(rep.int(seq_along(images), n_per), levels = images,
                     class = "factor")
    pat_lv <- unique(spec$patient)
    pat <- structure(rep.int(match(spec$patient, pat_lv), n_per),
                     levels = pat_lv, class = "factor")
    df <- data.frame(
        cell_id = sequence(n_per),
        image = img,
        x = column("x"),
        y = column("y"),
        type = structure(column("type"), levels = sim_types,
                         class = "factor"),
        true_border_distance = column("d"),
        true_region = structure(column("region"), levels = sim_regions,
                                class = "factor"),
        true_tls_id = column("tls_id"),
        patient = pat
    )
    for (i in seq_along(sims)) sims[[i]]$cells <- NULL
    W <- opts$width
    H <- opts$height
    rect <- data.frame(image = rep(images, each = 4L), polygon = 1L,
                       ring = 1L, hole = FALSE,
                       x = rep(c(0, W, W, 0), length(images)),
                       y = rep(c(0, 0, H, H), length(images)))
    # the patient of each image is carried into every result
    out <- new_spatial_cells(df, windows = new_window(rect, images),
                             groups = "patient")

    polys <- do.call(rbind, lapply(sims, `[[`, "polygons"))
    if (is.null(polys)) {
        polys <- data.frame(image = character(), polygon = integer(),
                            ring = integer(), hole = logical(),
                            x = numeric(), y = numeric())
    }
    polys <- new_window(polys, images)
    tls <- do.call(rbind, lapply(sims, `[[`, "tls"))
    if (is.null(tls)) {
        tls <- data.frame(image = character(), tls_id = integer(),
                          x = numeric(), y = numeric(), radius = numeric(),
                          follicle_radius = numeric(), n_cells = integer(),
                          maturity = character(), location = character(),
                          border_distance = numeric())
    }
    tls$image <- factor(tls$image, levels = images)
    tls$maturity <- factor(tls$maturity, levels = sim_maturities)
    tls$location <- factor(tls$location, levels = sim_locations)
    rownames(tls) <- NULL

    info <- data.frame(
        image = factor(images, levels = images),
        patient = factor(spec$patient, levels = pat_lv),
        pattern = factor(spec$pattern, levels = sim_patterns),
        infiltration = factor(spec$infiltration, levels = sim_infiltrations),
        n_cells = n_per,
        n_nodules = vapply(sims, function(s) s$info$n_nodules, integer(1)),
        merged = spec$merge_nodules & spec$n_nodules > 1L,
        necrosis = spec$necrosis & spec$n_nodules > 0L,
        n_tls = vapply(sims, function(s) s$info$n_tls, integer(1)),
        tumor_area_mm2 = vapply(sims, function(s) s$info$tumor_area_mm2,
                                numeric(1)),
        rim_width = vapply(sims, function(s) s$info$rim_width, numeric(1)),
        seed = spec$seed
    )
    info <- sim_survival(info, tls, seed, kinds, opts$n_patients)
    decoys <- do.call(rbind, lapply(sims, `[[`, "decoys"))
    decoys$image <- factor(decoys$image, levels = images)
    decoys$kind <- factor(decoys$kind, levels = c("T-cell-rich stroma",
                                                  "portal tract"))
    attr(out, "tumor_polygons") <- polys
    attr(out, "tls_truth") <- tls
    attr(out, "image_truth") <- info
    attr(out, "decoy_truth") <- decoys
    out
}

# Per-patient survival from the features of its images (see the docs).
sim_survival <- function(info, tls, seed, kinds, n_patients) {
    mature <- tls$maturity %in% c("primary", "secondary") &
        tls$location %in% c("intratumoral", "margin")
    n_mature <- tabulate(as.integer(tls$image)[mature], nrow(info))
    lp_image <- c(desmoplastic = 0, replacement = 0.9,
                  pushing = 0.5)[as.character(info$pattern)] +
        c(inflamed = -0.8, excluded = 0,
          desert = 0.5)[as.character(info$infiltration)] -
        0.35 * pmin(n_mature, 3)
    lp <- as.vector(tapply(lp_image, info$patient, mean))
    pats <- levels(info$patient)
    # one stream per patient, from the seed and the patient's position
    pseed <- with_image_seed(seed %/% 2L + 7919L, kinds,
                             sample.int(.Machine$integer.max, n_patients,
                                        replace = TRUE))
    pseed <- pseed[as.integer(sub("^patient", "", pats))]
    surv <- t(vapply(seq_along(pats), function(p) {
        with_image_seed(pseed[p], kinds, {
            u <- stats::runif(2)
            time <- -log(u[1]) / (log(2) / 36 * exp(lp[p]))
            cens <- 24 + 72 * u[2]
            c(min(time, cens), as.numeric(time <= cens))
        })
    }, numeric(2)))
    k <- as.integer(info$patient)
    info$risk <- lp[k]
    info$survival_time <- surv[k, 1]
    info$survival_event <- as.integer(surv[k, 2])
    info
}
