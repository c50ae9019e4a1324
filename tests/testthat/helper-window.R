# Slow, obviously correct R versions of the window geometry (src/window.c),
# working on a plain vertex data frame (columns x, y, polygon, ring) with
# all rings of one image.

# Edges of every ring as a matrix x0, y0, x1, y1.
wo_edges <- function(w) {
    key <- paste(w$polygon, w$ring)
    do.call(rbind, lapply(split(w[c("x", "y")], factor(key, unique(key))),
                          function(r) {
        j <- c(seq_len(nrow(r))[-1], 1L)
        cbind(x0 = r$x, y0 = r$y, x1 = r$x[j], y1 = r$y[j])
    }))
}

# Shoelace area of every ring, signed (counter-clockwise > 0).
wo_ring_areas <- function(w) {
    key <- paste(w$polygon, w$ring)
    vapply(split(w[c("x", "y")], factor(key, unique(key))), function(r) {
        j <- c(seq_len(nrow(r))[-1], 1L)
        sum(r$x * r$y[j] - r$x[j] * r$y) / 2
    }, numeric(1))
}

# Even-odd ray casting over all edges; a point on an edge is inside.
wo_inside <- function(px, py, w) {
    e <- wo_edges(w)
    on <- rep(FALSE, length(px))
    odd <- rep(FALSE, length(px))
    for (k in seq_len(nrow(e))) {
        x0 <- e[k, "x0"]; y0 <- e[k, "y0"]; x1 <- e[k, "x1"]; y1 <- e[k, "y1"]
        cr <- (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
        on <- on | (cr == 0 & px >= min(x0, x1) & px <= max(x0, x1) &
                    py >= min(y0, y1) & py <= max(y0, y1))
        straddle <- (y0 > py) != (y1 > py)
        xc <- x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        odd <- xor(odd, straddle & px < xc)
    }
    on | odd
}

# Distance to the nearest edge.
wo_bdist <- function(px, py, w) {
    e <- wo_edges(w)
    d <- rep(Inf, length(px))
    for (k in seq_len(nrow(e))) {
        x0 <- e[k, "x0"]; y0 <- e[k, "y0"]
        ex <- e[k, "x1"] - x0
        ey <- e[k, "y1"] - y0
        t <- pmin(1, pmax(0, ((px - x0) * ex + (py - y0) * ey) / (ex^2 + ey^2)))
        d <- pmin(d, sqrt((x0 + t * ex - px)^2 + (y0 + t * ey - py)^2))
    }
    d
}

# Fraction of the circle inside W by the midpoint rule on n arcs: error at
# most (number of boundary crossings) / n.
wo_circle_frac <- function(px, py, r, w, n = 20000) {
    th <- (seq_len(n) - 0.5) / n * 2 * pi
    r <- rep_len(r, length(px))
    vapply(seq_along(px), function(i) {
        mean(wo_inside(px[i] + r[i] * cos(th), py[i] + r[i] * sin(th), w))
    }, numeric(1))
}

# Overlap of a polygon with integer vertices and its shift by multiples of
# 1/k, counted exactly on squares of side 1/k (each is wholly in or out).
wo_overlap_squares <- function(w, dx, dy, k = 2) {
    g <- expand.grid(x = seq(min(w$x) + 0.5 / k, max(w$x), by = 1 / k),
                     y = seq(min(w$y) + 0.5 / k, max(w$y), by = 1 / k))
    a <- wo_inside(g$x, g$y, w)
    b <- wo_inside(g$x - dx, g$y - dy, w)
    sum(a & b) / k^2
}

# Tissue with a vessel (empty disc) in the middle and a notch cut from the
# top edge; uniform cells at `lambda` per square micron.
wo_tissue <- function(lambda = 0.003, seed = 1) {
    withr::with_seed(seed, {
        n <- stats::rpois(1, lambda * 2000 * 1500)
        x <- stats::runif(n, 0, 2000)
        y <- stats::runif(n, 0, 1500)
    })
    vessel <- (x - 1000)^2 + (y - 700)^2 < 200^2
    notch <- x > 1400 & x < 1700 & y > 1000
    keep <- !vessel & !notch
    list(cells = data.frame(x = x[keep], y = y[keep], type = "tumor"),
         area = 2000 * 1500 - pi * 200^2 - 300 * 500)
}

# A polygon with a hole and a second piece, as a vertex data frame.
wo_polygon <- function() {
    data.frame(
        polygon = c(rep(1, 6), rep(1, 4), rep(2, 3)),
        ring = c(rep(1, 6), rep(2, 4), rep(1, 3)),
        hole = c(rep(FALSE, 6), rep(TRUE, 4), rep(FALSE, 3)),
        x = c(0, 10, 10, 6, 6, 0, 2, 2, 4, 4, 12, 16, 12),
        y = c(0, 0, 8, 8, 5, 5, 1, 3, 3, 1, 1, 1, 6)
    )
}

wo_owin <- function(w) {
    key <- paste(w$polygon, w$ring)
    spatstat.geom::owin(poly = lapply(
        split(w[c("x", "y")], factor(key, unique(key))),
        function(r) list(x = r$x, y = r$y)))
}
