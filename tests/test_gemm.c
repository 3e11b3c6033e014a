/* test_gemm.c - gemm against gemm_naive (bit for bit) and a double-precision reference. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../tensor/gemm.h"
#include "harness.h"

#ifdef LSD_DOUBLE
#define EPS DBL_EPSILON
#else
#define EPS FLT_EPSILON
#endif

/* A small xorshift generator private to this test: uniform in [-1, 1). */
static double uniform(unsigned long long *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) / 4503599627370496.0 - 1.0;
}

/* One gemm problem with its storage (leading dimensions may exceed the rows). */
typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc;
    real alpha, beta;
    real *A, *B, *C0; /* inputs; C0 is C before the call */
    size_t na, nb, nc;
} problem;

/* Allocates and fills a problem; pads each leading dimension by `pad`. Returns 0 on failure. */
static int make_problem(problem *p, int ta, int tb, int M, int N, int K, int pad, double alpha,
                        double beta, unsigned long long *seed)
{
    int arows = ta ? K : M, acols = ta ? M : K, brows = tb ? N : K, bcols = tb ? K : N;
    size_t i;
    p->ta = ta; p->tb = tb; p->M = M; p->N = N; p->K = K;
    p->lda = acols + pad; p->ldb = bcols + pad; p->ldc = N + pad;
    p->alpha = (real)alpha; p->beta = (real)beta;
    p->na = (size_t)arows * p->lda + 1;
    p->nb = (size_t)brows * p->ldb + 1;
    p->nc = (size_t)M * p->ldc + 1;
    p->A = malloc(p->na * sizeof(real));
    p->B = malloc(p->nb * sizeof(real));
    p->C0 = malloc(p->nc * sizeof(real));
    if (!p->A || !p->B || !p->C0) return 0;
    for (i = 0; i < p->na; i++) p->A[i] = (real)uniform(seed);
    for (i = 0; i < p->nb; i++) p->B[i] = (real)uniform(seed);
    for (i = 0; i < p->nc; i++) p->C0[i] = (real)uniform(seed);
    return 1;
}

static void free_problem(problem *p)
{
    free(p->A); free(p->B); free(p->C0);
}

/* Runs gemm (fast or naive) on a fresh copy of C0 into out (p->nc elements). */
static void run(const problem *p, int fast, real *out)
{
    memcpy(out, p->C0, p->nc * sizeof(real));
    if (fast)
        gemm(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, out,
             p->ldc);
    else
        gemm_naive(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta,
                   out, p->ldc);
}

/* Checks out against a double-precision evaluation with an error bound of
 * (K+3) roundings of the absolute terms; the padding of C must be untouched. */
static void check_double_ref(const problem *p, const real *out, const char *name)
{
    int i, j, k, bi = -1, bj = -1;
    double got = 0, want = 0, lim = 0;
    for (i = 0; i < p->M && bi < 0; i++) {
        for (j = 0; j < p->ldc && bi < 0; j++) {
            size_t at = (size_t)i * p->ldc + j;
            double s = 0, mag = 0, ref, bound;
            if (j >= p->N) {
                if (memcmp(&out[at], &p->C0[at], sizeof(real)) != 0) {
                    bi = i; bj = j; got = out[at]; want = p->C0[at];
                }
                continue;
            }
            for (k = 0; k < p->K; k++) {
                double a = p->ta ? p->A[(size_t)k * p->lda + i] : p->A[(size_t)i * p->lda + k];
                double b = p->tb ? p->B[(size_t)j * p->ldb + k] : p->B[(size_t)k * p->ldb + j];
                s += a * b;
                mag += fabs(a * b);
            }
            ref = (double)p->alpha * s;
            mag = fabs((double)p->alpha) * mag;
            if (p->beta != 0) {
                ref += (double)p->beta * p->C0[at];
                mag += fabs((double)p->beta * p->C0[at]);
            }
            bound = (p->K + 3) * EPS * mag;
            if (!(fabs(out[at] - ref) <= bound)) {
                bi = i; bj = j; got = out[at]; want = ref; lim = bound;
            }
        }
    }
    CHECK(bi < 0, "%s: C[%d][%d] = %.9g, double reference %.9g (bound %.3g; column >= N "
          "means padding was written)", name, bi, bj, got, want, lim);
}

