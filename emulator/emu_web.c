/*
 * emu_web.c — the web console of `c4emu run --web [ADDR:]PORT`.
 *
 * One lws context on the driver's own libuv loop (emu_lws.c) serves three
 * files (emulator/web/: index.html, app.js, app.css) and one WebSocket
 * (/ws).  Nothing here blocks: requests and messages are handled in lws
 * callbacks, and the driver is called the way Composer calls it
 * (emu_set_property, ExecuteCommand, Lua in the driver's state).
 *
 * Safety:
 *   - every request and the WebSocket upgrade must carry the token printed in
 *     the URL (?token=..., or the cookie set when the page loads): 403 without;
 *   - an upgrade must come from the page itself: its Origin must be
 *     http://<Host>, else 403 (no other site can drive the console);
 *   - each client has a bounded send queue (EMU_WEB_QUEUE_MAX): a client that
 *     falls that far behind is dropped, so a slow or stuck browser never
 *     holds the driver or grows memory without bound.
 *
 * Messages are JSON, encoded and decoded with lua-cjson in the console's own
 * lua_State (J), never the driver's (emu_web_msg.c makes and reads them; the
 * protocol is in README-web.md).  They go out as binary frames: the page
 * decodes them with TextDecoder, which turns a driver's non-UTF-8 bytes into
 * U+FFFD instead of failing the socket.
 *
 * Lifetime: emu_web_start sets the host's log sink; emu_web_stop clears it,
 * closes the timers and destroys the lws context before the driver is
 * destroyed, so no console handle is left in the loop.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emu_web_int.h"
#include <lua-cjson.h> /* after lua.h, which it needs */

/* Where the page's files are when neither the environment (C4EMU_WEB_DIR)
 * nor the build tree has them: `make install` sets this to its prefix. */
#ifndef EMU_WEB_DIR
#define EMU_WEB_DIR "/usr/local/share/c4emu/web"
#endif

/* ---- JSON and sending --------------------------------------------------- */

static void free_queue(web_client *c) {
  while (c->head) {
    web_msg *m = c->head;
    c->head = m->next;
    free(m);
  }
  c->tail = NULL;
  c->queued = 0;
}

static void drop_client(emu_web *w, web_client *c, const char *why) {
  if (c->dropped) return;
  c->dropped = true;
  free_queue(c);
  lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  emu_log(w->ctx, EMU_LOG_WARN, "[c4emu] web console: client dropped: %s", why);
}

/* Queues a copy of s for c; a client with more than EMU_WEB_QUEUE_MAX waiting
 * is dropped (one message is always accepted into an empty queue, so a large
 * first page still gets through). */
static void enqueue(emu_web *w, web_client *c, const char *s, size_t n) {
  if (c->dropped) return;
  if (c->head && c->queued + n > EMU_WEB_QUEUE_MAX) {
    drop_client(w, c, "send queue full (the page is not reading)");
    return;
  }
  web_msg *m = malloc(sizeof *m + LWS_PRE + n);
  if (!m) {
    drop_client(w, c, "out of memory");
    return;
  }
  m->next = NULL;
  m->len = n;
  memcpy(m->buf + LWS_PRE, s, n);
  if (c->tail) c->tail->next = m;
  else c->head = m;
  c->tail = m;
  c->queued += n;
  lws_callback_on_writable(c->wsi);
}

/* Encodes the table on top of J and sends it to one client (or all when c is
 * NULL); pops the table. */
void emu_web_send_top(emu_web *w, web_client *c) {
  lua_State *J = w->J;
  lua_rawgeti(J, LUA_REGISTRYINDEX, w->cjson_ref);
  lua_getfield(J, -1, "encode");
  lua_remove(J, -2);
  lua_insert(J, -2);
  if (lua_pcall(J, 1, 1, 0) != 0) {
    fprintf(stderr, "[c4emu] web console: cannot encode a message: %s\n", lua_tostring(J, -1));
    lua_pop(J, 1);
    return;
  }
  size_t n;
  const char *s = lua_tolstring(J, -1, &n);
  bool was = w->sending;
  w->sending = true;
  if (c) {
    enqueue(w, c, s, n);
  } else {
    for (web_client *k = w->clients; k; k = k->next) enqueue(w, k, s, n);
  }
  w->sending = was;
  lua_pop(J, 1);
}

