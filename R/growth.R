# Histopathological growth patterns of liver metastases: the tumour-liver
# interface is cut into segments along the region borders and each segment
# is classified from the cells on either side of it; the image gets the
# fractions of interface length and the consensus call.

growth_levels <- c("desmoplastic", "replacement", "pushing")

#' Histopathological growth pattern of liver metastases
#'
#' Scores the tumour-liver interface as the international consensus
#' guidelines do (van Dam et al. 2017): the border of the tumour regions is
#' cut into segments of about `segment` microns, each segment is called
#' from the cells within `depth` microns of it, and the image gets the
#' fraction of the interface length showing each pattern.
#'
#' A segment is assessable when at least `min_cells` non-tumour cells lie
#' outside the tumour within `depth` of it (the outline along the edge of
#' the image is left out, see [tumor_regions()], and segments facing empty
#' space are not part of the interface). It is
#'
#' * **desmoplastic** when a rim of stroma separates tumour from liver:
#'   among the cells outside within `rim` microns of the border, at least
#'   half are neither tumour cells nor hepatocytes (fibroblasts, immune and
#'   other stromal cells); otherwise tumour and hepatocytes are in contact,
#'   and the segment is
#' * **replacement** when tumour cells replace hepatocytes in the liver
#'   plates, so that the two are intermixed across the border: among tumour
#'   cells and hepatocytes within `depth` on both sides, at least `mixing`
#'   lie on the "wrong" side (hepatocytes inside, tumour cells outside);
#' * **pushing** otherwise: hepatocytes abut the tumour along a sharp
#'   border, without rim and without intermixing.
#'
#' The image's `pattern` is the predominant one (the largest fraction of
#' assessable interface length; van Dam et al. 2017 score the percentage
#' of the interface showing each pattern and report the predominant
#' pattern). `two_tier` follows the later two-tier scoring that the updated
#' consensus (Latacz et al. 2022) recommends after Galjart et al. (2019):
#' `"desmoplastic"` only when at least `pure` of the interface (default
#' all of it) is desmoplastic, `"non-desmoplastic"` when any replacement or
#' pushing growth is seen.
#'
#' An image without a tumour region, without assessable interface, or
#' with fewer than `min_cells` hepatocytes (a tumour in another organ, or
#' a field of tumour only: a rim there would be any stroma) gives `NA`
#' with a note.
#'
#' @inheritParams compartments
#' @param tumor Tumour cell type(s).
#' @param liver Hepatocyte type(s).
#' @param segment Length of the border segments in microns.
#' @param depth Width (microns) of the zone on each side of the border
#'   whose cells are assigned to a segment.
#' @param rim Width (microns) of the zone just outside the border where a
#'   desmoplastic rim is looked for.
#' @param mixing Fraction of tumour cells and hepatocytes on the wrong side
#'   of the border from which a contact segment is replacement. Default
#'   0.05: along a pushing front the two are separated by a sharp line and
#'   almost none lie on the wrong side (segmentation noise, a cell cut by
#'   the border), while in replacement growth the front wanders by a few
#'   liver plates; a border drawn from the cells themselves follows part of
#'   that wandering, so that even clear replacement segments show only 5
#'   to 20% of the cells on the wrong side (on [simulate_tme()] sections,
#'   95% of pushing segments below 0.01 and 95% of replacement segments
#'   above 0.06; bench/validate-compartments.R).
#' @param min_cells Fewest non-tumour cells outside a segment (within
#'   `depth`) for it to be assessed.
#' @param pure Fraction of desmoplastic interface needed for the two-tier
#'   call `"desmoplastic"`.
#' @returns An `immunoscape_growth` data frame, one row per image: `image`,
#'   `interface_um` (assessable border length), `desmoplastic`,
#'   `replacement`, `pushing` (fractions of it), `pattern` (factor),
#'   `two_tier`, `n_segments`, `note`. Attribute `segments`: one row per
#'   segment (`image`, `segment`, `length_um`, `x`, `y` (midpoint), counts
#'   `n_outside`, `n_rim`, `n_rim_stroma`, `n_tumor_out`, `n_liver_out`,
#'   `n_tumor_in`, `n_liver_in`, the scores `rim_stroma` and `mixing`, and
#'   `pattern`); attribute `border`: the sampled border points (`image`,
#'   `segment`, `ring`, `x`, `y`) that `autoplot()` colours by pattern.
#' @references
#' van Dam PJ, van der Stok EP, Teuwen LA, et al. International consensus
#' guidelines for scoring the histopathological growth patterns of liver
#' metastasis. Br J Cancer. 2017;117(10):1427-1441.
#'
#' Galjart B, Nierop PMH, van der Stok EP, et al. Angiogenic desmoplastic
#' histopathological growth pattern as a prognostic marker of good outcome
#' in patients with colorectal liver metastases. Angiogenesis.
#' 2019;22(2):355-368.
#'
#' Latacz E, Hoppener D, Bohlok A, et al. Histopathological growth
#' patterns of liver metastasis: updated consensus guidelines for pattern
#' scoring, perspectives and recent mechanistic insights. Br J Cancer.
#' 2022;127(6):988-1013.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(6000, 0, 2000), y = runif(6000, 0, 2000))
#' r <- sqrt((df$x - 1000)^2 + (df$y - 1000)^2)
#' df$type <- ifelse(r < 600, "Tumor", ifelse(r < 700, "Fibroblast",
#'                                            "Hepatocyte"))
#' cells <- spatial_cells(df)
#' g <- growth_pattern(cells, tumor_regions(cells))
#' g
growth_pattern <- function(cells, regions, tumor = "Tumor",
                           liver = "Hepatocyte", ..., segment = 250,
                           depth = 100, rim = 100, mixing = 0.05,
                           min_cells = 5, pure = 1,
                           nthreads = immunoscape_threads(), BPPARAM = NULL) {
    check_dots(...)
    cells <- check_cells(cells)
    regions <- check_regions(regions, cells)
    tumor <- check_types(cells, tumor)
    liver <- check_types(cells, liver)
    check_positive(segment, allow_null = FALSE, min = 0.5)
    check_positive(depth, allow_null = FALSE)
    check_positive(rim, allow_null = FALSE)
    check_fraction(mixing)
    check_fraction(pure)
    check_nonneg(min_cells)
    nthreads <- check_nthreads(nthreads)
    opts <- list(tumor = tumor, liver = liver, segment = segment,
                 depth = depth, rim = rim, mixing = mixing,
                 min_cells = min_cells, nthreads = nthreads)
    res <- map_images(cells, function(sub, image) {
        growth_image(sub, image, regions, opts)
    }, BPPARAM = BPPARAM, label = "Growth patterns")
    seg <- res[!is.na(res$segment), setdiff(names(res), c("ring", "bx",
                                                          "by")),
               drop = FALSE]
    lv <- levels(cells$image)
    segs <- seg[!duplicated(paste(seg$image, seg$segment)),
                c("image", "segment", "length_um", "x", "y", "n_outside",
                  "n_rim", "n_rim_stroma", "n_tumor_out", "n_liver_out",
                  "n_tumor_in", "n_liver_in", "rim_stroma", "mixing",
                  "pattern"), drop = FALSE]
    segs$image <- factor(as.character(segs$image), levels = lv)
    segs$pattern <- factor(segs$pattern, levels = growth_levels)
    rownames(segs) <- NULL
    border <- res[!is.na(res$segment), c("image", "segment", "ring", "bx",
                                         "by")]
    names(border)[4:5] <- c("x", "y")
    border$image <- factor(as.character(border$image), levels = lv)
    rownames(border) <- NULL
    # the patterns are those of a tumour-liver interface: an image without
    # hepatocytes has none (a rim there would be any stroma)
    n_liver <- tabulate(cells$image[cells$type %in% liver], length(lv))
    no_liver <- lv[n_liver < max(1, min_cells)]
    segs$pattern[segs$image %in% no_liver] <- NA
    out <- growth_calls(segs, lv, pure)
    i <- match(no_liver, lv)
    out$note[i] <- sprintf(
        "%s hepatocytes (%s) in the image: no tumour-liver interface to score",
        ifelse(n_liver[i] == 0L, "no", "too few"),
        paste(liver, collapse = ", "))
    notes <- regions_notes(regions, lv, cells = cells)
    nm <- match(lv, notes$image)
    out$note[!is.na(nm)] <- notes$note[nm[!is.na(nm)]]
    out <- carry_groups(out, cells)
    structure(out,
              class = c("immunoscape_growth", "immunoscape_result",
                        "data.frame"),
              segments = segs, border = border, parameters = opts[-8],
              pure = pure)
}

