/*
 * lsd.h - the LSD-seg model (F, C, G, D) and its training iteration
 * (docs/method.md, "Losses" and "One iteration").
 *
 * LsdModel holds the parameters, gradients and Adam state of the four networks
 * and the number of completed iterations. LsdWork holds every buffer of one input
 * size (N, H, W), allocated once by lsd_work_create and reused by each iteration:
 *
 *   lsd_step              one iteration on (Xs, Ys, Xt): D update, G update, F+C update
 *   lsd_step_source_only  the baseline: F and C on CE(C(F(Xs)), Ys) alone
 *   lsd_infer             C(F(x)) without dropout and without backward buffers
 *   lsd_forward_all       every forward intermediate before any update (the oracle)
 *
 * Dropout masks are drawn once per iteration for each dropout layer and input kind
 * (F and G: src, tgt; D: src_real, src_fake, tgt_real, tgt_fake) and reused by every
 * forward pass of that iteration, so the three updates see the same masks.
 */
#ifndef LSD_LSD_H
#define LSD_LSD_H

#include <stdint.h>
#include "../tensor/common.h"
#include "../tensor/safetensors.h"
#include "net.h"
#include "params.h"

typedef struct {
    LsdConfig cfg;
    FNet F; /* F and C */
    GNet G;
    DNet D;
    long step; /* completed iterations; Adam's t of the next update is step + 1 */
} LsdModel;

/* Allocates the three arenas for a configuration (parameters zero). */
int lsd_model_create(LsdModel *m, const LsdConfig *c, lsd_err *err);
void lsd_model_free(LsdModel *m);
/* The authors' initialisation: G and D weights N(0, 0.02), biases U(-0.01, 0.01) (counter
 * RNG, one stream per tensor name); F's trunk and fc6/fc7 from a VGG16 safetensors file when
 * vgg16_path is not NULL (torchvision names features.N / classifier.0, .3, conv1_1 ..., or
 * F.conv1_1 ... of an lsdseg checkpoint),
 * otherwise He-normal weights N(0, 2/fan_in) and zero biases; score layers zero; upscore
 * layers bilinear. Resets the Adam state and the step count. */
int lsd_model_init(LsdModel *m, uint64_t seed, const char *vgg16_path, lsd_err *err);
/* The deterministic hash rule of params.h for every tensor (tests, goldens). */
void lsd_model_init_hash(LsdModel *m);
/* Bytes of parameters, gradients and Adam moments. */
size_t lsd_model_bytes(const LsdModel *m);

/* The configuration of the networks in a file, from tensor shapes: vgg from
 * F.conv1_1.weight, fc from F.fc6.weight, n_class from F.score_fr.weight, ngf from
 * G.stage4_upsample.0.weight, ndf from D.feature.0.weight. */
int lsd_config_from_file(LsdConfig *c, st_file *sf, lsd_err *err);
/* Creates m from a file: configuration from shapes, parameters, and (if present) Adam
 * state and "opt.step". */
int lsd_model_load(LsdModel *m, const char *path, lsd_err *err);
/* Adds parameters, Adam state, opt.step and the configuration metadata to writer; step_store
 * must stay valid until the writer saves. */
int lsd_model_write(const LsdModel *m, st_writer *writer, int64_t *step_store, lsd_err *err);
/* lsd_model_write into a new file (crash-safe replace). */
int lsd_model_save(const LsdModel *m, const char *path, lsd_err *err);

/* The recipe of an iteration (docs/method.md, "Two schedules"): the paper's (all zero), or the
 * authors' released code (trainer_LSD.py under PyTorch 0.2); each of its four differences is
 * a switch of its own. */
typedef enum { LSD_SCHEDULE_PAPER = 0, LSD_SCHEDULE_AUTHORS = 1 } lsd_schedule;
typedef enum { LSD_ADAM_MODERN = 0, LSD_ADAM_PYTORCH02 = 1 } lsd_adam;
typedef enum { LSD_DLABELS_CENTRE = 0, LSD_DLABELS_AUTHORS = 1 } lsd_dlabels;
typedef enum { LSD_DINPUT_RGB = 0, LSD_DINPUT_BGR = 1 } lsd_dinput;
typedef struct {
    lsd_schedule schedule; /* paper: D, G, F, each through fresh forward passes; authors: one
                              forward pass, then the three backward passes and updates */
    lsd_adam adam;         /* modern: torch.optim.Adam today; pytorch02: sqrt(v) + eps */
    lsd_dlabels d_labels;  /* centre: y'[r][c] = Ys[8r+4][8c+4]; authors: their PIL resize to
                              (W/8) x (H/8) read as (H/8) x (W/8) */
    lsd_dinput d_input;    /* D's real images and G's targets in RGB or in BGR order */
} LsdRecipe;

