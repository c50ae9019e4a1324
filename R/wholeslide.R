# Whole-slide mode of spatial_profile(): the random-labelling null of the
# K/L area summaries and of the "classic" interaction z from the exact
# mean and variance of a pair sum under random labelling (one pass over
# the pairs of all cells), instead of nsim / nperm relabellings. Used for
# images with more than `whole_slide` cells (default 1e6); smaller images
# take the simulation path unchanged.
#
# A statistic of cells of types A and B,
#     S = sum over ordered pairs i != j of w_ij a_i b_j,
# (a_i = 1 if cell i is an A cell, b_j = 1 if j is a B cell, w_ij >= 0 a
# pair weight: the isotropic edge correction about i times 1{d_ij <= r}
# for K, 1{d_ij <= radius} for the interaction count), under random
# labelling (the nA A and nB B labels dealt at random to the n cells)
# has mean p2 S0 and a variance from five label-free sums of the weights
# (see null_pair_moments()): the second moments of join-count statistics
# of Cliff & Ord (1981), here for weights that need not be symmetric and
# for two disjoint types.

# Whether an image takes the whole-slide path.
ws_active <- function(cells, ctx) {
    isTRUE(nrow(cells) > ctx$whole_slide)
}

# Per image: its cells, whether it takes the whole-slide path and the null
# used by the groups that have one (the `whole_slide` attribute of a
# profile); announces the whole-slide mode once.
ws_table <- function(cells, features, ctx) {
    n <- tabulate(cells$image, nlevels(cells$image))
    keep <- n > 0L
    big <- n[keep] > ctx$whole_slide
    out <- data.frame(image = factor(levels(cells$image)[keep],
                                     levels = levels(cells$image)),
                      n_cells = n[keep], whole_slide = big)
    sim <- c(kfunctions = sprintf("%d relabellings", ctx$nsim),
             interactions = sprintf("%d permutations", ctx$nperm))
    used <- intersect(names(sim), names(features))
    for (g in used) {
        out[[g]] <- ifelse(big, "exact moments", sim[[g]])
    }
    if (any(big) && length(used)) {
        inform_immunoscape(c(
            "i" = "Whole-slide mode for {sum(big)} image{?s} with more than {format(ctx$whole_slide, big.mark = ',', scientific = FALSE)} cells: {.val {used}} use{?s/} the exact random-labelling moments instead of relabellings.",
            " " = "Set {.code whole_slide = Inf} to simulate anyway; see {.help spatial_profile}."
        ))
    }
    out
}

# Distance of each `from` cell of one image to the nearest cell of any `to`
# type (NA without such cells): the numbers of nearest_to_any(), from a
# k-d tree (src/wholeslide.c) whose cost does not grow with the distance;
# queries sorted along a grid of about 16 targets per cell so that each
# answer bounds the next query.
ws_nearest <- function(sub, from, to, nthreads = 1L) {
    fi <- which(type_in(sub, from))
    ti <- which(type_in(sub, to))
    if (!length(fi) || !length(ti)) return(rep(NA_real_, length(fi)))
    x <- sub$x[fi]
    y <- sub$y[fi]
    h <- sqrt(16 * diff(range(sub$x)) * diff(range(sub$y)) / length(ti))
    if (!is.finite(h) || h <= 0) h <- 1
    cx <- floor((x - min(x)) / h)
    cy <- floor((y - min(y)) / h)
    # rows in alternating directions, a snake through the grid
    ord <- order(cy, ifelse(cy %% 2 == 0, cx, -cx), method = "radix")
    d <- .Call(ffi_ws_nearest, x[ord], y[ord], fi[ord],
               as.double(sub$x[ti]), as.double(sub$y[ti]), ti,
               as.integer(nthreads))
    d[ord] <- d
    d
}

