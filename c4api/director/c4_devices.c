/*
 * c4_devices.c — device and project facts, read from the project model:
 * C4:GetControllerNetworkAddress, GetMyNetworkAddress, GetUniqueMAC,
 * GetDeviceData, GetDevices, GetDevicesByC4iName, GetProjectItems,
 * RoomGetId, GetDeviceDisplayName, ListGetDeviceName, GetProxyDevices,
 * GetProxyDevicesById, GetProxyDevicesByName, GetDriverFileName.
 *
 * Unknown ids (documented per call below): GetDeviceData, GetDeviceDisplayName,
 * ListGetDeviceName and GetDevicesByC4iName/GetProxyDevicesByName give nil,
 * GetProxyDevicesById gives nothing, GetDevices gives {} when nothing matches.
 * Rooms answer to the c4i name "roomdevice.c4i", as on a controller.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "director/c4_project.h"

#define ROOM_C4I "roomdevice.c4i"

static c4_project *proj(lua_State *L) { return emu_ctx_of(L)->project; }

/* C4:GetControllerNetworkAddress() → "127.0.0.1" (controller = {ip=}) */
static int l_GetControllerNetworkAddress(lua_State *L) {
  lua_pushstring(L, proj(L)->controller_ip);
  return 1;
}

/* C4:GetMyNetworkAddress() → the controller's address: the driver runs on it */
static int l_GetMyNetworkAddress(lua_State *L) {
  lua_pushstring(L, proj(L)->controller_ip);
  return 1;
}

/* C4:GetUniqueMAC() → "000FFF0C4E01" (controller = {mac=}) */
static int l_GetUniqueMAC(lua_State *L) {
  lua_pushstring(L, proj(L)->controller_mac);
  return 1;
}

/* One nil (not no value) for "not found", so tostring()/tonumber() of the
 * result behave as on a controller. */
static int push_nil(lua_State *L) {
  lua_pushnil(L);
  return 1;
}

/* C4:GetDeviceData(deviceId [, tag]) → the XML inside <devicedata>, or inside
 * its first <tag> in the first two levels; nil for an unknown device or tag,
 * "" for a device c4emu has no driver.xml of.  "name" is the device's name
 * in the project, for every device. */
static int l_GetDeviceData(lua_State *L) {
  c4_project *p = proj(L);
  c4_device *d = c4_project_device(p, c4_check_id(L, 2));
  const char *tag = c4_opt_string(L, 3, NULL);
  if (!d) return push_nil(L);
  if (tag && strcmp(tag, "name") == 0) {
    /* s3-apis-a: the device's name in the project (RenameDevice changes it),
     * which is driver.xml's <name> until the project names it otherwise. */
    lua_pushstring(L, d->name);
    return 1;
  }
  /* A hosted driver's device (this one or another of the project): its driver.xml. */
  emu_ctx *owner = d->kind == C4_DEV_DEVICE ? d->ctx : NULL;
  const c4_xnode *root = owner && owner->project ? owner->project->driver_xml : NULL;
  if (!root) {
    if (tag) return push_nil(L);
    lua_pushliteral(L, "");
    return 1;
  }
  const c4_xnode *n = root;
  if (tag) {
    n = c4_xml_child(root, tag);
    for (size_t i = 0; !n && i < root->nkids; i++) n = c4_xml_child(root->kids[i], tag);
    if (!n) return push_nil(L);
  }
  c4_xml_push_inner(L, n);
  return 1;
}

static const char *room_name(c4_project *p, int64_t id) {
  const c4_room *r = c4_project_room(p, id);
  return r ? r->name : "";
}

/* Whether name is one of the comma-separated items of list (trimmed; case
 * ignored when nocase). */
static bool in_list(const char *list, const char *name, bool nocase) {
  const char *s = list;
  size_t nlen = strlen(name);
  while (*s) {
    while (*s == ',' || isspace((unsigned char)*s)) s++;
    const char *e = s;
    while (*e && *e != ',') e++;
    const char *t = e;
    while (t > s && isspace((unsigned char)t[-1])) t--;
    size_t l = (size_t)(t - s);
    if (l && l == nlen && (nocase ? strncasecmp(s, name, l) : strncmp(s, name, l)) == 0) return true;
    s = e;
  }
  return false;
}

