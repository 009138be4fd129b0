/*
 * c4_tcp.h — what the three files of the object-style TCP family share:
 * c4_tcp.c (C4:CreateTCPServer / C4:CreateTCPClient, the per-driver state,
 * deferred work, calling the driver, resolving and choosing an endpoint),
 * c4_tcpserver.c (C4LuaTcpServer) and c4_tcpclient.c (C4LuaTcpClient).
 *
 * The luv model: every Lua object is a small userdata box pointing at native
 * memory (a tcp_obj inside a tcp_server or tcp_client).  The box and the
 * native struct point at each other; __gc cuts the link, and the native
 * struct is freed once nothing native (a resolver request) still needs it.
 *
 *   - Handlers (OnRead, OnAccept ...) live in the userdata's environment
 *     table, not in registry refs: a handler closure that captures its own
 *     object (`client:OnWrite(function() print(client) end)`, as the seed's
 *     chat server does) would otherwise make the object immortal.
 *   - While an asynchronous operation is outstanding (a Listen or Connect
 *     being resolved or chosen, a read armed, a write queued, a close under
 *     way, deferred work queued) the object holds a registry reference to
 *     its own userdata (self_ref), so Lua cannot collect it; otherwise only
 *     the driver's own references keep it.
 *   - A weak-valued table maps each box to its userdata so events can find
 *     the object without holding it.
 *   - Every call into the driver goes through tcp_call(): a trampoline kept
 *     in the registry, run by emu_pcall, builds the arguments inside the
 *     protected call.  __gc never calls Lua.
 *   - The driver's shutdown hook closes every socket and resolver without
 *     events, drops every reference and marks the objects dead.
 */
#ifndef C4_TCP_H
#define C4_TCP_H

#include <sys/socket.h>

#include "c4api.h"
#include "net/c4_conn.h"

#define TCP_SERVER_MT "C4LuaTcpServer"
#define TCP_CLIENT_MT "C4LuaTcpClient"

/* emu_track kinds: listening sockets, connections, resolver requests. */
#define TCP_TRACK_SERVER "C4LuaTcpServer"
#define TCP_TRACK_CLIENT "C4LuaTcpClient"
#define TCP_TRACK_RESOLVE "tcp-resolve"

enum { TCP_KIND_SERVER, TCP_KIND_CLIENT };

/* Deferred work, done from the loop (never inside a method call). */
enum {
  TCP_KICK_PROCEED = 1,   /* an endpoint was chosen later: listen / connect now */
  TCP_KICK_CANCELLED = 2, /* Close() cancelled a Listen / Connect: OnError(ECANCELED) */
  TCP_KICK_SERVICE = 4,   /* a read was armed over buffered data: deliver */
  TCP_KICK_WRITTEN = 8,   /* a write the kernel took at once: OnWrite */
};

#define TCP_UNDECIDED (-1)

typedef struct tcp_state tcp_state;
typedef struct tcp_obj tcp_obj;
typedef struct tcp_box tcp_box;
typedef struct tcp_token tcp_token;

/* What differs between servers and clients. */
typedef struct {
  const char *mt;                                /* metatable name */
  bool (*want_alive)(tcp_obj *o);                /* an operation is outstanding */
  void (*proceed)(tcp_obj *o);                   /* an endpoint was chosen */
  void (*failed)(tcp_obj *o, int uverr, const char *op); /* Listen/Connect failed */
  void (*kicked)(tcp_obj *o, unsigned flags);    /* deferred work, from the loop */
  void (*shutdown)(tcp_obj *o);                  /* driver teardown: close, no events */
  void (*release)(tcp_obj *o);                   /* free kind-specific memory */
  /* issue 17: the web console's State row: sets "state" and "address" in the
   * table on top of L (the console's own state) */
  void (*describe)(tcp_obj *o, lua_State *L);
} tcp_ops;

struct tcp_obj {
  const tcp_ops *ops;
  emu_ctx *ctx;
  tcp_state *st;            /* NULL once the driver is gone */
  tcp_obj *next, *prev;     /* the driver's objects */
  tcp_obj *kick_next;       /* the deferred-work queue */
  unsigned kicks;           /* TCP_KICK_* flags queued */
  tcp_box *box;             /* the userdata, while it exists */
  int self_ref;             /* registry ref to the userdata while alive is wanted */
  unsigned handlers;        /* a bit per handler set (handler_bit): asking whether one
                               is set needs no Lua */
  bool anchored;            /* on the stack of a running delivery: tcp_sync_alive waits
                               for its end (spares a ref and an unref per message) */
  bool dead;                /* the driver was destroyed */
  bool closed;              /* methods other than Close raise */
  /* Listen / Connect in progress (resolving, choosing, cancelled) */
  bool pending;
  bool in_resolve;          /* inside OnResolve (and the check after it) */
  bool auto_choice;         /* no explicit choice: a client tries each endpoint */
  uv_getaddrinfo_t *gai;    /* the current resolver request */
  int inflight;             /* resolver requests not yet called back (stale ones too) */
  struct sockaddr_storage *eps;
  int neps;
  int choice;               /* TCP_UNDECIDED, 0 (cancel) or 1..neps */
  tcp_token *token;         /* the choose() function's token while a choice is awaited */
};

struct tcp_box {
  tcp_obj *o;               /* NULL once __gc ran (or before the native struct exists) */
};

