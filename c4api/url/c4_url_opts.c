/*
 * c4_url_opts.c — the arguments of the url family that are plain data: the
 * SetOption(s) keys (also urlGet's flags), request headers (a table or
 * "Name: value" lines) and the method name of Custom / urlCustom.  A wrong
 * value type raises in Lua's words, an unknown name warns once and is
 * ignored; string options are owned by the url_opts.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url/c4_url.h"

#define DEFAULT_CONNECT_S 5.0

void c4_url_opts_default(url_state *us, url_opts *o) {
  memset(o, 0, sizeof *o);
  o->fail_on_error = true;
  (void)us;
  o->timeout_s = -1; /* the driver's default (urlSetTimeout) when it starts */
  o->connect_timeout_s = DEFAULT_CONNECT_S;
  o->verify_host = o->verify_peer = true;
  o->cookies_use_jar = o->cookies_save_to_jar = true;
  o->follow = true;
}

void c4_url_opts_free(url_opts *o) {
  free(o->cabundle);
  free(o->cert);
  free(o->cert_type);
  free(o->key);
  free(o->passwd);
  for (size_t i = 0; i < o->ncacerts; i++) free(o->cacerts[i]);
  free(o->cacerts);
  memset(o, 0, sizeof *o);
}

static int opts_box_gc(lua_State *L) {
  c4_url_opts_free(lua_touserdata(L, 1));
  return 0;
}

url_opts *c4_url_opts_box(lua_State *L) {
  url_opts *o = lua_newuserdata(L, sizeof *o);
  memset(o, 0, sizeof *o);
  if (luaL_newmetatable(L, "c4emu.url_opts")) {
    lua_pushcfunction(L, opts_box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return o;
}

/* Booleans may come as booleans, numbers or strings ("true", "1"). */
static bool opt_bool(lua_State *L, int v, const char *name) {
  switch (lua_type(L, v)) {
  case LUA_TBOOLEAN: return lua_toboolean(L, v);
  case LUA_TNUMBER: return lua_tonumber(L, v) != 0;
  case LUA_TSTRING: {
    const char *s = lua_tostring(L, v);
    if (!strcasecmp(s, "true") || !strcmp(s, "1")) return true;
    if (!strcasecmp(s, "false") || !strcmp(s, "0")) return false;
  } /* fall through */
  default:
    luaL_error(L, "option '%s' takes a boolean, not %s", name, luaL_typename(L, v));
    return false;
  }
}

static double opt_seconds(lua_State *L, int v, const char *name) {
  if (!lua_isnumber(L, v))
    luaL_error(L, "option '%s' takes a number of seconds, not %s", name, luaL_typename(L, v));
  double s = lua_tonumber(L, v);
  if (!(s >= 0)) luaL_error(L, "option '%s' must be 0 or more seconds", name);
  return s;
}

static char *opt_str(lua_State *L, int v, const char *name) {
  if (lua_type(L, v) != LUA_TSTRING)
    luaL_error(L, "option '%s' takes a string, not %s", name, luaL_typename(L, v));
  char *s = strdup(lua_tostring(L, v));
  if (!s) luaL_error(L, "out of memory");
  return s;
}

/*
 * An unknown option name is ignored with a warning, once per name and driver.
 * No DriverWorks page says what a controller does with one; raising lost the
 * whole SetOptions call inside the driver's pcall (a public driver passes
 * `headers` beside `timeout` and `connect_timeout`), and a controller's option
 * table is most plausibly read key by key, the known ones applied.  A known
 * option with a value of the wrong type still raises.
 */
static const char WARNED_KEY = 'w';

static void warn_unknown(lua_State *L, const char *name) {
  if (!emu_first_time(L, &WARNED_KEY, name)) return;
  emu_log(emu_ctx_of(L), EMU_LOG_WARN,
          "[c4emu] url: unknown option '%s' ignored, the others apply (known: fail_on_error, timeout, "
          "connect_timeout, ssl_verify_host, ssl_verify_peer, ssl_cabundle, ssl_cert, "
          "ssl_cert_type, ssl_key, ssl_passwd, ssl_cacerts, response_headers_duplicates, "
          "cookies_enable, cookies_use_jar, cookies_save_to_jar, cookies_clear_session; "
          "request headers go to Get/Post/...)", name);
}

void c4_url_opt_set(lua_State *L, url_opts *o, const char *name, int v) {
  v = v < 0 ? lua_gettop(L) + v + 1 : v;
  char **str = NULL;
  if (!strcmp(name, "fail_on_error")) o->fail_on_error = opt_bool(L, v, name);
  else if (!strcmp(name, "timeout")) o->timeout_s = opt_seconds(L, v, name);
  else if (!strcmp(name, "connect_timeout")) o->connect_timeout_s = opt_seconds(L, v, name);
  else if (!strcmp(name, "ssl_verify_host")) o->verify_host = opt_bool(L, v, name);
  else if (!strcmp(name, "ssl_verify_peer")) o->verify_peer = opt_bool(L, v, name);
  else if (!strcmp(name, "response_headers_duplicates")) o->dup_headers = opt_bool(L, v, name);
  else if (!strcmp(name, "cookies_enable")) o->cookies_enable = opt_bool(L, v, name);
  else if (!strcmp(name, "cookies_use_jar")) o->cookies_use_jar = opt_bool(L, v, name);
  else if (!strcmp(name, "cookies_save_to_jar")) o->cookies_save_to_jar = opt_bool(L, v, name);
  else if (!strcmp(name, "cookies_clear_session")) o->cookies_clear_session = opt_bool(L, v, name);
  else if (!strcmp(name, "ssl_cabundle")) str = &o->cabundle;
  else if (!strcmp(name, "ssl_cert")) str = &o->cert;
  else if (!strcmp(name, "ssl_key")) str = &o->key;
  else if (!strcmp(name, "ssl_passwd")) str = &o->passwd;
  else if (!strcmp(name, "ssl_cert_type")) {
    const char *t = lua_tostring(L, v);
    if (lua_type(L, v) != LUA_TSTRING || (strcmp(t, "PEM") && strcmp(t, "DER") && strcmp(t, "P12")))
      luaL_error(L, "option 'ssl_cert_type' must be \"PEM\", \"DER\" or \"P12\"");
    str = &o->cert_type;
  } else if (!strcmp(name, "ssl_cacerts")) {
    if (!lua_istable(L, v)) luaL_error(L, "option 'ssl_cacerts' takes a table of file names");
    size_t n = lua_objlen(L, v);
    char **a = calloc(n ? n : 1, sizeof *a);
    if (!a) luaL_error(L, "out of memory");
    for (size_t i = 0; i < o->ncacerts; i++) free(o->cacerts[i]);
    free(o->cacerts);
    o->cacerts = a;
    o->ncacerts = 0;
    for (size_t i = 1; i <= n; i++) {
      lua_rawgeti(L, v, (int)i);
      o->cacerts[o->ncacerts++] = opt_str(L, -1, name);
      lua_pop(L, 1);
    }
  } else {
    warn_unknown(L, name);
  }
  if (str) {
    char *s = opt_str(L, v, name);
    free(*str);
    *str = s;
  }
}

void c4_url_opts_table(lua_State *L, url_opts *o, int t) {
  t = t < 0 ? lua_gettop(L) + t + 1 : t;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "option names must be strings");
    c4_url_opt_set(L, o, lua_tostring(L, -2), -1);
    lua_pop(L, 1);
  }
}

