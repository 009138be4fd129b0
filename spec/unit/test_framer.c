/*
 * test_framer.c — unit tests of c4_framer (delimiter framing for
 * C4:CreateServer): payloads include the delimiter, split delimiters and
 * many payloads per push, the cap, stopping from the callback, the tail at
 * close, raw mode, and that the result does not depend on how the stream is
 * split into pushes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "net/c4_framer.h"

/* Collects payloads as "text" or "text|C" (capped), joined with '\x1e'. */
typedef struct {
  char out[1 << 16];
  size_t len;
  int count;
  int stop_after; /* 0: never stop */
} sink;

static bool collect(void *ud, const char *p, size_t n, bool capped) {
  sink *s = ud;
  assert_true(s->len + n + 3 < sizeof s->out);
  memcpy(s->out + s->len, p, n);
  s->len += n;
  if (capped) {
    memcpy(s->out + s->len, "|C", 2);
    s->len += 2;
  }
  s->out[s->len++] = '\x1e';
  s->out[s->len] = '\0';
  s->count++;
  return !(s->stop_after && s->count >= s->stop_after);
}

static void push_str(c4_framer *f, sink *s, const char *str) {
  c4_framer_push(f, str, strlen(str), collect, s);
}

static void test_whole_payloads_include_the_delimiter(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  c4_framer_init(&f, "\r\n", 2, 0);
  push_str(&f, &s, "one\r\ntwo\r\n");
  assert_string_equal("one\r\n\x1etwo\r\n\x1e", s.out);
  assert_int_equal(0, c4_framer_pending(&f));
  c4_framer_free(&f);
}

static void test_many_payloads_and_empty_ones_in_one_push(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  c4_framer_init(&f, "\n", 1, 0);
  push_str(&f, &s, "a\n\nbb\nccc\ntail");
  assert_string_equal("a\n\x1e\n\x1e" "bb\n\x1e" "ccc\n\x1e", s.out);
  assert_int_equal(4, c4_framer_pending(&f));
  c4_framer_free(&f);
}

static void test_delimiter_split_across_pushes(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  c4_framer_init(&f, "END", 3, 0);
  push_str(&f, &s, "helloE");
  push_str(&f, &s, "N");
  assert_int_equal(0, s.count);
  push_str(&f, &s, "Dworld");
  assert_string_equal("helloEND\x1e", s.out);
  push_str(&f, &s, "EEN");
  push_str(&f, &s, "DEND");
  assert_string_equal("helloEND\x1eworldEEND\x1e" "END\x1e", s.out);
  assert_int_equal(0, c4_framer_pending(&f));
  c4_framer_free(&f);
}

static void test_one_byte_at_a_time(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  c4_framer_init(&f, "\r\n", 2, 0);
  const char *stream = "slow\r\nand\rsteady\r\n";
  for (const char *p = stream; *p; p++) c4_framer_push(&f, p, 1, collect, &s);
  assert_string_equal("slow\r\n\x1e" "and\rsteady\r\n\x1e", s.out);
  c4_framer_free(&f);
}

static void test_binary_payloads(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  static const char delim[] = {'\0', '\xff'};
  c4_framer_init(&f, delim, 2, 0);
  const char data[] = {'a', '\0', 'b', '\0', '\xff', 'c', '\xff', '\0', '\xff'};
  c4_framer_push(&f, data, sizeof data, collect, &s);
  assert_int_equal(2, s.count);
  const char want[] = {'a', '\0', 'b', '\0', '\xff', '\x1e', 'c', '\xff', '\0', '\xff', '\x1e'};
  assert_int_equal(sizeof want, s.len);
  assert_memory_equal(want, s.out, sizeof want);
  c4_framer_free(&f);
}

static void test_cap_hands_over_as_is(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  c4_framer_init(&f, "\n", 1, 4);
  push_str(&f, &s, "abcdefghij\n");
  assert_string_equal("abcd|C\x1e" "efgh|C\x1e" "ij\n\x1e", s.out);
  /* arriving slowly gives the same cut */
  sink t = {0};
  c4_framer_free(&f);
  c4_framer_init(&f, "\n", 1, 4);
  for (const char *p = "abcdefghij\n"; *p; p++) c4_framer_push(&f, p, 1, collect, &t);
  assert_string_equal(s.out, t.out);
  c4_framer_free(&f);
}

static void test_cap_keeps_a_delimiter_that_starts_inside_it_whole(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  c4_framer_init(&f, "\r\n", 2, 4);
  push_str(&f, &s, "abc\r\nxyzw\r\n");
  /* "abc\r" reaches the cap but the delimiter starts at byte 3: one payload */
  assert_string_equal("abc\r\n\x1e" "xyzw|C\x1e" "\r\n\x1e", s.out);
  c4_framer_free(&f);
}

static void test_cap_bounds_the_buffer(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  c4_framer_init(&f, "\n", 1, 1000);
  char chunk[300];
  memset(chunk, 'x', sizeof chunk);
  for (int i = 0; i < 100; i++) {
    c4_framer_push(&f, chunk, sizeof chunk, collect, &s);
    assert_true(c4_framer_pending(&f) < 1000);
  }
  assert_int_equal(30, s.count); /* 30000 bytes in 1000-byte capped pieces */
  c4_framer_free(&f);
}

