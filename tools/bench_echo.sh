#!/bin/sh
# tools/bench_echo.sh — line-echo throughput and idle memory, in one run:
#   c4emu   the CreateServer echo driver (fixtures/drivers/server_echo) under c4emu
#   luv     the same echo written with luv on stock lua5.1 (tools/bench_luv_echo.lua)
#   libuv   a plain C libuv echo, one write per line (tools/bench_uv_echo.c), and
#           the same with --batch (one write per read: c4emu's own write batching)
#
# Throughput: CLIENTS connections (default 100) on loopback, each keeping WINDOW
# messages of 32 bytes in flight, measured for SECS seconds after 1 s of warm-up
# by tools/bench_echo_client.c; run with WINDOW 8 (pipelined) and 1 (ping-pong),
# REPEAT times each (the servers take turns), keeping the median run.
# Printed: messages/s, the server's CPU time per message, and the ratios.
# Memory: RSS growth of each server with IDLE idle clients (default 10000).
#
#   make bench-echo            or   BUILD=build tools/bench_echo.sh
#   CLIENTS=100 SECS=3 REPEAT=3 IDLE=10000 WINDOWS="8 1" tools/bench_echo.sh
BUILD=${BUILD:-build}
CLIENTS=${CLIENTS:-100}
SECS=${SECS:-3}
REPEAT=${REPEAT:-3}
IDLE=${IDLE:-10000}
WINDOWS=${WINDOWS:-"8 1"}
cd "$(dirname "$0")/.." || exit 2
# `make bench-echo` builds everything first; run directly, build what is missing.
for b in c4emu bench-uv-echo bench-echo-client; do
  [ -x "$BUILD/$b" ] || make --no-print-directory -s BUILD="$BUILD" "$BUILD/$b" || exit 2
done
CLIENT="$BUILD/bench-echo-client"
. tools/bench_lib.sh
bench_setup echo

# Enough descriptors for IDLE connections in each process.
need=$((IDLE > CLIENTS ? IDLE + 256 : CLIENTS + 256))
have=$(raise_nofile "$need")
if [ "$have" != "unlimited" ] && [ "$have" -lt "$need" ]; then
  echo "bench: the hard limit of open files is $have; IDLE lowered to $((have - 256))"
  IDLE=$((have - 256))
fi

# start_server KIND: sets SPID and PORT.
start_server() {
  rm -f "$TMP/out" "$TMP/err"
  case $1 in
    c4emu) "$BUILD/c4emu" run fixtures/drivers/server_echo --bind 127.0.0.1 </dev/null \
             >"$TMP/out" 2>"$TMP/err" & ;;
    luv) lua5.1 tools/bench_luv_echo.lua >"$TMP/out" 2>"$TMP/err" & ;;
    libuv) "$BUILD/bench-uv-echo" >"$TMP/out" 2>"$TMP/err" & ;;
    libuv-batch) "$BUILD/bench-uv-echo" --batch >"$TMP/out" 2>"$TMP/err" & ;;
  esac
  bench_wait_port "$1"
}



# throughput KIND WINDOW: prints "msgs/s cpu_us_per_msg"
throughput() {
  start_server "$1"
  echo_load "$CLIENT" "$CLIENTS" "$SECS" "$2"
}

# idle_rss KIND: prints the RSS growth per idle client in KiB
idle_rss() {
  start_server "$1"
  sleep 0.3
  before=$(rss_kb "$SPID")
  "$CLIENT" idle 127.0.0.1 "$PORT" "$IDLE" >"$TMP/idle" 2>&1 &
  CPID=$!
  i=0
  while ! grep -q "^connected" "$TMP/idle" 2>/dev/null && [ $i -lt 600 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  sleep 1.5 # the server accepts the last of the backlog
  after=$(rss_kb "$SPID")
  stop_server  # the server closes first, so the client's ports are not left in TIME_WAIT
  kill "$CPID" 2>/dev/null
  wait "$CPID" 2>/dev/null
  if ! grep -q "^connected $IDLE" "$TMP/idle"; then
    echo "bench: idle client: $(cat "$TMP/idle")" >&2
    echo "?"
    return
  fi
  awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN {printf "%.2f KiB (RSS %d → %d KiB)", (a - b) / n, b, a}'
}


# median KIND: the run with the median rate among $TMP/runs.KIND ("rate cpu" lines)
median() { sort -n "$TMP/runs.$1" | awk '{l[NR] = $0} END {print l[int((NR + 1) / 2)]}'; }

echo "line echo, $CLIENTS clients, 32-byte messages, ${SECS} s per run, median of $REPEAT" \
     "($(nproc) CPUs)"
for w in $WINDOWS; do
  for k in c4emu luv libuv libuv-batch; do : >"$TMP/runs.$k"; done
  r=0
  while [ $r -lt "$REPEAT" ]; do
    for k in c4emu luv libuv libuv-batch; do throughput "$k" "$w" >>"$TMP/runs.$k"; done
    r=$((r + 1))
  done
  set -- $(median c4emu); c4=$1; c4cpu=$2
  set -- $(median luv); luv=$1; luvcpu=$2
  set -- $(median libuv); uv=$1; uvcpu=$2
  set -- $(median libuv-batch); uvb=$1; uvbcpu=$2
  echo
  echo "window $w (messages in flight per client):"
  printf "  %-34s %9s msgs/s  %6s us CPU/msg\n" "c4emu CreateServer echo driver" "$c4" "$c4cpu"
  printf "  %-34s %9s msgs/s  %6s us CPU/msg\n" "luv on lua5.1" "$luv" "$luvcpu"
  printf "  %-34s %9s msgs/s  %6s us CPU/msg\n" "plain libuv, one write per line" "$uv" "$uvcpu"
  printf "  %-34s %9s msgs/s  %6s us CPU/msg\n" "plain libuv, one write per read" "$uvb" "$uvbcpu"
  echo "  c4emu / luv = $(ratio "$c4" "$luv")   c4emu / libuv = $(ratio "$c4" "$uv")" \
       "  c4emu / libuv (batched) = $(ratio "$c4" "$uvb")"
done

if [ "$IDLE" -gt 0 ]; then
  echo
  echo "memory with $IDLE idle clients (server RSS growth per client):"
  echo "  c4emu CreateServer echo driver   $(idle_rss c4emu)"
  echo "  luv on lua5.1                    $(idle_rss luv)"
  echo "  plain libuv                      $(idle_rss libuv)"
fi
