/*
 * emu_module.c — `require "c4emu"`: drive hosted drivers from busted specs.
 *
 *   local d = c4emu.load(path, {os=, clock="virtual"|"real", init_rule=,
 *                               properties={...}, bind=, log=false,
 *                               epoch="2026-01-01T00:00:00Z",
 *                               device=, controller=, devices=})  -- issue 10
 *   (the Director's options and d: methods: emu_module_director.c)
 *   d:init() d:set_property() d:property() d:command() d:action() d:call()
 *   d:eval() d:logs() d:logged() d:errors() d:notes() d:destroy()
 *   d:advance(ms) d:now() d:run_until(fn, timeout_ms) d:timers() d:stall(ms) d:handles()
 *   (issue 9) d:settle([timeout_ms]) (emu_settle.c); d:device(opts) (emu_device.c);
 *   c4emu.spawn(fn, ...), c4emu.pcall, c4emu.spawned/spawn_reset/spawn_errors
 *   (emu_spawn.c).  See README-devices.md.
 *   d:coverage()   (issue 15; load options watchdog = ms, memory = bytes, coverage = true)
 *   (issue 12) d:set_binding_address(id, ip), d:net_connections(), d:serial(id)
 *   (emu_netspec.c); c4emu.load's net = {[6001] = ip}.  See c4api/netbind/README.md.
 *
 * Each driver has its own lua_State and libuv loop; values crossing between
 * the spec's state and the driver's are copied (emu_lua_copy).  A driver
 * error inside d:eval / d:call is raised in the spec with the driver's
 * traceback; other driver errors are recorded and read with d:errors().
 *
 * Lifetime: the driver userdata owns the emu_ctx; __gc destroys and frees it.
 * c4emu.drivers() lists the live ones for the spec helper's leak checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_host.h"
#include "emu_module.h"
#include "c4api.h"
#include "net/c4_conn.h"

#define DRIVER_MT "c4emu.driver"

/* Registry key of the table of live drivers (weak keys). */
static const char LIVE_KEY = 'l';

emu_mdriver *emu_mdriver_check(lua_State *L, int i) {
  emu_mdriver *d = luaL_checkudata(L, i, DRIVER_MT);
  if (!d->ctx) luaL_error(L, "this driver has been freed");
  return d;
}

static emu_ctx *live_ctx(lua_State *L, int i) {
  emu_mdriver *d = emu_mdriver_check(L, i);
  if (d->ctx->phase == EMU_PHASE_DEAD) luaL_error(L, "the driver has been destroyed (d:destroy())");
  return d->ctx;
}

static void opt_string(lua_State *L, int t, const char *key, const char **out) {
  lua_getfield(L, t, key);
  if (!lua_isnil(L, -1)) *out = luaL_checkstring(L, -1);
  lua_pop(L, 1);
}

static void free_props(emu_kv *props, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(props[i].name);
    free(props[i].value);
  }
}

/*
 * The options c4emu.load knows; any other key is refused, naming it and
 * these.  One name per line: other issues append theirs at the end.
 */
static const char *const load_options[] = {
    "os",
    "clock",
    "init_rule",
    "properties",
    "bind",
    "log",
    /* issue 9: the emulator's wall clock */
    "epoch",
    /* issue 13: outgoing HTTP to loopback only */
    "deny_net",
    /* issue 10: the emulated project */
    "device",
    "controller",
    "devices",
    /* issue 15: the guards and coverage */
    "watchdog",
    "memory",
    "coverage",
    /* issue 16: a full collection after every driver callback */
    "gc_each_callback",
    /* issue 12: network binding addresses, {[6001] = "127.0.0.1"} */
    "net",
    /* issue 11: set by c4emu.project for each of its drivers */
    "world",
    "name",
    NULL,
};

/* Raises unless every key of the options table at t is a known option. */
static void check_load_options(lua_State *L, int t) {
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    lua_pop(L, 1);
    const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    bool known = false;
    for (size_t i = 0; key && load_options[i]; i++)
      if (strcmp(key, load_options[i]) == 0) known = true;
    if (known) continue;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; load_options[i]; i++) {
      if (i) luaL_addstring(&b, ", ");
      luaL_addstring(&b, load_options[i]);
    }
    luaL_pushresult(&b);
    if (key)
      luaL_error(L, "c4emu.load: unknown option '%s' (known: %s)", key, lua_tostring(L, -1));
    else
      luaL_error(L, "c4emu.load: option names must be strings, not a %s key (known: %s)",
                 luaL_typename(L, -2), lua_tostring(L, -1));
  }
}

