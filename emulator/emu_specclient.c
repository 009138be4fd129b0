/*
 * emu_specclient.c — real loopback clients for specs, added to the driver
 * object, and d:servers():
 *
 *   local c = d:connect(port [, opts])   TCP client, connected when it returns;
 *                                        opts.tls makes it a TLS client (below)
 *   c:send(data)                         queued, never blocks
 *   c:receive(n [, timeout_ms])          exactly n bytes, or raises on timeout/close
 *   c:receive_until(delim [, timeout])   up to and including delim
 *   c:receive_some([timeout_ms])         whatever has arrived (at least one byte)
 *   c:is_closed([wait_ms])               the server closed it (serves the loop briefly)
 *   c:close()  c:shutdown()  c:reset()   close / half-close / TCP reset
 *   c:pause()  c:resume()                stop / start reading (a peer that does not read)
 *   c:local_port()
 *   c:tls_info()                         TLS: {version=, cipher=, peer=, verified=}
 *   c:error()                            why the connection closed (nil: not closed
 *                                        or closed cleanly)
 *   local u = d:udp()                    UDP socket on loopback
 *   u:sendto(port, data)  u:receive([timeout_ms]) → data, ip, port  u:close()
 *   d:servers()                          {port=, protocol=, identifier=, clients=} in
 *                                        creation order
 *   d:set_payload_cap(bytes)             CreateServer's cap on undelimited payloads
 *   d:set_handshake_timeout(ms)          TLS servers created from now on refuse a
 *                                        client whose handshake takes longer (10 s)
 *   d:serve(ms)                          serve the loop for ms of wall time
 *   (issue 9) d:connect(port, {mode=, end_char=}); c:read([timeout_ms]) one
 *   message in that mode, c:write(msg) framed (emulator/emu_channel.h).
 *   Inside c4emu.spawn the receive calls and c:read yield (emu_spawn.c).
 *
 * Waiting serves the driver's loop, so the driver runs meanwhile: in real
 * mode due timers fire too; in virtual mode the clock does not move.
 * Timeouts are wall-clock milliseconds (default 2000).
 *
 * The sockets go through c4_conn on the driver's loop and are counted as
 * "spec-client" handles, apart from the driver's own.  A shutdown hook
 * closes them when the driver is destroyed; the Lua object then only says
 * so.
 *
 * TLS clients (for C4:CreateTLSServer), through c4_conn's TLS filter:
 *   d:connect(port, { tls = { ca = , cert = , key = , verify = true,
 *                             min_version = "TLS1.2", max_version = "TLS1.3",
 *                             server_name = , ciphers = , ciphersuites = } })
 *   - ca, cert, key: PEM text, or the path of a PEM file (any path: this is
 *     the spec's side, not the driver's).  cert may hold a chain after the
 *     leaf.  No cert: the client sends none when asked.
 *   - verify (default true): check the server's certificate against ca (then
 *     required) and its name: server_name if given, else the address
 *     connected to (127.0.0.1).  verify = false accepts any certificate.
 *   - server_name: also sent as SNI.
 *   - min_version / max_version: "TLS1", "TLS1.1", "TLS1.2", "TLS1.3"
 *     (or "TLSv1.2" ...); default: every version both ends allow, ignoring
 *     the system's openssl.cnf minimum.  A range that reaches below TLS 1.2
 *     lowers this client's security level to 0, as OpenSSL 3 needs for TLS
 *     1.0/1.1, so the refusal (if any) is the server's.
 *   - ciphers (TLS 1.2 and older), ciphersuites (TLS 1.3): OpenSSL lists.
 * d:connect returns once the handshake is done and raises if it fails.  With
 * TLS 1.3 the client finishes its handshake before the server has checked the
 * client's certificate, so a server that refuses that certificate shows up
 * as the connection closing (c:receive raises, c:error() says why) right
 * after d:connect returned; with max_version = "TLS1.2" d:connect raises.
 *
 * Lifetime: the native client (sclient) is shared by the userdata and the
 * driver's client group; whichever goes last frees it.  The userdata keeps
 * the driver userdata alive through its environment table.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "emu_channel.h"
#include "emu_module.h"
#include "emu_tlsclient.h"
#include "net/c4_conn.h"
#include "net/c4_limits.h"
#include "server/c4_server.h"

#define CLIENT_MT "c4emu.client"
#define UDP_MT "c4emu.udp"
#define DEFAULT_TIMEOUT 2000
#define TRACK_KIND "spec-client"

typedef struct sc_group sc_group;

typedef struct dgram {
  struct dgram *next;
  char ip[64];
  int port;
  size_t n;
  char data[];
} dgram;

typedef struct sclient {
  sc_group *g;            /* NULL once the driver is gone */
  struct sclient *next, *prev;
  bool is_udp;
  bool ud_alive;          /* the Lua userdata still exists */
  /* TCP */
  c4_conn *conn;          /* NULL once closed */
  bool connected, peer_closed, closed_by_us, done;
  int status;
  char err[512];
  emu_rxbuf rx;
  emu_framing fr;         /* c:read / c:write (issue 9) */
  /* TLS: what the handshake settled, kept for c:tls_info() after the close */
  bool tls;
  char tls_version[16], tls_cipher[64], tls_peer[256];
  bool tls_verified;
  /* UDP */
  uv_udp_t *udp;
  dgram *qhead, *qtail;
} sclient;

