/* common.c - error reporting and checked size arithmetic (see common.h). */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int lsd_fail(lsd_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void lsd_err_prefix(lsd_err *err, const char *fmt, ...)
{
    char prefix[512], old[sizeof err->msg];
    size_t np, no;
    va_list ap;
    if (!err) return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    /* "prefix: old", truncated to the buffer */
    np = strlen(prefix);
    if (np > sizeof err->msg - 3) np = sizeof err->msg - 3;
    memcpy(err->msg, prefix, np);
    err->msg[np] = ':';
    err->msg[np + 1] = ' ';
    no = strlen(old);
    if (no > sizeof err->msg - np - 3) no = sizeof err->msg - np - 3;
    memcpy(err->msg + np + 2, old, no);
    err->msg[np + 2 + no] = '\0';
}

const char *lsd_status_name(int code)
{
    switch (code) {
    case LSD_OK: return "ok";
    case LSD_ERR_NOMEM: return "out of memory";
    case LSD_ERR_IO: return "i/o error";
    case LSD_ERR_FORMAT: return "bad format";
    case LSD_ERR_ARG: return "invalid argument";
    case LSD_ERR_RANGE: return "out of range";
    case LSD_ERR_NOTFOUND: return "not found";
    default: return "unknown error";
    }
}

void lsd_sum_rows(double *acc, const real *rows, size_t stride, size_t n, int lanes)
{
    size_t i;
    int l;
    if (lanes == LSD_SUM_LANES) {
        double a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
        const real *r0 = rows, *r1 = rows + stride, *r2 = r1 + stride, *r3 = r2 + stride;
        for (i = 0; i < n; i++) {
            a0 += r0[i];
            a1 += r1[i];
            a2 += r2[i];
            a3 += r3[i];
        }
        acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
        return;
    }
    for (l = 0; l < lanes; l++)
        for (i = 0; i < n; i++) acc[l] += rows[(size_t)l * stride + i];
}

int lsd_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > (size_t)-1 / a) return 1;
    *out = a * b;
    return 0;
}

int lsd_add_size(size_t a, size_t b, size_t *out)
{
    if (b > (size_t)-1 - a) return 1;
    *out = a + b;
    return 0;
}

int lsd_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void lsd_run_two(void (*fn)(void *ctx, int k), void *ctx)
{
#ifdef _OPENMP
    int nthr = omp_get_max_threads();
    if (nthr >= 2 && !omp_in_parallel()) {
        if (nthr >= 4 && omp_get_max_active_levels() < 2) omp_set_max_active_levels(2);
#pragma omp parallel num_threads(2)
        {
            int t = omp_get_thread_num();
            if (omp_get_num_threads() < 2) {
                fn(ctx, 0);
                fn(ctx, 1);
            } else {
                omp_set_num_threads(t == 0 ? nthr - nthr / 2 : nthr / 2);
                fn(ctx, t);
            }
        }
        return;
    }
#endif
    fn(ctx, 0);
    fn(ctx, 1);
}
