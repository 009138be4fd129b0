/*
 * c4_limits.h — the socket core's limits for one driver (issue 16): how much
 * may wait to be sent to a peer, how much unread input a C4LuaTcpClient
 * keeps, how long a flushing close may take, and after how long a quiet
 * CreateServer connection's undelimited partial payload is delivered.
 *
 * Each starts from an environment variable (unset: the default below; a bad
 * value is logged and the default used) and can be changed by the spec
 * module (d:set_send_limit ...) or the CLI (--server-flush-ms sets the
 * variable before the driver loads).  Values apply to connections made from
 * then on (the flush timeout: from the next quiet interval).
 *
 * The struct lives in the driver's Lua registry (a full userdata), so it goes
 * with the lua_State; connections copy what they need when they are made.
 */
#ifndef C4_LIMITS_H
#define C4_LIMITS_H

#include <stdint.h>

#include "emu.h"

#define C4_DEFAULT_MAX_QUEUED ((uint64_t)4 << 20) /* C4EMU_MAX_QUEUED */
#define C4_DEFAULT_MAX_UNREAD ((uint64_t)1 << 20) /* C4EMU_MAX_UNREAD */
#define C4_DEFAULT_CLOSE_MS 10000u                /* C4EMU_CLOSE_DEADLINE_MS */
#define C4_DEFAULT_FLUSH_MS 500u                  /* C4EMU_SERVER_FLUSH_MS; 0: never */

typedef struct {
  uint64_t max_queued;  /* send high-water mark per connection, bytes */
  uint64_t max_unread;  /* C4LuaTcpClient: unread input kept before reading pauses */
  uint64_t close_ms;    /* a flushing close gives up (reset) after this many ms */
  uint64_t flush_ms;    /* CreateServer: quiet interval before a partial payload goes */
} c4_net_limits;

/* The driver's limits, made from the environment at first use. */
c4_net_limits *c4_net_limits_of(emu_ctx *ctx);

#endif
