/*
 * c4_helpers.c — the helper family: JSON (in c4_json.c), Base64, Encode and
 * Decode, Hash, HMAC, XmlEscapeString and UUID; and the globals c4json,
 * hexdump and tohex, which open() creates.
 *
 * Methods are called C4:Name(...), so real arguments start at 2.  A wrong
 * argument type raises (luaL_check*); a failure at runtime (bad Base64, an
 * unknown digest or encoding) returns nil and a message, as the DriverWorks
 * pages describe for `result, err`.  All strings are binary-safe.
 *
 * Scratch buffers are Lua userdata, so a memory error raised halfway leaks
 * nothing.  OpenSSL's error queue is cleared before each call and read after
 * a failure.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "c4api.h"
#include "lua/c4_encoding.h"

/* Defined in c4_json.c. */
int c4_json_encode(lua_State *L);
int c4_json_decode(lua_State *L);
void c4_json_push_null(lua_State *L);

/* Returns nil and a formatted message: the runtime-failure convention. */
static int fail(lua_State *L, const char *fmt, ...) {
  va_list ap;
  lua_pushnil(L);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return 2;
}

/* nil plus the first OpenSSL error (or `what` if the queue is empty). */
int c4_fail_ssl(lua_State *L, const char *what) {
  unsigned long e = ERR_get_error();
  char msg[256];
  ERR_clear_error();
  if (!e) return fail(L, "%s failed", what);
  ERR_error_string_n(e, msg, sizeof msg);
  return fail(L, "%s failed: %s", what, msg);
}

/* ---- the three encodings ------------------------------------------------ */


static enc_kind enc_parse(const char *name) {
  if (strcasecmp(name, "NONE") == 0) return ENC_NONE;
  if (strcasecmp(name, "HEX") == 0) return ENC_HEX;
  if (strcasecmp(name, "BASE64") == 0) return ENC_BASE64;
  return ENC_UNKNOWN;
}

/* Pushes p[0..n) encoded as e (HEX is lowercase, as in the Hash example). */
void c4_push_encoded(lua_State *L, enc_kind e, const unsigned char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  if (e == ENC_HEX) {
    char *out = lua_newuserdata(L, n * 2 + 1);
    for (size_t i = 0; i < n; i++) {
      out[2 * i] = digits[p[i] >> 4];
      out[2 * i + 1] = digits[p[i] & 15];
    }
    lua_pushlstring(L, out, n * 2);
  } else if (e == ENC_BASE64) {
    if (n > (size_t)INT_MAX / 4 * 3) luaL_error(L, "data too large for Base64");
    unsigned char *out = lua_newuserdata(L, (n + 2) / 3 * 4 + 1);
    int len = EVP_EncodeBlock(out, p, (int)n);
    lua_pushlstring(L, (const char *)out, (size_t)len);
  } else {
    lua_pushlstring(L, (const char *)p, n);
    return;
  }
  lua_remove(L, -2); /* the scratch userdata */
}

