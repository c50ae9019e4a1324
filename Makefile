# immunoscape -- set-up contract: `make demo` and `make check` work on a
# fresh machine, installing what they need first (quiet when done).

R       ?= R
RSCRIPT ?= Rscript
PKG     := immunoscape
VERSION := $(shell sed -n 's/^Version: *//p' DESCRIPTION)
TARBALL := $(PKG)_$(VERSION).tar.gz
CHECKDIR := $(PKG).Rcheck
DEMO_OUT ?= $(CURDIR)/demo-out

.PHONY: all deps install demo check check-cran test bench clean document \
        sanitize valgrind fuzz gctorture harden

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

# R CMD check --as-cran (with qpdf for the PDF size checks); fails on any
# WARNING. Offline machines cannot reach CRAN's clock, hence
# _R_CHECK_SYSTEM_CLOCK_=false; Bioconductor's index may be unreachable too
# (a message, not a finding).
check-cran: deps
	@command -v qpdf > /dev/null || \
	    { apt-get install -y -qq qpdf > /dev/null 2>&1 || \
	      sudo apt-get install -y -qq qpdf > /dev/null; }
	@rm -rf $(CHECKDIR) $(TARBALL)
	@$(R) CMD build --no-manual . > .build.log 2>&1 || { cat .build.log; exit 1; }
	@rm -f .build.log
	@status=0; \
	_R_CHECK_SYSTEM_CLOCK_=false \
	  $(R) CMD check --as-cran --no-manual $(TARBALL) || status=$$?; \
	if grep -q "^\* .*WARNING$$" $(CHECKDIR)/00check.log; then \
	  echo "R CMD check --as-cran reported warnings"; status=1; fi; \
	exit $$status

# Tests only, against the installed package (faster than check).
test: install
	@$(RSCRIPT) -e 'res <- testthat::test_local(".", load_package = "installed", stop_on_failure = FALSE)' \
	  -e 'df <- as.data.frame(res); cat(sprintf("%d passed, %d failed, %d skipped\n", sum(df$$passed), sum(df$$failed) + sum(df$$error), sum(df$$skipped)))'

