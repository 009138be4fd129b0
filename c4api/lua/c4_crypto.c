/*
 * c4_crypto.c — the crypto helpers on OpenSSL: C4:Encrypt, C4:Decrypt,
 * C4:PBKDF2, C4:GetSupportedCiphers, C4:GetSupportedDigests, C4:TEAEncrypt
 * and C4:TEADecrypt.  (Hash, HMAC, Encode are in c4_helpers.c, whose
 * encodings and `result, err` conventions these share.)
 *
 * Encrypt/Decrypt: a key or IV shorter than the cipher's is padded on the
 * right with zero bytes, a longer one refused — that padding reproduces the
 * reference's AES-256-CBC test vector exactly.  `padding` (default true, as
 * the page lists it) is PKCS#7 block padding.  Outputs default to NONE
 * (binary), PBKDF2's to HEX as Hash and HMAC do.
 *
 * Ciphers come from a fixed list (block ciphers in CBC/ECB/CFB/OFB/CTR forms
 * and stream ciphers; no AEAD modes, whose tag the API has no place for).
 * OS 4.0.0 moved to OpenSSL 3 and dropped the low-level ciphers (Blowfish,
 * CAST, DES, IDEA, RC2/4/5, SEED, Camellia): rows marked `legacy` are absent
 * there, through the version table (C4F_NO_LEGACY_CIPHERS).  Before 4.0.0 they
 * are fetched from a private OpenSSL library context with the legacy
 * provider loaded (made once per driver, freed at its shutdown); a cipher
 * this OpenSSL cannot give is simply not listed.
 *
 * TEAEncrypt/TEADecrypt(data, key): XXTEA (Wheeler and Needham's corrected
 * block TEA) over the data as little-endian 32-bit words; the key is 16 bytes,
 * shorter keys zero-padded.  Data must be a multiple of 4 bytes and at least
 * 8 (the reference: "4-byte aligned input"); no padding is added.  No public
 * page gives the signature; (data, key) returning `result, err` is our
 * choice, written in c4api/lua/README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "c4api.h"
#include "lua/c4_encoding.h"

#define PBKDF2_MAX_ITER 10000000
#define PBKDF2_MAX_LEN 4096

static const struct {
  const char *name;
  bool legacy; /* dropped in OS 4.0.0 */
} cipher_rows[] = {
    {"AES-128-CBC", false}, {"AES-192-CBC", false}, {"AES-256-CBC", false},
    {"AES-128-ECB", false}, {"AES-192-ECB", false}, {"AES-256-ECB", false},
    {"AES-128-CFB", false}, {"AES-192-CFB", false}, {"AES-256-CFB", false},
    {"AES-128-OFB", false}, {"AES-192-OFB", false}, {"AES-256-OFB", false},
    {"AES-128-CTR", false}, {"AES-192-CTR", false}, {"AES-256-CTR", false},
    {"CHACHA20", false},
    {"BF-CBC", true},       {"BF-ECB", true},       {"CAST5-CBC", true},
    {"DES-CBC", true},      {"DES-ECB", true},      {"DES-EDE3-CBC", true},
    {"IDEA-CBC", true},     {"RC2-CBC", true},      {"RC4", true},
    {"SEED-CBC", true},     {"CAMELLIA-128-CBC", true}, {"CAMELLIA-256-CBC", true},
};

static const char *const digest_names[] = {
    "MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "RIPEMD160",
};

/* The library context legacy ciphers come from (default + legacy
 * providers), made on first use per driver and freed at its shutdown: a
 * process-wide one would be lost when the spec module is unloaded. */
typedef struct {
  OSSL_LIB_CTX *lib;
  OSSL_PROVIDER *deflt, *legacy;
} legacy_lib;

static const char LEGACY_KEY = 'L';

static void legacy_free(emu_ctx *ctx, void *data) {
  legacy_lib *ll = data;
  if (ll->legacy) OSSL_PROVIDER_unload(ll->legacy);
  if (ll->deflt) OSSL_PROVIDER_unload(ll->deflt);
  OSSL_LIB_CTX_free(ll->lib);
  free(ll);
  if (ctx->L) {
    lua_pushlightuserdata(ctx->L, (void *)&LEGACY_KEY);
    lua_pushnil(ctx->L);
    lua_rawset(ctx->L, LUA_REGISTRYINDEX);
  }
}

