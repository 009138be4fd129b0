/*
 * emu_lua.c — the driver's Lua world: one lua_State per driver with the
 * standard libraries, LuaBitOp's `bit`, `print` into the log, `require`
 * confined to the package folder, and the protected call every C → Lua call
 * goes through.  Also copies values between the spec's state and the
 * driver's (they never share tables).
 *
 * The lua_State's allocator userdata is the emu_ctx, so emu_ctx_of() is a
 * pointer read, and the allocator counts the bytes the driver holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>
#include <lua-bitop.h>

#include "emu_host.h"
#include "c4api.h"

/* Registry key of the saved debug.traceback (drivers may replace `debug`). */
static const char TRACEBACK_KEY = 't';


static void *emu_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  emu_ctx *ctx = ud;
  struct emu_host *h = ctx->host;
  if (nsize == 0) {
    free(ptr);
    h->mem_now -= osize;
    return NULL;
  }
  /* The cap holds while driver code runs (a refused block is a Lua memory
   * error inside a protected call); the host's own pushes between callbacks
   * are never refused, so they cannot end in a panic. */
  if (h->opt.memory_cap && h->guard_depth > 0 && nsize > osize &&
      h->mem_now + (nsize - osize) > h->opt.memory_cap) {
    h->mem_refused = true;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (p) {
    h->mem_now += nsize - osize;
    if (h->mem_now > h->mem_peak) h->mem_peak = h->mem_now;
  }
  return p;
}

emu_ctx *emu_ctx_of(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return ud;
}

/* Message handler: adds the traceback to the error message. */
static int traceback_handler(lua_State *L) {
  if (!lua_isstring(L, 1)) { /* error objects that are not strings */
    if (luaL_callmeta(L, 1, "__tostring")) lua_replace(L, 1);
    else {
      lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
      lua_replace(L, 1);
    }
  }
  lua_pushlightuserdata(L, (void *)&TRACEBACK_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 1);
    return 1;
  }
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 2);
  lua_call(L, 2, 1);
  return 1;
}

/* lua_pcall with the handler at `base` (below the function), under the
 * watchdog; turns the memory cap's and the caught watchdog's errors into
 * messages that say so.  The handler stays where it is. */
static int pcall_guarded(lua_State *L, int base, int nargs, int nresults, const char *what) {
  emu_ctx *ctx = emu_ctx_of(L);
  struct emu_host *h = ctx->host;
  emu_guard_enter(ctx, what);
  int st = lua_pcall(L, nargs, nresults, base);
  bool capped = st == LUA_ERRMEM && h->mem_refused;
  bool caught = st == 0 && h->guard_tripped && h->guard_depth == 1;
  emu_guard_leave(ctx);
  if (capped) { /* Lua 5.1 says only "not enough memory" and runs no handler */
    lua_pop(L, 1);
    size_t cap = h->opt.memory_cap, mb = 1024 * 1024;
    if (cap % mb == 0)
      lua_pushfstring(L, "memory cap: %s needed more than the %d MB the driver may hold "
                      "(--memory MB)", what ? what : "driver code", (int)(cap / mb));
    else
      lua_pushfstring(L, "memory cap: %s needed more than the %f bytes the driver may hold "
                      "(memory = bytes in c4emu.load)", what ? what : "driver code",
                      (lua_Number)cap);
  } else if (caught) {
    /* The driver caught the watchdog's error (pcall, coroutine.resume) and
     * returned: the callback was still stopped, so it still counts. */
    lua_settop(L, base);
    lua_pushfstring(L, "%s (the driver caught the error; the callback was stopped anyway)",
                    h->guard_msg);
    st = LUA_ERRRUN;
  }
  return st;
}

/* The same with the traceback handler moved in below the function and taken
 * out after: the error (with traceback) or the results are left on top. */
static int pcall_tb(lua_State *L, int nargs, int nresults, const char *what) {
  emu_ctx *ctx = emu_ctx_of(L);
  int base = lua_gettop(L) - nargs;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->host->handler_ref);
  lua_insert(L, base);
  int st = pcall_guarded(L, base, nargs, nresults, what);
  lua_remove(L, base);
  return st;
}

/* Splits "msg\nstack traceback:\n..." into the two parts (msg is copied). */
static void split_traceback(const char *full, char *msg, size_t msgsz, const char **tb) {
  const char *cut = strstr(full, "\nstack traceback:");
  size_t n = cut ? (size_t)(cut - full) : strlen(full);
  if (n >= msgsz) n = msgsz - 1;
  memcpy(msg, full, n);
  msg[n] = '\0';
  *tb = cut ? cut + 1 : "";
}

/*
 * --gc-each-callback: an object the driver forgot to keep a reference to
 * dies right after the callback instead of "some time later".  Not inside
 * emu_pcall itself: the C code that made the call (a socket event, say) may
 * still hold the object on the stack or by a self-reference it drops on its
 * way out.  The collection runs in the loop's check phase, right after the
 * I/O callbacks of this iteration; every __gc of c4api is C only.
 */
