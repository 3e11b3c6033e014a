/*
 * conv_kernels.c - the internals of layers/conv.c: im2col and col2im, the two passes both
 * convolution kinds are made of, the direct path for few channels, the fold for
 * channel-diagonal weights (FCN's bilinear upsampling), and the loops of the direct
 * references. The geometry (image, grid, bands) is layers/conv_geom.h's.
 *
 * im2col unfolds the image into col (C*KH*KW, rows*GW), one column per grid point of a
 * band of grid rows; col2im folds such a buffer back, adding into the image. Two passes,
 * with W the weight as a (grid channels, C*KH*KW) matrix:
 *   grid pass   grid_band = W * col (+ grid_band);  dW += grid_band' * col^T
 *   image pass  col = W^T * grid_band; image += col2im(col)
 * conv2d forward is the grid pass, its backward the dW part of the grid pass and the
 * image pass; convt forward is the image pass, its backward the grid pass (of dout).
 * With stride 1 the image pass is itself a grid pass: the image is a convolution of the
 * grid (padded by K-1-pad) with the weights transposed and flipped, which needs no col2im
 * and runs its gemm with the large inner dimension grid channels * K * K.
 * The grid is processed in bands of rows so that col stays below CONV_COL_BUDGET elements
 * (conv_work_size). Bands are visited in a fixed order and every parallel loop writes
 * disjoint elements, so the results do not depend on the thread count. 1x1 convolutions
 * with stride 1 and no padding need no unfolding and call gemm on the tensors directly.
 */
#include <stdlib.h>
#include <string.h>

#include "conv_kernels.h"
#include "../tensor/gemm.h"

/* Full unrolling of small_grid's channel loop keeps its tile in registers. */
#if defined(__clang__)
#define LSD_CONV_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__) && !defined(__TINYC__)
#define LSD_CONV_UNROLL _Pragma("GCC unroll 16")
#else
#define LSD_CONV_UNROLL
#endif

/* ---- bands */

/* Preferred band: a col buffer of about 4 MiB stays in cache between im2col and gemm's
 * packing (15-25% faster than 16 MiB bands for the 3x3 layers), but has at least
 * CONV_MIN_COLS columns so that gemm's tiles are not narrow (fc6: 21 columns a row). */
#define CONV_COL_TARGET (((size_t)4 << 20) / sizeof(real))
#define CONV_MIN_COLS 512

/* Grid rows per band: those of CONV_COL_TARGET col elements or CONV_MIN_COLS columns,
 * whichever is more, but no more than fit `budget` (conv_band_rows_fit); at least 1, at
 * most GH. */
static int band_rows(const ConvGeom *g, size_t budget)
{
    size_t gw = (size_t)(g->GW > 0 ? g->GW : 1), r = CONV_COL_TARGET / conv_col_per_row(g);
    size_t most = (size_t)conv_band_rows_fit(g, budget);
    if (r < (CONV_MIN_COLS + gw - 1) / gw) r = (CONV_MIN_COLS + gw - 1) / gw;
    if (r > most) r = most;
    return (int)r;
}

/* ---- im2col and col2im */

/* floor(a / b) for b > 0 and any sign of a. */
static int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Clamps v to [lo, hi]. */
static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Grid columns [*lo, *hi) whose window column kw lands inside the image:
 * 0 <= g*stride - pad + kw < IW. */
static void valid_cols(const ConvGeom *g, int kw, int *lo, int *hi)
{
    *lo = clampi(-floor_div(kw - g->pad, g->stride), 0, g->GW);
    *hi = clampi(floor_div(g->IW - 1 + g->pad - kw, g->stride) + 1, *lo, g->GW);
}

/* col (C*KH*KW, nr*cw) = the image values seen by grid rows r0..r0+nr-1, columns
 * c0..c0+cw-1 (0 outside the image). */
static void im2col(real *col, const real *img, const ConvGeom *g, int r0, int nr, int c0, int cw)
{
    int KK = g->KH * g->KW, rows = g->C * KK, q;
    size_t P = (size_t)nr * cw;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * P > 32768)
#endif
    for (q = 0; q < rows; q++) {
        int c = q / KK, kh = (q % KK) / g->KW, kw = q % g->KW, lo, hi, r, x;
        const real *plane = img + (size_t)c * g->IH * g->IW; /* (IH, IW) */
        real *dst = col + (size_t)q * P;                      /* (nr, cw) */
        valid_cols(g, kw, &lo, &hi);
        lo = clampi(lo, c0, c0 + cw);
        hi = clampi(hi, lo, c0 + cw);
        for (r = 0; r < nr; r++) {
            int ih = (r0 + r) * g->stride - g->pad + kh;
            real *d = dst + (size_t)r * cw; /* d[x - c0]: grid column x */
            const real *s;
            if (ih < 0 || ih >= g->IH) {
                for (x = 0; x < cw; x++) d[x] = 0;
                continue;
            }
            s = plane + (size_t)ih * g->IW - g->pad + kw;
            for (x = c0; x < lo; x++) d[x - c0] = 0;
            if (g->stride == 1)
                memcpy(d + (lo - c0), s + lo, (size_t)(hi - lo) * sizeof(real));
            else
                for (x = lo; x < hi; x++) d[x - c0] = s[x * g->stride];
            for (x = hi; x < c0 + cw; x++) d[x - c0] = 0;
        }
    }
}

