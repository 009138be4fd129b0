/*
 * emu_driver.c — one hosted driver from load to free: the package, the Lua
 * world, Properties, the chunk, the lifecycle calls, and the orderly
 * shutdown (OnDriverDestroyed, then each API family's shutdown hook, then the
 * loop drained until every libuv handle is closed).
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "emu_host.h"
#include "c4api.h"
#include "net/c4_limits.h"

/* The driver's globals the host itself calls (the spec module calls
 * ExecuteCommand for d:command and d:action); `c4emu apis` lists them. */
const char *const emu_host_callbacks[] = {
    "OnDriverInit",
    "OnDriverLateInit",
    "OnDriverDestroyed",
    "OnPropertyChanged",
    "ExecuteCommand",
    /* s3-apis-a */
    "OnDriverRemovedFromProject",
    NULL,
};

static const char *phase_names[] = {"none", "load", "OnDriverInit", "OnDriverLateInit",
                                    "running", "OnDriverDestroyed", "dead"};

void emu_track(emu_ctx *ctx, const char *kind, int delta) {
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nhandle_kinds; i++) {
    if (strcmp(h->handles[i].kind, kind) == 0) {
      h->handles[i].count += delta;
      return;
    }
  }
  if (h->nhandle_kinds == sizeof h->handles / sizeof h->handles[0]) return;
  emu_handle_count *c = &h->handles[h->nhandle_kinds++];
  snprintf(c->kind, sizeof c->kind, "%s", kind);
  c->count = delta;
}

long emu_handles_open(emu_ctx *ctx) {
  long sum = 0;
  for (size_t i = 0; i < ctx->host->nhandle_kinds; i++) sum += ctx->host->handles[i].count;
  return sum;
}

void emu_on_shutdown(emu_ctx *ctx, emu_shutdown_fn fn, void *data) {
  struct emu_host *h = ctx->host;
  if (h->nhooks == h->caphooks) {
    size_t ncap = h->caphooks ? h->caphooks * 2 : 8;
    emu_hook *p = realloc(h->hooks, ncap * sizeof *p);
    if (!p) abort();
    h->hooks = p;
    h->caphooks = ncap;
  }
  h->hooks[h->nhooks++] = (emu_hook){fn, data};
}

void emu_io_activity(emu_ctx *ctx) { ctx->host->io_events++; }

static const char *find_tag(const emu_tagtext *v, size_t n, const char *tag) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i].tag, tag) == 0) return v[i].text;
  return NULL;
}

const char *emu_config_info(emu_ctx *ctx, const char *tag) {
  return find_tag(ctx->host->pkg.xml.config, ctx->host->pkg.xml.nconfig, tag);
}

const char *emu_capability(emu_ctx *ctx, const char *name) {
  return find_tag(ctx->host->pkg.xml.caps, ctx->host->pkg.xml.ncaps, name);
}

/* issue 12 */
const emu_connection *emu_connections(emu_ctx *ctx, size_t *n) {
  *n = ctx->host->pkg.xml.nconnections;
  return ctx->host->pkg.xml.connections;
}

const char *emu_serial_settings(emu_ctx *ctx) { return ctx->host->pkg.xml.serialsettings; }

