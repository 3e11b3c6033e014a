/*
 * cmd_eval.c - `lsdseg eval`: a checkpoint scored on a labelled set with the
 * LSD-seg authors' protocol (method.md, "Inputs"; datasets.md): each image
 * resized to 320x640 with Lanczos, BGR minus mean, C(F(x)) without dropout,
 * argmax, the label map upsampled to the full label size with nearest
 * neighbour, one 64-bit confusion matrix over the whole set. Prints the
 * per-class IoU table, mIoU, pixel accuracy, mean accuracy and fwIoU; --csv
 * writes them, --save-predictions writes official label-id PNGs.
 *
 * Also the evaluation routine train's validation calls (lsd_evaluate).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/labels.h"
#include "../data/loader.h"
#include "../data/png.h"
#include "../data/transform.h"
#include "options.h"

int cmd_eval(int argc, char **argv);

void lsd_argmax(uint8_t *pred, const real *scores, int n, int H, int W)
{
    size_t hw = (size_t)H * W, i;
    int k;
    for (i = 0; i < hw; i++) {
        real best = scores[i];
        int arg = 0;
        for (k = 1; k < n; k++)
            if (scores[(size_t)k * hw + i] > best) best = scores[(size_t)k * hw + i], arg = k;
        pred[i] = (uint8_t)arg;
    }
}

/* Writes a panel image | prediction | ground truth (truth nearest-resized to H x W). */
static int save_panel(const char *path, const uint8_t *img, const uint8_t *pred,
                      const uint8_t *gt, int GH, int GW, int H, int W, lsd_err *err)
{
    uint8_t *out = malloc((size_t)H * W * 9), *g = malloc((size_t)H * W),
            *c = malloc((size_t)H * W * 3);
    int y, rc = LSD_OK;
    if (!out || !g || !c) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a sample panel");
    if (!rc) rc = resize_nearest_u8(g, H, W, gt, GH, GW, 1, err);
    for (y = 0; !rc && y < H; y++) memcpy(out + (size_t)y * W * 9, img + (size_t)y * W * 3, 3 * (size_t)W);
    if (!rc) train_to_color(c, pred, (size_t)H * W);
    for (y = 0; !rc && y < H; y++)
        memcpy(out + (size_t)y * W * 9 + 3 * (size_t)W, c + (size_t)y * W * 3, 3 * (size_t)W);
    if (!rc) train_to_color(c, g, (size_t)H * W);
    for (y = 0; !rc && y < H; y++)
        memcpy(out + (size_t)y * W * 9 + 6 * (size_t)W, c + (size_t)y * W * 3, 3 * (size_t)W);
    if (!rc) rc = png_save(path, out, (uint32_t)(3 * W), (uint32_t)H, 3, NULL, 0, err);
    free(out);
    free(g);
    free(c);
    return rc;
}

