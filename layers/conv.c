/*
 * conv.c - conv2d and conv_transpose2d with PyTorch semantics.
 *
 * Both kinds share one geometry: a convolution reads an "image" (C, IH, IW)
 * through a KH x KW window with stride and padding and produces values on a
 * "grid" (GH, GW). conv2d's image is its input and its grid is its output;
 * a transposed convolution is the data-gradient of a convolution, so its
 * image is its *output* and its grid is its *input*.
 *
 * im2col unfolds the image into col (C*KH*KW, rows*GW), one column per grid
 * point of a band of grid rows; col2im folds such a buffer back, adding into
 * the image. With these and gemm:
 *   conv2d forward    out_band  = W (OC, C*KK) * col
 *   conv2d backward   dW       += dout_band * col^T
 *                     col       = W^T * dout_band; din += col2im(col)
 *   convt forward     col       = W^T (OC*KK, C) * in_band; out += col2im(col)
 *   convt backward    col       = im2col(dout); din_band += W * col; dW += in_band * col^T
 * The grid is processed in bands of rows so that col stays below
 * CONV_COL_BUDGET elements (conv_work_size). Bands are visited in a fixed
 * order and every parallel loop writes disjoint elements, so the results do
 * not depend on the thread count. 1x1 convolutions with stride 1 and no
 * padding need no unfolding and call gemm on the tensors directly.
 */
#include <math.h>
#include <string.h>

#include "conv.h"
#include "../tensor/gemm.h"

/* Largest im2col buffer, in elements (16 MiB in float, 32 MiB in double). */
#define CONV_COL_BUDGET ((size_t)1 << 22)

/* The shared geometry: image (C, IH, IW), window KH x KW, grid (GH, GW). */
typedef struct {
    int C, IH, IW;
    int KH, KW, stride, pad;
    int GH, GW;
} Geom;

/* floor(a / b) for b > 0 and any sign of a. */
static int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Clamps v to [lo, hi]. */
static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Grid columns [*lo, *hi) whose window column kw lands inside the image:
 * 0 <= g*stride - pad + kw < IW. */
static void valid_cols(const Geom *g, int kw, int *lo, int *hi)
{
    *lo = clampi(-floor_div(kw - g->pad, g->stride), 0, g->GW);
    *hi = clampi(floor_div(g->IW - 1 + g->pad - kw, g->stride) + 1, *lo, g->GW);
}

/* col (C*KH*KW, nr*GW) = the image values seen by grid rows r0..r0+nr-1 (0 outside). */
static void im2col(real *col, const real *img, const Geom *g, int r0, int nr)
{
    int KK = g->KH * g->KW, rows = g->C * KK, q;
    size_t P = (size_t)nr * g->GW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * P > 32768)
#endif
    for (q = 0; q < rows; q++) {
        int c = q / KK, kh = (q % KK) / g->KW, kw = q % g->KW, lo, hi, r, x;
        const real *plane = img + (size_t)c * g->IH * g->IW; /* (IH, IW) */
        real *dst = col + (size_t)q * P;                      /* (nr, GW) */
        valid_cols(g, kw, &lo, &hi);
        for (r = 0; r < nr; r++) {
            int ih = (r0 + r) * g->stride - g->pad + kh;
            real *d = dst + (size_t)r * g->GW;
            const real *s;
            if (ih < 0 || ih >= g->IH) {
                for (x = 0; x < g->GW; x++) d[x] = 0;
                continue;
            }
            s = plane + (size_t)ih * g->IW - g->pad + kw;
            for (x = 0; x < lo; x++) d[x] = 0;
            if (g->stride == 1)
                memcpy(d + lo, s + lo, (size_t)(hi - lo) * sizeof(real));
            else
                for (x = lo; x < hi; x++) d[x] = s[x * g->stride];
            for (x = hi; x < g->GW; x++) d[x] = 0;
        }
    }
}

