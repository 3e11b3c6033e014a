/*
 * fcn.c - F and C: FCN-8s on VGG16 (docs/method.md, "F and C").
 *
 * F: five VGG stages of 3x3 conv + ReLU (conv1_1 padded by 100) each ending in a
 * 2x2 ceil-mode max-pool, then fc6 (7x7) and fc7 (1x1), each ReLU + Dropout2d.
 * C: score_fr on fc7, upscore2 (x2), + score_pool4 cropped at 5, upscore_pool4 (x2),
 * + score_pool3 cropped at 9, upscore8 (x8), crop at 31 to the input size. The three
 * upscore layers are fixed bilinear upsampling and get no gradient.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../layers/activation.h"
#include "../layers/conv.h"
#include "../layers/dropout.h"
#include "../layers/pool.h"
#include "../layers/shape.h"
#include "../tensor/tensor.h"
#include "arch.h"
#include "net.h"

/* Declares F and C's layers with the authors' names and allocates the arena. */
int fnet_create(FNet *f, const LsdConfig *c, lsd_err *err)
{
    LayerDecl d[LSD_NCONV + 8];
    int l, n = 0, cin = 3, v = c->vgg, k = c->n_class, rc;
    if ((rc = lsd_config_check(c, err))) return rc;
    memset(f, 0, sizeof *f);
    memset(d, 0, sizeof d);
    for (l = 0; l < LSD_NCONV; l++, n++) {
        int cout = v * LSD_VGG_MULT[LSD_VGG_STAGE[l]];
        strcpy(d[n].name, LSD_VGG_NAME[l]);
        d[n].shape[0] = cout, d[n].shape[1] = cin, d[n].shape[2] = d[n].shape[3] = 3;
        d[n].bias_len = cout;
        d[n].lp = &f->conv[l];
        cin = cout;
    }
#define DECL(NAME, O, I, K, BIAS, FROZEN, LP)                                              \
    do {                                                                                   \
        strcpy(d[n].name, NAME);                                                           \
        d[n].shape[0] = (O), d[n].shape[1] = (I), d[n].shape[2] = d[n].shape[3] = (K);     \
        d[n].bias_len = (BIAS), d[n].frozen = (FROZEN), d[n].lp = (LP);                    \
        n++;                                                                               \
    } while (0)
    DECL("fc6", c->fc, 8 * v, 7, c->fc, 0, &f->fc6);
    DECL("fc7", c->fc, c->fc, 1, c->fc, 0, &f->fc7);
    DECL("score_fr", k, c->fc, 1, k, 0, &f->score_fr);
    DECL("score_pool3", k, 4 * v, 1, k, 0, &f->score_pool3);
    DECL("score_pool4", k, 8 * v, 1, k, 0, &f->score_pool4);
    DECL("upscore2", k, k, 4, 0, 1, &f->upscore2);
    DECL("upscore8", k, k, 16, 0, 1, &f->upscore8);
    DECL("upscore_pool4", k, k, 4, 0, 1, &f->upscore_pool4);
#undef DECL
    return arena_build(&f->pa, "F.", d, n, err);
}

/* Releases F's arena. */
void fnet_free(FNet *f)
{
    arena_free(&f->pa);
}

/* Lays out F's buffers in b (counting when b->base is NULL). */
static void f_layout(FActs *a, Bump *b, int N, int fc, int with_cache)
{
    int l, s;
    for (l = 0; l < LSD_NCONV; l++) {
        const ConvShape *cs = &a->conv_s[l];
        a->conv[l] = bump_take(b, (size_t)N * cs->OC * cs->OH * cs->OW);
    }
    for (s = 0; s < 5; s++) {
        size_t n = (size_t)N * a->conv_s[LSD_VGG_LAST[s]].OC * a->pool_h[s] * a->pool_w[s];
        a->pool[s] = bump_take(b, n);
        a->argmax[s] = with_cache ? bump_take_i32(b, n) : NULL;
    }
    {
        size_t n = (size_t)N * fc * a->fc6_s.OH * a->fc6_s.OW;
        a->fc6 = bump_take(b, n);
        a->fc6d = bump_take(b, n);
        a->fc7 = bump_take(b, n);
        a->fc7d = bump_take(b, n);
    }
}

