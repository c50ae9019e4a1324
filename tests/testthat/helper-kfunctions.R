# Brute-force oracles and stored reference values for the point-pattern
# statistics (test-kfunctions.R). Windows are lists of rings
# list(list(x, y), ...): outer rings counter-clockwise, holes clockwise.

kfo_rect <- function(xmin, xmax, ymin, ymax) {
    list(list(x = c(xmin, xmax, xmax, xmin), y = c(ymin, ymin, ymax, ymax)))
}

# The window as the vertex data frame spatial_cells() takes.
kfo_window_df <- function(rings) {
    do.call(rbind, lapply(seq_along(rings), function(k) {
        rg <- rings[[k]]
        a <- kfo_ring_area(rg)
        data.frame(polygon = 1L, ring = k, hole = a < 0, x = rg$x, y = rg$y)
    }))
}

kfo_ring_area <- function(rg) {
    n <- length(rg$x)
    j <- c(2:n, 1L)
    sum(rg$x * rg$y[j] - rg$x[j] * rg$y) / 2
}

kfo_area <- function(rings) sum(vapply(rings, kfo_ring_area, numeric(1)))

kfo_segments <- function(rings) {
    do.call(rbind, lapply(rings, function(rg) {
        n <- length(rg$x)
        j <- c(2:n, 1L)
        cbind(x0 = rg$x, y0 = rg$y, x1 = rg$x[j], y1 = rg$y[j])
    }))
}

# Even-odd rule; points on an edge are inside.
kfo_inside <- function(px, py, rings) {
    s <- kfo_segments(rings)
    vapply(seq_along(px), function(i) {
        x <- px[i]
        y <- py[i]
        on <- any(abs((s[, 3] - s[, 1]) * (y - s[, 2]) -
                          (s[, 4] - s[, 2]) * (x - s[, 1])) < 1e-12 &
                      x >= pmin(s[, 1], s[, 3]) & x <= pmax(s[, 1], s[, 3]) &
                      y >= pmin(s[, 2], s[, 4]) & y <= pmax(s[, 2], s[, 4]))
        if (on) return(TRUE)
        cross <- (s[, 2] > y) != (s[, 4] > y)
        xc <- s[cross, 1] + (y - s[cross, 2]) * (s[cross, 3] - s[cross, 1]) /
            (s[cross, 4] - s[cross, 2])
        sum(x < xc) %% 2 == 1
    }, logical(1))
}

kfo_bdist <- function(px, py, rings) {
    s <- kfo_segments(rings)
    vapply(seq_along(px), function(i) {
        ex <- s[, 3] - s[, 1]
        ey <- s[, 4] - s[, 2]
        t <- ((px[i] - s[, 1]) * ex + (py[i] - s[, 2]) * ey) / (ex^2 + ey^2)
        t <- pmin(pmax(t, 0), 1)
        min(sqrt((s[, 1] + t * ex - px[i])^2 + (s[, 2] + t * ey - py[i])^2))
    }, numeric(1))
}

# Fraction of the circle (x0, y0, d) inside the window: crossings with
# every edge, arcs between them classified by their midpoints.
kfo_circle_frac <- function(x0, y0, d, rings) {
    s <- kfo_segments(rings)
    ang <- numeric()
    for (k in seq_len(nrow(s))) {
        ax <- s[k, 1] - x0
        ay <- s[k, 2] - y0
        ex <- s[k, 3] - s[k, 1]
        ey <- s[k, 4] - s[k, 2]
        A <- ex^2 + ey^2
        B <- 2 * (ax * ex + ay * ey)
        C <- ax^2 + ay^2 - d^2
        disc <- B^2 - 4 * A * C
        if (disc < 0) next
        t <- (-B + c(-1, 1) * sqrt(disc)) / (2 * A)
        t <- t[t >= 0 & t <= 1]
        ang <- c(ang, atan2(ay + t * ey, ax + t * ex) %% (2 * pi))
    }
    if (!length(ang)) {
        return(as.numeric(kfo_inside(x0 + d, y0, rings)))
    }
    ang <- sort(ang)
    a1 <- c(ang[-1], ang[1] + 2 * pi)
    len <- a1 - ang
    mid <- (ang + a1) / 2
    ins <- kfo_inside(x0 + d * cos(mid), y0 + d * sin(mid), rings)
    sum(len[ins & len > 0]) / (2 * pi)
}

kfo_diameter <- function(rings) {
    v <- do.call(rbind, lapply(rings, function(rg) cbind(rg$x, rg$y)))
    max(stats::dist(v))
}

