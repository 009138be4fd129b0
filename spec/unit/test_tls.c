/*
 * test_tls.c — unit tests for the OpenSSL layer of C4:CreateTLSServer:
 * c4_tls_ctx (parameters → SSL_CTX) and c4_tls_conn (memory-BIO connections).
 *
 * Certificates come from tools/gen-certs.sh, in the folder named by
 * C4EMU_CERTS (default build/certs); if ca.pem is missing there the script is
 * run once to make them.  Connections are tested entirely in memory: a server
 * and a client tls_conn, with each one's output fed to the other in slices,
 * as a network would deliver it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "unit.h"
#include "net/c4_tls_ctx.h"
#include "net/c4_tls_conn.h"

#define PASS "c4emu-test"

/* ---- certificates ------------------------------------------------------ */

static const char *certs(void) {
  static char dir[4096];
  if (dir[0]) return dir;
  const char *env = getenv("C4EMU_CERTS");
  snprintf(dir, sizeof dir, "%s", env && *env ? env : "build/certs");
  char probe[4200], cmd[8400];
  snprintf(probe, sizeof probe, "%s/ca.pem", dir);
  if (access(probe, R_OK) != 0) {
    snprintf(cmd, sizeof cmd, "tools/gen-certs.sh '%s' >/dev/null", dir);
    if (system(cmd) != 0) fprintf(stderr, "test_tls: could not run %s\n", cmd);
  }
  return dir;
}

static char *cert_path(const char *name) {
  static char buf[8][4200];
  static int i;
  char *p = buf[i++ % 8];
  snprintf(p, sizeof buf[0], "%s/%s", certs(), name);
  return p;
}

/* The text of a file in the certificate folder (free it). */
static char *slurp(const char *name) {
  FILE *f = fopen(cert_path(name), "rb");
  assert_non_null(f);
  char *s = calloc(1, 65536);
  assert_non_null(s);
  size_t n = fread(s, 1, 65535, f);
  fclose(f);
  assert_true(n > 0);
  return s;
}

/* Parameters with files looked up in the certificate folder. */
static c4_tls_params params(unsigned options, unsigned verify, const char *cert,
                            const char *key, const char *chain) {
  c4_tls_params p = {0};
  p.options = options;
  p.verify_mode = verify;
  p.ciphers = "";
  p.certificate = cert;
  p.private_key = key;
  p.chain = chain;
  p.pkg_dir = certs();
  return p;
}

/* Builds a context that must fail; checks the message holds `want`. */
static void expect_fail(c4_tls_params *p, const char *want) {
  char err[512];
  SSL_CTX *ctx = c4_tls_ctx_new(p, err, sizeof err);
  if (ctx || !strstr(err, want))
    fail_msg("expected failure with '%s', got %s: '%s'", want, ctx ? "a context" : "NULL", err);
  assert_int_equal(ERR_peek_error(), 0);
}

static SSL_CTX *expect_ok(c4_tls_params *p) {
  char err[512] = "";
  SSL_CTX *ctx = c4_tls_ctx_new(p, err, sizeof err);
  if (!ctx) fail_msg("c4_tls_ctx_new failed: %s", err);
  assert_int_equal(ERR_peek_error(), 0);
  return ctx;
}

