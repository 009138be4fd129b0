#!/bin/sh
# Regenerates the README's API coverage table from `c4emu apis --markdown`:
# everything between the two marker lines is replaced.  BUILD selects the
# build folder (default build); run `make` first.  `make readme-apis` runs it.
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BEGIN='<!-- c4emu apis: begin'
END='<!-- c4emu apis: end -->'
grep -q "^$BEGIN" README.md && grep -q "^$END" README.md || {
  echo "update-readme-apis: README.md has no '$BEGIN ...' / '$END' markers" >&2
  exit 2
}
table=$(mktemp)
out=$(mktemp)
trap 'rm -f "$table" "$out"' EXIT
"$BUILD/c4emu" apis --markdown >"$table"
awk -v begin="$BEGIN" -v end="$END" -v table="$table" '
  index($0, begin) == 1 { print; while ((getline line < table) > 0) print line; skip = 1; next }
  index($0, end) == 1 { skip = 0 }
  !skip { print }
' README.md >"$out"
if cmp -s "$out" README.md; then
  echo "README.md: API table already up to date"
else
  cat "$out" >README.md
  echo "README.md: API table regenerated"
fi
