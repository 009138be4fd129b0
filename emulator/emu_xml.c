/*
 * emu_xml.c — reads what the emulator needs from driver.xml with expat:
 * <config><script file= encryption= jit=> and the text inside it (a .c4i's
 * CDATA or inline code, kept as written, with the line it starts on), <config><properties><property> (name,
 * type, default), every root-level child of <devicedata> with its text (for
 * C4:GetDriverConfigInfo) and every child of <capabilities> (GetCapability).
 *
 * Texts are the concatenated character data of the element and everything
 * inside it, trimmed of surrounding whitespace.  The result owns all of its
 * strings; emu_xml_free releases them and may be called on a zeroed or
 * already freed result.
 *
 * Hostile input: the document, the nesting depth and the bytes we store are
 * all capped, so entity expansion (which expat 2.5 bounds by amplification
 * ratio, not absolute size) cannot make us hold more than XML_MAX_STORED
 * (the run is emu_xmlrun.c's, as for every XML reader).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "emu_package.h"

#define XML_MAX_INPUT   (8u << 20)   /* a real driver.xml is well under 1 MiB */
#define XML_MAX_STORED  (32u << 20)  /* all texts, names and items we keep */
#define XML_MAX_DEPTH   256
#define XML_ITEM_COST   128          /* charged per stored item for its bookkeeping */

/* What an open element is, as far as we care; only the first levels matter. */
enum kind { K_OTHER, K_ROOT, K_CONFIG, K_CAPS, K_PROPS, K_PROP };
#define XML_TRACKED_DEPTH 6

/* A growing text buffer for the character data of one open element. */
typedef struct {
  char *p;
  size_t len, cap;
  bool on;
} textbuf;

typedef struct {
  emu_xml_run x;              /* the parse, its budget and why it stopped */
  emu_driver_xml *out;
  int depth;
  enum kind kinds[XML_TRACKED_DEPTH];
  bool seen_script;
  char *top_tag;              /* open root-level child (depth 2) */
  textbuf top;
  char *inner_tag;            /* open <capabilities> child (depth 3) */
  int script_depth;           /* depth of the first <config><script> while open, else 0 */
  textbuf script;             /* its text, kept as written (line numbers matter) */
  textbuf inner;              /* capability text or property field */
  int prop_field;             /* 0 name, 1 type, 2 default, -1 none */
  emu_prop prop;              /* the <property> being read */
  bool in_prop;
  size_t config_cap, caps_cap, props_cap;   /* allocated lengths of the out lists */
} xml_state;

#define fail(st, ...) emu_xml_stop(&(st)->x, __VA_ARGS__)
#define charge(st, n) emu_xml_charge(&(st)->x, (n))

static char *dup_charged(xml_state *st, const char *s) {
  size_t n = strlen(s) + 1;
  if (!charge(st, n + XML_ITEM_COST)) return NULL;
  char *d = malloc(n);
  if (!d) {
    fail(st, "out of memory");
    return NULL;
  }
  memcpy(d, s, n);
  return d;
}

