/*
 * bench_opencl.c - the OpenCL backend's speed on device $LSD_CL_DEVICE of platform
 * $LSD_CL_PLATFORM (default 0, 0; `lsdseg devices` lists the indices):
 *
 *   gemm      cl_gemm GFLOP/s at 1024^3 and 4096^3 (random matrices, 64 entries checked
 *             against a double dot product)
 *   conv_fwd  a 3x3 convolution forward, 64 -> 64 channels at 160x320 (im2col + gemm)
 *             (on a GPU each timed run of the 1024^3 gemm and of the convolution queues 10
 *             of them before clFinish, so the launch and wait overhead is spread)
 *   nets      ms per LSD-seg training iteration (cl_lsd_step: D, G, F+C updates with Adam,
 *             dropout masks drawn on the device), per source-only iteration
 *             (cl_lsd_step_source_only) and per inference (cl_lsd_infer: upload of the
 *             image, C(F(x)), scores read back to the host), batch 1:
 *               reduced  vgg 16, fc 256, ngf 16, ndf 16, 19 classes at 64x128 (always)
 *               full     the paper's networks (vgg 64, fc 4096, ngf 64, ndf 64, 19 classes):
 *                        training and source-only at 320x640, inference at 320x640 and
 *                        1024x2048
 *
 * Prints CSV rows "bench,case,dev,lsdseg-opencl,value,unit" (threads "dev": the device's
 * own parallelism), with the same case names as bench/bench_nets.c (lsd-iter-64x128-reduced,
 * infer-1024x2048-full, ...) so bench/gpu_torch.py's PyTorch-on-CUDA rows line up with
 * them; progress, the device and the median of each case go to stderr. Each value is the
 * best of the timed runs, each run ended by clFinish, after warm-up runs (reduced: 2
 * warm-ups on a GPU, 1 elsewhere, then up to 10 runs or 2 s; full: LSD_BENCH_FULL_WARM
 * warm-ups, default 1, then up to LSD_BENCH_FULL_REPS runs, default 5, or 10 s; at least 2
 * runs, or 1 where one warm-up run took longer than that time budget, as on PoCL).
 *
 * The 4096^3 gemm and the full-size rows run when LSD_BENCH_FULL is unset or 1 on a GPU,
 * when LSD_BENCH_FULL=2 on any device (PoCL on a small CPU takes minutes), and never with
 * LSD_BENCH_FULL=0 or LSD_BENCH_QUICK=1. A full-size case is skipped with a note when the
 * model and its work would take more than 90% of CL_DEVICE_GLOBAL_MEM_SIZE.
 *
 * Usage: bench_opencl [substring-of-case-names]. Without OPENCL=1, or without a platform,
 * it prints why on stderr and no rows, and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "../opencl/clnet.h"
#include "../opencl/ops.h"
#include "bench_util.h"

#define IMPL "lsdseg-opencl"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void fill(float *x, size_t n, unsigned long s)
{
    size_t i;
    for (i = 0; i < n; i++) {
        s = (s * 1103515245UL + 12345UL) & 0x7fffffffUL;
        x[i] = (float)((double)(s >> 4) / (double)(0x7fffffffUL >> 4) * 2.0 - 1.0);
    }
}

static int wanted(const char *filter, const char *name)
{
    return !filter || strstr(name, filter) != NULL;
}

/* ---- gemm and convolution */

/* Best seconds of one gemm (which = 0) or conv forward (which = 1): one warm-up, then up
 * to 10 runs within about budget seconds (at least 2). Each run queues `inner` operations
 * and waits for them (clFinish); the time per operation is returned. */
static double best_time(lsd_cl *cl, int which, lsd_clbuf *a, lsd_clbuf *b, lsd_clbuf *c,
                        lsd_clbuf *scratch, const ConvShape *s, int n, int inner, double budget,
                        lsd_err *err)
{
    double best = 1e30, t0 = 0, t;
    int r, i, rc = 0;
    for (r = -1; r < 10; r++) {
        if (r == 0) t0 = now();
        t = now();
        for (i = 0; i < inner && !rc; i++)
            rc = which == 0 ? cl_gemm(cl, 0, 0, n, n, n, 1, a, 0, n, b, 0, n, 0, c, 0, n, err)
                            : cl_conv2d_forward(cl, c, a, b, NULL, s, scratch, err);
        if (rc || lsd_cl_finish(cl, err)) return -1;
        t = (now() - t) / inner;
        if (r >= 0 && t < best) best = t;
        if (r >= 1 && now() - t0 > budget) break;
    }
    return best;
}

