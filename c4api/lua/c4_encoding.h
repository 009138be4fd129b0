/*
 * c4_encoding.h — the NONE / HEX / BASE64 encodings and the `result, err`
 * conventions of the helper family (c4_helpers.c), shared with the crypto
 * helpers (c4_crypto.c).
 */
#ifndef C4_ENCODING_H
#define C4_ENCODING_H

#include "c4api.h"

typedef enum { ENC_NONE, ENC_HEX, ENC_BASE64, ENC_UNKNOWN } enc_kind;

/* Returns nil plus the first OpenSSL error (or "`what` failed"). */
int c4_fail_ssl(lua_State *L, const char *what);
/* Pushes p[0..n) encoded as e (HEX lowercase). */
void c4_push_encoded(lua_State *L, enc_kind e, const unsigned char *p, size_t n);
/* Reads opts[field] as an encoding name; absent: dflt.  Not a string raises;
 * an unknown name returns a message (pushed). */
const char *c4_opt_encoding(lua_State *L, int opts, const char *field, enc_kind dflt, enc_kind *e);
/* Replaces the string argument at idx by its decoding from opts[field];
 * returns a message on failure. */
const char *c4_decode_arg(lua_State *L, int idx, int opts, const char *field);

#endif
