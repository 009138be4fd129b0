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
#include <time.h>
#include <zip.h>

/* 2000-01-01 00:00:00 UTC: any fixed time keeps the output reproducible. */
#define FIXED_MTIME ((time_t)946684800)

static struct stat out_stat;
static int out_exists;

static int die_zip(zip_t *za, const char *what) {
  fprintf(stderr, "pack-c4z: %s: %s\n", what, zip_strerror(za));
  zip_discard(za);
  return 1;
}

static int by_bytes(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dotfiles(const struct dirent *d) {
  return d->d_name[0] != '.';
}

/* Sets the attributes that would otherwise vary between machines and runs. */
static int fix_entry(zip_t *za, zip_int64_t idx, mode_t mode) {
  if (zip_file_set_mtime(za, (zip_uint64_t)idx, FIXED_MTIME, 0) != 0) return -1;
  return zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                          (zip_uint32_t)mode << 16);
}

/* Adds the contents of SRC/rel (rel "" for the top) to the archive. */
static int add_dir(zip_t *za, const char *src, const char *rel) {
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
      zip_int64_t idx = zip_dir_add(za, name, ZIP_FL_ENC_UTF_8);
      if (idx < 0 || fix_entry(za, idx, S_IFDIR | 0755) != 0) {
        fprintf(stderr, "pack-c4z: %s: %s\n", path, zip_strerror(za));
        rc = -1;
      } else {
        rc = add_dir(za, src, name);
      }
    } else if (S_ISREG(st.st_mode)) {
      zip_source_t *zs = zip_source_file(za, path, 0, -1);
      zip_int64_t idx = zs ? zip_file_add(za, name, zs, ZIP_FL_ENC_UTF_8) : -1;
      if (idx < 0) {
        if (zs) zip_source_free(zs);
        fprintf(stderr, "pack-c4z: %s: %s\n", path, zip_strerror(za));
        rc = -1;
      } else if (fix_entry(za, idx, S_IFREG | 0644) != 0) {
        fprintf(stderr, "pack-c4z: %s: %s\n", path, zip_strerror(za));
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

static zip_t *create_out(const char *path) {
  int zerr = 0;
  zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    fprintf(stderr, "pack-c4z: %s: %s\n", path, zip_error_strerror(&ze));
    zip_error_fini(&ze);
  }
  return za;
}

static int pack_folder(const char *src, const char *out) {
  struct stat st;
  if (stat(src, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "pack-c4z: %s: not a folder\n", src);
    return 1;
  }
  out_exists = stat(out, &out_stat) == 0;
  zip_t *za = create_out(out);
  if (!za) return 1;
  if (add_dir(za, src, "") != 0) {
    zip_discard(za);
    return 1;
  }
  if (zip_close(za) != 0) return die_zip(za, out);
  return 0;
}

/* pairs: NAME FILE NAME FILE ... */
static int pack_raw(char *const *pairs, int npairs, const char *out) {
  zip_t *za = create_out(out);
  if (!za) return 1;
  for (int i = 0; i < npairs; i++) {
    const char *name = pairs[2 * i], *file = pairs[2 * i + 1];
    zip_source_t *zs = zip_source_file(za, file, 0, -1);
    zip_int64_t idx = zs ? zip_file_add(za, name, zs, 0) : -1;
    if (idx < 0) {
      if (zs) zip_source_free(zs);
      return die_zip(za, file);
    }
    if (fix_entry(za, idx, S_IFREG | 0644) != 0) return die_zip(za, name);
  }
  if (zip_close(za) != 0) return die_zip(za, out);
  return 0;
}

int main(int argc, char **argv) {
  /* Zip times are local DOS times: pin the zone so every machine writes the same bytes. */
  setenv("TZ", "UTC", 1);
  tzset();
  if (argc >= 5 && strcmp(argv[1], "--raw") == 0 && argc % 2 == 1)
    return pack_raw(argv + 3, (argc - 3) / 2, argv[2]);
  if (argc == 3 && argv[1][0] != '-') return pack_folder(argv[1], argv[2]);
  fprintf(stderr, "usage: pack-c4z SRC_DIR OUT.c4z\n"
                  "       pack-c4z --raw OUT.c4z NAME FILE [NAME FILE]...\n");
  return 2;
}
