/*
 * c4_url_obj.c — C4:url() → a C4LuaUrl object: OnHeaders, OnBodyChunk,
 * OnBody, OnDone, SetOption(s), then Get / Post / Put / Delete / Custom;
 * Cancel and TicketId.
 *
 * Lifetime: the object is a userdata that holds its own state.  New: the
 * setters store callbacks (registry refs) and options.  Running: the
 * transfer holds a reference to the userdata, so a driver that drops the
 * object still gets its callbacks.  Done (completed, failed, cancelled): every
 * reference is dropped and the object cannot be used again (documented);
 * starting it again raises.
 *
 * Choices where the pages are silent (also in the README):
 *   - Cancel() on a running transfer calls OnDone(transfer, responses, -1,
 *     "Transfer aborted"), as an abort from a callback does; Cancel on a new
 *     or finished object only marks it unusable and calls nothing;
 *   - the setters raise once the transfer has started ("can only be called
 *     before a transfer was started");
 *   - a callback that raises is logged and recorded; the transfer goes on.
 *
 * DownloadFile(url, subdir, filename, headers) (s3-apis-b) is a Get whose
 * body streams into a file (no 4 MiB limit): the page says only OnDone is
 * called, with the responses' codes and headers and no body.  The file is
 * written under a temporary name in the same folder and renamed when the
 * transfer succeeds, so a failed or cancelled download leaves no file (and
 * an older file of that name stays until a download replaces it).  Only the
 * SANDBOX alias is writable in c4emu (C4Z is the read-only package folder;
 * MEDIA and LOGGING are not emulated): other aliases raise, as a name that
 * leaves the sandbox does.  The page's own example passes (url, filename):
 * c4emu takes that as SANDBOX, and also (url, filename, subdir) when the
 * third argument is an alias and the second is not ([A4]'s order).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "url/c4_url.h"
#include "file/c4_file.h"

#define URL_MT "C4LuaUrl"

typedef enum { U_NEW, U_RUNNING, U_DONE } url_status;

enum { CB_HEADERS, CB_CHUNK, CB_BODY, CB_DONE, CB__N };
static const char *const cb_names[CB__N] = {"OnHeaders", "OnBodyChunk", "OnBody", "OnDone"};

typedef struct {
  url_status status;
  url_xfer *x;            /* while running */
  emu_ctx *ctx;
  int cb[CB__N];
  int self_ref;           /* while running */
  int responses_ref;      /* while running: the array passed to OnDone */
  url_opts opt;
  bool has_opt;
  /* DownloadFile: the file being written (fd -1 when none) */
  bool download;
  int fd;
  char *tmp_path, *final_path;
} url_obj;

static url_obj *check_obj(lua_State *L) { return luaL_checkudata(L, 1, URL_MT); }

static url_obj *check_new(lua_State *L, const char *method) {
  url_obj *o = check_obj(L);
  if (o->status != U_NEW)
    luaL_error(L, "C4LuaUrl:%s can only be called before a transfer was started "
               "(a C4LuaUrl cannot be reused: create a new one with C4:url())", method);
  return o;
}

static void unref(lua_State *L, int *ref) {
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

static void drop_refs(lua_State *L, url_obj *o) {
  for (int i = 0; i < CB__N; i++) unref(L, &o->cb[i]);
  unref(L, &o->responses_ref);
  unref(L, &o->self_ref);
}

/* ---- delivery (the engine calls these outside libcurl's callbacks) ---- */

/* Pushes the response table of r (index i), creating it on first use. */
static void push_resp(lua_State *L, url_obj *o, url_xfer *x, size_t i) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, o->responses_ref);
  lua_rawgeti(L, -1, (int)i + 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushnumber(L, (lua_Number)x->resp[i].code);
    lua_setfield(L, -2, "code");
    c4_url_push_headers(L, x, &x->resp[i]);
    lua_setfield(L, -2, "headers");
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, (int)i + 1);
  }
  lua_remove(L, -2);
}

/* Calls callback `which` with (transfer, response [, chunk]); returns true
 * when it returned true (abort). */
