/* metrics.c - confusion matrix, scores and prediction files (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "png.h"
#include "transform.h"

/* Allocates a zeroed n x n matrix. */
int confusion_init(confusion *c, int n, lsd_err *err)
{
    c->n = 0;
    c->count = NULL;
    if (n < 1 || n > 255) return lsd_fail(err, LSD_ERR_ARG, "classes must be 1..255, not %d", n);
    c->count = calloc((size_t)n * n, sizeof *c->count);
    if (!c->count) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a confusion matrix");
    c->n = n;
    return LSD_OK;
}

/* Frees the matrix. */
void confusion_free(confusion *c)
{
    free(c->count);
    c->count = NULL;
    c->n = 0;
}

/* Zeroes the counts. */
void confusion_reset(confusion *c)
{
    memset(c->count, 0, (size_t)c->n * c->n * sizeof *c->count);
}

/* Validates, then counts C[gt][pred] for every pixel whose gt is not 255. */
int confusion_add(confusion *c, const uint8_t *gt, const uint8_t *pred, size_t npix,
                  lsd_err *err)
{
    size_t i;
    int n = c->n;
    for (i = 0; i < npix; i++) {
        if (gt[i] != LABEL_IGNORE && gt[i] >= n) {
            return lsd_fail(err, LSD_ERR_RANGE, "ground truth %d at pixel %lu is not a class "
                            "0..%d or 255 (ignore)", gt[i], (unsigned long)i, n - 1);
        }
        if (pred[i] >= n) {
            return lsd_fail(err, LSD_ERR_RANGE, "prediction %d at pixel %lu is not a class 0..%d",
                            pred[i], (unsigned long)i, n - 1);
        }
    }
    for (i = 0; i < npix; i++)
        if (gt[i] != LABEL_IGNORE) c->count[(size_t)gt[i] * n + pred[i]]++;
    return LSD_OK;
}

/* Nearest-upsamples the prediction to the ground truth's size and counts it. */
int confusion_add_upsampled(confusion *c, const uint8_t *gt, int GH, int GW, const uint8_t *pred,
                            int PH, int PW, lsd_err *err)
{
    uint8_t *up;
    int rc;
    if (GH == PH && GW == PW) return confusion_add(c, gt, pred, (size_t)GH * GW, err);
    if (GH <= 0 || GW <= 0) return lsd_fail(err, LSD_ERR_ARG, "label size %dx%d", GW, GH);
    up = malloc((size_t)GH * GW);
    if (!up) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory upsampling a prediction");
    rc = resize_nearest_u8(up, GH, GW, pred, PH, PW, 1, err);
    if (rc == LSD_OK) rc = confusion_add(c, gt, up, (size_t)GH * GW, err);
    free(up);
    return rc;
}

/* Adds src's counts to dst. */
int confusion_merge(confusion *dst, const confusion *src, lsd_err *err)
{
    size_t i, nn;
    if (dst->n != src->n) {
        return lsd_fail(err, LSD_ERR_ARG, "merging %d-class and %d-class matrices", dst->n, src->n);
    }
    nn = (size_t)dst->n * dst->n;
    for (i = 0; i < nn; i++) dst->count[i] += src->count[i];
    return LSD_OK;
}

/* Per-class IoU and accuracy of the whole matrix, then the summaries over the subset. Sums of
 * counts are exact in uint64; ratios are taken in double. */
void confusion_scores(const confusion *c, const int *subset, int nsubset, seg_scores *s)
{
    int n = c->n, k, g, p;
    uint64_t total = 0, correct = 0;
    double sum_iou = 0, sum_acc = 0, fw = 0;
    int n_iou = 0, n_acc = 0;
    memset(s, 0, sizeof *s);
    s->n = n;
    for (k = 0; k < n; k++) {
        uint64_t tp = c->count[(size_t)k * n + k], row = 0, col = 0;
        for (p = 0; p < n; p++) row += c->count[(size_t)k * n + p];
        for (g = 0; g < n; g++) col += c->count[(size_t)g * n + k];
        s->iou[k] = (row + col - tp) ? (double)tp / (double)(row + col - tp) : nan("");
        s->acc[k] = row ? (double)tp / (double)row : nan("");
    }
    if (!subset) nsubset = n;
    for (k = 0; k < nsubset; k++) {
        int cl = subset ? subset[k] : k;
        uint64_t row = 0;
        if (cl < 0 || cl >= n) continue;
        for (p = 0; p < n; p++) row += c->count[(size_t)cl * n + p];
        total += row;
        correct += c->count[(size_t)cl * n + cl];
        if (!isnan(s->iou[cl])) {
            sum_iou += s->iou[cl];
            n_iou++;
            fw += (double)row * s->iou[cl];
        }
        if (!isnan(s->acc[cl])) {
            sum_acc += s->acc[cl];
            n_acc++;
        }
    }
    s->n_valid = n_iou;
    s->pixels = total;
    s->miou = n_iou ? sum_iou / n_iou : nan("");
    s->mean_acc = n_acc ? sum_acc / n_acc : nan("");
    s->pixel_acc = total ? (double)correct / (double)total : nan("");
    s->fwiou = total ? fw / (double)total : nan("");
}

