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

#include "emu_device.h"
#include "emu_tlsclient.h"

static const char DEVICES_KEY = 'd'; /* registry: weak set of device userdatas */


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

void emu_dev_unref(device *d) {
  if (--d->refs > 0) return;
  free_events(d);
  while (d->chans) {
    dchan *ch = d->chans;
    d->chans = ch->next;
    free(ch->rx.p);
    free(ch);
  }
  SSL_CTX_free(d->ssl);
  free(d);
}

/* The driver's reference: a shutdown hook per device.  A device collected
 * earlier has closed its sockets already; its memory waits for this. */
static void on_driver_shutdown(emu_ctx *ctx, void *data) {
  (void)ctx;
  device *d = data;
  if (d->ctx) {
    close_sockets(d);
    free_events(d);
    d->ctx = NULL;
    d->running = false;
  }
  emu_dev_unref(d);
}

/* ---- TCP events -------------------------------------------------------------- */

/* Notifier mode: every complete message becomes a socket_message call. */
static void queue_messages(dchan *ch) {
  device *d = ch->dev;
  for (;;) {
    size_t off, len, used;
    char err[200];
    int r = emu_rxbuf_take(&ch->fr, &ch->rx, &off, &len, &used, err,
                             sizeof err);
    if (r == 0) return;
    if (r < 0) {
      char msg[320];
      snprintf(msg, sizeof msg, "%s:%d: %s", ch->ip, ch->port, err);
      queue_event(d, EV_ERROR, ch, NULL, 0, msg, strlen(msg));
      ch->rx.off = ch->rx.len = 0;
      return;
    }
    queue_event(d, EV_MESSAGE, ch, NULL, 0, emu_rxbuf_data(&ch->rx) + off, len);
    ch->rx.off += used;
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
  emu_rxbuf_append(&ch->rx, p, n);
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

uint64_t emu_dev_timeout(lua_State *L, int i) {
  if (lua_isnoneornil(L, i)) return DEFAULT_TIMEOUT;
  lua_Number t = luaL_checknumber(L, i);
  luaL_argcheck(L, t >= 0 && t < 1e9, i, "timeout must be >= 0 ms");
  return (uint64_t)t;
}

void emu_dev_push_channel(lua_State *L, int di, dchan *ch) {
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
  device *d = calloc(1, sizeof *d);
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
  emu_on_shutdown(ctx, on_driver_shutdown, d);
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
  emu_weak_set_add(L, &DEVICES_KEY, -1);
  return 1;
}

static int dev_gc(lua_State *L) {
  dev_box *b = lua_touserdata(L, 1);
  if (!b || !b->d) return 0;
  device *d = b->d;
  b->d = NULL;
  if (d->ctx) {
    close_sockets(d);
    free_events(d);
    d->ctx = NULL; /* the driver's reference goes at its shutdown */
  }
  emu_dev_unref(d);
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
  uint64_t t = emu_dev_timeout(L, 2);
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
  uint64_t t = emu_dev_timeout(L, 2);
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
  emu_dev_push_channel(L, 1, ch);
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

/* ---- registration ------------------------------------------------------------------------- */

static const luaL_Reg device_methods[] = {
    {"run", dev_run}, {"stop", dev_stop}, {"wait", dev_wait}, {"close", dev_close},
    {"wait_for_connection", dev_wait_for_connection}, {"accept", dev_accept},
    {"deny", dev_deny}, {NULL, NULL},
};

static const char *const device_blocking[] = {"wait", "wait_for_connection", NULL};

void emu_dev_class(lua_State *L, const char *name, const luaL_Reg *methods,
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

void emu_dev_push_set(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&DEVICES_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
}

void emu_device_open(lua_State *L) {
  emu_dev_class(L, DEVICE_MT, device_methods, device_blocking, dev_index, dev_newindex, dev_gc,
                dev_tostring);
  emu_devchan_open(L);
  emu_weak_set_new(L, &DEVICES_KEY);
}

const luaL_Reg emu_device_methods[] = {
    {"device", d_device},
    {NULL, NULL},
};
