# Oracles and fixtures for detect_tls().

# Connected components of the graph "distance <= link", by breadth-first
# search over the full distance matrix; labels numbered by first point.
bf_components <- function(x, y, link) {
    n <- length(x)
    if (!n) return(integer())
    adj <- as.matrix(stats::dist(cbind(x, y))) <= link
    comp <- integer(n)
    k <- 0L
    for (i in seq_len(n)) {
        if (comp[i]) next
        k <- k + 1L
        comp[i] <- k
        queue <- i
        while (length(queue)) {
            j <- queue[1]
            queue <- queue[-1]
            nb <- which(adj[j, ] & comp == 0L)
            comp[nb] <- k
            queue <- c(queue, nb)
        }
    }
    comp
}

# Per group g of seeds (bx, by): points (tx, ty) within r of a seed.
bf_near_counts <- function(bx, by, g, tx, ty, r, ngroup) {
    vapply(seq_len(ngroup), function(k) {
        i <- which(g == k)
        hit <- vapply(seq_along(tx), function(t) {
            any(sqrt((bx[i] - tx[t])^2 + (by[i] - ty[t])^2) <= r)
        }, logical(1))
        sum(hit)
    }, integer(1))
}

# Per point (tx, ty): the smallest group with a seed within r (0: none).
bf_near_group <- function(bx, by, g, tx, ty, r) {
    vapply(seq_along(tx), function(t) {
        d <- sqrt((bx - tx[t])^2 + (by - ty[t])^2)
        if (any(d <= r)) min(g[d <= r]) else 0L
    }, integer(1))
}

# Even-odd point in polygon over all rings (x, y split by ring key).
bf_inside <- function(px, py, vx, vy, key) {
    inside <- logical(length(px))
    for (r in split(seq_along(vx), factor(key, unique(key)))) {
        xr <- vx[r]
        yr <- vy[r]
        j <- c(length(r), seq_len(length(r) - 1L))
        for (p in seq_along(px)) {
            cross <- ((yr > py[p]) != (yr[j] > py[p])) &
                (px[p] < (xr[j] - xr) * (py[p] - yr) / (yr[j] - yr) + xr)
            if (sum(cross) %% 2L == 1L) inside[p] <- !inside[p]
        }
    }
    inside
}

# A disc of cells of one type around (cx, cy), radii r0..r1.
tls_ring <- function(n, cx, cy, r0, r1, type) {
    a <- runif(n, 0, 2 * pi)
    r <- sqrt(runif(n, r0^2, r1^2))
    data.frame(x = cx + r * cos(a), y = cy + r * sin(a), type = type)
}

# Tumour background with scattered B and T cells, and TLS at (cx, cy):
# a B follicle (radius 60) with an optional centre of "GC B" and "FDC"
# cells and a ring of T cells (60 to 100 microns).
tls_fixture <- function(centres = list(c(300, 300)), gc = FALSE,
                        fdc = FALSE, side = 1000, n_bg = 3000,
                        image = "img") {
    bg <- data.frame(x = runif(n_bg, 0, side), y = runif(n_bg, 0, side),
                     type = sample(c("Tumor", "CD8 T", "B"), n_bg, TRUE,
                                   c(0.9, 0.07, 0.03)))
    parts <- list(bg)
    for (ct in centres) {
        parts <- c(parts, list(
            tls_ring(150, ct[1], ct[2], 0, 60, "B"),
            tls_ring(150, ct[1], ct[2], 60, 100, "CD4 T")
        ))
        if (gc) parts <- c(parts, list(tls_ring(30, ct[1], ct[2], 0, 25,
                                                "GC B")))
        if (fdc) parts <- c(parts, list(tls_ring(10, ct[1], ct[2], 0, 40,
                                                 "FDC")))
    }
    df <- do.call(rbind, parts)
    df$image <- image
    df
}

# Reference outlines of the true TLS of a simulate_tme() result: the
# closing of the true member cells (their lattice spacing is at most
# about 17 um, so link 20 joins them), grown by 8 um (half a spacing).
sim_tls_reference <- function(sim) {
    tm <- as.data.frame(sim)
    tm <- tm[!is.na(tm$true_tls_id), ]
    if (!nrow(tm)) return(data.frame(image = character(), tls_id = integer(),
                                     x = double(), y = double()))
    parts <- split(tm, list(tm$image, tm$true_tls_id), drop = TRUE)
    do.call(rbind, lapply(parts, function(d) {
        w <- immunoscape:::tls_outline(d$x, d$y, 20, 8, 1L)
        w$image <- rep(as.character(d$image[1]), nrow(w))
        w$tls_id <- rep(d$true_tls_id[1], nrow(w))
        w
    }))
}

# Detection against the truth: precision, recall (Jaccard >= 0.5), and
# the fractions of matched TLS with the right maturity and location.
sim_tls_scores <- function(res, sim) {
    truth <- attr(sim, "tls_truth")
    a <- tls_agreement(res, sim_tls_reference(sim))
    m <- a[!is.na(a$tls_id) & !is.na(a$ref_id), ]
    d <- res$tls[match(paste(m$image, m$tls_id),
                       paste(res$tls$image, res$tls$tls_id)), ]
    t <- truth[match(paste(m$image, m$ref_id),
                     paste(truth$image, truth$tls_id)), ]
    list(precision = attr(a, "precision"), recall = attr(a, "recall"),
         jaccard = m$jaccard, n_true = nrow(truth), n_found = nrow(res$tls),
         maturity = mean(as.character(d$maturity) ==
                             as.character(t$maturity)),
         location = mean(as.character(d$location) ==
                             as.character(t$location)))
}

# detect_tls() of one TLS at (250, 250) and a circle reference of two TLS
# (ids `ids`): the matching one and one at (700, 700) with no match.
agreement_case <- function(ids) {
    set.seed(21)
    res <- detect_tls(spatial_cells(tls_fixture(list(c(250, 250))),
                                    image = "image"))
    ref <- data.frame(image = "img", tls_id = ids, x = c(250, 700),
                      y = c(250, 700), radius = c(110, 60))
    list(res = res, ref = ref)
}
