/*
 * test_goldens.c - the goldens can be made again: golden/gen.py, run into a scratch folder on
 * this machine, writes the same tensors as the committed files in golden/, to within the
 * rounding of float64 arithmetic, and to the byte when it runs the same CPU code paths.
 *
 * PyTorch picks its float64 kernels by the CPU (ATen's vectorised kernels by
 * ATEN_CPU_CAPABILITY, oneDNN by ONEDNN_MAX_CPU_ISA, the BLAS that libblas.so.3 points to) and
 * sums in another order on another machine. So each file is compared in two ways:
 *
 * 1. Numerically, always. Every tensor name, dtype and shape must match, and the metadata other
 *    than the CPU path (below). Integer tensors must be equal. Non-finite floats must be the
 *    same (NaN with NaN, inf with inf of the same sign). A finite float must satisfy
 *        |a - b| <= 2 * L * u * S
 *    where u = 2^-53 is float64's unit roundoff, L the file's error length from the table
 *    below, and S the largest magnitude in the tensor's group. Why: a sum of L terms computed
 *    in any order is within L * u * (the sum of the terms' magnitudes) of the exact value
 *    (Higham, "Accuracy and Stability of Numerical Algorithms", section 4.2, the first-order
 *    form of gamma_L); two evaluations differ by at most twice that. The magnitudes are
 *    taken as the group's largest value: the group is the name up to its first dot (one
 *    test case of a layer), or up to its second dot where names begin with a kind (fwd, grad,
 *    new, so, sum, abssum, sample: the tensors of one kind of one network), because rounding
 *    errors flow between the tensors of a group (a gradient inherits those of the gradient
 *    above it, a tensor that is analytically zero carries noise at the scale of its
 *    neighbours). L is the longest chain of roundings that reaches one value: the longest
 *    sum, times the number of iterations chained where a file holds several.
 *    One exception, derived the same way: D's biases that feed an instance norm have a true
 *    gradient of zero (docs/method.md, "D"), so the Adam steps they take are driven by rounding
 *    noise alone and only Adam's own step bound holds for them: each step moves a parameter
 *    by at most lr * (1 - beta1) / sqrt(1 - beta2) (Kingma and Ba, section 2.1), so two
 *    evaluations of t iterations differ by at most 2 * t * lr * (1 - beta1) / sqrt(1 - beta2),
 *    with D's lr 1e-4, beta1 0.7, beta2 0.999 (golden/model.py, make_optimizers).
 *    The observed differences between CPU paths are 0 to about 90 u * S (nets_small_b1's G
 *    gradients with ATEN_CPU_CAPABILITY=default); the bounds are 2 * L * u * S with L >= 4.
 *
 * 2. To the byte, when the regenerated file records the same CPU path as the committed one:
 *    the metadata torch_version, cpu_capability, onednn_isa, blas and threads (golden/common.py,
 *    cpu_path). Otherwise the byte comparison is reported as a skip naming the difference.
 *
 * Needs Python with torch and numpy (a visible skip otherwise). .ci/run runs this test once
 * more with each of ATEN_CPU_CAPABILITY=default, ATEN_CPU_CAPABILITY=avx2,
 * ONEDNN_MAX_CPU_ISA=AVX2 and ONEDNN_MAX_CPU_ISA=SSE41, so CI sees other CPUs' paths.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/png.h" /* lsd_read_file */
#include "../tensor/safetensors.h"
#include "harness.h"

/* The error length L of each golden file, derived from the operations that made it
 * (golden/gen_*.py). */
