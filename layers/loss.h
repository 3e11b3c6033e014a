/*
 * loss.h - the losses of LSD-seg, each returning the loss and accumulating the
 * gradient with respect to its input.
 *
 * Softmax cross-entropy over channels per pixel: logits (N,C,HW), labels (N,HW)
 * with values 0..C-1 or `ignore` (255). The softmax is computed stably (max
 * subtracted, own exp/log). The loss is summed in a fixed order in double.
 */
#ifndef LSD_LOSS_H
#define LSD_LOSS_H

#include <stdint.h>
#include "../tensor/common.h"

typedef enum { LOSS_SUM = 0, LOSS_MEAN = 1 } loss_reduction;

/* The sums are cut into at most LOSS_BLOCKS consecutive blocks, added in block order
 * (loss.c; the device's block sums, opencl/ops.c and kernels/loss.cl, use the same). */
#define LOSS_BLOCKS 64

/* *loss = sum (or mean over labelled pixels) of -log softmax(logits)[label];
 * dlogits (may be NULL) += grad_scale * d(loss)/d(logits) = grad_scale * (softmax - onehot)
 * (divided by the labelled count for LOSS_MEAN). A label that is neither < C nor ignore is
 * an error (LSD_ERR_RANGE naming the value and the pixel); nothing is written then. */
int softmax_ce(double *loss, real *dlogits, const real *logits, const uint8_t *labels, int N,
               int C, int HW, int ignore, loss_reduction red, real grad_scale, lsd_err *err);
/* The same with every pixel labelled `label` (D's domain targets); reduction SUM. */
void softmax_ce_const(double *loss, real *dlogits, const real *logits, int label, int N, int C,
                      int HW, real grad_scale);
/* Returns mean |x - target| over n; dx (may be NULL) += grad_scale * sign(x - target) / n
 * (sign(0) = 0, as PyTorch). */
double l1_loss(real *dx, const real *x, const real *target, size_t n, real grad_scale);

#endif
