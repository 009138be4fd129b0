/*
 * c4api.h — what the API families share, and what the host calls.
 *
 * Every C4:<Name> method belongs to one family (<family>/c4_<name>.c) that lists
 * its methods in a c4_fn array.  c4_open() puts them in the driver's C4 table
 * behind one dispatch wrapper that
 *   - refuses a call without the colon (C4.Foo(x) instead of C4:Foo(x)),
 *   - applies the init rule from the rule table (c4_rules.c),
 *   - records the call for `c4emu check`,
 * and leaves out the methods that the chosen OS version lacks (c4_version.c):
 * reading one of those from C4 gives nil, as on that controller, and is noted.
 *
 * Inside a method, argument 1 is the C4 table; real arguments start at 2.
 */
#ifndef C4API_H
#define C4API_H

#include "emu.h"

typedef struct {
  const char *name;  /* the Lua name: "CreateServer" */
  lua_CFunction fn;  /* l_CreateServer */
} c4_fn;

typedef struct {
  const char *name;                          /* "timer", "server", ... */
  const c4_fn *fns;                          /* {NULL, NULL}-terminated, may be NULL */
  void (*open)(lua_State *L, emu_ctx *ctx);  /* optional: metatables, hooks */
  /* issue 9: the driver's global callbacks this family calls (NULL-terminated,
   * may be NULL); `c4emu apis` reports them as emulated. */
  const char *const *callbacks;
} c4_family;

/* ---- for the host ------------------------------------------------------ */
/* Creates the global C4 table (and the globals the families add). */
void c4_open(lua_State *L, emu_ctx *ctx);
/* issue 10: frees the director's project model (after the lua_State is closed). */
void c4_project_free(emu_ctx *ctx);

/* "3.3.1" → packed version; returns 0, or -1 if not a version in the table. */
int c4_osver_parse(const char *s, c4_osver *out);
/* Formats v as "3.3.1" into buf (at least 16 bytes). */
const char *c4_osver_format(c4_osver v, char *buf, size_t n);
/* The newest version the table knows: the default. */
c4_osver c4_osver_newest(void);
/* The versions the table knows, newest last, comma-separated. */
const char *c4_osver_known(void);

/* ---- the OS-version table (c4_version.c) ------------------------------- */
/* Behaviours that changed with an OS version, other than whole APIs. */
typedef enum {
  C4F_LIFECYCLE_DIT,        /* OnDriverInit/LateInit/Destroyed get the DIT string */
  C4F_SERVER_STATUS_CB,     /* OnServerStatusChanged exists */
  C4F_SERVER_CONN_IP,       /* OnServerConnectionStatusChanged gets the client IP */
  C4F_SERVER_DATA_ADDR,     /* OnServerDataIn gets the client IP and port */
  C4F_SERVER_IDENTIFIER,    /* the three server callbacks get the identifier last */
  C4F_SERVER_UDP_ADDRESS,   /* ServerSend(port, data, address) for UDP replies */
  C4F_GETTIME_UNITS,        /* C4:GetTime(units, fractional) */
  C4F_NO_IO_POPEN,          /* io.popen removed */
  /* issue 14 */
  C4F_NO_LEGACY_CIPHERS,    /* Blowfish, CAST, DES, IDEA, RC2/4, SEED, Camellia gone (OpenSSL 3) */
  C4F_FILESETDIR_CONFINED,  /* FileSetDir limited to allowed places (c4emu confines always);
                               s4-files: the path aliases SANDBOX, C4Z, MEDIA, LOGGING came with it */
  /* issue 16: CreateServer's results */
  C4F_SERVER_CREATE_RESULT, /* C4:CreateServer returns true | false, message */
  /* issue 12 */
  C4F_NETWORK_FROM_IP,      /* ReceivedFromNetwork gets the sender's IP last */
  C4F_NET_SUPPRESS_EVENTS,  /* NetPortOptions' SUPPRESS_CONNECTION_EVENTS */
  /* s3-apis-a: Light V2 conversions, removal */
  C4F_COLOR_GAMUT,          /* the colour conversions take a gamut ("srgb", "rec2020") */
  C4F_COLOR_CUSTOM_GAMUT,   /* ... and the "custom" gamut with primaries and white point */
  C4F_REMOVED_FROM_PROJECT, /* OnDriverRemovedFromProject() is called on removal */
  C4F__COUNT
} c4_feature;

