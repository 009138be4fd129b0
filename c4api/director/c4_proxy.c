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
 * allowEmptyValues is true.  The string form (id, cmd, strParam) travels as
 * that one string, to the record and to a hosted peer's ReceivedFromProxy
 * (its third argument is then the string); "" the same way as an empty value.  A binding driver.xml does not declare is sent
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

/* ---- messages between the drivers of a project --------------------------- */

/* A message on its way to another hosted driver: one clock entry each, due
 * now, so every message is a turn of its own. */
typedef struct c4_inbound {
  struct c4_inbound *next;
  bool execute;           /* ExecuteCommand (SendToDevice), else ReceivedFromProxy */
  int binding, hops;
  char *command, *str_param;
  c4_param *params;
  size_t nparams;
} c4_inbound;

static void inbound_free(c4_inbound *m) {
  free(m->command);
  free(m->str_param);
  c4_params_free(m->params, m->nparams);
  free(m);
}

void c4_inbox_free(c4_bindings *b) {
  while (b->inbox) {
    c4_inbound *m = b->inbox;
    b->inbox = m->next;
    inbound_free(m);
  }
}

static void deliver(emu_ctx *to, void *data) {
  c4_inbound *m = data, **pp = &c4_bindings_of(to)->inbox;
  while (*pp && *pp != m) pp = &(*pp)->next;
  if (*pp) *pp = m->next;
  const char *fn = m->execute ? "ExecuteCommand" : "ReceivedFromProxy";
  if (to->phase != EMU_PHASE_DEAD && emu_push_global_fn(to, fn)) {
    lua_State *L = to->L;
    if (!m->execute) lua_pushinteger(L, m->binding);
    lua_pushstring(L, m->command);
    if (m->str_param) {
      lua_pushstring(L, m->str_param);
    } else {
      lua_createtable(L, 0, (int)m->nparams);
      for (size_t i = 0; i < m->nparams; i++) {
        lua_pushstring(L, m->params[i].value);
        lua_setfield(L, -2, m->params[i].key);
      }
    }
    int before = emu_message_hops(to);
    emu_message_hops_set(to, m->hops);
    emu_pcall(to, m->execute ? 2 : 3, 0, fn);
    emu_charge_stall(to);
    emu_message_hops_set(to, before);
  }
  inbound_free(m);
}

/* Queues msg for the hosted driver `to` (on its binding `binding`). */
static void send_to_peer(emu_ctx *from, emu_ctx *to, const c4_proxy_msg *msg, int binding,
                         bool execute) {
  int hops = emu_message_hops(from) + 1;
  if (hops > EMU_MAX_MESSAGE_HOPS) {
    emu_log(from, EMU_LOG_ERROR, "%s %s: dropped after a chain of %d messages between drivers "
            "(a send cycle?)", execute ? "SendToDevice" : "SendToProxy", msg->command,
            EMU_MAX_MESSAGE_HOPS);
    return;
  }
  c4_inbound *m = calloc(1, sizeof *m);
  if (!m) abort();
  *m = (c4_inbound){NULL, execute, binding, hops, c4_strdup(msg->command),
                    msg->str_param ? c4_strdup(msg->str_param) : NULL, NULL, msg->nparams};
  if (msg->nparams) {
    m->params = calloc(msg->nparams, sizeof *m->params);
    if (!m->params) abort();
    for (size_t i = 0; i < msg->nparams; i++)
      m->params[i] = (c4_param){c4_strdup(msg->params[i].key), c4_strdup(msg->params[i].value)};
  }
  c4_bindings *tb = c4_bindings_of(to);
  m->next = tb->inbox;
  tb->inbox = m;
  emu_sched_add(to, emu_now(to), deliver, m);
}

/* SendToProxy on a binding bound to another hosted driver: its
 * ReceivedFromProxy gets the message on *its* binding id. */
