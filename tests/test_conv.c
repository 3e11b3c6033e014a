/*
 * test_conv.c - conv2d and conv_transpose2d (layers/conv.h).
 *
 *  1. PyTorch goldens (golden/conv.safetensors, one case per configuration
 *     the networks use): forward and backward, fast and direct.
 *  2. Fast (im2col + gemm, in row bands) against the direct loops on larger
 *     random shapes, including shapes that need several bands.
 *  3. Exact integer checks: small-integer inputs, reference computed in
 *     int64 by a scatter loop written here.
 *  4. Central finite differences (double builds only).
 *  5. Bit-identical results for 1, 2 and 3 OpenMP threads.
 *  6. Output sizes of the full networks, scratch size bounds, bilinear_init.
 *
 * Tolerances (|got - ref| <= atol + rtol*|ref|): a result that sums T products
 * whose factors are bounded by A and B can carry a rounding error up to about
 * T * eps * A * B from the summation, plus as much again in the float build
 * from rounding the float64 golden inputs to float. So atol = 2 * T * eps * A * B
 * with eps the machine epsilon of `real`, and rtol = 1e-5 (float) or 1e-10
 * (double) for the relative part of large values. In the double build atol is
 * ~1e-13 and the comparison is essentially exact; in the float build it is a
 * worst-case bound that still catches any wrong index or missing term (those
 * cause errors of the order of A * B).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../layers/activation.h"
#include "../layers/conv.h"
#include "../layers/conv_kernels.h"
#include "../tensor/gemm.h"
#include "../layers/pool.h"
#include "../tensor/safetensors.h"
#include "harness.h"
#include "misc_util.h"

#ifdef LSD_DOUBLE
#define EPS DBL_EPSILON
#define RTOL 1e-10
#else
#define EPS FLT_EPSILON
#define RTOL 1e-5
#endif

/* The atol of a sum of T products of factors bounded by a and b (see the top comment). */
static double sum_atol(double T, double a, double b) { return 2.0 * T * EPS * a * b + 1e-300; }

/* n zeroed reals (at least one), aborting the test program if memory is short. */
static real *alloc_real(size_t n) { return (real *)test_alloc(n * sizeof(real)); }

/* Reads tensor name (n elements) into dst; one check. */
static int read_t(st_file *sf, const char *name, real *dst, size_t n)
{
    lsd_err err;
    int rc = st_read_real(sf, name, dst, n, -1, NULL, &err);
    CHECK(rc == LSD_OK, "read %s: %s", name, rc ? err.msg : "");
    return rc;
}

/* Reads <c>.<t> into full (N,C,H,W), or <c>.<t>_win into its box of a zero (or `fill` per
 * channel if fill != NULL) tensor; *box receives the box (whole tensor if not windowed). */
static int read_maybe_win(st_file *sf, const char *c, const char *t, real *full, int N, int C,
                          int H, int W, const real *fill, int box[4])
{
    char name[160], bname[160];
    int64_t b[4];
    lsd_err err;
    snprintf(name, sizeof name, "%s.%s", c, t);
    if (st_find(sf, name)) {
        box[0] = 0; box[1] = H; box[2] = 0; box[3] = W;
        return read_t(sf, name, full, (size_t)N * C * H * W);
    }
    snprintf(name, sizeof name, "%s.%s_win", c, t);
    snprintf(bname, sizeof bname, "%s.%s_box", c, t);
    if (!CHECK(st_read_i64(sf, bname, b, 4, -1, NULL, &err) == LSD_OK, "read %s", bname))
        return 1;
    {
        int hh = (int)(b[1] - b[0]), ww = (int)(b[3] - b[2]), n, ch, y, x;
        real *win = alloc_real((size_t)N * C * hh * ww); /* (N, C, hh, ww) */
        int rc = read_t(sf, name, win, (size_t)N * C * hh * ww);
        for (n = 0; n < N; n++)
            for (ch = 0; ch < C; ch++)
                for (y = 0; y < H; y++)
                    for (x = 0; x < W; x++)
                        full[(((size_t)n * C + ch) * H + y) * W + x] = fill ? fill[ch] : 0;
        for (n = 0; n < N; n++)
            for (ch = 0; ch < C; ch++)
                for (y = 0; y < hh; y++)
                    for (x = 0; x < ww; x++)
                        full[(((size_t)n * C + ch) * H + y + b[0]) * W + x + b[2]] =
                            win[(((size_t)n * C + ch) * hh + y) * ww + x];
        free(win);
        box[0] = (int)b[0]; box[1] = (int)b[1]; box[2] = (int)b[2]; box[3] = (int)b[3];
        return rc;
    }
}

/* One golden case: forward and backward of the fast and the direct implementation. */
static void golden_case(st_file *sf, const char *c)
{
    char name[160];
    int64_t cfg[11];
    lsd_err err;
    ConvShape s;
    int tr, hb, box[4], impl;
    size_t nx, ny, nw;
    real *x, *w, *b, *y, *dy, *dx, *dw, *db, *got, *gdx, *gdw, *gdb, *scratch;
    double T_fwd, T_dx, T_dw, ax, aw, ady;
    snprintf(name, sizeof name, "%s.cfg", c);
    if (!CHECK(st_read_i64(sf, name, cfg, 11, -1, NULL, &err) == LSD_OK, "read %s", name)) return;
    tr = (int)cfg[9];
    hb = (int)cfg[10];
    s = tr ? convt_shape((int)cfg[0], (int)cfg[1], (int)cfg[2], (int)cfg[3], (int)cfg[4],
                         (int)cfg[5], (int)cfg[6], (int)cfg[7], (int)cfg[8])
           : conv2d_shape((int)cfg[0], (int)cfg[1], (int)cfg[2], (int)cfg[3], (int)cfg[4],
                          (int)cfg[5], (int)cfg[6], (int)cfg[7]);
    nx = (size_t)s.N * s.C * s.H * s.W;
    ny = (size_t)s.N * s.OC * s.OH * s.OW;
    nw = (size_t)s.OC * s.C * s.KH * s.KW;
    x = alloc_real(nx); dx = alloc_real(nx); gdx = alloc_real(nx);
    y = alloc_real(ny); dy = alloc_real(ny); got = alloc_real(ny);
    w = alloc_real(nw); dw = alloc_real(nw); gdw = alloc_real(nw);
    b = alloc_real(s.OC); db = alloc_real(s.OC); gdb = alloc_real(s.OC);
    scratch = alloc_real(conv_work_size(&s));

    snprintf(name, sizeof name, "%s.w", c); read_t(sf, name, w, nw);
    snprintf(name, sizeof name, "%s.dw", c); read_t(sf, name, dw, nw);
    if (hb) {
        snprintf(name, sizeof name, "%s.b", c); read_t(sf, name, b, s.OC);
        snprintf(name, sizeof name, "%s.db", c); read_t(sf, name, db, s.OC);
    }
    read_maybe_win(sf, c, "x", x, s.N, s.C, s.H, s.W, NULL, box);
    read_maybe_win(sf, c, "dx", dx, s.N, s.C, s.H, s.W, NULL, box);
    read_maybe_win(sf, c, "y", y, s.N, s.OC, s.OH, s.OW, hb ? b : NULL, box);
    read_maybe_win(sf, c, "dy", dy, s.N, s.OC, s.OH, s.OW, NULL, box);

    /* terms per output element and bounds of the factors */
    T_fwd = (double)(tr ? s.C : s.C) * s.KH * s.KW + 1;
    T_dx = (double)s.OC * s.KH * s.KW;
    T_dw = tr ? (double)s.N * s.H * s.W : (double)s.N * s.OH * s.OW;
    ax = test_max_abs(x, nx); aw = test_max_abs(w, nw); ady = test_max_abs(dy, ny);
    if (hb && test_max_abs(b, s.OC) > ax * aw) ax = test_max_abs(b, s.OC) / (aw > 0 ? aw : 1);

    for (impl = 0; impl < 2; impl++) {
        const char *iname = impl ? "direct" : "fast";
        char label[200];
        size_t i;
        /* forward */
        for (i = 0; i < ny; i++) got[i] = (real)12345; /* must be overwritten */
        if (tr) {
            if (impl) convt_forward_direct(got, x, w, hb ? b : NULL, &s);
            else convt_forward(got, x, w, hb ? b : NULL, &s, scratch);
        } else {
            if (impl) conv2d_forward_direct(got, x, w, hb ? b : NULL, &s);
            else conv2d_forward(got, x, w, hb ? b : NULL, &s, scratch);
        }
        snprintf(label, sizeof label, "%s %s forward", c, iname);
        test_close_real(label, got, y, ny, sum_atol(T_fwd, ax, aw), RTOL);
        /* backward, accumulating onto 0.25 */
        for (i = 0; i < nx; i++) gdx[i] = (real)0.25;
        for (i = 0; i < nw; i++) gdw[i] = (real)0.25;
        for (i = 0; i < (size_t)s.OC; i++) gdb[i] = (real)0.25;
        if (tr) {
            if (impl) convt_backward_direct(gdx, gdw, hb ? gdb : NULL, dy, x, w, &s);
            else convt_backward(gdx, gdw, hb ? gdb : NULL, dy, x, w, &s, scratch);
        } else {
            if (impl) conv2d_backward_direct(gdx, gdw, hb ? gdb : NULL, dy, x, w, &s);
            else conv2d_backward(gdx, gdw, hb ? gdb : NULL, dy, x, w, &s, scratch);
        }
        for (i = 0; i < nx; i++) gdx[i] -= (real)0.25;
        for (i = 0; i < nw; i++) gdw[i] -= (real)0.25;
        for (i = 0; i < (size_t)s.OC; i++) gdb[i] -= (real)0.25;
        snprintf(label, sizeof label, "%s %s dx", c, iname);
        test_close_real(label, gdx, dx, nx, sum_atol(T_dx, ady, aw) + EPS, RTOL);
        snprintf(label, sizeof label, "%s %s dw", c, iname);
        test_close_real(label, gdw, dw, nw, sum_atol(T_dw, ady, ax) + EPS, RTOL);
        if (hb) {
            snprintf(label, sizeof label, "%s %s db", c, iname);
            test_close_real(label, gdb, db, s.OC, sum_atol(T_dw, ady, 1) + EPS, RTOL);
        }
    }
    free(x); free(dx); free(gdx); free(y); free(dy); free(got);
    free(w); free(dw); free(gdw); free(b); free(db); free(gdb); free(scratch);
}

