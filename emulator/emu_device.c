/*
 * emu_device.c — fake devices for drivers to connect to: d:device(opts).
 *
 *   local dev = d:device{port = 0, protocol = "tcp"|"udp", mode = "buffered",
 *                        end_char = "\r\n", tls = {cert=, key=, ca=, verify=}}
 *
 * A listening socket on loopback, served by the driver's own loop, with two
 * designs on the one object (see README-devices.md):
 *   Renoise: dev.is_open dev.is_running dev.local_address dev.local_port
 *            (read-only), dev:run(notifier), dev:stop(), dev:wait(ms),
 *            dev:close();
 *   WINDEV:  dev:wait_for_connection(ms), dev:accept() → channel,
 *            dev:deny(); ch:read([ms]) ch:write(msg) ch:change_mode(mode
 *            [, end_char]) ch:close() ch:shutdown() ch:reset() ch.address
 *            ch.port (the Renoise client is the same channel: ch:send(),
 *            ch.is_open, ch.peer_address, ch.peer_port).
 *
 * Connections arriving while the device runs a notifier are handed to
 * socket_accepted and their messages to socket_message; otherwise they wait
 * for accept()/deny() (TCP accepts them at once at kernel level, so the
 * driver sees its connect succeed either way).  Notifier calls are queued by
 * the libuv callbacks and made by the spec side's step (emu_spawn.c) while
 * a spec call waits: never from inside libuv.
 *
 * Lifetime: the native device is shared by its userdata, the driver (a
 * shutdown hook closes its sockets when the driver is destroyed) and each
 * channel userdata (refs); channels live as long as their device.  The
 * device userdata's environment holds the driver object, the notifier and
 * the channel userdatas (keyed by light userdata), so a channel object is
 * the same each time it is handed out.  Sockets count as "spec-device".
 */
#include <stdlib.h>
#include <string.h>

#include "emu_module.h"
#include "emu_channel.h"
#include "emu_tlsclient.h"
#include "net/c4_conn.h"

#define DEVICE_MT "c4emu.device"
#define CHAN_MT "c4emu.channel"
#define PEER_MT "c4emu.udp_peer"
#define TRACK_KIND "spec-device"
#define DEFAULT_TIMEOUT 2000

static const char DEVICES_KEY = 'd'; /* registry: weak set of device userdatas */

enum { EV_ACCEPTED, EV_MESSAGE, EV_ERROR, EV_UDP };

typedef struct device device;

typedef struct devevent {
  struct devevent *next;
  int kind;
  struct dchan *ch;
  char ip[64];
  int port;
  size_t n;
  char data[];
} devevent;

typedef struct dchan {
  device *dev;
  struct dchan *next;
  c4_conn *conn;             /* NULL once closed */
  bool pending;              /* waits for accept() / deny() */
  bool notify;               /* messages go to the notifier */
  bool peer_closed, closed_by_us, done, malformed;
  char err[256];
  char ip[64];
  int port;
  emu_framing fr;
  char *rx;
  size_t rxoff, rxlen, rxcap;
} dchan;

struct device {
  emu_ctx *ctx;              /* NULL once the driver is gone */
  device *gnext;             /* the driver's devices */
  int refs;
  bool udp, running, closed;
  c4_listener *lis;
  uv_udp_t *uh;
  SSL_CTX *ssl;
  int port;
  char addr[64];
  emu_framing fr;
  dchan *chans;
  devevent *evh, *evt;
  unsigned long dispatched;  /* notifier calls made (dev:wait watches it) */
};

typedef struct { device *d; } dev_box;
typedef struct { dchan *ch; } chan_box;
typedef struct { device *d; char ip[64]; int port; } peer_box;

typedef struct dgroup {
  emu_ctx *ctx;
  device *list;
  struct dgroup *next;
} dgroup;
static dgroup *groups;

const char *emu_spec_loopback(emu_ctx *ctx) {
  const char *b = ctx->bind_addr ? ctx->bind_addr : "0.0.0.0";
  if (strcmp(b, "0.0.0.0") == 0) return "127.0.0.1";
  if (strcmp(b, "::") == 0) return "::1";
  return b;
}

/* ---- natives ---------------------------------------------------------------- */

static void free_events(device *d) {
  while (d->evh) {
    devevent *e = d->evh;
    d->evh = e->next;
    free(e);
  }
  d->evt = NULL;
}

static void queue_event(device *d, int kind, dchan *ch, const char *ip, int port,
                        const char *data, size_t n) {
  devevent *e = calloc(1, sizeof *e + n + 1);
  if (!e) return;
  e->kind = kind;
  e->ch = ch;
  if (ip) snprintf(e->ip, sizeof e->ip, "%s", ip);
  e->port = port;
  e->n = n;
  if (n) memcpy(e->data, data, n);
  if (d->evt) d->evt->next = e;
  else d->evh = e;
  d->evt = e;
  if (d->ctx) emu_io_activity(d->ctx);
}

static void free_handle(uv_handle_t *h) { free(h); }

