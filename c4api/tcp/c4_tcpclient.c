/*
 * c4_tcpclient.c — C4LuaTcpClient (reference §4): the connections a
 * C4LuaTcpServer accepts and the outgoing ones of C4:CreateTCPClient():
 * chaining setters OnResolve / OnConnect / OnRead / OnWrite / OnDisconnect /
 * OnError / Option, Connect, Write, the one-shot reads ReadUntil (string or
 * matcher), ReadUntilOneOf, ReadUntilOneNotOf, ReadAtLeast, ReadUpTo,
 * GetRemoteAddress, GetLocalAddress and Close([flush]).
 *
 * Reading (the buffer, the one-shot reads, the partial payload at the end)
 * is in c4_tcpread.c.
 *
 * States: IDLE (outgoing, not connecting) → CONNECTING (resolve, choose,
 * connect) → OPEN → CLOSING (the driver's Close) → ENDED.  Events:
 *   - OnConnect(client) once an outgoing connection is up;
 *   - OnWrite(client) each time everything written has gone to the kernel
 *     (never after Close);
 *   - OnError(client, code, msg, op): op "resolve" / "connect" for a failed
 *     or cancelled Connect (Close() on a pending Connect: ECANCELED), and
 *     "read" / "write" when the connection ends with an error ("write" if
 *     data was still queued), right before OnDisconnect;
 *   - OnDisconnect(client, code, msg) exactly once for every connection
 *     that was up and ended, whichever side ended it: code 0 ("Success") for
 *     a graceful close, the errno otherwise.
 * After OnDisconnect the client is closed: methods other than Close and the
 * address getters raise.  Between Close() and OnDisconnect, writes are
 * dropped and reads answer nil (the reference: nothing more is read, no more
 * writes are accepted), so a driver that broadcasts to a client it is
 * closing (the seed's chat server can) does not fail.
 *
 * Options: nodelay (on by default, as c4_conn sets it), keepalive [, delay
 * seconds, default 60], linger.  Linger is not handed to the kernel
 * (SO_LINGER with a timeout makes close() block, and that would stall every
 * driver of the process): with 0 seconds Close() resets the connection,
 * with more it sends what is queued first, as Close(true) does.  A server's
 * linger applies to the connections it accepts.
 *
 * Lifetime: the client holds a reference to itself while a connect, a read
 * or a write is outstanding and while it closes (until OnDisconnect), so an
 * unreferenced client still gets its OnRead / OnWrite / OnDisconnect.  An
 * idle open client that nothing references is collected and its socket
 * closed (no events: __gc never calls Lua).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>

#include "net/c4_limits.h"
#include "tcp/c4_tcpclient.h"

tcp_client *tcp_check_client(lua_State *L) {
  return (tcp_client *)tcp_check(L, TCP_CLIENT_MT);
}

/* ---- writes before the connection is up ---------------------------------------- */

static bool pre_append(tcp_client *c, const char *p, size_t n) {
  if (c->prelen + n > c->precap) {
    size_t ncap = c->precap ? c->precap : 1024;
    while (ncap < c->prelen + n) ncap *= 2;
    char *b = realloc(c->pre, ncap);
    if (!b) return false;
    c->pre = b;
    c->precap = ncap;
  }
  memcpy(c->pre + c->prelen, p, n);
  c->prelen += n;
  return true;
}

static void pre_free(tcp_client *c) {
  free(c->pre);
  c->pre = NULL;
  c->prelen = c->precap = 0;
}

/*
 * Write batching: while a client's read callback runs (its OnRead handlers
 * answering what arrived), what it writes to itself is gathered here and
 * handed to c4_conn once at the end of the callback: one write for many
 * lines.  c4_conn's own batching is off for these connections (they ask for
 * the drain event that OnWrite needs), so this is where it happens.  Only one
 * read callback runs at a time, so one static buffer serves every client.
 */
#define BATCH_MAX (64u << 10)
static tcp_client *batch_owner;
static char batch_buf[BATCH_MAX];
static size_t batch_len;

