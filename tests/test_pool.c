/*
 * test_pool.c - 2x2/2 max pooling (layers/pool.h).
 *
 *  1. PyTorch goldens (golden/conv_pool.safetensors): floor and ceil mode, odd
 *     and even sizes, integer inputs with ties everywhere, NaN and -inf.
 *  2. Exact check against a window scan written here (max first, then the
 *     first index holding it).
 *  3. Central finite differences away from ties (double builds only).
 *  4. Bit-identical results for 1, 2 and 3 OpenMP threads.
 *
 * Max pooling and its backward only copy values (the 2x2/2 windows do not
 * overlap, so every input receives at most one upstream gradient): results are
 * exact. In the float build the float64 goldens are rounded to float once on
 * reading, hence rtol = FLT_EPSILON there and 0 in the double build.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../layers/pool.h"
#include "../tensor/safetensors.h"
#include "harness.h"
#include "misc_util.h"

#ifdef LSD_DOUBLE
#define ROUND_TOL 0.0
#else
#define ROUND_TOL FLT_EPSILON
#endif

/* One golden case c: forward values, argmax = torch's indices, backward onto 0.5. */
static void golden_case(st_file *sf, const char *c)
{
    char name[128];
    int64_t cfg[5], *idx;
    lsd_err err;
    int N, C, H, W, OH, OW, ok = 1;
    size_t nx, ny, i;
    real *x, *y, *dy, *dx, *got, *gdx;
    int32_t *am;
    snprintf(name, sizeof name, "%s.cfg", c);
    if (!CHECK(st_read_i64(sf, name, cfg, 5, -1, NULL, &err) == LSD_OK, "read %s", name)) return;
    N = (int)cfg[0]; C = (int)cfg[1]; H = (int)cfg[2]; W = (int)cfg[3];
    OH = maxpool_out_size(H, (int)cfg[4]);
    OW = maxpool_out_size(W, (int)cfg[4]);
    nx = (size_t)N * C * H * W;
    ny = (size_t)N * C * OH * OW;
    x = test_alloc(nx * sizeof(real)); dx = test_alloc(nx * sizeof(real)); gdx = test_alloc(nx * sizeof(real));
    y = test_alloc(ny * sizeof(real)); dy = test_alloc(ny * sizeof(real)); got = test_alloc(ny * sizeof(real));
    am = test_alloc(ny * sizeof(int32_t)); idx = test_alloc(ny * sizeof(int64_t));
    snprintf(name, sizeof name, "%s.x", c);
    ok &= st_read_real(sf, name, x, nx, -1, NULL, &err) == LSD_OK;
    snprintf(name, sizeof name, "%s.y", c);
    ok &= st_read_real(sf, name, y, ny, -1, NULL, &err) == LSD_OK; /* checks OH, OW too */
    snprintf(name, sizeof name, "%s.dy", c);
    ok &= st_read_real(sf, name, dy, ny, -1, NULL, &err) == LSD_OK;
    snprintf(name, sizeof name, "%s.dx", c);
    ok &= st_read_real(sf, name, dx, nx, -1, NULL, &err) == LSD_OK;
    snprintf(name, sizeof name, "%s.idx", c);
    ok &= st_read_i64(sf, name, idx, ny, -1, NULL, &err) == LSD_OK;
    if (CHECK(ok, "%s: read golden tensors (%s)", c, err.msg)) {
        int same = 1;
        maxpool2d_forward(got, am, x, N, C, H, W, OH, OW);
        snprintf(name, sizeof name, "%s forward", c);
        test_close_real(name, got, y, ny, 0, ROUND_TOL);
        for (i = 0; i < ny; i++)
            if (am[i] != idx[i]) {
                same = 0;
                CHECK(0, "%s argmax [%lu] = %d, torch %ld", c, (unsigned long)i, (int)am[i],
                      (long)idx[i]);
                break;
            }
        if (same) CHECK(1, "%s argmax", c);
        maxpool2d_backward(gdx, dy, am, N, C, H, W, OH, OW);
        snprintf(name, sizeof name, "%s backward", c);
        test_close_real(name, gdx, dx, nx, 0, ROUND_TOL);
        /* backward accumulates: onto 0.5 it gives 0.5 + the above, rounded once */
        for (i = 0; i < nx; i++) { dx[i] = (real)0.5 + gdx[i]; gdx[i] = (real)0.5; }
        maxpool2d_backward(gdx, dy, am, N, C, H, W, OH, OW);
        snprintf(name, sizeof name, "%s backward accumulates", c);
        test_close_real(name, gdx, dx, nx, 0, 0);
    }
    free(x); free(dx); free(gdx); free(y); free(dy); free(got); free(am); free(idx);
}

