/*
 * bench_gemm.c - GFLOP/s of gemm on the shapes of the network's convolutions,
 * with 1 and 2 threads, beside Debian's OpenBLAS (loaded at run time with
 * dlopen, never a build dependency). Prints CSV rows
 *     bench,case,threads,impl,value,unit
 * to stdout and progress to stderr. Time per case: two warm-up runs, then the
 * best of 2 to 10 runs (as many as fit in about a second; a third of that for the
 * "demo" and "conv" groups). Usage: bench_gemm [substring-of-case-names [max-threads]].
 * The "demo" cases are the demo's convolutions at 64x128 (262x326 maps after conv1_1's
 * padding, channels 4..32), as layers/conv.c calls gemm: forward gemm(0,0, CG, band
 * pixels, C*K*K), weight gradient gemm(0,1, CG, C*K*K, band pixels) with beta 1, image
 * pass gemm(1,0, C*K*K, band pixels, CG); names read "demo TT MxNxK" (T: n or t). The
 * "conv" cases are larger layers' shapes (below), named the same way.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../tensor/gemm.h"

/* cblas_sgemm / cblas_dgemm: order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc */
typedef void (*cblas_gemm_fn)(int, int, int, int, int, int, real, const real *, int, const real *,
                              int, real, real *, int);
typedef void (*set_threads_fn)(int);
#define CBLAS_ROW_MAJOR 101
#define CBLAS_NO_TRANS 111
#define CBLAS_TRANS 112

/* OpenBLAS entry points, or NULLs when the library is not there. */
typedef struct {
    void *lib;
    cblas_gemm_fn gemm;
    set_threads_fn set_threads;
} openblas;

/* Wall-clock seconds from a monotonic clock. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Looks up a symbol as a function pointer (copied, since C forbids the cast). */
static int lookup(void *lib, const char *name, void *fn, size_t size)
{
    void *sym = dlsym(lib, name);
    if (!sym) return 0;
    memcpy(fn, &sym, size);
    return 1;
}

/* Opens libopenblas.so.0; returns 0 (with a note on stderr) when it is missing. */
static int openblas_open(openblas *ob)
{
#ifdef LSD_DOUBLE
    const char *name = "cblas_dgemm";
#else
    const char *name = "cblas_sgemm";
#endif
    memset(ob, 0, sizeof *ob);
    ob->lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!ob->lib) {
        fprintf(stderr, "bench_gemm: OpenBLAS not found (%s); its rows are left out\n",
                dlerror());
        return 0;
    }
    if (!lookup(ob->lib, name, &ob->gemm, sizeof ob->gemm) ||
        !lookup(ob->lib, "openblas_set_num_threads", &ob->set_threads, sizeof ob->set_threads)) {
        fprintf(stderr, "bench_gemm: libopenblas.so.0 lacks %s or openblas_set_num_threads\n",
                name);
        dlclose(ob->lib);
        memset(ob, 0, sizeof *ob);
        return 0;
    }
    return 1;
}

/* One gemm shape: C (M x N) = op(A) op(B) + beta C, A and B stored without padding. */
typedef struct {
    const char *group; /* "" or "demo" (the name then reads "demo TT MxNxK") */
    int ta, tb, M, N, K;
    double beta;
} shape;

/* One timed call of the chosen implementation. */
static double time_once(const openblas *ob, const shape *s, const real *A, const real *B,
                        real *C)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double t0 = now();
    if (ob)
        ob->gemm(CBLAS_ROW_MAJOR, s->ta ? CBLAS_TRANS : CBLAS_NO_TRANS,
                 s->tb ? CBLAS_TRANS : CBLAS_NO_TRANS, s->M, s->N, s->K, (real)1, A, lda, B, ldb,
                 (real)s->beta, C, s->N);
    else
        gemm(s->ta, s->tb, s->M, s->N, s->K, (real)1, A, lda, B, ldb, (real)s->beta, C, s->N);
    return now() - t0;
}

/* Best of 2 to 10 timed runs after two warm-ups, stopping once `budget` seconds are spent
 * (with beta != 0 C grows a little from run to run, which does not change the time). */
