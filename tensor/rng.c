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
