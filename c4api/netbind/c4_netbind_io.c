/*
 * c4_netbind_io.c — the transports of network binding ports: TCP and SSL
 * connections on the socket core (c4_conn: writes never block and keep
 * their order; with SSL the client context of c4_netbind_tls.c), UDP and
 * MULTICAST on a uv_udp_t.
 *
 *   - TCP / SSL: ONLINE when c4_conn opens (after the handshake for SSL),
 *     OFFLINE when it closes (the peer closed, reset, refused, the handshake
 *     failed, or NetDisconnect).  KEEP_ALIVE sets TCP keepalive (60 s).
 *   - UDP: the socket is bound to an ephemeral port (MIRROR_UDP_PORT: to the
 *     port number itself, so that a device answering to the port it was sent
 *     from is heard) and ONLINE comes from the loop at once: UDP has no
 *     connection.  Datagrams from any sender reach ReceivedFromNetwork, one
 *     call each; the delimiter does not apply.
 *   - MULTICAST: the binding's address is the group; the socket binds to the
 *     port (shared: SO_REUSEADDR), joins the group on the loopback
 *     interface when the group is 127.x-routed here (c4emu's sandbox case),
 *     else on the default interface, loops its own sends back, and sends to
 *     group:port.
 * An address that is not numeric is resolved first (uv_getaddrinfo: IPv4
 * first, then the first answer); SSL then sends it as SNI and, under
 * VERIFY_MODE peer, checks the certificate names it.
 * A detached transport (the port was reset or destroyed) gives no events.
 */
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>

#include "netbind/c4_netbind.h"

#define TRACK_TCP "net-binding"
#define TRACK_UDP "net-binding-udp"

struct nb_udp {
  uv_udp_t h;
  nb_port *p;              /* NULL once detached */
  emu_ctx *ctx;
  struct sockaddr_storage to;
  size_t queued;           /* bytes in uv_udp_send requests not yet done */
};

/* ---- TCP / SSL ------------------------------------------------------------------- */

static void ev_open(c4_conn *c) {
  nb_port *p = c4_conn_data(c);
  if (!p) return;
  emu_io_activity(p->b->st->ctx);
  if (p->keep_alive) uv_tcp_keepalive(c4_conn_tcp(c), 1, 60);
  uv_tcp_nodelay(c4_conn_tcp(c), 1);
  snprintf(p->peer_ip, sizeof p->peer_ip, "%s", c4_conn_peer_ip(c));
  nb_port_status(p, NB_ONLINE, NULL);
}

static void ev_data(c4_conn *c, const char *buf, size_t n) {
  nb_port *p = c4_conn_data(c);
  if (!p) return;
  emu_io_activity(p->b->st->ctx);
  if (n == 0) {   /* the device finished sending: closing (c4_conn closes after this call) */
    c4_conn_close(c, C4_CLOSE_FLUSH);
    return;
  }
  nb_port_data(p, buf, n, p->peer_ip);
}

static void ev_closed(c4_conn *c, int status, const char *msg) {
  nb_port *p = c4_conn_data(c);
  if (!p) return;
  emu_io_activity(p->b->st->ctx);
  p->conn = NULL;
  nb_port_status(p, NB_OFFLINE, status ? msg : "closed");
}

static const c4_conn_events tcp_events = {
    .open = ev_open,
    .data = ev_data,
    .closed = ev_closed,
};

typedef struct nb_resolve {
  uv_getaddrinfo_t req;
  nb_port *p;              /* NULL once the port gave up on it */
  emu_ctx *ctx;
} nb_resolve;

static int numeric(nb_port *p, struct sockaddr_storage *ss) {
  const char *a = p->b->address;
  if (!a) return UV_EINVAL;
  return c4_sockaddr_parse(a, p->number, ss);
}

static int tcp_connect_to(nb_port *p, struct sockaddr_storage *ss, char *err, size_t errsz) {
  emu_ctx *ctx = p->b->st->ctx;
  int r;
  SSL_CTX *tls = NULL;
  if (p->type == NB_SSL && !(tls = nb_tls_client_ctx(p, err, errsz))) return UV_EINVAL;
  c4_conn_opts o = {.loop = ctx->loop, .ctx = ctx, .conn_kind = TRACK_TCP, .tls = tls,
                    .ev = &tcp_events};
  p->conn = c4_conn_connect(&o, (struct sockaddr *)ss, p, &r);
  if (tls) SSL_CTX_free(tls);   /* the connection holds its own reference */
  if (p->conn && p->type == NB_SSL) nb_tls_expect_peer(p, c4_conn_ssl(p->conn));
  if (!p->conn) {
    snprintf(err, errsz, "connect: %s", uv_strerror(r));
    return r;
  }
  return 0;
}

/* ---- UDP / MULTICAST ----------------------------------------------------------- */