# Label-free pair sums of one image's cells (cells outside the window left
# out, as by ripley_k()) on the grid r, with the isotropic correction or
# none: list(S0, Q1, Q1T, RR, CC, RC (vectors over r), T (array r x type x
# type of observed pair sums), n, count (cells per type level), area,
# diameter).
label_moments <- function(cells, r, correction = c("isotropic", "none"),
                          nthreads = 1L) {
    correction <- match.arg(correction)
    image <- as.character(cells$image[1])
    win <- kf_window_spec(attr(cells, "windows"), image)
    x <- cells$x
    y <- cells$y
    codes <- as.integer(cells$type)
    b <- win$bounds
    tol <- 1e-9 * max(abs(b), 1)
    if (!(win$rect && .Call(ffi_window_fits, x, y, as.double(b), tol))) {
        inside <- kf_inside(win, x, y, tol)
        x <- x[inside]
        y <- y[inside]
        codes <- codes[inside]
    }
    nt <- nlevels(cells$type)
    par <- list(corr = correction, fun = "K", self = TRUE)
    res <- .Call(ffi_kfun_moments, as.double(x), as.double(y), codes - 1L,
                 nt, win$c, as.double(r), kf_opts(par, 0), as.integer(nthreads))
    names(res) <- c("S0", "Q1", "Q1T", "RR", "CC", "RC", "T")
    # C column a * nt + b (from a, to b) -> T[, from, to]
    res$T <- aperm(array(res$T, c(length(r), nt, nt)), c(1L, 3L, 2L))
    dimnames(res$T) <- list(NULL, levels(cells$type), levels(cells$type))
    res$n <- length(x)
    res$count <- stats::setNames(tabulate(codes, nt), levels(cells$type))
    res$area <- win$area
    res$diameter <- win$diameter
    res
}

# Mean and variance of S = sum_{i != j} w_ij a_i b_j under random labelling
# with nA A cells and nB B cells (disjoint types) among n cells, from the
# label-free sums of label_moments() (vectors over r):
#   S0 = sum w_ij, Q1 = sum w_ij^2, Q1T = sum w_ij w_ji,
#   RR = sum_i R_i^2, CC = sum_j C_j^2, RC = sum_i R_i C_i
# (R_i, C_i: row and column sums of w). Expanding E[S^2] over pairs of
# pairs by how they share cells: (i, j) twice has probability p2; the same
# A cell with two B cells p3a; two A cells with the same B cell p3b; four
# distinct cells p4; a cell that would be both A and B has probability 0.
# The variance E[S^2] - (p2 S0)^2 is written with p4 - p2^2 in closed form
# so that no two large terms cancel.
null_pair_moments <- function(m, nA, nB, n) {
    if (n < 4 || nA < 1 || nB < 1) {
        na <- rep(NA_real_, length(m$S0))
        return(list(mean = na, var = na))
    }
    n <- as.double(n)
    nA <- as.double(nA)
    nB <- as.double(nB)
    p2 <- nA * nB / (n * (n - 1))
    p3a <- p2 * (nB - 1) / (n - 2)
    p3b <- p2 * (nA - 1) / (n - 2)
    p4 <- p2 * (nA - 1) * (nB - 1) / ((n - 2) * (n - 3))
    d42 <- p2 * (nA * nB * (4 * n - 6) - (nA + nB - 1) * n * (n - 1)) /
        (n * (n - 1) * (n - 2) * (n - 3))
    q2 <- m$RR - m$Q1
    q3 <- m$CC - m$Q1
    q5 <- m$RC - m$Q1T
    v <- (p2 - p4) * m$Q1 + (p3a - p4) * q2 + (p3b - p4) * q3 -
        p4 * (m$Q1T + 2 * q5) + d42 * m$S0^2
    list(mean = p2 * m$S0, var = pmax(v, 0))
}

# Cross-type L of A -> B against its random-labelling null from exact
# moments: the observed L, the null mean of L (second-order delta method
# from the exact mean and variance of K) and the null sd of L (first
# order); NA where the isotropic correction is (r >= half the diameter).
ws_l_null <- function(m, from, to, r) {
    nA <- as.double(m$count[[from]])
    nB <- as.double(m$count[[to]])
    mom <- null_pair_moments(m, nA, nB, m$n)
    f <- m$area / (nA * nB)
    k_obs <- f * m$T[, from, to]
    mu <- f * mom$mean
    vk <- f^2 * mom$var
    l_obs <- sqrt(pmax(k_obs, 0) / pi)
    pos <- !is.na(mu) & mu > 0
    l_mean <- ifelse(pos, sqrt(pmax(mu, 0) / pi) -
                         vk / (8 * sqrt(pi) * pmax(mu, 1e-300)^1.5), 0)
    l_sd <- ifelse(pos, sqrt(vk) / (2 * sqrt(pi * pmax(mu, 1e-300))), 0)
    bad <- r >= m$diameter / 2 | is.na(mu)
    l_obs[bad] <- l_mean[bad] <- l_sd[bad] <- NA
    list(estimate = l_obs, mmean = l_mean, sd = l_sd)
}

