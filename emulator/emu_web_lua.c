/*
 * emu_web_lua.c — the web console's Lua tab: code runs in the driver's state
 * (as Composer's Lua tab does), and its results come back pretty-printed.
 *
 * A mistake typed in the console is the user's, not the driver's: it is shown
 * beside the code and not counted among the driver's errors.  The rendering
 * never calls driver code (no __tostring, no __index, no __pairs): it reads
 * with raw accesses, so a broken metatable cannot fail it.
 */
#include <stdio.h>
#include <string.h>

#include "emu_web.h"

#define PRETTY_DEPTH 6     /* nested tables shown */
#define PRETTY_ITEMS 200   /* entries shown per table */
#define PRETTY_MAX   (256u << 10)

typedef struct {
  lua_State *L;      /* the state holding the value */
  luaL_Buffer *b;    /* in another state */
  int seen;          /* index in L of a table: table -> true while open */
  size_t out;
} pretty_ctx;

static void put(pretty_ctx *p, const char *s, size_t n) {
  if (p->out >= PRETTY_MAX) return;
  if (n > PRETTY_MAX - p->out) n = PRETTY_MAX - p->out;
  luaL_addlstring(p->b, s, n);
  p->out += n;
}
static void puts_(pretty_ctx *p, const char *s) { put(p, s, strlen(s)); }

static void indent(pretty_ctx *p, int level) {
  for (int i = 0; i < level; i++) put(p, "  ", 2);
}

static void quoted(pretty_ctx *p, const char *s, size_t n) {
  put(p, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; put(p, esc, 2); }
    else if (c == '\n') put(p, "\\n", 2);
    else if (c == '\r') put(p, "\\r", 2);
    else if (c == '\t') put(p, "\\t", 2);
    else if (c < 32 || c == 127) { snprintf(esc, sizeof esc, "\\%u", c); puts_(p, esc); }
    else put(p, (const char *)&s[i], 1);
  }
  put(p, "\"", 1);
}

static bool is_identifier(const char *s, size_t n) {
  if (n == 0 || !(s[0] == '_' || ((s[0] | 32) >= 'a' && (s[0] | 32) <= 'z'))) return false;
  for (size_t i = 1; i < n; i++)
    if (!(s[i] == '_' || ((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z') || (s[i] >= '0' && s[i] <= '9')))
      return false;
  return true;
}

static void value(pretty_ctx *p, int idx, int level);

/* Key order: numbers ascending, then strings, then everything else. */
static int key_rank(lua_State *L, int i) {
  int t = lua_type(L, i);
  return t == LUA_TNUMBER ? 0 : t == LUA_TSTRING ? 1 : 2;
}

static int key_less(lua_State *L, int a, int b) {
  int ra = key_rank(L, a), rb = key_rank(L, b);
  if (ra != rb) return ra < rb;
  if (ra == 0) return lua_tonumber(L, a) < lua_tonumber(L, b);
  if (ra == 1) return strcmp(lua_tostring(L, a), lua_tostring(L, b)) < 0;
  return 0;
}

static void table(pretty_ctx *p, int t, int level) {
  lua_State *L = p->L;
  lua_pushvalue(L, t);
  lua_rawget(L, p->seen);
  bool open = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (open) { puts_(p, "<cycle>"); return; }
  if (level >= PRETTY_DEPTH) { puts_(p, "{...}"); return; }
  /* Collect up to PRETTY_ITEMS keys, sort them (insertion sort: small n). */
  lua_checkstack(L, PRETTY_ITEMS + 8);
  int base = lua_gettop(L), nkeys = 0;
  bool more = false;
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    lua_pop(L, 1);
    if (nkeys == PRETTY_ITEMS) { more = true; lua_pop(L, 1); break; }
    lua_pushvalue(L, -1);        /* keep a copy below the iteration key */
    lua_insert(L, -2);
    nkeys++;
    for (int j = base + nkeys; j > base + 1 && key_less(L, j, j - 1); j--) {
      lua_pushvalue(L, j);
      lua_pushvalue(L, j - 1);
      lua_replace(L, j);
      lua_replace(L, j - 1);
    }
  }
  if (nkeys == 0) { lua_settop(L, base); puts_(p, "{}"); return; }
  lua_pushvalue(L, t);
  lua_pushboolean(L, 1);
  lua_rawset(L, p->seen);
  puts_(p, "{\n");
  for (int k = 1; k <= nkeys; k++) {
    int key = base + k;
    indent(p, level + 1);
    size_t n = 0;
    const char *ks = lua_type(L, key) == LUA_TSTRING ? lua_tolstring(L, key, &n) : NULL;
    if (ks && is_identifier(ks, n)) {
      put(p, ks, n);
    } else {
      put(p, "[", 1);
      value(p, key, level + 1);
      put(p, "]", 1);
    }
    puts_(p, " = ");
    lua_pushvalue(L, key);
    lua_rawget(L, t);
    value(p, lua_gettop(L), level + 1);
    lua_pop(L, 1);
    puts_(p, k < nkeys || more ? ",\n" : "\n");
  }
  if (more) { indent(p, level + 1); puts_(p, "...\n"); }
  indent(p, level);
  put(p, "}", 1);
  lua_pushvalue(L, t);
  lua_pushnil(L);
  lua_rawset(L, p->seen);
  lua_settop(L, base);
}

static void value(pretty_ctx *p, int idx, int level) {
  lua_State *L = p->L;
  char buf[64];
  size_t n;
  switch (lua_type(L, idx)) {
  case LUA_TNIL: puts_(p, "nil"); break;
  case LUA_TBOOLEAN: puts_(p, lua_toboolean(L, idx) ? "true" : "false"); break;
  case LUA_TNUMBER: {
    lua_Number x = lua_tonumber(L, idx);
    snprintf(buf, sizeof buf, LUA_NUMBER_FMT, x);
    puts_(p, buf);
    break;
  }
  case LUA_TSTRING: {
    const char *s = lua_tolstring(L, idx, &n);
    quoted(p, s, n);
    break;
  }
  case LUA_TTABLE: table(p, idx < 0 ? lua_gettop(L) + idx + 1 : idx, level); break;
  default:
    snprintf(buf, sizeof buf, "%s: %p", lua_typename(L, lua_type(L, idx)), lua_topointer(L, idx));
    puts_(p, buf);
  }
}

void emu_web_pretty(lua_State *L, int idx, luaL_Buffer *b) {
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  lua_checkstack(L, 16);
  lua_newtable(L);
  pretty_ctx p = {L, b, lua_gettop(L), 0};
  value(&p, idx, 0);
  if (p.out >= PRETTY_MAX) luaL_addstring(b, "\n... (cut)");
  lua_pop(L, 1);
}

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
    luaL_Buffer b;
    luaL_buffinit(J, &b);
    for (int i = top + 1; i <= lua_gettop(L); i++) {
      if (i > top + 1) luaL_addchar(&b, '\n');
      emu_web_pretty(L, i, &b);
    }
    luaL_pushresult(&b);
    lua_setfield(J, -2, "values");
    lua_pushinteger(J, lua_gettop(L) - top);
    lua_setfield(J, -2, "count");
  }
  lua_settop(L, top);
}
