/*
 * c4_file.c — the DriverWorks File API: C4:FileOpen, FileClose, FileRead,
 * FileWrite, FileWriteString, FileSetPos, FileGetPos, FileGetSize,
 * FileIsValid, FileGetName, FileGetOpenedHandles, FileExists, FileDelete,
 * FileList, FileSetDir, FileGetDir, FileCreateDir and FileMove.
 *
 * Files are integer handles (1, 2, ...; never reused while the driver lives,
 * so a closed handle stays recognisably closed).  Names are relative to the
 * current folder (FileSetDir; the sandbox at first) or absolute, and go
 * through one confinement rule (c4_file_path.c): read and write inside the
 * sandbox, MEDIA and LOGGING, read only inside the package folder, nothing
 * elsewhere.  Path aliases (OS 3.3.0, C4F_FILESETDIR_CONFINED): SANDBOX, C4Z
 * (the package folder), MEDIA and LOGGING (folders of c4emu's own standing
 * for the controller's /media and /var/log/debug, shared by the drivers of
 * a project: emu_shared_dir_path).
 *
 * Return values are the documented ones: FileOpen gives -1 when the file
 * cannot be opened, FileRead "" on a bad handle or at end of file, FileWrite
 * and FileWriteString -1 on a bad handle; the reason goes to the log as a
 * warning.  Wrong argument types raise.
 *
 * FileOpen opens for reading and writing (read-only in the package folder),
 * creating the file if needed, with the position at the end of the file, as
 * the FileOpen page says.  Lifetime: every open file is closed by the
 * shutdown hook; handles are counted as "file".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file/c4_file.h"

typedef struct {
  int fd;        /* -1: closed */
  bool ro, eof;
  char *name;    /* as the driver gave it */
} c4_fentry;

typedef struct {
  char cwd[PATH_MAX];
  c4_fentry *files;
  size_t nfiles, cap;
} c4_files;

static const char FILES_KEY = 'f';

static c4_files *files_of(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&FILES_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  c4_files *f = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return f;
}

const char *c4_file_cwd(emu_ctx *ctx) {
  c4_files *f = files_of(ctx->L);
  return f && f->cwd[0] ? f->cwd : (ctx->sandbox_dir ? ctx->sandbox_dir : "/nonexistent");
}

/* The open entry of handle argument i, or NULL (closed, unknown). */
static c4_fentry *entry(lua_State *L, int i, const char *api) {
  lua_Integer h = luaL_checkinteger(L, i);
  c4_files *f = files_of(L);
  if (f && h >= 1 && (size_t)h <= f->nfiles && f->files[h - 1].fd >= 0) return &f->files[h - 1];
  emu_log(emu_ctx_of(L), EMU_LOG_WARN, "[c4emu] C4:%s(%ld): not an open file handle%s", api, (long)h,
          f && h >= 1 && (size_t)h <= f->nfiles ? " (it was closed)" : "");
  return NULL;
}

static void warn(lua_State *L, const char *api, const char *why) {
  emu_log(emu_ctx_of(L), EMU_LOG_WARN, "[c4emu] C4:%s: %s", api, why);
}

/* Whether this OS version knows path aliases (3.3.0; before, "SANDBOX" is
 * an ordinary file name). */
static bool aliases_on(lua_State *L) { return c4_has(emu_ctx_of(L), C4F_FILESETDIR_CONFINED); }

/* Resolves a PATH_ALIAS to its folder, or NULL with a warning. */
static const char *alias_dir(lua_State *L, const char *alias, const char *api) {
  emu_ctx *ctx = emu_ctx_of(L);
  bool known;
  const char *dir = c4_alias_folder(ctx, alias, &known);
  if (dir) return dir;
  char why[200];
  snprintf(why, sizeof why, "path alias '%.60s' %s", alias,
           known ? "has no folder (see the log)" : "is unknown (SANDBOX, C4Z, LOGGING, MEDIA)");
  warn(L, api, why);
  return NULL;
}

/* A path under an alias is relative to it even when written "/data/x" (the
 * FileMove page's example writes it so). */
static const char *alias_sub(const char *sub) {
  while (sub[0] == '/') sub++;
  return sub[0] ? sub : ".";
}

