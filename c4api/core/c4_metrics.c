/*
 * c4_metrics.c — the Statsd metrics calls: C4:StatsdCounter, StatsdGauge,
 * StatsdAdjustGauge, StatsdTimer, StatsdString, StatsdJSONObject and
 * StatsdIncrementMeter.
 *
 * No DriverWorks page documents them.  Snap One's drivers-common-public
 * library, which many public drivers are built on, calls them as
 *   C4:StatsdCounter(namespace, key, value, sampleRate)
 *   C4:StatsdGauge | StatsdAdjustGauge | StatsdTimer | StatsdIncrementMeter(namespace, key, value)
 *   C4:StatsdString | StatsdJSONObject(namespace, key, text)
 * after testing `if C4.StatsdCounter then`: a controller ships them (metrics
 * for Snap One's data lake) and older ones may not.  c4emu's choice: provide
 * them on every version, so the driver takes the path it takes on a current
 * controller (a driver that only ever sees nil here would leave its metrics
 * code untested, and `check` would count the probe as a not-provided API).
 * Nothing is sent anywhere; each call is checked (strings and finite numbers
 * where the library passes them), logged at debug level and recorded for the
 * spec (d:metrics()): the last METRICS_KEPT calls per driver.
 */
#include <math.h>

#include "c4api.h"

#define METRICS_KEPT 10000

static const char LIST_KEY = 'm'; /* registry: the recorded calls, oldest first */

typedef enum { V_NUMBER, V_TEXT } value_kind;

static lua_Number check_finite(lua_State *L, int i, const char *what) {
  lua_Number v = luaL_checknumber(L, i);
  if (!isfinite(v)) {
    lua_pushfstring(L, "%s must be a finite number", what);
    luaL_argerror(L, i, lua_tostring(L, -1));
  }
  return v;
}

/* The driver's list of recorded calls (made on first use). */
static void push_list(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&LIST_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_istable(L, -1)) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushlightuserdata(L, (void *)&LIST_KEY);
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

/* C4:Statsd<Kind>(namespace, key, value [, sampleRate]): checks, logs, records. */
static int record(lua_State *L, const char *kind, value_kind vk, bool rate) {
  emu_ctx *ctx = emu_ctx_of(L);
  const char *ns = c4_check_cstring(L, 2, "namespace");
  const char *key = c4_check_cstring(L, 3, "key");
  lua_Number num = 0, sample = 0;
  const char *text = NULL;
  if (vk == V_NUMBER) num = check_finite(L, 4, "value");
  else text = luaL_checkstring(L, 4);
  if (rate) {
    sample = lua_isnoneornil(L, 5) ? 0 : check_finite(L, 5, "sampleRate");
    luaL_argcheck(L, sample >= 0 && sample <= 1, 5, "sampleRate must be from 0 to 1");
  }
  if (vk == V_NUMBER)
    emu_log(ctx, EMU_LOG_DEBUG, "[c4emu] metric %s %s.%s %.14g", kind, ns, key, num);
  else
    emu_log(ctx, EMU_LOG_DEBUG, "[c4emu] metric %s %s.%s %s", kind, ns, key, text);
  push_list(L);
  int list = lua_gettop(L);
  lua_getfield(L, list, "total"); /* a ring of METRICS_KEPT: call i sits at (i - 1) % KEPT + 1 */
  lua_Number total = lua_tonumber(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "namespace");
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "key");
  lua_pushvalue(L, 4);
  lua_setfield(L, -2, "value");
  if (rate) {
    lua_pushnumber(L, sample);
    lua_setfield(L, -2, "sampleRate");
  }
  lua_rawseti(L, list, (int)fmod(total, METRICS_KEPT) + 1);
  lua_pushnumber(L, total + 1);
  lua_setfield(L, list, "total");
  return 0;
}

/* C4:StatsdCounter(namespace, key, value [, sampleRate]) */
static int l_StatsdCounter(lua_State *L) { return record(L, "counter", V_NUMBER, true); }
/* C4:StatsdGauge(namespace, key, value) */
static int l_StatsdGauge(lua_State *L) { return record(L, "gauge", V_NUMBER, false); }
/* C4:StatsdAdjustGauge(namespace, key, delta) */
static int l_StatsdAdjustGauge(lua_State *L) { return record(L, "adjust_gauge", V_NUMBER, false); }
/* C4:StatsdTimer(namespace, key, ms) */
static int l_StatsdTimer(lua_State *L) { return record(L, "timer", V_NUMBER, false); }
/* C4:StatsdIncrementMeter(namespace, key, value) */
static int l_StatsdIncrementMeter(lua_State *L) { return record(L, "increment_meter", V_NUMBER, false); }
/* C4:StatsdString(namespace, key, text) */
static int l_StatsdString(lua_State *L) { return record(L, "string", V_TEXT, false); }
/* C4:StatsdJSONObject(namespace, key, json) */
static int l_StatsdJSONObject(lua_State *L) { return record(L, "json", V_TEXT, false); }

void c4_metrics_push(emu_ctx *ctx) {
  lua_State *L = ctx->L;
  push_list(L);
  lua_getfield(L, -1, "total");
  lua_Number total = lua_tonumber(L, -1);
  lua_pop(L, 1);
  lua_Number first = total > METRICS_KEPT ? total - METRICS_KEPT : 0;
  lua_createtable(L, (int)(total - first), 0);
  for (lua_Number i = first; i < total; i++) { /* the ring, oldest first */
    lua_rawgeti(L, -2, (int)fmod(i, METRICS_KEPT) + 1);
    lua_rawseti(L, -2, (int)(i - first) + 1);
  }
  lua_remove(L, -2);
}

static const c4_fn metrics_fns[] = {
    {"StatsdCounter", l_StatsdCounter},
    {"StatsdGauge", l_StatsdGauge},
    {"StatsdAdjustGauge", l_StatsdAdjustGauge},
    {"StatsdTimer", l_StatsdTimer},
    {"StatsdIncrementMeter", l_StatsdIncrementMeter},
    {"StatsdString", l_StatsdString},
    {"StatsdJSONObject", l_StatsdJSONObject},
    {NULL, NULL},
};

const c4_family c4_family_metrics = {"metrics", metrics_fns, NULL, NULL};
