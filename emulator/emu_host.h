/*
 * emu_host.h — the host's own pieces: options, package, log store, clock
 * and the driver lifecycle.  Front ends (the c4emu CLI in emu_main.c and the
 * spec module in emu_module.c) use this; c4api/ does not.
 */
#ifndef EMU_HOST_H
#define EMU_HOST_H

#include "emu.h"
#include "emu_package.h"

typedef struct {
  char *name, *value;
} emu_kv;

typedef struct {
  const char *path;          /* .c4z file or driver folder */
  c4_osver os;
  emu_rule_mode init_rule;
  bool virtual_clock;
  const char *bind_addr;     /* NULL: all interfaces */
  const emu_kv *props;       /* --prop overrides */
  size_t nprops;
  bool log_stderr;           /* print log lines on stderr */
  bool log_color;
  emu_level log_level;       /* what is printed (everything is captured) */
  int64_t device_id;         /* 0: pick one */
  /* issue 9: the emulator's wall clock */
  bool has_epoch;            /* epoch_ms given (--epoch, {epoch=}); else the real time at load */
  int64_t epoch_ms;          /* wall time at load, ms since the Unix epoch */
  /* issue 13 */
  bool deny_net;             /* --deny-net: outgoing HTTP to loopback only */
  /* issue 10: the emulated project (device, controller, other devices) */
  emu_project_decl project;
  /* issue 15: the guards and coverage */
  int watchdog_ms;           /* longest a callback may run (wall time); 0: off */
  size_t memory_cap;         /* bytes the driver's Lua state may hold; 0: off */
  int run_timeout_ms;        /* whole-run deadline (check --timeout); 0: none */
  bool signals;              /* the CLI: the hook also watches SIGINT/SIGTERM */
  bool coverage;             /* record which lines of the driver's files run */
  /* issue 16 */
  bool gc_each_callback;     /* a full collection after every driver callback */
  /* issue 12: network binding addresses (name = binding id, value = address) */
  const emu_kv *net;
  size_t nnet;
  /* issue 11: a driver of a project file shares the world's loop and clock */
  struct emu_world *world;   /* NULL: a driver on its own */
  const char *name;          /* its name in the project ("tv"): log lines carry it */
} emu_options;

#define EMU_WATCHDOG_DEFAULT_MS 5000
#define EMU_MEMORY_DEFAULT (1024u * 1024u * 1024u)

/* One captured log line. */
typedef struct {
  emu_level level;
  uint64_t clock_ms;
  char *text;
} emu_logline;

/* One uncaught driver error. */
typedef struct {
  char *where;     /* "OnDriverInit", "timer callback", ... */
  char *message;
  char *traceback;
} emu_error;

typedef struct {
  emu_note_kind kind;
  char *text;
  char *key;       /* emu_note_counted's key, or NULL */
  long count;      /* how many times it was found (1 for plain notes) */
} emu_noteline;

typedef struct {
  emu_shutdown_fn fn;
  void *data;
} emu_hook;

typedef struct {
  char kind[24];
  long count;
} emu_handle_count;

typedef struct emu_clock emu_clock;

struct emu_host {
  emu_options opt;
  emu_package pkg;
  emu_clock *clock;
  uv_loop_t loop;
  char *sandbox;

  emu_logline *log;
  size_t nlog, caplog;
  emu_error *errors;
  size_t nerrors, caperrors;
  emu_noteline *notes;
  size_t nnotes, capnotes;

  emu_hook *hooks;
  size_t nhooks, caphooks;
  emu_handle_count handles[16];
  size_t nhandle_kinds;

