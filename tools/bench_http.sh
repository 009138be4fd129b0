#!/bin/sh
# bench_http.sh [N] — HTTP from drivers: sequential 1 KiB GETs from an
# in-process d:http_device via C4:url() beside a libcurl C loop and curl in
# a shell loop (same server, one run), and 100 concurrent C4:url() GETs.
# Needs `make all` first.  Prints figures; asserts nothing about speed.
set -e
N=${1:-2000}
BUILD=${BUILD:-build}
mkdir -p "$BUILD/tools"
cc -O2 -o "$BUILD/tools/bench_http_client" tools/bench_http_client.c \
  $(pkg-config --cflags --libs libcurl)
LUA_CPATH="$BUILD/?.so;;" lua5.1 tools/bench_http.lua "$N" "$BUILD/tools/bench_http_client" \
  fixtures/drivers/minimal
