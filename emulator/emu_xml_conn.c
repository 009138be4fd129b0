/*
 * emu_xml_conn.c — the <connections> of driver.xml and <config><serialsettings>
 * (issue 12), read by a second expat pass over the text emu_xml_parse has
 * already accepted (so the document is well formed and within its size cap).
 *
 *   <connections><connection>
 *     <id> <type> <facing> <connectionname> <consumer> <hidden>
 *     <classes><class><classname>
 *       <ports><port> <number> <auto_connect> <monitor_connection>
 *                     <keep_connection> <delimiter>   (hex, "0d" → CR)
 *                     SSL: <keep_alive> <certificate> <private_key protected=>
 *                          <cacert> <verify_mode> <method>
 *
 * Booleans are "True"/"true"/"1" (anything else is false).  A <connection>
 * without a numeric <id> cannot be bound and is dropped; a <class> without a
 * <classname> likewise.  A <delimiter> that is not hex is kept as written in
 * delimiter_hex with delimiter NULL, and a warning line is added to
 * x->conn_warnings (the package logs it at load); so is a network connection
 * without a network class (s4-fixes).  Caps: 4096 connections,
 * 64 classes per connection, 64 ports per class, 256 bytes per field.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "emu_package.h"

#define MAX_CONNS 4096
#define MAX_CLASSES 64
#define MAX_PORTS 64
#define MAX_FIELD 256
#define MAX_DEPTH 16

typedef struct {
  emu_driver_xml *x;
  int depth;
  const char *path[MAX_DEPTH];  /* element names, interned below */
  char field[MAX_FIELD + 1];
  size_t flen;
  bool in_field;
  bool oom;
  emu_connection cur;           /* the <connection> being read */
  bool in_conn;
  bool has_id;
} cstate;

/* The element names we care about; anything else is "". */
static const char *const names[] = {
    "devicedata", "connections", "connection", "id", "type", "facing", "connectionname",
    "consumer", "hidden", "classes", "class", "classname", "ports", "port", "number",
    "auto_connect", "monitor_connection", "keep_connection", "delimiter", "config",
    "serialsettings",
    /* SSL port elements (21..26) */
    "keep_alive", "certificate", "private_key", "cacert", "verify_mode", "method", NULL};

static const char *intern(const char *n) {
  for (size_t i = 0; names[i]; i++)
    if (strcmp(names[i], n) == 0) return names[i];
  return "";
}

static bool at(const cstate *s, int d, const char *name) {
  return s->depth >= d && strcmp(s->path[d - 1], name) == 0;
}

void emu_connection_clear(emu_connection *c) {
  if (!c) return;
  free(c->name);
  for (size_t i = 0; i < c->nclasses; i++) {
    emu_conn_class *k = &c->classes[i];
    free(k->classname);
    for (size_t j = 0; j < k->nports; j++) emu_conn_port_clear(&k->ports[j]);
    free(k->ports);
  }
  free(c->classes);
  *c = (emu_connection){0};
}

void emu_conn_port_clear(emu_conn_port *p) {
  free(p->delimiter);
  free(p->delimiter_hex);
  free(p->certificate);
  free(p->private_key);
  free(p->cacert);
  free(p->verify_mode);
  free(p->method);
}

static bool truthy(const char *s) {
  return strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0;
}

static int number(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  return (*s && *end == '\0' && v >= 0 && v < 1000000) ? (int)v : 0;
}

static void add_line(cstate *s, const char *line) {
  size_t old = s->x->conn_warnings ? strlen(s->x->conn_warnings) : 0;
  char *w = realloc(s->x->conn_warnings, old + strlen(line) + 2);
  if (!w) return;
  memcpy(w + old, line, strlen(line));
  w[old + strlen(line)] = '\n';
  w[old + strlen(line) + 1] = '\0';
  s->x->conn_warnings = w;
}

static void warn(cstate *s, const char *fmt, const char *arg, int id) {
  char line[400];
  snprintf(line, sizeof line, fmt, arg, id);
  add_line(s, line);
}

/*
 * The classes a network binding is made of (c4api/netbind's parse_type knows
 * the same four).  A connection that says it is one (type 4, or an id in
 * 6000-6999) and has none of them gets no network binding; a controller would
 * not connect it either, but nothing says so in c4emu's output: a public
 * driver writes <classname>NETWORK</classname>.  The package warns of it.
 */
static const char *const network_classes[] = {"TCP", "UDP", "SSL", "MULTICAST", NULL};

