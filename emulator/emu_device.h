/*
 * emu_device.h — private to the fake devices (emu_device.c: devices,
 * sockets, d:device; emu_devchan.c: channels, UDP stand-ins, notifier
 * calls).  See emu_device.c for the lifetime rules.
 */
#ifndef EMU_DEVICE_H
#define EMU_DEVICE_H

#include "emu_module.h"
#include "emu_channel.h"
#include "net/c4_conn.h"

#define DEVICE_MT "c4emu.device"
#define CHAN_MT "c4emu.channel"
#define PEER_MT "c4emu.udp_peer"
#define TRACK_KIND "spec-device"
#define DEFAULT_TIMEOUT 2000

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
  emu_rxbuf rx;
} dchan;

struct device {
  emu_ctx *ctx;              /* NULL once the driver is gone */
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

static inline size_t dchan_avail(const dchan *ch) { return emu_rxbuf_avail(&ch->rx); }

/* Drops one reference (userdata, driver, channel or stand-in userdata). */
void emu_dev_unref(device *d);
/* Pushes the channel userdata of ch (the same object each time); the device
 * userdata is at index di. */
void emu_dev_push_channel(lua_State *L, int di, dchan *ch);
/* The optional timeout argument i (default DEFAULT_TIMEOUT). */
uint64_t emu_dev_timeout(lua_State *L, int i);
/* A metatable whose __index is `index` with the method table (blocking
 * methods wrapped for c4emu.spawn) as upvalue. */
void emu_dev_class(lua_State *L, const char *name, const luaL_Reg *methods,
                   const char *const *blocking, lua_CFunction index, lua_CFunction newindex,
                   lua_CFunction gc, lua_CFunction tostring);
/* Pushes the registry's weak set of device userdatas. */
void emu_dev_push_set(lua_State *L);
/* The channel and stand-in classes (emu_devchan.c). */
void emu_devchan_open(lua_State *L);

#endif
