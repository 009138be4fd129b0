/*
 * c4_tcp.c — the object-style TCP family: C4:CreateTCPServer and
 * C4:CreateTCPClient, and what C4LuaTcpServer (c4_tcpserver.c) and
 * C4LuaTcpClient (c4_tcpclient.c) share: the per-driver state, the userdata
 * boxes, the deferred-work queue, the one path that calls the driver, and
 * resolving and choosing an endpoint for Listen / Connect.
 *
 * Lifetime rules are in c4_tcp.h.  Per driver: one tcp_state, made when the
 * C4 table is built and torn down by the shutdown hook, which closes every
 * socket and resolver without events; the state's memory goes in the close
 * callback of its idle handle (the deferred-work queue).
 *
 * Choosing an endpoint (reference §3, OnResolve): the handler may return an
 * index, or call choose([index]) now or later; with no index the first
 * endpoint is used.  "Later" is told apart from "no index" by whether the
 * driver kept choose(): when OnResolve returns without deciding, a full
 * garbage collection runs (protected); if the choose function was collected
 * nobody can call it any more and the first endpoint is used at once,
 * otherwise the Listen / Connect waits for the call (or for choose() to be
 * collected later, which also picks the first endpoint).
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "tcp/c4_tcp.h"

#define TOKEN_MT "c4emu.tcp.choose"

struct tcp_state {
  emu_ctx *ctx;
  tcp_obj *objs;                  /* every native object of the driver */
  tcp_obj *kick_head, *kick_tail; /* deferred work, in order */
  uv_idle_t idle;                 /* runs the deferred work */
  bool idle_init;
  int weak_ref;                   /* box (light userdata) → userdata, weak values */
  int tramp_ref;                  /* l_trampoline */
  int gc_ref;                     /* l_fullgc */
};

/* The choose() function's upvalue: tells the object when it is collected. */
struct tcp_token {
  tcp_obj *o;
};

/* Registry key of the driver's tcp_state (a light userdata). */
static const char STATE_KEY = 't';

tcp_state *tcp_state_of(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  tcp_state *st = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!st) luaL_error(L, "TCP objects are gone: the driver has been destroyed");
  return st;
}

/* ---- objects ------------------------------------------------------------------ */

tcp_box *tcp_newud(lua_State *L, tcp_state *st, const char *mt) {
  tcp_box *b = lua_newuserdata(L, sizeof *b);
  b->o = NULL;
  luaL_getmetatable(L, mt);
  lua_setmetatable(L, -2);
  lua_newtable(L); /* the handlers */
  lua_setfenv(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->weak_ref);
  lua_pushlightuserdata(L, b);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return b;
}

void tcp_link(tcp_state *st, tcp_box *b, tcp_obj *o, const tcp_ops *ops) {
  o->ops = ops;
  o->ctx = st->ctx;
  o->st = st;
  o->box = b;
  o->self_ref = LUA_NOREF;
  o->choice = TCP_UNDECIDED;
  o->next = st->objs;
  if (st->objs) st->objs->prev = o;
  st->objs = o;
  b->o = o;
}

/*
 * The methods of a type carry its metatable as upvalue 1 (tcp_bind_methods),
 * so tcp_check compares metatables without luaL_checkudata's lookup of the
 * type name in the registry: that lookup (interning the name each time) was
 * a tenth of the C4LuaTcpClient echo's instructions, twice per message.  A
 * caller without the upvalue, or a value of another type, takes the full
 * check and its error message.
 */
