/*
 * test_demo.c - the demo pipeline: synthetic sets and their conversion to network
 * inputs (checked against the formulas of docs/method.md, "Inputs"), the data order,
 * a few LSD and source-only iterations on a tiny configuration (finite losses, the model
 * changes), and `lsdseg demo --quick` end to end (run twice: the report files exist,
 * summary.csv has one row per method, the log has one row per iteration, and a second
 * run with another thread count writes the same bits).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/synthset.h"
#include "../gan/lsd.h"
#include "harness.h"

/* Whole file into a malloc'ed NUL-terminated buffer (NULL if missing). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static int count_char(const char *s, int c, const char *end)
{
    int n = 0;
    for (; *s && s < end; s++) n += *s == c;
    return n;
}

static void check_sets(void)
{
    SynthSet s;
    lsd_err e;
    enum { H = 32, W = 64 };
    static real x[2 * 3 * H * W], x01[2 * 3 * H * W];
    static uint8_t y[2 * H * W], rgb[H * W * 3], lab[H * W];
    int idx[2] = {2, 0}, perm[10], perm2[10], seen[10] = {0}, i, ok = 1;
    size_t hw = (size_t)H * W, p = 5 * W + 17;
    CHECK(synthset_create(&s, SYNTH_TARGET, 7, 100, 3, H, W, &e) == LSD_OK, "create: %s",
          e.msg);
    CHECK(synth_render(rgb, lab, H, W, SYNTH_TARGET, 7, 102, &e) == LSD_OK, "render");
    CHECK(!memcmp(s.rgb + 2 * hw * 3, rgb, hw * 3) && !memcmp(s.label + 2 * hw, lab, hw),
          "scene 2 of the set is synth_render(seed 7, index 102)");
    synthset_batch(&s, idx, 2, x, x01, y);
    /* x: BGR minus the VGG mean; x01: RGB / 255 (docs/method.md, "Inputs") */
    CHECK(fabs((double)x[0 * hw + p] - (rgb[3 * p + 2] - 104.00698793)) < 1e-4 &&
              fabs((double)x[1 * hw + p] - (rgb[3 * p + 1] - 116.66876762)) < 1e-4 &&
              fabs((double)x[2 * hw + p] - (rgb[3 * p + 0] - 122.67891434)) < 1e-4,
          "x is BGR minus mean: %g %g %g from rgb %d %d %d", (double)x[p], (double)x[hw + p],
          (double)x[2 * hw + p], rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]);
    CHECK(fabs((double)x01[0 * hw + p] - rgb[3 * p] / 255.0) < 1e-6 &&
              fabs((double)x01[2 * hw + p] - rgb[3 * p + 2] / 255.0) < 1e-6,
          "x01 is RGB / 255");
    CHECK(!memcmp(y, lab, hw) && !memcmp(y + hw, s.label, hw), "labels of the batch");
    synthset_free(&s);
    CHECK(synthset_create(&s, SYNTH_SOURCE, 1, 0, 0, H, W, &e) == LSD_ERR_ARG, "0 scenes");
    CHECK(synthset_create(&s, SYNTH_SOURCE, 1, 0, 1, 8, W, &e) == LSD_ERR_ARG, "size 8");
    /* data order: each epoch a permutation, reproducible, epochs differ */
    synthset_shuffle(perm, 10, 3, 9, 0);
    for (i = 0; i < 10; i++)
        if (perm[i] < 0 || perm[i] >= 10 || seen[perm[i]]++) ok = 0;
    CHECK(ok, "epoch 0 is a permutation of 0..9");
    synthset_shuffle(perm2, 10, 3, 9, 0);
    CHECK(!memcmp(perm, perm2, sizeof perm), "the same epoch again");
    synthset_shuffle(perm2, 10, 3, 9, 1);
    CHECK(memcmp(perm, perm2, sizeof perm) != 0, "epoch 1 differs from epoch 0");
    CHECK(synthset_order(perm2, 10, 3, 9, 13) == (synthset_shuffle(perm, 10, 3, 9, 1), perm[3]),
          "position 13 is element 3 of epoch 1");
}

static void check_steps(void)
{
    enum { H = 32, W = 64 };
    LsdConfig c;
    LsdModel m;
    LsdWork work;
    LsdStepOptions o = lsd_step_defaults();
    LsdLosses L;
    SynthSet s, t;
    lsd_err e;
    static real xs[3 * H * W], xt[3 * H * W], xs01[3 * H * W], xt01[3 * H * W];
    static uint8_t ys[H * W];
    real *p0;
    LsdBatch b;
    int i, ok = 1, zero = 0;
    double l, moved = 0;
    c.vgg = 2, c.fc = 8, c.ngf = 2, c.ndf = 2, c.n_class = SYNTH_NUM_CLASSES;
    b.xs = xs, b.xt = xt, b.xs01 = xs01, b.xt01 = xt01, b.ys = ys;
    o.lr_f_weight = 1e-4, o.lr_f_bias = 2e-4, o.lr_gd = 2e-4, o.seed = 5;
    if (!CHECK(synthset_create(&s, SYNTH_SOURCE, 1, 0, 2, H, W, &e) == LSD_OK &&
                   synthset_create(&t, SYNTH_TARGET, 2, 0, 2, H, W, &e) == LSD_OK,
               "sets: %s", e.msg))
        return;
    if (!CHECK(lsd_model_create(&m, &c, &e) == LSD_OK && lsd_model_init(&m, 5, NULL, &e) ==
                   LSD_OK && lsd_work_create(&work, &c, 1, H, W, LSD_WORK_TRAIN, &e) == LSD_OK,
               "model: %s", e.msg))
        return;
    p0 = (real *)malloc(m.F.pa.total * sizeof(real));
    memcpy(p0, m.F.pa.param, m.F.pa.total * sizeof(real));
    for (i = 0; i < 3; i++) {
        int k = i % 2;
        synthset_batch(&s, &k, 1, xs, xs01, ys);
        synthset_batch(&t, &zero, 1, xt, xt01, NULL);
        if (lsd_step(&m, &work, &b, &o, &L, &e) ||
            !(isfinite(L.loss_D) && isfinite(L.loss_G) && isfinite(L.loss_F)) ||
            L.loss_D <= 0 || L.loss_G <= 0 || L.loss_F <= 0)
            ok = 0;
        if (lsd_step_source_only(&m, &work, &b, &o, &l, &e) || !isfinite(l) || l <= 0) ok = 0;
    }
    CHECK(ok, "3 LSD and 3 source-only iterations: positive finite losses (%s)", e.msg);
    CHECK(m.step == 6, "6 iterations counted, got %ld", m.step);
    for (i = 0; i < (int)m.F.pa.total; i++) moved += fabs((double)(m.F.pa.param[i] - p0[i]));
    CHECK(moved > 0, "F's parameters changed");
    free(p0);
    lsd_work_free(&work);
    lsd_model_free(&m);
    synthset_free(&s);
    synthset_free(&t);
}

