/*
 * emu_tlsclient.h — the OpenSSL side of the spec module's TLS clients
 * (d:connect(port, { tls = ... }) in emu_specclient.c): a client SSL_CTX from
 * the spec's options, and the per-connection name checks.  No Lua here.
 *
 * Lifetime: the caller owns the SSL_CTX (SSL_CTX_free); connections made
 * from it hold their own references.
 */
#ifndef EMU_TLSCLIENT_H
#define EMU_TLSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

typedef struct {
  const char *ca, *cert, *key;  /* PEM text (contains "-----BEGIN") or a file path; NULL: none */
  const char *server_name;      /* SNI and the name to check; NULL: check the address */
  const char *ciphers;          /* TLS 1.2 and older; NULL: OpenSSL's DEFAULT */
  const char *ciphersuites;     /* TLS 1.3; NULL: OpenSSL's default */
  int min_version, max_version; /* TLS1_VERSION ... TLS1_3_VERSION; 0: no bound */
  bool verify;                  /* check the server's certificate against ca, and its name */
  bool server;                  /* issue 9: a server context (d:device's TLS): verify then
                                   asks for and checks the client's certificate */
} emu_tls_client_opts;

/* "TLS1", "TLS1.1", "TLSv1.2", "tls1_3" ... → TLS1_VERSION ...; 0 if unknown. */
int emu_tls_version(const char *s);

/*
 * A client context: the version range given (not the system openssl.cnf's
 * MinProtocol; a range reaching below TLS 1.2 lowers the security level to
 * 0, as OpenSSL 3 needs for TLS 1.0/1.1), ciphers, the CA to trust, and the
 * client certificate and key.  NULL with a message in err on failure.
 */
SSL_CTX *emu_tls_client_ctx(const emu_tls_client_opts *o, char *err, size_t errsz);

/* Sets SNI and the name the server's certificate must carry (server_name,
 * else the IP address `host`) on a connection before its hello goes out.
 * 0, or -1 (reason in OpenSSL's error queue: see emu_tls_reason). */
int emu_tls_client_setup(SSL *ssl, const emu_tls_client_opts *o, const char *host);

/* OpenSSL's reason for the last failure, or fallback; empties the queue. */
const char *emu_tls_reason(char *buf, size_t n, const char *fallback);

#endif
