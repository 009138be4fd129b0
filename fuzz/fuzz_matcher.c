/*
 * fuzz_matcher.c — what a ReadUntil matcher may return (matched, count):
 * every combination of types and numbers (NaN, infinities, huge, negative,
 * fractions) is either refused with a Lua error by tcp_matcher_check or
 * gives a take within the buffer.  Built with float-cast-overflow, so a
 * NaN reaching a size_t cast fails the run.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/c4_tcpclient.h"

static lua_State *L;

static int checked(lua_State *l) {
  tcp_matcher_check(l, 1);
  return 0;
}

/* Pushes one Lua value chosen by the next bytes. */
static void push_value(const uint8_t **p, size_t *n) {
  uint8_t kind = *n ? **p : 0;
  if (*n) (*p)++, (*n)--;
  double d = 0;
  if (*n >= 8) {
    memcpy(&d, *p, 8);
    *p += 8;
    *n -= 8;
  }
  switch (kind % 9) {
  case 0: lua_pushnil(L); break;
  case 1: lua_pushboolean(L, kind & 16); break;
  case 2: lua_pushnumber(L, d); break;                  /* any double, NaN included */
  case 3: lua_pushnumber(L, NAN); break;
  case 4: lua_pushnumber(L, (kind & 16) ? HUGE_VAL : -HUGE_VAL); break;
  case 5: lua_pushnumber(L, floor(fmod(fabs(d), 1e6))); break;
  case 6: lua_pushnumber(L, -(double)(kind >> 4) - 0.5); break;
  case 7: lua_pushliteral(L, "12"); break;
  default: lua_newtable(L); break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!L) L = luaL_newstate();
  lua_settop(L, 0);
  size_t len = size ? data[0] * 37u : 0;
  push_value(&data, &size);           /* matched */
  push_value(&data, &size);           /* count */
  lua_pushcfunction(L, checked);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  if (lua_pcall(L, 2, 0, 0) != 0) return 0; /* refused: a Lua error, as the driver sees */
  size_t take = tcp_matcher_take(L, 1, len);
  if (take > len) abort();
  return 0;
}
