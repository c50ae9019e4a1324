# Per-image immune calls from compartment densities: the immune phenotype
# (inflamed / excluded / desert) and Immunoscore-style ratios (CD8/Treg) by
# compartment. Both count cells by compartment of compartments() and
# divide by the compartment areas it computes.

phenotype_levels <- c("inflamed", "excluded", "desert")

# Counts of `types` cells and areas (mm^2) per image and compartment, the
# compartments merged as in `groups` (a named list of compartment_levels).
compartment_counts <- function(cells, regions, types, margin, groups,
                               nthreads, BPPARAM) {
    comp <- compartments(cells, regions, margin = margin, nthreads = nthreads,
                         BPPARAM = BPPARAM)
    areas <- attr(comp, "areas")
    lv <- levels(cells$image)
    out <- do.call(rbind, lapply(names(groups), function(g) {
        inside <- comp$compartment %in% groups[[g]]
        cnt <- lapply(types, function(t) {
            tabulate(comp$image[inside & comp$type %in% t], length(lv))
        })
        a <- vapply(lv, function(im) {
            sel <- areas$image == im & areas$compartment %in% groups[[g]]
            if (!any(sel)) NA_real_ else sum(areas$area_mm2[sel])
        }, numeric(1))
        df <- data.frame(image = lv, compartment = g, area_mm2 = a)
        for (k in seq_along(types)) df[[paste0("n", k)]] <- cnt[[k]]
        df
    }))
    out$image <- factor(out$image, levels = lv)
    out$compartment <- factor(out$compartment, levels = names(groups))
    no_region <- tapply(is.na(comp$border_distance), comp$image, all)
    out$.no_region <- out$image %in% names(no_region)[no_region %in% TRUE]
    out$area_mm2[out$.no_region] <- NA_real_
    attr(out, "notes") <- attr(comp, "notes")
    out[order(out$image, out$compartment), , drop = FALSE]
}

