/*
 * emu_web_lua.c — the web console's Lua tab: code runs in the driver's state
 * (as Composer's Lua tab does), and its results come back pretty-printed by
 * the terminal console's printer (emu_pretty.c), one value per line.
 *
 * A mistake typed in the console is the user's, not the driver's: it is shown
 * beside the code and not counted among the driver's errors.  The rendering
 * never calls driver code (no __tostring, no __index, no __pairs).
 */
#include <stdio.h>
#include <string.h>

#include "emu_web.h"

void emu_web_run_lua(emu_ctx *ctx, const char *code, size_t len, lua_State *J) {
  lua_State *L = ctx->L;
  int top = lua_gettop(L);
  lua_createtable(J, 0, 3);
  /* Bytecode is refused here as everywhere (hostile bytecode can crash Lua 5.1). */
  if (emu_is_bytecode(code, len)) {
    lua_pushboolean(J, 0);
    lua_setfield(J, -2, "ok");
    lua_pushliteral(J, "precompiled Lua (bytecode) is refused: type Lua source");
    lua_setfield(J, -2, "error");
    return;
  }
  /* An expression first ("1 + 1", "Properties"), then a chunk. */
  lua_pushliteral(L, "return ");
  lua_pushlstring(L, code, len);
  lua_concat(L, 2);
  int st = luaL_loadbuffer(L, lua_tostring(L, -1), lua_objlen(L, -1), "=console");
  lua_remove(L, -2);
  if (st != 0) {
    lua_pop(L, 1);
    st = luaL_loadbuffer(L, code, len, "=console");
  }
  if (st == 0) st = emu_pcall_keep(L, 0, LUA_MULTRET, "web console Lua");
  lua_pushboolean(J, st == 0);
  lua_setfield(J, -2, "ok");
  if (st != 0) {
    lua_pushstring(J, lua_tostring(L, -1) ? lua_tostring(L, -1) : "error without a message");
    lua_setfield(J, -2, "error");
  } else {
    int count = lua_gettop(L) - top;
    lua_pushcfunction(L, emu_pretty_lines);
    lua_insert(L, top + 1);
    /* Printing runs no driver code; protected for out of memory (the cap). */
    if (lua_pcall(L, count, 1, 0) == 0) lua_pushstring(J, lua_tostring(L, -1));
    else lua_pushfstring(J, "(the values could not be printed: %s)", lua_tostring(L, -1));
    lua_setfield(J, -2, "values");
    lua_pushinteger(J, count);
    lua_setfield(J, -2, "count");
  }
  lua_settop(L, top);
}