/* ---- HTTP and the WebSocket --------------------------------------------- */

static bool token_equal(const emu_web *w, const char *s, size_t n) {
  if (n != strlen(w->token)) return false;
  unsigned diff = 0; /* the same time whatever the first wrong byte */
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)(s[i] ^ w->token[i]);
  return diff == 0;
}

static bool has_token(emu_web *w, struct lws *wsi) {
  char buf[256];
  const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof buf);
  if (v && token_equal(w, v, strlen(v))) return true;
  char cookie[2048];
  if (lws_hdr_copy(wsi, cookie, sizeof cookie, WSI_TOKEN_HTTP_COOKIE) <= 0) return false;
  size_t cn = strlen(w->cookie);
  for (char *p = cookie; (p = strstr(p, w->cookie)) != NULL; p += cn) {
    if ((p != cookie && p[-1] != ' ' && p[-1] != ';') || p[cn] != '=') continue;
    const char *val = p + cn + 1;
    size_t vn = strcspn(val, ";");
    if (token_equal(w, val, vn)) return true;
  }
  return false;
}

static int refuse(struct lws *wsi, unsigned code) {
  if (lws_return_http_status(wsi, code, NULL)) return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* An upgrade refused with a status: >0 tells lws the answer is written. */
static int refuse_upgrade(struct lws *wsi, unsigned code) {
  return lws_return_http_status(wsi, code, NULL) ? -1 : 1;
}

static int serve_http(emu_web *w, struct lws *wsi, const char *path) {
  if (!has_token(w, wsi)) return refuse(wsi, HTTP_STATUS_FORBIDDEN);
  static const struct { const char *path, *file, *mime; } files[] = {
      {"/", "index.html", "text/html; charset=utf-8"},
      {"/index.html", "index.html", "text/html; charset=utf-8"},
      {"/app.js", "app.js", "text/javascript; charset=utf-8"},
      {"/app.css", "app.css", "text/css; charset=utf-8"},
  };
  const char *file = NULL, *mime = NULL;
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    if (strcmp(path, files[i].path) == 0) file = files[i].file, mime = files[i].mime;
  if (!file) return refuse(wsi, HTTP_STATUS_NOT_FOUND);
  char full[PATH_MAX + 32], cookie[128];
  snprintf(full, sizeof full, "%s/%s", w->assets, file);
  /* The page's own requests (script, style, WebSocket) carry the cookie. */
  int cn = snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict", w->cookie,
                    w->token);
  unsigned char hdr[512], *p = hdr, *end = hdr + sizeof hdr;
  if (lws_add_http_header_by_name(wsi, (const unsigned char *)"set-cookie:",
                                  (const unsigned char *)cookie, cn, &p, end) ||
      lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                  (const unsigned char *)"no-store", 8, &p, end))
    return -1;
  int n = lws_serve_http_file(wsi, full, mime, (const char *)hdr, (int)(p - hdr));
  if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi))) return -1;
  return 0;
}

/* A WebSocket upgrade: the token, the path, and an Origin that is the page's. */
static int confirm_upgrade(emu_web *w, struct lws *wsi) {
  char uri[256], origin[512], host[256], want[300];
  if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/ws") != 0)
    return refuse_upgrade(wsi, HTTP_STATUS_NOT_FOUND);
  if (!has_token(w, wsi)) return refuse_upgrade(wsi, HTTP_STATUS_FORBIDDEN);
  if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0 ||
      lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0) {
    emu_log(w->ctx, EMU_LOG_WARN, "[c4emu] web console: WebSocket without Origin refused");
    return refuse_upgrade(wsi, HTTP_STATUS_FORBIDDEN);
  }
  snprintf(want, sizeof want, "http://%s", host);
  if (strcmp(origin, want) != 0) {
    emu_log(w->ctx, EMU_LOG_WARN, "[c4emu] web console: WebSocket from origin %s refused", origin);
    return refuse_upgrade(wsi, HTTP_STATUS_FORBIDDEN);
  }
  return 0;
}