void tcp_bind_methods(lua_State *L, const luaL_Reg *methods) {
  int mt = lua_gettop(L);
  lua_getfield(L, mt, "__index");
  for (const luaL_Reg *m = methods; m->name; m++) {
    lua_pushvalue(L, mt);
    lua_pushcclosure(L, m->func, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}

tcp_obj *tcp_check(lua_State *L, const char *mt) {
  tcp_box *b = NULL;
  if (lua_getmetatable(L, 1)) {
    if (lua_rawequal(L, -1, lua_upvalueindex(1))) b = lua_touserdata(L, 1);
    lua_pop(L, 1);
  }
  if (!b) b = luaL_checkudata(L, 1, mt);
  if (!b->o) luaL_error(L, "this %s has been collected", mt);
  return b->o;
}

void tcp_check_open(lua_State *L, tcp_obj *o, const char *method) {
  if (o->dead)
    luaL_error(L, "%s:%s: the driver has been destroyed; this object is dead", o->ops->mt,
               method);
  if (o->closed)
    luaL_error(L, "%s:%s: this %s is closed (%s)", o->ops->mt, method, o->ops->mt,
               strcmp(o->ops->mt, TCP_SERVER_MT) == 0 ? "Close() was called"
                                           : "Close() was called or the connection ended");
}

bool tcp_push_ud(lua_State *L, tcp_obj *o) {
  if (!o->box || !o->st) return false;
  lua_rawgeti(L, LUA_REGISTRYINDEX, o->st->weak_ref);
  lua_pushlightuserdata(L, o->box);
  lua_rawget(L, -2);
  lua_remove(L, -2);
  if (lua_touserdata(L, -1) != o->box) {
    lua_pop(L, 1);
    return false;
  }
  return true;
}

void tcp_sync_alive(tcp_obj *o) {
  if (!o->st || o->dead || o->anchored) return;
  lua_State *L = o->ctx->L;
  bool want = o->kicks || o->pending || o->ops->want_alive(o);
  if (want && o->self_ref == LUA_NOREF) {
    if (tcp_push_ud(L, o)) o->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  } else if (!want && o->self_ref != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, o->self_ref);
    o->self_ref = LUA_NOREF;
  }
}

static void on_idle(uv_idle_t *h);

void tcp_kick(tcp_obj *o, unsigned flags) {
  tcp_state *st = o->st;
  if (!st || o->dead || !flags) return;
  if (!o->kicks) {
    o->kick_next = NULL;
    if (st->kick_tail) st->kick_tail->kick_next = o;
    else st->kick_head = o;
    st->kick_tail = o;
  }
  o->kicks |= flags;
  if (!st->idle_init) {
    if (uv_idle_init(st->ctx->loop, &st->idle) != 0) {
      emu_log(st->ctx, EMU_LOG_ERROR, "[c4emu] TCP: cannot start the deferred-work handle");
      return;
    }
    st->idle.data = st;
    st->idle_init = true;
  }
  uv_idle_start(&st->idle, on_idle);
  tcp_sync_alive(o);
}

static void kick_remove(tcp_obj *o) {
  tcp_state *st = o->st;
  if (!o->kicks || !st) return;
  tcp_obj *prev = NULL;
  for (tcp_obj *p = st->kick_head; p; prev = p, p = p->kick_next) {
    if (p != o) continue;
    if (prev) prev->kick_next = o->kick_next;
    else st->kick_head = o->kick_next;
    if (st->kick_tail == o) st->kick_tail = prev;
    break;
  }
  o->kicks = 0;
  o->kick_next = NULL;
}

static void token_unlink(tcp_obj *o) {
  if (!o->token) return;
  o->token->o = NULL;
  o->token = NULL;
}

void tcp_free_eps(tcp_obj *o) {
  free(o->eps);
  o->eps = NULL;
  o->neps = 0;
}

void tcp_maybe_free(tcp_obj *o) {
  if (o->box || o->inflight) return;
  kick_remove(o);
  if (o->st) {
    if (o->prev) o->prev->next = o->next;
    else o->st->objs = o->next;
    if (o->next) o->next->prev = o->prev;
  }
  token_unlink(o);
  tcp_free_eps(o);
  o->ops->release(o);
}

void tcp_gc(lua_State *L, tcp_obj *o) {
  (void)L;
  o->box->o = NULL;
  o->box = NULL;
  if (!o->dead) {
    tcp_cancel_pending(o);
    o->ops->shutdown(o); /* stops listening / closes the socket: no events, no Lua */
  }
  tcp_maybe_free(o);
}

/* Runs the deferred work queued so far; work queued meanwhile waits a turn.
 * Objects are popped from the shared queue one by one, so one taken out of
 * it meanwhile (kick_remove) cannot upset the walk. */
static void on_idle(uv_idle_t *h) {
  tcp_state *st = h->data;
  lua_State *L = st->ctx->L;
  emu_io_activity(st->ctx);
  size_t n = 0;
  for (tcp_obj *o = st->kick_head; o; o = o->kick_next) n++;
  while (n-- > 0 && st->kick_head) {
    tcp_obj *o = st->kick_head;
    st->kick_head = o->kick_next;
    if (!st->kick_head) st->kick_tail = NULL;
    o->kick_next = NULL;
    unsigned f = o->kicks;
    o->kicks = 0;
    int top = lua_gettop(L);
    tcp_push_ud(L, o); /* anchors the object while the driver runs */
    if ((f & TCP_KICK_PROCEED) && o->pending && o->choice != TCP_UNDECIDED) tcp_decide(o);
    f &= ~(unsigned)TCP_KICK_PROCEED;
    if (f && !o->dead) o->ops->kicked(o, f);
    tcp_sync_alive(o);
    lua_settop(L, top);
  }
  if (!st->kick_head) uv_idle_stop(&st->idle);
}

/* ---- handlers and calling the driver -------------------------------------------- */

/* The handlers' names, each a bit of tcp_obj.handlers (0: not a handler
 * name; such a name is always looked up). */
static unsigned handler_bit(const char *name) {
  static const char *const names[] = {"OnResolve", "OnConnect", "OnRead", "OnWrite",
                                      "OnDisconnect", "OnError", "OnListen", "OnAccept"};
  enum { N = sizeof names / sizeof names[0] };
  for (unsigned i = 0; i < N; i++) /* the callers' literals are the same strings */
    if (names[i] == name) return 1u << i;
  for (unsigned i = 0; i < N; i++)
    if (strcmp(names[i], name) == 0) return 1u << i;
  return 0;
}

int tcp_set_handler(lua_State *L, tcp_obj *o, const char *name) {
  tcp_check_open(L, o, name);
  if (lua_isnil(L, 2)) {
    lua_settop(L, 2);
  } else {
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
  }
  lua_getfenv(L, 1);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, name);
  if (lua_isnil(L, 2)) o->handlers &= ~handler_bit(name);
  else o->handlers |= handler_bit(name);
  lua_settop(L, 1);
  return 1;
}

