# Slow, obviously correct R versions of the C kernels.

bf_nearest <- function(x, y, type, i, to, k = 1L) {
    j <- which(type == to & seq_along(x) != i)
    d <- sqrt((x[j] - x[i])^2 + (y[j] - y[i])^2)
    o <- order(d, j)
    d <- d[o][seq_len(k)]
    j <- j[o][seq_len(k)]
    list(distance = d, index = j)
}

bf_count <- function(x, y, type, i, radius, levels) {
    d <- sqrt((x - x[i])^2 + (y - y[i])^2)
    d[i] <- Inf
    as.integer(table(factor(type[d <= radius], levels = levels)))
}

# Test patterns: random, clustered, duplicated, integer coordinates.
make_pattern <- function(kind, n = 400, types = c("A", "B", "C"),
                         prob = c(0.5, 0.3, 0.2), side = 300) {
    x <- switch(kind,
        random = runif(n, 0, side),
        clustered = {
            cx <- runif(5, 0, side)
            pmin(pmax(rep(cx, length.out = n) + rnorm(n, 0, side / 40), 0), side)
        },
        duplicated = rep(round(runif(n %/% 4, 0, side), 1), length.out = n),
        integer = round(runif(n, 0, 40))
    )
    y <- switch(kind,
        random = runif(n, 0, side),
        clustered = {
            cy <- runif(5, 0, side)
            pmin(pmax(rep(cy, length.out = n) + rnorm(n, 0, side / 40), 0), side)
        },
        duplicated = rep(round(runif(n %/% 4, 0, side), 1), length.out = n),
        integer = round(runif(n, 0, 40))
    )
    data.frame(x = x, y = y,
               type = sample(types, n, TRUE, prob = prob),
               stringsAsFactors = FALSE)
}

# Location of the shared real data sets (skip when absent).
shared_data <- function(...) {
    cand <- c(Sys.getenv("IMMUNOSCAPE_SHARED_DATA"), "/work/shared/data",
              file.path(getwd(), "../../../shared/data"))
    cand <- cand[nzchar(cand) & dir.exists(cand)]
    if (!length(cand)) testthat::skip("shared data sets not available")
    file.path(cand[1], ...)
}
