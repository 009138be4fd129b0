/*
 * fuzz_json.c — C4:JsonDecode on any bytes, then C4:JsonEncode of what it
 * decoded (both flavours): results or Lua errors, never a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

int c4_json_decode(lua_State *L);
int c4_json_encode(lua_State *L);

static lua_State *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) {
    L = luaL_newstate();
    luaL_openlibs(L);
  }
  lua_settop(L, 0);
  lua_pushcfunction(L, c4_json_decode);
  lua_pushnil(L); /* the C4 table */
  lua_pushlstring(L, (const char *)data, size);
  lua_pushboolean(L, size & 1); /* decodeNull */
  if (lua_pcall(L, 3, 1, 0) == 0 && !lua_isnil(L, -1)) {
    for (int flavour = 0; flavour < 2; flavour++) {
      lua_pushcfunction(L, c4_json_encode);
      lua_pushnil(L);
      lua_pushvalue(L, 1);
      lua_pushboolean(L, flavour);     /* formatted */
      lua_pushboolean(L, !flavour);    /* encodeArrays */
      lua_pcall(L, 4, 1, 0);
      lua_pop(L, 1);
    }
  }
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