static void on_gc_check(uv_check_t *chk) {
  emu_ctx *ctx = chk->data;
  uv_check_stop(chk);
  if (ctx->L && ctx->phase != EMU_PHASE_DEAD) lua_gc(ctx->L, LUA_GCCOLLECT, 0);
}

static void gc_soon(emu_ctx *ctx) {
  struct emu_host *h = ctx->host;
  if (!h->gc_check_init) {
    if (uv_check_init(ctx->loop, &h->gc_check) != 0) return;
    h->gc_check.data = ctx;
    h->gc_check_init = true;
  }
  uv_check_start(&h->gc_check, on_gc_check);
}

void emu_gc_check_close(emu_ctx *ctx) {
  if (!ctx->host->gc_check_init) return;
  ctx->host->gc_check_init = false;
  uv_close((uv_handle_t *)&ctx->host->gc_check, NULL);
}

/* A failed call: the error (with traceback) on top is logged and recorded. */
static void pcall_failed(emu_ctx *ctx, const char *what) {
  const char *full = lua_tostring(ctx->L, -1);
  char msg[2048];
  const char *tb;
  split_traceback(full ? full : "(no message)", msg, sizeof msg, &tb);
  emu_record_error(ctx, what, msg, tb);
}

int emu_pcall(emu_ctx *ctx, int nargs, int nresults, const char *what) {
  lua_State *L = ctx->L;
  int st = pcall_tb(L, nargs, nresults, what);
  if (ctx->host->opt.gc_each_callback) gc_soon(ctx);
  if (st == 0) return 0;
  pcall_failed(ctx, what);
  lua_pop(L, 1);
  return st;
}

bool emu_in_driver(emu_ctx *ctx) { return ctx->host->guard_depth > 0; }

int emu_pcall_begin(emu_ctx *ctx) {
  lua_rawgeti(ctx->L, LUA_REGISTRYINDEX, ctx->host->handler_ref);
  return lua_gettop(ctx->L);
}

int emu_pcall_at(emu_ctx *ctx, int handler, int nargs, const char *what) {
  lua_State *L = ctx->L;
  int st = pcall_guarded(L, handler, nargs, 0, what);
  if (ctx->host->opt.gc_each_callback) gc_soon(ctx);
  if (st != 0) pcall_failed(ctx, what);
  lua_settop(L, handler - 1);
  return st;
}

/* For the spec module: protected call whose error (with traceback) stays on
 * the stack for the caller to surface. */
int emu_pcall_keep(lua_State *L, int nargs, int nresults, const char *what) {
  return pcall_tb(L, nargs, nresults, what);
}

void emu_class_new(lua_State *L, const char *name, const luaL_Reg *methods,
                   lua_CFunction gc, lua_CFunction tostring) {
  if (!luaL_newmetatable(L, name)) return;
  lua_newtable(L);
  if (methods) luaL_register(L, NULL, methods);
  lua_setfield(L, -2, "__index");
  if (gc) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  if (tostring) {
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
  }
}

/* Registry key of the names whose lookup raised (logged once each). */
static const char RAISED_KEY = 'g';

static int l_index_globals(lua_State *L) {
  lua_gettable(L, LUA_GLOBALSINDEX);
  return 1;
}

void emu_global_at_top(emu_ctx *ctx) {
  lua_State *L = ctx->L;
  if (!lua_getmetatable(L, LUA_GLOBALSINDEX)) { /* the usual case: nothing can run */
    lua_rawget(L, LUA_GLOBALSINDEX);
    return;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  lua_rawget(L, LUA_GLOBALSINDEX);
  if (!lua_isnil(L, -1)) { /* present: __index does not run */
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_index_globals);
  lua_pushvalue(L, -2);
  if (lua_pcall(L, 1, 1, 0) == 0) {
    lua_remove(L, -2);
    return;
  }
  /* [name, error] */
  if (emu_first_time(L, &RAISED_KEY, lua_tostring(L, -2))) {
    const char *why = lua_tostring(L, -1);
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] reading the global %s raised (_G's __index): %s; taken "
            "as nil", lua_tostring(L, -2), why ? why : "(an error that is not a string)");
  }
  lua_pop(L, 2); /* the error, the name */
  lua_pushnil(L);
}

bool emu_first_time(lua_State *L, const void *key, const char *name) {
  lua_pushlightuserdata(L, (void *)key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, (void *)key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
  }
  lua_getfield(L, -1, name);
  bool first = lua_isnil(L, -1);
  lua_pop(L, 1);
  if (first) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, name);
  }
  lua_pop(L, 1);
  return first;
}

bool emu_push_global_fn(emu_ctx *ctx, const char *name) {
  lua_pushstring(ctx->L, name);
  emu_global_at_top(ctx);
  if (lua_isfunction(ctx->L, -1)) return true;
  lua_pop(ctx->L, 1);
  return false;
}

