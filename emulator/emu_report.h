/*
 * emu_report.h — `c4emu check`: one run per OS version (load → init → 60
 * virtual seconds → destroy) and the findings of each, printed for a person
 * and written as JUnit XML for CI.
 */
#ifndef EMU_REPORT_H
#define EMU_REPORT_H

#include <stdio.h>
#include "emu_host.h"

typedef struct {
  char kind[16];   /* "error", "init-rule", "missing-api", "not-provided", "timeout", "warning" */
  char *text;
  bool warning;    /* a discouraged call: fails the check only with --strict */
  size_t count;    /* identical findings are kept once and counted */
} emu_finding;

typedef struct {
  c4_osver os;
  emu_finding *items;
  size_t n;
  double seconds;  /* wall time of the run */
} emu_version_result;

typedef struct {
  const char *path;
  emu_version_result *runs;
  size_t nruns;
  bool strict;     /* check --strict: warnings fail too */
} emu_report;

void emu_report_init(emu_report *r, const char *path);
/* Runs the driver on opt->os; returns -1 (reason printed) if it cannot run. */
int emu_report_check_one(emu_report *r, const emu_options *opt);
/* s4-files: the virtual time a check runs each driver (or project) for. */
#define EMU_CHECK_VIRTUAL_MS 60000
/* s4-files: records the findings of a run of ctx (destroyed, not freed: the
 * caller frees it) that began at t0 (uv_hrtime) as one more version result.
 * A project check runs its drivers together, then records each in its own
 * report. */
void emu_report_collect(emu_report *r, emu_ctx *ctx, int run_timeout_ms, uint64_t t0);
/* No finding that fails the check (warnings count only when strict). */
bool emu_report_clean(const emu_report *r);
void emu_report_print(const emu_report *r, FILE *f);
int emu_report_junit(const emu_report *r, const char *file);
void emu_report_free(emu_report *r);

#endif
