/*
 * emu_c4zproj.c — what `c4emu pack` reads: a DriverPackager .c4zproj (with
 * expat, through emu_xmlrun.c) and a squishy file, and the squished script built from the latter.
 *
 * .c4zproj: <Driver type="c4z" name="…" squishLua="true|false"
 * [Encryption="…"]> <Items> <Item type="dir|file" name="…" [recurse]
 * [c4zDir] [exclude]/> … </Items> </Driver>.  Booleans are true only when
 * written "true" (DriverPackager compares the text; we ignore case).
 *
 * squishy: lines `Main "driver.lua"`, `Module "name" ["path"]`,
 * `Output "file"` (a squishy file is Lua calling those three; we read the
 * same lines without running Lua, and ignore `Option` and comments).  A
 * module without a path is its name with dots turned into '/' plus ".lua".
 *
 * Squished output, as squish writes it: each module becomes
 *   package.preload['name'] = (function (...)
 *   <module source>
 *   end)
 * in squishy order, then the main script.  `require` then finds the modules
 * in package.preload and gives each its name as `...`, as when they were
 * files.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_pack.h"
#include "emu_package.h"


static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static bool is_true(const char *s) { return s && strcasecmp(s, "true") == 0; }

/* ---- .c4zproj -------------------------------------------------------------- */

typedef struct {
  emu_xml_run x;
  emu_c4zproj *out;
  int depth;
  bool in_items;
  size_t cap;
} proj_state;

static const char *attr(const char **atts, const char *name) {
  for (size_t i = 0; atts[i]; i += 2)
    if (strcmp(atts[i], name) == 0) return atts[i + 1];
  return NULL;
}

#define stop(st, ...) emu_xml_stop(&(st)->x, __VA_ARGS__)

static void proj_start(void *ud, const char *name, const char **atts) {
  proj_state *st = ud;
  int d = ++st->depth;
  emu_c4zproj *p = st->out;
  if (d == 1) {
    if (strcmp(name, "Driver") != 0) {
      stop(st, "the root element is <%.40s>; a .c4zproj has <Driver>", name);
      return;
    }
    p->type = dup_or_null(attr(atts, "type"));
    p->name = dup_or_null(attr(atts, "name"));
    p->squish = is_true(attr(atts, "squishLua"));
    p->encryption = is_true(attr(atts, "Encryption"));
  } else if (d == 2 && strcmp(name, "Items") == 0) {
    st->in_items = true;
    p->has_items = true;
  } else if (d == 3 && st->in_items && strcmp(name, "Item") == 0) {
    if (p->nitems == st->cap) {
      size_t ncap = st->cap ? st->cap * 2 : 16;
      emu_proj_item *l = realloc(p->items, ncap * sizeof *l);
      if (!l) {
        stop(st, "out of memory");
        return;
      }
      p->items = l;
      st->cap = ncap;
    }
    emu_proj_item *it = &p->items[p->nitems++];
    *it = (emu_proj_item){0};
    it->type = dup_or_null(attr(atts, "type"));
    it->name = dup_or_null(attr(atts, "name"));
    it->c4zdir = dup_or_null(attr(atts, "c4zDir"));
    it->recurse = is_true(attr(atts, "recurse"));
    it->exclude = is_true(attr(atts, "exclude"));
    it->line = emu_xml_line(&st->x);
  }
}

static void proj_end(void *ud, const char *name) {
  proj_state *st = ud;
  if (st->depth-- == 2 && strcmp(name, "Items") == 0) st->in_items = false;
}

void emu_c4zproj_free(emu_c4zproj *p) {
  if (!p) return;
  free(p->type);
  free(p->name);
  for (size_t i = 0; i < p->nitems; i++) {
    free(p->items[i].type);
    free(p->items[i].name);
    free(p->items[i].c4zdir);
  }
  free(p->items);
  *p = (emu_c4zproj){0};
}

int emu_c4zproj_parse(const char *text, size_t len, emu_c4zproj *out, char *err, size_t errsz) {
  *out = (emu_c4zproj){0};
  proj_state st = {.out = out};
  static const emu_xml_handlers h = {proj_start, proj_end, NULL};
  int rc = emu_xml_run_parse(&st.x, text, len, 64u << 20, &h, &st, err, errsz);
  if (rc == 0 && (!out->type || strcmp(out->type, "c4z") != 0))
    rc = emu_errf(err, errsz, "<Driver type=\"%s\">: only type=\"c4z\" can be packed",
              out->type ? out->type : "");
  if (rc == 0 && (!out->name || !out->name[0]))
    rc = emu_errf(err, errsz, "<Driver> has no name attribute (the .c4z is named after it)");
  if (rc == 0 && !out->has_items) rc = emu_errf(err, errsz, "<Driver> has no <Items>");
  for (size_t i = 0; rc == 0 && i < out->nitems; i++) {
    emu_proj_item *it = &out->items[i];
    if (!it->type || (strcmp(it->type, "dir") != 0 && strcmp(it->type, "file") != 0))
      rc = emu_errf(err, errsz, "line %lu: <Item> type must be \"dir\" or \"file\"", it->line);
    else if (!it->name || !it->name[0])
      rc = emu_errf(err, errsz, "line %lu: <Item> has no name", it->line);
  }
  if (rc != 0) emu_c4zproj_free(out);
  return rc;
}

/* ---- squishy ---------------------------------------------------------------- */