static const char *opt_field(lua_State *L, int t, const char *a, const char *b) {
  if (lua_isnoneornil(L, t)) return NULL;
  lua_getfield(L, t, a);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_getfield(L, t, b);
  }
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) {
    lua_pushfstring(L, "%s must be a comma-separated string, not a %s", a, luaL_typename(L, -1));
    luaL_argerror(L, t, lua_tostring(L, -1));
  }
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1); /* the table still holds the string */
  return s;
}

static void push_brief(lua_State *L, const c4_device *d) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, d->c4i);
  lua_setfield(L, -2, "driverFileName");
  lua_pushstring(L, d->name);
  lua_setfield(L, -2, "deviceName");
}

/* C4:GetDevices([tFilter [, locationFilter]]) → {[id] = {driverFileName=,
 * deviceName=, roomId=, roomName=, proxies= | protocol=}}; {} if none match.
 * tFilter: {C4iNames = "a.c4i,b.c4z", DeviceIds = "22,23"}. */
static int l_GetDevices(lua_State *L) {
  c4_project *p = proj(L);
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  const char *names = opt_field(L, 2, "C4iNames", "c4iNames");
  const char *ids = opt_field(L, 2, "DeviceIds", "deviceIds");
  const char *locs = c4_opt_string(L, 3, NULL);
  lua_newtable(L);
  for (size_t i = 0; i < p->model->ndevices; i++) {
    const c4_device *d = p->model->devices[i];
    char idtext[32], roomtext[32];
    snprintf(idtext, sizeof idtext, "%lld", (long long)d->id);
    snprintf(roomtext, sizeof roomtext, "%lld", (long long)d->room_id);
    if (names && !in_list(names, d->c4i, true)) continue;
    if (ids && !in_list(ids, idtext, false)) continue;
    if (locs && !in_list(locs, roomtext, false)) {
      /* Floors, buildings, the site and the project hold every room. */
      bool above = false;
      int64_t up[] = {p->floor_id, p->building_id, p->site_id, p->project_id};
      for (size_t k = 0; k < 4; k++) {
        char t[32];
        snprintf(t, sizeof t, "%lld", (long long)up[k]);
        above = above || in_list(locs, t, false);
      }
      if (!above) continue;
    }
    push_brief(L, d);
    lua_pushstring(L, roomtext);
    lua_setfield(L, -2, "roomId");
    lua_pushstring(L, room_name(p, d->room_id));
    lua_setfield(L, -2, "roomName");
    if (d->kind == C4_DEV_PROXY && d->parent_id) {
      const c4_device *parent = c4_project_device(p, d->parent_id);
      lua_newtable(L);
      if (parent) {
        push_brief(L, parent);
        lua_rawseti(L, -2, (int)parent->id);
      }
      lua_setfield(L, -2, "protocol");
    } else {
      bool any = false;
      for (size_t k = 0; k < p->model->ndevices; k++) {
        const c4_device *x = p->model->devices[k];
        if (x->parent_id != d->id) continue;
        if (!any) lua_newtable(L);
        any = true;
        push_brief(L, x);
        lua_rawseti(L, -2, (int)x->id);
      }
      if (any) lua_setfield(L, -2, "proxies");
    }
    lua_rawseti(L, -2, (int)d->id);
  }
  return 1;
}

/* {[id] = name} of devices whose c4i (or, for proxies, proxy type) is name;
 * nil when none. */
static int devices_named(lua_State *L, const char *name, bool proxies_only) {
  c4_project *p = proj(L);
  int n = 0;
  lua_newtable(L);
  if (!proxies_only && strcasecmp(name, ROOM_C4I) == 0) {
    for (size_t i = 0; i < p->model->nrooms; i++, n++) {
      lua_pushstring(L, p->model->rooms[i].name);
      lua_rawseti(L, -2, (int)p->model->rooms[i].id);
    }
  }
  for (size_t i = 0; i < p->model->ndevices; i++) {
    const c4_device *d = p->model->devices[i];
    if (proxies_only && d->kind != C4_DEV_PROXY) continue;
    bool match = strcasecmp(d->c4i, name) == 0 ||
                 (d->proxy_type && strcasecmp(d->proxy_type, name) == 0);
    if (!match) continue;
    lua_pushstring(L, d->name);
    lua_rawseti(L, -2, (int)d->id);
    n++;
  }
  if (n == 0) lua_pushnil(L);
  return 1;
}

/* C4:GetDevicesByC4iName(name) → {[id] = name}, or nil */
static int l_GetDevicesByC4iName(lua_State *L) {
  return devices_named(L, luaL_checkstring(L, 2), false);
}