  uint64_t io_events;       /* bumped by emu_io_activity() */
  struct emu_probe { emu_busy_fn fn; void *data; } *probes; /* emu_quiet.c */
  size_t nprobes, capprobes;
  struct emu_parked { emu_parked_fn fn; void *data; } *parked; /* issue 13 */
  size_t nparked, capparked;
  size_t mem_now, mem_peak; /* bytes held by the driver's lua_State */
  int64_t epoch0_ms;        /* wall clock at load */
  int handler_ref;          /* registry ref of the traceback message handler */
  void (*log_sink)(emu_ctx *ctx, emu_level lvl, const char *line); /* optional extra sink */
  char *own_path, *own_bind; /* issue 9: copies of opt.path and opt.bind_addr */
  /* issue 9: settling */
  bool (*spec_step)(emu_ctx *ctx, void *ud); /* set by the spec module while it waits:
                                                 runs device notifiers and spawned
                                                 coroutines; true if anything ran */
  void *spec_step_ud;
  int settling;             /* depth of emu_settle / advance / serve (nesting is refused) */
  /* issue 17: state sections (emu_state.c) and the web console (emu_web.c) */
  struct emu_state_section { char *name, *columns; emu_state_fn fn; void *data; } *sections;
  size_t nsections, capsections;
  struct emu_web *web;

  /* issue 15: the watchdog (emu_watchdog.c), the memory cap, coverage */
  int guard_depth;            /* protected calls into the driver in progress */
  uint64_t guard_start_ns;    /* when the outermost began (CLOCK_MONOTONIC_COARSE) */
  uint64_t guard_deadline_ns; /* watchdog deadline of the outermost; 0: none */
  uint64_t run_deadline_ns;   /* check --timeout; 0: none */
  const char *guard_what;     /* the outermost callback's name (the caller's string, live
                                 for the whole call: the hook reads it only during it) */
  char guard_msg[320];        /* the error a tripped guard raises */
  bool guard_tripped;
  bool run_timed_out;
  bool mem_refused;           /* the allocator refused a block over the cap */
  struct emu_cov *coverage;   /* NULL: coverage off */
  void (*log_hide)(void *ud); /* the console: around each printed log line */
  void (*log_show)(void *ud);
  void *log_ud;
  /* issue 16: --gc-each-callback: runs a full collection once the callback's
   * C caller has unwound (the check phase of the loop); active only when due */
  uv_check_t gc_check;
  bool gc_check_init;
  /* issue 12: emu_on_running hooks; copies of opt.net */
  emu_hook *run_hooks;
  size_t nrun_hooks, caprun_hooks;
  emu_kv *own_net;
  size_t nown_net;
  /* issue 11: a project's driver borrows the world's loop and clock */
  struct emu_world *world;
  char *own_name;           /* "[tv]" for log lines, or NULL */
  /* s4-files: a lone driver's MEDIA and LOGGING folders (emu_shared_dirs.c) */
  char *shared_dirs[EMU_SHARED__COUNT];
};

/* ---- lifecycle (emu_driver.c) ------------------------------------------ */
/*
 * Opens the package, creates the Lua world, fills Properties and runs the
 * chunk.  Returns NULL with a one-line reason in err when the driver cannot
 * run at all (the CLI exits 2); a runtime error in the chunk is a driver error
 * (logged and recorded), not a refusal.
 */
emu_ctx *emu_driver_load(const emu_options *opt, char *err, size_t errsz);
/* OnDriverInit(dit) then OnDriverLateInit(dit); phase ends RUNNING. */
void emu_driver_init(emu_ctx *ctx, const char *dit);
/* The driver is up (after its OnDriverLateInit): the running phase, and what
 * the controller starts then (auto_connect bindings, ...). For one driver
 * emu_driver_init does it; a project calls it for each driver in turn. */
void emu_driver_running(emu_ctx *ctx);
/* OnDriverDestroyed(dit), then the shutdown hooks, then the loop drains. */
void emu_driver_destroy(emu_ctx *ctx, const char *dit);
/* Frees everything; destroys first if needed. */
void emu_driver_free(emu_ctx *ctx);
/* s3-apis-a: the driver removed from the project: OnDriverRemovedFromProject()
 * (OS 2.1.0 on), then emu_driver_destroy(ctx, "DIT_LOADED"). */
