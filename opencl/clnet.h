/*
 * clnet.h - the networks of gan/ and the LSD-seg iteration on an OpenCL device
 * (make OPENCL=1).
 *
 * Device mirrors of gan/'s structs:
 *   ClArena   a ParamArena's four arrays (param, grad, m, v), each one device buffer laid
 *             out exactly as the host arena, so upload and download are one copy each;
 *   ClFNet, ClGNet, ClDNet  views (lsd_clbuf_view) of each layer's weight and bias into the
 *             arena, like LayerParams;
 *   ClFActs, ClCActs, ClGActs, ClDActs  one device buffer per activation struct (and one
 *             int32 buffer for the pooling argmax) with the host struct's layout: views at
 *             the same offsets as the host pointers. The host struct (`host`, borrowed,
 *             see ClWork) supplies the shapes.
 *   ClWork    every device buffer of one input size, built from a host LsdWork that the
 *             caller keeps alive: its shapes, its mask table (names, sizes), its masks when
 *             given (LSD_DROPOUT_GIVEN), and its host buffers for results read back.
 *
 * cl_f_forward ... cl_d_backward mirror f_forward ... d_backward of gan/ line by line
 * with the cl_* ops of opencl/ops.h. The iteration (cllsd.c) mirrors gan/lsd.c: parameters,
 * gradients, Adam state and activations stay on the device; the host uploads the batch
 * (and y', the labels resized to D's output, computed on the host) and reads the losses.
 * Dropout masks are drawn on the device with the same Philox rule as lsd_work_draw_masks
 * (bit-identical), or uploaded from the host work when given.
 *
 * Every function returns LSD_OK or a status with err filled; the library never prints.
 */
#ifndef LSD_OPENCL_CLNET_H
#define LSD_OPENCL_CLNET_H

#include "../gan/lsd.h"
#include "cl.h"
#include "ops.h"

/* A layer's weight and bias views and their gradients (bias.mem NULL: no bias). */
typedef struct {
    lsd_clbuf weight, bias, dweight, dbias;
} ClLayer;

/* A ParamArena on the device: a copy of the table and the four arrays. */
typedef struct {
    int n;
    ParamSpec *spec;
    size_t total;
    lsd_clbuf param, grad, m, v;
} ClArena;

typedef struct {
    ClArena pa;
    ClLayer conv[LSD_NCONV], fc6, fc7, score_fr, score_pool3, score_pool4;
    ClLayer upscore2, upscore8, upscore_pool4;
} ClFNet;

typedef struct {
    ClLayer convt, rb[2];
} ClGBlock;

typedef struct {
    ClArena pa;
    ClGBlock blk[LSD_GBLOCKS];
    ClLayer out;
} ClGNet;

typedef struct {
    ClArena pa;
    ClLayer conv0, rb[LSD_DBLOCKS], out_s, out_c;
} ClDNet;

/* The model on the device; step is the completed iterations (LsdModel's). */
typedef struct {
    lsd_cl *cl;
    LsdConfig cfg;
    ClFNet F;
    ClGNet G;
    ClDNet D;
    long step;
} ClModel;

/* Activations (see net.h); a zero lsd_clbuf (mem NULL) where the host pointer is NULL. */
typedef struct {
    const FActs *host;
    lsd_clbuf conv[LSD_NCONV], pool[5], argmax[5], fc6, fc6_drop, fc7, fc7_drop;
    lsd_clbuf mem, imem;
} ClFActs;

typedef struct {
    const CActs *host;
    lsd_clbuf score_fr, upscore2, score_pool4, fuse4, upscore_pool4, score_pool3, fuse3,
        upscore8, score;
    lsd_clbuf mem;
} ClCActs;

typedef struct {
    lsd_clbuf in, z, y, a, mean, rstd;
    ClRBActs rb[2];
} ClGBlockActs;

typedef struct {
    const GActs *host;
    ClGBlockActs blk[LSD_GBLOCKS];
    lsd_clbuf z, img;
    lsd_clbuf mem;
} ClGActs;

typedef struct {
    const DActs *host;
    lsd_clbuf z0, y0, a0, mean0, rstd0;
    ClRBActs rb[LSD_DBLOCKS];
    lsd_clbuf pool[2], argmax[2], domain_score, class_score;
    lsd_clbuf mem, imem;
} ClDActs;

typedef struct {
    lsd_clbuf fc6, fc7;
} ClFMasks;
typedef struct {
    lsd_clbuf rb[LSD_GBLOCKS][2];
} ClGMasks;
typedef struct {
    lsd_clbuf rb[LSD_DBLOCKS];
} ClDMasks;

typedef struct {
    lsd_cl *cl;
    LsdWork *host;     /* the host work (borrowed; must outlive this one) */
    ClFActs fa[2], fg;
    ClCActs ca, cg;
    ClGActs ga[2], gg;
    ClDActs da, dg;
    ClFMasks fm[2];
    ClGMasks gm[2];
    ClDMasks dm[4];
    lsd_clbuf *masks;  /* views of mask_mem, one per host->masks[i] */
    lsd_clbuf mask_mem;
    size_t mask_total;
    lsd_clbuf scratch; /* convolution scratch (host->scratch_n floats) */
    lsd_clbuf tmp;     /* F's in-place ReLU backward (largest F activation) */
    lsd_clbuf xs, xt, xs01, xt01; /* the batch (N, 3, H, W) */
    lsd_clbuf ys, yd;  /* uint8 labels (N, H, W) and y' (N, h, w) */
    size_t bytes;      /* device bytes of this work */
} ClWork;

