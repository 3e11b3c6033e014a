/*
 * cllsd.c - the LSD-seg iteration, the source-only baseline, inference and the forward
 * intermediates on an OpenCL device, mirroring gan/lsd.c line by line (see clnet.h).
 *
 * The host uploads the batch (images, labels, and y' = Ys resized to D's output with
 * resize_labels_nearest, as lsd_step does) and reads the losses; everything else stays
 * on the device. Masks are drawn on the device with cl_dropout_mask, the same Philox rule
 * and addressing (seed, rng_stream_of(name), step * size) as lsd_work_draw_masks.
 */
#include <string.h>

#include "../layers/shape.h"
#include "../tensor/rng.h"
#include "clnet.h"

#define TRY(x)                                                                             \
    do {                                                                                   \
        int rc_ = (x);                                                                     \
        if (rc_) return rc_;                                                               \
    } while (0)

/* One fill of a gradient struct's device block (zeroed before each use, as lsd.c's views). */
static int zero(lsd_cl *cl, lsd_clbuf *mem, lsd_err *err)
{
    return lsd_clbuf_fill(cl, mem, 0, mem->n, 0.0f, err);
}

/* lsd_work_draw_masks on the device. */
static int draw_masks(ClWork *work, int dropout_on, uint64_t seed, long step, lsd_err *err)
{
    int i;
    if (!dropout_on)
        return lsd_clbuf_fill(work->cl, &work->mask_mem, 0, work->mask_total, 1.0f, err);
    for (i = 0; i < work->host->nmasks; i++) {
        const LsdMaskRef *r = &work->host->masks[i];
        TRY(cl_dropout_mask(work->cl, &work->masks[i], r->size, 0.5f, seed,
                            rng_stream_of(r->name), (uint64_t)step * r->size, err));
    }
    return LSD_OK;
}

/* lsd.c's iteration_masks; given masks come from the host work. */
static int iteration_masks(ClWork *work, const LsdStepOptions *o, long step, lsd_err *err)
{
    if (o->dropout == LSD_DROPOUT_RNG) return draw_masks(work, 1, o->seed, step, err);
    if (o->dropout == LSD_DROPOUT_OFF) return draw_masks(work, 0, 0, 0, err);
    return cl_work_upload_masks(work, err);
}

/* lsd.c's DTerm on the device: one call of d_terms, as the paper writes its D terms on one
 * image x: domain_weight * CE(Ds(x), domain) + class_weight * CE(Dc(x), labels). Fields left
 * out of a compound literal are 0 or NULL: no class term, no input gradient, no parameter
 * gradients. */
typedef struct {
    int domain;              /* the class Ds is scored against: LSD_SRC_REAL .. LSD_TGT_FAKE */
    double domain_weight;    /* its weight */
    const lsd_clbuf *labels; /* y' (uint8, N x h x w) for Dc, or NULL: no class term */
    double class_weight;     /* its weight (0 without labels) */
    lsd_clbuf *dx;           /* the gradient with respect to x (+=), or NULL: not needed */
    int param_grads;         /* 1: D's parameter gradients (+=) */
} ClDTerm;

/* The image D sees as kind (LSD_SRC_REAL .. LSD_TGT_FAKE): Xs01, G(F(Xs)), Xt01, G(F(Xt)). */
static const lsd_clbuf *d_image(const ClWork *work, int kind)
{
    return kind == LSD_SRC_REAL ? &work->xs01 : kind == LSD_SRC_FAKE ? &work->ga[LSD_SRC].img
         : kind == LSD_TGT_REAL ? &work->xt01 : &work->ga[LSD_TGT].img;
}

/* lsd.c's d_terms: the D terms t on D's image of kind image (d_image), with that image's
 * masks, divided by N; D's backward into t->dx (if not NULL) and, if t->param_grads, D's
 * parameter gradients (+=). */
