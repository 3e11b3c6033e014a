/*
 * pool.h - 2x2 max pooling with stride 2, floor or ceil mode (PyTorch semantics).
 * in (N,C,H,W) -> out (N,C,OH,OW); argmax (N,C,OH,OW) holds, for each output, the
 * index h*W + w of the input element chosen (the first maximum in row-major
 * window order, as PyTorch picks), which backward routes the gradient to.
 */
#ifndef LSD_POOL_H
#define LSD_POOL_H

#include <stdint.h>
#include "../tensor/common.h"

/* Output size along one axis: floor(H/2) or, in ceil mode, ceil(H/2). */
int maxpool_out_size(int H, int ceil_mode);
/* out = max over each 2x2 window; argmax records the winner. */
void maxpool2d_forward(real *out, int32_t *argmax, const real *in, int N, int C, int H, int W,
                       int OH, int OW);
/* din[argmax] += dout. */
void maxpool2d_backward(real *din, const real *dout, const int32_t *argmax, int N, int C, int H,
                        int W, int OH, int OW);

#endif
