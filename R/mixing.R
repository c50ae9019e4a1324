# The mixing score of Keren et al. (2018) and the tumour-immune
# architecture class (cold / compartmentalized / mixed).

check_roles <- function(cells, a, b, arg_a, arg_b,
                        call = rlang::caller_env()) {
    if (missing(a) || is.null(a)) {
        stop_immunoscape("{.arg {arg_a}} is missing: name the cell types of that role.",
                         class = "type", call = call)
    }
    if (missing(b) || is.null(b)) {
        stop_immunoscape("{.arg {arg_b}} is missing: name the cell types of that role.",
                         class = "type", call = call)
    }
    a <- check_types(cells, a, arg = arg_a, call = call)
    b <- check_types(cells, b, arg = arg_b, call = call)
    both <- intersect(a, b)
    if (length(both)) {
        stop_immunoscape(c(
            "{.arg {arg_a}} and {.arg {arg_b}} share the type{?s} {.val {both}}.",
            "i" = "A cell type can play only one role."
        ), class = "type", call = call)
    }
    list(a, b)
}

# Counts of reference-target and reference-reference pairs within radius
# in one image (each unordered pair once).
mixing_counts <- function(sub, reference, target, radius, nthreads) {
    nr <- sum(sub$type %in% reference)
    nt <- sum(sub$type %in% target)
    if (nr == 0L) return(c(nr, nt, 0, 0))
    cm <- neighbor_count_matrix(sub, radius, reference, nthreads)$counts
    rt <- sum(cm[, colnames(cm) %in% target])
    rr2 <- sum(cm[, colnames(cm) %in% reference])
    c(nr, nt, rt, rr2 / 2)
}

#' Mixing score of two cell populations
#'
#' The mixing score of Keren et al. (2018): the number of
#' reference-target pairs of touching cells divided by the number of
#' reference-reference pairs of touching cells (each pair counted once),
#' per image. Keren et al. counted cells whose segmented boundaries touch
#' (reference = immune, target = tumour). From a cell table, two cells
#' touch when their centres are at most `radius` microns apart, and the
#' default of 10 um is one cell diameter: the centres of two touching
#' cells are half a diameter from the shared border each, which is about
#' 7-8 um for two lymphocytes and about 10 um for a lymphocyte against a
#' tumour cell in MIBI and multiplex immunofluorescence sections. 10 um is
#' a little above the typical distance from a cell's centre to its
#' nearest neighbour's in dense tumour tissue (7-8 um; in the 247-field
#' Vectra NSCLC cohort the median is 6.7 um, upper quartile 8.6 um), so
#' it takes the first ring of cells around each cell and not the second,
#' which in a packed layer lies 1.7 to 2 times as far (12-16 um). Larger
#' radii
#' count cells two or three cells away: the score then grows with the
#' radius (the boundary band of contacts widens while a compartment's
#' own pairs grow in proportion), and Keren's 0.22 threshold no longer
#' separates the classes as in the paper. Use a larger `radius` only for
#' tissue with larger cells, and a smaller one for sparse tissue with
#' gaps between cells only if the segmentation shows they touch.
#'
#' The normalized mixing score divides by what the score would be if the
#' labels were scattered at random over the same cells: the expected
#' ratio of the pair counts, `2 * N_target / (N_reference - 1)`, so it is
#' about 1 under random labelling, below 1 when the populations keep apart
#' and above 1 when they mix more than chance. SPIAT's
#' `mixing_score_summary()` computes the same mixing score and normalised
#' mixing score as ours, each reference-reference pair counted once; SPIAT
#' versions before its 2023 correction counted those pairs twice, so
#' their mixing scores were half of ours.
#'
#' @inheritParams interaction_test
#' @param reference,target Cell types (one or several each, pooled) of the
#'   two populations; they must not overlap.
#' @param radius Distance in microns between two cell centres up to which
#'   the cells count as touching (default 10 um, one cell diameter; see
#'   Details).
#' @param r Not an argument: functions on a distance grid (such as
#'   [ripley_k()]) take `r`, the mixing score takes `radius`. Giving `r`
#'   is an error that says so.
#' @returns A `mixing_score` data frame, one row per image: `image`,
#'   `n_reference`, `n_target`, `n_reference_target`,
#'   `n_reference_reference` (pairs within `radius`), `mixing_score`
#'   (`NA` when both pair counts are 0, `Inf` when only the
#'   reference-reference count is), `expected`,
#'   `normalized_mixing_score` (`NA` when fewer than 2 reference or no
#'   target cells) and `note` (why a score is `NA` or `Inf`; `NA` when it
#'   is an ordinary number).
#' @references Keren L, Bosse M, Marquez D, et al. (2018). A structured
#'   tumor-immune microenvironment in triple negative breast cancer
#'   revealed by multiplexed ion beam imaging. *Cell* 174:1373-1387.
#'
#'   Feng Y, Yang T, Zhu J, et al. (2023). Spatial analysis with SPIAT and
#'   spaSim to characterize and simulate tissue microenvironments. *Nature
#'   Communications* 14:2697.
#' @seealso [classify_architecture()].
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(500, 0, 400), y = runif(500, 0, 400),
#'                  type = sample(c("Tumor", "CD8 T", "CD4 T"), 500, TRUE,
#'                                prob = c(0.6, 0.2, 0.2)))
#' cells <- spatial_cells(df)
#' mixing_score(cells, reference = c("CD8 T", "CD4 T"), target = "Tumor",
#'              radius = 25)
mixing_score <- function(cells, reference, target, radius = 10,
                         nthreads = immunoscape_threads(), BPPARAM = NULL,
                         ..., r) {
    check_dots(...)
    check_not_r(missing(r))
    cells <- check_cells(cells)
    roles <- check_roles(cells, if (!missing(reference)) reference,
                         if (!missing(target)) target, "reference", "target")
    radius <- check_radius(radius)
    nthreads <- check_nthreads(nthreads)
    out <- mixing_table(cells, roles[[1]], roles[[2]], radius, nthreads,
                        BPPARAM)
    structure(out,
              class = c("mixing_score", "immunoscape_result",
                        "data.frame"),
              radius = radius,
              reference = roles[[1]], target = roles[[2]],
              problems = attr(out, "problems"))
}