static bool all_zero(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

/* ---- the mappings ------------------------------------------------------ */

static void test_options_bits(void **state) {
  (void)state;
  assert_int_equal(c4_tls_options_to_openssl(0x01), SSL_OP_ALL);
  assert_int_equal(c4_tls_options_to_openssl(0x02), SSL_OP_NO_COMPRESSION);
  assert_int_equal(c4_tls_options_to_openssl(0x04), SSL_OP_NO_SSLv2); /* 0 in OpenSSL 3 */
  assert_int_equal(c4_tls_options_to_openssl(0x08), SSL_OP_NO_SSLv3);
  assert_int_equal(c4_tls_options_to_openssl(0x10), SSL_OP_NO_TLSv1);
  assert_int_equal(c4_tls_options_to_openssl(0x20), SSL_OP_NO_TLSv1_1);
  assert_int_equal(c4_tls_options_to_openssl(0x40), SSL_OP_NO_TLSv1_2);
  assert_int_equal(c4_tls_options_to_openssl(0x80), SSL_OP_NO_TLSv1_3);
  assert_int_equal(c4_tls_options_to_openssl(0xFF),
                   SSL_OP_ALL | SSL_OP_NO_COMPRESSION | SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 |
                   SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3);
  /* Bits the seed does not define mean nothing (and are not "zero"). */
  assert_int_equal(c4_tls_options_to_openssl(0x100), 0);
  assert_int_equal(c4_tls_options_to_openssl(0x180), SSL_OP_NO_TLSv1_3);
}

static void test_options_default(void **state) {
  (void)state;
  unsigned long def = SSL_OP_ALL | SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
                      SSL_OP_NO_TLSv1_1;
  assert_int_equal(c4_tls_options_to_openssl(0), def);
  assert_int_equal(c4_tls_options_to_openssl(0x3D), def);
  assert_false(c4_tls_allows_legacy(0));
  assert_false(c4_tls_allows_legacy(0x3D));
  assert_false(c4_tls_allows_legacy(0x30));
  assert_true(c4_tls_allows_legacy(0x0D));  /* TLS 1.0 and 1.1 on */
  assert_true(c4_tls_allows_legacy(0x1D));  /* TLS 1.1 on */
  assert_true(c4_tls_allows_legacy(0x2D));  /* TLS 1.0 on */
}

static void test_verify_bits(void **state) {
  (void)state;
  assert_int_equal(c4_tls_verify_to_openssl(0x01), SSL_VERIFY_NONE);
  assert_int_equal(c4_tls_verify_to_openssl(0x02), SSL_VERIFY_PEER);
  assert_int_equal(c4_tls_verify_to_openssl(0x04), SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  assert_int_equal(c4_tls_verify_to_openssl(0x08), SSL_VERIFY_CLIENT_ONCE);
  assert_int_equal(c4_tls_verify_to_openssl(0x06), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  assert_int_equal(c4_tls_verify_to_openssl(0x0F), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT |
                                                   SSL_VERIFY_CLIENT_ONCE);
  assert_int_equal(c4_tls_verify_to_openssl(0x10), 0);
  /* 0 → 0x0A: PEER | CLIENT_ONCE. */
  assert_int_equal(c4_tls_verify_to_openssl(0), SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE);
  assert_int_equal(c4_tls_verify_to_openssl(0x0A), SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE);
}

/* ---- building contexts ------------------------------------------------- */

static void test_ctx_pem_text(void **state) {
  (void)state;
  char *cert = slurp("server.pem"), *key = slurp("server.key"), *chain = slurp("chain.pem");
  c4_tls_params p = params(0, 0, cert, key, chain);
  SSL_CTX *ctx = expect_ok(&p);
  /* The mapped options are on the context. */
  assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_TLSv1_1);
  assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE);
  SSL_CTX_free(ctx);

  /* A combined PEM (certificate then key) with no privateKey also works. */
  char *both = calloc(1, strlen(cert) + strlen(key) + 1);
  assert_non_null(both);
  strcat(strcat(both, cert), key);
  p = params(0, 1, both, "", "");
  SSL_CTX_free(expect_ok(&p));
  free(both);
  free(cert);
  free(key);
  free(chain);
}

static void test_ctx_pem_files(void **state) {
  (void)state;
  c4_tls_params p = params(0, 0, "server.pem", "server.key", "chain.pem");
  SSL_CTX_free(expect_ok(&p));

  /* Found in the sandbox folder when the package folder lacks it. */
  char empty[] = "/tmp/c4emu-tls-XXXXXX";
  assert_non_null(mkdtemp(empty));
  p = params(0, 1, "server.pem", "server.key", "");
  p.pkg_dir = empty;
  p.sandbox_dir = certs();
  SSL_CTX_free(expect_ok(&p));

  /* In neither folder. */
  p = params(0, 1, "server.pem", "server.key", "");
  p.pkg_dir = empty;
  expect_fail(&p, "certificate: file 'server.pem' not found");
  rmdir(empty);
}

static void test_ctx_pkcs12(void **state) {
  (void)state;
  char pw[] = PASS;
  /* The private key parameter is ignored for PKCS#12, even a wrong one. */
  c4_tls_params p = params(0, 1, "server.p12", "other.key", "");
  p.password = pw;
  p.password_len = strlen(PASS);
  SSL_CTX *ctx = expect_ok(&p);
  assert_true(all_zero(pw, sizeof pw - 1));
  /* The bundle's chain (the CA) came along. */
  STACK_OF(X509) *chain = NULL;
  assert_int_equal(SSL_CTX_get0_chain_certs(ctx, &chain), 1);
  assert_int_equal(sk_X509_num(chain), 1);
  SSL_CTX_free(ctx);

  char wrong[] = "not-it";
  p = params(0, 1, "server.p12", "", "");
  p.password = wrong;
  p.password_len = strlen(wrong);
  expect_fail(&p, "certificate: wrong password for PKCS#12 file 'server.p12'");
  assert_true(all_zero(wrong, sizeof wrong - 1));

  p = params(0, 1, "server.p12", "", "");
  expect_fail(&p, "(no password given)");
}

static void test_ctx_encrypted_key(void **state) {
  (void)state;
  char pw[] = PASS;
  c4_tls_params p = params(0, 1, "server.pem", "server.enc.key", "");
  p.password = pw;
  p.password_len = strlen(PASS);
  SSL_CTX_free(expect_ok(&p));
  assert_true(all_zero(pw, sizeof pw - 1));

  char wrong[] = "c4emu-tesT";
  p.password = wrong;
  p.password_len = strlen(wrong);
  expect_fail(&p, "private key: wrong password for the encrypted key in file 'server.enc.key'");
  assert_true(all_zero(wrong, sizeof wrong - 1));

  p.password = NULL;
  p.password_len = 0;
  expect_fail(&p, "is encrypted and no password was given");

  /* The same as PEM text. */
  char *key = slurp("server.enc.key");
  char pw2[] = PASS;
  p = params(0, 1, "server.pem", key, "");
  p.password = pw2;
  p.password_len = strlen(PASS);
  SSL_CTX_free(expect_ok(&p));
  assert_true(all_zero(pw2, sizeof pw2 - 1));
  free(key);
}

static void test_ctx_key_mismatch(void **state) {
  (void)state;
  c4_tls_params p = params(0, 1, "server.pem", "other.key", "");
  expect_fail(&p, "private key does not match the certificate");
  p = params(0, 1, "client.pem", "server.key", "");
  expect_fail(&p, "private key does not match the certificate");
}

static void test_ctx_refused_paths(void **state) {
  (void)state;
  static const char *bad[] = {"./x", "../x", "/etc/passwd", "a/../../x", ".hidden", "..",
                              "sub/../server.pem"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c4_tls_params p = params(0, 1, bad[i], "server.key", "");
    expect_fail(&p, "certificate: path");
    expect_fail(&p, "refused");
    p = params(0, 1, "server.pem", bad[i], "");
    expect_fail(&p, "private key: path");
    p = params(0, 1, "server.pem", "server.key", bad[i]);
    expect_fail(&p, "chain: path");
  }
  /* A symlink that leads out of the folder is refused too. */
  char dir[] = "/tmp/c4emu-tls-XXXXXX", link[64];
  assert_non_null(mkdtemp(dir));
  snprintf(link, sizeof link, "%s/escape.pem", dir);
  assert_int_equal(symlink(cert_path("server.pem"), link), 0);
  c4_tls_params p = params(0, 1, "escape.pem", "server.key", "");
  p.pkg_dir = dir;
  expect_fail(&p, "certificate:");
  unlink(link);
  rmdir(dir);
}

static void test_ctx_bad_files(void **state) {
  (void)state;
  char dir[] = "/tmp/c4emu-tls-XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/junk.bin", dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("this is not a certificate", f);
  fclose(f);
  c4_tls_params p = params(0, 1, "junk.bin", "", "");
  p.sandbox_dir = dir;
  expect_fail(&p, "certificate: file 'junk.bin' is neither PEM nor PKCS#12");
  p = params(0, 1, "server.pem", "junk.bin", "");
  p.sandbox_dir = dir;
  expect_fail(&p, "private key: file 'junk.bin' is not PEM");
  p = params(0, 1, "server.pem", "server.key", "junk.bin");
  p.sandbox_dir = dir;
  expect_fail(&p, "chain: no PEM certificate in file 'junk.bin'");
  unlink(path);

  /* A folder where a file should be cannot be read. */
  snprintf(path, sizeof path, "%s/dir.pem", dir);
  assert_int_equal(mkdir(path, 0700), 0);
  p = params(0, 1, "dir.pem", "server.key", "");
  p.sandbox_dir = dir;
  expect_fail(&p, "certificate: cannot read file 'dir.pem'");
  rmdir(path);
  rmdir(dir);

  /* A key where the certificate should be. */
  p = params(0, 1, "server.key", "server.key", "");
  expect_fail(&p, "certificate: no PEM certificate in file 'server.key'");
  /* A broken PEM text. */
  p = params(0, 1, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
             "server.key", "");
  expect_fail(&p, "certificate: no valid PEM certificate in PEM text");
}

static void test_ctx_missing_and_ciphers(void **state) {
  (void)state;
  c4_tls_params p = params(0, 1, "", "server.key", "");
  expect_fail(&p, "certificate: none given");
  p = params(0, 1, NULL, NULL, NULL);
  expect_fail(&p, "certificate: none given");
  p = params(0, 1, "server.pem", "", "");
  expect_fail(&p, "private key: none given");

  p = params(0, 1, "server.pem", "server.key", "");
  p.ciphers = "NOSUCHCIPHER";
  expect_fail(&p, "cipher list 'NOSUCHCIPHER': no cipher match");
  /* Legacy protocols allowed: the list gets @SECLEVEL=0 but stays checked. */
  p.options = 0x0D;
  expect_fail(&p, "cipher list 'NOSUCHCIPHER'");
  p.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
  SSL_CTX_free(expect_ok(&p));
}

static void test_ctx_password_wiped(void **state) {
  (void)state;
  /* Wiped on success, on early failure (no certificate, refused path), on
   * late failure (key mismatch), and when nothing needed it. */
  struct { const char *cert, *key; bool ok; } cases[] = {
    {"server.pem", "server.key", true},
    {"", "server.key", false},
    {"../x", "server.key", false},
    {"server.pem", "other.key", false},
    {"server.p12", "", true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char pw[] = PASS;
    c4_tls_params p = params(0, 1, cases[i].cert, cases[i].key, "");
    p.password = pw;
    p.password_len = strlen(pw);
    char err[512];
    SSL_CTX *ctx = c4_tls_ctx_new(&p, err, sizeof err);
    assert_int_equal(ctx != NULL, cases[i].ok);
    SSL_CTX_free(ctx);
    assert_true(all_zero(pw, sizeof pw - 1));
  }
}

/* ---- connections in memory --------------------------------------------- */

typedef struct {
  tls_conn *c;
  unsigned char *got;  /* plaintext received */
  size_t len, cap;
} end;

static void end_collect(end *e) {
  for (;;) {
    if (e->cap - e->len < 65536) {
      e->cap = e->cap ? e->cap * 2 : 1 << 17;
      e->got = realloc(e->got, e->cap);
      assert_non_null(e->got);
    }
    size_t k = tls_conn_read(e->c, e->got + e->len, e->cap - e->len);
    if (k == 0) break;
    e->len += k;
  }
}

static bool end_has(end *e, const char *s) {
  size_t n = strlen(s);
  return e->len >= n && memmem(e->got, e->len, s, n) != NULL;
}

static void end_free(end *e) {
  tls_conn_free(e->c);
  free(e->got);
  memset(e, 0, sizeof *e);
}

/* Moves output from→to in network-sized slices; returns the bytes moved. */
static size_t move(end *from, end *to) {
  unsigned char buf[5000];
  size_t total = 0, k;
  while ((k = tls_conn_take_output(from->c, buf, sizeof buf)) > 0) {
    tls_conn_feed(to->c, buf, k);  /* a failure is checked by the tests */
    end_collect(to);
    total += k;
  }
  return total;
}

/* Runs both ends until neither has anything to say. */
static void pump(end *a, end *b) {
  for (int i = 0; i < 100000; i++) {
    size_t n = move(a, b) + move(b, a);
    if (n == 0) return;
  }
  fail_msg("pump did not settle");
}

static SSL_CTX *server_ctx(unsigned options, unsigned verify, const char *chain) {
  c4_tls_params p = params(options, verify, "server.pem", "server.key", chain);
  return expect_ok(&p);
}

/* A client that checks the server against ca.pem; cert/key optional; TLS
 * versions min..max (0: any). */
static SSL_CTX *client_ctx(const char *cert, const char *key, int min, int max) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  assert_non_null(ctx);
  assert_int_equal(SSL_CTX_load_verify_locations(ctx, cert_path("ca.pem"), NULL), 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  assert_int_equal(SSL_CTX_set_min_proto_version(ctx, min), 1);
  assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max), 1);
  /* TLS 1.0/1.1 need security level 0 in OpenSSL 3, on the client too. */
  if (min != 0 && min < TLS1_2_VERSION)
    assert_int_equal(SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0"), 1);
  if (cert) {
    assert_int_equal(SSL_CTX_use_certificate_file(ctx, cert_path(cert), SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, cert_path(key), SSL_FILETYPE_PEM), 1);
  }
  return ctx;
}

/* Opens a server and a client end; the client checks the host name. */
static void open_pair(SSL_CTX *sctx, SSL_CTX *cctx, end *s, end *c) {
  memset(s, 0, sizeof *s);
  memset(c, 0, sizeof *c);
  s->c = tls_conn_new(sctx, true);
  c->c = tls_conn_new(cctx, false);
  assert_non_null(s->c);
  assert_non_null(c->c);
  assert_int_equal(SSL_set1_host(tls_conn_ssl(c->c), "localhost"), 1);
  assert_int_equal(SSL_set_tlsext_host_name(tls_conn_ssl(c->c), "localhost"), 1);
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)((i * 131 + seed) ^ (i >> 9));
}