/* ASCII classes, independent of the locale a host may have set. */
static bool is_space(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_base64(int c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

static int hex_value(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Hex text to bytes; whitespace is skipped if skip_space.  Returns NULL and
 * the length in *outn, or a message. */
static const char *hex_decode(const char *p, size_t n, bool skip_space,
                              unsigned char *out, size_t *outn) {
  size_t k = 0;
  int hi = -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (skip_space && is_space(c)) continue;
    int v = hex_value(c);
    if (v < 0) return "invalid hex digit";
    if (hi < 0) {
      hi = v;
    } else {
      out[k++] = (unsigned char)(hi << 4 | v);
      hi = -1;
    }
  }
  if (hi >= 0) return "odd number of hex digits";
  *outn = k;
  return NULL;
}

/* Base64 to bytes.  Line breaks and spaces are skipped and missing padding
 * is tolerated (EVP_DecodeBlock wants neither); '=' may only end the text.
 * `out` needs n / 4 * 3 + 3 bytes and `tmp` n + 4.  Returns NULL or a message. */
static const char *b64_decode(const char *p, size_t n, unsigned char *tmp,
                              unsigned char *out, size_t *outn) {
  size_t m = 0, pad = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (is_space(c)) continue;
    if (c == '=') {
      if (++pad > 2) return "invalid Base64 padding";
    } else if (pad || !is_base64(c)) {
      return pad ? "invalid Base64 padding" : "invalid Base64 character";
    }
    tmp[m++] = c;
  }
  if (m % 4 == 1 || (pad && m % 4 != 0)) return "invalid Base64 length";
  while (m % 4 != 0) {
    tmp[m++] = '=';
    pad++;
  }
  if (m > INT_MAX) return "Base64 text too large";
  int len = m ? EVP_DecodeBlock(out, tmp, (int)m) : 0;
  if (len < 0) return "invalid Base64";
  *outn = (size_t)len - pad; /* EVP_DecodeBlock counts the padding as zeros */
  return NULL;
}

/* Pushes p[0..n) decoded from e, or pushes nothing and returns a message. */
static const char *push_decoded(lua_State *L, enc_kind e, const char *p, size_t n) {
  const char *err;
  size_t outn = 0;
  if (e == ENC_NONE) {
    lua_pushlstring(L, p, n);
    return NULL;
  }
  unsigned char *out = lua_newuserdata(L, e == ENC_HEX ? n / 2 + 1 : n / 4 * 3 + 3);
  if (e == ENC_HEX) {
    err = hex_decode(p, n, false, out, &outn);
  } else {
    unsigned char *tmp = lua_newuserdata(L, n + 4);
    err = b64_decode(p, n, tmp, out, &outn);
    lua_pop(L, 1);
  }
  if (!err) lua_pushlstring(L, (const char *)out, outn);
  lua_remove(L, err ? -1 : -2);
  return err;
}

/* Reads opts[field] as an encoding name into *e; absent → dflt.  A value
 * that is not a string raises; an unknown name returns a message. */
const char *c4_opt_encoding(lua_State *L, int opts, const char *field, enc_kind dflt,
                                enc_kind *e) {
  *e = dflt;
  if (lua_isnoneornil(L, opts)) return NULL;
  lua_getfield(L, opts, field);
  int ty = lua_type(L, -1);
  if (ty != LUA_TNIL && ty != LUA_TSTRING)
    luaL_argerror(L, opts, lua_pushfstring(L, "'%s' must be a string, got %s", field,
                                           lua_typename(L, ty)));
  if (ty == LUA_TSTRING) {
    *e = enc_parse(lua_tostring(L, -1));
    if (*e == ENC_UNKNOWN) return lua_pushfstring(L, "unknown %s '%s'", field, lua_tostring(L, -1));
  }
  lua_pop(L, 1);
  return NULL;
}

/* Replaces the string argument at idx by its decoding from opts[field]; on
 * failure returns a message. */
const char *c4_decode_arg(lua_State *L, int idx, int opts, const char *field) {
  enc_kind e;
  const char *err = c4_opt_encoding(L, opts, field, ENC_NONE, &e);
  if (err) return err;
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  err = push_decoded(L, e, s, n);
  if (err) return lua_pushfstring(L, "%s: %s", field, err);
  lua_replace(L, idx);
  return NULL;
}

/* C4:Base64Encode(s) -> text */
static int l_Base64Encode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  c4_push_encoded(L, ENC_BASE64, (const unsigned char *)s, n);
  return 1;
}

/* C4:Base64Decode(text) -> bytes | nil, err */
static int l_Base64Decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  const char *err = push_decoded(L, ENC_BASE64, s, n);
  return err ? fail(L, "%s", err) : 1;
}