static void test_stop_from_the_callback_drops_the_rest(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  s.stop_after = 2;
  c4_framer_init(&f, "\n", 1, 0);
  assert_false(c4_framer_push(&f, "1\n2\n3\n4", 7, collect, &s));
  assert_string_equal("1\n\x1e" "2\n\x1e", s.out);
  assert_int_equal(0, c4_framer_pending(&f));
  /* the same from the buffered path */
  sink t = {0};
  t.stop_after = 1;
  push_str(&f, &t, "par");
  assert_false(c4_framer_push(&f, "t\nx\ny", 5, collect, &t));
  assert_string_equal("part\n\x1e", t.out);
  assert_int_equal(0, c4_framer_pending(&f));
  c4_framer_free(&f);
}

static void test_flush_hands_over_the_tail(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  c4_framer_init(&f, "\n", 1, 0);
  push_str(&f, &s, "done\nhalf");
  c4_framer_flush(&f, collect, &s);
  assert_string_equal("done\n\x1ehalf\x1e", s.out);
  assert_int_equal(0, c4_framer_pending(&f));
  c4_framer_flush(&f, collect, &s); /* nothing left: no call */
  assert_int_equal(2, s.count);
  c4_framer_free(&f);
}

static void test_raw_mode_passes_pushes_through(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  c4_framer_init(&f, NULL, 0, 0);
  push_str(&f, &s, "as\nit");
  push_str(&f, &s, "comes");
  assert_string_equal("as\nit\x1e" "comes\x1e", s.out);
  assert_int_equal(0, c4_framer_pending(&f));
  c4_framer_free(&f);
}

static void test_clear_drops_and_memory_is_released(void **state) {
  (void)state;
  c4_framer f;
  sink s = {0};
  c4_framer_init(&f, "\n", 1, 0);
  char big[8192];
  memset(big, 'y', sizeof big);
  c4_framer_push(&f, big, sizeof big, collect, &s);
  assert_non_null(f.buf);
  push_str(&f, &s, "\n");
  assert_int_equal(1, s.count);
  assert_null(f.buf); /* a big tail's buffer goes once consumed */
  push_str(&f, &s, "abc");
  c4_framer_clear(&f);
  assert_int_equal(0, c4_framer_pending(&f));
  push_str(&f, &s, "d\n");
  assert_int_equal(2, s.count);
  c4_framer_free(&f);
}

/* The same stream split at random places frames identically. */
static void test_any_split_frames_the_same(void **state) {
  (void)state;
  static const char *delims[] = {"\n", "\r\n", "ABA", "\0\0"};
  static const size_t dlens[] = {1, 2, 3, 2};
  srand(42);
  for (int d = 0; d < 4; d++) {
    char stream[4000];
    size_t n = sizeof stream;
    for (size_t i = 0; i < n; i++) {
      int r = rand() % 12;
      stream[i] = r < 3 ? delims[d][rand() % dlens[d]] : (char)('a' + r);
    }
    for (size_t limit = 7; limit <= 1000; limit *= 5) {
      c4_framer f;
      sink whole = {0}, parts = {0};
      c4_framer_init(&f, delims[d], dlens[d], limit);
      c4_framer_push(&f, stream, n, collect, &whole);
      c4_framer_flush(&f, collect, &whole);
      c4_framer_free(&f);
      for (int round = 0; round < 20; round++) {
        memset(&parts, 0, sizeof parts);
        c4_framer_init(&f, delims[d], dlens[d], limit);
        for (size_t off = 0; off < n;) {
          size_t k = 1 + (size_t)rand() % 40;
          if (k > n - off) k = n - off;
          c4_framer_push(&f, stream + off, k, collect, &parts);
          off += k;
        }
        c4_framer_flush(&f, collect, &parts);
        c4_framer_free(&f);
        assert_int_equal(whole.len, parts.len);
        assert_memory_equal(whole.out, parts.out, whole.len);
      }
    }
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_whole_payloads_include_the_delimiter),
    cmocka_unit_test(test_many_payloads_and_empty_ones_in_one_push),
    cmocka_unit_test(test_delimiter_split_across_pushes),
    cmocka_unit_test(test_one_byte_at_a_time),
    cmocka_unit_test(test_binary_payloads),
    cmocka_unit_test(test_cap_hands_over_as_is),
    cmocka_unit_test(test_cap_keeps_a_delimiter_that_starts_inside_it_whole),
    cmocka_unit_test(test_cap_bounds_the_buffer),
    cmocka_unit_test(test_stop_from_the_callback_drops_the_rest),
    cmocka_unit_test(test_flush_hands_over_the_tail),
    cmocka_unit_test(test_raw_mode_passes_pushes_through),
    cmocka_unit_test(test_clear_drops_and_memory_is_released),
    cmocka_unit_test(test_any_split_frames_the_same),
};

UNIT_GROUP(framer, tests)
