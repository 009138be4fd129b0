/*
 * c4_reflash.c — the reflash lock: C4:RequestReflashLock, KeepReflashLock,
 * ReleaseReflashLock and the callbacks OnReflashLockGranted /
 * OnReflashLockRevoked.
 *
 * What the pages say: the lock lets Director keep firmware updates to one
 * driver at a time; a driver asks for it, holds it from the moment
 * OnReflashLockGranted is called, must call KeepReflashLock when its work
 * takes longer than a minute ("revoked after approximately one minute"),
 * and ends with ReleaseReflashLock; OnReflashLockRevoked says it was lost.
 * None of the calls returns anything.
 *
 * c4emu's model (the pages say no more; also in core/README.md):
 *   - one lock per controller: shared by the drivers of one c4emu.project
 *     (emu_peer_at), a driver on its own has it to itself;
 *   - RequestReflashLock when the lock is free: granted on the next turn of
 *     the loop (a zero-delay entry on the emulator clock), never inside the
 *     call; when another driver holds it: the request waits, and requests are
 *     granted in the order they were made when the holder lets go;
 *   - once granted, the lock is revoked REFLASH_TIMEOUT_MS (60 s, emulator
 *     clock) after the grant or the last KeepReflashLock: OnReflashLockRevoked
 *     is called and the next waiter is served;
 *   - a request while holding the lock renews it like KeepReflashLock; a
 *     second request while waiting changes nothing; Keep without the lock does
 *     nothing but log a warning;
 *   - ReleaseReflashLock gives it up (or withdraws a waiting request) without
 *     any callback, and serves the next waiter;
 *   - a spec takes the lock away as Director would for another driver:
 *     d:reflash_lock_revoke() (emulator/emu_module_reflash.c).
 *
 * Lifetime: one reflash_state per driver, from open() to the shutdown hook,
 * which cancels its clock entries and hands a held lock to the next waiter of
 * the project (a destroyed driver cannot keep it).
 */
#include <stdlib.h>

#include "c4api.h"

#define REFLASH_TIMEOUT_MS 60000u

typedef enum { RL_NONE, RL_WAITING, RL_GRANTING, RL_HELD } rl_status;

typedef struct {
  emu_ctx *ctx;
  rl_status status;
  uint64_t asked;      /* RL_WAITING: when it asked (process-wide order) */
  emu_sched *grant;    /* RL_GRANTING: the pending OnReflashLockGranted */
  emu_sched *revoke;   /* RL_HELD: the end of the lock */
  unsigned revoked;    /* times the lock was taken back */
} reflash_state;

static const char STATE_KEY = 'r';
static uint64_t request_seq;

static reflash_state *state_of_ctx(emu_ctx *ctx) {
  if (!ctx || !ctx->L || ctx->phase == EMU_PHASE_DEAD) return NULL;
  lua_pushlightuserdata(ctx->L, (void *)&STATE_KEY);
  lua_rawget(ctx->L, LUA_REGISTRYINDEX);
  reflash_state *rs = lua_touserdata(ctx->L, -1);
  lua_pop(ctx->L, 1);
  return rs;
}

static reflash_state *state_of(lua_State *L) {
  reflash_state *rs = state_of_ctx(emu_ctx_of(L));
  if (!rs) luaL_error(L, "the reflash lock is gone: the driver has been destroyed");
  return rs;
}

/* The states sharing one lock: this driver's, then its project's others.
 * Calls fn on each until it returns true; returns that state or NULL. */
static reflash_state *each_sharer(emu_ctx *ctx, bool (*fn)(reflash_state *, void *), void *ud) {
  reflash_state *rs = state_of_ctx(ctx);
  if (rs && fn(rs, ud)) return rs;
  emu_ctx *peer;
  for (size_t i = 0; (peer = emu_peer_at(ctx, i)) != NULL; i++) {
    rs = state_of_ctx(peer);
    if (rs && fn(rs, ud)) return rs;
  }
  return NULL;
}

static bool holds(reflash_state *rs, void *ud) {
  (void)ud;
  return rs->status == RL_GRANTING || rs->status == RL_HELD;
}

static bool earlier_waiter(reflash_state *rs, void *ud) {
  reflash_state **best = ud;
  if (rs->status == RL_WAITING && (!*best || rs->asked < (*best)->asked)) *best = rs;
  return false;
}

/* Calls the global the caller pushed (emu_push_global_fn), with no arguments. */
static void call_pushed(reflash_state *rs, const char *name) {
  emu_pcall(rs->ctx, 0, 0, name);
  emu_charge_stall(rs->ctx);
}

static void on_revoke(emu_ctx *ctx, void *data);

static void arm_revoke(reflash_state *rs) {
  emu_sched_cancel(rs->ctx, rs->revoke);
  rs->revoke = emu_sched_add(rs->ctx, emu_now(rs->ctx) + REFLASH_TIMEOUT_MS, on_revoke, rs);
  if (!rs->revoke) emu_log(rs->ctx, EMU_LOG_ERROR, "[c4emu] out of memory: the reflash lock "
                           "will not time out");
}

