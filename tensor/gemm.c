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
 *   - packing: blocks of op(A) and op(B) are copied into contiguous panels
 *     (MR rows of A, NR columns of B, interleaved by k), zero-padded at edges;
 *   - a register-blocked micro-kernel: an MR x NR tile of accumulators, updated
 *     with one row of B (NR contiguous values, vectorized by the compiler) per
 *     broadcast element of A;
 *   - cache blocking: the k range is cut into blocks of KC; a running sum
 *     stays in a `real` tile between blocks, which changes no rounding;
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

/* Register tiles MR x NR: NR is two SIMD vectors of `real`, MR rows keep the MR * NR / VLEN
 * accumulators (12 to 16) in registers. VLEN_OF(bytes) is a vector's length in reals. */
#ifdef LSD_DOUBLE
#define VLEN_OF(bytes) ((bytes) / 8)
#else
#define VLEN_OF(bytes) ((bytes) / 4)
#endif
#define MR_SSE 4 /* 16-byte vectors: SSE2, NEON, VSX, ... */
#define NR_SSE (2 * VLEN_OF(16))
#define MR_AVX 6 /* 32-byte vectors: AVX, AVX2 */
#define NR_AVX (2 * VLEN_OF(32))
#define MR_512 8 /* 64-byte vectors: AVX-512 */
#define NR_512 (2 * VLEN_OF(64))
#define MR_MAX 8
#define NR_MAX NR_512

/* The tile of the compiler's own target (-march=native picks the wider ones at build time). */
#if defined(__AVX512F__)
#define MR_BASE MR_512
#define NR_BASE NR_512
#elif defined(__AVX__)
#define MR_BASE MR_AVX
#define NR_BASE NR_AVX
#else
#define MR_BASE MR_SSE
#define NR_BASE NR_SSE
#endif

/* Run-time dispatch: a portable x86-64 build (baseline SSE2) also compiles the micro-kernel
 * for AVX2 and AVX-512 with GCC's/clang's target attribute and picks the widest one the CPU
 * supports (__builtin_cpu_supports). "no-fma" keeps fused multiply-adds out even where the
 * flags would allow contraction; -ffp-contract=off forbids them anyway. Other compilers
 * (tcc), other architectures and -march builds with AVX compile the base kernel only.
 * Define LSD_NO_DISPATCH to turn it off. */
#if !defined(LSD_NO_DISPATCH) && defined(__x86_64__) && defined(__GNUC__) && \
    !defined(__TINYC__) && !defined(__AVX__) && \
    (!defined(__clang__) || __clang_major__ >= 6) && (defined(__clang__) || __GNUC__ >= 6)
#define LSD_GEMM_DISPATCH 1
#endif

/* Cache blocks (upper bounds): a KC x NR strip of packed B stays in L1 while
 * the MC x KC block of packed A streams from L2. Macro tiles are MC x NC at
 * most (MC = 16 MR, NC = 32 NR), evened out so that the edge tiles are not tiny. */
#define KC 256
#define MC_TILES 16
#define NC_TILES 32

#define ALIGN 64

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

/* Packs rows i0..i0+mc-1, k = p0..p0+kc-1 of op(A) into strips of mr rows:
 * strip s holds, for each k, the mr values a(i0+s*mr+r, k); rows past mc are 0. */
static void pack_a(int transA, const real *A, int lda, int i0, int mc, int p0, int kc, int mr,
                   real *restrict Ap)
{
    int s, r, p;
    for (s = 0; s < mc; s += mr, Ap += (size_t)mr * kc) {
        int rows = mc - s < mr ? mc - s : mr;
        if (rows == mr && transA) {
            /* a(i, k) = A[k][i]: mr contiguous values per k */
            for (p = 0; p < kc; p++) {
                const real *src = A + (size_t)(p0 + p) * lda + i0 + s;
                for (r = 0; r < mr; r++) Ap[p * mr + r] = src[r];
            }
        } else if (rows == mr) {
            /* a(i, k) = A[i][k]: each row read contiguously, written every mr values */
            for (r = 0; r < mr; r++) {
                const real *restrict src = A + (size_t)(i0 + s + r) * lda + p0;
                for (p = 0; p < kc; p++) Ap[p * mr + r] = src[p];
            }
        } else {
            for (p = 0; p < kc; p++) {
                for (r = 0; r < rows; r++) Ap[p * mr + r] = OPA(i0 + s + r, p0 + p);
                for (; r < mr; r++) Ap[p * mr + r] = 0;
            }
        }
    }
}

/* Packs k = p0..p0+kc-1, columns j0..j0+nc-1 (nc <= nr) of op(B) into one strip:
 * for each k, the nr values b(k, j0+j), padded with 0. */
