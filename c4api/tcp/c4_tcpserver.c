/*
 * c4_tcpserver.c — C4LuaTcpServer, what C4:CreateTCPServer() returns
 * (reference §3): chaining setters OnResolve / OnListen / OnAccept /
 * OnError / Option, Listen(host, service [, backlog]), GetLocalAddress(),
 * Close().
 *
 * Listen resolves host:service with uv_getaddrinfo (c4_tcp.c), lets
 * OnResolve choose the endpoint, then binds and listens through c4_conn;
 * every outcome is reported from the loop: OnListen(server, endpoint) or
 * OnError(server, code, msg, op) with op "resolve" or "listen".
 *
 * Lifetime (the seed): from Listen until OnListen or OnError has run the
 * server holds a reference to itself; after that only the driver's
 * references keep it, and when Lua collects it, it stops listening.
 * Accepted connections belong to nobody but the driver: closing or
 * collecting the server never touches them (c4_conn keeps the listener's
 * memory for as long as they live).
 *
 * Host names for Listen: "*", "!all", "!any" (and "", "0.0.0.0", "::")
 * mean every interface, which in c4emu is the bind address (--bind; specs
 * use 127.0.0.1, so nothing listens beyond loopback during tests);
 * "!local" / "!loopback" resolve the loopback addresses.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tcp/c4_tcp.h"

typedef struct {
  tcp_obj o;              /* first: a tcp_obj * is a tcp_server * */
  c4_listener *lis;       /* while listening */
  char ip[64];            /* the address listened on */
  int backlog;
  bool reuseaddr;         /* recorded: libuv always sets SO_REUSEADDR on Unix listeners */
  bool linger_on;         /* given to every accepted connection */
  int linger_secs;
} tcp_server;

static tcp_server *check_server(lua_State *L) {
  return (tcp_server *)tcp_check(L, TCP_SERVER_MT);
}

/* ---- outcomes ------------------------------------------------------------------ */

static void srv_failed(tcp_obj *o, int uverr, const char *op) {
  const char *text = tcp_errtext(uverr);
  bool handled = tcp_has_handler(o, "OnError");
  emu_log(o->ctx, handled ? EMU_LOG_DEBUG : EMU_LOG_WARN,
          "[c4emu] C4LuaTcpServer: %s failed: %s (%d)%s", op, text, tcp_errcode(uverr),
          handled ? "" : "; the server has no OnError handler");
  tcp_arg a[3] = {{.t = 'n', .n = tcp_errcode(uverr)},
                  {.t = 's', .s = text, .len = strlen(text)},
                  {.t = 's', .s = op, .len = strlen(op)}};
  tcp_call(o, "OnError", a, 3, 0);
}

/* An endpoint was chosen: bind and listen now, then OnListen. */
static void srv_proceed(tcp_obj *o) {
  tcp_server *s = (tcp_server *)o;
  char ip[64];
  int port;
  c4_sockaddr_text((struct sockaddr *)&o->eps[o->choice - 1], ip, sizeof ip, &port);
  tcp_free_eps(o);
  c4_conn_opts opts = {.loop = o->ctx->loop, .ctx = o->ctx, .listener_kind = TCP_TRACK_SERVER,
                       .conn_kind = TCP_TRACK_CLIENT, .ev = &tcp_client_events, .data = s};
  int err;
  s->lis = c4_listen(&opts, ip, port, s->backlog, &err);
  if (!s->lis) {
    srv_failed(o, err, "listen");
    return;
  }
  snprintf(s->ip, sizeof s->ip, "%s", ip);
  emu_log(o->ctx, EMU_LOG_DEBUG, "[c4emu] C4LuaTcpServer: now listening, %s port %d", ip,
          c4_listener_port(s->lis));
  tcp_arg a = {.t = 'e', .s = ip, .n = port};
  tcp_call(o, "OnListen", &a, 1, 0);
}

static void srv_kicked(tcp_obj *o, unsigned flags) {
  if (flags & TCP_KICK_CANCELLED) srv_failed(o, UV_ECANCELED, "listen");
}

static bool srv_want_alive(tcp_obj *o) {
  (void)o;
  return false; /* only while a Listen is pending or work is queued (c4_tcp.c) */
}

