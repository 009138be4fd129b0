/*
 * c4_json.c — C4:JsonEncode and C4:JsonDecode with Control4's conventions,
 * built on lua-cjson.  The family (c4_family_helpers) lists these two.
 *
 * lua-cjson does the byte-level work: escaping strings, formatting fractional
 * numbers (locale-safe) and the whole of decoding.  Its module table is
 * private: it lives in the registry under the address of `cjson_key` and is
 * never a global of the driver.  What C4 adds is done here:
 *
 *   - Tables become JSON objects; numeric keys are written as strings ("1").
 *     With encodeArrays a pure array (keys 1..n, no holes, n > 0) becomes a
 *     JSON array.  An empty table is always "{}" (inference: the docs do not
 *     say, and null decodes to an empty table, so objects come first).
 *   - A bare string, number or boolean is wrapped in an object under the
 *     names the JsonEncode page lists: {":string:":"x"}, {":number:":1},
 *     {":boolean:":true}.  The names are documented; that only the top-level
 *     value is wrapped is our inference.  JsonDecode unwraps such an object
 *     (documented: {":number:":42} decodes to 42).
 *   - symmetric=true writes every numeric key as ":index:<n>" (":index:1",
 *     ":index:2.5"); JsonDecode turns any key of that exact form back into the
 *     number.  The marker spelling is from the JsonEncode page; applying it to
 *     non-integer keys and always undoing it when decoding are inferences.
 *   - Members are written in byte order of their names, and formatted=true
 *     indents with tabs and writes `"name" : value`, with short arrays of
 *     scalars on one line ("[ 1, 2 ]").  Both follow the examples on the
 *     JsonEncode page (sorted names, tab indents, " : ", one-line arrays);
 *     the 74-column limit for one-line arrays is our choice.
 *   - Integral numbers are written exactly, without ".0" or an exponent, up
 *     to 1e18; NaN and infinities cannot be encoded.
 *   - c4json.null (the lightuserdata cjson uses) encodes as null; any other
 *     userdata, functions, threads, cycles and non-string/number keys make
 *     JsonEncode return nil, msg.
 *
 * Encoding runs in a protected call, which also makes the result string, so
 * that every failure, including running out of memory, becomes `nil, msg`;
 * the output buffer is owned by the caller of that call and freed on both
 * paths.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "c4api.h"
#include <lua-cjson.h> /* after lua.h, which it needs */

#define JSON_MAX_DEPTH 1000   /* same as lua-cjson's decode limit */
#define JSON_LINE_WIDTH 74    /* one-line arrays must be shorter than this */

static char cjson_key; /* its address keys the private cjson module */

/* Pushes the private lua-cjson module table, creating it on first use. */
static void push_cjson(lua_State *L) {
  lua_pushlightuserdata(L, &cjson_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_istable(L, -1)) return;
  lua_pop(L, 1);
  lua_pushcfunction(L, luaopen_cjson);
  lua_call(L, 0, 1);
  /* Strict JSON: refuse hex, "inf" and "nan" numbers when decoding. */
  lua_getfield(L, -1, "decode_invalid_numbers");
  lua_pushboolean(L, 0);
  lua_call(L, 1, 0);
  lua_pushlightuserdata(L, &cjson_key);
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

/* Pushes the value JSON null decodes to when asked for it: cjson.null. */
void c4_json_push_null(lua_State *L) {
  push_cjson(L);
  lua_getfield(L, -1, "null");
  lua_remove(L, -2);
}

/* ---- encoding ----------------------------------------------------------- */

typedef struct {
  char *buf;
  size_t len, cap;
  bool formatted, arrays, symmetric;
} json_out;

/* Slots of the protected encoder's stack. */
enum { ENC_OUT = 1, ENC_VALUE = 2, ENC_CJSON = 3, ENC_SEEN = 4 };

static void out_add(lua_State *L, json_out *o, const char *p, size_t n) {
  if (o->len + n > o->cap) {
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + n) cap *= 2;
    char *b = realloc(o->buf, cap);
    if (!b) luaL_error(L, "not enough memory");
    o->buf = b;
    o->cap = cap;
  }
  memcpy(o->buf + o->len, p, n);
  o->len += n;
}

static void out_str(lua_State *L, json_out *o, const char *s) {
  out_add(L, o, s, strlen(s));
}

/* Starts a new line at `level` tabs (formatted output only). */
static void out_newline(lua_State *L, json_out *o, int level) {
  if (!o->formatted) return;
  out_add(L, o, "\n", 1);
  for (int i = 0; i < level; i++) out_add(L, o, "\t", 1);
}

