/*
 * emu_lua_load.c — how code gets into a driver's lua_State: `require`'s Lua
 * searcher, and loadstring, load, loadfile and dofile, all refusing
 * precompiled Lua.
 *
 * Bytecode is refused everywhere (a script, a module, or a string given to
 * loadstring/load): PUC Lua 5.1 has no bytecode verifier, so hostile
 * bytecode can crash it or worse, and drivers ship source.  The refusal is
 * the loader's own failure convention: loadstring/load/loadfile return
 * nil, message; require and dofile raise.
 *
 * The searcher replaces package.loaders[2].  It walks package.path as Lua's
 * does, but names each chunk by its path relative to the package folder
 * ("@SKC4/LicenseManager.lua"), so tracebacks read as on a controller and
 * never show the temporary folder a .c4z was unpacked into.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_host.h"

static const char BYTECODE_MSG[] =
    "precompiled Lua (bytecode) is refused: hostile bytecode can crash Lua 5.1, and drivers "
    "ship source";

/* Reads a whole file; NULL if it cannot be opened or read. */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 8192, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
    if (n == cap) {
      char *p = realloc(buf, cap *= 2);
      if (!p) free(buf);
      buf = p;
    }
  }
  bool bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* Loads source text as a chunk; bytecode is refused.  A first line starting
 * with '#' is blanked (kept as an empty line), as luaL_loadfile skips it.
 * Returns 0 with the function pushed, or non-zero with a message pushed. */
static int load_text(lua_State *L, char *src, size_t len, const char *chunkname) {
  if (len > 0 && src[0] == '#') {
    for (size_t i = 0; i < len && src[i] != '\n'; i++) src[i] = ' ';
  }
  if (emu_is_bytecode(src, len)) {
    lua_pushfstring(L, "%s: %s", chunkname[0] == '@' || chunkname[0] == '=' ? chunkname + 1 : chunkname,
                    BYTECODE_MSG);
    return -1;
  }
  return luaL_loadbuffer(L, src, len, chunkname);
}

/* The chunk name of a module file: relative to the package folder if inside. */
static void module_chunkname(emu_ctx *ctx, const char *file, char *out, size_t outsz) {
  size_t n = ctx->pkg_dir ? strlen(ctx->pkg_dir) : 0;
  if (n && strncmp(file, ctx->pkg_dir, n) == 0 && file[n] == '/')
    snprintf(out, outsz, "@%s", file + n + 1);
  else
    snprintf(out, outsz, "@%s", file);
}

/* package.loaders[2]: finds name along package.path and loads it. */
static int lua_searcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  const char *path = lua_tostring(L, -1);
  if (!path) return luaL_error(L, "'package.path' must be a string");
  const char *fname = luaL_gsub(L, name, ".", "/");
  luaL_Buffer msg;
  luaL_buffinit(L, &msg);
  for (const char *p = path; *p;) {
    size_t n = strcspn(p, ";");
    if (n > 0) {
      lua_pushlstring(L, p, n);
      const char *file = luaL_gsub(L, lua_tostring(L, -1), "?", fname);
      size_t len;
      char *src = slurp(file, &len);
      if (src) {
        char chunk[4200];
        module_chunkname(emu_ctx_of(L), file, chunk, sizeof chunk);
        int st = load_text(L, src, len, chunk);
        free(src);
        if (st != 0)
          return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, chunk + 1,
                            lua_tostring(L, -1));
        return 1;
      }
      lua_pushfstring(L, "\n\tno file '%s'", file);
      lua_remove(L, -2); /* file */
      lua_remove(L, -2); /* template */
      luaL_addvalue(&msg);
    }
    p += n;
    if (*p == ';') p++;
  }
  luaL_pushresult(&msg);
  return 1;
}

/* What loadstring and load return for source s: the chunk, or nil, msg. */
static int load_string(lua_State *L, const char *s, size_t len, const char *chunk, const char *fn) {
  if (emu_is_bytecode(s, len)) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", fn, BYTECODE_MSG);
    return 2;
  }
  if (luaL_loadbuffer(L, s, len, chunk) == 0) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* loadstring(s [, chunkname]) -> chunk | nil, msg */
static int l_loadstring(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  return load_string(L, s, len, luaL_optstring(L, 2, s), "loadstring");
}

/* load(fn [, chunkname]) -> chunk | nil, msg: the pieces are gathered first,
 * so the first byte can be checked before anything is parsed. */
static int l_load(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  const char *chunk = luaL_optstring(L, 2, "=(load)");
  lua_settop(L, 2);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (;;) {
    lua_pushvalue(L, 1);
    lua_call(L, 0, 1);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      break;
    }
    if (!lua_isstring(L, -1)) return luaL_error(L, "reader function must return a string");
    if (lua_objlen(L, -1) == 0) {
      lua_pop(L, 1);
      break;
    }
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  return load_string(L, s, len, chunk, "load");
}

/* loadfile(name) -> chunk | nil, msg  (no name: refused, there is no stdin) */
static int l_loadfile(lua_State *L) {
  const char *name = luaL_optstring(L, 1, NULL);
  if (!name) {
    lua_pushnil(L);
    lua_pushliteral(L, "loadfile: drivers have no standard input; give a file name");
    return 2;
  }
  size_t len;
  char *src = slurp(name, &len);
  if (!src) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot open %s", name);
    return 2;
  }
  lua_pushfstring(L, "@%s", name);
  int st = load_text(L, src, len, lua_tostring(L, -1));
  free(src);
  if (st == 0) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* dofile(name) -> what the chunk returns; errors raise */
static int l_dofile(lua_State *L) {
  lua_settop(L, 1);
  if (l_loadfile(L) == 2) return lua_error(L); /* the message is on top */
  lua_replace(L, 1);                          /* the chunk */
  lua_settop(L, 1);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L);
}

void emu_lua_install_loaders(lua_State *L) {
  lua_register(L, "loadstring", l_loadstring);
  lua_register(L, "load", l_load);
  lua_register(L, "loadfile", l_loadfile);
  lua_register(L, "dofile", l_dofile);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaders");
  lua_pushcfunction(L, lua_searcher);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}