#' Immune phenotype of each image: inflamed, excluded or desert
#'
#' Calls each image immune-inflamed, immune-excluded or immune-desert from
#' the density of immune cells (by default CD8 T cells) in the tumour core
#' and in the invasive margin (Chen & Mellman 2017; Hegde et al. 2016):
#'
#' * **inflamed**: the immune cells reach the tumour core:
#'   core density `>= core_min` cells per mm^2;
#' * **excluded**: they do not, but gather at the border: core density
#'   `< core_min` and invasive-margin density `>= margin_min`;
#' * **desert**: few anywhere: both below.
#'
#' The core and the invasive margin are the compartments of
#' [compartments()] (core: deeper than `margin` inside the tumour; invasive
#' margin: within `margin` of the border on either side, the IOBWG 1-mm
#' band). The decision tree of Muijlwijk et al. 2024 (Fig. 2) calls a
#' tumour inflamed at `>= 100` CD8+ cells/mm^2 in the tumour centre and,
#' otherwise, excluded at `>= 200`/mm^2 in the invasive margin. The
#' default `core_min = 100` is their cut-off; in the Immunoscore studies
#' of colorectal cancer (Pages et al. 2018) CD8+ densities of the tumour
#' centre run from a few tens to over a thousand cells/mm^2, and
#' [simulate_tme()] draws inflamed cores of about 150 to 300 CD8 T/mm^2
#' (excluded and desert cores under 40). The default `margin_min = 40`
#' is NOT a published cut-off: the excluded sections of [simulate_tme()]
#' hold about 70 to 190 CD8 T/mm^2 averaged over the 1-mm margin (their T
#' cells gather in a band one or two hundred microns wide), deserts under
#' 20, so Muijlwijk's 200 would call most simulated excluded tumours
#' desert. Use `margin_min = 200` to follow Muijlwijk et al.; calibrate
#' both on your own cohort (e.g. at its medians) for other tissues or
#' panels (Muijlwijk et al. split one branch at their cohort's median).
#'
#' **Immune cells in the core** count only when a tumour cell (`tumor`,
#' by default the types the regions were built from) lies within
#' `contact` microns: the inflamed phenotype is defined by T cells in the
#' tumour parenchyma, in contact with tumour cells (Chen & Mellman 2017;
#' Hegde et al. 2016), and cells inside lymphoid aggregates or tertiary
#' lymphoid structures within the tumour are not. The invasive margin
#' counts every immune cell, in contact or not (its stroma is part of it).
#' `tumor = NULL` counts every immune cell in the core too.
#'
#' **Lymphoid aggregates** (tertiary lymphoid structures and other B-cell
#' follicles) are not part of the diffuse infiltrate the phenotypes
#' describe, and one of them holds as many T cells as a square millimetre
#' of infiltrated tissue: immune cells with at least `aggregate_b` cells
#' of the `aggregates` types (B cells) within `aggregate_radius` microns
#' (the T-cell zone around a follicle) are left out, everywhere, and so is
#' the area where that many lie within that distance (on a grid of
#' `aggregate_radius / 30`; column `aggregate_area_mm2`, in the core and
#' margin): the densities are those of the tissue around the aggregates.
#' Scattered B cells do not reach that count; `aggregates = NULL` keeps
#' every cell and all the area.
#' When the default type `"B"` is in no image (a panel with other type
#' names), nothing is left out and a message says so: name the panel's
#' B-cell type.
#'
#' **Which density.** The call uses the densities of the compartments
#' (count / area, the average infiltrate the TIL guidelines ask for rather
#' than hotspots: Salgado et al. 2015; Hendry et al. 2017). With
#' `statistic = "median"` the core density is instead the median over
#' square tiles of side `tile` (250 microns) lying at least half in the
#' core, which resists dense spots further but is noisier in small cores.
#' For the margin, where the immune cells of an excluded tumour gather in a
#' band along the border that most tiles would miss, the call always uses
#' the compartment density. Both are reported.
#'
#' When the tumour is less than `2 * margin` deep (small nodules, whose
#' core would be a sliver or empty), the core is taken as the part deeper
#' than half the tumour's depth (the largest distance of a cell inside the
#' tumour from its border) and the inner margin as the rest of the
#' tumour; the outer margin stays `margin` wide. With `core_depth` the
#' depth of the core (`margin`, or half the tumour's depth), the core is
#' the signed border distance `d <= -core_depth` and the invasive margin
#' `-core_depth < d <= margin`, for the cells counted as for the areas
#' they are divided by; `core_depth` and `note` say when it is less than
#' `margin`. An image without a tumour region gives a row of `NA` with a
#' note, not an error.
#'
#' @inheritParams compartments
#' @param immune Immune cell type(s) counted together (default `"CD8 T"`).
#' @param core_min,margin_min Density thresholds in cells per mm^2.
#' @param min_expected A compartment's density decides the call only when
#'   the compartment would hold at least this many immune cells at its
#'   threshold (area times `core_min` or `margin_min`): by default 0.05
#'   mm^2 of core and 0.125 mm^2 of margin. A smaller core gives no call
#'   (`NA`, with a note): a count of one or two cells cannot tell a
#'   density from the threshold; a small margin leaves an image whose
#'   core is below `core_min` uncalled (excluded or desert). 0 calls
#'   every image with an area.
#' @param statistic `"mean"` (whole compartment) or `"median"` (median
#'   over tiles): which core density the call uses.
#' @param tile Side of the tiles in microns.
#' @param tumor Tumour cell type(s) for the contact rule (`NULL`: no
#'   rule). Default: the types `regions` were built from; polygons (e.g.
#'   [as_regions()] of a pathologist's outlines) name none, and then the
#'   rule is off, with a message.
#' @param contact Distance (microns) within which an immune cell of the
#'   core counts as in contact with a tumour cell.
#' @param aggregates Cell type(s) that mark lymphoid aggregates (B cells),
#'   or `NULL`. Types given must occur in `cells`; the default `"B"` may
#'   be absent (then nothing is left out, with a message).
#' @param aggregate_b,aggregate_radius An immune cell with at least
#'   `aggregate_b` `aggregates` cells within `aggregate_radius` microns is
#'   in a lymphoid aggregate and not counted.
#' @param comp `NULL` (default), or the [compartments()] result of these
#'   `cells` and `regions` with the same `margin` when it exists already
#'   ([spatial_profile()] hands in its own, so that a whole slide is not
#'   split into compartments twice).
#' @returns An `immunoscape_phenotype` data frame, one row per image:
#'   `image`, `n_core`, `n_margin` (immune cells), `core_area_mm2`,
#'   `margin_area_mm2` (without the lymphoid aggregates), `density_core`,
#'   `density_margin` (count / area, per mm^2), `tile_core`, `tile_margin`
#'   (median tile densities), `n_tiles_core`, `n_tiles_margin`,
#'   `core_depth` (microns), `aggregate_area_mm2` (lymphoid aggregates in
#'   the core and margin, left out of their areas), `note`,
#'   `phenotype` (factor:
#'   `inflamed`, `excluded`, `desert`).
#' @references
#' Chen DS, Mellman I. Elements of cancer immunity and the cancer-immune
#' set point. Nature. 2017;541(7637):321-330.
#'
#' Hegde PS, Karanikas V, Evers S. The where, the when, and the how of
#' immune monitoring for cancer immunotherapies in the era of checkpoint
#' inhibition. Clin Cancer Res. 2016;22(8):1865-1874.
#'
#' Salgado R, Denkert C, Demaria S, et al. The evaluation of
#' tumor-infiltrating lymphocytes (TILs) in breast cancer: recommendations
#' by an International TILs Working Group 2014. Ann Oncol.
#' 2015;26(2):259-271.
#'
#' Pages F, Mlecnik B, Marliot F, et al. International validation of the
#' consensus Immunoscore for the classification of colon cancer: a
#' prognostic and accuracy study. Lancet. 2018;391(10135):2128-2139.
#'
#' Muijlwijk T, Nijenhuis DNLM, Ganzevles SH, et al. Immune cell topography
#' of head and neck cancer. J Immunother Cancer. 2024;12(7):e009550
#' (Fig. 2: decision tree on CD8+ densities in tumour centre and invasive
#' margin).
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(2e4, 0, 3000), y = runif(2e4, 0, 3000))
#' r <- sqrt((df$x - 1500)^2 + (df$y - 1500)^2)
#' df$type <- ifelse(r < 1000, "Tumor", "Stroma")
#' # CD8 T cells at the border only (about 300 per mm^2 of margin: also
#' # excluded with margin_min = 200)
#' k <- abs(r - 1000) < 150 & runif(2e4) < 0.5
#' df$type[k] <- "CD8 T"
#' cells <- spatial_cells(df)
#' immune_phenotype(cells, tumor_regions(cells))
immune_phenotype <- function(cells, regions, immune = "CD8 T", margin = 500,
                             core_min = 100, margin_min = 40, ...,
                             min_expected = 5,
                             statistic = c("mean", "median"), tile = 250,
                             tumor = attr(regions, "tumor"), contact = 30,
                             aggregates = "B", aggregate_b = 30,
                             aggregate_radius = 150,
                             nthreads = immunoscape_threads(),
                             BPPARAM = NULL, comp = NULL) {
    check_dots(...)
    cells <- check_cells(cells)
    regions <- check_regions(regions, cells)
    immune <- check_types(cells, immune)
    check_margin(margin)
    check_nonneg(core_min)
    check_nonneg(margin_min)
    check_nonneg(min_expected)
    statistic <- check_choice(statistic, c("mean", "median"))
    check_positive(tile, allow_null = FALSE, min = 0.5)
    check_tile_count(cells, tile)
    if (!is.null(tumor)) tumor <- check_types(cells, tumor)
    if (is.null(tumor) && missing(tumor)) {
        # polygons (as_regions(), a pathologist's outlines) name no tumour
        # type: the contact rule cannot default to it, and says so
        inform_immunoscape(c(
            "{.arg regions} name no tumour cell type (polygons): the core counts every {.val {immune}} cell, in contact with tumour cells or not.",
            "i" = "Give {.arg tumor} (e.g. {.code tumor = \"Tumor\"}) to count only those within {contact} microns of a tumour cell, or {.code tumor = NULL} for this without the message."
        ))
    }
    check_positive(contact, allow_null = FALSE)
    aggregates <- check_aggregates(cells, aggregates, missing(aggregates))
    check_nonneg(aggregate_b)
    check_positive(aggregate_radius, allow_null = FALSE)
    nthreads <- check_nthreads(nthreads)
    if (is.null(comp)) {
        comp <- compartments(cells, regions, margin = margin,
                             nthreads = nthreads, BPPARAM = BPPARAM)
    } else if (!inherits(comp, "immunoscape_compartments") ||
               nrow(comp) != nrow(cells) ||
               !identical(attr(comp, "margin"), margin) ||
               !isTRUE(all.equal(attr(comp, "cells_key"),
                                 cells_key(cells)))) {
        stop_immunoscape(c(
            "{.arg comp} must be the {.fn compartments} result of these cells with {.code margin = {margin}}.",
            "i" = "Leave {.arg comp} out to compute it."
        ), class = "argument")
    }
    phenotype_calls(cells, regions, comp, immune, tumor, aggregates,
                    list(margin = margin, core_min = core_min,
                         margin_min = margin_min,
                         min_expected = min_expected, statistic = statistic,
                         tile = tile, contact = contact,
                         aggregate_b = aggregate_b,
                         aggregate_radius = aggregate_radius,
                         nthreads = nthreads))
}

