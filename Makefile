# immunoscape -- set-up contract: `make demo` and `make check` work on a
# fresh machine, installing what they need first (quiet when done).

R       ?= R
RSCRIPT ?= Rscript
PKG     := immunoscape
VERSION := $(shell sed -n 's/^Version: *//p' DESCRIPTION)
TARBALL := $(PKG)_$(VERSION).tar.gz
CHECKDIR := $(PKG).Rcheck
DEMO_OUT ?= $(CURDIR)/demo-out

.PHONY: all deps install demo check test bench clean document

all: check

deps:
	@$(RSCRIPT) tools/install-deps.R

# Install from a built tarball so that the vignettes are built and
# installed (vignette("immunoscape") works afterwards). The tarball in
# .build/ is rebuilt only when a source file changed.
BUILD_DIR := .build
SOURCES := DESCRIPTION NAMESPACE $(wildcard R/*.R src/*.c src/*.h src/Makevars* \
	man/*.Rd vignettes/*.Rmd inst/*/* LICENSE)

$(BUILD_DIR)/$(TARBALL): $(SOURCES)
	@mkdir -p $(BUILD_DIR)
	@rm -f $(BUILD_DIR)/$(PKG)_*.tar.gz
	@cd $(BUILD_DIR) && $(R) CMD build --no-manual "$(CURDIR)" > build.log 2>&1 || \
	    { cat build.log; exit 1; }
	@rm -f $(BUILD_DIR)/build.log

install: deps $(BUILD_DIR)/$(TARBALL)
	@$(R) CMD INSTALL --no-multiarch $(BUILD_DIR)/$(TARBALL) > .install.log 2>&1 || \
	    { cat .install.log; exit 1; }
	@rm -f .install.log

demo: install
	@$(RSCRIPT) tools/demo.R "$(DEMO_OUT)"

# Build the tarball, run R CMD check (tests, examples, vignettes), then
# print the testthat tally. Fails on any test failure, error or warning.
check: deps
	@rm -rf $(CHECKDIR) $(TARBALL)
	@$(R) CMD build --no-manual . > .build.log 2>&1 || { cat .build.log; exit 1; }
	@rm -f .build.log
	@status=0; \
	_R_CHECK_FORCE_SUGGESTS_=false _R_CHECK_SYSTEM_CLOCK_=false \
	  $(R) CMD check --no-manual $(TARBALL) || status=$$?; \
	$(RSCRIPT) tools/test-tally.R $(CHECKDIR) || status=1; \
	if grep -q "^\* .*WARNING$$" $(CHECKDIR)/00check.log; then \
	  echo "R CMD check reported warnings"; status=1; fi; \
	exit $$status

# Tests only, against the installed package (faster than check).
test: install
	@$(RSCRIPT) -e 'res <- testthat::test_local(".", load_package = "installed", stop_on_failure = FALSE)' \
	  -e 'df <- as.data.frame(res); cat(sprintf("%d passed, %d failed, %d skipped\n", sum(df$$passed), sum(df$$failed) + sum(df$$error), sum(df$$skipped)))'

bench: install
	@for f in bench/*.R; do echo "== $$f"; $(RSCRIPT) $$f || exit 1; done

document:
	@$(RSCRIPT) -e 'roxygen2::roxygenise()'

clean:
	rm -rf $(CHECKDIR) $(PKG)_*.tar.gz src/*.o src/*.so demo-out $(BUILD_DIR)