static void udp_closed(uv_handle_t *h) {
  nb_udp *u = h->data;
  emu_track(u->ctx, TRACK_UDP, -1);
  free(u);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  nb_udp *u = h->data;
  if (u->p && nread >= 0 && addr) {
    emu_io_activity(u->ctx);
    if (flags & UV_UDP_PARTIAL)
      emu_log(u->ctx, EMU_LOG_WARN, "[c4emu] network binding %d port %d: datagram truncated "
              "to %zd bytes", u->p->b->id, u->p->number, nread);
    int port;
    c4_sockaddr_text(addr, u->p->peer_ip, sizeof u->p->peer_ip, &port);
    if (u->p->status == NB_ONLINE) nb_port_data(u->p, buf->base, (size_t)nread, u->p->peer_ip);
  } else if (u->p && nread < 0) {
    emu_log(u->ctx, EMU_LOG_WARN, "[c4emu] network binding %d port %d: %s", u->p->b->id,
            u->p->number, uv_strerror((int)nread));
  }
  c4_conn_release_buf(buf);
}

static void on_udp_online(emu_ctx *ctx, void *data) {
  (void)ctx;
  nb_port *p = data;
  p->post = NULL;
  if (p->udp && p->status == NB_CONNECTING) nb_port_status(p, NB_ONLINE, NULL);
}

static void on_udp_offline(emu_ctx *ctx, void *data) {
  (void)ctx;
  nb_port *p = data;
  p->post = NULL;
  if (!p->udp && p->status != NB_OFFLINE) nb_port_status(p, NB_OFFLINE, "disconnected");
}

static int udp_connect_to(nb_port *p, struct sockaddr_storage *to, char *err, size_t errsz) {
  emu_ctx *ctx = p->b->st->ctx;
  nb_udp *u = calloc(1, sizeof *u);
  if (!u) return UV_ENOMEM;
  int r;
  u->to = *to;
  u->ctx = ctx;
  u->p = p;
  uv_udp_init(ctx->loop, &u->h);
  u->h.data = u;
  emu_track(ctx, TRACK_UDP, +1);
  bool mc = p->type == NB_MULTICAST;
  bool v6 = u->to.ss_family == AF_INET6;
  struct sockaddr_storage local;
  int lport = mc || p->mirror_udp ? p->number : 0;
  c4_sockaddr_parse(v6 ? "::" : "0.0.0.0", lport, &local);
  r = uv_udp_bind(&u->h, (struct sockaddr *)&local, mc ? UV_UDP_REUSEADDR : 0);
  if (r == 0 && mc) {
    char group[64];
    int gport;
    c4_sockaddr_text((struct sockaddr *)&u->to, group, sizeof group, &gport);
    /* the loopback interface first (where specs and the sandbox live), then
     * the default one */
    r = uv_udp_set_membership(&u->h, group, v6 ? NULL : "127.0.0.1", UV_JOIN_GROUP);
    if (r != 0) r = uv_udp_set_membership(&u->h, group, NULL, UV_JOIN_GROUP);
    if (r == 0 && !v6) uv_udp_set_multicast_interface(&u->h, "127.0.0.1");
    if (r == 0) uv_udp_set_multicast_loop(&u->h, 1);
    if (r != 0) snprintf(err, errsz, "joining multicast group %s: %s", group, uv_strerror(r));
  } else if (r != 0) {
    snprintf(err, errsz, "binding UDP port %d: %s", lport, uv_strerror(r));
  }
  if (r == 0) r = uv_udp_recv_start(&u->h, c4_conn_alloc, on_udp_recv);
  if (r != 0) {
    if (!*err) snprintf(err, errsz, "UDP: %s", uv_strerror(r));
    u->p = NULL;
    uv_close((uv_handle_t *)&u->h, udp_closed);
    return r;
  }
  p->udp = u;
  p->post = emu_sched_add(ctx, emu_now(ctx), on_udp_online, p);
  return 0;
}

typedef struct {
  uv_udp_send_t req;
  nb_udp *u;
  size_t n;
  char data[];
} udp_req;

static void on_udp_sent(uv_udp_send_t *req, int status) {
  udp_req *q = (udp_req *)req;
  (void)status;
  q->u->queued -= q->n;
  emu_io_activity(q->u->ctx);
  free(q);
}

static int udp_send(nb_udp *u, const char *data, size_t n) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
  int r = uv_udp_try_send(&u->h, &b, 1, (struct sockaddr *)&u->to);
  if (r >= 0) return 0;
  if (r != UV_EAGAIN) return r;
  udp_req *q = malloc(sizeof *q + n);
  if (!q) return UV_ENOMEM;
  memcpy(q->data, data, n);
  q->u = u;
  q->n = n;
  b = uv_buf_init(q->data, (unsigned)n);
  if ((r = uv_udp_send(&q->req, &u->h, &b, 1, (struct sockaddr *)&u->to, on_udp_sent)) != 0) {
    free(q);
    return r;
  }
  u->queued += n;
  return 0;
}