/* img += the fold of col (C*KH*KW, nr*GW) for grid rows r0..r0+nr-1; each image element
 * receives its terms in the fixed order (kh, kw, row, column). Parallel over channels. */
static void col2im(real *img, const real *col, const Geom *g, int r0, int nr)
{
    int KK = g->KH * g->KW, c;
    size_t P = (size_t)nr * g->GW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)g->C * KK * P > 32768)
#endif
    for (c = 0; c < g->C; c++) {
        real *plane = img + (size_t)c * g->IH * g->IW; /* (IH, IW) */
        int kh, kw, lo, hi, r, x;
        for (kh = 0; kh < g->KH; kh++)
            for (kw = 0; kw < g->KW; kw++) {
                const real *src = col + ((size_t)c * KK + (size_t)kh * g->KW + kw) * P;
                valid_cols(g, kw, &lo, &hi);
                for (r = 0; r < nr; r++) {
                    int ih = (r0 + r) * g->stride - g->pad + kh;
                    const real *s = src + (size_t)r * g->GW;
                    real *d;
                    if (ih < 0 || ih >= g->IH) continue;
                    d = plane + (size_t)ih * g->IW - g->pad + kw;
                    if (g->stride == 1)
                        for (x = lo; x < hi; x++) d[x] += s[x];
                    else
                        for (x = lo; x < hi; x++) d[x * g->stride] += s[x];
                }
            }
    }
}

/* The geometry of conv2d (image = input, grid = output). */
static Geom conv_geom(const ConvShape *s)
{
    Geom g;
    g.C = s->C; g.IH = s->H; g.IW = s->W;
    g.KH = s->KH; g.KW = s->KW; g.stride = s->stride; g.pad = s->pad;
    g.GH = s->OH; g.GW = s->OW;
    return g;
}

/* The geometry of a transposed convolution (image = output, grid = input). */
static Geom convt_geom(const ConvShape *s)
{
    Geom g;
    g.C = s->OC; g.IH = s->OH; g.IW = s->OW;
    g.KH = s->KH; g.KW = s->KW; g.stride = s->stride; g.pad = s->pad;
    g.GH = s->H; g.GW = s->W;
    return g;
}

/* Grid rows per band: as many as fit CONV_COL_BUDGET, at least 1, at most GH. */
static int band_rows(const Geom *g)
{
    size_t per_row = (size_t)g->C * g->KH * g->KW * (size_t)(g->GW > 0 ? g->GW : 1);
    size_t r = CONV_COL_BUDGET / (per_row > 0 ? per_row : 1);
    if (r < 1) r = 1;
    if (r > (size_t)g->GH) r = (size_t)(g->GH > 0 ? g->GH : 1);
    return (int)r;
}

/* 1 if the layer is a 1x1 convolution with stride 1 and no padding (no unfolding needed). */
static int pointwise(const ConvShape *s)
{
    return s->KH == 1 && s->KW == 1 && s->stride == 1 && s->pad == 0 && s->outpad == 0;
}

ConvShape conv2d_shape(int N, int C, int H, int W, int OC, int K, int stride, int pad)
{
    ConvShape s;
    s.N = N; s.C = C; s.H = H; s.W = W; s.OC = OC; s.KH = K; s.KW = K;
    s.stride = stride; s.pad = pad; s.outpad = 0;
    s.OH = (stride < 1 || H + 2 * pad < K) ? 0 : (H + 2 * pad - K) / stride + 1;
    s.OW = (stride < 1 || W + 2 * pad < K) ? 0 : (W + 2 * pad - K) / stride + 1;
    return s;
}

ConvShape convt_shape(int N, int C, int H, int W, int OC, int K, int stride, int pad, int outpad)
{
    ConvShape s;
    s.N = N; s.C = C; s.H = H; s.W = W; s.OC = OC; s.KH = K; s.KW = K;
    s.stride = stride; s.pad = pad; s.outpad = outpad;
    s.OH = (H - 1) * stride - 2 * pad + K + outpad;
    s.OW = (W - 1) * stride - 2 * pad + K + outpad;
    return s;
}

