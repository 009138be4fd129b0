/*
 * emu_report.c — runs `c4emu check` for one OS version and keeps what it
 * found: uncaught driver errors (with tracebacks), init-rule violations and
 * reads of C4 APIs the version lacks.
 */
#include <stdlib.h>
#include <string.h>

#include "emu_report.h"
#include "c4api.h"

#define CHECK_VIRTUAL_MS EMU_CHECK_VIRTUAL_MS

void emu_report_init(emu_report *r, const char *path) {
  memset(r, 0, sizeof *r);
  r->path = path;
}

static void add_finding(emu_version_result *v, const char *kind, const char *text, bool warning) {
  for (size_t i = 0; i < v->n; i++) { /* the same problem again: counted, not repeated */
    if (strcmp(v->items[i].kind, kind) == 0 && strcmp(v->items[i].text, text) == 0) {
      v->items[i].count++;
      return;
    }
  }
  emu_finding *p = realloc(v->items, (v->n + 1) * sizeof *p);
  if (!p) abort();
  v->items = p;
  snprintf(p[v->n].kind, sizeof p[v->n].kind, "%s", kind);
  p[v->n].text = strdup(text);
  p[v->n].warning = warning;
  p[v->n++].count = 1;
}

static void add(emu_version_result *v, const char *kind, const char *text) {
  add_finding(v, kind, text, false);
}

/* Findings of a run that fail the check. */
static size_t failing(const emu_report *r, const emu_version_result *v) {
  size_t n = 0;
  for (size_t i = 0; i < v->n; i++) n += !v->items[i].warning || r->strict;
  return n;
}

int emu_report_check_one(emu_report *r, const emu_options *opt) {
  char err[1024];
  uint64_t t0 = uv_hrtime();
  emu_ctx *ctx = emu_driver_load(opt, err, sizeof err);
  if (!ctx) {
    fprintf(stderr, "c4emu: %s\n", err);
    return -1;
  }
  emu_driver_init(ctx, "DIT_ADDING");
  if (!ctx->host->run_timed_out) emu_clock_advance(ctx, CHECK_VIRTUAL_MS);
  emu_driver_destroy(ctx, "DIT_LOADED");
  emu_report_collect(r, ctx, opt->run_timeout_ms, t0);
  emu_driver_free(ctx);
  return 0;
}

void emu_report_collect(emu_report *r, emu_ctx *ctx, int run_timeout_ms, uint64_t t0) {
  emu_version_result *p = realloc(r->runs, (r->nruns + 1) * sizeof *p);
  if (!p) abort();
  r->runs = p;
  emu_version_result *v = &r->runs[r->nruns++];
  memset(v, 0, sizeof *v);
  v->os = ctx->os;
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nerrors; i++) {
    const emu_error *e = &h->errors[i];
    size_t n = strlen(e->where) + strlen(e->message) + strlen(e->traceback) + 16;
    char *text = malloc(n);
    snprintf(text, n, "in %s: %s%s%s", e->where, e->message, *e->traceback ? "\n" : "",
             e->traceback);
    add(v, "error", text);
    free(text);
  }
  for (size_t i = 0; i < h->nnotes; i++) {
    const emu_noteline *n = &h->notes[i];
    if (n->kind == EMU_NOTE_NOT_PROVIDED) {
      /* A read of an API c4emu lacks: the run proved nothing about that
       * code path, so it fails the check like an error would. */
      char text[1200];
      snprintf(text, sizeof text, "%s (read %ld time%s)", n->text, n->count,
               n->count == 1 ? "" : "s");
      add(v, "not-provided", text);
    } else if (n->kind == EMU_NOTE_RULE_DISCOURAGED) {
      add_finding(v, "warning", n->text, true); /* issue 15: fails only with --strict */
    } else if (n->kind == EMU_NOTE_PACKAGE) {
      add_finding(v, "package", n->text, true); /* a warning too */
    } else {
      add(v, emu_note_kind_name(n->kind), n->text);
    }
  }
  if (emu_handles_open(ctx) != 0) add(v, "error", "handles still open after OnDriverDestroyed");
  if (h->run_timed_out) {
    char text[128];
    snprintf(text, sizeof text, "the run did not finish within %.0f s (--timeout S)",
             run_timeout_ms / 1000.0);
    add(v, "timeout", text);
  }
  v->seconds = (double)(uv_hrtime() - t0) / 1e9;
}

bool emu_report_clean(const emu_report *r) {
  for (size_t i = 0; i < r->nruns; i++)
    if (failing(r, &r->runs[i])) return false;
  return true;
}

/*
 * Writes s so that any bytes a driver error carries come out readable and,
 * for XML, well-formed XML 1.0: valid UTF-8 of characters XML allows is kept;
 * every other byte (control characters but tab and newline, invalid or
 * overlong UTF-8, surrogates, U+FFFE/U+FFFF) is written as \xNN.  xml also
 * escapes the markup characters.
 */