struct sc_group {
  emu_ctx *ctx;
  sclient *list;
  sc_group *next;
};

static sc_group *groups;

typedef struct {
  sclient *c;
} sc_box;

/* ---- groups and lifetime -------------------------------------------------- */

static void unlink_client(sclient *c) {
  if (!c->g) return;
  if (c->prev) c->prev->next = c->next;
  else c->g->list = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = c->prev = NULL;
  c->g = NULL;
}

static void free_handle(uv_handle_t *h) { free(h); }

static void free_queue(sclient *c) {
  while (c->qhead) {
    dgram *d = c->qhead;
    c->qhead = d->next;
    free(d);
  }
  c->qtail = NULL;
}

/* Closes the sockets without events. */
static void close_native(sclient *c, emu_ctx *ctx) {
  if (c->conn) {
    c4_conn_abort(c->conn);
    c->conn = NULL;
  }
  if (c->udp) {
    c->udp->data = NULL;
    uv_close((uv_handle_t *)c->udp, free_handle);
    c->udp = NULL;
    if (ctx) emu_track(ctx, TRACK_KIND, -1);
  }
  c->done = true;
}

static void free_client(sclient *c) {
  free(c->rx.p);
  free_queue(c);
  free(c);
}

static void on_driver_shutdown(emu_ctx *ctx, void *data) {
  sc_group *g = data;
  while (g->list) {
    sclient *c = g->list;
    close_native(c, ctx);
    unlink_client(c);
    if (!c->ud_alive) free_client(c);
  }
  for (sc_group **p = &groups; *p; p = &(*p)->next) {
    if (*p == g) {
      *p = g->next;
      break;
    }
  }
  free(g);
}

static sc_group *group_of(emu_ctx *ctx) {
  for (sc_group *g = groups; g; g = g->next)
    if (g->ctx == ctx) return g;
  sc_group *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->ctx = ctx;
  g->next = groups;
  groups = g;
  emu_on_shutdown(ctx, on_driver_shutdown, g);
  return g;
}

static sclient *new_client(lua_State *L, emu_ctx *ctx, const char *mt) {
  sc_group *g = group_of(ctx);
  sclient *c = calloc(1, sizeof *c);
  if (!g || !c) {
    free(c);
    luaL_error(L, "out of memory");
    return NULL;
  }
  c->g = g;
  c->ud_alive = true;
  c->next = g->list;
  if (g->list) g->list->prev = c;
  g->list = c;
  sc_box *b = lua_newuserdata(L, sizeof *b);
  b->c = c;
  luaL_getmetatable(L, mt);
  lua_setmetatable(L, -2);
  lua_createtable(L, 1, 0); /* environment: keeps the driver object alive */
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  lua_setfenv(L, -2);
  return c;
}

static int client_gc(lua_State *L) {
  sc_box *b = lua_touserdata(L, 1);
  sclient *c = b->c;
  if (!c) return 0;
  b->c = NULL;
  c->ud_alive = false;
  if (c->g) {
    close_native(c, c->g->ctx);
    unlink_client(c);
  }
  free_client(c);
  return 0;
}

/* ---- waiting -------------------------------------------------------------- */

/* Serves the driver's loop once, waiting at most wait_ms for I/O. */
static void serve(emu_ctx *ctx, uint64_t wait_ms) {
  emu_loop_serve(ctx, wait_ms);
  if (!ctx->virtual_clock) emu_clock_fire_due(ctx);
}

typedef bool (*cond_fn)(sclient *c, void *ud);

typedef struct {
  sclient *c;
  cond_fn cond;
  void *ud;
} wait_ud;

static bool wait_ready(void *p) {
  wait_ud *w = p;
  return w->cond(w->c, w->ud) || !w->c->g;
}

/* Serves (emu_spec_wait: inside c4emu.spawn it yields) until cond holds or
 * timeout_ms pass; returns cond's last value. */
static bool wait_for(lua_State *L, sclient *c, uint64_t timeout_ms, cond_fn cond, void *ud) {
  if (cond(c, ud)) return true;
  if (!c->g) return false;
  wait_ud w = {c, cond, ud};
  emu_spec_wait(L, c->g->ctx, timeout_ms, wait_ready, &w);
  return cond(c, ud);
}

static uint64_t opt_timeout(lua_State *L, int i) {
  if (lua_isnoneornil(L, i)) return DEFAULT_TIMEOUT;
  lua_Number t = luaL_checknumber(L, i);
  luaL_argcheck(L, t >= 0, i, "timeout must be >= 0 ms");
  return (uint64_t)t;
}

/* ---- TCP client events ---------------------------------------------------- */

