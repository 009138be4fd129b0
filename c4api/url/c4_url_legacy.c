/*
 * c4_url_legacy.c — the ticket-based HTTP calls: C4:urlGet, urlPost, urlPut,
 * urlDelete, urlCustom (each returns a ticket id; completion calls the given
 * callback, or the global ReceivedAsync(ticketId, strData, responseCode,
 * tHeaders, strError)), and urlCancel, urlCancelAll, urlSetTimeout,
 * urlSetOption, urlGetTickets, urlGetCookies.
 *
 * Argument order from DCP url.lua and the driver template: urlGet(url,
 * headers, autoRedirect, callback, flags), urlPost/urlPut(url, data, headers,
 * autoRedirect, callback, flags), urlDelete(url, headers, autoRedirect,
 * callback, flags), urlCustom(url, method, data, headers, autoRedirect,
 * callback, flags).  headers: a table or a string of "Name: value" lines;
 * flags: a table of C4:url() options, or nil.
 *
 * Choices where the pages are silent (also in the README):
 *   - autoRedirect absent or nil follows redirects; false does not;
 *   - HTTP error codes are not failures here (strError nil, responseCode
 *     500): drivers read responseCode; only transport errors set strError;
 *   - cookies go to the driver's jar (urlGetCookies shows them);
 *   - a cancelled transfer calls nothing (documented for urlCancel).
 */
#include <stdlib.h>
#include <string.h>

#include "url/c4_url.h"

typedef struct {
  emu_ctx *ctx;
  int cb_ref;             /* LUA_NOREF: ReceivedAsync */
} legacy_rec;

static void legacy_done(url_xfer *x, int code, const char *msg) {
  legacy_rec *r = x->fe_data;
  emu_ctx *ctx = r->ctx;
  lua_State *L = ctx->L;
  const char *what = "url callback";
  if (r->cb_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->cb_ref);
  } else if (emu_push_global_fn(ctx, "ReceivedAsync")) {
    what = "ReceivedAsync";
  } else {
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] url ticket %ld finished but the driver has no "
            "ReceivedAsync and gave no callback", x->ticket);
    return;
  }
  const url_resp *last = x->nresp ? &x->resp[x->nresp - 1] : NULL;
  lua_pushnumber(L, (lua_Number)x->ticket);
  lua_pushlstring(L, last && last->body ? last->body : "", last ? last->bodylen : 0);
  lua_pushnumber(L, last ? (lua_Number)last->code : 0);
  if (last) c4_url_push_headers(L, x, last);
  else lua_newtable(L);
  if (code == 0) lua_pushnil(L);
  else lua_pushstring(L, msg ? msg : "transfer failed");
  emu_pcall(ctx, 5, 0, what);
  emu_charge_stall(ctx);
}

static void legacy_release(url_xfer *x) {
  legacy_rec *r = x->fe_data;
  luaL_unref(r->ctx->L, LUA_REGISTRYINDEX, r->cb_ref);
  free(r);
}

static const url_frontend legacy_fe = {NULL, legacy_done, legacy_release};

/* Starts one legacy transfer; the argument indexes say where things are. */
static int legacy_start(lua_State *L, const char *api, const char *method, int body_i,
                        int hdr_i) {
  url_state *us = c4_url_state(L);
  const char *url = luaL_checkstring(L, 2);
  size_t blen = 0;
  const char *body = body_i ? c4_opt_string(L, body_i, &blen) : NULL;
  int redir_i = hdr_i + 1, cb_i = hdr_i + 2, flags_i = hdr_i + 3;
  lua_settop(L, flags_i); /* fixed places: what we push below goes above */
  if (!lua_isnoneornil(L, cb_i)) luaL_checktype(L, cb_i, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, flags_i) && !lua_istable(L, flags_i))
    luaL_argerror(L, flags_i, "table of options or nil expected");
  /* Boxed, so an option or header that raises leaks nothing. */
  url_opts *po = c4_url_opts_box(L);
  c4_url_opts_default(us, po);
  po->fail_on_error = false;
  po->cookies_enable = true;
  po->follow = lua_isnoneornil(L, redir_i) ? true : lua_toboolean(L, redir_i);
  if (lua_istable(L, flags_i)) c4_url_opts_table(L, po, flags_i);
  url_opts o = *po;
  memset(po, 0, sizeof *po);
  struct curl_slist *h = NULL;
  if (!lua_isnoneornil(L, hdr_i)) {
    *po = o; /* back in the box while the headers are read */
    h = c4_url_headers(L, hdr_i);
    o = *po;
    memset(po, 0, sizeof *po);
  }
  legacy_rec *r = malloc(sizeof *r);
  if (!r) {
    curl_slist_free_all(h);
    c4_url_opts_free(&o);
    return luaL_error(L, "out of memory");
  }
  r->ctx = c4_url_ctx(us);
  r->cb_ref = LUA_NOREF;
  if (!lua_isnoneornil(L, cb_i)) {
    lua_pushvalue(L, cb_i);
    r->cb_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  char err[512];
  url_xfer *x = c4_url_start(us, url, method, body, blen, h, &o, &legacy_fe, r, err, sizeof err);
  if (!x) {
    luaL_unref(L, LUA_REGISTRYINDEX, r->cb_ref);
    free(r);
    return luaL_error(L, "C4:%s: %s", api, err);
  }
  lua_pushnumber(L, (lua_Number)x->ticket);
  return 1;
}