/* Properties: driver.xml defaults, then the --prop overrides. */
static void fill_properties(emu_ctx *ctx) {
  lua_State *L = ctx->L;
  const emu_driver_xml *x = &ctx->host->pkg.xml;
  lua_newtable(L);
  for (size_t i = 0; i < x->nprops; i++) {
    lua_pushstring(L, x->props[i].deflt ? x->props[i].deflt : "");
    lua_setfield(L, -2, x->props[i].name);
  }
  for (size_t i = 0; i < ctx->host->opt.nprops; i++) {
    const emu_kv *kv = &ctx->host->opt.props[i];
    lua_getfield(L, -1, kv->name);
    if (lua_isnil(L, -1))
      emu_log(ctx, EMU_LOG_WARN, "[c4emu] --prop %s: driver.xml has no such property; set anyway",
              kv->name);
    lua_pop(L, 1);
    lua_pushstring(L, kv->value);
    lua_setfield(L, -2, kv->name);
  }
  lua_setglobal(L, "Properties");
  lua_newtable(L);
  lua_setglobal(L, "PersistData");
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (cap - n < 65536) {
      char *p = realloc(buf, cap = cap * 2 + 65536);
      if (!p) { free(buf); fclose(f); return NULL; }
      buf = p;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  fclose(f);
  *len = n;
  return buf;
}

/* The script text inside <script>, after as many newlines as it starts
 * lines into driver.xml, so that error line numbers are driver.xml's. */
static char *inline_source(const emu_driver_xml *x, size_t *len) {
  size_t pad = x->script_line > 1 ? x->script_line - 1 : 0;
  char *src = malloc(pad + x->script_len + 1);
  if (!src) return NULL;
  memset(src, '\n', pad);
  memcpy(src + pad, x->script_text, x->script_len);
  *len = pad + x->script_len;
  return src;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  remove(path);
  return 0;
}

/* issue 12 */
static void free_net(struct emu_host *h) {
  for (size_t i = 0; i < h->nown_net; i++) {
    free(h->own_net[i].name);
    free(h->own_net[i].value);
  }
  free(h->own_net);
  h->own_net = NULL;
  h->nown_net = 0;
}

const char *emu_binding_address_preset(emu_ctx *ctx, int id) {
  struct emu_host *h = ctx->host;
  for (size_t i = h->nown_net; i-- > 0;)   /* the last one given wins */
    if (h->own_net[i].name && atoi(h->own_net[i].name) == id) return h->own_net[i].value;
  return NULL;
}

void emu_on_running(emu_ctx *ctx, emu_shutdown_fn fn, void *data) {
  struct emu_host *h = ctx->host;
  if (h->nrun_hooks == h->caprun_hooks) {
    size_t ncap = h->caprun_hooks ? h->caprun_hooks * 2 : 4;
    emu_hook *n = realloc(h->run_hooks, ncap * sizeof *n);
    if (!n) abort(); /* a few bytes: not recoverable */
    h->run_hooks = n;
    h->caprun_hooks = ncap;
  }
  h->run_hooks[h->nrun_hooks++] = (emu_hook){fn, data};
}

emu_ctx *emu_driver_load(const emu_options *opt, char *err, size_t errsz) {
  emu_ctx *ctx = calloc(1, sizeof *ctx);
  struct emu_host *h = calloc(1, sizeof *h);
  if (!ctx || !h) {
    free(ctx);
    free(h);
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  ctx->host = h;
  h->opt = *opt;
  /* The caller's strings (Lua strings of c4emu.load, argv) need not outlive
   * the call: the host keeps its own copies. */
  h->own_path = strdup(opt->path ? opt->path : "");
  h->own_bind = opt->bind_addr ? strdup(opt->bind_addr) : NULL;
  h->opt.path = h->own_path;
  h->opt.bind_addr = h->own_bind;
  /* issue 12: the network binding addresses */
  if (opt->nnet) h->own_net = calloc(opt->nnet, sizeof *h->own_net);
  for (size_t i = 0; h->own_net && i < opt->nnet; i++) {
    h->own_net[i].name = strdup(opt->net[i].name ? opt->net[i].name : "");
    h->own_net[i].value = strdup(opt->net[i].value ? opt->net[i].value : "");
    h->nown_net++;
  }
  h->opt.net = h->own_net;
  h->opt.nnet = h->nown_net;
  ctx->os = opt->os ? opt->os : c4_osver_newest();
  ctx->init_rule = opt->init_rule;
  ctx->virtual_clock = opt->virtual_clock;
  ctx->deny_net = opt->deny_net;
  ctx->bind_addr = h->own_bind ? h->own_bind : "0.0.0.0";
  /* 0: the director's fixed default (c4api/director/c4_project.c). */
  ctx->device_id = opt->project.self.id ? opt->project.self.id : opt->device_id;
  ctx->pkg_path = h->opt.path;
  ctx->project_decl = &h->opt.project;

  if (emu_package_open(opt->path, &h->pkg, err, errsz) != 0) {
    free(h->own_path);
    free(h->own_bind);
    free_net(h);
    free(h);
    free(ctx);
    return NULL;
  }
  ctx->pkg_dir = h->pkg.root;
  char why[512];
  h->sandbox = emu_tmp_make("sandbox", why, sizeof why);
  if (!h->sandbox) emu_log(ctx, EMU_LOG_WARN, "[c4emu] no sandbox folder: %s", why);
  ctx->sandbox_dir = h->sandbox;

  struct timeval tv;
  gettimeofday(&tv, NULL);
  h->epoch0_ms = opt->has_epoch ? opt->epoch_ms : (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
  if (opt->run_timeout_ms > 0)
    h->run_deadline_ns = uv_hrtime() + (uint64_t)opt->run_timeout_ms * 1000000u;
  if (opt->world) {
    /* issue 11: one loop and one clock for every driver of the project */
    h->world = opt->world;
    h->own_name = opt->name ? malloc(strlen(opt->name) + 3) : NULL;
    if (h->own_name) sprintf(h->own_name, "[%s]", opt->name);
    ctx->loop = opt->world->ctx->loop;
    h->clock = opt->world->ctx->host->clock;
    h->epoch0_ms = opt->world->ctx->host->epoch0_ms;
    ctx->virtual_clock = opt->world->ctx->virtual_clock;
  } else {
    uv_loop_init(&h->loop);
    ctx->loop = &h->loop;
    h->clock = emu_clock_new(ctx, opt->virtual_clock);
  }

  lua_State *L = emu_lua_new(ctx);
  if (!L) {
    snprintf(err, errsz, "cannot create a Lua state: out of memory");
    emu_driver_free(ctx);
    return NULL;
  }
  c4_open(L, ctx);
  ctx->project_decl = NULL; /* the declaration's strings belong to the caller */
  fill_properties(ctx);
  h->opt.props = NULL; /* the caller's; read once, just now */
  h->opt.nprops = 0;
  if (opt->coverage) h->coverage = emu_coverage_new(ctx);
  emu_guard_install(ctx);

  size_t len;
  char *src = h->pkg.inline_script ? inline_source(&h->pkg.xml, &len) : NULL;
  if (!h->pkg.inline_script) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", h->pkg.root, h->pkg.xml.script);
    src = read_file(path, &len);
  }
  const char *shown = h->pkg.chunkname + 1;   /* without the '@' */
  if (!src) {
    snprintf(err, errsz, "cannot read %s: %s", shown, strerror(errno));
    emu_driver_free(ctx);
    return NULL;
  }
  if (emu_is_bytecode(src, len)) {
    free(src);
    snprintf(err, errsz, "%s is precompiled Lua (bytecode): c4emu refuses it, since hostile "
             "bytecode can crash Lua 5.1 and drivers ship source; use the .lua source", shown);
    emu_driver_free(ctx);
    return NULL;
  }
  int st = luaL_loadbuffer(L, src, len, h->pkg.chunkname);
  free(src);
  if (st != 0) {
    snprintf(err, errsz, "%s does not compile: %s", shown, lua_tostring(L, -1));
    emu_driver_free(ctx);
    return NULL;
  }
  /* Package warnings (encryption attribute on plain text, jit="1"): logged,
   * and in d:notes() and the check's report as warnings. */
  for (const char *w = h->pkg.warnings; w && *w;) {
    size_t n = strcspn(w, "\n");
    emu_note(ctx, EMU_NOTE_PACKAGE, "%.*s", (int)n, w);
    w += n + (w[n] == '\n');
  }
  emu_log(ctx, EMU_LOG_INFO, "[c4emu] loading %s (%s) on OS %s", opt->path, shown,
          c4_osver_format(ctx->os, (char[16]){0}, 16));
  ctx->phase = EMU_PHASE_LOAD;
  emu_pcall(ctx, 0, 0, "driver chunk");
  ctx->phase = EMU_PHASE_NONE;
  return ctx;
}

void emu_call_lifecycle(emu_ctx *ctx, const char *fn, emu_phase phase, const char *dit) {
  ctx->phase = phase;
  if (!emu_push_global_fn(ctx, fn)) {
    emu_log(ctx, EMU_LOG_DEBUG, "[c4emu] %s: not defined by the driver", fn);
    return;
  }
  bool with_dit = c4_has(ctx, C4F_LIFECYCLE_DIT);
  emu_log(ctx, EMU_LOG_INFO, "[c4emu] %s(%s)", fn, with_dit ? dit : "");
  if (with_dit) lua_pushstring(ctx->L, dit);
  emu_pcall(ctx, with_dit ? 1 : 0, 0, fn);
}

void emu_driver_running(emu_ctx *ctx) {
  ctx->phase = EMU_PHASE_RUNNING;
  /* issue 12: what the controller starts once the driver is up; each hook
   * runs once (a hook may add none: they are taken off first) */
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nrun_hooks; i++) h->run_hooks[i].fn(ctx, h->run_hooks[i].data);
  h->nrun_hooks = 0;
}

void emu_driver_init(emu_ctx *ctx, const char *dit) {
  emu_call_lifecycle(ctx, "OnDriverInit", EMU_PHASE_INIT, dit);
  emu_call_lifecycle(ctx, "OnDriverLateInit", EMU_PHASE_LATEINIT, dit);
  emu_driver_running(ctx);
}

static void close_leftover(uv_handle_t *hd, void *arg) {
  emu_ctx *ctx = arg;
  if (uv_is_closing(hd)) return;
  emu_log(ctx, EMU_LOG_WARN, "[c4emu] closing a %s handle left open at shutdown",
          uv_handle_type_name(uv_handle_get_type(hd)));
  uv_close(hd, NULL);
}

void emu_driver_destroy(emu_ctx *ctx, const char *dit) {
  struct emu_host *h = ctx->host;
  if (ctx->phase == EMU_PHASE_DEAD) return;
  if (ctx->L) emu_call_lifecycle(ctx, "OnDriverDestroyed", EMU_PHASE_DESTROYING, dit);
  ctx->phase = EMU_PHASE_DEAD;
  while (h->nhooks > 0) {
    emu_hook hk = h->hooks[--h->nhooks];
    hk.fn(ctx, hk.data);
  }
  if (h->world) {
    /* issue 11: the loop and the clock are the world's and the others' */
    emu_clock_drop_ctx(ctx);
    uv_run(ctx->loop, UV_RUN_NOWAIT); /* run close callbacks */
    return;
  }
  emu_clock_free(h->clock);
  emu_gc_check_close(ctx);
  uv_run(&h->loop, UV_RUN_NOWAIT); /* run close callbacks */
  uv_walk(&h->loop, close_leftover, ctx);
  while (uv_run(&h->loop, UV_RUN_NOWAIT) != 0) {
  }
}

/*
 * s4-fixes: what OnDriverRemovedFromProject wrote (its "final commands to a
 * device") reaches the peers before the sockets close.  On a controller the
 * kernel delivers what the driver wrote even as Director drops the driver;
 * here the peers (d:device, spec clients, other drivers) live on this loop,
 * so the loop is served until the process is quiet, no longer than the
 * close deadline of the driver's connections (c4_limits.h: what c4_conn's
 * close with flush gives a peer, d:set_close_deadline).  Past it, what is
 * still queued is dropped, with a warning.  Not from inside a settle or
 * advance (a notifier calling d:remove): the loop is not nested there, and
 * the sockets close at once as before.
 */
static void flush_last_words(emu_ctx *ctx) {
  if (ctx->phase == EMU_PHASE_DEAD || ctx->host->settling > 0) return;
  c4_net_limits *lim = ctx->L ? c4_net_limits_of(ctx) : NULL;
  unsigned ms = lim ? (unsigned)lim->close_ms : C4_DEFAULT_CLOSE_MS;
  char why[160];
  if (emu_settle(ctx, ms, why, sizeof why) != 0)
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] removed from the project: still not quiet after %u ms "
            "(%s); the driver's connections close now", ms, why);
}

