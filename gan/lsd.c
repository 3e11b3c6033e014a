/*
 * lsd.c - the LSD-seg model and one training iteration (docs/method.md, "Losses" and
 * "One iteration"), the source-only baseline and inference.
 *
 * The iteration, with N the batch size and every loss divided by N:
 *   F's features of both domains (F is unchanged until step 3, so computed once)
 *   1. D:  CE(Ds(Xs),0) + CE(Ds(G(F(Xs))),1) + CE(Dc(Xs),y') + CE(Ds(Xt),2) + CE(Ds(G(F(Xt))),3)
 *          G's images are constants; Adam on D.
 *   2. G:  CE(Dc(G(F(Xs))),y') + 0.1 [CE(Ds(G(F(Xs))),0) + CE(Ds(G(F(Xt))),2)]
 *          + l1w [L1(G(F(Xs)),Xs01) + L1(G(F(Xt)),Xt01)], through the updated D (not
 *          changed); F's features constant; Adam on G.
 *   3. F:  CE(C(F(Xs)),Ys) + advw [CE(Ds(G(F(Xs))),2) + CE(Ds(G(F(Xt))),0)]
 *          + cw CE(Dc(G(F(Xs))),y'), through C, and through the updated G and D into F;
 *          Adam on F and C.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../layers/dropout.h"
#include "../layers/loss.h"
#include "../layers/shape.h"
#include "../tensor/rng.h"
#include "../tensor/tensor.h"
#include "lsd.h"

/* ------------------------------------------------------------------ model */

/* Builds the arenas of F (with C), G and D. */
int lsd_model_create(LsdModel *m, const LsdConfig *c, lsd_err *err)
{
    int rc;
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    if ((rc = fnet_create(&m->F, c, err)) || (rc = gnet_create(&m->G, c, err)) ||
        (rc = dnet_create(&m->D, c, err))) {
        lsd_model_free(m);
        return rc;
    }
    return LSD_OK;
}

/* Releases the three arenas. */
void lsd_model_free(LsdModel *m)
{
    fnet_free(&m->F);
    gnet_free(&m->G);
    dnet_free(&m->D);
    m->step = 0;
}

/* Parameters, gradients, m and v of the three networks. */
size_t lsd_model_bytes(const LsdModel *m)
{
    return 4 * sizeof(real) * (m->F.pa.total + m->G.pa.total + m->D.pa.total);
}

/* Zeroes the Adam moments of an arena. */
static void arena_reset_adam(ParamArena *a)
{
    memset(a->m, 0, a->total * sizeof(real));
    memset(a->v, 0, a->total * sizeof(real));
    arena_zero_grad(a);
}

/* The authors' weights_init for G or D: conv weights N(0, 0.02), biases U(-0.01, 0.01). */
static void init_gan_arena(ParamArena *a, uint64_t seed)
{
    char full[LSD_NAME_MAX + 8];
    int k;
    for (k = 0; k < a->n; k++) {
        const ParamSpec *s = &a->spec[k];
        sprintf(full, "%s%s", a->prefix, s->name);
        if (s->is_bias)
            rng_fill_uniform(a->param + s->offset, s->size, (real)-0.01, (real)0.01, seed,
                             rng_stream_of(full), 0);
        else
            rng_fill_normal(a->param + s->offset, s->size, 0, (real)0.02, seed,
                            rng_stream_of(full), 0);
    }
}

/* Reads F's trunk and fc6/fc7 from a VGG16 file (torchvision names, FCN names, or FCN names
 * prefixed "F." as in an lsdseg checkpoint). */
static int load_vgg16(FNet *f, const char *path, lsd_err *err)
{
    static const int TV_INDEX[LSD_NCONV] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
    st_file sf;
    char src[80], dst[64];
    int l, j, rc = st_open(&sf, path, err);
    if (rc) return rc;
    for (l = 0; l < LSD_NCONV + 2 && !rc; l++) {
        for (j = 0; j < 2 && !rc; j++) {
            const char *part = j ? "bias" : "weight";
            int k;
            if (l < LSD_NCONV) {
                k = arena_find(&f->pa, j ? "conv1_1.bias" : "conv1_1.weight") + 2 * l;
                sprintf(src, "features.%d.%s", TV_INDEX[l], part);
            } else {
                sprintf(dst, "fc%d.%s", l - LSD_NCONV + 6, part);
                k = arena_find(&f->pa, dst);
                sprintf(src, "classifier.%d.%s", l == LSD_NCONV ? 0 : 3, part);
            }
            if (!st_find(&sf, src)) {
                char tv[64];
                strcpy(tv, src);
                strcpy(src, f->pa.spec[k].name); /* FCN names */
                if (!st_find(&sf, src)) { /* an lsdseg checkpoint: F.conv1_1.weight, ... */
                    sprintf(src, "F.%s", f->pa.spec[k].name);
                    if (!st_find(&sf, src)) {
                        rc = lsd_fail(err, LSD_ERR_NOTFOUND, "%s: no tensor %s, %s or %s (not a "
                                      "VGG16, FCN or lsdseg file?)", path, tv,
                                      f->pa.spec[k].name, src);
                        break;
                    }
                }
            }
            rc = st_read_real(&sf, src, f->pa.param + f->pa.spec[k].offset, f->pa.spec[k].size,
                              -1, NULL, err);
        }
    }
    st_close(&sf);
    if (rc) lsd_err_prefix(err, "VGG16 weights");
    return rc;
}

/* The authors' initialisation (see lsd.h); F's fallback is He-normal. */
int lsd_model_init(LsdModel *m, uint64_t seed, const char *vgg16_path, lsd_err *err)
{
    ParamArena *fa = &m->F.pa;
    int k, rc;
    char full[LSD_NAME_MAX + 8];
    for (k = 0; k < fa->n; k++) {
        const ParamSpec *s = &fa->spec[k];
        real *p = fa->param + s->offset;
        sprintf(full, "F.%s", s->name);
        if (s->frozen)
            bilinear_init(p, s->shape[0], s->shape[2]);
        else if (!strncmp(s->name, "score_", 6) || s->is_bias)
            vec_fill(p, s->size, 0);
        else
            rng_fill_normal(p, s->size, 0,
                            (real)sqrt(2.0 / ((double)s->shape[1] * s->shape[2] * s->shape[3])),
                            seed, rng_stream_of(full), 0);
    }
    if (vgg16_path && (rc = load_vgg16(&m->F, vgg16_path, err))) return rc;
    init_gan_arena(&m->G.pa, seed);
    init_gan_arena(&m->D.pa, seed);
    arena_reset_adam(&m->F.pa);
    arena_reset_adam(&m->G.pa);
    arena_reset_adam(&m->D.pa);
    m->step = 0;
    return LSD_OK;
}

/* Every tensor from the hash rule, Adam state zero. */
void lsd_model_init_hash(LsdModel *m)
{
    arena_init_hash(&m->F.pa);
    arena_init_hash(&m->G.pa);
    arena_init_hash(&m->D.pa);
    arena_reset_adam(&m->F.pa);
    arena_reset_adam(&m->G.pa);
    arena_reset_adam(&m->D.pa);
    m->step = 0;
}

/* Dimension d of tensor name, or -1 if absent or of rank <= d. */
static int dim_of(st_file *sf, const char *name, int d)
{
    const st_entry *e = st_find(sf, name);
    return e && e->ndim > d && e->shape[d] < 1000000 ? (int)e->shape[d] : -1;
}

/* Reads the configuration off the shapes of five tensors. */
int lsd_config_from_file(LsdConfig *c, st_file *sf, lsd_err *err)
{
    c->vgg = dim_of(sf, "F.conv1_1.weight", 0);
    c->fc = dim_of(sf, "F.fc6.weight", 0);
    c->n_class = dim_of(sf, "F.score_fr.weight", 0);
    c->ngf = dim_of(sf, "G.stage4_upsample.0.weight", 0);
    c->ndf = dim_of(sf, "D.feature.0.weight", 0);
    if (c->ndf > 0) c->ndf /= 2;
    if (c->vgg < 1 || c->fc < 1 || c->n_class < 1 || c->ngf < 1 || c->ndf < 1)
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: cannot infer the network sizes: needs "
                        "F.conv1_1.weight, F.fc6.weight, F.score_fr.weight, "
                        "G.stage4_upsample.0.weight and D.feature.0.weight", sf->path);
    return lsd_config_check(c, err);
}

