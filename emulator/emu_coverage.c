/* emu_coverage.c — coverage of driver code (placeholder until step 3). */
#include "emu_host.h"
struct emu_cov { int unused; };
struct emu_cov *emu_coverage_new(emu_ctx *ctx) { (void)ctx; return NULL; }
void emu_coverage_line(emu_ctx *ctx, lua_State *L, lua_Debug *ar) { (void)ctx; (void)L; (void)ar; }
void emu_coverage_finish(emu_ctx *ctx) { (void)ctx; }
void emu_coverage_push(emu_ctx *ctx, lua_State *L) { (void)ctx; lua_newtable(L); }
int emu_coverage_write(const char *file) { (void)file; return 0; }
