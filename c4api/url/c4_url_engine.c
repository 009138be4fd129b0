/*
 * c4_url_engine.c — the per-driver HTTP engine behind C4:url() and
 * C4:urlGet & co: one libcurl multi handle driven by the driver's libuv loop
 * through the multi-socket interface (one uv_poll per curl socket, one
 * uv_timer for curl's own timeout).  Nothing blocks and no thread of ours
 * runs; name resolution is libcurl's business.
 *
 * Lifetime: the url_state lives from the family's open() until the shutdown
 * hook has closed every handle; its uv_timer is closed last and frees it.
 * Transfers are owned here while they run; a finished or cancelled transfer
 * is unlinked and freed at once (its front end drops its Lua references).
 *
 * Timeouts (the `timeout` option, urlSetTimeout) run on the emulator clock
 * (emu_sched), so a 30 s timeout in virtual time fires after 30 virtual
 * seconds; only connect_timeout is curl's, on the wall clock.
 *
 * Settling: the busy probe says busy while a transfer runs, except when its
 * in-process peer (a spec's d:http_device) holds the request on the emulator
 * clock (emu_client_parked): then only advancing time can move it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url/c4_url.h"

#define DEFAULT_TIMEOUT_S 300.0   /* OS 2.9.0 and later: every transfer */

struct url_state {
  emu_ctx *ctx;
  CURLM *multi;
  CURLSH *share;           /* the driver's cookie jar */
  uv_timer_t timer;
  url_xfer *list;
  struct url_sock *socks;  /* polls not yet closing */
  long next_ticket;
  double default_timeout_s;
  bool closing;
  bool pumping;
};

typedef struct url_sock {
  uv_poll_t poll;
  url_state *us;
  curl_socket_t fd;
  struct url_sock *prev, *next;
} url_sock;

static const char STATE_KEY = 'u';

static void pump(url_state *us);

url_state *c4_url_state(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  url_state *us = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!us || us->closing) luaL_error(L, "HTTP transfers are gone: the driver has been destroyed");
  return us;
}

emu_ctx *c4_url_ctx(url_state *us) { return us->ctx; }
url_xfer *c4_url_first(url_state *us) { return us->list; }

url_xfer *c4_url_find(url_state *us, long ticket) {
  for (url_xfer *x = us->list; x; x = x->next)
    if (x->ticket == ticket) return x;
  return NULL;
}

void c4_url_set_default_timeout(url_state *us, double s) { us->default_timeout_s = s; }

void c4_url_set_max_host_connections(url_state *us, long n) {
  curl_multi_setopt(us->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
}

/* ---- response recording (libcurl callbacks: no Lua here) --------------- */

static bool grow(char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return true;
  size_t ncap = *cap ? *cap : 256;
  while (ncap < need) ncap *= 2;
  char *b = realloc(*buf, ncap);
  if (!b) return false;
  *buf = b;
  *cap = ncap;
  return true;
}

static url_resp *cur_resp(url_xfer *x) { return x->nresp ? &x->resp[x->nresp - 1] : NULL; }

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  url_xfer *x = ud;
  size_t len = size * n;
  if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
    long code = 0;
    const char *sp = memchr(data, ' ', len);
    if (sp) code = strtol(sp + 1, NULL, 10);
    url_resp *r = cur_resp(x);
    if (r && r->code >= 100 && r->code < 200 && !r->headers_sent) {
      /* An interim 1xx response is replaced by the real one. */
      r->hdrlen = 0;
      r->hdr_done = false;
    } else {
      if (x->nresp == x->capresp) {
        size_t ncap = x->capresp ? x->capresp * 2 : 2;
        url_resp *a = realloc(x->resp, ncap * sizeof *a);
        if (!a) return 0;
        x->resp = a;
        x->capresp = ncap;
      }
      r = &x->resp[x->nresp++];
      memset(r, 0, sizeof *r);
      r->ref = LUA_NOREF;
    }
    r->code = code;
    return len;
  }
  url_resp *r = cur_resp(x);
  if (!r) return len;
  if (len <= 2 && (data[0] == '\r' || data[0] == '\n')) {
    r->hdr_done = true;
    return len;
  }
  if (!grow(&r->hdr, &r->hdrcap, r->hdrlen + len + 1)) return 0;
  memcpy(r->hdr + r->hdrlen, data, len);
  r->hdrlen += len;
  r->hdr[r->hdrlen] = 0;
  return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  url_xfer *x = ud;
  size_t len = size * n;
  url_resp *r = cur_resp(x);
  if (!r) return 0;
  if (x->sink) { /* DownloadFile: to the file, no limit but the disk's */
    if (emu_write_all(x->sink_fd, data, len) != 0) {
      x->sink_errno = errno;
      return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    x->total_body += len;
    return len;
  }
  if (x->total_body + len > URL_BODY_LIMIT) {
    x->over_limit = true;
    return 0; /* curl stops with CURLE_WRITE_ERROR */
  }
  if (!grow(&r->body, &r->bodycap, r->bodylen + len + 1)) return 0;
  memcpy(r->body + r->bodylen, data, len);
  r->bodylen += len;
  x->total_body += len;
  return len;
}