static void buf_append(xml_state *st, textbuf *b, const char *s, size_t n) {
  if (!b->on || n == 0) return;
  if (!charge(st, n)) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      fail(st, "out of memory");
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void buf_start(textbuf *b) {
  b->len = 0;
  if (b->p) b->p[0] = '\0';
  b->on = true;
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Hands over the buffer's text trimmed of surrounding whitespace (never NULL
 * unless memory ran out) and leaves the buffer off and empty. */
static char *buf_take_trimmed(xml_state *st, textbuf *b) {
  const char *s = b->p ? b->p : "";
  size_t n = b->len;
  while (n > 0 && is_space(s[0])) s++, n--;
  while (n > 0 && is_space(s[n - 1])) n--;
  char *t = malloc(n + 1);
  if (!t) {
    fail(st, "out of memory");
  } else {
    memcpy(t, s, n);
    t[n] = '\0';
  }
  b->len = 0;
  b->on = false;
  return t;
}

/* Returns the list with room for one more element after n (doubling, so
 * many items cost linear time), or NULL with the old list left as it was. */
static void *grow(xml_state *st, void *list, size_t *cap, size_t n, size_t elsize) {
  if (n < *cap) return list;
  size_t ncap = *cap ? *cap * 2 : 8;
  void *l = realloc(list, ncap * elsize);
  if (!l) {
    fail(st, "out of memory");
    return NULL;
  }
  *cap = ncap;
  return l;
}

/* Appends (tag, text) to a list, taking ownership of both. */
static void push_tagtext(xml_state *st, emu_tagtext **list, size_t *n, size_t *cap,
                         char *tag, char *text) {
  emu_tagtext *l = tag && text ? grow(st, *list, cap, *n, sizeof *l) : NULL;
  if (!l) {
    free(tag);
    free(text);
    return;
  }
  l[(*n)++] = (emu_tagtext){tag, text};
  *list = l;
}

static void prop_clear(emu_prop *p) {
  free(p->name);
  free(p->type);
  free(p->deflt);
  *p = (emu_prop){0};
}

/* Stores the finished <property>; one without a <name> cannot be addressed
 * by a driver, so it is dropped. */
static void push_prop(xml_state *st) {
  emu_prop *p = &st->prop;
  if (!p->name) {
    prop_clear(p);
    return;
  }
  if (!p->type) p->type = dup_charged(st, "");
  if (!p->deflt) p->deflt = dup_charged(st, "");
  emu_prop *l = NULL;
  if (p->type && p->deflt) l = grow(st, st->out->props, &st->props_cap, st->out->nprops, sizeof *l);
  if (!l) {
    prop_clear(p);
    return;
  }
  l[st->out->nprops++] = *p;
  st->out->props = l;
  *p = (emu_prop){0};
}

static const char *attr(const char **atts, const char *name) {
  for (size_t i = 0; atts[i]; i += 2)
    if (strcmp(atts[i], name) == 0) return atts[i + 1];
  return NULL;
}

/* The first <config><script> wins; later ones are ignored. */
static void take_script(xml_state *st, const char **atts) {
  if (st->seen_script) return;
  st->seen_script = true;
  st->out->script_seen = true;
  const char *file = attr(atts, "file");
  const char *enc = attr(atts, "encryption");
  const char *jit = attr(atts, "jit");
  st->script_depth = st->depth;
  st->out->script_line = emu_xml_line(&st->x);
  buf_start(&st->script);
  if (jit) st->out->jit = dup_charged(st, jit);
  st->out->script_file_given = file != NULL;
  if (file) {
    char *f = dup_charged(st, file);
    if (!f) return;
    free(st->out->script);
    st->out->script = f;
  }
  if (enc) st->out->encryption = dup_charged(st, enc);
}

static void on_start(void *ud, const char *name, const char **atts) {
  xml_state *st = ud;
  int d = ++st->depth;
  if (d > XML_MAX_DEPTH) {
    fail(st, "elements nested deeper than %d levels", XML_MAX_DEPTH);
    return;
  }
  enum kind parent = d >= 2 && d - 1 < XML_TRACKED_DEPTH ? st->kinds[d - 1] : K_OTHER;
  enum kind k = K_OTHER;

  if (d == 1) {
    if (strcmp(name, "devicedata") != 0) {
      fail(st, "the root element is <%.60s>; a driver.xml has <devicedata> as its root", name);
      return;
    }
    k = K_ROOT;
  } else if (d == 2) {
    st->top_tag = dup_charged(st, name);
    buf_start(&st->top);
    if (strcmp(name, "config") == 0) k = K_CONFIG;
    else if (strcmp(name, "capabilities") == 0) k = K_CAPS;
  } else if (parent == K_CONFIG && strcmp(name, "script") == 0) {
    take_script(st, atts);
  } else if (parent == K_CONFIG && strcmp(name, "properties") == 0) {
    k = K_PROPS;
  } else if (parent == K_CAPS) {
    st->inner_tag = dup_charged(st, name);
    buf_start(&st->inner);
  } else if (parent == K_PROPS && strcmp(name, "property") == 0) {
    prop_clear(&st->prop);
    st->in_prop = true;
    k = K_PROP;
  } else if (parent == K_PROP) {
    st->prop_field = strcmp(name, "name") == 0 ? 0 : strcmp(name, "type") == 0 ? 1
                   : strcmp(name, "default") == 0 ? 2 : -1;
    if (st->prop_field >= 0) buf_start(&st->inner);
  }
  if (d < XML_TRACKED_DEPTH) st->kinds[d] = k;
}

static void on_end(void *ud, const char *name) {
  xml_state *st = ud;
  (void)name;
  int d = st->depth--;
  enum kind k = d < XML_TRACKED_DEPTH ? st->kinds[d] : K_OTHER;
  enum kind parent = d >= 2 && d - 1 < XML_TRACKED_DEPTH ? st->kinds[d - 1] : K_OTHER;

  if (st->script_depth == d) {
    st->script_depth = 0;
    st->script.on = false;
    textbuf *b = &st->script;
    size_t n = b->len;
    size_t i = 0;
    while (i < n && is_space(b->p[i])) i++;
    if (i < n) {   /* not only whitespace: hand the text over as written */
      st->out->script_text = b->p;
      st->out->script_len = n;
      *b = (textbuf){0};
    }
  }
  if (d == 2) {
    char *text = buf_take_trimmed(st, &st->top);
    push_tagtext(st, &st->out->config, &st->out->nconfig, &st->config_cap, st->top_tag, text);
    st->top_tag = NULL;
  } else if (parent == K_CAPS && st->inner.on) {
    char *text = buf_take_trimmed(st, &st->inner);
    push_tagtext(st, &st->out->caps, &st->out->ncaps, &st->caps_cap, st->inner_tag, text);
    st->inner_tag = NULL;
  } else if (k == K_PROP && st->in_prop) {
    push_prop(st);
    st->in_prop = false;
  } else if (parent == K_PROP && st->prop_field >= 0) {
    char *text = buf_take_trimmed(st, &st->inner);
    char **slot = st->prop_field == 0 ? &st->prop.name
                : st->prop_field == 1 ? &st->prop.type : &st->prop.deflt;
    free(*slot);   /* a repeated field: the last one wins */
    *slot = text;
    st->prop_field = -1;
  }
}

static void on_text(void *ud, const char *s, int len) {
  xml_state *st = ud;
  if (len <= 0) return;
  buf_append(st, &st->top, s, (size_t)len);
  buf_append(st, &st->inner, s, (size_t)len);
  buf_append(st, &st->script, s, (size_t)len);
}

void emu_xml_free(emu_driver_xml *x) {
  if (!x) return;
  free(x->script);
  free(x->encryption);
  free(x->jit);
  free(x->script_text);
  for (size_t i = 0; i < x->nprops; i++) prop_clear(&x->props[i]);
  free(x->props);
  for (size_t i = 0; i < x->nconfig; i++) {
    free(x->config[i].tag);
    free(x->config[i].text);
  }
  free(x->config);
  for (size_t i = 0; i < x->ncaps; i++) {
    free(x->caps[i].tag);
    free(x->caps[i].text);
  }
  free(x->caps);
  emu_xml_connections_free(x);   /* issue 12 */
  *x = (emu_driver_xml){0};
}

int emu_xml_parse(const char *text, size_t len, emu_driver_xml *out, char *err, size_t errsz) {
  *out = (emu_driver_xml){0};
  xml_state st = {.out = out, .prop_field = -1};
  st.x.budget = XML_MAX_STORED;
  st.x.what = "driver.xml";
  static const emu_xml_handlers h = {on_start, on_end, on_text};
  int rc = emu_xml_run_parse(&st.x, text, len, XML_MAX_INPUT, &h, &st, err, errsz);
  if (rc == 0 && !out->script) {
    out->script = strdup("driver.lua");
    if (!out->script) {
      snprintf(err, errsz, "line 1, column 1: out of memory");
      rc = -1;
    }
  }
  /* issue 12: the connections, from a second pass over the accepted text */
  if (rc == 0 && emu_xml_connections(text, len, out) != 0) {
    snprintf(err, errsz, "line 1, column 1: out of memory reading <connections>");
    rc = -1;
  }

  /* Whatever was open when parsing stopped. */
  free(st.top_tag);
  free(st.inner_tag);
  free(st.top.p);
  free(st.inner.p);
  free(st.script.p);
  prop_clear(&st.prop);
  if (rc != 0) emu_xml_free(out);
  return rc;
}
