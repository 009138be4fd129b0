/*
 * c4_limits.c — the per-driver socket limits (see c4_limits.h).
 */
#include "c4api.h"
#include "net/c4_conn.h"
#include "net/c4_limits.h"

/* The busy probe of the socket core: bytes written to any connection of the
 * driver that the kernel has not taken yet (settling waits for them). */
static bool net_busy(emu_ctx *ctx, void *data) {
  (void)data;
  return c4_conn_queued_total(ctx, NULL) > 0;
}

/* Registry key (a light userdata) of the driver's limits. */
static const char LIMITS_KEY = 'l';

c4_net_limits *c4_net_limits_of(emu_ctx *ctx) {
  lua_State *L = ctx->L;
  lua_pushlightuserdata(L, (void *)&LIMITS_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  c4_net_limits *l = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (l) return l;
  l = lua_newuserdata(L, sizeof *l);
  l->max_queued = c4_env_number(ctx, "C4EMU_MAX_QUEUED", 1024, (uint64_t)1 << 32,
                                C4_DEFAULT_MAX_QUEUED);
  l->max_unread = c4_env_number(ctx, "C4EMU_MAX_UNREAD", 1 << 20, (uint64_t)1 << 32,
                                C4_DEFAULT_MAX_UNREAD);
  l->close_ms = c4_env_number(ctx, "C4EMU_CLOSE_DEADLINE_MS", 1, 3600000, C4_DEFAULT_CLOSE_MS);
  l->flush_ms = c4_env_number(ctx, "C4EMU_SERVER_FLUSH_MS", 0, 3600000, C4_DEFAULT_FLUSH_MS);
  lua_pushlightuserdata(L, (void *)&LIMITS_KEY);
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  emu_busy_probe_add(ctx, net_busy, NULL); /* data NULL: nothing of ours to outlive */
  return l;
}
