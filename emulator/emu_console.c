/*
 * emu_console.c — the Lua console of `c4emu run`, like Composer's Lua tab:
 * GNU readline driven from the libuv loop (readline's callback interface on
 * a uv_poll of stdin), so timers and sockets keep being served while a line
 * is typed.
 *
 *   - history in ~/.c4emu_history, readline's line editing;
 *   - multi-line input as lua.c does it: a chunk whose error ends in <eof>
 *     wants more, the prompt becomes ">> ";
 *   - "=expr" and bare expressions print their values, pretty-printed
 *     (emu_pretty.c) on stdout, apart from the log (stderr), so -q keeps them;
 *   - bytecode is refused (a chunk starting with ESC), garbage fails to compile;
 *   - log lines arriving while a line is typed are printed above the prompt,
 *     which is then redrawn with what was typed;
 *   - Ctrl-D ends the run (the caller destroys the driver: OnDriverDestroyed
 *     first); Ctrl-C discards what is typed (emu_console_sigint);
 *   - `:` commands for what Composer's driver views show: :props, :prop,
 *     :cmd, :action, :proxy, :condition, :timers, :servers, :help.
 *   - a project run (several drivers on one loop, emu_world.c): the input
 *     runs in the chosen driver, named in the prompt ("keypad lua> ");
 *     `:driver NAME` chooses another, `:driver` lists them; the commands
 *     act on the chosen one.
 *
 * Lines run through the guarded protected call (watchdog), so
 * `while true do end` is stopped and the prompt comes back.  A mistake typed
 * at the console is the user's, not the driver's: it is printed, not counted
 * among the driver's errors; :cmd and :action run the driver's
 * ExecuteCommand, whose errors are the driver's.
 *
 * Readline keeps global state, so there is one console per process.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/readline.h>
#include <readline/history.h>

#include "emu_host.h"
#include "server/c4_server.h"

#define PROMPT "lua> "
#define PROMPT_MORE ">> "
#define HISTORY_KEEP 1000

struct emu_console {
  emu_ctx *ctx;         /* the driver the input runs in */
  emu_world *world;     /* a project run: the drivers to choose from; NULL: one driver */
  char prompt[96], prompt_more[96];
  uv_poll_t poll;
  uv_signal_t winch;
  char *chunk;          /* lines typed so far of an incomplete chunk */
  size_t nchunk;
  bool running;         /* a line is being run: no prompt to keep */
  bool ended;           /* Ctrl-D or end of input */
  int open_handles;     /* poll and winch, until their close callbacks ran */
  char history[4096];   /* "" when $HOME is unknown */
};

static emu_console *the_console; /* readline's callbacks carry no user data */


/* ---- output ------------------------------------------------------------ */

