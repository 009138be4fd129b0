/*
 * emu_spawn.c — c4emu.spawn(fn, ...) and the waits of the spec side.
 *
 * WINDEV serves each connection in a thread; a spec does that with
 * c4emu.spawn: fn runs as a coroutine, and every blocking call of the spec
 * side (device and channel waits and reads, the spec clients' receives)
 * made inside it yields to the loop instead of blocking.  The scheduler is
 * a plain round robin: each step resumes every suspended coroutine once;
 * one that is still blocked polls its condition and yields again.
 *
 * How a C blocking call yields: Lua 5.1 cannot yield from inside a C
 * function that goes on afterwards, so the blocking methods are wrapped (in
 * Lua, below).  Inside a spawned coroutine the wrapper calls the C method in
 * "poll mode": emu_spec_wait() then returns at once when the condition
 * holds or the call's timeout (counted from the first try) has passed, and
 * otherwise raises a private marker that the wrapper turns into a yield,
 * retrying on the next resume.  So a C method must do nothing it cannot
 * repeat before it waits.
 *
 * Lua 5.1 cannot yield across pcall either: inside a spawned coroutine use
 * c4emu.pcall, which runs the function in a coroutine of its own and passes
 * its yields on (outside one it is pcall).
 *
 * Who steps: while a spec call waits on a driver (emu_spec_wait, d:settle,
 * d:advance) the host's spec_step hook runs the devices' queued notifier
 * calls (emu_device.c) and one scheduler step.  An error in a coroutine or a
 * notifier is kept (message and traceback) and raised by the spec call that
 * was waiting once it is done, so it fails the test that was running; the
 * spec helper also fails a test that ends with one unreported.
 */
#include <stdlib.h>
#include <string.h>

#include "emu_module.h"

static const char WOULD_BLOCK = 'w'; /* light userdata marker */
static const char STEP_KEY = 's';    /* registry: the Lua step function */
static const char ERR_KEY = 'e';     /* registry: list of unreported errors */

static bool polling;        /* the current C call runs in poll mode */
static uint64_t poll_t0_ns; /* ... and its first try was at this time */
static bool stepping;       /* a step is running (steps do not nest) */
int emu_spec_notifier_depth;

bool emu_device_dispatch(lua_State *L, emu_ctx *ctx); /* emu_device.c */

/* Records an error of the spec side (a notifier, a coroutine) to raise later. */
void emu_spec_error(lua_State *L, const char *msg) {
  lua_pushlightuserdata(L, (void *)&ERR_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_istable(L, -1)) {
    lua_pushstring(L, msg);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
  }
  lua_pop(L, 1);
}

int emu_spec_pcall(lua_State *L, int nargs) {
  int base = lua_gettop(L) - nargs;
  lua_getglobal(L, "debug");
  if (lua_istable(L, -1)) lua_getfield(L, -1, "traceback");
  else lua_pushnil(L);
  lua_remove(L, -2);
  lua_insert(L, base);
  int st = lua_pcall(L, nargs, 0, lua_isfunction(L, base) ? base : 0);
  lua_remove(L, base);
  return st;
}

/* The host's spec_step hook: notifiers, then one round of the coroutines. */
static bool spec_step(emu_ctx *ctx, void *ud) {
  lua_State *L = ud;
  if (stepping) return false;
  stepping = true;
  bool ran = emu_device_dispatch(L, ctx);
  lua_pushlightuserdata(L, (void *)&STEP_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_pcall(L, 0, 1, 0) != 0) emu_spec_error(L, lua_tostring(L, -1));
  else ran |= lua_toboolean(L, -1);
  lua_pop(L, 1);
  stepping = false;
  return ran;
}

typedef struct {
  bool (*fn)(emu_ctx *, void *);
  void *ud;
} saved_step;

/* Nesting: begin/end pairs save and restore the previous hook on a small
 * stack, so a wait inside a wait steps with the innermost caller's thread. */
static saved_step saved[32];
static int nsaved;

void emu_spec_step_begin(lua_State *L, emu_ctx *ctx) {
  struct emu_host *h = ctx->host;
  if (nsaved < (int)(sizeof saved / sizeof saved[0]))
    saved[nsaved] = (saved_step){h->spec_step, h->spec_step_ud};
  nsaved++;
  h->spec_step = spec_step;
  h->spec_step_ud = L;
}

