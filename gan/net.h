/*
 * net.h - the four networks of LSD-seg (docs/method.md, "The four networks"):
 *
 *   F  VGG16 trunk of FCN-8s: image -> fc7 (after dropout), pool4, pool3     gan/fcn.c
 *   C  FCN-8s score layers and skip fusion: -> class scores at input size     gan/fcn.c
 *   G  generator: (fc7, pool4, pool3) -> RGB image in [0, 1]                  gan/generator.c
 *   D  discriminator: RGB image -> 4-way domain map, n-way class map (1/8)    gan/discriminator.c
 *
 * Each network is a struct of named LayerParams views into its ParamArena
 * (gan/params.h). Activations of one input size are a struct of named buffers
 * allocated once (x_acts_alloc); the gradients of the activations use the same
 * struct (allocated without the caches). Forward and backward of each network
 * are two hand-written sequences that mirror each other line by line; backward
 * accumulates parameter gradients (NULL-free: pass want_param_grads = 0 to skip)
 * and writes input gradients into the caller's buffers (NULL to skip).
 * Dropout masks are arguments (FMasks, GMasks, DMasks): a mask of ones is "no dropout".
 * The fixed tables (block counts, the authors' module indices, the instance norm's epsilon,
 * the LeakyReLU slope) are gan/arch.h's; the residual block of G and D is layers/resblock.h.
 * Names (fc7_drop, *_shape, fa / fg, scratch, ...): docs/conventions.md, "Names and
 * abbreviations". The *_work_size functions give the convolution scratch a network needs.
 */
#ifndef LSD_NET_H
#define LSD_NET_H

#include <stdint.h>
#include "../tensor/common.h"
#include "../layers/conv.h"
#include "../layers/resblock.h"
#include "arch.h"
#include "params.h"

/* Sizes of the networks; lsd_config_default() gives the paper's. */
typedef struct {
    int vgg;     /* channels of conv1 (64); the VGG stages have vgg, 2, 4, 8, 8 times that */
    int fc;      /* width of fc6 and fc7 (4096) */
    int ngf;     /* generator width (64) */
    int ndf;     /* discriminator width (64); D's layers have 2*ndf channels */
    int n_class; /* classes (19) */
} LsdConfig;

LsdConfig lsd_config_default(void);
/* Refuses sizes < 1 with a message. */
int lsd_config_check(const LsdConfig *c, lsd_err *err);
/* Refuses H, W that are not positive multiples of 32, naming the nearest valid sizes. */
int lsd_check_size(int H, int W, lsd_err *err);

/* ---------------------------------------------------------------- F and C */
typedef struct {
    ParamArena pa;
    LayerParams conv[LSD_NCONV];          /* conv1_1 .. conv5_3 */
    LayerParams fc6, fc7;
    LayerParams score_fr, score_pool3, score_pool4;
    LayerParams upscore2, upscore8, upscore_pool4; /* frozen, bilinear */
} FNet;

/* F's activations for one input of size (N, 3, H, W); as gradients, the caches are NULL. */
typedef struct {
    int N, H, W;
    ConvShape conv_shape[LSD_NCONV], fc6_shape, fc7_shape;
    int pool_h[5], pool_w[5];             /* pool outputs; pool3 = [2], pool4 = [3] */
    real *conv[LSD_NCONV];                /* (N, C_l, h_l, w_l) after ReLU */
    real *pool[5];                        /* (N, C_s, pool_h, pool_w) */
    int32_t *argmax[5];                   /* cache: like pool */
    real *fc6, *fc6_drop;                 /* (N, fc, h7, w7) after ReLU, after dropout */
    real *fc7, *fc7_drop;                 /* (N, fc, h7, w7) after ReLU, after dropout (F's fc7) */
    real *mem;
    int32_t *imem;
    size_t bytes;
} FActs;

/* Dropout2d masks of fc6 and fc7, (N, fc) each. */
typedef struct {
    real *fc6, *fc7;
} FMasks;