/* col elements of one band of geometry g. */
static size_t band_elems(const Geom *g)
{
    return (size_t)g->C * g->KH * g->KW * (size_t)band_rows(g) * (size_t)(g->GW > 0 ? g->GW : 1);
}

/* The larger band of the kinds the shape is consistent with: a shape from conv2d_shape has
 * OH = (H + 2p - KH)/s + 1, one from convt_shape OH = (H-1)*s - 2p + KH + outpad (a shape
 * may satisfy both, e.g. 3x3 stride 1 padding 1). */
size_t conv_work_size(const ConvShape *s)
{
    Geom gc = conv_geom(s), gt = convt_geom(s);
    ConvShape c, t;
    size_t a = 0, b = 0;
    if (pointwise(s)) return 1;
    c = conv2d_shape(s->N, s->C, s->H, s->W, s->OC, s->KH, s->stride, s->pad);
    t = convt_shape(s->N, s->C, s->H, s->W, s->OC, s->KH, s->stride, s->pad, s->outpad);
    if (s->KH != s->KW || (c.OH == s->OH && c.OW == s->OW && s->outpad == 0)) a = band_elems(&gc);
    if (s->KH != s->KW || (t.OH == s->OH && t.OW == s->OW)) b = band_elems(&gt);
    if (a == 0 && b == 0) { a = band_elems(&gc); b = band_elems(&gt); } /* set by hand */
    a = a > b ? a : b;
    return a > 0 ? a : 1;
}

/* y (OC, HW) += bias[oc] for every position. */
static void add_bias(real *y, const real *bias, int OC, size_t HW)
{
    int o;
    size_t i;
    for (o = 0; o < OC; o++) {
        real *row = y + (size_t)o * HW, b = bias[o];
        for (i = 0; i < HW; i++) row[i] += b;
    }
}

/* dbias[oc] += sum of dout (N, OC, HW) over N and HW, summed in double in a fixed order. */
static void bias_grad(real *dbias, const real *dout, int N, int OC, size_t HW)
{
    int o;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)N * OC * HW > 65536)
#endif
    for (o = 0; o < OC; o++) {
        double acc = 0;
        int n;
        size_t i;
        for (n = 0; n < N; n++) {
            const real *row = dout + ((size_t)n * OC + o) * HW;
            for (i = 0; i < HW; i++) acc += row[i];
        }
        dbias[o] += (real)acc;
    }
}

/* out (N,OC,OH,OW) = sum over c,kh,kw of weight[oc,c,kh,kw] * in[c, oh*s-p+kh, ow*s-p+kw]
 * + bias[oc], via im2col + gemm band by band. */
void conv2d_forward(real *out, const real *in, const real *weight, const real *bias,
                    const ConvShape *s, real *work)
{
    Geom g = conv_geom(s);
    int ckk = s->C * s->KH * s->KW, band = band_rows(&g), n, r0;
    size_t HW = (size_t)s->H * s->W, OHW = (size_t)s->OH * s->OW;
    if (s->OH <= 0 || s->OW <= 0) return;
    for (n = 0; n < s->N; n++) {
        const real *x = in + (size_t)n * s->C * HW; /* (C, H, W) */
        real *y = out + (size_t)n * s->OC * OHW;    /* (OC, OH, OW) */
        if (pointwise(s)) {
            gemm(0, 0, s->OC, (int)OHW, s->C, 1, weight, s->C, x, (int)OHW, 0, y, (int)OHW);
        } else {
            for (r0 = 0; r0 < s->OH; r0 += band) {
                int nr = s->OH - r0 < band ? s->OH - r0 : band, P = nr * s->OW;
                im2col(work, x, &g, r0, nr); /* work: (C*KH*KW, nr*OW) */
                gemm(0, 0, s->OC, P, ckk, 1, weight, ckk, work, P, 0, y + (size_t)r0 * s->OW,
                     (int)OHW);
            }
        }
        if (bias) add_bias(y, bias, s->OC, OHW);
    }
}

