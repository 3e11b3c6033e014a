/*
 * gan_fixture.h - what the programs checking gan/ against golden/gen_nets.py share
 * (test_nets, test_step, test_oracle, test_clnet): the reduced configuration of the goldens,
 * the inputs from the hash rule (golden/gen_nets.py's docstring), the set-up of a model, work
 * and inputs, golden reading and the tolerances of forward values, losses, gradients and
 * parameter updates.
 * Header-only (static inline functions: a program need not use them all).
 */
#ifndef LSD_GAN_FIXTURE_H
#define LSD_GAN_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gan/lsd.h"
#include "../tensor/safetensors.h"
#include "harness.h"

/* golden/gen_nets.py's SMALL: vgg 2, fc 16, ngf 2, ndf 4, 5 classes */
static inline LsdConfig fixture_small(void)
{
    LsdConfig c;
    c.vgg = 2, c.fc = 16, c.ngf = 2, c.ndf = 4, c.n_class = 5;
    return c;
}

typedef struct {
    int N, H, W;
    real *xs, *xt, *xs01, *xt01;
    uint8_t *ys;
    LsdBatch b;
} Fixture;

/* Inputs from the hash rule; returns 0 on allocation failure. */
static inline int fixture_make(Fixture *f, int N, int H, int W, int n_class)
{
    size_t n = (size_t)N * 3 * H * W, i;
    memset(f, 0, sizeof *f);
    f->N = N, f->H = H, f->W = W;
    f->xs = (real *)malloc(n * sizeof(real));
    f->xt = (real *)malloc(n * sizeof(real));
    f->xs01 = (real *)malloc(n * sizeof(real));
    f->xt01 = (real *)malloc(n * sizeof(real));
    f->ys = (uint8_t *)malloc((size_t)N * H * W);
    if (!f->xs || !f->xt || !f->xs01 || !f->xt01 || !f->ys) return 0;
    for (i = 0; i < n; i++) {
        f->xs[i] = (real)(100 * lsd_hash_uniform("input.xs", i));
        f->xt[i] = (real)(100 * lsd_hash_uniform("input.xt", i));
        f->xs01[i] = (real)((1 + lsd_hash_uniform("input.xs_forD", i)) / 2);
        f->xt01[i] = (real)((1 + lsd_hash_uniform("input.xt_forD", i)) / 2);
    }
    for (i = 0; i < (size_t)N * H * W; i++) {
        int y = (int)floor((1 + lsd_hash_uniform("input.ys", i)) / 2 * (n_class + 1));
        f->ys[i] = (uint8_t)(y == n_class ? 255 : y);
    }
    f->b.xs = f->xs, f->b.xt = f->xt, f->b.xs01 = f->xs01, f->b.xt01 = f->xt01, f->b.ys = f->ys;
    return 1;
}

static inline void fixture_free(Fixture *f)
{
    free(f->xs);
    free(f->xt);
    free(f->xs01);
    free(f->xt01);
    free(f->ys);
}

/* Opens golden/<file>; a visible skip and 0 when it cannot be opened. */
static inline int fixture_open(st_file *sf, const char *file)
{
    char path[512];
    lsd_err err;
    sprintf(path, "%s/%s", test_golden_dir(), file);
    if (st_open(sf, path, &err)) {
        test_skip("%s", err.msg);
        return 0;
    }
    return 1;
}

/* Creates model m of configuration c, a training work and the inputs fx for batch N of
 * H x W images: three checks. */
static inline void fixture_setup(LsdModel *m, LsdWork *work, Fixture *fx, const LsdConfig *c,
                                 int N, int H, int W)
{
    lsd_err err;
    CHECK(lsd_model_create(m, c, &err) == LSD_OK, "create: %s", err.msg);
    CHECK(lsd_work_create(work, c, N, H, W, LSD_WORK_TRAIN, &err) == LSD_OK, "work: %s", err.msg);
    CHECK(fixture_make(fx, N, H, W, c->n_class), "fixture");
}

/* Frees what fixture_setup made. */
static inline void fixture_teardown(LsdModel *m, LsdWork *work, Fixture *fx)
{
    fixture_free(fx);
    lsd_work_free(work);
    lsd_model_free(m);
}

