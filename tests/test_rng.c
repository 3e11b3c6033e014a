/*
 * test_rng.c - Philox4x32-10 against Random123's published known-answer
 * vectors, reproducibility and index addressing, and the statistics of the
 * uniform, normal, Bernoulli and bounded-integer draws. Statistical checks
 * use 5-sigma tolerances (or the 0.999 chi-square quantile); since the draws
 * are deterministic, a pass is permanent.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/rng.h"
#include "harness.h"

/* Random123's kat_vectors for philox4x32 10: counter[4], key[2] -> output[4]. */
static void check_kat(void)
{
    static const uint32_t kat[3][10] = {
        {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000,
         0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
    uint32_t out[4];
    int v;
    for (v = 0; v < 3; v++) {
        philox4x32_raw(&kat[v][0], &kat[v][4], out);
        CHECK(out[0] == kat[v][6] && out[1] == kat[v][7] && out[2] == kat[v][8] &&
                  out[3] == kat[v][9],
              "KAT %d: got %08lx %08lx %08lx %08lx", v, (unsigned long)out[0],
              (unsigned long)out[1], (unsigned long)out[2], (unsigned long)out[3]);
    }
    /* the (seed, stream, index) packing: counter = (index lo, hi, stream lo, hi), key = seed */
    philox4x32(0x299f31d0a4093822ULL, 0x0370734413198a2eULL, 0x85a308d3243f6a88ULL, out);
    CHECK(out[0] == 0xd16cfe09 && out[1] == 0x94fdcceb && out[2] == 0x5001e420 &&
              out[3] == 0x24126ea1,
          "philox4x32 packs (seed, stream, index) as documented");
}

/* Same (seed, stream, index) gives the same value; changing any of them changes it. */
static void check_reproducible(void)
{
    double a = rng_uniform(42, 7, 1000), b = rng_uniform(42, 7, 1000);
    int i, same_stream = 0, same_seed = 0, same_index = 0;
    CHECK(a == b, "same draw twice: %.17g vs %.17g", a, b);
    CHECK(rng_normal(1, 2, 3) == rng_normal(1, 2, 3), "normal reproducible");
    for (i = 0; i < 1000; i++) {
        same_stream += rng_uniform(42, 7, (uint64_t)i) == rng_uniform(42, 8, (uint64_t)i);
        same_seed += rng_uniform(42, 7, (uint64_t)i) == rng_uniform(43, 7, (uint64_t)i);
        same_index += rng_uniform(42, 7, (uint64_t)i) == rng_uniform(42, 7, (uint64_t)i + 1);
    }
    CHECK(same_stream == 0 && same_seed == 0 && same_index == 0,
          "different stream/seed/index collide %d/%d/%d times in 1000", same_stream, same_seed,
          same_index);
    /* 64-bit index and stream: the high words matter */
    CHECK(rng_uniform(1, 0, 5) != rng_uniform(1, 0, 5 + (1ULL << 32)), "index high word used");
    CHECK(rng_uniform(1, 3, 5) != rng_uniform(1, 3 + (1ULL << 32), 5), "stream high word used");
    CHECK(rng_uniform(1, 3, 5) != rng_uniform(1 + (1ULL << 32), 3, 5), "seed high word used");
}

/* Uniform: range, mean 1/2, variance 1/12, chi-square over 64 bins. */
static void check_uniform(long n)
{
    double sum = 0, sum2 = 0, lo = 1, hi = 0, chi2 = 0, expect, mean, var;
    long counts[64] = {0}, i;
    int b;
    for (i = 0; i < n; i++) {
        double u = rng_uniform(2024, 1, (uint64_t)i);
        sum += u;
        sum2 += u * u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
        counts[(int)(u * 64)]++;
    }
    mean = sum / n;
    var = sum2 / n - mean * mean;
    CHECK(lo >= 0 && hi < 1, "uniform in [0, 1): min %g max %.17g", lo, hi);
    CHECK(fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / n), "uniform mean %.6f", mean);
    CHECK(fabs(var - 1.0 / 12) < 5 * sqrt((1.0 / 80 - 1.0 / 144) / n), "uniform variance %.6f",
          var);
    expect = (double)n / 64;
    for (b = 0; b < 64; b++) chi2 += (counts[b] - expect) * (counts[b] - expect) / expect;
    /* 0.999 quantile of chi-square with 63 degrees of freedom */
    CHECK(chi2 < 103.4, "uniform chi-square over 64 bins %.2f (critical 103.4)", chi2);
    printf("rng: uniform mean %.6f variance %.6f chi-square(63) %.2f\n", mean, var, chi2);
}

/* Normal: mean 0, variance 1, kurtosis 3, 68.27% within 1 sigma, 95.45% within 2. */
static void check_normal(long n)
{
    double s1 = 0, s2 = 0, s4 = 0, mean, var, kurt, f1, f2;
    long in1 = 0, in2 = 0, i;
    int finite = 1;
    for (i = 0; i < n; i++) {
        double z = rng_normal(7, 99, (uint64_t)i);
        if (!(fabs(z) < 50)) finite = 0;
        s1 += z;
        s2 += z * z;
        s4 += z * z * z * z;
        in1 += fabs(z) < 1;
        in2 += fabs(z) < 2;
    }
    mean = s1 / n;
    var = s2 / n - mean * mean;
    kurt = (s4 / n) / (var * var);
    f1 = (double)in1 / n;
    f2 = (double)in2 / n;
    CHECK(finite, "normal draws finite");
    CHECK(fabs(mean) < 5 / sqrt((double)n), "normal mean %.5f", mean);
    CHECK(fabs(var - 1) < 5 * sqrt(2.0 / n), "normal variance %.5f", var);
    CHECK(fabs(kurt - 3) < 5 * sqrt(24.0 / n), "normal kurtosis %.4f", kurt);
    CHECK(fabs(f1 - 0.682689492) < 5 * sqrt(0.6827 * 0.3173 / n), "within 1 sigma %.5f", f1);
    CHECK(fabs(f2 - 0.954499736) < 5 * sqrt(0.9545 * 0.0455 / n), "within 2 sigma %.5f", f2);
    printf("rng: normal mean %.5f variance %.5f kurtosis %.4f within 1/2 sigma %.5f %.5f\n", mean,
           var, kurt, f1, f2);
}

/* rng_normal is Box-Muller on the draw's words, checked with libm's log, cos and sqrt. */
static void check_normal_formula(void)
{
    double worst = 0;
    int i;
    for (i = 0; i < 1000; i++) {
        uint32_t w[4];
        double u1, u2, ref, got;
        philox4x32(5, 6, (uint64_t)i, w);
        u1 = 1.0 - (double)(((((uint64_t)w[0]) << 32) | w[1]) >> 11) / 9007199254740992.0;
        u2 = (double)(((((uint64_t)w[2]) << 32) | w[3]) >> 11) / 9007199254740992.0;
        ref = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
        got = rng_normal(5, 6, (uint64_t)i);
        if (fabs(got - ref) > worst) worst = fabs(got - ref);
    }
    CHECK(worst < 1e-13, "rng_normal vs libm Box-Muller: max difference %g", worst);
}

/* Bernoulli rate and the bounded integers' range and frequencies. */
static void check_discrete(long n)
{
    long ones = 0, counts[10] = {0}, i;
    int b, inrange = 1;
    double rate, chi2 = 0;
    for (i = 0; i < n; i++) {
        uint64_t v = rng_below(3, 4, (uint64_t)i, 10);
        ones += rng_bernoulli(3, 5, (uint64_t)i, 0.3);
        if (v >= 10) inrange = 0;
        else counts[v]++;
    }
    rate = (double)ones / n;
    CHECK(fabs(rate - 0.3) < 5 * sqrt(0.21 / n), "bernoulli(0.3) rate %.5f", rate);
    CHECK(rng_bernoulli(1, 1, 1, 0.0) == 0 && rng_bernoulli(1, 1, 1, 1.0) == 1,
          "bernoulli(0) = 0, bernoulli(1) = 1");
    CHECK(inrange, "rng_below(10) in [0, 10)");
    for (b = 0; b < 10; b++) chi2 += (counts[b] - n / 10.0) * (counts[b] - n / 10.0) / (n / 10.0);
    /* 0.999 quantile of chi-square with 9 degrees of freedom */
    CHECK(chi2 < 27.88, "rng_below(10) chi-square %.2f (critical 27.88)", chi2);
    CHECK(rng_below(1, 2, 3, 1) == 0, "rng_below(1) = 0");
    printf("rng: bernoulli(0.3) rate %.5f, below(10) chi-square(9) %.2f\n", rate, chi2);
}

/* 1 if the n reals of a and b have the same bytes. */
static int memcmp_real(const real *a, const real *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* A fill split into chunks equals one fill, and element i is draw index0 + i. */
static void check_fill(void)
{
    enum { N = 1000 };
    real one[N], parts[N];
    int i, ok_u = 1, ok_n = 1, chunks_u, chunks_n;
    rng_fill_uniform(one, N, (real)-2, (real)3, 11, 12, 500);
    rng_fill_uniform(parts, 300, (real)-2, (real)3, 11, 12, 500);
    rng_fill_uniform(parts + 300, N - 300, (real)-2, (real)3, 11, 12, 800);
    chunks_u = memcmp_real(one, parts, N);
    for (i = 0; i < N; i++)
        if (one[i] != (real)(-2.0 + 5.0 * rng_uniform(11, 12, 500 + (uint64_t)i))) ok_u = 0;
    rng_fill_normal(one, N, (real)1, (real)0.5, 13, 14, 0);
    rng_fill_normal(parts, 1, (real)1, (real)0.5, 13, 14, 0);
    rng_fill_normal(parts + 1, N - 1, (real)1, (real)0.5, 13, 14, 1);
    chunks_n = memcmp_real(one, parts, N);
    for (i = 0; i < N; i++)
        if (one[i] != (real)(1.0 + 0.5 * rng_normal(13, 14, (uint64_t)i))) ok_n = 0;
    CHECK(chunks_u && chunks_n, "fill in chunks equals one fill (uniform %d, normal %d)",
          chunks_u, chunks_n);
    CHECK(ok_u && ok_n, "fill element i is draw index0 + i (uniform %d, normal %d)", ok_u, ok_n);
}

/* The per-draw reference of rng_fill_bernoulli: x[i] = (uniform(index0 + i) < p) ? v1 : v0
 * compared bit for bit over the first n of the draws u (u[i] = rng_uniform(index0 + i));
 * x[n] (a canary) must stay untouched. Returns the number of differing elements. */
static size_t bern_diff(const real *x, const double *u, size_t n, double p, real v1, real v0,
                        real canary)
{
    size_t i, bad = 0;
    for (i = 0; i < n; i++) {
        real want = u[i] < p ? v1 : v0;
        bad += memcmp(&x[i], &want, sizeof want) != 0;
    }
    return bad + (memcmp(&x[n], &canary, sizeof canary) != 0);
}

/* rng_fill_bernoulli equals the per-draw test uniform < p, bit for bit, for every block
 * variant this build and CPU can run (LSD_GEMM_KERNEL), sizes around the block size,
 * probabilities at and around the exact boundary of a draw, and index0 crossing the carry
 * into the counter's high word (2^32 - 5) and the 2^64 wrap (2^64 - 3). */
static void check_fill_bernoulli(void)
{
    enum { NMAX = 100003, NP = 12 };
    static const size_t ns[] = {0, 1, 7, 63, 64, 65, 127, 129, 1000, NMAX};
    static const uint64_t index0s[] = {0, 4294967291ULL, 18446744073709551613ULL, 5000000000ULL};
    static const uint64_t seeds[][2] = {{1, 2}, {0xdeadbeefcafef00dULL, 0x123456789abcdefULL},
                                        {0, 0}};
    static const char *const kernels[] = {NULL, "base", "avx2", "avx512"};
    const char *saved = getenv("LSD_GEMM_KERNEL");
    char saved_copy[64] = "";
    double *u = (double *)test_alloc(NMAX * sizeof *u);
    real *x = (real *)test_alloc((NMAX + 1) * sizeof *x), *y;
    real canary = (real)-7.25;
    size_t fills = 0, bad_cases = 0, boundary_bad = 0;
    int s, q, k;
    if (saved) snprintf(saved_copy, sizeof saved_copy, "%s", saved);
    for (s = 0; s < 3; s++) {
        for (q = 0; q < 4; q++) {
            uint64_t seed = seeds[s][0], stream = seeds[s][1], index0 = index0s[q];
            double ps[NP], b;
            size_t i, ni;
            int j;
            for (i = 0; i < NMAX; i++) u[i] = rng_uniform(seed, stream, index0 + (uint64_t)i);
            /* p equal to draw 3 (u = p: not below), one ulp under it and one over it */
            b = u[3];
            ps[0] = 0; ps[1] = 0.5; ps[2] = 1; ps[3] = 0.1; ps[4] = 0.3; ps[5] = b;
            ps[6] = nextafter(b, 0); ps[7] = nextafter(b, 2); ps[8] = -0.25; ps[9] = 1.5;
            ps[10] = 1e-300; ps[11] = nextafter(1, 0);
            boundary_bad += !(u[3] < ps[7]) + (u[3] < ps[5]) + (u[3] < ps[6]); /* the reference */
            for (k = 0; k < 4; k++) {
                if (kernels[k]) setenv("LSD_GEMM_KERNEL", kernels[k], 1);
                else unsetenv("LSD_GEMM_KERNEL");
                for (ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                    size_t n = ns[ni];
                    for (j = 0; j < NP; j++) {
                        /* the largest size with a few probabilities only (qemu runs this) */
                        if (n == NMAX && !(j == 1 || j == 3 || j == 7)) continue;
                        x[n] = canary;
                        rng_fill_bernoulli(x, n, ps[j], (real)-1.5, (real)2.75, seed, stream,
                                           index0);
                        fills++;
                        if (bern_diff(x, u, n, ps[j], (real)-1.5, (real)2.75, canary)) {
                            if (bad_cases++ < 5)
                                CHECK(0, "rng_fill_bernoulli(n %lu, p %.17g, seed 0x%llx, stream "
                                      "0x%llx, index0 %llu, kernel %s) differs from uniform < p",
                                      (unsigned long)n, ps[j], (unsigned long long)seed,
                                      (unsigned long long)stream, (unsigned long long)index0,
                                      kernels[k] ? kernels[k] : "auto");
                        }
                    }
                }
                /* the boundary itself: draw 3 is below nextafter(u3, 2) only */
                x[7] = canary;
                rng_fill_bernoulli(x, 7, ps[5], 1, 0, seed, stream, index0);
                boundary_bad += x[3] != 0;
                rng_fill_bernoulli(x, 7, ps[6], 1, 0, seed, stream, index0);
                boundary_bad += x[3] != 0;
                rng_fill_bernoulli(x, 7, ps[7], 1, 0, seed, stream, index0);
                boundary_bad += x[3] != 1;
            }
        }
    }
    if (saved) setenv("LSD_GEMM_KERNEL", saved_copy, 1);
    else unsetenv("LSD_GEMM_KERNEL");
    CHECK(bad_cases == 0, "rng_fill_bernoulli: %lu of %lu fills differ from the per-draw test",
          (unsigned long)bad_cases, (unsigned long)fills);
    CHECK(boundary_bad == 0, "rng_fill_bernoulli: p = u (not below), one ulp under (not "
          "below), one ulp over (below) decided wrongly %lu times", (unsigned long)boundary_bad);
    /* NaN p: u < NaN is false, every element gets v0 */
    rng_fill_bernoulli(x, 100, nan(""), 1, 0, 1, 2, 3);
    for (s = 0, q = 0; s < 100; s++) q += x[s] != 0;
    CHECK(q == 0, "rng_fill_bernoulli with p = NaN: %d elements not v0", q);
    /* 1 and 2 threads, across the carry into the high word */
    y = (real *)test_alloc((NMAX + 1) * sizeof *y);
    test_set_threads(1);
    rng_fill_bernoulli(x, NMAX, 0.3, 1, 0, 77, 78, 4294967296ULL - 70001);
    test_set_threads(2);
    rng_fill_bernoulli(y, NMAX, 0.3, 1, 0, 77, 78, 4294967296ULL - 70001);
    CHECK(memcmp(x, y, NMAX * sizeof *x) == 0, "rng_fill_bernoulli: 1 and 2 threads differ");
    printf("rng: rng_fill_bernoulli equals uniform < p in %lu fills\n", (unsigned long)fills);
    free(u);
    free(x);
    free(y);
}

/* rng_stream_of is FNV-1a 64 (values from the FNV reference test suite). */
static void check_stream_of(void)
{
    CHECK(rng_stream_of("") == 0xcbf29ce484222325ULL, "FNV-1a 64 of \"\"");
    CHECK(rng_stream_of("a") == 0xaf63dc4c8601ec8cULL, "FNV-1a 64 of \"a\"");
    CHECK(rng_stream_of("foobar") == 0x85944171f73967e8ULL, "FNV-1a 64 of \"foobar\"");
}

int main(void)
{
    long n = getenv("LSD_SLOW") ? 2000000 : 200000;
    test_begin("rng");
    check_kat();
    check_reproducible();
    check_uniform(n);
    check_normal(n);
    check_normal_formula();
    check_discrete(n);
    check_fill();
    check_fill_bernoulli();
    check_stream_of();
    return test_summary();
}