/* Pushes the JSON text of number x; raises for NaN and infinities. */
static void push_number_text(lua_State *L, lua_Number x) {
  if (isnan(x) || isinf(x)) luaL_error(L, "cannot encode NaN or infinity");
  if (x == floor(x) && fabs(x) < 1e18) {
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)x);
    lua_pushstring(L, b);
    return;
  }
  lua_pushvalue(L, ENC_CJSON);
  lua_pushnumber(L, x);
  lua_call(L, 1, 1);
}

/* Writes the string at idx, quoted and escaped by cjson.  cjson also escapes
 * '/' as "\/"; that is legal but unusual, so it is written back as '/'. */
static void write_string(lua_State *L, json_out *o, int idx) {
  size_t n;
  lua_pushvalue(L, ENC_CJSON);
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  const char *s = lua_tolstring(L, -1, &n);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\' && i + 1 < n) {
      if (s[i + 1] == '/') out_add(L, o, "/", 1);
      else out_add(L, o, s + i, 2);
      i++;
    } else {
      out_add(L, o, s + i, 1);
    }
  }
  lua_pop(L, 1);
}

static void write_value(lua_State *L, json_out *o, int idx, int level);

/* True if the value at idx prints as a scalar or an empty table. */
static bool is_flat(lua_State *L, int idx) {
  if (!lua_istable(L, idx)) return true;
  lua_pushnil(L);
  if (lua_next(L, idx) == 0) return true;
  lua_pop(L, 2);
  return false;
}

/* Writes t[1..n] as a JSON array. */
static void write_array(lua_State *L, json_out *o, int t, size_t n, int level) {
  size_t start = o->len;
  bool one_line = o->formatted && n < JSON_LINE_WIDTH / 3;
  for (size_t i = 1; one_line && i <= n; i++) {
    lua_rawgeti(L, t, (int)i);
    one_line = is_flat(L, lua_gettop(L));
    lua_pop(L, 1);
  }
  if (one_line) {
    out_str(L, o, "[ ");
    for (size_t i = 1; i <= n; i++) {
      if (i > 1) out_str(L, o, ", ");
      lua_rawgeti(L, t, (int)i);
      write_value(L, o, lua_gettop(L), level + 1);
      lua_pop(L, 1);
    }
    out_str(L, o, " ]");
    if (o->len - start < JSON_LINE_WIDTH) return;
    o->len = start; /* too wide: write it again, one element a line */
  }
  out_str(L, o, "[");
  for (size_t i = 1; i <= n; i++) {
    if (i > 1) out_str(L, o, ",");
    out_newline(L, o, level + 1);
    lua_rawgeti(L, t, (int)i);
    write_value(L, o, lua_gettop(L), level + 1);
    lua_pop(L, 1);
  }
  out_newline(L, o, level);
  out_str(L, o, "]");
}

typedef struct {
  const char *s;
  size_t n;
  int pos; /* index into the names/keys tables */
} json_member;

static int member_cmp(const void *a, const void *b) {
  const json_member *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
  if (c) return c;
  return (x->n > y->n) - (x->n < y->n);
}

/* Writes the table at t (n keys) as a JSON object with sorted names. */
static void write_object(lua_State *L, json_out *o, int t, int n, int level) {
  lua_createtable(L, n, 0); /* names: member name strings */
  int names = lua_gettop(L);
  lua_createtable(L, n, 0); /* keys: the original keys */
  int keys = lua_gettop(L);
  json_member *m = lua_newuserdata(L, sizeof *m * (size_t)(n ? n : 1));
  int i = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    i++;
    if (lua_type(L, -1) == LUA_TNUMBER) {
      push_number_text(L, lua_tonumber(L, -1));
      if (o->symmetric) {
        lua_pushfstring(L, ":index:%s", lua_tostring(L, -1));
        lua_remove(L, -2);
      }
    } else {
      lua_pushvalue(L, -1);
    }
    lua_rawseti(L, names, i);
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, i);
  }
  for (int k = 0; k < n; k++) {
    lua_rawgeti(L, names, k + 1);
    m[k].s = lua_tolstring(L, -1, &m[k].n); /* kept alive by `names` */
    m[k].pos = k + 1;
    lua_pop(L, 1);
  }
  qsort(m, (size_t)n, sizeof *m, member_cmp);
  out_str(L, o, "{");
  for (int k = 0; k < n; k++) {
    if (k > 0) out_str(L, o, ",");
    out_newline(L, o, level + 1);
    lua_rawgeti(L, names, m[k].pos);
    write_string(L, o, lua_gettop(L));
    lua_pop(L, 1);
    out_str(L, o, o->formatted ? " : " : ":");
    lua_rawgeti(L, keys, m[k].pos);
    lua_rawget(L, t);
    write_value(L, o, lua_gettop(L), level + 1);
    lua_pop(L, 1);
  }
  if (n > 0) out_newline(L, o, level);
  out_str(L, o, "}");
  lua_pop(L, 3);
}

