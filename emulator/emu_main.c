/*
 * emu_main.c — the c4emu command.
 *
 *   c4emu run PATH    load a driver, run its lifecycle, serve until SIGINT/SIGTERM
 *   c4emu check PATH  load → init → 60 virtual seconds → destroy, per OS version;
 *                     report errors, init-rule violations and missing APIs
 *
 * Exit codes: 0 clean, 1 findings (check), 2 the driver cannot run / bad usage.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu_host.h"
#include "emu_report.h"
#include "c4api.h"

#define C4EMU_VERSION "0.1.0"

static void usage(FILE *f) {
  fprintf(f,
          "usage: c4emu run PATH [options]      run a driver until Ctrl-C\n"
          "       c4emu check PATH [options]    check a driver on one or more OS versions\n"
          "       c4emu --help | --version\n"
          "\n"
          "PATH is a .c4z file or an unpacked driver folder.\n"
          "\n"
          "options:\n"
          "  --os VERSION[,VERSION…]  controller OS to reproduce (default %s; check takes a list)\n"
          "  --init-rule MODE         strict (default): creating a server in OnDriverInit is an\n"
          "                           error; warn: only warn; off: say nothing\n"
          "  --prop NAME=VALUE        override a property default (repeatable)\n"
          "  --bind ADDR              address servers listen on (default: all interfaces)\n"
          "  --junit FILE             check: also write a JUnit XML report\n"
          "  --once                   run: stop right after OnDriverLateInit\n"
          "  -v, --verbose            also print DEBUG lines\n"
          "  -q, --quiet              print only warnings and errors\n"
          "\n"
          "known OS versions: %s\n",
          "newest", c4_osver_known());
}

typedef struct {
  emu_options opt;
  const char *os_list;
  const char *junit;
  bool once;
  emu_kv props[64];
} cli_args;

static int parse_rule(const char *s, emu_rule_mode *out) {
  if (strcmp(s, "strict") == 0) *out = EMU_RULE_STRICT;
  else if (strcmp(s, "warn") == 0) *out = EMU_RULE_WARN;
  else if (strcmp(s, "off") == 0) *out = EMU_RULE_OFF;
  else return -1;
  return 0;
}

static int die_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "c4emu: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(c4emu --help for usage)\n");
  return 2;
}

/* Parses argv after the command word; returns 0 or an exit code. */
static int parse_args(int argc, char **argv, cli_args *a) {
  memset(a, 0, sizeof *a);
  a->opt.log_stderr = true;
  a->opt.log_color = isatty(2);
  a->opt.log_level = EMU_LOG_INFO;
  a->opt.init_rule = EMU_RULE_STRICT;
  for (int i = 0; i < argc; i++) {
    const char *s = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(s, "--os") == 0 || strcmp(s, "--init-rule") == 0 || strcmp(s, "--prop") == 0 ||
        strcmp(s, "--bind") == 0 || strcmp(s, "--junit") == 0) {
      if (!val) return die_usage("%s needs a value", s);
      i++;
      if (strcmp(s, "--os") == 0) a->os_list = val;
      else if (strcmp(s, "--init-rule") == 0) {
        if (parse_rule(val, &a->opt.init_rule) != 0)
          return die_usage("--init-rule must be strict, warn or off, not '%s'", val);
      } else if (strcmp(s, "--prop") == 0) {
        const char *eq = strchr(val, '=');
        if (!eq || eq == val) return die_usage("--prop wants NAME=VALUE, got '%s'", val);
        if (a->opt.nprops == sizeof a->props / sizeof a->props[0])
          return die_usage("too many --prop options (at most 64): '%s'", val);
        emu_kv *kv = &a->props[a->opt.nprops++];
        kv->name = strndup(val, (size_t)(eq - val));
        kv->value = strdup(eq + 1);
      } else if (strcmp(s, "--bind") == 0) a->opt.bind_addr = val;
      else a->junit = val;
    } else if (strcmp(s, "--once") == 0) {
      a->once = true;
    } else if (strcmp(s, "-v") == 0 || strcmp(s, "--verbose") == 0) {
      a->opt.log_level = EMU_LOG_DEBUG;
    } else if (strcmp(s, "-q") == 0 || strcmp(s, "--quiet") == 0) {
      a->opt.log_level = EMU_LOG_WARN;
    } else if (s[0] == '-') {
      return die_usage("unknown option '%s'", s);
    } else if (!a->opt.path) {
      a->opt.path = s;
    } else {
      return die_usage("unexpected argument '%s'", s);
    }
  }
  if (!a->opt.path) return die_usage("%s", "no driver given: c4emu run PATH");
  a->opt.props = a->props;
  return 0;
}

static void free_args(cli_args *a) {
  for (size_t i = 0; i < a->opt.nprops; i++) {
    free(a->props[i].name);
    free(a->props[i].value);
  }
}

/* ---- run ---------------------------------------------------------------- */

