/*
 * options.c - option values, datasets and folders shared by the lsdseg commands
 * (see options.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "options.h"

int opt_is_help(const char *a)
{
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

const char *opt_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "lsdseg %s: %s needs a value (try --help)\n", cmd, argv[*i]);
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

int opt_long(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end = NULL;
    long x;
    errno = 0;
    x = strtol(v, &end, 10);
    if (!*v || !end || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "lsdseg %s: %s needs an integer in %ld..%ld, not '%s'\n", cmd, opt, lo,
                hi, v);
        return 2;
    }
    *out = x;
    return 0;
}

int opt_double(const char *cmd, const char *opt, const char *v, double lo, double hi,
               double *out)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (!*v || !end || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "lsdseg %s: %s needs a number in %g..%g, not '%s'\n", cmd, opt, lo, hi,
                v);
        return 2;
    }
    *out = x;
    return 0;
}

int opt_size(const char *cmd, const char *opt, const char *v, int *h, int *w)
{
    char *end = NULL, *end2 = NULL;
    long a = strtol(v, &end, 10), b = 0;
    int ok = end && end != v && (*end == 'x' || *end == 'X');
    if (ok) {
        b = strtol(end + 1, &end2, 10);
        ok = end2 && end2 != end + 1 && !*end2 && a >= 1 && a <= 16384 && b >= 1 && b <= 16384;
    }
    if (!ok) {
        fprintf(stderr, "lsdseg %s: %s needs HEIGHTxWIDTH such as 320x640, not '%s'\n", cmd, opt,
                v);
        return 2;
    }
    *h = (int)a, *w = (int)b;
    return 0;
}

int opt_kind(const char *cmd, const char *opt, const char *v, dataset_kind *kind)
{
    lsd_err err;
    if (dataset_kind_parse(v, kind, &err)) {
        fprintf(stderr, "lsdseg %s: %s needs cityscapes, gta5, synthia or list, not '%s'\n", cmd,
                opt, v);
        return 2;
    }
    return 0;
}

int opt_is_device_option(const char *opt)
{
    return !strcmp(opt, "--backend") || !strcmp(opt, "--cl-platform") ||
           !strcmp(opt, "--cl-device");
}

int opt_device_arg(const char *cmd, opt_device *d, const char *opt, const char *v)
{
    long x;
    if (!strcmp(opt, "--backend")) {
        if (!strcmp(v, "cpu")) {
            d->opencl = 0;
            return 0;
        }
        if (!strcmp(v, "opencl")) {
#ifdef LSD_OPENCL
            d->opencl = 1;
            return 0;
#else
            fprintf(stderr, "lsdseg %s: --backend opencl: this lsdseg was built without OpenCL: "
                    "rebuild with make OPENCL=1\n", cmd);
            return 2;
#endif
        }
        fprintf(stderr, "lsdseg %s: --backend needs cpu or opencl, not '%s'\n", cmd, v);
        return 2;
    }
    if (opt_long(cmd, opt, v, 0, 1000, &x)) return 2;
    if (!strcmp(opt, "--cl-platform"))
        d->platform = (int)x;
    else
        d->device = (int)x;
    return 0;
}

int opt_device_start(opt_device *d, const LsdModel *m, lsd_err *err)
{
    if (!d || !d->opencl) return LSD_OK;
#ifdef LSD_OPENCL
    {
        int rc = lsd_cl_open(&d->cl, d->platform, d->device, err);
        if (rc) return rc;
        if ((rc = cl_model_create(&d->m, &d->cl, m, err))) {
            lsd_cl_close(&d->cl);
            return rc;
        }
        d->ready = 1;
    }
    return LSD_OK;
#else
    (void)m;
    return lsd_fail(err, LSD_ERR_ARG, "this lsdseg was built without OpenCL: rebuild with make "
                    "OPENCL=1");
#endif
}

void opt_device_stop(opt_device *d)
{
#ifdef LSD_OPENCL
    if (d && d->ready) {
        cl_model_free(&d->m);
        lsd_cl_close(&d->cl);
        d->ready = 0;
    }
#else
    (void)d;
#endif
}

int opt_device_sync(opt_device *d, LsdModel *m, lsd_err *err)
{
#ifdef LSD_OPENCL
    if (d && d->ready) return cl_model_download(&d->m, m, err);
#else
    (void)d, (void)m, (void)err;
#endif
    return LSD_OK;
}

int opt_dwork_start(opt_device *d, opt_dwork *dw, LsdWork *work, lsd_err *err)
{
    dw->ready = 0;
#ifdef LSD_OPENCL
    if (d && d->ready) {
        int rc = cl_work_create(&dw->cw, &d->cl, work, err);
        if (rc) return rc;
        dw->ready = 1;
    }
#else
    (void)d, (void)work, (void)err;
#endif
    return LSD_OK;
}

void opt_dwork_stop(opt_dwork *dw)
{
#ifdef LSD_OPENCL
    if (dw->ready) cl_work_free(&dw->cw);
#endif
    dw->ready = 0;
}

static const char *const RECIPE_OPT[5] = {"--recipe", "--schedule", "--adam", "--d-labels",
                                          "--d-input"};

int opt_is_recipe_option(const char *opt)
{
    int k;
    for (k = 0; k < 5; k++)
        if (!strcmp(opt, RECIPE_OPT[k])) return 1;
    return 0;
}

int opt_recipe_arg(const char *cmd, opt_recipe *r, const char *opt, const char *v)
{
    lsd_err err;
    int k;
    for (k = 0; k < 5 && strcmp(opt, RECIPE_OPT[k]); k++) {}
    if (k == 5 || lsd_recipe_set(k ? &r->single : &r->base, opt + 2, v, &err)) {
        fprintf(stderr, "lsdseg %s: %s\n", cmd, k == 5 ? "not a recipe option" : err.msg);
        return 2;
    }
    if (k) r->given |= 1 << (k - 1);
    r->any = 1;
    return 0;
}

LsdRecipe opt_recipe_value(const opt_recipe *r)
{
    LsdRecipe v = r->base;
    if (r->given & 1) v.schedule = r->single.schedule;
    if (r->given & 2) v.adam = r->single.adam;
    if (r->given & 4) v.d_labels = r->single.d_labels;
    if (r->given & 8) v.d_input = r->single.d_input;
    return v;
}

int opt_dev_step(opt_device *d, opt_dwork *dw, LsdModel *m, LsdWork *work, const LsdBatch *b,
                 const LsdStepOptions *o, int source_only, LsdLosses *l, lsd_err *err)
{
#ifdef LSD_OPENCL
    LsdRecipe paper = lsd_recipe_paper();
    if (d && d->ready && dw && dw->ready && memcmp(&o->recipe, &paper, sizeof paper))
        return lsd_fail(err, LSD_ERR_ARG, "the OpenCL backend runs the paper's recipe only: "
                        "use --backend cpu for --recipe authors and its switches");
    if (d && d->ready && dw && dw->ready) {
        int rc = source_only ? cl_lsd_step_source_only(&d->m, &dw->cw, b, o, &l->loss_F, err)
                             : cl_lsd_step(&d->m, &dw->cw, b, o, l, err);
        m->step = d->m.step;
        return rc;
    }
#else
    (void)d, (void)dw;
#endif
    if (source_only) return lsd_step_source_only(m, work, b, o, &l->loss_F, err);
    return lsd_step(m, work, b, o, l, err);
}

int opt_dev_infer(opt_device *d, opt_dwork *dw, const LsdModel *m, LsdWork *work, const real *x,
                  lsd_err *err)
{
#ifdef LSD_OPENCL
    if (d && d->ready && dw && dw->ready) return cl_lsd_infer(&d->m, &dw->cw, x, err);
#else
    (void)d, (void)dw, (void)err;
#endif
    lsd_infer(m, work, x);
    return LSD_OK;
}

int opt_dev_forward_all(opt_device *d, opt_dwork *dw, const LsdModel *m, LsdWork *work,
                        const LsdBatch *b, lsd_err *err)
{
#ifdef LSD_OPENCL
    if (d && d->ready && dw && dw->ready) return cl_lsd_forward_all(&d->m, &dw->cw, b, err);
#else
    (void)d, (void)dw, (void)err;
#endif
    lsd_forward_all(m, work, b);
    return LSD_OK;
}

int opt_threads(const char *cmd, const char *v)
{
    long n;
    if (opt_long(cmd, "--threads", v, 1, 1024, &n)) return 2;
#ifdef _OPENMP
    omp_set_num_threads((int)n);
#endif
    return 0;
}

int opt_unknown(const char *cmd, const char *a)
{
    fprintf(stderr, "lsdseg %s: unknown option '%s' (try --help)\n", cmd, a);
    return 2;
}

int opt_open_dataset(const char *cmd, const char *what, Dataset *ds, dataset_kind kind,
                     const char *root, const char *split, const char *list, const char *table)
{
    lsd_err err;
    int rc;
    memset(ds, 0, sizeof *ds);
    if (kind == DATASET_LIST)
        rc = dataset_open_list(ds, root, table, &err);
    else
        rc = dataset_open(ds, kind, root, split, list, &err);
    if (!rc && dataset_size(ds) == 0) {
        dataset_close(ds);
        rc = lsd_fail(&err, LSD_ERR_NOTFOUND, "no samples in %s", root);
    }
    if (rc) {
        fprintf(stderr, "lsdseg %s: %s dataset (%s): %s\n", cmd, what, dataset_kind_name(kind),
                err.msg);
        return 1;
    }
    return 0;
}

int opt_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int opt_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int opt_mkdirs(const char *path, lsd_err *err)
{
    char buf[4096];
    size_t i, n = strlen(path);
    if (n == 0 || n >= sizeof buf) return lsd_fail(err, LSD_ERR_ARG, "bad folder name '%s'", path);
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        buf[i] = '\0';
        if (!opt_is_dir(buf) && mkdir(buf, 0777) != 0 && errno != EEXIST)
            return lsd_fail(err, LSD_ERR_IO, "cannot create folder %s: %s", buf, strerror(errno));
        if (i < n) buf[i] = '/';
    }
    if (!opt_is_dir(path)) return lsd_fail(err, LSD_ERR_IO, "%s is not a folder", path);
    return LSD_OK;
}

void opt_stem(char *out, size_t cap, const char *path)
{
    const char *b = strrchr(path, '/');
    size_t n;
    b = b ? b + 1 : path;
    snprintf(out, cap, "%s", b);
    n = strlen(out);
    if (n > 4 && !strcmp(out + n - 4, ".png")) out[n -= 4] = '\0';
    if (n > 12 && !strcmp(out + n - 12, "_leftImg8bit")) out[n - 12] = '\0';
}

int opt_load_model(const char *cmd, LsdModel *m, const char *path)
{
    lsd_err err;
    if (!opt_is_file(path)) {
        fprintf(stderr, "lsdseg %s: checkpoint %s not found\n", cmd, path);
        return 1;
    }
    if (lsd_model_load(m, path, &err)) {
        fprintf(stderr, "lsdseg %s: %s\n", cmd, err.msg);
        return 1;
    }
    return 0;
}
