/*
 * cmd_demo.c - `lsdseg demo`: the main job. On the built-in synthetic domains
 * (data/synth.h) it trains, from the same initialisation and data order,
 *
 *   source-only  F and C on labelled source scenes (CE alone);
 *   lsd          LSD-seg on labelled source + unlabelled target scenes;
 *   oracle       F and C on labelled target scenes (the upper bound),
 *
 * evaluates each on held-out labelled target scenes (every --eval-every
 * iterations for the curves, and at the end), prints a per-class IoU table and
 * writes a report folder: report.html, SVG curves, PNG grids, summary.csv and
 * one log.csv per run. docs/demo.md explains the configuration.
 *
 * Every file is a pure function of the options (seed included): the only
 * timing output is on stderr and in timing.txt.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../data/metrics.h"
#include "../data/synth.h"
#include "../data/synthset.h"
#include "../gan/lsd.h"
#include "../tensor/rng.h"
#include "dview.h"
#include "options.h"
#include "progress.h"
#include "report.h"

int cmd_demo(int argc, char **argv);

enum { M_SOURCE = 0, M_LSD = 1, M_ORACLE = 2, M_COUNT = 3 };
static const char *const method_name[M_COUNT] = {"source-only", "lsd", "oracle"};
static const char *const method_title[M_COUNT] = {"source only", "LSD (adapted)",
                                                  "oracle (target labels)"};
static const char *const method_color[M_COUNT] = {"#d62728", "#1f77b4", "#2ca02c"};
/* relative cost of an iteration at 64x128 with one thread (lsd_step ~ 6x
 * lsd_step_source_only); with two or more threads LSD's lanes run side by side (~3x the
 * source-only run, which then shares the machine with the oracle's) */
static const double method_cost[M_COUNT] = {1, 6, 1};
#define LSD_COST_LANES 3.0

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

/* What one run leaves behind for the report. */
typedef struct {
    long iters;
    double *loss_D, *loss_G, *loss_F; /* (iters) */
    int n_eval;
    double *eval_it, *eval_miou;      /* (n_eval) */
    double iou[SYNTH_NUM_CLASSES], miou, pixel_acc;
    uint8_t *pred;                    /* (n_show, H, W) predictions on the first val scenes */
    double *recon;                    /* lsd only: (2 * n_show, 3, H, W) G(F(src)), G(F(tgt)) */
    DView dview[4];                   /* lsd only: D's views, source and target, start, end */
    double seconds;
} RunResult;

typedef struct {
    SynthSet src, tgt, val;
} DemoData;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg demo [OPTIONS]\n"
            "\n"
            "Trains source-only, LSD and a target-labelled oracle on the built-in synthetic\n"
            "domains from the same initialisation and data order, evaluates them on held-out\n"
            "target scenes and writes a report folder (report.html, curves, image grids,\n"
            "summary.csv, <method>/log.csv). Reproducible to the bit for a given seed.\n"
            "\n"
            "options:\n"
            "  --seed S         seed of data, initialisation, order and dropout (1)\n"
            "  --out DIR        report folder (demo-out)\n"
            "  --iters N        training iterations of each run (2000)\n"
            "  --eval-every K   evaluate on the target val scenes every K iterations (200)\n"
            "  --size HxW       image size, multiples of 32 (64x128)\n"
            "  --width V,FC,G,D channels: VGG conv1, fc6/fc7, ngf, ndf (4,32,4,8)\n"
            "  --n-train N      source and target training scenes (400 each)\n"
            "  --n-val N        held-out labelled target scenes (96)\n"
            "  --lr-f X         Adam learning rate of F and C weights, biases 2x (2e-4)\n"
            "  --lr-gd X        Adam learning rate of G and D (2e-4)\n"
            "  --decay-at X     F's learning rates x0.1 after this fraction of --iters (0.75)\n"
            "  --adv X          weight of F's adversarial terms (2; the paper's 0.1 is too weak here)\n"
            "  --threads T      OpenMP threads (default: OMP_NUM_THREADS or all cores)\n"
            "  --methods LIST   train only these of source-only,lsd,oracle (no report)\n"
            "  --quick          a smoke run: 32x64, 6 iterations, tiny sets\n"
            "  --quiet          no progress lines\n"
            "  --help           this text\n"
            "recipe (LSD; source only and the oracle take its --adam):\n" OPT_RECIPE_USAGE);
}

/* 1 if a is one of the options that take a value. */
static int takes_value(const char *a)
{
    static const char *const names[] = {"--seed", "--out", "--iters", "--eval-every", "--size",
                                        "--width", "--n-train", "--n-val", "--lr-f", "--lr-gd",
                                        "--decay-at", "--adv", "--methods", "--threads"};
    size_t k;
    for (k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!strcmp(a, names[k])) return 1;
    return 0;
}

static void defaults(DemoOpts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->out = "demo-out";
    o->H = 64, o->W = 128;
    o->cfg.vgg = 4, o->cfg.fc = 32, o->cfg.ngf = 4, o->cfg.ndf = 8;
    o->cfg.n_class = SYNTH_NUM_CLASSES;
    o->iters = 2000;
    o->eval_every = 200;
    o->n_src = o->n_tgt = 400;
    o->n_val = 96;
    o->n_show = 4;
    o->lr_f = 2e-4, o->lr_gd = 2e-4;
    o->adv_w = 2.0, o->c_w = 0.1, o->l1_w = 1.0;
    o->decay_at = 0.75;
    o->run[0] = o->run[1] = o->run[2] = 1;
}

