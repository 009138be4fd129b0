/*
 * c4_framer.c — delimiter framing for C4:CreateServer (see c4_framer.h for
 * the rules).
 *
 * Payloads are found in place in the caller's read buffer whenever no tail
 * is held, so the common case (whole lines per read) copies nothing; only an
 * unterminated tail is copied into the framer.  `scanned` remembers how far
 * the tail is known to hold no delimiter start, so a payload trickling in one
 * byte at a time costs linear, not quadratic, time.
 */
#include <stdlib.h>
#include <string.h>

#include "net/c4_framer.h"

/* Tails above this size are freed once consumed; smaller buffers are kept
 * for the next partial payload. */
#define KEEP_BUF 512

void c4_framer_init(c4_framer *f, const char *delim, size_t dlen, size_t limit) {
  memset(f, 0, sizeof *f);
  f->delim = delim;
  f->dlen = delim ? dlen : 0;
  f->limit = limit ? limit : C4_FRAMER_DEFAULT_LIMIT;
}

void c4_framer_free(c4_framer *f) {
  free(f->buf);
  f->buf = NULL;
  f->len = f->cap = f->scanned = 0;
}

void c4_framer_clear(c4_framer *f) {
  if (f->cap > KEEP_BUF) {
    c4_framer_free(f);
    return;
  }
  f->len = f->scanned = 0;
}

size_t c4_framer_pending(const c4_framer *f) { return f->len; }

/*
 * Hands over every payload that p[0..n) completes.  *scan (in/out): no
 * delimiter starts in [consumed, *scan).  Returns the bytes consumed; sets
 * *stopped when fn asked to stop.
 */
static size_t frame_region(c4_framer *f, const char *p, size_t n, size_t *scan, bool *stopped,
                           c4_frame_fn fn, void *ud) {
  const size_t dlen = f->dlen, limit = f->limit;
  size_t s = 0;
  for (;;) {
    size_t from = *scan > s ? *scan : s;
    const char *hit = n - from >= dlen ? memmem(p + from, n - from, f->delim, dlen) : NULL;
    if (hit) {
      size_t h = (size_t)(hit - p);
      if (h - s < limit) { /* a delimiter starts within the limit: a whole payload */
        if (!fn(ud, p + s, h + dlen - s, false)) {
          *stopped = true;
          return n;
        }
        s = *scan = h + dlen;
        continue;
      }
      *scan = h;
    } else {
      size_t none = n >= dlen - 1 ? n - (dlen - 1) : 0; /* no delimiter starts before this */
      *scan = none > from ? none : from;
      if (n - s < limit + dlen - 1) return s;           /* wait for more */
    }
    /* No delimiter starts in the first `limit` bytes: hand them over capped. */
    if (!fn(ud, p + s, limit, true)) {
      *stopped = true;
      return n;
    }
    s += limit;
    if (*scan < s) *scan = s;
  }
}

static bool reserve(c4_framer *f, size_t need) {
  if (need <= f->cap) return true;
  size_t ncap = f->cap ? f->cap : 256;
  while (ncap < need) ncap *= 2;
  char *b = realloc(f->buf, ncap);
  if (!b) return false;
  f->buf = b;
  f->cap = ncap;
  return true;
}

bool c4_framer_push(c4_framer *f, const char *data, size_t n, c4_frame_fn fn, void *ud) {
  if (n == 0) return true;
  if (f->dlen == 0) return fn(ud, data, n, false);
  bool stopped = false;
  if (f->len == 0) { /* nothing held: frame in place, keep only the tail */
    size_t scan = 0;
    size_t used = frame_region(f, data, n, &scan, &stopped, fn, ud);
    if (stopped) return false;
    size_t rest = n - used;
    if (rest == 0) return true;
    if (!reserve(f, rest)) {
      c4_framer_free(f);
      return false;
    }
    memcpy(f->buf, data + used, rest);
    f->len = rest;
    f->scanned = scan - used;
    return true;
  }
  if (!reserve(f, f->len + n)) {
    c4_framer_free(f);
    return false;
  }
  memcpy(f->buf + f->len, data, n);
  f->len += n;
  size_t used = frame_region(f, f->buf, f->len, &f->scanned, &stopped, fn, ud);
  if (stopped) {
    c4_framer_clear(f);
    return false;
  }
  if (used == f->len) {
    c4_framer_clear(f);
    return true;
  }
  memmove(f->buf, f->buf + used, f->len - used);
  f->len -= used;
  f->scanned -= used;
  return true;
}

void c4_framer_flush(c4_framer *f, c4_frame_fn fn, void *ud) {
  if (f->len == 0) return;
  char *b = f->buf;
  size_t n = f->len;
  f->buf = NULL;
  f->len = f->cap = f->scanned = 0;
  fn(ud, b, n, false);
  free(b);
}