bool tcp_has_handler(tcp_obj *o, const char *name) {
  lua_State *L = o->ctx->L;
  if (o->dead) return false;
  unsigned bit = handler_bit(name);
  if (bit) return (o->handlers & bit) != 0;
  if (!tcp_push_ud(L, o)) return false;
  lua_getfenv(L, -1);
  lua_getfield(L, -1, name);
  bool yes = lua_isfunction(L, -1);
  lua_pop(L, 3);
  return yes;
}

typedef struct {
  const tcp_arg *args;
  int nargs, nres;
  bool with_self;
  tcp_result_check check;  /* NULL, or validates the results (may raise) */
} tcp_callspec;

/* Pushes the arguments of a call (after the function and the object). */
static void push_args(lua_State *L, const tcp_arg *args, int nargs, int vals, int top) {
  for (int i = 0; i < nargs; i++) {
    const tcp_arg *a = &args[i];
    switch (a->t) {
    case 's': lua_pushlstring(L, a->s, a->len); break;
    case 'n': lua_pushnumber(L, a->n); break;
    case 'v': lua_pushvalue(L, vals <= top ? vals++ : top + 1); break;
    case 'e': tcp_push_addr(L, a->s, (int)a->n); break;
    case 'f': a->push(L, a->ud); break;
    default: lua_pushnil(L); break;
    }
  }
}

/* (spec, handler, object, values...) — inside emu_pcall: builds the
 * arguments, calls the handler, checks its results. */
