/*
 * cmd_eval.c - `lsdseg eval`: a checkpoint scored on a labelled set with the
 * LSD-seg authors' protocol (docs/method.md, "Inputs"; docs/real-data.md,
 * "Evaluation"): each image resized to 320x640 with Lanczos, BGR minus mean,
 * C(F(x)) without dropout, argmax, the label map upsampled to the full label
 * size with nearest neighbour, one 64-bit confusion matrix over the whole
 * set. Prints the per-class IoU table, mIoU, pixel accuracy, mean accuracy
 * and fwIoU; --csv writes them, --save-predictions writes official label-id
 * PNGs.
 *
 * `lsdseg eval --predictions DIR` scores label PNGs written by another program
 * instead (found and read as cityscapesScripts does: data/predfiles.h) with
 * the same confusion matrix, table and CSV; its matrix has one more column,
 * PRED_VOID, for predicted ids that are not evaluated.
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
#include "../data/predfiles.h"
#include "../data/transform.h"
#include "dist.h"
#include "options.h"
#include "progress.h"

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

/* Sets ground truth outside classes 0..n_class-1 to ignore (n pixels). */
static void ignore_outside(uint8_t *label, size_t n, int n_class)
{
    size_t j;
    for (j = 0; j < n; j++)
        if (label[j] >= n_class) label[j] = LABEL_IGNORE;
}

int lsd_evaluate(const LsdModel *m, const Dataset *ds, const eval_opts *o, confusion *c,
                 lsd_err *err)
{
    LsdWork work;
    opt_dwork dw;
    Loader *lo = NULL;
    loader_opts lopt;
    loader_item it;
    lsd_progress pr;
    uint8_t *pred = NULL, *up = NULL;
    size_t n = dataset_size(ds), i, first = 0;
    int n_class = m->cfg.n_class, rc;
    char path[4400], stem[256];
    if (o->max_images && o->max_images < n) n = o->max_images;
    if (o->parts > 1) { /* this rank's share: images first .. n - 1 */
        first = n * (size_t)o->part / (size_t)o->parts;
        n = n * (size_t)(o->part + 1) / (size_t)o->parts;
    }
    memset(&it, 0, sizeof it);
    memset(&lopt, 0, sizeof lopt);
    lopt.t = transform_defaults(ds->kind, 0, o->H, o->W, 0);
    lopt.shuffle = 0;
    lopt.prefetch = 2;
    lopt.want_f = 1;
    if ((rc = lsd_work_create(&work, &m->cfg, 1, o->H, o->W, LSD_WORK_INFER, err))) return rc;
    if ((rc = opt_dwork_start(o->dev, &dw, &work, err))) {
        lsd_work_free(&work);
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
    if (!rc) rc = loader_open(&lo, ds, &lopt, first, err);
    if (o->cmd) {
        progress_start(&pr, o->cmd, (long)(n - first), 0);
        pr.every = 50;
    }
    for (i = first; !rc && i < n; i++) {
        size_t gn;
        if ((rc = loader_next(lo, &it, err))) break;
        gn = (size_t)it.s.label_height * it.s.label_width;
        ignore_outside(it.s.label, gn, n_class);
        rc = opt_dev_infer(o->dev, &dw, m, &work, it.x_f, err);
        if (rc) break;
        lsd_argmax(pred, work.ca.score, n_class, o->H, o->W);
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
        if (!rc && o->cmd)
            progress_update(&pr, (long)(i + 1 - first), "images");
    }
    if (o->cmd) progress_break(&pr);
    loader_item_free(&it);
    loader_close(lo);
    free(pred);
    free(up);
    opt_dwork_stop(&dw);
    lsd_work_free(&work);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg eval --ckpt CKPT --data DIR [options]\n"
            "       lsdseg eval --predictions PRED --data DIR [options]\n"
            "\n"
            "Scores a checkpoint with the LSD-seg authors' protocol: every image resized to\n"
            "--size with Lanczos, BGR minus mean, C(F(x)) without dropout, argmax, the label\n"
            "map upsampled to the full label size (nearest) and counted into one confusion\n"
            "matrix over the whole set. Prints per-class IoU and accuracy, mIoU, pixel\n"
            "accuracy, mean accuracy and frequency-weighted IoU. Ground truth outside the\n"
            "model's classes is ignored.\n"
            "\n"
            "With --predictions, scores label PNGs written by another program instead, as\n"
            "cityscapesScripts' evalPixelLevelSemanticLabeling does: for each ground-truth\n"
            "frame the one file under PRED (searched recursively) named\n"
            "<city>_<seq>_<frame>*.png (other datasets: <image name>*.png), an 8-bit grey\n"
            "or palette PNG at the ground truth's full size (no resizing). A predicted id\n"
            "that is not evaluated (0-6, 9, 10, 14-16, 18, 29, 30; train id 255) is an\n"
            "error on its pixel's class and no class's false positive. A frame with no or\n"
            "two matching files, another size or a value outside the format is an error;\n"
            "PNGs matching no frame are named in a warning and not scored.\n"
            "\n"
            "  --ckpt FILE            model checkpoint (lsdseg train); sizes read from it\n"
            "  --predictions DIR      label PNGs to score instead of a checkpoint (above)\n"
            "  --pred-format F        their values: id (official label ids 0..33, default)\n"
            "                         or trainid (train ids 0..18, 255 = none)\n"
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
            "  (under mpirun -np K, a build with make MPI=1, the images are split over the K\n"
            "  processes and their counts summed; --predictions runs as one process)\n"
            "  --help                 this text\n"
            "\n"
            "--size, --save-predictions and the device options need --ckpt.\n"
            "Exit status: 0 success, 1 runtime error (missing or bad files), 2 usage error.\n");
}