/*
 * OnWrite follows each write once it has gone: c4_conn's drained event when
 * the write had to wait, the next loop turn when the kernel took it at once
 * (as libuv's own write callback would come).  When the write is handed
 * over after the driver's callback returned (the batch of an OnRead) and no
 * OnWrite handler is set, there is nobody to tell: nothing is queued.  While
 * driver code runs it may still set one, so the turn is queued anyway.
 */
static bool out_write(tcp_client *c, const char *p, size_t n) {
  if (!c->conn || c4_conn_write(c->conn, p, n) != 0) return false;
  if (c4_conn_queued(c->conn) > 0) {
    c->write_pending = true; /* until the drained event */
  } else if (tcp_has_handler(&c->o, "OnWrite") || emu_in_driver(c->o.ctx)) {
    c->write_pending = true;
    tcp_kick(&c->o, TCP_KICK_WRITTEN);
  }
  return true;
}

static void batch_flush(tcp_client *c) {
  if (batch_owner != c || batch_len == 0) return;
  size_t n = batch_len;
  batch_len = 0;
  out_write(c, batch_buf, n);
}

static bool batch_write(tcp_client *c, const char *p, size_t n) {
  if (batch_len + n > BATCH_MAX) {
    batch_flush(c);
    if (n > BATCH_MAX / 2) return out_write(c, p, n);
  }
  memcpy(batch_buf + batch_len, p, n);
  batch_len += n;
  return true;
}

static void batch_begin(tcp_client *c) {
  batch_owner = c;
  batch_len = 0;
}

static void batch_end(tcp_client *c) {
  if (batch_owner != c) return;
  batch_flush(c);
  batch_owner = NULL;
}

/* ---- events --------------------------------------------------------------------- */

static void report_error(tcp_client *c, int uverr, const char *op) {
  const char *text = tcp_errtext(uverr);
  tcp_arg a[3] = {{.t = 'n', .n = tcp_errcode(uverr)},
                  {.t = 's', .s = text, .len = strlen(text)},
                  {.t = 's', .s = op, .len = strlen(op)}};
  tcp_call(&c->o, "OnError", a, 3, 0);
}

/* Applies the options set so far; 0 or a libuv error. */
static int apply_options(tcp_client *c) {
  if (!c->conn) return 0;
  uv_tcp_t *t = c4_conn_tcp(c->conn);
  int r = 0;
  if (c->nodelay >= 0 && r == 0) r = uv_tcp_nodelay(t, c->nodelay);
  if (c->keepalive >= 0 && r == 0)
    r = uv_tcp_keepalive(t, c->keepalive, c->keepalive_secs > 0 ? (unsigned)c->keepalive_secs : 60);
  /* linger is not given to the kernel: SO_LINGER with a timeout makes close()
   * block the whole emulator.  Close() does what it asks instead (below). */
  return r;
}

/* The connection is up (accepted, or connected). */
static void became_open(tcp_client *c) {
  c->state = CL_OPEN;
  snprintf(c->peer_ip, sizeof c->peer_ip, "%s", c4_conn_peer_ip(c->conn));
  c->peer_port = c4_conn_peer_port(c->conn);
  if (c4_conn_local(c->conn, c->local_ip, sizeof c->local_ip, &c->local_port) != 0)
    c->local_ip[0] = '\0';
  c4_conn_want_drain(c->conn, true);
  if (apply_options(c) != 0)
    emu_log(c->o.ctx, EMU_LOG_WARN, "[c4emu] C4LuaTcpClient: a socket option could not be set");
}

static bool connect_to(tcp_client *c, int i, int *err);

static void connect_failed(tcp_client *c, int status) {
  int err = status;
  while (c->o.auto_choice && c->next_ep < c->o.neps) { /* the default: try the others */
    if (connect_to(c, c->next_ep, &err)) return;
  }
  tcp_free_eps(&c->o);
  pre_free(c);
  c->state = CL_IDLE;
  emu_log(c->o.ctx, EMU_LOG_DEBUG, "[c4emu] C4LuaTcpClient: connect failed: %s",
          tcp_errtext(err));
  report_error(c, err, "connect");
}

