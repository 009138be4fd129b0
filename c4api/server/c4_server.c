/*
 * c4_server.c — the handle-based server family: C4:CreateServer (TCP and
 * UDP), C4:DestroyServer, C4:ServerSend, C4:ServerCloseClient, C4:PortInUse,
 * and the global callbacks OnServerStatusChanged,
 * OnServerConnectionStatusChanged and OnServerDataIn with the argument lists
 * of the chosen OS version (reference §2.1, §2.2, §2.4).
 *
 * Sockets go through c4_conn (TCP, optional TLS for CreateTLSServer) and a
 * uv_udp_t for UDP; payloads through c4_framer.  Handles are opaque integers:
 * a random 31-bit base plus a counter, kept in a hash map handle → client.
 *
 * Choices where DriverWorks documents nothing ([INF], written in the README):
 *   - OnServerStatusChanged(port, "ONLINE") comes from the loop after
 *     CreateServer returns (never from inside the call), and before any
 *     connection of that server is reported.
 *   - DestroyServer closes the accepted connections too (queued data is sent
 *     first); each gets its OFFLINE callback, and once the last one is gone
 *     OnServerStatusChanged(port, "OFFLINE") follows (2.9.0+).
 *   - ServerSend / ServerCloseClient on an unknown or closed handle log a
 *     warning and return nothing.
 *   - A client that closes (EOF) or resets with a partial payload buffered
 *     gets that payload delivered, without its delimiter, before OFFLINE.  A
 *     close asked for by the driver drops the partial payload (logged).
 *   - UDP: every datagram is one OnServerDataIn whatever the delimiter; its
 *     handle is the UDP server's own handle.  ServerSend(handle, data) to
 *     that handle answers the last sender; ServerSend(port, data, address)
 *     (4.0.0) sends from the UDP server that last heard from that address,
 *     else from the first UDP server.
 *   - With 3.3.1 callbacks and no identifier given, the identifier argument
 *     is "".
 *
 * Lifetime: per-driver state is created at the first call of the family and
 * freed once the shutdown hook has closed everything and the last close
 * callback has run.  A server struct lives until its socket is closed, its
 * last client is gone and no status event for it is queued (refs).  After
 * the shutdown hook no Lua is called.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include "net/c4_conn.h"
#include "net/c4_framer.h"
#include "net/c4_limits.h"
#include "server/c4_handle_map.h"
#include "server/c4_server.h"

enum { PROTO_TCP, PROTO_UDP, PROTO_TLS };
static const char *const proto_names[] = {"tcp", "udp", "tls"};

typedef struct srv_state srv_state;
typedef struct server server;
typedef struct client client;

struct client {
  server *s;
  c4_conn *conn;         /* NULL once OFFLINE is under way */
  c4_framer fr;
  uint32_t handle;
  bool closing;          /* the driver (or DestroyServer) closed it */
  client *next, *prev;
  emu_sched *flush_t;    /* the quiet-interval flush of a partial payload, or NULL */
  uint64_t last_rx;      /* emulator clock at the last read that left a partial payload */
  int ip_ref;            /* registry ref of the peer's IP as a Lua string (0: not yet) */
};

struct server {
  srv_state *st;
  server *next, *prev;   /* the driver's live servers, creation order */
  int port, proto;
  char *identifier;
  char *delim;
  size_t dlen;
  c4_listener *lis;
  uv_udp_t *udp;
  uint32_t handle;       /* UDP: the handle datagrams come with */
  int id_ref;            /* registry ref of the identifier argument (0: not yet) */
  struct sockaddr_storage peer; /* UDP: last sender */
  bool has_peer;
  client *clients;
  int nclients;
  int refs;              /* socket open + clients + queued status events */
  bool sock_open, destroyed, online_pending, offline_posted;
};

typedef struct {
  server *s;
  bool online;
} status_ev;

struct srv_state {
  emu_ctx *ctx;
  server *first, *last;
  c4_handle_map handles; /* handle → client */
  uint32_t next_handle;
  uv_timer_t post;       /* delivers the queued status events */
  status_ev *evs;
  size_t nevs, capevs;
  size_t max_payload;
  unsigned handshake_ms; /* TLS servers: handshake deadline (0: c4_conn's default) */
  c4_net_limits *limits; /* the driver's (lives in its registry, longer than this) */
  int dataname_ref;      /* registry ref of the string "OnServerDataIn" */
  int live;              /* servers not freed + the post timer */
  bool shut;
};

/* Registry key of the driver's srv_state (light userdata). */
static const char STATE_KEY = 's';

static const c4_conn_events tcp_events;

/* ---- handles ------------------------------------------------------------- */

static client *map_get(srv_state *st, uint32_t k) { return c4_hmap_get(&st->handles, k); }

/* A fresh handle: unique among live ones, never 0, below 2^31. */
static uint32_t new_handle(srv_state *st) {
  for (;;) {
    uint32_t h = st->next_handle++ & 0x7fffffffu;
    if (h < 0x10000000u) {           /* wrapped: stay "large" */
      st->next_handle = 0x10000000u;
      continue;
    }
    if (!map_get(st, h)) {
      bool udp_clash = false;
      for (server *s = st->first; s; s = s->next) udp_clash |= s->handle == h;
      if (!udp_clash) return h;
    }
  }
}

/* ---- state ----------------------------------------------------------------- */

