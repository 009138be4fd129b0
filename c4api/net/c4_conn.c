/*
 * c4_conn.c — TCP listeners and connections on libuv with an optional TLS
 * filter (c4_tls_conn's memory BIOs).  The contract is in c4_conn.h.
 *
 * States of a connection:
 *
 *   CONNECTING ─┐
 *   (accept) ───┼─► HANDSHAKE (TLS only) ─► OPEN ─► CLOSING ─► LINGER ─► CLOSED
 *               └──────────────────────────►  │        (flush)   (wait EOF)   ▲
 *                                             └───────────────────────────────┘ (now/reset/error)
 *
 * Lifetime: the struct lives until the close callbacks of its uv handles
 * (the TCP handle and, while lingering or handshaking, a timer) have run; write and
 * shutdown requests hold no reference of their own because libuv completes
 * them (with UV_ECANCELED at worst) before the handle's close callback.
 * A listener is reference-counted by the connections it accepted, so
 * c4_conn_listener() stays valid for as long as the connection lives.
 *
 * Reads go into one shared 64 KiB buffer (a second read while it is in use
 * gets its own; c4_net_util.c); a connection keeps no buffer of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/c4_conn.h"
#include "net/c4_limits.h"
#include "net/c4_tls_conn.h"

/* TLS bytes move through stack buffers this big: four full records at once,
 * so that a read of several records is one delivery (the framer splits it
 * without joining pieces) and their replies leave in one write. */
#define TLS_CHUNK  65536
#define LINGER_MS  1000

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_LINGER, ST_CLOSED };

struct c4_listener {
  uv_tcp_t tcp;        /* owns the listening socket; its own watcher is never started */
  uv_poll_t poll;      /* readiness of the socket: we accept ourselves (see accept_ready) */
  int lfd;
  int closing;         /* handles whose close callback is still to come */
  c4_conn_opts o;
  int port;
  int refs;            /* 1 for the open handle + 1 per connection alive */
  bool closed;
  c4_conn *pending;    /* accepted connections still in their TLS handshake */
  unsigned refused;    /* connections refused in the current descriptor shortage */
};

struct c4_conn {
  uv_tcp_t tcp;
  c4_listener *lis;
  const c4_conn_events *ev;
  emu_ctx *ctx;
  const char *kind;
  void *data;
  tls_conn *tls;
  uv_timer_t *linger;
  uv_timer_t *hs_timer;      /* accepted TLS connection: the handshake deadline */
  c4_conn *pnext, **pprev;   /* listener's pending list (TLS handshakes) */
  size_t queued;
  size_t max_queued;         /* the send high-water mark */
  unsigned close_ms;         /* the close deadline */
  char *close_msg;
  int close_status;
  uint8_t state;
  uint8_t handles;           /* uv handles not yet closed */
  bool outgoing, opened, silent, notified, eof_seen, reading, paused, want_drain, wr_shut;
  bool local_dest;           /* outgoing to a loopback address: settling waits for the connect */
  uint16_t peer_port;
  char peer_ip[46];
  c4_conn *all_next, **all_prev; /* every live connection of the process */
};

/* Every live connection, for the queued-bytes totals of d:handles(). */
static c4_conn *all_conns;

typedef struct {
  uv_write_t req;
  c4_conn *c;
  size_t n;
  char data[];
} wreq;


/*
 * Write batching.  While a connection's read callback runs, what the owner
 * writes to that same connection (a reply, typically several for several
 * payloads in one read) is gathered here and goes out in one write when the
 * callback ends, instead of one system call per reply.  Writes to other
 * connections are not delayed.  Closing flushes (or, without flush, drops)
 * the batch first, so order is kept.
 */
#define BATCH_MAX (64 * 1024)
static c4_conn *batch_conn;
static char batch_buf[BATCH_MAX]; /* static: the module may be unloaded, a heap block would leak */
static size_t batch_len;

static void begin_close(c4_conn *c, c4_close_mode mode);
static void start_reading(c4_conn *c);
static void pump_tls(c4_conn *c);

/* ---- small helpers ----------------------------------------------------- */

static void track(emu_ctx *ctx, const char *kind, int d) {
  if (ctx && kind) emu_track(ctx, kind, d);
}

static void activity(c4_conn *c) {
  if (c->ctx) emu_io_activity(c->ctx);
}

