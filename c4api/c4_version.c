/*
 * c4_version.c — the OS-version table: which Control4 OS version added each
 * C4 API and each change of a callback's argument list.  This is data; code
 * asks c4_has() / c4_api_on() and never compares versions itself.
 *
 * Sources: shared/reference/driverworks.md (§2.2, §5, §7.1, §12) and the
 * seeds.  Where sources disagree the choice is written beside the row.
 */
#include <stdio.h>
#include <string.h>

#include "c4api.h"

#define V(a, b, c) C4_OSVER(a, b, c)

/* Behaviours (callback argument lists and the like), indexed by c4_feature. */
static const struct {
  c4_feature feature;
  c4_osver since;
  const char *what;
} feature_rows[C4F__COUNT] = {
    {C4F_LIFECYCLE_DIT, V(3, 2, 0), "OnDriverInit/LateInit/Destroyed receive the DIT string"},
    {C4F_SERVER_STATUS_CB, V(2, 9, 0), "OnServerStatusChanged(port, status) is called"},
    {C4F_SERVER_CONN_IP, V(2, 9, 0), "OnServerConnectionStatusChanged(handle, port, status, ip)"},
    /* The seed's console shows the IP; the standalone page lists IP and
     * remote port: both arrive from 2.9.0. */
    {C4F_SERVER_DATA_ADDR, V(2, 9, 0), "OnServerDataIn(handle, data, ip, port)"},
    {C4F_SERVER_IDENTIFIER, V(3, 3, 1), "server callbacks receive the identifier last"},
    {C4F_SERVER_UDP_ADDRESS, V(4, 0, 0), "C4:ServerSend(port, data, address) for UDP"},
    {C4F_GETTIME_UNITS, V(4, 0, 0), "C4:GetTime(units, fractional)"},
    {C4F_NO_IO_POPEN, V(3, 3, 0), "io.popen removed"},
};

