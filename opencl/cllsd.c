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
static int draw_masks(ClWork *w, int dropout_on, uint64_t seed, long step, lsd_err *err)
{
    int i;
    if (!dropout_on) return lsd_clbuf_fill(w->cl, &w->mask_mem, 0, w->mask_total, 1.0f, err);
    for (i = 0; i < w->h->nmasks; i++) {
        const LsdMaskRef *r = &w->h->masks[i];
        TRY(cl_dropout_mask(w->cl, &w->masks[i], r->size, 0.5f, seed, rng_stream_of(r->name),
                            (uint64_t)step * r->size, err));
    }
    return LSD_OK;
}

/* lsd.c's iteration_masks; given masks come from the host work. */
static int iteration_masks(ClWork *w, const LsdStepOptions *o, long step, lsd_err *err)
{
    if (o->dropout == LSD_DROPOUT_RNG) return draw_masks(w, 1, o->seed, step, err);
    if (o->dropout == LSD_DROPOUT_OFF) return draw_masks(w, 0, 0, 0, err);
    return cl_work_upload_masks(w, err);
}

/* lsd.c's d_terms: ws * CE(Ds(x), domain) + wc * CE(Dc(x), yd) over N, with D's backward. */
static int d_terms(double *loss, ClModel *m, ClWork *w, const lsd_clbuf *x, const ClDMasks *mk,
                   int domain, double ws, const lsd_clbuf *yd, double wc, lsd_clbuf *dx,
                   int want, lsd_err *err)
{
    lsd_cl *cl = w->cl;
    ClDActs *a = &w->da, *g = &w->dg;
    int N = a->h->N, hw = a->h->h * a->h->w;
    double ls = 0, lc = 0;
    TRY(cl_d_forward(cl, a, x, &m->D, mk, &w->work, err));
    TRY(zero(cl, &g->mem, err));
    TRY(cl_softmax_ce_const(cl, &ls, &g->out_s, &a->out_s, domain, N, 4, hw, (float)(ws / N),
                            err));
    if (yd)
        TRY(cl_softmax_ce(cl, &lc, &g->out_c, &a->out_c, yd, N, m->cfg.n_class, hw, 255,
                          LOSS_SUM, (float)(wc / N), err));
    TRY(cl_d_backward(cl, dx, g, a, x, &m->D, mk, want, &w->work, err));
    *loss = (ws * ls + wc * lc) / N;
    return LSD_OK;
}

/* Uploads the images a mode needs and the labels. */
static int upload_batch(ClWork *w, const LsdBatch *b, int full, lsd_err *err)
{
    LsdWork *h = w->h;
    size_t nimg = (size_t)h->N * 3 * h->H * h->W;
    TRY(lsd_clbuf_write(w->cl, &w->xs, 0, b->xs, nimg, err));
    TRY(lsd_clbuf_write(w->cl, &w->ys, 0, b->ys, (size_t)h->N * h->H * h->W, err));
    if (!full) return LSD_OK;
    TRY(lsd_clbuf_write(w->cl, &w->xt, 0, b->xt, nimg, err));
    TRY(lsd_clbuf_write(w->cl, &w->xs01, 0, b->xs01, nimg, err));
    return lsd_clbuf_write(w->cl, &w->xt01, 0, b->xt01, nimg, err);
}

static int same_model(const ClModel *m, const ClWork *w, lsd_err *err)
{
    if (!w->h || !m->cl || m->cl != w->cl)
        return lsd_fail(err, LSD_ERR_ARG, "the device model and work belong to different "
                        "contexts");
    return LSD_OK;
}