static const struct {
    const char *file;
    double L;
} ERROR_LENGTH[] = {
    /* elementwise functions (ReLU, LeakyReLU, tanh, sigmoid) and their derivatives: a few
     * roundings, exp and tanh of the vectorised libraries within 2 ulp */
    {"activation.safetensors", 4},
    /* products by 0 or 1/(1-p): exact; 4 as for any elementwise operation */
    {"dropout.safetensors", 4},
    /* max-pooling is exact, its backward adds at most 4 gradients into an element */
    {"conv_pool.safetensors", 4},
    /* crops, concatenations, nearest and bilinear resampling: a few products per value */
    {"conv_shape.safetensors", 4},
    /* the longest sum of any case: t_k8s2p100's weight gradient over its 100 x 101 input */
    {"conv.safetensors", 10100},
    /* cross-entropy and L1 losses summed over the most elements of a case (ce.2: 1x19x4x6) */
    {"loss.safetensors", 456},
    /* instance norm: mean, variance and the two sums of the backward over H*W = 200 */
    {"norm.safetensors", 3 * 200},
    /* Adam and SGD: a few elementwise operations (a square root, a division) per element */
    {"optim.safetensors", 4},
    /* one iteration at 64x128, batch 1: the weight gradients of G's last and D's first
     * layers sum over every one of the N*H*W = 8192 pixels */
    {"nets_small_b1.safetensors", 8192},
    /* three chained iterations at 32x64, batch 2: 3 * N*H*W */
    {"nets_small_b2.safetensors", 3 * 2 * 32 * 64},
    /* the paper's networks forward at 32x64: fc6 sums 512*7*7 products per output */
    {"nets_full_fwd.safetensors", 512 * 7 * 7},
    /* the authors' recipe (golden/gen_authors.py): as nets_small_b1 and nets_small_b2 (the same
     * sums in another schedule); each switch alone as nets_small_b1; the full-size iteration of
     * each recipe at 32x64 as nets_full_fwd (its longest sum, fc6's) */
    {"authors_small_b1.safetensors", 8192},
    {"authors_small_b2.safetensors", 3 * 2 * 32 * 64},
    {"authors_switch.safetensors", 8192},
    {"authors_full.safetensors", 512 * 7 * 7},
};

/* The metadata that names the CPU path (golden/common.py, cpu_path). */
static const char *const PATH_KEYS[] = {"torch_version", "cpu_capability", "onednn_isa", "blas",
                                        "threads"};
#define N_PATH_KEYS ((int)(sizeof PATH_KEYS / sizeof PATH_KEYS[0]))

/* D's Adam (golden/model.py): lr, beta1, beta2. */
#define D_LR 1e-4
#define D_BETA1 0.7
#define D_BETA2 0.999

/* 1 if name ends in ".safetensors". */
static int is_safetensors(const char *name)
{
    size_t n = strlen(name), k = strlen(".safetensors");
    return n > k && !strcmp(name + n - k, ".safetensors");
}

/* 1 for the floating dtypes (F16, BF16, F32, F64, and any F8 kind). */
static int is_float(const st_entry *e)
{
    const char *d = st_dtype_name(e->dtype);
    return d[0] == 'F' || !strcmp(d, "BF16");
}

/* The group of a tensor name into g (cap bytes): the name up to its first dot, or up to
 * its second where the first part is a kind of the nets files. */
static void group_of(const char *name, char *g, size_t cap)
{
    static const char *const KINDS[] = {"fwd", "grad", "new", "so", "sum", "abssum", "sample"};
    const char *dot = strchr(name, '.');
    size_t n, k;
    if (!dot) {
        snprintf(g, cap, "%s", name);
        return;
    }
    n = (size_t)(dot - name);
    for (k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++)
        if (strlen(KINDS[k]) == n && !strncmp(name, KINDS[k], n) && strchr(dot + 1, '.')) {
            n = (size_t)(strchr(dot + 1, '.') - name);
            break;
        }
    if (n >= cap) n = cap - 1;
    memcpy(g, name, n);
    g[n] = '\0';
}

/* 1 for the updated value of one of D's biases that feed an instance norm ("new.D.*", or
 * "<tag>.new.D.*" in the files of several runs: gen_authors.py). */
static int in_fed_bias(const char *name)
{
    const char *dot = strchr(name, '.');
    size_t n = strlen(name);
    if (strncmp(name, "new.D.", 6) && dot && !strncmp(dot + 1, "new.D.", 6)) name = dot + 1;
    return !strncmp(name, "new.D.", 6) && n > 5 && !strcmp(name + strlen(name) - 5, ".bias") &&
           strncmp(name, "new.D.out_", 10) != 0;
}

