/*
 * emu_module_proxy.c — the spec module's side of proxies and bindings
 * (c4api/director/c4_proxy.c, c4_bindings.c):
 *
 *   d:proxy_messages([binding])  → {{binding=, command=, params=, kind=, time=}, ...}
 *                                  what C4:SendToProxy sent, in order; params is
 *                                  the table sent (strings) or the string param
 *   d:device_messages([device]) → {{device=, command=, params=, time=}}: SendToDevice's
 *   d:from_proxy(binding, cmd [, params]) → ReceivedFromProxy(binding, cmd, params)'s
 *                                  results, as the proxy bound there would call it
 *   d:bind(binding, device, other_binding)   — Composer makes a connection:
 *   d:unbind(binding, device, other_binding)   OnBindingChanged for a CONTROL binding
 *   d:bindings()                 → {{id=, name=, class=, type=, provider=, dynamic=,
 *                                    hidden=, bound = {{device=, binding=}}}}
 */
#include <string.h>

#include "emu_module.h"
#include "c4api.h"
#include "director/c4_bindings.h"

static emu_ctx *live(lua_State *L) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  if (!ctx->project) luaL_error(L, "the driver has no project");
  if (ctx->phase == EMU_PHASE_DEAD) luaL_error(L, "the driver has been destroyed (d:destroy())");
  return ctx;
}

static int binding_arg(lua_State *L, int i) {
  lua_Integer id = luaL_checkinteger(L, i);
  luaL_argcheck(L, id > 0 && id < 1000000, i, "binding id out of range");
  return (int)id;
}

/* The messages recorded: SendToProxy's (device false) or SendToDevice's. */
static int messages(lua_State *L, bool device) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  if (!ctx->project) return luaL_error(L, "the driver has no project");
  lua_Integer only = lua_isnoneornil(L, 2) ? 0 : luaL_checkinteger(L, 2);
  c4_bindings *b = c4_bindings_of(ctx);
  lua_newtable(L);
  int n = 0;
  for (size_t i = 0; i < b->nmsgs; i++) {
    const c4_proxy_msg *m = &b->msgs[i];
    if ((m->device != 0) != device) continue;
    if (only && (device ? m->device : m->binding) != only) continue;
    lua_createtable(L, 0, 5);
    if (device) {
      lua_pushnumber(L, (lua_Number)m->device);
      lua_setfield(L, -2, "device");
    } else {
      lua_pushinteger(L, m->binding);
      lua_setfield(L, -2, "binding");
    }
    lua_pushstring(L, m->command);
    lua_setfield(L, -2, "command");
    if (m->str_param) {
      lua_pushstring(L, m->str_param);
    } else {
      lua_createtable(L, 0, (int)m->nparams);
      for (size_t k = 0; k < m->nparams; k++) {
        lua_pushstring(L, m->params[k].value);
        lua_setfield(L, -2, m->params[k].key);
      }
    }
    lua_setfield(L, -2, "params");
    if (!device) {
      lua_pushstring(L, m->notify ? "NOTIFY" : "COMMAND");
      lua_setfield(L, -2, "kind");
    }
    lua_pushnumber(L, (lua_Number)m->ms);
    lua_setfield(L, -2, "time");
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* d:proxy_messages([binding]) */
static int d_proxy_messages(lua_State *L) { return messages(L, false); }

/* d:device_messages([device]) → {{device=, command=, params=, time=}}: SendToDevice's */
static int d_device_messages(lua_State *L) { return messages(L, true); }

/* d:from_proxy(binding, cmd [, params]) */
static int d_from_proxy(lua_State *L) {
  emu_ctx *ctx = live(L);
  int id = binding_arg(L, 2);
  luaL_checkstring(L, 3);
  if (lua_isnoneornil(L, 4)) {
    lua_settop(L, 3);
    lua_newtable(L);
  }
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  if (!c4_binding_find(ctx, id)) c4_binding_warn_undeclared(ctx, id, "d:from_proxy");
  if (!emu_push_global_fn(ctx, "ReceivedFromProxy"))
    return luaL_error(L, "the driver has no ReceivedFromProxy function");
  return emu_mdriver_call(L, ctx, 2, 4, "ReceivedFromProxy");
}

static int bind_or_unbind(lua_State *L, bool bind) {
  emu_ctx *ctx = live(L);
  int id = binding_arg(L, 2);
  lua_Integer dev = luaL_checkinteger(L, 3);
  int other = binding_arg(L, 4);
  const char *why = bind ? c4_binding_bind(ctx, id, (int64_t)dev, other)
                         : c4_binding_unbind(ctx, id, (int64_t)dev, other);
  if (why) return luaL_error(L, "%s: %s", bind ? "d:bind" : "d:unbind", why);
  return 0;
}

/* d:bind(binding, device, other_binding) */
static int d_bind(lua_State *L) { return bind_or_unbind(L, true); }

/* d:unbind(binding, device, other_binding) */
static int d_unbind(lua_State *L) { return bind_or_unbind(L, false); }

/* d:bindings() */
static int d_bindings(lua_State *L) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  if (!ctx->project) return luaL_error(L, "the driver has no project");
  c4_bindings *b = c4_bindings_of(ctx);
  lua_createtable(L, (int)b->n, 0);
  for (size_t i = 0; i < b->n; i++) {
    const c4_binding *x = &b->list[i];
    lua_createtable(L, 0, 8);
    c4_binding_set_names(L, x);
    lua_pushinteger(L, x->type);
    lua_setfield(L, -2, "type");
    lua_pushboolean(L, x->provider);
    lua_setfield(L, -2, "provider");
    lua_pushboolean(L, x->dynamic);
    lua_setfield(L, -2, "dynamic");
    lua_pushboolean(L, x->hidden);
    lua_setfield(L, -2, "hidden");
    c4_push_binding_peers(L, b, x, "device", "binding");
    lua_setfield(L, -2, "bound");
    lua_rawseti(L, -2, (int)i + 1);
  }
  return 1;
}

const luaL_Reg emu_proxy_methods[] = {
    {"proxy_messages", d_proxy_messages},
    {"device_messages", d_device_messages},
    {"from_proxy", d_from_proxy},
    {"bind", d_bind},
    {"unbind", d_unbind},
    {"bindings", d_bindings},
    {NULL, NULL},
};