bool c4_has(emu_ctx *ctx, c4_feature f);

/* issue 9: the rows of the table, for `c4emu apis`: C4 methods
 * ("CreateServer") and object methods ("C4LuaTcpClient:Write"), the
 * callbacks a driver defines, and the globals the host creates. */
typedef enum { C4_ROW_METHOD, C4_ROW_CALLBACK, C4_ROW_GLOBAL } c4_row_kind;
typedef struct {
  const char *api;
  c4_osver since; /* 0: every version */
  const char *note;
} c4_api_row;
const c4_api_row *c4_api_rows(c4_row_kind kind, size_t *n);
/* The behaviour rows (callback argument lists and the like). */
const char *c4_feature_what(c4_feature f, c4_osver *since);
/* The families, in the order c4_open() installs them. */
const c4_family *const *c4_families(size_t *n);
/* Whether C4:<api> exists on os; *since gets the version that added it (0 if always). */
bool c4_api_on(c4_osver os, const char *api, c4_osver *since);

/* ---- the init rule (c4_rules.c) ---------------------------------------- */
typedef enum {
  C4_RULE_NONE,        /* allowed in every phase */
  C4_RULE_DISCOURAGE,  /* "should not be called in OnDriverInit": warns */
  C4_RULE_FORBID,      /* creating servers in OnDriverInit: raises (strict) */
} c4_rule;

c4_rule c4_rule_of(const char *api);
/*
 * Applies the rule for `api` in the current phase: raises (luaL_error), logs a
 * warning, or does nothing.  The dispatch wrapper calls it for C4:<api>;
 * object methods call it themselves as "Type:Method" ("C4LuaTcpServer:Listen"):
 * the rule table is keyed by the method name, notes name the method as itself.
 */
void c4_rule_check(lua_State *L, const char *api);

/* ---- argument helpers shared by the families --------------------------- */
/* Argument i as a TCP/UDP port number (0-65535); raises otherwise. */
int c4_check_port(lua_State *L, int i);
/* Argument i as a string that may be nil or absent (NULL, *len 0 then). */
const char *c4_opt_string(lua_State *L, int i, size_t *len);
/* issue 16: argument i as a string that becomes a C string (a host, a path, a
 * name): raises "<what> must not contain a NUL byte" rather than let C cut it
 * short ("127.0.0.1\0evil" must not connect to 127.0.0.1).  opt: nil → NULL. */
const char *c4_check_cstring(lua_State *L, int i, const char *what);
const char *c4_opt_cstring(lua_State *L, int i, const char *what);
/* issue 16: a whole number from environment variable `name`, from min to max;
 * unset → dflt; anything else (a sign, a fraction, junk, out of range) logs a
 * warning naming the variable and gives dflt (C4EMU_MAX_PAYLOAD=-1 must not
 * wrap to "unlimited"). */
uint64_t c4_env_number(emu_ctx *ctx, const char *name, uint64_t min, uint64_t max,
                       uint64_t dflt);

/* ---- the families ------------------------------------------------------ */
extern const c4_family c4_family_core;     /* core/c4_core.c: log, identity, properties */
extern const c4_family c4_family_helpers;  /* lua/c4_helpers.c: JSON, Base64, Hash, XML */
extern const c4_family c4_family_timer;    /* timer/c4_timer.c */
extern const c4_family c4_family_server;   /* server/c4_server.c: CreateServer & co */
extern const c4_family c4_family_tcp;      /* tcp/c4_tcp.c: CreateTCPServer/Client */
extern const c4_family c4_family_tls;      /* server/c4_tls.c: CreateTLSServer */
/* issue 14: the controller's Lua world */
extern const c4_family c4_family_jsonmod;  /* lua/c4_jsonmod.c: require "json" */
extern const c4_family c4_family_lpack;    /* lua/c4_lpack.c: string.pack/unpack */
extern const c4_family c4_family_file;     /* file/c4_file.c: C4:File*, io confined */
extern const c4_family c4_family_crypto;   /* lua/c4_crypto.c: Encrypt, PBKDF2, TEA */
/* issue 13: HTTP */
extern const c4_family c4_family_url;      /* url/c4_url_engine.c: C4:url, urlGet & co */
/* issue 10: the Director */
extern const c4_family c4_family_project;     /* director/c4_project.c: the model */
extern const c4_family c4_family_variables;   /* director/c4_variables.c */
extern const c4_family c4_family_events;      /* director/c4_events.c */
extern const c4_family c4_family_devices;     /* director/c4_devices.c: device and project facts */
extern const c4_family c4_family_propattribs; /* director/c4_propattribs.c: properties, UI */
extern const c4_family c4_family_parsexml;    /* lua/c4_parsexml.c: C4:ParseXml */
/* issue 12: network and serial bindings */
extern const c4_family c4_family_netbind;  /* netbind/c4_netbind.c: NetConnect & co */
extern const c4_family c4_family_serial;   /* netbind/c4_serial.c: SendToSerial */

