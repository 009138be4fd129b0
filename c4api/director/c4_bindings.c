/*
 * c4_bindings.c — bindings as project data: C4:AddDynamicBinding,
 * RemoveDynamicBinding, GetBoundProviderDevice, GetBoundConsumerDevices,
 * GetBindingsByDevice, and OnBindingChanged when a binding of a CONTROL
 * connection is bound or unbound (d:bind / d:unbind from a spec).
 *
 * The driver's bindings are its driver.xml <connections> (emu_connections),
 * one PROXY binding per <proxy proxybindingid=> (already linked to that proxy
 * device, as Composer does when it adds the driver), and the dynamic ones.
 * A device id of 0 means the driver's own device; a proxy of the driver
 * answers for the driver's bindings too (the pages ask for the proxy id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "director/c4_bindings.h"

static c4_binding *add_binding(c4_bindings *b, int64_t dev, int id, int type, const char *name,
                               const char *cls, bool provider, bool dynamic, bool hidden) {
  b->list = c4_grow(b->list, &b->cap, b->n, sizeof *b->list);
  c4_binding *x = &b->list[b->n++];
  *x = (c4_binding){dev, id, type, c4_strdup(name), c4_strdup(cls ? cls : ""), provider,
                    dynamic, hidden};
  return x;
}

static void add_link(c4_bindings *b, int64_t pdev, int pid, int64_t cdev, int cid) {
  b->links = c4_grow(b->links, &b->caplinks, b->nlinks, sizeof *b->links);
  b->links[b->nlinks++] = (c4_link){pdev, cdev, pid, cid};
}

c4_bindings *c4_bindings_of(emu_ctx *ctx) {
  c4_project *p = ctx->project;
  if (p->bindings) return p->bindings;
  c4_bindings *b = calloc(1, sizeof *b);
  if (!b) abort();
  p->bindings = b;
  int64_t self = p->self->id;
  size_t n = 0;
  const emu_connection *c = emu_connections(ctx, &n);
  for (size_t i = 0; c && i < n; i++)
    add_binding(b, self, c[i].id, c[i].type, c[i].name,
                c[i].nclasses ? c[i].classes[0].classname : "", !c[i].consumer, false,
                c[i].hidden);
  for (size_t i = 0; i < p->model->ndevices; i++) {
    const c4_device *d = p->model->devices[i];
    if (d->kind != C4_DEV_PROXY || d->parent_id != self || !d->binding_id) continue;
    if (!c4_binding_find(ctx, d->binding_id))
      add_binding(b, self, d->binding_id, EMU_CONN_PROXY, d->proxy_type, d->proxy_type, true,
                  false, false);
    add_link(b, self, d->binding_id, d->id, d->binding_id);
  }
  return b;
}

static void binding_clear(c4_binding *x) {
  free(x->name);
  free(x->class_name);
}

void c4_params_free(c4_param *params, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(params[i].key);
    free(params[i].value);
  }
  free(params);
}

void c4_binding_set_names(lua_State *L, const c4_binding *x) {
  lua_pushinteger(L, x->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, x->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, x->class_name);
  lua_setfield(L, -2, "class");
}

void c4_push_binding_peers(lua_State *L, const c4_bindings *b, const c4_binding *x,
                           const char *dev_key, const char *id_key) {
  lua_newtable(L);
  int k = 0;
  for (size_t j = 0; j < b->nlinks; j++) {
    int64_t other_dev;
    int other_id;
    if (!c4_link_peer(x, &b->links[j], &other_dev, &other_id)) continue;
    lua_createtable(L, 0, 2);
    lua_pushnumber(L, (lua_Number)other_dev);
    lua_setfield(L, -2, dev_key);
    lua_pushinteger(L, other_id);
    lua_setfield(L, -2, id_key);
    lua_rawseti(L, -2, ++k);
  }
}

void c4_bindings_free(c4_project *p) {
  c4_bindings *b = p->bindings;
  if (!b) return;
  for (size_t i = 0; i < b->n; i++) binding_clear(&b->list[i]);
  for (size_t i = 0; i < b->nmsgs; i++) {
    c4_proxy_msg *m = &b->msgs[i];
    free(m->command);
    free(m->str_param);
    c4_params_free(m->params, m->nparams);
  }
  c4_inbox_free(b);
  free(b->list);
  free(b->links);
  free(b->msgs);
  free(b->warned);
  free(b);
  p->bindings = NULL;
}

bool c4_link_peer(const c4_binding *x, const c4_link *l, int64_t *other_dev, int *other_id) {
  if (x->provider && l->provider_dev == x->device && l->provider_id == x->id) {
    *other_dev = l->consumer_dev;
    *other_id = l->consumer_id;
    return true;
  }
  if (!x->provider && l->consumer_dev == x->device && l->consumer_id == x->id) {
    *other_dev = l->provider_dev;
    *other_id = l->provider_id;
    return true;
  }
  return false;
}

c4_binding *c4_binding_find(emu_ctx *ctx, int id) {
  c4_bindings *b = c4_bindings_of(ctx);
  for (size_t i = 0; i < b->n; i++)
    if (b->list[i].id == id) return &b->list[i];
  return NULL;
}

void c4_binding_warn_undeclared(emu_ctx *ctx, int id, const char *what) {
  c4_bindings *b = c4_bindings_of(ctx);
  for (size_t i = 0; i < b->nwarned; i++)
    if (b->warned[i] == id) return;
  b->warned = c4_grow(b->warned, &b->capwarned, b->nwarned, sizeof *b->warned);
  b->warned[b->nwarned++] = id;
  emu_log(ctx, EMU_LOG_WARN,
          "%s: binding %d is not declared (no <connection> or <proxy proxybindingid> with that "
          "id in driver.xml, and no C4:AddDynamicBinding)", what, id);
}

/* Whether a link's device `have` answers for the queried device `want`:
 * the same id, or `want` is a proxy of the hosted driver `have`. */
