/* test_cli.c - `lsdseg train`, `eval` and `predict` end to end on miniature GTA5 and
 * Cityscapes folders written with our PNG encoder: --help, one-line errors with exit codes
 * 2 (usage) and 1 (runtime), a tiny training run (log.csv, val.csv, checkpoints, samples),
 * resume equal to an uninterrupted run bit for bit, Ctrl-C saving a checkpoint, eval's mIoU
 * against a naive recount from the label-id PNGs it saves, and predict agreeing with eval. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../data/png.h"
#include "../gan/checkpoint.h"
#include "../gan/lsd.h"
#include "../layers/optim.h"
#include "harness.h"
#include "mini_data.h"

static const char *exe;
static char root[256];

/* The 19 evaluated Cityscapes label ids in train-id order (datasets.md). */
static const int IDS19[19] = {7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
                              31, 32, 33};


/* Runs "exe ARGS" (exe unquoted: under qemu it starts with the runner); returns the exit
 * status and the output (stdout and stderr) in text. */
static int run(char *text, size_t cap, const char *fmt, ...)
{
    char args[4400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return test_run(text, cap, "%s %s", exe, args);
}

/* Number of lines of a file (-1 if missing). */
static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int c, n = 0;
    if (!f) return -1;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The common part of the training command lines. */
static void train_args(char *buf, size_t cap, const char *out, long iters, const char *extra)
{
    snprintf(buf, cap,
             "train --source-type gta5 --source '%s/gta' --target-type cityscapes --target "
             "'%s/cs' --val-type cityscapes --val '%s/cs' --out '%s/%s' --iters %ld --size "
             "32x64 --width-mult 0.0625 --save-every 2 --val-every 3 --samples 1 --prefetch 2 "
             "--threads 1 --quiet %s",
             root, root, root, root, out, iters, extra);
}

/* 1 if two model files hold bit-identical parameters. */
static int same_params(const char *a, const char *b)
{
    LsdModel ma, mb;
    lsd_err err;
    int ok;
    if (lsd_model_load(&ma, a, &err)) return 0;
    if (lsd_model_load(&mb, b, &err)) {
        lsd_model_free(&ma);
        return 0;
    }
    ok = ma.F.pa.total == mb.F.pa.total && ma.G.pa.total == mb.G.pa.total &&
         ma.D.pa.total == mb.D.pa.total && ma.step == mb.step &&
         !memcmp(ma.F.pa.param, mb.F.pa.param, ma.F.pa.total * sizeof(real)) &&
         !memcmp(ma.G.pa.param, mb.G.pa.param, ma.G.pa.total * sizeof(real)) &&
         !memcmp(ma.D.pa.param, mb.D.pa.param, ma.D.pa.total * sizeof(real)) &&
         !memcmp(ma.F.pa.m, mb.F.pa.m, ma.F.pa.total * sizeof(real));
    lsd_model_free(&ma);
    lsd_model_free(&mb);
    return ok;
}

static void test_usage(void)
{
    static const char *const cmds[] = {"train", "eval", "predict"};
    char t[8192], a[4000];
    int k, rc;
    for (k = 0; k < 3; k++) {
        rc = run(t, sizeof t, "%s --help", cmds[k]);
        CHECK(rc == 0 && strstr(t, "usage: lsdseg ") && strstr(t, cmds[k]) && strstr(t, "--help"),
              "%s --help: %d %s", cmds[k], rc, t);
        rc = run(t, sizeof t, "%s --bogus 1", cmds[k]);
        CHECK(rc == 2 && strstr(t, "--bogus") && strchr(t, '\n') == t + strlen(t) - 1,
              "%s --bogus: one line, status 2: %d %s", cmds[k], rc, t);
        rc = run(t, sizeof t, "%s --backend opencl", cmds[k]);
        CHECK(rc == 2 && strstr(t, "opencl"), "%s --backend opencl: %d %s", cmds[k], rc, t);
    }
    train_args(a, sizeof a, "bad", 2, "--size 100x64");
    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 2 && strstr(t, "--size") && strstr(t, "32"), "train --size 100x64: %d %s", rc, t);
    train_args(a, sizeof a, "bad", 2, "--method gan");
    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 2 && strstr(t, "'gan'"), "train --method gan: %d %s", rc, t);
    rc = run(t, sizeof t, "train --source-type gta9 --source x --out y");
    CHECK(rc == 2 && strstr(t, "gta9"), "train --source-type gta9: %d %s", rc, t);
    rc = run(t, sizeof t, "train --source-type gta5 --source x --out y --iters -5");
    CHECK(rc == 2 && strstr(t, "--iters") && strstr(t, "-5"), "train --iters -5: %d %s", rc, t);
    rc = run(t, sizeof t, "train --source-type gta5 --source '%s/nowhere' --target-type "
             "cityscapes --target '%s/cs' --out '%s/bad'", root, root, root);
    CHECK(rc == 1 && strstr(t, "nowhere"), "train with a missing source: %d %s", rc, t);
    rc = run(t, sizeof t, "eval --ckpt '%s/missing.safetensors' --data '%s/cs'", root, root);
    CHECK(rc == 1 && strstr(t, "missing.safetensors"), "eval with a missing ckpt: %d %s", rc, t);
    rc = run(t, sizeof t, "eval --data '%s/cs'", root);
    CHECK(rc == 2 && strstr(t, "--ckpt"), "eval without --ckpt: %d %s", rc, t);
    rc = run(t, sizeof t, "predict --ckpt x --out y");
    CHECK(rc == 2 && strstr(t, "IMAGE"), "predict without images: %d %s", rc, t);
    rc = run(t, sizeof t, "eval --ckpt x --data y --classes-subset 17");
    CHECK(rc == 2 && strstr(t, "17"), "eval --classes-subset 17: %d %s", rc, t);
}