/* Closes every socket of the device, silently (no more events). */
static void close_sockets(device *d) {
  c4_listener_close(d->lis);
  d->lis = NULL;
  if (d->uh) {
    d->uh->data = NULL;
    uv_close((uv_handle_t *)d->uh, free_handle);
    d->uh = NULL;
    if (d->ctx) emu_track(d->ctx, TRACK_KIND, -1);
  }
  for (dchan *ch = d->chans; ch; ch = ch->next) {
    if (ch->conn) c4_conn_abort(ch->conn);
    ch->conn = NULL;
    ch->done = true;
  }
}

static void unref_device(device *d) {
  if (--d->refs > 0) return;
  free_events(d);
  while (d->chans) {
    dchan *ch = d->chans;
    d->chans = ch->next;
    free(ch->rx);
    free(ch);
  }
  SSL_CTX_free(d->ssl);
  free(d);
}

static void on_driver_shutdown(emu_ctx *ctx, void *data) {
  (void)ctx;
  dgroup *g = data;
  while (g->list) {
    device *d = g->list;
    g->list = d->gnext;
    close_sockets(d);
    free_events(d);
    d->ctx = NULL;
    d->running = false;
    unref_device(d);
  }
  for (dgroup **p = &groups; *p; p = &(*p)->next)
    if (*p == g) {
      *p = g->next;
      break;
    }
  free(g);
}

static dgroup *group_of(emu_ctx *ctx) {
  for (dgroup *g = groups; g; g = g->next)
    if (g->ctx == ctx) return g;
  dgroup *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->ctx = ctx;
  g->next = groups;
  groups = g;
  emu_on_shutdown(ctx, on_driver_shutdown, g);
  return g;
}

static void group_remove(device *d) {
  for (dgroup *g = groups; g; g = g->next) {
    if (g->ctx != d->ctx) continue;
    for (device **p = &g->list; *p; p = &(*p)->gnext)
      if (*p == d) {
        *p = d->gnext;
        return;
      }
  }
}

/* ---- TCP events -------------------------------------------------------------- */

static size_t avail(const dchan *ch) { return ch->rxlen - ch->rxoff; }

static void append(dchan *ch, const char *p, size_t n) {
  if (ch->rxoff > 0 && (ch->rxlen + n > ch->rxcap || ch->rxoff > ch->rxlen / 2)) {
    memmove(ch->rx, ch->rx + ch->rxoff, ch->rxlen - ch->rxoff);
    ch->rxlen -= ch->rxoff;
    ch->rxoff = 0;
  }
  if (ch->rxlen + n > ch->rxcap) {
    size_t ncap = ch->rxcap ? ch->rxcap : 4096;
    while (ncap < ch->rxlen + n) ncap *= 2;
    char *r = realloc(ch->rx, ncap);
    if (!r) return;
    ch->rx = r;
    ch->rxcap = ncap;
  }
  memcpy(ch->rx + ch->rxlen, p, n);
  ch->rxlen += n;
}

/* Notifier mode: every complete message becomes a socket_message call. */
static void queue_messages(dchan *ch) {
  device *d = ch->dev;
  for (;;) {
    size_t off, len, used;
    char err[200];
    int r = emu_framing_take(&ch->fr, ch->rx + ch->rxoff, avail(ch), &off, &len, &used, err,
                             sizeof err);
    if (r == 0) return;
    if (r < 0) {
      char msg[320];
      snprintf(msg, sizeof msg, "%s:%d: %s", ch->ip, ch->port, err);
      queue_event(d, EV_ERROR, ch, NULL, 0, msg, strlen(msg));
      ch->rxoff = ch->rxlen = 0;
      return;
    }
    queue_event(d, EV_MESSAGE, ch, NULL, 0, ch->rx + ch->rxoff + off, len);
    ch->rxoff += used;
  }
}

static void dev_open(c4_conn *c) {
  device *d = c4_listener_data(c4_conn_listener(c));
  dchan *ch = d ? calloc(1, sizeof *ch) : NULL;
  if (!ch) {
    c4_conn_close(c, C4_CLOSE_RESET);
    return;
  }
  ch->dev = d;
  ch->conn = c;
  ch->fr = d->fr;
  snprintf(ch->ip, sizeof ch->ip, "%s", c4_conn_peer_ip(c));
  ch->port = c4_conn_peer_port(c);
  ch->next = d->chans;
  d->chans = ch;
  c4_conn_set_data(c, ch);
  if (d->running) {
    ch->notify = true;
    queue_event(d, EV_ACCEPTED, ch, NULL, 0, NULL, 0);
  } else {
    ch->pending = true;
  }
}

static void dev_data(c4_conn *c, const char *p, size_t n) {
  dchan *ch = c4_conn_data(c);
  if (!ch) return;
  if (n == 0) {
    ch->peer_closed = true;
    return;
  }
  append(ch, p, n);
  if (ch->notify && ch->dev->running) queue_messages(ch);
}

