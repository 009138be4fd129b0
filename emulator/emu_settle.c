/*
 * emu_settle.c — "everything inside this process is quiet": what d:settle()
 * waits for, and what virtual-time advance waits for around every timer.
 *
 * Quiet means, at one instant after serving the loop without waiting:
 *   - the pass brought no I/O (emu_io_activity did not move), fired no due
 *     clock entry and the spec side (device notifiers, spawned coroutines:
 *     the host's spec_step hook) ran nothing;
 *   - no busy probe answers busy (bytes queued to write, a connect or a
 *     TLS handshake in flight, a resolver request: see emu.h);
 *   - no handle of the loop is closing, no idle/prepare/check handle is
 *     active and no libuv timer is due now (callbacks queued);
 *   - no socket the loop is reading has bytes (or a connection) waiting,
 *     and between two TCP sockets of the loop (one's addresses are the
 *     other's, swapped) no bytes are on their way: what one has sent
 *     (TCP_INFO bytes_sent less retransmissions) the other has received
 *     (bytes_received), and nothing waits unsent.  Loopback delivery usually
 *     happens inside the send call, but under load the kernel may defer it
 *     to ksoftirqd; the counters see that, and unlike "unacknowledged" they
 *     do not wait for delayed ACKs.
 * Peers outside the process (nc, openssl s_client) are not waited for: their
 * sockets are not ours, and bytes to them count only until the kernel took
 * them.
 *
 * Nothing here calls Lua except through the spec_step hook, which the spec
 * module sets while one of its calls (d:settle, d:advance, a device wait)
 * runs, and which must not raise.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "emu_host.h"

int emu_tcp_counters(int fd, uint64_t *sent, uint64_t *received, uint32_t *notsent);

/* One TCP socket of the loop, as the kernel sees it. */
typedef struct {
  struct sockaddr_storage local, peer;
  bool connected;
  uint64_t sent, received; /* payload bytes (first transmissions) / in order */
  uint32_t notsent;
} tcp_seen;

typedef struct {
  tcp_seen *v;
  size_t n, cap;
  bool busy;
  char *why;
  size_t whysz;
} quiet_walk;

static int port_of(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)ss)->sin_port);
  if (ss->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  return 0;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return false;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
  }
  return false;
}

static void say(quiet_walk *w, const char *fmt, int arg) {
  w->busy = true;
  if (w->why && w->whysz) snprintf(w->why, w->whysz, fmt, arg);
}

static int local_port(uv_handle_t *h) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int r = h->type == UV_TCP ? uv_tcp_getsockname((uv_tcp_t *)h, (struct sockaddr *)&ss, &len)
                            : uv_udp_getsockname((uv_udp_t *)h, (struct sockaddr *)&ss, &len);
  return r == 0 ? port_of(&ss) : 0;
}

/* Records a connected TCP socket's counters for the pairing below. */
static void remember_tcp(quiet_walk *w, uv_tcp_t *t, uv_os_fd_t fd) {
  tcp_seen s = {0};
  int len = sizeof s.local;
  if (uv_tcp_getsockname(t, (struct sockaddr *)&s.local, &len) != 0) return;
  len = sizeof s.peer;
  if (uv_tcp_getpeername(t, (struct sockaddr *)&s.peer, &len) != 0) return;
  if (emu_tcp_counters(fd, &s.sent, &s.received, &s.notsent) != 0) return;
  s.connected = true;
  if (w->n == w->cap) {
    size_t ncap = w->cap ? w->cap * 2 : 16;
    tcp_seen *p = realloc(w->v, ncap * sizeof *p);
    if (!p) return; /* a shorter list only makes settling wait less */
    w->v = p;
    w->cap = ncap;
  }
  w->v[w->n++] = s;
}

