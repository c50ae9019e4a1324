# spatial_profile() on a SLURM cluster through BiocParallel's
# BatchtoolsParam (batchtools::makeClusterFunctionsSlurm() on the given
# template) must equal the serial result. Called by tools/cluster-check.sh
# with the working directory and the job template.
args <- commandArgs(TRUE)
work <- args[1]
template <- args[2]
suppressPackageStartupMessages({
    library(immunoscape)
    library(BiocParallel)
})
options(immunoscape.verbose = FALSE)

# a cohort of 16 images from 8 patients, with a planted gradient of CD8
# infiltration
set.seed(2024)
images <- lapply(1:16, function(i) {
    n <- 1500
    x <- runif(n, 0, 600)
    y <- runif(n, 0, 400)
    tumour <- x < 300 + 40 * sin(y / 50)
    p_cd8 <- if (i %% 2) 0.3 else 0.05
    type <- ifelse(tumour,
                   sample(c("Tumor", "CD8 T"), n, TRUE, c(1 - p_cd8, p_cd8)),
                   sample(c("CD8 T", "Treg", "B", "Fibroblast"), n, TRUE))
    data.frame(x = x, y = y, type = type, image = sprintf("img%02d", i),
               patient = sprintf("pt%d", (i + 1) %/% 2))
})
cells <- spatial_cells(do.call(rbind, images), image = "image")

profile <- function(bp) {
    set.seed(7)
    spatial_profile(cells, tumor = "Tumor", nperm = 99, nsim = 19,
                    n_neighborhoods = 4, nthreads = 1, BPPARAM = bp)
}
t0 <- proc.time()[["elapsed"]]
serial <- profile(SerialParam())
t1 <- proc.time()[["elapsed"]]

dir.create(file.path(work, "joblogs"))
bp <- BatchtoolsParam(
    workers = 4, cluster = "slurm", template = template,
    resources = list(walltime = 600, ncpus = 1),
    registryargs = batchtoolsRegistryargs(
        file.dir = file.path(work, "registry"), work.dir = work,
        packages = character(), namespaces = character(), source = character(),
        load = character()),
    stop.on.error = TRUE, log = TRUE, logdir = file.path(work, "joblogs"))
cluster <- profile(bp)
t2 <- proc.time()[["elapsed"]]

ok <- identical(cluster, serial)
cat(sprintf("cluster-check: %d images x %d columns; serial %.1f s, SLURM (BatchtoolsParam, %d workers) %.1f s; identical: %s\n",
            nrow(serial), ncol(serial), t1 - t0, bpnworkers(bp), t2 - t1, ok))
if (!ok) {
    print(all.equal(cluster, serial))
    quit(status = 1)
}