static void test_conn_handshake_and_data(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(0, 0x01, "");
  SSL_CTX *cctx = client_ctx(NULL, NULL, 0, 0);
  end s, c;
  open_pair(sctx, cctx, &s, &c);

  /* Both write before the handshake: kept and sent once it completes. */
  assert_int_equal(tls_conn_write(c.c, "hello from client\n", 18), 0);
  assert_int_equal(tls_conn_write(s.c, "hello from server\n", 18), 0);
  assert_false(tls_conn_handshake_done(s.c));
  pump(&s, &c);
  assert_null(tls_conn_error(s.c));
  assert_null(tls_conn_error(c.c));
  assert_true(tls_conn_handshake_done(s.c));
  assert_true(tls_conn_handshake_done(c.c));
  assert_int_equal(SSL_version(tls_conn_ssl(s.c)), TLS1_3_VERSION);
  assert_true(end_has(&s, "hello from client\n"));
  assert_true(end_has(&c, "hello from server\n"));

  /* 1 MiB each way, written in uneven pieces. */
  size_t big = 1u << 20;
  unsigned char *a = malloc(big), *b = malloc(big);
  assert_non_null(a);
  assert_non_null(b);
  fill(a, big, 7);
  fill(b, big, 99);
  s.len = c.len = 0;
  for (size_t off = 0; off < big;) {
    size_t k = big - off < 70001 ? big - off : 70001;
    assert_int_equal(tls_conn_write(c.c, a + off, k), 0);
    assert_int_equal(tls_conn_write(s.c, b + off, k), 0);
    off += k;
    if (off % 3 == 0) pump(&s, &c);
  }
  pump(&s, &c);
  assert_int_equal(s.len, big);
  assert_int_equal(c.len, big);
  assert_memory_equal(s.got, a, big);
  assert_memory_equal(c.got, b, big);
  free(a);
  free(b);

  /* A TLS 1.3 key update (the peer must answer with its own): traffic goes on. */
  s.len = c.len = 0;
  assert_int_equal(SSL_key_update(tls_conn_ssl(c.c), SSL_KEY_UPDATE_REQUESTED), 1);
  assert_int_equal(tls_conn_write(c.c, "after key update\n", 17), 0);
  pump(&s, &c);
  assert_int_equal(tls_conn_write(s.c, "server after key update\n", 24), 0);
  pump(&s, &c);
  assert_null(tls_conn_error(s.c));
  assert_null(tls_conn_error(c.c));
  assert_true(end_has(&s, "after key update\n"));
  assert_true(end_has(&c, "server after key update\n"));

  /* The client closes; the server sees it, then closes its side. */
  assert_int_equal(tls_conn_shutdown(c.c), 0);
  assert_true(tls_conn_shutdown_sent(c.c));
  assert_int_equal(tls_conn_write(c.c, "late", 4), -1);
  pump(&s, &c);
  assert_true(tls_conn_peer_closed(s.c));
  assert_false(tls_conn_peer_closed(c.c));
  assert_int_equal(tls_conn_shutdown(s.c), 0);
  pump(&s, &c);
  assert_true(tls_conn_peer_closed(c.c));
  assert_null(tls_conn_error(s.c));
  assert_null(tls_conn_error(c.c));

  end_free(&s);
  end_free(&c);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
}

