/*
 * c4_api.c — builds the driver's global C4 table from the API families.
 *
 * Each method sits behind c4_dispatch(), a C closure over {the c4_fn, the C4
 * table, the rule}.  It calls the method's C function directly (not through
 * lua_call), so argument errors still name the method as Lua sees it:
 * "bad argument #1 to 'SetTimer' (number expected, got string)".
 *
 * Methods the chosen OS version lacks are left out; C4's __index notes a read
 * of one (for `c4emu check`) and gives nil, as that controller would.  A read
 * of a name c4emu does not provide at all is a `not-provided` note, counted.
 */
#include <string.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "c4api.h"

static const c4_family *const families[] = {
    &c4_family_core,
    &c4_family_helpers,
    &c4_family_timer,
    &c4_family_server,
    &c4_family_tcp,
    &c4_family_tls,
    /* issue 14: require "json", lpack, files, crypto */
    &c4_family_jsonmod,
    &c4_family_lpack,
    &c4_family_file,
    &c4_family_crypto,
    /* issue 13: HTTP */
    &c4_family_url,
    /* issue 10: the Director (the project first: the others read it) */
    &c4_family_project,
    &c4_family_variables,
    &c4_family_events,
    &c4_family_devices,
    &c4_family_propattribs,
    &c4_family_parsexml,
    /* issue 12: network and serial bindings */
    &c4_family_netbind,
    &c4_family_serial,
    /* issue 11: proxies and bindings */
    &c4_family_proxy,
    &c4_family_bindings,
    /* s3-apis-b: CallAsync, the reflash lock, Unzip */
    &c4_family_async,
    &c4_family_reflash,
    &c4_family_unzip,
    /* the Statsd metrics calls */
    &c4_family_metrics,
    /* s3-apis-a: Light V2 colour conversions; devices by name */
    &c4_family_color,
    &c4_family_naming,
    &c4_family_proxyvars,
    &c4_family_conditions,
};

const c4_family *const *c4_families(size_t *n) {
  *n = sizeof families / sizeof families[0];
  return families;
}

int c4_check_port(lua_State *L, int i) {
  lua_Number p = luaL_checknumber(L, i); /* not checkinteger: NaN would be cast first */
  luaL_argcheck(L, p >= 0 && p <= 65535, i, "port out of range (0-65535)");
  luaL_argcheck(L, p == floor(p), i, "port must be a whole number");
  return (int)p;
}

const char *c4_check_cstring(lua_State *L, int i, const char *what) {
  size_t n;
  const char *s = luaL_checklstring(L, i, &n);
  if (memchr(s, '\0', n)) {
    lua_pushfstring(L, "%s must not contain a NUL byte (\\0)", what);
    luaL_argerror(L, i, lua_tostring(L, -1));
  }
  return s;
}

const char *c4_opt_cstring(lua_State *L, int i, const char *what) {
  return lua_isnoneornil(L, i) ? NULL : c4_check_cstring(L, i, what);
}

uint64_t c4_env_number(emu_ctx *ctx, const char *name, uint64_t min, uint64_t max,
                       uint64_t dflt) {
  const char *s = getenv(name);
  if (!s || !*s) return dflt;
  char *end;
  errno = 0;
  unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
  if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max) {
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] %s=%s is not a whole number from %llu to %llu; "
            "using %llu", name, s, (unsigned long long)min, (unsigned long long)max,
            (unsigned long long)dflt);
    return dflt;
  }
  return v;
}

const char *c4_opt_string(lua_State *L, int i, size_t *len) {
  if (lua_isnoneornil(L, i)) {
    if (len) *len = 0;
    return NULL;
  }
  return luaL_checklstring(L, i, len);
}

/* A method's upvalue: what the dispatcher needs, in one block (one upvalue
 * read per call instead of three). */
typedef struct {
  const c4_fn *f;
  const void *c4; /* the C4 table (kept alive by the closure's 2nd upvalue) */
  int rule;
} c4_method;

/* C4:<name>(...) — checks the colon and the init rule, then runs the method. */
static int c4_dispatch(lua_State *L) {
  const c4_method *m = lua_touserdata(L, lua_upvalueindex(1));
  if (lua_topointer(L, 1) != m->c4)
    return luaL_error(L, "C4:%s must be called with a colon: C4:%s(...), not C4.%s(...)",
                      m->f->name, m->f->name, m->f->name);
  if (m->rule != C4_RULE_NONE) c4_rule_check(L, m->f->name);
  return m->f->fn(L);
}

/* C4.__index(t, name): only reached for names C4 does not hold. */
static int c4_index(lua_State *L) {
  const char *name = lua_tostring(L, 2);
  if (!name) return 0;
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1)); /* missing on this OS: name → since */
  emu_ctx *ctx = emu_ctx_of(L);
  if (lua_isstring(L, -1)) {
    char now[16];
    emu_note(ctx, EMU_NOTE_MISSING_API, "C4:%s is not available on OS %s (added in OS %s)",
             name, c4_osver_format(ctx->os, now, sizeof now), lua_tostring(L, -1));
  } else if (strcmp(name, "UnZip") == 0 || strcmp(name, "DownloadFile") == 0) {
    /* s3-apis-b: names the docs use that a controller does not have. */
    emu_note_counted(ctx, EMU_NOTE_NOT_PROVIDED, name,
                     "C4:%s is not a method on a controller (it reads as nil there too): the "
                     "DriverWorks page's %s; the call is %s", name,
                     name[0] == 'U' ? "heading" : "prose",
                     name[0] == 'U' ? "C4:Unzip(zipfile, filespec, destination)"
                                    : "C4:url():DownloadFile(url, subdir, filename, headers)");
  } else {
    /* Not a method c4emu provides on any version.  A driver that reads it
     * would fail (or take another path) here, so a run that passes by it is no
     * proof the driver works: `c4emu check` counts it as a problem of its
     * own kind and fails. */
    emu_note_counted(ctx, EMU_NOTE_NOT_PROVIDED, name,
                     "C4:%s is not provided by c4emu (not emulated, or not a DriverWorks "
                     "API): it reads as nil", name);
  }
  return 0;
}

void c4_open(lua_State *L, emu_ctx *ctx) {
  lua_newtable(L);                 /* C4 */
  int c4 = lua_gettop(L);
  lua_newtable(L);                 /* missing APIs: name → "since" */
  int missing = lua_gettop(L);
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
    const c4_fn *f = families[i]->fns;
    for (; f && f->name; f++) {
      c4_osver since;
      if (!c4_api_on(ctx->os, f->name, &since)) {
        char v[16];
        lua_pushstring(L, c4_osver_format(since, v, sizeof v));
        lua_setfield(L, missing, f->name);
        continue;
      }
      c4_method *m = lua_newuserdata(L, sizeof *m);
      m->f = f;
      m->c4 = lua_topointer(L, c4);
      m->rule = c4_rule_of(f->name);
      lua_pushvalue(L, c4);
      lua_pushcclosure(L, c4_dispatch, 2);
      lua_setfield(L, c4, f->name);
    }
  }
  lua_newtable(L);                 /* metatable */
  lua_pushvalue(L, missing);
  lua_pushcclosure(L, c4_index, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, c4);
  lua_pop(L, 1);                   /* missing */
  lua_setglobal(L, "C4");
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
    if (families[i]->open) families[i]->open(L, ctx);
}
