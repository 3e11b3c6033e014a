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
#include "../layers/optim.h"
#include "../tensor/rng.h"
#include "demo.h"
#include "loop.h"
#include "progress.h"
#include "report.h"

int cmd_demo(int argc, char **argv);

/* relative cost of an iteration at 64x128 with one thread (lsd_step ~ 6x
 * lsd_step_source_only); with two or more threads LSD's lanes run side by side (~3x the
 * source-only run, which then shares the machine with the oracle's) */
static const double method_cost[M_COUNT] = {1, 6, 1};
#define LSD_COST_LANES 3.0

const char *const demo_method_name[M_COUNT] = {"source-only", "lsd", "oracle"};

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
            for (k = 0; k < M_COUNT; k++) o->run[k] = strstr(val, demo_method_name[k]) != NULL;
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
    LsdWork *works; /* (n) inference works */
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
    for (t = 0; t < ev->n && ev->works; t++) lsd_work_free(&ev->works[t]);
    free(ev->works);
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
    ev->works = (LsdWork *)calloc((size_t)n, sizeof *ev->works);
    ev->x = (real *)malloc((size_t)n * 3 * hw * sizeof(real));
    ev->pred = (uint8_t *)malloc((size_t)(n_val > 0 ? n_val : 1) * hw);
    if (!ev->works || !ev->x || !ev->pred) {
        eval_free(ev);
        return lsd_fail(e, LSD_ERR_NOMEM, "out of memory for the evaluation");
    }
    for (t = 0; t < n; t++, ev->n++)
        if (lsd_work_create(&ev->works[t], c, 1, H, W, LSD_WORK_INFER, e)) {
            eval_free(ev);
            return e->code;
        }
    return LSD_OK;
}

/* Scores the model on every val scene; keeps the first n_show predictions if pred_out. The
 * scenes are shared among the workers (each prediction is the same whichever computes it),
 * then counted in order. */
static int evaluate(const LsdModel *m, EvalWork *ev, const SynthSet *val, int n_show,
                    uint8_t *pred_out, seg_scores *sc, lsd_err *e)
{
    confusion cm;
    size_t hw = (size_t)val->H * (size_t)val->W;
    int k, rc;
    if ((rc = confusion_init(&cm, m->cfg.n_class, e))) return rc;
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
        lsd_infer(m, &ev->works[t], x);
        lsd_argmax(ev->pred + (size_t)k * hw, ev->works[t].ca.score, m->cfg.n_class, val->H,
                   val->W);
    }
    for (k = 0; k < val->n; k++) {
        if ((rc = confusion_add(&cm, val->label + (size_t)k * hw, ev->pred + (size_t)k * hw, hw,
                                e))) {
            confusion_free(&cm);
            return rc;
        }
        if (pred_out && k < n_show)
            memcpy(pred_out + (size_t)k * hw, ev->pred + (size_t)k * hw, hw);
    }
    confusion_scores(&cm, NULL, 0, sc);
    confusion_free(&cm);
    return LSD_OK;
}

/* ------------------------------------------------------------------ one run */

static void run_free(DemoResult *r)
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
static void reconstruct(LsdModel *m, LsdWork *work, const DemoData *d, const DemoOpts *o,
                        real *xs, real *xt, real *xs01, real *xt01, uint8_t *ys, double *recon)
{
    size_t hw = (size_t)o->H * o->W, n3 = 3 * hw, i;
    int k, bgr = opt_recipe_value(&o->rec).d_input == LSD_DINPUT_BGR;
    LsdBatch b;
    b.xs = xs, b.xt = xt, b.xs01 = xs01, b.xt01 = xt01, b.ys = ys;
    lsd_work_draw_masks(work, 0, 0, 0);
    for (k = 0; k < o->n_show; k++) {
        synthset_batch(&d->src, &k, 1, xs, xs01, ys);
        synthset_batch(&d->val, &k, 1, xt, xt01, NULL);
        lsd_forward_all(m, work, &b);
        for (i = 0; i < n3; i++) { /* G's images in RGB order (G learnt BGR with bgr) */
            size_t j = bgr ? (2 - i / hw) * hw + i % hw : i;
            recon[(size_t)(2 * k) * n3 + i] = work->ga[LSD_SRC].img[j];
            recon[(size_t)(2 * k + 1) * n3 + i] = work->ga[LSD_TGT].img[j];
        }
    }
}