/* Parses the options; returns 0, 1 after --help, or 2 on an error (message printed). */
static int parse(DemoOpts *o, int argc, char **argv)
{
    int i;
    long v;
    defaults(o);
    for (i = 1; i < argc; i++) /* --quick first, so that later options override it */
        if (!strcmp(argv[i], "--quick")) {
            o->H = 32, o->W = 64;
            o->cfg.vgg = 4, o->cfg.fc = 16, o->cfg.ngf = 4, o->cfg.ndf = 4;
            o->iters = 6, o->eval_every = 3;
            o->n_src = o->n_tgt = 8, o->n_val = 4, o->n_show = 2;
        }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--quick")) {
            takes = 0;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1, takes = 0;
        } else if (!val && takes_value(a)) {
            fprintf(stderr, "lsdseg demo: %s needs a value (see lsdseg demo --help)\n", a);
            return 2;
        } else if (!val) {
            fprintf(stderr, "lsdseg demo: unknown option '%s' (see lsdseg demo --help)\n", a);
            return 2;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            o->seed = (uint64_t)strtoull(val, &end, 10);
            bad = errno || end == val || *end || val[0] == '-';
        } else if (!strcmp(a, "--out")) {
            o->out = val;
            bad = !*val;
        } else if (!strcmp(a, "--iters")) {
            if (opt_long("demo", a, val, 1, 100000000L, &o->iters)) return 2;
        } else if (!strcmp(a, "--eval-every")) {
            if (opt_long("demo", a, val, 1, 100000000L, &v)) return 2;
            o->eval_every = (int)v;
        } else if (!strcmp(a, "--size")) {
            bad = sscanf(val, "%dx%d", &o->H, &o->W) != 2 || o->H < 32 || o->W < 32 ||
                  o->H > 1024 || o->W > 2048 || o->H % 32 || o->W % 32;
        } else if (!strcmp(a, "--width")) {
            bad = sscanf(val, "%d,%d,%d,%d", &o->cfg.vgg, &o->cfg.fc, &o->cfg.ngf,
                         &o->cfg.ndf) != 4 || o->cfg.vgg < 1 || o->cfg.fc < 1 ||
                  o->cfg.ngf < 1 || o->cfg.ndf < 1 || o->cfg.vgg > 64 || o->cfg.fc > 4096 ||
                  o->cfg.ngf > 64 || o->cfg.ndf > 64;
        } else if (!strcmp(a, "--n-train")) {
            if (opt_long("demo", a, val, 1, 100000, &v)) return 2;
            o->n_src = o->n_tgt = (int)v;
        } else if (!strcmp(a, "--n-val")) {
            if (opt_long("demo", a, val, 1, 100000, &v)) return 2;
            o->n_val = (int)v;
        } else if (!strcmp(a, "--lr-f")) {
            if (opt_double("demo", a, val, 0, 1e6, &o->lr_f)) return 2;
        } else if (!strcmp(a, "--lr-gd")) {
            if (opt_double("demo", a, val, 0, 1e6, &o->lr_gd)) return 2;
        } else if (!strcmp(a, "--decay-at")) {
            if (opt_double("demo", a, val, 0, 1, &o->decay_at)) return 2;
        } else if (!strcmp(a, "--adv")) {
            if (opt_double("demo", a, val, 0, 1e6, &o->adv_w)) return 2;
        } else if (!strcmp(a, "--methods")) {
            int k;
            for (k = 0; k < M_COUNT; k++) o->run[k] = strstr(val, method_name[k]) != NULL;
            bad = !o->run[0] && !o->run[1] && !o->run[2];
        } else if (!strcmp(a, "--threads")) {
            if (opt_long("demo", a, val, 1, 1024, &v)) return 2;
            o->threads = (int)v;
        } else if (opt_is_recipe_option(a)) {
            if (opt_recipe_arg("demo", &o->rec, a, val)) return 2;
        } else {
            fprintf(stderr, "lsdseg demo: unknown option '%s' (see lsdseg demo --help)\n", a);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "lsdseg demo: bad value '%s' for %s (see lsdseg demo --help)\n",
                    val, a);
            return 2;
        }
        i += takes;
    }
    if (o->n_show > o->n_val) o->n_show = o->n_val;
    return 0;
}

/* ------------------------------------------------------------------ evaluation */

/* The evaluation's inference buffers: one work and one input per worker thread, and the
 * predictions of every val scene. */
typedef struct {
    int n;         /* workers */
    LsdWork *w;    /* (n) inference works */
    real *x;       /* (n, 3, H, W) inputs */
    uint8_t *pred; /* (n_val, H, W) */
} EvalWork;

/* This thread's number in the current parallel region (0 without OpenMP). */
static int thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static void eval_free(EvalWork *ev)
{
    int t;
    for (t = 0; t < ev->n && ev->w; t++) lsd_work_free(&ev->w[t]);
    free(ev->w);
    free(ev->x);
    free(ev->pred);
    memset(ev, 0, sizeof *ev);
}