/* plane (IH, IW) += the values that tap (kh, kw) of grid rows r0..r0+nr-1 sends to it: src
 * (nr, GW) holds them, or, with w set, (real)0 + *w * src (see diagonal_fold). */
static void fold_tap(real *plane, const real *src, const real *w, const ConvGeom *g, int r0,
                     int nr, int kh, int kw)
{
    int lo, hi, r, x;
    valid_cols(g, kw, &lo, &hi);
    for (r = 0; r < nr; r++) {
        int ih = (r0 + r) * g->stride - g->pad + kh;
        const real *s = src + (size_t)r * g->GW;
        real *d;
        if (ih < 0 || ih >= g->IH) continue;
        d = plane + (size_t)ih * g->IW - g->pad + kw;
        if (w && g->stride == 1)
            for (x = lo; x < hi; x++) d[x] += (real)0 + *w * s[x];
        else if (w)
            for (x = lo; x < hi; x++) d[x * g->stride] += (real)0 + *w * s[x];
        else if (g->stride == 1)
            for (x = lo; x < hi; x++) d[x] += s[x];
        else
            for (x = lo; x < hi; x++) d[x * g->stride] += s[x];
    }
}

/* img += the fold of col (C*KH*KW, nr*GW) for grid rows r0..r0+nr-1; each image element
 * receives its terms in the fixed order (kh, kw, row, column). Parallel over channels. */
static void col2im(real *img, const real *col, const ConvGeom *g, int r0, int nr)
{
    int KK = g->KH * g->KW, c;
    size_t P = (size_t)nr * g->GW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->C * KK * P > 32768)
#endif
    for (c = 0; c < g->C; c++) {
        real *plane = img + (size_t)c * g->IH * g->IW; /* (IH, IW) */
        int kh, kw;
        for (kh = 0; kh < g->KH; kh++)
            for (kw = 0; kw < g->KW; kw++)
                fold_tap(plane, col + ((size_t)c * KK + (size_t)kh * g->KW + kw) * P, NULL, g, r0,
                         nr, kh, kw);
    }
}

/* ---- channel-diagonal weights (FCN's bilinear upsampling)
 *
 * C's upscore layers are transposed convolutions whose weight couples each channel only with
 * itself (bilinear_init): of the CG terms that the gemm sums for one col value, all but one
 * are products with a zero weight. With the weight and the grid finite those products are
 * +0 or -0, and a sum that starts at +0 never becomes -0 (in round-to-nearest, -0 + -0 is
 * the only sum that is -0), so adding them leaves the sum unchanged: the gemm's value is
 * exactly (real)0 + w * v, the one product made +0 when it is -0. The image pass folds these
 * values straight into the image, with no col buffer and CG times fewer products; the bits
 * are those of the gemm path. */

/* 1 if weight (CG, C, KH, KW) couples each channel only with itself (C == CG, weight[o][c]
 * all zero for c != o) and every value is finite. */
static int diagonal_weight(const real *weight, const ConvGeom *g)
{
    size_t KK = (size_t)g->KH * g->KW, i;
    int o, c;
    if (g->C != g->CG || g->point) return 0;
    for (o = 0; o < g->CG; o++)
        for (c = 0; c < g->C; c++) {
            const real *w = weight + ((size_t)o * g->C + c) * KK;
            for (i = 0; i < KK; i++)
                if (c == o ? !(w[i] - w[i] == 0) : w[i] != 0) return 0;
        }
    return 1;
}

/* 1 if the grid rows r0..r0+nr-1 of every channel of grid (CG, GH, GW) are finite. */
static int band_finite(const real *grid, const ConvGeom *g, int r0, int nr)
{
    size_t P = (size_t)nr * g->GW, GHW = (size_t)g->GH * g->GW, j;
    int c, bad = 0;
    for (c = 0; c < g->CG; c++) {
        const real *v = grid + (size_t)c * GHW + (size_t)r0 * g->GW;
        for (j = 0; j < P; j++) bad |= !(v[j] - v[j] == 0);
    }
    return !bad;
}

/* img += the fold of grid rows r0..r0+nr-1 through channel-diagonal weights: what col2im adds
 * after the gemm (the value (real)0 + w[c][c][kh][kw] * grid[c][r][x], see above), in
 * col2im's order (kh, kw, row, column). Parallel over channels. */
static void diagonal_fold(real *img, const real *grid, const real *weight, const ConvGeom *g,
                          int r0, int nr)
{
    int KK = g->KH * g->KW, c;
    size_t GHW = (size_t)g->GH * g->GW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->C * KK * nr * g->GW > 32768)
