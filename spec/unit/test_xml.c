/*
 * test_xml.c — emu_xml_parse: what it gathers from driver.xml, the messages
 * for broken documents, and that hostile or odd input neither crashes nor
 * makes it hold unbounded memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "emu_package.h"

static int parse(const char *text, emu_driver_xml *x, char *err, size_t errsz) {
  return emu_xml_parse(text, strlen(text), x, err, errsz);
}

static const char *config_text(const emu_driver_xml *x, const char *tag) {
  for (size_t i = 0; i < x->nconfig; i++)
    if (strcmp(x->config[i].tag, tag) == 0) return x->config[i].text;
  return NULL;
}

static void test_full_document(void **state) {
  (void)state;
  static const char doc[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!-- a comment before the root -->\n"
      "<devicedata>\n"
      "  <copyright>Copyright &amp; 2024</copyright>\n"
      "  <name>  Sample Driver  </name>\n"
      "  <version>42</version>\n"
      "  <proxies><proxy proxybindingid=\"5001\" name=\"Sample\">sample_proxy</proxy></proxies>\n"
      "  <capabilities>\n"
      "    <has_discrete_volume_control>True</has_discrete_volume_control>\n"
      "    <navigator_display_option proxybindingid=\"5001\"><display_icons><Icon>a</Icon>"
      "<Icon>b</Icon></display_icons></navigator_display_option>\n"
      "    <empty_cap/>\n"
      "  </capabilities>\n"
      "  <config>\n"
      "    <script file=\"lua/main.lua\" encryption=\"0\" jit=\"1\"/>\n"
      "    <script file=\"ignored.lua\"/>\n"
      "    <documentation file=\"www/documentation.rtf\"/>\n"
      "    <properties>\n"
      "      <property><name>Debug Mode</name><type>LIST</type><default>Off</default>\n"
      "        <items><item>Off</item><item>On</item></items></property>\n"
      "      <property><name>Host</name><type>STRING</type></property>\n"
      "      <property><type>STRING</type><default>no name</default></property>\n"
      "      <property>\n"
      "        <name> Port </name>\n"
      "        <type>RANGED_INTEGER</type>\n"
      "        <default><![CDATA[80<>]]></default>\n"
      "        <minimum>1</minimum>\n"
      "      </property>\n"
      "    </properties>\n"
      "  </config>\n"
      "  <events><event><id>1</id><name>Fired</name></event></events>\n"
      "</devicedata>\n";
  emu_driver_xml x;
  char err[256] = "";
  assert_int_equal(parse(doc, &x, err, sizeof err), 0);

  assert_string_equal(x.script, "lua/main.lua");   /* the first <script> wins */
  assert_non_null(x.encryption);
  assert_string_equal(x.encryption, "0");

  assert_int_equal(x.nprops, 3);                   /* the nameless one is dropped */
  assert_string_equal(x.props[0].name, "Debug Mode");
  assert_string_equal(x.props[0].type, "LIST");
  assert_string_equal(x.props[0].deflt, "Off");
  assert_string_equal(x.props[1].name, "Host");
  assert_string_equal(x.props[1].type, "STRING");
  assert_string_equal(x.props[1].deflt, "");       /* missing default */
  assert_string_equal(x.props[2].name, "Port");    /* trimmed */
  assert_string_equal(x.props[2].deflt, "80<>");   /* CDATA kept */

  assert_int_equal(x.nconfig, 7);
  assert_string_equal(x.config[0].tag, "copyright");
  assert_string_equal(config_text(&x, "copyright"), "Copyright & 2024");
  assert_string_equal(config_text(&x, "name"), "Sample Driver");
  assert_string_equal(config_text(&x, "version"), "42");
  assert_string_equal(config_text(&x, "proxies"), "sample_proxy");
  assert_non_null(config_text(&x, "config"));
  assert_string_equal(config_text(&x, "events"), "1Fired");

  assert_int_equal(x.ncaps, 3);
  assert_string_equal(x.caps[0].tag, "has_discrete_volume_control");
  assert_string_equal(x.caps[0].text, "True");
  assert_string_equal(x.caps[1].tag, "navigator_display_option");
  assert_string_equal(x.caps[1].text, "ab");
  assert_string_equal(x.caps[2].tag, "empty_cap");
  assert_string_equal(x.caps[2].text, "");

  emu_xml_free(&x);
  assert_null(x.script);
  assert_int_equal(x.nprops, 0);
  emu_xml_free(&x);   /* idempotent */
}