/* One method's run: its model (the seed's initialisation), buffers and log. */
typedef struct {
    int method;
    const DemoOpts *o;
    const DemoData *d;
    DemoResult *r;
    LsdModel m;
    LsdWork work;
    EvalWork ev;
    LsdStepOptions so;
    real *xs, *xt, *xs01, *xt01; /* (3, H, W) the batch's images (docs/method.md, "Inputs") */
    uint8_t *ys;                 /* (H, W) the source labels */
    int *perm_s, *perm_t;        /* the current epoch's order of the source, target scenes */
    uint64_t order_s, order_t;   /* their RNG streams */
    FILE *log;                   /* <out>/<method>/log.csv */
    char log_path[4096];
    lsd_progress pg;
    double *est_left;            /* the other runs' cost left, for the overall ETA (or NULL) */
    seg_scores sc;               /* the last evaluation */
} DemoRun;

static void run_close(DemoRun *u)
{
    if (u->log) fclose(u->log);
    lsd_work_free(&u->work);
    eval_free(&u->ev);
    lsd_model_free(&u->m);
    free(u->xs), free(u->xt), free(u->xs01), free(u->xt01), free(u->ys);
    free(u->perm_s), free(u->perm_t);
    memset(u, 0, sizeof *u);
}

/* The run's results and buffers, model, step options, log.csv, and D's view at the start.
 * Returns LSD_OK or an error. */
static int run_open(DemoRun *u, lsd_err *e)
{
    const DemoOpts *o = u->o;
    DemoResult *r = u->r;
    size_t hw = (size_t)o->H * o->W, n3 = 3 * hw;
    long n_eval = o->iters / o->eval_every + 2;
    int rc, lsd = u->method == M_LSD;
    r->iters = o->iters;
    r->loss_D = (double *)calloc((size_t)o->iters, sizeof(double));
    r->loss_G = (double *)calloc((size_t)o->iters, sizeof(double));
    r->loss_F = (double *)calloc((size_t)o->iters, sizeof(double));
    r->eval_it = (double *)calloc((size_t)n_eval, sizeof(double));
    r->eval_miou = (double *)calloc((size_t)n_eval, sizeof(double));
    r->pred = (uint8_t *)calloc((size_t)o->n_show * hw, 1);
    if (lsd) r->recon = (double *)calloc((size_t)2 * o->n_show * n3, sizeof(double));
    u->xs = (real *)malloc(n3 * sizeof(real));
    u->xt = (real *)malloc(n3 * sizeof(real));
    u->xs01 = (real *)malloc(n3 * sizeof(real));
    u->xt01 = (real *)malloc(n3 * sizeof(real));
    u->ys = (uint8_t *)malloc(hw);
    u->perm_s = (int *)malloc((size_t)u->d->src.n * sizeof(int));
    u->perm_t = (int *)malloc((size_t)u->d->tgt.n * sizeof(int));
    if (!r->loss_D || !r->loss_G || !r->loss_F || !r->eval_it || !r->eval_miou || !r->pred ||
        (lsd && !r->recon) || !u->xs || !u->xt || !u->xs01 || !u->xt01 || !u->ys ||
        !u->perm_s || !u->perm_t)
        return lsd_fail(e, LSD_ERR_NOMEM, "out of memory");
    if ((rc = lsd_model_create(&u->m, &o->cfg, e)) ||
        (rc = lsd_model_init(&u->m, o->seed, NULL, e)) ||
        (rc = lsd_work_create(&u->work, &o->cfg, 1, o->H, o->W,
                              lsd ? LSD_WORK_TRAIN : LSD_WORK_SOURCE_ONLY, e)) ||
        (rc = eval_create(&u->ev, &o->cfg, u->d->val.n, o->H, o->W, e)))
        return rc;
    u->so = lsd_step_defaults();
    u->so.lr_f_weight = o->lr_f, u->so.lr_f_bias = 2 * o->lr_f;
    u->so.lr_gd = o->lr_gd;
    u->so.adv_weight = o->adv_w, u->so.c_weight = o->c_w, u->so.l1_weight = o->l1_w;
    u->so.seed = o->seed;
    u->so.dropout = LSD_DROPOUT_RNG;
    u->so.recipe = opt_recipe_value(&o->rec);
    u->order_s = rng_stream_of("demo.order.source");
    u->order_t = rng_stream_of("demo.order.target");
    snprintf(u->log_path, sizeof u->log_path, "%s/%s", o->out, demo_method_name[u->method]);
    if ((rc = opt_mkdirs(u->log_path, e))) return rc;
    snprintf(u->log_path, sizeof u->log_path, "%s/%s/log.csv", o->out,
             demo_method_name[u->method]);
    if (!(u->log = fopen(u->log_path, "w")))
        return lsd_fail(e, LSD_ERR_IO, "cannot write %s", u->log_path);
    fprintf(u->log, "iter,loss_D,loss_G,loss_F,target_miou\n");
    if (lsd) /* D's view at the start */
        return dview_capture(&r->dview[0], &u->m, &u->work, &u->d->src, &u->d->val,
                             u->so.recipe.d_input == LSD_DINPUT_BGR, e);
    return LSD_OK;
}