static OSSL_LIB_CTX *legacy_ctx(emu_ctx *ctx) {
  lua_State *L = ctx->L;
  lua_pushlightuserdata(L, (void *)&LEGACY_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  legacy_lib *ll = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (ll) return ll->lib;
  ll = calloc(1, sizeof *ll);
  if (!ll) return NULL;
  ll->lib = OSSL_LIB_CTX_new();
  if (ll->lib) {
    ll->deflt = OSSL_PROVIDER_load(ll->lib, "default");
    ll->legacy = OSSL_PROVIDER_load(ll->lib, "legacy");
  }
  ERR_clear_error();
  lua_pushlightuserdata(L, (void *)&LEGACY_KEY);
  lua_pushlightuserdata(L, ll);
  lua_rawset(L, LUA_REGISTRYINDEX);
  emu_on_shutdown(ctx, legacy_free, ll);
  return ll->lib;
}

/* The cipher called `name` on this OS version (case-insensitive), or NULL.
 * The caller frees it with EVP_CIPHER_free. */
static EVP_CIPHER *cipher_get(emu_ctx *ctx, const char *name, const char **canon) {
  for (size_t i = 0; i < sizeof cipher_rows / sizeof cipher_rows[0]; i++) {
    if (strcasecmp(cipher_rows[i].name, name) != 0) continue;
    if (cipher_rows[i].legacy && c4_has(ctx, C4F_NO_LEGACY_CIPHERS)) return NULL;
    if (canon) *canon = cipher_rows[i].name;
    OSSL_LIB_CTX *lib = cipher_rows[i].legacy ? legacy_ctx(ctx) : NULL;
    if (cipher_rows[i].legacy && !lib) return NULL;
    EVP_CIPHER *c = EVP_CIPHER_fetch(lib, cipher_rows[i].name, NULL);
    ERR_clear_error();
    return c;
  }
  return NULL;
}

/* Right-pads (zero bytes) or refuses the string at idx to exactly want bytes,
 * into out.  Returns a message on refusal. */
static const char *fit(lua_State *L, int idx, size_t want, unsigned char *out, const char *what) {
  size_t n = 0;
  const char *s = lua_isnoneornil(L, idx) ? "" : lua_tolstring(L, idx, &n);
  if (n > want)
    return lua_pushfstring(L, "%s is %d bytes; this cipher takes at most %d", what, (int)n, (int)want);
  memset(out, 0, want);
  memcpy(out, s, n);
  return NULL;
}

/* Encrypt and Decrypt: C4:X(cipher, key, iv, data [, opts]) -> result | nil, err */
static int do_cipher(lua_State *L, bool enc) {
  const char *cname = luaL_checkstring(L, 2);
  luaL_checkstring(L, 3);
  if (!lua_isnoneornil(L, 4)) luaL_checkstring(L, 4);
  luaL_checkstring(L, 5);
  if (!lua_isnoneornil(L, 6)) luaL_checktype(L, 6, LUA_TTABLE);
  lua_settop(L, 6);
  bool padding = true;
  if (lua_istable(L, 6)) {
    lua_getfield(L, 6, "padding");
    if (!lua_isnil(L, -1)) padding = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  enc_kind ret;
  const char *err = c4_opt_encoding(L, 6, "return_encoding", ENC_NONE, &ret);
  if (!err) err = c4_decode_arg(L, 3, 6, "key_encoding");
  if (!err && !lua_isnil(L, 4)) err = c4_decode_arg(L, 4, 6, "iv_encoding");
  if (!err) err = c4_decode_arg(L, 5, 6, "data_encoding");
  if (err) goto fail_msg;

  const char *canon = cname;
  EVP_CIPHER *cipher = cipher_get(emu_ctx_of(L), cname, &canon);
  if (!cipher) {
    lua_pushnil(L);
    lua_pushfstring(L, "unsupported cipher '%s' (see C4:GetSupportedCiphers())", cname);
    return 2;
  }
  unsigned char key[EVP_MAX_KEY_LENGTH], iv[EVP_MAX_IV_LENGTH];
  size_t klen = (size_t)EVP_CIPHER_get_key_length(cipher);
  size_t ivlen = (size_t)EVP_CIPHER_get_iv_length(cipher);
  err = fit(L, 3, klen, key, "key");
  if (!err) err = fit(L, 4, ivlen, iv, "IV");
  if (err) {
    EVP_CIPHER_free(cipher);
    goto fail_msg;
  }
  size_t n;
  const char *data = lua_tolstring(L, 5, &n);
  if (n > (size_t)INT32_MAX - 64) {
    EVP_CIPHER_free(cipher);
    err = "data too large";
    goto fail_msg;
  }
  unsigned char *out = lua_newuserdata(L, n + (size_t)EVP_CIPHER_get_block_size(cipher) + 16);
  EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
  int l1 = 0, l2 = 0;
  ERR_clear_error();
  bool ok = cx && EVP_CipherInit_ex2(cx, cipher, key, ivlen ? iv : NULL, enc ? 1 : 0, NULL) &&
            EVP_CIPHER_CTX_set_padding(cx, padding ? 1 : 0) &&
            EVP_CipherUpdate(cx, out, &l1, (const unsigned char *)data, (int)n) &&
            EVP_CipherFinal_ex(cx, out + l1, &l2);
  EVP_CIPHER_CTX_free(cx);
  EVP_CIPHER_free(cipher);
  OPENSSL_cleanse(key, sizeof key);
  if (!ok) {
    if (!enc && padding) {
      ERR_clear_error();
      lua_pushnil(L);
      lua_pushfstring(L, "Decrypt failed with %s: bad key, IV or padding", canon);
      return 2;
    }
    if (!padding && ERR_peek_error() == 0) {
      lua_pushnil(L);
      lua_pushfstring(L, "%s: data is not a multiple of the block size (padding = false)",
                      enc ? "Encrypt" : "Decrypt");
      return 2;
    }
    return c4_fail_ssl(L, enc ? "Encrypt" : "Decrypt");
  }
  c4_push_encoded(L, ret, out, (size_t)(l1 + l2));
  return 1;
fail_msg:
  lua_pushnil(L);
  lua_pushstring(L, err);
  return 2;
}

/* C4:Encrypt(cipher, key, iv, data [, options]) -> result | nil, err */
static int l_Encrypt(lua_State *L) { return do_cipher(L, true); }

/* C4:Decrypt(cipher, key, iv, data [, options]) -> result | nil, err */
static int l_Decrypt(lua_State *L) { return do_cipher(L, false); }

/* C4:PBKDF2(digest, password, salt, iterations, key_length [, options]) -> result | nil, err */
static int l_PBKDF2(lua_State *L) {
  const char *dname = luaL_checkstring(L, 2);
  size_t pn;
  const char *pw = luaL_checklstring(L, 3, &pn);
  luaL_checkstring(L, 4);
  lua_Integer iter = luaL_checkinteger(L, 5);
  lua_Integer klen = luaL_checkinteger(L, 6);
  if (!lua_isnoneornil(L, 7)) luaL_checktype(L, 7, LUA_TTABLE);
  lua_settop(L, 7);
  enc_kind ret;
  const char *err = c4_opt_encoding(L, 7, "return_encoding", ENC_HEX, &ret);
  if (!err) err = c4_decode_arg(L, 4, 7, "salt_encoding");
  if (!err && (iter < 1 || iter > PBKDF2_MAX_ITER))
    err = lua_pushfstring(L, "iterations must be 1 to %d", PBKDF2_MAX_ITER);
  if (!err && (klen < 1 || klen > PBKDF2_MAX_LEN))
    err = lua_pushfstring(L, "key_length must be 1 to %d bytes", PBKDF2_MAX_LEN);
  const EVP_MD *md = err ? NULL : EVP_get_digestbyname(dname);
  if (!err && !md) err = lua_pushfstring(L, "unknown digest '%s'", dname);
  if (err) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  size_t sn;
  const char *salt = lua_tolstring(L, 4, &sn);
  unsigned char *out = lua_newuserdata(L, (size_t)klen);
  ERR_clear_error();
  if (!PKCS5_PBKDF2_HMAC(pw, (int)pn, (const unsigned char *)salt, (int)sn, (int)iter, md,
                         (int)klen, out))
    return c4_fail_ssl(L, "PBKDF2");
  c4_push_encoded(L, ret, out, (size_t)klen);
  return 1;
}

/* C4:GetSupportedCiphers() -> {name = {BlockSize=, KeyLength=, IVLength=}} */
static int l_GetSupportedCiphers(lua_State *L) {
  emu_ctx *ctx = emu_ctx_of(L);
  lua_newtable(L);
  for (size_t i = 0; i < sizeof cipher_rows / sizeof cipher_rows[0]; i++) {
    EVP_CIPHER *c = cipher_get(ctx, cipher_rows[i].name, NULL);
    if (!c) continue;
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, EVP_CIPHER_get_block_size(c));
    lua_setfield(L, -2, "BlockSize");
    lua_pushinteger(L, EVP_CIPHER_get_key_length(c));
    lua_setfield(L, -2, "KeyLength");
    lua_pushinteger(L, EVP_CIPHER_get_iv_length(c));
    lua_setfield(L, -2, "IVLength");
    lua_setfield(L, -2, cipher_rows[i].name);
    EVP_CIPHER_free(c);
  }
  return 1;
}

/* C4:GetSupportedDigests() -> {name = {Size=}} */
static int l_GetSupportedDigests(lua_State *L) {
  lua_newtable(L);
  for (size_t i = 0; i < sizeof digest_names / sizeof digest_names[0]; i++) {
    const EVP_MD *md = EVP_get_digestbyname(digest_names[i]);
    if (!md) continue;
    lua_createtable(L, 0, 1);
    lua_pushinteger(L, EVP_MD_get_size(md));
    lua_setfield(L, -2, "Size");
    lua_setfield(L, -2, digest_names[i]);
  }
  return 1;
}

/* ---- XXTEA ---------------------------------------------------------------- */

#define XXTEA_DELTA 0x9e3779b9u
#define XXTEA_MX (((z >> 5 ^ y << 2) + (y >> 3 ^ z << 4)) ^ ((sum ^ y) + (k[(p & 3) ^ e] ^ z)))

static void xxtea(uint32_t *v, uint32_t n, const uint32_t k[4], bool enc) {
  uint32_t y, z, sum, p, e;
  uint32_t rounds = 6 + 52 / n;
  if (enc) {
    sum = 0;
    z = v[n - 1];
    while (rounds-- > 0) {
      sum += XXTEA_DELTA;
      e = (sum >> 2) & 3;
      for (p = 0; p < n - 1; p++) {
        y = v[p + 1];
        z = v[p] += XXTEA_MX;
      }
      y = v[0];
      z = v[n - 1] += XXTEA_MX;
    }
  } else {
    sum = rounds * XXTEA_DELTA;
    y = v[0];
    while (rounds-- > 0) {
      e = (sum >> 2) & 3;
      for (p = n - 1; p > 0; p--) {
        z = v[p - 1];
        y = v[p] -= XXTEA_MX;
      }
      z = v[n - 1];
      y = v[0] -= XXTEA_MX;
      sum -= XXTEA_DELTA;
    }
  }
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int do_tea(lua_State *L, bool enc) {
  size_t n, kn;
  const unsigned char *data = (const unsigned char *)luaL_checklstring(L, 2, &n);
  const unsigned char *key = (const unsigned char *)luaL_checklstring(L, 3, &kn);
  const char *fn = enc ? "TEAEncrypt" : "TEADecrypt";
  if (n % 4 != 0 || n < 8) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: data must be a multiple of 4 bytes and at least 8 (got %d)", fn, (int)n);
    return 2;
  }
  if (kn > 16) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: the key is %d bytes; XXTEA takes at most 16", fn, (int)kn);
    return 2;
  }
  if (n / 4 > UINT32_MAX) return luaL_error(L, "%s: data too large", fn);
  unsigned char kb[16] = {0};
  memcpy(kb, key, kn);
  uint32_t k[4];
  for (int i = 0; i < 4; i++) k[i] = le32(kb + 4 * i);
  uint32_t *v = lua_newuserdata(L, n);
  for (size_t i = 0; i < n / 4; i++) v[i] = le32(data + 4 * i);
  xxtea(v, (uint32_t)(n / 4), k, enc);
  unsigned char *out = (unsigned char *)v;
  for (size_t i = 0; i < n / 4; i++) {
    uint32_t w = v[i];
    out[4 * i] = (unsigned char)w;
    out[4 * i + 1] = (unsigned char)(w >> 8);
    out[4 * i + 2] = (unsigned char)(w >> 16);
    out[4 * i + 3] = (unsigned char)(w >> 24);
  }
  lua_pushlstring(L, (const char *)out, n);
  return 1;
}

/* C4:TEAEncrypt(data, key) -> result | nil, err */
static int l_TEAEncrypt(lua_State *L) { return do_tea(L, true); }

/* C4:TEADecrypt(data, key) -> result | nil, err */
static int l_TEADecrypt(lua_State *L) { return do_tea(L, false); }

static const c4_fn crypto_fns[] = {
    {"Encrypt", l_Encrypt},
    {"Decrypt", l_Decrypt},
    {"PBKDF2", l_PBKDF2},
    {"GetSupportedCiphers", l_GetSupportedCiphers},
    {"GetSupportedDigests", l_GetSupportedDigests},
    {"TEAEncrypt", l_TEAEncrypt},
    {"TEADecrypt", l_TEADecrypt},
    {NULL, NULL},
};

const c4_family c4_family_crypto = {"crypto", crypto_fns, NULL, NULL};