#endif
    for (c = 0; c < g->C; c++) {
        real *plane = img + (size_t)c * g->IH * g->IW;                  /* (IH, IW) */
        const real *w = weight + ((size_t)c * g->C + c) * KK;          /* (KH, KW) */
        const real *src = grid + (size_t)c * GHW + (size_t)r0 * g->GW; /* (nr, GW) */
        int kh, kw;
        for (kh = 0; kh < g->KH; kh++)
            for (kw = 0; kw < g->KW; kw++)
                fold_tap(plane, src, w + kh * g->KW + kw, g, r0, nr, kh, kw);
    }
}

/* ---- the direct path for few channels */

/* Direct path for convolutions with few channels (conv1 of the reduced VGG on its 100-padded
 * maps: C*K*K = 27 or 144, 16 grid channels), where im2col and gemm's packing cost more
 * than the products. Tiles of SMALL_O grid channels x SMALL_X grid columns of one grid row;
 * each element is acc = 0, then acc += weight[o,c,kh,kw] * x (x = 0 outside the image, the
 * term still added) for (c, kh, kw) in im2col's row order, then acc (+ beta * y): exactly
 * gemm's operations in gemm's order, so the results are bit-identical to the im2col path. */
/* The tile: two vectors of the compile-time width (tensor/gemm.h's GEMM_BASE_VBYTES) by
 * SMALL_O rows, 4, 6 or 8 (the sums fill 8-16 registers): few rows, since a layer's output
 * channels are rounded up to a multiple of SMALL_O (the demo's layers have 4 or 8). A
 * portable x86-64 gcc/clang build runs gemm's AVX2/AVX-512 kernels by run-time dispatch
 * (tensor/gemm.c) and this path, compiled for SSE2 only, would be slower there (reduced
 * infer 30 -> 70 ms): by default it is used only where gemm runs its base kernel (-march
 * builds with AVX, other architectures, tcc, CPUs without AVX2). LSD_CONV_DIRECT=1 or 0
 * forces it on or off (conv_direct_on); the bits are the same. */
#define SMALL_O (GEMM_BASE_VBYTES >= 64 ? 8 : GEMM_BASE_VBYTES >= 32 ? 6 : 4)
#define SMALL_X (2 * GEMM_BASE_VBYTES / (int)sizeof(real))
#define SMALL_KMAX 8 /* widest window */
#define SMALL_CKK 288 /* largest C*KH*KW */
#define SMALL_CG 32   /* most grid channels */

/* 1 if the grid pass of g may take the direct path with `avail` scratch elements. */
static int small_ok(const ConvGeom *g, size_t avail)
{
    int ckk = g->C * g->KH * g->KW, cgp = (g->CG + SMALL_O - 1) / SMALL_O * SMALL_O;
    return conv_direct_on() && !g->point && g->stride == 1 && g->KW <= SMALL_KMAX &&
           ckk <= SMALL_CKK && g->CG <= SMALL_CG && (size_t)ckk * cgp <= avail;
}

/* wt (C*KH*KW, CGp) = weight (CG, C*KH*KW) transposed, columns CG..CGp-1 zero. */
static void small_weights(real *wt, const real *weight, const ConvGeom *g, int cgp)
{
    int ckk = g->C * g->KH * g->KW, q, o;
    for (q = 0; q < ckk; q++)
        for (o = 0; o < cgp; o++)
            wt[(size_t)q * cgp + o] = o < g->CG ? weight[(size_t)o * ckk + q] : 0;
}

/* y (CG, GH, GW) = (beta * y +) weight * im2col(x) for one sample x (C, IH, IW), by the
 * direct path (wt from small_weights). For each tile of SMALL_X columns the image rows it
 * reads are copied (zero-padded) into seg once, then for each channel block one flat loop
 * over k keeps the sums in registers. A tile whose window lies wholly in the padding,
 * with finite weights, has sums of +0 and w * 0 terms: acc is +0 without the loop.
 * Parallel over grid rows. */
static void small_grid(real *y, real beta, const real *x, const real *wt, const ConvGeom *g)
{
    int cgp = (g->CG + SMALL_O - 1) / SMALL_O * SMALL_O;
    int gh, ckk = g->C * g->KH * g->KW, segw = SMALL_X + g->KW - 1, q, finite = 1;
    int segoff[SMALL_CKK]; /* offset in seg of k's window: (c*KH + kh) * segw + kw */
    size_t GHW = (size_t)g->GH * g->GW;
    for (q = 0; q < ckk; q++) segoff[q] = (q / g->KW) * segw + q % g->KW;
    for (q = 0; q < ckk * cgp; q++)
        if (!(wt[q] - wt[q] == 0)) finite = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->CG * GHW * ckk > 65536)
