# associate_outcome(): Cox models against direct survival::coxph() calls,
# group tests against the stats functions, notes and bad input.

outcome_profile <- function(n = 60, seed = 1) {
    set.seed(seed)
    df <- data.frame(patient = sprintf("p%02d", seq_len(n)),
                     density_cd8 = rexp(n, 1 / 300),
                     mixing_score = runif(n),
                     constant = 2,
                     architecture = factor(sample(c("cold", "mixed",
                                                    "compartmentalized"),
                                                  n, TRUE),
                                           levels = c("cold",
                                                      "compartmentalized",
                                                      "mixed")),
                     note = NA_character_)
    structure(df, class = c("spatial_profile", "immunoscape_result",
                            "data.frame"),
              aggregate = c(density_cd8 = "mean", mixing_score = "mean",
                            constant = "mean", architecture = "mode"),
              by = "patient")
}

outcome_clinical <- function(p) {
    set.seed(2)
    n <- nrow(p)
    data.frame(patient = rev(p$patient),
               time = rexp(n, exp(-0.003 * rev(p$density_cd8))) * 1000,
               event = rbinom(n, 1, 0.7),
               stage = sample(c("I", "II", "III"), n, TRUE),
               sex = sample(c("F", "M"), n, TRUE))
}

test_that("Cox results equal direct coxph() fits", {
    p <- outcome_profile()
    clin <- outcome_clinical(p)
    a <- associate_outcome(p, clin, time = "time", event = "event")
    expect_s3_class(a, "outcome_association")
    d <- merge(as.data.frame(p), clin, by = "patient")
    for (f in c("density_cd8", "mixing_score")) {
        s <- sd(d[[f]])
        fit <- survival::coxph(survival::Surv(d$time, d$event) ~ I(d[[f]] / s))
        ci <- exp(stats::confint(fit))
        row <- a[a$feature == f, ]
        expect_equal(row$hr, unname(exp(coef(fit))), tolerance = 1e-10)
        expect_equal(c(row$lo, row$hi), unname(as.vector(ci)),
                     tolerance = 1e-10)
        # the likelihood-ratio p of a numeric feature
        expect_equal(row$p, unname(summary(fit)$logtest[["pvalue"]]),
                     tolerance = 1e-10)
        expect_equal(row$scale, s)
        expect_equal(row$n_events, sum(d$event))
        expect_equal(row$n, nrow(d))
    }
    # per unit
    u <- associate_outcome(p, clin, time = "time", event = "event",
                           per = "unit", features = "density_cd8")
    fit <- survival::coxph(survival::Surv(d$time, d$event) ~ d$density_cd8)
    expect_equal(u$hr, unname(exp(coef(fit))), tolerance = 1e-10)
    expect_equal(u$scale, 1)
    # categorical feature: one row per level against the first
    f <- a[a$feature == "architecture", ]
    fit <- survival::coxph(survival::Surv(d$time, d$event) ~ d$architecture)
    expect_equal(f$term, c("compartmentalized vs cold", "mixed vs cold"))
    expect_equal(f$hr, unname(exp(coef(fit))), tolerance = 1e-10)
    # BH over all rows
    expect_equal(a$fdr, p.adjust(a$p, "BH"))
    # the constant feature is noted, not fitted
    k <- a[a$feature == "constant", ]
    expect_true(is.na(k$hr))
    expect_match(k$note, "constant")
})

test_that("missing values, too few events and carried outcomes", {
    p <- outcome_profile()
    clin <- outcome_clinical(p)
    p$density_cd8[1:5] <- NA
    a <- associate_outcome(p, clin, time = "time", event = "event",
                           features = "density_cd8")
    d <- merge(as.data.frame(p), clin, by = "patient")
    d <- d[!is.na(d$density_cd8), ]
    expect_equal(a$n, nrow(d))
    expect_equal(a$n_events, sum(d$event))
    clin$event <- 0
    clin$event[1:3] <- 1
    b <- associate_outcome(p, clin, time = "time", event = "event",
                           features = "density_cd8")
    expect_true(is.na(b$hr))
    expect_match(b$note, "too few events")
    # outcome columns already in the profile (carried)
    q <- p
    m <- match(q$patient, clin$patient)
    q$t <- clin$time[m]
    q$e <- as.logical(clin$event[m])
    c2 <- associate_outcome(q, time = "t", event = "e",
                            features = "mixing_score", min_events = 3)
    c1 <- associate_outcome(p, clin, time = "time", event = "event",
                            features = "mixing_score", min_events = 3)
    expect_equal(c2$hr, c1$hr)
})

