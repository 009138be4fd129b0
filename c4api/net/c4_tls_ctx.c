/*
 * c4_tls_ctx.c — builds the server SSL_CTX for C4:CreateTLSServer from its
 * TLS parameters (see c4_tls_ctx.h for the contract).
 *
 * Order of work: copy the password and wipe the caller's buffer; read the
 * certificate (PEM, PEM-FILE or PKCS#12), the key and the chain into OpenSSL
 * objects; then make the context and apply options, protocol range, ciphers,
 * verify mode, certificate, key and chain.  Every failure leaves through one
 * exit that frees what was made and wipes the password copy.
 *
 * Errors: the OpenSSL error queue is cleared before each step and read right
 * after it (as LuaSec does), so a message never carries a stale reason from
 * an earlier call.  Passwords reach OpenSSL only through a pem_password_cb
 * with its own userdata: no globals, and never OpenSSL's terminal prompt.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "net/c4_tls_ctx.h"
#include "emu.h"

/* A driver's certificate file is small; anything bigger is a mistake. */
#define MAX_FILE (4u << 20)

/* ---- bit mappings ------------------------------------------------------ */

unsigned long c4_tls_options_to_openssl(unsigned o) {
  if (o == 0) o = C4_TLS_DEFAULT_OPTIONS;
  unsigned long r = 0;
  if (o & C4_TLS_OP_WORKAROUNDS) r |= SSL_OP_ALL;
  if (o & C4_TLS_OP_NO_COMPRESSION) r |= SSL_OP_NO_COMPRESSION;
  /* SSL_OP_NO_SSLv2 is 0 in OpenSSL 3 (SSLv2 is gone); mapped for honesty. */
  if (o & C4_TLS_OP_NO_SSLv2) r |= SSL_OP_NO_SSLv2;
  if (o & C4_TLS_OP_NO_SSLv3) r |= SSL_OP_NO_SSLv3;
  if (o & C4_TLS_OP_NO_TLSv1) r |= SSL_OP_NO_TLSv1;
  if (o & C4_TLS_OP_NO_TLSv1_1) r |= SSL_OP_NO_TLSv1_1;
  if (o & C4_TLS_OP_NO_TLSv1_2) r |= SSL_OP_NO_TLSv1_2;
  if (o & C4_TLS_OP_NO_TLSv1_3) r |= SSL_OP_NO_TLSv1_3;
  return r;
}

int c4_tls_verify_to_openssl(unsigned v) {
  if (v == 0) v = C4_TLS_DEFAULT_VERIFY;
  int r = 0;
  /* SSL_VERIFY_NONE is 0: with PEER also set, PEER wins, as in OpenSSL. */
  if (v & C4_TLS_VERIFY_NONE) r |= SSL_VERIFY_NONE;
  if (v & C4_TLS_VERIFY_PEER) r |= SSL_VERIFY_PEER;
  if (v & C4_TLS_VERIFY_FAIL_IF_NO_PEER_CERT) r |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  if (v & C4_TLS_VERIFY_CLIENT_ONCE) r |= SSL_VERIFY_CLIENT_ONCE;
  return r;
}

bool c4_tls_allows_legacy(unsigned o) {
  if (o == 0) o = C4_TLS_DEFAULT_OPTIONS;
  return !(o & C4_TLS_OP_NO_TLSv1) || !(o & C4_TLS_OP_NO_TLSv1_1);
}

const char *c4_tls_err_text(char *buf, size_t n, const char *fallback) {
  unsigned long first = ERR_get_error();
  while (ERR_get_error() != 0) {}
  if (n == 0) return buf;
  if (first == 0) {
    snprintf(buf, n, "%s", fallback);
    return buf;
  }
  const char *reason = ERR_reason_error_string(first);
  if (reason)
    snprintf(buf, n, "%s", reason);
  else
    ERR_error_string_n(first, buf, n);
  return buf;
}

/* ---- inputs: text, files, passwords ------------------------------------ */

/* The password as OpenSSL's callbacks see it. */
typedef struct {
  const char *pw;  /* NUL-terminated copy, or NULL */
  size_t len;
  bool asked;      /* OpenSSL wanted a password: the input was encrypted */
} pw_ud;

static int pw_cb(char *buf, int size, int rwflag, void *ud) {
  (void)rwflag;
  pw_ud *u = ud;
  u->asked = true;
  /* -1 (not 0) so that OpenSSL stops instead of trying an empty password. */
  if (!u->pw || u->len == 0 || size <= 0) return -1;
  size_t n = u->len < (size_t)size ? u->len : (size_t)size;
  memcpy(buf, u->pw, n);
  return (int)n;
}