# `r` is the distance grid of the K-type functions; the mixing score and
# architecture take `radius`.
check_not_r <- function(r_missing, call = rlang::caller_env()) {
    if (!r_missing) {
        stop_immunoscape(c(
            "{.arg r} is not an argument of this function: the contact distance is {.arg radius}.",
            "i" = "For example {.code radius = 10} (microns); {.arg r} is the distance grid of {.fn ripley_k} and friends."
        ), class = "argument", call = call)
    }
    invisible()
}

mixing_table <- function(cells, reference, target, radius, nthreads,
                         BPPARAM) {
    out <- map_images(cells, function(sub, image) {
        v <- mixing_counts(sub, reference, target, radius, nthreads)
        data.frame(image = image, n_reference = as.integer(v[1]),
                   n_target = as.integer(v[2]), n_reference_target = v[3],
                   n_reference_reference = v[4])
    }, BPPARAM = BPPARAM, label = "Mixing score")
    problems <- attr(out, "problems")
    if (!nrow(out)) {
        out <- data.frame(image = character(), n_reference = integer(),
                          n_target = integer(), n_reference_target = double(),
                          n_reference_reference = double())
    }
    # one row per image: an image without cells gets its row too
    lv <- levels(cells$image)
    empty <- setdiff(lv, as.character(out$image))
    out <- complete_images(out, lv, function(miss) {
        data.frame(image = miss, n_reference = 0L, n_target = 0L,
                   n_reference_target = 0, n_reference_reference = 0)
    })
    out$image <- factor(as.character(out$image), levels = lv)
    rt <- out$n_reference_target
    rr <- out$n_reference_reference
    out$mixing_score <- ifelse(rr > 0, rt / rr, ifelse(rt > 0, Inf, NA_real_))
    out$expected <- ifelse(out$n_reference >= 2 & out$n_target > 0,
                           2 * out$n_target / (out$n_reference - 1), NA_real_)
    out$normalized_mixing_score <- out$mixing_score / out$expected
    out$note <- mixing_note(out$n_reference, out$n_target, rt, rr, radius)
    out$note[as.character(out$image) %in% empty] <- "no cells in this image"
    attr(out, "problems") <- problems
    out
}

