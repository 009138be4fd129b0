/*
 * emu_web_msg.c — the web console's messages (protocol in README-web.md):
 * what a new page gets (hello), the log pushed in batches through the host's
 * log sink, properties sent when they change, the State view, and the
 * requests a page makes (set a property, ExecuteCommand, run Lua, advance the
 * virtual clock).  Messages are tables in the console's own lua_State (J),
 * encoded by emu_web_send_top with lua-cjson; the driver's state is only read
 * (Properties) or called the way Composer calls it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_web_int.h"
#include "c4api.h"

static void set_str(lua_State *J, const char *k, const char *v) {
  lua_pushstring(J, v ? v : "");
  lua_setfield(J, -2, k);
}

static void set_num(lua_State *J, const char *k, double v) {
  lua_pushnumber(J, v);
  lua_setfield(J, -2, k);
}

/* ---- the log ------------------------------------------------------------ */

static void push_line(lua_State *J, emu_level lvl, uint64_t clock, const char *text, int i) {
  lua_createtable(J, 3, 0);
  lua_pushstring(J, emu_level_name(lvl));
  lua_rawseti(J, -2, 1);
  lua_pushnumber(J, (double)clock);
  lua_rawseti(J, -2, 2);
  lua_pushstring(J, text);
  lua_rawseti(J, -2, 3);
  lua_rawseti(J, -2, i);
}

void emu_web_flush_log(emu_web *w) {
  if (w->nbatch == 0) return;
  web_line *lines = w->batch;
  size_t n = w->nbatch;
  w->batch = NULL; /* lines logged while sending start a new batch */
  w->nbatch = w->capbatch = 0;
  if (w->clients) {
    lua_createtable(w->J, 0, 2);
    set_str(w->J, "t", "log");
    lua_createtable(w->J, (int)n, 0);
    for (size_t i = 0; i < n; i++) push_line(w->J, lines[i].lvl, lines[i].clock, lines[i].text, (int)i + 1);
    lua_setfield(w->J, -2, "lines");
    emu_web_send_top(w, NULL);
  }
  for (size_t i = 0; i < n; i++) free(lines[i].text);
  free(lines);
}

void emu_web_on_flush(uv_timer_t *t) { emu_web_flush_log(t->data); }

static void capture_add(emu_web *w, const char *line) {
  size_t n = strlen(line);
  if (w->ncapture + n + 2 > WEB_CAPTURE_MAX) return;
  char *p = realloc(w->capture, w->ncapture + n + 2);
  if (!p) return;
  w->capture = p;
  memcpy(p + w->ncapture, line, n);
  w->ncapture += n;
  p[w->ncapture++] = '\n';
  p[w->ncapture] = '\0';
}

/* The host's log sink: every line also goes to the pages, in batches. */
void emu_web_log_sink(emu_ctx *ctx, emu_level lvl, const char *line) {
  emu_web *w = ctx->host->web;
  if (!w) return;
  if (w->capturing) capture_add(w, line);
  if (!w->clients) return;
  if (w->world && ctx != w->ctx) return; /* a project: the Log view is the chosen driver's */
  if (w->nbatch == w->capbatch) {
    size_t ncap = w->capbatch ? w->capbatch * 2 : 64;
    web_line *p = realloc(w->batch, ncap * sizeof *p);
    if (!p) return;
    w->batch = p;
    w->capbatch = ncap;
  }
  char *copy = strdup(line);
  if (!copy) return;
  w->batch[w->nbatch++] = (web_line){lvl, emu_now(ctx), copy};
  if (w->nbatch >= WEB_LOG_BATCH && !w->sending) emu_web_flush_log(w);
  else if (!uv_is_active((uv_handle_t *)&w->flush)) uv_timer_start(&w->flush, emu_web_on_flush, 0, 0);
}

/* ---- properties and state ----------------------------------------------- */

/* Pushes onto J a table of the driver's properties that differ from what the
 * pages were last sent (all of them when `all`), and remembers them. */