/* One parameter's bytes: the text itself, or a file's contents (owned). */
typedef struct {
  const char *data;
  size_t len;
  char *owned;          /* the file's contents, freed by blob_free */
  char name[PATH_MAX];  /* the driver's path, for messages; "" for text */
} blob;

static void blob_free(blob *b) {
  free(b->owned);
  b->owned = NULL;
}

static bool is_empty(const char *s) { return !s || s[0] == '\0'; }

static bool is_pem(const char *data, size_t len) {
  return memmem(data, len, "-----BEGIN", 10) != NULL;
}

static int read_file(const char *path, char **out, size_t *outlen, char *why, size_t whysz) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(why, whysz, "%s", strerror(errno));
    return -1;
  }
  size_t cap = 8192, len = 0;
  char *data = malloc(cap + 1);
  if (!data) {
    fclose(f);
    snprintf(why, whysz, "out of memory");
    return -1;
  }
  for (;;) {
    size_t got = fread(data + len, 1, cap - len, f);
    len += got;
    if (len < cap) break;
    if (cap >= MAX_FILE) {
      free(data);
      fclose(f);
      snprintf(why, whysz, "larger than %u bytes", MAX_FILE);
      return -1;
    }
    char *bigger = realloc(data, cap * 2 + 1);
    if (!bigger) {
      free(data);
      fclose(f);
      snprintf(why, whysz, "out of memory");
      return -1;
    }
    data = bigger;
    cap *= 2;
  }
  if (ferror(f)) {
    snprintf(why, whysz, "%s", strerror(errno));
    free(data);
    fclose(f);
    return -1;
  }
  fclose(f);
  data[len] = '\0';
  *out = data;
  *outlen = len;
  return 0;
}

/* Fills b from a parameter: PEM text as is, anything else as a driver path. */
static int blob_load(blob *b, const char *what, const char *arg, const c4_tls_params *p,
                     char *err, size_t errsz) {
  memset(b, 0, sizeof *b);
  size_t len = strlen(arg);
  if (is_pem(arg, len)) {
    b->data = arg;
    b->len = len;
    return 0;
  }
  char path[PATH_MAX], why[PATH_MAX + 128];
  if (emu_path_resolve(p->pkg_dir, p->sandbox_dir, arg, path, sizeof path, why, sizeof why) != 0) {
    snprintf(err, errsz, "%s: %s", what, why);
    return -1;
  }
  if (read_file(path, &b->owned, &b->len, why, sizeof why) != 0) {
    snprintf(err, errsz, "%s: cannot read file '%s': %s", what, arg, why);
    return -1;
  }
  b->data = b->owned;
  snprintf(b->name, sizeof b->name, "%s", arg);
  return 0;
}

/* "file 'x'" or "PEM text", for messages. */
static const char *blob_desc(const blob *b, char *buf, size_t n) {
  if (b->name[0])
    snprintf(buf, n, "file '%s'", b->name);
  else
    snprintf(buf, n, "PEM text");
  return buf;
}

static BIO *blob_bio(const blob *b) { return BIO_new_mem_buf(b->data, (int)b->len); }

/* Reads every certificate in PEM data, in order.  NULL if there is none. */
static STACK_OF(X509) *read_pem_certs(const blob *b, pw_ud *pw) {
  BIO *bio = blob_bio(b);
  STACK_OF(X509) *certs = sk_X509_new_null();
  if (!bio || !certs) goto fail;
  X509 *x;
  while ((x = PEM_read_bio_X509(bio, NULL, pw_cb, pw)) != NULL) {
    if (!sk_X509_push(certs, x)) {
      X509_free(x);
      goto fail;
    }
  }
  /* The loop ends at the end of the data, which leaves a "no start line"
   * entry behind; that is not a failure unless nothing was read. */
  if (sk_X509_num(certs) == 0) goto fail;
  ERR_clear_error();
  BIO_free(bio);
  return certs;
fail:
  BIO_free(bio);
  sk_X509_pop_free(certs, X509_free);
  return NULL;
}

/* The message for PEM data that gave no certificate: none at all, or a broken one. */
static void no_certs(const char *what, const blob *b, char *err, size_t errsz) {
  char why[256], desc[PATH_MAX + 16];
  c4_tls_err_text(why, sizeof why, "no start line");
  blob_desc(b, desc, sizeof desc);
  /* "no start line" is OpenSSL's way of saying there was no such PEM block. */
  if (strcmp(why, "no start line") == 0)
    snprintf(err, errsz, "%s: no PEM certificate in %s", what, desc);
  else
    snprintf(err, errsz, "%s: no valid PEM certificate in %s (%s)", what, desc, why);
}

