/*
 * emu_module_project.c — c4emu.project(path_or_table [, opts]): several
 * drivers in one project, on one loop and one clock (emu_world.c).
 *
 *   local p = c4emu.project("project.lua", {os = "3.3.1"})
 *   p.drivers.tv                  -- an ordinary d: every d: method works
 *   p:init([dit])                 -- each OnDriverInit, the project's bindings, each OnDriverLateInit
 *   p:advance(ms), p:settle([timeout_ms]), p:destroy()   -- act on all
 *   p:bind(consumer, id, provider, id), p:unbind(...)    -- OnBindingChanged on both sides
 *
 * The project file is a plain Lua table (README-projects.md):
 *   return { drivers = { tv = {path=, room=, id=, properties=} ... },
 *            bindings = { {"room", 1, "tv", 1} } }   -- consumer, id, provider, id
 * Paths are relative to the project file.  Drivers are loaded in the order
 * of their names; each gets device id 100, 110, 120, ... unless it says, and
 * sees the others as devices of the project.  opts are c4emu.load's, for
 * every driver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_module.h"
#include "c4api.h"
#include "director/c4_bindings.h"

#define WORLD_MT "c4emu.world"
#define PROJECT_MT "c4emu.project"
#define MAX_DRIVERS 64

typedef struct {
  emu_world *w;
} world_ud;

/* Lua 5.2's luaL_testudata: the userdata at i if its metatable is mt, else NULL. */
static void *testudata(lua_State *L, int i, const char *mt) {
  void *p = lua_touserdata(L, i);
  if (!p || !lua_getmetatable(L, i)) return NULL;
  luaL_getmetatable(L, mt);
  bool same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}

static int world_gc(lua_State *L) {
  world_ud *u = luaL_checkudata(L, 1, WORLD_MT);
  emu_world_release(u->w);
  u->w = NULL;
  return 0;
}

