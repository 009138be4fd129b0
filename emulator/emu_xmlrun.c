/*
 * emu_xmlrun.c — one expat run with the limits every XML reader keeps (see
 * emu.h): the input cap, the budget of bytes kept, and the first reason a
 * handler stopped the parse, reported where it happened.
 */
#include <expat.h>
#include <stdarg.h>
#include <stdio.h>

#include "emu.h"

typedef struct {
  emu_xml_run *x;
  const emu_xml_handlers *h;
  void *ud;
} run;

static void XMLCALL on_start(void *p, const XML_Char *name, const XML_Char **atts) {
  run *r = p;
  r->h->start(r->ud, name, atts);
}

static void XMLCALL on_end(void *p, const XML_Char *name) {
  run *r = p;
  if (r->h->end) r->h->end(r->ud, name);
}

static void XMLCALL on_text(void *p, const XML_Char *s, int len) {
  run *r = p;
  r->h->text(r->ud, s, len);
}

void emu_xml_stop(emu_xml_run *x, const char *fmt, ...) {
  if (!x->why[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->why, sizeof x->why, fmt, ap);
    va_end(ap);
    if (!x->why[0]) snprintf(x->why, sizeof x->why, "stopped");
    x->line = XML_GetCurrentLineNumber(x->parser);
    x->col = XML_GetCurrentColumnNumber(x->parser);
  }
  XML_StopParser(x->parser, XML_FALSE);
}

bool emu_xml_charge(emu_xml_run *x, size_t n) {
  if (x->budget && n > x->budget - x->stored) {
    emu_xml_stop(x, "%s holds more than %zu MiB (after entity expansion)",
                 x->what ? x->what : "the document", x->budget >> 20);
    return false;
  }
  x->stored += n;
  return true;
}

unsigned long emu_xml_line(const emu_xml_run *x) {
  return XML_GetCurrentLineNumber(x->parser);
}

int emu_xml_run_parse(emu_xml_run *x, const char *text, size_t len, size_t max_input,
                      const emu_xml_handlers *h, void *ud, char *err, size_t errsz) {
  if (len > max_input || len > 0x7fffffffu) {
    snprintf(err, errsz, "line 1, column 1: the document is %zu bytes; the limit is %zu MiB", len,
             max_input >> 20);
    return -1;
  }
  XML_Parser p = XML_ParserCreate(NULL);
  if (!p) {
    snprintf(err, errsz, "line 1, column 1: out of memory");
    return -1;
  }
  run r = {x, h, ud};
  x->parser = p;
  x->why[0] = '\0';
  XML_SetUserData(p, &r);
  XML_SetElementHandler(p, on_start, on_end);
  if (h->text) XML_SetCharacterDataHandler(p, on_text);
  int rc = 0;
  if (XML_Parse(p, text ? text : "", (int)len, XML_TRUE) != XML_STATUS_OK) {
    bool ours = x->why[0] != '\0';
    unsigned long line = ours ? x->line : XML_GetCurrentLineNumber(p);
    unsigned long col = (ours ? x->col : XML_GetCurrentColumnNumber(p)) + 1;
    const char *why = ours ? x->why : XML_ErrorString(XML_GetErrorCode(p));
    snprintf(err, errsz, "line %lu, column %lu: %s", line, col, why ? why : "unknown error");
    rc = -1;
  }
  XML_ParserFree(p);
  x->parser = NULL;
  return rc;
}