static int push_props(emu_web *w, bool all) {
  lua_State *L = w->ctx->L, *J = w->J;
  lua_newtable(J);
  int changed = 0;
  if (!L || w->ctx->phase == EMU_PHASE_DEAD) return 0;
  lua_rawgeti(J, LUA_REGISTRYINDEX, w->props_ref);
  lua_getglobal(L, "Properties");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) == LUA_TSTRING && (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)) {
        size_t kn, vn;
        const char *k = lua_tolstring(L, -2, &kn);
        lua_pushvalue(L, -1); /* tolstring on a copy: a number value stays a number */
        const char *v = lua_tolstring(L, -1, &vn);
        lua_pushlstring(J, k, kn);
        lua_rawget(J, -2);
        size_t on;
        const char *old = lua_tolstring(J, -1, &on);
        bool same = old && on == vn && memcmp(old, v, vn) == 0;
        lua_pop(J, 1);
        if (all || !same) {
          lua_pushlstring(J, k, kn);
          lua_pushlstring(J, v, vn);
          lua_rawset(J, -3);            /* remembered */
          lua_pushlstring(J, k, kn);
          lua_pushlstring(J, v, vn);
          lua_rawset(J, -4);            /* sent */
          changed++;
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  lua_pop(J, 1);
  return changed;
}

/* Pushes onto J {name = true} for the properties SetPropertyAttribs hid,
 * and returns whether that differs from what the pages were last sent. */
static bool push_hidden(emu_web *w) {
  lua_State *J = w->J;
  c4_push_hidden_properties(w->ctx, J);
  /* The names in table order: the same set in the same table gives the same text. */
  char *now = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&now, &len);
  if (!f) return true;
  lua_pushnil(J);
  while (lua_next(J, -2) != 0) {
    lua_pop(J, 1);
    fprintf(f, "%s\n", lua_tostring(J, -1));
  }
  fclose(f);
  bool changed = !w->hidden_sent || strcmp(w->hidden_sent, now) != 0;
  free(w->hidden_sent);
  w->hidden_sent = now;
  return changed;
}

static void push_state(emu_web *w) {
  emu_ctx *ctx = w->ctx;
  lua_State *J = w->J;
  lua_createtable(J, 0, 8);
  set_str(J, "t", "state");
  set_num(J, "now", (double)emu_now(ctx));
  set_num(J, "epoch", (double)emu_epoch_ms(ctx));
  lua_pushboolean(J, ctx->virtual_clock);
  lua_setfield(J, -2, "virtual");
  set_str(J, "phase", emu_phase_name(ctx->phase));
  set_num(J, "errors", (double)ctx->host->nerrors);
  if (ctx->phase != EMU_PHASE_DEAD) {
    emu_state_push_sections(ctx, J);
    lua_setfield(J, -2, "sections");
  }
}

/* Sends changed properties and the State view to every page. */
void emu_web_refresh(emu_web *w) {
  if (!w || !w->clients) return;
  emu_web_flush_log(w);
  int changed = push_props(w, false);
  bool hidden = push_hidden(w);
  if (changed > 0 || hidden) {
    lua_createtable(w->J, 0, 3);
    set_str(w->J, "t", "props");
    lua_insert(w->J, -3);
    lua_setfield(w->J, -3, "hidden"); /* a hidden set is sent whole, values changed only */
    lua_setfield(w->J, -2, "props");
    emu_web_send_top(w, NULL);
  } else {
    lua_pop(w->J, 2);
  }
  push_state(w);
  emu_web_send_top(w, NULL);
}

void emu_web_on_tick(uv_timer_t *t) { emu_web_refresh(t->data); }