# Border points of one image every `step` microns along each ring, with the
# segment each belongs to (segments of about `segment` microns).
border_samples <- function(regions, image, segment, step) {
    s <- regions[as.character(regions$image) == image, , drop = FALSE]
    if (!nrow(s)) return(NULL)
    key <- paste(s$polygon, s$ring)
    rows <- split(seq_len(nrow(s)), factor(key, unique(key)))
    nseg0 <- 0L
    parts <- vector("list", length(rows))
    for (k in seq_along(rows)) {
        r <- rows[[k]]
        x <- s$x[c(r, r[1])]
        y <- s$y[c(r, r[1])]
        cum <- c(0, cumsum(sqrt(diff(x)^2 + diff(y)^2)))
        len <- cum[length(cum)]
        m <- max(3L, ceiling(len / step))
        at <- (seq_len(m) - 0.5) * len / m
        nseg <- max(1L, round(len / segment))
        parts[[k]] <- data.frame(
            ring = k, x = stats::approx(cum, x, at, ties = "ordered")$y,
            y = stats::approx(cum, y, at, ties = "ordered")$y,
            segment = nseg0 + pmin(nseg, floor(at / (len / nseg)) + 1L),
            length_um = len / nseg
        )
        nseg0 <- nseg0 + nseg
        # no interface where the outline runs along the edge of the image
        if (isTRUE(any(s$image_edge[r]))) {
            on_edge <- s$image_edge[r][findInterval(at, cum,
                                                    all.inside = TRUE)]
            p <- parts[[k]]
            # a segment cut by the edge keeps the length of its interface
            j <- p$segment - (nseg0 - nseg)
            kept <- tabulate(j[!on_edge], nseg) / tabulate(j, nseg)
            p$length_um <- p$length_um * kept[j]
            parts[[k]] <- p[!on_edge, , drop = FALSE]
        }
    }
    out <- do.call(rbind, parts)
    if (!nrow(out)) return(NULL)
    out$segment <- match(out$segment, unique(out$segment))
    out
}

