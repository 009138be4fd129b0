/*
 * emu_cmd_pack.c — `c4emu pack PROJECT.c4zproj [-o OUT.c4z]`: builds a .c4z
 * as DriverPackager does from its manifest, then runs `c4emu check` on it.
 *
 * Items: type="file" puts the file at c4zDir/<its base name> (the archive
 * root without c4zDir); type="dir" puts the folder's files under c4zDir (or
 * the folder's own name), only the immediate files unless recurse="true";
 * exclude="true" leaves the item out; hidden files and folders are skipped.
 * With squishLua="true" the squishy file beside the manifest is read: the
 * modules it names and the squishy file itself are left out, and the Main
 * script is replaced, at its own place in the archive, by the squished
 * script (emu_c4zproj.c) — which is what DriverPackager does.
 *
 * Stricter than DriverPackager, on purpose: every name must stay inside the
 * project folder (no absolute paths, no "..", no symbolic link leading
 * out), two items may not put files at the same place, and the archive must
 * have driver.xml at its root.  Any of these is a clear error and exit 2.
 *
 * Deterministic: entries are sorted by name and written with fixed times
 * and modes (emu_zipwrite.c), so the same project gives the same bytes.
 * Encryption is out of scope (it needs Control4's certificate): a manifest
 * asking for it is packed unencrypted, with a warning.
 *
 * Exit codes: 0 packed and checked clean, 1 packed but check has findings,
 * 2 could not pack (or the result cannot run).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "emu_host.h"
#include "emu_pack.h"
#include "emu_report.h"
#include "emu_zipwrite.h"
#include "c4api.h"

#define PACK_MAX_ENTRIES 20000
#define PACK_MAX_SOURCE (64u << 20)

typedef struct {
  char *arc;     /* name in the archive */
  char *src;     /* file on disk, or NULL when data is given */
  char *data;    /* the squished script */
  size_t len;
} pack_entry;

typedef struct {
  char root[PATH_MAX];       /* the project folder, canonical */
  emu_c4zproj proj;
  emu_squishy sq;
  bool squish;
  struct stat out_st;
  bool out_exists;
  pack_entry *e;
  size_t n, cap;
  char err[PATH_MAX + 400];
} pack_state;

static int perr(pack_state *ps, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ps->err, sizeof ps->err, fmt, ap);
  va_end(ap);
  return -1;
}

static bool has_dotdot(const char *p) {
  for (const char *s = p; (s = strstr(s, "..")) != NULL; s += 2)
    if ((s == p || s[-1] == '/' || s[-1] == '\\') && (s[2] == '\0' || s[2] == '/' || s[2] == '\\'))
      return true;
  return false;
}

/* Resolves a project-relative name to a canonical path inside the project. */
static int inside_project(pack_state *ps, const char *what, const char *name, char *out) {
  char joined[PATH_MAX];
  if (name[0] == '/' || has_dotdot(name) || strchr(name, '\\'))
    return perr(ps, "%s '%s' leaves the project folder (absolute, '..' or a backslash): "
                "copy the file into the project to pack it", what, name);
  if (snprintf(joined, sizeof joined, "%s/%s", ps->root, name) >= (int)sizeof joined)
    return perr(ps, "%s '%s': path too long", what, name);
  if (!realpath(joined, out)) {
    if (errno == ENOENT) return perr(ps, "%s '%s' does not exist in %s", what, name, ps->root);
    return perr(ps, "%s '%s': %s", what, name, strerror(errno));
  }
  size_t n = strlen(ps->root);
  if (strncmp(out, ps->root, n) != 0 || (out[n] != '/' && out[n] != '\0'))
    return perr(ps, "%s '%s' leads outside the project folder (a symbolic link?)", what, name);
  return 0;
}

/* Whether a c4zDir value is a safe archive folder. */
static int check_c4zdir(pack_state *ps, const emu_proj_item *it) {
  const char *d = it->c4zdir;
  if (!d || !d[0]) return 0;
  if (d[0] == '/' || has_dotdot(d) || strchr(d, '\\'))
    return perr(ps, "line %lu: c4zDir '%s' must be a relative folder inside the .c4z", it->line, d);
  return 0;
}

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* Under squishing: whether a file (by base name, as DriverPackager compares)
 * is one of the squished modules or the squishy file. */