static void srv_shutdown(tcp_obj *o) {
  tcp_server *s = (tcp_server *)o;
  c4_listener_close(s->lis);
  s->lis = NULL;
}

static void srv_release(tcp_obj *o) { free(o); }

/* issue 17: the address listened on, for the web console. */
static void srv_describe(tcp_obj *o, lua_State *L) {
  tcp_server *s = (tcp_server *)o;
  if (!s->lis) return;
  lua_pushliteral(L, "listening");
  lua_setfield(L, -2, "state");
  lua_pushfstring(L, "%s:%d", s->ip, c4_listener_port(s->lis));
  lua_setfield(L, -2, "address");
}

static const tcp_ops server_ops = {
    .mt = TCP_SERVER_MT,
    .want_alive = srv_want_alive,
    .proceed = srv_proceed,
    .failed = srv_failed,
    .kicked = srv_kicked,
    .shutdown = srv_shutdown,
    .release = srv_release,
    .describe = srv_describe,
};

void tcp_server_accept_opts(tcp_obj *o, bool *linger_on, int *linger_secs) {
  tcp_server *s = (tcp_server *)o;
  *linger_on = s->linger_on;
  *linger_secs = s->linger_secs;
}

/* ---- methods ------------------------------------------------------------------- */

int tcp_server_create(lua_State *L, tcp_state *st) {
  tcp_box *b = tcp_newud(L, st, TCP_SERVER_MT);
  tcp_server *s = calloc(1, sizeof *s);
  if (!s) return luaL_error(L, "C4:CreateTCPServer: out of memory");
  tcp_link(st, b, &s->o, &server_ops);
  return 1;
}

/* server:OnResolve(fn(server, endpoints, choose)) → server */
static int l_TcpServer_OnResolve(lua_State *L) {
  return tcp_set_handler(L, &check_server(L)->o, "OnResolve");
}

/* server:OnListen(fn(server, endpoint)) → server */
static int l_TcpServer_OnListen(lua_State *L) {
  return tcp_set_handler(L, &check_server(L)->o, "OnListen");
}

/* server:OnAccept(fn(server, client)) → server */
static int l_TcpServer_OnAccept(lua_State *L) {
  return tcp_set_handler(L, &check_server(L)->o, "OnAccept");
}

/* server:OnError(fn(server, code, msg, op)) → server */
static int l_TcpServer_OnError(lua_State *L) {
  return tcp_set_handler(L, &check_server(L)->o, "OnError");
}

/* server:Option(name, value [, seconds]) → server, or nil and a message */
static int l_TcpServer_Option(lua_State *L) {
  tcp_server *s = check_server(L);
  tcp_check_open(L, &s->o, "Option");
  const char *name = c4_check_cstring(L, 2, "option name");
  bool on = tcp_check_flag(L, 3);
  lua_Number secs = luaL_optnumber(L, 4, 0);
  luaL_argcheck(L, secs >= 0 && secs <= 65535, 4, "seconds must be from 0 to 65535");
  if (strcasecmp(name, "reuseaddr") == 0) {
    s->reuseaddr = on;
  } else if (strcasecmp(name, "linger") == 0) {
    s->linger_on = on;
    s->linger_secs = (int)secs;
  } else {
    lua_pushnil(L);
    lua_pushfstring(L, "C4LuaTcpServer:Option: unknown option '%s' (reuseaddr, linger)", name);
    return 2;
  }
  lua_settop(L, 1);
  return 1;
}

static bool is_any(const char *h) {
  return h[0] == '\0' || strcmp(h, "*") == 0 || strcasecmp(h, "!all") == 0 ||
         strcasecmp(h, "!any") == 0 || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
}

static bool is_loopback_name(const char *h) {
  return strcasecmp(h, "!local") == 0 || strcasecmp(h, "!loopback") == 0;
}