/* Runs every case of golden/conv.safetensors (the entries named <case>.cfg). */
static void golden_tests(void)
{
    int ncase = gold_each_case("conv.safetensors", golden_case);
    if (ncase >= 0)
        CHECK(ncase >= 18, "golden/conv.safetensors holds %d cases, expected 18", ncase);
}

/* Fast against direct on a random shape (forward and backward). */
static void fast_vs_direct(const char *label, ConvShape s, int tr, int hb)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW;
    real *x = alloc_real(nx), *w = alloc_real(nw), *b = alloc_real(s.OC), *dy = alloc_real(ny);
    real *y1 = alloc_real(ny), *y2 = alloc_real(ny), *dx1 = alloc_real(nx), *dx2 = alloc_real(nx);
    real *dw1 = alloc_real(nw), *dw2 = alloc_real(nw), *db1 = alloc_real(s.OC),
         *db2 = alloc_real(s.OC), *scratch = alloc_real(conv_work_size(&s));
    char name[200];
    double Tf = (double)s.C * s.KH * s.KW + 1, Tdx = (double)s.OC * s.KH * s.KW;
    double Tdw = tr ? (double)s.N * s.H * s.W : (double)s.N * s.OH * s.OW;
    test_fill_random(x, nx, 1); test_fill_random(w, nw, 2);
    test_fill_random(b, s.OC, 3); test_fill_random(dy, ny, 4);
    if (tr) {
        convt_forward(y1, x, w, hb ? b : NULL, &s, scratch);
        convt_forward_direct(y2, x, w, hb ? b : NULL, &s);
        convt_backward(dx1, dw1, hb ? db1 : NULL, dy, x, w, &s, scratch);
        convt_backward_direct(dx2, dw2, hb ? db2 : NULL, dy, x, w, &s);
    } else {
        conv2d_forward(y1, x, w, hb ? b : NULL, &s, scratch);
        conv2d_forward_direct(y2, x, w, hb ? b : NULL, &s);
        conv2d_backward(dx1, dw1, hb ? db1 : NULL, dy, x, w, &s, scratch);
        conv2d_backward_direct(dx2, dw2, hb ? db2 : NULL, dy, x, w, &s);
    }
    /* the direct loops sum in double: only the fast path's rounding counts (T * eps) */
    snprintf(name, sizeof name, "%s forward fast=direct", label);
    test_close_real(name, y1, y2, ny, sum_atol(Tf, 1, 1) / 2, RTOL);
    snprintf(name, sizeof name, "%s dx fast=direct", label);
    test_close_real(name, dx1, dx2, nx, sum_atol(Tdx, 1, 1) / 2, RTOL);
    snprintf(name, sizeof name, "%s dw fast=direct", label);
    test_close_real(name, dw1, dw2, nw, sum_atol(Tdw, 1, 1) / 2, RTOL);
    if (hb) {
        snprintf(name, sizeof name, "%s db fast=direct", label);
        test_close_real(name, db1, db2, s.OC, sum_atol(Tdw, 1, 1) / 2, RTOL);
    }
    free(x); free(w); free(b); free(dy); free(y1); free(y2); free(dx1); free(dx2);
    free(dw1); free(dw2); free(db1); free(db2); free(scratch);
}

/* x (N, C, H, W) with runs of equal rows and columns, as F's layers have around the image
 * (the padding of 100): per channel, columns [0, W/4) repeat column 0 and [3W/4, W) column
 * W-1 in every row; rows [0, H/3) and [3H/4, H) repeat one random row, rows [H/2, 3H/4)
 * another, which holds -0 in its first columns and +0 and an infinity in the middle. */
static void fill_repeated(real *x, const ConvShape *s)
{
    int n, c, r, j, H = s->H, W = s->W;
    test_fill_random(x, (size_t)s->N * s->C * H * W, 34);
    for (n = 0; n < s->N; n++)
        for (c = 0; c < s->C; c++) {
            real *p = x + ((size_t)n * s->C + c) * H * W;
            p[(size_t)(H / 2) * W] = -(real)0;
            if (W > 4) {
                p[(size_t)(H / 2) * W + W / 2] = 0;
                p[(size_t)(H / 2) * W + W / 2 + 1] = c % 2 ? (real)INFINITY : -(real)INFINITY;
            }
            for (r = 0; r < H; r++)
                for (j = 0; j < W; j++)
                    if (j < W / 4 || j >= 3 * W / 4)
                        p[(size_t)r * W + j] = p[(size_t)r * W + (j < W / 4 ? 0 : W - 1)];
            for (r = 0; r < H; r++) {
                int from = r < H / 3 || r >= 3 * H / 4 ? 0 : r > H / 2 && r < 3 * H / 4 ? H / 2 : r;
                if (from != r) memcpy(p + (size_t)r * W, p + (size_t)from * W, W * sizeof(real));
            }
        }
}

/* conv2d_forward_relu equals conv2d_forward then relu_forward, bit for bit: biases of +-0,
 * +-inf and NaN (outputs inf - inf, NaN, +-0 and of both signs), and no bias. */
static void fused_relu_identity(const char *label, ConvShape s)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW;
    real *x = alloc_real(nx), *w = alloc_real(nw), *b = alloc_real(s.OC), *y1 = alloc_real(ny);
    real *y2 = alloc_real(ny), *scratch = alloc_real(conv_work_size(&s));
    int k;
    test_fill_random(x, nx, 41); test_fill_random(w, nw, 42); test_fill_random(b, s.OC, 43);
    x[0] = (real)INFINITY; /* some outputs inf, and inf - inf with the -inf bias */
    if (s.OC > 5) {
        b[0] = 0; b[1] = -(real)0; b[2] = (real)INFINITY; b[3] = -(real)INFINITY;
        b[4] = (real)NAN;
    }
    for (k = 0; k < 2; k++) {
        conv2d_forward(y1, x, w, k ? NULL : b, &s, scratch);
        relu_forward(y1, y1, ny);
        test_fill_random(y2, ny, 44);
        conv2d_forward_relu(y2, x, w, k ? NULL : b, &s, scratch);
        CHECK(memcmp(y1, y2, ny * sizeof(real)) == 0, "%s%s: conv2d_forward_relu != "
              "conv2d_forward + relu_forward", label, k ? " (no bias)" : "");
    }
    free(x); free(w); free(b); free(y1); free(y2); free(scratch);
}

/* conv2d_forward must equal, bit for bit, gemm_naive (k in increasing order) applied to an
 * im2col built here by naive loops, plus the bias: the order of every sum is fixed whichever
 * path (im2col + gemm, the direct path for few channels, or rows and columns computed once
 * and copied where their windows repeat: fill_repeated when `repeated`) computes it, with
 * 1, 2 and 3 threads (with several, the repeated rows' bands run one a thread). */
static void forward_vs_naive_gemm(const char *label, ConvShape s, int repeated)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, P = (size_t)s.OH * s.OW, ny = (size_t)s.N * s.OC * P;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW, ckk = (size_t)s.C * s.KH * s.KW, i;
    real *x = alloc_real(nx), *w = alloc_real(nw), *b = alloc_real(s.OC), *y1 = alloc_real(ny);
    real *y2 = alloc_real(ny), *col = alloc_real(ckk * P);
    real *scratch = alloc_real(conv_work_size(&s));
    int n, c, kh, kw, oh, ow, o;
    test_fill_random(x, nx, 31); test_fill_random(w, nw, 32); test_fill_random(b, s.OC, 33);
    int t, saved = 1, bad = 0;
    long runs0 = conv_band_parallel_count();
#ifdef _OPENMP
    saved = omp_get_max_threads();
#endif
    if (repeated) fill_repeated(x, &s);
    for (n = 0; n < s.N; n++) {
        for (c = 0; c < s.C; c++)
            for (kh = 0; kh < s.KH; kh++)
                for (kw = 0; kw < s.KW; kw++)
                    for (oh = 0; oh < s.OH; oh++)
                        for (ow = 0; ow < s.OW; ow++) {
                            int ih = oh * s.stride - s.pad + kh, iw = ow * s.stride - s.pad + kw;
                            col[(((size_t)c * s.KH + kh) * s.KW + kw) * P + (size_t)oh * s.OW + ow] =
                                ih < 0 || ih >= s.H || iw < 0 || iw >= s.W ? 0 :
                                x[(((size_t)n * s.C + c) * s.H + ih) * s.W + iw];
                        }
        gemm_naive(0, 0, s.OC, (int)P, (int)ckk, 1, w, (int)ckk, col, (int)P, 0,
                   y2 + (size_t)n * s.OC * P, (int)P);
        for (o = 0; o < s.OC; o++)
            for (i = 0; i < P; i++) y2[((size_t)n * s.OC + o) * P + i] += b[o];
    }
    for (t = 1; t <= 3 && !bad; t++) {
        test_set_threads(t);
        conv2d_forward(y1, x, w, b, &s, scratch);
        if (memcmp(y1, y2, ny * sizeof(real)) != 0) bad = t;
    }
    test_set_threads(saved);
    CHECK(!bad, "%s: forward with %d thread(s) != naive im2col + gemm_naive", label, bad);
