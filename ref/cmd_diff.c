/*
 * cmd_diff.c - `lsdseg diff A.safetensors B.safetensors`: compares every tensor of two files
 * (a port's results in A, lsdseg's in B), element by element, under numpy.allclose's rule
 * |a - b| <= atol + rtol * |b| (B is the reference), and reports per tensor the largest
 * absolute, relative and ulp errors and the worst element. docs/porting.md describes it.
 *
 * Exit status: 0 when every tensor passes, 1 when any fails, 2 on a usage or file error.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/safetensors.h"
#include "options.h"

int cmd_diff(int argc, char **argv);

#define CMD "diff"
#define NAME_CAP 256

typedef struct {
    double rtol, atol;
    int quiet, width, twidth; /* widths of the name and type columns */
} diff_opts;

/* The outcome of one tensor. */
typedef struct {
    int fail;
    int numeric;            /* 1: the numbers below are set; 0: note says what happened */
    uint64_t n, nbad;       /* elements, elements outside the tolerance */
    double max_abs, max_rel, max_ulp;
    int64_t worst;          /* flat index of the worst element; -1: all equal (or empty) */
    char va[48], vb[48];    /* the two values at the worst element */
    char note[1100];
} diff_result;

/* A binary floating-point format's grid: m fraction bits, emin the smallest normal exponent. */
typedef struct {
    int m, emin;
} fp_grid;

/* How ulps are counted for a pair of tensors. */
enum { ULP_BITS32, ULP_BITS64, ULP_GRID };

/* Prints the usage of the command to f. */
static void diff_usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg diff A.safetensors B.safetensors [--rtol R] [--atol A]\n"
            "                   [--only PREFIX] [--quiet]\n"
            "\n"
            "Compares the tensors of A (say, a port's output) with those of the same name in\n"
            "B (the reference: lsdseg step / forward), element by element. An element passes\n"
            "when |a - b| <= atol + rtol * |b| (numpy.allclose's rule); NaN equals NaN, a NaN\n"
            "against a number fails, an infinity equals only itself. --rtol 0 --atol 0\n"
            "asks for equal values (+0 and -0 are equal; use cmp for identical bytes).\n"
            "\n"
            "Per tensor: dtype, shape, the largest absolute error |a-b|, relative error\n"
            "|a-b|/|b|, distance in ulps, and the worst element (the one furthest outside the\n"
            "tolerance, else the one with the largest |a-b|) as [i,j,...] with both values.\n"
            "Ulps are counted in the dtype of the files (float32 ulps for F32, float64 for\n"
            "F64, likewise F16, BF16, F8); for two dtypes, in the coarser one (F32 vs F64:\n"
            "float32 ulps; the finer value may sit between two of its numbers, so the count\n"
            "can be fractional); for integers the ulp count is |a - b|.\n"
            "A tensor in one file only, a shape mismatch, or dtypes that cannot be compared\n"
            "(BOOL, C64, F4, F6 against another dtype) fail. The end shows the first failing\n"
            "tensor in A's file order and 'N tensors compared, M failed'.\n"
            "\n"
            "options:\n"
            "  --rtol R         relative tolerance (default 1e-05, numpy's)\n"
            "  --atol A         absolute tolerance (default 1e-08, numpy's)\n"
            "  --only PREFIX    only the tensors whose names start with PREFIX\n"
            "  --quiet          print only the failing tensors and the summary\n"
            "\n"
            "Exit status: 0 all pass, 1 some tensor fails (or --only matches none),\n"
            "2 usage or file error (missing or malformed file: the message names it).\n");
}

/* A number for the report: nan, inf, an integer exactly, else 6 significant digits. */
static void fmt_num(char *buf, size_t cap, double x)
{
    if (isnan(x)) snprintf(buf, cap, "nan");
    else if (isinf(x)) snprintf(buf, cap, x > 0 ? "inf" : "-inf");
    else if (x == floor(x) && fabs(x) < 9007199254740992.0) snprintf(buf, cap, "%.0f", x);
    else snprintf(buf, cap, "%.6g", x);
}

/* A value of a tensor of dtype dt: integers exactly, F64 with 17 digits, other floats with 9
 * (enough to tell every float32 apart). */
