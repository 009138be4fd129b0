/*
 * c4_rules.c — the init rule: what may not be called while OnDriverInit
 * runs.  DriverWorks' "safe usage" table (reference §7.3) marks these NO:
 * the platform itself only says they "should not be invoked during
 * OnDriverInit"; c4emu makes creating a server an error (users asked for
 * it) and the rest warnings.  `--init-rule warn` turns errors into warnings,
 * `off` silences both.  In `c4emu check`, a forbidden call fails the check
 * (whatever the mode), a discouraged one is a warning (`--strict`: fails).
 *
 * The rule applies while OnDriverInit runs.  The chunk itself is not
 * covered: the seed's chat server creates its server at load, and old
 * drivers arm AddTimer there.
 */
#include <string.h>

#include "c4api.h"

static const struct {
  const char *api;
  c4_rule rule;
} rows[] = {
    {"CreateServer", C4_RULE_FORBID},
    {"CreateTCPServer", C4_RULE_FORBID},
    {"CreateTLSServer", C4_RULE_FORBID},
    {"DestroyServer", C4_RULE_DISCOURAGE},
    {"ServerSend", C4_RULE_DISCOURAGE},
    {"ServerCloseClient", C4_RULE_DISCOURAGE},
    {"CreateTCPClient", C4_RULE_DISCOURAGE},
    {"Listen", C4_RULE_DISCOURAGE},
    {"Connect", C4_RULE_DISCOURAGE},
    {"SetTimer", C4_RULE_DISCOURAGE},
    {"AddTimer", C4_RULE_DISCOURAGE},
    {"KillTimer", C4_RULE_DISCOURAGE},
    {"UpdateProperty", C4_RULE_DISCOURAGE},
    {"GetDeviceID", C4_RULE_DISCOURAGE},
    {"GetDriverConfigInfo", C4_RULE_DISCOURAGE},
    {"GetCapability", C4_RULE_DISCOURAGE},
    {"JsonDecode", C4_RULE_DISCOURAGE},
    {"XmlEscapeString", C4_RULE_DISCOURAGE},
    {"FireEvent", C4_RULE_DISCOURAGE},
    {"SetVariable", C4_RULE_DISCOURAGE},
    {"SendToProxy", C4_RULE_DISCOURAGE},
    {"GetProxyDevices", C4_RULE_DISCOURAGE},
    /* issue 13: "urlGet & co." (§7.3) and the pages that say "should not be
     * invoked during OnDriverInit" */
    {"urlGet", C4_RULE_DISCOURAGE},
    {"urlPost", C4_RULE_DISCOURAGE},
    {"urlPut", C4_RULE_DISCOURAGE},
    {"urlDelete", C4_RULE_DISCOURAGE},
    {"urlCustom", C4_RULE_DISCOURAGE},
    {"urlCancel", C4_RULE_DISCOURAGE},
    {"urlCancelAll", C4_RULE_DISCOURAGE},
    {"urlSetTimeout", C4_RULE_DISCOURAGE},
    {"urlSetOption", C4_RULE_DISCOURAGE},
    {"urlGetTickets", C4_RULE_DISCOURAGE},
    /* issue 10: the Director (safe-usage table: NO; the listeners: WARNING) */
    {"AddEvent", C4_RULE_DISCOURAGE},
    {"DeleteEvent", C4_RULE_DISCOURAGE},
    {"DeleteVariable", C4_RULE_DISCOURAGE},
    {"FireEventByID", C4_RULE_DISCOURAGE},
    {"GetControllerNetworkAddress", C4_RULE_DISCOURAGE},
    {"GetDeviceDisplayName", C4_RULE_DISCOURAGE},
    {"GetDevicesByC4iName", C4_RULE_DISCOURAGE},
    {"GetDeviceVariable", C4_RULE_DISCOURAGE},
    {"GetDeviceVariables", C4_RULE_DISCOURAGE},
    {"GetMyNetworkAddress", C4_RULE_DISCOURAGE},
    {"GetProjectItems", C4_RULE_DISCOURAGE},
    {"GetProxyDevicesById", C4_RULE_DISCOURAGE},
    {"GetProxyDevicesByName", C4_RULE_DISCOURAGE},
    {"GetVariable", C4_RULE_DISCOURAGE},
    {"ListGetDeviceName", C4_RULE_DISCOURAGE},
    {"RoomGetId", C4_RULE_DISCOURAGE},
    {"SendDataToUI", C4_RULE_DISCOURAGE},
    {"SetDeviceVariable", C4_RULE_DISCOURAGE},
    {"SetPropertyAttribs", C4_RULE_DISCOURAGE},
    {"UpdatePropertyList", C4_RULE_DISCOURAGE},
    {"RegisterVariableListener", C4_RULE_DISCOURAGE},
    {"UnregisterVariableListener", C4_RULE_DISCOURAGE},
    /* issue 12: network bindings (reference §7.3: marked NO) */
    {"CreateNetworkConnection", C4_RULE_DISCOURAGE},
    {"NetConnect", C4_RULE_DISCOURAGE},
    {"SendToNetwork", C4_RULE_DISCOURAGE},
    /* issue 11: the binding pages say "should not be invoked during
     * OnDriverInit" (AddDynamicBinding's does not: drivers add theirs there) */
    {"RemoveDynamicBinding", C4_RULE_DISCOURAGE},
    {"GetBoundProviderDevice", C4_RULE_DISCOURAGE},
    {"GetBoundConsumerDevices", C4_RULE_DISCOURAGE},
    {"SendToDevice", C4_RULE_DISCOURAGE},
    /* s3-apis-b: the safe-usage table marks these NO (FileFreeSpace: YES) */
    {"CallAsync", C4_RULE_DISCOURAGE},
    {"RequestReflashLock", C4_RULE_DISCOURAGE},
    {"KeepReflashLock", C4_RULE_DISCOURAGE},
    {"ReleaseReflashLock", C4_RULE_DISCOURAGE},
    /* s3-apis-a: their pages say "should not be invoked during OnDriverInit" */
    {"RenameDevice", C4_RULE_DISCOURAGE},
    {"GetDevicesByName", C4_RULE_DISCOURAGE},
    /* validation3: its page says "should not be invoked during OnDriverInit" */
    {"InvalidateState", C4_RULE_DISCOURAGE},
};