/* The page: "Called whenever a driver is removed or deleted from a project
 * ... to send any final commands to a device prior to being removed" — so
 * it runs first, in the running phase, and OnDriverDestroyed("DIT_LOADED")
 * ("when the driver is being removed") follows. */
void emu_driver_remove(emu_ctx *ctx) {
  if (ctx->phase == EMU_PHASE_DEAD) return;
  if (ctx->L && c4_has(ctx, C4F_REMOVED_FROM_PROJECT)) {
    if (emu_push_global_fn(ctx, "OnDriverRemovedFromProject")) {
      emu_log(ctx, EMU_LOG_INFO, "[c4emu] OnDriverRemovedFromProject()");
      emu_pcall(ctx, 0, 0, "OnDriverRemovedFromProject");
    } else {
      emu_log(ctx, EMU_LOG_DEBUG, "[c4emu] OnDriverRemovedFromProject: not defined by the driver");
    }
  }
  flush_last_words(ctx);
  emu_driver_destroy(ctx, "DIT_LOADED");
}

void emu_driver_free(emu_ctx *ctx) {
  if (!ctx) return;
  struct emu_host *h = ctx->host;
  if (ctx->phase != EMU_PHASE_DEAD) emu_driver_destroy(ctx, "DIT_LOADED");
  if (ctx->L) lua_close(ctx->L); /* __gc of closed objects touches nothing native */
  ctx->L = NULL;
  c4_project_free(ctx);
  emu_coverage_finish(ctx);
  if (h->world) {
    emu_world_remove(h->world, ctx);
  } else {
    if (uv_loop_close(&h->loop) != 0)
      emu_log(ctx, EMU_LOG_WARN, "[c4emu] the event loop still had handles at free");
    free(h->clock);
  }
  free(h->own_name);
  if (h->sandbox) {
    nftw(h->sandbox, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(h->sandbox);
  }
  emu_package_free(&h->pkg);
  emu_log_free(ctx);
  free(h->own_path);
  free(h->own_bind);
  emu_state_free(ctx);
  free_net(h);
  free(h->run_hooks);
  free(h->hooks);
  free(h->probes);
  free(h->parked);
  free(h);
  free(ctx);
}

void emu_set_property(emu_ctx *ctx, const char *name, const char *value) {
  lua_State *L = ctx->L;
  lua_getglobal(L, "Properties");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "Properties");
  }
  lua_pushstring(L, value);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
  /* Before the driver starts (d:init() not yet called) nobody can edit a
   * property on a controller: the value is only the initial one, as
   * c4emu.load's properties= gives it, and no OnPropertyChanged runs
   * (s4-fixes; emulator/README-specs.md). */
  if (ctx->phase == EMU_PHASE_NONE || ctx->phase == EMU_PHASE_LOAD) return;
  if (emu_push_global_fn(ctx, "OnPropertyChanged")) {
    lua_pushstring(L, name);
    emu_pcall(ctx, 1, 0, "OnPropertyChanged");
  }
}

const char *emu_phase_name(emu_phase p) { return phase_names[p]; }