/* Raises the first unreported error of the spec side, if any. */
static void raise_pending(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&ERR_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (!lua_istable(L, -1) || lua_objlen(L, -1) == 0) {
    lua_pop(L, 1);
    return;
  }
  lua_rawgeti(L, -1, 1);
  lua_pushlightuserdata(L, (void *)&ERR_KEY);
  lua_newtable(L);
  lua_rawset(L, LUA_REGISTRYINDEX);
  lua_error(L);
}

void emu_spec_step_end(lua_State *L, emu_ctx *ctx) {
  struct emu_host *h = ctx->host;
  nsaved--;
  if (nsaved < (int)(sizeof saved / sizeof saved[0])) {
    h->spec_step = saved[nsaved].fn;
    h->spec_step_ud = saved[nsaved].ud;
  } else {
    h->spec_step = NULL;
  }
  if (nsaved == 0 && !polling) raise_pending(L);
}

bool emu_spec_wait(lua_State *L, emu_ctx *ctx, uint64_t timeout_ms,
                   bool (*ready)(void *ud), void *ud) {
  if (ready(ud)) return true;
  if (polling) {
    if ((uv_hrtime() - poll_t0_ns) / 1000000u >= timeout_ms) return ready(ud);
    lua_pushlightuserdata(L, (void *)&WOULD_BLOCK);
    lua_error(L);
  }
  if (emu_spec_notifier_depth > 0)
    luaL_error(L, "a blocking call inside a device notifier (notifiers must not wait: "
               "use c4emu.spawn for code that waits)");
  uint64_t t0 = uv_hrtime();
  bool ok = false;
  emu_spec_step_begin(L, ctx);
  for (;;) {
    if (ready(ud)) { ok = true; break; }
    if (ctx->phase == EMU_PHASE_DEAD) break;
    uint64_t el = (uv_hrtime() - t0) / 1000000u;
    if (el >= timeout_ms) { ok = ready(ud); break; }
    if (spec_step(ctx, L)) continue;
    if (ready(ud)) { ok = true; break; }
    uint64_t left = timeout_ms - el;
    emu_loop_serve(ctx, left < 10 ? left : 10);
    if (!ctx->virtual_clock) emu_clock_fire_due(ctx);
  }
  emu_spec_step_end(L, ctx);
  return ok;
}

/* c4emu._poll(t0) / c4emu._poll() — poll mode on (first try at t0) / off */
static int l_poll(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    polling = false;
    return 0;
  }
  polling = true;
  poll_t0_ns = (uint64_t)lua_tonumber(L, 1);
  return 0;
}

/* c4emu._hrtime() → ns (a number: exact to 2^53 ns, about 104 days of uptime) */
static int l_hrtime(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime());
  return 1;
}

