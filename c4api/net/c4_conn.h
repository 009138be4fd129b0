/*
 * c4_conn.h — the socket core shared by C4:CreateServer, C4:CreateTCPServer /
 * C4LuaTcpClient, C4:CreateTLSServer and the spec clients: TCP listeners and
 * connections on libuv, with an optional TLS filter.  No Lua in here.
 *
 * A connection, as its owner sees it:
 *
 *   listener accepts ─┐                          ┌─ ev->data(c, bytes, n) ... (n = 0: peer EOF)
 *   c4_conn_connect ──┴─(TLS handshake)─ ev->open(c) ─┤
 *                                                    └─ ev->closed(c, status, msg)   exactly once
 *
 *   - ev->open: the connection is ready (accepted, or connected; with TLS, the
 *     handshake is done).  An accepted connection the owner never saw open
 *     (failed TLS handshake, or one not finished within opts.handshake_ms) is
 *     reported with ev->rejected instead, and then freed: the owner hears
 *     nothing else about it.
 *   - ev->data: bytes as they arrive (plaintext under TLS).  The buffer is
 *     only valid during the call.  A call with n == 0 means the peer finished
 *     sending (EOF, or TLS close_notify): the owner may still write, and if it
 *     does not close the connection during that call, c4_conn closes it with
 *     flush — a half-close is treated as a close.
 *   - ev->drained (optional, see c4_conn_want_drain): everything queued has
 *     been handed to the kernel (a write the kernel took at once was never
 *     queued: c4_conn_queued() is 0 right after it, and no event follows).
 *   - ev->closed(c, status, msg): fires exactly once for every connection that
 *     opened (and for an outgoing one that failed to connect), always from a
 *     libuv callback, never from inside a c4_conn_* call.  status 0: graceful
 *     (peer EOF, or the owner's close); negative: a libuv error (UV_ECONNRESET,
 *     UV_EPIPE, UV_ECONNREFUSED, UV_EPROTO for TLS) with msg saying why.
 *     After it returns the owner must forget c.
 *
 * Writes never block: c4_conn_write tries the socket first and queues what
 * the kernel did not take (owned copies, uv_write), in order.
 * c4_conn_queued() tells how many bytes wait.
 *
 * Closing: C4_CLOSE_FLUSH sends what is queued (and TLS close_notify), shuts
 * down the write side, then lingers briefly reading (and discarding) until
 * the peer's EOF so the last bytes are not lost to a reset; ev->closed comes
 * once the write side is done, or at the close deadline (opts.close_ms) with
 * a reset if the peer would not take the queue by then.  C4_CLOSE_NOW drops the queue and closes;
 * C4_CLOSE_RESET does so with a TCP reset.  c4_conn_abort closes now and
 * suppresses every further event (driver shutdown: no Lua any more).
 * Closing twice is harmless.
 *
 * Memory: a connection holds no read buffer of its own (reads go into one
 * shared 64 KiB buffer), so an idle plain connection costs about 400 bytes.
 * uv handles are freed only in their close callbacks.
 *
 * Counting: each listener and connection is counted with emu_track() under
 * the kinds given in c4_conn_opts (NULL: not counted), while its uv handle
 * is open.
 */
#ifndef C4_CONN_H
#define C4_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>
#include <openssl/ssl.h>

#include "emu.h"

typedef struct c4_conn c4_conn;
typedef struct c4_listener c4_listener;

typedef struct {
  void (*open)(c4_conn *c);
  void (*data)(c4_conn *c, const char *buf, size_t n);
  void (*drained)(c4_conn *c);                          /* optional */
  void (*closed)(c4_conn *c, int status, const char *msg);
  /* optional: an accepted connection that never opened (TLS handshake failed) */
  void (*rejected)(c4_listener *l, const char *ip, int port, const char *msg);
} c4_conn_events;

typedef struct {
  uv_loop_t *loop;
  emu_ctx *ctx;               /* for emu_track / emu_io_activity; may be NULL */
  const char *listener_kind;  /* emu_track kind of the listener ("tcp-server") or NULL */
  const char *conn_kind;      /* emu_track kind of each connection ("tcp-conn") or NULL */
  SSL_CTX *tls;               /* NULL: plain TCP; else a server (listen) or client (connect)
                                 context; c4_conn takes its own reference */
  const c4_conn_events *ev;   /* must outlive every connection made with these opts */
  void *data;                 /* the listener's owner data (c4_listener_data) */
  unsigned handshake_ms;      /* accepted TLS connections: a handshake not finished this many
                                 ms after the accept is refused (ev->rejected); 0: the default,
                                 C4_CONN_HANDSHAKE_MS */
  /* issue 16 */
  size_t max_queued;          /* send high-water mark; 0: the driver's (c4_limits.h) when
                                 ctx is set, else C4_CONN_MAX_QUEUED; SIZE_MAX: none */
  unsigned close_ms;          /* close deadline of C4_CLOSE_FLUSH; 0: as max_queued */
} c4_conn_opts;

/* The send high-water mark.  A write that would leave more than this many
 * bytes waiting for the kernel (a peer that does not read) closes the
 * connection with a reset instead: ev->closed(c, UV_ENOBUFS, msg), with an
 * error logged naming the peer and the bytes queued.  Memory per connection
 * stays bounded; the driver hears OFFLINE / OnDisconnect as for any loss. */
