#!/bin/sh
# tools/bench_watchdog.sh — what the watchdog and coverage cost, side by side
# in one run (issue 15).  Nothing is asserted; figures are printed.
#
#   1. CreateServer line echo (fixtures/drivers/server_echo, the client of
#      tools/bench_echo.sh): c4emu run with the watchdog on (the default,
#      5000 ms) and off (--watchdog 0, no hook at all), taking turns,
#      REPEAT runs each of SECS seconds, median: messages/s and CPU/message.
#   2. 24 h of a 1 s repeating timer in virtual time (tools/bench_timers.lua's
#      case 1) with the watchdog on and off, and with coverage on.
#   3. The project's own spec suite (busted) with and without
#      C4EMU_COVERAGE: wall and CPU time of the whole run.
#   PARTS=13 runs parts 1 and 3 only.
#   Aim for the watchdog: within 5 %.
#
#   make bench-watchdog     or   BUILD=build tools/bench_watchdog.sh
BUILD=${BUILD:-build}
CLIENTS=${CLIENTS:-100}
SECS=${SECS:-3}
REPEAT=${REPEAT:-5}
WINDOW=${WINDOW:-8}
PARTS=${PARTS:-123}
cd "$(dirname "$0")/.." || exit 2
. tools/bench_lib.sh
bench_need c4emu bench-echo-client
bench_setup watchdog
[ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CLIENTS + 256)) ] &&
  raise_nofile $((CLIENTS + 256)) >/dev/null

# throughput WATCHDOG_MS: prints "msgs/s cpu_us_per_msg"
throughput() {
  rm -f "$TMP/out" "$TMP/err"
  "$BUILD/c4emu" run fixtures/drivers/server_echo --bind 127.0.0.1 --watchdog "$1" </dev/null \
    >"$TMP/out" 2>"$TMP/err" &
  bench_wait_port "c4emu --watchdog $1"
  echo_load "$BUILD/bench-echo-client" "$CLIENTS" "$SECS" "$WINDOW"
}
median() { sort -n "$TMP/runs.$1" | awk '{l[NR] = $0} END {print l[int((NR + 1) / 2)]}'; }

case $PARTS in *1*)
echo "1. CreateServer line echo: $CLIENTS clients, window $WINDOW, ${SECS} s per run, median of $REPEAT ($(nproc) CPUs)"
: >"$TMP/runs.on"; : >"$TMP/runs.off"
r=0
while [ $r -lt "$REPEAT" ]; do
  throughput 5000 >>"$TMP/runs.on"
  throughput 0 >>"$TMP/runs.off"
  r=$((r + 1))
done
set -- $(median on); on=$1; oncpu=$2
set -- $(median off); off=$1; offcpu=$2
printf "  %-30s %9s msgs/s  %6s us CPU/msg\n" "watchdog on (5000 ms)" "$on" "$oncpu"
printf "  %-30s %9s msgs/s  %6s us CPU/msg\n" "watchdog off (--watchdog 0)" "$off" "$offcpu"
echo "  on / off: throughput $(ratio "$on" "$off"), CPU per message $(ratio "$oncpu" "$offcpu")  [aim: within 5 %]"
echo
;; esac

case $PARTS in *2*)
echo "2. 24 h of a 1 s repeating timer (86,400 callbacks, virtual time), best of ${RUNS:-7}:"
BUILD=$BUILD lua5.1 - <<'LUA'
package.cpath = os.getenv("BUILD") .. "/?.so;" .. package.cpath
local c4emu = require "c4emu"
local ok, system = pcall(require, "system")
local now = ok and system.monotime or os.clock
local runs = tonumber(os.getenv("RUNS") or "7")
local function day(opts)
  local best = math.huge
  for _ = 1, runs do
    local d = c4emu.load("fixtures/drivers/timer_basic", opts)
    d:init()
    d:eval("N = 0; C4:SetTimer(1000, function(t, skips) N = N + 1; local x = 0 for i = 1, 50 do x = x + i end end, true)")
    local t0 = now()
    d:advance(24 * 3600 * 1000)
    local dt = now() - t0
    assert(d:eval("return N") == 86400)
    d:free()
    if dt < best then best = dt end
  end
  return best
end
-- taking turns, so that a noisy neighbour hits both alike
local off, on, cov = math.huge, math.huge, math.huge
for _ = 1, 2 do
  off = math.min(off, day({watchdog = 0}))
  on = math.min(on, day({}))
  cov = math.min(cov, day({coverage = true}))
end
print(("  %-30s %.3f s"):format("watchdog off", off))
print(("  %-30s %.3f s   on / off = %.3f  [aim: within 5 %%]"):format("watchdog on (5000 ms)", on, on / off))
print(("  %-30s %.3f s   / off = %.2f"):format("watchdog on + coverage", cov, cov / off))
LUA
echo
;; esac

case $PARTS in *3*)
  echo "3. the project's spec suite (busted), without and with C4EMU_COVERAGE:"
  for mode in off on; do
    if [ $mode = on ]; then export C4EMU_COVERAGE="$TMP/suite.info"; else unset C4EMU_COVERAGE; fi
    /usr/bin/time -f "%e %U %S" -o "$TMP/time.$mode" busted -o TAP >"$TMP/busted.$mode" 2>&1
    set -- $(tail -1 "$TMP/time.$mode")
    cpu=$(awk -v u="$2" -v s="$3" 'BEGIN {printf "%.2f", u + s}')
    okn=$(grep -c '^ok' "$TMP/busted.$mode")
    bad=$(grep -c '^not ok' "$TMP/busted.$mode")
    printf "  coverage %-4s wall %6.2f s  CPU %6.2f s  (%s tests ok, %s not)\n" "$mode" "$1" "$cpu" "$okn" "$bad"
    eval "wall_$mode=$1 cpu_$mode=$cpu"
  done
  unset C4EMU_COVERAGE
  echo "  on / off: wall $(ratio "$wall_on" "$wall_off"), CPU $(ratio "$cpu_on" "$cpu_off");" \
       "$(grep -c '^SF:' "$TMP/suite.info" 2>/dev/null) files in the LCOV file"
;; esac
