/*
 * emu_clock.c — the emulator's clock and the one ordered structure of
 * everything due at a clock time (a binary min-heap keyed by due time, then
 * by insertion order, so entries due at the same instant fire in the order
 * they were added).
 *
 * Real mode: the clock is monotonic wall time since load, and one libuv
 * timer wakes the loop at the earliest due time.  Virtual mode: the clock
 * stands still until emu_clock_advance() moves it; entries then fire in due
 * order with the clock set to each one's due time, and ready I/O is served
 * between them.
 *
 * Lifetime: an entry belongs to the heap until it fires or is cancelled; it
 * is freed before its callback runs, so the callback may add new entries
 * (or cancel others) freely.
 *
 * Order: entries due at the same instant fire by their order key, which is
 * the insertion sequence unless the owner passes an older one
 * (emu_sched_add_ordered): a repeating timer re-arms with the key of its
 * first entry, so same-instant firings follow the timers' creation order.
 *
 * Stall: d:stall(ms) makes the next driver callback cost ms of clock time.
 * c4api calls emu_charge_stall() when a callback returns; virtual mode moves
 * the clock on by the stall (never back), real mode sleeps it.
 */
#include <stdlib.h>
#include <string.h>

#include "emu_host.h"

struct emu_sched {
  uint64_t due;
  uint64_t seq;        /* insertion sequence */
  uint64_t order;      /* tie-break between entries due at the same time */
  size_t index;        /* position in the heap */
  emu_sched_fn fn;
  void *data;
  emu_ctx *ctx;        /* issue 11: the driver that added it (a project's drivers share the clock) */
  const char *kind;    /* non-NULL: a driver timer listed by d:timers() */
  uint64_t period;
};

struct emu_clock {
  bool virtual_mode;
  uint64_t vnow;       /* virtual mode: the clock */
  uint64_t t0_ns;      /* real mode: uv_hrtime() at load */
  uint64_t seq;
  emu_sched **heap;
  size_t n, cap;
  uv_timer_t wake;     /* real mode: fires at the earliest due time */
  uv_timer_t poll;     /* emu_loop_serve(): bounds a wait for I/O */
  bool firing;
  uint64_t stall;      /* d:stall(): ms the next driver callback costs */
};

static bool before(const emu_sched *a, const emu_sched *b) {
  return a->due < b->due || (a->due == b->due && a->order < b->order);
}

static void heap_set(emu_clock *c, size_t i, emu_sched *s) {
  c->heap[i] = s;
  s->index = i;
}

static void sift_up(emu_clock *c, size_t i) {
  emu_sched *s = c->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(s, c->heap[parent])) break;
    heap_set(c, i, c->heap[parent]);
    i = parent;
  }
  heap_set(c, i, s);
}

static void sift_down(emu_clock *c, size_t i) {
  emu_sched *s = c->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const emu_sched *best = s;
    if (l < c->n && before(c->heap[l], best)) { m = l; best = c->heap[l]; }
    if (r < c->n && before(c->heap[r], best)) m = r;
    if (m == i) break;
    heap_set(c, i, c->heap[m]);
    i = m;
  }
  heap_set(c, i, s);
}

static void heap_remove(emu_clock *c, size_t i) {
  emu_sched *last = c->heap[--c->n];
  if (i == c->n) return;
  heap_set(c, i, last);
  if (i > 0 && before(last, c->heap[(i - 1) / 2])) sift_up(c, i);
  else sift_down(c, i);
}

uint64_t emu_now(emu_ctx *ctx) {
  emu_clock *c = ctx->host->clock;
  if (!c) return 0;
  if (c->virtual_mode) return c->vnow;
  return (uv_hrtime() - c->t0_ns) / 1000000u;
}

int64_t emu_epoch_ms(emu_ctx *ctx) {
  return ctx->host->epoch0_ms + (int64_t)emu_now(ctx);
}

static void on_wake(uv_timer_t *t) {
  emu_ctx *ctx = t->data;
  emu_clock_fire_due(ctx);
}

/* Real mode: point the libuv timer at the earliest due entry. */
static void rearm(emu_ctx *ctx) {
  emu_clock *c = ctx->host->clock;
  if (c->virtual_mode) return;
  if (c->n == 0) {
    uv_timer_stop(&c->wake);
    return;
  }
  /* libuv counts from the loop's cached time, which lags while callbacks run. */
  uv_update_time(ctx->loop);
  uint64_t now = emu_now(ctx), due = c->heap[0]->due;
  uv_timer_start(&c->wake, on_wake, due > now ? due - now : 0, 0);
}

