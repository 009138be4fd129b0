/*
 * c4_colormath.c — colour science for the Light V2 conversion commands.
 *
 * Public formulas, written from their definitions:
 *   - RGB ↔ XYZ: the matrix of a gamut is built from its primaries and white
 *     point (the normalised primary matrix of SMPTE RP 177: columns are the
 *     primaries' XYZ, scaled so that RGB (1, 1, 1) is the white point).
 *   - Transfer curves: IEC 61966-2-1 (sRGB) and ITU-R BT.2020.
 *   - Gamut clamping: a point outside the primaries' triangle moves to the
 *     nearest point on its edges (Euclidean distance in xy).
 *   - HSV: the hexcone model (A. R. Smith, 1978).
 *   - The Planckian locus: Kim et al.'s cubic splines (US patent 7,024,034,
 *     2006) from 1667 K to 25000 K, and Krystek's rational approximation in
 *     CIE 1960 uv (1985) below 1667 K down to 1000 K.
 *   - CCT of an arbitrary point: the temperature whose locus point is
 *     nearest in the CIE 1960 uv diagram (the CIE definition, as Robertson's
 *     method computes it); here a search over reciprocal temperature.  For a
 *     point on the locus it is the exact inverse of c4_cct_to_xy, so
 *     round trips hold.
 */
#include <math.h>

#include "color/c4_colormath.h"

const c4_xy c4_white_d65 = {0.3127, 0.3290};

static void xyz_of(c4_xy p, double out[3]) {
  out[0] = p.x / p.y;
  out[1] = 1.0;
  out[2] = (1.0 - p.x - p.y) / p.y;
}

static double det3(const double m[3][3]) {
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
         m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
         m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

static bool invert3(const double m[3][3], double out[3][3]) {
  double d = det3(m);
  if (!isfinite(d) || fabs(d) < 1e-12) return false;
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) {
      /* the cofactor of (c, r), transposed */
      int r1 = (c + 1) % 3, r2 = (c + 2) % 3, c1 = (r + 1) % 3, c2 = (r + 2) % 3;
      out[r][c] = (m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]) / d;
    }
  return true;
}

static void mul3(const double m[3][3], const double v[3], double out[3]) {
  for (int r = 0; r < 3; r++) out[r] = m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2];
}

bool c4_gamut_make(c4_gamut *g, c4_xy red, c4_xy green, c4_xy blue, c4_xy white,
                   c4_transfer tf) {
  c4_xy prim[3] = {red, green, blue};
  double p[3][3], pinv[3][3], w[3], s[3];
  if (!(white.y > 0)) return false;
  for (int i = 0; i < 3; i++) {
    if (!(prim[i].y > 0)) return false;
    double col[3];
    xyz_of(prim[i], col);
    for (int r = 0; r < 3; r++) p[r][i] = col[r];
  }
  /* the triangle's doubled area: too small, and no colour fits in it */
  double area = (green.x - red.x) * (blue.y - red.y) - (blue.x - red.x) * (green.y - red.y);
  if (fabs(area) < 1e-6 || !invert3(p, pinv)) return false;
  xyz_of(white, w);
  mul3(pinv, w, s);
  /* a negative weight: the white point lies outside the triangle, and a
   * primary would have to emit negative light to make it */
  for (int i = 0; i < 3; i++)
    if (!(s[i] > 0)) return false;
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) g->to_xyz[r][c] = p[r][c] * s[c];
  if (!invert3(g->to_xyz, g->from_xyz)) return false;
  g->red = red, g->green = green, g->blue = blue, g->white = white;
  g->transfer = tf;
  return true;
}

void c4_gamut_srgb(c4_gamut *g) {
  c4_gamut_make(g, (c4_xy){0.64, 0.33}, (c4_xy){0.30, 0.60}, (c4_xy){0.15, 0.06},
                c4_white_d65, C4_TF_SRGB);
}

void c4_gamut_rec2020(c4_gamut *g) {
  c4_gamut_make(g, (c4_xy){0.708, 0.292}, (c4_xy){0.170, 0.797}, (c4_xy){0.131, 0.046},
                c4_white_d65, C4_TF_BT2020);
}

/* ---- transfer curves ----------------------------------------------------- */

#define BT2020_ALPHA 1.09929682680944
#define BT2020_BETA 0.018053968510807

