/*
 * emu_pretty.c — how the consoles show values (the terminal console,
 * emu_console.c, and the web console's Lua tab, emu_web_lua.c): nested
 * tables with sorted keys (array part first), strings quoted inside tables,
 * a depth limit, cycles named, long tables cut off, and one entry per line
 * when a table does not fit on one.
 *
 * Printing never runs driver code: values are read with raw accesses, no
 * __tostring, __index or __pairs is used, and neither are the driver's
 * globals (a driver may redefine tostring or table.sort).  A broken metatable
 * cannot fail it, and looking at a value cannot change the driver.  The text
 * is capped (PRETTY_MAX), and a table's one-line trial stops as soon as it is
 * too wide, so a huge nested table costs what is shown, not what it holds.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "emu_host.h"

#define PRETTY_DEPTH 4     /* tables nested deeper show as {...N entries} */
#define PRETTY_ITEMS 100   /* entries shown per table */
#define PRETTY_WIDTH 72    /* a table longer than this on one line is broken up */
#define PRETTY_MAX   (256u << 10) /* bytes of text, then "... (cut)" */

typedef struct {
  lua_State *L;
  int out;       /* stack index of the table of pieces */
  int seen;      /* stack index of the set of tables being printed (cycles) */
  int n;
  size_t len;
  size_t limit;  /* pieces past this length are dropped */
} pp;

static bool full(const pp *p) { return p->len > p->limit; }

static void put(pp *p, const char *s, size_t n) {
  if (full(p)) return;
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
  size_t len = lua_objlen(p->L, -1);
  if (full(p)) {
    lua_pop(p->L, 1);
    return;
  }
  p->len += len;
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

/* The name luaL_newmetatable registered the userdata's metatable under
 * (C4 objects' documented type names, "C4LuaTimer"), pushed; or nothing and
 * false.  Raw reads of the registry only. */
static bool push_type_name(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return false;
  lua_pushnil(L);
  while (lua_next(L, LUA_REGISTRYINDEX) != 0) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, -3)) {
      lua_pop(L, 1);
      lua_remove(L, -2); /* the metatable: the name stays */
      return true;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return false;
}

/* Scalars and objects, without calling anything: numbers as Lua prints
 * them, functions and threads as "type: 0x...", userdata as its type name
 * when it has one. */
static void put_plain(pp *p, int idx, bool quote) {
  lua_State *L = p->L;
  char buf[64];
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
  case LUA_TNUMBER:
    snprintf(buf, sizeof buf, LUA_NUMBER_FMT, lua_tonumber(L, idx));
    puts_(p, buf);
    return;
  default: {
    bool named = push_type_name(L, idx);
    snprintf(buf, sizeof buf, "%.40s: %p", named ? lua_tostring(L, -1) : luaL_typename(L, idx),
             lua_topointer(L, idx));
    if (named) lua_pop(L, 1);
    puts_(p, buf);
  }
  }
}

/* Sort order of keys: numbers, then strings, then the rest by type name.
 * Same-type numbers and strings compare without metamethods. */
static bool key_less(lua_State *L, int a, int b) {
  int ta = lua_type(L, a), tb = lua_type(L, b);
  int ra = ta == LUA_TNUMBER ? 0 : ta == LUA_TSTRING ? 1 : 2;
  int rb = tb == LUA_TNUMBER ? 0 : tb == LUA_TSTRING ? 1 : 2;
  if (ra != rb) return ra < rb;
  if (ra == 0) return lua_tonumber(L, a) < lua_tonumber(L, b);
  if (ra == 1) return strcmp(lua_tostring(L, a), lua_tostring(L, b)) < 0;
  return strcmp(lua_typename(L, ta), lua_typename(L, tb)) < 0;
}

/* Heap sort of keys[1..n] (a table on the stack): O(n log n), 2 slots. */
static void sift(lua_State *L, int keys, int root, int n) {
  for (;;) {
    int child = 2 * root;
    if (child > n) return;
    lua_rawgeti(L, keys, child);
    if (child < n) {
      lua_rawgeti(L, keys, child + 1);
      if (key_less(L, -2, -1)) {
        child++;
        lua_remove(L, -2);
      } else {
        lua_pop(L, 1);
      }
    }
    lua_rawgeti(L, keys, root);
    if (!key_less(L, -1, -2)) {
      lua_pop(L, 2);
      return;
    }
    lua_rawseti(L, keys, child); /* swap root and child */
    lua_rawseti(L, keys, root);
    root = child;
  }
}

static void sort_keys(lua_State *L, int keys, int n) {
  for (int i = n / 2; i >= 1; i--) sift(L, keys, i, n);
  for (int end = n; end > 1; end--) {
    lua_rawgeti(L, keys, 1);
    lua_rawgeti(L, keys, end);
    lua_rawseti(L, keys, 1);
    lua_rawseti(L, keys, end);
    sift(L, keys, 1, end - 1);
  }
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
  sort_keys(L, keys, nkeys);
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
  for (size_t i = 1; i <= total && shown < PRETTY_ITEMS && !full(p); i++, shown++) {
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
  if (lua_type(L, idx) != LUA_TTABLE) {
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
  if (depth >= PRETTY_DEPTH || !lua_checkstack(L, 12)) {
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
  /* First try it on one line, into a scratch list of pieces; the trial
   * stops once it is wider than the line. */
  size_t room = PRETTY_WIDTH > indent ? PRETTY_WIDTH - (size_t)indent : 0;
  pp trial = {L, 0, p->seen, 0, 0, room};
  lua_newtable(L);
  trial.out = lua_gettop(L);
  put_table(&trial, idx, depth, indent, false);
  if (!full(&trial)) {
    for (int i = 1; i <= trial.n && !full(p); i++) {
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

/* Joins the pieces in the table at index `out` (no table.concat: the
 * driver's globals are not used) and replaces it by the string. */
static void join(lua_State *L, int out, int n, bool cut) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, out, i);
    luaL_addvalue(&b);
  }
  if (cut) luaL_addstring(&b, "\n... (cut)");
  luaL_pushresult(&b);
  lua_replace(L, out);
}

/*
 * emu_pretty(v1, v2, ...) → one string: the values separated by tabs (as
 * print does) for the terminal console; a top-level string shows as it is
 * unless it holds control bytes.  emu_pretty_lines(...) → the values one per
 * line, top-level strings quoted, for the web console (where "x\ny" and two
 * values would otherwise look alike).  Both raise only on out of memory:
 * call them protected.
 */
static int pretty(lua_State *L, bool lines) {
  int n = lua_gettop(L);
  lua_newtable(L);
  lua_newtable(L);
  pp p = {L, n + 1, n + 2, 0, 0, PRETTY_MAX};
  for (int i = 1; i <= n; i++) {
    if (i > 1) puts_(&p, lines ? "\n" : "\t");
    bool quote = lines;
    if (!lines && lua_type(L, i) == LUA_TSTRING) {
      size_t len;
      const char *s = lua_tolstring(L, i, &len);
      for (size_t j = 0; j < len && !quote; j++)
        quote = ((unsigned char)s[j] < 0x20 && s[j] != '\n' && s[j] != '\t') || s[j] == 0x7f;
    }
    put_value(&p, i, 0, 0, quote);
  }
  join(L, p.out, p.n, full(&p));
  lua_settop(L, n + 1);
  return 1;
}

int emu_pretty(lua_State *L) { return pretty(L, false); }
int emu_pretty_lines(lua_State *L) { return pretty(L, true); }