/* --deny-net: every address but loopback is refused before connecting. */
static curl_socket_t on_opensocket(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
  url_xfer *x = ud;
  (void)purpose;
  bool loopback = false;
  if (a->family == AF_INET) {
    const struct sockaddr_in *in = (const void *)&a->addr;
    loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    inet_ntop(AF_INET, &in->sin_addr, x->denied_host, sizeof x->denied_host);
  } else if (a->family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const void *)&a->addr;
    loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, x->denied_host, sizeof x->denied_host);
  }
  if (!loopback) {
    x->denied = true;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

/* ---- start, finish, cancel --------------------------------------------- */

static void resp_free(url_resp *r) {
  free(r->hdr);
  free(r->body);
}

static void xfer_free(url_xfer *x) {
  url_state *us = x->us;
  if (x->prev) x->prev->next = x->next;
  else if (us->list == x) us->list = x->next;
  if (x->next) x->next->prev = x->prev;
  emu_sched_cancel(us->ctx, x->deadline);
  if (x->easy) {
    curl_multi_remove_handle(us->multi, x->easy);
    curl_easy_cleanup(x->easy);
  }
  curl_slist_free_all(x->req_headers);
  if (x->fe && x->fe->release) x->fe->release(x);
  for (size_t i = 0; i < x->nresp; i++) resp_free(&x->resp[i]);
  free(x->resp);
  c4_url_opts_free(&x->opt);
  emu_track(us->ctx, "url-transfer", -1);
  free(x);
}

/* Ends the transfer: one done() call, then it is freed. */
static void finish(url_xfer *x, int code, const char *msg) {
  if (x->finished) return;
  x->finished = true;
  emu_sched_cancel(x->us->ctx, x->deadline);
  x->deadline = NULL;
  if (x->easy) curl_multi_remove_handle(x->us->multi, x->easy);
  if (x->us->ctx->phase != EMU_PHASE_DEAD && !x->us->closing) x->fe->done(x, code, msg);
  xfer_free(x);
}

void c4_url_set_sink(url_xfer *x, int fd) {
  x->sink = true;
  x->sink_fd = fd;
}

void c4_url_cancel(url_xfer *x) {
  if (x->finished) return;
  if (x->delivering) { /* its own callback runs: the engine frees it after */
    x->cancel_requested = true;
    return;
  }
  x->finished = true;
  xfer_free(x);
}

void c4_url_abort(url_xfer *x) {
  if (x->finished) return;
  if (x->delivering) x->abort_requested = true;
  else finish(x, URL_ERR_ABORTED, "Transfer aborted");
}

/* Runs the front end's progress; returns false when x is gone after it. */
static bool run_progress(url_xfer *x) {
  if (!x->fe->progress) return true;
  x->delivering = true;
  bool go_on = x->fe->progress(x);
  x->delivering = false;
  if (x->cancel_requested) {
    c4_url_cancel(x);
    return false;
  }
  if (!go_on || x->abort_requested) {
    finish(x, URL_ERR_ABORTED, "Transfer aborted");
    return false;
  }
  return true;
}

static void on_deadline(emu_ctx *ctx, void *data) {
  url_xfer *x = data;
  (void)ctx;
  x->deadline = NULL;
  x->timed_out = true;
  char msg[160];
  snprintf(msg, sizeof msg, "Operation timed out after %llu milliseconds with %zu bytes received",
           (unsigned long long)(emu_now(x->us->ctx) - x->started_ms), x->total_body);
  finish(x, CURLE_OPERATION_TIMEDOUT, msg);
}

static int resolve(url_state *us, const char *rel, char *out, size_t n, char *err, size_t errsz) {
  char why[256];
  if (emu_resolve_driver_path(us->ctx, rel, out, n, why, sizeof why) == 0) return 0;
  snprintf(err, errsz, "'%s': %s", rel, why);
  return -1;
}

/* The TLS options: files are named relative to the .c4z and confined to it. */
static int set_tls(url_xfer *x, char *err, size_t errsz) {
  CURL *e = x->easy;
  url_opts *o = &x->opt;
  char path[4096];
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o->verify_peer ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o->verify_host ? 2L : 0L);
  if (o->cabundle) {
    if (resolve(x->us, o->cabundle, path, sizeof path, err, errsz)) return -1;
    curl_easy_setopt(e, CURLOPT_CAINFO, path);
  }
  if (o->ncacerts) {
    /* Extra CAs beside the bundle: one PEM blob of the bundle plus them. */
    char *blob = NULL;
    size_t len = 0, cap = 0;
    const char *base = o->cabundle ? path : NULL;
    char basepath[4096];
    if (base) snprintf(basepath, sizeof basepath, "%s", base);
    for (size_t i = 0; i <= o->ncacerts; i++) {
      const char *p = NULL;
      if (i == 0) {
        if (!base) {
          char *def = NULL;
          curl_easy_getinfo(e, CURLINFO_CAINFO, &def);
          p = def;
        } else {
          p = basepath;
        }
        if (!p) continue;
      } else {
        if (resolve(x->us, o->cacerts[i - 1], path, sizeof path, err, errsz)) {
          free(blob);
          return -1;
        }
        p = path;
      }
      FILE *f = fopen(p, "rb");
      if (!f) {
        if (i == 0) continue;
        snprintf(err, errsz, "ssl_cacerts: cannot read '%s'", o->cacerts[i - 1]);
        free(blob);
        return -1;
      }
      char buf[8192];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (!grow(&blob, &cap, len + n + 2)) break;
        memcpy(blob + len, buf, n);
        len += n;
      }
      if (blob && cap > len) blob[len++] = '\n';
      fclose(f);
    }
    if (blob) {
      struct curl_blob b = {.data = blob, .len = len, .flags = CURL_BLOB_COPY};
      curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
      free(blob);
    }
  }
  if (o->cert) {
    if (resolve(x->us, o->cert, path, sizeof path, err, errsz)) return -1;
    curl_easy_setopt(e, CURLOPT_SSLCERT, path);
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, o->cert_type ? o->cert_type : "PEM");
  }
  if (o->key) {
    if (resolve(x->us, o->key, path, sizeof path, err, errsz)) return -1;
    curl_easy_setopt(e, CURLOPT_SSLKEY, path);
  }
  if (o->passwd) curl_easy_setopt(e, CURLOPT_KEYPASSWD, o->passwd);
  return 0;
}

