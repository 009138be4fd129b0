/*
 * emu_conn.h — the <connections> of driver.xml as the emulator keeps them
 * (issue 12; reference §8.1): every <connection> with its id, type,
 * connectionname, consumer, facing, hidden, and its classes, each with its
 * classname and (network classes: TCP, UDP, SSL, MULTICAST) its ports.
 * Plain data with no dependencies, so that both emu_package.h (the parser)
 * and emu.h (what c4api sees through emu_connections()) can include it.
 */
#ifndef EMU_CONN_H
#define EMU_CONN_H

#include <stdbool.h>
#include <stddef.h>

/* <connection><type>: what the XML reference numbers them. */
enum {
  EMU_CONN_CONTROL = 1, EMU_CONN_PROXY = 2, EMU_CONN_AV = 3, EMU_CONN_NETWORK = 4,
  EMU_CONN_VIDEO = 5, EMU_CONN_AUDIO = 6, EMU_CONN_ROOM = 7,
};

typedef struct {
  int number;              /* <number>: the TCP/UDP port; 0 when absent or not a number */
  bool auto_connect;       /* <auto_connect>True</auto_connect> (case-insensitive "true"/"1") */
  bool monitor_connection;
  bool keep_connection;
  char *delimiter;         /* the bytes of <delimiter> (hex "0d0a" → "\r\n"), or NULL */
  size_t delimiter_len;
  char *delimiter_hex;     /* the text as written, or NULL */
  /* SSL ports (the "TLS/SSL Driver Configuration" page): each NULL when absent */
  bool keep_alive;         /* <keep_alive>True</keep_alive> */
  char *certificate;       /* <certificate>: a path relative to the .c4z */
  char *private_key;       /* <private_key>: likewise */
  bool key_protected;      /* <private_key protected="True">: GetPrivateKeyPassword */
  char *cacert;            /* <cacert> */
  char *verify_mode;       /* <verify_mode>: "none" or "peer" */
  char *method;            /* <method>: sslv23, tlsv1, tlsv1_1 / tlsv11, tlsv1_2 / tlsv12, ... */
} emu_conn_port;

/* Frees the strings of one port (the struct itself is the caller's). */
void emu_conn_port_clear(emu_conn_port *p);

typedef struct {
  char *classname;         /* "TCP", "SSL", "RS_232", "IR_OUT", ... (never NULL) */
  emu_conn_port *ports;
  size_t nports;
} emu_conn_class;

typedef struct {
  int id;                  /* <id>: binding id (network 6000-6999, serial/control 1-999) */
  int type;                /* <type>: EMU_CONN_*; 0 when absent */
  int facing;              /* <facing>; 0 when absent */
  char *name;              /* <connectionname> (never NULL) */
  bool consumer;           /* <consumer>True</consumer> */
  bool hidden;
  emu_conn_class *classes;
  size_t nclasses;
} emu_connection;

/* Frees one connection's strings and lists (the struct itself is the caller's). */
void emu_connection_clear(emu_connection *c);

#endif