#endif
    for (gh = 0; gh < g->GH; gh++) {
        int x0, r, o, o0, j, k;
        real seg[(SMALL_CKK) * (SMALL_X + SMALL_KMAX)]; /* (C*KH, segw) */
        for (x0 = 0; x0 < g->GW; x0 += SMALL_X) {
            int cols = g->GW - x0 < SMALL_X ? g->GW - x0 : SMALL_X, i0 = x0 - g->pad;
            int zero = finite; /* every row of seg is padding */
            for (r = 0; r < g->C * g->KH; r++) {
                int c = r / g->KH, ih = gh - g->pad + r % g->KH, lo, hi;
                const real *row = x + ((size_t)c * g->IH + (ih < 0 ? 0 : ih)) * g->IW;
                real *sg = seg + (size_t)r * segw; /* image row ih, columns i0.. (0 outside) */
                lo = clampi(-i0, 0, segw);
                hi = clampi(g->IW - i0, lo, segw);
                if (ih < 0 || ih >= g->IH) lo = hi = 0;
                if (hi > lo) zero = 0;
                for (j = 0; j < lo; j++) sg[j] = 0;
                if (hi > lo) memcpy(sg + lo, row + i0 + lo, (size_t)(hi - lo) * sizeof(real));
                for (j = hi > lo ? hi : 0; j < segw; j++) sg[j] = 0;
            }
            for (o0 = 0; o0 < cgp; o0 += SMALL_O) {
                real acc[SMALL_O * SMALL_X];
                int oc = g->CG - o0 < SMALL_O ? g->CG - o0 : SMALL_O;
                for (j = 0; j < SMALL_O * SMALL_X; j++) acc[j] = 0;
                if (!zero)
                    for (k = 0; k < ckk; k++) {
                        const real *wk = wt + (size_t)k * cgp + o0, *v = seg + segoff[k];
                        LSD_CONV_UNROLL
                        for (o = 0; o < SMALL_O; o++) {
                            real wo = wk[o];
                            for (j = 0; j < SMALL_X; j++) acc[o * SMALL_X + j] += wo * v[j];
                        }
                    }
                for (o = 0; o < oc; o++) {
                    real *d = y + (size_t)(o0 + o) * GHW + (size_t)gh * g->GW + x0;
                    const real *av = acc + o * SMALL_X;
                    if (beta == 0)
                        for (j = 0; j < cols; j++) d[j] = av[j];
                    else
                        for (j = 0; j < cols; j++) d[j] = av[j] + beta * d[j];
                }
            }
        }
    }
}

/* ---- repeated rows (FCN's padding of 100)
 *
 * F's first convolution pads its input by 100: most of conv1_1's output sees only zeros, and
 * above and below the image every row of the layers after it holds the same values (relu of
 * the bias, and near the left and right edges what the zero padding makes of it). Output
 * rows whose windows hold the same values compute the same sums in the same order: windows
 * entirely in the padding rows, or entirely within a run of equal rows of the input. The
 * forward grid pass computes the first row of each such set (im2col and gemm, as every other
 * row) and copies it to the others. The bits are the gemm's. */

/* 1 if rows r and q of every channel of x (C, IH, IW) hold the same bits. */
static int rows_equal(const real *x, const ConvGeom *g, int r, int q)
{
    size_t IHW = (size_t)g->IH * g->IW;
    int c;
    for (c = 0; c < g->C; c++) {
        const real *a = x + (size_t)c * IHW + (size_t)r * g->IW;
        const real *b = x + (size_t)c * IHW + (size_t)q * g->IW;
        if (memcmp(a, b, (size_t)g->IW * sizeof(real)) != 0) return 0;
    }
    return 1;
}

/* 1 if columns p and q of rows a0..a1 of every channel of x (C, IH, IW) hold the same bits. */
static int cols_equal(const real *x, const ConvGeom *g, int a0, int a1, int p, int q)
{
    size_t IHW = (size_t)g->IH * g->IW;
    int c, r;
    for (c = 0; c < g->C; c++)
        for (r = a0; r <= a1; r++) {
            const real *row = x + (size_t)c * IHW + (size_t)r * g->IW;
            if (memcmp(row + p, row + q, sizeof(real)) != 0) return 0;
        }
    return 1;
}

/* Along one axis: n grid positions, position i's window covering image positions
 * i*stride - pad .. + k-1 of m, whose runs of equal ones start at run[] (run[p]: the first of
 * the run holding p). key[i] is what the window sees: -2 only padding, the run it lies in, or
 * -1 (anything else); src[i] the first of consecutive positions with the same key other than
 * -1, or i. Returns how many positions copy another (src[i] != i). */
static int repeat_sources(const int *run, int m, int n, int stride, int pad, int k, int *key,
                          int *src)
{
    int i, copies = 0;
    for (i = 0; i < n; i++) {
        int a = i * stride - pad, b = a + k - 1;
        if (b < 0 || a >= m) key[i] = -2;                              /* padding */
        else if (a >= 0 && b < m && run[a] == run[b]) key[i] = run[a]; /* one run */
        else key[i] = -1;                                              /* distinct */
        src[i] = i > 0 && key[i] != -1 && key[i] == key[i - 1] ? src[i - 1] : i;
        copies += src[i] != i;
    }
    return copies;
}

/* Grid rows r0..r0+nr-1 of y (CG, GH, GW) = weight * im2col(x), each set of grid columns
 * whose windows hold equal columns computed once: the windows of these rows see image rows
 * a0..a1, whose equal columns form runs as rows do above. The distinct columns go through
 * im2col and gemm in ranges, into the end of scratch (at most cap elements in all), and are
 * copied out; then the others are copied. work: IW + 2 GW ints. Returns 0, having done
 * nothing, when no column repeats another or a range's row does not fit. */
