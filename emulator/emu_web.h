/*
 * emu_web.h — the web console of `c4emu run --web` (emu_web.c): HTTP and a
 * WebSocket on the driver's own loop (libwebsockets, emu_lws.c).
 */
#ifndef EMU_WEB_H
#define EMU_WEB_H

#include "emu_host.h"

typedef struct emu_web emu_web;

/* Bound on what one console client may have waiting to be sent; a client
 * that falls further behind is dropped (its page reconnects). */
#define EMU_WEB_QUEUE_MAX (4u << 20)

/* Starts serving on addr:port (port 0: the OS picks).  Writes the URL to open
 * (with its token) into url.  Returns NULL with a reason in err. */
emu_web *emu_web_start(emu_ctx *ctx, const char *addr, int port, char *url, size_t urlsz,
                       char *err, size_t errsz);
/* Stops serving, drops the clients and frees everything.  NULL-safe. */
void emu_web_stop(emu_web *w);
/* Virtual clock: milliseconds the console asked to advance since the last
 * call (the CLI's loop advances the clock outside any libuv callback). */
uint64_t emu_web_take_advance(emu_web *w);
/* Sends changed properties and the State view to the pages now. */
void emu_web_refresh(emu_web *w);

/* ---- emu_web_lua.c ------------------------------------------------------- */
/* Runs code in the driver's state as the Lua tab does: an expression's values
 * or a chunk's results.  Pushes onto J a table {ok=, values=, error=} where
 * values is the results pretty-printed, one per line. */
void emu_web_run_lua(emu_ctx *ctx, const char *code, size_t len, lua_State *J);

#endif
