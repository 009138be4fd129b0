/*
 * emu_channel.h — transmission modes of the spec side's channels (devices'
 * connections and d:connect clients), after WINDEV's
 * SocketChangeTransmissionMode:
 *   "windev"   decimal length, CR LF, then exactly that many bytes
 *              ("11\r\nHello World");
 *   "end"      a message ends with end_char (read strips it, write adds it);
 *   "buffered" whatever has arrived is one message; write sends as is.
 * No Lua state is kept here; the parse helpers raise with the caller's name.
 */
#ifndef EMU_CHANNEL_H
#define EMU_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <lua.h>

typedef enum { EMU_MODE_BUFFERED, EMU_MODE_WINDEV, EMU_MODE_END } emu_mode;

typedef struct {
  emu_mode mode;
  char end[16];
  size_t endlen;
} emu_framing;

#define EMU_FRAMING_DEFAULT {EMU_MODE_BUFFERED, "\r\n", 2}

/* Reads opts.mode / opts.end_char of the table at index t (either may be
 * absent); raises "<what>: opts.mode must be ..." on a wrong value. */
void emu_framing_opts(lua_State *L, int t, const char *what, emu_framing *f);
/* Sets the mode from strings (end_char may be NULL: keep the current one). */
void emu_framing_set(lua_State *L, const char *what, const char *mode, const char *end_char,
                     size_t endlen, emu_framing *f);
const char *emu_framing_name(const emu_framing *f);

/*
 * Looks for one message at the start of buf[0..n).  1: the message is
 * buf[*off .. *off + *len) and *used bytes are consumed; 0: not complete yet;
 * -1: malformed (a bad length prefix), reason in err.
 */
int emu_framing_take(const emu_framing *f, const char *buf, size_t n, size_t *off, size_t *len,
                     size_t *used, char *err, size_t errsz);
/* Pushes msg framed for sending. */
void emu_framing_push(lua_State *L, const emu_framing *f, const char *msg, size_t n);

/* Bytes received and not yet read: data is p[off .. len). */
typedef struct {
  char *p;
  size_t off, len, cap;
} emu_rxbuf;

static inline size_t emu_rxbuf_avail(const emu_rxbuf *b) { return b->len - b->off; }
static inline const char *emu_rxbuf_data(const emu_rxbuf *b) { return b->p + b->off; }
/* Appends n bytes (compacting or growing); false when out of memory. */
bool emu_rxbuf_append(emu_rxbuf *b, const char *data, size_t n);
/* Looks for one message (emu_framing_take) at the start of the buffer. */
int emu_rxbuf_take(const emu_framing *f, const emu_rxbuf *b, size_t *off, size_t *len,
                   size_t *used, char *err, size_t errsz);

#endif
