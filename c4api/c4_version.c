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
    /* issue 14: reference §9 (Encrypt: OS 4.0.0 follows OpenSSL 3) and the
     * FileSetDir page (3.3.0 restricts it to allowed locations).
     * s4-files: the same row says when the File API's path aliases exist:
     * the FileSetDir page gives the alias forms with the 3.3.0 restriction,
     * the FileDelete page says its alias and sub-path arguments were added
     * with 3.3.0, and FileCreateDir and FileMove (aliases required) are 3.3.0
     * APIs.  Before, an alias name is an ordinary file name. */
    {C4F_NO_LEGACY_CIPHERS, V(4, 0, 0), "low-level ciphers (Blowfish, DES, RC4, ...) removed"},
    {C4F_FILESETDIR_CONFINED, V(3, 3, 0), "C4:FileSetDir limited to path aliases and allowed paths"},
    /* issue 16: the seed (older page) says CreateServer "Returns None"; the
     * current page, rewritten for 3.3.1 (identifier, doc edit 2022-09-26),
     * documents true / false, message (reference §11-12).  Before 3.3.1 it
     * returns nothing.  CreateTLSServer (3.3.0) documents its results from
     * the start, so it is not affected. */
    {C4F_SERVER_CREATE_RESULT, V(3, 3, 1), "C4:CreateServer returns true | false, message"},
    /* issue 12: reference §7.2 / §7.5 */
    {C4F_NETWORK_FROM_IP, V(4, 0, 0), "ReceivedFromNetwork(binding, port, data, fromIP)"},
    {C4F_NET_SUPPRESS_EVENTS, V(2, 8, 0), "NetPortOptions SUPPRESS_CONNECTION_EVENTS"},
    /* s3-apis-a: the Light V2 What's New pages (3.3.1: the gamut argument;
     * 3.4.0: "custom"); the OnDriverRemovedFromProject page (2.1.0) */
    {C4F_COLOR_GAMUT, V(3, 3, 1), "colour conversions take a gamut (\"srgb\", \"rec2020\")"},
    {C4F_COLOR_CUSTOM_GAMUT, V(3, 4, 0), "colour conversions take the \"custom\" gamut"},
    {C4F_REMOVED_FROM_PROJECT, V(2, 1, 0), "OnDriverRemovedFromProject() before OnDriverDestroyed"},
};

/*
 * Every C4 API, object method, callback and host global that
 * shared/reference/driverworks.md names, with the OS version that added it
 * (0: every version; the docs' "Available from 1.6.0" is a placeholder, §12,
 * and counts as 0) and a note.  c4_open() leaves out C4 methods the chosen
 * version lacks; `c4emu apis` lists every row and derives whether c4emu
 * emulates it from the families (never from a flag here).
 * Three arrays: C4 and object methods ("C4LuaTcpClient:Write"), callbacks,
 * host globals.  One row per line; new rows go at the end of their array
 * after an "issue N" comment.
 */
