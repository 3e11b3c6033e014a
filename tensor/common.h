/*
 * common.h - the few definitions every part of lsdseg shares.
 *
 * real:    the floating-point type of every tensor (float by default; double
 *          when built with PRECISION=double, which defines LSD_DOUBLE).
 * lsd_err: a caller-owned buffer that receives a human-readable reason when a
 *          library function fails. Library code never prints and never exits:
 *          it returns a status (LSD_OK on success) and fills the buffer.
 */
#ifndef LSD_COMMON_H
#define LSD_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef LSD_DOUBLE
typedef double real;
#define LSD_PRECISION_NAME "double"
#else
typedef float real;
#define LSD_PRECISION_NAME "float"
#endif

#define LSD_VERSION "0.1.0"

/* Status codes returned by library functions. */
typedef enum {
    LSD_OK = 0,
    LSD_ERR_NOMEM = 1,   /* an allocation failed */
    LSD_ERR_IO = 2,      /* a file could not be opened, read or written */
    LSD_ERR_FORMAT = 3,  /* a file's contents are malformed */
    LSD_ERR_ARG = 4,     /* an argument (size, shape, option) is invalid */
    LSD_ERR_RANGE = 5,   /* a value is out of its allowed range */
    LSD_ERR_NOTFOUND = 6 /* a named item (tensor, file, key) does not exist */
} lsd_status;

/* Caller-owned error message buffer. Pass NULL where the reason is not wanted. */
typedef struct {
    int code;
    char msg[1024];
} lsd_err;

/* Records a formatted message in err (if not NULL) and returns code. */
int lsd_fail(lsd_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefixes the message already in err with a formatted context, e.g. a file name. */
void lsd_err_prefix(lsd_err *err, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A short name for a status code ("out of memory", "bad format", ...). */
const char *lsd_status_name(int code);

/* Overflow-checked size arithmetic: return 0 on success, 1 on overflow. */
int lsd_mul_size(size_t a, size_t b, size_t *out);
int lsd_add_size(size_t a, size_t b, size_t *out);

/* acc[l] += the sum of rows[l * stride + i] for i = 0..n-1, for each of `lanes` rows (1 to
 * LSD_SUM_LANES): each row's values are added one by one in index order, in double, exactly as
 * a loop over that row alone; the rows' chains of additions run side by side, since one
 * chain is bound by the adder's latency (the bias gradient, instance norm's mean). */
#define LSD_SUM_LANES 4
void lsd_sum_rows(double *acc, const real *rows, size_t stride, size_t n, int lanes);

/* Number of OpenMP threads the library may use (1 without OpenMP). */
int lsd_num_threads(void);
/* Runs fn(ctx, 0) and fn(ctx, 1): side by side on two threads, each with half of the threads
 * for its own parallel loops (nested; OpenMP's max-active-levels is raised to 2 where there
 * are 4 or more threads), when OpenMP has two or more threads outside any parallel region;
 * one after the other otherwise. */
void lsd_run_two(void (*fn)(void *ctx, int k), void *ctx);

/* LSD_CPU_DISPATCH: a portable x86-64 build with gcc >= 6 or clang >= 6 (baseline SSE2) also
 * compiles its hot loops (gemm's micro-kernel, the dropout masks' block) for AVX2/AVX-512 with
 * target attributes and picks one at run time; tcc, other architectures and -march builds with
 * AVX have one code path. Define LSD_NO_DISPATCH to turn it off. One definition for all. */
#if !defined(LSD_NO_DISPATCH) && defined(__x86_64__) && defined(__GNUC__) && \
    !defined(__TINYC__) && !defined(__AVX__) && \
    (!defined(__clang__) || __clang_major__ >= 6) && (defined(__clang__) || __GNUC__ >= 6)
#define LSD_CPU_DISPATCH 1
#endif

#endif