# Ordered pairs (i in from, j in to, i != j) with distances and weights.
kfo_pairs <- function(x, y, from, to, rings, rmax, rect = NULL) {
    pr <- expand.grid(j = to, i = from)
    pr <- pr[pr$i != pr$j, ]
    dx <- x[pr$j] - x[pr$i]
    dy <- y[pr$j] - y[pr$i]
    d <- sqrt(dx^2 + dy^2)
    keep <- d <= rmax
    pr <- pr[keep, ]
    dx <- dx[keep]
    dy <- dy[keep]
    d <- d[keep]
    b <- kfo_bdist(x, y, rings)
    iso <- vapply(seq_along(d), function(k) {
        i <- pr$i[k]
        if (d[k] == 0 || d[k] <= b[i]) return(1)
        f <- kfo_circle_frac(x[i], y[i], d[k], rings)
        min(100, max(1, 1 / f))
    }, numeric(1))
    A <- kfo_area(rings)
    trans <- if (!is.null(rect)) {
        pmin(100, A / ((rect[2] - rect[1] - abs(dx)) *
                           (rect[4] - rect[3] - abs(dy))))
    } else rep(NA_real_, length(d))
    list(i = pr$i, j = pr$j, d = d, iso = iso, trans = trans, b = b)
}

# K by brute force, with the package's conventions (see ?ripley_k).
kfo_k <- function(x, y, from, to, rings, r, correction, rect = NULL) {
    self <- identical(from, to)
    A <- kfo_area(rings)
    nf <- length(from)
    nt <- length(to)
    P <- kfo_pairs(x, y, from, to, rings, max(r), rect)
    npairs <- if (self) nf * (nf - 1) else nf * nt
    rprev <- c(-(r[2] - r[1]), r[-length(r)])
    v <- switch(correction,
        none = vapply(r, function(s) sum(P$d <= s), 0) * A / npairs,
        isotropic = vapply(r, function(s) sum(P$iso[P$d <= s]), 0) * A /
            npairs,
        translate = vapply(r, function(s) sum(P$trans[P$d <= s]), 0) * A /
            npairs,
        border = if (self) {
            vapply(r, function(s) {
                sum(P$d <= s & P$b[P$i] > s) /
                    (nf / A * sum(P$b[from] > s))
            }, 0)
        } else {
            vapply(seq_along(r), function(k) {
                sum(P$d <= r[k] & P$d <= P$b[P$i] &
                        P$b[P$i] >= rprev[k]) /
                    (nt / A * sum(P$b[from] >= rprev[k]))
            }, 0)
        })
    if (correction %in% c("isotropic", "translate")) {
        v[r >= kfo_diameter(rings) / 2] <- NA
    }
    v[!is.finite(v)] <- NA
    v
}

# Pair correlation by brute force: Epanechnikov kernel of half-width h.
kfo_pcf <- function(x, y, from, to, rings, r, correction, h, rect = NULL) {
    self <- identical(from, to)
    A <- kfo_area(rings)
    nf <- length(from)
    nt <- length(to)
    P <- kfo_pairs(x, y, from, to, rings, max(r) + h, rect)
    w <- switch(correction, none = rep(1, length(P$d)), isotropic = P$iso,
                translate = P$trans)
    npairs <- if (self) nf * (nf - 1) else nf * nt - length(intersect(from, to))
    v <- vapply(r, function(s) {
        u <- s - P$d
        k <- ifelse(abs(u) < h, 3 / (4 * h) * (1 - u^2 / h^2), 0)
        sum(w * k)
    }, 0) / (2 * pi * r * npairs / A)
    v[r == 0] <- NA
    v
}

# G by brute force, with the package's conventions (see ?g_function).
kfo_g <- function(x, y, from, to, rings, r, correction, eroded = NULL) {
    nnd <- vapply(from, function(i) {
        j <- setdiff(to, i)
        if (!length(j)) return(Inf)
        min(sqrt((x[j] - x[i])^2 + (y[j] - y[i])^2))
    }, 0)
    b <- kfo_bdist(x[from], y[from], rings)
    unc <- nnd <= b
    rprev <- c(-(r[2] - r[1]), r[-length(r)])
    v <- switch(correction,
        none = vapply(r, function(s) mean(nnd <= s), 0),
        rs = vapply(seq_along(r), function(k) {
            sum(unc & nnd <= r[k] & b >= rprev[k]) / sum(b >= rprev[k])
        }, 0),
        km = {
            surv <- 1
            out <- numeric(length(r))
            for (k in seq_along(r)) {
                risk <- sum((unc & nnd > rprev[k]) | (!unc & b >= rprev[k]))
                ev <- sum(unc & nnd > rprev[k] & nnd <= r[k])
                if (risk > 0) surv <- surv * (1 - ev / risk)
                out[k] <- 1 - surv
            }
            out
        },
        han = {
            h <- vapply(seq_along(r), function(k) {
                sum(unc & nnd > rprev[k] & nnd <= r[k])
            }, 0)
            g <- cumsum(h / eroded)
            g / max(g[is.finite(g)])
        })
    v[!is.finite(v)] <- NA
    v
}

