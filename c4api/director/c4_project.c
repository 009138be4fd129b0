/*
 * c4_project.c — builds the emulated project (see c4_project.h) and keeps
 * the variables of its devices.
 *
 * Fixed defaults (a spec that declares nothing sees the same project on
 * every run): project 1, site 2, building 3, floor 4, room 5 "Living Room";
 * the hosted driver is device 100, named by driver.xml's <name>; its proxies
 * (driver.xml <proxies>) are devices 101, 102, ... in the order declared;
 * declared devices without an id get 200, 201, ...; rooms named by declared
 * devices get 6, 7, ...  The controller is "c4emu", 127.0.0.1 (so that URLs
 * a driver builds from it reach its own servers on this machine), MAC
 * 000FFF0C4E01.
 *
 * A project file's drivers share one c4_model (rooms, devices): one id space
 * and one set of rooms, so every Director call answers about the whole
 * project.  The first driver to load makes it, with the room and id of every
 * other driver reserved (their devices, named by the project, are there
 * before their chunks run, as on a controller); each later driver takes its
 * reserved device, and its proxies get the next free ids after it.
 *
 * Lifetime: made by the "project" family's open (before the driver's chunk
 * runs), freed by c4_project_free() when the host frees the driver.  A
 * shared model lives until its last driver is freed; a freed driver's
 * devices stay in it, no longer hosted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "director/c4_project.h"
#include "director/c4_bindings.h"

#define SELF_DEFAULT_ID   100
#define OTHERS_FIRST_ID   200
#define FIRST_VAR_ID      1001

void *c4_grow(void *list, size_t *cap, size_t n, size_t elsize) {
  if (n < *cap) return list;
  size_t ncap = *cap ? *cap * 2 : 8;
  void *l = realloc(list, ncap * elsize);
  if (!l) abort();
  *cap = ncap;
  return l;
}

char *c4_strdup(const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) abort();
  return d;
}

c4_device *c4_project_device(c4_project *p, int64_t id) {
  c4_model *m = p ? p->model : NULL;
  for (size_t i = 0; m && i < m->ndevices; i++)
    if (m->devices[i]->id == id) return m->devices[i];
  return NULL;
}

emu_ctx *c4_project_owner(c4_project *p, int64_t id) {
  c4_device *d = c4_project_device(p, id);
  if (d && !d->ctx && d->kind == C4_DEV_PROXY && d->parent_id)
    d = c4_project_device(p, d->parent_id);
  if (!d || !d->ctx || d->ctx->phase == EMU_PHASE_DEAD || !d->ctx->project) return NULL;
  return d->ctx;
}

c4_project *c4_project_of_device(emu_ctx *ctx, int64_t id, c4_device **d) {
  emu_ctx *owner = c4_project_owner(ctx->project, id);
  c4_project *p = owner ? owner->project : ctx->project;
  *d = c4_project_device(p, id);
  return p;
}

const c4_room *c4_project_room(const c4_project *p, int64_t id) {
  c4_model *m = p ? p->model : NULL;
  for (size_t i = 0; m && i < m->nrooms; i++)
    if (m->rooms[i].id == id) return &m->rooms[i];
  return NULL;
}

const char *c4_project_name_of(const c4_project *p, int64_t id) {
  c4_device *d = c4_project_device((c4_project *)p, id);
  if (d) return d->name;
  const c4_room *r = c4_project_room(p, id);
  return r ? r->name : NULL;
}

static bool id_taken(c4_project *p, int64_t id) {
  return id == p->project_id || id == p->site_id || id == p->building_id || id == p->floor_id ||
         c4_project_room(p, id) || c4_project_device(p, id);
}

static int64_t room_for(lua_State *L, c4_project *p, const char *name, int64_t id) {
  c4_model *m = p->model;
  for (size_t i = 0; i < m->nrooms; i++) {
    if (id && m->rooms[i].id == id) return id;
    if (!id && name && strcmp(m->rooms[i].name, name) == 0) return m->rooms[i].id;
  }
  if (!name && !id) return m->rooms[0].id;
  if (id && id_taken(p, id)) {
    emu_log(emu_ctx_of(L), EMU_LOG_WARN, "[c4emu] project: room id %lld is taken: the room "
            "gets another", (long long)id);
    id = 0;
  }
  if (!id) {
    id = 6;
    while (id_taken(p, id)) id++;
  }
  char fallback[32];
  snprintf(fallback, sizeof fallback, "Room %lld", (long long)id);
  m->rooms = c4_grow(m->rooms, &m->caprooms, m->nrooms, sizeof *m->rooms);
  m->rooms[m->nrooms++] = (c4_room){id, c4_strdup(name ? name : fallback)};
  return id;
}

static c4_device *device_new(lua_State *L, c4_project *p, int64_t id, c4_dev_kind kind,
                             const char *name) {
  if (id_taken(p, id)) {
    int64_t again = 1000;
    while (id_taken(p, again)) again++;
    emu_log(emu_ctx_of(L), EMU_LOG_WARN, "[c4emu] project: id %lld is used twice: device \"%s\" "
            "gets %lld", (long long)id, name ? name : "", (long long)again);
    id = again;
  }
  c4_device *d = calloc(1, sizeof *d);
  if (!d) abort();
  d->id = id;
  d->kind = kind;
  d->name = c4_strdup(name);
  c4_model *m = p->model;
  m->devices = c4_grow(m->devices, &m->capdevices, m->ndevices, sizeof *m->devices);
  m->devices[m->ndevices++] = d;
  return d;
}

static int64_t next_free_id(c4_project *p) {
  while (id_taken(p, p->next_device_id)) p->next_device_id++;
  return p->next_device_id++;
}

/* ---- variables ---------------------------------------------------------- */

