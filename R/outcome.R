# Association of profile features with outcome: univariable Cox models for
# survival, rank and exact tests for categorical outcomes.

#' Associate spatial features with outcome
#'
#' One model or test per feature of a [spatial_profile()] (usually
#' aggregated to patients with [aggregate_profile()]):
#'
#' * **Survival** (`time`, `event`): a univariable Cox proportional-hazards
#'   model [survival::coxph()] per feature (Efron ties). The hazard ratio
#'   `hr` is per `scale` units of the feature: with `per = "sd"` (default)
#'   one standard deviation of the feature over the patients in the model
#'   (so features in different units compare), with `per = "unit"` one
#'   unit of the feature as documented in [spatial_profile()] (one cell
#'   per mm^2, one micron, ...). `lo`, `hi` are the Wald confidence limits
#'   at `level`; `p` is the likelihood-ratio p-value for a numeric feature
#'   (valid also when the Wald test is not: a feature that orders the
#'   events almost perfectly has a huge standard error and a Wald p near
#'   1) and the Wald p-value of each level of a categorical one; `fdr` the
#'   Benjamini-Hochberg adjusted p over all rows. A categorical feature
#'   (e.g. `architecture`) gets one row per level against its first level
#'   (`term`). A numeric feature that separates the outcomes (the model's
#'   coefficient runs off to infinity) keeps its likelihood-ratio `p`, with
#'   `NA` hazard ratio and a note.
#' * **Categorical outcome** (`group`): a numeric feature is compared
#'   between the groups with the Wilcoxon rank-sum test (two groups) or
#'   the Kruskal-Wallis test (more); a categorical feature with Fisher's
#'   exact test of the contingency table.
#'
#' A feature gets `NA` and a `note` when it is constant over the patients,
#' has fewer than two distinct values, when fewer than `min_events` events
#' (or, for group tests, fewer than two groups with data) remain after
#' leaving out missing values, when it has no value at all, or when the
#' model fails (the warning is kept in `note`).
#'
#' @param profile A `spatial_profile` (one row per patient, or per image
#'   when images are independent units: a profile with several images of
#'   one patient, by its carried patient column, is refused).
#' @param clinical A data frame with the outcome and the `by` column(s);
#'   `NULL` when the outcome columns are already in `profile` (carried
#'   with `carry`). Its outcome columns are used even when `profile` has
#'   columns of the same names; its patients without a row in `profile`
#'   (no images) are named in a message.
#' @param time,event Names of the survival time and event columns (event:
#'   1/`TRUE` = event, 0/`FALSE` = censored).
#' @param group Name of a categorical outcome column (instead of `time` and
#'   `event`); a numeric column with more than 10 values is refused (cut
#'   it into classes).
#' @param by Column(s) joining `profile` and `clinical`; default the
#'   profile's grouping (`"patient"` after `aggregate_profile(by =
#'   "patient")`), else the columns they share. Each value must occur once
#'   in the joined table.
#' @param features Feature columns to test; default every feature column
#'   of the profile except raw counts and totals that grow with the tissue
#'   imaged (`n_*`, `*_cells`, pair counts, `tls_n_b`, and the columns
#'   [aggregate_profile()] sums: areas, interface length) and columns
#'   identical to an earlier one.
#' @param per `"sd"` or `"unit"`: the unit of the hazard ratio.
#' @param min_events Fewest events for a Cox model.
#' @param level Confidence level.
#' @param ... Unused; a misspelled argument is an error.
#' @returns An `outcome_association` data frame. Cox models: `feature`,
#'   `term`, `n`, `n_events`, `scale` (feature units per hazard-ratio
#'   step), `hr`, `lo`, `hi`, `p`, `fdr`, `note`. Group tests: `feature`,
#'   `test` (`"wilcoxon"`, `"kruskal"`, `"fisher"`), `n`, `n_groups`,
#'   `statistic`, `p`, `fdr`, `note`. `autoplot()` draws a forest plot of
#'   the hazard ratios (or the -log10 p of the group tests).
#' @seealso [spatial_profile()], [aggregate_profile()].
#' @export
#' @examples
#' set.seed(1)
#' prof <- structure(
#'     data.frame(patient = paste0("p", 1:40), density_cd8 = rexp(40, 0.01),
#'                note = NA_character_),
#'     class = c("spatial_profile", "immunoscape_result", "data.frame"),
#'     aggregate = c(density_cd8 = "mean"), by = "patient")
#' clin <- data.frame(patient = paste0("p", 1:40),
#'                    time = rexp(40, exp(-0.005 * prof$density_cd8)),
#'                    event = rbinom(40, 1, 0.8),
#'                    stage = sample(c("I", "II"), 40, TRUE))
#' associate_outcome(prof, clin, time = "time", event = "event")
#' associate_outcome(prof, clin, group = "stage")
associate_outcome <- function(profile, clinical = NULL, time = NULL,
                              event = NULL, group = NULL, by = NULL,
                              features = NULL, per = c("sd", "unit"),
                              min_events = 5, level = 0.95, ...) {
    check_dots(...)
    if (!is.data.frame(profile)) {
        stop_immunoscape(c(
            "{.arg profile} must be a {.cls spatial_profile}, not {.obj_type_friendly {profile}}.",
            "i" = "Make one with {.fn spatial_profile}."
        ), class = "argument")
    }
    per <- check_choice(per, c("sd", "unit"))
    min_events <- check_count(min_events, "min_events")
    if (!is.numeric(level) || length(level) != 1L || is.na(level) ||
        level <= 0 || level >= 1) {
        stop_immunoscape("{.arg level} must be one number between 0 and 1.",
                         class = "argument")
    }
    survival <- !is.null(time) || !is.null(event)
    if (survival == !is.null(group)) {
        stop_immunoscape(c(
            "Give either {.arg time} and {.arg event} (survival) or {.arg group} (a categorical outcome).",
            "i" = "For example {.code time = \"survival_days\", event = \"survival_status\"}."
        ), class = "argument")
    }
    for (a in c("time", "event", "group")) {
        v <- get(a)
        if (!is.null(v)) check_string(v, a)
    }
    data <- outcome_data(profile, clinical, by,
                         c(time = time, event = event, group = group))
    # the join columns (patient ids) and the outcome are not features
    feats <- outcome_features(profile, features,
                              drop = c(attr(data, "by"), time, event, group))
    if (survival) {
        if (is.null(time) || is.null(event)) {
            stop_immunoscape("Give both {.arg time} and {.arg event}.",
                             class = "argument")
        }
        check_column(data, time, "time")
        check_column(data, event, "event")
        tt <- data[[time]]
        ev <- data[[event]]
        if (is.logical(ev)) ev <- as.integer(ev)
        if (!is.numeric(tt) || any(tt < 0 | is.infinite(tt), na.rm = TRUE)) {
            bad <- if (is.numeric(tt)) which(tt < 0 | is.infinite(tt))
            stop_immunoscape(c(
                "{.arg time} column {.field {time}} must be numeric, finite and >= 0.",
                "x" = if (length(bad)) "{cli::qty(length(bad))}Row{?s} {utils::head(bad, 5)}{if (length(bad) > 5) ' ...'}: {utils::head(tt[bad], 5)}.",
                "i" = "Give censored follow-up as the last time seen with {.arg event} 0, or NA to leave a row out."
            ), class = "column")
        }
        if (!is.numeric(ev) || !all(ev %in% c(0, 1, NA))) {
            stop_immunoscape("{.arg event} column {.field {event}} must be 0/1 or logical.",
                             class = "column")
        }
        rows <- lapply(feats, function(f) {
            cox_feature(data[[f]], tt, ev, f, per, min_events, level)
        })
        out <- do.call(rbind, rows)
        kind <- "cox"
    } else {
        check_column(data, group, "group")
        g <- data[[group]]
        ng <- length(unique(g[!is.na(g)]))
        if (is.numeric(g) && ng > 10L) {
            stop_immunoscape(c(
                "{.arg group} column {.field {group}} is numeric with {ng} distinct values: a categorical outcome is needed.",
                "i" = "Cut it into classes first, e.g. {.code clinical${group}_class <- cut(clinical${group}, c(-Inf, 65, Inf))}."
            ), class = "column")
        }
        rows <- lapply(feats, function(f) group_test(data[[f]], g, f))
        out <- do.call(rbind, rows)
        kind <- "group"
    }
    out$fdr <- stats::p.adjust(out$p, method = "BH")
    out <- out[c(setdiff(names(out), c("fdr", "note")), "fdr", "note")]
    rownames(out) <- NULL
    structure(out,
              class = c("outcome_association", "immunoscape_result",
                        "data.frame"),
              kind = kind, per = per, level = level,
              outcome = c(time, event, group))
}

