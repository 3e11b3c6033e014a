/*
 * conv.c - conv2d and conv_transpose2d with PyTorch semantics (see conv.h).
 *
 * Both kinds share one geometry (layers/conv_geom.h): an "image" read through the window
 * and a "grid" of output points. conv2d's image is its input and its grid its output; a
 * transposed convolution, the data-gradient of a convolution, has them the other way
 * round. Every function here is one or two of two passes (layers/conv_kernels.c):
 *   grid pass   grid = W * im2col(image) (+ grid);  dW += grid * im2col(image)^T
 *   image pass  image (+)= col2im(W^T * grid)
 * run in bands of grid rows within CONV_COL_BUDGET elements of scratch, in a fixed order, so
 * that the results do not depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "activation.h"
#include "conv_kernels.h"
#include "../tensor/gemm.h"

/* Shape of conv2d: OH = (H + 2*pad - K)/stride + 1, 0 where the input is too small. */
ConvShape conv2d_shape(int N, int C, int H, int W, int OC, int K, int stride, int pad)
{
    ConvShape s;
    s.N = N; s.C = C; s.H = H; s.W = W; s.OC = OC; s.KH = K; s.KW = K;
    s.stride = stride; s.pad = pad; s.outpad = 0;
    s.OH = (stride < 1 || H + 2 * pad < K) ? 0 : (H + 2 * pad - K) / stride + 1;
    s.OW = (stride < 1 || W + 2 * pad < K) ? 0 : (W + 2 * pad - K) / stride + 1;
    return s;
}

/* Shape of conv_transpose2d: OH = (H-1)*stride - 2*pad + K + outpad. */
ConvShape convt_shape(int N, int C, int H, int W, int OC, int K, int stride, int pad, int outpad)
{
    ConvShape s;
    s.N = N; s.C = C; s.H = H; s.W = W; s.OC = OC; s.KH = K; s.KW = K;
    s.stride = stride; s.pad = pad; s.outpad = outpad;
    s.OH = (H - 1) * stride - 2 * pad + K + outpad;
    s.OW = (W - 1) * stride - 2 * pad + K + outpad;
    return s;
}

/* The larger scratch of the kinds the shape is consistent with: a shape from conv2d_shape has
 * OH = (H + 2p - KH)/s + 1, one from convt_shape OH = (H-1)*s - 2p + KH + outpad (a shape
 * may satisfy both, e.g. 3x3 stride 1 padding 1). */
size_t conv_work_size(const ConvShape *s)
{
    ConvGeom gc = conv_geom(s), gt = convt_geom(s);
    ConvShape c, t;
    size_t a = 0, b = 0;
    if (conv_pointwise(s)) return 1;
    c = conv2d_shape(s->N, s->C, s->H, s->W, s->OC, s->KH, s->stride, s->pad);
    t = convt_shape(s->N, s->C, s->H, s->W, s->OC, s->KH, s->stride, s->pad, s->outpad);
    if (s->KH != s->KW || (c.OH == s->OH && c.OW == s->OW && s->outpad == 0))
        a = conv_pass_elems(&gc);
    if (s->KH != s->KW || (t.OH == s->OH && t.OW == s->OW)) b = conv_pass_elems(&gt);
    if (a == 0 && b == 0) { /* set by hand */
        a = conv_pass_elems(&gc);
        b = conv_pass_elems(&gt);
    }
    a = a > b ? a : b;
    return a > 0 ? a : 1;
}

/* out (N,OC,OH,OW) = sum over c,kh,kw of weight[oc,c,kh,kw] * in[c, oh*s-p+kh, ow*s-p+kw]
 * + bias[oc]: the grid pass (image = in, grid = out). */
void conv2d_forward(real *out, const real *in, const real *weight, const real *bias,
                    const ConvShape *s, real *scratch)
{
    ConvGeom g = conv_geom(s);
    if (s->OH <= 0 || s->OW <= 0) return; /* nothing to compute */
    conv_grid_pass(out, 0, NULL, NULL, in, weight, &g, s->N, CONV_COL_BUDGET, scratch);
    if (bias) conv_add_bias(out, bias, s->N, s->OC, (size_t)s->OH * s->OW);
}

