/*
 * emu_main.c — the c4emu command.
 *
 *   c4emu run PATH    load a driver, run its lifecycle, serve until SIGINT/SIGTERM
 *                     (or Ctrl-D at the console, emu_console.c)
 *   c4emu check PATH  load → init → 60 virtual seconds → destroy, per OS version;
 *                     report errors, init-rule violations and missing APIs
 *   c4emu apis        the API coverage table (emu_cmd_apis.c)
 *   c4emu init DIR    a new driver project (emu_cmd_init.c)
 *
 * Exit codes: 0 clean, 1 findings (check), 2 the driver cannot run / bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu_host.h"
#include "emu_report.h"
#include "emu_web.h"
#include "c4api.h"

#define C4EMU_VERSION "0.1.0"

/*
 * The options, one row each: the long name, whether it takes a value, which
 * subcommands accept it, and its help line.  getopt_long's table is built
 * from these rows, so adding a flag is a row here and a case in apply_opt().
 */
enum { FOR_RUN = 1, FOR_CHECK = 2, FOR_BOTH = FOR_RUN | FOR_CHECK };
enum {
  OPT_OS = 256, OPT_INIT_RULE, OPT_PROP, OPT_BIND, OPT_JUNIT, OPT_ONCE,
  OPT_EPOCH, /* issue 9 */
  /* issue 10: the emulated project */
  OPT_DEVICE_ID, OPT_DEVICE_NAME, OPT_ROOM, OPT_CONTROLLER_IP, OPT_CONTROLLER_MAC,
  /* issue 15 */
  OPT_WATCHDOG, OPT_MEMORY, OPT_TIMEOUT, OPT_COVERAGE, OPT_STRICT,
  /* issue 16 */
  OPT_SERVER_FLUSH_MS, OPT_GC_EACH_CALLBACK,
  OPT_NET,   /* issue 12 */
  OPT_VERBOSE = 'v', OPT_QUIET = 'q', OPT_HELP = 'h',
  /* issue 17: web console */
  OPT_WEB = 300, OPT_VIRTUAL,
};
/* issue 13 */
enum { OPT_DENY_NET = 1300 };
typedef struct {
  const char *name;
  int has_arg; /* no_argument / required_argument */
  int code;
  int for_cmds;
  const char *arg, *help;
} cli_opt;