/* Cookies: the driver's jar is a CURLSH; a transfer that must not write to
 * it gets a private copy of its cookies instead. */
static void set_cookies(url_xfer *x) {
  CURL *e = x->easy;
  url_opts *o = &x->opt;
  if (!o->cookies_enable) return;
  curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");
  if (o->cookies_use_jar && o->cookies_save_to_jar) {
    curl_easy_setopt(e, CURLOPT_SHARE, x->us->share);
  } else if (o->cookies_use_jar) {
    CURL *probe = curl_easy_init();
    if (probe) {
      struct curl_slist *jar = NULL;
      curl_easy_setopt(probe, CURLOPT_SHARE, x->us->share);
      curl_easy_setopt(probe, CURLOPT_COOKIEFILE, "");
      curl_easy_getinfo(probe, CURLINFO_COOKIELIST, &jar);
      for (struct curl_slist *c = jar; c; c = c->next)
        curl_easy_setopt(e, CURLOPT_COOKIELIST, c->data);
      curl_slist_free_all(jar);
      curl_easy_cleanup(probe);
    }
  }
  if (o->cookies_clear_session) curl_easy_setopt(e, CURLOPT_COOKIELIST, "SESS");
}

url_xfer *c4_url_start(url_state *us, const char *url, const char *method, const char *body,
                       size_t bodylen, struct curl_slist *headers, url_opts *opt,
                       const url_frontend *fe, void *fe_data, char *err, size_t errsz) {
  url_xfer *x = calloc(1, sizeof *x);
  CURL *e = x ? curl_easy_init() : NULL;
  if (!e) {
    free(x);
    curl_slist_free_all(headers);
    c4_url_opts_free(opt);
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  x->us = us;
  x->easy = e;
  x->opt = *opt;
  memset(opt, 0, sizeof *opt);
  x->req_headers = headers;
  x->fe = fe;
  x->fe_data = fe_data;
  emu_track(us->ctx, "url-transfer", 1);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "deflate, gzip");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, x->opt.follow ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 20L);
  curl_easy_setopt(e, CURLOPT_FAILONERROR, x->opt.fail_on_error ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(x->opt.connect_timeout_s * 1000));
  if (us->ctx->deny_net) {
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
  }
  if (!strcmp(method, "GET")) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (!strcmp(method, "HEAD")) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    if (strcmp(method, "POST")) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body || strcmp(method, "DELETE")) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
      curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "");
    }
  }
  set_cookies(x);
  if (set_tls(x, err, errsz) != 0) {
    x->finished = true;
    x->fe = NULL;
    xfer_free(x);
    return NULL;
  }
  x->ticket = ++us->next_ticket;
  x->started_ms = emu_now(us->ctx);
  if (x->opt.timeout_s < 0) x->opt.timeout_s = us->default_timeout_s;
  if (x->opt.timeout_s > 0)
    x->deadline = emu_sched_add(us->ctx, x->started_ms + (uint64_t)(x->opt.timeout_s * 1000),
                                on_deadline, x);
  x->next = us->list;
  if (us->list) us->list->prev = x;
  us->list = x;
  CURLMcode mc = curl_multi_add_handle(us->multi, e);
  if (mc != CURLM_OK) {
    snprintf(err, errsz, "%s", curl_multi_strerror(mc));
    x->finished = true;
    x->fe = NULL;
    xfer_free(x);
    return NULL;
  }
  return x;
}