int cl_lsd_step(ClModel *m, ClWork *w, const LsdBatch *b, const LsdStepOptions *o,
                LsdLosses *out, lsd_err *err)
{
    lsd_cl *cl = w->cl;
    LsdWork *h = w->h;
    ClFActs *fs = &w->fa[LSD_SRC], *ft = &w->fa[LSD_TGT];
    ClGActs *gs = &w->ga[LSD_SRC], *gt = &w->ga[LSD_TGT];
    int N, H, W, i;
    size_t nimg;
    long t = m->step + 1;
    double l, l1, lseg, advw = o->adv_weight, cw = o->c_weight, l1w = o->l1_weight;
    const lsd_clbuf *yd = &w->yd;
    TRY(same_model(m, w, err));
    if (h->mode != LSD_WORK_TRAIN)
        return lsd_fail(err, LSD_ERR_ARG, "lsd_step needs a work created for training");
    N = h->N, H = h->H, W = h->W;
    nimg = (size_t)N * 3 * H * W;
    TRY(lsd_check_labels(b->ys, (size_t)N * H * W, m->cfg.n_class, err));
    for (i = 0; i < N; i++) /* y' = Ys at D's output size, PIL nearest (on the host) */
        resize_labels_nearest(h->yd + (size_t)i * h->da.h * h->da.w, b->ys + (size_t)i * H * W,
                              H, W, h->da.h, h->da.w);
    TRY(upload_batch(w, b, 1, err));
    TRY(lsd_clbuf_write(cl, &w->yd, 0, h->yd, (size_t)N * h->da.h * h->da.w, err));
    TRY(iteration_masks(w, o, m->step, err));
    out->loss_D = out->loss_G = out->loss_F = out->loss_seg = 0;

    /* F's features of both domains and G's images */
    TRY(cl_f_forward(cl, fs, &w->xs, &m->F, &w->fm[LSD_SRC], &w->work, err));
    TRY(cl_f_forward(cl, ft, &w->xt, &m->F, &w->fm[LSD_TGT], &w->work, err));
    TRY(cl_g_forward(cl, gs, &fs->fc7d, &fs->pool[3], &fs->pool[2], &m->G, &w->gm[LSD_SRC],
                     &w->work, err));
    TRY(cl_g_forward(cl, gt, &ft->fc7d, &ft->pool[3], &ft->pool[2], &m->G, &w->gm[LSD_TGT],
                     &w->work, err));

    /* 1. D */
    TRY(cl_arena_zero_grad(cl, &m->D.pa, err));
    TRY(d_terms(&l, m, w, &w->xs01, &w->dm[LSD_SRC_REAL], 0, 1, yd, 1, NULL, 1, err));
    out->loss_D += l;
    TRY(d_terms(&l, m, w, &gs->img, &w->dm[LSD_SRC_FAKE], 1, 1, NULL, 0, NULL, 1, err));
    out->loss_D += l;
    TRY(d_terms(&l, m, w, &w->xt01, &w->dm[LSD_TGT_REAL], 2, 1, NULL, 0, NULL, 1, err));
    out->loss_D += l;
    TRY(d_terms(&l, m, w, &gt->img, &w->dm[LSD_TGT_FAKE], 3, 1, NULL, 0, NULL, 1, err));
    out->loss_D += l;
    TRY(cl_arena_adam(cl, &m->D.pa, t, o->lr_gd, o->lr_gd, o->beta1_gd, o->beta2_gd, o->eps,
                      err));

    /* 2. G */
    TRY(cl_arena_zero_grad(cl, &m->G.pa, err));
    TRY(zero(cl, &w->gg.mem, err));
    TRY(d_terms(&l, m, w, &gs->img, &w->dm[LSD_SRC_FAKE], 0, 0.1, yd, 1, &w->gg.img, 0, err));
    TRY(cl_l1_loss(cl, &l1, &w->gg.img, &gs->img, &w->xs01, nimg, (float)(l1w / N), err));
    out->loss_G += l + l1w * l1 / N;
    TRY(cl_g_backward(cl, NULL, NULL, NULL, &w->gg, gs, &fs->fc7d, &m->G, &w->gm[LSD_SRC], 1,
                      &w->work, err));
    TRY(zero(cl, &w->gg.mem, err));
    TRY(d_terms(&l, m, w, &gt->img, &w->dm[LSD_TGT_FAKE], 2, 0.1, NULL, 0, &w->gg.img, 0, err));
    TRY(cl_l1_loss(cl, &l1, &w->gg.img, &gt->img, &w->xt01, nimg, (float)(l1w / N), err));
    out->loss_G += l + l1w * l1 / N;
    TRY(cl_g_backward(cl, NULL, NULL, NULL, &w->gg, gt, &ft->fc7d, &m->G, &w->gm[LSD_TGT], 1,
                      &w->work, err));
    TRY(cl_arena_adam(cl, &m->G.pa, t, o->lr_gd, o->lr_gd, o->beta1_gd, o->beta2_gd, o->eps,
                      err));

    /* 3. F and C */
    TRY(cl_arena_zero_grad(cl, &m->F.pa, err));
    TRY(cl_g_forward(cl, gs, &fs->fc7d, &fs->pool[3], &fs->pool[2], &m->G, &w->gm[LSD_SRC],
                     &w->work, err));
    TRY(cl_g_forward(cl, gt, &ft->fc7d, &ft->pool[3], &ft->pool[2], &m->G, &w->gm[LSD_TGT],
                     &w->work, err));
    TRY(zero(cl, &w->fg.mem, err));
    TRY(zero(cl, &w->cg.mem, err));
    TRY(cl_c_forward(cl, &w->ca, fs, &m->F, &w->work, err));
    TRY(cl_softmax_ce(cl, &lseg, &w->cg.score, &w->ca.score, &w->ys, N, m->cfg.n_class, H * W,
                      255, LOSS_SUM, (float)(1.0 / N), err));
    out->loss_seg = lseg / N;
    out->loss_F += lseg / N;
    TRY(cl_c_backward(cl, &w->cg, &w->fg, &w->ca, fs, &m->F, 1, &w->work, err));
    TRY(zero(cl, &w->gg.mem, err));
    TRY(d_terms(&l, m, w, &gs->img, &w->dm[LSD_SRC_FAKE], 2, advw, yd, cw, &w->gg.img, 0, err));
    out->loss_F += l;
    TRY(cl_g_backward(cl, &w->fg.fc7d, &w->fg.pool[3], &w->fg.pool[2], &w->gg, gs, &fs->fc7d,
                      &m->G, &w->gm[LSD_SRC], 0, &w->work, err));
    TRY(cl_f_backward(cl, &w->fg, fs, &w->xs, &m->F, &w->fm[LSD_SRC], &w->work, &w->tmp, err));
    TRY(zero(cl, &w->fg.mem, err));
    TRY(zero(cl, &w->gg.mem, err));
    TRY(d_terms(&l, m, w, &gt->img, &w->dm[LSD_TGT_FAKE], 0, advw, NULL, 0, &w->gg.img, 0, err));
    out->loss_F += l;
    TRY(cl_g_backward(cl, &w->fg.fc7d, &w->fg.pool[3], &w->fg.pool[2], &w->gg, gt, &ft->fc7d,
                      &m->G, &w->gm[LSD_TGT], 0, &w->work, err));
    TRY(cl_f_backward(cl, &w->fg, ft, &w->xt, &m->F, &w->fm[LSD_TGT], &w->work, &w->tmp, err));
    TRY(cl_arena_adam(cl, &m->F.pa, t, o->lr_f_weight, o->lr_f_bias, o->beta1_f, o->beta2_f,
                      o->eps, err));
    TRY(lsd_cl_finish(cl, err));
    m->step = t;
    return LSD_OK;
}

