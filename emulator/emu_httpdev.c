/*
 * emu_httpdev.c — HTTP fake devices for specs, on libwebsockets on the
 * driver's own libuv loop:
 *
 *   local api = d:http_device{ port = 0, tls = nil | {cert = path, key = path},
 *                              routes = { ["GET /status"] = function(req) ... end },
 *                              capture_headers = {"X-Api-Key"} }
 *   api.url ("http://127.0.0.1:PORT" or https://), api.port
 *   api:requests() → {{method=, path=, query=, headers=, body=}, ...} (arrival order)
 *   api:errors()   → messages of routes that raised (each answered 500)
 *   api:close()
 *
 * A route gets req (as above; header names in lower case) and returns
 *   code [, headers [, body]]          answered at once (a header whose value
 *                                      is an array is sent once per value)
 *   api.later(ms, code, headers, body) answered after ms on the emulator clock
 *   api.slow(ms, code, headers, body)  headers at once, then the body in
 *                                      64-byte pieces, ms apart (emulator clock)
 *   api.drop()                         connection closed, no answer
 *   api.garbage(bytes)                 bytes sent raw (no HTTP), then closed
 *   api.reset(code, headers, body, n)  announces #body bytes, sends n, closes
 * Routes are looked up as "METHOD /path", then "* /path", then "*"; none: 404.
 * lws knows the usual request headers by itself; others are seen only when
 * named in capture_headers (lws 4.1 cannot list unknown headers).
 *
 * Route functions run in the spec's Lua state (a thread of it made for the
 * device); what they see is built from C strings, never shared with the
 * driver's state.  Settling: busy while an answer is being written; a
 * request held by later/slow is "parked" (emu_client_parked), so settling
 * does not wait for virtual time to pass.
 *
 * Lifetime: the native device is shared by the api userdata and the driver's
 * shutdown hook; whichever goes last frees it.  The lws context is destroyed
 * by api:close(), the userdata's __gc or the driver's teardown, first wins.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>

#include "emu_lws.h"
#include "emu_module.h"

#define DEV_MT "c4emu.http_device"
#define MARK "__c4emu_http"
#define SLOW_PIECE 64
#define CHUNK 16384

typedef struct { char *name, *value; } hkv;

typedef struct hrec {
  struct hrec *next;
  char method[16];
  char *path, *query, *body;
  size_t blen;
  hkv *h;
  size_t nh;
} hrec;

typedef enum { A_ANSWER, A_DROP, A_GARBAGE, A_RESET } haction;
typedef enum { R_IDLE, R_BODY, R_PARKED, R_READY, R_SENDING, R_PAUSED } rstate;

typedef struct httpdev httpdev;

/* Per connection (lws per-session data, zeroed by lws). */
typedef struct hconn {
  httpdev *dev;
  struct lws *wsi;
  struct hconn *prev, *next;
  bool linked;
  rstate st;
  hrec *rec;              /* the request being read (owned by the list once done) */
  int client_port;
  haction act;
  int code;
  hkv *h;
  size_t nh;
  char *body;
  size_t blen, boff, reset_after;
  uint64_t slow_ms;
  bool headers_sent;
  emu_sched *wake;
} hconn;

struct httpdev {
  emu_ctx *ctx;           /* NULL once the driver is gone */
  lua_State *L;           /* the spec state's device thread */
  int thread_ref, routes_ref;
  struct lws_context *lws;
  int port;
  bool tls;
  char **capture;
  size_t ncapture;
  hconn *conns;
  hrec *recs, **recs_tail;
  char **errs;
  size_t nerrs;
  bool ud_alive, hook_done;
};

typedef struct { httpdev *dev; } dev_box;

/* ---- small helpers ----------------------------------------------------- */

static char *dupn(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

static void kv_free(hkv *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(h[i].name);
    free(h[i].value);
  }
  free(h);
}

static void rec_free(hrec *r) {
  if (!r) return;
  free(r->path);
  free(r->query);
  free(r->body);
  kv_free(r->h, r->nh);
  free(r);
}

