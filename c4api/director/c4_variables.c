/*
 * c4_variables.c — the driver's variables and its view of other devices'
 * variables: C4:AddVariable, SetVariable, DeleteVariable, GetVariable,
 * GetDeviceVariable(s), SetDeviceVariable, Register/UnregisterVariableListener,
 * UnregisterAllVariableListeners,
 * the global Variables table (name → value) and the callbacks
 * OnVariableChanged(name) and OnWatchedVariableChanged(device, variable, value).
 *
 * Choices (no public source settles them):
 *   - AddVariable returns true, id on success and false on failure: the
 *     page's own example prints "true 1002"; its table lists the values in
 *     another order (reference §12 #16).
 *   - OnVariableChanged runs only when someone else sets the variable
 *     (a spec's d:set_variable, another driver); never for the driver's own
 *     SetVariable, as the page says.  Setting a read-only variable from
 *     outside is refused: d:set_variable raises "variable 'X' is read-only".
 *   - OnWatchedVariableChanged is a message from Director: it runs on the
 *     next turn of the loop (virtual clock: the next d:advance, even 0), never
 *     inside the call that caused it.  RegisterVariableListener sends the
 *     current value that way at once, as the page says.
 *   - Setting a variable to the value it has is no change: neither
 *     OnVariableChanged nor OnWatchedVariableChanged runs (s4-fixes).  The
 *     pages say both run when the variable "changes value" /  "whenever the
 *     variable changes"; a driver watching its own variable and setting it
 *     again from the callback would otherwise never be quiet.  The same for
 *     every path (SetVariable, SetDeviceVariable, programming, d:set_variable).
 *   - Unknown ids and names: a warning in the log, and the documented empty
 *     return (GetVariable/GetDeviceVariable: nil; GetDeviceVariables: nil
 *     for an unknown device, {} for a device without variables).
 */
#include <stdlib.h>
#include <string.h>

#include "director/c4_project.h"

typedef struct c4_pending {
  emu_ctx *owner;
  int64_t device, var;
  char *value;
} c4_pending;

static const char *const var_types[] = {
    "BOOL", "DATE", "DEVICE", "FLOAT", "INT", "LEVEL", "LIST", "MEDIA",
    "NUMBER", "ROOM", "STATE", "STRING", "TIME", "ULONG", "XML", NULL,
};

int64_t c4_check_id(lua_State *L, int i) {
  lua_Number n = luaL_checknumber(L, i);
  luaL_argcheck(L, n >= 1 && n == (lua_Number)(int64_t)n, i, "id must be a positive integer");
  return (int64_t)n;
}

const char *c4_check_value(lua_State *L, int i) {
  if (lua_type(L, i) == LUA_TBOOLEAN) return lua_toboolean(L, i) ? "1" : "0";
  if (lua_type(L, i) == LUA_TNUMBER) {
    lua_pushvalue(L, i);
    const char *s = lua_tostring(L, -1); /* the copy is converted, not the argument */
    lua_replace(L, i);
    return s;
  }
  return luaL_checkstring(L, i);
}

/* Variables[name] = value (or nil) in the driver that owns the device. */
static void mirror(c4_device *d, const char *name, const char *value) {
  if (!d->ctx) return;
  lua_State *L = d->ctx->L;
  lua_getglobal(L, "Variables");
  if (lua_istable(L, -1)) {
    if (value) lua_pushstring(L, value);
    else lua_pushnil(L);
    lua_setfield(L, -2, name);
  }
  lua_pop(L, 1);
}

/* ---- OnWatchedVariableChanged, one turn later ---------------------------- */

static void deliver_pending(emu_ctx *ctx, void *data) {
  c4_project *p = data;
  (void)ctx;
  p->pending_entry = NULL;
  /* Callbacks may queue more: take the current batch first. */
  c4_pending *batch = p->pending;
  size_t n = p->npending;
  p->pending = NULL;
  p->npending = p->cappending = 0;
  for (size_t i = 0; i < n; i++) {
    emu_ctx *o = batch[i].owner;
    if (o->phase != EMU_PHASE_DEAD && o->phase != EMU_PHASE_DESTROYING &&
        emu_push_global_fn(o, "OnWatchedVariableChanged")) {
      lua_pushnumber(o->L, (lua_Number)batch[i].device);
      lua_pushnumber(o->L, (lua_Number)batch[i].var);
      lua_pushstring(o->L, batch[i].value);
      emu_pcall(o, 3, 0, "OnWatchedVariableChanged");
      emu_charge_stall(o);
    }
    free(batch[i].value);
  }
  free(batch);
}