static void set_close(c4_conn *c, int status, const char *msg) {
  if (c->close_status != 0 || c->close_msg) return; /* the first reason wins */
  c->close_status = status;
  if (msg) c->close_msg = strdup(msg);
  else if (status < 0) c->close_msg = strdup(uv_strerror(status));
}

static void listener_unref(c4_listener *l) {
  if (--l->refs > 0) return;
  if (l->o.tls) SSL_CTX_free(l->o.tls);
  free(l);
}

static void on_hs_timer_closed(uv_handle_t *h);

/* The handshake is over (done, failed, or the connection is going): the
 * deadline goes with it. */
static void hs_timer_stop(c4_conn *c) {
  if (!c->hs_timer) return;
  uv_timer_stop(c->hs_timer);
  uv_close((uv_handle_t *)c->hs_timer, on_hs_timer_closed);
  c->hs_timer = NULL;
}

/* Leaves the listener's list of handshakes in progress (and their deadline). */
static void pending_remove(c4_conn *c) {
  hs_timer_stop(c);
  if (!c->pprev) return;
  *c->pprev = c->pnext;
  if (c->pnext) c->pnext->pprev = c->pprev;
  c->pprev = NULL;
  c->pnext = NULL;
}

/* ---- events to the owner ------------------------------------------------ */

static void notify_closed(c4_conn *c) {
  if (c->notified || c->silent || !(c->opened || c->outgoing)) return;
  c->notified = true;
  c->ev->closed(c, c->close_status, c->close_msg);
}

static void notify_open(c4_conn *c) {
  pending_remove(c);
  c->state = ST_OPEN;
  c->opened = true;
  if (c->lis && c->lis->closed) { /* the listener went away during the handshake */
    c->silent = true;
    begin_close(c, C4_CLOSE_NOW);
    return;
  }
  if (!c->silent) c->ev->open(c);
}

/* An accepted connection that never opened: told to the listener's owner. */
static void reject(c4_conn *c, const char *msg) {
  pending_remove(c);
  if (c->silent || !c->lis || c->lis->closed || !c->ev->rejected) return;
  c->ev->rejected(c->lis, c->peer_ip, c->peer_port, msg);
}

/* ---- freeing ----------------------------------------------------------- */

/*
 * The connection's busy probe (emu.h): bytes the kernel has not taken yet,
 * or a connect to loopback still on its way.  A connect elsewhere is not
 * waited for (settling asks about this process only), nor a TLS handshake
 * as such: its bytes in flight are seen on the sockets themselves.
 */
static bool conn_busy(emu_ctx *ctx, void *data) {
  (void)ctx;
  const c4_conn *c = data;
  if (c->state == ST_CLOSED) return false;
  return c->queued > 0 || (c->state == ST_CONNECTING && c->local_dest);
}

static void conn_release(c4_conn *c) {
  if (--c->handles > 0) return;
  if (c->ctx) emu_busy_probe_remove(c->ctx, conn_busy, c);
  *c->all_prev = c->all_next;
  if (c->all_next) c->all_next->all_prev = c->all_prev;
  tls_conn_free(c->tls);
  free(c->close_msg);
  if (c->lis) listener_unref(c->lis);
  free(c);
}

static void on_tcp_closed(uv_handle_t *h) {
  c4_conn *c = h->data;
  activity(c);
  track(c->ctx, c->kind, -1);
  notify_closed(c);
  conn_release(c);
}

static void on_hs_timer_closed(uv_handle_t *h) {
  c4_conn *c = h->data;
  free(h);
  conn_release(c);
}

static void on_linger_closed(uv_handle_t *h) {
  c4_conn *c = h->data;
  free(h);
  c->linger = NULL;
  conn_release(c);
}