/* ---- the loop side ----------------------------------------------------- */

static void error_text(url_xfer *x, CURLcode rc, char *msg, size_t n) {
  if (x->sink_errno)
    snprintf(msg, n, "writing the downloaded file failed: %s", strerror(x->sink_errno));
  else if (x->over_limit)
    snprintf(msg, n, "response body exceeds the %u-byte limit (use C4:DownloadFile for more)",
             URL_BODY_LIMIT);
  else if (x->denied)
    snprintf(msg, n, "connection to %s refused: c4emu runs with --deny-net (loopback only)",
             x->denied_host);
  else if (x->errbuf[0])
    snprintf(msg, n, "%s", x->errbuf);
  else
    snprintf(msg, n, "%s", curl_easy_strerror(rc));
}

/* Hands recorded data to Lua and finishes completed transfers.  Runs after
 * every curl_multi_socket_action, outside libcurl's callbacks. */
static void pump(url_state *us) {
  if (us->pumping) return;
  us->pumping = true;
  /* Tickets first: a callback may cancel or start transfers meanwhile. */
  long tickets[256];
  size_t n = 0;
  bool more = false;
  for (url_xfer *x = us->list; x; x = x->next) {
    if (n == sizeof tickets / sizeof tickets[0]) { more = true; break; }
    tickets[n++] = x->ticket;
  }
  for (size_t i = 0; i < n; i++) {
    url_xfer *x = c4_url_find(us, tickets[i]);
    if (x && !x->finished) run_progress(x);
  }
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(us->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    url_xfer *x = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    CURLcode rc = m->data.result;
    if (!x || x->finished) continue;
    if (!run_progress(x)) continue;
    if (rc == CURLE_OK) {
      finish(x, 0, NULL);
    } else {
      char msg[CURL_ERROR_SIZE + 128];
      error_text(x, rc, msg, sizeof msg);
      finish(x, (int)rc, msg);
    }
  }
  us->pumping = false;
  if (more) pump(us);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  url_sock *s = p->data;
  url_state *us = s->us;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  emu_io_activity(us->ctx);
  curl_multi_socket_action(us->multi, s->fd, flags, &running);
  pump(us);
}