/* Configuration from shapes, then parameters, Adam state and step if present. */
int lsd_model_load(LsdModel *m, const char *path, lsd_err *err)
{
    st_file sf;
    LsdConfig c;
    int rc, hf = 0, hg = 0, hd = 0;
    memset(m, 0, sizeof *m);
    if ((rc = st_open(&sf, path, err))) return rc;
    rc = lsd_config_from_file(&c, &sf, err);
    if (!rc) rc = lsd_model_create(m, &c, err);
    if (!rc) rc = arena_read(&m->F.pa, &sf, 1, &hf, err);
    if (!rc) rc = arena_read(&m->G.pa, &sf, 1, &hg, err);
    if (!rc) rc = arena_read(&m->D.pa, &sf, 1, &hd, err);
    if (!rc && st_find(&sf, "opt.step")) {
        int64_t step;
        int64_t one = 1;
        rc = st_read_i64(&sf, "opt.step", &step, 1, 1, &one, err);
        if (!rc && step < 0) rc = lsd_fail(err, LSD_ERR_RANGE, "%s: opt.step < 0", path);
        if (!rc) m->step = (long)step;
    }
    st_close(&sf);
    if (rc) lsd_model_free(m);
    return rc;
}

/* Parameters, Adam state, step and configuration into a writer. */
int lsd_model_write(const LsdModel *m, st_writer *writer, int64_t *step_store, lsd_err *err)
{
    char v[32];
    int64_t one = 1;
    int rc;
    if ((rc = arena_write(&m->F.pa, writer, 1, err)) ||
        (rc = arena_write(&m->G.pa, writer, 1, err)) ||
        (rc = arena_write(&m->D.pa, writer, 1, err)))
        return rc;
    *step_store = m->step;
    if ((rc = st_writer_add(writer, "opt.step", ST_I64, 1, &one, step_store, err))) return rc;
#define META(KEY, VAL)                                                                    \
    do {                                                                                  \
        sprintf(v, "%d", VAL);                                                            \
        if ((rc = st_writer_meta(writer, KEY, v, err))) return rc;                        \
    } while (0)
    META("vgg", m->cfg.vgg);
    META("fc", m->cfg.fc);
    META("ngf", m->cfg.ngf);
    META("ndf", m->cfg.ndf);
    META("n_class", m->cfg.n_class);
#undef META
    return LSD_OK;
}

/* lsd_model_write into path. */
int lsd_model_save(const LsdModel *m, const char *path, lsd_err *err)
{
    st_writer writer;
    int64_t step;
    int rc;
    st_writer_init(&writer);
    rc = lsd_model_write(m, &writer, &step, err);
    if (!rc) rc = st_writer_save(&writer, path, err);
    st_writer_free(&writer);
    return rc;
}

/* The authors' settings (docs/method.md, "Optimisers"). */
LsdStepOptions lsd_step_defaults(void)
{
    LsdStepOptions o;
    memset(&o, 0, sizeof o);
    o.adv_weight = 0.1;
    o.c_weight = 0.1;
    o.l1_weight = 1.0;
    o.lr_f_weight = 1e-5;
    o.lr_f_bias = 2e-5;
    o.beta1_f = 0.9;
    o.beta2_f = 0.999;
    o.lr_gd = 1e-4;
    o.beta1_gd = 0.7;
    o.beta2_gd = 0.999;
    o.eps = 1e-8;
    o.dropout = LSD_DROPOUT_RNG;
    o.seed = 1337;
    return o;
}

/* ------------------------------------------------------------------ recipes */

static const char *const SCHEDULE_NAME[2] = {"paper", "authors"};
static const char *const ADAM_NAME[2] = {"modern", "pytorch02"};
static const char *const DLABELS_NAME[2] = {"centre", "authors"};
static const char *const DINPUT_NAME[2] = {"rgb", "bgr"};

/* Every switch at the paper's choice (zero). */
LsdRecipe lsd_recipe_paper(void)
{
    LsdRecipe r;
    memset(&r, 0, sizeof r);
    return r;
}

/* Every switch at the authors' code's choice. */
LsdRecipe lsd_recipe_authors(void)
{
    LsdRecipe r;
    r.schedule = LSD_SCHEDULE_AUTHORS;
    r.adam = LSD_ADAM_PYTORCH02;
    r.d_labels = LSD_DLABELS_AUTHORS;
    r.d_input = LSD_DINPUT_BGR;
    return r;
}

/* "paper" if every switch is 0, "authors" if every switch is 1, else "custom". */
const char *lsd_recipe_name(const LsdRecipe *r)
{
    int n = (int)r->schedule + (int)r->adam + (int)r->d_labels + (int)r->d_input;
    return n == 0 ? "paper" : n == 4 ? "authors" : "custom";
}

/* "schedule=S adam=A d_labels=L d_input=I". */
void lsd_recipe_format(char *buf, size_t cap, const LsdRecipe *r)
{
    snprintf(buf, cap, "schedule=%s adam=%s d_labels=%s d_input=%s", SCHEDULE_NAME[r->schedule],
             ADAM_NAME[r->adam], DLABELS_NAME[r->d_labels], DINPUT_NAME[r->d_input]);
}

/* The index of value in names[2], or -1. */
static int name_index(const char *const names[2], const char *value)
{
    return !strcmp(value, names[0]) ? 0 : !strcmp(value, names[1]) ? 1 : -1;
}

/* One switch (or all four for "recipe") by name and value. */
int lsd_recipe_set(LsdRecipe *r, const char *key, const char *value, lsd_err *err)
{
    int v = -1;
    if (!strcmp(key, "recipe")) {
        if (!strcmp(value, "paper")) *r = lsd_recipe_paper();
        else if (!strcmp(value, "authors")) *r = lsd_recipe_authors();
        else return lsd_fail(err, LSD_ERR_ARG, "recipe '%s': choose paper or authors", value);
        return LSD_OK;
    }
    if (!strcmp(key, "schedule") && (v = name_index(SCHEDULE_NAME, value)) >= 0)
        r->schedule = (lsd_schedule)v;
    else if (!strcmp(key, "adam") && (v = name_index(ADAM_NAME, value)) >= 0)
        r->adam = (lsd_adam)v;
    else if ((!strcmp(key, "d-labels") || !strcmp(key, "d_labels")) &&
             (v = name_index(DLABELS_NAME, value)) >= 0)
        r->d_labels = (lsd_dlabels)v;
    else if ((!strcmp(key, "d-input") || !strcmp(key, "d_input")) &&
             (v = name_index(DINPUT_NAME, value)) >= 0)
        r->d_input = (lsd_dinput)v;
    if (v < 0)
        return lsd_fail(err, LSD_ERR_ARG, "%s '%s': choose schedule paper|authors, adam "
                        "modern|pytorch02, d-labels centre|authors or d-input rgb|bgr", key,
                        value);
    return LSD_OK;
}

/* Reads "key=value" words. */
int lsd_recipe_parse(LsdRecipe *r, const char *text, lsd_err *err)
{
    char word[64], *eq;
    int len, rc;
    while (*text) {
        while (*text == ' ') text++;
        for (len = 0; text[len] && text[len] != ' '; len++) {}
        if (!len) break;
        if (len >= (int)sizeof word || !(eq = (char *)memchr(text, '=', (size_t)len)))
            return lsd_fail(err, LSD_ERR_FORMAT, "recipe text '%s': expected key=value words",
                            text);
        memcpy(word, text, (size_t)len);
        word[len] = 0;
        word[eq - text] = 0;
        if ((rc = lsd_recipe_set(r, word, word + (eq - text) + 1, err))) return rc;
        text += len;
    }
    return LSD_OK;
}

/* centre: PIL nearest resize of each map to (h, w), which samples Ys[8r+4][8c+4] at 1/8.
 * authors: PIL's resize given (h, w) as (width, height) makes a w-row, h-column map, which
 * their code copies element by element into the (h, w) slot: the same bytes, read as (h, w). */
void lsd_d_labels(uint8_t *yd, const uint8_t *ys, int N, int H, int W, int h, int w,
                  lsd_dlabels mode)
{
    int i;
    for (i = 0; i < N; i++) {
        uint8_t *out = yd + (size_t)i * h * w;
        const uint8_t *in = ys + (size_t)i * H * W;
        if (mode == LSD_DLABELS_AUTHORS) resize_labels_nearest(out, in, H, W, w, h);
        else resize_labels_nearest(out, in, H, W, h, w);
    }
}

/* Channel c of each image to channel 2 - c. */
void lsd_flip_channels(real *dst, const real *src, int N, int H, int W)
{
    size_t hw = (size_t)H * W;
    int i, c;
    for (i = 0; i < N; i++)
        for (c = 0; c < 3; c++)
            memcpy(dst + ((size_t)i * 3 + c) * hw, src + ((size_t)i * 3 + 2 - c) * hw,
                   hw * sizeof(real));
}

