/*
 * generator.c - G, the four-stage generator (docs/method.md, "G").
 *
 *   stage1: fc7 -> [ConvT 7/1/0, IN, ReLU, RB, RB] -> [ConvT 3/2/1, IN, ReLU, RB, RB]
 *   stage2: concat(stage1, pool4) -> [ConvT 3/2/1, IN, ReLU, RB, RB]
 *   stage3: concat(stage2, pool3) -> [ConvT 5/2/2, IN, ReLU, RB, RB] -> [ConvT 5/2/2, ...]
 *   stage4: ConvT 8/2/100 with bias, Sigmoid -> image (N, 3, H, W)
 *
 * The five bracketed groups are "blocks" here (blk[0..4]); their names in the
 * authors' modules are stage1_upsample.0-4, .5-9, stage2_upsample.0-4,
 * stage3_upsample.0-4, .5-9 (ConvT at .0/.5, residual blocks at .3, .4 / .8, .9): the
 * table LSD_GBLOCK in gan/arch.h. The residual blocks (layers/resblock.h) use ReLU and no
 * bias.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../layers/activation.h"
#include "../layers/conv.h"
#include "../layers/norm.h"
#include "../layers/resblock.h"
#include "../layers/shape.h"
#include "arch.h"
#include "net.h"

/* Each block's ConvT: in channels, out channels (from the sizes), kernel, stride, padding. */
static void gblock_dims(const LsdConfig *c, int k, int *cin, int *cout, int *K, int *S, int *P)
{
    const int ci[LSD_GBLOCKS] = {c->fc, 4 * c->ngf, 8 * c->ngf + 8 * c->vgg,
                                 4 * c->ngf + 4 * c->vgg, 2 * c->ngf};
    const int co[LSD_GBLOCKS] = {4 * c->ngf, 8 * c->ngf, 4 * c->ngf, 2 * c->ngf, c->ngf};
    *cin = ci[k], *cout = co[k], *K = LSD_GBLOCK[k].K, *S = LSD_GBLOCK[k].S, *P = LSD_GBLOCK[k].P;
}

/* Declares G's layers with the authors' names and allocates the arena. */
int gnet_create(GNet *g, const LsdConfig *c, lsd_err *err)
{
    LayerDecl d[3 * LSD_GBLOCKS + 1];
    int k, j, n = 0, cin, cout, K, S, P, rc;
    if ((rc = lsd_config_check(c, err))) return rc;
    memset(g, 0, sizeof *g);
    memset(d, 0, sizeof d);
    for (k = 0; k < LSD_GBLOCKS; k++) {
        gblock_dims(c, k, &cin, &cout, &K, &S, &P);
        sprintf(d[n].name, "%s.%d", LSD_GBLOCK[k].stage, LSD_GBLOCK[k].first);
        d[n].shape[0] = cin, d[n].shape[1] = cout, d[n].shape[2] = d[n].shape[3] = K;
        d[n++].lp = &g->blk[k].convt;
        for (j = 0; j < 2; j++, n++) {
            sprintf(d[n].name, "%s.%d.conv_layer", LSD_GBLOCK[k].stage,
                    LSD_GBLOCK[k].first + 3 + j);
            d[n].shape[0] = d[n].shape[1] = cout, d[n].shape[2] = d[n].shape[3] = 3;
            d[n].lp = &g->blk[k].rb[j];
        }
    }
    strcpy(d[n].name, "stage4_upsample.0");
    d[n].shape[0] = c->ngf, d[n].shape[1] = 3, d[n].shape[2] = d[n].shape[3] = 8;
    d[n].bias_len = 3;
    d[n++].lp = &g->out;
    return arena_build(&g->pa, "G.", d, n, err);
}

/* Releases G's arena. */
void gnet_free(GNet *g)
{
    arena_free(&g->pa);
}

/* Lays out G's buffers; blocks 1 and 4 read the previous block's output in place. */
static void g_layout(GActs *a, Bump *b, int with_cache)
{
    int k, N = a->N;
    for (k = 0; k < LSD_GBLOCKS; k++) {
        GBlockActs *B = &a->blk[k];
        const ConvShape *s = &B->convt_shape;
        size_t n = (size_t)N * s->OC * s->OH * s->OW, nc = (size_t)N * s->OC;
        B->in = (k == 2 || k == 3) ? bump_take(b, (size_t)N * s->C * s->H * s->W) : NULL;
        B->z = bump_take(b, n);
        B->y = bump_take(b, n);
        B->a = bump_take(b, n);
        B->mean = with_cache ? bump_take(b, nc) : NULL;
        B->rstd = with_cache ? bump_take(b, nc) : NULL;
        rb_layout(&B->rb[0], b, n, nc, with_cache);
        rb_layout(&B->rb[1], b, n, nc, with_cache);
    }
    a->blk[1].in = a->blk[0].rb[1].out;
    a->blk[4].in = a->blk[3].rb[1].out;
    a->z = bump_take(b, (size_t)N * 3 * a->H * a->W);
    a->img = bump_take(b, (size_t)N * 3 * a->H * a->W);
}

