/*
 * test_package.c — emu_package_open on driver folders and .c4z files: the
 * good cases, every refusal in fixtures/bad/ (committed folders) and in the
 * generated hostile zips (tools/make-bad-fixtures.sh, found in
 * $C4EMU_BAD_FIXTURES or $BUILD/fixtures/bad), and emu_zip_name_safe.
 *
 * Each test runs with TMPDIR pointed at a private folder, so it can check
 * that a refused package leaves no extraction folder behind and that
 * emu_package_free removes the one a good package made.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "unit.h"
#include "emu_package.h"

static char tmp_root[PATH_MAX];   /* this test's TMPDIR */
static char *saved_tmpdir;

/* dir/name into out; a path that does not fit fails the test. */
static void join_path(char *out, size_t outsz, const char *dir, const char *name) {
  if (snprintf(out, outsz, "%s/%s", dir, name) >= (int)outsz) fail_msg("path too long: %s/%s", dir, name);
}

static int rm_cb(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  remove(p);
  return 0;
}

static int setup(void **state) {
  (void)state;
  const char *t = getenv("TMPDIR");
  saved_tmpdir = t ? strdup(t) : NULL;
  snprintf(tmp_root, sizeof tmp_root, "%s/c4emu-unit-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmp_root)) return -1;
  setenv("TMPDIR", tmp_root, 1);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nftw(tmp_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  if (saved_tmpdir) setenv("TMPDIR", saved_tmpdir, 1);
  else unsetenv("TMPDIR");
  free(saved_tmpdir);
  saved_tmpdir = NULL;
  return 0;
}

/* Entries in TMPDIR whose name starts with "c4emu-": extraction folders. */
/* Unpacked packages live in TMPDIR/c4emu-<uid>/pkg-<pid>-XXXXXX (emu_tmp.c). */
static int count_extractions(void) {
  char root[PATH_MAX + 32];
  snprintf(root, sizeof root, "%s/c4emu-%u", tmp_root, (unsigned)getuid());
  DIR *d = opendir(root);
  if (!d) return 0;
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (strncmp(e->d_name, "pkg-", 4) == 0) n++;
  closedir(d);
  return n;
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[PATH_MAX];
  join_path(path, sizeof path, dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* A fresh folder under this test's TMPDIR (not named c4emu-*). */
static void make_dir(char *out, size_t outsz, const char *name) {
  join_path(out, outsz, tmp_root, name);
  assert_int_equal(mkdir(out, 0755), 0);
}

static void expect_refused(const char *path, const char *fragment) {
  emu_package pkg;
  char err[1024] = "";
  int before = count_extractions();
  int rc = emu_package_open(path, &pkg, err, sizeof err);
  if (rc != -1 || !strstr(err, fragment))
    fail_msg("%s: expected a refusal containing \"%s\", got rc=%d err=\"%s\"", path, fragment, rc, err);
  assert_null(strchr(err, '\n'));
  assert_null(pkg.root);
  assert_null(pkg.tmpdir);
  assert_null(pkg.xml.script);
  assert_int_equal(count_extractions(), before);   /* nothing left behind */
  emu_package_free(&pkg);
}

static const char *generated(const char *name) {
  static char path[PATH_MAX];
  const char *dir = getenv("C4EMU_BAD_FIXTURES");
  char def[PATH_MAX];
  if (!dir || !*dir) {
    const char *build = getenv("BUILD");
    snprintf(def, sizeof def, "%s/fixtures/bad", build && *build ? build : "build");
    dir = def;
  }
  join_path(path, sizeof path, dir, name);
  if (access(path, R_OK) != 0)
    fail_msg("generated fixture %s is missing: run tools/make-bad-fixtures.sh %s", path, dir);
  return path;
}

static const char good_xml[] =
    "<devicedata>\n"
    "  <name>Good</name>\n"
    "  <version>7</version>\n"
    "  <capabilities><can_upgrade>False</can_upgrade></capabilities>\n"
    "  <config>\n"
    "    <script file=\"driver.lua\"/>\n"
    "    <properties><property><name>Mode</name><type>LIST</type><default>A</default></property></properties>\n"
    "  </config>\n"
    "</devicedata>\n";

static void test_name_safe(void **state) {
  (void)state;
  assert_true(emu_zip_name_safe("driver.lua"));
  assert_true(emu_zip_name_safe("lua/squished.lua"));
  assert_true(emu_zip_name_safe("www/icons/"));
  assert_true(emu_zip_name_safe("a..b/..c/d.."));
  assert_true(emu_zip_name_safe("./driver.lua"));
  assert_true(emu_zip_name_safe("caf\xc3\xa9.lua"));
  assert_false(emu_zip_name_safe(NULL));
  assert_false(emu_zip_name_safe(""));
  assert_false(emu_zip_name_safe("/etc/passwd"));
  assert_false(emu_zip_name_safe("/"));
  assert_false(emu_zip_name_safe(".."));
  assert_false(emu_zip_name_safe("../evil.lua"));
  assert_false(emu_zip_name_safe("a/../../evil.lua"));
  assert_false(emu_zip_name_safe("a/.."));
  assert_false(emu_zip_name_safe("a/../"));
  assert_false(emu_zip_name_safe("..\\evil.lua"));
  assert_false(emu_zip_name_safe("lua\\x.lua"));
  assert_false(emu_zip_name_safe("a\nb"));
  assert_false(emu_zip_name_safe("a\x7f"));
}

static void test_missing_path(void **state) {
  (void)state;
  expect_refused("fixtures/bad/does-not-exist.c4z", "fixtures/bad/does-not-exist.c4z: no such file or directory");
}

static void test_not_a_zip(void **state) {
  (void)state;
  expect_refused("fixtures/bad/not_a_zip.c4z", "fixtures/bad/not_a_zip.c4z is not a .c4z (zip) file: Not a zip archive");

  char dir[PATH_MAX], path[PATH_MAX];
  make_dir(dir, sizeof dir, "empty");
  write_file(dir, "empty.c4z", "");
  join_path(path, sizeof path, dir, "empty.c4z");
  expect_refused(path, "is not a .c4z (zip) file: the file is empty");
}

static void test_folder_fixtures(void **state) {
  (void)state;
  expect_refused("fixtures/bad/malformed_xml", "driver.xml: line 5, column 33: mismatched tag");
  expect_refused("fixtures/bad/missing_script", "script 'main.lua' named by driver.xml is not in the package");
  expect_refused("fixtures/bad/encrypted",
                 "driver.lua is encrypted (the package holds driver.lua.encrypted): encrypted drivers cannot "
                 "run off the controller; build an unencrypted version of the driver (DriverPackager without "
                 "encryption) to run it in c4emu");
  expect_refused("fixtures/bad/no_driver_xml", "driver.xml not found");
}

static void test_hostile_zips(void **state) {
  (void)state;
  expect_refused(generated("dotdot.c4z"), "entry '../evil.lua' refused: it contains a '..' component");
  expect_refused(generated("absolute.c4z"), "entry '/etc/evil' refused: it is an absolute path");
  expect_refused(generated("backslash.c4z"), "entry 'lua\\evil.lua' refused: it contains a backslash");
  expect_refused(generated("symlink.c4z"), "entry 'driver.lua' refused: symbolic links are not allowed");
  expect_refused(generated("bomb.c4z"), "entry 'zeros.bin' is 68157440 bytes uncompressed; the limit for one file is 64 MiB");
  expect_refused(generated("nested.c4z"), "driver.xml not found at the root of the package (there is 'mydriver/driver.xml'");
  expect_refused(generated("encrypted.c4z"), "driver.lua is encrypted (the package holds driver.lua.encrypted)");

  /* Nothing escaped next to the generated fixtures or into /etc. */
  char escaped[PATH_MAX];
  join_path(escaped, sizeof escaped, tmp_root, "../evil.lua");
  assert_int_not_equal(access(escaped, F_OK), 0);
  assert_int_not_equal(access("/etc/evil", F_OK), 0);
}

/* The liar's headers claim 1000 bytes; only counting what inflates stops it.
 * Whether libzip or our count stops it first, the message names the entry. */
static void test_liar_stops_at_the_cap(void **state) {
  (void)state;
  emu_package pkg;
  char err[1024] = "";
  int before = count_extractions();
  assert_int_equal(emu_package_open(generated("liar.c4z"), &pkg, err, sizeof err), -1);
  assert_int_equal(count_extractions(), before);
  if (!strstr(err, "entry 'zeros.bin' inflates past the 64 MiB limit for one file") &&
      !strstr(err, "entry 'zeros.bin' is damaged"))
    fail_msg("unexpected message: %s", err);
}

static void test_script_checks(void **state) {
  (void)state;
  char dir[PATH_MAX];

  make_dir(dir, sizeof dir, "dotdot_script");
  write_file(dir, "driver.xml", "<devicedata><config><script file=\"../driver.lua\"/></config></devicedata>");
  expect_refused(dir, "driver.xml: script file '../driver.lua' refused: it contains a '..' component");

  make_dir(dir, sizeof dir, "absolute_script");
  write_file(dir, "driver.xml", "<devicedata><config><script file=\"/etc/passwd\"/></config></devicedata>");
  expect_refused(dir, "script file '/etc/passwd' refused: it is an absolute path");

  make_dir(dir, sizeof dir, "empty_script");
  write_file(dir, "driver.xml", "<devicedata><config><script file=\"\"/></config></devicedata>");
  expect_refused(dir, "script file '' refused: it is empty");

  /* No encryption attribute, but the encrypted twin is there. */
  make_dir(dir, sizeof dir, "encrypted_file_only");
  write_file(dir, "driver.xml", "<devicedata><config><script file=\"driver.lua\"/></config></devicedata>");
  write_file(dir, "driver.lua.encrypted", "0\x82");
  expect_refused(dir, "driver.lua is encrypted (the package holds driver.lua.encrypted)");

  make_dir(dir, sizeof dir, "script_is_folder");
  write_file(dir, "driver.xml", "<devicedata/>");
  char sub[PATH_MAX];
  join_path(sub, sizeof sub, dir, "driver.lua");
  assert_int_equal(mkdir(sub, 0755), 0);
  expect_refused(dir, "script 'driver.lua' named by driver.xml is not a regular file");

  make_dir(dir, sizeof dir, "wrong_root");
  write_file(dir, "driver.xml", "<driver/>");
  write_file(dir, "driver.lua", "");
  expect_refused(dir, "driver.xml: line 1, column 1: the root element is <driver>");

  /* issue 14: encryption="2" beside ciphertext is refused ... */
  make_dir(dir, sizeof dir, "encrypted_content");
  write_file(dir, "driver.xml", "<devicedata><config><script file=\"driver.lua\" encryption=\"2\"/></config></devicedata>");
  write_file(dir, "driver.lua", "0\x82\x01\x02\x06\x09*\x86H\x86\xf7\x0d\x01\x07\x03\x01\x02\x03");
  expect_refused(dir, "driver.lua is encrypted (encryption=\"2\" and its content is not Lua text)");

  /* ... beside plain Lua it opens, with a warning for the log. */
  make_dir(dir, sizeof dir, "encryption_on_plain_text");
  write_file(dir, "driver.xml", "<devicedata><config><script file=\"driver.lua\" encryption=\"2\"/></config></devicedata>");
  write_file(dir, "driver.lua", "print(1)\n");
  {
    emu_package p2;
    char e2[512] = "";
    assert_int_equal(emu_package_open(dir, &p2, e2, sizeof e2), 0);
    assert_non_null(p2.warnings);
    assert_non_null(strstr(p2.warnings, "a controller would expect it encrypted"));
    assert_string_equal(p2.chunkname, "@driver.lua");
    emu_package_free(&p2);
  }

  /* encryption="0" is a plain driver. */
  make_dir(dir, sizeof dir, "encryption_zero");
  write_file(dir, "driver.xml", "<devicedata><config><script file=\"driver.lua\" encryption=\"0\"/></config></devicedata>");
  write_file(dir, "driver.lua", "print(1)");
  emu_package pkg;
  char err[512] = "";
  assert_int_equal(emu_package_open(dir, &pkg, err, sizeof err), 0);
  emu_package_free(&pkg);
}

static void test_good_folder(void **state) {
  (void)state;
  char dir[PATH_MAX], link[PATH_MAX], real[PATH_MAX];
  make_dir(dir, sizeof dir, "good");
  write_file(dir, "driver.xml", good_xml);
  write_file(dir, "driver.lua", "print('hello')\n");
  /* Opened through a symlink, root is still the real folder. */
  join_path(link, sizeof link, tmp_root, "good-link");
  assert_int_equal(symlink(dir, link), 0);
  assert_non_null(realpath(dir, real));

  emu_package pkg;
  char err[512] = "";
  if (emu_package_open(link, &pkg, err, sizeof err) != 0) fail_msg("%s", err);
  assert_string_equal(pkg.root, real);
  assert_null(pkg.tmpdir);
  assert_string_equal(pkg.xml.script, "driver.lua");
  assert_int_equal(pkg.xml.nprops, 1);
  assert_string_equal(pkg.xml.props[0].deflt, "A");
  assert_int_equal(pkg.xml.ncaps, 1);
  emu_package_free(&pkg);
  emu_package_free(&pkg);   /* idempotent */
  struct stat sb;
  assert_int_equal(stat(dir, &sb), 0);   /* a folder package is never removed */
}

/* Writes a zip with libzip: pairs of entry name and content (NULL content
 * makes a folder entry). */
static void make_zip(const char *path, const char *const *entries, size_t n) {
  int zerr = 0;
  zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
  assert_non_null(za);
  for (size_t i = 0; i < n; i++) {
    const char *name = entries[2 * i], *text = entries[2 * i + 1];
    if (!text) {
      assert_true(zip_dir_add(za, name, 0) >= 0);
      continue;
    }
    zip_source_t *zs = zip_source_buffer(za, text, strlen(text), 0);
    assert_non_null(zs);
    assert_true(zip_file_add(za, name, zs, 0) >= 0);
  }
  assert_int_equal(zip_close(za), 0);
}

static void test_good_zip(void **state) {
  (void)state;
  char dir[PATH_MAX], path[PATH_MAX];
  make_dir(dir, sizeof dir, "zips");
  join_path(path, sizeof path, dir, "good.c4z");
  const char *const entries[] = {
      "driver.xml", good_xml,
      "driver.lua", "require('lib.util')\n",
      "lib/", NULL,
      "lib/util.lua", "return {}\n",
      "www/documentation/index.html", "<p>docs</p>\n",   /* parent folder without its own entry */
  };
  make_zip(path, entries, sizeof entries / sizeof entries[0] / 2);

  emu_package pkg;
  char err[512] = "";
  if (emu_package_open(path, &pkg, err, sizeof err) != 0) fail_msg("%s", err);
  assert_non_null(pkg.tmpdir);
  assert_non_null(pkg.root);
  assert_int_equal(count_extractions(), 1);
  assert_non_null(strstr(pkg.tmpdir, "/c4emu-"));
  assert_int_equal(pkg.tmpdir[0], '/');
  assert_string_equal(pkg.xml.script, "driver.lua");
  assert_string_equal(pkg.xml.caps[0].text, "False");

  char file[PATH_MAX], text[64] = "";
  join_path(file, sizeof file, pkg.root, "lib/util.lua");
  FILE *f = fopen(file, "r");
  assert_non_null(f);
  assert_non_null(fgets(text, sizeof text, f));
  fclose(f);
  assert_string_equal(text, "return {}\n");
  join_path(file, sizeof file, pkg.root, "www/documentation/index.html");
  assert_int_equal(access(file, R_OK), 0);

  char tmpdir[PATH_MAX];
  snprintf(tmpdir, sizeof tmpdir, "%s", pkg.tmpdir);
  emu_package_free(&pkg);
  assert_null(pkg.tmpdir);
  assert_int_not_equal(access(tmpdir, F_OK), 0);
  assert_int_equal(count_extractions(), 0);
  emu_package_free(&pkg);
}

static void test_zip_refusals(void **state) {
  (void)state;
  char dir[PATH_MAX], path[PATH_MAX];
  make_dir(dir, sizeof dir, "badzips");

  join_path(path, sizeof path, dir, "no_xml.c4z");
  const char *const no_xml[] = {"driver.lua", "print(1)"};
  make_zip(path, no_xml, 1);
  expect_refused(path, "driver.xml not found at the root of the package");

  join_path(path, sizeof path, dir, "missing_script.c4z");
  const char *const missing[] = {"driver.xml", "<devicedata><config><script file=\"lua/main.lua\"/></config></devicedata>"};
  make_zip(path, missing, 1);
  expect_refused(path, "script 'lua/main.lua' named by driver.xml is not in the package");

  join_path(path, sizeof path, dir, "malformed.c4z");
  const char *const malformed[] = {"driver.xml", "<devicedata>\n<name>x</nam>\n</devicedata>", "driver.lua", ""};
  make_zip(path, malformed, 2);
  expect_refused(path, "driver.xml: line 2, column 10: mismatched tag");

  /* A file and a folder of the same name cannot both be extracted. */
  join_path(path, sizeof path, dir, "clash.c4z");
  const char *const clash[] = {"driver.xml", good_xml, "lib", "file", "lib/x.lua", "x"};
  make_zip(path, clash, 3);
  expect_refused(path, "entry 'lib/x.lua': cannot create folder");

  join_path(path, sizeof path, dir, "control.c4z");
  const char *const control[] = {"driver.xml", good_xml, "bad\nname.lua", "x"};
  make_zip(path, control, 2);
  expect_refused(path, "entry 'bad?name.lua' refused: it contains a control character");
}

static void test_too_many_entries(void **state) {
  (void)state;
  char dir[PATH_MAX], path[PATH_MAX];
  make_dir(dir, sizeof dir, "many");
  join_path(path, sizeof path, dir, "many.c4z");
  int zerr = 0;
  zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
  assert_non_null(za);
  for (int i = 0; i <= EMU_ZIP_MAX_FILES; i++) {
    char name[32];
    snprintf(name, sizeof name, "f%05d", i);
    zip_source_t *zs = zip_source_buffer(za, "", 0, 0);
    assert_non_null(zs);
    assert_true(zip_file_add(za, name, zs, 0) >= 0);
  }
  assert_int_equal(zip_close(za), 0);
  expect_refused(path, "has 20001 entries; the limit is 20000");
}

/* Byte mutations of a good .c4z: each must open cleanly or be refused
 * cleanly, with no extraction folder left behind after a refusal. */
static void test_mutated_zips(void **state) {
  (void)state;
  char dir[PATH_MAX], good[PATH_MAX], bad[PATH_MAX];
  make_dir(dir, sizeof dir, "mutants");
  join_path(good, sizeof good, dir, "good.c4z");
  join_path(bad, sizeof bad, dir, "mutant.c4z");
  const char *const entries[] = {"driver.xml", good_xml, "driver.lua", "print(1)\n", "lib/", NULL,
                                 "lib/util.lua", "return {}\n"};
  make_zip(good, entries, 4);

  static unsigned char bytes[8192];
  FILE *f = fopen(good, "rb");
  assert_non_null(f);
  size_t n = fread(bytes, 1, sizeof bytes, f);
  fclose(f);
  assert_true(n > 0 && n < sizeof bytes);

  unsigned long seed = 99;
  for (int round = 0; round < 400; round++) {
    unsigned char copy[sizeof bytes];
    memcpy(copy, bytes, n);
    for (int e = 0; e < 1 + round % 3; e++) {
      seed = seed * 6364136223846793005UL + 1442695040888963407UL;
      copy[(seed >> 33) % n] = (unsigned char)(seed >> 17);
    }
    f = fopen(bad, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(copy, 1, n, f), n);
    fclose(f);

    emu_package pkg;
    char err[1024] = "";
    if (emu_package_open(bad, &pkg, err, sizeof err) == 0) {
      assert_non_null(pkg.xml.script);
      emu_package_free(&pkg);
    } else {
      assert_true(err[0] != '\0');
      assert_null(strchr(err, '\n'));
    }
    assert_int_equal(count_extractions(), 0);
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_name_safe),
    cmocka_unit_test_setup_teardown(test_missing_path, setup, teardown),
    cmocka_unit_test_setup_teardown(test_not_a_zip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_folder_fixtures, setup, teardown),
    cmocka_unit_test_setup_teardown(test_hostile_zips, setup, teardown),
    cmocka_unit_test_setup_teardown(test_liar_stops_at_the_cap, setup, teardown),
    cmocka_unit_test_setup_teardown(test_script_checks, setup, teardown),
    cmocka_unit_test_setup_teardown(test_good_folder, setup, teardown),
    cmocka_unit_test_setup_teardown(test_good_zip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_zip_refusals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_too_many_entries, setup, teardown),
    cmocka_unit_test_setup_teardown(test_mutated_zips, setup, teardown),
};

UNIT_GROUP(package, tests)