/* What the inputs turned into. */
typedef struct {
  X509 *cert;
  EVP_PKEY *key;
  STACK_OF(X509) *extra;  /* certificates after the first in the certificate's PEM */
  STACK_OF(X509) *chain;  /* the chain parameter's, else the PKCS#12 bundle's */
} material;

static void material_free(material *m) {
  X509_free(m->cert);
  EVP_PKEY_free(m->key);
  sk_X509_pop_free(m->extra, X509_free);
  sk_X509_pop_free(m->chain, X509_free);
}

/* PKCS#12: certificate, key and (unless the caller gives one) the chain. */
static int load_pkcs12(const blob *b, pw_ud *pw, material *m, char *err, size_t errsz) {
  char why[256];
  BIO *bio = blob_bio(b);
  ERR_clear_error();
  PKCS12 *p12 = bio ? d2i_PKCS12_bio(bio, NULL) : NULL;
  BIO_free(bio);
  if (!p12) {
    ERR_clear_error();
    snprintf(err, errsz, "certificate: file '%s' is neither PEM nor PKCS#12", b->name);
    return -1;
  }
  const char *pass = pw->pw ? pw->pw : "";
  int passlen = (int)pw->len;
  /* Check the MAC first so that a wrong password is reported as such rather
   * than as whatever decryption step trips over it.  An empty password may be
   * encoded either as "" or as no password at all. */
  ERR_clear_error();
  if (PKCS12_mac_present(p12) && !PKCS12_verify_mac(p12, pass, passlen) &&
      !(passlen == 0 && PKCS12_verify_mac(p12, NULL, 0))) {
    ERR_clear_error();
    PKCS12_free(p12);
    snprintf(err, errsz, "certificate: wrong password for PKCS#12 file '%s'%s", b->name,
             passlen == 0 ? " (no password given)" : "");
    return -1;
  }
  STACK_OF(X509) *ca = NULL;
  ERR_clear_error();
  int ok = PKCS12_parse(p12, pass, &m->key, &m->cert, &ca);
  PKCS12_free(p12);
  if (!ok) {
    snprintf(err, errsz, "certificate: cannot open PKCS#12 file '%s': %s", b->name,
             c4_tls_err_text(why, sizeof why, "unknown error"));
    return -1;
  }
  if (!m->cert || !m->key) {
    sk_X509_pop_free(ca, X509_free);
    snprintf(err, errsz, "certificate: PKCS#12 file '%s' holds no %s", b->name,
             m->cert ? "private key" : "certificate");
    return -1;
  }
  if (ca && sk_X509_num(ca) > 0 && !m->chain)
    m->chain = ca;
  else
    sk_X509_pop_free(ca, X509_free);
  return 0;
}

static int load_key(const blob *b, pw_ud *pw, material *m, const char *what, char *err,
                    size_t errsz) {
  char why[256], desc[PATH_MAX + 16];
  BIO *bio = blob_bio(b);
  pw->asked = false;
  ERR_clear_error();
  m->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, pw_cb, pw) : NULL;
  BIO_free(bio);
  if (m->key) {
    ERR_clear_error();
    return 0;
  }
  c4_tls_err_text(why, sizeof why, "no private key found");
  /* Both the PKCS#8 ("BEGIN ENCRYPTED PRIVATE KEY") and the traditional
   * ("Proc-Type: 4,ENCRYPTED") forms carry the word. */
  bool encrypted = pw->asked || memmem(b->data, b->len, "ENCRYPTED", 9) != NULL;
  blob_desc(b, desc, sizeof desc);
  if (encrypted && (!pw->pw || pw->len == 0))
    snprintf(err, errsz, "%s: the key in %s is encrypted and no password was given", what, desc);
  else if (encrypted)
    snprintf(err, errsz, "%s: wrong password for the encrypted key in %s (%s)", what, desc, why);
  else
    snprintf(err, errsz, "%s: cannot read a private key from %s: %s", what, desc, why);
  return -1;
}

