#!/bin/sh
# tools/bench_echo.sh — line-echo throughput and idle memory, in one run, the
# measurement of issue 16's Speed section:
#   c4emu      the CreateServer echo driver (fixtures/drivers/server_echo) under c4emu
#   c4emu-tcp  the C4LuaTcpClient echo driver (fixtures/drivers/tcp_echo: CreateTCPServer,
#              ReadUntil("\n") re-armed in OnRead, client:Write); ping-pong only
#   luv        the same echo written with luv on stock lua5.1 (tools/bench_luv_echo.lua)
#   libuv      a plain C libuv echo doing one write per read (tools/bench_uv_echo.c --batch)
#   libuv-line the same with one write per line (only when listed in KINDS)
# With UPPER=1 (the default) every server echoes each line upper-cased (the drivers
# run string.upper, `--prop Upper=1`) and the client checks the upper-cased bytes.
#
# Throughput: CLIENTS connections (default 100) on loopback, each keeping WINDOW
# messages of 32 bytes in flight, measured for SECS seconds after 1 s of warm-up
# by tools/bench_echo_client.c; run with WINDOW 16 (pipelined) and 1 (ping-pong),
# REPEAT times each (the servers take turns, so a burst of load from elsewhere on
# the machine hits all of them alike), keeping each server's median run.
# Printed: messages/s, the server's CPU time per message, and the ratios.
# Memory: RSS growth of each server with IDLE idle clients (default 10000; 0 skips).
#
#   make bench-echo            or   BUILD=build tools/bench_echo.sh
#   CLIENTS=100 SECS=2 REPEAT=5 IDLE=0 WINDOWS="16 1" tools/bench_echo.sh
BUILD=${BUILD:-build}
CLIENTS=${CLIENTS:-100}
SECS=${SECS:-2}
REPEAT=${REPEAT:-5}
IDLE=${IDLE:-10000}
WINDOWS=${WINDOWS:-"16 1"}
UPPER=${UPPER:-1}
KINDS=${KINDS:-"c4emu luv libuv"}
if [ "$UPPER" = 1 ]; then
  MODE=upper PROP="--prop Upper=1" LUVARG=--upper UVARG=--upper
else
  MODE=load PROP="" LUVARG="" UVARG=""
fi
cd "$(dirname "$0")/.." || exit 2
CLIENT="$BUILD/bench-echo-client"
. tools/bench_lib.sh
bench_need c4emu bench-uv-echo bench-echo-client
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
    c4emu) "$BUILD/c4emu" run fixtures/drivers/server_echo --bind 127.0.0.1 $PROP </dev/null \
             >"$TMP/out" 2>"$TMP/err" & ;;
    c4emu-tcp) "$BUILD/c4emu" run fixtures/drivers/tcp_echo --bind 127.0.0.1 $PROP </dev/null \
                 >"$TMP/out" 2>"$TMP/err" & ;;
    luv) lua5.1 tools/bench_luv_echo.lua $LUVARG >"$TMP/out" 2>"$TMP/err" & ;;
    libuv) "$BUILD/bench-uv-echo" --batch $UVARG >"$TMP/out" 2>"$TMP/err" & ;;
    libuv-line) "$BUILD/bench-uv-echo" $UVARG >"$TMP/out" 2>"$TMP/err" & ;;
  esac
  bench_wait_port "$1"
}



# throughput KIND WINDOW: prints "msgs/s cpu_us_per_msg"
throughput() {
  start_server "$1"
  echo_load "$CLIENT" "$CLIENTS" "$SECS" "$2" "$MODE"
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


echo "line echo$([ "$UPPER" = 1 ] && echo ", upper-cased"), $CLIENTS clients, 32-byte messages," \
     "${SECS} s per run, median of $REPEAT ($(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg))"
for w in $WINDOWS; do
  kinds=$KINDS
  [ "$w" = 1 ] && kinds="$kinds c4emu-tcp"
  for k in $kinds; do : >"$TMP/runs.$k"; done
  r=0
  while [ $r -lt "$REPEAT" ]; do
    for k in $kinds; do throughput "$k" "$w" >>"$TMP/runs.$k"; done
    r=$((r + 1))
  done
  echo
  echo "window $w (messages in flight per client):"
  for k in $kinds; do
    set -- $(median "$k")
    eval "rate_$(echo "$k" | tr - _)=$1"
    printf "  %-34s %9s msgs/s  %6s us CPU/msg   (runs: %s)\n" "$(label "$k")" "$1" "$2" \
      "$(sort -n "$TMP/runs.$k" | awk '{printf "%s%s", (NR > 1 ? " " : ""), $1}')"
  done
  line="  CreateServer / luv = $(ratio "$rate_c4emu" "$rate_luv")"
  line="$line   CreateServer / libuv = $(ratio "$rate_c4emu" "$rate_libuv")"
  [ "$w" = 1 ] && line="$line   C4LuaTcpClient / luv = $(ratio "$rate_c4emu_tcp" "$rate_luv")"
  echo "$line"
done

if [ "$IDLE" -gt 0 ]; then
  echo
  echo "memory with $IDLE idle clients (server RSS growth per client):"
  for k in $KINDS; do printf "  %-34s %s\n" "$(label "$k")" "$(idle_rss "$k")"; done
fi
