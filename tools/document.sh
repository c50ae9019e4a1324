#!/bin/sh
# Regenerate NAMESPACE and man/ from the roxygen comments without compiling
# inside the working tree (several people may be editing it). The R code is
# sourced (roxygen's load = "source"), so no compiler or pkgbuild is needed.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
mkdir "$tmp"/pkg
(cd "$top" && tar --exclude=.git --exclude='*.o' --exclude='*.so' \
    --exclude='*.Rcheck' -cf - .) | (cd "$tmp"/pkg && tar -xf -)
(cd "$tmp"/pkg && Rscript -e 'roxygen2::roxygenise(load_code = "source")' > "$tmp"/roxygen.log 2>&1) || { cat "$tmp"/roxygen.log; exit 1; }
grep -E "^(Warning|Error)" "$tmp"/roxygen.log || true
rm -rf "$top"/man
cp -R "$tmp"/pkg/man "$top"/man
cp "$tmp"/pkg/NAMESPACE "$top"/NAMESPACE
rm -rf "$tmp"
