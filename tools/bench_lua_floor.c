/*
 * bench_lua_floor.c — the echo drivers' own Lua work per message, hosted by
 * the least a host can do: look the callback up, push its arguments, call it
 * protected.  No sockets, no checks, no watchdog.  tools/bench_instr.sh counts
 * its instructions beside c4emu's, so what c4emu adds per message is the
 * difference (the kernel interface is the plain libuv server's row there).
 *
 *   bench-lua-floor server N   OnServerDataIn(handle, data) as in
 *                              fixtures/drivers/server_echo with Upper=1
 *   bench-lua-floor tcp N      the OnRead handler of fixtures/drivers/tcp_echo
 *                              with Upper=1: cli:Write(data:upper()):ReadUntil("\n")
 * Both call N times with a 32-byte line; C4:ServerSend, Write and ReadUntil
 * are C functions that check their arguments as the real ones must.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static int server_send(lua_State *L) {
  luaL_checknumber(L, 2);
  luaL_checkstring(L, 3);
  return 0;
}

static int client_write(lua_State *L) {
  luaL_checkudata(L, 1, "C4LuaTcpClient");
  luaL_checkstring(L, 2);
  lua_settop(L, 1);
  return 1;
}

static int client_read_until(lua_State *L) {
  luaL_checkudata(L, 1, "C4LuaTcpClient");
  luaL_checkstring(L, 2);
  lua_settop(L, 1);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "tcp") != 0)) {
    fprintf(stderr, "usage: bench-lua-floor server|tcp N\n");
    return 2;
  }
  bool tcp = strcmp(argv[1], "tcp") == 0;
  long n = atol(argv[2]);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_newtable(L);
  lua_pushcfunction(L, server_send);
  lua_setfield(L, -2, "ServerSend");
  lua_setglobal(L, "C4");
  luaL_newmetatable(L, "C4LuaTcpClient");
  lua_newtable(L);
  lua_pushcfunction(L, client_write);
  lua_setfield(L, -2, "Write");
  lua_pushcfunction(L, client_read_until);
  lua_setfield(L, -2, "ReadUntil");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  if (luaL_dostring(L, "function OnServerDataIn(handle, data) C4:ServerSend(handle, data:upper()) end\n"
                       "local upper = true\n"
                       "ON_READ = function(cli, data)\n"
                       "  cli:Write(upper and data:upper() or data):ReadUntil('\\n')\n"
                       "end") != 0) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  lua_newuserdata(L, 8); /* the client */
  luaL_getmetatable(L, "C4LuaTcpClient");
  lua_setmetatable(L, -2);
  int cli = lua_gettop(L);
  static const char line[] = "abcdefghijklmnopqrstuvwxyz01234\n";
  for (long i = 0; i < n; i++) {
    if (tcp) {
      lua_getfield(L, LUA_GLOBALSINDEX, "ON_READ");
      lua_pushvalue(L, cli);
    } else {
      lua_getfield(L, LUA_GLOBALSINDEX, "OnServerDataIn");
      lua_pushnumber(L, 268435457.0);
    }
    lua_pushlstring(L, line, 32);
    if (lua_pcall(L, 2, 0, 0) != 0) {
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      return 1;
    }
  }
  lua_close(L);
  return 0;
}
