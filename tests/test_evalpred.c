/* test_evalpred.c - `lsdseg eval --predictions` against cityscapesscripts'
 * evalPixelLevelSemanticLabeling on the same files: a miniature Cityscapes val set (three
 * 64x128 frames in two cities, label ids written with our PNG encoder) and prediction PNGs
 * of random ids, void ids included, found recursively under differently named files (one a
 * palette PNG). The 19 class IoUs and the mIoU of --csv must equal the official script's
 * (getPrediction to find the files, evaluateImgLists to score them) and the official rule
 * recounted here on a 34x34 id matrix (confusion_official_iou); the same maps written as
 * train ids (--pred-format trainid) must give the same. Then the errors, each also refused
 * by the official script: a missing prediction, two for one frame, a wrong size, an RGB PNG,
 * an id >= 34; a PNG matching no frame is only warned about. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/labels.h"
#include "../data/metrics.h"
#include "../data/png.h"
#include "harness.h"

#define GH 64
#define GW 128
#define NF 3

static const char *exe;
static char root[512];
static int have_official;

/* The ground-truth frames: city, sequence, frame. */
static const char *const CITY[NF] = {"aachen", "aachen", "zurich"};
static const int SEQ[NF] = {0, 1, 10}, FRAME[NF] = {19, 19, 42};

/* Where each frame's prediction goes under a prediction folder (folders and names vary, as
 * getPrediction allows: "<key>*.png" anywhere below). */
static const char *const PRED_NAME[NF] = {"aachen/%s_leftImg8bit.png", "sub/deeper/%s.png",
                                          "%s_pred.png"};

/* The official script's reference: IoUs of the 19 classes and their mean, or (mode find)
 * only the file search. Exits nonzero, printing "ERROR: ...", where the script refuses. */
static const char *const script[] = {
    "import sys, os, glob",
    "import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as ev",
    "cs, pred, out, mode = sys.argv[1:5]",
    "args = ev.args",
    "args.predictionPath = pred; args.predictionWalk = None",
    "args.evalInstLevelScore = False; args.evalPixelAccuracy = False",
    "args.JSONOutput = False; args.quiet = True",
    "gts = sorted(glob.glob(os.path.join(cs, 'gtFine', 'val', '*', '*_gtFine_labelIds.png')))",
    "preds = [ev.getPrediction(args, g) for g in gts]",
    "if mode == 'find': sys.exit(0)",
    "r = ev.evaluateImgLists(preds, gts, args)",
    "valid = [7,8,11,12,13,17,19,20,21,22,23,24,25,26,27,28,31,32,33]",
    "with open(out, 'w') as f:",
    "    for t, l in enumerate(valid): f.write('%r\\n' % r['classScores'][ev.id2label[l].name])",
    "    f.write('%r\\n' % r['averageScoreClasses'])",
    NULL};

/* Deterministic bytes for the fixture. */
static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16, x *= 0x7feb352dU, x ^= x >> 15, x *= 0x846ca68bU, x ^= x >> 16;
    return x;
}

/* mkdir -p; 0 on success. */
static int mkdirs(const char *p)
{
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    return system(cmd);
}

/* The frame's key city_seq_frame. */
static void frame_key(char *out, size_t cap, int k)
{
    snprintf(out, cap, "%s_%06d_%06d", CITY[k], SEQ[k], FRAME[k]);
}

/* Ground truth of frame k: sky, building or vegetation, road in bands, a fifth of the pixels
 * any id 0..31 (motorcycle 32 and bicycle 33 never appear). */
static void make_gt(uint8_t *gt, int k)
{
    int y, x;
    for (y = 0; y < GH; y++)
        for (x = 0; x < GW; x++) {
            uint32_t r = hash32((uint32_t)(k * GH * GW + y * GW + x));
            int id = y < GH / 3 ? 23 : y < 2 * GH / 3 ? (x < GW / 2 ? 11 : 21) : 7;
            if (r % 5 == 0) id = (int)((r >> 8) % 32);
            gt[y * GW + x] = (uint8_t)id;
        }
}

