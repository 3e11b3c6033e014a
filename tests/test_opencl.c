/*
 * test_opencl.c - the OpenCL backend (opencl/) against the C reference (layers/, tensor/).
 *
 * Built always; without OPENCL=1 it skips visibly, and with OPENCL=1 but no OpenCL
 * platform too. Otherwise it opens device $LSD_CL_DEVICE of platform $LSD_CL_PLATFORM
 * (default 0, 0) and runs every kernel on random inputs beside its C function:
 *  1. runtime: build failure with the log in the message, missing kernel folder, bad
 *     indices, buffer views and helpers;
 *  2. gemm in the four transpose combinations, odd sizes, offsets, beta 0 and not;
 *  3. conv2d / convt forward and backward in the networks' configurations (3x3 pad 1,
 *     conv1_1's pad 100, fc6's 7x7, 1x1, D's 4x4 stride 2, FCN's 4/2 and 16/8 upscores,
 *     G's 8/2 pad 100 output) and a shape that needs several im2col bands;
 *  4. max pooling (exact, with ties and clipped windows), activations, dropout (masks
 *     bit-identical), crop, concat, instance norm, losses, Adam (bit-identical when the
 *     device rounds sqrt and division correctly), vector helpers; determinism of reruns.
 *
 * Tolerances: |got - ref| <= atol + rtol*|ref| with rtol = 1e-4 and, for a sum of T products
 * of factors bounded by A and B, atol = 4*T*eps*A*B (eps = FLT_EPSILON): the device and the
 * C code sum in different orders (tiles, fma) and each may be off by T*eps*A*B. Element-wise
 * ops with no reordering are compared with atol 1e-6 (transcendentals) or exactly.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#ifndef LSD_OPENCL

int main(void)
{
    test_begin("opencl");
    test_skip("built without OPENCL=1: the OpenCL backend is not compiled (make OPENCL=1)");
    return test_summary();
}

#else

#include "../layers/activation.h"
#include "../layers/conv.h"
#include "../layers/dropout.h"
#include "../layers/loss.h"
#include "../layers/norm.h"
#include "../layers/optim.h"
#include "../layers/pool.h"
#include "../layers/shape.h"
#include "../opencl/cl.h"
#include "../opencl/ops.h"
#include "../tensor/gemm.h"

#define RTOL 1e-4

/* n zeroed floats (at least one); the program ends when memory is short. */
static float *alloc_f(size_t n) { return (float *)test_alloc(n * sizeof(float)); }

/* n new pseudo-random floats in [-1, 1) (test_fill_random; the OpenCL build is float). */
static float *rnd(size_t n, unsigned long seed)
{
    float *p = alloc_f(n);
    test_fill_random(p, n, seed);
    return p;
}

static double sum_atol(double T, double a, double b) { return 4.0 * T * FLT_EPSILON * a * b + 1e-30; }

/* A device copy of x (n floats). */
static lsd_clbuf up(lsd_cl *cl, const float *x, size_t n)
{
    lsd_clbuf b;
    lsd_err err;
    if (lsd_clbuf_from_host(cl, &b, x, n, &err)) test_die("upload", &err);
    return b;
}

/* Reads n floats of b and compares them with ref. */
static int close_dev(lsd_cl *cl, const char *name, const lsd_clbuf *b, const float *ref,
                     size_t n, double atol, double rtol)
{
    float *got = alloc_f(n);
    lsd_err err;
    int ok;
    if (lsd_clbuf_read(cl, b, 0, got, n, &err)) test_die("read back", &err);
    ok = test_close_real(name, got, ref, n, atol, rtol);
    free(got);
    return ok;
}

/* Reads n floats of b and checks they equal ref bit for bit (as values; NaN equals NaN). */
static int equal_dev(lsd_cl *cl, const char *name, const lsd_clbuf *b, const float *ref,
                     size_t n)
{
    float *got = alloc_f(n);
    lsd_err err;
    size_t i, bad = n;
    if (lsd_clbuf_read(cl, b, 0, got, n, &err)) test_die("read back", &err);
    for (i = 0; i < n && bad == n; i++)
        if (memcmp(&got[i], &ref[i], sizeof(float)) != 0) bad = i;
    CHECK(bad == n, "%s: element %lu differs: %.9g vs %.9g", name, (unsigned long)bad,
          bad < n ? got[bad] : 0.0, bad < n ? ref[bad] : 0.0);
    free(got);
    return bad == n;
}

/* ------------------------------------------------------------------ runtime */