test_that("group tests equal wilcox.test, kruskal.test and fisher.test", {
    p <- outcome_profile()
    clin <- outcome_clinical(p)
    d <- merge(as.data.frame(p), clin, by = "patient")
    g <- associate_outcome(p, clin, group = "stage")
    expect_equal(g$test[g$feature == "density_cd8"], "kruskal")
    expect_equal(g$p[g$feature == "density_cd8"],
                 kruskal.test(d$density_cd8, factor(d$stage))$p.value)
    expect_equal(g$test[g$feature == "architecture"], "fisher")
    expect_equal(g$p[g$feature == "architecture"],
                 fisher.test(table(d$architecture, d$stage))$p.value)
    w <- associate_outcome(p, clin, group = "sex")
    expect_equal(w$p[w$feature == "mixing_score"],
                 wilcox.test(mixing_score ~ sex, data = d,
                             exact = FALSE)$p.value)
    expect_equal(w$fdr, p.adjust(w$p, "BH"))
    expect_match(w$note[w$feature == "constant"], "constant")
})

test_that("bad input gives classed errors", {
    p <- outcome_profile()
    clin <- outcome_clinical(p)
    expect_error(associate_outcome(p, clin), class = "immunoscape_error_argument")
    expect_error(associate_outcome(p, clin, time = "time", event = "event",
                                   group = "stage"),
                 class = "immunoscape_error_argument")
    expect_error(associate_outcome(p, clin, time = "tme", event = "event"),
                 class = "immunoscape_error_column")
    expect_error(associate_outcome(p, clin, time = "time", event = "stage"),
                 class = "immunoscape_error_column")
    expect_error(associate_outcome(p, clin, time = "time", event = "event",
                                   features = "dens"),
                 class = "immunoscape_error_argument")
    expect_error(associate_outcome(p, clin, time = "time", event = "event",
                                   per = "iqr"),
                 class = "immunoscape_error_argument")
    # several rows per patient: aggregate first
    two <- p[c(1:nrow(p), 1), ]
    two <- structure(as.data.frame(two), class = class(p),
                     aggregate = attr(p, "aggregate"), by = "patient")
    expect_error(associate_outcome(two, clin, time = "time", event = "event"),
                 class = "immunoscape_error_argument")
    expect_error(associate_outcome(p, rbind(clin, clin[1, ]), time = "time",
                                   event = "event"),
                 class = "immunoscape_error_argument")
    expect_error(associate_outcome(p, clin, time = "time", event = "event",
                                   typo = 1),
                 class = "immunoscape_error_argument")
})

test_that("forest plot and group plot draw every tested row", {
    p <- outcome_profile()
    clin <- outcome_clinical(p)
    a <- associate_outcome(p, clin, time = "time", event = "event")
    expect_output(print(a), "Cox models")
    expect_equal(summary(a)$n_tested, sum(!is.na(a$p)))
    g <- autoplot(a)
    pts <- ggplot2::layer_data(g, 3)
    expect_equal(nrow(pts), sum(!is.na(a$p)))
    expect_equal(sort(10^pts$x), sort(a$hr[!is.na(a$p)]), tolerance = 1e-8)
    gt <- associate_outcome(p, clin, group = "stage")
    bars <- ggplot2::layer_data(autoplot(gt), 1)
    expect_equal(nrow(bars), sum(!is.na(gt$p)))
    expect_equal(sort(bars$xmax), sort(-log10(gt$p[!is.na(gt$p)])),
                 tolerance = 1e-8)
})

test_that("the real NSCLC cohort runs end to end", {
    path <- system.file("extdata", "nsclc_vectra_cohort.csv.xz",
                        package = "immunoscape")
    clin <- utils::read.csv(system.file("extdata",
                                        "nsclc_vectra_clinical.csv",
                                        package = "immunoscape"))
    raw <- utils::read.csv(path)
    expect_equal(nrow(raw), 285412L)
    expect_equal(length(unique(raw$image)), 247L)
    raw <- raw[raw$patient_id %in% unique(raw$patient_id)[1:12], ]
    cells <- spatial_cells(raw, x = "x_um", y = "y_um", type = "phenotype",
                           image = "image")
    set.seed(1)
    p <- spatial_profile(cells, tumor = "Tumor",
                         immune = c("CD8 T", "CD4 T", "B cell",
                                    "Monocyte/Macrophage"),
                         carry = "patient_id",
                         features = profile_features(c("counts",
                                                       "distances",
                                                       "mixing")),
                         nthreads = 1)
    expect_equal(nrow(p), nlevels(cells$image))
    pp <- aggregate_profile(p, by = "patient_id")
    expect_equal(nrow(pp), 12L)
    expect_equal(sum(pp$n_cells), nrow(raw))
    a <- associate_outcome(pp, clin, time = "survival_days",
                           event = "survival_status", min_events = 3)
    expect_true(any(!is.na(a$hr)))
    expect_true(all(a$n == 12L))
    expect_equal(unique(a$n_events),
                 sum(clin$survival_status[clin$patient_id %in%
                                              pp$patient_id]))
})