/* C4:Encode(data, encoding) -> result | nil, err */
static int l_Encode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  const char *name = c4_check_cstring(L, 3, "encoding");
  enc_kind e = enc_parse(name);
  if (e == ENC_UNKNOWN) return fail(L, "unknown encoding '%s' (NONE, HEX or BASE64)", name);
  c4_push_encoded(L, e, (const unsigned char *)s, n);
  return 1;
}

/* C4:Decode(data, encoding) -> result | nil, err */
static int l_Decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  const char *name = c4_check_cstring(L, 3, "encoding");
  enc_kind e = enc_parse(name);
  if (e == ENC_UNKNOWN) return fail(L, "unknown encoding '%s' (NONE, HEX or BASE64)", name);
  const char *err = push_decoded(L, e, s, n);
  return err ? fail(L, "%s", err) : 1;
}

/* ---- digests ------------------------------------------------------------- */

/* Checks the optional options table at idx. */
static void check_opts(lua_State *L, int idx) {
  if (!lua_isnoneornil(L, idx)) luaL_checktype(L, idx, LUA_TTABLE);
}

/*
 * The return encoding defaults to HEX.  The Hash and HMAC pages only show
 * calls that pass return_encoding = 'HEX'; we default to HEX (inference) so
 * that C4:Hash('SHA256', s) gives the printable digest those examples print.
 */
#define DEFAULT_RETURN_ENCODING ENC_HEX

/* C4:Hash(digest, data [, {return_encoding=, data_encoding=}]) -> result | nil, err */
static int l_Hash(lua_State *L) {
  const char *dname = c4_check_cstring(L, 2, "digest name");
  luaL_checkstring(L, 3);
  check_opts(L, 4);
  enc_kind ret;
  const char *err = c4_opt_encoding(L, 4, "return_encoding", DEFAULT_RETURN_ENCODING, &ret);
  if (!err) err = c4_decode_arg(L, 3, 4, "data_encoding");
  if (err) return fail(L, "%s", err);
  const EVP_MD *md = EVP_get_digestbyname(dname);
  if (!md) return fail(L, "unknown digest '%s'", dname);
  size_t n;
  const char *data = lua_tolstring(L, 3, &n);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int outn = 0;
  ERR_clear_error();
  if (!EVP_Digest(data, n, out, &outn, md, NULL)) return c4_fail_ssl(L, "Hash");
  c4_push_encoded(L, ret, out, outn);
  return 1;
}

/* C4:HMAC(digest, key, data [, {return_encoding=, key_encoding=, data_encoding=}]) -> result | nil, err */
static int l_HMAC(lua_State *L) {
  const char *dname = c4_check_cstring(L, 2, "digest name");
  luaL_checkstring(L, 3);
  luaL_checkstring(L, 4);
  check_opts(L, 5);
  enc_kind ret;
  const char *err = c4_opt_encoding(L, 5, "return_encoding", DEFAULT_RETURN_ENCODING, &ret);
  if (!err) err = c4_decode_arg(L, 3, 5, "key_encoding");
  if (!err) err = c4_decode_arg(L, 4, 5, "data_encoding");
  if (err) return fail(L, "%s", err);
  const EVP_MD *md = EVP_get_digestbyname(dname);
  if (!md) return fail(L, "unknown digest '%s'", dname);
  size_t kn, n;
  const char *key = lua_tolstring(L, 3, &kn);
  const char *data = lua_tolstring(L, 4, &n);
  if (kn > INT_MAX) return fail(L, "HMAC key too long");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int outn = 0;
  ERR_clear_error();
  if (!HMAC(md, key, (int)kn, (const unsigned char *)data, n, out, &outn))
    return c4_fail_ssl(L, "HMAC");
  c4_push_encoded(L, ret, out, outn);
  return 1;
}

/* ---- text ------------------------------------------------------------------ */

