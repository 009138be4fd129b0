#!/bin/sh
# make-bad-fixtures.sh OUTDIR [PACK_C4Z] — writes the hostile .c4z packages
# that the package tests must refuse.  They are generated, never committed:
# some are large when inflated, and the zip command cannot write names like
# "../x" or "/etc/x" (pack-c4z --raw can).  Needs zip, od and dd; no python.
#
#   dotdot.c4z     entry "../evil.lua"
#   absolute.c4z   entry "/etc/evil"
#   backslash.c4z  entry "lua\evil.lua"
#   symlink.c4z    driver.lua is a symbolic link to /etc/passwd
#   bomb.c4z       one entry that inflates to 65 MiB (limit 64 MiB), honest header
#   liar.c4z       one entry that inflates to 80 MiB while its headers claim 1000 bytes
#   nested.c4z     everything inside one top folder (driver.xml not at the root)
#   encrypted.c4z  fixtures/bad/encrypted packed as a .c4z
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUTDIR [PACK_C4Z]" >&2
  exit 2
fi
OUT=$1
REPO=$(cd "$(dirname "$0")/.." && pwd)
PACK=${2:-${BUILD:-build}/pack-c4z}
command -v zip >/dev/null || { echo "$0: the zip command is needed (apt-get install zip)" >&2; exit 1; }
[ -x "$PACK" ] || { echo "$0: $PACK not built (make build/pack-c4z)" >&2; exit 1; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/c4emu-fixtures-XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

cat > "$WORK/driver.xml" <<'EOF'
<devicedata>
  <name>Hostile package fixture</name>
  <version>1</version>
  <config><script file="driver.lua"/></config>
</devicedata>
EOF
echo 'print("hostile package fixture")' > "$WORK/driver.lua"
echo 'print("this file must never be written outside the package")' > "$WORK/evil.lua"

raw() {  # raw OUT.c4z NAME: driver.xml, driver.lua and evil.lua under NAME
  rm -f "$OUT/$1"
  "$PACK" --raw "$OUT/$1" driver.xml "$WORK/driver.xml" driver.lua "$WORK/driver.lua" "$2" "$WORK/evil.lua"
}
raw dotdot.c4z '../evil.lua'
raw absolute.c4z '/etc/evil'
raw backslash.c4z 'lua\evil.lua'

# zip -y stores the link itself (Unix mode S_IFLNK in the external attributes).
mkdir "$WORK/symlink"
cp "$WORK/driver.xml" "$WORK/symlink/"
ln -s /etc/passwd "$WORK/symlink/driver.lua"
rm -f "$OUT/symlink.c4z"
(cd "$WORK/symlink" && zip -q -X -y "$OUT/symlink.c4z" driver.xml driver.lua)

mkdir "$WORK/nested" "$WORK/nested/mydriver"
cp "$WORK/driver.xml" "$WORK/driver.lua" "$WORK/nested/mydriver/"
rm -f "$OUT/nested.c4z"
(cd "$WORK/nested" && zip -q -X -r "$OUT/nested.c4z" mydriver)

rm -f "$OUT/encrypted.c4z"
"$PACK" "$REPO/fixtures/bad/encrypted" "$OUT/encrypted.c4z"

# Zeros deflate about 1000:1, so these stay small on disk.
mkdir "$WORK/bomb"
head -c $((65 * 1024 * 1024)) /dev/zero > "$WORK/bomb/zeros.bin"
rm -f "$OUT/bomb.c4z"
(cd "$WORK/bomb" && zip -q -X -9 "$OUT/bomb.c4z" zeros.bin)
rm -f "$WORK/bomb/zeros.bin"

# The liar: one entry, then its uncompressed size (local header offset 22,
# central directory entry offset 24) overwritten with 1000 in both places so
# the headers agree with each other and only the inflated bytes tell the truth.
head -c $((80 * 1024 * 1024)) /dev/zero > "$WORK/bomb/zeros.bin"
rm -f "$OUT/liar.c4z"
(cd "$WORK/bomb" && zip -q -X -9 "$OUT/liar.c4z" zeros.bin)
rm -f "$WORK/bomb/zeros.bin"

u32_at() {  # u32_at FILE OFFSET: little-endian 32-bit value
  od -An -tu1 -j "$2" -N4 "$1" | awk '{ print $1 + $2 * 256 + $3 * 65536 + $4 * 16777216 }'
}
put_u32() {  # put_u32 FILE OFFSET VALUE
  printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($3 & 255)) $(($3 >> 8 & 255)) $(($3 >> 16 & 255)) $(($3 >> 24 & 255)))" |
    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
LIAR="$OUT/liar.c4z"
SIZE=$(wc -c < "$LIAR")
EOCD=$((SIZE - 22))            # zip wrote no archive comment
[ "$(u32_at "$LIAR" "$EOCD")" -eq 101010256 ] || { echo "$0: liar.c4z: unexpected layout" >&2; exit 1; }
CD=$(u32_at "$LIAR" $((EOCD + 16)))
put_u32 "$LIAR" 22 1000
put_u32 "$LIAR" $((CD + 24)) 1000