/* Trains 6 iterations straight, and 4 + 2 with --resume auto; both must agree exactly. */
static void test_train_resume(void)
{
    char t[8192], a[4000], p[900], q[900], la[4096], lb[4096];
    int rc;
    train_args(a, sizeof a, "A", 6, "");
    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 0, "train 6 iterations: %d %s", rc, t);
    snprintf(p, sizeof p, "%s/A/log.csv", root);
    CHECK(count_lines(p) == 7, "log.csv: header + 6 rows, got %d lines", count_lines(p));
    snprintf(p, sizeof p, "%s/A/val.csv", root);
    CHECK(count_lines(p) == 3, "val.csv: header + 2 validations, got %d lines", count_lines(p));
    snprintf(p, sizeof p, "%s/A/ckpt-00000006.safetensors", root);
    CHECK(exists(p) && ckpt_validate(p, NULL, NULL) == LSD_OK, "final checkpoint %s", p);
    snprintf(p, sizeof p, "%s/A/ckpt-00000002.safetensors", root);
    CHECK(!exists(p), "only the newest 2 checkpoints kept");
    snprintf(p, sizeof p, "%s/A/samples/iter00000003_0.png", root);
    CHECK(exists(p), "sample panel %s", p);
    snprintf(p, sizeof p, "%s/A/best.safetensors", root);
    CHECK(exists(p), "best.safetensors");

    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 2 && strstr(t, "--resume auto"), "refuses a folder with checkpoints: %d %s",
          rc, t);

    train_args(a, sizeof a, "B", 4, "");
    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 0, "train 4 iterations: %d %s", rc, t);
    train_args(a, sizeof a, "B", 6, "--resume auto");
    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 0 && strstr(t, "resuming at iteration 4"), "resume to 6: %d %s", rc, t);
    snprintf(p, sizeof p, "%s/A/ckpt-00000006.safetensors", root);
    snprintf(q, sizeof q, "%s/B/ckpt-00000006.safetensors", root);
    CHECK(same_params(p, q), "4 + 2 iterations with --resume auto equal 6 in one run");
    snprintf(p, sizeof p, "%s/A/log.csv", root);
    snprintf(q, sizeof q, "%s/B/log.csv", root);
    csv_without_last(p, la, sizeof la);
    csv_without_last(q, lb, sizeof lb);
    CHECK(la[0] && !strcmp(la, lb), "log.csv losses equal:\n%s---\n%s", la, lb);
}

