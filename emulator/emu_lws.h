/*
 * emu_lws.h — libwebsockets on a libuv loop the emulator already owns (lws's
 * "foreign loop"): create a context there and destroy it without leaving a
 * handle in the loop.  The spec's HTTP fake devices (emu_httpdev.c) use the
 * low-level pair; the web console (emu_web.c) uses the listening helper.
 */
#ifndef EMU_LWS_H
#define EMU_LWS_H

#include <libwebsockets.h>
#include <uv.h>

/*
 * Creates a context on `loop` from info: its options get the libuv flag and
 * the foreign loop (and TLS global init when a certificate is set).
 * *pcontext is set now and cleared by lws once destruction has completed.
 * Returns the context, or NULL.
 */
struct lws_context *emu_lws_create(uv_loop_t *loop, struct lws_context_creation_info *info,
                                   struct lws_context **pcontext);

/* Destroys the context and serves the loop until lws has closed its handles
 * (*pcontext is NULL then).  NULL-safe. */
void emu_lws_destroy(uv_loop_t *loop, struct lws_context **pcontext);

/* ---- a listening context (the web console) ------------------------------ */
typedef struct emu_lws emu_lws;

/*
 * A context on `loop` listening on addr (numeric address; NULL: all
 * interfaces) and port (0: the OS picks), with security headers (a CSP of
 * 'self', nosniff, no framing).  protocols must outlive the context; `user`
 * is what lws_context_user() returns.  NULL with a reason in err.
 */
emu_lws *emu_lws_new(uv_loop_t *loop, const char *addr, int port,
                     const struct lws_protocols *protocols, void *user,
                     char *err, size_t errsz);
struct lws_context *emu_lws_context(emu_lws *w);
/* The port actually listened on. */
int emu_lws_port(emu_lws *w);
/* emu_lws_destroy, then frees w.  NULL-safe. */
void emu_lws_free(emu_lws *w);

#endif