static int band_columns(real *y, const real *x, const real *weight, const ConvGeom *g, int r0,
                        int nr, size_t cap, real *scratch, int *work)
{
    int ckk = g->C * g->KH * g->KW, *run = work, *key = run + g->IW, *src = key + g->GW;
    int a0 = r0 * g->stride - g->pad, a1 = (r0 + nr - 1) * g->stride - g->pad + g->KH - 1;
    int j, o, end;
    size_t GHW = (size_t)g->GH * g->GW;
    a0 = a0 < 0 ? 0 : a0;
    a1 = a1 >= g->IH ? g->IH - 1 : a1;
    for (j = 0; j < g->IW; j++)
        run[j] = j > 0 && a0 <= a1 && cols_equal(x, g, a0, a1, j, j - 1) ? run[j - 1] : j;
    if (!repeat_sources(run, g->IW, g->GW, g->stride, g->pad, g->KW, key, src)) return 0;
    for (j = 0; j < g->GW; j = end > j ? end : j + 1) { /* does every range's row fit? */
        for (end = j; end < g->GW && src[end] == end; end++) continue;
        if ((size_t)(ckk + g->CG) * (size_t)(end - j) > cap) return 0;
    }
    for (j = 0; j < g->GW; j = end > j ? end : j + 1) {
        int cw, rows, rr, r;
        for (end = j; end < g->GW && src[end] == end; end++) continue;
        if (end == j) continue;
        cw = end - j;
        rows = (int)(cap / ((size_t)(ckk + g->CG) * cw));
        for (rr = 0; rr < nr; rr += rows) {
            int n2 = nr - rr < rows ? nr - rr : rows, P = n2 * cw;
            real *t = scratch + (size_t)ckk * P; /* (CG, n2, cw) */
            im2col(scratch, x, g, r0 + rr, n2, j, cw);
            gemm(0, 0, g->CG, P, ckk, 1, weight, ckk, scratch, P, 0, t, P);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) private(r) if ((size_t)g->CG * P > 65536)
#endif
            for (o = 0; o < g->CG; o++)
                for (r = 0; r < n2; r++)
                    memcpy(y + (size_t)o * GHW + (size_t)(r0 + rr + r) * g->GW + j,
                           t + (size_t)o * P + (size_t)r * cw, (size_t)cw * sizeof(real));
        }
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->CG * nr * g->GW > 65536)
#endif
    for (o = 0; o < g->CG; o++) {
        int r, i;
        for (r = r0; r < r0 + nr; r++) {
            real *d = y + (size_t)o * GHW + (size_t)r * g->GW;
            for (i = 0; i < g->GW; i++)
                if (src[i] != i) d[i] = d[src[i]];
        }
    }
    return 1;
}

/* The forward grid pass y (CG, GH, GW) = weight * im2col(x) for one sample, each set of
 * grid rows with equal windows computed once (see above). Returns 0, having done nothing,
 * when no row repeats another (or memory is short: the caller then computes every row). */