/* C4:GetProxyDevicesByName(name) → {[id] = name} of proxies, or nil */
static int l_GetProxyDevicesByName(lua_State *L) {
  return devices_named(L, luaL_checkstring(L, 2), true);
}

static int push_proxies_of(lua_State *L, int64_t id) {
  c4_project *p = proj(L);
  int n = 0;
  for (size_t i = 0; i < p->model->ndevices; i++) {
    if (p->model->devices[i]->parent_id != id) continue;
    luaL_checkstack(L, 1, "too many proxies");
    lua_pushnumber(L, (lua_Number)p->model->devices[i]->id);
    n++;
  }
  return n;
}

/* C4:GetProxyDevices() → proxy id, ... (one per driver.xml <proxy>; none without) */
static int l_GetProxyDevices(lua_State *L) {
  return push_proxies_of(L, proj(L)->self->id);
}

/* C4:GetProxyDevicesById(deviceId) → proxy id, ... (nothing for an unknown device) */
static int l_GetProxyDevicesById(lua_State *L) {
  return push_proxies_of(L, c4_check_id(L, 2));
}

/* C4:RoomGetId() → the id of the driver's room */
static int l_RoomGetId(lua_State *L) {
  lua_pushnumber(L, (lua_Number)proj(L)->self->room_id);
  return 1;
}

/* C4:ListGetDeviceName(id) / C4:GetDeviceDisplayName(id) → name (devices and
 * rooms), or nil for an unknown id.  Any number is an id to look up: one that
 * no device can have (0, -1, 2.5) is unknown like 999 and answers nil.  Drivers
 * turn an installer's typed id into `tonumber(value) or -1` and test the name
 * for nil (a public variable-watcher does), so raising there would stop a
 * driver that a controller runs.  A non-number is still a programmer's
 * mistake and raises. */
static int l_ListGetDeviceName(lua_State *L) {
  lua_Number n = luaL_checknumber(L, 2);
  const char *name = NULL;
  if (n >= 1 && n == (lua_Number)(int64_t)n) name = c4_project_name_of(proj(L), (int64_t)n);
  lua_pushstring(L, name); /* NULL pushes nil: one value either way */
  return 1;
}

/* C4:GetDriverFileName() → "name.c4z" (the package's file name) */
static int l_GetDriverFileName(lua_State *L) {
  lua_pushstring(L, proj(L)->self->c4i);
  return 1;
}

/* ---- C4:GetProjectItems ------------------------------------------------- */

typedef struct {
  bool locations, devices, proxies, device_data, root_tags;
} items_filter;

static void add_text(luaL_Buffer *b, const char *s) {
  for (; *s; s++) {
    if (*s == '&') luaL_addstring(b, "&amp;");
    else if (*s == '<') luaL_addstring(b, "&lt;");
    else if (*s == '>') luaL_addstring(b, "&gt;");
    else luaL_addchar(b, *s);
  }
}

static void add_field(luaL_Buffer *b, const char *tag, const char *text) {
  luaL_addchar(b, '<');
  luaL_addstring(b, tag);
  luaL_addchar(b, '>');
  add_text(b, text);
  luaL_addstring(b, "</");
  luaL_addstring(b, tag);
  luaL_addchar(b, '>');
}

static void item_open(luaL_Buffer *b, int64_t id, const char *name, int type) {
  char t[32];
  luaL_addstring(b, "<item>");
  snprintf(t, sizeof t, "%lld", (long long)id);
  add_field(b, "id", t);
  add_field(b, "name", name);
  snprintf(t, sizeof t, "%d", type);
  add_field(b, "type", t);
}

static void add_device(luaL_Buffer *b, c4_project *p, const c4_device *d, const items_filter *f) {
  bool proxy = d->kind == C4_DEV_PROXY;
  item_open(b, d->id, d->name, proxy ? 7 : 6);
  if (proxy) add_field(b, "c4i", d->c4i);
  if (f->device_data) {
    char t[32];
    luaL_addstring(b, "<itemdata>");
    add_field(b, "config_data_file", d->c4i);
    snprintf(t, sizeof t, "%lld", (long long)d->room_id);
    add_field(b, "room_id", t);
    luaL_addstring(b, "</itemdata>");
  }
  bool any = false;
  for (size_t i = 0; f->proxies && !proxy && i < p->model->ndevices; i++) {
    if (p->model->devices[i]->parent_id != d->id) continue;
    if (!any) luaL_addstring(b, "<subitems>");
    any = true;
    add_device(b, p, p->model->devices[i], f);
  }
  if (any) luaL_addstring(b, "</subitems>");
  luaL_addstring(b, "</item>");
}

