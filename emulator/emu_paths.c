/*
 * emu_paths.c — resolving file names a driver passes to the API (PEM-FILE
 * and PKCS#12 paths) against its package folder, then its sandbox folder.
 *
 * The seed refuses paths that start with "." (so also ".."); we also refuse
 * absolute paths, any ".." component, and anything whose real path (after
 * symlinks) leaves the folder it was found in.
 *
 * emu_path_resolve() needs no context, so code that runs away from the
 * driver's lua_State (building a TLS context, unit tests) uses the same rules.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu.h"

static int has_dotdot(const char *p) {
  for (const char *s = p; (s = strstr(s, "..")) != NULL; s += 2) {
    bool start = s == p || s[-1] == '/';
    bool end = s[2] == '\0' || s[2] == '/';
    if (start && end) return 1;
  }
  return 0;
}

/* Whether `real` lies inside folder `base` (both canonical). */
static int inside(const char *base, const char *real) {
  size_t n = strlen(base);
  return strncmp(base, real, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

static int try_base(const char *base, const char *rel, char *out, size_t outsz) {
  char joined[PATH_MAX], realbase[PATH_MAX], real[PATH_MAX];
  if (!base || !realpath(base, realbase)) return -1;
  if (snprintf(joined, sizeof joined, "%s/%s", realbase, rel) >= (int)sizeof joined) return -1;
  if (!realpath(joined, real) || !inside(realbase, real)) return -1;
  if (snprintf(out, outsz, "%s", real) >= (int)outsz) return -1;
  return 0;
}

int emu_path_resolve(const char *pkg_dir, const char *sandbox_dir, const char *rel,
                     char *out, size_t outsz, char *err, size_t errsz) {
  if (!rel || rel[0] == '\0') {
    snprintf(err, errsz, "empty file name");
    return -1;
  }
  if (rel[0] == '.') {
    snprintf(err, errsz, "path '%s' refused: paths starting with '.' or '..' are not allowed", rel);
    return -1;
  }
  if (rel[0] == '/') {
    snprintf(err, errsz, "path '%s' refused: give a path relative to the driver's package or sandbox folder", rel);
    return -1;
  }
  if (has_dotdot(rel)) {
    snprintf(err, errsz, "path '%s' refused: '..' may not appear in a path", rel);
    return -1;
  }
  if (try_base(pkg_dir, rel, out, outsz) == 0) return 0;
  if (try_base(sandbox_dir, rel, out, outsz) == 0) return 0;
  snprintf(err, errsz, "file '%s' not found in the driver's package or sandbox folder "
           "(or it leads outside them)", rel);
  return -1;
}

int emu_resolve_driver_path(emu_ctx *ctx, const char *rel, char *out, size_t outsz,
                            char *err, size_t errsz) {
  return emu_path_resolve(ctx->pkg_dir, ctx->sandbox_dir, rel, out, outsz, err, errsz);
}