void emu_squishy_free(emu_squishy *q) {
  if (!q) return;
  free(q->main);
  free(q->output);
  for (size_t i = 0; i < q->nmods; i++) {
    free(q->mods[i].name);
    free(q->mods[i].path);
  }
  free(q->mods);
  *q = (emu_squishy){0};
}

/* Reads up to `max` quoted strings after the directive on one line. */
static int quoted(const char *s, char **out, int max, unsigned long line, char *err, size_t errsz) {
  int n = 0;
  while (*s) {
    if (*s == '"' || *s == '\'') {
      char q = *s++;
      const char *end = strchr(s, q);
      if (!end) return emu_errf(err, errsz, "squishy line %lu: unterminated string", line);
      if (n == max) return emu_errf(err, errsz, "squishy line %lu: too many strings", line);
      out[n] = strndup(s, (size_t)(end - s));
      if (!out[n]) return emu_errf(err, errsz, "out of memory");
      n++;
      s = end + 1;
    } else if (*s == '-' && s[1] == '-') {
      break;
    } else {
      s++;
    }
  }
  return n;
}

int emu_squishy_parse(const char *text, emu_squishy *out, char *err, size_t errsz) {
  *out = (emu_squishy){0};
  size_t cap = 0;
  unsigned long line = 0;
  for (const char *p = text; *p;) {
    size_t n = strcspn(p, "\n");
    char buf[2048];
    line++;
    if (n >= sizeof buf) {
      emu_squishy_free(out);
      return emu_errf(err, errsz, "squishy line %lu is too long", line);
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    p += n + (p[n] == '\n');
    char *s = buf;
    while (isspace((unsigned char)*s)) s++;
    if (!*s || (s[0] == '-' && s[1] == '-')) continue;
    size_t w = 0;
    while (isalpha((unsigned char)s[w])) w++;
    char *strs[2] = {NULL, NULL};
    int k = quoted(s + w, strs, 2, line, err, errsz);
    if (k < 0) {
      emu_squishy_free(out);
      return -1;
    }
    int rc = 0;
    if (w == 4 && strncmp(s, "Main", 4) == 0 && k == 1) {
      free(out->main);
      out->main = strs[0];
      strs[0] = NULL;
    } else if (w == 6 && strncmp(s, "Output", 6) == 0 && k == 1) {
      free(out->output);
      out->output = strs[0];
      strs[0] = NULL;
    } else if (w == 6 && strncmp(s, "Module", 6) == 0 && k >= 1) {
      if (strpbrk(strs[0], "'\\\n") || !strs[0][0]) {
        rc = emu_errf(err, errsz, "squishy line %lu: module name '%s' is not a plain name", line, strs[0]);
      } else if (out->nmods == cap) {
        cap = cap ? cap * 2 : 16;
        void *l = realloc(out->mods, cap * sizeof *out->mods);
        if (!l) rc = emu_errf(err, errsz, "out of memory");
        else out->mods = l;
      }
      if (rc == 0) {
        out->mods[out->nmods].name = strs[0];
        out->mods[out->nmods].path = strs[1];
        out->nmods++;
        strs[0] = strs[1] = NULL;
      }
    } else if (w == 6 && strncmp(s, "Option", 6) == 0) {
      /* minify and the like: squish options that change nothing here */
    } else {
      rc = emu_errf(err, errsz, "squishy line %lu: expected Main \"file\", Module \"name\" [\"file\"] "
                "or Output \"file\"", line);
    }
    free(strs[0]);
    free(strs[1]);
    if (rc != 0) {
      emu_squishy_free(out);
      return -1;
    }
  }
  if (!out->main) {
    emu_squishy_free(out);
    return emu_errf(err, errsz, "squishy has no Main \"file\" line");
  }
  for (size_t i = 0; i < out->nmods; i++) {
    if (out->mods[i].path) continue;
    size_t n = strlen(out->mods[i].name);
    char *path = malloc(n + 5);
    if (!path) {
      emu_squishy_free(out);
      return emu_errf(err, errsz, "out of memory");
    }
    for (size_t j = 0; j < n; j++) path[j] = out->mods[i].name[j] == '.' ? '/' : out->mods[i].name[j];
    memcpy(path + n, ".lua", 5);
    out->mods[i].path = path;
  }
  return 0;
}

/* ---- squishing -------------------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap;
  bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* Appends a source, its '#' first line blanked (it would not parse inside a
 * function), always ending with a newline so a last-line comment cannot
 * swallow the `end)` that follows. */
static void put_source(sbuf *b, const char *src, size_t n) {
  if (n > 0 && src[0] == '#') {
    size_t skip = strcspn(src, "\n");
    src += skip;
    n -= skip;
  }
  put(b, src, n);
  if (n == 0 || src[n - 1] != '\n') puts_(b, "\n");
}

int emu_squish(const emu_squishy *q, const emu_squish_src *mods, const emu_squish_src *main_src,
               char **out, size_t *outlen, char *err, size_t errsz) {
  sbuf b = {0};
  puts_(&b, "-- squished by c4emu pack: modules in package.preload, then the main script\n");
  for (size_t i = 0; i < q->nmods; i++) {
    puts_(&b, "package.preload['");
    puts_(&b, q->mods[i].name);
    puts_(&b, "'] = (function (...)\n");
    put_source(&b, mods[i].text, mods[i].len);
    puts_(&b, "end)\n");
  }
  put_source(&b, main_src->text, main_src->len);
  if (b.oom) {
    free(b.p);
    return emu_errf(err, errsz, "out of memory");
  }
  *out = b.p;
  *outlen = b.len;
  return 0;
}
