/*
 * emu_cmd_apis.c — `c4emu apis [--os V] [--markdown]`: the API coverage
 * table.  Every row of the OS-version table (c4api/c4_version.c) — each C4
 * API, object method, callback and host global the DriverWorks reference
 * names — with the version that added it and whether c4emu emulates it.
 *
 * "Emulated" is derived, never kept by hand:
 *   - a C4 method: the C4 table of a freshly loaded driver (newest OS) has it;
 *   - an object method ("C4LuaTcpClient:Write"): the metatable of that name
 *     in the same driver's state has the method;
 *   - a global ("hexdump", "string.pack"): the driver's state has it;
 *   - a callback: a family lists it in c4_family.callbacks, or the host calls
 *     it (emu_host_callbacks) — a spec checks those lists against the calls
 *     in the sources.
 * The driver is an empty package written to a temporary folder.
 *
 * Output is sorted (C4 methods, object methods, callbacks, globals; then by
 * name) so it does not depend on the order in which rows were merged.
 * --markdown prints the README's copy (tools/update-readme-apis.sh puts it
 * between the marker comments); --os V adds a column: available on V.
 */
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_host.h"
#include "c4api.h"

typedef struct {
  const c4_api_row *row;
  int group;     /* 0 C4 method, 1 object method, 2 callback, 3 global */
  bool emulated;
} api_line;

static const char *group_names[] = {"method", "object", "callback", "global"};

static bool in_list(const char *const *list, const char *name) {
  for (; list && *list; list++)
    if (strcmp(*list, name) == 0) return true;
  return false;
}

static bool callback_emulated(const char *name) {
  if (in_list(emu_host_callbacks, name)) return true;
  size_t n;
  const c4_family *const *fam = c4_families(&n);
  for (size_t i = 0; i < n; i++)
    if (in_list(fam[i]->callbacks, name)) return true;
  return false;
}

/* Whether the value at `path` ("hexdump", "string.pack") exists in L. */
static bool global_exists(lua_State *L, const char *path) {
  char part[128];
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  for (const char *p = path;;) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (n >= sizeof part || !lua_istable(L, -1)) {
      lua_pop(L, 1);
      return false;
    }
    memcpy(part, p, n);
    part[n] = '\0';
    lua_pushstring(L, part);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (!dot) break;
    p = dot + 1;
  }
  bool ok = !lua_isnil(L, -1);
  lua_pop(L, 1);
  return ok;
}

/* Whether metatable `type` has method `m` in its __index table. */
static bool object_method_exists(lua_State *L, const char *name) {
  const char *colon = strchr(name, ':');
  char type[128];
  size_t n = (size_t)(colon - name);
  if (n >= sizeof type) return false;
  memcpy(type, name, n);
  type[n] = '\0';
  luaL_getmetatable(L, type);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return false;
  }
  lua_getfield(L, -1, "__index");
  bool ok = false;
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, colon + 1);
    ok = !lua_isnil(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return ok;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  remove(path);
  return 0;
}