static bool squished_away(pack_state *ps, const char *fname) {
  if (!ps->squish) return false;
  if (strcmp(fname, "squishy") == 0) return true;
  for (size_t i = 0; i < ps->sq.nmods; i++)
    if (strcmp(fname, base_name(ps->sq.mods[i].path)) == 0) return true;
  return false;
}

static int add_entry(pack_state *ps, const char *arc, const char *src) {
  struct stat st;
  if (ps->out_exists && stat(src, &st) == 0 && st.st_dev == ps->out_st.st_dev &&
      st.st_ino == ps->out_st.st_ino)
    return 0; /* never pack the output into itself */
  if (squished_away(ps, base_name(arc))) return 0;
  for (size_t i = 0; i < ps->n; i++)
    if (strcmp(ps->e[i].arc, arc) == 0)
      return perr(ps, "two items put a file at '%s' in the .c4z", arc);
  if (ps->n == PACK_MAX_ENTRIES) return perr(ps, "more than %d files", PACK_MAX_ENTRIES);
  if (ps->n == ps->cap) {
    size_t ncap = ps->cap ? ps->cap * 2 : 32;
    pack_entry *l = realloc(ps->e, ncap * sizeof *l);
    if (!l) return perr(ps, "out of memory");
    ps->e = l;
    ps->cap = ncap;
  }
  ps->e[ps->n++] = (pack_entry){strdup(arc), strdup(src), NULL, 0};
  return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_hidden(const struct dirent *d) { return d->d_name[0] != '.'; }

/* Adds the files of folder `dir` (canonical, inside the project) under
 * archive folder `arc`; into sub-folders too when recurse. */
static int add_folder(pack_state *ps, const char *dir, const char *arc, bool recurse, int depth) {
  if (depth > 64) return perr(ps, "folders nested more than 64 deep under %s", dir);
  struct dirent **list;
  int n = scandir(dir, &list, not_hidden, by_name);
  if (n < 0) return perr(ps, "%s: %s", dir, strerror(errno));
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    char path[PATH_MAX], real[PATH_MAX], name[PATH_MAX];
    struct stat st;
    size_t rn = strlen(ps->root);
    if (snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name) >= (int)sizeof path ||
        snprintf(name, sizeof name, "%s%s%s", arc, arc[0] ? "/" : "", list[i]->d_name) >= (int)sizeof name)
      rc = perr(ps, "%s/%s: path too long", dir, list[i]->d_name);
    else if (!realpath(path, real) || stat(real, &st) != 0)
      rc = perr(ps, "%s: %s", path, strerror(errno));
    else if (strncmp(real, ps->root, rn) != 0 || real[rn] != '/')
      rc = perr(ps, "%s leads outside the project folder (a symbolic link?)", path);
    else if (S_ISDIR(st.st_mode))
      rc = recurse ? add_folder(ps, real, name, true, depth + 1) : 0;
    else if (S_ISREG(st.st_mode))
      rc = add_entry(ps, name, real);
  }
  for (int i = 0; i < n; i++) free(list[i]);
  free(list);
  return rc;
}

static int add_item(pack_state *ps, const emu_proj_item *it) {
  char real[PATH_MAX], what[64];
  struct stat st;
  if (it->exclude) return 0;
  if (check_c4zdir(ps, it) != 0) return -1;
  snprintf(what, sizeof what, "line %lu: %s item", it->line, it->type);
  if (inside_project(ps, what, it->name, real) != 0) return -1;
  if (stat(real, &st) != 0) return perr(ps, "%s '%s': %s", what, it->name, strerror(errno));
  const char *c4zdir = it->c4zdir && it->c4zdir[0] ? it->c4zdir : NULL;
  if (strcmp(it->type, "file") == 0) {
    if (!S_ISREG(st.st_mode)) return perr(ps, "%s '%s' is not a regular file", what, it->name);
    char arc[PATH_MAX];
    snprintf(arc, sizeof arc, "%s%s%s", c4zdir ? c4zdir : "", c4zdir ? "/" : "", base_name(it->name));
    return add_entry(ps, arc, real);
  }
  if (!S_ISDIR(st.st_mode)) return perr(ps, "%s '%s' is not a folder", what, it->name);
  /* The folder keeps its name in the archive unless c4zDir says otherwise;
   * "." (or the project folder itself) means the archive root. */
  const char *arc = c4zdir ? c4zdir : strcmp(real, ps->root) == 0 ? "" : it->name;
  return add_folder(ps, real, arc, it->recurse, 0);
}