static void dev_closed(c4_conn *c, int status, const char *msg) {
  dchan *ch = c4_conn_data(c);
  if (!ch) return;
  ch->conn = NULL;
  ch->done = true;
  if (!ch->closed_by_us) ch->peer_closed = true;
  if (status < 0 && msg) snprintf(ch->err, sizeof ch->err, "%s", msg);
  else if (status < 0) snprintf(ch->err, sizeof ch->err, "%s", uv_strerror(status));
}

static void dev_rejected(c4_listener *l, const char *ip, int port, const char *msg) {
  device *d = c4_listener_data(l);
  if (!d || !d->running) return;
  char text[400];
  snprintf(text, sizeof text, "TLS handshake with %s:%d failed: %s", ip, port, msg ? msg : "?");
  queue_event(d, EV_ERROR, NULL, NULL, 0, text, strlen(text));
}

static const c4_conn_events dev_events = {
    .open = dev_open, .data = dev_data, .closed = dev_closed, .rejected = dev_rejected,
};

/* ---- UDP ------------------------------------------------------------------------ */

static void dev_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                         const struct sockaddr *addr, unsigned flags) {
  (void)flags;
  device *d = h->data;
  if (d && nread >= 0 && addr && d->running) {
    char ip[64];
    int port;
    c4_sockaddr_text(addr, ip, sizeof ip, &port);
    queue_event(d, EV_UDP, NULL, ip, port, buf->base, (size_t)nread);
  }
  c4_conn_release_buf(buf);
}

/* ---- listening -------------------------------------------------------------------- */

static int start_listening(device *d, char *err, size_t errsz) {
  emu_ctx *ctx = d->ctx;
  const char *host = emu_spec_loopback(ctx);
  int r;
  if (d->udp) {
    if (!d->uh) {
      struct sockaddr_storage ss;
      if ((r = c4_sockaddr_parse(host, d->port, &ss)) != 0) goto fail;
      d->uh = malloc(sizeof *d->uh);
      if (!d->uh || uv_udp_init(ctx->loop, d->uh) != 0) {
        free(d->uh);
        d->uh = NULL;
        r = UV_ENOMEM;
        goto fail;
      }
      d->uh->data = d;
      emu_track(ctx, TRACK_KIND, +1);
      if ((r = uv_udp_bind(d->uh, (struct sockaddr *)&ss, 0)) != 0) goto fail;
      struct sockaddr_storage bound;
      int len = sizeof bound;
      uv_udp_getsockname(d->uh, (struct sockaddr *)&bound, &len);
      c4_sockaddr_text((struct sockaddr *)&bound, d->addr, sizeof d->addr, &d->port);
    }
    r = uv_udp_recv_start(d->uh, c4_conn_alloc, dev_udp_recv);
    if (r == UV_EALREADY) r = 0;
    if (r != 0) goto fail;
    return 0;
  }
  if (d->lis) return 0;
  c4_conn_opts o = {.loop = ctx->loop, .ctx = ctx, .listener_kind = TRACK_KIND,
                    .conn_kind = TRACK_KIND, .tls = d->ssl, .ev = &dev_events, .data = d};
  d->lis = c4_listen(&o, host, d->port, 64, &r);
  if (!d->lis) goto fail;
  d->port = c4_listener_port(d->lis);
  snprintf(d->addr, sizeof d->addr, "%s", host);
  return 0;
fail:
  snprintf(err, errsz, "%s:%d: %s", host, d->port, uv_strerror(r));
  return -1;
}

static void stop_listening(device *d) {
  if (d->udp) {
    if (d->uh) uv_udp_recv_stop(d->uh);
    return;
  }
  c4_listener_close(d->lis);
  d->lis = NULL;
}

/* ---- Lua side ----------------------------------------------------------------------- */

static device *check_device(lua_State *L, int i, const char *what) {
  dev_box *b = luaL_checkudata(L, i, DEVICE_MT);
  if (!b->d || b->d->closed)
    luaL_error(L, "%s: the device is closed (dev:close())", what);
  if (!b->d->ctx) luaL_error(L, "%s: the driver has been destroyed", what);
  return b->d;
}

static uint64_t opt_timeout(lua_State *L, int i) {
  if (lua_isnoneornil(L, i)) return DEFAULT_TIMEOUT;
  lua_Number t = luaL_checknumber(L, i);
  luaL_argcheck(L, t >= 0 && t < 1e9, i, "timeout must be >= 0 ms");
  return (uint64_t)t;
}

/* Pushes the channel userdata of ch (the same object each time); the device
 * userdata is at index di. */
