/*
 * c4_tcpclient.h — the C4LuaTcpClient struct, shared by c4_tcpclient.c (the
 * object, its connection events, Connect / Write / Close ...) and
 * c4_tcpread.c (the receive buffer and the one-shot reads).  Private to
 * those two files.
 */
#ifndef C4_TCPCLIENT_H
#define C4_TCPCLIENT_H

#include "tcp/c4_tcp.h"

#define MAX_AT_LEAST (1024u << 10)   /* ReadAtLeast: "limited to 1024 kb" */
#define MAX_UP_TO (4096u << 10)      /* ReadUpTo: "limited to 4096 kb" */
#define MATCHER_KEY "ReadUntil matcher"

enum { CL_IDLE, CL_CONNECTING, CL_OPEN, CL_CLOSING, CL_ENDED };
enum { R_NONE, R_UNTIL, R_MATCH, R_ONEOF, R_NOTOF, R_ATLEAST, R_UPTO };

typedef struct tcp_client {
  tcp_obj o;                 /* first: a tcp_obj * is a tcp_client * */
  int state;
  c4_conn *conn;             /* NULL once closed (ev->closed) or never connected */
  bool outgoing;
  bool eof;                  /* the peer finished sending */
  bool write_pending;        /* written data not yet handed to the kernel */
  bool in_service;           /* delivering reads: re-arming needs no kick */
  bool paused, warned_full;
  int next_ep;               /* outgoing, default choice: the endpoint to try next */
  /* the armed read */
  int rmode;
  char *delim;               /* dsmall, or malloc'd when longer */
  char dsmall[16];
  size_t dlen;
  size_t scan;               /* where the search for the read goes on */
  size_t rn;                 /* ReadAtLeast / ReadUpTo */
  size_t match_seen;         /* matcher: buffer length it last saw */
  unsigned char set[32];     /* ReadUntilOneOf / OneNotOf */
  /* received, not yet delivered: buf[off .. off+len) */
  char *buf;
  size_t off, len, cap;
  size_t max_unread;         /* the unread cap (c4_limits.h): reading pauses past it, and an
                                armed read it cannot satisfy gets the buffer as it is */
  /* written before the connection was up */
  char *pre;
  size_t prelen, precap;
  /* options: -1 unset */
  signed char nodelay, keepalive, linger;
  int keepalive_secs, linger_secs;
  char peer_ip[64], local_ip[64];
  int peer_port, local_port;
} tcp_client;

/* Reads and options are refused (nil) once the client is closing. */
static inline bool tcp_can_read(const tcp_client *c) {
  return c->state != CL_CLOSING && c->state != CL_ENDED;
}

/* The client behind argument 1, or raises. */
tcp_client *tcp_check_client(lua_State *L);
/* Pushes nil and "C4LuaTcpClient:<method>: <why>"; returns 2. */
int tcp_client_fail(lua_State *L, const char *method, const char *why);

/* ---- c4_tcpread.c ------------------------------------------------------------------ */
/* Appends received bytes; false when out of memory. */
bool tcp_buf_append(tcp_client *c, const char *p, size_t n);
/* Disarms the read (one-shot, or replaced, or closing). */
void tcp_read_disarm(tcp_client *c);
/* Delivers every read the buffer satisfies (and, once the connection can
 * bring nothing more, the partial payload).  From the loop only. */
void tcp_client_service(tcp_client *c);
/* The ReadUntil matcher's results (matched, count) at stack index `first`:
 * tcp_matcher_check raises unless the count is nil or a whole number >= 0
 * (run inside the matcher's protected call); tcp_matcher_take then gives the
 * bytes to take from a buffer of len bytes.  Exposed for fuzz/fuzz_matcher.c. */
void tcp_matcher_check(lua_State *L, int first);
size_t tcp_matcher_take(lua_State *L, int first, size_t len);
/* The Read* methods, for the metatable. */
extern const luaL_Reg tcp_read_methods[];

#endif