static void test_runtime(lsd_cl *cl)
{
    lsd_cl bad;
    lsd_err err;
    const char *broken =
        "__kernel void broken(__global float *x) { x[0] = undefined_symbol_xyz; }\n";
    const char *old = getenv("LSD_CL_DIR");
    char saved[512];
    int rc;
    lsd_clbuf a, v;
    float host[10], back[4];
    size_t i;

    rc = lsd_cl_open_source(&bad, cl->platform_index, cl->device_index, broken, &err);
    CHECK(rc == LSD_ERR_FORMAT, "broken source: status %d (%s)", rc, rc ? err.msg : "");
    CHECK(rc && strstr(err.msg, "build log") && strstr(err.msg, "undefined_symbol_xyz"),
          "broken source: the message should carry the build log naming the error: %s",
          err.msg);
    if (rc == LSD_OK) lsd_cl_close(&bad);

    saved[0] = 0;
    if (old) snprintf(saved, sizeof saved, "%s", old);
    setenv("LSD_CL_DIR", "/nonexistent/lsd-kernels", 1);
    rc = lsd_cl_open(&bad, cl->platform_index, cl->device_index, &err);
    CHECK(rc == LSD_ERR_IO && strstr(err.msg, "LSD_CL_DIR") &&
              strstr(err.msg, "/nonexistent/lsd-kernels"),
          "missing kernel folder: status %d, message: %s", rc, err.msg);
    if (rc == LSD_OK) lsd_cl_close(&bad);
    if (old) setenv("LSD_CL_DIR", saved, 1);
    else unsetenv("LSD_CL_DIR");

    rc = lsd_cl_open(&bad, 999, 0, &err);
    CHECK(rc == LSD_ERR_ARG && strstr(err.msg, "platform 999") && strstr(err.msg, "devices"),
          "platform 999: status %d, message: %s", rc, err.msg);
    rc = lsd_cl_open(&bad, cl->platform_index, 999, &err);
    CHECK(rc == LSD_ERR_ARG && strstr(err.msg, "device 999"),
          "device 999: status %d, message: %s", rc, err.msg);

    /* buffers: views, fill, read/write at offsets, range checks */
    for (i = 0; i < 10; i++) host[i] = (float)i;
    a = up(cl, host, 10);
    v = lsd_clbuf_view(&a, 3, 5);
    rc = lsd_clbuf_fill(cl, &v, 1, 2, -1.0f, &err);
    CHECK(rc == LSD_OK, "fill on a view: %s", rc ? err.msg : "");
    rc = lsd_clbuf_read(cl, &a, 3, back, 4, &err);
    CHECK(rc == LSD_OK && back[0] == 3 && back[1] == -1 && back[2] == -1 && back[3] == 6,
          "view fill: %g %g %g %g", back[0], back[1], back[2], back[3]);
    rc = lsd_clbuf_read(cl, &v, 3, back, 3, &err);
    CHECK(rc == LSD_ERR_RANGE, "read past a view's end: status %d", rc);
    lsd_clbuf_free(&v); /* a view: releases nothing */
    rc = lsd_clbuf_read(cl, &a, 9, back, 1, &err);
    CHECK(rc == LSD_OK && back[0] == 9, "parent after freeing a view: %d %g", rc, back[0]);
    lsd_clbuf_free(&a);
}

/* ------------------------------------------------------------------ gemm */

static void gemm_case(lsd_cl *cl, int ta, int tb, int M, int N, int K, float alpha, float beta,
                      int pad, int off, unsigned long seed)
{
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda + off, nb = (size_t)(tb ? N : K) * ldb + off;
    size_t nc = (size_t)M * ldc + off;
    float *A = rnd(na, seed), *B = rnd(nb, seed + 1), *C = rnd(nc, seed + 2);
    lsd_clbuf dA = up(cl, A, na), dB = up(cl, B, nb), dC = up(cl, C, nc);
    lsd_err err;
    char name[128];
    int rc;
    gemm_naive(ta, tb, M, N, K, alpha, A + off, lda, B + off, ldb, beta, C + off, ldc);
    rc = cl_gemm(cl, ta, tb, M, N, K, alpha, &dA, (size_t)off, lda, &dB, (size_t)off, ldb, beta,
                 &dC, (size_t)off, ldc, &err);
    snprintf(name, sizeof name, "gemm ta=%d tb=%d %dx%dx%d alpha=%g beta=%g", ta, tb, M, N, K,
             alpha, beta);
    CHECK(rc == LSD_OK, "%s: %s", name, rc ? err.msg : "");
    close_dev(cl, name, &dC, C, nc, sum_atol(K, 1, 1) + 2 * FLT_EPSILON, RTOL);
    lsd_clbuf_free(&dA);
    lsd_clbuf_free(&dB);
    lsd_clbuf_free(&dC);
    free(A);
    free(B);
    free(C);
}

static void test_gemm(lsd_cl *cl)
{
    int ta, tb;
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++) {
            gemm_case(cl, ta, tb, 37, 29, 53, 1.0f, 0.0f, 0, 0, 10 + ta * 2 + tb);
            gemm_case(cl, ta, tb, 70, 131, 19, 0.5f, 0.75f, 3, 5, 20 + ta * 2 + tb);
        }
    gemm_case(cl, 0, 0, 1, 1, 1, 1.0f, 1.0f, 0, 0, 30);
    gemm_case(cl, 0, 1, 128, 64, 300, 1.0f, 1.0f, 0, 7, 31);
    gemm_case(cl, 1, 0, 65, 65, 0, 1.0f, 0.5f, 0, 0, 32); /* K = 0: C = beta * C */
    {
        /* two runs give identical bits */
        int M = 50, N = 60, K = 70;
        float *A = rnd((size_t)M * K, 40), *B = rnd((size_t)K * N, 41);
        float *r1 = alloc_f((size_t)M * N);
        lsd_clbuf dA = up(cl, A, (size_t)M * K), dB = up(cl, B, (size_t)K * N), dC;
        lsd_err err;
        if (lsd_clbuf_alloc(cl, &dC, (size_t)M * N, 4, &err)) test_die("alloc", &err);
        cl_gemm(cl, 0, 0, M, N, K, 1, &dA, 0, K, &dB, 0, N, 0, &dC, 0, N, &err);
        lsd_clbuf_read(cl, &dC, 0, r1, (size_t)M * N, &err);
        cl_gemm(cl, 0, 0, M, N, K, 1, &dA, 0, K, &dB, 0, N, 0, &dC, 0, N, &err);
        equal_dev(cl, "gemm rerun is bit-identical", &dC, r1, (size_t)M * N);
        lsd_clbuf_free(&dA);
        lsd_clbuf_free(&dB);
        lsd_clbuf_free(&dC);
        free(A);
        free(B);
        free(r1);
    }
}

/* ------------------------------------------------------------------ convolutions */

/* Forward and backward of one shape (transposed if tr) against the C functions; the
 * backward accumulates onto random initial gradients, and is run with all gradients and
 * with din alone. */