static void ev_open(c4_conn *conn) {
  c4_listener *lis = c4_conn_listener(conn);
  if (lis) {
    tcp_client_accepted((tcp_obj *)c4_listener_data(lis), conn);
    return;
  }
  tcp_client *c = c4_conn_data(conn);
  if (!c || c->o.dead) return;
  lua_State *L = c->o.ctx->L;
  int top = lua_gettop(L);
  tcp_push_ud(L, &c->o);
  tcp_free_eps(&c->o);
  became_open(c);
  if (c->prelen) {
    if (c4_conn_write(conn, c->pre, c->prelen) == 0) c->write_pending = true;
    pre_free(c);
  }
  tcp_call(&c->o, "OnConnect", NULL, 0, 0);
  tcp_client_service(c);
  tcp_sync_alive(&c->o);
  lua_settop(L, top);
}

static void ev_data(c4_conn *conn, const char *p, size_t n) {
  tcp_client *c = c4_conn_data(conn);
  if (!c || c->o.dead) return;
  if (n == 0) {
    c->eof = true;
    batch_begin(c);
    tcp_client_service(c); /* the partial payload, while a reply can still be sent */
    batch_end(c);
    tcp_sync_alive(&c->o);
    return;
  }
  if (c->state != CL_OPEN) return;
  if (!tcp_buf_append(c, p, n)) {
    emu_log(c->o.ctx, EMU_LOG_ERROR, "[c4emu] C4LuaTcpClient: out of memory buffering "
            "received data: closing the connection");
    c4_conn_close(conn, C4_CLOSE_NOW);
    return;
  }
  batch_begin(c);
  tcp_client_service(c);
  batch_end(c);
  tcp_sync_alive(&c->o);
  if (c->len >= c->max_unread && !c->paused && c->conn) {
    c->paused = true;
    c4_conn_pause(c->conn);
    if (!c->warned_full)
      emu_log(c->o.ctx, EMU_LOG_WARN, "[c4emu] C4LuaTcpClient: %zu bytes received and not "
              "read: reading paused until the driver reads", c->len);
    c->warned_full = true;
  }
}

/* What was written has gone: OnWrite (once nothing waits any more). */
static void written(tcp_client *c) {
  lua_State *L = c->o.ctx->L;
  int top = lua_gettop(L);
  tcp_push_ud(L, &c->o);
  if (!c->conn || c4_conn_queued(c->conn) == 0) c->write_pending = false;
  if (c->state == CL_OPEN) tcp_call(&c->o, "OnWrite", NULL, 0, 0);
  tcp_sync_alive(&c->o);
  lua_settop(L, top);
}

static void ev_drained(c4_conn *conn) {
  tcp_client *c = c4_conn_data(conn);
  if (!c || c->o.dead) return;
  written(c);
}

static void ev_closed(c4_conn *conn, int status, const char *msg) {
  (void)msg;
  tcp_client *c = c4_conn_data(conn);
  if (!c || c->o.dead) return;
  c->conn = NULL;
  lua_State *L = c->o.ctx->L;
  int top = lua_gettop(L);
  tcp_push_ud(L, &c->o);
  if (c->state == CL_CONNECTING) {
    connect_failed(c, status);
  } else if (c->state == CL_OPEN || c->state == CL_CLOSING) {
    if (c->state == CL_OPEN) tcp_client_service(c); /* the partial payload first */
    const char *op = c->write_pending ? "write" : "read";
    if (status < 0) report_error(c, status, op);
    c->state = CL_ENDED;
    tcp_read_disarm(c);
    c->write_pending = false;
    const char *text = tcp_errtext(status);
    tcp_arg a[2] = {{.t = 'n', .n = tcp_errcode(status)},
                    {.t = 's', .s = text, .len = strlen(text)}};
    tcp_call(&c->o, "OnDisconnect", a, 2, 0);
    c->o.closed = true;
    free(c->buf);
    c->buf = NULL;
    c->off = c->len = c->cap = 0;
  }
  tcp_sync_alive(&c->o);
  lua_settop(L, top);
}

const c4_conn_events tcp_client_events = {
    .open = ev_open,
    .data = ev_data,
    .drained = ev_drained,
    .closed = ev_closed,
};

/* ---- ops ------------------------------------------------------------------------ */