/* All four of the paper's choices / all four of the authors' code. */
LsdRecipe lsd_recipe_paper(void);
LsdRecipe lsd_recipe_authors(void);
/* "paper", "authors", or "custom" for any other mixture. */
const char *lsd_recipe_name(const LsdRecipe *r);
/* The text stored in checkpoints: "schedule=paper adam=modern d_labels=centre d_input=rgb". */
void lsd_recipe_format(char *buf, size_t cap, const LsdRecipe *r);
/* Reads that text (keys in any order; a missing key keeps r's value). */
int lsd_recipe_parse(LsdRecipe *r, const char *text, lsd_err *err);
/* Sets one switch by its option name ("schedule", "adam", "d-labels" or "d_labels", "d-input"
 * or "d_input") and value ("paper", "pytorch02", ...), or all four with "recipe". */
int lsd_recipe_set(LsdRecipe *r, const char *key, const char *value, lsd_err *err);

/* D's class labels y' (N, h, w) from Ys (N, H, W), as the recipe says (lsd.h, LsdRecipe). */
void lsd_d_labels(uint8_t *yd, const uint8_t *ys, int N, int H, int W, int h, int w,
                  lsd_dlabels mode);
/* dst = src with the channels of each image reversed (RGB <-> BGR), (N, 3, H, W). */
void lsd_flip_channels(real *dst, const real *src, int N, int H, int W);

/* Data-parallel training (lsd.c, "Samples"; ref/dist.c runs it over MPI). A batch of B
 * samples is computed sample by sample: each update's gradient is
 * g = (((g_0 + g_1) + g_2) + ... + g_{B-1}), g_s sample s's gradient of the update from a pass
 * of one sample (its terms added in the paper's order, each divided by B); losses likewise
 * (doubles). A work of N samples may hold only samples first .. first + N - 1 of the batch;
 * these hooks then join the processes' parts, the same on every process. */
typedef struct {
    int batch; /* B */
    int first; /* the batch index of the work's first sample */
    /* Once per update (0 D, 1 G, 2 F and C), after this process's samples: g[0] .. g[ng-1]
     * (n reals each) are its part, to be added in that order onto the running sum of the
     * samples before it: ng = 1 and g[0] their sum when first is 0 (nothing comes before),
     * else ng = N, each sample's gradient apart. Leaves the batch's gradient in g[0]. */
    int (*reduce)(void *ctx, int update, real *const *g, int ng, size_t n, lsd_err *err);
    /* Fills all (B * k values) with every process's mine (N * k: k values per sample), in
     * sample order. */
    int (*gather)(void *ctx, const double *mine, int n_mine, double *all, int k, lsd_err *err);
    void *ctx;
} LsdDist;

/* Loss weights, optimiser settings and dropout of an iteration. */
typedef enum { LSD_DROPOUT_RNG = 0, LSD_DROPOUT_OFF = 1, LSD_DROPOUT_GIVEN = 2 } lsd_dropout;
typedef struct {
    double adv_weight, c_weight, l1_weight; /* 0.1, 0.1, 1 */
    double lr_f_weight, lr_f_bias;          /* 1e-5, 2e-5 */
    double beta1_f, beta2_f;                /* 0.9, 0.999 */
    double lr_gd, beta1_gd, beta2_gd;       /* 1e-4, 0.7, 0.999 */
    double eps;                             /* 1e-8 */
    lsd_dropout dropout;                    /* RNG: masks from (seed, layer, step) */
    uint64_t seed;
    LsdRecipe recipe;                       /* the paper's */
    const LsdDist *dist;                    /* NULL: the work's N samples are the batch */
} LsdStepOptions;

LsdStepOptions lsd_step_defaults(void);
/* LSD_ERR_RANGE, naming the pixel, if one of the n labels is neither a class (0..n_class-1)
 * nor 255 (ignore); the steps call it before they change anything. */
int lsd_check_labels(const uint8_t *ys, size_t n, int n_class, lsd_err *err);

/* One batch: images (N, 3, H, W) and labels (N, H, W), 0..n-1 or 255. */
typedef struct {
    const real *xs, *xt;     /* F's inputs: BGR minus mean */
    const real *xs01, *xt01; /* D's inputs and G's targets: RGB in [0, 1] */
    const uint8_t *ys;
} LsdBatch;

typedef struct {
    double loss_D, loss_G, loss_F; /* docs/method.md, "Losses": the totals / N */
    double loss_seg;               /* CE(C(F(Xs)), Ys) / N, the segmentation part of loss_F */
} LsdLosses;

/* A dropout mask of the work, addressed by name for files ("masks." + name). */
typedef struct {
    char name[64]; /* e.g. "F.fc6.src", "G.stage1_upsample.3.tgt", "D.feature.3.src_fake" */
    real *data;
    int ndim;      /* 2 (N, C) for Dropout2d, 4 (N, C, h, w) for element dropout */
    int shape[4];
    size_t size;
} LsdMaskRef;

enum { LSD_SRC = 0, LSD_TGT = 1 };                  /* F and G input kinds */
enum { LSD_SRC_REAL = 0, LSD_SRC_FAKE = 1, LSD_TGT_REAL = 2, LSD_TGT_FAKE = 3 }; /* D's */
typedef enum { LSD_WORK_TRAIN = 0, LSD_WORK_SOURCE_ONLY = 1, LSD_WORK_INFER = 2 } lsd_work_mode;

