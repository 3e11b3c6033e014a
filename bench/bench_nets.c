/*
 * bench_nets.c - time of one LSD-seg training iteration (lsd_step: D, G, F+C updates),
 * one source-only iteration (lsd_step_source_only) and one inference (lsd_infer), batch 1,
 * with 1 and 2 threads, for two configurations:
 *
 *   reduced  vgg 16, fc 256, ngf 16, ndf 16, 19 classes at 64x128 (case suffix -64x128-reduced)
 *   full     the paper's networks (vgg 64, fc 4096, ngf 64, ndf 64, 19 classes) at 320x640
 *            (suffix -320x640-full); the training work needs about 8.5 GB in the float build
 *
 * Prints CSV rows "nets,<case>,<threads>,lsdseg,<ms>,ms", case = lsd-iter-..., sourceonly-iter-...,
 * infer-... . bench/nets_torch.py prints the same rows for PyTorch. Each row is the best of
 * several timed runs after warm-up runs (reduced: 2 warm-ups, then up to 10 runs or 3 s;
 * full: LSD_BENCH_FULL_WARM warm-ups, default 1, then LSD_BENCH_FULL_REPS runs, default 1).
 *
 * Parameters: lsd_model_init (He-normal F, N(0, 0.02) G and D, as in training); inputs of
 * realistic magnitude (BGR minus mean in [-100, 100], RGB in [0, 1]); dropout on (masks
 * drawn every iteration), Adam updates included.
 *
 * Environment: LSD_BENCH_QUICK=1 or LSD_BENCH_FULL=0 skip the full-size rows;
 * LSD_BENCH_THREADS (default "1,2") lists the thread counts; LSD_BENCH_FULL_WARM and
 * LSD_BENCH_FULL_REPS as above.
 * Usage: bench_nets [substring-of-case-names]. Full-size rows are skipped with a note on
 * stderr when MemAvailable is under 10 GB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../gan/lsd.h"
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
static int run_once(LsdModel *m, LsdWork *w, const Inputs *in, lsd_work_mode mode,
                    const LsdStepOptions *o)
{
    lsd_err err;
    LsdLosses l;
    double loss;
    int rc = 0;
    if (mode == LSD_WORK_TRAIN) rc = lsd_step(m, w, &in->b, o, &l, &err);
    else if (mode == LSD_WORK_SOURCE_ONLY) rc = lsd_step_source_only(m, w, &in->b, o, &loss, &err);
    else lsd_infer(m, w, in->xs);
    if (rc) fprintf(stderr, "bench_nets: %s\n", err.msg);
    return rc;
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

static void bench_config(const char *suffix, const LsdConfig *c, int H, int W, int full,
                         const char *filter)
{
    static const char *const prefix[3] = {"lsd-iter", "sourceonly-iter", "infer"};
    static const lsd_work_mode modes[3] = {LSD_WORK_TRAIN, LSD_WORK_SOURCE_ONLY, LSD_WORK_INFER};
    int threads[8], nthreads = thread_list(threads, 8);
    int warm = full ? env_int("LSD_BENCH_FULL_WARM", 1) : 2;
    int maxrep = full ? env_int("LSD_BENCH_FULL_REPS", 1) : 10;
    double budget = full ? 1e9 : 3.0;
    LsdModel m;
    Inputs in;
    lsd_err err;
    int k, ti;
    if (lsd_model_create(&m, c, &err)) {
        fprintf(stderr, "bench_nets: model %s: %s\n", suffix, err.msg);
        return;
    }
    if (lsd_model_init(&m, 1, NULL, &err) || !inputs_make(&in, H, W, c->n_class)) {
        fprintf(stderr, "bench_nets: init %s failed\n", suffix);
        lsd_model_free(&m);
        return;
    }
    fprintf(stderr, "bench_nets: %s model %.1f MB\n", suffix, lsd_model_bytes(&m) / 1e6);
    for (k = 0; k < 3; k++) {
        char name[96];
        LsdWork w;
        LsdStepOptions o = lsd_step_defaults();
        sprintf(name, "%s-%s", prefix[k], suffix);
        if (filter && !strstr(name, filter)) continue;
        if (lsd_work_create(&w, c, 1, H, W, modes[k], &err)) {
            fprintf(stderr, "bench_nets: %s skipped: %s\n", name, err.msg);
            continue;
        }
        fprintf(stderr, "bench_nets: %s work %.1f MB\n", name, w.bytes / 1e6);
        for (ti = 0; ti < nthreads; ti++) {
            double best = -1, total = 0;
            int rep, ok = 1;
#ifdef _OPENMP
            omp_set_num_threads(threads[ti]);
#else
            if (threads[ti] != 1) continue;
#endif
            for (rep = 0; ok && rep < warm; rep++) ok = run_once(&m, &w, &in, modes[k], &o) == 0;
            for (rep = 0; ok && rep < maxrep && (rep < 2 || total < budget); rep++) {
                double t0 = now(), t;
                ok = run_once(&m, &w, &in, modes[k], &o) == 0;
                t = now() - t0;
                total += t;
                if (best < 0 || t < best) best = t;
            }
            if (ok && best >= 0) {
                printf("nets,%s,%d,lsdseg,%.1f,ms\n", name, threads[ti], best * 1e3);
                fflush(stdout);
            }
        }
        lsd_work_free(&w);
    }
    inputs_free(&in);
    lsd_model_free(&m);
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    LsdConfig red, fullc = lsd_config_default();
    red.vgg = 16, red.fc = 256, red.ngf = 16, red.ndf = 16, red.n_class = 19;
    bench_config("64x128-reduced", &red, 64, 128, 0, filter);
    if (env_int("LSD_BENCH_QUICK", 0) || !env_int("LSD_BENCH_FULL", 1)) {
        fprintf(stderr, "bench_nets: full-size rows skipped (LSD_BENCH_QUICK / LSD_BENCH_FULL)\n");
    } else if (filter && !strstr("lsd-iter-320x640-full sourceonly-iter-320x640-full "
                                 "infer-320x640-full", filter)) {
        /* nothing of the full size matches */
    } else {
        double avail = mem_available();
        if (avail >= 0 && avail < 10e9)
            fprintf(stderr, "bench_nets: full-size rows skipped: %.1f GB available, ~10 GB needed\n",
                    avail / 1e9);
        else
            bench_config("320x640-full", &fullc, 320, 640, 1, filter);
    }
    return 0;
}
