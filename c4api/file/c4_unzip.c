/*
 * c4_unzip.c — C4:Unzip(zipfile, filespec, destination) → status, fileset,
 * errors (OS 3.3.0), with libzip; and C4:FileFreeSpace(), the room it fills.
 *
 * The page (headed "UnZip"; every example and a controller's method list
 * spell the method Unzip, so that is the name c4emu gives it):
 *   - filespec is a shell pattern over the entry's whole name: "*" takes
 *     everything, "*.lua" every Lua file, "*.gif" also www/x/y.gif (its
 *     example 3), so '/' is not special (fnmatch without FNM_PATHNAME);
 *   - folders inside the archive are created under destination;
 *   - status is true when every matching file was extracted; fileset lists
 *     them by their name in the archive, in archive order; errors maps each
 *     file that failed to a message, or the zip file itself (as the driver
 *     named it) to "The specified zip file does not exist" and the like.
 *
 * Confinement (the File API's rule, c4_file_path.c): names are relative to
 * the File API's current folder (the sandbox at first) or absolute; the zip
 * may lie in the sandbox or the package folder, destination must lie in the
 * sandbox (created when missing, its parent must exist).  Entries are
 * refused, each with an error, when the package loader would refuse them
 * (emu_zip_name_problem: absolute, "..", backslash: zip-slip) or when they are
 * symbolic links or special files.  Extraction walks the destination one
 * folder at a time with openat(O_NOFOLLOW), so a symbolic link already in the
 * sandbox cannot lead an entry out of it.  An existing file is overwritten.
 * A call inflates at most UNZIP_MAX_TOTAL bytes (c4emu's bound: a zip bomb
 * stops with an error instead of filling the disk), and never more than an
 * entry's header declares.  A file that fails half-way is removed.
 *
 * Return values are the documented ones for runtime failures; wrong argument
 * types raise.  Nothing stays open after the call.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zip.h>

#include "file/c4_file.h"

#define UNZIP_MAX_TOTAL (1024ull << 20) /* 1 GiB per call */
#define COPY_BUF (64 * 1024)

typedef struct {
  lua_State *L;
  int fileset, errors;  /* stack indexes */
  bool failed;
  uint64_t total;
  char *buf;
} unzip_run;

