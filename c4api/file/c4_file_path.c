/*
 * c4_file_path.c — where a driver's file name may lead: the one confinement
 * rule shared by the File API (c4_file.c) and the confined io/os functions
 * (c4_io.c).
 *
 * A driver may read and write inside its sandbox folder, and read inside its
 * package folder.  Nothing else.  A name is resolved as:
 *   - refused if empty, if it starts with '.' or if it holds a ".."
 *     component (the refusals of TLS file names, emu_path_resolve);
 *   - joined to the base folder when relative;
 *   - its folder canonicalised with realpath (so symlinks are followed) and
 *     required to lie inside the sandbox or the package folder;
 *   - when the file itself is a symbolic link, its target is canonicalised and
 *     checked the same way (a link in the sandbox cannot point out of it).
 * The result says which of the two folders it is in; writing needs the
 * sandbox.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file/c4_file.h"

static bool has_dotdot(const char *p) {
  for (const char *s = p; (s = strstr(s, "..")) != NULL; s += 2) {
    bool start = s == p || s[-1] == '/';
    bool end = s[2] == '\0' || s[2] == '/';
    if (start && end) return true;
  }
  return false;
}

/* Whether canonical `real` lies in canonical folder `base`. */
static bool inside(const char *base, const char *real) {
  size_t n = strlen(base);
  return base[0] && strncmp(base, real, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

c4_root c4_root_of(emu_ctx *ctx, const char *real) {
  char sb[PATH_MAX], pk[PATH_MAX];
  if (ctx->sandbox_dir && realpath(ctx->sandbox_dir, sb) && inside(sb, real)) return C4_ROOT_SANDBOX;
  if (ctx->pkg_dir && realpath(ctx->pkg_dir, pk) && inside(pk, real)) return C4_ROOT_PACKAGE;
  return C4_ROOT_NONE;
}

static int refuse(char *err, size_t errsz, const char *fmt, const char *path) {
  snprintf(err, errsz, fmt, path);
  return -1;
}

int c4_path_confine(emu_ctx *ctx, const char *base, const char *path, char *out, size_t outsz,
                    c4_root *root, char *err, size_t errsz) {
  char joined[PATH_MAX], dir[PATH_MAX], rdir[PATH_MAX], real[PATH_MAX];
  *root = C4_ROOT_NONE;
  if (!path || !path[0]) return refuse(err, errsz, "empty file name%s", "");
  /* As TLS file names: a relative name may not start with '.' ("." alone
   * names the base folder itself). */
  if (path[0] == '.' && strcmp(path, ".") != 0)
    return refuse(err, errsz, "path '%s' refused: paths starting with '.' or '..' are not allowed", path);
  if (has_dotdot(path)) return refuse(err, errsz, "path '%s' refused: '..' may not appear in a path", path);
  int n = path[0] == '/' ? snprintf(joined, sizeof joined, "%s", path)
                         : snprintf(joined, sizeof joined, "%s/%s", base, path);
  if (n < 0 || n >= (int)sizeof joined) return refuse(err, errsz, "path '%.200s' refused: too long", path);
  /* Trailing slashes name the folder itself. */
  size_t len = strlen(joined);
  while (len > 1 && joined[len - 1] == '/') joined[--len] = '\0';

  const char *slash = strrchr(joined, '/');
  const char *leaf = slash + 1;
  size_t dlen = slash == joined ? 1 : (size_t)(slash - joined);
  memcpy(dir, joined, dlen);
  dir[dlen] = '\0';
  if (!realpath(dir, rdir))
    return refuse(err, errsz, "path '%s': its folder does not exist", path);
  if (strcmp(leaf, ".") == 0 || leaf[0] == '\0') {
    snprintf(real, sizeof real, "%s", rdir);
  } else if (snprintf(real, sizeof real, "%s/%s", strcmp(rdir, "/") ? rdir : "", leaf) >= (int)sizeof real) {
    return refuse(err, errsz, "path '%.200s' refused: too long", path);
  }
  struct stat st;
  if (lstat(real, &st) == 0 && S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    if (!realpath(real, target))
      return refuse(err, errsz, "path '%s' refused: a symbolic link that leads nowhere", path);
    snprintf(real, sizeof real, "%s", target);
  }
  *root = c4_root_of(ctx, real);
  if (*root == C4_ROOT_NONE)
    return refuse(err, errsz, "path '%s' refused: drivers may only use files in their sandbox "
                  "folder (C4:GetSandboxDir()) and, read-only, their package folder", path);
  if (snprintf(out, outsz, "%s", real) >= (int)outsz)
    return refuse(err, errsz, "path '%.200s' refused: too long", path);
  return 0;
}
