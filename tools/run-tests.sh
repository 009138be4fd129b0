#!/bin/sh
# Runs the C unit tests and the busted specs; ends with one line
# "N passed, N failed" (both suites together) and exits non-zero on failure.
# BUILD selects the build folder; SANITIZE=1 preloads ASan for busted.
BUILD=${BUILD:-build}
export BUILD C4EMU_CERTS="${C4EMU_CERTS:-$BUILD/certs}" C4EMU_FIXTURES="$BUILD/fixtures"
cd "$(dirname "$0")/.." || exit 2

# issue 16: the fault suite opens 2000 sockets in one process (raised if the hard limit allows)
[ "$(ulimit -n)" -lt 8192 ] 2>/dev/null && ulimit -n 8192 2>/dev/null

echo "== C unit tests"
"$BUILD/unit" >"$BUILD/unit.out" 2>&1
unit_rc=$?
cat "$BUILD/unit.out"
line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed$' "$BUILD/unit.out" | tail -1)
if [ -n "$line" ]; then
  u_pass=$(echo "$line" | sed -E 's/unit: ([0-9]+) passed.*/\1/')
  u_fail=$(echo "$line" | sed -E 's/.*, ([0-9]+) failed/\1/')
else
  u_pass=0; u_fail=1   # the unit binary crashed before its summary
fi
[ "$unit_rc" -ne 0 ] && [ "$u_fail" -eq 0 ] && u_fail=1

echo "== busted specs"
if [ -n "$SANITIZE" ]; then
  LD_PRELOAD="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23"
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
fi
busted -o plainTerminal "$@" >"$BUILD/spec.out" 2>&1
spec_rc=$?
unset LD_PRELOAD
cat "$BUILD/spec.out"
sum=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$BUILD/spec.out" | tail -1)
if [ -n "$sum" ]; then
  s_pass=$(echo "$sum" | sed -E 's/^([0-9]+) success.*/\1/')
  s_failures=$(echo "$sum" | sed -E 's/^[0-9]+ successe?s? \/ ([0-9]+) failures?.*/\1/')
  s_errors=$(echo "$sum" | sed -E 's/.* \/ ([0-9]+) errors? \/.*/\1/')
  s_fail=$((s_failures + s_errors))
else
  s_pass=0; s_fail=1   # busted died before its summary (a crash, a sanitizer report)
fi
[ "$spec_rc" -ne 0 ] && [ "$s_fail" -eq 0 ] && s_fail=1

# issue 16: a short run of each libFuzzer harness (FUZZ_SECONDS each), when asked
f_pass=0; f_fail=0
if [ -n "$FUZZ_SECONDS" ] && [ "$FUZZ_SECONDS" -gt 0 ]; then
  echo "== fuzz (${FUZZ_SECONDS}s per harness)"
  FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz} tools/run-fuzz.sh framer xml package json matcher \
    >"$BUILD/fuzz.out" 2>&1
  cat "$BUILD/fuzz.out"
  f_pass=$(grep -c '^fuzz [a-z]*: ok' "$BUILD/fuzz.out")
  f_fail=$(grep -c '^fuzz [a-z]*: FAILED' "$BUILD/fuzz.out")
  [ "$f_pass" -eq 0 ] && [ "$f_fail" -eq 0 ] && f_fail=1
fi

passed=$((u_pass + s_pass + f_pass))
failed=$((u_fail + s_fail + f_fail))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