/* out = max(conv2d_forward's out, 0), relu_forward's values: the bias and the relu in one
 * pass over out (F's layers, whose outputs are large and read once more otherwise). */
void conv2d_forward_relu(real *out, const real *in, const real *weight, const real *bias,
                         const ConvShape *s, real *scratch)
{
    ConvGeom g = conv_geom(s);
    if (s->OH <= 0 || s->OW <= 0) return; /* nothing to compute */
    conv_grid_pass(out, 0, NULL, NULL, in, weight, &g, s->N, CONV_COL_BUDGET, scratch);
    if (bias)
        conv_add_bias_relu(out, bias, s->N, s->OC, (size_t)s->OH * s->OW);
    else
        relu_forward(out, out, (size_t)s->N * s->OC * s->OH * s->OW);
}

/* din += dL/din = sum over oc,kh,kw of weight[oc,c,kh,kw] * dout[oc,oh,ow] where
 * ih = oh*s-p+kh, iw = ow*s-p+kw; dweight[oc,c,kh,kw] += sum over n,oh,ow of
 * dout[n,oc,oh,ow] * in[n,c,ih,iw]; dbias[oc] += sum over n,oh,ow of dout.
 * dweight by the grid pass, din by the image pass. */
void conv2d_backward(real *din, real *dweight, real *dbias, const real *dout, const real *in,
                     const real *weight, const ConvShape *s, real *scratch)
{
    ConvGeom g = conv_geom(s);
    if (s->OH <= 0 || s->OW <= 0) return; /* nothing to compute */
    conv_grid_pass(NULL, 0, dweight, dout, in, NULL, &g, s->N, CONV_COL_BUDGET, scratch);
    if (din) conv_image_pass(din, 1, dout, weight, &g, s->N, scratch);
    if (dbias) conv_bias_grad(dbias, dout, s->N, s->OC, (size_t)s->OH * s->OW);
}

/* out (N,OC,OH,OW): out[oc, ih*s-p+kh, iw*s-p+kw] gets in[c,ih,iw] * weight[c,oc,kh,kw]
 * summed over c,ih,iw,kh,kw, plus bias[oc]: the image pass (grid = in, image = out). */
void convt_forward(real *out, const real *in, const real *weight, const real *bias,
                   const ConvShape *s, real *scratch)
{
    ConvGeom g = convt_geom(s);
    if (s->OH <= 0 || s->OW <= 0) return; /* nothing to compute */
    conv_image_pass(out, 0, in, weight, &g, s->N, scratch);
    if (bias) conv_add_bias(out, bias, s->N, s->OC, (size_t)s->OH * s->OW);
}

/* din[c,ih,iw] += sum over oc,kh,kw of weight[c,oc,kh,kw] * dout[oc, ih*s-p+kh, iw*s-p+kw]
 * (a convolution of dout); dweight[c,oc,kh,kw] += sum over n,ih,iw of in[n,c,ih,iw] *
 * dout[n,oc,ih*s-p+kh,iw*s-p+kw]; dbias[oc] += sum of dout over n,oh,ow. One grid pass
 * (image = dout) gives din and dweight. */
void convt_backward(real *din, real *dweight, real *dbias, const real *dout, const real *in,
                    const real *weight, const ConvShape *s, real *scratch)
{
    ConvGeom g = convt_geom(s);
    if (s->OH <= 0 || s->OW <= 0) return; /* nothing to compute */
    conv_grid_pass(din, 1, dweight, in, dout, weight, &g, s->N, CONV_COL_BUDGET, scratch);
    if (dbias) conv_bias_grad(dbias, dout, s->N, s->OC, (size_t)s->OH * s->OW);
}

/* out[n,oc,oh,ow] = bias[oc] + sum over c,kh,kw of weight[oc,c,kh,kw] * in[n,c,ih,iw]
 * with ih = oh*s-p+kh, iw = ow*s-p+kw inside the input. */
void conv2d_forward_direct(real *out, const real *in, const real *weight, const real *bias,
                           const ConvShape *s)
{
    ConvGeom g = conv_geom(s);
    conv_direct_to_grid(out, 0, in, weight, bias, &g, s->N);
}