static void print_error(const char *msg) {
  fflush(stdout);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

/* The log's hide/show pair: the typed line goes away while a log line is
 * printed, then readline draws the prompt and the line again below it. */
static void log_hide(void *ud) {
  emu_console *c = ud;
  if (c->running || c->ended) return;
  rl_clear_visible_line();
  fflush(rl_outstream);
}

static void log_show(void *ud) {
  emu_console *c = ud;
  if (c->running || c->ended) return;
  rl_forced_update_display();
}

/* ---- running Lua ------------------------------------------------------- */

/* Whether a compile error means "the chunk is not finished" (lua.c's test). */
static bool incomplete(lua_State *L) {
  size_t n;
  const char *msg = lua_tolstring(L, -1, &n);
  static const char eof[] = "'<eof>'";
  return msg && n >= sizeof eof - 1 && strcmp(msg + n - (sizeof eof - 1), eof) == 0;
}

/* Prints the values above base on stdout, pretty-printed. */
static void print_results(emu_ctx *ctx, int base) {
  lua_State *L = ctx->L;
  int n = lua_gettop(L) - base;
  if (n <= 0) return;
  lua_pushcfunction(L, emu_pretty);
  lua_insert(L, base + 1);
  if (emu_pcall_keep(L, n, 1, "console print") != 0) {
    print_error(lua_tostring(L, -1));
    return;
  }
  fputs(lua_tostring(L, -1), stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

/* Compiles and runs src.  Returns 1 when it is an unfinished chunk. */
static int run_chunk(emu_ctx *ctx, const char *src, size_t len) {
  lua_State *L = ctx->L;
  int top = lua_gettop(L);
  if (len > 0 && src[0] == LUA_SIGNATURE[0]) {
    print_error("console: precompiled chunks (bytecode) are not accepted; type Lua source");
    return 0;
  }
  if (len > 0 && src[0] == '=') { /* "=expr", as lua.c */
    src++;
    len--;
  }
  /* An expression first, so bare expressions print their value. */
  lua_pushliteral(L, "return ");
  lua_pushlstring(L, src, len);
  lua_concat(L, 2);
  if (luaL_loadbuffer(L, lua_tostring(L, -1), lua_objlen(L, -1), "=console") == 0) {
    lua_remove(L, -2);
  } else {
    lua_settop(L, top);
    if (luaL_loadbuffer(L, src, len, "=console") != 0) {
      if (incomplete(L)) {
        lua_settop(L, top);
        return 1;
      }
      print_error(lua_tostring(L, -1));
      lua_settop(L, top);
      return 0;
    }
  }
  if (emu_pcall_keep(L, 0, LUA_MULTRET, "console line") != 0) print_error(lua_tostring(L, -1));
  else print_results(ctx, top);
  lua_settop(L, top);
  return 0;
}

/* ---- : commands -------------------------------------------------------- */

static void cmd_help(void) {
  fputs(":props                 the driver's Properties\n"
        ":prop NAME VALUE       set a property as a user edit (OnPropertyChanged)\n"
        ":cmd NAME [k=v ...]    ExecuteCommand(NAME, {k = v, ...})\n"
        ":action NAME           ExecuteCommand(\"LUA_ACTION\", {ACTION = NAME})\n"
        ":proxy ID CMD [k=v ...] ReceivedFromProxy(ID, CMD, {k = v, ...})\n"
        ":condition NAME [k=v ...] TestCondition(NAME, {k = v, ...}) as programming asks it\n"
        ":timers                the driver's armed timers\n"
        ":servers               the driver's servers (CreateServer, CreateTLSServer)\n"
        ":driver [NAME]         a project: run what follows in driver NAME (no NAME: list them)\n"
        ":help                  this list\n"
        "Lua: a statement, an expression or =expr; an unfinished chunk continues on the\n"
        "next line. Ctrl-C discards the line or stops running code; Ctrl-D ends the run.\n",
        stdout);
}

static void cmd_props(emu_ctx *ctx) {
  lua_State *L = ctx->L;
  int top = lua_gettop(L);
  lua_getglobal(L, "Properties");
  if (!lua_istable(L, -1)) {
    fputs("(no Properties table)\n", stdout);
  } else {
    lua_pushcfunction(L, emu_pretty);
    lua_insert(L, -2);
    if (emu_pcall_keep(L, 1, 1, "console print") == 0) puts(lua_tostring(L, -1));
    else print_error(lua_tostring(L, -1));
  }
  lua_settop(L, top);
}

/* ExecuteCommand(name, params) with the table of params on top. */
static void call_execute(emu_ctx *ctx, const char *name) {
  lua_State *L = ctx->L;
  int top = lua_gettop(L) - 1;
  if (!emu_push_global_fn(ctx, "ExecuteCommand")) {
    print_error("console: the driver has no ExecuteCommand function");
    lua_settop(L, top);
    return;
  }
  lua_insert(L, -2);
  lua_pushstring(L, name);
  lua_insert(L, -2);
  if (emu_pcall(ctx, 2, LUA_MULTRET, "ExecuteCommand") == 0) print_results(ctx, top);
  else print_error("console: ExecuteCommand raised (see the log)");
  lua_settop(L, top);
}

/* Pushes a table of the k=v words left in strtok_r's `save`; false (nothing
 * pushed) after saying which word is not k=v. */
static bool push_params(lua_State *L, char **save, const char *cmd) {
  lua_newtable(L);
  for (char *kv = strtok_r(NULL, " \t", save); kv; kv = strtok_r(NULL, " \t", save)) {
    char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
      lua_pop(L, 1);
      fprintf(stderr, "console: :%s parameters are k=v, not '%s'\n", cmd, kv);
      return false;
    }
    lua_pushlstring(L, kv, (size_t)(eq - kv));
    lua_pushstring(L, eq + 1);
    lua_rawset(L, -3);
  }
  return true;
}

static void cmd_cmd(emu_ctx *ctx, char *args) {
  char *save = NULL, *name = strtok_r(args, " \t", &save);
  if (!name) {
    print_error("console: :cmd NAME [k=v ...]");
    return;
  }
  if (push_params(ctx->L, &save, "cmd")) call_execute(ctx, name);
}

/* issue 11: ":proxy 5001 ON [k=v ...]" — ReceivedFromProxy as the proxy bound
 * there would call it (values are strings, as in a BindMessage); the web
 * console's proxy form goes the same way (c4_proxy_receive). */
static void cmd_proxy(emu_ctx *ctx, char *args) {
  char *save = NULL, *id = strtok_r(args, " \t", &save), *cmd = strtok_r(NULL, " \t", &save);
  char *end = NULL;
  long binding = id ? strtol(id, &end, 10) : 0;
  if (!cmd || binding <= 0 || binding >= 1000000 || *end) {
    print_error("console: :proxy BINDING COMMAND [k=v ...]");
    return;
  }
  lua_State *L = ctx->L;
  int top = lua_gettop(L);
  if (!push_params(L, &save, "proxy")) {
    lua_settop(L, top);
    return;
  }
  int rc = c4_proxy_receive(ctx, (int)binding, cmd);
  if (rc == -1) print_error("console: the driver has no ReceivedFromProxy function");
  else if (rc != 0) print_error("console: ReceivedFromProxy raised (see the log)");
  lua_settop(L, top);
}

/* s3-apis-a: ":condition NAME [VALUE=.. LOGIC=..]" — TestCondition as
 * programming evaluates one of the driver's conditionals; prints the answer. */
static void cmd_condition(emu_ctx *ctx, char *args) {
  char *save = NULL, *name = strtok_r(args, " \t", &save);
  if (!name) {
    print_error("console: :condition NAME [k=v ...]");
    return;
  }
  lua_State *L = ctx->L;
  int top = lua_gettop(L);
  if (!push_params(L, &save, "condition")) {
    lua_settop(L, top);
    return;
  }
  bool result = false;
  int rc = c4_test_condition(ctx, name, &result);
  if (rc == -1) print_error("console: the driver has no TestCondition function");
  else if (rc != 0) print_error("console: TestCondition raised (see the log)");
  else printf("%s\n", result ? "true" : "false");
  lua_settop(L, top);
}

static void cmd_action(emu_ctx *ctx, char *args) {
  char *save = NULL, *name = strtok_r(args, " \t", &save);
  if (!name) {
    print_error("console: :action NAME");
    return;
  }
  lua_newtable(ctx->L);
  lua_pushstring(ctx->L, name);
  lua_setfield(ctx->L, -2, "ACTION");
  call_execute(ctx, "LUA_ACTION");
}

static void print_timer(emu_sched *s, void *ud) {
  emu_ctx *ctx = ud;
  if (!emu_sched_kind(s)) return;
  uint64_t due = emu_sched_due(s), now = emu_now(ctx);
  printf("  %-9s due in %6llu ms  %s%llu ms\n", emu_sched_kind(s),
         (unsigned long long)(due > now ? due - now : 0),
         emu_sched_period(s) ? "every " : "once, ",
         (unsigned long long)(emu_sched_period(s) ? emu_sched_period(s) : due));
}

static void print_server(const c4_server_info *s, void *ud) {
  (void)ud;
  printf("  %-4s port %-5d %d client%s%s%s\n", s->protocol, s->port, s->clients,
         s->clients == 1 ? "" : "s", s->identifier ? "  id " : "",
         s->identifier ? s->identifier : "");
}

/* The prompts: "lua> " for one driver, "NAME lua> " in a project run. */
static void set_prompts(emu_console *c) {
  const char *name = NULL;
  for (size_t i = 0; c->world && i < c->world->n; i++)
    if (c->world->drivers[i].ctx == c->ctx) name = c->world->drivers[i].name;
  if (name) {
    snprintf(c->prompt, sizeof c->prompt, "%.60s " PROMPT, name);
    snprintf(c->prompt_more, sizeof c->prompt_more, "%.60s " PROMPT_MORE, name);
  } else {
    snprintf(c->prompt, sizeof c->prompt, PROMPT);
    snprintf(c->prompt_more, sizeof c->prompt_more, PROMPT_MORE);
  }
}

/* ":driver NAME" chooses the driver the input runs in; ":driver" lists them. */
static void cmd_driver(emu_console *c, char *args) {
  char *save = NULL, *name = strtok_r(args, " \t", &save);
  if (!c->world) {
    print_error("console: :driver is for a project run (c4emu run project.lua); this run has one driver");
    return;
  }
  if (!name) {
    for (size_t i = 0; i < c->world->n; i++) {
      emu_ctx *d = c->world->drivers[i].ctx;
      printf("%s %-16s device %lld  %s\n", d == c->ctx ? "*" : " ", c->world->drivers[i].name,
             (long long)d->device_id, emu_phase_name(d->phase));
    }
    return;
  }
  for (size_t i = 0; i < c->world->n; i++) {
    if (strcmp(c->world->drivers[i].name, name) != 0) continue;
    c->ctx = c->world->drivers[i].ctx;
    c->nchunk = 0; /* an unfinished chunk was for the other driver */
    set_prompts(c);
    return;
  }
  fprintf(stderr, "console: no driver '%s' in the project (:driver lists them)\n", name);
}

static void run_command(emu_console *c, char *line) {
  emu_ctx *ctx = c->ctx;
  char *name = line + 1, *args = name + strcspn(name, " \t");
  if (*args) *args++ = '\0';
  if (strcmp(name, "help") == 0) cmd_help();
  else if (strcmp(name, "props") == 0) cmd_props(ctx);
  else if (strcmp(name, "prop") == 0) {
    char *save = NULL, *pname = strtok_r(args, " \t", &save);
    char *value = save ? save + strspn(save, " \t") : NULL;
    if (!pname || !value) print_error("console: :prop NAME VALUE");
    else emu_set_property(ctx, pname, value);
  } else if (strcmp(name, "cmd") == 0) cmd_cmd(ctx, args);
  else if (strcmp(name, "action") == 0) cmd_action(ctx, args);
  else if (strcmp(name, "proxy") == 0) cmd_proxy(ctx, args);
  else if (strcmp(name, "condition") == 0) cmd_condition(ctx, args);
  else if (strcmp(name, "driver") == 0) cmd_driver(c, args);
  else if (strcmp(name, "timers") == 0) {
    emu_clock_each(ctx, print_timer, ctx);
    if (emu_clock_pending(ctx) == 0) puts("  (no timers)");
  } else if (strcmp(name, "servers") == 0) {
    c4_server_each(ctx, print_server, NULL);
  } else {
    fprintf(stderr, "console: unknown command ':%s' (:help lists them)\n", name);
  }
  fflush(stdout);
}

/* ---- readline ---------------------------------------------------------- */

static void on_line(char *line) {
  emu_console *c = the_console;
  if (!c) return;
  if (!line) { /* Ctrl-D on an empty line, or the end of input */
    fputc('\n', rl_outstream);
    c->ended = true;
    rl_callback_handler_remove();
    uv_poll_stop(&c->poll);
    uv_stop(c->ctx->loop);
    return;
  }
  if (*line) add_history(line);
  c->running = true;
  if (c->nchunk == 0 && line[0] == ':') {
    run_command(c, line);
  } else {
    size_t n = strlen(line);
    char *p = realloc(c->chunk, c->nchunk + n + 2);
    if (!p) abort();
    c->chunk = p;
    if (c->nchunk) c->chunk[c->nchunk++] = '\n';
    memcpy(c->chunk + c->nchunk, line, n);
    c->nchunk += n;
    c->chunk[c->nchunk] = '\0';
    if (run_chunk(c->ctx, c->chunk, c->nchunk) == 0) c->nchunk = 0;
  }
  c->running = false;
  free(line);
  rl_set_prompt(c->nchunk ? c->prompt_more : c->prompt);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)p;
  (void)events;
  emu_console *c = the_console;
  if (!c || c->ended) return;
  if (status < 0) { /* stdin went away */
    on_line(NULL);
    return;
  }
  rl_callback_read_char();
}

/* Close callback of both handles: the second one frees the console. */
static void free_console(uv_handle_t *h) {
  emu_console *c = h->data;
  if (--c->open_handles > 0) return;
  free(c->chunk);
  free(c);
}

static void on_winch(uv_signal_t *s, int sig) {
  (void)s;
  (void)sig;
  rl_resize_terminal();
}

emu_console *emu_console_open(emu_ctx *ctx) {
  /* Not in the background either (`c4emu run &`): touching the terminal
   * from there would stop the process with SIGTTIN/SIGTTOU. */
  if (the_console || !isatty(0) || tcgetpgrp(0) != getpgrp()) return NULL;
  emu_console *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->ctx = ctx;
  if (uv_poll_init(ctx->loop, &c->poll, 0) != 0) {
    free(c);
    return NULL;
  }
  the_console = c;
  c->poll.data = c;
  rl_readline_name = "c4emu";
  rl_catch_signals = 0;  /* the CLI's own handler: see emu_watchdog.c */
  rl_catch_sigwinch = 0;
  rl_outstream = stdout;
  using_history();
  stifle_history(HISTORY_KEEP);
  const char *home = getenv("HOME");
  if (home && *home) {
    snprintf(c->history, sizeof c->history, "%s/.c4emu_history", home);
    read_history(c->history);
  }
  uv_signal_init(ctx->loop, &c->winch);
  c->winch.data = c;
  uv_signal_start(&c->winch, on_winch, SIGWINCH);
  /* A project run: every driver's log lines go above the prompt. */
  c->world = ctx->host->world;
  for (size_t i = 0; c->world && i < c->world->n; i++) {
    struct emu_host *h = c->world->drivers[i].ctx->host;
    h->log_hide = log_hide;
    h->log_show = log_show;
    h->log_ud = c;
  }
  ctx->host->log_hide = log_hide;
  ctx->host->log_show = log_show;
  ctx->host->log_ud = c;
  set_prompts(c);
  rl_callback_handler_install(c->prompt, on_line);
  uv_poll_start(&c->poll, UV_READABLE, on_readable);
  return c;
}

bool emu_console_sigint(emu_console *c) {
  bool had = c->nchunk > 0 || rl_end > 0;
  if (!had) return false;
  c->nchunk = 0;
  rl_replace_line("", 0);
  fputs("^C\n", rl_outstream);
  rl_set_prompt(c->prompt);
  rl_on_new_line();
  rl_redisplay();
  return true;
}

int emu_console_take_signal(emu_console *c) {
  bool stopped_callback;
  int sig = emu_signal_take(&stopped_callback);
  if (sig == SIGINT && c && (stopped_callback || emu_console_sigint(c))) return 0;
  return sig;
}

bool emu_console_ended(const emu_console *c) { return c->ended; }

void emu_console_close(emu_console *c) {
  if (!c) return;
  if (!c->ended) {
    rl_callback_handler_remove();
    fputc('\n', rl_outstream);
  }
  if (c->history[0]) write_history(c->history);
  clear_history();
  for (size_t i = 0; c->world && i < c->world->n; i++) {
    struct emu_host *h = c->world->drivers[i].ctx->host;
    h->log_hide = h->log_show = NULL;
    h->log_ud = NULL;
  }
  c->ctx->host->log_hide = c->ctx->host->log_show = NULL;
  c->ctx->host->log_ud = NULL;
  the_console = NULL;
  c->open_handles = 2;
  uv_close((uv_handle_t *)&c->poll, free_console);
  uv_close((uv_handle_t *)&c->winch, free_console);
}