static const c4_api_row api_rows[] = {
    /* The CreateServer page says "Available from 2.10.0", yet describes the
     * pre-2.9.0 behaviour and the 2.9.0 change; its section header says
     * "delivered in 2.1.0".  2.1.0 makes every documented signature
     * reachable (2.8.0: no status callback, 3-argument callbacks), so we
     * take it.  The companions share the row. */
    {"CreateServer", V(2, 1, 0), "section header's 2.1.0; the page's 2.10.0 would hide pre-2.9.0"},
    {"DestroyServer", V(2, 1, 0), "shares CreateServer's row"},
    {"ServerSend", V(2, 1, 0), "shares CreateServer's row; UDP (port, data, address) form from 4.0.0"},
    {"ServerCloseClient", V(2, 1, 0), "shares CreateServer's row"},
    {"CreateTLSServer", V(3, 3, 0), "seed: Available from 3.3.0; identifier from 3.3.1"},
    {"PortInUse", V(3, 3, 1), "reference §2.1"},
    {"GetTime", V(3, 2, 3), "reference §5.3; units and fractional from 4.0.0"},
    {"GetTickCount", V(2, 4, 0), "reference §5.3"},
    {"GetSandboxDir", V(2, 9, 0), "reference §1"},
    {"GetC4zDir", V(2, 10, 0), "reference §1"},
    {"GetDriverFileName", V(3, 3, 0), "reference §1"},
    {"UUID", V(3, 3, 0), "reference §9"},
    {"PersistSetValue", V(2, 10, 0), "reference §7.4"},
    {"PersistGetValue", V(2, 10, 0), "reference §7.4"},
    {"PersistDeleteValue", V(2, 10, 0), "reference §7.4"},
    /* issue 9: every other API and callback the reference names */
    {"CreateTCPServer", 0, "reference §3; the page's 1.6.0 is a placeholder"},
    {"C4LuaTcpServer:OnResolve", 0, "reference §3"},
    {"C4LuaTcpServer:OnListen", 0, "reference §3"},
    {"C4LuaTcpServer:OnAccept", 0, "reference §3"},
    {"C4LuaTcpServer:OnError", 0, "reference §3"},
    {"C4LuaTcpServer:Option", 0, "reference §3: reuseaddr, linger"},
    {"C4LuaTcpServer:Listen", 0, "reference §3"},
    {"C4LuaTcpServer:GetLocalAddress", 0, "reference §3"},
    {"C4LuaTcpServer:Close", 0, "reference §3"},
    {"CreateTCPClient", 0, "reference §4"},
    {"C4LuaTcpClient:Connect", 0, "reference §4"},
    {"C4LuaTcpClient:OnResolve", 0, "reference §4"},
    {"C4LuaTcpClient:OnConnect", 0, "reference §4"},
    {"C4LuaTcpClient:Write", 0, "reference §4: no page of its own; examples chain it"},
    {"C4LuaTcpClient:OnWrite", 0, "reference §4"},
    {"C4LuaTcpClient:ReadUntil", 0, "reference §4: a delimiter or a matcher function"},
    {"C4LuaTcpClient:ReadUntilOneOf", 0, "reference §4"},
    {"C4LuaTcpClient:ReadUntilOneNotOf", 0, "reference §4"},
    {"C4LuaTcpClient:ReadAtLeast", 0, "reference §4"},
    {"C4LuaTcpClient:ReadUpTo", 0, "reference §4"},
    {"C4LuaTcpClient:OnRead", 0, "reference §4"},
    {"C4LuaTcpClient:OnDisconnect", 0, "reference §4"},
    {"C4LuaTcpClient:OnError", 0, "reference §4"},
    {"C4LuaTcpClient:Option", 0, "reference §4: keepalive, nodelay, linger"},
    {"C4LuaTcpClient:GetRemoteAddress", 0, "reference §4"},
    {"C4LuaTcpClient:GetLocalAddress", 0, "reference §4"},
    {"C4LuaTcpClient:Close", 0, "reference §4"},
    {"SetTimer", 0, "reference §5.1; the page's 1.6.0 is a placeholder"},
    {"C4LuaTimer:Cancel", 0, "reference §5.1"},
    {"AddTimer", 0, "reference §5.2: legacy, no current page"},
    {"KillTimer", 0, "reference §5.2: legacy"},
    {"RequestReflashLock", 0, "reference §7.2; one lock per controller, granted on the next turn"},
    {"KeepReflashLock", 0, "reference §7.2; revoked ~60 s after the grant or the last keep"},
    {"ReleaseReflashLock", 0, "reference §7.2; no callback, the next waiter gets it"},
    {"UpdateProperty", 0, "does not fire OnPropertyChanged"},
    {"UpdatePropertyList", V(2, 7, 0), "DYNAMIC_LIST properties; reshaped in OS 3"},
    {"SetPropertyAttribs", 0, "reference §7.4"},
    {"PersistDeleteAll", V(2, 10, 0), "reference §7.4"},
    {"GetDeviceID", 0, "reference §7.4"},
    {"GetProxyDevices", 0, "reference §7.4"},
    {"GetProxyDevicesById", 0, "reference §7.4"},
    {"ErrorLog", 0, "reference §7.4"},
    {"DebugLog", 0, "reference §7.4"},
    {"GetVersionInfo", 0, "reference §7.4"},
    {"GetDriverConfigInfo", 0, "user-defined tags from 2.8.0"},
    {"GetCapability", 0, "reference §7.4"},
    {"AllowExecute", 0, "reference §7.4"},
    {"ToStringLocaleC", 0, "reference §1; tostring's \"%.14g\" with a decimal point"},
    {"FileCreateDir", V(3, 3, 0), "FileCreateDir page: introduced in 3.3.0 (replaces io.popen uses)"},
    /* s3-apis-b: the UnZip page (3.3.0) is headed "UnZip" but every example
     * calls C4:Unzip, and a controller's method list [A4 methods.txt] has
     * only Unzip: c4emu provides that one (row below), so C4:UnZip reads nil
     * as it would on a controller. */
    {"UnZip", V(3, 3, 0), "the page's heading only: a controller's method is C4:Unzip"},
    {"GetHostname", V(3, 3, 1), "the page: Available from 3.3.1; c4emu: the controller's name"},
    {"RegisterSystemEvent", 0, "reference §1 (with C4SystemEvents)"},
    {"CreateNetworkConnection", 0, "reference §7.5"},
    {"NetPortOptions", 0, "reference §7.5; SUPPRESS_CONNECTION_EVENTS from 2.8.0"},
    {"NetConnect", 0, "reference §7.5"},
    {"NetDisconnect", 0, "reference §7.5"},
    {"SendToNetwork", 0, "reference §7.5"},
    {"GetBindingAddress", 0, "reference §7.5"},
    {"SetBindingAddress", V(2, 8, 0), "reference §7.5"},
    {"GetControllerNetworkAddress", 0, "reference §7.5"},
    {"GetMyNetworkAddress", 0, "reference §7.5"},
    {"GetNetworkConnections", V(3, 0, 0), "reference §7.5"},
    {"JsonEncode", 0, "reference §9"},
    {"JsonDecode", 0, "reference §9; decodeNull from OS 3"},
    {"Base64Encode", 0, "reference §9"},
    {"Base64Decode", 0, "reference §9"},
    {"Encode", 0, "reference §9: NONE, HEX, BASE64"},
    {"Decode", 0, "reference §9"},
    {"Hash", 0, "reference §9"},
    {"Encrypt", 0, "reference §9; low-level ciphers dropped in 4.0.0"},
    {"Decrypt", 0, "reference §9"},
    {"HMAC", 0, "reference §9"},
    {"PBKDF2", 0, "reference §9"},
    {"GetSupportedCiphers", 0, "reference §9"},
    {"GetSupportedDigests", 0, "reference §9"},
    {"TEAEncrypt", 0, "reference §9: XXTEA"},
    {"TEADecrypt", 0, "reference §9"},
    {"urlGet", 0, "reference §9: legacy, returns a ticket"},
    {"urlPost", 0, "reference §9"},
    {"urlPut", 0, "reference §9"},
    {"urlDelete", 0, "reference §9"},
    {"urlCustom", 0, "reference §9"},
    {"urlCancel", V(2, 7, 0), "37_web_service/_3"},
    {"urlCancelAll", V(2, 8, 1), "37_web_service/_4"},
    {"urlSetTimeout", 0, "reference §9"},
    {"urlSetOption", V(2, 8, 1), "37_web_service/_11"},
    {"urlGetTickets", V(2, 8, 1), "37_web_service/_10"},
    {"urlGetCookies", V(2, 9, 0), "37_web_service/_7"},
    {"url", V(2, 10, 5), "35_url: Available from 2.10.5 (OnHeaders: 3.0.0)"},
    {"C4LuaUrl:OnHeaders", 0, "reference §9 (the page names no type: C4LuaUrl assumed)"},
    {"C4LuaUrl:OnBodyChunk", 0, "reference §9"},
    {"C4LuaUrl:OnBody", 0, "reference §9: returning true aborts"},
    {"C4LuaUrl:OnDone", 0, "reference §9"},
    {"C4LuaUrl:SetOption", 0, "reference §9"},
    {"C4LuaUrl:Get", 0, "reference §9"},
    {"C4LuaUrl:Post", 0, "reference §9"},
    {"C4LuaUrl:Put", 0, "reference §9"},
    {"C4LuaUrl:Delete", 0, "reference §9"},
    {"C4LuaUrl:Custom", 0, "reference §9"},
    {"C4LuaUrl:Cancel", 0, "reference §9"},
    {"C4LuaUrl:TicketId", 0, "reference §9"},
    /* s3-apis-b: the page's signature is C4LuaUrl:DownloadFile (its example
     * calls myurl:DownloadFile); no C4:DownloadFile in a controller's method
     * list [A4 methods.txt]: the object method is the row below. */
    {"DownloadFile", V(3, 3, 1), "the prose's name: the method is C4:url():DownloadFile"},
    {"XmlEscapeString", 0, "escapes & < > only"},
    {"FireEvent", V(2, 8, 0), "reference §9"},
    {"FireEventByID", V(2, 8, 0), "reference §9"},
    {"AddEvent", V(2, 8, 0), "reference §9"},
    {"DeleteEvent", V(2, 8, 0), "reference §9"},
    {"SendToProxy", V(1, 6, 0), "the proxy page: added in OS 1.6.0; default NOTIFY for binding >= 1000"},
    {"AddVariable", 0, "reference §9"},
    {"SetVariable", 0, "reference §9"},
    {"CallAsync", 0, "reference §9: after the calling code; c4emu: the next loop turn"},
    {"GetUniqueMAC", 0, "reference §7.3"},
    {"ParseXml", 0, "reference §7.3"},
    /* issue 14: the File pages (their "1.6.0" is the placeholder, §12 #19) */
    {"FileMove", V(3, 3, 0), "FileMove page: introduced in 3.3.0"},
    {"FileOpen", 0, "File API page"},
    {"FileClose", 0, "File API page"},
    {"FileRead", 0, "File API page"},
    {"FileWrite", 0, "File API page"},
    {"FileWriteString", 0, "File API page"},
    {"FileSetPos", 0, "File API page"},
    {"FileGetPos", 0, "File API page"},
    {"FileGetSize", 0, "File API page"},
    {"FileIsValid", 0, "File API page"},
    {"FileGetName", 0, "File API page"},
    {"FileGetOpenedHandles", 0, "File API page"},
    {"FileExists", 0, "File API page"},
    {"FileDelete", 0, "File API page"},
    {"FileList", 0, "File API page"},
    {"FileSetDir", 0, "File API page"},
    {"FileGetDir", 0, "File API page"},
    /* issue 10: the Director */
    {"DeleteVariable", 0, "no page; taken with AddVariable"},
    {"GetVariable", 0, "variable pages"},
    {"GetDeviceVariable", 0, "variable pages"},
    {"GetDeviceVariables", 0, "no page; taken with GetDeviceVariable"},
    {"SetDeviceVariable", 0, "variable pages"},
    {"RegisterVariableListener", 0, "variable pages"},
    {"UnregisterVariableListener", 0, "variable pages"},
    {"UnregisterAllVariableListeners", 0, "page gives no version"},
    {"RegisterDeviceEvent", V(2, 9, 0), "event pages"},
    {"UnregisterDeviceEvent", V(2, 9, 0), "taken with RegisterDeviceEvent"},
    {"UnregisterAllDeviceEvents", V(2, 9, 0), "taken with RegisterDeviceEvent"},
    {"UnregisterSystemEvent", 0, "page gives no version"},
    {"UnregisterAllSystemEvents", 0, "page gives no version"},
    {"GetDeviceData", V(2, 10, 0), "miscellaneous pages"},
    {"GetDevices", V(2, 10, 0), "miscellaneous pages"},
    {"GetDevicesByC4iName", 0, "proxy pages"},
    {"GetProxyDevicesByName", 0, "proxy pages"},
    {"GetProjectItems", 0, "miscellaneous pages"},
    {"RoomGetId", 0, "miscellaneous pages"},
    {"ListGetDeviceName", 0, "safe-usage table only; no version given"},
    {"GetDeviceDisplayName", 0, "safe-usage table only; no version given"},
    {"SendDataToUI", 0, "miscellaneous pages"},
    {"SendUIRequest", V(2, 9, 0), "miscellaneous pages"},
    /* issue 12: network and serial bindings (reference §7.5; the reference
     * gives no version for DestroyNetworkConnection or SendToSerial) */
    {"DestroyNetworkConnection", 0, "reference §7.5 (CreateNetworkConnection's companion)"},
    {"SendToSerial", 0, "serial bindings; ReceivedFromSerial [A4], [DCP]"},
    /* issue 11: proxies and bindings (the DriverWorks proxy and binding pages) */
    {"AddDynamicBinding", 0, "(id, type, isProvider, name, class, hidden, autoBind)"},
    {"RemoveDynamicBinding", 0, "(id)"},
    {"GetBoundProviderDevice", 0, "a number, 0 when unbound (the page's example)"},
    {"GetBoundConsumerDevices", 0, "{[id] = name} or nil"},
    {"GetBindingsByDevice", 0, "no page; the shape drivers in the wild read"},
    {"SendToDevice", 0, "(device, command, params [, allowEmpty] [, logCommand]) → ExecuteCommand"},
    /* issue 9: validation (APIs public drivers call that no row named; the
     * Light V2 conversion commands arrive with the 3.3.0 What's New, gain a
     * gamut argument in 3.3.1 and the "custom" gamut in 3.4.0) */
    {"RenameDevice", 0, "(proxyOrDeviceId, name); the page's 1.6.0 is a placeholder; not in OnDriverInit"},
    {"ColorXYtoRGB", V(3, 3, 0), "Light V2 conversion commands; gamut from 3.3.1"},
    {"ColorRGBtoXY", V(3, 3, 0), "Light V2 conversion commands; gamut from 3.3.1"},
    {"ColorXYtoHSV", V(3, 3, 0), "Light V2 conversion commands; gamut from 3.3.1"},
    {"ColorHSVtoXY", V(3, 3, 0), "Light V2 conversion commands; gamut from 3.3.1"},
    {"ColorXYtoCCT", V(3, 3, 0), "Light V2 conversion (x, y) → kelvin; its page: released with 3.3.0"},
    {"ColorCCTtoXY", V(3, 3, 0), "Light V2 conversion kelvin → x, y; its page: released with 3.3.0"},
    /* s3-apis-b */
    {"Unzip", V(3, 3, 0), "the UnZip page: introduced in 3.3.0 (its examples spell it Unzip)"},
    {"C4LuaUrl:DownloadFile", V(3, 3, 1), "35_url/_4.5: to a file in the sandbox; only OnDone"},
    {"FileFreeSpace", 0, "safe-usage table and [A4]; no page: free bytes where the sandbox is"},
    /* s3-apis-a: the rest of the Light V2 conversion commands; GetDevicesByName */
    {"ColorHSVtoRGB", V(3, 3, 0), "Light V2 conversion (h, s, v [, rgbScale]) → r, g, b"},
    {"ColorRGBtoHSV", V(3, 3, 0), "Light V2 conversion (r, g, b [, rgbScale]) → h, s, v"},
    {"GetDevicesByName", V(2, 8, 0), "(name [, room]) → {[id] = roomId}; proxies stand for their device"},
    /* validation3: InvalidateState */
    {"InvalidateState", 0, "no version on its page; a no-op since OS 2.10 (PersistData is saved without it)"},
    /* the metrics calls Snap One's drivers-common-public probes for (no page) */
    {"StatsdCounter", 0, "no page; (namespace, key, value, sampleRate), recorded for d:metrics()"},
    {"StatsdGauge", 0, "no page; (namespace, key, value)"},
    {"StatsdAdjustGauge", 0, "no page; (namespace, key, delta)"},
    {"StatsdTimer", 0, "no page; (namespace, key, ms)"},
    {"StatsdIncrementMeter", 0, "no page; (namespace, key, value)"},
    {"StatsdString", 0, "no page; (namespace, key, text)"},
    {"StatsdJSONObject", 0, "no page; (namespace, key, json)"},
};

