/*
 * gemm.c - C = alpha * op(A) * op(B) + beta * C, row-major.
 *
 * The reference, gemm_naive, computes each element as
 *     acc = 0; for k = 0..K-1: acc += a(i,k) * b(k,j);
 *     C = alpha * acc            (beta == 0, C is not read)
 *     C = alpha * acc + beta * C (otherwise)
 * in `real` arithmetic. The fast gemm performs exactly the same operations in
 * exactly the same order for every element, so the two agree bit for bit and
 * the result does not depend on the thread count. Speed comes from
 *   - a register-blocked micro-kernel: a tile of rows x nr sums (rows <= MR), updated
 *     with one row of B (nr contiguous values, vectorized by the compiler) per
 *     broadcast element of A. The last strip of rows has exactly the rows left (M = 4
 *     computes 4 rows, not MR); in the last k block a full tile goes to C straight from
 *     the registers, alpha * sum (+ beta * C);
 *   - packing: blocks of op(A) are copied into strips (for each k, the strip's rows
 *     contiguous), strips of NR columns of op(B) likewise by k, zero-padded at the right
 *     edge. The kernel takes the row stride of B: a full strip of an untransposed B that
 *     serves at most four strips of A is read in place, not copied;
 *   - small M with op(B) transposed (M < N, M <= 4 NR; a convolution's weight gradient:
 *     M output channels, N = C*KH*KW, K = pixels): the product is computed transposed,
 *     C^T = op(B)^T op(A)^T, so that the large operand, op(B), is the broadcast side, read
 *     in place (the kernel takes its row and k strides), and only op(A)^T is packed, in
 *     strips of NR, NR/2 or NR/4 columns (the narrowest that holds M); the tiles go to C
 *     transposed. Each element still sums the products a(i,k) * b(k,j) over k in order
 *     (the product commutes);
 *   - cache blocking: the k range is cut into blocks of at most KC, evened out; a running
 *     sum stays in a `real` tile between blocks, which changes no rounding;
 *   - OpenMP over macro tiles of C (MC x NC), each computed by one thread.
 * No intrinsics: the vector width only selects the tile sizes. A portable x86-64
 * build compiles the micro-kernel also for AVX2 and AVX-512 (target attributes) and
 * picks one at run time; all variants do the same operations in the same order.
 */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "gemm.h"

/* Register tiles MR x NR (tensor/gemm.h, GEMM_MR_OF and GEMM_NR_OF): the base kernel's, of
 * the compiler's own target (-march=native picks the wider ones at build time), and those
 * of the run-time AVX2 and AVX-512 kernels. */
#define MR_BASE GEMM_BASE_MR
#define NR_BASE GEMM_BASE_NR
#define MR_AVX GEMM_MR_OF(32)
#define NR_AVX GEMM_NR_OF(32)
#define MR_512 GEMM_MR_OF(64)
#define NR_512 GEMM_NR_OF(64)
/* The most rows and columns of any tile (the sums s[] of kernel_body). */
#define TILE_MAX(a, b, c) ((a) > (b) ? ((a) > (c) ? (a) : (c)) : ((b) > (c) ? (b) : (c)))
#define MR_MAX TILE_MAX(MR_BASE, MR_AVX, MR_512)
#define NR_MAX TILE_MAX(NR_BASE, NR_AVX, NR_512)
#define MR_NARROW 8 /* rows of the tiles NR/2 and NR/4 wide (one vector or less a row) */

/* Run-time dispatch: a portable x86-64 build (baseline SSE2) also compiles the micro-kernel
 * for AVX2 and AVX-512 with GCC's/clang's target attribute and picks the widest one the CPU
 * supports (__builtin_cpu_supports). "no-fma" keeps fused multiply-adds out even where the
 * flags would allow contraction; -ffp-contract=off forbids them anyway. Other compilers
 * (tcc), other architectures and -march builds with AVX compile the base kernel only
 * (LSD_CPU_DISPATCH, tensor/common.h). */
#ifdef LSD_CPU_DISPATCH /* tensor/common.h */
#define LSD_GEMM_DISPATCH 1
#endif

/* Cache blocks (upper bounds): a KC x NR strip of packed B stays in L1 while
 * the MC x KC block of packed A streams from L2. Macro tiles are MC x NC at
 * most, evened out so that the edge tiles are not tiny: MC is MC_ROWS rounded down to a
 * multiple of MR, whatever the kernel (a 256 KB block of floats, half of a 512 KB L2), so
 * that a packed B strip serves as many rows with 6- or 4-row tiles as with 16-row ones;
 * NC = 32 NR. (MC = 16 MR, 96 rows for the AVX2 tile, made it 15-20% slower on the
 * shapes 128x51200x1152 and 4096x231x25088: bench_gemm.) */