static double best_time(const openblas *ob, const shape *s, const real *A, const real *B,
                        real *C, double budget)
{
    double best = 1e300, spent = 0, t;
    int r;
    time_once(ob, s, A, B, C);
    time_once(ob, s, A, B, C);
    for (r = 0; r < 10 && (r < 2 || spent < budget); r++) {
        t = time_once(ob, s, A, B, C);
        spent += t;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    static const shape shapes[] = {
        {"", 0, 0, 1024, 1024, 1024, 0}, {"", 0, 0, 64, 5120, 576, 0},
        {"", 0, 0, 128, 51200, 1152, 0}, {"", 0, 0, 16, 8192, 144, 0},
        {"", 0, 0, 4096, 231, 25088, 0},
        /* forward: gemm(0,0, CG, pixels of a band, C*K*K) */
        {"demo", 0, 0, 4, 38794, 27, 0}, {"demo", 0, 0, 4, 29014, 36, 0},
        {"demo", 0, 0, 4, 5313, 192, 1}, {"demo", 0, 0, 8, 21353, 36, 0},
        {"demo", 0, 0, 8, 14507, 72, 0}, {"demo", 0, 0, 16, 2145, 144, 0},
        {"demo", 0, 0, 16, 5412, 144, 1}, {"demo", 0, 0, 32, 1353, 288, 0},
        {"demo", 0, 0, 32, 357, 288, 1},
        /* weight gradient: gemm(0,1, CG, C*K*K, pixels of a band), accumulated */
        {"demo", 0, 1, 4, 27, 38794, 1}, {"demo", 0, 1, 4, 36, 29014, 1},
        {"demo", 0, 1, 4, 192, 5313, 1}, {"demo", 0, 1, 8, 72, 14507, 1},
        {"demo", 0, 1, 16, 144, 2145, 1}, {"demo", 0, 1, 32, 288, 1353, 1},
        /* image pass (strides > 1): gemm(1,0, C*K*K, pixels of a band, CG) */
        {"demo", 1, 0, 192, 5313, 4, 0}, {"demo", 1, 0, 100, 5265, 8, 0},
        {"demo", 1, 0, 200, 1353, 32, 0},
        /* a band of D's 3x3 convolution at 161x321 (2 rows of 321 pixels), forward and
         * weight gradient; fc6 of the reduced networks at 64x128 (3x5 = 15 pixels) */
        {"conv", 0, 0, 128, 642, 1152, 0}, {"conv", 0, 1, 128, 1152, 642, 1},
        {"conv", 0, 0, 256, 15, 6272, 0}};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    const char *filter = argc > 1 && argv[1][0] ? argv[1] : NULL;
    int maxthr = argc > 2 ? atoi(argv[2]) : 2;
    openblas ob;
    int have_ob = openblas_open(&ob), s, threads;
    for (s = 0; s < nshapes; s++) {
        const shape *sh = &shapes[s];
        int M = sh->M, N = sh->N, K = sh->K;
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N, i;
        real *A, *B, *C, *D;
        double flops = 2.0 * M * N * K, budget = sh->group[0] ? 0.3 : 1.0;
        unsigned int x = 12345u;
        char name[64];
        if (sh->group[0])
            sprintf(name, "%s %c%c %dx%dx%d", sh->group, sh->ta ? 't' : 'n', sh->tb ? 't' : 'n',
                    M, N, K);
        else
            sprintf(name, "%dx%dx%d", M, N, K);
        if (filter && !strstr(name, filter)) continue;
        A = malloc(na * sizeof(real)); B = malloc(nb * sizeof(real));
        C = calloc(nc, sizeof(real)); D = calloc(nc, sizeof(real));
        if (!A || !B || !C || !D) {
            fprintf(stderr, "bench_gemm: out of memory for %s\n", name);
            free(A); free(B); free(C); free(D);
            return 1;
        }
        for (i = 0; i < na; i++) A[i] = (real)((x = x * 1103515245u + 12345u) >> 16) / 65536 - 0.5f;
        for (i = 0; i < nb; i++) B[i] = (real)((x = x * 1103515245u + 12345u) >> 16) / 65536 - 0.5f;
        for (threads = 1; threads <= maxthr; threads++) {
            double t;
#ifdef _OPENMP
            omp_set_num_threads(threads);
#else
            if (threads > 1) {
                fprintf(stderr, "bench_gemm: built without OpenMP; %s with %d threads left out\n",
                        name, threads);
                continue;
            }
#endif
            fprintf(stderr, "bench_gemm: %s, %d thread(s)\n", name, threads);
            memset(C, 0, nc * sizeof(real));
            t = best_time(NULL, sh, A, B, C, budget);
            printf("gemm,%s,%d,lsdseg,%.2f,GFLOP/s\n", name, threads, flops / t * 1e-9);
            fflush(stdout);
            if (have_ob) {
                double worst = 0;
                ob.set_threads(threads);
                memset(D, 0, nc * sizeof(real));
                t = best_time(&ob, sh, A, B, D, budget);
                printf("gemm,%s,%d,openblas,%.2f,GFLOP/s\n", name, threads, flops / t * 1e-9);
                fflush(stdout);
                /* with beta != 0, C holds the sum of a different number of runs */
                for (i = 0; i < nc && sh->beta == 0; i++) {
                    double d = (double)C[i] - (double)D[i];
                    if (d < 0) d = -d;
                    if (d > worst) worst = d;
                }
                if (worst > 1e-3 * (1 + K / 1000.0))
                    fprintf(stderr, "bench_gemm: %s: lsdseg and OpenBLAS differ by %g\n", name,
                            worst);
            }
        }
        free(A); free(B); free(C); free(D);
    }
    if (have_ob) dlclose(ob.lib);
    return 0;
}