static void sc_open(c4_conn *conn) {
  sclient *c = c4_conn_data(conn);
  if (!c) return;
  c->connected = true;
  SSL *ssl = c4_conn_ssl(conn);
  if (!ssl) return;
  snprintf(c->tls_version, sizeof c->tls_version, "%s", SSL_get_version(ssl));
  const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
  snprintf(c->tls_cipher, sizeof c->tls_cipher, "%s", ci ? SSL_CIPHER_get_name(ci) : "");
  X509 *peer = SSL_get1_peer_certificate(ssl);
  c->tls_peer[0] = '\0';
  if (peer) { /* "CN=localhost" (RFC 2253) */
    BIO *b = BIO_new(BIO_s_mem());
    if (b && X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
      int n = BIO_read(b, c->tls_peer, sizeof c->tls_peer - 1);
      c->tls_peer[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
    X509_free(peer);
  }
  c->tls_verified = peer && SSL_get_verify_result(ssl) == X509_V_OK &&
                    SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE;
}

static void sc_data(c4_conn *conn, const char *p, size_t n) {
  sclient *c = c4_conn_data(conn);
  if (!c) return;
  if (n == 0) {
    c->peer_closed = true;
    return;
  }
  emu_rxbuf_append(&c->rx, p, n);
}

static void sc_closed(c4_conn *conn, int status, const char *msg) {
  sclient *c = c4_conn_data(conn);
  if (!c) return;
  c->conn = NULL;
  c->done = true;
  c->status = status;
  if (!c->closed_by_us) c->peer_closed = true;
  if (msg) snprintf(c->err, sizeof c->err, "%s", msg);
}

static const c4_conn_events sc_events = {
    .open = sc_open,
    .data = sc_data,
    .closed = sc_closed,
};

/* ---- d:connect and the client methods -------------------------------------- */

static emu_ctx *live_driver(lua_State *L) {
  emu_mdriver *d = emu_mdriver_check(L, 1);
  if (d->ctx->phase == EMU_PHASE_DEAD)
    luaL_error(L, "the driver has been destroyed (d:destroy())");
  return d->ctx;
}

#define loopback emu_spec_loopback

static bool cond_connected(sclient *c, void *ud) {
  (void)ud;
  return c->connected || c->done;
}

/* ---- TLS spec clients (the OpenSSL side is in emu_tlsclient.c) --------------- */

static const char *tls_string_field(lua_State *L, int t, const char *key) {
  lua_getfield(L, t, key);
  const char *v = NULL;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "d:connect: opts.tls.%s must be a string, not %s", key, luaL_typename(L, -1));
    v = lua_tostring(L, -1);
  }
  lua_pop(L, 1); /* the string stays alive in opts.tls */
  return v;
}

/* Reads opts.tls (the table at index t); raises on a wrong field. */
static void read_tls_opts(lua_State *L, int t, emu_tls_client_opts *o) {
  memset(o, 0, sizeof *o);
  luaL_checktype(L, t, LUA_TTABLE);
  o->ca = tls_string_field(L, t, "ca");
  o->cert = tls_string_field(L, t, "cert");
  o->key = tls_string_field(L, t, "key");
  o->server_name = tls_string_field(L, t, "server_name");
  o->ciphers = tls_string_field(L, t, "ciphers");
  o->ciphersuites = tls_string_field(L, t, "ciphersuites");
  const char *minv = tls_string_field(L, t, "min_version");
  const char *maxv = tls_string_field(L, t, "max_version");
  if (minv && !(o->min_version = emu_tls_version(minv)))
    luaL_error(L, "d:connect: opts.tls.min_version '%s' is not TLS1, TLS1.1, TLS1.2 or TLS1.3", minv);
  if (maxv && !(o->max_version = emu_tls_version(maxv)))
    luaL_error(L, "d:connect: opts.tls.max_version '%s' is not TLS1, TLS1.1, TLS1.2 or TLS1.3", maxv);
  lua_getfield(L, t, "verify");
  if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
    luaL_error(L, "d:connect: opts.tls.verify must be a boolean, not %s", luaL_typename(L, -1));
  o->verify = lua_isnil(L, -1) || lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (o->verify && !o->ca)
    luaL_error(L, "d:connect: TLS: verify = true (the default) needs opts.tls.ca, the CA that "
               "signed the server's certificate; or say verify = false");
  if (o->key && !o->cert) luaL_error(L, "d:connect: opts.tls.key given without opts.tls.cert");
  if (o->cert && !o->key) luaL_error(L, "d:connect: opts.tls.cert given without opts.tls.key");
  static const char *const known[] = {"ca", "cert", "key", "server_name", "ciphers",
                                      "ciphersuites", "min_version", "max_version", "verify"};
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    lua_pop(L, 1);
    bool ok = false;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ok |= strcmp(lua_tostring(L, -1), known[i]) == 0;
    if (!ok)
      luaL_error(L, "d:connect: unknown TLS option '%s' (known: ca, cert, key, verify, "
                 "min_version, max_version, server_name, ciphers, ciphersuites)",
                 lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
  }
}