/* Write and shutdown before any byte has moved: both happen after the handshake. */
static void test_conn_early_shutdown(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(0, 0x01, "");
  SSL_CTX *cctx = client_ctx(NULL, NULL, 0, 0);
  end s, c;
  open_pair(sctx, cctx, &s, &c);
  assert_int_equal(tls_conn_write(c.c, "one line\n", 9), 0);
  assert_int_equal(tls_conn_shutdown(c.c), 0);
  assert_false(tls_conn_shutdown_sent(c.c));
  pump(&s, &c);
  assert_true(tls_conn_shutdown_sent(c.c));
  assert_true(end_has(&s, "one line\n"));
  assert_int_equal(s.len, 9);
  assert_true(tls_conn_peer_closed(s.c));
  end_free(&s);
  end_free(&c);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
}

/* Runs a handshake and one line from the client; returns whether it got through. */
static bool try_pair(SSL_CTX *sctx, SSL_CTX *cctx, char *serr, size_t n, int *version) {
  end s, c;
  open_pair(sctx, cctx, &s, &c);
  tls_conn_write(c.c, "ping\n", 5);
  pump(&s, &c);
  bool ok = tls_conn_handshake_done(s.c) && !tls_conn_error(s.c) && !tls_conn_error(c.c) &&
            end_has(&s, "ping\n");
  snprintf(serr, n, "%s", tls_conn_error(s.c) ? tls_conn_error(s.c) : "");
  if (version) *version = SSL_version(tls_conn_ssl(s.c));
  /* A refused client never gets a byte through, and learns it was refused. */
  if (!ok) {
    assert_int_equal(s.len, 0);
    assert_non_null(tls_conn_error(s.c));
    assert_non_null(tls_conn_error(c.c));
    assert_int_equal(tls_conn_write(s.c, "x", 1), -1);
    assert_int_equal(tls_conn_feed(s.c, "x", 1), -1);
  }
  end_free(&s);
  end_free(&c);
  return ok;
}

