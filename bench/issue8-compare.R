# Compare two outputs of bench/issue8-cohort.R (before = old code on main,
# after = this branch):  Rscript bench/issue8-compare.R before.rds after.rds
args <- commandArgs(TRUE)
b <- readRDS(args[1])
a <- readRDS(args[2])
sb <- b$summary_l
sa <- a$summary_l
m <- merge(sb[c("image", "direction", "area_theo", "area_mmean")],
           sa[c("image", "direction", "significant")], by = "image",
           suffixes = c("_before", "_after"))
cat("Tumor -> CD8 T, L function, random-labelling envelope (nsim 99)\n")
cat("before (sign of area against CSR):\n")
print(table(m$direction_before, useNA = "ifany"))
cat("after (against the envelope):\n")
print(table(m$direction_after, useNA = "ifany"))
cat("before x after:\n")
print(table(before = m$direction_before, after = m$direction_after,
            useNA = "ifany"))
both <- !is.na(m$direction_before) & !is.na(m$direction_after)
flip <- both & m$direction_after != "not significant" &
    m$direction_before != m$direction_after
cat(sprintf("images whose direction flips (attraction <-> avoidance): %d of %d\n",
            sum(flip), sum(both)))
cat(sprintf("images that change call in any way: %d of %d\n",
            sum(both & m$direction_before != m$direction_after), sum(both)))
cat(sprintf("sign of area_mmean: %d positive, %d negative\n",
            sum(m$area_mmean > 0, na.rm = TRUE),
            sum(m$area_mmean < 0, na.rm = TRUE)))
cat(sprintf("L envelope time: before %.1f s, after %.1f s\n", b$time_l,
            a$time_l))
ab <- b$arch
aa <- a$arch
cat("\nArchitecture (immune = CD8 T, CD4 T, B cell, Monocyte/Macrophage)\n")
cat(sprintf("before: radius %s um, min_immune %s cells; after: radius %s um, min_immune %s per mm^2\n",
            b$arch_attr$radius, b$arch_attr$min_immune, a$arch_attr$radius,
            a$arch_attr$min_immune))
print(table(before = ab$class, after = aa$class[match(ab$image, aa$image)],
            useNA = "ifany"))
cat("immune density of fields cold before, not cold after (per mm^2):\n")
x <- aa$immune_density[match(ab$image, aa$image)]
print(summary(x[ab$class %in% "cold" & !aa$class[match(ab$image, aa$image)]
                %in% "cold"]))
cat(sprintf("infinite mixing scores after: %d (all with a note: %s)\n",
            sum(is.infinite(aa$mixing_score)),
            all(!is.na(aa$note[is.infinite(aa$mixing_score)]))))
print(aa[is.na(aa$class), ])