static void warn_not_network(cstate *s, const emu_connection *c) {
  if (c->type != EMU_CONN_NETWORK && (c->id < 6000 || c->id > 6999)) return;
  char got[160] = "";
  size_t n = 0;
  for (size_t i = 0; i < c->nclasses; i++) {
    for (size_t k = 0; network_classes[k]; k++)
      if (strcasecmp(c->classes[i].classname, network_classes[k]) == 0) return;
    if (n < sizeof got)
      n += (size_t)snprintf(got + n, sizeof got - n, "%s'%s'", i ? ", " : "", c->classes[i].classname);
  }
  char line[400];
  snprintf(line, sizeof line, "[c4emu] driver.xml: connection %d ('%s') is a network binding "
           "(%s) with no TCP, UDP, SSL or MULTICAST class (the classes c4emu knows for one; "
           "it has %s): driver.xml makes no network binding %d (C4:CreateNetworkConnection still "
           "can)", c->id, c->name ? c->name : "",
           c->type == EMU_CONN_NETWORK ? "type 4" : "an id in 6000-6999",
           c->nclasses ? got : "none", c->id);
  add_line(s, line);
}

/* "0d0a" / "0D 0A" / "0x0d" → bytes; false if not hex. */
static bool hex_bytes(const char *t, char *out, size_t *n) {
  *n = 0;
  if (t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) t += 2;
  int hi = -1;
  for (; *t; t++) {
    if (isspace((unsigned char)*t)) continue;
    if (!isxdigit((unsigned char)*t)) return false;
    int v = isdigit((unsigned char)*t) ? *t - '0' : (tolower((unsigned char)*t) - 'a' + 10);
    if (hi < 0) hi = v;
    else {
      out[(*n)++] = (char)(hi << 4 | v);
      hi = -1;
    }
  }
  return hi < 0 && *n > 0;
}

static emu_conn_class *cur_class(cstate *s) {
  return s->cur.nclasses ? &s->cur.classes[s->cur.nclasses - 1] : NULL;
}

static void on_start(void *ud, const char *name, const char **atts) {
  (void)atts;
  cstate *s = ud;
  if (s->depth >= MAX_DEPTH) {
    s->depth++;
    return;
  }
  s->path[s->depth++] = intern(name);
  int d = s->depth;
  if (d == 3 && at(s, 2, "connections") && at(s, 3, "connection")) {
    emu_connection_clear(&s->cur);
    s->in_conn = s->x->nconnections < MAX_CONNS;
    s->has_id = false;
  } else if (s->in_conn && d == 5 && at(s, 4, "classes") && at(s, 5, "class")) {
    if (s->cur.nclasses < MAX_CLASSES) {
      emu_conn_class *l = realloc(s->cur.classes, (s->cur.nclasses + 1) * sizeof *l);
      if (!l) s->oom = true;
      else {
        s->cur.classes = l;
        l[s->cur.nclasses++] = (emu_conn_class){0};
      }
    }
  } else if (s->in_conn && d == 7 && at(s, 6, "ports") && at(s, 7, "port")) {
    emu_conn_class *k = cur_class(s);
    if (k && k->nports < MAX_PORTS) {
      emu_conn_port *l = realloc(k->ports, (k->nports + 1) * sizeof *l);
      if (!l) s->oom = true;
      else {
        k->ports = l;
        l[k->nports++] = (emu_conn_port){0};
      }
    }
  }
  /* <private_key protected="True">: the key's password comes from the driver. */
  if (s->in_conn && d == 8 && at(s, 7, "port") && s->path[d - 1] == names[23]) {
    emu_conn_class *k = cur_class(s);
    for (size_t i = 0; k && k->nports && atts && atts[i]; i += 2)
      if (strcmp(atts[i], "protected") == 0) k->ports[k->nports - 1].key_protected = truthy(atts[i + 1]);
  }
  /* Leaves whose text we keep. */
  bool leaf = (s->in_conn && d == 4) || (s->in_conn && d == 6 && at(s, 5, "class")) ||
              (s->in_conn && d == 8 && at(s, 7, "port")) ||
              (d == 3 && at(s, 2, "config") && at(s, 3, "serialsettings"));
  s->in_field = leaf && *s->path[d - 1];
  s->flen = 0;
}

static char *dup_or_oom(cstate *s, const char *t) {
  char *p = strdup(t);
  if (!p) s->oom = true;
  return p;
}

/* An empty element is the same as an absent one. */
static void set_text(cstate *s, char **slot, const char *t) {
  free(*slot);
  *slot = *t ? dup_or_oom(s, t) : NULL;
}

