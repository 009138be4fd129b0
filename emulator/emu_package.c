/*
 * emu_package.c — opening a driver package: an unpacked driver folder, a
 * .c4z (zip) extracted with libzip into a private mkdtemp folder, or a legacy
 * .c4i (driver.xml itself, the script in CDATA; any file starting with '<'),
 * then driver.xml parsed (emu_xml.c) and the main script checked: the script
 * may also be code inside <script>; encryption="2" refuses only a script that
 * really is encrypted (README-packages.md); jit="1" is noted.
 *
 * A .c4z comes from strangers, so every entry is vetted before anything is
 * written: names must be relative, without "..", backslashes or control
 * characters; symlinks and special files are refused; entry count, entry size
 * and total size are capped.  Sizes in the zip headers are only a first
 * check: while extracting we count the bytes actually inflated and stop at
 * the cap, because a crafted header can lie.  Files are created with
 * O_EXCL|O_NOFOLLOW inside a folder only we write to.
 *
 * Lifetime: emu_package_open fills pkg only on success; on failure nothing is
 * left behind (the temp folder is removed).  emu_package_free removes the
 * extraction folder, is idempotent and accepts a zeroed package.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "emu_host.h"
#include "emu_package.h"

#define DRIVER_XML_READ_MAX (16u << 20)  /* emu_xml_parse refuses less than this */
#define NAME_SHOWN_MAX 120               /* characters of an entry name put in messages */

/* Writes the reason into err and returns -1: the refusals' one shape. */
int emu_errf(char *err, size_t errsz, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errsz, fmt, ap);
  va_end(ap);
  return -1;
}

/* A copy of a name fit for a one-line message: control characters become
 * '?', long names are cut with "...". */
static const char *shown(const char *name, char *buf, size_t bufsz) {
  size_t i = 0, j = 0;
  for (; name[i] && j + 4 < bufsz && i < NAME_SHOWN_MAX; i++)
    buf[j++] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
  if (name[i] && j + 4 < bufsz) {
    memcpy(buf + j, "...", 3);
    j += 3;
  }
  buf[j] = '\0';
  return buf;
}

/* Why a relative name from a package is unsafe to use as a path, or NULL
 * (emu.h: also what C4:Unzip refuses). */
const char *emu_zip_name_problem(const char *name) {
  if (!name || name[0] == '\0') return "it is empty";
  if (name[0] == '/') return "it is an absolute path";
  for (const char *s = name; *s; s++) {
    if (*s == '\\') return "it contains a backslash";
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return "it contains a control character";
  }
  for (const char *s = name; *s;) {
    size_t n = strcspn(s, "/");
    if (n == 2 && s[0] == '.' && s[1] == '.') return "it contains a '..' component";
    s += n;
    if (*s == '/') s++;
  }
  return NULL;
}

bool emu_zip_name_safe(const char *name) {
  return emu_zip_name_problem(name) == NULL;
}

bool emu_is_bytecode(const char *p, size_t n) {
  return n > 0 && p[0] == '\033';   /* LUA_SIGNATURE "\033Lua" */
}

/* Lua source is text: no NUL bytes, and almost every byte of the start is
 * printable ASCII, whitespace, or part of UTF-8.  Ciphertext (an S/MIME
 * envelope starts 30 82 ...) fails at once. */
bool emu_looks_like_text(const char *p, size_t n) {
  size_t look = n < 4096 ? n : 4096, odd = 0;
  for (size_t i = 0; i < look; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == 0) return false;
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') odd++;
  }
  return odd * 50 <= look;   /* at most 2% control bytes */
}

/* Appends one line to the warnings shown when the driver loads. */
static void add_warning(emu_package *pkg, const char *fmt, ...) {
  char line[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  size_t old = pkg->warnings ? strlen(pkg->warnings) : 0;
  char *w = realloc(pkg->warnings, old + strlen(line) + 2);
  if (!w) return;
  snprintf(w + old, strlen(line) + 2, "%s\n", line);
  pkg->warnings = w;
}

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  remove(path);   /* keep going: remove as much as we can */
  return 0;
}

