# Coefficients of kf_acos_fast() (src/kfunctions-kernel.h, KF_ACOS_COEF):
# acos(q) = sqrt(1 - q) P(q) on [0, 1], P of degree `deg` fitted by least
# squares on Chebyshev nodes (P is smooth: acos(q) / sqrt(1 - q) is
# analytic on [0, 1]), then its largest absolute error on a fine grid.
#   Rscript tools/acos-poly.R [deg]
args <- commandArgs(TRUE)
deg <- if (length(args)) as.integer(args[1]) else 12L
m <- 4000
q <- (1 - cos(pi * (seq_len(m) - 0.5) / m)) / 2
f <- acos(q) / sqrt(1 - q)
# fit in the Chebyshev basis of [0, 1] (well conditioned), then monomials
t <- 2 * q - 1
Tm <- sapply(0:deg, function(k) cos(k * acos(t)))
cf <- qr.solve(Tm, f)
# Chebyshev -> monomials in t -> monomials in q = (t + 1) / 2
Tk <- list(c(1), c(0, 1))
for (k in 2:deg) Tk[[k + 1]] <- c(0, 2 * Tk[[k]]) - c(Tk[[k - 1]], 0, 0)
mt <- numeric(deg + 1)
for (k in 0:deg) mt[seq_along(Tk[[k + 1]])] <- mt[seq_along(Tk[[k + 1]])] +
    cf[k + 1] * Tk[[k + 1]]
# t = 2 q - 1: expand sum mt[j] (2q - 1)^j
mq <- numeric(deg + 1)
for (j in 0:deg) for (i in 0:j)
    mq[i + 1] <- mq[i + 1] + mt[j + 1] * choose(j, i) * 2^i * (-1)^(j - i)
horner <- function(x) {
    v <- mq[deg + 1]
    for (k in deg:1) v <- v * x + mq[k]
    v * sqrt(1 - x)
}
xx <- seq(0, 1, length.out = 2e6 + 1)
err <- max(abs(horner(xx) - acos(xx)))
cat(sprintf("degree %d: max |error| %.3g\n", deg, err))
cat(paste(sprintf("%.17g", mq), collapse = ", "), "\n")