/* opts.epoch: "2026-01-01T00:00:00Z", "2026-01-01", or seconds since 1970. */
static void opt_epoch(lua_State *L, int t, emu_options *opt) {
  lua_getfield(L, t, "epoch");
  if (lua_type(L, -1) == LUA_TNUMBER) {
    opt->epoch_ms = (int64_t)(lua_tonumber(L, -1) * 1000.0);
    opt->has_epoch = true;
  } else if (lua_type(L, -1) == LUA_TSTRING) {
    if (emu_epoch_parse(lua_tostring(L, -1), &opt->epoch_ms) != 0)
      luaL_error(L, "c4emu.load: epoch '%s' is not a time: use \"2026-01-01T00:00:00Z\", "
                 "\"2026-01-01\" or seconds since 1970", lua_tostring(L, -1));
    opt->has_epoch = true;
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "c4emu.load: epoch must be a string or a number, not a %s",
               luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

/* issue 12: opts.net = {[6001] = "127.0.0.1", ...}.  0, or -1 with a message
 * pushed (the caller frees what was filled and raises it). */
static int opt_net(lua_State *L, int t, emu_kv *out, size_t cap, size_t *n) {
  lua_getfield(L, t, "net");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1)) {
    lua_pushfstring(L, "c4emu.load: net must be a table {[6001] = \"192.168.1.20\"}, not a %s",
                    luaL_typename(L, -1));
    return -1;
  }
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    if (lua_type(L, -2) != LUA_TNUMBER || lua_tonumber(L, -2) < 1 ||
        lua_type(L, -1) != LUA_TSTRING || *n == cap) {
      lua_pushstring(L, *n == cap ? "c4emu.load: net: too many bindings (at most 64)"
                                  : "c4emu.load: net: keys must be binding ids and values "
                                    "address strings ({[6001] = \"192.168.1.20\"})");
      return -1;
    }
    char id[24];
    snprintf(id, sizeof id, "%d", (int)lua_tonumber(L, -2));
    out[*n].name = strdup(id);
    out[*n].value = strdup(lua_tostring(L, -1));
    (*n)++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

static int read_project(lua_State *L) {
  emu_project_opts_read(L, 1, lua_touserdata(L, 2));
  return 0;
}

/* c4emu.load(path [, opts]) → driver */
static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  emu_options opt = {.path = path, .virtual_clock = true, .init_rule = EMU_RULE_STRICT,
                     .log_level = EMU_LOG_DEBUG, .bind_addr = "127.0.0.1",
                     .watchdog_ms = EMU_WATCHDOG_DEFAULT_MS, .memory_cap = EMU_MEMORY_DEFAULT};
  emu_kv props[128];
  emu_project_opts project = {0};
  emu_kv net[64]; /* issue 12 */
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    check_load_options(L, 2);
    opt_epoch(L, 2, &opt);
    const char *os = NULL, *clock = NULL, *rule = NULL;
    opt_string(L, 2, "os", &os);
    opt_string(L, 2, "clock", &clock);
    opt_string(L, 2, "init_rule", &rule);
    opt_string(L, 2, "bind", &opt.bind_addr);
    const char *bad = NULL;
    char why[256];
    if (os && c4_osver_parse(os, &opt.os) != 0)
      snprintf(why, sizeof why, "unknown OS version '%s' (known: %s)", os, c4_osver_known()),
          bad = why;
    if (clock && strcmp(clock, "real") == 0) opt.virtual_clock = false;
    else if (clock && strcmp(clock, "virtual") != 0)
      snprintf(why, sizeof why, "clock must be \"virtual\" or \"real\", not '%s'", clock),
          bad = why;
    if (rule) {
      if (strcmp(rule, "warn") == 0) opt.init_rule = EMU_RULE_WARN;
      else if (strcmp(rule, "off") == 0) opt.init_rule = EMU_RULE_OFF;
      else if (strcmp(rule, "strict") != 0)
        snprintf(why, sizeof why, "init_rule must be strict, warn or off, not '%s'", rule),
            bad = why;
    }
    if (bad) {
      lua_pushstring(L, bad);
      return lua_error(L);
    }
    /* issue 13: deny_net = true refuses outgoing HTTP except to loopback */
    lua_getfield(L, 2, "deny_net");
    opt.deny_net = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 2, "log");
    opt.log_stderr = lua_toboolean(L, -1);
    lua_pop(L, 1);
    /* issue 15: watchdog = ms (0: off), memory = bytes (0: off), coverage = true */
    lua_getfield(L, 2, "watchdog");
    if (!lua_isnil(L, -1)) {
      lua_Number ms = luaL_checknumber(L, -1);
      if (ms < 0 || ms > 86400000) return luaL_error(L, "watchdog must be 0 (off) to 86400000 ms");
      opt.watchdog_ms = (int)ms;
    }
    lua_getfield(L, 2, "memory");
    if (!lua_isnil(L, -1)) {
      lua_Number b = luaL_checknumber(L, -1);
      if (b < 0 || b > 1e15) return luaL_error(L, "memory must be 0 (off) or a number of bytes");
      opt.memory_cap = (size_t)b;
    }
    lua_getfield(L, 2, "coverage");
    opt.coverage = lua_toboolean(L, -1);
    lua_pop(L, 3);
    /* issue 16: a full collection after every driver callback */
    lua_getfield(L, 2, "gc_each_callback");
    opt.gc_each_callback = lua_toboolean(L, -1);
    lua_pop(L, 1);
    /* issue 11: world = (c4emu.project's), name = "tv" */
    opt.world = emu_module_world_opt(L, 2);
    opt_string(L, 2, "name", &opt.name);
    lua_getfield(L, 2, "properties");
    if (lua_istable(L, -1)) {
      lua_pushnil(L);
      while (lua_next(L, -2) != 0 && opt.nprops < sizeof props / sizeof props[0]) {
        lua_pushvalue(L, -2); /* copies: tostring must not convert the table's own key */
        const char *name = lua_tostring(L, -1), *value = lua_tostring(L, -2);
        if (!name || !value) {
          free_props(props, opt.nprops);
          return luaL_error(L, "properties: names and values must be strings or numbers");
        }
        props[opt.nprops].name = strdup(name);
        props[opt.nprops].value = strdup(value);
        opt.nprops++;
        lua_pop(L, 2);
      }
    }
    lua_pop(L, 1);
    if (opt_net(L, 2, net, sizeof net / sizeof net[0], &opt.nnet) != 0) {
      free_props(props, opt.nprops);
      free_props(net, opt.nnet);
      return lua_error(L);
    }
    opt.net = net;
  }
  if (getenv("C4EMU_LOG")) opt.log_stderr = true;
  const char *cov = getenv("C4EMU_COVERAGE");
  if (cov && *cov) opt.coverage = true;
  opt.props = props;
  /* issue 10: device=, controller=, devices=; a bad declaration raises, so
   * it is read in a protected call that lets the properties be freed. */
  if (lua_istable(L, 2)) {
    lua_pushcfunction(L, read_project);
    lua_pushvalue(L, 2);
    lua_pushlightuserdata(L, &project);
    if (lua_pcall(L, 2, 0, 0) != 0) {
      free_props(props, opt.nprops);
      return lua_error(L);
    }
    opt.project = project.decl;
  }
  emu_mdriver *d = lua_newuserdata(L, sizeof *d);
  memset(d, 0, sizeof *d);
  luaL_getmetatable(L, DRIVER_MT);
  lua_setmetatable(L, -2);
  char err[1024];
  d->ctx = emu_driver_load(&opt, err, sizeof err);
  free_props(props, opt.nprops);
  emu_project_opts_free(&project);
  free_props(net, opt.nnet);
  if (!d->ctx) return luaL_error(L, "%s", err);
  if (opt.world) emu_world_add(opt.world, opt.name, d->ctx);   /* issue 11 */
  emu_weak_set_add(L, &LIVE_KEY, -1);
  return 1;
}

