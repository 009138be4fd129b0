/*
 * emu_channel.c — the transmission modes (see emu_channel.h).
 *
 * A WINDEV length prefix is 1 to 10 decimal digits followed by CR LF; any
 * other byte before the CR LF, an empty prefix, or more digits than fit a
 * message size, is malformed: read raises instead of waiting for ever.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>

#include "emu_channel.h"

#define MAX_DIGITS 10

const char *emu_framing_name(const emu_framing *f) {
  switch (f->mode) {
  case EMU_MODE_WINDEV: return "windev";
  case EMU_MODE_END: return "end";
  default: return "buffered";
  }
}

void emu_framing_set(lua_State *L, const char *what, const char *mode, const char *end_char,
                     size_t endlen, emu_framing *f) {
  emu_framing n = *f;
  if (mode) {
    if (strcmp(mode, "windev") == 0) n.mode = EMU_MODE_WINDEV;
    else if (strcmp(mode, "end") == 0) n.mode = EMU_MODE_END;
    else if (strcmp(mode, "buffered") == 0) n.mode = EMU_MODE_BUFFERED;
    else luaL_error(L, "%s: mode must be \"windev\", \"end\" or \"buffered\", not '%s'", what, mode);
  }
  if (end_char) {
    if (endlen == 0 || endlen >= sizeof n.end)
      luaL_error(L, "%s: end_char must be 1 to %d bytes", what, (int)sizeof n.end - 1);
    memcpy(n.end, end_char, endlen);
    n.end[endlen] = '\0';
    n.endlen = endlen;
  }
  *f = n;
}

void emu_framing_opts(lua_State *L, int t, const char *what, emu_framing *f) {
  const char *mode = NULL, *endc = NULL;
  size_t endlen = 0;
  lua_getfield(L, t, "mode");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: opts.mode must be a string, not %s", what, luaL_typename(L, -1));
    mode = lua_tostring(L, -1);
  }
  lua_getfield(L, t, "end_char");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: opts.end_char must be a string, not %s", what, luaL_typename(L, -1));
    endc = lua_tolstring(L, -1, &endlen);
  }
  emu_framing_set(L, what, mode, endc, endlen, f);
  lua_pop(L, 2);
}

int emu_framing_take(const emu_framing *f, const char *buf, size_t n, size_t *off, size_t *len,
                     size_t *used, char *err, size_t errsz) {
  if (f->mode == EMU_MODE_BUFFERED) {
    if (n == 0) return 0;
    *off = 0;
    *len = *used = n;
    return 1;
  }
  if (f->mode == EMU_MODE_END) {
    const char *hit = n >= f->endlen ? memmem(buf, n, f->end, f->endlen) : NULL;
    if (!hit) return 0;
    *off = 0;
    *len = (size_t)(hit - buf);
    *used = *len + f->endlen;
    return 1;
  }
  size_t i = 0, size = 0;
  for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
    if (i == MAX_DIGITS) break;
    size = size * 10 + (size_t)(buf[i] - '0');
  }
  if (i == n) return 0; /* only digits so far */
  if (i == 0 || buf[i] != '\r') { /* an 11th digit lands here too */
    snprintf(err, errsz, "malformed WINDEV length prefix (expected decimal digits then "
             "\\r\\n, got byte %u at offset %u)", (unsigned char)buf[i], (unsigned)i);
    return -1;
  }
  if (i + 1 == n) return 0;
  if (buf[i + 1] != '\n') {
    snprintf(err, errsz, "malformed WINDEV length prefix (\\r not followed by \\n)");
    return -1;
  }
  if (n - (i + 2) < size) return 0;
  *off = i + 2;
  *len = size;
  *used = i + 2 + size;
  return 1;
}

void emu_framing_push(lua_State *L, const emu_framing *f, const char *msg, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (f->mode == EMU_MODE_WINDEV) {
    char pre[32];
    snprintf(pre, sizeof pre, "%zu\r\n", n);
    luaL_addstring(&b, pre);
  }
  luaL_addlstring(&b, msg, n);
  if (f->mode == EMU_MODE_END) luaL_addlstring(&b, f->end, f->endlen);
  luaL_pushresult(&b);
}

bool emu_rxbuf_append(emu_rxbuf *b, const char *data, size_t n) {
  if (n == 0) return true; /* memcpy/memmove on a buffer not yet allocated */
  if (b->off > 0 && (b->len + n > b->cap || b->off > b->len / 2)) {
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
  }
  if (b->len + n > b->cap) {
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + n) ncap *= 2;
    char *r = realloc(b->p, ncap);
    if (!r) return false;
    b->p = r;
    b->cap = ncap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return true;
}

int emu_rxbuf_take(const emu_framing *f, const emu_rxbuf *b, size_t *off, size_t *len,
                   size_t *used, char *err, size_t errsz) {
  return emu_framing_take(f, emu_rxbuf_data(b), emu_rxbuf_avail(b), off, len, used, err, errsz);
}
