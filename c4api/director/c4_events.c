/*
 * c4_events.c — events: the driver's own (driver.xml <events>, C4:AddEvent,
 * DeleteEvent) fired with C4:FireEvent / FireEventByID, and the events it
 * listens to: system events (C4:RegisterSystemEvent with the global
 * C4SystemEvents table, OnSystemEvent(data)) and other devices' events
 * (C4:RegisterDeviceEvent, OnDeviceEvent(device, event)).
 *
 * Every fired event is recorded with the clock time for a spec's
 * d:events().  Firing an event the driver does not have: no public source
 * says what the controller does (programming can only hang on declared
 * events, so nothing can run); c4emu logs a warning and records nothing.
 *
 * C4SystemEvents holds the ids the DriverWorks page lists (OnPIP = 6, ...,
 * OnDirectorIPAddressChanged = 90); the page names OnItemAdded & co.
 * without ids, so they are left out.
 */
#include <stdlib.h>
#include <string.h>

#include "director/c4_project.h"

static const struct {
  const char *name;
  int id;
} system_events[] = {
    {"OnPIP", 6},
    {"OnNetworkBindingAdded", 17},
    {"OnNetworkBindingRemoved", 18},
    {"OnNetworkBindingRegistered", 19},
    {"OnNetworkBindingUnregistered", 20},
    {"OnDeviceOnline", 48},
    {"OnDeviceOffline", 49},
    {"OnZipcodeChanged", 52},
    {"OnLatitudeChanged", 53},
    {"OnLongitudeChanged", 54},
    {"OnLocaleChanged", 58},
    {"OnDirectorIPAddressChanged", 90},
};

bool c4_system_event_id(const char *name, int64_t *id) {
  for (size_t i = 0; i < sizeof system_events / sizeof system_events[0]; i++) {
    if (strcmp(system_events[i].name, name) == 0) {
      *id = system_events[i].id;
      return true;
    }
  }
  return false;
}

static c4_event *event_by_id(c4_device *d, int64_t id) {
  for (size_t i = 0; i < d->nevents; i++)
    if (d->events[i].id == id) return &d->events[i];
  return NULL;
}

/* Records a fired event, then tells the drivers that registered for it
 * (RegisterDeviceEvent on this device): OnDeviceEvent runs before FireEvent
 * returns — the callback may not touch e, which it could delete. */
static void record(emu_ctx *ctx, const c4_event *e) {
  c4_project *p = ctx->project;
  int64_t id = e->id;
  p->fired = c4_grow(p->fired, &p->capfired, p->nfired, sizeof *p->fired);
  p->fired[p->nfired++] = (c4_fired){emu_now(ctx), p->self->id, id, c4_strdup(e->name)};
  emu_log(ctx, EMU_LOG_DEBUG, "[c4emu] event %lld \"%s\" fired", (long long)id, e->name);
  c4_device_event(p, p->self->id, id);
}

/* C4:FireEvent(name) */
static int l_FireEvent(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  const char *name = luaL_checkstring(L, 2);
  c4_device *self = ctx->project->self;
  for (size_t i = 0; i < self->nevents; i++) {
    if (strcmp(self->events[i].name, name) == 0) {
      record(ctx, &self->events[i]);
      return 0;
    }
  }
  emu_log(ctx, EMU_LOG_WARN, "C4:FireEvent: the driver has no event \"%s\" (declare it in "
          "driver.xml <events> or add it with C4:AddEvent): nothing fires", name);
  return 0;
}

/* C4:FireEventByID(id) */
static int l_FireEventByID(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int64_t id = (int64_t)luaL_checknumber(L, 2);
  c4_event *e = event_by_id(ctx->project->self, id);
  if (!e) {
    emu_log(ctx, EMU_LOG_WARN, "C4:FireEventByID: the driver has no event %lld: nothing fires",
            (long long)id);
    return 0;
  }
  record(ctx, e);
  return 0;
}

