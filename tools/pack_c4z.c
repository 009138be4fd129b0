/*
 * pack_c4z.c — packs a driver folder into a .c4z (zip) with libzip.
 *
 *   pack-c4z SRC_DIR OUT.c4z
 *       Files go at the archive root with sub-folders kept; dotfiles and
 *       dot-folders are skipped; entries are sorted by byte order and carry a
 *       fixed time and mode, so the same folder always gives the same bytes.
 *   pack-c4z --raw OUT.c4z NAME FILE [NAME FILE]...
 *       Stores each FILE under the entry name NAME exactly as given, even "../x"
 *       or "/etc/x".  Only for crafting hostile test fixtures.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "emu_zipwrite.h"

static struct stat out_stat;
static int out_exists;

static int by_bytes(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dotfiles(const struct dirent *d) {
  return d->d_name[0] != '.';
}

/* Adds the contents of SRC/rel (rel "" for the top) to the archive. */
static int add_dir(emu_zipw *za, const char *src, const char *rel) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s%s%s", src, rel[0] ? "/" : "", rel) >= (int)sizeof dir) {
    fprintf(stderr, "pack-c4z: %s/%s: path too long\n", src, rel);
    return -1;
  }
  struct dirent **list;
  int n = scandir(dir, &list, skip_dotfiles, by_bytes);
  if (n < 0) {
    fprintf(stderr, "pack-c4z: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  int rc = 0;
  char err[PATH_MAX + 200];
  for (int i = 0; i < n && rc == 0; i++) {
    char path[PATH_MAX], name[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name) >= (int)sizeof path ||
        snprintf(name, sizeof name, "%s%s%s", rel, rel[0] ? "/" : "", list[i]->d_name) >= (int)sizeof name) {
      fprintf(stderr, "pack-c4z: %s/%s: path too long\n", dir, list[i]->d_name);
      rc = -1;
    } else if (stat(path, &st) != 0) {
      fprintf(stderr, "pack-c4z: %s: %s\n", path, strerror(errno));
      rc = -1;
    } else if (out_exists && st.st_dev == out_stat.st_dev && st.st_ino == out_stat.st_ino) {
      /* The output lies inside the folder: never pack it into itself. */
    } else if (S_ISDIR(st.st_mode)) {
      if (emu_zipw_add_dir(za, name, err, sizeof err) != 0) {
        fprintf(stderr, "pack-c4z: %s: %s\n", path, err);
        rc = -1;
      } else {
        rc = add_dir(za, src, name);
      }
    } else if (S_ISREG(st.st_mode)) {
      if (emu_zipw_add_file(za, name, path, err, sizeof err) != 0) {
        fprintf(stderr, "pack-c4z: %s: %s\n", path, err);
        rc = -1;
      }
    } else {
      fprintf(stderr, "pack-c4z: %s: skipped (not a file or folder)\n", path);
    }
  }
  for (int i = 0; i < n; i++) free(list[i]);
  free(list);
  return rc;
}

static emu_zipw *create_out(const char *path) {
  char err[PATH_MAX + 200];
  emu_zipw *za = emu_zipw_open(path, err, sizeof err);
  if (!za) fprintf(stderr, "pack-c4z: %s\n", err);
  return za;
}

static int close_out(emu_zipw *za, const char *path) {
  char err[PATH_MAX + 200];
  if (emu_zipw_close(za, err, sizeof err) == 0) return 0;
  fprintf(stderr, "pack-c4z: %s: %s\n", path, err);
  return 1;
}

static int pack_folder(const char *src, const char *out) {
  struct stat st;
  if (stat(src, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "pack-c4z: %s: not a folder\n", src);
    return 1;
  }
  out_exists = stat(out, &out_stat) == 0;
  emu_zipw *za = create_out(out);
  if (!za) return 1;
  if (add_dir(za, src, "") != 0) {
    emu_zipw_discard(za);
    return 1;
  }
  return close_out(za, out);
}

/* pairs: NAME FILE NAME FILE ... */
static int pack_raw(char *const *pairs, int npairs, const char *out) {
  emu_zipw *za = create_out(out);
  if (!za) return 1;
  char err[PATH_MAX + 200];
  for (int i = 0; i < npairs; i++) {
    const char *name = pairs[2 * i], *file = pairs[2 * i + 1];
    if (emu_zipw_add_file(za, name, file, err, sizeof err) != 0) {
      fprintf(stderr, "pack-c4z: %s: %s\n", file, err);
      emu_zipw_discard(za);
      return 1;
    }
  }
  return close_out(za, out);
}

int main(int argc, char **argv) {
  if (argc >= 5 && strcmp(argv[1], "--raw") == 0 && argc % 2 == 1)
    return pack_raw(argv + 3, (argc - 3) / 2, argv[2]);
  if (argc == 3 && argv[1][0] != '-') return pack_folder(argv[1], argv[2]);
  fprintf(stderr, "usage: pack-c4z SRC_DIR OUT.c4z\n"
                  "       pack-c4z --raw OUT.c4z NAME FILE [NAME FILE]...\n");
  return 2;
}
