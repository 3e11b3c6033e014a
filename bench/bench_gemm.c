/*
 * bench_gemm.c - GFLOP/s of gemm on the shapes of the network's convolutions,
 * with 1 and 2 threads, beside Debian's OpenBLAS (loaded at run time with
 * dlopen, never a build dependency). Prints CSV rows
 *     bench,case,threads,impl,value,unit
 * to stdout and progress to stderr. Time per case: two warm-up runs, then the
 * best of 2 to 10 runs (as many as fit in about a second).
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

/* One timed call of the chosen implementation. */
static double time_once(const openblas *ob, int M, int N, int K, const real *A, const real *B,
                        real *C)
{
    double t0 = now();
    if (ob)
        ob->gemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, M, N, K, (real)1, A, K, B, N,
                 (real)0, C, N);
    else
        gemm(0, 0, M, N, K, (real)1, A, K, B, N, (real)0, C, N);
    return now() - t0;
}

/* Best of 2 to 10 timed runs after two warm-ups, stopping once `budget` seconds are spent. */
static double best_time(const openblas *ob, int M, int N, int K, const real *A, const real *B,
                        real *C, double budget)
{
    double best = 1e300, spent = 0, t;
    int r;
    time_once(ob, M, N, K, A, B, C);
    time_once(ob, M, N, K, A, B, C);
    for (r = 0; r < 10 && (r < 2 || spent < budget); r++) {
        t = time_once(ob, M, N, K, A, B, C);
        spent += t;
        if (t < best) best = t;
    }
    return best;
}

int main(void)
{
    static const int shapes[][3] = {
        {1024, 1024, 1024}, {64, 5120, 576}, {128, 51200, 1152}, {16, 8192, 144}, {4096, 231, 25088}};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    openblas ob;
    int have_ob = openblas_open(&ob), s, threads;
    for (s = 0; s < nshapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N, i;
        real *A = malloc(na * sizeof(real)), *B = malloc(nb * sizeof(real));
        real *C = malloc(nc * sizeof(real)), *D = malloc(nc * sizeof(real));
        double flops = 2.0 * M * N * K;
        unsigned int x = 12345u;
        char name[64];
        if (!A || !B || !C || !D) {
            fprintf(stderr, "bench_gemm: out of memory for %dx%dx%d\n", M, N, K);
            free(A); free(B); free(C); free(D);
            return 1;
        }
        for (i = 0; i < na; i++) A[i] = (real)((x = x * 1103515245u + 12345u) >> 16) / 65536 - 0.5f;
        for (i = 0; i < nb; i++) B[i] = (real)((x = x * 1103515245u + 12345u) >> 16) / 65536 - 0.5f;
        sprintf(name, "%dx%dx%d", M, N, K);
        for (threads = 1; threads <= 2; threads++) {
            double t;
#ifdef _OPENMP
            omp_set_num_threads(threads);
#else
            if (threads > 1) {
                fprintf(stderr, "bench_gemm: built without OpenMP; %s with 2 threads left out\n",
                        name);
                continue;
            }
#endif
            fprintf(stderr, "bench_gemm: %s, %d thread(s)\n", name, threads);
            t = best_time(NULL, M, N, K, A, B, C, 1.0);
            printf("gemm,%s,%d,lsdseg,%.2f,GFLOP/s\n", name, threads, flops / t * 1e-9);
            fflush(stdout);
            if (have_ob) {
                double worst = 0;
                ob.set_threads(threads);
                t = best_time(&ob, M, N, K, A, B, D, 1.0);
                printf("gemm,%s,%d,openblas,%.2f,GFLOP/s\n", name, threads, flops / t * 1e-9);
                fflush(stdout);
                for (i = 0; i < nc; i++) {
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
