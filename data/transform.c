/* transform.c - Pillow-exact resizing, random crops and flips, input scaling (transform.h). */
#include "transform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/mathfn.h"
#include "../tensor/rng.h"

#define LANCZOS_A 3.0
#define PI 3.14159265358979323846
#define PRECISION_BITS (32 - 8 - 2) /* Pillow's fixed point for 8-bit images */

/* sin(pi x) / (pi x), 1 at 0 (Pillow's sinc_filter). */
static double sinc(double x)
{
    if (x == 0.0) return 1.0;
    x = x * PI;
    return lsd_sin(x) / x;
}

/* The Lanczos-3 kernel sinc(x) sinc(x/3) on [-3, 3). */
static double lanczos(double x)
{
    if (-LANCZOS_A <= x && x < LANCZOS_A) return sinc(x) * sinc(x / LANCZOS_A);
    return 0.0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc: for each output index, the first input
 * index (bounds[2i]), the tap count (bounds[2i+1]) and ksize fixed-point weights. */
static int lanczos_coeffs(int in_size, int out_size, int *ksize_out, int **bounds_out,
                          int32_t **kk_out, lsd_err *err)
{
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = LANCZOS_A * filterscale, ss = 1.0 / filterscale;
    int ksize = (int)ceil(support) * 2 + 1, xx, x;
    int *bounds = malloc(2 * (size_t)out_size * sizeof *bounds);
    int32_t *kk = malloc((size_t)out_size * (size_t)ksize * sizeof *kk);
    double *k = malloc((size_t)ksize * sizeof *k);
    if (!bounds || !kk || !k) {
        free(bounds);
        free(kk);
        free(k);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for resize coefficients");
    }
    for (xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (x = 0; x < xmax; x++) {
            k[x] = lanczos((x + xmin - center + 0.5) * ss);
            ww += k[x];
        }
        for (x = 0; x < ksize; x++) {
            double w = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
            double fixed = w * (1 << PRECISION_BITS);
            kk[(size_t)xx * ksize + x] = (int32_t)(w < 0 ? fixed - 0.5 : fixed + 0.5);
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(k);
    *ksize_out = ksize;
    *bounds_out = bounds;
    *kk_out = kk;
    return LSD_OK;
}

/* Pillow's clip8: a fixed-point sum to 0..255 (the sum already holds the rounding half). */
static uint8_t clip8(int64_t v)
{
    if (v >= ((int64_t)255 << PRECISION_BITS)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* One separable pass: along rows (horizontal) or columns; in (H, W, C) -> out. */
static void resample_pass(uint8_t *out, const uint8_t *in, int H, int W, int C, int horizontal,
                          int out_len, int ksize, const int *bounds, const int32_t *kk)
{
    int a, b, c, t;
    int outer = horizontal ? H : out_len, inner = horizontal ? out_len : W;
    int OW = horizontal ? out_len : W;
    for (a = 0; a < outer; a++) {
        for (b = 0; b < inner; b++) {
            int o = horizontal ? b : a;          /* the resampled coordinate */
            const int32_t *k = kk + (size_t)o * ksize;
            int first = bounds[2 * o], taps = bounds[2 * o + 1];
            for (c = 0; c < C; c++) {
                int64_t sum = (int64_t)1 << (PRECISION_BITS - 1);
                for (t = 0; t < taps; t++) {
                    size_t src = horizontal ? ((size_t)a * W + (size_t)(first + t)) * C + c
                                            : ((size_t)(first + t) * W + (size_t)b) * C + c;
                    sum += (int64_t)in[src] * k[t];
                }
                out[((size_t)a * OW + (size_t)b) * C + c] = clip8(sum);
            }
        }
    }
}

/* Lanczos resize as Pillow's ImagingResample: horizontal pass (if the width changes), then
 * vertical pass (if the height changes), each rounded to 8 bits. */
int resize_lanczos(uint8_t *out, int OH, int OW, const uint8_t *in, int H, int W, int C,
                   lsd_err *err)
{
    int kh = 0, kv = 0, rc;
    int *bh = NULL, *bv = NULL;
    int32_t *ch = NULL, *cv = NULL;
    uint8_t *tmp = NULL;
    if (H <= 0 || W <= 0 || OH <= 0 || OW <= 0 || C < 1 || C > 4) {
        return lsd_fail(err, LSD_ERR_ARG, "resize %dx%d -> %dx%d with %d channels", W, H, OW,
                        OH, C);
    }
    if (OW == W && OH == H) {
        memcpy(out, in, (size_t)H * W * C);
        return LSD_OK;
    }
    rc = lanczos_coeffs(W, OW, &kh, &bh, &ch, err);
    if (rc == LSD_OK) rc = lanczos_coeffs(H, OH, &kv, &bv, &cv, err);
    if (rc == LSD_OK && OW != W && OH != H) {
        tmp = malloc((size_t)H * OW * C);
        if (!tmp) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory resizing");
    }
    if (rc == LSD_OK) {
        if (OW == W) {
            resample_pass(out, in, H, W, C, 0, OH, kv, bv, cv);
        } else if (OH == H) {
            resample_pass(out, in, H, W, C, 1, OW, kh, bh, ch);
        } else {
            resample_pass(tmp, in, H, W, C, 1, OW, kh, bh, ch);
            resample_pass(out, tmp, H, OW, C, 0, OH, kv, bv, cv);
        }
    }
    free(tmp);
    free(bh);
    free(bv);
    free(ch);
    free(cv);
    return rc;
}

/* Source indices of Pillow's NEAREST resize (ImagingScaleAffine): (int)x with x starting at
 * s/2, s = in/out, and growing by s per output index, accumulated in double. This equals
 * floor((i + 0.5) * in / out) except where that value is an exact integer and the rounding of
 * the sum lands just below it (e.g. 64 -> 30, i = 7: 15, not 16); Pillow's result is kept. */
static void nearest_indices(int *idx, int in, int out)
{
    double s = (double)(float)in / out, x = s * 0.5;
    int i;
    for (i = 0; i < out; i++) {
        int v = (int)x;
        idx[i] = v < 0 ? 0 : (v >= in ? in - 1 : v);
        x += s;
    }
}

/* Pillow's NEAREST resize of an (H, W, C) uint8 map to (OH, OW, C). */
int resize_nearest_u8(uint8_t *out, int OH, int OW, const uint8_t *in, int H, int W, int C,
                      lsd_err *err)
{
    int *xi, *yi, y, x;
    if (H <= 0 || W <= 0 || OH <= 0 || OW <= 0 || C < 1) {
        return lsd_fail(err, LSD_ERR_ARG, "nearest resize %dx%d -> %dx%d", W, H, OW, OH);
    }
    xi = malloc((size_t)OW * sizeof *xi);
    yi = malloc((size_t)OH * sizeof *yi);
    if (!xi || !yi) {
        free(xi);
        free(yi);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory resizing a label map");
    }
    nearest_indices(xi, W, OW);
    nearest_indices(yi, H, OH);
    for (y = 0; y < OH; y++) {
        const uint8_t *row = in + (size_t)yi[y] * W * C;
        uint8_t *o = out + (size_t)y * OW * C;
        if (C == 1) {
            for (x = 0; x < OW; x++) o[x] = row[xi[x]];
        } else {
            for (x = 0; x < OW; x++) memcpy(o + (size_t)x * C, row + (size_t)xi[x] * C, (size_t)C);
        }
    }
    free(xi);
    free(yi);
    return LSD_OK;
}

/* Copies the window [top, top+OH) x [left, left+OW) of an (., W, C) image. */
void crop_u8(uint8_t *out, const uint8_t *in, int W, int C, int top, int left, int OH, int OW)
{
    int y;
    for (y = 0; y < OH; y++) {
        memcpy(out + (size_t)y * OW * C, in + ((size_t)(top + y) * W + (size_t)left) * C,
               (size_t)OW * C);
    }
}

/* Swaps pixel x with pixel W-1-x in every row. */
void flip_u8(uint8_t *img, int H, int W, int C)
{
    int y, x, c;
    for (y = 0; y < H; y++) {
        uint8_t *row = img + (size_t)y * W * C;
        for (x = 0; x < W / 2; x++) {
            for (c = 0; c < C; c++) {
                uint8_t t = row[(size_t)x * C + c];
                row[(size_t)x * C + c] = row[(size_t)(W - 1 - x) * C + c];
                row[(size_t)(W - 1 - x) * C + c] = t;
            }
        }
    }
}

/* 1 if the window holds a label other than 255. */
static int window_has_label(const uint8_t *label, int W, int top, int left, int OH, int OW)
{
    int y, x;
    for (y = top; y < top + OH; y++) {
        const uint8_t *row = label + (size_t)y * W;
        for (x = left; x < left + OW; x++)
            if (row[x] != 255) return 1;
    }
    return 0;
}

/* Draws crop corners until the window qualifies (see transform.h). */
int random_crop_window(const uint8_t *label, int H, int W, int OH, int OW, int need_label,
                       int max_tries, uint64_t seed, uint64_t draw, int *top, int *left,
                       lsd_err *err)
{
    uint64_t stream = rng_stream_of("data.crop");
    int k;
    if (OH <= 0 || OW <= 0 || OH > H || OW > W) {
        return lsd_fail(err, LSD_ERR_ARG, "crop %dx%d does not fit in a %dx%d image (width x "
                        "height); choose a smaller crop or resize first", OW, OH, W, H);
    }
    if (max_tries < 1 || max_tries > 64) {
        return lsd_fail(err, LSD_ERR_ARG, "crop tries must be 1..64, not %d", max_tries);
    }
    for (k = 0; k < max_tries; k++) {
        int t = (int)rng_below(seed, stream, 128 * draw + 2 * (uint64_t)k, (uint64_t)(H - OH + 1));
        int l = (int)rng_below(seed, stream, 128 * draw + 2 * (uint64_t)k + 1,
                               (uint64_t)(W - OW + 1));
        if (!need_label || window_has_label(label, W, t, l, OH, OW)) {
            *top = t;
            *left = l;
            return LSD_OK;
        }
    }
    return lsd_fail(err, LSD_ERR_RANGE, "no %dx%d crop with a labelled pixel found in %d tries "
                    "(is the label map all ignore?)", OW, OH, max_tries);
}

/* The authors' settings per dataset kind (see transform.h). */
transform_opts transform_defaults(dataset_kind kind, int train, int crop_h, int crop_w,
                                  uint64_t seed)
{
    transform_opts o;
    memset(&o, 0, sizeof o);
    o.seed = seed;
    o.max_tries = 50;
    if (!train) {
        o.resize_height = crop_h;
        o.resize_width = crop_w;
        o.resize_label = 0;
        return o;
    }
    o.crop_height = crop_h;
    o.crop_width = crop_w;
    o.need_label = kind != DATASET_CITYSCAPES;
    o.resize_label = 1;
    if (kind == DATASET_GTA5) o.resize_width = 1280;
    return o;
}

/* Replaces *buf by fresh, freeing the old buffer. */
static void replace_buf(uint8_t **buf, uint8_t *fresh)
{
    free(*buf);
    *buf = fresh;
}

/* Resize, crop and flip a sample in place (see transform.h). */
int transform_apply(sample *s, const transform_opts *o, uint64_t draw, lsd_err *err)
{
    int H = s->height, W = s->width, rc;
    if (o->resize_width > 0) {
        int OW = o->resize_width;
        int OH = o->resize_height > 0 ? o->resize_height
                                      : (int)(((int64_t)2 * H * OW + W) / ((int64_t)2 * W));
        if (OH < 1) OH = 1;
        if (OH != H || OW != W) {
            uint8_t *img = malloc((size_t)OH * OW * 3), *lab = NULL;
            if (!img) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory resizing a sample");
            rc = resize_lanczos(img, OH, OW, s->image, H, W, 3, err);
            if (rc != LSD_OK) {
                free(img);
                return rc;
            }
            replace_buf(&s->image, img);
            if (o->resize_label) {
                lab = malloc((size_t)OH * OW);
                if (!lab) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory resizing a label");
                rc = resize_nearest_u8(lab, OH, OW, s->label, s->label_height, s->label_width,
                                       1, err);
                if (rc != LSD_OK) {
                    free(lab);
                    return rc;
                }
                replace_buf(&s->label, lab);
                s->label_height = OH;
                s->label_width = OW;
            }
            s->height = H = OH;
            s->width = W = OW;
        }
    }
    if (o->crop_height > 0 && o->crop_width > 0) {
        int top, left, OH = o->crop_height, OW = o->crop_width;
        uint8_t *img, *lab;
        if (s->label_height != H || s->label_width != W) {
            return lsd_fail(err, LSD_ERR_ARG, "a crop needs the label at the image size");
        }
        rc = random_crop_window(s->label, H, W, OH, OW, o->need_label, o->max_tries, o->seed,
                                draw, &top, &left, err);
        if (rc != LSD_OK) return rc;
        img = malloc((size_t)OH * OW * 3);
        lab = malloc((size_t)OH * OW);
        if (!img || !lab) {
            free(img);
            free(lab);
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory cropping a sample");
        }
        crop_u8(img, s->image, W, 3, top, left, OH, OW);
        crop_u8(lab, s->label, W, 1, top, left, OH, OW);
        replace_buf(&s->image, img);
        replace_buf(&s->label, lab);
        s->height = s->label_height = OH;
        s->width = s->label_width = OW;
    }
    if (o->flip && rng_bernoulli(o->seed, rng_stream_of("data.flip"), draw, 0.5)) {
        flip_u8(s->image, s->height, s->width, 3);
        flip_u8(s->label, s->label_height, s->label_width, 1);
    }
    return LSD_OK;
}

/* BGR minus the ImageNet-Caffe means, channel-major; computed in double, rounded once. */
void to_bgr_minus_mean(real *out, const uint8_t *rgb, int H, int W)
{
    size_t n = (size_t)H * W, i;
    for (i = 0; i < n; i++) {
        out[i] = (real)(rgb[3 * i + 2] - MEAN_B);
        out[n + i] = (real)(rgb[3 * i + 1] - MEAN_G);
        out[2 * n + i] = (real)(rgb[3 * i + 0] - MEAN_R);
    }
}

/* RGB scaled to [0, 1], channel-major; computed in double, rounded once. */
void to_rgb01(real *out, const uint8_t *rgb, int H, int W)
{
    size_t n = (size_t)H * W, i;
    int c;
    for (c = 0; c < 3; c++)
        for (i = 0; i < n; i++) out[(size_t)c * n + i] = (real)(rgb[3 * i + c] / 255.0);
}
