#!/bin/sh
# Runs each libFuzzer harness named on the command line for FUZZ_SECONDS from
# a copy of its seed corpus (fuzz/corpus/NAME); prints "fuzz NAME: ok" or
# "fuzz NAME: FAILED" (crash files and the log stay in $FUZZ_BUILD/NAME/),
# and ends with "fuzz: N passed, N failed".  Exit status non-zero on failure.
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
cd "$(dirname "$0")/.." || exit 2
pass=0; fail=0
for name in "$@"; do
  bin="$FUZZ_BUILD/fuzz-$name"
  work="$FUZZ_BUILD/$name"
  mkdir -p "$work/corpus" "$work/crashes"
  cp -n fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null
  if [ ! -x "$bin" ]; then
    echo "fuzz $name: FAILED (no $bin: is clang installed? make fuzz-build)"
    fail=$((fail + 1)); continue
  fi
  if ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
     "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -artifact_prefix="$work/crashes/" "$work/corpus" >"$work/log" 2>&1; then
    runs=$(grep -Eo '#[0-9]+' "$work/log" | tail -1)
    echo "fuzz $name: ok (${runs#\#} runs in ${FUZZ_SECONDS}s)"
    pass=$((pass + 1))
  else
    echo "fuzz $name: FAILED (see $work/log)"
    tail -30 "$work/log"
    fail=$((fail + 1))
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
