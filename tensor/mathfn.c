/*
 * mathfn.c - exp, log, tanh, sigmoid, pow, sin and cos in portable double
 * arithmetic, so that every platform produces the same bits.
 *
 * The algorithms are the classic ones of fdlibm (Sun Microsystems, 1993):
 * reduce the argument to a small interval with a constant split into an exact
 * high part and a low part, evaluate a minimax polynomial there, and undo the
 * reduction. The polynomial coefficients are fdlibm's published values. Only
 * +, -, *, / and the correctly rounded sqrt are used, each rounded once
 * (the Makefile passes -ffp-contract=off so no fused multiply-add creeps in).
 * Powers of two are applied by building the double's bits directly.
 */
#include <math.h>
#include <string.h>

#include "mathfn.h"

/* ---- bit access ---------------------------------------------------------- */

/* The IEEE-754 bits of x (host byte order on both sides, so memcpy is portable). */
static uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* The double whose IEEE-754 bits are u. */
static double from_bits(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* 2^k for -1022 <= k <= 1023, built from its exponent field. */
static double pow2i(int k)
{
    return from_bits((uint64_t)(k + 1023) << 52);
}

/* x * 2^k for any int k, with a single rounding when the result is subnormal. */
static double scale2(double x, int k)
{
    if (k > 1023) {
        x *= pow2i(1023);
        k -= 1023;
        if (k > 1023) k = 1023;
        return x * pow2i(k);
    }
    if (k < -1022) {
        x *= pow2i(k + 600 < -1022 ? -1022 : k + 600); /* exact: stays normal */
        return x * pow2i(-600);                         /* the one rounding */
    }
    return x * pow2i(k);
}

/* The biased exponent field of x (0 for zero and subnormals, 2047 for inf/NaN). */
static int biased_exponent(double x)
{
    return (int)((bits_of(x) >> 52) & 0x7ff);
}

#define LSD_INF_BITS 0x7ff0000000000000ULL
#define LSD_NAN_BITS 0x7ff8000000000000ULL

/* ---- exp ------------------------------------------------------------------ */

/* ln 2 split: LN2_HI has 32 significant bits, so k * LN2_HI is exact for |k| < 2^21. */
static const double LN2_HI = 6.93147180369123816490e-01;  /* 0x3fe62e42fee00000 */
static const double LN2_LO = 1.90821492927058770002e-10;  /* 0x3dea39ef35793c76 */
static const double INV_LN2 = 1.44269504088896338700e+00;
static const double EXP_OVERFLOW = 7.09782712893383973096e+02;   /* ln(DBL_MAX) */
static const double EXP_UNDERFLOW = -7.45133219101941108420e+02; /* ln(min subnormal / 2) */

/*
 * Splits e^x = 2^k * (1 + r + t) with |r| <= ln2/2 and t = e^r - 1 - r (about r^2/2,
 * plus the rounding error of the reduced argument). fdlibm's rational form:
 * e^r = 1 + r + r*c/(2 - c) with c = r - r^2 * P(r^2), P minimax on [0, (ln2/2)^2].
 */
static void exp_split(double x, int *k, double *r, double *t)
{
    const double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
                 P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
                 P5 = 4.13813679705723846039e-08;
    double hi, lo, rr, err, z, c;
    int n = 0;
    if (x > 0.5 * LN2_HI || x < -0.5 * LN2_HI)
        n = (int)(x * INV_LN2 + (x < 0 ? -0.5 : 0.5));
    hi = x - n * LN2_HI; /* exact (Sterbenz) */
    lo = n * LN2_LO;
    rr = hi - lo;
    err = (hi - rr) - lo; /* hi - lo = rr + err exactly, up to a negligible term */
    z = rr * rr;
    c = rr - z * (P1 + z * (P2 + z * (P3 + z * (P4 + z * P5))));
    *k = n;
    *r = rr;
    *t = (rr * c) / (2.0 - c) + err;
}

/* a + b = s + e exactly (Knuth's two-sum). */
static double two_sum(double a, double b, double *e)
{
    double s = a + b, bb = s - a;
    *e = (a - (s - bb)) + (b - bb);
    return s;
}

/* a * b = p + e exactly (Dekker's product with Veltkamp's split; no FMA needed). */
static double two_prod(double a, double b, double *e)
{
    const double SPLIT = 134217729.0; /* 2^27 + 1 */
    double p = a * b, ca = SPLIT * a, cb = SPLIT * b;
    double ah = ca - (ca - a), al = a - ah, bh = cb - (cb - b), bl = b - bh;
    *e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    return p;
}

/* (nh + nl) / (dh + dl) rounded to double: one Newton correction of the quotient. */
static double dd_div(double nh, double nl, double dh, double dl)
{
    double q = nh / dh, pe, p = two_prod(q, dh, &pe);
    double rem = (((nh - p) - pe) + nl) - q * dl; /* n - q d, nh - p exact */
    return q + rem / dh;
}

/* e^x as a double-double hi + lo, for |x| <= 700. */
static void exp_dd(double x, double *hi, double *lo)
{
    double r, t, s, e, l, h, m;
    int k;
    exp_split(x, &k, &r, &t);
    s = two_sum(1.0, r, &e);
    l = e + t;
    h = s + l;
    l = l - (h - s);
    m = pow2i(k);
    *hi = h * m;
    *lo = l * m;
}

/* e^x - 1 as a double-double hi + lo, for 2^-27 <= x <= 700 (used by tanh). */
static void expm1_dd(double x, double *hi, double *lo)
{
    double r, t, s, e, s2, e2, l, h, m;
    int k;
    exp_split(x, &k, &r, &t);
    m = pow2i(k);
    s = two_sum(m, m * r, &e);   /* 2^k + 2^k r, exactly */
    s2 = two_sum(s, -1.0, &e2); /* minus 1, exactly */
    l = e2 + e + m * t;
    h = s2 + l;
    *hi = h;
    *lo = l - (h - s2);
}

/* e^(x + tail) for a tail much smaller than x's ulp; overflow +inf, underflow 0. */
static double exp_tail(double x, double tail)
{
    double r, t, s, e;
    int k;
    if (x != x) return x + x;
    if (x > EXP_OVERFLOW) return from_bits(LSD_INF_BITS);
    if (x < EXP_UNDERFLOW) return 0.0;
    if (x < 0x1p-54 && x > -0x1p-54) return 1.0 + (x + tail);
    exp_split(x, &k, &r, &t);
    s = two_sum(1.0, r, &e);
    return scale2(s + (e + (t + tail * (1.0 + (r + t)))), k); /* e^r (1 + tail) */
}

/* e^x; overflow gives +inf, underflow 0 (or a subnormal), NaN stays NaN. */
double lsd_exp(double x)
{
    return exp_tail(x, 0.0);
}

/* ---- log ------------------------------------------------------------------ */

/* Splits a positive finite x = 2^k * m with sqrt(2)/2 < m <= sqrt(2); returns m. */
static double split_log_arg(double x, int *k)
{
    uint64_t u;
    double m;
    int e = 0;
    if (biased_exponent(x) == 0) { /* subnormal: scale into the normal range */
        x *= 0x1p54;
        e = -54;
    }
    u = bits_of(x);
    e += (int)(u >> 52) - 1023;
    m = from_bits((u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL); /* in [1, 2) */
    if (m > 1.41421356237309504880) {
        m *= 0.5;
        e += 1;
    }
    *k = e;
    return m;
}

/* fdlibm's minimax R(z) ~ (2 atanh(s) - 2 s) / s for z = s^2 <= 0.0295. */
static double log_poly(double z)
{
    const double L1 = 6.666666666666735130e-01, L2 = 3.999999999940941908e-01,
                 L3 = 2.857142874366239149e-01, L4 = 2.222219843214978396e-01,
                 L5 = 1.818357216161805012e-01, L6 = 1.531383769920937332e-01,
                 L7 = 1.479819860511658591e-01;
    return z * (L1 + z * (L2 + z * (L3 + z * (L4 + z * (L5 + z * (L6 + z * L7))))));
}

/*
 * Natural log: x = 2^k * m, f = m - 1, s = f / (2 + f), and
 * log(m) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R(s^2)) (fdlibm's arrangement).
 */
double lsd_log(double x)
{
    double m, f, s, R, hfsq, dk;
    int k;
    if (x != x) return x + x;
    if (x < 0) return from_bits(LSD_NAN_BITS);
    if (x == 0) return -from_bits(LSD_INF_BITS);
    if (biased_exponent(x) == 2047) return x; /* +inf */
    m = split_log_arg(x, &k);
    f = m - 1.0; /* exact */
    s = f / (2.0 + f);
    R = log_poly(s * s);
    hfsq = 0.5 * f * f;
    dk = (double)k;
    return dk * LN2_HI - ((hfsq - (s * (hfsq + R) + dk * LN2_LO)) - f);
}

/* log x as a double-double hi + lo (about 58 good bits), for positive finite x; used by pow. */
static void log_dd(double x, double *hi, double *lo)
{
    double m, f, d, de, sh, p, pe, sl, h, e, l, dk;
    int k;
    m = split_log_arg(x, &k);
    f = m - 1.0;
    d = two_sum(2.0, f, &de);
    sh = f / d;
    p = two_prod(sh, d, &pe);
    sl = (((f - p) - pe) - sh * de) / d; /* s = sh + sl */
    dk = (double)k;
    h = two_sum(dk * LN2_HI, 2.0 * sh, &e); /* k ln2 + 2 atanh(s) */
    l = e + (dk * LN2_LO + (2.0 * sl + sh * log_poly(sh * sh)));
    *hi = h + l;
    *lo = l - (*hi - h);
}

/* ---- tanh and sigmoid ----------------------------------------------------- */

/* tanh x = t / (t + 2) with t = e^(2|x|) - 1 kept as a double-double; odd in x. */
double lsd_tanh(double x)
{
    double a = x < 0 ? -x : x, th, tl, dh, de, y;
    if (x != x) return x + x;
    if (a > 22.0) return x < 0 ? -1.0 : 1.0; /* 1 - tanh(22) < 2^-63 */
    if (a < 0x1p-28) return x;               /* x^3/3 is below half an ulp */
    expm1_dd(2.0 * a, &th, &tl);
    dh = two_sum(th, 2.0, &de);
    y = dd_div(th, tl, dh, de + tl);
    return x < 0 ? -y : y;
}

/* 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0 (e^x a double-double): no overflow. */
double lsd_sigmoid(double x)
{
    double eh, el, dh, de;
    if (x != x) return x + x;
    if (x > 40.0) return 1.0;         /* e^-x < 2^-57: 1 + e^-x rounds to 1 */
    if (x < -40.0) return lsd_exp(x); /* e^x (1 - e^x + ...) rounds to e^x */
    exp_dd(x >= 0 ? -x : x, &eh, &el);
    dh = two_sum(1.0, eh, &de);
    if (x >= 0) return dd_div(1.0, 0.0, dh, de + el);
    return dd_div(eh, el, dh, de + el);
}

/* ---- sqrt and pow --------------------------------------------------------- */

/* IEEE-754 requires sqrt to be correctly rounded, so libm's gives the same bits everywhere. */
double lsd_sqrt(double x)
{
    return sqrt(x);
}

/*
 * x^y = exp(y log x) for x > 0 (x = 0 gives 0 or inf, x < 0 NaN), with log x and
 * the product y log x carried as double-doubles. log_dd is good to about 2^-58
 * relative, so the error is within (|y log x| / 16 + 1) ulp (measured in
 * tests/test_mathfn.c). That is ample for Adam's bias correction 1 - beta^t: the
 * absolute error of beta^t = e^-L is at most (L/16 + 1) e^-L ulp(1) < 1 ulp(1).
 */
double lsd_pow(double x, double y)
{
    double lh, ll, ph, pe;
    if (y == 0 || x == 1) return 1.0;
    if (x != x || y != y) return x + y;
    if (x < 0) return from_bits(LSD_NAN_BITS);
    if (x == 0) return y > 0 ? 0.0 : from_bits(LSD_INF_BITS);
    if (biased_exponent(x) == 2047 || biased_exponent(y) == 2047) return lsd_exp(y * lsd_log(x));
    log_dd(x, &lh, &ll);
    ph = y * lh;
    if (ph > EXP_OVERFLOW + 1.0 || ph < EXP_UNDERFLOW - 1.0) return lsd_exp(ph);
    ph = two_prod(y, lh, &pe);
    return exp_tail(ph, pe + y * ll);
}

/* ---- sin and cos ---------------------------------------------------------- */

/*
 * Reduces x to y0 + y1 in [-pi/4, pi/4] with x = n pi/2 + y0 + y1; returns n.
 * pi/2 is split into three 33-bit parts with their tails (fdlibm's Cody-Waite
 * constants); fn * PIO2_1 and fn * PIO2_2 are exact while n < 2^20, so the
 * reduction keeps full accuracy for |x| < 2^19 pi (about 1.6e6).
 */
static int reduce_pio2(double x, double *y0, double *y1)
{
    const double INV_PIO2 = 6.36619772367581382433e-01,
                 PIO2_1 = 1.57079632673412561417e+00,  /* first 33 bits of pi/2 */
                 PIO2_1T = 6.07710050650619224932e-11, /* pi/2 - PIO2_1 */
                 PIO2_2 = 6.07710050630396597660e-11,  /* next 33 bits */
                 PIO2_2T = 2.02226624879595063154e-21, /* pi/2 - (PIO2_1 + PIO2_2) */
                 PIO2_3 = 2.02226624871116645580e-21,  /* next 33 bits */
                 PIO2_3T = 8.47842766036889956997e-32; /* pi/2 - (PIO2_1 + PIO2_2 + PIO2_3) */
    double a = x < 0 ? -x : x, fn, r, w, t;
    int n, ex = biased_exponent(a);
    if (a <= 0.78539816339744830962) { /* pi/4: nothing to reduce */
        *y0 = x;
        *y1 = 0.0;
        return 0;
    }
    n = (int)(a * INV_PIO2 + 0.5);
    fn = (double)n;
    r = a - fn * PIO2_1; /* exact */
    w = fn * PIO2_1T;
    *y0 = r - w;
    if (ex - biased_exponent(*y0) > 16) { /* cancellation: use the next 33 bits */
        t = r;
        w = fn * PIO2_2;
        r = t - w;
        w = fn * PIO2_2T - ((t - r) - w);
        *y0 = r - w;
        if (ex - biased_exponent(*y0) > 49) { /* and the last 33 */
            t = r;
            w = fn * PIO2_3;
            r = t - w;
            w = fn * PIO2_3T - ((t - r) - w);
            *y0 = r - w;
        }
    }
    *y1 = (r - *y0) - w;
    if (x < 0) {
        *y0 = -*y0;
        *y1 = -*y1;
        return -n;
    }
    return n;
}

/* sin(x + y) for |x + y| <= pi/4, y a tail much smaller than x (fdlibm minimax). */
static double kernel_sin(double x, double y)
{
    const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                 S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                 S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    double z = x * x, v = z * x, r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
    return x - ((z * (0.5 * y - v * r) - y) - v * S1);
}

/* cos(x + y) for |x + y| <= pi/4, y a tail much smaller than x (fdlibm minimax). */
static double kernel_cos(double x, double y)
{
    const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                 C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                 C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
    double z = x * x, r = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    double hz = 0.5 * z, w = 1.0 - hz;
    return w + (((1.0 - w) - hz) + (z * r - x * y));
}

/* sin x: reduce by pi/2, then the sine or cosine kernel with the quadrant's sign. */
double lsd_sin(double x)
{
    double y0, y1;
    int n;
    if (biased_exponent(x) == 2047) return x != x ? x + x : from_bits(LSD_NAN_BITS);
    if (x < 0x1p-27 && x > -0x1p-27) return x;
    n = reduce_pio2(x, &y0, &y1);
    switch ((unsigned)n & 3u) {
    case 0: return kernel_sin(y0, y1);
    case 1: return kernel_cos(y0, y1);
    case 2: return -kernel_sin(y0, y1);
    default: return -kernel_cos(y0, y1);
    }
}

/* cos x: reduce by pi/2, then the cosine or sine kernel with the quadrant's sign. */
double lsd_cos(double x)
{
    double y0, y1;
    int n;
    if (biased_exponent(x) == 2047) return x != x ? x + x : from_bits(LSD_NAN_BITS);
    n = reduce_pio2(x, &y0, &y1);
    switch ((unsigned)n & 3u) {
    case 0: return kernel_cos(y0, y1);
    case 1: return -kernel_sin(y0, y1);
    case 2: return -kernel_cos(y0, y1);
    default: return kernel_sin(y0, y1);
    }
}
