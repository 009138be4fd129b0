/*
 * c4_timer.c — timers and the time helpers: C4:SetTimer (C4LuaTimer objects),
 * the legacy C4:AddTimer / C4:KillTimer / OnTimerExpired, C4:GetTime and
 * C4:GetTickCount.  Everything reads the emulator clock (emu_now), so specs
 * in virtual time see the same time the driver sees.
 *
 * One c4_timer per timer, kept inside a C4LuaTimer userdata (AddTimer timers
 * get one too; the driver never sees it).  Lifetime:
 *   - armed (may still fire): the timer holds a registry reference to its own
 *     userdata, so dropping every Lua reference cannot cancel it, and sits in
 *     the driver's list of armed timers; counted as one "timer" handle;
 *   - idle (one-shot fired, cancelled, killed): references dropped, handle
 *     uncounted; the userdata is an ordinary object that Lua frees when the
 *     driver lets go of it;
 *   - dead (driver destroyed): the shutdown hook cancels every armed timer and
 *     frees the per-driver state; what is left in Lua touches nothing native.
 * t->ts is non-NULL exactly while the timer is armed, so __gc, Cancel and
 * KillTimer on an idle or dead timer never reach freed memory.
 *
 * Repeating timers keep to their grid (start + k·period).  A period whose
 * time passes while the driver is busy (its own callback ran long, another
 * callback ran, a d:stall()) is dropped and counted, never queued: the next
 * firing is the first slot that has not passed, and its callback receives
 * the count as `skips`.  "Passed" means more than a grace late: none in
 * virtual time; in real time min(period/2, 25 ms), at least 1 ms, so the
 * loop's own wake-up latency is not taken for a busy driver.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "c4api.h"

#define TIMER_MT "C4LuaTimer"
#define MAX_DELAY_MS 2147483648.0 /* 2^31: DCP's wrapper refuses longer delays */
#define REAL_GRACE_MS 25

typedef struct timer_state timer_state;

typedef enum { T_ARMED, T_FIRED, T_CANCELLED, T_DEAD } timer_status;

typedef struct c4_timer {
  timer_state *ts;        /* the driver's timer state while armed; NULL otherwise */
  emu_sched *sched;       /* the pending clock entry; NULL while firing or idle */
  uint64_t period;        /* ms between firings; 0: one-shot */
  uint64_t slot;          /* due time of the next firing (on the grid) */
  uint64_t skips;         /* periods dropped since the last firing */
  uint64_t order;         /* clock order key: same-instant firings keep creation order */
  int fn_ref;             /* SetTimer: the callback; LUA_NOREF for AddTimer */
  int self_ref;           /* the userdata, while armed */
  lua_Number id;          /* AddTimer: the id; 0 for SetTimer */
  timer_status status;
  struct c4_timer *prev, *next; /* the driver's armed timers */
} c4_timer;

struct timer_state {
  emu_ctx *ctx;
  c4_timer *armed;        /* list of armed timers */
  int ids_ref;            /* registry: AddTimer id → userdata, while armed */
  lua_Number next_id;
  bool warned_no_handler; /* "no OnTimerExpired" said once */
};

/* Registry key of the driver's timer_state (a light userdata). */
static const char STATE_KEY = 's';

static timer_state *state_of(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  timer_state *ts = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!ts) luaL_error(L, "timers are gone: the driver has been destroyed");
  return ts;
}

static uint64_t grace_ms(const timer_state *ts, uint64_t period) {
  if (ts->ctx->virtual_clock) return 0;
  uint64_t g = period / 2 < REAL_GRACE_MS ? period / 2 : REAL_GRACE_MS;
  return g ? g : 1;
}

/*
 * Moves t->slot past the slots that are more than the grace late at `now`,
 * counting them in t->skips.
 */
static void drop_passed(c4_timer *t, uint64_t now) {
  uint64_t g = grace_ms(t->ts, t->period);
  if (now <= g || t->slot >= now - g) return;
  uint64_t n = (now - g - t->slot + t->period - 1) / t->period;
  t->slot += n * t->period;
  t->skips += n;
}

static void on_due(emu_ctx *ctx, void *data);

static void disarm(lua_State *L, c4_timer *t, timer_status why);

