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
#' reference-target pairs of cells within `radius` divided by the number of
#' reference-reference pairs within `radius` (each pair counted once), per
#' image. Keren et al. counted touching cells (reference = immune, target =
#' tumour); here a centroid distance of at most `radius` microns stands in
#' for touching, 20 um by default (about one cell diameter; the default of
#' SPIAT's `mixing_score_summary()`).
#'
#' The normalized mixing score divides by what the score would be if the
#' labels were scattered at random over the same cells: the expected
#' ratio of the pair counts, `2 * N_target / (N_reference - 1)`, so it is
#' about 1 under random labelling, below 1 when the populations keep apart
#' and above 1 when they mix more than chance. (SPIAT's
#' `mixing_score_summary()` counts each reference-reference pair twice:
#' its mixing score is half of ours and its normalised score is twice
#' ours.)
#'
#' @inheritParams interaction_test
#' @param reference,target Cell types (one or several each, pooled) of the
#'   two populations; they must not overlap.
#' @param radius Distance in microns within which two cells interact.
#' @returns A `mixing_score` data frame, one row per image: `image`,
#'   `n_reference`, `n_target`, `n_reference_target`,
#'   `n_reference_reference` (pairs within `radius`), `mixing_score`
#'   (`NA` when both pair counts are 0, `Inf` when only the
#'   reference-reference count is), `expected` and
#'   `normalized_mixing_score` (`NA` when fewer than 2 reference or no
#'   target cells).
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
#' mixing_score(cells, reference = c("CD8 T", "CD4 T"), target = "Tumor")
mixing_score <- function(cells, reference, target, radius = 20,
                         nthreads = immunoscape_threads(), BPPARAM = NULL,
                         ...) {
    check_dots(...)
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
    out$image <- factor(as.character(out$image), levels = levels(cells$image))
    rt <- out$n_reference_target
    rr <- out$n_reference_reference
    out$mixing_score <- ifelse(rr > 0, rt / rr, ifelse(rt > 0, Inf, NA_real_))
    out$expected <- ifelse(out$n_reference >= 2 & out$n_target > 0,
                           2 * out$n_target / (out$n_reference - 1), NA_real_)
    out$normalized_mixing_score <- out$mixing_score / out$expected
    attr(out, "problems") <- problems
    out
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
        ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 90,
                                                           hjust = 1,
                                                           vjust = 0.5))
}

#' Tumour-immune architecture: cold, compartmentalized or mixed
#'
#' Classifies each image as in Keren et al. (2018): "cold" when it holds
#' fewer than `min_immune` immune cells; otherwise "compartmentalized"
#' when the mixing score (immune-tumour pairs over immune-immune pairs,
#' see [mixing_score()] with reference = `immune`, target = `tumor`) is
#' below `threshold`, and "mixed" when it is at least `threshold`.
#'
#' Defaults follow the paper: fewer than 250 immune cells is cold and a
#' mixing score below 0.22 is compartmentalized. Keren et al. counted
#' cells touching in the segmentation on 800 x 800 um MIBI fields; here
#' cells whose centroids are at most `radius` microns apart count as
#' touching (20 um, about one cell diameter). The threshold was chosen on
#' their cohort: check that it separates yours (e.g. `autoplot()` of
#' [mixing_score()]), and scale `min_immune` with the field area if your
#' fields are much smaller or larger. An image without tumour cells, or
#' with neither immune-immune nor immune-tumour pairs, gets `NA` and a
#' note.
#'
#' @inheritParams mixing_score
#' @param tumor,immune Cell types of the tumour and immune compartments.
#' @param threshold Mixing score below which an image is compartmentalized.
#' @param min_immune Images with fewer immune cells are cold.
#' @returns An `architecture` data frame, one row per image: `image`,
#'   `n_tumor`, `n_immune`, `n_immune_tumor`, `n_immune_immune`,
#'   `mixing_score`, `normalized_mixing_score`, `class` (factor: cold,
#'   compartmentalized, mixed).
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
#' classify_architecture(cells, tumor = "Tumor", immune = "CD8 T",
#'                       min_immune = 50)
classify_architecture <- function(cells, tumor, immune, radius = 20,
                                  threshold = 0.22, min_immune = 250,
                                  nthreads = immunoscape_threads(),
                                  BPPARAM = NULL, ...) {
    check_dots(...)
    cells <- check_cells(cells)
    roles <- check_roles(cells, if (!missing(immune)) immune,
                         if (!missing(tumor)) tumor, "immune", "tumor")
    radius <- check_radius(radius)
    if (!is.numeric(threshold) || length(threshold) != 1L ||
        !is.finite(threshold) || threshold < 0) {
        stop_immunoscape(
            "{.arg threshold} must be one number >= 0, not {.val {format(threshold)}}.",
            class = "argument"
        )
    }
    min_immune <- check_count(min_immune, "min_immune", min = 0L)
    nthreads <- check_nthreads(nthreads)
    m <- mixing_table(cells, roles[[1]], roles[[2]], radius, nthreads,
                      BPPARAM)
    cls <- ifelse(m$n_reference < min_immune, "cold",
                  ifelse(m$n_target == 0L | is.na(m$mixing_score), NA,
                         ifelse(m$mixing_score < threshold,
                                "compartmentalized", "mixed")))
    out <- data.frame(image = m$image, n_tumor = m$n_target,
                      n_immune = m$n_reference,
                      n_immune_tumor = m$n_reference_target,
                      n_immune_immune = m$n_reference_reference,
                      mixing_score = m$mixing_score,
                      normalized_mixing_score = m$normalized_mixing_score,
                      class = factor(cls, levels = c("cold",
                                                     "compartmentalized",
                                                     "mixed")))
    undecided <- as.character(out$image[is.na(out$class)])
    if (length(undecided)) {
        inform_immunoscape(c(
            "i" = "{length(undecided)} image{?s} without tumour cells or without any immune contact {?is/are} left unclassified ({.val {utils::head(undecided, 5)}})."
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
    cat(sprintf("<architecture> %d image%s (radius %s um, threshold %s, min_immune %d): %s\n",
                nrow(x), if (nrow(x) == 1) "" else "s",
                format(attr(x, "radius")), format(attr(x, "threshold")),
                attr(x, "min_immune"),
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
#' @export
autoplot.architecture <- function(object, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    df <- df[!is.na(df$mixing_score) & df$n_immune > 0, , drop = FALSE]
    df$shown <- pmin(df$mixing_score, max(1, 3 * attr(object, "threshold")))
    ggplot2::ggplot(df, ggplot2::aes(x = .data$n_immune, y = .data$shown,
                                     colour = .data$class)) +
        ggplot2::geom_point() +
        ggplot2::geom_hline(yintercept = attr(object, "threshold"),
                            linetype = 2) +
        ggplot2::geom_vline(xintercept = attr(object, "min_immune"),
                            linetype = 3) +
        ggplot2::scale_x_log10() +
        ggplot2::scale_colour_manual(values = c(cold = "#4575B4",
                                                compartmentalized = "#FDAE61",
                                                mixed = "#D73027"),
                                     na.value = "grey60", drop = FALSE) +
        ggplot2::labs(x = "immune cells", y = "mixing score",
                      colour = "architecture",
                      title = "Tumour-immune architecture (Keren et al. 2018)") +
        ggplot2::theme_minimal()
}