# Tiles of side `tile` over the window of each image: at most 1e6 (the
# limit of the C band areas), else an error with the smallest tile that
# works on every image.
check_tile_count <- function(cells, tile, max_tiles = 1e6,
                             call = rlang::caller_env()) {
    w <- attr(cells, "windows")
    if (is.null(w) || !nrow(w)) return(invisible())
    W <- tapply(w$x, w$image, function(v) diff(range(v)))
    H <- tapply(w$y, w$image, function(v) diff(range(v)))
    n <- pmax(1, ceiling(W / tile)) * pmax(1, ceiling(H / tile))
    bad <- which(n > max_tiles)
    if (!length(bad)) return(invisible())
    need <- max(sqrt(W[bad] * H[bad] / max_tiles))
    repeat {
        ok <- all(pmax(1, ceiling(W / need)) * pmax(1, ceiling(H / need)) <=
                  max_tiles, na.rm = TRUE)
        if (ok) break
        need <- need * 1.01
    }
    k <- bad[which.max(n[bad])]
    stop_immunoscape(c(
        "{.arg tile} = {format(tile)} um cuts image {.val {names(W)[k]}} ({round(W[k])} x {round(H[k])} um) into {format(n[k], big.mark = ',')} tiles, more than {format(max_tiles, big.mark = ',', scientific = FALSE)}.",
        "i" = "Use {.code tile >= {signif(need * 1.005, 3)}}, or check that the coordinates are in microns."
    ), class = "argument", call = call)
}

# Lymphoid-aggregate types of immune_phenotype(): NULL, or types of
# `cells` (the rule of check_role_types(): a type named must occur; the
# default "B" may be absent, with a message, unless the panel names its B
# cells otherwise, which is an error naming them).
check_aggregates <- function(cells, aggregates, default,
                             call = rlang::caller_env()) {
    if (is.null(aggregates)) return(NULL)
    if (!default) return(check_types(cells, aggregates, call = call))
    present <- types_present(cells)
    r <- list(aggregates = check_role_types(aggregates, "aggregates",
                                            present, explicit = FALSE,
                                            used = TRUE, call = call))
    finish_role_types(r, call)
    v <- intersect(r$aggregates$value, present)
    if (length(v)) v
}

# immune_phenotype()'s default settings, written once (in its formals),
# for callers of phenotype_calls() (spatial_profile()).
phenotype_defaults <- function() {
    nm <- c("margin", "core_min", "margin_min", "min_expected",
            "statistic", "tile", "contact", "aggregate_b",
            "aggregate_radius")
    s <- lapply(formals(immune_phenotype)[nm], eval, baseenv())
    s$statistic <- s$statistic[1]
    s
}