static int l_trampoline(lua_State *L) {
  tcp_callspec *cs = lua_touserdata(L, 1);
  int top = lua_gettop(L);
  luaL_checkstack(L, cs->nargs + 8, "TCP handler arguments");
  lua_pushvalue(L, 2);
  if (cs->with_self) lua_pushvalue(L, 3);
  push_args(L, cs->args, cs->nargs, 4, top); /* the 'v' values were passed along */
  lua_call(L, cs->nargs + (cs->with_self ? 1 : 0), cs->nres);
  if (cs->check) cs->check(L, lua_gettop(L) - cs->nres + 1); /* raises inside the pcall */
  return cs->nres;
}

/* "C4LuaTcpClient OnRead": the name of a call in the log, made once per
 * (type, handler) pair (both are string literals). */
static const char *what_of(const char *mt, const char *name) {
  static struct {
    const char *mt, *name;
    char text[64];
  } cache[32];
  static int n;
  for (int i = 0; i < n; i++)
    if (cache[i].mt == mt && cache[i].name == name) return cache[i].text;
  int i = n < 32 ? n++ : 31;
  cache[i].mt = mt;
  cache[i].name = name;
  snprintf(cache[i].text, sizeof cache[i].text, "%s %s", mt, name);
  return cache[i].text;
}

/* Strings and numbers only: nothing the pushes could run. */
static bool plain_args(const tcp_arg *args, int nargs) {
  for (int i = 0; i < nargs; i++)
    if (args[i].t != 's' && args[i].t != 'n') return false;
  return true;
}

/*
 * Looks the handler up once, then calls it.  The per-message case (OnRead
 * with its data, from the loop) calls the handler itself, protected; the
 * rest goes through the trampoline, so that building the arguments and
 * checking the results happen inside the protected call — needed when driver
 * code is already running, where a push can fail under the memory cap.
 */
static bool call_impl(tcp_obj *o, const char *name, const tcp_arg *args, int nargs, int nres,
                      tcp_result_check check,
                      bool with_self) {
  lua_State *L = o->ctx->L;
  int top = lua_gettop(L);
  if (!o->st || o->dead || !tcp_has_handler(o, name) || !tcp_push_ud(L, o)) goto none;
  lua_getfenv(L, -1);
  lua_getfield(L, -1, name);
  if (!lua_isfunction(L, -1)) goto none; /* nothing to call: spare the protected call */
  const char *what = what_of(o->ops->mt, name);
  int ud = top + 1, fn = top + 3;
  lua_checkstack(L, nargs + 6);
  if (nres == 0 && !check && plain_args(args, nargs) && !emu_in_driver(o->ctx)) {
    int h = emu_pcall_begin(o->ctx);
    lua_pushvalue(L, fn);
    if (with_self) lua_pushvalue(L, ud);
    push_args(L, args, nargs, 0, 0);
    int st = emu_pcall_at(o->ctx, h, nargs + (with_self ? 1 : 0), what);
    emu_charge_stall(o->ctx);
    lua_settop(L, top);
    return st == 0;
  }
  tcp_callspec cs = {args, nargs, nres, with_self, check};
  lua_rawgeti(L, LUA_REGISTRYINDEX, o->st->tramp_ref);
  lua_pushlightuserdata(L, &cs);
  lua_pushvalue(L, fn);
  lua_pushvalue(L, ud);
  int nv = 0;
  for (int i = 0; i < nargs; i++)
    if (args[i].t == 'v') {
      lua_pushvalue(L, args[i].idx);
      nv++;
    }
  int st = emu_pcall(o->ctx, 3 + nv, nres, what);
  emu_charge_stall(o->ctx);
  if (st != 0) {
    lua_settop(L, top);
    goto none;
  }
  for (int i = 0; i < 3; i++) lua_remove(L, top + 1); /* the object, its handlers, the handler */
  return true;
none:
  lua_settop(L, top);
  for (int i = 0; i < nres; i++) lua_pushnil(L);
  return false;
}

bool tcp_call(tcp_obj *o, const char *name, const tcp_arg *args, int nargs, int nres) {
  return call_impl(o, name, args, nargs, nres, NULL, true);
}

