/*
 * conv_kernels.c - the internals of layers/conv.c: im2col and col2im, the two passes both
 * convolution kinds are made of, the direct paths (for few channels, and for every width
 * without im2col), the fold for channel-diagonal weights (FCN's bilinear upsampling), the
 * input gradient tap by tap for kernels larger than their grid (fc6), and the loops of the
 * direct references. The geometry (image, grid, bands) is layers/conv_geom.h's.
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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

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

/* The kernels compiled once for each vector width (the direct path for every width, the
 * input gradient tap by tap) inline their body into a function of each target. */
#if defined(__GNUC__) && !defined(__TINYC__)
#define CONV_INLINE __attribute__((always_inline)) inline
#define CONV_NOINLINE __attribute__((noinline))
#else
#define CONV_INLINE inline
#define CONV_NOINLINE
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

/* img += the fold of col (cw*KH*KW, nr*GW), the rows of channels c0..c0+cw-1, for grid rows
 * r0..r0+nr-1; each image element receives its terms in the fixed order (kh, kw, row,
 * column), whatever the range. Parallel over channels. */
static void col2im(real *img, const real *col, const ConvGeom *g, int r0, int nr, int c0, int cw)
{
    int KK = g->KH * g->KW, c;
    size_t P = (size_t)nr * g->GW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)cw * KK * P > 32768)
#endif
    for (c = 0; c < cw; c++) {
        real *plane = img + (size_t)(c0 + c) * g->IH * g->IW; /* (IH, IW) */
        int kh, kw;
        for (kh = 0; kh < g->KH; kh++)
            for (kw = 0; kw < g->KW; kw++)
                fold_tap(plane, col + ((size_t)c * KK + (size_t)kh * g->KW + kw) * P, NULL, g, r0,
                         nr, kh, kw);
    }
}

/* One band of the col2im image pass, for image channels c0..c0+cw-1: col (cw*KH*KW, nr*GW)
 * = w^T * grid rows r0..r0+nr-1, then img += col2im(col). w (rows, ldw) holds, for each of
 * grid's `rows` channels, the weights of those image channels; grid (rows, GH, GW); col is
 * scratch. The dense pass and the pass over live channels (below) both fold through here,
 * so their sums are the same by construction. */
