/*
 * c4_framer.h — delimiter framing of a byte stream, as C4:CreateServer does
 * it: each payload is handed over *including* its delimiter; a delimiter
 * split across reads and several payloads in one read are both handled.
 * No Lua and no libuv in here (tested on its own: spec/unit/test_framer.c).
 *
 * The cap.  A payload that reaches `limit` bytes without a delimiter is
 * handed over as it is (capped = true), `limit` bytes at a time, so the
 * buffer never grows without bound.  Precisely: a payload is cut as capped
 * when no delimiter *starts* within its first `limit` bytes; a delimiter that
 * starts inside them stays whole (such a payload may be up to dlen-1 bytes
 * longer than the limit).  The rule looks only at the bytes, so the result
 * does not depend on how the stream was split into reads.
 *
 * An empty delimiter means no framing: every push is handed over as it is.
 *
 * Memory: the framer holds only the unterminated tail, and frees its buffer
 * when the tail is consumed, so an idle connection costs no buffer at all.
 * The delimiter is not copied: it must outlive the framer (the server owns it).
 */
#ifndef C4_FRAMER_H
#define C4_FRAMER_H

#include <stdbool.h>
#include <stddef.h>

#define C4_FRAMER_DEFAULT_LIMIT ((size_t)1 << 20) /* 1 MiB */

typedef struct {
  const char *delim;   /* not owned */
  size_t dlen;         /* 0: raw mode */
  size_t limit;        /* cap on a payload without a delimiter (>= 1) */
  char *buf;           /* the unterminated tail, or NULL */
  size_t len, cap;
  size_t scanned;      /* no delimiter starts before buf + scanned */
} c4_framer;

/*
 * Called once per payload.  `capped`: cut at the limit, no delimiter.
 * Return true to go on, false to stop: the push returns at once and the rest
 * of that push is dropped (used when the owner closes the connection from
 * inside the callback).  The callback must not push to, flush, clear or free
 * the same framer.
 */
typedef bool (*c4_frame_fn)(void *ud, const char *p, size_t n, bool capped);

/* limit 0 → C4_FRAMER_DEFAULT_LIMIT. */
void c4_framer_init(c4_framer *f, const char *delim, size_t dlen, size_t limit);
void c4_framer_free(c4_framer *f);             /* frees the tail; f may be re-inited */

/* Feeds bytes; calls fn for every complete (or capped) payload.  Returns
 * false if fn stopped it, or if memory ran out (the tail is then dropped). */
bool c4_framer_push(c4_framer *f, const char *data, size_t n, c4_frame_fn fn, void *ud);

/* Bytes held that do not yet form a payload. */
size_t c4_framer_pending(const c4_framer *f);

/* Hands the unterminated tail (if any) to fn as one payload (capped = false)
 * and empties the framer: for a peer that closed mid-payload. */
void c4_framer_flush(c4_framer *f, c4_frame_fn fn, void *ud);

/* Drops the tail. */
void c4_framer_clear(c4_framer *f);

#endif
