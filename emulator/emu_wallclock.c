/*
 * emu_wallclock.c — the driver's wall clock: os.time(), os.date() and
 * os.clock() read the emulator clock, and the start epoch is parsed here.
 *
 * The emulator's wall time is epoch0 + the emulator clock (emu_epoch_ms):
 * epoch0 is the real time at load unless `--epoch` / {epoch = ...} names
 * one.  In virtual time that is what makes a driver's own date arithmetic
 * agree with its timers: 30 virtual minutes move os.time() by 1800.
 *
 *   os.time()          floor(wall seconds); os.time(t) is Lua's own (mktime)
 *   os.date(fmt)       Lua's own os.date(fmt, wall seconds): every form,
 *                      "*t" and "!*t" included; os.date(fmt, t) is unchanged
 *   os.clock()         virtual: seconds on the emulator clock since load;
 *                      real: Lua's own (processor time), as on a controller
 *
 * Lua's own functions are kept as upvalues, so a driver that replaces `os`
 * fields changes nothing for the others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu_host.h"

/* Emulator wall time in whole seconds (floor, also before 1970). */
static lua_Number wall_seconds(emu_ctx *ctx) {
  int64_t ms = emu_epoch_ms(ctx);
  int64_t s = ms / 1000;
  if (ms % 1000 < 0) s--;
  return (lua_Number)s;
}

/* os.time([t]) — upvalue 1: Lua's os.time */
static int l_os_time(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
  }
  lua_pushnumber(L, wall_seconds(emu_ctx_of(L)));
  return 1;
}

/* os.date([format [, t]]) — upvalue 1: Lua's os.date */
static int l_os_date(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  if (n == 0) lua_pushliteral(L, "%c");
  else lua_pushvalue(L, 1);
  if (n >= 2 && !lua_isnil(L, 2)) lua_pushvalue(L, 2);
  else lua_pushnumber(L, wall_seconds(emu_ctx_of(L)));
  lua_call(L, 2, 1);
  return 1;
}

/* os.clock() — upvalue 1: Lua's os.clock */
static int l_os_clock(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  if (!ctx->virtual_clock) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_call(L, 0, 1);
    return 1;
  }
  lua_pushnumber(L, (lua_Number)emu_now(ctx) / 1000.0);
  return 1;
}

static void wrap(lua_State *L, int os, const char *name, lua_CFunction fn) {
  lua_getfield(L, os, name);
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, os, name);
}

void emu_wallclock_open(lua_State *L) {
  lua_getglobal(L, "os");
  int os = lua_gettop(L);
  wrap(L, os, "time", l_os_time);
  wrap(L, os, "date", l_os_date);
  wrap(L, os, "clock", l_os_clock);
  lua_pop(L, 1);
}

/* Digits at s[0..n), as a number; -1 if any is not a digit. */
static int digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

int emu_epoch_parse(const char *s, int64_t *ms_out) {
  /* A plain number: seconds since the Unix epoch. */
  char *end;
  double secs = strtod(s, &end);
  if (end != s && *end == '\0') {
    if (secs < -9e12 || secs > 9e12) return -1;
    *ms_out = (int64_t)(secs * 1000.0);
    return 0;
  }
  /* YYYY-MM-DD[THH:MM[:SS[.fff]]](Z|±HH:MM), or a bare date (UTC midnight). */
  size_t len = strlen(s);
  if (len < 10 || s[4] != '-' || s[7] != '-') return -1;
  struct tm tm = {0};
  int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31) return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  const char *p = s + 10;
  int frac_ms = 0;
  long offset = 0; /* seconds east of UTC */
  if (*p == 'T' || *p == ' ') {
    p++;
    /* Each look stops at the first byte that is not what it wants, so none
     * reads past the terminating NUL. */
    int h = digits(p, 2);
    if (h < 0 || h > 23 || p[2] != ':') return -1;
    int mi = digits(p + 3, 2);
    if (mi < 0 || mi > 59) return -1;
    tm.tm_hour = h;
    tm.tm_min = mi;
    p += 5;
    if (*p == ':') {
      int sec = digits(p + 1, 2);
      if (sec < 0 || sec > 60) return -1;
      tm.tm_sec = sec;
      p += 3;
      if (*p == '.') {
        int scale = 100;
        for (p++; *p >= '0' && *p <= '9'; p++) {
          frac_ms += (*p - '0') * scale;
          scale /= 10;
        }
      }
    }
    if (*p == 'Z') {
      p++;
    } else if (*p == '+' || *p == '-') {
      int oh = digits(p + 1, 2);
      if (oh < 0 || oh > 23) return -1;
      int om = p[3] == ':' ? digits(p + 4, 2) : digits(p + 3, 2);
      if (om < 0 || om > 59) return -1;
      offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
      p += p[3] == ':' ? 6 : 5;
    } else {
      return -1; /* a time without a zone would depend on this machine's TZ */
    }
  }
  if (*p != '\0') return -1;
  time_t t = timegm(&tm);
  if (tm.tm_mday != d || tm.tm_mon != mo - 1) return -1; /* 2026-02-31 */
  *ms_out = ((int64_t)t - offset) * 1000 + frac_ms;
  return 0;
}