/* issue 14: the text inside <script> (CDATA of a .c4i, or inline code) is
 * kept as written, with the line it starts on; whitespace alone is none. */
static void test_script_text(void **state) {
  (void)state;
  emu_driver_xml x;
  char err[256];
  static const char c4i[] =
      "<devicedata>\n"
      "  <config>\n"
      "    <script jit=\"1\"><![CDATA[\nx = 1 -- <not a tag> & ]]>\n  y = 2\n</script>\n"
      "  </config>\n"
      "</devicedata>\n";
  assert_int_equal(parse(c4i, &x, err, sizeof err), 0);
  assert_non_null(x.script_text);
  assert_string_equal(x.script_text, "\nx = 1 -- <not a tag> & \n  y = 2\n");
  assert_int_equal(x.script_len, strlen(x.script_text));
  assert_int_equal(x.script_line, 3);
  assert_false(x.script_file_given);
  assert_string_equal(x.jit, "1");
  assert_string_equal(x.script, "driver.lua");
  emu_xml_free(&x);

  assert_int_equal(parse("<devicedata><config><script file=\"a.lua\">\n  \n</script></config></devicedata>",
                         &x, err, sizeof err), 0);
  assert_null(x.script_text);
  assert_true(x.script_file_given);
  emu_xml_free(&x);
}

static void test_defaults(void **state) {
  (void)state;
  emu_driver_xml x;
  char err[256];
  assert_int_equal(parse("<devicedata/>", &x, err, sizeof err), 0);
  assert_string_equal(x.script, "driver.lua");
  assert_null(x.encryption);
  assert_int_equal(x.nprops, 0);
  assert_int_equal(x.nconfig, 0);
  assert_int_equal(x.ncaps, 0);
  emu_xml_free(&x);

  /* <script> without file= keeps the default but reports encryption. */
  assert_int_equal(parse("<devicedata><config><script encryption=\"2\"/></config></devicedata>",
                         &x, err, sizeof err), 0);
  assert_string_equal(x.script, "driver.lua");
  assert_string_equal(x.encryption, "2");
  emu_xml_free(&x);

  /* A <script> or <properties> elsewhere than under <config> does not count. */
  assert_int_equal(parse("<devicedata><other><script file=\"x.lua\"/><properties><property>"
                         "<name>P</name></property></properties></other></devicedata>",
                         &x, err, sizeof err), 0);
  assert_string_equal(x.script, "driver.lua");
  assert_int_equal(x.nprops, 0);
  emu_xml_free(&x);
}

static void test_declared_encoding(void **state) {
  (void)state;
  /* ISO-8859-1 "caf\xe9" comes back as UTF-8. */
  static const char doc[] = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
                            "<devicedata><name>caf\xe9</name></devicedata>";
  emu_driver_xml x;
  char err[256];
  assert_int_equal(parse(doc, &x, err, sizeof err), 0);
  assert_string_equal(config_text(&x, "name"), "caf\xc3\xa9");
  emu_xml_free(&x);
}

static void test_malformed_gives_line_and_column(void **state) {
  (void)state;
  emu_driver_xml x;
  char err[256] = "";
  assert_int_equal(parse("<devicedata>\n  <name>x</name>\n  <config>\n</devicedata>\n", &x, err, sizeof err), -1);
  assert_string_equal(err, "line 4, column 3: mismatched tag");
  assert_null(x.script);
  assert_int_equal(x.nconfig, 0);

  assert_int_equal(parse("<devicedata>\n<a b=\"1\" b=\"2\"/></devicedata>", &x, err, sizeof err), -1);
  assert_string_equal(err, "line 2, column 10: duplicate attribute");

  assert_int_equal(parse("<devicedata><name>&nosuch;</name></devicedata>", &x, err, sizeof err), -1);
  assert_string_equal(err, "line 1, column 19: undefined entity");

  assert_int_equal(parse("", &x, err, sizeof err), -1);
  assert_string_equal(err, "line 1, column 1: no element found");

  assert_int_equal(parse("<devicedata></devicedata><extra/>", &x, err, sizeof err), -1);
  assert_string_equal(err, "line 1, column 26: junk after document element");
}