/* The driver's global callbacks the reference names. */
static const c4_api_row callback_rows[] = {
    {"OnServerStatusChanged", V(2, 9, 0), "(port, status [, identifier 3.3.1])"},
    {"OnServerConnectionStatusChanged", 0, "(handle, port, status [, ip 2.9.0] [, identifier 3.3.1])"},
    {"OnServerDataIn", 0, "(handle, data [, ip, port 2.9.0] [, identifier 3.3.1])"},
    {"OnTimerExpired", 0, "(id) for AddTimer timers"},
    {"OnDriverInit", 0, "(dit); the DIT argument from 3.2.0; reference §7.1 says since 2.0.0"},
    {"OnDriverLateInit", 0, "(dit); reference §7.1 says since 2.5.0"},
    {"OnDriverDestroyed", 0, "(dit)"},
    {"OnDriverRemovedFromProject", V(2, 1, 0), "reference §7.1"},
    {"OnPropertyChanged", 0, "(name); not for UpdateProperty"},
    {"ExecuteCommand", 0, "(command, params); actions arrive as LUA_ACTION"},
    {"ReceivedFromProxy", 0, "(binding, command, params)"},
    {"OnBindingChanged", 0, "one page says 2.9.0, another 1.6.0 (reference §12 #12)"},
    {"OnConnectionStatusChanged", 0, "(binding, port, status): network bindings"},
    {"ReceivedFromNetwork", 0, "(binding, port, data [, fromIP 4.0.0])"},
    {"OnNetworkBindingChanged", 0, "(binding, isBound)"},
    {"ReceivedFromSerial", 0, "(binding, data)"},
    {"ReceivedAsync", 0, "(ticket, data, code, headers, error): legacy url* completions"},
    {"OnVariableChanged", 0, "(name)"},
    {"OnWatchedVariableChanged", 0, "(device, variable, value)"},
    {"OnDeviceEvent", 0, "(firingDevice, event)"},
    {"OnSystemEvent", 0, "(data)"},
    {"GetPrivateKeyPassword", 0, "(binding, port)"},
    {"UIRequest", 0, "(command, params)"},
    {"TestCondition", 0, "(name, params)"},
    {"OnPoll", 0, "(binding, port) every 30 s while ONLINE, for MONITOR_CONNECTION ports (c4emu's choice)"},
    {"OnZigbee*", 0, "the reference names the family only"},
    {"OnReflashLockGranted", 0, "reference §7.2"},
    {"OnReflashLockRevoked", 0, "reference §7.2"},
};

