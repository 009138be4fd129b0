/*
 * emu_lws.h — libwebsockets on the driver's libuv loop (lws "foreign loop"):
 * one context that listens on addr:port, serves through the given protocols,
 * and is destroyed without leaving a handle in the loop.  The web console
 * uses it; fake HTTP devices can too.
 */
#ifndef EMU_LWS_H
#define EMU_LWS_H

#include <libwebsockets.h>
#include <uv.h>

typedef struct emu_lws emu_lws;

/*
 * Creates a context on `loop` listening on addr (numeric address; NULL: all
 * interfaces) and port (0: the OS picks).  protocols must outlive the
 * context; `user` is what lws_context_user() returns.  Returns NULL with a
 * reason in err.
 */
emu_lws *emu_lws_new(uv_loop_t *loop, const char *addr, int port,
                     const struct lws_protocols *protocols, void *user,
                     char *err, size_t errsz);
struct lws_context *emu_lws_context(emu_lws *w);
/* The port actually listened on. */
int emu_lws_port(emu_lws *w);
/* Destroys the context and runs the loop until lws has closed its handles.
 * NULL-safe. */
void emu_lws_free(emu_lws *w);

#endif