static void write_table(lua_State *L, json_out *o, int t, int level) {
  if (level >= JSON_MAX_DEPTH)
    luaL_error(L, "cannot encode tables nested more than %d deep", JSON_MAX_DEPTH);
  luaL_checkstack(L, 12, "JSON nesting");
  lua_pushvalue(L, t);
  lua_rawget(L, ENC_SEEN);
  if (lua_toboolean(L, -1)) luaL_error(L, "cannot encode a table that contains itself");
  lua_pop(L, 1);
  lua_pushvalue(L, t);
  lua_pushboolean(L, 1);
  lua_rawset(L, ENC_SEEN);

  /* Count the keys and see whether they are exactly 1..n. */
  int n = 0;
  lua_Number max = 0;
  bool positive_ints = true;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    n++;
    int kt = lua_type(L, -1);
    if (kt == LUA_TNUMBER) {
      lua_Number k = lua_tonumber(L, -1);
      if (k >= 1 && k == floor(k)) {
        if (k > max) max = k;
      } else {
        positive_ints = false;
      }
    } else if (kt == LUA_TSTRING) {
      positive_ints = false;
    } else {
      luaL_error(L, "cannot encode a table key of type %s", lua_typename(L, kt));
    }
  }
  if (o->arrays && n > 0 && positive_ints && max == n)
    write_array(L, o, t, (size_t)n, level);
  else
    write_object(L, o, t, n, level);

  lua_pushvalue(L, t);
  lua_pushnil(L);
  lua_rawset(L, ENC_SEEN);
}

static void write_value(lua_State *L, json_out *o, int idx, int level) {
  int ty = lua_type(L, idx);
  switch (ty) {
  case LUA_TSTRING:
    write_string(L, o, idx);
    return;
  case LUA_TNUMBER: {
    size_t n;
    push_number_text(L, lua_tonumber(L, idx));
    const char *s = lua_tolstring(L, -1, &n);
    out_add(L, o, s, n);
    lua_pop(L, 1);
    return;
  }
  case LUA_TBOOLEAN:
    out_str(L, o, lua_toboolean(L, idx) ? "true" : "false");
    return;
  case LUA_TTABLE:
    write_table(L, o, idx, level);
    return;
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) { /* c4json.null */
      out_str(L, o, "null");
      return;
    }
    break;
  default:
    break;
  }
  luaL_error(L, "cannot encode %s", lua_typename(L, ty));
}

/* Protected body of JsonEncode: (out, value, cjson.encode, seen). */
static int encode_body(lua_State *L) {
  json_out *o = lua_touserdata(L, ENC_OUT);
  const char *wrap = NULL;
  switch (lua_type(L, ENC_VALUE)) {
  case LUA_TSTRING: wrap = ":string:"; break;
  case LUA_TNUMBER: wrap = ":number:"; break;
  case LUA_TBOOLEAN: wrap = ":boolean:"; break;
  default: break;
  }
  if (wrap) {
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, ENC_VALUE);
    lua_setfield(L, -2, wrap);
    lua_replace(L, ENC_VALUE);
  }
  write_value(L, o, ENC_VALUE, 0);
  lua_pushlstring(L, o->buf ? o->buf : "", o->len);
  return 1;
}

