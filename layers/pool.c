/*
 * pool.c - 2x2 max pooling with stride 2 (PyTorch's max_pool2d, kernel 2,
 * stride 2, no padding, floor or ceil mode).
 *
 * In ceil mode the last window of an odd-sized axis holds a single row or
 * column. The scan follows PyTorch's CPU kernel: the running maximum starts at
 * -infinity with the index of the window's first element, and an element
 * replaces it when it is larger or NaN. So ties keep the first maximum in
 * row-major window order, and a NaN wins (the last NaN of the window).
 */
#include <math.h>

#include "pool.h"

int maxpool_out_size(int H, int ceil_mode) { return ceil_mode ? (H + 1) / 2 : H / 2; }

/* Offers x[i] = v to the running maximum (*best, *bi): taken if greater or NaN. */
static void offer(real v, int32_t i, real *best, int32_t *bi)
{
    if (v > *best || v != v) {
        *best = v;
        *bi = i;
    }
}

/* out[n,c,oh,ow] = max over in[n,c,2oh..2oh+1, 2ow..2ow+1] (clipped to the input);
 * argmax[n,c,oh,ow] = h*W + w of the element chosen. */
void maxpool2d_forward(real *out, int32_t *argmax, const real *in, int N, int C, int H, int W,
                       int OH, int OW)
{
    int p, planes = N * C;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)planes * OH * OW > 32768)
#endif
    for (p = 0; p < planes; p++) {
        const real *x = in + (size_t)p * H * W;   /* (H, W) */
        real *y = out + (size_t)p * OH * OW;      /* (OH, OW) */
        int32_t *a = argmax + (size_t)p * OH * OW; /* (OH, OW) */
        int oh, ow, h, w;
        for (oh = 0; oh < OH; oh++) {
            int h0 = 2 * oh, h1 = h0 + 2 < H ? h0 + 2 : H;
            int full = h1 - h0 == 2 ? W / 2 : 0; /* windows with all four elements */
            const real *r0 = x + (size_t)h0 * W, *r1 = r0 + W;
            for (ow = 0; ow < full && ow < OW; ow++) {
                int32_t i0 = (int32_t)(h0 * W + 2 * ow), bi = i0;
                real best = (real)-INFINITY;
                offer(r0[2 * ow], i0, &best, &bi);
                offer(r0[2 * ow + 1], i0 + 1, &best, &bi);
                offer(r1[2 * ow], i0 + W, &best, &bi);
                offer(r1[2 * ow + 1], i0 + W + 1, &best, &bi);
                y[oh * OW + ow] = best;
                a[oh * OW + ow] = bi;
            }
            for (; ow < OW; ow++) { /* clipped windows (ceil mode, odd sizes) */
                int w0 = 2 * ow, w1 = w0 + 2 < W ? w0 + 2 : W;
                int32_t bi = (int32_t)(h0 * W + w0);
                real best = (real)-INFINITY;
                for (h = h0; h < h1; h++)
                    for (w = w0; w < w1; w++)
                        offer(x[(size_t)h * W + w], (int32_t)(h * W + w), &best, &bi);
                y[oh * OW + ow] = best;
                a[oh * OW + ow] = bi;
            }
        }
    }
}

/* din[n,c][argmax[n,c,oh,ow]] += dout[n,c,oh,ow]: the derivative of the maximum is 1 for the
 * chosen element and 0 for the others. Outputs of a plane are added in row-major order. */
void maxpool2d_backward(real *din, const real *dout, const int32_t *argmax, int N, int C, int H,
                        int W, int OH, int OW)
{
    int p, planes = N * C;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)planes * OH * OW > 32768)
#endif
    for (p = 0; p < planes; p++) {
        real *dx = din + (size_t)p * H * W;               /* (H, W) */
        const real *dy = dout + (size_t)p * OH * OW;      /* (OH, OW) */
        const int32_t *a = argmax + (size_t)p * OH * OW;  /* (OH, OW) */
        int i;
        for (i = 0; i < OH * OW; i++) dx[a[i]] += dy[i];
    }
}
