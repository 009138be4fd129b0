/*
 * c4_tcpread.c — the receive side of C4LuaTcpClient: the client's buffer and
 * the one-shot reads ReadUntil (a string, or a matcher function),
 * ReadUntilOneOf, ReadUntilOneNotOf, ReadAtLeast and ReadUpTo (reference §4).
 *
 * Every byte that arrives goes into the buffer, read armed or not.  A read
 * is satisfied from the buffer, disarmed, and OnRead(client, data) runs; the
 * driver re-arms (usually inside OnRead) and buffered data satisfies the new
 * read at once: inside the delivery loop, or from the loop's deferred work
 * when armed elsewhere (never inside the Read* call).  Arming while a read
 * is armed replaces it.  Once the connection can bring nothing more (peer
 * EOF, reset), an armed read gets what is buffered as a partial payload.
 *
 * The matcher f(buffer) returns matched, consume [, replacement]: consume
 * bytes are taken from the front whether or not it matched (no count with
 * true: the whole buffer); on a match OnRead gets the taken bytes, or the
 * replacement (any Lua value).  It is called again only when the buffer
 * changed: new data, or bytes it dropped without a match.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tcp/c4_tcpclient.h"

bool tcp_buf_append(tcp_client *c, const char *p, size_t n) {
  if (c->off > 0 && (c->off + c->len + n > c->cap)) {
    memmove(c->buf, c->buf + c->off, c->len);
    c->off = 0;
  }
  if (c->len + n > c->cap) {
    size_t ncap = c->cap ? c->cap : 4096;
    while (ncap < c->len + n) ncap *= 2;
    char *b = realloc(c->buf, ncap);
    if (!b) return false;
    c->buf = b;
    c->cap = ncap;
  }
  memcpy(c->buf + c->off + c->len, p, n);
  c->len += n;
  return true;
}

/* Drops n bytes from the front.  The memory stays until the next append. */
static void buf_consume(tcp_client *c, size_t n) {
  c->off += n;
  c->len -= n;
  c->scan = c->scan > n ? c->scan - n : 0;
  if (c->len == 0) c->off = 0;
}

/* ---- reads ------------------------------------------------------------------------ */

static void clear_matcher(tcp_client *c) {
  lua_State *L = c->o.ctx->L;
  if (!tcp_push_ud(L, &c->o)) return;
  lua_getfenv(L, -1);
  lua_pushnil(L);
  lua_setfield(L, -2, MATCHER_KEY);
  lua_pop(L, 2);
}

void tcp_read_disarm(tcp_client *c) {
  if (c->rmode == R_MATCH) clear_matcher(c);
  c->rmode = R_NONE;
  if (c->delim != c->dsmall) free(c->delim);
  c->delim = NULL;
  c->dlen = 0;
}

/* Bytes the armed (non-matcher) read takes from the buffer now, or 0. */
static size_t match_len(tcp_client *c) {
  const char *d = c->buf + c->off;
  switch (c->rmode) {
  case R_UNTIL: {
    if (c->len < c->dlen) return 0;
    const char *hit = memmem(d + c->scan, c->len - c->scan, c->delim, c->dlen);
    if (hit) return (size_t)(hit - d) + c->dlen;
    c->scan = c->len - c->dlen + 1;
    return 0;
  }
  case R_ONEOF:
  case R_NOTOF: {
    bool want = c->rmode == R_ONEOF;
    for (size_t i = c->scan; i < c->len; i++) {
      unsigned char b = (unsigned char)d[i];
      if (((c->set[b >> 3] >> (b & 7)) & 1) == want) return i + 1;
    }
    c->scan = c->len;
    return 0;
  }
  case R_ATLEAST: return c->len >= c->rn ? c->len : 0;
  case R_UPTO: return c->len < c->rn ? c->len : c->rn;
  default: return 0;
  }
}

/*
 * Runs the matcher f(buffer) → matched, consume [, replacement].  Returns
 * M_HIT with *n bytes to take and *vidx the replacement's stack index (0:
 * none; the results stay on the stack for the caller to pop); M_AGAIN when
 * it consumed bytes without a match (it sees the rest next); M_WAIT when it
 * wants more data.  Not called again until the buffer changes.
 */
enum { M_WAIT, M_AGAIN, M_HIT };

/* The matcher's consume count, checked inside its protected call: nil, or a
 * whole number >= 0 (a count past the buffer's end takes the whole buffer).
 * NaN, infinities, fractions and negatives are the driver's mistake and raise,
 * so they never reach a size_t cast. */
