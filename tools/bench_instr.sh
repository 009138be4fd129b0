#!/bin/sh
# tools/bench_instr.sh — the echo servers' user-space instructions per message,
# counted by valgrind (callgrind), side by side in one run.  The companion of
# bench_echo.sh: throughput on a shared 2-core machine moves with whatever else
# runs, an instruction count does not, so this is the figure to compare one
# commit against another (the kernel's share is not counted: see bench_echo.sh).
#
# For each server: start it under callgrind, load it for a moment (warm-up),
# zero the counters, load it for SECS seconds with CLIENTS connections keeping
# WINDOW lines in flight, dump, and divide by the lines echoed.  The same
# servers and load as bench_echo.sh (upper-cased echo, 32-byte lines).
#
# Beside them, the drivers' own Lua work with no host around it
# (tools/bench_lua_floor.c: the callback looked up, pushed, pcalled; no
# sockets): what c4emu adds per message is its row less this floor, of which
# the plain libuv server's row is the part any server on libuv pays.
#
#   make bench-instr           or   BUILD=build tools/bench_instr.sh
#   KINDS="c4emu c4emu-tcp" WINDOWS=1 tools/bench_instr.sh
BUILD=${BUILD:-build}
CLIENTS=${CLIENTS:-20}
SECS=${SECS:-3}
WINDOWS=${WINDOWS:-"16 1"}
KINDS=${KINDS:-"c4emu c4emu-tcp luv libuv"}
cd "$(dirname "$0")/.." || exit 2
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
  { echo "bench: valgrind (callgrind) is needed"; exit 2; }
CLIENT="$BUILD/bench-echo-client"
. tools/bench_lib.sh
bench_need c4emu bench-uv-echo bench-echo-client bench-lua-floor
bench_setup instr

VG="valgrind --tool=callgrind --callgrind-out-file=$TMP/cg.out"
start_server() {
  rm -f "$TMP/out" "$TMP/err" "$TMP"/cg.out*
  case $1 in
    c4emu) $VG "$BUILD/c4emu" run fixtures/drivers/server_echo --bind 127.0.0.1 --prop Upper=1 \
             </dev/null >"$TMP/out" 2>"$TMP/err" & ;;
    c4emu-tcp) $VG "$BUILD/c4emu" run fixtures/drivers/tcp_echo --bind 127.0.0.1 --prop Upper=1 \
                 </dev/null >"$TMP/out" 2>"$TMP/err" & ;;
    luv) $VG lua5.1 tools/bench_luv_echo.lua --upper >"$TMP/out" 2>"$TMP/err" & ;;
    libuv) $VG "$BUILD/bench-uv-echo" --batch --upper >"$TMP/out" 2>"$TMP/err" & ;;
  esac
  SPID=$!
  PORT=""
  i=0
  while [ -z "$PORT" ] && [ $i -lt 400 ]; do # valgrind starts slowly
    sleep 0.05
    PORT=$(sed -n -e 's/^port \([0-9]*\)$/\1/p' -e 's/.*listening on port \([0-9]*\).*/\1/p' \
             "$TMP/out" "$TMP/err" 2>/dev/null | head -1)
    i=$((i + 1))
  done
  [ -n "$PORT" ] || { echo "bench: $1 did not start:"; cat "$TMP/err"; exit 1; }
}

# instr KIND WINDOW: prints the instructions per message
instr() {
  start_server "$1"
  "$CLIENT" upper 127.0.0.1 "$PORT" "$CLIENTS" 1 "$2" >/dev/null || { echo "?"; return; }
  callgrind_control --zero "$SPID" >/dev/null 2>&1
  out=$("$CLIENT" upper 127.0.0.1 "$PORT" "$CLIENTS" "$SECS" "$2") || { echo "?"; return; }
  callgrind_control --dump "$SPID" >/dev/null 2>&1
  stop_server
  n=$(echo "$out" | awk '{print $4}')
  # the dump after --zero holds exactly the measured load; its totals line is "summary: N"
  ir=$(cat "$TMP"/cg.out.[0-9]* 2>/dev/null | awk '/^summary:/ {print $2; exit}')
  awk -v ir="${ir:-0}" -v n="${n:-0}" 'BEGIN {if (ir > 0 && n > 0) printf "%.0f", ir / n; else print "?"}'
}

# floor server|tcp: the driver's Lua work per message, start-up taken off
floor_instr() {
  n=200000
  ir() {
    valgrind --tool=callgrind --callgrind-out-file="$TMP/floor.out" "$BUILD/bench-lua-floor" "$1" "$2" \
      >/dev/null 2>&1 || { echo 0; return; }
    awk '/^summary:/ {print $2; exit}' "$TMP/floor.out"
  }
  full=$(ir "$1" $n)
  empty=$(ir "$1" 0)
  awk -v a="$full" -v b="$empty" -v n=$n 'BEGIN {if (a > b) printf "%.0f", (a - b) / n; else print "?"}'
}


echo "user-space instructions per message (callgrind), line echo upper-cased, $CLIENTS clients," \
     "32-byte lines, $SECS s measured"
floor_server=$(floor_instr server)
floor_tcp=$(floor_instr tcp)
for w in $WINDOWS; do
  echo
  echo "window $w:"
  for k in $KINDS; do
    v=$(instr "$k" "$w")
    eval "ir_$(echo "$k" | tr - _)=$v"
    printf "  %-34s %7s instructions/msg\n" "$(label "$k")" "$v"
  done
  line=""
  has() { case " $KINDS " in *" $1 "*) return 0 ;; esac; return 1; }
  has luv && line="$line   luv / CreateServer = $(ratio "$ir_luv" "$ir_c4emu")"
  has luv && has c4emu-tcp && line="$line   luv / C4LuaTcpClient = $(ratio "$ir_luv" "$ir_c4emu_tcp")"
  has libuv && line="$line   libuv / CreateServer = $(ratio "$ir_libuv" "$ir_c4emu")"
  [ -n "$line" ] && echo "$line   (above 1: c4emu runs fewer)"
  has c4emu && echo "  added by c4emu beyond the driver's Lua ($floor_server/msg, no host):" \
    "CreateServer $(awk -v a="$ir_c4emu" -v b="$floor_server" 'BEGIN {print a - b}')"
  has c4emu-tcp && echo "  added by c4emu beyond the driver's Lua ($floor_tcp/msg, no host):" \
    "C4LuaTcpClient $(awk -v a="$ir_c4emu_tcp" -v b="$floor_tcp" 'BEGIN {print a - b}')"
done
