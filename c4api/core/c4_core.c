/*
 * c4_core.c — the everyday C4 methods every driver calls at load: logging,
 * identity, driver.xml look-ups, properties, version info, folders, the
 * persistence store (kept in memory for the life of the hosted driver), the
 * controller's host name and C-locale number formatting.
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "c4api.h"
#include "director/c4_project.h"

/* Registry key of the PersistSetValue store. */
static const char PERSIST_KEY = 'p';

/* Arguments that drivers pass as anything printable become text, as
 * DriverWorks does for its log calls. */
static const char *arg_text(lua_State *L, int i) {
  lua_getglobal(L, "tostring");
  lua_pushvalue(L, i);
  lua_call(L, 1, 1);
  const char *s = lua_tostring(L, -1);
  if (!s) luaL_argerror(L, i - 1, "tostring did not return a string");
  return s;
}

/* C4:ErrorLog(text) */
static int l_ErrorLog(lua_State *L) {
  luaL_checkany(L, 2);
  emu_log(emu_ctx_of(L), EMU_LOG_ERROR, "%s", arg_text(L, 2));
  return 0;
}

/* C4:DebugLog(text) */
static int l_DebugLog(lua_State *L) {
  luaL_checkany(L, 2);
  emu_log(emu_ctx_of(L), EMU_LOG_DEBUG, "%s", arg_text(L, 2));
  return 0;
}

/* C4:GetDeviceID() → number */
static int l_GetDeviceID(lua_State *L) {
  lua_pushnumber(L, (lua_Number)emu_ctx_of(L)->device_id);
  return 1;
}

/* C4:GetDriverConfigInfo(tag) → string or nil */
static int l_GetDriverConfigInfo(lua_State *L) {
  const char *v = emu_config_info(emu_ctx_of(L), c4_check_cstring(L, 2, "tag"));
  /* one nil, not nothing: tostring(C4:GetDriverConfigInfo("x")) must not raise */
  if (!v) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, v);
  return 1;
}

/* C4:GetCapability(name) → string or nil */
static int l_GetCapability(lua_State *L) {
  const char *v = emu_capability(emu_ctx_of(L), c4_check_cstring(L, 2, "capability name"));
  if (!v) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, v);
  return 1;
}

/* C4:UpdateProperty(name, value) — does not call OnPropertyChanged. */
static int l_UpdateProperty(lua_State *L) {
  const char *name = luaL_checkstring(L, 2);
  luaL_checkany(L, 3);
  const char *value = arg_text(L, 3);
  lua_getglobal(L, "Properties");
  if (!lua_istable(L, -1)) return luaL_error(L, "the global Properties table is gone");
  lua_pushstring(L, value);
  lua_setfield(L, -2, name);
  return 0;
}

/* C4:GetVersionInfo() → {version=, buildtime=, builddate=, buildtype=} */
static int l_GetVersionInfo(lua_State *L) {
  char v[16], full[24];
  c4_osver_format(emu_ctx_of(L)->os, v, sizeof v);
  snprintf(full, sizeof full, "%s.0", v);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, full);
  lua_setfield(L, -2, "version");
  lua_pushliteral(L, __TIME__);
  lua_setfield(L, -2, "buildtime");
  lua_pushliteral(L, __DATE__);
  lua_setfield(L, -2, "builddate");
  lua_pushliteral(L, "c4emu");
  lua_setfield(L, -2, "buildtype");
  return 1;
}

/* C4:GetSandboxDir() → path */
static int l_GetSandboxDir(lua_State *L) {
  const char *d = emu_ctx_of(L)->sandbox_dir;
  lua_pushstring(L, d ? d : "");
  return 1;
}

/* C4:GetC4zDir() → path of the package folder, ending in '/'.
 * Drivers seen in public code write `C4:GetC4zDir() .. name` with no
 * separator, so the controller's answer ends in '/' (the C4Z path alias is
 * /opt/control4/var/drivers/c4z/<driver_name>); c4emu gives its unpacked
 * package folder in the same form. */
static int l_GetC4zDir(lua_State *L) {
  lua_pushfstring(L, "%s/", emu_ctx_of(L)->pkg_dir);
  return 1;
}

/* C4:AllowExecute(bool) — the console is always open in c4emu. */
static int l_AllowExecute(lua_State *L) {
  (void)L;
  return 0;
}

/* C4:InvalidateState() — asked Director to save the driver's data (PersistData).
 * The page: since OS 2.10 Director saves it on its own and the call is no
 * longer needed; drivers still make it after changing PersistData.  c4emu
 * keeps PersistData live for the driver's life, so there is nothing to do and,
 * as on the controller, nothing is returned. */
