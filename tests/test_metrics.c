/* test_metrics.c - confusion matrix and scores against the official Cityscapes evaluation
 * (cityscapesscripts, or a numpy copy of its rules) and FCN's numpy formulas; prediction
 * files read back by the official script. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../data/labels.h"
#include "../data/metrics.h"
#include "../data/png.h"
#include "harness.h"

#define H 37
#define W 53
#define NIMG 4
#define PH 13
#define PW 19

/* The Python with numpy and Pillow: $LSD_PYTHON, /usr/bin/python3, or python3. */
/* The fixture: random label-id maps, predictions, the official IoUs and FCN's numbers. */
static const char *const script[] = {
    "import sys, numpy as np",
    "from PIL import Image",
    "d, H, W, N, PH, PW, mode = sys.argv[1], *map(int, sys.argv[2:7]), sys.argv[7]",
    "try:",
    "    import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as ev",
    "    official = True",
    "except Exception:",
    "    official = False",
    "valid = [7,8,11,12,13,17,19,20,21,22,23,24,25,26,27,28,31,32,33]",
    "ignored = [0,1,2,3,4,5,6,9,10,14,15,16,18,29,30]",
    "table = np.full(256, 255, np.uint8)",
    "for t, i in enumerate(valid): table[i] = t",
    "def official_iou(pairs):",
    "    if official:",
    "        args = ev.args; args.evalInstLevelScore = False; args.evalPixelAccuracy = False",
    "        args.quiet = True",
    "        C = ev.generateMatrix(args)",
    "        for p, g in pairs: ev.evaluatePair(p, g, C, None, {}, args)",
    "        return [ev.getIouScoreForLabel(l, C, args) for l in valid]",
    "    # numpy copy of the rules (evaluatePair, getIouScoreForLabel)",
    "    C = np.zeros((34, 34), np.int64)",
    "    for p, g in pairs:",
    "        a = np.array(Image.open(p)).astype(np.int64); b = np.array(Image.open(g)).astype(np.int64)",
    "        np.add.at(C, (b.ravel(), a.ravel()), 1)",
    "    out = []",
    "    for l in valid:",
    "        tp = C[l, l]; fn = C[l, :].sum() - tp",
    "        fp = C[[g for g in valid if g != l], l].sum()",
    "        den = tp + fp + fn",
    "        out.append(float('nan') if den == 0 else float(tp) / den)",
    "    return out",
    "out = open(d + '/metrics_ref_' + mode + '.txt', 'w')",
    "out.write('official 0 %d\\n' % official)",
    "if mode == 'gen':",
    "    rng = np.random.RandomState(2018)",
    "    hist = np.zeros((19, 19), np.int64); hist_up = np.zeros((19, 19), np.int64)",
    "    pairs, pairs_ign = [], []",
    "    for k in range(N):",
    "        gt = rng.choice(valid[:-2] + ignored, size=(H, W)).astype(np.uint8)  # 32, 33 absent",
    "        gt[rng.rand(H, W) < 0.5] = valid[k]  # a dominant class per image",
    "        pred = gt.copy()",
    "        noise = (rng.rand(H, W) < 0.35) | np.isin(gt, ignored)",
    "        pred[noise] = rng.choice(valid[:-1], size=noise.sum())  # 33 never predicted",
    "        pign = pred.copy(); m = rng.rand(H, W) < 0.1",
    "        pign[m] = rng.choice(ignored, size=m.sum())",
    "        small = rng.choice(valid, size=(PH, PW)).astype(np.uint8)",
    "        for name, a in (('gt', gt), ('pred', pred), ('pign', pign), ('small', small)):",
    "            a.tofile('%s/m_%s_%d.bin' % (d, name, k))",
    "            Image.fromarray(a).save('%s/m_%s_%d.png' % (d, name, k))",
    "        pairs.append(('%s/m_pred_%d.png' % (d, k), '%s/m_gt_%d.png' % (d, k)))",
    "        pairs_ign.append(('%s/m_pign_%d.png' % (d, k), '%s/m_gt_%d.png' % (d, k)))",
    "        g, p = table[gt].astype(np.int64), table[pred].astype(np.int64)",
    "        k2 = g < 19",
    "        hist += np.bincount(19 * g[k2] + p[k2], minlength=361).reshape(19, 19)",
    "        up = np.array(Image.fromarray(small).resize((W, H), Image.NEAREST))",
    "        pu = table[up].astype(np.int64)",
    "        hist_up += np.bincount(19 * g[k2] + pu[k2], minlength=361).reshape(19, 19)",
    "    for name, pr in (('iou', pairs), ('iouign', pairs_ign)):",
    "        for t, v in enumerate(official_iou(pr)): out.write('%s %d %r\\n' % (name, t, v))",
    "    for name, hh in (('fcn', hist), ('fcnup', hist_up)):",
    "        with np.errstate(all='ignore'):",
    "            diag = np.diag(hh).astype(float)",
    "            iu = diag / (hh.sum(1) + hh.sum(0) - diag)",
    "            acc = diag.sum() / hh.sum(); acc_cls = np.nanmean(diag / hh.sum(1))",
    "            freq = hh.sum(1) / hh.sum(); fw = (freq[freq > 0] * iu[freq > 0]).sum()",
    "        for t in range(19): out.write('%s_iu %d %r\\n' % (name, t, iu[t]))",
    "        out.write('%s_acc 0 %r\\n%s_acccls 0 %r\\n%s_miou 0 %r\\n%s_fw 0 %r\\n' % (name, acc,",
    "                  name, acc_cls, name, np.nanmean(iu), name, fw))",
    "        for n, sub in ((16, [0,1,2,3,4,5,6,7,8,10,11,12,13,15,17,18]),",
    "                       (13, [0,1,2,6,7,8,10,11,12,13,15,17,18])):",
    "            out.write('%s_miou%d 0 %r\\n' % (name, n, np.nanmean(iu[sub])))",
    "else:",
    "    pairs = [('%s/m_ours_%d.png' % (d, k), '%s/m_gt_%d.png' % (d, k)) for k in range(N)]",
    "    for t, v in enumerate(official_iou(pairs)): out.write('written %d %r\\n' % (t, v))",
    "    a = Image.open(pairs[0][0]); out.write('mode 0 %r\\n' % float(a.mode == 'L'))",
    "out.close()",
    NULL};