c4_var *c4_var_by_id(c4_device *d, int64_t id) {
  for (size_t i = 0; d && i < d->nvars; i++)
    if (d->vars[i].id == id) return &d->vars[i];
  return NULL;
}

c4_var *c4_var_by_name(c4_device *d, const char *name) {
  for (size_t i = 0; d && i < d->nvars; i++)
    if (strcmp(d->vars[i].name, name) == 0) return &d->vars[i];
  return NULL;
}

c4_var *c4_var_add(c4_device *d, int64_t id, const char *name, const char *value,
                   const char *type, bool readonly, bool hidden) {
  char digits[32];
  if (id) {
    /* By number: the name is the id's text, and both must be free. */
    snprintf(digits, sizeof digits, "%lld", (long long)id);
    name = digits;
    if (c4_var_by_id(d, id)) return NULL;
  } else {
    /* By name: the next free id from 1001, counting past any taken. */
    id = FIRST_VAR_ID;
    while (c4_var_by_id(d, id)) id++;
  }
  if (c4_var_by_name(d, name)) return NULL;
  d->vars = c4_grow(d->vars, &d->capvars, d->nvars, sizeof *d->vars);
  c4_var *v = &d->vars[d->nvars++];
  *v = (c4_var){id, c4_strdup(name), c4_strdup(value), c4_strdup(type), readonly, hidden};
  return v;
}

static void var_clear(c4_var *v) {
  free(v->name);
  free(v->value);
  free(v->type);
}

void c4_var_delete(c4_device *d, c4_var *v) {
  size_t i = (size_t)(v - d->vars);
  var_clear(v);
  memmove(&d->vars[i], &d->vars[i + 1], (d->nvars - i - 1) * sizeof *v);
  d->nvars--;
}

/* ---- building the project ----------------------------------------------- */

static c4_xnode *read_driver_xml(emu_ctx *ctx) {
  if (!ctx->pkg_dir) return NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/driver.xml", ctx->pkg_dir);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      char *b = realloc(buf, cap = cap * 2 + 65536);
      if (!b) break;
      buf = b;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  fclose(f);
  char err[256];
  /* The host parsed it already and refused the driver if it was bad. */
  c4_xnode *root = buf ? c4_xml_parse(buf, n, err, sizeof err) : NULL;
  free(buf);
  return root;
}

/* The driver file name: the package's own name, as Composer shows it. */
static char *driver_file_name(emu_ctx *ctx) {
  const char *path = ctx->pkg_path ? ctx->pkg_path : "driver.c4z";
  size_t len = strlen(path);
  while (len > 1 && path[len - 1] == '/') len--;
  const char *base = path;
  for (size_t i = 0; i < len; i++)
    if (path[i] == '/') base = path + i + 1;
  size_t blen = (size_t)(path + len - base);
  bool c4z = blen > 4 && strncmp(base + blen - 4, ".c4z", 4) == 0;
  char *out = malloc(blen + 5);
  if (!out) abort();
  memcpy(out, base, blen);
  strcpy(out + blen, c4z ? "" : ".c4z");
  return out;
}

static void add_proxies(lua_State *L, c4_project *p, const c4_xnode *root) {
  const c4_xnode *proxies = c4_xml_child(root, "proxies");
  for (size_t i = 0; proxies && i < proxies->nkids; i++) {
    const c4_xnode *x = proxies->kids[i];
    if (strcmp(x->name, "proxy") != 0) continue;
    char type[128], c4i[140];
    c4_xml_trimmed(x, type, sizeof type);
    const char *name = c4_xml_attr(x, "name");
    c4_device *d = device_new(L, p, next_free_id(p), C4_DEV_PROXY, name ? name : p->self->name);
    d->proxy_type = c4_strdup(type);
    snprintf(c4i, sizeof c4i, "%s.c4i", type);
    d->c4i = c4_strdup(c4i);
    d->parent_id = p->self->id;
    d->room_id = p->self->room_id;
    const char *bid = c4_xml_attr(x, "proxybindingid");
    d->binding_id = bid ? atoi(bid) : 5001 + (int)i;
  }
}

