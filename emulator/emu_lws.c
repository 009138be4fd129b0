/*
 * emu_lws.c — the lws-on-libuv glue (see emu_lws.h).
 *
 * lws joins a loop it does not own through info.foreign_loops: it adds its
 * own uv handles (listen socket, connections, its timer) and, on
 * lws_context_destroy(), closes them asynchronously.  With lws 4.1 on a
 * foreign loop the context is freed only by a further lws_context_destroy()
 * once those handles have closed; lws writes NULL through info.pcontext when
 * it has.  emu_lws_free serves the loop with UV_RUN_NOWAIT between the calls
 * until then, so the driver's shutdown finds no lws handle and nothing leaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_lws.h"

struct emu_lws {
  struct lws_context *context; /* written NULL by lws when fully destroyed */
  uv_loop_t *loop;
  int port;
};

/* lws logs errors and warnings only, on stderr with a prefix. */
static void lws_log_line(int level, const char *line) {
  (void)level;
  fprintf(stderr, "[lws] %s", line);
}

emu_lws *emu_lws_new(uv_loop_t *loop, const char *addr, int port,
                     const struct lws_protocols *protocols, void *user,
                     char *err, size_t errsz) {
  emu_lws *w = calloc(1, sizeof *w);
  if (!w) {
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_line);
  void *loops[1] = {loop};
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = port;
  info.iface = addr;
  info.protocols = protocols;
  info.user = user;
  info.foreign_loops = loops;
  info.pcontext = &w->context;
  info.gid = -1;
  info.uid = -1;
  /* LIBUV: the foreign loop is libuv.  Security headers: a CSP of 'self'
   * (no inline script, nothing fetched from elsewhere), nosniff, no framing. */
  info.options = LWS_SERVER_OPTION_LIBUV |
                 LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                 (addr && !strchr(addr, ':') ? LWS_SERVER_OPTION_DISABLE_IPV6 : 0);
  w->loop = loop;
  w->context = lws_create_context(&info);
  if (!w->context) {
    snprintf(err, errsz, "cannot listen on %s:%d (address in use, or no such address)",
             addr ? addr : "*", port);
    free(w);
    return NULL;
  }
  /* lws 4.1 returns a context even when its listening vhost failed. */
  struct lws_vhost *vh = lws_get_vhost_by_name(w->context, "default");
  w->port = vh ? lws_get_vhost_listen_port(vh) : -1;
  if (w->port <= 0) {
    snprintf(err, errsz, "cannot listen on %s:%d (address in use, or no such address)",
             addr ? addr : "*", port);
    /* The failed listener's socket closes through the loop: let that finish
     * while the context still exists, then take the context down. */
    for (int i = 0; i < 8; i++) uv_run(loop, UV_RUN_NOWAIT);
    emu_lws_free(w);
    return NULL;
  }
  return w;
}

struct lws_context *emu_lws_context(emu_lws *w) { return w->context; }

int emu_lws_port(emu_lws *w) { return w->port; }

void emu_lws_free(emu_lws *w) {
  if (!w) return;
  if (w->context) lws_context_destroy(w->context);
  /* The first passes run the close callbacks of lws's handles; then each
   * further destroy call moves lws's takedown on until the context is freed. */
  for (int i = 0; w->context && i < 1000; i++) {
    uv_run(w->loop, UV_RUN_NOWAIT);
    if (w->context && i >= 4) lws_context_destroy(w->context);
  }
  if (w->context) fprintf(stderr, "[lws] context still closing at free\n");
  free(w);
}