/* C4:AddEvent(id, name, description [, sortOrder]) → true; an existing id is updated */
static int l_AddEvent(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int64_t id = c4_check_id(L, 2);
  const char *name = luaL_checkstring(L, 3);
  const char *desc = luaL_optstring(L, 4, "");
  if (!lua_isnoneornil(L, 5)) luaL_checknumber(L, 5);
  c4_device *self = ctx->project->self;
  c4_event *e = event_by_id(self, id);
  if (e) {
    free(e->name);
    free(e->desc);
  } else {
    self->events = c4_grow(self->events, &self->capevents, self->nevents, sizeof *self->events);
    e = &self->events[self->nevents++];
    e->id = id;
  }
  e->name = c4_strdup(name);
  e->desc = c4_strdup(desc);
  lua_pushboolean(L, 1);
  return 1;
}

/* C4:DeleteEvent(id) */
static int l_DeleteEvent(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_device *self = ctx->project->self;
  c4_event *e = event_by_id(self, (int64_t)luaL_checknumber(L, 2));
  if (!e) return 0;
  size_t i = (size_t)(e - self->events);
  free(e->name);
  free(e->desc);
  memmove(&self->events[i], &self->events[i + 1], (self->nevents - i - 1) * sizeof *e);
  self->nevents--;
  return 0;
}

static void watch_add(c4_watch **list, size_t *n, size_t *cap, emu_ctx *owner, int64_t dev,
                      int64_t id) {
  for (size_t i = 0; i < *n; i++)
    if ((*list)[i].owner == owner && (*list)[i].device == dev && (*list)[i].id == id) return;
  *list = c4_grow(*list, cap, *n, sizeof **list);
  (*list)[(*n)++] = (c4_watch){owner, dev, id};
}

/* Removes owner's entries matching (dev, id); all of them when all is set. */
static void watch_remove(c4_watch *list, size_t *n, emu_ctx *owner, int64_t dev, int64_t id,
                         bool all) {
  size_t k = 0;
  for (size_t i = 0; i < *n; i++) {
    bool match = list[i].owner == owner && (all || (list[i].device == dev && list[i].id == id));
    if (!match) list[k++] = list[i];
  }
  *n = k;
}

/* C4:RegisterSystemEvent(eventId, deviceId) — deviceId 0: every device */
static int l_RegisterSystemEvent(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_project *p = ctx->project;
  int64_t id = (int64_t)luaL_checknumber(L, 2);
  int64_t dev = (int64_t)luaL_optnumber(L, 3, 0);
  watch_add(&p->sys_events, &p->nsys_events, &p->capse, ctx, dev, id);
  return 0;
}

/* C4:UnregisterSystemEvent(eventId, deviceId) */
static int l_UnregisterSystemEvent(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_project *p = ctx->project;
  int64_t id = (int64_t)luaL_checknumber(L, 2);
  int64_t dev = (int64_t)luaL_optnumber(L, 3, 0);
  watch_remove(p->sys_events, &p->nsys_events, ctx, dev, id, false);
  return 0;
}

/* C4:UnregisterAllSystemEvents() */
static int l_UnregisterAllSystemEvents(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  watch_remove(ctx->project->sys_events, &ctx->project->nsys_events, ctx, 0, 0, true);
  return 0;
}

/* C4:RegisterDeviceEvent(deviceId, eventId) */
static int l_RegisterDeviceEvent(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int64_t dev = c4_check_id(L, 2), id = (int64_t)luaL_checknumber(L, 3);
  c4_device *d;
  c4_project *p = c4_project_of_device(ctx, dev, &d);   /* issue 11: another driver's events */
  watch_add(&p->dev_events, &p->ndev_events, &p->capde, ctx, dev, id);
  return 0;
}