/* issue 11: c4emu.project loads its drivers through here */
int emu_module_load(lua_State *L) { return l_load(L); }

void emu_weak_set_new(lua_State *L, const void *key) {
  lua_pushlightuserdata(L, (void *)key);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

void emu_weak_set_add(lua_State *L, const void *key, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_pushlightuserdata(L, (void *)key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* c4emu.drivers() → list of live drivers (for the spec helper) */
static int l_drivers(lua_State *L) {
  lua_newtable(L);
  lua_pushlightuserdata(L, (void *)&LIVE_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    /* A collected driver may linger in the weak table until the next cycle. */
    const emu_mdriver *d = lua_touserdata(L, -1);
    if (d && d->ctx) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, -4, ++n);
    }
  }
  lua_pop(L, 1);
  return 1;
}

/* d:init([dit]) — OnDriverInit then OnDriverLateInit */
static int d_init(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  emu_driver_init(ctx, luaL_optstring(L, 2, "DIT_ADDING"));
  return 0;
}

/* s3-apis-a: d:remove() — removed from the project: OnDriverRemovedFromProject(),
 * then OnDriverDestroyed("DIT_LOADED"), then every handle closed */
static int d_remove(lua_State *L) {
  emu_mdriver *d = emu_mdriver_check(L, 1);
  /* s4-fixes: the flush of its last words serves the loop, so the devices'
   * notifiers run meanwhile (a no-op when the driver is gone already) */
  if (!d->ctx || d->ctx->phase == EMU_PHASE_DEAD) return 0;
  emu_ctx *ctx = d->ctx;
  emu_spec_step_begin(L, ctx);
  emu_driver_remove(ctx);
  emu_spec_step_end(L, ctx);
  return 0;
}

/* d:destroy([dit]) — OnDriverDestroyed, then every handle closed */
static int d_destroy(lua_State *L) {
  emu_mdriver *d = emu_mdriver_check(L, 1);
  emu_driver_destroy(d->ctx, luaL_optstring(L, 2, "DIT_LOADED"));
  return 0;
}

static int d_gc(lua_State *L) {
  emu_mdriver *d = luaL_checkudata(L, 1, DRIVER_MT);
  if (d->ctx) emu_driver_free(d->ctx);
  d->ctx = NULL;
  return 0;
}

/* d:free() — destroy if needed and release everything now */
static int d_free(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&LIVE_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  lua_rawset(L, -3);
  return d_gc(L);
}

/* d:set_property(name, value) — as a user edit: OnPropertyChanged(name) */
static int d_set_property(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  const char *name = luaL_checkstring(L, 2);
  luaL_checkany(L, 3);
  lua_getglobal(L, "tostring");
  lua_pushvalue(L, 3);
  lua_call(L, 1, 1);
  emu_set_property(ctx, name, lua_tostring(L, -1));
  return 0;
}

/* d:property(name) → current value of Properties[name] */
static int d_property(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  const char *name = luaL_checkstring(L, 2);
  lua_getglobal(ctx->L, "Properties");
  if (!lua_istable(ctx->L, -1)) {
    lua_pop(ctx->L, 1);
    return 0;
  }
  lua_getfield(ctx->L, -1, name);
  emu_lua_copy(ctx->L, -1, L);
  lua_pop(ctx->L, 2);
  return 1;
}

/*
 * Calls the function on top of the driver's stack with the spec's values at
 * [first, last] as arguments; results are copied back.  A driver error is
 * raised in the spec with the driver's traceback.
 */
int emu_mdriver_call(lua_State *L, emu_ctx *ctx, int first, int last, const char *what) {
  lua_State *D = ctx->L;
  int base = lua_gettop(D) - 1; /* below the function */
  lua_checkstack(D, last - first + 8);
  for (int i = first; i <= last; i++) {
    if (emu_lua_copy(L, i, D) != 0) {
      lua_pushstring(L, lua_tostring(D, -1));
      lua_settop(D, base);
      return lua_error(L);
    }
  }
  if (emu_pcall_keep(D, last - first + 1, LUA_MULTRET, what) != 0) {
    lua_pushfstring(L, "driver error in %s: %s", what, lua_tostring(D, -1));
    lua_settop(D, base);
    return lua_error(L);
  }
  int n = lua_gettop(D) - base;
  lua_checkstack(L, n + 2);
  for (int i = 1; i <= n; i++) {
    if (emu_lua_copy(D, base + i, L) != 0) {
      lua_settop(D, base);
      return lua_error(L);
    }
  }
  lua_settop(D, base);
  return n;
}

/* d:eval(source, ...) → the chunk's results; `...` inside is the extra args */
static int d_eval(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  size_t len;
  const char *src = luaL_checklstring(L, 2, &len);
  if (luaL_loadbuffer(ctx->L, src, len, "=eval") != 0) {
    lua_pushfstring(L, "d:eval: %s", lua_tostring(ctx->L, -1));
    lua_pop(ctx->L, 1);
    return lua_error(L);
  }
  return emu_mdriver_call(L, ctx, 3, lua_gettop(L), "d:eval");
}

/* d:call(global_name, ...) → the function's results */
static int d_call(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  const char *name = luaL_checkstring(L, 2);
  if (!emu_push_global_fn(ctx, name))
    return luaL_error(L, "d:call: the driver has no global function '%s'", name);
  return emu_mdriver_call(L, ctx, 3, lua_gettop(L), name);
}

/* Calls ExecuteCommand(cmd, params) if the driver has it. */
static int execute_command(lua_State *L, emu_ctx *ctx, int cmd_idx, int params_idx) {
  if (!emu_push_global_fn(ctx, "ExecuteCommand"))
    return luaL_error(L, "the driver has no ExecuteCommand function");
  return emu_mdriver_call(L, ctx, cmd_idx, params_idx, "ExecuteCommand");
}

/* d:command(cmd [, params]) — ExecuteCommand(cmd, params) */
static int d_command(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  luaL_checkstring(L, 2);
  if (lua_isnoneornil(L, 3)) {
    lua_settop(L, 2);
    lua_newtable(L);
  }
  lua_settop(L, 3);
  return execute_command(L, ctx, 2, 3);
}

/* d:action(name [, params]) — ExecuteCommand("LUA_ACTION", {ACTION=name, ...}) */
static int d_action(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  luaL_checkstring(L, 2);
  lua_newtable(L); /* index 4 after settop(3) below */
  int t = lua_gettop(L);
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, t);
    }
  }
  lua_pushvalue(L, 2);
  lua_setfield(L, t, "ACTION");
  lua_pushliteral(L, "LUA_ACTION");
  lua_pushvalue(L, t);
  int base = lua_gettop(L) - 1;
  return execute_command(L, ctx, base, base + 1);
}

