/*
 * cmd_predict.c - `lsdseg predict`: segmentation maps of PNG images with the
 * evaluation protocol (resize to --size with Lanczos, BGR minus mean, C(F(x))
 * without dropout, argmax, nearest upsampling back to the image's size).
 * Writes per image <stem>_labelIds.png (official Cityscapes label ids, the
 * submission format), <stem>_color.png and, with --overlay, <stem>_overlay.png.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/metrics.h"
#include "../data/png.h"
#include "../data/transform.h"
#include "options.h"

int cmd_predict(int argc, char **argv);

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg predict --ckpt CKPT --out DIR [options] IMAGE.png...\n"
            "\n"
            "Segments each image with the evaluation protocol: resized to --size (Lanczos),\n"
            "BGR minus mean, C(F(x)) without dropout, argmax, upsampled back to the image's\n"
            "own size (nearest). Writes into DIR, for IMAGE = <stem>.png (a trailing\n"
            "_leftImg8bit is dropped from the stem):\n"
            "  <stem>_labelIds.png   8-bit gray, Cityscapes label ids (official format)\n"
            "  <stem>_color.png      RGB in the Cityscapes colours\n"
            "  <stem>_overlay.png    with --overlay: the colours blended over the image\n"
            "\n"
            "  --ckpt FILE     model checkpoint (lsdseg train); sizes read from it\n"
            "  --out DIR       output folder (created)\n"
            "  --size HxW      inference size (320x640); 'full' keeps each image's own size\n"
            "  --overlay       also write the overlay\n"
            "  --alpha A       overlay opacity (0.5)\n"
            "  --threads N     OpenMP threads (default: all)\n"
            "  --backend cpu|opencl   compute backend (opencl: a build with make OPENCL=1)\n"
            "  --cl-platform P, --cl-device D   the OpenCL device (lsdseg devices lists them)\n"
            "  --help          this text\n"
            "\n"
            "Exit status: 0 success, 1 runtime error (missing or bad files), 2 usage error.\n");
}

/* Segments one image and writes its files. */
static int predict_one(const LsdModel *m, opt_device *dev, const char *image, const char *out,
                       int H, int W, int overlay, double alpha, lsd_err *err)
{
    png_image img;
    LsdWork work;
    opt_dwork dw;
    uint8_t *rs = NULL, *pred = NULL, *up = NULL;
    real *x = NULL;
    int IH, IW, rc, have_work = 0;
    char stem[256], path[4400];
    size_t n;
    memset(&img, 0, sizeof img);
    if ((rc = png_load(image, PNG_OUT_RGB, 0, NULL, &img, err))) return rc;
    IH = (int)img.height, IW = (int)img.width;
    if (H <= 0) H = IH, W = IW;
    n = (size_t)IH * IW;
    rs = malloc((size_t)H * W * 3);
    x = malloc((size_t)H * W * 3 * sizeof(real));
    pred = malloc((size_t)H * W);
    up = malloc(n);
    if (!rs || !x || !pred || !up) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory for %s", image);
    if (!rc) rc = resize_lanczos(rs, H, W, (const uint8_t *)img.data, IH, IW, 3, err);
    if (!rc) rc = lsd_work_create(&work, &m->cfg, 1, H, W, LSD_WORK_INFER, err);
    if (!rc) {
        have_work = 1;
        to_bgr_minus_mean(x, rs, H, W);
        rc = opt_dwork_start(dev, &dw, &work, err);
        if (!rc) rc = opt_dev_infer(dev, &dw, m, &work, x, err);
        opt_dwork_stop(&dw);
    }
    if (!rc) {
        lsd_argmax(pred, work.ca.score, m->cfg.n_class, H, W);
        rc = resize_nearest_u8(up, IH, IW, pred, H, W, 1, err);
    }
    opt_stem(stem, sizeof stem, image);
    snprintf(path, sizeof path, "%s/%s_labelIds.png", out, stem);
    if (!rc) rc = save_label_ids(path, up, IH, IW, err);
    snprintf(path, sizeof path, "%s/%s_color.png", out, stem);
    if (!rc) rc = save_color(path, up, IH, IW, err);
    snprintf(path, sizeof path, "%s/%s_overlay.png", out, stem);
    if (!rc && overlay) rc = save_overlay(path, (const uint8_t *)img.data, up, IH, IW, alpha, err);
    if (have_work) lsd_work_free(&work);
    png_image_free(&img);
    free(rs);
    free(x);
    free(pred);
    free(up);
    return rc;
}

/* 1 if a is an option followed by its value (skipped when looking for the IMAGEs). */
static int takes_value(const char *a)
{
    return !strcmp(a, "--ckpt") || !strcmp(a, "--out") || !strcmp(a, "--size") ||
           !strcmp(a, "--alpha") || !strcmp(a, "--threads") || opt_is_device_option(a);
}

int cmd_predict(int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL, *v;
    int i, rc, H = 320, W = 640, overlay = 0, nimg = 0, done = 0;
    double alpha = 0.5;
    LsdModel m;
    lsd_err err;
    opt_device dev;
    memset(&dev, 0, sizeof dev);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opt_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--overlay")) {
            overlay = 1;
        } else if (!strcmp(a, "--ckpt") || !strcmp(a, "--out") || !strcmp(a, "--size") ||
                   !strcmp(a, "--alpha") || !strcmp(a, "--threads") || opt_is_device_option(a)) {
            if (!(v = opt_value("predict", argc, argv, &i))) return 2;
            rc = 0;
            if (!strcmp(a, "--ckpt")) ckpt = v;
            else if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--size")) {
                if (!strcmp(v, "full")) H = W = 0;
                else rc = opt_size("predict", a, v, &H, &W);
            } else if (!strcmp(a, "--alpha")) rc = opt_double("predict", a, v, 0, 1, &alpha);
            else if (!strcmp(a, "--threads")) rc = opt_threads("predict", v);
            else rc = opt_device_arg("predict", &dev, a, v);
            if (rc) return rc;
        } else if (a[0] == '-') {
            return opt_unknown("predict", a);
        } else {
            nimg++;
        }
    }
    if (!ckpt || !out || !nimg) {
        fprintf(stderr, "lsdseg predict: --ckpt, --out and at least one IMAGE are required "
                "(try --help)\n");
        return 2;
    }
    for (i = 1; i < argc; i++) { /* every image exists before any work */
        const char *a = argv[i];
        if (takes_value(a)) {
            i++;
            continue;
        }
        if (a[0] == '-') continue;
        if (!opt_is_file(a)) {
            fprintf(stderr, "lsdseg predict: image %s not found\n", a);
            return 1;
        }
    }
    if (opt_load_model("predict", &m, ckpt)) return 1;
    if (opt_mkdirs(out, &err)) {
        fprintf(stderr, "lsdseg predict: --out: %s\n", err.msg);
        lsd_model_free(&m);
        return 1;
    }
    rc = opt_device_start(&dev, &m, &err);
    if (rc) fprintf(stderr, "lsdseg predict: %s\n", err.msg);
    for (i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (takes_value(a)) {
            i++;
            continue;
        }
        if (a[0] == '-') continue;
        rc = predict_one(&m, &dev, a, out, H, W, overlay, alpha, &err);
        if (rc) fprintf(stderr, "lsdseg predict: %s\n", err.msg);
        else done++;
    }
    if (!rc) fprintf(stderr, "lsdseg predict: %d image%s segmented into %s\n", done,
                     done == 1 ? "" : "s", out);
    opt_device_stop(&dev);
    lsd_model_free(&m);
    return rc ? 1 : 0;
}