static void push_channel(lua_State *L, int di, dchan *ch) {
  lua_getfenv(L, di);
  lua_getfield(L, -1, "chans");
  lua_pushlightuserdata(L, ch);
  lua_rawget(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    chan_box *b = lua_newuserdata(L, sizeof *b);
    b->ch = ch;
    ch->dev->refs++;
    luaL_getmetatable(L, CHAN_MT);
    lua_setmetatable(L, -2);
    lua_createtable(L, 1, 0); /* keeps the device object alive */
    lua_pushvalue(L, di);
    lua_rawseti(L, -2, 1);
    lua_setfenv(L, -2);
    lua_pushlightuserdata(L, ch);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
}

static const char *const known_opts[] = {"port", "protocol", "mode", "end_char", "tls", NULL};

static void check_opt_names(lua_State *L, int t) {
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    lua_pop(L, 1);
    bool ok = false;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char *const *k = known_opts; *k; k++) ok |= strcmp(lua_tostring(L, -1), *k) == 0;
    if (!ok)
      luaL_error(L, "d:device: unknown option '%s' (known: port, protocol, mode, end_char, tls)",
                 lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
  }
}

static const char *tls_field(lua_State *L, int t, const char *key) {
  lua_getfield(L, t, key);
  const char *v = NULL;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "d:device: opts.tls.%s must be a string, not %s", key, luaL_typename(L, -1));
    v = lua_tostring(L, -1);
  }
  lua_pop(L, 1); /* the string stays alive in opts.tls */
  return v;
}

static SSL_CTX *device_tls(lua_State *L, int t) {
  if (lua_type(L, t) != LUA_TTABLE)
    luaL_error(L, "d:device: opts.tls must be a table, not %s", luaL_typename(L, t));
  emu_tls_client_opts o = {.server = true};
  o.cert = tls_field(L, t, "cert");
  o.key = tls_field(L, t, "key");
  o.ca = tls_field(L, t, "ca");
  lua_getfield(L, t, "verify");
  if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
    luaL_error(L, "d:device: opts.tls.verify must be a boolean, not %s", luaL_typename(L, -1));
  o.verify = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!o.cert || !o.key) luaL_error(L, "d:device: opts.tls needs cert and key (PEM text or paths)");
  if (o.verify && !o.ca)
    luaL_error(L, "d:device: opts.tls.verify = true needs opts.tls.ca (the CA of the clients)");
  char why[512];
  SSL_CTX *s = emu_tls_client_ctx(&o, why, sizeof why);
  if (!s) luaL_error(L, "d:device: TLS: %s", why);
  return s;
}

/* d:device([opts]) → a fake device listening on loopback */
static int d_device(lua_State *L) {
  emu_mdriver *md = emu_mdriver_check(L, 1);
  emu_ctx *ctx = md->ctx;
  if (ctx->phase == EMU_PHASE_DEAD) return luaL_error(L, "d:device: the driver has been destroyed");
  lua_Integer port = 0;
  bool udp = false;
  emu_framing fr = EMU_FRAMING_DEFAULT;
  SSL_CTX *ssl = NULL;
  if (!lua_isnoneornil(L, 2)) {
    if (!lua_istable(L, 2))
      return luaL_error(L, "d:device: opts must be a table, not %s", luaL_typename(L, 2));
    check_opt_names(L, 2);
    lua_getfield(L, 2, "port");
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TNUMBER)
        return luaL_error(L, "d:device: opts.port must be a number, not %s", luaL_typename(L, -1));
      port = lua_tointeger(L, -1);
      if (port < 0 || port > 65535) return luaL_error(L, "d:device: opts.port out of range (0-65535)");
    }
    lua_getfield(L, 2, "protocol");
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "d:device: opts.protocol must be a string, not %s",
                          luaL_typename(L, -1));
      const char *p = lua_tostring(L, -1);
      if (strcmp(p, "udp") == 0) udp = true;
      else if (strcmp(p, "tcp") != 0)
        return luaL_error(L, "d:device: opts.protocol must be \"tcp\" or \"udp\", not '%s'", p);
    }
    lua_pop(L, 2);
    emu_framing_opts(L, 2, "d:device", &fr);
    lua_getfield(L, 2, "tls");
    if (!lua_isnil(L, -1)) {
      if (udp) return luaL_error(L, "d:device: opts.tls is for TCP devices only");
      ssl = device_tls(L, lua_gettop(L));
    }
    lua_pop(L, 1);
  }
  dgroup *g = group_of(ctx);
  device *d = g ? calloc(1, sizeof *d) : NULL;
  if (!d) {
    SSL_CTX_free(ssl);
    return luaL_error(L, "d:device: out of memory");
  }
  d->ctx = ctx;
  d->refs = 2; /* the userdata and the driver */
  d->udp = udp;
  d->port = (int)port;
  d->fr = fr;
  d->ssl = ssl;
  d->gnext = g->list;
  g->list = d;
  dev_box *b = lua_newuserdata(L, sizeof *b);
  b->d = d;
  luaL_getmetatable(L, DEVICE_MT);
  lua_setmetatable(L, -2);
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "driver");
  lua_newtable(L);
  lua_setfield(L, -2, "chans");
  lua_setfenv(L, -2);
  char err[256];
  if (start_listening(d, err, sizeof err) != 0) return luaL_error(L, "d:device: %s", err);
  lua_pushlightuserdata(L, (void *)&DEVICES_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return 1;
}

