/*
 * emu_pack.h — `c4emu pack`'s pieces: the .c4zproj and squishy readers and
 * the squisher (emu_c4zproj.c), used by the command (emu_cmd_pack.c).
 */
#ifndef EMU_PACK_H
#define EMU_PACK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char *type, *name, *c4zdir;  /* c4zdir may be NULL */
  bool recurse, exclude;
  unsigned long line;          /* in the .c4zproj, for messages */
} emu_proj_item;

typedef struct {
  char *type, *name;
  bool squish, encryption, has_items;
  emu_proj_item *items;
  size_t nitems;
} emu_c4zproj;

/* Returns 0, or -1 with "line L, column C: why" (or another reason) in err. */
int emu_c4zproj_parse(const char *text, size_t len, emu_c4zproj *out, char *err, size_t errsz);
void emu_c4zproj_free(emu_c4zproj *p);

typedef struct {
  char *main, *output;
  struct { char *name, *path; } *mods;  /* path filled in for every module */
  size_t nmods;
} emu_squishy;

int emu_squishy_parse(const char *text, emu_squishy *out, char *err, size_t errsz);
void emu_squishy_free(emu_squishy *q);

typedef struct {
  const char *text;
  size_t len;
} emu_squish_src;

/* Builds the squished script: mods[i] is the source of q->mods[i].  The
 * result (malloc'ed) goes to *out. */
int emu_squish(const emu_squishy *q, const emu_squish_src *mods, const emu_squish_src *main_src,
               char **out, size_t *outlen, char *err, size_t errsz);

#endif