static int bench_gemm(lsd_cl *cl, int n, double budget)
{
    lsd_err err;
    size_t nn = (size_t)n * n;
    float *ha = malloc(nn * sizeof(float)), *hb = malloc(nn * sizeof(float));
    float *hc = malloc(nn * sizeof(float));
    lsd_clbuf a, b, c;
    double t, worst = 0, scale = 0;
    int i, rc = 0;
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b), memset(&c, 0, sizeof c);
    if (!ha || !hb || !hc) {
        fprintf(stderr, "bench_opencl: gemm %d: out of memory\n", n);
        rc = 1;
        goto done;
    }
    fill(ha, nn, 1);
    fill(hb, nn, 2);
    if (lsd_clbuf_from_host(cl, &a, ha, nn, &err) || lsd_clbuf_from_host(cl, &b, hb, nn, &err) ||
        lsd_clbuf_alloc(cl, &c, nn, 4, &err)) {
        fprintf(stderr, "bench_opencl: gemm %d: %s\n", n, err.msg);
        rc = 1;
        goto done;
    }
    t = best_time(cl, 0, &a, &b, &c, NULL, NULL, n, n <= 1024 && cl->is_gpu ? 10 : 1, budget, &err);
    if (t < 0) {
        fprintf(stderr, "bench_opencl: gemm %d: %s\n", n, err.msg);
        rc = 1;
        goto done;
    }
    printf("gemm,%dx%dx%d,dev," IMPL ",%.1f,GFLOP/s\n", n, n, n, 2.0 * n * n * n / t * 1e-9);
    fflush(stdout);
    /* spot check: 64 elements against a double dot product */
    if (lsd_clbuf_read(cl, &c, 0, hc, nn, &err) == LSD_OK) {
        for (i = 0; i < 64; i++) {
            int r = (i * 997) % n, q = (i * 389) % n, k;
            double acc = 0, sabs = 0;
            for (k = 0; k < n; k++) {
                acc += (double)ha[(size_t)r * n + k] * hb[(size_t)k * n + q];
                sabs += fabs((double)ha[(size_t)r * n + k] * hb[(size_t)k * n + q]);
            }
            if (fabs(acc - hc[(size_t)r * n + q]) > worst) worst = fabs(acc - hc[(size_t)r * n + q]);
            if (sabs > scale) scale = sabs;
        }
        /* a float sum of n products is within n * eps * sum|a*b| (far less in practice);
         * a wrong tile or index gives errors of the order of sum|a*b| itself */
        if (worst > 1e-3 * scale)
            fprintf(stderr, "bench_opencl: gemm %d differs from double by %g\n", n, worst);
        else
            fprintf(stderr, "bench_opencl: gemm %d: worst difference from double %.3g (ok)\n",
                    n, worst);
    }
done:
    lsd_clbuf_free(&a);
    lsd_clbuf_free(&b);
    lsd_clbuf_free(&c);
    free(ha);
    free(hb);
    free(hc);
    return rc;
}

static int bench_conv(lsd_cl *cl)
{
    lsd_err err;
    ConvShape s = conv2d_shape(1, 64, 160, 320, 64, 3, 1, 1);
    size_t nx = (size_t)s.C * s.H * s.W, nw = (size_t)s.OC * s.C * 9;
    size_t ny = (size_t)s.OC * s.OH * s.OW;
    lsd_clbuf a, b, c, scratch;
    double t;
    int rc = 0;
    memset(&a, 0, sizeof a), memset(&b, 0, sizeof b), memset(&c, 0, sizeof c);
    memset(&scratch, 0, sizeof scratch);
    if (lsd_clbuf_alloc(cl, &a, nx, 4, &err) || lsd_clbuf_alloc(cl, &b, nw, 4, &err) ||
        lsd_clbuf_alloc(cl, &c, ny, 4, &err) ||
        lsd_clbuf_alloc(cl, &scratch, conv_work_size(&s), 4, &err) ||
        lsd_clbuf_fill(cl, &a, 0, nx, 0.5f, &err) || lsd_clbuf_fill(cl, &b, 0, nw, 0.25f, &err) ||
        (t = best_time(cl, 1, &a, &b, &c, &scratch, &s, 0, cl->is_gpu ? 10 : 1, 1.0, &err)) < 0) {
        fprintf(stderr, "bench_opencl: conv: %s\n", err.msg);
        rc = 1;
    } else {
        printf("conv_fwd,3x3 64-64 160x320,dev," IMPL ",%.1f,GFLOP/s\n",
               2.0 * (double)ny * s.C * 9 / t * 1e-9);
        fflush(stdout);
    }
    lsd_clbuf_free(&a);
    lsd_clbuf_free(&b);
    lsd_clbuf_free(&c);
    lsd_clbuf_free(&scratch);
    return rc;
}