static bool call_cb(url_obj *o, url_xfer *x, int which, size_t i, const char *chunk, size_t n) {
  lua_State *L = o->ctx->L;
  if (o->cb[which] == LUA_NOREF) return false;
  lua_rawgeti(L, LUA_REGISTRYINDEX, o->cb[which]);
  lua_rawgeti(L, LUA_REGISTRYINDEX, o->self_ref);
  push_resp(L, o, x, i);
  int nargs = 2;
  if (chunk) {
    lua_pushlstring(L, chunk, n);
    nargs = 3;
  }
  bool abort = false;
  if (emu_pcall(o->ctx, nargs, 1, cb_names[which]) == 0) {
    abort = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  emu_charge_stall(o->ctx);
  return abort;
}

/* Hands over response i: headers, new body bytes and, when complete, the
 * body.  Returns false when a callback aborted. */
static bool deliver(url_obj *o, url_xfer *x, size_t i, bool complete) {
  url_resp *r = &x->resp[i];
  if (!r->headers_sent && (r->hdr_done || complete)) {
    r->headers_sent = true;
    if (call_cb(o, x, CB_HEADERS, i, NULL, 0) || x->abort_requested) return false;
    r = &x->resp[i];
  }
  if (!r->headers_sent) return true;
  if (o->cb[CB_CHUNK] != LUA_NOREF && r->bodylen > 0) {
    /* Chunks are handed over and forgotten: no body key then. */
    char *b = r->body;
    size_t n = r->bodylen;
    r->body = NULL;
    r->bodylen = r->bodycap = 0;
    bool abort = call_cb(o, x, CB_CHUNK, i, b, n);
    free(b);
    if (abort || x->abort_requested) return false;
    r = &x->resp[i];
  }
  if (complete && !r->body_sent_all) {
    r->body_sent_all = true;
    if (o->cb[CB_CHUNK] == LUA_NOREF) {
      lua_State *L = o->ctx->L;
      push_resp(L, o, x, i);
      lua_pushlstring(L, r->body ? r->body : "", r->bodylen);
      lua_setfield(L, -2, "body");
      lua_pop(L, 1);
    }
    if (call_cb(o, x, CB_BODY, i, NULL, 0) || x->abort_requested) return false;
  }
  return true;
}

/* DownloadFile: closes the file; keeps it under its name when keep, else
 * removes it.  Returns 0, or errno when the rename failed. */
static int download_end(url_obj *o, bool keep) {
  int rc = 0;
  if (o->fd >= 0) {
    if (close(o->fd) != 0 && keep) rc = errno;
    o->fd = -1;
    if (keep && !rc && rename(o->tmp_path, o->final_path) != 0) rc = errno;
    if (!keep || rc) unlink(o->tmp_path);
  }
  free(o->tmp_path);
  free(o->final_path);
  o->tmp_path = o->final_path = NULL;
  return rc;
}

static bool obj_progress(url_xfer *x) {
  url_obj *o = x->fe_data;
  if (o->download) return true; /* only OnDone is called */
  for (size_t i = 0; i < x->nresp; i++)
    if (!deliver(o, x, i, i + 1 < x->nresp)) return false;
  return true;
}

static void obj_done(url_xfer *x, int code, const char *msg) {
  url_obj *o = x->fe_data;
  lua_State *L = o->ctx->L;
  o->status = U_DONE;
  o->x = NULL;
  char why[200];
  if (o->download) {
    int e = download_end(o, code == 0);
    if (e) {
      snprintf(why, sizeof why, "writing the downloaded file failed: %s", strerror(e));
      code = CURLE_WRITE_ERROR;
      msg = why;
    }
    for (size_t i = 0; i < x->nresp && o->cb[CB_DONE] != LUA_NOREF; i++) {
      push_resp(L, o, x, i);  /* code and headers, no body */
      lua_pop(L, 1);
    }
  } else if (code == 0) {
    for (size_t i = 0; i < x->nresp; i++)
      if (!deliver(o, x, i, true)) {
        code = URL_ERR_ABORTED;
        msg = "Transfer aborted";
        break;
      }
  }
  if (o->cb[CB_DONE] != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, o->cb[CB_DONE]);
    lua_rawgeti(L, LUA_REGISTRYINDEX, o->self_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, o->responses_ref);
    lua_pushinteger(L, code);
    if (code == 0) lua_pushnil(L);
    else lua_pushstring(L, msg ? msg : "transfer failed");
    emu_pcall(o->ctx, 4, 0, "OnDone");
    emu_charge_stall(o->ctx);
  }
}