static int dev_gc(lua_State *L) {
  dev_box *b = lua_touserdata(L, 1);
  if (!b || !b->d) return 0;
  device *d = b->d;
  b->d = NULL;
  if (d->ctx) {
    close_sockets(d);
    group_remove(d);
    d->ctx = NULL;
    unref_device(d); /* the driver's reference */
  }
  unref_device(d);
  return 0;
}

/* dev:close() — closes the listening socket and every channel; the object
 * is useless afterwards (every property and call raises) */
static int dev_close(lua_State *L) {
  dev_box *b = luaL_checkudata(L, 1, DEVICE_MT);
  device *d = b->d;
  if (!d || d->closed) return 0;
  d->closed = true;
  d->running = false;
  free_events(d);
  if (!d->ctx) return 0;
  stop_listening(d);
  for (dchan *ch = d->chans; ch; ch = ch->next)
    if (ch->conn) {
      ch->closed_by_us = true;
      c4_conn_close(ch->conn, C4_CLOSE_FLUSH);
    }
  return 0;
}

/* dev:run(notifier) — serve connections and messages through the notifier:
 * a table of functions, or an object whose methods get it as self */
static int dev_run(lua_State *L) {
  device *d = check_device(L, 1, "dev:run");
  if (!lua_istable(L, 2))
    return luaL_error(L, "dev:run: the notifier must be a table or an object, not %s",
                      luaL_typename(L, 2));
  lua_getfenv(L, 1);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "notifier");
  char err[256];
  if (start_listening(d, err, sizeof err) != 0) return luaL_error(L, "dev:run: %s", err);
  d->running = true;
  return 0;
}

/* dev:stop() — stop serving: connects are refused until dev:run again */
static int dev_stop(lua_State *L) {
  device *d = check_device(L, 1, "dev:stop");
  d->running = false;
  stop_listening(d);
  return 0;
}

typedef struct {
  device *d;
  unsigned long start;
} wait_ud;

static bool cond_dispatched(void *ud) {
  wait_ud *w = ud;
  return w->d->dispatched != w->start || w->d->closed || !w->d->ctx;
}

/* dev:wait(timeout_ms) → true once the notifier was called, false after
 * timeout_ms; serves the loop (the driver included) meanwhile */
static int dev_wait(lua_State *L) {
  device *d = check_device(L, 1, "dev:wait");
  uint64_t t = opt_timeout(L, 2);
  wait_ud w = {d, d->dispatched};
  lua_pushboolean(L, emu_spec_wait(L, d->ctx, t, cond_dispatched, &w));
  return 1;
}

static dchan *first_pending(device *d) {
  dchan *hit = NULL;
  for (dchan *ch = d->chans; ch; ch = ch->next) /* newest first: the oldest is last */
    if (ch->pending) hit = ch;
  return hit;
}

static bool cond_pending(void *ud) {
  device *d = ud;
  return first_pending(d) != NULL || d->closed || !d->ctx;
}

/* dev:wait_for_connection([timeout_ms]) → true when a connection is pending,
 * false after timeout_ms (WINDEV's SocketWaitForConnection) */
static int dev_wait_for_connection(lua_State *L) {
  device *d = check_device(L, 1, "dev:wait_for_connection");
  if (d->udp) return luaL_error(L, "dev:wait_for_connection: a UDP device has no connections");
  uint64_t t = opt_timeout(L, 2);
  lua_pushboolean(L, emu_spec_wait(L, d->ctx, t, cond_pending, d) && first_pending(d));
  return 1;
}

/* dev:accept() → channel of the oldest pending connection */
static int dev_accept(lua_State *L) {
  device *d = check_device(L, 1, "dev:accept");
  dchan *ch = first_pending(d);
  if (!ch)
    return luaL_error(L, "dev:accept: no connection is pending (wait for one with "
                      "dev:wait_for_connection first)");
  ch->pending = false;
  push_channel(L, 1, ch);
  return 1;
}

/* dev:deny() — refuses the oldest pending connection: closed with a TCP
 * reset before any byte is sent */
static int dev_deny(lua_State *L) {
  device *d = check_device(L, 1, "dev:deny");
  dchan *ch = first_pending(d);
  if (!ch)
    return luaL_error(L, "dev:deny: no connection is pending (already accepted or denied?)");
  ch->pending = false;
  ch->closed_by_us = true;
  if (ch->conn) c4_conn_close(ch->conn, C4_CLOSE_RESET);
  return 0;
}

static int dev_index(lua_State *L) {
  dev_box *b = luaL_checkudata(L, 1, DEVICE_MT);
  const char *k = luaL_checkstring(L, 2);
  device *d = b->d;
  if (strcmp(k, "close") == 0) { /* closing again is harmless */
    lua_pushcfunction(L, dev_close);
    return 1;
  }
  if (!d || d->closed) return luaL_error(L, "dev.%s: the device is closed (dev:close())", k);
  if (strcmp(k, "is_open") == 0) lua_pushboolean(L, d->ctx != NULL);
  else if (strcmp(k, "is_running") == 0) lua_pushboolean(L, d->running);
  else if (strcmp(k, "local_address") == 0) lua_pushstring(L, d->addr);
  else if (strcmp(k, "local_port") == 0) lua_pushinteger(L, d->port);
  else if (strcmp(k, "protocol") == 0) lua_pushstring(L, d->udp ? "udp" : "tcp");
  else {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_getfield(L, -1, k);
    if (lua_isnil(L, -1)) return luaL_error(L, "dev.%s: devices have no such field or method", k);
  }
  return 1;
}

