/*
 * fuzz_xml.c — driver.xml parsing (emu_xml_parse): any bytes give a parsed
 * driver or a one-line error, never a crash or a leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emu_package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  emu_driver_xml x;
  char err[512];
  memset(&x, 0, sizeof x);
  if (emu_xml_parse((const char *)data, size, &x, err, sizeof err) == 0) {
    if (!x.script) abort(); /* a parsed driver always names its script */
    emu_xml_free(&x);
  } else if (strchr(err, '\n')) {
    abort(); /* errors are one line */
  }
  return 0;
}