/* din += dL/din = sum over oc,kh,kw of weight[oc,c,kh,kw] * dout[oc,oh,ow] where
 * ih = oh*s-p+kh, iw = ow*s-p+kw; dweight[oc,c,kh,kw] += sum over n,oh,ow of
 * dout[n,oc,oh,ow] * in[n,c,ih,iw]; dbias[oc] += sum over n,oh,ow of dout. */
void conv2d_backward(real *din, real *dweight, real *dbias, const real *dout, const real *in,
                     const real *weight, const ConvShape *s, real *work)
{
    Geom g = conv_geom(s);
    int ckk = s->C * s->KH * s->KW, band = band_rows(&g), n, r0;
    size_t HW = (size_t)s->H * s->W, OHW = (size_t)s->OH * s->OW;
    if (s->OH <= 0 || s->OW <= 0) return;
    for (n = 0; n < s->N; n++) {
        const real *x = in + (size_t)n * s->C * HW;       /* (C, H, W) */
        const real *dy = dout + (size_t)n * s->OC * OHW;  /* (OC, OH, OW) */
        real *dx = din ? din + (size_t)n * s->C * HW : NULL;
        if (pointwise(s)) {
            if (dweight)
                gemm(0, 1, s->OC, s->C, (int)OHW, 1, dy, (int)OHW, x, (int)HW, 1, dweight, s->C);
            if (dx)
                gemm(1, 0, s->C, (int)HW, s->OC, 1, weight, s->C, dy, (int)OHW, 1, dx, (int)HW);
            continue;
        }
        for (r0 = 0; r0 < s->OH; r0 += band) {
            int nr = s->OH - r0 < band ? s->OH - r0 : band, P = nr * s->OW;
            const real *dyb = dy + (size_t)r0 * s->OW; /* (OC, nr*OW), row stride OHW */
            if (dweight) {
                im2col(work, x, &g, r0, nr); /* work: (C*KH*KW, nr*OW) */
                gemm(0, 1, s->OC, ckk, P, 1, dyb, (int)OHW, work, P, 1, dweight, ckk);
            }
            if (dx) {
                gemm(1, 0, ckk, P, s->OC, 1, weight, ckk, dyb, (int)OHW, 0, work, P);
                col2im(dx, work, &g, r0, nr);
            }
        }
    }
    if (dbias) bias_grad(dbias, dout, s->N, s->OC, OHW);
}

/* out (N,OC,OH,OW): out[oc, ih*s-p+kh, iw*s-p+kw] gets in[c,ih,iw] * weight[c,oc,kh,kw]
 * summed over c,ih,iw,kh,kw, plus bias[oc]; via gemm + col2im band by band. */
void convt_forward(real *out, const real *in, const real *weight, const real *bias,
                   const ConvShape *s, real *work)
{
    Geom g = convt_geom(s);
    int okk = s->OC * s->KH * s->KW, band = band_rows(&g), n, r0;
    size_t HW = (size_t)s->H * s->W, OHW = (size_t)s->OH * s->OW;
    if (s->OH <= 0 || s->OW <= 0) return;
    for (n = 0; n < s->N; n++) {
        const real *x = in + (size_t)n * s->C * HW; /* (C, H, W) */
        real *y = out + (size_t)n * s->OC * OHW;    /* (OC, OH, OW) */
        if (pointwise(s)) {
            gemm(1, 0, s->OC, (int)HW, s->C, 1, weight, s->OC, x, (int)HW, 0, y, (int)HW);
        } else {
            memset(y, 0, OHW * s->OC * sizeof(real));
            for (r0 = 0; r0 < s->H; r0 += band) {
                int nr = s->H - r0 < band ? s->H - r0 : band, P = nr * s->W;
                /* work (OC*KH*KW, nr*W) = weight^T * in rows r0..r0+nr-1 */
                gemm(1, 0, okk, P, s->C, 1, weight, okk, x + (size_t)r0 * s->W, (int)HW, 0,
                     work, P);
                col2im(y, work, &g, r0, nr);
            }
        }
        if (bias) add_bias(y, bias, s->OC, OHW);
    }
}

