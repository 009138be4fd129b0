/*
 * fuzz_package.c — the .c4z loader (emu_package_open) on raw bytes written to
 * a file: a package or a one-line refusal, nothing left behind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emu_package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[64];
  if (!path[0]) snprintf(path, sizeof path, "/tmp/c4emu-fuzz-%ld.c4z", (long)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  emu_package pkg;
  char err[1024];
  memset(&pkg, 0, sizeof pkg);
  if (emu_package_open(path, &pkg, err, sizeof err) == 0) {
    if (!pkg.root || !pkg.xml.script) abort();
  } else if (strchr(err, '\n') || pkg.root || pkg.tmpdir) {
    abort();
  }
  emu_package_free(&pkg);
  unlink(path);
  return 0;
}
