/*
 * bench_nets.c - time of one LSD-seg training iteration (lsd_step: D, G, F+C updates),
 * one source-only iteration (lsd_step_source_only) and one inference (lsd_infer), batch 1,
 * with 1 and 2 threads, for three configurations:
 *
 *   reduced  vgg 16, fc 256, ngf 16, ndf 16, 19 classes at 64x128 (case suffix -64x128-reduced)
 *   demo     `lsdseg demo`'s networks (ref/cmd_demo.c): vgg 4, fc 32, ngf 4, ndf 8, 8 classes
 *            at 64x128, with its step options: F's Adam 2e-4 (biases 4e-4), G and D's 2e-4,
 *            adversarial weight 2 (suffix -64x128-demo)
 *   full     the paper's networks (vgg 64, fc 4096, ngf 64, ndf 64, 19 classes) at 320x640
 *            (suffix -320x640-full); the training work needs about 11.4 GB in the float build
 *
 * Prints CSV rows "nets,<case>,<threads>,lsdseg,<ms>,ms", case = lsd-iter-..., sourceonly-iter-...,
 * infer-..., and lsd-authors-iter-... (the same iteration in the authors' schedule, one forward
 * pass: docs/method.md, "Two schedules"). bench/nets_torch.py prints the first three for PyTorch. Each row is the best of
 * several timed runs after warm-up runs (reduced and demo: 2 warm-ups, then up to 10 runs or
 * 3 s; full: LSD_BENCH_FULL_WARM warm-ups, default 1, then LSD_BENCH_FULL_REPS runs, default 1).
 * After each time row, a row "nets-gflops,<case>,<threads>,lsdseg,<GFLOP/s>,GFLOP/s": the
 * convolution FLOPs of one run (see run_flops) over the best time.
 *
 * Parameters: lsd_model_init (He-normal F, N(0, 0.02) G and D, as in training), then F's
 * biases drawn from N(0, 0.1) (pretrained_biases: the state of the paper's runs); inputs of
 * realistic magnitude (BGR minus mean in [-100, 100], RGB in [0, 1]); dropout on (masks
 * drawn every iteration), Adam updates included.
 *
 * Environment: LSD_BENCH_QUICK=1 or LSD_BENCH_FULL=0 skip the full-size rows;
 * LSD_BENCH_THREADS (default "1,2") lists the thread counts; LSD_BENCH_FULL_WARM and
 * LSD_BENCH_FULL_REPS as above.
 * Usage: bench_nets [--list] [substring-of-case-names]. Full-size rows are skipped with a note
 * on stderr when MemAvailable is under 13 GB. --list prints the names of the cases that would
 * run (one a line, the environment and the substring applied, memory not checked) and exits:
 * bench/lib/nets_interleaved.py takes its cases from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../gan/arch.h"
#include "../gan/lsd.h"
#include "../tensor/rng.h"
#include "bench_util.h"

/* MemAvailable from /proc/meminfo in bytes, or -1 if unknown. */
static double mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024.0;
}

/* One run of a mode; returns 0 on success. */
static int run_once(LsdModel *m, LsdWork *work, const Inputs *in, lsd_work_mode mode,
                    const LsdStepOptions *o)
{
    lsd_err err;
    LsdLosses l;
    double loss;
    int rc = 0;
    if (mode == LSD_WORK_TRAIN) rc = lsd_step(m, work, &in->b, o, &l, &err);
    else if (mode == LSD_WORK_SOURCE_ONLY)
        rc = lsd_step_source_only(m, work, &in->b, o, &loss, &err);
    else lsd_infer(m, work, in->xs);
    if (rc) fprintf(stderr, "bench_nets: %s\n", err.msg);
    return rc;
}