static void test_conn_client_verification(void **state) {
  (void)state;
  char err[512];
  /* PEER | FAIL_IF_NO_PEER_CERT, the CA in chain. */
  SSL_CTX *sctx = server_ctx(0, 0x06, "chain.pem");

  SSL_CTX *none = client_ctx(NULL, NULL, 0, 0);
  assert_false(try_pair(sctx, none, err, sizeof err, NULL));
  if (!strstr(err, "certificate")) fail_msg("unexpected reason: %s", err);

  SSL_CTX *good = client_ctx("client.pem", "client.key", 0, 0);
  assert_true(try_pair(sctx, good, err, sizeof err, NULL));
  /* The same over TLS 1.2, where the check happens inside the handshake. */
  SSL_CTX *good12 = client_ctx("client.pem", "client.key", TLS1_2_VERSION, TLS1_2_VERSION);
  assert_true(try_pair(sctx, good12, err, sizeof err, NULL));

  SSL_CTX *rogue = client_ctx("rogue-client.pem", "rogue-client.key", 0, 0);
  assert_false(try_pair(sctx, rogue, err, sizeof err, NULL));
  if (!strstr(err, "certificate verify failed")) fail_msg("unexpected reason: %s", err);

  /* Without FAIL_IF_NO_PEER_CERT a client without a certificate gets in. */
  SSL_CTX *peer_only = server_ctx(0, 0x02, "chain.pem");
  assert_true(try_pair(peer_only, none, err, sizeof err, NULL));
  assert_false(try_pair(peer_only, rogue, err, sizeof err, NULL));

  SSL_CTX_free(peer_only);
  SSL_CTX_free(rogue);
  SSL_CTX_free(good12);
  SSL_CTX_free(good);
  SSL_CTX_free(none);
  SSL_CTX_free(sctx);
}