/* din[c,ih,iw] += sum over oc,kh,kw of weight[c,oc,kh,kw] * dout[oc, ih*s-p+kh, iw*s-p+kw]
 * (a convolution of dout); dweight[c,oc,kh,kw] += sum over n,ih,iw of in[n,c,ih,iw] *
 * dout[n,oc,ih*s-p+kh,iw*s-p+kw]; dbias[oc] += sum of dout over n,oh,ow. */
void convt_backward(real *din, real *dweight, real *dbias, const real *dout, const real *in,
                    const real *weight, const ConvShape *s, real *work)
{
    Geom g = convt_geom(s);
    int okk = s->OC * s->KH * s->KW, band = band_rows(&g), n, r0;
    size_t HW = (size_t)s->H * s->W, OHW = (size_t)s->OH * s->OW;
    if (s->OH <= 0 || s->OW <= 0) return;
    for (n = 0; n < s->N; n++) {
        const real *x = in + (size_t)n * s->C * HW;      /* (C, H, W) */
        const real *dy = dout + (size_t)n * s->OC * OHW; /* (OC, OH, OW) */
        real *dx = din ? din + (size_t)n * s->C * HW : NULL;
        if (pointwise(s)) {
            if (dx)
                gemm(0, 0, s->C, (int)HW, s->OC, 1, weight, s->OC, dy, (int)HW, 1, dx, (int)HW);
            if (dweight)
                gemm(0, 1, s->C, s->OC, (int)HW, 1, x, (int)HW, dy, (int)HW, 1, dweight, s->OC);
            continue;
        }
        if (!dx && !dweight) continue;
        for (r0 = 0; r0 < s->H; r0 += band) {
            int nr = s->H - r0 < band ? s->H - r0 : band, P = nr * s->W;
            im2col(work, dy, &g, r0, nr); /* work: (OC*KH*KW, nr*W) */
            if (dx)
                gemm(0, 0, s->C, P, okk, 1, weight, okk, work, P, 1, dx + (size_t)r0 * s->W,
                     (int)HW);
            if (dweight)
                gemm(0, 1, s->C, okk, P, 1, x + (size_t)r0 * s->W, (int)HW, work, P, 1, dweight,
                     okk);
        }
    }
    if (dbias) bias_grad(dbias, dout, s->N, s->OC, OHW);
}

/* ---- direct references: every output element is a sum gathered in double. */

/* out[n,oc,oh,ow] = bias[oc] + sum over c,kh,kw of weight[oc,c,kh,kw] * in[n,c,ih,iw]
 * with ih = oh*s-p+kh, iw = ow*s-p+kw inside the input. */
void conv2d_forward_direct(real *out, const real *in, const real *weight, const real *bias,
                           const ConvShape *s)
{
    int n, o, oh, ow, c, kh, kw;
    for (n = 0; n < s->N; n++)
        for (o = 0; o < s->OC; o++)
            for (oh = 0; oh < s->OH; oh++)
                for (ow = 0; ow < s->OW; ow++) {
                    double acc = 0;
                    for (c = 0; c < s->C; c++)
                        for (kh = 0; kh < s->KH; kh++)
                            for (kw = 0; kw < s->KW; kw++) {
                                int ih = oh * s->stride - s->pad + kh;
                                int iw = ow * s->stride - s->pad + kw;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)weight[((size_t)(o * s->C + c) * s->KH + kh) * s->KW + kw] *
                                       in[((size_t)(n * s->C + c) * s->H + ih) * s->W + iw];
                            }
                    if (bias) acc += bias[o];
                    out[((size_t)(n * s->OC + o) * s->OH + oh) * s->OW + ow] = (real)acc;
                }
}