void emu_package_free(emu_package *pkg) {
  if (!pkg) return;
  if (pkg->tmpdir) nftw(pkg->tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
  free(pkg->tmpdir);
  free(pkg->root);
  free(pkg->chunkname);
  free(pkg->warnings);
  emu_xml_free(&pkg->xml);
  *pkg = (emu_package){0};
}

/* Creates the folders of `rel` (all of it when it names a folder, else all
 * but the last component) under root. */
static int make_dirs(const char *root, const char *rel, bool whole, const char *entry,
                     char *err, size_t errsz) {
  char path[PATH_MAX], nb[NAME_SHOWN_MAX + 8];
  size_t len = strlen(root);
  if (len >= sizeof path) return emu_errf(err, errsz, "temporary folder path too long");
  memcpy(path, root, len + 1);
  for (const char *s = rel; *s;) {
    size_t n = strcspn(s, "/");
    bool last = s[n] == '\0';
    if (last && !whole) break;
    if (n > 0 && !(n == 1 && s[0] == '.')) {
      if (len + 1 + n >= sizeof path)
        return emu_errf(err, errsz, "entry '%s': name too long", shown(entry, nb, sizeof nb));
      path[len++] = '/';
      memcpy(path + len, s, n);
      len += n;
      path[len] = '\0';
      struct stat sb;
      if (mkdir(path, 0755) != 0) {
        int e = errno;
        bool is_dir = e == EEXIST && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
        if (!is_dir)
          return emu_errf(err, errsz, "entry '%s': cannot create folder: %s%s", shown(entry, nb, sizeof nb),
                      strerror(e), e == EEXIST ? " (a file has the same name)" : "");
      }
    }
    s += n;
    if (*s == '/') s++;
  }
  return 0;
}

int emu_write_all(int fd, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w == 0) errno = EIO;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Copies entry i to root/name, counting inflated bytes against both caps. */
static int extract_file(zip_t *za, zip_uint64_t i, const char *name, const char *root,
                        char *buf, size_t bufsz, uint64_t *total, char *err, size_t errsz) {
  char path[PATH_MAX], nb[NAME_SHOWN_MAX + 8];
  if (snprintf(path, sizeof path, "%s/%s", root, name) >= (int)sizeof path)
    return emu_errf(err, errsz, "entry '%s': name too long", shown(name, nb, sizeof nb));
  if (make_dirs(root, name, false, name, err, errsz) != 0) return -1;

  zip_file_t *zf = zip_fopen_index(za, i, 0);
  if (!zf)
    return emu_errf(err, errsz, "entry '%s' cannot be read: %s", shown(name, nb, sizeof nb),
                zip_strerror(za));
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    zip_fclose(zf);
    return emu_errf(err, errsz, "entry '%s': cannot create file: %s%s", shown(name, nb, sizeof nb),
                strerror(e), e == EEXIST ? " (another entry has the same name)" : "");
  }

  uint64_t size = 0;
  int rc = 0;
  for (;;) {
    zip_int64_t n = zip_fread(zf, buf, bufsz);
    if (n < 0) {
      rc = emu_errf(err, errsz, "entry '%s' is damaged: %s", shown(name, nb, sizeof nb), zip_file_strerror(zf));
      break;
    }
    if (n == 0) break;
    size += (uint64_t)n;
    *total += (uint64_t)n;
    if (size > EMU_ZIP_MAX_ENTRY) {
      rc = emu_errf(err, errsz, "entry '%s' inflates past the %u MiB limit for one file",
                shown(name, nb, sizeof nb), EMU_ZIP_MAX_ENTRY >> 20);
      break;
    }
    if (*total > EMU_ZIP_MAX_TOTAL) {
      rc = emu_errf(err, errsz, "the files in the package inflate past the %u MiB limit for all files "
                "(at entry '%s')", EMU_ZIP_MAX_TOTAL >> 20, shown(name, nb, sizeof nb));
      break;
    }
    if (emu_write_all(fd, buf, (size_t)n) != 0) {
      rc = emu_errf(err, errsz, "entry '%s': cannot write: %s", shown(name, nb, sizeof nb), strerror(errno));
      break;
    }
  }
  zip_fclose(zf);
  if (close(fd) != 0 && rc == 0)
    rc = emu_errf(err, errsz, "entry '%s': cannot write: %s", shown(name, nb, sizeof nb), strerror(errno));
  return rc;
}