/* Prints the table of classes 0..n_cls-1 and the summary on stdout and, if csv, writes the
 * CSV. Columns from n_cls on (a predictions matrix's void column) count as errors only. */
static int report(const confusion *c, int n_cls, int subset_n, const char *csv)
{
    seg_scores all, s;
    const int *ids = NULL;
    int every[256], k, t, nsub = 0;
    uint64_t extra = 0;
    FILE *f = NULL;
    for (k = 0; k < n_cls; k++) every[k] = k;
    confusion_scores(c, every, n_cls, &all);
    if (subset_n != CS_NUM_CLASSES) nsub = labels_subset(subset_n, &ids);
    if (nsub) confusion_scores(c, ids, nsub, &s);
    else s = all;
    printf("%-14s %8s %8s\n", "class", "IoU", "acc");
    for (k = 0; k < n_cls; k++) {
        int in = !nsub;
        for (t = 0; t < nsub; t++) in |= ids[t] == k;
        printf("%-14s %8.2f %8.2f%s\n", n_cls == CS_NUM_CLASSES ? labels_train_name(k) : "",
               100 * all.iou[k], 100 * all.acc[k], in ? "" : "   (not in the subset)");
    }
    for (k = 0; k < n_cls; k++)
        for (t = n_cls; t < c->n; t++) extra += c->count[(size_t)k * c->n + t];
    if (c->n > n_cls)
        printf("predictions of ids that are not evaluated: %llu pixels (errors of their pixels' "
               "classes)\n", (unsigned long long)extra);
    printf("mIoU (%d classes, %d present): %.2f\n", nsub ? nsub : n_cls, s.n_valid, 100 * s.miou);
    if (nsub) printf("mIoU (all %d classes): %.2f\n", n_cls, 100 * all.miou);
    printf("pixel acc: %.2f  mean acc: %.2f  fwIoU: %.2f  (%llu pixels)\n", 100 * s.pixel_acc,
           100 * s.mean_acc, 100 * s.fwiou, (unsigned long long)s.pixels);
    if (!csv) return 0;
    if (!(f = fopen(csv, "w"))) {
        fprintf(stderr, "lsdseg eval: cannot write %s\n", csv);
        return 1;
    }
    fprintf(f, "class,train_id,iou,acc\n");
    for (k = 0; k < n_cls; k++)
        fprintf(f, "%s,%d,%.6f,%.6f\n", n_cls == CS_NUM_CLASSES ? labels_train_name(k) : "class",
                k, all.iou[k], all.acc[k]);
    fprintf(f, "mIoU,%d,%.6f,\n", nsub ? nsub : n_cls, s.miou);
    fprintf(f, "pixel_acc,,,%.6f\n", s.pixel_acc);
    fprintf(f, "mean_acc,,,%.6f\n", s.mean_acc);
    fprintf(f, "fwIoU,,%.6f,\n", s.fwiou);
    if (fclose(f)) {
        fprintf(stderr, "lsdseg eval: cannot write %s\n", csv);
        return 1;
    }
    return 0;
}

