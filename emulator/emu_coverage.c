/*
 * emu_coverage.c — which lines of the driver's own Lua files ran.
 *
 * The watchdog's hook (emu_watchdog.c) also takes line events when coverage
 * is on; each event of a function whose source is one of the package's files
 * counts one hit, in this driver's table (d:coverage()) and in one
 * process-wide collection that `c4emu check --coverage FILE` and
 * C4EMU_COVERAGE=FILE (a whole busted run) write out.
 *
 * Which lines can run at all (LCOV's DA lines with 0 hits) comes from the
 * compiler: every .lua file of the package is compiled in a scratch state,
 * dumped with lua_dump, and the line of each instruction of each function
 * (the dump's line info) is an executable line.  That is exactly where the
 * line hook can fire, so the two always agree.
 *
 * Paths are package-relative ("driver.lua", "lib/util.lua").  A collection
 * that holds more than one package (specs that load several drivers)
 * prefixes each path with the package as it was loaded
 * ("fixtures/drivers/chat/driver.lua"), which for a driver folder is again a
 * path genhtml can read from the working folder.
 *
 * Formats: LCOV (genhtml renders it), or luacov's stats format when the file
 * name ends in ".out" (luacov.stats.out; luacov's reporters read it).
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "emu_host.h"

/* One file of one package in the process-wide collection. */
typedef struct {
  char *package;   /* the path the package was loaded from */
  char *name;      /* package-relative */
  uint64_t *hits;  /* by line, [0] unused */
  uint8_t *exec;   /* 1: the compiler put an instruction on this line */
  size_t n;        /* lines allocated */
} cov_file;

static struct {
  cov_file *files;
  size_t n, cap;
  bool exit_hook;
} all;

/* A source string the hook has seen, and the file it maps to (-1: not ours). */
typedef struct {
  const char *ptr; /* identity of the interned source string */
  char *text;      /* its text, to be sure a recycled address is not taken */
  long file;
  uint64_t *hits;  /* this driver's hits for the file */
  size_t n;
} cov_source;

struct emu_cov {
  char *package;
  cov_source *src;
  size_t nsrc, capsrc;
  long last;       /* index into src of the last source seen */
};

static void grow_lines(uint64_t **hits, uint8_t **exec, size_t *n, size_t need) {
  if (need < *n) return;
  size_t nn = *n ? *n : 64;
  while (nn <= need) nn *= 2;
  uint64_t *h = realloc(*hits, nn * sizeof *h);
  if (!h) abort();
  memset(h + *n, 0, (nn - *n) * sizeof *h);
  *hits = h;
  if (exec) {
    uint8_t *e = realloc(*exec, nn);
    if (!e) abort();
    memset(e + *n, 0, nn - *n);
    *exec = e;
  }
  *n = nn;
}

static long find_file(const char *package, const char *name, bool create) {
  for (size_t i = 0; i < all.n; i++)
    if (strcmp(all.files[i].name, name) == 0 && strcmp(all.files[i].package, package) == 0)
      return (long)i;
  if (!create) return -1;
  if (all.n == all.cap) {
    all.cap = all.cap ? all.cap * 2 : 16;
    all.files = realloc(all.files, all.cap * sizeof *all.files);
    if (!all.files) abort();
  }
  all.files[all.n] = (cov_file){strdup(package), strdup(name), NULL, NULL, 0};
  return (long)all.n++;
}

/* ---- executable lines from the compiler's dump ------------------------- */

typedef struct {
  const unsigned char *p, *end;
  int int_size, size_t_size, num_size;
  bool bad;
} dump_reader;

static uint64_t read_n(dump_reader *r, int size) {
  if (r->bad || r->end - r->p < size) {
    r->bad = true;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < size; i++) v |= (uint64_t)r->p[i] << (8 * i); /* little endian */
  r->p += size;
  return v;
}

static void skip(dump_reader *r, uint64_t n) {
  if (r->bad || (uint64_t)(r->end - r->p) < n) r->bad = true;
  else r->p += n;
}

static void skip_string(dump_reader *r) { skip(r, read_n(r, r->size_t_size)); }