outcome_features <- function(profile, features, drop = NULL,
                             call = rlang::caller_env()) {
    all <- names(attr(profile, "aggregate")) %||%
        setdiff(names(profile), c("image", "note"))
    all <- intersect(all, names(profile))
    if (is.null(features)) {
        feats <- setdiff(all[!count_feature(all, attr(profile, "aggregate"))],
                         c(drop, attr(profile, "image_groups")))
        feats <- feats[vapply(feats, function(f) {
            v <- profile[[f]]
            is.numeric(v) || is.logical(v) ||
                # a label column with a value per row is an id, not a
                # category to test
                ((is.factor(v) || is.character(v)) &&
                     anyDuplicated(v[!is.na(v)]) > 0L)
        }, logical(1))]
        # a column equal to an earlier one (e.g. tumor_density and
        # density_tumor when the tumour is one type named "Tumor"); columns
        # without any value stay, to be reported as such
        vals <- lapply(feats, function(f) profile[[f]])
        dup <- duplicated(vals) &
            !vapply(vals, function(v) all(is.na(v)), logical(1))
        return(feats[!dup])
    }
    check_choice_multi(features, all, "features", call = call)
}

# Raw counts and totals that grow with the tissue imaged, not features to
# relate to outcome: counts (n_*, *_cells but densities, *_pairs, *_n_*)
# and what is pooled over a patient's images by summing (areas, interface
# length, TLS counts) when the rules are known.
count_feature <- function(cols, rules = NULL) {
    pattern <- grepl("^n_|_cells$|_pairs$|_n_[a-z0-9]+$", cols) &
        !grepl("^density_", cols)
    r <- if (is.null(rules)) rep(NA_character_, length(cols)) else
        unname(rules[cols])
    pattern | (!is.na(r) & r == "sum")
}

