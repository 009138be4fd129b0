/*
 * c4_jsonmod.c — `require "json"`: the JSON module a controller offers to
 * drivers, beside C4:JsonEncode/JsonDecode (c4_json.c).
 *
 * No public DriverWorks page names the library behind the controller's
 * `json` module (Director puts /control4/drivers/lua on the search path, and
 * drivers seen in the wild call json.decode / json.encode and JSON:decode /
 * JSON:encode on what it returns).  So we provide the common API on a
 * well-kept library: Debian's lua-dkjson (dkjson 2.6), loaded from the system
 * at first `require`, its functions wrapped so that both call styles work:
 *
 *   json.encode(v [, state]) / json:encode(v [, state])  -> text
 *   json.decode(s [, pos [, null]]) / json:decode(s ...)  -> value | nil, pos, err
 *   json.null, json.version and the rest of dkjson's table as they are.
 *
 * `require "json"` also sets the global `json` (as a Lua 5.1 `module("json")`
 * does) and the module carries `json.JSON_LIBRARY_CHUNK`: Lua source that,
 * run with loadstring, returns an object with :decode/:encode/:encode_pretty.
 * Public drivers (and the DriverCentral licence code many commercial drivers
 * embed) do exactly `require "json"; JSON = (loadstring(json.JSON_LIBRARY_CHUNK))()`,
 * so the controller's module evidently has both.  What the controller's chunk
 * contains is not public; ours is our own few lines over this same module,
 * with the object's documented-by-use behaviour: decode raises on bad JSON
 * (the object-style library reports through an error handler that raises)
 * and JSON null decodes to nil.
 *
 * The loader sits at the END of package.loaders, after the package's own Lua
 * searcher, so a driver that ships its own json.lua gets its own (as a
 * squished driver does with package.preload).  dkjson's optional LPeg mode
 * is not available (a driver cannot load C modules); use_lpeg raises.
 */
#include <stdio.h>
#include <string.h>

#include "c4api.h"

#ifndef C4_DKJSON_PATH
#define C4_DKJSON_PATH "/usr/share/lua/5.1/dkjson.lua"
#endif

/* json.f(...) or json:f(...): calls upvalue 1 with the module table (upvalue
 * 2) dropped when it was passed as self. */
static int json_method(lua_State *L) {
  if (lua_gettop(L) >= 1 && lua_rawequal(L, 1, lua_upvalueindex(2))) lua_remove(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* The object JSON_LIBRARY_CHUNK returns (see the header comment). */
static const char json_library_chunk[] =
    "local j = require 'json'\n"
    "local o = {}\n"
    "function o:decode(text)\n"
    "  local v, pos, err = j.decode(text)\n"
    "  if v == nil and err then error('JSON:decode: ' .. tostring(err), 2) end\n"
    "  return v\n"
    "end\n"
    "function o:encode(value) return (j.encode(value)) end\n"
    "function o:encode_pretty(value) return (j.encode(value, { indent = true })) end\n"
    "return o\n";

/* The opener require calls: sets the global `json` and returns upvalue 1
 * (the module built below). */
static int json_opener(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, -1);
  lua_setglobal(L, "json");
  return 1;
}

/* package.loaders entry: for "json", loads dkjson and returns an opener of
 * the wrapped module; for any other name, the line require adds to its
 * "module not found" message. */
static int json_loader(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (strcmp(name, "json") != 0) {
    lua_pushliteral(L, "\n\tno module of that name provided by c4emu (it provides \"json\")");
    return 1;
  }
  if (luaL_loadfile(L, C4_DKJSON_PATH) != 0)
    return luaL_error(L, "require \"json\": c4emu's JSON module (dkjson) cannot be loaded: %s "
                      "(install the Debian package lua-dkjson)", lua_tostring(L, -1));
  lua_pushliteral(L, "dkjson");
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1)) return luaL_error(L, "require \"json\": dkjson did not return a table");
  int dk = lua_gettop(L);
  lua_newtable(L); /* the module the driver gets */
  int mod = dk + 1;
  lua_pushnil(L);
  while (lua_next(L, dk) != 0) {
    lua_pushvalue(L, -2);   /* key */
    if (lua_isfunction(L, -2)) {
      lua_pushvalue(L, -2);
      lua_pushvalue(L, mod);
      lua_pushcclosure(L, json_method, 2);
    } else {
      lua_pushvalue(L, -2);
    }
    lua_rawset(L, mod);
    lua_pop(L, 1);          /* value */
  }
  lua_pushlstring(L, json_library_chunk, sizeof json_library_chunk - 1);
  lua_setfield(L, mod, "JSON_LIBRARY_CHUNK");
  lua_pushcclosure(L, json_opener, 1);
  return 1;
}

static void jsonmod_open(lua_State *L, emu_ctx *ctx) {
  (void)ctx;
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaders");
  if (lua_istable(L, -1)) {
    lua_pushcfunction(L, json_loader);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
  }
  lua_pop(L, 2);
}

const c4_family c4_family_jsonmod = {"jsonmod", NULL, jsonmod_open, NULL};