/* Closes the uv handles; the struct goes in the last close callback. */
static void final_close(c4_conn *c, bool reset) {
  if (c->state == ST_CLOSED) return;
  if (batch_conn == c) {
    batch_len = 0;
    batch_conn = NULL;
  }
  c->state = ST_CLOSED;
  pending_remove(c);
  if (c->linger) {
    uv_timer_stop(c->linger);
    uv_close((uv_handle_t *)c->linger, on_linger_closed);
  }
  if (reset && uv_tcp_close_reset(&c->tcp, on_tcp_closed) == 0) return;
  if (reset) {
    /* libuv refuses a reset while a shutdown is pending (a flushing close
     * past its deadline): SO_LINGER 0 by hand, so the kernel drops what is
     * still unsent and resets instead of trying on after we let go. */
    uv_os_fd_t fd;
    struct linger lg = {1, 0};
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

/* ---- writing ----------------------------------------------------------- */

static void on_written(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  c4_conn *c = w->c;
  c->queued -= w->n;
  free(w);
  if (status == UV_ECANCELED) return;
  activity(c);
  if (status < 0) {
    set_close(c, status, NULL);
    begin_close(c, C4_CLOSE_NOW);
    return;
  }
  if (c->queued == 0 && c->want_drain && c->state == ST_OPEN && c->ev->drained && !c->silent)
    c->ev->drained(c);
}

/* The peer is not taking what is sent: past the high-water mark the
 * connection goes (reset), so a peer that never reads cannot grow us. */
static int over_limit(c4_conn *c, size_t waiting) {
  char msg[200];
  snprintf(msg, sizeof msg, "%zu bytes queued for %s:%d, which is not reading (send limit %zu "
           "bytes): connection reset", waiting, c->peer_ip, c->peer_port, c->max_queued);
  if (c->ctx) emu_log(c->ctx, EMU_LOG_ERROR, "[c4emu] %s", msg);
  set_close(c, UV_ENOBUFS, msg);
  final_close(c, true);
  return UV_ENOBUFS;
}

/* Bytes to the socket: straight to the kernel when nothing waits, else
 * queued.  What the kernel takes at once is not queued, so no drained event
 * follows it: an owner that wants one looks at c4_conn_queued() after the
 * write. */
static int raw_write(c4_conn *c, const char *data, size_t n) {
  if (n == 0) return 0;
  if (c->queued == 0) {
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (r >= 0) {
      if ((size_t)r == n) return 0;
      data += r;
      n -= (size_t)r;
    } else if (r != UV_EAGAIN) {
      set_close(c, r, NULL);
      begin_close(c, C4_CLOSE_NOW);
      return r;
    }
  }
  wreq *w = malloc(sizeof *w + n);
  if (!w) return UV_ENOMEM;
  w->c = c;
  w->n = n;
  memcpy(w->data, data, n);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
  int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
  if (r < 0) {
    free(w);
    set_close(c, r, NULL);
    begin_close(c, C4_CLOSE_NOW);
    return r;
  }
  c->queued += n;
  /* What the kernel did not take (libuv writes at once when it can). */
  size_t waiting = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
  if (waiting > c->max_queued) return over_limit(c, waiting);
  return 0;
}

/* Sends whatever ciphertext the TLS engine has made. */
static void pump_tls(c4_conn *c) {
  char out[TLS_CHUNK];
  size_t k;
  while (c->state != ST_CLOSED && (k = tls_conn_take_output(c->tls, out, sizeof out)) > 0)
    if (raw_write(c, out, k) < 0) return;
}

static void batch_flush(c4_conn *c) {
  if (batch_conn != c || batch_len == 0) return;
  size_t n = batch_len;
  batch_len = 0;
  raw_write(c, batch_buf, n);
}

/* Ends batching for c: flushes (or drops) what was gathered. */
static void batch_end(c4_conn *c, bool send) {
  if (batch_conn != c) return;
  if (send && c->state <= ST_OPEN) batch_flush(c);
  batch_len = 0;
  batch_conn = NULL;
}

static int batch_add(c4_conn *c, const char *data, size_t n) {
  if (batch_len + n > BATCH_MAX) {
    batch_flush(c);
    if (n > BATCH_MAX / 2) return raw_write(c, data, n);
  }
  memcpy(batch_buf + batch_len, data, n);
  batch_len += n;
  return 0;
}

int c4_conn_write(c4_conn *c, const void *data, size_t n) {
  if (!c) return UV_EINVAL;
  if (n > 0x7fffffffu) return UV_E2BIG; /* a uv_buf_t length is 32 bits */
  if (c->wr_shut) return UV_EPIPE;
  if (c->state > ST_OPEN) return UV_EPIPE; /* outgoing: kept until connected / handshaken */
  if (!c->tls) {
    if (batch_conn == c && !c->want_drain) return batch_add(c, data, n);
    return raw_write(c, data, n);
  }
  if (tls_conn_write(c->tls, data, n) < 0) return UV_EPIPE;
  if (batch_conn != c) pump_tls(c); /* else the read callback sends it at its end */
  return 0;
}

size_t c4_conn_queued(const c4_conn *c) {
  if (!c) return 0;
  return c->queued + (batch_conn == c ? batch_len : 0);
}

size_t c4_conn_queued_total(emu_ctx *ctx, const char *kind) {
  size_t n = 0;
  for (c4_conn *c = all_conns; c; c = c->all_next)
    if (c->ctx == ctx && c->state != ST_CLOSED && (!kind || (c->kind && strcmp(c->kind, kind) == 0)))
      n += c4_conn_queued(c);
  return n;
}
void c4_conn_want_drain(c4_conn *c, bool on) { c->want_drain = on; }

/* ---- closing ------------------------------------------------------------ */

/* One timer serves the close: the deadline while CLOSING, then the linger. */
static void on_linger_timeout(uv_timer_t *t) {
  c4_conn *c = t->data;
  if (c->state == ST_CLOSING) { /* the close deadline passed with bytes still queued */
    char msg[200];
    snprintf(msg, sizeof msg, "close: %zu bytes still queued for %s:%d after %u ms (close "
             "deadline): connection reset", c->queued, c->peer_ip, c->peer_port, c->close_ms);
    if (c->ctx) emu_log(c->ctx, EMU_LOG_WARN, "[c4emu] %s", msg);
    activity(c);
    set_close(c, UV_ETIMEDOUT, msg);
    final_close(c, true);
    return;
  }
  final_close(c, false);
}

/* Starts (or restarts) the close timer; false if it cannot be made. */
static bool close_timer(c4_conn *c, unsigned ms) {
  if (!c->linger) {
    c->linger = malloc(sizeof *c->linger);
    if (!c->linger || uv_timer_init(c->tcp.loop, c->linger) != 0) {
      free(c->linger);
      c->linger = NULL;
      return false;
    }
    c->handles++;
    c->linger->data = c;
  }
  uv_timer_start(c->linger, on_linger_timeout, ms, 0);
  return true;
}

/* The write side is done: wait a little for the peer's EOF, reading and
 * discarding, so that data it still sends does not make the kernel answer
 * with a reset that could destroy our last bytes in flight. */
static void start_linger(c4_conn *c) {
  if (c->eof_seen) {
    final_close(c, false);
    return;
  }
  c->state = ST_LINGER;
  if (!close_timer(c, LINGER_MS)) {
    final_close(c, false);
    return;
  }
  start_reading(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  c4_conn *c = req->data;
  free(req);
  if (status == UV_ECANCELED || c->state == ST_CLOSED) return;
  activity(c);
  if (status < 0 && status != UV_ENOTCONN) set_close(c, status, NULL);
  notify_closed(c);
  if (status < 0) final_close(c, false);
  else start_linger(c);
}

static void on_half_shutdown(uv_shutdown_t *req, int status) {
  c4_conn *c = req->data;
  free(req);
  if (status == UV_ECANCELED || c->state == ST_CLOSED) return;
  activity(c);
  if (status < 0 && status != UV_ENOTCONN) {
    set_close(c, status, NULL);
    final_close(c, false);
  }
}

int c4_conn_shutdown_write(c4_conn *c) {
  if (!c || c->state != ST_OPEN || c->tls) return UV_ENOTCONN;
  if (c->wr_shut) return 0;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req) return UV_ENOMEM;
  req->data = c;
  int r = uv_shutdown(req, (uv_stream_t *)&c->tcp, on_half_shutdown);
  if (r < 0) {
    free(req);
    return r;
  }
  c->wr_shut = true;
  return 0;
}

static void begin_close(c4_conn *c, c4_close_mode mode) {
  if (c->state == ST_CLOSED) return;
  batch_end(c, mode == C4_CLOSE_FLUSH);
  if (mode != C4_CLOSE_FLUSH || c->state == ST_CONNECTING) {
    final_close(c, mode == C4_CLOSE_RESET);
    return;
  }
  if (c->state == ST_CLOSING || c->state == ST_LINGER) return;
  bool was_open = c->state == ST_OPEN;
  c->state = ST_CLOSING;
  close_timer(c, c->close_ms); /* without it (no memory) the close just has no deadline */
  if (c->tls && was_open && !tls_conn_error(c->tls)) {
    tls_conn_shutdown(c->tls);
    pump_tls(c);
    if (c->state == ST_CLOSED) return;
  }
  if (c->wr_shut) { /* already half-closed: only the linger is left */
    start_linger(c);
    return;
  }
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req) {
    final_close(c, false);
    return;
  }
  req->data = c;
  int r = uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown);
  if (r < 0) {
    free(req);
    if (r != UV_ENOTCONN) set_close(c, r, NULL);
    final_close(c, false);
    return;
  }
  start_reading(c); /* to see the peer's EOF (or reset) and discard what it sends */
}

