/*
 * emu_cmd_project.c — `c4emu run project.lua` and `c4emu check project.lua`
 * (issue 11): a project file of several drivers (README-projects.md).
 *
 * run: every driver on one loop and one clock (emu_world.c), each in its own
 * Lua state with its own device id, log lines carrying its name; each chunk
 * and OnDriverInit("DIT_STARTUP") in the order of the drivers' names, then
 * the project's bindings, then every OnDriverLateInit.  On a terminal the
 * Lua console (emu_console.c) runs in the driver `:driver NAME` chooses;
 * with --web the web console serves the driver its page picks.  check (s4-files):
 * runs the whole project as one world per OS version, as run does, with
 * DIT_ADDING and 60 virtual seconds as `c4emu check driver` has, and reports
 * per driver.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "emu_host.h"
#include "emu_report.h"
#include "emu_web.h"
#include "c4api.h"
#include "director/c4_bindings.h"

#define MAX_DRIVERS 64
#define MAX_PROPS 128

typedef struct {
  char *name, *path, *room;
  int64_t id;
  emu_kv props[MAX_PROPS];
  size_t nprops;
  emu_device_decl peers[MAX_DRIVERS];
} proj_driver;

typedef struct {
  proj_driver d[MAX_DRIVERS];
  size_t n;
  struct proj_bind { int c, cid, p, pid; } binds[256];
  size_t nbinds;
} proj_file;

bool emu_is_project_file(const char *path) {
  size_t n = path ? strlen(path) : 0;
  return n > 4 && strcmp(path + n - 4, ".lua") == 0;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(((const proj_driver *)a)->name, ((const proj_driver *)b)->name);
}

static void proj_free(proj_file *pf) {
  for (size_t i = 0; i < pf->n; i++) {
    free(pf->d[i].name);
    free(pf->d[i].path);
    free(pf->d[i].room);
    for (size_t k = 0; k < pf->d[i].nprops; k++) {
      free(pf->d[i].props[k].name);
      free(pf->d[i].props[k].value);
    }
  }
  free(pf);
}

static int find(const proj_file *pf, const char *name) {
  for (size_t i = 0; i < pf->n; i++)
    if (strcmp(pf->d[i].name, name) == 0) return (int)i;
  return -1;
}

/* Reads the project file; NULL with a one-line reason in err. */
static proj_file *proj_read(const char *file, char *err, size_t errsz) {
  lua_State *L = luaL_newstate();
  if (!L) {
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  luaL_openlibs(L);
  proj_file *pf = calloc(1, sizeof *pf);
  if (!pf) abort();
  char dir[4096] = ".";
  const char *slash = strrchr(file, '/');
  if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - file), file);
#define FAIL(...) do { snprintf(err, errsz, __VA_ARGS__); goto fail; } while (0)
  if (luaL_loadfile(L, file) != 0 || lua_pcall(L, 0, 1, 0) != 0)
    FAIL("%s", lua_tostring(L, -1));
  if (!lua_istable(L, -1)) FAIL("%s must return a table, not %s", file, luaL_typename(L, -1));
  lua_getfield(L, -1, "drivers");
  if (!lua_istable(L, -1)) FAIL("%s: drivers must be a table", file);
  int dt = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, dt)) {
    if (lua_type(L, -2) != LUA_TSTRING) FAIL("%s: drivers must be named (drivers = {tv = {...}})", file);
    if (pf->n == MAX_DRIVERS) FAIL("%s: more than %d drivers", file, MAX_DRIVERS);
    const char *name = lua_tostring(L, -2);
    if (!lua_istable(L, -1)) FAIL("%s: drivers.%s must be a table", file, name);
    proj_driver *d = &pf->d[pf->n++];
    d->name = strdup(name);
    lua_getfield(L, -1, "path");
    if (lua_type(L, -1) != LUA_TSTRING) FAIL("%s: drivers.%s.path must be a string", file, name);
    const char *path = lua_tostring(L, -1);
    d->path = malloc(strlen(dir) + strlen(path) + 2);
    if (!d->path) abort();
    if (path[0] == '/') strcpy(d->path, path);
    else sprintf(d->path, "%s/%s", dir, path);
    lua_getfield(L, -2, "room");
    d->room = lua_isstring(L, -1) ? strdup(lua_tostring(L, -1)) : NULL;
    lua_getfield(L, -3, "id");
    d->id = lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1) : 0;
    lua_getfield(L, -4, "properties");
    if (lua_istable(L, -1)) {
      lua_pushnil(L);
      while (lua_next(L, -2) && d->nprops < MAX_PROPS) {
        lua_pushvalue(L, -2);
        const char *k = lua_tostring(L, -1), *v = lua_tostring(L, -2);
        if (!k || !v) FAIL("%s: drivers.%s.properties: names and values must be strings or numbers", file, name);
        d->props[d->nprops++] = (emu_kv){strdup(k), strdup(v)};
        lua_pop(L, 2);
      }
    }
    lua_pop(L, 5);
  }
  if (pf->n == 0) FAIL("%s: drivers is empty", file);
  qsort(pf->d, pf->n, sizeof pf->d[0], name_cmp);
  for (size_t i = 0; i < pf->n; i++)
    if (!pf->d[i].id) pf->d[i].id = 100 + 10 * (int64_t)i;
  lua_getfield(L, dt - 1, "bindings");
  int bt = lua_gettop(L);
  if (!lua_isnil(L, bt) && !lua_istable(L, bt)) FAIL("%s: bindings must be a list", file);
  for (int i = 1; lua_istable(L, bt) && i <= (int)lua_objlen(L, bt); i++) {
    lua_rawgeti(L, bt, i);
    for (int k = 1; k <= 4; k++) lua_rawgeti(L, bt + 1, k);
    if (!lua_isstring(L, -4) || !lua_isnumber(L, -3) || !lua_isstring(L, -2) || !lua_isnumber(L, -1))
      FAIL("%s: bindings[%d] must be {consumer, id, provider, id}", file, i);
    int c = find(pf, lua_tostring(L, -4)), p = find(pf, lua_tostring(L, -2));
    if (c < 0 || p < 0)
      FAIL("%s: bindings[%d]: no driver '%s'", file, i, lua_tostring(L, c < 0 ? -4 : -2));
    if (pf->nbinds == sizeof pf->binds / sizeof pf->binds[0]) FAIL("%s: too many bindings", file);
    pf->binds[pf->nbinds++] = (struct proj_bind){c, (int)lua_tointeger(L, -3), p,
                                                 (int)lua_tointeger(L, -1)};
    lua_settop(L, bt);
  }
  lua_close(L);
  return pf;