/* What each handle still has in flight. */
static void check_handle(uv_handle_t *h, void *arg) {
  quiet_walk *w = arg;
  if (w->busy) return;
  if (uv_is_closing(h)) {
    say(w, "a handle is still closing%.0d", 0);
    return;
  }
  if (h->type == UV_TCP) { /* counted even when not reading: a peer may be */
    uv_os_fd_t fd;
    if (uv_fileno(h, &fd) == 0) remember_tcp(w, (uv_tcp_t *)h, fd);
  }
  if (!uv_is_active(h)) return;
  switch (h->type) {
  case UV_IDLE:
  case UV_PREPARE:
  case UV_CHECK:
    say(w, "deferred work is queued%.0d", 0);
    return;
  case UV_TIMER:
    if (uv_timer_get_due_in((uv_timer_t *)h) == 0) say(w, "a callback is queued%.0d", 0);
    return;
  case UV_TCP:
  case UV_UDP: {
    uv_os_fd_t fd;
    if (uv_fileno(h, &fd) != 0) return;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLERR)))
      say(w, "bytes or a connection wait to be read on port %d", local_port(h));
    return;
  }
  default:
    return;
  }
}

/*
 * Bytes on their way between two sockets of the loop: A has sent more than
 * its peer B (the socket whose addresses are A's, swapped) has received, or
 * A still holds bytes it has not sent.  Counting sent against received, not
 * waiting for acknowledgements, keeps delayed ACKs out of it.
 */
static void check_pairs(quiet_walk *w) {
  for (size_t i = 0; i < w->n && !w->busy; i++) {
    const tcp_seen *a = &w->v[i];
    for (size_t j = 0; j < w->n; j++) {
      const tcp_seen *b = &w->v[j];
      if (i == j || !same_addr(&a->local, &b->peer) || !same_addr(&a->peer, &b->local)) continue;
      if (a->sent > b->received || a->notsent > 0)
        say(w, "bytes are on their way from port %d to a socket of this process",
            port_of(&a->local));
      break;
    }
  }
}

bool emu_settle_busy(emu_ctx *ctx, char *why, size_t whysz) {
  if (why && whysz) why[0] = '\0';
  if (emu_busy(ctx)) {
    if (why && whysz) snprintf(why, whysz, "a write, connect or handshake is in flight");
    return true;
  }
  quiet_walk w = {.why = why, .whysz = whysz};
  uv_walk(ctx->loop, check_handle, &w);
  if (!w.busy) check_pairs(&w);
  free(w.v);
  return w.busy;
}

/* One pass: serve ready I/O, fire what is due now, run the spec side.
 * True when anything happened. */
static bool pass(emu_ctx *ctx) {
  struct emu_host *h = ctx->host;
  uint64_t ev0 = h->io_events;
  if (emu_loop_could_bring_io(ctx)) emu_loop_serve(ctx, 0);
  bool ran = emu_clock_fire_due(ctx);
  if (h->spec_step && h->spec_step(ctx, h->spec_step_ud)) ran = true;
  return ran || h->io_events != ev0;
}

int emu_settle(emu_ctx *ctx, uint64_t timeout_ms, char *why, size_t whysz) {
  struct emu_host *h = ctx->host;
  uint64_t t0 = uv_hrtime();
  h->settling++;
  int rc = 0;
  for (;;) {
    bool ran = pass(ctx);
    if (!ran && !emu_settle_busy(ctx, why, whysz)) break;
    if (ran && why && whysz) snprintf(why, whysz, "the loop kept bringing I/O or callbacks");
    if ((uv_hrtime() - t0) / 1000000u >= timeout_ms) {
      rc = -1;
      break;
    }
    /* Busy with nothing ready yet (a write waiting for room, a connect on
     * its way): wait a little for the kernel instead of spinning. */
    if (!ran && emu_loop_could_bring_io(ctx)) emu_loop_serve(ctx, 1);
  }
  h->settling--;
  return rc;
}

/* Settling inside virtual-time advance: never raises; a driver that keeps
 * the loop busy for ever is logged once per advance and time goes on (the
 * later settles of that advance get a short bound, so a long advance does
 * not cost 2 s per timer). */
void emu_settle_for_advance(emu_ctx *ctx, bool *warned) {
  char why[160];
  uint64_t bound = *warned ? EMU_ADVANCE_SETTLE_AFTER_MS : EMU_ADVANCE_SETTLE_MS;
  if (emu_settle(ctx, bound, why, sizeof why) == 0 || *warned) return;
  *warned = true;
  emu_log(ctx, EMU_LOG_WARN, "[c4emu] advance: still not quiet after %u ms of wall time (%s); "
          "time goes on", (unsigned)EMU_ADVANCE_SETTLE_MS, why);
}