static void pack_b(int transB, const real *B, int ldb, int p0, int kc, int j0, int nc, int nr,
                   real *restrict Bp)
{
    int j, p;
    if (nc == nr && !transB) {
        /* b(k, j) = B[k][j]: nr contiguous values per k */
        for (p = 0; p < kc; p++) {
            const real *src = B + (size_t)(p0 + p) * ldb + j0;
            for (j = 0; j < nr; j++) Bp[p * nr + j] = src[j];
        }
    } else if (nc == nr) {
        /* b(k, j) = B[j][k]: column j of the strip is row j of B */
        for (j = 0; j < nr; j++) {
            const real *src = B + (size_t)(j0 + j) * ldb + p0;
            for (p = 0; p < kc; p++) Bp[p * nr + j] = src[p];
        }
    } else {
        for (p = 0; p < kc; p++) {
            for (j = 0; j < nc; j++) Bp[p * nr + j] = OPB(p0 + p, j0 + j);
            for (; j < nr; j++) Bp[p * nr + j] = 0;
        }
    }
}

/* Micro-kernel body for an MR x NR tile (constants where it is inlined): the running sums
 * in acc (taken as 0 when first) get, for p = 0..kc-1 in order,
 * acc[r][j] += Ap[p][r] * Bp[p][j]; acc is loaded and stored once, the sums live in
 * registers. Every variant below performs exactly these operations in this order. */
#if defined(__GNUC__) && !defined(__TINYC__)
#define LSD_ALWAYS_INLINE __attribute__((always_inline)) inline
#define LSD_NOINLINE __attribute__((noinline))
#else
#define LSD_ALWAYS_INLINE inline
#define LSD_NOINLINE
#endif
/* Unrolling the tile loops lets the compiler keep c[] in registers: gcc needs the row loop
 * unrolled, clang both (without, it keeps the tile on the stack). */
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
static LSD_ALWAYS_INLINE void kernel_body(int MR, int NR, int kc, const real *restrict Ap,
                                          const real *restrict Bp, real *restrict acc, int first)
{
    real c[MR_MAX * NR_MAX];
    int p, r, j;
    for (r = 0; r < MR * NR; r++) c[r] = first ? 0 : acc[r];
    for (p = 0; p < kc; p++) {
        const real *a = Ap + (size_t)p * MR;
        const real *b = Bp + (size_t)p * NR;
        LSD_UNROLL_ROWS
        for (r = 0; r < MR; r++) {
            real ar = a[r];
            LSD_UNROLL_COLS
            for (j = 0; j < NR; j++) c[r * NR + j] += ar * b[j];
        }
    }
    for (r = 0; r < MR * NR; r++) acc[r] = c[r];
}

typedef void (*kernel_fn)(int kc, const real *restrict Ap, const real *restrict Bp,
                          real *restrict acc, int first);

/* The kernel for the compiler's target. */
static LSD_NOINLINE void kernel_base(int kc, const real *restrict Ap, const real *restrict Bp,
                                     real *restrict acc, int first)
{
    kernel_body(MR_BASE, NR_BASE, kc, Ap, Bp, acc, first);
}

#ifdef LSD_GEMM_DISPATCH
/* The same kernel compiled for AVX2 and for AVX-512 (tiles of their vector width). */
__attribute__((noinline, target("avx2,no-fma"))) static void
kernel_avx2(int kc, const real *restrict Ap, const real *restrict Bp, real *restrict acc,
            int first)
{
    kernel_body(MR_AVX, NR_AVX, kc, Ap, Bp, acc, first);
}

__attribute__((noinline, target("avx512f,no-fma"))) static void
kernel_avx512(int kc, const real *restrict Ap, const real *restrict Bp, real *restrict acc,
              int first)
{
    kernel_body(MR_512, NR_512, kc, Ap, Bp, acc, first);
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
    real *ap; /* (MC/MR strips, KC, MR) */
    real *bp; /* (KC, NR) */
    real *t;  /* (NC/NR, MC/MR, MR, NR) running sums of one macro tile */
} scratch;

/* The arguments of one gemm call, shared by every macro tile. */
typedef struct {
    int transA, transB, M, N, K;
    real alpha, beta;
    const real *A, *B;
    int lda, ldb, ldc;
    real *C;
    kernel k; /* micro-kernel and its tile MR x NR */
} gemm_args;

/* c[j] = combine(alpha, a[j], beta, c[j]) for j < n, with the test on beta hoisted out of
 * the loop; inlined with a constant n (a full tile row) the loop vectorizes even at -O2. */
static LSD_ALWAYS_INLINE void store_row(real *restrict c, const real *restrict a, int n,
                                        real alpha, real beta)
{
    int j;
    if (beta == 0)
        for (j = 0; j < n; j++) c[j] = alpha * a[j];
    else
        for (j = 0; j < n; j++) c[j] = alpha * a[j] + beta * c[j];
}