void c4_conn_close(c4_conn *c, c4_close_mode mode) {
  if (c) begin_close(c, mode);
}

void c4_conn_abort(c4_conn *c) {
  if (!c) return;
  c->silent = true;
  begin_close(c, C4_CLOSE_NOW);
}

bool c4_conn_is_open(const c4_conn *c) { return c && c->state == ST_OPEN; }
bool c4_conn_opened(const c4_conn *c) { return c && c->opened; }

/* ---- reading ------------------------------------------------------------ */

/* The peer finished sending. */
static void on_eof(c4_conn *c) {
  c->eof_seen = true;
  switch (c->state) {
  case ST_OPEN:
    if (!c->silent) c->ev->data(c, NULL, 0);
    if (c->state == ST_OPEN) begin_close(c, C4_CLOSE_FLUSH);
    break;
  case ST_HANDSHAKE:
    if (c->outgoing) {
      set_close(c, UV_ECONNRESET, "the server closed the connection during the TLS handshake");
    } else {
      reject(c, "the client closed the connection during the TLS handshake");
    }
    final_close(c, false);
    break;
  case ST_LINGER:
    final_close(c, false);
    break;
  default: /* CLOSING: the shutdown callback sees eof_seen */
    if (c->reading) {
      uv_read_stop((uv_stream_t *)&c->tcp);
      c->reading = false;
    }
    break;
  }
}