int cl_lsd_step_source_only(ClModel *m, ClWork *w, const LsdBatch *b,
                            const LsdStepOptions *o, double *loss, lsd_err *err)
{
    lsd_cl *cl = w->cl;
    LsdWork *h = w->h;
    ClFActs *fs = &w->fa[LSD_SRC];
    int N;
    double l;
    TRY(same_model(m, w, err));
    if (h->mode == LSD_WORK_INFER)
        return lsd_fail(err, LSD_ERR_ARG, "lsd_step_source_only needs a training work");
    N = h->N;
    TRY(lsd_check_labels(b->ys, (size_t)N * h->H * h->W, m->cfg.n_class, err));
    TRY(upload_batch(w, b, 0, err));
    TRY(iteration_masks(w, o, m->step, err));
    TRY(cl_arena_zero_grad(cl, &m->F.pa, err));
    TRY(zero(cl, &w->fg.mem, err));
    TRY(zero(cl, &w->cg.mem, err));
    TRY(cl_f_forward(cl, fs, &w->xs, &m->F, &w->fm[LSD_SRC], &w->work, err));
    TRY(cl_c_forward(cl, &w->ca, fs, &m->F, &w->work, err));
    TRY(cl_softmax_ce(cl, &l, &w->cg.score, &w->ca.score, &w->ys, N, m->cfg.n_class,
                      h->H * h->W, 255, LOSS_SUM, (float)(1.0 / N), err));
    TRY(cl_c_backward(cl, &w->cg, &w->fg, &w->ca, fs, &m->F, 1, &w->work, err));
    TRY(cl_f_backward(cl, &w->fg, fs, &w->xs, &m->F, &w->fm[LSD_SRC], &w->work, &w->tmp, err));
    TRY(cl_arena_adam(cl, &m->F.pa, m->step + 1, o->lr_f_weight, o->lr_f_bias, o->beta1_f,
                      o->beta2_f, o->eps, err));
    TRY(lsd_cl_finish(cl, err));
    m->step++;
    *loss = l / N;
    return LSD_OK;
}

