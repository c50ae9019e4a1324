# make fuzz: randomised cases against the brute-force oracles of the test
# suite (tests/testthat/helper-*.R), with a fixed seed and a time cap.
#
#   Rscript tools/fuzz.R SEED SECONDS
#
# Each round draws a point pattern (uniform, clustered, a lattice with
# ties, duplicated points), sometimes a window with a hole, and random
# argument values; every estimator must agree with its oracle, and any
# error must be a classed immunoscape error.  Exits 1 on the first
# disagreement, printing the case (seed of the round) to reproduce it.

args <- commandArgs(trailingOnly = TRUE)
seed <- as.integer(if (length(args) >= 1) args[1] else 1)
seconds <- as.numeric(if (length(args) >= 2) args[2] else 60)
suppressPackageStartupMessages({
    library(immunoscape)
    library(testthat)
})
options(immunoscape.verbose = FALSE, warn = 1)
for (f in list.files("tests/testthat", "^helper-.*\\.R$", full.names = TRUE))
    sys.source(f, envir = globalenv())

draw_points <- function(n) {
    kind <- sample(c("uniform", "clustered", "lattice", "duplicates"), 1)
    side <- sample(c(50, 200, 1000), 1)
    xy <- switch(kind,
        uniform = cbind(runif(n, 0, side), runif(n, 0, side)),
        clustered = {
            cx <- runif(3, 0, side)
            cy <- runif(3, 0, side)
            k <- sample(3, n, TRUE)
            cbind(pmin(pmax(cx[k] + rnorm(n, 0, side / 20), 0), side),
                  pmin(pmax(cy[k] + rnorm(n, 0, side / 20), 0), side))
        },
        lattice = {
            m <- ceiling(sqrt(n))
            g <- expand.grid(0:(m - 1), 0:(m - 1))[seq_len(n), ]
            as.matrix(g) * side / m
        },
        duplicates = {
            base <- cbind(runif(ceiling(n / 3), 0, side),
                          runif(ceiling(n / 3), 0, side))
            base[sample(nrow(base), n, TRUE), , drop = FALSE]
        })
    list(x = as.numeric(xy[, 1]), y = as.numeric(xy[, 2]), side = side,
         kind = kind)
}

window_for <- function(p) {
    s <- p$side
    if (runif(1) < 0.5) return(NULL)
    # the square with a square hole in the middle third
    data.frame(polygon = 1L, ring = rep(1:2, each = 4),
               hole = rep(c(FALSE, TRUE), each = 4),
               x = c(-1, s + 1, s + 1, -1, s / 3, s / 3, 2 * s / 3, 2 * s / 3),
               y = c(-1, -1, s + 1, s + 1, s / 3, 2 * s / 3, 2 * s / 3, s / 3))
}

classed_or_stop <- function(expr, what) {
    tryCatch(expr, error = function(e) {
        if (inherits(e, "immunoscape_error") &&
            !inherits(e, "immunoscape_error_internal")) return(NULL)
        stop(sprintf("%s: unclassed or internal error: %s", what,
                     conditionMessage(e)), call. = FALSE)
    })
}

agree <- function(a, b, what, tol = 1e-8) {
    ok <- isTRUE(all.equal(a, b, tolerance = tol, check.attributes = FALSE))
    if (!ok) stop(sprintf("%s disagrees with its oracle", what), call. = FALSE)
}

