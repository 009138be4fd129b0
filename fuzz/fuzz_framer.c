/*
 * fuzz_framer.c — the CreateServer framer against a one-shot reference.
 *
 * Input: byte 0 picks the delimiter length (1-4), byte 1 the payload cap
 * (1-64), byte 2 seeds how the stream is cut into pushes; then the
 * delimiter, then the stream.  The streaming framer (fed in pieces) must hand
 * over exactly the payloads, capped flags and final tail that the reference
 * finds looking at the whole stream at once (the rule of c4_framer.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/c4_framer.h"

typedef struct {
  char *buf;
  size_t len, cap;
} rec;

static void rec_add(rec *r, const void *p, size_t n) {
  if (r->len + n > r->cap) {
    r->cap = (r->len + n) * 2 + 64;
    r->buf = realloc(r->buf, r->cap);
    if (!r->buf) abort();
  }
  memcpy(r->buf + r->len, p, n);
  r->len += n;
}

/* One record per payload: length, capped flag, bytes. */
static void rec_payload(rec *r, const char *p, size_t n, bool capped) {
  uint32_t len = (uint32_t)n;
  char c = capped;
  rec_add(r, &len, sizeof len);
  rec_add(r, &c, 1);
  rec_add(r, p, n);
}

static bool on_payload(void *ud, const char *p, size_t n, bool capped) {
  rec_payload(ud, p, n, capped);
  return true;
}

/* The rule, on the whole stream: returns the length of the tail left. */
static size_t reference(const char *s, size_t len, const char *d, size_t dlen, size_t limit,
                        rec *out) {
  size_t pos = 0;
  for (;;) {
    size_t r = len - pos;
    const char *hit = r >= dlen ? memmem(s + pos, r, d, dlen) : NULL;
    if (hit && (size_t)(hit - (s + pos)) < limit) {
      size_t n = (size_t)(hit - (s + pos)) + dlen;
      rec_payload(out, s + pos, n, false);
      pos += n;
    } else if (hit || r >= limit + dlen - 1) {
      rec_payload(out, s + pos, limit, true);
      pos += limit;
    } else {
      return r;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  size_t dlen = (size_t)(data[0] % 4) + 1, limit = (size_t)(data[1] % 64) + 1;
  uint32_t seed = data[2];
  data += 3;
  size -= 3;
  if (size < dlen) return 0;
  const char *delim = (const char *)data;
  const char *s = (const char *)data + dlen;
  size_t len = size - dlen;

  rec want = {0}, got = {0};
  size_t tail = reference(s, len, delim, dlen, limit, &want);

  c4_framer f;
  c4_framer_init(&f, delim, dlen, limit);
  for (size_t off = 0; off < len;) {
    seed = seed * 1103515245u + 12345u;
    size_t n = 1 + (seed >> 16) % 17;
    if (n > len - off) n = len - off;
    if (!c4_framer_push(&f, s + off, n, on_payload, &got)) abort();
    off += n;
  }
  if (c4_framer_pending(&f) != tail) {
    fprintf(stderr, "tail %zu, reference %zu\n", c4_framer_pending(&f), tail);
    abort();
  }
  if (got.len != want.len || (got.len && memcmp(got.buf, want.buf, got.len) != 0)) {
    fprintf(stderr, "payloads differ from the reference\n");
    abort();
  }
  rec flushed = {0};
  c4_framer_flush(&f, on_payload, &flushed);
  if (tail && (flushed.len != tail + 5 || memcmp(flushed.buf + 5, s + len - tail, tail) != 0))
    abort();
  c4_framer_free(&f);
  free(want.buf);
  free(got.buf);
  free(flushed.buf);
  return 0;
}