#define KC 256
#define MC_ROWS 256
#define NC_TILES 32

#define ALIGN 64
/* Most elements of op(A) a thread keeps packed for all the tiles of a row block, and of
 * op(B) for all the tiles of the one range of columns. */
#define A_KEEP_MAX ((size_t)4 << 20)
#define B_KEEP_MAX ((size_t)8 << 20)

/* Element (i,k) of op(A) and (k,j) of op(B). */
#define OPA(i, k) (transA ? A[(size_t)(k) * lda + (i)] : A[(size_t)(i) * lda + (k)])
#define OPB(k, j) (transB ? B[(size_t)(j) * ldb + (k)] : B[(size_t)(k) * ldb + (j)])

/* The final combination of one element: alpha * acc (+ beta * c). */
static real combine(real alpha, real acc, real beta, real c)
{
    if (beta == 0) return alpha * acc;
    return alpha * acc + beta * c;
}

/* Naive loop over the rows i0..i1-1 and columns j0..j1-1 of C. */
static void naive_block(int transA, int transB, int i0, int i1, int j0, int j1, int K,
                        real alpha, const real *A, int lda, const real *B, int ldb, real beta,
                        real *C, int ldc)
{
    int i, j, k;
    for (i = i0; i < i1; i++) {
        for (j = j0; j < j1; j++) {
            real acc = 0;
            real *c = &C[(size_t)i * ldc + j];
            for (k = 0; k < K; k++) acc += OPA(i, k) * OPB(k, j);
            *c = combine(alpha, acc, beta, *c);
        }
    }
}