static void obj_release(url_xfer *x) {
  url_obj *o = x->fe_data;
  download_end(o, false);  /* cancelled or shut down: no file */
  o->status = U_DONE;
  o->x = NULL;
  drop_refs(o->ctx->L, o);
}

static const url_frontend obj_fe = {obj_progress, obj_done, obj_release};

/* ---- Lua methods -------------------------------------------------------- */

static int set_cb(lua_State *L, int which) {
  url_obj *o = check_new(L, cb_names[which]);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  unref(L, &o->cb[which]);
  lua_pushvalue(L, 2);
  o->cb[which] = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 1);
  return 1;
}

/* transfer:OnHeaders(fn(transfer, response)) → transfer */
static int l_Url_OnHeaders(lua_State *L) { return set_cb(L, CB_HEADERS); }
/* transfer:OnBodyChunk(fn(transfer, response, chunk)) → transfer */
static int l_Url_OnBodyChunk(lua_State *L) { return set_cb(L, CB_CHUNK); }
/* transfer:OnBody(fn(transfer, response)) → transfer */
static int l_Url_OnBody(lua_State *L) { return set_cb(L, CB_BODY); }
/* transfer:OnDone(fn(transfer, responses, errCode, errMsg)) → transfer */
static int l_Url_OnDone(lua_State *L) { return set_cb(L, CB_DONE); }

static void ensure_opt(lua_State *L, url_obj *o) {
  if (o->has_opt) return;
  c4_url_opts_default(c4_url_state(L), &o->opt);
  o->has_opt = true;
}

/* transfer:SetOption(name, value) → transfer */
static int l_Url_SetOption(lua_State *L) {
  url_obj *o = check_new(L, "SetOption");
  const char *name = luaL_checkstring(L, 2);
  luaL_checkany(L, 3);
  ensure_opt(L, o);
  c4_url_opt_set(L, &o->opt, name, 3);
  lua_settop(L, 1);
  return 1;
}

/* transfer:SetOptions(options) → transfer */
static int l_Url_SetOptions(lua_State *L) {
  url_obj *o = check_new(L, "SetOptions");
  luaL_checktype(L, 2, LUA_TTABLE);
  ensure_opt(L, o);
  c4_url_opts_table(L, &o->opt, 2);
  lua_settop(L, 1);
  return 1;
}

/* Starts the transfer: (url, method, body or NULL, headers at index hi). */
static int start(lua_State *L, const char *api, const char *method, int body_i, int hdr_i) {
  url_obj *o = check_new(L, api);
  lua_settop(L, hdr_i);
  const char *url = luaL_checkstring(L, 2);
  size_t blen = 0;
  const char *body = body_i ? c4_opt_string(L, body_i, &blen) : NULL;
  struct curl_slist *h = c4_url_headers(L, hdr_i);
  url_state *us = c4_url_state(L);
  ensure_opt(L, o);
  lua_newtable(L);
  o->responses_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, 1);
  o->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  o->status = U_RUNNING;
  o->has_opt = false; /* the transfer owns them now */
  char err[512];
  o->x = c4_url_start(us, url, method, body, blen, h, &o->opt, &obj_fe, o, err, sizeof err);
  if (!o->x) {
    o->status = U_DONE;
    drop_refs(L, o);
    download_end(o, false);
    return luaL_error(L, "C4LuaUrl:%s: %s", api, err);
  }
  if (o->download) c4_url_set_sink(o->x, o->fd);
  lua_settop(L, 1);
  return 1;
}