#ifdef _OPENMP
    if (repeated == 2) /* several bands a pass: with several threads, one a thread */
        CHECK(conv_band_parallel_count() > runs0,
              "%s: the bands of repeated rows did not run one a thread", label);
#endif
    (void)runs0;
    free(x); free(w); free(b); free(y1); free(y2); free(col); free(scratch);
}

/* The smallest positive subnormal `real`: its products with weights below 1 round to 0. */
static real smallest_subnormal(void)
{
    volatile real tiny = 1;
    while (tiny / 2 > 0) tiny = tiny / 2;
    return tiny;
}

/* Sets some values of v (n > 8) to +0, -0 and plus or minus the smallest subnormal. */
static void signed_zeros(real *v, size_t n)
{
    real tiny = smallest_subnormal();
    size_t i;
    for (i = 0; i < n; i += 7) {
        switch ((i / 7) % 4) {
        case 0: v[i] = 0; break;
        case 1: v[i] = -(real)0; break;
        case 2: v[i] = -tiny; break;
        default: v[i] = tiny; break;
        }
    }
}

/* The direct path for every width (conv_kernels.c, wide_rect) against im2col + gemm
 * (LSD_CONV_DIRECT=0), bit for bit, with 1, 2 and 3 threads. mode 0: the forward pass, the
 * image with +0, -0, subnormals and (with `inf`) an infinity; 1: the forward pass of an image
 * whose rows and columns repeat (F's frame: the rectangles of band_columns); 2: the input
 * gradient (the flipped grid pass, adding to din; zero skipping off so that every band is
 * dense); 3: the input gradient with zero skipping on, of a gradient that is 0 in its upper
 * half (the sample is skipped band by band, and the bands of the lower half are dense).
 * The path must have run wherever the kernel gemm runs takes the pass's C*KH*KW
 * (conv_wide_ckk_max; the grid channels of these shapes fill a tile), and the skip says
 * so where it does not. */
static void wide_identity(const char *label, ConvShape s, int mode, int inf)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW;
    real *x = alloc_real(nx), *w = alloc_real(nw), *dy = alloc_real(ny), *ref, *got;
    real *scratch = alloc_real(conv_work_size(&s));
    size_t n = mode >= 2 ? nx : ny;
    const char *saved = getenv("LSD_CONV_DIRECT");
    char keep[8] = "";
    int ckk = mode >= 2 ? s.OC * s.KH * s.KW : s.C * s.KH * s.KW, t, bad = 0, skip0;
    long runs0 = conv_wide_count();
    ref = alloc_real(n); got = alloc_real(n);
    if (saved) snprintf(keep, sizeof keep, "%s", saved);
    test_fill_random(x, nx, 41); test_fill_random(w, nw, 42); test_fill_random(dy, ny, 43);
    if (mode == 0) signed_zeros(x, nx);
    if (inf) x[nx / 2] = (real)INFINITY;
    if (mode == 1) fill_repeated(x, &s);
    if (mode == 3) /* rows above OH/2 of every channel 0 */
        for (t = 0; t < s.N * s.OC; t++)
            memset(dy + (size_t)t * s.OH * s.OW, 0, sizeof(real) * (s.OH / 2) * s.OW);
    skip0 = conv_zero_skip(mode == 3);
    for (t = 0; t <= 3 && !bad; t++) { /* t = 0: the reference, im2col + gemm on 1 thread */
        real *out = t ? got : ref;
        test_set_threads(t ? t : 1);
        if (t) unsetenv("LSD_CONV_DIRECT"); else setenv("LSD_CONV_DIRECT", "0", 1);
        if (mode >= 2) {
            test_fill_random(out, n, 44); /* din += */
            conv2d_backward(out, NULL, NULL, dy, x, w, &s, scratch);
        } else {
            conv2d_forward(out, x, w, NULL, &s, scratch);
        }
        if (t && memcmp(ref, got, n * sizeof(real)) != 0) bad = t;
    }
    test_set_threads(1);
    conv_zero_skip(skip0);
    if (*keep) setenv("LSD_CONV_DIRECT", keep, 1); else unsetenv("LSD_CONV_DIRECT");
    CHECK(!bad, "%s: the direct path for every width with %d thread(s) != im2col + gemm",
          label, bad);
    if (conv_wide_ckk_max() >= ckk)
        CHECK(conv_wide_count() > runs0, "%s: the direct path for every width did not run "
              "(gemm kernel %s, C*KH*KW %d)", label, gemm_kernel_name(), ckk);
    else
        test_skip("%s: the %s kernel has no direct path for C*KH*KW = %d", label,
                  gemm_kernel_name(), ckk);
    free(x); free(w); free(dy); free(ref); free(got); free(scratch);
}

/* The image pass's shortcut for channel-diagonal weights (FCN's bilinear upsampling,
 * layers/conv_kernels.c) must give the bits of im2col + gemm + col2im. The reference runs the
 * same layer with one more grid channel, all zeros, whose weights are 1: the weight is then
 * not square and the gemm path runs, and the extra terms (1 * 0 = +0) leave every sum as it
 * is. Grid values include +0, -0 and subnormals whose products round to -0. The output of
 * conv2d_backward (din +=) starts at -0 where all its terms are -0 (the gemm's sums make them
 * +0). With inf, one grid value is infinite (the shortcut steps aside for its band).
 * tr: convt_forward (C's upscore layers); else conv2d_backward's din (stride > 1, so not the
 * flipped grid pass). */
static void diagonal_vs_gemm(const char *label, ConvShape s, int tr, int inf)
{
    ConvShape e = s; /* s with one more grid channel */
    int G = tr ? s.C : s.OC, I = tr ? s.OC : s.C, n, c;
    size_t KK = (size_t)s.KH * s.KW, gsz = (size_t)(tr ? s.H * s.W : s.OH * s.OW);
    size_t isz = (size_t)(tr ? s.OH * s.OW : s.H * s.W), i;
    real *grid = alloc_real((size_t)s.N * G * gsz);
    real *gridx = alloc_real((size_t)s.N * (G + 1) * gsz);
    real *w = alloc_real((size_t)G * I * KK), *wx = alloc_real((size_t)(G + 1) * I * KK);
    real *img = alloc_real((size_t)s.N * I * isz), *imgx = alloc_real((size_t)s.N * I * isz);
    real *scratch, *unused = alloc_real((size_t)s.N * I * isz + 1);
    if (tr) e.C = s.C + 1;
    else e.OC = s.OC + 1;
    scratch = alloc_real(conv_work_size(&e) > conv_work_size(&s) ? conv_work_size(&e)
                                                                  : conv_work_size(&s));
    if (tr) {
        bilinear_init(w, G, s.KH);
    } else {
        test_fill_random(w, (size_t)G * I * KK, 41);
        for (n = 0; n < G; n++)
            for (c = 0; c < I; c++)
                if (c != n)
                    for (i = 0; i < KK; i++)
                        w[((size_t)n * I + c) * KK + i] = (i % 3) ? 0 : -(real)0;
        test_fill_random(img, (size_t)s.N * I * isz, 42);
        signed_zeros(img, (size_t)s.N * I * isz);
        memcpy(imgx, img, (size_t)s.N * I * isz * sizeof(real));
    }
    test_fill_random(grid, (size_t)s.N * G * gsz, 43);
    signed_zeros(grid, (size_t)s.N * G * gsz);
    if (!tr) /* channel 0 of sample 0: din -0, every product -0; the gemm's sums make them +0 */
        for (i = 0; i < gsz || i < isz; i++) {
            if (i < gsz) grid[i] = i % 2 ? -smallest_subnormal() : -(real)0;
            if (i < isz) img[i] = imgx[i] = -(real)0;
        }
    if (inf) grid[(size_t)s.N * G * gsz - gsz / 3] = (real)inf * (real)INFINITY;
    for (n = 0; n < s.N; n++) {
        memcpy(gridx + (size_t)n * (G + 1) * gsz, grid + (size_t)n * G * gsz,
               (size_t)G * gsz * sizeof(real));
        memset(gridx + ((size_t)n * (G + 1) + G) * gsz, 0, gsz * sizeof(real));
    }
    memcpy(wx, w, (size_t)G * I * KK * sizeof(real));
    for (i = 0; i < (size_t)I * KK; i++) wx[(size_t)G * I * KK + i] = 1;
    if (tr) {
        convt_forward(img, grid, w, NULL, &s, scratch);
        convt_forward(imgx, gridx, wx, NULL, &e, scratch);
    } else {
        conv2d_backward(img, NULL, NULL, grid, unused, w, &s, scratch);
        conv2d_backward(imgx, NULL, NULL, gridx, unused, wx, &e, scratch);
    }
    CHECK(memcmp(img, imgx, (size_t)s.N * I * isz * sizeof(real)) == 0,
          "%s: channel-diagonal weights do not give the bits of the gemm path", label);
    free(grid); free(gridx); free(w); free(wx); free(img); free(imgx); free(scratch); free(unused);
}

/* Exact check: integer inputs, outputs accumulated here in int64 by scattering each product
 * of an input and a weight to the output it feeds (conv: out[oh][ow] gets in[oh*s-p+kh]...,
 * convt: out[ih*s-p+kh] gets in[ih]...). Compared with atol 0. */