/* One function of a Lua 5.1 dump (lundump.c's layout); marks its lines. */
static void read_function(dump_reader *r, long file, int depth) {
  if (depth > 200) {
    r->bad = true;
    return;
  }
  skip_string(r);                   /* source */
  skip(r, 2 * (uint64_t)r->int_size); /* linedefined, lastlinedefined */
  skip(r, 4);                       /* nups, numparams, is_vararg, maxstacksize */
  skip(r, read_n(r, r->int_size) * 4); /* code */
  uint64_t nk = read_n(r, r->int_size);
  for (uint64_t i = 0; i < nk && !r->bad; i++) {
    switch (read_n(r, 1)) {
    case LUA_TNIL: break;
    case LUA_TBOOLEAN: skip(r, 1); break;
    case LUA_TNUMBER: skip(r, (uint64_t)r->num_size); break;
    case LUA_TSTRING: skip_string(r); break;
    default: r->bad = true;
    }
  }
  uint64_t np = read_n(r, r->int_size);
  for (uint64_t i = 0; i < np && !r->bad; i++) read_function(r, file, depth + 1);
  uint64_t nl = read_n(r, r->int_size);
  cov_file *f = &all.files[file];
  for (uint64_t i = 0; i < nl && !r->bad; i++) {
    size_t line = (size_t)read_n(r, r->int_size);
    if (line == 0 || line > 10000000) continue;
    grow_lines(&f->hits, &f->exec, &f->n, line);
    f->exec[line] = 1;
  }
  uint64_t nv = read_n(r, r->int_size);
  for (uint64_t i = 0; i < nv && !r->bad; i++) {
    skip_string(r);
    skip(r, 2 * (uint64_t)r->int_size);
  }
  uint64_t nu = read_n(r, r->int_size);
  for (uint64_t i = 0; i < nu && !r->bad; i++) skip_string(r);
}

typedef struct {
  unsigned char *buf;
  size_t n, cap;
} dump_buf;

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  dump_buf *b = ud;
  if (b->n + sz > b->cap) {
    size_t nc = (b->cap + sz) * 2;
    unsigned char *q = realloc(b->buf, nc);
    if (!q) return 1;
    b->buf = q;
    b->cap = nc;
  }
  memcpy(b->buf + b->n, p, sz);
  b->n += sz;
  return 0;
}

/* Compiles one file in a scratch state and marks its executable lines. */
static void mark_executable(const char *package, const char *full, const char *rel) {
  lua_State *S = luaL_newstate();
  if (!S) return;
  if (luaL_loadfile(S, full) == 0) { /* a file that does not compile has no lines */
    dump_buf b = {0};
    if (lua_dump(S, dump_writer, &b) == 0 && b.n > 12) {
      dump_reader r = {b.buf + 12, b.buf + b.n, b.buf[7], b.buf[8], b.buf[10], false};
      if (b.buf[6] == 1 && r.int_size == 4) /* little endian, 4-byte int: Debian's build */
        read_function(&r, find_file(package, rel, true), 0);
    }
    free(b.buf);
  }
  lua_close(S);
}

static const char *scan_package, *scan_root;

static int scan_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  size_t n = strlen(path), rn = strlen(scan_root);
  if (flag != FTW_F || n < 4 || strcmp(path + n - 4, ".lua") != 0) return 0;
  if (strncmp(path, scan_root, rn) != 0 || path[rn] != '/') return 0;
  if (find_file(scan_package, path + rn + 1, false) < 0)
    mark_executable(scan_package, path, path + rn + 1);
  return 0;
}

/* ---- the hook side ----------------------------------------------------- */

static void write_env_file(void) {
  const char *file = getenv("C4EMU_COVERAGE");
  if (file && *file && emu_coverage_write(file) != 0)
    fprintf(stderr, "c4emu: cannot write coverage to %s: %s\n", file, strerror(errno));
}

/* At exit — or when the spec module is unloaded (lua_close → dlclose runs the
 * handlers the library registered): write, then free the collection. */
static void write_at_exit(void) {
  write_env_file();
  for (size_t i = 0; i < all.n; i++) {
    free(all.files[i].package);
    free(all.files[i].name);
    free(all.files[i].hits);
    free(all.files[i].exec);
  }
  free(all.files);
  all.files = NULL;
  all.n = all.cap = 0;
}

struct emu_cov *emu_coverage_new(emu_ctx *ctx) {
  struct emu_cov *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  const char *path = ctx->host->opt.path;
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  c->package = strndup(path, n);
  c->last = -1;
  /* Executable lines of every .lua file, once per package and process. */
  scan_package = c->package;
  scan_root = ctx->pkg_dir;
  nftw(ctx->pkg_dir, scan_entry, 16, FTW_PHYS);
  if (!all.exit_hook) {
    all.exit_hook = true;
    atexit(write_at_exit); /* busted ends with os.exit: no __gc runs */
  }
  return c;
}

/* The package-relative name of a chunk source, or NULL if not the driver's. */
static const char *driver_file(emu_ctx *ctx, const char *source) {
  if (source[0] != '@') return NULL; /* "=console", "=eval", strings */
  const char *path = source + 1;
  size_t rn = strlen(ctx->pkg_dir);
  if (strncmp(path, ctx->pkg_dir, rn) == 0 && path[rn] == '/') return path + rn + 1;
  return path[0] == '/' ? NULL : path; /* the main script is loaded as "@driver.lua" */
}

