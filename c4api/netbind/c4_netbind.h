/*
 * c4_netbind.h — network bindings (issue 12): the per-driver state shared by
 * c4_netbind.c (bindings, ports, the C4 calls, the driver callbacks, what
 * the controller does on its own: auto_connect, keep_connection,
 * monitor_connection), c4_netbind_io.c (the transports: TCP and SSL on
 * c4_conn, UDP and MULTICAST on uv_udp), c4_netbind_tls.c (the client
 * SSL_CTX from NetPortOptions), c4_serial.c (serial bindings on a pty), and
 * what the spec module asks (d:set_binding_address, d:net_connections,
 * d:serial).
 *
 * Lifetime: one nb_state per driver, made when the C4 table is built (so the
 * driver.xml bindings exist from load), torn down by the shutdown hook, which
 * closes every socket without a word to Lua.  A port owns at most one
 * transport at a time; a transport that is closing is detached from its
 * port (its events are ignored) and frees itself in its close callback.
 */
#ifndef C4_NETBIND_H
#define C4_NETBIND_H

#include <openssl/ssl.h>

#include "c4api.h"
#include "net/c4_conn.h"
#include "net/c4_framer.h"

typedef enum { NB_TCP, NB_UDP, NB_SSL, NB_MULTICAST } nb_type;
typedef enum { NB_OFFLINE, NB_CONNECTING, NB_ONLINE } nb_status;

/* How long the controller waits before reconnecting a keep_connection port:
 * 1 s after the first failure, doubling, at most 30 s; back to 1 s once a
 * connection has been ONLINE.  OnPoll comes every NB_POLL_MS while ONLINE. */
#define NB_BACKOFF_FIRST_MS 1000u
#define NB_BACKOFF_MAX_MS 30000u
#define NB_POLL_MS 30000u
/* A port whose peer does not read: SendToNetwork drops (and warns once) what
 * would take the bytes waiting beyond this. */
#define NB_MAX_QUEUED ((size_t)4 << 20)

typedef struct nb_state nb_state;
typedef struct nb_binding nb_binding;
typedef struct nb_port nb_port;
typedef struct nb_udp nb_udp;

struct nb_port {
  nb_binding *b;
  nb_port *next;
  int number;
  nb_type type;
  bool declared;           /* from driver.xml, NetPortOptions or NetConnect */
  /* options (driver.xml, then NetPortOptions) */
  bool auto_connect, monitor, keep, keep_alive, suppress, mirror_udp;
  char *delim;
  size_t dlen;
  char *cert, *key, *cafile, *method;  /* SSL; NULL: none */
  bool verify_peer, protected_key;
  /* runtime */
  nb_status status;
  bool want;               /* connect asked for (NetConnect or auto): keep_connection retries */
  bool suppress_now;       /* this connect's events are suppressed (NetConnect's 4th arg) */
  bool warned_offline, warned_full, warned_send;
  c4_conn *conn;           /* TCP / SSL */
  nb_udp *udp;             /* UDP / MULTICAST */
  struct nb_resolve *resolving; /* a host name being resolved before the connect */
  c4_framer fr;
  emu_sched *retry, *poll, *post;
  unsigned backoff_ms;
  unsigned long connects, drops;
  char peer_ip[64];        /* who the last datagram / connection came from */
};

struct nb_binding {
  nb_state *st;
  nb_binding *next;
  int id;
  nb_type type;            /* the class of the binding (its first network class) */
  char *address;           /* NULL: not bound */
  bool dynamic;            /* CreateNetworkConnection */
  nb_port *ports;
};

struct nb_state {
  emu_ctx *ctx;
  nb_binding *bindings;
  bool shut;
  struct nb_serial *serials;   /* c4_serial.c */
  nb_binding *dead;            /* destroyed bindings, freed from the loop (a callback
                                  may destroy the binding whose data it is handling) */
  emu_sched *reap;
};

/* ---- c4_netbind.c ------------------------------------------------------- */
nb_state *nb_state_of(emu_ctx *ctx);
nb_binding *nb_binding_find(nb_state *st, int id);
const char *nb_type_name(nb_type t);
const char *nb_status_name(nb_status s);
/* Status change: calls OnConnectionStatusChanged (unless suppressed) and
 * arranges what the controller does next (poll, reconnect). */
void nb_port_status(nb_port *p, nb_status s, const char *why);
/* Bytes arrived (framed by the port's delimiter); from = sender's IP. */
void nb_port_data(nb_port *p, const char *data, size_t n, const char *from);

/* ---- c4_netbind_io.c ---------------------------------------------------- */
/* Starts the transport for p (its binding has an address).  0, or a
 * negative libuv error with nothing started. */
int nb_io_connect(nb_port *p, char *err, size_t errsz);
/* Stops the transport without events to the port. mode: how TCP closes. */
void nb_io_close(nb_port *p, c4_close_mode mode);
int nb_io_send(nb_port *p, const char *data, size_t n);
size_t nb_io_queued(const nb_port *p);
/* Whether any transport of st is connecting or has bytes queued. */
bool nb_io_busy(nb_state *st);

/* ---- c4_netbind_tls.c --------------------------------------------------- */
/* The client context for an SSL port; NULL with a reason in err. */
SSL_CTX *nb_tls_client_ctx(nb_port *p, char *err, size_t errsz);
/* VERIFY_MODE peer: the certificate must name the binding's address. */
void nb_tls_expect_peer(nb_port *p, SSL *ssl);

/* ---- c4_serial.c -------------------------------------------------------- */
extern const c4_fn nb_serial_fns[];
void nb_serial_open(nb_state *st);
void nb_serial_shutdown(nb_state *st);
bool nb_serial_busy(nb_state *st);

/* ---- for the spec module and the CLI ------------------------------------ */
typedef struct {
  int binding, port;
  const char *type, *address, *status;
  unsigned long connects, drops;
  size_t queued;           /* bytes SendToNetwork queued that wait to be sent */
} c4_netbind_info;
/* Sets (ip non-empty) or clears a binding's address as Composer would:
 * OnNetworkBindingChanged(id, bound), and auto_connect ports reconnect to
 * the new address.  0, or -1 with a reason (unknown binding, bad address). */
int c4_netbind_set_address(emu_ctx *ctx, int id, const char *ip, char *err, size_t errsz);
void c4_netbind_each(emu_ctx *ctx, void (*fn)(const c4_netbind_info *i, void *ud), void *ud);
/* Pushes the list {{binding=, port=, type=, address=, status=}, ...} onto L
 * (any state: values are plain); counters adds connects=, drops=, queued=. */
void c4_netbind_push_list(lua_State *L, emu_ctx *ctx, bool counters);
/* The pty slave of serial binding id ("/dev/pts/7"), or NULL. */
const char *c4_serial_path(emu_ctx *ctx, int id);
/* Bytes the driver's side of serial binding id has read and written so far. */
bool c4_serial_counts(emu_ctx *ctx, int id, uint64_t *rx, uint64_t *tx);

#endif