static void queue_watch(c4_project *p, emu_ctx *owner, int64_t device, int64_t var,
                        const char *value) {
  p->pending = c4_grow(p->pending, &p->cappending, p->npending, sizeof *p->pending);
  p->pending[p->npending++] = (c4_pending){owner, device, var, c4_strdup(value)};
  /* The entry is the project's driver's (issue 11: the owner may be another
   * driver of the project, and may go first). */
  emu_ctx *ectx = p->self && p->self->ctx ? p->self->ctx : owner;
  if (!p->pending_entry) p->pending_entry = emu_sched_add(ectx, emu_now(ectx), deliver_pending, p);
}

static void cancel_pending(emu_ctx *ctx, void *data) {
  c4_project *p = data;
  emu_sched_cancel(ctx, p->pending_entry);
  p->pending_entry = NULL;
  for (size_t i = 0; i < p->npending; i++) free(p->pending[i].value);
  free(p->pending);
  p->pending = NULL;
  p->npending = p->cappending = 0;
}

void c4_var_set(c4_project *p, c4_device *d, c4_var *v, const char *value, bool from_outside) {
  /* The same value is no change: nobody is told (see the header); the
   * Variables mirror is still refreshed, as the README promises. */
  if (v->value && strcmp(v->value, value) == 0) {
    mirror(d, v->name, v->value);
    return;
  }
  char *nv = c4_strdup(value);
  free(v->value);
  v->value = nv;
  int64_t var_id = v->id;
  char *name = c4_strdup(v->name);
  mirror(d, name, nv);
  if (from_outside && d->ctx && emu_push_global_fn(d->ctx, "OnVariableChanged")) {
    lua_pushstring(d->ctx->L, name);
    emu_pcall(d->ctx, 1, 0, "OnVariableChanged");
    emu_charge_stall(d->ctx);
  }
  /* The callback may have changed or deleted it: send what is there now. */
  c4_var *now = c4_var_by_id(d, var_id);
  for (size_t i = 0; now && i < p->nvar_watches; i++)
    if (p->var_watches[i].device == d->id && p->var_watches[i].id == var_id)
      queue_watch(p, p->var_watches[i].owner, d->id, var_id, now->value);
  free(name);
}

/* The driver's own variable named by argument i (a name or an id), or NULL. */
static c4_var *own_var(lua_State *L, int i, c4_device *self) {
  if (lua_type(L, i) == LUA_TNUMBER) return c4_var_by_id(self, c4_check_id(L, i));
  return c4_var_by_name(self, luaL_checkstring(L, i));
}

/* C4:AddVariable(identifier, value, type [, readOnly] [, hidden]) → true, id | false */
static int l_AddVariable(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_project *p = ctx->project;
  int64_t id = 0;
  const char *name = NULL;
  if (lua_type(L, 2) == LUA_TNUMBER) id = c4_check_id(L, 2);
  else name = luaL_checkstring(L, 2);
  const char *value = c4_check_value(L, 3);
  const char *type = luaL_checkstring(L, 4);
  bool readonly = lua_toboolean(L, 5), hidden = lua_toboolean(L, 6);
  bool known = false;
  for (size_t i = 0; var_types[i]; i++) known = known || strcmp(var_types[i], type) == 0;
  if (!known) {
    emu_log(ctx, EMU_LOG_WARN, "C4:AddVariable: '%s' is not a variable type (BOOL, DATE, DEVICE, "
            "FLOAT, INT, LEVEL, LIST, MEDIA, NUMBER, ROOM, STATE, STRING, TIME, ULONG, XML)", type);
    lua_pushboolean(L, 0);
    return 1;
  }
  c4_var *v = c4_var_add(p->self, id, name, value, type, readonly, hidden);
  if (!v) {
    emu_log(ctx, EMU_LOG_WARN, "C4:AddVariable: a variable %s%s%s exists already",
            name ? "named '" : "with id ", name ? name : lua_tostring(L, 2), name ? "'" : "");
    lua_pushboolean(L, 0);
    return 1;
  }
  mirror(p->self, v->name, v->value);
  lua_pushboolean(L, 1);
  lua_pushnumber(L, (lua_Number)v->id);
  return 2;
}

