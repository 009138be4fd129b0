/*
 * emu_state.c — the sections of the console's State view.  The host shows
 * its own (driver timers, open native handles, the notes); API families add
 * theirs with emu_state_section_add (servers, TCP objects, the Director's
 * variables, events and project; proxy messages and network bindings when
 * their families land).  A section is a name, its
 * columns and a function that pushes the rows: the console renders every
 * section the same way, so a new one needs no change to the page.
 */
#include <stdlib.h>
#include <string.h>

#include "emu_host.h"

void emu_state_section_add(emu_ctx *ctx, const char *name, const char *columns,
                           emu_state_fn fn, void *data) {
  struct emu_host *h = ctx->host;
  if (h->nsections == h->capsections) {
    size_t ncap = h->capsections ? h->capsections * 2 : 8;
    struct emu_state_section *p = realloc(h->sections, ncap * sizeof *p);
    if (!p) abort();
    h->sections = p;
    h->capsections = ncap;
  }
  h->sections[h->nsections++] = (struct emu_state_section){strdup(name), strdup(columns), fn, data};
}

void emu_state_section_remove(emu_ctx *ctx, emu_state_fn fn, void *data) {
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nsections; i++) {
    if (h->sections[i].fn != fn || h->sections[i].data != data) continue;
    free(h->sections[i].name);
    free(h->sections[i].columns);
    memmove(h->sections + i, h->sections + i + 1, (h->nsections - i - 1) * sizeof *h->sections);
    h->nsections--;
    return;
  }
}

void emu_state_free(emu_ctx *ctx) {
  struct emu_host *h = ctx->host;
  for (size_t i = 0; i < h->nsections; i++) {
    free(h->sections[i].name);
    free(h->sections[i].columns);
  }
  free(h->sections);
  h->sections = NULL;
  h->nsections = h->capsections = 0;
}

/* ---- built-in sections -------------------------------------------------- */

typedef struct {
  lua_State *L;
  emu_ctx *ctx;
  int n;
} rows_walk;

static void timer_row(emu_sched *s, void *ud) {
  rows_walk *w = ud;
  const char *kind = emu_sched_kind(s);
  if (!kind) return; /* an internal entry, not a driver timer */
  uint64_t due = emu_sched_due(s), now = emu_now(w->ctx);
  lua_createtable(w->L, 0, 4);
  lua_pushstring(w->L, kind);
  lua_setfield(w->L, -2, "kind");
  lua_pushnumber(w->L, (lua_Number)due);
  lua_setfield(w->L, -2, "due_ms");
  lua_pushnumber(w->L, due > now ? (lua_Number)(due - now) : 0);
  lua_setfield(w->L, -2, "in_ms");
  lua_pushnumber(w->L, (lua_Number)emu_sched_period(s));
  lua_setfield(w->L, -2, "period_ms");
  lua_rawseti(w->L, -2, ++w->n);
}

static void timers_rows(emu_ctx *ctx, void *data, lua_State *L) {
  (void)data;
  lua_newtable(L);
  rows_walk w = {L, ctx, 0};
  emu_clock_each(ctx, timer_row, &w);
}

static void handles_rows(emu_ctx *ctx, void *data, lua_State *L) {
  (void)data;
  struct emu_host *h = ctx->host;
  lua_newtable(L);
  int n = 0;
  for (size_t i = 0; i < h->nhandle_kinds; i++) {
    if (h->handles[i].count == 0) continue;
    lua_createtable(L, 0, 2);
    lua_pushstring(L, h->handles[i].kind);
    lua_setfield(L, -2, "kind");
    lua_pushnumber(L, (lua_Number)h->handles[i].count);
    lua_setfield(L, -2, "open");
    lua_rawseti(L, -2, ++n);
  }
}

/* issue 17: the findings d:notes() and `c4emu check` report, as they come. */
static void notes_rows(emu_ctx *ctx, void *data, lua_State *L) {
  (void)data;
  emu_notes_push(ctx, L);
}

static void push_section(emu_ctx *ctx, lua_State *L, const char *name, const char *columns,
                         emu_state_fn fn, void *data, int index) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  lua_newtable(L);
  int nc = 0;
  for (const char *p = columns; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    lua_pushlstring(L, p, len);
    lua_rawseti(L, -2, ++nc);
    p += len + (e ? 1 : 0);
  }
  lua_setfield(L, -2, "columns");
  fn(ctx, data, L);
  lua_setfield(L, -2, "rows");
  lua_rawseti(L, -2, index);
}

void emu_state_push_sections(emu_ctx *ctx, lua_State *L) {
  struct emu_host *h = ctx->host;
  lua_newtable(L);
  int n = 0;
  push_section(ctx, L, "timers", "kind,in_ms,due_ms,period_ms", timers_rows, NULL, ++n);
  push_section(ctx, L, "handles", "kind,open", handles_rows, NULL, ++n);
  push_section(ctx, L, "notes", "kind,level,text,count", notes_rows, NULL, ++n);
  for (size_t i = 0; i < h->nsections; i++)
    push_section(ctx, L, h->sections[i].name, h->sections[i].columns, h->sections[i].fn,
                 h->sections[i].data, ++n);
}