# Why a mixing score is NA or Inf (NA when it is an ordinary number), in
# the words of the roles (reference / target, or immune / tumour).
mixing_note <- function(nr, nt, rt, rr, radius,
                        roles = c("reference", "target")) {
    r <- format(radius)
    ref <- roles[1]
    tgt <- roles[2]
    ifelse(nr == 0L, paste("no", ref, "cells"),
    ifelse(nt == 0L, paste("no", tgt, "cells"),
    ifelse(rr == 0 & rt == 0,
           paste0("no ", ref, " cell within ", r, " um of another ", ref,
                  " or a ", tgt, " cell: score undefined"),
    ifelse(rr == 0,
           paste0("no two ", ref, " cells within ", r, " um: score ",
                  "infinite (every contact is with a ", tgt, " cell)"),
           NA_character_))))
}

#' @export
print.mixing_score <- function(x, ...) {
    cat(sprintf("<mixing_score> reference: %s; target: %s; radius %s um; %d image%s\n",
                paste(attr(x, "reference"), collapse = ", "),
                paste(attr(x, "target"), collapse = ", "),
                format(attr(x, "radius")), nrow(x),
                if (nrow(x) == 1) "" else "s"))
    print(utils::head(as.data.frame(x), 10), ...)
    invisible(x)
}

#' @rdname mixing_score
#' @param object A `mixing_score` result.
#' @export
summary.mixing_score <- function(object, ...) {
    check_dots(...)
    v <- object$mixing_score
    w <- object$normalized_mixing_score
    data.frame(n_images = nrow(object), n_defined = sum(!is.na(v)),
               n_infinite = sum(is.infinite(v)),
               median_mixing_score = stats::median(v, na.rm = TRUE),
               median_normalized = stats::median(w, na.rm = TRUE))
}

#' @rdname mixing_score
#' @export
autoplot.mixing_score <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    df <- df[is.finite(df$normalized_mixing_score), , drop = FALSE]
    df$image <- stats::reorder(df$image, df$normalized_mixing_score)
    ggplot2::ggplot(df, ggplot2::aes(x = .data$image,
                                     y = .data$normalized_mixing_score)) +
        ggplot2::geom_col(fill = "grey40") +
        ggplot2::geom_hline(yintercept = 1, linetype = 2) +
        ggplot2::labs(x = "image", y = "normalized mixing score",
                      title = "Mixing score (1 = random mixing)") +
        ggplot2::theme_minimal() +
        many_images_x(nlevels(droplevels(df$image)))
}

