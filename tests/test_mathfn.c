/*
 * test_mathfn.c - our exp, log, tanh, sigmoid, pow, sin, cos against libm.
 *
 * The reference is libm's long double function (80-bit on x86-64, 128-bit on
 * aarch64 and s390x), so the error of our double result is measured in ulp of
 * the correctly rounded answer, to a fraction of an ulp. Each function gets
 * 1e5 random points (4 ranges of 25000; LSD_SLOW=1: 1e6) plus edge cases.
 * Max errors measured on x86-64 (gcc), default run / LSD_SLOW=1 run:
 *   exp 0.770 / 0.781, log 0.773 / 0.811 (all binades incl. subnormals 0.651 / 0.703),
 *   tanh 0.785 / 0.853, sigmoid 0.611 / 0.683, sin 0.748 / 0.765, cos 0.739 / 0.756,
 *   sin/cos next to k pi/2 (|k| <= 6000) 0.500 ulp;
 *   pow 0.605 / 0.782 times (|y ln x|/16 + 1) ulp; Adam's 1 - beta^t within 1 ulp(1).
 * Our results are bit-identical on every platform (tests/test_determinism.c).
 * Asserted bound: 1 ulp (faithful rounding) for every function but pow.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/mathfn.h"
#include "harness.h"

/* A small local generator (splitmix64) so this test does not depend on tensor/rng. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform double in [lo, hi). */
static double uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(next_u64(s) >> 11) * 0x1p-53);
}

/* The ulp of the double nearest to ref (2^-1074 for subnormals). */
static double ulp_of(long double ref)
{
    double d = fabs((double)ref);
    int e;
    if (d < DBL_MIN) return 0x1p-1074;
    if (d > DBL_MAX) d = DBL_MAX;
    frexp(d, &e);
    return ldexp(1.0, e - 53);
}

/* Error of got against ref in ulps; 0 when both are the same infinity, huge on NaN mismatch. */
static double ulp_err(double got, long double ref)
{
    if (got != got || ref != ref) return (got != got && ref != ref) ? 0.0 : 1e300;
    if (isinf(got) || isinf((double)ref)) return got == (double)ref ? 0.0 : 1e300;
    return (double)(fabsl((long double)got - ref) / ulp_of(ref));
}

typedef struct {
    const char *name;
    double (*ours)(double);
    long double (*ref)(long double);
} unary_fn;

static long double sigmoid_ref(long double x)
{
    return 1.0L / (1.0L + expl(-x));
}

/* Measures the max ulp error of f at n points uniform in [lo, hi); reports the worst x. */
static double max_err(const unary_fn *f, uint64_t *s, long n, double lo, double hi, double *worst_x)
{
    double worst = 0;
    long i;
    for (i = 0; i < n; i++) {
        double x = uniform(s, lo, hi), e = ulp_err(f->ours(x), f->ref((long double)x));
        if (e > worst) {
            worst = e;
            *worst_x = x;
        }
    }
    return worst;
}

/* Checks one function over several ranges; returns the max error seen. */
static double check_fn(const unary_fn *f, const double (*ranges)[2], int nranges, long n,
                       double bound)
{
    uint64_t s = 12345;
    double worst = 0, wx = 0;
    int r;
    for (r = 0; r < nranges; r++) {
        double x = 0, e = max_err(f, &s, n, ranges[r][0], ranges[r][1], &x);
        CHECK(e <= bound, "%s on [%g, %g]: max error %.3f ulp at x = %.17g (bound %.1f)", f->name,
              ranges[r][0], ranges[r][1], e, x, bound);
        if (e > worst) {
            worst = e;
            wx = x;
        }
    }
    printf("mathfn: %-7s max error %.3f ulp (at x = %.17g)\n", f->name, worst, wx);
    return worst;
}

/* log over every binade: random exponent (subnormals included) and random mantissa. */
static void check_log_binades(long n, double bound)
{
    uint64_t s = 777;
    double worst = 0, wx = 0;
    long i;
    for (i = 0; i < n; i++) {
        uint64_t u = next_u64(&s) % 0x7fefffffffffffffULL + 1; /* any positive finite double */
        double x, e;
        memcpy(&x, &u, sizeof x);
        e = ulp_err(lsd_log(x), logl((long double)x));
        if (e > worst) {
            worst = e;
            wx = x;
        }
    }
    CHECK(worst <= bound, "log over all binades: max error %.3f ulp at %.17g", worst, wx);
    printf("mathfn: log     all binades max error %.3f ulp (at x = %.17g)\n", worst, wx);
}