/* Writes the rows x cols corner of an MR x NR tile of sums into C at (i0, j0). */
static void store_tile(const gemm_args *g, const real *acc, int i0, int rows, int j0, int cols)
{
    int r, nr = g->k.nr;
    for (r = 0; r < rows; r++) {
        real *c = g->C + (size_t)(i0 + r) * g->ldc + j0;
        const real *a = acc + (size_t)r * nr;
        if (cols == nr && nr == NR_SSE) store_row(c, a, NR_SSE, g->alpha, g->beta);
        else if (cols == nr && nr == NR_AVX) store_row(c, a, NR_AVX, g->alpha, g->beta);
        else if (cols == nr && nr == NR_512) store_row(c, a, NR_512, g->alpha, g->beta);
        else store_row(c, a, cols, g->alpha, g->beta);
    }
}

/* Computes the macro tile of C with rows i0..i0+mc-1 and columns j0..j0+nc-1:
 * for each k block, A is packed once, then each B strip is packed (into L1)
 * and swept by all A strips; after the last k block the sums go to C. */
static void macro_tile(const gemm_args *g, int i0, int mc, int j0, int nc, scratch *w)
{
    int MR = g->k.mr, NR = g->k.nr, ms = (mc + MR - 1) / MR, ns = (nc + NR - 1) / NR;
    int p0, s, t;
    for (p0 = 0; p0 < g->K; p0 += KC) {
        int kc = g->K - p0 < KC ? g->K - p0 : KC, last = p0 + kc == g->K;
        pack_a(g->transA, g->A, g->lda, i0, mc, p0, kc, MR, w->ap);
        for (t = 0; t < ns; t++) {
            int cols = nc - t * NR < NR ? nc - t * NR : NR;
            pack_b(g->transB, g->B, g->ldb, p0, kc, j0 + t * NR, cols, NR, w->bp);
            for (s = 0; s < ms; s++) {
                real *acc = w->t + ((size_t)t * ms + s) * MR * NR;
                int rows = mc - s * MR < MR ? mc - s * MR : MR;
                g->k.fn(kc, w->ap + (size_t)s * MR * kc, w->bp, acc, p0 == 0);
                if (last) store_tile(g, acc, i0 + s * MR, rows, j0 + t * NR, cols);
            }
        }
    }
}

/* Rounds n up to a multiple of ALIGN bytes' worth of reals. */
static size_t round_up(size_t n)
{
    size_t q = ALIGN / sizeof(real);
    return (n + q - 1) / q * q;
}

/* Splits n into parts of at most `most` (a multiple of `unit`), evened out to
 * multiples of unit; at least `want` parts while each keeps >= 4 units. Returns the step. */
static int split(int n, int most, int unit, int want)
{
    long long parts = ((long long)n + most - 1) / most, step;
    while (parts < want && ((long long)n + parts) / (parts + 1) >= 4 * unit) parts++;
    step = ((long long)n + parts - 1) / parts;
    return (int)((step + unit - 1) / unit * unit);
}

/* Cache-blocked, packed, OpenMP-parallel over macro tiles; bit-identical to gemm_naive. */
void gemm(int transA, int transB, int M, int N, int K, real alpha, const real *A, int lda,
          const real *B, int ldb, real beta, real *C, int ldc)
{
    gemm_args g;
    size_t per, ap_n, bp_n, t_n;
    int nthr = 1, mstep, nstep, mt, nt, ntiles, tile, kc;
    double flops = 2.0 * M * N * K;
    real *buf;
    char *raw;
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || flops < 16384) {
        naive_block(transA, transB, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    g.transA = transA; g.transB = transB; g.M = M; g.N = N; g.K = K;
    g.alpha = alpha; g.beta = beta; g.A = A; g.B = B;
    g.lda = lda; g.ldb = ldb; g.ldc = ldc; g.C = C;
    g.k = pick_kernel();

#ifdef _OPENMP
    nthr = omp_get_max_threads();
    if (flops < 4e6) nthr = 1;
#endif
    /* tiles: M first; N is cut further until every thread has a few tiles */
    mstep = split(M, MC_TILES * g.k.mr, g.k.mr, 1);
    mt = (M + mstep - 1) / mstep;
    nstep = split(N, NC_TILES * g.k.nr, g.k.nr, nthr > 1 ? (4 * nthr + mt - 1) / mt : 1);
    nt = (N + nstep - 1) / nstep;
    ntiles = mt * nt;
    if (nthr > ntiles) nthr = ntiles;
    kc = K < KC ? K : KC;
    ap_n = round_up((size_t)mstep * kc);
    bp_n = round_up((size_t)g.k.nr * kc);
    t_n = round_up((size_t)mstep * nstep);
    per = ap_n + bp_n + t_n;
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
        w.bp = w.ap + ap_n;
        w.t = w.bp + bp_n;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (tile = 0; tile < ntiles; tile++) {
            int i0 = (tile / nt) * mstep, j0 = (tile % nt) * nstep;
            int mc = M - i0 < mstep ? M - i0 : mstep, nc = N - j0 < nstep ? N - j0 : nstep;
            macro_tile(&g, i0, mc, j0, nc, &w);
        }
    }
    free(raw);
}