static void route_proxy_msg(emu_ctx *ctx, const c4_proxy_msg *msg) {
  c4_bindings *b = c4_bindings_of(ctx);
  int64_t self = ctx->project->self->id;
  for (size_t i = 0; i < b->nlinks; i++) {
    const c4_link *l = &b->links[i];
    emu_ctx *to = NULL;
    int binding = 0;
    if (l->provider_dev == self && l->provider_id == msg->binding) {
      to = emu_peer_driver(ctx, l->consumer_dev);
      binding = l->consumer_id;
    } else if (l->consumer_dev == self && l->consumer_id == msg->binding) {
      to = emu_peer_driver(ctx, l->provider_dev);
      binding = l->provider_id;
    }
    if (to) send_to_peer(ctx, to, msg, binding, false);
  }
}

static c4_proxy_msg *record(lua_State *L, emu_ctx *ctx, int64_t device, int binding,
                            const char *cmd, bool notify, int params_idx, bool allow_empty) {
  c4_bindings *b = c4_bindings_of(ctx);
  c4_proxy_msg m = {emu_now(ctx), device, binding, c4_strdup(cmd), notify, NULL, NULL, 0};
  if (lua_type(L, params_idx) == LUA_TTABLE) read_params(ctx, L, params_idx, allow_empty, &m);
  else if (!lua_isnoneornil(L, params_idx)) {
    /* The (id, cmd, strParam) form: the string is the message's one param,
     * recorded and delivered as it is (a number as its string).  An empty
     * string follows the rule of an empty table value: sent only with
     * allowEmptyValues (the page pairs "" with true), else no param at all. */
    const char *sp = lua_tostring(L, params_idx);
    if (*sp || allow_empty) m.str_param = c4_strdup(sp);
  }
  b->msgs = c4_grow(b->msgs, &b->capmsgs, b->nmsgs, sizeof *b->msgs);
  b->msgs[b->nmsgs] = m;
  return &b->msgs[b->nmsgs++];
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
  c4_proxy_msg *m = record(L, ctx, 0, (int)id, cmd, notify, 4, allow_empty);
  c4_proxyvars_learn(ctx, m); /* s3-apis-a: before routing, which may grow the list */
  route_proxy_msg(ctx, m);
  return 0;
}

/* C4:SendToDevice(idDevice, strCommand [, tParams] [, allowEmptyValues] [, logCommand])
 * A CommandMessage to that device's driver: a hosted driver of the project
 * gets ExecuteCommand(strCommand, tParams) on a turn of its own.  Sent to a
 * proxy's id (a keypad driver turning a light on by its proxy), the proxy
 * passes the command on to its driver, as a controller's proxy does with the
 * commands it takes from elsewhere: the hosted driver behind the proxy gets
 * ReceivedFromProxy(proxybindingid, strCommand, tParams), on a turn of its
 * own.  Choice: c4emu runs no proxy logic, so every command is passed on (a
 * real proxy answers some itself, e.g. state queries).  Recorded
 * (d:device_messages()); to a device no hosted driver is, nothing receives it. */
static int l_SendToDevice(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  lua_Integer dev = luaL_checkinteger(L, 2);
  luaL_argcheck(L, dev > 0, 2, "device id must be positive");
  const char *cmd = luaL_checkstring(L, 3);
  int pt = lua_type(L, 4);
  if (pt != LUA_TTABLE && pt != LUA_TNONE && pt != LUA_TNIL)
    return luaL_argerror(L, 4, lua_pushfstring(L, "table expected, got %s", luaL_typename(L, 4)));
  c4_proxy_msg *m = record(L, ctx, (int64_t)dev, 0, cmd, false, 4, lua_toboolean(L, 5));
  emu_ctx *to = emu_peer_driver(ctx, (int64_t)dev);
  const c4_device *d = to ? NULL : c4_project_device(ctx->project, (int64_t)dev);
  emu_ctx *behind = d && d->kind == C4_DEV_PROXY && d->binding_id
                        ? c4_project_owner(ctx->project, (int64_t)dev) : NULL;
  if (to) send_to_peer(ctx, to, m, 0, true);
  else if (behind) send_to_peer(ctx, behind, m, d->binding_id, false); /* through the proxy */
  else if (!d && !c4_project_room(ctx->project, (int64_t)dev))  /* a room is a device too */
    emu_log(ctx, EMU_LOG_WARN, "SendToDevice: device %lld is not in the project", (long long)dev);
  return 0;
}

