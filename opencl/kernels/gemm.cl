/*
 * gemm.cl - C = alpha * op(A) * op(B) + beta * C, row-major (tensor/gemm.h's gemm).
 *
 * Tiled and register-blocked: a work-group of (GEMM_TN/GEMM_RN) x (GEMM_TM/GEMM_RM)
 * work-items computes one GEMM_TM x GEMM_TN tile of C; the K axis is walked in panels of
 * GEMM_TK that the group stages in local memory (zero-padded at the edges); each work-item
 * keeps a GEMM_RM x GEMM_RN micro-tile of C in registers, its rows ty + i*(TM/RM) and
 * columns tx + j*(TN/RN). Each element of C is summed by one work-item in increasing k with
 * fma, so the result is deterministic. beta == 0 writes C without reading it.
 */
#define GEMM_NX (GEMM_TN / GEMM_RN)
#define GEMM_NY (GEMM_TM / GEMM_RM)
#define GEMM_NT (GEMM_NX * GEMM_NY)

__kernel __attribute__((reqd_work_group_size(GEMM_NX, GEMM_NY, 1)))
void gemm(int transA, int transB, int M, int N, int K, float alpha,
          __global const float *A, int oa, int lda, __global const float *B, int ob, int ldb,
          float beta, __global float *C, int oc, int ldc)
{
    __local float As[GEMM_TK][GEMM_TM];
    __local float Bs[GEMM_TK][GEMM_TN];
    const int tx = (int)get_local_id(0), ty = (int)get_local_id(1);
    const int tid = ty * GEMM_NX + tx;
    const int m0 = (int)get_group_id(1) * GEMM_TM, n0 = (int)get_group_id(0) * GEMM_TN;
    float acc[GEMM_RM][GEMM_RN];
    float a[GEMM_RM], b[GEMM_RN];
    int i, j, e, kk, k0;
    A += oa;
    B += ob;
    C += oc;
    for (i = 0; i < GEMM_RM; i++)
        for (j = 0; j < GEMM_RN; j++) acc[i][j] = 0.0f;
    for (k0 = 0; k0 < K; k0 += GEMM_TK) {
        for (e = tid; e < GEMM_TK * GEMM_TM; e += GEMM_NT) {
            int mm, k, m;
            float v = 0.0f;
            if (transA) { kk = e / GEMM_TM; mm = e % GEMM_TM; } /* A is (K, M): rows of m */
            else { mm = e / GEMM_TK; kk = e % GEMM_TK; }        /* A is (M, K): rows of k */
            m = m0 + mm;
            k = k0 + kk;
            if (m < M && k < K) v = transA ? A[k * lda + m] : A[m * lda + k];
            As[kk][mm] = v;
        }
        for (e = tid; e < GEMM_TK * GEMM_TN; e += GEMM_NT) {
            int nn, k, n;
            float v = 0.0f;
            if (transB) { nn = e / GEMM_TK; kk = e % GEMM_TK; } /* B is (N, K) */
            else { kk = e / GEMM_TN; nn = e % GEMM_TN; }        /* B is (K, N) */
            n = n0 + nn;
            k = k0 + kk;
            if (n < N && k < K) v = transB ? B[n * ldb + k] : B[k * ldb + n];
            Bs[kk][nn] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (kk = 0; kk < GEMM_TK; kk++) {
            for (i = 0; i < GEMM_RM; i++) a[i] = As[kk][ty + i * GEMM_NY];
            for (j = 0; j < GEMM_RN; j++) b[j] = Bs[kk][tx + j * GEMM_NX];
            for (i = 0; i < GEMM_RM; i++)
                for (j = 0; j < GEMM_RN; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (i = 0; i < GEMM_RM; i++) {
        int m = m0 + ty + i * GEMM_NY;
        if (m >= M) continue;
        for (j = 0; j < GEMM_RN; j++) {
            int n = n0 + tx + j * GEMM_NX;
            if (n >= N) continue;
            if (beta == 0.0f)
                C[m * ldc + n] = alpha * acc[i][j];
            else
                C[m * ldc + n] = alpha * acc[i][j] + beta * C[m * ldc + n];
        }
    }
}