/* Plans every shape of F for (N, 3, H, W): convolutions, pools, fc6, fc7. */
static int f_plan(FActs *a, const LsdConfig *c, int N, int H, int W, lsd_err *err)
{
    int l, h = H, w = W, cin = 3;
    memset(a, 0, sizeof *a);
    a->N = N, a->H = H, a->W = W;
    for (l = 0; l < LSD_NCONV; l++) {
        int s = LSD_VGG_STAGE[l];
        a->conv_s[l] = conv2d_shape(N, cin, h, w, c->vgg * LSD_VGG_MULT[s], 3, 1, l == 0 ? 100 : 1);
        h = a->conv_s[l].OH, w = a->conv_s[l].OW, cin = a->conv_s[l].OC;
        if (l == LSD_VGG_LAST[s]) {
            h = a->pool_h[s] = maxpool_out_size(h, 1);
            w = a->pool_w[s] = maxpool_out_size(w, 1);
        }
    }
    a->fc6_s = conv2d_shape(N, cin, h, w, c->fc, 7, 1, 0);
    a->fc7_s = conv2d_shape(N, c->fc, a->fc6_s.OH, a->fc6_s.OW, c->fc, 1, 1, 0);
    if (N < 1 || H < 1 || W < 1 || a->fc6_s.OH < 1 || a->fc6_s.OW < 1)
        return lsd_fail(err, LSD_ERR_ARG, "input %dx%dx%d is too small for fc6", N, H, W);
    return LSD_OK;
}

/* Plans F's shapes for (N, 3, H, W) and allocates its buffers once (zero-filled). */
int f_acts_alloc(FActs *a, const LsdConfig *c, int N, int H, int W, int with_cache,
                 lsd_err *err)
{
    Bump b;
    int rc = f_plan(a, c, N, H, W, err);
    if (rc) return rc;
    memset(&b, 0, sizeof b);
    f_layout(a, &b, N, c->fc, with_cache);
    a->mem = (real *)calloc(b.used, sizeof(real));
    a->imem = b.iused ? (int32_t *)calloc(b.iused, sizeof(int32_t)) : NULL;
    if (!a->mem || (b.iused && !a->imem)) {
        f_acts_free(a);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for F's activations at %dx%dx%d "
                        "(%.0f MB)", N, H, W, (double)b.used * sizeof(real) / 1e6);
    }
    a->bytes = b.used * sizeof(real) + b.iused * sizeof(int32_t);
    b.base = a->mem, b.ibase = a->imem, b.used = b.iused = 0;
    f_layout(a, &b, N, c->fc, with_cache);
    return LSD_OK;
}

/* Sample s of a's buffers as a batch of one (net.h, "per-sample views"). */
void f_acts_view(FActs *v, const FActs *a, int s, int zero)
{
    Bump b = bump_view(a->mem, a->imem, a->N, s, zero);
    int l;
    *v = *a;
    v->N = 1;
    for (l = 0; l < LSD_NCONV; l++) v->conv_s[l].N = 1;
    v->fc6_s.N = v->fc7_s.N = 1;
    f_layout(v, &b, 1, a->fc6_s.OC, a->argmax[0] != NULL);
    v->mem = NULL, v->imem = NULL, v->bytes = 0;
}

/* Releases F's buffers. */
void f_acts_free(FActs *a)
{
    free(a->mem);
    free(a->imem);
    memset(a, 0, sizeof *a);
}

/* Lays out C's buffers. */
static void c_layout(CActs *a, Bump *b, int N, int k, const FActs *fa)
{
    a->score_fr = bump_take(b, (size_t)N * k * a->score_fr_s.OH * a->score_fr_s.OW);
    a->upscore2 = bump_take(b, (size_t)N * k * a->up2_s.OH * a->up2_s.OW);
    a->score_pool4 = bump_take(b, (size_t)N * k * fa->pool_h[3] * fa->pool_w[3]);
    a->fuse4 = bump_take(b, (size_t)N * k * a->up2_s.OH * a->up2_s.OW);
    a->upscore_pool4 = bump_take(b, (size_t)N * k * a->up4_s.OH * a->up4_s.OW);
    a->score_pool3 = bump_take(b, (size_t)N * k * fa->pool_h[2] * fa->pool_w[2]);
    a->fuse3 = bump_take(b, (size_t)N * k * a->up4_s.OH * a->up4_s.OW);
    a->upscore8 = bump_take(b, (size_t)N * k * a->up8_s.OH * a->up8_s.OW);
    a->score = bump_take(b, (size_t)N * k * a->H * a->W);
}