# The calls of immune_phenotype() once its arguments are checked (`set`:
# margin, core_min, margin_min, statistic, tile, contact, aggregate_b,
# aggregate_radius, nthreads; `comp`: compartments() of the cells with
# that margin). Types of `immune`, `tumor` and `aggregates` may be absent
# from `cells` (counts of 0): spatial_profile() calls it on one image of
# a cohort, in which a type can be missing.
phenotype_calls <- function(cells, regions, comp, immune, tumor, aggregates,
                            set) {
    nthreads <- set$nthreads
    windows <- attr(cells, "windows")
    lv <- levels(cells$image)
    notes <- attr(comp, "region_notes") %||% attr(comp, "notes")
    rows <- lapply(lv, function(im) {
        i <- which(comp$image == im)
        sub <- cells$image == im
        ci <- match(comp$cell_id[i], cells$cell_id[sub])
        d <- comp$border_distance[i]
        imm <- comp$type[i] %in% immune
        depth <- depth_of(d)
        # in the core, only immune cells in contact with tumour cells
        # count (not those inside lymphoid aggregates or TLS); the margin
        # counts every immune cell
        if (!is.null(tumor)) {
            far <- imm & !near_type(cells$x[sub][ci], cells$y[sub][ci],
                                    comp$type[i] %in% tumor, imm,
                                    set$contact, nthreads)
            core_depth <- min(set$margin, depth / 2)
            d[far & !is.na(d) & d <= -core_depth] <- NA_real_
        }
        # immune cells of lymphoid aggregates (TLS) do not count anywhere
        if (length(aggregates)) {
            agg <- imm & count_type(cells$x[sub][ci], cells$y[sub][ci],
                                    comp$type[i] %in% aggregates, imm,
                                    set$aggregate_radius,
                                    nthreads) >= set$aggregate_b
            d[agg] <- NA_real_
        }
        # ... nor does their area
        agg_pts <- if (length(aggregates)) {
            aggregate_points(cells$x[sub][ci], cells$y[sub][ci],
                             comp$type[i] %in% aggregates,
                             set$aggregate_radius, set$aggregate_b, nthreads)
        }
        phenotype_image(regions, windows, im, d[imm],
                        cells$x[sub][ci][imm], cells$y[sub][ci][imm],
                        set$margin, depth, set$tile, nthreads, agg_pts)
    })
    out <- do.call(rbind, rows)
    out <- cbind(data.frame(image = factor(lv, levels = lv)), out)
    use_core <- if (set$statistic == "median") out$tile_core else
        out$density_core
    use_margin <- out$density_margin
    call <- ifelse(use_core >= set$core_min, "inflamed",
                   ifelse(use_margin >= set$margin_min, "excluded",
                          "desert"))
    # a compartment too small to hold min_expected immune cells at its
    # threshold density cannot tell the density from the threshold (one
    # cell in 0.005 mm^2 is 200 per mm^2): no call from it
    core_ok <- out$core_area_mm2 * set$core_min >= set$min_expected
    margin_ok <- out$margin_area_mm2 * set$margin_min >= set$min_expected
    small <- !is.na(call) & (!core_ok | (call != "inflamed" & !margin_ok))
    small[is.na(small)] <- FALSE
    call[small] <- NA_character_
    out$phenotype <- factor(call, levels = phenotype_levels)
    nm <- match(lv, notes$image)
    out$note[!is.na(nm)] <- notes$note[nm[!is.na(nm)]]
    too_small <- ifelse(!core_ok, sprintf(
        "core too small to call (%.3f mm^2 holds fewer than %s immune cells at core_min)",
        out$core_area_mm2, format(set$min_expected)), sprintf(
        "margin too small to tell excluded from desert (%.3f mm^2 holds fewer than %s immune cells at margin_min)",
        out$margin_area_mm2, format(set$min_expected)))
    out$note[small] <- ifelse(is.na(out$note[small]), too_small[small],
                              paste(out$note[small], too_small[small],
                                    sep = "; "))
    out <- carry_groups(out, cells)
    structure(out,
              class = c("immunoscape_phenotype", "immunoscape_result",
                        "data.frame"),
              immune = immune, margin = set$margin,
              statistic = set$statistic, tile = set$tile,
              thresholds = c(core_min = set$core_min,
                             margin_min = set$margin_min))
}

# Which of the cells `from` (logical) have a cell of `to` (logical) within
# `r` microns.
near_type <- function(x, y, to, from, r, nthreads) {
    out <- rep(FALSE, length(x))
    if (!any(to) || !any(from)) return(out)
    res <- .Call(ffi_dist_nearest, as.numeric(x), as.numeric(y),
                 which(from), which(to), 1L, as.integer(nthreads))
    out[which(from)] <- !is.na(res[[1]][, 1]) & res[[1]][, 1] <= r
    out
}

# Number of cells `to` (logical) within `r` microns of each cell (0 for
# the cells not in `from`).
count_type <- function(x, y, to, from, r, nthreads) {
    out <- integer(length(x))
    if (!any(to) || !any(from)) return(out)
    m <- .Call(ffi_dist_count, as.numeric(x), as.numeric(y),
               as.integer(to), 2L, which(from), as.numeric(r),
               as.integer(nthreads), 256)
    out[which(from)] <- m[2L, ]
    out
}