/* Puts the timer on the clock at t->slot.  Called from clock callbacks, so
 * it must not raise: out of memory stops the timer with a log line. */
static void arm(c4_timer *t) {
  emu_ctx *ctx = t->ts->ctx;
  t->sched = emu_sched_add_ordered(ctx, t->slot, t->order, on_due, t);
  if (!t->sched) {
    emu_log(ctx, EMU_LOG_ERROR, "[c4emu] out of memory re-arming a timer: it stops");
    disarm(ctx->L, t, T_CANCELLED);
    return;
  }
  emu_sched_describe(t->sched, t->id ? "AddTimer" : "SetTimer", t->period);
}

/* armed → idle (or dead): drops every reference the timer holds.  Safe
 * while the timer's own callback runs (the caller anchors the userdata). */
static void disarm(lua_State *L, c4_timer *t, timer_status why) {
  timer_state *ts = t->ts;
  if (!ts) return;
  emu_sched_cancel(ts->ctx, t->sched);
  t->sched = NULL;
  if (t->prev) t->prev->next = t->next;
  else ts->armed = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
  if (t->id) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ts->ids_ref);
    lua_pushnumber(L, t->id);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  luaL_unref(L, LUA_REGISTRYINDEX, t->fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
  t->fn_ref = t->self_ref = LUA_NOREF;
  t->ts = NULL;
  t->status = why;
  emu_track(ts->ctx, "timer", -1);
}

/* Creates a timer whose first firing is ms from now: a SetTimer timer with
 * the callback at fn_idx, or an AddTimer timer (fn_idx 0) with its id.
 * Leaves the userdata pushed. */
static c4_timer *timer_new(lua_State *L, timer_state *ts, uint64_t ms, bool repeat, int fn_idx,
                           lua_Number id) {
  c4_timer *t = lua_newuserdata(L, sizeof *t);
  memset(t, 0, sizeof *t);
  t->fn_ref = t->self_ref = LUA_NOREF;
  luaL_getmetatable(L, TIMER_MT);
  lua_setmetatable(L, -2);
  t->period = repeat ? ms : 0;
  t->id = id;
  t->slot = emu_now(ts->ctx) + ms;
  /* References first: luaL_ref may raise (out of memory), and nothing may
   * point at the userdata from outside Lua before they exist. */
  if (fn_idx) {
    lua_pushvalue(L, fn_idx);
    t->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_pushvalue(L, -1);
  t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  t->sched = emu_sched_add(ts->ctx, t->slot, on_due, t);
  if (!t->sched) {
    luaL_unref(L, LUA_REGISTRYINDEX, t->fn_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
    t->fn_ref = t->self_ref = LUA_NOREF;
    luaL_error(L, "out of memory arming a timer");
  }
  emu_sched_describe(t->sched, id ? "AddTimer" : "SetTimer", t->period);
  t->order = emu_sched_order(t->sched);
  t->ts = ts;
  t->next = ts->armed;
  if (ts->armed) ts->armed->prev = t;
  ts->armed = t;
  t->status = T_ARMED;
  emu_track(ts->ctx, "timer", 1);
  return t;
}

/* The clock calls this at the timer's due time (later if the driver was busy). */
static void on_due(emu_ctx *ctx, void *data) {
  c4_timer *t = data;
  timer_state *ts = t->ts;
  lua_State *L = ctx->L;
  t->sched = NULL; /* the clock frees its entry before calling us */
  if (t->period) {
    drop_passed(t, emu_now(ctx));
    if (t->slot > emu_now(ctx)) { /* every period that came due passed while busy */
      arm(t);
      return;
    }
  }
  int base = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref); /* anchors t until we are done */
  int nargs = 1;
  const char *what;
  if (t->id) {
    what = "OnTimerExpired";
    if (!emu_push_global_fn(ctx, "OnTimerExpired")) {
      if (!ts->warned_no_handler)
        emu_log(ctx, EMU_LOG_WARN, "[c4emu] AddTimer timer %.0f expired but the driver has no "
                "OnTimerExpired function", t->id);
      ts->warned_no_handler = true;
      nargs = -1;
    } else {
      lua_pushnumber(L, t->id);
    }
  } else {
    what = "SetTimer callback";
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->fn_ref);
    lua_pushvalue(L, base + 1);
    if (t->period) {
      lua_pushnumber(L, (lua_Number)t->skips);
      nargs = 2;
    }
  }
  t->skips = 0;
  if (!t->period) disarm(L, t, T_FIRED); /* can never fire again; the stack holds what we need */
  if (nargs >= 0) {
    emu_pcall(ctx, nargs, 0, what);
    emu_charge_stall(ctx);
  }
  /* Still armed unless the callback cancelled it (or the driver died). */
  if (t->ts && t->period) {
    t->slot += t->period;
    drop_passed(t, emu_now(ctx));
    arm(t);
  }
  lua_settop(L, base);
}