static void band_fold(real *img, const real *w, int ldw, const real *grid, int rows,
                      const ConvGeom *g, int r0, int nr, int c0, int cw, real *col)
{
    int P = nr * g->GW, m = cw * g->KH * g->KW;
    gemm(1, 0, m, P, rows, 1, w, ldw, grid + (size_t)r0 * g->GW, g->GH * g->GW, 0, col, P);
    col2im(img, col, g, r0, nr, c0, cw);
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

/* 1 if the n values of x are all finite. */
static int all_finite(const real *x, size_t n)
{
    long long nb = (long long)((n + 4095) / 4096), b;
    int bad = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(| : bad) if (n > 65536)
#endif
    for (b = 0; b < nb; b++) {
        size_t i0 = (size_t)b * 4096, i1 = i0 + 4096 < n ? i0 + 4096 : n, i;
        int e = 0;
        for (i = i0; i < i1; i++) e |= !(x[i] - x[i] == 0);
        bad |= e;
    }
    return !bad;
}

/* 1 if the grid rows r0..r0+nr-1 of every channel of grid (CG, GH, GW) are finite. */
static int band_finite(const real *grid, const ConvGeom *g, int r0, int nr)
{
    size_t GHW = (size_t)g->GH * g->GW;
    int c;
    for (c = 0; c < g->CG; c++)
        if (!all_finite(grid + (size_t)c * GHW + (size_t)r0 * g->GW, (size_t)nr * g->GW))
            return 0;
    return 1;
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

/* The weights (CG, C*KH*KW) for the direct paths, in `blocks` blocks of mr grid channels:
 * wt (blocks, C*KH*KW, mr), each k's mr values side by side, zero past CG. */
static void weight_blocks(real *wt, const real *weight, const ConvGeom *g, int mr, int blocks)
{
    int ckk = g->C * g->KH * g->KW, b, k, r;
    for (b = 0; b < blocks; b++)
        for (k = 0; k < ckk; k++)
            for (r = 0; r < mr; r++) {
                int o = b * mr + r;
                wt[((size_t)b * ckk + k) * mr + r] = o < g->CG ? weight[(size_t)o * ckk + k] : 0;
            }
}

/* d[j] = image row ih of channel c at column i0 + j, 0 outside the image, for j < w;
 * 1 if some value came from the image. */
static int padded_row(real *d, const real *x, const ConvGeom *g, int c, int ih, int i0, int w)
{
    int lo = clampi(-i0, 0, w), hi = clampi(g->IW - i0, lo, w), j;
    if (ih < 0 || ih >= g->IH) lo = hi = 0;
    for (j = 0; j < lo; j++) d[j] = 0;
    if (hi > lo)
        memcpy(d + lo, x + ((size_t)c * g->IH + ih) * g->IW + i0 + lo,
               (size_t)(hi - lo) * sizeof(real));
    for (j = hi; j < w; j++) d[j] = 0;
    return hi > lo;
}

/* y (CG, GH, GW) = (beta * y +) weight * im2col(x) for one sample x (C, IH, IW), by the
 * direct path (wt from weight_blocks, one block of CGp channels). For each tile of SMALL_X columns the image rows it
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
            for (r = 0; r < g->C * g->KH; r++) /* image row ih, columns i0.. */
                if (padded_row(seg + (size_t)r * segw, x, g, r / g->KH,
                               gh - g->pad + r % g->KH, i0, segw))
                    zero = 0;
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

/* ---- the direct path for every width
 *
 * A stride-1 grid pass, y = weight * im2col(x) (+ beta * y), over a rectangle of grid rows
 * r0.. and columns c0.. without im2col and without gemm's packing of it: the image rows the
 * rectangle's windows see are copied once, zero-padded, into a segment (C, SH, SW), and the
 * kernel reads each tap's values where they lie in it, at offset off[k] = (c*SH + kh)*SW + kw
 * from a grid point's own place (a ninth of im2col's copying for a 3x3 window). Tiles of
 * MR grid channels x NR grid columns of one row, gemm's tile for the vector width (AVX-512,
 * AVX2 or the build's own, picked as gemm picks its kernel), keep their sums in registers:
 * each is acc = +0, then acc += w[o,k] * x for k in im2col's row order, then acc (+ beta * y),
 * exactly gemm's operations in gemm's order (its k blocks keep the running sum in `real`), so
 * the bits are those of the im2col path. The weights are copied once a pass, in blocks of
 * MR channels with each k's MR values side by side (zeros past CG). */

/* Largest C*KH*KW by kernel (3x3 layers of F's reduced widths, dense random inputs, time
 * against im2col and gemm, 1 thread). AVX-512 (16 x 16 tiles): 0.60-0.92 up to 128 -> 128
 * channels at 33x41 (C*KH*KW 1152; at full size 64 -> 128 at 259x419 0.89); one block of
 * weights, 16 * C*KH*KW values, stays in the L2 cache (73 KB at 1152), and larger layers
 * keep im2col and gemm, whose k blocks bound what they read. AVX2 (6 x 16 tiles, two
 * unaligned loads a k for 12 sums): 16 -> 16 at 262x326 0.61, 32 -> 32 at 131x163 0.82, but
 * 64 -> 64 at 66x82 1.19 and 128 -> 128 at 33x41 1.21, so up to 288. The base kernel (4 x 8,
 * SSE2) gains nothing (1.00-1.24), and its builds have the direct path for few channels. */
#define WIDE_CKK_MAX 1152
#define WIDE_CKK_MAX_AVX2 288
/* Rows of a rectangle go in chunks whose part of the segment, about this many elements
 * (256 KB of floats), stays in the L2 cache while every block of weights sweeps it. */
#define WIDE_CHUNK_ELEMS ((size_t)65536)

typedef void (*wide_fn)(real *y, size_t GHW, real beta, const real *srow, const int *off,
                        const real *wb, int ckk, int rows, int cw);

/* The layer's copy of the weights and the kernel, for one grid pass. */
typedef struct {
    real *wp;   /* (blocks, C*KH*KW, mr): block b holds grid channels b*mr.., 0 past CG */
    int blocks, mr, nr;
    int ckk_max; /* the largest C*KH*KW the kernel takes (0: none) */
    wide_fn fn;
} wide_plan;

/* One grid row of a rectangle for one block of grid channels: y (rows channels GHW apart,
 * cw columns) from the segment row srow, tile after tile of NR columns (the last one's
 * extra columns read past the row and are not stored). */
static CONV_INLINE void wide_row(int MR, int NR, real *y, size_t GHW, real beta,
                                 const real *srow, const int *off, const real *wb, int ckk,
                                 int rows, int cw)
{
    int cc, k, r, j;
    for (cc = 0; cc < cw; cc += NR) {
        real s[16 * 16]; /* the largest tile: 16 x 16 (AVX-512, float) */
        const real *base = srow + cc;
        int cols = cw - cc < NR ? cw - cc : NR;
        LSD_CONV_UNROLL
        for (r = 0; r < MR; r++)
            for (j = 0; j < NR; j++) s[r * NR + j] = 0;
        for (k = 0; k < ckk; k++) {
            const real *restrict b = base + off[k], *restrict a = wb + (size_t)k * MR;
            LSD_CONV_UNROLL
            for (r = 0; r < MR; r++) {
                real x = a[r];
                for (j = 0; j < NR; j++) s[r * NR + j] += x * b[j];
            }
        }
        if (rows == MR && cols == NR && beta == 0) { /* a full tile, from the registers */
            LSD_CONV_UNROLL
            for (r = 0; r < MR; r++)
                for (j = 0; j < NR; j++) y[(size_t)r * GHW + cc + j] = s[r * NR + j];
            continue;
        }
        for (r = 0; r < rows; r++) {
            real *restrict d = y + (size_t)r * GHW + cc;
            const real *v = s + r * NR;
            if (beta == 0)
                for (j = 0; j < cols; j++) d[j] = v[j];
            else
                for (j = 0; j < cols; j++) d[j] = v[j] + beta * d[j];
        }
    }
}

static CONV_NOINLINE void wide_base(real *y, size_t GHW, real beta, const real *srow,
                                    const int *off, const real *wb, int ckk, int rows, int cw)
{
    wide_row(GEMM_BASE_MR, GEMM_BASE_NR, y, GHW, beta, srow, off, wb, ckk, rows, cw);
}

#ifdef LSD_CPU_DISPATCH
__attribute__((noinline, target("avx2,no-fma"))) static void
wide_avx2(real *y, size_t GHW, real beta, const real *srow, const int *off, const real *wb,
          int ckk, int rows, int cw)
{
    wide_row(GEMM_MR_OF(32), GEMM_NR_OF(32), y, GHW, beta, srow, off, wb, ckk, rows, cw);
}

__attribute__((noinline, target("avx512f,no-fma"))) static void
wide_avx512(real *y, size_t GHW, real beta, const real *srow, const int *off, const real *wb,
            int ckk, int rows, int cw)
{
    wide_row(GEMM_MR_OF(64), GEMM_NR_OF(64), y, GHW, beta, srow, off, wb, ckk, rows, cw);
}
#endif

/* The kernel of the vector width gemm runs (LSD_GEMM_KERNEL forces both alike) and its tile. */
static void wide_pick(wide_plan *p)
{
    p->fn = wide_base, p->mr = GEMM_BASE_MR, p->nr = GEMM_BASE_NR;
    p->ckk_max = GEMM_BASE_VBYTES >= 64 ? WIDE_CKK_MAX
                 : GEMM_BASE_VBYTES >= 32 ? WIDE_CKK_MAX_AVX2 : 0;
#ifdef LSD_CPU_DISPATCH
    {
        const char *k = gemm_kernel_name();
        if (!strcmp(k, "avx512"))
            p->fn = wide_avx512, p->mr = GEMM_MR_OF(64), p->nr = GEMM_NR_OF(64),
            p->ckk_max = WIDE_CKK_MAX;
        else if (!strcmp(k, "avx2"))
            p->fn = wide_avx2, p->mr = GEMM_MR_OF(32), p->nr = GEMM_NR_OF(32),
            p->ckk_max = WIDE_CKK_MAX_AVX2;
    }
#endif
}

/* Rectangles computed by wide_rect (for tests); atomic: two lanes of lsd_step may run
 * convolutions at once. */
static long wide_rects;

long conv_wide_count(void)
{
    return wide_rects;
}

int conv_wide_ckk_max(void)
{
    wide_plan p;
    wide_pick(&p);
    return p.ckk_max;
}

/* Sets up the direct path for a grid pass of g with these weights: 1, or 0 where it does not
 * apply (stride other than 1, a 1x1 or too large a window, fewer grid channels than a tile's
 * rows, LSD_CONV_DIRECT=0) or memory is short. */
static int wide_init(wide_plan *p, const real *weight, const ConvGeom *g)
{
    int ckk = g->C * g->KH * g->KW;
    p->wp = NULL;
    if (!conv_wide_on() || g->point || g->stride != 1) return 0;
    wide_pick(p);
    if (ckk > p->ckk_max || g->CG < p->mr) return 0;
    p->blocks = (g->CG + p->mr - 1) / p->mr;
    p->wp = malloc(sizeof(real) * (size_t)p->blocks * p->mr * ckk);
    if (!p->wp) return 0;
    weight_blocks(p->wp, weight, g, p->mr, p->blocks);
    return 1;
}

/* Elements of the segment of a rectangle of nr rows and cw columns (with NR reals of slack
 * read by the last tile). */
static size_t wide_elems(const wide_plan *p, const ConvGeom *g, int nr, int cw)
{
    return (size_t)g->C * (nr + g->KH - 1) * (cw + g->KW - 1) + (size_t)p->nr;
}

/* 1 if a rectangle of nr rows and cw columns takes the direct path: its segment fits `cap`
 * elements, and its tiles' columns are mostly the rectangle's (a grid row of 21 columns in
 * tiles of 16, 34% of the products thrown away, ran 1.2x slower than im2col and gemm). */
static int wide_fits(const wide_plan *p, const ConvGeom *g, int nr, int cw, size_t cap)
{
    int tiled = (cw + p->nr - 1) / p->nr * p->nr;
    return 4 * cw >= 3 * tiled && wide_elems(p, g, nr, cw) <= cap;
}

/* Grid rows r0..r0+nr-1, columns c0..c0+cw-1 of y (CG, GH, GW) = weight * im2col(x)
 * (+ beta * y) by the direct path; seg: wide_elems(p, g, nr, cw) elements. The grid
 * channels' blocks and rows are shared among the threads. */
static void wide_rect(real *y, real beta, const real *x, const ConvGeom *g, const wide_plan *p,
                      int r0, int nr, int c0, int cw, real *seg)
{
    int SH = nr + g->KH - 1, SW = cw + g->KW - 1, ckk = g->C * g->KH * g->KW, k, q;
    int i0 = c0 - g->pad, chunk, pairs;
    int off[WIDE_CKK_MAX];
    size_t GHW = (size_t)g->GH * g->GW, elems = wide_elems(p, g, nr, cw);
    /* the rows in chunks (WIDE_CHUNK_ELEMS; a segment of 64 channels at 66x82 is 1.4 MB),
     * the work split in units of one row of one block, chunk after chunk */
    chunk = (int)(WIDE_CHUNK_ELEMS / ((size_t)g->C * SW)) - (g->KH - 1);
    chunk = clampi(chunk, 1, nr);
    pairs = nr * p->blocks;
#ifdef _OPENMP
#pragma omp atomic
#endif
    wide_rects++;
    for (k = 0; k < ckk; k++) {
        int c = k / (g->KH * g->KW), t = k % (g->KH * g->KW);
        off[k] = (c * SH + t / g->KW) * SW + t % g->KW;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (elems > 65536)
#endif
    for (q = 0; q < g->C * SH; q++) /* image row r0 - pad + q % SH of channel q / SH */
        padded_row(seg + (size_t)q * SW, x, g, q / SH, r0 - g->pad + q % SH, i0, SW);
    for (k = 0; k < p->nr; k++) seg[elems - (size_t)p->nr + k] = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)pairs * ckk * cw > 65536 && pairs > 1)
#endif
    for (q = 0; q < pairs; q++) { /* chunk by chunk of rows: block by block, row by row */
        int rs = q / (p->blocks * chunk) * chunk, cl = nr - rs < chunk ? nr - rs : chunk;
        int i = q - rs * p->blocks, b = i / cl, r = rs + i % cl, o0 = b * p->mr;
        int rows = g->CG - o0 < p->mr ? g->CG - o0 : p->mr;
        p->fn(y + (size_t)o0 * GHW + (size_t)(r0 + r) * g->GW + c0, GHW, beta,
              seg + (size_t)r * SW, off, p->wp + (size_t)b * ckk * p->mr, ckk, rows, cw);
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
                        int nr, size_t cap, real *scratch, int *work, const wide_plan *wp)
{
    int ckk = g->C * g->KH * g->KW, *run = work, *key = run + g->IW, *src = key + g->GW;
    int a0 = r0 * g->stride - g->pad, a1 = (r0 + nr - 1) * g->stride - g->pad + g->KH - 1;
    int j, o, end, nrun;
    size_t GHW = (size_t)g->GH * g->GW;
    a0 = a0 < 0 ? 0 : a0;
    a1 = a1 >= g->IH ? g->IH - 1 : a1;
    /* run[j] = 1 where column j equals column j-1 (independent tests), then the runs */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (a0 <= a1 && (size_t)g->C * (a1 - a0 + 1) * g->IW > 65536)
#endif
    for (j = 0; j < g->IW; j++) run[j] = j > 0 && a0 <= a1 && cols_equal(x, g, a0, a1, j, j - 1);
    for (j = 0; j < g->IW; j++) run[j] = run[j] ? run[j - 1] : j;
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
        if (wp && wide_fits(wp, g, nr, cw, cap)) {
            wide_rect(y, 0, x, g, wp, r0, nr, j, cw, scratch);
            continue;
        }
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
    /* the other columns in runs: columns key[2k] .. key[2k+1]-1 copy column key[2k] - 1 (a
     * run follows the column it copies, so there are at most GW/2 runs; key is free now) */
    for (j = 0, nrun = 0; j < g->GW; j++)
        if (src[j] != j && src[j] == j - 1) { /* a run starts after its source */
            for (end = j; end < g->GW && src[end] == src[j]; end++) continue;
            key[2 * nrun] = j;
            key[2 * nrun + 1] = end;
            nrun++;
        }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->CG * nr * g->GW > 65536)
#endif
    for (o = 0; o < g->CG; o++) {
        int r, k, i;
        for (r = r0; r < r0 + nr; r++) {
            real *d = y + (size_t)o * GHW + (size_t)r * g->GW;
            for (k = 0; k < nrun; k++) {
                real v = d[key[2 * k] - 1];
                for (i = key[2 * k]; i < key[2 * k + 1]; i++) d[i] = v;
            }
        }
    }
    return 1;
}

/* Forward passes whose bands of repeated_rows ran one a thread (for tests). */
static long band_parallel_runs;

/* How many forward passes have run repeated_rows' bands one a thread so far. */
long conv_band_parallel_count(void)
{
    return band_parallel_runs;
}

/* Threads that may run the bands of repeated_rows (or sparse_grid, or the chunks of
 * tap_image_pass) side by side: 1 inside a parallel region that cannot nest another (one of
 * lsd_step's lanes on 2 threads, say). */
static int band_threads(void)
{
#ifdef _OPENMP
    if (omp_get_active_level() >= omp_get_max_active_levels()) return 1;
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* One band of repeated_rows: grid rows r0..r0+nr-1 of y, their distinct columns computed
 * (band_columns) or, where none repeats, all (im2col and gemm); scratch: cap elements,
 * work: IW + 2 GW ints. */
static void repeated_band(real *y, const real *x, const real *weight, const ConvGeom *g, int r0,
                          int nr, size_t cap, real *scratch, int *work, const wide_plan *wp)
{
    int ckk = g->C * g->KH * g->KW, P = nr * g->GW;
    if (band_columns(y, x, weight, g, r0, nr, cap, scratch, work, wp)) return;
    if (wp && wide_fits(wp, g, nr, g->GW, cap)) {
        wide_rect(y, 0, x, g, wp, r0, nr, 0, g->GW, scratch);
        return;
    }
    im2col(scratch, x, g, r0, nr, 0, g->GW);
    gemm(0, 0, g->CG, P, ckk, 1, weight, ckk, scratch, P, 0, y + (size_t)r0 * g->GW,
         (int)((size_t)g->GH * g->GW));
}

/* The bands (r0, nr) of at most `rows` rows, bl[2k] and bl[2k+1], of the grid rows to
 * compute (src[i] == i: those no other row gives); returns how many. */
static int band_list(int *bl, const int *src, int GH, int rows)
{
    int gh, nb = 0;
    for (gh = 0; gh < GH;) {
        int end = gh, r0;
        while (end < GH && src[end] == end) end++;
        for (r0 = gh; r0 < end; r0 += rows, nb++) {
            bl[2 * nb] = r0;
            bl[2 * nb + 1] = end - r0 < rows ? end - r0 : rows;
        }
        gh = end > gh ? end : gh + 1;
    }
    return nb;
}

/* The forward grid pass y (CG, GH, GW) = weight * im2col(x) for one sample, each set of
 * grid rows with equal windows computed once (see above). The rows to compute go in bands,
 * with several threads one band a thread (each with its share of scratch, its gemm on one
 * thread): the frame's bands are many small pieces of work (the distinct columns, copies),
 * which split within a band met a barrier every few hundred microseconds. Every band's values
 * are the same however the rows are cut into bands, so the bits do not depend on the thread
 * count. Returns 0, having done nothing, when no row repeats another (or memory is short: the
 * caller then computes every row). */
static int repeated_rows(real *y, const real *x, const real *weight, const ConvGeom *g, int band,
                         real *scratch, const wide_plan *wp)
{
    int ckk = g->C * g->KH * g->KW, T = band_threads(), bt, nb = 0, b, r, o;
    size_t GHW = (size_t)g->GH * g->GW, cap = (size_t)ckk * band * g->GW, capt;
    size_t per = (size_t)g->IW + 2 * (size_t)g->GW; /* band_columns' work, one thread's */
    int *run, *key, *src, *bl, *wk; /* key: what a grid row's windows see; src: the row it
                                     * copies (or itself); bl: the bands (r0, nr) */
    /* a thread's share of scratch (64-byte pieces) and the rows of col it holds */
    capt = T > 1 ? cap / (size_t)T / 16 * 16 : cap;
    bt = (int)(capt / ((size_t)ckk * g->GW));
    if (bt > band) bt = band;
    if (bt < 1) T = 1; /* no row fits a share (many threads): bands of all threads' gemms */
    run = malloc(((size_t)g->IH + 4 * (size_t)g->GH + (size_t)T * per) * sizeof(int));
    if (!run) return 0;
    key = run + g->IH;
    src = key + g->GH;
    bl = src + g->GH;
    wk = bl + 2 * (size_t)g->GH;
    /* run[r]: the first row of the run of equal rows holding r; first 1 where row r equals
     * row r-1 (independent tests) */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->C * g->IH * g->IW > 65536)
#endif
    for (r = 0; r < g->IH; r++) run[r] = r > 0 && rows_equal(x, g, r, r - 1);
    for (r = 0; r < g->IH; r++) run[r] = run[r] ? run[r - 1] : r;
    if (!repeat_sources(run, g->IH, g->GH, g->stride, g->pad, g->KH, key, src)) {
        free(run);
        return 0;
    }
    if (T > 1) nb = band_list(bl, src, g->GH, bt);
    if (T > 1 && nb >= 2 * T) { /* enough bands to keep every thread busy: one a thread */
#ifdef _OPENMP
#pragma omp atomic
#endif
        band_parallel_runs++; /* atomic: two lanes of lsd_step may run convolutions at once */
#ifdef _OPENMP
#pragma omp parallel num_threads(T)
#endif
        {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
            omp_set_num_threads(1); /* gemm and the loops of this thread's bands: one thread */
#pragma omp for schedule(dynamic, 1)
#endif
            for (b = 0; b < nb; b++)
                repeated_band(y, x, weight, g, bl[2 * b], bl[2 * b + 1], capt,
                              scratch + (size_t)tid * capt, wk + (size_t)tid * per, wp);
        }
    } else { /* whole bands, each split among the threads by its gemm and loops */
        nb = band_list(bl, src, g->GH, band);
        for (b = 0; b < nb; b++)
            repeated_band(y, x, weight, g, bl[2 * b], bl[2 * b + 1], cap, scratch, wk, wp);
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

/* ---- grid points with no gradient
 *
 * The backward passes meet gradients that are exactly 0 in every channel at many grid points:
 * max pooling sends the gradient of a window of equal values to its first position only, so
 * around an image padded by 100 (see above), where every window holds one repeated value,
 * three of each four points of the layer before a pooling get none (and at initialization,
 * with zero biases, relu passes none in the whole padding). Every sum of the gemm path is a
 * running sum from +0 over k in order (tensor/gemm.h, and small_grid), and a term w * 0 with
 * w finite is +0 or -0, which leaves such a sum unchanged (it is never -0). So the passes may
 * leave those terms out and keep the bits, provided the other factors are finite (inf * 0 is
 * NaN):
 *   weight gradient  dW += gin * im2col(img)^T over a band's points: the points where gin is 0
 *                    in every channel leave the inner dimension (the rest kept in order);
 *   input gradient   with stride 1 a grid pass of the flipped geometry (conv_image_pass), its
 *                    image being the output gradient: each image point is computed over only
 *                    the window taps that see a nonzero point. Points with the same such taps
 *                    form a group, one gemm each, whose inner dimension keeps im2col's order;
 *                    the other points of the band form one group with every tap.
 * The columns of a group are gathered in runs of points one or two apart (the pattern of a
 * pooling's first positions), so that the copies stay simple. Used where at least a quarter
 * of the points go; conv_zero_skip(0) turns it off (the tests compare both). */

static int zero_skip_on = 1;
/* Fewer channels on either side and the gathers cost more than the products they save
 * (conv2d_backward on a frame of pooled zeros: 4 -> 4 channels at 262 x 326 23% slower
 * skipping, 8 -> 8 at 131 x 163 9% slower, 16 -> 16 at 262 x 326 24% faster). */
#define SKIP_MIN_CHANNELS 16
/* Bands done skipping, of weight and of input gradients; atomic: two lanes of lsd_step may
 * run convolutions at once. */
static long zero_skip_bands[2];
/* Input gradients whose skipping bands ran one a thread (for tests). */
static long sparse_parallel_runs;

long conv_sparse_parallel_count(void)
{
    return sparse_parallel_runs;
}

/* Turns the skipping of zero-gradient points on (1) or off (0); returns the previous state. */
int conv_zero_skip(int on)
{
    int was = zero_skip_on;
    zero_skip_on = on;
    return was;
}

/* 1 if the skipping is on and may pay for geometry g: not 1x1, enough channels each side. */
static int zero_skip_wanted(const ConvGeom *g)
{
    return zero_skip_on && !g->point && g->C >= SKIP_MIN_CHANNELS && g->CG >= SKIP_MIN_CHANNELS;
}

/* Bands that skipped zero points so far: *wgrad of weight gradients, *igrad of input ones. */
void conv_zero_skip_counts(long *wgrad, long *igrad)
{
    *wgrad = zero_skip_bands[0];
    *igrad = zero_skip_bands[1];
}

/* z[p] = 1 where x (C, HW) is 0 in every channel, else 0; returns how many are 1. Parallel
 * over blocks of points. */
static size_t zero_points(unsigned char *z, const real *x, int C, size_t HW)
{
    long long nb = (long long)((HW + 4095) / 4096), b;
    size_t n = 0, p;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)C * HW > 65536)
#endif
    for (b = 0; b < nb; b++) {
        size_t p0 = (size_t)b * 4096, p1 = p0 + 4096 < HW ? p0 + 4096 : HW, q;
        int c;
        for (q = p0; q < p1; q++) z[q] = 1;
        for (c = 0; c < C; c++) {
            const real *v = x + (size_t)c * HW;
            unsigned char any = 0; /* a point of the block still zero in channels 0..c */
            for (q = p0; q < p1; q++) {
                z[q] &= (unsigned char)(v[q] == 0);
                any |= z[q];
            }
            if (!any) break;
        }
    }
    for (p = 0; p < HW; p++) n += z[p];
    return n;
}

/* Points (r, x + j*step), j < len, of a band: r counts the band's rows, at: the first column
 * of the run in the gathered columns. */
typedef struct {
    int r, x, step, len, at;
} prun;

/* The runs of the band's points (nr rows of GW) whose sel[] is want, in row-major order, each
 * of points one or two apart in a row. Returns how many; *n: the points. */
static int point_runs(prun *run, const unsigned char *sel, int want, int nr, int GW, int *n)
{
    int k = 0, r, x, at = 0;
    for (r = 0; r < nr; r++) {
        const unsigned char *s = sel + (size_t)r * GW;
        for (x = 0; x < GW; x++) {
            prun *u = k > 0 ? &run[k - 1] : NULL;
            if (s[x] != want) continue;
            if (u && u->r == r && (u->len == 1 ? x - u->x <= 2 : x == u->x + u->len * u->step)) {
                if (u->len == 1) u->step = x - u->x;
                u->len++;
            } else {
                u = &run[k++];
                u->r = r; u->x = x; u->step = 1; u->len = 1; u->at = at;
            }
            at++;
        }
    }
    *n = at;
    return k;
}

/* col (C*nt, n) = the rows (c, taps[j]) of im2col(img) for the runs' points (grid rows r0 +
 * run.r): what each point's window sees at tap (kh, kw) = taps[j] (j itself where taps is
 * NULL), 0 outside the image. Parallel over rows. */
static void gather_cols(real *col, const real *img, const ConvGeom *g, int r0, const prun *run,
                        int nrun, int n, const int *taps, int nt)
{
    int rows = g->C * nt, q;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)rows * n > 8192)
