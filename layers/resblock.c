/* resblock.c - the residual block of G and D (see resblock.h), made of the layers beside it. */
#include "resblock.h"

#include "activation.h"
#include "dropout.h"
#include "norm.h"
#include "../tensor/tensor.h"

/* out = x + mask * act(IN(conv(x))): conv, instance norm, (leaky) ReLU, dropout, skip. */
void rb_forward(RBActs *a, const real *x, const real *weight, const real *bias,
                const real *mask, const ConvShape *s, real eps, real slope, real *scratch)
{
    int N = s->N, C = s->OC, HW = s->OH * s->OW;
    size_t n = (size_t)N * C * HW;
    conv2d_forward(a->z, x, weight, bias, s, scratch);
    instance_norm_forward(a->y, a->mean, a->rstd, a->z, N, C, HW, eps);
    if (slope != 0)
        leaky_relu_forward(a->a, a->y, n, slope);
    else
        relu_forward(a->a, a->y, n);
    dropout_forward(a->out, a->a, mask, n);
    vec_add(a->out, x, n);
}

/* dx += dout (the skip) + conv^T(IN'(act'(mask * dout))): rb_forward's lines in reverse. */
void rb_backward(real *dx, real *dweight, real *dbias, RBActs *g, const RBActs *a,
                 const real *x, const real *weight, const real *mask, const ConvShape *s,
                 real slope, real *scratch)
{
    int N = s->N, C = s->OC, HW = s->OH * s->OW;
    size_t n = (size_t)N * C * HW;
    vec_add(dx, g->out, n);
    dropout_backward(g->a, g->out, mask, n);
    if (slope != 0)
        leaky_relu_backward(g->y, g->a, a->y, n, slope);
    else
        relu_backward(g->y, g->a, a->a, n);
    instance_norm_backward(g->z, g->y, a->z, a->mean, a->rstd, N, C, HW);
    conv2d_backward(dx, dweight, dbias, g->z, x, weight, s, scratch);
}
