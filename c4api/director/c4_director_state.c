/*
 * c4_director_state.c — what the Director shows in the web console's State
 * view (emulator/README-web.md): the hosted driver's variables, the events it
 * fired, and the emulated project (the driver's device, its proxies, the
 * declared devices, the controller).  One emu_state_section_add per section,
 * made when the project is built and removed when it is freed; the rows are
 * read from the model each refresh, so they are always what a spec's
 * d:variables(), d:events() and d:project() would say.
 *
 * Also the one place that sets a variable "as programming would" (Composer's
 * programming, d:set_variable, the console's Variables form): a read-only
 * variable of a hosted driver is refused with the reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "director/c4_project.h"

/* The State view lists the last events only: a driver that fires one every
 * second for a day must not grow each refresh's message. */
#define EVENTS_SHOWN 50
/* The same for a driver that adds variables by the thousand. */
#define VARIABLES_SHOWN 500

static void set_s(lua_State *J, const char *k, const char *v) {
  lua_pushstring(J, v ? v : "");
  lua_setfield(J, -2, k);
}

static void set_n(lua_State *J, const char *k, double v) {
  lua_pushnumber(J, v);
  lua_setfield(J, -2, k);
}

static void set_b(lua_State *J, const char *k, bool v) {
  lua_pushboolean(J, v);
  lua_setfield(J, -2, k);
}

void c4_var_push(lua_State *L, const c4_var *v) {
  lua_createtable(L, 0, 6);
  set_n(L, "id", (double)v->id);
  set_s(L, "value", v->value);
  set_s(L, "type", v->type);
  set_b(L, "readonly", v->readonly);
  set_b(L, "hidden", v->hidden);
}

static void variables_rows(emu_ctx *ctx, void *data, lua_State *J) {
  (void)data;
  lua_newtable(J);
  c4_project *p = ctx->project;
  c4_device *self = p ? p->self : NULL;
  for (size_t i = 0; self && i < self->nvars && i < VARIABLES_SHOWN; i++) {
    c4_var_push(J, &self->vars[i]);
    set_s(J, "name", self->vars[i].name);
    lua_rawseti(J, -2, (int)i + 1);
  }
}

static void events_rows(emu_ctx *ctx, void *data, lua_State *J) {
  (void)data;
  lua_newtable(J);
  c4_project *p = ctx->project;
  if (!p) return;
  size_t from = p->nfired > EVENTS_SHOWN ? p->nfired - EVENTS_SHOWN : 0;
  for (size_t i = from; i < p->nfired; i++) {
    const c4_fired *f = &p->fired[i];
    lua_createtable(J, 0, 4);
    set_n(J, "time_ms", (double)f->ms);
    set_n(J, "id", (double)f->id);
    set_s(J, "name", f->name);
    set_n(J, "device", (double)f->device);
    lua_rawseti(J, -2, (int)(i - from) + 1);
  }
}

static void project_rows(emu_ctx *ctx, void *data, lua_State *J) {
  (void)data;
  lua_newtable(J);
  c4_project *p = ctx->project;
  if (!p) return;
  int n = 0;
  lua_createtable(J, 0, 5);
  set_s(J, "kind", "controller");
  set_s(J, "name", p->controller_name);
  char addr[128];
  snprintf(addr, sizeof addr, "IP %s, MAC %s", p->controller_ip, p->controller_mac);
  set_s(J, "detail", addr);
  lua_rawseti(J, -2, ++n);
  for (size_t i = 0; i < p->model->ndevices; i++) {
    const c4_device *d = p->model->devices[i];
    const c4_room *r = c4_project_room(p, d->room_id);
    char detail[256];
    if (d->kind == C4_DEV_PROXY)
      snprintf(detail, sizeof detail, "%s, binding %d, of device %lld", d->proxy_type ? d->proxy_type : "",
               d->binding_id, (long long)d->parent_id);
    else
      snprintf(detail, sizeof detail, "%s", d->c4i ? d->c4i : "");
    lua_createtable(J, 0, 6);
    set_s(J, "kind", d == p->self ? "this driver" : d->kind == C4_DEV_PROXY ? "proxy" : "device");
    set_n(J, "id", (double)d->id);
    set_s(J, "name", d->name);
    set_s(J, "room", r ? r->name : "");
    set_s(J, "detail", detail);
    lua_rawseti(J, -2, ++n);
  }
}

void c4_director_state_open(emu_ctx *ctx) {
  emu_state_section_add(ctx, "variables", "id,name,value,type,readonly,hidden", variables_rows,
                        ctx->project);
  emu_state_section_add(ctx, "events fired", "time_ms,id,name,device", events_rows, ctx->project);
  emu_state_section_add(ctx, "project", "kind,id,name,room,detail", project_rows, ctx->project);
}

void c4_director_state_close(emu_ctx *ctx) {
  emu_state_section_remove(ctx, variables_rows, ctx->project);
  emu_state_section_remove(ctx, events_rows, ctx->project);
  emu_state_section_remove(ctx, project_rows, ctx->project);
}

bool c4_var_set_programming(c4_project *p, c4_device *d, c4_var *v, const char *value, char *why,
                            size_t whylen) {
  if (v->readonly && d->ctx) {
    snprintf(why, whylen, "variable '%s' is read-only: programming cannot set it (only the "
             "driver itself, with C4:SetVariable)", v->name);
    return false;
  }
  c4_var_set(p, d, v, value, true);
  return true;
}

bool c4_director_set_variable(emu_ctx *ctx, const char *name, const char *value, char *why,
                              size_t whylen) {
  c4_project *p = ctx->project;
  c4_device *self = p ? p->self : NULL;
  c4_var *v = self ? c4_var_by_name(self, name) : NULL;
  if (!v && self && name[0] && strspn(name, "0123456789") == strlen(name))
    v = c4_var_by_id(self, strtoll(name, NULL, 10)); /* an id typed in the form */
  if (!v) {
    snprintf(why, whylen, "the driver has no variable '%s'", name);
    return false;
  }
  return c4_var_set_programming(p, self, v, value, why, whylen);
}

void c4_push_hidden_properties(emu_ctx *ctx, lua_State *J) {
  lua_newtable(J);
  c4_project *p = ctx->project;
  for (size_t i = 0; p && i < p->nprops; i++) {
    if (!p->props[i].hidden) continue;
    lua_pushboolean(J, 1);
    lua_setfield(J, -2, p->props[i].name);
  }
}