# The lymphoid aggregates of one image as area: the centres of the
# squares of a grid in which at least `b_min` cells of `is_b` lie within
# `r` microns, the rule by which an immune cell is in an aggregate. Only
# the cells (side r) of a coarse lattice whose 3 x 3 block holds b_min of
# them are tried (the disc of radius r about any point of a cell lies in
# its block); each is cut into s x s squares, s = 30 (r / 30 microns)
# unless that would make more than `max_points` squares in all (B-cell-rich
# tissue over a whole slide), then fewer. NULL when there is none; else
# list(x, y, w = square area).
aggregate_points <- function(x, y, is_b, r, b_min, nthreads, s = 30L,
                             max_points = 4e6) {
    nb <- sum(is_b)
    if (nb < max(1, b_min)) return(NULL)
    bx <- x[is_b]
    by <- y[is_b]
    cx <- floor(bx / r)
    cy <- floor(by / r)
    cx0 <- min(cx) - 1
    cy0 <- min(cy) - 1
    nx <- max(cx) - cx0 + 2
    ny <- max(cy) - cy0 + 2
    if (nx * ny > 1e8) return(NULL)
    cnt <- matrix(tabulate((cy - cy0) * nx + (cx - cx0) + 1, nx * ny), nx)
    # 3 x 3 block sums
    blk <- cnt
    for (dx in -1:1) for (dy in -1:1) {
        if (dx == 0 && dy == 0) next
        sh <- matrix(0, nx, ny)
        xi <- max(1, 1 + dx):min(nx, nx + dx)
        yi <- max(1, 1 + dy):min(ny, ny + dy)
        sh[xi - dx, yi - dy] <- cnt[xi, yi]
        blk <- blk + sh
    }
    cand <- which(blk >= b_min)
    if (!length(cand)) return(NULL)
    kx <- (cand - 1) %% nx + cx0
    ky <- (cand - 1) %/% nx + cy0
    s <- max(5L, min(s, floor(sqrt(max_points / length(cand)))))
    f <- (seq_len(s) - 0.5) / s
    px <- (rep(kx, each = s * s) + rep(f, times = s)) * r
    py <- (rep(ky, each = s * s) + rep(f, each = s)) * r
    n <- length(px)
    all_b <- rep(TRUE, nb)
    cnt <- count_type(c(bx, px), c(by, py), c(all_b, rep(FALSE, n)),
                      c(!all_b, rep(TRUE, n)), r, nthreads)[nb + seq_len(n)]
    k <- cnt >= b_min
    if (!any(k)) return(NULL)
    list(x = px[k], y = py[k], w = (r / s)^2)
}

# Depth of the tumour: the largest distance inside it over the cells.
depth_of <- function(d) {
    d <- d[!is.na(d) & d < 0]
    if (length(d)) -min(d) else 0
}

# Densities of one image's immune cells (signed distances and positions
# given) in the core and the invasive margin: over the whole compartment
# and as the median over tiles of side `tile` lying at least half in it.
# The core is deeper than `core_depth` inside the tumour: `margin`, or
# half the tumour's depth when that is less (small nodules); the margin
# is (-core_depth, margin], for the cells as for the areas.
phenotype_image <- function(regions, windows, image, d, x, y, margin, depth,
                            tile, nthreads, agg = NULL) {
    na_row <- data.frame(n_core = NA_integer_, n_margin = NA_integer_,
                         core_area_mm2 = NA_real_, margin_area_mm2 = NA_real_,
                         density_core = NA_real_, density_margin = NA_real_,
                         tile_core = NA_real_, tile_margin = NA_real_,
                         n_tiles_core = NA_integer_,
                         n_tiles_margin = NA_integer_, core_depth = NA_real_,
                         aggregate_area_mm2 = NA_real_,
                         note = NA_character_)
    if (!(depth > 0)) return(na_row)
    core_depth <- min(margin, depth / 2)
    breaks <- c(-core_depth, 0, margin)
    a <- region_band_areas(regions, windows, image, breaks, tile = tile,
                           nthreads = nthreads)
    if (!is.matrix(a)) return(na_row)
    w <- window_rings(windows, image)
    dims <- attr(a, "tiles")
    tx <- pmin(dims[1] - 1L, floor((x - min(w$x)) / tile))
    ty <- pmin(dims[2] - 1L, floor((y - min(w$y)) / tile))
    tid <- tx + ty * dims[1] + 1L
    # the bands of the areas: 1 core, 2 inner margin, 3 outer margin, 4
    # beyond (right-closed, as region_band_areas()); 0 not counted
    code <- findInterval(d, breaks, left.open = TRUE) + 1L
    code[is.na(code)] <- 0L
    # the area of the lymphoid aggregates (in the window) leaves each band
    # and tile, as their cells leave the counts
    agg_area <- 0
    if (!is.null(agg)) {
        inw <- window_inside(windows, image, agg$x, agg$y)
        ax <- agg$x[inw]
        ay <- agg$y[inw]
        ab <- findInterval(region_signed_distance(regions, image, ax, ay,
                                                  nthreads),
                           breaks, left.open = TRUE) + 1L
        at <- pmin(dims[1] - 1L, floor((ax - min(w$x)) / tile)) +
            pmin(dims[2] - 1L, floor((ay - min(w$y)) / tile)) * dims[1] + 1L
        ok <- !is.na(ab)
        lost <- matrix(tabulate((at[ok] - 1L) * nrow(a) + ab[ok],
                                length(a)) * agg$w, nrow(a))
        a <- pmax(a - lost, 0)
        agg_area <- sum(lost[1:3, ]) / 1e6
    }
    one <- function(bands) {
        area <- colSums(a[bands, , drop = FALSE]) / 1e6
        n_tile <- tabulate(tid[code %in% bands], ncol(a))
        full <- area >= 0.5 * tile^2 / 1e6
        n <- sum(n_tile)
        ar <- sum(area)
        list(n = n, area = ar, mean = if (ar > 0) n / ar else NA_real_,
             tile = if (any(full)) stats::median(n_tile[full] / area[full])
                    else if (ar > 0) n / ar else NA_real_,
             n_tiles = sum(full))
    }
    core <- one(1L)
    mar <- one(2:3)
    note <- if (!(mar$area > 0)) {
        "no tumour border in view (the tumour fills the image): no invasive margin"
    } else if (core_depth < margin) {
        sprintf("tumour at most %.0f um deep: core taken deeper than %.0f um (half the depth)",
                depth, core_depth)
    } else NA_character_
    data.frame(n_core = core$n, n_margin = mar$n,
               core_area_mm2 = core$area, margin_area_mm2 = mar$area,
               density_core = core$mean, density_margin = mar$mean,
               tile_core = core$tile, tile_margin = mar$tile,
               n_tiles_core = core$n_tiles, n_tiles_margin = mar$n_tiles,
               core_depth = core_depth, aggregate_area_mm2 = agg_area,
               note = note)
}