/* d:logs() → list of {level=, text=, time=} */
static int d_logs(lua_State *L) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  struct emu_host *h = ctx->host;
  lua_createtable(L, (int)h->nlog, 0);
  for (size_t i = 0; i < h->nlog; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, emu_level_name(h->log[i].level));
    lua_setfield(L, -2, "level");
    lua_pushstring(L, h->log[i].text);
    lua_setfield(L, -2, "text");
    lua_pushnumber(L, (lua_Number)h->log[i].clock_ms);
    lua_setfield(L, -2, "time");
    lua_rawseti(L, -2, (int)i + 1);
  }
  return 1;
}

/* d:metrics() → the driver's Statsd calls, oldest first:
 * {{kind =, namespace =, key =, value = [, sampleRate =]}, ...} */
static int d_metrics(lua_State *L) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  c4_metrics_push(ctx);
  int rc = emu_lua_copy(ctx->L, -1, L); /* strings and numbers only: cannot fail */
  lua_pop(ctx->L, 1);
  if (rc != 0) return luaL_error(L, "d:metrics: %s", lua_tostring(L, -1));
  return 1;
}

/* d:logged(pattern [, level]) → the first matching line's text, or nil */
static int d_logged(lua_State *L) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  luaL_checkstring(L, 2);
  const char *level = luaL_optstring(L, 3, NULL);
  struct emu_host *h = ctx->host;
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "find");
  int find = lua_gettop(L);
  for (size_t i = 0; i < h->nlog; i++) {
    if (level && strcmp(level, emu_level_name(h->log[i].level)) != 0) continue;
    lua_pushvalue(L, find);
    lua_pushstring(L, h->log[i].text);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 1);
    bool hit = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (hit) {
      lua_pushstring(L, h->log[i].text);
      return 1;
    }
  }
  /* One nil, not no value: assert.truthy(d:logged(p)) must fail on the
   * assertion, not on luassert's "requires a minimum of 1 arguments". */
  lua_pushnil(L);
  return 1;
}