static void state_maybe_free(srv_state *st) {
  if (!st->shut || st->live > 0) return;
  c4_hmap_free(&st->handles);
  free(st->evs);
  free(st);
}

static void on_post_closed(uv_handle_t *h) {
  srv_state *st = h->data;
  st->live--;
  state_maybe_free(st);
}

static void server_destroy(server *s, bool silent);
static void srv_unref(server *s);

/* Shutdown hook: after OnDriverDestroyed.  Closes every socket without a
 * word to Lua; the state goes with the last close callback. */
static void servers_rows(emu_ctx *ctx, void *data, lua_State *L);
static void connections_rows(emu_ctx *ctx, void *data, lua_State *L);

/* The state last looked up: ServerSend asks for it once per message, and a
 * registry lookup each time showed in the echo profile.  Cleared at shutdown,
 * when the registry entry goes. */
static emu_ctx *last_ctx;
static srv_state *last_st;

static void on_shutdown(emu_ctx *ctx, void *data) {
  srv_state *st = data;
  st->shut = true;
  if (last_st == st) {
    last_ctx = NULL;
    last_st = NULL;
  }
  emu_state_section_remove(ctx, servers_rows, st);
  emu_state_section_remove(ctx, connections_rows, st);
  luaL_unref(ctx->L, LUA_REGISTRYINDEX, st->dataname_ref); /* unused once shut */
  lua_pushlightuserdata(ctx->L, (void *)&STATE_KEY);
  lua_pushnil(ctx->L);
  lua_rawset(ctx->L, LUA_REGISTRYINDEX);
  while (st->first) server_destroy(st->first, true);
  /* Status events not delivered: they will not be now. */
  status_ev *evs = st->evs;
  size_t n = st->nevs;
  st->evs = NULL;
  st->nevs = st->capevs = 0;
  for (size_t i = 0; i < n; i++) srv_unref(evs[i].s);
  free(evs);
  uv_close((uv_handle_t *)&st->post, on_post_closed);
}

static srv_state *state_of(emu_ctx *ctx, bool create) {
  if (ctx == last_ctx && last_st) return last_st;
  lua_State *L = ctx->L;
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  srv_state *st = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (st) {
    last_ctx = ctx;
    last_st = st;
  }
  if (st || !create || ctx->phase == EMU_PHASE_DEAD) return st;
  st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->ctx = ctx;
  uint32_t seed;
  if (uv_random(NULL, NULL, &seed, sizeof seed, 0, NULL) != 0)
    seed = (uint32_t)(uv_hrtime() ^ ((uint64_t)getpid() << 16));
  st->next_handle = 0x10000000u + (seed % 0x60000000u);
  st->max_payload = c4_env_number(ctx, "C4EMU_MAX_PAYLOAD", 1, C4_MAX_PAYLOAD_LIMIT, 0);
  st->limits = c4_net_limits_of(ctx);
  lua_pushliteral(L, "OnServerDataIn");
  st->dataname_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  st->handshake_ms = (unsigned)c4_env_number(ctx, "C4EMU_TLS_HANDSHAKE_MS", 1, 3600000, 0);
  uv_timer_init(ctx->loop, &st->post);
  st->post.data = st;
  st->live = 1;
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_pushlightuserdata(L, st);
  lua_rawset(L, LUA_REGISTRYINDEX);
  emu_on_shutdown(ctx, on_shutdown, st);
  last_ctx = ctx;
  last_st = st;
  emu_state_section_add(ctx, "servers", "port,protocol,identifier,clients", servers_rows, st);
  emu_state_section_add(ctx, "server connections", "handle,port,peer,queued_bytes",
                        connections_rows, st);
  return st;
}

/* issue 17: the web console's State view lists the live servers. */
static void servers_rows(emu_ctx *ctx, void *data, lua_State *L) {
  srv_state *st = data;
  (void)ctx;
  lua_newtable(L);
  int n = 0;
  for (server *s = st->first; s; s = s->next) {
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, s->port);
    lua_setfield(L, -2, "port");
    lua_pushstring(L, proto_names[s->proto]);
    lua_setfield(L, -2, "protocol");
    lua_pushstring(L, s->identifier ? s->identifier : "");
    lua_setfield(L, -2, "identifier");
    lua_pushinteger(L, s->nclients);
    lua_setfield(L, -2, "clients");
    lua_rawseti(L, -2, ++n);
  }
}

/* issue 17: and their open connections (queued: bytes not yet sent). */
static void connections_rows(emu_ctx *ctx, void *data, lua_State *L) {
  srv_state *st = data;
  (void)ctx;
  lua_newtable(L);
  int n = 0;
  for (server *s = st->first; s; s = s->next) {
    for (client *c = s->clients; c; c = c->next) {
      if (!c->conn) continue;
      lua_createtable(L, 0, 4);
      lua_pushnumber(L, (lua_Number)c->handle); /* as the driver sees it */
      lua_setfield(L, -2, "handle");
      lua_pushinteger(L, s->port);
      lua_setfield(L, -2, "port");
      lua_pushfstring(L, "%s:%d", c4_conn_peer_ip(c->conn), c4_conn_peer_port(c->conn));
      lua_setfield(L, -2, "peer");
      lua_pushnumber(L, (lua_Number)c4_conn_queued(c->conn));
      lua_setfield(L, -2, "queued_bytes");
      lua_rawseti(L, -2, ++n);
    }
  }
}

/* ---- calling the driver ------------------------------------------------------ */