/* First pass: refuses the package before anything is written when a name,
 * a type, the count or a declared size is out of bounds. */
static int vet_entries(zip_t *za, const char *zpath, char *err, size_t errsz) {
  char nb[NAME_SHOWN_MAX + 8];
  zip_int64_t count = zip_get_num_entries(za, 0);
  if (count < 0) return emu_errf(err, errsz, "%s: cannot list entries: %s", zpath, zip_strerror(za));
  if (count > EMU_ZIP_MAX_FILES)
    return emu_errf(err, errsz, "%s has %lld entries; the limit is %d", zpath, (long long)count,
                EMU_ZIP_MAX_FILES);

  uint64_t total = 0;
  for (zip_uint64_t i = 0; i < (zip_uint64_t)count; i++) {
    const char *name = zip_get_name(za, i, 0);
    if (!name) return emu_errf(err, errsz, "%s: entry %llu has no name: %s", zpath,
                           (unsigned long long)i, zip_strerror(za));
    const char *why = emu_zip_name_problem(name);
    if (why)
      return emu_errf(err, errsz, "%s: entry '%s' refused: %s; entries must be relative paths inside the package",
                  zpath, shown(name, nb, sizeof nb), why);

    zip_uint8_t opsys;
    zip_uint32_t attr;
    if (zip_file_get_external_attributes(za, i, 0, &opsys, &attr) == 0 && opsys == ZIP_OPSYS_UNIX) {
      mode_t type = (mode_t)(attr >> 16) & S_IFMT;
      if (type == S_IFLNK)
        return emu_errf(err, errsz, "%s: entry '%s' refused: symbolic links are not allowed in a package",
                    zpath, shown(name, nb, sizeof nb));
      if (type != 0 && type != S_IFREG && type != S_IFDIR)
        return emu_errf(err, errsz, "%s: entry '%s' refused: it is a special file", zpath,
                    shown(name, nb, sizeof nb));
    }

    zip_stat_t st;
    if (zip_stat_index(za, i, 0, &st) != 0)
      return emu_errf(err, errsz, "%s: entry '%s': %s", zpath, shown(name, nb, sizeof nb), zip_strerror(za));
    if (st.valid & ZIP_STAT_SIZE) {
      if (st.size > EMU_ZIP_MAX_ENTRY)
        return emu_errf(err, errsz, "%s: entry '%s' is %llu bytes uncompressed; the limit for one file is %u MiB",
                    zpath, shown(name, nb, sizeof nb), (unsigned long long)st.size, EMU_ZIP_MAX_ENTRY >> 20);
      total += st.size;
      if (total > EMU_ZIP_MAX_TOTAL)
        return emu_errf(err, errsz, "%s: the files in the package add up to more than the %u MiB limit "
                    "(at entry '%s')", zpath, EMU_ZIP_MAX_TOTAL >> 20, shown(name, nb, sizeof nb));
    }
  }
  return 0;
}

static int extract_entries(zip_t *za, const char *zpath, const char *root, char *err, size_t errsz) {
  enum { COPY_BUF = 64 * 1024 };
  char why[512];
  char *buf = malloc(COPY_BUF);
  if (!buf) return emu_errf(err, errsz, "out of memory");
  uint64_t total = 0;
  int rc = 0;
  zip_int64_t count = zip_get_num_entries(za, 0);
  for (zip_uint64_t i = 0; i < (zip_uint64_t)count; i++) {
    const char *name = zip_get_name(za, i, 0);
    size_t n = strlen(name);
    rc = n > 0 && name[n - 1] == '/'
       ? make_dirs(root, name, true, name, why, sizeof why)
       : extract_file(za, i, name, root, buf, COPY_BUF, &total, why, sizeof why);
    if (rc != 0) {
      rc = emu_errf(err, errsz, "%s: %s", zpath, why);
      break;
    }
  }
  free(buf);
  return rc;
}

/* A hint for the usual packing mistake: everything inside one top folder. */
static const char *nested_driver_xml(zip_t *za) {
  zip_int64_t count = zip_get_num_entries(za, 0);
  for (zip_uint64_t i = 0; i < (zip_uint64_t)count; i++) {
    const char *name = zip_get_name(za, i, 0);
    const char *slash = name ? strchr(name, '/') : NULL;
    if (slash && strcmp(slash + 1, "driver.xml") == 0) return name;
  }
  return NULL;
}

