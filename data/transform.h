/*
 * transform.h - the input pipeline of the LSD-seg authors (docs/method.md, "Inputs").
 *
 * Resizing copies Pillow: images with Image.LANCZOS (a = 3, the kernel
 * stretched by the scale when downsampling, separable horizontal then
 * vertical passes in 22-bit fixed point with 8-bit rounding in between, as
 * Pillow's Resample.c), labels with Image.NEAREST (pixel centres: output i
 * takes input floor((i + 0.5) * in / out), with Pillow's rounding at ties).
 * Random crops and flips draw from the counter RNG at (seed, stream, index),
 * so an epoch is reproducible whatever the thread count or loading order.
 * Against Pillow 9.4 (tests/test_transform.c) both resizes are bit-identical
 * on every size tried, 1914x1052 -> 1280x704 included.
 *
 * Per dataset kind, transform_defaults gives the authors' choices:
 *   GTA5 train       resize to width 1280 (Lanczos; height by aspect ratio), random crop
 *                    that holds at least one labelled pixel
 *   SYNTHIA train    random crop, no resize, labelled-pixel condition
 *   Cityscapes train random crop of the full image (target: labels unused)
 *   evaluation       image resized to the crop size (Lanczos); the label stays full size,
 *                    for scoring at full resolution after nearest upsampling
 */
#ifndef LSD_TRANSFORM_H
#define LSD_TRANSFORM_H

#include <stdint.h>
#include "../tensor/common.h"
#include "dataset.h"

/* Per-channel means of F's input, in BGR order (docs/method.md, "Inputs"). */
#define MEAN_B 104.00698793
#define MEAN_G 116.66876762
#define MEAN_R 122.67891434

typedef struct {
    int resize_width;        /* > 0: resize first to this width */
    int resize_height;       /* > 0: and this height; 0: height by aspect ratio (rounded) */
    int resize_label;        /* 1: resize the label too (nearest); 0: keep it full size */
    int crop_height, crop_width; /* > 0: random crop of this size */
    int need_label;          /* 1: the crop must hold at least one labelled pixel */
    int flip;                /* 1: horizontal flip with probability 1/2 */
    int max_tries;           /* crop draws before giving up (1..64) */
    uint64_t seed;
} transform_opts;

/* The authors' pipeline for a dataset kind, for training (train = 1) or evaluation, with a
 * crop (and evaluation) size of crop_h x crop_w, e.g. 320 x 640 or 512 x 1024. */
transform_opts transform_defaults(dataset_kind kind, int train, int crop_h, int crop_w,
                                  uint64_t seed);
/* Applies opts to s in place. draw numbers this use of the sample (e.g. epoch * N + i) and
 * selects the random draws: crop try k uses indices 128*draw + 2k (top) and + 1 (left) of
 * stream rng_stream_of("data.crop"); the flip uses index draw of rng_stream_of("data.flip"). */
int transform_apply(sample *s, const transform_opts *opts, uint64_t draw, lsd_err *err);

/* Pillow's LANCZOS resize of an (H, W, C) uint8 image (C = 1..4) to (OH, OW, C). */
int resize_lanczos(uint8_t *out, int OH, int OW, const uint8_t *in, int H, int W, int C,
                   lsd_err *err);
/* Pillow's NEAREST resize of an (H, W, C) uint8 map to (OH, OW, C), its double accumulation
 * of the source coordinate included (see transform.c: it differs from the exact
 * floor((i + 0.5) * in / out) at some exact ties, where Pillow takes the index below). */
int resize_nearest_u8(uint8_t *out, int OH, int OW, const uint8_t *in, int H, int W, int C,
                      lsd_err *err);
/* out (OH, OW, C) = in (H, W, C) [top:top+OH, left:left+OW]. */
void crop_u8(uint8_t *out, const uint8_t *in, int W, int C, int top, int left, int OH, int OW);
/* Mirrors an (H, W, C) image left to right in place. */
void flip_u8(uint8_t *img, int H, int W, int C);
/* Draws the top-left corner of an OH x OW window of an H x W label map; with need_label the
 * window must hold a value other than 255, else it draws again (max_tries in all). */
int random_crop_window(const uint8_t *label, int H, int W, int OH, int OW, int need_label,
                       int max_tries, uint64_t seed, uint64_t draw, int *top, int *left,
                       lsd_err *err);

/* F's input: out (3, H, W) = (B, G, R) - (MEAN_B, MEAN_G, MEAN_R), from rgb (H, W, 3). */
void to_bgr_minus_mean(real *out, const uint8_t *rgb, int H, int W);
/* D's input and G's target: out (3, H, W) = (R, G, B) / 255, from rgb (H, W, 3). */
void to_rgb01(real *out, const uint8_t *rgb, int H, int W);

#endif