# The whole-slide `kfunctions` group: same columns as profile_kfunctions().
# l_area: integral over r of L minus its exact null mean; l_outside:
# fraction of r where |L - mean| > q sd with q = qnorm(1 - 1 / (nsim + 1)),
# the normal counterpart of leaving the pointwise envelope of nsim
# relabellings (probability 2 / (nsim + 1) under the null).
profile_kfunctions_ws <- function(cells, ctx) {
    np <- nrow(ctx$pairs)
    area <- rep(NA_real_, np)
    outside <- rep(NA_real_, np)
    q <- stats::qnorm(1 - 1 / (ctx$nsim + 1))
    m <- NULL
    for (k in seq_len(np)) {
        a <- ctx$pairs$from[k]
        b <- ctx$pairs$to[k]
        if (length(present_types(cells, c(a, b))) < 2L) next
        if (is.null(m)) {
            m <- label_moments(cells, ctx$r, "isotropic", ctx$nthreads)
        }
        l <- ws_l_null(m, a, b, ctx$r)
        area[k] <- kf_trapz(ctx$r, l$estimate - l$mmean)
        ok <- !is.na(l$estimate) & !is.na(l$mmean)
        if (any(ok)) {
            dev <- abs(l$estimate - l$mmean)[ok]
            outside[k] <- mean(dev > q * l$sd[ok])
        }
    }
    a_nm <- pair_names(ctx, "l_area_")
    o_nm <- pair_names(ctx, "l_outside_")
    df <- as.data.frame(as.list(c(stats::setNames(area, a_nm),
                                  stats::setNames(outside, o_nm))))
    with_note(df, "whole slide: L null from exact random-labelling moments",
              stats::setNames(rep("weighted:area_mm2", 2L * np),
                              c(a_nm, o_nm)))
}

# Classic interaction statistics of every ordered pair of `types` with
# the exact random-labelling mean and sd (whole slides): data frame from,
# to, observed (mean number of B cells within radius of an A cell), mean,
# sd, z.
interaction_moments <- function(cells, radius, types, nthreads = 1L) {
    m <- label_moments(cells, c(0, radius), "none", nthreads)
    g <- expand.grid(to = types, from = types, stringsAsFactors = FALSE)
    g <- g[g$from != g$to, c("from", "to")]
    one <- lapply(seq_len(nrow(g)), function(k) {
        a <- g$from[k]
        b <- g$to[k]
        nA <- as.double(m$count[[a]])
        mom <- null_pair_moments(lapply(m[c("S0", "Q1", "Q1T", "RR", "CC",
                                            "RC")], `[`, 2L),
                                 nA, m$count[[b]], m$n)
        obs <- m$T[2L, a, b] / nA
        mu <- mom$mean / nA
        s <- sqrt(mom$var) / nA
        c(obs, mu, s, if (isTRUE(s > 0)) (obs - mu) / s else NA_real_)
    })
    v <- matrix(unlist(one), ncol = 4L, byrow = TRUE)
    data.frame(from = g$from, to = g$to, observed = v[, 1], mean = v[, 2],
               sd = v[, 3], z = v[, 4])
}

# The whole-slide `interactions` group: same columns as
# profile_interactions(), z from the exact moments.
profile_interactions_ws <- function(cells, ctx) {
    z <- rep(NA_real_, nrow(ctx$pairs))
    ty <- present_types(cells, unique(c(ctx$pairs$from, ctx$pairs$to)))
    if (length(ty) > 1L && nrow(ctx$pairs)) {
        it <- interaction_moments(cells, ctx$radius, ty, ctx$nthreads)
        z <- it$z[match(paste(ctx$pairs$from, ctx$pairs$to, sep = "\r"),
                        paste(it$from, it$to, sep = "\r"))]
    }
    nm <- pair_names(ctx, "z_")
    df <- as.data.frame(as.list(stats::setNames(z, nm)))
    with_note(df,
              "whole slide: z from exact random-labelling moments",
              stats::setNames(rep("mean", length(nm)), nm))
}
