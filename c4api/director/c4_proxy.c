/*
 * c4_proxy.c — C4:SendToProxy: a BindMessage from the driver to whatever is
 * bound to one of its bindings (its proxy on 5001…, a control binding).
 * Every message is recorded in the project (d:proxy_messages()).
 *
 * Choices (see README.md): the default kind is NOTIFY for a binding id of
 * 1000 or more and COMMAND below (the page's note says "the parameter"; the
 * binding id is the only number it can mean).  Params are sent as strings,
 * as a BindMessage carries them: numbers and booleans are converted, other
 * values are dropped with a warning, and an empty string is dropped unless
 * allowEmptyValues is true.  A binding driver.xml does not declare is sent
 * anyway, with a warning naming it (once per binding).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "director/c4_bindings.h"

static int param_cmp(const void *a, const void *b) {
  return strcmp(((const c4_param *)a)->key, ((const c4_param *)b)->key);
}

/* Reads the params table at index t into m (keys sorted). */
static void read_params(emu_ctx *ctx, lua_State *L, int t, bool allow_empty, c4_proxy_msg *m) {
  size_t cap = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int kt = lua_type(L, -2), vt = lua_type(L, -1);
    const char *value = NULL;
    if (vt == LUA_TBOOLEAN) value = lua_toboolean(L, -1) ? "true" : "false";
    else if (vt == LUA_TSTRING || vt == LUA_TNUMBER) value = lua_tostring(L, -1);  /* the value may be converted in place; the key may not */
    if (kt != LUA_TSTRING && kt != LUA_TNUMBER) value = NULL;
    if (value && (*value || allow_empty)) {
      lua_pushvalue(L, -2);
      const char *key = lua_tostring(L, -1);
      m->params = c4_grow(m->params, &cap, m->nparams, sizeof *m->params);
      m->params[m->nparams++] = (c4_param){c4_strdup(key), c4_strdup(value)};
      lua_pop(L, 1);
    } else if (!value) {
      emu_log(ctx, EMU_LOG_WARN, "SendToProxy: parameter of type %s (value %s) is not sent "
              "(a BindMessage carries strings, numbers and booleans)",
              lua_typename(L, kt), lua_typename(L, vt));
    }
    lua_pop(L, 1);
  }
  if (m->nparams > 1) qsort(m->params, m->nparams, sizeof *m->params, param_cmp);
}

/* C4:SendToProxy(idBinding, strCommand, tParams [, "COMMAND"|"NOTIFY"] [, allowEmptyValues])
 * C4:SendToProxy(idBinding, strCommand, strParam) */
static int l_SendToProxy(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  luaL_argcheck(L, id > 0 && id < 1000000, 2, "binding id out of range");
  const char *cmd = luaL_checkstring(L, 3);
  int pt = lua_type(L, 4);
  if (pt != LUA_TTABLE && pt != LUA_TSTRING && pt != LUA_TNUMBER)
    return luaL_argerror(L, 4, lua_pushfstring(L, "table expected, got %s (SendToProxy needs a "
                         "params table, {} when there are none)", luaL_typename(L, 4)));
  bool notify = id >= 1000;
  if (!lua_isnoneornil(L, 5)) {
    const char *kind = luaL_checkstring(L, 5);
    if (strcasecmp(kind, "NOTIFY") == 0) notify = true;
    else if (strcasecmp(kind, "COMMAND") == 0) notify = false;
    else return luaL_argerror(L, 5, "message kind must be \"COMMAND\" or \"NOTIFY\"");
  }
  bool allow_empty = lua_toboolean(L, 6);
  if (!c4_binding_find(ctx, (int)id)) c4_binding_warn_undeclared(ctx, (int)id, "SendToProxy");
  c4_bindings *b = c4_bindings_of(ctx);
  c4_proxy_msg m = {emu_now(ctx), (int)id, c4_strdup(cmd), notify, NULL, NULL, 0};
  if (pt == LUA_TTABLE) read_params(ctx, L, 4, allow_empty, &m);
  else m.str_param = c4_strdup(lua_tostring(L, 4));
  b->msgs = c4_grow(b->msgs, &b->capmsgs, b->nmsgs, sizeof *b->msgs);
  b->msgs[b->nmsgs++] = m;
  return 0;
}

static const c4_fn proxy_fns[] = {
    {"SendToProxy", l_SendToProxy},
    {NULL, NULL},
};

static const char *const proxy_callbacks[] = {"ReceivedFromProxy", NULL};

const c4_family c4_family_proxy = {"proxy", proxy_fns, NULL, proxy_callbacks};