static struct curl_slist *slist_add(lua_State *L, struct curl_slist *l, const char *line) {
  struct curl_slist *n = curl_slist_append(l, line);
  if (!n) {
    curl_slist_free_all(l);
    luaL_error(L, "out of memory");
  }
  return n;
}

struct curl_slist *c4_url_headers(lua_State *L, int i) {
  struct curl_slist *l = NULL;
  if (lua_isnoneornil(L, i)) return NULL;
  if (lua_type(L, i) == LUA_TSTRING) {
    /* "Name: value" lines, as some drivers pass them. */
    const char *s = lua_tostring(L, i);
    while (*s) {
      size_t n = strcspn(s, "\r\n");
      if (n > 0 && n < 8192) {
        char line[8192];
        memcpy(line, s, n);
        line[n] = 0;
        l = slist_add(L, l, line);
      }
      s += n;
      s += strspn(s, "\r\n");
    }
    return l;
  }
  if (!lua_istable(L, i)) {
    luaL_argerror(L, i, lua_pushfstring(L, "table of headers expected, got %s", luaL_typename(L, i)));
    return NULL;
  }
  lua_pushnil(L);
  while (lua_next(L, i)) {
    if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1) ||
        strpbrk(lua_tostring(L, -2), "\r\n:") || strpbrk(lua_tostring(L, -1), "\r\n")) {
      curl_slist_free_all(l);
      luaL_argerror(L, i, "headers must map names to string values (no ':' or line breaks)");
    }
    const char *v = lua_tostring(L, -1);
    lua_pushfstring(L, *v ? "%s: %s" : "%s;", lua_tostring(L, -2), v);
    l = slist_add(L, l, lua_tostring(L, -1));
    lua_pop(L, 2);
  }
  return l;
}

static bool method_ok(const char *m, size_t len, size_t n) {
  if (len == 0 || len >= n) return false;
  for (const char *p = m; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
          strchr("!#$%&'*+-.^_`|~", *p)))
      return false;
  return true;
}

void c4_url_take_method(lua_State *L, int i, char *out, size_t n) {
  size_t len;
  const char *m = luaL_checklstring(L, i, &len);
  if (!method_ok(m, len, n) || strlen(m) != len)
    luaL_argerror(L, i, lua_pushfstring(L, "'%s' is not an HTTP method name", m));
  memcpy(out, m, len + 1);
  lua_remove(L, i);
}