/* What the command line asked for. */
typedef struct {
    const char *ckpt, *preds, *data, *split, *list, *table, *csv;
    const char *ckpt_only; /* the last option given that needs --ckpt */
    const char *format;    /* --pred-format's value, NULL if not given */
    dataset_kind kind;
    pred_format fmt;
    long subset, maxim;
    int quiet;
    eval_opts eo;
    opt_device dev;
} eval_args;

/* Parses argv into a; returns -1 to go on, else the exit status (0 after --help). */
static int parse_args(int argc, char **argv, eval_args *a)
{
    const char *v;
    int i, rc;
    memset(a, 0, sizeof *a);
    a->split = "val";
    a->kind = DATASET_CITYSCAPES;
    a->subset = 19;
    a->eo.H = 320, a->eo.W = 640;
    for (i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (opt_is_help(o)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(o, "--quiet")) {
            a->quiet = 1;
            continue;
        } else if (strncmp(o, "--", 2) || !strcmp(o, "--")) {
            fprintf(stderr, "lsdseg eval: unexpected argument '%s' (try --help)\n", o);
            return 2;
        }
        if (strcmp(o, "--ckpt") && strcmp(o, "--data") && strcmp(o, "--data-type") &&
            strcmp(o, "--split") && strcmp(o, "--list") && strcmp(o, "--table") &&
            strcmp(o, "--size") && strcmp(o, "--classes-subset") && strcmp(o, "--max-images") &&
            strcmp(o, "--csv") && strcmp(o, "--save-predictions") && strcmp(o, "--threads") &&
            strcmp(o, "--predictions") && strcmp(o, "--pred-format") && !opt_is_device_option(o))
            return opt_unknown("eval", o);
        if (!(v = opt_value("eval", argc, argv, &i))) return 2;
        rc = 0;
        if (!strcmp(o, "--size") || !strcmp(o, "--save-predictions") || opt_is_device_option(o))
            a->ckpt_only = o;
        if (!strcmp(o, "--ckpt")) a->ckpt = v;
        else if (!strcmp(o, "--predictions")) a->preds = v;
        else if (!strcmp(o, "--pred-format")) {
            a->format = v;
            if (!strcmp(v, "id")) a->fmt = PRED_IDS;
            else if (!strcmp(v, "trainid")) a->fmt = PRED_TRAINIDS;
            else {
                fprintf(stderr, "lsdseg eval: --pred-format needs id or trainid, not '%s'\n", v);
                rc = 2;
            }
        } else if (!strcmp(o, "--data")) a->data = v;
        else if (!strcmp(o, "--data-type")) rc = opt_kind("eval", o, v, &a->kind);
        else if (!strcmp(o, "--split")) a->split = v;
        else if (!strcmp(o, "--list")) a->list = v;
        else if (!strcmp(o, "--table")) a->table = v;
        else if (!strcmp(o, "--size")) rc = opt_size("eval", o, v, &a->eo.H, &a->eo.W);
        else if (!strcmp(o, "--classes-subset")) {
            rc = opt_long("eval", o, v, 13, 19, &a->subset);
            if (!rc && a->subset != 13 && a->subset != 16 && a->subset != 19) {
                fprintf(stderr, "lsdseg eval: --classes-subset needs 19, 16 or 13, not '%s'\n", v);
                rc = 2;
            }
        } else if (!strcmp(o, "--max-images")) rc = opt_long("eval", o, v, 0, 1L << 30, &a->maxim);
        else if (!strcmp(o, "--csv")) a->csv = v;
        else if (!strcmp(o, "--save-predictions")) a->eo.save_dir = v;
        else if (!strcmp(o, "--threads")) rc = opt_threads("eval", v);
        else rc = opt_device_arg("eval", &a->dev, o, v);
        if (rc) return rc;
    }
    if ((!a->ckpt && !a->preds) || !a->data) {
        fprintf(stderr, "lsdseg eval: --ckpt (or --predictions) and --data are required (try "
                "--help)\n");
        return 2;
    }
    if (a->ckpt && a->preds) {
        fprintf(stderr, "lsdseg eval: give --ckpt or --predictions, not both\n");
        return 2;
    }
    if (a->preds && a->ckpt_only) {
        fprintf(stderr, "lsdseg eval: %s needs --ckpt; --predictions are scored as they are\n",
                a->ckpt_only);
        return 2;
    }
    if (!a->preds && a->format) {
        fprintf(stderr, "lsdseg eval: --pred-format needs --predictions\n");
        return 2;
    }
    a->eo.max_images = (size_t)a->maxim;
    a->eo.cmd = a->quiet ? NULL : "eval";
    a->eo.dev = &a->dev;
    return -1;
}

