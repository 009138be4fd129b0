#!/bin/sh
# Median wall time from process start to OnDriverLateInit done (c4emu run
# --once on the sample driver, which also destroys and exits), beside
# `lua5.1 -e ''` measured the same way in the same run.  Aim: at most 3x.
BUILD=${BUILD:-build}
N=${N:-41}
cd "$(dirname "$0")/.." || exit 2

median_ms() { # command...
  i=0
  while [ $i -lt "$N" ]; do
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 ))
    i=$((i + 1))
  done | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] / 1000 }'
}

lua=$(median_ms lua5.1 -e '')
emu=$(median_ms "$BUILD/c4emu" run fixtures/drivers/sample --once -q)
echo "startup, median of $N runs:"
echo "  lua5.1 -e ''                          $lua ms"
echo "  c4emu run sample --once (to LateInit) $emu ms"
awk -v a="$emu" -v b="$lua" 'BEGIN { printf "  ratio %.2fx (aim: <= 3x)\n", a / b }'