/* Runs the fixture in mode "gen" or "written"; 1 on success. */
static int run_fixture(const char *tmp, const char *mode)
{
    char path[600], cmd[1400];
    FILE *f;
    int i;
    snprintf(path, sizeof path, "%s/metrics_fixture.py", tmp);
    f = fopen(path, "w");
    if (!f) return 0;
    for (i = 0; script[i]; i++) fprintf(f, "%s\n", script[i]);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s %s %d %d %d %d %d %s", test_python(), path, tmp, H, W, NIMG,
             PH, PW, mode);
    return system(cmd) == 0;
}

/* Looks up "key idx value" in the reference file; NaN-aware; 1 if found. */
static int ref_value(const char *tmp, const char *key, int idx, double *v)
{
    static const char *const modes[2] = {"gen", "written"};
    char path[600], k[64], val[64];
    int i, m;
    FILE *f;
    for (m = 0; m < 2; m++) {
        snprintf(path, sizeof path, "%s/metrics_ref_%s.txt", tmp, modes[m]);
        f = fopen(path, "r");
        if (!f) continue;
        while (fscanf(f, "%63s %d %63s", k, &i, val) == 3) {
            if (strcmp(k, key) == 0 && i == idx) {
                fclose(f);
                *v = strcmp(val, "nan") == 0 ? nan("") : strtod(val, NULL);
                return 1;
            }
        }
        fclose(f);
    }
    return 0;
}

/* Reads n raw bytes. */
static int read_raw(const char *path, uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "rb");
    int ok = f && fread(p, 1, n, f) == n;
    if (f) fclose(f);
    return ok;
}

/* Compares 19 values with the reference key to 1e-12. */
static void compare19(const char *tmp, const char *key, const double *got)
{
    double ref[19];
    int t, ok = 1;
    for (t = 0; t < 19; t++) ok &= ref_value(tmp, key, t, &ref[t]);
    CHECK(ok, "reference values '%s' present", key);
    if (ok) test_close_double(key, got, ref, 19, 1e-12, 0);
}

/* Compares one value with the reference key to 1e-12. */
static void compare1(const char *tmp, const char *key, double got)
{
    double ref;
    CHECK(ref_value(tmp, key, 0, &ref) && fabs(got - ref) <= 1e-12, "%s: got %.17g ref %.17g",
          key, got, ref_value(tmp, key, 0, &ref) ? ref : -1.0);
}