bool tcp_call_plain(tcp_obj *o, const char *name, const tcp_arg *args, int nargs, int nres,
                    tcp_result_check check) {
  return call_impl(o, name, args, nargs, nres, check, false);
}

/* ---- resolving and choosing ---------------------------------------------------- */

static void push_eps(lua_State *L, void *ud) {
  tcp_obj *o = ud;
  lua_createtable(L, o->neps, 0);
  for (int i = 0; i < o->neps; i++) {
    char ip[64];
    int port;
    c4_sockaddr_text((struct sockaddr *)&o->eps[i], ip, sizeof ip, &port);
    tcp_push_addr(L, ip, port);
    lua_rawseti(L, -2, i + 1);
  }
}

/* choose([index]) → true if this decided the endpoint, false if it was decided already. */
static int l_choose(lua_State *L) {
  tcp_token *t = lua_touserdata(L, lua_upvalueindex(1));
  tcp_obj *o = t->o;
  int choice = 1;
  if (!lua_isnoneornil(L, 1)) {
    lua_Number v = luaL_checknumber(L, 1);
    choice = (o && v == floor(v) && v >= 1 && v <= o->neps) ? (int)v : 0;
  }
  if (!o || !o->pending || o->dead || o->choice != TCP_UNDECIDED) {
    lua_pushboolean(L, 0);
    return 1;
  }
  o->choice = choice;
  token_unlink(o);
  if (!o->in_resolve) tcp_kick(o, TCP_KICK_PROCEED);
  lua_pushboolean(L, 1);
  return 1;
}

/* The token's __gc: choose() can no longer be called, so the default holds. */
static int l_token_gc(lua_State *L) {
  tcp_token *t = lua_touserdata(L, 1);
  tcp_obj *o = t->o;
  if (!o) return 0;
  t->o = NULL;
  o->token = NULL;
  if (o->pending && !o->dead && o->choice == TCP_UNDECIDED) {
    o->choice = 1;
    o->auto_choice = true;
    if (!o->in_resolve) tcp_kick(o, TCP_KICK_PROCEED);
  }
  return 0;
}

static void push_choose(lua_State *L, void *ud) {
  tcp_obj *o = ud;
  tcp_token *t = lua_newuserdata(L, sizeof *t);
  t->o = NULL;
  luaL_getmetatable(L, TOKEN_MT);
  lua_setmetatable(L, -2);
  lua_pushcclosure(L, l_choose, 1);
  if (o->pending && o->choice == TCP_UNDECIDED) {
    token_unlink(o);
    t->o = o;
    o->token = t;
  }
}

static int l_fullgc(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}

bool tcp_choice_ok(tcp_obj *o) {
  return o->choice >= 1 && o->choice <= o->neps;
}

/* An endpoint was chosen (or 0 / a bad index): on to listen / connect. */
void tcp_decide(tcp_obj *o) {
  token_unlink(o);
  o->pending = false;
  if (!tcp_choice_ok(o)) {
    tcp_free_eps(o);
    o->ops->failed(o, UV_EINVAL, "resolve");
    return;
  }
  o->ops->proceed(o);
}

/* After resolving: OnResolve, then the choice. */
static void choose_step(tcp_obj *o) {
  lua_State *L = o->ctx->L;
  if (!tcp_has_handler(o, "OnResolve")) {
    o->choice = 1;
    o->auto_choice = true;
    tcp_decide(o);
    return;
  }
  o->in_resolve = true;
  tcp_arg a[2] = {{.t = 'f', .push = push_eps, .ud = o}, {.t = 'f', .push = push_choose, .ud = o}};
  bool ok = tcp_call(o, "OnResolve", a, 2, 1);
  if (!o->pending || o->dead) { /* Close() inside OnResolve: the cancel is queued */
    lua_pop(L, 1);
    o->in_resolve = false;
    return;
  }
  if (o->choice == TCP_UNDECIDED && lua_type(L, -1) == LUA_TNUMBER) {
    lua_Number v = lua_tonumber(L, -1);
    o->choice = (v == floor(v) && v >= 1 && v <= o->neps) ? (int)v : 0;
  }
  lua_pop(L, 1);
  if (o->choice == TCP_UNDECIDED && !ok) { /* the handler failed (logged): the default */
    o->choice = 1;
    o->auto_choice = true;
  }
  if (o->choice == TCP_UNDECIDED && o->token) {
    /* No index: does the driver keep choose() to decide later? */
    lua_rawgeti(L, LUA_REGISTRYINDEX, o->st->gc_ref);
    emu_pcall(o->ctx, 0, 0, "garbage collection");
  }
  if (o->choice == TCP_UNDECIDED && !o->token) {
    o->choice = 1;
    o->auto_choice = true;
  }
  o->in_resolve = false;
  if (o->choice != TCP_UNDECIDED) tcp_decide(o);
  /* else: waiting for choose(), kept alive by o->pending */
}