/* ---- the port's side ------------------------------------------------------------ */

static int connect_to(nb_port *p, struct sockaddr_storage *ss, char *err, size_t errsz) {
  if (p->type == NB_UDP || p->type == NB_MULTICAST) return udp_connect_to(p, ss, err, errsz);
  return tcp_connect_to(p, ss, err, errsz);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  nb_resolve *r = req->data;
  nb_port *p = r->p;
  if (p) {
    emu_io_activity(r->ctx);
    p->resolving = NULL;
    char err[256] = "";
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *a = res; a && status == 0; a = a->ai_next)
      if (!pick || (a->ai_family == AF_INET && pick->ai_family != AF_INET)) pick = a;
    int rc = status;
    if (pick) {
      struct sockaddr_storage ss = {0};
      memcpy(&ss, pick->ai_addr, pick->ai_addrlen);
      if (ss.ss_family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)p->number);
      else ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)p->number);
      rc = connect_to(p, &ss, err, sizeof err);
    } else {
      snprintf(err, sizeof err, "resolving '%s': %s", p->b->address,
               uv_strerror(status ? status : UV_EAI_NONAME));
    }
    if (rc != 0 || !pick) {
      emu_log(r->ctx, EMU_LOG_WARN, "[c4emu] network binding %d port %d: %s", p->b->id,
              p->number, err);
      nb_port_status(p, NB_OFFLINE, err);
    }
  }
  uv_freeaddrinfo(res);
  free(r);
}

int nb_io_connect(nb_port *p, char *err, size_t errsz) {
  struct sockaddr_storage ss;
  if (numeric(p, &ss) == 0) return connect_to(p, &ss, err, errsz);
  /* a host name: resolved off the loop thread first */
  emu_ctx *ctx = p->b->st->ctx;
  nb_resolve *r = calloc(1, sizeof *r);
  if (!r) return UV_ENOMEM;
  r->p = p;
  r->ctx = ctx;
  r->req.data = r;
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = p->type == NB_UDP || p->type == NB_MULTICAST
                                              ? SOCK_DGRAM : SOCK_STREAM};
  int rc = uv_getaddrinfo(ctx->loop, &r->req, on_resolved, p->b->address, NULL, &hints);
  if (rc != 0) {
    free(r);
    snprintf(err, errsz, "resolving '%s': %s", p->b->address, uv_strerror(rc));
    return rc;
  }
  p->resolving = r;
  return 0;
}

void nb_io_close(nb_port *p, c4_close_mode mode) {
  if (p->resolving) {   /* its callback frees it; the port hears nothing more */
    p->resolving->p = NULL;
    uv_cancel((uv_req_t *)&p->resolving->req);
    p->resolving = NULL;
    if (mode == C4_CLOSE_FLUSH) nb_port_status(p, NB_OFFLINE, "disconnected");
    return;
  }
  if (p->conn) {
    if (mode == C4_CLOSE_FLUSH) {
      c4_conn_close(p->conn, C4_CLOSE_FLUSH);   /* ev_closed → OFFLINE */
      return;
    }
    c4_conn_set_data(p->conn, NULL);
    c4_conn_abort(p->conn);
    p->conn = NULL;
  }
  if (p->udp) {
    nb_udp *u = p->udp;
    p->udp = NULL;
    u->p = NULL;
    uv_close((uv_handle_t *)&u->h, udp_closed);
    emu_ctx *ctx = p->b->st->ctx;
    emu_sched_cancel(ctx, p->post);
    p->post = NULL;
    /* no connection to wait for: OFFLINE comes from the loop, as for TCP */
    if (mode == C4_CLOSE_FLUSH) p->post = emu_sched_add(ctx, emu_now(ctx), on_udp_offline, p);
  }
}

int nb_io_send(nb_port *p, const char *data, size_t n) {
  if (p->conn) return c4_conn_write(p->conn, data, n);
  if (p->udp) return udp_send(p->udp, data, n);
  return UV_ENOTCONN;
}

size_t nb_io_queued(const nb_port *p) {
  if (p->conn) return c4_conn_queued(p->conn);
  if (p->udp) return p->udp->queued;
  return 0;
}

static bool loopback(const char *a) {
  return a && (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 ||
               strcmp(a, "localhost") == 0);
}

bool nb_io_busy(nb_state *st) {
  for (nb_binding *b = st->bindings; b; b = b->next)
    for (nb_port *p = b->ports; p; p = p->next) {
      if (nb_io_queued(p)) return true;
      /* a connect to a peer of this process (loopback) is waited for */
      if (p->status == NB_CONNECTING && p->conn && loopback(b->address)) return true;
      if (p->resolving) return true;   /* a name being resolved (from /etc/hosts: quick) */
    }
  return false;
}
