/*
 * c4_color.c — the Light V2 conversion commands (the proxy protocol's
 * "Light V2 Conversion Commands", all released with OS 3.3.0):
 * C4:ColorXYtoRGB, ColorRGBtoXY, ColorXYtoHSV, ColorHSVtoXY, ColorHSVtoRGB,
 * ColorRGBtoHSV, ColorXYtoCCT, ColorCCTtoXY.  The math is c4_colormath.c.
 *
 * Arguments, as the pages and their examples give them:
 *   ColorXYtoRGB(x, y [, rgbScale] [, gamut [, primaries [, whitepoint]]]) → r, g, b
 *   ColorRGBtoXY(r, g, b [, rgbScale] [, gamut ...])                    → x, y
 *   ColorXYtoHSV(x, y [, gamut ...])                                    → h, s, v
 *   ColorHSVtoXY(h, s, v [, gamut ...])                                 → x, y
 *   ColorHSVtoRGB(h, s, v [, rgbScale]) → r, g, b;  ColorRGBtoHSV(r, g, b [, rgbScale]) → h, s, v
 *   ColorXYtoCCT(x, y) → kelvin;  ColorCCTtoXY(kelvin) → x, y
 * The examples also put a number before the gamut of the HSV pair and leave
 * the scale out before a gamut ("ColorRGBtoXY(0, 100, 100, "srgb")"), so a
 * number in that place is the scale (ignored by the HSV pair: xy has no
 * brightness) and a string is the gamut.  gamut is "srgb" (the default:
 * "these calls map RGB and Hue/Saturation data values to the generic sRGB
 * gamut"), "rec2020" (from OS 3.3.1) or "custom" (3.4.0) with primaries
 * "rx,ry,gx,gy,bx,by" and an optional white point "x,y" (D65 by default).
 *
 * Choices (README.md): HSV is h 0..360, s and v 0..100 (the presets' hue
 * 0-359 and saturation 0-100; the examples' (0, 100, 100) is red).  An xy
 * gives the colour at full brightness (largest channel = scale, v = 100).
 * RGB results are whole numbers when the scale is above 1 (drivers put them
 * in URLs and hex strings), fractions for a scale of 1 or less.  A CCT is
 * rounded to the kelvin and then down to a multiple of 10 (what driver
 * writers report of the controller).  Before OS 3.3.1 gamut arguments are
 * ignored with a warning; an unknown gamut name or malformed primaries
 * raise, naming the argument.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "c4api.h"
#include "color/c4_colormath.h"

/* Argument i as a finite number (numeric strings too: proxy params are strings). */
static double check_finite(lua_State *L, int i) {
  double v = luaL_checknumber(L, i);
  if (!isfinite(v)) luaL_argerror(L, i, "finite number expected");
  return v;
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* An optional number at *i (the rgbScale): moves *i past it.  Default 255. */
static double opt_scale(lua_State *L, int *i) {
  int t = lua_type(L, *i);
  if (t == LUA_TNIL) {
    (*i)++;
    return 255;
  }
  if (t != LUA_TNUMBER && !(t == LUA_TSTRING && lua_isnumber(L, *i))) return 255;
  double s = lua_tonumber(L, *i);
  if (!isfinite(s) || s <= 0) luaL_argerror(L, *i, "rgbScale must be a positive number");
  (*i)++;
  return s;
}

/* Parses n comma-separated numbers from s; false if anything else is there. */
static bool parse_numbers(const char *s, double *out, int n) {
  for (int k = 0; k < n; k++) {
    char *end;
    out[k] = strtod(s, &end);
    if (end == s || !isfinite(out[k])) return false;
    s = end + strspn(end, " \t");
    if (k < n - 1) {
      if (*s != ',') return false;
      s++;
    }
  }
  return *s == '\0';
}

/* Warns once per driver that the gamut arguments mean nothing on this OS. */
static void warn_gamut_ignored(lua_State *L, const char *fn) {
  lua_getfield(L, LUA_REGISTRYINDEX, "c4emu.color.gamut_warned");
  bool warned = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (warned) return;
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "c4emu.color.gamut_warned");
  emu_ctx *ctx = emu_ctx_of(L);
  char os[16];
  emu_log(ctx, EMU_LOG_WARN, "C4:%s: the gamut argument arrived with OS 3.3.1; on OS %s it is "
          "ignored (sRGB is used)", fn, c4_osver_format(ctx->os, os, sizeof os));
}