static int d_terms(double *loss, ClModel *m, ClWork *work, int image, const ClDTerm *t,
                   lsd_err *err)
{
    lsd_cl *cl = work->cl;
    const lsd_clbuf *x = d_image(work, image);
    const ClDMasks *mk = &work->dm[image];
    ClDActs *a = &work->da, *dg = &work->dg;
    int N = a->host->N, hw = a->host->h * a->host->w;
    double ls = 0, lc = 0;
    TRY(cl_d_forward(cl, a, x, &m->D, mk, &work->scratch, err));
    TRY(zero(cl, &dg->mem, err));
    TRY(cl_softmax_ce_const(cl, &ls, &dg->domain_score, &a->domain_score, t->domain, N, 4, hw,
                            (float)(t->domain_weight / N), err));
    if (t->labels)
        TRY(cl_softmax_ce(cl, &lc, &dg->class_score, &a->class_score, t->labels, N,
                          m->cfg.n_class, hw, 255, LOSS_SUM, (float)(t->class_weight / N), err));
    TRY(cl_d_backward(cl, t->dx, dg, a, x, &m->D, mk, t->param_grads, &work->scratch, err));
    *loss = (t->domain_weight * ls + t->class_weight * lc) / N;
    return LSD_OK;
}

/* Uploads the images a mode needs and the labels. */
static int upload_batch(ClWork *work, const LsdBatch *b, int full, lsd_err *err)
{
    LsdWork *host = work->host;
    size_t nimg = (size_t)host->N * 3 * host->H * host->W;
    TRY(lsd_clbuf_write(work->cl, &work->xs, 0, b->xs, nimg, err));
    TRY(lsd_clbuf_write(work->cl, &work->ys, 0, b->ys, (size_t)host->N * host->H * host->W, err));
    if (!full) return LSD_OK;
    TRY(lsd_clbuf_write(work->cl, &work->xt, 0, b->xt, nimg, err));
    TRY(lsd_clbuf_write(work->cl, &work->xs01, 0, b->xs01, nimg, err));
    return lsd_clbuf_write(work->cl, &work->xt01, 0, b->xt01, nimg, err);
}

static int same_model(const ClModel *m, const ClWork *work, lsd_err *err)
{
    if (!work->host || !m->cl || m->cl != work->cl)
        return lsd_fail(err, LSD_ERR_ARG, "the device model and work belong to different "
                        "contexts");
    return LSD_OK;
}