/* ---- FLOPs of one run: 2 x the multiply-adds of the convolutions, nothing else.
 *
 * A convolution's multiply-adds are those of its dense grid, whatever the code path:
 * conv2d N*OC*OH*OW * C*KH*KW (every output point, taps on the padding included, as in the
 * common FLOP counters); transposed N*C*H*W * OC*KH*KW (every input point scatters a
 * KH x KW x OC patch, the part cropped by the padding included). The backward of a
 * convolution costs the same count once for the input gradient (skipped where the caller
 * passes NULL: F's conv1_1 always, G's first ConvT and D's conv0 when no gradient flows
 * into their inputs) and once for the weight gradient (skipped for want_param_grads = 0
 * and for C's frozen upscore layers). Instance norm, activations, pooling, dropout, losses
 * and Adam are not counted (cheap in FLOPs, but not in time at the demo's 4-16 channels), so
 * GFLOP/s is the convolutions' arithmetic over the whole run's time.
 *
 * Per network, f = forward multiply-adds, f1 = those of the layer that reads the network's
 * input, fz = those of frozen layers. gan/lsd.c's passes:
 *
 *   lsd_step  F  2 forwards (xs, xt; F changes only in step 3, so they serve all three steps),
 *                2 backwards (step 3, xs and xt): each (f - f1) + f
 *             C  1 forward, 1 backward (step 3): f + (f - fz)
 *             G  4 forwards (2 before step 1, 2 again in step 3 with the updated G);
 *                2 backwards in step 2 (weights, no gradient into fc7): (f - f1) + f each;
 *                2 backwards in step 3 (into F's features, no weights): f each
 *             D  8 forwards (4 in step 1, 2 in step 2, 2 in step 3);
 *                4 backwards in step 1 (weights, no input gradient): (f - f1) + f each;
 *                4 backwards in steps 2 and 3 (into G's images, no weights): f each
 *   lsd_step_source_only  F 1 forward + 1 backward, C 1 forward + 1 backward
 *   lsd_infer             F 1 forward, C 1 forward
 *
 * (golden/model.py's iteration, which PyTorch times, runs more passes than this: F forwards
 * 4 times and G 6 times; the count here is lsdseg's.) */
typedef struct {
    double f, f1, fz;
} NetMacs;

static double conv_macs(const ConvShape *s)
{
    return (double)s->N * s->OC * s->OH * s->OW * s->C * s->KH * s->KW;
}

static double convt_macs(const ConvShape *s)
{
    return (double)s->N * s->C * s->H * s->W * s->OC * s->KH * s->KW;
}

/* FLOPs of one run of mode on work (shapes from its activations). */
static double run_flops(const LsdWork *work, lsd_work_mode mode)
{
    NetMacs F = {0, 0, 0}, C = {0, 0, 0}, G = {0, 0, 0}, D = {0, 0, 0};
    const FActs *fa = &work->fa[LSD_SRC];
    const CActs *ca = &work->ca;
    int k;
    for (k = 0; k < LSD_NCONV; k++) F.f += conv_macs(&fa->conv_shape[k]);
    F.f += conv_macs(&fa->fc6_shape) + conv_macs(&fa->fc7_shape);
    F.f1 = conv_macs(&fa->conv_shape[0]);
    C.fz = convt_macs(&ca->upscore2_shape) + convt_macs(&ca->upscore_pool4_shape) +
           convt_macs(&ca->upscore8_shape);
    C.f = conv_macs(&ca->score_fr_shape) + conv_macs(&ca->score_pool4_shape) +
          conv_macs(&ca->score_pool3_shape) + C.fz;
    if (mode == LSD_WORK_INFER) return 2 * (F.f + C.f);
    if (mode == LSD_WORK_SOURCE_ONLY)
        return 2 * (F.f + (F.f - F.f1) + F.f + C.f + C.f + (C.f - C.fz));
    {
        const GActs *ga = &work->ga[LSD_SRC];
        const DActs *da = &work->da;
        for (k = 0; k < LSD_GBLOCKS; k++)
            G.f += convt_macs(&ga->blk[k].convt_shape) + 2 * conv_macs(&ga->blk[k].rb_shape);
        G.f += convt_macs(&ga->out_shape);
        G.f1 = convt_macs(&ga->blk[0].convt_shape);
        D.f = conv_macs(&da->conv0_shape) + conv_macs(&da->domain_score_shape) +
              conv_macs(&da->class_score_shape);
        for (k = 0; k < LSD_DBLOCKS; k++) D.f += conv_macs(&da->rb_shape[k]);
        D.f1 = conv_macs(&da->conv0_shape);
    }
    return 2 * (2 * F.f + 2 * ((F.f - F.f1) + F.f) +
                C.f + C.f + (C.f - C.fz) +
                4 * G.f + 2 * ((G.f - G.f1) + G.f) + 2 * G.f +
                8 * D.f + 4 * ((D.f - D.f1) + D.f) + 4 * D.f);
}