/* C4:SetVariable(identifier, value) — the driver's own: no OnVariableChanged. */
static int l_SetVariable(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_var *v = own_var(L, 2, ctx->project->self);
  const char *value = c4_check_value(L, 3);
  if (!v) {
    emu_log(ctx, EMU_LOG_WARN, "C4:SetVariable: the driver has no variable '%s' (add it with "
            "C4:AddVariable first)", lua_tostring(L, 2));
    return 0;
  }
  c4_var_set(ctx->project, ctx->project->self, v, value, false);
  return 0;
}

/* C4:DeleteVariable(identifier) */
static int l_DeleteVariable(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_device *self = ctx->project->self;
  c4_var *v = own_var(L, 2, self);
  if (!v) {
    emu_log(ctx, EMU_LOG_WARN, "C4:DeleteVariable: the driver has no variable '%s'",
            lua_tostring(L, 2));
    return 0;
  }
  mirror(self, v->name, NULL);
  c4_var_delete(self, v);
  return 0;
}

/* Device argument 2's variable argument 3; *proj is the project holding it
 * (issue 11: another hosted driver's own). */
static c4_var *device_var_in(lua_State *L, c4_device **dev, c4_project **proj) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_project *p = c4_project_of_device(ctx, c4_check_id(L, 2), dev);
  if (proj) *proj = p;
  return c4_var_by_id(*dev, c4_check_id(L, 3));
}

static c4_var *device_var(lua_State *L, c4_device **dev) { return device_var_in(L, dev, NULL); }

/* C4:GetVariable(idDevice, idVariable) → string or nil; also GetDeviceVariable. */
static int l_GetVariable(lua_State *L) {
  c4_device *d;
  c4_var *v = device_var(L, &d);
  /* one nil, not nothing: drivers write tonumber(C4:GetVariable(id, 1000)),
   * which raises "value expected" when the call returns no value at all */
  if (!v) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, v->value);
  return 1;
}

/* C4:GetDeviceVariables(idDevice) → {[id] = {name=, value=}}, or nil for an unknown device */
static int l_GetDeviceVariables(lua_State *L) {
  c4_device *d;
  c4_project_of_device(emu_ctx_of(L), c4_check_id(L, 2), &d);
  if (!d) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, (int)d->nvars);
  for (size_t i = 0; i < d->nvars; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, d->vars[i].name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, d->vars[i].value);
    lua_setfield(L, -2, "value");
    lua_rawseti(L, -2, (int)d->vars[i].id);
  }
  return 1;
}

/* C4:SetDeviceVariable(idDevice, idVariable, value) */
static int l_SetDeviceVariable(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_device *d;
  c4_project *p;
  c4_var *v = device_var_in(L, &d, &p);
  const char *value = c4_check_value(L, 4);
  if (!v) {
    emu_log(ctx, EMU_LOG_WARN, "C4:SetDeviceVariable: device %s has no variable %s",
            lua_tostring(L, 2), lua_tostring(L, 3));
    return 0;
  }
  bool own = d->ctx == ctx;
  if (v->readonly && !own) {
    emu_log(ctx, EMU_LOG_WARN, "C4:SetDeviceVariable: variable %s of device %s is read-only",
            v->name, d->name);
    return 0;
  }
  c4_var_set(p, d, v, value, !own);
  return 0;
}

static size_t find_watch(c4_project *p, emu_ctx *owner, int64_t dev, int64_t var) {
  for (size_t i = 0; i < p->nvar_watches; i++)
    if (p->var_watches[i].owner == owner && p->var_watches[i].device == dev &&
        p->var_watches[i].id == var)
      return i;
  return (size_t)-1;
}