# Segments of one image: per border sample point, the segment's counts,
# scores and pattern (a segment's values repeated over its points).
growth_image <- function(sub, image, regions, opts) {
    pts <- border_samples(regions, image, opts$segment,
                          step = min(10, opts$segment / 5))
    if (is.null(pts)) {
        return(data.frame(image = image, segment = NA_integer_,
                          ring = NA_integer_, bx = NA_real_, by = NA_real_,
                          length_um = NA_real_, x = NA_real_, y = NA_real_,
                          n_outside = NA_integer_, n_rim = NA_integer_,
                          n_rim_stroma = NA_integer_,
                          n_tumor_out = NA_integer_,
                          n_liver_out = NA_integer_,
                          n_tumor_in = NA_integer_, n_liver_in = NA_integer_,
                          rim_stroma = NA_real_, mixing = NA_real_,
                          pattern = NA_character_))
    }
    d <- region_signed_distance(regions, image, sub$x, sub$y, opts$nthreads)
    near <- which(abs(d) <= opts$depth)
    nseg <- max(pts$segment)
    seg_of <- integer(0)
    if (length(near)) {
        n <- nrow(sub)
        res <- .Call(ffi_dist_nearest, c(sub$x, pts$x), c(sub$y, pts$y),
                     near, n + seq_len(nrow(pts)), 1L,
                     as.integer(opts$nthreads))
        seg_of <- pts$segment[as.integer(res[[2]]) - n]
    }
    dn <- d[near]
    is_t <- sub$type[near] %in% opts$tumor
    is_l <- sub$type[near] %in% opts$liver
    out <- dn > 0
    count <- function(sel) tabulate(seg_of[sel], nseg)
    cnt <- data.frame(
        segment = seq_len(nseg),
        n_outside = count(out & !is_t),
        n_rim = count(out & dn <= opts$rim),
        n_rim_stroma = count(out & dn <= opts$rim & !is_t & !is_l),
        n_tumor_out = count(out & is_t), n_liver_out = count(out & is_l),
        n_tumor_in = count(!out & is_t), n_liver_in = count(!out & is_l)
    )
    cnt$rim_stroma <- ifelse(cnt$n_rim > 0, cnt$n_rim_stroma / cnt$n_rim,
                             NA_real_)
    tl <- cnt$n_tumor_out + cnt$n_liver_out + cnt$n_tumor_in + cnt$n_liver_in
    cnt$mixing <- ifelse(tl > 0, (cnt$n_liver_in + cnt$n_tumor_out) / tl,
                         NA_real_)
    ok <- cnt$n_outside >= opts$min_cells
    pat <- ifelse(!is.na(cnt$rim_stroma) & cnt$rim_stroma >= 0.5,
                  "desmoplastic",
                  ifelse(!is.na(cnt$mixing) & cnt$mixing >= opts$mixing,
                         "replacement", "pushing"))
    pat[!ok] <- NA_character_
    cnt$pattern <- pat
    mid <- pts[!duplicated(pts$segment), c("segment", "length_um")]
    # midpoint: the middle sample of each segment
    mids <- vapply(split(seq_len(nrow(pts)), pts$segment), function(i) {
        i[ceiling(length(i) / 2)]
    }, integer(1))
    cnt$length_um <- mid$length_um[match(cnt$segment, mid$segment)]
    cnt$x <- pts$x[mids]
    cnt$y <- pts$y[mids]
    m <- match(pts$segment, cnt$segment)
    data.frame(image = image, segment = pts$segment, ring = pts$ring,
               bx = pts$x, by = pts$y, cnt[m, setdiff(names(cnt), "segment")])
}

