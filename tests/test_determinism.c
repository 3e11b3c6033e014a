/*
 * test_determinism.c - the exact bits of a fixed workload are the same on every
 * platform: x86-64's are the reference that every other host must reproduce.
 *
 * Four parts, each hashed with FNV-1a 64 over the bytes of every value written
 * in little-endian order (so the hash itself does not depend on the host's byte
 * order): "rng" (Philox words, uniform and normal draws from several streams,
 * fills into `real`), "mathfn" (our exp, log, tanh, sigmoid, pow, sin, cos, sqrt
 * on fixed grids), "gemm" (gemm_naive on fixed shapes with RNG inputs, all
 * four transpose cases; the fast gemm must equal it bit for bit) and "train", what users
 * care about: a small model (vgg 2, fc 16, ngf 2, ndf 4, 5 classes, 32x32, batch 2) from
 * lsd_model_init, three lsd_step iterations with dropout on, two source-only iterations of a
 * second model, then an inference; hashed over every loss, every parameter and both Adam
 * moments of F, G and D, and the inference's scores.
 *
 * "train" must also come out the same for 1, 2, 3 and 4 threads, for each gemm kernel this
 * CPU runs (LSD_GEMM_KERNEL) and with the direct convolutions on and off (LSD_CONV_DIRECT):
 * the program runs it under each and compares. .ci/run and `make check-slow` run this test
 * with gcc, clang and tcc, OpenMP on and off, float and double, and under qemu-user on
 * s390x, aarch64, riscv64 and i686 (docs/conventions.md, "Same bits everywhere").
 *
 * The "train" references changed with the per-sample batches of lsd_step (gan/lsd.c,
 * "Samples": a batch's gradient is now the sum of its samples' gradients in sample order;
 * float 0x8a86f73f3459d630 -> 0x26d1d7b29e00e9cb, double 0x2c728f5bf8643077 ->
 * 0xb9a1ecff712a40bd). The new ones were confirmed before recording with gcc, clang and tcc
 * (float and double), OMP_NUM_THREADS=1, 2, 3 and 4, LSD_GEMM_KERNEL=base and =avx2 (and the
 * default avx512), and under qemu-user on aarch64 and s390x (float and double).
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
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../gan/lsd.h"
#include "../layers/conv.h"
#include "../tensor/gemm.h"
#include "../tensor/mathfn.h"
#include "../tensor/rng.h"
#include "harness.h"

/* Reference hashes recorded on x86-64: rng, mathfn, gemm, train. */
#ifdef LSD_DOUBLE
static const uint64_t REFERENCE[4] = {0xf8b80635969fff6eULL, 0x8af7820ff7c354b7ULL,
                                      0xc50ac2aa211abe81ULL, 0xb9a1ecff712a40bdULL};
#else
static const uint64_t REFERENCE[4] = {0x1a8bf94d88663091ULL, 0x8af7820ff7c354b7ULL,
                                      0xe625c5fe7b0e31c9ULL, 0x26d1d7b29e00e9cbULL};
#endif
static const char *const PART_NAMES[4] = {"rng", "mathfn", "gemm", "train"};

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

/* The parameters and Adam moments of an arena, in that order. */
static uint64_t hash_arena(uint64_t h, const ParamArena *a)
{
    h = hash_reals(h, a->param, a->total);
    h = hash_reals(h, a->m, a->total);
    return hash_reals(h, a->v, a->total);
}

/* Part 4: a short training run of a small model (see the top comment); 0 on a failure. */
static uint64_t hash_train(void)
{
    const int N = 2, H = 32, W = 32;
    const size_t n = (size_t)N * 3 * H * W, npix = (size_t)N * H * W;
    LsdConfig c;
    LsdModel m, so;
    LsdWork work, wso, wi;
    LsdStepOptions o = lsd_step_defaults();
    LsdBatch b;
    LsdLosses L;
    lsd_err err;
    uint64_t h = FNV_BASIS;
    real *x = (real *)test_alloc(4 * n * sizeof(real));
    uint8_t *ys = (uint8_t *)test_alloc(npix);
    size_t i;
    int it, ok = 1;
    c.vgg = 2, c.fc = 16, c.ngf = 2, c.ndf = 4, c.n_class = 5;
    /* inputs from the counter RNG: images, D's [0, 1] images, labels with some 255 */
    rng_fill_uniform(x, n, (real)-100, (real)100, 11, 1, 0);
    rng_fill_uniform(x + n, n, (real)-100, (real)100, 11, 2, 0);
    rng_fill_uniform(x + 2 * n, n, (real)0, (real)1, 11, 3, 0);
    rng_fill_uniform(x + 3 * n, n, (real)0, (real)1, 11, 4, 0);
    for (i = 0; i < npix; i++) {
        uint64_t k = rng_below(11, 5, (uint64_t)i, (uint64_t)c.n_class + 1);
        ys[i] = (uint8_t)(k == (uint64_t)c.n_class ? 255 : k);
    }
    b.xs = x, b.xt = x + n, b.xs01 = x + 2 * n, b.xt01 = x + 3 * n, b.ys = ys;
    o.seed = 20180618;
    o.dropout = LSD_DROPOUT_RNG;
    if (lsd_model_create(&m, &c, &err) || lsd_model_create(&so, &c, &err) ||
        lsd_work_create(&work, &c, N, H, W, LSD_WORK_TRAIN, &err) ||
        lsd_work_create(&wso, &c, N, H, W, LSD_WORK_SOURCE_ONLY, &err) ||
        lsd_work_create(&wi, &c, N, H, W, LSD_WORK_INFER, &err))
        test_die("train set-up", &err);
    ok &= CHECK(lsd_model_init(&m, 7, NULL, &err) == LSD_OK, "init: %s", err.msg);
    ok &= CHECK(lsd_model_init(&so, 7, NULL, &err) == LSD_OK, "init: %s", err.msg);
    for (it = 0; ok && it < 3; it++) {
        ok &= CHECK(lsd_step(&m, &work, &b, &o, &L, &err) == LSD_OK, "lsd_step: %s", err.msg);
        h = hash_double(h, L.loss_D);
        h = hash_double(h, L.loss_G);
        h = hash_double(h, L.loss_F);
        h = hash_double(h, L.loss_seg);
    }
    for (it = 0; ok && it < 2; it++) {
        double loss = 0;
        ok &= CHECK(lsd_step_source_only(&so, &wso, &b, &o, &loss, &err) == LSD_OK,
                    "lsd_step_source_only: %s", err.msg);
        h = hash_double(h, loss);
    }
    h = hash_arena(h, &m.F.pa);
    h = hash_arena(h, &m.G.pa);
    h = hash_arena(h, &m.D.pa);
    h = hash_arena(h, &so.F.pa);
    lsd_infer(&m, &wi, b.xt);
    h = hash_reals(h, wi.ca.score, (size_t)N * c.n_class * H * W);
    lsd_work_free(&wi);
    lsd_work_free(&wso);
    lsd_work_free(&work);
    lsd_model_free(&so);
    lsd_model_free(&m);
    free(ys);
    free(x);
    return ok ? h : 0;
}

