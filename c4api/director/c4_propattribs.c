/*
 * c4_propattribs.c — what a driver does to its properties beyond values, and
 * what it sends towards the UI: C4:SetPropertyAttribs, C4:UpdatePropertyList,
 * C4:SendDataToUI, C4:SendUIRequest.  A spec reads the results with
 * d:property_attribs(name) and d:ui_sent(), and calls the driver's UIRequest
 * and TestCondition entry points with d:ui_request / d:test_condition.
 *
 * Choices (no public source says what the controller does):
 *   - a property driver.xml does not declare: a warning, nothing changes;
 *   - UpdatePropertyList on a property that is not a LIST or DYNAMIC_LIST:
 *     a warning, nothing changes; a new value that is not in the new list:
 *     a warning, the list changes and the value does not;
 *   - SendUIRequest to a device that is not a hosted driver (or has no
 *     UIRequest): "" (the page says data comes back as XML text).
 *   - s4-files: SendUIRequest to another hosted driver of the project (its
 *     device id or a proxy's, the page's "proxy or protocol ID"): that
 *     driver's UIRequest(request, params) runs at once, inside the call, and
 *     its text answer is the result, as the page's example shows.  The
 *     params cross as strings (a number 1024 arrives as "1024"; the page's
 *     receiver reads it with tonumber), to this driver too, so asking
 *     oneself and asking another look the same.  A non-text answer, an
 *     error in UIRequest, or a chain of nested requests longer than
 *     EMU_MAX_MESSAGE_HOPS: "" (with a warning, the error, or an error).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "director/c4_project.h"

static c4_propinfo *prop_info(lua_State *L, const char *api, const char *name) {
  c4_project *p = emu_ctx_of(L)->project;
  for (size_t i = 0; i < p->nprops; i++)
    if (strcmp(p->props[i].name, name) == 0) return &p->props[i];
  emu_log(emu_ctx_of(L), EMU_LOG_WARN, "C4:%s: driver.xml declares no property \"%s\"", api,
          name);
  return NULL;
}

/* C4:SetPropertyAttribs(name, n) — 1 hides the property, 0 shows it */
static int l_SetPropertyAttribs(lua_State *L) {
  const char *name = luaL_checkstring(L, 2);
  bool hide = lua_isboolean(L, 3) ? lua_toboolean(L, 3) : luaL_checknumber(L, 3) != 0;
  c4_propinfo *pi = prop_info(L, "SetPropertyAttribs", name);
  if (pi) pi->hidden = hide;
  return 0;
}

static bool list_has(const char *list, const char *item) {
  size_t n = strlen(item);
  for (const char *s = list; *s;) {
    const char *e = strchr(s, ',');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    if (l == n && strncmp(s, item, n) == 0) return true;
    if (!e) break;
    s = e + 1;
  }
  return false;
}

/* C4:UpdatePropertyList(name, commaList [, newValue]) — LIST / DYNAMIC_LIST only */
static int l_UpdatePropertyList(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  const char *name = luaL_checkstring(L, 2);
  const char *list = luaL_checkstring(L, 3);
  const char *value = c4_opt_string(L, 4, NULL);
  c4_propinfo *pi = prop_info(L, "UpdatePropertyList", name);
  if (!pi) return 0;
  if (strcmp(pi->type, "DYNAMIC_LIST") != 0 && strcmp(pi->type, "LIST") != 0) {
    emu_log(ctx, EMU_LOG_WARN, "C4:UpdatePropertyList: property \"%s\" is %s, not a LIST or "
            "DYNAMIC_LIST: nothing changes", name, pi->type[0] ? pi->type : "untyped");
    return 0;
  }
  free(pi->value_list);
  pi->value_list = c4_strdup(list);
  if (!value) return 0;
  if (!list_has(list, value)) {
    emu_log(ctx, EMU_LOG_WARN, "C4:UpdatePropertyList: \"%s\" is not in the new list of \"%s\": "
            "the value stays", value, name);
    return 0;
  }
  lua_getglobal(L, "Properties");
  if (lua_istable(L, -1)) {
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
  }
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* C4:SendDataToUI(xml) or C4:SendDataToUI(command, tParams) — recorded for
 * d:ui_sent(): the XML as given, or "COMMAND K1=v1 K2=v2" (keys sorted). */
static int l_SendDataToUI(lua_State *L) {
  c4_project *p = emu_ctx_of(L)->project;
  const char *first = luaL_checkstring(L, 2);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, first);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    size_t n = 0, cap = 0;
    char **pairs = NULL;
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
      lua_pushvalue(L, -2);
      const char *k = lua_tostring(L, -1), *v = lua_tostring(L, -2);
      if (k && v) {
        pairs = c4_grow(pairs, &cap, n, sizeof *pairs);
        size_t len = strlen(k) + strlen(v) + 2;
        pairs[n] = malloc(len);
        if (!pairs[n]) abort();
        snprintf(pairs[n++], len, "%s=%s", k, v);
      }
      lua_pop(L, 2);
    }
    if (n) qsort(pairs, n, sizeof *pairs, cmp_str);
    for (size_t i = 0; i < n; i++) {
      luaL_addchar(&b, ' ');
      luaL_addstring(&b, pairs[i]);
      free(pairs[i]);
    }
    free(pairs);
  }
  luaL_pushresult(&b);
  p->ui_sent = c4_grow(p->ui_sent, &p->capui, p->nui, sizeof *p->ui_sent);
  p->ui_sent[p->nui++] = c4_strdup(lua_tostring(L, -1));
  return 0;
}