static void test_conn_pkcs12_chain_verifies_clients(void **state) {
  (void)state;
  char pw[] = PASS, err[512];
  /* The bundle's chain (the CA) is what client certificates are checked against. */
  c4_tls_params p = params(0, 0x06, "server.p12", "", "");
  p.password = pw;
  p.password_len = strlen(pw);
  SSL_CTX *sctx = expect_ok(&p);
  SSL_CTX *good = client_ctx("client.pem", "client.key", 0, 0);
  SSL_CTX *rogue = client_ctx("rogue-client.pem", "rogue-client.key", 0, 0);
  assert_true(try_pair(sctx, good, err, sizeof err, NULL));
  assert_false(try_pair(sctx, rogue, err, sizeof err, NULL));
  SSL_CTX_free(sctx);

  /* An explicit chain replaces the bundle's: now only the rogue CA's clients get in. */
  char pw2[] = PASS;
  p = params(0, 0x06, "server.p12", "", "rogue-ca.pem");
  p.password = pw2;
  p.password_len = strlen(pw2);
  sctx = expect_ok(&p);
  assert_false(try_pair(sctx, good, err, sizeof err, NULL));
  assert_true(try_pair(sctx, rogue, err, sizeof err, NULL));
  SSL_CTX_free(sctx);
  SSL_CTX_free(good);
  SSL_CTX_free(rogue);
}