static int repeated_rows(real *y, const real *x, const real *weight, const ConvGeom *g, int band,
                         real *scratch)
{
    int ckk = g->C * g->KH * g->KW, gh, r, o;
    int *run = malloc(((size_t)g->IH + 2 * (size_t)g->GH + g->IW + 2 * (size_t)g->GW) *
                      sizeof(int));
    int *key, *src; /* key: what a grid row's windows see; src: the row it copies (or itself) */
    size_t GHW = (size_t)g->GH * g->GW, cap = (size_t)ckk * band * g->GW;
    if (!run) return 0;
    key = run + g->IH;
    src = key + g->GH;
    for (r = 0; r < g->IH; r++) /* run[r]: the first row of the run of equal rows holding r */
        run[r] = r > 0 && rows_equal(x, g, r, r - 1) ? run[r - 1] : r;
    if (!repeat_sources(run, g->IH, g->GH, g->stride, g->pad, g->KH, key, src)) {
        free(run);
        return 0;
    }
    for (gh = 0; gh < g->GH;) { /* runs of rows to compute, in bands */
        int end = gh, r0;
        while (end < g->GH && src[end] == end) end++;
        for (r0 = gh; r0 < end; r0 += band) {
            int nr = end - r0 < band ? end - r0 : band, P = nr * g->GW;
            if (band_columns(y, x, weight, g, r0, nr, cap, scratch, src + g->GH)) continue;
            im2col(scratch, x, g, r0, nr, 0, g->GW);
            gemm(0, 0, g->CG, P, ckk, 1, weight, ckk, scratch, P, 0, y + (size_t)r0 * g->GW,
                 (int)GHW);
        }
        gh = end > gh ? end : gh + 1;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (GHW * g->CG > 65536)
#endif
    for (o = 0; o < g->CG; o++) {
        real *yo = y + (size_t)o * GHW;
        int i;
        for (i = 0; i < g->GH; i++)
            if (src[i] != i)
                memcpy(yo + (size_t)i * g->GW, yo + (size_t)src[i] * g->GW,
                       (size_t)g->GW * sizeof(real));
    }
    free(run);
    return 1;
}

/* ---- the two passes */

/* The grid direction, for N samples (weight (CG, C, KH, KW)):
 *   gout (N, CG, GH, GW) = beta * gout + weight * im2col(img)   (gout may be NULL)
 *   dweight (CG, C*KH*KW) += gin (N, CG, GH, GW) * im2col(img)^T  (dweight may be NULL)
 * img is (N, C, IH, IW). Band by band, samples in order; one im2col serves both. */
void conv_grid_pass(real *gout, real beta, real *dweight, const real *gin, const real *img,
                    const real *weight, const ConvGeom *g, int N, size_t budget, real *scratch)
{
    int ckk = g->C * g->KH * g->KW, band = band_rows(g, budget), n, r0;
    size_t IHW = (size_t)g->IH * g->IW, GHW = (size_t)g->GH * g->GW;
    if (!gout && !dweight) return;
    for (n = 0; n < N; n++) {
        const real *x = img + (size_t)n * g->C * IHW;                 /* (C, IH, IW) */
        real *y = gout ? gout + (size_t)n * g->CG * GHW : NULL;        /* (CG, GH, GW) */
        const real *dy = dweight ? gin + (size_t)n * g->CG * GHW : NULL; /* (CG, GH, GW) */
        if (g->point) {
            if (y)
                gemm(0, 0, g->CG, (int)GHW, g->C, 1, weight, g->C, x, (int)IHW, beta, y, (int)GHW);
            if (dy)
                gemm(0, 1, g->CG, g->C, (int)GHW, 1, dy, (int)GHW, x, (int)IHW, 1, dweight, g->C);
            continue;
        }
        if (y && !dy && beta == 0 && repeated_rows(y, x, weight, g, band, scratch)) continue;
        if (y && !dy && small_ok(g, (size_t)ckk * band * g->GW)) {
            int cgp = (g->CG + SMALL_O - 1) / SMALL_O * SMALL_O;
            if (n == 0) small_weights(scratch, weight, g, cgp);
            small_grid(y, beta, x, scratch, g);
            continue;
        }
        for (r0 = 0; r0 < g->GH; r0 += band) {
            int nr = g->GH - r0 < band ? g->GH - r0 : band, P = nr * g->GW;
            size_t at = (size_t)r0 * g->GW; /* first grid point of the band */
            im2col(scratch, x, g, r0, nr, 0, g->GW); /* scratch: (C*KH*KW, nr*GW) */
            if (y) gemm(0, 0, g->CG, P, ckk, 1, weight, ckk, scratch, P, beta, y + at, (int)GHW);
            if (dy) gemm(0, 1, g->CG, ckk, P, 1, dy + at, (int)GHW, scratch, P, 1, dweight, ckk);
        }
    }
}

/* 1 if the image pass may run as a grid pass of the flipped geometry (stride 1,
 * pad <= K-1) with the flipped weight copy taking at most half the budget. */
static int flippable(const ConvGeom *g)
{
    return !g->point && g->stride == 1 && g->KH == g->KW && g->pad <= g->KH - 1 &&
           (size_t)g->CG * g->C * g->KH * g->KW <= CONV_COL_BUDGET / 2;
}

/* With stride 1, img[c, ih, iw] = sum over o,kh,kw of grid[o, ih+p-kh, iw+p-kw] *
 * weight[o,c,kh,kw] is a convolution of the grid (padded by K-1-p) with the weights transposed
 * and flipped: the image becomes the grid of this geometry. */
static ConvGeom flip_geom(const ConvGeom *g)
{
    ConvGeom f = *g;
    f.C = g->CG; f.IH = g->GH; f.IW = g->GW;
    f.CG = g->C; f.GH = g->IH; f.GW = g->IW;
    f.pad = g->KH - 1 - g->pad;
    return f;
}

/* wf (C, CG, K, K)[c][o][kh][kw] = weight (CG, C, K, K)[o][c][K-1-kh][K-1-kw]. */
static void flip_weight(real *wf, const real *weight, const ConvGeom *g)
{
    int KK = g->KH * g->KW, c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->C * g->CG * KK > 65536)
#endif
    for (c = 0; c < g->C; c++) {
        int o, k;
        for (o = 0; o < g->CG; o++) {
            const real *src = weight + ((size_t)o * g->C + c) * KK; /* (K, K) */
            real *dst = wf + ((size_t)c * g->CG + o) * KK;     /* (K, K) */
            for (k = 0; k < KK; k++) dst[k] = src[KK - 1 - k];
        }
    }
}

/* Elements of the flipped weight copy, rounded up to a 64-byte multiple. */
static size_t flip_elems(const ConvGeom *g)
{
    size_t n = (size_t)g->CG * g->C * g->KH * g->KW, q = 64 / sizeof(real);
    return (n + q - 1) / q * q;
}

