/*
 * params.c - parameter arenas (one flat array per network with gradient and Adam
 * arrays of the same layout), the configuration, the deterministic hash rule, and
 * safetensors I/O of parameters and Adam state; and the bump allocator that lays out the
 * networks' activation structs (net.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../layers/conv.h"
#include "../layers/optim.h"
#include "net.h"
#include "params.h"

/* The paper's sizes: VGG16 (64), fc 4096, ngf 64, ndf 64, 19 classes. */
LsdConfig lsd_config_default(void)
{
    LsdConfig c;
    c.vgg = 64;
    c.fc = 4096;
    c.ngf = 64;
    c.ndf = 64;
    c.n_class = 19;
    return c;
}

/* Refuses non-positive or absurd sizes. */
int lsd_config_check(const LsdConfig *c, lsd_err *err)
{
    if (c->vgg < 1 || c->fc < 1 || c->ngf < 1 || c->ndf < 1 || c->n_class < 1 ||
        c->vgg > 4096 || c->fc > 65536 || c->ngf > 4096 || c->ndf > 4096 || c->n_class > 255)
        return lsd_fail(err, LSD_ERR_ARG,
                        "network sizes vgg %d, fc %d, ngf %d, ndf %d, n_class %d: each must be "
                        ">= 1 (n_class <= 255)", c->vgg, c->fc, c->ngf, c->ndf, c->n_class);
    return LSD_OK;
}

/* G's stages line up with F's pools only for multiples of 32 (docs/method.md, "G"). */
int lsd_check_size(int H, int W, lsd_err *err)
{
    if (H >= 32 && W >= 32 && H % 32 == 0 && W % 32 == 0 && H <= 65536 && W <= 65536)
        return LSD_OK;
    {
        int hl = H / 32 * 32, wl = W / 32 * 32;
        if (hl < 32) hl = 32;
        if (wl < 32) wl = 32;
        return lsd_fail(err, LSD_ERR_ARG,
                        "input size %dx%d (HxW) is not valid: height and width must be positive "
                        "multiples of 32 (the generator's stages line up with F's pools only "
                        "then); nearest valid sizes: height %d or %d, width %d or %d",
                        H, W, hl, hl + 32, wl, wl + 32);
    }
}

/* Hands out n elements of the block (or counts them when base is NULL); in a view, sample
 * `slice` of a buffer of slices * n (zeroed if asked). */
real *bump_take(Bump *b, size_t n)
{
    real *p = b->base ? b->base + b->used + (size_t)b->slice * n : NULL;
    b->used += (b->slices > 0 ? (size_t)b->slices : 1) * n;
    if (p && b->zero) memset(p, 0, n * sizeof *p);
    return p;
}

/* The int32 counterpart of bump_take (pooling argmax). */
int32_t *bump_take_i32(Bump *b, size_t n)
{
    int32_t *p = b->ibase ? b->ibase + b->iused + (size_t)b->slice * n : NULL;
    b->iused += (b->slices > 0 ? (size_t)b->slices : 1) * n;
    if (p && b->zero) memset(p, 0, n * sizeof *p);
    return p;
}

/* A Bump over a's block (base, ibase) that hands out sample s of its `slices` samples. */
Bump bump_view(real *base, int32_t *ibase, int slices, int s, int zero)
{
    Bump b;
    memset(&b, 0, sizeof b);
    b.base = base, b.ibase = ibase, b.slices = slices, b.slice = s, b.zero = zero;
    return b;
}

/* Lays out a residual block's buffers of n elements and (N, C) statistics (G's and D's). */
void rb_layout(RBActs *r, Bump *b, size_t n, size_t nc, int with_cache)
{
    r->z = bump_take(b, n);
    r->y = bump_take(b, n);
    r->a = bump_take(b, n);
    r->out = bump_take(b, n);
    r->mean = with_cache ? bump_take(b, nc) : NULL;
    r->rstd = with_cache ? bump_take(b, nc) : NULL;
}

/* Starts an empty table. */
void arena_init(ParamArena *a, const char *prefix)
{
    memset(a, 0, sizeof *a);
    strncpy(a->prefix, prefix, sizeof a->prefix - 1);
}

/* Appends one tensor to the table (before arena_alloc). */
int arena_add(ParamArena *a, const char *name, int ndim, const int *shape, int is_bias,
              int frozen, lsd_err *err)
{
    ParamSpec *s;
    size_t size = 1;
    int i;
    if (strlen(name) >= LSD_NAME_MAX || ndim < 1 || ndim > 4) {
        lsd_fail(err, LSD_ERR_ARG, "parameter '%s': bad name or rank", name);
        return -1;
    }
    for (i = 0; i < ndim; i++)
        if (shape[i] < 1 || lsd_mul_size(size, (size_t)shape[i], &size)) {
            lsd_fail(err, LSD_ERR_ARG, "parameter '%s': bad shape", name);
            return -1;
        }
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 32;
        ParamSpec *ns = (ParamSpec *)realloc(a->spec, (size_t)cap * sizeof *ns);
        if (!ns) {
            lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the parameter table");
            return -1;
        }
        a->spec = ns;
        a->cap = cap;
    }
    s = &a->spec[a->n];
    memset(s, 0, sizeof *s);
    strcpy(s->name, name);
    s->ndim = ndim;
    for (i = 0; i < 4; i++) s->shape[i] = i < ndim ? shape[i] : 1;
    s->offset = a->total;
    s->size = size;
    s->is_bias = is_bias;
    s->frozen = frozen;
    if (lsd_add_size(a->total, size, &a->total)) {
        lsd_fail(err, LSD_ERR_ARG, "parameter '%s': arena too large", name);
        return -1;
    }
    return a->n++;
}