static void exact_integer(const char *label, ConvShape s, int tr)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW, i;
    real *x = alloc_real(nx), *w = alloc_real(nw), *b = alloc_real(s.OC), *dy = alloc_real(ny);
    real *y = alloc_real(ny), *yd = alloc_real(ny), *ry = alloc_real(ny), *dx = alloc_real(nx),
         *rdx = alloc_real(nx), *dw = alloc_real(nw), *rdw = alloc_real(nw), *scratch;
    int64_t *iy = calloc(ny, sizeof(int64_t)), *idx = calloc(nx, sizeof(int64_t)),
            *idw = calloc(nw, sizeof(int64_t));
    int n, c, o, h, ww, kh, kw;
    char name[200];
    scratch = alloc_real(conv_work_size(&s));
    if (!iy || !idx || !idw) exit(1);
    for (i = 0; i < nx; i++) x[i] = (real)((long)(i % 11) - 5);
    for (i = 0; i < nw; i++) w[i] = (real)((long)(i % 7) - 3);
    for (i = 0; i < ny; i++) dy[i] = (real)((long)(i % 5) - 2);
    for (i = 0; i < (size_t)s.OC; i++) b[i] = (real)(long)i;
    for (i = 0; i < ny; i++) iy[i] = (int64_t)b[(i / ((size_t)s.OH * s.OW)) % s.OC];
    /* conv: input (c,h,ww) meets output (oh,ow) through (kh,kw) when oh*s-p+kh = h;
     * convt: input (c,h,ww) meets output (oh,ow) when h*s-p+kh = oh. */
    for (n = 0; n < s.N; n++)
        for (c = 0; c < s.C; c++)
            for (h = 0; h < (tr ? s.H : s.OH); h++)
                for (ww = 0; ww < (tr ? s.W : s.OW); ww++)
                    for (o = 0; o < s.OC; o++)
                        for (kh = 0; kh < s.KH; kh++)
                            for (kw = 0; kw < s.KW; kw++) {
                                int ph = h * s.stride - s.pad + kh, pw = ww * s.stride - s.pad + kw;
                                size_t xi, yi, wi;
                                if (tr) {
                                    if (ph < 0 || ph >= s.OH || pw < 0 || pw >= s.OW) continue;
                                    xi = (((size_t)n * s.C + c) * s.H + h) * s.W + ww;
                                    yi = (((size_t)n * s.OC + o) * s.OH + ph) * s.OW + pw;
                                    wi = (((size_t)c * s.OC + o) * s.KH + kh) * s.KW + kw;
                                } else {
                                    if (ph < 0 || ph >= s.H || pw < 0 || pw >= s.W) continue;
                                    xi = (((size_t)n * s.C + c) * s.H + ph) * s.W + pw;
                                    yi = (((size_t)n * s.OC + o) * s.OH + h) * s.OW + ww;
                                    wi = (((size_t)o * s.C + c) * s.KH + kh) * s.KW + kw;
                                }
                                iy[yi] += (int64_t)x[xi] * (int64_t)w[wi];
                                idx[xi] += (int64_t)dy[yi] * (int64_t)w[wi];
                                idw[wi] += (int64_t)dy[yi] * (int64_t)x[xi];
                            }
    for (i = 0; i < ny; i++) ry[i] = (real)iy[i];
    for (i = 0; i < nx; i++) rdx[i] = (real)idx[i];
    for (i = 0; i < nw; i++) rdw[i] = (real)idw[i];
    if (tr) {
        convt_forward(y, x, w, b, &s, scratch);
        convt_forward_direct(yd, x, w, b, &s);
        convt_backward(dx, dw, NULL, dy, x, w, &s, scratch);
    } else {
        conv2d_forward(y, x, w, b, &s, scratch);
        conv2d_forward_direct(yd, x, w, b, &s);
        conv2d_backward(dx, dw, NULL, dy, x, w, &s, scratch);
    }
    snprintf(name, sizeof name, "%s exact forward", label);
    test_close_real(name, y, ry, ny, 0, 0);
    snprintf(name, sizeof name, "%s exact forward direct", label);
    test_close_real(name, yd, ry, ny, 0, 0);
    snprintf(name, sizeof name, "%s exact dx", label);
    test_close_real(name, dx, rdx, nx, 0, 0);
    snprintf(name, sizeof name, "%s exact dw", label);
    test_close_real(name, dw, rdw, nw, 0, 0);
    free(x); free(w); free(b); free(dy); free(y); free(yd); free(ry); free(dx); free(rdx);
    free(dw); free(rdw); free(scratch); free(iy); free(idx); free(idw);
}

#ifdef LSD_DOUBLE
/* L = sum(y * r) for the fast forward. */
static double loss_of(const ConvShape *s, int tr, const real *x, const real *w, const real *b,
                      const real *r, real *y, real *scratch)
{
    size_t i, ny = (size_t)s->N * s->OC * s->OH * s->OW;
    double L = 0;
    if (tr) convt_forward(y, x, w, b, s, scratch);
    else conv2d_forward(y, x, w, b, s, scratch);
    for (i = 0; i < ny; i++) L += y[i] * r[i];
    return L;
}

/* Central differences of L = sum(y * r) w.r.t. every element of v, against grad. */
static void fd_array(const char *label, const ConvShape *s, int tr, real *x, real *w, real *b,
                     const real *r, real *v, size_t n, const real *grad, real *y, real *scratch)
{
    size_t i;
    real *num = alloc_real(n);
    const double h = 1e-6;
    for (i = 0; i < n; i++) {
        real keep = v[i];
        double lp, lm;
        v[i] = keep + h;
        lp = loss_of(s, tr, x, w, b, r, y, scratch);
        v[i] = keep - h;
        lm = loss_of(s, tr, x, w, b, r, y, scratch);
        v[i] = keep;
        num[i] = (real)((lp - lm) / (2 * h));
    }
    /* L is linear in each variable, so only rounding of L (~1e-15 * |L| / h) remains */
    test_close_real(label, grad, num, n, 1e-7, 1e-7);
    free(num);
}

/* Finite-difference check of the gradients w.r.t. input, weight and bias. */
static void finite_diff(const char *label, ConvShape s, int tr)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW;
    real *x = alloc_real(nx), *w = alloc_real(nw), *b = alloc_real(s.OC), *r = alloc_real(ny);
    real *y = alloc_real(ny), *dx = alloc_real(nx), *dw = alloc_real(nw), *db = alloc_real(s.OC);
    real *scratch = alloc_real(conv_work_size(&s));
    char name[200];
    test_fill_random(x, nx, 11); test_fill_random(w, nw, 12);
    test_fill_random(b, s.OC, 13); test_fill_random(r, ny, 14);
    if (tr) convt_backward(dx, dw, db, r, x, w, &s, scratch);
    else conv2d_backward(dx, dw, db, r, x, w, &s, scratch);
    snprintf(name, sizeof name, "%s fd dx", label);
    fd_array(name, &s, tr, x, w, b, r, x, nx, dx, y, scratch);
    snprintf(name, sizeof name, "%s fd dw", label);
    fd_array(name, &s, tr, x, w, b, r, w, nw, dw, y, scratch);
    snprintf(name, sizeof name, "%s fd db", label);
    fd_array(name, &s, tr, x, w, b, r, b, s.OC, db, y, scratch);
    free(x); free(w); free(b); free(r); free(y); free(dx); free(dw); free(db); free(scratch);
}
#endif

/* The bias gradient is, for each channel, the double sum of its values sample by sample,
 * position by position, rounded once: checked bit for bit against that loop written out
 * here, for channel counts around the side-by-side lanes and 1 and 2 threads. The values
 * (2^-8..2^8, both signs) carry +2^60 and later -2^60 in each row, so that the values
 * between are added to a sum near 2^60, rounded to multiples of 256: the result depends
 * on the order of the additions. */
static void bias_grad_order(void)
{
    static const int counts[] = {1, 3, 4, 5, 9, 19};
    const int N = 2, HW = 1013;
    unsigned long long x = 0x2545F4914F6CDD1Dull;
    int k, t;
#ifdef _OPENMP
    int saved = omp_get_max_threads();
#endif
    for (k = 0; k < (int)(sizeof counts / sizeof counts[0]); k++) {
        int OC = counts[k], o, n, i, bad = -1;
        size_t total = (size_t)N * OC * HW, j;
        real *dout = alloc_real(total), *got = alloc_real(OC), *want = alloc_real(OC);
        for (j = 0; j < total; j++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            dout[j] = (real)ldexp((double)(x >> 40) / 16777216.0 * ((x & 1) ? -1 : 1),
                                  (int)((x >> 8) % 17) - 8);
        }
        for (j = 0; j < (size_t)N * OC; j++) { /* row j: +2^60 at 1/5, -2^60 at 3/5 */
            dout[j * HW + HW / 5] = (real)ldexp(1, 60);
            dout[j * HW + 3 * HW / 5] = (real)-ldexp(1, 60);
        }
        for (o = 0; o < OC; o++) {
            double acc = 0;
            for (n = 0; n < N; n++)
                for (i = 0; i < HW; i++) acc += dout[((size_t)n * OC + o) * HW + i];
            want[o] = (real)0.25 * o + (real)acc;
        }
        for (t = 1; t <= 2; t++) {
#ifdef _OPENMP
            omp_set_num_threads(t);
#endif
            for (o = 0; o < OC; o++) got[o] = (real)0.25 * o;
            conv_bias_grad(got, dout, N, OC, (size_t)HW);
            for (o = 0; o < OC && bad < 0; o++)
                if (memcmp(&got[o], &want[o], sizeof(real)) != 0) bad = o;
            CHECK(bad < 0, "bias gradient, %d channels, %d thread(s): channel %d is %.9g, the "
                  "double sum in order %.9g", OC, t, bad, bad < 0 ? 0.0 : (double)got[bad],
                  bad < 0 ? 0.0 : (double)want[bad]);
        }
        free(dout); free(got); free(want);
    }
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
}