void emu_driver_remove(emu_ctx *ctx);

/* Calls a lifecycle entry point if the driver defines it: the DIT argument
 * is passed only on OS versions that have it.  Sets the phase around it. */
void emu_call_lifecycle(emu_ctx *ctx, const char *fn, emu_phase phase, const char *dit);

/* Sets Properties[name] = value and calls OnPropertyChanged(name); before
 * the driver starts (phase NONE or LOAD) only the value (s4-fixes). */
void emu_set_property(emu_ctx *ctx, const char *name, const char *value);


long emu_handles_open(emu_ctx *ctx); /* sum over kinds */
/* issue 9: the driver callbacks the host itself calls (NULL-terminated). */
extern const char *const emu_host_callbacks[];
const char *emu_phase_name(emu_phase p);

/* ---- the Lua world (emu_lua.c) ----------------------------------------- */
lua_State *emu_lua_new(emu_ctx *ctx);
/* Copies the value at src_idx of `from` onto `to` (nil, booleans, numbers,
 * strings, tables of those).  Returns 0, or -1 with a message pushed on `to`. */
int emu_lua_copy(lua_State *from, int src_idx, lua_State *to);
/* Protected call whose error (message + traceback) is left on the stack;
 * `what` names it for the watchdog. */
int emu_pcall_keep(lua_State *L, int nargs, int nresults, const char *what);
/* issue 16: closes the --gc-each-callback check handle (driver teardown). */
void emu_gc_check_close(emu_ctx *ctx);
void emu_record_error(emu_ctx *ctx, const char *where, const char *msg, const char *tb);

/* issue 14 (emu_lua_load.c): require's Lua searcher with package-relative
 * chunk names, and loadstring/load/loadfile/dofile refusing bytecode. */
void emu_lua_install_loaders(lua_State *L);

/* issue 14: `c4emu pack PROJECT.c4zproj` (emu_cmd_pack.c) */
int emu_cmd_pack(int argc, char **argv);

/* ---- the clock (emu_clock.c) ------------------------------------------- */
emu_clock *emu_clock_new(emu_ctx *ctx, bool virtual_mode);
void emu_clock_free(emu_clock *c);
/* Virtual: fires every entry due by now+ms, in order, serving ready I/O
 * between them; the clock ends at now+ms.  Real mode: runs the loop for ms. */
void emu_clock_advance(emu_ctx *ctx, uint64_t ms);
/* Fires the entries due now (real mode: also re-arms the libuv timer);
 * true if any fired. */
bool emu_clock_fire_due(emu_ctx *ctx);
/* Due time of the earliest entry; false if none. */
bool emu_clock_next_due(emu_ctx *ctx, uint64_t *due);
/* Visits every pending entry (for d:timers()). */
void emu_clock_each(emu_ctx *ctx, void (*fn)(emu_sched *s, void *ud), void *ud);
void *emu_sched_data(const emu_sched *s);
emu_sched_fn emu_sched_callback(const emu_sched *s);
const char *emu_sched_kind(const emu_sched *s);   /* NULL: internal entry */
uint64_t emu_sched_period(const emu_sched *s);
size_t emu_clock_pending(emu_ctx *ctx);
/* d:stall(ms): the next driver callback costs ms of clock time. */
void emu_clock_stall(emu_ctx *ctx, uint64_t ms);
/* Whether any handle (referenced or not) or request could still bring an
 * event; the clock's own timers count only while running. */
bool emu_loop_could_bring_io(emu_ctx *ctx);
/* Serves the loop once: waits at most wait_ms of real time for I/O. */
void emu_loop_serve(emu_ctx *ctx, uint64_t wait_ms);