#endif
    for (q = 0; q < rows; q++) {
        int c = q / nt, t = taps ? taps[q % nt] : q % nt, kh = t / g->KW, kw = t % g->KW, k;
        const real *plane = img + (size_t)c * g->IH * g->IW; /* (IH, IW) */
        real *d = col + (size_t)q * n;
        for (k = 0; k < nrun; k++) {
            const prun *u = &run[k];
            int ih = (r0 + u->r) * g->stride - g->pad + kh, s = u->step * g->stride;
            int i0 = u->x * g->stride - g->pad + kw, j, lo, hi;
            real *e = d + u->at;
            const real *row;
            if (ih < 0 || ih >= g->IH) {
                for (j = 0; j < u->len; j++) e[j] = 0;
                continue;
            }
            row = plane + (size_t)ih * g->IW;
            /* points j in [lo, hi) see columns i0 + j*s inside 0..IW-1 */
            lo = clampi(i0 >= 0 ? 0 : (-i0 + s - 1) / s, 0, u->len);
            hi = clampi(i0 >= g->IW ? 0 : (g->IW - 1 - i0) / s + 1, lo, u->len);
            for (j = 0; j < lo; j++) e[j] = 0;
            if (s == 1)
                memcpy(e + lo, row + i0 + lo, (size_t)(hi - lo) * sizeof(real));
            else
                for (j = lo; j < hi; j++) e[j] = row[i0 + j * s];
            for (j = hi; j < u->len; j++) e[j] = 0;
        }
    }
}