int lsd_evaluate(const LsdModel *m, const Dataset *ds, const eval_opts *o, confusion *c,
                 lsd_err *err)
{
    LsdWork w;
    opt_dwork dw;
    Loader *lo = NULL;
    loader_opts lopt;
    loader_item it;
    opt_progress pr;
    uint8_t *pred = NULL, *up = NULL;
    size_t n = dataset_size(ds), i;
    int n_class = m->cfg.n_class, rc;
    char path[4400], stem[256], text[64];
    if (o->max_images && o->max_images < n) n = o->max_images;
    memset(&it, 0, sizeof it);
    memset(&lopt, 0, sizeof lopt);
    lopt.t = transform_defaults(ds->kind, 0, o->H, o->W, 0);
    lopt.shuffle = 0;
    lopt.prefetch = 2;
    lopt.want_f = 1;
    if ((rc = lsd_work_create(&w, &m->cfg, 1, o->H, o->W, LSD_WORK_INFER, err))) return rc;
    if ((rc = opt_dwork_start(o->dev, &dw, &w, err))) {
        lsd_work_free(&w);
        return rc;
    }
    pred = malloc((size_t)o->H * o->W);
    if (!pred) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a prediction");
    if (!rc && o->save_dir) {
        snprintf(path, sizeof path, "%s/labelIds", o->save_dir);
        rc = opt_mkdirs(path, err);
        snprintf(path, sizeof path, "%s/color", o->save_dir);
        if (!rc) rc = opt_mkdirs(path, err);
    }
    if (!rc && o->sample_dir && o->n_samples > 0) rc = opt_mkdirs(o->sample_dir, err);
    if (!rc) rc = loader_open(&lo, ds, &lopt, 0, err);
    if (o->cmd) opt_progress_start(&pr, 50);
    for (i = 0; !rc && i < n; i++) {
        size_t gn, j;
        if ((rc = loader_next(lo, &it, err))) break;
        gn = (size_t)it.s.label_height * it.s.label_width;
        for (j = 0; j < gn; j++)
            if (it.s.label[j] >= n_class) it.s.label[j] = LABEL_IGNORE;
        rc = opt_dev_infer(o->dev, &dw, m, &w, it.x_f, err);
        if (rc) break;
        lsd_argmax(pred, w.ca.score, n_class, o->H, o->W);
        rc = confusion_add_upsampled(c, it.s.label, it.s.label_height, it.s.label_width, pred,
                                     o->H, o->W, err);
        if (!rc && o->save_dir) {
            up = realloc(up, gn);
            if (!up) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory upsampling a prediction");
            if (!rc)
                rc = resize_nearest_u8(up, it.s.label_height, it.s.label_width, pred, o->H, o->W,
                                       1, err);
            opt_stem(stem, sizeof stem, ds->images[it.index]);
            snprintf(path, sizeof path, "%s/labelIds/%s.png", o->save_dir, stem);
            if (!rc) rc = save_label_ids(path, up, it.s.label_height, it.s.label_width, err);
            snprintf(path, sizeof path, "%s/color/%s.png", o->save_dir, stem);
            if (!rc) rc = save_color(path, up, it.s.label_height, it.s.label_width, err);
        }
        if (!rc && o->sample_dir && (int)i < o->n_samples) {
            snprintf(path, sizeof path, "%s/%s_%d.png", o->sample_dir,
                     o->sample_prefix ? o->sample_prefix : "sample", (int)i);
            rc = save_panel(path, it.s.image, pred, it.s.label, it.s.label_height,
                            it.s.label_width, o->H, o->W, err);
        }
        loader_item_free(&it);
        if (!rc && o->cmd) {
            snprintf(text, sizeof text, "images");
            opt_progress_show(&pr, o->cmd, (long)i + 1, (long)n, 0, text);
        }
    }
    if (o->cmd) opt_progress_end(&pr);
    loader_item_free(&it);
    loader_close(lo);
    free(pred);
    free(up);
    opt_dwork_stop(&dw);
    lsd_work_free(&w);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg eval --ckpt CKPT --data DIR [options]\n"
            "\n"
            "Scores a checkpoint with the LSD-seg authors' protocol: every image resized to\n"
            "--size with Lanczos, BGR minus mean, C(F(x)) without dropout, argmax, the label\n"
            "map upsampled to the full label size (nearest) and counted into one confusion\n"
            "matrix over the whole set. Prints per-class IoU and accuracy, mIoU, pixel\n"
            "accuracy, mean accuracy and frequency-weighted IoU. Ground truth outside the\n"
            "model's classes is ignored.\n"
            "\n"
            "  --ckpt FILE            model checkpoint (lsdseg train); sizes read from it\n"
            "  --data DIR             dataset folder (for --data-type list: the list file)\n"
            "  --data-type KIND       cityscapes (default), gta5, synthia or list\n"
            "  --split NAME           Cityscapes split folder (val)\n"
            "  --list FILE            the authors' list of image names to use\n"
            "  --table FILE           id table of a list dataset (stored value -> train id)\n"
            "  --size HxW             inference size (320x640; the paper used 512x1024)\n"
            "  --classes-subset N     19 (default), 16 or 13: classes averaged into mIoU\n"
            "                         (16 or 13 for SYNTHIA-trained models)\n"
            "  --max-images N         only the first N images (0: all)\n"
            "  --csv FILE             per-class table and summary as CSV\n"
            "  --save-predictions DIR labelIds/<name>.png (official Cityscapes label ids,\n"
            "                         full size: point CITYSCAPES_RESULTS at DIR/labelIds)\n"
            "                         and color/<name>.png\n"
            "  --threads N            OpenMP threads (default: all)\n"
            "  --backend cpu|opencl   compute backend (opencl: a build with make OPENCL=1)\n"
            "  --cl-platform P, --cl-device D   the OpenCL device (lsdseg devices lists them)\n"
            "  --quiet                no progress line\n"
            "  --help                 this text\n"
            "\n"
            "Exit status: 0 success, 1 runtime error (missing or bad files), 2 usage error.\n");
}