/* Prediction of frame k: the ground truth with 30% of the pixels replaced by any id 0..32
 * (void ids included; motorcycle predicted, bicycle never). */
static void make_pred(uint8_t *pred, const uint8_t *gt, int k)
{
    int i;
    for (i = 0; i < GH * GW; i++) {
        uint32_t r = hash32((uint32_t)(1000003 * (k + 1) + i));
        pred[i] = r % 10 < 3 ? (uint8_t)((r >> 8) % 33) : gt[i];
    }
}

/* Label ids -> train ids, 255 for the ids that are not evaluated. */
static void to_train(uint8_t *out, const uint8_t *ids, size_t n)
{
    uint8_t table[256];
    size_t i;
    labels_cityscapes_table(table);
    for (i = 0; i < n; i++) out[i] = table[ids[i]];
}

/* How a prediction folder differs from the good one. */
enum { V_GOOD, V_TRAIN, V_MISSING, V_TWO, V_SIZE, V_RGB, V_RANGE, V_TRAIN_RANGE };

/* Writes the predictions of all frames under dir in variant v (frame 2 as a palette PNG),
 * plus a PNG of a frame that is not in the set and a text file. */
static int write_preds(const char *dir, int v)
{
    static uint8_t gt[GH * GW], pred[GH * GW], tr[GH * GW], rgb[3 * GH * GW];
    uint8_t pal[3 * 256];
    char key[64], name[256], p[1200];
    lsd_err err;
    int k, rc = 0, i;
    FILE *f;
    for (i = 0; i < 256; i++) pal[3 * i] = (uint8_t)i, pal[3 * i + 1] = (uint8_t)(7 * i), pal[3 * i + 2] = 1;
    for (k = 0; k < NF && !rc; k++) {
        const uint8_t *px = pred;
        int h = GH, w = GW;
        make_gt(gt, k);
        make_pred(pred, gt, k);
        frame_key(key, sizeof key, k);
        snprintf(name, sizeof name, PRED_NAME[k], key);
        snprintf(p, sizeof p, "%s/%s", dir, name);
        *strrchr(p, '/') = '\0';
        rc |= mkdirs(p);
        snprintf(p, sizeof p, "%s/%s", dir, name);
        if (v == V_TRAIN || v == V_TRAIN_RANGE) {
            to_train(tr, pred, GH * GW);
            if (v == V_TRAIN_RANGE && k == 1) tr[5 * GW + 9] = 20;
            px = tr;
        }
        if (v == V_MISSING && k == 1) continue;
        if (v == V_SIZE && k == 1) h = GH / 2, w = GW / 2;
        if (v == V_RANGE && k == 1) pred[3 * GW + 7] = 40;
        if (v == V_RGB && k == 1) {
            for (i = 0; i < GH * GW; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = pred[i];
            rc |= png_save(p, rgb, GW, GH, 3, NULL, 0, &err);
            continue;
        }
        rc |= png_save(p, px, (uint32_t)w, (uint32_t)h, 1, k == 2 ? pal : NULL, k == 2 ? 256 : 0,
                       &err);
        if (v == V_TWO && k == 0) {
            snprintf(p, sizeof p, "%s/%s_copy.png", dir, key);
            rc |= png_save(p, px, GW, GH, 1, NULL, 0, &err);
        }
    }
    snprintf(p, sizeof p, "%s/bochum_000000_000313_pred.png", dir);
    rc |= png_save(p, pred, GW, GH, 1, NULL, 0, &err);
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    if ((f = fopen(p, "w"))) fputs("not a prediction\n", f), fclose(f);
    return rc;
}

/* The miniature Cityscapes tree: gtFine/val label ids and leftImg8bit/val images (the
 * dataset's layout needs both; the images are not read). */
static int make_data(void)
{
    static uint8_t gt[GH * GW], rgb[3 * GH * GW];
    char key[64], p[1200];
    lsd_err err;
    int k, rc = 0;
    for (k = 0; k < NF && !rc; k++) {
        frame_key(key, sizeof key, k);
        make_gt(gt, k);
        snprintf(p, sizeof p, "%s/cs/gtFine/val/%s", root, CITY[k]);
        rc |= mkdirs(p);
        snprintf(p, sizeof p, "%s/cs/leftImg8bit/val/%s", root, CITY[k]);
        rc |= mkdirs(p);
        snprintf(p, sizeof p, "%s/cs/gtFine/val/%s/%s_gtFine_labelIds.png", root, CITY[k], key);
        rc |= png_save(p, gt, GW, GH, 1, NULL, 0, &err);
        memset(rgb, 90 + 40 * k, sizeof rgb);
        snprintf(p, sizeof p, "%s/cs/leftImg8bit/val/%s/%s_leftImg8bit.png", root, CITY[k], key);
        rc |= png_save(p, rgb, GW, GH, 3, NULL, 0, &err);
    }
    return rc;
}

/* Runs the official script on prediction folder pred (mode "score" or "find"); returns its
 * exit status, its output in text and, scoring, the 19 IoUs and the mean in ref[0..19]. */
static int run_official(const char *pred, const char *mode, double ref[20], char *text,
                        size_t cap)
{
    char path[700], out[700];
    FILE *f;
    int i, rc;
    snprintf(path, sizeof path, "%s/official.py", root);
    snprintf(out, sizeof out, "%s/official.txt", root);
    if (!(f = fopen(path, "w"))) return -1;
    for (i = 0; script[i]; i++) fprintf(f, "%s\n", script[i]);
    fclose(f);
    remove(out);
    rc = test_run(text, cap, "%s '%s' '%s/cs' '%s' '%s' %s", test_python(), path, root, pred, out,
                  mode);
    if (rc == 0 && ref) {
        if (!(f = fopen(out, "r"))) return -1;
        for (i = 0; i < 20 && fscanf(f, "%lf", &ref[i]) == 1; i++) {}
        fclose(f);
        if (i < 20) return -1;
    }
    return rc;
}

/* Reads the 19 IoUs and the mIoU of an eval CSV into got[0..19]; 1 on success. */
static int read_csv(const char *path, double got[20])
{
    char line[256];
    int n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2 || !strncmp(line, "class,", 6)) continue;
        if (n < 19 && strtol(c1 + 1, NULL, 10) == n) got[n++] = strtod(c2 + 1, NULL);
        else if (!strncmp(line, "mIoU,19,", 8)) got[19] = strtod(c2 + 1, NULL), n = n == 19 ? 20 : n;
    }
    fclose(f);
    return n == 20;
}