typedef struct {
    int N, H, W;
    lsd_work_mode mode;
    FActs fa[2], fg;  /* F on source and target; F's gradients */
    CActs ca, cg;     /* C on source; its gradients */
    GActs ga[2], gg;  /* G on source and target; G's gradients */
    DActs da, dg;     /* D on one input at a time; its gradients */
    FMasks fm[2];
    GMasks gm[2];
    DMasks dm[4];
    LsdMaskRef *masks; /* every mask above, by name */
    int nmasks;
    real *mask_mem;
    uint8_t *yd;       /* (N, H/8, W/8) Ys resized to D's output (PIL nearest) */
    real *scratch;     /* convolution scratch (scratch_n reals) */
    size_t scratch_n;
    /* lane 1 of lsd_step (training works only; lsd.c, "Lanes"): the target half of each
     * update runs on these beside the source half, which uses da, dg, gg, fg and scratch */
    DActs da1, dg1;
    GActs gg1;
    FActs fg1;
    real *scratch1;
    real *term_grad;   /* F, G, D and D gradients of the terms summed apart (lsd_step) */
    /* the authors' schedule keeps D's activations of all four images (lsd.c, "The authors'
     * schedule"): source real in da, target real in da1, the fakes in these two */
    DActs da_fake[2];
    real *x01_bgr;     /* (2, N, 3, H, W) D's real images in BGR order (recipe d_input bgr) */
    size_t term_grad_n;
    /* the steps' per-sample passes (lsd.c, "Samples"), allocated by the first step: gradients
     * of samples 1 .. N - 1 while they wait to be added (one buffer, or N - 1 when a later
     * process's samples are kept apart for LsdDist's reduce), and per-sample losses */
    real *sample_grad;
    real **sample_ptr;  /* (N) the parts handed to LsdDist's reduce */
    size_t sample_grad_n;
    double *sample_loss; /* (N + B) * 4 */
    size_t sample_loss_n;
    size_t bytes;      /* everything this work holds */
} LsdWork;

/* Plans and allocates every buffer for (N, 3, H, W); refuses H, W not multiples of 32 in
 * the training modes. Masks start as ones (no dropout). */
int lsd_work_create(LsdWork *work, const LsdConfig *c, int N, int H, int W, lsd_work_mode mode,
                    lsd_err *err);
void lsd_work_free(LsdWork *work);
/* The mask called name (without the "masks." prefix), or NULL. */
LsdMaskRef *lsd_work_mask(LsdWork *work, const char *name);
/* Fills every mask: off (ones), or from the counter RNG: mask (seed, stream of the name,
 * index step * size + i) < 0.5 dropped, else 2. */
void lsd_work_draw_masks(LsdWork *work, int dropout_on, uint64_t seed, long step);
/* The same for a work holding samples first .. first + N - 1 of a batch of `batch` (LsdDist):
 * each mask is that part of the batch's mask, whose element i has index step * size + i
 * (size = the batch's mask size); lsd_work_draw_masks is the case batch = N, first = 0. */
void lsd_work_draw_masks_part(LsdWork *work, int dropout_on, uint64_t seed, long step, int batch,
                              int first);
/* Fills every mask from the hash rule: 0 if lsd_hash_uniform("masks." + name, i) < 0, else 2
 * (golden/model.py's hash_masks). */
void lsd_work_hash_masks(LsdWork *work);

/* One LSD-seg iteration (docs/method.md, "One iteration"): D, then G, then F and C, each
 * with the current parameters (the authors' schedule: see LsdRecipe). With
 * LSD_DROPOUT_GIVEN the caller has filled the work's masks. The source and target halves
 * of each update run as two lanes (lsd.c, "Lanes"): with 4 or more OpenMP
 * threads this raises OpenMP's max-active-levels to 2 (nested teams of half the threads).
 * The samples of the batch run one at a time and their gradients are added in order
 * (LsdDist, lsd.c "Samples"); with o->dist the work holds a part of the batch. */
int lsd_step(LsdModel *m, LsdWork *work, const LsdBatch *b, const LsdStepOptions *o,
             LsdLosses *out, lsd_err *err);
/* The source-only baseline iteration (only b->xs, b->ys used). */
int lsd_step_source_only(LsdModel *m, LsdWork *work, const LsdBatch *b, const LsdStepOptions *o,
                         double *loss, lsd_err *err);
/* C(F(x)) with no dropout into work->ca.score (N, n, H, W). */
void lsd_infer(const LsdModel *m, LsdWork *work, const real *x);
/* Forward intermediates with the current masks: F on xs and xt, C on xs, G on both,
 * D on xs01 (mask src_real). Results stay in work (fa, ca, ga, da). */
void lsd_forward_all(const LsdModel *m, LsdWork *work, const LsdBatch *b);

#endif