static void resp_clear(hconn *c) {
  kv_free(c->h, c->nh);
  c->h = NULL;
  c->nh = 0;
  free(c->body);
  c->body = NULL;
  c->blen = c->boff = c->reset_after = 0;
  c->headers_sent = false;
  c->act = A_ANSWER;
  c->slow_ms = 0;
}

static void add_kv(hkv **h, size_t *n, const char *name, size_t nl, const char *v, size_t vl) {
  hkv *a = realloc(*h, (*n + 1) * sizeof *a);
  if (!a) return;
  *h = a;
  a[*n].name = dupn(name, nl);
  a[*n].value = dupn(v, vl);
  if (a[*n].name && a[*n].value) (*n)++;
  else {
    free(a[*n].name);
    free(a[*n].value);
  }
}

static void unlink_conn(hconn *c) {
  if (!c->linked) return;
  if (c->prev) c->prev->next = c->next;
  else c->dev->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->linked = false;
}

/* ---- requests ---------------------------------------------------------- */

static const char *const meth_names[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH",
                                         "DELETE", "CONNECT", "HEAD"};

static void read_request(hconn *c, const char *in) {
  struct lws *wsi = c->wsi;
  hrec *r = calloc(1, sizeof *r);
  if (!r) return;
  char *uri;
  int ulen, m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
  snprintf(r->method, sizeof r->method, "%s",
           m >= 0 && m < (int)(sizeof meth_names / sizeof *meth_names) ? meth_names[m] : "?");
  r->path = strdup(in ? in : "/");
  int ql = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  if (ql > 0) {
    r->query = malloc((size_t)ql + 1);
    if (r->query && lws_hdr_copy(wsi, r->query, ql + 1, WSI_TOKEN_HTTP_URI_ARGS) < 0)
      r->query[0] = 0;
  }
  for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
    const char *name = (const char *)lws_token_to_string((enum lws_token_indexes)t);
    if (!name || t == WSI_TOKEN_HTTP_URI_ARGS) continue;
    size_t nl = strlen(name);
    if (nl < 2 || name[nl - 1] != ':' || name[0] == ':') continue; /* "get ", ":path" */
    int len = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
    if (len <= 0) continue;
    char *v = malloc((size_t)len + 1);
    if (!v) continue;
    if (lws_hdr_copy(wsi, v, len + 1, (enum lws_token_indexes)t) >= 0)
      add_kv(&r->h, &r->nh, name, nl - 1, v, strlen(v));
    free(v);
  }
  for (size_t i = 0; i < c->dev->ncapture; i++) {
    char name[256];
    snprintf(name, sizeof name, "%s:", c->dev->capture[i]);
    int len = lws_hdr_custom_length(wsi, name, (int)strlen(name));
    if (len < 0) { /* lws may keep the name lower-cased */
      for (char *q = name; *q; q++) *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
      len = lws_hdr_custom_length(wsi, name, (int)strlen(name));
    }
    if (len < 0) continue;
    char *v = malloc((size_t)len + 1);
    if (!v) continue;
    if (lws_hdr_custom_copy(wsi, v, len + 1, name, (int)strlen(name)) >= 0) {
      char lower[256];
      size_t n = strlen(c->dev->capture[i]);
      for (size_t k = 0; k < n && k < sizeof lower - 1; k++)
        lower[k] = (char)(c->dev->capture[i][k] | ((c->dev->capture[i][k] >= 'A' &&
                                                    c->dev->capture[i][k] <= 'Z') ? 0x20 : 0));
      add_kv(&r->h, &r->nh, lower, n < sizeof lower ? n : sizeof lower - 1, v, strlen(v));
    }
    free(v);
  }
  c->rec = r;
}

