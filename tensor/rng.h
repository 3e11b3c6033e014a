/*
 * rng.h - a counter-based random generator (Philox4x32-10, Salmon et al. 2011).
 *
 * A draw is a pure function of (seed, stream, index): no cursor, no shared
 * state. A dropout mask, an initialisation or a data-order shuffle therefore
 * does not depend on the thread count or on the order of calls. Streams
 * separate independent uses (one stream per layer, per purpose).
 */
#ifndef LSD_RNG_H
#define LSD_RNG_H

#include <stdint.h>
#include "common.h"

/* The four 32-bit words Philox4x32-10 gives for counter (index, stream) and key seed:
 * counter = (index low, index high, stream low, stream high), key = (seed low, seed high). */
void philox4x32(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]);
/* Philox4x32-10 on raw words, as in Random123's known-answer vectors. */
void philox4x32_raw(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Uniform double in [0, 1) with 53 random bits, from draw (seed, stream, index). */
double rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal N(0,1) (Box-Muller on two uniforms of the same draw; own log/cos). */
double rng_normal(uint64_t seed, uint64_t stream, uint64_t index);
/* 1 with probability p, else 0. */
int rng_bernoulli(uint64_t seed, uint64_t stream, uint64_t index, double p);
/* Uniform integer in [0, n) (n >= 1), without modulo bias worth noting (uses 53-bit uniform). */
uint64_t rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n);

/* Fill x[i] (i = 0..n-1) with draws index0 + i of the stream. */
void rng_fill_uniform(real *x, size_t n, real lo, real hi, uint64_t seed, uint64_t stream,
                      uint64_t index0);
void rng_fill_normal(real *x, size_t n, real mean, real std, uint64_t seed, uint64_t stream,
                     uint64_t index0);
/* x[i] = v1 if rng_bernoulli(seed, stream, index0 + i, p) else v0, for i < n: the same bits
 * as the per-draw test uniform < p, decided on integers, many draws at a time (vectorized;
 * OpenMP over blocks, independent of the thread count). */
void rng_fill_bernoulli(real *x, size_t n, double p, real v1, real v0, uint64_t seed,
                        uint64_t stream, uint64_t index0);

/* A stream number derived from a name (FNV-1a 64 of the string), for per-layer streams. */
uint64_t rng_stream_of(const char *name);

#endif
