/*
 * misc_util.h - helpers shared by test_activation, test_norm, test_dropout, test_loss,
 * test_optim, test_conv and test_pool: golden loading, the comparison tolerance and central
 * differences.
 * Header-only (static functions), so the Makefile needs no change.
 *
 * Tolerance: |got - ref| <= atol + rtol*|ref| with rtol = GOLD_RTOL and
 * atol = GOLD_RTOL * max|ref| over the tensor. The float build computes from inputs
 * already rounded to float (relative error 6e-8), and sums in a layer (instance-norm
 * gradients, softmax - onehot) cancel, so an element near zero can carry the absolute
 * error of the tensor's largest terms: hence an atol scaled by the tensor's magnitude.
 * rtol 1e-5 in float leaves a margin of about 100 over the rounding of the inputs;
 * 1e-10 in double leaves room for a different summation order than PyTorch's.
 */
#ifndef LSD_MISC_UTIL_H
#define LSD_MISC_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/safetensors.h"
#include "harness.h"

#ifndef GOLD_RTOL
#ifdef LSD_DOUBLE
#define GOLD_RTOL 1e-10
#else
#define GOLD_RTOL 1e-5
#endif
#endif

/* Opens golden/<file>; a missing or unreadable file is one failed check. */
static inline int gold_open(st_file *sf, const char *file)
{
    char path[1024];
    lsd_err err;
    snprintf(path, sizeof path, "%s/%s", test_golden_dir(), file);
    if (st_open(sf, path, &err) != LSD_OK) {
        CHECK(0, "cannot open golden %s (%s); regenerate with make golden", path, err.msg);
        return 0;
    }
    return 1;
}

/* Runs run(sf, name) for every case of golden/<file> (the entries named <name>.cfg);
 * returns how many, or -1 (one failed check) when the file cannot be opened. */
static inline int gold_each_case(const char *file, void (*run)(st_file *, const char *))
{
    st_file sf;
    int i, n = 0;
    if (!gold_open(&sf, file)) return -1;
    for (i = 0; i < sf.n; i++) {
        const char *nm = sf.entries[i].name;
        size_t L = strlen(nm);
        if (L > 4 && L < 60 && strcmp(nm + L - 4, ".cfg") == 0) {
            char c[64];
            memcpy(c, nm, L - 4);
            c[L - 4] = 0;
            run(&sf, c);
            n++;
        }
    }
    st_close(&sf);
    return n;
}

/* Reads tensor name (any floating dtype) into a new real array of *n elements; fills
 * shape[0..3] (missing leading dims as 1, so a (C,HW) tensor gives 1,1,C,HW) when shape
 * is not NULL. NULL and one failed check when absent. */
static inline real *gold_get(st_file *sf, const char *name, size_t *n, int shape[4])
{
    const st_entry *e = st_find(sf, name);
    lsd_err err;
    real *x;
    int i;
    *n = 0;
    if (shape)
        for (i = 0; i < 4; i++) shape[i] = 1;
    if (!e) {
        CHECK(0, "golden tensor %s missing", name);
        return NULL;
    }
    x = (real *)malloc((e->nelem ? e->nelem : 1) * sizeof *x);
    if (!x || st_read_real(sf, name, x, (size_t)e->nelem, -1, NULL, &err) != LSD_OK) {
        CHECK(0, "reading golden %s: %s", name, x ? err.msg : "out of memory");
        free(x);
        return NULL;
    }
    if (shape)
        for (i = 0; i < e->ndim && e->ndim <= 4; i++) shape[4 - e->ndim + i] = (int)e->shape[i];
    *n = (size_t)e->nelem;
    return x;
}

/* Reads tensor name into a new double array (exact golden values in either build). */
static inline double *gold_get_f64(st_file *sf, const char *name, size_t *n)
{
    const st_entry *e = st_find(sf, name);
    lsd_err err;
    double *x;
    *n = 0;
    if (!e) {
        CHECK(0, "golden tensor %s missing", name);
        return NULL;
    }
    x = (double *)malloc((e->nelem ? e->nelem : 1) * sizeof *x);
    if (!x || st_read_f64(sf, name, x, (size_t)e->nelem, -1, NULL, &err) != LSD_OK) {
        CHECK(0, "reading golden %s: %s", name, x ? err.msg : "out of memory");
        free(x);
        return NULL;
    }
    *n = (size_t)e->nelem;
    return x;
}

/* Reads an integer tensor into a new int64 array. */
static inline int64_t *gold_get_i64(st_file *sf, const char *name, size_t *n)
{
    const st_entry *e = st_find(sf, name);
    lsd_err err;
    int64_t *x;
    *n = 0;
    if (!e) {
        CHECK(0, "golden tensor %s missing", name);
        return NULL;
    }
    x = (int64_t *)malloc((e->nelem ? e->nelem : 1) * sizeof *x);
    if (!x || st_read_i64(sf, name, x, (size_t)e->nelem, -1, NULL, &err) != LSD_OK) {
        CHECK(0, "reading golden %s: %s", name, x ? err.msg : "out of memory");
        free(x);
        return NULL;
    }
    *n = (size_t)e->nelem;
    return x;
}

/* Compares got with a golden ref under the tolerance described above. */
static inline int gold_close(const char *name, const real *got, const real *ref, size_t n)
{
    return test_close_real(name, got, ref, n, GOLD_RTOL * test_max_abs(ref, n), GOLD_RTOL);
}

/* A new zero-filled real array of n elements (n may be 0). */
static inline real *zalloc(size_t n) { return (real *)calloc(n ? n : 1, sizeof(real)); }

/* Fills x with reproducible values in [lo, hi) from a small LCG (test data only). */
static inline void fill_uniform(real *x, size_t n, double lo, double hi, unsigned seed)
{
    uint64_t s = (uint64_t)seed * 2654435761u + 12345u;
    size_t i;
    for (i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (real)(lo + (hi - lo) * (double)(s >> 11) / 9007199254740992.0);
    }
}

/* Central-difference gradient of f at x: g[i] = (f(x + h e_i) - f(x - h e_i)) / 2h. */
static inline void fd_grad(double *g, real *x, size_t n, double (*f)(const real *, void *),
                           void *ctx, double h)
{
    size_t i;
    for (i = 0; i < n; i++) {
        real x0 = x[i];
        double fp, fm;
        x[i] = (real)(x0 + h);
        fp = f(x, ctx);
        x[i] = (real)(x0 - h);
        fm = f(x, ctx);
        x[i] = x0;
        g[i] = (fp - fm) / (2 * h);
    }
}

/* Compares an analytic gradient (real) with a finite-difference one (double). */
static inline int fd_close(const char *name, const real *got, const double *fd, size_t n,
                           double tol)
{
    double *g = (double *)malloc((n ? n : 1) * sizeof *g);
    size_t i;
    int ok;
    if (!g) return CHECK(0, "out of memory");
    for (i = 0; i < n; i++) g[i] = (double)got[i];
    ok = test_close_double(name, g, fd, n, tol, tol);
    free(g);
    return ok;
}

#endif