static void on_gai(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  tcp_obj *o = req->data;
  bool current = o->gai == req;
  free(req);
  o->inflight--; /* a cancelled request still calls back, maybe after a newer one started */
  emu_track(o->ctx, TCP_TRACK_RESOLVE, -1);
  if (current) o->gai = NULL;
  if (!current || o->dead || !o->box || !o->pending) {
    if (res) uv_freeaddrinfo(res);
    tcp_maybe_free(o);
    return;
  }
  lua_State *L = o->ctx->L;
  emu_io_activity(o->ctx);
  int top = lua_gettop(L);
  tcp_push_ud(L, o); /* anchors the object while the driver runs */
  if (status == 0) {
    int n = 0;
    for (struct addrinfo *p = res; p; p = p->ai_next) n++;
    o->eps = calloc(n ? (size_t)n : 1, sizeof *o->eps);
    o->neps = 0;
    /* IPv4 first (stable): a loopback spec client or peer most likely uses it. */
    for (int pass = 0; o->eps && pass < 2; pass++) {
      for (struct addrinfo *p = res; p; p = p->ai_next) {
        if (p->ai_family != (pass == 0 ? AF_INET : AF_INET6)) continue;
        if (p->ai_addrlen > sizeof o->eps[0]) continue;
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, p->ai_addr, p->ai_addrlen);
        bool dup = false;
        for (int i = 0; i < o->neps && !dup; i++) dup = memcmp(&o->eps[i], &ss, sizeof ss) == 0;
        if (!dup) o->eps[o->neps++] = ss;
      }
    }
    if (!o->eps) status = UV_ENOMEM;
    else if (o->neps == 0) status = UV_EAI_NONAME;
  }
  if (res) uv_freeaddrinfo(res);
  if (status < 0) {
    tcp_free_eps(o);
    o->pending = false;
    o->ops->failed(o, status, "resolve");
  } else {
    choose_step(o);
  }
  tcp_sync_alive(o);
  lua_settop(L, top);
}

int tcp_resolve_start(tcp_obj *o, const char *node, const char *service, bool numeric_service,
                      bool passive) {
  uv_getaddrinfo_t *req = malloc(sizeof *req);
  if (!req) return UV_ENOMEM;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = (passive ? AI_PASSIVE : 0) | (numeric_service ? AI_NUMERICSERV : 0);
  req->data = o;
  int r = uv_getaddrinfo(o->ctx->loop, req, on_gai, node, service, &hints);
  if (r != 0) {
    free(req);
    return r;
  }
  o->inflight++;
  emu_track(o->ctx, TCP_TRACK_RESOLVE, +1);
  o->gai = req;
  o->pending = true;
  o->choice = TCP_UNDECIDED;
  o->auto_choice = false;
  tcp_free_eps(o);
  tcp_sync_alive(o);
  return 0;
}

void tcp_cancel_pending(tcp_obj *o) {
  if (!o->pending) return;
  o->pending = false;
  if (o->gai) {
    uv_cancel((uv_req_t *)o->gai); /* its callback still comes: stale, it only frees */
    o->gai = NULL;
  }
  token_unlink(o);
  tcp_free_eps(o);
  o->choice = TCP_UNDECIDED;
}

/* ---- arguments, errors, addresses -------------------------------------------------- */