/* The official rule on label ids: FN counts every prediction on the class's pixels, FP only
 * predictions on pixels whose ground truth is one of the 19 evaluated classes. */
int confusion_official_iou(const confusion *c34, double iou[19], lsd_err *err)
{
    uint8_t table[256];
    int n = c34->n, t, g, p;
    if (n != CS_NUM_IDS) {
        return lsd_fail(err, LSD_ERR_ARG, "the official rule needs a 34-id matrix, not %d", n);
    }
    labels_cityscapes_table(table);
    for (t = 0; t < CS_NUM_CLASSES; t++) {
        int l = labels_train_to_id(t);
        uint64_t tp = c34->count[(size_t)l * n + l], fn = 0, fp = 0;
        for (p = 0; p < n; p++) fn += c34->count[(size_t)l * n + p];
        fn -= tp;
        for (g = 0; g < n; g++)
            if (g != l && table[g] != LABEL_IGNORE) fp += c34->count[(size_t)g * n + l];
        iou[t] = (tp + fp + fn) ? (double)tp / (double)(tp + fp + fn) : nan("");
    }
    return LSD_OK;
}

/* Train id -> label id per pixel. */
void train_to_label_ids(uint8_t *ids, const uint8_t *train, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) ids[i] = (uint8_t)labels_train_to_id(train[i]);
}

/* Train id -> RGB per pixel. */
void train_to_color(uint8_t *rgb, const uint8_t *train, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) labels_train_color(train[i], rgb + 3 * i);
}

/* Alpha blend of the class colour over the image, rounded half up; ignore keeps the image. */
void overlay_color(uint8_t *out, const uint8_t *image, const uint8_t *train, size_t n,
                   double alpha)
{
    size_t i;
    int c;
    if (alpha < 0) alpha = 0;
    if (alpha > 1) alpha = 1;
    for (i = 0; i < n; i++) {
        uint8_t col[3];
        if (train[i] >= CS_NUM_CLASSES) {
            if (out != image) memcpy(out + 3 * i, image + 3 * i, 3);
            continue;
        }
        labels_train_color(train[i], col);
        for (c = 0; c < 3; c++) {
            double v = (1.0 - alpha) * image[3 * i + c] + alpha * col[c];
            out[3 * i + c] = (uint8_t)floor(v + 0.5);
        }
    }
}

/* Converts train ids to label ids (1 channel), an overlay (image given) or colours, and
 * writes a PNG. */
static int save_converted(const char *path, const uint8_t *train, int H, int W, int channels,
                          const uint8_t *image, double alpha, lsd_err *err)
{
    size_t n = (size_t)H * W;
    uint8_t *buf;
    int rc;
    if (H <= 0 || W <= 0) return lsd_fail(err, LSD_ERR_ARG, "%s: image size %dx%d", path, W, H);
    buf = malloc(n * channels);
    if (!buf) return lsd_fail(err, LSD_ERR_NOMEM, "%s: out of memory", path);
    if (channels == 1) train_to_label_ids(buf, train, n);
    else if (image) overlay_color(buf, image, train, n, alpha);
    else train_to_color(buf, train, n);
    rc = png_save(path, buf, (uint32_t)W, (uint32_t)H, channels, NULL, 0, err);
    free(buf);
    return rc;
}

/* One-channel label-id PNG. */
int save_label_ids(const char *path, const uint8_t *train, int H, int W, lsd_err *err)
{
    return save_converted(path, train, H, W, 1, NULL, 0, err);
}

/* RGB colour PNG. */
int save_color(const char *path, const uint8_t *train, int H, int W, lsd_err *err)
{
    return save_converted(path, train, H, W, 3, NULL, 0, err);
}

/* RGB overlay PNG. */
int save_overlay(const char *path, const uint8_t *image, const uint8_t *train, int H, int W,
                 double alpha, lsd_err *err)
{
    return save_converted(path, train, H, W, 3, image, alpha, err);
}