/* Full check of one configuration: bitwise equal to naive, close to double. */
static void check_case(int ta, int tb, int M, int N, int K, int pad, double alpha, double beta,
                       unsigned long long *seed)
{
    problem p;
    real *fast, *slow;
    char name[160];
    sprintf(name, "gemm ta=%d tb=%d %dx%dx%d pad=%d alpha=%g beta=%g", ta, tb, M, N, K, pad,
            alpha, beta);
    if (!make_problem(&p, ta, tb, M, N, K, pad, alpha, beta, seed)) {
        CHECK(0, "%s: out of memory", name);
        free_problem(&p);
        return;
    }
    fast = malloc(p.nc * sizeof(real));
    slow = malloc(p.nc * sizeof(real));
    if (!fast || !slow) {
        CHECK(0, "%s: out of memory", name);
    } else {
        run(&p, 1, fast);
        run(&p, 0, slow);
        CHECK(memcmp(fast, slow, p.nc * sizeof(real)) == 0, "%s: gemm is not bit-identical to "
              "gemm_naive", name);
        check_double_ref(&p, slow, name);
    }
    free(fast); free(slow);
    free_problem(&p);
}

/* beta == 0 must not read C: a NaN-filled C gives finite results. */
static void check_nan_c(unsigned long long *seed)
{
    int fast;
    for (fast = 0; fast < 2; fast++) {
        problem p;
        size_t i;
        int bad = 0;
        real *out;
        if (!make_problem(&p, 0, 1, 37, 45, 29, 3, 1.5, 0, seed)) {
            CHECK(0, "out of memory");
            free_problem(&p);
            return;
        }
        out = malloc(p.nc * sizeof(real));
        if (out) {
            for (i = 0; i < p.nc; i++) p.C0[i] = (real)NAN;
            run(&p, fast, out);
            for (i = 0; i < (size_t)p.M * p.ldc; i++)
                if ((int)(i % p.ldc) < p.N && isnan(out[i])) bad++;
            CHECK(bad == 0, "%s beta=0 with NaN C: %d NaN outputs", fast ? "gemm" : "gemm_naive",
                  bad);
        } else {
            CHECK(0, "out of memory");
        }
        free(out);
        free_problem(&p);
    }
}

/* Results for 1, 2 and 3 threads are bit-identical (and equal to naive). */
static void check_threads(unsigned long long *seed)
{
#ifdef _OPENMP
    problem p;
    int t, ta, saved = omp_get_max_threads();
    for (ta = 0; ta < 2; ta++) {
        real *ref, *out;
        if (!make_problem(&p, ta, 1 - ta, 97, 300, 400, 1, -0.75, 0.5, seed)) {
            CHECK(0, "out of memory");
            free_problem(&p);
            return;
        }
        ref = malloc(p.nc * sizeof(real));
        out = malloc(p.nc * sizeof(real));
        if (ref && out) {
            run(&p, 0, ref);
            for (t = 1; t <= 3; t++) {
                omp_set_num_threads(t);
                run(&p, 1, out);
                CHECK(memcmp(ref, out, p.nc * sizeof(real)) == 0,
                      "ta=%d: gemm with %d threads differs from gemm_naive", ta, t);
            }
        } else {
            CHECK(0, "out of memory");
        }
        omp_set_num_threads(saved);
        free(ref); free(out);
        free_problem(&p);
    }
#else
    (void)seed;
    test_skip("thread counts 1, 2, 3: built without OpenMP");
#endif
}

/* A 2x3 by 3x2 product worked by hand. */
static void check_by_hand(void)
{
    const real A[6] = {1, 2, 3, 4, 5, 6};       /* 2x3 */
    const real B[6] = {7, 8, 9, 10, 11, 12};    /* 3x2 */
    const real want[4] = {58, 64, 139, 154};    /* A*B */
    real C[4] = {1, 1, 1, 1}, D[4] = {1, 1, 1, 1};
    gemm(0, 0, 2, 2, 3, 1, A, 3, B, 2, 0, C, 2);
    CHECK(memcmp(C, want, sizeof C) == 0, "2x3*3x2 = [58 64; 139 154], got [%g %g; %g %g]",
          (double)C[0], (double)C[1], (double)C[2], (double)C[3]);
    gemm(1, 1, 2, 2, 3, 2, B, 2, A, 3, -1, D, 2); /* 2*(B^T A^T) - 1 = 2*(A B)^T - 1 */
    CHECK(D[0] == 115 && D[1] == 277 && D[2] == 127 && D[3] == 307,
          "2*B^T*A^T - 1 = [115 277; 127 307], got [%g %g; %g %g]", (double)D[0], (double)D[1],
          (double)D[2], (double)D[3]);
}

/* The narrower micro-kernels of a run-time dispatching build (LSD_GEMM_KERNEL caps the
 * choice; the widest is what the checks above ran): the same bit-identity to gemm_naive. */