/* C4:UnregisterDeviceEvent(deviceId, eventId) */
static int l_UnregisterDeviceEvent(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int64_t dev = c4_check_id(L, 2), id = (int64_t)luaL_checknumber(L, 3);
  c4_device *d;
  c4_project *p = c4_project_of_device(ctx, dev, &d);
  watch_remove(p->dev_events, &p->ndev_events, ctx, dev, id, false);
  return 0;
}

/* C4:UnregisterAllDeviceEvents() */
static int l_UnregisterAllDeviceEvents(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  watch_remove(ctx->project->dev_events, &ctx->project->ndev_events, ctx, 0, 0, true);
  return 0;
}

/* A copy of a registration list: callbacks may register or unregister. */
static c4_watch *snapshot(const c4_watch *list, size_t n) {
  c4_watch *c = malloc((n ? n : 1) * sizeof *c);
  if (!c) abort();
  if (n) memcpy(c, list, n * sizeof *c);
  return c;
}

int c4_system_event(c4_project *p, int64_t id, int64_t device, const char *data) {
  int n = 0;
  emu_ctx *done[16];
  size_t count = p->nsys_events;
  c4_watch *list = snapshot(p->sys_events, count);
  for (size_t i = 0; i < count; i++) {
    c4_watch w = list[i];
    if (w.id != id || (device && w.device && w.device != device)) continue;
    bool seen = false;
    for (int k = 0; k < n && k < 16; k++) seen = seen || done[k] == w.owner;
    if (seen) continue;
    if (n < 16) done[n] = w.owner;
    n++;
    if (emu_push_global_fn(w.owner, "OnSystemEvent")) {
      lua_pushstring(w.owner->L, data ? data : "");
      emu_pcall(w.owner, 1, 0, "OnSystemEvent");
      emu_charge_stall(w.owner);
    }
  }
  free(list);
  return n;
}

int c4_device_event(c4_project *p, int64_t device, int64_t event) {
  int n = 0;
  size_t count = p->ndev_events;
  c4_watch *list = snapshot(p->dev_events, count);
  for (size_t i = 0; i < count; i++) {
    c4_watch w = list[i];
    if (w.device != device || w.id != event) continue;
    n++;
    if (emu_push_global_fn(w.owner, "OnDeviceEvent")) {
      lua_pushnumber(w.owner->L, (lua_Number)device);
      lua_pushnumber(w.owner->L, (lua_Number)event);
      emu_pcall(w.owner, 2, 0, "OnDeviceEvent");
      emu_charge_stall(w.owner);
    }
  }
  free(list);
  return n;
}

static void events_open(lua_State *L, emu_ctx *ctx) {
  (void)ctx;
  lua_createtable(L, 0, (int)(sizeof system_events / sizeof system_events[0]));
  for (size_t i = 0; i < sizeof system_events / sizeof system_events[0]; i++) {
    lua_pushinteger(L, system_events[i].id);
    lua_setfield(L, -2, system_events[i].name);
  }
  lua_setglobal(L, "C4SystemEvents");
}

static const c4_fn events_fns[] = {
    {"FireEvent", l_FireEvent},
    {"FireEventByID", l_FireEventByID},
    {"AddEvent", l_AddEvent},
    {"DeleteEvent", l_DeleteEvent},
    {"RegisterSystemEvent", l_RegisterSystemEvent},
    {"UnregisterSystemEvent", l_UnregisterSystemEvent},
    {"UnregisterAllSystemEvents", l_UnregisterAllSystemEvents},
    {"RegisterDeviceEvent", l_RegisterDeviceEvent},
    {"UnregisterDeviceEvent", l_UnregisterDeviceEvent},
    {"UnregisterAllDeviceEvents", l_UnregisterAllDeviceEvents},
    {NULL, NULL},
};

/* The driver callbacks this family calls (for `c4emu apis`). */
static const char *const events_callbacks[] = {"OnSystemEvent", "OnDeviceEvent", NULL};
const c4_family c4_family_events = {"events", events_fns, events_open, events_callbacks};