/* transfer:Get(url [, headers]) → transfer */
static int l_Url_Get(lua_State *L) { return start(L, "Get", "GET", 0, 3); }
/* transfer:Post(url, data [, headers]) → transfer */
static int l_Url_Post(lua_State *L) { return start(L, "Post", "POST", 3, 4); }
/* transfer:Put(url, data [, headers]) → transfer */
static int l_Url_Put(lua_State *L) { return start(L, "Put", "PUT", 3, 4); }
/* transfer:Delete(url [, headers]) → transfer */
static int l_Url_Delete(lua_State *L) { return start(L, "Delete", "DELETE", 0, 3); }

/* transfer:Custom(url, method, data [, headers]) → transfer */
static int l_Url_Custom(lua_State *L) {
  char method[64];
  c4_url_take_method(L, 3, method, sizeof method);
  return start(L, "Custom", method, 3, 4);
}

static bool alias_name(const char *s) {
  return s && (!strcmp(s, "SANDBOX") || !strcmp(s, "C4Z") || !strcmp(s, "MEDIA") ||
               !strcmp(s, "LOGGING"));
}

static bool is_alias(lua_State *L, int i) {
  return lua_type(L, i) == LUA_TSTRING && alias_name(lua_tostring(L, i));
}

/* Resolves (subdir, filename) to the final path in the sandbox and opens the
 * temporary file beside it; raises when the name may not be written. */
static void download_open(lua_State *L, url_obj *o, const char *subdir, const char *filename) {
  emu_ctx *ctx = emu_ctx_of(L);
  if (strcmp(subdir, "SANDBOX") != 0)
    luaL_error(L, "C4LuaUrl:DownloadFile: %s '%s': c4emu writes downloads to the SANDBOX "
               "alias only%s", alias_name(subdir) ? "path alias" : "unknown path alias",
               subdir, !strcmp(subdir, "C4Z") ? " (the package folder is read-only)" : "");
  char real[PATH_MAX], err[PATH_MAX + 200];
  c4_root root;
  if (c4_path_confine(ctx, ctx->sandbox_dir ? ctx->sandbox_dir : "/nonexistent", filename, real,
                      sizeof real, &root, err, sizeof err) != 0)
    luaL_error(L, "C4LuaUrl:DownloadFile: %s", err);
  if (root != C4_ROOT_SANDBOX)
    luaL_error(L, "C4LuaUrl:DownloadFile: '%s' is not in the sandbox", filename);
  size_t dlen = (size_t)(strrchr(real, '/') - real);
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%.*s/.c4emu-download-XXXXXX", (int)dlen, real) >= (int)sizeof tmp)
    luaL_error(L, "C4LuaUrl:DownloadFile: '%s': path too long", filename);
  o->tmp_path = strdup(tmp);
  o->final_path = strdup(real);
  if (!o->tmp_path || !o->final_path) {
    download_end(o, false);
    luaL_error(L, "C4LuaUrl:DownloadFile: out of memory");
  }
  o->fd = mkstemp(o->tmp_path);
  if (o->fd < 0) {
    int e = errno;
    download_end(o, false);
    luaL_error(L, "C4LuaUrl:DownloadFile: cannot create '%s': %s", filename, strerror(e));
  }
  o->download = true;
}

/* transfer:DownloadFile(url, subdir, filename [, headers]) → nothing (the
 * page); also (url, filename [, headers]) and (url, filename, subdir
 * [, headers]). */