static bool dev_matches(c4_project *p, int64_t have, int64_t want) {
  if (have == want) return true;
  const c4_device *d = c4_project_device(p, want);
  return d && d->kind == C4_DEV_PROXY && d->parent_id == have;
}

/* The driver whose bindings answer for device dev: the hosted driver it is
 * (or whose proxy it is) in the project, else the caller (declared devices,
 * links the caller holds). */
static emu_ctx *answerer(emu_ctx *ctx, int64_t dev) {
  emu_ctx *owner = c4_project_owner(ctx->project, dev);
  return owner ? owner : ctx;
}

static int64_t check_device(lua_State *L, int i) {
  lua_Integer id = luaL_checkinteger(L, i);
  luaL_argcheck(L, id >= 0, i, "device id must be 0 (this device) or positive");
  return id == 0 ? emu_ctx_of(L)->project->self->id : (int64_t)id;
}

static int check_binding_id(lua_State *L, int i) {
  lua_Integer id = luaL_checkinteger(L, i);
  luaL_argcheck(L, id > 0 && id < 1000000, i, "binding id out of range");
  return (int)id;
}

/* OnBindingChanged(idBinding, strClass, bIsBound, otherDeviceId, otherBindingId)
 * in the driver, for a CONTROL binding only (reference §7.2). */
static void binding_changed(emu_ctx *ctx, const c4_binding *x, bool bound, int64_t other,
                            int other_id) {
  if (x->type != EMU_CONN_CONTROL || ctx->phase == EMU_PHASE_DEAD) return;
  if (!emu_push_global_fn(ctx, "OnBindingChanged")) return;
  lua_State *L = ctx->L;
  lua_pushinteger(L, x->id);
  lua_pushstring(L, x->class_name);
  lua_pushboolean(L, bound);
  lua_pushnumber(L, (lua_Number)other);
  lua_pushinteger(L, other_id);
  emu_pcall(ctx, 5, 0, "OnBindingChanged");
  emu_charge_stall(ctx);
}

