# Brute-force oracles for neighbourhoods, interactions and hotspots: full
# distance matrices on small images, obviously correct and slow.

bf_d2 <- function(x, y) outer(x, x, "-")^2 + outer(y, y, "-")^2

# Neighbour lists (1-based, self excluded): k nearest with ties by index,
# k nearest with every cell tied with the k-th, or within radius.
bf_neighbors <- function(x, y, k = NULL, radius = NULL, ties = FALSE) {
    n <- length(x)
    d2 <- bf_d2(x, y)
    lapply(seq_len(n), function(i) {
        j <- setdiff(seq_len(n), i)
        d <- d2[i, j]
        if (!is.null(radius)) return(j[sqrt(d) <= radius])
        o <- order(d, j)
        kk <- min(k, length(j))
        if (kk == 0) return(integer())
        if (!ties) return(j[o[seq_len(kk)]])
        j[d <= d[o[kk]]]
    })
}

# Window counts (cells x levels): the cell and its k - 1 nearest others,
# or the cell and the others within radius.
bf_window_counts <- function(x, y, type, levels, k = NULL, radius = NULL) {
    nb <- bf_neighbors(x, y, k = if (!is.null(k)) k - 1L, radius = radius)
    t(vapply(seq_along(x), function(i) {
        as.integer(table(factor(type[c(i, nb[[i]])], levels = levels)))
    }, integer(length(levels))))
}

# Statistic matrix (from x to) of interaction_test for one labelling.
bf_interaction <- function(x, y, type, levels, radius, method,
                           patch_size = 3L) {
    nb <- bf_neighbors(x, y, radius = radius)
    cnt <- t(vapply(nb, function(j) {
        as.integer(table(factor(type[j], levels = levels)))
    }, integer(length(levels))))
    cnt <- matrix(cnt, ncol = length(levels))
    nl <- length(levels)
    out <- matrix(NA_real_, nl, nl, dimnames = list(levels, levels))
    for (a in seq_len(nl)) {
        ia <- which(type == levels[a])
        for (b in seq_len(nl)) {
            cb <- cnt[ia, b]
            out[a, b] <- switch(method,
                classic = sum(cb) / length(ia),
                histocat = if (any(cb > 0)) sum(cb) / sum(cb > 0) else 0,
                patch = sum(cb >= patch_size) / length(ia))
        }
    }
    out
}

# Global colocation quotient matrix; the sum over cells runs in `order`
# with plain double additions, as the C code does, so results are equal.
bf_clq <- function(x, y, type, levels, k = NULL, radius = NULL,
                   order = seq_along(x)) {
    nb <- bf_neighbors(x, y, k = k, radius = radius, ties = is.null(radius))
    n <- length(x)
    nl <- length(levels)
    ntype <- as.integer(table(factor(type, levels = levels)))
    wsum <- matrix(0, nl, nl)
    nconn <- integer(nl)
    for (i in order) {
        j <- nb[[i]]
        if (!length(j)) next
        a <- match(type[i], levels)
        nconn[a] <- nconn[a] + 1L
        cnt <- as.integer(table(factor(type[j], levels = levels)))
        inv <- 1 / length(j)
        for (b in which(cnt > 0)) wsum[a, b] <- wsum[a, b] + cnt[b] * inv
    }
    out <- matrix(NA_real_, nl, nl, dimnames = list(levels, levels))
    for (a in seq_len(nl)) for (b in seq_len(nl)) {
        nbb <- ntype[b] - (a == b)
        if (nconn[a] > 0 && nbb > 0) {
            out[a, b] <- (wsum[a, b] / nconn[a]) / (nbb / (n - 1))
        }
    }
    out
}

# Local CLQ of every cell towards every level (cells x levels).
bf_local_clq <- function(x, y, type, levels, k = NULL, radius = NULL) {
    nb <- bf_neighbors(x, y, k = k, radius = radius, ties = is.null(radius))
    n <- length(x)
    ntype <- as.integer(table(factor(type, levels = levels)))
    t(vapply(seq_len(n), function(i) {
        j <- nb[[i]]
        nbb <- ntype - (levels == type[i])
        if (!length(j)) return(rep(NA_real_, length(levels)))
        f <- as.integer(table(factor(type[j], levels = levels))) / length(j)
        v <- f / (nbb / (n - 1))
        v[nbb <= 0] <- NA
        v
    }, numeric(length(levels))))
}

# Keren mixing score counts: reference-target and reference-reference
# pairs within radius, each unordered pair once.
bf_mixing <- function(x, y, type, reference, target, radius) {
    d <- sqrt(bf_d2(x, y))
    close <- d <= radius
    diag(close) <- FALSE
    r <- type %in% reference
    t <- type %in% target
    c(rt = sum(close[r, t]), rr = sum(close[r, r]) / 2)
}

# Getis-Ord Gi* (binary weights, self included) on a full grid of values
# given as a matrix, for the squares where `keep` is TRUE.
bf_gi_star <- function(v, keep, order = 1L) {
    idx <- which(keep, arr.ind = TRUE)
    x <- v[keep]
    n <- length(x)
    xbar <- mean(x)
    s <- sqrt(mean(x^2) - xbar^2)
    vapply(seq_len(n), function(i) {
        near <- abs(idx[, 1] - idx[i, 1]) <= order &
            abs(idx[, 2] - idx[i, 2]) <= order
        w <- sum(near)
        (sum(x[near]) - xbar * w) / (s * sqrt((n * w - w^2) / (n - 1)))
    }, numeric(1))
}

