/*
 * demo.h - `lsdseg demo`'s options, data and results, shared by its training
 * (ref/cmd_demo.c) and its report (ref/report.c). docs/demo.md explains the configuration.
 */
#ifndef LSD_DEMO_H
#define LSD_DEMO_H

#include <stdint.h>

#include "../data/synth.h"
#include "../data/synthset.h"
#include "../gan/lsd.h"
#include "dview.h"
#include "options.h"

/* The three runs, in the order they are reported. */
enum { M_SOURCE = 0, M_LSD = 1, M_ORACLE = 2, M_COUNT = 3 };
/* "source-only", "lsd", "oracle": --methods and the runs' folders (cmd_demo.c). */
extern const char *const demo_method_name[M_COUNT];

typedef struct {
    uint64_t seed;
    const char *out;
    int H, W;
    LsdConfig cfg;
    long iters;
    int eval_every;
    int n_src, n_tgt, n_val, n_show;
    double lr_f, lr_gd, adv_w, c_w, l1_w;
    double decay_at; /* F's learning rates x0.1 from this fraction of the iterations on */
    int threads, quiet;
    int run[M_COUNT]; /* methods to train (--methods); the report needs all three */
    opt_recipe rec;   /* --recipe and its switches: how each method trains */
} DemoOpts;

/* The scene sets: labelled source, unlabelled target (its labels feed the oracle only), and
 * held-out labelled target scenes for evaluation. */
typedef struct {
    SynthSet src, tgt, val;
} DemoData;

/* What one run leaves behind for the report. */
typedef struct {
    long iters;
    double *loss_D, *loss_G, *loss_F; /* (iters); NaN where a run has no such loss */
    int n_eval;
    double *eval_it, *eval_miou;      /* (n_eval) */
    double iou[SYNTH_NUM_CLASSES], miou, pixel_acc;
    uint8_t *pred;                    /* (n_show, H, W) predictions on the first val scenes */
    double *recon;                    /* lsd only: (2 * n_show, 3, H, W) G(F(src)), G(F(tgt)) */
    DView dview[4];                   /* lsd only: D's views, source and target, start, end */
    double seconds;
} DemoResult;

#endif