/* --recipe authors: recorded in the checkpoints, kept by --resume, a different recipe refused
 * on resume; 2 + 2 iterations with --resume equal 4 in one run. */
static void test_train_recipe(void)
{
    char t[8192], a[4000], p[900], q[900];
    st_file sf;
    lsd_err err;
    const char *rec;
    int rc;
    train_args(a, sizeof a, "R", 4, "--recipe authors --val-every 0");
    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 0, "train --recipe authors: %d %s", rc, t);
    snprintf(p, sizeof p, "%s/R/ckpt-00000004.safetensors", root);
    if (CHECK(st_open(&sf, p, &err) == LSD_OK, "%s", err.msg)) {
        rec = st_meta(&sf, "recipe");
        CHECK(rec && !strcmp(rec, "schedule=authors adam=pytorch02 d_labels=authors "
                             "d_input=bgr"), "checkpoint's recipe: %s", rec ? rec : "(none)");
        st_close(&sf);
    }
    train_args(a, sizeof a, "S", 2, "--recipe authors --val-every 0");
    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 0, "train 2: %d %s", rc, t);
    train_args(a, sizeof a, "S", 4, "--resume auto --recipe paper --val-every 0");
    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 2 && strstr(t, "schedule=authors") && strstr(t, "--resume"),
          "resume with another recipe refused: %d %s", rc, t);
    train_args(a, sizeof a, "S", 4, "--resume auto --val-every 0");
    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 0 && strstr(t, "recipe authors"), "resume keeps the recipe: %d %s", rc, t);
    snprintf(q, sizeof q, "%s/S/ckpt-00000004.safetensors", root);
    CHECK(same_params(p, q), "2 + 2 iterations of the authors' recipe equal 4 in one run");
}

/* --lr-decay-epochs 1 on 3-sample epochs: F's rate x0.1 after every 3 iterations, in log.csv's
 * lr_f column from the right row on, and the last rate in the checkpoint equal to
 * lr_step_schedule's (which test_optim checks against torch's StepLR bit for bit). */
static void test_train_decay(void)
{
    char t[8192], a[4000], p[900], line[512];
    st_file sf;
    lsd_err err;
    FILE *f;
    int rc, rows = 0, good = 0;
    train_args(a, sizeof a, "L", 13, "--lr-decay-epochs 1 --val-every 0 --save-every 100");
    rc = run(t, sizeof t, "%s", a);
    CHECK(rc == 0, "train with --lr-decay-epochs 1: %d %s", rc, t);
    snprintf(p, sizeof p, "%s/L/log.csv", root);
    if ((f = fopen(p, "r")) && fgets(line, sizeof line, f)) {
        while (fgets(line, sizeof line, f)) {
            long iter = atol(line);
            const char *c = line;
            char want[32];
            int k;
            for (k = 0; k < 5 && c; k++) c = strchr(c + 1, ','); /* lr_f: the sixth field */
            snprintf(want, sizeof want, "%.6g", 1e-5 / pow(10, (double)((iter - 1) / 3)));
            rows++;
            if (c && !strncmp(c + 1, want, strlen(want)) && c[1 + strlen(want)] == ',') good++;
            else CHECK(0, "log.csv row %ld: lr_f should be %s: %s", iter, want, line);
        }
    }
    if (f) fclose(f);
    CHECK(rows == 13 && good == 13, "lr_f of %d of 13 rows follow the decays", good);
    snprintf(p, sizeof p, "%s/L/ckpt-00000013.safetensors", root);
    if (CHECK(st_open(&sf, p, &err) == LSD_OK, "%s", err.msg)) {
        const char *v = st_meta(&sf, "lr_f_weight");
        double want = lr_step_schedule(1e-5, 12, 3, 0.1);
        CHECK(v && strtod(v, NULL) == want, "checkpoint lr_f_weight %s is %.17g (4 decays)",
              v ? v : "(none)", want);
        st_close(&sf);
    }
}