static int make_tmpdir(emu_package *pkg, char *err, size_t errsz) {
  /* Under the per-user folder (emu_tmp.c), canonical, so removal works
   * whatever the current folder is by then. */
  char why[512];
  pkg->tmpdir = emu_tmp_make("pkg", why, sizeof why);
  if (!pkg->tmpdir) return emu_errf(err, errsz, "%s", why);
  pkg->root = strdup(pkg->tmpdir);
  return pkg->root ? 0 : emu_errf(err, errsz, "out of memory");
}

static int open_zip(const char *path, off_t size, emu_package *pkg, char *err, size_t errsz) {
  /* libzip takes an empty file for an empty archive; for us it is no package. */
  if (size == 0) return emu_errf(err, errsz, "%s is not a .c4z (zip) file: the file is empty", path);
  int zerr = 0;
  zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    if (zerr == ZIP_ER_OPEN || zerr == ZIP_ER_READ || zerr == ZIP_ER_MEMORY)
      emu_errf(err, errsz, "%s: cannot read: %s", path, zip_error_strerror(&ze));
    else
      emu_errf(err, errsz, "%s is not a .c4z (zip) file: %s", path, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return -1;
  }

  int rc = vet_entries(za, path, err, errsz);
  if (rc == 0) rc = make_tmpdir(pkg, err, errsz);
  if (rc == 0) rc = extract_entries(za, path, pkg->root, err, errsz);
  if (rc == 0) {
    char xml[PATH_MAX];
    struct stat sb;
    snprintf(xml, sizeof xml, "%s/driver.xml", pkg->root);
    if (lstat(xml, &sb) != 0) {
      const char *nested = nested_driver_xml(za);
      char nb[NAME_SHOWN_MAX + 8];
      if (nested)
        rc = emu_errf(err, errsz, "%s: driver.xml not found at the root of the package (there is '%s': "
                  "pack the contents of the driver folder, not the folder itself)", path,
                  shown(nested, nb, sizeof nb));
      else
        rc = emu_errf(err, errsz, "%s: driver.xml not found at the root of the package", path);
    }
  }
  zip_discard(za);
  return rc;
}

/* Reads at most max bytes + 1 of a regular file, so the caller sees when a
 * file is too big without us holding all of it. */