/* C4:urlGet(url [, headers [, autoRedirect [, callback [, flags]]]]) → ticketId */
int l_urlGet(lua_State *L) { return legacy_start(L, "urlGet", "GET", 0, 3); }
/* C4:urlPost(url, data [, headers [, autoRedirect [, callback [, flags]]]]) → ticketId */
int l_urlPost(lua_State *L) { return legacy_start(L, "urlPost", "POST", 3, 4); }
/* C4:urlPut(url, data [, headers [, autoRedirect [, callback [, flags]]]]) → ticketId */
int l_urlPut(lua_State *L) { return legacy_start(L, "urlPut", "PUT", 3, 4); }
/* C4:urlDelete(url [, headers [, autoRedirect [, callback [, flags]]]]) → ticketId */
int l_urlDelete(lua_State *L) { return legacy_start(L, "urlDelete", "DELETE", 0, 3); }

/* C4:urlCustom(url, method, data [, headers [, autoRedirect [, callback [, flags]]]]) → ticketId */
int l_urlCustom(lua_State *L) {
  char method[64];
  c4_url_take_method(L, 3, method, sizeof method);
  return legacy_start(L, "urlCustom", method, 3, 4);
}

/* C4:urlCancel(ticketId) → true if that transfer was running and is cancelled */
int l_urlCancel(lua_State *L) {
  url_state *us = c4_url_state(L);
  lua_Number t = luaL_checknumber(L, 2);
  url_xfer *x = c4_url_find(us, (long)t);
  bool ok = x && !x->finished && !x->cancel_requested;
  if (ok) c4_url_cancel(x);
  lua_pushboolean(L, ok);
  return 1;
}

/* C4:urlCancelAll() → array of the cancelled ticket ids */
int l_urlCancelAll(lua_State *L) {
  url_state *us = c4_url_state(L);
  lua_newtable(L);
  int n = 0;
  for (;;) {
    url_xfer *x = c4_url_first(us);
    while (x && (x->finished || x->cancel_requested)) x = x->next;
    if (!x) break;
    lua_pushnumber(L, (lua_Number)x->ticket);
    lua_rawseti(L, -2, ++n);
    c4_url_cancel(x);
  }
  return 1;
}

/* C4:urlSetTimeout(seconds): the default total timeout of transfers started from now */
int l_urlSetTimeout(lua_State *L) {
  url_state *us = c4_url_state(L);
  lua_Number s = luaL_checknumber(L, 2);
  luaL_argcheck(L, s >= 0, 2, "seconds must be 0 or more");
  c4_url_set_default_timeout(us, (double)s);
  return 0;
}

/* C4:urlSetOption("max_host_connections", 1..5) / C4:urlSetOption("pipelining", bool) */
int l_urlSetOption(lua_State *L) {
  url_state *us = c4_url_state(L);
  const char *name = luaL_checkstring(L, 2);
  if (!strcmp(name, "max_host_connections")) {
    lua_Number n = luaL_checknumber(L, 3);
    /* Documented: outside 1-5 the current value is kept. */
    if (n >= 1 && n <= 5) c4_url_set_max_host_connections(us, (long)n);
  } else if (!strcmp(name, "pipelining")) {
    /* libcurl dropped HTTP/1.1 pipelining; the value is accepted and the
     * documented side effect (one connection per host) applied. */
    luaL_checkany(L, 3);
    if (lua_toboolean(L, 3)) c4_url_set_max_host_connections(us, 1);
  } else {
    return luaL_argerror(L, 2, lua_pushfstring(L, "unknown option '%s' (known: "
                                                  "max_host_connections, pipelining)", name));
  }
  return 0;
}

/* C4:urlGetTickets() → array of the ticket ids of running transfers */
int l_urlGetTickets(lua_State *L) {
  url_state *us = c4_url_state(L);
  lua_newtable(L);
  int n = 0;
  for (url_xfer *x = c4_url_first(us); x; x = x->next) {
    if (x->finished || x->cancel_requested) continue;
    lua_pushnumber(L, (lua_Number)x->ticket);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* C4:urlGetCookies([domain]) → {domain = {name = {domain=, path=, name=, value=,
 * secure=, wildcard=, expires=}}} */
int l_urlGetCookies(lua_State *L) {
  url_state *us = c4_url_state(L);
  const char *domain = c4_opt_string(L, 2, NULL);
  c4_url_push_cookies(L, us, domain);
  return 1;
}