static double encode(c4_transfer tf, double v) {
  if (v <= 0) return 0;
  if (v >= 1) return 1;
  if (tf == C4_TF_BT2020)
    return v < BT2020_BETA ? 4.5 * v : BT2020_ALPHA * pow(v, 0.45) - (BT2020_ALPHA - 1);
  return v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1 / 2.4) - 0.055;
}

static double decode(c4_transfer tf, double c) {
  if (c <= 0) return 0;
  if (c >= 1) return 1;
  if (tf == C4_TF_BT2020)
    return c < 4.5 * BT2020_BETA ? c / 4.5 : pow((c + (BT2020_ALPHA - 1)) / BT2020_ALPHA, 1 / 0.45);
  return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

/* ---- the gamut triangle -------------------------------------------------- */

static double cross(c4_xy o, c4_xy a, c4_xy b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

static c4_xy nearest_on_segment(c4_xy a, c4_xy b, c4_xy p) {
  double dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2 : 0;
  if (t < 0) t = 0;
  if (t > 1) t = 1;
  return (c4_xy){a.x + t * dx, a.y + t * dy};
}

static double dist2(c4_xy a, c4_xy b) { return (a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y); }

c4_xy c4_gamut_clamp(const c4_gamut *g, c4_xy p) {
  double d1 = cross(g->red, g->green, p), d2 = cross(g->green, g->blue, p),
         d3 = cross(g->blue, g->red, p);
  bool neg = d1 < 0 || d2 < 0 || d3 < 0, pos = d1 > 0 || d2 > 0 || d3 > 0;
  if (!(neg && pos)) return p; /* on the same side of all three edges: inside */
  c4_xy edges[3][2] = {{g->red, g->green}, {g->green, g->blue}, {g->blue, g->red}};
  c4_xy best = p;
  double bestd = INFINITY;
  for (int i = 0; i < 3; i++) {
    c4_xy q = nearest_on_segment(edges[i][0], edges[i][1], p);
    double d = dist2(q, p);
    if (d < bestd) bestd = d, best = q;
  }
  return best;
}

/* ---- xy ↔ RGB ------------------------------------------------------------ */

void c4_xy_to_rgb(const c4_gamut *g, c4_xy p, double rgb[3]) {
  p = c4_gamut_clamp(g, p);
  if (p.y < 1e-9) p.y = 1e-9; /* a custom primary on y = 0: stay finite */
  double xyz[3], lin[3];
  xyz_of(p, xyz);
  mul3(g->from_xyz, xyz, lin);
  double max = 0;
  for (int i = 0; i < 3; i++) {
    if (!(lin[i] > 0)) lin[i] = 0; /* rounding just outside an edge */
    if (lin[i] > max) max = lin[i];
  }
  for (int i = 0; i < 3; i++) rgb[i] = max > 0 ? encode(g->transfer, lin[i] / max) : 1;
}

c4_xy c4_rgb_to_xy(const c4_gamut *g, const double rgb[3]) {
  double lin[3], xyz[3];
  for (int i = 0; i < 3; i++) lin[i] = decode(g->transfer, rgb[i]);
  mul3(g->to_xyz, lin, xyz);
  double sum = xyz[0] + xyz[1] + xyz[2];
  if (!(sum > 1e-12)) return g->white;
  return (c4_xy){xyz[0] / sum, xyz[1] / sum};
}

/* ---- HSV (hexcone) ------------------------------------------------------- */

void c4_rgb_to_hsv(const double rgb[3], double *h, double *s, double *v) {
  double r = rgb[0], g = rgb[1], b = rgb[2];
  double max = fmax(r, fmax(g, b)), min = fmin(r, fmin(g, b)), d = max - min;
  *v = max;
  *s = max > 0 ? d / max : 0;
  if (d <= 0) {
    *h = 0;
    return;
  }
  double hh;
  if (max == r) hh = fmod((g - b) / d, 6.0);
  else if (max == g) hh = (b - r) / d + 2;
  else hh = (r - g) / d + 4;
  hh *= 60;
  if (hh < 0) hh += 360;
  if (hh >= 360) hh -= 360;
  *h = hh;
}

void c4_hsv_to_rgb(double h, double s, double v, double rgb[3]) {
  h = fmod(h, 360.0);
  if (h < 0) h += 360;
  double c = v * s, hp = h / 60, x = c * (1 - fabs(fmod(hp, 2.0) - 1)), m = v - c;
  double r = 0, g = 0, b = 0;
  switch ((int)hp) {
  case 0: r = c, g = x; break;
  case 1: r = x, g = c; break;
  case 2: g = c, b = x; break;
  case 3: g = x, b = c; break;
  case 4: r = x, b = c; break;
  default: r = c, b = x; break;
  }
  rgb[0] = r + m, rgb[1] = g + m, rgb[2] = b + m;
}

/* ---- correlated colour temperature -------------------------------------- */

static c4_xy uv_to_xy(double u, double v) {
  double d = 2 * u - 8 * v + 4;
  return (c4_xy){3 * u / d, 2 * v / d};
}

static void xy_to_uv(c4_xy p, double *u, double *v) {
  double d = -2 * p.x + 12 * p.y + 3;
  *u = 4 * p.x / d;
  *v = 6 * p.y / d;
}

c4_xy c4_cct_to_xy(double t) {
  if (!(t >= C4_CCT_MIN)) t = C4_CCT_MIN;
  if (t > C4_CCT_MAX) t = C4_CCT_MAX;
  if (t < 1667) {
    /* Krystek (1985), CIE 1960 uv, valid 1000-15000 K */
    double u = (0.860117757 + 1.54118254e-4 * t + 1.28641212e-7 * t * t) /
               (1 + 8.42420235e-4 * t + 7.08145163e-7 * t * t);
    double v = (0.317398726 + 4.22806245e-5 * t + 4.20481691e-8 * t * t) /
               (1 - 2.89741816e-5 * t + 1.61456053e-7 * t * t);
    return uv_to_xy(u, v);
  }
  /* Kim et al. (2006) */
  double i1 = 1e3 / t, i2 = i1 * i1, i3 = i2 * i1, x, y;
  if (t <= 4000) x = -0.2661239 * i3 - 0.2343589 * i2 + 0.8776956 * i1 + 0.179910;
  else x = -3.0258469 * i3 + 2.1070379 * i2 + 0.2226347 * i1 + 0.240390;
  double x2 = x * x, x3 = x2 * x;
  if (t <= 2222) y = -1.1063814 * x3 - 1.34811020 * x2 + 2.18555832 * x - 0.20219683;
  else if (t <= 4000) y = -0.9549476 * x3 - 1.37418593 * x2 + 2.09137015 * x - 0.16748867;
  else y = 3.0817580 * x3 - 5.87338670 * x2 + 3.75112997 * x - 0.37001483;
  return (c4_xy){x, y};
}

/* Squared uv distance from (u, v) to the locus at mired m (1e6 / kelvin). */
static double locus_dist(double u, double v, double m) {
  double lu, lv;
  xy_to_uv(c4_cct_to_xy(1e6 / m), &lu, &lv);
  return (lu - u) * (lu - u) + (lv - v) * (lv - v);
}

double c4_xy_to_cct(c4_xy p) {
  /* Chromaticity lives in [0, 1]; there the uv denominator is at least 1. */
  p.x = fmin(fmax(isfinite(p.x) ? p.x : 0, 0), 1);
  p.y = fmin(fmax(isfinite(p.y) ? p.y : 0, 0), 1);
  double u, v;
  xy_to_uv(p, &u, &v);
  const double lo = 1e6 / C4_CCT_MAX, hi = 1e6 / C4_CCT_MIN;
  /* A grid of one mired finds the valley; golden sections narrow it. */
  double best = lo, bestd = INFINITY;
  for (double m = lo; m <= hi; m += 1) {
    double d = locus_dist(u, v, m);
    if (d < bestd) bestd = d, best = m;
  }
  double a = fmax(lo, best - 1), b = fmin(hi, best + 1);
  const double k = 0.6180339887498949;
  double c = b - k * (b - a), e = a + k * (b - a);
  double fc = locus_dist(u, v, c), fe = locus_dist(u, v, e);
  for (int i = 0; i < 60; i++) {
    if (fc < fe) {
      b = e, e = c, fe = fc;
      c = b - k * (b - a);
      fc = locus_dist(u, v, c);
    } else {
      a = c, c = e, fc = fe;
      e = a + k * (b - a);
      fe = locus_dist(u, v, e);
    }
  }
  return 1e6 / ((a + b) / 2);
}