/* A float tensor of the file as doubles (NULL after a failed check). */
static double *read_f64(st_file *sf, const st_entry *e)
{
    lsd_err err;
    double *p = (double *)test_alloc((size_t)e->nelem * sizeof(double));
    if (st_read_f64(sf, e->name, p, (size_t)e->nelem, -1, NULL, &err)) {
        CHECK(0, "%s", err.msg);
        free(p);
        return NULL;
    }
    return p;
}

/* An integer tensor of the file as int64 (NULL after a failed check). */
static int64_t *read_i64(st_file *sf, const st_entry *e)
{
    lsd_err err;
    int64_t *p = (int64_t *)test_alloc((size_t)e->nelem * sizeof(int64_t));
    if (st_read_i64(sf, e->name, p, (size_t)e->nelem, -1, NULL, &err)) {
        CHECK(0, "%s", err.msg);
        free(p);
        return NULL;
    }
    return p;
}

/* The largest finite magnitude of a float tensor (0 for integers or a failed read). */
static double max_abs_of(st_file *f, const st_entry *e)
{
    double s = 0, *v;
    uint64_t k;
    if (!is_float(e) || !(v = read_f64(f, e))) return 0;
    for (k = 0; k < e->nelem; k++)
        if (isfinite(v[k]) && fabs(v[k]) > s) s = fabs(v[k]);
    free(v);
    return s;
}

/* scale[i] = the largest finite magnitude in the group of a's tensor i, over a and b. */
static void group_scales(st_file *a, st_file *b, double *scale)
{
    double *m = (double *)test_alloc((size_t)a->n * sizeof(double));
    char gi[256], gj[256];
    int i, j;
    for (i = 0; i < a->n; i++) {
        const st_entry *eb = st_find(b, a->entries[i].name);
        double mb = eb ? max_abs_of(b, eb) : 0;
        m[i] = max_abs_of(a, &a->entries[i]);
        if (mb > m[i]) m[i] = mb;
    }
    for (i = 0; i < a->n; i++) {
        group_of(a->entries[i].name, gi, sizeof gi);
        scale[i] = 0;
        for (j = 0; j < a->n; j++) {
            group_of(a->entries[j].name, gj, sizeof gj);
            if (!strcmp(gi, gj) && m[j] > scale[i]) scale[i] = m[j];
        }
    }
    free(m);
}

/* 1 if x and y are the same non-finite value or both finite. */
static int same_class(double x, double y)
{
    if (isnan(x) || isnan(y)) return isnan(x) && isnan(y);
    if (isinf(x) || isinf(y)) return x == y;
    return 1;
}

/* Compares every tensor of the committed file a with the regenerated b under the bound
 * of the header; one check per file (the worst tensor named), one per mismatch of names. */