static int l_Url_DownloadFile(lua_State *L) {
  url_obj *o = check_obj(L);
  /* Object methods are not left out by OS version as C4's are (one
   * metatable serves every version): an older controller has no such
   * method, so the call fails there, and here with the reason. */
  c4_osver since, os = emu_ctx_of(L)->os;
  if (!c4_api_on(os, "C4LuaUrl:DownloadFile", &since)) {
    char now[16], added[16];
    return luaL_error(L, "C4LuaUrl:DownloadFile is not available on OS %s (added in OS %s)",
                      c4_osver_format(os, now, sizeof now), c4_osver_format(since, added, sizeof added));
  }
  check_new(L, "DownloadFile");
  luaL_checkstring(L, 2);
  const char *subdir = "SANDBOX", *filename;
  int hdr_i;
  if (lua_type(L, 4) == LUA_TSTRING) {
    bool a4_order = !is_alias(L, 3) && is_alias(L, 4);
    subdir = c4_check_cstring(L, a4_order ? 4 : 3, "subdir");
    filename = c4_check_cstring(L, a4_order ? 3 : 4, "filename");
    hdr_i = 5;
  } else {
    filename = c4_check_cstring(L, 3, "filename");
    hdr_i = 4;
  }
  if (!lua_isnoneornil(L, hdr_i) && !lua_istable(L, hdr_i) && lua_type(L, hdr_i) != LUA_TSTRING)
    luaL_typerror(L, hdr_i, "table of headers");
  download_open(L, o, subdir, filename);
  if (hdr_i != 3) { /* start() reads the headers at index 3 */
    lua_pushvalue(L, hdr_i);
    lua_replace(L, 3);
  }
  start(L, "DownloadFile", "GET", 0, 3);
  lua_settop(L, 0);
  return 0;
}

/* transfer:Cancel() → transfer */
static int l_Url_Cancel(lua_State *L) {
  url_obj *o = check_obj(L);
  if (o->status == U_RUNNING && o->x) c4_url_abort(o->x);
  else if (o->status == U_NEW) {
    o->status = U_DONE;
    drop_refs(L, o);
    if (o->has_opt) c4_url_opts_free(&o->opt);
    o->has_opt = false;
  }
  lua_settop(L, 1);
  return 1;
}

/* transfer:TicketId() → number (0 when not running) */
static int l_Url_TicketId(lua_State *L) {
  url_obj *o = check_obj(L);
  lua_pushnumber(L, o->status == U_RUNNING && o->x ? (lua_Number)o->x->ticket : 0);
  return 1;
}

static int url_gc(lua_State *L) {
  url_obj *o = check_obj(L);
  /* A running object is anchored by its transfer, so only new or done
   * ones are collected: nothing native to stop. */
  if (o->has_opt) c4_url_opts_free(&o->opt);
  o->has_opt = false;
  if (o->status == U_NEW) drop_refs(L, o);
  download_end(o, false);
  return 0;
}

static int url_tostring(lua_State *L) {
  url_obj *o = check_obj(L);
  static const char *const st[] = {"new", "running", "done"};
  lua_pushfstring(L, "C4LuaUrl (%s, ticket %d)", st[o->status],
                  o->x ? (int)o->x->ticket : 0);
  return 1;
}

/* C4:url() → C4LuaUrl */
int l_url(lua_State *L) {
  url_state *us = c4_url_state(L);
  url_obj *o = lua_newuserdata(L, sizeof *o);
  memset(o, 0, sizeof *o);
  o->ctx = c4_url_ctx(us);
  for (int i = 0; i < CB__N; i++) o->cb[i] = LUA_NOREF;
  o->self_ref = o->responses_ref = LUA_NOREF;
  o->fd = -1;
  luaL_getmetatable(L, URL_MT);
  lua_setmetatable(L, -2);
  return 1;
}

static const luaL_Reg url_methods[] = {
    {"OnHeaders", l_Url_OnHeaders}, {"OnBodyChunk", l_Url_OnBodyChunk},
    {"OnBody", l_Url_OnBody},       {"OnDone", l_Url_OnDone},
    {"SetOption", l_Url_SetOption}, {"SetOptions", l_Url_SetOptions},
    {"Get", l_Url_Get},             {"Post", l_Url_Post},
    {"Put", l_Url_Put},             {"Delete", l_Url_Delete},
    {"Custom", l_Url_Custom},       {"Cancel", l_Url_Cancel},
    {"TicketId", l_Url_TicketId},
    /* s3-apis-b */
    {"DownloadFile", l_Url_DownloadFile},
    {NULL, NULL},
};

void c4_url_obj_open(lua_State *L, emu_ctx *ctx) {
  (void)ctx;
  emu_class_new(L, URL_MT, url_methods, url_gc, url_tostring);
  lua_pop(L, 1);
}