/* issue 17: what the web console asks of the Director (director/c4_director_state.c) */
/* Sets the driver's variable `name` (or id, in digits) as programming would:
 * SetVariable, then OnVariableChanged.  False with the reason in why (a
 * read-only variable, no such variable). */
bool c4_director_set_variable(emu_ctx *ctx, const char *name, const char *value, char *why,
                              size_t whylen);
/* Pushes onto J {name = true} for every property SetPropertyAttribs hid. */
void c4_push_hidden_properties(emu_ctx *ctx, lua_State *J);
/* issue 11: proxies and bindings */
extern const c4_family c4_family_proxy;       /* director/c4_proxy.c: SendToProxy */
extern const c4_family c4_family_bindings;    /* director/c4_bindings.c: dynamic bindings, GetBound* */
/* s3-apis-a: Light V2 colour conversions; proxy variables; renaming, removal */
extern const c4_family c4_family_color;       /* color/c4_color.c: C4:Color* */
extern const c4_family c4_family_naming;      /* director/c4_naming.c: RenameDevice, GetDevicesByName */
extern const c4_family c4_family_proxyvars;   /* director/c4_proxyvars.c: a light proxy's variables */
extern const c4_family c4_family_conditions;  /* director/c4_conditions.c: TestCondition */
/* Calls TestCondition(name, params) as programming does, the params table on
 * top of ctx->L (popped; not a table: {}).  0 with the driver's answer in
 * *result; -1 when the driver has no TestCondition; else emu_pcall's code
 * (the error is logged and counted, as any callback's). */
int c4_test_condition(emu_ctx *ctx, const char *name, bool *result);
/* issue 17: the web console's ReceivedFromProxy form (director/c4_proxy.c):
 * calls ReceivedFromProxy(binding, command, params), the params table on top
 * of ctx->L (popped).  0 when it ran, -1 when the driver has no
 * ReceivedFromProxy, else emu_pcall's code. */
int c4_proxy_receive(emu_ctx *ctx, int binding, const char *command);

/* s3-apis-b: core and file calls the reference lists as not yet emulated */
extern const c4_family c4_family_async;    /* core/c4_async.c: C4:CallAsync */
extern const c4_family c4_family_reflash;  /* core/c4_reflash.c: the reflash lock */
extern const c4_family c4_family_unzip;    /* file/c4_unzip.c: C4:Unzip */
/* the Statsd metrics calls drivers-common-public probes for (core/c4_metrics.c) */
extern const c4_family c4_family_metrics;
/* d:metrics(): pushes on ctx->L the driver's recorded metric calls, oldest first. */
void c4_metrics_push(emu_ctx *ctx);
/* The reflash lock as the spec module shows it (d:reflash_lock()): "free",
 * "requested", "granting" (granted on the next turn) or "held"; *expires is
 * the clock time it will be revoked at (0 unless held), *revoked how often it
 * was taken back. */
const char *c4_reflash_lock_state(emu_ctx *ctx, uint64_t *expires, unsigned *revoked);
/* Takes the lock away as Director would for another driver: calls
 * OnReflashLockRevoked.  False when the driver does not hold it. */
bool c4_reflash_lock_revoke(emu_ctx *ctx);

#endif