static const cli_opt opts[] = {
    {"os", required_argument, OPT_OS, FOR_BOTH, "VERSION",
     "controller OS to reproduce (default: newest; check takes V1,V2,...)"},
    {"init-rule", required_argument, OPT_INIT_RULE, FOR_BOTH, "MODE",
     "strict (default): a server created in OnDriverInit is an error; warn; off"},
    {"prop", required_argument, OPT_PROP, FOR_BOTH, "NAME=VALUE",
     "override a property default (repeatable)"},
    {"bind", required_argument, OPT_BIND, FOR_BOTH, "ADDR",
     "address servers listen on (run: all interfaces; check: 127.0.0.1)"},
    {"junit", required_argument, OPT_JUNIT, FOR_CHECK, "FILE", "also write a JUnit XML report"},
    {"once", no_argument, OPT_ONCE, FOR_RUN, NULL,
     "stop right after OnDriverLateInit (exit 1 if the driver raised)"},
    /* issue 15 */
    {"watchdog", required_argument, OPT_WATCHDOG, FOR_BOTH, "MS",
     "stop a callback that runs longer than MS ms (default 5000; 0: off)"},
    {"memory", required_argument, OPT_MEMORY, FOR_BOTH, "MB",
     "memory the driver's Lua state may hold (default 1024; 0: off)"},
    {"timeout", required_argument, OPT_TIMEOUT, FOR_CHECK, "S",
     "fail a version whose run does not finish within S s (default 60; 0: none)"},
    {"coverage", required_argument, OPT_COVERAGE, FOR_CHECK, "FILE",
     "write line coverage of the driver's Lua files (LCOV; luacov stats if FILE ends in .out)"},
    {"strict", no_argument, OPT_STRICT, FOR_CHECK, NULL,
     "discouraged calls in OnDriverInit fail the check too"},
    {"epoch", required_argument, OPT_EPOCH, FOR_BOTH, "TIME",
     "wall time at load: 2026-01-01T00:00:00Z, a date, or seconds (default: now)"},
    {"verbose", no_argument, OPT_VERBOSE, FOR_BOTH, NULL, "also print DEBUG lines"},
    {"quiet", no_argument, OPT_QUIET, FOR_BOTH, NULL, "print only warnings and errors"},
    {"help", no_argument, OPT_HELP, FOR_BOTH, NULL, "this help"},
    /* issue 17: web console */
    {"web", required_argument, OPT_WEB, FOR_RUN, "[ADDR:]PORT",
     "serve the web console (default address 127.0.0.1; port 0: any)"},
    {"virtual", no_argument, OPT_VIRTUAL, FOR_RUN, NULL,
     "virtual clock: time moves only when the web console advances it"},
    /* issue 13: HTTP */
    {"deny-net", no_argument, OPT_DENY_NET, FOR_BOTH, NULL,
     "refuse every outgoing HTTP connection except to loopback (for CI)"},
    /* issue 10: the emulated project */
    {"device-id", required_argument, OPT_DEVICE_ID, FOR_BOTH, "ID",
     "the driver's device id (default 100; its proxies follow)"},
    {"device-name", required_argument, OPT_DEVICE_NAME, FOR_BOTH, "NAME",
     "the driver's device name (default: driver.xml <name>)"},
    {"room", required_argument, OPT_ROOM, FOR_BOTH, "NAME", "the driver's room (default Living Room)"},
    {"controller-ip", required_argument, OPT_CONTROLLER_IP, FOR_BOTH, "ADDR",
     "what C4:GetControllerNetworkAddress gives (default 127.0.0.1)"},
    {"controller-mac", required_argument, OPT_CONTROLLER_MAC, FOR_BOTH, "MAC",
     "what C4:GetUniqueMAC gives (default 000FFF0C4E01)"},
    /* issue 16 */
    {"server-flush-ms", required_argument, OPT_SERVER_FLUSH_MS, FOR_BOTH, "MS",
     "CreateServer: deliver an undelimited partial payload after MS quiet (default 500, 0 off)"},
    {"gc-each-callback", no_argument, OPT_GC_EACH_CALLBACK, FOR_BOTH, NULL,
     "full garbage collection after every driver callback (finds missing references)"},
    /* issue 12 */
    {"net", required_argument, OPT_NET, FOR_BOTH, "BINDING=ADDR",
     "address of a network binding, as Composer sets it (repeatable): --net 6001=192.168.1.20"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static void usage(FILE *f) {
  fprintf(f,
          "usage: c4emu run PATH [options]      run a driver, with a Lua console on a terminal\n"
          "       c4emu check PATH [options]    check a driver on one or more OS versions\n"
          "       c4emu pack PROJECT.c4zproj    build a .c4z from a DriverPackager project (pack --help)\n"
          "       c4emu apis [--os VERSION] [--markdown]   the API coverage table\n"
          "       c4emu init DIR [--name NAME]  write a new driver project that passes its spec\n"
          "       c4emu --help | --version\n"
          "\n"
          "PATH is a .c4z file or an unpacked driver folder.\n"
          "\n"
          "options (run / check):\n");
  for (size_t i = 0; i < NOPTS; i++) {
    char left[48];
    const char *only = opts[i].for_cmds == FOR_RUN ? "run: " : opts[i].for_cmds == FOR_CHECK
                                                                   ? "check: " : "";
    if (opts[i].code < 256)
      snprintf(left, sizeof left, "-%c, --%s%s%s", opts[i].code, opts[i].name,
               opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
    else
      snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
               opts[i].arg ? opts[i].arg : "");
    fprintf(f, "  %-26s %s%s\n", left, only, opts[i].help);
  }
  fprintf(f, "\nknown OS versions: %s\n", c4_osver_known());
}

typedef struct {
  emu_options opt;
  const char *cmd;
  const char *os_list;
  const char *junit;
  const char *coverage;
  bool once, strict;
  emu_kv props[64];
  char web_addr[64];   /* issue 17: --web */
  int web_port;        /* -1: no web console */
  emu_kv net[64]; /* issue 12 */
} cli_args;

/* --web [ADDR:]PORT: a numeric address (IPv6 in brackets) and a port. */
static int parse_web(const char *val, cli_args *a) {
  const char *colon = strrchr(val, ':'), *port = val;
  snprintf(a->web_addr, sizeof a->web_addr, "127.0.0.1");
  if (colon) {
    const char *h = val;
    size_t hn = (size_t)(colon - val);
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') h++, hn -= 2;
    if (hn == 0 || hn >= sizeof a->web_addr) return -1;
    memcpy(a->web_addr, h, hn);
    a->web_addr[hn] = '\0';
    struct in6_addr buf;
    if (inet_pton(AF_INET, a->web_addr, &buf) != 1 && inet_pton(AF_INET6, a->web_addr, &buf) != 1)
      return -1;
    port = colon + 1;
  }
  char *end;
  long p = strtol(port, &end, 10);
  if (*port == '\0' || *end != '\0' || p < 0 || p > 65535) return -1;
  a->web_port = (int)p;
  return 0;
}

static int parse_rule(const char *s, emu_rule_mode *out) {
  if (strcmp(s, "strict") == 0) *out = EMU_RULE_STRICT;
  else if (strcmp(s, "warn") == 0) *out = EMU_RULE_WARN;
  else if (strcmp(s, "off") == 0) *out = EMU_RULE_OFF;
  else return -1;
  return 0;
}

/* One line naming the reason, then one pointer to the help. */
static int die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "c4emu: ");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see c4emu --help)\n");
  return 2;
}