/* Reads a whole file (bounded). */
static char *read_all(pack_state *ps, const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perr(ps, "%s: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
    if (n == cap) {
      if (cap >= PACK_MAX_SOURCE) {
        free(buf);
        buf = NULL;
        perr(ps, "%s is larger than %u MiB", path, PACK_MAX_SOURCE >> 20);
        break;
      }
      char *p = realloc(buf, (cap *= 2) + 1);
      if (!p) free(buf);
      buf = p;
    }
  }
  fclose(f);
  if (!buf) {
    if (!ps->err[0]) perr(ps, "out of memory");
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Reads the squishy file and replaces the Main entry's contents by the
 * squished script. */
static int squish(pack_state *ps) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/squishy", ps->root) >= (int)sizeof path)
    return perr(ps, "project folder path too long");
  struct stat st;
  if (stat(path, &st) != 0)
    return perr(ps, "squishLua=\"true\" needs a squishy file beside the .c4zproj (%s)", path);
  size_t len;
  char *text = read_all(ps, path, &len);
  if (!text) return -1;
  char why[300];
  int rc = emu_squishy_parse(text, &ps->sq, why, sizeof why);
  free(text);
  if (rc != 0) return perr(ps, "%s: %s", path, why);
  return 0;
}

/* Puts "file: " before the message already in ps->err. */
static int prefixed(pack_state *ps, const char *file) {
  char msg[sizeof ps->err];
  snprintf(msg, sizeof msg, "%s", ps->err);
  return perr(ps, "%s: %s", file, msg);
}

static int squish_main(pack_state *ps) {
  const char *main_base = base_name(ps->sq.main);
  pack_entry *target = NULL;
  for (size_t i = 0; i < ps->n; i++)
    if (strcmp(base_name(ps->e[i].arc), main_base) == 0 && !target) target = &ps->e[i];
  if (!target)
    return perr(ps, "squishy's Main \"%s\" is not among the items packed", ps->sq.main);
  emu_squish_src *mods = calloc(ps->sq.nmods ? ps->sq.nmods : 1, sizeof *mods);
  if (!mods) return perr(ps, "out of memory");
  int rc = 0;
  char real[PATH_MAX], what[120];
  size_t i = 0;
  for (; i < ps->sq.nmods && rc == 0; i++) {
    snprintf(what, sizeof what, "squishy Module \"%.80s\"", ps->sq.mods[i].name);
    size_t n = 0;
    if (inside_project(ps, what, ps->sq.mods[i].path, real) == 0)
      mods[i].text = read_all(ps, real, &n);
    mods[i].len = n;
    if (!mods[i].text) rc = -1;
  }
  emu_squish_src main_src = {NULL, 0};
  size_t mlen = 0;
  if (rc == 0 && inside_project(ps, "squishy Main", ps->sq.main, real) == 0)
    main_src.text = read_all(ps, real, &mlen);
  main_src.len = mlen;
  if (rc == 0 && !main_src.text) rc = -1;
  char why[200];
  if (rc == 0 && emu_squish(&ps->sq, mods, &main_src, &target->data, &target->len, why, sizeof why) != 0)
    rc = perr(ps, "%s", why);
  for (size_t k = 0; k < ps->sq.nmods; k++) free((char *)mods[k].text);
  free(mods);
  free((char *)main_src.text);
  return rc;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const pack_entry *)a)->arc, ((const pack_entry *)b)->arc);
}

static int write_zip(pack_state *ps, const char *out) {
  char why[PATH_MAX + 200];
  emu_zipw *z = emu_zipw_open(out, why, sizeof why);
  if (!z) return perr(ps, "%s", why);
  for (size_t i = 0; i < ps->n; i++) {
    pack_entry *e = &ps->e[i];
    int rc = e->data ? emu_zipw_add_buffer(z, e->arc, e->data, e->len, why, sizeof why)
                     : emu_zipw_add_file(z, e->arc, e->src, why, sizeof why);
    if (rc != 0) {
      emu_zipw_discard(z);
      remove(out);
      return perr(ps, "%s", why);
    }
  }
  if (emu_zipw_close(z, why, sizeof why) != 0) {
    remove(out);
    return perr(ps, "%s: %s", out, why);
  }
  return 0;
}

static void free_state(pack_state *ps) {
  for (size_t i = 0; i < ps->n; i++) {
    free(ps->e[i].arc);
    free(ps->e[i].src);
    free(ps->e[i].data);
  }
  free(ps->e);
  emu_c4zproj_free(&ps->proj);
  emu_squishy_free(&ps->sq);
}

