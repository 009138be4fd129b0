/*
 * emu.h — the one header through which c4api/ sees the emulator.
 *
 * A hosted driver is an emu_ctx: its lua_State, its libuv loop, the emulator
 * clock, the log, the lifecycle phase and the chosen OS version.  c4api/ code
 * gets the context of the driver it runs in with emu_ctx_of(L) (O(1): the
 * context is the lua_State's allocator userdata).
 *
 * Rules for c4api code:
 *   - never lua_call into the driver: every call goes through emu_pcall(),
 *     which logs the traceback, records the error and carries on;
 *   - every native handle is counted with emu_track() so specs can see leaks;
 *   - per-driver state of an API family is released by a shutdown hook
 *     (emu_on_shutdown), which runs after OnDriverDestroyed.
 */
#ifndef EMU_H
#define EMU_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <lua.h>
#include <lauxlib.h>
#include <uv.h>

#include "emu_conn.h"

typedef struct emu_ctx emu_ctx;

/* OS versions are packed as major<<16 | minor<<8 | patch (3.3.1 → 0x030301). */
typedef uint32_t c4_osver;
#define C4_OSVER(a, b, c) ((c4_osver)(((a) << 16) | ((b) << 8) | (c)))

typedef enum {
  EMU_LOG_ERROR,
  EMU_LOG_WARN,
  EMU_LOG_INFO,
  EMU_LOG_DEBUG,
} emu_level;

typedef enum {
  EMU_PHASE_NONE,       /* state exists, nothing has run yet */
  EMU_PHASE_LOAD,       /* the driver's chunk is running */
  EMU_PHASE_INIT,       /* OnDriverInit is running */
  EMU_PHASE_LATEINIT,   /* OnDriverLateInit is running */
  EMU_PHASE_RUNNING,    /* serving events */
  EMU_PHASE_DESTROYING, /* OnDriverDestroyed is running */
  EMU_PHASE_DEAD,       /* destroyed: handles closed */
} emu_phase;

typedef enum {
  EMU_RULE_STRICT, /* forbidden calls raise, discouraged calls warn */
  EMU_RULE_WARN,   /* both warn */
  EMU_RULE_OFF,    /* silent */
} emu_rule_mode;

/*
 * The emulated project as the user declared it (c4emu.load's device=,
 * controller=, devices= and the CLI flags --device-id, --device-name, --room,
 * --controller-ip, --controller-mac).  Plain data, read once by the director
 * family while the driver loads; c4api copies what it keeps.  Unset fields (NULL, 0) take the director's fixed defaults.
 */
typedef struct {
  const char *name, *value;
} emu_strpair;

typedef struct {
  int64_t id;                 /* 0: the director picks one */
  const char *name;
  const char *room;           /* room name; rooms are made on first use */
  int64_t room_id;            /* 0: the director picks one for the room */
  const char *c4i;            /* driver file name: "light_v2.c4i", "foo.c4z" */
  const char *proxy;          /* proxy type, as in driver.xml <proxy>: "light_v2" */
  const emu_strpair *vars;    /* variables: name → value; a name of digits is an id */
  size_t nvars;
} emu_device_decl;

typedef struct {
  emu_device_decl self;       /* the hosted driver's own device */
  const char *controller_name, *controller_ip, *controller_mac;
  const emu_device_decl *devices;  /* other devices in the project */
  size_t ndevices;
} emu_project_decl;

struct c4_project;            /* c4api/director/: the model built from it */

struct emu_ctx {
  lua_State *L;
  uv_loop_t *loop;
  emu_phase phase;
  c4_osver os;
  emu_rule_mode init_rule;
  bool virtual_clock;
  const char *pkg_dir;     /* folder holding the unpacked driver */
  const char *sandbox_dir; /* writable folder of this driver (C4:GetSandboxDir) */
  const char *bind_addr;   /* address servers listen on ("0.0.0.0" or "127.0.0.1") */
  int64_t device_id;
  const char *pkg_path;    /* the .c4z file or folder the user named */
  const emu_project_decl *project_decl; /* valid while the driver loads, then NULL */
  struct c4_project *project;           /* the director's model (c4api/director/) */
  struct emu_host *host;   /* private to emulator/ */
  /* issue 13 */
  bool deny_net;           /* outgoing connections only to loopback (--deny-net) */
};

/* The context of the driver that owns L (any coroutine of it). */
emu_ctx *emu_ctx_of(lua_State *L);

