/*
 * emu_package.h — a driver package on disk: a .c4z (zip, extracted with
 * libzip into a private temporary folder after safety checks) or an unpacked
 * driver folder, and what driver.xml says about it (emu_xml.c).
 */
#ifndef EMU_PACKAGE_H
#define EMU_PACKAGE_H

#include <stddef.h>
#include <stdbool.h>

#include "emu_conn.h"

typedef struct {
  char *name, *type, *deflt;
} emu_prop;

typedef struct {
  char *tag, *text;
} emu_tagtext;

typedef struct {
  char *script;          /* <script file=…>, default "driver.lua" */
  char *encryption;      /* <script encryption=…> or NULL */
  char *jit;             /* <script jit=…> or NULL */
  bool script_file_given; /* <script> has a file attribute */
  char *script_text;     /* the text inside <script> (CDATA or inline code), or NULL */
  size_t script_len;
  unsigned long script_line; /* line of driver.xml where that text starts */
  emu_prop *props;
  size_t nprops;
  emu_tagtext *config;   /* root-level elements with their text */
  size_t nconfig;
  emu_tagtext *caps;     /* <capabilities> children */
  size_t ncaps;
  /* issue 12: <connections> and <config><serialsettings> (emu_xml_conn.c) */
  emu_connection *connections;
  size_t nconnections;
  char *serialsettings;  /* the text as written, or NULL */
  char *conn_warnings;   /* lines for the log (a delimiter that is not hex), or NULL */
} emu_driver_xml;

typedef struct {
  char *root;            /* folder holding driver.xml */
  char *tmpdir;          /* extraction folder to remove, or NULL */
  emu_driver_xml xml;
  /* issue 14 */
  bool inline_script;    /* the script is xml.script_text (a .c4i, or inline code) */
  char *chunkname;       /* "@driver.lua", "@legacy.c4i": package-relative */
  char *warnings;        /* lines for the log when the driver loads, or NULL */
} emu_package;

/* Limits for .c4z extraction: beyond them the package is refused. */
#define EMU_ZIP_MAX_ENTRY  (64u << 20)   /* one file, uncompressed */
#define EMU_ZIP_MAX_TOTAL  (256u << 20)  /* all files */
#define EMU_ZIP_MAX_FILES  20000

/* Returns 0, or -1 with a one-line reason in err. */
int emu_package_open(const char *path, emu_package *pkg, char *err, size_t errsz);
void emu_package_free(emu_package *pkg);

/* Parses driver.xml text.  Returns 0, or -1 with "line L, column C: why" in err. */
int emu_xml_parse(const char *text, size_t len, emu_driver_xml *out, char *err, size_t errsz);
void emu_xml_free(emu_driver_xml *x);
/* issue 12: the second pass emu_xml_parse makes for <connections> and
 * <serialsettings>; 0, or -1 when memory ran out.  The free is idempotent. */
int emu_xml_connections(const char *text, size_t len, emu_driver_xml *x);
void emu_xml_connections_free(emu_driver_xml *x);

/* issue 14: whether a chunk is precompiled Lua (starts with ESC "Lua"), and
 * whether script bytes look like Lua source text rather than ciphertext. */
bool emu_is_bytecode(const char *p, size_t n);
bool emu_looks_like_text(const char *p, size_t n);

/* Whether a zip entry name is safe to extract (relative, no "..", no NUL). */
bool emu_zip_name_safe(const char *name);

#endif