/* ------------------------------------------------------------------ work */

static const char *const KIND_F[2] = {"src", "tgt"};
static const char *const KIND_D[4] = {"src_real", "src_fake", "tgt_real", "tgt_fake"};
static const char *const GMASK_NAME[LSD_GBLOCKS][2] = {
    {"G.stage1_upsample.3", "G.stage1_upsample.4"}, {"G.stage1_upsample.8", "G.stage1_upsample.9"},
    {"G.stage2_upsample.3", "G.stage2_upsample.4"}, {"G.stage3_upsample.3", "G.stage3_upsample.4"},
    {"G.stage3_upsample.8", "G.stage3_upsample.9"}};
#define DMASK_INDEX LSD_DBLOCK_INDEX /* gan/arch.h, through net.h */

/* Records mask number work->nmasks (or only counts when work->masks is NULL). */
static real *add_mask(LsdWork *work, size_t *used, const char *layer, const char *kind, int ndim,
                      int n, int c, int h, int w)
{
    size_t size = (size_t)n * c * (ndim == 4 ? (size_t)h * w : 1);
    real *p = work->mask_mem ? work->mask_mem + *used : NULL;
    if (work->masks) {
        LsdMaskRef *r = &work->masks[work->nmasks];
        sprintf(r->name, "%s.%s", layer, kind);
        r->data = p;
        r->ndim = ndim;
        r->shape[0] = n, r->shape[1] = c, r->shape[2] = h, r->shape[3] = w;
        r->size = size;
    }
    work->nmasks++;
    *used += size;
    return p;
}

/* Lays out every mask of the mode (counting first when work->masks is NULL). */
static size_t mask_layout(LsdWork *work, const LsdConfig *c)
{
    size_t used = 0;
    int d, k, j, N = work->N, nf = work->mode == LSD_WORK_TRAIN ? 2 : 1;
    const FActs *fa = &work->fa[0];
    work->nmasks = 0;
    for (d = 0; d < nf; d++) {
        work->fm[d].fc6 = add_mask(work, &used, "F.fc6", KIND_F[d], 2, N, c->fc, 1, 1);
        work->fm[d].fc7 = add_mask(work, &used, "F.fc7", KIND_F[d], 2, N, c->fc, 1, 1);
    }
    (void)fa;
    if (work->mode != LSD_WORK_TRAIN) return used;
    for (d = 0; d < 2; d++)
        for (k = 0; k < LSD_GBLOCKS; k++)
            for (j = 0; j < 2; j++) {
                const ConvShape *s = &work->ga[0].blk[k].rb_shape;
                work->gm[d].rb[k][j] =
                    add_mask(work, &used, GMASK_NAME[k][j], KIND_F[d], 4, N, s->OC, s->OH, s->OW);
            }
    for (d = 0; d < 4; d++)
        for (k = 0; k < LSD_DBLOCKS; k++) {
            const ConvShape *s = &work->da.rb_shape[k];
            char layer[32];
            sprintf(layer, "D.feature.%d", DMASK_INDEX[k]);
            work->dm[d].rb[k] = add_mask(work, &used, layer, KIND_D[d], 4, N, s->OC, s->OH, s->OW);
        }
    return used;
}

/* Allocates every buffer of one input size for the mode (see lsd.h). */
int lsd_work_create(LsdWork *work, const LsdConfig *c, int N, int H, int W, lsd_work_mode mode,
                    lsd_err *err)
{
    int rc = LSD_OK, nm;
    size_t t, nmask;
    memset(work, 0, sizeof *work);
    work->N = N, work->H = H, work->W = W, work->mode = mode;
    if (N < 1 || N > 4096) return lsd_fail(err, LSD_ERR_ARG, "batch size %d out of range", N);
    if (mode == LSD_WORK_TRAIN && (rc = lsd_check_size(H, W, err))) return rc;
    rc = f_acts_alloc(&work->fa[0], c, N, H, W, 1, err);
    if (!rc) rc = c_acts_alloc(&work->ca, c, N, H, W, err);
    if (!rc && mode != LSD_WORK_INFER) {
        rc = f_acts_alloc(&work->fg, c, N, H, W, 0, err);
        if (!rc) rc = c_acts_alloc(&work->cg, c, N, H, W, err);
    }
    if (!rc && mode == LSD_WORK_TRAIN) {
        rc = f_acts_alloc(&work->fa[1], c, N, H, W, 1, err);
        if (!rc) rc = g_acts_alloc(&work->ga[0], c, N, H, W, 1, err);
        if (!rc) rc = g_acts_alloc(&work->ga[1], c, N, H, W, 1, err);
        if (!rc) rc = g_acts_alloc(&work->gg, c, N, H, W, 0, err);
        if (!rc) rc = d_acts_alloc(&work->da, c, N, H, W, 1, err);
        if (!rc) rc = d_acts_alloc(&work->dg, c, N, H, W, 0, err);
        if (!rc) rc = d_acts_alloc(&work->da1, c, N, H, W, 1, err);
        if (!rc) rc = d_acts_alloc(&work->dg1, c, N, H, W, 0, err);
        if (!rc) rc = g_acts_alloc(&work->gg1, c, N, H, W, 0, err);
        if (!rc) rc = f_acts_alloc(&work->fg1, c, N, H, W, 0, err);
    }
    if (rc) {
        lsd_work_free(work);
        return rc;
    }
    /* convolution scratch: the largest any layer needs */
    work->scratch_n = f_work_size(&work->fa[0], &work->ca);
    if (mode == LSD_WORK_TRAIN) {
        if ((t = g_work_size(&work->ga[0])) > work->scratch_n) work->scratch_n = t;
        if ((t = d_work_size(&work->da)) > work->scratch_n) work->scratch_n = t;
    }
    /* masks: count, allocate, lay out */
    nmask = mask_layout(work, c);
    nm = work->nmasks;
    work->masks = (LsdMaskRef *)calloc((size_t)nm, sizeof *work->masks);
    work->mask_mem = (real *)calloc(nmask ? nmask : 1, sizeof(real));
    work->scratch = (real *)calloc(work->scratch_n ? work->scratch_n : 1, sizeof(real));
    if (mode == LSD_WORK_TRAIN)
        work->scratch1 = (real *)calloc(work->scratch_n ? work->scratch_n : 1, sizeof(real));
    work->yd = (uint8_t *)calloc((size_t)N * (H / 8 + 1) * (W / 8 + 1), 1);
    if (!work->masks || !work->mask_mem || !work->scratch || !work->yd ||
        (mode == LSD_WORK_TRAIN && !work->scratch1)) {
        lsd_work_free(work);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the work buffers");
    }
    mask_layout(work, c);
    lsd_work_draw_masks(work, 0, 0, 0);
    work->bytes = work->fa[0].bytes + work->fa[1].bytes + work->fg.bytes + work->ca.bytes +
                  work->cg.bytes + work->ga[0].bytes + work->ga[1].bytes + work->gg.bytes +
                  work->da.bytes + work->dg.bytes + work->da1.bytes + work->dg1.bytes +
                  work->gg1.bytes + work->fg1.bytes +
                  (nmask + work->scratch_n * (work->scratch1 ? 2 : 1)) * sizeof(real) +
                  (size_t)nm * sizeof *work->masks + (size_t)N * (H / 8 + 1) * (W / 8 + 1);
    return LSD_OK;
}

/* Releases every buffer. */
void lsd_work_free(LsdWork *work)
{
    f_acts_free(&work->fa[0]);
    f_acts_free(&work->fa[1]);
    f_acts_free(&work->fg);
    c_acts_free(&work->ca);
    c_acts_free(&work->cg);
    g_acts_free(&work->ga[0]);
    g_acts_free(&work->ga[1]);
    g_acts_free(&work->gg);
    d_acts_free(&work->da);
    d_acts_free(&work->dg);
    d_acts_free(&work->da1);
    d_acts_free(&work->dg1);
    g_acts_free(&work->gg1);
    f_acts_free(&work->fg1);
    free(work->masks);
    free(work->mask_mem);
    free(work->scratch);
    free(work->scratch1);
    free(work->term_grad);
    free(work->sample_grad);
    free(work->sample_ptr);
    free(work->sample_loss);
    d_acts_free(&work->da_fake[0]);
    d_acts_free(&work->da_fake[1]);
    free(work->x01_bgr);
    free(work->yd);
    memset(work, 0, sizeof *work);
}

