#!/bin/sh
# tools/determinism.sh [N] — runs spec/determinism_spec.lua N times (default
# 200), each in a fresh busted process, and prints how many runs gave the
# same reply counts (the polling TCP-client fixture advanced five virtual
# minutes against a d:device, Renoise and WINDEV designs).
#   BUILD=build tools/determinism.sh 200
set -u
N=${1:-200}
BUILD=${BUILD:-build}
export BUILD
out=$(mktemp)
counts=$(mktemp)
trap 'rm -f "$out" "$counts"' EXIT
failed=0
i=0
while [ "$i" -lt "$N" ]; do
  i=$((i + 1))
  : > "$out"
  if ! C4EMU_COUNT_FILE="$out" busted spec/determinism_spec.lua > /dev/null 2>&1; then
    failed=$((failed + 1))
  fi
  tr '\n' ' ' < "$out" >> "$counts"
  echo >> "$counts"
done
echo "determinism: $N runs of spec/determinism_spec.lua (5 virtual minutes of a 1 s poll)"
sort "$counts" | uniq -c | sort -rn | while read -r n line; do
  echo "  $n runs: ${line:-(no counts)}"
done
same=$(sort "$counts" | uniq -c | sort -rn | head -1 | awk '{print $1}')
echo "identical counts: $same of $N runs; failed runs: $failed"