static int read_bounded(const char *path, size_t max, char **out, size_t *outlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    errno = EINVAL;
    return -1;
  }
  size_t want = (size_t)sb.st_size < max ? (size_t)sb.st_size + 1 : max + 1;
  char *buf = malloc(want + 1);
  if (!buf) {
    close(fd);
    errno = ENOMEM;
    return -1;
  }
  size_t len = 0;
  while (len < want) {
    ssize_t n = read(fd, buf + len, want - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      free(buf);
      close(fd);
      errno = e;
      return -1;
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  *out = buf;
  *outlen = len;
  return 0;
}

static int load_driver_xml(emu_package *pkg, const char *path, bool c4i, char *err, size_t errsz) {
  char xml[PATH_MAX], why[400];
  if (snprintf(xml, sizeof xml, "%s/driver.xml", pkg->root) >= (int)sizeof xml)
    return emu_errf(err, errsz, "%s: path too long", path);
  char *text;
  size_t len;
  if (read_bounded(xml, DRIVER_XML_READ_MAX, &text, &len) != 0) {
    if (errno == ENOENT) return emu_errf(err, errsz, "%s: driver.xml not found in this folder", path);
    if (errno == EINVAL) return emu_errf(err, errsz, "%s: driver.xml is not a regular file", path);
    return emu_errf(err, errsz, "%s: cannot read driver.xml: %s", path, strerror(errno));
  }
  int rc = emu_xml_parse(text, len, &pkg->xml, why, sizeof why);
  free(text);
  /* issue 12: a <delimiter> that is not hex; s4-fixes: a network connection
   * without a network class.  One warning per line. */
  for (const char *w = rc == 0 ? pkg->xml.conn_warnings : NULL; w && *w;) {
    size_t n = strcspn(w, "\n");
    if (n) add_warning(pkg, "%.*s", (int)n, w);
    w += n + (w[n] == '\n');
  }
  if (rc != 0 && c4i) return emu_errf(err, errsz, "%s (legacy .c4i driver): %s", path, why);
  return rc == 0 ? 0 : emu_errf(err, errsz, "driver.xml: %s", why);
}

/* Basename of a path, for chunk names. */
static const char *base_name(const char *path) {
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

static int set_chunkname(emu_package *pkg, const char *name, char *err, size_t errsz) {
  size_t n = strlen(name) + 2;
  pkg->chunkname = malloc(n);
  if (!pkg->chunkname) return emu_errf(err, errsz, "out of memory");
  snprintf(pkg->chunkname, n, "@%s", name);
  return 0;
}

/*
 * encryption="2" (or any value but "0" and ""): DriverPackager stores the
 * encrypted script as <file>.encrypted, and source folders often keep the
 * attribute beside a plain-text script.  So we refuse only what really is
 * encrypted — a .encrypted file, or a script that is not Lua text — and run
 * the rest with a warning.
 */
static int check_encryption(emu_package *pkg, const char *text, size_t len, const char *shown_name,
                            char *err, size_t errsz) {
  const char *enc = pkg->xml.encryption;
  char sb[NAME_SHOWN_MAX + 8];
  static const char advice[] = "encrypted drivers cannot run off the controller; build an unencrypted "
                               "version of the driver (DriverPackager without encryption) to run it in c4emu";
  if (!enc || enc[0] == '\0' || strcmp(enc, "0") == 0) return 0;
  if (emu_is_bytecode(text, len)) return 0;   /* refused as bytecode, with its own message */
  if (!emu_looks_like_text(text, len))
    return emu_errf(err, errsz, "%s is encrypted (encryption=\"%s\" and its content is not Lua text): %s",
                shown_name, shown(enc, sb, sizeof sb), advice);
  add_warning(pkg, "[c4emu] driver.xml says encryption=\"%s\" but %s is plain Lua text: a controller "
              "would expect it encrypted; running it as it is", shown(enc, sb, sizeof sb), shown_name);
  return 0;
}

static int check_script(emu_package *pkg, const char *path_given, char *err, size_t errsz) {
  const char *script = pkg->xml.script;
  char sb1[NAME_SHOWN_MAX + 8], sb2[NAME_SHOWN_MAX + 8], path[PATH_MAX];
  const char *why = emu_zip_name_problem(script);
  if (why)
    return emu_errf(err, errsz, "driver.xml: script file '%s' refused: %s; "
                "it must be a relative path inside the package", shown(script, sb1, sizeof sb1), why);

  static const char advice[] = "encrypted drivers cannot run off the controller; build an unencrypted "
                               "version of the driver (DriverPackager without encryption) to run it in c4emu";
  struct stat st;
  if (snprintf(path, sizeof path, "%s/%s.encrypted", pkg->root, script) >= (int)sizeof path)
    return emu_errf(err, errsz, "driver.xml: script file name too long");
  if (lstat(path, &st) == 0)
    return emu_errf(err, errsz, "%s is encrypted (the package holds %s.encrypted): %s",
                shown(script, sb1, sizeof sb1), shown(script, sb2, sizeof sb2), advice);

  const char *jit = pkg->xml.jit;
  if (jit && strcmp(jit, "1") == 0)
    add_warning(pkg, "[c4emu] driver.xml asks for LuaJIT (jit=\"1\"); c4emu runs PUC Lua 5.1, as a "
                "controller does when LuaJIT is off or the driver falls back to it");

  snprintf(path, sizeof path, "%s/%s", pkg->root, script);
  bool file_there = stat(path, &st) == 0;
  /* The script is the text inside <script> when the element names no file
   * (a legacy .c4i, or code written inline) or names one that is absent. */
  if (pkg->xml.script_text && (!pkg->xml.script_file_given || !file_there)) {
    pkg->inline_script = true;
    const char *where = path_given ? base_name(path_given) : "driver.xml";
    if (set_chunkname(pkg, where, err, errsz) != 0) return -1;
    return check_encryption(pkg, pkg->xml.script_text, pkg->xml.script_len, where, err, errsz);
  }
  if (path_given && !pkg->xml.script_text)
    return emu_errf(err, errsz, "%s: this legacy .c4i driver has no script inside <script> "
                "(expected <script><![CDATA[ ... ]]></script>)", path_given);

  /* <script></script> with no file and nothing inside (the driver.xml of a
   * project not yet written, a proxy-only driver): a controller loads it as
   * a driver with no Lua, so we run an empty script rather than look for a
   * driver.lua that driver.xml never named. */
  if (!file_there && pkg->xml.script_seen && !pkg->xml.script_file_given && !path_given) {
    pkg->xml.script_text = strdup("");
    if (!pkg->xml.script_text) return emu_errf(err, errsz, "out of memory");
    pkg->xml.script_len = 0;
    pkg->inline_script = true;
    add_warning(pkg, "[c4emu] driver.xml's <script> names no file and holds no code: "
                "the driver has no Lua to run");
    return set_chunkname(pkg, "driver.xml", err, errsz);
  }
  shown(script, sb1, sizeof sb1);
  if (!file_there)
    return emu_errf(err, errsz, "script '%s' named by driver.xml is not in the package", sb1);
  if (!S_ISREG(st.st_mode))
    return emu_errf(err, errsz, "script '%s' named by driver.xml is not a regular file", sb1);
  if (set_chunkname(pkg, script, err, errsz) != 0) return -1;
  if (pkg->xml.encryption) {
    char *text;
    size_t len;
    if (read_bounded(path, 4096, &text, &len) != 0)
      return emu_errf(err, errsz, "cannot read %s: %s", sb1, strerror(errno));
    int rc = check_encryption(pkg, text, len, sb1, err, errsz);
    free(text);
    return rc;
  }
  return 0;
}

/* Whether a file starts like XML (a legacy .c4i) rather than a zip. */
static bool starts_like_xml(const char *path) {
  unsigned char head[64];
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  size_t i = 0;
  if (n >= 3 && head[0] == 0xef && head[1] == 0xbb && head[2] == 0xbf) i = 3; /* UTF-8 BOM */
  while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n')) i++;
  return i < n && head[i] == '<';
}

/* A legacy .c4i: driver.xml itself, script in CDATA.  Its package folder is
 * a private temporary folder holding a copy of it as driver.xml. */
static int open_c4i(const char *path, emu_package *pkg, char *err, size_t errsz) {
  char *text;
  size_t len;
  if (read_bounded(path, DRIVER_XML_READ_MAX, &text, &len) != 0)
    return emu_errf(err, errsz, "%s: cannot read: %s", path, strerror(errno));
  int rc = make_tmpdir(pkg, err, errsz);
  if (rc == 0) {
    char xml[PATH_MAX];
    snprintf(xml, sizeof xml, "%s/driver.xml", pkg->root);
    int fd = open(xml, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || emu_write_all(fd, text, len) != 0)
      rc = emu_errf(err, errsz, "%s: cannot copy into the package folder: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
  }
  free(text);
  return rc;
}

int emu_package_open(const char *path, emu_package *pkg, char *err, size_t errsz) {
  *pkg = (emu_package){0};
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) return emu_errf(err, errsz, "%s: no such file or directory", path);
    return emu_errf(err, errsz, "%s: %s", path, strerror(errno));
  }

  int rc;
  bool c4i = false;
  if (S_ISDIR(st.st_mode)) {
    char real[PATH_MAX];
    if (!realpath(path, real)) return emu_errf(err, errsz, "%s: %s", path, strerror(errno));
    pkg->root = strdup(real);
    rc = pkg->root ? 0 : emu_errf(err, errsz, "out of memory");
  } else if (S_ISREG(st.st_mode) && st.st_size > 0 && starts_like_xml(path)) {
    c4i = true;
    rc = open_c4i(path, pkg, err, errsz);
  } else if (S_ISREG(st.st_mode)) {
    rc = open_zip(path, st.st_size, pkg, err, errsz);
  } else {
    rc = emu_errf(err, errsz, "%s is neither a driver folder nor a .c4z file", path);
  }
  if (rc == 0) rc = load_driver_xml(pkg, path, c4i, err, errsz);
  if (rc == 0) rc = check_script(pkg, c4i ? path : NULL, err, errsz);
  if (rc != 0) emu_package_free(pkg);
  return rc;
}
