/*
 * activation.h - element-wise nonlinearities over n elements.
 * Backwards accumulate: din += dout * f'(.), except relu_backward_inplace (below).
 */
#ifndef LSD_ACTIVATION_H
#define LSD_ACTIVATION_H

#include "../tensor/common.h"

void relu_forward(real *out, const real *in, size_t n);                 /* max(x, 0) */
void relu_backward(real *din, const real *dout, const real *out, size_t n); /* dout * [out > 0] */
/* d = d * [out > 0] in place: the backward of a ReLU computed in place (F's layers), whose
 * input and output gradients share one buffer. */
void relu_backward_inplace(real *d, const real *out, size_t n);
void leaky_relu_forward(real *out, const real *in, size_t n, real slope);    /* x > 0 ? x : slope*x */
void leaky_relu_backward(real *din, const real *dout, const real *in, size_t n, real slope);
void sigmoid_forward(real *out, const real *in, size_t n);              /* 1/(1+e^-x), own exp */
void sigmoid_backward(real *din, const real *dout, const real *out, size_t n); /* dout*y*(1-y) */

#endif