/* Allocates param, grad, m, v of a->total elements each, zero-filled. */
int arena_alloc(ParamArena *a, lsd_err *err)
{
    size_t n = a->total ? a->total : 1;
    a->param = (real *)calloc(n, sizeof(real));
    a->grad = (real *)calloc(n, sizeof(real));
    a->m = (real *)calloc(n, sizeof(real));
    a->v = (real *)calloc(n, sizeof(real));
    if (!a->param || !a->grad || !a->m || !a->v) {
        arena_free(a);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the %s parameters (%lu elements "
                        "x 4 arrays)", a->prefix, (unsigned long)a->total);
    }
    return LSD_OK;
}

/* Releases the arrays and the table. */
void arena_free(ParamArena *a)
{
    free(a->param);
    free(a->grad);
    free(a->m);
    free(a->v);
    free(a->spec);
    a->param = a->grad = a->m = a->v = NULL;
    a->spec = NULL;
    a->n = a->cap = 0;
    a->total = 0;
}

/* Linear search by name (tables have at most a few dozen entries). */
int arena_find(const ParamArena *a, const char *name)
{
    int k;
    for (k = 0; k < a->n; k++)
        if (!strcmp(a->spec[k].name, name)) return k;
    return -1;
}

/* Points a layer view into the arrays. */
void arena_bind(LayerParams *lp, ParamArena *a, int iw, int ib)
{
    lp->weight = a->param + a->spec[iw].offset;
    lp->dweight = a->grad + a->spec[iw].offset;
    lp->bias = ib >= 0 ? a->param + a->spec[ib].offset : NULL;
    lp->dbias = ib >= 0 ? a->grad + a->spec[ib].offset : NULL;
}

/* Declares each layer's weight and bias, allocates, then points the views. */
int arena_build(ParamArena *a, const char *prefix, const LayerDecl *decl, int n, lsd_err *err)
{
    char name[LSD_NAME_MAX];
    int i, rc, *idx = (int *)malloc((size_t)(2 * n + 1) * sizeof(int));
    if (!idx) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory building %s", prefix);
    arena_init(a, prefix);
    for (i = 0; i < n; i++) {
        sprintf(name, "%s.weight", decl[i].name);
        idx[2 * i] = arena_add(a, name, 4, decl[i].shape, 0, decl[i].frozen, err);
        idx[2 * i + 1] = -1;
        if (decl[i].bias_len > 0) {
            sprintf(name, "%s.bias", decl[i].name);
            idx[2 * i + 1] = arena_add(a, name, 1, &decl[i].bias_len, 1, decl[i].frozen, err);
            if (idx[2 * i + 1] < 0) break;
        }
        if (idx[2 * i] < 0) break;
    }
    rc = i < n ? (err ? err->code : LSD_ERR_ARG) : arena_alloc(a, err);
    if (rc == LSD_OK)
        for (i = 0; i < n; i++) arena_bind(decl[i].lp, a, idx[2 * i], idx[2 * i + 1]);
    else
        arena_free(a);
    free(idx);
    return rc ? rc : LSD_OK;
}

/* Rebases each gradient view from a->grad to grad. */
void layers_grad_to(LayerParams *lp, int n, const ParamArena *a, real *grad)
{
    int i;
    for (i = 0; i < n; i++) {
        if (lp[i].dweight) lp[i].dweight = grad + (lp[i].dweight - a->grad);
        if (lp[i].dbias) lp[i].dbias = grad + (lp[i].dbias - a->grad);
    }
}

/* grad = 0. */
void arena_zero_grad(ParamArena *a)
{
    if (a->grad) memset(a->grad, 0, a->total * sizeof(real));
}

/* Adam on each trainable tensor with its group's learning rate. */
void arena_adam(ParamArena *a, long t, double lr_weight, double lr_bias, double beta1,
                double beta2, double eps, int pytorch02)
{
    int k;
    for (k = 0; k < a->n; k++) {
        const ParamSpec *s = &a->spec[k];
        if (s->frozen) continue;
        (pytorch02 ? adam02_update : adam_update)(
            a->param + s->offset, a->m + s->offset, a->v + s->offset, a->grad + s->offset,
            s->size, t, s->is_bias ? lr_bias : lr_weight, beta1, beta2, eps, 0.0);
    }
}

/* Elements that Adam updates. */
size_t arena_trainable(const ParamArena *a)
{
    size_t n = 0;
    int k;
    for (k = 0; k < a->n; k++)
        if (!a->spec[k].frozen) n += a->spec[k].size;
    return n;
}