/* Runs the quick demo into dir with the given threads; returns the exit status. */
static int run_quick(const char *exe, const char *dir, int threads)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "OMP_WAIT_POLICY=passive %s demo --quick --quiet --threads %d --seed 3 --out %s "
             ">%s.stdout", exe, threads, dir, dir);
    return system(cmd);
}

static void check_command(void)
{
    const char *exe = getenv("LSD_LSDSEG"), *tmp = test_tmp_dir();
    static const char *const files[] = {"report.html", "miou.svg", "loss_f.svg", "loss_gd.svg",
                                        "predictions.png", "reconstructions.png",
                                        "d_decisions.png", "summary.csv",
                                        "source-only/log.csv", "lsd/log.csv", "oracle/log.csv"};
    static const char *const methods[] = {"source-only", "lsd", "oracle"};
    char d1[1024], d2[1024], path[1200];
    int i, k, t, all = 1;
    if (!exe) {
        test_skip("LSD_LSDSEG not set: 'lsdseg demo --quick' not run");
        return;
    }
    snprintf(d1, sizeof d1, "%s/demo-a", tmp);
    snprintf(d2, sizeof d2, "%s/demo-b", tmp);
    if (!CHECK(run_quick(exe, d1, 1) == 0, "'%s demo --quick' exits with 0", exe)) return;
    for (i = 0; i < (int)(sizeof files / sizeof files[0]); i++) {
        char *s;
        snprintf(path, sizeof path, "%s/%s", d1, files[i]);
        s = slurp(path, NULL);
        if (!s || !*s) all = 0, fprintf(stderr, "missing or empty: %s\n", path);
        free(s);
    }
    CHECK(all, "every report file exists and is not empty");
    {
        char *s;
        snprintf(path, sizeof path, "%s/summary.csv", d1);
        s = slurp(path, NULL);
        if (CHECK(s != NULL, "summary.csv")) {
            const char *line = s;
            int ok = count_lines(s) == 4 &&
                     !strncmp(s, "method,seed,target_miou,road,sidewalk,building,", 47);
            for (k = 0; k < 3 && ok; k++) {
                const char *nl;
                char head[64];
                line = strchr(line, '\n') + 1;
                nl = strchr(line, '\n');
                snprintf(head, sizeof head, "%s,3,", methods[k]);
                if (strncmp(line, head, strlen(head)) || count_char(line, ',', nl) != 10)
                    ok = 0;
            }
            CHECK(ok, "summary.csv: header and rows source-only, lsd, oracle with seed 3 and "
                      "11 columns:\n%s", s);
        }
        free(s);
        snprintf(path, sizeof path, "%s/lsd/log.csv", d1);
        s = slurp(path, NULL);
        CHECK(s && count_lines(s) == 7 && !strncmp(s, "iter,loss_D,loss_G,loss_F,target_miou\n",
                                                   38),
              "lsd/log.csv: a header and 6 iterations");
        free(s);
        snprintf(path, sizeof path, "%s.stdout", d1);
        s = slurp(path, NULL);
        CHECK(s && strstr(s, "LSD (adapted)") && strstr(s, "report.html"),
              "stdout has the table and the report's place");
        free(s);
    }
    /* the same seed again, with two threads (source only and the oracle side by side, LSD's
     * two lanes, the evaluation on two workers) and with four (each of those with two): the
     * same files */
    for (t = 2; t <= 4; t += 2) {
        all = 1;
        if (!CHECK(run_quick(exe, d2, t) == 0, "quick run with %d threads", t)) return;
        for (i = 0; i < (int)(sizeof files / sizeof files[0]); i++) {
            char p2[1200], *a, *b;
            size_t la = 0, lb = 0;
            snprintf(path, sizeof path, "%s/%s", d1, files[i]);
            snprintf(p2, sizeof p2, "%s/%s", d2, files[i]);
            a = slurp(path, &la);
            b = slurp(p2, &lb);
            if (!a || !b || la != lb || memcmp(a, b, la)) all = 0;
            free(a);
            free(b);
        }
        CHECK(all, "two runs with seed 3 (1 and %d threads) write identical files", t);
    }
}

int main(void)
{
    test_begin("demo");
    check_sets();
    check_steps();
    check_command();
    return test_summary();
}