static void on_read_error(c4_conn *c, int err) {
  if (c->state == ST_HANDSHAKE && !c->outgoing) {
    char msg[160];
    snprintf(msg, sizeof msg, "connection lost during the TLS handshake: %s", uv_strerror(err));
    reject(c, msg);
  }
  set_close(c, err, NULL);
  final_close(c, false);
}

/* A fatal TLS error: send the alert, then close. */
static void tls_failed(c4_conn *c) {
  const char *why = tls_conn_error(c->tls);
  char msg[512];
  snprintf(msg, sizeof msg, "TLS: %s", why ? why : "handshake failed");
  pump_tls(c);
  if (c->state == ST_CLOSED) return;
  if (!c->opened && !c->outgoing) reject(c, msg);
  set_close(c, UV_EPROTO, msg);
  begin_close(c, C4_CLOSE_FLUSH);
}

static void tls_input(c4_conn *c, const char *data, size_t n) {
  if (tls_conn_feed(c->tls, data, n) < 0) {
    tls_failed(c);
    return;
  }
  if (c->state == ST_HANDSHAKE && tls_conn_handshake_done(c->tls)) notify_open(c);
  char plain[TLS_CHUNK];
  size_t k;
  while (c->state == ST_OPEN && (k = tls_conn_read(c->tls, plain, sizeof plain)) > 0)
    if (!c->silent) c->ev->data(c, plain, k);
  if (c->state == ST_CLOSED) return;
  pump_tls(c);
  if (c->state == ST_OPEN && tls_conn_peer_closed(c->tls)) on_eof(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  c4_conn *c = s->data;
  batch_conn = c;
  if (nread > 0) {
    activity(c);
    if (c->state == ST_CLOSING || c->state == ST_LINGER) {
      /* closing: what the peer still sends is discarded */
    } else if (c->tls) {
      tls_input(c, buf->base, (size_t)nread);
    } else if (c->state == ST_OPEN && !c->silent) {
      c->ev->data(c, buf->base, (size_t)nread);
    }
  } else if (nread == UV_EOF) {
    activity(c);
    on_eof(c);
  } else if (nread < 0) {
    activity(c);
    on_read_error(c, (int)nread);
  }
  if (batch_conn == c) {
    batch_end(c, true);
    if (c->tls && c->state <= ST_OPEN) pump_tls(c);
  }
  c4_conn_release_buf(buf);
}

static void start_reading(c4_conn *c) {
  if (c->reading || c->state == ST_CLOSED) return;
  if (c->paused && c->state == ST_OPEN) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, c4_conn_alloc, on_read) == 0) c->reading = true;
}