static void push_rec(lua_State *L, const hrec *r) {
  lua_newtable(L);
  lua_pushstring(L, r->method), lua_setfield(L, -2, "method");
  lua_pushstring(L, r->path ? r->path : "/"), lua_setfield(L, -2, "path");
  lua_pushstring(L, r->query ? r->query : ""), lua_setfield(L, -2, "query");
  lua_pushlstring(L, r->body ? r->body : "", r->blen), lua_setfield(L, -2, "body");
  lua_newtable(L);
  for (size_t i = 0; i < r->nh; i++) {
    lua_pushstring(L, r->h[i].value);
    lua_setfield(L, -2, r->h[i].name);
  }
  lua_setfield(L, -2, "headers");
}

/* ---- answering --------------------------------------------------------- */

static void on_wake(emu_ctx *ctx, void *data) {
  hconn *c = data;
  (void)ctx;
  c->wake = NULL;
  c->st = c->headers_sent ? R_SENDING : R_READY;
  lws_callback_on_writable(c->wsi);
}

static void read_headers_table(lua_State *L, int t, hconn *c) {
  if (!lua_istable(L, t)) return;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1)) {
      size_t nl, vl;
      const char *n = lua_tolstring(L, -2, &nl), *v = lua_tolstring(L, -1, &vl);
      add_kv(&c->h, &c->nh, n, nl, v, vl);
    } else if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
      /* {"a", "b"}: the header once per value */
      size_t nl;
      const char *n = lua_tolstring(L, -2, &nl);
      for (int i = 1; i <= (int)lua_objlen(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        size_t vl;
        const char *v = lua_tolstring(L, -1, &vl);
        if (v) add_kv(&c->h, &c->nh, n, nl, v, vl);
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
}

static void set_answer(lua_State *L, int base, hconn *c) {
  c->code = lua_isnumber(L, base) ? (int)lua_tointeger(L, base) : 200;
  read_headers_table(L, base + 1, c);
  if (lua_isstring(L, base + 2)) {
    size_t n;
    const char *b = lua_tolstring(L, base + 2, &n);
    c->body = dupn(b, n);
    c->blen = c->body ? n : 0;
  }
}

static void route_error(hconn *c, const char *msg) {
  httpdev *d = c->dev;
  char **e = realloc(d->errs, (d->nerrs + 1) * sizeof *e);
  if (e) {
    d->errs = e;
    e[d->nerrs] = strdup(msg ? msg : "(error)");
    if (e[d->nerrs]) d->nerrs++;
  }
  if (d->ctx) emu_log(d->ctx, EMU_LOG_WARN, "[c4emu] http_device route raised: %s", msg);
  resp_clear(c);
  c->code = 500;
  c->body = strdup("route raised an error");
  c->blen = c->body ? strlen(c->body) : 0;
}

/* Runs the route for the request just read and prepares the answer. */
static void dispatch(hconn *c) {
  httpdev *d = c->dev;
  lua_State *L = d->L;
  hrec *r = c->rec;
  c->rec = NULL;
  resp_clear(c);
  if (!r) {
    c->code = 500;
    c->st = R_READY;
    lws_callback_on_writable(c->wsi);
    return;
  }
  *d->recs_tail = r;
  d->recs_tail = &r->next;
  int top = lua_gettop(L);
  lua_getglobal(L, "debug");
  lua_getfield(L, -1, "traceback");
  lua_remove(L, -2);
  int eh = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, d->routes_ref);
  const char *keys[3];
  char k1[300], k2[300];
  snprintf(k1, sizeof k1, "%s %s", r->method, r->path);
  snprintf(k2, sizeof k2, "* %s", r->path);
  keys[0] = k1, keys[1] = k2, keys[2] = "*";
  bool found = false;
  for (int i = 0; i < 3 && !found; i++) {
    lua_getfield(L, -1, keys[i]);
    if (lua_isfunction(L, -1)) found = true;
    else lua_pop(L, 1);
  }
  if (!found) {
    c->code = 404;
  } else {
    lua_remove(L, -2);              /* routes */
    push_rec(L, r);
    int base = lua_gettop(L) - 1;   /* where results start */
    if (lua_pcall(L, 1, 4, eh) != 0) {
      route_error(c, lua_tostring(L, -1));
    } else if (lua_istable(L, base)) {
      lua_getfield(L, base, MARK);
      const char *kind = lua_tostring(L, -1);
      lua_pop(L, 1);
      if (!kind) kind = "";
      lua_getfield(L, base, "ms");
      uint64_t ms = (uint64_t)(lua_isnumber(L, -1) && lua_tonumber(L, -1) > 0
                                   ? lua_tonumber(L, -1) : 0);
      lua_pop(L, 1);
      if (!strcmp(kind, "drop")) {
        c->act = A_DROP;
      } else if (!strcmp(kind, "garbage")) {
        c->act = A_GARBAGE;
        lua_getfield(L, base, "bytes");
        size_t n = 0;
        const char *b = lua_tolstring(L, -1, &n);
        c->body = b ? dupn(b, n) : NULL;
        c->blen = c->body ? n : 0;
        lua_pop(L, 1);
      } else {
        for (int i = 0; i < 3; i++) lua_rawgeti(L, base, i + 1);
        set_answer(L, lua_gettop(L) - 2, c);
        lua_pop(L, 3);
        if (!strcmp(kind, "reset")) {
          c->act = A_RESET;
          lua_getfield(L, base, "after");
          c->reset_after = (size_t)(lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0);
          lua_pop(L, 1);
        } else if (!strcmp(kind, "slow")) {
          c->slow_ms = ms ? ms : 1;
          ms = 0;
        }
      }
      if (ms && d->ctx) {
        c->st = R_PARKED;
        c->wake = emu_sched_add(d->ctx, emu_now(d->ctx) + ms, on_wake, c);
        lua_settop(L, top);
        return;
      }
    } else {
      set_answer(L, base, c);
    }
  }
  lua_settop(L, top);
  c->st = R_READY;
  lws_callback_on_writable(c->wsi);
}

