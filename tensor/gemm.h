/*
 * gemm.h - general matrix multiply, C = alpha * op(A) * op(B) + beta * C.
 *
 * Row-major storage. op(A) is M x K, op(B) is K x N, C is M x N. transA = 0
 * means A is stored M x K with leading dimension lda (>= K); transA = 1 means
 * A is stored K x M (lda >= M) and used transposed. Likewise for B.
 * beta == 0 overwrites C without reading it (NaNs in C do not propagate).
 *
 * Deterministic: each element of C is computed by one thread with a fixed
 * summation order over k, so results are bit-identical for any thread count.
 */
#ifndef LSD_GEMM_H
#define LSD_GEMM_H

#include "common.h"

/* Cache-blocked, OpenMP-parallel over output tiles. */
void gemm(int transA, int transB, int M, int N, int K, real alpha, const real *A, int lda,
          const real *B, int ldb, real beta, real *C, int ldc);

/* The naive triple loop: the reference gemm is tested against. */
void gemm_naive(int transA, int transB, int M, int N, int K, real alpha, const real *A, int lda,
                const real *B, int ldb, real beta, real *C, int ldc);

#endif