static void add_events(c4_project *p, const c4_xnode *root) {
  const c4_xnode *events = c4_xml_child(root, "events");
  for (size_t i = 0; events && i < events->nkids; i++) {
    const c4_xnode *x = events->kids[i];
    if (strcmp(x->name, "event") != 0) continue;
    char id[32], name[256], desc[512];
    c4_xml_trimmed(c4_xml_child(x, "id"), id, sizeof id);
    c4_xml_trimmed(c4_xml_child(x, "name"), name, sizeof name);
    c4_xml_trimmed(c4_xml_child(x, "description"), desc, sizeof desc);
    if (!id[0] || !name[0]) continue;
    c4_device *d = p->self;
    d->events = c4_grow(d->events, &d->capevents, d->nevents, sizeof *d->events);
    d->events[d->nevents++] = (c4_event){strtoll(id, NULL, 10), c4_strdup(name), c4_strdup(desc)};
  }
}

static void add_props(c4_project *p, const c4_xnode *root) {
  const c4_xnode *props = c4_xml_child(c4_xml_child(root, "config"), "properties");
  if (!props) return;
  p->props = calloc(props->nkids + 1, sizeof *p->props);
  if (!p->props) abort();
  for (size_t i = 0; i < props->nkids; i++) {
    const c4_xnode *x = props->kids[i];
    char name[256], type[64];
    c4_xml_trimmed(c4_xml_child(x, "name"), name, sizeof name);
    c4_xml_trimmed(c4_xml_child(x, "type"), type, sizeof type);
    if (strcmp(x->name, "property") != 0 || !name[0]) continue;
    size_t cap = 1;
    const c4_xnode *items = c4_xml_child(x, "items");
    for (size_t k = 0; items && k < items->nkids; k++) cap += items->kids[k]->textlen + 1;
    char *list = calloc(1, cap);
    if (!list) abort();
    for (size_t k = 0; items && k < items->nkids; k++) {
      char item[1024];
      if (k) strcat(list, ",");
      strcat(list, c4_xml_trimmed(items->kids[k], item, sizeof item));
    }
    p->props[p->nprops++] = (c4_propinfo){c4_strdup(name), c4_strdup(type), list, false};
  }
}

static void add_declared(lua_State *L, c4_project *p, const emu_device_decl *dd) {
  int64_t room = room_for(L, p, dd->room, dd->room_id);
  int64_t id = dd->id ? dd->id : next_free_id(p);
  char fallback[32];
  snprintf(fallback, sizeof fallback, "Device %lld", (long long)id);
  c4_device *d = device_new(L, p, id, dd->proxy ? C4_DEV_PROXY : C4_DEV_DEVICE,
                            dd->name ? dd->name : fallback);
  d->room_id = room;
  d->c4i = c4_strdup(dd->c4i ? dd->c4i : "");
  if (dd->proxy) d->proxy_type = c4_strdup(dd->proxy);
  for (size_t i = 0; i < dd->nvars; i++) {
    const char *n = dd->vars[i].name;
    bool digits = n[0] != '\0' && strspn(n, "0123456789") == strlen(n);
    if (!c4_var_add(d, digits ? strtoll(n, NULL, 10) : 0, n, dd->vars[i].value, "STRING", false,
                    false))
      emu_log(emu_ctx_of(L), EMU_LOG_WARN, "[c4emu] project: device %lld declares variable "
              "'%s' twice: the first stays", (long long)d->id, n);
  }
}

/* The model ctx's project uses: the world's when the driver is one of a
 * project file's (made by the first driver, *fresh then), else its own. */
static c4_model *model_join(emu_ctx *ctx, bool *fresh) {
  void **slot = emu_world_model(ctx);
  c4_model *m = slot ? *slot : NULL;
  *fresh = m == NULL;
  if (!m) {
    m = calloc(1, sizeof *m);
    if (!m) abort();
    m->rooms = c4_grow(NULL, &m->caprooms, 0, sizeof *m->rooms);
    m->rooms[m->nrooms++] = (c4_room){5, c4_strdup("Living Room")};
    if (slot) *slot = m;
  }
  m->refs++;
  return m;
}