static void end_field(cstate *s, const char *leaf, int d) {
  char *t = s->field;
  t[s->flen] = '\0';
  while (*t && isspace((unsigned char)*t)) t++;
  size_t n = strlen(t);
  while (n && isspace((unsigned char)t[n - 1])) t[--n] = '\0';
  if (d == 3) {   /* serialsettings */
    free(s->x->serialsettings);
    s->x->serialsettings = dup_or_oom(s, t);
    return;
  }
  emu_connection *c = &s->cur;
  if (d == 4) {
    if (leaf == names[3]) {
      c->id = number(t);
      s->has_id = *t && (c->id > 0 || strcmp(t, "0") == 0);
    } else if (leaf == names[4]) c->type = number(t);
    else if (leaf == names[5]) c->facing = number(t);
    else if (leaf == names[6]) {
      free(c->name);
      c->name = dup_or_oom(s, t);
    } else if (leaf == names[7]) c->consumer = truthy(t);
    else if (leaf == names[8]) c->hidden = truthy(t);
    return;
  }
  emu_conn_class *k = cur_class(s);
  if (!k) return;
  if (d == 6) {
    if (leaf == names[11]) {
      free(k->classname);
      k->classname = dup_or_oom(s, t);
    }
    return;
  }
  if (!k->nports) return;
  emu_conn_port *p = &k->ports[k->nports - 1];
  if (leaf == names[14]) p->number = number(t);
  else if (leaf == names[15]) p->auto_connect = truthy(t);
  else if (leaf == names[16]) p->monitor_connection = truthy(t);
  else if (leaf == names[17]) p->keep_connection = truthy(t);
  else if (leaf == names[21]) p->keep_alive = truthy(t);
  else if (leaf == names[22]) set_text(s, &p->certificate, t);
  else if (leaf == names[23]) set_text(s, &p->private_key, t);
  else if (leaf == names[24]) set_text(s, &p->cacert, t);
  else if (leaf == names[25]) set_text(s, &p->verify_mode, t);
  else if (leaf == names[26]) set_text(s, &p->method, t);
  else if (leaf == names[18]) {
    free(p->delimiter);
    free(p->delimiter_hex);
    p->delimiter = NULL;
    p->delimiter_len = 0;
    p->delimiter_hex = dup_or_oom(s, t);
    if (!*t) return;
    char bytes[MAX_FIELD];
    size_t nb;
    if (hex_bytes(t, bytes, &nb)) {
      p->delimiter = malloc(nb);
      if (!p->delimiter) s->oom = true;
      else {
        memcpy(p->delimiter, bytes, nb);
        p->delimiter_len = nb;
      }
    } else {
      warn(s, "driver.xml: <delimiter>%s</delimiter> of connection %d is not hex; "
              "the port has no delimiter", t, c->id);
    }
  }
}

static void on_end(void *ud, const char *name) {
  (void)name;
  cstate *s = ud;
  int d = s->depth--;
  if (d > MAX_DEPTH) return;
  const char *leaf = s->path[d - 1];
  if (s->in_field) {
    s->in_field = false;
    end_field(s, leaf, d);
  }
  if (d == 3 && s->in_conn && leaf == names[2]) {
    s->in_conn = false;
    emu_connection *c = &s->cur;
    /* a class without a name cannot be matched: drop it */
    size_t w = 0;
    for (size_t i = 0; i < c->nclasses; i++) {
      if (c->classes[i].classname) c->classes[w++] = c->classes[i];
      else {
        for (size_t j = 0; j < c->classes[i].nports; j++) emu_conn_port_clear(&c->classes[i].ports[j]);
        free(c->classes[i].ports);
      }
    }
    c->nclasses = w;
    if (s->has_id) warn_not_network(s, c);
    if (!c->name) c->name = dup_or_oom(s, "");
    if (!s->has_id || !c->name) {
      emu_connection_clear(c);
      return;
    }
    emu_connection *l = realloc(s->x->connections, (s->x->nconnections + 1) * sizeof *l);
    if (!l) {
      s->oom = true;
      emu_connection_clear(c);
      return;
    }
    s->x->connections = l;
    l[s->x->nconnections++] = *c;
    *c = (emu_connection){0};
  }
}

static void on_text(void *ud, const char *t, int len) {
  cstate *s = ud;
  if (!s->in_field || len <= 0) return;
  size_t n = (size_t)len;
  if (n > MAX_FIELD - s->flen) n = MAX_FIELD - s->flen;
  memcpy(s->field + s->flen, t, n);
  s->flen += n;
}

int emu_xml_connections(const char *text, size_t len, emu_driver_xml *x) {
  cstate s = {.x = x};
  /* The first pass accepted this text: only memory can fail here. */
  emu_xml_run run = {0};
  static const emu_xml_handlers h = {on_start, on_end, on_text};
  char err[256];
  int rc = emu_xml_run_parse(&run, text, len, len, &h, &s, err, sizeof err) == 0 && !s.oom ? 0 : -1;
  emu_connection_clear(&s.cur);
  return rc;
}

void emu_xml_connections_free(emu_driver_xml *x) {
  for (size_t i = 0; i < x->nconnections; i++) emu_connection_clear(&x->connections[i]);
  free(x->connections);
  x->connections = NULL;
  x->nconnections = 0;
  free(x->serialsettings);
  x->serialsettings = NULL;
  free(x->conn_warnings);
  x->conn_warnings = NULL;
}