/* The identifier argument (3.3.1+): "" when none was given. */
static int push_identifier(emu_ctx *ctx, const server *s) {
  if (!c4_has(ctx, C4F_SERVER_IDENTIFIER)) return 0;
  lua_pushstring(ctx->L, s->identifier ? s->identifier : "");
  return 1;
}

/* OnServerStatusChanged(port, status [, identifier]) — 2.9.0+ */
static void call_status(server *s, const char *status) {
  emu_ctx *ctx = s->st->ctx;
  if (s->st->shut || !c4_has(ctx, C4F_SERVER_STATUS_CB)) return;
  if (!emu_push_global_fn(ctx, "OnServerStatusChanged")) return;
  lua_pushinteger(ctx->L, s->port);
  lua_pushstring(ctx->L, status);
  int n = 2 + push_identifier(ctx, s);
  emu_pcall(ctx, n, 0, "OnServerStatusChanged");
}

/* OnServerConnectionStatusChanged(handle, port, status [, ip] [, identifier]) */
static void call_conn_status(client *cl, const char *ip, const char *status) {
  server *s = cl->s;
  emu_ctx *ctx = s->st->ctx;
  if (s->st->shut || !emu_push_global_fn(ctx, "OnServerConnectionStatusChanged")) return;
  lua_State *L = ctx->L;
  lua_pushnumber(L, cl->handle);
  lua_pushinteger(L, s->port);
  lua_pushstring(L, status);
  int n = 3;
  if (c4_has(ctx, C4F_SERVER_CONN_IP)) {
    lua_pushstring(L, ip);
    n++;
  }
  n += push_identifier(ctx, s);
  emu_pcall(ctx, n, 0, "OnServerConnectionStatusChanged");
}

/* OnServerDataIn(handle, data [, ip, port] [, identifier]) */
static void call_data_in(server *s, uint32_t handle, const char *p, size_t n, const char *ip,
                         int port) {
  emu_ctx *ctx = s->st->ctx;
  if (s->st->shut || !emu_push_global_fn(ctx, "OnServerDataIn")) return;
  lua_State *L = ctx->L;
  lua_pushnumber(L, handle);
  lua_pushlstring(L, p, n);
  int nargs = 2;
  if (c4_has(ctx, C4F_SERVER_DATA_ADDR)) {
    lua_pushstring(L, ip);
    lua_pushinteger(L, port);
    nargs += 2;
  }
  nargs += push_identifier(ctx, s);
  emu_pcall(ctx, nargs, 0, "OnServerDataIn");
}

/*
 * The per-message path of a TCP / TLS connection.  The same call as
 * call_data_in, without re-interning per message what does not change: the
 * callback's name, the peer's IP and the identifier are Lua strings made once
 * (per driver, per connection, per server) and pushed from registry refs.
 */
static void push_ref(lua_State *L, int *ref, const char *text) {
  if (*ref > 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, *ref);
    return;
  }
  lua_pushstring(L, text);
  lua_pushvalue(L, -1);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

static void drop_ref(lua_State *L, int *ref) {
  if (*ref > 0 && L) luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = 0;
}

static void call_client_data(client *cl, const char *p, size_t n) {
  server *s = cl->s;
  emu_ctx *ctx = s->st->ctx;
  lua_State *L = ctx->L;
  if (s->st->shut) return;
  int handler = emu_pcall_begin(ctx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->st->dataname_ref);
  emu_global_at_top(ctx); /* as lua_getglobal (_G's metatable is honoured), never raising */
  if (!lua_isfunction(L, -1)) {
    lua_settop(L, handler - 1);
    return;
  }
  lua_pushnumber(L, cl->handle);
  lua_pushlstring(L, p, n);
  int nargs = 2;
  if (c4_has(ctx, C4F_SERVER_DATA_ADDR)) {
    push_ref(L, &cl->ip_ref, c4_conn_peer_ip(cl->conn));
    lua_pushinteger(L, c4_conn_peer_port(cl->conn));
    nargs += 2;
  }
  if (c4_has(ctx, C4F_SERVER_IDENTIFIER)) {
    push_ref(L, &s->id_ref, s->identifier ? s->identifier : "");
    nargs++;
  }
  emu_pcall_at(ctx, handler, nargs, "OnServerDataIn");
}

/* ---- status events (from the loop, in order) --------------------------------- */

static void srv_unref(server *s);

static void on_post(uv_timer_t *t) {
  srv_state *st = t->data;
  emu_io_activity(st->ctx);
  status_ev *evs = st->evs;
  size_t n = st->nevs;
  st->evs = NULL;
  st->nevs = st->capevs = 0;
  for (size_t i = 0; i < n; i++) {
    server *s = evs[i].s;
    if (evs[i].online) {
      if (s->online_pending) {
        s->online_pending = false;
        call_status(s, "ONLINE");
      }
    } else {
      call_status(s, "OFFLINE");
    }
    srv_unref(s);
  }
  free(evs);
}

static void post_status(server *s, bool online) {
  srv_state *st = s->st;
  if (st->shut) return;
  if (st->nevs == st->capevs) {
    size_t ncap = st->capevs ? st->capevs * 2 : 8;
    status_ev *e = realloc(st->evs, ncap * sizeof *e);
    if (!e) return;
    st->evs = e;
    st->capevs = ncap;
  }
  st->evs[st->nevs++] = (status_ev){s, online};
  s->refs++;
  uv_timer_start(&st->post, on_post, 0, 0);
}

