#!/bin/sh
# gen-certs.sh OUTDIR — makes the test certificates for the TLS unit tests and
# specs with the `openssl` command (OpenSSL 3).  Nothing here is ever
# committed: the Makefile runs this into build/certs.
#
# Made (EC P-256 keys, SHA-256, ten years):
#   ca.pem ca.key             test CA
#   chain.pem                 the CA again, as a driver's `chain` argument
#   server.pem server.key     CN=localhost, SAN DNS:localhost IP:127.0.0.1
#   server.enc.key            server.key encrypted (AES-256) with "c4emu-test"
#   server.p12                server cert + key + CA, password "c4emu-test",
#                             AES-256-CBC/PBKDF2 + SHA-256 MAC, so OpenSSL 3
#                             reads it without the legacy provider
#   client.pem client.key     client cert (clientAuth) signed by the CA
#   rogue-ca.pem rogue-ca.key an unrelated CA
#   rogue-client.pem/.key     a client cert signed by the rogue CA
#   other.key                 a key that matches no certificate
#
# Idempotent: when every file is there and server.pem and client.pem still
# verify against ca.pem, it does nothing.  Otherwise it makes a fresh set in a
# scratch folder and only then moves it into OUTDIR, so a failed run never
# leaves a half-made set.  Quiet unless something fails.
set -e

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT=$1
PASS=c4emu-test
DAYS=3650
FILES="ca.pem ca.key chain.pem server.pem server.key server.enc.key server.p12
client.pem client.key rogue-ca.pem rogue-ca.key rogue-client.pem rogue-client.key other.key"

complete() {
  for f in $FILES; do [ -s "$OUT/$f" ] || return 1; done
  openssl verify -CAfile "$OUT/ca.pem" "$OUT/server.pem" "$OUT/client.pem" >/dev/null 2>&1
}
if complete; then exit 0; fi

command -v openssl >/dev/null || { echo "$0: the openssl command is missing" >&2; exit 1; }
mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/c4emu-certs.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
umask 077

# Runs a command with its chatter kept aside; shows it only if the command fails.
run() {
  if ! "$@" >"$TMP/log" 2>&1; then
    echo "$0: failed: $*" >&2
    cat "$TMP/log" >&2
    exit 1
  fi
}

serial() { echo "0x$(openssl rand -hex 8)"; }

# Our own config, so that nothing in the system's openssl.cnf adds extensions.
cat >"$TMP/ext.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

key() { run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/$1"; }

# ca NAME CN: a self-signed CA.
ca() {
  key "$1.key"
  run openssl req -x509 -new -config "$TMP/ext.cnf" -extensions ca -key "$TMP/$1.key" \
    -subj "/CN=$2" -days $DAYS -sha256 -set_serial "$(serial)" -out "$TMP/$1.pem"
}

# leaf NAME CN PROFILE CA: a certificate signed by CA.
leaf() {
  key "$1.key"
  run openssl req -new -config "$TMP/ext.cnf" -key "$TMP/$1.key" -subj "/CN=$2" -out "$TMP/$1.csr"
  run openssl x509 -req -in "$TMP/$1.csr" -CA "$TMP/$4.pem" -CAkey "$TMP/$4.key" \
    -set_serial "$(serial)" -days $DAYS -sha256 -extfile "$TMP/ext.cnf" -extensions "$3" \
    -out "$TMP/$1.pem"
  rm -f "$TMP/$1.csr"
}

ca ca "c4emu test CA"
leaf server localhost server ca
leaf client "c4emu test client" client ca
ca rogue-ca "c4emu rogue CA"
leaf rogue-client "c4emu rogue client" client rogue-ca
key other.key
cp "$TMP/ca.pem" "$TMP/chain.pem"

run openssl pkey -in "$TMP/server.key" -aes256 -passout "pass:$PASS" -out "$TMP/server.enc.key"
run openssl pkcs12 -export -in "$TMP/server.pem" -inkey "$TMP/server.key" \
  -certfile "$TMP/ca.pem" -name "c4emu server" -passout "pass:$PASS" \
  -keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256 -out "$TMP/server.p12"

for f in $FILES; do mv -f "$TMP/$f" "$OUT/$f"; done
# Certificates are public; keys stay readable by their owner only.
chmod 644 "$OUT"/*.pem
echo "$0: test certificates written to $OUT"