/* A whole number in [0, max], or -1. */
static long parse_count(const char *s, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > max) return -1;
  return v;
}

/* Applies one parsed option; returns 0 or an exit code. */
static int apply_opt(cli_args *a, const cli_opt *o, const char *val) {
  switch (o->code) {
  case OPT_OS: a->os_list = val; break;
  case OPT_INIT_RULE:
    if (parse_rule(val, &a->opt.init_rule) != 0)
      return die_usage("--init-rule must be strict, warn or off, not '%s'", val);
    break;
  case OPT_PROP: {
    const char *eq = strchr(val, '=');
    if (!eq || eq == val) return die_usage("--prop wants NAME=VALUE, got '%s'", val);
    if (a->opt.nprops == sizeof a->props / sizeof a->props[0])
      return die_usage("too many --prop options (at most 64): '%s'", val);
    emu_kv *kv = &a->props[a->opt.nprops++];
    kv->name = strndup(val, (size_t)(eq - val));
    kv->value = strdup(eq + 1);
    break;
  }
  case OPT_NET: { /* issue 12 */
    const char *eq = strchr(val, '=');
    char *end = NULL;
    long id = eq ? strtol(val, &end, 10) : 0;
    if (!eq || end != eq || id <= 0 || !eq[1])
      return die_usage("--net wants BINDING=ADDRESS (6001=192.168.1.20), got '%s'", val);
    if (a->opt.nnet == sizeof a->net / sizeof a->net[0])
      return die_usage("too many --net options (at most 64): '%s'", val);
    emu_kv *kv = &a->net[a->opt.nnet++];
    kv->name = strndup(val, (size_t)(eq - val));
    kv->value = strdup(eq + 1);
    break;
  }
  case OPT_BIND: {
    struct in6_addr buf;
    if (inet_pton(AF_INET, val, &buf) != 1 && inet_pton(AF_INET6, val, &buf) != 1)
      return die_usage("--bind wants an IPv4 or IPv6 address, not '%s'", val);
    a->opt.bind_addr = val;
    break;
  }
  case OPT_JUNIT: a->junit = val; break;
  case OPT_ONCE: a->once = true; break;
  case OPT_EPOCH:
    if (emu_epoch_parse(val, &a->opt.epoch_ms) != 0)
      return die_usage("--epoch wants 2026-01-01T00:00:00Z, 2026-01-01 or seconds since "
                       "1970, not '%s'", val);
    a->opt.has_epoch = true;
    break;
  case OPT_WEB:
    if (parse_web(val, a) != 0)
      return die_usage("--web wants [ADDR:]PORT (numeric address, port 0-65535), not '%s'", val);
    break;
  case OPT_VIRTUAL: a->opt.virtual_clock = true; break;
  case OPT_WATCHDOG: {
    long v = parse_count(val, 86400000);
    if (v < 0) return die_usage("--watchdog wants milliseconds (0 turns it off), not '%s'", val);
    a->opt.watchdog_ms = (int)v;
    break;
  }
  case OPT_MEMORY: {
    long v = parse_count(val, 1L << 20);
    if (v < 0) return die_usage("--memory wants megabytes (0 turns the cap off), not '%s'", val);
    a->opt.memory_cap = (size_t)v * 1024 * 1024;
    break;
  }
  case OPT_TIMEOUT: {
    long v = parse_count(val, 86400);
    if (v < 0) return die_usage("--timeout wants seconds (0: no limit), not '%s'", val);
    a->opt.run_timeout_ms = (int)v * 1000;
    break;
  }
  case OPT_COVERAGE: a->coverage = val; a->opt.coverage = true; break;
  case OPT_STRICT: a->strict = true; break;
  case OPT_VERBOSE: a->opt.log_level = EMU_LOG_DEBUG; break;
  case OPT_QUIET: a->opt.log_level = EMU_LOG_WARN; break;
  case OPT_DENY_NET: a->opt.deny_net = true; break;
  /* issue 10: the emulated project */
  case OPT_DEVICE_ID: {
    char *end;
    long long id = strtoll(val, &end, 10);
    if (*val == '\0' || *end || id < 1 || id > 2147483647)
      return die_usage("--device-id wants a positive integer, not '%s'", val);
    a->opt.project.self.id = id;
    break;
  }
  case OPT_DEVICE_NAME: a->opt.project.self.name = val; break;
  case OPT_ROOM: a->opt.project.self.room = val; break;
  case OPT_CONTROLLER_IP: {
    struct in6_addr buf;
    if (inet_pton(AF_INET, val, &buf) != 1 && inet_pton(AF_INET6, val, &buf) != 1)
      return die_usage("--controller-ip wants an IPv4 or IPv6 address, not '%s'", val);
    a->opt.project.controller_ip = val;
    break;
  }
  case OPT_CONTROLLER_MAC:
    if (strlen(val) != 12 || strspn(val, "0123456789abcdefABCDEF") != 12)
      return die_usage("--controller-mac wants 12 hex digits (000FFF0C4E01), not '%s'", val);
    a->opt.project.controller_mac = val;
    break;
  case OPT_SERVER_FLUSH_MS: {
    /* Carried as C4EMU_SERVER_FLUSH_MS, which the socket core reads for every
     * driver (run and each version of check) — one source for the value. */
    char *end;
    unsigned long v = val[0] >= '0' && val[0] <= '9' ? strtoul(val, &end, 10) : 0;
    if (val[0] < '0' || val[0] > '9' || *end || v > 3600000)
      return die_usage("--server-flush-ms wants milliseconds from 0 to 3600000, not '%s'", val);
    setenv("C4EMU_SERVER_FLUSH_MS", val, 1);
    break;
  }
  case OPT_GC_EACH_CALLBACK: a->opt.gc_each_callback = true; break;
  }
  return 0;
}