/* Sends SIGINT to a long run once log.csv has two rows; it must save and exit 130. */
static void test_interrupt(void)
{
    char a[4000], p[900], ck[CKPT_PATH_MAX];
    char *argv[64];
    pid_t pid;
    int n = 0, status = 0, rows = -1, found = 0, i;
    lsd_err err;
    LsdModel m;
    train_args(a, sizeof a, "C", 100000, "--save-every 1000 --val-every 0");
    /* split the command line (the fixture's paths hold no spaces or quotes besides ours) */
    {
        char *s = a, *tok;
        argv[n++] = (char *)exe;
        while ((tok = strtok(s, " ")) && n < 63) {
            size_t L = strlen(tok);
            if (tok[0] == '\'' && L >= 2 && tok[L - 1] == '\'') tok[L - 1] = '\0', tok++;
            argv[n++] = tok;
            s = NULL;
        }
        argv[n] = NULL;
    }
    pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(126);
        execv(exe, argv);
        _exit(127);
    }
    CHECK(pid > 0, "fork");
    if (pid <= 0) return;
    snprintf(p, sizeof p, "%s/C/log.csv", root);
    for (i = 0; i < 600 && count_lines(p) < 3; i++) {
        struct timespec ts;
        ts.tv_sec = 0, ts.tv_nsec = 50000000L;
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGINT);
    waitpid(pid, &status, 0);
    rows = count_lines(p) - 1;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 130, "Ctrl-C: exit status 130 (status %d)",
          status);
    snprintf(p, sizeof p, "%s/C", root);
    CHECK(ckpt_find_latest(p, NULL, ck, sizeof ck, &found, NULL, 0, &err) == LSD_OK && found,
          "Ctrl-C left a valid checkpoint");
    if (found && lsd_model_load(&m, ck, &err) == LSD_OK) {
        CHECK(m.step == rows && rows >= 2, "checkpoint at the last logged iteration (%ld, %d rows)",
              m.step, rows);
        lsd_model_free(&m);
    }
}

/* Reads a one-channel 8-bit PNG. */
static uint8_t *load_gray(const char *path, int *H, int *W)
{
    png_image img;
    lsd_err err;
    uint8_t *d;
    if (png_load(path, PNG_OUT_AS_STORED, 0, NULL, &img, &err) || img.channels != 1) return NULL;
    *H = (int)img.height, *W = (int)img.width;
    d = (uint8_t *)img.data;
    img.data = NULL;
    png_image_free(&img);
    return d;
}

