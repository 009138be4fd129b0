/*
 * c4_naming.c — devices by their names in the project: C4:RenameDevice and
 * C4:GetDevicesByName.
 *
 * RenameDevice(proxyOrDeviceId, name) changes the name in the project model,
 * so GetDeviceDisplayName, ListGetDeviceName, GetDeviceData(id, "name"),
 * GetProjectItems, GetDevices and d:project() all see the new one.  The
 * page: "This API works if called in OnDriverLateInit. It will not work in
 * onDriverInit" — there the call changes nothing (the init rule notes it,
 * and a warning says so).  Any device of the project may be renamed ("can be
 * also called from a driver other than that of the device's"); in a project
 * of several hosted drivers every driver sees it (they share one model).  An
 * unknown id or an empty name: a warning, nothing changes.
 *
 * GetDevicesByName(name [, room]) → {[id] = roomId}: the page says "a table
 * of Device ID and Room ID values" and "the ID value returned for the Device
 * is actually the Proxy ID", and drivers in the wild iterate it with
 * `for deviceId in pairs(...)` without a nil check, so no match gives {}.
 * A protocol device that has proxies is represented by them (Composer shows
 * the proxies); names and the room's name compare exactly.
 */
#include <stdlib.h>
#include <string.h>

#include "director/c4_project.h"

static bool has_proxies(const c4_project *p, int64_t id) {
  for (size_t i = 0; i < p->model->ndevices; i++)
    if (p->model->devices[i]->parent_id == id) return true;
  return false;
}

static void set_name(c4_device *d, const char *name) {
  char *n = c4_strdup(name);
  free(d->name);
  d->name = n;
}

/* C4:RenameDevice(proxyOrDeviceId, name) */
static int l_RenameDevice(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  int64_t id = c4_check_id(L, 2);
  const char *name = c4_check_cstring(L, 3, "the device name");
  if (ctx->phase == EMU_PHASE_INIT) {
    emu_log(ctx, EMU_LOG_WARN, "C4:RenameDevice(%lld, \"%s\") does nothing in OnDriverInit "
            "(\"It will not work in onDriverInit\"): call it from OnDriverLateInit on",
            (long long)id, name);
    return 0;
  }
  c4_device *mine = c4_project_device(ctx->project, id), *theirs = NULL;
  c4_project_of_device(ctx, id, &theirs);
  if (!mine && !theirs) {
    emu_log(ctx, EMU_LOG_WARN, "C4:RenameDevice: %lld is not a device of the project%s",
            (long long)id, c4_project_room(ctx->project, id) ? " (it is a room)" : "");
    return 0;
  }
  if (!*name) {
    emu_log(ctx, EMU_LOG_WARN, "C4:RenameDevice(%lld, \"\"): a device needs a name; it keeps "
            "\"%s\"", (long long)id, (mine ? mine : theirs)->name);
    return 0;
  }
  emu_log(ctx, EMU_LOG_INFO, "[c4emu] RenameDevice: device %lld \"%s\" is now \"%s\"",
          (long long)id, (mine ? mine : theirs)->name, name);
  if (mine) set_name(mine, name);
  if (theirs && theirs != mine) set_name(theirs, name);
  return 0;
}

/* C4:GetDevicesByName(name [, roomName]) → {[id] = roomId} ({} when none) */
static int l_GetDevicesByName(lua_State *L) {
  c4_project *p = emu_ctx_of(L)->project;
  const char *name = luaL_checkstring(L, 2);
  const char *room = c4_opt_string(L, 3, NULL);
  lua_newtable(L);
  for (size_t i = 0; i < p->model->ndevices; i++) {
    const c4_device *d = p->model->devices[i];
    if (strcmp(d->name, name) != 0 || has_proxies(p, d->id)) continue;
    if (room) {
      const c4_room *r = c4_project_room(p, d->room_id);
      if (!r || strcmp(r->name, room) != 0) continue;
    }
    lua_pushnumber(L, (lua_Number)d->room_id);
    lua_rawseti(L, -2, (int)d->id);
  }
  return 1;
}

static const c4_fn naming_fns[] = {
    {"RenameDevice", l_RenameDevice},
    {"GetDevicesByName", l_GetDevicesByName},
    {NULL, NULL},
};

const c4_family c4_family_naming = {"naming", naming_fns, NULL, NULL};
