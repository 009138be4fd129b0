/*
 * c4_tls_ctx.h — the OpenSSL side of C4:CreateTLSServer's parameters: turns
 * options, verifyMode, cipherList, certificate, privateKey, password and
 * chain into an SSL_CTX for a TLS server.  No Lua and no libuv in here, so it
 * is tested on its own (spec/unit/test_tls.c).
 *
 * The seed's option and verify bits are not OpenSSL's values; the two mapping
 * functions below translate bit by bit.  Certificates, keys and chains are PEM
 * text (anything containing "-----BEGIN") or a file path resolved like every
 * driver path (emu_path_resolve: package folder, then sandbox folder, never
 * ".", "..", absolute or escaping paths).  A certificate file that is not PEM
 * is read as PKCS#12; then privateKey is ignored and the bundle's chain is used
 * unless `chain` is given.
 *
 * Lifetime: the caller owns the returned SSL_CTX (SSL_CTX_free); every
 * connection made from it holds its own reference.
 */
#ifndef C4_TLS_CTX_H
#define C4_TLS_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

/* options bits, as the seed numbers them. */
enum {
  C4_TLS_OP_WORKAROUNDS    = 0x0001, /* DEFAULT_WORKAROUNDS */
  C4_TLS_OP_NO_COMPRESSION = 0x0002,
  C4_TLS_OP_NO_SSLv2       = 0x0004,
  C4_TLS_OP_NO_SSLv3       = 0x0008,
  C4_TLS_OP_NO_TLSv1       = 0x0010,
  C4_TLS_OP_NO_TLSv1_1     = 0x0020,
  C4_TLS_OP_NO_TLSv1_2     = 0x0040,
  C4_TLS_OP_NO_TLSv1_3     = 0x0080,
};
/* verifyMode bits, as the seed numbers them. */
enum {
  C4_TLS_VERIFY_NONE                 = 0x01,
  C4_TLS_VERIFY_PEER                 = 0x02,
  C4_TLS_VERIFY_FAIL_IF_NO_PEER_CERT = 0x04,
  C4_TLS_VERIFY_CLIENT_ONCE          = 0x08,
};

#define C4_TLS_DEFAULT_OPTIONS 0x003Du /* workarounds, no SSLv2/v3, no TLS 1.0/1.1 */
#define C4_TLS_DEFAULT_VERIFY  0x0Au   /* PEER | CLIENT_ONCE (the seed's table says PEER twice) */
#define C4_TLS_DEFAULT_CIPHERS "HIGH:!EXPORT:!DES:!RC4:!3DES:!MD5:!PSK"

typedef struct {
  unsigned options;      /* the seed's bits; 0 → 0x003D */
  unsigned verify_mode;  /* the seed's bits; 0 → 0x0A */
  const char *ciphers;   /* NULL or "" → C4_TLS_DEFAULT_CIPHERS */
  const char *certificate, *private_key, *chain;  /* PEM text or a file path; NULL = "" */
  char *password;        /* may be NULL; wiped (OPENSSL_cleanse) before return, whatever happens */
  size_t password_len;
  const char *pkg_dir, *sandbox_dir;  /* where file paths are looked up; either may be NULL */
} c4_tls_params;

/*
 * Builds a server SSL_CTX.  Returns it, or NULL with a one-line message in err
 * that names the part that failed ("certificate: ...", "private key: ...",
 * "chain: ...", "cipher list: ...") and why.  p->password is wiped either way.
 */
SSL_CTX *c4_tls_ctx_new(c4_tls_params *p, char *err, size_t errsz);

/* OpenSSL SSL_OP_* flags for the seed's option bits (0 → the default 0x003D).
 * Bits above 0x80 mean nothing in the seed and are ignored. */
unsigned long c4_tls_options_to_openssl(unsigned c4_options);

/* OpenSSL SSL_VERIFY_* mode for the seed's verify bits (0 → the default 0x0A).
 * Bits above 0x08 are ignored. */
int c4_tls_verify_to_openssl(unsigned c4_verify);

/* Whether the options (after the 0 → default rule) leave TLS 1.0 or 1.1 on,
 * which needs OpenSSL's security level 0 (see c4_tls_ctx.c). */
bool c4_tls_allows_legacy(unsigned c4_options);

/*
 * Drains this thread's OpenSSL error queue and writes the text of its first
 * (root-cause) entry into buf, or `fallback` when the queue is empty.
 * Returns buf.  Shared with c4_tls_conn.c.
 */
const char *c4_tls_err_text(char *buf, size_t n, const char *fallback);

#endif