/* Linear search over the mask table. */
LsdMaskRef *lsd_work_mask(LsdWork *work, const char *name)
{
    int i;
    for (i = 0; i < work->nmasks; i++)
        if (!strcmp(work->masks[i].name, name)) return &work->masks[i];
    return NULL;
}

/* Ones, or counter-RNG draws addressed by (seed, layer-and-kind stream, step, element). */
void lsd_work_draw_masks(LsdWork *work, int dropout_on, uint64_t seed, long step)
{
    lsd_work_draw_masks_part(work, dropout_on, seed, step, work->N, 0);
}

/* Part first .. first + N - 1 of each batch mask: the counter RNG's draws are addressed by
 * element, so any part is drawn on its own. */
void lsd_work_draw_masks_part(LsdWork *work, int dropout_on, uint64_t seed, long step, int batch,
                              int first)
{
    int i;
    for (i = 0; i < work->nmasks; i++) {
        LsdMaskRef *r = &work->masks[i];
        uint64_t one = r->size / (size_t)work->N; /* one sample's mask */
        if (dropout_on)
            dropout_mask(r->data, r->size, (real)0.5, seed, rng_stream_of(r->name),
                         (uint64_t)step * one * (uint64_t)batch + one * (uint64_t)first);
        else
            vec_fill(r->data, r->size, 1);
    }
}

/* Masks from the hash rule shared with golden/model.py. */
void lsd_work_hash_masks(LsdWork *work)
{
    char full[80];
    int i;
    size_t j;
    for (i = 0; i < work->nmasks; i++) {
        LsdMaskRef *r = &work->masks[i];
        sprintf(full, "masks.%s", r->name);
        for (j = 0; j < r->size; j++) r->data[j] = lsd_hash_uniform(full, j) < 0 ? 0 : 2;
    }
}

/* ------------------------------------------------------------------ lanes
 *
 * Each update of the iteration has a source half and a target half that meet only when their
 * parameter gradients are added: D's four terms (taken two at a time), G's source and target
 * terms, F's source and target terms; so do the first forward passes of F and G and G's
 * second. lsd_step runs the halves as two lanes: side by side on two threads when OpenMP has
 * two or more (each lane's layers then share half of the threads), one after the other
 * otherwise. Lane 0 computes in the work's da, dg, gg, fg and scratch, lane 1 in da1, dg1, gg1,
 * fg1 and scratch1; only a few parallel regions per iteration are entered (one per stage).
 *
 * The sums are the same whatever the thread count. The lanes run one sample at a time (see
 * "Samples" below). Each term's parameter gradient is summed in a zeroed buffer of its own
 * (the update's first term directly in the sample's zeroed gradient), and the terms are added
 * in the paper's order after the lanes join: D's gradient is ((T1 + T2) + T3) + T4, G's and
 * F's Tsrc + Ttgt, where each T is the layers' own fixed sum over pixels and bands
 * (layers/conv.c). (Until lanes, the terms were added onto the running gradient one band at
 * a time: the same sums in another association, so the last bits of the parameters differ
 * from lsdseg before the change.)
 */

/* A lane's buffers and its share of an update's loss. */
typedef struct {
    DActs *da, *dg;
    GActs *gg;
    FActs *fg;
    const DActs *dg_of; /* the work's buffers dg, gg, fg are sample 0 of (zeroed through them) */
    const GActs *gg_of;
    const FActs *fg_of;
    real *scratch;
    double loss; /* the lane's term of the update's loss */
    double seg;  /* lane 0 of update 3: the segmentation loss (sum over the batch) */
    int rc;
    lsd_err err;
} Lane;

/* What the lanes of one iteration share: the model, its views whose parameter gradients go
 * to the term buffers (lsd_work's term_grad) or to the sample's gradient, and the inputs. */
typedef struct {
    LsdModel *m;
    LsdWork *work;      /* the current sample's view of the work (sample_view) */
    const LsdBatch *b;  /* the current sample's inputs */
    const LsdStepOptions *o;
    FNet f1;    /* F, gradients into term_grad's F part (lane 1's term) */
    GNet g1;    /* G, gradients into its G part */
    DNet d0, d1; /* D, gradients into its two D parts (lane 0's and lane 1's terms) */
    FNet f_sample; /* F, G and D with the gradients into the sample's gradient */
    GNet g_sample; /* (sample_target): the networks themselves for the batch's first */
    DNet d_sample; /* sample here */
    int authors; /* the authors' schedule: D's activations of the first forward are kept */
    int batch;   /* B: every loss and gradient is divided by it */
    int keep;    /* 1: samples 1 .. N - 1 keep their gradients apart (LsdDist, first > 0) */
    size_t stride; /* reals of each sample gradient buffer */
    LsdWork *whole;      /* the work and the whole batch */
    const LsdBatch *wb;
    LsdWork v;           /* sample j's view of the work */
    LsdBatch vb;         /* sample j's inputs */
    Lane lane[2];
} Step;

/* A copy of D's views with the gradients in grad (laid out like D's gradient array). */
static DNet d_view(const DNet *d, real *grad)
{
    DNet v = *d;
    v.pa.grad = grad;
    layers_grad_to(&v.conv0, 1, &d->pa, grad);
    layers_grad_to(v.rb, LSD_DBLOCKS, &d->pa, grad);
    layers_grad_to(&v.out_s, 1, &d->pa, grad);
    layers_grad_to(&v.out_c, 1, &d->pa, grad);
    return v;
}

/* A copy of G's views with the gradients in grad. */
static GNet g_view(const GNet *g, real *grad)
{
    GNet v = *g;
    int k;
    v.pa.grad = grad;
    for (k = 0; k < LSD_GBLOCKS; k++) {
        layers_grad_to(&v.blk[k].convt, 1, &g->pa, grad);
        layers_grad_to(v.blk[k].rb, 2, &g->pa, grad);
    }
    layers_grad_to(&v.out, 1, &g->pa, grad);
    return v;
}

/* A copy of F's (and C's) views with the gradients in grad. */
static FNet f_view(const FNet *f, real *grad)
{
    FNet v = *f;
    v.pa.grad = grad;
    layers_grad_to(v.conv, LSD_NCONV, &f->pa, grad);
    layers_grad_to(&v.fc6, 1, &f->pa, grad);
    layers_grad_to(&v.fc7, 1, &f->pa, grad);
    layers_grad_to(&v.score_fr, 1, &f->pa, grad);
    layers_grad_to(&v.score_pool3, 1, &f->pa, grad);
    layers_grad_to(&v.score_pool4, 1, &f->pa, grad);
    layers_grad_to(&v.upscore2, 1, &f->pa, grad);
    layers_grad_to(&v.upscore8, 1, &f->pa, grad);
    layers_grad_to(&v.upscore_pool4, 1, &f->pa, grad);
    return v;
}

/* The batch and this work's place in it (LsdDist), checked. */
static int batch_of(const LsdWork *work, const LsdStepOptions *o, int *batch, int *first,
                    lsd_err *err)
{
    const LsdDist *d = o->dist;
    *batch = d ? d->batch : work->N;
    *first = d ? d->first : 0;
    if (d && (d->first < 0 || d->batch < 1 || d->first + work->N > d->batch || !d->reduce ||
              !d->gather))
        return lsd_fail(err, LSD_ERR_ARG, "samples %d .. %d of a batch of %d with%s hooks: "
                        "not a part of the batch", d->first, d->first + work->N - 1, d->batch,
                        d->reduce && d->gather ? "" : "out the");
    return LSD_OK;
}

/* The per-sample buffers (see "Samples" below): n_grad reals for each sample gradient kept
 * apart (keep: N - 1 of them, else one when N > 1), the reduce hook's pointers and the loss
 * rows. */
static int samples_begin(Step *s, LsdWork *work, const LsdStepOptions *o, size_t n_grad,
                         lsd_err *err)
{
    int batch, first, rc, N = work->N;
    size_t nbuf, nl;
    if ((rc = batch_of(work, o, &batch, &first, err))) return rc;
    s->batch = batch;
    s->keep = first > 0;
    s->stride = n_grad;
    nbuf = (size_t)(s->keep ? N - 1 : N > 1) * n_grad;
    if (nbuf > work->sample_grad_n) {
        free(work->sample_grad);
        work->bytes -= work->sample_grad_n * sizeof(real);
        work->sample_grad_n = 0;
        if (!(work->sample_grad = (real *)calloc(nbuf, sizeof(real))))
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the sample gradients "
                            "(%.0f MB)", (double)nbuf * sizeof(real) / 1e6);
        work->sample_grad_n = nbuf;
        work->bytes += nbuf * sizeof(real);
    }
    if (!work->sample_ptr && !(work->sample_ptr = (real **)calloc((size_t)N, sizeof(real *))))
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the sample pointers");
    nl = 4 * ((size_t)N + (size_t)batch);
    if (nl > work->sample_loss_n) {
        free(work->sample_loss);
        work->sample_loss_n = 0;
        if (!(work->sample_loss = (double *)calloc(nl, sizeof(double))))
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the sample losses");
        work->sample_loss_n = nl;
    }
    return LSD_OK;
}

