/*
 * emu_watchdog.c — stops runaway driver code.
 *
 * One hook per driver state, installed on the main thread before any driver
 * code runs (coroutines inherit it when they are created, so a coroutine made
 * outside a callback is watched too).  It fires every EMU_WATCHDOG_COUNT VM
 * instructions; while a callback is guarded (emu_guard_enter/leave, which
 * every protected call into the driver goes through) it raises a Lua error
 * when
 *   - the outermost callback has run longer than the watchdog (wall time),
 *   - the whole run is past its deadline (`c4emu check --timeout`), or
 *   - SIGINT/SIGTERM arrived (the flag the CLI's signal handler sets).
 * The model is redis' script_lua.c: a count hook reads the clock and raises
 * from inside the hook, which Lua 5.1 allows.
 *
 * A driver may catch that error with pcall and loop on.  So once tripped,
 * the guard stays tripped until the outermost callback returns: the hook
 * drops to every instruction on that thread and raises again at once, which
 * reaches code outside any pcall within a few instructions.  A thread left at
 * count 1 goes back to the normal count at its next untripped tick.
 *
 * The same hook also takes line events when coverage is on (emu_coverage.c).
 *
 * Signals: a runaway callback blocks the loop, so a signal watched with
 * uv_signal would never be seen.  The CLI installs a plain sigaction handler
 * (emu_signals_install) that counts the signal — the hook reads the count —
 * and wakes the loop with uv_async_send, which libuv documents as
 * async-signal-safe; the loop then decides whether to shut down.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "emu_host.h"

#define EMU_WATCHDOG_COUNT 1000

/* Signals are counted, not flagged: uv_async_send coalesces wake-ups, so a
 * second Ctrl-C arriving before the loop saw the first must still count. */
static volatile sig_atomic_t signal_total;  /* signals received (only the handler writes) */
static volatile sig_atomic_t signal_last;   /* the latest signum */
static int signal_hook_seen;    /* signals the hook has looked at */
static int signal_stopped_upto; /* signals up to this one stopped a callback */
static int signal_loop_seen;    /* signals the loop has handled */
static uv_async_t *signal_async;

/* The watchdog's clock: CLOCK_MONOTONIC at tick resolution (a few ms), on
 * the same time line as uv_hrtime (the run deadline is set with that).  Every
 * callback reads it once on entry; the fine clock's rdtsc was 3 % of the
 * server's CPU in the echo profile, and a limit counted in seconds does not
 * need nanoseconds. */
static uint64_t guard_clock_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) return uv_hrtime();
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *sig_name(int sig) {
  switch (sig) {
  case SIGINT: return "SIGINT";
  case SIGTERM: return "SIGTERM";
  case SIGHUP: return "SIGHUP";
  default: return "a signal";
  }
}

/* Trips the guard: from now on every tick raises `msg` until leave. */
static void trip(lua_State *L, struct emu_host *h, const char *msg) {
  snprintf(h->guard_msg, sizeof h->guard_msg, "%s", msg);
  h->guard_tripped = true;
  lua_sethook(L, lua_gethook(L), lua_gethookmask(L), 1);
}