fail:
#undef FAIL
  lua_close(L);
  proj_free(pf);
  return NULL;
}

/* The options of driver k: the command line's, its path, device, room,
 * properties, and the other drivers as devices of the project. */
static emu_options driver_opts(const emu_options *base, proj_file *pf, size_t k, emu_world *w) {
  emu_options o = *base;
  proj_driver *d = &pf->d[k];
  o.path = d->path;
  o.props = d->props;
  o.nprops = d->nprops;
  o.world = w;
  o.name = w ? d->name : NULL;
  o.project.self.id = d->id;
  o.project.self.name = d->name; /* one name for the device, whoever asks */
  o.project.self.room = d->room;
  size_t m = 0;
  for (size_t j = 0; j < pf->n; j++)
    if (j != k)
      d->peers[m++] = (emu_device_decl){.id = pf->d[j].id, .name = pf->d[j].name,
                                        .room = pf->d[j].room};
  o.project.devices = d->peers;
  o.project.ndevices = m;
  return o;
}

/* Fires what is due now (messages between drivers), bounded. */
static void drain(emu_world *w) {
  for (int i = 0; i < 4 * EMU_MAX_MESSAGE_HOPS + 8; i++) {
    uv_run(w->ctx->loop, UV_RUN_NOWAIT);
    if (!emu_clock_fire_due(w->ctx)) {
      uint64_t due;
      if (!emu_clock_next_due(w->ctx, &due) || due > emu_now(w->ctx)) return;
    }
  }
}

typedef struct {
  emu_ctx *log_ctx;     /* the first driver: the run's own lines */
  emu_world *world;
  uv_async_t wake;      /* the signal handler's wake-up (emu_signals_install) */
  emu_console *console; /* NULL: stdin is not a terminal, or --once */
  bool stopping;
} proj_run;

/* On the loop after SIGINT/SIGTERM/SIGHUP, as `c4emu run driver` does: at the
 * console, Ctrl-C that stopped running code or discarded a typed line has
 * done its job; otherwise the project shuts down. */
static void on_wake(uv_async_t *a) {
  proj_run *rs = a->data;
  int sig = emu_console_take_signal(rs->console);
  if (!sig) return;
  emu_log(rs->log_ctx, EMU_LOG_INFO, "[c4emu] %s: shutting the project down", strsignal(sig));
  rs->stopping = true;
  uv_stop(rs->world->ctx->loop);
}

/* The first driver still running (the clock is advanced through it). */
static emu_ctx *live_driver(emu_world *w) {
  for (size_t i = 0; i < w->n; i++)
    if (w->drivers[i].ctx->phase != EMU_PHASE_DEAD) return w->drivers[i].ctx;
  return NULL;
}

