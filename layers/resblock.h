/*
 * resblock.h - the residual block of G and D (the authors' ResnetBlock):
 *
 *   out = x + Dropout(act(IN(conv3x3(x))))
 *
 * conv: `s` (C -> C, same size), weight (C, C, 3, 3), bias (C) or NULL (G's blocks have
 * none); IN: instance norm without affine parameters; act: ReLU (slope 0, G) or
 * LeakyReLU(slope) (D); Dropout: element-wise multiplication by `mask` (N, C, H, W).
 */
#ifndef LSD_RESBLOCK_H
#define LSD_RESBLOCK_H

#include "../tensor/common.h"
#include "conv.h"

/* One block's buffers. As gradients (in rb_backward's g) the caches are not used. */
typedef struct {
    real *z, *y, *a, *out; /* (N, C, H, W): conv, instance norm, activation, block output */
    real *mean, *rstd;     /* cache (N, C) */
} RBActs;

/* a->out = x + mask * act(IN(conv(x, weight) + bias)), keeping z, y, a, mean, rstd for the
 * backward; act is ReLU for slope 0 (relu_forward), LeakyReLU(slope) otherwise. bias may be
 * NULL. */
void rb_forward(RBActs *a, const real *x, const real *weight, const real *bias,
                const real *mask, const ConvShape *s, real eps, real slope, real *scratch);
/* rb_forward's backward from g->out: dx += the input's gradient (the skip's and the conv's);
 * dweight, dbias (either may be NULL) += the conv's parameter gradients; g->a, g->y, g->z
 * (zeroed by the caller) += the gradients of a, y, z. */
void rb_backward(real *dx, real *dweight, real *dbias, RBActs *g, const RBActs *a,
                 const real *x, const real *weight, const real *mask, const ConvShape *s,
                 real slope, real *scratch);

#endif