/* server:Listen(host, service [, backlog]) → server, or nil and a message */
static int l_TcpServer_Listen(lua_State *L) {
  tcp_server *s = check_server(L);
  tcp_check_open(L, &s->o, "Listen");
  const char *host = c4_check_cstring(L, 2, "host");
  char buf[16];
  bool numeric;
  const char *service = tcp_check_service(L, 3, buf, sizeof buf, &numeric);
  lua_Number backlog = luaL_optnumber(L, 4, 0);
  luaL_argcheck(L, backlog >= 0 && backlog <= 65535, 4, "backlog must be from 0 to 65535");
  c4_rule_check(L, "C4LuaTcpServer:Listen");
  if (s->o.pending || s->lis) {
    lua_pushnil(L);
    lua_pushstring(L, s->lis ? "C4LuaTcpServer:Listen: the server is already listening"
                             : "C4LuaTcpServer:Listen: a Listen is already in progress");
    return 2;
  }
  const char *node = host;
  bool passive = false;
  if (is_any(host)) {
    const char *bind = s->o.ctx->bind_addr;
    if (!bind || strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0) {
      node = NULL;
      passive = true;
    } else {
      node = bind;
    }
  } else if (is_loopback_name(host)) {
    node = NULL;
  }
  s->backlog = (int)backlog;
  int r = tcp_resolve_start(&s->o, node, service, numeric, passive);
  if (r != 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "C4LuaTcpServer:Listen: %s", tcp_errtext(r));
    return 2;
  }
  lua_settop(L, 1);
  return 1;
}

/* server:GetLocalAddress() → {ip=, port=}, or nil when not listening */
static int l_TcpServer_GetLocalAddress(lua_State *L) {
  tcp_server *s = check_server(L);
  tcp_check_open(L, &s->o, "GetLocalAddress");
  if (!s->lis) {
    lua_pushnil(L);
    lua_pushliteral(L, "C4LuaTcpServer:GetLocalAddress: the server is not listening");
    return 2;
  }
  tcp_push_addr(L, s->ip, c4_listener_port(s->lis));
  return 1;
}

/* server:Close() → server.  Stops listening, or cancels a pending Listen
 * (OnError follows, code ECANCELED).  Accepted clients stay.  Idempotent. */
static int l_TcpServer_Close(lua_State *L) {
  tcp_server *s = check_server(L);
  lua_settop(L, 1);
  if (s->o.closed || s->o.dead) return 1;
  bool was_pending = s->o.pending;
  tcp_cancel_pending(&s->o);
  c4_listener_close(s->lis);
  s->lis = NULL;
  s->o.closed = true;
  if (was_pending) tcp_kick(&s->o, TCP_KICK_CANCELLED);
  tcp_sync_alive(&s->o);
  return 1;
}

static int l_TcpServer_gc(lua_State *L) {
  tcp_box *b = luaL_checkudata(L, 1, TCP_SERVER_MT);
  if (b->o) tcp_gc(L, b->o);
  return 0;
}

static int l_TcpServer_tostring(lua_State *L) {
  tcp_box *b = luaL_checkudata(L, 1, TCP_SERVER_MT);
  tcp_server *s = (tcp_server *)b->o;
  if (!s) lua_pushfstring(L, "C4LuaTcpServer (collected): %p", (void *)b);
  else if (s->o.dead) lua_pushfstring(L, "C4LuaTcpServer (dead): %p", (void *)s);
  else if (s->o.closed) lua_pushfstring(L, "C4LuaTcpServer (closed): %p", (void *)s);
  else if (s->lis)
    lua_pushfstring(L, "C4LuaTcpServer (listening on %s:%d): %p", s->ip,
                    c4_listener_port(s->lis), (void *)s);
  else if (s->o.pending) lua_pushfstring(L, "C4LuaTcpServer (resolving): %p", (void *)s);
  else lua_pushfstring(L, "C4LuaTcpServer (idle): %p", (void *)s);
  return 1;
}

static const luaL_Reg server_methods[] = {
    {"OnResolve", l_TcpServer_OnResolve},
    {"OnListen", l_TcpServer_OnListen},
    {"OnAccept", l_TcpServer_OnAccept},
    {"OnError", l_TcpServer_OnError},
    {"Option", l_TcpServer_Option},
    {"Listen", l_TcpServer_Listen},
    {"GetLocalAddress", l_TcpServer_GetLocalAddress},
    {"Close", l_TcpServer_Close},
    {NULL, NULL},
};

void tcp_server_open(lua_State *L) {
  emu_class_new(L, TCP_SERVER_MT, NULL, l_TcpServer_gc, l_TcpServer_tostring);
  tcp_bind_methods(L, server_methods);
  lua_pushliteral(L, TCP_SERVER_MT);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
}