void c4_conn_pause(c4_conn *c) {
  if (!c || c->paused) return;
  c->paused = true;
  if (c->reading && c->state == ST_OPEN) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
  }
}

void c4_conn_resume(c4_conn *c) {
  if (!c || !c->paused) return;
  c->paused = false;
  if (c->state == ST_OPEN) start_reading(c);
}

/* ---- creating ------------------------------------------------------------ */

static c4_conn *conn_new(const c4_conn_opts *o, bool outgoing) {
  c4_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  if (uv_tcp_init(o->loop, &c->tcp) != 0) {
    free(c);
    return NULL;
  }
  c->tcp.data = c;
  c->handles = 1;
  c->all_next = all_conns;
  if (all_conns) all_conns->all_prev = &c->all_next;
  all_conns = c;
  c->all_prev = &all_conns;
  c->ev = o->ev;
  c->ctx = o->ctx;
  c->kind = o->conn_kind;
  c->outgoing = outgoing;
  /* 0: the driver's limits as they are now (the spec module may change them) */
  c4_net_limits *lim = (!o->max_queued || !o->close_ms) && o->ctx && o->ctx->L
                           ? c4_net_limits_of(o->ctx) : NULL;
  c->max_queued = o->max_queued ? o->max_queued
                  : lim ? (size_t)lim->max_queued : C4_CONN_MAX_QUEUED;
  c->close_ms = o->close_ms ? o->close_ms : lim ? (unsigned)lim->close_ms : C4_CONN_CLOSE_MS;
  track(c->ctx, c->kind, +1);
  if (c->ctx) emu_busy_probe_add(c->ctx, conn_busy, c);
  return c;
}

static void fill_peer(c4_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    int port;
    c4_sockaddr_text((struct sockaddr *)&ss, c->peer_ip, sizeof c->peer_ip, &port);
    c->peer_port = (uint16_t)port;
  }
}

/* The client did not finish its handshake in time: refused, like a failed one. */
static void on_hs_timeout(uv_timer_t *t) {
  c4_conn *c = t->data;
  if (c->state != ST_HANDSHAKE) return;
  activity(c);
  char msg[96];
  snprintf(msg, sizeof msg, "TLS handshake not finished within %u ms",
           c->lis->o.handshake_ms ? c->lis->o.handshake_ms : C4_CONN_HANDSHAKE_MS);
  reject(c, msg);
  set_close(c, UV_ETIMEDOUT, msg);
  final_close(c, false);
}

/* Arms the handshake deadline of an accepted TLS connection; 0 or -1. */
static int hs_timer_start(c4_conn *c, unsigned ms) {
  c->hs_timer = malloc(sizeof *c->hs_timer);
  if (!c->hs_timer || uv_timer_init(c->tcp.loop, c->hs_timer) != 0) {
    free(c->hs_timer);
    c->hs_timer = NULL;
    return -1;
  }
  c->handles++;
  c->hs_timer->data = c;
  uv_timer_start(c->hs_timer, on_hs_timeout, ms ? ms : C4_CONN_HANDSHAKE_MS, 0);
  return 0;
}

/*
 * Accepting.  libuv's own accept loop, out of descriptors, closes its
 * reserve descriptor, accepts and drops the waiting clients and tells nobody,
 * so we accept ourselves (a uv_poll on the listening socket) and do the same
 * trick out loud: one descriptor is held in reserve for the process; on
 * EMFILE / ENFILE it is closed, every waiting connection is accepted and
 * closed at once (the client sees a clean close instead of hanging in the
 * backlog), and it is reopened.  A warning names EMFILE once per shortage,
 * with the limit, and once more when accepting works again; the listener
 * keeps listening throughout.
 */
static int reserve_fd = -1;