/* The official rule recounted on a 34x34 id matrix of the fixture's maps (test_metrics
 * checks confusion_official_iou against the official script) into want; into fcn, the IoUs
 * of FCN's 19x19 train-id matrix, which drops the void predictions. */
static void recount(double want[20], double fcn[19])
{
    static uint8_t gt[GH * GW], pred[GH * GW], gtr[GH * GW], prr[GH * GW];
    confusion c, c19;
    seg_scores s;
    lsd_err err;
    double sum = 0;
    int k, i, n = 0;
    if (confusion_init(&c, 34, &err) || confusion_init(&c19, 19, &err)) test_die("confusion", &err);
    for (k = 0; k < NF; k++) {
        make_gt(gt, k);
        make_pred(pred, gt, k);
        if (confusion_add(&c, gt, pred, GH * GW, &err)) test_die("confusion_add", &err);
        to_train(gtr, gt, GH * GW);
        to_train(prr, pred, GH * GW);
        for (i = 0; i < GH * GW; i++)
            if (prr[i] == 255) gtr[i] = 255;
        for (i = 0; i < GH * GW; i++) prr[i] = prr[i] == 255 ? 0 : prr[i];
        if (confusion_add(&c19, gtr, prr, GH * GW, &err)) test_die("confusion_add", &err);
    }
    if (confusion_official_iou(&c, want, &err)) test_die("official iou", &err);
    for (k = 0; k < 19; k++)
        if (!isnan(want[k])) sum += want[k], n++;
    want[19] = sum / n;
    confusion_scores(&c19, NULL, 0, &s);
    memcpy(fcn, s.iou, 19 * sizeof *fcn);
    confusion_free(&c);
    confusion_free(&c19);
}