# Adjusted Rand index of two labelings (Hubert & Arabie 1985).
ari <- function(a, b) {
    tab <- table(a, b)
    comb2 <- function(m) sum(m * (m - 1) / 2)
    n <- sum(tab)
    sij <- comb2(tab)
    sa <- comb2(rowSums(tab))
    sb <- comb2(colSums(tab))
    expected <- sa * sb / (n * (n - 1) / 2)
    (sij - expected) / ((sa + sb) / 2 - expected)
}

# An image of three planted regions (vertical bands) with distinct type
# compositions; `shift` moves the bands so images differ in layout.
planted_regions <- function(n = 1500, side = 600, shift = 0,
                            image = "img") {
    x <- runif(n, 0, side)
    y <- runif(n, 0, side)
    region <- ((floor((x + shift) / (side / 3))) %% 3) + 1L
    comp <- list(c(Tumor = 0.85, `CD8 T` = 0.05, Macrophage = 0.1),
                 c(`B cell` = 0.6, `CD4 T` = 0.3, `CD8 T` = 0.1),
                 c(Macrophage = 0.6, Stroma = 0.4))
    type <- vapply(region, function(r) {
        sample(names(comp[[r]]), 1, prob = comp[[r]])
    }, character(1))
    data.frame(x = x, y = y, type = type, region = region, image = image)
}

# Uniform random labels on a uniform random pattern: the null hypothesis.
null_image <- function(n, side, types, image) {
    data.frame(x = runif(n, 0, side), y = runif(n, 0, side),
               type = sample(types, n, TRUE), image = image)
}

# Observed statistic (from x to matrix) of an interaction_test or CLQ result.
obs_matrix <- function(res, lv) {
    d <- as.data.frame(res)
    m <- matrix(NA_real_, length(lv), length(lv), dimnames = list(lv, lv))
    col <- if ("clq" %in% names(d)) "clq" else "observed"
    m[cbind(as.character(d$from), as.character(d$to))] <- d[[col]]
    m
}

# Cells packed on a hexagonal lattice (spacing s microns, jittered by up to
# `jitter`): touching cells are lattice neighbours, s apart; the next ring
# is s * sqrt(3) away. Columns i, j (lattice indices), x, y.
hex_cells <- function(nx, ny, s = 8, jitter = 0.5) {
    g <- expand.grid(i = seq_len(nx) - 1L, j = seq_len(ny) - 1L)
    g$x <- s * (g$i + 0.5 * (g$j %% 2)) + stats::runif(nrow(g), -jitter,
                                                       jitter)
    g$y <- s * sqrt(3) / 2 * g$j + stats::runif(nrow(g), -jitter, jitter)
    g
}

# Touching pairs of a hex_cells() lattice from the lattice indices alone
# (no distances): each unordered pair once, as row numbers.
hex_touching_pairs <- function(g) {
    key <- paste(g$i, g$j)
    odd <- g$j %% 2 == 1
    # right neighbour in the row, and the two neighbours in the row above
    di <- list(list(1, 0), list(ifelse(odd, 0, -1), 1),
               list(ifelse(odd, 1, 0), 1))
    do.call(rbind, lapply(di, function(d) {
        k <- match(paste(g$i + d[[1]], g$j + d[[2]]), key)
        ok <- !is.na(k)
        cbind(which(ok), k[ok])
    }))
}

# Statistics of imcRtools::countInteractions() written from its published
# definitions, on a directed edge list (from, to: row numbers; one row per
# "to is a neighbour of from"), as colPair() stores a spatial graph. For
# each cell of type A, n_i(B) = number of its edges to B cells; then
#   classic:  sum_i n_i(B) / #A cells
#   histocat: sum_i n_i(B) / #{A cells with n_i(B) > 0}  (0 when none)
#   patch:    #{A cells with n_i(B) >= patch_size} / #A cells
imc_statistics <- function(from, to, type, levels, method, patch_size = 3L) {
    type <- factor(type, levels = levels)
    n <- length(type)
    nl <- length(levels)
    out <- matrix(NA_real_, nl, nl, dimnames = list(levels, levels))
    # n_i(B) for every cell i and type B, from the edge list
    nib <- matrix(0L, n, nl)
    for (e in seq_along(from)) {
        b <- as.integer(type[to[e]])
        nib[from[e], b] <- nib[from[e], b] + 1L
    }
    for (a in seq_len(nl)) {
        cells_a <- which(as.integer(type) == a)
        if (!length(cells_a)) next
        for (b in seq_len(nl)) {
            if (!any(as.integer(type) == b)) next
            v <- nib[cells_a, b]
            out[a, b] <- switch(method,
                classic = sum(v) / length(cells_a),
                histocat = if (any(v > 0)) sum(v) / sum(v > 0) else 0,
                patch = sum(v >= patch_size) / length(cells_a))
        }
    }
    out
}

# Directed kNN edge list from the full distance matrix: each cell to its k
# nearest other cells, ties by row order.
bf_knn_edges <- function(x, y, k) {
    d2 <- bf_d2(x, y)
    n <- length(x)
    to <- lapply(seq_len(n), function(i) {
        j <- setdiff(seq_len(n), i)
        j[order(d2[i, j], j)][seq_len(min(k, n - 1L))]
    })
    list(from = rep(seq_len(n), lengths(to)), to = unlist(to))
}
