/*
 * test_xml_conn.c — the <connections> of driver.xml (issue 12): ids, types,
 * classes, ports with their flags and hex delimiters, serial settings, and
 * the connections that are dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "emu_package.h"

static const char doc[] =
    "<devicedata><config><serialsettings> 9600 8 none 1 none 232 </serialsettings></config>\n"
    "<connections>\n"
    " <connection><id>6001</id><facing>6</facing><connectionname>TCP</connectionname>"
    "  <type>4</type><consumer>False</consumer><hidden>True</hidden>"
    "  <classes><class><classname>TCP</classname><ports>"
    "   <port><number>23</number><auto_connect>True</auto_connect>"
    "    <monitor_connection>true</monitor_connection><keep_connection>1</keep_connection>"
    "    <delimiter>0d0a</delimiter></port>"
    "   <port><number>24</number><delimiter>zz</delimiter></port>"
    "  </ports></class><class><classname>SSL</classname></class><class><ports/></class>"
    "  </classes></connection>\n"
    " <connection><id>1</id><type>1</type><connectionname>Serial</connectionname>"
    "  <consumer>True</consumer><classes><class><classname>RS_232</classname></class>"
    "  </classes></connection>\n"
    " <connection><connectionname>no id</connectionname></connection>\n"
    "</connections></devicedata>";

static void test_connections(void **state) {
  (void)state;
  emu_driver_xml x;
  char err[256];
  assert_int_equal(emu_xml_parse(doc, strlen(doc), &x, err, sizeof err), 0);
  assert_int_equal(x.nconnections, 2);
  const emu_connection *c = &x.connections[0];
  assert_int_equal(c->id, 6001);
  assert_int_equal(c->type, EMU_CONN_NETWORK);
  assert_int_equal(c->facing, 6);
  assert_string_equal(c->name, "TCP");
  assert_false(c->consumer);
  assert_true(c->hidden);
  assert_int_equal(c->nclasses, 2);   /* the nameless class is dropped */
  assert_string_equal(c->classes[0].classname, "TCP");
  assert_int_equal(c->classes[0].nports, 2);
  const emu_conn_port *p = &c->classes[0].ports[0];
  assert_int_equal(p->number, 23);
  assert_true(p->auto_connect && p->monitor_connection && p->keep_connection);
  assert_int_equal(p->delimiter_len, 2);
  assert_memory_equal(p->delimiter, "\r\n", 2);
  assert_string_equal(p->delimiter_hex, "0d0a");
  p = &c->classes[0].ports[1];
  assert_int_equal(p->number, 24);
  assert_false(p->auto_connect);
  assert_null(p->delimiter);
  assert_non_null(x.conn_warnings);
  assert_non_null(strstr(x.conn_warnings, "zz"));
  assert_null(strstr(x.conn_warnings, "network binding"));   /* 6001 has TCP */
  assert_string_equal(c->classes[1].classname, "SSL");
  assert_int_equal(c->classes[1].nports, 0);
  c = &x.connections[1];
  assert_int_equal(c->id, 1);
  assert_int_equal(c->type, EMU_CONN_CONTROL);
  assert_true(c->consumer);
  assert_string_equal(c->classes[0].classname, "RS_232");
  assert_string_equal(x.serialsettings, "9600 8 none 1 none 232");
  emu_xml_free(&x);
  emu_xml_free(&x);   /* idempotent */
}

/* The SSL elements of a <port>, as the "TLS/SSL Driver Configuration" page
 * writes them; empty ones count as absent. */
