/*
 * c4_handle_map.c — handle → connection map of the CreateServer family
 * (see c4_handle_map.h).
 */
#include <stdlib.h>

#include "server/c4_handle_map.h"

static size_t hslot(uint32_t k, size_t cap) { return (k * 2654435761u) & (cap - 1); }

void *c4_hmap_get(const c4_handle_map *m, uint32_t k) {
  if (!m->cap || !k) return NULL;
  for (size_t i = hslot(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->slots[i].key == k) return m->slots[i].val;
    if (m->slots[i].key == 0) return NULL;
  }
}

bool c4_hmap_put(c4_handle_map *m, uint32_t k, void *v) {
  if ((m->n + 1) * 10 > m->cap * 7) { /* keep the load under 70 % */
    size_t ncap = m->cap ? m->cap * 2 : 64;
    c4_hslot *t = calloc(ncap, sizeof *t);
    if (!t) return false;
    for (size_t i = 0; i < m->cap; i++) {
      if (!m->slots[i].key) continue;
      size_t j = hslot(m->slots[i].key, ncap);
      while (t[j].key) j = (j + 1) & (ncap - 1);
      t[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = t;
    m->cap = ncap;
  }
  size_t i = hslot(k, m->cap);
  while (m->slots[i].key) i = (i + 1) & (m->cap - 1);
  m->slots[i] = (c4_hslot){k, v};
  m->n++;
  return true;
}

/* Removal with backward shift, so lookups never need tombstones. */
void c4_hmap_del(c4_handle_map *m, uint32_t k) {
  if (!m->cap) return;
  size_t mask = m->cap - 1, i = hslot(k, m->cap);
  while (m->slots[i].key != k) {
    if (!m->slots[i].key) return;
    i = (i + 1) & mask;
  }
  m->slots[i].key = 0;
  m->n--;
  for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
    size_t home = hslot(m->slots[j].key, m->cap);
    /* Move j back to the hole i if its home is not in (i, j]. */
    bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!between) {
      m->slots[i] = m->slots[j];
      m->slots[j].key = 0;
      i = j;
    }
  }
}

void c4_hmap_free(c4_handle_map *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->n = 0;
}