static void check_kernels(unsigned long long *seed)
{
    static const char *caps[] = {"base", "avx2"};
    const char *saved = getenv("LSD_GEMM_KERNEL");
    int i, ta, tb;
    if (saved) {
        test_skip("kernel variants: LSD_GEMM_KERNEL=%s is set", saved);
        return;
    }
    for (i = 0; i < 2; i++) {
        setenv("LSD_GEMM_KERNEL", caps[i], 1);
        for (ta = 0; ta < 2; ta++)
            for (tb = 0; tb < 2; tb++) {
                check_case(ta, tb, 31, 97, 600, 2, 1, 0, seed);
                check_case(ta, tb, 211, 300, 37, 5, -1, 0.5, seed);
                check_case(ta, tb, 263, 45, 37, 1, 1, 1, seed);
                check_case(ta, tb, 13, 7, 517, 0, 0.5, 1, seed);
            }
        unsetenv("LSD_GEMM_KERNEL");
    }
}

/* The kernels to check: the one LSD_GEMM_KERNEL names when it is set, else each one this
 * build and CPU run (gemm_check_env accepts it). Returns their number. */
static int runnable_kernels(const char *names[3])
{
    static const char *all[] = {"base", "avx2", "avx512"};
    const char *set = getenv("LSD_GEMM_KERNEL");
    int i, n = 0;
    if (set && *set) {
        names[0] = set;
        return 1;
    }
    for (i = 0; i < 3; i++) {
        setenv("LSD_GEMM_KERNEL", all[i], 1);
        if (gemm_check_env(NULL) == LSD_OK) names[n++] = all[i];
    }
    unsetenv("LSD_GEMM_KERNEL");
    return n;
}

/* One problem on every kernel and with 1, 2 and 3 threads (one check): each result is
 * bit-identical to gemm_naive's. */
static void check_paths(int ta, int tb, int M, int N, int K, int pad, double alpha, double beta,
                        unsigned long long *seed)
{
    const char *kernels[3], *env = getenv("LSD_GEMM_KERNEL");
    int nk = runnable_kernels(kernels), set = env && *env, i, t, maxthr = 1, bad_t = 0;
    const char *bad_k = NULL;
    problem p;
    real *ref, *out;
#ifdef _OPENMP
    int saved = omp_get_max_threads();
    maxthr = 3;
#endif
    if (!make_problem(&p, ta, tb, M, N, K, pad, alpha, beta, seed)) {
        CHECK(0, "gemm ta=%d tb=%d %dx%dx%d: out of memory", ta, tb, M, N, K);
        free_problem(&p);
        return;
    }
    ref = malloc(p.nc * sizeof(real));
    out = malloc(p.nc * sizeof(real));
    if (ref && out) {
        run(&p, 0, ref);
        for (i = 0; i < nk && !bad_k; i++) {
            if (!set) setenv("LSD_GEMM_KERNEL", kernels[i], 1);
            for (t = 1; t <= maxthr && !bad_k; t++) {
#ifdef _OPENMP
                omp_set_num_threads(t);
#endif
                run(&p, 1, out);
                if (memcmp(ref, out, p.nc * sizeof(real)) != 0) {
                    bad_k = kernels[i];
                    bad_t = t;
                }
            }
        }
        if (!set) unsetenv("LSD_GEMM_KERNEL");
        CHECK(!bad_k, "gemm ta=%d tb=%d %dx%dx%d pad=%d alpha=%g beta=%g: kernel %s with %d "
              "thread(s) is not bit-identical to gemm_naive", ta, tb, M, N, K, pad, alpha, beta,
              bad_k ? bad_k : "-", bad_t);
    } else {
        CHECK(0, "gemm ta=%d tb=%d %dx%dx%d: out of memory", ta, tb, M, N, K);
    }
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
    free(ref); free(out);
    free_problem(&p);
}

/* The convolutions' shapes (layers/conv.c; the demo's channels 4..32 and bands of pixels,
 * narrowed): forward gemm(0,0, CG, pixels, C*K*K), weight gradient gemm(0,1, CG, C*K*K,
 * pixels) with beta 1, image pass gemm(1,0, C*K*K, pixels, CG), as large as gemm needs to
 * run them on several threads (2 M N K >= 4e6; without OpenMP, a quarter of the pixels);
 * then each with the other transposes and the other beta, a quarter of the pixels. Then
 * every small M (1..9, 15, 16, 17: exact tiles, partial strips) with odd N, every
 * transpose, both betas. The pixels are few enough for the cross-compiled tests (qemu). */
