/*
 * norm.h - instance normalisation without affine parameters (biased variance):
 * for each (n, c), y = (x - mean) * rstd, rstd = 1/sqrt(var + eps).
 * in, out (N,C,HW); mean, rstd (N,C) are the cache backward needs.
 */
#ifndef LSD_NORM_H
#define LSD_NORM_H

#include "../tensor/common.h"

void instance_norm_forward(real *out, real *mean, real *rstd, const real *in, int N, int C,
                           int HW, real eps);
/* din += rstd * (dout - mean(dout) - y * mean(dout * y)), per (n, c). */
void instance_norm_backward(real *din, const real *dout, const real *in, const real *mean,
                            const real *rstd, int N, int C, int HW);

#endif
