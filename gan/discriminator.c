/*
 * discriminator.c - D, the patch discriminator (docs/method.md, "D").
 *
 *   feature.0  Conv(3, 2ndf, 4, stride 2, pad 2), IN, LeakyReLU(0.2)     -> H/2+1
 *   feature.3-5   RB, RB, RB, MaxPool 2x2 (floor)                         -> H/4
 *   feature.7-9   RB, RB, RB, MaxPool 2x2 (floor)                         -> H/8
 *   feature.11-13 RB, RB, RB
 *   out_s  Conv(2ndf, 4, 3, pad 1): domain scores (0 source real, 1 source fake,
 *          2 target real, 3 target fake);  out_c  Conv(2ndf, n, 3, pad 1): class scores.
 *
 * Residual blocks (layers/resblock.h) here have a conv with bias and LeakyReLU(0.2); their
 * indices in `feature` are gan/arch.h's LSD_DBLOCK_INDEX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../layers/activation.h"
#include "../layers/conv.h"
#include "../layers/norm.h"
#include "../layers/pool.h"
#include "../layers/resblock.h"
#include "arch.h"
#include "net.h"

/* Declares D's layers with the authors' names and allocates the arena. */
int dnet_create(DNet *d, const LsdConfig *c, lsd_err *err)
{
    LayerDecl dl[LSD_DBLOCKS + 3];
    int k, n = 0, C = 2 * c->ndf, rc;
    if ((rc = lsd_config_check(c, err))) return rc;
    memset(d, 0, sizeof *d);
    memset(dl, 0, sizeof dl);
    strcpy(dl[n].name, "feature.0");
    dl[n].shape[0] = C, dl[n].shape[1] = 3, dl[n].shape[2] = dl[n].shape[3] = 4;
    dl[n].bias_len = C;
    dl[n++].lp = &d->conv0;
    for (k = 0; k < LSD_DBLOCKS; k++, n++) {
        sprintf(dl[n].name, "feature.%d.conv_layer", LSD_DBLOCK_INDEX[k]);
        dl[n].shape[0] = dl[n].shape[1] = C, dl[n].shape[2] = dl[n].shape[3] = 3;
        dl[n].bias_len = C;
        dl[n].lp = &d->rb[k];
    }
    strcpy(dl[n].name, "out_s.0");
    dl[n].shape[0] = 4, dl[n].shape[1] = C, dl[n].shape[2] = dl[n].shape[3] = 3;
    dl[n].bias_len = 4;
    dl[n++].lp = &d->out_s;
    strcpy(dl[n].name, "out_c.0");
    dl[n].shape[0] = c->n_class, dl[n].shape[1] = C, dl[n].shape[2] = dl[n].shape[3] = 3;
    dl[n].bias_len = c->n_class;
    dl[n++].lp = &d->out_c;
    return arena_build(&d->pa, "D.", dl, n, err);
}

/* Releases D's arena. */
void dnet_free(DNet *d)
{
    arena_free(&d->pa);
}

/* Lays out D's buffers. */
static void d_layout(DActs *a, Bump *b, int with_cache)
{
    int k, N = a->N, C = a->conv0_shape.OC;
    size_t n0 = (size_t)N * C * a->conv0_shape.OH * a->conv0_shape.OW, nc = (size_t)N * C;
    a->z0 = bump_take(b, n0);
    a->y0 = bump_take(b, n0);
    a->a0 = bump_take(b, n0);
    a->mean0 = with_cache ? bump_take(b, nc) : NULL;
    a->rstd0 = with_cache ? bump_take(b, nc) : NULL;
    for (k = 0; k < LSD_DBLOCKS; k++) {
        const ConvShape *s = &a->rb_shape[k];
        rb_layout(&a->rb[k], b, (size_t)N * C * s->OH * s->OW, nc, with_cache);
        if (k == 2 || k == 5) {
            const ConvShape *t = &a->rb_shape[k + 1];
            size_t np = (size_t)N * C * t->H * t->W;
            a->pool[k / 3] = bump_take(b, np);
            a->argmax[k / 3] = with_cache ? bump_take_i32(b, np) : NULL;
        }
    }
    a->domain_score = bump_take(b, (size_t)N * 4 * a->h * a->w);
    a->class_score = bump_take(b, (size_t)N * a->class_score_shape.OC * a->h * a->w);
}

/* Plans D's shapes for an input of (N, 3, H, W) and allocates its buffers once. */
int d_acts_alloc(DActs *a, const LsdConfig *c, int N, int H, int W, int with_cache,
                 lsd_err *err)
{
    Bump b;
    int k, h, w, C = 2 * c->ndf;
    memset(a, 0, sizeof *a);
    a->N = N, a->H = H, a->W = W;
    a->conv0_shape = conv2d_shape(N, 3, H, W, C, 4, 2, 2);
    h = a->conv0_shape.OH, w = a->conv0_shape.OW;
    for (k = 0; k < LSD_DBLOCKS; k++) {
        if (k == 3 || k == 6) h = maxpool_out_size(h, 0), w = maxpool_out_size(w, 0);
        a->rb_shape[k] = conv2d_shape(N, C, h, w, C, 3, 1, 1);
    }
    a->h = h, a->w = w;
    a->domain_score_shape = conv2d_shape(N, C, h, w, 4, 3, 1, 1);
    a->class_score_shape = conv2d_shape(N, C, h, w, c->n_class, 3, 1, 1);
    if (h < 1 || w < 1) return lsd_fail(err, LSD_ERR_ARG, "input %dx%d too small for D", H, W);
    memset(&b, 0, sizeof b);
    d_layout(a, &b, with_cache);
    a->mem = (real *)calloc(b.used, sizeof(real));
    a->imem = b.iused ? (int32_t *)calloc(b.iused, sizeof(int32_t)) : NULL;
    if (!a->mem || (b.iused && !a->imem)) {
        d_acts_free(a);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for D's activations");
    }
    a->bytes = b.used * sizeof(real) + b.iused * sizeof(int32_t);
    b.base = a->mem, b.ibase = a->imem, b.used = b.iused = 0;
    d_layout(a, &b, with_cache);
    return LSD_OK;
}