/* Reads a golden tensor of n elements (any float dtype) into a new array, or NULL. */
static inline real *golden_read(st_file *sf, const char *name, size_t n)
{
    lsd_err err;
    real *p = (real *)malloc((n ? n : 1) * sizeof(real));
    if (!p) return NULL;
    if (st_read_real(sf, name, p, n, -1, NULL, &err)) {
        CHECK(0, "golden %s: %s", name, err.msg);
        free(p);
        return NULL;
    }
    return p;
}

#ifdef LSD_DOUBLE
#define FWD_RTOL 1e-9 /* double build: agreement to about 1e-9 relative */
#else
#define FWD_RTOL 1e-4 /* float build */
#endif

/* got against golden name: |d| <= rtol * (|ref| + max|ref|) elementwise (scale-aware). */
static inline void check_against(st_file *sf, const char *name, const real *got, size_t n,
                                 double rtol)
{
    real *ref = golden_read(sf, name, n);
    if (!ref) return;
    test_close_real(name, got, ref, n, rtol * test_max_abs(ref, n), rtol);
    free(ref);
}

#ifdef LSD_DOUBLE
#define LOSS_RTOL 1e-9
#define GRAD_RTOL 1e-7 /* relative to the tensor's largest gradient */
#define DELTA_TOL 1e-6 /* of the learning rate, per element */
#else
#define LOSS_RTOL 2e-4
#define GRAD_RTOL 2e-3
#define DELTA_TOL 0.5 /* a tiny gradient's sign may flip in float: compare the bulk */
#endif

/* 1 for D's biases that feed an instance norm (true gradient zero: docs/method.md, "D"). */
static inline int fixture_in_fed_bias(const ParamArena *a, const ParamSpec *s)
{
    return a->prefix[0] == 'D' && s->is_bias && strncmp(s->name, "out_", 4) != 0;
}

/* Checks every trainable tensor's update (new - init) against the golden's <tag>new.<name>
 * (float: the fraction of elements off by more than DELTA_TOL * lr must be under 1%). */
static inline void fixture_check_updates(st_file *sf, const ParamArena *a, const real *init,
                                         double lr_w, double lr_b, const char *tag)
{
    char name[160];
    int k;
    for (k = 0; k < a->n; k++) {
        const ParamSpec *s = &a->spec[k];
        const real *got = a->param + s->offset, *p0 = init + s->offset;
        double lr = s->is_bias ? lr_b : lr_w;
        double bound = fixture_in_fed_bias(a, s) ? 3 * lr : DELTA_TOL * lr;
        size_t i, bad = 0, worst_i = 0;
        double worst = 0;
        real *ref;
        if (s->frozen) continue;
        sprintf(name, "%snew.%s%s", tag, a->prefix, s->name);
        if (!st_find(sf, name)) continue;
        if (!(ref = golden_read(sf, name, s->size))) continue;
        for (i = 0; i < s->size; i++) {
            double d = fabs(((double)got[i] - p0[i]) - ((double)ref[i] - p0[i]));
            if (!(d <= bound)) bad++;
            if (!(d <= worst)) worst = d, worst_i = i;
        }
        if (sizeof(real) == 8 || fixture_in_fed_bias(a, s))
            CHECK(bad == 0, "%s: update off by %.3g lr at %lu", name, worst / lr,
                  (unsigned long)worst_i);
        else
            CHECK(bad * 100 <= s->size, "%s: %lu of %lu updates off by > %.2g lr (worst %.3g)",
                  name, (unsigned long)bad, (unsigned long)s->size, DELTA_TOL, worst / lr);
        free(ref);
    }
}

/* Compares loss got with element `it` of the golden's loss vector name (iters long). */
static inline void fixture_check_loss(st_file *sf, const char *name, double got, int it,
                                      int iters)
{
    real g = (real)got, *ref = golden_read(sf, name, (size_t)iters);
    if (!ref) return;
    test_close_real(name, &g, &ref[it], 1, 0, LOSS_RTOL);
    free(ref);
}

/* A copy of every parameter of a, to form updates (NULL when memory is short). */
static inline real *fixture_snapshot(const ParamArena *a)
{
    real *p = (real *)malloc(a->total * sizeof(real));
    if (p) memcpy(p, a->param, a->total * sizeof(real));
    return p;
}

#endif