static void add_error(unzip_run *u, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_error(unzip_run *u, const char *key, const char *fmt, ...) {
  char msg[PATH_MAX + 300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lua_pushstring(u->L, msg);
  lua_setfield(u->L, u->errors, key);
  u->failed = true;
}

/* Opens (creating it) folder `name` inside folder fd without following a
 * symbolic link; -1 with errno set. */
static int open_subdir(int fd, const char *name) {
  if (mkdirat(fd, name, 0755) != 0 && errno != EEXIST) return -1;
  return openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * Walks rel's folders under dest_fd (all of rel when whole), creating them.
 * Returns the fd of the last folder and sets *leaf to rel's last component,
 * or -1 with errno set.
 */
static int walk_dirs(int dest_fd, const char *rel, bool whole, const char **leaf) {
  int fd = dup(dest_fd);
  char comp[NAME_MAX + 1];
  const char *s = rel;
  while (fd >= 0 && *s) {
    size_t n = strcspn(s, "/");
    bool last = s[n] == '\0' || (s[n] == '/' && s[n + 1] == '\0');
    if (last && !whole) break;
    if (n > NAME_MAX) {
      close(fd);
      errno = ENAMETOOLONG;
      return -1;
    }
    if (n > 0 && !(n == 1 && s[0] == '.')) {
      memcpy(comp, s, n);
      comp[n] = '\0';
      int sub = open_subdir(fd, comp);
      int e = errno;
      close(fd);
      errno = e;
      fd = sub;
    }
    s += n;
    if (*s == '/') s++;
  }
  *leaf = s;
  return fd;
}

/* Why entry i is no plain file or folder (its Unix attributes), or NULL. */
static const char *type_problem(zip_t *za, zip_uint64_t i) {
  zip_uint8_t opsys;
  zip_uint32_t attr;
  if (zip_file_get_external_attributes(za, i, 0, &opsys, &attr) != 0 || opsys != ZIP_OPSYS_UNIX)
    return NULL;
  mode_t type = (mode_t)(attr >> 16) & S_IFMT;
  if (type == S_IFLNK) return "symbolic links are not extracted";
  if (type != 0 && type != S_IFREG && type != S_IFDIR) return "special files are not extracted";
  return NULL;
}

static int fail(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, n, fmt, ap);
  va_end(ap);
  return -1;
}

/* Inflates entry i into the open file fd.  0, or -1 with a reason. */
static int copy_entry(unzip_run *u, zip_t *za, zip_uint64_t i, int fd, char *why, size_t n) {
  zip_stat_t st;
  bool sized = zip_stat_index(za, i, 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE);
  zip_file_t *zf = zip_fopen_index(za, i, 0);
  if (!zf) return fail(why, n, "the entry cannot be read: %s", zip_strerror(za));
  uint64_t size = 0;
  int rc = 0;
  for (;;) {
    zip_int64_t got = zip_fread(zf, u->buf, COPY_BUF);
    if (got < 0) {
      rc = fail(why, n, "the entry is damaged: %s", zip_file_strerror(zf));
      break;
    }
    if (got == 0) break;
    size += (uint64_t)got;
    u->total += (uint64_t)got;
    if (sized && size > st.size) {
      rc = fail(why, n, "the entry inflates past the %llu bytes its header declares",
                    (unsigned long long)st.size);
      break;
    }
    if (u->total > UNZIP_MAX_TOTAL) {
      rc = fail(why, n, "the files inflate past c4emu's %llu MiB limit for one C4:Unzip",
                    UNZIP_MAX_TOTAL >> 20);
      break;
    }
    if (emu_write_all(fd, u->buf, (size_t)got) != 0) {
      rc = fail(why, n, "%s", strerror(errno));
      break;
    }
  }
  zip_fclose(zf);
  return rc;
}

/* Extracts one matching entry; records it in fileset or errors. */
static void extract(unzip_run *u, zip_t *za, zip_uint64_t i, const char *name, int dest_fd,
                    const char *dest) {
  const char *why = emu_zip_name_problem(name);
  if (!why) why = type_problem(za, i);
  if (why) {
    add_error(u, name, "entry refused: %s; entries must stay inside the destination", why);
    return;
  }
  size_t len = strlen(name);
  bool folder = name[len - 1] == '/';
  const char *leaf;
  int dfd = walk_dirs(dest_fd, name, folder, &leaf);
  if (dfd < 0) {
    add_error(u, name, "Could not open file \"%s/%s\": %s", dest, name, strerror(errno));
    return;
  }
  if (folder) { /* created; folders are not listed in fileset */
    close(dfd);
    return;
  }
  int fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    add_error(u, name, "Could not open file \"%s/%s\": %s", dest, name, strerror(errno));
    close(dfd);
    return;
  }
  char reason[300];
  int rc = copy_entry(u, za, i, fd, reason, sizeof reason);
  if (close(fd) != 0 && rc == 0) rc = fail(reason, sizeof reason, "%s", strerror(errno));
  if (rc != 0) {
    unlinkat(dfd, leaf, 0);
    add_error(u, name, "Could not write file \"%s/%s\": %s", dest, name, reason);
  } else {
    lua_pushstring(u->L, name);
    lua_rawseti(u->L, u->fileset, (int)lua_objlen(u->L, u->fileset) + 1);
  }
  close(dfd);
}

/* Resolves the destination (in the sandbox, MEDIA or LOGGING; created when missing) and opens
 * it; -1 after recording why under its name. */
static int open_destination(unzip_run *u, emu_ctx *ctx, const char *dest, char *real, size_t n) {
  char err[PATH_MAX + 200];
  c4_root root;
  if (c4_path_confine(ctx, c4_file_cwd(ctx), dest, real, n, &root, err, sizeof err) != 0) {
    add_error(u, dest, "%s", err);
    return -1;
  }
  if (!c4_root_writable(root)) {
    add_error(u, dest, "the destination must be in the sandbox (or MEDIA, LOGGING): the package "
              "folder is read-only");
    return -1;
  }
  if (mkdir(real, 0755) != 0 && errno != EEXIST) {
    add_error(u, dest, "Could not create folder \"%s\": %s", dest, strerror(errno));
    return -1;
  }
  int fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) add_error(u, dest, "Could not open folder \"%s\": %s", dest, strerror(errno));
  return fd;
}