/* Plans C's shapes for (N, 3, H, W) (through F's) and allocates its buffers. */
int c_acts_alloc(CActs *a, const LsdConfig *c, int N, int H, int W, lsd_err *err)
{
    FActs fa; /* F's shapes only */
    Bump b;
    int k = c->n_class, rc;
    memset(a, 0, sizeof *a);
    if ((rc = f_plan(&fa, c, N, H, W, err))) return rc;
    a->N = N, a->H = H, a->W = W;
    a->score_fr_s = conv2d_shape(N, c->fc, fa.fc6_s.OH, fa.fc6_s.OW, k, 1, 1, 0);
    a->up2_s = convt_shape(N, k, fa.fc6_s.OH, fa.fc6_s.OW, k, 4, 2, 0, 0);
    a->sp4_s = conv2d_shape(N, 8 * c->vgg, fa.pool_h[3], fa.pool_w[3], k, 1, 1, 0);
    a->up4_s = convt_shape(N, k, a->up2_s.OH, a->up2_s.OW, k, 4, 2, 0, 0);
    a->sp3_s = conv2d_shape(N, 4 * c->vgg, fa.pool_h[2], fa.pool_w[2], k, 1, 1, 0);
    a->up8_s = convt_shape(N, k, a->up4_s.OH, a->up4_s.OW, k, 16, 8, 0, 0);
    if (fa.fc6_s.OH < 1 || fa.fc6_s.OW < 1 || a->up2_s.OH + 5 > fa.pool_h[3] ||
        a->up2_s.OW + 5 > fa.pool_w[3] || a->up4_s.OH + 9 > fa.pool_h[2] ||
        a->up4_s.OW + 9 > fa.pool_w[2] || a->up8_s.OH < H + 31 || a->up8_s.OW < W + 31)
        return lsd_fail(err, LSD_ERR_ARG, "input %dx%d does not fit FCN-8s's crops", H, W);
    memset(&b, 0, sizeof b);
    c_layout(a, &b, N, k, &fa);
    a->mem = (real *)calloc(b.used, sizeof(real));
    if (!a->mem) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for C's activations");
    a->bytes = b.used * sizeof(real);
    b.base = a->mem, b.used = 0;
    c_layout(a, &b, N, k, &fa);
    return LSD_OK;
}

/* Sample s of C's buffers as a batch of one (net.h, "per-sample views"). */
void c_acts_view(CActs *v, const CActs *a, int s, int zero)
{
    Bump b = bump_view(a->mem, NULL, a->N, s, zero);
    FActs fa; /* the pool sizes c_layout reads */
    *v = *a;
    v->N = 1;
    v->score_fr_s.N = v->up2_s.N = v->sp4_s.N = v->up4_s.N = v->sp3_s.N = v->up8_s.N = 1;
    fa.pool_h[3] = a->sp4_s.H, fa.pool_w[3] = a->sp4_s.W;
    fa.pool_h[2] = a->sp3_s.H, fa.pool_w[2] = a->sp3_s.W;
    c_layout(v, &b, 1, a->score_fr_s.OC, &fa);
    v->mem = NULL, v->bytes = 0;
}

/* Releases C's buffers. */
void c_acts_free(CActs *a)
{
    free(a->mem);
    memset(a, 0, sizeof *a);
}

