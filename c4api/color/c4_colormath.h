/*
 * c4_colormath.h — the colour science behind the Light V2 conversion
 * commands (c4_color.c): CIE 1931 xy chromaticity, RGB gamuts given by
 * their primaries and white point, HSV, and correlated colour temperature.
 * Pure functions of numbers; no Lua, no state.
 */
#ifndef C4_COLORMATH_H
#define C4_COLORMATH_H

#include <stdbool.h>

typedef struct {
  double x, y;
} c4_xy;

typedef enum { C4_TF_SRGB, C4_TF_BT2020 } c4_transfer;

typedef struct {
  c4_xy red, green, blue, white;
  c4_transfer transfer;
  double to_xyz[3][3];    /* linear RGB → XYZ (Y of white = 1) */
  double from_xyz[3][3];  /* XYZ → linear RGB */
} c4_gamut;

/* Builds a gamut from its primaries and white point; false when they make
 * no triangle, a y is 0, or the white point lies outside the triangle. */
bool c4_gamut_make(c4_gamut *g, c4_xy red, c4_xy green, c4_xy blue, c4_xy white,
                   c4_transfer tf);
/* IEC 61966-2-1 sRGB (D65) and ITU-R BT.2020 (D65). */
void c4_gamut_srgb(c4_gamut *g);
void c4_gamut_rec2020(c4_gamut *g);
extern const c4_xy c4_white_d65;

/* p itself when it lies in the gamut's triangle, else the nearest point on
 * the triangle's edges. */
c4_xy c4_gamut_clamp(const c4_gamut *g, c4_xy p);
/* xy → encoded (gamma-corrected) RGB in 0..1 with the largest channel 1:
 * chromaticity carries no brightness.  p is clamped to the gamut first. */
void c4_xy_to_rgb(const c4_gamut *g, c4_xy p, double rgb[3]);
/* Encoded RGB in 0..1 → xy; black (no light) gives the white point. */
c4_xy c4_rgb_to_xy(const c4_gamut *g, const double rgb[3]);

/* The hexcone model: h in degrees [0, 360), s and v in 0..1. */
void c4_rgb_to_hsv(const double rgb[3], double *h, double *s, double *v);
void c4_hsv_to_rgb(double h, double s, double v, double rgb[3]);

/* Correlated colour temperature.  The locus is valid from C4_CCT_MIN to
 * C4_CCT_MAX kelvin; c4_cct_to_xy clamps into that range. */
#define C4_CCT_MIN 1000.0
#define C4_CCT_MAX 25000.0
c4_xy c4_cct_to_xy(double kelvin);
/* The temperature whose locus point is nearest p in the CIE 1960 (u, v)
 * diagram — the definition of CCT — for any p (clamped to the range). */
double c4_xy_to_cct(c4_xy p);

#endif