/* Copies the params table at index t of `from` into a new table on `to`,
 * values as strings (numbers, booleans converted; other values dropped with
 * a warning), keys as strings or numbers. */
static void copy_params(emu_ctx *sender, lua_State *from, int t, lua_State *to) {
  lua_newtable(to);
  int nt = lua_gettop(to); /* absolute: from and to may be one state */
  lua_pushnil(from);
  while (lua_next(from, t)) {
    int kt = lua_type(from, -2), vt = lua_type(from, -1);
    const char *v = NULL;
    char num[64];
    if (vt == LUA_TBOOLEAN) v = lua_toboolean(from, -1) ? "true" : "false";
    else if (vt == LUA_TSTRING) v = lua_tostring(from, -1);
    else if (vt == LUA_TNUMBER) {
      /* lua_tostring on a copy: converting the value in place is fine, the key is not touched */
      lua_pushvalue(from, -1);
      snprintf(num, sizeof num, "%s", lua_tostring(from, -1));
      lua_pop(from, 1);
      v = num;
    }
    if (v && (kt == LUA_TSTRING || kt == LUA_TNUMBER)) {
      if (kt == LUA_TNUMBER) lua_pushnumber(to, lua_tonumber(from, -2));
      else lua_pushstring(to, lua_tostring(from, -2));
      lua_pushstring(to, v);
      lua_rawset(to, nt);
    } else {
      emu_log(sender, EMU_LOG_WARN, "SendUIRequest: parameter of type %s (value %s) is not sent "
              "(requests carry strings, numbers and booleans)", lua_typename(from, kt),
              lua_typename(from, vt));
    }
    lua_pop(from, 1);
  }
}

/* C4:SendUIRequest(id, request, tParams) → the target's UIRequest answer, or "" */
static int l_SendUIRequest(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int64_t id = c4_check_id(L, 2);
  const char *request = luaL_checkstring(L, 3);
  luaL_checktype(L, 4, LUA_TTABLE);
  /* The device or one of its proxies (the page targets the proxy id): this
   * driver, or another hosted driver of the project. */
  emu_ctx *to = c4_project_owner(ctx->project, id);
  if (!to) to = emu_peer_driver(ctx, id);
  if (!to || to->phase == EMU_PHASE_DEAD || !to->L) {
    lua_pushliteral(L, "");
    return 1;
  }
  /* Nested, synchronous: A's request to B may make B ask A (or C) in turn.
   * The chain is bounded as messages between drivers are. */
  int hops = emu_message_hops(ctx);
  if (hops + 1 > EMU_MAX_MESSAGE_HOPS) {
    emu_log(ctx, EMU_LOG_ERROR, "SendUIRequest %s: refused after a chain of %d requests and "
            "messages between drivers (a request cycle?)", request, EMU_MAX_MESSAGE_HOPS);
    lua_pushliteral(L, "");
    return 1;
  }
  if (!emu_push_global_fn(to, "UIRequest")) {
    if (to != ctx)
      emu_log(ctx, EMU_LOG_WARN, "SendUIRequest %s: device %lld's driver has no UIRequest function",
              request, (long long)id);
    lua_pushliteral(L, "");
    return 1;
  }
  lua_State *T = to->L;
  lua_pushstring(T, request);
  copy_params(ctx, L, 4, T);
  emu_message_hops_set(ctx, hops + 1);
  int st = emu_pcall(to, 2, 1, "UIRequest");
  emu_message_hops_set(ctx, hops);
  if (to != ctx) emu_charge_stall(to);
  if (st != 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  size_t len;
  const char *answer = lua_type(T, -1) == LUA_TSTRING || lua_type(T, -1) == LUA_TNUMBER
                           ? lua_tolstring(T, -1, &len) : NULL;
  if (answer) {
    lua_pushlstring(L, answer, len);
  } else {
    if (!lua_isnil(T, -1))
      emu_log(ctx, EMU_LOG_WARN, "SendUIRequest %s: UIRequest answered a %s, not text (XML): "
              "the result is \"\"", request, luaL_typename(T, -1));
    lua_pushliteral(L, "");
  }
  lua_remove(T, T == L ? -2 : -1); /* the answer as UIRequest gave it */
  return 1;
}

static const c4_fn propattribs_fns[] = {
    {"SetPropertyAttribs", l_SetPropertyAttribs},
    {"UpdatePropertyList", l_UpdatePropertyList},
    {"SendDataToUI", l_SendDataToUI},
    {"SendUIRequest", l_SendUIRequest},
    {NULL, NULL},
};

/* The driver callbacks this family calls (for `c4emu apis`). */
static const char *const propattribs_callbacks[] = {"UIRequest", NULL};
const c4_family c4_family_propattribs = {"propattribs", propattribs_fns, NULL, propattribs_callbacks};