static int l_InvalidateState(lua_State *L) {
  (void)L;
  return 0;
}

static void push_store(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&PERSIST_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_istable(L, -1)) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushlightuserdata(L, (void *)&PERSIST_KEY);
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

/* C4:PersistSetValue(name, value [, encrypted]) */
static int l_PersistSetValue(lua_State *L) {
  luaL_checkstring(L, 2);
  int t = lua_type(L, 3);
  if (t != LUA_TNUMBER && t != LUA_TSTRING && t != LUA_TBOOLEAN && t != LUA_TTABLE)
    return luaL_argerror(L, 2, "number, string, boolean or table expected");
  push_store(L);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);
  return 0;
}

/* C4:PersistGetValue(name [, encrypted]) → value or nil */
static int l_PersistGetValue(lua_State *L) {
  luaL_checkstring(L, 2);
  push_store(L);
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

/* C4:PersistDeleteValue(name) */
static int l_PersistDeleteValue(lua_State *L) {
  luaL_checkstring(L, 2);
  push_store(L);
  lua_pushvalue(L, 2);
  lua_pushnil(L);
  lua_rawset(L, -3);
  return 0;
}

/* C4:PersistDeleteAll() — empties the PersistSetValue store (2.10.0); the
 * PersistData table is another store and stays as it is. */
static int l_PersistDeleteAll(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&PERSIST_KEY);
  lua_newtable(L);
  lua_rawset(L, LUA_REGISTRYINDEX);
  return 0;
}

/* C4:GetHostname() → string (3.3.1).  The controller's host name: c4emu
 * gives the emulated controller's name (c4emu.load's controller = {name =},
 * "c4emu" by default), with what a host name may not hold (spaces, dots,
 * anything but letters, digits and '-') turned into '-', so a spec controls
 * it and every run gives the same answer — never the machine's own name. */
static int l_GetHostname(lua_State *L) {
  const c4_project *p = emu_ctx_of(L)->project;
  const char *name = p && p->controller_name && p->controller_name[0] ? p->controller_name : "c4emu";
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (const char *s = name; *s && s - name < 63; s++) {
    char c = *s;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    luaL_addchar(&b, ok ? c : '-');
  }
  luaL_pushresult(&b);
  return 1;
}

/* C4:ToStringLocaleC(num) → string.  The page: tostring's text, but with a
 * decimal point whatever the locale.  So the format is Lua's own number
 * format (LUA_NUMBER_FMT, "%.14g": 0.1 → "0.1", 3 → "3", 1e20 → "1e+20"),
 * and a locale's decimal separator, if the process has one, becomes '.'. */
static int l_ToStringLocaleC(lua_State *L) {
  lua_Number n = luaL_checknumber(L, 2);
  char buf[64];
  snprintf(buf, sizeof buf, LUA_NUMBER_FMT, n);
  const char *dp = localeconv()->decimal_point;
  size_t dplen = dp ? strlen(dp) : 0;
  char *at = dplen && strcmp(dp, ".") != 0 ? strstr(buf, dp) : NULL;
  if (at) {
    *at = '.';
    memmove(at + 1, at + dplen, strlen(at + dplen) + 1);
  }
  lua_pushstring(L, buf);
  return 1;
}

static const c4_fn core_fns[] = {
    {"ErrorLog", l_ErrorLog},
    {"DebugLog", l_DebugLog},
    {"GetDeviceID", l_GetDeviceID},
    {"GetDriverConfigInfo", l_GetDriverConfigInfo},
    {"GetCapability", l_GetCapability},
    {"UpdateProperty", l_UpdateProperty},
    {"GetVersionInfo", l_GetVersionInfo},
    {"GetSandboxDir", l_GetSandboxDir},
    {"GetC4zDir", l_GetC4zDir},
    {"AllowExecute", l_AllowExecute},
    {"PersistSetValue", l_PersistSetValue},
    {"PersistGetValue", l_PersistGetValue},
    {"PersistDeleteValue", l_PersistDeleteValue},
    /* s3-apis-b */
    {"PersistDeleteAll", l_PersistDeleteAll},
    {"GetHostname", l_GetHostname},
    {"ToStringLocaleC", l_ToStringLocaleC},
    /* validation3: InvalidateState */
    {"InvalidateState", l_InvalidateState},
    {NULL, NULL},
};

const c4_family c4_family_core = {"core", core_fns, NULL, NULL};