static bool connect_to(tcp_client *c, int i, int *err) {
  c->next_ep = i + 1;
  c4_conn_opts opts = {.loop = c->o.ctx->loop, .ctx = c->o.ctx, .conn_kind = TCP_TRACK_CLIENT,
                       .ev = &tcp_client_events};
  c->conn = c4_conn_connect(&opts, (struct sockaddr *)&c->o.eps[i], c, err);
  if (c->conn) c->state = CL_CONNECTING;
  return c->conn != NULL;
}

/* An endpoint was chosen: connect to it (ev_open or ev_closed follows). */
static void cl_proceed(tcp_obj *o) {
  tcp_client *c = (tcp_client *)o;
  int err;
  if (!connect_to(c, o->choice - 1, &err)) connect_failed(c, err);
}

static void cl_failed(tcp_obj *o, int uverr, const char *op) {
  tcp_client *c = (tcp_client *)o;
  c->state = CL_IDLE;
  pre_free(c);
  report_error(c, uverr, op);
}

static void cl_kicked(tcp_obj *o, unsigned flags) {
  tcp_client *c = (tcp_client *)o;
  if (flags & TCP_KICK_CANCELLED) {
    c->state = CL_ENDED;
    report_error(c, UV_ECANCELED, "connect");
    o->closed = true;
  }
  if (flags & TCP_KICK_SERVICE) tcp_client_service(c);
  if ((flags & TCP_KICK_WRITTEN) && !o->dead) written(c);
}

static bool cl_want_alive(tcp_obj *o) {
  tcp_client *c = (tcp_client *)o;
  switch (c->state) {
  case CL_CONNECTING:
  case CL_CLOSING: return true;
  case CL_OPEN:
    /* ... and while the connection ends on its own (peer EOF, error): its
     * OnDisconnect is owed */
    return c->rmode != R_NONE || c->write_pending || c->eof || !c->conn ||
           !c4_conn_is_open(c->conn);
  default: return false;
  }
}

static void cl_shutdown(tcp_obj *o) {
  tcp_client *c = (tcp_client *)o;
  if (c->conn) {
    c4_conn_set_data(c->conn, NULL);
    c4_conn_abort(c->conn);
  }
  c->conn = NULL;
  c->state = CL_ENDED;
  c->rmode = R_NONE;
}

static void cl_release(tcp_obj *o) {
  tcp_client *c = (tcp_client *)o;
  if (batch_owner == c) batch_owner = NULL;
  free(c->buf);
  free(c->pre);
  if (c->delim != c->dsmall) free(c->delim);
  free(c);
}

/* issue 17: "connected to PEER from LOCAL" and the state for the web console. */
static void cl_describe(tcp_obj *o, lua_State *L) {
  tcp_client *c = (tcp_client *)o;
  static const char *const names[] = {"idle", "connecting", "open", "closing", "ended"};
  if (!o->pending) {
    lua_pushstring(L, names[c->state]);
    lua_setfield(L, -2, "state");
  }
  if (c->peer_ip[0]) {
    lua_pushfstring(L, "%s:%d (local %s:%d)", c->peer_ip, c->peer_port, c->local_ip, c->local_port);
    lua_setfield(L, -2, "address");
  }
}

static const tcp_ops client_ops = {
    .mt = TCP_CLIENT_MT,
    .want_alive = cl_want_alive,
    .proceed = cl_proceed,
    .failed = cl_failed,
    .kicked = cl_kicked,
    .shutdown = cl_shutdown,
    .release = cl_release,
    .describe = cl_describe,
};

static tcp_client *client_new(emu_ctx *ctx) {
  tcp_client *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->nodelay = c->keepalive = c->linger = -1;
  c->max_unread = (size_t)c4_net_limits_of(ctx)->max_unread;
  return c;
}

int tcp_client_create(lua_State *L, tcp_state *st) {
  tcp_box *b = tcp_newud(L, st, TCP_CLIENT_MT);
  tcp_client *c = client_new(emu_ctx_of(L));
  if (!c) return luaL_error(L, "C4:CreateTCPClient: out of memory");
  c->outgoing = true;
  tcp_link(st, b, &c->o, &client_ops);
  return 1;
}

