/*
 * predfiles.h - label maps written by another program (a port, another
 * framework, the authors' code), found and read the way the official
 * Cityscapes evaluation does (cityscapesscripts' evalPixelLevelSemanticLabeling,
 * getPrediction and evaluatePair; docs/real-data.md, "Evaluation").
 *
 * Finding: every *.png under a folder, searched recursively (links to
 * folders are not followed, as os.walk), is a candidate. The prediction of a
 * ground-truth frame is the one file whose name matches "<key>*.png", i.e.
 * starts with the frame's key: for Cityscapes the key is city_seq_frame of the
 * ground truth's name (e.g. frankfurt_000000_000294), for the other datasets
 * the image's file name without ".png" and "_leftImg8bit" (the names `lsdseg
 * eval --save-predictions` writes). No file, or two files, for a frame is an
 * error. Files that match no frame are not read (the official script ignores
 * them too); `uses` counts them so that the caller can warn.
 *
 * Reading: an 8-bit grey PNG, or a palette PNG whose indices are the values
 * (the palette is ignored), of exactly the ground truth's size (no
 * resizing). Values are Cityscapes label ids 0..33 (PRED_IDS) or train ids
 * 0..18 with 255 for "no class" (PRED_TRAINIDS). They are read into train
 * ids 0..18, and PRED_VOID for an id that is not evaluated (0..6, 9, 10,
 * 14..16, 18, 29, 30, or train id 255). Counted into a confusion matrix of
 * PRED_NUM_CLASSES classes, a void prediction on a labelled pixel is a false
 * negative of that pixel's class and a false positive of no class: exactly
 * the official rule (metrics.h), so the IoUs of classes 0..18 equal the
 * official script's. Any other value (an id >= 34, which the official script
 * cannot count either; a train id 19..254) is an error naming the file and
 * the pixel.
 */
#ifndef LSD_PREDFILES_H
#define LSD_PREDFILES_H

#include <stddef.h>
#include <stdint.h>
#include "../tensor/common.h"
#include "dataset.h"
#include "labels.h"

#define PRED_VOID CS_NUM_CLASSES              /* a predicted id that is not evaluated */
#define PRED_NUM_CLASSES (CS_NUM_CLASSES + 1) /* the 19 classes and PRED_VOID */

typedef enum {
    PRED_IDS = 0,     /* Cityscapes label ids 0..33 (the official format) */
    PRED_TRAINIDS = 1 /* train ids 0..18, 255 = none */
} pred_format;

typedef struct {
    char *root;     /* the folder searched */
    size_t n;       /* *.png files found */
    char **paths;   /* n paths (root/...), sorted by file name, then path */
    size_t *uses;   /* frames matched to each file by predfiles_match */
} pred_files;

/* Lists every *.png file under root, recursively. Errors if root is not a folder. */
int predfiles_scan(pred_files *pf, const char *root, lsd_err *err);
/* Frees the list; safe on a zeroed pred_files. */
void predfiles_free(pred_files *pf);
/* The key of sample i of ds (see above) into key (cap bytes). */
int predfiles_key(char *key, size_t cap, const Dataset *ds, size_t i, lsd_err *err);
/* *index = the one file named "<key>*.png", and counts the use. The error names the frame
 * (key and ground-truth file gt) and the pattern, or both files when two match. */
int predfiles_match(pred_files *pf, const char *key, const char *gt, size_t *index,
                    lsd_err *err);
/* Reads the prediction at path into out (H * W train ids 0..18 or PRED_VOID); the file must
 * be H x W. */
int predfiles_load(const char *path, pred_format fmt, int H, int W, uint8_t *out, lsd_err *err);

#endif