/* The number of images scored: --max-images or the whole set. */
static size_t n_images(const eval_args *a, const Dataset *ds)
{
    return a->maxim && (size_t)a->maxim < ds->n ? (size_t)a->maxim : ds->n;
}

/* The checkpoint's scores into c (n_class classes, in *n_cls); returns the exit status. */
static int eval_checkpoint(eval_args *a, confusion *c, int *n_cls)
{
    LsdModel m;
    Dataset ds;
    lsd_err err;
    int rc;
    if (opt_load_model("eval", &m, a->ckpt)) return 1;
    if (a->subset != 19 && m.cfg.n_class != CS_NUM_CLASSES) {
        fprintf(stderr, "lsdseg eval: --classes-subset needs a 19-class model, %s has %d\n",
                a->ckpt, m.cfg.n_class);
        lsd_model_free(&m);
        return 2;
    }
    if (opt_open_dataset("eval", "--data", &ds, a->kind, a->data, a->split, a->list, a->table)) {
        lsd_model_free(&m);
        return 1;
    }
    *n_cls = m.cfg.n_class;
    rc = opt_device_start(&a->dev, &m, &err);
    if (!rc) rc = confusion_init(c, m.cfg.n_class, &err);
    if (!rc) {
        if (a->eo.part == 0)
            fprintf(stderr, "lsdseg eval: %s (step %ld) on %lu %s images at %dx%d%s\n", a->ckpt,
                    m.step, (unsigned long)n_images(a, &ds), dataset_kind_name(a->kind),
                    a->eo.H, a->eo.W, a->eo.parts > 1 ? ", split over the processes" : "");
        rc = lsd_evaluate(&m, &ds, &a->eo, c, &err);
    }
    /* the processes' matrices summed (integers: exact in any order) */
    if (!rc) rc = dist_sum_u64(c->count, (size_t)c->n * c->n, &err);
    if (rc && a->eo.parts > 1) {
        fprintf(stderr, "lsdseg eval (rank %d of %d): %s; ending every rank\n", a->eo.part,
                a->eo.parts, err.msg);
        dist_abort(1);
    }
    if (rc) fprintf(stderr, "lsdseg eval: %s\n", err.msg);
    opt_device_stop(&a->dev);
    dataset_close(&ds);
    lsd_model_free(&m);
    return rc ? 1 : 0;
}