/* The grid points of g whose windows lie wholly in the padding, those of rows outside
 * [*r0, *r1) or columns outside [*c0, *c1): their columns of im2col are 0 (F's conv1_1, padded
 * by 100: 90% of its points at 64 x 128). Returns how many. */
static size_t padding_points(const ConvGeom *g, int *r0, int *r1, int *c0, int *c1)
{
    int a;
    *r0 = *c0 = 0;
    *r1 = *c1 = -1;
    for (a = 0; a < g->GH; a++) /* a window's rows a*s-p .. a*s-p+KH-1 meet 0..IH-1 */
        if (a * g->stride - g->pad + g->KH > 0 && a * g->stride - g->pad < g->IH) {
            if (*r1 < 0) *r0 = a;
            *r1 = a + 1;
        }
    for (a = 0; a < g->GW; a++)
        if (a * g->stride - g->pad + g->KW > 0 && a * g->stride - g->pad < g->IW) {
            if (*c1 < 0) *c0 = a;
            *c1 = a + 1;
        }
    if (*r1 < 0 || *c1 < 0) *r0 = *r1 = *c0 = *c1 = 0;
    return (size_t)g->GH * g->GW - (size_t)(*r1 - *r0) * (size_t)(*c1 - *c0);
}

/* z[p] = 1 (GH, GW) for the grid points padding_points counts; returns how many were 0. */
static size_t mark_padding_points(unsigned char *z, const ConvGeom *g, int r0, int r1, int c0,
                                  int c1)
{
    size_t n = 0;
    int r, x;
    for (r = 0; r < g->GH; r++)
        for (x = 0; x < g->GW; x++)
            if (r < r0 || r >= r1 || x < c0 || x >= c1) {
                unsigned char *v = z + (size_t)r * g->GW + x;
                n += !*v;
                *v = 1;
            }
    return n;
}

/* dweight (CG, C*KH*KW) += gin * im2col(img)^T over the points of grid rows r0..r0+nr-1 that
 * z (the band's) does not mark: the dense product's sums with the terms w * 0 left out, z
 * marking only points whose terms are all such (see above: gin 0 in every channel, img
 * finite; or a window wholly in the padding, gin finite). gin and img are one sample's.
 * Their columns are gathered into scratch (cap elements); work: nr*GW runs. Returns 0,
 * having done nothing, where fewer than a quarter of the points are marked or the columns
 * do not fit. */
static int sparse_weight_grad(real *dweight, const real *gin, const real *img, const ConvGeom *g,
                              int r0, int nr, const unsigned char *z, size_t cap, real *scratch,
                              prun *run)
{
    int ckk = g->C * g->KH * g->KW, P = nr * g->GW, n, nrun, o;
    size_t GHW = (size_t)g->GH * g->GW;
    real *col = scratch, *gc;
    nrun = point_runs(run, z, 0, nr, g->GW, &n);
    if ((size_t)4 * n > (size_t)3 * P || (size_t)(ckk + g->CG) * n > cap) return 0;
    gc = col + (size_t)ckk * n; /* (CG, n) */
    gather_cols(col, img, g, r0, run, nrun, n, NULL, g->KH * g->KW);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->CG * n > 8192)
#endif
    for (o = 0; o < g->CG; o++) {
        const real *src = gin + (size_t)o * GHW + (size_t)r0 * g->GW;
        real *d = gc + (size_t)o * n;
        int k, j;
        for (k = 0; k < nrun; k++) {
            const prun *u = &run[k];
            const real *s = src + (size_t)u->r * g->GW + u->x;
            for (j = 0; j < u->len; j++) d[u->at + j] = s[j * u->step];
        }
    }
#ifdef _OPENMP
#pragma omp atomic
#endif
    zero_skip_bands[0]++;
    if (n > 0) {
        gemm(0, 1, g->CG, ckk, n, 1, gc, n, col, n, 1, dweight, ckk);
    } else { /* no terms: the dense product's (real)0 + dweight */
        size_t i, m = (size_t)g->CG * ckk;
        for (i = 0; i < m; i++) dweight[i] = (real)0 + dweight[i];
    }
    return 1;
}

/* Most taps of a window for which the input gradient groups points by their taps (a mask of
 * KH*KW bits indexes a table). */
#define GROUP_TAPS_MAX 9
/* A set of taps forms its own group where at least this many points of a band have it. */
#define GROUP_MIN_POINTS 64

/* The weights of the taps of a group, wc (CG, C, nt) (im2col's order with the other taps left
 * out), for at most WC_SLOTS tap sets at once: a band's groups recur band after band. */
#define WC_SLOTS 4

/* The work of sparse_band: the weights of up to WC_SLOTS groups' taps, a group's sums, and
 * the masks, groups and runs of a band of at most pmax points. One a thread. */
typedef struct {
    real *wcs, *t;
    int *gid, *count, *taps;
    prun *run;
    unsigned short *mask;
    unsigned char *sel;
    int slot_mask[WC_SLOTS], next;
} sparse_work;

/* Bytes of a sparse_work for geometry g and bands of at most pmax points (a multiple of 64). */
static size_t sparse_work_bytes(const ConvGeom *g, size_t pmax)
{
    int KK = g->KH * g->KW;
    size_t slot = (size_t)g->CG * g->C * (KK - 3); /* an own group lacks 3 taps or more */
    size_t nreal = WC_SLOTS * slot + (size_t)g->CG * pmax;
    size_t nint = ((size_t)2 << KK) + (size_t)KK + 5 * pmax; /* gid, count, taps, runs */
    return (nreal * sizeof(real) + nint * sizeof(int) + pmax * 3 + 63) / 64 * 64;
}