static void test_wrong_root(void **state) {
  (void)state;
  emu_driver_xml x;
  char err[256] = "";
  assert_int_equal(parse("<?xml version=\"1.0\"?>\n<driver><name>x</name></driver>", &x, err, sizeof err), -1);
  assert_non_null(strstr(err, "line 2, column 1: "));
  assert_non_null(strstr(err, "the root element is <driver>"));
  assert_non_null(strstr(err, "<devicedata>"));
  assert_null(x.script);

  /* An empty root element of the wrong name still ends cleanly. */
  assert_int_equal(parse("<x/>", &x, err, sizeof err), -1);
  assert_non_null(strstr(err, "the root element is <x>"));
}

static void test_deep_nesting_is_refused(void **state) {
  (void)state;
  enum { LEVELS = 100000 };
  size_t cap = 32 + (size_t)LEVELS * 7, len = 0;
  char *doc = malloc(cap);
  assert_non_null(doc);
  len += (size_t)sprintf(doc, "<devicedata>");
  for (int i = 0; i < LEVELS; i++) len += (size_t)sprintf(doc + len, "<a>");
  emu_driver_xml x;
  char err[256] = "";
  assert_int_equal(emu_xml_parse(doc, len, &x, err, sizeof err), -1);
  assert_non_null(strstr(err, "nested deeper than"));
  free(doc);

  /* Within the limit is fine. */
  char ok[4096];
  len = (size_t)sprintf(ok, "<devicedata><config>");
  for (int i = 0; i < 200; i++) len += (size_t)sprintf(ok + len, "<b>");
  for (int i = 0; i < 200; i++) len += (size_t)sprintf(ok + len, "</b>");
  len += (size_t)sprintf(ok + len, "</config></devicedata>");
  assert_int_equal(emu_xml_parse(ok, len, &x, err, sizeof err), 0);
  emu_xml_free(&x);
}

static void test_entity_expansion_is_bounded(void **state) {
  (void)state;
  /* Billion laughs: expat refuses it on amplification grounds. */
  static const char laughs[] =
      "<?xml version=\"1.0\"?><!DOCTYPE d ["
      "<!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">"
      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
      "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
      "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
      "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
      "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
      "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
      "]><devicedata><name>&g;</name></devicedata>";
  emu_driver_xml x;
  char err[256] = "";
  assert_int_equal(parse(laughs, &x, err, sizeof err), -1);
  assert_non_null(strstr(err, "line 1, column "));
  assert_null(x.script);

  /* Within expat's amplification ratio but over our own cap on stored text:
   * a 7 MiB document whose one entity is referenced eight times inside a
   * capability, so the capability and the root-level text each grow past
   * 32 MiB in total. */
  static const char head[] = "<!DOCTYPE devicedata [<!ENTITY big \"";
  static const char tail[] = "\">]><devicedata><capabilities><c>"
                             "&big;&big;&big;&big;&big;&big;&big;&big;</c></capabilities></devicedata>";
  size_t ent = 7u << 20, len = sizeof head - 1 + ent + sizeof tail - 1;
  char *doc = malloc(len);
  if (!doc) {
    fail_msg("out of memory");
    return;
  }
  memcpy(doc, head, sizeof head - 1);
  memset(doc + sizeof head - 1, 'x', ent);
  memcpy(doc + sizeof head - 1 + ent, tail, sizeof tail - 1);
  assert_int_equal(emu_xml_parse(doc, len, &x, err, sizeof err), -1);
  assert_non_null(strstr(err, "MiB"));
  free(doc);
}

/* Many items cost linear time and keep their order. */
static void test_many_items(void **state) {
  (void)state;
  enum { ITEMS = 50000 };
  size_t cap = 64 + (size_t)ITEMS * 40, len = 0;
  char *doc = malloc(cap);
  if (!doc) {
    fail_msg("out of memory");
    return;
  }
  len += (size_t)sprintf(doc, "<devicedata><capabilities>");
  for (int i = 0; i < ITEMS; i++) len += (size_t)sprintf(doc + len, "<c%d>%d</c%d>", i, i, i);
  len += (size_t)sprintf(doc + len, "</capabilities></devicedata>");
  emu_driver_xml x;
  char err[256] = "";
  assert_int_equal(emu_xml_parse(doc, len, &x, err, sizeof err), 0);
  assert_int_equal(x.ncaps, ITEMS);
  assert_string_equal(x.caps[ITEMS - 1].tag, "c49999");
  assert_string_equal(x.caps[ITEMS - 1].text, "49999");
  emu_xml_free(&x);
  free(doc);
}

