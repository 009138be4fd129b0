/*
 * c4_tls_conn.c — a TLS connection over two memory BIOs (see c4_tls_conn.h).
 *
 * OpenSSL reads ciphertext from `net_in` and writes ciphertext to `net_out`;
 * neither ever blocks, so every SSL_* call ends in success, WANT_READ (needs
 * more bytes from the peer) or a real error.  All the work happens in pump(),
 * run after each feed, write and shutdown:
 *   1. finish the handshake if it is not done;
 *   2. hand queued plaintext to SSL_write (partial writes allowed; what is not
 *      taken stays queued);
 *   3. decrypt everything readable into the plaintext buffer, which also
 *      lets OpenSSL answer TLS 1.3 key updates and take session tickets;
 *   4. send close_notify if one was asked for and nothing is left to write.
 *
 * Errors: the OpenSSL error queue is cleared before each SSL_* call and read
 * right after a failure; the first fatal reason is kept in `err`.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "net/c4_tls_conn.h"
#include "net/c4_tls_ctx.h"

/* The largest TLS record's plaintext: one SSL_read never returns more. */
#define READ_CHUNK 16384

/* A byte queue: data lives at p[head .. head+len). */
typedef struct {
  unsigned char *p;
  size_t head, len, cap;
} bytes;

struct tls_conn {
  SSL *ssl;
  BIO *net_in;      /* ciphertext from the network, read by OpenSSL (owned by ssl) */
  BIO *net_out;     /* ciphertext written by OpenSSL, for the network (owned by ssl) */
  bytes plain_in;   /* decrypted, waiting for tls_conn_read */
  bytes plain_out;  /* written by the caller, not yet taken by SSL_write */
  bool server;
  bool started;     /* the handshake has been driven at least once */
  bool done;        /* handshake complete */
  bool peer_closed; /* close_notify received */
  bool want_shutdown, shutdown_sent;
  bool failed;
  char err[384];
};

/* ---- byte queues ------------------------------------------------------- */

static void bytes_free(bytes *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* Makes room for `extra` more bytes after the data; returns the free space's start. */
static unsigned char *bytes_reserve(bytes *b, size_t extra) {
  if (b->head > 0 && (b->len == 0 || b->head + b->len + extra > b->cap)) {
    memmove(b->p, b->p + b->head, b->len);
    b->head = 0;
  }
  if (b->len + extra > b->cap) {
    if (extra > SIZE_MAX / 2 - b->len) return NULL;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p) return NULL;
    b->p = p;
    b->cap = cap;
  }
  return b->p + b->head + b->len;
}

static int bytes_push(bytes *b, const void *data, size_t n) {
  if (n == 0) return 0;
  unsigned char *dst = bytes_reserve(b, n);
  if (!dst) return -1;
  memcpy(dst, data, n);
  b->len += n;
  return 0;
}

static void bytes_drop(bytes *b, size_t n) {
  b->head += n;
  b->len -= n;
  if (b->len == 0) b->head = 0;
}

/* ---- errors ------------------------------------------------------------ */

static int fail_msg(tls_conn *c, const char *msg) {
  if (!c->failed) {
    c->failed = true;
    snprintf(c->err, sizeof c->err, "%s", msg);
  }
  return -1;
}

/* Records why `step` failed after an SSL_* call returned r. */
static int fail_ssl(tls_conn *c, const char *step, int r) {
  int e = SSL_get_error(c->ssl, r);
  char why[256], msg[sizeof c->err];
  if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL)
    c4_tls_err_text(why, sizeof why, e == SSL_ERROR_SYSCALL ? "unexpected end of stream" : "TLS error");
  else
    snprintf(why, sizeof why, "SSL_get_error %d", e);
  /* A certificate that did not verify says more through the verify result
   * than through the error queue ("certificate verify failed"). */
  long vr = SSL_get_verify_result(c->ssl);
  if (vr != X509_V_OK)
    snprintf(msg, sizeof msg, "%s failed: %s (%s)", step, why, X509_verify_cert_error_string(vr));
  else
    snprintf(msg, sizeof msg, "%s failed: %s", step, why);
  ERR_clear_error();
  return fail_msg(c, msg);
}