/* ---- objects ---------------------------------------------------------------- */
/* The driver's TCP state; raises once the driver is destroyed. */
tcp_state *tcp_state_of(lua_State *L);
/*
 * Pushes a new userdata (metatable ops->mt, a fresh environment table),
 * registered in the weak table, whose box is not yet linked.  Then link the
 * native object with tcp_link once it exists: nothing may raise in between.
 */
tcp_box *tcp_newud(lua_State *L, tcp_state *st, const char *mt);
void tcp_link(tcp_state *st, tcp_box *b, tcp_obj *o, const tcp_ops *ops);
/* The object behind argument 1, or raises (wrong type, collected). */
tcp_obj *tcp_check(lua_State *L, const char *mt);
/* Registers methods in the __index of the metatable on top of L, each with the
 * metatable as upvalue 1 (tcp_check's fast path). */
void tcp_bind_methods(lua_State *L, const luaL_Reg *methods);
/* Raises "<Type>:<method>: ... is closed" unless the object is usable. */
void tcp_check_open(lua_State *L, tcp_obj *o, const char *method);
/* Pushes the object's userdata, or nothing and false if it is gone. */
bool tcp_push_ud(lua_State *L, tcp_obj *o);
/* Takes or drops the self-reference as ops->want_alive says. */
void tcp_sync_alive(tcp_obj *o);
/* Queues deferred work (and keeps the object alive meanwhile). */
void tcp_kick(tcp_obj *o, unsigned flags);
/* __gc of either kind: cut the link; free the native struct if it can go. */
void tcp_gc(lua_State *L, tcp_obj *o);
/* Frees the native struct unless a userdata or a resolver still needs it. */
void tcp_maybe_free(tcp_obj *o);

/* ---- handlers --------------------------------------------------------------- */
/* obj:On<Name>(fn) → obj; fn a function or nil (removes it). */
int tcp_set_handler(lua_State *L, tcp_obj *o, const char *name);
bool tcp_has_handler(tcp_obj *o, const char *name);

/* Arguments of a call into the driver (after the object itself). */
typedef struct {
  char t;                  /* 's' string, 'n' number, 'v' stack value, 'e' endpoint,
                              'f' custom pusher */
  const char *s;
  size_t len;
  lua_Number n;            /* 'n'; 'e': the port */
  int idx;                 /* 'v': absolute stack index */
  void (*push)(lua_State *L, void *ud);
  void *ud;
} tcp_arg;

/*
 * Calls handler `name` of o (from its environment) as fn(obj, args...),
 * protected; `what` names it in the log.  Returns true if the handler
 * existed and returned without error, leaving nres results on the stack
 * (always nres values: nils when not called).  Charges a pending d:stall.
 */
bool tcp_call(tcp_obj *o, const char *name, const tcp_arg *args, int nargs, int nres);
/* Validates a handler's nres results (the first at stack index `first`) inside
 * the protected call: raises with luaL_error when they are unusable, so the
 * failure is logged and counted like any error of the handler. */
typedef void (*tcp_result_check)(lua_State *L, int first);
/* The same without the object as first argument (the ReadUntil matcher), with
 * an optional check of the results. */
bool tcp_call_plain(tcp_obj *o, const char *name, const tcp_arg *args, int nargs, int nres,
                    tcp_result_check check);

/* ---- Listen / Connect: resolve and choose -------------------------------------- */
/*
 * Starts resolving node:service through uv_getaddrinfo (node NULL: the
 * local host; passive: the wildcard addresses).  Returns 0 or a libuv error.
 * The outcome arrives as ops->failed(o, err, "resolve") or, once an endpoint
 * is chosen (OnResolve, choose() or the default), ops->proceed(o) with
 * o->choice set; choice 0 or out of range fails with EINVAL.
 */
int tcp_resolve_start(tcp_obj *o, const char *node, const char *service, bool numeric_service,
                      bool passive);
/* An endpoint was chosen (o->choice): listen / connect, or EINVAL. */
void tcp_decide(tcp_obj *o);
/* Abandons a Listen/Connect in progress (no event of its own). */
void tcp_cancel_pending(tcp_obj *o);
void tcp_free_eps(tcp_obj *o);
/* Validates o->choice: true if it names an endpoint, else reports EINVAL. */
bool tcp_choice_ok(tcp_obj *o);

/* Argument i as a service: a port number (0-65535, or digits) or a name. */
const char *tcp_check_service(lua_State *L, int i, char *buf, size_t bufsz, bool *numeric);

/* ---- errors and addresses ------------------------------------------------------- */
/* A libuv error as DriverWorks reports it: the positive system code and its text. */
int tcp_errcode(int uverr);
const char *tcp_errtext(int uverr);
/* Pushes {ip=, port=}. */
void tcp_push_addr(lua_State *L, const char *ip, int port);
/* Pushes a value of Option(): true for true or a non-zero number. */
bool tcp_check_flag(lua_State *L, int i);

/* ---- the two kinds ---------------------------------------------------------------- */
int tcp_server_create(lua_State *L, tcp_state *st);             /* C4:CreateTCPServer */
int tcp_client_create(lua_State *L, tcp_state *st);             /* C4:CreateTCPClient */
void tcp_server_open(lua_State *L);                             /* metatables */
void tcp_client_open(lua_State *L);
/* The connection events of accepted and outgoing clients (c4_tcpclient.c). */
extern const c4_conn_events tcp_client_events;
/* A server's accepted connection: creates the C4LuaTcpClient and calls OnAccept. */
void tcp_client_accepted(tcp_obj *server, c4_conn *conn);
/* The server's linger option, which its accepted connections get. */
void tcp_server_accept_opts(tcp_obj *server, bool *linger_on, int *linger_secs);

#endif