static int dev_newindex(lua_State *L) {
  return luaL_error(L, "dev.%s is read-only", luaL_checkstring(L, 2));
}

static int dev_tostring(lua_State *L) {
  dev_box *b = lua_touserdata(L, 1);
  device *d = b ? b->d : NULL;
  if (!d) lua_pushliteral(L, "c4emu.device (collected)");
  else lua_pushfstring(L, "c4emu.device (%s %s:%d, %s)", d->udp ? "udp" : "tcp", d->addr, d->port,
                       d->closed ? "closed" : d->running ? "running" : "open");
  return 1;
}

/* ---- channels ------------------------------------------------------------------------- */

static dchan *check_chan(lua_State *L, const char *what) {
  chan_box *b = luaL_checkudata(L, 1, CHAN_MT);
  dchan *ch = b->ch;
  if (ch->closed_by_us) luaL_error(L, "%s: the channel is closed (ch:close())", what);
  if (!ch->dev->ctx) luaL_error(L, "%s: the driver has been destroyed", what);
  return ch;
}

typedef struct {
  dchan *ch;
  size_t off, len, used;
  int r;
  char err[200];
} read_ud;

static bool cond_message(void *ud) {
  read_ud *u = ud;
  dchan *ch = u->ch;
  u->r = emu_framing_take(&ch->fr, ch->rx + ch->rxoff, avail(ch), &u->off, &u->len, &u->used,
                          u->err, sizeof u->err);
  return u->r != 0 || ch->done || ch->peer_closed || ch->closed_by_us || !ch->dev->ctx;
}

/* ch:read([timeout_ms]) → one message in the channel's transmission mode */
static int ch_read(lua_State *L) {
  dchan *ch = check_chan(L, "ch:read");
  uint64_t t = opt_timeout(L, 2);
  read_ud u = {.ch = ch};
  emu_spec_wait(L, ch->dev->ctx, t, cond_message, &u);
  cond_message(&u);
  if (u.r < 0) {
    ch->rxoff = ch->rxlen = 0;
    return luaL_error(L, "ch:read: %s", u.err);
  }
  if (u.r > 0) {
    lua_pushlstring(L, ch->rx + ch->rxoff + u.off, u.len);
    ch->rxoff += u.used;
    return 1;
  }
  if (ch->closed_by_us) return luaL_error(L, "ch:read: the channel is closed (ch:close())");
  if (ch->done || ch->peer_closed)
    return luaL_error(L, "ch:read: connection closed by the driver%s%s (%d bytes buffered, "
                      "wanted a message in mode \"%s\")", ch->err[0] ? ": " : "", ch->err,
                      (int)avail(ch), emu_framing_name(&ch->fr));
  return luaL_error(L, "ch:read: timed out after %d ms (%d bytes buffered, wanted a message in "
                    "mode \"%s\")", (int)t, (int)avail(ch), emu_framing_name(&ch->fr));
}

static int write_raw(lua_State *L, dchan *ch, const char *what, const char *p, size_t n) {
  if (!ch->conn) return luaL_error(L, "%s: the connection is closed%s%s", what,
                                   ch->err[0] ? ": " : "", ch->err);
  int r = c4_conn_write(ch->conn, p, n);
  if (r < 0) return luaL_error(L, "%s: %s", what, uv_strerror(r));
  return 0;
}

/* ch:write(message) — framed in the channel's transmission mode */
static int ch_write(lua_State *L) {
  dchan *ch = check_chan(L, "ch:write");
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  emu_framing_push(L, &ch->fr, p, n);
  size_t fn;
  const char *f = lua_tolstring(L, -1, &fn);
  return write_raw(L, ch, "ch:write", f, fn);
}

/* ch:send(data) — as is (Renoise's SocketClient:send) */
static int ch_send(lua_State *L) {
  dchan *ch = check_chan(L, "ch:send");
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  return write_raw(L, ch, "ch:send", p, n);
}

/* ch:change_mode(mode [, end_char]) — SocketChangeTransmissionMode */
static int ch_change_mode(lua_State *L) {
  dchan *ch = check_chan(L, "ch:change_mode");
  const char *mode = luaL_checkstring(L, 2);
  size_t n = 0;
  const char *endc = luaL_optlstring(L, 3, NULL, &n);
  emu_framing_set(L, "ch:change_mode", mode, endc, n, &ch->fr);
  return 0;
}