/* C4:XmlEscapeString(s) -> s with only &, < and > escaped */
static int l_XmlEscapeString(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
    case '&': luaL_addstring(&b, "&amp;"); break;
    case '<': luaL_addstring(&b, "&lt;"); break;
    case '>': luaL_addstring(&b, "&gt;"); break;
    default: luaL_addchar(&b, s[i]); break;
    }
  }
  luaL_pushresult(&b);
  return 1;
}

/* C4:UUID(type, ...) -> "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" | nil, err
 * RANDOM (version 4) and NIL; STRING and NAME are not done yet. */
static int l_UUID(lua_State *L) {
  const char *type = c4_check_cstring(L, 2, "type");
  unsigned char u[16] = {0};
  if (strcasecmp(type, "RANDOM") == 0) {
    ERR_clear_error();
    if (RAND_bytes(u, sizeof u) != 1) return c4_fail_ssl(L, "UUID");
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  } else if (strcasecmp(type, "NIL") != 0) {
    return fail(L, "UUID type '%s' is not supported (RANDOM or NIL)", type);
  }
  char s[37];
  snprintf(s, sizeof s,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
           u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  lua_pushstring(L, s);
  return 1;
}

/* ---- globals ---------------------------------------------------------------- */

/* hexdump(str): logs a classic offset / hex / ASCII dump, 16 bytes a line. */
static int l_hexdump(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  emu_ctx *ctx = emu_ctx_of(L);
  for (size_t off = 0; off < n; off += 16) {
    char line[96];
    int k = snprintf(line, sizeof line, "%08zx ", off);
    for (size_t i = 0; i < 16; i++) {
      if (i == 8) line[k++] = ' ';
      if (off + i < n) k += snprintf(line + k, sizeof line - (size_t)k, " %02x", s[off + i]);
      else k += snprintf(line + k, sizeof line - (size_t)k, "   ");
    }
    k += snprintf(line + k, sizeof line - (size_t)k, "  |");
    for (size_t i = 0; i < 16 && off + i < n; i++)
      line[k++] = (char)(s[off + i] >= 0x20 && s[off + i] < 0x7f ? s[off + i] : '.');
    snprintf(line + k, sizeof line - (size_t)k, "|");
    emu_log(ctx, EMU_LOG_INFO, "%s", line);
  }
  return 0;
}

/* tohex(text) -> bytes: "DF 80 70" or "df8070"; whitespace is skipped, bad
 * hex raises (the name is the platform's: hex text in, bytes out). */
static int l_tohex(lua_State *L) {
  size_t n, outn = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  unsigned char *out = lua_newuserdata(L, n / 2 + 1);
  const char *err = hex_decode(s, n, true, out, &outn);
  if (err) return luaL_argerror(L, 1, err);
  lua_pushlstring(L, (const char *)out, outn);
  return 1;
}

/* Creates c4json (with c4json.null), hexdump and tohex. */
static void helpers_open(lua_State *L, emu_ctx *ctx) {
  (void)ctx;
  lua_createtable(L, 0, 1);
  c4_json_push_null(L);
  lua_setfield(L, -2, "null");
  lua_setglobal(L, "c4json");
  lua_pushcfunction(L, l_hexdump);
  lua_setglobal(L, "hexdump");
  lua_pushcfunction(L, l_tohex);
  lua_setglobal(L, "tohex");
}

static const c4_fn helpers_fns[] = {
  {"JsonEncode", c4_json_encode},
  {"JsonDecode", c4_json_decode},
  {"Base64Encode", l_Base64Encode},
  {"Base64Decode", l_Base64Decode},
  {"Encode", l_Encode},
  {"Decode", l_Decode},
  {"Hash", l_Hash},
  {"HMAC", l_HMAC},
  {"XmlEscapeString", l_XmlEscapeString},
  {"UUID", l_UUID},
  {NULL, NULL},
};

const c4_family c4_family_helpers = {"helpers", helpers_fns, helpers_open, NULL};