void emu_web_send_hello(emu_web *w, web_client *c) {
  emu_ctx *ctx = w->ctx;
  struct emu_host *h = ctx->host;
  lua_State *J = w->J;
  emu_web_flush_log(w); /* lines before this page are in its snapshot below */
  lua_createtable(J, 0, 8);
  set_str(J, "t", "hello");
  set_str(J, "path", h->opt.path);
  set_str(J, "name", emu_config_info(ctx, "name"));
  char os[16];
  set_str(J, "os", c4_osver_format(ctx->os, os, sizeof os));
  set_num(J, "device_id", (double)ctx->device_id);
  lua_pushboolean(J, ctx->virtual_clock);
  lua_setfield(J, -2, "virtual");
  set_str(J, "xml", w->xml);
  if (w->world) { /* s3-project: the page's driver picker */
    lua_createtable(J, (int)w->world->n, 0);
    for (size_t i = 0; i < w->world->n; i++) {
      lua_createtable(J, 0, 3);
      set_str(J, "name", w->world->drivers[i].name);
      set_num(J, "device_id", (double)w->world->drivers[i].ctx->device_id);
      set_str(J, "phase", emu_phase_name(w->world->drivers[i].ctx->phase));
      lua_rawseti(J, -2, (int)i + 1);
    }
    lua_setfield(J, -2, "drivers");
    for (size_t i = 0; i < w->world->n; i++)
      if (w->world->drivers[i].ctx == ctx) set_str(J, "driver", w->world->drivers[i].name);
  }
  push_props(w, true);
  lua_setfield(J, -2, "props");
  c4_push_hidden_properties(ctx, J); /* what the others were sent stays theirs */
  lua_setfield(J, -2, "hidden");
  size_t from = h->nlog > WEB_LOG_HELLO ? h->nlog - WEB_LOG_HELLO : 0;
  lua_createtable(J, (int)(h->nlog - from), 0);
  for (size_t i = from; i < h->nlog; i++)
    push_line(J, h->log[i].level, h->log[i].clock_ms, h->log[i].text, (int)(i - from + 1));
  lua_setfield(J, -2, "log");
  emu_web_send_top(w, c);
  push_state(w);
  emu_web_send_top(w, c);
}

/* ---- requests from a page ----------------------------------------------- */

static const char *field_str(lua_State *J, int t, const char *k) {
  lua_getfield(J, t, k);
  const char *s = lua_type(J, -1) == LUA_TSTRING ? lua_tostring(J, -1) : NULL;
  lua_pop(J, 1); /* the string stays alive: the table holds it */
  return s;
}

/* Starts a result table for request t: {t="result", id=, of=}. */
static void begin_result(emu_web *w, int t, const char *of) {
  lua_State *J = w->J;
  lua_createtable(J, 0, 6);
  set_str(J, "t", "result");
  set_str(J, "of", of);
  lua_getfield(J, t, "id");
  lua_setfield(J, -2, "id");
}

static void begin_capture(emu_web *w) {
  w->capturing = true;
  w->ncapture = 0;
}

static void end_capture(emu_web *w) {
  w->capturing = false;
  lua_pushlstring(w->J, w->capture ? w->capture : "", w->ncapture);
  lua_setfield(w->J, -2, "output");
}

static void fail_result(emu_web *w, web_client *c, int t, const char *of, const char *why) {
  begin_result(w, t, of);
  lua_pushboolean(w->J, 0);
  lua_setfield(w->J, -2, "ok");
  set_str(w->J, "error", why);
  emu_web_send_top(w, c);
}

/* Pushes onto the driver's L a copy of the request's `params` {name: string}
 * (strings, as Composer and a BindMessage carry them; other values dropped). */
static void push_string_params(lua_State *J, int t, lua_State *L) {
  lua_newtable(L);
  lua_getfield(J, t, "params");
  if (lua_istable(J, -1)) {
    lua_pushnil(J);
    while (lua_next(J, -2) != 0) {
      if (lua_type(J, -2) == LUA_TSTRING && (lua_isstring(J, -1) || lua_isboolean(J, -1))) {
        lua_pushstring(L, lua_tostring(J, -2));
        if (lua_isboolean(J, -1)) lua_pushstring(L, lua_toboolean(J, -1) ? "true" : "false");
        else lua_pushstring(L, lua_tostring(J, -1));
        lua_rawset(L, -3);
      }
      lua_pop(J, 1);
    }
  }
  lua_pop(J, 1);
}

/* issue 17: ReceivedFromProxy(binding, command, params) as the proxy bound on
 * that binding calls it (d:from_proxy, the terminal console's :proxy). */