/* eval's CSV mIoU against a naive recount from its label-id PNGs; predict agrees with eval. */
static void test_eval_predict(void)
{
    char t[8192], p[900], q[900], line[256];
    uint64_t conf[19][19];
    int rc, k, ok_ids = 1, same = 1, i;
    double miou = -1, sum = 0, csv_miou = -2;
    int nvalid = 0;
    FILE *f;
    int tr[256];
    memset(conf, 0, sizeof conf);
    for (k = 0; k < 256; k++) tr[k] = 255;
    for (k = 0; k < 19; k++) tr[IDS19[k]] = k;
    rc = run(t, sizeof t,
             "eval --ckpt '%s/A/ckpt-00000006.safetensors' --data '%s/cs' --size 32x64 --csv "
             "'%s/eval.csv' --save-predictions '%s/pred' --quiet --threads 1",
             root, root, root, root);
    CHECK(rc == 0 && strstr(t, "mIoU (19 classes") && strstr(t, "road"), "eval: %d %s", rc, t);
    for (k = 3; k < 5; k++) {
        int GH = 0, GW = 0, PH = 0, PW = 0;
        uint8_t *gt, *pr;
        snprintf(p, sizeof p, "%s/cs/gtFine/val/ulm/ulm_000000_%06d_gtFine_labelIds.png", root, k);
        snprintf(q, sizeof q, "%s/pred/labelIds/ulm_000000_%06d.png", root, k);
        gt = load_gray(p, &GH, &GW);
        pr = load_gray(q, &PH, &PW);
        CHECK(gt && pr && GH == 48 && GW == 96 && PH == 48 && PW == 96,
              "prediction %s at full size (%dx%d)", q, PW, PH);
        for (i = 0; gt && pr && PH == GH && PW == GW && i < GH * GW; i++) {
            ok_ids &= tr[pr[i]] != 255;
            if (tr[gt[i]] != 255 && tr[pr[i]] != 255) conf[tr[gt[i]]][tr[pr[i]]]++;
        }
        free(gt);
        free(pr);
    }
    CHECK(ok_ids, "predictions hold only the 19 evaluated label ids");
    for (k = 0; k < 19; k++) {
        uint64_t row = 0, col = 0;
        for (i = 0; i < 19; i++) row += conf[k][i], col += conf[i][k];
        if (row + col - conf[k][k] > 0) {
            sum += (double)conf[k][k] / (double)(row + col - conf[k][k]);
            nvalid++;
        }
    }
    miou = nvalid ? sum / nvalid : 0;
    snprintf(p, sizeof p, "%s/eval.csv", root);
    if ((f = fopen(p, "r"))) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "mIoU,", 5)) {
                char *c = strchr(line + 5, ',');
                if (c) csv_miou = atof(c + 1);
            }
        fclose(f);
    }
    CHECK(count_lines(p) == 1 + 19 + 4, "eval.csv: %d lines", count_lines(p));
    CHECK(fabs(csv_miou - miou) < 2e-6, "eval mIoU %.6f equals the naive recount %.6f", csv_miou,
          miou);

    rc = run(t, sizeof t,
             "predict --ckpt '%s/A/ckpt-00000006.safetensors' --out '%s/predict' --size 32x64 "
             "--threads 1 --overlay '%s/cs/leftImg8bit/val/ulm/ulm_000000_000003_leftImg8bit.png'",
             root, root, root);
    CHECK(rc == 0, "predict: %d %s", rc, t);
    {
        int H1 = 0, W1 = 0, H2 = 0, W2 = 0;
        uint8_t *a, *b;
        snprintf(p, sizeof p, "%s/predict/ulm_000000_000003_labelIds.png", root);
        snprintf(q, sizeof q, "%s/pred/labelIds/ulm_000000_000003.png", root);
        a = load_gray(p, &H1, &W1);
        b = load_gray(q, &H2, &W2);
        same = a && b && H1 == H2 && W1 == W2 && !memcmp(a, b, (size_t)H1 * W1);
        CHECK(same, "predict's label ids equal eval's for the same image");
        free(a);
        free(b);
        snprintf(p, sizeof p, "%s/predict/ulm_000000_000003_color.png", root);
        snprintf(q, sizeof q, "%s/predict/ulm_000000_000003_overlay.png", root);
        CHECK(exists(p) && exists(q), "colour and overlay PNGs");
    }
    rc = run(t, sizeof t, "predict --ckpt '%s/A/ckpt-00000006.safetensors' --out '%s/predict' "
             "'%s/none.png'", root, root, root);
    CHECK(rc == 1 && strstr(t, "none.png"), "predict on a missing image: %d %s", rc, t);
    rc = run(t, sizeof t,
             "eval --ckpt '%s/A/ckpt-00000006.safetensors' --data '%s/cs' --size 32x64 "
             "--classes-subset 16 --quiet --threads 1", root, root);
    CHECK(rc == 0 && strstr(t, "mIoU (16 classes"), "eval --classes-subset 16: %d %s", rc, t);
}

int main(void)
{
    test_begin("cli");
    exe = getenv("LSD_LSDSEG");
    if (!exe || !*exe) {
        test_skip("LSD_LSDSEG not set: the lsdseg commands are not checked");
        return test_summary();
    }
    snprintf(root, sizeof root, "%s/cli", test_tmp_dir());
    /* GTA5 (3 frames) and Cityscapes (5: 3 train, 2 val) */
    if (make_mini_root(root, 3, 5) != 0) {
        CHECK(0, "cannot write the miniature datasets under %s", root);
        return test_summary();
    }
    test_usage();
    test_train_resume();
    test_train_recipe();
    test_train_decay();
    test_interrupt();
    test_eval_predict();
    return test_summary();
}
