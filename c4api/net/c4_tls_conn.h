/*
 * c4_tls_conn.h — one TLS connection driven entirely through memory, so the
 * event loop never blocks on OpenSSL: the socket layer feeds it the bytes that
 * arrived, takes the bytes to send, and reads and writes plaintext.  No
 * sockets and no Lua in here.
 *
 * The usual round, after each network read and each write by the driver:
 *
 *   tls_conn_feed(c, bytes, n)             ciphertext in (may be n = 0)
 *   while ((k = tls_conn_read(c, buf, sizeof buf)) > 0) deliver(buf, k);
 *   while ((k = tls_conn_take_output(c, buf, sizeof buf)) > 0) send(buf, k);
 *
 * Output must be taken after every feed, write and shutdown, even a failed
 * one: the handshake, TLS 1.3 key-update replies, session tickets and the
 * alert that tells the peer why a handshake failed all leave that way.
 *
 * States: handshaking → established → (close_notify sent and/or received).
 * A fatal error (tls_conn_error() != NULL) ends the connection; output already
 * made (the alert) can still be taken, nothing else works.  Plaintext written
 * during the handshake is kept and sent once it completes; so is a shutdown
 * asked for then.
 *
 * Lifetime: tls_conn_free() frees everything (NULL-safe).  The SSL_CTX is
 * reference-counted by OpenSSL, so it may be freed before its connections.
 */
#ifndef C4_TLS_CONN_H
#define C4_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

typedef struct tls_conn tls_conn;

/* A server (accepting) or client (connecting) connection.  NULL only when out
 * of memory.  A client sends its ClientHello on the first feed, write,
 * take_output or output_pending, so tls_conn_ssl() can set SNI and the
 * expected host name before that. */
tls_conn *tls_conn_new(SSL_CTX *ctx, bool server);
void tls_conn_free(tls_conn *c);

/* Feeds ciphertext that arrived from the network and processes all of it.
 * Returns 0, or -1 on a fatal TLS error (reason via tls_conn_error). */
int tls_conn_feed(tls_conn *c, const void *data, size_t n);

/* Plaintext decrypted so far: copies up to n bytes, returns the count (0: none). */
size_t tls_conn_read(tls_conn *c, void *buf, size_t n);
/* How many plaintext bytes tls_conn_read has waiting. */
size_t tls_conn_readable(const tls_conn *c);

/* Queues plaintext to send (kept until the handshake completes).  Returns 0,
 * or -1 if the connection failed or a shutdown was asked for. */
int tls_conn_write(tls_conn *c, const void *data, size_t n);

/* Ciphertext waiting for the network: copies up to n bytes, returns the count. */
size_t tls_conn_take_output(tls_conn *c, void *buf, size_t n);
/* How many ciphertext bytes are waiting. */
size_t tls_conn_output_pending(tls_conn *c);

bool tls_conn_handshake_done(const tls_conn *c);
/* The peer sent close_notify: no more plaintext will come. */
bool tls_conn_peer_closed(const tls_conn *c);

/* Asks for close_notify after everything written so far.  Returns 0 (queued,
 * or deferred until the handshake and pending writes are done), or -1 if the
 * connection has failed. */
int tls_conn_shutdown(tls_conn *c);
/* close_notify is in the output: once that is taken and sent, the socket may close. */
bool tls_conn_shutdown_sent(const tls_conn *c);

/* Why the connection failed, with OpenSSL's text; NULL while it has not. */
const char *tls_conn_error(const tls_conn *c);

/* The underlying SSL, to read the version, cipher or peer certificate, or to
 * set up a client before it starts (see tls_conn_new).  Owned by c. */
SSL *tls_conn_ssl(tls_conn *c);

#endif