static void on_sock_closed(uv_handle_t *h) {
  url_sock *s = h->data;
  emu_track(s->us->ctx, "url-socket", -1);
  free(s);
}

static void sock_close(url_sock *s) {
  url_state *us = s->us;
  if (s->prev) s->prev->next = s->next;
  else us->socks = s->next;
  if (s->next) s->next->prev = s->prev;
  curl_multi_assign(us->multi, s->fd, NULL);
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
  url_state *us = userp;
  url_sock *s = socketp;
  (void)e;
  if (what == CURL_POLL_REMOVE) {
    if (s) sock_close(s);
    return 0;
  }
  if (us->closing) return 0;
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s) return -1;
    s->us = us;
    s->fd = fd;
    if (uv_poll_init_socket(us->ctx->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    s->next = us->socks;
    if (us->socks) us->socks->prev = s;
    us->socks = s;
    emu_track(us->ctx, "url-socket", 1);
    curl_multi_assign(us->multi, fd, s);
  }
  int ev = 0;
  if (what & CURL_POLL_IN) ev |= UV_READABLE;
  if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
  uv_poll_start(&s->poll, ev, on_poll);
  return 0;
}

static void on_timer(uv_timer_t *t) {
  url_state *us = t->data;
  int running;
  emu_io_activity(us->ctx);
  curl_multi_socket_action(us->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  pump(us);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp) {
  url_state *us = userp;
  (void)m;
  if (timeout_ms < 0) uv_timer_stop(&us->timer);
  else uv_timer_start(&us->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

/* ---- cookies ----------------------------------------------------------- */

void c4_url_push_cookies(lua_State *L, url_state *us, const char *domain) {
  lua_newtable(L);
  CURL *probe = curl_easy_init();
  if (!probe) return;
  struct curl_slist *jar = NULL;
  curl_easy_setopt(probe, CURLOPT_SHARE, us->share);
  curl_easy_setopt(probe, CURLOPT_COOKIEFILE, "");
  curl_easy_getinfo(probe, CURLINFO_COOKIELIST, &jar);
  for (struct curl_slist *c = jar; c; c = c->next) {
    /* Netscape format: domain, subdomains, path, secure, expires, name, value. */
    char *f[7] = {0};
    char *line = strdup(c->data), *p = line;
    if (!line) break;
    for (int i = 0; i < 7 && p; i++) {
      f[i] = p;
      p = i < 6 ? strchr(p, '\t') : NULL;
      if (p) *p++ = 0;
    }
    if (f[6]) {
      const char *d = f[0];
      if (!strncmp(d, "#HttpOnly_", 10)) d += 10;
      if (*d == '.') d++;
      if (!domain || !strcasecmp(domain, d)) {
        lua_getfield(L, -1, d);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          lua_newtable(L);
          lua_pushvalue(L, -1);
          lua_setfield(L, -3, d);
        }
        lua_newtable(L);
        lua_pushstring(L, d), lua_setfield(L, -2, "domain");
        lua_pushstring(L, f[2]), lua_setfield(L, -2, "path");
        lua_pushstring(L, f[5]), lua_setfield(L, -2, "name");
        lua_pushstring(L, f[6]), lua_setfield(L, -2, "value");
        lua_pushboolean(L, !strcmp(f[3], "TRUE")), lua_setfield(L, -2, "secure");
        lua_pushboolean(L, !strcmp(f[1], "TRUE")), lua_setfield(L, -2, "wildcard");
        lua_pushnumber(L, strtod(f[4], NULL)), lua_setfield(L, -2, "expires");
        lua_setfield(L, -2, f[5]);
        lua_pop(L, 1);
      }
    }
    free(line);
  }
  curl_slist_free_all(jar);
  curl_easy_cleanup(probe);
}

/* ---- headers for Lua --------------------------------------------------- */

void c4_url_push_headers(lua_State *L, const url_xfer *x, const url_resp *r) {
  lua_newtable(L);
  const char *p = r->hdr, *end = r->hdr ? r->hdr + r->hdrlen : NULL;
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon && colon > p) {
      const char *v = colon + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      lua_pushlstring(L, p, (size_t)(colon - p));
      if (x->opt.dup_headers) {
        /* Duplicates become an array of strings; a single value stays one. */
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          lua_pushlstring(L, v, (size_t)(ve - v));
        } else if (lua_isstring(L, -1)) {
          lua_newtable(L);
          lua_insert(L, -2);
          lua_rawseti(L, -2, 1);
          lua_pushlstring(L, v, (size_t)(ve - v));
          lua_rawseti(L, -2, 2);
        } else {
          lua_pushlstring(L, v, (size_t)(ve - v));
          lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
        }
      } else {
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_rawset(L, -3);
    }
    p = eol + 1;
  }
}

