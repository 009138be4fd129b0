/*
 * c4_netbind_tls.c — the client SSL_CTX of an SSL network binding port,
 * from its NetPortOptions (reference §7.5):
 *   CERTIFICATE, PRIVATE_KEY  the client's certificate and key: PEM text or a
 *                             file path, resolved and confined as for
 *                             CreateTLSServer (package folder, then sandbox;
 *                             never absolute, ".", ".." or escaping);
 *   PROTECTED = true          the key is encrypted: its password comes from
 *                             the driver's GetPrivateKeyPassword(idBinding,
 *                             nPort), called when the connection is made;
 *   CACERTFILE                the CAs the device's certificate must chain to
 *                             (same path rules; PEM text too);
 *   VERIFY_MODE               "none" (default): no check; "peer": the chain
 *                             must verify and the certificate must name the
 *                             binding's address (IP SAN, or the host name,
 *                             which also goes out as SNI);
 *   METHOD / VERIFY_METHOD    "sslv23" / "tls" (default: any TLS version the
 *                             system allows), "tlsv1", "tlsv1_1", "tlsv1_2",
 *                             "tlsv1_3": that version only (1.0 and 1.1 need
 *                             OpenSSL's security level 0, set then).
 */
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "netbind/c4_netbind.h"

/* A BIO over PEM text, or over the file the path resolves to; NULL with err. */
static BIO *open_pem(emu_ctx *ctx, const char *what, const char *v, char *err, size_t errsz) {
  if (strstr(v, "-----BEGIN")) return BIO_new_mem_buf(v, -1);
  char path[4096], why[256];
  if (emu_resolve_driver_path(ctx, v, path, sizeof path, why, sizeof why) != 0) {
    snprintf(err, errsz, "%s '%s': %s", what, v, why);
    return NULL;
  }
  BIO *b = BIO_new_file(path, "r");
  if (!b) snprintf(err, errsz, "%s '%s': cannot read %s", what, v, path);
  return b;
}

static const char *ssl_reason(char *buf, size_t n) {
  unsigned long e = ERR_get_error();
  if (!e) return "not PEM";
  ERR_error_string_n(e, buf, n);
  ERR_clear_error();
  return buf;
}

/* GetPrivateKeyPassword(idBinding, nPort) → the password, or NULL. */
static char *ask_password(nb_port *p) {
  emu_ctx *ctx = p->b->st->ctx;
  if (!emu_push_global_fn(ctx, "GetPrivateKeyPassword")) return NULL;
  lua_pushinteger(ctx->L, p->b->id);
  lua_pushinteger(ctx->L, p->number);
  if (emu_pcall(ctx, 2, 1, "GetPrivateKeyPassword") != 0) return NULL;
  char *pw = lua_isstring(ctx->L, -1) ? strdup(lua_tostring(ctx->L, -1)) : NULL;
  lua_pop(ctx->L, 1);
  return pw;
}

static int load_identity(nb_port *p, SSL_CTX *c, char *err, size_t errsz) {
  emu_ctx *ctx = p->b->st->ctx;
  char why[256];
  BIO *b = open_pem(ctx, "CERTIFICATE", p->cert, err, errsz);
  if (!b) return -1;
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  if (!x || SSL_CTX_use_certificate(c, x) != 1) {
    snprintf(err, errsz, "CERTIFICATE: %s", ssl_reason(why, sizeof why));
    X509_free(x);
    return -1;
  }
  X509_free(x);
  if (!(b = open_pem(ctx, "PRIVATE_KEY", p->key ? p->key : p->cert, err, errsz))) return -1;
  char *pw = p->protected_key ? ask_password(p) : NULL;
  if (p->protected_key && !pw)
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] network binding %d port %d: PROTECTED key but "
            "GetPrivateKeyPassword gave no string", p->b->id, p->number);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, pw ? pw : (char *)"");
  if (pw) {
    OPENSSL_cleanse(pw, strlen(pw));
    free(pw);
  }
  BIO_free(b);
  if (!k || SSL_CTX_use_PrivateKey(c, k) != 1 || SSL_CTX_check_private_key(c) != 1) {
    snprintf(err, errsz, "PRIVATE_KEY: %s", ssl_reason(why, sizeof why));
    EVP_PKEY_free(k);
    return -1;
  }
  EVP_PKEY_free(k);
  return 0;
}