/* The image direction, the adjoint of the grid pass's product, for N samples:
 *   img (N, C, IH, IW) = (add ? img : 0) + weight^T "*" grid (N, CG, GH, GW).
 * Stride 1: a grid pass of the flipped geometry (im2col of the grid, then one gemm with
 * the large inner dimension CG*K*K, no col2im). Otherwise col = weight^T * grid band,
 * folded into the image by col2im. */
void conv_image_pass(real *img, int add, const real *grid, const real *weight,
                     const ConvGeom *g, int N, real *scratch)
{
    int ckk = g->C * g->KH * g->KW, n, r0, band, diag;
    size_t IHW = (size_t)g->IH * g->IW, GHW = (size_t)g->GH * g->GW;
    if (flippable(g)) {
        ConvGeom f = flip_geom(g);
        size_t nf = flip_elems(g);
        flip_weight(scratch, weight, g);
        conv_grid_pass(img, add ? 1 : 0, NULL, NULL, grid, scratch, &f, N, CONV_COL_BUDGET - nf,
                       scratch + nf);
        return;
    }
    band = band_rows(g, CONV_COL_BUDGET);
    diag = diagonal_weight(weight, g);
    for (n = 0; n < N; n++) {
        real *x = img + (size_t)n * g->C * IHW;              /* (C, IH, IW) */
        const real *y = grid + (size_t)n * g->CG * GHW;      /* (CG, GH, GW) */
        if (g->point) {
            gemm(1, 0, g->C, (int)IHW, g->CG, 1, weight, g->C, y, (int)GHW, add ? 1 : 0, x,
                 (int)IHW);
            continue;
        }
        if (!add) memset(x, 0, IHW * g->C * sizeof(real));
        for (r0 = 0; r0 < g->GH; r0 += band) {
            int nr = g->GH - r0 < band ? g->GH - r0 : band, P = nr * g->GW;
            if (diag && band_finite(y, g, r0, nr)) {
                diagonal_fold(x, y, weight, g, r0, nr); /* the same values, without the gemm */
                continue;
            }
            /* scratch (C*KH*KW, nr*GW) = weight^T * grid rows r0..r0+nr-1 */
            gemm(1, 0, ckk, P, g->CG, 1, weight, ckk, y + (size_t)r0 * g->GW, (int)GHW, 0, scratch,
                 P);
            col2im(x, scratch, g, r0, nr);
        }
    }
}

/* ---- scratch sizes */

/* col elements of one band of geometry g within `budget`. */
static size_t band_elems(const ConvGeom *g, size_t budget)
{
    return (size_t)g->C * g->KH * g->KW * (size_t)band_rows(g, budget) *
           (size_t)(g->GW > 0 ? g->GW : 1);
}

/* Work of both passes of geometry g: one band, or the flipped weights and a band of the
 * flipped geometry (see conv_image_pass). The band counted is the largest that fits
 * CONV_COL_BUDGET (conv_band_rows_fit), more than band_rows picks: opencl/ops.c cuts such
 * bands and sizes its device scratch with conv_work_size. */
size_t conv_pass_elems(const ConvGeom *g)
{
    size_t gw = (size_t)(g->GW > 0 ? g->GW : 1), per_row = (size_t)g->C * g->KH * g->KW * gw;
    size_t a = per_row * (size_t)conv_band_rows_fit(g, CONV_COL_BUDGET), b = 0;
    if (flippable(g)) {
        ConvGeom f = flip_geom(g);
        b = flip_elems(g) + band_elems(&f, CONV_COL_BUDGET - flip_elems(g));
    }
    return a > b ? a : b;
}

/* ---- bias */

/* y (N, OC, HW) += bias[oc] for every sample and position. Parallel over channels. */
void conv_add_bias(real *y, const real *bias, int N, int OC, size_t HW)
{
    int o;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * OC * HW > 65536)
#endif
    for (o = 0; o < N * OC; o++) {
        real *row = y + (size_t)o * HW, b = bias[o % OC];
        size_t i;
        for (i = 0; i < HW; i++) row[i] += b;
    }
}

/* dbias[oc] += sum of dout (N, OC, HW) over N and HW, summed in double in a fixed order
 * (also the direct references' bias gradient): sample by sample, position by position, four
 * channels side by side (lsd_sum_rows: 3.5x faster than one after the other, the same bits).
 * Parallel over groups of channels. */
void conv_bias_grad(real *dbias, const real *dout, int N, int OC, size_t HW)
{
    int grp, ngrp = (OC + LSD_SUM_LANES - 1) / LSD_SUM_LANES;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * OC * HW > 65536)
#endif
    for (grp = 0; grp < ngrp; grp++) {
        int o0 = grp * LSD_SUM_LANES, n, c;
        int lanes = OC - o0 < LSD_SUM_LANES ? OC - o0 : LSD_SUM_LANES;
        double acc[LSD_SUM_LANES] = {0};
        for (n = 0; n < N; n++) /* rows (lanes, HW) of sample n */
            lsd_sum_rows(acc, dout + ((size_t)n * OC + o0) * HW, HW, HW, lanes);
        for (c = 0; c < lanes; c++) dbias[o0 + c] += (real)acc[c];
    }
}