/* Turns the parameters into OpenSSL objects in m. */
static int load_material(const c4_tls_params *p, pw_ud *pw, material *m, char *err,
                         size_t errsz) {
  char desc[PATH_MAX + 16];
  blob b;
  int rc = -1;

  /* The chain first: a PKCS#12 bundle's own chain is kept only if this is empty. */
  if (!is_empty(p->chain)) {
    if (blob_load(&b, "chain", p->chain, p, err, errsz) != 0) return -1;
    ERR_clear_error();
    if (!is_pem(b.data, b.len) || !(m->chain = read_pem_certs(&b, pw))) {
      no_certs("chain", &b, err, errsz);
      blob_free(&b);
      return -1;
    }
    blob_free(&b);
  }

  if (is_empty(p->certificate)) {
    snprintf(err, errsz, "certificate: none given");
    return -1;
  }
  if (blob_load(&b, "certificate", p->certificate, p, err, errsz) != 0) return -1;
  if (!is_pem(b.data, b.len)) {
    /* PKCS#12 brings its own key: the privateKey parameter is ignored. */
    rc = load_pkcs12(&b, pw, m, err, errsz);
    blob_free(&b);
    return rc;
  }
  ERR_clear_error();
  STACK_OF(X509) *certs = read_pem_certs(&b, pw);
  if (!certs) {
    no_certs("certificate", &b, err, errsz);
    blob_free(&b);
    return -1;
  }
  m->cert = sk_X509_shift(certs);
  m->extra = certs;

  if (!is_empty(p->private_key)) {
    blob_free(&b);
    if (blob_load(&b, "private key", p->private_key, p, err, errsz) != 0) return -1;
    if (!is_pem(b.data, b.len)) {
      snprintf(err, errsz, "private key: %s is not PEM", blob_desc(&b, desc, sizeof desc));
      blob_free(&b);
      return -1;
    }
    rc = load_key(&b, pw, m, "private key", err, errsz);
  } else if (memmem(b.data, b.len, "PRIVATE KEY-----", 16)) {
    /* No privateKey, but the certificate's PEM carries one (a combined file). */
    rc = load_key(&b, pw, m, "private key (in the certificate's PEM)", err, errsz);
  } else {
    snprintf(err, errsz, "private key: none given");
  }
  blob_free(&b);
  return rc;
}

/* ---- the context ------------------------------------------------------- */

static int add_chain(SSL_CTX *ctx, STACK_OF(X509) *certs, bool trust, char *err, size_t errsz) {
  char why[256];
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  for (int i = 0; certs && i < sk_X509_num(certs); i++) {
    X509 *x = sk_X509_value(certs, i);
    ERR_clear_error();
    if (!SSL_CTX_add1_chain_cert(ctx, x)) {
      snprintf(err, errsz, "chain: cannot add certificate %d: %s", i + 1,
               c4_tls_err_text(why, sizeof why, "unknown error"));
      return -1;
    }
    if (!trust) continue;
    /* With verify PEER, the chain is also what client certificates are checked
     * against, and its names go into the CertificateRequest so that clients
     * with several certificates pick one this server accepts. */
    ERR_clear_error();
    if (!X509_STORE_add_cert(store, x) || !SSL_CTX_add_client_CA(ctx, x)) {
      snprintf(err, errsz, "chain: cannot trust certificate %d for client verification: %s",
               i + 1, c4_tls_err_text(why, sizeof why, "unknown error"));
      return -1;
    }
  }
  return 0;
}

/*
 * Options, protocol range and ciphers.
 *
 * The seed's options are the only thing that decides which TLS versions the
 * server speaks.  Two things stand in the way on a stock OpenSSL 3 system:
 *   - Debian's /etc/ssl/openssl.cnf sets MinProtocol = TLSv1.2 (and
 *     CipherString @SECLEVEL=2) for every new context;
 *   - OpenSSL 3 itself refuses TLS 1.0/1.1 at any security level above 0,
 *     because their handshake signatures use SHA-1/MD5.
 * So the protocol range is opened wide (min/max 0: every version the library
 * has) and the SSL_OP_NO_* options do the refusing; and when the options leave
 * TLS 1.0 or 1.1 on, ":@SECLEVEL=0" is appended to this context's cipher list
 * so that such a client really gets in, as it would on the controller.  With
 * the default options (0x003D) neither applies: the level stays as configured
 * and a TLS 1.1 client is refused by SSL_OP_NO_TLSv1_1.
 */