emu_clock *emu_clock_new(emu_ctx *ctx, bool virtual_mode) {
  emu_clock *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->virtual_mode = virtual_mode;
  c->t0_ns = uv_hrtime();
  uv_timer_init(ctx->loop, &c->wake);
  uv_timer_init(ctx->loop, &c->poll);
  c->wake.data = c->poll.data = ctx;
  /* The clock's own timers must not keep the loop alive on their own. */
  uv_unref((uv_handle_t *)&c->wake);
  uv_unref((uv_handle_t *)&c->poll);
  return c;
}

/* Drops every pending entry (the owners' shutdown hooks have run by now)
 * and closes the clock's handles; the host drains the loop afterwards. */
void emu_clock_free(emu_clock *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) free(c->heap[i]);
  free(c->heap);
  c->heap = NULL;
  c->n = c->cap = 0;
  uv_close((uv_handle_t *)&c->wake, NULL);
  uv_close((uv_handle_t *)&c->poll, NULL);
}

emu_sched *emu_sched_add(emu_ctx *ctx, uint64_t due_ms, emu_sched_fn fn, void *data) {
  return emu_sched_add_ordered(ctx, due_ms, UINT64_MAX, fn, data);
}

emu_sched *emu_sched_add_ordered(emu_ctx *ctx, uint64_t due_ms, uint64_t order, emu_sched_fn fn,
                                 void *data) {
  emu_clock *c = ctx->host->clock;
  if (c->n == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 64;
    emu_sched **h = realloc(c->heap, ncap * sizeof *h);
    if (!h) return NULL;
    c->heap = h;
    c->cap = ncap;
  }
  emu_sched *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->due = due_ms;
  s->seq = c->seq++;
  s->order = order == UINT64_MAX ? s->seq : order;
  s->fn = fn;
  s->data = data;
  s->ctx = ctx;
  c->heap[c->n] = s;
  s->index = c->n++;
  sift_up(c, s->index);
  if (s->index == 0 && !c->firing) rearm(ctx);
  return s;
}

void emu_sched_cancel(emu_ctx *ctx, emu_sched *s) {
  if (!s) return;
  emu_clock *c = ctx->host->clock;
  heap_remove(c, s->index);
  free(s);
  /* A stale wake-up is harmless: fire_due finds nothing due and re-arms. */
}

uint64_t emu_sched_due(const emu_sched *s) { return s->due; }
uint64_t emu_sched_order(const emu_sched *s) { return s->order; }
void *emu_sched_data(const emu_sched *s) { return s->data; }
emu_sched_fn emu_sched_callback(const emu_sched *s) { return s->fn; }

void emu_sched_describe(emu_sched *s, const char *kind, uint64_t period_ms) {
  s->kind = kind;
  s->period = period_ms;
}

size_t emu_clock_pending(emu_ctx *ctx) {
  return ctx->host->clock->n;
}

bool emu_clock_next_due(emu_ctx *ctx, uint64_t *due) {
  emu_clock *c = ctx->host->clock;
  if (c->n == 0) return false;
  *due = c->heap[0]->due;
  return true;
}

void emu_clock_each(emu_ctx *ctx, void (*fn)(emu_sched *s, void *ud), void *ud) {
  emu_clock *c = ctx->host->clock;
  for (size_t i = 0; i < c->n; i++) fn(c->heap[i], ud);
}

const char *emu_sched_kind(const emu_sched *s) { return s->kind; }
uint64_t emu_sched_period(const emu_sched *s) { return s->period; }

/* Pops the earliest entry and runs it. */
static void fire_one(emu_ctx *ctx) {
  emu_clock *c = ctx->host->clock;
  emu_sched *s = c->heap[0];
  heap_remove(c, 0);
  emu_sched_fn fn = s->fn;
  void *data = s->data;
  emu_ctx *owner = s->ctx ? s->ctx : ctx;
  free(s);
  fn(owner, data);
}

/* issue 11: drops the entries a driver of a project added, when it goes
 * before the others (its shutdown hooks have cancelled what they own). */