/* ---- the direct references' loops: every output element is a sum gathered in double.
 * They share the geometry too: grid channels o, image channels c, weight (CG, C, KH, KW),
 * and grid point (gh, gw) sees image point (gh*s-p+kh, gw*s-p+kw). */

/* Element (n, c, h, w) of a tensor (N, C, H, W). */
#define AT(t, n, c, h, w, C, H, W) (t)[(((size_t)(n) * (C) + (c)) * (H) + (h)) * (W) + (w)]

/* grid[n,o,gh,gw] (= or +=) bias[o] + sum over c,kh,kw of weight[o,c,kh,kw] * img[n,c,ih,iw]
 * with ih = gh*s-p+kh, iw = gw*s-p+kw inside the image (bias may be NULL). */
void conv_direct_to_grid(real *grid, int add, const real *img, const real *weight,
                         const real *bias, const ConvGeom *g, int N)
{
    int n, o, gh, gw, c, kh, kw;
    for (n = 0; n < N; n++)
        for (o = 0; o < g->CG; o++)
            for (gh = 0; gh < g->GH; gh++)
                for (gw = 0; gw < g->GW; gw++) {
                    double acc = 0;
                    real v;
                    for (c = 0; c < g->C; c++)
                        for (kh = 0; kh < g->KH; kh++)
                            for (kw = 0; kw < g->KW; kw++) {
                                int ih = gh * g->stride - g->pad + kh;
                                int iw = gw * g->stride - g->pad + kw;
                                if (ih < 0 || ih >= g->IH || iw < 0 || iw >= g->IW) continue;
                                acc += (double)AT(weight, o, c, kh, kw, g->C, g->KH, g->KW) *
                                       AT(img, n, c, ih, iw, g->C, g->IH, g->IW);
                            }
                    if (bias) acc += bias[o];
                    v = (real)acc;
                    if (add) AT(grid, n, o, gh, gw, g->CG, g->GH, g->GW) += v;
                    else AT(grid, n, o, gh, gw, g->CG, g->GH, g->GW) = v;
                }
}

/* img[n,c,ih,iw] (= or +=) bias[c] + sum over o,kh,kw with (ih+p-kh)/s = gh, (iw+p-kw)/s = gw
 * exact and in range of grid[n,o,gh,gw] * weight[o,c,kh,kw] (bias may be NULL). */
void conv_direct_to_image(real *img, int add, const real *grid, const real *weight,
                          const real *bias, const ConvGeom *g, int N)
{
    int n, o, ih, iw, c, kh, kw;
    for (n = 0; n < N; n++)
        for (c = 0; c < g->C; c++)
            for (ih = 0; ih < g->IH; ih++)
                for (iw = 0; iw < g->IW; iw++) {
                    double acc = 0;
                    real v;
                    for (o = 0; o < g->CG; o++)
                        for (kh = 0; kh < g->KH; kh++)
                            for (kw = 0; kw < g->KW; kw++) {
                                int th = ih + g->pad - kh, tw = iw + g->pad - kw, gh, gw;
                                if (th < 0 || tw < 0 || th % g->stride || tw % g->stride)
                                    continue;
                                gh = th / g->stride;
                                gw = tw / g->stride;
                                if (gh >= g->GH || gw >= g->GW) continue;
                                acc += (double)AT(grid, n, o, gh, gw, g->CG, g->GH, g->GW) *
                                       AT(weight, o, c, kh, kw, g->C, g->KH, g->KW);
                            }
                    if (bias) acc += bias[c];
                    v = (real)acc;
                    if (add) AT(img, n, c, ih, iw, g->C, g->IH, g->IW) += v;
                    else AT(img, n, c, ih, iw, g->C, g->IH, g->IW) = v;
                }
}

/* dweight[o,c,kh,kw] += sum over n,gh,gw of grid[n,o,gh,gw] * img[n,c,gh*s-p+kh,gw*s-p+kw]. */
void conv_direct_weight_grad(real *dweight, const real *grid, const real *img, const ConvGeom *g,
                             int N)
{
    int n, o, c, kh, kw, gh, gw;
    for (o = 0; o < g->CG; o++)
        for (c = 0; c < g->C; c++)
            for (kh = 0; kh < g->KH; kh++)
                for (kw = 0; kw < g->KW; kw++) {
                    double acc = 0;
                    for (n = 0; n < N; n++)
                        for (gh = 0; gh < g->GH; gh++)
                            for (gw = 0; gw < g->GW; gw++) {
                                int ih = gh * g->stride - g->pad + kh;
                                int iw = gw * g->stride - g->pad + kw;
                                if (ih < 0 || ih >= g->IH || iw < 0 || iw >= g->IW) continue;
                                acc += (double)AT(grid, n, o, gh, gw, g->CG, g->GH, g->GW) *
                                       AT(img, n, c, ih, iw, g->C, g->IH, g->IW);
                            }
                    AT(dweight, o, c, kh, kw, g->C, g->KH, g->KW) += (real)acc;
                }
}