/* An empty driver in a temporary folder, loaded on the newest OS. */
static emu_ctx *load_probe_driver(char *dir, size_t dirsz) {
  snprintf(dir, dirsz, "/tmp/c4emu-apis-XXXXXX");
  if (!mkdtemp(dir)) return NULL;
  char path[256];
  snprintf(path, sizeof path, "%s/driver.xml", dir);
  FILE *f = fopen(path, "w");
  if (!f) return NULL;
  fputs("<devicedata><name>apis</name><driver>DriverWorks</driver>"
        "<config><script file=\"driver.lua\"/></config></devicedata>\n", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/driver.lua", dir);
  f = fopen(path, "w");
  if (!f) return NULL;
  fclose(f);
  emu_options opt = {.path = dir, .virtual_clock = true, .init_rule = EMU_RULE_OFF,
                     .log_level = EMU_LOG_ERROR, .bind_addr = "127.0.0.1"};
  char err[512];
  emu_ctx *ctx = emu_driver_load(&opt, err, sizeof err);
  if (!ctx) fprintf(stderr, "c4emu apis: %s\n", err);
  return ctx;
}

static int line_order(const void *pa, const void *pb) {
  const api_line *a = pa, *b = pb;
  if (a->group != b->group) return a->group - b->group;
  return strcmp(a->row->api, b->row->api);
}

/* The name as a driver writes it. */
static void display_name(const api_line *l, char *out, size_t n) {
  if (l->group == 0) snprintf(out, n, "C4:%s", l->row->api);
  else snprintf(out, n, "%s", l->row->api);
}

static const char *since_text(c4_osver since, char *v, size_t n) {
  return since ? c4_osver_format(since, v, n) : "all";
}

static void print_features(FILE *out, bool md) {
  char v[16];
  fprintf(out, md ? "| behaviour | since |\n| --- | --- |\n"
                  : "\nbehaviour that changed with a version:\n");
  for (int f = 0; f < C4F__COUNT; f++) {
    c4_osver since;
    const char *what = c4_feature_what((c4_feature)f, &since);
    c4_osver_format(since, v, sizeof v);
    if (md) fprintf(out, "| %s | %s |\n", what, v);
    else fprintf(out, "  %-7s %s\n", v, what);
  }
}

/* One row per API, with its note; --os adds "available on V". */
static void print_text(FILE *out, const api_line *lines, size_t n, c4_osver os) {
  char v[16], onv[32], name[160];
  size_t emulated = 0;
  snprintf(onv, sizeof onv, "on %s", os ? c4_osver_format(os, v, sizeof v) : "");
  fprintf(out, "%-40s %-8s %-7s %-8s ", "API", "kind", "since", "c4emu");
  if (os) fprintf(out, "%-7s ", onv);
  fprintf(out, "note\n");
  for (size_t i = 0; i < n; i++) {
    const api_line *l = &lines[i];
    emulated += l->emulated;
    display_name(l, name, sizeof name);
    fprintf(out, "%-40s %-8s %-7s %-8s ", name, group_names[l->group],
            since_text(l->row->since, v, sizeof v), l->emulated ? "yes" : "not yet");
    if (os) fprintf(out, "%-7s ", l->row->since <= os ? "yes" : "no");
    fprintf(out, "%s\n", l->row->note ? l->row->note : "");
  }
  fprintf(out, "\n%zu of %zu emulated.\n", emulated, n);
  print_features(out, false);
  fprintf(out, "\nknown OS versions: %s (the last is the default)\n", c4_osver_known());
}

static int by_since_then_name(const void *pa, const void *pb) {
  const api_line *a = *(const api_line *const *)pa, *b = *(const api_line *const *)pb;
  if (a->row->since != b->row->since) return a->row->since < b->row->since ? -1 : 1;
  return strcmp(a->row->api, b->row->api);
}

/* The names of group g that came with `since`, emulated or not, as one cell. */
static void print_cell(FILE *out, const api_line *const *v, size_t n, c4_osver since, bool emu) {
  bool first = true;
  for (size_t i = 0; i < n; i++) {
    if (v[i]->row->since != since || v[i]->emulated != emu) continue;
    fprintf(out, "%s`%s`", first ? " " : ", ", v[i]->row->api);
    first = false;
  }
  fprintf(out, " |");
}

/*
 * The README's form: per kind, one line per OS version that added something,
 * with what c4emu emulates and what not yet (the notes stay in the text
 * form).  --os V keeps what V has.
 */
static void print_markdown(FILE *out, const api_line *lines, size_t n, c4_osver os) {
  static const char *headings[] = {"`C4:` methods", "Object methods",
                                   "Callbacks (the driver defines them; c4emu calls them)",
                                   "Globals the host creates"};
  const api_line **v = malloc((n ? n : 1) * sizeof *v);
  if (!v) return;
  char ver[16];
  size_t emulated = 0, shown = 0;
  for (int g = 0; g < 4; g++) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (lines[i].group == g && (!os || lines[i].row->since <= os)) v[k++] = &lines[i];
    qsort(v, k, sizeof *v, by_since_then_name);
    fprintf(out, "**%s**\n\n| since | emulated | not yet |\n| --- | --- | --- |\n", headings[g]);
    for (size_t i = 0; i < k; i++) {
      emulated += v[i]->emulated;
      shown++;
      if (i > 0 && v[i]->row->since == v[i - 1]->row->since) continue;
      c4_osver since = v[i]->row->since;
      fprintf(out, "| %s |", since ? c4_osver_format(since, ver, sizeof ver) : "all versions");
      print_cell(out, v, k, since, true);
      print_cell(out, v, k, since, false);
      fprintf(out, "\n");
    }
    fprintf(out, "\n");
  }
  free(v);
  if (os) fprintf(out, "On OS %s: ", c4_osver_format(os, ver, sizeof ver));
  fprintf(out, "%zu of %zu emulated. Behaviour that changed with a version:\n\n", emulated, shown);
  print_features(out, true);
  fprintf(out, "\nKnown OS versions: %s (the last is the default).\n", c4_osver_known());
}

