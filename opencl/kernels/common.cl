/*
 * common.cl - shared by every kernel file (the files are concatenated in the order of
 * lsd_cl_kernel_files in opencl/cl.c and built as one OpenCL C 1.2 program).
 *
 * Conventions of the kernels:
 * - Each kernel is the device twin of one C function of layers/ or tensor/ (same name where
 *   possible) and says which. Every buffer argument comes as (pointer, element offset), so
 *   host-side views into one arena cost nothing.
 * - Each output element is computed by one work-item in a fixed order; no atomics.
 *   Reductions: every work-item sums a fixed strided subset sequentially (Kahan-compensated),
 *   then a tree of fixed shape combines the work-group's partials. For a given device and
 *   work-group size the results are therefore deterministic.
 * - Floating-point contraction is off, as in the C build (-ffp-contract=off): a * b + c is
 *   two roundings unless a kernel calls fma() explicitly (only gemm does, for speed).
 * - Build defines (from cl.c): GEMM_TM, GEMM_TN, GEMM_TK, GEMM_RM, GEMM_RN.
 */
#pragma OPENCL FP_CONTRACT OFF

/* Largest work-group of the tree reductions (cl.c chooses a power of two <= this). */
#define RED_MAX 256

/* Start of block b of nblk blocks over [0, n): layers/loss.c's block_start. */
long lsd_block_start(long n, long nblk, long b) { return n / nblk * b + n % nblk * b / nblk; }

/* Adds v to the compensated sum (*s, *c) (Kahan). */
void kahan_add(float *s, float *c, float v)
{
    float y = v - *c;
    float t = *s + y;
    *c = (t - *s) - y;
    *s = t;
}

/* Tree sum of buf[0..L) for a work-group of L (power of two) items; every item gets it. */
float tree_sum(__local float *buf, float v)
{
    int lid = (int)get_local_id(0), s;
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (s = (int)get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] = buf[lid] + buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    v = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return v;
}
