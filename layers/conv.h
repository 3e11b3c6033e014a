/*
 * conv.h - 2-D convolution and transposed convolution (PyTorch semantics and
 * weight layouts), both built on one im2col/col2im + GEMM pair, with the
 * direct loops beside them as their reference.
 *
 * conv2d:           in (N,C,H,W), weight (OC,C,KH,KW), bias (OC) or NULL,
 *                   out (N,OC,OH,OW), OH = (H + 2*pad - KH)/stride + 1.
 * conv_transpose2d: in (N,C,H,W), weight (C,OC,KH,KW), bias (OC) or NULL,
 *                   out (N,OC,OH,OW), OH = (H-1)*stride - 2*pad + KH + outpad.
 *
 * Working memory: the caller passes `scratch` of conv_work_size() elements. The
 * im2col buffer is tiled over output rows, so it stays bounded for large
 * layers (fc6 at 320x640 included).
 */
#ifndef LSD_CONV_H
#define LSD_CONV_H

#include "../tensor/common.h"

typedef struct {
    int N, C, H, W;      /* input */
    int OC, KH, KW;      /* output channels, kernel */
    int stride, pad, outpad; /* outpad only for transposed convolution */
    int OH, OW;          /* output size, computed by conv2d_shape / convt_shape */
} ConvShape;

/* Shape of a convolution (square kernel K); OH or OW < 1 means the input is too small. */
ConvShape conv2d_shape(int N, int C, int H, int W, int OC, int K, int stride, int pad);
/* Shape of a transposed convolution (square kernel K). */
ConvShape convt_shape(int N, int C, int H, int W, int OC, int K, int stride, int pad, int outpad);
/* Elements of `scratch` needed by the forward and backward of either kind. */
size_t conv_work_size(const ConvShape *s);

/* out = conv(in, weight) + bias. */
void conv2d_forward(real *out, const real *in, const real *weight, const real *bias,
                    const ConvShape *s, real *scratch);
/* out = relu(conv(in, weight) + bias): conv2d_forward then relu_forward (out = x > 0 ? x : 0)
 * in place, the same bits, with one pass less over out. bias may be NULL. */
void conv2d_forward_relu(real *out, const real *in, const real *weight, const real *bias,
                         const ConvShape *s, real *scratch);
/* din += conv^T(dout, weight); dweight += dout (x) in; dbias += sum of dout over N,OH,OW.
 * Any of din, dweight, dbias may be NULL. */
void conv2d_backward(real *din, real *dweight, real *dbias, const real *dout, const real *in,
                     const real *weight, const ConvShape *s, real *scratch);

/* out = conv_transpose(in, weight) + bias (the data-gradient of conv2d). */
void convt_forward(real *out, const real *in, const real *weight, const real *bias,
                   const ConvShape *s, real *scratch);
/* din += conv(dout, weight); dweight += in (x) dout; dbias += sum of dout. NULLs skipped. */
void convt_backward(real *din, real *dweight, real *dbias, const real *dout, const real *in,
                    const real *weight, const ConvShape *s, real *scratch);

/* Direct seven-loop references of the four functions above (no scratch buffer). */
void conv2d_forward_direct(real *out, const real *in, const real *weight, const real *bias,
                           const ConvShape *s);
void conv2d_backward_direct(real *din, real *dweight, real *dbias, const real *dout,
                            const real *in, const real *weight, const ConvShape *s);
void convt_forward_direct(real *out, const real *in, const real *weight, const real *bias,
                          const ConvShape *s);
void convt_backward_direct(real *din, real *dweight, real *dbias, const real *dout,
                           const real *in, const real *weight, const ConvShape *s);

/* 1 if convolutions with few channels take the direct path (layers/conv_kernels.c,
 * small_grid) rather than im2col and gemm: LSD_CONV_DIRECT=1 or 0 forces it; unset, where
 * gemm runs its base kernel. Both paths give the same bits. */
int conv_direct_on(void);
/* 1 unless LSD_CONV_DIRECT=0: stride-1 grid passes take the direct path for every width
 * (layers/conv_kernels.c, wide_rect) where their shape and gemm's kernel suit it; the same
 * bits as im2col and gemm. */
int conv_wide_on(void);
/* The largest C*KH*KW that path takes with the kernel gemm runs now (0: none). */
int conv_wide_ckk_max(void);
/* LSD_OK unless LSD_CONV_DIRECT has a value other than 0 or 1 (the message says). */
int conv_check_env(lsd_err *err);

/* Bilinear upsampling weights for a transposed convolution, weight (C, C, K, K): channel i
 * to channel i gets the separable filter (1 - |y - c|/f) * (1 - |x - c|/f) with
 * f = (K + 1) / 2 (integer division) and c = f - 1 for odd K, f - 0.5 for even K (the FCN
 * authors' get_upsampling_weight); other channel pairs are zero. */
void bilinear_init(real *weight, int C, int K);

#endif
