/*
 * test_determinism.c - the exact bits of a fixed workload are the same on every
 * platform: x86-64's are the reference that every other host must reproduce.
 *
 * Three parts, each hashed with FNV-1a 64 over the bytes of every value written
 * in little-endian order (so the hash itself does not depend on the host's byte
 * order): "rng" (Philox words, uniform and normal draws from several streams,
 * fills into `real`), "mathfn" (our exp, log, tanh, sigmoid, pow, sin, cos, sqrt
 * on fixed grids) and "gemm" (gemm_naive on fixed shapes with RNG inputs, all
 * four transpose cases; the fast gemm must equal it bit for bit).
 *
 * The reference hashes below were recorded on x86-64 (gcc). To regenerate them
 * after an intended change of results, run on x86-64, in both precisions:
 *   make BUILD=build/h PRECISION=float build/h/tests/test_determinism &&
 *     LSD_PRINT_HASHES=1 build/h/tests/test_determinism
 * (and the same with PRECISION=double) and paste the printed lines below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/gemm.h"
#include "../tensor/mathfn.h"
#include "../tensor/rng.h"
#include "harness.h"

/* Reference hashes recorded on x86-64: rng, mathfn, gemm. */
#ifdef LSD_DOUBLE
static const uint64_t REFERENCE[3] = {0xf8b80635969fff6eULL, 0x8af7820ff7c354b7ULL,
                                      0xc50ac2aa211abe81ULL};
#else
static const uint64_t REFERENCE[3] = {0x1a8bf94d88663091ULL, 0x8af7820ff7c354b7ULL,
                                      0xe625c5fe7b0e31c9ULL};
#endif
static const char *const PART_NAMES[3] = {"rng", "mathfn", "gemm"};