c4_rule c4_rule_of(const char *api) {
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    if (strcmp(rows[i].api, api) == 0) return rows[i].rule;
  return C4_RULE_NONE;
}

/* api is a C4 method ("UpdateProperty", named "C4:UpdateProperty") or an
 * object method as "Type:Method" ("C4LuaTcpServer:Listen"), named as itself. */
void c4_rule_check(lua_State *L, const char *api) {
  emu_ctx *ctx = emu_ctx_of(L);
  if (ctx->phase != EMU_PHASE_INIT || ctx->init_rule == EMU_RULE_OFF) return;
  const char *colon = strchr(api, ':');
  const char *prefix = colon ? "" : "C4:";
  c4_rule rule = c4_rule_of(colon ? colon + 1 : api);
  if (rule == C4_RULE_NONE) return;
  if (rule == C4_RULE_FORBID) {
    emu_note(ctx, EMU_NOTE_RULE, "init rule: %s%s called during OnDriverInit", prefix, api);
    if (ctx->init_rule != EMU_RULE_STRICT) return;
    luaL_error(L, "%s%s may not be called during OnDriverInit: DriverWorks servers must "
               "be created from OnDriverLateInit on (init rule). Move the call to "
               "OnDriverLateInit", prefix, api);
    return;
  }
  emu_note(ctx, EMU_NOTE_RULE_DISCOURAGED, "init rule: %s%s called during OnDriverInit; "
           "DriverWorks says it should not be invoked before OnDriverLateInit. Move the call "
           "to OnDriverLateInit", prefix, api);
}