static int ch_closing(lua_State *L, c4_close_mode mode) {
  chan_box *b = luaL_checkudata(L, 1, CHAN_MT);
  dchan *ch = b->ch;
  if (ch->closed_by_us) return 0;
  ch->closed_by_us = true;
  ch->pending = false;
  if (ch->conn && ch->dev->ctx) c4_conn_close(ch->conn, mode);
  return 0;
}

/* ch:close() — FIN after what is queued; idempotent */
static int ch_close(lua_State *L) { return ch_closing(L, C4_CLOSE_FLUSH); }
/* ch:reset() — close with a TCP reset */
static int ch_reset(lua_State *L) { return ch_closing(L, C4_CLOSE_RESET); }

/* ch:shutdown() — no more sending; reading goes on */
static int ch_shutdown(lua_State *L) {
  dchan *ch = check_chan(L, "ch:shutdown");
  if (!ch->conn) return luaL_error(L, "ch:shutdown: the connection is closed");
  int r = c4_conn_shutdown_write(ch->conn);
  if (r < 0) return luaL_error(L, "ch:shutdown: %s", uv_strerror(r));
  return 0;
}

static int ch_index(lua_State *L) {
  chan_box *b = luaL_checkudata(L, 1, CHAN_MT);
  const char *k = luaL_checkstring(L, 2);
  dchan *ch = b->ch;
  if (strcmp(k, "address") == 0 || strcmp(k, "peer_address") == 0) lua_pushstring(L, ch->ip);
  else if (strcmp(k, "port") == 0 || strcmp(k, "peer_port") == 0) lua_pushinteger(L, ch->port);
  else if (strcmp(k, "is_open") == 0)
    lua_pushboolean(L, ch->conn && !ch->closed_by_us && !ch->peer_closed && ch->dev->ctx);
  else if (strcmp(k, "mode") == 0) lua_pushstring(L, emu_framing_name(&ch->fr));
  else {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_getfield(L, -1, k);
    if (lua_isnil(L, -1)) return luaL_error(L, "ch.%s: channels have no such field or method", k);
  }
  return 1;
}

static int ch_newindex(lua_State *L) {
  return luaL_error(L, "ch.%s is read-only", luaL_checkstring(L, 2));
}

static int ch_gc(lua_State *L) {
  chan_box *b = lua_touserdata(L, 1);
  if (b && b->ch) {
    device *d = b->ch->dev;
    b->ch = NULL;
    unref_device(d);
  }
  return 0;
}

static int ch_tostring(lua_State *L) {
  chan_box *b = lua_touserdata(L, 1);
  dchan *ch = b ? b->ch : NULL;
  if (!ch) lua_pushliteral(L, "c4emu.channel");
  else lua_pushfstring(L, "c4emu.channel (%s:%d, %s)", ch->ip, ch->port,
                       ch->conn && !ch->closed_by_us ? "open" : "closed");
  return 1;
}

/* ---- UDP stand-in clients -------------------------------------------------------------- */

/* peer:send(data) — a datagram back to the sender */
static int peer_send(lua_State *L) {
  peer_box *b = luaL_checkudata(L, 1, PEER_MT);
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  device *d = b->d;
  if (!d || d->closed || !d->ctx || !d->uh)
    return luaL_error(L, "client:send: the device is closed");
  struct sockaddr_storage to;
  if (c4_sockaddr_parse(b->ip, b->port, &to) != 0)
    return luaL_error(L, "client:send: bad address %s", b->ip);
  uv_buf_t buf = uv_buf_init((char *)p, (unsigned)n);
  int r = uv_udp_try_send(d->uh, &buf, 1, (struct sockaddr *)&to);
  if (r < 0) return luaL_error(L, "client:send: %s", uv_strerror(r));
  return 0;
}

static int peer_index(lua_State *L) {
  peer_box *b = luaL_checkudata(L, 1, PEER_MT);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "address") == 0) lua_pushstring(L, b->ip);
  else if (strcmp(k, "port") == 0) lua_pushinteger(L, b->port);
  else if (strcmp(k, "send") == 0) lua_pushcfunction(L, peer_send);
  else return luaL_error(L, "client.%s: a UDP client has only address, port and send()", k);
  return 1;
}

static int peer_gc(lua_State *L) {
  peer_box *b = lua_touserdata(L, 1);
  if (b && b->d) {
    device *d = b->d;
    b->d = NULL;
    unref_device(d);
  }
  return 0;
}

/* ---- notifier calls (from the spec step, emu_spawn.c) ------------------------------------ */

/* Calls notifier[name] with the values on top (n of them); an object's
 * methods get it as self.  Errors are kept for the waiting spec call. */
static void call_notifier(lua_State *L, int nidx, const char *name, int n) {
  lua_getfield(L, nidx, name);
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, n + 1);
    return;
  }
  lua_insert(L, -(n + 1));
  bool method = lua_getmetatable(L, nidx) != 0;
  if (method) {
    lua_pop(L, 1);
    lua_pushvalue(L, nidx);
    lua_insert(L, -(n + 1));
    n++;
  }
  emu_spec_notifier_depth++;
  int st = emu_spec_pcall(L, n);
  emu_spec_notifier_depth--;
  if (st != 0) {
    lua_pushfstring(L, "device notifier %s failed: %s", name, lua_tostring(L, -1));
    emu_spec_error(L, lua_tostring(L, -1));
    lua_pop(L, 2);
  }
}