static void conv_case(lsd_cl *cl, const char *label, ConvShape s, int tr, int with_bias)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW, nscratch = conv_work_size(&s);
    unsigned long seed = (unsigned long)(s.C * 131 + s.OC * 17 + s.H * 7 + s.KH + tr);
    float *x = rnd(nx, seed), *w = rnd(nw, seed + 1), *b = rnd((size_t)s.OC, seed + 2);
    float *y = alloc_f(ny), *dy = rnd(ny, seed + 3), *dx = rnd(nx, seed + 4);
    float *dw = rnd(nw, seed + 5), *db = rnd((size_t)s.OC, seed + 6), *dx2 = alloc_f(nx);
    float *scratch = alloc_f(nscratch);
    lsd_clbuf X = up(cl, x, nx), Wt = up(cl, w, nw), B = up(cl, b, (size_t)s.OC), Y, DY, DX, DW,
              DB, DX2, SCRATCH;
    lsd_err err;
    char name[160];
    int rc, T;
    memcpy(dx2, dx, nx * sizeof(float));
    if (lsd_clbuf_alloc(cl, &Y, ny, 4, &err) || lsd_clbuf_alloc(cl, &SCRATCH, nscratch, 4, &err))
        test_die("alloc", &err);
    DY = up(cl, dy, ny);
    DX = up(cl, dx, nx);
    DW = up(cl, dw, nw);
    DB = up(cl, db, (size_t)s.OC);
    DX2 = up(cl, dx2, nx);

    /* forward: each output sums C*KH*KW products (conv) or at most ceil(K/s)^2*C (convt) */
    T = s.C * s.KH * s.KW;
    if (tr) {
        convt_forward(y, x, w, with_bias ? b : NULL, &s, scratch);
        rc = cl_convt_forward(cl, &Y, &X, &Wt, with_bias ? &B : NULL, &s, &SCRATCH, &err);
    } else {
        conv2d_forward(y, x, w, with_bias ? b : NULL, &s, scratch);
        rc = cl_conv2d_forward(cl, &Y, &X, &Wt, with_bias ? &B : NULL, &s, &SCRATCH, &err);
    }
    snprintf(name, sizeof name, "%s %s forward", label, tr ? "convt" : "conv2d");
    CHECK(rc == LSD_OK, "%s: %s", name, rc ? err.msg : "");
    close_dev(cl, name, &Y, y, ny, sum_atol(T, 1, 1) + 2 * FLT_EPSILON, RTOL);

    /* backward with every gradient */
    if (tr) {
        convt_backward(dx, dw, db, dy, x, w, &s, scratch);
        rc = cl_convt_backward(cl, &DX, &DW, &DB, &DY, &X, &Wt, &s, &SCRATCH, &err);
    } else {
        conv2d_backward(dx, dw, db, dy, x, w, &s, scratch);
        rc = cl_conv2d_backward(cl, &DX, &DW, &DB, &DY, &X, &Wt, &s, &SCRATCH, &err);
    }
    snprintf(name, sizeof name, "%s %s backward", label, tr ? "convt" : "conv2d");
    CHECK(rc == LSD_OK, "%s: %s", name, rc ? err.msg : "");
    {
        char n2[200];
        double Tdx = (double)s.OC * s.KH * s.KW, Tdw = (double)s.N * (tr ? s.H * s.W : s.OH * s.OW);
        double Tdb = (double)s.N * s.OH * s.OW;
        snprintf(n2, sizeof n2, "%s din", name);
        close_dev(cl, n2, &DX, dx, nx, sum_atol(Tdx, 1, 1) + 2 * FLT_EPSILON, RTOL);
        snprintf(n2, sizeof n2, "%s dweight", name);
        close_dev(cl, n2, &DW, dw, nw, sum_atol(Tdw, 1, 1) + 2 * FLT_EPSILON, RTOL);
        snprintf(n2, sizeof n2, "%s dbias", name);
        close_dev(cl, n2, &DB, db, (size_t)s.OC, sum_atol(Tdb, 1, 1) + 2 * FLT_EPSILON, RTOL);
    }
    /* backward with din alone (NULL dweight, dbias) */
    if (tr) {
        convt_backward(dx2, NULL, NULL, dy, x, w, &s, scratch);
        rc = cl_convt_backward(cl, &DX2, NULL, NULL, &DY, &X, &Wt, &s, &SCRATCH, &err);
    } else {
        conv2d_backward(dx2, NULL, NULL, dy, x, w, &s, scratch);
        rc = cl_conv2d_backward(cl, &DX2, NULL, NULL, &DY, &X, &Wt, &s, &SCRATCH, &err);
    }
    CHECK(rc == LSD_OK, "%s din only: %s", name, rc ? err.msg : "");
    snprintf(name, sizeof name, "%s %s backward din only", label, tr ? "convt" : "conv2d");
    close_dev(cl, name, &DX2, dx2, nx,
              sum_atol((double)s.OC * s.KH * s.KW, 1, 1) + 2 * FLT_EPSILON, RTOL);

    lsd_clbuf_free(&X); lsd_clbuf_free(&Wt); lsd_clbuf_free(&B); lsd_clbuf_free(&Y);
    lsd_clbuf_free(&DY); lsd_clbuf_free(&DX); lsd_clbuf_free(&DW); lsd_clbuf_free(&DB);
    lsd_clbuf_free(&DX2); lsd_clbuf_free(&SCRATCH);
    free(x); free(w); free(b); free(y); free(dy); free(dx); free(dw); free(db); free(dx2);
    free(scratch);
}

