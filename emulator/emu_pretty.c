/*
 * emu_pretty.c — how the console shows values: nested tables with sorted
 * keys, strings quoted inside tables, a depth limit, cycles named, long
 * tables cut off, and one entry per line when a table does not fit on one.
 *
 * emu_pretty runs as a Lua C function inside a guarded protected call, so a
 * __tostring that loops or raises is stopped like any driver code; the text
 * is built from Lua strings only, so an error leaks nothing.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "emu_host.h"

#define PRETTY_DEPTH 4     /* tables nested deeper show as {…N entries} */
#define PRETTY_ITEMS 100   /* entries shown per table */
#define PRETTY_WIDTH 72    /* a table longer than this on one line is broken up */

typedef struct {
  lua_State *L;
  int out;     /* stack index of the table of pieces */
  int seen;    /* stack index of the set of tables being printed (cycles) */
  int n;
  size_t len;
} pp;

static void put(pp *p, const char *s, size_t n) {
  lua_pushlstring(p->L, s, n);
  lua_rawseti(p->L, p->out, ++p->n);
  p->len += n;
}

static void puts_(pp *p, const char *s) { put(p, s, strlen(s)); }

static void put_quoted(pp *p, const char *s, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(p->L, &b);
  luaL_addchar(&b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    switch (c) {
    case '"': luaL_addstring(&b, "\\\""); break;
    case '\\': luaL_addstring(&b, "\\\\"); break;
    case '\n': luaL_addstring(&b, "\\n"); break;
    case '\r': luaL_addstring(&b, "\\r"); break;
    case '\t': luaL_addstring(&b, "\\t"); break;
    default:
      if (c < 0x20 || c == 0x7f) {
        snprintf(esc, sizeof esc, "\\%d", c); /* Lua's own decimal escape */
        luaL_addstring(&b, esc);
      } else {
        luaL_addchar(&b, (char)c);
      }
    }
  }
  luaL_addchar(&b, '"');
  luaL_pushresult(&b);
  p->len += lua_objlen(p->L, -1);
  lua_rawseti(p->L, p->out, ++p->n);
}

static bool is_identifier(const char *s, size_t n) {
  static const char *const reserved[] = {
      "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in",
      "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"};
  if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return false;
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strlen(reserved[i]) == n && memcmp(reserved[i], s, n) == 0) return false;
  return true;
}

/* Scalars and objects: numbers as Lua prints them, objects through tostring. */
static void put_plain(pp *p, int idx, bool quote) {
  lua_State *L = p->L;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (quote) put_quoted(p, s, n);
    else put(p, s, n);
    return;
  }
  case LUA_TNIL: puts_(p, "nil"); return;
  case LUA_TBOOLEAN: puts_(p, lua_toboolean(L, idx) ? "true" : "false"); return;
  default:
    lua_getglobal(L, "tostring");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    if (lua_isstring(L, -1)) put(p, lua_tostring(L, -1), lua_objlen(L, -1));
    else puts_(p, luaL_typename(L, idx));
    lua_pop(L, 1);
  }
}

/* Sort order of keys: numbers, then strings, then the rest by type name. */
static int key_less(lua_State *L) {
  int ta = lua_type(L, 1), tb = lua_type(L, 2);
  int ra = ta == LUA_TNUMBER ? 0 : ta == LUA_TSTRING ? 1 : 2;
  int rb = tb == LUA_TNUMBER ? 0 : tb == LUA_TSTRING ? 1 : 2;
  if (ra != rb) lua_pushboolean(L, ra < rb);
  else if (ra < 2) lua_pushboolean(L, lua_lessthan(L, 1, 2));
  else lua_pushboolean(L, strcmp(lua_typename(L, ta), lua_typename(L, tb)) < 0);
  return 1;
}

static void put_value(pp *p, int idx, int depth, int indent, bool quote);

static void put_key(pp *p, int idx) {
  lua_State *L = p->L;
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (is_identifier(s, n)) {
      put(p, s, n);
      puts_(p, " = ");
      return;
    }
  }
  puts_(p, "[");
  put_plain(p, idx, true);
  puts_(p, "] = ");
}

