/*
 * test_shape.c - crop, concat and the nearest-neighbour label resize (layers/shape.h).
 *
 *  1. PyTorch goldens for crop and concat with their gradients, Pillow's
 *     NEAREST resize for label maps (golden/conv_shape.safetensors).
 *  2. The D-sized resize takes Ys[8i+4][8j+4] (docs/method.md, "Inputs").
 *  3. Central finite differences of crop and concat (double builds only).
 * These layers copy or add single values: results are exact; in the float build
 * the float64 goldens are rounded to float once on reading (rtol FLT_EPSILON).
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../layers/shape.h"
#include "../tensor/safetensors.h"
#include "harness.h"

#ifdef LSD_DOUBLE
#define ROUND_TOL 0.0
#else
#define ROUND_TOL FLT_EPSILON
#endif

/* Reads name (n elements) into dst; returns 1 on success (one check on failure). */
static int rd(st_file *sf, const char *name, real *dst, size_t n)
{
    lsd_err err;
    int rc = st_read_real(sf, name, dst, n, -1, NULL, &err);
    if (rc) CHECK(0, "read %s: %s", name, err.msg);
    return rc == LSD_OK;
}

/* crop golden: forward and backward (accumulated onto 1). */
static void crop_golden(st_file *sf)
{
    int64_t cfg[8];
    lsd_err err;
    int N, C, H, W, top, left, OH, OW;
    size_t nx, ny, i;
    real *x, *y, *dy, *dx, *got, *gdx;
    if (!CHECK(st_read_i64(sf, "crop.cfg", cfg, 8, -1, NULL, &err) == LSD_OK, "crop.cfg")) return;
    N = (int)cfg[0]; C = (int)cfg[1]; H = (int)cfg[2]; W = (int)cfg[3];
    top = (int)cfg[4]; left = (int)cfg[5]; OH = (int)cfg[6]; OW = (int)cfg[7];
    nx = (size_t)N * C * H * W;
    ny = (size_t)N * C * OH * OW;
    x = test_alloc(nx * sizeof(real)); dx = test_alloc(nx * sizeof(real)); gdx = test_alloc(nx * sizeof(real));
    y = test_alloc(ny * sizeof(real)); dy = test_alloc(ny * sizeof(real)); got = test_alloc(ny * sizeof(real));
    if (rd(sf, "crop.x", x, nx) && rd(sf, "crop.y", y, ny) && rd(sf, "crop.dy", dy, ny) &&
        rd(sf, "crop.dx", dx, nx)) {
        crop_forward(got, x, N, C, H, W, top, left, OH, OW);
        test_close_real("crop forward", got, y, ny, 0, ROUND_TOL);
        crop_backward(gdx, dy, N, C, H, W, top, left, OH, OW);
        test_close_real("crop backward", gdx, dx, nx, 0, ROUND_TOL);
        /* backward accumulates: onto 1 it gives 1 + the above, rounded once */
        for (i = 0; i < nx; i++) { dx[i] = 1 + gdx[i]; gdx[i] = 1; }
        crop_backward(gdx, dy, N, C, H, W, top, left, OH, OW);
        test_close_real("crop backward accumulates", gdx, dx, nx, 0, 0);
    }
    free(x); free(dx); free(gdx); free(y); free(dy); free(got);
}

/* concat golden: (2,3,4,5) and (2,2,4,5) along channels; backward with and without NULLs. */
static void concat_golden(st_file *sf)
{
    const int N = 2, Ca = 3, Cb = 2, HW = 20;
    size_t na = (size_t)N * Ca * HW, nb = (size_t)N * Cb * HW, ny = na + nb;
    real *a = test_alloc(na * sizeof(real)), *b = test_alloc(nb * sizeof(real));
    real *da = test_alloc(na * sizeof(real)), *db = test_alloc(nb * sizeof(real));
    real *ga = test_alloc(na * sizeof(real)), *gb = test_alloc(nb * sizeof(real));
    real *y = test_alloc(ny * sizeof(real)), *dy = test_alloc(ny * sizeof(real)), *got = test_alloc(ny * sizeof(real));
    if (rd(sf, "concat.a", a, na) && rd(sf, "concat.b", b, nb) && rd(sf, "concat.y", y, ny) &&
        rd(sf, "concat.dy", dy, ny) && rd(sf, "concat.da", da, na) && rd(sf, "concat.db", db, nb)) {
        concat_forward(got, a, Ca, b, Cb, N, HW);
        test_close_real("concat forward", got, y, ny, 0, ROUND_TOL);
        concat_backward(ga, gb, dy, Ca, Cb, N, HW);
        test_close_real("concat backward a", ga, da, na, 0, ROUND_TOL);
        test_close_real("concat backward b", gb, db, nb, 0, ROUND_TOL);
        memset(ga, 0, na * sizeof(real));
        concat_backward(ga, NULL, dy, Ca, Cb, N, HW);
        test_close_real("concat backward a only", ga, da, na, 0, ROUND_TOL);
        memset(gb, 0, nb * sizeof(real));
        concat_backward(NULL, gb, dy, Ca, Cb, N, HW);
        test_close_real("concat backward b only", gb, db, nb, 0, ROUND_TOL);
    }
    free(a); free(b); free(da); free(db); free(ga); free(gb); free(y); free(dy); free(got);
}