/* din[n,c,ih,iw] += sum over oc,kh,kw with (ih+p-kh)/s = oh, (iw+p-kw)/s = ow exact and in
 * range of dout[n,oc,oh,ow] * weight[oc,c,kh,kw]; dweight and dbias as in conv2d_backward. */
void conv2d_backward_direct(real *din, real *dweight, real *dbias, const real *dout,
                            const real *in, const real *weight, const ConvShape *s)
{
    ConvGeom g = conv_geom(s);
    if (din) conv_direct_to_image(din, 1, dout, weight, NULL, &g, s->N);
    if (dweight) conv_direct_weight_grad(dweight, dout, in, &g, s->N);
    if (dbias) conv_bias_grad(dbias, dout, s->N, s->OC, (size_t)s->OH * s->OW);
}

/* out[n,oc,oh,ow] = bias[oc] + sum over c,kh,kw with (oh+p-kh)/s = ih, (ow+p-kw)/s = iw exact
 * and in range of in[n,c,ih,iw] * weight[c,oc,kh,kw]. */
void convt_forward_direct(real *out, const real *in, const real *weight, const real *bias,
                          const ConvShape *s)
{
    ConvGeom g = convt_geom(s);
    conv_direct_to_image(out, 0, in, weight, bias, &g, s->N);
}

/* din[n,c,ih,iw] += sum over oc,kh,kw of weight[c,oc,kh,kw] * dout[n,oc,ih*s-p+kh,iw*s-p+kw];
 * dweight[c,oc,kh,kw] += sum over n,ih,iw of in[n,c,ih,iw] * dout[n,oc,ih*s-p+kh,iw*s-p+kw];
 * dbias[oc] += sum of dout. */
void convt_backward_direct(real *din, real *dweight, real *dbias, const real *dout,
                           const real *in, const real *weight, const ConvShape *s)
{
    ConvGeom g = convt_geom(s);
    if (din) conv_direct_to_grid(din, 1, dout, weight, NULL, &g, s->N);
    if (dweight) conv_direct_weight_grad(dweight, in, dout, &g, s->N);
    if (dbias) conv_bias_grad(dbias, dout, s->N, s->OC, (size_t)s->OH * s->OW);
}

/* LSD_CONV_DIRECT=1 or 0; unset, on where gemm runs its base kernel (tensor/gemm.h). */
int conv_direct_on(void)
{
    const char *v = getenv("LSD_CONV_DIRECT");
    if (v && !strcmp(v, "1")) return 1;
    if (v && !strcmp(v, "0")) return 0;
    return !strcmp(gemm_kernel_name(), "base");
}

/* On unless LSD_CONV_DIRECT=0. */
int conv_wide_on(void)
{
    const char *v = getenv("LSD_CONV_DIRECT");
    return !(v && !strcmp(v, "0"));
}

/* Refuses an LSD_CONV_DIRECT other than 0 or 1. */
int conv_check_env(lsd_err *err)
{
    const char *v = getenv("LSD_CONV_DIRECT");
    if (!v || !*v || !strcmp(v, "0") || !strcmp(v, "1")) return LSD_OK;
    return lsd_fail(err, LSD_ERR_ARG, "LSD_CONV_DIRECT=%.40s: it takes 1 (the direct path for "
                    "convolutions with few channels everywhere) or 0 (always im2col and gemm); "
                    "unset, that path is used where gemm runs its base kernel, and the direct "
                    "path for every width where it is faster", v);
}

/* weight (C, C, K, K): weight[i][i] = (1 - |y - c|/f) * (1 - |x - c|/f), f = (K+1)/2,
 * c = f - 1 (K odd) or f - 0.5 (K even), computed in double as FCN's numpy code does. */
void bilinear_init(real *weight, int C, int K)
{
    int f = (K + 1) / 2, i, y, x;
    double center = (K % 2 == 1) ? f - 1.0 : f - 0.5;
    memset(weight, 0, (size_t)C * C * K * K * sizeof(real));
    for (i = 0; i < C; i++) {
        real *filter = weight + ((size_t)i * C + i) * K * K; /* (K, K) */
        for (y = 0; y < K; y++)
            for (x = 0; x < K; x++)
                filter[y * K + x] =
                    (real)((1.0 - fabs(y - center) / f) * (1.0 - fabs(x - center) / f));
    }
}