/* The link index of the driver's binding x with (other, other_id), or -1. */
static long link_of(c4_bindings *b, const c4_binding *x, int64_t other, int other_id) {
  for (size_t i = 0; i < b->nlinks; i++) {
    int64_t dev;
    int bid;
    if (c4_link_peer(x, &b->links[i], &dev, &bid) && dev == other && bid == other_id)
      return (long)i;
  }
  return -1;
}

static char why[160];

const char *c4_binding_bind(emu_ctx *ctx, int id, int64_t other, int other_id) {
  c4_binding *x = c4_binding_find(ctx, id);
  c4_bindings *b = c4_bindings_of(ctx);
  if (!x) {
    snprintf(why, sizeof why, "binding %d is not declared by the driver", id);
    return why;
  }
  if (!c4_project_device(ctx->project, other)) {
    snprintf(why, sizeof why, "device %lld is not in the project", (long long)other);
    return why;
  }
  if (link_of(b, x, other, other_id) >= 0) {
    snprintf(why, sizeof why, "binding %d is already bound to device %lld binding %d", id,
             (long long)other, other_id);
    return why;
  }
  if (x->provider) {
    add_link(b, x->device, id, other, other_id);
  } else {
    for (size_t i = 0; i < b->nlinks; i++)
      if (b->links[i].consumer_dev == x->device && b->links[i].consumer_id == id) {
        snprintf(why, sizeof why, "consumer binding %d is already bound (to device %lld)", id,
                 (long long)b->links[i].provider_dev);
        return why;
      }
    add_link(b, other, other_id, x->device, id);
  }
  binding_changed(ctx, x, true, other, other_id);
  return NULL;
}

const char *c4_binding_unbind(emu_ctx *ctx, int id, int64_t other, int other_id) {
  c4_binding *x = c4_binding_find(ctx, id);
  c4_bindings *b = c4_bindings_of(ctx);
  if (!x) {
    snprintf(why, sizeof why, "binding %d is not declared by the driver", id);
    return why;
  }
  long i = link_of(b, x, other, other_id);
  if (i < 0) {
    snprintf(why, sizeof why, "binding %d is not bound to device %lld binding %d", id,
             (long long)other, other_id);
    return why;
  }
  b->links[i] = b->links[--b->nlinks];
  binding_changed(ctx, x, false, other, other_id);
  return NULL;
}

const char *c4_binding_bind_pair(emu_ctx *c, int cid, emu_ctx *pr, int pid, bool bind,
                                 char *out, size_t n) {
  const c4_binding *cb = c4_binding_find(c, cid), *pb = c4_binding_find(pr, pid);
  if (!cb || !pb) {
    snprintf(out, n, "the %s has no binding %d", !cb ? "consumer" : "provider", !cb ? cid : pid);
    return out;
  }
  if (cb->provider || !pb->provider) {
    snprintf(out, n, "binding %d of the consumer must be a consumer and binding %d of the "
             "provider a provider ({consumer, id, provider, id})", cid, pid);
    return out;
  }
  const char *e = bind ? c4_binding_bind(c, cid, pr->device_id, pid)
                       : c4_binding_unbind(c, cid, pr->device_id, pid);
  if (!e)
    e = bind ? c4_binding_bind(pr, pid, c->device_id, cid)
             : c4_binding_unbind(pr, pid, c->device_id, cid);
  if (!e) return NULL;
  snprintf(out, n, "%s", e);
  return out;
}

/* C4:AddDynamicBinding(idBinding, strType, bIsProvider, strName, strClass, bHidden, bAutoBind)
 * strType is "CONTROL" or "PROXY".  Adding an id that driver.xml declares
 * warns and changes nothing; adding a dynamic id again replaces it (drivers
 * re-add theirs from PersistData on every start). */