static void reserve_open(void) {
  if (reserve_fd < 0) reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void shortage(c4_listener *l, int err) {
  unsigned dropped = 0;
  if (reserve_fd >= 0) {
    close(reserve_fd);
    reserve_fd = -1;
    for (;;) {
      int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      close(fd);
      dropped++;
    }
    reserve_open();
  }
  emu_ctx *ctx = l->o.ctx;
  bool first = l->refused == 0;
  l->refused += dropped ? dropped : 1;
  if (!first || !ctx) return;
  struct rlimit rl;
  long lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : -1;
  emu_log(ctx, EMU_LOG_WARN, "[c4emu] port %d: out of file descriptors (%s, %s; ulimit -n is "
          "%ld): new connections are closed at once until descriptors are free again",
          l->port, uv_err_name(err), uv_strerror(err), lim);
}

static void accept_one(c4_listener *l, int fd);

static void accept_ready(uv_poll_t *p, int status, int events) {
  c4_listener *l = p->data;
  (void)events;
  if (l->o.ctx) emu_io_activity(l->o.ctx);
  if (status < 0) {
    if (l->o.ctx) emu_log(l->o.ctx, EMU_LOG_WARN, "[c4emu] accept on port %d: %s", l->port,
                          uv_strerror(status));
    return;
  }
  for (int i = 0; i < 128 && !l->closed; i++) { /* a burst, then let the loop breathe */
    int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) return;
      if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
      if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        shortage(l, -e);
        return;
      }
      if (l->o.ctx) emu_log(l->o.ctx, EMU_LOG_WARN, "[c4emu] accept on port %d: %s", l->port,
                            strerror(e));
      return;
    }
    accept_one(l, fd);
  }
}

static void accept_one(c4_listener *l, int fd) {
  if (l->refused && l->o.ctx) {
    emu_log(l->o.ctx, EMU_LOG_WARN, "[c4emu] port %d: accepting again (descriptors were short; "
            "%u connection%s refused meanwhile)", l->port, l->refused, l->refused == 1 ? "" : "s");
    l->refused = 0;
  }
  c4_conn *c = conn_new(&l->o, false);
  if (!c) {
    close(fd);
    return;
  }
  c->lis = l;
  l->refs++;
  if (uv_tcp_open(&c->tcp, fd) != 0) {
    close(fd);
    final_close(c, false);
    return;
  }
  fill_peer(c);
  uv_tcp_nodelay(&c->tcp, 1);
  if (l->o.tls) {
    c->tls = tls_conn_new(l->o.tls, true);
    if (!c->tls) {
      final_close(c, false);
      return;
    }
    c->state = ST_HANDSHAKE;
    c->pnext = l->pending;
    if (l->pending) l->pending->pprev = &c->pnext;
    l->pending = c;
    c->pprev = &l->pending;
    if (hs_timer_start(c, l->o.handshake_ms) != 0) {
      final_close(c, false);
      return;
    }
    start_reading(c);
    return;
  }
  c->state = ST_OPEN;
  start_reading(c);
  notify_open(c);
}

/* Both handles (poll, tcp) close; the last close callback releases. */
static void on_listener_closed(uv_handle_t *h) {
  c4_listener *l = h->data;
  if (--l->closing > 0) return;
  track(l->o.ctx, l->o.listener_kind, -1);
  listener_unref(l);
}

static void on_listener_failed(uv_handle_t *h) {
  c4_listener *l = h->data;
  if (l->o.tls) SSL_CTX_free(l->o.tls);
  free(l);
}

/* socket, SO_REUSEADDR (as libuv does), bind, listen: the fd or a negative errno. */
static int listen_socket(const struct sockaddr_storage *ss, int backlog) {
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, backlog) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

