#!/bin/sh
# Installs the Debian packages c4emu needs, only those missing.  Needs root
# (or sudo) only when something is missing.
set -e
PKGS="build-essential pkg-config liblua5.1-0-dev lua5.1 libuv1-dev libssl-dev openssl
lua-bitop-dev lua-bitop lua-busted libzip-dev libexpat1-dev lua-cjson-dev lua-cjson
libcmocka-dev lua-luv netcat-openbsd zip
lua-dkjson unzip"
# issue 14: lua-dkjson is the driver's `require "json"`; unzip lists .c4z entries in specs
# issue 17: web console (lws on libuv) and its browser test
PKGS="$PKGS libwebsockets-dev libwebsockets-evlib-uv chromium"
# issue 13: HTTP (C4:url on libcurl)
PKGS="$PKGS libcurl4-openssl-dev curl"
# issue 15: the console (readline), its pty tests (python3), coverage (genhtml), JUnit (xmllint)
PKGS="$PKGS libreadline-dev python3 lcov libxml2-utils"
# issue 16: clang and its libFuzzer runtime for `make fuzz` (and make test's short runs)
PKGS="$PKGS clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "c4emu: installing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