/* Plans G's shapes for an input of (N, 3, H, W) (H, W multiples of 32) and allocates. */
int g_acts_alloc(GActs *a, const LsdConfig *c, int N, int H, int W, int with_cache,
                 lsd_err *err)
{
    Bump b;
    int k, h, w, cin, cout, K, S, P, rc;
    memset(a, 0, sizeof *a);
    if ((rc = lsd_check_size(H, W, err))) return rc;
    a->N = N, a->H = H, a->W = W;
    h = H / 32 + 1, w = W / 32 + 1; /* fc7's size */
    for (k = 0; k < LSD_GBLOCKS; k++) {
        gblock_dims(c, k, &cin, &cout, &K, &S, &P);
        a->blk[k].convt_shape = convt_shape(N, cin, h, w, cout, K, S, P, 0);
        h = a->blk[k].convt_shape.OH, w = a->blk[k].convt_shape.OW;
        a->blk[k].rb_shape = conv2d_shape(N, cout, h, w, cout, 3, 1, 1);
    }
    a->out_shape = convt_shape(N, c->ngf, h, w, 3, 8, 2, 100, 0);
    if (a->out_shape.OH != H || a->out_shape.OW != W || a->blk[1].convt_shape.OH != H / 16 + 13 ||
        a->blk[2].convt_shape.OH != H / 8 + 25)
        return lsd_fail(err, LSD_ERR_ARG, "G's stages do not line up at %dx%d", H, W);
    memset(&b, 0, sizeof b);
    g_layout(a, &b, with_cache);
    a->mem = (real *)calloc(b.used, sizeof(real));
    if (!a->mem)
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for G's activations (%.0f MB)",
                        (double)b.used * sizeof(real) / 1e6);
    a->bytes = b.used * sizeof(real);
    b.base = a->mem, b.used = 0;
    g_layout(a, &b, with_cache);
    return LSD_OK;
}

/* Sample s of G's buffers as a batch of one (net.h, "per-sample views"). */
void g_acts_view(GActs *v, const GActs *a, int s, int zero)
{
    Bump b = bump_view(a->mem, NULL, a->N, s, zero);
    int k;
    *v = *a;
    v->N = 1;
    for (k = 0; k < LSD_GBLOCKS; k++) v->blk[k].convt_shape.N = v->blk[k].rb_shape.N = 1;
    v->out_shape.N = 1;
    g_layout(v, &b, a->blk[0].mean != NULL);
    v->mem = NULL, v->bytes = 0;
}

/* Releases G's buffers. */
void g_acts_free(GActs *a)
{
    free(a->mem);
    memset(a, 0, sizeof *a);
}

/* Largest convolution scratch G needs. */
size_t g_work_size(const GActs *a)
{
    size_t m = conv_work_size(&a->out_shape), t;
    int k;
    for (k = 0; k < LSD_GBLOCKS; k++) {
        if ((t = conv_work_size(&a->blk[k].convt_shape)) > m) m = t;
        if ((t = conv_work_size(&a->blk[k].rb_shape)) > m) m = t;
    }
    return m;
}

/* One G block: ConvT, IN, ReLU, RB, RB. */
static void gblock_forward(GBlockActs *a, const real *in, const GBlockParams *p,
                           real *const mask[2], real *scratch)
{
    const ConvShape *s = &a->convt_shape;
    int N = s->N, C = s->OC, HW = s->OH * s->OW;
    convt_forward(a->z, in, p->convt.weight, NULL, s, scratch);
    instance_norm_forward(a->y, a->mean, a->rstd, a->z, N, C, HW, LSD_IN_EPS);
    relu_forward(a->a, a->y, (size_t)N * C * HW);
    rb_forward(&a->rb[0], a->a, p->rb[0].weight, p->rb[0].bias, mask[0], &a->rb_shape, LSD_IN_EPS,
               0, scratch);
    rb_forward(&a->rb[1], a->rb[0].out, p->rb[1].weight, p->rb[1].bias, mask[1], &a->rb_shape,
               LSD_IN_EPS, 0, scratch);
}

