#!/bin/sh
# tools/bench_tcp_echo.sh — the C4:CreateTCPServer line echo beside the
# C4:CreateServer one, luv and plain libuv, in one run, with the load client
# and reference servers of tools/bench_echo.sh:
#   c4emu-tcp  fixtures/drivers/tcp_echo: C4LuaTcpClient:ReadUntil("\n") re-armed
#              in OnRead, each line written back with client:Write
#   c4emu      fixtures/drivers/server_echo: CreateServer with a "\n" delimiter
#   luv        tools/bench_luv_echo.lua on stock lua5.1 (skipped without lua-luv)
#   libuv      tools/bench_uv_echo.c, one write per line
#
# Throughput: CLIENTS connections (default 100), WINDOW 32-byte messages in
# flight each (8: pipelined, 1: ping-pong), SECS seconds after 1 s warm-up.
# Printed: messages/s, server CPU per message, ratios.  Memory: server RSS
# growth per idle client (IDLE, default 2000; 0 skips).
#
#   make all build/bench-uv-echo build/bench-echo-client && tools/bench_tcp_echo.sh
#   CLIENTS=100 SECS=5 WINDOWS="8 1" IDLE=2000 RUNS=3 tools/bench_tcp_echo.sh
# RUNS > 1 reports the median run of each server (loopback numbers are noisy).
BUILD=${BUILD:-build}
CLIENTS=${CLIENTS:-100}
SECS=${SECS:-5}
WINDOWS=${WINDOWS:-"8 1"}
IDLE=${IDLE:-2000}
RUNS=${RUNS:-1}
cd "$(dirname "$0")/.." || exit 2
CLIENT="$BUILD/bench-echo-client"
KINDS="c4emu-tcp c4emu libuv"
lua5.1 -e 'require "luv"' 2>/dev/null && KINDS="c4emu-tcp c4emu luv libuv"
. tools/bench_lib.sh
bench_need c4emu bench-uv-echo bench-echo-client
bench_setup tcp
have=$(raise_nofile $((IDLE + 64)))
[ "$have" != "unlimited" ] && [ "$have" -lt $((IDLE + 64)) ] && IDLE=$((have - 64))

label() {
  case $1 in
    c4emu-tcp) echo "c4emu CreateTCPServer echo driver" ;;
    c4emu) echo "c4emu CreateServer echo driver" ;;
    luv) echo "luv on lua5.1" ;;
    libuv) echo "plain libuv, one write per line" ;;
  esac
}

# start_server KIND: sets SPID and PORT.
start_server() {
  rm -f "$TMP/out" "$TMP/err"
  case $1 in
    c4emu-tcp) "$BUILD/c4emu" run fixtures/drivers/tcp_echo --bind 127.0.0.1 </dev/null \
                 >"$TMP/out" 2>"$TMP/err" & ;;
    c4emu) "$BUILD/c4emu" run fixtures/drivers/server_echo --bind 127.0.0.1 </dev/null \
             >"$TMP/out" 2>"$TMP/err" & ;;
    luv) lua5.1 tools/bench_luv_echo.lua >"$TMP/out" 2>"$TMP/err" & ;;
    libuv) "$BUILD/bench-uv-echo" >"$TMP/out" 2>"$TMP/err" & ;;
  esac
  bench_wait_port "$1"
}



# one_run KIND WINDOW: prints "msgs/s cpu_us_per_msg"
one_run() {
  start_server "$1"
  t0=$(ticks "$SPID")
  out=$("$CLIENT" load 127.0.0.1 "$PORT" "$CLIENTS" "$SECS" "$2") || { echo "bench: client failed" >&2; exit 1; }
  t1=$(ticks "$SPID")
  stop_server
  echo "$out" | awk -v t="$((t1 - t0))" -v hz="$HZ" '{printf "%d %.2f\n", $2, t * 1e6 / hz / $4}'
}

# throughput KIND WINDOW: the median of RUNS runs (by messages/s)
throughput() {
  r=0
  while [ $r -lt "$RUNS" ]; do one_run "$1" "$2"; r=$((r + 1)); done |
    sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'
}

idle_rss() {
  start_server "$1"
  sleep 0.3
  before=$(rss_kb "$SPID")
  "$CLIENT" idle 127.0.0.1 "$PORT" "$IDLE" >"$TMP/idle" 2>&1 &
  CPID=$!
  i=0
  while ! grep -q "^connected" "$TMP/idle" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  sleep 1.5
  after=$(rss_kb "$SPID")
  stop_server
  kill "$CPID" 2>/dev/null
  wait "$CPID" 2>/dev/null
  grep -q "^connected $IDLE" "$TMP/idle" || { echo "?"; return; }
  awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN {printf "%.2f KiB", (a - b) / n}'
}


echo "line echo, $CLIENTS clients, 32-byte messages, ${SECS} s per run, median of $RUNS ($(nproc) CPUs)"
for w in $WINDOWS; do
  echo
  echo "window $w (messages in flight per client):"
  for k in $KINDS; do
    set -- $(throughput "$k" "$w")
    eval "rate_$(echo "$k" | tr - _)=$1"
    printf "  %-34s %9s msgs/s  %6s us CPU/msg\n" "$(label "$k")" "$1" "$2"
  done
  printf "  CreateTCPServer / CreateServer = %s   / libuv = %s" \
    "$(ratio "$rate_c4emu_tcp" "$rate_c4emu")" "$(ratio "$rate_c4emu_tcp" "$rate_libuv")"
  [ -n "$rate_luv" ] && printf "   / luv = %s" "$(ratio "$rate_c4emu_tcp" "$rate_luv")"
  echo
done

if [ "$IDLE" -gt 0 ]; then
  echo
  echo "memory with $IDLE idle clients (server RSS growth per client):"
  for k in $KINDS; do printf "  %-34s %s\n" "$(label "$k")" "$(idle_rss "$k")"; done
fi
