/*
 * c4_async.c — C4:CallAsync(fn): runs fn later, after the calling code.
 *
 * The page's only fact is its sample output: the code after the call runs
 * before fn.  c4emu's choice: fn runs on the next turn of the loop, as a
 * zero-delay one-shot on the emulator clock (due "now", after every entry
 * already due now).  So in virtual time d:settle() and d:advance(0) run it
 * without moving the clock, and calls made from inside a firing callback wait
 * for the next pass (emu_clock_fire_due never fires what was added while it
 * fires), so a fn that calls CallAsync again cannot starve the loop.  Calls
 * run in the order they were made.  An error in fn is logged and recorded as
 * a callback's is ("CallAsync callback"); the next calls still run.
 *
 * Lifetime: each pending call is one malloc'd entry holding a registry
 * reference to fn, in the driver's list of pending calls; it is unlinked and
 * freed before fn runs.  The shutdown hook cancels what is still pending
 * (fn never runs after OnDriverDestroyed) and frees the state.  Pending calls
 * are not timers: d:timers() does not list them; d:handles() counts them as
 * "async-call".
 */
#include <stdlib.h>

#include "c4api.h"

typedef struct async_call async_call;
typedef struct {
  emu_ctx *ctx;
  async_call *head, *tail; /* pending, in call order */
} async_state;

struct async_call {
  async_state *as;
  emu_sched *sched;
  int fn_ref;
  async_call *next, *prev;
};

static const char STATE_KEY = 'a';

static async_state *state_of(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  async_state *as = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!as) luaL_error(L, "C4:CallAsync: the driver has been destroyed");
  return as;
}

static void unlink_call(async_call *c) {
  async_state *as = c->as;
  if (c->prev) c->prev->next = c->next;
  else as->head = c->next;
  if (c->next) c->next->prev = c->prev;
  else as->tail = c->prev;
  emu_track(as->ctx, "async-call", -1);
}

static void on_due(emu_ctx *ctx, void *data) {
  async_call *c = data;
  int ref = c->fn_ref;
  unlink_call(c);
  free(c);
  lua_State *L = ctx->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  emu_pcall(ctx, 0, 0, "CallAsync callback");
  emu_charge_stall(ctx);
}

/* C4:CallAsync(fn) → true */
static int l_CallAsync(lua_State *L) {
  luaL_checktype(L, 2, LUA_TFUNCTION);
  async_state *as = state_of(L);
  async_call *c = calloc(1, sizeof *c);
  if (!c) return luaL_error(L, "C4:CallAsync: out of memory");
  c->as = as;
  c->sched = emu_sched_add(as->ctx, emu_now(as->ctx), on_due, c);
  if (!c->sched) {
    free(c);
    return luaL_error(L, "C4:CallAsync: out of memory");
  }
  lua_pushvalue(L, 2);
  c->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c->prev = as->tail;
  if (as->tail) as->tail->next = c;
  else as->head = c;
  as->tail = c;
  emu_track(as->ctx, "async-call", 1);
  lua_pushboolean(L, 1);
  return 1;
}

static void on_shutdown(emu_ctx *ctx, void *data) {
  async_state *as = data;
  while (as->head) {
    async_call *c = as->head;
    emu_sched_cancel(ctx, c->sched);
    luaL_unref(ctx->L, LUA_REGISTRYINDEX, c->fn_ref);
    unlink_call(c);
    free(c);
  }
  lua_pushlightuserdata(ctx->L, (void *)&STATE_KEY);
  lua_pushnil(ctx->L);
  lua_rawset(ctx->L, LUA_REGISTRYINDEX);
  free(as);
}

static void async_open(lua_State *L, emu_ctx *ctx) {
  async_state *as = calloc(1, sizeof *as);
  if (!as) luaL_error(L, "out of memory");
  as->ctx = ctx;
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_pushlightuserdata(L, as);
  lua_rawset(L, LUA_REGISTRYINDEX);
  emu_on_shutdown(ctx, on_shutdown, as);
}

static const c4_fn async_fns[] = {
    {"CallAsync", l_CallAsync},
    {NULL, NULL},
};

const c4_family c4_family_async = {"async", async_fns, async_open, NULL};