static void do_proxy(emu_web *w, web_client *c, int t) {
  emu_ctx *ctx = w->ctx;
  lua_State *J = w->J;
  lua_getfield(J, t, "binding");
  double binding = lua_isnumber(J, -1) ? lua_tonumber(J, -1) : 0;
  lua_pop(J, 1);
  const char *cmd = field_str(J, t, "command");
  if (!(binding >= 1 && binding < 1000000 && binding == (int)binding))
    return fail_result(w, c, t, "proxy", "proxy needs a binding id (1 to 999999)");
  if (!cmd || !*cmd) return fail_result(w, c, t, "proxy", "proxy needs a command");
  push_string_params(J, t, ctx->L);
  emu_log(ctx, EMU_LOG_INFO, "[c4emu] web console: ReceivedFromProxy(%d, \"%s\")", (int)binding, cmd);
  begin_capture(w);
  size_t before = ctx->host->nerrors;
  int rc = c4_proxy_receive(ctx, (int)binding, cmd);
  begin_result(w, t, "proxy");
  end_capture(w);
  lua_pushboolean(J, rc == 0);
  lua_setfield(J, -2, "ok");
  if (rc == -1) set_str(J, "error", "the driver has no ReceivedFromProxy function");
  else if (rc != 0 && ctx->host->nerrors > before)
    set_str(J, "error", ctx->host->errors[ctx->host->nerrors - 1].message);
  emu_web_send_top(w, c);
}

/* ExecuteCommand(command, params) as Composer calls it; params are strings. */
static void do_command(emu_web *w, web_client *c, int t) {
  emu_ctx *ctx = w->ctx;
  lua_State *L = ctx->L, *J = w->J;
  const char *cmd = field_str(J, t, "command");
  if (!cmd) return fail_result(w, c, t, "command", "no command given");
  if (!emu_push_global_fn(ctx, "ExecuteCommand"))
    return fail_result(w, c, t, "command", "the driver has no ExecuteCommand function");
  lua_pushstring(L, cmd);
  push_string_params(J, t, L);
  emu_log(ctx, EMU_LOG_INFO, "[c4emu] web console: ExecuteCommand(\"%s\")", cmd);
  begin_capture(w);
  size_t before = ctx->host->nerrors;
  int rc = emu_pcall(ctx, 2, 0, "ExecuteCommand");
  begin_result(w, t, "command");
  end_capture(w);
  lua_pushboolean(J, rc == 0);
  lua_setfield(J, -2, "ok");
  if (rc != 0 && ctx->host->nerrors > before)
    set_str(J, "error", ctx->host->errors[ctx->host->nerrors - 1].message);
  emu_web_send_top(w, c);
}

/* issue 17: a variable set as programming sets it (d:set_variable does the
 * same): SetVariable, then the driver's OnVariableChanged. */
static void do_set_variable(emu_web *w, web_client *c, int t) {
  lua_State *J = w->J;
  const char *name = field_str(J, t, "name");
  lua_getfield(J, t, "value");
  const char *value = lua_isstring(J, -1) ? lua_tostring(J, -1) : NULL;
  if (!name || !value) return fail_result(w, c, t, "set_variable", "set_variable needs a name and a value");
  char why[256];
  emu_log(w->ctx, EMU_LOG_INFO, "[c4emu] web console: set variable \"%s\" to \"%s\"", name, value);
  begin_capture(w);
  bool ok = c4_director_set_variable(w->ctx, name, value, why, sizeof why);
  begin_result(w, t, "set_variable");
  end_capture(w);
  lua_pushboolean(J, ok);
  lua_setfield(J, -2, "ok");
  if (!ok) set_str(J, "error", why);
  emu_web_send_top(w, c);
}

static void do_lua(emu_web *w, web_client *c, int t) {
  lua_State *J = w->J;
  lua_getfield(J, t, "code");
  if (lua_type(J, -1) != LUA_TSTRING) {
    lua_pop(J, 1);
    return fail_result(w, c, t, "lua", "no code given");
  }
  size_t n;
  const char *code = lua_tolstring(J, -1, &n);
  begin_capture(w);
  emu_web_run_lua(w->ctx, code, n, J); /* pushes {ok, values | error} */
  lua_remove(J, -2);
  begin_result(w, t, "lua");
  end_capture(w);
  lua_pushnil(J);
  while (lua_next(J, -3) != 0) { /* copy ok/values/error/count into the result */
    lua_pushvalue(J, -2);
    lua_insert(J, -2);
    lua_rawset(J, -4);
  }
  lua_remove(J, -2);
  emu_web_send_top(w, c);
}

/* s3-project: {t="driver", name=} — every view now shows driver `name` of
 * the project; each page gets that driver's hello (the choice is the
 * console's, so all pages follow it). */