emu_world *emu_module_world_opt(lua_State *L, int opts) {
  lua_getfield(L, opts, "world");
  emu_world *w = NULL;
  if (!lua_isnil(L, -1)) {
    world_ud *u = testudata(L, -1, WORLD_MT);
    if (!u || !u->w) luaL_error(L, "c4emu.load: world is set by c4emu.project only");
    w = u->w;
  }
  lua_pop(L, 1);
  return w;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The driver d of project p (at index pi) named by argument i. */
static emu_ctx *driver_arg(lua_State *L, int pi, int i) {
  const char *name = luaL_checkstring(L, i);
  lua_getfield(L, pi, "drivers");
  lua_getfield(L, -1, name);
  emu_mdriver *d = testudata(L, -1, "c4emu.driver");
  lua_pop(L, 2);
  if (!d || !d->ctx) luaL_error(L, "the project has no driver '%s'", name);
  return d->ctx;
}

/* The drivers of p (at pi) in load order: pushes each d in turn to fn. */
static int each_driver(lua_State *L, int pi, bool reverse, void (*fn)(lua_State *L, emu_ctx *ctx,
                       int d, void *ud), void *ud) {
  lua_getfield(L, pi, "order");
  int order = lua_gettop(L);
  int n = (int)lua_objlen(L, order);
  lua_getfield(L, pi, "drivers");
  int drivers = lua_gettop(L);
  for (int k = 0; k < n; k++) {
    lua_rawgeti(L, order, reverse ? n - k : k + 1);
    lua_gettable(L, drivers);
    emu_mdriver *d = testudata(L, -1, "c4emu.driver");
    if (d && d->ctx) fn(L, d->ctx, lua_gettop(L), ud);
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return n;
}

static void call_method(lua_State *L, int d, const char *method, int nargs_from, int nargs) {
  lua_getfield(L, d, method);
  lua_pushvalue(L, d);
  for (int i = 0; i < nargs; i++) lua_pushvalue(L, nargs_from + i);
  lua_call(L, nargs + 1, 0);
}

static void init_one(lua_State *L, emu_ctx *ctx, int d, void *ud) {
  (void)L; (void)d;
  emu_call_lifecycle(ctx, "OnDriverInit", EMU_PHASE_INIT, ud);
}

static void late_one(lua_State *L, emu_ctx *ctx, int d, void *ud) {
  (void)L; (void)d;
  emu_call_lifecycle(ctx, "OnDriverLateInit", EMU_PHASE_LATEINIT, ud);
  emu_driver_running(ctx);
}

/* p:init([dit]) — §7.1 for a project: every driver's OnDriverInit, then the
 * project's bindings (OnBindingChanged), then every OnDriverLateInit.  The
 * DIT is DIT_STARTUP: a project file is a project that exists, so this is
 * Director starting with it. */
static int p_init(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *dit = luaL_optstring(L, 2, "DIT_STARTUP");
  each_driver(L, 1, false, init_one, (void *)dit);
  lua_getfield(L, 1, "bindings");
  int bt = lua_gettop(L);
  for (int i = 1; i <= (int)lua_objlen(L, bt); i++) {
    lua_rawgeti(L, bt, i);
    int b = lua_gettop(L);
    for (int k = 1; k <= 4; k++) lua_rawgeti(L, b, k);
    emu_ctx *c = driver_arg(L, 1, b + 1), *pr = driver_arg(L, 1, b + 3);
    char why[200];
    if (c4_binding_bind_pair(c, (int)lua_tointeger(L, b + 2), pr, (int)lua_tointeger(L, b + 4), true, why,
                  sizeof why))
      return luaL_error(L, "p:init: bindings[%d]: %s", i, why);
    lua_settop(L, bt);
  }
  lua_settop(L, 2);
  each_driver(L, 1, false, late_one, (void *)dit);
  return 0;
}

/* The first live driver of p pushed, or raises. */
static int push_first(lua_State *L) {
  lua_getfield(L, 1, "order");
  int order = lua_gettop(L);
  lua_getfield(L, 1, "drivers");
  for (int k = 1; k <= (int)lua_objlen(L, order); k++) {
    lua_rawgeti(L, order, k);
    lua_gettable(L, order + 1);
    emu_mdriver *d = testudata(L, -1, "c4emu.driver");
    if (d && d->ctx && d->ctx->phase != EMU_PHASE_DEAD) {
      lua_replace(L, order);
      lua_settop(L, order);
      return order;
    }
    lua_pop(L, 1);
  }
  return luaL_error(L, "the project has no live driver");
}

/* p:advance(ms) — the one clock moves; every driver's timers fire in order */
static int p_advance(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checknumber(L, 2);
  int d = push_first(L);
  call_method(L, d, "advance", 2, 1);
  return 0;
}

static void settle_one(lua_State *L, emu_ctx *ctx, int d, void *ud) {
  (void)ctx;
  call_method(L, d, "settle", *(int *)ud, 1);
}

/* p:settle([timeout_ms]) — until every driver is quiet and no message
 * between them is due (chains are bounded: EMU_MAX_MESSAGE_HOPS). */
static int p_settle(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_pushinteger(L, 5000);
  }
  lua_settop(L, 2);
  int targ = 2;
  for (int round = 0; round < 4 * EMU_MAX_MESSAGE_HOPS + 8; round++) {
    each_driver(L, 1, false, settle_one, &targ);
    int d = push_first(L);
    emu_ctx *ctx = emu_mdriver_check(L, d)->ctx;
    uint64_t due;
    if (!emu_clock_next_due(ctx, &due) || due > emu_now(ctx)) return 0;
    lua_pushinteger(L, 0);
    call_method(L, d, "advance", lua_gettop(L), 1);
    lua_settop(L, 2);
  }
  return luaL_error(L, "p:settle: messages between drivers never stopped");
}

static void destroy_one(lua_State *L, emu_ctx *ctx, int d, void *ud) {
  (void)ctx; (void)ud;
  call_method(L, d, "destroy", 0, 0);
}

/* p:destroy() — every driver's OnDriverDestroyed, last loaded first */
static int p_destroy(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  each_driver(L, 1, true, destroy_one, NULL);
  return 0;
}

static int bind_or_unbind(lua_State *L, bool bind) {
  luaL_checktype(L, 1, LUA_TTABLE);
  emu_ctx *c = driver_arg(L, 1, 2), *pr = driver_arg(L, 1, 4);
  int cid = (int)luaL_checkinteger(L, 3), pid = (int)luaL_checkinteger(L, 5);
  char why[200];
  if (c4_binding_bind_pair(c, cid, pr, pid, bind, why, sizeof why))
    return luaL_error(L, "%s: %s", bind ? "p:bind" : "p:unbind", why);
  return 0;
}

/* p:bind(consumer, id, provider, id) */
static int p_bind(lua_State *L) { return bind_or_unbind(L, true); }

/* p:unbind(consumer, id, provider, id) */
static int p_unbind(lua_State *L) { return bind_or_unbind(L, false); }

static const luaL_Reg project_methods[] = {
    {"init", p_init},     {"advance", p_advance}, {"settle", p_settle},
    {"destroy", p_destroy}, {"bind", p_bind},     {"unbind", p_unbind},
    {NULL, NULL},
};

void emu_module_project_open(lua_State *L) {
  emu_class_new(L, WORLD_MT, NULL, world_gc, NULL);
  lua_pop(L, 1);
  emu_class_new(L, PROJECT_MT, project_methods, NULL, NULL);
  lua_pop(L, 1);
}

/* Copies the fields of the table at src into the table at dst. */
static void copy_fields(lua_State *L, int src, int dst) {
  lua_pushnil(L);
  while (lua_next(L, src)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, dst);
  }
}