/* Scores from synthetic maps against the references of the fixture. */
static void cross_check(const char *tmp)
{
    confusion c19, cup, c34, cign;
    seg_scores s;
    uint8_t table[256], gt[H * W], pred[H * W], pign[H * W], small[PH * PW], gtr[H * W];
    char path[600];
    double official, iou[19];
    const int *sub;
    int k, i, n, use_ids = 1;
    lsd_err err;
    labels_cityscapes_table(table);
    snprintf(path, sizeof path, "%s/metrics_ref_written.txt", tmp);
    remove(path);
    if (!run_fixture(tmp, "gen")) {
        test_skip("python3 with numpy and Pillow failed: evaluation cross-check skipped");
        return;
    }
    if (ref_value(tmp, "official", 0, &official) && official == 1) {
        printf("metrics: reference = cityscapesscripts' evalPixelLevelSemanticLabeling\n");
    } else {
        test_skip("cityscapesscripts not importable: reference = numpy copy of its rules");
    }
    confusion_init(&c19, 19, &err);
    confusion_init(&cup, 19, &err);
    confusion_init(&c34, 34, &err);
    confusion_init(&cign, 34, &err);
    for (k = 0; k < NIMG; k++) {
        int ok = 1;
        snprintf(path, sizeof path, "%s/m_gt_%d.bin", tmp, k);
        ok &= read_raw(path, gt, sizeof gt);
        snprintf(path, sizeof path, "%s/m_pred_%d.bin", tmp, k);
        ok &= read_raw(path, pred, sizeof pred);
        snprintf(path, sizeof path, "%s/m_pign_%d.bin", tmp, k);
        ok &= read_raw(path, pign, sizeof pign);
        snprintf(path, sizeof path, "%s/m_small_%d.bin", tmp, k);
        ok &= read_raw(path, small, sizeof small);
        CHECK(ok, "fixture image %d read", k);
        CHECK(confusion_add(&c34, gt, pred, sizeof gt, &err) == LSD_OK, "add ids");
        CHECK(confusion_add(&cign, gt, pign, sizeof gt, &err) == LSD_OK, "add ids (ignored)");
        memcpy(gtr, gt, sizeof gt);
        labels_apply(gtr, sizeof gtr, table);
        labels_apply(pred, sizeof pred, table);
        labels_apply(small, sizeof small, table);
        CHECK(confusion_add(&c19, gtr, pred, sizeof gt, &err) == LSD_OK, "add: %s", err.msg);
        CHECK(confusion_add_upsampled(&cup, gtr, H, W, small, PH, PW, &err) == LSD_OK,
              "add upsampled: %s", err.msg);
        /* our label-id PNGs, for the official script to read back */
        snprintf(path, sizeof path, "%s/m_ours_%d.png", tmp, k);
        if (save_label_ids(path, pred, H, W, &err) != LSD_OK) use_ids = 0;
    }
    confusion_scores(&c19, NULL, 0, &s);
    compare19(tmp, "iou", s.iou);           /* official rule = train-id matrix here */
    compare19(tmp, "fcn_iu", s.iou);
    compare1(tmp, "fcn_acc", s.pixel_acc);
    compare1(tmp, "fcn_acccls", s.mean_acc);
    compare1(tmp, "fcn_miou", s.miou);
    compare1(tmp, "fcn_fw", s.fwiou);
    CHECK(isnan(s.iou[18]) && s.iou[17] == 0.0, "bicycle NaN (absent, never predicted), "
          "motorcycle 0 (absent, predicted): %g %g", s.iou[18], s.iou[17]);
    CHECK(s.n_valid == 18, "18 classes enter the mIoU, got %d", s.n_valid);
    for (n = 16; n >= 13; n -= 3) {
        char key[32];
        seg_scores ss;
        snprintf(key, sizeof key, "fcn_miou%d", n);
        labels_subset(n, &sub);
        confusion_scores(&c19, sub, n, &ss);
        compare1(tmp, key, ss.miou);
    }
    confusion_scores(&cup, NULL, 0, &s);
    compare19(tmp, "fcnup_iu", s.iou);
    compare1(tmp, "fcnup_miou", s.miou);
    CHECK(confusion_official_iou(&c34, iou, &err) == LSD_OK, "official rule on ids");
    compare19(tmp, "iou", iou);
    CHECK(confusion_official_iou(&cign, iou, &err) == LSD_OK, "official rule on ids");
    compare19(tmp, "iouign", iou);
    {
        double d = 0, ref;
        for (i = 0; i < 19; i++)
            if (ref_value(tmp, "iou", i, &ref) && fabs(ref - iou[i]) > d) d = fabs(ref - iou[i]);
        printf("metrics: predictions of ignored ids on class pixels change the official IoUs by "
               "up to %.4f (counted as FN; the train-id matrix cannot express them)\n", d);
    }
    if (!use_ids) {
        test_skip("png_save failed (%s): official read-back of our label-id PNGs skipped", err.msg);
    } else if (!run_fixture(tmp, "written")) {
        CHECK(0, "the official script read our label-id PNGs");
    } else {
        double mode;
        confusion_scores(&c19, NULL, 0, &s);
        compare19(tmp, "written", s.iou);
        CHECK(ref_value(tmp, "mode", 0, &mode) && mode == 1.0, "written PNG opens as mode L");
    }
    confusion_free(&c19);
    confusion_free(&cup);
    confusion_free(&c34);
    confusion_free(&cign);
}