static bool is_alias(lua_State *L, const char *s) {
  return aliases_on(L) && (strcmp(s, "SANDBOX") == 0 || strcmp(s, "C4Z") == 0 ||
                           strcmp(s, "LOGGING") == 0 || strcmp(s, "MEDIA") == 0);
}

/* Resolves the name at argument i — or (alias, subpath) at i, i+1 when
 * with_alias and argument i+1 is given — into out.  Warns and returns -1
 * when refused. */
static int resolve_arg(lua_State *L, int i, bool with_alias, const char *api, char *out,
                       size_t outsz, c4_root *root) {
  emu_ctx *ctx = emu_ctx_of(L);
  const char *name = luaL_checkstring(L, i);
  const char *base = c4_file_cwd(ctx);
  if (with_alias && !lua_isnoneornil(L, i + 1) && aliases_on(L)) {
    base = alias_dir(L, name, api);
    if (!base) return -1;
    name = alias_sub(luaL_checkstring(L, i + 1));
  }
  char err[PATH_MAX + 200];
  if (c4_path_confine(ctx, base, name, out, outsz, root, err, sizeof err) != 0) {
    warn(L, api, err);
    return -1;
  }
  return 0;
}

/* C4:FileOpen(name) -> handle | -1 */
static int l_FileOpen(lua_State *L) {
  char path[PATH_MAX];
  c4_root root;
  c4_files *f = files_of(L);
  if (resolve_arg(L, 2, false, "FileOpen", path, sizeof path, &root) != 0 || !f) {
    lua_pushinteger(L, -1);
    return 1;
  }
  bool ro = !c4_root_writable(root);
  int fd = open(path, ro ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    close(fd);
    fd = -1;
    errno = EISDIR;
  }
  if (fd < 0) {
    char why[PATH_MAX + 100];
    snprintf(why, sizeof why, "'%s': %s%s", lua_tostring(L, 2), strerror(errno),
             ro ? " (the package folder is read-only)" : "");
    warn(L, "FileOpen", why);
    lua_pushinteger(L, -1);
    return 1;
  }
  lseek(fd, 0, SEEK_END);
  if (f->nfiles == f->cap) {
    size_t ncap = f->cap ? f->cap * 2 : 8;
    c4_fentry *p = realloc(f->files, ncap * sizeof *p);
    if (!p) {
      close(fd);
      return luaL_error(L, "out of memory");
    }
    f->files = p;
    f->cap = ncap;
  }
  f->files[f->nfiles++] = (c4_fentry){fd, ro, false, strdup(lua_tostring(L, 2))};
  emu_track(emu_ctx_of(L), "file", 1);
  lua_pushinteger(L, (lua_Integer)f->nfiles);
  return 1;
}

static void entry_close(emu_ctx *ctx, c4_fentry *e) {
  if (e->fd < 0) return;
  close(e->fd);
  e->fd = -1;
  emu_track(ctx, "file", -1);
}

/* C4:FileClose(handle) */
static int l_FileClose(lua_State *L) {
  c4_fentry *e = entry(L, 2, "FileClose");
  if (e) entry_close(emu_ctx_of(L), e);
  return 0;
}