# Join profile and clinical table, one row per unit.
outcome_data <- function(profile, clinical, by, outcome,
                         call = rlang::caller_env()) {
    df <- as.data.frame(profile)
    if (is.null(clinical)) {
        data <- df
        by <- by %||% attr(profile, "by") %||% "image"
        by <- intersect(by, names(df))
        # images of one patient are not independent units
        pc <- patient_column(profile)
        per_image <- identical(attr(profile, "by") %||% "image", "image")
        if (per_image && "image" %in% names(df) && pc %in% names(df) &&
            anyDuplicated(df[[pc]][!is.na(df[[pc]])])) {
            stop_immunoscape(c(
                "{.arg profile} has several images per {.field {pc}}: the units of an outcome model must be independent.",
                "i" = "Pool the images of a patient first: {.code aggregate_profile(profile, by = \"{pc}\")}."
            ), class = "argument", call = call)
        }
    } else {
        check_data_frame(clinical, "clinical", call = call)
        by <- by %||% {
            b <- attr(profile, "by")
            # (not the outcome, which may be carried in the profile too)
            if (!is.null(b) && all(b %in% names(clinical))) b else
                setdiff(intersect(names(df), names(clinical)), outcome)
        }
        if (!length(by)) {
            stop_immunoscape(c(
                "{.arg profile} and {.arg clinical} share no column to join them.",
                "i" = "Name the patient column with {.arg by}."
            ), class = "column", call = call)
        }
        for (b in by) {
            check_column(df, b, "by", call = call)
            check_column(clinical, b, "by", call = call)
        }
        # the outcome is the clinical table's: same-named columns carried
        # in the profile give way (with a message)
        shadow <- setdiff(intersect(intersect(outcome, names(clinical)),
                                    names(df)), by)
        if (length(shadow)) {
            inform_immunoscape(c(
                "i" = "{.arg profile} has outcome column{?s} {.field {shadow}} too: {?it is/they are} taken from {.arg clinical}."
            ))
            df <- df[setdiff(names(df), shadow)]
        }
        clinical <- clinical[c(by, setdiff(names(clinical), names(df)))]
        if (anyDuplicated(clinical[by])) {
            stop_immunoscape(
                "{.arg clinical} has several rows for some value{?s} of {.field {by}}.",
                class = "argument", call = call
            )
        }
        key <- function(d) do.call(paste, c(lapply(d[by], as.character),
                                            sep = "\r"))
        at <- match(key(df), key(clinical))
        check_outcome_match(at, key(df), key(clinical), by, call)
        data <- cbind(df, clinical[at, setdiff(names(clinical), by),
                                   drop = FALSE])
    }
    if (length(by) && anyDuplicated(data[by])) {
        stop_immunoscape(c(
            "Several rows of {.arg profile} per {.field {by}}: the units of an outcome model must be independent.",
            "i" = "Pool the images of a patient first: {.code aggregate_profile(profile, by = \"{patient_column(profile)}\")}."
        ), class = "argument", call = call)
    }
    miss <- outcome[!outcome %in% names(data)]
    given <- paste0("`", names(miss), "`", collapse = ", ")
    word <- if (length(miss) > 1L) "columns" else "column"
    if (length(miss)) {
        stop_immunoscape(c(
            "Outcome {word} {.val {miss}} (given as {given}) not found in {.arg profile} or {.arg clinical}.",
            "i" = "Pass the clinical table as {.arg clinical}, or carry the columns with {.code spatial_profile(carry = )}."
        ), class = "column", call = call)
    }
    rownames(data) <- NULL
    attr(data, "by") <- by
    data
}