typedef struct {
  tcp_client *c;
  tcp_state *st;
} new_client;

/* Inside the protected OnAccept call: the userdata of the accepted client. */
static void push_new_client(lua_State *L, void *ud) {
  new_client *nc = ud;
  tcp_box *b = tcp_newud(L, nc->st, TCP_CLIENT_MT);
  tcp_link(nc->st, b, &nc->c->o, &client_ops);
}

void tcp_client_accepted(tcp_obj *so, c4_conn *conn) {
  if (so->dead || so->closed || !so->box || !so->st) {
    c4_conn_abort(conn);
    return;
  }
  if (!tcp_has_handler(so, "OnAccept")) {
    emu_log(so->ctx, EMU_LOG_WARN, "[c4emu] C4LuaTcpServer: connection from %s:%d closed: the "
            "server has no OnAccept handler", c4_conn_peer_ip(conn), c4_conn_peer_port(conn));
    c4_conn_abort(conn);
    return;
  }
  tcp_client *c = client_new(so->ctx);
  if (!c) {
    c4_conn_abort(conn);
    return;
  }
  c->conn = conn;
  c4_conn_set_data(conn, c);
  bool lon;
  int lsecs;
  tcp_server_accept_opts(so, &lon, &lsecs);
  if (lon) {
    c->linger = 1;
    c->linger_secs = lsecs;
  }
  became_open(c);
  lua_State *L = so->ctx->L;
  int top = lua_gettop(L);
  tcp_push_ud(L, so);
  new_client nc = {c, so->st};
  tcp_arg a = {.t = 'f', .push = push_new_client, .ud = &nc};
  tcp_call(so, "OnAccept", &a, 1, 0);
  if (!c->o.box) { /* the userdata could not be made: nobody will ever see it */
    c4_conn_set_data(conn, NULL);
    c4_conn_abort(conn);
    cl_release(&c->o);
  } else {
    tcp_sync_alive(&c->o);
  }
  lua_settop(L, top);
}

/* ---- methods ------------------------------------------------------------------- */

/* client:OnResolve(fn(client, endpoints, choose)) → client */
static int l_TcpClient_OnResolve(lua_State *L) {
  return tcp_set_handler(L, &tcp_check_client(L)->o, "OnResolve");
}

/* client:OnConnect(fn(client)) → client */
static int l_TcpClient_OnConnect(lua_State *L) {
  return tcp_set_handler(L, &tcp_check_client(L)->o, "OnConnect");
}

/* client:OnRead(fn(client, data)) → client */
static int l_TcpClient_OnRead(lua_State *L) {
  return tcp_set_handler(L, &tcp_check_client(L)->o, "OnRead");
}

/* client:OnWrite(fn(client)) → client */
static int l_TcpClient_OnWrite(lua_State *L) {
  return tcp_set_handler(L, &tcp_check_client(L)->o, "OnWrite");
}

/* client:OnDisconnect(fn(client, code, msg)) → client */
static int l_TcpClient_OnDisconnect(lua_State *L) {
  return tcp_set_handler(L, &tcp_check_client(L)->o, "OnDisconnect");
}

/* client:OnError(fn(client, code, msg, op)) → client */
static int l_TcpClient_OnError(lua_State *L) {
  return tcp_set_handler(L, &tcp_check_client(L)->o, "OnError");
}

int tcp_client_fail(lua_State *L, const char *method, const char *why) {
  lua_pushnil(L);
  lua_pushfstring(L, "C4LuaTcpClient:%s: %s", method, why);
  return 2;
}

static const char *state_why(const tcp_client *c) {
  switch (c->state) {
  case CL_CONNECTING: return "a connect is already in progress";
  case CL_OPEN: return "the client is connected";
  default: return "the client is closing";
  }
}