#' @export
print.immunoscape_phenotype <- function(x, ...) {
    th <- attr(x, "thresholds")
    cat(sprintf("<immunoscape_phenotype> %s; inflamed if core >= %g/mm\u00b2, else excluded if margin >= %g/mm\u00b2, else desert (%s densities; margin %g \u00b5m)\n",
                paste(attr(x, "immune"), collapse = " + "), th[1], th[2],
                if (identical(attr(x, "statistic"), "median"))
                    sprintf("core: median %g-\u00b5m tile", attr(x, "tile")) else
                    "compartment",
                attr(x, "margin")))
    print(as.data.frame(x), row.names = FALSE, digits = 4)
    invisible(x)
}

#' @rdname immune_phenotype
#' @param object An `immunoscape_phenotype` object.
#' @param images For `autoplot()`: images to draw (names or positions);
#'   `NULL` (default) for all.
#' @details `autoplot()` draws one point per image at its margin and core
#'   densities, coloured by the call, with the thresholds as dashed lines;
#'   the legend counts the images of each class.
#' @export
autoplot.immunoscape_phenotype <- function(object, images = NULL, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    keep <- select_images(unique(as.character(df$image)), images)
    sel <- df[as.character(df$image) %in% keep, , drop = FALSE]
    median <- identical(attr(object, "statistic"), "median")
    if (median) sel$density_core <- sel$tile_core
    # a point needs a call and both densities (a tumour filling the image
    # has a call from its core but no margin)
    df <- sel[!is.na(sel$phenotype) & !is.na(sel$density_core) &
                  !is.na(sel$density_margin), , drop = FALSE]
    n_na <- nrow(sel) - nrow(df)
    check_plot_rows(df, "immune phenotypes")
    th <- attr(object, "thresholds")
    lim <- max(c(df$density_core, df$density_margin, th), na.rm = TRUE) * 1.08
    levels <- c("inflamed", "excluded", "desert")
    n <- table(factor(as.character(df$phenotype), levels = levels))
    nimg <- nrow(df)
    ggplot2::ggplot(df, ggplot2::aes(.data$density_margin,
                                     .data$density_core,
                                     colour = .data$phenotype)) +
        ggplot2::geom_point(size = if (nimg > 100L) 1.8 else 2.5,
                            alpha = if (nimg > 100L) 0.7 else 1) +
        # the thresholds and the three areas of the rule (named in their
        # corner) over the points, so that a crowded cohort does not hide
        # them
        ggplot2::geom_hline(yintercept = th[["core_min"]], colour = "grey30",
                            linetype = "dashed") +
        ggplot2::annotate("segment", x = th[["margin_min"]],
                          xend = th[["margin_min"]], y = 0,
                          yend = th[["core_min"]], colour = "grey30",
                          linetype = "dashed") +
        ggplot2::annotate("label", x = c(0, lim, 0), hjust = c(0, 1, 0),
                          y = c(lim, rep(th[["core_min"]], 2)),
                          vjust = c(1, 1.3, 1.3),
                          label = c("inflamed", "excluded", "desert"),
                          colour = c("#B2182B", "#E08214", "#4393C3"),
                          fill = grDevices::adjustcolor("white", 0.75),
                          label.size = 0, size = 3.5, fontface = "italic") +
        ggplot2::scale_colour_manual(
            values = c(inflamed = "#B2182B", excluded = "#E08214",
                       desert = "#4393C3"),
            labels = sprintf("%s (%d)", levels, as.integer(n)),
            breaks = levels, drop = FALSE) +
        ggplot2::coord_cartesian(xlim = c(0, lim), ylim = c(0, lim)) +
        ggplot2::labs(x = "invasive margin density (cells per mm\u00b2)",
                      y = if (median)
                          sprintf("tumour core density (cells per mm\u00b2; median of %g-\u00b5m tiles)",
                                  attr(object, "tile")) else
                          "tumour core density (cells per mm\u00b2)",
                      colour = "phenotype (images)",
                      subtitle = if (nimg == 1L) as.character(df$image) else
                          sprintf("%d images, one point each", nimg),
                      caption = if (n_na) sprintf(
                          "%d image%s without a call or without a margin not drawn (see their note)",
                          n_na, if (n_na > 1) "s" else ""),
                      title = sprintf("Immune phenotype (%s)",
                                      paste(attr(object, "immune"),
                                            collapse = " + "))) +
        result_theme()
}