test_that("associate_outcome() names the argument of a bad outcome column (issue 12)", {
    prof <- structure(
        data.frame(patient = paste0("p", 1:10), density_cd8 = 1:10,
                   note = NA_character_),
        class = c("spatial_profile", "immunoscape_result", "data.frame"),
        aggregate = c(density_cd8 = "mean"), by = "patient")
    clin <- data.frame(patient = paste0("p", 1:10), time = 1:10,
                       event = rep(0:1, 5))
    expect_error(associate_outcome(prof, clin, time = "bogus", event = "event"),
                 "`time`", class = "immunoscape_error_column")
    expect_error(associate_outcome(prof, clin, time = "time", event = "nope"),
                 "`event`", class = "immunoscape_error_column")
    expect_error(associate_outcome(prof, clin, time = NA, event = "event"),
                 "time", class = "immunoscape_error_argument")
    expect_error(associate_outcome(prof, clin, time = "time", event = 1),
                 "event", class = "immunoscape_error_argument")
})

test_that("the forest plot says what it leaves out and builds cleanly", {
    p <- outcome_profile()
    clin <- outcome_clinical(p)
    a <- associate_outcome(p, clin, time = "time", event = "event")
    g <- autoplot(a, limit = 2)
    expect_no_warning(ggplot2::ggplot_build(g))
    expect_identical(nrow(ggplot2::layer_data(g, 3)), 2L)
    tested <- sum(!is.na(a$p))
    expect_match(g$labels$caption, sprintf("2 smallest p of %d", tested))
    expect_match(g$labels$caption, "not tested.*constant")
    expect_match(g$labels$subtitle, sprintf("n = %d", nrow(p)))
    gt <- associate_outcome(p, clin, group = "stage")
    expect_no_warning(ggplot2::ggplot_build(autoplot(gt)))
    # nothing tested: an empty figure that says so, not an error
    none <- associate_outcome(p, clin, time = "time", event = "event",
                              features = "constant")
    g <- autoplot(none)
    expect_no_warning(ggplot2::ggplot_build(g))
    expect_match(g$labels$caption, "constant")
})

test_that("patients without a clinical row are named, none matching is an error", {
    p <- outcome_profile()
    clin <- outcome_clinical(p)
    # ids written differently: an error showing both
    bad <- clin
    bad$patient <- toupper(bad$patient)
    expect_error(associate_outcome(p, bad, time = "time", event = "event"),
                 "p01.*P60", class = "immunoscape_error_argument")
    # half the patients without outcome: a message naming them, and the
    # models fit on the others (as coxph() on the matched rows)
    half <- clin[clin$patient %in% p$patient[1:30], ]
    expect_message(a <- associate_outcome(p, half, time = "time",
                                          event = "event"),
                   "30 .*p31", class = "immunoscape_message")
    d <- merge(as.data.frame(p), half, by = "patient")
    fit <- survival::coxph(survival::Surv(time, event) ~ density_cd8,
                           data = d)
    row <- a[a$feature == "density_cd8", ]
    expect_equal(row$n, 30L)
    expect_equal(log(row$hr) / row$scale, unname(coef(fit)),
                 tolerance = 1e-6)
    # every patient matched: no message
    expect_no_message(associate_outcome(p, clin, time = "time",
                                        event = "event"),
                      class = "immunoscape_message")
})

test_that("aggregate_profile() finds the carried patient column", {
    p <- outcome_profile()
    names(p)[names(p) == "patient"] <- "patient_id"
    p <- rbind(p, p)
    attr(p, "image_groups") <- "patient_id"
    a <- aggregate_profile(p)
    expect_identical(sort(as.character(a$patient_id)),
                     sort(unique(p$patient_id)))
    attr(p, "image_groups") <- NULL
    expect_error(aggregate_profile(p), "patient_id",
                 class = "immunoscape_error_column")
})