static void unlink_client(emu_web *w, web_client *c) {
  for (web_client **pp = &w->clients; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  }
  c->linked = false;
  free_queue(c);
  free(c->rx);
  c->rx = NULL;
}

static int write_next(web_client *c) {
  if (c->dropped) return -1;
  web_msg *m = c->head;
  if (!m) return 0;
  c->head = m->next;
  if (!c->head) c->tail = NULL;
  c->queued -= m->len;
  int n = lws_write(c->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_BINARY);
  bool ok = n >= 0 && (size_t)n >= m->len;
  free(m);
  if (!ok) return -1;
  if (c->head) lws_callback_on_writable(c->wsi);
  return 0;
}

static int receive(emu_web *w, web_client *c, struct lws *wsi, const void *in, size_t len) {
  if (c->dropped) return -1;
  if (c->nrx + len > WEB_RX_MAX) {
    drop_client(w, c, "a message over 1 MiB");
    return -1;
  }
  char *p = realloc(c->rx, c->nrx + len + 1);
  if (!p) return -1;
  c->rx = p;
  memcpy(p + c->nrx, in, len);
  c->nrx += len;
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi)) return 0;
  size_t n = c->nrx;
  c->nrx = 0;
  emu_web_handle_message(w, c, c->rx, n);
  return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
  emu_web *w = lws_context_user(lws_get_context(wsi));
  web_client *c = user;
  switch (reason) {
  case LWS_CALLBACK_HTTP:
    return serve_http(w, wsi, in ? (const char *)in : "/");
  case LWS_CALLBACK_HTTP_FILE_COMPLETION:
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    return confirm_upgrade(w, wsi);
  case LWS_CALLBACK_ESTABLISHED:
    /* The pages already open get what changed first: the new page's snapshot
     * becomes what every page was last sent. */
    emu_web_refresh(w);
    memset(c, 0, sizeof *c);
    c->wsi = wsi;
    c->next = w->clients;
    c->linked = true;
    w->clients = c;
    emu_web_send_hello(w, c);
    return 0;
  case LWS_CALLBACK_SERVER_WRITEABLE:
    return write_next(c);
  case LWS_CALLBACK_RECEIVE:
    return receive(w, c, wsi, in, len);
  case LWS_CALLBACK_CLOSED:
    if (c->linked) unlink_client(w, c);
    return 0;
  default:
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

static const struct lws_protocols protocols[] = {
    {"c4emu-console", callback, sizeof(web_client), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- start and stop ------------------------------------------------------ */

static bool is_file(const char *dir, const char *name) {
  char p[PATH_MAX + 32];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The page's folder: $C4EMU_WEB_DIR, the source tree or the install beside
 * the binary, then the compiled-in prefix (EMU_WEB_DIR). */
static int find_assets(char *out, size_t outsz) {
  const char *env = getenv("C4EMU_WEB_DIR");
  if (env && *env) {
    snprintf(out, outsz, "%s", env);
    return is_file(out, "index.html") ? 0 : -1;
  }
  char exe[PATH_MAX - 64];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      /* A build tree (build/c4emu), then an install of any PREFIX (bin/c4emu
       * beside share/c4emu/web), so `make install PREFIX=...` needs no rebuild. */
      static const char *const rel[] = {"../emulator/web", "../share/c4emu/web"};
      for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(out, outsz, "%s/%s", exe, rel[i]);
        char real[PATH_MAX];
        if (is_file(out, "index.html") && realpath(out, real)) {
          snprintf(out, outsz, "%s", real);
          return 0;
        }
      }
    }
  }
  snprintf(out, outsz, "%s", EMU_WEB_DIR);
  return is_file(out, "index.html") ? 0 : -1;
}

char *emu_web_read_xml(emu_ctx *ctx) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/driver.xml", ctx->pkg_dir);
  FILE *f = fopen(path, "rb");
  if (!f) return strdup("");
  char *buf = malloc(WEB_XML_MAX + 1);
  size_t n = buf ? fread(buf, 1, WEB_XML_MAX, f) : 0;
  fclose(f);
  if (!buf) return strdup("");
  buf[n] = '\0';
  return buf;
}