/* Writes what is due; returns -1 to close the connection. */
static int write_answer(hconn *c) {
  struct lws *wsi = c->wsi;
  static unsigned char buf[LWS_PRE + CHUNK + 8192];
  unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
  if (c->act == A_DROP) return -1;
  if (c->act == A_GARBAGE) {
    size_t n = c->blen < CHUNK ? c->blen : CHUNK;
    if (n) {
      memcpy(start, c->body, n);
      lws_write(wsi, start, n, LWS_WRITE_HTTP);
    }
    return -1;
  }
  if (!c->headers_sent) {
    if (lws_add_http_header_status(wsi, (unsigned)c->code, &p, end)) return -1;
    for (size_t i = 0; i < c->nh; i++) {
      char name[256];
      snprintf(name, sizeof name, "%s:", c->h[i].name);
      if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                      (const unsigned char *)c->h[i].value,
                                      (int)strlen(c->h[i].value), &p, end))
        return -1;
    }
    if (lws_add_http_header_content_length(wsi, c->blen, &p, end)) return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    c->headers_sent = true;
    if (c->blen == 0) goto complete;
    if (c->slow_ms) goto pause;
    lws_callback_on_writable(wsi);
    return 0;
  }
  size_t limit = c->act == A_RESET && c->reset_after < c->blen ? c->reset_after : c->blen;
  size_t n = limit - c->boff;
  if (n > CHUNK) n = CHUNK;
  if (c->slow_ms && n > SLOW_PIECE) n = SLOW_PIECE;
  bool last = c->boff + n >= c->blen;
  if (n) {
    memcpy(start, c->body + c->boff, n);
    if (lws_write(wsi, start, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
      return -1;
    c->boff += n;
  }
  if (c->act == A_RESET && c->boff >= limit) return -1;
  if (!last) {
    if (c->slow_ms) goto pause;
    lws_callback_on_writable(wsi);
    return 0;
  }
complete:
  c->st = R_IDLE;
  resp_clear(c);
  return lws_http_transaction_completed(wsi) ? -1 : 0;
pause:
  c->st = R_PAUSED;
  if (c->dev->ctx) c->wake = emu_sched_add(c->dev->ctx, emu_now(c->dev->ctx) + c->slow_ms,
                                           on_wake, c);
  return 0;
}

static int peer_port(struct lws *wsi) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &sl) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return 0;
}