void tcp_matcher_check(lua_State *L, int first) {
  int t = lua_type(L, first + 1);
  if (t == LUA_TNIL) return;
  if (t != LUA_TNUMBER)
    luaL_error(L, "ReadUntil matcher: the count (2nd result) must be a number or nil, got %s",
               lua_typename(L, t));
  lua_Number v = lua_tonumber(L, first + 1);
  if (v != v) luaL_error(L, "ReadUntil matcher: the count (2nd result) is NaN");
  if (v == HUGE_VAL || v == -HUGE_VAL)
    luaL_error(L, "ReadUntil matcher: the count (2nd result) is %s", v > 0 ? "inf" : "-inf");
  if (v < 0) luaL_error(L, "ReadUntil matcher: the count (2nd result) must not be negative, got %f", v);
  if (v != floor(v)) luaL_error(L, "ReadUntil matcher: the count (2nd result) must be a whole number, got %f", v);
}

size_t tcp_matcher_take(lua_State *L, int first, size_t len) {
  if (lua_type(L, first + 1) != LUA_TNUMBER) return lua_toboolean(L, first) ? len : 0;
  lua_Number v = lua_tonumber(L, first + 1);
  return v >= (lua_Number)len ? len : (size_t)v; /* checked: whole, >= 0 */
}

static int run_matcher(tcp_client *c, size_t *n, int *vidx) {
  lua_State *L = c->o.ctx->L;
  if (c->match_seen == c->len || c->len == 0) return M_WAIT;
  tcp_arg a = {.t = 's', .s = c->buf + c->off, .len = c->len};
  if (!tcp_call_plain(&c->o, MATCHER_KEY, &a, 1, 3, tcp_matcher_check)) {
    lua_pop(L, 3);
    emu_log(c->o.ctx, EMU_LOG_WARN,
            "[c4emu] C4LuaTcpClient: the ReadUntil matcher failed; that read is cancelled");
    tcp_read_disarm(c);
    return M_WAIT;
  }
  int base = lua_gettop(L) - 2;
  bool matched = lua_toboolean(L, base);
  size_t take = tcp_matcher_take(L, base, c->len);
  if (matched) {
    *n = take;
    *vidx = lua_isnil(L, base + 2) ? 0 : base + 2;
    return M_HIT;
  }
  lua_pop(L, 3);
  if (c->o.dead || c->rmode != R_MATCH) return M_WAIT; /* the matcher re-armed or closed */
  buf_consume(c, take);
  c->match_seen = c->len;
  if (take > 0 && c->len > 0) {
    c->match_seen = (size_t)-1;
    return M_AGAIN;
  }
  return M_WAIT;
}

/* The connection can bring no more data. */
static bool ended(const tcp_client *c) { return c->eof || !c->conn; }

/* Takes n bytes (or the replacement at vidx) and calls OnRead: one-shot. */
static void deliver(tcp_client *c, size_t n, int vidx) {
  tcp_arg a = vidx ? (tcp_arg){.t = 'v', .idx = vidx}
                   : (tcp_arg){.t = 's', .s = c->buf + c->off, .len = n};
  tcp_read_disarm(c);
  buf_consume(c, n); /* the bytes stay in place until the next append */
  tcp_call(&c->o, "OnRead", &a, 1, 0);
}

/* Delivers every read the buffer satisfies, then (once the connection can
 * bring nothing more) what is left as a partial payload.  Called from the
 * loop only. */
void tcp_client_service(tcp_client *c) {
  lua_State *L = c->o.ctx->L;
  if (c->in_service || c->o.dead) return;
  int top = lua_gettop(L);
  if (!tcp_push_ud(L, &c->o)) return; /* anchors the object while the driver runs */
  c->in_service = true;
  bool anchored = c->o.anchored;
  c->o.anchored = true; /* the OnRead's re-arm need not take the reference back each time */
  while (c->rmode != R_NONE && c->state == CL_OPEN && !c->o.dead) {
    int itop = lua_gettop(L);
    size_t n = 0;
    int vidx = 0;
    bool hit;
    if (c->rmode == R_MATCH) {
      int m = run_matcher(c, &n, &vidx);
      if (m == M_AGAIN) {
        lua_settop(L, itop);
        continue;
      }
      hit = m == M_HIT;
    } else {
      hit = (n = match_len(c)) > 0;
    }
    if (!hit && c->rmode != R_NONE && ended(c) && c->len > 0) {
      n = c->len; /* the peer is done: the partial payload */
      hit = true;
    }
    if (!hit && c->rmode != R_NONE && c->len >= c->max_unread) {
      /* The unread cap, as CreateServer's payload cap: what the armed read
       * cannot match within it is delivered as it is, so memory stays
       * bounded and the read does not wait forever behind a paused socket. */
      emu_log(c->o.ctx, EMU_LOG_WARN, "[c4emu] C4LuaTcpClient: %zu bytes from %s:%d without a "
              "match for the armed read (unread cap %zu bytes): delivered as they are", c->len,
              c->peer_ip, c->peer_port, c->max_unread);
      lua_settop(L, itop);
      vidx = 0;
      n = c->len;
      hit = true;
    }
    if (!hit) {
      lua_settop(L, itop);
      break;
    }
    deliver(c, n, vidx);
    lua_settop(L, itop);
  }
  c->in_service = false;
  c->o.anchored = anchored;
  if (c->paused && c->len < c->max_unread / 2 && c->conn) {
    c->paused = false;
    c4_conn_resume(c->conn);
  }
  tcp_sync_alive(&c->o);
  lua_settop(L, top);
}