int cl_lsd_step(ClModel *m, ClWork *work, const LsdBatch *b, const LsdStepOptions *o,
                LsdLosses *out, lsd_err *err)
{
    lsd_cl *cl = work->cl;
    LsdWork *host = work->host;
    ClFActs *fs = &work->fa[LSD_SRC], *ft = &work->fa[LSD_TGT], *fg = &work->fg;
    ClGActs *gs = &work->ga[LSD_SRC], *gt = &work->ga[LSD_TGT], *gg = &work->gg;
    lsd_clbuf *scratch = &work->scratch;
    int N, H, W, i;
    size_t nimg;
    long t = m->step + 1;
    double l, l1, lseg, l1w = o->l1_weight;
    const lsd_clbuf *yd = &work->yd;
    TRY(same_model(m, work, err));
    if (host->mode != LSD_WORK_TRAIN)
        return lsd_fail(err, LSD_ERR_ARG, "lsd_step needs a work created for training");
    N = host->N, H = host->H, W = host->W;
    nimg = (size_t)N * 3 * H * W;
    TRY(lsd_check_labels(b->ys, (size_t)N * H * W, m->cfg.n_class, err));
    for (i = 0; i < N; i++) /* y' = Ys at D's output size, PIL nearest (on the host) */
        resize_labels_nearest(host->yd + (size_t)i * host->da.h * host->da.w,
                              b->ys + (size_t)i * H * W, H, W, host->da.h, host->da.w);
    TRY(upload_batch(work, b, 1, err));
    TRY(lsd_clbuf_write(cl, &work->yd, 0, host->yd, (size_t)N * host->da.h * host->da.w, err));
    TRY(iteration_masks(work, o, m->step, err));
    out->loss_D = out->loss_G = out->loss_F = out->loss_seg = 0;

    /* F's features of both domains and G's images */
    TRY(cl_f_forward(cl, fs, &work->xs, &m->F, &work->fm[LSD_SRC], scratch, err));
    TRY(cl_f_forward(cl, ft, &work->xt, &m->F, &work->fm[LSD_TGT], scratch, err));
    TRY(cl_g_forward(cl, gs, &fs->fc7_drop, &fs->pool[3], &fs->pool[2], &m->G,
                     &work->gm[LSD_SRC], scratch, err));
    TRY(cl_g_forward(cl, gt, &ft->fc7_drop, &ft->pool[3], &ft->pool[2], &m->G,
                     &work->gm[LSD_TGT], scratch, err));

    /* 1. D: real source 0 (and its classes y'), fake source 1, real target 2, fake target 3 */
    TRY(cl_arena_zero_grad(cl, &m->D.pa, err));
    TRY(d_terms(&l, m, work, LSD_SRC_REAL, /* CE(Ds(Xs),0) + CE(Dc(Xs),y') */
                &(ClDTerm){.domain = LSD_SRC_REAL, .domain_weight = 1, .labels = yd,
                           .class_weight = 1, .dx = NULL, .param_grads = 1},
                err));
    out->loss_D += l;
    TRY(d_terms(&l, m, work, LSD_SRC_FAKE, /* CE(Ds(G(F(Xs))),1) */
                &(ClDTerm){.domain = LSD_SRC_FAKE, .domain_weight = 1, .labels = NULL,
                           .class_weight = 0, .dx = NULL, .param_grads = 1},
                err));
    out->loss_D += l;
    TRY(d_terms(&l, m, work, LSD_TGT_REAL, /* CE(Ds(Xt),2) */
                &(ClDTerm){.domain = LSD_TGT_REAL, .domain_weight = 1, .labels = NULL,
                           .class_weight = 0, .dx = NULL, .param_grads = 1},
                err));
    out->loss_D += l;
    TRY(d_terms(&l, m, work, LSD_TGT_FAKE, /* CE(Ds(G(F(Xt))),3) */
                &(ClDTerm){.domain = LSD_TGT_FAKE, .domain_weight = 1, .labels = NULL,
                           .class_weight = 0, .dx = NULL, .param_grads = 1},
                err));
    out->loss_D += l;
    TRY(cl_arena_adam(cl, &m->D.pa, t, o->lr_gd, o->lr_gd, o->beta1_gd, o->beta2_gd, o->eps,
                      err));

    /* 2. G: fakes classified as real with the source's classes, plus L1 reconstruction */
    TRY(cl_arena_zero_grad(cl, &m->G.pa, err));
    TRY(zero(cl, &gg->mem, err));
    TRY(d_terms(&l, m, work, LSD_SRC_FAKE, /* 0.1 CE(Ds(G(F(Xs))),0) + CE(Dc(G(F(Xs))),y') */
                &(ClDTerm){.domain = LSD_SRC_REAL, .domain_weight = 0.1, .labels = yd,
                           .class_weight = 1, .dx = &gg->img, .param_grads = 0},
                err));
    TRY(cl_l1_loss(cl, &l1, &gg->img, &gs->img, &work->xs01, nimg, (float)(l1w / N), err));
    out->loss_G += l + l1w * l1 / N;
    TRY(cl_g_backward(cl, NULL, NULL, NULL, gg, gs, &fs->fc7_drop, &m->G, &work->gm[LSD_SRC], 1,
                      scratch, err));
    TRY(zero(cl, &gg->mem, err));
    TRY(d_terms(&l, m, work, LSD_TGT_FAKE, /* 0.1 CE(Ds(G(F(Xt))),2) */
                &(ClDTerm){.domain = LSD_TGT_REAL, .domain_weight = 0.1, .labels = NULL,
                           .class_weight = 0, .dx = &gg->img, .param_grads = 0},
                err));
    TRY(cl_l1_loss(cl, &l1, &gg->img, &gt->img, &work->xt01, nimg, (float)(l1w / N), err));
    out->loss_G += l + l1w * l1 / N;
    TRY(cl_g_backward(cl, NULL, NULL, NULL, gg, gt, &ft->fc7_drop, &m->G, &work->gm[LSD_TGT], 1,
                      scratch, err));
    TRY(cl_arena_adam(cl, &m->G.pa, t, o->lr_gd, o->lr_gd, o->beta1_gd, o->beta2_gd, o->eps,
                      err));

    /* 3. F and C: segmentation on the source, domains swapped for D, through the updated G
     * (its images computed again) and D */
    TRY(cl_arena_zero_grad(cl, &m->F.pa, err));
    TRY(cl_g_forward(cl, gs, &fs->fc7_drop, &fs->pool[3], &fs->pool[2], &m->G,
                     &work->gm[LSD_SRC], scratch, err));
    TRY(cl_g_forward(cl, gt, &ft->fc7_drop, &ft->pool[3], &ft->pool[2], &m->G,
                     &work->gm[LSD_TGT], scratch, err));
    TRY(zero(cl, &fg->mem, err));
    TRY(zero(cl, &work->cg.mem, err));
    TRY(cl_c_forward(cl, &work->ca, fs, &m->F, scratch, err));
    TRY(cl_softmax_ce(cl, &lseg, &work->cg.score, &work->ca.score, &work->ys, N, m->cfg.n_class,
                      H * W, 255, LOSS_SUM, (float)(1.0 / N), err));
    out->loss_seg = lseg / N;
    out->loss_F += lseg / N;
    TRY(cl_c_backward(cl, &work->cg, fg, &work->ca, fs, &m->F, 1, scratch, err));
    TRY(zero(cl, &gg->mem, err));
    TRY(d_terms(&l, m, work, LSD_SRC_FAKE, /* advw CE(Ds(G(F(Xs))),2) + cw CE(Dc(G(F(Xs))),y') */
                &(ClDTerm){.domain = LSD_TGT_REAL, .domain_weight = o->adv_weight, .labels = yd,
                           .class_weight = o->c_weight, .dx = &gg->img, .param_grads = 0},
                err));
    out->loss_F += l;
    TRY(cl_g_backward(cl, &fg->fc7_drop, &fg->pool[3], &fg->pool[2], gg, gs, &fs->fc7_drop, &m->G,
                      &work->gm[LSD_SRC], 0, scratch, err));
    TRY(cl_f_backward(cl, fg, fs, &work->xs, &m->F, &work->fm[LSD_SRC], scratch, &work->tmp,
                      err));
    TRY(zero(cl, &fg->mem, err));
    TRY(zero(cl, &gg->mem, err));
    TRY(d_terms(&l, m, work, LSD_TGT_FAKE, /* advw CE(Ds(G(F(Xt))),0) */
                &(ClDTerm){.domain = LSD_SRC_REAL, .domain_weight = o->adv_weight,
                           .labels = NULL, .class_weight = 0, .dx = &gg->img,
                           .param_grads = 0},
                err));
    out->loss_F += l;
    TRY(cl_g_backward(cl, &fg->fc7_drop, &fg->pool[3], &fg->pool[2], gg, gt, &ft->fc7_drop, &m->G,
                      &work->gm[LSD_TGT], 0, scratch, err));
    TRY(cl_f_backward(cl, fg, ft, &work->xt, &m->F, &work->fm[LSD_TGT], scratch, &work->tmp,
                      err));
    TRY(cl_arena_adam(cl, &m->F.pa, t, o->lr_f_weight, o->lr_f_bias, o->beta1_f, o->beta2_f,
                      o->eps, err));
    TRY(lsd_cl_finish(cl, err));
    m->step = t;
    return LSD_OK;
}

