/*
 * emu_netspec.c — the spec side of network and serial bindings (issue 12):
 *
 *   d:set_binding_address(id, ip)   as Composer does: the address changes,
 *                                   OnNetworkBindingChanged(id, bound) runs,
 *                                   auto_connect ports reconnect; "" unbinds
 *   d:net_connections()             {{binding=, port=, type=, address=,
 *                                   status=, connects=, drops=,
 *                                   queued=}, ...}
 *   d:serial(id)                    the device's end of serial binding id (the
 *                                   pty slave): read([timeout_ms]), write(m),
 *                                   send(data), change_mode(mode [, end]),
 *                                   close(), .path, .mode — the channel API of
 *                                   README-devices.md on emu_channel.c's modes
 *
 * A serial endpoint reads its fd with a uv_poll in the driver's loop, so
 * settling sees bytes the driver wrote and the endpoint has not taken yet
 * (its busy probe).  It closes with the driver (a shutdown hook) or when
 * collected; the struct goes once both the userdata and the hook let go.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "emu_device.h"
#include "netbind/c4_netbind.h"

#define SERIAL_MT "c4emu.serial"
#define SERIAL_TIMEOUT 2000

typedef struct {
  emu_ctx *ctx;            /* NULL once the driver is gone or the endpoint closed */
  int fd;
  int refs;                /* the userdata, the shutdown hook, the open poll handle */
  uv_poll_t poll;
  emu_rxbuf rx;
  emu_framing fr;
  char path[64];
  int id;
  bool eof;
  uint64_t sent, received;   /* by this endpoint */
  uint64_t base_rx, base_tx; /* the driver side's counts when it opened */
} sendp;

typedef struct { sendp *e; } sendp_box;

static void endp_unref(sendp *e) {
  if (--e->refs > 0) return;
  free(e->rx.p);
  free(e);
}

/* Busy while bytes are on their way through the pty, either way: the
 * endpoint sent more than the driver's side read, or the driver's side wrote
 * more than the endpoint read (the kernel moves them asynchronously).  A
 * second reader of the same pty (socat) would take bytes from the endpoint:
 * then settling waits until its timeout. */
static bool endp_busy(emu_ctx *ctx, void *data) {
  sendp *e = data;
  uint64_t rx, tx;
  if (!e->ctx || !c4_serial_counts(ctx, e->id, &rx, &tx)) return false;
  return e->sent > rx - e->base_rx || tx - e->base_tx > e->received;
}

static void poll_closed(uv_handle_t *h) {
  sendp *e = h->data;
  close(e->fd);
  e->fd = -1;
  endp_unref(e);
}

static void endp_close(sendp *e) {
  if (!e->ctx) return;
  emu_busy_probe_remove(e->ctx, endp_busy, e);
  e->ctx = NULL;
  uv_poll_stop(&e->poll);
  uv_close((uv_handle_t *)&e->poll, poll_closed);
}

static void on_shutdown(emu_ctx *ctx, void *data) {
  (void)ctx;
  sendp *e = data;
  endp_close(e);
  endp_unref(e);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  sendp *e = h->data;
  if (!e->ctx || status < 0 || !(events & UV_READABLE)) return;
  emu_io_activity(e->ctx);
  char buf[4096];
  for (;;) {
    ssize_t n = read(e->fd, buf, sizeof buf);
    if (n > 0) {
      emu_rxbuf_append(&e->rx, buf, (size_t)n);
      e->received += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (n < 0 && errno != EAGAIN)) e->eof = true;
    break;
  }
}

static sendp *check_endp(lua_State *L, const char *what) {
  sendp_box *b = luaL_checkudata(L, 1, SERIAL_MT);
  if (!b->e->ctx) luaL_error(L, "%s: the serial endpoint is closed (or its driver destroyed)", what);
  return b->e;
}

/* d:serial(id) → the device's end of serial binding id */
static int d_serial(lua_State *L) {
  emu_mdriver *d = emu_mdriver_check(L, 1);
  int id = (int)luaL_checkinteger(L, 2);
  if (d->ctx->phase == EMU_PHASE_DEAD) return luaL_error(L, "d:serial: the driver has been destroyed");
  const char *path = c4_serial_path(d->ctx, id);
  if (!path)
    return luaL_error(L, "d:serial: no serial binding %d (driver.xml needs a <connection> with "
                      "id %d and a class such as RS_232)", id, id);
  int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return luaL_error(L, "d:serial: cannot open %s: %s", path, strerror(errno));
  sendp_box *b = lua_newuserdata(L, sizeof *b);
  b->e = calloc(1, sizeof *b->e);
  if (!b->e) {
    close(fd);
    return luaL_error(L, "d:serial: out of memory");
  }
  sendp *e = b->e;
  *e = (sendp){.ctx = d->ctx, .fd = fd, .refs = 3, .fr = EMU_FRAMING_DEFAULT, .id = id};
  snprintf(e->path, sizeof e->path, "%s", path);
  c4_serial_counts(d->ctx, id, &e->base_rx, &e->base_tx);
  uv_poll_init(d->ctx->loop, &e->poll, fd);
  e->poll.data = e;
  uv_poll_start(&e->poll, UV_READABLE, on_readable);
  emu_busy_probe_add(d->ctx, endp_busy, e);
  emu_on_shutdown(d->ctx, on_shutdown, e);
  luaL_getmetatable(L, SERIAL_MT);
  lua_setmetatable(L, -2);
  return 1;
}

typedef struct {
  sendp *e;
  size_t off, len, used;
  int r;
  char err[200];
} sread_ud;