static void compare_numbers(st_file *a, st_file *b, const char *file, double L, int iterations)
{
    const double u = ldexp(1.0, -53);
    const double adam_step = D_LR * (1 - D_BETA1) / sqrt(1 - D_BETA2);
    double worst = 0, worst_d = 0, worst_bound = 0;
    char worst_name[256] = "";
    int i, ok = 1, ntensors = 0;
    double *scale = (double *)test_alloc((size_t)(a->n ? a->n : 1) * sizeof(double));
    group_scales(a, b, scale);
    CHECK(a->n == b->n, "%s: %d tensors committed, %d regenerated", file, a->n, b->n);
    for (i = 0; i < a->n; i++) {
        const st_entry *ea = &a->entries[i], *eb = st_find(b, ea->name);
        uint64_t k;
        int d;
        if (!CHECK(eb != NULL, "%s: tensor %s is not regenerated", file, ea->name)) continue;
        if (!CHECK(ea->dtype == eb->dtype && ea->ndim == eb->ndim, "%s: %s is %s of %d dims, "
                   "regenerated %s of %d", file, ea->name, st_dtype_name(ea->dtype), ea->ndim,
                   st_dtype_name(eb->dtype), eb->ndim))
            continue;
        for (d = 0; d < ea->ndim && ea->shape[d] == eb->shape[d]; d++) {}
        if (!CHECK(d == ea->ndim, "%s: %s has another shape regenerated (dim %d: %lld, %lld)",
                   file, ea->name, d, (long long)ea->shape[d], (long long)eb->shape[d]))
            continue;
        ntensors++;
        if (!is_float(ea)) {
            int64_t *x = read_i64(a, ea), *y = read_i64(b, eb);
            for (k = 0; x && y && k < ea->nelem && x[k] == y[k]; k++) {}
            if (x && y && k < ea->nelem)
                CHECK(0, "%s: integer tensor %s differs at %llu: %lld, regenerated %lld", file,
                      ea->name, (unsigned long long)k, (long long)x[k], (long long)y[k]);
            free(x);
            free(y);
        } else {
            double *x = read_f64(a, ea), *y = read_f64(b, eb), bound, S = scale[i];
            bound = in_fed_bias(ea->name) ? 2.0 * iterations * adam_step : 2 * L * u * S;
            for (k = 0; x && y && k < ea->nelem; k++) {
                double diff = fabs(x[k] - y[k]);
                if (!same_class(x[k], y[k])) {
                    CHECK(0, "%s: %s[%llu] is %g, regenerated %g", file, ea->name,
                          (unsigned long long)k, x[k], y[k]);
                    ok = 0;
                    break;
                }
                if (!isfinite(x[k])) continue;
                if (diff > bound) ok = 0;
                if (bound > 0 ? diff / bound > worst : diff > 0) {
                    worst = bound > 0 ? diff / bound : 1e300;
                    worst_d = diff, worst_bound = bound;
                    snprintf(worst_name, sizeof worst_name, "%s[%llu] (%.3g u*S)", ea->name,
                             (unsigned long long)k, S > 0 ? diff / (u * S) : 0.0);
                }
            }
            free(x);
            free(y);
        }
    }
    free(scale);
    CHECK(ok, "%s: %d tensors within 2*L*u*S (L = %g); worst %s: %.3g over its bound %.3g",
          file, ntensors, L, worst_name[0] ? worst_name : "none", worst_d, worst_bound);
    if (ok && getenv("LSD_VERBOSE"))
        printf("goldens: %s: worst %s, %.3g of its bound\n", file,
               worst_name[0] ? worst_name : "none (identical)", worst);
}

/* Metadata: the keys other than the CPU path must agree; into diff (cap bytes) the CPU path
 * keys that differ ("" when the path is the same). */
static void compare_meta(st_file *a, st_file *b, const char *file, char *diff, size_t cap)
{
    int i, k, side;
    diff[0] = '\0';
    for (side = 0; side < 2; side++) {
        st_file *f = side ? b : a, *o = side ? a : b;
        for (i = 0; i < f->nmeta; i++) {
            const char *key = f->meta_keys[i], *other = st_meta(o, key);
            int path = 0;
            for (k = 0; k < N_PATH_KEYS; k++) path |= !strcmp(key, PATH_KEYS[k]);
            if (path) continue;
            CHECK(other && !strcmp(other, f->meta_vals[i]), "%s: metadata %s is '%s' in the %s "
                  "file, '%s' in the other", file, key, f->meta_vals[i],
                  side ? "regenerated" : "committed", other ? other : "(absent)");
        }
    }
    for (k = 0; k < N_PATH_KEYS; k++) {
        const char *x = st_meta(a, PATH_KEYS[k]), *y = st_meta(b, PATH_KEYS[k]);
        size_t n = strlen(diff);
        if (x && y && !strcmp(x, y)) continue;
        snprintf(diff + n, cap - n, "%s%s '%s' (committed '%s')", n ? ", " : "", PATH_KEYS[k],
                 y ? y : "?", x ? x : "?");
    }
}