int emu_cmd_apis(int argc, char **argv) {
  static const struct option lo[] = {
      {"os", required_argument, NULL, 'o'},
      {"markdown", no_argument, NULL, 'm'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  bool md = false;
  c4_osver os = 0;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    switch (c) {
    case 'o':
      if (c4_osver_parse(optarg, &os) != 0) {
        fprintf(stderr, "c4emu: apis: unknown OS version '%s'; known: %s (see c4emu --help)\n",
                optarg, c4_osver_known());
        return 2;
      }
      break;
    case 'm': md = true; break;
    case 'h':
      printf("usage: c4emu apis [--os VERSION] [--markdown]\n"
             "  the C4 APIs and callbacks of the DriverWorks reference: since which OS\n"
             "  version, and whether c4emu emulates them; --os adds 'available on VERSION'\n");
      return 0;
    default:
      fprintf(stderr, "c4emu: apis: unknown option '%s' (see c4emu --help)\n", argv[optind - 1]);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "c4emu: apis: unexpected argument '%s' (see c4emu --help)\n", argv[optind]);
    return 2;
  }
  char dir[64];
  emu_ctx *ctx = load_probe_driver(dir, sizeof dir);
  int rc = 2;
  if (ctx) {
    size_t nm, nc, ng;
    const c4_api_row *methods = c4_api_rows(C4_ROW_METHOD, &nm);
    const c4_api_row *callbacks = c4_api_rows(C4_ROW_CALLBACK, &nc);
    const c4_api_row *globals = c4_api_rows(C4_ROW_GLOBAL, &ng);
    size_t n = nm + nc + ng;
    api_line *lines = calloc(n ? n : 1, sizeof *lines);
    if (lines) {
      lua_State *L = ctx->L;
      lua_getglobal(L, "C4");
      for (size_t i = 0; i < n; i++) {
        api_line *l = &lines[i];
        if (i < nm) {
          l->row = &methods[i];
          if (strchr(l->row->api, ':')) {
            l->group = 1;
            l->emulated = object_method_exists(L, l->row->api);
          } else {
            l->group = 0;
            lua_pushstring(L, l->row->api); /* raw: C4's __index would note a miss */
            lua_rawget(L, -2);
            l->emulated = !lua_isnil(L, -1);
            lua_pop(L, 1);
          }
        } else if (i < nm + nc) {
          l->row = &callbacks[i - nm];
          l->group = 2;
          l->emulated = callback_emulated(l->row->api);
        } else {
          l->row = &globals[i - nm - nc];
          l->group = 3;
          l->emulated = global_exists(L, l->row->api);
        }
      }
      lua_pop(L, 1);
      qsort(lines, n, sizeof *lines, line_order);
      if (md) print_markdown(stdout, lines, n, os);
      else print_text(stdout, lines, n, os);
      free(lines);
      rc = 0;
    }
    emu_driver_free(ctx);
  }
  nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  return rc;
}