/* eval --predictions on the good folders (label ids and train ids) against both references. */
static void test_scores(void)
{
    char t[8192], dir[700], csv[700];
    double want[20], ref[20], got[20], fcn[19], d = 0;
    int rc, k;
    recount(want, fcn);
    CHECK(isnan(want[18]) && want[17] == 0.0, "fixture: bicycle NaN, motorcycle 0 (%g %g)",
          want[18], want[17]);
    for (k = 0; k < 17; k++) d = fabs(fcn[k] - want[k]) > d ? fabs(fcn[k] - want[k]) : d;
    CHECK(d > 0.01, "fixture: void predictions change the IoUs (by up to %.4f vs dropping them)",
          d);
    snprintf(dir, sizeof dir, "%s/pred_ids", root);
    snprintf(csv, sizeof csv, "%s/ids.csv", root);
    rc = test_run(t, sizeof t, "%s eval --predictions '%s' --data '%s/cs' --csv '%s' --quiet",
                  exe, dir, root, csv);
    CHECK(rc == 0 && strstr(t, "mIoU (19 classes") && strstr(t, "not evaluated"),
          "eval --predictions: %d %s", rc, t);
    CHECK(strstr(t, "warning") && strstr(t, "bochum_000000_000313_pred.png") &&
          !strstr(t, "notes.txt"), "a PNG of no frame is warned about: %s", t);
    CHECK(read_csv(csv, got), "%s holds 19 IoUs and the mIoU", csv);
    test_close_double("ids vs official rule recounted", got, want, 20, 1e-6, 0);
    if (have_official) {
        rc = run_official(dir, "score", ref, t, sizeof t);
        CHECK(rc == 0, "official script on %s: %d %s", dir, rc, t);
        if (rc == 0) {
            test_close_double("ids vs cityscapesscripts", got, ref, 20, 1e-6, 0);
            printf("evalpred: mIoU lsdseg %.6f, cityscapesscripts %.6f (%s)\n", got[19], ref[19],
                   dir);
        }
    }
    snprintf(dir, sizeof dir, "%s/pred_train", root);
    snprintf(csv, sizeof csv, "%s/train.csv", root);
    rc = test_run(t, sizeof t, "%s eval --predictions '%s' --pred-format trainid --data '%s/cs' "
                  "--csv '%s' --quiet", exe, dir, root, csv);
    CHECK(rc == 0 && strstr(t, "train ids"), "eval --pred-format trainid: %d %s", rc, t);
    memset(got, 0, sizeof got);
    CHECK(read_csv(csv, got), "%s holds 19 IoUs and the mIoU", csv);
    test_close_double("trainid vs official rule recounted", got, want, 20, 1e-6, 0);
}

/* One failing run: exit status 1 and every word in the message; the official script refuses
 * the same folder (mode: "find" for the file search, "score" for the contents; NULL: not
 * checked). It fails with "ERROR: ..." or, for an id >= 34, an IndexError. */