/* Forward and backward with 1, 2 and 3 threads must agree bit for bit. */
static void thread_identity(const char *label, ConvShape s, int tr)
{
#ifdef _OPENMP
    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW;
    real *x = alloc_real(nx), *w = alloc_real(nw), *b = alloc_real(s.OC), *dy = alloc_real(ny);
    real *y[3], *dx[3], *dw[3], *db[3], *scratch = alloc_real(conv_work_size(&s));
    int t, saved = omp_get_max_threads();
    test_fill_random(x, nx, 21); test_fill_random(w, nw, 22);
    test_fill_random(b, s.OC, 23); test_fill_random(dy, ny, 24);
    for (t = 0; t < 3; t++) {
        y[t] = alloc_real(ny); dx[t] = alloc_real(nx); dw[t] = alloc_real(nw); db[t] = alloc_real(s.OC);
        omp_set_num_threads(t + 1);
        if (tr) {
            convt_forward(y[t], x, w, b, &s, scratch);
            convt_backward(dx[t], dw[t], db[t], dy, x, w, &s, scratch);
        } else {
            conv2d_forward(y[t], x, w, b, &s, scratch);
            conv2d_backward(dx[t], dw[t], db[t], dy, x, w, &s, scratch);
        }
    }
    omp_set_num_threads(saved);
    for (t = 1; t < 3; t++) {
        CHECK(memcmp(y[0], y[t], ny * sizeof(real)) == 0, "%s: forward, %d threads != 1", label, t + 1);
        CHECK(memcmp(dx[0], dx[t], nx * sizeof(real)) == 0, "%s: dx, %d threads != 1", label, t + 1);
        CHECK(memcmp(dw[0], dw[t], nw * sizeof(real)) == 0, "%s: dw, %d threads != 1", label, t + 1);
        CHECK(memcmp(db[0], db[t], s.OC * sizeof(real)) == 0, "%s: db, %d threads != 1", label, t + 1);
    }
    for (t = 0; t < 3; t++) { free(y[t]); free(dx[t]); free(dw[t]); free(db[t]); }
    free(x); free(w); free(b); free(dy); free(scratch);
#else
    (void)s; (void)tr;
    test_skip("%s: thread bit-identity needs OpenMP", label);
#endif
}

/* dy (N, OC, OH, OW) with the zeros the backward passes skip: around a centre box of
 * (OH/3.., OW/3..) every point but those at even row and column is 0 in all channels (the
 * frame before a max pooling of equal values); the last sample, when N > 1, 0 throughout
 * (the first iteration's gradient); with `hole`, also a 20 x 20 block of the first sample
 * (no tap of the points inside sees a nonzero). */
static void pooled_frame(real *dy, const ConvShape *s, int hole)
{
    size_t HW = (size_t)s->OH * s->OW;
    int n, c, r, x;
    test_fill_random(dy, (size_t)s->N * s->OC * HW, 31);
    for (n = 0; n < s->N; n++)
        for (c = 0; c < s->OC; c++)
            for (r = 0; r < s->OH; r++)
                for (x = 0; x < s->OW; x++) {
                    int inside = r >= s->OH / 3 && r < 2 * s->OH / 3 && x >= s->OW / 3 &&
                                 x < 2 * s->OW / 3;
                    int keep = inside || (r % 2 == 0 && x % 2 == 0);
                    if (n == s->N - 1 && s->N > 1) keep = 0;
                    if (hole && n == 0 && r >= 2 && r < 22 && x >= 2 && x < 22) keep = 0;
                    if (!keep) dy[((size_t)n * s->OC + c) * HW + (size_t)r * s->OW + x] = 0;
                }
}

/* Every tenth value -0 (the sums the passes add to may start so). */
static void some_negative_zeros(real *v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i += 10) v[i] = -(real)0;
}

/* The backward passes skip the grid points whose gradient is 0 in every channel
 * (layers/conv_kernels.c, "grid points with no gradient"): conv2d_backward's din, dweight
 * and dbias must be bit-identical with the skipping off, with 1 and 2 threads, the skipping
 * must have happened (both kinds), and a weight or input that is not finite must give the
 * dense path's bits (NaN where inf * 0 is). Then the weight gradient in several bands (a
 * small budget) alone. */
static void zero_skip_identity(const char *label, ConvShape s, int hole)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW, nsc = conv_work_size(&s);
    real *x = alloc_real(nx), *w = alloc_real(nw), *dy = alloc_real(ny);
    real *scratch = alloc_real(nsc), *dx[3], *dw[3], *db[3];
    long w0, i0, w1, i1;
    int t, k, was = conv_zero_skip(1), saved = 1;
#ifdef _OPENMP
    saved = omp_get_max_threads();
#endif
    pooled_frame(dy, &s, hole);
    for (k = 0; k < 3; k++) { /* 0: finite; 1: an inf weight; 2: an inf input */
        test_fill_random(x, nx, 32);
        test_fill_random(w, nw, 33);
        if (k == 1) w[nw / 2] = (real)INFINITY;
        for (t = 0; k == 2 && t < s.N; t++) /* seen by frame points */
            x[(size_t)t * s.C * s.H * s.W + 1] = (real)-INFINITY;
        conv_zero_skip_counts(&w0, &i0);
        for (t = 0; t < 3; t++) { /* skipping with 1 and 2 threads, then dense */
            dx[t] = alloc_real(nx); dw[t] = alloc_real(nw); db[t] = alloc_real(s.OC);
            test_fill_random(dx[t], nx, 34); test_fill_random(dw[t], nw, 35);
            some_negative_zeros(dx[t], nx); some_negative_zeros(dw[t], nw);
#ifndef _OPENMP
            if (t == 1) { /* without OpenMP, 2 threads are 1: the run would repeat t = 0's */
                memcpy(dx[1], dx[0], nx * sizeof(real)); memcpy(dw[1], dw[0], nw * sizeof(real));
                memcpy(db[1], db[0], s.OC * sizeof(real));
                continue;
            }
#endif
            conv_zero_skip(t < 2);
            test_set_threads(t == 1 ? 2 : 1);
            conv2d_backward(dx[t], dw[t], db[t], dy, x, w, &s, scratch);
        }
        test_set_threads(saved);
        conv_zero_skip_counts(&w1, &i1);
        if (k == 0) /* the input gradient only with stride 1 and padding < K (flippable) */
            CHECK(w1 > w0 && (i1 > i0) == (s.stride == 1 && s.pad < s.KH),
                  "%s: the skipping paths ran (weight-gradient bands %ld, input-gradient bands "
                  "%ld)", label, w1 - w0, i1 - i0);
        else /* (an inf input: windows wholly in a padding of K or more may still go) */
            CHECK(k == 1 ? i1 == i0 : w1 == w0 || s.pad >= s.KH, "%s %s: no skipping where a "
                  "factor is not finite", label, k == 1 ? "inf weight" : "inf input");
        for (t = 0; t < 2; t++) {
            CHECK(memcmp(dx[t], dx[2], nx * sizeof(real)) == 0, "%s%s: din, skipping (%d "
                  "thread(s)) != dense", label, k ? " (not finite)" : "", t + 1);
            CHECK(memcmp(dw[t], dw[2], nw * sizeof(real)) == 0, "%s%s: dweight, skipping (%d "
                  "thread(s)) != dense", label, k ? " (not finite)" : "", t + 1);
            CHECK(memcmp(db[t], db[2], s.OC * sizeof(real)) == 0, "%s%s: dbias, skipping (%d "
                  "thread(s)) != dense", label, k ? " (not finite)" : "", t + 1);
        }
        for (t = 0; t < 3; t++) { free(dx[t]); free(dw[t]); free(db[t]); }
    }
    { /* the weight gradient in bands of about 8 rows */
        ConvGeom g;
        size_t budget;
        test_fill_random(x, nx, 32);
        g.C = s.C; g.IH = s.H; g.IW = s.W; g.KH = s.KH; g.KW = s.KW; g.stride = s.stride;
        g.pad = s.pad; g.CG = s.OC; g.GH = s.OH; g.GW = s.OW; g.point = 0;
        budget = (size_t)s.C * s.KH * s.KW * s.OW * 8;
        for (t = 0; t < 2; t++) {
            dw[t] = alloc_real(nw);
            some_negative_zeros(dw[t], nw);
            conv_zero_skip(t == 0);
            conv_grid_pass(NULL, 0, dw[t], dy, x, NULL, &g, s.N, budget, scratch);
        }
        CHECK(memcmp(dw[0], dw[1], nw * sizeof(real)) == 0, "%s: dweight in bands, skipping != "
              "dense", label);
        free(dw[0]); free(dw[1]);
    }
    conv_zero_skip(was);
    free(x); free(w); free(dy); free(scratch);
}

/* conv2d_backward's din where the input gradient runs tap by tap (F's fc6: a 7x7 kernel
 * over a grid of a few points; layers/conv_kernels.c, "the image pass tap by tap") against
 * the dense flipped pass it stands for, written out here: each point sums, from +0 over o, kh,
 * kw in order, flipped weight * grid padded by K-1-pad, then din = sum + din. Bit for bit,
 * with 1, 2 and 3 threads; din starting with -0s; the gradient holding -0, a subnormal and
 * an infinity; then an infinite weight, which must give the dense pass's NaNs (the tap path
 * declines it). The tap path must have run (and not for the infinite weight). */