static int on_lws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len) {
  hconn *c = user;
  httpdev *d = lws_context_user(lws_get_context(wsi));
  if (d && d->ctx) emu_io_activity(d->ctx);
  switch (reason) {
  case LWS_CALLBACK_HTTP: {
    if (!c) return -1;
    if (!c->linked) {
      c->dev = d;
      c->wsi = wsi;
      c->client_port = peer_port(wsi);
      c->next = d->conns;
      if (d->conns) d->conns->prev = c;
      c->prev = NULL;
      d->conns = c;
      c->linked = true;
    }
    rec_free(c->rec);
    c->rec = NULL;
    read_request(c, in);
    /* lws keeps no content-length header for us to read: a method that
     * carries a body waits for LWS_CALLBACK_HTTP_BODY_COMPLETION. */
    const char *m = c->rec ? c->rec->method : "";
    bool has_body = !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
    if (has_body) {
      c->st = R_BODY;
      return 0;
    }
    dispatch(c);
    return 0;
  }
  case LWS_CALLBACK_HTTP_BODY:
    if (c && c->rec && len) {
      char *b = realloc(c->rec->body, c->rec->blen + len + 1);
      if (!b) return -1;
      memcpy(b + c->rec->blen, in, len);
      c->rec->body = b;
      c->rec->blen += len;
      b[c->rec->blen] = 0;
    }
    return 0;
  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    if (c) dispatch(c);
    return 0;
  case LWS_CALLBACK_HTTP_WRITEABLE:
    if (!c || (c->st != R_READY && c->st != R_SENDING)) return 0;
    c->st = R_SENDING;
    return write_answer(c);
  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    if (c && c->linked) {
      if (c->wake && d && d->ctx) emu_sched_cancel(d->ctx, c->wake);
      c->wake = NULL;
      rec_free(c->rec);
      c->rec = NULL;
      resp_clear(c);
      unlink_conn(c);
    }
    return 0;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", on_lws, sizeof(hconn), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- settling ---------------------------------------------------------- */

/*
 * A client that gives up on a parked request (its timeout, a cancel) closes
 * the connection, but lws 4.1 does not read a connection whose transaction
 * it is waiting for us to answer: it would poll the readable socket forever
 * (an idle handle spinning, so the loop is never quiet).  The probes look
 * for that end of file and have lws close such a connection.
 */
static void reap_parked(httpdev *d) {
  for (hconn *c = d->conns; c; c = c->next) {
    if (c->st != R_PARKED && c->st != R_PAUSED) continue;
    char b;
    ssize_t n = recv(lws_get_socket_fd(c->wsi), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      if (c->wake && d->ctx) emu_sched_cancel(d->ctx, c->wake);
      c->wake = NULL;
      c->st = R_IDLE;
      lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
    }
  }
}

static bool dev_busy(emu_ctx *ctx, void *data) {
  httpdev *d = data;
  (void)ctx;
  reap_parked(d);
  for (hconn *c = d->conns; c; c = c->next)
    if (c->st == R_READY || c->st == R_SENDING || c->st == R_BODY) return true;
  return false;
}

static bool dev_parked(emu_ctx *ctx, void *data, int port) {
  httpdev *d = data;
  (void)ctx;
  reap_parked(d);
  for (hconn *c = d->conns; c; c = c->next)
    if (c->client_port == port) return c->st == R_PARKED || c->st == R_PAUSED;
  return false;
}

/* ---- lifetime ---------------------------------------------------------- */

static void dev_stop(httpdev *d) {
  if (d->ctx) {
    emu_busy_probe_remove(d->ctx, dev_busy, d);
    emu_parked_probe_remove(d->ctx, dev_parked, d);
    for (hconn *c = d->conns; c; c = c->next) {
      emu_sched_cancel(d->ctx, c->wake);
      c->wake = NULL;
    }
    if (d->lws) {
      emu_lws_destroy(d->ctx->loop, &d->lws);
      emu_track(d->ctx, "http-device", -1);
    }
  }
  d->lws = NULL;
  d->conns = NULL;
}

static void dev_free(httpdev *d) {
  while (d->recs) {
    hrec *n = d->recs->next;
    rec_free(d->recs);
    d->recs = n;
  }
  for (size_t i = 0; i < d->nerrs; i++) free(d->errs[i]);
  free(d->errs);
  for (size_t i = 0; i < d->ncapture; i++) free(d->capture[i]);
  free(d->capture);
  free(d);
}

static void on_driver_shutdown(emu_ctx *ctx, void *data) {
  httpdev *d = data;
  (void)ctx;
  dev_stop(d);
  d->ctx = NULL;
  d->hook_done = true;
  if (!d->ud_alive) dev_free(d);
}

static httpdev *check_dev(lua_State *L, int i) {
  luaL_checktype(L, i, LUA_TTABLE);
  lua_getfield(L, i, "_dev");
  dev_box *b = luaL_checkudata(L, -1, DEV_MT);
  lua_pop(L, 1);
  return b->dev;
}

static int dev_gc(lua_State *L) {
  dev_box *b = luaL_checkudata(L, 1, DEV_MT);
  httpdev *d = b->dev;
  if (!d) return 0;
  b->dev = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, d->routes_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, d->thread_ref);
  d->ud_alive = false;
  dev_stop(d);
  if (d->hook_done) dev_free(d);
  return 0;
}

/* api:close() */
static int api_close(lua_State *L) {
  httpdev *d = check_dev(L, 1);
  if (d) dev_stop(d);
  return 0;
}

/* api:requests() → array of {method=, path=, query=, headers=, body=} */
static int api_requests(lua_State *L) {
  httpdev *d = check_dev(L, 1);
  lua_newtable(L);
  int n = 0;
  for (hrec *r = d ? d->recs : NULL; r; r = r->next) {
    push_rec(L, r);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* api:errors() → array of messages from routes that raised */
static int api_errors(lua_State *L) {
  httpdev *d = check_dev(L, 1);
  lua_newtable(L);
  for (size_t i = 0; d && i < d->nerrs; i++) {
    lua_pushstring(L, d->errs[i]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  return 1;
}

/* Makes a marker table {MARK = kind, code, headers, body, ms=} from args at first. */
static int marker(lua_State *L, const char *kind, int first, int ms_i) {
  lua_newtable(L);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, MARK);
  if (ms_i) {
    lua_Number ms = luaL_checknumber(L, ms_i);
    luaL_argcheck(L, ms >= 0, ms_i, "milliseconds must be 0 or more");
    lua_pushnumber(L, ms);
    lua_setfield(L, -2, "ms");
  }
  for (int i = 0; i < 3; i++) {
    lua_pushvalue(L, first + i);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* api.later(ms, code [, headers [, body]]) */
static int api_later(lua_State *L) { return marker(L, "later", 2, 1); }
/* api.slow(ms, code [, headers [, body]]) */
static int api_slow(lua_State *L) { return marker(L, "slow", 2, 1); }
/* api.drop() */
static int api_drop(lua_State *L) { return marker(L, "drop", 1, 0); }
/* api.garbage(bytes) */
static int api_garbage(lua_State *L) {
  luaL_checkstring(L, 1);
  marker(L, "garbage", 2, 0);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "bytes");
  return 1;
}
/* api.reset(code, headers, body, n) */
static int api_reset(lua_State *L) {
  luaL_checkstring(L, 3);
  lua_Number n = luaL_checknumber(L, 4);
  marker(L, "reset", 1, 0);
  lua_pushnumber(L, n);
  lua_setfield(L, -2, "after");
  return 1;
}

static const char *opt_field(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  const char *s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
  lua_pop(L, 1);
  return s;
}

/* d:http_device{port=, tls=, routes=, capture_headers=} → api */
static int d_http_device(lua_State *L) {
  emu_mdriver *md = emu_mdriver_check(L, 1);
  emu_ctx *ctx = md->ctx;
  if (ctx->phase == EMU_PHASE_DEAD) return luaL_error(L, "the driver has been destroyed");
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "port");
  int port = lua_isnil(L, -1) ? 0 : (int)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  if (port < 0 || port > 65535) return luaL_error(L, "http_device: port out of range");
  lua_getfield(L, 2, "routes");
  if (!lua_istable(L, -1)) return luaL_error(L, "http_device: routes must be a table");
  int routes = lua_gettop(L);
  const char *cert = NULL, *key = NULL;
  lua_getfield(L, 2, "tls");
  if (!lua_isnil(L, -1)) {
    if (!lua_istable(L, -1)) return luaL_error(L, "http_device: tls must be {cert=, key=}");
    cert = opt_field(L, -1, "cert");
    key = opt_field(L, -1, "key");
    if (!cert || !key) return luaL_error(L, "http_device: tls needs cert and key (file paths)");
  }
  lua_pop(L, 1);

  dev_box *b = lua_newuserdata(L, sizeof *b);
  b->dev = NULL;
  luaL_getmetatable(L, DEV_MT);
  lua_setmetatable(L, -2);
  int box = lua_gettop(L);
  httpdev *d = calloc(1, sizeof *d);
  if (!d) return luaL_error(L, "out of memory");
  b->dev = d;
  d->ctx = ctx;
  d->ud_alive = true;
  d->recs_tail = &d->recs;
  d->tls = cert != NULL;
  d->L = lua_newthread(L);
  d->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, routes);
  d->routes_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  emu_on_shutdown(ctx, on_driver_shutdown, d);
  lua_getfield(L, 2, "capture_headers");
  if (lua_istable(L, -1)) {
    size_t n = lua_objlen(L, -1);
    d->capture = calloc(n ? n : 1, sizeof *d->capture);
    for (size_t i = 1; d->capture && i <= n; i++) {
      lua_rawgeti(L, -1, (int)i);
      if (lua_isstring(L, -1)) d->capture[d->ncapture++] = strdup(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = port;
  info.iface = "127.0.0.1";
  info.protocols = protocols;
  info.user = d;
  info.ssl_cert_filepath = cert;
  info.ssl_private_key_filepath = key;
  info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
  if (!emu_lws_create(ctx->loop, &info, &d->lws))
    return luaL_error(L, "http_device: libwebsockets could not listen on 127.0.0.1:%d%s", port,
                      cert ? " (check the tls cert and key)" : "");
  emu_track(ctx, "http-device", 1);
  struct lws_vhost *vh = lws_get_vhost_by_name(d->lws, "default");
  d->port = vh ? lws_get_vhost_listen_port(vh) : port;
  emu_busy_probe_add(ctx, dev_busy, d);
  emu_parked_probe_add(ctx, dev_parked, d);

  lua_newtable(L); /* api */
  lua_pushvalue(L, box);
  lua_setfield(L, -2, "_dev");
  lua_pushinteger(L, d->port);
  lua_setfield(L, -2, "port");
  lua_pushfstring(L, "%s://127.0.0.1:%d", d->tls ? "https" : "http", d->port);
  lua_setfield(L, -2, "url");
  static const luaL_Reg api_fns[] = {
      {"requests", api_requests}, {"errors", api_errors}, {"close", api_close},
      {"later", api_later},       {"slow", api_slow},     {"drop", api_drop},
      {"garbage", api_garbage},   {"reset", api_reset},   {NULL, NULL},
  };
  luaL_register(L, NULL, api_fns);
  return 1;
}

const luaL_Reg emu_httpdev_methods[] = {
    {"http_device", d_http_device},
    {NULL, NULL},
};

void emu_httpdev_open(lua_State *L) {
  emu_class_new(L, DEV_MT, NULL, dev_gc, NULL);
  lua_pop(L, 1);
}