#' Cell-type ratios and densities by compartment (CD8/Treg and others)
#'
#' The inputs of Immunoscore-style scores and the ratios clinical papers
#' report, per image and compartment: counts and densities (per mm^2) of a
#' numerator type (default CD8 T cells) and a denominator type (default
#' FOXP3+ regulatory T cells), and their ratio. Compartments: `core`,
#' `inner_margin`, `outer_margin`, `stroma` (as [compartments()]),
#' `margin` (the whole invasive margin, inner and outer), `tumor` (core
#' and inner margin) and `all` (the whole window).
#'
#' **Zero counts.** Both types share the compartment's area, so the ratio
#' of densities is the ratio of counts. When the denominator count is 0
#' and the numerator is not, the ratio is `(n_num + 0.5) / (n_den + 0.5)`
#' (the Haldane-Anscombe correction, `pseudocount = 0.5`), so that a
#' compartment with CD8 cells and no Treg gets a large finite ratio that
#' still grows with the CD8 count; `corrected` is `TRUE` there. When both
#' counts are 0 the ratio is `NA` (nothing to compare). `pseudocount = 0`
#' gives `Inf` instead.
#'
#' @inheritParams compartments
#' @param numerator,denominator Cell type(s) counted in the numerator and
#'   the denominator.
#' @param pseudocount Added to both counts when the denominator is 0.
#' @returns An `immunoscape_ratios` data frame: `image`, `compartment`,
#'   `area_mm2`, `n_num`, `n_den`, `density_num`, `density_den`, `ratio`,
#'   `corrected`, `note`.
#' @references
#' Galon J, Mlecnik B, Bindea G, et al. Towards the introduction of the
#' 'Immunoscore' in the classification of malignant tumours. J Pathol.
#' 2014;232(2):199-209.
#'
#' Sato E, Olson SH, Ahn J, et al. Intraepithelial CD8+ tumor-infiltrating
#' lymphocytes and a high CD8+/regulatory T cell ratio are associated with
#' favorable prognosis in ovarian cancer. PNAS. 2005;102(51):18538-18543.
#' @export
#' @examples
#' set.seed(1)
#' df <- data.frame(x = runif(3000, 0, 2000), y = runif(3000, 0, 2000))
#' df$type <- ifelse((df$x - 1000)^2 + (df$y - 1000)^2 < 600^2, "Tumor",
#'                   sample(c("Stroma", "CD8 T", "Treg"), 3000, TRUE,
#'                          prob = c(0.8, 0.15, 0.05)))
#' cells <- spatial_cells(df)
#' compartment_ratios(cells, tumor_regions(cells), margin = 200)
compartment_ratios <- function(cells, regions, numerator = "CD8 T",
                               denominator = "Treg", margin = 500, ...,
                               pseudocount = 0.5,
                               nthreads = immunoscape_threads(),
                               BPPARAM = NULL) {
    check_dots(...)
    cells <- check_cells(cells)
    regions <- check_regions(regions, cells)
    numerator <- check_types(cells, numerator)
    denominator <- check_types(cells, denominator)
    check_margin(margin)
    check_nonneg(pseudocount)
    nthreads <- check_nthreads(nthreads)
    groups <- c(stats::setNames(as.list(compartment_levels),
                                compartment_levels),
                list(margin = c("inner_margin", "outer_margin"),
                     tumor = c("core", "inner_margin"),
                     all = compartment_levels))
    cc <- compartment_counts(cells, regions, list(numerator, denominator),
                             margin, groups, nthreads, BPPARAM)
    out <- data.frame(image = cc$image, compartment = cc$compartment,
                      area_mm2 = cc$area_mm2, n_num = cc$n1, n_den = cc$n2)
    # no region: no compartments, so no counts; a window without area
    # (cells on a line) still has counts and ratios, not densities
    bad <- cc$.no_region
    out$n_num[bad] <- NA_integer_
    out$n_den[bad] <- NA_integer_
    pos <- !bad & !is.na(out$area_mm2) & out$area_mm2 > 0
    out$density_num <- ifelse(pos, out$n_num / out$area_mm2, NA_real_)
    out$density_den <- ifelse(pos, out$n_den / out$area_mm2, NA_real_)
    out$corrected <- !bad & out$n_den == 0 & out$n_num > 0
    out$ratio <- ifelse(out$corrected,
                        (out$n_num + pseudocount) / (out$n_den + pseudocount),
                        ifelse(!bad & out$n_den > 0, out$n_num / out$n_den,
                               NA_real_))
    out <- out[c("image", "compartment", "area_mm2", "n_num", "n_den",
                 "density_num", "density_den", "ratio", "corrected")]
    notes <- attr(cc, "notes")
    out$note <- notes$note[match(as.character(out$image), notes$image)]
    rownames(out) <- NULL
    out <- carry_groups(out, cells)
    structure(out,
              class = c("immunoscape_ratios", "immunoscape_result",
                        "data.frame"),
              numerator = numerator, denominator = denominator,
              margin = margin, pseudocount = pseudocount)
}

#' @export
print.immunoscape_ratios <- function(x, ...) {
    cat(sprintf("<immunoscape_ratios> %s / %s by compartment (margin %g \u00b5m; denominator 0: +%g to both counts)\n",
                paste(attr(x, "numerator"), collapse = " + "),
                paste(attr(x, "denominator"), collapse = " + "),
                attr(x, "margin"), attr(x, "pseudocount")))
    print(as.data.frame(x), row.names = FALSE, digits = 4)
    invisible(x)
}