/* C4:FileRead(handle, n) -> data ("" at end of file or on a bad handle) */
static int l_FileRead(lua_State *L) {
  c4_fentry *e = entry(L, 2, "FileRead");
  lua_Integer n = luaL_checkinteger(L, 3);
  luaL_argcheck(L, n >= 0, 3, "number of bytes must not be negative");
  if (!e) {
    lua_pushliteral(L, "");
    return 1;
  }
  struct stat st;
  off_t pos = lseek(e->fd, 0, SEEK_CUR);
  size_t left = fstat(e->fd, &st) == 0 && pos >= 0 && st.st_size > pos ? (size_t)(st.st_size - pos) : 0;
  size_t want = (size_t)n < left ? (size_t)n : left;
  char *buf = lua_newuserdata(L, want ? want : 1);
  size_t got = 0;
  while (got < want) {
    ssize_t r = read(e->fd, buf + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  if (got < (size_t)n) e->eof = true;
  lua_pushlstring(L, buf, got);
  return 1;
}

static lua_Integer write_bytes(lua_State *L, c4_fentry *e, const char *api, const char *s, size_t n) {
  if (!e) return -1;
  if (e->ro) {
    warn(L, api, "the file is in the package folder, which is read-only");
    return -1;
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(e->fd, s + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      char why[200];
      snprintf(why, sizeof why, "write failed: %s", strerror(errno));
      warn(L, api, why);
      return done ? (lua_Integer)done : -1;
    }
    done += (size_t)w;
  }
  return (lua_Integer)done;
}

/* C4:FileWrite(handle, n, data) -> bytes written | -1 */
static int l_FileWrite(lua_State *L) {
  c4_fentry *e = entry(L, 2, "FileWrite");
  lua_Integer n = luaL_checkinteger(L, 3);
  size_t len;
  const char *s = luaL_checklstring(L, 4, &len);
  luaL_argcheck(L, n >= 0, 3, "number of bytes must not be negative");
  if ((size_t)n < len) len = (size_t)n;
  lua_pushinteger(L, write_bytes(L, e, "FileWrite", s, len));
  return 1;
}

/* C4:FileWriteString(handle, s) -> bytes written | -1 */
static int l_FileWriteString(lua_State *L) {
  c4_fentry *e = entry(L, 2, "FileWriteString");
  size_t len;
  const char *s = luaL_checklstring(L, 3, &len);
  lua_pushinteger(L, write_bytes(L, e, "FileWriteString", s, len));
  return 1;
}

/* C4:FileSetPos(handle, pos) -> true | false */
static int l_FileSetPos(lua_State *L) {
  c4_fentry *e = entry(L, 2, "FileSetPos");
  lua_Integer pos = luaL_checkinteger(L, 3);
  luaL_argcheck(L, pos >= 0, 3, "position must not be negative");
  bool ok = e && lseek(e->fd, (off_t)pos, SEEK_SET) >= 0;
  if (ok) e->eof = false;
  lua_pushboolean(L, ok);
  return 1;
}

/* C4:FileGetPos(handle) -> position | -1 */
static int l_FileGetPos(lua_State *L) {
  c4_fentry *e = entry(L, 2, "FileGetPos");
  off_t pos = e ? lseek(e->fd, 0, SEEK_CUR) : -1;
  lua_pushinteger(L, pos >= 0 ? (lua_Integer)pos : -1);
  return 1;
}

/* C4:FileGetSize(handle) -> size | -1 */
static int l_FileGetSize(lua_State *L) {
  c4_fentry *e = entry(L, 2, "FileGetSize");
  struct stat st;
  lua_pushinteger(L, e && fstat(e->fd, &st) == 0 ? (lua_Integer)st.st_size : -1);
  return 1;
}

/* C4:FileIsValid(handle) -> false once closed or at end of file */
static int l_FileIsValid(lua_State *L) {
  lua_Integer h = luaL_checkinteger(L, 2);
  c4_files *f = files_of(L);
  bool ok = f && h >= 1 && (size_t)h <= f->nfiles && f->files[h - 1].fd >= 0 && !f->files[h - 1].eof;
  lua_pushboolean(L, ok);
  return 1;
}

/* C4:FileGetName(handle) -> the name it was opened with | "" */
static int l_FileGetName(lua_State *L) {
  c4_fentry *e = entry(L, 2, "FileGetName");
  lua_pushstring(L, e && e->name ? e->name : "");
  return 1;
}

/* C4:FileGetOpenedHandles() -> {handle, ...} */
static int l_FileGetOpenedHandles(lua_State *L) {
  c4_files *f = files_of(L);
  lua_newtable(L);
  int k = 1;
  for (size_t i = 0; f && i < f->nfiles; i++) {
    if (f->files[i].fd < 0) continue;
    lua_pushinteger(L, (lua_Integer)i + 1);
    lua_rawseti(L, -2, k++);
  }
  return 1;
}

/* C4:FileExists(name) -> bool */
static int l_FileExists(lua_State *L) {
  char path[PATH_MAX];
  c4_root root;
  struct stat st;
  bool ok = resolve_arg(L, 2, false, "FileExists", path, sizeof path, &root) == 0 &&
            stat(path, &st) == 0;
  lua_pushboolean(L, ok);
  return 1;
}

/* C4:FileDelete(name) or C4:FileDelete(alias, subpath) -> bool */
static int l_FileDelete(lua_State *L) {
  char path[PATH_MAX];
  c4_root root;
  if (resolve_arg(L, 2, true, "FileDelete", path, sizeof path, &root) != 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (!c4_root_writable(root)) {
    warn(L, "FileDelete", "files in the package folder cannot be deleted (it is read-only)");
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_pushboolean(L, unlink(path) == 0);
  return 1;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* C4:FileList([alias, subpath]) -> {name, ...} of the files in the current
 * folder (sorted, so that runs are reproducible) | nil when there are none */
static int l_FileList(lua_State *L) {
  char path[PATH_MAX];
  c4_root root;
  emu_ctx *ctx = emu_ctx_of(L);
  if (lua_isnoneornil(L, 2)) {
    snprintf(path, sizeof path, "%s", c4_file_cwd(ctx));
  } else if (resolve_arg(L, 2, true, "FileList", path, sizeof path, &root) != 0) {
    lua_pushnil(L);
    return 1;
  }
  DIR *d = opendir(path);
  if (!d) {
    lua_pushnil(L);
    return 1;
  }
  lua_newtable(L);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    struct stat st;
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s/%s", path, de->d_name) >= (int)sizeof full) continue;
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    lua_pushstring(L, de->d_name);
    lua_rawseti(L, -2, ++n);
  }
  closedir(d);
  if (n == 0) {
    lua_pushnil(L);
    return 1;
  }
  /* Sort in C on a copy of the names (table.sort could be replaced). */
  const char **names = lua_newuserdata(L, (size_t)n * sizeof *names);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, -2, i + 1);
    names[i] = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the table */
  }
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* C4:FileSetDir(path) or C4:FileSetDir(alias [, subdir]) -> bool */
static int l_FileSetDir(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_files *f = files_of(L);
  const char *arg = luaL_checkstring(L, 2);
  char path[PATH_MAX], err[PATH_MAX + 200];
  c4_root root;
  int rc;
  if (is_alias(L, arg)) {
    const char *base = alias_dir(L, arg, "FileSetDir");
    if (!base) {
      lua_pushboolean(L, 0);
      return 1;
    }
    const char *sub = lua_isnoneornil(L, 3) ? "." : alias_sub(luaL_checkstring(L, 3));
    rc = c4_path_confine(ctx, base, sub, path, sizeof path, &root, err, sizeof err);
  } else {
    rc = c4_path_confine(ctx, c4_file_cwd(ctx), arg, path, sizeof path, &root, err, sizeof err);
  }
  struct stat st;
  if (rc == 0 && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
    snprintf(err, sizeof err, "'%s' is not a folder", arg);
    rc = -1;
  }
  if (rc != 0 || !f) {
    warn(L, "FileSetDir", err);
    lua_pushboolean(L, 0);
    return 1;
  }
  snprintf(f->cwd, sizeof f->cwd, "%s", path);
  lua_pushboolean(L, 1);
  return 1;
}

/* C4:FileGetDir() -> the current folder */
static int l_FileGetDir(lua_State *L) {
  lua_pushstring(L, c4_file_cwd(emu_ctx_of(L)));
  return 1;
}

/* C4:FileCreateDir(alias, subdir) -> bool (parents are created too) */
static int l_FileCreateDir(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  const char *alias = luaL_checkstring(L, 2);
  const char *sub = alias_sub(luaL_checkstring(L, 3));
  const char *base = alias_dir(L, alias, "FileCreateDir");
  if (!base) {
    lua_pushboolean(L, 0);
    return 1;
  }
  /* Each component in turn, so the folder of the next one exists. */
  char part[PATH_MAX], path[PATH_MAX], err[PATH_MAX + 200];
  size_t len = strlen(sub);
  if (len >= sizeof part) len = sizeof part - 1;
  bool ok = len > 0;
  for (size_t i = 0; ok && i <= len; i++) {
    if (i < len && sub[i] != '/') continue;
    memcpy(part, sub, i);
    part[i] = '\0';
    if (i == 0 || sub[i - 1] == '/') continue;
    c4_root root;
    if (c4_path_confine(ctx, base, part, path, sizeof path, &root, err, sizeof err) != 0) {
      warn(L, "FileCreateDir", err);
      ok = false;
    } else if (!c4_root_writable(root)) {
      warn(L, "FileCreateDir", "the package folder is read-only");
      ok = false;
    } else if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      snprintf(err, sizeof err, "'%s': %s", part, strerror(errno));
      warn(L, "FileCreateDir", err);
      ok = false;
    }
  }
  lua_pushboolean(L, ok);
  return 1;
}

/* C4:FileMove(aliasFrom, from, aliasTo, to) -> bool.  The page's parameter
 * table lists both aliases first, its example alternates alias and path;
 * we follow the example (it is code that ran).  A `to` naming a folder keeps
 * the file's name.  Only files in the sandbox move, and only within it. */
static int l_FileMove(lua_State *L) {
  char from[PATH_MAX], to[PATH_MAX];
  c4_root rf, rt;
  luaL_checkstring(L, 4);
  luaL_checkstring(L, 5);
  if (resolve_arg(L, 2, true, "FileMove", from, sizeof from, &rf) != 0 ||
      resolve_arg(L, 4, true, "FileMove", to, sizeof to, &rt) != 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (!c4_root_writable(rf) || !c4_root_writable(rt)) {
    warn(L, "FileMove", "files move only between the sandbox, MEDIA and LOGGING (the package "
         "folder is read-only)");
    lua_pushboolean(L, 0);
    return 1;
  }
  struct stat st;
  if (stat(to, &st) == 0 && S_ISDIR(st.st_mode)) {
    const char *leaf = strrchr(from, '/');
    size_t n = strlen(to);
    if (n + strlen(leaf) >= sizeof to) {
      lua_pushboolean(L, 0);
      return 1;
    }
    memcpy(to + n, leaf, strlen(leaf) + 1);
  }
  bool ok = rename(from, to) == 0;
  if (!ok) {
    char why[PATH_MAX + 100];
    snprintf(why, sizeof why, "'%s': %s", lua_tostring(L, 3), strerror(errno));
    warn(L, "FileMove", why);
  }
  lua_pushboolean(L, ok);
  return 1;
}

static void files_shutdown(emu_ctx *ctx, void *data) {
  c4_files *f = data;
  for (size_t i = 0; i < f->nfiles; i++) {
    entry_close(ctx, &f->files[i]);
    free(f->files[i].name);
  }
  free(f->files);
  f->files = NULL;
  f->nfiles = f->cap = 0;
  if (ctx->L) {
    lua_pushlightuserdata(ctx->L, (void *)&FILES_KEY);
    lua_pushnil(ctx->L);
    lua_rawset(ctx->L, LUA_REGISTRYINDEX);
  }
  free(f);
}

static void file_open(lua_State *L, emu_ctx *ctx) {
  c4_files *f = calloc(1, sizeof *f);
  if (!f) luaL_error(L, "out of memory");
  lua_pushlightuserdata(L, (void *)&FILES_KEY);
  lua_pushlightuserdata(L, f);
  lua_rawset(L, LUA_REGISTRYINDEX);
  emu_on_shutdown(ctx, files_shutdown, f);
  c4_io_confine(L, ctx);
}

static const c4_fn file_fns[] = {
    {"FileOpen", l_FileOpen},
    {"FileClose", l_FileClose},
    {"FileRead", l_FileRead},
    {"FileWrite", l_FileWrite},
    {"FileWriteString", l_FileWriteString},
    {"FileSetPos", l_FileSetPos},
    {"FileGetPos", l_FileGetPos},
    {"FileGetSize", l_FileGetSize},
    {"FileIsValid", l_FileIsValid},
    {"FileGetName", l_FileGetName},
    {"FileGetOpenedHandles", l_FileGetOpenedHandles},
    {"FileExists", l_FileExists},
    {"FileDelete", l_FileDelete},
    {"FileList", l_FileList},
    {"FileSetDir", l_FileSetDir},
    {"FileGetDir", l_FileGetDir},
    {"FileCreateDir", l_FileCreateDir},
    {"FileMove", l_FileMove},
    {NULL, NULL},
};

const c4_family c4_family_file = {"file", file_fns, file_open, NULL};