int cl_lsd_infer(ClModel *m, ClWork *w, const real *x, lsd_err *err)
{
    lsd_cl *cl = w->cl;
    LsdWork *h = w->h;
    size_t n = (size_t)h->N * m->cfg.fc;
    TRY(same_model(m, w, err));
    TRY(lsd_clbuf_fill(cl, &w->fm[LSD_SRC].fc6, 0, n, 1.0f, err));
    TRY(lsd_clbuf_fill(cl, &w->fm[LSD_SRC].fc7, 0, n, 1.0f, err));
    TRY(lsd_clbuf_write(cl, &w->xs, 0, x, (size_t)h->N * 3 * h->H * h->W, err));
    TRY(cl_f_forward(cl, &w->fa[LSD_SRC], &w->xs, &m->F, &w->fm[LSD_SRC], &w->work, err));
    TRY(cl_c_forward(cl, &w->ca, &w->fa[LSD_SRC], &m->F, &w->work, err));
    return lsd_clbuf_read(cl, &w->ca.score, 0, h->ca.score,
                          (size_t)h->N * m->cfg.n_class * h->H * h->W, err);
}

int cl_lsd_forward_all(ClModel *m, ClWork *w, const LsdBatch *b, lsd_err *err)
{
    lsd_cl *cl = w->cl;
    LsdWork *h = w->h;
    ClFActs *fs = &w->fa[LSD_SRC], *ft = &w->fa[LSD_TGT];
    size_t nimg = (size_t)h->N * 3 * h->H * h->W;
    TRY(same_model(m, w, err));
    if (h->mode != LSD_WORK_TRAIN)
        return lsd_fail(err, LSD_ERR_ARG, "lsd_forward_all needs a work created for training");
    TRY(cl_work_upload_masks(w, err));
    TRY(lsd_clbuf_write(cl, &w->xs, 0, b->xs, nimg, err));
    TRY(lsd_clbuf_write(cl, &w->xt, 0, b->xt, nimg, err));
    TRY(lsd_clbuf_write(cl, &w->xs01, 0, b->xs01, nimg, err));
    TRY(cl_f_forward(cl, fs, &w->xs, &m->F, &w->fm[LSD_SRC], &w->work, err));
    TRY(cl_f_forward(cl, ft, &w->xt, &m->F, &w->fm[LSD_TGT], &w->work, err));
    TRY(cl_c_forward(cl, &w->ca, fs, &m->F, &w->work, err));
    TRY(cl_g_forward(cl, &w->ga[LSD_SRC], &fs->fc7d, &fs->pool[3], &fs->pool[2], &m->G,
                     &w->gm[LSD_SRC], &w->work, err));
    TRY(cl_g_forward(cl, &w->ga[LSD_TGT], &ft->fc7d, &ft->pool[3], &ft->pool[2], &m->G,
                     &w->gm[LSD_TGT], &w->work, err));
    TRY(cl_d_forward(cl, &w->da, &w->xs01, &m->D, &w->dm[LSD_SRC_REAL], &w->work, err));
    return cl_work_download(w, err);
}