/* sin and cos right next to multiples of pi/2, where reduction cancels most bits. */
static void check_near_pio2(double bound)
{
    double worst = 0, wx = 0;
    int n, d;
    for (n = -6000; n <= 6000; n++) {
        double c = n * 1.57079632679489661923;
        double x = c;
        for (d = 0; d < 6; d++) {
            double es = ulp_err(lsd_sin(x), sinl((long double)x));
            double ec = ulp_err(lsd_cos(x), cosl((long double)x));
            if (es > worst) { worst = es; wx = x; }
            if (ec > worst) { worst = ec; wx = x; }
            x = nextafter(x, 1e300);
        }
    }
    CHECK(worst <= bound, "sin/cos next to k pi/2: max error %.3f ulp at %.17g", worst, wx);
    printf("mathfn: sin/cos next to k*pi/2 max error %.3f ulp (at x = %.17g)\n", worst, wx);
}

/* x^y in long double as e^(y ln x): its error, |y ln x| 2^-64, is far below a double ulp
 * for |y ln x| < 100. (tcc on x86-64 gets powl, and long double calls nested inside
 * expressions, wrong; hence no powl and one call per statement.) */
static long double pow_ref(double x, double y)
{
    long double lx = logl((long double)x);
    long double p = (long double)y * lx;
    return expl(p);
}

/* pow: relative error within (|y ln x|/16 + 1) ulp; Adam's 1 - beta^t within 1 ulp(1). */
static void check_pow(long n)
{
    uint64_t s = 99;
    double worst = 0, wx = 0, wy = 0, betas[3] = {0.9, 0.99, 0.999};
    long i;
    int b, t, ok = 1;
    for (i = 0; i < n; i++) {
        double x = uniform(&s, 1e-3, 4.0), y = uniform(&s, -60.0, 60.0);
        long double ref = pow_ref(x, y);
        double e = ulp_err(lsd_pow(x, y), ref) / (fabs(y * log(x)) / 16 + 1.0);
        if (e > worst) { worst = e; wx = x; wy = y; }
    }
    CHECK(worst <= 1.0, "pow: error / (|y ln x|/16 + 1) = %.3f at x=%.17g y=%.17g", worst, wx, wy);
    for (b = 0; b < 3; b++)
        for (t = 1; t <= 100000; t += (t < 100 ? 1 : 97)) {
            double got = 1.0 - lsd_pow(betas[b], (double)t);
            long double ref = 1.0L - pow_ref(betas[b], (double)t);
            if (fabsl((long double)got - ref) > DBL_EPSILON) {
                if (ok) CHECK(0, "1 - %g^%d = %.17g, want %.17Lg", betas[b], t, got, ref);
                ok = 0;
            }
        }
    CHECK(ok, "Adam bias corrections 1 - beta^t within 1 ulp(1)");
    CHECK(lsd_pow(2.0, 10.0) == 1024.0, "2^10 = %.17g", lsd_pow(2.0, 10.0));
    CHECK(fabs(lsd_pow(0.5, -3.0) - 8.0) <= 8 * DBL_EPSILON, "0.5^-3 = %.17g", lsd_pow(0.5, -3.0));
    printf("mathfn: pow     max error %.3f x (|y ln x|/16 + 1) ulp\n", worst);
}

