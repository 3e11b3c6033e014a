/*
 * bench_opencl.c - the OpenCL backend's speed: GFLOP/s of cl_gemm at 1024^3 and of a 3x3
 * convolution forward (64 -> 64 channels at 160x320, im2col + gemm) on device
 * $LSD_CL_DEVICE of platform $LSD_CL_PLATFORM (default 0, 0). Prints CSV rows
 *     bench,case,threads,impl,value,unit
 * (threads "dev": the device's own parallelism) and progress to stderr. Without OPENCL=1,
 * or without a platform, it prints why on stderr and no rows. Time per case: one warm-up,
 * then the best of up to 10 runs within about a second, each ended by clFinish.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../tensor/common.h"

#ifndef LSD_OPENCL

int main(void)
{
    fprintf(stderr, "bench_opencl: skip (built without OPENCL=1)\n");
    return 0;
}

#else

#include <math.h>

#include "../opencl/cl.h"
#include "../opencl/ops.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(float *x, size_t n, unsigned long s)
{
    size_t i;
    for (i = 0; i < n; i++) {
        s = (s * 1103515245UL + 12345UL) & 0x7fffffffUL;
        x[i] = (float)((double)(s >> 4) / (double)(0x7fffffffUL >> 4) * 2.0 - 1.0);
    }
}

/* Best seconds of one gemm (which = 0) or conv forward (which = 1). */
static double best_time(lsd_cl *cl, int which, lsd_clbuf *a, lsd_clbuf *b, lsd_clbuf *c,
                        lsd_clbuf *work, const ConvShape *s, int n, lsd_err *err)
{
    double best = 1e30, t0 = now(), t;
    int r, rc;
    for (r = -1; r < 10; r++) {
        t = now();
        rc = which == 0 ? cl_gemm(cl, 0, 0, n, n, n, 1, a, 0, n, b, 0, n, 0, c, 0, n, err)
                        : cl_conv2d_forward(cl, c, a, b, NULL, s, work, err);
        if (rc || lsd_cl_finish(cl, err)) return -1;
        t = now() - t;
        if (r >= 0 && t < best) best = t;
        if (r >= 1 && now() - t0 > 1.0) break;
    }
    return best;
}

int main(void)
{
    lsd_cl cl;
    lsd_err err;
    const char *ps = getenv("LSD_CL_PLATFORM"), *ds = getenv("LSD_CL_DEVICE");
    int n = 1024, i;
    size_t nn = (size_t)n * n;
    float *ha = malloc(nn * sizeof(float)), *hb = malloc(nn * sizeof(float));
    float *hc = malloc(nn * sizeof(float));
    lsd_clbuf a, b, c, work;
    ConvShape s = conv2d_shape(1, 64, 160, 320, 64, 3, 1, 1);
    double t, worst = 0;
    if (!ha || !hb || !hc) {
        fprintf(stderr, "bench_opencl: out of memory\n");
        return 1;
    }
    if (lsd_cl_open(&cl, ps ? atoi(ps) : 0, ds ? atoi(ds) : 0, &err)) {
        fprintf(stderr, "bench_opencl: skip (%s)\n", err.msg);
        return 0;
    }
    fprintf(stderr, "bench_opencl: %s, gemm tiles %dx%dx%d micro %dx%d\n", cl.device_name,
            cl.gemm_tm, cl.gemm_tn, cl.gemm_tk, cl.gemm_rm, cl.gemm_rn);
    fill(ha, nn, 1);
    fill(hb, nn, 2);
    if (lsd_clbuf_from_host(&cl, &a, ha, nn, &err) || lsd_clbuf_from_host(&cl, &b, hb, nn, &err) ||
        lsd_clbuf_alloc(&cl, &c, nn, 4, &err)) {
        fprintf(stderr, "bench_opencl: %s\n", err.msg);
        return 1;
    }
    t = best_time(&cl, 0, &a, &b, &c, NULL, NULL, n, &err);
    if (t < 0) {
        fprintf(stderr, "bench_opencl: %s\n", err.msg);
        return 1;
    }
    printf("gemm,%dx%dx%d,dev,opencl,%.2f,GFLOP/s\n", n, n, n, 2.0 * n * n * n / t * 1e-9);
    /* spot check: 64 elements against a double dot product */
    if (lsd_clbuf_read(&cl, &c, 0, hc, nn, &err) == LSD_OK)
        for (i = 0; i < 64; i++) {
            int r = (i * 997) % n, q = (i * 389) % n, k;
            double acc = 0;
            for (k = 0; k < n; k++) acc += (double)ha[(size_t)r * n + k] * hb[(size_t)k * n + q];
            if (fabs(acc - hc[(size_t)r * n + q]) > worst) worst = fabs(acc - hc[(size_t)r * n + q]);
        }
    if (worst > 1e-3) fprintf(stderr, "bench_opencl: gemm differs from double by %g\n", worst);
    lsd_clbuf_free(&a);
    lsd_clbuf_free(&b);
    lsd_clbuf_free(&c);
    /* conv 3x3, 64 -> 64, 160x320 */
    {
        size_t nx = (size_t)s.C * s.H * s.W, nw = (size_t)s.OC * s.C * 9;
        size_t ny = (size_t)s.OC * s.OH * s.OW;
        if (lsd_clbuf_alloc(&cl, &a, nx, 4, &err) || lsd_clbuf_alloc(&cl, &b, nw, 4, &err) ||
            lsd_clbuf_alloc(&cl, &c, ny, 4, &err) ||
            lsd_clbuf_alloc(&cl, &work, conv_work_size(&s), 4, &err) ||
            lsd_clbuf_fill(&cl, &a, 0, nx, 0.5f, &err) ||
            lsd_clbuf_fill(&cl, &b, 0, nw, 0.25f, &err)) {
            fprintf(stderr, "bench_opencl: %s\n", err.msg);
            return 1;
        }
        t = best_time(&cl, 1, &a, &b, &c, &work, &s, 0, &err);
        if (t < 0) {
            fprintf(stderr, "bench_opencl: %s\n", err.msg);
            return 1;
        }
        printf("conv_fwd,3x3 64-64 160x320,dev,opencl,%.2f,GFLOP/s\n",
               2.0 * (double)ny * s.C * 9 / t * 1e-9);
        lsd_clbuf_free(&a);
        lsd_clbuf_free(&b);
        lsd_clbuf_free(&c);
        lsd_clbuf_free(&work);
    }
    lsd_cl_close(&cl);
    free(ha);
    free(hb);
    free(hc);
    return 0;
}

#endif
