/*
 * bench_peak.c - the arithmetic peak of one core, against which the other benchmarks'
 * GFLOP/s are read (docs/performance.md). Prints CSV rows
 *     peak,<case>,1,lsdseg,<value>,<unit>
 * to stdout:
 *   clock            GHz: a chain of dependent integer adds, one a cycle (x86-64 with
 *                    gcc or clang; elsewhere the row is left out);
 *   mul+add-<bits>   GFLOP/s of multiplies and adds, not fused (as lsdseg computes:
 *                    -ffp-contract=off), on vectors of <bits> bits, in the pattern and
 *                    tile of gemm's micro-kernel (PEAK_BODY);
 *                    128 bits always (the compiler's own vectors), 256 and 512 where the
 *                    CPU runs AVX2 and AVX-512 (run-time dispatch, as tensor/gemm.c).
 * One thread; best of 3 runs of about 0.3 s each. Usage: bench_peak.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Wall-clock seconds from a monotonic clock. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#if defined(__GNUC__) && !defined(__TINYC__)
#define PEAK_VECTORS 1
#define STEPS 20000000L

/* The pattern of gemm's micro-kernel (tensor/gemm.c) on data in L1: R x J sums of vectors,
 * s[r][j] += a[r] * b[j] for `steps` steps, a[r] a broadcast scalar and b[j] a vector, both
 * loaded (cycling through 16 steps' worth), a multiply that does not wait on the sum, then
 * the add. R x J is gemm's tile for the width (16 x 1 for 512 bits, 6 x 2 for 256, 4 x 2
 * for 128). Returns a value that depends on every sum, so that none is optimized away. */
#if defined(__clang__)
#define PEAK_UNROLL _Pragma("clang loop unroll(full)")
#else
#define PEAK_UNROLL _Pragma("GCC unroll 16")
#endif
#define PEAK_BODY(vec, R, J)                                                                  \
    static float a[16 * (R)];                                                                  \
    static vec b[16 * (J)];                                                                    \
    vec z = {0}, s[(R) * (J)];                                                                 \
    long k;                                                                                    \
    float sum = 0;                                                                             \
    int r, j;                                                                                  \
    for (r = 0; r < 16 * (R); r++) a[r] = 1e-3f * (float)(r % 5);                              \
    for (j = 0; j < 16 * (J); j++) b[j] = z + (float)(j % 7);                                  \
    PEAK_UNROLL for (r = 0; r < (R) * (J); r++) s[r] = z;                                      \
    for (k = 0; k < steps; k++) {                                                              \
        const float *ak = a + (k & 15) * (R);                                                  \
        const vec *bk = b + (k & 15) * (J);                                                    \
        PEAK_UNROLL for (r = 0; r < (R); r++) {                                                \
            PEAK_UNROLL for (j = 0; j < (J); j++) s[r * (J) + j] += ak[r] * bk[j];             \
        }                                                                                      \
    }                                                                                          \
    for (r = 0; r < (R) * (J); r++)                                                            \
        for (j = 0; j < (int)(sizeof z / sizeof(float)); j++) sum += s[r][j];                  \
    return sum

typedef float v4 __attribute__((vector_size(16)));
static __attribute__((noinline)) float peak_128(long steps) { PEAK_BODY(v4, 4, 2); }

#if defined(__x86_64__)
#define PEAK_X86 1
typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));
__attribute__((noinline, target("avx2,no-fma"))) static float peak_256(long steps)
{
    PEAK_BODY(v8, 6, 2);
}
__attribute__((noinline, target("avx512f,no-fma"))) static float peak_512(long steps)
{
    PEAK_BODY(v16, 16, 1);
}

/* Adds in a dependent chain: 8 a step, one a cycle. */
static __attribute__((noinline)) long add_chain(long steps, long a, long b)
{
    long k;
    for (k = 0; k < steps; k++)
        __asm__ volatile("add %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\t"
                         "add %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\tadd %1,%0"
                         : "+r"(a)
                         : "r"(b));
    return a;
}
#endif

/* Best GFLOP/s of 3 runs of fn (`sums` sums of `lanes` floats, 2 flops each a step). */
static double gflops(float (*fn)(long), int sums, int lanes, float *sink)
{
    double best = 0;
    int run;
    for (run = 0; run < 3; run++) {
        double t = now(), rate;
        *sink += fn(STEPS);
        t = now() - t;
        rate = 2.0 * sums * lanes * (double)STEPS / t / 1e9;
        if (rate > best) best = rate;
    }
    return best;
}
#endif

int main(void)
{
#ifdef PEAK_VECTORS
    float sink = 0;
#ifdef PEAK_X86
    {
        double best = 0;
        long sum = 0;
        int run;
        for (run = 0; run < 3; run++) {
            double t = now(), ghz;
            sum += add_chain(100000000L, 1, 3);
            t = now() - t;
            ghz = 8.0 * 100000000.0 / t / 1e9;
            if (ghz > best) best = ghz;
        }
        printf("peak,clock,1,lsdseg,%.2f,GHz\n", best);
        sink += (float)(sum & 1);
    }
#endif
    printf("peak,mul+add-128,1,lsdseg,%.1f,GFLOP/s\n", gflops(peak_128, 8, 4, &sink));
#ifdef PEAK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        printf("peak,mul+add-256,1,lsdseg,%.1f,GFLOP/s\n", gflops(peak_256, 12, 8, &sink));
    if (__builtin_cpu_supports("avx512f"))
        printf("peak,mul+add-512,1,lsdseg,%.1f,GFLOP/s\n", gflops(peak_512, 16, 16, &sink));
#endif
    fprintf(stderr, "bench_peak: done (checksum %g)\n", (double)sink);
#else
    fprintf(stderr, "bench_peak: needs gcc's or clang's vector extensions; nothing measured\n");
#endif
    return 0;
}
