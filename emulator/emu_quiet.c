/*
 * emu_quiet.c — the busy probes that settling asks (see emu.h).  A family
 * registers one probe per piece of state it owns; the list is small, so a
 * linear scan is the whole implementation.  Probes are freed with the host.
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

bool emu_busy(emu_ctx *ctx) {
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nprobes; i++)
    if (h->probes[i].fn(ctx, h->probes[i].data)) return true;
  return false;
}
