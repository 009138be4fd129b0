/*
 * emu_log.c — the driver's log: timestamped, levelled lines on stderr
 * (coloured on a terminal) and a capture of every line for specs, plus the
 * records `c4emu check` and specs read: uncaught driver errors and notes.
 *
 * Stamps are the real time, or in virtual time (and whenever a start epoch
 * was given) the emulator's wall time: the start epoch plus the clock.
 *
 * The capture is bounded: past EMU_LOG_KEEP lines the oldest half is dropped,
 * so a chatty driver under a long virtual run cannot eat memory.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include "emu_host.h"

#define EMU_LOG_KEEP 20000

static const char *level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const char *level_colors[] = {"\033[31m", "\033[33m", "", "\033[2m"};

const char *emu_level_name(emu_level lvl) {
  return level_names[lvl];
}

/* Grows *arr (of elem-size items) so that one more fits. */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap) return arr;
  size_t ncap = *cap ? *cap * 2 : 16;
  void *p = realloc(arr, ncap * elem);
  if (!p) abort(); /* out of memory: nothing sensible left to do */
  *cap = ncap;
  return p;
}

static void print_line(emu_ctx *ctx, emu_level lvl, const char *text) {
  struct emu_host *h = ctx->host;
  if (h->log_sink) h->log_sink(ctx, lvl, text);
  if (!h->opt.log_stderr || lvl > h->opt.log_level) return;
  /* In virtual time (or with a start epoch) the stamp is the emulator's wall
   * time, so the log agrees with the driver's os.date(). */
  int64_t ms;
  if (ctx->virtual_clock || h->opt.has_epoch) {
    ms = emu_epoch_ms(ctx);
  } else {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
  }
  time_t secs = (time_t)(ms / 1000 - (ms % 1000 < 0));
  long milli = (long)(ms - (int64_t)secs * 1000);
  struct tm tm;
  localtime_r(&secs, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  if (h->log_hide) h->log_hide(h->log_ud);
  /* issue 11: in a project each line carries its driver's name */
  const char *who = h->own_name ? h->own_name : "", *sep = h->own_name ? " " : "";
  if (h->opt.log_color)
    fprintf(stderr, "\033[2m%s.%03ld\033[0m %s%-5s %s%s%s\033[0m\n", stamp, milli,
            level_colors[lvl], level_names[lvl], who, sep, text);
  else
    fprintf(stderr, "%s.%03ld %-5s %s%s%s\n", stamp, milli, level_names[lvl], who, sep, text);
  if (h->log_show) h->log_show(h->log_ud);
}

static void store_line(emu_ctx *ctx, emu_level lvl, const char *text) {
  struct emu_host *h = ctx->host;
  if (h->nlog >= EMU_LOG_KEEP) {
    size_t drop = h->nlog / 2;
    for (size_t i = 0; i < drop; i++) free(h->log[i].text);
    memmove(h->log, h->log + drop, (h->nlog - drop) * sizeof *h->log);
    h->nlog -= drop;
  }
  h->log = grow(h->log, &h->caplog, h->nlog, sizeof *h->log);
  h->log[h->nlog++] = (emu_logline){lvl, emu_now(ctx), strdup(text)};
}

static void log_text(emu_ctx *ctx, emu_level lvl, const char *text) {
  store_line(ctx, lvl, text);
  print_line(ctx, lvl, text);
}

void emu_log(emu_ctx *ctx, emu_level lvl, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < (int)sizeof buf) {
    log_text(ctx, lvl, buf);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) return;
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  log_text(ctx, lvl, big);
  free(big);
}

/* Records a note (key NULL: not counted) and logs it as a warning. */
static void add_note(emu_ctx *ctx, emu_note_kind kind, const char *key, const char *fmt,
                     va_list ap) {
  struct emu_host *h = ctx->host;
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  h->notes = grow(h->notes, &h->capnotes, h->nnotes, sizeof *h->notes);
  h->notes[h->nnotes++] = (emu_noteline){kind, strdup(buf), key ? strdup(key) : NULL, 1};
  log_text(ctx, EMU_LOG_WARN, buf);
}

void emu_note(emu_ctx *ctx, emu_note_kind kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  add_note(ctx, kind, NULL, fmt, ap);
  va_end(ap);
}

void emu_note_counted(emu_ctx *ctx, emu_note_kind kind, const char *key, const char *fmt, ...) {
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nnotes; i++) {
    if (h->notes[i].kind == kind && h->notes[i].key && strcmp(h->notes[i].key, key) == 0) {
      h->notes[i].count++;
      return;
    }
  }
  va_list ap;
  va_start(ap, fmt);
  add_note(ctx, kind, key, fmt, ap);
  va_end(ap);
}

const char *emu_note_kind_name(emu_note_kind kind) {
  switch (kind) {
  case EMU_NOTE_RULE: return "init-rule";
  case EMU_NOTE_MISSING_API: return "missing-api";
  case EMU_NOTE_NOT_PROVIDED: return "not-provided";
  case EMU_NOTE_RULE_DISCOURAGED: return "init-rule"; /* a warning of the same rule */
  case EMU_NOTE_PACKAGE: return "package";
  }
  return "note";
}

const char *emu_note_level_name(emu_note_kind kind) {
  return kind == EMU_NOTE_RULE_DISCOURAGED || kind == EMU_NOTE_PACKAGE ? "warning" : "error";
}

void emu_notes_push(emu_ctx *ctx, lua_State *L) {
  struct emu_host *h = ctx->host;
  lua_createtable(L, (int)h->nnotes, 0);
  for (size_t i = 0; i < h->nnotes; i++) {
    lua_createtable(L, 0, 4);
    lua_pushstring(L, emu_note_kind_name(h->notes[i].kind));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, emu_note_level_name(h->notes[i].kind));
    lua_setfield(L, -2, "level");
    lua_pushstring(L, h->notes[i].text);
    lua_setfield(L, -2, "text");
    lua_pushinteger(L, h->notes[i].count);
    lua_setfield(L, -2, "count");
    lua_rawseti(L, -2, (int)i + 1);
  }
}

void emu_record_error(emu_ctx *ctx, const char *where, const char *msg, const char *tb) {
  struct emu_host *h = ctx->host;
  h->errors = grow(h->errors, &h->caperrors, h->nerrors, sizeof *h->errors);
  h->errors[h->nerrors++] = (emu_error){strdup(where), strdup(msg), strdup(tb ? tb : "")};
  emu_log(ctx, EMU_LOG_ERROR, "error in %s: %s%s%s", where, msg, tb && *tb ? "\n" : "",
          tb ? tb : "");
}

void emu_log_free(emu_ctx *ctx) {
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nlog; i++) free(h->log[i].text);
  for (size_t i = 0; i < h->nerrors; i++) {
    free(h->errors[i].where);
    free(h->errors[i].message);
    free(h->errors[i].traceback);
  }
  for (size_t i = 0; i < h->nnotes; i++) {
    free(h->notes[i].text);
    free(h->notes[i].key);
  }
  free(h->log);
  free(h->errors);
  free(h->notes);
  h->log = NULL;
  h->errors = NULL;
  h->notes = NULL;
  h->nlog = h->nerrors = h->nnotes = 0;
  h->caplog = h->caperrors = h->capnotes = 0;
}