int cl_lsd_step_source_only(ClModel *m, ClWork *work, const LsdBatch *b,
                            const LsdStepOptions *o, double *loss, lsd_err *err)
{
    lsd_cl *cl = work->cl;
    LsdWork *host = work->host;
    ClFActs *fs = &work->fa[LSD_SRC], *fg = &work->fg;
    lsd_clbuf *scratch = &work->scratch;
    int N;
    double l;
    TRY(same_model(m, work, err));
    if (host->mode == LSD_WORK_INFER)
        return lsd_fail(err, LSD_ERR_ARG, "lsd_step_source_only needs a training work");
    N = host->N;
    TRY(lsd_check_labels(b->ys, (size_t)N * host->H * host->W, m->cfg.n_class, err));
    TRY(upload_batch(work, b, 0, err));
    TRY(iteration_masks(work, o, m->step, err));
    TRY(cl_arena_zero_grad(cl, &m->F.pa, err));
    TRY(zero(cl, &fg->mem, err));
    TRY(zero(cl, &work->cg.mem, err));
    TRY(cl_f_forward(cl, fs, &work->xs, &m->F, &work->fm[LSD_SRC], scratch, err));
    TRY(cl_c_forward(cl, &work->ca, fs, &m->F, scratch, err));
    TRY(cl_softmax_ce(cl, &l, &work->cg.score, &work->ca.score, &work->ys, N, m->cfg.n_class,
                      host->H * host->W, 255, LOSS_SUM, (float)(1.0 / N), err));
    TRY(cl_c_backward(cl, &work->cg, fg, &work->ca, fs, &m->F, 1, scratch, err));
    TRY(cl_f_backward(cl, fg, fs, &work->xs, &m->F, &work->fm[LSD_SRC], scratch, &work->tmp,
                      err));
    TRY(cl_arena_adam(cl, &m->F.pa, m->step + 1, o->lr_f_weight, o->lr_f_bias, o->beta1_f,
                      o->beta2_f, o->eps, err));
    TRY(lsd_cl_finish(cl, err));
    m->step++;
    *loss = l / N;
    return LSD_OK;
}

