/*
 * emu_web_int.h — what the two files of the web console share: emu_web.c
 * (HTTP, the WebSocket, per-client queues, start and stop) and emu_web_msg.c
 * (the messages: hello, log batches, properties, State, requests).
 */
#ifndef EMU_WEB_INT_H
#define EMU_WEB_INT_H

#include <limits.h>
#include <libwebsockets.h>

#include "emu_lws.h"
#include "emu_web.h"

#define WEB_RX_MAX     (1u << 20)  /* one incoming message */
#define WEB_LOG_BATCH  256         /* log lines per message */
#define WEB_LOG_HELLO  2000        /* recent lines a new page gets */
#define WEB_CAPTURE_MAX (256u << 10)
#define WEB_TICK_MS    500         /* properties and State refresh */
#define WEB_XML_MAX    (8u << 20)

typedef struct web_msg {
  struct web_msg *next;
  size_t len;
  unsigned char buf[]; /* LWS_PRE bytes of headroom, then the message */
} web_msg;

/* One WebSocket client: lws's per-session data. */
typedef struct web_client {
  struct web_client *next;
  struct lws *wsi;
  web_msg *head, *tail;
  size_t queued;
  bool dropped, linked;
  char *rx;
  size_t nrx;
} web_client;

typedef struct {
  emu_level lvl;
  uint64_t clock;
  char *text;
} web_line;

struct emu_web {
  emu_ctx *ctx;
  emu_lws *lws;
  lua_State *J;          /* the console's own state: cjson and messages */
  int cjson_ref, props_ref;
  web_client *clients;
  uv_timer_t tick, flush;
  bool timers_open;
  char token[33];
  char cookie[40];       /* c4emu_token_<port> */
  char assets[PATH_MAX];
  char *xml;             /* driver.xml, for the page to read its own way */
  web_line *batch;
  size_t nbatch, capbatch;
  bool sending;          /* inside a send to the clients: no nested flush */
  char *capture;         /* log lines during a console call */
  size_t ncapture;
  bool capturing;
  uint64_t advance_ms;
  /* issue 17 */
  char *hidden_sent;     /* the hidden properties last sent, "a\nb\n" (NULL: none sent) */
  /* s3-project: a project run; ctx is then the driver the pages chose */
  emu_world *world;
};


/* ---- emu_web.c ----------------------------------------------------------- */
/* Encodes the table on top of J, queues it for one client (all when c is
 * NULL) and pops it. */
void emu_web_send_top(emu_web *w, web_client *c);

/* ---- emu_web_msg.c ------------------------------------------------------- */
/* The host's log sink: lines go to the pages in batches (and to a console
 * call's captured output). */
void emu_web_log_sink(emu_ctx *ctx, emu_level lvl, const char *line);
void emu_web_flush_log(emu_web *w);
void emu_web_on_flush(uv_timer_t *t);
void emu_web_on_tick(uv_timer_t *t);
/* A new page's snapshot: driver, driver.xml, properties, recent log, State. */
void emu_web_send_hello(emu_web *w, web_client *c);
/* s3-project: driver.xml of the chosen driver (malloc'd; "" when none). */
char *emu_web_read_xml(emu_ctx *ctx);
/* One request from a page (JSON text). */
void emu_web_handle_message(emu_web *w, web_client *c, const char *s, size_t n);

#endif