/* c4emu.project(path_or_table [, opts]) → p */
static int project_load(lua_State *L) {
  const char *dir = ".";
  char dirbuf[4096];
  if (lua_type(L, 1) == LUA_TSTRING) {
    const char *path = lua_tostring(L, 1);
    if (luaL_loadfile(L, path) != 0 || lua_pcall(L, 0, 1, 0) != 0)
      return luaL_error(L, "c4emu.project: %s", lua_tostring(L, -1));
    if (!lua_istable(L, -1))
      return luaL_error(L, "c4emu.project: %s must return a table, not %s", path,
                        luaL_typename(L, -1));
    lua_replace(L, 1);
    const char *slash = strrchr(path, '/');
    if (slash) {
      snprintf(dirbuf, sizeof dirbuf, "%.*s", (int)(slash - path), path);
      dir = dirbuf;
    }
  } else if (!lua_istable(L, 1)) {
    return luaL_argerror(L, 1, "a project file's path or a project table expected");
  }
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  static const char *const per_driver[] = {"device", "devices", "properties", "world", "name", NULL};
  for (int i = 0; per_driver[i]; i++) {
    lua_getfield(L, 2, per_driver[i]);
    bool set = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (set)
      return luaL_error(L, "c4emu.project: opts.%s is per driver: set it in the project "
                        "(drivers.x.id / room / properties); the other drivers are its devices",
                        per_driver[i]);
  }
  lua_getfield(L, 1, "drivers");          /* 3 */
  if (!lua_istable(L, 3)) return luaL_error(L, "c4emu.project: drivers must be a table");
  const char *names[MAX_DRIVERS];
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, 3)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "c4emu.project: drivers must be named (drivers = {tv = {...}})");
    if (n == MAX_DRIVERS) return luaL_error(L, "c4emu.project: more than %d drivers", MAX_DRIVERS);
    names[n++] = lua_tostring(L, -1);   /* the key stays in the table: the string lives */
  }
  if (n == 0) return luaL_error(L, "c4emu.project: drivers is empty");
  qsort(names, (size_t)n, sizeof *names, name_cmp);
  lua_getfield(L, 1, "bindings");         /* 4 */
  if (!lua_isnil(L, 4) && !lua_istable(L, 4))
    return luaL_error(L, "c4emu.project: bindings must be a list of {consumer, id, provider, id}");
  if (lua_isnil(L, 4)) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  int64_t ids[MAX_DRIVERS];
  for (int k = 0; k < n; k++) {
    lua_getfield(L, 3, names[k]);
    if (!lua_istable(L, -1)) return luaL_error(L, "c4emu.project: drivers.%s must be a table", names[k]);
    lua_getfield(L, -1, "path");
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "c4emu.project: drivers.%s.path must be a string", names[k]);
    lua_getfield(L, -2, "id");
    ids[k] = lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1) : 100 + 10 * k;
    lua_pop(L, 3);
  }
  /* the world: one loop, one clock */
  lua_getfield(L, 2, "clock");
  bool virtual_clock = !(lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "real") == 0);
  lua_pop(L, 1);
  world_ud *u = lua_newuserdata(L, sizeof *u);   /* 5 */
  u->w = NULL;
  luaL_getmetatable(L, WORLD_MT);
  lua_setmetatable(L, -2);
  u->w = emu_world_new(virtual_clock, false, 0);
  /* p */
  lua_newtable(L);                        /* 6 */
  luaL_getmetatable(L, PROJECT_MT);
  lua_setmetatable(L, 6);
  lua_pushvalue(L, 5);
  lua_setfield(L, 6, "world");
  lua_pushvalue(L, 4);
  lua_setfield(L, 6, "bindings");
  lua_createtable(L, n, 0);
  for (int k = 0; k < n; k++) {
    lua_pushstring(L, names[k]);
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, 6, "order");
  lua_newtable(L);                        /* 7: p.drivers */
  lua_pushvalue(L, 7);
  lua_setfield(L, 6, "drivers");
  for (int k = 0; k < n; k++) {
    lua_getfield(L, 3, names[k]);
    int dt = lua_gettop(L);
    lua_pushcfunction(L, emu_module_load);
    lua_getfield(L, dt, "path");
    const char *path = lua_tostring(L, -1);
    if (path[0] != '/') {
      lua_pushfstring(L, "%s/%s", dir, path);
      lua_replace(L, -2);
    }
    lua_newtable(L);
    int o = lua_gettop(L);
    copy_fields(L, 2, o);
    lua_createtable(L, 0, 3);             /* device = {id=, name=, room=} */
    lua_pushnumber(L, (lua_Number)ids[k]);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, names[k]);          /* one name for the device, whoever asks */
    lua_setfield(L, -2, "name");
    lua_getfield(L, dt, "room");
    lua_setfield(L, -2, "room");
    lua_setfield(L, o, "device");
    lua_getfield(L, dt, "properties");
    lua_setfield(L, o, "properties");
    lua_createtable(L, n - 1, 0);         /* devices: the other drivers */
    for (int j = 0, m = 0; j < n; j++) {
      if (j == k) continue;
      lua_createtable(L, 0, 2);
      lua_pushnumber(L, (lua_Number)ids[j]);
      lua_setfield(L, -2, "id");
      lua_pushstring(L, names[j]);
      lua_setfield(L, -2, "name");
      lua_getfield(L, 3, names[j]);
      lua_getfield(L, -1, "room");
      lua_setfield(L, -3, "room");
      lua_pop(L, 1);
      lua_rawseti(L, -2, ++m);
    }
    lua_setfield(L, o, "devices");
    lua_pushvalue(L, 5);
    lua_setfield(L, o, "world");
    lua_pushstring(L, names[k]);
    lua_setfield(L, o, "name");
    if (lua_pcall(L, 2, 1, 0) != 0)
      return luaL_error(L, "c4emu.project: driver '%s': %s", names[k], lua_tostring(L, -1));
    lua_setfield(L, 7, names[k]);
    lua_settop(L, 7);
  }
  /* the bindings name drivers and binding ids that exist */
  for (int i = 1; i <= (int)lua_objlen(L, 4); i++) {
    lua_rawgeti(L, 4, i);
    int b = lua_gettop(L);
    bool ok = lua_istable(L, b);
    for (int k = 1; ok && k <= 4; k++) {
      lua_rawgeti(L, b, k);
      ok = (k % 2 == 1) ? lua_type(L, -1) == LUA_TSTRING : lua_isnumber(L, -1);
    }
    if (!ok) return luaL_error(L, "c4emu.project: bindings[%d] must be {consumer, id, provider, id}", i);
    for (int k = 1; k <= 3; k += 2) {
      lua_getfield(L, 7, lua_tostring(L, b + k));
      emu_mdriver *d = testudata(L, -1, "c4emu.driver");
      if (!d) return luaL_error(L, "c4emu.project: bindings[%d]: no driver '%s'", i,
                                lua_tostring(L, b + k));
      if (!c4_binding_find(d->ctx, (int)lua_tointeger(L, b + k + 1)))
        return luaL_error(L, "c4emu.project: bindings[%d]: driver '%s' has no binding %d", i,
                          lua_tostring(L, b + k), (int)lua_tointeger(L, b + k + 1));
      lua_pop(L, 1);
    }
    lua_settop(L, 7);
  }
  lua_pushvalue(L, 6);
  return 1;
}

int emu_module_project(lua_State *L) { return project_load(L); }