/* The gamut named from argument i on (nothing there: sRGB). */
static void opt_gamut(lua_State *L, int i, const char *fn, c4_gamut *g) {
  emu_ctx *ctx = emu_ctx_of(L);
  c4_gamut_srgb(g);
  if (lua_isnoneornil(L, i)) return;
  if (!c4_has(ctx, C4F_COLOR_GAMUT)) {
    warn_gamut_ignored(L, fn);
    return;
  }
  const char *name = luaL_checkstring(L, i);
  bool custom_ok = c4_has(ctx, C4F_COLOR_CUSTOM_GAMUT);
  if (strcasecmp(name, "srgb") == 0) return;
  if (strcasecmp(name, "rec2020") == 0) {
    c4_gamut_rec2020(g);
    return;
  }
  if (!custom_ok || strcasecmp(name, "custom") != 0) {
    lua_pushfstring(L, "unknown gamut '%s' (%s)", name,
                    custom_ok ? "\"srgb\", \"rec2020\" or \"custom\""
                              : "\"srgb\" or \"rec2020\"; \"custom\" needs OS 3.4.0");
    luaL_argerror(L, i, lua_tostring(L, -1));
  }
  double p[6], w[2] = {c4_white_d65.x, c4_white_d65.y};
  if (lua_type(L, i + 1) != LUA_TSTRING || !parse_numbers(lua_tostring(L, i + 1), p, 6))
    luaL_argerror(L, i + 1, "the custom gamut's primaries must be a string \"rx,ry,gx,gy,bx,by\"");
  if (!lua_isnoneornil(L, i + 2) &&
      (lua_type(L, i + 2) != LUA_TSTRING || !parse_numbers(lua_tostring(L, i + 2), w, 2)))
    luaL_argerror(L, i + 2, "the custom gamut's white point must be a string \"x,y\"");
  if (!c4_gamut_make(g, (c4_xy){p[0], p[1]}, (c4_xy){p[2], p[3]}, (c4_xy){p[4], p[5]},
                     (c4_xy){w[0], w[1]}, C4_TF_SRGB))
    luaL_argerror(L, i + 1, "the custom primaries make no gamut with that white point (no "
                  "triangle, a y of 0, or the white point outside the triangle)");
}

/* Pushes an RGB triple scaled to `scale` (whole numbers above a scale of 1). */
static int push_rgb(lua_State *L, const double rgb[3], double scale) {
  for (int k = 0; k < 3; k++) {
    double v = rgb[k] * scale;
    lua_pushnumber(L, scale > 1 ? floor(v + 0.5) : v);
  }
  return 3;
}

/* Reads r, g, b at 2..4 in `scale` into 0..1 (clamped). */
static void check_rgb(lua_State *L, double rgb[3], double scale) {
  for (int k = 0; k < 3; k++) rgb[k] = clamp(check_finite(L, 2 + k), 0, scale) / scale;
}

static void check_hsv(lua_State *L, double *h, double *s, double *v) {
  *h = check_finite(L, 2);
  *s = clamp(check_finite(L, 3), 0, 100) / 100;
  *v = clamp(check_finite(L, 4), 0, 100) / 100;
}

/* Pushes h, s, v from RGB in 0..1: h in degrees, s and v in 0..100. */
static int push_hsv(lua_State *L, const double rgb[3]) {
  double h, s, v;
  c4_rgb_to_hsv(rgb, &h, &s, &v);
  lua_pushnumber(L, h);
  lua_pushnumber(L, s * 100);
  lua_pushnumber(L, v * 100);
  return 3;
}

static int push_xy(lua_State *L, c4_xy p) {
  lua_pushnumber(L, p.x);
  lua_pushnumber(L, p.y);
  return 2;
}