/* d:errors() → list of {where=, message=, traceback=}; marks them seen */
static int d_errors(lua_State *L) {
  emu_mdriver *d = emu_mdriver_check(L, 1);
  struct emu_host *h = d->ctx->host;
  lua_createtable(L, (int)h->nerrors, 0);
  for (size_t i = 0; i < h->nerrors; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, h->errors[i].where);
    lua_setfield(L, -2, "where");
    lua_pushstring(L, h->errors[i].message);
    lua_setfield(L, -2, "message");
    lua_pushstring(L, h->errors[i].traceback);
    lua_setfield(L, -2, "traceback");
    lua_rawseti(L, -2, (int)i + 1);
  }
  d->errors_seen = h->nerrors;
  return 1;
}

/* d:unseen_errors() → errors not yet read with d:errors() (spec helper) */
static int d_unseen_errors(lua_State *L) {
  emu_mdriver *d = emu_mdriver_check(L, 1);
  struct emu_host *h = d->ctx->host;
  lua_newtable(L);
  for (size_t i = d->errors_seen; i < h->nerrors; i++) {
    lua_pushfstring(L, "%s: %s\n%s", h->errors[i].where, h->errors[i].message,
                    h->errors[i].traceback);
    lua_rawseti(L, -2, (int)(i - d->errors_seen) + 1);
  }
  return 1;
}