static bool retry(tls_conn *c, int r) {
  int e = SSL_get_error(c->ssl, r);
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* ---- the engine -------------------------------------------------------- */

static int step_handshake(tls_conn *c) {
  c->started = true;
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    c->done = true;
    return 0;
  }
  if (retry(c, r)) return 0;
  return fail_ssl(c, "TLS handshake", r);
}

/* Hands queued plaintext to OpenSSL until it is all taken or OpenSSL waits. */
static int step_write(tls_conn *c) {
  bytes *q = &c->plain_out;
  while (q->len > 0) {
    size_t n = q->len < INT_MAX ? q->len : INT_MAX, w = 0;
    ERR_clear_error();
    int r = SSL_write_ex(c->ssl, q->p + q->head, n, &w);
    if (r == 1) {
      bytes_drop(q, w);
      continue;
    }
    if (retry(c, r)) return 0;
    return fail_ssl(c, "TLS write", r);
  }
  return 0;
}

/* Decrypts everything available into plain_in. */
static int step_read(tls_conn *c) {
  while (!c->peer_closed) {
    unsigned char *dst = bytes_reserve(&c->plain_in, READ_CHUNK);
    if (!dst) return fail_msg(c, "TLS read failed: out of memory");
    size_t got = 0;
    ERR_clear_error();
    int r = SSL_read_ex(c->ssl, dst, READ_CHUNK, &got);
    if (r == 1) {
      c->plain_in.len += got;
      continue;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) {
      c->peer_closed = true;
      ERR_clear_error();
      return 0;
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    return fail_ssl(c, "TLS read", r);
  }
  return 0;
}

static int step_shutdown(tls_conn *c) {
  if (!c->want_shutdown || c->shutdown_sent || !c->done || c->plain_out.len > 0) return 0;
  ERR_clear_error();
  int r = SSL_shutdown(c->ssl);
  /* 0: our close_notify is out, the peer's not yet seen; 1: both. */
  if (r >= 0) {
    c->shutdown_sent = true;
    return 0;
  }
  if (retry(c, r)) return 0;
  return fail_ssl(c, "TLS shutdown", r);
}

static int pump(tls_conn *c) {
  if (c->failed) return -1;
  if (!c->done && step_handshake(c) != 0) return -1;
  if (!c->done) return 0;
  if (step_write(c) != 0 || step_read(c) != 0) return -1;
  /* Reading may have finished something a write was waiting on. */
  if (c->plain_out.len > 0 && step_write(c) != 0) return -1;
  return step_shutdown(c);
}

/* A client speaks first; it starts on the first call that could carry its hello. */
static void start(tls_conn *c) {
  if (!c->started && !c->server) pump(c);
}

/* ---- the API ----------------------------------------------------------- */

tls_conn *tls_conn_new(SSL_CTX *ctx, bool server) {
  tls_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->server = server;
  ERR_clear_error();
  c->ssl = SSL_new(ctx);
  c->net_in = BIO_new(BIO_s_mem());
  c->net_out = BIO_new(BIO_s_mem());
  if (!c->ssl || !c->net_in || !c->net_out) {
    BIO_free(c->net_in);
    BIO_free(c->net_out);
    SSL_free(c->ssl);
    free(c);
    ERR_clear_error();
    return NULL;
  }
  /* An empty input BIO means "no bytes yet" (retry), never end of stream:
   * the socket layer reports the end of the TCP stream itself. */
  BIO_set_mem_eof_return(c->net_in, -1);
  BIO_set_mem_eof_return(c->net_out, -1);
  SSL_set_bio(c->ssl, c->net_in, c->net_out);
  /* Partial writes let one SSL_write_ex take a record at a time; a moving
   * buffer is allowed because plain_out may be reallocated between retries. */
  SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (server)
    SSL_set_accept_state(c->ssl);
  else
    SSL_set_connect_state(c->ssl);
  return c;
}

void tls_conn_free(tls_conn *c) {
  if (!c) return;
  SSL_free(c->ssl);  /* frees both BIOs */
  /* Plaintext may be secret: do not leave it in freed memory. */
  if (c->plain_in.p) OPENSSL_cleanse(c->plain_in.p, c->plain_in.cap);
  if (c->plain_out.p) OPENSSL_cleanse(c->plain_out.p, c->plain_out.cap);
  bytes_free(&c->plain_in);
  bytes_free(&c->plain_out);
  free(c);
}

int tls_conn_feed(tls_conn *c, const void *data, size_t n) {
  if (c->failed) return -1;
  c->started = true;
  const unsigned char *p = data;
  /* BIO_write takes an int; feed huge inputs in slices. */
  while (n > 0) {
    int k = n < INT_MAX ? (int)n : INT_MAX;
    ERR_clear_error();
    int w = BIO_write(c->net_in, p, k);
    if (w <= 0) return fail_msg(c, "TLS feed failed: out of memory");
    p += w;
    n -= (size_t)w;
  }
  return pump(c);
}

size_t tls_conn_read(tls_conn *c, void *buf, size_t n) {
  bytes *q = &c->plain_in;
  size_t k = q->len < n ? q->len : n;
  if (k == 0) return 0;
  memcpy(buf, q->p + q->head, k);
  bytes_drop(q, k);
  return k;
}

size_t tls_conn_readable(const tls_conn *c) { return c->plain_in.len; }

int tls_conn_write(tls_conn *c, const void *data, size_t n) {
  if (c->failed) return -1;
  if (c->want_shutdown) return -1;
  if (n == 0) {
    start(c);
    return c->failed ? -1 : 0;
  }
  if (c->done && c->plain_out.len == 0) {
    /* The common case: straight to OpenSSL, queue only what it leaves. */
    const unsigned char *p = data;
    while (n > 0) {
      size_t w = 0, k = n < INT_MAX ? n : INT_MAX;
      ERR_clear_error();
      int r = SSL_write_ex(c->ssl, p, k, &w);
      if (r == 1) {
        p += w;
        n -= w;
        continue;
      }
      if (!retry(c, r)) return fail_ssl(c, "TLS write", r);
      break;
    }
    if (bytes_push(&c->plain_out, p, n) != 0) return fail_msg(c, "TLS write failed: out of memory");
    return 0;
  }
  if (bytes_push(&c->plain_out, data, n) != 0) return fail_msg(c, "TLS write failed: out of memory");
  return pump(c);
}

size_t tls_conn_take_output(tls_conn *c, void *buf, size_t n) {
  start(c);
  size_t got = 0;
  if (n == 0) return 0;
  /* Taking output is allowed after a failure: it carries the alert. */
  if (BIO_read_ex(c->net_out, buf, n, &got) != 1) got = 0;
  ERR_clear_error();
  return got;
}

size_t tls_conn_output_pending(tls_conn *c) {
  start(c);
  return BIO_ctrl_pending(c->net_out);
}

bool tls_conn_handshake_done(const tls_conn *c) { return c->done; }
bool tls_conn_peer_closed(const tls_conn *c) { return c->peer_closed; }
bool tls_conn_shutdown_sent(const tls_conn *c) { return c->shutdown_sent; }
const char *tls_conn_error(const tls_conn *c) { return c->failed ? c->err : NULL; }
SSL *tls_conn_ssl(tls_conn *c) { return c->ssl; }

int tls_conn_shutdown(tls_conn *c) {
  if (c->failed) return -1;
  c->want_shutdown = true;
  if (!c->done) return 0;  /* sent by pump once the handshake completes */
  if (step_write(c) != 0) return -1;
  return step_shutdown(c);
}