/* ---- model */
/* Allocates the device arenas of m's configuration and uploads m (parameters, gradients,
 * Adam state, step). */
int cl_model_create(ClModel *cm, lsd_cl *cl, const LsdModel *m, lsd_err *err);
void cl_model_free(ClModel *cm);
/* Host -> device (one write per array) and device -> host (one read per array; the host
 * model must have the same configuration). Download also sets m->step. */
int cl_model_upload(ClModel *cm, const LsdModel *m, lsd_err *err);
int cl_model_download(const ClModel *cm, LsdModel *m, lsd_err *err);
/* Device bytes of parameters, gradients and Adam moments. */
size_t cl_model_bytes(const ClModel *cm);

/* ---- work */
/* Device buffers mirroring the host work `host` (any mode), which must stay alive and unchanged
 * in size. Masks start as host's current masks. */
int cl_work_create(ClWork *work, lsd_cl *cl, LsdWork *host, lsd_err *err);
void cl_work_free(ClWork *work);
/* Host masks (host->masks) -> device, one write. */
int cl_work_upload_masks(ClWork *work, lsd_err *err);
/* Device masks -> host masks, one read. */
int cl_work_download_masks(ClWork *work, lsd_err *err);
/* Every device activation struct that exists (fa, fg, ca, cg, ga, gg, da, dg) -> the host
 * work's buffers (one read each, argmax included). */
int cl_work_download(ClWork *work, lsd_err *err);

/* ---- networks (net.h's functions on the device; see there for the semantics) */
int cl_f_forward(lsd_cl *cl, ClFActs *a, const lsd_clbuf *x, const ClFNet *f,
                 const ClFMasks *mk, lsd_clbuf *scratch, lsd_err *err);
int cl_f_backward(lsd_cl *cl, ClFActs *fg, const ClFActs *a, const lsd_clbuf *x, ClFNet *f,
                  const ClFMasks *mk, lsd_clbuf *scratch, lsd_clbuf *tmp, lsd_err *err);
int cl_c_forward(lsd_cl *cl, ClCActs *c, const ClFActs *a, const ClFNet *f, lsd_clbuf *scratch,
                 lsd_err *err);
int cl_c_backward(lsd_cl *cl, ClCActs *cg, ClFActs *fg, const ClCActs *c, const ClFActs *a,
                  ClFNet *f, int want_param_grads, lsd_clbuf *scratch, lsd_err *err);
int cl_g_forward(lsd_cl *cl, ClGActs *a, const lsd_clbuf *fc7, const lsd_clbuf *pool4,
                 const lsd_clbuf *pool3, const ClGNet *g, const ClGMasks *mk, lsd_clbuf *scratch,
                 lsd_err *err);
int cl_g_backward(lsd_cl *cl, lsd_clbuf *dfc7, lsd_clbuf *dpool4, lsd_clbuf *dpool3,
                  ClGActs *gg, const ClGActs *a, const lsd_clbuf *fc7, ClGNet *g,
                  const ClGMasks *mk, int want_param_grads, lsd_clbuf *scratch, lsd_err *err);
int cl_d_forward(lsd_cl *cl, ClDActs *a, const lsd_clbuf *x, const ClDNet *d,
                 const ClDMasks *mk, lsd_clbuf *scratch, lsd_err *err);
int cl_d_backward(lsd_cl *cl, lsd_clbuf *dx, ClDActs *dg, const ClDActs *a, const lsd_clbuf *x,
                  ClDNet *d, const ClDMasks *mk, int want_param_grads, lsd_clbuf *scratch,
                  lsd_err *err);
/* arena_zero_grad and arena_adam on the device. */
int cl_arena_zero_grad(lsd_cl *cl, ClArena *a, lsd_err *err);
int cl_arena_adam(lsd_cl *cl, ClArena *a, long t, double lr_weight, double lr_bias,
                  double beta1, double beta2, double eps, lsd_err *err);

/* ---- the iteration (cllsd.c), mirroring lsd.h */
/* lsd_step on the device. With LSD_DROPOUT_GIVEN the host work's masks are uploaded first;
 * with RNG they are drawn on the device (the same bits as lsd_work_draw_masks). */
int cl_lsd_step(ClModel *m, ClWork *work, const LsdBatch *b, const LsdStepOptions *o,
                LsdLosses *out, lsd_err *err);
int cl_lsd_step_source_only(ClModel *m, ClWork *work, const LsdBatch *b,
                            const LsdStepOptions *o, double *loss, lsd_err *err);
/* lsd_infer: C(F(x)) without dropout; the scores are read back into work->host->ca.score. */
int cl_lsd_infer(ClModel *m, ClWork *work, const real *x, lsd_err *err);
/* lsd_forward_all with the host work's current masks (uploaded); every intermediate
 * (fa, ca, ga, da) is read back into the host work. */
int cl_lsd_forward_all(ClModel *m, ClWork *work, const LsdBatch *b, lsd_err *err);

#endif