/* Lays out w in mem (sparse_work_bytes(g, pmax) bytes). */
static void sparse_work_at(sparse_work *w, void *mem, const ConvGeom *g, size_t pmax)
{
    int KK = g->KH * g->KW, s;
    size_t slot = (size_t)g->CG * g->C * (KK - 3);
    w->wcs = mem;                                    /* WC_SLOTS x (CG, C, nt) */
    w->t = w->wcs + WC_SLOTS * slot;                 /* (CG, n): a group's sums */
    w->gid = (int *)(void *)(w->t + (size_t)g->CG * pmax); /* mask -> group, 0: every tap */
    w->count = w->gid + ((size_t)1 << KK);           /* points of each mask in the band */
    w->taps = w->count + ((size_t)1 << KK);
    w->run = (prun *)(void *)(w->taps + KK);
    w->mask = (unsigned short *)(void *)(w->run + pmax);
    w->sel = (unsigned char *)(w->mask + pmax);
    for (s = 0; s < WC_SLOTS; s++) w->slot_mask[s] = -1;
    w->next = 0;
}

/* Grid rows r0..r0+nr-1 of the stride-1 grid pass y (CG, GH, GW) = beta * y + weight *
 * im2col(img) of one sample, each point summed over only the taps that see a nonzero image
 * point (see sparse_grid); scratch: the band's col (C*KH*KW*nr*GW elements at most). */
static void sparse_band(real *y, real beta, const real *img, const real *weight,
                        const ConvGeom *g, const unsigned char *nz, int r0, int nr,
                        real *scratch, sparse_work *w, const wide_plan *wp)
{
    int KK = g->KH * g->KW, ckk = g->C * KK, P = nr * g->GW, i, m, id, own = 0, ngid, s;
    size_t GHW = (size_t)g->GH * g->GW, slot = (size_t)g->CG * g->C * (KK - 3);
    memset(w->mask, 0, (size_t)P * sizeof(*w->mask));
    for (m = 0; m < KK; m++) { /* the taps that see a nonzero point */
        int kh = m / g->KW, kw = m % g->KW, r, x;
        for (r = 0; r < nr; r++) {
            const unsigned char *a = nz + (size_t)(r0 + r + kh) * (g->GW + g->KW - 1) + kw;
            unsigned short *b = w->mask + (size_t)r * g->GW;
            for (x = 0; x < g->GW; x++) b[x] |= (unsigned short)(a[x] << m);
        }
    }
    memset(w->count, 0, ((size_t)1 << KK) * sizeof(int));
    for (i = 0; i < P; i++) w->count[w->mask[i]]++;
    for (m = 0, ngid = 1; m < 1 << KK; m++) { /* masks lacking 3 taps or more, if common */
        int bits = 0, b;
        for (b = 0; b < KK; b++) bits += m >> b & 1;
        w->gid[m] = 0;
        if (w->count[m] >= GROUP_MIN_POINTS && bits <= KK - 3 && ngid < 256) {
            w->gid[m] = ngid++;
            own += w->count[m];
        }
    }
    if ((size_t)4 * own < (size_t)P) { /* the dense band */
        if (wp && wide_fits(wp, g, nr, g->GW, (size_t)ckk * P)) {
            wide_rect(y, beta, img, g, wp, r0, nr, 0, g->GW, scratch);
            return;
        }
        im2col(scratch, img, g, r0, nr, 0, g->GW);
        gemm(0, 0, g->CG, P, ckk, 1, weight, ckk, scratch, P, beta, y + (size_t)r0 * g->GW,
             (int)GHW);
        return;
    }
#ifdef _OPENMP
#pragma omp atomic
#endif
    zero_skip_bands[1]++;
    for (i = 0; i < P; i++) w->sel[i] = (unsigned char)w->gid[w->mask[i]];
    for (id = 0; id < ngid; id++) {
        int n, nt = 0, kc, nrun = point_runs(w->run, w->sel, id, nr, g->GW, &n), o;
        const real *wc = weight; /* group 0: every tap */
        real *t = w->t;
        const prun *run = w->run;
        if (n == 0) continue;
        for (m = 0; id > 0 && w->gid[m] != id; m++) continue; /* the group's mask */
        for (i = 0; i < KK; i++)
            if (id == 0 || (m >> i & 1)) w->taps[nt++] = i;
        kc = g->C * nt;
        if (id > 0) { /* the group's weights, kept in a slot */
            for (s = 0; s < WC_SLOTS && w->slot_mask[s] != m; s++) continue;
            if (s == WC_SLOTS) {
                int c, j;
                real *d;
                s = w->next;
                w->next = (w->next + 1) % WC_SLOTS;
                w->slot_mask[s] = m;
                d = w->wcs + (size_t)s * slot;
                for (o = 0; o < g->CG; o++)
                    for (c = 0; c < g->C; c++)
                        for (j = 0; j < nt; j++)
                            *d++ = weight[(size_t)o * ckk + (size_t)c * KK + w->taps[j]];
            }
            wc = w->wcs + (size_t)s * slot;
        }
        gather_cols(scratch, img, g, r0, run, nrun, n, id > 0 ? w->taps : NULL, nt);
        if (kc > 0)
            gemm(0, 0, g->CG, n, kc, 1, wc, kc, scratch, n, 0, t, n);
        else /* no taps: every sum is +0 */
            memset(t, 0, (size_t)g->CG * n * sizeof(real));
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->CG * n > 8192)
#endif
        for (o = 0; o < g->CG; o++) { /* y = t (+ beta * y) at the group's points */
            int k, j;
            for (k = 0; k < nrun; k++) {
                const prun *u = &run[k];
                real *d = y + (size_t)o * GHW + (size_t)(r0 + u->r) * g->GW + u->x;
                const real *v = t + (size_t)o * n + u->at;
                if (beta == 0)
                    for (j = 0; j < u->len; j++) d[j * u->step] = v[j];
                else
                    for (j = 0; j < u->len; j++) d[j * u->step] = v[j] + beta * d[j * u->step];
            }
        }
    }
}

/* The stride-1 grid pass y (CG, GH, GW) = beta * y + weight * im2col(img) of one sample, img
 * (C, IH, IW), weight finite, each grid point summed over only the taps that see a nonzero
 * image point (see above): nz (GH+KH-1, GW+KW-1) is 1 where the image point that grid point
 * (r, x)'s tap (kh, kw) sees, at (r+kh, x+kw), is inside the image and nonzero in some
 * channel. In bands of at most cap col elements, taken from scratch; a band where fewer than
 * a quarter of the points have a group of their own runs im2col and one gemm. With several
 * threads and at least two bands a thread, each thread runs whole bands on its share of
 * scratch (gemm and the loops on one thread; as repeated_rows does); otherwise the bands go
 * in order, each split among the threads. Every point's sum is its own, whatever the band.
 * Returns 0, having done nothing, where memory is short. */
static int sparse_grid(real *y, real beta, const real *img, const real *weight, const ConvGeom *g,
                       const unsigned char *nz, size_t cap, real *scratch, const wide_plan *wp)
{
    int T = band_threads(), band = band_rows(g, cap), bt, nb, b, k;
    size_t capt = T > 1 ? cap / (size_t)T / 16 * 16 : cap, per, pmax;
    unsigned char *mem;
    bt = T > 1 ? band_rows(g, capt) : band;
    nb = (g->GH + bt - 1) / bt;
    if (T > 1 && ((size_t)bt * g->C * g->KH * g->KW * g->GW > capt || nb < 2 * T)) T = 1;
    if (T == 1) bt = band, capt = cap;
    pmax = (size_t)bt * g->GW;
    per = sparse_work_bytes(g, pmax);
    mem = malloc(per * (size_t)T);
    if (!mem) return 0;
    if (T > 1) {
#ifdef _OPENMP
#pragma omp atomic
#endif
        sparse_parallel_runs++;
#ifdef _OPENMP
#pragma omp parallel num_threads(T)
#endif
        {
            int tid = 0;
            sparse_work w;
#ifdef _OPENMP
            tid = omp_get_thread_num();
            omp_set_num_threads(1); /* gemm and the loops of this thread's bands: one thread */
#endif
            sparse_work_at(&w, mem + (size_t)tid * per, g, pmax);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (b = 0; b < nb; b++) {
                int r0 = b * bt, nr = g->GH - r0 < bt ? g->GH - r0 : bt;
                sparse_band(y, beta, img, weight, g, nz, r0, nr, scratch + (size_t)tid * capt,
                            &w, wp);
            }
        }
    } else {
        sparse_work w;
        sparse_work_at(&w, mem, g, pmax);
        for (k = 0; k < g->GH; k += bt)
            sparse_band(y, beta, img, weight, g, nz, k, g->GH - k < bt ? g->GH - k : bt,
                        scratch, &w, wp);
    }
    free(mem);
    return 1;
}

/* The grid pass of N samples, y (N, CG, GH, GW) = beta * y + weight * im2col(img), for an
 * image that is an output gradient: each sample where at least a quarter of the image points
 * are zero in every channel by sparse_grid, the others (and all, if memory is short or a
 * weight is not finite) by conv_grid_pass. */