/* Allocates the term buffers (once per model size) and points the views at them. */
static int step_begin(Step *s, LsdModel *m, LsdWork *work, const LsdBatch *b,
                      const LsdStepOptions *o, lsd_err *err)
{
    size_t nf = m->F.pa.total, ng = m->G.pa.total, nd = m->D.pa.total, n = nf + ng + 2 * nd;
    size_t most = nf > ng ? (nf > nd ? nf : nd) : (ng > nd ? ng : nd);
    int rc;
    memset(s, 0, sizeof *s);
    if ((rc = samples_begin(s, work, o, most, err))) return rc;
    if (work->term_grad_n != n) {
        free(work->term_grad);
        work->term_grad_n = 0;
        work->term_grad = (real *)calloc(n, sizeof(real));
        if (!work->term_grad)
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the term gradients "
                            "(%.0f MB)", (double)n * sizeof(real) / 1e6);
        work->term_grad_n = n;
    }
    if (o->recipe.schedule == LSD_SCHEDULE_AUTHORS && !work->da_fake[0].mem) {
        int k, rc;
        for (k = 0; k < 2; k++)
            if ((rc = d_acts_alloc(&work->da_fake[k], &m->cfg, work->N, work->H, work->W, 1, err)))
                return rc;
        work->bytes += work->da_fake[0].bytes + work->da_fake[1].bytes;
    }
    if (o->recipe.d_input == LSD_DINPUT_BGR && !work->x01_bgr) {
        size_t n_img = (size_t)work->N * 3 * work->H * work->W;
        if (!(work->x01_bgr = (real *)calloc(2 * n_img, sizeof(real))))
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for D's BGR images");
        work->bytes += 2 * n_img * sizeof(real);
    }
    s->m = m, s->work = work, s->b = b, s->o = o;
    s->whole = work, s->wb = b;
    s->authors = o->recipe.schedule == LSD_SCHEDULE_AUTHORS;
    s->f1 = f_view(&m->F, work->term_grad);
    s->g1 = g_view(&m->G, work->term_grad + nf);
    s->d0 = d_view(&m->D, work->term_grad + nf + ng);
    s->d1 = d_view(&m->D, work->term_grad + nf + ng + nd);
    return LSD_OK;
}

/* ------------------------------------------------------------------ samples
 *
 * A batch of B runs one sample at a time (lsd.h, LsdDist): every pass is a pass of one sample
 * (views of the work's buffers, net.h "per-sample views"), and each update's gradient is
 * g = (((g_0 + g_1) + g_2) + ... + g_{B-1}), where g_s is sample s's gradient (its terms in the
 * paper's order as the lanes add them, each divided by B). Sample 0's goes directly into the
 * network's gradient, each later one into a buffer of its own and is then added. The losses
 * are per-sample rows added in the same order. The same definition serves a process that
 * holds a part of the batch (LsdDist): its samples' gradients are handed to the reduce hook,
 * which adds them onto the running sum of the processes before it (ref/dist.c), so any split
 * of the batch into processes gives the same bits. With B = 1 this is the lanes' iteration
 * unchanged. Why per sample: inside one pass of N samples the convolutions sum their weight
 * gradients over the samples and the terms are added after that, an order that no split of
 * the samples into processes can reproduce.
 */

/* Points s->work and s->b at sample j: activations, masks, y' and inputs of sample j, the
 * gradient buffers (dg, gg, fg, cg and lane 1's) at sample 0 of theirs. */
static void sample_view(Step *s, int j)
{
    const LsdWork *work = s->whole;
    const LsdBatch *b = s->wb;
    LsdWork *v = &s->v;
    size_t img = (size_t)3 * work->H * work->W, pix = (size_t)work->H * work->W;
    int d, k, r, nf = work->mode == LSD_WORK_TRAIN ? 2 : 1;
    *v = *work;
    v->N = 1;
#define VIEW(FN, F, J) \
    if (work->F.mem) FN(&v->F, &work->F, J, 0)
    for (d = 0; d < 2; d++) {
        VIEW(f_acts_view, fa[d], j);
        VIEW(g_acts_view, ga[d], j);
        VIEW(d_acts_view, da_fake[d], j);
    }
    VIEW(c_acts_view, ca, j);
    VIEW(d_acts_view, da, j);
    VIEW(d_acts_view, da1, j);
    VIEW(f_acts_view, fg, 0);
    VIEW(f_acts_view, fg1, 0);
    VIEW(c_acts_view, cg, 0);
    VIEW(g_acts_view, gg, 0);
    VIEW(g_acts_view, gg1, 0);
    VIEW(d_acts_view, dg, 0);
    VIEW(d_acts_view, dg1, 0);
#undef VIEW
    for (d = 0; d < nf; d++) {
        size_t one = (size_t)work->fa[0].fc6_shape.OC;
        v->fm[d].fc6 = work->fm[d].fc6 + j * one;
        v->fm[d].fc7 = work->fm[d].fc7 + j * one;
    }
    if (work->mode == LSD_WORK_TRAIN) {
        for (d = 0; d < 2; d++)
            for (k = 0; k < LSD_GBLOCKS; k++)
                for (r = 0; r < 2; r++) {
                    const ConvShape *c = &work->ga[0].blk[k].rb_shape;
                    v->gm[d].rb[k][r] = work->gm[d].rb[k][r] + (size_t)j * c->OC * c->OH * c->OW;
                }
        for (d = 0; d < 4; d++)
            for (k = 0; k < LSD_DBLOCKS; k++) {
                const ConvShape *c = &work->da.rb_shape[k];
                v->dm[d].rb[k] = work->dm[d].rb[k] + (size_t)j * c->OC * c->OH * c->OW;
            }
        v->yd = work->yd + (size_t)j * work->da.h * work->da.w;
    }
    s->vb.xs = b->xs + j * img;
    s->vb.xt = b->xt ? b->xt + j * img : NULL;
    s->vb.xs01 = b->xs01 ? b->xs01 + j * img : NULL;
    s->vb.xt01 = b->xt01 ? b->xt01 + j * img : NULL;
    s->vb.ys = b->ys + j * pix;
    s->work = v, s->b = &s->vb;
    s->lane[0].da = &v->da, s->lane[0].dg = &v->dg, s->lane[0].gg = &v->gg;
    s->lane[0].fg = &v->fg, s->lane[0].scratch = work->scratch;
    s->lane[0].dg_of = &work->dg, s->lane[0].gg_of = &work->gg, s->lane[0].fg_of = &work->fg;
    s->lane[1].da = &v->da1, s->lane[1].dg = &v->dg1, s->lane[1].gg = &v->gg1;
    s->lane[1].fg = &v->fg1, s->lane[1].scratch = work->scratch1;
    s->lane[1].dg_of = &work->dg1, s->lane[1].gg_of = &work->gg1, s->lane[1].fg_of = &work->fg1;
}

/* Where sample j's gradient of the update (n reals) is summed: the network's own gradient
 * for the first sample, else a sample buffer (its own one when kept apart). */
static real *sample_grad(const Step *s, int j, real *own)
{
    if (j == 0) return own;
    return s->whole->sample_grad + (s->keep ? (size_t)(j - 1) * s->stride : 0);
}

/* Points d_sample, g_sample and f_sample at sample j's gradients (the networks themselves
 * for j = 0). */
static void sample_target(Step *s, int j)
{
    LsdModel *m = s->m;
    s->f_sample = j ? f_view(&m->F, sample_grad(s, j, NULL)) : m->F;
    s->g_sample = j ? g_view(&m->G, sample_grad(s, j, NULL)) : m->G;
    s->d_sample = j ? d_view(&m->D, sample_grad(s, j, NULL)) : m->D;
}

/* After sample j: adds its gradient g onto the network's (unless kept apart). */
static void sample_fold(const Step *s, int j, real *own, const real *g, size_t n)
{
    if (j > 0 && !s->keep) vec_add(own, g, n);
}

/* After the work's samples: hands the update's gradient to LsdDist's reduce (if any), which
 * leaves the batch's gradient in own. */