/* d:connect(port [, opts]) → client, connected */
static int d_connect(lua_State *L) {
  emu_ctx *ctx = live_driver(L);
  lua_Integer port = luaL_checkinteger(L, 2);
  luaL_argcheck(L, port > 0 && port <= 65535, 2, "port out of range (1-65535)");
  emu_tls_client_opts tls;
  bool use_tls = false;
  emu_framing fr = EMU_FRAMING_DEFAULT;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    emu_framing_opts(L, 3, "d:connect", &fr);
    lua_getfield(L, 3, "tls"); /* stays on the stack: its strings are used below */
    if (!lua_isnil(L, -1)) {
      read_tls_opts(L, lua_gettop(L), &tls);
      use_tls = true;
    }
  }
  struct sockaddr_storage ss;
  const char *host = loopback(ctx);
  if (c4_sockaddr_parse(host, (int)port, &ss) != 0)
    return luaL_error(L, "d:connect: bad address %s", host);
  SSL_CTX *sctx = NULL;
  if (use_tls) {
    char why[512];
    if (!(sctx = emu_tls_client_ctx(&tls, why, sizeof why)))
      return luaL_error(L, "d:connect: TLS: %s", why);
  }
  sclient *c = new_client(L, ctx, CLIENT_MT);
  c->tls = use_tls;
  c->fr = fr;
  /* A spec client is the test's own peer: no send limit, no close deadline of the driver's. */
  c4_conn_opts o = {.loop = ctx->loop, .ctx = ctx, .conn_kind = TRACK_KIND, .ev = &sc_events,
                    .tls = sctx, .max_queued = SIZE_MAX, .close_ms = C4_CONN_CLOSE_MS};
  int err;
  c->conn = c4_conn_connect(&o, (struct sockaddr *)&ss, c, &err);
  SSL_CTX_free(sctx); /* each connection holds its own reference */
  if (!c->conn) return luaL_error(L, "d:connect: %s:%d: %s", host, (int)port, uv_strerror(err));
  if (use_tls && emu_tls_client_setup(c4_conn_ssl(c->conn), &tls, host) != 0) {
    char why[256];
    return luaL_error(L, "d:connect: TLS: cannot set the server name: %s",
                      emu_tls_reason(why, sizeof why, "?"));
  }
  if (!wait_for(L, c, 5000, cond_connected, NULL) || !c->connected)
    return luaL_error(L, "d:connect: %s:%d: %s", host, (int)port,
                      c->err[0] ? c->err : "no connection after 5000 ms");
  return 1;
}

static sclient *check_client(lua_State *L) {
  sc_box *b = luaL_checkudata(L, 1, CLIENT_MT);
  if (!b->c) luaL_error(L, "this client has been collected");
  return b->c;
}

/* A client whose driver is gone cannot do anything but say so. */
static sclient *usable_client(lua_State *L, const char *what) {
  sclient *c = check_client(L);
  if (!c->g) luaL_error(L, "c:%s: the driver has been destroyed", what);
  return c;
}

/* c:send(data) */
static int c_send(lua_State *L) {
  sclient *c = usable_client(L, "send");
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  if (c->closed_by_us) return luaL_error(L, "c:send: the client was closed (c:close())");
  if (!c->conn) return luaL_error(L, "c:send: the connection is closed%s%s",
                                  c->err[0] ? ": " : "", c->err);
  int r = c4_conn_write(c->conn, p, n);
  if (r < 0) return luaL_error(L, "c:send: %s", uv_strerror(r));
  serve(c->g->ctx, 0);
  return 0;
}

static size_t avail(const sclient *c) { return emu_rxbuf_avail(&c->rx); }

static bool cond_bytes(sclient *c, void *ud) {
  return avail(c) >= *(size_t *)ud || c->done || c->peer_closed;
}

static int closed_or_timeout(lua_State *L, sclient *c, const char *what, uint64_t t,
                             const char *wanted) {
  if (c->closed_by_us) return luaL_error(L, "c:%s: the client was closed (c:close())", what);
  if (c->done || c->peer_closed)
    return luaL_error(L, "c:%s: connection closed by the server%s%s (%d bytes buffered, "
                      "wanted %s)", what, c->err[0] ? ": " : "", c->err, (int)avail(c), wanted);
  return luaL_error(L, "c:%s: timed out after %d ms (%d bytes buffered, wanted %s)", what,
                    (int)t, (int)avail(c), wanted);
}

/* c:receive(n [, timeout_ms]) → exactly n bytes */
static int c_receive(lua_State *L) {
  sclient *c = check_client(L);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "byte count must be >= 0");
  uint64_t t = opt_timeout(L, 3);
  size_t want = (size_t)n;
  if (avail(c) < want && c->g) wait_for(L, c, t, cond_bytes, &want);
  if (avail(c) < want) {
    char w[32];
    snprintf(w, sizeof w, "%d", (int)n);
    return closed_or_timeout(L, c, "receive", t, w);
  }
  lua_pushlstring(L, emu_rxbuf_data(&c->rx), want);
  c->rx.off += want;
  return 1;
}

typedef struct {
  const char *delim;
  size_t dlen;
  const char *hit;
} until_ud;