int main(void)
{
    const char *gold = test_golden_dir(), *py = test_python();
    char out[1024], path[2200], log[4096], diff[1024], skipped[1024] = "";
    lsd_err err;
    DIR *d;
    struct dirent *e;
    int nfiles = 0, nbytes_same = 0, nbytes_compared = 0;
    test_begin("goldens");
    if (!test_have_python_module("torch") || !test_have_python_module("numpy")) {
        test_skip("python3 with torch and numpy not found: goldens not regenerated");
        return test_summary();
    }
    test_tmp_path(out, sizeof out, "goldens_again");
    /* authors_full (two full-size iterations, minutes) is made again with LSD_SLOW=1 only */
    if (!CHECK(test_run(log, sizeof log, "rm -rf '%s' && mkdir -p '%s' && "
                        "LSD_GOLDEN_AUTHORS_FULL=%d %s golden/gen.py --out '%s'", out, out,
                        getenv("LSD_SLOW") ? 1 : 0, py, out) == 0,
               "golden/gen.py --out %s runs: %s", out, log))
        return test_summary();
    if (!(d = opendir(gold))) {
        CHECK(0, "cannot list %s", gold);
        return test_summary();
    }
    while ((e = readdir(d)) != NULL) {
        st_file a, b;
        double L = 0;
        size_t k;
        const char *it;
        if (!is_safetensors(e->d_name)) continue;
        nfiles++;
        for (k = 0; k < sizeof ERROR_LENGTH / sizeof ERROR_LENGTH[0]; k++)
            if (!strcmp(ERROR_LENGTH[k].file, e->d_name)) L = ERROR_LENGTH[k].L;
        if (!CHECK(L > 0, "%s: no error length in test_goldens.c's table: add one, derived from "
                   "the operations that make the file", e->d_name))
            continue;
        if (!strcmp(e->d_name, "authors_full.safetensors") && !getenv("LSD_SLOW")) {
            test_skip("%s not made again (set LSD_SLOW=1)", e->d_name);
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", gold, e->d_name);
        if (!CHECK(st_open(&a, path, &err) == LSD_OK, "%s", err.msg)) continue;
        snprintf(path, sizeof path, "%s/%s", out, e->d_name);
        if (!CHECK(st_open(&b, path, &err) == LSD_OK, "regenerated: %s", err.msg)) {
            st_close(&a);
            continue;
        }
        it = st_meta(&a, "iterations");
        compare_meta(&a, &b, e->d_name, diff, sizeof diff);
        compare_numbers(&a, &b, e->d_name, L, it ? atoi(it) : 1);
        st_close(&a);
        st_close(&b);
        if (!diff[0]) {
            uint8_t *x = NULL, *y = NULL;
            size_t nx = 0, ny = 0;
            nbytes_compared++;
            if (lsd_read_file(path, &y, &ny, &err)) y = NULL;
            snprintf(path, sizeof path, "%s/%s", gold, e->d_name);
            if (lsd_read_file(path, &x, &nx, &err)) x = NULL;
            nbytes_same += CHECK(x && y && nx == ny && !memcmp(x, y, nx),
                                 "%s regenerated on the same CPU path is identical to the byte "
                                 "(%lu and %lu bytes)", e->d_name, (unsigned long)nx,
                                 (unsigned long)ny);
            free(x);
            free(y);
        } else if (!skipped[0]) {
            snprintf(skipped, sizeof skipped, "%s", diff);
        }
    }
    closedir(d);
    CHECK(nfiles >= 10, "%d golden files compared", nfiles);
    if (nbytes_compared < nfiles)
        test_skip("byte identity of %d of %d golden files: regenerated on another CPU path: %s",
                  nfiles - nbytes_compared, nfiles, skipped);
    printf("goldens: %d files within the rounding bound, %d of %d identical to the byte\n",
           nfiles, nbytes_same, nfiles);
    test_run(NULL, 0, "rm -rf '%s'", out);
    return test_summary();
}