/* The devices of a room (all rooms when room is 0) the filter asks for. */
static void add_devices(luaL_Buffer *b, c4_project *p, int64_t room, const items_filter *f) {
  for (size_t i = 0; i < p->model->ndevices; i++) {
    const c4_device *d = p->model->devices[i];
    if (room && d->room_id != room) continue;
    bool proxy = d->kind == C4_DEV_PROXY;
    /* Proxies of a device listed here sit inside it. */
    if (proxy && d->parent_id && f->devices) continue;
    if (proxy ? !f->proxies : !f->devices) continue;
    add_device(b, p, d, f);
  }
}

/* C4:GetProjectItems([filter, ...]) → the project as XML: <systemitems> with
 * nested <item>s (type 1 project, 2 site, 3 building, 4 floor, 8 room,
 * 6 device, 7 proxy).  Filters: ALL, LOCATIONS, DEVICES, PROXIES,
 * LIMIT_DEVICE_DATA, NO_ROOT_TAGS; others (AGENTS, JUST_CAPABILITIES) give
 * no items of their own. */
static int l_GetProjectItems(lua_State *L) {
  c4_project *p = proj(L);
  items_filter f = {false, false, false, true, true};
  bool any_kind = false;
  for (int i = 2; i <= lua_gettop(L); i++) {
    const char *s = luaL_checkstring(L, i);
    if (strcmp(s, "ALL") == 0) f.locations = f.devices = f.proxies = any_kind = true;
    else if (strcmp(s, "LOCATIONS") == 0) f.locations = any_kind = true;
    else if (strcmp(s, "DEVICES") == 0) f.devices = any_kind = true;
    else if (strcmp(s, "PROXIES") == 0) f.proxies = any_kind = true;
    else if (strcmp(s, "LIMIT_DEVICE_DATA") == 0) f.device_data = false;
    else if (strcmp(s, "NO_ROOT_TAGS") == 0) f.root_tags = false;
    else any_kind = true;
  }
  if (!any_kind) f.locations = f.devices = f.proxies = true;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (f.root_tags) luaL_addstring(&b, "<systemitems>");
  if (f.locations) {
    item_open(&b, p->project_id, "Project", 1);
    luaL_addstring(&b, "<itemdata><scale>CELSIUS</scale></itemdata><subitems>");
    item_open(&b, p->site_id, "Site", 2);
    luaL_addstring(&b, "<subitems>");
    item_open(&b, p->building_id, "Building", 3);
    luaL_addstring(&b, "<subitems>");
    item_open(&b, p->floor_id, "Main Floor", 4);
    luaL_addstring(&b, "<subitems>");
    for (size_t i = 0; i < p->model->nrooms; i++) {
      item_open(&b, p->model->rooms[i].id, p->model->rooms[i].name, 8);
      luaL_addstring(&b, "<c4i>" ROOM_C4I "</c4i><subitems>");
      add_devices(&b, p, p->model->rooms[i].id, &f);
      luaL_addstring(&b, "</subitems></item>");
    }
    luaL_addstring(&b, "</subitems></item></subitems></item></subitems></item></subitems></item>");
  } else {
    add_devices(&b, p, 0, &f);
  }
  if (f.root_tags) luaL_addstring(&b, "</systemitems>");
  luaL_pushresult(&b);
  return 1;
}

static const c4_fn devices_fns[] = {
    {"GetControllerNetworkAddress", l_GetControllerNetworkAddress},
    {"GetMyNetworkAddress", l_GetMyNetworkAddress},
    {"GetUniqueMAC", l_GetUniqueMAC},
    {"GetDeviceData", l_GetDeviceData},
    {"GetDevices", l_GetDevices},
    {"GetDevicesByC4iName", l_GetDevicesByC4iName},
    {"GetProxyDevicesByName", l_GetProxyDevicesByName},
    {"GetProxyDevices", l_GetProxyDevices},
    {"GetProxyDevicesById", l_GetProxyDevicesById},
    {"GetProjectItems", l_GetProjectItems},
    {"RoomGetId", l_RoomGetId},
    {"ListGetDeviceName", l_ListGetDeviceName},
    {"GetDeviceDisplayName", l_ListGetDeviceName},
    {"GetDriverFileName", l_GetDriverFileName},
    {NULL, NULL},
};

const c4_family c4_family_devices = {"devices", devices_fns, NULL, NULL};