static void test_conn_protocol_options(void **state) {
  (void)state;
  char err[512];
  int version = 0;
  SSL_CTX *only13 = client_ctx(NULL, NULL, TLS1_3_VERSION, TLS1_3_VERSION);
  SSL_CTX *upto11 = client_ctx(NULL, NULL, TLS1_VERSION, TLS1_1_VERSION);
  SSL_CTX *any = client_ctx(NULL, NULL, 0, 0);

  /* 0x80 (no TLS 1.3) on top of the defaults: a TLS 1.3-only client is refused… */
  SSL_CTX *no13 = server_ctx(0x3D | 0x80, 0x01, "");
  assert_false(try_pair(no13, only13, err, sizeof err, NULL));
  if (!strstr(err, "protocol")) fail_msg("unexpected reason: %s", err);
  /* …while any client gets TLS 1.2. */
  assert_true(try_pair(no13, any, err, sizeof err, &version));
  assert_int_equal(version, TLS1_2_VERSION);

  /* Default options: a client capped at TLS 1.1 is refused, by the options. */
  SSL_CTX *def = server_ctx(0, 0x01, "");
  assert_false(try_pair(def, upto11, err, sizeof err, NULL));
  if (!strstr(err, "protocol")) fail_msg("unexpected reason: %s", err);
  assert_true(try_pair(def, only13, err, sizeof err, &version));
  assert_int_equal(version, TLS1_3_VERSION);

  /* Options that allow TLS 1.0/1.1 (0x0D): the same client really gets in,
   * whatever the system configuration's minimum. */
  SSL_CTX *legacy = server_ctx(0x0D, 0x01, "");
  assert_true(try_pair(legacy, upto11, err, sizeof err, &version));
  assert_int_equal(version, TLS1_1_VERSION);
  SSL_CTX *tls10 = client_ctx(NULL, NULL, TLS1_VERSION, TLS1_VERSION);
  assert_true(try_pair(legacy, tls10, err, sizeof err, &version));
  assert_int_equal(version, TLS1_VERSION);
  /* Allow TLS 1.0 but not 1.1 (0x2D): TLS 1.0 in, a 1.1-only client out. */
  SSL_CTX *only10 = server_ctx(0x2D, 0x01, "");
  SSL_CTX *tls11 = client_ctx(NULL, NULL, TLS1_1_VERSION, TLS1_1_VERSION);
  assert_true(try_pair(only10, tls10, err, sizeof err, &version));
  assert_int_equal(version, TLS1_VERSION);
  assert_false(try_pair(only10, tls11, err, sizeof err, NULL));

  SSL_CTX_free(tls11);
  SSL_CTX_free(only10);
  SSL_CTX_free(tls10);
  SSL_CTX_free(legacy);
  SSL_CTX_free(def);
  SSL_CTX_free(no13);
  SSL_CTX_free(any);
  SSL_CTX_free(upto11);
  SSL_CTX_free(only13);
}

