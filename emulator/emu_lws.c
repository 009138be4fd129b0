/*
 * emu_lws.c — the one place that knows how libwebsockets shares a libuv loop
 * (see emu_lws.h).
 *
 * lws joins a loop it does not own through info.foreign_loops: it adds its
 * own uv handles (listen socket, connections, its timer) and, on
 * lws_context_destroy(), closes them asynchronously.  With lws 4.1 on a
 * foreign loop the context is freed only by a further lws_context_destroy()
 * once those handles have closed; lws writes NULL through info.pcontext when
 * it has.  emu_lws_destroy serves the loop with UV_RUN_NOWAIT between the
 * calls until then, so the driver's shutdown finds no lws handle and nothing
 * leaks.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_lws.h"

/* lws logs errors and warnings only, on stderr with a prefix. */
static void lws_log_line(int level, const char *line) {
  (void)level;
  fprintf(stderr, "[lws] %s", line);
}

struct lws_context *emu_lws_create(uv_loop_t *loop, struct lws_context_creation_info *info,
                                   struct lws_context **pcontext) {
  static bool log_set;
  if (!log_set) {
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_line);
    log_set = true;
  }
  void *loops[1] = {loop}; /* lws reads the array during create only */
  info->options |= LWS_SERVER_OPTION_LIBUV;
  if (info->ssl_cert_filepath || info->server_ssl_cert_mem)
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info->foreign_loops = loops;
  info->pcontext = pcontext;
  *pcontext = lws_create_context(info);
  info->foreign_loops = NULL;
  return *pcontext;
}

void emu_lws_destroy(uv_loop_t *loop, struct lws_context **pcontext) {
  if (!*pcontext) return;
  lws_context_destroy(*pcontext);
  /* The first passes run the close callbacks of lws's handles; then each
   * further destroy call moves lws's takedown on until the context is freed. */
  for (int i = 0; *pcontext && i < 1000; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    if (*pcontext && i >= 4) lws_context_destroy(*pcontext);
  }
  if (*pcontext) fprintf(stderr, "[lws] context still closing at free\n");
}

struct emu_lws {
  struct lws_context *context; /* written NULL by lws when fully destroyed */
  uv_loop_t *loop;
  int port;
};

emu_lws *emu_lws_new(uv_loop_t *loop, const char *addr, int port,
                     const struct lws_protocols *protocols, void *user,
                     char *err, size_t errsz) {
  emu_lws *w = calloc(1, sizeof *w);
  if (!w) {
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = port;
  info.iface = addr;
  info.protocols = protocols;
  info.user = user;
  info.gid = -1;
  info.uid = -1;
  info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                 (addr && !strchr(addr, ':') ? LWS_SERVER_OPTION_DISABLE_IPV6 : 0);
  w->loop = loop;
  if (!emu_lws_create(loop, &info, &w->context)) {
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
  emu_lws_destroy(w->loop, &w->context);
  free(w);
}