static void test_conv(lsd_cl *cl)
{
    lsd_err err;
    lsd_clbuf X, W, Y, SCRATCH;
    ConvShape s;
    int rc;
    conv_case(cl, "3x3 pad 1 odd", conv2d_shape(2, 3, 11, 9, 5, 3, 1, 1), 0, 1);
    conv_case(cl, "conv1_1 pad 100", conv2d_shape(1, 3, 6, 5, 4, 3, 1, 100), 0, 1);
    conv_case(cl, "fc6 7x7", conv2d_shape(2, 6, 9, 8, 7, 7, 1, 0), 0, 1);
    conv_case(cl, "1x1", conv2d_shape(2, 9, 5, 7, 6, 1, 1, 0), 0, 1);
    conv_case(cl, "D 4x4 stride 2 pad 2", conv2d_shape(2, 3, 16, 12, 8, 4, 2, 2), 0, 1);
    conv_case(cl, "stride 3 no bias", conv2d_shape(1, 4, 13, 10, 3, 5, 3, 2), 0, 0);
    conv_case(cl, "several bands", conv2d_shape(1, 64, 40, 200, 3, 3, 1, 1), 0, 1);
    conv_case(cl, "upscore2 4/2", convt_shape(2, 5, 4, 6, 5, 4, 2, 0, 0), 1, 0);
    conv_case(cl, "upscore8 16/8", convt_shape(1, 3, 4, 5, 3, 16, 8, 0, 0), 1, 0);
    conv_case(cl, "G out 8/2 pad 100", convt_shape(2, 4, 100, 98, 3, 8, 2, 100, 0), 1, 1);
    conv_case(cl, "G 3/2 pad 1 outpad 1", convt_shape(1, 6, 5, 7, 4, 3, 2, 1, 1), 1, 1);
    conv_case(cl, "convt 1x1", convt_shape(2, 5, 4, 3, 7, 1, 1, 0, 0), 1, 1);
    conv_case(cl, "convt several bands", convt_shape(1, 3, 150, 60, 64, 3, 1, 1, 0), 1, 1);

    /* a scratch buffer that is too small is refused with a message */
    s = conv2d_shape(1, 3, 8, 8, 4, 3, 1, 1);
    {
        float *z = alloc_f(192);
        X = up(cl, z, 192);
        free(z);
    }
    if (lsd_clbuf_alloc(cl, &W, 108, 4, &err) || lsd_clbuf_alloc(cl, &Y, 256, 4, &err) ||
        lsd_clbuf_alloc(cl, &SCRATCH, 10, 4, &err))
        test_die("alloc", &err);
    rc = cl_conv2d_forward(cl, &Y, &X, &W, NULL, &s, &SCRATCH, &err);
    CHECK(rc == LSD_ERR_RANGE && strstr(err.msg, "scratch"), "small scratch buffer: %d %s",
          rc, err.msg);
    lsd_clbuf_free(&X); lsd_clbuf_free(&W); lsd_clbuf_free(&Y); lsd_clbuf_free(&SCRATCH);
}

/* ------------------------------------------------------------------ pooling */

static void pool_case(lsd_cl *cl, int N, int C, int H, int W, int ceil_mode)
{
    int OH = maxpool_out_size(H, ceil_mode), OW = maxpool_out_size(W, ceil_mode);
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW, i;
    float *x = rnd(nx, (unsigned long)(H * W + ceil_mode)), *y = alloc_f(ny);
    float *dy = rnd(ny, 77), *dx = rnd(nx, 78);
    int32_t *am = malloc(ny * sizeof(int32_t) + 4), *am2 = malloc(ny * sizeof(int32_t) + 4);
    lsd_clbuf X, Y, A, DY, DX;
    lsd_err err;
    char name[96];
    int rc;
    if (!am || !am2) test_die("malloc", NULL);
    for (i = 0; i < nx; i++) x[i] = (float)floor(x[i] * 3); /* ties in most windows */
    x[1] = NAN;
    X = up(cl, x, nx);
    DY = up(cl, dy, ny);
    DX = up(cl, dx, nx);
    if (lsd_clbuf_alloc(cl, &Y, ny, 4, &err) || lsd_clbuf_alloc(cl, &A, ny, 4, &err))
        test_die("alloc", &err);
    maxpool2d_forward(y, am, x, N, C, H, W, OH, OW);
    rc = cl_maxpool2d_forward(cl, &Y, &A, &X, N, C, H, W, OH, OW, &err);
    snprintf(name, sizeof name, "maxpool %dx%d ceil=%d forward", H, W, ceil_mode);
    CHECK(rc == LSD_OK, "%s: %s", name, rc ? err.msg : "");
    equal_dev(cl, name, &Y, y, ny);
    lsd_clbuf_read(cl, &A, 0, am2, ny, &err);
    CHECK(memcmp(am, am2, ny * sizeof(int32_t)) == 0, "%s: argmax differs", name);
    maxpool2d_backward(dx, dy, am, N, C, H, W, OH, OW);
    rc = cl_maxpool2d_backward(cl, &DX, &DY, &A, N, C, H, W, OH, OW, &err);
    snprintf(name, sizeof name, "maxpool %dx%d ceil=%d backward", H, W, ceil_mode);
    CHECK(rc == LSD_OK, "%s: %s", name, rc ? err.msg : "");
    equal_dev(cl, name, &DX, dx, nx);
    lsd_clbuf_free(&X); lsd_clbuf_free(&Y); lsd_clbuf_free(&A); lsd_clbuf_free(&DY);
    lsd_clbuf_free(&DX);
    free(x); free(y); free(dy); free(dx); free(am); free(am2);
}

/* ------------------------------------------------------------------ element-wise */