/* client:Connect(host, service) → client, or nil and a message */
static int l_TcpClient_Connect(lua_State *L) {
  tcp_client *c = tcp_check_client(L);
  tcp_check_open(L, &c->o, "Connect");
  const char *host = c4_check_cstring(L, 2, "host");
  char buf[16];
  bool numeric;
  const char *service = tcp_check_service(L, 3, buf, sizeof buf, &numeric);
  c4_rule_check(L, "C4LuaTcpClient:Connect");
  if (!c->outgoing) return tcp_client_fail(L, "Connect", "an accepted connection cannot connect");
  if (c->state != CL_IDLE) return tcp_client_fail(L, "Connect", state_why(c));
  const char *node = host;
  if (strcasecmp(host, "!local") == 0 || strcasecmp(host, "!loopback") == 0) node = NULL;
  c->state = CL_CONNECTING;
  int r = tcp_resolve_start(&c->o, node, service, numeric, false);
  if (r != 0) {
    c->state = CL_IDLE;
    return tcp_client_fail(L, "Connect", tcp_errtext(r));
  }
  lua_settop(L, 1);
  return 1;
}

/* client:Write(data) → client.  Queued in order; before the connection is up
 * it waits for it; once Close() was called (or the connection ended) it is
 * dropped. */
static int l_TcpClient_Write(lua_State *L) {
  tcp_client *c = tcp_check_client(L);
  tcp_check_open(L, &c->o, "Write");
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  lua_settop(L, 1);
  if (n == 0) return 1;
  if (c->state == CL_IDLE || c->state == CL_CONNECTING) {
    if (!pre_append(c, p, n)) return luaL_error(L, "C4LuaTcpClient:Write: out of memory");
  } else if (c->state == CL_OPEN && c->conn &&
             (batch_owner == c ? batch_write(c, p, n) : out_write(c, p, n))) {
    /* queued */
  } else {
    emu_log(c->o.ctx, EMU_LOG_DEBUG, "[c4emu] C4LuaTcpClient:Write: %zu bytes dropped: the "
            "connection is %s", n, c->state == CL_OPEN ? "ending" : "closed");
  }
  tcp_sync_alive(&c->o);
  return 1;
}

/* client:Option(name, value [, seconds]) → client, or nil and a message */
static int l_TcpClient_Option(lua_State *L) {
  tcp_client *c = tcp_check_client(L);
  tcp_check_open(L, &c->o, "Option");
  const char *name = c4_check_cstring(L, 2, "option name");
  bool on = tcp_check_flag(L, 3);
  lua_Number secs = luaL_optnumber(L, 4, 0);
  luaL_argcheck(L, secs >= 0 && secs <= 65535, 4, "seconds must be from 0 to 65535");
  if (!tcp_can_read(c)) return tcp_client_fail(L, "Option", "the client is closing");
  if (strcasecmp(name, "nodelay") == 0) {
    c->nodelay = on;
  } else if (strcasecmp(name, "keepalive") == 0) {
    c->keepalive = on;
    c->keepalive_secs = (int)secs;
  } else if (strcasecmp(name, "linger") == 0) {
    c->linger = on;
    c->linger_secs = (int)secs;
  } else {
    lua_pushnil(L);
    lua_pushfstring(L, "C4LuaTcpClient:Option: unknown option '%s' (keepalive, nodelay, "
                    "linger)", name);
    return 2;
  }
  int r = c->state == CL_OPEN ? apply_options(c) : 0;
  if (r != 0) return tcp_client_fail(L, "Option", tcp_errtext(r));
  lua_settop(L, 1);
  return 1;
}

/* client:GetRemoteAddress() → {ip=, port=}, or nil before the connection was up.
 * Still answers after the connection ended (OnDisconnect handlers log it). */
static int l_TcpClient_GetRemoteAddress(lua_State *L) {
  tcp_client *c = tcp_check_client(L);
  if (!c->peer_ip[0]) return tcp_client_fail(L, "GetRemoteAddress", "not connected");
  tcp_push_addr(L, c->peer_ip, c->peer_port);
  return 1;
}

/* client:GetLocalAddress() → {ip=, port=}, or nil before the connection was up */
static int l_TcpClient_GetLocalAddress(lua_State *L) {
  tcp_client *c = tcp_check_client(L);
  if (!c->local_ip[0]) return tcp_client_fail(L, "GetLocalAddress", "not connected");
  tcp_push_addr(L, c->local_ip, c->local_port);
  return 1;
}