/* C's activations (scores at several scales). */
typedef struct {
    int N, H, W;
    ConvShape score_fr_shape, upscore2_shape, score_pool4_shape; /* of the layers below */
    ConvShape upscore_pool4_shape, score_pool3_shape, upscore8_shape;
    real *score_fr;      /* (N, n, h7, w7) */
    real *upscore2;      /* (N, n, H/16+4, .) */
    real *score_pool4;   /* (N, n, pool4) */
    real *fuse4;         /* (N, n, H/16+4, .) = upscore2 + crop(score_pool4, 5) */
    real *upscore_pool4; /* (N, n, H/8+10, .) */
    real *score_pool3;   /* (N, n, pool3) */
    real *fuse3;         /* (N, n, H/8+10, .) = upscore_pool4 + crop(score_pool3, 9) */
    real *upscore8;      /* (N, n, H+88, .) */
    real *score;         /* (N, n, H, W) = crop(upscore8, 31) */
    real *mem;
    size_t bytes;
} CActs;

int fnet_create(FNet *f, const LsdConfig *c, lsd_err *err);
void fnet_free(FNet *f);
int f_acts_alloc(FActs *a, const LsdConfig *c, int N, int H, int W, int with_cache,
                 lsd_err *err);
void f_acts_free(FActs *a);
int c_acts_alloc(CActs *a, const LsdConfig *c, int N, int H, int W, lsd_err *err);
void c_acts_free(CActs *a);
size_t f_work_size(const FActs *a, const CActs *c);

/* F: x (N, 3, H, W) BGR minus mean -> a->fc7_drop, a->pool[3], a->pool[2]. */
void f_forward(FActs *a, const real *x, const FNet *f, const FMasks *mk, real *scratch);
/* F's backward from fg->fc7_drop, fg->pool[3], fg->pool[2] (which the caller filled); fg is
 * zeroed elsewhere. Accumulates F's parameter gradients. */
void f_backward(FActs *fg, const FActs *a, const real *x, FNet *f, const FMasks *mk,
                real *scratch);
/* C: (fc7, pool4, pool3) of a -> c->score (N, n, H, W). */
void c_forward(CActs *c, const FActs *a, const FNet *f, real *scratch);
/* C's backward from cg->score into fg->fc7_drop, fg->pool[3], fg->pool[2] (+=) and C's
 * gradients. */
void c_backward(CActs *cg, FActs *fg, const CActs *c, const FActs *a, FNet *f,
                int want_param_grads, real *scratch);

/* ---------------------------------------------------------------- G */
typedef struct {
    LayerParams convt, rb[2];
} GBlockParams;

typedef struct {
    ParamArena pa;
    GBlockParams blk[LSD_GBLOCKS]; /* stage1 .0-.4, stage1 .5-.9, stage2, stage3 .0-.4, .5-.9 */
    LayerParams out;               /* stage4_upsample.0 (with bias), then Sigmoid */
} GNet;

/* One ConvT-IN-ReLU-RB-RB block. */
typedef struct {
    ConvShape convt_shape, rb_shape; /* rb_shape: the residual blocks' 3x3 convolution */
    real *in;                 /* (N, cin, h, w) the block's input (a concat for stage2, stage3) */
    real *z, *y, *a;          /* (N, cout, ho, wo) ConvT output, IN(z), ReLU(y) */
    real *mean, *rstd;        /* cache (N, cout) */
    RBActs rb[2];
} GBlockActs;

typedef struct {
    int N, H, W;
    GBlockActs blk[LSD_GBLOCKS];
    ConvShape out_shape; /* stage4's ConvT */
    real *z, *img; /* (N, 3, H, W) stage4 ConvT output, Sigmoid(z) = G's image */
    real *mem;
    size_t bytes;
} GActs;

/* Element dropout masks of the ten residual blocks, [block][rb] (N, C, h, w). */
typedef struct {
    real *rb[LSD_GBLOCKS][2];
} GMasks;

int gnet_create(GNet *g, const LsdConfig *c, lsd_err *err);
void gnet_free(GNet *g);
int g_acts_alloc(GActs *a, const LsdConfig *c, int N, int H, int W, int with_cache,
                 lsd_err *err);
void g_acts_free(GActs *a);
size_t g_work_size(const GActs *a);

/* G: (fc7, pool4, pool3) -> a->img (N, 3, H, W). */
void g_forward(GActs *a, const real *fc7, const real *pool4, const real *pool3, const GNet *g,
               const GMasks *mk, real *scratch);
