/*
 * emu_module.h — the spec module's driver object, shared with the files
 * that add methods to it (spec clients).
 */
#ifndef EMU_MODULE_H
#define EMU_MODULE_H

#include "emu_host.h"

typedef struct {
  emu_ctx *ctx;        /* NULL once freed */
  size_t errors_seen;  /* d:errors() marks errors up to here as seen */
} emu_mdriver;

/* Checks argument i is a driver that has not been freed. */
emu_mdriver *emu_mdriver_check(lua_State *L, int i);
const char *emu_phase_name(emu_phase p);

/*
 * Method lists other files add to the driver object (d:connect, d:udp,
 * d:servers ... in emu_specclient.c).  Each is {NULL, NULL}-terminated.
 */
extern const luaL_Reg emu_specclient_methods[];
/* issue 13: d:http_device (emu_httpdev.c) */
extern const luaL_Reg emu_httpdev_methods[];
void emu_httpdev_open(lua_State *L);

#endif