# Rows of the profile without a clinical row: none matching is an error
# (ids written differently, e.g. "P1" against 1), some a message naming
# them (they have no outcome and are left out of every model).
check_outcome_match <- function(at, keys, clinical_keys, by, call) {
    shown <- function(k) {
        k <- unique(gsub("\r", " / ", k, fixed = TRUE))
        paste0(paste0('"', utils::head(k, 5), '"', collapse = ", "),
               if (length(k) > 5) ", ..." else "")
    }
    if (length(at) && all(is.na(at))) {
        stop_immunoscape(c(
            "No row of {.arg profile} matches a row of {.arg clinical} by {.field {by}}.",
            "i" = "{.arg profile} has {shown(keys)}; {.arg clinical} has {shown(clinical_keys)}.",
            "i" = "Make the ids alike (type, prefixes, padding) or name the right column with {.arg by}."
        ), class = "argument", call = call)
    }
    miss <- unique(keys[is.na(at)])
    if (length(miss)) {
        inform_immunoscape(c(
            "i" = "{length(miss)} {.field {by}} value{?s} of {.arg profile} {?has/have} no row in {.arg clinical} and {?is/are} left out of the models: {shown(miss)}."
        ))
    }
    unseen <- setdiff(clinical_keys, keys)
    if (length(unseen)) {
        inform_immunoscape(c(
            "i" = "{length(unseen)} {.field {by}} value{?s} of {.arg clinical} {?has/have} no row in {.arg profile} (no images) and {?is/are} left out of the models: {shown(unseen)}."
        ))
    }
    invisible()
}

cox_row <- function(feature, term = NA_character_, n = NA_integer_,
                    n_events = NA_integer_, scale = NA_real_, hr = NA_real_,
                    lo = NA_real_, hi = NA_real_, p = NA_real_,
                    note = NA_character_) {
    data.frame(feature = feature, term = term, n = n, n_events = n_events,
               scale = scale, hr = hr, lo = lo, hi = hi, p = p, note = note)
}