void emu_clock_drop_ctx(emu_ctx *ctx) {
  emu_clock *c = ctx->host->clock;
  /* A removal moves entries around the heap: start over after each. */
  for (size_t i = 0; i < c->n;) {
    if (c->heap[i]->ctx != ctx) {
      i++;
      continue;
    }
    emu_sched *s = c->heap[i];
    heap_remove(c, i);
    free(s);
    i = 0;
  }
}

bool emu_clock_fire_due(emu_ctx *ctx) {
  emu_clock *c = ctx->host->clock;
  if (c->firing || (c->n == 0 && c->virtual_mode)) return false;
  c->firing = true;
  bool fired = false;
  /* Entries added while firing with a due time already past wait for the
   * next pass, so a timer re-armed at "now" cannot starve the loop. */
  uint64_t now = emu_now(ctx), limit = c->seq;
  while (c->n > 0 && c->heap[0]->due <= now && c->heap[0]->seq < limit) {
    fire_one(ctx);
    fired = true;
  }
  c->firing = false;
  rearm(ctx);
  return fired;
}

static void on_poll(uv_timer_t *t) { (void)t; }

static void count_active(uv_handle_t *h, void *arg) {
  if (uv_is_active(h) || uv_is_closing(h)) ++*(int *)arg;
}

bool emu_loop_could_bring_io(emu_ctx *ctx) {
  if (uv_loop_alive(ctx->loop)) return true;
  /* Unreferenced handles do not keep the loop alive, yet a served loop
   * still polls them. */
  int n = 0;
  uv_walk(ctx->loop, count_active, &n);
  return n > 0;
}

void emu_loop_serve(emu_ctx *ctx, uint64_t wait_ms) {
  emu_clock *c = ctx->host->clock;
  if (wait_ms == 0) {
    uv_run(ctx->loop, UV_RUN_NOWAIT);
    return;
  }
  /* Referenced while we wait, so UV_RUN_ONCE cannot return early for lack
   * of active handles and cannot block past wait_ms.  Repeating: libuv
   * counts from its cached time, and when that is stale by wait_ms the
   * timer fires before the poll; a one-shot timer would then leave the poll
   * to wait for ever (epoll_wait(-1) with a listening socket open: the hang
   * of d:serve(1) in a loop).  Re-armed, it bounds the poll to wait_ms. */
  uv_update_time(ctx->loop);
  uv_ref((uv_handle_t *)&c->poll);
  uv_timer_start(&c->poll, on_poll, wait_ms, wait_ms);
  uv_run(ctx->loop, UV_RUN_ONCE);
  uv_timer_stop(&c->poll);
  uv_unref((uv_handle_t *)&c->poll);
}

void emu_clock_stall(emu_ctx *ctx, uint64_t ms) {
  ctx->host->clock->stall = ms;
}

void emu_charge_stall(emu_ctx *ctx) {
  emu_clock *c = ctx->host->clock;
  if (!c || c->stall == 0) return;
  uint64_t ms = c->stall;
  c->stall = 0;
  if (c->virtual_mode) c->vnow += ms;
  else uv_sleep((unsigned)ms);
}

void emu_clock_advance(emu_ctx *ctx, uint64_t ms) {
  emu_clock *c = ctx->host->clock;
  if (!c->virtual_mode) {
    uint64_t end = emu_now(ctx) + ms;
    struct emu_host *h = ctx->host;
    for (uint64_t now; (now = emu_now(ctx)) < end;) {
      /* Short waits while the spec side (device notifiers, spawned
       * coroutines) has something to run. */
      emu_loop_serve(ctx, h->spec_step ? (end - now < 10 ? end - now : 10) : end - now);
      if (h->spec_step) h->spec_step(ctx, h->spec_step_ud);
    }
    return;
  }
  uint64_t target = c->vnow + ms;
  bool warned = false;
  /* Settled before the first due entry, after each firing and at the end:
   * what a timer's callback sends reaches its peer in this process, and the
   * reply reaches the driver, before the next entry fires. */
  emu_settle_for_advance(ctx, &warned);
  /* A stalled callback may carry the clock past target: what came due by
   * then fires too (late), and the clock never goes back. */
  while (c->n > 0 && c->heap[0]->due <= (c->vnow > target ? c->vnow : target)) {
    if (c->heap[0]->due > c->vnow) c->vnow = c->heap[0]->due;
    fire_one(ctx);
    emu_settle_for_advance(ctx, &warned);
  }
  if (c->vnow < target) c->vnow = target;
}