static int update_reduce(const Step *s, int update, real *own, size_t n, lsd_err *err)
{
    const LsdDist *d = s->o->dist;
    real **g = s->whole->sample_ptr;
    int j, ng = s->keep ? s->whole->N : 1;
    if (!d) return LSD_OK;
    for (j = 0; j < ng; j++) g[j] = sample_grad(s, j, own);
    return d->reduce(d->ctx, update, g, ng, n, err);
}

/* The batch's losses: every sample's row of k values (this work's in sample_loss), gathered
 * from the other processes (LsdDist), added in sample order into sum (k). */
static int sum_losses(const Step *s, int k, double *sum, lsd_err *err)
{
    const LsdDist *d = s->o->dist;
    const double *mine = s->whole->sample_loss;
    double *all = s->whole->sample_loss + (size_t)k * s->whole->N;
    int j, i, rc;
    if (d && (rc = d->gather(d->ctx, mine, s->whole->N, all, k, err))) return rc;
    if (!d) all = (double *)mine;
    for (i = 0; i < k; i++) sum[i] = 0;
    for (j = 0; j < s->batch; j++)
        for (i = 0; i < k; i++) sum[i] += all[(size_t)j * k + i];
    return LSD_OK;
}

/* One stage for lsd_run_two: the lane function and its argument. */
typedef struct {
    Step *s;
    void (*fn)(Step *s, int k, int arg);
    int arg;
} Stage;

static void stage_lane(void *ctx, int k)
{
    Stage *st = (Stage *)ctx;
    st->fn(st->s, k, st->arg);
}

/* Runs fn(s, 0, arg) and fn(s, 1, arg) as two lanes (lsd_run_two), then returns the first
 * lane error, if any. */
static int run_lanes(Step *s, void (*fn)(Step *s, int k, int arg), int arg, lsd_err *err)
{
    Stage st;
    int k;
    st.s = s, st.fn = fn, st.arg = arg;
    s->lane[0].rc = s->lane[1].rc = LSD_OK; /* a lane that cannot fail leaves it so */
    lsd_run_two(stage_lane, &st);
    for (k = 0; k < 2; k++)
        if (s->lane[k].rc) {
            if (err) *err = s->lane[k].err;
            return s->lane[k].rc;
        }
    return LSD_OK;
}

/* ------------------------------------------------------------------ iteration */

/* D's activations of one of the four images from the iteration's first forward pass (the
 * authors' schedule; lane_forward), or NULL in the paper's schedule (D runs again). */
static const DActs *saved_d(const Step *s, int kind)
{
    const LsdWork *work = s->work;
    if (!s->authors) return NULL;
    return kind == LSD_SRC_REAL ? &work->da : kind == LSD_TGT_REAL ? &work->da1
         : &work->da_fake[kind == LSD_TGT_FAKE];
}

/* One call of d_terms, as the paper writes its D terms on one image x:
 * domain_weight * CE(Ds(x), domain) + class_weight * CE(Dc(x), labels). Fields left out of a
 * compound literal are 0 or NULL: no class term, no input gradient, no parameter gradients.
 * opencl/cllsd.c's ClDTerm is its device twin. */
typedef struct {
    int domain;            /* the class Ds is scored against: LSD_SRC_REAL .. LSD_TGT_FAKE */
    double domain_weight;  /* its weight */
    const uint8_t *labels; /* y' (h, w) for Dc, or NULL: no class term */
    double class_weight;   /* its weight (0 without labels) */
    real *dx;              /* the gradient with respect to x (+=), or NULL: not needed */
    int param_grads;       /* 1: D's parameter gradients (+=) into d */
} DTerm;

/* The image D sees as kind (LSD_SRC_REAL .. LSD_TGT_FAKE) in the current sample:
 * Xs01, G(F(Xs)), Xt01, G(F(Xt)). */
static const real *d_image(const Step *s, int kind)
{
    const LsdWork *work = s->work;
    return kind == LSD_SRC_REAL ? s->b->xs01 : kind == LSD_SRC_FAKE ? work->ga[LSD_SRC].img
         : kind == LSD_TGT_REAL ? s->b->xt01 : work->ga[LSD_TGT].img;
}

/* The D terms t on D's image of kind image (d_image) in lane ln, divided by the batch size
 * B = s->batch. D runs forward on it in the lane's buffers with that image's masks, or, in
 * the authors' schedule, its activations are those kept by the first forward (saved_d).
 * Backward into t->dx (if not NULL) and, if t->param_grads, the parameter gradients of d
 * (+=). */
static int d_terms(double *loss, const Step *s, Lane *ln, DNet *d, int image, const DTerm *t,
                   lsd_err *err)
{
    const real *x = d_image(s, image);
    const DActs *saved = saved_d(s, image);
    const DMasks *mk = &s->work->dm[image];
    const LsdModel *m = s->m;
    int B = s->batch;
    const DActs *a = saved ? saved : ln->da;
    DActs *dg = ln->dg;
    int N = a->N, hw = a->h * a->w, rc = LSD_OK;
    double ls = 0, lc = 0;
    if (!saved) d_forward(ln->da, x, d, mk, ln->scratch);
    d_acts_view(dg, ln->dg_of, 0, 1); /* zeroed */
    softmax_ce_const(&ls, dg->domain_score, a->domain_score, t->domain, N, 4, hw,
                     (real)(t->domain_weight / B));
    if (t->labels)
        rc = softmax_ce(&lc, dg->class_score, a->class_score, t->labels, N, m->cfg.n_class, hw,
                        255, LOSS_SUM, (real)(t->class_weight / B), err);
    if (rc) return rc;
    d_backward(t->dx, dg, a, x, d, mk, t->param_grads, ln->scratch);
    *loss = (t->domain_weight * ls + t->class_weight * lc) / B;
    return LSD_OK;
}

/* Refuses labels that are neither a class nor 255, before anything changes (see lsd.h). */
int lsd_check_labels(const uint8_t *ys, size_t n, int n_class, lsd_err *err)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (ys[i] != 255 && ys[i] >= n_class)
            return lsd_fail(err, LSD_ERR_RANGE, "label %d at pixel %lu is neither a class "
                            "(0..%d) nor 255 (ignore)", ys[i], (unsigned long)i, n_class - 1);
    return LSD_OK;
}

/* Draws or resets the masks as the options say (the work's part of the batch's masks). */
static void iteration_masks(LsdWork *work, const LsdStepOptions *o, long step)
{
    const LsdDist *d = o->dist;
    if (o->dropout == LSD_DROPOUT_RNG)
        lsd_work_draw_masks_part(work, 1, o->seed, step, d ? d->batch : work->N, d ? d->first : 0);
    if (o->dropout == LSD_DROPOUT_OFF) lsd_work_draw_masks(work, 0, 0, 0);
}

/* The authors' schedule, lane k's domain (0 source, 1 target): F, G, and D on the real image
 * and on G's, each once, kept for all three updates (see "The authors' schedule" below). */
static void lane_forward(Step *s, int k, int unused)
{
    LsdWork *work = s->work;
    FActs *fa = &work->fa[k];
    int real_kind = k ? LSD_TGT_REAL : LSD_SRC_REAL, fake_kind = k ? LSD_TGT_FAKE : LSD_SRC_FAKE;
    (void)unused;
    f_forward(fa, k ? s->b->xt : s->b->xs, &s->m->F, &work->fm[k], s->lane[k].scratch);
    g_forward(&work->ga[k], fa->fc7_drop, fa->pool[3], fa->pool[2], &s->m->G, &work->gm[k],
              s->lane[k].scratch);
    d_forward((DActs *)saved_d(s, real_kind), d_image(s, real_kind), &s->m->D,
              &work->dm[real_kind], s->lane[k].scratch);
    d_forward((DActs *)saved_d(s, fake_kind), d_image(s, fake_kind), &s->m->D,
              &work->dm[fake_kind], s->lane[k].scratch);
}

/* Lane k's domain through F (if arg) and G: lane 0 the source, lane 1 the target. */
static void lane_features(Step *s, int k, int with_f)
{
    LsdWork *work = s->work;
    FActs *fa = &work->fa[k];
    if (with_f) f_forward(fa, k ? s->b->xt : s->b->xs, &s->m->F, &work->fm[k], s->lane[k].scratch);
    g_forward(&work->ga[k], fa->fc7_drop, fa->pool[3], fa->pool[2], &s->m->G, &work->gm[k],
              s->lane[k].scratch);
}

/* Update 1, D's terms two at a time (pair 0, 1): real source (0, with its classes y') and
 * fake source (1), then real target (2) and fake target (3). The first term's gradients go
 * to D's (zeroed) gradient, the others' to the lanes' term buffers. */