static void tap_pass_identity(const char *label, ConvShape s)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW;
    real *x = alloc_real(nx), *w = alloc_real(nw), *dy = alloc_real(ny), *dw = alloc_real(nw);
    real *dx0 = alloc_real(nx), *dx = alloc_real(nx), *ref = alloc_real(nx);
    real *scratch = alloc_real(conv_work_size(&s));
    int k, t, saved = 1, P = s.KH - 1 - s.pad;
#ifdef _OPENMP
    saved = omp_get_max_threads();
#endif
    test_fill_random(x, nx, 41);
    test_fill_random(dy, ny, 42);
    test_fill_random(dx0, nx, 43);
    some_negative_zeros(dx0, nx);
    some_negative_zeros(dy, ny);
    dy[1] = smallest_subnormal();
    dy[ny - 2] = (real)INFINITY;
    for (k = 0; k < 4; k++) { /* finite weights (0, 2) or one infinite (1, 3); from 2 on,
                               * every other channel of the gradient 0 (dropout), the
                               * infinite weight in one of those */
        long runs0 = conv_tap_pass_count();
        int n, c, ih, iw, o, kh, kw, bad = 0;
        test_fill_random(w, nw, 44);
        if (k == 1) w[nw / 3] = (real)-INFINITY;
        if (k == 3) w[nw / s.OC + 2] = (real)INFINITY; /* output channel 1 */
        for (n = 0; k == 2 && n < s.N; n++)
            for (o = 1; o < s.OC; o += 2)
                for (c = 0; c < s.OH * s.OW; c++)
                    dy[((size_t)n * s.OC + o) * s.OH * s.OW + c] = c % 3 ? 0 : -(real)0;
        for (n = 0; n < s.N; n++)
            for (c = 0; c < s.C; c++)
                for (ih = 0; ih < s.H; ih++)
                    for (iw = 0; iw < s.W; iw++) {
                        real acc = 0;
                        size_t at = (((size_t)n * s.C + c) * s.H + ih) * s.W + iw;
                        for (o = 0; o < s.OC; o++)
                            for (kh = 0; kh < s.KH; kh++)
                                for (kw = 0; kw < s.KW; kw++) {
                                    int gh = ih - P + kh, gw = iw - P + kw;
                                    real v = gh < 0 || gh >= s.OH || gw < 0 || gw >= s.OW ? 0 :
                                             dy[(((size_t)n * s.OC + o) * s.OH + gh) * s.OW + gw];
                                    real wf = w[(((size_t)o * s.C + c) * s.KH + s.KH - 1 - kh) *
                                                s.KW + s.KW - 1 - kw];
                                    acc += wf * v;
                                }
                        ref[at] = acc + dx0[at];
                    }
        for (t = 1; t <= 3 && !bad; t++) {
            memcpy(dx, dx0, nx * sizeof(real));
            test_set_threads(t);
            conv2d_backward(dx, dw, NULL, dy, x, w, &s, scratch);
            if (memcmp(dx, ref, nx * sizeof(real)) != 0) bad = t;
        }
        test_set_threads(saved);
        CHECK(!bad, "%s%s%s: din with %d thread(s) != the dense flipped pass", label,
              k % 2 ? " (inf weight)" : "", k >= 2 ? " (dead channels)" : "", bad);
        if (k % 2 == 0)
            CHECK(conv_tap_pass_count() >= runs0 + 3, "%s: the tap path did not run", label);
        else
            CHECK(conv_tap_pass_count() == runs0, "%s: the tap path ran with an inf weight",
                  label);
    }
    free(x); free(w); free(dy); free(dw); free(dx0); free(dx); free(ref); free(scratch);
}

/* Run t of the identity tests below (0, 1: the skipping on, 1 and 2 threads; 2: off, 1
 * thread): a new buffer of n random values (seed) with some -0s, into which conv2d_backward
 * of s adds din (as_dx) or dweight alone. The caller frees it and restores the threads. */
static real *skip_run(int t, size_t n, unsigned seed, int as_dx, const real *dy, const real *x,
                      const real *w, const ConvShape *s, real *scratch)
{
    real *v = alloc_real(n);
    test_fill_random(v, n, seed);
    some_negative_zeros(v, n);
    conv_zero_skip(t < 2);
    test_set_threads(t == 1 ? 2 : 1);
    conv2d_backward(as_dx ? v : NULL, as_dx ? NULL : v, NULL, dy, x, w, s, scratch);
    return v;
}

/* F's conv1_1: its weight gradient leaves out the grid points whose windows lie wholly in
 * the padding of 100 (layers/conv_kernels.c, padding_points), whatever the channels. The
 * weight gradient (no input gradient, as for conv1_1) must be bit-identical to the dense
 * path's (skipping off) with 1 and 2 threads, the skipping must have run, also with an
 * infinite input (no such window sees it), and not with an infinite gradient on a padding
 * point (the dense path's inf * 0 = NaN kept). dweight starts with -0s. */
static void padding_skip_identity(const char *label, ConvShape s)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.OC * s.OH * s.OW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW;
    real *x = alloc_real(nx), *dy = alloc_real(ny), *scratch = alloc_real(conv_work_size(&s));
    real *dw[3];
    int k, t, was = conv_zero_skip(1), saved = 1;
#ifdef _OPENMP
    saved = omp_get_max_threads();
#endif
    for (k = 0; k < 3; k++) { /* 0: finite; 1: an inf input; 2: an inf gradient in the frame */
        long w0, i0, w1, i1;
        test_fill_random(x, nx, 51);
        test_fill_random(dy, ny, 52);
        if (k == 1) x[nx / 2] = (real)INFINITY;
        for (t = 0; k == 2 && t < s.N; t++) /* each sample's last point: a padding window */
            dy[(size_t)(t + 1) * (ny / s.N) - 1] = (real)-INFINITY;
        conv_zero_skip_counts(&w0, &i0);
        for (t = 0; t < 3; t++) dw[t] = skip_run(t, nw, 53, 0, dy, x, NULL, &s, scratch);
        test_set_threads(saved);
        conv_zero_skip_counts(&w1, &i1);
        CHECK(k == 2 ? w1 == w0 : w1 > w0, "%s%s: weight-gradient bands skipping padding "
              "points: %ld", label, k == 1 ? " (inf input)" : k == 2 ? " (inf gradient)" : "",
              w1 - w0);
        for (t = 0; t < 2; t++)
            CHECK(memcmp(dw[t], dw[2], nw * sizeof(real)) == 0, "%s%s: dweight, skipping (%d "
                  "thread(s)) != dense", label, k == 1 ? " (inf input)" : k == 2 ?
                  " (inf gradient)" : "", t + 1);
        for (t = 0; t < 3; t++) free(dw[t]);
    }
    conv_zero_skip(was);
    free(x); free(dy); free(scratch);
}

/* The input gradient of the col2im and 1x1 image passes leaves out the output channels whose
 * gradient is 0 at every point (F's fc6 at full size and fc7 after channel dropout;
 * layers/conv_kernels.c, "channels with no gradient"): din must be bit-identical to the
 * dense path's (skipping off) with 1 and 2 threads, din starting with -0s, the dead channels
 * holding +0 and -0; the channels must have been left out, and not where a weight of a dead
 * channel is infinite (the dense path's NaN from inf * 0 kept). Also with the live weights
 * copied in blocks of one and of three image channels (conv_live_block), as fc6's and fc7's
 * are at full size. */
static void live_channels_identity(const char *label, ConvShape s)
{
    size_t nx = (size_t)s.N * s.C * s.H * s.W, HW = (size_t)s.OH * s.OW, ny = s.N * s.OC * HW;
    size_t nw = (size_t)s.OC * s.C * s.KH * s.KW, i;
    real *x = alloc_real(nx), *w = alloc_real(nw), *dy = alloc_real(ny);
    real *scratch = alloc_real(conv_work_size(&s)), *dx[3];
    int k, t, n, o, nl = 0, was = conv_zero_skip(1), saved = 1;
#ifdef _OPENMP
    saved = omp_get_max_threads();
#endif
    test_fill_random(x, nx, 61);
    test_fill_random(dy, ny, 62);
    for (o = 0; o < s.OC; o++) nl += o % 3 == 1 || o == 2; /* the live channels */
    for (n = 0; n < s.N; n++) /* channels 0, 3, 4, 6, ...: no gradient */
        for (o = 0; o < s.OC; o++)
            if (o % 3 != 1 && o != 2)
                for (i = 0; i < HW; i++) dy[((size_t)n * s.OC + o) * HW + i] = i % 2 ? 0 : -(real)0;
    /* 0: finite weights; 1: an inf weight of dead channel 0; 2, 3: finite, the live
     * channels' weights copied in blocks of one image channel, and of three */
    for (k = 0; k < 4; k++) {
        long r0 = conv_live_pass_count(), r1;
        size_t block = k == 2 ? 1 : k == 3 ? (size_t)nl * 3 * s.KH * s.KW : 0;
        const char *what = k == 1 ? " (inf weight)" : k == 2 ? " (blocks of 1 channel)"
                         : k == 3 ? " (blocks of 3 channels)" : "";
        size_t was_block = conv_live_block(block);
        test_fill_random(w, nw, 63);
        if (k == 1) w[1] = (real)INFINITY;
        for (t = 0; t < 3; t++) dx[t] = skip_run(t, nx, 64, 1, dy, x, w, &s, scratch);
        test_set_threads(saved);
        conv_live_block(was_block);
        r1 = conv_live_pass_count();
        CHECK(k != 1 ? r1 >= r0 + 2 * s.N : r1 == r0, "%s%s: image passes leaving channels out: "
              "%ld", label, what, r1 - r0);
        for (t = 0; t < 2; t++)
            CHECK(memcmp(dx[t], dx[2], nx * sizeof(real)) == 0, "%s%s: din, dead channels left out "
                  "(%d thread(s)) != dense", label, what, t + 1);
        for (t = 0; t < 3; t++) free(dx[t]);
    }
    conv_zero_skip(was);
    free(x); free(w); free(dy); free(scratch);
}

