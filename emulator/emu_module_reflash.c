/*
 * emu_module_reflash.c — the spec side of the reflash lock
 * (c4api/core/c4_reflash.c):
 *   d:reflash_lock()        → {state = "free" | "requested" | "granting" | "held",
 *                               expires = clock ms (held only), revoked = n}
 *   d:reflash_lock_revoke() → true when the driver held the lock: Director
 *                               takes it back (another driver's update, a
 *                               timeout cut short) and OnReflashLockRevoked runs
 */
#include "emu_module.h"
#include "c4api.h"

/* d:reflash_lock() → {state =, expires =, revoked =} */
static int d_reflash_lock(lua_State *L) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  uint64_t expires;
  unsigned revoked;
  const char *state = c4_reflash_lock_state(ctx, &expires, &revoked);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, state);
  lua_setfield(L, -2, "state");
  if (expires) {
    lua_pushnumber(L, (lua_Number)expires);
    lua_setfield(L, -2, "expires");
  }
  lua_pushnumber(L, revoked);
  lua_setfield(L, -2, "revoked");
  return 1;
}

/* d:reflash_lock_revoke() → bool */
static int d_reflash_lock_revoke(lua_State *L) {
  emu_ctx *ctx = emu_mdriver_check(L, 1)->ctx;
  emu_module_check_not_nested(L, ctx, "d:reflash_lock_revoke");
  lua_pushboolean(L, c4_reflash_lock_revoke(ctx));
  return 1;
}

const luaL_Reg emu_reflash_methods[] = {
    {"reflash_lock", d_reflash_lock},
    {"reflash_lock_revoke", d_reflash_lock_revoke},
    {NULL, NULL},
};