/* ---- networks */

/* One run of a mode, ended by clFinish. */
static int run_once(ClModel *cm, ClWork *cw, const Inputs *in, lsd_work_mode mode,
                    const LsdStepOptions *o, lsd_err *err)
{
    LsdLosses l;
    double loss;
    int rc;
    if (mode == LSD_WORK_TRAIN) rc = cl_lsd_step(cm, cw, &in->b, o, &l, err);
    else if (mode == LSD_WORK_SOURCE_ONLY) rc = cl_lsd_step_source_only(cm, cw, &in->b, o, &loss, err);
    else rc = cl_lsd_infer(cm, cw, in->xs, err);
    return rc ? rc : lsd_cl_finish(cm->cl, err);
}

/* One case: a work of (mode, H, W) for the model on the device, timed. */
static void bench_case(lsd_cl *cl, ClModel *cm, const LsdConfig *c, const char *name,
                       lsd_work_mode mode, int H, int W, int full)
{
    LsdWork host;
    ClWork cw;
    Inputs in;
    lsd_err err;
    LsdStepOptions o = lsd_step_defaults();
    int warm = full ? env_int("LSD_BENCH_FULL_WARM", 1) : cl->is_gpu ? 2 : 1;
    int maxrep = full ? env_int("LSD_BENCH_FULL_REPS", 5) : 10;
    double budget = full ? 10.0 : 2.0, need, total = 0, t[64], t0;
    int rep, nrep = 0, minrep = 2;
    if (maxrep > 64) maxrep = 64;
    if (maxrep < 1) maxrep = 1;
    if (lsd_work_create(&host, c, 1, H, W, mode, &err)) {
        fprintf(stderr, "bench_opencl: %s skipped: %s\n", name, err.msg);
        return;
    }
    need = (double)cl_model_bytes(cm) + (double)host.bytes;
    if (need > 0.9 * (double)cl->global_mem) {
        fprintf(stderr, "bench_opencl: %s skipped: needs about %.1f GB of the device's %.1f GB\n",
                name, need / 1e9, (double)cl->global_mem / 1e9);
        lsd_work_free(&host);
        return;
    }
    if (!inputs_make(&in, H, W, c->n_class)) {
        fprintf(stderr, "bench_opencl: %s skipped: out of host memory\n", name);
        lsd_work_free(&host);
        return;
    }
    if (cl_work_create(&cw, cl, &host, &err)) {
        fprintf(stderr, "bench_opencl: %s skipped: %s\n", name, err.msg);
        inputs_free(&in);
        lsd_work_free(&host);
        return;
    }
    fprintf(stderr, "bench_opencl: %s: device work %.2f GB, model %.2f GB\n", name,
            cw.bytes / 1e9, cl_model_bytes(cm) / 1e9);
    t0 = now();
    for (rep = 0; rep < warm; rep++)
        if (run_once(cm, &cw, &in, mode, &o, &err)) goto fail;
    t0 = now() - t0;
    fprintf(stderr, "bench_opencl: %s: %d warm-up run(s) %.0f ms\n", name, warm, t0 * 1e3);
    if (warm > 0 && t0 / warm > budget) minrep = 1; /* a slow device: one timed run */
    for (rep = 0; rep < maxrep && (rep < minrep || total < budget); rep++) {
        t0 = now();
        if (run_once(cm, &cw, &in, mode, &o, &err)) goto fail;
        t[nrep] = now() - t0;
        total += t[nrep++];
    }
    qsort(t, (size_t)nrep, sizeof t[0], cmp_double);
    printf("nets,%s,dev," IMPL ",%.2f,ms\n", name, t[0] * 1e3);
    fflush(stdout);
    fprintf(stderr, "bench_opencl: %s: best %.2f ms, median %.2f ms of %d runs\n", name,
            t[0] * 1e3, t[nrep / 2] * 1e3, nrep);
    goto done;
fail:
    fprintf(stderr, "bench_opencl: %s failed: %s\n", name, err.msg);
done:
    cl_work_free(&cw);
    inputs_free(&in);
    lsd_work_free(&host);
}

typedef struct {
    const char *prefix;
    lsd_work_mode mode;
    int H, W;
} Case;