/* Largest convolution scratch F and C need. */
size_t f_work_size(const FActs *a, const CActs *c)
{
    size_t m = conv_work_size(&a->fc6_s), t;
    int l;
    const ConvShape *cs[6];
    for (l = 0; l < LSD_NCONV; l++)
        if ((t = conv_work_size(&a->conv_s[l])) > m) m = t;
    if ((t = conv_work_size(&a->fc7_s)) > m) m = t;
    if (c) {
        cs[0] = &c->score_fr_s, cs[1] = &c->up2_s, cs[2] = &c->sp4_s;
        cs[3] = &c->up4_s, cs[4] = &c->sp3_s, cs[5] = &c->up8_s;
        for (l = 0; l < 6; l++)
            if ((t = conv_work_size(cs[l])) > m) m = t;
    }
    return m;
}

/* Elements of a convolution's output. */
static size_t out_size(const ConvShape *s)
{
    return (size_t)s->N * s->OC * s->OH * s->OW;
}

/* The input of conv l: the image, the previous stage's pool, or the previous conv. */
static const real *conv_input(const FActs *a, const real *x, int l)
{
    if (l == 0) return x;
    if (LSD_VGG_STAGE[l - 1] != LSD_VGG_STAGE[l]) return a->pool[LSD_VGG_STAGE[l - 1]];
    return a->conv[l - 1];
}

/* F: VGG16 conv stages with ceil-mode pools, fc6 and fc7 with ReLU and Dropout2d. */
void f_forward(FActs *a, const real *x, const FNet *f, const FMasks *mk, real *work)
{
    int N = a->N, l, s;
    const ConvShape *s6 = &a->fc6_s, *s7 = &a->fc7_s;
    for (l = 0; l < LSD_NCONV; l++) {
        const ConvShape *cs = &a->conv_s[l];
        conv2d_forward(a->conv[l], conv_input(a, x, l), f->conv[l].w, f->conv[l].b, cs, work);
        relu_forward(a->conv[l], a->conv[l], out_size(cs));
        s = LSD_VGG_STAGE[l];
        if (l == LSD_VGG_LAST[s])
            maxpool2d_forward(a->pool[s], a->argmax[s], a->conv[l], N, cs->OC, cs->OH, cs->OW,
                              a->pool_h[s], a->pool_w[s]);
    }
    conv2d_forward(a->fc6, a->pool[4], f->fc6.w, f->fc6.b, s6, work);
    relu_forward(a->fc6, a->fc6, out_size(s6));
    dropout2d_forward(a->fc6d, a->fc6, mk->fc6, N * s6->OC, s6->OH * s6->OW);
    conv2d_forward(a->fc7, a->fc6d, f->fc7.w, f->fc7.b, s7, work);
    relu_forward(a->fc7, a->fc7, out_size(s7));
    dropout2d_forward(a->fc7d, a->fc7, mk->fc7, N * s7->OC, s7->OH * s7->OW);
}

/* F's backward: f_forward's lines in reverse; conv1_1's input gradient is not needed. */
void f_backward(FActs *g, const FActs *a, const real *x, FNet *f, const FMasks *mk, real *work)
{
    int N = a->N, l, s;
    const ConvShape *s6 = &a->fc6_s, *s7 = &a->fc7_s;
    dropout2d_backward(g->fc7, g->fc7d, mk->fc7, N * s7->OC, s7->OH * s7->OW);
    relu_backward_inplace(g->fc7, a->fc7, out_size(s7));
    conv2d_backward(g->fc6d, f->fc7.dw, f->fc7.db, g->fc7, a->fc6d, f->fc7.w, s7, work);
    dropout2d_backward(g->fc6, g->fc6d, mk->fc6, N * s6->OC, s6->OH * s6->OW);
    relu_backward_inplace(g->fc6, a->fc6, out_size(s6));
    conv2d_backward(g->pool[4], f->fc6.dw, f->fc6.db, g->fc6, a->pool[4], f->fc6.w, s6, work);
    for (l = LSD_NCONV - 1; l >= 0; l--) {
        const ConvShape *cs = &a->conv_s[l];
        s = LSD_VGG_STAGE[l];
        if (l == LSD_VGG_LAST[s])
            maxpool2d_backward(g->conv[l], g->pool[s], a->argmax[s], N, cs->OC, cs->OH, cs->OW,
                               a->pool_h[s], a->pool_w[s]);
        relu_backward_inplace(g->conv[l], a->conv[l], out_size(cs));
        conv2d_backward(l ? (real *)conv_input(g, NULL, l) : NULL, f->conv[l].dw, f->conv[l].db,
                        g->conv[l], conv_input(a, x, l), f->conv[l].w, cs, work);
    }
}