#define C4_CONN_MAX_QUEUED ((size_t)4 << 20)
/* The close deadline: C4_CLOSE_FLUSH sends what is queued for at most this
 * many ms (wall time), then resets: ev->closed(c, UV_ETIMEDOUT, msg). */
#define C4_CONN_CLOSE_MS 10000u

/* How long an accepted TLS connection may take to finish its handshake (wall
 * time: sockets are real in both clock modes).  A client that connects and
 * says nothing, or trickles its hello, must not hold a connection forever. */
#define C4_CONN_HANDSHAKE_MS 10000u

typedef enum {
  C4_CLOSE_FLUSH, /* send the queue (and close_notify), shut down, then close */
  C4_CLOSE_NOW,   /* drop the queue and close */
  C4_CLOSE_RESET, /* drop the queue and close with a TCP reset */
} c4_close_mode;

/* ---- listeners ---------------------------------------------------------- */
/*
 * Binds host:port (numeric IPv4 or IPv6 address; port 0: the OS picks) and
 * listens.  Returns the listener, or NULL with *err set to a negative libuv
 * error (UV_EADDRINUSE, UV_EACCES, UV_EINVAL ...).
 */
c4_listener *c4_listen(const c4_conn_opts *o, const char *host, int port, int backlog,
                       int *err);
/* The port actually bound. */
int c4_listener_port(const c4_listener *l);
void *c4_listener_data(const c4_listener *l);
/* Stops listening and frees the listener (asynchronously).  Accepted
 * connections are not touched.  NULL-safe. */
void c4_listener_close(c4_listener *l);

/* ---- outgoing connections ---------------------------------------------- */
/*
 * Starts connecting to addr.  Returns the connection (ev->open or ev->closed
 * will follow), or NULL with *err set.  With o->tls, a TLS client: set SNI /
 * verification on c4_conn_ssl(c) before returning to the loop.
 */
c4_conn *c4_conn_connect(const c4_conn_opts *o, const struct sockaddr *addr, void *data,
                         int *err);

/* ---- connections --------------------------------------------------------- */
void *c4_conn_data(const c4_conn *c);
void c4_conn_set_data(c4_conn *c, void *data);
c4_listener *c4_conn_listener(const c4_conn *c);   /* NULL for outgoing connections */

/* Peer address, kept from accept/connect time (valid after a reset too). */
const char *c4_conn_peer_ip(const c4_conn *c);
int c4_conn_peer_port(const c4_conn *c);
/* Local address; returns 0 or a libuv error. */
int c4_conn_local(const c4_conn *c, char *ip, size_t ipsz, int *port);

/*
 * Queues bytes to send, in order, never blocking.  On an outgoing
 * connection, bytes written before it opens are kept and sent once it is
 * connected (and, with TLS, once the handshake completes).  Returns 0, or a negative
 * libuv error if the connection is closing or closed (nothing is queued).
 * A write error closes the connection (ev->closed with the error).
 */
int c4_conn_write(c4_conn *c, const void *data, size_t n);
/* Bytes written but not yet handed to the kernel. */
size_t c4_conn_queued(const c4_conn *c);
/* issue 16: the same summed over the open connections of ctx counted under
 * `kind` (NULL: every kind), for d:handles(). */
size_t c4_conn_queued_total(emu_ctx *ctx, const char *kind);
/* Ask for ev->drained each time the queue empties; the event comes from a
 * libuv callback, never from inside c4_conn_write. */
void c4_conn_want_drain(c4_conn *c, bool on);

/* Stop / resume reading (back-pressure).  Reading starts at open. */
void c4_conn_pause(c4_conn *c);
void c4_conn_resume(c4_conn *c);

/* Half-close: shuts down the write side once the queue is sent, keeps
 * reading (plain TCP only).  Writes then fail; a later close(FLUSH) only
 * lingers for the peer's EOF.  0 or a libuv error. */
int c4_conn_shutdown_write(c4_conn *c);

void c4_conn_close(c4_conn *c, c4_close_mode mode);
/* Closes now; no event of any kind follows. */
void c4_conn_abort(c4_conn *c);
/* False once closing or closed (and before an outgoing connection opened). */
bool c4_conn_is_open(const c4_conn *c);
/* The owner has seen ev->open. */
bool c4_conn_opened(const c4_conn *c);

/* The uv handle, for socket options (nodelay, keepalive).  Not for closing. */
uv_tcp_t *c4_conn_tcp(c4_conn *c);
/* The TLS session (version, cipher, peer certificate), or NULL. */
SSL *c4_conn_ssl(c4_conn *c);

/* "ip" text of a sockaddr (IPv4/IPv6) and its port. */
void c4_sockaddr_text(const struct sockaddr *sa, char *ip, size_t ipsz, int *port);
/* Fills ss from a numeric IPv4/IPv6 address and port; 0 or a libuv error. */
int c4_sockaddr_parse(const char *host, int port, struct sockaddr_storage *ss);

/* The shared read buffer, for other libuv readers (UDP, spec clients): an
 * alloc callback, and the release to call once the read callback is done. */
void c4_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
void c4_conn_release_buf(const uv_buf_t *buf);

/* Ignores SIGPIPE once per process if nobody set a handler (a vanished peer
 * must not kill the emulator; the CLI does the same at start). */
void c4_conn_ignore_sigpipe(void);

#endif