/* ONLINE before the first connection of the server, whatever the loop order. */
static void flush_online(server *s) {
  if (!s->online_pending) return;
  s->online_pending = false;
  call_status(s, "ONLINE");
}

/* ---- servers ---------------------------------------------------------------- */

static void srv_free(server *s) {
  srv_state *st = s->st;
  drop_ref(st->ctx->L, &s->id_ref);
  free(s->identifier);
  free(s->delim);
  free(s);
  st->live--;
  state_maybe_free(st);
}

static void srv_unref(server *s) {
  if (--s->refs == 0) srv_free(s);
}

/* Destroyed, socket closed, last client gone: the server is OFFLINE. */
static void maybe_offline(server *s) {
  if (!s->destroyed || s->sock_open || s->nclients > 0 || s->offline_posted) return;
  s->offline_posted = true;
  if (c4_has(s->st->ctx, C4F_SERVER_STATUS_CB)) post_status(s, false);
}

static void on_udp_closed(uv_handle_t *h) {
  server *s = h->data;
  free(h);
  emu_track(s->st->ctx, "udp-server", -1);
  s->sock_open = false;
  maybe_offline(s);
  srv_unref(s);
}

static void client_free(client *cl) {
  server *s = cl->s;
  srv_state *st = s->st;
  c4_hmap_del(&st->handles, cl->handle);
  if (cl->prev) cl->prev->next = cl->next;
  else s->clients = cl->next;
  if (cl->next) cl->next->prev = cl->prev;
  emu_sched_cancel(st->ctx, cl->flush_t);
  drop_ref(st->ctx->L, &cl->ip_ref);
  c4_framer_free(&cl->fr);
  free(cl);
  s->nclients--;
  maybe_offline(s);
  srv_unref(s);
}

static void server_destroy(server *s, bool silent) {
  if (s->destroyed) return;
  srv_state *st = s->st;
  s->destroyed = true;
  if (s->prev) s->prev->next = s->next;
  else st->first = s->next;
  if (s->next) s->next->prev = s->prev;
  else st->last = s->prev;
  s->next = s->prev = NULL;
  s->refs++; /* hold s while its clients go */
  for (client *cl = s->clients, *next; cl; cl = next) {
    next = cl->next;
    if (silent) {
      if (cl->conn) c4_conn_abort(cl->conn);
      cl->conn = NULL;
      client_free(cl);
    } else if (cl->conn && !cl->closing) {
      /* The partial payload is dropped (the framer is left alone: this may
       * run inside its own callback, which then stops it). */
      cl->closing = true;
      if (c4_framer_pending(&cl->fr))
        emu_log(st->ctx, EMU_LOG_DEBUG, "[c4emu] server %d: %zu bytes of an unfinished payload "
                "from handle %u dropped (server destroyed)", s->port, c4_framer_pending(&cl->fr),
                (unsigned)cl->handle);
      c4_conn_close(cl->conn, C4_CLOSE_FLUSH);
    }
  }
  if (s->lis) {
    c4_listener_close(s->lis);
    s->lis = NULL;
    s->sock_open = false;
    maybe_offline(s);
    srv_unref(s); /* the socket's reference */
  } else if (s->udp) {
    uv_udp_recv_stop(s->udp);
    uv_close((uv_handle_t *)s->udp, on_udp_closed);
    s->udp = NULL;
  }
  srv_unref(s);
}

/* ---- TCP connections ------------------------------------------------------------ */

static bool frame_cb(void *ud, const char *p, size_t n, bool capped) {
  client *cl = ud;
  server *s = cl->s;
  if (capped)
    emu_log(s->st->ctx, EMU_LOG_WARN, "[c4emu] server %d: handle %u sent %zu bytes without the "
            "delimiter; delivered as they are (payload cap)", s->port, (unsigned)cl->handle, n);
  call_client_data(cl, p, n);
  return !cl->closing && cl->conn && c4_conn_is_open(cl->conn);
}

/* A partial payload at the peer's close: delivered, without its delimiter. */
static bool tail_cb(void *ud, const char *p, size_t n, bool capped) {
  client *cl = ud;
  server *s = cl->s;
  (void)capped;
  emu_log(s->st->ctx, EMU_LOG_INFO, "[c4emu] server %d: handle %u closed with %zu bytes of an "
          "unfinished payload; delivered without the delimiter", s->port, (unsigned)cl->handle, n);
  call_data_in(s, cl->handle, p, n, cl->conn ? c4_conn_peer_ip(cl->conn) : "",
               cl->conn ? c4_conn_peer_port(cl->conn) : 0);
  return true;
}

static void ev_open(c4_conn *c) {
  server *s = c4_listener_data(c4_conn_listener(c));
  srv_state *st = s->st;
  client *cl = calloc(1, sizeof *cl);
  if (!cl) {
    c4_conn_abort(c);
    return;
  }
  cl->s = s;
  cl->conn = c;
  cl->handle = new_handle(st);
  if (!c4_hmap_put(&st->handles, cl->handle, cl)) {
    free(cl);
    c4_conn_abort(c);
    return;
  }
  c4_framer_init(&cl->fr, s->delim, s->dlen, st->max_payload);
  cl->next = s->clients;
  if (s->clients) s->clients->prev = cl;
  s->clients = cl;
  s->nclients++;
  s->refs++;
  c4_conn_set_data(c, cl);
  emu_log(st->ctx, EMU_LOG_DEBUG, "[c4emu] server %d: %s:%d connected, handle %u", s->port,
          c4_conn_peer_ip(c), c4_conn_peer_port(c), (unsigned)cl->handle);
  flush_online(s);
  call_conn_status(cl, c4_conn_peer_ip(c), "ONLINE");
}