/* Sample s of D's buffers as a batch of one (net.h, "per-sample views"). */
void d_acts_view(DActs *v, const DActs *a, int s, int zero)
{
    Bump b = bump_view(a->mem, a->imem, a->N, s, zero);
    int k;
    *v = *a;
    v->N = 1;
    v->conv0_shape.N = v->domain_score_shape.N = v->class_score_shape.N = 1;
    for (k = 0; k < LSD_DBLOCKS; k++) v->rb_shape[k].N = 1;
    d_layout(v, &b, a->mean0 != NULL);
    v->mem = NULL, v->imem = NULL, v->bytes = 0;
}

/* Releases D's buffers. */
void d_acts_free(DActs *a)
{
    free(a->mem);
    free(a->imem);
    memset(a, 0, sizeof *a);
}

/* Largest convolution scratch D needs. */
size_t d_work_size(const DActs *a)
{
    size_t m = conv_work_size(&a->conv0_shape), t;
    int k;
    for (k = 0; k < LSD_DBLOCKS; k++)
        if ((t = conv_work_size(&a->rb_shape[k])) > m) m = t;
    if ((t = conv_work_size(&a->domain_score_shape)) > m) m = t;
    if ((t = conv_work_size(&a->class_score_shape)) > m) m = t;
    return m;
}

/* The input of residual block k: the first layer's output, a pool, or the previous block. */
static const real *rb_input(const DActs *a, int k)
{
    if (k == 0) return a->a0;
    if (k == 3 || k == 6) return a->pool[k / 3 - 1];
    return a->rb[k - 1].out;
}

/* D: conv-IN-LeakyReLU, nine residual blocks with two pools, two heads. */
void d_forward(DActs *a, const real *x, const DNet *d, const DMasks *mk, real *scratch)
{
    const ConvShape *s0 = &a->conv0_shape;
    int N = a->N, C = s0->OC, k;
    const real *top;
    conv2d_forward(a->z0, x, d->conv0.weight, d->conv0.bias, s0, scratch);
    instance_norm_forward(a->y0, a->mean0, a->rstd0, a->z0, N, C, s0->OH * s0->OW, LSD_IN_EPS);
    leaky_relu_forward(a->a0, a->y0, (size_t)N * C * s0->OH * s0->OW, LSD_LEAK);
    for (k = 0; k < LSD_DBLOCKS; k++) {
        const ConvShape *s = &a->rb_shape[k];
        rb_forward(&a->rb[k], rb_input(a, k), d->rb[k].weight, d->rb[k].bias, mk->rb[k], s,
                   LSD_IN_EPS, LSD_LEAK, scratch);
        if (k == 2 || k == 5)
            maxpool2d_forward(a->pool[k / 3], a->argmax[k / 3], a->rb[k].out, N, C, s->OH,
                              s->OW, a->rb_shape[k + 1].H, a->rb_shape[k + 1].W);
    }
    top = a->rb[LSD_DBLOCKS - 1].out;
    conv2d_forward(a->domain_score, top, d->out_s.weight, d->out_s.bias, &a->domain_score_shape,
                   scratch);
    conv2d_forward(a->class_score, top, d->out_c.weight, d->out_c.bias, &a->class_score_shape,
                   scratch);
}

/* D's backward: d_forward's lines in reverse, from both heads to the image. */
void d_backward(real *dx, DActs *dg, const DActs *a, const real *x, DNet *d, const DMasks *mk,
                int want_param_grads, real *scratch)
{
    const ConvShape *s0 = &a->conv0_shape;
    int N = a->N, C = s0->OC, k, want = want_param_grads;
    const real *top = a->rb[LSD_DBLOCKS - 1].out;
    real *dtop = dg->rb[LSD_DBLOCKS - 1].out;
    conv2d_backward(dtop, want ? d->out_c.dweight : NULL, want ? d->out_c.dbias : NULL,
                    dg->class_score, top, d->out_c.weight, &a->class_score_shape, scratch);
    conv2d_backward(dtop, want ? d->out_s.dweight : NULL, want ? d->out_s.dbias : NULL,
                    dg->domain_score, top, d->out_s.weight, &a->domain_score_shape, scratch);
    for (k = LSD_DBLOCKS - 1; k >= 0; k--) {
        const ConvShape *s = &a->rb_shape[k];
        if (k == 2 || k == 5)
            maxpool2d_backward(dg->rb[k].out, dg->pool[k / 3], a->argmax[k / 3], N, C, s->OH,
                               s->OW, a->rb_shape[k + 1].H, a->rb_shape[k + 1].W);
        rb_backward((real *)rb_input(dg, k), want ? d->rb[k].dweight : NULL,
                    want ? d->rb[k].dbias : NULL, &dg->rb[k], &a->rb[k], rb_input(a, k),
                    d->rb[k].weight, mk->rb[k], s, LSD_LEAK, scratch);
    }
    leaky_relu_backward(dg->y0, dg->a0, a->y0, (size_t)N * C * s0->OH * s0->OW, LSD_LEAK);
    instance_norm_backward(dg->z0, dg->y0, a->z0, a->mean0, a->rstd0, N, C, s0->OH * s0->OW);
    conv2d_backward(dx, want ? d->conv0.dweight : NULL, want ? d->conv0.dbias : NULL, dg->z0, x,
                    d->conv0.weight, s0, scratch);
}