/* d:notes() → list of {kind="init-rule"|"missing-api"|"not-provided", level="error"|"warning", text=, count=} */
static int d_notes(lua_State *L) {
  emu_notes_push(emu_mdriver_check(L, 1)->ctx, L);
  return 1;
}

/* d:phase() → "load", "running", "dead", ... */
static int d_phase(lua_State *L) {
  lua_pushstring(L, emu_phase_name(emu_mdriver_check(L, 1)->ctx->phase));
  return 1;
}

/* d:handles() → total open native handles, {kind = count}, {kind = bytes queued to send} */
static int d_handles(lua_State *L) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  lua_pushinteger(L, emu_handles_open(ctx));
  lua_newtable(L);
  for (size_t i = 0; i < ctx->host->nhandle_kinds; i++) {
    lua_pushinteger(L, ctx->host->handles[i].count);
    lua_setfield(L, -2, ctx->host->handles[i].kind);
  }
  /* issue 16: bytes queued to send, per kind of connection */
  lua_newtable(L);
  for (size_t i = 0; i < ctx->host->nhandle_kinds; i++) {
    lua_pushnumber(L, (lua_Number)c4_conn_queued_total(ctx, ctx->host->handles[i].kind));
    lua_setfield(L, -2, ctx->host->handles[i].kind);
  }
  return 3;
}

/* d:memory() → bytes held by the driver's Lua state now, and at peak */
static int d_memory(lua_State *L) {
  struct emu_host *h = emu_mdriver_check(L, 1)->ctx->host;
  lua_pushnumber(L, (lua_Number)h->mem_now);
  lua_pushnumber(L, (lua_Number)h->mem_peak);
  return 2;
}

/* d:coverage() → {["driver.lua"] = {[line] = hits}}: lines of the driver's
 * own files that ran (c4emu.load(..., {coverage = true})); {} when off */
static int d_coverage(lua_State *L) {
  emu_coverage_push(emu_mdriver_check(L, 1)->ctx, L);
  return 1;
}

/* d:now() → the emulator clock in ms */
static int d_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)emu_now(emu_mdriver_check(L, 1)->ctx));
  return 1;
}

static uint64_t check_ms(lua_State *L, int i) {
  lua_Number ms = luaL_checknumber(L, i);
  luaL_argcheck(L, ms >= 0 && ms < 9e15, i, "milliseconds must be >= 0");
  return (uint64_t)ms;
}

/* Refuses a wait that would nest inside settle/advance/serve: from a device
 * notifier or a spawned coroutine that one of them is running. */
void emu_module_check_not_nested(lua_State *L, emu_ctx *ctx, const char *what) {
  if (ctx->host->settling)
    luaL_error(L, "%s: called from inside a callback that d:settle, d:advance or a wait is "
               "running (a device notifier or a spawned coroutine); call it from the spec's "
               "own code", what);
}

/* d:advance(ms) — virtual: fire what is due by now+ms, settling around each
 * firing; real: serve ms of time */
static int d_advance(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  uint64_t ms = check_ms(L, 2);
  emu_module_check_not_nested(L, ctx, "d:advance");
  emu_spec_step_begin(L, ctx);
  ctx->host->settling++;
  emu_clock_advance(ctx, ms);
  ctx->host->settling--;
  emu_spec_step_end(L, ctx);
  return 0;
}

/* d:settle([timeout_ms]) — serves the loop until everything inside this
 * process is quiet (see emu_settle.c); raises after timeout_ms (default
 * 5000) of wall time, saying what was still busy */
static int d_settle(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  uint64_t t = 5000;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TNUMBER)
      return luaL_error(L, "d:settle: timeout_ms must be a number, not %s", luaL_typename(L, 2));
    lua_Number n = lua_tonumber(L, 2);
    if (!(n >= 0 && n < 9e15)) return luaL_error(L, "d:settle: timeout_ms must be >= 0");
    t = (uint64_t)n;
  }
  emu_module_check_not_nested(L, ctx, "d:settle");
  char why[160];
  emu_spec_step_begin(L, ctx);
  int r = emu_settle(ctx, t, why, sizeof why);
  emu_spec_step_end(L, ctx);
  if (r != 0) return luaL_error(L, "d:settle: still not quiet after %d ms: %s", (int)t, why);
  return 0;
}

