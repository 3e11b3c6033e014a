/*
 * rng.c - Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers:
 * as easy as 1, 2, 3", SC 2011) and the distributions built on it.
 *
 * Each round multiplies two counter words by fixed odd constants, takes the
 * high and low halves of the 64-bit products, and mixes them with the other
 * two words and the key; the key is bumped by Weyl constants between rounds.
 * Ten rounds pass the BigCrush battery. Everything here is a pure function of
 * its arguments.
 */
#include "rng.h"

#include <stdlib.h>
#include <string.h>

#include "mathfn.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

/* Philox4x32-10 on raw words: ten rounds, the key bumped between rounds. */
void philox4x32_raw(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    int round;
    for (round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0; /* unsigned: wraps modulo 2^32 */
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Philox4x32-10 with counter (index lo, index hi, stream lo, stream hi) and key (seed lo, hi). */
void philox4x32(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4])
{
    uint32_t ctr[4], key[2];
    ctr[0] = (uint32_t)index;
    ctr[1] = (uint32_t)(index >> 32);
    ctr[2] = (uint32_t)stream;
    ctr[3] = (uint32_t)(stream >> 32);
    key[0] = (uint32_t)seed;
    key[1] = (uint32_t)(seed >> 32);
    philox4x32_raw(ctr, key, out);
}

/* The top 53 bits of the 64-bit word (a, b), scaled to [0, 1): exact in double. */
static double unit53(uint32_t a, uint32_t b)
{
    uint64_t u = (((uint64_t)a << 32) | b) >> 11;
    return (double)u * (1.0 / 9007199254740992.0); /* 2^-53 */
}

/* Uniform double in [0, 1) from words 0 and 1 of the draw. */
double rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t w[4];
    philox4x32(seed, stream, index, w);
    return unit53(w[0], w[1]);
}

/* Box-Muller: sqrt(-2 ln u1) cos(2 pi u2), u1 = 1 - (words 0,1) in (0, 1], u2 from words 2,3. */
double rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    const double TWO_PI = 6.28318530717958647692;
    uint32_t w[4];
    double u1, u2;
    philox4x32(seed, stream, index, w);
    u1 = 1.0 - unit53(w[0], w[1]); /* exact, never 0 */
    u2 = unit53(w[2], w[3]);
    return lsd_sqrt(-2.0 * lsd_log(u1)) * lsd_cos(TWO_PI * u2);
}

/* 1 when the draw's uniform is below p: probability p (0 for p <= 0, 1 for p >= 1). */
int rng_bernoulli(uint64_t seed, uint64_t stream, uint64_t index, double p)
{
    return rng_uniform(seed, stream, index) < p;
}

/* floor(u * n) for the draw's uniform u, clamped to n - 1 against rounding up. */
uint64_t rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n)
{
    uint64_t v;
    if (n <= 1) return 0;
    v = (uint64_t)(rng_uniform(seed, stream, index) * (double)n);
    return v < n ? v : n - 1;
}

/* x[i] = lo + (hi - lo) u(index0 + i), computed in double and rounded once to real. */
void rng_fill_uniform(real *x, size_t n, real lo, real hi, uint64_t seed, uint64_t stream,
                      uint64_t index0)
{
    double a = (double)lo, w = (double)hi - (double)lo;
    long long i, count = (long long)n;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count > 65536)
#endif
    for (i = 0; i < count; i++)
        x[i] = (real)(a + w * rng_uniform(seed, stream, index0 + (uint64_t)i));
}

/* x[i] = mean + std z(index0 + i) with z standard normal, computed in double, rounded once. */
void rng_fill_normal(real *x, size_t n, real mean, real std, uint64_t seed, uint64_t stream,
                     uint64_t index0)
{
    double m = (double)mean, s = (double)std;
    long long i, count = (long long)n;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count > 16384)
#endif
    for (i = 0; i < count; i++)
        x[i] = (real)(m + s * rng_normal(seed, stream, index0 + (uint64_t)i));
}

/* ---- Bernoulli fills, RNG_LANES consecutive draws at a time.
 *
 * u < p for u = k 2^-53 (k the top 53 bits of words 0 and 1) is decided on integers:
 * u < p <=> k < t with t = ceil(p 2^53) (exact in double), and k < t <=> w < t 2^11 for the
 * 64-bit word w = (w0, w1), compared as two 32-bit halves. The lanes are a struct of arrays
 * with fixed trip counts, which compilers vectorize; 64 lanes give several independent
 * vectors per round. A portable x86-64 gcc/clang build (the conditions of tensor/gemm.c)
 * also compiles the block for AVX-512F+DQ, whose 64-bit multiply gcc uses for the widening
 * products, and picks it at run time unless LSD_GEMM_KERNEL is base or avx2 (an AVX2 build
 * of this loop measured no faster than the SSE2 one, so there is none). Every variant
 * computes the same integers. */
#define RNG_LANES 64

#if defined(__GNUC__) && !defined(__TINYC__)
#define RNG_ALWAYS_INLINE __attribute__((always_inline)) inline
#define RNG_NOINLINE __attribute__((noinline))
#else
#define RNG_ALWAYS_INLINE inline
#define RNG_NOINLINE
#endif

#ifdef LSD_CPU_DISPATCH /* tensor/common.h */
#define LSD_RNG_DISPATCH 1
#endif