static void test_oversized_input_is_refused(void **state) {
  (void)state;
  size_t len = (9u << 20);
  char *doc = calloc(1, len);
  assert_non_null(doc);
  emu_driver_xml x;
  char err[256] = "";
  assert_int_equal(emu_xml_parse(doc, len, &x, err, sizeof err), -1);
  assert_non_null(strstr(err, "the limit is 8 MiB"));
  free(doc);
}

static void test_odd_input_does_not_crash(void **state) {
  (void)state;
  static const char *odd[] = {
      "\0\0\0\0",
      "<devicedata>\0</devicedata>",
      "<devicedata><name>\xff\xfe</name></devicedata>",
      "\xef\xbb\xbf<devicedata/>",                   /* UTF-8 BOM: fine */
      "<devicedata><config><properties><property><name>",
      "<devicedata><capabilities><c>x</c><c>",
      "<!DOCTYPE devicedata SYSTEM \"http://example.invalid/x.dtd\"><devicedata/>",
      "<!DOCTYPE devicedata [<!ENTITY x SYSTEM \"/etc/passwd\">]><devicedata>&x;</devicedata>",
      "<devicedata xmlns:a=\"urn:x\"><a:name>n</a:name></devicedata>",
      "<?xml version=\"1.0\" encoding=\"x-unknown\"?><devicedata/>",
      "<devicedata><config><script file=\"\"/></config></devicedata>",
  };
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    emu_driver_xml x;
    char err[256] = "";
    size_t len = i < 2 ? (i == 0 ? 4 : 26) : strlen(odd[i]);
    int rc = emu_xml_parse(odd[i], len, &x, err, sizeof err);
    if (rc == 0) assert_non_null(x.script);
    else assert_non_null(strstr(err, "line "));
    emu_xml_free(&x);
  }

  /* A tiny error buffer truncates but stays a string. */
  emu_driver_xml x;
  char err[8];
  assert_int_equal(parse("<bad", &x, err, sizeof err), -1);
  assert_int_equal(strlen(err), sizeof err - 1);
}

/* Deterministic mutations of a real-looking document: every outcome must be
 * either a clean result or a clean error; ASan watches the rest. */
static void test_mutations_do_not_crash(void **state) {
  (void)state;
  static const char base[] =
      "<?xml version=\"1.0\"?><devicedata><name>n</name><version>3</version>"
      "<capabilities><a>1</a><b><c>2</c></b></capabilities><config>"
      "<script file=\"driver.lua\" encryption=\"0\"/><properties><property><name>P</name>"
      "<type>STRING</type><default>d</default></property></properties></config></devicedata>";
  static const char alphabet[] = "<>/=\"'&;![]CDATA- \n\0xe";
  size_t n = sizeof base - 1;
  char doc[sizeof base];
  unsigned long seed = 12345;
  for (int round = 0; round < 20000; round++) {
    memcpy(doc, base, n);
    int edits = 1 + round % 4;
    for (int e = 0; e < edits; e++) {
      seed = seed * 6364136223846793005UL + 1442695040888963407UL;
      size_t at = (size_t)(seed >> 33) % n;
      doc[at] = alphabet[(seed >> 13) % (sizeof alphabet - 1)];
    }
    size_t len = (size_t)(seed >> 40) % 8 == 0 ? (size_t)(seed >> 20) % n : n;
    emu_driver_xml x;
    char err[256];
    if (emu_xml_parse(doc, len, &x, err, sizeof err) == 0) {
      assert_non_null(x.script);
      for (size_t i = 0; i < x.nprops; i++) assert_non_null(x.props[i].deflt);
    }
    emu_xml_free(&x);
  }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_full_document),
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_script_text),
    cmocka_unit_test(test_declared_encoding),
    cmocka_unit_test(test_malformed_gives_line_and_column),
    cmocka_unit_test(test_wrong_root),
    cmocka_unit_test(test_deep_nesting_is_refused),
    cmocka_unit_test(test_entity_expansion_is_bounded),
    cmocka_unit_test(test_many_items),
    cmocka_unit_test(test_oversized_input_is_refused),
    cmocka_unit_test(test_odd_input_does_not_crash),
    cmocka_unit_test(test_mutations_do_not_crash),
};

UNIT_GROUP(xml, tests)