static int apply_protocol(SSL_CTX *ctx, const c4_tls_params *p, char *err, size_t errsz) {
  char why[256];
  SSL_CTX_set_options(ctx, c4_tls_options_to_openssl(p->options));
  ERR_clear_error();
  if (!SSL_CTX_set_min_proto_version(ctx, 0) || !SSL_CTX_set_max_proto_version(ctx, 0)) {
    snprintf(err, errsz, "options: cannot set the protocol range: %s",
             c4_tls_err_text(why, sizeof why, "unknown error"));
    return -1;
  }
  const char *list = is_empty(p->ciphers) ? C4_TLS_DEFAULT_CIPHERS : p->ciphers;
  char *full = NULL;
  if (c4_tls_allows_legacy(p->options)) {
    size_t n = strlen(list) + sizeof ":@SECLEVEL=0";
    if (!(full = malloc(n))) {
      snprintf(err, errsz, "cipher list: out of memory");
      return -1;
    }
    snprintf(full, n, "%s:@SECLEVEL=0", list);
  }
  ERR_clear_error();
  int ok = SSL_CTX_set_cipher_list(ctx, full ? full : list);
  free(full);
  if (!ok) {
    snprintf(err, errsz, "cipher list '%s': %s", list,
             c4_tls_err_text(why, sizeof why, "no usable cipher"));
    return -1;
  }
  return 0;
}

static SSL_CTX *build_ctx(const c4_tls_params *p, material *m, char *err, size_t errsz) {
  char why[256];
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    snprintf(err, errsz, "cannot create a TLS context: %s",
             c4_tls_err_text(why, sizeof why, "unknown error"));
    return NULL;
  }
  if (apply_protocol(ctx, p, err, errsz) != 0) goto fail;

  int vmode = c4_tls_verify_to_openssl(p->verify_mode);
  SSL_CTX_set_verify(ctx, vmode, NULL);
  /* A server that verifies clients must name its session context, or
   * OpenSSL refuses every resumed session ("session id context uninitialized"). */
  static const unsigned char sid_ctx[] = "c4emu";
  ERR_clear_error();
  if (!SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1)) {
    snprintf(err, errsz, "cannot set the session id context: %s",
             c4_tls_err_text(why, sizeof why, "unknown error"));
    goto fail;
  }

  ERR_clear_error();
  if (!SSL_CTX_use_certificate(ctx, m->cert)) {
    snprintf(err, errsz, "certificate: not usable: %s",
             c4_tls_err_text(why, sizeof why, "unknown error"));
    goto fail;
  }
  /* Checked here rather than left to SSL_CTX_use_PrivateKey, which in some
   * OpenSSL versions quietly drops a mismatching pair instead of failing. */
  ERR_clear_error();
  if (X509_check_private_key(m->cert, m->key) != 1) {
    snprintf(err, errsz, "private key does not match the certificate (%s)",
             c4_tls_err_text(why, sizeof why, "key values mismatch"));
    goto fail;
  }
  ERR_clear_error();
  if (!SSL_CTX_use_PrivateKey(ctx, m->key)) {
    snprintf(err, errsz, "private key: not usable: %s",
             c4_tls_err_text(why, sizeof why, "unknown error"));
    goto fail;
  }

  bool trust = (vmode & SSL_VERIFY_PEER) != 0;
  if (add_chain(ctx, m->extra, trust, err, errsz) != 0) goto fail;
  if (add_chain(ctx, m->chain, trust, err, errsz) != 0) goto fail;

  ERR_clear_error();
  if (!SSL_CTX_check_private_key(ctx)) {
    snprintf(err, errsz, "private key does not match the certificate (%s)",
             c4_tls_err_text(why, sizeof why, "key values mismatch"));
    goto fail;
  }
  return ctx;
fail:
  SSL_CTX_free(ctx);
  return NULL;
}

SSL_CTX *c4_tls_ctx_new(c4_tls_params *p, char *err, size_t errsz) {
  pw_ud pw = {0};
  material m = {0};
  SSL_CTX *ctx = NULL;
  char *pwcopy = NULL;
  if (errsz) err[0] = '\0';

  /* One NUL-terminated copy (PKCS12_parse wants a C string), and the
   * caller's buffer is wiped at once: only one copy lives at a time. */
  if (p->password && p->password_len > 0) {
    pwcopy = OPENSSL_malloc(p->password_len + 1);
    if (pwcopy) {
      memcpy(pwcopy, p->password, p->password_len);
      pwcopy[p->password_len] = '\0';
      pw.pw = pwcopy;
      pw.len = p->password_len;
    }
    OPENSSL_cleanse(p->password, p->password_len);
    if (!pwcopy) {
      snprintf(err, errsz, "password: out of memory");
      return NULL;
    }
  }

  if (load_material(p, &pw, &m, err, errsz) == 0)
    ctx = build_ctx(p, &m, err, errsz);

  material_free(&m);
  if (pwcopy) OPENSSL_clear_free(pwcopy, pw.len + 1);
  ERR_clear_error();
  return ctx;
}