/* Calls the predicate protected (d:run_until must not leave between its
 * spec-step begin and end): true with its value on the stack; false; or
 * raises later through *failed with the message on the stack. */
static bool call_predicate(lua_State *L, int fn, bool *failed) {
  lua_pushvalue(L, fn);
  if (lua_pcall(L, 0, 1, 0) != 0) {
    *failed = true;
    return true; /* the message stays on the stack */
  }
  bool ok = lua_toboolean(L, -1);
  if (!ok) lua_pop(L, 1);
  return ok; /* on success the value stays on the stack */
}

/*
 * d:stall(ms) — the next timer callback the driver runs costs ms of clock
 * time, as if it had blocked: virtual mode moves the clock on by ms when the
 * callback returns (timers that came due meanwhile are late: repeating ones
 * drop those periods and report them as skips); real mode sleeps ms.
 */
static int d_stall(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  emu_clock_stall(ctx, check_ms(L, 2));
  return 0;
}

static int run_until_loop(lua_State *L, emu_ctx *ctx, uint64_t timeout, uint64_t t0,
                          uint64_t v0, bool *failed);

/*
 * d:run_until(fn, timeout_ms) → fn's first true value.  Serves real I/O; in
 * virtual mode, when nothing is ready (a short real wait if a socket could
 * still bring something), the clock jumps to the next due timer.  Raises
 * when timeout_ms passes (virtual or wall time), or at once in virtual mode
 * when no timer is due within it and no handle could bring I/O.
 */
static int d_run_until(lua_State *L) {
  emu_ctx *ctx = live_ctx(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  uint64_t timeout = lua_isnoneornil(L, 3) ? 5000 : check_ms(L, 3);
  uint64_t t0 = uv_hrtime(), v0 = emu_now(ctx);
  /* issue 9: device notifiers and spawned coroutines run while it waits */
  bool failed = false;
  emu_spec_step_begin(L, ctx);
  int r = run_until_loop(L, ctx, timeout, t0, v0, &failed);
  emu_spec_step_end(L, ctx);
  if (failed) return lua_error(L);
  if (r == 1) return 1;
  if (r == 0) return luaL_error(L, "d:run_until: condition still false after %d ms", (int)timeout);
  return luaL_error(L, "d:run_until: condition still false after %d ms (virtual time; "
                    "no timer left to fire and no I/O pending)", (int)timeout);
}

/* 1: found (value on top); 0: timed out; 2: nothing left that could happen. */
static int run_until_loop(lua_State *L, emu_ctx *ctx, uint64_t timeout, uint64_t t0,
                          uint64_t v0, bool *failed) {
  for (;;) {
    if (ctx->host->spec_step) ctx->host->spec_step(ctx, ctx->host->spec_step_ud);
    if (call_predicate(L, 2, failed)) return 1;
    uint64_t real_ms = (uv_hrtime() - t0) / 1000000u;
    if (real_ms >= timeout || emu_now(ctx) - v0 > timeout) return 0;
    if (!ctx->virtual_clock) {
      uint64_t left = timeout - real_ms;
      emu_loop_serve(ctx, left < 10 ? left : 10);
      emu_clock_fire_due(ctx);
      continue;
    }
    uint64_t before = ctx->host->io_events;
    bool io_possible = emu_loop_could_bring_io(ctx);
    if (io_possible) {
      emu_loop_serve(ctx, 0);
      if (ctx->host->io_events != before) continue;
      emu_loop_serve(ctx, 2);
      if (ctx->host->io_events != before) continue;
    }
    uint64_t due;
    if (emu_clock_next_due(ctx, &due) && due <= v0 + timeout) {
      emu_clock_advance(ctx, due > emu_now(ctx) ? due - emu_now(ctx) : 0);
    } else if (!io_possible) { /* nothing can happen: let the time pass and fail */
      if (emu_now(ctx) < v0 + timeout) emu_clock_advance(ctx, v0 + timeout - emu_now(ctx));
      if (call_predicate(L, 2, failed)) return 1;
      return 2;
    }
  }
}

typedef struct {
  emu_sched **v;
  size_t n, cap;
} timers_walk;

static void add_timer(emu_sched *s, void *ud) {
  timers_walk *w = ud;
  if (emu_sched_kind(s) && w->n < w->cap) w->v[w->n++] = s;
}

/* Firing order: due time, then the same-instant order. */
static int fire_order(const void *pa, const void *pb) {
  const emu_sched *a = *(emu_sched *const *)pa, *b = *(emu_sched *const *)pb;
  uint64_t da = emu_sched_due(a), db = emu_sched_due(b);
  if (da != db) return da < db ? -1 : 1;
  uint64_t oa = emu_sched_order(a), ob = emu_sched_order(b);
  return oa < ob ? -1 : oa > ob;
}

/* d:timers() → the driver's armed timers, in firing order:
 * {due=, period=, kind=} (period 0: one-shot; kind "SetTimer"/"AddTimer") */
static int d_timers(lua_State *L) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  if (ctx->phase == EMU_PHASE_DEAD) {
    lua_newtable(L);
    return 1;
  }
  /* The list lives in a userdata of the spec's state: nothing to free if a
   * Lua allocation below fails. */
  size_t cap = emu_clock_pending(ctx);
  timers_walk w = {lua_newuserdata(L, (cap ? cap : 1) * sizeof(emu_sched *)), 0, cap};
  emu_clock_each(ctx, add_timer, &w);
  if (w.n) qsort(w.v, w.n, sizeof *w.v, fire_order);
  lua_createtable(L, (int)w.n, 0);
  for (size_t i = 0; i < w.n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, (lua_Number)emu_sched_due(w.v[i]));
    lua_setfield(L, -2, "due");
    lua_pushnumber(L, (lua_Number)emu_sched_period(w.v[i]));
    lua_setfield(L, -2, "period");
    lua_pushstring(L, emu_sched_kind(w.v[i]));
    lua_setfield(L, -2, "kind");
    lua_rawseti(L, -2, (int)i + 1);
  }
  return 1;
}