/* One worker per thread (at most 16, at most one per val scene). */
static int eval_create(EvalWork *ev, const LsdConfig *c, int n_val, int H, int W, lsd_err *e)
{
    int t, n = lsd_num_threads();
    size_t hw = (size_t)H * W;
    memset(ev, 0, sizeof *ev);
    if (n > 16) n = 16;
    if (n > n_val) n = n_val;
    if (n < 1) n = 1;
    ev->w = (LsdWork *)calloc((size_t)n, sizeof *ev->w);
    ev->x = (real *)malloc((size_t)n * 3 * hw * sizeof(real));
    ev->pred = (uint8_t *)malloc((size_t)(n_val > 0 ? n_val : 1) * hw);
    if (!ev->w || !ev->x || !ev->pred) {
        eval_free(ev);
        return lsd_fail(e, LSD_ERR_NOMEM, "out of memory for the evaluation");
    }
    for (t = 0; t < n; t++, ev->n++)
        if (lsd_work_create(&ev->w[t], c, 1, H, W, LSD_WORK_INFER, e)) {
            eval_free(ev);
            return e->code;
        }
    return LSD_OK;
}

/* Scores the model on every val scene; keeps the first n_show predictions if pred_out. The
 * scenes are shared among the workers (each prediction is the same whichever computes it),
 * then counted in order. */
