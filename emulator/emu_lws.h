/*
 * emu_lws.h — libwebsockets on a libuv loop the emulator already owns (a
 * "foreign" loop): create a context there, destroy it cleanly.  The spec's
 * HTTP fake devices use it; so can the web console.
 */
#ifndef EMU_LWS_H
#define EMU_LWS_H

#include <libwebsockets.h>
#include <uv.h>

/*
 * Creates a context on `loop` from info (its options get the libuv flag and
 * the foreign loop; TLS global init when a certificate is set).  *pcontext is
 * set now and cleared by lws when destruction has fully completed.  Returns
 * the context, or NULL.
 */
struct lws_context *emu_lws_create(uv_loop_t *loop, struct lws_context_creation_info *info,
                                   struct lws_context **pcontext);

/*
 * Destroys the context and serves the loop until lws has closed its handles
 * (*pcontext is NULL then), so nothing of it is left on the loop.  NULL-safe.
 */
void emu_lws_destroy(uv_loop_t *loop, struct lws_context **pcontext);

#endif