/* ---- per-driver set-up and shutdown ------------------------------------ */

static bool busy_probe(emu_ctx *ctx, void *data) {
  url_state *us = data;
  for (url_xfer *x = us->list; x; x = x->next) {
    long port = 0;
    if (curl_easy_getinfo(x->easy, CURLINFO_LOCAL_PORT, &port) != CURLE_OK || port <= 0)
      return true; /* resolving or connecting */
    if (!emu_client_parked(ctx, (int)port)) return true;
  }
  return false;
}

static void on_timer_closed(uv_handle_t *h) {
  url_state *us = h->data;
  free(us);
}

static void on_shutdown(emu_ctx *ctx, void *data) {
  url_state *us = data;
  lua_State *L = ctx->L;
  us->closing = true;
  while (us->list) c4_url_cancel(us->list);
  emu_busy_probe_remove(ctx, busy_probe, us);
  /* Our polls go before libcurl closes the cached connections' sockets. */
  while (us->socks) sock_close(us->socks);
  curl_multi_cleanup(us->multi);
  curl_share_cleanup(us->share);
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_pushnil(L);
  lua_rawset(L, LUA_REGISTRYINDEX);
  uv_timer_stop(&us->timer);
  uv_close((uv_handle_t *)&us->timer, on_timer_closed);
}

static void url_open(lua_State *L, emu_ctx *ctx) {
  static bool global_done;
  if (!global_done) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    global_done = true;
  }
  url_state *us = calloc(1, sizeof *us);
  if (!us) luaL_error(L, "out of memory");
  us->ctx = ctx;
  us->default_timeout_s = DEFAULT_TIMEOUT_S;
  us->multi = curl_multi_init();
  us->share = curl_share_init();
  if (!us->multi || !us->share) {
    curl_multi_cleanup(us->multi);
    curl_share_cleanup(us->share);
    free(us);
    luaL_error(L, "libcurl could not start");
  }
  curl_share_setopt(us->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
  curl_multi_setopt(us->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(us->multi, CURLMOPT_SOCKETDATA, us);
  curl_multi_setopt(us->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(us->multi, CURLMOPT_TIMERDATA, us);
  /* urlSetOption's documented default: one connection per host. */
  curl_multi_setopt(us->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
  uv_timer_init(ctx->loop, &us->timer);
  us->timer.data = us;
  uv_unref((uv_handle_t *)&us->timer);
  lua_pushlightuserdata(L, (void *)&STATE_KEY);
  lua_pushlightuserdata(L, us);
  lua_rawset(L, LUA_REGISTRYINDEX);
  emu_busy_probe_add(ctx, busy_probe, us);
  emu_on_shutdown(ctx, on_shutdown, us);
  c4_url_obj_open(L, ctx);
}

static const c4_fn url_fns[] = {
    {"url", l_url},
    {"urlGet", l_urlGet},
    {"urlPost", l_urlPost},
    {"urlPut", l_urlPut},
    {"urlDelete", l_urlDelete},
    {"urlCustom", l_urlCustom},
    {"urlCancel", l_urlCancel},
    {"urlCancelAll", l_urlCancelAll},
    {"urlSetTimeout", l_urlSetTimeout},
    {"urlSetOption", l_urlSetOption},
    {"urlGetTickets", l_urlGetTickets},
    {"urlGetCookies", l_urlGetCookies},
    {NULL, NULL},
};

/* issue 9: the global callback this family calls (for `c4emu apis`). */
static const char *const url_callbacks[] = {"ReceivedAsync", NULL};
const c4_family c4_family_url = {"url", url_fns, url_open, url_callbacks};