/* Runs the queued notifier calls of one device (userdata at di). */
static bool dispatch_one(lua_State *L, int di, device *d) {
  bool ran = false;
  lua_getfenv(L, di);
  lua_getfield(L, -1, "notifier");
  int nidx = lua_gettop(L);
  while (d->evh && d->running && !d->closed && d->ctx) {
    devevent *e = d->evh;
    d->evh = e->next;
    if (!d->evh) d->evt = NULL;
    ran = true;
    d->dispatched++;
    if (!lua_istable(L, nidx)) {
      free(e);
      continue;
    }
    switch (e->kind) {
    case EV_ACCEPTED:
      push_channel(L, di, e->ch);
      call_notifier(L, nidx, "socket_accepted", 1);
      break;
    case EV_MESSAGE:
      push_channel(L, di, e->ch);
      lua_pushlstring(L, e->data, e->n);
      call_notifier(L, nidx, "socket_message", 2);
      break;
    case EV_ERROR:
      lua_pushlstring(L, e->data, e->n);
      call_notifier(L, nidx, "socket_error", 1);
      break;
    case EV_UDP: {
      peer_box *p = lua_newuserdata(L, sizeof *p);
      p->d = d;
      d->refs++;
      snprintf(p->ip, sizeof p->ip, "%s", e->ip);
      p->port = e->port;
      luaL_getmetatable(L, PEER_MT);
      lua_setmetatable(L, -2);
      lua_pushlstring(L, e->data, e->n);
      call_notifier(L, nidx, "socket_message", 2);
      break;
    }
    }
    free(e);
  }
  lua_pop(L, 2);
  return ran;
}

bool emu_device_dispatch(lua_State *L, emu_ctx *ctx) {
  bool ran = false;
  lua_checkstack(L, 24);
  lua_pushlightuserdata(L, (void *)&DEVICES_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return false;
  }
  /* Collect first: a notifier may create devices (the set changes). */
  int set = lua_gettop(L), n = 0;
  lua_newtable(L);
  int todo = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, set) != 0) {
    lua_pop(L, 1);
    dev_box *b = lua_touserdata(L, -1);
    if (b && b->d && b->d->ctx == ctx && b->d->evh && b->d->running) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, todo, ++n);
    }
  }
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, todo, i);
    dev_box *b = lua_touserdata(L, -1);
    if (b->d) ran |= dispatch_one(L, lua_gettop(L), b->d);
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return ran;
}

/* ---- registration ------------------------------------------------------------------------- */

static const luaL_Reg device_methods[] = {
    {"run", dev_run}, {"stop", dev_stop}, {"wait", dev_wait}, {"close", dev_close},
    {"wait_for_connection", dev_wait_for_connection}, {"accept", dev_accept},
    {"deny", dev_deny}, {NULL, NULL},
};

static const luaL_Reg chan_methods[] = {
    {"read", ch_read}, {"write", ch_write}, {"send", ch_send}, {"change_mode", ch_change_mode},
    {"close", ch_close}, {"shutdown", ch_shutdown}, {"reset", ch_reset}, {NULL, NULL},
};

static const char *const device_blocking[] = {"wait", "wait_for_connection", NULL};
static const char *const chan_blocking[] = {"read", NULL};

/* A metatable whose __index is fn with the method table as upvalue. */
static void make_class(lua_State *L, const char *name, const luaL_Reg *methods,
                       const char *const *blocking, lua_CFunction index, lua_CFunction newindex,
                       lua_CFunction gc, lua_CFunction tostring) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_register(L, NULL, methods);
  emu_spawn_wrap(L, -1, blocking);
  lua_pushcclosure(L, index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

static int peer_newindex(lua_State *L) {
  return luaL_error(L, "client.%s is read-only", luaL_checkstring(L, 2));
}

static int peer_tostring(lua_State *L) {
  peer_box *b = lua_touserdata(L, 1);
  lua_pushfstring(L, "c4emu.udp_peer (%s:%d)", b ? b->ip : "?", b ? b->port : 0);
  return 1;
}

void emu_device_open(lua_State *L) {
  static const luaL_Reg none[] = {{NULL, NULL}};
  static const char *const no_blocking[] = {NULL};
  make_class(L, DEVICE_MT, device_methods, device_blocking, dev_index, dev_newindex, dev_gc,
             dev_tostring);
  make_class(L, CHAN_MT, chan_methods, chan_blocking, ch_index, ch_newindex, ch_gc, ch_tostring);
  make_class(L, PEER_MT, none, no_blocking, peer_index, peer_newindex, peer_gc, peer_tostring);
  lua_pushlightuserdata(L, (void *)&DEVICES_KEY);
  lua_newtable(L);
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

const luaL_Reg emu_device_methods[] = {
    {"device", d_device},
    {NULL, NULL},
};