/* gblock_forward's backward, from g->rb[1].out into din (+=). */
static void gblock_backward(real *din, GBlockActs *g, const GBlockActs *a, const real *in,
                            GBlockParams *p, real *const mask[2], int want, real *scratch)
{
    const ConvShape *s = &a->convt_shape;
    int N = s->N, C = s->OC, HW = s->OH * s->OW;
    rb_backward(g->rb[0].out, want ? p->rb[1].dweight : NULL, want ? p->rb[1].dbias : NULL,
                &g->rb[1], &a->rb[1], a->rb[0].out, p->rb[1].weight, mask[1], &a->rb_shape, 0,
                scratch);
    rb_backward(g->a, want ? p->rb[0].dweight : NULL, want ? p->rb[0].dbias : NULL, &g->rb[0],
                &a->rb[0], a->a, p->rb[0].weight, mask[0], &a->rb_shape, 0, scratch);
    relu_backward(g->y, g->a, a->a, (size_t)N * C * HW);
    instance_norm_backward(g->z, g->y, a->z, a->mean, a->rstd, N, C, HW);
    convt_backward(din, want ? p->convt.dweight : NULL, NULL, g->z, in, p->convt.weight, s,
                   scratch);
}

/* G: decodes F's (fc7, pool4, pool3) into an image (docs/method.md, "G"). */
void g_forward(GActs *a, const real *fc7, const real *pool4, const real *pool3, const GNet *g,
               const GMasks *mk, real *scratch)
{
    GBlockActs *b = a->blk;
    int N = a->N;
    size_t n = (size_t)N * 3 * a->H * a->W;
    /* stage1: fc7 -> pool4's size */
    gblock_forward(&b[0], fc7, &g->blk[0], mk->rb[0], scratch);
    gblock_forward(&b[1], b[1].in, &g->blk[1], mk->rb[1], scratch);
    /* stage2: concat(stage1, pool4) -> pool3's size */
    concat_forward(b[2].in, b[1].rb[1].out, b[1].convt_shape.OC, pool4,
                   b[2].convt_shape.C - b[1].convt_shape.OC, N,
                   b[2].convt_shape.H * b[2].convt_shape.W);
    gblock_forward(&b[2], b[2].in, &g->blk[2], mk->rb[2], scratch);
    /* stage3: concat(stage2, pool3) -> two upsampling blocks */
    concat_forward(b[3].in, b[2].rb[1].out, b[2].convt_shape.OC, pool3,
                   b[3].convt_shape.C - b[2].convt_shape.OC, N,
                   b[3].convt_shape.H * b[3].convt_shape.W);
    gblock_forward(&b[3], b[3].in, &g->blk[3], mk->rb[3], scratch);
    gblock_forward(&b[4], b[4].in, &g->blk[4], mk->rb[4], scratch);
    /* stage4: ConvT with bias, Sigmoid -> image in [0, 1] */
    convt_forward(a->z, b[4].rb[1].out, g->out.weight, g->out.bias, &a->out_shape, scratch);
    sigmoid_forward(a->img, a->z, n);
}

/* G's backward: g_forward's lines in reverse, ending in the gradients of fc7, pool4, pool3. */
void g_backward(real *dfc7, real *dpool4, real *dpool3, GActs *gg, const GActs *a,
                const real *fc7, GNet *g, const GMasks *mk, int want_param_grads, real *scratch)
{
    GBlockActs *gb = gg->blk;
    const GBlockActs *b = a->blk;
    int N = a->N, want = want_param_grads;
    size_t n = (size_t)N * 3 * a->H * a->W;
    /* stage4 */
    sigmoid_backward(gg->z, gg->img, a->img, n);
    convt_backward(gb[4].rb[1].out, want ? g->out.dweight : NULL, want ? g->out.dbias : NULL,
                   gg->z, b[4].rb[1].out, g->out.weight, &a->out_shape, scratch);
    /* stage3 */
    gblock_backward(gb[4].in, &gb[4], &b[4], b[4].in, &g->blk[4], mk->rb[4], want, scratch);
    gblock_backward(gb[3].in, &gb[3], &b[3], b[3].in, &g->blk[3], mk->rb[3], want, scratch);
    concat_backward(gb[2].rb[1].out, dpool3, gb[3].in, b[2].convt_shape.OC,
                    b[3].convt_shape.C - b[2].convt_shape.OC, N,
                    b[3].convt_shape.H * b[3].convt_shape.W);
    /* stage2 */
    gblock_backward(gb[2].in, &gb[2], &b[2], b[2].in, &g->blk[2], mk->rb[2], want, scratch);
    concat_backward(gb[1].rb[1].out, dpool4, gb[2].in, b[1].convt_shape.OC,
                    b[2].convt_shape.C - b[1].convt_shape.OC, N,
                    b[2].convt_shape.H * b[2].convt_shape.W);
    /* stage1 */
    gblock_backward(gb[1].in, &gb[1], &b[1], b[1].in, &g->blk[1], mk->rb[1], want, scratch);
    gblock_backward(dfc7, &gb[0], &b[0], fc7, &g->blk[0], mk->rb[0], want, scratch);
}