static int d_tostring(lua_State *L) {
  emu_mdriver *d = luaL_checkudata(L, 1, DRIVER_MT);
  if (!d->ctx) lua_pushliteral(L, "c4emu.driver (freed)");
  else lua_pushfstring(L, "c4emu.driver (%s, %s)", d->ctx->host->opt.path,
                       emu_phase_name(d->ctx->phase));
  return 1;
}

static const luaL_Reg driver_methods[] = {
    {"init", d_init},         {"destroy", d_destroy},     {"free", d_free},
    {"set_property", d_set_property}, {"property", d_property},
    {"eval", d_eval},         {"call", d_call},           {"command", d_command},
    {"action", d_action},     {"logs", d_logs},           {"logged", d_logged},
    {"errors", d_errors},     {"unseen_errors", d_unseen_errors},
    {"notes", d_notes},       {"phase", d_phase},         {"handles", d_handles},
    {"memory", d_memory},     {"now", d_now},             {"advance", d_advance},
    {"run_until", d_run_until}, {"timers", d_timers},     {"stall", d_stall},
    /* issue 9: settle */
    {"settle", d_settle},
    /* issue 15 */
    {"coverage", d_coverage},
    /* s3-apis-a */
    {"remove", d_remove},
    /* the Statsd metrics calls */
    {"metrics", d_metrics},
    {NULL, NULL},
};

static const luaL_Reg module_fns[] = {
    {"load", l_load},
    {"drivers", l_drivers},
    /* issue 11: projects of several drivers */
    {"project", emu_module_project},
    {NULL, NULL},
};

int luaopen_c4emu(lua_State *L) {
  emu_class_new(L, DRIVER_MT, driver_methods, d_gc, d_tostring);
  lua_getfield(L, -1, "__index");
  luaL_register(L, NULL, emu_specclient_methods);
  /* issue 9: devices */
  luaL_register(L, NULL, emu_device_methods);
  /* issue 13: HTTP fake devices */
  luaL_register(L, NULL, emu_httpdev_methods);
  /* issue 10: the Director */
  luaL_register(L, NULL, emu_director_methods);
  /* issue 12: network and serial bindings */
  luaL_register(L, NULL, emu_netspec_methods);
  /* issue 11: proxies and bindings */
  luaL_register(L, NULL, emu_proxy_methods);
  /* s3-apis-b: the reflash lock */
  luaL_register(L, NULL, emu_reflash_methods);
  lua_pop(L, 2);
  emu_httpdev_open(L);
  emu_module_project_open(L);   /* issue 11 */

  emu_weak_set_new(L, &LIVE_KEY);

  lua_newtable(L);
  luaL_register(L, NULL, module_fns);
  lua_pushstring(L, c4_osver_known());
  lua_setfield(L, -2, "os_versions");
  /* issue 9: spawn, devices */
  emu_spawn_open(L);
  emu_device_open(L);
  emu_netspec_open(L); /* issue 12 (after spawn: it wraps serial:read) */
  return 1;
}