static void lane_d(Step *s, int k, int pair)
{
    static const int KIND[2][2] = {{LSD_SRC_REAL, LSD_SRC_FAKE}, {LSD_TGT_REAL, LSD_TGT_FAKE}};
    LsdWork *work = s->work;
    Lane *ln = &s->lane[k];
    int kind = KIND[pair][k];
    DNet *d = kind == LSD_SRC_REAL ? &s->d_sample : k ? &s->d1 : &s->d0;
    if (d != &s->d_sample) arena_zero_grad(&d->pa);
    if (kind == LSD_SRC_REAL) /* CE(Ds(Xs),0) + CE(Dc(Xs),y') */
        ln->rc = d_terms(&ln->loss, s, ln, d, kind,
                         &(DTerm){.domain = LSD_SRC_REAL, .domain_weight = 1, .labels = work->yd,
                                  .class_weight = 1, .dx = NULL, .param_grads = 1},
                         &ln->err);
    else /* CE(Ds(G(F(Xs))),1), CE(Ds(Xt),2), CE(Ds(G(F(Xt))),3): each image as itself */
        ln->rc = d_terms(&ln->loss, s, ln, d, kind,
                         &(DTerm){.domain = kind, .domain_weight = 1, .labels = NULL,
                                  .class_weight = 0, .dx = NULL, .param_grads = 1},
                         &ln->err);
}

/* Update 2, lane k's domain: its fake classified as real (source 0 with classes y', target
 * 2) by D, weight 0.1, plus the L1 reconstruction; G's gradients (+=) into G's (lane 0) or
 * the term buffer (lane 1). */
static void lane_g(Step *s, int k, int unused)
{
    LsdWork *work = s->work;
    Lane *ln = &s->lane[k];
    GActs *ga = &work->ga[k];
    int B = s->batch, fake = k ? LSD_TGT_FAKE : LSD_SRC_FAKE;
    size_t nimg = (size_t)work->N * 3 * work->H * work->W;
    double l1w = s->o->l1_weight, l;
    (void)unused;
    g_acts_view(ln->gg, ln->gg_of, 0, 1); /* zeroed */
    if (k == 0) /* 0.1 CE(Ds(G(F(Xs))),0) + CE(Dc(G(F(Xs))),y') */
        ln->rc = d_terms(&l, s, ln, &s->m->D, fake,
                         &(DTerm){.domain = LSD_SRC_REAL, .domain_weight = 0.1, .labels = work->yd,
                                  .class_weight = 1, .dx = ln->gg->img, .param_grads = 0},
                         &ln->err);
    else /* 0.1 CE(Ds(G(F(Xt))),2) */
        ln->rc = d_terms(&l, s, ln, &s->m->D, fake,
                         &(DTerm){.domain = LSD_TGT_REAL, .domain_weight = 0.1, .labels = NULL,
                                  .class_weight = 0, .dx = ln->gg->img, .param_grads = 0},
                         &ln->err);
    if (ln->rc) return;
    /* the batch's term is l1w * (mean over the batch's pixels) / B: a sample's mean / B^2 */
    ln->loss = l + l1w * l1_loss(ln->gg->img, ga->img, k ? s->b->xt01 : s->b->xs01, nimg,
                                 (real)(l1w / ((double)B * B))) / B / B;
    g_backward(NULL, NULL, NULL, ln->gg, ga, work->fa[k].fc7_drop, k ? &s->g1 : &s->g_sample,
               &work->gm[k], 1, ln->scratch);
}

/* Update 3, lane k's domain. Source (lane 0): C's segmentation loss (into seg), then G(F(Xs))
 * as real target (2) with the classes y'. Target (lane 1): G(F(Xt)) as real source (0). Back
 * through the updated D and G into F; F's and C's gradients (+=) into F's (lane 0) or the term
 * buffer (lane 1). */
static void lane_f(Step *s, int k, int unused)
{
    LsdWork *work = s->work;
    Lane *ln = &s->lane[k];
    FActs *fa = &work->fa[k], *fg = ln->fg;
    GActs *ga = &work->ga[k];
    int B = s->batch, fake = k ? LSD_TGT_FAKE : LSD_SRC_FAKE;
    double l;
    (void)unused;
    f_acts_view(fg, ln->fg_of, 0, 1); /* zeroed */
    if (k == 0) {
        double lseg;
        c_acts_view(&work->cg, &s->whole->cg, 0, 1); /* zeroed */
        c_forward(&work->ca, fa, &s->m->F, ln->scratch);
        ln->rc = softmax_ce(&lseg, work->cg.score, work->ca.score, s->b->ys, work->N,
                            s->m->cfg.n_class, work->H * work->W, 255, LOSS_SUM, (real)(1.0 / B),
                            &ln->err);
        if (ln->rc) return;
        ln->seg = lseg;
        c_backward(&work->cg, fg, &work->ca, fa, &s->f_sample, 1, ln->scratch);
    }
    g_acts_view(ln->gg, ln->gg_of, 0, 1); /* zeroed */
    if (k == 0) /* advw CE(Ds(G(F(Xs))),2) + cw CE(Dc(G(F(Xs))),y') */
        ln->rc = d_terms(&l, s, ln, &s->m->D, fake,
                         &(DTerm){.domain = LSD_TGT_REAL, .domain_weight = s->o->adv_weight,
                                  .labels = work->yd, .class_weight = s->o->c_weight,
                                  .dx = ln->gg->img, .param_grads = 0},
                         &ln->err);
    else /* advw CE(Ds(G(F(Xt))),0) */
        ln->rc = d_terms(&l, s, ln, &s->m->D, fake,
                         &(DTerm){.domain = LSD_SRC_REAL, .domain_weight = s->o->adv_weight,
                                  .labels = NULL, .class_weight = 0, .dx = ln->gg->img,
                                  .param_grads = 0},
                         &ln->err);
    if (ln->rc) return;
    ln->loss = l;
    g_backward(fg->fc7_drop, fg->pool[3], fg->pool[2], ln->gg, ga, fa->fc7_drop, &s->m->G,
               &work->gm[k], 0, ln->scratch);
    f_backward(fg, fa, k ? s->b->xt : s->b->xs, k ? &s->f1 : &s->f_sample, &work->fm[k],
               ln->scratch);
}

/* ------------------------------------------------------------------ the authors' schedule
 *
 * The authors' trainer_LSD.py runs every forward pass once (F on both domains, G on both, D on
 * the four images), then lossD.backward(); optimD.step(); lossG.backward(); optimG.step();
 * lossF.backward(); optim.step() on that one graph. PyTorch 0.2's optimisers change the weights
 * in place, so the later backward passes combine the activations kept from the forward with
 * the weights as already updated: a convolution's input gradient uses its current weight;
 * ReLU, LeakyReLU, instance norm, dropout and pooling use what the forward kept. Here the
 * same: lane_forward keeps D's activations of all four images (saved_d) and the backward
 * passes of updates 2 and 3 start from them, through D's (and in update 3 G's) updated
 * parameters; G is not run again before update 3. The losses are those of the one forward.
 * Gradients are summed in the same order as in the paper's schedule.
 */

/* One LSD-seg iteration: D, G, then F and C (see the top of this file), each update's source
 * and target halves in two lanes (see "Lanes" above), sample by sample (see "Samples"), in
 * the recipe's schedule. */