/* Parses argv[0] (the subcommand) and its options; returns 0, or an exit
 * code (-1: --help was printed, exit 0). */
static int parse_args(int argc, char **argv, cli_args *a) {
  memset(a, 0, sizeof *a);
  a->cmd = argv[0];
  a->opt.log_stderr = true;
  a->opt.log_color = isatty(2);
  a->opt.log_level = EMU_LOG_INFO;
  a->opt.init_rule = EMU_RULE_STRICT;
  a->web_port = -1;
  a->opt.watchdog_ms = EMU_WATCHDOG_DEFAULT_MS;
  a->opt.memory_cap = EMU_MEMORY_DEFAULT;
  a->opt.run_timeout_ms = 60000;
  int mine = strcmp(a->cmd, "run") == 0 ? FOR_RUN : FOR_CHECK;
  struct option lo[NOPTS + 1];
  for (size_t i = 0; i < NOPTS; i++) lo[i] = (struct option){opts[i].name, opts[i].has_arg, NULL, opts[i].code};
  lo[NOPTS] = (struct option){0, 0, 0, 0};
  opterr = 0;
  optind = 1;
  int c;
  /* "-": operands come back as code 1 in place, so PATH may stand before or after options. */
  while ((c = getopt_long(argc, argv, "-vqh", lo, NULL)) != -1) {
    if (c == 1) { /* an operand */
      if (a->opt.path) return die_usage("%s: unexpected argument '%s'", a->cmd, optarg);
      a->opt.path = optarg;
      continue;
    }
    if (c == '?') {
      const char *bad = argv[optind - 1];
      for (size_t i = 0; i < NOPTS; i++)
        if (optopt == opts[i].code && opts[i].has_arg)
          return die_usage("%s: --%s needs a value", a->cmd, opts[i].name);
      return die_usage("%s: unknown option '%s'", a->cmd, bad);
    }
    const cli_opt *o = NULL;
    for (size_t i = 0; i < NOPTS; i++)
      if (opts[i].code == c) o = &opts[i];
    if (!o) return die_usage("%s: unknown option '%s'", a->cmd, argv[optind - 1]);
    if (o->code == OPT_HELP) {
      usage(stdout);
      return -1;
    }
    if (!(o->for_cmds & mine))
      return die_usage("%s: --%s is an option of c4emu %s only", a->cmd, o->name,
                       o->for_cmds == FOR_RUN ? "run" : "check");
    int rc = apply_opt(a, o, optarg);
    if (rc) return rc;
  }
  if (!a->opt.path) return die_usage("%s: no driver given: c4emu %s PATH", a->cmd, a->cmd);
  a->opt.props = a->props;
  a->opt.net = a->net;
  return 0;
}