/* C4:RegisterVariableListener(idDevice, idVariable) — the current value comes at once */
static int l_RegisterVariableListener(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_project *p;
  c4_device *d;
  c4_var *v = device_var_in(L, &d, &p);
  if (!v) {
    emu_log(ctx, EMU_LOG_WARN, "C4:RegisterVariableListener: device %s has no variable %s",
            lua_tostring(L, 2), lua_tostring(L, 3));
    return 0;
  }
  if (find_watch(p, ctx, d->id, v->id) == (size_t)-1) {
    p->var_watches = c4_grow(p->var_watches, &p->capvw, p->nvar_watches, sizeof *p->var_watches);
    p->var_watches[p->nvar_watches++] = (c4_watch){ctx, d->id, v->id};
  }
  queue_watch(p, ctx, d->id, v->id, v->value);
  return 0;
}

/* C4:UnregisterVariableListener(idDevice, idVariable) */
static int l_UnregisterVariableListener(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_device *d;
  c4_project *p = c4_project_of_device(ctx, c4_check_id(L, 2), &d);
  size_t i = find_watch(p, ctx, c4_check_id(L, 2), c4_check_id(L, 3));
  if (i == (size_t)-1) return 0;
  memmove(&p->var_watches[i], &p->var_watches[i + 1],
          (p->nvar_watches - i - 1) * sizeof *p->var_watches);
  p->nvar_watches--;
  return 0;
}

/* C4:UnregisterAllVariableListeners() */
static int l_UnregisterAllVariableListeners(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_project *p = ctx->project;
  size_t k = 0;
  for (size_t i = 0; i < p->nvar_watches; i++)
    if (p->var_watches[i].owner != ctx) p->var_watches[k++] = p->var_watches[i];
  p->nvar_watches = k;
  return 0;
}

/* issue 11: what owner left in the other drivers' projects goes with it. */
static void forget_owner(emu_ctx *owner, void *data) {
  (void)data;
  c4_project_forget_owner(owner);
}

void c4_project_forget_owner(emu_ctx *owner) {
  emu_ctx *peer;
  for (size_t k = 0; (peer = emu_peer_at(owner, k)) != NULL; k++) {
    c4_project *p = peer->project;
    if (!p) continue;
    size_t j = 0;
    for (size_t i = 0; i < p->nvar_watches; i++)
      if (p->var_watches[i].owner != owner) p->var_watches[j++] = p->var_watches[i];
    p->nvar_watches = j;
    j = 0;
    for (size_t i = 0; i < p->ndev_events; i++)
      if (p->dev_events[i].owner != owner) p->dev_events[j++] = p->dev_events[i];
    p->ndev_events = j;
    j = 0;
    for (size_t i = 0; i < p->npending; i++) {
      if (p->pending[i].owner != owner) p->pending[j++] = p->pending[i];
      else free(p->pending[i].value);
    }
    p->npending = j;
  }
}

static void variables_open(lua_State *L, emu_ctx *ctx) {
  lua_newtable(L);
  lua_setglobal(L, "Variables");
  emu_on_shutdown(ctx, cancel_pending, ctx->project);
  emu_on_shutdown(ctx, forget_owner, NULL);   /* issue 11 */
}

static const c4_fn variables_fns[] = {
    {"AddVariable", l_AddVariable},
    {"SetVariable", l_SetVariable},
    {"DeleteVariable", l_DeleteVariable},
    {"GetVariable", l_GetVariable},
    {"GetDeviceVariable", l_GetVariable},
    {"GetDeviceVariables", l_GetDeviceVariables},
    {"SetDeviceVariable", l_SetDeviceVariable},
    {"RegisterVariableListener", l_RegisterVariableListener},
    {"UnregisterVariableListener", l_UnregisterVariableListener},
    {"UnregisterAllVariableListeners", l_UnregisterAllVariableListeners},
    {NULL, NULL},
};

/* The driver callbacks this family calls (for `c4emu apis`). */
static const char *const variables_callbacks[] = {"OnVariableChanged", "OnWatchedVariableChanged", NULL};
const c4_family c4_family_variables = {"variables", variables_fns, variables_open, variables_callbacks};