static void expect_error(const char *variant, const char *fmt, const char *mode, ...)
{
    char t[8192], dir[700], words[4][200];
    const char *w;
    va_list ap;
    int rc, n = 0, ok = 1, k;
    snprintf(dir, sizeof dir, "%s/pred_%s", root, variant);
    rc = test_run(t, sizeof t, "%s eval --predictions '%s' --data '%s/cs' --quiet%s", exe, dir,
                  root, fmt);
    va_start(ap, mode);
    while (n < 4 && (w = va_arg(ap, const char *)) != NULL) {
        snprintf(words[n++], sizeof words[0], "%s", w);
    }
    va_end(ap);
    for (k = 0; k < n; k++) ok &= strstr(t, words[k]) != NULL;
    CHECK(rc == 1 && ok, "%s: status 1 and a message naming %s...: %d %s", variant, words[0], rc,
          t);
    if (have_official && mode) {
        rc = run_official(dir, mode, NULL, t, sizeof t);
        CHECK(rc != 0 && (strstr(t, "ERROR") || strstr(t, "IndexError")), "%s: the official script refuses it too: %d %s",
              variant, rc, t);
    }
}

int main(void)
{
    static const char *const dirs[] = {"ids", "train", "missing", "two", "size", "rgb", "range",
                                       "trange"};
    char p[700], t[4096];
    int v, rc;
    test_begin("evalpred");
    exe = getenv("LSD_LSDSEG");
    if (!exe || !*exe) {
        test_skip("LSD_LSDSEG not set: lsdseg eval --predictions is not checked");
        return test_summary();
    }
    snprintf(root, sizeof root, "%s/evalpred", test_tmp_dir());
    snprintf(p, sizeof p, "rm -rf '%s'", root);
    rc = system(p) != 0 || mkdirs(root) != 0 || make_data() != 0;
    for (v = 0; v < 8 && !rc; v++) {
        snprintf(p, sizeof p, "%s/pred_%s", root, dirs[v]);
        rc |= mkdirs(p) != 0 || write_preds(p, v) != 0;
    }
    if (rc) {
        CHECK(0, "cannot write the miniature Cityscapes set under %s", root);
        return test_summary();
    }
    have_official = test_have_python_module("cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling");
    if (!have_official)
        test_skip("cityscapesscripts not importable by %s: compared with the official rule "
                  "recounted here only", test_python());
    rc = test_run(t, sizeof t, "%s eval --help", exe);
    CHECK(rc == 0 && strstr(t, "--predictions") && strstr(t, "--pred-format"),
          "--help documents --predictions: %d", rc);
    test_scores();
    expect_error("missing", "", "find", "aachen_000001_000019 ", "aachen_000001_000019*.png", "pred_missing", NULL);
    expect_error("two", "", "find", "two predictions", "aachen_000000_000019_copy.png",
                 "aachen/aachen_000000_000019_leftImg8bit.png", NULL);
    expect_error("size", "", "score", "sub/deeper/aachen_000001_000019.png", "64x32", "128x64",
                 NULL);
    expect_error("rgb", "", "score", "sub/deeper/aachen_000001_000019.png", "RGB", NULL);
    expect_error("range", "", "score", "sub/deeper/aachen_000001_000019.png", "40", "trainid",
                 NULL);
    /* train-id files are not the official format: our check only */
    expect_error("trange", " --pred-format trainid", NULL, "aachen_000001_000019.png", "20",
                 NULL);
    rc = test_run(t, sizeof t, "%s eval --predictions x --ckpt y --data z", exe);
    CHECK(rc == 2 && strstr(t, "not both"), "--predictions with --ckpt: %d %s", rc, t);
    rc = test_run(t, sizeof t, "%s eval --predictions x --size 32x64 --data z", exe);
    CHECK(rc == 2 && strstr(t, "--size"), "--predictions with --size: %d %s", rc, t);
    rc = test_run(t, sizeof t, "%s eval --predictions x --pred-format rgb --data z", exe);
    CHECK(rc == 2 && strstr(t, "'rgb'"), "--pred-format rgb: %d %s", rc, t);
    rc = test_run(t, sizeof t, "%s eval --ckpt x --pred-format id --data z", exe);
    CHECK(rc == 2 && strstr(t, "--pred-format"), "--pred-format without --predictions: %d %s",
          rc, t);
    return test_summary();
}