static void free_args(cli_args *a) {
  for (size_t i = 0; i < a->opt.nprops; i++) {
    free(a->props[i].name);
    free(a->props[i].value);
  }
  for (size_t i = 0; i < a->opt.nnet; i++) { /* issue 12 */
    free(a->net[i].name);
    free(a->net[i].value);
  }
}

/* ---- run ---------------------------------------------------------------- */

typedef struct {
  emu_ctx *ctx;
  uv_async_t wake;      /* the signal handler's wake-up (emu_signals_install) */
  emu_console *console; /* NULL: stdin is not a terminal, or --once */
  bool stopping;        /* a signal came: leave the run loop (issue 17's advance loop) */
} run_state;

/* On the loop after SIGINT/SIGTERM/SIGHUP.  At the console, Ctrl-C that
 * stopped running code or discarded a typed line has done its job (as in
 * lua.c and shells); Ctrl-C on an empty prompt, SIGTERM and SIGHUP shut the
 * run down. */
static void on_wake(uv_async_t *a) {
  run_state *rs = a->data;
  int sig = emu_console_take_signal(rs->console);
  if (!sig) return;
  emu_log(rs->ctx, EMU_LOG_INFO, "[c4emu] %s: shutting down", strsignal(sig));
  rs->stopping = true;
  uv_stop(rs->ctx->loop);
}

static int cmd_run(cli_args *a) {
  if (a->os_list && c4_osver_parse(a->os_list, &a->opt.os) != 0)
    return die_usage("unknown OS version '%s'; known: %s", a->os_list, c4_osver_known());
  /* issue 11: a project file of several drivers */
  if (emu_is_project_file(a->opt.path)) {
    /* s3-project: the consoles choose among the project's drivers */
    return emu_project_run(&a->opt, a->once, a->web_addr, a->web_port);
  }
  char err[1024];
  a->opt.signals = true;
  a->opt.run_timeout_ms = 0;
  emu_ctx *ctx = emu_driver_load(&a->opt, err, sizeof err);
  if (!ctx) {
    fprintf(stderr, "c4emu: %s\n", err);
    return 2;
  }
  emu_web *web = NULL;
  if (a->web_port >= 0) {
    char url[256];
    web = emu_web_start(ctx, a->web_addr, a->web_port, url, sizeof url, err, sizeof err);
    if (!web) {
      fprintf(stderr, "c4emu: %s\n", err);
      emu_driver_free(ctx);
      return 2;
    }
    printf("c4emu: web console at %s\n", url);
    fflush(stdout);
  }
  run_state rs = {.ctx = ctx};
  uv_async_init(ctx->loop, &rs.wake, on_wake);
  rs.wake.data = &rs;
  emu_signals_install(&rs.wake);
  emu_driver_init(ctx, "DIT_ADDING");
  if (a->once) {
    uv_stop(ctx->loop);
  } else if ((rs.console = emu_console_open(ctx)) != NULL) {
    emu_log(ctx, EMU_LOG_INFO, "[c4emu] driver running; Lua console below (:help), "
            "Ctrl-D or SIGTERM to stop");
  } else {
    emu_log(ctx, EMU_LOG_INFO, "[c4emu] driver running; Ctrl-C or SIGTERM to stop");
  }
  /* Virtual clock: the web console's advance stops the loop; the clock moves
   * here, outside any libuv callback, then the loop serves again. */
  while (!rs.stopping) {
    uv_run(ctx->loop, UV_RUN_DEFAULT);
    uint64_t ms = emu_web_take_advance(web);
    if (ms == 0) break; /* a signal, the end of the console, or --once */
    /* Advancing serves the loop too: a signal or another advance asked for
     * meanwhile is seen here (its uv_stop was spent on an inner run). */
    while (ms != 0 && !rs.stopping) {
      emu_clock_advance(ctx, ms);
      emu_web_refresh(web);
      ms = emu_web_take_advance(web);
    }
  }
  emu_web_stop(web);
  bool by_console = rs.console && emu_console_ended(rs.console);
  emu_console_close(rs.console);
  if (by_console) emu_log(ctx, EMU_LOG_INFO, "[c4emu] end of console input: shutting down");
  /* Signals still stop a runaway OnDriverDestroyed, with no loop to wake. */
  emu_signals_install(NULL);
  uv_close((uv_handle_t *)&rs.wake, NULL);
  emu_driver_destroy(ctx, "DIT_LOADED");
  emu_signals_remove();
  size_t nerr = ctx->host->nerrors;
  emu_log(ctx, EMU_LOG_INFO, "[c4emu] stopped; %zu driver error%s", nerr, nerr == 1 ? "" : "s");
  emu_driver_free(ctx);
  /* run --once is a smoke test: a driver that raised fails it */
  return a->once && nerr > 0 ? 1 : 0;
}