bench: install
	@for f in bench/*.R; do echo "== $$f"; $(RSCRIPT) $$f || exit 1; done

# ---- hardening (issue 12) ------------------------------------------------
# Each target builds into its own private library under .harden/ (never the
# system one) and fails on any report.
HARDEN := $(CURDIR)/.harden
SAN_FLAGS := -fsanitize=address,undefined,float-cast-overflow \
             -fno-sanitize-recover=undefined,float-cast-overflow
FUZZ_SECONDS ?= 120
FUZZ_SEED ?= 1

# ASan + UBSan (+ float-cast-overflow) build, the whole test suite run with
# the sanitizer runtimes preloaded by their literal paths.
sanitize: deps
	@mkdir -p $(HARDEN)/sanitize/lib
	@printf 'CFLAGS = -g -O1 -fno-omit-frame-pointer $(SAN_FLAGS)\nLDFLAGS = -fsanitize=address,undefined\n' \
	    > $(HARDEN)/sanitize/Makevars
	@R_MAKEVARS_USER=$(HARDEN)/sanitize/Makevars $(R) CMD INSTALL --preclean \
	    --no-test-load --no-multiarch -l $(HARDEN)/sanitize/lib . \
	    > $(HARDEN)/sanitize/install.log 2>&1 || \
	    { cat $(HARDEN)/sanitize/install.log; exit 1; }
	@rm -f src/*.o src/*.so
	@asan=$$(readlink -f $$(gcc -print-file-name=libasan.so)); \
	ubsan=$$(readlink -f $$(gcc -print-file-name=libubsan.so)); \
	test -f "$$asan" -a -f "$$ubsan" || { echo "sanitizer runtimes not found"; exit 1; }; \
	echo "LD_PRELOAD=$$asan $$ubsan"; \
	LD_PRELOAD="$$asan $$ubsan" \
	ASAN_OPTIONS=detect_leaks=0:allow_user_segv_handler=1:detect_odr_violation=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	R_LIBS=$(HARDEN)/sanitize/lib $(RSCRIPT) \
	    -e 'res <- testthat::test_local(".", load_package = "installed", stop_on_failure = FALSE, reporter = "summary")' \
	    -e 'df <- as.data.frame(res); cat(sprintf("%d passed, %d failed, %d skipped\n", sum(df$$passed), sum(df$$failed) + sum(df$$error), sum(df$$skipped)))' \
	    -e 'quit(status = as.integer(sum(df$$failed) + sum(df$$error) > 0))' \
	    > $(HARDEN)/sanitize/test.log 2>&1; status=$$?; \
	tail -3 $(HARDEN)/sanitize/test.log; \
	if grep -E "runtime error:|ERROR: AddressSanitizer|SUMMARY: (Address|Undefined)" \
	    $(HARDEN)/sanitize/test.log; then echo "sanitizer report(s): see $(HARDEN)/sanitize/test.log"; exit 1; fi; \
	exit $$status

# Every .Call entry point (recorded from a tiny workload and the examples,
# 1 and 2 threads) replayed under memcheck: no invalid access, no
# uninitialised use, no definite leak in the package's code.
valgrind: deps
	@command -v valgrind > /dev/null || \
	    { apt-get install -y -qq valgrind > /dev/null 2>&1 || \
	      sudo apt-get install -y -qq valgrind > /dev/null; }
	@mkdir -p $(HARDEN)/valgrind/lib
	@printf 'CFLAGS = -g -O1\n' > $(HARDEN)/valgrind/Makevars
	@R_MAKEVARS_USER=$(HARDEN)/valgrind/Makevars $(R) CMD INSTALL --preclean \
	    --no-multiarch -l $(HARDEN)/valgrind/lib . > $(HARDEN)/valgrind/install.log 2>&1 || \
	    { cat $(HARDEN)/valgrind/install.log; exit 1; }
	@rm -f src/*.o src/*.so
	@R_LIBS=$(HARDEN)/valgrind/lib STRICT=1 $(RSCRIPT) tools/entry-calls.R record $(HARDEN)/valgrind/calls.rds
	@R_LIBS=$(HARDEN)/valgrind/lib OMP_WAIT_POLICY=passive $(R) \
	    -d "valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite --log-file=$(HARDEN)/valgrind/memcheck.log" \
	    --vanilla --no-echo -f tools/entry-calls.R --args replay $(HARDEN)/valgrind/calls.rds
	@$(RSCRIPT) tools/valgrind-check.R $(HARDEN)/valgrind/memcheck.log

# Every .Call entry point on its smallest recorded input under gctorture().
gctorture: deps
	@mkdir -p $(HARDEN)/gctorture/lib
	@$(R) CMD INSTALL --preclean --no-multiarch -l $(HARDEN)/gctorture/lib . \
	    > $(HARDEN)/gctorture/install.log 2>&1 || \
	    { cat $(HARDEN)/gctorture/install.log; exit 1; }
	@rm -f src/*.o src/*.so
	@R_LIBS=$(HARDEN)/gctorture/lib STRICT=1 $(RSCRIPT) tools/entry-calls.R record $(HARDEN)/gctorture/calls.rds
	@R_LIBS=$(HARDEN)/gctorture/lib $(RSCRIPT) tools/entry-calls.R gctorture $(HARDEN)/gctorture/calls.rds

# Randomised cases against the brute-force oracles (fixed seed, time cap).
fuzz: deps
	@mkdir -p $(HARDEN)/fuzz/lib
	@$(R) CMD INSTALL --preclean --no-multiarch -l $(HARDEN)/fuzz/lib . \
	    > $(HARDEN)/fuzz/install.log 2>&1 || \
	    { cat $(HARDEN)/fuzz/install.log; exit 1; }
	@rm -f src/*.o src/*.so
	@R_LIBS=$(HARDEN)/fuzz/lib $(RSCRIPT) tools/fuzz.R $(FUZZ_SEED) $(FUZZ_SECONDS)

harden: sanitize valgrind gctorture fuzz

document:
	@$(RSCRIPT) -e 'roxygen2::roxygenise()'

clean:
	rm -rf $(CHECKDIR) $(PKG)_*.tar.gz src/*.o src/*.so demo-out $(BUILD_DIR) .harden

# A real single-node SLURM on this machine (root; installs slurm, munge and
# r-cran-batchtools when missing), spatial_profile() through
# BiocParallel::BatchtoolsParam on it, identical to serial; then stops it.
.PHONY: cluster-check
cluster-check: install
	@sh tools/cluster-check.sh