static bool cond_delim(sclient *c, void *ud) {
  until_ud *u = ud;
  u->hit = avail(c) >= u->dlen ? memmem(emu_rxbuf_data(&c->rx), avail(c), u->delim, u->dlen) : NULL;
  return u->hit || c->done || c->peer_closed;
}

/* Pushes s as Lua would quote it ("\r\n"), for messages: Lua 5.1's
 * lua_pushfstring has no %q. */
static const char *quoted(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    char esc[8];
    if (ch == '\n') luaL_addstring(&b, "\\n");
    else if (ch == '\r') luaL_addstring(&b, "\\r");
    else if (ch == '\t') luaL_addstring(&b, "\\t");
    else if (ch == '"' || ch == '\\') {
      luaL_addchar(&b, '\\');
      luaL_addchar(&b, (char)ch);
    } else if (ch < 32 || ch > 126) {
      snprintf(esc, sizeof esc, "\\%u", ch);
      luaL_addstring(&b, esc);
    } else {
      luaL_addchar(&b, (char)ch);
    }
  }
  luaL_addchar(&b, '"');
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* c:receive_until(delim [, timeout_ms]) → data up to and including delim */
static int c_receive_until(lua_State *L) {
  sclient *c = check_client(L);
  size_t dlen;
  const char *delim = luaL_checklstring(L, 2, &dlen);
  luaL_argcheck(L, dlen > 0, 2, "delimiter must not be empty");
  uint64_t t = opt_timeout(L, 3);
  until_ud u = {delim, dlen, NULL};
  if (!cond_delim(c, &u) && c->g) wait_for(L, c, t, cond_delim, &u);
  else cond_delim(c, &u);
  if (!u.hit) {
    lua_pushfstring(L, "a delimiter %s", quoted(L, delim, dlen));
    return closed_or_timeout(L, c, "receive_until", t, lua_tostring(L, -1));
  }
  size_t n = (size_t)(u.hit - (emu_rxbuf_data(&c->rx))) + dlen;
  lua_pushlstring(L, emu_rxbuf_data(&c->rx), n);
  c->rx.off += n;
  return 1;
}

static bool cond_some(sclient *c, void *ud) {
  (void)ud;
  return avail(c) > 0 || c->done || c->peer_closed;
}

/* c:receive_some([timeout_ms]) → what has arrived (at least one byte) */
static int c_receive_some(lua_State *L) {
  sclient *c = check_client(L);
  uint64_t t = opt_timeout(L, 2);
  if (avail(c) == 0 && c->g) wait_for(L, c, t, cond_some, NULL);
  if (avail(c) == 0) return closed_or_timeout(L, c, "receive_some", t, "at least 1");
  lua_pushlstring(L, emu_rxbuf_data(&c->rx), avail(c));
  c->rx.off = c->rx.len = 0;
  return 1;
}

typedef struct {
  size_t off, len, used;
  int r;
  char err[200];
} msg_ud;

static bool cond_msg(sclient *c, void *ud) {
  msg_ud *m = ud;
  m->r = emu_rxbuf_take(&c->fr, &c->rx, &m->off, &m->len, &m->used,
                          m->err, sizeof m->err);
  return m->r != 0 || c->done || c->peer_closed;
}

/* c:read([timeout_ms]) → one message in the client's mode (opts.mode of d:connect) */
static int c_read(lua_State *L) {
  sclient *c = check_client(L);
  uint64_t t = opt_timeout(L, 2);
  msg_ud m;
  if (!cond_msg(c, &m) && c->g) wait_for(L, c, t, cond_msg, &m);
  if (m.r < 0) {
    c->rx.off = c->rx.len = 0;
    return luaL_error(L, "c:read: %s", m.err);
  }
  if (m.r == 0) {
    lua_pushfstring(L, "a message in mode \"%s\"", emu_framing_name(&c->fr));
    return closed_or_timeout(L, c, "read", t, lua_tostring(L, -1));
  }
  lua_pushlstring(L, emu_rxbuf_data(&c->rx) + m.off, m.len);
  c->rx.off += m.used;
  return 1;
}

/* c:write(message) — framed in the client's mode, then as c:send */
static int c_write(lua_State *L) {
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  emu_framing_push(L, &check_client(L)->fr, p, n);
  lua_replace(L, 2);
  lua_settop(L, 2);
  return c_send(L);
}

static bool cond_closed(sclient *c, void *ud) {
  (void)ud;
  return c->peer_closed || c->done;
}

/* c:is_closed([wait_ms]) → true once the server closed the connection (or c:close()) */
static int c_is_closed(lua_State *L) {
  sclient *c = check_client(L);
  uint64_t t = lua_isnoneornil(L, 2) ? 50 : opt_timeout(L, 2);
  if (c->g && !cond_closed(c, NULL)) wait_for(L, c, t, cond_closed, NULL);
  lua_pushboolean(L, c->peer_closed || c->done || c->closed_by_us || !c->g);
  return 1;
}

/* c:close() — FIN after what is queued; idempotent */
static int c_close(lua_State *L) {
  sclient *c = check_client(L);
  if (c->closed_by_us) return 0;
  c->closed_by_us = true;
  if (c->conn && c->g) {
    c4_conn_close(c->conn, C4_CLOSE_FLUSH);
    serve(c->g->ctx, 0);
  }
  return 0;
}