static void grid_pass_skipping(real *y, real beta, const real *img, const real *weight,
                               const ConvGeom *g, int N, size_t budget, real *scratch)
{
    size_t IHW = (size_t)g->IH * g->IW, GHW = (size_t)g->GH * g->GW;
    int PW = g->GW + g->KW - 1, PH = g->GH + g->KH - 1, n;
    unsigned char *z = NULL, *nz;
    wide_plan wpl; /* the direct path, for the dense bands */
    const wide_plan *wp = NULL;
    int ok = zero_skip_wanted(g) && g->stride == 1 && g->KH * g->KW <= GROUP_TAPS_MAX;
    if (ok) ok = all_finite(weight, (size_t)g->CG * g->C * g->KH * g->KW);
    if (ok) ok = (z = malloc(IHW + (size_t)PH * PW)) != NULL;
    if (ok && wide_init(&wpl, weight, g)) wp = &wpl;
    nz = z ? z + IHW : NULL;
    for (n = 0; n < N; n++) {
        const real *x = img + (size_t)n * g->C * IHW;
        real *yn = y + (size_t)n * g->CG * GHW;
        if (ok && (size_t)4 * zero_points(z, x, g->C, IHW) >= IHW) {
            int a, b;
            for (a = 0; a < PH; a++) /* image row a - pad, column b - pad */
                for (b = 0; b < PW; b++) {
                    int ih = a - g->pad, iw = b - g->pad;
                    nz[(size_t)a * PW + b] = (unsigned char)(ih >= 0 && ih < g->IH && iw >= 0 &&
                                                            iw < g->IW && !z[(size_t)ih * g->IW + iw]);
                }
            if (sparse_grid(yn, beta, x, weight, g, nz, budget, scratch, wp)) continue;
        }
        conv_grid_pass(yn, beta, NULL, NULL, x, weight, g, 1, budget, scratch);
    }
    free(z);
    if (wp) free(wpl.wp);
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
    size_t cap = (size_t)ckk * band * g->GW; /* col elements of a band */
    unsigned char *zmem = NULL; /* the weight gradient alone: the points it skips, and runs */
    prun *run = NULL;
    int pr0 = 0, pr1 = 0, pc0 = 0, pc1 = 0; /* the points whose windows meet the image */
    int pad_skip = 0; /* (the weight gradient alone) */
    wide_plan wpl;    /* the direct path (the grid alone) */
    const wide_plan *wp = NULL;
    if (!gout && !dweight) return;
    if (gout && !dweight && wide_init(&wpl, weight, g)) wp = &wpl;
    if (!gout && zero_skip_on && !g->point)
        pad_skip = (size_t)4 * padding_points(g, &pr0, &pr1, &pc0, &pc1) >= GHW;
    if (!gout && (zero_skip_wanted(g) || pad_skip)) {
        zmem = malloc(GHW);
        run = malloc(sizeof(prun) * (size_t)band * g->GW);
        if (!zmem || !run) { free(zmem); free(run); zmem = NULL; run = NULL; }
    }
    for (n = 0; n < N; n++) {
        const real *x = img + (size_t)n * g->C * IHW;                 /* (C, IH, IW) */
        real *y = gout ? gout + (size_t)n * g->CG * GHW : NULL;        /* (CG, GH, GW) */
        const real *dy = dweight ? gin + (size_t)n * g->CG * GHW : NULL; /* (CG, GH, GW) */
        const unsigned char *z = NULL; /* the points of this sample skipped, if any */
        if (zmem) {
            int zero_ok = zero_skip_wanted(g) && all_finite(x, (size_t)g->C * IHW);
            int pad_ok = pad_skip && all_finite(dy, (size_t)g->CG * GHW);
            size_t nz = zero_ok ? zero_points(zmem, dy, g->CG, GHW) : 0;
            if (!zero_ok) memset(zmem, 0, GHW);
            if (pad_ok) nz += mark_padding_points(zmem, g, pr0, pr1, pc0, pc1);
            if (4 * nz >= GHW) z = zmem;
        }
        if (g->point) {
            if (y)
                gemm(0, 0, g->CG, (int)GHW, g->C, 1, weight, g->C, x, (int)IHW, beta, y, (int)GHW);
            if (dy)
                gemm(0, 1, g->CG, g->C, (int)GHW, 1, dy, (int)GHW, x, (int)IHW, 1, dweight, g->C);
            continue;
        }
        if (y && !dy && beta == 0 && repeated_rows(y, x, weight, g, band, scratch, wp)) continue;
        if (y && !dy && small_ok(g, (size_t)ckk * band * g->GW)) {
            int cgp = (g->CG + SMALL_O - 1) / SMALL_O * SMALL_O;
            if (n == 0) weight_blocks(scratch, weight, g, cgp, 1);
            small_grid(y, beta, x, scratch, g);
            continue;
        }
        for (r0 = 0; r0 < g->GH; r0 += band) {
            int nr = g->GH - r0 < band ? g->GH - r0 : band, P = nr * g->GW;
            size_t at = (size_t)r0 * g->GW; /* first grid point of the band */
            if (z && sparse_weight_grad(dweight, dy, x, g, r0, nr, z + at, cap, scratch, run))
                continue;
            if (wp && wide_fits(wp, g, nr, g->GW, cap)) {
                wide_rect(y, beta, x, g, wp, r0, nr, 0, g->GW, scratch);
                continue;
            }
            im2col(scratch, x, g, r0, nr, 0, g->GW); /* scratch: (C*KH*KW, nr*GW) */
            if (y) gemm(0, 0, g->CG, P, ckk, 1, weight, ckk, scratch, P, beta, y + at, (int)GHW);
            if (dy) gemm(0, 1, g->CG, ckk, P, 1, dy + at, (int)GHW, scratch, P, 1, dweight, ckk);
        }
    }
    free(zmem);
    free(run);
    if (wp) free(wpl.wp);
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

/* ---- channels with no gradient
 *
 * F's fc6 and fc7 are followed by channel dropout: in a training step about half of their
 * output channels get a gradient that is 0 (+0 or -0) at every point. The input gradient's
 * terms with such a channel are w * 0, which leave its sums unchanged where w is finite (see
 * "grid points with no gradient"), so the image pass leaves those channels out of its inner
 * dimension (the rest in order) once their weights are found finite. */

/* Fewest multiply-adds a sample for which the col2im and 1x1 passes leave channels out:
 * below, copying the live channels' weights costs about what it saves (fc7 at 64 x 128,
 * 256 x 256 x 15, 2x slower; at 320 x 640, 4096 x 4096 x 231, 2x faster). */
#define LIVE_MIN_MACS 4e6

/* The live channels' weights are copied a block of whole image channels at a time, at most
 * this many elements (4 MiB in float), into one buffer reused block after block. A copy of
 * them all (fc6 at 320x640: about 2048 x 25088 values, 205 MB) took fresh pages from the
 * system at every call, which it zeroes first: fc6's input gradient at 320x640, 1 thread,
 * 520-640 ms that way, 365-400 ms in blocks. */
#define LIVE_BLOCK_ELEMS ((size_t)1 << 20)

/* Image passes (col2im or 1x1) that left channels out so far (for tests); atomic. */
static long live_pass_runs;
static size_t live_block_elems = LIVE_BLOCK_ELEMS;

long conv_live_pass_count(void)
{
    return live_pass_runs;
}

size_t conv_live_block(size_t elems)
{
    size_t was = live_block_elems;
    live_block_elems = elems ? elems : LIVE_BLOCK_ELEMS;
    return was;
}

/* live[o] = 1 where channel o of grid (CG, HW) holds a value other than +-0; returns how many
 * do. Parallel over channels. */
static int live_channels(unsigned char *live, const real *grid, int CG, size_t HW)
{
    int o, n = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)CG * HW > 65536)
#endif
    for (o = 0; o < CG; o++) {
        const real *v = grid + (size_t)o * HW;
        size_t i;
        int any = 0;
        for (i = 0; i < HW; i++) any |= v[i] != 0;
        live[o] = (unsigned char)any;
    }
    for (o = 0; o < CG; o++) n += live[o];
    return n;
}

/* 1 if the rows (len values each) of w (rows, len) whose live[] is 0 are all finite. */
static int dead_rows_finite(const real *w, const unsigned char *live, int rows, size_t len)
{
    int o;
    for (o = 0; o < rows; o++)
        if (!live[o] && !all_finite(w + (size_t)o * len, len)) return 0;
    return 1;
}

/* Row at[o] of dst (one row per o with at[o] >= 0, w values each) = columns c0..c0+w-1 of
 * row o of src (rows, len). Parallel over rows. */
static void live_rows(real *dst, const real *src, int rows, size_t len, size_t c0, size_t w,
                      const int *at)
{
    int o;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)rows * w > 65536)
#endif
    for (o = 0; o < rows; o++)
        if (at[o] >= 0)
            memcpy(dst + (size_t)at[o] * w, src + (size_t)o * len + c0, w * sizeof(real));
}

/* One sample's image pass from its nl live channels alone: x (C, IH, IW) = (add ? x : 0) +
 * the terms of the channels o with live[o] = 1, each sum over them in order, as the dense
 * pass's col2im or 1x1 path makes it less terms w * 0. The live channels' grid is copied
 * once, their weights a block of whole image channels at a time (LIVE_BLOCK_ELEMS); a block's
 * gemm and fold are those of its rows of the dense pass, band by band, so every image
 * element gets its terms in the same order. at: CG ints of work. Returns 0, having done
 * nothing, where memory is short. */