/* The networks' sizes for an input H x W (a multiple of 32) line up as docs/method.md says
 * ("F and C", "G", "D"). */
static void network_sizes(void)
{
    int k;
    for (k = 1; k <= 40; k++) {
        int H = 32 * k, W = 64 * k, h, w, p3h = 0, p3w = 0, p4h = 0, p4w = 0, i;
        ConvShape s = conv2d_shape(1, 3, H, W, 64, 3, 1, 100); /* conv1_1 */
        h = s.OH; w = s.OW;
        for (i = 0; i < 5; i++) { /* conv blocks keep the size; pools halve, ceil mode */
            h = maxpool_out_size(h, 1); w = maxpool_out_size(w, 1);
            if (i == 2) { p3h = h; p3w = w; }
            if (i == 3) { p4h = h; p4w = w; }
        }
        s = conv2d_shape(1, 512, h, w, 4096, 7, 1, 0); /* fc6 */
        h = s.OH; w = s.OW;
        {   /* C: upscore2 + crop 5, upscore_pool4 + crop 9, upscore8 + crop 31 */
            ConvShape u2 = convt_shape(1, 19, h, w, 19, 4, 2, 0, 0);
            ConvShape u4 = convt_shape(1, 19, u2.OH, u2.OW, 19, 4, 2, 0, 0);
            ConvShape u8 = convt_shape(1, 19, u4.OH, u4.OW, 19, 16, 8, 0, 0);
            CHECK(5 + u2.OH <= p4h && 5 + u2.OW <= p4w, "k=%d upscore2 fits pool4", k);
            CHECK(9 + u4.OH <= p3h && 9 + u4.OW <= p3w, "k=%d upscore_pool4 fits pool3", k);
            CHECK(31 + H <= u8.OH && 31 + W <= u8.OW, "k=%d upscore8 covers the input", k);
        }
        {   /* G: no output_padding needed */
            ConvShape g1 = convt_shape(1, 4096, h, w, 256, 7, 1, 0, 0);
            ConvShape g2 = convt_shape(1, 256, g1.OH, g1.OW, 512, 3, 2, 1, 0);
            ConvShape g3 = convt_shape(1, 1024, g2.OH, g2.OW, 256, 3, 2, 1, 0);
            ConvShape g4 = convt_shape(1, 512, g3.OH, g3.OW, 128, 5, 2, 2, 0);
            ConvShape g5 = convt_shape(1, 128, g4.OH, g4.OW, 64, 5, 2, 2, 0);
            ConvShape g6 = convt_shape(1, 64, g5.OH, g5.OW, 3, 8, 2, 100, 0);
            CHECK(g2.OH == p4h && g2.OW == p4w, "k=%d G stage1 %dx%d = pool4 %dx%d", k, g2.OH,
                  g2.OW, p4h, p4w);
            CHECK(g3.OH == p3h && g3.OW == p3w, "k=%d G stage2 = pool3", k);
            CHECK(g6.OH == H && g6.OW == W, "k=%d G output %dx%d = input %dx%d", k, g6.OH,
                  g6.OW, H, W);
        }
        {   /* D: conv k4 s2 p2, pool floor, pool floor -> H/8 */
            ConvShape d = conv2d_shape(1, 3, H, W, 128, 4, 2, 2);
            h = maxpool_out_size(maxpool_out_size(d.OH, 0), 0);
            w = maxpool_out_size(maxpool_out_size(d.OW, 0), 0);
            CHECK(h == H / 8 && w == W / 8, "k=%d D output %dx%d = H/8 x W/8", k, h, w);
        }
    }
    {   /* at 320x640, by hand: conv1 518x838, pool5 17x27, fc6 11x21, pool4 33x53 */
        ConvShape s = conv2d_shape(1, 3, 320, 640, 64, 3, 1, 100);
        ConvShape f6 = conv2d_shape(1, 512, 17, 27, 4096, 7, 1, 0);
        ConvShape g1 = convt_shape(1, 4096, 11, 21, 256, 7, 1, 0, 0);
        ConvShape s12 = conv2d_shape(1, 64, 518, 838, 64, 3, 1, 1);
        CHECK(s.OH == 518 && s.OW == 838, "conv1_1 at 320x640: %dx%d", s.OH, s.OW);
        CHECK(f6.OH == 11 && f6.OW == 21, "fc6 at 320x640: %dx%d", f6.OH, f6.OW);
        CHECK(g1.OH == 17 && g1.OW == 27, "G's first ConvT: %dx%d", g1.OH, g1.OW);
        CHECK(conv_work_size(&f6) * sizeof(real) <= ((size_t)32 << 20),
              "fc6 scratch %lu elements <= 32 MiB", (unsigned long)conv_work_size(&f6));
        CHECK(conv_work_size(&g1) * sizeof(real) <= ((size_t)32 << 20), "G first ConvT scratch");
        CHECK(conv_work_size(&s12) * sizeof(real) <= ((size_t)32 << 20), "conv1_2 scratch");
        CHECK(conv2d_shape(1, 1, 2, 2, 1, 3, 1, 0).OH < 1, "too small an input gives OH < 1");
    }
}

/* bilinear_init against golden/conv_shape.safetensors (numpy's FCN formula), exactly. */
static void bilinear_tests(void)
{
    st_file sf;
    int i, n = 0;
    if (!gold_open(&sf, "conv_shape.safetensors")) return;
    for (i = 0; i < sf.n; i++) {
        const st_entry *e = &sf.entries[i];
        if (strncmp(e->name, "bilinear_", 9) == 0 && e->ndim == 4) {
            int C = (int)e->shape[0], K = (int)e->shape[2];
            size_t m = (size_t)C * C * K * K;
            real *ref = alloc_real(m), *got = alloc_real(m);
            read_t(&sf, e->name, ref, m);
            bilinear_init(got, C, K);
            test_close_real(e->name, got, ref, m, 0, 0);
            free(ref); free(got);
            n++;
        }
    }
    CHECK(n >= 5, "bilinear cases found: %d", n);
    st_close(&sf);
}

