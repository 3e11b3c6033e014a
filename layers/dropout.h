/*
 * dropout.h - dropout (element-wise) and dropout2d (whole channels).
 * A mask holds the multiplier of each element (or channel): 0 for a dropped one,
 * 1/(1-p) for a kept one. Masks come from the counter RNG (dropout_mask) or from
 * the caller (golden tests pass PyTorch's masks). In evaluation no mask is used.
 */
#ifndef LSD_DROPOUT_H
#define LSD_DROPOUT_H

#include <stdint.h>
#include "../tensor/common.h"

/* mask[i] = (uniform(seed, stream, index0 + i) < p) ? 0 : 1/(1-p), for i < n. */
void dropout_mask(real *mask, size_t n, real p, uint64_t seed, uint64_t stream, uint64_t index0);
/* out = in * mask (element-wise, n elements). */
void dropout_forward(real *out, const real *in, const real *mask, size_t n);
/* din += dout * mask. */
void dropout_backward(real *din, const real *dout, const real *mask, size_t n);
/* out (NC, HW) = in * mask[channel], mask (NC). */
void dropout2d_forward(real *out, const real *in, const real *mask, int NC, int HW);
/* din += dout * mask[channel]. */
void dropout2d_backward(real *din, const real *dout, const real *mask, int NC, int HW);

#endif