/* C: FCN-8s's score layers and skip fusion, cropped to the input size. */
void c_forward(CActs *c, const FActs *a, const FNet *f, real *work)
{
    int N = c->N, k = c->score_fr_s.OC;
    const ConvShape *u2 = &c->up2_s, *u4 = &c->up4_s, *u8 = &c->up8_s;
    conv2d_forward(c->score_fr, a->fc7d, f->score_fr.w, f->score_fr.b, &c->score_fr_s, work);
    convt_forward(c->upscore2, c->score_fr, f->upscore2.w, NULL, u2, work);
    conv2d_forward(c->score_pool4, a->pool[3], f->score_pool4.w, f->score_pool4.b, &c->sp4_s,
                   work);
    crop_forward(c->fuse4, c->score_pool4, N, k, a->pool_h[3], a->pool_w[3], 5, 5, u2->OH,
                 u2->OW);
    vec_add(c->fuse4, c->upscore2, out_size(u2));
    convt_forward(c->upscore_pool4, c->fuse4, f->upscore_pool4.w, NULL, u4, work);
    conv2d_forward(c->score_pool3, a->pool[2], f->score_pool3.w, f->score_pool3.b, &c->sp3_s,
                   work);
    crop_forward(c->fuse3, c->score_pool3, N, k, a->pool_h[2], a->pool_w[2], 9, 9, u4->OH,
                 u4->OW);
    vec_add(c->fuse3, c->upscore_pool4, out_size(u4));
    convt_forward(c->upscore8, c->fuse3, f->upscore8.w, NULL, u8, work);
    crop_forward(c->score, c->upscore8, N, k, u8->OH, u8->OW, 31, 31, c->H, c->W);
}

/* C's backward: c_forward's lines in reverse; the upscore layers are frozen (no dweight). */
void c_backward(CActs *gc, FActs *gf, const CActs *c, const FActs *a, FNet *f,
                int want_param_grads, real *work)
{
    int N = c->N, k = c->score_fr_s.OC, w = want_param_grads;
    const ConvShape *u2 = &c->up2_s, *u4 = &c->up4_s, *u8 = &c->up8_s;
    crop_backward(gc->upscore8, gc->score, N, k, u8->OH, u8->OW, 31, 31, c->H, c->W);
    convt_backward(gc->fuse3, NULL, NULL, gc->upscore8, c->fuse3, f->upscore8.w, u8, work);
    vec_add(gc->upscore_pool4, gc->fuse3, out_size(u4));
    crop_backward(gc->score_pool3, gc->fuse3, N, k, a->pool_h[2], a->pool_w[2], 9, 9, u4->OH,
                  u4->OW);
    conv2d_backward(gf->pool[2], w ? f->score_pool3.dw : NULL, w ? f->score_pool3.db : NULL,
                    gc->score_pool3, a->pool[2], f->score_pool3.w, &c->sp3_s, work);
    convt_backward(gc->fuse4, NULL, NULL, gc->upscore_pool4, c->fuse4, f->upscore_pool4.w, u4,
                   work);
    vec_add(gc->upscore2, gc->fuse4, out_size(u2));
    crop_backward(gc->score_pool4, gc->fuse4, N, k, a->pool_h[3], a->pool_w[3], 5, 5, u2->OH,
                  u2->OW);
    conv2d_backward(gf->pool[3], w ? f->score_pool4.dw : NULL, w ? f->score_pool4.db : NULL,
                    gc->score_pool4, a->pool[3], f->score_pool4.w, &c->sp4_s, work);
    convt_backward(gc->score_fr, NULL, NULL, gc->upscore2, c->score_fr, f->upscore2.w, u2, work);
    conv2d_backward(gf->fc7d, w ? f->score_fr.dw : NULL, w ? f->score_fr.db : NULL,
                    gc->score_fr, a->fc7d, f->score_fr.w, &c->score_fr_s, work);
}