/* The seed: payloads go "upon receipt of the delimiter ... (or upon
 * timeout)".  A partial payload left alone for the flush interval (on the
 * emulator clock) is delivered as it is, without a delimiter; the next bytes
 * start a new payload.  A device's prompt ("login: ") thus reaches the
 * driver as on a controller. */
static bool quiet_cb(void *ud, const char *p, size_t n, bool capped) {
  client *cl = ud;
  (void)capped;
  emu_log(cl->s->st->ctx, EMU_LOG_DEBUG, "[c4emu] server %d: handle %u quiet with %zu bytes of "
          "an unfinished payload; delivered as they are (flush timeout)", cl->s->port,
          (unsigned)cl->handle, n);
  call_client_data(cl, p, n);
  return true;
}

/* Due: flush if the connection has been quiet for the whole interval since
 * the last read, else wait for the rest of it. */
static void on_flush_due(emu_ctx *ctx, void *data) {
  client *cl = data;
  cl->flush_t = NULL;
  if (cl->closing || !cl->conn || !c4_conn_is_open(cl->conn) || !c4_framer_pending(&cl->fr))
    return;
  uint64_t ms = cl->s->st->limits->flush_ms, due = cl->last_rx + ms;
  if (ms && emu_now(ctx) < due) {
    cl->flush_t = emu_sched_add(ctx, due, on_flush_due, cl);
    return;
  }
  if (ms) c4_framer_flush(&cl->fr, quiet_cb, cl);
}

/* After each read: the quiet interval starts again while a partial payload
 * waits.  The scheduled entry is not moved on every read (that would cost an
 * insertion per read under load): the read's time is noted and the entry,
 * when due, waits for the rest of the interval. */
static void arm_flush(client *cl) {
  srv_state *st = cl->s->st;
  bool waiting = !cl->closing && cl->conn && cl->s->dlen && c4_framer_pending(&cl->fr);
  if (!waiting) {
    if (cl->flush_t) {
      emu_sched_cancel(st->ctx, cl->flush_t);
      cl->flush_t = NULL;
    }
    return;
  }
  uint64_t ms = st->limits->flush_ms;
  if (!ms) return;
  cl->last_rx = emu_now(st->ctx);
  if (!cl->flush_t) cl->flush_t = emu_sched_add(st->ctx, cl->last_rx + ms, on_flush_due, cl);
}

static void ev_data(c4_conn *c, const char *p, size_t n) {
  client *cl = c4_conn_data(c);
  if (!cl) return;
  if (n == 0) { /* the peer finished sending: hand over what is left, then it closes */
    if (!cl->closing) c4_framer_flush(&cl->fr, tail_cb, cl);
    return;
  }
  if (cl->closing) return;
  if (c4_framer_push(&cl->fr, p, n, frame_cb, cl) || cl->flush_t) arm_flush(cl);
}

static void ev_closed(c4_conn *c, int status, const char *msg) {
  client *cl = c4_conn_data(c);
  if (!cl) return;
  server *s = cl->s;
  bool by_peer = !cl->closing;
  cl->closing = true; /* ServerSend from here on: "closed" */
  if (by_peer && c4_framer_pending(&cl->fr)) c4_framer_flush(&cl->fr, tail_cb, cl);
  char ip[46];
  snprintf(ip, sizeof ip, "%s", c4_conn_peer_ip(c));
  if (status == 0)
    emu_log(s->st->ctx, EMU_LOG_DEBUG, "[c4emu] server %d: handle %u (%s) closed", s->port,
            (unsigned)cl->handle, ip);
  else
    emu_log(s->st->ctx, EMU_LOG_DEBUG, "[c4emu] server %d: handle %u (%s) lost: %s", s->port,
            (unsigned)cl->handle, ip, msg ? msg : uv_strerror(status));
  cl->conn = NULL;
  call_conn_status(cl, ip, "OFFLINE");
  client_free(cl);
}

static void ev_rejected(c4_listener *l, const char *ip, int port, const char *msg) {
  server *s = c4_listener_data(l);
  emu_log(s->st->ctx, EMU_LOG_WARN, "[c4emu] server %d: connection from %s:%d refused: %s",
          s->port, ip, port, msg);
}

static const c4_conn_events tcp_events = {
    .open = ev_open,
    .data = ev_data,
    .closed = ev_closed,
    .rejected = ev_rejected,
};

/* ---- UDP ---------------------------------------------------------------------- */

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  server *s = h->data;
  emu_ctx *ctx = s->st->ctx;
  if (nread < 0) {
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] UDP server %d: %s", s->port, uv_strerror((int)nread));
  } else if (addr && !s->destroyed) {
    emu_io_activity(ctx);
    if (flags & UV_UDP_PARTIAL)
      emu_log(ctx, EMU_LOG_WARN, "[c4emu] UDP server %d: datagram truncated to %zd bytes",
              s->port, nread);
    memcpy(&s->peer, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                         : sizeof(struct sockaddr_in));
    s->has_peer = true;
    char ip[64];
    int port;
    c4_sockaddr_text(addr, ip, sizeof ip, &port);
    call_data_in(s, s->handle, buf->base, (size_t)nread, ip, port);
  }
  c4_conn_release_buf(buf);
}

