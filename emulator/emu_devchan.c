/*
 * emu_devchan.c — the Lua side of a device's connections (see
 * emu_device.c): channels (WINDEV's read/write/change_mode/close/shutdown/
 * reset, Renoise's SocketClient send/is_open/peer_*), the UDP stand-in
 * clients, and the notifier calls queued by the sockets' callbacks, which
 * the spec step (emu_spawn.c) makes while a spec call serves the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_device.h"

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
  u->r = emu_rxbuf_take(&ch->fr, &ch->rx, &u->off, &u->len, &u->used,
                          u->err, sizeof u->err);
  return u->r != 0 || ch->done || ch->peer_closed || ch->closed_by_us || !ch->dev->ctx;
}

/* ch:read([timeout_ms]) → one message in the channel's transmission mode */
static int ch_read(lua_State *L) {
  dchan *ch = check_chan(L, "ch:read");
  uint64_t t = emu_dev_timeout(L, 2);
  read_ud u = {.ch = ch};
  emu_spec_wait(L, ch->dev->ctx, t, cond_message, &u);
  cond_message(&u);
  if (u.r < 0) {
    ch->rx.off = ch->rx.len = 0;
    return luaL_error(L, "ch:read: %s", u.err);
  }
  if (u.r > 0) {
    lua_pushlstring(L, emu_rxbuf_data(&ch->rx) + u.off, u.len);
    ch->rx.off += u.used;
    return 1;
  }
  if (ch->closed_by_us) return luaL_error(L, "ch:read: the channel is closed (ch:close())");
  if (ch->done || ch->peer_closed)
    return luaL_error(L, "ch:read: connection closed by the driver%s%s (%d bytes buffered, "
                      "wanted a message in mode \"%s\")", ch->err[0] ? ": " : "", ch->err,
                      (int)dchan_avail(ch), emu_framing_name(&ch->fr));
  return luaL_error(L, "ch:read: timed out after %d ms (%d bytes buffered, wanted a message in "
                    "mode \"%s\")", (int)t, (int)dchan_avail(ch), emu_framing_name(&ch->fr));
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
    emu_dev_unref(d);
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
    emu_dev_unref(d);
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
      emu_dev_push_channel(L, di, e->ch);
      call_notifier(L, nidx, "socket_accepted", 1);
      break;
    case EV_MESSAGE:
      emu_dev_push_channel(L, di, e->ch);
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
  emu_dev_push_set(L);
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
    /* the devices of every driver on this loop: in a project, any driver's
     * settle steps them all */
    if (b && b->d && b->d->ctx && b->d->ctx->loop == ctx->loop && b->d->evh && b->d->running) {
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

static const luaL_Reg chan_methods[] = {
    {"read", ch_read}, {"write", ch_write}, {"send", ch_send}, {"change_mode", ch_change_mode},
    {"close", ch_close}, {"shutdown", ch_shutdown}, {"reset", ch_reset}, {NULL, NULL},
};

static const char *const chan_blocking[] = {"read", NULL};

static int peer_newindex(lua_State *L) {
  return luaL_error(L, "client.%s is read-only", luaL_checkstring(L, 2));
}

static int peer_tostring(lua_State *L) {
  peer_box *b = lua_touserdata(L, 1);
  lua_pushfstring(L, "c4emu.udp_peer (%s:%d)", b ? b->ip : "?", b ? b->port : 0);
  return 1;
}

void emu_devchan_open(lua_State *L) {
  static const luaL_Reg none[] = {{NULL, NULL}};
  static const char *const no_blocking[] = {NULL};
  emu_dev_class(L, CHAN_MT, chan_methods, chan_blocking, ch_index, ch_newindex, ch_gc,
                ch_tostring);
  emu_dev_class(L, PEER_MT, none, no_blocking, peer_index, peer_newindex, peer_gc,
                peer_tostring);
}
