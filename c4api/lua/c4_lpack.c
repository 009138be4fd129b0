/*
 * c4_lpack.c — string.pack / string.unpack as the controller embeds them:
 * lpack's formats and semantics (not Lua 5.3's), with the sizes of the
 * controller's 32-bit build.
 *
 *   string.pack(fmt, ...)             -> binary string
 *   string.unpack(s, fmt [, init])    -> next position, values...
 *
 * Format letters, each optionally followed by a decimal count:
 *   z  zero-terminated string        p  string with a 1-byte length prefix
 *   P  string with a 2-byte prefix   a  string with a 4-byte (size_t) prefix
 *   A  raw string (unpack: count = its length, default 1)
 *   f  float (4)   d  double (8)   n  lua_Number (8)
 *   c  char (1)    b  unsigned char (1)
 *   h  short (2)   H  unsigned short (2)
 *   i  int (4)     I  unsigned int (4)
 *   l  long (4)    L  unsigned long (4)
 *   <  little endian   >  big endian   =  native; apply to what follows
 *   spaces and commas are ignored.
 * In pack a count repeats the item (each repeat takes an argument); in
 * unpack it repeats the item, except for A, where it is the length.
 *
 * Sizes: Fundamentals' example unpacks "\022\001\002\003\004" with "b>l"
 * into 22 and 16909060, so `l` is 4 bytes: the controller's lpack is a 32-bit
 * build, and we take the same for `a` (size_t) and L.
 *
 * As lpack, unpack stops quietly when the data runs out (the values read so
 * far are returned, and the position where it stopped).  Unlike lpack, which
 * says only "bad code", an unknown letter raises an error naming the letter
 * and its position, and integers out of a Lua number's exact range raise
 * instead of being undefined C conversions.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "c4api.h"

#define LPACK_LETTERS "zpPaAfdncbhHiIlL<>= ,"
#define LPACK_MAX_COUNT 100000000L

static bool host_little(void) {
  const uint16_t one = 1;
  return *(const uint8_t *)&one == 1;
}

/* The size in bytes of an integer or float letter, or 0. */
static size_t num_size(int c) {
  switch (c) {
  case 'c': case 'b': case 'p': return 1;
  case 'h': case 'H': case 'P': return 2;
  case 'i': case 'I': case 'l': case 'L': case 'f': case 'a': return 4;
  case 'd': case 'n': return 8;
  default: return 0;
  }
}

static int bad_letter(lua_State *L, const char *fn, int c, size_t pos) {
  if (c >= 0x20 && c < 0x7f)
    return luaL_error(L, "%s: invalid format letter '%c' at position %d of the format "
                      "(lpack letters: z p P a A f d n c b h H i I l L < > =)", fn, c, (int)pos);
  return luaL_error(L, "%s: invalid format byte \\%d at position %d of the format", fn, c, (int)pos);
}

/* Reads an optional count after the letter at f[*i]; *i moves past it. */
static long read_count(lua_State *L, const char *fn, const char *f, size_t *i) {
  long n = 0;
  bool given = false;
  while (f[*i] >= '0' && f[*i] <= '9') {
    given = true;
    n = n * 10 + (f[*i] - '0');
    if (n > LPACK_MAX_COUNT) luaL_error(L, "%s: count too large in the format", fn);
    (*i)++;
  }
  return given ? n : 1;
}

/* Reads the format item at f[*i] (a letter and its count, default 1) and
 * moves past it.  Endianness letters set *little; they, spaces and commas
 * return 0.  Raises on an unknown letter. */
static int next_item(lua_State *L, const char *fn, const char *f, size_t *i, long *n, bool *little) {
  int c = (unsigned char)f[(*i)++];
  size_t at = *i;
  *n = read_count(L, fn, f, i);
  if (!strchr(LPACK_LETTERS, c)) return bad_letter(L, fn, c, at);
  if (c == '<' || c == '>' || c == '=') {
    *little = c == '<' ? true : c == '>' ? false : host_little();
    return 0;
  }
  return c == ' ' || c == ',' ? 0 : c;
}

/* Appends the low `size` bytes of u in the chosen order. */
static void put_uint(luaL_Buffer *b, uint64_t u, size_t size, bool little) {
  for (size_t k = 0; k < size; k++) {
    size_t shift = little ? k : size - 1 - k;
    luaL_addchar(b, (char)((u >> (8 * shift)) & 0xff));
  }
}

static uint64_t get_uint(const unsigned char *p, size_t size, bool little) {
  uint64_t u = 0;
  for (size_t k = 0; k < size; k++) {
    size_t shift = little ? k : size - 1 - k;
    u |= (uint64_t)p[k] << (8 * shift);
  }
  return u;
}

/* Argument i as an integer for a C integer of `size` bytes: wraps modulo
 * 2^(8*size) as a C cast would, but refuses what no cast can give. */
static uint64_t check_int_arg(lua_State *L, int i) {
  lua_Number x = luaL_checknumber(L, i);
  if (!(x > -9007199254740992.0 && x < 18446744073709551616.0) || isnan(x))
    luaL_argerror(L, i, "number out of range for an integer format");
  x = x < 0 ? ceil(x) : floor(x);
  if (x < 0) return (uint64_t)(int64_t)x;
  return (uint64_t)x;
}