/* The globals the host creates besides C4's methods. */
static const c4_api_row global_rows[] = {
    {"C4", 0, "the API object; methods are called with a colon"},
    {"Properties", 0, "name → value, from driver.xml defaults"},
    {"PersistData", 0, "saved with the project"},
    {"Variables", 0, "this driver's variables"},
    {"C4SystemEvents", 0, "event name → id"},
    {"c4json", 0, "with c4json.null"},
    {"print", 0, "into the log"},
    {"hexdump", 0, "reference §1"},
    {"tohex", 0, "reference §1"},
    {"bit", 0, "LuaBitOp (OS 3 semantics)"},
    {"string.pack", 0, "lpack style; 'l' is 4 bytes"},
    {"string.unpack", 0, "lpack style: next position first"},
    {"string.gfind", 0, "Lua 5.0 name, kept by Lua 5.1's compat"},
};

const c4_api_row *c4_api_rows(c4_row_kind kind, size_t *n) {
  switch (kind) {
  case C4_ROW_CALLBACK: *n = sizeof callback_rows / sizeof callback_rows[0]; return callback_rows;
  case C4_ROW_GLOBAL: *n = sizeof global_rows / sizeof global_rows[0]; return global_rows;
  default: *n = sizeof api_rows / sizeof api_rows[0]; return api_rows;
  }
}

const char *c4_feature_what(c4_feature f, c4_osver *since) {
  *since = feature_rows[f].since;
  return feature_rows[f].what;
}

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