/* Every case of golden/conv_pool.safetensors (entries named <case>.cfg). */
static void golden_tests(void)
{
    int n = gold_each_case("conv_pool.safetensors", golden_case);
    if (n >= 0) CHECK(n >= 7, "pool golden cases: %d", n);
}

/* Small-integer inputs (many ties): the maximum of each window and the first index holding it,
 * found here by two passes, must match exactly; backward must add dy at that index. */
static void exact_scan(int N, int C, int H, int W, int ceil_mode)
{
    int OH = maxpool_out_size(H, ceil_mode), OW = maxpool_out_size(W, ceil_mode), p, oh, ow;
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW, i;
    real *x = test_alloc(nx * sizeof(real)), *y = test_alloc(ny * sizeof(real));
    real *dy = test_alloc(ny * sizeof(real)), *dx = test_alloc(nx * sizeof(real));
    int32_t *am = test_alloc(ny * sizeof(int32_t));
    int bad_y = 0, bad_a = 0, bad_dx = 0;
    for (i = 0; i < nx; i++) x[i] = (real)(long)((i * 7 + i / 3) % 5);
    for (i = 0; i < ny; i++) dy[i] = (real)(long)(i + 1);
    maxpool2d_forward(y, am, x, N, C, H, W, OH, OW);
    maxpool2d_backward(dx, dy, am, N, C, H, W, OH, OW);
    for (p = 0; p < N * C; p++)
        for (oh = 0; oh < OH; oh++)
            for (ow = 0; ow < OW; ow++) {
                const real *plane = x + (size_t)p * H * W;
                size_t o = ((size_t)p * OH + oh) * OW + ow;
                long m = -1, first = -1, h, w;
                for (h = 2 * oh; h < 2 * oh + 2 && h < H; h++)
                    for (w = 2 * ow; w < 2 * ow + 2 && w < W; w++)
                        if ((long)plane[h * W + w] > m) m = (long)plane[h * W + w];
                for (h = 2 * oh; h < 2 * oh + 2 && h < H && first < 0; h++)
                    for (w = 2 * ow; w < 2 * ow + 2 && w < W; w++)
                        if ((long)plane[h * W + w] == m) { first = h * W + w; break; }
                bad_y += y[o] != (real)m;
                bad_a += am[o] != first;
                bad_dx += dx[(size_t)p * H * W + first] != dy[o];
            }
    CHECK(bad_y == 0, "exact scan %dx%d ceil=%d: %d wrong maxima", H, W, ceil_mode, bad_y);
    CHECK(bad_a == 0, "exact scan %dx%d ceil=%d: %d wrong argmax", H, W, ceil_mode, bad_a);
    CHECK(bad_dx == 0, "exact scan %dx%d ceil=%d: %d wrong gradients", H, W, ceil_mode, bad_dx);
    free(x); free(y); free(dy); free(dx); free(am);
}

#ifdef LSD_DOUBLE
/* Central differences of L = sum(maxpool(x) * r) on distinct random inputs (no ties within
 * 2h of each other), against the backward. */