/* din[n,c,ih,iw] += sum over oc,kh,kw with (ih+p-kh)/s = oh, (iw+p-kw)/s = ow exact and in
 * range of dout[n,oc,oh,ow] * weight[oc,c,kh,kw]; dweight and dbias as in conv2d_backward. */
void conv2d_backward_direct(real *din, real *dweight, real *dbias, const real *dout,
                            const real *in, const real *weight, const ConvShape *s)
{
    int n, o, c, h, w, kh, kw, oh, ow;
    if (din)
        for (n = 0; n < s->N; n++)
            for (c = 0; c < s->C; c++)
                for (h = 0; h < s->H; h++)
                    for (w = 0; w < s->W; w++) {
                        double acc = 0;
                        for (o = 0; o < s->OC; o++)
                            for (kh = 0; kh < s->KH; kh++)
                                for (kw = 0; kw < s->KW; kw++) {
                                    int th = h + s->pad - kh, tw = w + s->pad - kw;
                                    if (th < 0 || tw < 0 || th % s->stride || tw % s->stride)
                                        continue;
                                    oh = th / s->stride;
                                    ow = tw / s->stride;
                                    if (oh >= s->OH || ow >= s->OW) continue;
                                    acc += (double)dout[((size_t)(n * s->OC + o) * s->OH + oh) * s->OW + ow] *
                                           weight[((size_t)(o * s->C + c) * s->KH + kh) * s->KW + kw];
                                }
                        din[((size_t)(n * s->C + c) * s->H + h) * s->W + w] += (real)acc;
                    }
    if (dweight)
        for (o = 0; o < s->OC; o++)
            for (c = 0; c < s->C; c++)
                for (kh = 0; kh < s->KH; kh++)
                    for (kw = 0; kw < s->KW; kw++) {
                        double acc = 0;
                        for (n = 0; n < s->N; n++)
                            for (oh = 0; oh < s->OH; oh++)
                                for (ow = 0; ow < s->OW; ow++) {
                                    int ih = oh * s->stride - s->pad + kh;
                                    int iw = ow * s->stride - s->pad + kw;
                                    if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                    acc += (double)dout[((size_t)(n * s->OC + o) * s->OH + oh) * s->OW + ow] *
                                           in[((size_t)(n * s->C + c) * s->H + ih) * s->W + iw];
                                }
                        dweight[((size_t)(o * s->C + c) * s->KH + kh) * s->KW + kw] += (real)acc;
                    }
    if (dbias)
        for (o = 0; o < s->OC; o++) {
            double acc = 0;
            for (n = 0; n < s->N; n++)
                for (oh = 0; oh < s->OH * s->OW; oh++)
                    acc += dout[((size_t)n * s->OC + o) * s->OH * s->OW + oh];
            dbias[o] += (real)acc;
        }
}

/* out[n,oc,oh,ow] = bias[oc] + sum over c,kh,kw with (oh+p-kh)/s = ih, (ow+p-kw)/s = iw exact
 * and in range of in[n,c,ih,iw] * weight[c,oc,kh,kw]. */
void convt_forward_direct(real *out, const real *in, const real *weight, const real *bias,
                          const ConvShape *s)
{
    int n, o, oh, ow, c, kh, kw;
    for (n = 0; n < s->N; n++)
        for (o = 0; o < s->OC; o++)
            for (oh = 0; oh < s->OH; oh++)
                for (ow = 0; ow < s->OW; ow++) {
                    double acc = 0;
                    for (c = 0; c < s->C; c++)
                        for (kh = 0; kh < s->KH; kh++)
                            for (kw = 0; kw < s->KW; kw++) {
                                int th = oh + s->pad - kh, tw = ow + s->pad - kw, ih, iw;
                                if (th < 0 || tw < 0 || th % s->stride || tw % s->stride)
                                    continue;
                                ih = th / s->stride;
                                iw = tw / s->stride;
                                if (ih >= s->H || iw >= s->W) continue;
                                acc += (double)in[((size_t)(n * s->C + c) * s->H + ih) * s->W + iw] *
                                       weight[((size_t)(c * s->OC + o) * s->KH + kh) * s->KW + kw];
                            }
                    if (bias) acc += bias[o];
                    out[((size_t)(n * s->OC + o) * s->OH + oh) * s->OW + ow] = (real)acc;
                }
}