int emu_project_run(const emu_options *base_in, bool once, const char *web_addr, int web_port) {
  char err[1024];
  emu_options base = *base_in;
  base.signals = true;       /* Ctrl-C stops a runaway callback, as for one driver */
  base.run_timeout_ms = 0;
  proj_file *pf = proj_read(base.path, err, sizeof err);
  if (!pf) {
    fprintf(stderr, "c4emu: %s\n", err);
    return 2;
  }
  emu_world *w = emu_world_new(base.virtual_clock, base.has_epoch, base.epoch_ms);
  emu_ctx *ctx[MAX_DRIVERS] = {0};
  emu_web *web = NULL;
  int rc = 0;
  for (size_t k = 0; k < pf->n; k++) {
    emu_options o = driver_opts(&base, pf, k, w);
    ctx[k] = emu_driver_load(&o, err, sizeof err);
    if (!ctx[k]) {
      fprintf(stderr, "c4emu: %s: driver '%s': %s\n", base.path, pf->d[k].name, err);
      rc = 2;
      goto out;
    }
    emu_world_add(w, pf->d[k].name, ctx[k]);
  }
  if (web_port >= 0) {
    char url[256];
    web = emu_web_start(ctx[0], web_addr, web_port, url, sizeof url, err, sizeof err);
    if (!web) {
      fprintf(stderr, "c4emu: %s\n", err);
      rc = 2;
      goto out;
    }
    printf("c4emu: web console at %s\n", url);
    fflush(stdout);
  }
  for (size_t k = 0; k < pf->n; k++)
    emu_call_lifecycle(ctx[k], "OnDriverInit", EMU_PHASE_INIT, "DIT_STARTUP");
  for (size_t i = 0; i < pf->nbinds; i++) {
    const struct proj_bind *b = &pf->binds[i];
    if (c4_binding_bind_pair(ctx[b->c], b->cid, ctx[b->p], b->pid, true, err, sizeof err)) {
      fprintf(stderr, "c4emu: %s: bindings[%zu]: %s\n", base.path, i + 1, err);
      rc = 2;
      goto out;
    }
  }
  for (size_t k = 0; k < pf->n; k++) {
    emu_call_lifecycle(ctx[k], "OnDriverLateInit", EMU_PHASE_LATEINIT, "DIT_STARTUP");
    emu_driver_running(ctx[k]);
  }
  proj_run rs = {.log_ctx = ctx[0], .world = w};
  uv_async_init(w->ctx->loop, &rs.wake, on_wake);
  rs.wake.data = &rs;
  emu_signals_install(&rs.wake);
  if (!once && (rs.console = emu_console_open(ctx[0])) != NULL)
    emu_log(ctx[0], EMU_LOG_INFO, "[c4emu] project %s: %zu drivers running; Lua console below "
            "(:driver NAME picks the driver, :help), Ctrl-D or SIGTERM to stop", base.path, pf->n);
  else
    emu_log(ctx[0], EMU_LOG_INFO, "[c4emu] project %s: %zu drivers running; Ctrl-C to stop",
            base.path, pf->n);
  drain(w);
  while (!once && !rs.stopping && !(rs.console && emu_console_ended(rs.console))) {
    uv_run(w->ctx->loop, UV_RUN_DEFAULT);
    /* Virtual clock: the web console's advance stopped the loop; the clock
     * moves here, outside any libuv callback, then the loop serves again. */
    uint64_t ms = emu_web_take_advance(web);
    while (ms != 0 && !rs.stopping && live_driver(w)) {
      emu_clock_advance(live_driver(w), ms);
      emu_web_refresh(web);
      ms = emu_web_take_advance(web);
    }
    drain(w);
  }
  emu_web_stop(web);
  web = NULL;
  bool by_console = rs.console && emu_console_ended(rs.console);
  emu_console_close(rs.console);
  if (by_console) emu_log(ctx[0], EMU_LOG_INFO, "[c4emu] end of console input: shutting the project down");
  /* Signals still stop a runaway OnDriverDestroyed, with no loop to wake. */
  emu_signals_install(NULL);
  uv_close((uv_handle_t *)&rs.wake, NULL);
out:
  emu_web_stop(web);
  for (size_t k = pf->n; k-- > 0;)
    if (ctx[k]) emu_driver_destroy(ctx[k], "DIT_LOADED");
  emu_signals_remove();
  size_t nerr = 0;
  for (size_t k = 0; k < pf->n; k++) nerr += ctx[k] ? ctx[k]->host->nerrors : 0;
  if (rc == 0)
    emu_log(ctx[0], EMU_LOG_INFO, "[c4emu] project stopped; %zu driver error%s", nerr,
            nerr == 1 ? "" : "s");
  for (size_t k = pf->n; k-- > 0;)
    if (ctx[k]) emu_driver_free(ctx[k]);
  emu_world_release(w);
  proj_free(pf);
  return rc;
}

