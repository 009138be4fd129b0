/*
 * c4_conditions.c — TestCondition(name, tParams): Director asks the driver
 * whether one of its driver.xml <conditionals> holds when programming
 * evaluates it.  The host paths are d:test_condition (spec module) and the
 * console's :condition; both come here.
 *
 * What a controller passes (DriverWorks Fundamentals, "Using the Test
 * Condition Function"): name is the conditional's <name>; tParams depends on
 * its <type>: SIMPLE and BOOL an empty table; NUMBER, STRING, LIST, ROOM and
 * DEVICE {VALUE = ..., LOGIC = ...}, LOGIC one of EQUAL, NOT_EQUAL and, for
 * NUMBER, LESS_THAN, LESS_THAN_OR_EQUAL, GREATER_THAN, GREATER_THAN_OR_EQUAL.
 * Values arrive as strings, as programming's macro values do.  "The
 * function must return a Boolean value."
 *
 * An error in TestCondition is the driver's, logged and counted as any
 * callback's (d:errors()).
 *
 * c4emu passes what the caller gives (numbers and booleans as strings) and
 * warns, without refusing, when the name is not a declared conditional, when
 * VALUE or LOGIC is missing or LOGIC is not one the type allows, and when the
 * driver returns something that is not a boolean (taken as Lua truth, as a
 * caller testing the result would).
 */
#include <string.h>

#include "director/c4_project.h"

static const c4_xnode *conditional(const c4_xnode *root, const char *name, char *type,
                                   size_t typelen) {
  const c4_xnode *list = c4_xml_child(root, "conditionals");
  if (!list) list = c4_xml_child(c4_xml_child(root, "config"), "conditionals");
  for (size_t i = 0; list && i < list->nkids; i++) {
    char n[256];
    const c4_xnode *x = list->kids[i];
    if (strcmp(x->name, "conditional") != 0) continue;
    if (strcmp(c4_xml_trimmed(c4_xml_child(x, "name"), n, sizeof n), name) != 0) continue;
    c4_xml_trimmed(c4_xml_child(x, "type"), type, typelen);
    return x;
  }
  return NULL;
}

static const char *field(lua_State *L, int t, const char *key) {
  lua_getfield(L, t, key);
  const char *s = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the table still holds it */
  return s;
}

static void check_params(emu_ctx *ctx, const char *name, int t) {
  lua_State *L = ctx->L;
  char type[64] = "";
  if (!conditional(ctx->project->driver_xml, name, type, sizeof type)) {
    emu_log(ctx, EMU_LOG_WARN, "TestCondition: driver.xml declares no conditional '%s' "
            "(programming could not ask for it)", name);
    return;
  }
  if (!type[0] || strcmp(type, "SIMPLE") == 0 || strcmp(type, "BOOL") == 0) return;
  const char *logic = field(L, t, "LOGIC");
  static const char *const number_logic[] = {"EQUAL", "NOT_EQUAL", "LESS_THAN",
      "LESS_THAN_OR_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", NULL};
  size_t allowed = strcmp(type, "NUMBER") == 0 ? 6 : 2;
  bool ok = false;
  for (size_t i = 0; logic && i < allowed; i++) ok = ok || strcmp(logic, number_logic[i]) == 0;
  if (!field(L, t, "VALUE") || !ok)
    emu_log(ctx, EMU_LOG_WARN, "TestCondition('%s'): a %s conditional gets VALUE and LOGIC "
            "(%s%s) from programming", name, type, "EQUAL, NOT_EQUAL",
            allowed == 6 ? ", LESS_THAN, LESS_THAN_OR_EQUAL, GREATER_THAN, GREATER_THAN_OR_EQUAL"
                         : "");
}

/* A copy of the table at t whose values are strings (numbers and booleans
 * converted; other values left out), pushed. */
static void push_string_params(lua_State *L, int t) {
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int vt = lua_type(L, -1);
    if ((lua_type(L, -2) == LUA_TSTRING || lua_type(L, -2) == LUA_TNUMBER) &&
        (vt == LUA_TSTRING || vt == LUA_TNUMBER || vt == LUA_TBOOLEAN)) {
      lua_pushvalue(L, -2);
      if (vt == LUA_TBOOLEAN) lua_pushstring(L, lua_toboolean(L, -2) ? "true" : "false");
      else lua_pushstring(L, lua_tostring(L, -2));
      lua_rawset(L, -5);
    }
    lua_pop(L, 1);
  }
}

int c4_test_condition(emu_ctx *ctx, const char *name, bool *result) {
  lua_State *L = ctx->L;
  int t = lua_gettop(L);
  if (!lua_istable(L, t)) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  if (!emu_push_global_fn(ctx, "TestCondition")) {
    lua_pop(L, 1);
    return -1;
  }
  check_params(ctx, name, t);
  lua_pushstring(L, name);
  push_string_params(L, t);
  emu_log(ctx, EMU_LOG_DEBUG, "[c4emu] TestCondition(%s)", name);
  int rc = emu_pcall(ctx, 2, 1, "TestCondition");
  if (rc != 0) {
    lua_settop(L, t - 1);
    return rc;
  }
  if (!lua_isboolean(L, -1))
    emu_log(ctx, EMU_LOG_WARN, "TestCondition('%s') returned a %s, not a boolean: taken as %s",
            name, luaL_typename(L, -1), lua_toboolean(L, -1) ? "true" : "false");
  *result = lua_toboolean(L, -1);
  lua_settop(L, t - 1);
  return 0;
}

/* The driver callback this family calls (for `c4emu apis`). */
static const char *const conditions_callbacks[] = {"TestCondition", NULL};
const c4_family c4_family_conditions = {"conditions", NULL, NULL, conditions_callbacks};