test_that("ids are not features, infinite times are refused", {
    set.seed(5)
    ids <- sprintf("p%02d", 1:40)
    prof <- data.frame(patient = ids, f = rnorm(40),
                       grade = sample(c("low", "high"), 40, TRUE))
    clin <- data.frame(patient = ids, os = rexp(40) * 100,
                       dead = rbinom(40, 1, 0.7))
    a <- associate_outcome(prof, clin, time = "os", event = "dead")
    expect_false("patient" %in% a$feature)
    expect_setequal(unique(a$feature), c("f", "grade"))
    fit <- survival::coxph(survival::Surv(os, dead) ~ f,
                           data = merge(prof, clin))
    expect_equal(log(a$hr[a$feature == "f"]) / a$scale[a$feature == "f"],
                 unname(coef(fit)), tolerance = 1e-6)
    clin$os[3] <- Inf
    expect_error(associate_outcome(prof, clin, time = "os", event = "dead"),
                 "finite", class = "immunoscape_error_column")
})

test_that("review of the cohort step: separation, pseudo-replicates, joins", {
    set.seed(8)
    ids <- sprintf("p%02d", 1:40)
    time <- rexp(40) * 100
    event <- rep(1L, 40)
    # a feature that orders the deaths perfectly: no finite hazard ratio,
    # but a likelihood-ratio p far below the Wald p near 1
    prof <- data.frame(patient = ids, sep = -rank(time), f = rnorm(40),
                       empty = NA_real_, area_mm2 = runif(40))
    attr(prof, "aggregate") <- c(sep = "mean", f = "mean", empty = "mean",
                                 area_mm2 = "sum")
    clin <- data.frame(patient = ids, os = time, dead = event)
    a <- suppressWarnings(associate_outcome(prof, clin, time = "os",
                                            event = "dead"))
    s <- a[a$feature == "sep", ]
    expect_true(is.na(s$hr))
    expect_lt(s$p, 1e-6)
    expect_match(s$note, "separates the outcomes")
    fit <- suppressWarnings(survival::coxph(survival::Surv(time, event) ~
                                                prof$sep))
    expect_equal(s$p, unname(summary(fit)$logtest[["pvalue"]]))
    expect_gt(summary(fit)$coefficients[, "Pr(>|z|)"], 0.5)
    # a feature without any value is said so, not "constant"; a summed
    # total (area) is not tested by default
    expect_match(a$note[a$feature == "empty"], "no value")
    expect_false("area_mm2" %in% a$feature)
    expect_s3_class(autoplot(a), "ggplot")
    # outcome columns carried in the profile give way to clinical's
    prof2 <- prof
    prof2$os <- 1
    expect_message(b <- suppressWarnings(associate_outcome(
        prof2, clin, time = "os", event = "dead")), "taken from")
    expect_equal(b$p[b$feature == "f"], a$p[a$feature == "f"])
    # clinical patients without images are named
    clin3 <- rbind(clin, data.frame(patient = "p99", os = 5, dead = 1))
    expect_message(suppressWarnings(associate_outcome(
        prof, clin3, time = "os", event = "dead")), "p99")
    # a numeric group with many values is no category
    clin$age <- round(runif(40, 40, 90), 1)
    expect_error(associate_outcome(prof, clin, group = "age"),
                 class = "immunoscape_error_column")
    # images of one patient are not independent units, carried or joined
    img <- data.frame(image = sprintf("i%02d", 1:40),
                      patient_id = rep(ids[1:20], each = 2), f = rnorm(40),
                      os = rep(time[1:20], each = 2),
                      dead = rep(event[1:20], each = 2))
    img <- structure(img, class = c("spatial_profile", "immunoscape_result",
                                    "data.frame"),
                     aggregate = c(f = "mean"), image_groups = "patient_id")
    expect_error(associate_outcome(img, time = "os", event = "dead"),
                 "aggregate_profile", class = "immunoscape_error_argument")
})

test_that("aggregate_profile() keeps groups whose pasted ids coincide", {
    p <- data.frame(image = paste0("i", 1:4), a = c("A.1", "A.1", "A", "A"),
                    b = c("x", "x", "1.x", "1.x"), f = c(1, 3, 10, 30))
    p <- structure(p, class = c("spatial_profile", "immunoscape_result",
                                "data.frame"),
                   aggregate = c(f = "mean"))
    g <- aggregate_profile(p, by = c("a", "b"))
    expect_equal(nrow(g), 2L)
    expect_setequal(g$f, c(2, 20))
})
