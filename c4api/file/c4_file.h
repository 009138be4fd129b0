/*
 * c4_file.h — the file family's shared pieces: the confinement rule
 * (c4_file_path.c) used by the File API (c4_file.c) and by the confined
 * io/os functions (c4_io.c).
 */
#ifndef C4_FILE_H
#define C4_FILE_H

#include "c4api.h"

typedef enum {
  C4_ROOT_NONE,     /* outside both: refused */
  C4_ROOT_SANDBOX,  /* the driver's sandbox: read and write */
  C4_ROOT_PACKAGE,  /* the driver's package folder: read only */
} c4_root;

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

/* The File API's current folder (C4:FileSetDir; the sandbox at first). */
const char *c4_file_cwd(emu_ctx *ctx);

/* Replaces io.open, io.lines, io.input, io.output, os.remove, os.rename,
 * os.execute, loadfile and dofile with confined versions (c4_io.c). */
void c4_io_confine(lua_State *L, emu_ctx *ctx);

#endif