one_round <- function(round_seed) {
    set.seed(round_seed)
    n <- sample(c(1:5, 20, 60, 150), 1)
    p <- draw_points(n)
    type <- sample(c("A", "B", "C"), n, TRUE, prob = c(0.5, 0.3, 0.2))
    df <- data.frame(x = p$x, y = p$y, type = type)
    win <- window_for(p)
    cells <- classed_or_stop(suppressWarnings(
        spatial_cells(df, window = win %||% "rectangle")), "spatial_cells")
    if (is.null(cells)) return("refused")
    lv <- levels(cells$type)
    nthreads <- sample(1:2, 1)
    # nearest distances, random k
    k <- sample(c(1L, 2L, 5L, 1000L), 1)
    to <- sample(lv, 1)
    d <- classed_or_stop(nearest_distances(cells, to = to, k = k,
                                           nthreads = nthreads),
                         "nearest_distances")
    if (!is.null(d)) {
        kk <- attr(d, "k")
        for (i in utils::head(seq_len(nrow(cells)), 20)) {
            bf <- bf_nearest(cells$x, cells$y, as.character(cells$type), i,
                             to, kk)
            got <- d$distance[d$cell_id == cells$cell_id[i]]
            agree(got, bf$distance, "nearest_distances")
        }
    }
    # neighbour counts, random radius (0, ties, larger than the image)
    radius <- sample(c(0, p$side / 10, p$side / 3, 10 * p$side), 1)
    cn <- classed_or_stop(count_neighbors(cells, radius = radius,
                                          nthreads = nthreads),
                          "count_neighbors")
    if (!is.null(cn)) {
        for (i in utils::head(seq_len(nrow(cells)), 20)) {
            bf <- bf_count(cells$x, cells$y, as.character(cells$type), i,
                           radius, lv)
            got <- cn[cn$cell_id == cells$cell_id[i], ]
            agree(got$count[match(lv, got$to)], as.numeric(bf),
                  "count_neighbors")
        }
    }
    # window area against the shoelace formula
    if (!is.null(win)) {
        a <- window_area(cells)
        agree(unname(a), p$side^2 + 4 * p$side + 4 - p$side^2 / 9,
              "window_area", tol = 1e-9)
    }
    # K with the border and no correction against the brute-force sums
    if (n >= 2) {
        r <- c(0, sort(runif(3, 0, p$side / 2)))
        kf <- classed_or_stop(ripley_k(cells, from = NULL,
                                       r = r, correction = "none",
                                       nthreads = nthreads), "ripley_k")
        if (!is.null(kf) && nrow(kf)) {
            w <- attr(cells, "windows")
            rings <- lapply(split(w, w$ring), function(g) list(x = g$x, y = g$y))
            inside <- kfo_inside(cells$x, cells$y, rings)
            xs <- cells$x[inside]
            ys <- cells$y[inside]
            m <- length(xs)
            area <- kfo_area(rings)
            dx <- outer(xs, xs, "-")
            dy <- outer(ys, ys, "-")
            dd <- sqrt(dx^2 + dy^2)
            diag(dd) <- Inf
            lam2 <- m * (m - 1) / area
            bf <- vapply(r, function(rr) sum(dd <= rr) / lam2, numeric(1))
            est <- kf$estimate[kf$correction == "none"]
            ok <- !is.na(est)
            agree(est[ok], bf[ok], "ripley_k(correction = 'none')",
                  tol = 1e-6)
        }
    }
    # random interaction test: a result or a classed error, any nperm
    it <- classed_or_stop(interaction_test(cells, radius = radius,
                                           nperm = sample(c(0, 3), 1),
                                           nthreads = nthreads),
                          "interaction_test")
    p$kind
}

`%||%` <- function(a, b) if (is.null(a)) b else a

set.seed(seed)
seeds <- sample.int(.Machine$integer.max, 100000)
t0 <- proc.time()[[3]]
kinds <- character()
i <- 0L
while (proc.time()[[3]] - t0 < seconds && i < length(seeds)) {
    i <- i + 1L
    res <- tryCatch(one_round(seeds[i]), error = function(e) {
        cat(sprintf("FUZZ FAILURE in round %d (round seed %d): %s\n", i,
                    seeds[i], conditionMessage(e)))
        quit(status = 1)
    })
    kinds <- c(kinds, res)
}
cat(sprintf("fuzz: %d rounds in %.0f s (seed %d), all agree with the oracles: %s\n",
            i, proc.time()[[3]] - t0, seed,
            paste(names(table(kinds)), table(kinds), sep = " ", collapse = ", ")))
