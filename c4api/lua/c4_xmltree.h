/*
 * c4_xmltree.h — a small element tree read with expat, for C4:ParseXml and
 * for the director (driver.xml's <proxies>, <events>, <properties> and
 * C4:GetDeviceData).  The tree owns all of its strings; c4_xml_free releases
 * it (NULL-safe).
 */
#ifndef C4_XMLTREE_H
#define C4_XMLTREE_H

#include <stddef.h>
#include <lua.h>

typedef struct c4_xnode {
  char *name;
  char **attrs;             /* name, value, name, value, ..., NULL */
  size_t nattrs;            /* pairs */
  char *text;               /* the element's own character data, in order */
  size_t textlen, textcap;
  struct c4_xnode **kids;
  size_t nkids, capkids;
} c4_xnode;

/* Parses a document; returns its root element, or NULL with
 * "line L, column C: why" in err.  Input, depth and stored bytes are capped. */
c4_xnode *c4_xml_parse(const char *text, size_t len, char *err, size_t errsz);
void c4_xml_free(c4_xnode *n);

/* The first child element called name, or NULL. */
const c4_xnode *c4_xml_child(const c4_xnode *n, const char *name);
/* Attribute value or NULL. */
const char *c4_xml_attr(const c4_xnode *n, const char *name);
/* Text of the element trimmed of surrounding whitespace, into buf. */
const char *c4_xml_trimmed(const c4_xnode *n, char *buf, size_t bufsz);
/* Pushes the XML inside n (its children, escaped) as a Lua string. */
void c4_xml_push_inner(lua_State *L, const c4_xnode *n);
/* Pushes n as C4:ParseXml's table {Name=, Attributes=, ChildNodes=, Value=}. */
void c4_xml_push_table(lua_State *L, const c4_xnode *n);

#endif
