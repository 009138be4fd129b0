/*
 * emu_module_director.c — the spec module's side of the Director
 * (c4api/director/): the load options that declare the project and the
 * driver methods that read and poke it.
 *
 *   c4emu.load(path, {device = {id=, name=, room=},
 *                     controller = {name=, ip=, mac=},
 *                     devices = {{id=, name=, room=, c4i=, proxy=,
 *                                 variables = {NAME = "value", [1000] = "72"}}}})
 *
 *   d:variables()                  → {name = {id=, value=, type=, readonly=, hidden=}}
 *   d:set_variable(name|id, value) — as programming would: OnVariableChanged(name);
 *                                    a read-only variable raises
 *   d:device_variable(dev, var)    → value or nil (any device of the project)
 *   d:set_device_variable(dev, var, value) — another device's variable changes:
 *                                    listeners get OnWatchedVariableChanged
 *   d:events()                     → {{id=, name=, device=, time=}, ...} fired, in order
 *   d:system_event(name|id [, data [, device]]) → drivers that got OnSystemEvent
 *   d:device_event(dev, event)     → drivers that got OnDeviceEvent
 *   d:property_attribs(name)       → {hidden=, type=, list=} or nil
 *   d:ui_sent()                    → what SendDataToUI sent, in order
 *   d:ui_request(cmd [, params])   → UIRequest(cmd, params)'s results
 *   d:test_condition(name [, params]) → the driver's boolean (c4_test_condition)
 *   d:project()                    → {controller = {name=, ip=, mac=}, rooms = {...},
 *                                     devices = {{id=, name=, room=, c4i=, proxy=, parent=}}}
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "emu_module.h"
#include "c4api.h"
#include "director/c4_project.h"

#define MAX_DEVICES 256

/* ---- c4emu.load options -------------------------------------------------- */

static char *keep(emu_project_opts *o, const char *s, size_t n) {
  if (o->nstrings == o->capstrings) {
    size_t cap = o->capstrings ? o->capstrings * 2 : 16;
    char **l = realloc(o->strings, cap * sizeof *l);
    if (!l) abort();
    o->strings = l;
    o->capstrings = cap;
  }
  char *c = malloc(n + 1);
  if (!c) abort();
  memcpy(c, s, n);
  c[n] = '\0';
  return o->strings[o->nstrings++] = c;
}

void emu_project_opts_free(emu_project_opts *o) {
  for (size_t i = 0; i < o->nstrings; i++) free(o->strings[i]);
  for (size_t i = 0; i < o->npairs; i++) free(o->pairs[i]);
  free(o->strings);
  free(o->pairs);
  free(o->devices);
  memset(o, 0, sizeof *o);
}

static void fail(lua_State *L, emu_project_opts *o, const char *fmt, ...) {
  emu_project_opts_free(o);
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_error(L);
}