/* FNV-1a 64 of a string. */
static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (uint64_t)(unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* splitmix64(fnv1a64(name) + (i+1) * gamma) mapped to [-1, 1) with 53 bits. */
double lsd_hash_uniform(const char *name, uint64_t i)
{
    uint64_t z = fnv1a64(name) + (i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    return 2.0 * ((double)(z >> 11) * (1.0 / 9007199254740992.0)) - 1.0;
}

/* Every tensor from the hash rule; frozen ones bilinear. */
void arena_init_hash(ParamArena *a)
{
    int k;
    char full[LSD_NAME_MAX + 8];
    for (k = 0; k < a->n; k++) {
        const ParamSpec *s = &a->spec[k];
        real *p = a->param + s->offset;
        double scale;
        size_t i;
        if (s->frozen) {
            bilinear_init(p, s->shape[0], s->shape[2]);
            continue;
        }
        sprintf(full, "%s%s", a->prefix, s->name);
        scale = s->ndim == 4 ? 1.0 / sqrt((double)s->shape[1] * s->shape[2] * s->shape[3]) : 0.1;
        for (i = 0; i < s->size; i++) p[i] = (real)(lsd_hash_uniform(full, i) * scale);
    }
}

/* Sum of |x| over tensor k, in double, in index order. */
double arena_abs_sum(const ParamArena *a, int k)
{
    const real *p = a->param + a->spec[k].offset;
    double s = 0;
    size_t i;
    for (i = 0; i < a->spec[k].size; i++) s += fabs((double)p[i]);
    return s;
}

/* Copies a spec's shape into a safetensors shape. */
static void spec_shape(const ParamSpec *s, int64_t *shape)
{
    int i;
    for (i = 0; i < s->ndim; i++) shape[i] = s->shape[i];
}

/* Adds "<prefix><name>" and optionally its Adam moments to writer (which copies names). */
int arena_write(const ParamArena *a, st_writer *writer, int with_opt, lsd_err *err)
{
    char name[LSD_NAME_MAX + 32];
    int64_t shape[4];
    int k, rc;
    for (k = 0; k < a->n; k++) {
        const ParamSpec *s = &a->spec[k];
        spec_shape(s, shape);
        sprintf(name, "%s%s", a->prefix, s->name);
        rc = st_writer_add_real(writer, name, s->ndim, shape, a->param + s->offset, err);
        if (rc) return rc;
        if (!with_opt || s->frozen) continue;
        sprintf(name, "opt.%s%s.exp_avg", a->prefix, s->name);
        rc = st_writer_add_real(writer, name, s->ndim, shape, a->m + s->offset, err);
        if (rc) return rc;
        sprintf(name, "opt.%s%s.exp_avg_sq", a->prefix, s->name);
        rc = st_writer_add_real(writer, name, s->ndim, shape, a->v + s->offset, err);
        if (rc) return rc;
    }
    return LSD_OK;
}

/* Reads the parameters (and Adam state) of a from sf; shapes must match exactly. */
int arena_read(ParamArena *a, st_file *sf, int with_opt, int *had_opt, lsd_err *err)
{
    char name[LSD_NAME_MAX + 32];
    int64_t shape[4];
    int k, rc, have = 0;
    if (had_opt) *had_opt = 0;
    for (k = 0; k < a->n; k++) {
        const ParamSpec *s = &a->spec[k];
        spec_shape(s, shape);
        sprintf(name, "%s%s", a->prefix, s->name);
        if (!st_find(sf, name))
            return lsd_fail(err, LSD_ERR_NOTFOUND, "%s: no tensor '%s' (expected shape with "
                            "%d dims, %lu elements)", sf->path, name, s->ndim,
                            (unsigned long)s->size);
        rc = st_read_real(sf, name, a->param + s->offset, s->size, s->ndim, shape, err);
        if (rc) return rc;
    }
    if (!with_opt) return LSD_OK;
    for (k = 0; k < a->n; k++)
        if (!a->spec[k].frozen) {
            sprintf(name, "opt.%s%s.exp_avg", a->prefix, a->spec[k].name);
            have = st_find(sf, name) != NULL;
            break;
        }
    if (!have) {
        if (with_opt == 2)
            return lsd_fail(err, LSD_ERR_NOTFOUND, "%s: no Adam state for %s (opt.%s... "
                            "tensors)", sf->path, a->prefix, a->prefix);
        return LSD_OK;
    }
    for (k = 0; k < a->n; k++) {
        const ParamSpec *s = &a->spec[k];
        if (s->frozen) continue;
        spec_shape(s, shape);
        sprintf(name, "opt.%s%s.exp_avg", a->prefix, s->name);
        if ((rc = st_read_real(sf, name, a->m + s->offset, s->size, s->ndim, shape, err)))
            return rc;
        sprintf(name, "opt.%s%s.exp_avg_sq", a->prefix, s->name);
        if ((rc = st_read_real(sf, name, a->v + s->offset, s->size, s->ndim, shape, err)))
            return rc;
    }
    if (had_opt) *had_opt = 1;
    return LSD_OK;
}