# A small fixed pattern (coordinates in microns, rounded to 0.01) and a
# polygon window with a square hole, for the stored reference values.
ref_x <- c(9.48, 175.38, 156.1, 136.49, 4.01, 148.99, 101.28, 194.18,
           40.42, 60.57, 110.5, 180.21, 37.41, 105.93, 102.16, 153.95, 54.76,
           134.11, 15.7, 199.21, 156.5, 104.36, 184.5, 150.23, 33.64, 130.82,
           1.63, 155.46, 89.71, 139.64, 129.27, 23.66, 51.06, 63.72, 96.13,
           189.05, 36.87, 120.27, 107.2, 145.81)
ref_y <- c(70.3, 26.66, 81.37, 147.41, 19.79, 144.21, 96.42, 117.35, 136.59,
           1.97, 51, 145.48, 51.3, 89.28, 80.1, 59.16, 114.89, 145.32, 88.68,
           5.56, 25.51, 146.09, 36.36, 113.57, 115.18, 13.33, 140.51, 80.48,
           48.72, 52.61, 141.22, 71.58, 86.85, 118.33, 124.54, 107.69, 10.81,
           12.15, 112.73, 102.89)
ref_type <- rep(c("A", "B"), c(22, 18))
ref_rect <- kfo_rect(0, 200, 0, 150)
ref_poly <- list(list(x = c(0, 200, 220, 120, -20), y = c(0, 10, 140, 170, 90)),
                 list(x = c(80, 80, 120, 120), y = c(60, 100, 100, 60)))
ref_r <- seq(0, 40, by = 0.5)
ref_at <- c(5, 10, 20, 30, 40)

# Reference values at r = ref_at, computed once with spatstat.explore
# 3.0-6 (R 4.2.2) by
#   X <- ppp(ref_x, ref_y, window = owin(c(0, 200), c(0, 150)),
#            marks = factor(ref_type))              # rectangle
#   Kest(X[marks(X) == "A"], r = ref_r, correction = ...)
#   Kcross(X, "A", "B", r = ref_r, correction = ...)
#   Gcross(X, "A", "B", r = ref_r, correction = ...)
# and, for the cells inside the polygon ref_poly (33 of 40), the same with
# window = owin(poly = ref_poly) (Kest border on its own, as spatstat
# computes it exactly then).
ref_rect_k <- list(
    isotropic = c(145.624558582035, 405.364818322295, 1271.07847734036,
        1800.27891198495, 3739.70734905048),
    translate = c(133.291390182065, 413.892206665945, 1140.43650477929,
        1611.44912386475, 3140.89087624579),
    border = c(0, 454.545454545455, 1090.90909090909, 1534.09090909091,
        3181.81818181818),
    none = c(129.87012987013, 389.61038961039, 1038.96103896104,
        1428.57142857143, 2597.4025974026))
ref_rect_kcross <- list(
    isotropic = c(75.7575757575758, 379.540443169508, 1042.72794484752,
        2456.4377342736, 4890.12212863654),
    translate = c(76.4544077338568, 319.422523145957, 917.349020724667,
        2291.73202905469, 4308.59740465682),
    border = c(98.0392156862745, 277.777777777778, 833.333333333333,
        2708.33333333333, 4166.66666666667),
    none = c(75.7575757575758, 303.030303030303, 833.333333333333,
        1969.69696969697, 3484.84848484848))
ref_rect_gcross <- list(
    km = c(0.0476190476190477, 0.134199134199134, 0.431818181818182,
        0.772727272727273, 1),
    rs = c(0.0588235294117647, 0.166666666666667, 0.5, 0.875, 1),
    han = c(0.0681473354735814, 0.152484031541079, 0.448781171015808,
        0.821226679230053, 1),
    none = c(0.0454545454545455, 0.181818181818182, 0.5, 0.818181818181818, 1))
ref_poly_k <- list(
    isotropic = c(239.166666666667, 239.166666666667, 1235.62018593444,
        1838.81571865998, 4002.55618815932),
    border = c(224.21875, 275.961538461538, 358.75, 1195.83333333333, 1793.75),
    none = c(239.166666666667, 239.166666666667, 1195.83333333333,
        1674.16666666667, 3109.16666666667))
ref_poly_kcross <- list(
    isotropic = c(105.514705882353, 422.058823529412, 1081.12950884224,
        2430.96452722072, 4786.54020617621),
    border = c(105.514705882353, 519.457013574661, 1406.86274509804,
        2813.72549019608, 3376.47058823529),
    none = c(105.514705882353, 422.058823529412, 1055.14705882353,
        2110.29411764706, 3693.01470588235))
ref_poly_gcross <- list(
    km = c(0.0625, 0.284090909090909, 0.628787878787879, 1, 1),
    rs = c(0.0625, 0.307692307692308, 0.833333333333333, 1, 1),
    none = c(0.0625, 0.25, 0.625, 0.875, 1))
