/*
 * emu_zipwrite.h — writing a .c4z reproducibly with libzip: entries carry a
 * fixed DOS time (2000-01-01 00:00) and fixed Unix modes, so the same entries
 * added in the same order always give the same bytes.  Shared by
 * `c4emu pack` (emu_cmd_pack.c) and the fixture packer (tools/pack_c4z.c).
 */
#ifndef EMU_ZIPWRITE_H
#define EMU_ZIPWRITE_H

#include <stddef.h>

typedef struct emu_zipw emu_zipw;

/* Creates (truncates) out.  NULL with a reason in err. */
emu_zipw *emu_zipw_open(const char *out, char *err, size_t errsz);
/* Adds a folder entry ("www/"), a file's contents, or a copy of a buffer
 * under the entry name.  Names are stored exactly as given.  0 or -1. */
int emu_zipw_add_dir(emu_zipw *z, const char *name, char *err, size_t errsz);
int emu_zipw_add_file(emu_zipw *z, const char *name, const char *path, char *err, size_t errsz);
int emu_zipw_add_buffer(emu_zipw *z, const char *name, const void *data, size_t len,
                        char *err, size_t errsz);
/* Writes the archive and frees z (also on failure).  0 or -1. */
int emu_zipw_close(emu_zipw *z, char *err, size_t errsz);
/* Abandons the archive (nothing is written) and frees z.  NULL-safe. */
void emu_zipw_discard(emu_zipw *z);

#endif
