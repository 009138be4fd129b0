/*
 * test_channel.c — unit tests of the spec side's transmission modes
 * (emulator/emu_channel.c): WINDEV length prefixes whole, split and
 * malformed, "end" and "buffered" messages, and the receive buffer, fed in
 * every split of the stream.
 */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "emu_channel.h"

static int take(emu_mode mode, const char *buf, size_t n, size_t *off, size_t *len,
                size_t *used, char *err) {
  emu_framing f = EMU_FRAMING_DEFAULT;
  f.mode = mode;
  return emu_framing_take(&f, buf, n, off, len, used, err, 200);
}

static void test_windev_whole_message(void **state) {
  (void)state;
  size_t off, len, used;
  char err[200];
  const char *m = "11\r\nHello World";
  assert_int_equal(1, take(EMU_MODE_WINDEV, m, strlen(m), &off, &len, &used, err));
  assert_int_equal(4, off);
  assert_int_equal(11, len);
  assert_int_equal(strlen(m), used);
  assert_memory_equal("Hello World", m + off, len);
}

static void test_windev_incomplete_waits(void **state) {
  (void)state;
  size_t off, len, used;
  char err[200];
  const char *m = "11\r\nHello World";
  for (size_t n = 0; n < strlen(m); n++)
    assert_int_equal(0, take(EMU_MODE_WINDEV, m, n, &off, &len, &used, err));
  assert_int_equal(0, take(EMU_MODE_WINDEV, "1234567890", 10, &off, &len, &used, err));
}

static void test_windev_empty_and_long_prefixes(void **state) {
  (void)state;
  size_t off, len, used;
  char err[200];
  assert_int_equal(1, take(EMU_MODE_WINDEV, "0\r\n", 3, &off, &len, &used, err));
  assert_int_equal(0, len);
  assert_int_equal(3, used);
  /* ten digits are a size; an eleventh is malformed */
  assert_int_equal(0, take(EMU_MODE_WINDEV, "0000000001\r\n", 12, &off, &len, &used, err));
  assert_int_equal(-1, take(EMU_MODE_WINDEV, "00000000001\r\nx", 14, &off, &len, &used, err));
}

static void test_windev_malformed(void **state) {
  (void)state;
  size_t off, len, used;
  char err[200];
  static const char *const bad[] = {"x\r\n", "\r\n", "12x\r\nhello", "12\rX", "-1\r\n", " 5\r\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    assert_int_equal(-1, take(EMU_MODE_WINDEV, bad[i], strlen(bad[i]), &off, &len, &used, err));
    assert_non_null(strstr(err, "malformed WINDEV length prefix"));
  }
}

static void test_end_and_buffered(void **state) {
  (void)state;
  size_t off, len, used;
  char err[200];
  assert_int_equal(0, take(EMU_MODE_END, "abc\r", 4, &off, &len, &used, err));
  assert_int_equal(1, take(EMU_MODE_END, "abc\r\ndef", 8, &off, &len, &used, err));
  assert_int_equal(3, len);
  assert_int_equal(5, used);
  assert_int_equal(0, take(EMU_MODE_BUFFERED, "", 0, &off, &len, &used, err));
  assert_int_equal(1, take(EMU_MODE_BUFFERED, "xyz", 3, &off, &len, &used, err));
  assert_int_equal(3, len);
}

/* Every split of a stream into two pushes gives the same messages. */
static void test_any_split_reads_the_same(void **state) {
  (void)state;
  const char *stream = "5\r\nhello0\r\n11\r\nHello World3\r\nabc";
  size_t total = strlen(stream);
  emu_framing f = EMU_FRAMING_DEFAULT;
  f.mode = EMU_MODE_WINDEV;
  for (size_t cut = 0; cut <= total; cut++) {
    emu_rxbuf b = {0};
    char out[128] = "";
    size_t outn = 0;
    for (int part = 0; part < 2; part++) {
      const char *p = part ? stream + cut : stream;
      size_t n = part ? total - cut : cut;
      assert_true(emu_rxbuf_append(&b, p, n));
      size_t off, len, used;
      char err[200];
      int r;
      while ((r = emu_rxbuf_take(&f, &b, &off, &len, &used, err, sizeof err)) == 1) {
        memcpy(out + outn, emu_rxbuf_data(&b) + off, len);
        outn += len;
        out[outn++] = '|';
        b.off += used;
      }
      assert_int_equal(0, r);
    }
    out[outn] = '\0';
    assert_string_equal("hello||Hello World|abc|", out);
    assert_int_equal(0, emu_rxbuf_avail(&b));
    free(b.p);
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_windev_whole_message),
    cmocka_unit_test(test_windev_incomplete_waits),
    cmocka_unit_test(test_windev_empty_and_long_prefixes),
    cmocka_unit_test(test_windev_malformed),
    cmocka_unit_test(test_end_and_buffered),
    cmocka_unit_test(test_any_split_reads_the_same),
};

UNIT_GROUP(channel, tests)
