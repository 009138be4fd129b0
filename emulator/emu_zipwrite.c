/*
 * emu_zipwrite.c — reproducible .c4z writing on libzip (see emu_zipwrite.h).
 *
 * The DOS time is set directly (zip_file_set_dostime), not from a time_t,
 * so the result does not depend on the machine's time zone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "emu_zipwrite.h"

/* 2000-01-01 00:00:00 as DOS date and time. */
#define FIXED_DOSDATE ((zip_uint16_t)(((2000 - 1980) << 9) | (1 << 5) | 1))
#define FIXED_DOSTIME ((zip_uint16_t)0)

struct emu_zipw {
  zip_t *za;
};

static int zfail(emu_zipw *z, const char *what, char *err, size_t errsz) {
  snprintf(err, errsz, "%s: %s", what, zip_strerror(z->za));
  return -1;
}

emu_zipw *emu_zipw_open(const char *out, char *err, size_t errsz) {
  int zerr = 0;
  zip_t *za = zip_open(out, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    snprintf(err, errsz, "%s: %s", out, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return NULL;
  }
  emu_zipw *z = malloc(sizeof *z);
  if (!z) {
    zip_discard(za);
    snprintf(err, errsz, "out of memory");
    return NULL;
  }
  z->za = za;
  return z;
}

/* Pins the attributes that would otherwise vary between machines and runs. */
static int fix_entry(emu_zipw *z, zip_int64_t idx, unsigned mode) {
  if (zip_file_set_dostime(z->za, (zip_uint64_t)idx, FIXED_DOSTIME, FIXED_DOSDATE, 0) != 0) return -1;
  return zip_file_set_external_attributes(z->za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                          (zip_uint32_t)mode << 16);
}

int emu_zipw_add_dir(emu_zipw *z, const char *name, char *err, size_t errsz) {
  zip_int64_t idx = zip_dir_add(z->za, name, ZIP_FL_ENC_UTF_8);
  if (idx < 0 || fix_entry(z, idx, S_IFDIR | 0755) != 0) return zfail(z, name, err, errsz);
  return 0;
}

static int add_source(emu_zipw *z, const char *name, zip_source_t *zs, char *err, size_t errsz) {
  zip_int64_t idx = zs ? zip_file_add(z->za, name, zs, ZIP_FL_ENC_UTF_8) : -1;
  if (idx < 0) {
    if (zs) zip_source_free(zs);
    return zfail(z, name, err, errsz);
  }
  if (fix_entry(z, idx, S_IFREG | 0644) != 0) return zfail(z, name, err, errsz);
  return 0;
}

int emu_zipw_add_file(emu_zipw *z, const char *name, const char *path, char *err, size_t errsz) {
  return add_source(z, name, zip_source_file(z->za, path, 0, -1), err, errsz);
}

int emu_zipw_add_buffer(emu_zipw *z, const char *name, const void *data, size_t len,
                        char *err, size_t errsz) {
  void *copy = malloc(len ? len : 1);
  if (!copy) {
    snprintf(err, errsz, "out of memory");
    return -1;
  }
  memcpy(copy, data, len);
  zip_source_t *zs = zip_source_buffer(z->za, copy, len, 1);
  if (!zs) free(copy);
  return add_source(z, name, zs, err, errsz);
}

int emu_zipw_close(emu_zipw *z, char *err, size_t errsz) {
  int rc = 0;
  if (zip_close(z->za) != 0) {
    rc = zfail(z, "writing the archive", err, errsz);
    zip_discard(z->za);
  }
  free(z);
  return rc;
}

void emu_zipw_discard(emu_zipw *z) {
  if (!z) return;
  zip_discard(z->za);
  free(z);
}