static void guard_hook(lua_State *L, lua_Debug *ar) {
  emu_ctx *ctx = emu_ctx_of(L);
  struct emu_host *h = ctx->host;
  if (ar->event == LUA_HOOKLINE) {
    if (h->coverage) emu_coverage_line(ctx, L, ar);
    return;
  }
  if (h->guard_depth == 0) {
    if (lua_gethookcount(L) != EMU_WATCHDOG_COUNT) /* a thread left tripped */
      lua_sethook(L, guard_hook, lua_gethookmask(L), EMU_WATCHDOG_COUNT);
    return;
  }
  if (!h->guard_tripped) {
    char msg[256];
    uint64_t now = guard_clock_ns();
    uint64_t ran_ms = now > h->guard_start_ns ? (now - h->guard_start_ns) / 1000000u : 0;
    if (signal_total != signal_hook_seen) {
      int sig = signal_last;
      signal_hook_seen = signal_stopped_upto = signal_total;
      snprintf(msg, sizeof msg, "interrupted by %s: %s stopped after %llu ms", sig_name(sig),
               h->guard_what, (unsigned long long)ran_ms);
      trip(L, h, msg);
    } else if (h->guard_deadline_ns && now >= h->guard_deadline_ns) {
      snprintf(msg, sizeof msg, "watchdog: %s ran longer than %d ms (stopped after %llu ms; "
               "--watchdog MS sets the limit, 0 turns it off)", h->guard_what,
               h->opt.watchdog_ms, (unsigned long long)ran_ms);
      trip(L, h, msg);
    } else if (h->run_deadline_ns && now >= h->run_deadline_ns) {
      snprintf(msg, sizeof msg, "timeout: the run did not finish within %.0f s (%s stopped "
               "after %llu ms)", h->opt.run_timeout_ms / 1000.0, h->guard_what,
               (unsigned long long)ran_ms);
      h->run_timed_out = true;
      trip(L, h, msg);
    } else {
      return;
    }
  }
  luaL_error(L, "%s", h->guard_msg); /* with the position of the runaway line */
}

void emu_guard_install(emu_ctx *ctx) {
  struct emu_host *h = ctx->host;
  int mask = 0;
  if (h->opt.watchdog_ms > 0 || h->opt.run_timeout_ms > 0 || h->opt.signals) mask |= LUA_MASKCOUNT;
  if (h->coverage) mask |= LUA_MASKLINE;
  if (mask) lua_sethook(ctx->L, guard_hook, mask, EMU_WATCHDOG_COUNT);
}

void emu_guard_enter(emu_ctx *ctx, const char *what) {
  struct emu_host *h = ctx->host;
  if (h->guard_depth++ > 0) return; /* nested: the outermost callback is timed */
  h->guard_start_ns = guard_clock_ns();
  h->guard_deadline_ns = h->opt.watchdog_ms > 0
                             ? h->guard_start_ns + (uint64_t)h->opt.watchdog_ms * 1000000u : 0;
  /* No copy: this runs for every callback (the echo benchmark saw the copy),
   * and the caller's name outlives the call the hook reports on. */
  h->guard_what = what ? what : "driver code";
  h->guard_tripped = false;
  h->mem_refused = false;
}

void emu_guard_leave(emu_ctx *ctx) {
  struct emu_host *h = ctx->host;
  if (h->guard_depth == 0 || --h->guard_depth > 0) return;
  if (h->guard_tripped && lua_gethookcount(ctx->L) != EMU_WATCHDOG_COUNT)
    lua_sethook(ctx->L, guard_hook, lua_gethookmask(ctx->L), EMU_WATCHDOG_COUNT);
  h->guard_tripped = false;
  if (h->mem_refused) { /* give back what the failed callback left as garbage */
    h->mem_refused = false;
    lua_gc(ctx->L, LUA_GCCOLLECT, 0);
  }
}

/* ---- signals (the CLI) ------------------------------------------------- */

static void on_signal(int sig) {
  signal_last = sig;
  signal_total = signal_total + 1;
  if (signal_async) uv_async_send(signal_async);
}

void emu_signals_install(uv_async_t *wake) {
  signal_async = wake;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

void emu_signals_remove(void) {
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal_async = NULL;
}

int emu_signal_take(bool *stopped_callback) {
  int total = signal_total;
  if (total == signal_loop_seen) {
    *stopped_callback = false;
    return 0;
  }
  /* Only signals that did not stop a callback are left for the loop. */
  int stopped = signal_stopped_upto > signal_loop_seen ? signal_stopped_upto - signal_loop_seen : 0;
  int fresh = total - signal_loop_seen;
  signal_loop_seen = total;
  signal_hook_seen = total; /* not for a callback that starts later */
  *stopped_callback = fresh <= stopped;
  return signal_last;
}