static void test_elementwise(lsd_cl *cl)
{
    const size_t n = 1001;
    const float slope = 0.2f;
    float *x = rnd(n, 90), *dy = rnd(n, 91), *g0 = rnd(n, 92), *y = alloc_f(n), *g = alloc_f(n);
    lsd_clbuf X = up(cl, x, n), DY = up(cl, dy, n), Y, G;
    lsd_err err;
    int rc;
    x[5] = 0; /* the derivative at 0 */
    lsd_clbuf_write(cl, &X, 5, &x[5], 1, &err);
    if (lsd_clbuf_alloc(cl, &Y, n, 4, &err)) test_die("alloc", &err);
    G = up(cl, g0, n);

#define BWD_RESET() do { memcpy(g, g0, n * sizeof(float)); lsd_clbuf_write(cl, &G, 0, g0, n, &err); } while (0)
    relu_forward(y, x, n);
    rc = cl_relu_forward(cl, &Y, &X, n, &err);
    CHECK(rc == LSD_OK, "relu forward: %s", rc ? err.msg : "");
    equal_dev(cl, "relu forward", &Y, y, n);
    BWD_RESET();
    relu_backward(g, dy, y, n);
    rc = cl_relu_backward(cl, &G, &DY, &Y, n, &err);
    CHECK(rc == LSD_OK, "relu backward: %s", rc ? err.msg : "");
    equal_dev(cl, "relu backward", &G, g, n);

    leaky_relu_forward(y, x, n, slope);
    rc = cl_leaky_relu_forward(cl, &Y, &X, n, slope, &err);
    CHECK(rc == LSD_OK, "leaky relu forward: %s", rc ? err.msg : "");
    equal_dev(cl, "leaky relu forward", &Y, y, n);
    BWD_RESET();
    leaky_relu_backward(g, dy, x, n, slope);
    rc = cl_leaky_relu_backward(cl, &G, &DY, &X, n, slope, &err);
    CHECK(rc == LSD_OK, "leaky relu backward: %s", rc ? err.msg : "");
    equal_dev(cl, "leaky relu backward", &G, g, n);

    {
        float *xs = alloc_f(n);
        size_t i;
        lsd_clbuf XS;
        for (i = 0; i < n; i++) xs[i] = x[i] * 20; /* saturating tails too */
        XS = up(cl, xs, n);
        sigmoid_forward(y, xs, n);
        rc = cl_sigmoid_forward(cl, &Y, &XS, n, &err);
        CHECK(rc == LSD_OK, "sigmoid forward: %s", rc ? err.msg : "");
        close_dev(cl, "sigmoid forward", &Y, y, n, 1e-6, 1e-5);
        lsd_clbuf_write(cl, &Y, 0, y, n, &err); /* the same y on both sides */
        BWD_RESET();
        sigmoid_backward(g, dy, y, n);
        rc = cl_sigmoid_backward(cl, &G, &DY, &Y, n, &err);
        CHECK(rc == LSD_OK, "sigmoid backward: %s", rc ? err.msg : "");
        equal_dev(cl, "sigmoid backward", &G, g, n);
        lsd_clbuf_free(&XS);
        free(xs);
    }

    /* dropout: the device mask is the C mask, bit for bit */
    {
        float *mask = alloc_f(n);
        lsd_clbuf M;
        if (lsd_clbuf_alloc(cl, &M, n, 4, &err)) test_die("alloc", &err);
        dropout_mask(mask, n, 0.5f, 1234, 99, 1u << 20);
        rc = cl_dropout_mask(cl, &M, n, 0.5f, 1234, 99, 1u << 20, &err);
        CHECK(rc == LSD_OK, "dropout mask: %s", rc ? err.msg : "");
        equal_dev(cl, "dropout mask p=0.5", &M, mask, n);
        dropout_mask(mask, n, 0.3f, 0xfedcba9876543210ULL, 0x123456789ULL, 5000000000ULL);
        cl_dropout_mask(cl, &M, n, 0.3f, 0xfedcba9876543210ULL, 0x123456789ULL, 5000000000ULL,
                        &err);
        equal_dev(cl, "dropout mask p=0.3, 64-bit seed, stream, index", &M, mask, n);
        dropout_forward(y, x, mask, n);
        rc = cl_dropout_forward(cl, &Y, &X, &M, n, &err);
        CHECK(rc == LSD_OK, "dropout forward: %s", rc ? err.msg : "");
        equal_dev(cl, "dropout forward", &Y, y, n);
        BWD_RESET();
        dropout_backward(g, dy, mask, n);
        rc = cl_dropout_backward(cl, &G, &DY, &M, n, &err);
        CHECK(rc == LSD_OK, "dropout backward: %s", rc ? err.msg : "");
        equal_dev(cl, "dropout backward", &G, g, n);
        /* dropout2d: 7 channels of 143 */
        dropout_mask(mask, 7, 0.5f, 5, 6, 0);
        lsd_clbuf_write(cl, &M, 0, mask, 7, &err);
        dropout2d_forward(y, x, mask, 7, 143);
        rc = cl_dropout2d_forward(cl, &Y, &X, &M, 7, 143, &err);
        CHECK(rc == LSD_OK, "dropout2d forward: %s", rc ? err.msg : "");
        equal_dev(cl, "dropout2d forward", &Y, y, n);
        BWD_RESET();
        dropout2d_backward(g, dy, mask, 7, 143);
        rc = cl_dropout2d_backward(cl, &G, &DY, &M, 7, 143, &err);
        CHECK(rc == LSD_OK, "dropout2d backward: %s", rc ? err.msg : "");
        equal_dev(cl, "dropout2d backward", &G, g, n);
        lsd_clbuf_free(&M);
        free(mask);
    }

    /* vector helpers */
    {
        size_t i;
        lsd_clbuf V;
        for (i = 0; i < n; i++) y[i] = x[i] + dy[i];
        rc = cl_vec_add(cl, &Y, &X, &DY, n, &err);
        CHECK(rc == LSD_OK, "vec_add: %s", rc ? err.msg : "");
        equal_dev(cl, "vec_add", &Y, y, n);
        for (i = 0; i < n; i++) y[i] += 0.25f * x[i];
        rc = cl_vec_axpy(cl, &Y, 0.25f, &X, n, &err);
        CHECK(rc == LSD_OK, "vec_axpy: %s", rc ? err.msg : "");
        equal_dev(cl, "vec_axpy", &Y, y, n);
        V = lsd_clbuf_view(&Y, 100, 50);
        rc = cl_vec_copy(cl, &V, &X, 50, &err);
        memcpy(y + 100, x, 50 * sizeof(float));
        CHECK(rc == LSD_OK, "vec_copy: %s", rc ? err.msg : "");
        equal_dev(cl, "vec_copy into a view", &Y, y, n);
        rc = cl_vec_fill(cl, &V, 50, 3.5f, &err);
        for (i = 100; i < 150; i++) y[i] = 3.5f;
        CHECK(rc == LSD_OK, "vec_fill: %s", rc ? err.msg : "");
        equal_dev(cl, "vec_fill of a view", &Y, y, n);
    }
#undef BWD_RESET
    lsd_clbuf_free(&X); lsd_clbuf_free(&DY); lsd_clbuf_free(&Y); lsd_clbuf_free(&G);
    free(x); free(dy); free(g0); free(y); free(g);
}