/* The thread counts of LSD_BENCH_THREADS (default 1,2); returns how many. */
static int thread_list(int *t, int max)
{
    const char *v = getenv("LSD_BENCH_THREADS");
    int n = 0;
    if (!v || !*v) v = "1,2";
    while (*v && n < max) {
        int k = atoi(v);
        if (k > 0) t[n++] = k;
        while (*v && *v != ',') v++;
        if (*v == ',') v++;
    }
    return n;
}

/* The cases of a configuration: lsd-authors-iter is lsd_step in the authors' schedule (one
 * forward pass; docs/method.md, "Two schedules"), timed beside the paper's lsd-iter. */
#define NCASES 4
static const char *const prefix[NCASES] = {"lsd-iter", "sourceonly-iter", "infer",
                                           "lsd-authors-iter"};

/* 1 if some case of suffix matches filter (NULL matches everything); with list, prints the
 * names of those that match. */
static int config_matches(const char *suffix, const char *filter, int list)
{
    int k, any = 0;
    for (k = 0; k < NCASES; k++) {
        char name[96];
        sprintf(name, "%s-%s", prefix[k], suffix);
        if (filter && !strstr(name, filter)) continue;
        any = 1;
        if (list) printf("%s\n", name);
    }
    return any;
}

/* F's biases drawn from N(0, 0.1): the paper's F starts from VGG16's weights, whose biases are
 * not zero, where lsd_model_init leaves them at 0 (as a start from scratch). The difference
 * matters to the time: in the frame of 100 padded around the image F's activations are
 * relu of constants, and with zero biases they are 0, so relu passes no gradient there (in
 * these first iterations, all of it), which the backward passes skip (layers/conv_kernels.c,
 * "grid points with no gradient"); with nonzero biases only the points that max pooling
 * leaves out get none, as in training from VGG16. bench/lib/torch_util.py's build does the
 * same for PyTorch. */
static void pretrained_biases(LsdModel *m, const LsdConfig *c)
{
    int l;
    for (l = 0; l < LSD_NCONV; l++)
        rng_fill_normal(m->F.conv[l].bias, (size_t)c->vgg * LSD_VGG_MULT[LSD_VGG_STAGE[l]], 0,
                        (real)0.1, 7, 1, (uint64_t)l << 32);
    rng_fill_normal(m->F.fc6.bias, (size_t)c->fc, 0, (real)0.1, 7, 2, 0);
    rng_fill_normal(m->F.fc7.bias, (size_t)c->fc, 0, (real)0.1, 7, 3, 0);
}