/* Pillow NEAREST resizes (labels_HxW_OHxOW.in/.out, uint8), compared exactly. */
static void labels_golden(st_file *sf)
{
    int i, n = 0;
    for (i = 0; i < sf->n; i++) {
        const st_entry *e = &sf->entries[i];
        size_t L = strlen(e->name);
        if (strncmp(e->name, "labels_", 7) == 0 && L > 3 && L < 100 &&
            strcmp(e->name + L - 3, ".in") == 0 && e->ndim == 2) {
            char oname[128];
            const st_entry *o;
            int H = (int)e->shape[0], W = (int)e->shape[1], OH, OW, bad = 0, k;
            uint8_t *in, *ref, *got;
            lsd_err err;
            memcpy(oname, e->name, L - 3);
            strcpy(oname + L - 3, ".out");
            o = st_find(sf, oname);
            if (!CHECK(o && o->ndim == 2, "%s exists", oname)) continue;
            OH = (int)o->shape[0];
            OW = (int)o->shape[1];
            in = test_alloc((size_t)H * W);
            ref = test_alloc((size_t)OH * OW);
            got = test_alloc((size_t)OH * OW);
            if (CHECK(st_read_raw(sf, e->name, in, (size_t)H * W, &err) == LSD_OK &&
                          st_read_raw(sf, oname, ref, (size_t)OH * OW, &err) == LSD_OK,
                      "read %s", e->name)) {
                resize_labels_nearest(got, in, H, W, OH, OW);
                for (k = 0; k < OH * OW; k++) bad += got[k] != ref[k];
                CHECK(bad == 0, "%dx%d -> %dx%d: %d labels differ from Pillow", H, W, OH, OW, bad);
            }
            free(in); free(ref); free(got);
            n++;
        }
    }
    CHECK(n >= 5, "label resize cases: %d", n);
}

/* At D's size (H/8 x W/8) output (i,j) takes input (8i+4, 8j+4). */
static void labels_d_size(void)
{
    const int H = 320, W = 640, OH = 40, OW = 80;
    uint8_t *in = test_alloc((size_t)H * W), *out = test_alloc((size_t)OH * OW);
    int i, j, bad = 0;
    for (i = 0; i < H * W; i++) in[i] = (uint8_t)((i * 131 + i / 7) % 251);
    resize_labels_nearest(out, in, H, W, OH, OW);
    for (i = 0; i < OH; i++)
        for (j = 0; j < OW; j++) bad += out[i * OW + j] != in[(8 * i + 4) * W + 8 * j + 4];
    CHECK(bad == 0, "320x640 -> 40x80 takes Ys[8i+4][8j+4] (%d differ)", bad);
    free(in); free(out);
}

#ifdef LSD_DOUBLE
/* Central differences of L = sum(crop(x) * r) and L = sum(concat(a, b) * r). */
static void finite_diff(void)
{
    const int N = 1, C = 2, H = 5, W = 6, top = 1, left = 2, OH = 3, OW = 3, Ca = 2, Cb = 3, HW = 4;
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW, i, j;
    real x[60], y[18], r[18], dx[60], num[60], a[8], b[12], cy[20], cr[20], da[8], db[12], na[8], nb[12];
    const double h = 1e-6;
    for (i = 0; i < nx; i++) x[i] = (real)((double)i / 7.0 - 2.0);
    for (i = 0; i < ny; i++) r[i] = (real)((double)(i % 5) - 1.5);
    memset(dx, 0, sizeof dx);
    crop_backward(dx, r, N, C, H, W, top, left, OH, OW);
    for (i = 0; i < nx; i++) {
        real keep = x[i];
        double lp = 0, lm = 0;
        x[i] = keep + h;
        crop_forward(y, x, N, C, H, W, top, left, OH, OW);
        for (j = 0; j < ny; j++) lp += y[j] * r[j];
        x[i] = keep - h;
        crop_forward(y, x, N, C, H, W, top, left, OH, OW);
        for (j = 0; j < ny; j++) lm += y[j] * r[j];
        x[i] = keep;
        num[i] = (lp - lm) / (2 * h);
    }
    test_close_real("crop fd", dx, num, nx, 1e-8, 1e-8);
    for (i = 0; i < 8; i++) a[i] = (real)((double)i * 0.3 - 1.0);
    for (i = 0; i < 12; i++) b[i] = (real)((double)i * -0.2 + 0.5);
    for (i = 0; i < 20; i++) cr[i] = (real)((double)(i % 7) - 3.0);
    memset(da, 0, sizeof da);
    memset(db, 0, sizeof db);
    concat_backward(da, db, cr, Ca, Cb, N, HW);
    for (i = 0; i < 20; i++) {
        real *v = i < 8 ? &a[i] : &b[i - 8], keep = *v;
        double lp = 0, lm = 0;
        *v = keep + h;
        concat_forward(cy, a, Ca, b, Cb, N, HW);
        for (j = 0; j < 20; j++) lp += cy[j] * cr[j];
        *v = keep - h;
        concat_forward(cy, a, Ca, b, Cb, N, HW);
        for (j = 0; j < 20; j++) lm += cy[j] * cr[j];
        *v = keep;
        if (i < 8) na[i] = (lp - lm) / (2 * h);
        else nb[i - 8] = (lp - lm) / (2 * h);
    }
    test_close_real("concat fd a", da, na, 8, 1e-8, 1e-8);
    test_close_real("concat fd b", db, nb, 12, 1e-8, 1e-8);
}
#endif

int main(void)
{
    char path[512];
    st_file sf;
    lsd_err err;
    test_begin("shape");
    snprintf(path, sizeof path, "%s/conv_shape.safetensors", test_golden_dir());
    if (CHECK(st_open(&sf, path, &err) == LSD_OK, "open %s: %s", path, err.msg)) {
        crop_golden(&sf);
        concat_golden(&sf);
        labels_golden(&sf);
        st_close(&sf);
    }
    labels_d_size();
#ifdef LSD_DOUBLE
    finite_diff();
#else
    test_skip("crop/concat finite-difference checks run in PRECISION=double builds");
#endif
    return test_summary();
}