/* ------------------------------------------------------------------ crop, concat */

static void test_shape(lsd_cl *cl)
{
    int N = 2, C = 3, H = 13, W = 11, top = 5, left = 3, OH = 6, OW = 7, Ca = 3, Cb = 4, HW = 29;
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW;
    size_t na = (size_t)N * Ca * HW, nb = (size_t)N * Cb * HW, no = na + nb;
    float *x = rnd(nx, 120), *y = alloc_f(ny), *dy = rnd(ny, 121), *dx = rnd(nx, 122);
    float *a = rnd(na, 123), *b = rnd(nb, 124), *o = alloc_f(no), *dout = rnd(no, 125);
    float *da = rnd(na, 126), *db = rnd(nb, 127);
    lsd_clbuf X = up(cl, x, nx), DY = up(cl, dy, ny), DX = up(cl, dx, nx), Y, A = up(cl, a, na),
              B = up(cl, b, nb), O, DO = up(cl, dout, no), DA = up(cl, da, na),
              DB = up(cl, db, nb);
    lsd_err err;
    int rc;
    if (lsd_clbuf_alloc(cl, &Y, ny, 4, &err) || lsd_clbuf_alloc(cl, &O, no, 4, &err))
        test_die("alloc", &err);
    crop_forward(y, x, N, C, H, W, top, left, OH, OW);
    rc = cl_crop_forward(cl, &Y, &X, N, C, H, W, top, left, OH, OW, &err);
    CHECK(rc == LSD_OK, "crop forward: %s", rc ? err.msg : "");
    equal_dev(cl, "crop forward", &Y, y, ny);
    crop_backward(dx, dy, N, C, H, W, top, left, OH, OW);
    rc = cl_crop_backward(cl, &DX, &DY, N, C, H, W, top, left, OH, OW, &err);
    CHECK(rc == LSD_OK, "crop backward: %s", rc ? err.msg : "");
    equal_dev(cl, "crop backward", &DX, dx, nx);
    rc = cl_crop_forward(cl, &Y, &X, N, C, H, W, 8, left, OH, OW, &err);
    CHECK(rc == LSD_ERR_ARG, "crop window outside the input is refused: %d", rc);

    concat_forward(o, a, Ca, b, Cb, N, HW);
    rc = cl_concat_forward(cl, &O, &A, Ca, &B, Cb, N, HW, &err);
    CHECK(rc == LSD_OK, "concat forward: %s", rc ? err.msg : "");
    equal_dev(cl, "concat forward", &O, o, no);
    concat_backward(da, db, dout, Ca, Cb, N, HW);
    rc = cl_concat_backward(cl, &DA, &DB, &DO, Ca, Cb, N, HW, &err);
    CHECK(rc == LSD_OK, "concat backward: %s", rc ? err.msg : "");
    equal_dev(cl, "concat backward da", &DA, da, na);
    equal_dev(cl, "concat backward db", &DB, db, nb);
    concat_backward(NULL, db, dout, Ca, Cb, N, HW);
    rc = cl_concat_backward(cl, NULL, &DB, &DO, Ca, Cb, N, HW, &err);
    CHECK(rc == LSD_OK, "concat backward, da NULL: %s", rc ? err.msg : "");
    equal_dev(cl, "concat backward db (da NULL)", &DB, db, nb);
    equal_dev(cl, "concat backward da untouched", &DA, da, na);
    lsd_clbuf_free(&X); lsd_clbuf_free(&DY); lsd_clbuf_free(&DX); lsd_clbuf_free(&Y);
    lsd_clbuf_free(&A); lsd_clbuf_free(&B); lsd_clbuf_free(&O); lsd_clbuf_free(&DO);
    lsd_clbuf_free(&DA); lsd_clbuf_free(&DB);
    free(x); free(y); free(dy); free(dx); free(a); free(b); free(o); free(dout); free(da);
    free(db);
}

/* ------------------------------------------------------------------ instance norm */

