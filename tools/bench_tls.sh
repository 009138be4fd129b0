#!/bin/sh
# tools/bench_tls.sh — C4:CreateTLSServer speed, printed (nothing is asserted):
#
#   echo        line-echo throughput with SIZE-byte messages (default 16 KiB,
#               "\n" included): the TLS echo driver (fixtures/drivers/tls_echo)
#               beside the plain-TCP CreateServer echo driver
#               (fixtures/drivers/server_echo), in the same run, both under
#               c4emu, both driven by tools/bench_tls_client.c: CLIENTS
#               connections (default 10) each keeping WINDOW messages (default
#               4) in flight, SECS seconds (default 3) after 1 s of warm-up.
#               REPEAT runs each (default 3), the servers taking turns; the
#               median is printed with the server's CPU time per message.
#   handshakes  full TLS handshakes per second (new connection, no
#               resumption, TLS 1.3, ECDSA P-256 certificate): c4emu's TLS echo
#               driver beside `openssl s_server -www` with the same certificate,
#               both measured by the same client doing HANDSHAKES (default
#               1000) handshakes one after the other; median of REPEAT.
#
#   BUILD=build tools/bench_tls.sh
#   CLIENTS=10 WINDOW=4 SIZE=16384 SECS=3 REPEAT=3 HANDSHAKES=1000 tools/bench_tls.sh
#
# The certificates come from build/certs (make certs); the TLS driver gets
# them through a temporary copy of its fixture folder (a driver reads files
# only from its package or sandbox folder, and no key is committed).  The
# load client is compiled here into $BUILD/bench-tls-client when missing.
BUILD=${BUILD:-build}
CLIENTS=${CLIENTS:-10}
WINDOW=${WINDOW:-4}
SIZE=${SIZE:-16384}
SECS=${SECS:-3}
REPEAT=${REPEAT:-3}
HANDSHAKES=${HANDSHAKES:-1000}
cd "$(dirname "$0")/.." || exit 2

[ -x "$BUILD/c4emu" ] || make --no-print-directory -s BUILD="$BUILD" "$BUILD/c4emu" || exit 2
[ -f "$BUILD/certs/server.pem" ] || make --no-print-directory -s BUILD="$BUILD" certs || exit 2
CLIENT="$BUILD/bench-tls-client"
if [ ! -x "$CLIENT" ] || [ tools/bench_tls_client.c -nt "$CLIENT" ]; then
  ${CC:-cc} -std=c11 -O2 -Wall -Wextra tools/bench_tls_client.c \
    $(pkg-config --cflags --libs libssl libcrypto) -o "$CLIENT" || exit 2
fi

. tools/bench_lib.sh
bench_setup tls

mkdir "$TMP/tls_echo"
cp fixtures/drivers/tls_echo/* "$TMP/tls_echo/"
cp "$BUILD/certs/server.pem" "$BUILD/certs/server.key" "$TMP/tls_echo/"

# start_server KIND: sets SPID and PORT.
start_server() {
  rm -f "$TMP/out" "$TMP/err"
  case $1 in
    tcp) "$BUILD/c4emu" run fixtures/drivers/server_echo --bind 127.0.0.1 </dev/null \
           >"$TMP/out" 2>"$TMP/err" & ;;
    tls) "$BUILD/c4emu" run "$TMP/tls_echo" --bind 127.0.0.1 --prop Certificate=server.pem \
           --prop "Private Key=server.key" --prop "Verify Mode=1" --prop Record=off </dev/null \
           >"$TMP/out" 2>"$TMP/err" & ;;
    s_server) openssl s_server -accept 127.0.0.1:0 -cert "$BUILD/certs/server.pem" \
                -key "$BUILD/certs/server.key" -www </dev/null >"$TMP/out" 2>"$TMP/err" & ;;
  esac
  bench_wait_port "$1"
}



# echo_run KIND: appends "msgs/s MiB/s cpu_us_per_msg" to $TMP/echo.KIND
echo_run() {
  start_server "$1"
  tls=""
  [ "$1" = tls ] && tls=tls
  t0=$(ticks "$SPID")
  out=$("$CLIENT" echo 127.0.0.1 "$PORT" "$CLIENTS" "$SECS" "$SIZE" "$WINDOW" $tls) ||
    { echo "bench: client failed against $1"; exit 1; }
  t1=$(ticks "$SPID")
  stop_server
  set -- $out
  awk -v r="$2" -v m="$4" -v t="$((t1 - t0))" -v hz="$HZ" -v n="$6" \
    'BEGIN {printf "%s %s %.1f\n", r, m, t * 1e6 / hz / n}' >>"$TMP/echo.$KIND"
}

# hs_run KIND: appends "handshakes/s cpu_us_per_handshake" to $TMP/hs.KIND
hs_run() {
  start_server "$1"
  t0=$(ticks "$SPID")
  out=$("$CLIENT" handshakes 127.0.0.1 "$PORT" "$HANDSHAKES") ||
    { echo "bench: client failed against $1"; exit 1; }
  t1=$(ticks "$SPID")
  stop_server
  echo "$out" | awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$HANDSHAKES" \
    '{printf "%s %.0f\n", $2, t * 1e6 / hz / n}' >>"$TMP/hs.$KIND"
}

median() { sort -n "$1" | awk '{l[NR] = $0} END {print l[int((NR + 1) / 2)]}'; }

echo "CreateTLSServer benchmark ($(nproc) CPUs, $(openssl version | cut -d' ' -f1-2)), median of $REPEAT"
echo
echo "echo: $CLIENTS clients x $WINDOW messages of $SIZE bytes in flight, ${SECS} s per run"
: >"$TMP/echo.tcp"
: >"$TMP/echo.tls"
r=0
while [ $r -lt "$REPEAT" ]; do
  for KIND in tcp tls; do echo_run $KIND; done
  r=$((r + 1))
done
set -- $(median "$TMP/echo.tcp"); tcp=$1; tcpmb=$2; tcpcpu=$3
set -- $(median "$TMP/echo.tls"); tls=$1; tlsmb=$2; tlscpu=$3
printf "  %-36s %8s msgs/s %8s MiB/s %7s us CPU/msg\n" "CreateServer (plain TCP) echo" "$tcp" "$tcpmb" "$tcpcpu"
printf "  %-36s %8s msgs/s %8s MiB/s %7s us CPU/msg\n" "CreateTLSServer (TLS 1.3) echo" "$tls" "$tlsmb" "$tlscpu"
echo "  TLS / plain = $(ratio "$tls" "$tcp")"

echo
echo "handshakes: $HANDSHAKES full handshakes, one at a time, same client"
: >"$TMP/hs.tls"
: >"$TMP/hs.s_server"
r=0
while [ $r -lt "$REPEAT" ]; do
  for KIND in tls s_server; do hs_run $KIND; done
  r=$((r + 1))
done
set -- $(median "$TMP/hs.tls"); c4=$1; c4cpu=$2
set -- $(median "$TMP/hs.s_server"); ss=$1; sscpu=$2
printf "  %-36s %8s handshakes/s %7s us server CPU/handshake\n" "c4emu CreateTLSServer" "$c4" "$c4cpu"
printf "  %-36s %8s handshakes/s %7s us server CPU/handshake\n" "openssl s_server -www" "$ss" "$sscpu"
echo "  c4emu / s_server = $(ratio "$c4" "$ss")"