static void finite_diff(int N, int C, int H, int W, int ceil_mode)
{
    int OH = maxpool_out_size(H, ceil_mode), OW = maxpool_out_size(W, ceil_mode);
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW, i, j;
    real *x = test_alloc(nx * sizeof(real)), *y = test_alloc(ny * sizeof(real));
    real *r = test_alloc(ny * sizeof(real)), *dx = test_alloc(nx * sizeof(real));
    real *num = test_alloc(nx * sizeof(real));
    int32_t *am = test_alloc(ny * sizeof(int32_t));
    const double h = 1e-6;
    char name[96];
    test_fill_random(x, nx, 5);
    test_fill_random(r, ny, 6);
    maxpool2d_forward(y, am, x, N, C, H, W, OH, OW);
    maxpool2d_backward(dx, r, am, N, C, H, W, OH, OW);
    for (i = 0; i < nx; i++) {
        real keep = x[i];
        double lp = 0, lm = 0;
        x[i] = keep + h;
        maxpool2d_forward(y, am, x, N, C, H, W, OH, OW);
        for (j = 0; j < ny; j++) lp += y[j] * r[j];
        x[i] = keep - h;
        maxpool2d_forward(y, am, x, N, C, H, W, OH, OW);
        for (j = 0; j < ny; j++) lm += y[j] * r[j];
        x[i] = keep;
        num[i] = (lp - lm) / (2 * h);
    }
    snprintf(name, sizeof name, "pool fd %dx%d ceil=%d", H, W, ceil_mode);
    test_close_real(name, dx, num, nx, 1e-8, 1e-8);
    free(x); free(y); free(r); free(dx); free(num); free(am);
}
#endif

/* Forward and backward bit-identical for 1, 2 and 3 threads (planes run in parallel). */
static void thread_identity(void)
{
#ifdef _OPENMP
    int N = 1, C = 64, H = 65, W = 105, OH = 33, OW = 53, t, saved = omp_get_max_threads();
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW;
    real *x = test_alloc(nx * sizeof(real)), *dy = test_alloc(ny * sizeof(real)), *y[3], *dx[3];
    int32_t *am[3];
    test_fill_random(x, nx, 7);
    test_fill_random(dy, ny, 8);
    for (t = 0; t < 3; t++) {
        y[t] = test_alloc(ny * sizeof(real));
        dx[t] = test_alloc(nx * sizeof(real));
        am[t] = test_alloc(ny * sizeof(int32_t));
        omp_set_num_threads(t + 1);
        maxpool2d_forward(y[t], am[t], x, N, C, H, W, OH, OW);
        maxpool2d_backward(dx[t], dy, am[t], N, C, H, W, OH, OW);
    }
    omp_set_num_threads(saved);
    for (t = 1; t < 3; t++) {
        CHECK(memcmp(y[0], y[t], ny * sizeof(real)) == 0 &&
                  memcmp(am[0], am[t], ny * sizeof(int32_t)) == 0,
              "pool forward with %d threads = 1 thread", t + 1);
        CHECK(memcmp(dx[0], dx[t], nx * sizeof(real)) == 0, "pool backward with %d threads", t + 1);
    }
    for (t = 0; t < 3; t++) { free(y[t]); free(dx[t]); free(am[t]); }
    free(x); free(dy);
#else
    test_skip("pool thread bit-identity needs OpenMP");
#endif
}

int main(void)
{
    test_begin("pool");
    CHECK(maxpool_out_size(7, 0) == 3 && maxpool_out_size(7, 1) == 4, "out size of 7");
    CHECK(maxpool_out_size(518, 1) == 259 && maxpool_out_size(259, 1) == 130, "FCN pool1/pool2");
    CHECK(maxpool_out_size(161, 0) == 80 && maxpool_out_size(1, 1) == 1, "D pool, size 1");
    golden_tests();
    exact_scan(2, 3, 7, 9, 0);
    exact_scan(2, 3, 7, 9, 1);
    exact_scan(1, 2, 8, 6, 1);
    exact_scan(1, 1, 1, 5, 1);
#ifdef LSD_DOUBLE
    finite_diff(1, 2, 5, 7, 1);
    finite_diff(2, 1, 6, 5, 0);
#else
    test_skip("pool finite-difference checks run in PRECISION=double builds");
#endif
    thread_identity();
    return test_summary();
}