typedef struct {
  uv_udp_send_t req;
  char data[];
} udp_req;

static void on_udp_sent(uv_udp_send_t *req, int status) {
  (void)status;
  free(req);
}

static void udp_send(server *s, const struct sockaddr *to, const char *p, size_t n) {
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
  int r = uv_udp_try_send(s->udp, &b, 1, to);
  if (r >= 0) return;
  if (r == UV_EAGAIN) {
    udp_req *q = malloc(sizeof *q + n);
    if (!q) return;
    memcpy(q->data, p, n);
    b = uv_buf_init(q->data, (unsigned)n);
    if ((r = uv_udp_send(&q->req, s->udp, &b, 1, to, on_udp_sent)) == 0) return;
    free(q);
  }
  emu_log(s->st->ctx, EMU_LOG_WARN, "[c4emu] UDP server %d: send failed: %s", s->port,
          uv_strerror(r));
}

static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr *b) {
  if (a->ss_family != b->sa_family) return false;
  if (b->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
  return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* ---- creating -------------------------------------------------------------------- */

static void free_handle(uv_handle_t *h) { free(h); }

static server *server_new(srv_state *st, int proto, const char *delim, size_t dlen,
                          const char *identifier) {
  server *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->st = st;
  s->proto = proto;
  if (delim && dlen && proto != PROTO_UDP) {
    s->delim = malloc(dlen);
    if (!s->delim) {
      free(s);
      return NULL;
    }
    memcpy(s->delim, delim, dlen);
    s->dlen = dlen;
  }
  s->identifier = identifier ? strdup(identifier) : NULL;
  return s;
}

static void server_link(srv_state *st, server *s) {
  s->prev = st->last;
  if (st->last) st->last->next = s;
  else st->first = s;
  st->last = s;
  st->live++;
  s->refs = 1; /* the socket */
  s->sock_open = true;
  s->online_pending = true;
  post_status(s, true);
}

static int push_failure(lua_State *L, emu_ctx *ctx, const char *api, int port, bool udp,
                        int err) {
  const char *why = err == UV_EADDRINUSE ? "port already in use"
                    : err == UV_EACCES   ? "permission denied"
                                         : uv_strerror(err);
  lua_pushboolean(L, 0);
  lua_pushfstring(L, "cannot listen on %s port %d (%s): %s (%s)", udp ? "UDP" : "TCP", port,
                  ctx->bind_addr, why, uv_err_name(err));
  emu_log(ctx, EMU_LOG_WARN, "[c4emu] %s: %s", api, lua_tostring(L, -1));
  return 2;
}

int c4_server_create(lua_State *L, int port, const char *delim, size_t dlen, bool udp,
                     SSL_CTX *tls, const char *identifier) {
  emu_ctx *ctx = emu_ctx_of(L);
  const char *api = tls ? "CreateTLSServer" : "CreateServer"; /* for messages */
  srv_state *st = state_of(ctx, true);
  if (!st) return luaL_error(L, "%s: the driver is being destroyed", api);
  server *s = server_new(st, udp ? PROTO_UDP : tls ? PROTO_TLS : PROTO_TCP, delim, dlen,
                         identifier);
  if (!s) return luaL_error(L, "%s: out of memory", api);
  int err;
  if (!udp) {
    c4_conn_opts o = {.loop = ctx->loop, .ctx = ctx, .listener_kind = tls ? "tls-server" : "tcp-server",
                      .conn_kind = tls ? "tls-conn" : "tcp-conn", .tls = tls, .ev = &tcp_events,
                      .data = s, .handshake_ms = st->handshake_ms};
    s->lis = c4_listen(&o, ctx->bind_addr, port, 0, &err);
    if (!s->lis) {
      free(s->delim);
      free(s->identifier);
      free(s);
      return push_failure(L, ctx, api, port, false, err);
    }
    s->port = c4_listener_port(s->lis);
  } else {
    struct sockaddr_storage ss;
    s->udp = malloc(sizeof *s->udp);
    err = s->udp ? c4_sockaddr_parse(ctx->bind_addr, port, &ss) : UV_ENOMEM;
    if (err == 0) err = uv_udp_init(ctx->loop, s->udp);
    if (err != 0) {
      free(s->udp);
    } else {
      s->udp->data = s;
      err = uv_udp_bind(s->udp, (struct sockaddr *)&ss, 0);
      struct sockaddr_storage bound;
      int len = sizeof bound;
      if (err == 0) err = uv_udp_getsockname(s->udp, (struct sockaddr *)&bound, &len);
      if (err == 0) err = uv_udp_recv_start(s->udp, c4_conn_alloc, on_udp_recv);
      if (err == 0) {
        char ip[64];
        c4_sockaddr_text((struct sockaddr *)&bound, ip, sizeof ip, &s->port);
      } else {
        uv_close((uv_handle_t *)s->udp, free_handle);
      }
    }
    if (err != 0) {
      free(s->identifier);
      free(s);
      return push_failure(L, ctx, api, port, true, err);
    }
    emu_track(ctx, "udp-server", +1);
    s->handle = new_handle(st);
  }
  server_link(st, s);
  emu_log(ctx, EMU_LOG_DEBUG, "[c4emu] %s: %s server on %s port %d%s%s", api,
          proto_names[s->proto], ctx->bind_addr, s->port, identifier ? ", identifier " : "",
          identifier ? identifier : "");
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- the C4 methods ---------------------------------------------------------------- */

/* Before 3.3.1 CreateServer returns nothing: does the calling line use a
 * result?  Looked up in the driver's own source (lua_getinfo gives the file
 * and line); the call counts as used when what precedes it on the line ends
 * in '=', '(', ',', '{', or the keywords return / if / not / and / or /
 * elseif / while / until.  A heuristic: a note, never an error. */
static void note_result_use(lua_State *L, emu_ctx *ctx) {
  lua_Debug ar;
  if (!lua_getstack(L, 1, &ar) || !lua_getinfo(L, "Sl", &ar) || ar.source[0] != '@' ||
      ar.currentline <= 0)
    return;
  char path[1024], err[256];
  if (emu_resolve_driver_path(ctx, ar.source + 1, path, sizeof path, err, sizeof err) != 0) return;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[1024];
  int n = 0;
  bool found = false;
  while (fgets(line, sizeof line, f))
    if (++n == ar.currentline) {
      found = true;
      break;
    }
  fclose(f);
  if (!found) return;
  char *at = strstr(line, "CreateServer");
  if (!at || at - line < 3 || strncmp(at - 3, "C4:", 3) != 0) return;
  at -= 3;
  while (at > line && (at[-1] == ' ' || at[-1] == '\t')) at--;
  static const char *const words[] = {"return", "if", "not", "and", "or", "elseif", "while",
                                      "until"};
  bool used = at > line && strchr("=(,{", at[-1]);
  for (size_t i = 0; !used && i < sizeof words / sizeof words[0]; i++) {
    size_t k = strlen(words[i]);
    used = (size_t)(at - line) >= k && strncmp(at - k, words[i], k) == 0 &&
           (at - line == (ptrdiff_t)k || !(isalnum((unsigned char)at[-k - 1]) || at[-k - 1] == '_'));
  }
  if (!used) return;
  char v[16];
  emu_note(ctx, EMU_NOTE_MISSING_API, "%s:%d uses the result of C4:CreateServer, which returns "
           "nothing on OS %s (true / false, message from OS 3.3.1)", ar.source + 1,
           ar.currentline, c4_osver_format(ctx->os, v, sizeof v));
}

/* C4:CreateServer(port [, delimiter] [, useUDP] [, identifier]) → true | false, msg
 * (3.3.1+; nothing before) */
static int l_CreateServer(lua_State *L) {
  int port = c4_check_port(L, 2);
  size_t dlen;
  const char *delim = c4_opt_string(L, 3, &dlen);
  bool udp = false;
  if (!lua_isnoneornil(L, 4)) {
    if (!lua_isboolean(L, 4)) luaL_typerror(L, 4, "boolean");
    udp = lua_toboolean(L, 4);
  }
  const char *identifier = c4_opt_cstring(L, 5, "identifier");
  int top = lua_gettop(L);
  int n = c4_server_create(L, port, delim, dlen, udp, NULL, identifier);
  emu_ctx *ctx = emu_ctx_of(L);
  if (c4_has(ctx, C4F_SERVER_CREATE_RESULT)) return n;
  lua_settop(L, top);
  note_result_use(L, ctx);
  return 0;
}

/* C4:DestroyServer([port]) — no port: every server of the driver */
static int l_DestroyServer(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  bool all = lua_isnoneornil(L, 2);
  int port = all ? 0 : c4_check_port(L, 2);
  srv_state *st = state_of(ctx, false);
  int n = 0;
  for (server *s = st ? st->first : NULL, *next; s; s = next) {
    next = s->next;
    if (all || s->port == port) {
      emu_log(ctx, EMU_LOG_DEBUG, "[c4emu] DestroyServer: %s server on port %d (%d client%s)",
              proto_names[s->proto], s->port, s->nclients, s->nclients == 1 ? "" : "s");
      server_destroy(s, false);
      n++;
    }
  }
  if (n == 0 && !all) emu_log(ctx, EMU_LOG_WARN, "[c4emu] DestroyServer(%d): no server on that port", port);
  return 0;
}

static server *udp_by_handle(srv_state *st, uint32_t h) {
  for (server *s = st->first; s; s = s->next)
    if (s->proto == PROTO_UDP && s->handle == h) return s;
  return NULL;
}

/* Looks a handle argument up; logs and returns NULL when it names nothing open. */
static client *client_arg(lua_State *L, srv_state *st, const char *api, lua_Number hn,
                          server **udp) {
  uint32_t h = (hn >= 1 && hn < 4294967296.0 && hn == (lua_Number)(uint32_t)hn) ? (uint32_t)hn : 0;
  client *cl = st && h ? map_get(st, h) : NULL;
  if (cl && cl->conn && !cl->closing && c4_conn_is_open(cl->conn)) return cl;
  if (!cl && udp && st && h && (*udp = udp_by_handle(st, h))) return NULL;
  emu_log(emu_ctx_of(L), EMU_LOG_WARN, "[c4emu] %s: handle %.14g is %s; ignored", api, hn,
          cl ? "closed" : "not a connection of this driver");
  return NULL;
}

/* C4:ServerSend(handle, data) or, for UDP on 4.0.0+, C4:ServerSend(port, data, address) */
static int l_ServerSend(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  lua_Number hn = luaL_checknumber(L, 2);
  size_t n;
  const char *data = luaL_checklstring(L, 3, &n);
  srv_state *st = state_of(ctx, false);
  if (!lua_isnoneornil(L, 4) && c4_has(ctx, C4F_SERVER_UDP_ADDRESS)) {
    const char *addr = c4_check_cstring(L, 4, "address");
    int port = c4_check_port(L, 2);
    struct sockaddr_storage to;
    if (c4_sockaddr_parse(addr, port, &to) != 0) {
      emu_log(ctx, EMU_LOG_WARN, "[c4emu] ServerSend: '%s' is not an IP address; ignored", addr);
      return 0;
    }
    server *from = NULL;
    for (server *s = st ? st->first : NULL; s; s = s->next) {
      if (s->proto != PROTO_UDP) continue;
      if (s->has_peer && same_peer(&s->peer, (struct sockaddr *)&to)) {
        from = s;
        break;
      }
      if (!from) from = s;
    }
    if (!from) {
      emu_log(ctx, EMU_LOG_WARN, "[c4emu] ServerSend(%d, data, '%s'): the driver has no UDP "
              "server; ignored", port, addr);
      return 0;
    }
    udp_send(from, (struct sockaddr *)&to, data, n);
    return 0;
  }
  server *udp = NULL;
  client *cl = client_arg(L, st, "ServerSend", hn, &udp);
  if (udp) {
    if (udp->has_peer) udp_send(udp, (struct sockaddr *)&udp->peer, data, n);
    else emu_log(ctx, EMU_LOG_WARN, "[c4emu] ServerSend: UDP server %d has no sender to answer yet",
                 udp->port);
    return 0;
  }
  if (!cl) return 0;
  int r = c4_conn_write(cl->conn, data, n);
  if (r < 0)
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] ServerSend: handle %u: %s", (unsigned)cl->handle,
            uv_strerror(r));
  return 0;
}

/* C4:ServerCloseClient(handle) — sends what is queued, then closes */
static int l_ServerCloseClient(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  lua_Number hn = luaL_checknumber(L, 2);
  srv_state *st = state_of(ctx, false);
  client *cl = client_arg(L, st, "ServerCloseClient", hn, NULL);
  if (!cl) return 0;
  cl->closing = true;
  if (c4_framer_pending(&cl->fr))
    emu_log(ctx, EMU_LOG_DEBUG, "[c4emu] ServerCloseClient: %zu bytes of an unfinished payload "
            "from handle %u dropped", c4_framer_pending(&cl->fr), (unsigned)cl->handle);
  c4_conn_close(cl->conn, C4_CLOSE_FLUSH); /* the partial payload is dropped with the client */
  return 0;
}

/* C4:PortInUse(port) → boolean: could a server listen on it right now? (racy) */
static int l_PortInUse(lua_State *L) {
  int port = c4_check_port(L, 2);
  if (port == 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { /* out of descriptors, say: a runtime failure, not the driver's mistake */
    emu_log(emu_ctx_of(L), EMU_LOG_WARN, "[c4emu] PortInUse(%d): cannot tell (socket: %s); "
            "answering true", port, strerror(errno));
    lua_pushboolean(L, 1);
    return 1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as listeners do */
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_ANY)};
  bool used = bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0;
  close(fd);
  lua_pushboolean(L, used);
  return 1;
}

static const c4_fn server_fns[] = {
    {"CreateServer", l_CreateServer},
    {"DestroyServer", l_DestroyServer},
    {"ServerSend", l_ServerSend},
    {"ServerCloseClient", l_ServerCloseClient},
    {"PortInUse", l_PortInUse},
    {NULL, NULL},
};

/* The driver's globals this family calls (CreateTLSServer's servers too). */
static const char *const server_callbacks[] = {
    "OnServerStatusChanged",
    "OnServerConnectionStatusChanged",
    "OnServerDataIn",
    NULL,
};

const c4_family c4_family_server = {"server", server_fns, NULL, server_callbacks};

/* ---- for the spec module --------------------------------------------------------- */

void c4_server_each(emu_ctx *ctx, void (*fn)(const c4_server_info *s, void *ud), void *ud) {
  if (ctx->phase == EMU_PHASE_DEAD || !ctx->L) return;
  srv_state *st = state_of(ctx, false);
  for (server *s = st ? st->first : NULL; s; s = s->next) {
    c4_server_info i = {s->port, proto_names[s->proto], s->identifier, s->nclients, 0, 0};
    for (client *cl = s->clients; cl; cl = cl->next) {
      i.queued += c4_conn_queued(cl->conn);
      i.pending += c4_framer_pending(&cl->fr);
    }
    fn(&i, ud);
  }
}

size_t c4_server_set_max_payload(emu_ctx *ctx, size_t bytes) {
  srv_state *st = state_of(ctx, true);
  if (!st) return 0;
  size_t old = st->max_payload ? st->max_payload : C4_FRAMER_DEFAULT_LIMIT;
  st->max_payload = bytes;
  return old;
}

unsigned c4_server_set_handshake_timeout(emu_ctx *ctx, unsigned ms) {
  srv_state *st = state_of(ctx, true);
  if (!st) return 0;
  unsigned old = st->handshake_ms ? st->handshake_ms : C4_CONN_HANDSHAKE_MS;
  st->handshake_ms = ms;
  return old;
}
