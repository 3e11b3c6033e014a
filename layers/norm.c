/* norm.c - instance normalisation without affine parameters (see norm.h).
 * Each (n, c) plane is handled by one thread, its sums taken sequentially in double:
 * results do not depend on the thread count. */
#include "norm.h"

#include <math.h>

/* For each plane p = (n, c) of HW values x: mean = sum(x) / HW,
 * var = sum((x - mean)^2) / HW (biased, two passes in double), rstd = 1 / sqrt(var + eps),
 * y = (x - mean) * rstd. mean and rstd are kept for the backward. */
void instance_norm_forward(real *out, real *mean, real *rstd, const real *in, int N, int C,
                           int HW, real eps)
{
    long p, planes = (long)N * C;   /* out, in (N, C, HW); mean, rstd (N, C) */
#pragma omp parallel for schedule(static) if (planes > 1 && (long)HW * planes > 32768)
    for (p = 0; p < planes; p++) {
        const real *x = in + (size_t)p * HW;
        real *y = out + (size_t)p * HW;
        double s = 0, m, v = 0, r;
        int i;
        for (i = 0; i < HW; i++) s += x[i];
        m = HW > 0 ? s / HW : 0;
        for (i = 0; i < HW; i++) {
            double d = x[i] - m;
            v += d * d;
        }
        v = HW > 0 ? v / HW : 0;
        r = 1.0 / sqrt(v + (double)eps);
        for (i = 0; i < HW; i++) y[i] = (real)((x[i] - m) * r);
        mean[p] = (real)m;
        rstd[p] = (real)r;
    }
}

/* With y = (x - mean) * rstd, the derivative of the normalised plane is
 * dx = rstd * (dy - mean(dy) - y * mean(dy * y)); din += dx. Sums in double. */
void instance_norm_backward(real *din, const real *dout, const real *in, const real *mean,
                            const real *rstd, int N, int C, int HW)
{
    long p, planes = (long)N * C;   /* din, dout, in (N, C, HW); mean, rstd (N, C) */
    if (!din || HW <= 0) return;
#pragma omp parallel for schedule(static) if (planes > 1 && (long)HW * planes > 32768)
    for (p = 0; p < planes; p++) {
        const real *x = in + (size_t)p * HW, *dy = dout + (size_t)p * HW;
        real *dx = din + (size_t)p * HW;
        double m = mean[p], r = rstd[p], sdy = 0, sdyy = 0, mdy, mdyy;
        int i;
        for (i = 0; i < HW; i++) {
            double y = (x[i] - m) * r;
            sdy += dy[i];
            sdyy += dy[i] * y;
        }
        mdy = sdy / HW;
        mdyy = sdyy / HW;
        for (i = 0; i < HW; i++) {
            double y = (x[i] - m) * r;
            dx[i] += (real)(r * (dy[i] - mdy - y * mdyy));
        }
    }
}
