/*
 * emu_lws.c — the one place that knows how libwebsockets shares a libuv
 * loop (see emu_lws.h).  lws logs only errors, on stderr.
 */
#include <stdbool.h>
#include <string.h>

#include "emu_lws.h"

struct lws_context *emu_lws_create(uv_loop_t *loop, struct lws_context_creation_info *info,
                                   struct lws_context **pcontext) {
  static bool log_set;
  if (!log_set) {
    lws_set_log_level(LLL_ERR, NULL);
    log_set = true;
  }
  static void *loops[1];
  loops[0] = loop; /* lws reads the array during create only */
  info->options |= LWS_SERVER_OPTION_LIBUV;
  if (info->ssl_cert_filepath || info->server_ssl_cert_mem)
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info->foreign_loops = loops;
  info->pcontext = pcontext;
  *pcontext = lws_create_context(info);
  return *pcontext;
}

void emu_lws_destroy(uv_loop_t *loop, struct lws_context **pcontext) {
  if (!*pcontext) return;
  /* On a foreign loop destruction goes in steps: the first call closes the
   * connections and lws's handles; once their close callbacks have run, a
   * further call frees the context (lws then clears *pcontext). */
  int i = 0;
  for (; *pcontext && i < 1000; i++) {
    if (i % 10 == 0) {
      lws_context_destroy(*pcontext);
    }
    if (*pcontext) uv_run(loop, UV_RUN_NOWAIT);
  }
}
