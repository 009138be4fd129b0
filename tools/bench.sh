#!/bin/sh
# Runs every benchmark and prints its figures (nothing is asserted).
BUILD=${BUILD:-build}
export BUILD
cd "$(dirname "$0")/.." || exit 2
echo "== startup";   tools/bench_startup.sh
echo "== echo";      tools/bench_echo.sh
echo "== timers";    lua5.1 tools/bench_timers.lua
for extra in tools/bench_tcp_echo.sh tools/bench_tls.sh tools/bench_http.sh tools/bench_watchdog.sh; do
  [ -x "$extra" ] && { echo "== $(basename "$extra" .sh)"; "$extra"; }
done
exit 0
