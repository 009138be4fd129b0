/*
 * emu_tmp.c — where c4emu puts its temporary folders (unpacked packages,
 * driver sandboxes): one folder per user, $TMPDIR/c4emu-<uid> (TMPDIR unset:
 * /tmp), mode 0700, and in it one folder per use named
 * <what>-<pid>-XXXXXX.  A process that crashed (or was killed) cannot remove
 * its folders; the next c4emu process to make one removes every folder whose
 * process no longer exists, so crashes do not fill /tmp.
 *
 * The per-user folder is used only if it is a real folder owned by us (not a
 * symlink another user planted); otherwise making folders fails with a reason.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emu_host.h"

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(p);
  return 0;
}

/* $TMPDIR/c4emu-<uid>, made if needed; 0 or -1 with a reason. */
static int user_root(char *out, size_t n, char *err, size_t errsz) {
  const char *base = getenv("TMPDIR");
  if (!base || !base[0]) base = "/tmp";
  if (snprintf(out, n, "%s/c4emu-%u", base, (unsigned)getuid()) >= (int)n) {
    snprintf(err, errsz, "TMPDIR path too long");
    return -1;
  }
  if (mkdir(out, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errsz, "cannot make %s: %s", out, strerror(errno));
    return -1;
  }
  struct stat st;
  if (lstat(out, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
    snprintf(err, errsz, "%s is not a folder of this user; not used", out);
    return -1;
  }
  return 0;
}

/* Removes the folders of processes that no longer exist (once per process). */
static void reap(const char *root) {
  static bool done;
  if (done) return;
  done = true;
  DIR *d = opendir(root);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *dash = strchr(e->d_name, '-');
    if (!dash) continue;
    char *end;
    long pid = strtol(dash + 1, &end, 10);
    if (pid <= 0 || *end != '-' || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (or not ours to ask) */
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", root, e->d_name) >= (int)sizeof path) continue;
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  }
  closedir(d);
}

char *emu_tmp_make(const char *what, char *err, size_t errsz) {
  char root[PATH_MAX - 64], tmpl[PATH_MAX];
  if (user_root(root, sizeof root, err, errsz) != 0) return NULL;
  reap(root);
  snprintf(tmpl, sizeof tmpl, "%s/%s-%ld-XXXXXX", root, what, (long)getpid());
  if (!mkdtemp(tmpl)) {
    snprintf(err, errsz, "cannot make a folder in %s: %s", root, strerror(errno));
    return NULL;
  }
  char *r = realpath(tmpl, NULL); /* canonical: removal works from any folder */
  if (!r) {
    snprintf(err, errsz, "%s: %s", tmpl, strerror(errno));
    rmdir(tmpl);
  }
  return r;
}

void emu_tmp_remove(const char *path) {
  if (path && path[0]) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