int cl_lsd_infer(ClModel *m, ClWork *work, const real *x, lsd_err *err)
{
    lsd_cl *cl = work->cl;
    LsdWork *host = work->host;
    size_t n = (size_t)host->N * m->cfg.fc;
    TRY(same_model(m, work, err));
    TRY(lsd_clbuf_fill(cl, &work->fm[LSD_SRC].fc6, 0, n, 1.0f, err));
    TRY(lsd_clbuf_fill(cl, &work->fm[LSD_SRC].fc7, 0, n, 1.0f, err));
    TRY(lsd_clbuf_write(cl, &work->xs, 0, x, (size_t)host->N * 3 * host->H * host->W, err));
    TRY(cl_f_forward(cl, &work->fa[LSD_SRC], &work->xs, &m->F, &work->fm[LSD_SRC],
                     &work->scratch, err));
    TRY(cl_c_forward(cl, &work->ca, &work->fa[LSD_SRC], &m->F, &work->scratch, err));
    return lsd_clbuf_read(cl, &work->ca.score, 0, host->ca.score,
                          (size_t)host->N * m->cfg.n_class * host->H * host->W, err);
}

int cl_lsd_forward_all(ClModel *m, ClWork *work, const LsdBatch *b, lsd_err *err)
{
    lsd_cl *cl = work->cl;
    LsdWork *host = work->host;
    ClFActs *fs = &work->fa[LSD_SRC], *ft = &work->fa[LSD_TGT];
    lsd_clbuf *scratch = &work->scratch;
    size_t nimg = (size_t)host->N * 3 * host->H * host->W;
    TRY(same_model(m, work, err));
    if (host->mode != LSD_WORK_TRAIN)
        return lsd_fail(err, LSD_ERR_ARG, "lsd_forward_all needs a work created for training");
    TRY(cl_work_upload_masks(work, err));
    TRY(lsd_clbuf_write(cl, &work->xs, 0, b->xs, nimg, err));
    TRY(lsd_clbuf_write(cl, &work->xt, 0, b->xt, nimg, err));
    TRY(lsd_clbuf_write(cl, &work->xs01, 0, b->xs01, nimg, err));
    TRY(cl_f_forward(cl, fs, &work->xs, &m->F, &work->fm[LSD_SRC], scratch, err));
    TRY(cl_f_forward(cl, ft, &work->xt, &m->F, &work->fm[LSD_TGT], scratch, err));
    TRY(cl_c_forward(cl, &work->ca, fs, &m->F, scratch, err));
    TRY(cl_g_forward(cl, &work->ga[LSD_SRC], &fs->fc7_drop, &fs->pool[3], &fs->pool[2], &m->G,
                     &work->gm[LSD_SRC], scratch, err));
    TRY(cl_g_forward(cl, &work->ga[LSD_TGT], &ft->fc7_drop, &ft->pool[3], &ft->pool[2], &m->G,
                     &work->gm[LSD_TGT], scratch, err));
    TRY(cl_d_forward(cl, &work->da, &work->xs01, &m->D, &work->dm[LSD_SRC_REAL], scratch, err));
    return cl_work_download(work, err);
}