static void norm_case(lsd_cl *cl, int N, int C, int HW, float shift)
{
    size_t n = (size_t)N * C * HW, p = (size_t)N * C, i;
    float *x = rnd(n, (unsigned long)HW), *y = alloc_f(n), *m = alloc_f(p), *r = alloc_f(p);
    float *dy = rnd(n, 130), *dx = rnd(n, 131);
    lsd_clbuf X, Y, M, R, DY = up(cl, dy, n), DX = up(cl, dx, n);
    lsd_err err;
    char name[96];
    int rc;
    for (i = 0; i < n; i++) x[i] = x[i] * 2 + shift;
    X = up(cl, x, n);
    if (lsd_clbuf_alloc(cl, &Y, n, 4, &err) || lsd_clbuf_alloc(cl, &M, p, 4, &err) ||
        lsd_clbuf_alloc(cl, &R, p, 4, &err))
        test_die("alloc", &err);
    instance_norm_forward(y, m, r, x, N, C, HW, 1e-5f);
    rc = cl_instance_norm_forward(cl, &Y, &M, &R, &X, N, C, HW, 1e-5f, &err);
    snprintf(name, sizeof name, "instance norm %dx%dx%d shift %g forward", N, C, HW, shift);
    CHECK(rc == LSD_OK, "%s: %s", name, rc ? err.msg : "");
    /* y = (x - m) * r: x - m carries eps * |x| */
    close_dev(cl, name, &Y, y, n, 8 * FLT_EPSILON * (fabs(shift) + 2) * test_max_abs(r, p), 1e-4);
    close_dev(cl, "instance norm mean", &M, m, p, 4 * FLT_EPSILON * (fabs(shift) + 2), 1e-5);
    close_dev(cl, "instance norm rstd", &R, r, p, 0, 1e-4);
    /* the backward from the C statistics on both sides */
    lsd_clbuf_write(cl, &M, 0, m, p, &err);
    lsd_clbuf_write(cl, &R, 0, r, p, &err);
    instance_norm_backward(dx, dy, x, m, r, N, C, HW);
    rc = cl_instance_norm_backward(cl, &DX, &DY, &X, &M, &R, N, C, HW, &err);
    snprintf(name, sizeof name, "instance norm %dx%dx%d shift %g backward", N, C, HW, shift);
    CHECK(rc == LSD_OK, "%s: %s", name, rc ? err.msg : "");
    close_dev(cl, name, &DX, dx, n, 16 * FLT_EPSILON * (fabs(shift) + 2) * test_max_abs(r, p),
              1e-4);
    lsd_clbuf_free(&X); lsd_clbuf_free(&Y); lsd_clbuf_free(&M); lsd_clbuf_free(&R);
    lsd_clbuf_free(&DY); lsd_clbuf_free(&DX);
    free(x); free(y); free(m); free(r); free(dy); free(dx);
}

/* ------------------------------------------------------------------ losses */

static void test_losses(lsd_cl *cl)
{
    int N = 2, C = 5, HW = 1237;
    size_t P = (size_t)N * HW, n = P * C, i;
    float *x = rnd(n, 140), *d = rnd(n, 141), *d0 = alloc_f(n);
    unsigned char *lab = malloc(P);
    lsd_clbuf X, D, L;
    lsd_err err;
    double lc, lg;
    int rc, red;
    if (!lab) test_die("malloc", NULL);
    for (i = 0; i < n; i++) x[i] *= 8;
    for (i = 0; i < P; i++) lab[i] = (unsigned char)(i % 7 == 3 ? 255 : (i * 31 + i / 5) % C);
    memcpy(d0, d, n * sizeof(float));
    X = up(cl, x, n);
    D = up(cl, d, n);
    if (lsd_clbuf_alloc(cl, &L, P, 1, &err) || lsd_clbuf_write(cl, &L, 0, lab, P, &err))
        test_die("labels", &err);
    for (red = 0; red < 2; red++) {
        char name[96];
        memcpy(d, d0, n * sizeof(float));
        lsd_clbuf_write(cl, &D, 0, d0, n, &err);
        rc = softmax_ce(&lc, d, x, lab, N, C, HW, 255, (loss_reduction)red, 0.5f, &err);
        CHECK(rc == LSD_OK, "C softmax_ce: %s", rc ? err.msg : "");
        rc = cl_softmax_ce(cl, &lg, &D, &X, &L, N, C, HW, 255, (loss_reduction)red, 0.5f, &err);
        snprintf(name, sizeof name, "softmax_ce %s", red ? "mean" : "sum");
        CHECK(rc == LSD_OK, "%s: %s", name, rc ? err.msg : "");
        CHECK(fabs(lg - lc) <= 1e-5 * fabs(lc) + 1e-6, "%s loss: %.10g vs %.10g", name, lg, lc);
        strcat(name, " dlogits");
        close_dev(cl, name, &D, d, n, 4e-7, 1e-4);
    }
    /* loss without gradient; rerun is bit-identical */
    {
        double l2;
        cl_softmax_ce(cl, &lg, NULL, &X, &L, N, C, HW, 255, LOSS_SUM, 1.0f, &err);
        cl_softmax_ce(cl, &l2, NULL, &X, &L, N, C, HW, 255, LOSS_SUM, 1.0f, &err);
        softmax_ce(&lc, NULL, x, lab, N, C, HW, 255, LOSS_SUM, 1.0f, &err);
        CHECK(lg == l2 && fabs(lg - lc) <= 1e-5 * fabs(lc), "softmax_ce without gradient: "
              "%.10g, %.10g vs %.10g", lg, l2, lc);
    }
    /* a bad label: loss.c's message, nothing written */
    {
        unsigned char badl = 7;
        char cmsg[1024];
        float *before = alloc_f(n);
        lsd_clbuf_write(cl, &L, 1500, &badl, 1, &err);
        lab[1500] = 7;
        softmax_ce(&lc, d, x, lab, N, C, HW, 255, LOSS_SUM, 1.0f, &err);
        snprintf(cmsg, sizeof cmsg, "%s", err.msg);
        lsd_clbuf_read(cl, &D, 0, before, n, &err);
        rc = cl_softmax_ce(cl, &lg, &D, &X, &L, N, C, HW, 255, LOSS_SUM, 1.0f, &err);
        CHECK(rc == LSD_ERR_RANGE && strcmp(err.msg, cmsg) == 0,
              "bad label: status %d, message '%s' vs C '%s'", rc, err.msg, cmsg);
        equal_dev(cl, "bad label writes nothing", &D, before, n);
        free(before);
    }
    /* const label (D's domain targets) */
    {
        memcpy(d, d0, n * sizeof(float));
        lsd_clbuf_write(cl, &D, 0, d0, n, &err);
        softmax_ce_const(&lc, d, x, 2, N, C, HW, 0.25f);
        rc = cl_softmax_ce_const(cl, &lg, &D, &X, 2, N, C, HW, 0.25f, &err);
        CHECK(rc == LSD_OK, "softmax_ce_const: %s", rc ? err.msg : "");
        CHECK(fabs(lg - lc) <= 1e-5 * fabs(lc) + 1e-6, "softmax_ce_const loss: %.10g vs %.10g",
              lg, lc);
        close_dev(cl, "softmax_ce_const dlogits", &D, d, n, 4e-7, 1e-4);
        rc = cl_softmax_ce_const(cl, &lg, &D, &X, C, N, C, HW, 1.0f, &err);
        CHECK(rc == LSD_OK && lg != lg, "softmax_ce_const with label C gives NaN: %g", lg);
    }
    /* L1 */
    {
        size_t m = 3001;
        float *a = rnd(m, 150), *t = rnd(m, 151), *g = rnd(m, 152);
        lsd_clbuf A, T, G;
        a[10] = t[10]; /* sign(0) = 0 */
        A = up(cl, a, m);
        T = up(cl, t, m);
        G = up(cl, g, m);
        lc = l1_loss(g, a, t, m, 0.5f);
        rc = cl_l1_loss(cl, &lg, &G, &A, &T, m, 0.5f, &err);
        CHECK(rc == LSD_OK, "l1_loss: %s", rc ? err.msg : "");
        CHECK(fabs(lg - lc) <= 1e-6 * fabs(lc), "l1 loss: %.10g vs %.10g", lg, lc);
        equal_dev(cl, "l1 dx", &G, g, m);
        lsd_clbuf_free(&A); lsd_clbuf_free(&T); lsd_clbuf_free(&G);
        free(a); free(t); free(g);
    }
    lsd_clbuf_free(&X); lsd_clbuf_free(&D); lsd_clbuf_free(&L);
    free(x); free(d); free(d0); free(lab);
}

