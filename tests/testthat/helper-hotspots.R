# Oracles for Getis-Ord Gi*, written from the definitions rather than from
# the package's grid code.

# All permutations of 1..n, one per row.
all_permutations <- function(n) {
    if (n == 1L) return(matrix(1L, 1, 1))
    sub <- all_permutations(n - 1L)
    do.call(rbind, lapply(seq_len(n), function(first) {
        cbind(first, matrix(setdiff(seq_len(n), first)[sub], nrow(sub)))
    }))
}

# Gi* from the published formula (Ord & Getis 1995, eq. 3.3 with self
# included) for values x and a full weight matrix w (w[i, j] the weight of
# square j for square i); NA where the denominator is 0.
bf_gi_formula <- function(x, w) {
    n <- length(x)
    xbar <- sum(x) / n
    s <- sqrt(sum(x^2) / n - xbar^2)
    W <- rowSums(w)
    S1 <- rowSums(w^2)
    den <- s * sqrt((n * S1 - W^2) / (n - 1))
    z <- (as.vector(w %*% x) - xbar * W) / den
    z[!(den > 0)] <- NA
    z
}

# Gi* as what it estimates: the neighbourhood sum of each square
# standardised by its exact mean and standard deviation over all n!
# assignments of the values to the squares (NA where that sd is 0).
bf_gi_permutation <- function(x, w) {
    p <- all_permutations(length(x))
    sums <- matrix(x[p], nrow(p)) %*% t(w)
    obs <- as.vector(w %*% x)
    mu <- colMeans(sums)
    sd <- sqrt(colMeans(sweep(sums, 2, mu)^2))
    z <- (obs - mu) / sd
    z[!(sd > 1e-9)] <- NA
    z
}

# Binary weights of squares at grid positions (ix, iy): 1 within Chebyshev
# distance `order`, the square itself included.
bf_chebyshev_weights <- function(ix, iy, order) {
    1 * (abs(outer(ix, ix, "-")) <= order & abs(outer(iy, iy, "-")) <= order)
}
