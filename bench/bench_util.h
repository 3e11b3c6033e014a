/*
 * bench_util.h - helpers shared by bench_nets.c and bench_opencl.c: a monotonic clock, an
 * integer from the environment, and the inputs of one batch (N = 1). Static functions, so
 * each benchmark program includes this header once and uses all of them.
 */
#ifndef LSD_BENCH_UTIL_H
#define LSD_BENCH_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../gan/lsd.h"

/* Seconds on a monotonic clock. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The integer in environment variable name, or dflt when it is unset or empty. */
static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

/* Inputs of one batch (N = 1): LCG noise of realistic magnitude (BGR minus mean in
 * [-110, 145], RGB in [0, 1]), labels 0..n_class-1 with 5% ignored (255). */
typedef struct {
    real *xs, *xt, *xs01, *xt01; // (1, 3, H, W) each
    uint8_t *ys;                 // (1, H, W)
    LsdBatch b;                  // points at the arrays above
} Inputs;

static void inputs_free(Inputs *in)
{
    free(in->xs);
    free(in->xt);
    free(in->xs01);
    free(in->xt01);
    free(in->ys);
}

/* Allocates and fills in; returns 1, or 0 (with nothing left allocated) when out of memory. */
static int inputs_make(Inputs *in, int H, int W, int n_class)
{
    size_t n = (size_t)3 * H * W, i;
    unsigned long s = 12345;
    memset(in, 0, sizeof *in);
    in->xs = malloc(n * sizeof(real));
    in->xt = malloc(n * sizeof(real));
    in->xs01 = malloc(n * sizeof(real));
    in->xt01 = malloc(n * sizeof(real));
    in->ys = malloc((size_t)H * W);
    if (!in->xs || !in->xt || !in->xs01 || !in->xt01 || !in->ys) {
        inputs_free(in);
        return 0;
    }
    for (i = 0; i < n; i++) {
        double u, v;
        s = (s * 1103515245UL + 12345UL) & 0x7fffffffUL;
        u = (double)s / 2147483648.0;
        s = (s * 1103515245UL + 12345UL) & 0x7fffffffUL;
        v = (double)s / 2147483648.0;
        in->xs01[i] = (real)u;
        in->xt01[i] = (real)v;
        in->xs[i] = (real)(255 * u - 110);
        in->xt[i] = (real)(255 * v - 110);
    }
    for (i = 0; i < (size_t)H * W; i++) {
        s = (s * 1103515245UL + 12345UL) & 0x7fffffffUL;
        in->ys[i] = (uint8_t)(s % 20 == 19 ? 255 : (s >> 8) % (unsigned long)n_class);
    }
    in->b.xs = in->xs, in->b.xt = in->xt, in->b.xs01 = in->xs01, in->b.xt01 = in->xt01;
    in->b.ys = in->ys;
    return 1;
}

#endif