/* Packs; returns 0, or -1 with ps->err set.  *out_path gets the output. */
static int pack(pack_state *ps, const char *proj_path, const char *out_opt, char *out, size_t outsz) {
  char real[PATH_MAX];
  if (!realpath(proj_path, real)) return perr(ps, "%s: %s", proj_path, strerror(errno));
  snprintf(ps->root, sizeof ps->root, "%s", real);
  char *slash = strrchr(ps->root, '/');
  if (slash == ps->root) slash[1] = '\0';
  else *slash = '\0';

  size_t len;
  char *text = read_all(ps, real, &len);
  if (!text) return -1;
  char why[400];
  int rc = emu_c4zproj_parse(text, len, &ps->proj, why, sizeof why);
  free(text);
  if (rc != 0) return perr(ps, "%s: %s", proj_path, why);
  if (strchr(ps->proj.name, '/'))
    return perr(ps, "%s: <Driver name=\"%s\"> must be a plain file name", proj_path, ps->proj.name);
  if (ps->proj.encryption)
    fprintf(stderr, "c4emu pack: warning: Encryption is out of scope (it needs Control4's "
            "certificate); %s.c4z is built unencrypted\n", ps->proj.name);

  if (out_opt) snprintf(out, outsz, "%s", out_opt);
  else snprintf(out, outsz, "%s.c4z", ps->proj.name);
  ps->out_exists = stat(out, &ps->out_st) == 0;

  ps->squish = ps->proj.squish;
  if (ps->squish && squish(ps) != 0) return -1;
  for (size_t i = 0; i < ps->proj.nitems; i++)
    if (add_item(ps, &ps->proj.items[i]) != 0) return prefixed(ps, proj_path);
  if (ps->squish && squish_main(ps) != 0) return prefixed(ps, proj_path);
  bool has_xml = false;
  for (size_t i = 0; i < ps->n; i++) has_xml |= strcmp(ps->e[i].arc, "driver.xml") == 0;
  if (!has_xml)
    return perr(ps, "%s: no item puts driver.xml at the root of the .c4z", proj_path);
  qsort(ps->e, ps->n, sizeof *ps->e, cmp_entry);
  return write_zip(ps, out);
}

static void pack_usage(FILE *f) {
  fprintf(f, "usage: c4emu pack PROJECT.c4zproj [-o OUT.c4z] [--no-check]\n"
             "  builds a .c4z from a DriverPackager manifest (Items, squishLua with a\n"
             "  squishy file), deterministically, then runs `c4emu check` on it.\n"
             "  -o, --output FILE   where to write (default: <Driver name>.c4z here)\n"
             "      --no-check      pack only\n"
             "  Encryption is out of scope: the .c4z is always unencrypted.\n");
}

int emu_cmd_pack(int argc, char **argv) {
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'},
      {"no-check", no_argument, NULL, 'n'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *out_opt = NULL;
  bool check = true;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
    if (c == 'o') out_opt = optarg;
    else if (c == 'n') check = false;
    else if (c == 'h') {
      pack_usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "c4emu pack: unknown option '%s'; see c4emu pack --help\n", argv[optind - 1]);
      return 2;
    }
  }
  if (optind != argc - 1) {
    pack_usage(stderr);
    return 2;
  }
  pack_state *ps = calloc(1, sizeof *ps);
  if (!ps) return 2;
  char out[PATH_MAX];
  if (pack(ps, argv[optind], out_opt, out, sizeof out) != 0) {
    fprintf(stderr, "c4emu pack: %s\n", ps->err);
    free_state(ps);
    free(ps);
    return 2;
  }
  printf("c4emu pack: wrote %s (%zu files%s)\n", out, ps->n, ps->squish ? ", Lua squished" : "");
  free_state(ps);
  free(ps);
  if (!check) return 0;

  emu_options opt = {0};
  opt.path = out;
  opt.os = c4_osver_newest();
  opt.virtual_clock = true;
  opt.bind_addr = "127.0.0.1";
  opt.log_stderr = true;
  opt.log_level = EMU_LOG_WARN;
  emu_report rep;
  emu_report_init(&rep, out);
  if (emu_report_check_one(&rep, &opt) != 0) {
    emu_report_free(&rep);
    return 2;
  }
  emu_report_print(&rep, stdout);
  int rc = emu_report_clean(&rep) ? 0 : 1;
  emu_report_free(&rep);
  return rc;
}