/* The loop's batch (ref/loop.h): source scenes (target scenes for the oracle, which is the
 * same code path fed target labels) in the seed's order; F's learning rates x0.1 once, at
 * --decay-at (the authors' step schedule). */
static int demo_batch(TrainLoop *L, LsdBatch *b, lsd_err *e)
{
    DemoRun *u = (DemoRun *)L->ctx;
    const DemoOpts *o = u->o;
    const DemoData *d = u->d;
    long it = u->m.step, decays = it >= (long)(o->decay_at * (double)o->iters);
    int is = synthset_order(u->perm_s, d->src.n, o->seed, u->order_s, it);
    int itg = synthset_order(u->perm_t, d->tgt.n, o->seed, u->order_t, it);
    (void)e;
    b->xs = u->xs, b->xt = u->xt, b->xs01 = u->xs01, b->xt01 = u->xt01, b->ys = u->ys;
    u->so.lr_f_weight = lr_decayed(o->lr_f, decays, 0.1);
    u->so.lr_f_bias = lr_decayed(2 * o->lr_f, decays, 0.1);
    if (u->method == M_ORACLE)
        synthset_batch(&d->tgt, &itg, 1, u->xs, NULL, u->ys);
    else
        synthset_batch(&d->src, &is, 1, u->xs, u->xs01, u->ys);
    if (u->method == M_LSD) synthset_batch(&d->tgt, &itg, 1, u->xt, u->xt01, NULL);
    return LSD_OK;
}

/* The loop's bookkeeping: the losses, a row of log.csv, the target mIoU every --eval-every
 * iterations and at the last (keeping the last one's predictions), the overall ETA. */
static int demo_after(TrainLoop *L, const LsdLosses *l, double seconds, char *text, size_t cap,
                      lsd_err *e)
{
    DemoRun *u = (DemoRun *)L->ctx;
    const DemoOpts *o = u->o;
    DemoResult *r = u->r;
    long it = u->m.step - 1;
    size_t n = strlen(text);
    int rc, lsd = u->method == M_LSD;
    (void)seconds;
    r->loss_D[it] = lsd ? l->loss_D : NAN;
    r->loss_G[it] = lsd ? l->loss_G : NAN;
    r->loss_F[it] = l->loss_F;
    fprintf(u->log, "%ld,%.9g,%.9g,%.9g,", it + 1, r->loss_D[it], r->loss_G[it], r->loss_F[it]);
    if ((it + 1) % o->eval_every == 0 || it + 1 == o->iters) {
        if ((rc = evaluate(&u->m, &u->ev, &u->d->val, o->n_show,
                           it + 1 == o->iters ? r->pred : NULL, &u->sc, e)))
            return rc;
        r->eval_it[r->n_eval] = (double)(it + 1);
        r->eval_miou[r->n_eval++] = 100 * u->sc.miou;
        fprintf(u->log, "%.6f", 100 * u->sc.miou);
    }
    fprintf(u->log, "\n");
    u->pg.extra_s = u->est_left ? (lsd_now() - u->pg.t0) / (double)(it + 1) * (double)o->iters *
                                      (*u->est_left) / method_cost[u->method]
                                : 0;
    snprintf(text + n, cap - n, "  mIoU %.1f", r->n_eval ? r->eval_miou[r->n_eval - 1] : 0.0);
    return LSD_OK;
}