/* client:Close([flush]) → client.  flush: send what is queued first.  Then
 * nothing more is read or written and OnWrite is not called; OnDisconnect
 * follows (or OnError ECANCELED for a Connect in progress).  Idempotent. */
static int l_TcpClient_Close(lua_State *L) {
  tcp_client *c = tcp_check_client(L);
  int t = lua_type(L, 2);
  if (t != LUA_TNONE && t != LUA_TNIL && t != LUA_TBOOLEAN && t != LUA_TNUMBER)
    luaL_typerror(L, 2, "boolean");
  bool flush = t == LUA_TNUMBER ? lua_tonumber(L, 2) != 0 : lua_toboolean(L, 2);
  lua_settop(L, 1);
  if (c->o.closed || c->o.dead || c->state == CL_CLOSING || c->state == CL_ENDED) return 1;
  tcp_read_disarm(c);
  switch (c->state) {
  case CL_IDLE:
    pre_free(c);
    c->state = CL_ENDED;
    c->o.closed = true;
    break;
  case CL_CONNECTING:
    tcp_cancel_pending(&c->o);
    if (c->conn) {
      c4_conn_set_data(c->conn, NULL);
      c4_conn_abort(c->conn);
      c->conn = NULL;
    }
    pre_free(c);
    tcp_free_eps(&c->o);
    c->state = CL_CLOSING;
    tcp_kick(&c->o, TCP_KICK_CANCELLED);
    break;
  default: /* CL_OPEN */
    batch_flush(c); /* what was written before Close goes first */
    c->state = CL_CLOSING;
    if (c->conn) {
      /* linger on: 0 s resets the connection; N s sends what is queued first */
      c4_close_mode m = flush || (c->linger == 1 && c->linger_secs > 0) ? C4_CLOSE_FLUSH
                        : c->linger == 1                                ? C4_CLOSE_RESET
                                                                        : C4_CLOSE_NOW;
      c4_conn_close(c->conn, m);
    }
    break;
  }
  tcp_sync_alive(&c->o);
  return 1;
}

static int l_TcpClient_gc(lua_State *L) {
  tcp_box *b = luaL_checkudata(L, 1, TCP_CLIENT_MT);
  if (b->o) tcp_gc(L, b->o);
  return 0;
}

static int l_TcpClient_tostring(lua_State *L) {
  static const char *const names[] = {"idle", "connecting", "connected", "closing", "closed"};
  tcp_box *b = luaL_checkudata(L, 1, TCP_CLIENT_MT);
  tcp_client *c = (tcp_client *)b->o;
  if (!c) lua_pushfstring(L, "C4LuaTcpClient (collected): %p", (void *)b);
  else if (c->o.dead) lua_pushfstring(L, "C4LuaTcpClient (dead): %p", (void *)c);
  else if (c->peer_ip[0])
    lua_pushfstring(L, "C4LuaTcpClient (%s, %s:%d): %p", names[c->state], c->peer_ip,
                    c->peer_port, (void *)c);
  else lua_pushfstring(L, "C4LuaTcpClient (%s): %p", names[c->state], (void *)c);
  return 1;
}

static const luaL_Reg client_methods[] = {
    {"OnResolve", l_TcpClient_OnResolve},
    {"OnConnect", l_TcpClient_OnConnect},
    {"OnRead", l_TcpClient_OnRead},
    {"OnWrite", l_TcpClient_OnWrite},
    {"OnDisconnect", l_TcpClient_OnDisconnect},
    {"OnError", l_TcpClient_OnError},
    {"Option", l_TcpClient_Option},
    {"Connect", l_TcpClient_Connect},
    {"Write", l_TcpClient_Write},
    {"GetRemoteAddress", l_TcpClient_GetRemoteAddress},
    {"GetLocalAddress", l_TcpClient_GetLocalAddress},
    {"Close", l_TcpClient_Close},
    {NULL, NULL},
};

void tcp_client_open(lua_State *L) {
  emu_class_new(L, TCP_CLIENT_MT, NULL, l_TcpClient_gc, l_TcpClient_tostring);
  tcp_bind_methods(L, client_methods);
  tcp_bind_methods(L, tcp_read_methods);
  lua_pushliteral(L, TCP_CLIENT_MT);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
}