static int live_image_pass(real *x, int add, const real *y, const real *weight,
                           const unsigned char *live, int nl, const ConvGeom *g, int band,
                           real *scratch, int *at)
{
    int KK = g->KH * g->KW, ckk = g->C * KK, cb, c0, r0, o, k = 0; /* 1x1: KK = 1 */
    size_t IHW = (size_t)g->IH * g->IW, GHW = (size_t)g->GH * g->GW;
    real *gy, *wb;
    cb = (int)(live_block_elems / ((size_t)nl * KK)); /* image channels a block */
    cb = cb < 1 ? 1 : cb > g->C ? g->C : cb;
    gy = malloc(sizeof(real) * ((size_t)nl * GHW + (size_t)nl * cb * KK));
    if (!gy) return 0;
    wb = gy + (size_t)nl * GHW;
#ifdef _OPENMP
#pragma omp atomic
#endif
    live_pass_runs++;
    for (o = 0; o < g->CG; o++) at[o] = live[o] ? k++ : -1; /* each live row's place */
    live_rows(gy, y, g->CG, GHW, 0, GHW, at);
    if (!g->point && !add) memset(x, 0, IHW * g->C * sizeof(real));
    for (c0 = 0; c0 < g->C; c0 += cb) {
        int cw = g->C - c0 < cb ? g->C - c0 : cb, cols = cw * KK;
        live_rows(wb, weight, g->CG, (size_t)ckk, (size_t)c0 * KK, (size_t)cols, at);
        if (g->point) { /* x rows c0.. (IHW) = wb^T (cw, nl) * gy (nl, IHW) */
            gemm(1, 0, cw, (int)IHW, nl, 1, wb, cols, gy, (int)GHW, add ? 1 : 0,
                 x + (size_t)c0 * IHW, (int)IHW);
            continue;
        }
        for (r0 = 0; r0 < g->GH; r0 += band)
            band_fold(x, wb, cols, gy, nl, g, r0, g->GH - r0 < band ? g->GH - r0 : band, c0, cw,
                      scratch);
    }
    free(gy);
    return 1;
}

/* ---- the image pass tap by tap
 *
 * With stride 1 the image pass is the flipped geometry's grid pass: image point (ih, iw) of
 * channel c sums, over k = (o, kh', kw') in order, the flipped weight times the grid padded by
 * K-1-pad. Where the grid is small beside the kernel (F's fc6: a 7x7 kernel over 3 x 5 grid
 * points), most of those terms fall on the padding and are w * 0, which leave the sum
 * unchanged when w is finite (see "grid points with no gradient"). The terms left are, in the
 * same order, over o and then over the grid points (gh, gw) in row-major order whose window
 * holds (ih, iw):
 *   img[c, ih, iw] (+)= sum of grid[o, gh, gw] * weight[o, c, ih + pad - gh, iw + pad - gw].
 * tap_image_pass forms them point by point, vectorised over blocks of TAP_CB image channels,
 * with no im2col and only the products the dense pass makes on the grid: F's fc6 at 64 x 128
 * has 15% of them (its input gradient 2.7x as fast as the flipped pass's gemm). */

/* Image channels summed at once: TAP_CB sums for each image point stay in the L1 cache. */
#define TAP_CB 32
/* The sums start on a 64-byte boundary, this many elements of scratch at most past the
 * weight copy: a vector that straddles two cache lines is slow to store and to load again. */
#define TAP_ALIGN (64 / sizeof(real))

/* Image passes run tap by tap so far (for tests); atomic: two lanes of lsd_step may run
 * convolutions at once. */
static long tap_pass_runs;

long conv_tap_pass_count(void)
{
    return tap_pass_runs;
}

/* Products on the grid of the stride-1 image pass of g, over those of the dense flipped pass
 * (IH*IW*KH*KW for each channel pair): the pairs (grid point, tap) whose image point is
 * inside, counted row and column apart. */
static double tap_share(const ConvGeom *g)
{
    double rh = 0, rw = 0;
    int a;
    for (a = 0; a < g->GH; a++) /* taps kh with 0 <= a - pad + kh < IH */
        rh += clampi(g->IH + g->pad - a, 0, g->KH) - clampi(g->pad - a, 0, g->KH);
    for (a = 0; a < g->GW; a++)
        rw += clampi(g->IW + g->pad - a, 0, g->KW) - clampi(g->pad - a, 0, g->KW);
    return rh * rw / ((double)g->IH * g->IW * g->KH * g->KW);
}

/* Channels of the image each thread sums at once for T threads (a multiple of TAP_CB). */
static int tap_chunk(const ConvGeom *g, int T)
{
    int nblk = (g->C + TAP_CB - 1) / TAP_CB;
    return (nblk + T - 1) / T * TAP_CB;
}

/* Elements of scratch tap_image_pass needs on T threads: the sums of one sample's channels
 * (in chunks), and each thread's copy of one output channel's weights, each at a 64-byte
 * boundary. */
static size_t tap_elems(const ConvGeom *g, int T)
{
    int cw = tap_chunk(g, T), nchunk = (g->C + cw - 1) / cw;
    return (size_t)nchunk * cw * g->IH * g->IW + TAP_ALIGN +
           (size_t)T * ((size_t)g->KH * g->KW * cw + TAP_ALIGN);
}

/* 1 if the flippable image pass of g runs tap by tap: at most a quarter of the dense pass's
 * products are on the grid, and one thread's work fits the scratch every caller gives
 * (conv_pass_elems, the flipped pass's). */
static int tap_wanted(const ConvGeom *g, size_t avail)
{
    return tap_share(g) <= 0.25 && tap_elems(g, 1) <= avail;
}

/* wl (KK, cw) = weight[o] (C, KK)'s channels c0..c0+cw-1, channel innermost, those past C
 * zero; returns 0 if one of them is not finite. */
static int tap_weights(real *wl, const real *weight, const ConvGeom *g, int o, int c0, int cw)
{
    int KK = g->KH * g->KW, cn = g->C - c0 < cw ? g->C - c0 : cw, c, k;
    const real *src = weight + ((size_t)o * g->C + c0) * KK; /* (cn, KK) */
    if (!all_finite(src, (size_t)cn * KK)) return 0;
    for (c = 0; c < cw; c += 8) { /* 8 channels at a time: 8 rows of src read in order */
        int m = cn - c < 8 ? (cn - c > 0 ? cn - c : 0) : 8, j;
        for (k = 0; k < KK; k++) {
            real *d = wl + (size_t)k * cw + c;
            for (j = 0; j < m; j++) d[j] = src[(size_t)(c + j) * KK + k];
            for (; j < 8 && c + j < cw; j++) d[j] = 0;
        }
    }
    return 1;
}

/* acc (IH*IW, cw) += output channel o's terms of the sums above for cw image channels of one
 * sample, wl (KH*KW, cw) their weights: point by point, over the grid points whose window
 * holds it in row-major order, each block of TAP_CB sums in registers meanwhile. */
static CONV_INLINE void tap_channel(real *restrict acc, const real *go, const real *wl,
                                   const ConvGeom *g, int cw)
{
    int ih, iw, gh, gw, b, c, p = g->pad;
    for (ih = 0; ih < g->IH; ih++) {
        /* grid rows gh = ih + p - kh, 0 <= kh < KH; columns likewise */
        int h0 = clampi(ih + p - g->KH + 1, 0, g->GH), h1 = clampi(ih + p + 1, 0, g->GH);
        for (iw = 0; iw < g->IW; iw++) {
            int w0 = clampi(iw + p - g->KW + 1, 0, g->GW), w1 = clampi(iw + p + 1, 0, g->GW);
            for (b = 0; b < cw; b += TAP_CB) {
                real *a = acc + ((size_t)ih * g->IW + iw) * cw + b, s[TAP_CB];
                LSD_CONV_UNROLL
                for (c = 0; c < TAP_CB; c++) s[c] = a[c];
                for (gh = h0; gh < h1; gh++)
                    for (gw = w0; gw < w1; gw++) {
                        real v = go[(size_t)gh * g->GW + gw]; /* tap (ih+p-gh, iw+p-gw) */
                        const real *w = wl + ((size_t)(ih + p - gh) * g->KW + iw + p - gw) * cw + b;
                        LSD_CONV_UNROLL
                        for (c = 0; c < TAP_CB; c++) s[c] += v * w[c];
                    }
                LSD_CONV_UNROLL
                for (c = 0; c < TAP_CB; c++) a[c] = s[c];
            }
        }
    }
}

/* The sums of cw image channels c0.. of one sample: acc (IH*IW, cw) from +0 over every
 * output channel, wl a thread's weight copy; returns 0 at once if a weight is not finite. */
static CONV_INLINE int tap_block(real *acc, real *wl, const real *grid, const real *weight,
                                const ConvGeom *g, const unsigned char *live, int c0, int cw)
{
    size_t GHW = (size_t)g->GH * g->GW, n = (size_t)g->IH * g->IW * cw, i;
    int o;
    for (i = 0; i < n; i++) acc[i] = 0;
    for (o = 0; o < g->CG; o++) {
        if (!live[o]) continue; /* no gradient in channel o: its terms are w * 0 */
        if (!tap_weights(wl, weight, g, o, c0, cw)) return 0;
        tap_channel(acc, grid + (size_t)o * GHW, wl, g, cw);
    }
    return 1;
}