c4_listener *c4_listen(const c4_conn_opts *o, const char *host, int port, int backlog,
                       int *err) {
  c4_conn_ignore_sigpipe();
  struct sockaddr_storage ss;
  int r = c4_sockaddr_parse(host, port, &ss);
  if (r < 0) {
    *err = r;
    return NULL;
  }
  c4_listener *l = calloc(1, sizeof *l);
  if (!l) {
    *err = UV_ENOMEM;
    return NULL;
  }
  l->o = *o;
  if (o->tls) SSL_CTX_up_ref(o->tls);
  if ((r = uv_tcp_init(o->loop, &l->tcp)) != 0) {
    if (o->tls) SSL_CTX_free(o->tls);
    free(l);
    *err = r;
    return NULL;
  }
  l->tcp.data = l;
  reserve_open();
  l->lfd = listen_socket(&ss, backlog > 0 ? backlog : 511);
  r = l->lfd < 0 ? l->lfd : uv_tcp_open(&l->tcp, l->lfd);
  if (r != 0 && l->lfd >= 0) close(l->lfd);
  struct sockaddr_storage bound;
  int len = sizeof bound;
  if (r == 0) r = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
  if (r == 0) r = uv_poll_init_socket(o->loop, &l->poll, l->lfd);
  if (r != 0) {
    uv_close((uv_handle_t *)&l->tcp, on_listener_failed);
    *err = r;
    return NULL;
  }
  l->poll.data = l;
  l->closing = 2;
  uv_poll_start(&l->poll, UV_READABLE, accept_ready);
  char ip[64];
  c4_sockaddr_text((struct sockaddr *)&bound, ip, sizeof ip, &l->port);
  l->refs = 1;
  track(o->ctx, o->listener_kind, +1);
  *err = 0;
  return l;
}

int c4_listener_port(const c4_listener *l) { return l->port; }
void *c4_listener_data(const c4_listener *l) { return l->o.data; }

void c4_listener_close(c4_listener *l) {
  if (!l || l->closed) return;
  l->closed = true;
  /* Handshakes in progress belong to nobody yet: drop them quietly. */
  while (l->pending) {
    c4_conn *c = l->pending;
    pending_remove(c);
    c4_conn_abort(c);
  }
  uv_close((uv_handle_t *)&l->poll, on_listener_closed); /* before the socket goes */
  uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}

static void on_connect(uv_connect_t *req, int status) {
  c4_conn *c = req->data;
  free(req);
  if (status == UV_ECANCELED || c->state == ST_CLOSED) return;
  activity(c);
  if (status < 0) {
    set_close(c, status, NULL);
    final_close(c, false);
    return;
  }
  fill_peer(c);
  uv_tcp_nodelay(&c->tcp, 1);
  if (c->tls) {
    c->state = ST_HANDSHAKE;
    start_reading(c);
    pump_tls(c); /* the ClientHello */
    return;
  }
  c->state = ST_OPEN;
  start_reading(c);
  notify_open(c);
}

c4_conn *c4_conn_connect(const c4_conn_opts *o, const struct sockaddr *addr, void *data,
                         int *err) {
  c4_conn_ignore_sigpipe();
  c4_conn *c = conn_new(o, true);
  if (!c) {
    *err = UV_ENOMEM;
    return NULL;
  }
  c->data = data;
  c->state = ST_CONNECTING;
  if (addr->sa_family == AF_INET)
    c->local_dest = (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
  else if (addr->sa_family == AF_INET6)
    c->local_dest = IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)addr)->sin6_addr);
  if (o->tls && !(c->tls = tls_conn_new(o->tls, false))) {
    c->silent = true;
    final_close(c, false);
    *err = UV_ENOMEM;
    return NULL;
  }
  uv_connect_t *req = malloc(sizeof *req);
  if (req) req->data = c;
  int r = req ? uv_tcp_connect(req, &c->tcp, addr, on_connect) : UV_ENOMEM;
  if (r != 0) {
    free(req);
    c->silent = true;
    final_close(c, false);
    *err = r;
    return NULL;
  }
  *err = 0;
  return c;
}

/* ---- accessors ------------------------------------------------------------ */

void *c4_conn_data(const c4_conn *c) { return c->data; }
void c4_conn_set_data(c4_conn *c, void *data) { c->data = data; }
c4_listener *c4_conn_listener(const c4_conn *c) { return c->lis; }
const char *c4_conn_peer_ip(const c4_conn *c) { return c->peer_ip; }
int c4_conn_peer_port(const c4_conn *c) { return c->peer_port; }
uv_tcp_t *c4_conn_tcp(c4_conn *c) { return &c->tcp; }
SSL *c4_conn_ssl(c4_conn *c) { return c->tls ? tls_conn_ssl(c->tls) : NULL; }

int c4_conn_local(const c4_conn *c, char *ip, size_t ipsz, int *port) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int r = uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len);
  if (r == 0) c4_sockaddr_text((struct sockaddr *)&ss, ip, ipsz, port);
  return r;
}