/* ---- log ---------------------------------------------------------------- */
void emu_log(emu_ctx *ctx, emu_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Findings for `c4emu check` and d:notes(): an init-rule violation, or a read
 * of a C4 API that the chosen OS version does not have.  Also logged (warn).
 */
typedef enum {
  EMU_NOTE_RULE,          /* a forbidden call in OnDriverInit: fails `check` */
  EMU_NOTE_MISSING_API,
  EMU_NOTE_NOT_PROVIDED,  /* issue 10: a C4 API c4emu does not provide: fails `check` */
  /* issue 15 */
  EMU_NOTE_RULE_DISCOURAGED, /* "should not be invoked during OnDriverInit": a warning */
  /* issue 16 (leftover of 15): what the package loader warned of (an encryption
   * attribute on plain text, jit="1", a delimiter that is not hex): a warning */
  EMU_NOTE_PACKAGE,
} emu_note_kind;
void emu_note(emu_ctx *ctx, emu_note_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * The same, counted: the first call with (kind, key) adds the note, later ones
 * only count it (d:notes() and `c4emu check` show the count).  For findings
 * that repeat, such as reads of a C4 API that c4emu does not provide.
 */
void emu_note_counted(emu_ctx *ctx, emu_note_kind kind, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Name of a note kind: "init-rule", "missing-api", "not-provided". */
const char *emu_note_kind_name(emu_note_kind kind);
/* issue 17: its level: "warning" (discouraged calls) or "error" (the rest). */
const char *emu_note_level_name(emu_note_kind kind);

/* ---- calling into the driver ------------------------------------------- */
/*
 * Calls the function below nargs arguments, protected, with a traceback
 * handler.  `what` names the call in the log ("OnServerDataIn",
 * "timer callback").  Returns 0 and leaves nresults values, or logs the error
 * with its traceback, records it for d:errors(), leaves nothing and returns
 * non-zero.  Safe to call from any libuv callback.
 */
int emu_pcall(emu_ctx *ctx, int nargs, int nresults, const char *what);
/*
 * The same for the per-message paths, with no results: push the handler
 * first (emu_pcall_begin returns its index), then the function and its
 * arguments, then emu_pcall_at.  Everything from the handler up is gone
 * afterwards.  Spares moving the handler under the function on every call.
 */
int emu_pcall_begin(emu_ctx *ctx);
int emu_pcall_at(emu_ctx *ctx, int handler, int nargs, const char *what);
/* Driver code is running (a callback, and what it called into): pushes made
 * now are charged to it and may fail under the memory cap. */
bool emu_in_driver(emu_ctx *ctx);

/*
 * Creates the metatable `name` (luaL_newmetatable) with __index = a table of
 * `methods` (may be NULL), and __gc / __tostring when given; leaves it on the
 * stack.  Does nothing but push it if it already exists.
 */
void emu_class_new(lua_State *L, const char *name, const luaL_Reg *methods,
                   lua_CFunction gc, lua_CFunction tostring);

/* Pushes global `name` and returns true if it is a function; else pushes nothing. */
bool emu_push_global_fn(emu_ctx *ctx, const char *name);
/*
 * Replaces the name on top of the stack with _G[name] as driver code would
 * read it, without raising: a driver that gives _G a metatable whose __index
 * raises on unknown names (strict mode) has that run protected, and an error
 * reads as nil (logged once per name).  For the host's reads from the loop,
 * where nothing would catch the error.
 */
void emu_global_at_top(emu_ctx *ctx);
/* True the first time `name` is asked about under `key` (any static address)
 * in this Lua state, false after: for warnings given once per name. */
bool emu_first_time(lua_State *L, const void *key, const char *name);

/* ---- the clock ---------------------------------------------------------- */
/*
 * Milliseconds on the emulator clock since the driver was loaded.  Real mode:
 * monotonic wall time.  Virtual mode: moves only when a spec advances it.
 */
uint64_t emu_now(emu_ctx *ctx);
/* Milliseconds since the Unix epoch, consistent with emu_now(). */
int64_t emu_epoch_ms(emu_ctx *ctx);

/*
 * One ordered structure holds everything due at a clock time.  Entries due at
 * the same time fire in the order they were added.  The callback runs with the
 * clock at the entry's due time (virtual) or later (real).  An entry is gone
 * once it has fired or been cancelled; re-add it to repeat.
 */
typedef struct emu_sched emu_sched;
typedef void (*emu_sched_fn)(emu_ctx *ctx, void *data);
emu_sched *emu_sched_add(emu_ctx *ctx, uint64_t due_ms, emu_sched_fn fn, void *data);
void emu_sched_cancel(emu_ctx *ctx, emu_sched *s);          /* NULL-safe */
uint64_t emu_sched_due(const emu_sched *s);
/* The same-instant tie-break key of an entry (its insertion sequence unless
 * given), and an add that reuses one: a repeating timer re-arms with the key
 * of its first entry so that it keeps its place among timers due together. */
uint64_t emu_sched_order(const emu_sched *s);
emu_sched *emu_sched_add_ordered(emu_ctx *ctx, uint64_t due_ms, uint64_t order,
                                 emu_sched_fn fn, void *data);
/* Called by c4api right after a driver callback returns: charges a pending
 * d:stall(ms) to the clock (virtual: the clock moves on by ms; real: sleeps). */
void emu_charge_stall(emu_ctx *ctx);
/* Marks an entry as a driver timer for d:timers(): kind ("SetTimer",
 * "AddTimer") and period (0: one-shot).  Unmarked entries are internal. */
void emu_sched_describe(emu_sched *s, const char *kind, uint64_t period_ms);

/* ---- handles and shutdown ---------------------------------------------- */
/* Counts open native handles per kind ("timer", "tcp-server", ...): +1 / -1. */
void emu_track(emu_ctx *ctx, const char *kind, int delta);

/*
 * Registers fn to run once when the driver is torn down (after
 * OnDriverDestroyed, before the loop is closed), in reverse order of
 * registration.  fn must close its libuv handles; the host then runs the loop
 * until every close callback has run.
 */
typedef void (*emu_shutdown_fn)(emu_ctx *ctx, void *data);
void emu_on_shutdown(emu_ctx *ctx, emu_shutdown_fn fn, void *data);

/* issue 12: fn runs once when the driver starts serving events (after
 * OnDriverLateInit), in order of registration: what the controller starts on
 * its own once a driver is up (auto_connect network bindings). */
void emu_on_running(emu_ctx *ctx, emu_shutdown_fn fn, void *data);

/* Counts an I/O event so virtual-time waits know the loop did something. */
void emu_io_activity(emu_ctx *ctx);

/*
 * Busy probes: what d:settle() and virtual-time advance wait for.  A family
 * that owns sockets or transfers registers one probe; it answers whether
 * anything of its own is still in flight inside this process (bytes queued to
 * write, a connect or request pending, a transfer running).  Settling serves
 * the loop until no probe is busy and the loop brought no new I/O.  Remove the
 * probe (same fn and data) before the data it reads is freed.
 */
typedef bool (*emu_busy_fn)(emu_ctx *ctx, void *data);
void emu_busy_probe_add(emu_ctx *ctx, emu_busy_fn fn, void *data);
void emu_busy_probe_remove(emu_ctx *ctx, emu_busy_fn fn, void *data);
/* Whether any registered probe is busy now. */
bool emu_busy(emu_ctx *ctx);

/*
 * issue 13: in-process servers (a spec's d:http_device) that hold a request
 * on the emulator clock (a route's api.later) say so per client port, so a
 * client family can tell "waiting for virtual time" from "bytes moving" and
 * settling still returns.
 */
typedef bool (*emu_parked_fn)(emu_ctx *ctx, void *data, int client_port);
void emu_parked_probe_add(emu_ctx *ctx, emu_parked_fn fn, void *data);
void emu_parked_probe_remove(emu_ctx *ctx, emu_parked_fn fn, void *data);
/* Whether an in-process server holds the connection from local port
 * client_port for a virtual-time delay. */
bool emu_client_parked(emu_ctx *ctx, int client_port);

/* ---- the driver package ------------------------------------------------ */
/* Text of a root-level element of driver.xml, or NULL. */
const char *emu_config_info(emu_ctx *ctx, const char *tag);
/* Text of <capabilities><name>, or NULL. */
const char *emu_capability(emu_ctx *ctx, const char *name);
/* issue 12: the <connections> of driver.xml (emu_conn.h), in document order,
 * and the text of <config><serialsettings> (NULL when absent). */
const emu_connection *emu_connections(emu_ctx *ctx, size_t *n);
const char *emu_serial_settings(emu_ctx *ctx);
/* The address the project gives network binding id at load (--net
 * 6001=127.0.0.1, c4emu.load's net = {[6001] = ...}), or NULL. */
const char *emu_binding_address_preset(emu_ctx *ctx, int id);

/*
 * Resolves a driver-relative file path against the package folder, then the
 * sandbox folder.  Refuses absolute paths, paths starting with "." and paths
 * that escape those folders.  On success writes the full path and returns 0;
 * otherwise returns -1 with a reason in err.
 */
int emu_resolve_driver_path(emu_ctx *ctx, const char *rel, char *out, size_t outsz,
                            char *err, size_t errsz);
/* The same without a context: folders given (either may be NULL). */
int emu_path_resolve(const char *pkg_dir, const char *sandbox_dir, const char *rel,
                     char *out, size_t outsz, char *err, size_t errsz);

/* ---- XML: one expat run with the limits every reader keeps ------------- */
/*
 * driver.xml, the connections in it, C4:ParseXml and .c4zproj files are read
 * with expat through this: the input size is capped, a reader charges what it
 * keeps against a budget (entity expansion counts: expat 2.5 bounds its
 * amplification, the budget bounds the total), and the first reason a
 * handler stops the parse is reported where it happened (inside a handler
 * expat points at the start of the event, which is where a reader means).
 * Errors read "line L, column C: why".
 */
typedef struct {
  void (*start)(void *ud, const char *name, const char **atts);
  void (*end)(void *ud, const char *name);
  void (*text)(void *ud, const char *s, int len); /* NULL: text is skipped */
} emu_xml_handlers;

typedef struct {
  void *parser;            /* the expat parser, while the run lasts */
  size_t stored, budget;   /* bytes charged / allowed (0: no budget) */
  const char *what;        /* "driver.xml", "the document": named when the budget is spent */
  char why[200];           /* the first reason a handler stopped, or "" */
  unsigned long line, col; /* where it stopped (col from 0, as expat counts) */
} emu_xml_run;

/* Parses text (at most max_input bytes) calling h with ud; 0, or -1 with the
 * error in err.  Set budget and what in x first (zero it otherwise). */
int emu_xml_run_parse(emu_xml_run *x, const char *text, size_t len, size_t max_input,
                      const emu_xml_handlers *h, void *ud, char *err, size_t errsz);
/* From a handler: stops the parse; the first reason wins. */
void emu_xml_stop(emu_xml_run *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* From a handler: charges n bytes kept; false (and stopped) past the budget. */
bool emu_xml_charge(emu_xml_run *x, size_t n);
/* From a handler: the line the current event starts on. */
unsigned long emu_xml_line(const emu_xml_run *x);

/* ---- issue 11: several drivers in one project --------------------------- */
/* The hosted driver (of the same project) whose device is device_id, or
 * NULL (no such driver, or a driver on its own). */
emu_ctx *emu_peer_driver(emu_ctx *ctx, int64_t device_id);
/* The i-th other hosted driver of ctx's project (0, 1, ...), NULL past the end. */
emu_ctx *emu_peer_at(emu_ctx *ctx, size_t i);
/* How many messages between drivers led to the one being delivered now (0
 * outside a delivery); a family that sends one sets it around the call. */
int emu_message_hops(emu_ctx *ctx);
void emu_message_hops_set(emu_ctx *ctx, int hops);
/* s3-project: where the project model that every driver of ctx's project
 * shares is kept (the director family's; NULL until the first driver makes
 * it), or NULL for a driver on its own. */
void **emu_world_model(emu_ctx *ctx);
/* Longest chain of messages between drivers before one is dropped (a cycle). */
#define EMU_MAX_MESSAGE_HOPS 64

/* ---- issue 17: state sections for the consoles -------------------------- */
/*
 * A family shows what it holds (servers, variables, bindings, ...) in the web
 * console's State view by registering a section: a name, its columns (comma
 * separated, in display order) and a function that pushes onto L one array of
 * rows, each a table keyed by column name (strings, numbers, booleans).  L is
 * the console's own state, never the driver's.  Remove the section (same fn
 * and data) before the data it reads is freed; a shutdown hook is the place.
 */
typedef void (*emu_state_fn)(emu_ctx *ctx, void *data, lua_State *L);
void emu_state_section_add(emu_ctx *ctx, const char *name, const char *columns,
                           emu_state_fn fn, void *data);
void emu_state_section_remove(emu_ctx *ctx, emu_state_fn fn, void *data);

/* ---- s3-apis-b: zip entry names, whole writes (emu_package.c) ---------- */
/* Why a zip entry name is unsafe as a path relative to the folder it is
 * extracted into ("it is an absolute path", "it contains a '..' component",
 * a backslash, a control character, empty), or NULL: the package loader's
 * rule, which C4:Unzip applies too. */
const char *emu_zip_name_problem(const char *name);
/* Writes all n bytes to fd (retrying short writes and EINTR): 0, or -1 with
 * errno set. */
int emu_write_all(int fd, const void *data, size_t n);

/* ---- s4-files: the controller's shared folders (emu_shared_dirs.c) ----- */
/*
 * The File API's path aliases MEDIA (/media on a controller) and LOGGING
 * (/var/log/debug) name folders of the controller, not of one driver: every
 * driver of a project sees the same ones.  c4emu gives each its own private
 * folder, made on first use next to the sandboxes (emu_tmp_make) and removed
 * with the project (or the lone driver).  Returns the canonical folder, or
 * NULL when make is false and it was not made yet, or when it cannot be made
 * (a warning is logged) or the driver is gone.
 */
typedef enum { EMU_SHARED_MEDIA, EMU_SHARED_LOGGING, EMU_SHARED__COUNT } emu_shared_dir;
const char *emu_shared_dir_path(emu_ctx *ctx, emu_shared_dir which, bool make);

#endif