# Per image: fractions of assessable interface length by pattern, the
# predominant pattern and the two-tier call.
growth_calls <- function(segs, images, pure) {
    ok <- !is.na(segs$pattern)
    len <- tapply(segs$length_um[ok], list(factor(segs$image[ok],
                                                  levels = images),
                                           segs$pattern[ok]), sum)
    len[is.na(len)] <- 0
    len <- matrix(len, nrow = length(images), dimnames = list(images,
                                                              growth_levels))
    tot <- rowSums(len)
    frac <- len / ifelse(tot > 0, tot, NA_real_)
    pick <- apply(frac, 1, function(f) {
        if (all(is.na(f))) NA_character_ else growth_levels[which.max(f)]
    })
    nseg <- tabulate(factor(segs$image[ok], levels = images), length(images))
    two <- ifelse(is.na(frac[, 1]), NA_character_,
                  ifelse(frac[, 1] >= pure - 1e-12, "desmoplastic",
                         "non-desmoplastic"))
    data.frame(image = factor(images, levels = images), interface_um = tot,
               desmoplastic = frac[, 1], replacement = frac[, 2],
               pushing = frac[, 3],
               pattern = factor(pick, levels = growth_levels),
               two_tier = factor(two, levels = c("desmoplastic",
                                                 "non-desmoplastic")),
               n_segments = nseg,
               note = ifelse(tot > 0, NA_character_,
                             "no assessable tumour-liver interface"),
               row.names = NULL)
}

#' @export
print.immunoscape_growth <- function(x, ...) {
    p <- attr(x, "parameters")
    cat(sprintf("<immunoscape_growth> %d image%s; segments of %g \u00b5m, cells within %g \u00b5m of the border\n",
                nrow(x), if (nrow(x) == 1L) "" else "s", p$segment, p$depth))
    cat(sprintf("  desmoplastic: >= half of the cells within %g \u00b5m outside are stroma (not tumour, not %s)\n",
                p$rim, paste(p$liver, collapse = "/")))
    cat(sprintf("  replacement: else >= %g of tumour cells and hepatocytes on the wrong side; pushing: else\n",
                p$mixing))
    cat("  pattern = predominant share of the interface length; two_tier = desmoplastic only if",
        sprintf("%g%% desmoplastic\n", 100 * attr(x, "pure")))
    print(as.data.frame(x), row.names = FALSE, digits = 3)
    invisible(x)
}