typedef struct {
  emu_ctx *ctx;
  uv_signal_t sigint, sigterm, sighup;
  uv_tty_t tty;
  bool console;
  char line[4096];
  size_t nline;
} run_state;

static void on_signal(uv_signal_t *s, int signum) {
  run_state *rs = s->data;
  emu_log(rs->ctx, EMU_LOG_INFO, "[c4emu] %s: shutting down", strsignal(signum));
  uv_stop(rs->ctx->loop);
}

static void console_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  run_state *rs = h->data;
  buf->base = rs->line + rs->nline;
  buf->len = sizeof rs->line - 1 - rs->nline;
}

static void prompt(void) {
  fputs("lua> ", stderr);
  fflush(stderr);
}

static void console_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  run_state *rs = st->data;
  if (n < 0) { /* end of input: the console closes, the driver keeps running */
    uv_read_stop(st);
    return;
  }
  rs->nline += (size_t)n;
  char *nl;
  while ((nl = memchr(rs->line, '\n', rs->nline)) != NULL) {
    *nl = '\0';
    if (nl > rs->line && nl[-1] == '\r') nl[-1] = '\0';
    if (rs->line[0]) emu_console_line(rs->ctx, rs->line);
    size_t used = (size_t)(nl - rs->line) + 1;
    memmove(rs->line, nl + 1, rs->nline - used);
    rs->nline -= used;
    prompt();
  }
  if (rs->nline == sizeof rs->line - 1) { /* a line too long for the console */
    emu_log(rs->ctx, EMU_LOG_ERROR, "[c4emu] console line longer than %zu bytes dropped",
            sizeof rs->line - 1);
    rs->nline = 0;
  }
}

static int cmd_run(cli_args *a) {
  if (a->os_list && c4_osver_parse(a->os_list, &a->opt.os) != 0)
    return die_usage("unknown OS version '%s' (c4emu --help lists them)", a->os_list);
  char err[1024];
  emu_ctx *ctx = emu_driver_load(&a->opt, err, sizeof err);
  if (!ctx) {
    fprintf(stderr, "c4emu: %s\n", err);
    return 2;
  }
  run_state rs = {.ctx = ctx};
  uv_signal_init(ctx->loop, &rs.sigint);
  uv_signal_init(ctx->loop, &rs.sigterm);
  uv_signal_init(ctx->loop, &rs.sighup); /* the terminal went away: shut down cleanly too */
  rs.sigint.data = rs.sigterm.data = rs.sighup.data = &rs;
  uv_signal_start(&rs.sigint, on_signal, SIGINT);
  uv_signal_start(&rs.sigterm, on_signal, SIGTERM);
  uv_signal_start(&rs.sighup, on_signal, SIGHUP);
  emu_driver_init(ctx, "DIT_ADDING");
  if (a->once) {
    uv_stop(ctx->loop);
  } else if (isatty(0) && uv_tty_init(ctx->loop, &rs.tty, 0, 1) == 0) {
    rs.console = true;
    rs.tty.data = &rs;
    emu_log(ctx, EMU_LOG_INFO, "[c4emu] driver running; Lua console below, Ctrl-C to stop");
    prompt();
    uv_read_start((uv_stream_t *)&rs.tty, console_alloc, console_read);
  } else {
    emu_log(ctx, EMU_LOG_INFO, "[c4emu] driver running; Ctrl-C or SIGTERM to stop");
  }
  uv_run(ctx->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&rs.sigint, NULL);
  uv_close((uv_handle_t *)&rs.sigterm, NULL);
  uv_close((uv_handle_t *)&rs.sighup, NULL);
  if (rs.console) {
    uv_tty_reset_mode();
    uv_close((uv_handle_t *)&rs.tty, NULL);
  }
  emu_driver_destroy(ctx, "DIT_LOADED");
  size_t nerr = ctx->host->nerrors;
  emu_log(ctx, EMU_LOG_INFO, "[c4emu] stopped; %zu driver error%s", nerr, nerr == 1 ? "" : "s");
  emu_driver_free(ctx);
  return 0;
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
        int rc = die_usage("unknown OS version '%s' (c4emu --help lists them)", tok);
        free(list);
        return rc;
      }
      nv++;
    }
    free(list);
  }
  emu_report rep;
  emu_report_init(&rep, a->opt.path);
  a->opt.virtual_clock = true;
  a->opt.bind_addr = a->opt.bind_addr ? a->opt.bind_addr : "127.0.0.1";
  /* The per-version report is the output; the log only shows problems. */
  if (a->opt.log_level == EMU_LOG_INFO) a->opt.log_level = EMU_LOG_WARN;
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
    fprintf(stderr, "c4emu: cannot write %s\n", a->junit);
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
    rc = parse_args(argc - 2, argv + 2, &a);
    if (rc == 0) rc = argv[1][0] == 'r' ? cmd_run(&a) : cmd_check(&a);
    free_args(&a);
    return rc;
  }
  return die_usage("unknown command '%s': use run or check", argv[1]);
}