#' Tumour-immune architecture: cold, compartmentalized or mixed
#'
#' Classifies each image as in Keren et al. (2018): "cold" when it holds
#' fewer than `min_immune` immune cells per mm^2 of tissue; otherwise
#' "compartmentalized" when the mixing score (pairs of touching immune
#' and tumour cells over pairs of touching immune cells, see
#' [mixing_score()] with reference = `immune`, target = `tumor`) is below
#' `threshold`, and "mixed" when it is at least `threshold`.
#'
#' Defaults follow the paper. Keren et al. called a patient cold with
#' fewer than 250 immune cells in an 800 x 800 um MIBI field (0.64 mm^2);
#' as a density that is 250 / 0.64 = 390 immune cells per mm^2, and
#' `min_immune` is a density so that the call does not depend on the
#' field size: a 0.34 mm^2 Vectra field and a whole slide with the same
#' immune density get the same call. The density divides the immune cells
#' by the area of the image's tissue window (see [tissue_window()]; use a
#' concave window for sections with large empty areas). A mixing score
#' below 0.22 is compartmentalized; Keren et al. counted cells that touch
#' in the segmentation, and the default `radius` of 10 um between centres
#' stands in for touching (see [mixing_score()]); the threshold only means
#' what it meant in the paper at that contact distance. It was chosen on
#' their cohort: check that it separates yours (e.g. `autoplot()` of this
#' result). An image without tumour cells, without a window area, or with
#' neither immune-immune nor immune-tumour contacts gets class `NA` and a
#' note; an infinite mixing score (immune-tumour contacts but no two
#' immune cells touching) is "mixed", with a note.
#'
#' @inheritParams mixing_score
#' @param tumor,immune Cell types of the tumour and immune compartments.
#' @param threshold Mixing score below which an image is compartmentalized.
#' @param min_immune Immune cells per mm^2 of tissue below which an image
#'   is cold (default 390, Keren's 250 cells per 0.64 mm^2 field).
#' @returns An `architecture` data frame, one row per image: `image`,
#'   `n_tumor`, `n_immune`, `area_mm2` (window area), `immune_density`
#'   (immune cells per mm^2), `n_immune_tumor`, `n_immune_immune`,
#'   `mixing_score`, `normalized_mixing_score`, `class` (factor: cold,
#'   compartmentalized, mixed) and `note` (why the class is `NA` or the
#'   score infinite).
#' @references Keren L, Bosse M, Marquez D, et al. (2018). A structured
#'   tumor-immune microenvironment in triple negative breast cancer
#'   revealed by multiplexed ion beam imaging. *Cell* 174:1373-1387.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(800, 0, 400), y = runif(800, 0, 400))
#' df$type <- ifelse(df$x < 200, "Tumor",
#'                   sample(c("Tumor", "CD8 T"), 800, TRUE))
#' cells <- spatial_cells(df)
#' classify_architecture(cells, tumor = "Tumor", immune = "CD8 T")
classify_architecture <- function(cells, tumor, immune, radius = 10,
                                  threshold = 0.22, min_immune = 390,
                                  nthreads = immunoscape_threads(),
                                  BPPARAM = NULL, ..., r) {
    check_dots(...)
    check_not_r(missing(r))
    cells <- check_cells(cells)
    roles <- check_roles(cells, if (!missing(immune)) immune,
                         if (!missing(tumor)) tumor, "immune", "tumor")
    radius <- check_radius(radius)
    check_nonneg(threshold)
    check_nonneg(min_immune)
    nthreads <- check_nthreads(nthreads)
    m <- mixing_table(cells, roles[[1]], roles[[2]], radius, nthreads,
                      BPPARAM)
    area <- unname(window_areas(cells)[as.character(m$image)]) / 1e6
    dens <- m$n_reference / area
    cls <- ifelse(is.na(dens), NA,
                  ifelse(dens < min_immune, "cold",
                  ifelse(m$n_target == 0L | is.na(m$mixing_score), NA,
                  ifelse(m$mixing_score < threshold,
                         "compartmentalized", "mixed"))))
    note <- ifelse(is.na(dens), "no window area: immune density undefined",
                   mixing_note(m$n_reference, m$n_target,
                               m$n_reference_target, m$n_reference_reference,
                               radius, c("immune", "tumour")))
    note[m$note %in% "no cells in this image"] <- "no cells in this image"
    out <- data.frame(image = m$image, n_tumor = m$n_target,
                      n_immune = m$n_reference, area_mm2 = area,
                      immune_density = dens,
                      n_immune_tumor = m$n_reference_target,
                      n_immune_immune = m$n_reference_reference,
                      mixing_score = m$mixing_score,
                      normalized_mixing_score = m$normalized_mixing_score,
                      class = factor(cls, levels = c("cold",
                                                     "compartmentalized",
                                                     "mixed")),
                      note = note)
    out <- carry_groups(out, cells)
    undecided <- as.character(out$image[is.na(out$class)])
    if (length(undecided)) {
        inform_immunoscape(c(
            "i" = "{length(undecided)} image{?s} left unclassified (no tumour cells, no window area or no immune contact); see the {.field note} column ({.val {utils::head(undecided, 5)}})."
        ))
    }
    structure(out,
              class = c("architecture", "immunoscape_result",
                        "data.frame"),
              radius = radius,
              threshold = threshold, min_immune = min_immune,
              tumor = roles[[2]], immune = roles[[1]],
              problems = attr(m, "problems"))
}

