/*
 * c4_parsexml.c — C4:ParseXml(xml) and the element tree behind it (expat).
 *
 * C4:ParseXml returns the document element as a table, the shape drivers in
 * the wild walk: {Name = "tag", Attributes = {name = value}, ChildNodes =
 * {child, ...} (document order), Value = "text"}.  Value is the element's own
 * character data; for an element that has child elements, whitespace around
 * it is trimmed (it is only the indentation between tags), a leaf keeps its
 * text as it is.  Bad XML gives nil plus "line L, column C: why" (no public
 * source shows what the controller returns; nil is what drivers test for).
 *
 * Hostile input: the document (8 MiB), the nesting (256) and everything we
 * store (32 MiB, after entity expansion) are capped, as for every XML reader
 * (emulator/emu_xmlrun.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c4api.h"
#include "lua/c4_xmltree.h"

#define TREE_MAX_INPUT  (8u << 20)
#define TREE_MAX_STORED (32u << 20)
#define TREE_MAX_DEPTH  256
#define TREE_NODE_COST  96

typedef struct {
  emu_xml_run x;
  c4_xnode *root;
  c4_xnode *stack[TREE_MAX_DEPTH + 1];
  int depth;
} tree_state;

#define stop(st, ...) emu_xml_stop(&(st)->x, __VA_ARGS__)
#define charge(st, n) emu_xml_charge(&(st)->x, (n))

void c4_xml_free(c4_xnode *n) {
  if (!n) return;
  for (size_t i = 0; i < n->nkids; i++) c4_xml_free(n->kids[i]);
  for (size_t i = 0; n->attrs && n->attrs[i]; i++) free(n->attrs[i]);
  free(n->attrs);
  free(n->kids);
  free(n->text);
  free(n->name);
  free(n);
}

static void on_start(void *ud, const char *name, const char **atts) {
  tree_state *st = ud;
  if (st->depth >= TREE_MAX_DEPTH) {
    stop(st, "elements nested deeper than %d levels", TREE_MAX_DEPTH);
    return;
  }
  size_t na = 0, bytes = strlen(name) + 1 + TREE_NODE_COST;
  for (; atts[na * 2]; na++) bytes += strlen(atts[na * 2]) + strlen(atts[na * 2 + 1]) + 2;
  if (!charge(st, bytes)) return;
  c4_xnode *n = calloc(1, sizeof *n);
  if (!n) goto oom;
  n->name = strdup(name);
  n->attrs = calloc(na * 2 + 1, sizeof *n->attrs);
  if (!n->name || !n->attrs) goto oom_node;
  for (size_t i = 0; i < na * 2; i++)
    if (!(n->attrs[i] = strdup(atts[i]))) goto oom_node;
  n->nattrs = na;
  if (st->depth == 0) {
    st->root = n;
  } else {
    c4_xnode *p = st->stack[st->depth];
    if (p->nkids == p->capkids) {
      size_t cap = p->capkids ? p->capkids * 2 : 4;
      c4_xnode **k = realloc(p->kids, cap * sizeof *k);
      if (!k) goto oom_node;
      p->kids = k;
      p->capkids = cap;
    }
    p->kids[p->nkids++] = n;
  }
  st->stack[++st->depth] = n;
  return;
oom_node:
  c4_xml_free(n);
oom:
  stop(st, "out of memory");
}

static void on_end(void *ud, const char *name) {
  (void)name;
  tree_state *st = ud;
  st->depth--;
}

static void on_text(void *ud, const char *s, int len) {
  tree_state *st = ud;
  if (len <= 0 || st->depth == 0 || !charge(st, (size_t)len)) return;
  c4_xnode *n = st->stack[st->depth];
  if (n->textlen + (size_t)len + 1 > n->textcap) {
    /* Doubling: expat hands text over in small pieces (one per entity). */
    size_t cap = n->textcap ? n->textcap : 32;
    while (cap < n->textlen + (size_t)len + 1) cap *= 2;
    char *t = realloc(n->text, cap);
    if (!t) {
      stop(st, "out of memory");
      return;
    }
    n->text = t;
    n->textcap = cap;
  }
  memcpy(n->text + n->textlen, s, (size_t)len);
  n->textlen += (size_t)len;
  n->text[n->textlen] = '\0';
}

c4_xnode *c4_xml_parse(const char *text, size_t len, char *err, size_t errsz) {
  tree_state st = {.x = {.budget = TREE_MAX_STORED, .what = "the document"}};
  static const emu_xml_handlers h = {on_start, on_end, on_text};
  if (emu_xml_run_parse(&st.x, text, len, TREE_MAX_INPUT, &h, &st, err, errsz) != 0) {
    c4_xml_free(st.root);
    st.root = NULL;
  }
  return st.root;
}

const c4_xnode *c4_xml_child(const c4_xnode *n, const char *name) {
  for (size_t i = 0; n && i < n->nkids; i++)
    if (strcmp(n->kids[i]->name, name) == 0) return n->kids[i];
  return NULL;
}