/* Special values: zeros, infinities, NaN, out-of-domain and overflow. */
static void check_special(void)
{
    double inf = HUGE_VAL, nan = strtod("nan", NULL);
    CHECK(lsd_exp(0.0) == 1.0 && lsd_exp(-0.0) == 1.0, "exp(+-0) = 1");
    CHECK(lsd_exp(inf) == inf && lsd_exp(-inf) == 0.0, "exp(inf) = inf, exp(-inf) = 0");
    CHECK(lsd_exp(710.0) == inf && lsd_exp(-746.0) == 0.0, "exp overflow/underflow");
    CHECK(lsd_exp(709.78) < inf && lsd_exp(709.78) > 1e308, "exp(709.78) finite");
    CHECK(lsd_exp(-745.0) == 0x1p-1074, "exp(-745) = smallest subnormal, got %g", lsd_exp(-745.0));
    CHECK(lsd_exp(1.0) == 2.718281828459045, "exp(1) = e, got %.17g", lsd_exp(1.0));
    CHECK(isnan(lsd_exp(nan)), "exp(NaN) = NaN");
    CHECK(lsd_log(1.0) == 0.0 && !signbit(lsd_log(1.0)), "log(1) = +0");
    CHECK(lsd_log(0.0) == -inf && lsd_log(-0.0) == -inf, "log(+-0) = -inf");
    CHECK(isnan(lsd_log(-1.0)) && isnan(lsd_log(-inf)) && isnan(lsd_log(nan)), "log(<0) = NaN");
    CHECK(lsd_log(inf) == inf, "log(inf) = inf");
    CHECK(lsd_log(0x1p-1074) == -744.44007192138126, "log(min subnormal) = %.17g",
          lsd_log(0x1p-1074));
    CHECK(lsd_log(2.0) == 0.69314718055994531, "log 2 = %.17g", lsd_log(2.0));
    CHECK(lsd_tanh(0.0) == 0.0 && signbit(lsd_tanh(-0.0)), "tanh(+-0) = +-0");
    CHECK(lsd_tanh(inf) == 1.0 && lsd_tanh(-inf) == -1.0 && isnan(lsd_tanh(nan)), "tanh(+-inf)");
    CHECK(lsd_sigmoid(0.0) == 0.5, "sigmoid(0) = 0.5");
    CHECK(lsd_sigmoid(inf) == 1.0 && lsd_sigmoid(-inf) == 0.0 && isnan(lsd_sigmoid(nan)),
          "sigmoid(+-inf)");
    CHECK(lsd_sigmoid(-800.0) == 0.0 && lsd_sigmoid(800.0) == 1.0, "sigmoid(+-800) saturates");
    CHECK(lsd_sin(0.0) == 0.0 && signbit(lsd_sin(-0.0)) && lsd_cos(0.0) == 1.0, "sin/cos at 0");
    CHECK(isnan(lsd_sin(inf)) && isnan(lsd_cos(-inf)) && isnan(lsd_sin(nan)), "sin/cos of inf");
    CHECK(lsd_sqrt(4.0) == 2.0 && isnan(lsd_sqrt(-1.0)), "sqrt");
    CHECK(isnan(lsd_pow(-2.0, 0.5)) && lsd_pow(0.0, 2.0) == 0.0 && lsd_pow(0.0, -1.0) == inf,
          "pow special cases");
}

int main(void)
{
    static const double exp_r[][2] = {{-745.1, 709.78}, {-1.0, 1.0}, {-1e-6, 1e-6}, {-709, -700}};
    static const double log_r[][2] = {{1e-300, 1e300}, {0.5, 2.0}, {0.999, 1.001}, {1e-3, 10}};
    static const double th_r[][2] = {{-40, 40}, {-1, 1}, {-1e-4, 1e-4}, {-3, 3}};
    static const double sc_r[][2] = {{-1e4, 1e4}, {-3.2, 3.2}, {-1e-3, 1e-3}, {-100, 100}};
    static const unary_fn fns[] = {
        {"exp", lsd_exp, expl}, {"log", lsd_log, logl},          {"tanh", lsd_tanh, tanhl},
        {"sigmoid", lsd_sigmoid, sigmoid_ref}, {"sin", lsd_sin, sinl}, {"cos", lsd_cos, cosl}};
    long n = getenv("LSD_SLOW") ? 250000 : 25000; /* per range: 4 ranges per function */
    test_begin("mathfn");
    check_special();
    check_fn(&fns[0], exp_r, 4, n, 1.0);
    check_fn(&fns[1], log_r, 4, n, 1.0);
    check_log_binades(n, 1.0);
    check_fn(&fns[2], th_r, 4, n, 1.0);
    check_fn(&fns[3], th_r, 4, n, 1.0);
    check_fn(&fns[4], sc_r, 4, n, 1.0);
    check_fn(&fns[5], sc_r, 4, n, 1.0);
    check_near_pio2(1.0);
    check_pow(n);
    return test_summary();
}