/* G's backward from gg->img; writes (+=) dfc7, dpool4, dpool3 (each may be NULL) and, if
 * want_param_grads, G's parameter gradients. fc7 is the forward's input. gg must be zeroed
 * by the caller before. */
void g_backward(real *dfc7, real *dpool4, real *dpool3, GActs *gg, const GActs *a,
                const real *fc7, GNet *g, const GMasks *mk, int want_param_grads,
                real *scratch);

/* ---------------------------------------------------------------- D */
typedef struct {
    ParamArena pa;
    LayerParams conv0;            /* feature.0 */
    LayerParams rb[LSD_DBLOCKS];  /* feature.3,4,5, 7,8,9, 11,12,13 */
    LayerParams out_s, out_c;     /* the heads out_s.0 (domains) and out_c.0 (classes) */
} DNet;

typedef struct {
    int N, H, W, h, w;            /* input (N, 3, H, W); output (h, w) = (H/8, W/8) */
    ConvShape conv0_shape, rb_shape[LSD_DBLOCKS];
    ConvShape domain_score_shape, class_score_shape; /* the heads out_s.0, out_c.0 */
    real *z0, *y0, *a0;           /* (N, 2ndf, H/2+1, .) conv, IN, LeakyReLU */
    real *mean0, *rstd0;
    RBActs rb[LSD_DBLOCKS];
    real *pool[2];                /* (N, 2ndf, .) after blocks 3 and 6 */
    int32_t *argmax[2];
    real *domain_score;           /* (N, 4, h, w) Ds: domain scores (head out_s.0) */
    real *class_score;            /* (N, n, h, w) Dc: class scores (head out_c.0) */
    real *mem;
    int32_t *imem;
    size_t bytes;
} DActs;

/* Element dropout masks of D's nine residual blocks. */
typedef struct {
    real *rb[LSD_DBLOCKS];
} DMasks;

int dnet_create(DNet *d, const LsdConfig *c, lsd_err *err);
void dnet_free(DNet *d);
int d_acts_alloc(DActs *a, const LsdConfig *c, int N, int H, int W, int with_cache,
                 lsd_err *err);
void d_acts_free(DActs *a);
size_t d_work_size(const DActs *a);

/* D: x (N, 3, H, W) RGB in [0, 1] -> a->domain_score, a->class_score. */
void d_forward(DActs *a, const real *x, const DNet *d, const DMasks *mk, real *scratch);
/* D's backward from dg->domain_score, dg->class_score; writes (+=) dx (may be NULL) and, if
 * want_param_grads, D's parameter gradients. dg must be zeroed by the caller before. */
void d_backward(real *dx, DActs *dg, const DActs *a, const real *x, DNet *d, const DMasks *mk,
                int want_param_grads, real *scratch);

/* ---------------------------------------------------------------- per-sample views
 * Sample s of a batch's activations (or gradients) a, as a batch of one (lsd.c, "Samples"):
 * v's buffers are sample s's in a's (nothing allocated; v->mem is NULL, never freed), its
 * shapes those of a batch of one. With zero, those buffers are zeroed. */
void f_acts_view(FActs *v, const FActs *a, int s, int zero);
void c_acts_view(CActs *v, const CActs *a, int s, int zero);
void g_acts_view(GActs *v, const GActs *a, int s, int zero);
void d_acts_view(DActs *v, const DActs *a, int s, int zero);

/* ---------------------------------------------------------------- shared pieces */
/* A bump allocator for activation structs: a layout function runs twice, first with
 * base NULL to count elements, then with the allocated block to hand out pointers. A view
 * (x_acts_view) lays out a batch of one over a batch's block: slices > 0 says each buffer
 * holds `slices` samples and hands out sample `slice` of it (zeroed when zero is set). */
typedef struct {
    real *base;
    int32_t *ibase;
    size_t used, iused;
    int slices, slice, zero;
} Bump;
real *bump_take(Bump *b, size_t n);
int32_t *bump_take_i32(Bump *b, size_t n);
/* A view Bump: sample s of the `slices` samples of the block at base, ibase. */
Bump bump_view(real *base, int32_t *ibase, int slices, int s, int zero);

/* Lays out a residual block's buffers (layers/resblock.h) of n elements and, with_cache,
 * its (N, C) statistics of nc elements each. */
void rb_layout(RBActs *r, Bump *b, size_t n, size_t nc, int with_cache);

#endif