/* din[n,c,ih,iw] += sum over oc,kh,kw of weight[c,oc,kh,kw] * dout[n,oc,ih*s-p+kh,iw*s-p+kw];
 * dweight[c,oc,kh,kw] += sum over n,ih,iw of in[n,c,ih,iw] * dout[n,oc,ih*s-p+kh,iw*s-p+kw];
 * dbias[oc] += sum of dout. */
void convt_backward_direct(real *din, real *dweight, real *dbias, const real *dout,
                           const real *in, const real *weight, const ConvShape *s)
{
    int n, o, c, h, w, kh, kw, oh, ow;
    if (din)
        for (n = 0; n < s->N; n++)
            for (c = 0; c < s->C; c++)
                for (h = 0; h < s->H; h++)
                    for (w = 0; w < s->W; w++) {
                        double acc = 0;
                        for (o = 0; o < s->OC; o++)
                            for (kh = 0; kh < s->KH; kh++)
                                for (kw = 0; kw < s->KW; kw++) {
                                    oh = h * s->stride - s->pad + kh;
                                    ow = w * s->stride - s->pad + kw;
                                    if (oh < 0 || oh >= s->OH || ow < 0 || ow >= s->OW) continue;
                                    acc += (double)dout[((size_t)(n * s->OC + o) * s->OH + oh) * s->OW + ow] *
                                           weight[((size_t)(c * s->OC + o) * s->KH + kh) * s->KW + kw];
                                }
                        din[((size_t)(n * s->C + c) * s->H + h) * s->W + w] += (real)acc;
                    }
    if (dweight)
        for (c = 0; c < s->C; c++)
            for (o = 0; o < s->OC; o++)
                for (kh = 0; kh < s->KH; kh++)
                    for (kw = 0; kw < s->KW; kw++) {
                        double acc = 0;
                        for (n = 0; n < s->N; n++)
                            for (h = 0; h < s->H; h++)
                                for (w = 0; w < s->W; w++) {
                                    oh = h * s->stride - s->pad + kh;
                                    ow = w * s->stride - s->pad + kw;
                                    if (oh < 0 || oh >= s->OH || ow < 0 || ow >= s->OW) continue;
                                    acc += (double)in[((size_t)(n * s->C + c) * s->H + h) * s->W + w] *
                                           dout[((size_t)(n * s->OC + o) * s->OH + oh) * s->OW + ow];
                                }
                        dweight[((size_t)(c * s->OC + o) * s->KH + kh) * s->KW + kw] += (real)acc;
                    }
    if (dbias)
        for (o = 0; o < s->OC; o++) {
            double acc = 0;
            for (n = 0; n < s->N; n++)
                for (oh = 0; oh < s->OH * s->OW; oh++)
                    acc += dout[((size_t)n * s->OC + o) * s->OH * s->OW + oh];
            dbias[o] += (real)acc;
        }
}

/* weight (C, C, K, K): weight[i][i] = (1 - |y - c|/f) * (1 - |x - c|/f), f = (K+1)/2,
 * c = f - 1 (K odd) or f - 0.5 (K even), computed in double as FCN's numpy code does. */
void bilinear_init(real *weight, int C, int K)
{
    int f = (K + 1) / 2, i, y, x;
    double center = (K % 2 == 1) ? f - 1.0 : f - 0.5;
    memset(weight, 0, (size_t)C * C * K * K * sizeof(real));
    for (i = 0; i < C; i++) {
        real *w = weight + ((size_t)i * C + i) * K * K; /* (K, K) */
        for (y = 0; y < K; y++)
            for (x = 0; x < K; x++)
                w[y * K + x] = (real)((1.0 - fabs(y - center) / f) * (1.0 - fabs(x - center) / f));
    }
}