/* ---- C4LuaTimer -------------------------------------------------------- */

static c4_timer *check_timer(lua_State *L, int i) {
  return luaL_checkudata(L, i, TIMER_MT);
}

/* timer:Cancel() → nil.  Idempotent; safe inside the timer's own callback. */
static int l_Timer_Cancel(lua_State *L) {
  c4_timer *t = check_timer(L, 1);
  if (t->ts) disarm(L, t, T_CANCELLED);
  return 0;
}

/* __gc: an armed timer is referenced by the registry, so only an idle or
 * dead one gets here (or any, from lua_close after the shutdown hook). */
static int l_Timer_gc(lua_State *L) {
  c4_timer *t = check_timer(L, 1);
  if (t->ts) disarm(L, t, T_CANCELLED);
  return 0;
}

static int l_Timer_tostring(lua_State *L) {
  static const char *const names[] = {"armed", "fired", "cancelled", "dead"};
  c4_timer *t = check_timer(L, 1);
  if (t->status == T_ARMED)
    lua_pushfstring(L, "C4LuaTimer (%s, next due at %f ms): %p",
                    t->period ? "repeating" : "one-shot", (lua_Number)t->slot, (void *)t);
  else
    lua_pushfstring(L, "C4LuaTimer (%s): %p", names[t->status], (void *)t);
  return 1;
}

static const luaL_Reg timer_methods[] = {
    {"Cancel", l_Timer_Cancel},
    {NULL, NULL},
};

/* ---- C4:SetTimer, C4:AddTimer, C4:KillTimer ----------------------------- */

/* A delay in ms from argument i: a number, above 0, below 2^31. */
static uint64_t check_delay(lua_State *L, int i, lua_Number ms, const char *what) {
  if (!(ms > 0 && ms < MAX_DELAY_MS)) {
    lua_pushfstring(L, "%s must be above 0 and below 2^31 ms, got %f ms", what, ms);
    luaL_argerror(L, i, lua_tostring(L, -1)); /* i counts C4: reported as #(i-1) */
  }
  return (uint64_t)ceil(ms); /* a fraction of a millisecond rounds up */
}

/* C4:SetTimer(delay_ms, fn [, repeat]) → C4LuaTimer */
static int l_SetTimer(lua_State *L) {
  lua_Number ms = luaL_checknumber(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  uint64_t delay = check_delay(L, 2, ms, "delay");
  timer_new(L, state_of(L), delay, lua_toboolean(L, 4), 3, 0);
  return 1;
}

static const struct {
  const char *name;
  lua_Number ms;
} units[] = {
    {"MILLISECONDS", 1}, {"SECONDS", 1000}, {"MINUTES", 60000}, {"HOURS", 3600000},
};

/* C4:AddTimer(interval, units [, repeat]) → id; OnTimerExpired(id) when due */
static int l_AddTimer(lua_State *L) {
  lua_Number n = luaL_checknumber(L, 2);
  const char *u = c4_check_cstring(L, 3, "units");
  lua_Number per = 0;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcasecmp(u, units[i].name) == 0) per = units[i].ms;
  if (per == 0) {
    lua_pushfstring(L, "units must be MILLISECONDS, SECONDS, MINUTES or HOURS, got '%s'", u);
    return luaL_argerror(L, 3, lua_tostring(L, -1));
  }
  uint64_t delay = check_delay(L, 2, n * per, "interval");
  timer_state *ts = state_of(L);
  c4_timer *t = timer_new(L, ts, delay, lua_toboolean(L, 4), 0, ts->next_id + 1);
  ts->next_id++;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ts->ids_ref);
  lua_pushnumber(L, t->id);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pushnumber(L, t->id);
  return 1;
}