const char *tcp_check_service(lua_State *L, int i, char *buf, size_t bufsz, bool *numeric) {
  if (lua_type(L, i) == LUA_TNUMBER) {
    lua_Number v = lua_tonumber(L, i);
    if (!(v == floor(v) && v >= 0 && v <= 65535))
      luaL_argerror(L, i, "port must be a whole number from 0 to 65535");
    snprintf(buf, bufsz, "%d", (int)v);
    *numeric = true;
    return buf;
  }
  if (lua_type(L, i) != LUA_TSTRING) luaL_typerror(L, i, "port number or service name");
  size_t len;
  const char *s = lua_tolstring(L, i, &len);
  luaL_argcheck(L, len > 0, i, "service must not be empty");
  luaL_argcheck(L, !memchr(s, '\0', len), i, "service must not contain a NUL byte (\\0)");
  bool digits = len <= 5;
  for (size_t k = 0; k < len && digits; k++) digits = s[k] >= '0' && s[k] <= '9';
  if (digits) {
    luaL_argcheck(L, atoi(s) <= 65535, i, "port must be a whole number from 0 to 65535");
    snprintf(buf, bufsz, "%d", atoi(s));
    *numeric = true;
    return buf;
  }
  *numeric = false;
  return s;
}

/* libuv's resolver codes back to getaddrinfo's (reported positive). */
static int eai_of(int uverr) {
  switch (uverr) {
  case UV_EAI_ADDRFAMILY: return EAI_ADDRFAMILY;
  case UV_EAI_AGAIN: return EAI_AGAIN;
  case UV_EAI_BADFLAGS: return EAI_BADFLAGS;
  case UV_EAI_FAIL: return EAI_FAIL;
  case UV_EAI_FAMILY: return EAI_FAMILY;
  case UV_EAI_MEMORY: return EAI_MEMORY;
  case UV_EAI_NODATA: return EAI_NODATA;
  case UV_EAI_NONAME: return EAI_NONAME;
  case UV_EAI_OVERFLOW: return EAI_OVERFLOW;
  case UV_EAI_SERVICE: return EAI_SERVICE;
  case UV_EAI_SOCKTYPE: return EAI_SOCKTYPE;
  default: return 0;
  }
}

int tcp_errcode(int uverr) {
  if (uverr >= 0 || uverr == UV_EOF) return 0;
  if (uverr == UV_EAI_CANCELED || uverr == UV_ECANCELED) return ECANCELED;
  int eai = eai_of(uverr);
  if (eai) return -eai;
  return -uverr; /* on Unix, libuv's UV_E* codes are negated errno values */
}

const char *tcp_errtext(int uverr) {
  if (uverr >= 0 || uverr == UV_EOF) return "Success";
  if (uverr == UV_EAI_CANCELED || uverr == UV_ECANCELED) return strerror(ECANCELED);
  int eai = eai_of(uverr);
  if (eai) return gai_strerror(eai);
  if (uverr == UV_UNKNOWN || uverr <= -3000) return uv_strerror(uverr);
  return strerror(-uverr);
}

void tcp_push_addr(lua_State *L, const char *ip, int port) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, ip);
  lua_setfield(L, -2, "ip");
  lua_pushinteger(L, port);
  lua_setfield(L, -2, "port");
}

bool tcp_check_flag(lua_State *L, int i) {
  if (lua_type(L, i) == LUA_TBOOLEAN) return lua_toboolean(L, i);
  if (lua_type(L, i) == LUA_TNUMBER) return lua_tonumber(L, i) != 0;
  luaL_typerror(L, i, "boolean (or 1/0)");
  return false;
}

/* ---- the family ------------------------------------------------------------------ */

/* C4:CreateTCPServer() → C4LuaTcpServer */
static int l_CreateTCPServer(lua_State *L) {
  return tcp_server_create(L, tcp_state_of(L));
}

/* C4:CreateTCPClient() → C4LuaTcpClient */
static int l_CreateTCPClient(lua_State *L) {
  return tcp_client_create(L, tcp_state_of(L));
}