/* Prints the table and summary on stdout and, if csv, writes the CSV. */
static int report(const confusion *c, int subset_n, const char *csv)
{
    seg_scores all, s;
    const int *ids = NULL;
    int k, t, nsub = 0;
    FILE *f = NULL;
    confusion_scores(c, NULL, 0, &all);
    if (subset_n != CS_NUM_CLASSES) nsub = labels_subset(subset_n, &ids);
    confusion_scores(c, nsub ? ids : NULL, nsub, &s);
    printf("%-14s %8s %8s\n", "class", "IoU", "acc");
    for (k = 0; k < c->n; k++) {
        int in = !nsub;
        for (t = 0; t < nsub; t++) in |= ids[t] == k;
        printf("%-14s %8.2f %8.2f%s\n", c->n == CS_NUM_CLASSES ? labels_train_name(k) : "",
               100 * all.iou[k], 100 * all.acc[k], in ? "" : "   (not in the subset)");
    }
    printf("mIoU (%d classes, %d present): %.2f\n", nsub ? nsub : c->n, s.n_valid, 100 * s.miou);
    if (nsub) printf("mIoU (all %d classes): %.2f\n", c->n, 100 * all.miou);
    printf("pixel acc: %.2f  mean acc: %.2f  fwIoU: %.2f  (%llu pixels)\n", 100 * s.pixel_acc,
           100 * s.mean_acc, 100 * s.fwiou, (unsigned long long)s.pixels);
    if (!csv) return 0;
    if (!(f = fopen(csv, "w"))) {
        fprintf(stderr, "lsdseg eval: cannot write %s\n", csv);
        return 1;
    }
    fprintf(f, "class,train_id,iou,acc\n");
    for (k = 0; k < c->n; k++)
        fprintf(f, "%s,%d,%.6f,%.6f\n", c->n == CS_NUM_CLASSES ? labels_train_name(k) : "class",
                k, all.iou[k], all.acc[k]);
    fprintf(f, "mIoU,%d,%.6f,\n", nsub ? nsub : c->n, s.miou);
    fprintf(f, "pixel_acc,,,%.6f\n", s.pixel_acc);
    fprintf(f, "mean_acc,,,%.6f\n", s.mean_acc);
    fprintf(f, "fwIoU,,%.6f,\n", s.fwiou);
    if (fclose(f)) {
        fprintf(stderr, "lsdseg eval: cannot write %s\n", csv);
        return 1;
    }
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *ckpt = NULL, *data = NULL, *split = "val", *list = NULL, *table = NULL,
               *csv = NULL, *save = NULL, *v;
    dataset_kind kind = DATASET_CITYSCAPES;
    eval_opts eo;
    long subset = 19, maxim = 0;
    int i, rc, quiet = 0;
    LsdModel m;
    Dataset ds;
    confusion c;
    lsd_err err;
    opt_device dev;
    memset(&dev, 0, sizeof dev);
    memset(&c, 0, sizeof c);
    memset(&eo, 0, sizeof eo);
    eo.H = 320, eo.W = 640;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opt_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        } else if (strncmp(a, "--", 2) || !strcmp(a, "--")) {
            fprintf(stderr, "lsdseg eval: unexpected argument '%s' (try --help)\n", a);
            return 2;
        }
        if (strcmp(a, "--ckpt") && strcmp(a, "--data") && strcmp(a, "--data-type") &&
            strcmp(a, "--split") && strcmp(a, "--list") && strcmp(a, "--table") &&
            strcmp(a, "--size") && strcmp(a, "--classes-subset") && strcmp(a, "--max-images") &&
            strcmp(a, "--csv") && strcmp(a, "--save-predictions") && strcmp(a, "--threads") &&
            !opt_is_device_option(a))
            return opt_unknown("eval", a);
        if (!(v = opt_value("eval", argc, argv, &i))) return 2;
        rc = 0;
        if (!strcmp(a, "--ckpt")) ckpt = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--data-type")) rc = opt_kind("eval", a, v, &kind);
        else if (!strcmp(a, "--split")) split = v;
        else if (!strcmp(a, "--list")) list = v;
        else if (!strcmp(a, "--table")) table = v;
        else if (!strcmp(a, "--size")) rc = opt_size("eval", a, v, &eo.H, &eo.W);
        else if (!strcmp(a, "--classes-subset")) {
            rc = opt_long("eval", a, v, 13, 19, &subset);
            if (!rc && subset != 13 && subset != 16 && subset != 19) {
                fprintf(stderr, "lsdseg eval: --classes-subset needs 19, 16 or 13, not '%s'\n", v);
                rc = 2;
            }
        } else if (!strcmp(a, "--max-images")) rc = opt_long("eval", a, v, 0, 1L << 30, &maxim);
        else if (!strcmp(a, "--csv")) csv = v;
        else if (!strcmp(a, "--save-predictions")) save = v;
        else if (!strcmp(a, "--threads")) rc = opt_threads("eval", v);
        else rc = opt_device_arg("eval", &dev, a, v);
        if (rc) return rc;
    }
    if (!ckpt || !data) {
        fprintf(stderr, "lsdseg eval: --ckpt and --data are required (try --help)\n");
        return 2;
    }
    if (opt_load_model("eval", &m, ckpt)) return 1;
    if (subset != 19 && m.cfg.n_class != CS_NUM_CLASSES) {
        fprintf(stderr, "lsdseg eval: --classes-subset needs a 19-class model, %s has %d\n", ckpt,
                m.cfg.n_class);
        lsd_model_free(&m);
        return 2;
    }
    if (opt_open_dataset("eval", "--data", &ds, kind, data, split, list, table)) {
        lsd_model_free(&m);
        return 1;
    }
    eo.max_images = (size_t)maxim;
    eo.save_dir = save;
    eo.cmd = quiet ? NULL : "eval";
    eo.dev = &dev;
    rc = opt_device_start(&dev, &m, &err);
    if (!rc) rc = confusion_init(&c, m.cfg.n_class, &err);
    if (!rc) {
        fprintf(stderr, "lsdseg eval: %s (step %ld) on %lu %s images at %dx%d\n", ckpt, m.step,
                (unsigned long)(maxim && (size_t)maxim < ds.n ? (size_t)maxim : ds.n),
                dataset_kind_name(kind), eo.H, eo.W);
        rc = lsd_evaluate(&m, &ds, &eo, &c, &err);
    }
    if (rc) fprintf(stderr, "lsdseg eval: %s\n", err.msg);
    else rc = report(&c, (int)subset, csv);
    opt_device_stop(&dev);
    confusion_free(&c);
    dataset_close(&ds);
    lsd_model_free(&m);
    return rc ? 1 : 0;
}