int main(void)
{
    const char *tmp = test_tmp_dir();
    confusion c;
    seg_scores s;
    lsd_err err;
    test_begin("metrics");

    /* Hand-checked 3-class example: gt = [0 0 1 1 2 255], pred = [0 1 1 1 0 2]. */
    {
        uint8_t gt[6] = {0, 0, 1, 1, 2, 255}, pred[6] = {0, 1, 1, 1, 0, 2}, bad[6] = {0, 3, 0, 0, 0, 0};
        CHECK(confusion_init(&c, 3, &err) == LSD_OK, "init");
        CHECK(confusion_add(&c, gt, pred, 6, &err) == LSD_OK, "add");
        confusion_scores(&c, NULL, 0, &s);
        /* class 0: TP 1, FP 1 (gt 2), FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3; class 2: 0/1 */
        CHECK(fabs(s.iou[0] - 1.0 / 3) < 1e-15 && fabs(s.iou[1] - 2.0 / 3) < 1e-15 &&
              s.iou[2] == 0, "IoUs %g %g %g", s.iou[0], s.iou[1], s.iou[2]);
        CHECK(fabs(s.pixel_acc - 3.0 / 5) < 1e-15, "pixel acc 3/5, got %g", s.pixel_acc);
        CHECK(fabs(s.mean_acc - (0.5 + 1 + 0) / 3) < 1e-15, "mean acc 1/2, got %g", s.mean_acc);
        CHECK(fabs(s.fwiou - (2.0 / 5 / 3 + 2.0 / 5 * 2 / 3)) < 1e-15, "fwIoU, got %g", s.fwiou);
        CHECK(confusion_add(&c, gt, bad, 6, &err) == LSD_ERR_RANGE && strstr(err.msg, "3"),
              "prediction 3 refused: %s", err.msg);
        CHECK(confusion_add(&c, bad, pred, 6, &err) == LSD_ERR_RANGE, "ground truth 3 refused");
        CHECK(c.count[0] == 1 && c.count[1] == 1, "nothing counted by a refused add");
        /* 64-bit counts: beyond 2^32 stay exact */
        c.count[0] += (uint64_t)1 << 33;
        confusion_scores(&c, NULL, 0, &s);
        CHECK(s.pixels == ((uint64_t)1 << 33) + 5, "pixel count %llu",
              (unsigned long long)s.pixels);
        confusion_free(&c);
    }
    /* The colour of every train id and the overlay blend (datasets.md colours). */
    {
        uint8_t tr[3] = {0, 13, 255}, rgb[9], img[9] = {10, 20, 30, 40, 50, 60, 70, 80, 90}, ov[9];
        train_to_color(rgb, tr, 3);
        CHECK(rgb[0] == 128 && rgb[1] == 64 && rgb[2] == 128 && rgb[3] == 0 && rgb[5] == 142 &&
              rgb[6] == 0 && rgb[8] == 0, "road, car, ignore colours");
        overlay_color(ov, img, tr, 3, 0.5);
        /* (10+128)/2 = 69, (20+64)/2 = 42, (30+128)/2 = 79; car (40+0)/2=20, (60+142)/2=101 */
        CHECK(ov[0] == 69 && ov[1] == 42 && ov[2] == 79 && ov[3] == 20 && ov[5] == 101 &&
              ov[6] == 70 && ov[8] == 90, "overlay blend");
        train_to_label_ids(rgb, tr, 3);
        CHECK(rgb[0] == 7 && rgb[1] == 26 && rgb[2] == 0, "label ids 7, 26, 0");
    }
    cross_check(tmp);
    return test_summary();
}
