/*
 * stub_emu_for_tests.c — stand-ins for emu_ctx_of() and emu_log(), so a
 * c4api family can be linked into a unit-test binary without the host.
 * Only for standalone builds of one family's tests, e.g.
 *   cc ... spec/unit/unit_main.c spec/unit/test_helpers.c c4api/lua/c4_helpers.c \
 *      c4api/lua/c4_json.c tools/stub_emu_for_tests.c ...
 * The real build links the emulator instead (this file is not in its globs).
 */
#include <stdarg.h>
#include <stdio.h>
#include "emu.h"

emu_ctx *emu_ctx_of(lua_State *L) {
  (void)L;
  return NULL;
}

void emu_log(emu_ctx *ctx, emu_level lvl, const char *fmt, ...) {
  va_list ap;
  (void)ctx;
  fprintf(stderr, "[stub log %d] ", (int)lvl);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}