static int l_AddDynamicBinding(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int id = check_binding_id(L, 2);
  const char *type = luaL_checkstring(L, 3);
  int t = strcmp(type, "CONTROL") == 0 ? EMU_CONN_CONTROL
          : strcmp(type, "PROXY") == 0 ? EMU_CONN_PROXY : 0;
  if (!t) return luaL_argerror(L, 3, "binding type must be \"CONTROL\" or \"PROXY\"");
  bool provider = lua_toboolean(L, 4);
  const char *name = luaL_checkstring(L, 5);
  const char *cls = luaL_checkstring(L, 6);
  bool hidden = lua_toboolean(L, 7);
  c4_binding *x = c4_binding_find(ctx, id);
  if (x && !x->dynamic) {
    emu_log(ctx, EMU_LOG_WARN, "AddDynamicBinding: binding %d is declared in driver.xml (%s); "
            "not changed", id, x->name);
    return 0;
  }
  if (x) {
    binding_clear(x);
    x->type = t;
    x->name = c4_strdup(name);
    x->class_name = c4_strdup(cls);
    x->provider = provider;
    x->hidden = hidden;
  } else {
    add_binding(c4_bindings_of(ctx), ctx->project->self->id, id, t, name, cls, provider, true,
                hidden);
  }
  return 0;
}

/* C4:RemoveDynamicBinding(idBinding): its links go (OnBindingChanged(false)
 * for each); an id that is not a dynamic binding warns. */
static int l_RemoveDynamicBinding(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int id = check_binding_id(L, 2);
  c4_binding *x = c4_binding_find(ctx, id);
  if (!x || !x->dynamic) {
    emu_log(ctx, EMU_LOG_WARN, "RemoveDynamicBinding: %d is not a dynamic binding of this driver",
            id);
    return 0;
  }
  c4_bindings *b = c4_bindings_of(ctx);
  for (size_t i = b->nlinks; i-- > 0;) {
    int64_t dev;
    int bid;
    if (!c4_link_peer(x, &b->links[i], &dev, &bid)) continue;
    c4_binding_unbind(ctx, id, dev, bid);
    x = c4_binding_find(ctx, id);   /* OnBindingChanged may have added bindings */
    if (!x) return 0;
  }
  size_t k = (size_t)(x - b->list);
  binding_clear(x);
  memmove(&b->list[k], &b->list[k + 1], (b->n - k - 1) * sizeof *b->list);
  b->n--;
  return 0;
}

/* C4:GetBoundProviderDevice(idDevice, idBinding) → the provider's device id,
 * 0 when nothing is bound.  The page says "a table"; its own example and
 * drivers in the wild use a number (`if id ~= 0`), so a number it is. */
static int l_GetBoundProviderDevice(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int64_t dev = check_device(L, 2);
  int id = check_binding_id(L, 3);
  c4_bindings *b = c4_bindings_of(answerer(ctx, dev));
  for (size_t i = 0; i < b->nlinks; i++)
    if (b->links[i].consumer_id == id && dev_matches(ctx->project, b->links[i].consumer_dev, dev)) {
      lua_pushnumber(L, (lua_Number)b->links[i].provider_dev);
      return 1;
    }
  lua_pushinteger(L, 0);
  return 1;
}

/* C4:GetBoundConsumerDevices(idDevice, idBinding) → {[deviceId] = name}, or
 * nil when nothing is bound (the page). */
static int l_GetBoundConsumerDevices(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int64_t dev = check_device(L, 2);
  int id = check_binding_id(L, 3);
  c4_bindings *b = c4_bindings_of(answerer(ctx, dev));
  bool any = false;
  for (size_t i = 0; i < b->nlinks; i++) {
    const c4_link *l = &b->links[i];
    if (l->provider_id != id || !dev_matches(ctx->project, l->provider_dev, dev)) continue;
    if (!any) lua_newtable(L);
    any = true;
    const char *name = c4_project_name_of(ctx->project, l->consumer_dev);
    lua_pushstring(L, name ? name : "");
    lua_rawseti(L, -2, (int)l->consumer_dev);
  }
  if (!any) lua_pushnil(L);
  return 1;
}