/* What a block of draws needs: key, stream words, the bound (t0, t1) = t 2^11 that words
 * (0, 1) are compared with, and the two values to write. */
typedef struct {
    uint32_t k0, k1, s0, s1, t0, t1;
    real v1, v0;
} bern_args;

/* Smallest t with (k 2^-53 < p) == (k < t) for every 53-bit k: 0 for p <= 0 (or NaN),
 * 2^53 for p >= 1, else ceil(p 2^53) (the product is exact). */
static uint64_t threshold53(double p)
{
    double x;
    uint64_t t;
    if (!(p > 0)) return 0;
    if (p >= 1) return (uint64_t)1 << 53;
    x = p * 9007199254740992.0; /* 2^53 */
    t = (uint64_t)x;            /* floor: 0 <= x < 2^53 */
    return (double)t < x ? t + 1 : t;
}

/* x[j] = v1 if words (0, 1) of draw index0 + j are below (t0, t1), else v0, j < RNG_LANES.
 * Counter low word = index0's low word + j; a carry out of it adds 1 to the high word. */
static RNG_ALWAYS_INLINE void bern_block(real *restrict x, uint64_t index0,
                                         const bern_args *a)
{
    uint32_t c0[RNG_LANES], c1[RNG_LANES], c2[RNG_LANES], c3[RNG_LANES];
    uint32_t lo = (uint32_t)index0, hi = (uint32_t)(index0 >> 32);
    uint32_t k0 = a->k0, k1 = a->k1, t0 = a->t0, t1 = a->t1;
    real v1 = a->v1, v0 = a->v0;
    int j, round;
    for (j = 0; j < RNG_LANES; j++) {
        c0[j] = lo + (uint32_t)j;
        c1[j] = hi + (c0[j] < lo);
        c2[j] = a->s0;
        c3[j] = a->s1;
    }
    for (round = 0; round < 10; round++) { /* philox4x32_raw's rounds, lane by lane */
        for (j = 0; j < RNG_LANES; j++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[j], p1 = (uint64_t)PHILOX_M1 * c2[j];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
            c1[j] = (uint32_t)p1;
            c3[j] = (uint32_t)p0;
            c0[j] = n0;
            c2[j] = n2;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (j = 0; j < RNG_LANES; j++)
        x[j] = ((c0[j] < t0) | ((c0[j] == t0) & (c1[j] < t1))) ? v1 : v0;
}

typedef void (*bern_fn)(real *x, uint64_t index0, const bern_args *a);

/* One block, compiled for the build's target. */
static RNG_NOINLINE void bern_base(real *x, uint64_t index0, const bern_args *a)
{
    bern_block(x, index0, a);
}

#ifdef LSD_RNG_DISPATCH
/* One block, compiled for AVX-512F+DQ. */
__attribute__((noinline, target("avx512f,avx512dq"))) static void
bern_avx512(real *x, uint64_t index0, const bern_args *a)
{
    bern_block(x, index0, a);
}
#endif

/* The block function for this CPU: the AVX-512 one where it runs and LSD_GEMM_KERNEL does
 * not ask for base or avx2 (as for gemm, an unknown value means the automatic choice). */
static bern_fn pick_bern(void)
{
#ifdef LSD_RNG_DISPATCH
    const char *force = getenv("LSD_GEMM_KERNEL");
    if (force && (!strcmp(force, "base") || !strcmp(force, "avx2"))) return bern_base;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
        return bern_avx512;
#endif
    return bern_base;
}

/* x[i] = v1 if uniform(index0 + i) < p else v0: whole blocks over OpenMP, the last partial
 * block through a scratch block; each element depends on its index only. */
void rng_fill_bernoulli(real *x, size_t n, double p, real v1, real v0, uint64_t seed,
                        uint64_t stream, uint64_t index0)
{
    uint64_t t = threshold53(p);
    size_t rest = n % RNG_LANES, done = n - rest, i;
    long long b, nblk = (long long)(n / RNG_LANES);
    bern_args a;
    bern_fn fn;
    if (t == (uint64_t)1 << 53) { /* every u < 1 <= p */
        for (i = 0; i < n; i++) x[i] = v1;
        return;
    }
    a.k0 = (uint32_t)seed;
    a.k1 = (uint32_t)(seed >> 32);
    a.s0 = (uint32_t)stream;
    a.s1 = (uint32_t)(stream >> 32);
    a.t0 = (uint32_t)(t >> 21); /* t 2^11 < 2^64 */
    a.t1 = (uint32_t)(t << 11);
    a.v1 = v1;
    a.v0 = v0;
    fn = pick_bern();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nblk > 1024)
#endif
    for (b = 0; b < nblk; b++)
        fn(x + (size_t)b * RNG_LANES, index0 + (uint64_t)b * RNG_LANES, &a);
    if (rest) {
        real tail[RNG_LANES];
        fn(tail, index0 + done, &a);
        for (i = 0; i < rest; i++) x[done + i] = tail[i];
    }
}

/* FNV-1a 64 of the bytes of name: offset basis 0xcbf29ce484222325, prime 0x100000001b3. */
uint64_t rng_stream_of(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *p = (const unsigned char *)name;
    while (*p) {
        h ^= *p++;
        h *= 0x100000001b3ULL;
    }
    return h;
}