/* issue 17: ReceivedFromProxy(binding, command, params) as the proxy bound on
 * `binding` calls it (the web console's form; d:from_proxy and the terminal
 * console's :proxy do the same), the params table on top of ctx->L (popped).
 * 0 when it ran; -1 when the driver has no ReceivedFromProxy; else
 * emu_pcall's code (the error is logged and counted, as any callback's). */
int c4_proxy_receive(emu_ctx *ctx, int binding, const char *command) {
  lua_State *L = ctx->L;
  if (!c4_binding_find(ctx, binding)) c4_binding_warn_undeclared(ctx, binding, "ReceivedFromProxy");
  if (!emu_push_global_fn(ctx, "ReceivedFromProxy")) {
    lua_pop(L, 1);
    return -1;
  }
  lua_insert(L, -2);
  lua_pushinteger(L, binding);
  lua_insert(L, -2);
  lua_pushstring(L, command);
  lua_insert(L, -2);
  return emu_pcall(ctx, 3, 0, "ReceivedFromProxy");
}

/* The web console's State view (issue 17): the last PROXY_ROWS messages
 * SendToProxy sent (SendToDevice's are d:device_messages(), not shown). */
#define PROXY_ROWS 50

static void proxy_rows(emu_ctx *ctx, void *data, lua_State *L) {
  (void)data;
  c4_bindings *b = c4_bindings_of(ctx);
  size_t first = b->nmsgs, shown = 0;
  while (first > 0 && shown < PROXY_ROWS) /* walk back over the last PROXY_ROWS proxy messages */
    if (b->msgs[--first].device == 0) shown++;
  lua_createtable(L, (int)shown, 0);
  int n = 0;
  for (size_t i = first; i < b->nmsgs; i++) {
    const c4_proxy_msg *m = &b->msgs[i];
    if (m->device != 0) continue;
    lua_createtable(L, 0, 5);
    lua_pushnumber(L, (lua_Number)m->ms);
    lua_setfield(L, -2, "time_ms");
    lua_pushinteger(L, m->binding);
    lua_setfield(L, -2, "binding");
    lua_pushstring(L, m->command);
    lua_setfield(L, -2, "command");
    lua_pushstring(L, m->notify ? "NOTIFY" : "COMMAND");
    lua_setfield(L, -2, "kind");
    luaL_Buffer buf;
    luaL_buffinit(L, &buf);
    if (m->str_param) {
      luaL_addstring(&buf, m->str_param);
    } else {
      for (size_t k = 0; k < m->nparams; k++) { /* K=v, keys sorted (read_params sorted them) */
        if (k) luaL_addchar(&buf, ' ');
        luaL_addstring(&buf, m->params[k].key);
        luaL_addchar(&buf, '=');
        luaL_addstring(&buf, m->params[k].value);
      }
    }
    luaL_pushresult(&buf);
    lua_setfield(L, -2, "params");
    lua_rawseti(L, -2, ++n);
  }
}

static void proxy_shutdown(emu_ctx *ctx, void *data) {
  (void)data;
  emu_state_section_remove(ctx, proxy_rows, NULL);
}

static void proxy_open(lua_State *L, emu_ctx *ctx) {
  (void)L;
  emu_state_section_add(ctx, "proxy messages", "time_ms,binding,command,kind,params", proxy_rows, NULL);
  emu_on_shutdown(ctx, proxy_shutdown, NULL);
}

static const c4_fn proxy_fns[] = {
    {"SendToProxy", l_SendToProxy},
    {"SendToDevice", l_SendToDevice},
    {NULL, NULL},
};

static const char *const proxy_callbacks[] = {"ReceivedFromProxy", "ExecuteCommand", NULL};

const c4_family c4_family_proxy = {"proxy", proxy_fns, proxy_open, proxy_callbacks};