static void free_state(uv_handle_t *h) { free(h->data); }

/* After OnDriverDestroyed: every socket and resolver closed without events,
 * every reference dropped; what Lua still holds is dead. */
static bool tcp_busy(emu_ctx *ctx, void *data);
static void tcp_rows(emu_ctx *ctx, void *data, lua_State *L);

static void tcp_shutdown(emu_ctx *ctx, void *data) {
  tcp_state *st = data;
  emu_busy_probe_remove(ctx, tcp_busy, st);
  lua_State *L = ctx->L;
  emu_state_section_remove(ctx, tcp_rows, st);
  for (tcp_obj *o = st->kick_head; o; o = o->kick_next) o->kicks = 0;
  st->kick_head = st->kick_tail = NULL;
  while (st->objs) {
    tcp_obj *o = st->objs;
    st->objs = o->next;
    if (o->next) o->next->prev = NULL;
    o->next = o->prev = NULL;
    o->kick_next = NULL;
    tcp_cancel_pending(o);
    o->ops->shutdown(o);
    if (o->self_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, o->self_ref);
    o->self_ref = LUA_NOREF;
    o->dead = true;
    o->closed = true;
    o->st = NULL;
    tcp_maybe_free(o); /* now, or in __gc (lua_close), or when the resolver calls back */
  }
  luaL_unref(L, LUA_REGISTRYINDEX, st->weak_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, st->tramp_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, st->gc_ref);
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_pushnil(L);
  lua_rawset(L, LUA_REGISTRYINDEX);
  if (st->idle_init) {
    st->idle.data = st;
    uv_close((uv_handle_t *)&st->idle, free_state);
  } else {
    free(st);
  }
}

/* The TCP family's busy probe (emu.h): a name still being resolved, or
 * deferred work queued (settling waits for both). */
static bool tcp_busy(emu_ctx *ctx, void *data) {
  (void)ctx;
  const tcp_state *st = data;
  if (st->kick_head) return true;
  for (const tcp_obj *o = st->objs; o; o = o->next)
    if (o->inflight > 0 && o->pending && !o->dead) return true;
  return false;
}

static void tcp_open(lua_State *L, emu_ctx *ctx) {
  luaL_newmetatable(L, TOKEN_MT);
  lua_pushcfunction(L, l_token_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  tcp_server_open(L);
  tcp_client_open(L);

  tcp_state *st = calloc(1, sizeof *st);
  if (!st) {
    emu_log(ctx, EMU_LOG_ERROR, "[c4emu] out of memory: TCP objects unavailable");
    return;
  }
  st->ctx = ctx;
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  st->weak_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushcfunction(L, l_trampoline);
  st->tramp_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushcfunction(L, l_fullgc);
  st->gc_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_pushlightuserdata(L, st);
  lua_rawset(L, LUA_REGISTRYINDEX);
  emu_on_shutdown(ctx, tcp_shutdown, st);
  emu_busy_probe_add(ctx, tcp_busy, st);
  emu_state_section_add(ctx, "TCP objects", "type,state,address", tcp_rows, st);
}

/* issue 17: the web console's State view lists the driver's TCP objects. */
static void tcp_rows(emu_ctx *ctx, void *data, lua_State *L) {
  tcp_state *st = data;
  (void)ctx;
  lua_newtable(L);
  int n = 0;
  for (tcp_obj *o = st->objs; o; o = o->next) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, o->ops->mt);
    lua_setfield(L, -2, "type");
    lua_pushstring(L, o->closed ? "closed" : o->pending ? "resolving" : "");
    lua_setfield(L, -2, "state");
    if (o->ops->describe && !o->closed) o->ops->describe(o, L);
    lua_rawseti(L, -2, ++n);
  }
}

static const c4_fn tcp_fns[] = {
    {"CreateTCPServer", l_CreateTCPServer},
    {"CreateTCPClient", l_CreateTCPClient},
    {NULL, NULL},
};

const c4_family c4_family_tcp = {"tcp", tcp_fns, tcp_open, NULL};