#' @export
print.architecture <- function(x, ...) {
    tab <- table(x$class, useNA = "ifany")
    cat(sprintf("<architecture> %d image%s (radius %s um, threshold %s, min_immune %s per mm^2): %s\n",
                nrow(x), if (nrow(x) == 1) "" else "s",
                format(attr(x, "radius")), format(attr(x, "threshold")),
                format(attr(x, "min_immune")),
                paste(sprintf("%s %d", names(tab), as.vector(tab)),
                      collapse = ", ")))
    print(utils::head(as.data.frame(x), 10), ...)
    invisible(x)
}

#' @rdname classify_architecture
#' @param object An `architecture` result.
#' @export
summary.architecture <- function(object, ...) {
    check_dots(...)
    tab <- table(class = object$class, useNA = "ifany")
    out <- as.data.frame(tab, responseName = "n_images")
    out$fraction <- out$n_images / sum(out$n_images)
    out
}

#' @rdname classify_architecture
#' @details `autoplot()` draws the mixing score against the immune density
#'   (log scale), with the threshold and `min_immune` as lines. The score
#'   axis is linear near 0 and logarithmic above 1 (\eqn{asinh(s / 0.1)},
#'   labelled in mixing-score units), so that scores of 0 and of several
#'   hundred both show and no finite score is capped. Infinite scores (no
#'   two immune cells in contact) are drawn as triangles above the largest
#'   finite one, and the caption says how many; images without a score or
#'   without immune cells are left out and counted in the caption too.
#' @export
autoplot.architecture <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    n_all <- nrow(df)
    df <- df[!is.na(df$mixing_score) & df$n_immune > 0 &
                 !is.na(df$immune_density), , drop = FALSE]
    tr <- function(v) asinh(v / 0.1)
    inf <- is.infinite(df$mixing_score)
    top <- max(c(1, df$mixing_score[!inf])) * 1.6
    df$score <- factor(ifelse(inf, "infinite", "finite"),
                       levels = c("finite", "infinite"))
    df$shown <- tr(ifelse(inf, top, df$mixing_score))
    br <- c(0, 0.1, 0.22, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000,
            1e4, 1e5)
    br <- sort(unique(c(br[br <= top], attr(object, "threshold"))))
    n_inf <- sum(inf)
    n_out <- n_all - nrow(df)
    caption <- c(
        if (n_inf) sprintf(
            "%d image%s with an infinite score (no two immune cells in contact): triangles at the top.",
            n_inf, if (n_inf == 1) "" else "s"),
        if (n_out) sprintf(
            "%d image%s without a mixing score or immune cells not shown.",
            n_out, if (n_out == 1) "" else "s"))
    mi <- attr(object, "min_immune")
    ggplot2::ggplot(df, ggplot2::aes(x = .data$immune_density,
                                     y = .data$shown,
                                     colour = .data$class,
                                     shape = .data$score)) +
        ggplot2::geom_point() +
        ggplot2::geom_hline(yintercept = tr(attr(object, "threshold")),
                            linetype = 2) +
        # (no line for min_immune = 0, off a log scale)
        ggplot2::geom_vline(xintercept = if (mi > 0) mi else numeric(),
                            linetype = 3) +
        ggplot2::scale_x_log10() +
        ggplot2::scale_y_continuous(breaks = tr(br),
                                    labels = format(br, trim = TRUE,
                                                    drop0trailing = TRUE,
                                                    scientific = FALSE),
                                    minor_breaks = NULL) +
        ggplot2::scale_colour_manual(values = c(cold = "#4575B4",
                                                compartmentalized = "#FDAE61",
                                                mixed = "#D73027"),
                                     na.value = "grey60", drop = FALSE) +
        ggplot2::scale_shape_manual(values = c(finite = 16, infinite = 17),
                                    drop = FALSE) +
        ggplot2::labs(x = "immune cells per mm\u00b2",
                      y = "mixing score (asinh scale)",
                      colour = "architecture", shape = "mixing score",
                      caption = if (length(caption))
                          paste(caption, collapse = "\n"),
                      title = "Tumour-immune architecture (Keren et al. 2018)") +
        ggplot2::theme_minimal() +
        ggplot2::theme(plot.caption = ggplot2::element_text(hjust = 0))
}