#' @rdname compartment_ratios
#' @param object An `immunoscape_ratios` object.
#' @param images For `autoplot()`: images to draw (names or positions);
#'   `NULL` (default) for all.
#' @details `autoplot()` draws, on a log scale, the ratio in each
#'   compartment: a stick from 1 for one image; for several, one point per image
#'   (hollow where the zero-count rule applied) over a box plot of the
#'   images. A ratio of 0 (no numerator cell, some denominator cells) is a
#'   value, which a log scale cannot place: it is drawn as a cross at the
#'   bottom, at half the smallest of 1 and the other ratios drawn (the
#'   caption gives the value), and counts in the boxes as the smallest
#'   value. Compartments where the ratio is `NA` (no
#'   cell of either type) or `Inf` (no denominator cell with
#'   `pseudocount = 0`) are left out, and counted in the caption.
#' @export
autoplot.immunoscape_ratios <- function(object, images = NULL, ...) {
    check_dots(...)
    df <- as.data.frame(object)
    keep <- select_images(unique(as.character(df$image)), images)
    df <- df[as.character(df$image) %in% keep, , drop = FALSE]
    area <- !is.na(df$area_mm2) & df$area_mm2 > 0
    n_na <- sum(is.na(df$ratio) & area)
    n_inf <- sum(is.infinite(df$ratio))
    df <- df[is.finite(df$ratio), , drop = FALSE]
    check_plot_rows(df, "ratios")
    num <- paste(attr(object, "numerator"), collapse = "+")
    den <- paste(attr(object, "denominator"), collapse = "+")
    # zeros at a floor below every other ratio (and below 1, the line of
    # equal counts): order kept, so the boxes count them as the smallest
    is_zero <- df$ratio == 0
    bottom <- min(c(df$ratio[!is_zero], 1)) / 2
    df$ratio[is_zero] <- bottom
    lv <- unique(as.character(object$compartment))
    df$compartment <- factor(gsub("_", " ", as.character(df$compartment)),
                             levels = gsub("_", " ", lv))
    df$corrected <- factor(ifelse(is_zero, "zero numerator",
                                  ifelse(df$corrected, "zero denominator",
                                         "counts")),
                           levels = c("counts", "zero denominator",
                                      "zero numerator"))
    ylab <- sprintf("%s / %s (log scale)", num, den)
    nimg <- length(unique(df$image))
    s <- function(n) if (n == 1L) "" else "s"
    caption <- c(
        if (any(is_zero)) sprintf(
            "ratio 0 (no %s cell) drawn at 0, the bottom of the axis, below every other ratio",
            num),
        if (n_na) sprintf(
            "%d image compartment%s without a cell of either type (ratio NA) left out",
            n_na, s(n_na)),
        if (n_inf) sprintf(
            "%d image compartment%s without a %s cell (ratio Inf: pseudocount 0) left out",
            n_inf, s(n_inf), den))
    caption <- if (length(caption)) paste(caption, collapse = "\n")
    shapes <- c(counts = 16, `zero denominator` = 1, `zero numerator` = 4)
    labels <- c(counts = "counts",
                `zero denominator` = sprintf("zero denominator (+%g)",
                                             attr(object, "pseudocount")),
                `zero numerator` = "0 (drawn at the bottom)")
    if (nimg == 1L) {
        # a stick from 1 (equal counts) to the ratio: up or down on the
        # log scale
        p <- ggplot2::ggplot(df, ggplot2::aes(.data$compartment,
                                              .data$ratio)) +
            ggplot2::geom_segment(ggplot2::aes(xend = .data$compartment,
                                               y = 1, yend = .data$ratio),
                                  colour = "grey45", linewidth = 0.8) +
            ggplot2::geom_point(ggplot2::aes(shape = .data$corrected),
                                size = 3, colour = "#2B6CC4") +
            ggplot2::scale_shape_manual(values = shapes, labels = labels,
                                        drop = TRUE) +
            ggplot2::labs(subtitle = as.character(df$image[1]))
    } else {
        p <- ggplot2::ggplot(df, ggplot2::aes(.data$compartment,
                                              .data$ratio)) +
            ggplot2::geom_boxplot(outlier.shape = NA, fill = "grey92",
                                  colour = "grey45", width = 0.6) +
            ggplot2::geom_point(
                ggplot2::aes(shape = .data$corrected),
                position = ggplot2::position_jitter(width = 0.18, height = 0,
                                                    seed = 1),
                size = if (nimg > 100L) 0.9 else 1.5,
                alpha = if (nimg > 100L) 0.5 else 0.8,
                colour = "#2B6CC4") +
            ggplot2::scale_shape_manual(
                values = shapes, labels = labels, drop = TRUE,
                guide = ggplot2::guide_legend(override.aes = list(
                    size = 2.5, alpha = 1))) +
            ggplot2::labs(subtitle = sprintf("%d images, one point each",
                                             nimg))
    }
    # powers of ten over the range; a zero floor is labelled 0 on the axis
    top <- max(df$ratio)
    low <- if (any(is_zero)) bottom * 2 else min(df$ratio)
    br <- 10^seq(ceiling(log10(low)), floor(log10(top)))
    if (length(br) < 2L) br <- sort(unique(signif(c(low, 1, top), 1)))
    lab <- format(br, scientific = FALSE, drop0trailing = TRUE, trim = TRUE)
    if (any(is_zero)) {
        br <- c(bottom, br)
        lab <- c("0", lab)
    }
    p + ggplot2::geom_hline(yintercept = 1, colour = "grey40",
                            linetype = "dashed") +
        ggplot2::scale_y_log10(breaks = br, labels = lab) +
        ggplot2::labs(x = NULL, y = ylab, fill = NULL, shape = NULL,
                      caption = caption, title = "Ratio by compartment") +
        result_theme() + rotate_x()
}
