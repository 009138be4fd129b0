/*
 * emu_report.c — runs `c4emu check` for one OS version and keeps what it
 * found: uncaught driver errors (with tracebacks), init-rule violations and
 * reads of C4 APIs the version lacks.
 */
#include <stdlib.h>
#include <string.h>

#include "emu_report.h"
#include "c4api.h"

#define CHECK_VIRTUAL_MS 60000

void emu_report_init(emu_report *r, const char *path) {
  memset(r, 0, sizeof *r);
  r->path = path;
}

static void add(emu_version_result *v, const char *kind, const char *text) {
  emu_finding *p = realloc(v->items, (v->n + 1) * sizeof *p);
  if (!p) abort();
  v->items = p;
  snprintf(p[v->n].kind, sizeof p[v->n].kind, "%s", kind);
  p[v->n++].text = strdup(text);
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
  for (size_t i = 0; i < h->nnotes; i++)
    add(v, h->notes[i].kind == EMU_NOTE_RULE ? "init-rule" : "missing-api", h->notes[i].text);
  if (emu_handles_open(ctx) != 0) add(v, "error", "handles still open after OnDriverDestroyed");
  if (h->run_timed_out) {
    char text[128];
    snprintf(text, sizeof text, "the run did not finish within %.0f s (--timeout S)",
             opt->run_timeout_ms / 1000.0);
    add(v, "timeout", text);
  }
  emu_driver_free(ctx);
  v->seconds = (double)(uv_hrtime() - t0) / 1e9;
  return 0;
}

bool emu_report_clean(const emu_report *r) {
  for (size_t i = 0; i < r->nruns; i++)
    if (r->runs[i].n) return false;
  return true;
}

void emu_report_print(const emu_report *r, FILE *f) {
  fprintf(f, "c4emu check %s\n", r->path);
  for (size_t i = 0; i < r->nruns; i++) {
    const emu_version_result *v = &r->runs[i];
    char ver[16];
    c4_osver_format(v->os, ver, sizeof ver);
    if (v->n == 0) {
      fprintf(f, "  OS %-7s clean\n", ver);
      continue;
    }
    fprintf(f, "  OS %-7s %zu problem%s\n", ver, v->n, v->n == 1 ? "" : "s");
    for (size_t j = 0; j < v->n; j++) {
      fprintf(f, "    %-11s ", v->items[j].kind);
      for (const char *s = v->items[j].text; *s; s++) {
        fputc(*s, f);
        if (*s == '\n') fputs("                ", f);
      }
      fputc('\n', f);
    }
  }
  fprintf(f, "%s\n", emu_report_clean(r) ? "result: clean" : "result: problems found");
}

static void xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    default:
      if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') fprintf(f, "&#%d;", *s);
      else fputc(*s, f);
    }
  }
}

int emu_report_junit(const emu_report *r, const char *file) {
  FILE *f = fopen(file, "w");
  if (!f) return -1;
  size_t failures = 0;
  for (size_t i = 0; i < r->nruns; i++) failures += r->runs[i].n != 0;
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
  fprintf(f, "  <testsuite name=\"c4emu check ");
  xml_text(f, r->path);
  fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n", r->nruns, failures);
  for (size_t i = 0; i < r->nruns; i++) {
    const emu_version_result *v = &r->runs[i];
    char ver[16];
    c4_osver_format(v->os, ver, sizeof ver);
    fprintf(f, "    <testcase classname=\"c4emu.check\" name=\"OS %s\" time=\"%.3f\"", ver,
            v->seconds);
    if (v->n == 0) {
      fprintf(f, "/>\n");
      continue;
    }
    fprintf(f, ">\n      <failure message=\"%zu problem%s on OS %s\">", v->n,
            v->n == 1 ? "" : "s", ver);
    for (size_t j = 0; j < v->n; j++) {
      xml_text(f, v->items[j].kind);
      fputs(": ", f);
      xml_text(f, v->items[j].text);
      fputc('\n', f);
    }
    fprintf(f, "</failure>\n    </testcase>\n");
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