cox_feature <- function(x, time, event, feature, per, min_events, level) {
    if (is.logical(x) || is.character(x)) x <- factor(x)
    ok <- !is.na(time) & !is.na(event) &
        (if (is.numeric(x)) is.finite(x) else !is.na(x))
    n <- sum(ok)
    nev <- as.integer(sum(event[ok]))
    x <- x[ok]
    if (is.factor(x)) x <- droplevels(x)
    distinct <- if (is.factor(x)) nlevels(x) else length(unique(x))
    if (!n) {
        return(cox_row(feature, n = n, n_events = nev,
                       note = "no value (missing for every patient)"))
    }
    if (distinct < 2L) {
        return(cox_row(feature, n = n, n_events = nev,
                       note = "constant (fewer than two distinct values)"))
    }
    if (nev < min_events) {
        return(cox_row(feature, n = n, n_events = nev,
                       note = sprintf("too few events (%d < %d)", nev,
                                      min_events)))
    }
    scale <- if (is.numeric(x) && per == "sd") stats::sd(x) else 1
    z <- if (is.numeric(x)) x / scale else x
    d <- data.frame(time = time[ok], event = event[ok], z = z)
    warn <- NULL
    fit <- withCallingHandlers(
        tryCatch(survival::coxph(survival::Surv(time, event) ~ z, data = d),
                 error = function(e) e),
        warning = function(w) {
            warn <<- c(warn, conditionMessage(w))
            invokeRestart("muffleWarning")
        })
    if (inherits(fit, "error")) {
        return(cox_row(feature, n = n, n_events = nev,
                       note = paste("model failed:", conditionMessage(fit))))
    }
    co <- summary(fit, conf.int = level)$coefficients
    b <- co[, "coef"]
    se <- co[, "se(coef)"]
    q <- stats::qnorm(1 - (1 - level) / 2)
    term <- if (is.factor(x)) {
        paste(levels(x)[-1], "vs", levels(x)[1])
    } else NA_character_
    note <- if (length(warn)) paste(unique(gsub("\\s+", " ", warn)),
                                    collapse = "; ") else NA_character_
    hr <- exp(b)
    lo <- exp(b - q * se)
    hi <- exp(b + q * se)
    p <- co[, "Pr(>|z|)"]
    if (is.numeric(x)) {
        # the likelihood-ratio test: valid where the Wald test is not (a
        # feature that orders the events (nearly) perfectly has a huge
        # coefficient and a huger standard error, and a Wald p near 1)
        lr <- 2 * (fit$loglik[2] - fit$loglik[1])
        p <- stats::pchisq(max(lr, 0), df = 1, lower.tail = FALSE)
        if (any(grepl("infinite|converge", warn))) {
            hr <- lo <- hi <- NA_real_
            note <- "the feature separates the outcomes (the hazard ratio is infinite or zero): no hazard ratio; p from the likelihood-ratio test"
        }
    }
    cox_row(feature, term = term, n = n, n_events = nev, scale = scale,
            hr = hr, lo = lo, hi = hi, p = p, note = note)
}

group_test <- function(x, g, feature) {
    if (is.logical(x) || is.character(x)) x <- factor(x)
    ok <- !is.na(g) & (if (is.numeric(x)) is.finite(x) else !is.na(x))
    x <- x[ok]
    g <- droplevels(factor(g[ok]))
    row <- function(test, statistic = NA_real_, p = NA_real_,
                    note = NA_character_) {
        data.frame(feature = feature, test = test, n = length(x),
                   n_groups = nlevels(g), statistic = statistic, p = p,
                   note = note)
    }
    cat_x <- is.factor(x)
    test <- if (cat_x) "fisher" else if (nlevels(g) == 2L) "wilcoxon" else
        "kruskal"
    if (!length(x)) return(row(test, note = "no value (missing for every patient)"))
    if (nlevels(g) < 2L) return(row(test, note = "fewer than two groups with data"))
    distinct <- if (cat_x) nlevels(droplevels(x)) else length(unique(x))
    if (distinct < 2L) {
        return(row(test, note = "constant (fewer than two distinct values)"))
    }
    res <- suppressWarnings(switch(test,
        wilcoxon = stats::wilcox.test(x ~ g, exact = FALSE),
        kruskal = stats::kruskal.test(x, g),
        fisher = stats::fisher.test(table(droplevels(x), g),
                                    simulate.p.value = FALSE,
                                    workspace = 2e6)))
    row(test, statistic = unname(res$statistic %||% NA_real_),
        p = res$p.value)
}

#' @export
print.outcome_association <- function(x, ...) {
    kind <- attr(x, "kind")
    what <- if (kind == "cox") {
        sprintf("Cox models (hazard ratio per %s)",
                if (attr(x, "per") == "sd") "SD" else "unit")
    } else "group tests"
    cat(sprintf("<outcome_association> %s of %s: %d feature%s, %d with FDR < 0.05\n",
                what, paste(attr(x, "outcome"), collapse = " / "),
                length(unique(x$feature)),
                if (length(unique(x$feature)) == 1) "" else "s",
                sum(x$fdr < 0.05, na.rm = TRUE)))
    df <- as.data.frame(x)
    df <- df[order(df$p), , drop = FALSE]
    print(utils::head(df, 15), row.names = FALSE, digits = 3, ...)
    invisible(x)
}

#' @rdname associate_outcome
#' @param object An `outcome_association` result.
#' @export
summary.outcome_association <- function(object, ...) {
    check_dots(...)
    data.frame(kind = attr(object, "kind"), n_tests = nrow(object),
               n_tested = sum(!is.na(object$p)),
               n_p05 = sum(object$p < 0.05, na.rm = TRUE),
               n_fdr05 = sum(object$fdr < 0.05, na.rm = TRUE),
               min_p = suppressWarnings(min(object$p, na.rm = TRUE)))
}

