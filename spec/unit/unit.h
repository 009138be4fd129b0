/*
 * unit.h — C unit tests on cmocka.  Each file declares its tests and one
 * UNIT_GROUP(name, tests); groups register themselves at start-up, so adding
 * a file is all it takes.  unit_main.c runs them and prints the totals.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

typedef struct {
  const char *name;
  const struct CMUnitTest *tests;
  size_t count;
} unit_group;

void unit_register(unit_group g);

#define UNIT_GROUP(gname, tests)                                              \
  __attribute__((constructor)) static void unit_register_##gname(void) {      \
    unit_register((unit_group){#gname, tests, sizeof(tests) / sizeof(tests[0])}); \
  }

#endif
