# Install whatever the package needs that is missing: Debian binaries
# (r-cran-*, r-bioc-*) where apt can provide them, CRAN source otherwise.
# Idempotent and silent when everything is already there.
#
# Usage: Rscript tools/install-deps.R [extra packages...]

desc <- read.dcf("DESCRIPTION", fields = c("Imports", "Suggests", "LinkingTo"))
parse_deps <- function(x) {
    if (is.na(x)) return(character())
    x <- gsub("\\([^)]*\\)", "", x)
    x <- trimws(unlist(strsplit(x, ",")))
    x[nzchar(x)]
}
wanted <- unique(c(parse_deps(desc[, "Imports"]), parse_deps(desc[, "Suggests"]),
                   parse_deps(desc[, "LinkingTo"]), commandArgs(TRUE)))
base <- rownames(installed.packages(priority = "base"))
wanted <- setdiff(wanted, base)
# Packages Debian does not ship, installed after the others: from
# Bioconductor when BiocManager can reach a repository, else from the source
# tarball vendored in ../shared/vendor (path relative to the repository).
vendored <- c(SpatialExperiment = "../shared/vendor/SpatialExperiment_1.8.1.tar.gz")
later <- intersect(wanted, names(vendored))
wanted <- setdiff(wanted, names(vendored))
have <- function(p) nzchar(system.file(package = p))
# Debian packages the vendored sources need (see ../shared/vendor/README.md)
vendor_deps <- c("SingleCellExperiment", "SummarizedExperiment", "S4Vectors",
                 "BiocGenerics", "BiocFileCache", "DropletUtils", "magick",
                 "rjson")
if (length(later) && !have("SpatialExperiment")) {
    wanted <- unique(c(wanted, vendor_deps))
}

install_vendored <- function(pkgs) {
    for (p in pkgs[!vapply(pkgs, have, logical(1))]) {
        ok <- FALSE
        if (have("BiocManager")) {
            # BiocManager only when a repository answers (fails soft offline)
            repo <- tryCatch(suppressMessages(suppressWarnings(
                BiocManager::repositories()[["BioCsoft"]])),
                error = function(e) NULL)
            reach <- !is.null(repo) && !inherits(try(suppressWarnings(
                readLines(url(paste0(repo, "/PACKAGES")), n = 1L)),
                silent = TRUE), "try-error")
            if (reach) {
                message("Installing ", p, " from Bioconductor")
                try(suppressMessages(BiocManager::install(
                    p, update = FALSE, ask = FALSE, quiet = TRUE)), silent = TRUE)
                ok <- have(p)
            }
        }
        src <- vendored[[p]]
        if (!ok && file.exists(src)) {
            message("Installing ", p, " from ", src)
            lib <- .libPaths()[1]
            st <- system2(file.path(R.home("bin"), "R"),
                          c("CMD", "INSTALL", "--no-multiarch", "-l",
                            shQuote(lib), shQuote(src)),
                          stdout = FALSE, stderr = FALSE)
            ok <- st == 0 && have(p)
        }
        if (!ok) {
            message("Not installed (optional, its tests are skipped): ", p)
        }
    }
}

missing <- wanted[!vapply(wanted, have, logical(1))]
if (!length(missing)) {
    install_vendored(later)
    quit(status = 0)
}

apt_ok <- nzchar(Sys.which("apt-get")) &&
    identical(unname(Sys.info()[["user"]]), "root")
if (apt_ok) {
    cand <- c(paste0("r-cran-", tolower(missing)), paste0("r-bioc-", tolower(missing)))
    avail <- function() {
        out <- suppressWarnings(system2("apt-cache", c("policy", cand),
                                        stdout = TRUE, stderr = FALSE))
        pk <- sub(":$", "", out[grepl("^r-(cran|bioc)-", out)])
        cv <- trimws(sub(".*Candidate:", "", out[grepl("Candidate:", out)]))
        pk[cv != "(none)"]
    }
    debs <- avail()
    if (length(debs) < length(missing)) {
        message("Updating the apt package index ...")
        system2("apt-get", c("update", "-qq"), stdout = FALSE, stderr = FALSE)
        debs <- avail()
    }
    if (length(debs)) {
        message("Installing Debian packages: ", paste(debs, collapse = " "))
        st <- system2("apt-get", c("install", "-y", "-qq", "--no-install-recommends", debs),
                      env = "DEBIAN_FRONTEND=noninteractive",
                      stdout = FALSE, stderr = FALSE)
        if (st != 0) message("apt-get returned ", st, "; trying CRAN for the rest")
    }
    missing <- missing[!vapply(missing, have, logical(1))]
}
cran <- missing
if (length(cran)) {
    message("Installing from CRAN: ", paste(cran, collapse = " "))
    utils::install.packages(cran, repos = "https://cloud.r-project.org",
                            quiet = TRUE, Ncpus = 2L)
}
still <- missing[!vapply(missing, have, logical(1))]
hard <- setdiff(still, c(parse_deps(desc[, "Suggests"]), vendor_deps))
if (length(still)) {
    message("Not installed (optional, their tests are skipped): ",
            paste(still, collapse = " "))
}
if (length(hard)) {
    message("Required packages could not be installed: ", paste(hard, collapse = " "))
    quit(status = 1)
}
install_vendored(later)
