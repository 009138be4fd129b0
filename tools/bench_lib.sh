# tools/bench_lib.sh — shell pieces the benchmark scripts share (sourced).
#
#   bench_need TARGET...  builds what is missing of $BUILD/TARGET (`make bench-*` builds first)
#   label KIND            the printed name of an echo server kind (bench_echo, bench_instr)
#   bench_setup NAME      $TMP (removed at exit) and $SPID (the server, stopped at exit)
#   bench_wait_port KIND  after starting a server in the background with output in
#                         $TMP/out and $TMP/err: sets SPID and PORT, or exits
#   stop_server           stops $SPID
#   ticks PID / rss_kb PID, HZ, ratio A B, raise_nofile N
#   echo_load CLIENT CLIENTS SECS WINDOW [MODE]   load the echo server $SPID:$PORT
#                         (MODE: load, or upper for an upper-casing echo), stop it,
#                         print "msgs/s cpu_us_per_msg"

bench_need() {
  for b in "$@"; do
    [ -x "$BUILD/$b" ] || make --no-print-directory -s BUILD="$BUILD" "$BUILD/$b" || exit 2
  done
}

label() {
  case $1 in
    c4emu) echo "c4emu CreateServer" ;;
    c4emu-tcp) echo "c4emu C4LuaTcpClient" ;;
    luv) echo "luv on lua5.1" ;;
    libuv) echo "plain libuv, one write per read" ;;
    libuv-line) echo "plain libuv, one write per line" ;;
  esac
}

bench_cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
  rm -rf "$TMP"
}

bench_setup() {
  TMP=$(mktemp -d "/tmp/c4emu-bench-$1.XXXXXX")
  SPID=""
  trap bench_cleanup EXIT INT TERM
}

# Every server here prints its port in one of these shapes: c4emu drivers
# ("listening on port N"), the C and luv echo servers ("port N"), and
# `openssl s_server` ("ACCEPT host:N").
bench_wait_port() {
  SPID=$!
  PORT=""
  i=0
  while [ -z "$PORT" ] && [ $i -lt 100 ]; do
    sleep 0.05
    PORT=$(cat "$TMP/out" "$TMP/err" 2>/dev/null |
           sed -n -e 's/^port \([0-9]*\)$/\1/p' -e 's/.*listening on port \([0-9]*\).*/\1/p' \
                  -e 's/^ACCEPT .*:\([0-9]*\)$/\1/p' | head -1)
    i=$((i + 1))
  done
  [ -n "$PORT" ] || { echo "bench: $1 did not start:"; cat "$TMP/err"; exit 1; }
}

stop_server() {
  kill "$SPID" 2>/dev/null
  wait "$SPID" 2>/dev/null
  SPID=""
}

# CPU ticks (user + system) of a process, and its resident memory.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "?"}'; }

# Raises the open-file limit to N (or as far as the hard limit allows);
# prints the limit in force.
raise_nofile() {
  hard=$(ulimit -Hn)
  want=$1
  if [ "$hard" != "unlimited" ] && [ "$hard" -lt "$want" ]; then want=$hard; fi
  ulimit -n "$want" 2>/dev/null
  ulimit -n
}

# The echo load of bench_echo.sh and bench_watchdog.sh: CLIENTS connections
# keeping WINDOW messages in flight for SECS seconds against $SPID on $PORT;
# stops the server; prints "msgs/s cpu_us_per_msg" (the server's CPU).
echo_load() {
  t0=$(ticks "$SPID")
  out=$("$1" "${5:-load}" 127.0.0.1 "$PORT" "$2" "$3" "$4") || { echo "bench: client failed" >&2; exit 1; }
  t1=$(ticks "$SPID")
  stop_server
  rate=$(echo "$out" | awk '{print $2}')
  total=$(echo "$out" | awk '{print $4}')
  cpu=$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$total" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
  echo "$rate $cpu"
}