static int evaluate(const LsdModel *m, EvalWork *ev, const SynthSet *val, int n_show,
                    uint8_t *pred_out, seg_scores *sc)
{
    confusion cm;
    lsd_err e;
    size_t hw = (size_t)val->H * (size_t)val->W;
    int k;
    if (confusion_init(&cm, m->cfg.n_class, &e)) {
        fprintf(stderr, "lsdseg demo: %s\n", e.msg);
        return -1;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(ev->n) if (ev->n > 1)
#endif
    for (k = 0; k < val->n; k++) {
        int t = thread_num();
        real *x = ev->x + (size_t)t * 3 * hw;
#ifdef _OPENMP
        omp_set_num_threads(1); /* the worker's layers run on its own thread */
#endif
        synth_image_to_input(x, NULL, val->rgb + (size_t)k * hw * 3, val->H, val->W);
        lsd_infer(m, &ev->w[t], x);
        lsd_argmax(ev->pred + (size_t)k * hw, ev->w[t].ca.score, m->cfg.n_class, val->H, val->W);
    }
    for (k = 0; k < val->n; k++) {
        if (confusion_add(&cm, val->label + (size_t)k * hw, ev->pred + (size_t)k * hw, hw, &e)) {
            fprintf(stderr, "lsdseg demo: %s\n", e.msg);
            confusion_free(&cm);
            return -1;
        }
        if (pred_out && k < n_show) memcpy(pred_out + (size_t)k * hw, ev->pred + (size_t)k * hw, hw);
    }
    confusion_scores(&cm, NULL, 0, sc);
    confusion_free(&cm);
    return 0;
}

/* ------------------------------------------------------------------ one run */

static void run_free(RunResult *r)
{
    free(r->loss_D);
    free(r->loss_G);
    free(r->loss_F);
    free(r->eval_it);
    free(r->eval_miou);
    free(r->pred);
    free(r->recon);
    dview_free(r->dview, 4);
    memset(r, 0, sizeof *r);
}

/* G's reconstructions of the first n_show source and val scenes (no dropout). */
static void reconstruct(LsdModel *m, LsdWork *w, const DemoData *d, const DemoOpts *o,
                        real *xs, real *xt, real *xs01, real *xt01, uint8_t *ys, double *recon)
{
    size_t hw = (size_t)o->H * o->W, n3 = 3 * hw, i;
    int k, bgr = opt_recipe_value(&o->rec).d_input == LSD_DINPUT_BGR;
    LsdBatch b;
    b.xs = xs, b.xt = xt, b.xs01 = xs01, b.xt01 = xt01, b.ys = ys;
    lsd_work_draw_masks(w, 0, 0, 0);
    for (k = 0; k < o->n_show; k++) {
        synthset_batch(&d->src, &k, 1, xs, xs01, ys);
        synthset_batch(&d->val, &k, 1, xt, xt01, NULL);
        lsd_forward_all(m, w, &b);
        for (i = 0; i < n3; i++) { /* G's images in RGB order (G learnt BGR with bgr) */
            size_t j = bgr ? (2 - i / hw) * hw + i % hw : i;
            recon[(size_t)(2 * k) * n3 + i] = w->ga[LSD_SRC].img[j];
            recon[(size_t)(2 * k + 1) * n3 + i] = w->ga[LSD_TGT].img[j];
        }
    }
}

/* Trains one method from the seed's initialisation; fills r. Returns 0 or -1. */
static int run_method(int method, const DemoOpts *o, const DemoData *d, RunResult *r,
                      double *est_left, const char *label_text, int quiet)
{
    LsdModel m;
    LsdWork w;
    EvalWork ev;
    LsdStepOptions so = lsd_step_defaults();
    lsd_err e;
    size_t hw = (size_t)o->H * o->W, n3 = 3 * hw;
    real *xs = NULL, *xt = NULL, *xs01 = NULL, *xt01 = NULL;
    uint8_t *ys = NULL;
    int *perm_s = NULL, *perm_t = NULL, rc = -1, ne = 0;
    long it;
    char path[4096], text[200], label[64];
    FILE *log = NULL;
    lsd_progress pg;
    uint64_t st_src = rng_stream_of("demo.order.source"),
             st_tgt = rng_stream_of("demo.order.target");
    seg_scores sc;

    memset(r, 0, sizeof *r);
    memset(&m, 0, sizeof m);
    memset(&w, 0, sizeof w);
    memset(&ev, 0, sizeof ev);
    r->iters = o->iters;
    r->loss_D = (double *)calloc((size_t)o->iters, sizeof(double));
    r->loss_G = (double *)calloc((size_t)o->iters, sizeof(double));
    r->loss_F = (double *)calloc((size_t)o->iters, sizeof(double));
    r->eval_it = (double *)calloc((size_t)(o->iters / o->eval_every + 2), sizeof(double));
    r->eval_miou = (double *)calloc((size_t)(o->iters / o->eval_every + 2), sizeof(double));
    r->pred = (uint8_t *)calloc((size_t)o->n_show * hw, 1);
    if (method == M_LSD) r->recon = (double *)calloc((size_t)2 * o->n_show * n3, sizeof(double));
    xs = (real *)malloc(n3 * sizeof(real));
    xt = (real *)malloc(n3 * sizeof(real));
    xs01 = (real *)malloc(n3 * sizeof(real));
    xt01 = (real *)malloc(n3 * sizeof(real));
    ys = (uint8_t *)malloc(hw);
    perm_s = (int *)malloc((size_t)d->src.n * sizeof(int));
    perm_t = (int *)malloc((size_t)d->tgt.n * sizeof(int));
    if (!r->loss_D || !r->loss_G || !r->loss_F || !r->eval_it || !r->eval_miou || !r->pred ||
        (method == M_LSD && !r->recon) || !xs || !xt || !xs01 || !xt01 || !ys ||
        !perm_s || !perm_t) {
        fprintf(stderr, "lsdseg demo: out of memory\n");
        goto done;
    }
    if (lsd_model_create(&m, &o->cfg, &e) || lsd_model_init(&m, o->seed, NULL, &e) ||
        lsd_work_create(&w, &o->cfg, 1, o->H, o->W,
                        method == M_LSD ? LSD_WORK_TRAIN : LSD_WORK_SOURCE_ONLY, &e) ||
        eval_create(&ev, &o->cfg, d->val.n, o->H, o->W, &e)) {
        fprintf(stderr, "lsdseg demo: %s\n", e.msg);
        goto done;
    }
    so.lr_f_weight = o->lr_f, so.lr_f_bias = 2 * o->lr_f;
    so.lr_gd = o->lr_gd;
    so.adv_weight = o->adv_w, so.c_weight = o->c_w, so.l1_weight = o->l1_w;
    so.seed = o->seed;
    so.dropout = LSD_DROPOUT_RNG;
    so.recipe = opt_recipe_value(&o->rec);

    snprintf(path, sizeof path, "%s/%s", o->out, method_name[method]);
    if (opt_mkdirs(path, &e)) {
        fprintf(stderr, "lsdseg demo: %s\n", e.msg);
        goto done;
    }
    snprintf(path, sizeof path, "%s/%s/log.csv", o->out, method_name[method]);
    if (!(log = fopen(path, "w"))) {
        fprintf(stderr, "lsdseg demo: cannot write %s\n", path);
        goto done;
    }
    fprintf(log, "iter,loss_D,loss_G,loss_F,target_miou\n");
    if (method == M_LSD && dview_capture(&r->dview[0], &m, &w, &d->src, &d->val,
                                         so.recipe.d_input == LSD_DINPUT_BGR, &e)) {
        fprintf(stderr, "lsdseg demo: %s\n", e.msg); /* D's view at the start */
        goto done;
    }

    if (label_text) snprintf(label, sizeof label, "%s", label_text);
    else snprintf(label, sizeof label, "[%d/3] %-11s", method + 1, method_name[method]);
    progress_start(&pg, label, o->iters, o->quiet || quiet);
    for (it = 0; it < o->iters; it++) {
        int is = synthset_order(perm_s, d->src.n, o->seed, st_src, it);
        int itg = synthset_order(perm_t, d->tgt.n, o->seed, st_tgt, it);
        LsdBatch b;
        int src_ok;
        double el;
        b.xs = xs, b.xt = xt, b.xs01 = xs01, b.xt01 = xt01, b.ys = ys;
        if (it == (long)(o->decay_at * (double)o->iters)) { /* the authors' step schedule */
            so.lr_f_weight *= 0.1;
            so.lr_f_bias *= 0.1;
        }
        if (method == M_ORACLE) /* the oracle: the same code path fed target scenes */
            synthset_batch(&d->tgt, &itg, 1, xs, NULL, ys);
        else
            synthset_batch(&d->src, &is, 1, xs, xs01, ys);
        if (method == M_LSD) {
            LsdLosses L;
            synthset_batch(&d->tgt, &itg, 1, xt, xt01, NULL); /* labels never read */
            src_ok = lsd_step(&m, &w, &b, &so, &L, &e);
            r->loss_D[it] = L.loss_D, r->loss_G[it] = L.loss_G, r->loss_F[it] = L.loss_F;
        } else {
            src_ok = lsd_step_source_only(&m, &w, &b, &so, &r->loss_F[it], &e);
            r->loss_D[it] = r->loss_G[it] = NAN;
        }
        if (src_ok) {
            fprintf(stderr, "\nlsdseg demo: %s\n", e.msg);
            goto done;
        }
        if (!(r->loss_F[it] < HUGE_VAL) || (method == M_LSD && !(r->loss_D[it] < HUGE_VAL &&
                                                                 r->loss_G[it] < HUGE_VAL))) {
            fprintf(stderr, "\nlsdseg demo: %s diverged at iteration %ld (loss %g); try a "
                            "lower --lr-f / --lr-gd\n", method_name[method], it + 1,
                    r->loss_F[it]);
            goto done;
        }
        fprintf(log, "%ld,%.9g,%.9g,%.9g,", it + 1, r->loss_D[it], r->loss_G[it],
                r->loss_F[it]);
        if ((it + 1) % o->eval_every == 0 || it + 1 == o->iters) {
            if (evaluate(&m, &ev, &d->val, o->n_show,
                         it + 1 == o->iters ? r->pred : NULL, &sc))
                goto done;
            r->eval_it[ne] = (double)(it + 1);
            r->eval_miou[ne++] = 100 * sc.miou;
            fprintf(log, "%.6f", 100 * sc.miou);
        }
        fprintf(log, "\n");
        el = lsd_now() - pg.t0;
        pg.extra_s = est_left ? el / (double)(it + 1) * (double)o->iters * (*est_left) /
                                  method_cost[method]
                            : 0;
        if (method == M_LSD)
            snprintf(text, sizeof text, "D %.4g G %.4g F %.4g  mIoU %.1f", r->loss_D[it],
                     r->loss_G[it], r->loss_F[it], ne ? r->eval_miou[ne - 1] : 0.0);
        else
            snprintf(text, sizeof text, "CE %.4g  mIoU %.1f", r->loss_F[it],
                     ne ? r->eval_miou[ne - 1] : 0.0);
        progress_update(&pg, it + 1, text);
    }
    r->n_eval = ne;
    memcpy(r->iou, sc.iou, sizeof r->iou);
    r->miou = 100 * sc.miou;
    r->pixel_acc = 100 * sc.pixel_acc;
    if (method == M_LSD) reconstruct(&m, &w, d, o, xs, xt, xs01, xt01, ys, r->recon);
    if (method == M_LSD && dview_capture(&r->dview[2], &m, &w, &d->src, &d->val,
                                         so.recipe.d_input == LSD_DINPUT_BGR, &e)) {
        fprintf(stderr, "lsdseg demo: %s\n", e.msg); /* D's view at the end */
        goto done;
    }
    snprintf(text, sizeof text, "target mIoU %.2f", r->miou);
    r->seconds = progress_end(&pg, text);
    if (fclose(log)) {
        log = NULL;
        fprintf(stderr, "lsdseg demo: cannot write %s\n", path);
        goto done;
    }
    log = NULL;
    rc = 0;
done:
    if (log) fclose(log);
    lsd_work_free(&w);
    eval_free(&ev);
    lsd_model_free(&m);
    free(xs);
    free(xt);
    free(xs01);
    free(xt01);
    free(ys);
    free(perm_s);
    free(perm_t);
    return rc;
}

/* ------------------------------------------------------------------ report */

static int write_summary(const DemoOpts *o, const RunResult *r)
{
    char path[4096];
    FILE *f;
    int k, c;
    snprintf(path, sizeof path, "%s/summary.csv", o->out);
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "lsdseg demo: cannot write %s\n", path);
        return -1;
    }
    fprintf(f, "method,seed,target_miou");
    for (c = 0; c < SYNTH_NUM_CLASSES; c++) fprintf(f, ",%s", synth_class_name(c));
    fprintf(f, "\n");
    for (k = 0; k < M_COUNT; k++) {
        fprintf(f, "%s,%llu,%.4f", method_name[k], (unsigned long long)o->seed, r[k].miou);
        for (c = 0; c < SYNTH_NUM_CLASSES; c++) fprintf(f, ",%.4f", 100 * r[k].iou[c]);
        fprintf(f, "\n");
    }
    if (fclose(f)) {
        fprintf(stderr, "lsdseg demo: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int write_charts(const DemoOpts *o, const RunResult *r)
{
    char path[4096];
    report_series s[M_COUNT + 1];
    double *x = (double *)malloc((size_t)o->iters * sizeof(double));
    double *sm[4];
    int k, rc = 0, win = (int)(o->iters / 25) | 1;
    long i;
    for (k = 0; k < 4; k++) sm[k] = (double *)malloc((size_t)o->iters * sizeof(double));
    if (!x || !sm[0] || !sm[1] || !sm[2] || !sm[3]) {
        fprintf(stderr, "lsdseg demo: out of memory\n");
        rc = -1;
        goto done;
    }
    for (i = 0; i < o->iters; i++) x[i] = (double)(i + 1);
    /* target mIoU over iterations */
    for (k = 0; k < M_COUNT; k++) {
        s[k].name = method_title[k], s[k].color = method_color[k];
        s[k].x = r[k].eval_it, s[k].y = r[k].eval_miou, s[k].n = r[k].n_eval;
    }
    snprintf(path, sizeof path, "%s/miou.svg", o->out);
    rc |= report_svg_chart(path, "Target validation mIoU (%)", "iteration", "mIoU (%)", s,
                           M_COUNT, 640, 320, 0);
    /* F's loss (segmentation CE; LSD's also holds its adversarial terms) */
    for (k = 0; k < M_COUNT; k++) {
        report_smooth(sm[k], r[k].loss_F, (int)o->iters, win);
        s[k].x = x, s[k].y = sm[k], s[k].n = (int)o->iters;
    }
    s[M_LSD].name = "LSD: CE + adversarial terms";
    s[M_ORACLE].name = "oracle (CE on target)";
    s[M_SOURCE].name = "source only (CE on source)";
    snprintf(path, sizeof path, "%s/loss_f.svg", o->out);
    rc |= report_svg_chart(path, "loss of F and C per image (moving average)", "iteration",
                           "loss", s, M_COUNT, 640, 320, 1);
    /* LSD's D and G */
    report_smooth(sm[0], r[M_LSD].loss_D, (int)o->iters, win);
    report_smooth(sm[1], r[M_LSD].loss_G, (int)o->iters, win);
    s[0].name = "loss_D", s[0].color = "#9467bd", s[0].x = x, s[0].y = sm[0];
    s[1].name = "loss_G", s[1].color = "#ff7f0e", s[1].x = x, s[1].y = sm[1];
    s[0].n = s[1].n = (int)o->iters;
    snprintf(path, sizeof path, "%s/loss_gd.svg", o->out);
    rc |= report_svg_chart(path, "LSD: losses of D and G (moving average)", "iteration", "loss",
                           s, 2, 640, 320, 1);
done:
    free(x);
    for (k = 0; k < 4; k++) free(sm[k]);
    return rc ? -1 : 0;
}

static int write_grids(const DemoOpts *o, const DemoData *d, const RunResult *r)
{
    report_grid g;
    char path[4096];
    size_t hw = (size_t)o->H * o->W;
    int k, rc = 0;
    /* predictions: target image, ground truth, source-only, LSD, oracle */
    if (report_grid_create(&g, o->n_show, 5, o->H, o->W, 4)) return -1;
    for (k = 0; k < o->n_show; k++) {
        report_grid_put_rgb(&g, k, 0, d->val.rgb + (size_t)k * hw * 3);
        report_grid_put_labels(&g, k, 1, d->val.label + (size_t)k * hw);
        report_grid_put_labels(&g, k, 2, r[M_SOURCE].pred + (size_t)k * hw);
        report_grid_put_labels(&g, k, 3, r[M_LSD].pred + (size_t)k * hw);
        report_grid_put_labels(&g, k, 4, r[M_ORACLE].pred + (size_t)k * hw);
    }
    snprintf(path, sizeof path, "%s/predictions.png", o->out);
    rc |= report_grid_save(&g, path);
    report_grid_free(&g);
    /* G's reconstructions: source, G(F(source)), target, G(F(target)) */
    if (report_grid_create(&g, o->n_show, 4, o->H, o->W, 4)) return -1;
    for (k = 0; k < o->n_show; k++) {
        report_grid_put_rgb(&g, k, 0, d->src.rgb + (size_t)k * hw * 3);
        report_grid_put_planar01(&g, k, 1, r[M_LSD].recon + (size_t)(2 * k) * 3 * hw);
        report_grid_put_rgb(&g, k, 2, d->val.rgb + (size_t)k * hw * 3);
        report_grid_put_planar01(&g, k, 3, r[M_LSD].recon + (size_t)(2 * k + 1) * 3 * hw);
    }
    snprintf(path, sizeof path, "%s/reconstructions.png", o->out);
    rc |= report_grid_save(&g, path);
    report_grid_free(&g);
    rc |= dview_demo_png(o->out, r[M_LSD].dview); /* D's decisions, start and end */
    return rc ? -1 : 0;
}

static void fmt_iou(char *buf, double v)
{
    if (v == v)
        sprintf(buf, "%.1f", 100 * v);
    else
        strcpy(buf, "-");
}

static int write_html(const DemoOpts *o, const RunResult *r)
{
    char path[4096], b[32];
    FILE *f;
    int k, c;
    snprintf(path, sizeof path, "%s/report.html", o->out);
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "lsdseg demo: cannot write %s\n", path);
        return -1;
    }
    fprintf(f,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
            "<title>lsdseg demo, seed %llu</title>\n<style>\n"
            "body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}\n"
            "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px;"
            "text-align:right}th{background:#eee}td.l{text-align:left}\n"
            "img{max-width:100%%;image-rendering:pixelated}.sw{display:inline-block;width:12px;"
            "height:12px;margin-right:4px;vertical-align:middle}\n</style></head><body>\n"
            "<h1>LSD-seg on the built-in synthetic domains</h1>\n"
            "<p>A segmenter (FCN-8s F and C) trained on the flat-shaded <i>source</i> style is "
            "evaluated on held-out scenes of the textured, noisy <i>target</i> style. "
            "<b>source only</b> trains on labelled source scenes; <b>LSD</b> adds unlabelled "
            "target scenes and the generator/discriminator of Sankaranarayanan et al. (CVPR "
            "2018); the <b>oracle</b> trains on labelled target scenes (an upper bound). All "
            "three start from the same initialisation and see the data in the same order.</p>\n",
            (unsigned long long)o->seed);
    fprintf(f,
            "<p>Configuration: seed %llu, %dx%d images, widths vgg %d, fc %d, ngf %d, ndf %d, "
            "%d classes; %ld iterations of batch 1 per method; Adam, F and C lr %g (biases "
            "%g; both x0.1 after %.0f%% of the iterations), G and D lr %g; loss weights adv %g, cls %g, L1 %g; %d source and %d target "
            "training scenes, %d held-out target scenes (evaluated every %d iterations). "
            "F starts from He-normal weights (no VGG16 file).</p>\n",
            (unsigned long long)o->seed, o->H, o->W, o->cfg.vgg, o->cfg.fc, o->cfg.ngf,
            o->cfg.ndf, o->cfg.n_class, o->iters, o->lr_f, 2 * o->lr_f, 100 * o->decay_at, o->lr_gd, o->adv_w,
            o->c_w, o->l1_w, o->n_src, o->n_tgt, o->n_val, o->eval_every);
    fprintf(f, "<h2>Target IoU per class (%%)</h2>\n<table><tr><th>method</th><th>mIoU</th>");
    for (c = 0; c < SYNTH_NUM_CLASSES; c++) {
        uint8_t rgb[3];
        synth_class_color(c, rgb);
        fprintf(f, "<th><span class=\"sw\" style=\"background:#%02x%02x%02x\"></span>%s</th>",
                rgb[0], rgb[1], rgb[2], synth_class_name(c));
    }
    fprintf(f, "<th>pixel acc.</th></tr>\n");
    for (k = 0; k < M_COUNT; k++) {
        fprintf(f, "<tr><td class=\"l\">%s</td><td><b>%.1f</b></td>", method_title[k],
                r[k].miou);
        for (c = 0; c < SYNTH_NUM_CLASSES; c++) {
            fmt_iou(b, r[k].iou[c]);
            fprintf(f, "<td>%s</td>", b);
        }
        fprintf(f, "<td>%.1f</td></tr>\n", r[k].pixel_acc);
    }
    fprintf(f, "</table>\n<p>LSD minus source only: <b>%+.1f</b> mIoU points; the oracle "
               "leaves %.1f points to gain.</p>\n",
            r[M_LSD].miou - r[M_SOURCE].miou, r[M_ORACLE].miou - r[M_LSD].miou);
    fprintf(f,
            "<h2>Curves</h2>\n<p><img src=\"miou.svg\" alt=\"target mIoU\"></p>\n"
            "<p><img src=\"loss_f.svg\" alt=\"loss of F\"></p>\n"
            "<p><img src=\"loss_gd.svg\" alt=\"losses of D and G\"></p>\n"
            "<h2>Predictions on held-out target scenes</h2>\n"
            "<p>Columns: target image, ground truth, source only, LSD, oracle.</p>\n"
            "<p><img src=\"predictions.png\" alt=\"predictions\" width=\"%d\"></p>\n"
            "<h2>G's reconstructions (LSD)</h2>\n"
            "<p>Columns: source image, G(F(source)), target image, G(F(target)).</p>\n"
            "<p><img src=\"reconstructions.png\" alt=\"reconstructions\" width=\"%d\"></p>\n",
            (5 * o->W + 24) * 2 > 960 ? 960 : (5 * o->W + 24) * 2,
            (4 * o->W + 20) * 2 > 960 ? 960 : (4 * o->W + 20) * 2);
    dview_demo_html(f, r[M_LSD].dview, 960); /* ref/dview.c: d_decisions.png */
    fprintf(f,
            "<p>Files: <a href=\"summary.csv\">summary.csv</a>, "
            "<a href=\"source-only/log.csv\">source-only/log.csv</a>, "
            "<a href=\"lsd/log.csv\">lsd/log.csv</a>, "
            "<a href=\"oracle/log.csv\">oracle/log.csv</a>. Written by lsdseg %s "
            "(real = %s).</p>\n</body></html>\n",
            LSD_VERSION, LSD_PRECISION_NAME);
    if (fclose(f)) {
        fprintf(stderr, "lsdseg demo: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static void print_table(const DemoOpts *o, const RunResult *r)
{
    int k, c;
    char b[32];
    printf("\nTarget IoU per class (%%), seed %llu, %ld iterations, %dx%d:\n\n",
           (unsigned long long)o->seed, o->iters, o->H, o->W);
    printf("%-23s %6s", "method", "mIoU");
    for (c = 0; c < SYNTH_NUM_CLASSES; c++) printf(" %10.10s", synth_class_name(c));
    printf("\n");
    for (k = 0; k < M_COUNT; k++) {
        printf("%-23s %6.1f", method_title[k], r[k].miou);
        for (c = 0; c < SYNTH_NUM_CLASSES; c++) {
            fmt_iou(b, r[k].iou[c]);
            printf(" %10s", b);
        }
        printf("\n");
    }
    printf("\nLSD - source only: %+.1f mIoU points (oracle - LSD: %.1f)\n",
           r[M_LSD].miou - r[M_SOURCE].miou, r[M_ORACLE].miou - r[M_LSD].miou);
}

/* ------------------------------------------------------------------ training the methods */

/* Source only (k = 0) or the oracle (k = 1) for lsd_run_two; the progress line is source
 * only's, whose ETA covers the pair and LSD after it. */
typedef struct {
    const DemoOpts *o;
    const DemoData *d;
    RunResult *r;
    double *left;
    int fail[2];
} Pair;

static void pair_run(void *ctx, int k)
{
    Pair *p = (Pair *)ctx;
    int m = k ? M_ORACLE : M_SOURCE;
    p->fail[k] = run_method(m, p->o, p->d, &p->r[m], k ? NULL : p->left,
                            "[1,3/3] source-only + oracle", k);
}

/* Trains the methods asked for. Source only and the oracle are independent runs of one
 * thread-count-independent computation: with two or more threads they run side by side,
 * each with half of the threads (lsd_run_two), then LSD with all. */
static int run_all(const DemoOpts *o, const DemoData *d, RunResult *r, double *left)
{
    int k;
    if (o->run[M_SOURCE] && o->run[M_ORACLE] && lsd_num_threads() >= 2) {
        Pair p;
        p.o = o, p.d = d, p.r = r, p.left = left, p.fail[0] = p.fail[1] = 0;
        *left = o->run[M_LSD] ? LSD_COST_LANES : 0; /* after the pair, whose cost is 1 */
        lsd_run_two(pair_run, &p);
        if (p.fail[0] || p.fail[1]) return -1;
        if (!o->run[M_LSD]) return 0;
        *left = 0;
        return run_method(M_LSD, o, d, &r[M_LSD], left, "[2/3] lsd        ", 0);
    }
    for (k = 0; k < M_COUNT; k++) {
        if (!o->run[k]) continue;
        *left -= method_cost[k];
        if (run_method(k, o, d, &r[k], left, NULL, 0)) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ command */

int cmd_demo(int argc, char **argv)
{
    DemoOpts o;
    DemoData d;
    RunResult r[M_COUNT];
    lsd_err e;
    int rc, k, status = 1;
    double t0 = lsd_now(), left, total_cost;
    char path[4096], a[16];
    FILE *tf;

    if ((rc = parse(&o, argc, argv))) return rc == 1 ? 0 : 2;
#ifdef _OPENMP
    if (o.threads) omp_set_num_threads(o.threads);
#endif
    memset(&d, 0, sizeof d);
    memset(r, 0, sizeof r);
    if (opt_mkdirs(o.out, &e)) {
        fprintf(stderr, "lsdseg demo: %s\n", e.msg);
        return 1;
    }
    if (!o.quiet)
        fprintf(stderr, "lsdseg demo: seed %llu, %dx%d, widths %d,%d,%d,%d, %ld iterations "
                        "per method, %d threads, report in %s/\n",
                (unsigned long long)o.seed, o.H, o.W, o.cfg.vgg, o.cfg.fc, o.cfg.ngf,
                o.cfg.ndf, o.iters, lsd_num_threads(), o.out);
    /* three scene sets with disjoint layouts: generator seeds seed + k * 2^32 */
    if (synthset_create(&d.src, SYNTH_SOURCE, o.seed + (1ULL << 32), 0, o.n_src, o.H, o.W,
                        &e) ||
        synthset_create(&d.tgt, SYNTH_TARGET, o.seed + (2ULL << 32), 0, o.n_tgt, o.H, o.W,
                        &e) ||
        synthset_create(&d.val, SYNTH_TARGET, o.seed + (3ULL << 32), 0, o.n_val, o.H, o.W,
                        &e)) {
        fprintf(stderr, "lsdseg demo: %s\n", e.msg);
        goto done;
    }
    total_cost = 0;
    for (k = 0; k < M_COUNT; k++) total_cost += o.run[k] ? method_cost[k] : 0;
    left = total_cost;
    if (run_all(&o, &d, r, &left)) goto done;
    if (!o.run[0] || !o.run[1] || !o.run[2]) {
        for (k = 0; k < M_COUNT; k++)
            if (o.run[k]) printf("%s: target mIoU %.2f\n", method_name[k], r[k].miou);
        status = 0;
        goto done;
    }
    if (write_summary(&o, r) || write_charts(&o, r) || write_grids(&o, &d, r) ||
        write_html(&o, r))
        goto done;
    print_table(&o, r);
    snprintf(path, sizeof path, "%s/timing.txt", o.out);
    if ((tf = fopen(path, "w"))) {
        fprintf(tf, "threads %d\n", lsd_num_threads());
        for (k = 0; k < M_COUNT; k++)
            fprintf(tf, "%s %.1f s\n", method_name[k], r[k].seconds);
        fprintf(tf, "total %.1f s\n", lsd_now() - t0);
        fclose(tf);
    }
    printf("\nReport: %s/report.html (summary.csv, */log.csv); total time %s with %d "
           "threads\n", o.out, lsd_fmt_duration(a, lsd_now() - t0), lsd_num_threads());
    status = 0;
done:
    for (k = 0; k < M_COUNT; k++) run_free(&r[k]);
    synthset_free(&d.src);
    synthset_free(&d.tgt);
    synthset_free(&d.val);
    return status;
}