/* Adds the first n frames of ds to c, frame i scored with the file pf->paths[match[i]]. */
static int score_predictions(const Dataset *ds, const pred_files *pf, const size_t *match,
                             size_t n, pred_format fmt, const char *cmd, confusion *c,
                             lsd_err *err)
{
    lsd_progress pr;
    uint8_t *gt = NULL, *pred = NULL, *p;
    size_t i;
    int GH, GW, rc = LSD_OK;
    if (cmd) {
        progress_start(&pr, cmd, (long)n, 0);
        pr.every = 50;
    }
    for (i = 0; !rc && i < n; i++) {
        rc = dataset_load_label(ds, i, &gt, &GH, &GW, err);
        p = rc ? NULL : realloc(pred, (size_t)GH * GW);
        if (p) pred = p;
        else if (!rc) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a prediction");
        if (!rc) rc = predfiles_load(pf->paths[match[i]], fmt, GH, GW, pred, err);
        if (!rc) ignore_outside(gt, (size_t)GH * GW, CS_NUM_CLASSES);
        if (!rc) rc = confusion_add(c, gt, pred, (size_t)GH * GW, err);
        free(gt);
        gt = NULL;
        if (!rc && cmd) progress_update(&pr, (long)i + 1, "images");
    }
    if (cmd) progress_break(&pr);
    free(pred);
    return rc;
}

/* The scores of the PNGs under a->preds into c (19 classes and the void column); matches
 * every frame before reading any; returns the exit status. */
static int eval_predictions(const eval_args *a, confusion *c)
{
    Dataset ds;
    pred_files pf;
    lsd_err err;
    size_t n, i, *match = NULL, unused = 0, first = 0;
    char key[256];
    int rc;
    memset(&pf, 0, sizeof pf);
    if (opt_open_dataset("eval", "--data", &ds, a->kind, a->data, a->split, a->list, a->table))
        return 1;
    n = n_images(a, &ds);
    rc = predfiles_scan(&pf, a->preds, &err);
    if (!rc && !(match = malloc((n ? n : 1) * sizeof *match)))
        rc = lsd_fail(&err, LSD_ERR_NOMEM, "out of memory");
    for (i = 0; !rc && i < n; i++) {
        rc = predfiles_key(key, sizeof key, &ds, i, &err);
        if (!rc) rc = predfiles_match(&pf, key, ds.labels[i], &match[i], &err);
    }
    for (i = pf.n; !rc && i-- > 0;)
        if (!pf.uses[i]) unused++, first = i;
    if (unused)
        fprintf(stderr, "lsdseg eval: warning: %lu PNG file(s) under %s match no ground-truth "
                "frame and are not scored, e.g. %s\n", (unsigned long)unused, a->preds,
                pf.paths[first]);
    if (!rc) rc = confusion_init(c, PRED_NUM_CLASSES, &err);
    if (!rc) {
        fprintf(stderr, "lsdseg eval: predictions in %s (%s) on %lu %s images at full size\n",
                a->preds, a->fmt == PRED_IDS ? "label ids" : "train ids", (unsigned long)n,
                dataset_kind_name(a->kind));
        rc = score_predictions(&ds, &pf, match, n, a->fmt, a->eo.cmd, c, &err);
    }
    if (rc) fprintf(stderr, "lsdseg eval: --predictions: %s\n", err.msg);
    free(match);
    predfiles_free(&pf);
    dataset_close(&ds);
    return rc ? 1 : 0;
}

int cmd_eval(int argc, char **argv)
{
    eval_args a;
    confusion c;
    int rc, n_cls = CS_NUM_CLASSES;
    Dist *d = dist_world();
    memset(&c, 0, sizeof c);
    if ((rc = parse_args(argc, argv, &a)) >= 0) return rc;
    if (a.preds && d->size > 1) {
        if (d->rank == 0)
            fprintf(stderr, "lsdseg eval: --predictions runs as one process (start it without "
                    "mpirun)\n");
        return 2;
    }
    a.eo.part = d->rank, a.eo.parts = d->size; /* images split over mpirun's processes */
    if (d->rank > 0) a.eo.cmd = NULL;
    rc = a.preds ? eval_predictions(&a, &c) : eval_checkpoint(&a, &c, &n_cls);
    if (!rc && d->rank == 0) rc = report(&c, n_cls, (int)a.subset, a.csv);
    if (rc == 1 && d->size > 1) dist_abort(1); /* no rank waits for this one */
    confusion_free(&c);
    return rc;
}
