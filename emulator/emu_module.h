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

/*
 * Calls the function on top of the driver's stack with the spec's values at
 * [first, last] as arguments; results are copied back.  A driver error is
 * raised in the spec with the driver's traceback.
 */
int emu_mdriver_call(lua_State *L, emu_ctx *ctx, int first, int last, const char *what);

/* issue 10: the Director (emu_module_director.c) */
extern const luaL_Reg emu_director_methods[];
/* What c4emu.load's device=, controller= and devices= options declare.  The
 * strings are copies owned by the pool; emu_project_opts_free releases them. */
typedef struct {
  emu_project_decl decl;
  emu_device_decl *devices;
  char **strings;
  size_t nstrings, capstrings;
  emu_strpair **pairs;
  size_t npairs;
} emu_project_opts;
/* Reads the options table at t; raises on a malformed declaration (the pool
 * is released first). */
void emu_project_opts_read(lua_State *L, int t, emu_project_opts *o);
void emu_project_opts_free(emu_project_opts *o);

#endif