typedef int (*tap_fn)(real *acc, real *wl, const real *grid, const real *weight,
                      const ConvGeom *g, const unsigned char *live, int c0, int cw);

/* tap_block compiled for the build's target, and in a portable x86-64 build also for AVX2
 * and AVX-512 (tensor/common.h, LSD_CPU_DISPATCH): lane by lane the same operations. */
static CONV_NOINLINE int tap_base(real *acc, real *wl, const real *grid, const real *weight,
                                 const ConvGeom *g, const unsigned char *live, int c0, int cw)
{
    return tap_block(acc, wl, grid, weight, g, live, c0, cw);
}

#ifdef LSD_CPU_DISPATCH
__attribute__((noinline, target("avx2,no-fma"))) static int
tap_avx2(real *acc, real *wl, const real *grid, const real *weight, const ConvGeom *g,
         const unsigned char *live, int c0, int cw)
{
    return tap_block(acc, wl, grid, weight, g, live, c0, cw);
}

__attribute__((noinline, target("avx512f,no-fma"))) static int
tap_avx512(real *acc, real *wl, const real *grid, const real *weight, const ConvGeom *g,
           const unsigned char *live, int c0, int cw)
{
    return tap_block(acc, wl, grid, weight, g, live, c0, cw);
}
#endif

/* The tap_block of the kernel gemm runs (LSD_GEMM_KERNEL forces both alike). */
static tap_fn pick_tap(void)
{
#ifdef LSD_CPU_DISPATCH
    const char *k = gemm_kernel_name();
    if (!strcmp(k, "avx512")) return tap_avx512;
    if (!strcmp(k, "avx2")) return tap_avx2;
#endif
    return tap_base;
}

/* scratch + a few elements, at the next 64-byte boundary. */
static real *tap_aligned(real *x)
{
    size_t k = 0;
    while (((uintptr_t)(x + k) & 63) && k < TAP_ALIGN) k++;
    return x + k;
}

/* The stride-1 image pass tap by tap (see above), for N samples:
 *   img (N, C, IH, IW) = (add ? img : 0) + the sums above,
 * the flipped grid pass's bits (gemm's alpha * acc + beta * img with alpha 1, beta 1 or 0).
 * Sample by sample, the chunks of channels shared among the threads; scratch (avail
 * elements, at least tap_elems(g, 1)): the sums, then each thread's weight copy. Returns 0,
 * having done nothing to img, where a weight is not finite. */
static int tap_image_pass(real *img, int add, const real *grid, const real *weight,
                          const ConvGeom *g, int N, size_t avail, real *scratch)
{
    size_t IHW = (size_t)g->IH * g->IW, GHW = (size_t)g->GH * g->GW;
    int T = band_threads(), cw, nchunk, j, n;
    tap_fn fn = pick_tap();
    real *sums = tap_aligned(scratch), *wls;
    unsigned char *live = malloc((size_t)g->CG);
    if (!live) return 0;
    while (T > 1 && tap_elems(g, T) > avail) T--;
    cw = tap_chunk(g, T);
    nchunk = (g->C + cw - 1) / cw;
    if (T > nchunk) T = nchunk;
    wls = sums + (size_t)nchunk * cw * IHW;
    for (n = 0; n < N; n++) {
        int bad = 0;
        /* the channels with a gradient; all where a weight of the others is not finite (each
         * weight is then checked where it is used: tap_weights) */
        live_channels(live, grid + (size_t)n * g->CG * GHW, g->CG, GHW);
        if (!dead_rows_finite(weight, live, g->CG, (size_t)g->C * g->KH * g->KW))
            memset(live, 1, (size_t)g->CG);
#ifdef _OPENMP
#pragma omp parallel for num_threads(T) schedule(static) reduction(| : bad) if (T > 1)
#endif
        for (j = 0; j < nchunk; j++) {
            int tid = 0;
            real *wl;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            wl = tap_aligned(wls + (size_t)tid * ((size_t)g->KH * g->KW * cw + TAP_ALIGN));
            bad |= !fn(sums + (size_t)j * cw * IHW, wl, grid + (size_t)n * g->CG * GHW, weight,
                       g, live, j * cw, cw);
        }
        if (bad) { /* every weight was checked at n = 0 (used or dead): only there */
            free(live);
            return 0;
        }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->C * IHW > 65536)
#endif
        for (j = 0; j < g->C; j++) { /* img[n][c] = acc (+ img) */
            const real *acc = sums + (size_t)(j / cw) * cw * IHW + j % cw;
            real *x = img + ((size_t)n * g->C + j) * IHW; /* (IH, IW) */
            size_t i;
            if (add)
                for (i = 0; i < IHW; i++) x[i] = acc[i * cw] + x[i];
            else
                for (i = 0; i < IHW; i++) x[i] = acc[i * cw];
        }
    }
    free(live);
#ifdef _OPENMP
#pragma omp atomic
#endif
    tap_pass_runs++;
    return 1;
}

/* The image direction, the adjoint of the grid pass's product, for N samples:
 *   img (N, C, IH, IW) = (add ? img : 0) + weight^T "*" grid (N, CG, GH, GW).
 * Stride 1: a grid pass of the flipped geometry (im2col of the grid, then one gemm with
 * the large inner dimension CG*K*K, no col2im). Otherwise col = weight^T * grid band,
 * folded into the image by col2im. */
void conv_image_pass(real *img, int add, const real *grid, const real *weight,
                     const ConvGeom *g, int N, real *scratch)
{
    int ckk = g->C * g->KH * g->KW, n, r0, band, diag, *at;
    unsigned char *live;
    size_t IHW = (size_t)g->IH * g->IW, GHW = (size_t)g->GH * g->GW;
    if (flippable(g)) {
        ConvGeom f = flip_geom(g);
        size_t nf = flip_elems(g);
        size_t avail = conv_pass_elems(g);
        if (tap_wanted(g, avail) && tap_image_pass(img, add, grid, weight, g, N, avail, scratch))
            return;
        flip_weight(scratch, weight, g);
        grid_pass_skipping(img, add ? 1 : 0, grid, scratch, &f, N, CONV_COL_BUDGET - nf,
                           scratch + nf);
        return;
    }
    band = band_rows(g, CONV_COL_BUDGET);
    diag = diagonal_weight(weight, g);
    /* (not where the products are few: the copies would cost more than they save) */
    at = diag || !zero_skip_on || (double)g->CG * ckk * GHW < LIVE_MIN_MACS
             ? NULL : malloc((size_t)g->CG * (sizeof(int) + 1));
    live = at ? (unsigned char *)(at + g->CG) : NULL; /* at: the live rows' places */
    for (n = 0; n < N; n++) {
        real *x = img + (size_t)n * g->C * IHW;              /* (C, IH, IW) */
        const real *y = grid + (size_t)n * g->CG * GHW;      /* (CG, GH, GW) */
        if (live) { /* channels with no gradient left out (see above) */
            int nl = live_channels(live, y, g->CG, GHW);
            if (nl > 0 && 4 * (size_t)nl <= 3 * (size_t)g->CG &&
                dead_rows_finite(weight, live, g->CG, (size_t)ckk) &&
                live_image_pass(x, add, y, weight, live, nl, g, band, scratch, at))
                continue;
        }
        if (g->point) {
            gemm(1, 0, g->C, (int)IHW, g->CG, 1, weight, g->C, y, (int)GHW, add ? 1 : 0, x,
                 (int)IHW);
            continue;
        }
        if (!add) memset(x, 0, IHW * g->C * sizeof(real));
        for (r0 = 0; r0 < g->GH; r0 += band) {
            int nr = g->GH - r0 < band ? g->GH - r0 : band;
            if (diag && band_finite(y, g, r0, nr))
                diagonal_fold(x, y, weight, g, r0, nr); /* the same values, without the gemm */
            else
                band_fold(x, weight, ckk, y, g->CG, g, r0, nr, 0, g->C, scratch);
        }
    }
    free(at);
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

/* y (N, OC, HW) += bias[oc], then with relu y = max(y, 0) (relu_forward's select: NaN -> 0),
 * in one pass. Parallel over channels. */
static void bias_pass(real *y, const real *bias, int N, int OC, size_t HW, int relu)
{
    int o;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * OC * HW > 65536)
#endif
    for (o = 0; o < N * OC; o++) {
        real *row = y + (size_t)o * HW, b = bias[o % OC];
        size_t i;
        if (!relu)
            for (i = 0; i < HW; i++) row[i] += b;
        else
            for (i = 0; i < HW; i++) {
                real v = row[i] + b;
                row[i] = v > 0 ? v : 0;
            }
    }
}

/* y (N, OC, HW) += bias[oc] for every sample and position. */
void conv_add_bias(real *y, const real *bias, int N, int OC, size_t HW)
{
    bias_pass(y, bias, N, OC, HW, 0);
}

/* y (N, OC, HW) = max(y + bias[oc], 0): conv_add_bias and relu_forward in one pass. */
void conv_add_bias_relu(real *y, const real *bias, int N, int OC, size_t HW)
{
    bias_pass(y, bias, N, OC, HW, 1);
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