/* Runs hash_train again with each thread count (1, 2, 3, 4), gemm kernel and convolution path
 * this build and CPU can force, other than the default run's, and checks that each gives
 * `ref` (the default run's hash). */
static void train_variants(uint64_t ref)
{
    static const char *const kernels[] = {"base", "avx2", "avx512"};
    const char *saved_kernel = getenv("LSD_GEMM_KERNEL"), *saved_direct = getenv("LSD_CONV_DIRECT");
    const char *kernel0 = gemm_kernel_name();
    char what[64];
    lsd_err err;
    int k, direct0 = conv_direct_on(), runs = 0;
#ifdef _OPENMP
    int t, threads0 = omp_get_max_threads();
    for (t = 1; t <= 4; t++) { /* 4: lsd_step's two lanes with two threads each (nested) */
        uint64_t got;
        if (t == threads0) continue;
        test_set_threads(t);
        got = hash_train();
        runs++;
        CHECK(got == ref, "train with %d thread(s): hash 0x%016llx, with %d 0x%016llx", t,
              (unsigned long long)got, threads0, (unsigned long long)ref);
    }
    test_set_threads(threads0);
#endif
    for (k = 0; k < 3 && !saved_kernel; k++) {
        uint64_t got;
        if (!strcmp(kernels[k], kernel0)) continue;
        setenv("LSD_GEMM_KERNEL", kernels[k], 1);
        if (gemm_check_env(&err) != LSD_OK || strcmp(gemm_kernel_name(), kernels[k])) continue;
        got = hash_train();
        runs++;
        CHECK(got == ref, "train with LSD_GEMM_KERNEL=%s: hash 0x%016llx, with the %s kernel "
              "0x%016llx", kernels[k], (unsigned long long)got, kernel0, (unsigned long long)ref);
    }
    if (!saved_kernel) unsetenv("LSD_GEMM_KERNEL");
    if (!saved_direct) {
        uint64_t got;
        setenv("LSD_CONV_DIRECT", direct0 ? "0" : "1", 1);
        got = hash_train();
        runs++;
        CHECK(got == ref, "train with LSD_CONV_DIRECT=%d: hash 0x%016llx, with %d 0x%016llx",
              !direct0, (unsigned long long)got, direct0, (unsigned long long)ref);
        unsetenv("LSD_CONV_DIRECT");
    }
    snprintf(what, sizeof what, "%s kernel, direct convolutions %s", kernel0, direct0 ? "on" : "off");
    printf("determinism: train: %d more runs (other thread counts, gemm kernels, convolution "
           "path) gave the hash of the default run (%s)\n", runs, what);
}

int main(void)
{
    uint64_t got[4];
    int p, print = getenv("LSD_PRINT_HASHES") != NULL;
    test_begin("determinism");
    got[0] = hash_rng();
    got[1] = hash_mathfn();
    got[2] = hash_gemm();
    got[3] = hash_train();
    for (p = 0; p < 4; p++) {
        printf("determinism: %-6s %s hash 0x%016llx (x86-64 reference 0x%016llx)\n", PART_NAMES[p],
               LSD_PRECISION_NAME, (unsigned long long)got[p], (unsigned long long)REFERENCE[p]);
        CHECK(got[p] == REFERENCE[p], "%s (%s): hash 0x%016llx, x86-64 gave 0x%016llx",
              PART_NAMES[p], LSD_PRECISION_NAME, (unsigned long long)got[p],
              (unsigned long long)REFERENCE[p]);
    }
    train_variants(got[3]);
    if (print)
        printf("static const uint64_t REFERENCE[4] = {0x%016llxULL, 0x%016llxULL, 0x%016llxULL,\n"
               "                                      0x%016llxULL};\n",
               (unsigned long long)got[0], (unsigned long long)got[1],
               (unsigned long long)got[2], (unsigned long long)got[3]);
    return test_summary();
}
