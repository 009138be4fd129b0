/*
 * c4_server.h — what c4_server.c (the C4:CreateServer family) offers to other
 * files: C4:CreateTLSServer creates its servers through c4_server_create (same
 * handles, framing and callbacks), and the spec module lists servers for
 * d:servers() and sets the payload cap.
 */
#ifndef C4_SERVER_H
#define C4_SERVER_H

#include <openssl/ssl.h>

#include "c4api.h"

typedef struct {
  int port;
  const char *protocol;    /* "tcp", "udp" or "tls" */
  const char *identifier;  /* NULL when none was given */
  int clients;             /* connections open (not yet OFFLINE) */
  /* issue 16 */
  size_t queued;           /* bytes written to its clients, not yet taken by the kernel */
  size_t pending;          /* bytes of unfinished (undelimited) payloads held */
} c4_server_info;

/*
 * Creates a server of the calling driver and pushes CreateServer's results:
 * true, or false and a message.  tls: a server SSL_CTX (the server takes its
 * own reference) or NULL; udp and tls exclude each other.  delim may be NULL.
 * Returns the number of values pushed.
 */
int c4_server_create(lua_State *L, int port, const char *delim, size_t dlen, bool udp,
                     SSL_CTX *tls, const char *identifier);

/* Calls fn for each live server of the driver, in creation order. */
void c4_server_each(emu_ctx *ctx, void (*fn)(const c4_server_info *s, void *ud), void *ud);

/* Cap on a payload without a delimiter for connections accepted from now on
 * (0: the default, 1 MiB; the C4EMU_MAX_PAYLOAD environment variable sets the
 * starting value).  Returns the previous cap. */
size_t c4_server_set_max_payload(emu_ctx *ctx, size_t bytes);
/* The largest cap C4EMU_MAX_PAYLOAD may ask for (1 GiB). */
#define C4_MAX_PAYLOAD_LIMIT ((uint64_t)1 << 30)

/* How long a TLS client may take over its handshake, for servers created from
 * now on (0: the default, 10 s; the C4EMU_TLS_HANDSHAKE_MS environment
 * variable sets the starting value).  Returns the previous value in ms. */
unsigned c4_server_set_handshake_timeout(emu_ctx *ctx, unsigned ms);

#endif
