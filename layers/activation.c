/* activation.c - element-wise nonlinearities (see activation.h).
 * Every output element is written by one thread: results do not depend on the thread count. */
#include "activation.h"

#include "../tensor/mathfn.h"

/* out = max(x, 0). */
void relu_forward(real *out, const real *in, size_t n)
{
    long i, len = (long)n;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) out[i] = in[i] > 0 ? in[i] : 0;
}

/* din += dout * [out > 0]; the derivative at x = 0 is taken as 0 (as PyTorch). */
void relu_backward(real *din, const real *dout, const real *out, size_t n)
{
    long i, len = (long)n;
    if (!din) return;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) { /* a select of two computed values: vectorized */
        real d = din[i], sum = d + dout[i];
        din[i] = out[i] > 0 ? sum : d;
    }
}

/* d = d * [out > 0] in place: 0 where out <= 0 (or NaN), d unchanged elsewhere. */
void relu_backward_inplace(real *d, const real *out, size_t n)
{
    long i, len = (long)n;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) d[i] = out[i] > 0 ? d[i] : 0; /* a select: vectorized */
}

/* out = x > 0 ? x : slope * x. */
void leaky_relu_forward(real *out, const real *in, size_t n, real slope)
{
    long i, len = (long)n;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) out[i] = in[i] > 0 ? in[i] : in[i] * slope;
}

/* din += dout * (x > 0 ? 1 : slope); at x = 0 the slope side is taken (as PyTorch). */
void leaky_relu_backward(real *din, const real *dout, const real *in, size_t n, real slope)
{
    long i, len = (long)n;
    if (!din) return;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) din[i] += in[i] > 0 ? dout[i] : dout[i] * slope;
}

/* out = 1 / (1 + e^-x), evaluated in double by lsd_sigmoid and rounded once. */
void sigmoid_forward(real *out, const real *in, size_t n)
{
    long i, len = (long)n;
#pragma omp parallel for schedule(static) if (len > 16384)
    for (i = 0; i < len; i++) out[i] = (real)lsd_sigmoid((double)in[i]);
}

/* din += dout * (1 - y) * y with y = sigmoid(x) the forward output (PyTorch's order). */
void sigmoid_backward(real *din, const real *dout, const real *out, size_t n)
{
    long i, len = (long)n;
    if (!din) return;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (i = 0; i < len; i++) din[i] += dout[i] * (1 - out[i]) * out[i];
}