#' @rdname growth_pattern
#' @param object An `immunoscape_growth` object.
#' @param cells For `autoplot()`: optional `spatial_cells` drawn beneath
#'   the border.
#' @param flip_y If `TRUE` (default), y grows downwards as in the image.
#' @param type For `autoplot()`: `"map"` (default) draws the tumour border
#'   of each image coloured by the pattern of its segments, one panel per
#'   image; `"fractions"` draws the cohort, one bar per image of the
#'   shares of its interface in each pattern, images ordered by their
#'   desmoplastic then replacement share.
#' @param images For `autoplot()`: images to draw (names or positions);
#'   `NULL` (default) for all.
#' @param page,max_panels For `autoplot(type = "map")`: paging through a
#'   cohort as in [plot_cells()] (more than `max_panels` images without
#'   `page` are drawn with a warning of class `immunoscape_warning_panels`).
#' @export
autoplot.immunoscape_growth <- function(object, cells = NULL, flip_y = TRUE,
                                        type = c("map", "fractions"),
                                        images = NULL, page = NULL,
                                        max_panels = 25L, ...) {
    type <- check_choice(type, c("map", "fractions"))
    if (type == "fractions") {
        check_dots(...)
        return(growth_fractions_plot(object, images))
    }
    b <- attr(object, "border")
    segs <- attr(object, "segments")
    check_plot_rows(b, "growth-pattern border", region_plot_hint)
    imgs <- select_images(levels(object$image), images)
    imgs <- page_images(imgs, page, max_panels)
    b <- b[as.character(b$image) %in% imgs, , drop = FALSE]
    b$pattern <- segs$pattern[match(paste(b$image, b$segment),
                                    paste(segs$image, segs$segment))]
    b$pattern <- factor(ifelse(is.na(b$pattern), "not assessed",
                               as.character(b$pattern)),
                        levels = c(growth_levels, "not assessed"))
    b <- growth_paths(b)
    cols <- c(desmoplastic = "#1B7837", replacement = "#C51B7D",
              pushing = "#E08214", `not assessed` = "grey60")
    layers <- list(
        # a white halo keeps the border visible over the cells
        ggplot2::geom_path(
            data = b, ggplot2::aes(.data$x, .data$y, group = .data$.run),
            colour = "white", linewidth = 2.4, inherit.aes = FALSE
        ),
        ggplot2::geom_path(
            data = b, ggplot2::aes(.data$x, .data$y, group = .data$.run),
            colour = cols[as.character(b$pattern)], linewidth = 1.1,
            inherit.aes = FALSE
        ),
        # the legend: invisible points of every pattern
        ggplot2::geom_point(
            data = data.frame(pattern = factor(names(cols),
                                               levels = names(cols)),
                              x = b$x[1], y = b$y[1]),
            ggplot2::aes(.data$x, .data$y, fill = .data$pattern),
            shape = 22, size = 0, stroke = 0, inherit.aes = FALSE
        ),
        ggplot2::scale_fill_manual(values = cols, name = "growth pattern",
                                   drop = FALSE),
        ggplot2::guides(fill = ggplot2::guide_legend(
            override.aes = list(size = 4)))
    )
    title <- ggplot2::ggtitle("Growth pattern along the tumour border")
    caption <- ggplot2::labs(caption = missing_caption(
        setdiff(imgs, as.character(b$image)), "no tumour-liver interface"))
    if (!is.null(cells)) {
        return(plot_cells(cells, images = imgs, flip_y = flip_y,
                          max_panels = max(max_panels, length(imgs)),
                          ...) +
                   layers + title + caption)
    }
    check_dots(...)
    check_flag(flip_y)
    drawn <- unique(as.character(b$image))
    b$image <- factor(as.character(b$image), levels = drawn)
    layers[[1]]$data <- b
    layers[[2]]$data <- b
    p <- ggplot2::ggplot() + layers + title + caption +
        ggplot2::labs(x = "x (\u00b5m)", y = "y (\u00b5m)")
    finish_map(p, length(drawn), flip_y)
}