static void on_grant(emu_ctx *ctx, void *data) {
  reflash_state *rs = data;
  (void)ctx;
  rs->grant = NULL;
  rs->status = RL_HELD;
  arm_revoke(rs);
  if (emu_push_global_fn(rs->ctx, "OnReflashLockGranted")) call_pushed(rs, "OnReflashLockGranted");
}

/* When nobody holds the lock, the earliest waiter gets it on the next turn. */
static void pass_on(emu_ctx *ctx) {
  if (each_sharer(ctx, holds, NULL)) return;
  reflash_state *next = NULL;
  each_sharer(ctx, earlier_waiter, &next);
  if (!next) return;
  next->grant = emu_sched_add(next->ctx, emu_now(next->ctx), on_grant, next);
  if (!next->grant) {
    emu_log(next->ctx, EMU_LOG_ERROR, "[c4emu] out of memory: the reflash lock request is dropped");
    next->status = RL_NONE;
    return;
  }
  next->status = RL_GRANTING;
}

/* Held → free: the callback (when revoked), then the next waiter. */
static void take_back(reflash_state *rs, bool revoked) {
  emu_sched_cancel(rs->ctx, rs->revoke);
  emu_sched_cancel(rs->ctx, rs->grant);
  rs->revoke = rs->grant = NULL;
  rs->status = RL_NONE;
  if (revoked) {
    rs->revoked++;
    if (emu_push_global_fn(rs->ctx, "OnReflashLockRevoked")) call_pushed(rs, "OnReflashLockRevoked");
  }
  pass_on(rs->ctx);
}

static void on_revoke(emu_ctx *ctx, void *data) {
  reflash_state *rs = data;
  (void)ctx;
  rs->revoke = NULL;
  take_back(rs, true);
}

/* C4:RequestReflashLock() */
static int l_RequestReflashLock(lua_State *L) {
  reflash_state *rs = state_of(L);
  if (rs->status == RL_HELD) {
    arm_revoke(rs);
  } else if (rs->status == RL_NONE) {
    rs->status = RL_WAITING;
    rs->asked = ++request_seq;
    pass_on(rs->ctx);
  }
  return 0;
}

/* C4:KeepReflashLock() */
static int l_KeepReflashLock(lua_State *L) {
  reflash_state *rs = state_of(L);
  if (rs->status == RL_HELD) arm_revoke(rs);
  else emu_log(rs->ctx, EMU_LOG_WARN, "[c4emu] C4:KeepReflashLock: this driver does not hold "
               "the reflash lock (%s): nothing to keep", rs->status == RL_NONE ? "not requested"
               : "requested, not granted yet");
  return 0;
}

/* C4:ReleaseReflashLock() */
static int l_ReleaseReflashLock(lua_State *L) {
  reflash_state *rs = state_of(L);
  if (rs->status == RL_WAITING) rs->status = RL_NONE;
  else if (rs->status != RL_NONE) take_back(rs, false);
  return 0;
}

/* ---- for the spec module ------------------------------------------------ */

const char *c4_reflash_lock_state(emu_ctx *ctx, uint64_t *expires, unsigned *revoked) {
  static const char *const names[] = {"free", "requested", "granting", "held"};
  reflash_state *rs = state_of_ctx(ctx);
  *expires = rs && rs->revoke ? emu_sched_due(rs->revoke) : 0;
  *revoked = rs ? rs->revoked : 0;
  return rs ? names[rs->status] : "free";
}

bool c4_reflash_lock_revoke(emu_ctx *ctx) {
  reflash_state *rs = state_of_ctx(ctx);
  if (!rs || rs->status != RL_HELD) return false;
  take_back(rs, true);
  return true;
}

/* ---- per-driver set-up and shutdown ------------------------------------- */

static void on_shutdown(emu_ctx *ctx, void *data) {
  reflash_state *rs = data;
  bool had = rs->status == RL_HELD || rs->status == RL_GRANTING;
  emu_sched_cancel(ctx, rs->revoke);
  emu_sched_cancel(ctx, rs->grant);
  lua_pushlightuserdata(ctx->L, (void *)&STATE_KEY);
  lua_pushnil(ctx->L);
  lua_rawset(ctx->L, LUA_REGISTRYINDEX);
  free(rs);
  if (had) pass_on(ctx);  /* this driver's state is gone: only the others count */
}

static void reflash_open(lua_State *L, emu_ctx *ctx) {
  reflash_state *rs = calloc(1, sizeof *rs);
  if (!rs) luaL_error(L, "out of memory");
  rs->ctx = ctx;
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_pushlightuserdata(L, rs);
  lua_rawset(L, LUA_REGISTRYINDEX);
  emu_on_shutdown(ctx, on_shutdown, rs);
}

static const c4_fn reflash_fns[] = {
    {"RequestReflashLock", l_RequestReflashLock},
    {"KeepReflashLock", l_KeepReflashLock},
    {"ReleaseReflashLock", l_ReleaseReflashLock},
    {NULL, NULL},
};

static const char *const reflash_callbacks[] = {"OnReflashLockGranted", "OnReflashLockRevoked", NULL};
const c4_family c4_family_reflash = {"reflash", reflash_fns, reflash_open, reflash_callbacks};