/* print(...) — as Lua's, but into the log (DriverWorks sends it to Composer). */
static int l_print(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checkstack(L, 2 * n + 2, "too many arguments to print");
  lua_getglobal(L, "tostring");
  int tostr = n + 1, parts = 0;
  for (int i = 1; i <= n; i++) {
    if (i > 1) {
      lua_pushliteral(L, "\t");
      parts++;
    }
    lua_pushvalue(L, tostr);
    lua_pushvalue(L, i);
    lua_call(L, 1, 1);
    if (!lua_isstring(L, -1)) return luaL_error(L, "'tostring' must return a string to 'print'");
    parts++;
  }
  lua_concat(L, parts);
  emu_log(emu_ctx_of(L), EMU_LOG_INFO, "%s", lua_tostring(L, -1));
  return 0;
}

/* os.exit() would take the whole emulator down with the driver. */
static int l_os_exit(lua_State *L) {
  return luaL_error(L, "os.exit is not available to drivers (it would stop the controller)");
}

/* Lua calls this for an error no protected call caught, then exits.  Every
 * call into driver code is protected, so this is a c4emu bug: say so, rather
 * than exit without a word (lua_newstate sets no panic function). */
static int on_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "c4emu: internal error: a Lua error outside any protected call: %s\n"
          "c4emu: this is a c4emu bug; please report it with the driver that showed it\n",
          msg ? msg : "(not a string)");
  fflush(stderr);
  return 0;
}

lua_State *emu_lua_new(emu_ctx *ctx) {
  lua_State *L = lua_newstate(emu_alloc, ctx);
  if (!L) return NULL;
  lua_atpanic(L, on_panic);
  ctx->L = L;
  luaL_openlibs(L);
  lua_pushcfunction(L, luaopen_bit);
  lua_call(L, 0, 0); /* LuaBitOp registers the global `bit` itself */

  lua_getglobal(L, "debug");
  lua_getfield(L, -1, "traceback");
  lua_pushlightuserdata(L, (void *)&TRACEBACK_KEY);
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);

  /* The message handler is made once: every callback into the driver goes
   * through it, and a fresh C closure per call would allocate per event. */
  lua_pushcfunction(L, traceback_handler);
  ctx->host->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  lua_register(L, "print", l_print);
  lua_getglobal(L, "os");
  lua_pushcfunction(L, l_os_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
  emu_wallclock_open(L);
  if (c4_has(ctx, C4F_NO_IO_POPEN)) {
    lua_getglobal(L, "io");
    lua_pushnil(L);
    lua_setfield(L, -2, "popen");
    lua_pop(L, 1);
  }

  /* require finds modules inside the package only: dotted names → folders. */
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", ctx->pkg_dir, ctx->pkg_dir);
  lua_setfield(L, -2, "path");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
  emu_lua_install_loaders(L);
  return L;
}

/* ---- copying values between states ------------------------------------ */

#define COPY_MAX_DEPTH 64

static int copy_value(lua_State *from, int idx, lua_State *to, int depth);

/* On failure each copier leaves exactly one value, the message, above the
 * top it found on `to`. */
static int copy_table(lua_State *from, int idx, lua_State *to, int depth) {
  if (depth > COPY_MAX_DEPTH) {
    lua_pushliteral(to, "cannot copy a table nested more than 64 deep (a cycle?)");
    return -1;
  }
  int base = lua_gettop(to);
  lua_checkstack(from, 4);
  lua_checkstack(to, 4);
  lua_newtable(to);
  lua_pushnil(from);
  while (lua_next(from, idx) != 0) {
    int top = lua_gettop(from);
    if (copy_value(from, top - 1, to, depth + 1) != 0 ||
        copy_value(from, top, to, depth + 1) != 0) {
      lua_replace(to, base + 1);
      lua_settop(to, base + 1);
      lua_pop(from, 2);
      return -1;
    }
    lua_rawset(to, -3);
    lua_pop(from, 1);
  }
  return 0;
}

static int copy_value(lua_State *from, int idx, lua_State *to, int depth) {
  switch (lua_type(from, idx)) {
  case LUA_TNIL: lua_pushnil(to); return 0;
  case LUA_TBOOLEAN: lua_pushboolean(to, lua_toboolean(from, idx)); return 0;
  case LUA_TNUMBER: lua_pushnumber(to, lua_tonumber(from, idx)); return 0;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(from, idx, &n);
    lua_pushlstring(to, s, n);
    return 0;
  }
  case LUA_TTABLE: return copy_table(from, idx, to, depth);
  default:
    lua_pushfstring(to, "cannot copy a %s between the spec and the driver "
                    "(only nil, booleans, numbers, strings and tables of those)",
                    lua_typename(from, lua_type(from, idx)));
    return -1;
  }
}

int emu_lua_copy(lua_State *from, int src_idx, lua_State *to) {
  if (src_idx < 0) src_idx = lua_gettop(from) + src_idx + 1;
  return copy_value(from, src_idx, to, 0);
}
