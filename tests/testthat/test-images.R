# Binding the per-image tables of map_images(): the column-by-column path
# of bind_images() must give exactly what do.call(rbind, ...) gives, and
# fall back to rbind() where it could not (tables of other types, empty
# tables, factors with more than levels and class, unnamed columns).

bind_tables <- function(k, n = 3) {
    data.frame(image = factor(rep(paste0("i", k), n),
                              levels = c("i1", "i2", "i3")),
               id = seq_len(n) + 10L * as.integer(k), d = k + seq_len(n) / 7,
               ok = rep(c(TRUE, NA), length.out = n),
               s = letters[seq_len(n)], stringsAsFactors = FALSE)
}

expect_rbind <- function(vals) {
    got <- immunoscape:::bind_images(vals)
    want <- do.call(rbind, vals)
    rownames(got) <- NULL
    rownames(want) <- NULL
    expect_identical(got, want)
}

test_that("bind_images() equals rbind() on tables of the same columns", {
    expect_rbind(list(bind_tables(1), bind_tables(2), bind_tables(3)))
    expect_rbind(list(bind_tables(1), bind_tables(2, 0), bind_tables(3)))
    expect_rbind(list(bind_tables(1, 0)))
    x <- bind_tables(1)
    attr(x, "note") <- "kept from the first table"
    expect_rbind(list(x, bind_tables(2)))
    o1 <- bind_tables(1)
    o2 <- bind_tables(2)
    o1$o <- factor(c("a", "b", "a"), levels = c("a", "b"), ordered = TRUE)
    o2$o <- factor(c("b", "b", "a"), levels = c("a", "b"), ordered = TRUE)
    expect_rbind(list(o1, o2))
    # each image's own factor levels (as map_images() hands them in),
    # united in the order met, NA codes kept
    u <- lapply(1:3, function(k) {
        t <- bind_tables(k)
        t$image <- factor(as.character(t$image))
        t
    })
    expect_rbind(u)
    u[[2]]$image[2] <- NA
    expect_rbind(u)
    e <- bind_tables(3, 0)
    e$image <- factor(character())
    expect_rbind(list(u[[1]], e, u[[3]]))
    u[[2]]$image[2] <- "i2"
    got <- immunoscape:::bind_images(u)
    expect_identical(levels(got$image), c("i1", "i2", "i3"))
    # the numbers themselves, in order, and the united levels
    got <- immunoscape:::bind_images(list(bind_tables(1), bind_tables(2)))
    expect_identical(got$id, c(11L, 12L, 13L, 21L, 22L, 23L))
    expect_identical(levels(got$image), c("i1", "i2", "i3"))
})

test_that("bind_images() falls back to rbind() where the tables differ", {
    y <- bind_tables(2)
    y$image <- factor(y$image)                  # other levels
    expect_rbind(list(bind_tables(1), y))
    z <- bind_tables(2)
    z$id <- as.numeric(z$id)                    # integer and double
    expect_rbind(list(bind_tables(1), z))
    w1 <- bind_tables(1)
    w2 <- bind_tables(2)
    w1$l <- I(list(1, 2, 3))                    # a list column
    w2$l <- I(list(4, 5, 6))
    expect_rbind(list(w1, w2))
    t1 <- bind_tables(1)
    t2 <- bind_tables(2)
    t1$t <- as.POSIXct("2026-01-01", tz = "UTC")
    t2$t <- as.POSIXct("2026-01-02", tz = "UTC")
    expect_rbind(list(t1, t2))
    # rbind() drops tables without rows first, and rebuilds factors from
    # their levels alone
    a <- data.frame(k = 1:2)
    a$f <- factor(c("a", "b"))
    z <- data.frame(k = integer())
    z$f <- factor(character(), levels = "z")
    attr(z, "note") <- "on an empty table"
    expect_rbind(list(a, z))
    expect_rbind(list(z, a))
    expect_rbind(list(z, z))
    na <- data.frame(k = 1:3)
    na$f <- structure(c(1L, NA, 2L), levels = c("a", NA), class = "factor")
    expect_rbind(list(na, a))
    cf <- a
    contrasts(cf$f) <- stats::contr.sum(2)
    expect_rbind(list(cf, cf))
    sub <- a
    sub$f <- structure(1:2, levels = c("a", "b"), class = c("myfac", "factor"))
    expect_rbind(list(sub, sub))
    nf <- structure(list(f = structure(1:2, levels = c("a", "b"),
                                       class = "factor",
                                       names = c("x", "y"))),
                    class = "data.frame", row.names = c(NA, -2L))
    expect_rbind(list(nf, nf))
    e <- data.frame(a = 1:2, b = 3:4)
    names(e)[2] <- ""
    expect_rbind(list(e, e))
    expect_rbind(list(data.frame(row.names = 1:3),
                      data.frame(row.names = 1:2)))
    expect_error(immunoscape:::bind_images(list(bind_tables(1),
                                                bind_tables(2)[, 1:3])))
})

test_that("a cohort result is the per-image results one under the other", {
    sim <- quiet(simulate_tme(n_images = 3, size = 1000, cells_per_mm2 = 800,
                              seed = 3, n_tls = 0))
    reg <- quiet(tumor_regions(sim))
    all <- quiet(compartments(sim, reg))
    one <- lapply(levels(sim$image), function(im) {
        sub <- sim[sim$image == im, ]
        quiet(compartments(sub, reg[reg$image == im, ]))
    })
    by_image <- do.call(rbind, lapply(one, as.data.frame))
    rownames(by_image) <- NULL
    a <- as.data.frame(all)
    rownames(a) <- NULL
    expect_equal(a$border_distance, by_image$border_distance)
    expect_identical(as.character(a$compartment),
                     as.character(by_image$compartment))
    expect_identical(as.character(a$image), as.character(by_image$image))
})
