/*
 * emu_tlsclient.c — client SSL_CTX for the spec module's TLS clients (see
 * emu_tlsclient.h).  The OpenSSL error queue is cleared before each step and
 * read right after a failure, as LuaSec does.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "emu_tlsclient.h"

int emu_tls_version(const char *s) {
  static const struct {
    const char *name;
    int v;
  } names[] = {
      {"TLS1", TLS1_VERSION},       {"TLS1.0", TLS1_VERSION},     {"TLSv1", TLS1_VERSION},
      {"TLSv1.0", TLS1_VERSION},    {"TLS1.1", TLS1_1_VERSION},   {"TLSv1.1", TLS1_1_VERSION},
      {"TLS1.2", TLS1_2_VERSION},   {"TLSv1.2", TLS1_2_VERSION},  {"TLS1.3", TLS1_3_VERSION},
      {"TLSv1.3", TLS1_3_VERSION},
  };
  char norm[16];
  size_t n = 0;
  for (; s[n] && n < sizeof norm - 1; n++) norm[n] = s[n] == '_' ? '.' : s[n];
  norm[n] = '\0';
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcasecmp(names[i].name, norm) == 0) return names[i].v;
  return 0;
}

/* PEM text as is, anything else as a file name. */
static BIO *pem_bio(const char *s) {
  if (strstr(s, "-----BEGIN")) return BIO_new_mem_buf(s, -1);
  return BIO_new_file(s, "r");
}

const char *emu_tls_reason(char *buf, size_t n, const char *fallback) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  snprintf(buf, n, "%s", r ? r : fallback);
  return buf;
}

SSL_CTX *emu_tls_client_ctx(const emu_tls_client_opts *o, char *err, size_t errsz) {
  char why[256];
  BIO *bio = NULL;
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
  if (!ctx) {
    snprintf(err, errsz, "cannot create a TLS context: %s", emu_tls_reason(why, sizeof why, "?"));
    return NULL;
  }
  /* The caller's range, not the system openssl.cnf's MinProtocol. */
  SSL_CTX_set_min_proto_version(ctx, o->min_version);
  SSL_CTX_set_max_proto_version(ctx, o->max_version);
  bool legacy = (o->min_version && o->min_version < TLS1_2_VERSION) ||
                (o->max_version && o->max_version < TLS1_2_VERSION);
  const char *list = o->ciphers ? o->ciphers : "DEFAULT";
  char full[1024];
  snprintf(full, sizeof full, "%s%s", list, legacy ? ":@SECLEVEL=0" : "");
  ERR_clear_error();
  if (!SSL_CTX_set_cipher_list(ctx, full)) {
    snprintf(err, errsz, "ciphers '%s': %s", list, emu_tls_reason(why, sizeof why, "no cipher"));
    goto fail;
  }
  ERR_clear_error();
  if (o->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, o->ciphersuites)) {
    snprintf(err, errsz, "ciphersuites '%s': %s", o->ciphersuites,
             emu_tls_reason(why, sizeof why, "no cipher suite"));
    goto fail;
  }
  /* A server that verifies asks for the client's certificate and needs one. */
  SSL_CTX_set_verify(ctx, !o->verify ? SSL_VERIFY_NONE
                          : o->server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                      : SSL_VERIFY_PEER, NULL);
  if (o->ca) {
    ERR_clear_error();
    bio = pem_bio(o->ca);
    STACK_OF(X509_INFO) *infos = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    bio = NULL;
    int added = 0;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
      X509_INFO *xi = sk_X509_INFO_value(infos, i);
      if (xi->x509 && X509_STORE_add_cert(store, xi->x509)) added++;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    if (added == 0) {
      snprintf(err, errsz, "ca: no certificate in %s (%s)", strstr(o->ca, "-----BEGIN") ?
               "the PEM text" : o->ca, emu_tls_reason(why, sizeof why, "no PEM certificate"));
      goto fail;
    }
  }
  if (o->cert) {
    ERR_clear_error();
    bio = pem_bio(o->cert);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    if (!x || !SSL_CTX_use_certificate(ctx, x)) {
      X509_free(x);
      snprintf(err, errsz, "cert: %s", emu_tls_reason(why, sizeof why, "no PEM certificate"));
      goto fail;
    }
    X509_free(x);
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
      if (!SSL_CTX_add0_chain_cert(ctx, x)) X509_free(x);
    ERR_clear_error(); /* the end of the PEM data */
    BIO_free(bio);
    bio = pem_bio(o->key);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    if (!k || !SSL_CTX_use_PrivateKey(ctx, k) || !SSL_CTX_check_private_key(ctx)) {
      EVP_PKEY_free(k);
      snprintf(err, errsz, "key: %s", emu_tls_reason(why, sizeof why, "no PEM private key"));
      goto fail;
    }
    EVP_PKEY_free(k);
    BIO_free(bio);
    bio = NULL;
  }
  ERR_clear_error();
  return ctx;
fail:
  BIO_free(bio);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return NULL;
}

int emu_tls_client_setup(SSL *ssl, const emu_tls_client_opts *o, const char *host) {
  ERR_clear_error();
  if (o->server_name && !SSL_set_tlsext_host_name(ssl, o->server_name)) return -1;
  if (!o->verify) return 0;
  if (o->server_name) return SSL_set1_host(ssl, o->server_name) ? 0 : -1;
  return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) ? 0 : -1;
}