/* ---- the wall clock (emu_wallclock.c), issue 9 ------------------------ */
/* Replaces os.time / os.date / os.clock in L with the emulator clock's. */
void emu_wallclock_open(lua_State *L);
/* "2026-01-01T00:00:00Z" (a zone, Z or ±HH:MM, is required with a time),
 * "2026-01-01" (UTC midnight) or seconds since the Unix epoch → ms.
 * Returns 0, or -1 if s is none of those. */
int emu_epoch_parse(const char *s, int64_t *ms);

/* issue 11: drops the clock entries ctx added (a project's driver going
 * while the others stay). */
void emu_clock_drop_ctx(emu_ctx *ctx);

/* ---- projects of several drivers (emu_world.c), issue 11 ---------------- */
/*
 * A world owns the one loop and the one clock every driver of a project
 * runs on (a context of its own that hosts no driver), and lists the drivers
 * by name.  A driver joins it through emu_options.world; it then borrows the
 * loop and the clock and leaves them alone when it goes.  The world is freed
 * after its last driver.
 */
typedef struct emu_world {
  emu_ctx *ctx;             /* the loop and the clock; no lua_State */
  struct emu_world_driver { char *name; emu_ctx *ctx; } *drivers;
  size_t n, cap;
  int refs;                 /* its owner + one per driver */
  int hops;                 /* messages in the chain being delivered (emu_message_hops) */
  void *model;              /* s3-project: the project model every driver shares (c4api's) */
  char *shared_dirs[EMU_SHARED__COUNT]; /* s4-files: the project's MEDIA and LOGGING folders */
} emu_world;
emu_world *emu_world_new(bool virtual_clock, bool has_epoch, int64_t epoch_ms);
/* Lists a loaded driver (it holds a reference until emu_world_remove). */
void emu_world_add(emu_world *w, const char *name, emu_ctx *ctx);
void emu_world_remove(emu_world *w, emu_ctx *ctx);   /* emu_driver_free calls it */
void emu_world_release(emu_world *w);                /* the owner's reference */
/* s4-files: removes the world's MEDIA and LOGGING folders (emu_shared_dirs.c). */
void emu_world_shared_dirs_free(emu_world *w);
/* `c4emu run|check project.lua` (emu_cmd_project.c): a path ending in .lua
 * is a project file; the functions return the exit code. */
bool emu_is_project_file(const char *path);
/* s3-project: web_port -1 for no web console (else as `run --web`). */
int emu_project_run(const emu_options *base, bool once, const char *web_addr, int web_port);
/* s4-files: strict as check --strict (warnings fail too). */
int emu_project_check(const emu_options *base, const c4_osver *versions, size_t nv,
                      const char *junit, bool strict);

/* ---- subcommands (emulator/emu_cmd_<name>.c) ---------------------------- */
/* issue 9 */
int emu_cmd_apis(int argc, char **argv);
int emu_cmd_init(int argc, char **argv);

/* ---- settling (emu_settle.c, issue 9) ------------------------------------ */
/* Wall-clock bound of each settle inside virtual-time advance. */
#define EMU_ADVANCE_SETTLE_MS 2000u
/* ... and of the later ones once an advance has timed out. */
#define EMU_ADVANCE_SETTLE_AFTER_MS 20u
/* Serves the loop (and the spec side) until everything in the process is
 * quiet; 0, or -1 after timeout_ms of wall time with the reason in why. */
int emu_settle(emu_ctx *ctx, uint64_t timeout_ms, char *why, size_t whysz);
/* Whether anything is in flight now (one look, no serving). */
bool emu_settle_busy(emu_ctx *ctx, char *why, size_t whysz);
/* emu_settle for advance: logs once (per *warned) when it times out. */
void emu_settle_for_advance(emu_ctx *ctx, bool *warned);
/* ---- state sections (emu_state.c), issue 17 ---------------------------- */
/* Pushes onto L an array of every section, built-in ones first (clock,
 * timers, handles): {name=, columns={...}, rows={...}}. */
