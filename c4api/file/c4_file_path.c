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
 *
 * s4-files: two more folders, the controller's MEDIA (/media) and LOGGING
 * (/var/log/debug), which the File API's path aliases name and which every
 * driver of a project shares (emu_shared_dir_path makes them on first use):
 * read and write, as the FileCreateDir, FileMove and FileDelete pages list
 * them among the places a driver may create, move and delete files.  An
 * absolute name under a controller's own /media or /var/log/debug leads to
 * c4emu's folder for it (the FileSetDir page keeps full paths "for backwards
 * compatibility using allowed paths only"; drivers written before 3.3.0 call
 * C4:FileSetDir("/media/...")), then the same rule applies.
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

/* The controller's folders behind MEDIA and LOGGING, as their pages give them. */
static const struct {
  const char *alias, *controller_path;
  emu_shared_dir dir;
  c4_root root;
} shared[] = {
    {"MEDIA", "/media", EMU_SHARED_MEDIA, C4_ROOT_MEDIA},
    {"LOGGING", "/var/log/debug", EMU_SHARED_LOGGING, C4_ROOT_LOGGING},
};
#define NSHARED (sizeof shared / sizeof shared[0])

bool c4_root_writable(c4_root root) {
  return root == C4_ROOT_SANDBOX || root == C4_ROOT_MEDIA || root == C4_ROOT_LOGGING;
}

const char *c4_alias_folder(emu_ctx *ctx, const char *alias, bool *known) {
  *known = true;
  if (strcmp(alias, "SANDBOX") == 0) return ctx->sandbox_dir;
  if (strcmp(alias, "C4Z") == 0) return ctx->pkg_dir;
  for (size_t i = 0; i < NSHARED; i++)
    if (strcmp(alias, shared[i].alias) == 0) return emu_shared_dir_path(ctx, shared[i].dir, true);
  *known = false;
  return NULL;
}

c4_root c4_root_of(emu_ctx *ctx, const char *real) {
  char sb[PATH_MAX], pk[PATH_MAX];
  if (ctx->sandbox_dir && realpath(ctx->sandbox_dir, sb) && inside(sb, real)) return C4_ROOT_SANDBOX;
  if (ctx->pkg_dir && realpath(ctx->pkg_dir, pk) && inside(pk, real)) return C4_ROOT_PACKAGE;
  for (size_t i = 0; i < NSHARED; i++) {
    /* Not made yet: nothing can lie in it. */
    const char *dir = emu_shared_dir_path(ctx, shared[i].dir, false);
    if (dir && realpath(dir, sb) && inside(sb, real)) return shared[i].root;
  }
  return C4_ROOT_NONE;
}

/* The length of the controller folder that absolute `path` starts with (a
 * whole component: "/mediafoo" is not under "/media"), with its folder in
 * *dir; 0 when it starts with none. */
static size_t controller_prefix(emu_ctx *ctx, const char *path, const char **dir) {
  for (size_t i = 0; i < NSHARED; i++) {
    size_t n = strlen(shared[i].controller_path);
    if (strncmp(path, shared[i].controller_path, n) == 0 && (path[n] == '\0' || path[n] == '/')) {
      *dir = emu_shared_dir_path(ctx, shared[i].dir, true);
      return n;
    }
  }
  return 0;
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
  const char *shared_dir = NULL;
  size_t pre = path[0] == '/' ? controller_prefix(ctx, path, &shared_dir) : 0;
  if (pre && !shared_dir)
    return refuse(err, errsz, "path '%s': c4emu has no folder for it (see the log)", path);
  int n = pre ? snprintf(joined, sizeof joined, "%s%s", shared_dir, path + pre)
          : path[0] == '/' ? snprintf(joined, sizeof joined, "%s", path)
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
                  "folder (C4:GetSandboxDir()), the MEDIA and LOGGING folders and, read-only, "
                  "their package folder", path);
  if (snprintf(out, outsz, "%s", real) >= (int)outsz)
    return refuse(err, errsz, "path '%.200s' refused: too long", path);
  return 0;
}