/* C4:JsonEncode(value [, formatted] [, encodeArrays] [, symmetric]) -> json | nil, err */
int c4_json_encode(lua_State *L) {
  luaL_checkany(L, 2);
  json_out o = {0};
  o.formatted = lua_toboolean(L, 3);
  o.arrays = lua_toboolean(L, 4);
  o.symmetric = lua_toboolean(L, 5);
  lua_pushcfunction(L, encode_body);
  lua_pushlightuserdata(L, &o);
  lua_pushvalue(L, 2);
  push_cjson(L);
  lua_getfield(L, -1, "encode");
  lua_remove(L, -2);
  lua_newtable(L);
  int rc = lua_pcall(L, 4, 1, 0);
  free(o.buf);
  if (rc == 0) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

/* ---- decoding ----------------------------------------------------------- */

#define INDEX_MARK ":index:"

/* If s is ":index:<number>", stores the number and returns true. */
static bool index_key(const char *s, size_t n, lua_Number *out) {
  size_t m = sizeof INDEX_MARK - 1;
  if (n <= m || memcmp(s, INDEX_MARK, m) != 0) return false;
  s += m;
  n -= m;
  if (strlen(s) != n) return false;
  /* Only plain decimal notation: strtod alone would take "0x10" or "inf". */
  for (size_t i = 0; i < n; i++)
    if (!strchr("0123456789+-.eE", s[i])) return false;
  char *end;
  double x = strtod(s, &end);
  if (end != s + n || !isfinite(x)) return false;
  *out = x;
  return true;
}

/* Replaces JSON nulls by empty tables (unless keep_null) and turns
 * ":index:<n>" keys back into numbers, in the table at t (the top of the
 * stack) and below. */
static void fix_table(lua_State *L, int t, bool keep_null) {
  luaL_checkstack(L, 8, "JSON nesting");
  int list = t + 1, marked = 0;
  lua_pushnil(L); /* becomes the list of marked keys when one is seen */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int v = lua_gettop(L);
    if (lua_type(L, v) == LUA_TLIGHTUSERDATA && !keep_null && lua_touserdata(L, v) == NULL) {
      lua_pushvalue(L, v - 1); /* assigning an existing field is allowed mid-traversal */
      lua_newtable(L);
      lua_rawset(L, t);
    } else if (lua_istable(L, v)) {
      fix_table(L, v, keep_null);
    }
    size_t n = 0;
    lua_Number num;
    const char *key = lua_type(L, v - 1) == LUA_TSTRING ? lua_tolstring(L, v - 1, &n) : NULL;
    if (key && index_key(key, n, &num)) {
      if (!marked) {
        lua_newtable(L);
        lua_replace(L, list);
      }
      lua_pushvalue(L, v - 1);
      lua_rawseti(L, list, ++marked);
    }
    lua_pop(L, 1);
  }
  /* Keys cannot be added during the traversal, so the moves happen now. */
  for (int i = 1; i <= marked; i++) {
    lua_rawgeti(L, list, i); /* key */
    size_t n;
    lua_Number num = 0;
    const char *key = lua_tolstring(L, -1, &n);
    index_key(key, n, &num);
    lua_pushnumber(L, num);
    lua_pushvalue(L, -2);
    lua_rawget(L, t);
    lua_rawset(L, t);        /* t[num] = t[key] */
    lua_pushnil(L);
    lua_rawset(L, t);        /* t[key] = nil */
  }
  lua_pop(L, 1); /* list */
}

/* If the table on top is {":string:"=s} (or :number:, :boolean:), replaces
 * it by the wrapped value. */
static void unwrap_primitive(lua_State *L) {
  static const struct { const char *name; int type; } kinds[] = {
    {":string:", LUA_TSTRING}, {":number:", LUA_TNUMBER}, {":boolean:", LUA_TBOOLEAN},
  };
  int t = lua_gettop(L);
  lua_pushnil(L);
  if (!lua_next(L, t)) return;
  lua_pop(L, 1); /* key */
  bool single = lua_next(L, t) == 0;
  if (!single) {
    lua_pop(L, 2);
    return;
  }
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    lua_getfield(L, t, kinds[i].name);
    if (lua_type(L, -1) == kinds[i].type) {
      lua_replace(L, t);
      return;
    }
    lua_pop(L, 1);
  }
}

/* C4:JsonDecode(json [, decodeNull]) -> value | nil, err
 * The page says both that bad JSON raises and that it returns nil plus a
 * message; we return nil, msg, like the other helpers that fail at runtime. */
int c4_json_decode(lua_State *L) {
  luaL_checkstring(L, 2);
  bool keep_null = lua_toboolean(L, 3);
  lua_settop(L, 2);
  push_cjson(L);
  lua_getfield(L, -1, "decode");
  lua_remove(L, -2);
  lua_pushvalue(L, 2);
  if (lua_pcall(L, 1, 1, 0) != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  if (lua_type(L, -1) == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == NULL) {
    if (!keep_null) {
      lua_pop(L, 1);
      lua_newtable(L);
    }
    return 1;
  }
  if (lua_istable(L, -1)) {
    fix_table(L, lua_gettop(L), keep_null);
    unwrap_primitive(L);
  }
  return 1;
}
