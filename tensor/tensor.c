/* tensor.c - allocation and element-wise helpers for Tensor (see tensor.h). */
#include "tensor.h"

#include <stdlib.h>
#include <string.h>

static int shape_size(int ndim, const int *shape, size_t *out, lsd_err *err)
{
    size_t n = 1;
    int i;
    if (ndim < 1 || ndim > TENSOR_MAX_DIMS)
        return lsd_fail(err, LSD_ERR_ARG, "tensor: %d dimensions requested, 1 to %d supported",
                        ndim, TENSOR_MAX_DIMS);
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return lsd_fail(err, LSD_ERR_ARG, "tensor: dimension %d is negative (%d)", i, shape[i]);
        if (lsd_mul_size(n, (size_t)shape[i], &n) || n > (size_t)-1 / sizeof(real))
            return lsd_fail(err, LSD_ERR_ARG, "tensor: shape too large for this machine");
    }
    *out = n;
    return LSD_OK;
}

int tensor_create(Tensor *t, int ndim, const int *shape, lsd_err *err)
{
    size_t n;
    int i, rc;
    memset(t, 0, sizeof *t);
    rc = shape_size(ndim, shape, &n, err);
    if (rc) return rc;
    t->data = (real *)calloc(n ? n : 1, sizeof(real));
    if (!t->data)
        return lsd_fail(err, LSD_ERR_NOMEM, "tensor: cannot allocate %lu elements",
                        (unsigned long)n);
    t->ndim = ndim;
    for (i = 0; i < TENSOR_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->size = n;
    return LSD_OK;
}

int tensor_create4(Tensor *t, int n, int c, int h, int w, lsd_err *err)
{
    int shape[4];
    shape[0] = n; shape[1] = c; shape[2] = h; shape[3] = w;
    return tensor_create(t, 4, shape, err);
}

void tensor_free(Tensor *t)
{
    if (!t) return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

int tensor_reshape(Tensor *t, int ndim, const int *shape, lsd_err *err)
{
    size_t n;
    int i, rc = shape_size(ndim, shape, &n, err);
    if (rc) return rc;
    if (n != t->size)
        return lsd_fail(err, LSD_ERR_ARG, "tensor: reshape from %lu to %lu elements",
                        (unsigned long)t->size, (unsigned long)n);
    t->ndim = ndim;
    for (i = 0; i < TENSOR_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    return LSD_OK;
}

void tensor_fill(Tensor *t, real v) { vec_fill(t->data, t->size, v); }

int tensor_copy(Tensor *dst, const Tensor *src, lsd_err *err)
{
    if (dst->size != src->size)
        return lsd_fail(err, LSD_ERR_ARG, "tensor: copy of %lu elements into %lu",
                        (unsigned long)src->size, (unsigned long)dst->size);
    vec_copy(dst->data, src->data, src->size);
    return LSD_OK;
}

void vec_fill(real *x, size_t n, real v)
{
    size_t i;
    for (i = 0; i < n; i++) x[i] = v;
}

void vec_copy(real *dst, const real *src, size_t n)
{
    if (n) memmove(dst, src, n * sizeof(real));
}

void vec_add(real *y, const real *x, size_t n)
{
    long i, len = (long)n;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (len > 65536)
#endif
    for (i = 0; i < len; i++) y[i] += x[i];
}

void vec_axpy(real *y, real a, const real *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) y[i] += a * x[i];
}

void vec_scale(real *x, real a, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) x[i] *= a;
}

double vec_sum(const real *x, size_t n)
{
    /* blocks of 64 summed left to right, block sums added left to right */
    double total = 0.0;
    size_t i = 0;
    while (i < n) {
        double block = 0.0;
        size_t end = n - i < 64 ? n : i + 64;
        for (; i < end; i++) block += (double)x[i];
        total += block;
    }
    return total;
}