void emu_state_push_sections(emu_ctx *ctx, lua_State *L);
void emu_state_free(emu_ctx *ctx);
/* ---- temporary folders (emu_tmp.c) --- issue 16 ------------------------- */
/* A new private folder $TMPDIR/c4emu-<uid>/<what>-<pid>-XXXXXX (malloc'd,
 * canonical), after removing the folders left by processes that are gone;
 * NULL with a reason in err. */
char *emu_tmp_make(const char *what, char *err, size_t errsz);
/* s4-files: removes a folder emu_tmp_make made, with all it holds (links are
 * removed, never followed). */
void emu_tmp_remove(const char *path);

/* ---- log (emu_log.c) --------------------------------------------------- */
void emu_log_free(emu_ctx *ctx);
const char *emu_level_name(emu_level lvl);

/* ---- issue 15: watchdog, signals (emu_watchdog.c) --------------------- */
/* Installs the hook on the driver's main thread (before any driver code). */
void emu_guard_install(emu_ctx *ctx);
/* Around every protected call into the driver; nested calls count once. */
void emu_guard_enter(emu_ctx *ctx, const char *what);
void emu_guard_leave(emu_ctx *ctx);
/* The CLI: SIGINT/SIGTERM/SIGHUP set a flag the hook reads and wake the
 * loop through `wake` (uv_async_send is async-signal-safe). */
void emu_signals_install(uv_async_t *wake);
void emu_signals_remove(void);
/* On the loop: the last signal (0: none), and whether it stopped a callback. */
int emu_signal_take(bool *stopped_callback);

/* ---- issue 15: the console of `c4emu run` (emu_console.c) ------------- */
typedef struct emu_console emu_console;
/* Opens the readline console on stdin; NULL when stdin is not a terminal
 * or the process is not in the terminal's foreground. */
emu_console *emu_console_open(emu_ctx *ctx);
/* Ctrl-C at the prompt: discards what is typed; false if there was nothing. */
bool emu_console_sigint(emu_console *c);
/* Whether Ctrl-D (or the end of input) ended it; it then stopped the loop. */
bool emu_console_ended(const emu_console *c);
/* s3-project: the CLI's wake-up after a signal (`run` of a driver or of a
 * project): the signal to act on, or 0 when there is none or the console
 * took it (a Ctrl-C that stopped running code or discarded a typed line, as
 * in lua.c and shells).  c may be NULL (no console). */
int emu_console_take_signal(emu_console *c);
void emu_console_close(emu_console *c); /* NULL-safe; saves the history */

/* ---- issue 15: coverage (emu_coverage.c) ------------------------------- */
struct emu_cov *emu_coverage_new(emu_ctx *ctx);
void emu_coverage_line(emu_ctx *ctx, lua_State *L, lua_Debug *ar);
/* Adds this driver's hits to the process-wide collection (C4EMU_COVERAGE,
 * check --coverage) and frees them. */
void emu_coverage_finish(emu_ctx *ctx);
/* Pushes {["file.lua"] = {[line] = hits}} of this driver onto L. */
void emu_coverage_push(emu_ctx *ctx, lua_State *L);
/* Writes the process-wide collection: LCOV, or luacov's stats format when
 * the name ends in ".out".  Returns 0, or -1 with errno set. */
int emu_coverage_write(const char *file);

/* issue 17: the consoles' one printer (emu_pretty.c); Lua C functions, to
 * call protected.  emu_pretty: the values tab-separated (terminal console);
 * emu_pretty_lines: one per line, top-level strings quoted (web console). */
int emu_pretty(lua_State *L);
int emu_pretty_lines(lua_State *L);
/* Pushes d:notes()'s list: {{kind=, level=, text=, count=}, ...} (emu_log.c). */
void emu_notes_push(emu_ctx *ctx, lua_State *L);

#endif
