/* emu_cmd_init.c — `c4emu init DIR [--name NAME]` (placeholder until written). */
#include <stdio.h>
#include "emu_host.h"
int emu_cmd_init(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "c4emu: init: not yet\n"); return 2; }