/* The client checks the server's name; a wrong one fails on the client side. */
static void test_conn_server_identity(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(0, 0x01, "");
  SSL_CTX *cctx = client_ctx(NULL, NULL, 0, 0);
  end s, c;
  open_pair(sctx, cctx, &s, &c);
  assert_int_equal(SSL_set1_host(tls_conn_ssl(c.c), "not-localhost"), 1);
  pump(&s, &c);
  assert_non_null(tls_conn_error(c.c));
  if (!strstr(tls_conn_error(c.c), "hostname mismatch"))
    fail_msg("unexpected reason: %s", tls_conn_error(c.c));
  assert_false(tls_conn_handshake_done(s.c));
  end_free(&s);
  end_free(&c);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
}

/* Garbage from the network is a fatal error with a reason, not a crash. */
static void test_conn_garbage(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(0, 0x01, "");
  tls_conn *s = tls_conn_new(sctx, true);
  assert_non_null(s);
  assert_int_equal(tls_conn_feed(s, "GET / HTTP/1.1\r\n\r\n", 18), -1);
  assert_non_null(tls_conn_error(s));
  assert_non_null(strstr(tls_conn_error(s), "TLS handshake failed"));
  assert_int_equal(ERR_peek_error(), 0);
  tls_conn_free(s);
  tls_conn_free(NULL);
  SSL_CTX_free(sctx);
}

static const struct CMUnitTest tests[] = {
  cmocka_unit_test(test_options_bits),
  cmocka_unit_test(test_options_default),
  cmocka_unit_test(test_verify_bits),
  cmocka_unit_test(test_ctx_pem_text),
  cmocka_unit_test(test_ctx_pem_files),
  cmocka_unit_test(test_ctx_pkcs12),
  cmocka_unit_test(test_ctx_encrypted_key),
  cmocka_unit_test(test_ctx_key_mismatch),
  cmocka_unit_test(test_ctx_refused_paths),
  cmocka_unit_test(test_ctx_bad_files),
  cmocka_unit_test(test_ctx_missing_and_ciphers),
  cmocka_unit_test(test_ctx_password_wiped),
  cmocka_unit_test(test_conn_handshake_and_data),
  cmocka_unit_test(test_conn_early_shutdown),
  cmocka_unit_test(test_conn_client_verification),
  cmocka_unit_test(test_conn_pkcs12_chain_verifies_clients),
  cmocka_unit_test(test_conn_protocol_options),
  cmocka_unit_test(test_conn_server_identity),
  cmocka_unit_test(test_conn_garbage),
};

UNIT_GROUP(tls, tests)