/* C4:ColorXYtoRGB(x, y [, rgbScale] [, gamut [, primaries [, whitepoint]]]) → r, g, b */
static int l_ColorXYtoRGB(lua_State *L) {
  c4_xy p = {check_finite(L, 2), check_finite(L, 3)};
  int i = 4;
  double scale = opt_scale(L, &i), rgb[3];
  c4_gamut g;
  opt_gamut(L, i, "ColorXYtoRGB", &g);
  c4_xy_to_rgb(&g, p, rgb);
  return push_rgb(L, rgb, scale);
}

/* C4:ColorRGBtoXY(r, g, b [, rgbScale] [, gamut [, primaries [, whitepoint]]]) → x, y */
static int l_ColorRGBtoXY(lua_State *L) {
  int i = 5;
  double scale = opt_scale(L, &i), rgb[3];
  check_rgb(L, rgb, scale);
  c4_gamut g;
  opt_gamut(L, i, "ColorRGBtoXY", &g);
  return push_xy(L, c4_rgb_to_xy(&g, rgb));
}

/* C4:ColorXYtoHSV(x, y [, gamut [, primaries [, whitepoint]]]) → h, s, v */
static int l_ColorXYtoHSV(lua_State *L) {
  c4_xy p = {check_finite(L, 2), check_finite(L, 3)};
  int i = 4;
  opt_scale(L, &i);
  c4_gamut g;
  opt_gamut(L, i, "ColorXYtoHSV", &g);
  double rgb[3];
  c4_xy_to_rgb(&g, p, rgb);
  return push_hsv(L, rgb);
}

/* C4:ColorHSVtoXY(h, s, v [, gamut [, primaries [, whitepoint]]]) → x, y */
static int l_ColorHSVtoXY(lua_State *L) {
  double h, s, v, rgb[3];
  check_hsv(L, &h, &s, &v);
  int i = 5;
  opt_scale(L, &i);
  c4_gamut g;
  opt_gamut(L, i, "ColorHSVtoXY", &g);
  c4_hsv_to_rgb(h, s, v, rgb);
  return push_xy(L, c4_rgb_to_xy(&g, rgb));
}

/* C4:ColorHSVtoRGB(h, s, v [, rgbScale]) → r, g, b */
static int l_ColorHSVtoRGB(lua_State *L) {
  double h, s, v, rgb[3];
  check_hsv(L, &h, &s, &v);
  int i = 5;
  double scale = opt_scale(L, &i);
  c4_hsv_to_rgb(h, s, v, rgb);
  return push_rgb(L, rgb, scale);
}

/* C4:ColorRGBtoHSV(r, g, b [, rgbScale]) → h, s, v */
static int l_ColorRGBtoHSV(lua_State *L) {
  int i = 5;
  double scale = opt_scale(L, &i), rgb[3];
  check_rgb(L, rgb, scale);
  return push_hsv(L, rgb);
}

/* C4:ColorXYtoCCT(x, y) → kelvin: "a color temperature for any value provided" */
static int l_ColorXYtoCCT(lua_State *L) {
  c4_xy p = {check_finite(L, 2), check_finite(L, 3)};
  double k = floor(c4_xy_to_cct(p) + 0.5);
  lua_pushnumber(L, floor(k / 10) * 10);
  return 1;
}

/* C4:ColorCCTtoXY(kelvin) → x, y (kelvin clamped to 1000..25000) */
static int l_ColorCCTtoXY(lua_State *L) {
  return push_xy(L, c4_cct_to_xy(check_finite(L, 2)));
}

static const c4_fn color_fns[] = {
    {"ColorXYtoRGB", l_ColorXYtoRGB},   {"ColorRGBtoXY", l_ColorRGBtoXY},
    {"ColorXYtoHSV", l_ColorXYtoHSV},   {"ColorHSVtoXY", l_ColorHSVtoXY},
    {"ColorHSVtoRGB", l_ColorHSVtoRGB}, {"ColorRGBtoHSV", l_ColorRGBtoHSV},
    {"ColorXYtoCCT", l_ColorXYtoCCT},   {"ColorCCTtoXY", l_ColorCCTtoXY},
    {NULL, NULL},
};

const c4_family c4_family_color = {"color", color_fns, NULL, NULL};