int lsd_step(LsdModel *m, LsdWork *work, const LsdBatch *b, const LsdStepOptions *o,
             LsdLosses *out, lsd_err *err)
{
    Step s;
    LsdBatch bb = *b; /* with D's real images in the recipe's channel order */
    int N = work->N, H = work->H, W = work->W, rc, j, adam02 = o->recipe.adam == LSD_ADAM_PYTORCH02;
    long t = m->step + 1;
    size_t nf = m->F.pa.total, ng = m->G.pa.total, nd = m->D.pa.total;
    double sum[4], *row;
    if (work->mode != LSD_WORK_TRAIN)
        return lsd_fail(err, LSD_ERR_ARG, "lsd_step needs a work created for training");
    if ((rc = lsd_check_labels(b->ys, (size_t)N * H * W, m->cfg.n_class, err))) return rc;
    if ((rc = step_begin(&s, m, work, &bb, o, err))) return rc;
    if (o->recipe.d_input == LSD_DINPUT_BGR) {
        size_t n_img = (size_t)N * 3 * H * W;
        lsd_flip_channels(work->x01_bgr, b->xs01, N, H, W);
        lsd_flip_channels(work->x01_bgr + n_img, b->xt01, N, H, W);
        bb.xs01 = work->x01_bgr, bb.xt01 = work->x01_bgr + n_img;
    }
    lsd_d_labels(work->yd, b->ys, N, H, W, work->da.h, work->da.w, o->recipe.d_labels); /* y' */
    iteration_masks(work, o, m->step);
    row = work->sample_loss; /* per sample: D, G, F, seg */

    /* F's features of both domains (F changes only in update 3) and G's images; in the
     * authors' schedule also D on the four images */
    for (j = 0; j < N; j++) {
        sample_view(&s, j);
        if ((rc = run_lanes(&s, s.authors ? lane_forward : lane_features, 1, err))) return rc;
    }

    /* 1. D: real source 0 (and its classes y'), fake source 1, real target 2, fake target 3;
     * G's images are constants */
    for (j = 0; j < N; j++) {
        double *r = row + 4 * j;
        sample_view(&s, j);
        sample_target(&s, j);
        arena_zero_grad(&s.d_sample.pa);
        if ((rc = run_lanes(&s, lane_d, 0, err))) return rc;
        r[0] = 0;
        r[0] += s.lane[0].loss;
        r[0] += s.lane[1].loss;
        vec_add(s.d_sample.pa.grad, s.d1.pa.grad, nd);
        if ((rc = run_lanes(&s, lane_d, 1, err))) return rc;
        r[0] += s.lane[0].loss;
        r[0] += s.lane[1].loss;
        vec_add(s.d_sample.pa.grad, s.d0.pa.grad, nd);
        vec_add(s.d_sample.pa.grad, s.d1.pa.grad, nd);
        sample_fold(&s, j, m->D.pa.grad, s.d_sample.pa.grad, nd);
    }
    if ((rc = update_reduce(&s, 0, m->D.pa.grad, nd, err))) return rc;
    arena_adam(&m->D.pa, t, o->lr_gd, o->lr_gd, o->beta1_gd, o->beta2_gd, o->eps, adam02);

    /* 2. G: fakes classified as real with the source's classes, plus L1 reconstruction,
     * through the updated D; G's images are those computed above (same parameters, masks) */
    for (j = 0; j < N; j++) {
        double *r = row + 4 * j;
        sample_view(&s, j);
        sample_target(&s, j);
        arena_zero_grad(&s.g_sample.pa);
        arena_zero_grad(&s.g1.pa);
        if ((rc = run_lanes(&s, lane_g, 0, err))) return rc;
        r[1] = 0;
        r[1] += s.lane[0].loss;
        r[1] += s.lane[1].loss;
        vec_add(s.g_sample.pa.grad, s.g1.pa.grad, ng);
        sample_fold(&s, j, m->G.pa.grad, s.g_sample.pa.grad, ng);
    }
    if ((rc = update_reduce(&s, 1, m->G.pa.grad, ng, err))) return rc;
    arena_adam(&m->G.pa, t, o->lr_gd, o->lr_gd, o->beta1_gd, o->beta2_gd, o->eps, adam02);

    /* 3. F and C: segmentation on the source, domains swapped for D, through the updated G
     * (its images computed again in the paper's schedule) and D */
    for (j = 0; j < N; j++) {
        double *r = row + 4 * j;
        sample_view(&s, j);
        sample_target(&s, j);
        arena_zero_grad(&s.f_sample.pa);
        arena_zero_grad(&s.f1.pa);
        if (!s.authors && (rc = run_lanes(&s, lane_features, 0, err))) return rc;
        if ((rc = run_lanes(&s, lane_f, 0, err))) return rc;
        r[3] = s.lane[0].seg / s.batch;
        r[2] = 0;
        r[2] += s.lane[0].seg / s.batch;
        r[2] += s.lane[0].loss;
        r[2] += s.lane[1].loss;
        vec_add(s.f_sample.pa.grad, s.f1.pa.grad, nf);
        sample_fold(&s, j, m->F.pa.grad, s.f_sample.pa.grad, nf);
    }
    if ((rc = update_reduce(&s, 2, m->F.pa.grad, nf, err))) return rc;
    arena_adam(&m->F.pa, t, o->lr_f_weight, o->lr_f_bias, o->beta1_f, o->beta2_f, o->eps, adam02);
    m->step = t;
    if ((rc = sum_losses(&s, 4, sum, err))) return rc;
    out->loss_D = sum[0], out->loss_G = sum[1], out->loss_F = sum[2], out->loss_seg = sum[3];
    return LSD_OK;
}

/* The source-only baseline: CE(C(F(Xs)), Ys) / B, Adam on F and C; sample by sample as
 * lsd_step (see "Samples"). */
int lsd_step_source_only(LsdModel *m, LsdWork *work, const LsdBatch *b, const LsdStepOptions *o,
                         double *loss, lsd_err *err)
{
    Step s;
    LsdWork *v = &s.v;
    int N = work->N, rc, j;
    size_t nf = m->F.pa.total;
    double l;
    if (work->mode == LSD_WORK_INFER)
        return lsd_fail(err, LSD_ERR_ARG, "lsd_step_source_only needs a training work");
    if ((rc = lsd_check_labels(b->ys, (size_t)N * work->H * work->W, m->cfg.n_class,
                               err))) return rc;
    memset(&s, 0, sizeof s);
    if ((rc = samples_begin(&s, work, o, nf, err))) return rc;
    s.m = m, s.o = o, s.whole = work, s.wb = b;
    iteration_masks(work, o, m->step);
    for (j = 0; j < N; j++) {
        FActs *fs = &v->fa[LSD_SRC];
        sample_view(&s, j);
        s.f_sample = j ? f_view(&m->F, sample_grad(&s, j, NULL)) : m->F;
        arena_zero_grad(&s.f_sample.pa);
        f_acts_view(&v->fg, &work->fg, 0, 1);
        c_acts_view(&v->cg, &work->cg, 0, 1);
        f_forward(fs, s.vb.xs, &m->F, &v->fm[LSD_SRC], work->scratch);
        c_forward(&v->ca, fs, &m->F, work->scratch);
        rc = softmax_ce(&l, v->cg.score, v->ca.score, s.vb.ys, 1, m->cfg.n_class, work->H * work->W,
                        255, LOSS_SUM, (real)(1.0 / s.batch), err);
        if (rc) return rc;
        c_backward(&v->cg, &v->fg, &v->ca, fs, &s.f_sample, 1, work->scratch);
        f_backward(&v->fg, fs, s.vb.xs, &s.f_sample, &v->fm[LSD_SRC], work->scratch);
        work->sample_loss[j] = l / s.batch;
        sample_fold(&s, j, m->F.pa.grad, s.f_sample.pa.grad, nf);
    }
    if ((rc = update_reduce(&s, 2, m->F.pa.grad, nf, err))) return rc;
    m->step++;
    arena_adam(&m->F.pa, m->step, o->lr_f_weight, o->lr_f_bias, o->beta1_f, o->beta2_f, o->eps,
               o->recipe.adam == LSD_ADAM_PYTORCH02);
    return sum_losses(&s, 1, loss, err);
}

/* C(F(x)) with masks of ones (dropout is off in evaluation). */
void lsd_infer(const LsdModel *m, LsdWork *work, const real *x)
{
    vec_fill(work->fm[LSD_SRC].fc6, (size_t)work->N * m->cfg.fc, 1);
    vec_fill(work->fm[LSD_SRC].fc7, (size_t)work->N * m->cfg.fc, 1);
    f_forward(&work->fa[LSD_SRC], x, &m->F, &work->fm[LSD_SRC], work->scratch);
    c_forward(&work->ca, &work->fa[LSD_SRC], &m->F, work->scratch);
}

/* The first forward passes of an iteration, with the work's current masks. */
void lsd_forward_all(const LsdModel *m, LsdWork *work, const LsdBatch *b)
{
    FActs *fs = &work->fa[LSD_SRC], *ft = &work->fa[LSD_TGT];
    f_forward(fs, b->xs, &m->F, &work->fm[LSD_SRC], work->scratch);
    f_forward(ft, b->xt, &m->F, &work->fm[LSD_TGT], work->scratch);
    c_forward(&work->ca, fs, &m->F, work->scratch);
    g_forward(&work->ga[LSD_SRC], fs->fc7_drop, fs->pool[3], fs->pool[2], &m->G, &work->gm[LSD_SRC],
              work->scratch);
    g_forward(&work->ga[LSD_TGT], ft->fc7_drop, ft->pool[3], ft->pool[2], &m->G, &work->gm[LSD_TGT],
              work->scratch);
    d_forward(&work->da, b->xs01, &m->D, &work->dm[LSD_SRC_REAL], work->scratch);
}