static long source_index(emu_ctx *ctx, struct emu_cov *c, const char *source) {
  for (size_t i = 0; i < c->nsrc; i++)
    if (c->src[i].ptr == source && strcmp(c->src[i].text, source) == 0) return (long)i;
  if (c->nsrc == c->capsrc) {
    c->capsrc = c->capsrc ? c->capsrc * 2 : 8;
    c->src = realloc(c->src, c->capsrc * sizeof *c->src);
    if (!c->src) abort();
  }
  const char *rel = driver_file(ctx, source);
  c->src[c->nsrc] = (cov_source){source, strdup(source),
                                 rel ? find_file(c->package, rel, true) : -1, NULL, 0};
  return (long)c->nsrc++;
}

void emu_coverage_line(emu_ctx *ctx, lua_State *L, lua_Debug *ar) {
  struct emu_cov *c = ctx->host->coverage;
  if (!lua_getinfo(L, "S", ar) || ar->currentline <= 0) return;
  long i = c->last;
  if (i < 0 || c->src[i].ptr != ar->source || strcmp(c->src[i].text, ar->source) != 0)
    c->last = i = source_index(ctx, c, ar->source);
  cov_source *s = &c->src[i];
  if (s->file < 0) return;
  size_t line = (size_t)ar->currentline;
  grow_lines(&s->hits, NULL, &s->n, line);
  s->hits[line]++;
  cov_file *f = &all.files[s->file];
  grow_lines(&f->hits, &f->exec, &f->n, line);
  f->hits[line]++;
}

void emu_coverage_push(emu_ctx *ctx, lua_State *L) {
  struct emu_cov *c = ctx->host->coverage;
  lua_newtable(L);
  if (!c) return;
  for (size_t i = 0; i < c->nsrc; i++) {
    cov_source *s = &c->src[i];
    if (s->file < 0) continue;
    lua_getfield(L, -1, all.files[s->file].name);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, all.files[s->file].name);
    }
    for (size_t line = 1; line < s->n; line++) {
      if (!s->hits[line]) continue;
      lua_rawgeti(L, -1, (int)line);
      lua_Number before = lua_tonumber(L, -1);
      lua_pop(L, 1);
      lua_pushnumber(L, before + (lua_Number)s->hits[line]);
      lua_rawseti(L, -2, (int)line);
    }
    lua_pop(L, 1);
  }
}

void emu_coverage_finish(emu_ctx *ctx) {
  struct emu_cov *c = ctx->host->coverage;
  if (!c) return;
  for (size_t i = 0; i < c->nsrc; i++) {
    free(c->src[i].text);
    free(c->src[i].hits);
  }
  free(c->src);
  free(c->package);
  free(c);
  ctx->host->coverage = NULL;
  write_env_file(); /* also now: a run that crashes later keeps what it had */
}

/* ---- writing ----------------------------------------------------------- */

/* The path written for f: package-relative, or prefixed by the package. */
static void file_path(const cov_file *f, bool one_package, char *out, size_t n) {
  if (one_package) snprintf(out, n, "%s", f->name);
  else snprintf(out, n, "%s/%s", f->package, f->name);
}

int emu_coverage_write(const char *file) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp%d", file, (int)getpid());
  FILE *out = fopen(tmp, "w");
  if (!out) return -1;
  bool one_package = true;
  for (size_t i = 1; i < all.n; i++)
    if (strcmp(all.files[i].package, all.files[0].package) != 0) one_package = false;
  size_t len = strlen(file);
  bool luacov = len >= 4 && strcmp(file + len - 4, ".out") == 0;
  for (size_t i = 0; i < all.n; i++) {
    const cov_file *f = &all.files[i];
    char path[4096];
    file_path(f, one_package, path, sizeof path);
    if (luacov) { /* "<max>:<name>" then the hits of lines 1..max */
      size_t max = 0;
      for (size_t l = 1; l < f->n; l++)
        if (f->hits[l]) max = l;
      fprintf(out, "%zu:%s\n", max, path);
      for (size_t l = 1; l <= max; l++) fprintf(out, "%llu ", (unsigned long long)f->hits[l]);
      fputc('\n', out);
      continue;
    }
    size_t found = 0, hit = 0;
    fprintf(out, "TN:\nSF:%s\n", path);
    for (size_t l = 1; l < f->n; l++) {
      if (!f->exec[l] && !f->hits[l]) continue;
      found++;
      hit += f->hits[l] != 0;
      fprintf(out, "DA:%zu,%llu\n", l, (unsigned long long)f->hits[l]);
    }
    fprintf(out, "LF:%zu\nLH:%zu\nend_of_record\n", found, hit);
  }
  if (fclose(out) != 0) {
    int e = errno;
    remove(tmp);
    errno = e;
    return -1;
  }
  if (rename(tmp, file) != 0) {
    int e = errno;
    remove(tmp);
    errno = e;
    return -1;
  }
  return 0;
}
