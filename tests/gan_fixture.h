/*
 * gan_fixture.h - what test_nets.c and test_step.c share: the reduced configuration
 * of the goldens and the inputs from the hash rule (golden/gen_nets.py's docstring).
 * Header-only (static functions), included by those two programs.
 */
#ifndef LSD_GAN_FIXTURE_H
#define LSD_GAN_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gan/lsd.h"
#include "harness.h"

/* golden/gen_nets.py's SMALL: vgg 2, fc 16, ngf 2, ndf 4, 5 classes */
static LsdConfig fixture_small(void)
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
static int fixture_make(Fixture *f, int N, int H, int W, int n_class)
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

static void fixture_free(Fixture *f)
{
    free(f->xs);
    free(f->xt);
    free(f->xs01);
    free(f->xt01);
    free(f->ys);
}

/* Reads a golden tensor of n elements (any float dtype) into a new array, or NULL. */
static real *golden_read(st_file *sf, const char *name, size_t n)
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

/* Largest |x|. */
static double max_abs(const real *x, size_t n)
{
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++)
        if (fabs((double)x[i]) > m) m = fabs((double)x[i]);
    return m;
}

#ifdef LSD_DOUBLE
#define FWD_RTOL 1e-9 /* double build: agreement to about 1e-9 relative */
#else
#define FWD_RTOL 1e-4 /* float build */
#endif

/* got against golden name: |d| <= rtol * (|ref| + max|ref|) elementwise (scale-aware). */
static void check_against(st_file *sf, const char *name, const real *got, size_t n, double rtol)
{
    real *ref = golden_read(sf, name, n);
    if (!ref) return;
    test_close_real(name, got, ref, n, rtol * max_abs(ref, n), rtol);
    free(ref);
}

#endif