/* Whole APIs.  Methods not listed here exist on every version. */
static const struct {
  const char *api;
  c4_osver since;
  const char *note;
} api_rows[] = {
    /* The CreateServer page says "Available from 2.10.0", yet describes the
     * pre-2.9.0 behaviour and the 2.9.0 change; its section header says
     * "delivered in 2.1.0".  2.1.0 makes every documented signature
     * reachable (2.8.0: no status callback, 3-argument callbacks), so we
     * take it.  The companions share the row. */
    {"CreateServer", V(2, 1, 0), "section header's 2.1.0; the page's 2.10.0 would hide pre-2.9.0"},
    {"DestroyServer", V(2, 1, 0), "shares CreateServer's row"},
    {"ServerSend", V(2, 1, 0), "shares CreateServer's row"},
    {"ServerCloseClient", V(2, 1, 0), "shares CreateServer's row"},
    {"CreateTLSServer", V(3, 3, 0), "seed: Available from 3.3.0"},
    {"PortInUse", V(3, 3, 1), "reference §2.1"},
    {"GetTime", V(3, 2, 3), "reference §5.3"},
    {"GetTickCount", V(2, 4, 0), "reference §5.3"},
    {"OnServerStatusChanged", V(2, 9, 0), "callback, see feature row"},
    {"GetSandboxDir", V(2, 9, 0), "reference §1"},
    {"GetC4zDir", V(2, 10, 0), "reference §1"},
    {"GetDriverFileName", V(3, 3, 0), "reference §1"},
    {"UUID", V(3, 3, 0), "reference §9"},
    {"PersistSetValue", V(2, 10, 0), "reference §7.4"},
    {"PersistGetValue", V(2, 10, 0), "reference §7.4"},
    {"PersistDeleteValue", V(2, 10, 0), "reference §7.4"},
    /* issue 10: the Director.  "1.6.0" is what most pages say (reference
     * §12 #19: likely a placeholder); it is the oldest version we know, so
     * those APIs exist on every version we emulate. */
    {"AddVariable", V(1, 6, 0), "variable pages"},
    {"SetVariable", V(1, 6, 0), "variable pages"},
    {"DeleteVariable", V(1, 6, 0), "no page; taken with AddVariable"},
    {"GetVariable", V(1, 6, 0), "variable pages"},
    {"GetDeviceVariable", V(1, 6, 0), "variable pages"},
    {"GetDeviceVariables", V(1, 6, 0), "no page; taken with GetDeviceVariable"},
    {"SetDeviceVariable", V(1, 6, 0), "variable pages"},
    {"RegisterVariableListener", V(1, 6, 0), "variable pages"},
    {"UnregisterVariableListener", V(1, 6, 0), "variable pages"},
    {"UnregisterAllVariableListeners", V(1, 6, 0), "page gives no version"},
    {"FireEvent", V(2, 8, 0), "reference §9, event pages"},
    {"FireEventByID", V(2, 8, 0), "reference §9"},
    {"AddEvent", V(2, 8, 0), "reference §9, event pages"},
    {"DeleteEvent", V(2, 8, 0), "reference §9"},
    {"RegisterDeviceEvent", V(2, 9, 0), "event pages"},
    {"UnregisterDeviceEvent", V(2, 9, 0), "taken with RegisterDeviceEvent"},
    {"UnregisterAllDeviceEvents", V(2, 9, 0), "taken with RegisterDeviceEvent"},
    {"RegisterSystemEvent", V(1, 6, 0), "page gives no version"},
    {"UnregisterSystemEvent", V(1, 6, 0), "page gives no version"},
    {"UnregisterAllSystemEvents", V(1, 6, 0), "page gives no version"},
    {"GetControllerNetworkAddress", V(1, 6, 0), "reference §7.5; no version given"},
    {"GetMyNetworkAddress", V(1, 6, 0), "reference §7.5; no version given"},
    {"GetUniqueMAC", V(1, 6, 0), "miscellaneous pages"},
    {"GetDeviceData", V(2, 10, 0), "miscellaneous pages"},
    {"GetDevices", V(2, 10, 0), "miscellaneous pages"},
    {"GetDevicesByC4iName", V(1, 6, 0), "proxy pages"},
    {"GetProxyDevices", V(1, 6, 0), "proxy pages"},
    {"GetProxyDevicesById", V(1, 6, 0), "proxy pages"},
    {"GetProxyDevicesByName", V(1, 6, 0), "proxy pages"},
    {"GetProjectItems", V(1, 6, 0), "miscellaneous pages"},
    {"RoomGetId", V(1, 6, 0), "miscellaneous pages"},
    {"ListGetDeviceName", V(1, 6, 0), "safe-usage table only; no version given"},
    {"GetDeviceDisplayName", V(1, 6, 0), "safe-usage table only; no version given"},
    {"SetPropertyAttribs", V(1, 6, 0), "miscellaneous pages"},
    {"UpdatePropertyList", V(2, 7, 0), "property pages; list/default reshaped in OS 3"},
    {"SendDataToUI", V(1, 6, 0), "miscellaneous pages"},
    {"SendUIRequest", V(2, 9, 0), "miscellaneous pages"},
    {"ParseXml", V(1, 6, 0), "safe-usage table only; no version given"},
};

/* Versions a user may name; the last is the default. */
static const c4_osver known[] = {
    V(1, 6, 0), V(2, 1, 0), V(2, 4, 0), V(2, 5, 0), V(2, 8, 0), V(2, 9, 0), V(2, 10, 0),
    V(3, 0, 0), V(3, 1, 0), V(3, 2, 0), V(3, 2, 3), V(3, 3, 0), V(3, 3, 1), V(3, 3, 2),
    V(3, 4, 0), V(4, 0, 0),
};

bool c4_has(emu_ctx *ctx, c4_feature f) {
  return ctx->os >= feature_rows[f].since;
}

bool c4_api_on(c4_osver os, const char *api, c4_osver *since) {
  *since = 0;
  for (size_t i = 0; i < sizeof api_rows / sizeof api_rows[0]; i++) {
    if (strcmp(api_rows[i].api, api) == 0) {
      *since = api_rows[i].since;
      return os >= api_rows[i].since;
    }
  }
  return true;
}

int c4_osver_parse(const char *s, c4_osver *out) {
  unsigned a, b, c;
  char extra;
  if (sscanf(s, "%u.%u.%u%c", &a, &b, &c, &extra) != 3) return -1;
  c4_osver v = V(a, b, c);
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    if (known[i] == v) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

const char *c4_osver_format(c4_osver v, char *buf, size_t n) {
  snprintf(buf, n, "%u.%u.%u", (unsigned)(v >> 16), (unsigned)((v >> 8) & 0xff),
           (unsigned)(v & 0xff));
  return buf;
}

c4_osver c4_osver_newest(void) { return known[sizeof known / sizeof known[0] - 1]; }

const char *c4_osver_known(void) {
  static char list[256];
  if (list[0]) return list;
  size_t off = 0;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    char v[16];
    off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                            c4_osver_format(known[i], v, sizeof v));
  }
  return list;
}