/* One check run of the whole project on os (s4-files): every driver loaded
 * into one world, OnDriverInit("DIT_ADDING") each in name order, the
 * project's bindings, OnDriverLateInit each, EMU_CHECK_VIRTUAL_MS of virtual
 * time for the world (messages, SendUIRequest, network between drivers),
 * then OnDriverDestroyed last loaded first; each driver's findings go to its
 * own report.  -1 (reason printed) when a driver cannot be loaded or a
 * binding cannot be made. */
static int check_world(const emu_options *base, proj_file *pf, c4_osver os, emu_report *reps) {
  char err[1024];
  emu_options b = *base;
  b.os = os;
  emu_world *w = emu_world_new(true, b.has_epoch, b.epoch_ms);
  emu_ctx *ctx[MAX_DRIVERS] = {0};
  int rc = 0;
  uint64_t t0 = uv_hrtime();
  for (size_t k = 0; k < pf->n && rc == 0; k++) {
    emu_options o = driver_opts(&b, pf, k, w);
    ctx[k] = emu_driver_load(&o, err, sizeof err);
    if (!ctx[k]) {
      fprintf(stderr, "c4emu: %s: driver '%s': %s\n", base->path, pf->d[k].name, err);
      rc = -1;
    } else {
      emu_world_add(w, pf->d[k].name, ctx[k]);
    }
  }
  for (size_t k = 0; k < pf->n && rc == 0; k++)
    emu_call_lifecycle(ctx[k], "OnDriverInit", EMU_PHASE_INIT, "DIT_ADDING");
  for (size_t i = 0; i < pf->nbinds && rc == 0; i++) {
    const struct proj_bind *bd = &pf->binds[i];
    if (c4_binding_bind_pair(ctx[bd->c], bd->cid, ctx[bd->p], bd->pid, true, err, sizeof err)) {
      fprintf(stderr, "c4emu: %s: bindings[%zu]: %s\n", base->path, i + 1, err);
      rc = -1;
    }
  }
  bool timed_out = false;
  for (size_t k = 0; k < pf->n && rc == 0; k++) {
    emu_call_lifecycle(ctx[k], "OnDriverLateInit", EMU_PHASE_LATEINIT, "DIT_ADDING");
    emu_driver_running(ctx[k]);
    timed_out |= ctx[k]->host->run_timed_out;
  }
  if (rc == 0 && !timed_out && live_driver(w)) emu_clock_advance(live_driver(w), EMU_CHECK_VIRTUAL_MS);
  for (size_t k = pf->n; k-- > 0;)
    if (ctx[k]) emu_driver_destroy(ctx[k], "DIT_LOADED");
  for (size_t k = 0; k < pf->n && rc == 0; k++)
    emu_report_collect(&reps[k], ctx[k], b.run_timeout_ms, t0);
  for (size_t k = pf->n; k-- > 0;)
    if (ctx[k]) emu_driver_free(ctx[k]);
  emu_world_release(w);
  return rc;
}

/* `c4emu check project.lua`: the project runs as one world per OS version
 * (check_world), so a driver that talks to another hosted driver is checked
 * with that driver really there; the report is per driver, as before. */
int emu_project_check(const emu_options *base, const c4_osver *versions, size_t nv,
                      const char *junit, bool strict) {
  char err[1024];
  proj_file *pf = proj_read(base->path, err, sizeof err);
  if (!pf) {
    fprintf(stderr, "c4emu: %s\n", err);
    return 2;
  }
  emu_report *reps = calloc(pf->n, sizeof *reps);
  if (!reps) abort();
  for (size_t k = 0; k < pf->n; k++) {
    emu_report_init(&reps[k], pf->d[k].path);
    reps[k].strict = strict;
  }
  int rc = 0;
  for (size_t i = 0; i < nv && rc != 2; i++)
    if (check_world(base, pf, versions[i], reps) != 0) rc = 2;
  for (size_t k = 0; k < pf->n && rc != 2; k++) {
    emu_report *rep = &reps[k];
    printf("== %s (%s)\n", pf->d[k].name, pf->d[k].path);
    emu_report_print(rep, stdout);
    if (!emu_report_clean(rep)) rc = 1;
    if (junit) {
      /* one JUnit file per driver: report.xml → report-tv.xml */
      char file[4096];
      size_t n = strlen(junit);
      int stem = n > 4 && strcmp(junit + n - 4, ".xml") == 0 ? (int)n - 4 : (int)n;
      snprintf(file, sizeof file, "%.*s-%s.xml", stem, junit, pf->d[k].name);
      if (emu_report_junit(rep, file) != 0) {
        fprintf(stderr, "c4emu: cannot write %s\n", file);
        rc = 2;
      }
    }
  }
  for (size_t k = 0; k < pf->n; k++) emu_report_free(&reps[k]);
  free(reps);
  proj_free(pf);
  return rc;
}