/* ------------------------------------------------------------------ Adam */

static void test_adam(lsd_cl *cl)
{
    size_t n = 4099, i;
    float *p = rnd(n, 160), *m = rnd(n, 161), *v = rnd(n, 162), *g = rnd(n, 163);
    lsd_clbuf P, M, V, G;
    lsd_err err;
    cl_device_fp_config fp = 0;
    int rc, exact, t;
    for (i = 0; i < n; i++) {
        v[i] = v[i] * v[i] * 1e-3f;
        m[i] *= 1e-2f;
    }
    P = up(cl, p, n); M = up(cl, m, n); V = up(cl, v, n); G = up(cl, g, n);
    clGetDeviceInfo(cl->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    exact = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
    for (t = 1; t <= 3; t++) {
        double wd = t == 2 ? 5e-4 : 0.0;
        adam_update(p, m, v, g, n, t, 1e-3, 0.9, 0.999, 1e-8, wd);
        rc = cl_adam_update(cl, &P, &M, &V, &G, n, t, 1e-3, 0.9, 0.999, 1e-8, wd, &err);
        CHECK(rc == LSD_OK, "adam step %d: %s", t, rc ? err.msg : "");
    }
    if (exact) {
        equal_dev(cl, "adam param (bit-identical)", &P, p, n);
        equal_dev(cl, "adam m (bit-identical)", &M, m, n);
        equal_dev(cl, "adam v (bit-identical)", &V, v, n);
    } else {
        test_skip("device does not round sqrt/division correctly: Adam compared with tolerance");
        close_dev(cl, "adam param", &P, p, n, 1e-6, 1e-5);
        close_dev(cl, "adam m", &M, m, n, 0, 1e-6);
        close_dev(cl, "adam v", &V, v, n, 0, 1e-6);
    }
    lsd_clbuf_free(&P); lsd_clbuf_free(&M); lsd_clbuf_free(&V); lsd_clbuf_free(&G);
    free(p); free(m); free(v); free(g);
}

int main(void)
{
    lsd_cl cl;
    test_begin("opencl");
    if (!test_cl_open(&cl)) return test_summary();
    printf("opencl: %s / %s (%s), gemm tiles %dx%dx%d micro %dx%d, reductions %lu\n",
           cl.platform_name, cl.device_name, cl.device_version, cl.gemm_tm, cl.gemm_tn,
           cl.gemm_tk, cl.gemm_rm, cl.gemm_rn, (unsigned long)cl.red_local);
    test_runtime(&cl);
    test_gemm(&cl);
    test_conv(&cl);
    pool_case(&cl, 2, 3, 8, 10, 0);
    pool_case(&cl, 1, 4, 7, 9, 0);
    pool_case(&cl, 1, 4, 7, 9, 1);
    test_elementwise(&cl);
    test_shape(&cl);
    norm_case(&cl, 2, 3, 37, 0.0f);
    norm_case(&cl, 1, 2, 5000, 3.0f);
    test_losses(&cl);
    test_adam(&cl);
    lsd_cl_close(&cl);
    return test_summary();
}

#endif