void c4_project_open(lua_State *L, emu_ctx *ctx) {
  static const emu_project_decl none;
  const emu_project_decl *decl = ctx->project_decl ? ctx->project_decl : &none;
  c4_project *p = calloc(1, sizeof *p);
  if (!p) abort();
  ctx->project = p;
  bool shared = emu_world_model(ctx) != NULL, fresh;
  p->model = model_join(ctx, &fresh);
  p->controller_name = c4_strdup(decl->controller_name ? decl->controller_name : "c4emu");
  p->controller_ip = c4_strdup(decl->controller_ip ? decl->controller_ip : "127.0.0.1");
  p->controller_mac = c4_strdup(decl->controller_mac ? decl->controller_mac : "000FFF0C4E01");
  p->project_id = 1, p->site_id = 2, p->building_id = 3, p->floor_id = 4;
  p->driver_xml = read_driver_xml(ctx);

  const emu_device_decl *me = &decl->self;
  if (fresh && me->room && !me->room_id && strcmp(me->room, "Living Room") != 0) {
    /* A renamed default room keeps id 5: the first driver's room is the first. */
    free(p->model->rooms[0].name);
    p->model->rooms[0].name = c4_strdup(me->room);
  }
  int64_t room = room_for(L, p, me->room, me->room_id);
  char name[256];
  const char *xml_name = c4_xml_trimmed(c4_xml_child(p->driver_xml, "name"), name, sizeof name);
  int64_t self_id = me->id ? me->id : ctx->device_id ? ctx->device_id : SELF_DEFAULT_ID;
  c4_device *held = fresh ? NULL : c4_project_device(p, self_id);
  if (held && !held->ctx && held->kind == C4_DEV_DEVICE && !held->c4i[0]) {
    /* A later driver of a project file: the first one reserved its device. */
    p->self = held;
    if (me->name) {
      free(held->name);
      held->name = c4_strdup(me->name);
    }
    free(held->c4i);
  } else {
    p->self = device_new(L, p, self_id, C4_DEV_DEVICE,
                         me->name ? me->name : xml_name[0] ? xml_name : "Driver");
  }
  ctx->device_id = p->self->id; /* device_new may have moved it off a taken id */
  p->self->ctx = ctx;
  p->self->room_id = room;
  p->self->c4i = driver_file_name(ctx);
  size_t from = 0;
  if (fresh && shared) {
    /* The other drivers' devices first, so that no proxy takes their ids. */
    for (; from < decl->ndevices && decl->devices[from].id; from++)
      add_declared(L, p, &decl->devices[from]);
  }
  p->next_device_id = p->self->id + 1;
  add_proxies(L, p, p->driver_xml);
  add_events(p, p->driver_xml);
  add_props(p, p->driver_xml);
  p->next_device_id = OTHERS_FIRST_ID;
  for (size_t i = from; i < decl->ndevices; i++)
    if (fresh || !c4_project_device(p, decl->devices[i].id)) /* the others are there already */
      add_declared(L, p, &decl->devices[i]);
  c4_director_state_open(ctx);
}

static void free_watches(c4_watch *w) { free(w); }

static void device_free(c4_device *d) {
  for (size_t k = 0; k < d->nvars; k++) var_clear(&d->vars[k]);
  for (size_t k = 0; k < d->nevents; k++) {
    free(d->events[k].name);
    free(d->events[k].desc);
  }
  free(d->vars);
  free(d->events);
  free(d->name);
  free(d->c4i);
  free(d->proxy_type);
  free(d);
}

/* Leaves the model: the last driver frees it; before that, the driver's
 * devices stay (the project still has them) but are no longer hosted. */
static void model_leave(emu_ctx *ctx, c4_model *m) {
  if (--m->refs > 0) {
    for (size_t i = 0; i < m->ndevices; i++)
      if (m->devices[i]->ctx == ctx) m->devices[i]->ctx = NULL;
    return;
  }
  void **slot = emu_world_model(ctx);
  if (slot && *slot == m) *slot = NULL;
  for (size_t i = 0; i < m->ndevices; i++) device_free(m->devices[i]);
  free(m->devices);
  for (size_t i = 0; i < m->nrooms; i++) free(m->rooms[i].name);
  free(m->rooms);
  free(m);
}

void c4_project_free(emu_ctx *ctx) {
  c4_project *p = ctx->project;
  if (!p) return;
  c4_director_state_close(ctx);
  model_leave(ctx, p->model);
  free_watches(p->var_watches);
  free_watches(p->dev_events);
  free_watches(p->sys_events);
  for (size_t i = 0; i < p->nfired; i++) free(p->fired[i].name);
  free(p->fired);
  for (size_t i = 0; i < p->nprops; i++) {
    free(p->props[i].name);
    free(p->props[i].type);
    free(p->props[i].value_list);
  }
  free(p->props);
  for (size_t i = 0; i < p->nui; i++) free(p->ui_sent[i]);
  free(p->ui_sent);
  c4_bindings_free(p);  /* issue 11 */
  c4_xml_free(p->driver_xml);
  free(p->controller_name);
  free(p->controller_ip);
  free(p->controller_mac);
  free(p);
  ctx->project = NULL;
}

const c4_family c4_family_project = {"project", NULL, c4_project_open, NULL};
