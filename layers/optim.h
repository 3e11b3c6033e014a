/*
 * optim.h - the optimisers of LSD-seg, element-wise over a flat parameter array.
 * Parameter groups (different learning rates for weights and biases) and frozen
 * parameters are handled by the caller calling these per tensor with the group's
 * settings (or not at all).
 *
 * Hyperparameters are double, as they are Python floats in PyTorch: the float build
 * rounds each derived scalar (1 - beta, lr / (1 - beta^t), ...) to float once, exactly
 * where torch.optim does when it applies a Python scalar to a float32 tensor.
 */
#ifndef LSD_OPTIM_H
#define LSD_OPTIM_H

#include "../tensor/common.h"

/* beta^t for t >= 0 by binary exponentiation (repeated squaring) in double; Adam's bias
 * corrections 1 - beta^t use it. Agrees with Python's beta ** t to a few ulp for t <= 1e6. */
double adam_beta_pow(double beta, long t);

/* Adam exactly as torch.optim.Adam (no amsgrad, not maximize), for step t (1-based,
 * already incremented): g = grad + wd*param; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 * param -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
void adam_update(real *param, real *m, real *v, const real *grad, size_t n, long t, double lr,
                 double beta1, double beta2, double eps, double weight_decay);
/* Adam as PyTorch 0.2 had it (the LSD-seg authors' code): the same moments, then
 * param -= (lr * sqrt(1 - b2^t) / (1 - b1^t)) * m / (sqrt(v) + eps); eps sits outside the
 * bias correction, so it weighs sqrt(1 - b2^t) times more than in adam_update. */
void adam02_update(real *param, real *m, real *v, const real *grad, size_t n, long t,
                   double lr, double beta1, double beta2, double eps, double weight_decay);
/* SGD as torch.optim.SGD (dampening 0, not nesterov): g = grad + wd*param;
 * buf = first ? g : momentum*buf + g; param -= lr * buf. */
void sgd_update(real *param, real *buf, const real *grad, size_t n, double lr, double momentum,
                double weight_decay, int first);
/* A learning rate after `decays` step decays: base multiplied by gamma decays times, one
 * multiplication after the other, as the authors' step_scheduler and torch's StepLR do (not
 * base * gamma^decays, which differs in the last bit from a few decays on). */
double lr_decayed(double base, long decays, double gamma);
/* Step schedule as torch.optim.lr_scheduler.StepLR: lr_decayed by floor(iter / step_iters)
 * decays (step_iters <= 0: no decay). */
double lr_step_schedule(double base, long iter, long step_iters, double gamma);

#endif