/* The rows of one configuration; so: the step options of the training modes. */
static void bench_config(const char *suffix, const LsdConfig *c, int H, int W, int full,
                         const LsdStepOptions *so, const char *filter)
{
    static const lsd_work_mode modes[NCASES] = {LSD_WORK_TRAIN, LSD_WORK_SOURCE_ONLY,
                                                LSD_WORK_INFER, LSD_WORK_TRAIN};
    int threads[8], nthreads = thread_list(threads, 8);
    int warm = full ? env_int("LSD_BENCH_FULL_WARM", 1) : 2;
    int maxrep = full ? env_int("LSD_BENCH_FULL_REPS", 1) : 10;
    double budget = full ? 1e9 : 3.0;
    LsdModel m;
    Inputs in;
    lsd_err err;
    int k, ti;
    if (!config_matches(suffix, filter, 0)) return;
    if (lsd_model_create(&m, c, &err)) {
        fprintf(stderr, "bench_nets: model %s: %s\n", suffix, err.msg);
        return;
    }
    if (lsd_model_init(&m, 1, NULL, &err) || !inputs_make(&in, H, W, c->n_class)) {
        fprintf(stderr, "bench_nets: init %s failed\n", suffix);
        lsd_model_free(&m);
        return;
    }
    pretrained_biases(&m, c);
    fprintf(stderr, "bench_nets: %s model %.1f MB\n", suffix, lsd_model_bytes(&m) / 1e6);
    for (k = 0; k < NCASES; k++) {
        char name[96];
        LsdWork work;
        LsdStepOptions o = *so;
        if (k == 3) o.recipe.schedule = LSD_SCHEDULE_AUTHORS;
        double flops;
        sprintf(name, "%s-%s", prefix[k], suffix);
        if (filter && !strstr(name, filter)) continue;
        if (lsd_work_create(&work, c, 1, H, W, modes[k], &err)) {
            fprintf(stderr, "bench_nets: %s skipped: %s\n", name, err.msg);
            continue;
        }
        flops = run_flops(&work, modes[k]);
        fprintf(stderr, "bench_nets: %s work %.1f MB, %.3f GFLOP a run\n", name, work.bytes / 1e6,
                flops / 1e9);
        for (ti = 0; ti < nthreads; ti++) {
            double best = -1, total = 0;
            int rep, ok = 1;
#ifdef _OPENMP
            omp_set_num_threads(threads[ti]);
#else
            if (threads[ti] != 1) continue;
#endif
            for (rep = 0; ok && rep < warm; rep++) ok = run_once(&m, &work, &in, modes[k], &o) == 0;
            for (rep = 0; ok && rep < maxrep && (rep < 2 || total < budget); rep++) {
                double t0 = now(), t;
                ok = run_once(&m, &work, &in, modes[k], &o) == 0;
                t = now() - t0;
                total += t;
                if (best < 0 || t < best) best = t;
            }
            if (ok && best >= 0) {
                printf("nets,%s,%d,lsdseg,%.1f,ms\n", name, threads[ti], best * 1e3);
                if (k < 3) /* run_flops counts the paper's schedule */
                    printf("nets-gflops,%s,%d,lsdseg,%.2f,GFLOP/s\n", name, threads[ti],
                           flops / best / 1e9);
                fflush(stdout);
            }
        }
        lsd_work_free(&work);
    }
    inputs_free(&in);
    lsd_model_free(&m);
}

int main(int argc, char **argv)
{
    int list = argc > 1 && !strcmp(argv[1], "--list");
    const char *filter = argc > 1 + list ? argv[1 + list] : NULL;
    int skip_full = env_int("LSD_BENCH_QUICK", 0) || !env_int("LSD_BENCH_FULL", 1);
    LsdConfig red, demo, fullc = lsd_config_default();
    LsdStepOptions so = lsd_step_defaults(), sodemo = lsd_step_defaults();
    red.vgg = 16, red.fc = 256, red.ngf = 16, red.ndf = 16, red.n_class = 19;
    /* `lsdseg demo`'s defaults (ref/cmd_demo.c: --width 4,32,4,8, 8 synthetic classes,
     * --lr-f 2e-4 with biases 2x, --lr-gd 2e-4, --adv 2; c and l1 weights 0.1 and 1) */
    demo.vgg = 4, demo.fc = 32, demo.ngf = 4, demo.ndf = 8, demo.n_class = 8;
    sodemo.lr_f_weight = 2e-4, sodemo.lr_f_bias = 4e-4, sodemo.lr_gd = 2e-4;
    sodemo.adv_weight = 2.0, sodemo.c_weight = 0.1, sodemo.l1_weight = 1.0;
    sodemo.seed = 1;
    if (list) {
        config_matches("64x128-reduced", filter, 1);
        config_matches("64x128-demo", filter, 1);
        if (!skip_full) config_matches("320x640-full", filter, 1);
        return 0;
    }
    bench_config("64x128-reduced", &red, 64, 128, 0, &so, filter);
    bench_config("64x128-demo", &demo, 64, 128, 0, &sodemo, filter);
    if (skip_full) {
        fprintf(stderr, "bench_nets: full-size rows skipped (LSD_BENCH_QUICK / LSD_BENCH_FULL)\n");
    } else if (!config_matches("320x640-full", filter, 0)) {
        /* nothing of the full size matches */
    } else {
        double avail = mem_available();
        if (avail >= 0 && avail < 13e9)
            fprintf(stderr, "bench_nets: full-size rows skipped: %.1f GB available, ~13 GB needed\n",
                    avail / 1e9);
        else
            bench_config("320x640-full", &fullc, 320, 640, 1, &so, filter);
    }
    return 0;
}
