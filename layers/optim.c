/* optim.c - Adam, SGD with momentum and the step learning-rate schedule (see optim.h).
 * The element-wise updates follow PyTorch 1.13's single-tensor code (foreach=False)
 * operation by operation; each element is updated by one thread. */
#include "optim.h"

#include <math.h>

/* beta^t by repeated squaring: beta^t = prod over the set bits k of t of beta^(2^k). */
double adam_beta_pow(double beta, long t)
{
    double r = 1.0, sq = beta;
    while (t > 0) {
        if (t & 1) r *= sq;
        sq *= sq;
        t >>= 1;
    }
    return r;
}

/* One Adam step at step t:
 *   g = grad + wd * p;  m = m * b1 + (1 - b1) * g;  v = v * b2 + ((1 - b2) * g) * g;
 *   p = p + (-lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * The scalars are formed in double (Python floats) and applied in real (the tensor's type). */
void adam_update(real *param, real *m, real *v, const real *grad, size_t n, long t, double lr,
                 double beta1, double beta2, double eps, double weight_decay)
{
    /* param, m, v, grad (n) */
    double bc1 = 1.0 - adam_beta_pow(beta1, t), bc2 = 1.0 - adam_beta_pow(beta2, t);
    real b1 = (real)beta1, omb1 = (real)(1.0 - beta1), b2 = (real)beta2,
         omb2 = (real)(1.0 - beta2), wd = (real)weight_decay, ep = (real)eps,
         neg_step = (real)(-(lr / bc1)), bc2_sqrt = (real)sqrt(bc2);
    long i, len = (long)n;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) {
        real g = weight_decay != 0 ? grad[i] + wd * param[i] : grad[i];
        real denom;
        m[i] = m[i] * b1 + omb1 * g;
        v[i] = v[i] * b2 + omb2 * g * g;
        denom = (real)sqrt(v[i]) / bc2_sqrt + ep;
        param[i] = param[i] + neg_step * m[i] / denom;
    }
}

/* One PyTorch 0.2 Adam step at step t (torch/optim/adam.py of 0.2, operation by operation):
 *   g = grad + wd * p;  m = m * b1 + (1 - b1) * g;  v = v * b2 + ((1 - b2) * g) * g;
 *   p = p + (-(lr * sqrt(1 - b2^t) / (1 - b1^t))) * m / (sqrt(v) + eps). */
void adam02_update(real *param, real *m, real *v, const real *grad, size_t n, long t,
                   double lr, double beta1, double beta2, double eps, double weight_decay)
{
    /* param, m, v, grad (n) */
    double bc1 = 1.0 - adam_beta_pow(beta1, t), bc2 = 1.0 - adam_beta_pow(beta2, t);
    real b1 = (real)beta1, omb1 = (real)(1.0 - beta1), b2 = (real)beta2,
         omb2 = (real)(1.0 - beta2), wd = (real)weight_decay, ep = (real)eps,
         neg_step = (real)(-(lr * sqrt(bc2) / bc1));
    long i, len = (long)n;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) {
        real g = weight_decay != 0 ? grad[i] + wd * param[i] : grad[i];
        m[i] = m[i] * b1 + omb1 * g;
        v[i] = v[i] * b2 + omb2 * g * g;
        param[i] = param[i] + neg_step * m[i] / ((real)sqrt(v[i]) + ep);
    }
}

/* One SGD step: g = grad + wd * p; buf = first ? g : buf * momentum + g; p = p + (-lr) * buf. */
void sgd_update(real *param, real *buf, const real *grad, size_t n, double lr, double momentum,
                double weight_decay, int first)
{
    /* param, buf, grad (n) */
    real mom = (real)momentum, wd = (real)weight_decay, neg_lr = (real)(-lr);
    long i, len = (long)n;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) {
        real g = weight_decay != 0 ? grad[i] + wd * param[i] : grad[i];
        if (momentum != 0) {
            buf[i] = first ? g : buf[i] * mom + g;
            g = buf[i];
        }
        param[i] = param[i] + neg_lr * g;
    }
}

/* lr = base, then lr = lr * gamma once per decay (StepLR's chained form). */
double lr_decayed(double base, long decays, double gamma)
{
    double lr = base;
    long k;
    for (k = 0; k < decays; k++) lr *= gamma;
    return lr;
}

/* StepLR: one decay at each multiple of step_iters. */
double lr_step_schedule(double base, long iter, long step_iters, double gamma)
{
    return lr_decayed(base, step_iters > 0 && iter > 0 ? iter / step_iters : 0, gamma);
}
