/*
 * c4_project.h — the emulated Director's project: rooms, devices (the hosted
 * driver, its proxies, the devices a spec declares), their variables and
 * events, listeners and registrations, and what the hosted driver fired or
 * sent to the UI.  Each hosted driver has its own c4_project (ctx->project);
 * the rooms and devices are a c4_model, which every driver of a project file
 * shares (one id space, as on a controller: README.md).
 *
 * Devices are held by pointer, so a c4_device * stays valid until the
 * project is freed.  Strings are owned by the project.
 */
#ifndef C4_PROJECT_H
#define C4_PROJECT_H

#include <stdbool.h>
#include <stdint.h>

#include "c4api.h"
#include "lua/c4_xmltree.h"

typedef enum { C4_DEV_DEVICE, C4_DEV_PROXY } c4_dev_kind;

typedef struct {
  int64_t id;
  char *name, *value, *type;
  bool readonly, hidden;
} c4_var;

typedef struct {
  int64_t id;
  char *name, *desc;
} c4_event;

typedef struct c4_device {
  int64_t id;
  c4_dev_kind kind;
  char *name;
  int64_t room_id;
  char *c4i;              /* driver file name */
  char *proxy_type;       /* proxies: "light_v2"; NULL otherwise */
  int64_t parent_id;      /* proxies: the protocol device; 0 otherwise */
  int binding_id;         /* proxies: proxybindingid (5001 ...) */
  emu_ctx *ctx;           /* the hosted driver this device is, or NULL */
  c4_var *vars;
  size_t nvars, capvars;
  c4_event *events;
  size_t nevents, capevents;
} c4_device;

typedef struct {
  int64_t id;
  char *name;
} c4_room;

/* A registration of a hosted driver: a variable listener, a device event or
 * a system event it asked for. */
typedef struct {
  emu_ctx *owner;
  int64_t device, id;
} c4_watch;

typedef struct {
  uint64_t ms;            /* emulator clock */
  int64_t device, id;
  char *name;
} c4_fired;

typedef struct {
  char *name, *type, *value_list;  /* value_list: LIST / DYNAMIC_LIST items, comma-joined */
  bool hidden;
} c4_propinfo;

/* The rooms and devices of the project: the driver's own when it runs on its
 * own, the world's when it is one of a project file's drivers (the first
 * driver to load makes it, the last one freed frees it). */
typedef struct c4_model {
  int refs;
  c4_room *rooms;
  size_t nrooms, caprooms;
  c4_device **devices;
  size_t ndevices, capdevices;
} c4_model;

typedef struct c4_project {
  char *controller_name, *controller_ip, *controller_mac;
  int64_t project_id, site_id, building_id, floor_id;
  c4_model *model;        /* rooms and devices (shared in a project file) */
  int64_t next_device_id;
  c4_device *self;        /* the hosted driver's device */
  c4_xnode *driver_xml;   /* its driver.xml, or NULL */
  c4_watch *var_watches, *dev_events, *sys_events;
  size_t nvar_watches, ndev_events, nsys_events, capvw, capde, capse;
  c4_fired *fired;
  size_t nfired, capfired;
  c4_propinfo *props;
  size_t nprops;
  char **ui_sent;         /* what SendDataToUI sent, in order */
  size_t nui, capui;
  struct c4_pending *pending;   /* OnWatchedVariableChanged calls not made yet */
  size_t npending, cappending;
  emu_sched *pending_entry;     /* the clock entry that makes them */
  /* issue 11: bindings, links, proxy messages (c4_bindings.h) */
  struct c4_bindings *bindings;
} c4_project;

/* Builds ctx->project from ctx->project_decl and the package's driver.xml.
 * Never raises (it runs outside any protected call): an id used twice is
 * logged and replaced. */
void c4_project_open(lua_State *L, emu_ctx *ctx);

c4_device *c4_project_device(c4_project *p, int64_t id);      /* NULL if none */
/* The hosted driver that answers for device id (the device, or the device a
 * proxy belongs to), or NULL (a declared device, unknown id, a driver gone). */
emu_ctx *c4_project_owner(c4_project *p, int64_t id);
/* issue 11: the project that holds device id's variables and events: the
 * hosted driver's own (another driver of the same project file: that
 * driver's), with the device in *d (NULL if unknown). */
c4_project *c4_project_of_device(emu_ctx *ctx, int64_t id, c4_device **d);
/* issue 11: removes what owner registered in the other drivers' projects
 * (listeners, device events, pending OnWatchedVariableChanged); its shutdown. */
void c4_project_forget_owner(emu_ctx *owner);
const c4_room *c4_project_room(const c4_project *p, int64_t id);
/* A device's or a room's name (ListGetDeviceName), NULL if the id is unknown. */
const char *c4_project_name_of(const c4_project *p, int64_t id);

/* Variables of a device. */
c4_var *c4_var_by_id(c4_device *d, int64_t id);
c4_var *c4_var_by_name(c4_device *d, const char *name);
/* Adds a variable: id 0 picks the next free one from 1001.  Returns NULL if
 * the id or the name is taken. */
c4_var *c4_var_add(c4_device *d, int64_t id, const char *name, const char *value,
                   const char *type, bool readonly, bool hidden);
void c4_var_delete(c4_device *d, c4_var *v);
/*
 * Sets a variable's value and tells who listens: the hosted driver that owns
 * the device gets Variables[name] updated, and OnVariableChanged(name) when
 * `from_outside` (programming, another driver: never for its own change);
 * every listener gets OnWatchedVariableChanged on the next turn of the loop.
 */
void c4_var_set(c4_project *p, c4_device *d, c4_var *v, const char *value, bool from_outside);
/* The same from programming (c4_var_set with from_outside): a hosted
 * driver's read-only variable is refused, false with the reason in why. */
bool c4_var_set_programming(c4_project *p, c4_device *d, c4_var *v, const char *value, char *why,
                            size_t whylen);
/* issue 17: the State view's sections (c4_director_state.c), added when the
 * project is built and removed before it is freed. */
void c4_director_state_open(emu_ctx *ctx);
/* Pushes {id=, value=, type=, readonly=, hidden=} for v (d:variables(), the
 * State view's rows). */
void c4_var_push(lua_State *L, const c4_var *v);
void c4_director_state_close(emu_ctx *ctx);

/* Appends a growing array's element; aborts on out of memory (like the host). */
void *c4_grow(void *list, size_t *cap, size_t n, size_t elsize);
char *c4_strdup(const char *s);

/* Argument i as a device or variable id (a positive integer); raises otherwise. */
int64_t c4_check_id(lua_State *L, int i);
/* Argument i as a variable value: a string, a number, or a boolean ("1"/"0"). */
const char *c4_check_value(lua_State *L, int i);

/* For the spec module (emulator/emu_module_director.c): */
/* d:system_event(name|id, data): OnSystemEvent(data) to every hosted driver
 * registered for the event (any device, or `device` when it is not 0);
 * returns how many got it. */
int c4_system_event(c4_project *p, int64_t id, int64_t device, const char *data);
/* d:device_event(device, event): OnDeviceEvent to the drivers registered. */
int c4_device_event(c4_project *p, int64_t device, int64_t event);
/* Pushes C4SystemEvents' id for name, or returns false. */
bool c4_system_event_id(const char *name, int64_t *id);

#endif