/* string.pack(fmt, ...) -> string */
static int l_string_pack(lua_State *L) {
  static const char fn[] = "string.pack";
  const char *f = luaL_checkstring(L, 1);
  bool little = host_little();
  int arg = 2;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; f[i];) {
    long n;
    int c = next_item(L, fn, f, &i, &n, &little);
    if (c == 0) continue;
    while (n-- > 0) {
      int a = arg++;
      if (c == 'z' || c == 'A') {
        size_t len;
        const char *s = luaL_checklstring(L, a, &len);
        luaL_addlstring(&b, s, len + (c == 'z' ? 1 : 0));
      } else if (c == 'p' || c == 'P' || c == 'a') {
        size_t len, size = num_size(c);
        const char *s = luaL_checklstring(L, a, &len);
        uint64_t max = size == 4 ? 0xffffffffu : size == 2 ? 0xffffu : 0xffu;
        if ((uint64_t)len > max)
          luaL_argerror(L, a, lua_pushfstring(L, "string too long for format '%c' (at most %d bytes)",
                                              c, (int)(max > 0x7fffffff ? 0x7fffffff : max)));
        put_uint(&b, len, size, little);
        luaL_addlstring(&b, s, len);
      } else if (c == 'f' || c == 'd' || c == 'n') {
        lua_Number x = luaL_checknumber(L, a);
        if (c == 'f') {
          float v = (float)x;
          uint32_t u;
          memcpy(&u, &v, 4);
          put_uint(&b, u, 4, little);
        } else {
          double v = (double)x;
          uint64_t u;
          memcpy(&u, &v, 8);
          put_uint(&b, u, 8, little);
        }
      } else {
        put_uint(&b, check_int_arg(L, a), num_size(c), little);
      }
    }
  }
  luaL_pushresult(&b);
  return 1;
}

/* Pushes the integer of letter c read from p. */
static void push_int(lua_State *L, int c, const unsigned char *p, bool little) {
  size_t size = num_size(c);
  uint64_t u = get_uint(p, size, little);
  bool is_signed = c == 'c' || c == 'h' || c == 'i' || c == 'l';
  if (is_signed && (u >> (8 * size - 1)) & 1) {
    int64_t v = (int64_t)(u | (~(uint64_t)0 << (8 * size)));
    lua_pushnumber(L, (lua_Number)v);
  } else {
    lua_pushnumber(L, (lua_Number)u);
  }
}

/* string.unpack(s, fmt [, init]) -> next position, values... */
static int l_string_unpack(lua_State *L) {
  static const char fn[] = "string.unpack";
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  const char *f = luaL_checkstring(L, 2);
  lua_Number init = luaL_optnumber(L, 3, 1);
  size_t pos = init < 1 ? 0 : init > (lua_Number)len + 1 ? len : (size_t)init - 1;
  bool little = host_little();
  int nvals = 0;
  lua_settop(L, 3);
  lua_pushnil(L); /* replaced by the position */
  for (size_t i = 0; f[i];) {
    long n;
    int c = next_item(L, fn, f, &i, &n, &little);
    if (c == 0) continue;
    if (c == 'A') { /* the count is the length */
      luaL_checkstack(L, 1, "too many results to unpack");
      if ((size_t)n > len - pos) goto done;
      lua_pushlstring(L, (const char *)s + pos, (size_t)n);
      pos += (size_t)n;
      nvals++;
      continue;
    }
    while (n-- > 0) {
      luaL_checkstack(L, 1, "too many results to unpack");
      if (c == 'z') {
        if (pos >= len) goto done;
        const unsigned char *end = memchr(s + pos, '\0', len - pos);
        size_t l = end ? (size_t)(end - (s + pos)) : len - pos;
        lua_pushlstring(L, (const char *)s + pos, l);
        pos += l + (end ? 1 : 0);
      } else if (c == 'p' || c == 'P' || c == 'a') {
        size_t size = num_size(c);
        if (size > len - pos) goto done;
        uint64_t l = get_uint(s + pos, size, little);
        if (l > len - pos - size) goto done;
        lua_pushlstring(L, (const char *)s + pos + size, (size_t)l);
        pos += size + (size_t)l;
      } else {
        size_t size = num_size(c);
        if (size > len - pos) goto done;
        if (c == 'f') {
          uint32_t u = (uint32_t)get_uint(s + pos, 4, little);
          float v;
          memcpy(&v, &u, 4);
          lua_pushnumber(L, (lua_Number)v);
        } else if (c == 'd' || c == 'n') {
          uint64_t u = get_uint(s + pos, 8, little);
          double v;
          memcpy(&v, &u, 8);
          lua_pushnumber(L, (lua_Number)v);
        } else {
          push_int(L, c, s + pos, little);
        }
        pos += size;
      }
      nvals++;
    }
  }
done:
  lua_pushnumber(L, (lua_Number)pos + 1);
  lua_replace(L, 4);
  return nvals + 1;
}

/* Adds string.pack and string.unpack to the driver's string library. */
static void lpack_open(lua_State *L, emu_ctx *ctx) {
  (void)ctx;
  lua_getglobal(L, "string");
  lua_pushcfunction(L, l_string_pack);
  lua_setfield(L, -2, "pack");
  lua_pushcfunction(L, l_string_unpack);
  lua_setfield(L, -2, "unpack");
  lua_pop(L, 1);
}

const c4_family c4_family_lpack = {"lpack", NULL, lpack_open, NULL};
