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

/* The micro-kernel gemm runs on this machine: "avx512", "avx2" or "base" (the portable one;
 * the only one of builds without run-time dispatch). LSD_GEMM_KERNEL=base|avx2|avx512 forces
 * one; every kernel gives the same bits. */
const char *gemm_kernel_name(void);
/* LSD_OK unless LSD_GEMM_KERNEL names a kernel that is unknown or that this build or CPU
 * cannot run (the message says which can). */
int gemm_check_env(lsd_err *err);

/* Register tiles of the micro-kernels for vectors of `vbytes` bytes, GEMM_MR_OF rows by
 * GEMM_NR_OF columns of C, whose MR * NR / VLEN sums (8 to 16) stay in registers: 16-byte
 * vectors (SSE2, NEON, VSX, ...) 4 rows of two vectors, 32 (AVX, AVX2) 6 rows of two, 64
 * (AVX-512) 16 rows of one. With one vector a row, each broadcast element of A feeds a
 * single multiply, which the compiler folds into it (vmulps zmm, zmm, m32{1to16}). On an AMD
 * Zen 4 that pattern runs at the multiply-and-add peak (bench/bench_peak.c), and the gemm
 * is 1.3-1.5x as fast on large shapes as with 8 rows of two vectors, whose broadcast
 * register is shared by two multiplies (docs/performance.md, "gemm"). */
#define GEMM_MR_OF(vbytes) ((vbytes) >= 64 ? 16 : (vbytes) >= 32 ? 6 : 4)
#define GEMM_NR_OF(vbytes) (((vbytes) >= 64 ? 1 : 2) * (vbytes) / (int)sizeof(real))
/* The base kernel's vectors: those of the compiler's own target (16 bytes, or 32 / 64 in
 * -march builds with AVX / AVX-512), and its tile. layers/conv_kernels.c's direct path, which
 * repeats gemm's operations, uses these vectors in a tile of its own. */
#if defined(__AVX512F__)
#define GEMM_BASE_VBYTES 64
#elif defined(__AVX__)
#define GEMM_BASE_VBYTES 32
#else
#define GEMM_BASE_VBYTES 16
#endif
#define GEMM_BASE_MR GEMM_MR_OF(GEMM_BASE_VBYTES)
#define GEMM_BASE_NR GEMM_NR_OF(GEMM_BASE_VBYTES)

/* The naive triple loop: the reference gemm is tested against. */
void gemm_naive(int transA, int transB, int M, int N, int K, real alpha, const real *A, int lda,
                const real *B, int ldb, real beta, real *C, int ldc);

#endif