/* Trains one method from the seed's initialisation with the loop of `lsdseg train`
 * (ref/loop.h); fills r. Returns 0, or -1 after a message. */
static int run_method(int method, const DemoOpts *o, const DemoData *d, DemoResult *r,
                      double *est_left, const char *label_text, int quiet)
{
    DemoRun u;
    TrainLoop L;
    lsd_err e;
    char text[64], label[64];
    int rc;
    memset(r, 0, sizeof *r);
    memset(&u, 0, sizeof u);
    u.method = method, u.o = o, u.d = d, u.r = r, u.est_left = est_left;
    if ((rc = run_open(&u, &e))) goto done;
    if (label_text) snprintf(label, sizeof label, "%s", label_text);
    else snprintf(label, sizeof label, "[%d/3] %-11s", method + 1, demo_method_name[method]);
    progress_start(&u.pg, label, o->iters, o->quiet || quiet);
    memset(&L, 0, sizeof L);
    L.m = &u.m, L.work = &u.work, L.so = &u.so, L.source_only = method != M_LSD;
    L.iters = o->iters, L.pr = &u.pg, L.ctx = &u;
    L.batch = demo_batch, L.after = demo_after;
    if ((rc = train_loop_run(&L, &e))) {
        progress_break(&u.pg);
        if (rc == LSD_ERR_RANGE)
            lsd_err_prefix(&e, "%s diverged (try a lower --lr-f / --lr-gd)",
                           demo_method_name[method]);
        goto done;
    }
    memcpy(r->iou, u.sc.iou, sizeof r->iou);
    r->miou = 100 * u.sc.miou;
    r->pixel_acc = 100 * u.sc.pixel_acc;
    if (method == M_LSD) {
        reconstruct(&u.m, &u.work, d, o, u.xs, u.xt, u.xs01, u.xt01, u.ys, r->recon);
        if ((rc = dview_capture(&r->dview[2], &u.m, &u.work, &d->src, &d->val,
                                u.so.recipe.d_input == LSD_DINPUT_BGR, &e)))
            goto done; /* D's view at the end */
    }
    snprintf(text, sizeof text, "target mIoU %.2f", r->miou);
    r->seconds = progress_end(&u.pg, text);
    rc = fclose(u.log) ? lsd_fail(&e, LSD_ERR_IO, "cannot write %s", u.log_path) : LSD_OK;
    u.log = NULL;
done:
    if (rc) fprintf(stderr, "lsdseg demo: %s\n", e.msg);
    run_close(&u);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------------ training the methods */

/* Source only (k = 0) or the oracle (k = 1) for lsd_run_two; the progress line is source
 * only's, whose ETA covers the pair and LSD after it. */
typedef struct {
    const DemoOpts *o;
    const DemoData *d;
    DemoResult *r;
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
static int run_all(const DemoOpts *o, const DemoData *d, DemoResult *r, double *left)
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
    DemoResult r[M_COUNT];
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
            if (o.run[k]) printf("%s: target mIoU %.2f\n", demo_method_name[k], r[k].miou);
        status = 0;
        goto done;
    }
    if (report_demo_write(&o, &d, r)) goto done;
    report_demo_print(&o, r);
    snprintf(path, sizeof path, "%s/timing.txt", o.out);
    if ((tf = fopen(path, "w"))) {
        fprintf(tf, "threads %d\n", lsd_num_threads());
        for (k = 0; k < M_COUNT; k++)
            fprintf(tf, "%s %.1f s\n", demo_method_name[k], r[k].seconds);
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