/* t[key] as a string copy (strings and numbers), or NULL when absent. */
static const char *field_str(lua_State *L, emu_project_opts *o, int t, const char *key,
                             const char *where) {
  lua_getfield(L, t, key);
  const char *r = NULL;
  if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    r = keep(o, s, n);
  } else if (!lua_isnil(L, -1)) {
    fail(L, o, "%s.%s must be a string, not a %s", where, key, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return r;
}

static int64_t field_id(lua_State *L, emu_project_opts *o, int t, const char *key,
                        const char *where) {
  lua_getfield(L, t, key);
  int64_t id = 0;
  if (lua_type(L, -1) == LUA_TNUMBER) {
    lua_Number n = lua_tonumber(L, -1);
    if (n < 1 || n != (lua_Number)(int64_t)n)
      fail(L, o, "%s.%s must be a positive integer", where, key);
    id = (int64_t)n;
  } else if (!lua_isnil(L, -1)) {
    fail(L, o, "%s.%s must be a number, not a %s", where, key, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return id;
}

/* room = "Kitchen" or room = 12 (an id). */
static void read_room(lua_State *L, emu_project_opts *o, int t, emu_device_decl *d,
                      const char *where) {
  lua_getfield(L, t, "room");
  int type = lua_type(L, -1);
  lua_pop(L, 1);
  if (type == LUA_TNUMBER) d->room_id = field_id(L, o, t, "room", where);
  else d->room = field_str(L, o, t, "room", where);
}

static void read_device(lua_State *L, emu_project_opts *o, int t, emu_device_decl *d,
                        const char *where) {
  d->id = field_id(L, o, t, "id", where);
  d->name = field_str(L, o, t, "name", where);
  read_room(L, o, t, d, where);
  d->c4i = field_str(L, o, t, "c4i", where);
  d->proxy = field_str(L, o, t, "proxy", where);
  lua_getfield(L, t, "variables");
  if (lua_istable(L, -1)) {
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) n++, lua_pop(L, 1);
    emu_strpair *pairs = calloc(n ? n : 1, sizeof *pairs);
    if (!pairs) abort();
    emu_strpair **l = realloc(o->pairs, (o->npairs + 1) * sizeof *l);
    if (!l) abort();
    o->pairs = l;
    o->pairs[o->npairs++] = pairs;
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      int kt = lua_type(L, -2), vt = lua_type(L, -1);
      if ((kt != LUA_TSTRING && kt != LUA_TNUMBER) || (vt != LUA_TSTRING && vt != LUA_TNUMBER))
        fail(L, o, "%s.variables: names and values must be strings or numbers", where);
      size_t kl, vl;
      lua_pushvalue(L, -2); /* tostring must not convert the table's own key */
      const char *k = lua_tolstring(L, -1, &kl);
      pairs[i].name = keep(o, k, kl);
      lua_pop(L, 1);
      const char *v = lua_tolstring(L, -1, &vl);
      pairs[i++].value = keep(o, v, vl);
      lua_pop(L, 1);
    }
    d->vars = pairs;
    d->nvars = i;
  } else if (!lua_isnil(L, -1)) {
    fail(L, o, "%s.variables must be a table", where);
  }
  lua_pop(L, 1);
}

void emu_project_opts_read(lua_State *L, int t, emu_project_opts *o) {
  memset(o, 0, sizeof *o);
  lua_getfield(L, t, "device");
  if (lua_istable(L, -1)) read_device(L, o, lua_gettop(L), &o->decl.self, "device");
  else if (!lua_isnil(L, -1)) fail(L, o, "device must be a table, not a %s", luaL_typename(L, -1));
  lua_pop(L, 1);
  lua_getfield(L, t, "controller");
  if (lua_istable(L, -1)) {
    int c = lua_gettop(L);
    o->decl.controller_name = field_str(L, o, c, "name", "controller");
    o->decl.controller_ip = field_str(L, o, c, "ip", "controller");
    o->decl.controller_mac = field_str(L, o, c, "mac", "controller");
  } else if (!lua_isnil(L, -1)) {
    fail(L, o, "controller must be a table, not a %s", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  lua_getfield(L, t, "devices");
  if (lua_istable(L, -1)) {
    int list = lua_gettop(L);
    size_t n = lua_objlen(L, list);
    if (n > MAX_DEVICES) fail(L, o, "devices: at most %d devices", MAX_DEVICES);
    o->devices = calloc(n ? n : 1, sizeof *o->devices);
    if (!o->devices) abort();
    for (size_t i = 0; i < n; i++) {
      char where[32];
      snprintf(where, sizeof where, "devices[%zu]", i + 1);
      lua_rawgeti(L, list, (int)i + 1);
      if (!lua_istable(L, -1)) fail(L, o, "%s must be a table", where);
      read_device(L, o, lua_gettop(L), &o->devices[i], where);
      lua_pop(L, 1);
    }
    o->decl.devices = o->devices;
    o->decl.ndevices = n;
  } else if (!lua_isnil(L, -1)) {
    fail(L, o, "devices must be a list of tables, not a %s", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

/* ---- driver methods ---------------------------------------------------------- */

/* t.key = value for the table on top of the stack. */
static void set_num(lua_State *L, const char *key, lua_Number v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, key);
}

static void set_str(lua_State *L, const char *key, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, key);
}

static void set_bool(lua_State *L, const char *key, bool v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, key);
}

static emu_ctx *ctx_of(lua_State *L) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  if (!ctx->project) luaL_error(L, "the driver has no project");
  return ctx;
}

static emu_ctx *live(lua_State *L) {
  emu_ctx *ctx = ctx_of(L);
  if (ctx->phase == EMU_PHASE_DEAD) luaL_error(L, "the driver has been destroyed (d:destroy())");
  return ctx;
}

/* d:variables() → {name = {id=, value=, type=, readonly=, hidden=}} */
static int d_variables(lua_State *L) {
  c4_device *self = ctx_of(L)->project->self;
  lua_createtable(L, 0, (int)self->nvars);
  for (size_t i = 0; i < self->nvars; i++) {
    c4_var_push(L, &self->vars[i]);
    lua_setfield(L, -2, self->vars[i].name);
  }
  return 1;
}

static const char *value_arg(lua_State *L, int i) {
  if (lua_type(L, i) == LUA_TBOOLEAN) return lua_toboolean(L, i) ? "1" : "0";
  return luaL_checkstring(L, i);
}

/* Sets var of device dev as someone other than its driver would. */
static int set_from_outside(lua_State *L, emu_ctx *ctx, c4_device *d, c4_var *v, int value_idx) {
  const char *value = value_arg(L, value_idx);
  char why[256];
  if (!c4_var_set_programming(ctx->project, d, v, value, why, sizeof why))
    return luaL_error(L, "%s", why);
  return 0;
}

/* d:set_variable(name|id, value) */
static int d_set_variable(lua_State *L) {
  emu_ctx *ctx = live(L);
  c4_device *self = ctx->project->self;
  c4_var *v = lua_type(L, 2) == LUA_TNUMBER ? c4_var_by_id(self, (int64_t)lua_tonumber(L, 2))
                                            : c4_var_by_name(self, luaL_checkstring(L, 2));
  if (!v) return luaL_error(L, "the driver has no variable '%s'", lua_tostring(L, 2));
  return set_from_outside(L, ctx, self, v, 3);
}

/* d:device_variable(dev, var) → value or nil */
static int d_device_variable(lua_State *L) {
  emu_ctx *ctx = ctx_of(L);
  c4_device *d = c4_project_device(ctx->project, (int64_t)luaL_checknumber(L, 2));
  c4_var *v = c4_var_by_id(d, (int64_t)luaL_checknumber(L, 3));
  if (!v) return 0;
  lua_pushstring(L, v->value);
  return 1;
}

/* d:set_device_variable(dev, var, value) */
static int d_set_device_variable(lua_State *L) {
  emu_ctx *ctx = live(L);
  c4_device *d = c4_project_device(ctx->project, (int64_t)luaL_checknumber(L, 2));
  if (!d) return luaL_error(L, "the project has no device %s", lua_tostring(L, 2));
  c4_var *v = c4_var_by_id(d, (int64_t)luaL_checknumber(L, 3));
  if (!v) return luaL_error(L, "device %s has no variable %s", lua_tostring(L, 2),
                            lua_tostring(L, 3));
  return set_from_outside(L, ctx, d, v, 4);
}

/* d:events() → {{id=, name=, device=, time=}, ...} */
static int d_events(lua_State *L) {
  c4_project *p = ctx_of(L)->project;
  lua_createtable(L, (int)p->nfired, 0);
  for (size_t i = 0; i < p->nfired; i++) {
    lua_createtable(L, 0, 4);
    set_num(L, "id", (lua_Number)p->fired[i].id);
    set_str(L, "name", p->fired[i].name);
    set_num(L, "device", (lua_Number)p->fired[i].device);
    set_num(L, "time", (lua_Number)p->fired[i].ms);
    lua_rawseti(L, -2, (int)i + 1);
  }
  return 1;
}

/* d:system_event(name|id [, data [, device]]) → how many drivers got it */
static int d_system_event(lua_State *L) {
  emu_ctx *ctx = live(L);
  int64_t id;
  if (lua_type(L, 2) == LUA_TNUMBER) id = (int64_t)lua_tonumber(L, 2);
  else if (!c4_system_event_id(luaL_checkstring(L, 2), &id))
    return luaL_error(L, "'%s' is not in C4SystemEvents", lua_tostring(L, 2));
  const char *data = luaL_optstring(L, 3, "");
  int64_t device = (int64_t)luaL_optnumber(L, 4, 0);
  lua_pushinteger(L, c4_system_event(ctx->project, id, device, data));
  return 1;
}

/* d:device_event(dev, event) → how many drivers got it */
static int d_device_event(lua_State *L) {
  emu_ctx *ctx = live(L);
  int64_t dev = (int64_t)luaL_checknumber(L, 2), ev = (int64_t)luaL_checknumber(L, 3);
  lua_pushinteger(L, c4_device_event(ctx->project, dev, ev));
  return 1;
}

/* d:property_attribs(name) → {hidden=, type=, list=} or nil */
static int d_property_attribs(lua_State *L) {
  c4_project *p = ctx_of(L)->project;
  const char *name = luaL_checkstring(L, 2);
  for (size_t i = 0; i < p->nprops; i++) {
    if (strcmp(p->props[i].name, name) != 0) continue;
    lua_createtable(L, 0, 3);
    set_bool(L, "hidden", p->props[i].hidden);
    set_str(L, "type", p->props[i].type);
    set_str(L, "list", p->props[i].value_list);
    return 1;
  }
  return 0;
}

/* d:ui_sent() → {text, ...} */
static int d_ui_sent(lua_State *L) {
  c4_project *p = ctx_of(L)->project;
  lua_createtable(L, (int)p->nui, 0);
  for (size_t i = 0; i < p->nui; i++) {
    lua_pushstring(L, p->ui_sent[i]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  return 1;
}

/* Calls global fn(name, params or {}) in the driver. */
static int entry_point(lua_State *L, const char *fn) {
  emu_ctx *ctx = live(L);
  luaL_checkstring(L, 2);
  if (lua_isnoneornil(L, 3)) {
    lua_settop(L, 2);
    lua_newtable(L);
  }
  lua_settop(L, 3);
  if (!emu_push_global_fn(ctx, fn)) return luaL_error(L, "the driver has no %s function", fn);
  return emu_mdriver_call(L, ctx, 2, 3, fn);
}

/* d:ui_request(cmd [, params]) → UIRequest's results */
static int d_ui_request(lua_State *L) { return entry_point(L, "UIRequest"); }

/* d:test_condition(name [, params]) → the driver's answer, a boolean
 * (c4_test_condition: params as programming passes them, as strings) */
static int d_test_condition(lua_State *L) {
  emu_ctx *ctx = live(L);
  const char *name = luaL_checkstring(L, 2);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  if (lua_isnoneornil(L, 3)) lua_newtable(ctx->L);
  else if (emu_lua_copy(L, 3, ctx->L) != 0) {
    lua_pushstring(L, lua_tostring(ctx->L, -1));
    lua_pop(ctx->L, 1);
    return lua_error(L);
  }
  bool result = false;
  int rc = c4_test_condition(ctx, name, &result);
  if (rc == -1) return luaL_error(L, "the driver has no TestCondition function");
  if (rc != 0) return luaL_error(L, "driver error in TestCondition('%s') (logged; see d:errors())", name);
  lua_pushboolean(L, result);
  return 1;
}

/* d:project() → {controller=, rooms={{id=, name=}}, devices={{id=, name=, room=, c4i=, proxy=, parent=}}} */
static int d_project(lua_State *L) {
  c4_project *p = ctx_of(L)->project;
  lua_createtable(L, 0, 3);
  lua_createtable(L, 0, 3);
  set_str(L, "name", p->controller_name);
  set_str(L, "ip", p->controller_ip);
  set_str(L, "mac", p->controller_mac);
  lua_setfield(L, -2, "controller");
  lua_createtable(L, (int)p->model->nrooms, 0);
  for (size_t i = 0; i < p->model->nrooms; i++) {
    lua_createtable(L, 0, 2);
    set_num(L, "id", (lua_Number)p->model->rooms[i].id);
    set_str(L, "name", p->model->rooms[i].name);
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "rooms");
  lua_createtable(L, (int)p->model->ndevices, 0);
  for (size_t i = 0; i < p->model->ndevices; i++) {
    const c4_device *d = p->model->devices[i];
    lua_createtable(L, 0, 6);
    set_num(L, "id", (lua_Number)d->id);
    set_str(L, "name", d->name);
    set_num(L, "room", (lua_Number)d->room_id);
    set_str(L, "c4i", d->c4i);
    if (d->proxy_type) {
      set_str(L, "proxy", d->proxy_type);
    }
    if (d->parent_id) {
      set_num(L, "parent", (lua_Number)d->parent_id);
    }
    set_bool(L, "hosted", d->ctx != NULL);
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "devices");
  return 1;
}

const luaL_Reg emu_director_methods[] = {
    {"variables", d_variables},
    {"set_variable", d_set_variable},
    {"device_variable", d_device_variable},
    {"set_device_variable", d_set_device_variable},
    {"events", d_events},
    {"system_event", d_system_event},
    {"device_event", d_device_event},
    {"property_attribs", d_property_attribs},
    {"ui_sent", d_ui_sent},
    {"ui_request", d_ui_request},
    {"test_condition", d_test_condition},
    {"project", d_project},
    {NULL, NULL},
};