/* ---- methods -------------------------------------------------------------------- */

/* Arms the read whose parameters the caller set (after disarm_read). */
static int arm(lua_State *L, tcp_client *c, int mode) {
  c->rmode = mode;
  c->scan = 0;
  c->match_seen = (size_t)-1;
  if (c->len > 0 && c->state == CL_OPEN && !c->in_service) tcp_kick(&c->o, TCP_KICK_SERVICE);
  tcp_sync_alive(&c->o);
  lua_settop(L, 1);
  return 1;
}

/* client:ReadUntil(delimiter | matcher) → client, or nil once closing */
static int l_TcpClient_ReadUntil(lua_State *L) {
  tcp_client *c = tcp_check_client(L);
  tcp_check_open(L, &c->o, "ReadUntil");
  int t = lua_type(L, 2);
  if (t != LUA_TSTRING && t != LUA_TFUNCTION) luaL_typerror(L, 2, "string or function");
  size_t dlen = 0;
  const char *d = t == LUA_TSTRING ? lua_tolstring(L, 2, &dlen) : NULL;
  luaL_argcheck(L, t == LUA_TFUNCTION || dlen > 0, 2, "the delimiter must not be empty");
  if (!tcp_can_read(c)) return tcp_client_fail(L, "ReadUntil", "the client is closing");
  char *copy = NULL;
  if (d && dlen > sizeof c->dsmall) {
    copy = malloc(dlen);
    if (!copy) return luaL_error(L, "C4LuaTcpClient:ReadUntil: out of memory");
    memcpy(copy, d, dlen);
  }
  tcp_read_disarm(c);
  if (d && !copy) {
    memcpy(c->dsmall, d, dlen);
    copy = c->dsmall;
  }
  if (d) {
    c->delim = copy;
    c->dlen = dlen;
    return arm(L, c, R_UNTIL);
  }
  lua_getfenv(L, 1);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, MATCHER_KEY);
  return arm(L, c, R_MATCH);
}

static int read_set(lua_State *L, int mode, const char *method) {
  tcp_client *c = tcp_check_client(L);
  tcp_check_open(L, &c->o, method);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  luaL_argcheck(L, n > 0, 2, "the set of bytes must not be empty");
  if (!tcp_can_read(c)) return tcp_client_fail(L, method, "the client is closing");
  tcp_read_disarm(c);
  memset(c->set, 0, sizeof c->set);
  for (size_t i = 0; i < n; i++) {
    unsigned char b = (unsigned char)s[i];
    c->set[b >> 3] |= (unsigned char)(1u << (b & 7));
  }
  return arm(L, c, mode);
}

/* client:ReadUntilOneOf(bytes) → client: up to and including the first byte in the set */
static int l_TcpClient_ReadUntilOneOf(lua_State *L) {
  return read_set(L, R_ONEOF, "ReadUntilOneOf");
}

/* client:ReadUntilOneNotOf(bytes) → client: up to and including the first byte not in it */
static int l_TcpClient_ReadUntilOneNotOf(lua_State *L) {
  return read_set(L, R_NOTOF, "ReadUntilOneNotOf");
}

static int read_count(lua_State *L, int mode, const char *method, size_t max, const char *lim) {
  tcp_client *c = tcp_check_client(L);
  tcp_check_open(L, &c->o, method);
  lua_Number v = luaL_checknumber(L, 2);
  if (!(v >= 1 && v <= (lua_Number)max)) {
    lua_pushfstring(L, "must be from 1 to %d bytes (%s)", (int)max, lim);
    luaL_argerror(L, 2, lua_tostring(L, -1));
  }
  if (!tcp_can_read(c)) return tcp_client_fail(L, method, "the client is closing");
  tcp_read_disarm(c);
  c->rn = (size_t)v;
  return arm(L, c, mode);
}

/* client:ReadAtLeast(min) → client: all buffered data once min bytes are there */
static int l_TcpClient_ReadAtLeast(lua_State *L) {
  return read_count(L, R_ATLEAST, "ReadAtLeast", MAX_AT_LEAST, "1024 KiB");
}

/* client:ReadUpTo(max) → client: what has arrived, at most max bytes */
static int l_TcpClient_ReadUpTo(lua_State *L) {
  return read_count(L, R_UPTO, "ReadUpTo", MAX_UP_TO, "4096 KiB");
}

const luaL_Reg tcp_read_methods[] = {
    {"ReadUntil", l_TcpClient_ReadUntil},
    {"ReadUntilOneOf", l_TcpClient_ReadUntilOneOf},
    {"ReadUntilOneNotOf", l_TcpClient_ReadUntilOneNotOf},
    {"ReadAtLeast", l_TcpClient_ReadAtLeast},
    {"ReadUpTo", l_TcpClient_ReadUpTo},
    {NULL, NULL},
};