static bool cond_message(void *ud) {
  sread_ud *u = ud;
  u->r = emu_rxbuf_take(&u->e->fr, &u->e->rx, &u->off, &u->len, &u->used, u->err, sizeof u->err);
  return u->r != 0 || !u->e->ctx;
}

/* s:read([timeout_ms]) → one message in the endpoint's mode */
static int s_read(lua_State *L) {
  sendp *e = check_endp(L, "serial:read");
  lua_Integer t = luaL_optinteger(L, 2, SERIAL_TIMEOUT);
  sread_ud u = {.e = e};
  emu_spec_wait(L, e->ctx, t > 0 ? (uint64_t)t : 0, cond_message, &u);
  cond_message(&u);
  if (u.r < 0) {
    e->rx.off = e->rx.len = 0;
    return luaL_error(L, "serial:read: %s", u.err);
  }
  if (u.r > 0) {
    lua_pushlstring(L, emu_rxbuf_data(&e->rx) + u.off, u.len);
    e->rx.off += u.used;
    return 1;
  }
  return luaL_error(L, "serial:read: timed out after %d ms (%d bytes buffered, wanted a message "
                    "in mode \"%s\")", (int)t, (int)emu_rxbuf_avail(&e->rx),
                    emu_framing_name(&e->fr));
}

static int write_raw(lua_State *L, sendp *e, const char *p, size_t n) {
  while (n) {   /* a pty takes a few KiB at once: small writes, as a device would */
    ssize_t w = write(e->fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      emu_loop_serve(e->ctx, 1);   /* let the driver's side read */
      continue;
    }
    if (w < 0) return luaL_error(L, "serial:write: %s", strerror(errno));
    e->sent += (uint64_t)w;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* s:write(message) — framed in the endpoint's mode */
static int s_write(lua_State *L) {
  sendp *e = check_endp(L, "serial:write");
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  emu_framing_push(L, &e->fr, p, n);
  size_t fn;
  const char *f = lua_tolstring(L, -1, &fn);
  return write_raw(L, e, f, fn);
}

/* s:send(data) — as is */
static int s_send(lua_State *L) {
  sendp *e = check_endp(L, "serial:send");
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  return write_raw(L, e, p, n);
}

/* s:change_mode(mode [, end_char]) */
static int s_change_mode(lua_State *L) {
  sendp *e = check_endp(L, "serial:change_mode");
  size_t n = 0;
  const char *endc = luaL_optlstring(L, 3, NULL, &n);
  emu_framing_set(L, "serial:change_mode", luaL_checkstring(L, 2), endc, n, &e->fr);
  return 0;
}

/* s:close() — idempotent */
static int s_close(lua_State *L) {
  sendp_box *b = luaL_checkudata(L, 1, SERIAL_MT);
  endp_close(b->e);
  return 0;
}

static int s_gc(lua_State *L) {
  sendp_box *b = luaL_checkudata(L, 1, SERIAL_MT);
  if (b->e) {
    endp_close(b->e);
    endp_unref(b->e);
    b->e = NULL;
  }
  return 0;
}

static int s_index(lua_State *L) {
  sendp_box *b = luaL_checkudata(L, 1, SERIAL_MT);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "path") == 0) lua_pushstring(L, b->e->path);
  else if (strcmp(k, "mode") == 0) lua_pushstring(L, emu_framing_name(&b->e->fr));
  else if (strcmp(k, "binding") == 0) lua_pushinteger(L, b->e->id);
  else if (strcmp(k, "is_open") == 0) lua_pushboolean(L, b->e->ctx != NULL);
  else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
  }
  return 1;
}

static int s_newindex(lua_State *L) {
  return luaL_error(L, "serial.%s is read-only", luaL_checkstring(L, 2));
}

static int s_tostring(lua_State *L) {
  sendp_box *b = luaL_checkudata(L, 1, SERIAL_MT);
  lua_pushfstring(L, "c4emu.serial (binding %d, %s)", b->e->id, b->e->path);
  return 1;
}

/* ---- network bindings ----------------------------------------------------------- */

/* d:set_binding_address(id, ip) */
static int d_set_binding_address(lua_State *L) {
  emu_mdriver *d = emu_mdriver_check(L, 1);
  int id = (int)luaL_checkinteger(L, 2);
  const char *ip = luaL_optstring(L, 3, "");
  if (d->ctx->phase == EMU_PHASE_DEAD)
    return luaL_error(L, "d:set_binding_address: the driver has been destroyed");
  char err[256];
  if (c4_netbind_set_address(d->ctx, id, ip, err, sizeof err) != 0)
    return luaL_error(L, "d:set_binding_address: %s", err);
  return 0;
}

/* d:net_connections() → {{binding=, port=, type=, address=, status=, connects=, drops=, queued=}} */
static int d_net_connections(lua_State *L) {
  emu_mdriver *d = emu_mdriver_check(L, 1);
  if (d->ctx->phase == EMU_PHASE_DEAD) lua_newtable(L);
  else c4_netbind_push_list(L, d->ctx, true);
  return 1;
}

const luaL_Reg emu_netspec_methods[] = {
    {"set_binding_address", d_set_binding_address},
    {"net_connections", d_net_connections},
    {"serial", d_serial},
    {NULL, NULL},
};

static const luaL_Reg serial_methods[] = {
    {"read", s_read}, {"write", s_write}, {"send", s_send}, {"change_mode", s_change_mode},
    {"close", s_close}, {NULL, NULL},
};

static const char *const serial_blocking[] = {"read", NULL};

void emu_netspec_open(lua_State *L) {
  emu_dev_class(L, SERIAL_MT, serial_methods, serial_blocking, s_index, s_newindex, s_gc,
                s_tostring);
}