int main(void)
{
    test_begin("conv");
    golden_tests();
    bilinear_tests();
    network_sizes();
    bias_grad_order();

    /* fast = direct: odd sizes, strides, paddings; the last two need several row bands */
    fast_vs_direct("conv 3x3 s1 p1", conv2d_shape(2, 5, 9, 11, 7, 3, 1, 1), 0, 1);
    fast_vs_direct("conv 4x4 s2 p2", conv2d_shape(1, 6, 13, 7, 5, 4, 2, 2), 0, 1);
    fast_vs_direct("conv 7x7 s1 p0", conv2d_shape(1, 8, 10, 12, 9, 7, 1, 0), 0, 1);
    fast_vs_direct("conv 1x1", conv2d_shape(2, 12, 5, 9, 10, 1, 1, 0), 0, 1);
    fast_vs_direct("conv 3x3 p100", conv2d_shape(1, 2, 3, 4, 3, 3, 1, 100), 0, 0);
    fast_vs_direct("conv 3x3 bands", conv2d_shape(1, 64, 80, 100, 2, 3, 1, 1), 0, 1);
    /* stride 1 without the flipped-weight path: padding > K-1, weights over half the budget */
    fast_vs_direct("conv 3x3 s1 p3", conv2d_shape(1, 3, 6, 7, 4, 3, 1, 3), 0, 1);
    fast_vs_direct("conv 3x3 big weight", conv2d_shape(1, 512, 3, 4, 520, 3, 1, 1), 0, 1);
    fast_vs_direct("convt 4x4 s2", convt_shape(1, 5, 6, 7, 4, 4, 2, 0, 0), 1, 0);
    fast_vs_direct("convt 16x16 s8", convt_shape(1, 3, 3, 4, 3, 16, 8, 0, 0), 1, 0);
    fast_vs_direct("convt 7x7 s1", convt_shape(1, 9, 3, 5, 6, 7, 1, 0, 0), 1, 1);
    fast_vs_direct("convt 5x5 s2 p2 op1", convt_shape(2, 4, 5, 6, 3, 5, 2, 2, 1), 1, 1);
    fast_vs_direct("convt 8x8 s2 p100", convt_shape(1, 2, 102, 101, 3, 8, 2, 100, 0), 1, 1);
    fast_vs_direct("convt 1x1", convt_shape(1, 7, 4, 5, 6, 1, 1, 0, 0), 1, 1);
    fast_vs_direct("convt 3x3 bands", convt_shape(1, 2, 80, 100, 64, 3, 1, 1, 0), 1, 1);

    /* few channels (direct path): conv1 of the reduced net, channel counts not a multiple of
     * 8, widths not a multiple of the tile, 100 padding, two samples; and a larger layer */
    fast_vs_direct("conv 3x3 p100 3->16", conv2d_shape(2, 3, 5, 9, 16, 3, 1, 100), 0, 1);
    fast_vs_direct("conv 3x3 16->13", conv2d_shape(2, 16, 19, 45, 13, 3, 1, 1), 0, 1);
    fast_vs_direct("conv 5x5 9->20", conv2d_shape(1, 9, 17, 37, 20, 5, 1, 2), 0, 1);
    forward_vs_naive_gemm("conv 3x3 p100 3->16", conv2d_shape(2, 3, 5, 9, 16, 3, 1, 100), 0);
    forward_vs_naive_gemm("conv 3x3 16->13", conv2d_shape(2, 16, 19, 45, 13, 3, 1, 1), 0);
    forward_vs_naive_gemm("conv 3x3 32->32", conv2d_shape(1, 32, 11, 70, 32, 3, 1, 1), 0);
    forward_vs_naive_gemm("conv 3x3 64->64", conv2d_shape(1, 64, 9, 20, 64, 3, 1, 1), 0);
    forward_vs_naive_gemm("conv 4x4 s2 p2", conv2d_shape(1, 6, 13, 7, 5, 4, 2, 2), 0);
    /* repeated rows and columns: F's conv1_1 (padding 100) and the layers after it; stride 2;
     * 7x7; bands */
    forward_vs_naive_gemm("conv 3x3 p100 repeated", conv2d_shape(1, 3, 30, 20, 5, 3, 1, 100), 1);
    forward_vs_naive_gemm("conv 3x3 p1 repeated", conv2d_shape(2, 4, 40, 37, 6, 3, 1, 1), 1);
    forward_vs_naive_gemm("conv 4x4 s2 p2 repeated", conv2d_shape(1, 3, 41, 23, 4, 4, 2, 2), 1);
    forward_vs_naive_gemm("conv 7x7 p0 repeated", conv2d_shape(1, 2, 40, 42, 3, 7, 1, 0), 1);
    forward_vs_naive_gemm("conv 3x3 bands repeated", conv2d_shape(1, 64, 80, 100, 3, 3, 1, 1), 2);
    forward_vs_naive_gemm("conv 3x3 p100 16->16 bands repeated",
                          conv2d_shape(2, 16, 40, 60, 16, 3, 1, 100), 2);
    /* the direct path for every width: F's conv1_1 (padding 100), 16 channels (AVX2 too),
     * a partial block of grid channels, a 5x5 window, the frame's rectangles, input
     * gradients */
    wide_identity("wide 3x3 p100 3->16", conv2d_shape(2, 3, 5, 9, 16, 3, 1, 100), 0, 0);
    wide_identity("wide 3x3 16->16", conv2d_shape(2, 16, 23, 37, 16, 3, 1, 1), 0, 1);
    wide_identity("wide 3x3 32->24", conv2d_shape(1, 32, 11, 70, 24, 3, 1, 1), 0, 0);
    wide_identity("wide 5x5 p2 12->20", conv2d_shape(1, 12, 17, 45, 20, 5, 1, 2), 0, 0);
    wide_identity("wide 3x3 p100 16->16 frame", conv2d_shape(2, 16, 40, 60, 16, 3, 1, 100), 1, 0);
    wide_identity("wide 3x3 16->16 din", conv2d_shape(2, 16, 21, 45, 16, 3, 1, 1), 2, 0);
    wide_identity("wide 3x3 24->32 din", conv2d_shape(1, 24, 30, 77, 32, 3, 1, 1), 2, 0);
    wide_identity("wide 3x3 16->16 din skipping", conv2d_shape(1, 16, 260, 70, 16, 3, 1, 1), 3, 0);
    fused_relu_identity("fused relu 3x3 p1", conv2d_shape(2, 6, 9, 11, 7, 3, 1, 1));
    fused_relu_identity("fused relu 3x3 p100", conv2d_shape(1, 3, 5, 6, 16, 3, 1, 100));

    /* channel-diagonal weights: upscore2, upscore8 (several bands), padding, a conv's din */
    diagonal_vs_gemm("convt 4x4 s2 diagonal", convt_shape(2, 5, 9, 11, 5, 4, 2, 0, 0), 1, 0);
    diagonal_vs_gemm("convt 16x16 s8 diagonal", convt_shape(1, 8, 40, 40, 8, 16, 8, 0, 0), 1, 0);
    diagonal_vs_gemm("convt 16x16 s8 diagonal inf", convt_shape(1, 8, 40, 40, 8, 16, 8, 0, 0), 1,
                     1);
    diagonal_vs_gemm("convt 8x8 s2 p5 diagonal -inf", convt_shape(1, 3, 7, 6, 3, 8, 2, 5, 0), 1,
                     -1);
    diagonal_vs_gemm("conv 4x4 s2 p1 din diagonal", conv2d_shape(2, 3, 17, 15, 3, 4, 2, 1), 0, 0);

    /* skipping the zero-gradient points: 16 channels (the fewest it is used for) and more,
     * the 100 padding, an input gradient of several bands (300 grid rows of 64 x 9 x 64 col
     * values; 16 input channels, as the bands are those of the gradient's 64), a hole */
    zero_skip_identity("zero skip 3x3 16->16", conv2d_shape(2, 16, 70, 90, 16, 3, 1, 1), 1);
    zero_skip_identity("zero skip 3x3 16->24 p100", conv2d_shape(1, 16, 6, 10, 24, 3, 1, 100), 0);
    zero_skip_identity("zero skip 3x3 64->48", conv2d_shape(2, 64, 40, 52, 48, 3, 1, 1), 1);
    zero_skip_identity("zero skip 3x3 16->64 bands", conv2d_shape(1, 16, 300, 64, 64, 3, 1, 1), 1);
#ifdef _OPENMP
    CHECK(conv_sparse_parallel_count() > 0, "zero skip: the input gradient's bands never ran one "
          "a thread (2 threads, 300 rows)");
#endif

    /* the input gradient tap by tap: fc6's geometry at 64x128 (with fewer channels: two
     * chunks, one a thread), a partial chunk and two samples, padding, the smallest grid */
    tap_pass_identity("tap pass fc6 64->48", conv2d_shape(1, 64, 9, 11, 48, 7, 1, 0));
    tap_pass_identity("tap pass 40->24 N2", conv2d_shape(2, 40, 8, 10, 24, 7, 1, 0));
    tap_pass_identity("tap pass 7x7 p2 1x1 grid", conv2d_shape(1, 5, 3, 3, 6, 7, 1, 2));

    /* the input gradient without the channels that have none: a 7x7 over few points that
     * is not flipped (padding > K-1), a stride 2, fc7's 1x1 (two samples) */
    /* (shapes of 4 M multiply-adds a sample or more: LIVE_MIN_MACS) */
    live_channels_identity("live channels 7x7 p7", conv2d_shape(1, 16, 20, 20, 32, 7, 1, 7));
    live_channels_identity("live channels 3x3 s2", conv2d_shape(1, 32, 40, 40, 48, 3, 2, 1));
    live_channels_identity("live channels 1x1 N2", conv2d_shape(2, 64, 20, 30, 128, 1, 1, 0));

    /* the weight gradient without the points whose windows are padding: conv1_1 of the
     * demo and reduced nets (3 -> 4, 3 -> 16 channels, two samples), a 7x7 stride 2 */
    padding_skip_identity("padding skip 3x3 3->4 p100", conv2d_shape(1, 3, 6, 10, 4, 3, 1, 100));
    padding_skip_identity("padding skip 3x3 3->16 p100 N2",
                          conv2d_shape(2, 3, 5, 7, 16, 3, 1, 100));
    padding_skip_identity("padding skip 7x7 s2 p20", conv2d_shape(1, 2, 9, 8, 5, 7, 2, 20));

    exact_integer("conv 3x3 s1 p1", conv2d_shape(2, 3, 7, 9, 4, 3, 1, 1), 0);
    exact_integer("conv 4x4 s2 p2", conv2d_shape(1, 3, 9, 8, 2, 4, 2, 2), 0);
    exact_integer("conv 1x1", conv2d_shape(1, 4, 3, 5, 3, 1, 1, 0), 0);
    exact_integer("conv 7x7 p0", conv2d_shape(1, 2, 9, 10, 3, 7, 1, 0), 0);
    exact_integer("convt 4x4 s2", convt_shape(1, 3, 4, 5, 2, 4, 2, 0, 0), 1);
    exact_integer("convt 3x3 s2 p1 op1", convt_shape(2, 3, 4, 5, 2, 3, 2, 1, 1), 1);
    exact_integer("convt 16x16 s8", convt_shape(1, 2, 2, 3, 2, 16, 8, 0, 0), 1);
    exact_integer("convt 8x8 s2 p5", convt_shape(1, 2, 7, 6, 2, 8, 2, 5, 0), 1);

#ifdef LSD_DOUBLE
    finite_diff("conv 3x3 s2 p1", conv2d_shape(1, 2, 5, 4, 3, 3, 2, 1), 0);
    finite_diff("conv 4x4 s2 p2", conv2d_shape(2, 2, 5, 5, 2, 4, 2, 2), 0);
    finite_diff("convt 3x3 s2 p1 op1", convt_shape(1, 2, 3, 4, 2, 3, 2, 1, 1), 1);
    finite_diff("convt 4x4 s2", convt_shape(2, 2, 3, 3, 3, 4, 2, 0, 0), 1);
#else
    test_skip("finite-difference gradient checks run in PRECISION=double builds");
#endif

    thread_identity("conv 3x3 bands", conv2d_shape(1, 64, 80, 100, 16, 3, 1, 1), 0);
    thread_identity("conv 1x1", conv2d_shape(2, 64, 20, 30, 48, 1, 1, 0), 0);
    thread_identity("conv 3x3 p100 3->16", conv2d_shape(1, 3, 12, 20, 16, 3, 1, 100), 0);
    thread_identity("conv 3x3 16->16", conv2d_shape(1, 16, 40, 70, 16, 3, 1, 1), 0);
    thread_identity("convt 3x3 s2 p1", convt_shape(1, 32, 40, 50, 48, 3, 2, 1, 0), 1);
    return test_summary();
}