/* The scheduler and the wrapper, in Lua: they only juggle coroutines. */
static const char spawn_lua[] =
    "local WOULD_BLOCK, poll, hrtime, report = ...\n"
    "local spawned = setmetatable({}, {__mode = 'k'})\n"
    "local list, progress = {}, false\n"
    "local function pack(...) return {n = select('#', ...), ...} end\n"
    "local function wrap(raw)\n"
    "  return function(...)\n"
    "    local co = coroutine.running()\n"
    "    if not co or not spawned[co] then return raw(...) end\n"
    "    local t0 = hrtime()\n"
    "    while true do\n"
    "      poll(t0)\n"
    "      local r = pack(pcall(raw, ...))\n"
    "      poll()\n"
    "      if r[1] then progress = true; return unpack(r, 2, r.n) end\n"
    "      if r[2] ~= WOULD_BLOCK then progress = true; error(r[2], 0) end\n"
    "      coroutine.yield()\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local function resume(e)\n"
    "  progress = false\n"
    "  local ok, err\n"
    "  if e.args then\n"
    "    local a = e.args; e.args = nil; progress = true\n"
    "    ok, err = coroutine.resume(e.co, unpack(a, 1, a.n))\n"
    "  else\n"
    "    ok, err = coroutine.resume(e.co)\n"
    "  end\n"
    "  if not ok then\n"
    "    report('spawned coroutine failed: ' .. tostring(err) .. '\\n' ..\n"
    "           debug.traceback(e.co))\n"
    "    return true, true\n"
    "  end\n"
    "  return progress, coroutine.status(e.co) == 'dead'\n"
    "end\n"
    "local function step()\n"
    "  local ran, i = false, 1\n"
    "  while i <= #list do\n"
    "    local e = list[i]\n"
    "    local st = coroutine.status(e.co)\n"
    "    if st == 'dead' then table.remove(list, i); ran = true\n"
    "    elseif st == 'suspended' then\n"
    "      local p, dead = resume(e)\n"
    "      ran = ran or p\n"
    "      if dead then table.remove(list, i) else i = i + 1 end\n"
    "    else i = i + 1 end\n"
    "  end\n"
    "  return ran\n"
    "end\n"
    "local function spawn(fn, ...)\n"
    "  if type(fn) ~= 'function' then\n"
    "    error(\"bad argument #1 to 'spawn' (function expected, got \" .. type(fn) .. ')', 2)\n"
    "  end\n"
    "  local co = coroutine.create(fn)\n"
    "  spawned[co] = true\n"
    "  local e = {co = co, args = pack(...)}\n"
    "  list[#list + 1] = e\n"
    "  local _, dead = resume(e)\n"
    "  if dead then for i = #list, 1, -1 do if list[i] == e then table.remove(list, i) end end end\n"
    "  return co\n"
    "end\n"
    "local function reset() list = {} end\n"
    "local function count() return #list end\n"
    "local function copcall(f, ...)\n"
    "  local me = coroutine.running()\n"
    "  if not me or not spawned[me] then return pcall(f, ...) end\n"
    "  local co = coroutine.create(f)\n"
    "  spawned[co] = true\n"
    "  local r = pack(coroutine.resume(co, ...))\n"
    "  while true do\n"
    "    if not r[1] then return false, r[2] end\n"
    "    if coroutine.status(co) == 'dead' then return true, unpack(r, 2, r.n) end\n"
    "    r = pack(coroutine.resume(co, coroutine.yield(unpack(r, 2, r.n))))\n"
    "  end\n"
    "end\n"
    "return wrap, step, spawn, reset, count, copcall\n";

static const char WRAP_KEY = 'W';

static int l_report(lua_State *L) {
  emu_spec_error(L, luaL_checkstring(L, 1));
  return 0;
}

/* c4emu.spawn_errors() → the unreported errors of notifiers and coroutines
 * (and forgets them); c4emu.spawn_reset() drops every spawned coroutine */
static int l_spawn_errors(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&ERR_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, (void *)&ERR_KEY);
  lua_newtable(L);
  lua_rawset(L, LUA_REGISTRYINDEX);
  return 1;
}

/* Sets up the scheduler; called once from luaopen_c4emu with the module
 * table on top.  Adds spawn, spawned, spawn_reset, spawn_errors to it. */
void emu_spawn_open(lua_State *L) {
  int mod = lua_gettop(L);
  lua_pushlightuserdata(L, (void *)&ERR_KEY);
  lua_newtable(L);
  lua_rawset(L, LUA_REGISTRYINDEX);
  if (luaL_loadbuffer(L, spawn_lua, sizeof spawn_lua - 1, "=c4emu.spawn") != 0)
    lua_error(L);
  lua_pushlightuserdata(L, (void *)&WOULD_BLOCK);
  lua_pushcfunction(L, l_poll);
  lua_pushcfunction(L, l_hrtime);
  lua_pushcfunction(L, l_report);
  lua_call(L, 4, 6);
  lua_setfield(L, mod, "pcall");
  lua_setfield(L, mod, "spawned");
  lua_setfield(L, mod, "spawn_reset");
  lua_setfield(L, mod, "spawn");
  lua_pushlightuserdata(L, (void *)&STEP_KEY);
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, (void *)&WRAP_KEY);
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  lua_pushcfunction(L, l_spawn_errors);
  lua_setfield(L, mod, "spawn_errors");
}

void emu_spawn_wrap(lua_State *L, int methods, const char *const *names) {
  methods = methods < 0 ? lua_gettop(L) + methods + 1 : methods;
  for (; *names; names++) {
    lua_pushlightuserdata(L, (void *)&WRAP_KEY);
    lua_rawget(L, LUA_REGISTRYINDEX);
    lua_getfield(L, methods, *names);
    lua_call(L, 1, 1);
    lua_setfield(L, methods, *names);
  }
}