/* c:reset() — close with a TCP reset (RST) */
static int c_reset(lua_State *L) {
  sclient *c = check_client(L);
  if (c->closed_by_us) return 0;
  c->closed_by_us = true;
  if (c->conn && c->g) {
    c4_conn_close(c->conn, C4_CLOSE_RESET);
    serve(c->g->ctx, 0);
  }
  return 0;
}

/* c:shutdown() — half-close: no more sending, still receiving */
static int c_shutdown(lua_State *L) {
  sclient *c = usable_client(L, "shutdown");
  if (!c->conn) return luaL_error(L, "c:shutdown: the connection is closed");
  int r = c4_conn_shutdown_write(c->conn);
  if (r < 0) return luaL_error(L, "c:shutdown: %s", uv_strerror(r));
  serve(c->g->ctx, 0);
  return 0;
}

/* issue 16: c:pause() / c:resume() — stop / start reading: a peer that does not
 * read, so that what the driver sends piles up (first in the kernel, then in c4emu) */
static int c_pause(lua_State *L) {
  sclient *c = usable_client(L, "pause");
  if (c->conn) c4_conn_pause(c->conn);
  return 0;
}

static int c_resume(lua_State *L) {
  sclient *c = usable_client(L, "resume");
  if (c->conn) c4_conn_resume(c->conn);
  return 0;
}

/* c:local_port() → the client's own port (what the server sees) */
static int c_local_port(lua_State *L) {
  sclient *c = usable_client(L, "local_port");
  if (!c->conn) return luaL_error(L, "c:local_port: the connection is closed");
  char ip[64];
  int port = 0;
  c4_conn_local(c->conn, ip, sizeof ip, &port);
  lua_pushinteger(L, port);
  return 1;
}

/* c:tls_info() → {version=, cipher=, peer=, verified=} of the handshake, or nil (plain TCP) */
static int c_tls_info(lua_State *L) {
  sclient *c = check_client(L);
  if (!c->tls || !c->tls_version[0]) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 4);
  lua_pushstring(L, c->tls_version);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, c->tls_cipher);
  lua_setfield(L, -2, "cipher");
  if (c->tls_peer[0]) {
    lua_pushstring(L, c->tls_peer);
    lua_setfield(L, -2, "peer");
  }
  lua_pushboolean(L, c->tls_verified);
  lua_setfield(L, -2, "verified");
  return 1;
}

/* c:error() → why the connection ended (a TLS alert, a reset ...), or nil */
static int c_error(lua_State *L) {
  sclient *c = check_client(L);
  if (c->err[0]) lua_pushstring(L, c->err);
  else lua_pushnil(L);
  return 1;
}

static int c_tostring(lua_State *L) {
  sc_box *b = lua_touserdata(L, 1);
  const sclient *c = b ? b->c : NULL;
  bool open = c && c->g && (c->conn || c->udp);
  lua_pushfstring(L, "c4emu.%s (%s)", c && c->is_udp ? "udp" : "client", open ? "open" : "closed");
  return 1;
}

/* ---- UDP -------------------------------------------------------------------- */

static void u_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                   unsigned flags) {
  (void)flags;
  sclient *c = h->data;
  if (c && nread >= 0 && addr) {
    dgram *d = malloc(sizeof *d + (size_t)nread);
    if (d) {
      d->next = NULL;
      d->n = (size_t)nread;
      memcpy(d->data, buf->base, d->n);
      c4_sockaddr_text(addr, d->ip, sizeof d->ip, &d->port);
      if (c->qtail) c->qtail->next = d;
      else c->qhead = d;
      c->qtail = d;
      if (c->g) emu_io_activity(c->g->ctx);
    }
  }
  c4_conn_release_buf(buf);
}

/* d:udp() → UDP socket on loopback */
static int d_udp(lua_State *L) {
  emu_ctx *ctx = live_driver(L);
  sclient *c = new_client(L, ctx, UDP_MT);
  c->is_udp = true;
  struct sockaddr_storage ss;
  c4_sockaddr_parse(loopback(ctx), 0, &ss);
  c->udp = malloc(sizeof *c->udp);
  int rc = c->udp ? uv_udp_init(ctx->loop, c->udp) : UV_ENOMEM;
  if (rc != 0) {
    free(c->udp);
    c->udp = NULL;
    return luaL_error(L, "d:udp: cannot create a UDP socket: %s", uv_strerror(rc));
  }
  c->udp->data = c;
  emu_track(ctx, TRACK_KIND, +1);
  int r = uv_udp_bind(c->udp, (struct sockaddr *)&ss, 0);
  if (r == 0) r = uv_udp_recv_start(c->udp, c4_conn_alloc, u_recv);
  if (r != 0) return luaL_error(L, "d:udp: %s", uv_strerror(r));
  return 1;
}

