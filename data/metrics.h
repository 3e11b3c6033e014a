/*
 * metrics.h - segmentation scores over a whole set, and prediction files in
 * the official Cityscapes formats (docs/real-data.md, "Evaluation").
 *
 * The confusion matrix counts pixels C[gt][pred] in 64 bits over all images
 * (500 x 2048 x 1024 pixels overflow 32 bits). Labels are train ids 0..n-1;
 * ground truth 255 is ignored; any other value >= n is an error, as is a
 * prediction >= n (clamp predictions to the classes first: a value outside
 * them cannot be scored). Predictions are scored at the label's full size
 * after nearest-neighbour upsampling with Pillow's rule (resize_nearest_u8),
 * as the authors do.
 *
 * Scores (the authors' four numbers; FCN's definitions):
 *   IoU_c     = TP / (TP + FP + FN) = C[c][c] / (row_c + col_c - C[c][c]); NaN if 0/0
 *   mIoU      = mean of the IoUs that are not NaN
 *   pixel acc = sum_c C[c][c] / sum of C
 *   mean acc  = mean over classes present in the ground truth of C[c][c] / row_c
 *   fwIoU     = sum_c (row_c / sum of C) IoU_c, over classes with a defined IoU
 * A subset summary (16 or 13 classes for SYNTHIA) takes the per-class values of
 * the full matrix and averages over the subset; pixel accuracy and fwIoU then
 * count only the pixels whose ground truth is in the subset.
 *
 * Equivalence with the official script: on a 34x34 matrix of label ids, the
 * official IoU of class l is TP / (TP + FP + FN) with FN = row sum - TP (a
 * prediction of an ignored id on a class pixel is an error) and FP summed
 * over the non-ignored ground-truth rows only. Mapping ground truth to train
 * ids (ignored ids -> 255, skipped) gives exactly the same FP; FN agrees
 * whenever every prediction is one of the 19 train classes, which holds for
 * our networks' argmax. Hence our 19-class IoUs equal the official ones for
 * predictions written with save_label_ids. confusion_official_iou implements
 * the official rule on a 34-class label-id matrix for predictions that use
 * other ids too.
 */
#ifndef LSD_METRICS_H
#define LSD_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "../tensor/common.h"

typedef struct {
    int n;           /* classes */
    uint64_t *count; /* (n, n): count[gt * n + pred] */
} confusion;

typedef struct {
    int n;               /* classes in the matrix */
    double iou[256];     /* per class; NaN when the class is neither in the GT nor predicted */
    double acc[256];     /* per class TP / row; NaN when the class is absent from the GT */
    double miou, mean_acc, pixel_acc, fwiou; /* over the chosen classes */
    int n_valid;         /* classes that entered the mIoU */
    uint64_t pixels;     /* pixels counted (ground truth in the chosen classes) */
} seg_scores;

/* Allocates a zeroed n x n matrix, 1 <= n <= 255. */
int confusion_init(confusion *c, int n, lsd_err *err);
/* Frees the matrix; safe on a zeroed struct. */
void confusion_free(confusion *c);
/* Zeroes all counts. */
void confusion_reset(confusion *c);
/* Counts npix pixels of ground truth gt and prediction pred (same size). Ground truth 255 is
 * skipped. Values are checked first: nothing is counted if any is out of range. */
int confusion_add(confusion *c, const uint8_t *gt, const uint8_t *pred, size_t npix,
                  lsd_err *err);
/* Upsamples pred (PH, PW) to the ground truth's (GH, GW) with Pillow's nearest rule and counts
 * it: the authors' evaluation of a low-resolution prediction. */
int confusion_add_upsampled(confusion *c, const uint8_t *gt, int GH, int GW, const uint8_t *pred,
                            int PH, int PW, lsd_err *err);
/* dst += src (same n). */
int confusion_merge(confusion *dst, const confusion *src, lsd_err *err);
/* Scores of the matrix over classes subset[0..nsubset-1], or all classes when subset is NULL. */
void confusion_scores(const confusion *c, const int *subset, int nsubset, seg_scores *s);
/* The official cityscapesScripts class IoU of the 19 evaluated classes from a 34-class matrix
 * of Cityscapes label ids (see above); iou[t] is indexed by train id. */
int confusion_official_iou(const confusion *c34, double iou[19], lsd_err *err);

/* Train ids -> Cityscapes label ids (255 and invalid -> 0, "unlabeled"), n pixels. */
void train_to_label_ids(uint8_t *ids, const uint8_t *train, size_t n);
/* Train ids -> official colours (rgb: n x 3), black for 255. */
void train_to_color(uint8_t *rgb, const uint8_t *train, size_t n);
/* out = round((1 - alpha) image + alpha colour(train)) per channel; ignore pixels keep the
 * image. image and out are n x 3 RGB (may be the same buffer). */
void overlay_color(uint8_t *out, const uint8_t *image, const uint8_t *train, size_t n,
                   double alpha);
/* Writes the official submission format: one-channel 8-bit PNG of label ids, full size. */
int save_label_ids(const char *path, const uint8_t *train, int H, int W, lsd_err *err);
/* Writes an RGB PNG in the official colours. */
int save_color(const char *path, const uint8_t *train, int H, int W, lsd_err *err);
/* Writes an RGB PNG of the colours blended over the image (H, W, 3). */
int save_overlay(const char *path, const uint8_t *image, const uint8_t *train, int H, int W,
                 double alpha, lsd_err *err);

#endif