static void check_conv_shapes(unsigned long long *seed)
{
    static const int shapes[][5] = {
        /* ta, tb, M, N, K */
        {0, 0, 4, 20011, 27}, {0, 0, 4, 2711, 192}, {0, 0, 8, 7001, 36},
        {0, 0, 16, 911, 144}, {0, 0, 32, 229, 288},
        {0, 1, 4, 27, 20011}, {0, 1, 4, 36, 14507}, {0, 1, 4, 192, 2657},
        {0, 1, 8, 72, 3571}, {0, 1, 16, 144, 1021}, {0, 1, 32, 288, 229},
        {1, 0, 192, 2711, 4}, {1, 0, 100, 2633, 8}, {1, 0, 200, 331, 32}};
    static const int small_m[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17};
    static const int nk[][2] = {{101, 300}, {37, 520}};
#ifdef _OPENMP
    const int cut = 1;
#else
    const int cut = 4;
#endif
    int s, v, m, c = 0;
    for (s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
        for (v = 0; v < 4; v++) {
            /* v = 0 as the convolution calls it (beta 1 for the weight gradient, else 0);
             * v = 1, 2, 3 with A, B, both transposed the other way, and the other beta */
            const int *h = shapes[s];
            int ta = (v & 1) ? !h[0] : h[0], tb = (v & 2) ? !h[1] : h[1];
            int div = v ? 4 * cut : cut, pixels = h[1] ? 4 : 3; /* the index of the pixels */
            int N = pixels == 3 ? h[3] / div : h[3], K = pixels == 4 ? h[4] / div : h[4];
            double beta = (v == 0) == (h[1] == 1) ? 1 : 0;
            check_paths(ta, tb, h[2], N, K, v == 3 ? 3 : 0, 1, beta, seed);
        }
    for (m = 0; m < (int)(sizeof small_m / sizeof small_m[0]); m++)
        for (v = 0; v < 4; v++, c++) /* each transpose meets both (N, K) and both betas */
            check_paths(v & 1, v >> 1, small_m[m], nk[(m + v) % 2][0], nk[(m + v) % 2][1], c % 3,
                        c % 5 ? 1 : -0.5, (m + v / 2) % 2, seed);
}

/* gemm's ways with op(A) and its tiles, on every kernel and thread count: op(A) read in
 * place when N is at most two strips of columns (fc6 at 64x128: 15 columns; a weight
 * gradient with 27), but packed when its rows are a multiple of 4 KB apart (1024 floats);
 * packed once for all of a thread's tiles of a row block (two row blocks of 135 rows,
 * several tiles of columns each, two k blocks); op(B) packed once for all of a thread's row
 * blocks where there is one range of columns (300x100x700: two row blocks, three k blocks,
 * the last shorter); few tiles cut into tiles of one strip, then of fewer rows (64x27,
 * 128x48, with a long K). */
static void check_a_paths(unsigned long long *seed)
{
    static const int shapes[][3] = {{256, 15, 1200}, {64, 27, 3000}, {128, 48, 1500},
                                    {40, 20, 1024}, {270, 600, 260}, {300, 100, 700}};
    int s, v;
    for (s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
        for (v = 0; v < 4; v++)
            check_paths(v & 1, v >> 1, shapes[s][0], shapes[s][1], shapes[s][2], (s + v) % 3,
                        s % 2 ? -0.5 : 1, v % 3 ? 1 : 0, seed);
}

int main(void)
{
    static const int sizes[] = {0, 1, 2, 7, 13, 31, 97};
    static const double alphas[] = {1, -0.5, 0, 2};
    static const double betas[] = {0, 1, -1.25, 0.5};
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    unsigned long long seed = 0x9E3779B97F4A7C15ull;
    int c = 0, ta, tb, big;
    test_begin("gemm");
    check_by_hand();

    /* Small and prime shapes, every transpose, varied alpha/beta and padding. */
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++) {
            int n;
            for (n = 0; n < 14; n++, c++) {
                int M = sizes[(c * 3 + 1) % nsizes], N = sizes[(c * 5 + 2) % nsizes];
                int K = sizes[(c * 2 + n) % nsizes];
                check_case(ta, tb, M, N, K, c % 3 == 0 ? 0 : 1 + c % 5, alphas[c % 4],
                           betas[(c / 4) % 4], &seed);
            }
        }
    /* Shapes beyond the cache blocks, a long k (3000) and a wide N. */
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++) {
            check_case(ta, tb, 31, 97, 3000, 2, 1, 0, &seed);
            check_case(ta, tb, 211, 300, 37, 5, -1, 0.5, &seed);
            check_case(ta, tb, 263, 45, 37, 1, 1, 1, &seed); /* two macro tiles of rows */
            check_case(ta, tb, 13, 1, 517, 0, 0.5, 1, &seed);
            check_case(ta, tb, 1, 263, 300, 1, 1, -1, &seed);
        }
    big = getenv("LSD_SLOW") != NULL;
    if (big) {
        check_case(0, 0, 1024, 523, 1100, 3, 1, 0, &seed);
        check_case(1, 1, 257, 2049, 780, 7, -2, 0.25, &seed);
        check_case(0, 1, 131, 1100, 3000, 1, 1, 0, &seed);
    } else {
        test_skip("1024x523x1100, 257x2049x780 and 131x1100x3000 run with LSD_SLOW=1");
    }
    check_nan_c(&seed);
    check_threads(&seed);
    check_kernels(&seed);
    check_conv_shapes(&seed);
    check_a_paths(&seed);
    return test_summary();
}