static sclient *check_udp(lua_State *L, const char *what) {
  sc_box *b = luaL_checkudata(L, 1, UDP_MT);
  if (!b->c) luaL_error(L, "this UDP socket has been collected");
  if (!b->c->g) luaL_error(L, "u:%s: the driver has been destroyed", what);
  if (!b->c->udp) luaL_error(L, "u:%s: the socket is closed", what);
  return b->c;
}

/* u:sendto(port, data) */
static int u_sendto(lua_State *L) {
  sclient *c = check_udp(L, "sendto");
  lua_Integer port = luaL_checkinteger(L, 2);
  luaL_argcheck(L, port > 0 && port <= 65535, 2, "port out of range (1-65535)");
  size_t n;
  const char *p = luaL_checklstring(L, 3, &n);
  struct sockaddr_storage to;
  c4_sockaddr_parse(loopback(c->g->ctx), (int)port, &to);
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
  int r = uv_udp_try_send(c->udp, &b, 1, (struct sockaddr *)&to);
  if (r < 0) return luaL_error(L, "u:sendto: %s", uv_strerror(r));
  serve(c->g->ctx, 0);
  return 0;
}

static bool cond_dgram(sclient *c, void *ud) {
  (void)ud;
  return c->qhead != NULL;
}

/* u:receive([timeout_ms]) → data, ip, port */
static int u_receive(lua_State *L) {
  sclient *c = check_udp(L, "receive");
  uint64_t t = opt_timeout(L, 2);
  if (!c->qhead) wait_for(L, c, t, cond_dgram, NULL);
  if (!c->qhead) return luaL_error(L, "u:receive: no datagram after %d ms", (int)t);
  dgram *d = c->qhead;
  c->qhead = d->next;
  if (!c->qhead) c->qtail = NULL;
  lua_pushlstring(L, d->data, d->n);
  lua_pushstring(L, d->ip);
  lua_pushinteger(L, d->port);
  free(d);
  return 3;
}

/* u:close() */
static int u_close(lua_State *L) {
  sc_box *b = luaL_checkudata(L, 1, UDP_MT);
  if (b->c && b->c->g) close_native(b->c, b->c->g->ctx);
  return 0;
}

/* ---- d:servers, d:set_payload_cap -------------------------------------------------- */

typedef struct {
  lua_State *L;
  int n;
} list_walk;

static void add_server(const c4_server_info *s, void *ud) {
  list_walk *w = ud;
  lua_createtable(w->L, 0, 4);
  lua_pushinteger(w->L, s->port);
  lua_setfield(w->L, -2, "port");
  lua_pushstring(w->L, s->protocol);
  lua_setfield(w->L, -2, "protocol");
  if (s->identifier) {
    lua_pushstring(w->L, s->identifier);
    lua_setfield(w->L, -2, "identifier");
  }
  lua_pushinteger(w->L, s->clients);
  lua_setfield(w->L, -2, "clients");
  lua_pushnumber(w->L, (lua_Number)s->queued);
  lua_setfield(w->L, -2, "queued");
  lua_pushnumber(w->L, (lua_Number)s->pending);
  lua_setfield(w->L, -2, "pending");
  lua_rawseti(w->L, -2, ++w->n);
}

/* d:servers() → {{port=, protocol=, identifier=, clients=, queued=, pending=}, ...} in
 * creation order; queued: bytes written to its clients not yet taken by the kernel;
 * pending: bytes of unfinished payloads */
static int d_servers(lua_State *L) {
  emu_mdriver *d = emu_mdriver_check(L, 1);
  lua_newtable(L);
  list_walk w = {L, 0};
  c4_server_each(d->ctx, add_server, &w);
  return 1;
}

/* d:set_payload_cap(bytes) → previous cap: for connections accepted from now on */
static int d_set_payload_cap(lua_State *L) {
  emu_ctx *ctx = live_driver(L);
  lua_Number n = luaL_checknumber(L, 2);
  luaL_argcheck(L, n >= 1 && n < 1e12, 2, "cap must be at least 1 byte");
  lua_pushnumber(L, (lua_Number)c4_server_set_max_payload(ctx, (size_t)n));
  return 1;
}

/* d:set_handshake_timeout(ms) → previous: TLS servers created from now on refuse a
 * client whose handshake is not done within ms of wall time (default 10000) */
static int d_set_handshake_timeout(lua_State *L) {
  emu_ctx *ctx = live_driver(L);
  lua_Number n = luaL_checknumber(L, 2);
  luaL_argcheck(L, n >= 1 && n <= 3600000, 2, "timeout must be 1 ms .. 1 hour");
  lua_pushnumber(L, c4_server_set_handshake_timeout(ctx, (unsigned)n));
  return 1;
}

/* d:serve(ms) — serves the driver's loop for ms of wall time (I/O; in real
 * mode due timers too); the virtual clock does not move */
