/* dropout.c - dropout and dropout2d with explicit masks (see dropout.h).
 * Masks are a pure function of (seed, stream, index): independent of threads and call order. */
#include "dropout.h"

#include "../tensor/rng.h"

/* mask[i] = 0 if uniform(seed, stream, index0 + i) < p, else 1/(1-p) (PyTorch's scaling);
 * drawn in blocks by rng_fill_bernoulli (same bits as the per-draw test, any thread count). */
void dropout_mask(real *mask, size_t n, real p, uint64_t seed, uint64_t stream, uint64_t index0)
{
    real keep = (real)(1.0 / (1.0 - (double)p));   /* mask (n) */
    rng_fill_bernoulli(mask, n, (double)p, 0, keep, seed, stream, index0);
}

/* out = in * mask, element by element. */
void dropout_forward(real *out, const real *in, const real *mask, size_t n)
{
    long i, len = (long)n;   /* out, in, mask (n) */
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) out[i] = in[i] * mask[i];
}

/* d(in * mask)/d(in) = mask: din += dout * mask. */
void dropout_backward(real *din, const real *dout, const real *mask, size_t n)
{
    long i, len = (long)n;   /* din, dout, mask (n) */
    if (!din) return;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) din[i] += dout[i] * mask[i];
}

/* out[c, i] = in[c, i] * mask[c]: each channel of every sample kept (scaled) or zeroed. */
void dropout2d_forward(real *out, const real *in, const real *mask, int NC, int HW)
{
    long c;   /* out, in (NC, HW); mask (NC) */
#pragma omp parallel for schedule(static) if ((long)NC * HW > 65536)
    for (c = 0; c < NC; c++) {
        const real *x = in + (size_t)c * HW;
        real *y = out + (size_t)c * HW, mk = mask[c];
        int i;
        for (i = 0; i < HW; i++) y[i] = x[i] * mk;
    }
}

/* d(in * mask[c])/d(in) = mask[c]: din[c, i] += dout[c, i] * mask[c]. */
void dropout2d_backward(real *din, const real *dout, const real *mask, int NC, int HW)
{
    long c;   /* din, dout (NC, HW); mask (NC) */
    if (!din) return;
#pragma omp parallel for schedule(static) if ((long)NC * HW > 65536)
    for (c = 0; c < NC; c++) {
        const real *dy = dout + (size_t)c * HW;
        real *dx = din + (size_t)c * HW, mk = mask[c];
        int i;
        for (i = 0; i < HW; i++) dx[i] += dy[i] * mk;
    }
}