static void do_driver(emu_web *w, web_client *c, int t) {
  lua_State *J = w->J;
  const char *name = field_str(J, t, "name");
  emu_ctx *to = NULL;
  for (size_t i = 0; w->world && name && i < w->world->n; i++)
    if (strcmp(w->world->drivers[i].name, name) == 0) to = w->world->drivers[i].ctx;
  if (!w->world) return fail_result(w, c, t, "driver", "this run has one driver (not a project file)");
  if (!to) return fail_result(w, c, t, "driver", "no such driver in the project");
  emu_web_flush_log(w); /* the other driver's lines go out before the switch */
  w->ctx = to;
  free(w->xml);
  w->xml = emu_web_read_xml(to);
  luaL_unref(J, LUA_REGISTRYINDEX, w->props_ref); /* what the pages were sent was the other's */
  lua_newtable(J);
  w->props_ref = luaL_ref(J, LUA_REGISTRYINDEX);
  free(w->hidden_sent);
  w->hidden_sent = NULL;
  begin_result(w, t, "driver");
  lua_pushboolean(J, 1);
  lua_setfield(J, -2, "ok");
  emu_web_send_top(w, c);
  emu_web_send_hello(w, NULL);
}

void emu_web_handle_message(emu_web *w, web_client *c, const char *s, size_t n) {
  emu_ctx *ctx = w->ctx;
  lua_State *J = w->J;
  int top = lua_gettop(J);
  lua_rawgeti(J, LUA_REGISTRYINDEX, w->cjson_ref);
  lua_getfield(J, -1, "decode");
  lua_remove(J, -2);
  lua_pushlstring(J, s, n);
  if (lua_pcall(J, 1, 1, 0) != 0 || !lua_istable(J, -1)) {
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] web console: a message that is not a JSON object ignored");
    lua_settop(J, top);
    return;
  }
  int t = lua_gettop(J);
  const char *type = field_str(J, t, "t");
  if (type && strcmp(type, "driver") == 0) {
    do_driver(w, c, t);
  } else if (ctx->phase == EMU_PHASE_DEAD || !ctx->L) {
    fail_result(w, c, t, type ? type : "?", "the driver is not running");
  } else if (type && strcmp(type, "set_property") == 0) {
    const char *name = field_str(J, t, "name");
    lua_getfield(J, t, "value");
    const char *value = lua_isstring(J, -1) ? lua_tostring(J, -1) : NULL;
    if (!name || !value) {
      fail_result(w, c, t, type, "set_property needs a name and a value");
    } else {
      begin_capture(w);
      emu_set_property(ctx, name, value);
      begin_result(w, t, type);
      end_capture(w);
      lua_pushboolean(J, 1);
      lua_setfield(J, -2, "ok");
      emu_web_send_top(w, c);
    }
  } else if (type && strcmp(type, "set_variable") == 0) {
    do_set_variable(w, c, t);
  } else if (type && strcmp(type, "proxy") == 0) {
    do_proxy(w, c, t);
  } else if (type && strcmp(type, "command") == 0) {
    do_command(w, c, t);
  } else if (type && strcmp(type, "lua") == 0) {
    do_lua(w, c, t);
  } else if (type && strcmp(type, "advance") == 0) {
    lua_getfield(J, t, "ms");
    double ms = lua_tonumber(J, -1);
    if (!ctx->virtual_clock) {
      fail_result(w, c, t, type, "the clock is real time; start c4emu run with --virtual");
    } else if (!(ms >= 1 && ms <= 7 * 86400e3)) {
      fail_result(w, c, t, type, "advance wants 1 ms to 7 days");
    } else {
      /* The CLI's loop advances once this callback has returned. */
      w->advance_ms += (uint64_t)ms;
      uv_stop(ctx->loop);
      begin_result(w, t, type);
      lua_pushboolean(J, 1);
      lua_setfield(J, -2, "ok");
      emu_web_send_top(w, c);
    }
  } else if (type && strcmp(type, "state") == 0) {
    /* nothing more: the refresh below answers */
  } else {
    fail_result(w, c, t, type ? type : "?", "unknown request");
  }
  lua_settop(J, top);
  emu_web_refresh(w);
}
