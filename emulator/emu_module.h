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

/* issue 9 */
/* A registry table at light-userdata key `key` whose keys are weak (a set of
 * live objects), and adding the value at idx to it. */
void emu_weak_set_new(lua_State *L, const void *key);
void emu_weak_set_add(lua_State *L, const void *key, int idx);
/* Raises when called inside a settle/advance/wait (nesting is refused). */
void emu_module_check_not_nested(lua_State *L, emu_ctx *ctx, const char *what);
/* While a spec call waits on ctx: lets settling run device notifiers and
 * spawned coroutines (emu_spawn.c).  _end raises the first error one of them
 * raised meanwhile. */
void emu_spec_step_begin(lua_State *L, emu_ctx *ctx);
void emu_spec_step_end(lua_State *L, emu_ctx *ctx);
/*
 * The waits of the spec side (emu_spawn.c): true once ready(ud) holds, false
 * after timeout_ms of wall time; serves the driver's loop and the spec step
 * meanwhile.  Inside a spawned coroutine (a wrapped method) it yields
 * instead: the caller must do nothing it cannot repeat before waiting.
 */
bool emu_spec_wait(lua_State *L, emu_ctx *ctx, uint64_t timeout_ms,
                   bool (*ready)(void *ud), void *ud);
/* Protected call in the spec's state with debug.traceback as handler; no
 * results; on error the message (with traceback) is left on top. */
int emu_spec_pcall(lua_State *L, int nargs);
/* Device notifier calls running now (waiting inside one is refused). */
extern int emu_spec_notifier_depth;
/* Keeps an error of a notifier or a coroutine for the waiting spec call. */
void emu_spec_error(lua_State *L, const char *msg);
/* Replaces each named method of the table at index methods by its
 * spawn-aware wrapper (names: NULL-terminated). */
void emu_spawn_wrap(lua_State *L, int methods, const char *const *names);
/* luaopen helpers: the scheduler (module table on top), the device classes. */
void emu_spawn_open(lua_State *L);
void emu_device_open(lua_State *L);
/* The loopback address matching the driver's bind address. */
const char *emu_spec_loopback(emu_ctx *ctx);
extern const luaL_Reg emu_device_methods[];

/*
 * Calls the function on top of the driver's stack with the spec's values at
 * [first, last] as arguments; results are copied back.  A driver error is
 * raised in the spec with the driver's traceback.
 */
int emu_mdriver_call(lua_State *L, emu_ctx *ctx, int first, int last, const char *what);

/* issue 10: the Director (emu_module_director.c) */
extern const luaL_Reg emu_director_methods[];
/* issue 11: proxies and bindings (emu_module_proxy.c) */
extern const luaL_Reg emu_proxy_methods[];
/* issue 11: c4emu.project (emu_module_project.c); c4emu.load as a C function */
int emu_module_project(lua_State *L);
void emu_module_project_open(lua_State *L);
struct emu_world *emu_module_world_opt(lua_State *L, int opts); /* opts.world, or NULL */
int emu_module_load(lua_State *L);
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
/* issue 12 (emu_netspec.c): d:set_binding_address, d:net_connections,
 * d:serial and the serial endpoint class */
extern const luaL_Reg emu_netspec_methods[];
void emu_netspec_open(lua_State *L);

/* s3-apis-b: d:reflash_lock, d:reflash_lock_revoke (emu_module_reflash.c) */
extern const luaL_Reg emu_reflash_methods[];

#endif