emu_web *emu_web_start(emu_ctx *ctx, const char *addr, int port, char *url, size_t urlsz,
                       char *err, size_t errsz) {
  emu_web *w = calloc(1, sizeof *w);
  if (!w) {
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  w->ctx = ctx;
  if (find_assets(w->assets, sizeof w->assets) != 0) {
    snprintf(err, errsz, "web console: no index.html in %s (set C4EMU_WEB_DIR)", w->assets);
    free(w);
    return NULL;
  }
  unsigned char rnd[16];
  if (uv_random(NULL, NULL, rnd, sizeof rnd, 0, NULL) != 0) {
    snprintf(err, errsz, "web console: no random bytes for the token");
    free(w);
    return NULL;
  }
  for (size_t i = 0; i < sizeof rnd; i++) snprintf(w->token + 2 * i, 3, "%02x", rnd[i]);
  w->J = luaL_newstate();
  if (!w->J) {
    snprintf(err, errsz, "out of memory");
    free(w);
    return NULL;
  }
  lua_pushcfunction(w->J, luaopen_cjson);
  lua_call(w->J, 0, 1);
  w->cjson_ref = luaL_ref(w->J, LUA_REGISTRYINDEX);
  lua_newtable(w->J);
  w->props_ref = luaL_ref(w->J, LUA_REGISTRYINDEX);
  w->xml = emu_web_read_xml(ctx);
  w->lws = emu_lws_new(ctx->loop, addr, port, protocols, w, err, errsz);
  if (!w->lws) {
    lua_close(w->J);
    free(w->xml);
    free(w);
    return NULL;
  }
  int bound = emu_lws_port(w->lws);
  snprintf(w->cookie, sizeof w->cookie, "c4emu_token_%d", bound);
  uv_timer_init(ctx->loop, &w->tick);
  uv_timer_init(ctx->loop, &w->flush);
  w->tick.data = w->flush.data = w;
  uv_unref((uv_handle_t *)&w->tick);
  uv_unref((uv_handle_t *)&w->flush);
  uv_timer_start(&w->tick, emu_web_on_tick, WEB_TICK_MS, WEB_TICK_MS);
  w->timers_open = true;
  ctx->host->web = w;
  ctx->host->log_sink = emu_web_log_sink;
  /* s3-project: one console for every driver of a project; the pages choose
   * which one they show (a `driver` request) */
  w->world = ctx->host->world;
  for (size_t i = 0; w->world && i < w->world->n; i++) {
    w->world->drivers[i].ctx->host->web = w;
    w->world->drivers[i].ctx->host->log_sink = emu_web_log_sink;
  }
  const char *shown = addr && strcmp(addr, "0.0.0.0") != 0 ? addr : "127.0.0.1";
  bool v6 = strchr(shown, ':') != NULL;
  snprintf(url, urlsz, "http://%s%s%s:%d/?token=%s", v6 ? "[" : "", shown, v6 ? "]" : "", bound,
           w->token);
  return w;
}

uint64_t emu_web_take_advance(emu_web *w) {
  if (!w) return 0;
  uint64_t ms = w->advance_ms;
  w->advance_ms = 0;
  return ms;
}

void emu_web_stop(emu_web *w) {
  if (!w) return;
  emu_ctx *ctx = w->ctx;
  ctx->host->log_sink = NULL;
  ctx->host->web = NULL;
  for (size_t i = 0; w->world && i < w->world->n; i++) {
    w->world->drivers[i].ctx->host->web = NULL;
    w->world->drivers[i].ctx->host->log_sink = NULL;
  }
  w->clients = NULL; /* lws frees the sessions; their queues go below via CLOSED */
  if (w->timers_open) {
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_close((uv_handle_t *)&w->flush, NULL);
  }
  emu_lws_free(w->lws); /* also runs the timers' close callbacks */
  uv_run(ctx->loop, UV_RUN_NOWAIT);
  for (size_t i = 0; i < w->nbatch; i++) free(w->batch[i].text);
  free(w->batch);
  free(w->capture);
  free(w->xml);
  free(w->hidden_sent);
  lua_close(w->J);
  free(w);
}
