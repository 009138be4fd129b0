/*
 * emu_shared_dirs.c — the controller folders behind the File API's path
 * aliases MEDIA and LOGGING (s4-files).
 *
 * On a controller MEDIA is /media and LOGGING is /var/log/debug (the
 * FileSetDir, FileCreateDir, FileMove and FileDelete pages): folders of the
 * controller, shared by every driver on it.  c4emu gives each a private
 * folder of its own, made with emu_tmp_make (so it sits beside the
 * sandboxes, $TMPDIR/c4emu-<uid>/media-<pid>-XXXXXX, and a crashed run's
 * folders are reaped by the next run), on first use only: a driver that never
 * names them costs nothing.
 *
 * Lifetime: in a project the folders belong to the world (every driver sees
 * the same ones; emu_world.c removes them with the world); a driver on its
 * own owns them, and a shutdown hook removes them after OnDriverDestroyed.
 * Once the driver is dead nothing is made again (the hook has already run).
 */
#include <stdio.h>
#include <stdlib.h>

#include "emu_host.h"

static const char *const shared_names[EMU_SHARED__COUNT] = {"media", "logging"};

static void shared_dirs_remove(char **dirs) {
  for (int i = 0; i < EMU_SHARED__COUNT; i++) {
    emu_tmp_remove(dirs[i]);
    free(dirs[i]);
    dirs[i] = NULL;
  }
}

/* The shutdown hook of a lone driver's folders. */
static void lone_shutdown(emu_ctx *ctx, void *data) {
  (void)data;
  shared_dirs_remove(ctx->host->shared_dirs);
}

void emu_world_shared_dirs_free(emu_world *w) { shared_dirs_remove(w->shared_dirs); }

const char *emu_shared_dir_path(emu_ctx *ctx, emu_shared_dir which, bool make) {
  if (!ctx || !ctx->host || which < 0 || which >= EMU_SHARED__COUNT) return NULL;
  struct emu_host *h = ctx->host;
  char **dirs = h->world ? h->world->shared_dirs : h->shared_dirs;
  if (dirs[which] || !make || ctx->phase == EMU_PHASE_DEAD) return dirs[which];
  char why[512];
  dirs[which] = emu_tmp_make(shared_names[which], why, sizeof why);
  if (!dirs[which]) {
    emu_log(ctx, EMU_LOG_WARN, "[c4emu] no %s folder: %s", shared_names[which], why);
    return NULL;
  }
  if (!h->world) {
    /* One hook for both folders: registered with the first one made. */
    bool first = true;
    for (int i = 0; i < EMU_SHARED__COUNT; i++)
      if (i != (int)which && h->shared_dirs[i]) first = false;
    if (first) emu_on_shutdown(ctx, lone_shutdown, NULL);
  }
  return dirs[which];
}
