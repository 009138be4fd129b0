/*
 * c4_file.h — the file family's shared pieces: the confinement rule
 * (c4_file_path.c) used by the File API (c4_file.c) and by the confined
 * io/os functions (c4_io.c).
 */
#ifndef C4_FILE_H
#define C4_FILE_H

#include "c4api.h"

typedef enum {
  C4_ROOT_NONE,     /* outside all of them: refused */
  C4_ROOT_SANDBOX,  /* the driver's sandbox: read and write */
  C4_ROOT_PACKAGE,  /* the driver's package folder: read only */
  /* s4-files: the controller's folders, shared by the drivers of a project
   * (emu_shared_dir_path): read and write */
  C4_ROOT_MEDIA,    /* alias MEDIA, /media on a controller */
  C4_ROOT_LOGGING,  /* alias LOGGING, /var/log/debug on a controller */
} c4_root;

/* Whether a driver may create, write, move and delete files there. */
bool c4_root_writable(c4_root root);

/*
 * Resolves `path` (absolute, or relative to folder `base`) to a canonical
 * path in out.  The folder of the path must exist; the file need not.
 * Returns 0 and the folder it lies in, or -1 with a one-line reason in err
 * (a ".." component, or a place outside the sandbox and the package).
 */
int c4_path_confine(emu_ctx *ctx, const char *base, const char *path, char *out, size_t outsz,
                    c4_root *root, char *err, size_t errsz);
/* Which folder the canonical path `real` lies in. */
c4_root c4_root_of(emu_ctx *ctx, const char *real);

/* The folder of a File API path alias ("SANDBOX", "C4Z", "MEDIA",
 * "LOGGING"; MEDIA and LOGGING are made on first use), or NULL: not an
 * alias, or its folder cannot be had.  *known says whether it is an alias. */
const char *c4_alias_folder(emu_ctx *ctx, const char *alias, bool *known);

/* The File API's current folder (C4:FileSetDir; the sandbox at first). */
const char *c4_file_cwd(emu_ctx *ctx);

/* Replaces io.open, io.lines, io.input, io.output, os.remove, os.rename,
 * os.execute, loadfile and dofile with confined versions (c4_io.c). */
void c4_io_confine(lua_State *L, emu_ctx *ctx);

#endif