/* C4:KillTimer(id) → 0.  Unknown or spent ids are ignored (drivers write
 * `t = C4:KillTimer(t)` and call it again with the 0 it returned). */
static int l_KillTimer(lua_State *L) {
  lua_Number id = luaL_checknumber(L, 2);
  timer_state *ts = state_of(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ts->ids_ref);
  lua_pushnumber(L, id);
  lua_rawget(L, -2);
  c4_timer *t = lua_touserdata(L, -1); /* the table holds only our timers */
  if (t && t->ts) disarm(L, t, T_CANCELLED);
  lua_pushinteger(L, 0);
  return 1;
}

/* ---- time -------------------------------------------------------------- */

static const struct {
  const char *name;
  double per_ms; /* value in these units of one millisecond */
} time_units[] = {
    {"ms", 1.0},
    {"us", 1e3},
    {"ns", 1e6},
    {"s", 1.0 / 1e3},
    {"min", 1.0 / 6e4},
    {"h", 1.0 / 3.6e6},
    {"d", 1.0 / 8.64e7},
    {"w", 1.0 / 6.048e8},
    {"y", 1.0 / (365.25 * 8.64e7)},   /* a Julian year: the docs do not say */
    {"dec", 1.0 / (3652.5 * 8.64e7)}, /* ten of those */
};

/* C4:GetTime([units [, fractional]]) → time since the Unix epoch (ms by
 * default).  units and fractional exist from OS 4.0.0; before that they
 * are ignored, as an older controller would. */
static int l_GetTime(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  double ms = (double)emu_epoch_ms(ctx);
  if (!c4_has(ctx, C4F_GETTIME_UNITS)) {
    lua_pushnumber(L, ms);
    return 1;
  }
  double per = 1.0;
  const char *u = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
  for (size_t i = 0; u && i < sizeof time_units / sizeof time_units[0]; i++)
    if (strcmp(u, time_units[i].name) == 0) per = time_units[i].per_ms;
  double v = ms * per;
  lua_pushnumber(L, lua_toboolean(L, 3) ? v : floor(v));
  return 1;
}

/* C4:GetTickCount() → ms on the emulator clock (since the driver was loaded) */
static int l_GetTickCount(lua_State *L) {
  lua_pushnumber(L, (lua_Number)emu_now(emu_ctx_of(L)));
  return 1;
}

/* ---- per-driver state --------------------------------------------------- */

/* After OnDriverDestroyed: cancel every armed timer, then forget the state. */
static void timers_shutdown(emu_ctx *ctx, void *data) {
  timer_state *ts = data;
  lua_State *L = ctx->L;
  while (ts->armed) disarm(L, ts->armed, T_DEAD);
  luaL_unref(L, LUA_REGISTRYINDEX, ts->ids_ref);
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_pushnil(L);
  lua_rawset(L, LUA_REGISTRYINDEX);
  free(ts);
}

static void timer_open(lua_State *L, emu_ctx *ctx) {
  emu_class_new(L, TIMER_MT, timer_methods, l_Timer_gc, l_Timer_tostring);
  lua_pop(L, 1);

  timer_state *ts = calloc(1, sizeof *ts);
  if (!ts) { /* C4:SetTimer & co. will say "timers are gone" */
    emu_log(ctx, EMU_LOG_ERROR, "[c4emu] out of memory: timers unavailable");
    return;
  }
  ts->ctx = ctx;
  lua_newtable(L);
  ts->ids_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_pushlightuserdata(L, ts);
  lua_rawset(L, LUA_REGISTRYINDEX);
  emu_on_shutdown(ctx, timers_shutdown, ts);
}

static const c4_fn timer_fns[] = {
    {"SetTimer", l_SetTimer},
    {"AddTimer", l_AddTimer},
    {"KillTimer", l_KillTimer},
    {"GetTime", l_GetTime},
    {"GetTickCount", l_GetTickCount},
    {NULL, NULL},
};

/* The driver's globals this family calls. */
static const char *const timer_callbacks[] = {"OnTimerExpired", NULL};

const c4_family c4_family_timer = {"timer", timer_fns, timer_open, timer_callbacks};
