/*
 * emu_world.c — the world of a project of several drivers (issue 11): the
 * one libuv loop and the one emulator clock they all run on, and the list of
 * drivers by name.  The world's own context hosts no driver; it owns the loop
 * and the clock, so that drivers may go in any order.  It is counted: one
 * reference for its owner (the CLI, the spec's project object) and one per
 * driver; the loop and the clock are closed with the last one.
 *
 * What c4api sees of it (emu.h): emu_peer_driver() finds the hosted driver
 * of a device id, the message hop count bounds chains of messages between
 * drivers (a send cycle), and emu_world_model() keeps the one project model
 * (rooms, devices) the drivers share.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "emu_host.h"

emu_world *emu_world_new(bool virtual_clock, bool has_epoch, int64_t epoch_ms) {
  emu_world *w = calloc(1, sizeof *w);
  emu_ctx *ctx = calloc(1, sizeof *ctx);
  struct emu_host *h = calloc(1, sizeof *h);
  if (!w || !ctx || !h) abort();
  w->ctx = ctx;
  w->refs = 1;
  ctx->host = h;
  ctx->virtual_clock = virtual_clock;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  h->epoch0_ms = has_epoch ? epoch_ms : (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
  uv_loop_init(&h->loop);
  ctx->loop = &h->loop;
  h->clock = emu_clock_new(ctx, virtual_clock);
  return w;
}

void emu_world_add(emu_world *w, const char *name, emu_ctx *ctx) {
  if (w->n == w->cap) {
    w->cap = w->cap ? w->cap * 2 : 8;
    w->drivers = realloc(w->drivers, w->cap * sizeof *w->drivers);
    if (!w->drivers) abort();
  }
  w->drivers[w->n].name = strdup(name ? name : "");
  w->drivers[w->n++].ctx = ctx;
  w->refs++;
}

static void world_close(emu_world *w) {
  struct emu_host *h = w->ctx->host;
  emu_clock_free(h->clock);
  emu_world_shared_dirs_free(w); /* s4-files: MEDIA and LOGGING */
  while (uv_run(&h->loop, UV_RUN_NOWAIT) != 0) {
  }
  uv_loop_close(&h->loop);
  free(h->clock);
  emu_log_free(w->ctx);
  free(h);
  free(w->ctx);
  free(w->drivers);
  free(w);
}

void emu_world_release(emu_world *w) {
  if (w && --w->refs == 0) world_close(w);
}

void emu_world_remove(emu_world *w, emu_ctx *ctx) {
  for (size_t i = 0; i < w->n; i++)
    if (w->drivers[i].ctx == ctx) {
      free(w->drivers[i].name);
      memmove(&w->drivers[i], &w->drivers[i + 1], (w->n - i - 1) * sizeof *w->drivers);
      w->n--;
      emu_world_release(w);
      return;
    }
}

emu_ctx *emu_peer_driver(emu_ctx *ctx, int64_t device_id) {
  emu_world *w = ctx->host->world;
  for (size_t i = 0; w && i < w->n; i++)
    if (w->drivers[i].ctx->device_id == device_id && w->drivers[i].ctx->phase != EMU_PHASE_DEAD)
      return w->drivers[i].ctx;
  return NULL;
}

emu_ctx *emu_peer_at(emu_ctx *ctx, size_t i) {
  emu_world *w = ctx->host->world;
  for (size_t k = 0; w && k < w->n; k++) {
    if (w->drivers[k].ctx == ctx) continue;
    if (i-- == 0) return w->drivers[k].ctx;
  }
  return NULL;
}

void **emu_world_model(emu_ctx *ctx) {
  return ctx->host->world ? &ctx->host->world->model : NULL;
}

int emu_message_hops(emu_ctx *ctx) {
  return ctx->host->world ? ctx->host->world->hops : 0;
}

void emu_message_hops_set(emu_ctx *ctx, int hops) {
  if (ctx->host->world) ctx->host->world->hops = hops;
}
