# Slow, obviously correct R versions of the region geometry (src/regions.c)
# on plain vertex data frames (x, y, polygon, ring; one image), using the
# edge and ray-casting oracles of helper-window.R.

# Signed distance: the minimum over all edges (but those of vertices with
# `skip`: edges along the image edge) of the point-segment distance,
# negative inside (even-odd rule, edges inside).
ro_signed_distance <- function(px, py, w, skip = rep(FALSE, nrow(w))) {
    e <- wo_edges(w)
    best <- rep(Inf, length(px))
    for (k in which(!skip)) {
        ex <- e[k, "x1"] - e[k, "x0"]
        ey <- e[k, "y1"] - e[k, "y0"]
        t <- ((px - e[k, "x0"]) * ex + (py - e[k, "y0"]) * ey) /
            (ex^2 + ey^2)
        t <- pmin(1, pmax(0, t))
        d <- sqrt((px - e[k, "x0"] - t * ex)^2 + (py - e[k, "y0"] - t * ey)^2)
        best <- pmin(best, d)
    }
    ifelse(wo_inside(px, py, w), -best, best)
}

# Areas of the bands (-Inf, b1], (b1, b2], ..., (bk, Inf) of the signed
# distance inside the window, by the midpoint rule on a grid of step h.
ro_band_areas <- function(reg, window, breaks, h,
                          skip = rep(FALSE, nrow(reg))) {
    xr <- range(window$x)
    yr <- range(window$y)
    # a grid not aligned with the (integer) band limits
    gx <- seq(xr[1] + h * 0.5137, xr[2], by = h)
    gy <- seq(yr[1] + h * 0.4871, yr[2], by = h)
    g <- expand.grid(x = gx, y = gy)
    g <- g[wo_inside(g$x, g$y, window), ]
    d <- ro_signed_distance(g$x, g$y, reg, skip)
    band <- findInterval(d, breaks, left.open = TRUE) + 1L
    tabulate(band, length(breaks) + 1L) * h^2
}

ro_square <- function(x0, y0, s, polygon = 1L, ring = 1L, hole = FALSE) {
    data.frame(polygon = polygon, ring = ring, hole = hole,
               x = x0 + c(0, s, s, 0), y = y0 + c(0, 0, s, s))
}

# Cells on a jittered lattice over [0, side]^2, typed by a function of
# position.
ro_cells <- function(side, spacing, type_of, seed = 1, image = "image1") {
    set.seed(seed)
    g <- expand.grid(x = seq(spacing / 2, side, by = spacing),
                     y = seq(spacing / 2, side, by = spacing))
    g$x <- g$x + stats::runif(nrow(g), -0.3, 0.3) * spacing
    g$y <- g$y + stats::runif(nrow(g), -0.3, 0.3) * spacing
    g$type <- type_of(g$x, g$y)
    g$image <- image
    g
}

# Uniform cells on [0, w] x [0, h] in a rectangular window: `left` type for
# x < split, `right` beyond (a straight border crossing the image).
ro_split_cells <- function(n, w, h, split, left = "Tumor", right = "Stroma",
                           seed = 1) {
    set.seed(seed)
    df <- data.frame(x = stats::runif(n, 0, w), y = stats::runif(n, 0, h))
    df$type <- ifelse(df$x < split, left, right)
    spatial_cells(df, window = "rectangle")
}

# `n` random cells over 1000 x 1000 microns, "Tumor" within `r` of the
# centre and `other` elsewhere.
ro_disc_cells <- function(n, r, seed, other = "Stroma") {
    set.seed(seed)
    df <- data.frame(x = stats::runif(n, 0, 1000),
                     y = stats::runif(n, 0, 1000))
    df$type <- ifelse((df$x - 500)^2 + (df$y - 500)^2 < r^2, "Tumor", other)
    df
}

# `n` uniform cells of type "Other" in a `side`-micron square that is
# their window.
square_cells <- function(n, side = 1000, seed = 1) {
    set.seed(seed)
    df <- data.frame(x = stats::runif(n, 0, side),
                     y = stats::runif(n, 0, side), type = "Other")
    spatial_cells(df, window = data.frame(x = c(0, side, side, 0),
                                          y = c(0, 0, side, side)))
}
