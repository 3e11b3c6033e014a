/*
 * optim.h - the optimisers of LSD-seg, element-wise over a flat parameter array.
 * Parameter groups (different learning rates for weights and biases) and frozen
 * parameters are handled by the caller calling these per tensor with the group's
 * settings (or not at all).
 */
#ifndef LSD_OPTIM_H
#define LSD_OPTIM_H

#include "../tensor/common.h"

/* Adam exactly as torch.optim.Adam (no amsgrad, not maximize), for step t (1-based,
 * already incremented): g = grad + wd*param; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 * param -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
void adam_update(real *param, real *m, real *v, const real *grad, size_t n, long t, real lr,
                 real beta1, real beta2, real eps, real weight_decay);
/* SGD as torch.optim.SGD (dampening 0, not nesterov): g = grad + wd*param;
 * buf = first ? g : momentum*buf + g; param -= lr * buf. */
void sgd_update(real *param, real *buf, const real *grad, size_t n, real lr, real momentum,
                real weight_decay, int first);
/* Step schedule: base * gamma^(floor(iter / step_iters)) (step_iters <= 0: no decay). */
real lr_step_schedule(real base, long iter, long step_iters, real gamma);

#endif