static void test_ssl_port(void **state) {
  (void)state;
  static const char d3[] =
      "<devicedata><connections><connection><id>6001</id><type>4</type>"
      "<connectionname>S</connectionname><classes><class><classname>SSL</classname><ports>"
      " <port><number>8988</number><keep_alive>True</keep_alive>"
      "  <certificate> ./cert/client.pem </certificate>"
      "  <private_key protected=\"True\">./cert/client.key</private_key>"
      "  <cacert>./cert/ca.pem</cacert><verify_mode>peer</verify_mode><method>tlsv12</method></port>"
      " <port><number>8989</number><private_key>./k.pem</private_key><cacert></cacert></port>"
      "</ports></class></classes></connection></connections></devicedata>";
  emu_driver_xml x;
  char err[256];
  assert_int_equal(emu_xml_parse(d3, strlen(d3), &x, err, sizeof err), 0);
  const emu_conn_port *p = &x.connections[0].classes[0].ports[0];
  assert_true(p->keep_alive);
  assert_string_equal(p->certificate, "./cert/client.pem");
  assert_string_equal(p->private_key, "./cert/client.key");
  assert_true(p->key_protected);
  assert_string_equal(p->cacert, "./cert/ca.pem");
  assert_string_equal(p->verify_mode, "peer");
  assert_string_equal(p->method, "tlsv12");
  p = &x.connections[0].classes[0].ports[1];
  assert_false(p->keep_alive || p->key_protected);
  assert_string_equal(p->private_key, "./k.pem");
  assert_null(p->certificate);
  assert_null(p->cacert);
  assert_null(p->verify_mode);
  emu_xml_free(&x);
}

/* s4-fixes: a network connection (type 4, or an id in 6000-6999) with no
 * TCP/UDP/SSL/MULTICAST class is warned of, naming it and the known classes. */
static void test_not_network_class(void **state) {
  (void)state;
  static const char d4[] =
      "<devicedata><connections>"
      "<connection><id>6001</id><type>4</type><connectionname>Network Connection</connectionname>"
      " <classes><class><classname>NETWORK</classname><ports><port><number>80</number></port>"
      " </ports></class></classes></connection>"
      "<connection><id>6100</id><connectionname>Web</connectionname>"
      " <classes><class><classname>HTTP</classname></class><class><classname>IP</classname>"
      " </class></classes></connection>"
      "<connection><id>6200</id><type>4</type><connectionname>Ok</connectionname>"
      " <classes><class><classname>udp</classname></class></classes></connection>"
      "<connection><id>5</id><type>1</type><connectionname>Relay</connectionname>"
      " <classes><class><classname>RELAY</classname></class></classes></connection>"
      "</connections></devicedata>";
  emu_driver_xml x;
  char err[256];
  assert_int_equal(emu_xml_parse(d4, strlen(d4), &x, err, sizeof err), 0);
  assert_int_equal(x.nconnections, 4);
  const char *w = x.conn_warnings;
  assert_non_null(w);
  assert_non_null(strstr(w, "connection 6001 ('Network Connection') is a network binding (type 4) "
                            "with no TCP, UDP, SSL or MULTICAST class"));
  assert_non_null(strstr(w, "it has 'NETWORK'"));
  assert_non_null(strstr(w, "connection 6100 ('Web') is a network binding (an id in 6000-6999)"));
  assert_non_null(strstr(w, "it has 'HTTP', 'IP'"));
  assert_null(strstr(w, "6200"));
  assert_null(strstr(w, "connection 5 "));
  /* one line each */
  size_t lines = 0;
  for (const char *p = w; *p; p++) lines += *p == '\n';
  assert_int_equal(lines, 2);
  emu_xml_free(&x);
}

static void test_no_connections(void **state) {
  (void)state;
  static const char d2[] = "<devicedata><name>x</name></devicedata>";
  emu_driver_xml x;
  char err[256];
  assert_int_equal(emu_xml_parse(d2, strlen(d2), &x, err, sizeof err), 0);
  assert_int_equal(x.nconnections, 0);
  assert_null(x.serialsettings);
  emu_xml_free(&x);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_connections),
    cmocka_unit_test(test_no_connections),
    cmocka_unit_test(test_ssl_port),
    cmocka_unit_test(test_not_network_class),
};

UNIT_GROUP(xml_conn, tests)