static int load_cas(nb_port *p, SSL_CTX *c, char *err, size_t errsz) {
  BIO *b = open_pem(p->b->st->ctx, "CACERTFILE", p->cafile, err, errsz);
  if (!b) return -1;
  X509_STORE *store = SSL_CTX_get_cert_store(c);
  int n = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
    if (X509_STORE_add_cert(store, x) == 1) n++;
    X509_free(x);
  }
  ERR_clear_error();   /* the end of the file */
  BIO_free(b);
  if (n == 0) {
    snprintf(err, errsz, "CACERTFILE '%s': no certificate in it", p->cafile);
    return -1;
  }
  return 0;
}

static int set_method(nb_port *p, SSL_CTX *c, char *err, size_t errsz) {
  const char *m = p->method;
  int v = 0;
  if (!m || strcasecmp(m, "sslv23") == 0 || strcasecmp(m, "tls") == 0) return 0;
  /* The GetPrivateKeyPassword page writes the versions without the
   * underscore (tlsv11, tlsv12) and drivers copy it into driver.xml. */
  if (strcasecmp(m, "tlsv1") == 0) v = TLS1_VERSION;
  else if (strcasecmp(m, "tlsv1_1") == 0 || strcasecmp(m, "tlsv11") == 0) v = TLS1_1_VERSION;
  else if (strcasecmp(m, "tlsv1_2") == 0 || strcasecmp(m, "tlsv12") == 0) v = TLS1_2_VERSION;
  else if (strcasecmp(m, "tlsv1_3") == 0 || strcasecmp(m, "tlsv13") == 0) v = TLS1_3_VERSION;
  else {
    snprintf(err, errsz, "METHOD '%s': not one of sslv23, tls, tlsv1, tlsv1_1 (tlsv11), "
             "tlsv1_2 (tlsv12), tlsv1_3 (tlsv13)", m);
    return -1;
  }
  if (v < TLS1_2_VERSION) SSL_CTX_set_security_level(c, 0);
  SSL_CTX_set_min_proto_version(c, v);
  SSL_CTX_set_max_proto_version(c, v);
  return 0;
}

SSL_CTX *nb_tls_client_ctx(nb_port *p, char *err, size_t errsz) {
  SSL_CTX *c = SSL_CTX_new(TLS_client_method());
  if (!c) {
    snprintf(err, errsz, "SSL: out of memory");
    return NULL;
  }
  int rc = set_method(p, c, err, errsz);
  if (rc == 0 && p->cert) rc = load_identity(p, c, err, errsz);
  if (rc == 0 && p->cafile) rc = load_cas(p, c, err, errsz);
  if (rc != 0) {
    SSL_CTX_free(c);
    return NULL;
  }
  if (p->verify_peer && !p->cafile) SSL_CTX_set_default_verify_paths(c);
  SSL_CTX_set_verify(c, p->verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  return c;
}

/* The name the device's certificate must carry under VERIFY_MODE peer. */
void nb_tls_expect_peer(nb_port *p, SSL *ssl) {
  if (!ssl || !p->b->address) return;
  const char *a = p->b->address;
  struct sockaddr_storage ss;
  bool name = c4_sockaddr_parse(a, 1, &ss) != 0;   /* a host name, not an IP */
  if (name) SSL_set_tlsext_host_name(ssl, a);         /* SNI */
  if (!p->verify_peer) return;
  X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
  if (name) X509_VERIFY_PARAM_set1_host(vp, a, 0);
  else X509_VERIFY_PARAM_set1_ip_asc(vp, a);
}