static void put_text(FILE *f, const char *str, bool xml, const char *nl_indent) {
  const unsigned char *s = (const unsigned char *)str;
  while (*s) {
    unsigned c = *s;
    if (c < 0x80) {
      if (c == '\n') {
        fputc('\n', f);
        if (nl_indent) fputs(nl_indent, f);
      } else if (c == '\t') fputc('\t', f);
      else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
      else if (xml && c == '&') fputs("&amp;", f);
      else if (xml && c == '<') fputs("&lt;", f);
      else if (xml && c == '>') fputs("&gt;", f);
      else if (xml && c == '"') fputs("&quot;", f);
      else fputc((int)c, f);
      s++;
      continue;
    }
    int len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? (c <= 0xef ? 3 : 0) : c >= 0xc2 ? 2 : 0;
    unsigned cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    bool ok = len > 0;
    for (int i = 1; ok && i < len; i++) {
      if ((s[i] & 0xc0) != 0x80) ok = false;
      else cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (ok) ok = !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10ffff)) &&
                 !(cp >= 0xd800 && cp <= 0xdfff) && cp != 0xfffe && cp != 0xffff;
    if (!ok) {
      fprintf(f, "\\x%02x", c);
      s++;
      continue;
    }
    fwrite(s, 1, (size_t)len, f);
    s += len;
  }
}

static void put_count(FILE *f, const emu_finding *it) {
  if (it->count > 1) fprintf(f, " (%zu times)", it->count);
}

void emu_report_print(const emu_report *r, FILE *f) {
  fprintf(f, "c4emu check ");
  put_text(f, r->path, false, NULL);
  fputc('\n', f);
  for (size_t i = 0; i < r->nruns; i++) {
    const emu_version_result *v = &r->runs[i];
    char ver[16];
    c4_osver_format(v->os, ver, sizeof ver);
    size_t bad = failing(r, v), warn = v->n - bad;
    if (bad == 0) fprintf(f, "  OS %-7s clean", ver);
    else fprintf(f, "  OS %-7s %zu problem%s", ver, bad, bad == 1 ? "" : "s");
    if (warn) fprintf(f, "%s%zu warning%s", bad ? ", " : " (", warn, warn == 1 ? "" : "s");
    fputs(warn && !bad ? ")\n" : "\n", f);
    for (size_t j = 0; j < v->n; j++) {
      fprintf(f, "    %-11s ", v->items[j].kind);
      put_text(f, v->items[j].text, false, "                ");
      put_count(f, &v->items[j]);
      fputc('\n', f);
    }
  }
  fprintf(f, "%s\n", emu_report_clean(r) ? "result: clean" : "result: problems found");
}

int emu_report_junit(const emu_report *r, const char *file) {
  FILE *f = fopen(file, "w");
  if (!f) return -1;
  size_t failures = 0;
  for (size_t i = 0; i < r->nruns; i++) failures += failing(r, &r->runs[i]) != 0;
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
  fprintf(f, "  <testsuite name=\"c4emu check ");
  put_text(f, r->path, true, NULL);
  fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n", r->nruns, failures);
  for (size_t i = 0; i < r->nruns; i++) {
    const emu_version_result *v = &r->runs[i];
    char ver[16];
    c4_osver_format(v->os, ver, sizeof ver);
    size_t bad = failing(r, v);
    fprintf(f, "    <testcase classname=\"c4emu.check\" name=\"OS %s\" time=\"%.3f\"", ver,
            v->seconds);
    if (v->n == 0) {
      fprintf(f, "/>\n");
      continue;
    }
    fputs(">\n", f);
    if (bad)
      fprintf(f, "      <failure message=\"%zu problem%s on OS %s\">", bad, bad == 1 ? "" : "s",
              ver);
    else
      fputs("      <system-out>", f); /* warnings only: the case passes, the text stays */
    for (size_t j = 0; j < v->n; j++) {
      put_text(f, v->items[j].kind, true, NULL);
      fputs(": ", f);
      put_text(f, v->items[j].text, true, NULL);
      put_count(f, &v->items[j]);
      fputc('\n', f);
    }
    fprintf(f, bad ? "</failure>\n    </testcase>\n" : "</system-out>\n    </testcase>\n");
  }
  fprintf(f, "  </testsuite>\n</testsuites>\n");
  return fclose(f) == 0 ? 0 : -1;
}

void emu_report_free(emu_report *r) {
  for (size_t i = 0; i < r->nruns; i++) {
    for (size_t j = 0; j < r->runs[i].n; j++) free(r->runs[i].items[j].text);
    free(r->runs[i].items);
  }
  free(r->runs);
  r->runs = NULL;
  r->nruns = 0;
}
