/*
 * c4_bindings.h — bindings as project data (issue 11): every binding of the
 * hosted driver's device (driver.xml <connections>, <proxies>, and the ones
 * C4:AddDynamicBinding adds), the links between a provider binding and a
 * consumer binding of two devices, and every message the driver sent with
 * C4:SendToProxy.  Built on first use from the driver's package; freed with
 * the project (c4_project_free).
 */
#ifndef C4_BINDINGS_H
#define C4_BINDINGS_H

#include "director/c4_project.h"

typedef struct {
  int64_t device;
  int id;
  int type;               /* EMU_CONN_CONTROL, EMU_CONN_PROXY, ... (emu_conn.h) */
  char *name, *class_name;
  bool provider, dynamic, hidden;
} c4_binding;

/* provider (device, binding) → consumer (device, binding) */
typedef struct {
  int64_t provider_dev, consumer_dev;
  int provider_id, consumer_id;
} c4_link;

typedef struct {
  char *key, *value;
} c4_param;

typedef struct {
  uint64_t ms;
  int64_t device;         /* SendToDevice: the device; 0 for SendToProxy */
  int binding;
  char *command;
  bool notify;            /* kind: NOTIFY (true) or COMMAND */
  char *str_param;        /* the (id, cmd, strParam) form; NULL for a table */
  c4_param *params;       /* the table form, keys sorted */
  size_t nparams;
} c4_proxy_msg;

typedef struct c4_bindings {
  c4_binding *list;
  size_t n, cap;
  c4_link *links;
  size_t nlinks, caplinks;
  c4_proxy_msg *msgs;
  size_t nmsgs, capmsgs;
  int *warned;            /* undeclared binding ids already warned about */
  size_t nwarned, capwarned;
  struct c4_inbound *inbox; /* messages from other drivers not delivered yet */
} c4_bindings;

/* The project's bindings, built on first use (never NULL). */
c4_bindings *c4_bindings_of(emu_ctx *ctx);
void c4_bindings_free(c4_project *p);

/* The binding `id` of the hosted driver's device (device 0, the driver's own
 * id or one of its proxies), or NULL. */
c4_binding *c4_binding_find(emu_ctx *ctx, int id);
/* Whether link l ends at binding x; if so *other_dev / *other_id get its far end. */
bool c4_link_peer(const c4_binding *x, const c4_link *l, int64_t *other_dev, int *other_id);

/* Links `provider` of the driver's binding id with (other, other_id), or
 * breaks that link; OnBindingChanged goes to the driver for a CONTROL binding.
 * Returns NULL, or why it cannot (an unknown binding, already bound, ...). */
const char *c4_binding_bind(emu_ctx *ctx, int id, int64_t other, int other_id);
const char *c4_binding_unbind(emu_ctx *ctx, int id, int64_t other, int other_id);

/* Binds (or unbinds) consumer binding cid of the hosted driver c and
 * provider binding pid of the hosted driver pr of the same project: both
 * models, OnBindingChanged on both sides.  NULL, or why not (in out). */
const char *c4_binding_bind_pair(emu_ctx *c, int cid, emu_ctx *pr, int pid, bool bind,
                                 char *out, size_t n);

/* Frees a sorted parameter list of a proxy message (NULL-safe). */
void c4_params_free(c4_param *params, size_t n);
/* Sets id, name and class of binding x in the table on top (the consoles' and
 * the spec's rows). */
void c4_binding_set_names(lua_State *L, const c4_binding *x);
/* Pushes the far ends of binding x as a list of {[dev_key]=, [id_key]=}. */
void c4_push_binding_peers(lua_State *L, const c4_bindings *b, const c4_binding *x,
                           const char *dev_key, const char *id_key);

/* Frees the messages from other drivers not delivered yet (c4_proxy.c). */
void c4_inbox_free(c4_bindings *b);

/* Warns once per binding id that driver.xml does not declare `id` (what: the
 * API that used it). */
void c4_binding_warn_undeclared(emu_ctx *ctx, int id, const char *what);

/* s3-apis-a: a proxy of the driver learns its variables from the driver's
 * NOTIFY on its binding (c4_proxyvars.c). */
void c4_proxyvars_learn(emu_ctx *ctx, const c4_proxy_msg *m);

#endif
