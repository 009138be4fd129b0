/*
 * c4_handle_map.h — the map from CreateServer's opaque integer handles to
 * their connections (split from c4_server.c): open addressing with linear
 * probing, key 0 = empty, removal by backward shift (no tombstones).
 * A zeroed struct is an empty map.
 */
#ifndef C4_HANDLE_MAP_H
#define C4_HANDLE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t key;
  void *val;
} c4_hslot;

typedef struct {
  c4_hslot *slots;
  size_t cap, n;     /* cap: 0 or a power of two */
} c4_handle_map;

/* The value of key k (k != 0), or NULL. */
void *c4_hmap_get(const c4_handle_map *m, uint32_t k);
/* Adds k → v (k != 0, not present); false when out of memory. */
bool c4_hmap_put(c4_handle_map *m, uint32_t k, void *v);
void c4_hmap_del(c4_handle_map *m, uint32_t k);
void c4_hmap_free(c4_handle_map *m);

#endif