#' @rdname associate_outcome
#' @param limit Draw at most this many features (the smallest p first).
#' @export
autoplot.outcome_association <- function(object, limit = 40, ...) {
    check_dots(...)
    limit <- check_count(limit, "limit")
    df <- as.data.frame(object)
    untested <- unique(df$feature[is.na(df$p)])
    df <- df[!is.na(df$p), , drop = FALSE]
    if (!nrow(df)) {
        # an empty figure that says why (a report keeps its section)
        return(ggplot2::ggplot() +
                   ggplot2::annotate("text", x = 0, y = 0, size = 4,
                                     label = "No feature could be tested: see the note column.") +
                   ggplot2::labs(caption = missing_caption(
                       untested, "not tested")) +
                   ggplot2::theme_void())
    }
    # features whose hazard ratio is infinite have a p but no estimate
    no_hr <- if (attr(object, "kind") == "cox") {
        unique(df$feature[is.na(df$hr)])
    }
    if (length(no_hr)) df <- df[!is.na(df$hr), , drop = FALSE]
    n_all <- nrow(df)
    df <- utils::head(df[order(df$p), , drop = FALSE], limit)
    caption <- c(
        if (n_all > nrow(df)) sprintf(
            "the %d smallest p of %d (see `limit`)", nrow(df), n_all),
        missing_caption(untested, "not tested (see the note column)"),
        missing_caption(no_hr, "without a hazard ratio (they separate the outcomes)"))
    caption <- if (length(caption)) paste(caption, collapse = "; ")
    term <- if (is.null(df$term)) rep(NA_character_, nrow(df)) else df$term
    df$label <- ifelse(is.na(term), df$feature,
                       paste0(df$feature, " (", term, ")"))
    df$signif <- factor(ifelse(df$fdr < 0.05, "FDR < 0.05",
                               ifelse(df$p < 0.05, "p < 0.05", "n.s.")),
                        levels = c("FDR < 0.05", "p < 0.05", "n.s."))
    cols <- c("FDR < 0.05" = "#B2182B", "p < 0.05" = "#EF8A62",
              "n.s." = "grey40")
    if (attr(object, "kind") == "cox") {
        df$label <- stats::reorder(df$label, df$hr)
        unit <- if (attr(object, "per") == "sd") "per SD" else "per unit"
        ggplot2::ggplot(df, ggplot2::aes(x = .data$hr, y = .data$label,
                                         colour = .data$signif)) +
            ggplot2::geom_vline(xintercept = 1, linetype = 2) +
            ggplot2::geom_errorbarh(ggplot2::aes(xmin = .data$lo,
                                                 xmax = .data$hi),
                                    height = 0.25) +
            ggplot2::geom_point(size = 2) +
            ggplot2::scale_x_log10() +
            ggplot2::scale_colour_manual(values = cols, drop = FALSE,
                                         name = NULL) +
            ggplot2::labs(x = sprintf("hazard ratio %s (%s%% CI, log scale)",
                                      unit, format(100 * attr(object,
                                                              "level"))),
                          y = NULL,
                          title = "Spatial features and survival",
                          subtitle = paste0(
                              "univariable Cox models; ",
                              span_text("n", df$n), ", ",
                              span_text("events", df$n_events)),
                          caption = caption) +
            ggplot2::theme_minimal()
    } else {
        df$label <- stats::reorder(df$label, -log10(df$p))
        ggplot2::ggplot(df, ggplot2::aes(x = -log10(.data$p), y = .data$label,
                                         fill = .data$signif)) +
            ggplot2::geom_col() +
            ggplot2::geom_vline(xintercept = -log10(0.05), linetype = 2) +
            ggplot2::scale_fill_manual(values = cols, drop = FALSE,
                                       name = NULL) +
            ggplot2::labs(x = "-log10 p", y = NULL,
                          title = sprintf("Spatial features by %s",
                                          attr(object, "outcome")),
                          subtitle = paste0(span_text("n", df$n),
                                            "; dashed: p = 0.05"),
                          caption = caption) +
            ggplot2::theme_minimal()
    }
}

# "n = 50", or "n = 23 to 50" when the models drawn differ.
span_text <- function(what, v) {
    v <- v[!is.na(v)]
    if (!length(v)) return(sprintf("%s = NA", what))
    if (min(v) == max(v)) sprintf("%s = %d", what, max(v)) else
        sprintf("%s = %d to %d (by feature)", what, min(v), max(v))
}
