/*
 * emu_quiet.c — the busy probes that settling asks (see emu.h).  A family
 * registers one probe per piece of state it owns; the list is small, so a
 * linear scan is the whole implementation.  Probes are freed with the host.
 * In a project (emu_world.c) emu_busy asks every driver's probes: the loop is
 * one, so the world is quiet only when all of them are.
 */
#include <stdlib.h>

#include "emu_host.h"

void emu_busy_probe_add(emu_ctx *ctx, emu_busy_fn fn, void *data) {
  struct emu_host *h = ctx->host;
  if (h->nprobes == h->capprobes) {
    size_t ncap = h->capprobes ? h->capprobes * 2 : 8;
    struct emu_probe *p = realloc(h->probes, ncap * sizeof *p);
    if (!p) abort(); /* a few bytes: out of memory here is not recoverable */
    h->probes = p;
    h->capprobes = ncap;
  }
  h->probes[h->nprobes++] = (struct emu_probe){fn, data};
}

void emu_busy_probe_remove(emu_ctx *ctx, emu_busy_fn fn, void *data) {
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nprobes; i++) {
    if (h->probes[i].fn == fn && h->probes[i].data == data) {
      h->probes[i] = h->probes[--h->nprobes];
      return;
    }
  }
}

static bool own_probes_busy(emu_ctx *ctx) {
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nprobes; i++)
    if (h->probes[i].fn(ctx, h->probes[i].data)) return true;
  return false;
}

/* A driver of a project file shares the loop with the others: anything any
 * of them has in flight (a resolve, a connect, a handshake towards another
 * driver's server) is in flight on this loop, so every live driver's probes
 * answer, each with its own context. */
bool emu_busy(emu_ctx *ctx) {
  if (own_probes_busy(ctx)) return true;
  emu_world *w = ctx->host->world;
  for (size_t i = 0; w && i < w->n; i++) {
    emu_ctx *peer = w->drivers[i].ctx;
    if (peer != ctx && peer->phase != EMU_PHASE_DEAD && own_probes_busy(peer)) return true;
  }
  return false;
}

/* issue 13: parked probes (in-process servers holding a request on the clock). */
void emu_parked_probe_add(emu_ctx *ctx, emu_parked_fn fn, void *data) {
  struct emu_host *h = ctx->host;
  if (h->nparked == h->capparked) {
    size_t ncap = h->capparked ? h->capparked * 2 : 4;
    struct emu_parked *p = realloc(h->parked, ncap * sizeof *p);
    if (!p) abort();
    h->parked = p;
    h->capparked = ncap;
  }
  h->parked[h->nparked++] = (struct emu_parked){fn, data};
}

void emu_parked_probe_remove(emu_ctx *ctx, emu_parked_fn fn, void *data) {
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nparked; i++) {
    if (h->parked[i].fn == fn && h->parked[i].data == data) {
      h->parked[i] = h->parked[--h->nparked];
      return;
    }
  }
}

bool emu_client_parked(emu_ctx *ctx, int client_port) {
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nparked; i++)
    if (h->parked[i].fn(ctx, h->parked[i].data, client_port)) return true;
  return false;
}