/* FNV-1a 64 over the nbytes low-order bytes of v, least significant byte first. */
static uint64_t hash_le(uint64_t h, uint64_t v, int nbytes)
{
    int i;
    for (i = 0; i < nbytes; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Adds the IEEE bits of a double to the hash. */
static uint64_t hash_double(uint64_t h, double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return hash_le(h, u, 8);
}

/* Adds the IEEE bits of n reals (4 or 8 bytes each, by precision) to the hash. */
static uint64_t hash_reals(uint64_t h, const real *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
#ifdef LSD_DOUBLE
        h = hash_double(h, x[i]);
#else
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        h = hash_le(h, u, 4);
#endif
    }
    return h;
}

#define FNV_BASIS 0xcbf29ce484222325ULL

/* Part 1: Philox words, uniforms, normals, bounded integers and fills from four streams. */
static uint64_t hash_rng(void)
{
    uint64_t h = FNV_BASIS, streams[4];
    real buf[1000];
    int s, i, j;
    streams[0] = 0;
    streams[1] = 1;
    streams[2] = rng_stream_of("conv1_1.weight");
    streams[3] = rng_stream_of("fc6.dropout");
    for (s = 0; s < 4; s++) {
        for (i = 0; i < 1000; i++) {
            uint32_t w[4];
            philox4x32(20180618, streams[s], (uint64_t)i, w);
            for (j = 0; j < 4; j++) h = hash_le(h, w[j], 4);
            h = hash_double(h, rng_uniform(20180618, streams[s], (uint64_t)i));
            h = hash_double(h, rng_normal(20180618, streams[s], (uint64_t)i + 5000));
            h = hash_le(h, rng_below(20180618, streams[s], (uint64_t)i, 1000), 8);
        }
        rng_fill_uniform(buf, 1000, (real)-0.1, (real)0.1, 1, streams[s], 123);
        h = hash_reals(h, buf, 1000);
        rng_fill_normal(buf, 1000, (real)0, (real)0.01, 1, streams[s], 456);
        h = hash_reals(h, buf, 1000);
    }
    return h;
}

/* Part 2: every function of mathfn.h on a fixed grid over its useful range. */
static uint64_t hash_mathfn(void)
{
    uint64_t h = FNV_BASIS;
    int i;
    for (i = 0; i <= 4000; i++) {
        double t = i / 4000.0;           /* 0 .. 1 */
        double x = -745.0 + 1455.0 * t;  /* exp's whole range */
        double g = -40.0 + 80.0 * t;     /* tanh, sigmoid */
        double a = -1e4 + 2e4 * t + 0.3; /* sin, cos */
        double p = 1e-300 * lsd_pow(1e300, 2.0 * t) + 1e-3 * t; /* log over many binades */
        h = hash_double(h, lsd_exp(x));
        h = hash_double(h, lsd_exp(x / 700.0));
        h = hash_double(h, lsd_log(p));
        h = hash_double(h, lsd_log(0.5 + t));
        h = hash_double(h, lsd_tanh(g));
        h = hash_double(h, lsd_tanh(g / 40.0));
        h = hash_double(h, lsd_sigmoid(g));
        h = hash_double(h, lsd_sin(a));
        h = hash_double(h, lsd_cos(a));
        h = hash_double(h, lsd_sin(7.0 * t - 3.5));
        h = hash_double(h, lsd_cos(7.0 * t - 3.5));
        h = hash_double(h, lsd_pow(0.999, 1.0 + i));
        h = hash_double(h, lsd_sqrt(x + 745.0));
    }
    return h;
}

/* Part 3: gemm_naive on fixed shapes and transposes; checks gemm against it bit for bit. */
static uint64_t hash_gemm(void)
{
    static const int shapes[3][3] = {{7, 5, 13}, {33, 65, 129}, {64, 48, 300}};
    uint64_t h = FNV_BASIS;
    int s, ta, tb, same = 1;
    for (s = 0; s < 3; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
        real *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B);
        real *C0 = malloc(nc * sizeof *C0), *C1 = malloc(nc * sizeof *C1);
        if (!A || !B || !C0 || !C1) {
            CHECK(0, "out of memory");
            free(A), free(B), free(C0), free(C1);
            return 0;
        }
        rng_fill_normal(A, na, (real)0, (real)1, 7, 100 + (uint64_t)s, 0);
        rng_fill_normal(B, nb, (real)0, (real)1, 7, 200 + (uint64_t)s, 0);
        for (ta = 0; ta < 2; ta++)
            for (tb = 0; tb < 2; tb++) {
                int lda = ta ? M : K, ldb = tb ? K : N;
                real alpha = (real)1.25, beta = (real)(ta + tb == 1 ? 0.0 : -0.5);
                rng_fill_uniform(C0, nc, (real)-1, (real)1, 7, 300 + (uint64_t)s, 0);
                memcpy(C1, C0, nc * sizeof *C0);
                gemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, N);
                gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, N);
                if (memcmp(C0, C1, nc * sizeof *C0) != 0) {
                    CHECK(0, "gemm differs from gemm_naive: %dx%dx%d transA %d transB %d", M, N,
                          K, ta, tb);
                    same = 0;
                }
                h = hash_reals(h, C0, nc);
            }
        free(A), free(B), free(C0), free(C1);
    }
    CHECK(same, "gemm equals gemm_naive bit for bit on every shape");
    return h;
}

int main(void)
{
    uint64_t got[3];
    int p, print = getenv("LSD_PRINT_HASHES") != NULL;
    test_begin("determinism");
    got[0] = hash_rng();
    got[1] = hash_mathfn();
    got[2] = hash_gemm();
    for (p = 0; p < 3; p++) {
        printf("determinism: %-6s %s hash 0x%016llx (x86-64 reference 0x%016llx)\n", PART_NAMES[p],
               LSD_PRECISION_NAME, (unsigned long long)got[p], (unsigned long long)REFERENCE[p]);
        CHECK(got[p] == REFERENCE[p], "%s (%s): hash 0x%016llx, x86-64 gave 0x%016llx",
              PART_NAMES[p], LSD_PRECISION_NAME, (unsigned long long)got[p],
              (unsigned long long)REFERENCE[p]);
    }
    if (print)
        printf("static const uint64_t REFERENCE[3] = {0x%016llxULL, 0x%016llxULL, 0x%016llxULL};\n",
               (unsigned long long)got[0], (unsigned long long)got[1],
               (unsigned long long)got[2]);
    return test_summary();
}