/* C4:GetBindingsByDevice(idDevice) → {deviceid=, bindings = {{bindingid=,
 * name=, type=, provider=, hidden=, bindingclasses = {{class=}},
 * connections = {{deviceid=, bindingid=}}}}}: the shape drivers in the wild
 * read (no page documents it); {deviceid=, bindings={}} for a device c4emu
 * knows no bindings of, nil for an unknown device. */
static int l_GetBindingsByDevice(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int64_t dev = check_device(L, 2);
  if (!c4_project_device(ctx->project, dev)) return 0;
  c4_bindings *b = c4_bindings_of(answerer(ctx, dev));
  lua_createtable(L, 0, 2);
  lua_pushnumber(L, (lua_Number)dev);
  lua_setfield(L, -2, "deviceid");
  lua_newtable(L);
  int n = 0;
  for (size_t i = 0; i < b->n; i++) {
    const c4_binding *x = &b->list[i];
    if (!dev_matches(ctx->project, x->device, dev)) continue;
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, x->id);
    lua_setfield(L, -2, "bindingid");
    lua_pushstring(L, x->name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, x->type);
    lua_setfield(L, -2, "type");
    lua_pushboolean(L, x->provider);
    lua_setfield(L, -2, "provider");
    lua_pushboolean(L, x->hidden);
    lua_setfield(L, -2, "hidden");
    lua_createtable(L, 1, 0);
    lua_createtable(L, 0, 1);
    lua_pushstring(L, x->class_name);
    lua_setfield(L, -2, "class");
    lua_rawseti(L, -2, 1);
    lua_setfield(L, -2, "bindingclasses");
    c4_push_binding_peers(L, b, x, "deviceid", "bindingid");
    lua_setfield(L, -2, "connections");
    lua_rawseti(L, -2, ++n);
  }
  lua_setfield(L, -2, "bindings");
  return 1;
}

static const c4_fn bindings_fns[] = {
    {"AddDynamicBinding", l_AddDynamicBinding},
    {"RemoveDynamicBinding", l_RemoveDynamicBinding},
    {"GetBoundProviderDevice", l_GetBoundProviderDevice},
    {"GetBoundConsumerDevices", l_GetBoundConsumerDevices},
    {"GetBindingsByDevice", l_GetBindingsByDevice},
    {NULL, NULL},
};

/* The web console's State view (issue 17): the driver's bindings. */
static void bindings_rows(emu_ctx *ctx, void *data, lua_State *L) {
  (void)data;
  c4_bindings *b = c4_bindings_of(ctx);
  lua_createtable(L, (int)b->n, 0);
  for (size_t i = 0; i < b->n; i++) {
    const c4_binding *x = &b->list[i];
    lua_createtable(L, 0, 6);
    c4_binding_set_names(L, x);
    lua_pushstring(L, x->provider ? "provider" : "consumer");
    lua_setfield(L, -2, "role");
    luaL_Buffer buf;
    luaL_buffinit(L, &buf);
    for (size_t j = 0; j < b->nlinks; j++) {
      const c4_link *l = &b->links[j];
      int64_t other_dev;
      int other_id;
      if (!c4_link_peer(x, l, &other_dev, &other_id)) continue;
      char one[64];
      snprintf(one, sizeof one, "%s%lld:%d", buf.p == buf.buffer ? "" : ", ",
               (long long)other_dev, other_id);
      luaL_addstring(&buf, one);
    }
    luaL_pushresult(&buf);
    lua_setfield(L, -2, "bound");
    lua_rawseti(L, -2, (int)i + 1);
  }
}

static void bindings_shutdown(emu_ctx *ctx, void *data) {
  (void)data;
  emu_state_section_remove(ctx, bindings_rows, NULL);
}

static void bindings_open(lua_State *L, emu_ctx *ctx) {
  (void)L;
  emu_state_section_add(ctx, "bindings", "id,name,class,role,bound", bindings_rows, NULL);
  emu_on_shutdown(ctx, bindings_shutdown, NULL);
}

static const char *const bindings_callbacks[] = {"OnBindingChanged", NULL};

const c4_family c4_family_bindings = {"bindings", bindings_fns, bindings_open, bindings_callbacks};
