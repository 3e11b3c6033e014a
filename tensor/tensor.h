/*
 * tensor.h - a contiguous NCHW array of `real` with up to 4 dimensions.
 *
 * The library's layer functions take plain pointers and dimensions (as in
 * llm.c); Tensor is the convenience owner of such a pointer for code that
 * allocates activations, parameters and golden data. The caller owns every
 * Tensor and frees it with tensor_free. No global state.
 */
#ifndef LSD_TENSOR_H
#define LSD_TENSOR_H

#include "common.h"

#define TENSOR_MAX_DIMS 4

typedef struct {
    real *data;                   /* size elements, row-major (last dim fastest) */
    int ndim;                     /* 0..4 */
    int shape[TENSOR_MAX_DIMS];   /* unused trailing entries are 1 */
    size_t size;                  /* product of the shape */
} Tensor;

/* Allocates a zero-filled tensor of the given shape (ndim 1..4, each dim >= 0). */
int tensor_create(Tensor *t, int ndim, const int *shape, lsd_err *err);
/* Shorthand for tensor_create with the shape given as arguments. */
int tensor_create4(Tensor *t, int n, int c, int h, int w, lsd_err *err);
/* Releases t's memory and zeroes the struct; safe on a zeroed Tensor. */
void tensor_free(Tensor *t);
/* Changes the shape without moving data; the element count must stay the same. */
int tensor_reshape(Tensor *t, int ndim, const int *shape, lsd_err *err);
/* Sets every element to v. */
void tensor_fill(Tensor *t, real v);
/* Copies src into dst; both must have the same element count. */
int tensor_copy(Tensor *dst, const Tensor *src, lsd_err *err);

/* Element-wise helpers on raw arrays of n elements. */
void vec_fill(real *x, size_t n, real v);
void vec_copy(real *dst, const real *src, size_t n);
void vec_add(real *y, const real *x, size_t n);            /* y += x */
void vec_axpy(real *y, real a, const real *x, size_t n);   /* y += a*x */
void vec_scale(real *x, real a, size_t n);                 /* x *= a */
/* Sum in a fixed order (pairwise over blocks of 64), independent of threads. */
double vec_sum(const real *x, size_t n);

#endif