/* ---- check -------------------------------------------------------------- */

static int cmd_check(cli_args *a) {
  c4_osver versions[32];
  size_t nv = 0;
  if (!a->os_list) {
    versions[nv++] = c4_osver_newest();
  } else {
    char *list = strdup(a->os_list), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      if (nv == sizeof versions / sizeof versions[0] || c4_osver_parse(tok, &versions[nv]) != 0) {
        int rc = die_usage("unknown OS version '%s'; known: %s", tok, c4_osver_known());
        free(list);
        return rc;
      }
      nv++;
    }
    free(list);
  }
  emu_report rep;
  emu_report_init(&rep, a->opt.path);
  rep.strict = a->strict;
  a->opt.virtual_clock = true;
  a->opt.bind_addr = a->opt.bind_addr ? a->opt.bind_addr : "127.0.0.1";
  /* The per-version report is the output; the log only shows problems. */
  if (a->opt.log_level == EMU_LOG_INFO) a->opt.log_level = EMU_LOG_WARN;
  /* issue 11: every driver of a project file */
  if (emu_is_project_file(a->opt.path)) {
    emu_report_free(&rep);
    return emu_project_check(&a->opt, versions, nv, a->junit, a->strict);
  }
  for (size_t i = 0; i < nv; i++) {
    a->opt.os = versions[i];
    if (emu_report_check_one(&rep, &a->opt) != 0) {
      emu_report_free(&rep);
      return 2;
    }
  }
  emu_report_print(&rep, stdout);
  int rc = emu_report_clean(&rep) ? 0 : 1;
  if (a->junit && emu_report_junit(&rep, a->junit) != 0) {
    fprintf(stderr, "c4emu: cannot write %s: %s\n", a->junit, strerror(errno));
    rc = 2;
  }
  if (a->coverage && emu_coverage_write(a->coverage) != 0) {
    fprintf(stderr, "c4emu: cannot write %s: %s\n", a->coverage, strerror(errno));
    rc = 2;
  }
  emu_report_free(&rep);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("c4emu %s (Lua 5.1, libuv %s, %s)\n", C4EMU_VERSION, uv_version_string(),
           "OpenSSL");
    return 0;
  }
  signal(SIGPIPE, SIG_IGN); /* a vanished client must not kill the emulator */
  cli_args a;
  int rc;
  if (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "check") == 0) {
    rc = parse_args(argc - 1, argv + 1, &a);
    if (rc == 0) rc = argv[1][0] == 'r' ? cmd_run(&a) : cmd_check(&a);
    free_args(&a);
    return rc < 0 ? 0 : rc;
  }
  if (strcmp(argv[1], "pack") == 0) return emu_cmd_pack(argc - 1, argv + 1); /* issue 14 */
  /* issue 9 */
  if (strcmp(argv[1], "apis") == 0) return emu_cmd_apis(argc - 1, argv + 1);
  if (strcmp(argv[1], "init") == 0) return emu_cmd_init(argc - 1, argv + 1);
  return die_usage("unknown command '%s': use run, check, pack, apis or init", argv[1]);
}