static void fmt_value(char *buf, size_t cap, double v, st_dtype dt)
{
    if (isnan(v)) snprintf(buf, cap, "nan");
    else if (isinf(v)) snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    else if (st_dtype_class(dt) == ST_CLASS_INT) snprintf(buf, cap, "%.0f", v);
    else snprintf(buf, cap, dt == ST_F64 ? "%.17g" : "%.9g", v);
}

/* A shape as "(2, 3, 4)" ("()" for a scalar). */
static void fmt_shape(char *buf, size_t cap, const st_entry *e)
{
    size_t o = (size_t)snprintf(buf, cap, "(");
    int i;
    for (i = 0; i < e->ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)e->shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, ")");
}

/* The multi-index "[i,j,k]" of row-major element flat of e ("[]" for a scalar). */
static void fmt_index(char *buf, size_t cap, const st_entry *e, uint64_t flat)
{
    uint64_t idx[ST_MAX_DIMS];
    size_t o;
    int d;
    for (d = e->ndim - 1; d >= 0; d--) {
        uint64_t s = (uint64_t)e->shape[d];
        idx[d] = s ? flat % s : 0;
        flat = s ? flat / s : 0;
    }
    o = (size_t)snprintf(buf, cap, "[");
    for (d = 0; d < e->ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, d ? ",%llu" : "%llu", (unsigned long long)idx[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* The grid of a floating dtype (0 for any other dtype). */
static int float_grid(st_dtype dt, fp_grid *g)
{
    switch (dt) {
    case ST_F64: g->m = 52, g->emin = -1022; return 1;
    case ST_F32: g->m = 23, g->emin = -126; return 1;
    case ST_F16: g->m = 10, g->emin = -14; return 1;
    case ST_BF16: g->m = 7, g->emin = -126; return 1;
    case ST_F8_E4M3: g->m = 3, g->emin = -6; return 1;
    case ST_F8_E5M2: g->m = 2, g->emin = -14; return 1;
    case ST_F8_E4M3FNUZ: g->m = 3, g->emin = -7; return 1;
    case ST_F8_E5M2FNUZ: g->m = 2, g->emin = -15; return 1;
    case ST_F8_E8M0: g->m = 0, g->emin = -127; return 1;
    default: return 0;
    }
}

/* Position of finite x on grid g: the number of non-negative grid values below |x| (with a
 * fraction *fp when x is not on the grid), negated for negative x; +0 and -0 are both 0.
 * Exact: only scalings by powers of two. For IEEE formats the integer part of a value on the
 * grid is its bit pattern without the sign bit. */
static void grid_pos(double x, fp_grid g, int64_t *ip, double *fp)
{
    double a = fabs(x), t, fl;
    int64_t i;
    int e;
    if (a < ldexp(1.0, g.emin)) { /* subnormal range: steps of 2^(emin - m) */
        t = ldexp(a, g.m - g.emin);
        i = 0;
    } else { /* a = s * 2^e, s in [0.5, 1): binade e - 1, fraction (2s - 1) * 2^m */
        double s = frexp(a, &e);
        t = ldexp(s, g.m + 1) - ldexp(1.0, g.m);
        i = (int64_t)(e - g.emin) * ((int64_t)1 << g.m);
    }
    fl = floor(t);
    i += (int64_t)fl;
    *ip = x < 0 ? -i : i;
    *fp = x < 0 ? -(t - fl) : t - fl;
}

/* Distance in ulps of grid g between finite x and y (exact below 2^53). */
static double grid_dist(double x, double y, fp_grid g)
{
    int64_t ix, iy;
    double fx, fy, di;
    grid_pos(x, g, &ix, &fx);
    grid_pos(y, g, &iy, &fy);
    /* same sign: the int64 difference cannot overflow; else the magnitudes (each below
     * 2^63) add exactly in uint64 */
    if ((ix < 0) == (iy < 0)) di = (double)(ix - iy);
    else if (ix < 0) di = -(double)((uint64_t)-ix + (uint64_t)iy);
    else di = (double)((uint64_t)ix + (uint64_t)-iy);
    return fabs(di + (fx - fy));
}

/* Distance of two sign-magnitude integers (sign flags sx, sy; magnitudes below 2^63). */
static double sm_dist(int sx, uint64_t mx, int sy, uint64_t my)
{
    if (sx == sy) return (double)(mx > my ? mx - my : my - mx);
    return (double)(mx + my);
}

/* Float32 ulps between finite x and y (both float32 values): their bit patterns, read as
 * sign-magnitude integers. */
static double f32_ulps(double x, double y)
{
    float fx = (float)x, fy = (float)y; /* exact: the values came from F32 */
    uint32_t ux, uy;
    memcpy(&ux, &fx, sizeof ux);
    memcpy(&uy, &fy, sizeof uy);
    return sm_dist((int)(ux >> 31), ux & 0x7fffffffu, (int)(uy >> 31), uy & 0x7fffffffu);
}

/* Float64 ulps between finite x and y, from their bit patterns likewise. */
static double f64_ulps(double x, double y)
{
    uint64_t ux, uy, mask = ((uint64_t)1 << 63) - 1;
    memcpy(&ux, &x, sizeof ux);
    memcpy(&uy, &y, sizeof uy);
    return sm_dist((int)(ux >> 63), ux & mask, (int)(uy >> 63), uy & mask);
}

/* The worst candidates so far: furthest outside the tolerance, largest |a - b| (-1: none). */
typedef struct {
    int64_t wbad, wabs;
    double wexc, wabsv;
} worst_track;

/* Records element i with error d (abs), rel and ulp, and whether it is outside the tolerance
 * by excess = d - tol; keeps the maxima and the worst candidates (first on ties). */
static void tally(diff_result *r, worst_track *w, uint64_t i, double d, double rel, double ulp,
                  int bad, double excess)
{
    if (d > r->max_abs) r->max_abs = d;
    if (rel > r->max_rel) r->max_rel = rel;
    if (ulp > r->max_ulp) r->max_ulp = ulp;
    if (bad) {
        r->nbad++;
        if (w->wbad < 0 || excess > w->wexc) w->wbad = (int64_t)i, w->wexc = excess;
    }
    if (w->wabs < 0 || d > w->wabsv) w->wabs = (int64_t)i, w->wabsv = d;
}

/* Compares n values read as double (a from dtype da, b from db); ulps by mode (grid g). */
static void compare_f64(diff_result *r, const double *a, const double *b, uint64_t n,
                        st_dtype da, st_dtype db, int mode, fp_grid g, const diff_opts *o)
{
    worst_track w = {-1, -1, 0, 0};
    uint64_t i;
    for (i = 0; i < n; i++) {
        double x = a[i], y = b[i], d, rel, ulp, tol = 0;
        int bad = 0;
        if (isnan(x) || isnan(y)) {
            if (isnan(x) && isnan(y)) continue; /* NaN against NaN: equal */
            d = rel = ulp = HUGE_VAL, bad = 1;
        } else if (x == y) {
            continue;
        } else if (isinf(x) || isinf(y)) {
            d = rel = ulp = HUGE_VAL, bad = 1;
        } else {
            d = fabs(x - y);
            rel = y != 0 ? d / fabs(y) : HUGE_VAL;
            ulp = mode == ULP_BITS32 ? f32_ulps(x, y) : mode == ULP_BITS64 ? f64_ulps(x, y)
                                                                            : grid_dist(x, y, g);
            tol = o->atol + o->rtol * fabs(y);
            bad = !(d <= tol);
        }
        tally(r, &w, i, d, rel, ulp, bad, isinf(d) ? HUGE_VAL : d - tol);
    }
    r->worst = w.wbad >= 0 ? w.wbad : w.wabs;
    if (r->worst >= 0) {
        fmt_value(r->va, sizeof r->va, a[r->worst], da);
        fmt_value(r->vb, sizeof r->vb, b[r->worst], db);
    }
}

/* Compares n integers exactly (|a - b| as an unsigned 64-bit count; it is also the ulp count). */
static void compare_i64(diff_result *r, const int64_t *a, const int64_t *b, uint64_t n,
                        const diff_opts *o)
{
    worst_track w = {-1, -1, 0, 0};
    uint64_t i;
    for (i = 0; i < n; i++) {
        int64_t x = a[i], y = b[i];
        uint64_t du;
        double d, rel, tol;
        if (x == y) continue;
        du = x > y ? (uint64_t)x - (uint64_t)y : (uint64_t)y - (uint64_t)x;
        d = (double)du;
        rel = y ? d / fabs((double)y) : HUGE_VAL;
        tol = o->atol + o->rtol * fabs((double)y);
        tally(r, &w, i, d, rel, d, !(d <= tol), d - tol);
    }
    r->worst = w.wbad >= 0 ? w.wbad : w.wabs;
    if (r->worst >= 0) {
        snprintf(r->va, sizeof r->va, "%lld", (long long)a[r->worst]);
        snprintf(r->vb, sizeof r->vb, "%lld", (long long)b[r->worst]);
    }
}

/* Same dtype, compared byte for byte (the dtypes that are not numbers to lsdseg, and integers
 * beyond int64). */
static int compare_raw(diff_result *r, st_file *fa, st_file *fb, const st_entry *ea,
                       lsd_err *err)
{
    size_t nb = (size_t)(ea->end - ea->begin), k;
    unsigned char *pa = (unsigned char *)malloc(nb ? nb : 1);
    unsigned char *pb = (unsigned char *)malloc(nb ? nb : 1);
    int rc = LSD_OK;
    if (!pa || !pb) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory for tensor of %lu bytes",
                                  (unsigned long)nb);
    if (!rc) rc = st_read_raw(fa, ea->name, pa, nb, err);
    if (!rc) rc = st_read_raw(fb, ea->name, pb, nb, err);
    if (!rc) {
        for (k = 0; k < nb && pa[k] == pb[k]; k++) {}
        r->fail = k < nb;
        if (r->fail) snprintf(r->note, sizeof r->note, "raw bytes differ (first at byte %lu)",
                              (unsigned long)k);
        else snprintf(r->note, sizeof r->note, "raw bytes equal");
    }
    free(pa);
    free(pb);
    return rc;
}

/* Compares tensor ea of A with eb of B into r. Returns an error only for a file or memory
 * fault (the run stops); mismatches of any kind are failures in r. */
static int compare_tensor(diff_result *r, st_file *fa, st_file *fb, const st_entry *ea,
                          const st_entry *eb, const diff_opts *o, lsd_err *err)
{
    int ca = st_dtype_class(ea->dtype), cb = st_dtype_class(eb->dtype), d, k, rc, mode;
    uint64_t n = ea->nelem;
    char sa[160], sb[160];
    fp_grid g = {0, 0}, g2;
    lsd_err rerr;
    void *pa = NULL, *pb = NULL;
    memset(r, 0, sizeof *r);
    r->worst = -1;
    r->n = n;
    d = ea->ndim == eb->ndim;
    for (k = 0; d && k < ea->ndim; k++) d = ea->shape[k] == eb->shape[k];
    if (!d) {
        fmt_shape(sa, sizeof sa, ea);
        fmt_shape(sb, sizeof sb, eb);
        r->fail = 1;
        snprintf(r->note, sizeof r->note, "shape %s in A, %s in B", sa, sb);
        return LSD_OK;
    }
    if (ca == ST_CLASS_RAW || cb == ST_CLASS_RAW) {
        if (ea->dtype == eb->dtype) return compare_raw(r, fa, fb, ea, err);
        r->fail = 1;
        snprintf(r->note, sizeof r->note, "dtype %s in A, %s in B: cannot be compared",
                 st_dtype_name(ea->dtype), st_dtype_name(eb->dtype));
        return LSD_OK;
    }
    if (n > (uint64_t)(SIZE_MAX / 8))
        return lsd_fail(err, LSD_ERR_NOMEM, "tensor of %llu elements is too large here",
                        (unsigned long long)n);
    pa = malloc(n ? (size_t)n * 8 : 1);
    pb = malloc(n ? (size_t)n * 8 : 1);
    if (!pa || !pb) {
        free(pa);
        free(pb);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for two tensors of %llu elements",
                        (unsigned long long)n);
    }
    if (ca == ST_CLASS_INT && cb == ST_CLASS_INT) {
        rc = st_read_i64(fa, ea->name, (int64_t *)pa, (size_t)n, -1, NULL, &rerr);
        if (!rc) rc = st_read_i64(fb, eb->name, (int64_t *)pb, (size_t)n, -1, NULL, &rerr);
        if (!rc) {
            r->numeric = 1;
            compare_i64(r, (const int64_t *)pa, (const int64_t *)pb, n, o);
        }
    } else {
        rc = st_read_f64(fa, ea->name, (double *)pa, (size_t)n, -1, NULL, &rerr);
        if (!rc) rc = st_read_f64(fb, eb->name, (double *)pb, (size_t)n, -1, NULL, &rerr);
        if (!rc) {
            /* ulps: F32 and F64 pairs from their bit patterns, else on the coarser grid (fewer
             * fraction bits; a tie: the larger emin); an integer side takes the other's */
            mode = ea->dtype == ST_F32 && eb->dtype == ST_F32   ? ULP_BITS32
                   : ea->dtype == ST_F64 && eb->dtype == ST_F64 ? ULP_BITS64
                                                                : ULP_GRID;
            if (!float_grid(ea->dtype, &g)) float_grid(eb->dtype, &g);
            else if (float_grid(eb->dtype, &g2) &&
                     (g2.m < g.m || (g2.m == g.m && g2.emin > g.emin)))
                g = g2;
            r->numeric = 1;
            compare_f64(r, (const double *)pa, (const double *)pb, n, ea->dtype, eb->dtype, mode,
                        g, o);
        }
    }
    free(pa);
    free(pb);
    if (rc == LSD_ERR_RANGE) { /* integers beyond what the readers hold */
        if (ea->dtype == eb->dtype) return compare_raw(r, fa, fb, ea, err);
        r->fail = 1;
        snprintf(r->note, sizeof r->note, "cannot be compared: %s", rerr.msg);
        return LSD_OK;
    }
    if (rc) {
        if (err) *err = rerr;
        return rc;
    }
    r->fail = r->nbad > 0;
    return LSD_OK;
}

/* The type column: dtype and shape, "F32 (2, 3)", or "F32/F64 (2, 3)" when the dtypes of A
 * and B differ (of the file that has it when one lacks the tensor). */
static void fmt_type(char *buf, size_t cap, const st_entry *ea, const st_entry *eb)
{
    char shape[160];
    const st_entry *e = ea ? ea : eb;
    fmt_shape(shape, sizeof shape, e);
    if (!ea || !eb || ea->dtype == eb->dtype)
        snprintf(buf, cap, "%s %s", st_dtype_name(e->dtype), shape);
    else
        snprintf(buf, cap, "%s/%s %s", st_dtype_name(ea->dtype), st_dtype_name(eb->dtype), shape);
}

/* Prints one tensor's line. */
static void print_result(const char *name, const st_entry *ea, const st_entry *eb,
                         const diff_result *r, const diff_opts *o)
{
    char ts[200], na[40], nr[40], nu[40], idx[200];
    if (o->quiet && !r->fail) return;
    fmt_type(ts, sizeof ts, ea, eb);
    printf("%s  %-*s  %-*s", r->fail ? "FAIL" : "PASS", o->width, name, o->twidth, ts);
    if (!ea || !eb) {
        printf("  only in %s\n", ea ? "A" : "B");
        return;
    }
    if (!r->numeric) {
        printf("  %s\n", r->note);
        return;
    }
    fmt_num(na, sizeof na, r->max_abs);
    fmt_num(nr, sizeof nr, r->max_rel);
    fmt_num(nu, sizeof nu, r->max_ulp);
    printf("  max abs %s  max rel %s  max ulp %s", na, nr, nu);
    if (r->worst < 0) {
        printf("  equal\n");
        return;
    }
    fmt_index(idx, sizeof idx, ea, (uint64_t)r->worst);
    printf("  worst %s %s vs %s", idx, r->va, r->vb);
    if (r->nbad)
        printf("  (%llu of %llu outside tolerance)", (unsigned long long)r->nbad,
               (unsigned long long)r->n);
    printf("\n");
}

/* Prints the "first failure:" line for tensor name. */
static void print_first(const char *name, const st_entry *ea, const st_entry *eb,
                        const diff_result *r, const diff_opts *o)
{
    char idx[200], na[40];
    printf("first failure: %s: ", name);
    if (!ea || !eb) printf("only in %s\n", ea ? "A" : "B");
    else if (!r->numeric) printf("%s\n", r->note);
    else {
        fmt_index(idx, sizeof idx, ea, (uint64_t)r->worst);
        fmt_num(na, sizeof na, r->max_abs);
        printf("%llu of %llu elements outside |a-b| <= %g + %g*|b|; worst %s %s vs %s; "
               "max abs %s\n",
               (unsigned long long)r->nbad, (unsigned long long)r->n, o->atol, o->rtol, idx,
               r->va, r->vb, na);
    }
}

/* 1 if name starts with prefix (NULL: every name). */
static int selected(const char *name, const char *prefix)
{
    return !prefix || !strncmp(name, prefix, strlen(prefix));
}

/* `lsdseg diff`. */
int cmd_diff(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *only = NULL, *v;
    diff_opts o;
    st_file fa, fb;
    lsd_err err;
    int i, k, nfiles = 0, rc = 0, total = 0, failed = 0, have_first = 0;
    char name[NAME_CAP], first_name[NAME_CAP];
    diff_result r, first;
    const st_entry *first_a = NULL, *first_b = NULL;
    o.rtol = 1e-5, o.atol = 1e-8, o.quiet = 0, o.width = 4, o.twidth = 4;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opt_is_help(a)) {
            diff_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--rtol") || !strcmp(a, "--atol")) {
            if (!(v = opt_value(CMD, argc, argv, &i))) return 2;
            if (opt_double(CMD, a, v, 0, 1e300, a[2] == 'r' ? &o.rtol : &o.atol)) return 2;
        } else if (!strcmp(a, "--only")) {
            if (!(only = opt_value(CMD, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--quiet")) {
            o.quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return opt_unknown(CMD, a);
        } else if (nfiles < 2) {
            files[nfiles++] = a;
        } else {
            fprintf(stderr, "lsdseg diff: more than two files ('%s') (try --help)\n", a);
            return 2;
        }
    }
    if (nfiles < 2) {
        fprintf(stderr, "lsdseg diff: needs two files, A and B (try --help)\n");
        return 2;
    }
    if (st_open(&fa, files[0], &err)) {
        fprintf(stderr, "lsdseg diff: %s\n", err.msg);
        return 2;
    }
    if (st_open(&fb, files[1], &err)) {
        fprintf(stderr, "lsdseg diff: %s\n", err.msg);
        st_close(&fa);
        return 2;
    }
    for (k = 0; k < 2; k++) { /* the widths of the name and type columns */
        const st_file *sf = k ? &fb : &fa;
        for (i = 0; i < sf->n; i++) {
            const st_entry *e = &sf->entries[i];
            char ts[200];
            int len;
            if (!selected(e->name, only)) continue;
            st_printable(e->name, name, sizeof name);
            len = (int)strlen(name);
            if (len > o.width) o.width = len < 40 ? len : 40;
            fmt_type(ts, sizeof ts, k ? NULL : e, k ? e : st_find(&fb, e->name));
            len = (int)strlen(ts);
            if (len > o.twidth) o.twidth = len < 32 ? len : 32;
        }
    }
    if (!o.quiet)
        printf("comparing %s with %s (the reference): pass when |a-b| <= %g + %g*|b|\n",
               files[0], files[1], o.atol, o.rtol);
    /* A's tensors in file order, then those only in B */
    for (k = 0; k < 2 && !rc; k++) {
        st_file *sf = k ? &fb : &fa;
        for (i = 0; i < sf->n && !rc; i++) {
            const char *nm = sf->entries[i].name;
            const st_entry *ea = k ? NULL : &sf->entries[i];
            const st_entry *eb = k ? &sf->entries[i] : st_find(&fb, nm);
            if (!selected(nm, only) || (k && st_find(&fa, nm))) continue;
            memset(&r, 0, sizeof r);
            r.worst = -1;
            if (ea && eb) rc = compare_tensor(&r, &fa, &fb, ea, eb, &o, &err);
            else r.fail = 1;
            if (rc) break;
            st_printable(nm, name, sizeof name);
            print_result(name, ea, eb, &r, &o);
            total++;
            if (r.fail) {
                failed++;
                if (!have_first) {
                    have_first = 1, first = r, first_a = ea, first_b = eb;
                    memcpy(first_name, name, sizeof name);
                }
            }
        }
    }
    if (rc) {
        fprintf(stderr, "lsdseg diff: %s\n", err.msg);
        st_close(&fa);
        st_close(&fb);
        return 2;
    }
    if (have_first) print_first(first_name, first_a, first_b, &first, &o);
    if (only && total == 0) printf("no tensor name starts with '%s'\n", only);
    printf("%d tensor%s compared, %d failed\n", total, total == 1 ? "" : "s", failed);
    st_close(&fa);
    st_close(&fb);
    return failed || (only && total == 0) ? 1 : 0;
}
