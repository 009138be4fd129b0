/*
 * c4_url.h — what the three files of the url family share: the per-driver
 * transfer engine (c4_url_engine.c: libcurl's multi-socket interface on the
 * driver's libuv loop), the C4:url() object (c4_url_obj.c) and the legacy
 * C4:urlGet family (c4_url_legacy.c).
 *
 * Plain-data arguments (options, headers, method names) are read in
 * c4_url_opts.c.
 *
 * A transfer (url_xfer) is native memory owned by the engine from start to
 * finish.  libcurl callbacks only record what arrived (headers, body bytes);
 * the engine hands it to Lua after curl_multi_socket_action returns, so a
 * driver callback may start, cancel or abort transfers freely (libcurl forbids
 * calling its multi API from inside its own callbacks).
 */
#ifndef C4_URL_H
#define C4_URL_H

#include <curl/curl.h>

#include "c4api.h"

#define URL_BODY_LIMIT 4194304u  /* documented for C4:url():Get and friends */
#define URL_ERR_ABORTED (-1)     /* OnDone's errCode when a callback aborted */

typedef struct url_state url_state;
typedef struct url_xfer url_xfer;

/* One response of a transfer (a redirect adds one per hop). */
typedef struct {
  long code;
  char *hdr;              /* raw header lines, "Name: value\r\n" each */
  size_t hdrlen, hdrcap;
  bool hdr_done;          /* the blank line arrived */
  char *body;
  size_t bodylen, bodycap;
  size_t body_sent;       /* OnBodyChunk: bytes already handed over */
  bool headers_sent, body_sent_all;
  int ref;                /* C4:url(): the response table, once built */
} url_resp;

/* Options of one transfer (SetOption(s) keys, urlGet's flags). */
typedef struct {
  bool fail_on_error;
  double timeout_s, connect_timeout_s;
  bool verify_host, verify_peer;
  char *cabundle, *cert, *cert_type, *key, *passwd;
  char **cacerts;
  size_t ncacerts;
  bool dup_headers;
  bool cookies_enable, cookies_use_jar, cookies_save_to_jar, cookies_clear_session;
  bool follow;            /* legacy autoRedirect; C4:url() follows */
} url_opts;

typedef enum { XF_OBJECT, XF_LEGACY } url_kind;

/* Delivery hooks: the object and the legacy front ends implement them. */
typedef struct {
  /* Hands over what arrived since last time; returns false when the driver
   * aborted the transfer (the engine then finishes it with -1). */
  bool (*progress)(url_xfer *x);
  /* The transfer is over: result 0, a CURLcode, or URL_ERR_ABORTED. */
  void (*done)(url_xfer *x, int code, const char *msg);
  /* Drops the front end's references (no Lua call). */
  void (*release)(url_xfer *x);
} url_frontend;

struct url_xfer {
  url_state *us;
  url_xfer *prev, *next;
  const url_frontend *fe;
  void *fe_data;          /* the front end's own record */
  CURL *easy;
  struct curl_slist *req_headers;
  long ticket;
  url_opts opt;
  emu_sched *deadline;
  uint64_t started_ms;
  url_resp *resp;
  size_t nresp, capresp;
  size_t total_body;
  bool over_limit, denied, timed_out, finished;
  bool delivering;        /* the front end's progress() runs */
  bool abort_requested, cancel_requested;
  char errbuf[CURL_ERROR_SIZE];
  char denied_host[64];
  /* s3-apis-b: C4LuaUrl:DownloadFile streams the body into a file */
  bool sink;              /* the body goes to sink_fd, not to resp[].body */
  int sink_fd;            /* owned by the front end */
  int sink_errno;         /* a write to it failed */
};

/* ---- the engine (c4_url_engine.c) ------------------------------------- */
url_state *c4_url_state(lua_State *L);      /* raises once the driver is gone */
emu_ctx *c4_url_ctx(url_state *us);
/*
 * Starts a transfer: method "GET", "POST", ... (already checked), body may be
 * NULL.  Takes the options and headers.  Returns the transfer, or NULL with
 * a reason in err (the options are freed then).
 */
url_xfer *c4_url_start(url_state *us, const char *url, const char *method, const char *body,
                       size_t bodylen, struct curl_slist *headers, url_opts *opt,
                       const url_frontend *fe, void *fe_data, char *err, size_t errsz);
/* Stops a running transfer without any callback; frees it (later, when
 * one of its own callbacks is running). */
void c4_url_cancel(url_xfer *x);
/* Aborts it: done(URL_ERR_ABORTED, "Transfer aborted"), then frees it. */
void c4_url_abort(url_xfer *x);
/* s3-apis-b: sends the body of x to fd (not kept in memory, no body limit);
 * call it right after c4_url_start, before the loop runs.  The front end
 * keeps and closes fd. */
void c4_url_set_sink(url_xfer *x, int fd);
url_xfer *c4_url_find(url_state *us, long ticket);
url_xfer *c4_url_first(url_state *us);

/* Pushes the headers of r as a table (duplicates: last wins, or arrays). */
void c4_url_push_headers(lua_State *L, const url_xfer *x, const url_resp *r);
/* The driver's cookie jar, for urlGetCookies: pushes the table. */
void c4_url_push_cookies(lua_State *L, url_state *us, const char *domain);
void c4_url_set_default_timeout(url_state *us, double s);
void c4_url_set_max_host_connections(url_state *us, long n);

/* ---- arguments (c4_url_opts.c) ----------------------------------------- */

void c4_url_opts_default(url_state *us, url_opts *o);
void c4_url_opts_free(url_opts *o);
/* Pushes a userdata holding empty options that __gc frees (for calls whose
 * argument checks may raise half-way). */
url_opts *c4_url_opts_box(lua_State *L);
/* Applies one option (name, value at index v); raises on a bad key or value. */
void c4_url_opt_set(lua_State *L, url_opts *o, const char *name, int v);
/* Applies a table of options at index t. */
void c4_url_opts_table(lua_State *L, url_opts *o, int t);
/* Request headers at index i: a table {name = value} or a string of
 * "Name: value" lines; nil or absent for none.  Raises otherwise. */
struct curl_slist *c4_url_headers(lua_State *L, int i);
/* Argument i as an HTTP method name (an RFC 9110 token shorter than n):
 * copied to out and removed from the stack; raises otherwise. */
void c4_url_take_method(lua_State *L, int i, char *out, size_t n);

/* ---- the front ends ---------------------------------------------------- */
void c4_url_obj_open(lua_State *L, emu_ctx *ctx);   /* c4_url_obj.c */
int l_url(lua_State *L);                            /* C4:url() */
/* c4_url_legacy.c */
int l_urlGet(lua_State *L);
int l_urlPost(lua_State *L);
int l_urlPut(lua_State *L);
int l_urlDelete(lua_State *L);
int l_urlCustom(lua_State *L);
int l_urlCancel(lua_State *L);
int l_urlCancelAll(lua_State *L);
int l_urlSetTimeout(lua_State *L);
int l_urlSetOption(lua_State *L);
int l_urlGetTickets(lua_State *L);
int l_urlGetCookies(lua_State *L);

#endif