# The sampled border as closed paths, one path per run of points of one
# pattern: each run ends on the first point of the next run, and the last
# run of a ring on the ring's first point, so that no gap is left.
growth_paths <- function(b) {
    b <- b[order(b$image, b$ring), , drop = FALSE]
    ring <- paste(b$image, b$ring, sep = "\r")
    pieces <- lapply(split(seq_len(nrow(b)), factor(ring, unique(ring))),
                     function(r) {
        m <- length(r)
        d <- b[c(r, r[1]), , drop = FALSE]
        d$pattern[m + 1L] <- d$pattern[m]
        new <- c(TRUE, d$pattern[-1] != d$pattern[-(m + 1L)])
        run <- cumsum(new)
        # a run's first point is also the last point of the run before
        starts <- which(new)[-1]
        extra <- d[starts, , drop = FALSE]
        extra$.k <- run[starts] - 1L
        d$.k <- run
        d <- rbind(d, extra)
        d$.pos <- c(seq_len(m + 1L), starts - 0.5)
        d <- d[order(d$.k, d$.pos), , drop = FALSE]
        d$pattern <- d$pattern[match(d$.k, d$.k)]
        d
    })
    out <- do.call(rbind, pieces)
    out$.run <- paste(out$image, out$ring, out$.k, sep = "/")
    rownames(out) <- NULL
    out[setdiff(names(out), c(".k", ".pos"))]
}

# The cohort view: one bar per image, the shares of its interface length
# in each pattern.
growth_fractions_plot <- function(object, images) {
    df <- as.data.frame(object)
    keep <- select_images(levels(object$image), images)
    df <- df[as.character(df$image) %in% keep, , drop = FALSE]
    none <- as.character(df$image[!is.finite(df$interface_um) |
                                      df$interface_um <= 0])
    df <- df[!as.character(df$image) %in% none, , drop = FALSE]
    check_plot_rows(df, "assessable tumour-liver interfaces",
                    region_plot_hint)
    ord <- order(-df$desmoplastic, -df$replacement, df$pushing)
    lv <- as.character(df$image[ord])
    long <- do.call(rbind, lapply(growth_levels, function(g) {
        data.frame(image = factor(as.character(df$image), levels = rev(lv)),
                   pattern = factor(g, levels = rev(growth_levels)),
                   share = df[[g]])
    }))
    nimg <- length(lv)
    cols <- c(desmoplastic = "#1B7837", replacement = "#C51B7D",
              pushing = "#E08214")
    calls <- table(factor(as.character(df$pattern), levels = growth_levels))
    p <- ggplot2::ggplot(long, ggplot2::aes(.data$share, .data$image,
                                            fill = .data$pattern)) +
        ggplot2::geom_col(width = if (nimg > 60L) 1 else 0.8) +
        ggplot2::scale_fill_manual(values = cols, breaks = growth_levels,
                                   name = "growth pattern") +
        ggplot2::scale_x_continuous(
            labels = function(v) paste0(round(100 * v), "%"),
            expand = ggplot2::expansion(mult = c(0, 0.02))) +
        ggplot2::labs(
            x = "share of the tumour-liver interface length", y = NULL,
            title = "Growth pattern of each image",
            subtitle = sprintf("%d image%s; predominant: %s", nimg,
                               if (nimg == 1L) "" else "s",
                               paste(names(calls), calls, sep = " ",
                                     collapse = ", ")),
            caption = missing_caption(none, "no tumour-liver interface")) +
        result_theme() +
        ggplot2::theme(panel.grid.major.y = ggplot2::element_blank())
    if (nimg > 60L) {
        p <- p + ggplot2::theme(axis.text.y = ggplot2::element_blank(),
                                axis.ticks.y = ggplot2::element_blank()) +
            ggplot2::labs(y = sprintf("%d images (names not shown)", nimg))
    } else if (nimg > 30L) {
        p <- p + ggplot2::theme(axis.text.y = ggplot2::element_text(
            size = max(4, 8 * 30 / nimg)))
    }
    p
}
