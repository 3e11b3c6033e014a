/*
 * mathfn.h - exp, log, tanh and friends computed by our own code, so that the
 * bits of every result are the same on every platform and libm. All work in
 * double; the float build rounds the double result once. Accuracy against
 * libm is measured in tests/test_mathfn.c (max error stated there, in ulp).
 */
#ifndef LSD_MATHFN_H
#define LSD_MATHFN_H

#include "common.h"

double lsd_exp(double x);      /* e^x; overflow gives +inf, underflow 0 */
double lsd_log(double x);      /* natural log; log(0) = -inf, log(x<0) = NaN */
double lsd_tanh(double x);
double lsd_sigmoid(double x);  /* 1 / (1 + e^-x), stable for large |x| */
double lsd_sqrt(double x);     /* IEEE sqrt is correctly rounded everywhere: wraps sqrt() */
double lsd_pow(double x, double y); /* x^y for x > 0 (exp(y*log x)); for Adam's beta^t */
double lsd_sin(double x);      /* for Box-Muller and the Lanczos kernel */
double lsd_cos(double x);

#endif