/* Renders the table at idx: compact if it fits, else one entry per line. */
static void put_table(pp *p, int idx, int depth, int indent, bool multiline) {
  lua_State *L = p->L;
  luaL_checkstack(L, 12, "console: table too deep to print");
  size_t alen = lua_objlen(L, idx);
  /* keys outside the array part, sorted */
  lua_newtable(L);
  int keys = lua_gettop(L), nkeys = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TNUMBER) {
      lua_Number k = lua_tonumber(L, -1);
      if (k >= 1 && k <= (lua_Number)alen && k == (lua_Number)(size_t)k) continue;
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, ++nkeys);
  }
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, keys);
  lua_pushcfunction(L, key_less);
  lua_call(L, 2, 0);
  lua_pop(L, 1);
  size_t total = alen + (size_t)nkeys, shown = 0;
  if (total == 0) {
    lua_pop(L, 1);
    puts_(p, "{}");
    return;
  }
  char pad[128];
  int w = indent + 2 < (int)sizeof pad - 1 ? indent + 2 : (int)sizeof pad - 1;
  memset(pad, ' ', (size_t)w);
  pad[w] = '\0';
  puts_(p, "{");
  for (size_t i = 1; i <= total && shown < PRETTY_ITEMS; i++, shown++) {
    if (i > 1) puts_(p, ",");
    if (multiline) {
      puts_(p, "\n");
      puts_(p, pad);
    } else if (i > 1) {
      puts_(p, " ");
    }
    if (i <= alen) {
      lua_rawgeti(L, idx, (int)i);
    } else {
      lua_rawgeti(L, keys, (int)(i - alen));
      put_key(p, lua_gettop(L));
      lua_rawget(L, idx);
    }
    put_value(p, lua_gettop(L), depth + 1, indent + 2, true);
    lua_pop(L, 1);
  }
  if (shown < total) {
    char more[48];
    snprintf(more, sizeof more, ", ... %zu more", total - shown);
    puts_(p, more);
  }
  if (multiline) {
    pad[indent < (int)sizeof pad - 1 ? indent : (int)sizeof pad - 1] = '\0';
    puts_(p, "\n");
    puts_(p, pad);
  }
  puts_(p, "}");
  lua_pop(L, 1); /* keys */
}

static void put_value(pp *p, int idx, int depth, int indent, bool quote) {
  lua_State *L = p->L;
  if (lua_type(L, idx) != LUA_TTABLE || luaL_getmetafield(L, idx, "__tostring")) {
    if (lua_type(L, idx) == LUA_TTABLE) lua_pop(L, 1); /* the metafield */
    put_plain(p, idx, quote);
    return;
  }
  lua_pushvalue(L, idx);
  lua_rawget(L, p->seen);
  bool cycle = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (cycle) {
    char s[64];
    snprintf(s, sizeof s, "<cycle: table %p>", lua_topointer(L, idx));
    puts_(p, s);
    return;
  }
  if (depth >= PRETTY_DEPTH) {
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
      lua_pop(L, 1);
      n++;
    }
    char s[48];
    snprintf(s, sizeof s, n ? "{...%zu entr%s}" : "{}", n, n == 1 ? "y" : "ies");
    puts_(p, s);
    return;
  }
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, p->seen);
  /* First try it on one line, into a scratch list of pieces. */
  pp trial = {L, 0, p->seen, 0, 0};
  lua_newtable(L);
  trial.out = lua_gettop(L);
  put_table(&trial, idx, depth, indent, false);
  if (trial.len + (size_t)indent <= PRETTY_WIDTH) {
    for (int i = 1; i <= trial.n; i++) {
      lua_rawgeti(L, trial.out, i);
      lua_rawseti(L, p->out, ++p->n);
    }
    p->len += trial.len;
  } else {
    put_table(p, idx, depth, indent, true);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, p->seen);
}

int emu_pretty(lua_State *L) {
  int n = lua_gettop(L);
  lua_newtable(L);
  lua_newtable(L);
  pp p = {L, n + 1, n + 2, 0, 0};
  for (int i = 1; i <= n; i++) {
    if (i > 1) puts_(&p, "\t");
    /* A top-level string shows as it is, unless it holds control bytes. */
    bool quote = false;
    if (lua_type(L, i) == LUA_TSTRING) {
      size_t len;
      const char *s = lua_tolstring(L, i, &len);
      for (size_t j = 0; j < len && !quote; j++)
        quote = ((unsigned char)s[j] < 0x20 && s[j] != '\n' && s[j] != '\t') || s[j] == 0x7f;
    }
    put_value(&p, i, 0, 0, quote);
  }
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "concat");
  lua_pushvalue(L, p.out);
  lua_call(L, 1, 1);
  return 1;
}