/* The reference triple loop, one element at a time, k in increasing order. */
void gemm_naive(int transA, int transB, int M, int N, int K, real alpha, const real *A, int lda,
                const real *B, int ldb, real beta, real *C, int ldc)
{
    naive_block(transA, transB, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#if defined(__GNUC__) && !defined(__TINYC__)
#define LSD_ALWAYS_INLINE __attribute__((always_inline)) inline
#define LSD_NOINLINE __attribute__((noinline))
#else
#define LSD_ALWAYS_INLINE inline
#define LSD_NOINLINE
#endif

/* Unrolling the tile loops lets the compiler keep the sums s[] in registers: gcc needs the
 * row loop unrolled, clang both (without, it keeps the tile on the stack). Unrolled, the
 * rows of a strip being packed become a block of moves (vector transposes with gcc). Only
 * for loops of a constant count (clang warns where it cannot unroll in full). */
#if defined(__clang__)
#define LSD_UNROLL_ROWS _Pragma("clang loop unroll(full)")
#define LSD_UNROLL_COLS _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__) && !defined(__TINYC__)
#define LSD_UNROLL_ROWS _Pragma("GCC unroll 16")
#define LSD_UNROLL_COLS
#else
#define LSD_UNROLL_ROWS
#define LSD_UNROLL_COLS
#endif

/* dst[p * n + j] = src[p * ld + j] for p < kc, j < n: kc runs of n contiguous values. */
static LSD_ALWAYS_INLINE void copy_runs(real *restrict dst, const real *restrict src, int kc,
                                        size_t ld, int n)
{
    int p, j;
    for (p = 0; p < kc; p++, src += ld, dst += n)
        for (j = 0; j < n; j++) dst[j] = src[j];
}

/* copy_runs with n a constant where it is a common tile width: runs of 4, 8 or 16 values
 * become a few vector moves instead of a call of memcpy each (what a compiler makes of a
 * loop of unknown length), which took a tenth of the time of a convolution's gemm. */
static void copy_strip(real *restrict dst, const real *restrict src, int kc, size_t ld, int n)
{
    switch (n) {
    case 4: copy_runs(dst, src, kc, ld, 4); break;
    case 8: copy_runs(dst, src, kc, ld, 8); break;
    case 16: copy_runs(dst, src, kc, ld, 16); break;
    default: copy_runs(dst, src, kc, ld, n); break;
    }
}

/* dst[p * n + r] = src[r * ld + p] for p < kc, r < n: n rows read side by side, written
 * one k after the other (contiguous writes, n streams of reads). Inlined with n a constant
 * only: the row loop is unrolled. */
static LSD_ALWAYS_INLINE void interleave_runs(real *restrict dst, const real *restrict src, int kc,
                                              size_t ld, int n)
{
    int p, r;
    for (p = 0; p < kc; p++, dst += n) {
        LSD_UNROLL_ROWS
        for (r = 0; r < n; r++) dst[r] = src[(size_t)r * ld + p];
    }
}

/* dst[p * n + r] = src[r * ld + p] for p < kc, r < n: interleave_runs where n is a strip's
 * height or width (MR: 16, 6 or 4 rows; NR: 16, 8 or 4 columns). Copied a row at a time,
 * with scalar writes n apart, op(A) took a tenth of fc6's time (411 MB of weights read in
 * runs of KC values); side by side, fc6 forward is 9% faster. */
static void interleave_rows(real *restrict dst, const real *restrict src, int kc, size_t ld, int n)
{
    int p, r;
    switch (n) {
    case 4: interleave_runs(dst, src, kc, ld, 4); break;
    case 6: interleave_runs(dst, src, kc, ld, 6); break;
    case 8: interleave_runs(dst, src, kc, ld, 8); break;
    case 16: interleave_runs(dst, src, kc, ld, 16); break;
    default:
        for (p = 0; p < kc; p++, dst += n)
            for (r = 0; r < n; r++) dst[r] = src[(size_t)r * ld + p];
        break;
    }
}

/* Packs rows i0..i0+mc-1, k = p0..p0+kc-1 of op(A) into strips of mr rows (the last one
 * has the rows left, mc - s): strip s starts at s * kc and holds, for each k, its rows'
 * values a(i0+s+r, k), no padding. */
static void pack_a(int transA, const real *A, int lda, int i0, int mc, int p0, int kc, int mr,
                   real *restrict Ap)
{
    int s;
    for (s = 0; s < mc; s += mr) {
        int rows = mc - s < mr ? mc - s : mr;
        real *restrict dst = Ap + (size_t)s * kc;
        if (transA) {
            /* a(i, k) = A[k][i]: the rows' values are contiguous for each k */
            copy_strip(dst, A + (size_t)p0 * lda + i0 + s, kc, (size_t)lda, rows);
        } else {
            /* a(i, k) = A[i][k]: the rows read side by side, k by k */
            interleave_rows(dst, A + (size_t)(i0 + s) * lda + p0, kc, (size_t)lda, rows);
        }
    }
}

/* Packs k = p0..p0+kc-1, columns j0..j0+nc-1 (nc <= nr) of op(B) into one strip:
 * for each k, the nr values b(k, j0+j), padded with 0. Columns >= *zero_from are 0 in all
 * `cap` rows of Bp already, so the padding is written only where it may not be. */
static void pack_b(int transB, const real *B, int ldb, int p0, int kc, int j0, int nc, int nr,
                   real *restrict Bp, int *zero_from, int cap)
{
    int j, p;
    if (!transB && nc == nr) {
        /* b(k, j) = B[k][j]: nc contiguous values per k */
        copy_strip(Bp, B + (size_t)p0 * ldb + j0, kc, (size_t)ldb, nr);
    } else if (!transB) {
        for (p = 0; p < kc; p++) {
            const real *src = B + (size_t)(p0 + p) * ldb + j0;
            for (j = 0; j < nc; j++) Bp[p * nr + j] = src[j];
        }
    } else if (nc == nr) {
        /* b(k, j) = B[j][k]: the strip's nr rows of B read side by side */
        interleave_rows(Bp, B + (size_t)j0 * ldb + p0, kc, (size_t)ldb, nr);
    } else {
        /* b(k, j) = B[j][k]: column j of the strip is row j of B */
        for (j = 0; j < nc; j++) {
            const real *restrict src = B + (size_t)(j0 + j) * ldb + p0;
            for (p = 0; p < kc; p++) Bp[p * nr + j] = src[p];
        }
    }
    if (*zero_from > nc) {
        for (p = 0; p < cap; p++)
            for (j = nc; j < *zero_from; j++) Bp[p * nr + j] = 0;
    }
    *zero_from = nc;
}

/* One call of the micro-kernel: the rows x nr tile of sums over kc values of k. */
typedef struct {
    int kc, rows, nr, first; /* nr: NR, NR/2 or NR/4; first: the sums start at 0 */
    const real *a;           /* a(r, p) = a[r * ar + p * ak]: packed (1, rows) or in place */
    size_t ar, ak;
    const real *b;           /* kc rows of nr values of op(B), ldb apart (nr when packed) */
    size_t ldb;
    real *acc;               /* (rows, nr) running sums, kept between k blocks */
    real *c;                 /* NULL, or the tile's corner in C (full tile, last k block) */
    size_t ldc;
    real alpha, beta;        /* the final combination, when c is set */
} ktile;

/* Micro-kernel body for an MR x NR tile (constants where it is inlined): the running sums
 * (0 when first, else acc) get, for p = 0..kc-1 in order, s[r][j] += a(r, p) * b[p][j];
 * they live in registers, and at the end go to acc or, when t->c is set, become
 * c = alpha * s (+ beta * c). Every variant performs exactly these operations in this order. */
static LSD_ALWAYS_INLINE void kernel_body(int MR, int NR, const ktile *t)
{
    real s[MR_MAX * NR_MAX];
    const real *restrict a = t->a, *restrict b = t->b;
    size_t ar = t->ar, ak = t->ak, ldb = t->ldb;
    int p, r, j, kc = t->kc;
    LSD_UNROLL_ROWS
    for (r = 0; r < MR; r++) {
        LSD_UNROLL_COLS
        for (j = 0; j < NR; j++) s[r * NR + j] = 0;
    }
    if (!t->first) {
        const real *restrict acc = t->acc;
        LSD_UNROLL_ROWS
        for (r = 0; r < MR; r++) {
            LSD_UNROLL_COLS
            for (j = 0; j < NR; j++) s[r * NR + j] = acc[r * NR + j];
        }
    }
    for (p = 0; p < kc; p++, a += ak, b += ldb) {
        LSD_UNROLL_ROWS
        for (r = 0; r < MR; r++) {
            real x = a[r * ar];
            LSD_UNROLL_COLS
            for (j = 0; j < NR; j++) s[r * NR + j] += x * b[j];
        }
    }
    if (!t->c) {
        real *restrict acc = t->acc;
        LSD_UNROLL_ROWS
        for (r = 0; r < MR; r++) {
            LSD_UNROLL_COLS
            for (j = 0; j < NR; j++) acc[r * NR + j] = s[r * NR + j];
        }
    } else if (t->beta == 0) {
        real alpha = t->alpha;
        LSD_UNROLL_ROWS
        for (r = 0; r < MR; r++) {
            real *restrict d = t->c + (size_t)r * t->ldc;
            LSD_UNROLL_COLS
            for (j = 0; j < NR; j++) d[j] = alpha * s[r * NR + j];
        }
    } else {
        real alpha = t->alpha, beta = t->beta;
        LSD_UNROLL_ROWS
        for (r = 0; r < MR; r++) {
            real *restrict d = t->c + (size_t)r * t->ldc;
            LSD_UNROLL_COLS
            for (j = 0; j < NR; j++) d[j] = alpha * s[r * NR + j] + beta * d[j];
        }
    }
}

/* The body for t->rows rows (1..MR) of an MR x NR kernel: each row count is its own
 * instance, with the sums in registers. */
#define KERNEL_ROWS(MR, NR, t)                                                                 \
    do {                                                                                       \
        switch ((t)->rows) {                                                                   \
        case 1: kernel_body(1, NR, t); break;                                                  \
        case 2: kernel_body(2, NR, t); break;                                                  \
        case 3: kernel_body(3, NR, t); break;                                                  \
        case 4: kernel_body(4, NR, t); break;                                                  \
        case 5: if ((MR) >= 5) kernel_body(5, NR, t); break;                                   \
        case 6: if ((MR) >= 6) kernel_body(6, NR, t); break;                                   \
        case 7: if ((MR) >= 7) kernel_body(7, NR, t); break;                                   \
        case 8: if ((MR) >= 8) kernel_body(8, NR, t); break;                                   \
        case 9: if ((MR) >= 9) kernel_body(9, NR, t); break;                                   \
        case 10: if ((MR) >= 10) kernel_body(10, NR, t); break;                                \
        case 11: if ((MR) >= 11) kernel_body(11, NR, t); break;                                \
        case 12: if ((MR) >= 12) kernel_body(12, NR, t); break;                                \
        case 13: if ((MR) >= 13) kernel_body(13, NR, t); break;                                \
        case 14: if ((MR) >= 14) kernel_body(14, NR, t); break;                                \
        case 15: if ((MR) >= 15) kernel_body(15, NR, t); break;                                \
        default: if ((MR) >= 16) kernel_body(16, NR, t); break;                                \
        }                                                                                      \
    } while (0)

/* The tiles of a kernel: MR x NR, and MR_NARROW x NR/2 and x NR/4 (t->nr says which). */
#define KERNEL_TILES(MR, NR, t)                                                                \
    do {                                                                                       \
        if ((t)->nr == (NR)) KERNEL_ROWS(MR, NR, t);                                           \
        else if ((t)->nr == (NR) / 2) KERNEL_ROWS(MR_NARROW, (NR) / 2, t);                     \
        else KERNEL_ROWS(MR_NARROW, (NR) / 4, t);                                              \
    } while (0)

typedef void (*kernel_fn)(const ktile *t);

/* The kernel for the compiler's target. */
static LSD_NOINLINE void kernel_base(const ktile *t)
{
    KERNEL_TILES(MR_BASE, NR_BASE, t);
}

#ifdef LSD_GEMM_DISPATCH
/* The same kernel compiled for AVX2 and for AVX-512 (tiles of their vector width). */
__attribute__((noinline, target("avx2,no-fma"))) static void kernel_avx2(const ktile *t)
{
    KERNEL_TILES(MR_AVX, NR_AVX, t);
}

__attribute__((noinline, target("avx512f,no-fma"))) static void kernel_avx512(const ktile *t)
{
    KERNEL_TILES(MR_512, NR_512, t);
}
#endif

/* The micro-kernel chosen for this machine and its tile size. */
typedef struct {
    kernel_fn fn;
    int mr, nr;
} kernel;

/* The kernels a build may pick, widest first (a build without dispatch has "base" only). */
static int cpu_has(const char *name)
{
#ifdef LSD_GEMM_DISPATCH
    __builtin_cpu_init();
    if (!strcmp(name, "avx512")) return __builtin_cpu_supports("avx512f");
    if (!strcmp(name, "avx2")) return __builtin_cpu_supports("avx2");
#endif
    return !strcmp(name, "base");
}

/* The widest kernel this CPU runs, a pure function of the CPU. The environment variable
 * LSD_GEMM_KERNEL=base|avx2|avx512 forces one (tests, benchmarks, and checking that every
 * kernel gives the same bits); gemm_check_env refuses a value this build or CPU cannot run,
 * and here an unusable value falls back to the automatic choice. */
static kernel pick_kernel(void)
{
    kernel k;
    const char *force = getenv("LSD_GEMM_KERNEL");
    k.fn = kernel_base; k.mr = MR_BASE; k.nr = NR_BASE;
    if (force && !strcmp(force, "base")) return k;
    if (force && (strcmp(force, "avx2") && strcmp(force, "avx512"))) force = NULL;
    if (force && !cpu_has(force)) force = NULL;
#ifdef LSD_GEMM_DISPATCH
    if ((!force || !strcmp(force, "avx512")) && cpu_has("avx512")) {
        k.fn = kernel_avx512; k.mr = MR_512; k.nr = NR_512;
    } else if (cpu_has("avx2")) {
        k.fn = kernel_avx2; k.mr = MR_AVX; k.nr = NR_AVX;
    }
#endif
    return k;
}

const char *gemm_kernel_name(void)
{
    kernel k = pick_kernel();
#ifdef LSD_GEMM_DISPATCH
    if (k.fn == kernel_avx512) return "avx512";
    if (k.fn == kernel_avx2) return "avx2";
#endif
    (void)k;
    return "base";
}

int gemm_check_env(lsd_err *err)
{
    const char *force = getenv("LSD_GEMM_KERNEL");
    if (!force || !*force) return LSD_OK;
    if (strcmp(force, "base") && strcmp(force, "avx2") && strcmp(force, "avx512"))
        return lsd_fail(err, LSD_ERR_ARG, "LSD_GEMM_KERNEL=%.40s: the kernels are base, avx2 and "
                        "avx512 (unset it to let the CPU choose)", force);
    if (!cpu_has(force))
        return lsd_fail(err, LSD_ERR_ARG, "LSD_GEMM_KERNEL=%s: %s", force,
#ifdef LSD_GEMM_DISPATCH
                        "this CPU does not run it (unset it, or choose a narrower kernel)"
#else
                        "this build has one kernel, base (run-time dispatch is for portable "
                        "x86-64 builds with gcc or clang): unset it or set it to base"
#endif
        );
    return LSD_OK;
}

/* Scratch of one thread: packed A block, one packed B strip, running sums. */
typedef struct {
    real *ap;     /* (MC/MR strips, KC, MR), or with keep_a every k block of a row block */
    int ap_i0;    /* with keep_a: the first row of the row block ap holds, or -1 */
    real *bp;     /* (KC, NR) */
    int bp_zero;  /* the columns of bp from this one on are 0 in all its rows */
    real *bk;     /* with keep_b: op(B) packed, (k blocks, strips, kc, NR) */
    int bk_full;  /* with keep_b: bk holds every strip */
    real *t;      /* (NC/NR, MC/MR, MR, NR) running sums of one macro tile */
} scratch;

/* The product that the macro tiles compute, the same for each: C = alpha op(A) op(B) + beta C,
 * or, swapped, its transpose (then A, B are the caller's B, A and C is read transposed). */
typedef struct {
    int transA, transB, M, N, K;
    real alpha, beta;
    const real *A, *B;
    int lda, ldb;
    real *C;         /* element (i, j) is C[i * csr + j * csc] */
    size_t csr, csc;
    int a_in_place;  /* the kernel reads op(A) in place, a(i, k) = A[i * ar + k * ak] */
    size_t ar, ak;
    int mr, nr;      /* the tile: MR x NR, or MR_NARROW x NR/2 or NR/4 */
    int kc;          /* k block: K cut into blocks of at most KC, evened out */
    int keep_a;      /* a thread packs op(A)'s rows once for all its tiles of a row block */
    int keep_b;      /* one range of columns: a thread packs op(B) once for all its tiles */
    kernel_fn fn;
} gemm_args;

/* c[j] = combine(alpha, a[j], beta, c[j]) for j < n, with the test on beta hoisted out of
 * the loop. */
static void store_row(real *restrict c, const real *restrict a, int n, real alpha, real beta)
{
    int j;
    if (beta == 0)
        for (j = 0; j < n; j++) c[j] = alpha * a[j];
    else
        for (j = 0; j < n; j++) c[j] = alpha * a[j] + beta * c[j];
}

/* Writes the rows x cols corner of a tile of sums (rows of g->nr) at (i0, j0). */
static void store_tile(const gemm_args *g, const real *acc, int i0, int rows, int j0, int cols)
{
    int r, j;
    for (r = 0; r < rows; r++) {
        real *c = g->C + (size_t)(i0 + r) * g->csr + (size_t)j0 * g->csc;
        const real *a = acc + (size_t)r * g->nr;
        if (g->csc == 1)
            store_row(c, a, cols, g->alpha, g->beta);
        else
            for (j = 0; j < cols; j++, c += g->csc) *c = combine(g->alpha, a[j], g->beta, *c);
    }
}

/* Computes the macro tile with rows i0..i0+mc-1 and columns j0..j0+nc-1: for each k block,
 * A is packed (unless read in place, or kept packed from the thread's previous tile), then
 * each B strip is packed (into L1; or kept, with keep_b) or, when it is full, not
 * transposed and serves at most four A strips, read in place, and swept by all A strips. In
 * the last k block full tiles go to C from the kernel (where C's rows are contiguous), the
 * others through store_tile. */
static void macro_tile(const gemm_args *g, int i0, int mc, int j0, int nc, scratch *w)
{
    int MR = g->mr, NR = g->nr, ms = (mc + MR - 1) / MR, ns = (nc + NR - 1) / NR;
    int b_in_place = !g->transB && ms <= 4, p0, s, t, kc, packed = g->keep_a && w->ap_i0 == i0;
    int keep_b = g->keep_b && !b_in_place, packed_b = keep_b && w->bk_full;
    real *ap = w->ap; /* the packed block of op(A) for this k block */
    ktile kt;
    kt.nr = NR; kt.alpha = g->alpha; kt.beta = g->beta; kt.ldc = g->csr;
    for (p0 = 0; p0 < g->K; p0 += kc) {
        int last;
        kc = g->K - p0 < g->kc ? g->K - p0 : g->kc;
        last = p0 + kc == g->K;
        kt.kc = kc; kt.first = p0 == 0;
        if (g->keep_a) ap = w->ap + (size_t)p0 * mc; /* k block after k block */
        if (!g->a_in_place && !packed)
            pack_a(g->transA, g->A, g->lda, i0, mc, p0, kc, MR, ap);
        for (t = 0; t < ns; t++) {
            int j = j0 + t * NR, cols = nc - t * NR < NR ? nc - t * NR : NR;
            if (b_in_place && cols == NR) {
                kt.b = g->B + (size_t)p0 * g->ldb + j;
                kt.ldb = (size_t)g->ldb;
            } else if (keep_b) { /* strip t of k block p0 */
                real *bk = w->bk + (size_t)p0 * ns * NR + (size_t)t * kc * NR;
                int zero_from = NR; /* a fresh place: pad it */
                if (!packed_b)
                    pack_b(g->transB, g->B, g->ldb, p0, kc, j, cols, NR, bk, &zero_from, kc);
                kt.b = bk;
                kt.ldb = (size_t)NR;
            } else {
                pack_b(g->transB, g->B, g->ldb, p0, kc, j, cols, NR, w->bp, &w->bp_zero, g->kc);
                kt.b = w->bp;
                kt.ldb = (size_t)NR;
            }
            for (s = 0; s < ms; s++) {
                int i = i0 + s * MR;
                kt.rows = mc - s * MR < MR ? mc - s * MR : MR;
                if (g->a_in_place) {
                    kt.a = g->A + (size_t)i * g->ar + (size_t)p0 * g->ak;
                    kt.ar = g->ar; kt.ak = g->ak;
                } else {
                    kt.a = ap + (size_t)s * MR * kc;
                    kt.ar = 1; kt.ak = (size_t)kt.rows;
                }
                kt.acc = w->t + ((size_t)t * ms + s) * MR * NR;
                kt.c = last && cols == NR && g->csc == 1 ? g->C + (size_t)i * g->csr + j : NULL;
                g->fn(&kt);
                if (last && !kt.c) store_tile(g, kt.acc, i, kt.rows, j, cols);
            }
        }
    }
    if (g->keep_a) w->ap_i0 = i0;
    if (keep_b) w->bk_full = 1;
}

/* Rounds n up to a multiple of ALIGN bytes' worth of reals. */
static size_t round_up(size_t n)
{
    size_t q = ALIGN / sizeof(real);
    return (n + q - 1) / q * q;
}

/* Splits n into parts of at most `most` (a multiple of `unit`), evened out to
 * multiples of unit; at least `want` parts while each keeps >= `least` units. Returns the
 * step. */
static int split(int n, int most, int unit, int want, int least)
{
    long long parts = ((long long)n + most - 1) / most, step;
    while (parts < want && ((long long)n + parts) / (parts + 1) >= (long long)least * unit)
        parts++;
    step = ((long long)n + parts - 1) / parts;
    return (int)((step + unit - 1) / unit * unit);
}

/* Cache-blocked, packed, OpenMP-parallel over macro tiles; bit-identical to gemm_naive. */
void gemm(int transA, int transB, int M, int N, int K, real alpha, const real *A, int lda,
          const real *B, int ldb, real beta, real *C, int ldc)
{
    gemm_args g;
    kernel k;
    size_t per, ap_n, bp_n, t_n, bk_n;
    int nthr = 1, mstep, nstep, mt, nt, ntiles, tile, kb;
    double flops = 2.0 * M * N * K;
    real *buf;
    char *raw;
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || flops < 16384) {
        naive_block(transA, transB, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    k = pick_kernel();
    g.K = K; g.alpha = alpha; g.beta = beta; g.C = C; g.fn = k.fn;
    if (transB && M <= 4 * k.nr && M < N) {
        /* C^T = op(B)^T op(A)^T: op(B)^T read in place, op(A)^T packed (N x K read once,
         * only M x K copied), in one narrow strip where M is at most NR/4 or NR/2 */
        g.transA = !transB; g.transB = !transA; g.M = N; g.N = M;
        g.A = B; g.lda = ldb; g.B = A; g.ldb = lda;
        g.csr = 1; g.csc = (size_t)ldc;
        g.a_in_place = 1;
        g.nr = M <= k.nr / 4 ? k.nr / 4 : M <= k.nr / 2 ? k.nr / 2 : k.nr;
        g.mr = g.nr == k.nr ? k.mr : MR_NARROW;
    } else {
        g.transA = transA; g.transB = transB; g.M = M; g.N = N;
        g.A = A; g.lda = lda; g.B = B; g.ldb = ldb;
        g.csr = (size_t)ldc; g.csc = 1;
        /* with one or two strips of columns each value of op(A) serves at most 2 NR
         * products: the kernel reads it in place rather than after a copy (fc6 at 64x128:
         * 15 columns; conv1_1's weight gradient 64x27x38500; 1.7-2.5x faster), except where
         * its rows are a multiple of 4 KB apart and 16 of them share a set of the L1 cache
         * (1024x32x1024 1.2x slower in place) */
        g.a_in_place = N <= 2 * k.nr && (transA || (size_t)lda * sizeof(real) % 4096 != 0);
        g.mr = k.mr; g.nr = k.nr;
    }
    g.ar = g.transA ? 1 : (size_t)g.lda;
    g.ak = g.transA ? (size_t)g.lda : 1;

#ifdef _OPENMP
    nthr = omp_get_max_threads();
    if (flops < 4e6) nthr = 1;
#endif
    /* tiles: M first; N is cut further until every thread has a few tiles (M is, when N
     * is a single strip: then the copy of that strip is all that a tile repeats) */
    mstep = g.N <= g.nr && nthr > 1 ? split(g.M, MC_ROWS / g.mr * g.mr, g.mr, nthr, 1)
                                    : split(g.M, MC_ROWS / g.mr * g.mr, g.mr, 1, 4);
    mt = (g.M + mstep - 1) / mstep;
    nstep = split(g.N, NC_TILES * g.nr, g.nr, nthr > 1 ? (4 * nthr + mt - 1) / mt : 1, 4);
    nt = (g.N + nstep - 1) / nstep;
    /* few tiles that the threads cannot share evenly (a weight gradient: M and N small, K
     * long; 64x27 ran on one thread, 128x48 on 2:1): tiles of as few as one strip of
     * columns, then, if still uneven, of fewer rows (each such tile packs its own copy of
     * its strips of B). conv1_1's weight gradient 64x27x38500: 1.8x faster with 2 threads */
    if (nthr > 1 && mt * nt < 2 * nthr && (mt * nt) % nthr != 0) {
        int strips = (g.N + g.nr - 1) / g.nr, parts = strips < 2 * nthr ? strips : 2 * nthr;
        nstep = (strips + parts - 1) / parts * g.nr;
        nt = (g.N + nstep - 1) / nstep;
        if (mt * nt < 2 * nthr && (mt * nt) % nthr != 0) {
            mstep = split(g.M, MC_ROWS / g.mr * g.mr, g.mr, (2 * nthr + nt - 1) / nt, 1);
            mt = (g.M + mstep - 1) / mstep;
        }
    }
    ntiles = mt * nt;
    if (nthr > ntiles) nthr = ntiles;
    kb = (K + KC - 1) / KC;
    g.kc = (K + kb - 1) / kb;
    /* a thread with several tiles of one row block packs its rows of op(A) once, not once
     * a tile, where they are small (a convolution's weights): with few rows and many tiles
     * of columns, 2 threads packed them 7 times in all (forward 128x642x1152: 3% faster
     * with 1 thread, 11% with 2; weight gradient 128x1152x642: 4% and 7%) */
    g.keep_a = !g.a_in_place && nt > 1 && (size_t)mstep * K <= A_KEEP_MAX;
    ap_n = round_up((size_t)mstep * (g.keep_a ? K : g.kc));
    bp_n = round_up((size_t)g.nr * g.kc);
    /* with one range of columns and several row blocks, a thread packs op(B) once for all
     * its row blocks, not once a block (fc6: 4096x231x25088, B packed 16 times; its input
     * gradient 25088x231x4096, 98 times) */
    bk_n = (size_t)K * ((nstep + g.nr - 1) / g.nr * g.nr);
    g.keep_b = nt == 1 && mt > 1 && bk_n <= B_KEEP_MAX;
    bk_n = g.keep_b ? round_up(bk_n) : 0;
    t_n = round_up((size_t)mstep * nstep);
    per = ap_n + bp_n + t_n + bk_n;
    raw = malloc(per * sizeof(real) * (size_t)nthr + ALIGN);
    if (!raw) {
        naive_block(transA, transB, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    buf = (real *)(void *)(raw + (ALIGN - (size_t)((uintptr_t)raw % ALIGN)));

#ifdef _OPENMP
#pragma omp parallel num_threads(nthr) if (nthr > 1)
#endif
    {
        scratch w;
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        w.ap = buf + (size_t)tid * per;
        w.ap_i0 = -1;
        w.bp = w.ap + ap_n;
        w.bp_zero = g.nr;
        w.t = w.bp + bp_n;
        w.bk = w.t + t_n;
        w.bk_full = 0;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (tile = 0; tile < ntiles; tile++) {
            int i0 = (tile / nt) * mstep, j0 = (tile % nt) * nstep;
            int mc = g.M - i0 < mstep ? g.M - i0 : mstep, nc = g.N - j0 < nstep ? g.N - j0 : nstep;
            macro_tile(&g, i0, mc, j0, nc, &w);
        }
    }
    free(raw);
}
