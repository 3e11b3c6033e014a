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
        const ConvShape *cs = &a->conv_shape[l];
        a->conv[l] = bump_take(b, (size_t)N * cs->OC * cs->OH * cs->OW);
    }
    for (s = 0; s < 5; s++) {
        size_t n = (size_t)N * a->conv_shape[LSD_VGG_LAST[s]].OC * a->pool_h[s] * a->pool_w[s];
        a->pool[s] = bump_take(b, n);
        a->argmax[s] = with_cache ? bump_take_i32(b, n) : NULL;
    }
    {
        size_t n = (size_t)N * fc * a->fc6_shape.OH * a->fc6_shape.OW;
        a->fc6 = bump_take(b, n);
        a->fc6_drop = bump_take(b, n);
        a->fc7 = bump_take(b, n);
        a->fc7_drop = bump_take(b, n);
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
        a->conv_shape[l] = conv2d_shape(N, cin, h, w, c->vgg * LSD_VGG_MULT[s], 3, 1,
                                        l == 0 ? 100 : 1);
        h = a->conv_shape[l].OH, w = a->conv_shape[l].OW, cin = a->conv_shape[l].OC;
        if (l == LSD_VGG_LAST[s]) {
            h = a->pool_h[s] = maxpool_out_size(h, 1);
            w = a->pool_w[s] = maxpool_out_size(w, 1);
        }
    }
    a->fc6_shape = conv2d_shape(N, cin, h, w, c->fc, 7, 1, 0);
    a->fc7_shape = conv2d_shape(N, c->fc, a->fc6_shape.OH, a->fc6_shape.OW, c->fc, 1, 1, 0);
    if (N < 1 || H < 1 || W < 1 || a->fc6_shape.OH < 1 || a->fc6_shape.OW < 1)
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
    for (l = 0; l < LSD_NCONV; l++) v->conv_shape[l].N = 1;
    v->fc6_shape.N = v->fc7_shape.N = 1;
    f_layout(v, &b, 1, a->fc6_shape.OC, a->argmax[0] != NULL);
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
    a->score_fr = bump_take(b, (size_t)N * k * a->score_fr_shape.OH * a->score_fr_shape.OW);
    a->upscore2 = bump_take(b, (size_t)N * k * a->upscore2_shape.OH * a->upscore2_shape.OW);
    a->score_pool4 = bump_take(b, (size_t)N * k * fa->pool_h[3] * fa->pool_w[3]);
    a->fuse4 = bump_take(b, (size_t)N * k * a->upscore2_shape.OH * a->upscore2_shape.OW);
    a->upscore_pool4 = bump_take(b, (size_t)N * k * a->upscore_pool4_shape.OH *
                                        a->upscore_pool4_shape.OW);
    a->score_pool3 = bump_take(b, (size_t)N * k * fa->pool_h[2] * fa->pool_w[2]);
    a->fuse3 = bump_take(b, (size_t)N * k * a->upscore_pool4_shape.OH *
                                a->upscore_pool4_shape.OW);
    a->upscore8 = bump_take(b, (size_t)N * k * a->upscore8_shape.OH * a->upscore8_shape.OW);
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
    a->score_fr_shape = conv2d_shape(N, c->fc, fa.fc6_shape.OH, fa.fc6_shape.OW, k, 1, 1, 0);
    a->upscore2_shape = convt_shape(N, k, fa.fc6_shape.OH, fa.fc6_shape.OW, k, 4, 2, 0, 0);
    a->score_pool4_shape = conv2d_shape(N, 8 * c->vgg, fa.pool_h[3], fa.pool_w[3], k, 1, 1, 0);
    a->upscore_pool4_shape = convt_shape(N, k, a->upscore2_shape.OH, a->upscore2_shape.OW, k, 4, 2,
                                         0, 0);
    a->score_pool3_shape = conv2d_shape(N, 4 * c->vgg, fa.pool_h[2], fa.pool_w[2], k, 1, 1, 0);
    a->upscore8_shape = convt_shape(N, k, a->upscore_pool4_shape.OH, a->upscore_pool4_shape.OW, k,
                                    16, 8, 0, 0);
    if (fa.fc6_shape.OH < 1 || fa.fc6_shape.OW < 1 || a->upscore2_shape.OH + 5 > fa.pool_h[3] ||
        a->upscore2_shape.OW + 5 > fa.pool_w[3] || a->upscore_pool4_shape.OH + 9 > fa.pool_h[2] ||
        a->upscore_pool4_shape.OW + 9 > fa.pool_w[2] || a->upscore8_shape.OH < H + 31 ||
        a->upscore8_shape.OW < W + 31)
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
    v->score_fr_shape.N = v->upscore2_shape.N = v->score_pool4_shape.N = 1;
    v->upscore_pool4_shape.N = v->score_pool3_shape.N = v->upscore8_shape.N = 1;
    fa.pool_h[3] = a->score_pool4_shape.H, fa.pool_w[3] = a->score_pool4_shape.W;
    fa.pool_h[2] = a->score_pool3_shape.H, fa.pool_w[2] = a->score_pool3_shape.W;
    c_layout(v, &b, 1, a->score_fr_shape.OC, &fa);
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
    size_t m = conv_work_size(&a->fc6_shape), t;
    int l;
    const ConvShape *cs[6];
    for (l = 0; l < LSD_NCONV; l++)
        if ((t = conv_work_size(&a->conv_shape[l])) > m) m = t;
    if ((t = conv_work_size(&a->fc7_shape)) > m) m = t;
    if (c) {
        cs[0] = &c->score_fr_shape, cs[1] = &c->upscore2_shape, cs[2] = &c->score_pool4_shape;
        cs[3] = &c->upscore_pool4_shape, cs[4] = &c->score_pool3_shape, cs[5] = &c->upscore8_shape;
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
void f_forward(FActs *a, const real *x, const FNet *f, const FMasks *mk, real *scratch)
{
    int N = a->N, l, s;
    const ConvShape *s6 = &a->fc6_shape, *s7 = &a->fc7_shape;
    for (l = 0; l < LSD_NCONV; l++) {
        const ConvShape *cs = &a->conv_shape[l];
        conv2d_forward_relu(a->conv[l], conv_input(a, x, l), f->conv[l].weight, f->conv[l].bias,
                            cs, scratch);
        s = LSD_VGG_STAGE[l];
        if (l == LSD_VGG_LAST[s])
            maxpool2d_forward(a->pool[s], a->argmax[s], a->conv[l], N, cs->OC, cs->OH, cs->OW,
                              a->pool_h[s], a->pool_w[s]);
    }
    conv2d_forward_relu(a->fc6, a->pool[4], f->fc6.weight, f->fc6.bias, s6, scratch);
    dropout2d_forward(a->fc6_drop, a->fc6, mk->fc6, N * s6->OC, s6->OH * s6->OW);
    conv2d_forward_relu(a->fc7, a->fc6_drop, f->fc7.weight, f->fc7.bias, s7, scratch);
    dropout2d_forward(a->fc7_drop, a->fc7, mk->fc7, N * s7->OC, s7->OH * s7->OW);
}

/* F's backward: f_forward's lines in reverse; conv1_1's input gradient is not needed. */
void f_backward(FActs *fg, const FActs *a, const real *x, FNet *f, const FMasks *mk,
                real *scratch)
{
    int N = a->N, l, s;
    const ConvShape *s6 = &a->fc6_shape, *s7 = &a->fc7_shape;
    dropout2d_backward(fg->fc7, fg->fc7_drop, mk->fc7, N * s7->OC, s7->OH * s7->OW);
    relu_backward_inplace(fg->fc7, a->fc7, out_size(s7));
    conv2d_backward(fg->fc6_drop, f->fc7.dweight, f->fc7.dbias, fg->fc7, a->fc6_drop,
                    f->fc7.weight, s7, scratch);
    dropout2d_backward(fg->fc6, fg->fc6_drop, mk->fc6, N * s6->OC, s6->OH * s6->OW);
    relu_backward_inplace(fg->fc6, a->fc6, out_size(s6));
    conv2d_backward(fg->pool[4], f->fc6.dweight, f->fc6.dbias, fg->fc6, a->pool[4], f->fc6.weight,
                    s6, scratch);
    for (l = LSD_NCONV - 1; l >= 0; l--) {
        const ConvShape *cs = &a->conv_shape[l];
        s = LSD_VGG_STAGE[l];
        if (l == LSD_VGG_LAST[s])
            maxpool2d_backward(fg->conv[l], fg->pool[s], a->argmax[s], N, cs->OC, cs->OH, cs->OW,
                               a->pool_h[s], a->pool_w[s]);
        relu_backward_inplace(fg->conv[l], a->conv[l], out_size(cs));
        conv2d_backward(l ? (real *)conv_input(fg, NULL, l) : NULL, f->conv[l].dweight,
                        f->conv[l].dbias,
                        fg->conv[l], conv_input(a, x, l), f->conv[l].weight, cs, scratch);
    }
}

/* C: FCN-8s's score layers and skip fusion, cropped to the input size. */
void c_forward(CActs *c, const FActs *a, const FNet *f, real *scratch)
{
    int N = c->N, k = c->score_fr_shape.OC;
    const ConvShape *u2 = &c->upscore2_shape, *u4 = &c->upscore_pool4_shape;
    const ConvShape *u8 = &c->upscore8_shape;
    conv2d_forward(c->score_fr, a->fc7_drop, f->score_fr.weight, f->score_fr.bias,
                   &c->score_fr_shape, scratch);
    convt_forward(c->upscore2, c->score_fr, f->upscore2.weight, NULL, u2, scratch);
    conv2d_forward(c->score_pool4, a->pool[3], f->score_pool4.weight, f->score_pool4.bias,
                   &c->score_pool4_shape, scratch);
    crop_forward(c->fuse4, c->score_pool4, N, k, a->pool_h[3], a->pool_w[3], 5, 5, u2->OH,
                 u2->OW);
    vec_add(c->fuse4, c->upscore2, out_size(u2));
    convt_forward(c->upscore_pool4, c->fuse4, f->upscore_pool4.weight, NULL, u4, scratch);
    conv2d_forward(c->score_pool3, a->pool[2], f->score_pool3.weight, f->score_pool3.bias,
                   &c->score_pool3_shape, scratch);
    crop_forward(c->fuse3, c->score_pool3, N, k, a->pool_h[2], a->pool_w[2], 9, 9, u4->OH,
                 u4->OW);
    vec_add(c->fuse3, c->upscore_pool4, out_size(u4));
    convt_forward(c->upscore8, c->fuse3, f->upscore8.weight, NULL, u8, scratch);
    crop_forward(c->score, c->upscore8, N, k, u8->OH, u8->OW, 31, 31, c->H, c->W);
}

/* C's backward: c_forward's lines in reverse; the upscore layers are frozen (no dweight). */
void c_backward(CActs *cg, FActs *fg, const CActs *c, const FActs *a, FNet *f,
                int want_param_grads, real *scratch)
{
    int N = c->N, k = c->score_fr_shape.OC, want = want_param_grads;
    const ConvShape *u2 = &c->upscore2_shape, *u4 = &c->upscore_pool4_shape;
    const ConvShape *u8 = &c->upscore8_shape;
    crop_backward(cg->upscore8, cg->score, N, k, u8->OH, u8->OW, 31, 31, c->H, c->W);
    convt_backward(cg->fuse3, NULL, NULL, cg->upscore8, c->fuse3, f->upscore8.weight, u8, scratch);
    vec_add(cg->upscore_pool4, cg->fuse3, out_size(u4));
    crop_backward(cg->score_pool3, cg->fuse3, N, k, a->pool_h[2], a->pool_w[2], 9, 9, u4->OH,
                  u4->OW);
    conv2d_backward(fg->pool[2], want ? f->score_pool3.dweight : NULL,
                    want ? f->score_pool3.dbias : NULL, cg->score_pool3, a->pool[2],
                    f->score_pool3.weight, &c->score_pool3_shape, scratch);
    convt_backward(cg->fuse4, NULL, NULL, cg->upscore_pool4, c->fuse4, f->upscore_pool4.weight, u4,
                   scratch);
    vec_add(cg->upscore2, cg->fuse4, out_size(u2));
    crop_backward(cg->score_pool4, cg->fuse4, N, k, a->pool_h[3], a->pool_w[3], 5, 5, u2->OH,
                  u2->OW);
    conv2d_backward(fg->pool[3], want ? f->score_pool4.dweight : NULL,
                    want ? f->score_pool4.dbias : NULL, cg->score_pool4, a->pool[3],
                    f->score_pool4.weight, &c->score_pool4_shape, scratch);
    convt_backward(cg->score_fr, NULL, NULL, cg->upscore2, c->score_fr, f->upscore2.weight, u2,
                   scratch);
    conv2d_backward(fg->fc7_drop, want ? f->score_fr.dweight : NULL,
                    want ? f->score_fr.dbias : NULL, cg->score_fr, a->fc7_drop,
                    f->score_fr.weight, &c->score_fr_shape, scratch);
}
