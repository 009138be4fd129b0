/* unit_main.c — runs every registered cmocka group; prints "unit: N passed, N failed". */
#include <stdio.h>
#include <string.h>
#include "unit.h"

static unit_group groups[64];
static size_t ngroups;

void unit_register(unit_group g) {
  if (ngroups < sizeof groups / sizeof groups[0]) groups[ngroups++] = g;
}

int main(int argc, char **argv) {
  size_t total = 0, failed = 0;
  for (size_t i = 0; i < ngroups; i++) {
    if (argc > 1 && strcmp(argv[1], groups[i].name) != 0) continue;
    total += groups[i].count;
    failed += (size_t)_cmocka_run_group_tests(groups[i].name, groups[i].tests,
                                              groups[i].count, NULL, NULL);
  }
  printf("unit: %zu passed, %zu failed\n", total - failed, failed);
  return failed ? 1 : 0;
}