/* Opens the archive; NULL after recording why under the name the driver gave. */
static zip_t *open_archive(unzip_run *u, emu_ctx *ctx, const char *zipfile) {
  char real[PATH_MAX], err[PATH_MAX + 200];
  c4_root root;
  struct stat sb;
  if (c4_path_confine(ctx, c4_file_cwd(ctx), zipfile, real, sizeof real, &root, err, sizeof err) != 0) {
    if (strstr(err, "does not exist")) add_error(u, zipfile, "The specified zip file does not exist");
    else add_error(u, zipfile, "%s", err);
    return NULL;
  }
  if (stat(real, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    add_error(u, zipfile, "The specified zip file does not exist");
    return NULL;
  }
  if (sb.st_size == 0) { /* libzip takes an empty file for an empty archive */
    add_error(u, zipfile, "The specified file is not a zip archive: the file is empty");
    return NULL;
  }
  int zerr = 0;
  zip_t *za = zip_open(real, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    add_error(u, zipfile, "The specified file is not a zip archive: %s", zip_error_strerror(&ze));
    zip_error_fini(&ze);
  }
  return za;
}

/* C4:Unzip(zipfile, filespec, destination) → status, fileset, errors */
static int l_Unzip(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  const char *zipfile = c4_check_cstring(L, 2, "zipfile");
  const char *spec = c4_check_cstring(L, 3, "filespec");
  const char *dest = c4_check_cstring(L, 4, "destination");
  lua_settop(L, 4);
  lua_newtable(L);
  lua_newtable(L);
  unzip_run u = {.L = L, .fileset = 5, .errors = 6};
  zip_t *za = open_archive(&u, ctx, zipfile);
  char real[PATH_MAX];
  int dest_fd = za ? open_destination(&u, ctx, dest, real, sizeof real) : -1;
  u.buf = dest_fd >= 0 ? malloc(COPY_BUF) : NULL;
  if (dest_fd >= 0 && !u.buf) add_error(&u, zipfile, "out of memory");
  zip_int64_t count = u.buf ? zip_get_num_entries(za, 0) : 0;
  for (zip_uint64_t i = 0; i < (zip_uint64_t)(count > 0 ? count : 0); i++) {
    const char *name = zip_get_name(za, i, 0);
    if (!name) {
      add_error(&u, zipfile, "entry %llu has no name: %s", (unsigned long long)i, zip_strerror(za));
      continue;
    }
    if (fnmatch(spec, name, 0) == 0) extract(&u, za, i, name, dest_fd, dest);
  }
  free(u.buf);
  if (dest_fd >= 0) close(dest_fd);
  if (za) zip_discard(za);
  lua_pushboolean(L, !u.failed);
  lua_replace(L, 4);
  return 3;
}

/* C4:FileFreeSpace() → bytes free (for an unprivileged writer) on the file
 * system of the sandbox; 0 with a warning when that cannot be read. */
static int l_FileFreeSpace(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  struct statvfs sv;
  if (!ctx->sandbox_dir || statvfs(ctx->sandbox_dir, &sv) != 0) {
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] C4:FileFreeSpace: cannot read the sandbox's file system: %s",
            ctx->sandbox_dir ? strerror(errno) : "no sandbox");
    lua_pushnumber(L, 0);
    return 1;
  }
  lua_pushnumber(L, (lua_Number)sv.f_bavail * (lua_Number)sv.f_frsize);
  return 1;
}

static const c4_fn unzip_fns[] = {
    {"Unzip", l_Unzip},
    {"FileFreeSpace", l_FileFreeSpace},
    {NULL, NULL},
};

const c4_family c4_family_unzip = {"unzip", unzip_fns, NULL, NULL};