const char *c4_xml_attr(const c4_xnode *n, const char *name) {
  for (size_t i = 0; n && i < n->nattrs; i++)
    if (strcmp(n->attrs[2 * i], name) == 0) return n->attrs[2 * i + 1];
  return NULL;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The element's text with surrounding whitespace removed: (start, length). */
static const char *trim(const c4_xnode *n, size_t *len) {
  const char *s = n && n->text ? n->text : "";
  size_t l = n && n->text ? n->textlen : 0;
  while (l && is_space(*s)) s++, l--;
  while (l && is_space(s[l - 1])) l--;
  *len = l;
  return s;
}

const char *c4_xml_trimmed(const c4_xnode *n, char *buf, size_t bufsz) {
  size_t l;
  const char *s = trim(n, &l);
  if (l >= bufsz) l = bufsz - 1;
  memcpy(buf, s, l);
  buf[l] = '\0';
  return buf;
}

static void add_escaped(luaL_Buffer *b, const char *s, size_t n, bool attr) {
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
    case '&': luaL_addstring(b, "&amp;"); break;
    case '<': luaL_addstring(b, "&lt;"); break;
    case '>': luaL_addstring(b, "&gt;"); break;
    case '"':
      if (attr) luaL_addstring(b, "&quot;");
      else luaL_addchar(b, '"');
      break;
    default: luaL_addchar(b, s[i]);
    }
  }
}

/* Children first, then the element's own text: mixed content loses its
 * interleaving, which DriverWorks data does not use. */
static void add_inner(luaL_Buffer *b, const c4_xnode *n) {
  for (size_t i = 0; i < n->nkids; i++) {
    const c4_xnode *k = n->kids[i];
    luaL_addchar(b, '<');
    luaL_addstring(b, k->name);
    for (size_t a = 0; a < k->nattrs; a++) {
      luaL_addchar(b, ' ');
      luaL_addstring(b, k->attrs[2 * a]);
      luaL_addstring(b, "=\"");
      add_escaped(b, k->attrs[2 * a + 1], strlen(k->attrs[2 * a + 1]), true);
      luaL_addchar(b, '"');
    }
    luaL_addchar(b, '>');
    add_inner(b, k);
    luaL_addstring(b, "</");
    luaL_addstring(b, k->name);
    luaL_addchar(b, '>');
  }
  size_t l;
  const char *s = n->nkids ? trim(n, &l) : (n->text ? n->text : "");
  if (!n->nkids) l = n->textlen;
  add_escaped(b, s, l, false);
}

void c4_xml_push_inner(lua_State *L, const c4_xnode *n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  add_inner(&b, n);
  luaL_pushresult(&b);
}

void c4_xml_push_table(lua_State *L, const c4_xnode *n) {
  luaL_checkstack(L, 6, "XML nested too deeply");
  lua_createtable(L, 0, 4);
  lua_pushstring(L, n->name);
  lua_setfield(L, -2, "Name");
  lua_createtable(L, 0, (int)n->nattrs);
  for (size_t a = 0; a < n->nattrs; a++) {
    lua_pushstring(L, n->attrs[2 * a + 1]);
    lua_setfield(L, -2, n->attrs[2 * a]);
  }
  lua_setfield(L, -2, "Attributes");
  lua_createtable(L, (int)n->nkids, 0);
  for (size_t i = 0; i < n->nkids; i++) {
    c4_xml_push_table(L, n->kids[i]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "ChildNodes");
  size_t l = n->textlen;
  const char *s = n->nkids ? trim(n, &l) : (n->text ? n->text : "");
  lua_pushlstring(L, s, l);
  lua_setfield(L, -2, "Value");
}

/* C4:ParseXml(xml) → {Name=, Attributes=, ChildNodes=, Value=}, or nil, err */
static int l_ParseXml(lua_State *L) {
  size_t len;
  const char *xml = luaL_checklstring(L, 2, &len);
  char err[256];
  c4_xnode *root = c4_xml_parse(xml, len, err, sizeof err);
  if (!root) {
    lua_pushnil(L);
    lua_pushfstring(L, "ParseXml: %s", err);
    return 2;
  }
  /* A table push can raise (memory): keep the tree reachable for __gc. */
  c4_xnode **box = lua_newuserdata(L, sizeof *box);
  *box = root;
  luaL_getmetatable(L, "c4emu.xmltree");
  lua_setmetatable(L, -2);
  c4_xml_push_table(L, root);
  c4_xml_free(root);
  *box = NULL;
  return 1;
}

static int tree_gc(lua_State *L) {
  c4_xnode **box = lua_touserdata(L, 1);
  if (box && *box) {
    c4_xml_free(*box);
    *box = NULL;
  }
  return 0;
}

static void parsexml_open(lua_State *L, emu_ctx *ctx) {
  (void)ctx;
  emu_class_new(L, "c4emu.xmltree", NULL, tree_gc, NULL);
  lua_pop(L, 1);
}

static const c4_fn parsexml_fns[] = {
    {"ParseXml", l_ParseXml},
    {NULL, NULL},
};

const c4_family c4_family_parsexml = {"parsexml", parsexml_fns, parsexml_open, NULL};