/* Every case of a configuration with the model created once on the host and the device. */
static void bench_config(lsd_cl *cl, const LsdConfig *c, const char *suffix, const Case *cases,
                         int ncases, int full, const char *filter)
{
    LsdModel m;
    ClModel cm;
    lsd_err err;
    int k, any = 0;
    char name[128];
    for (k = 0; k < ncases; k++) {
        sprintf(name, "%s-%dx%d-%s", cases[k].prefix, cases[k].H, cases[k].W, suffix);
        any |= wanted(filter, name);
    }
    if (!any) return;
    if (lsd_model_create(&m, c, &err)) {
        fprintf(stderr, "bench_opencl: %s model: %s\n", suffix, err.msg);
        return;
    }
    if (lsd_model_init(&m, 1, NULL, &err)) {
        fprintf(stderr, "bench_opencl: %s init: %s\n", suffix, err.msg);
        lsd_model_free(&m);
        return;
    }
    if ((double)lsd_model_bytes(&m) > 0.9 * (double)cl->global_mem) {
        fprintf(stderr, "bench_opencl: %s skipped: the model alone needs %.1f GB\n", suffix,
                lsd_model_bytes(&m) / 1e9);
        lsd_model_free(&m);
        return;
    }
    if (cl_model_create(&cm, cl, &m, &err)) {
        fprintf(stderr, "bench_opencl: %s model on the device: %s\n", suffix, err.msg);
        lsd_model_free(&m);
        return;
    }
    for (k = 0; k < ncases; k++) {
        sprintf(name, "%s-%dx%d-%s", cases[k].prefix, cases[k].H, cases[k].W, suffix);
        if (wanted(filter, name))
            bench_case(cl, &cm, c, name, cases[k].mode, cases[k].H, cases[k].W, full);
    }
    cl_model_free(&cm);
    lsd_model_free(&m);
}

int main(int argc, char **argv)
{
    static const Case reduced[3] = {{"lsd-iter", LSD_WORK_TRAIN, 64, 128},
                                    {"sourceonly-iter", LSD_WORK_SOURCE_ONLY, 64, 128},
                                    {"infer", LSD_WORK_INFER, 64, 128}};
    static const Case full[4] = {{"lsd-iter", LSD_WORK_TRAIN, 320, 640},
                                 {"sourceonly-iter", LSD_WORK_SOURCE_ONLY, 320, 640},
                                 {"infer", LSD_WORK_INFER, 320, 640},
                                 {"infer", LSD_WORK_INFER, 1024, 2048}};
    const char *filter = argc > 1 ? argv[1] : NULL;
    lsd_cl cl;
    lsd_err err;
    LsdConfig red, fullc = lsd_config_default();
    int plat = env_int("LSD_CL_PLATFORM", 0), dev = env_int("LSD_CL_DEVICE", 0), rc = 0;
    int fullmode = env_int("LSD_BENCH_QUICK", 0) ? 0 : env_int("LSD_BENCH_FULL", 1);
    int do_full;
    red.vgg = 16, red.fc = 256, red.ngf = 16, red.ndf = 16, red.n_class = 19;
    if (lsd_cl_open(&cl, plat, dev, &err)) {
        fprintf(stderr, "bench_opencl: skip (%s)\n", err.msg);
        return 0;
    }
    do_full = fullmode >= 2 || (fullmode == 1 && cl.is_gpu);
    fprintf(stderr, "bench_opencl: platform %d device %d: %s (%s), %s, %.1f GB, gemm tiles "
            "%dx%dx%d micro %dx%d\n", plat, dev, cl.device_name, cl.platform_name,
            cl.is_gpu ? "GPU" : "not a GPU", (double)cl.global_mem / 1e9, cl.gemm_tm,
            cl.gemm_tn, cl.gemm_tk, cl.gemm_rm, cl.gemm_rn);
    if (!do_full)
        fprintf(stderr, "bench_opencl: 4096^3 gemm and full-size rows skipped (%s)\n",
                fullmode == 0 ? "LSD_BENCH_FULL=0 or LSD_BENCH_QUICK=1"
                              : "not a GPU: LSD_BENCH_FULL=2 runs them anyway");
    if (wanted(filter, "gemm,1024x1024x1024")) rc |= bench_gemm(&cl, 1024, 1.0);
    if (do_full && wanted(filter, "gemm,4096x4096x4096")) rc |= bench_gemm(&cl, 4096, 2.0);
    if (wanted(filter, "conv_fwd,3x3 64-64 160x320")) rc |= bench_conv(&cl);
    bench_config(&cl, &red, "reduced", reduced, 3, 0, filter);
    if (do_full) bench_config(&cl, &fullc, "full", full, 4, 1, filter);
    lsd_cl_close(&cl);
    return rc ? 1 : 0;
}

#endif