static int d_serve(lua_State *L) {
  emu_ctx *ctx = live_driver(L);
  lua_Number ms = luaL_checknumber(L, 2);
  luaL_argcheck(L, ms >= 0 && ms < 1e9, 2, "milliseconds must be >= 0");
  uint64_t t0 = uv_hrtime(), total = (uint64_t)ms;
  emu_spec_step_begin(L, ctx); /* device notifiers and spawned coroutines run too */
  serve(ctx, 0);
  for (;;) {
    ctx->host->spec_step(ctx, ctx->host->spec_step_ud);
    uint64_t el = (uv_hrtime() - t0) / 1000000u;
    if (el >= total) break;
    serve(ctx, total - el < 10 ? total - el : 10);
  }
  emu_spec_step_end(L, ctx);
  return 0;
}

/* ---- registration -------------------------------------------------------------- */

static const luaL_Reg client_methods[] = {
    {"send", c_send},       {"receive", c_receive},   {"receive_until", c_receive_until},
    {"receive_some", c_receive_some}, {"is_closed", c_is_closed}, {"close", c_close},
    {"reset", c_reset},     {"shutdown", c_shutdown}, {"local_port", c_local_port},
    {"tls_info", c_tls_info}, {"error", c_error},
    /* issue 9: transmission modes */
    {"read", c_read},       {"write", c_write},
    /* issue 16 */
    {"pause", c_pause}, {"resume", c_resume},
    {NULL, NULL},
};

static const luaL_Reg udp_methods[] = {
    {"sendto", u_sendto}, {"receive", u_receive}, {"close", u_close}, {NULL, NULL},
};

static void make_mt(lua_State *L, const char *name, const luaL_Reg *methods,
                    const char *const *blocking) {
  luaL_getmetatable(L, name);
  bool made = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (made) return;
  emu_class_new(L, name, methods, client_gc, c_tostring);
  lua_getfield(L, -1, "__index");
  emu_spawn_wrap(L, -1, blocking); /* inside c4emu.spawn these yield */
  lua_pop(L, 2);
}

/* The metatables are made on first use (the module has no open hook for us). */
static void ensure_mts(lua_State *L) {
  static const char *const client_blocking[] = {"receive", "receive_until", "receive_some",
                                                "is_closed", "read", NULL};
  static const char *const udp_blocking[] = {"receive", NULL};
  make_mt(L, CLIENT_MT, client_methods, client_blocking);
  make_mt(L, UDP_MT, udp_methods, udp_blocking);
}

static int d_connect_entry(lua_State *L) {
  ensure_mts(L);
  return d_connect(L);
}

static int d_udp_entry(lua_State *L) {
  ensure_mts(L);
  return d_udp(L);
}

/* issue 16: the socket core's limits (c4api/net/c4_limits.h), each returning the
 * previous value.  A whole number from lo to hi, or raises. */
static uint64_t *limit_field(lua_State *L, emu_ctx *ctx, int which) {
  c4_net_limits *l = c4_net_limits_of(ctx);
  (void)L;
  switch (which) {
  case 0: return &l->max_queued;
  case 1: return &l->max_unread;
  case 2: return &l->close_ms;
  default: return &l->flush_ms;
  }
}

static int set_limit(lua_State *L, int which, lua_Number lo, lua_Number hi, const char *what) {
  emu_ctx *ctx = live_driver(L);
  lua_Number n = luaL_checknumber(L, 2);
  if (!(n >= lo && n <= hi && n == floor(n))) {
    lua_pushfstring(L, "%s must be a whole number from %f to %f", what, lo, hi);
    luaL_argerror(L, 2, lua_tostring(L, -1));
  }
  uint64_t *f = limit_field(L, ctx, which);
  lua_pushnumber(L, (lua_Number)*f);
  *f = (uint64_t)n;
  return 1;
}

/* d:set_send_limit(bytes) → previous: the send high-water mark per connection
 * (connections made from now on); past it the connection is reset */
static int d_set_send_limit(lua_State *L) {
  return set_limit(L, 0, 1024, 4294967296.0, "send limit (bytes)");
}
/* d:set_unread_cap(bytes) → previous: unread input a C4LuaTcpClient keeps (clients made
 * from now on) */
static int d_set_unread_cap(lua_State *L) {
  return set_limit(L, 1, 1048576, 4294967296.0, "unread cap (bytes)");
}
/* d:set_close_deadline(ms) → previous: a flushing close resets after ms (wall time) */
static int d_set_close_deadline(lua_State *L) {
  return set_limit(L, 2, 1, 3600000, "close deadline (ms)");
}
/* d:set_flush_timeout(ms) → previous: CreateServer delivers an unfinished payload after ms
 * of quiet on the emulator clock (0: never) */
static int d_set_flush_timeout(lua_State *L) {
  return set_limit(L, 3, 0, 3600000, "flush timeout (ms)");
}

const luaL_Reg emu_specclient_methods[] = {
    {"connect", d_connect_entry},
    {"udp", d_udp_entry},
    {"servers", d_servers},
    {"set_payload_cap", d_set_payload_cap},
    {"set_handshake_timeout", d_set_handshake_timeout},
    /* issue 16: limits */
    {"set_send_limit", d_set_send_limit},
    {"set_unread_cap", d_set_unread_cap},
    {"set_close_deadline", d_set_close_deadline},
    {"set_flush_timeout", d_set_flush_timeout},
    {"serve", d_serve},
    {NULL, NULL},
};
