#!/bin/sh
# Regenerate NAMESPACE and man/ from the roxygen comments without compiling
# inside the working tree (several people may be editing it).
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
rsync -a --exclude .git --exclude '*.o' --exclude '*.so' "$top"/ "$tmp"/pkg/
(cd "$tmp"/pkg && Rscript -e 'roxygen2::roxygenise()' > "$tmp"/roxygen.log 2>&1) || { cat "$tmp"/roxygen.log; exit 1; }
grep -E "^(Warning|Error)" "$tmp"/roxygen.log || true
rsync -a --delete "$tmp"/pkg/man/ "$top"/man/
cp "$tmp"/pkg/NAMESPACE "$top"/NAMESPACE
rm -rf "$tmp"
