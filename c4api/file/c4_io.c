/*
 * c4_io.c — Lua's own file functions, confined as the File API is: io.open,
 * io.lines, io.input, io.output, os.remove, os.rename, loadfile and dofile
 * take only names inside the driver's sandbox (read and write), the MEDIA and
 * LOGGING folders (read and write; "/media/..." and "/var/log/debug/..."
 * lead there, c4_file_path.c) and package folder (read only); os.execute is
 * refused.
 *
 * How far a controller confines io.open is not documented (FileSetDir's page
 * says only that OS 3.3.0 restricted the File API, and drivers do call
 * io.open on C4:GetSandboxDir() and C4:GetC4zDir() paths).  c4emu takes the
 * safe reading, on every OS version: a driver run here cannot touch files
 * outside those two folders, so a spec cannot damage the user's machine.
 * Relative names are looked up in the package folder, then the sandbox,
 * for reading, and go to the sandbox for writing.
 *
 * A refused name makes io.open return nil, message, EACCES — the failure
 * convention of io.open — and the other functions the same (loadfile:
 * nil, message; dofile raises, as it does for a missing file).  Each
 * wrapper holds the original function as its upvalue.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "file/c4_file.h"

/* Resolves name for reading or writing into out; pushes nil, msg, EACCES
 * and returns 3 when refused, else returns 0. */
static int confine(lua_State *L, const char *name, bool write, char *out, size_t outsz) {
  emu_ctx *ctx = emu_ctx_of(L);
  char err[PATH_MAX + 200];
  c4_root root = C4_ROOT_NONE;
  int rc = -1;
  if (name[0] != '/' && !write && ctx->pkg_dir) {
    struct stat st;
    rc = c4_path_confine(ctx, ctx->pkg_dir, name, out, outsz, &root, err, sizeof err);
    if (rc == 0 && stat(out, &st) != 0) rc = -1;
  }
  if (rc != 0)
    rc = c4_path_confine(ctx, ctx->sandbox_dir ? ctx->sandbox_dir : "/nonexistent", name, out,
                         outsz, &root, err, sizeof err);
  if (rc == 0 && write && !c4_root_writable(root)) {
    snprintf(err, sizeof err, "path '%s' refused: the package folder is read-only", name);
    rc = -1;
  }
  if (rc == 0) return 0;
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", name, err);
  lua_pushinteger(L, EACCES);
  return 3;
}

static bool mode_writes(const char *mode) {
  return strpbrk(mode, "wa+") != NULL;
}

/* Calls the original (upvalue 1) with argument `idx` replaced by path. */
static int call_original(lua_State *L, int idx, const char *path) {
  lua_pushstring(L, path);
  lua_replace(L, idx);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int pass_through(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* io.open(name [, mode]) -> file | nil, msg, errno */
static int l_io_open(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "r");
  char path[PATH_MAX];
  int n = confine(L, name, mode_writes(mode), path, sizeof path);
  return n ? n : call_original(L, 1, path);
}

/* io.lines([name]) */
static int l_io_lines(lua_State *L) {
  if (lua_isnoneornil(L, 1)) return pass_through(L);
  const char *name = luaL_checkstring(L, 1);
  char path[PATH_MAX];
  if (confine(L, name, false, path, sizeof path)) return luaL_error(L, "%s", lua_tostring(L, -2));
  return call_original(L, 1, path);
}

/* io.input([file | name]) and io.output([file | name]) */
static int io_redirect(lua_State *L, bool write) {
  if (lua_type(L, 1) != LUA_TSTRING) return pass_through(L);
  char path[PATH_MAX];
  if (confine(L, lua_tostring(L, 1), write, path, sizeof path))
    return luaL_error(L, "%s", lua_tostring(L, -2));
  return call_original(L, 1, path);
}
static int l_io_input(lua_State *L) { return io_redirect(L, false); }
static int l_io_output(lua_State *L) { return io_redirect(L, true); }

/* os.remove(name) -> true | nil, msg, errno */
static int l_os_remove(lua_State *L) {
  char path[PATH_MAX];
  int n = confine(L, luaL_checkstring(L, 1), true, path, sizeof path);
  return n ? n : call_original(L, 1, path);
}

/* os.rename(from, to) -> true | nil, msg, errno */
static int l_os_rename(lua_State *L) {
  char from[PATH_MAX], to[PATH_MAX];
  int n = confine(L, luaL_checkstring(L, 1), true, from, sizeof from);
  if (!n) n = confine(L, luaL_checkstring(L, 2), true, to, sizeof to);
  if (n) return n;
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushstring(L, from);
  lua_pushstring(L, to);
  lua_call(L, 2, LUA_MULTRET);
  return lua_gettop(L);
}

/* loadfile([name]) -> chunk | nil, msg */
static int l_loadfile(lua_State *L) {
  if (lua_isnoneornil(L, 1)) return pass_through(L);
  char path[PATH_MAX];
  if (confine(L, luaL_checkstring(L, 1), false, path, sizeof path)) {
    lua_pop(L, 1); /* loadfile fails with nil, msg */
    return 2;
  }
  return call_original(L, 1, path);
}

/* dofile([name]) -> what the chunk returns */
static int l_dofile(lua_State *L) {
  if (lua_isnoneornil(L, 1)) return pass_through(L);
  char path[PATH_MAX];
  if (confine(L, luaL_checkstring(L, 1), false, path, sizeof path))
    return luaL_error(L, "%s", lua_tostring(L, -2));
  return call_original(L, 1, path);
}

/* os.execute(cmd) — a shell command would act outside any sandbox. */
static int l_os_execute(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_pushinteger(L, 0); /* "no shell available" */
    return 1;
  }
  return luaL_error(L, "os.execute is not available to drivers in c4emu (a shell command "
                    "would reach outside the driver's sandbox)");
}

/* Wraps t[name] (t at the top of the stack) with fn holding the original. */
static void wrap(lua_State *L, const char *name, lua_CFunction fn) {
  lua_getfield(L, -1, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, -2, name);
}

void c4_io_confine(lua_State *L, emu_ctx *ctx) {
  (void)ctx;
  lua_getglobal(L, "io");
  if (lua_istable(L, -1)) {
    wrap(L, "open", l_io_open);
    wrap(L, "lines", l_io_lines);
    wrap(L, "input", l_io_input);
    wrap(L, "output", l_io_output);
  }
  lua_pop(L, 1);
  lua_getglobal(L, "os");
  if (lua_istable(L, -1)) {
    wrap(L, "remove", l_os_remove);
    wrap(L, "rename", l_os_rename);
    lua_pushcfunction(L, l_os_execute);
    lua_setfield(L, -2, "execute");
  }
  lua_pop(L, 1);
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  wrap(L, "loadfile", l_loadfile);
  wrap(L, "dofile", l_dofile);
  lua_pop(L, 1);
}
