/* test_transform.c - Lanczos and nearest resizing against Pillow, random crops, flips and
 * the input scalings of F and D. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../data/transform.h"
#include "../tensor/rng.h"
#include "harness.h"

/* The Python with numpy and Pillow: $LSD_PYTHON, /usr/bin/python3, or python3. */
/* Writes n bytes to path; 1 on success. */
static int write_raw(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f) ok = (fclose(f) == 0) && ok;
    return ok;
}

/* Reads exactly n bytes from path; 1 on success. */
static int read_raw(const char *path, uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "rb");
    int ok = f && fread(p, 1, n, f) == n;
    if (f) fclose(f);
    return ok;
}

/* Fills an image with a mix of smooth ramps, edges and noise (worst cases for Lanczos). */
static void make_image(uint8_t *img, int H, int W, int C, uint64_t seed)
{
    int y, x, c;
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++)
            for (c = 0; c < C; c++) {
                size_t i = ((size_t)y * W + x) * C + c;
                unsigned v;
                if ((x / 7 + y / 5 + c) % 3 == 0) v = (unsigned)rng_below(seed, 1, i, 256);
                else if ((x / 11) % 2) v = (x % 2) ? 255 : 0;
                else v = (unsigned)((x * 5 + y * 3 + c * 40) % 256);
                img[i] = (uint8_t)v;
            }
}

/* Resizes with our code and with Pillow (LANCZOS and NEAREST) in one Python call; stores the
 * max differences in d[0] (Lanczos) and d[1] (nearest), -1 if Python failed. */
static void compare_pillow(int H, int W, int C, int OH, int OW, const char *tmp, int d[2])
{
    char in_path[512], out_path[512], cmd[2048];
    size_t n = (size_t)H * W * C, m = (size_t)OH * OW * C, i;
    uint8_t *in = malloc(n), *ours = malloc(m), *ref = malloc(2 * m);
    int mode;
    lsd_err err;
    d[0] = d[1] = -1;
    if (!in || !ours || !ref) goto done;
    make_image(in, H, W, C, (uint64_t)(H * 131 + W));
    snprintf(in_path, sizeof in_path, "%s/tr_in.raw", tmp);
    snprintf(out_path, sizeof out_path, "%s/tr_out.raw", tmp);
    if (!write_raw(in_path, in, n)) goto done;
    snprintf(cmd, sizeof cmd,
             "%s -c \"import numpy as np; from PIL import Image; "
             "a=np.fromfile('%s',np.uint8).reshape(%d,%d,%d); "
             "im=Image.fromarray(a[:,:,0] if %d==1 else a); "
             "r=[np.asarray(im.resize((%d,%d), f)) for f in (Image.LANCZOS, Image.NEAREST)]; "
             "np.concatenate([x.ravel() for x in r]).astype(np.uint8).tofile('%s')\"",
             test_python(), in_path, H, W, C, C, OW, OH, out_path);
    if (system(cmd) != 0 || !read_raw(out_path, ref, 2 * m)) goto done;
    for (mode = 0; mode < 2; mode++) {
        int rc = mode == 0 ? resize_lanczos(ours, OH, OW, in, H, W, C, &err)
                           : resize_nearest_u8(ours, OH, OW, in, H, W, C, &err);
        if (rc != LSD_OK) continue;
        d[mode] = 0;
        for (i = 0; i < m; i++) {
            int diff = abs((int)ours[i] - (int)ref[mode * m + i]);
            if (diff > d[mode]) d[mode] = diff;
        }
    }
done:
    free(in);
    free(ours);
    free(ref);
}

int main(void)
{
    const char *tmp = test_tmp_dir();
    lsd_err err;
    int i;
    test_begin("transform");

    /* Lanczos and nearest against Pillow: downsampling (kernel stretched), upsampling,
     * mixed, one axis only, and the GTA5 ratio 1914x1052 -> 1280x704 (slow). */
    if (!test_have_python_module("PIL, numpy")) {
        test_skip("python3 with numpy and Pillow not found: resize comparisons skipped");
    } else {
        static const int cases[][5] = {
            /* H, W, C, OH, OW */
            {105, 191, 3, 70, 128}, {48, 64, 3, 100, 30}, {23, 37, 3, 64, 96},
            {60, 80, 1, 60, 33},    {61, 80, 3, 17, 80},  {320, 640, 3, 41, 83},
            {9, 7, 3, 3, 2},        {50, 50, 3, 51, 49},  {1052, 1914, 3, 704, 1280}};
        int ncases = (int)(sizeof cases / sizeof cases[0]);
        int worst = 0, exact = 0;
        if (!getenv("LSD_SLOW")) ncases--;
        for (i = 0; i < ncases; i++) {
            const int *c = cases[i];
            int d[2];
            compare_pillow(c[0], c[1], c[2], c[3], c[4], tmp, d);
            CHECK(d[0] >= 0 && d[0] <= 1, "Lanczos %dx%d -> %dx%d (C=%d): max difference to "
                  "Pillow %d grey levels (allowed 1)", c[1], c[0], c[4], c[3], c[2], d[0]);
            CHECK(d[1] == 0, "nearest %dx%d -> %dx%d: differs from Pillow NEAREST by %d", c[1],
                  c[0], c[4], c[3], d[1]);
            if (d[0] > worst) worst = d[0];
            if (d[0] == 0) exact++;
        }
        printf("transform: Lanczos vs Pillow: max difference %d grey level(s); %d of %d cases "
               "identical to the bit\n", worst, exact, ncases);
    }

    /* Random crop windows: within bounds, reproducible, labelled, every position reachable. */
    {
        int H = 12, W = 20, OH = 10, OW = 10, top, left, t2, l2, seen[3] = {0, 0, 0};
        uint8_t lab[12 * 20];
        memset(lab, 255, sizeof lab);
        lab[9 * W + 15] = 4; /* one labelled pixel: windows with left in 6..10 hold it */
        for (i = 0; i < 40; i++) {
            int rc = random_crop_window(lab, H, W, OH, OW, 1, 64, 7, (uint64_t)i, &top, &left, &err);
            CHECK(rc == LSD_OK, "crop %d found: %s", i, rc ? err.msg : "");
            if (rc != LSD_OK) continue;
            CHECK(top <= 9 && left <= 15 && left + OW > 15, "crop %d (%d,%d) holds the labelled pixel", i,
                  top, left);
            CHECK(random_crop_window(lab, H, W, OH, OW, 1, 64, 7, (uint64_t)i, &t2, &l2, &err) ==
                      LSD_OK && t2 == top && l2 == left, "crop %d reproducible", i);
        }
        for (i = 0; i < 100; i++) {
            if (random_crop_window(lab, H, W, OH, OW, 0, 1, 3, (uint64_t)i, &top, &left, &err) ==
                LSD_OK && top >= 0 && top <= 2) seen[top]++;
        }
        CHECK(seen[0] > 10 && seen[1] > 10 && seen[2] > 10, "tops 0,1,2 drawn %d,%d,%d times",
              seen[0], seen[1], seen[2]);
        lab[9 * W + 15] = 255;
        CHECK(random_crop_window(lab, H, W, OH, OW, 1, 20, 7, 0, &top, &left, &err) ==
                  LSD_ERR_RANGE && strstr(err.msg, "labelled") != NULL,
              "all-ignore label refused: %s", err.msg);
        CHECK(random_crop_window(lab, H, W, 13, OW, 0, 20, 7, 0, &top, &left, &err) ==
                  LSD_ERR_ARG, "crop taller than the image refused");
    }

    /* transform_apply: GTA5-style resize by width with aspect ratio, crop, flip. */
    {
        sample s;
        transform_opts o = transform_defaults(DATASET_GTA5, 1, 32, 48, 11);
        uint8_t *full_img, *full_lab;
        int ok = 1, x, y;
        o.resize_width = 96; /* 191x105 -> 96x53 (105*96/191 = 52.8) */
        CHECK(sample_alloc(&s, 105, 191, &err) == LSD_OK, "sample_alloc");
        make_image(s.image, 105, 191, 3, 5);
        for (i = 0; i < 105 * 191; i++) s.label[i] = (uint8_t)(i % 19);
        CHECK(transform_apply(&s, &o, 3, &err) == LSD_OK, "apply: %s", err.msg);
        CHECK(s.height == 32 && s.width == 48 && s.label_height == 32 && s.label_width == 48,
              "cropped to 48x32, got %dx%d", s.width, s.height);
        sample_free(&s);
        /* the same crop of the resized image, computed step by step */
        CHECK(sample_alloc(&s, 105, 191, &err) == LSD_OK, "sample_alloc");
        make_image(s.image, 105, 191, 3, 5);
        for (i = 0; i < 105 * 191; i++) s.label[i] = (uint8_t)(i % 19);
        full_img = malloc(53 * 96 * 3);
        full_lab = malloc(53 * 96);
        if (full_img && full_lab &&
            resize_lanczos(full_img, 53, 96, s.image, 105, 191, 3, &err) == LSD_OK) {
            int top, left;
            sample t;
            resize_nearest_u8(full_lab, 53, 96, s.label, 105, 191, 1, &err);
            random_crop_window(full_lab, 53, 96, 32, 48, 1, 50, 11, 3, &top, &left, &err);
            memset(&t, 0, sizeof t);
            o.flip = 1;
            for (i = 0; i < 2; i++) { /* draw 3 with and without flip: both agree */
                sample_free(&t);
                sample_alloc(&t, 105, 191, &err);
                memcpy(t.image, s.image, 105 * 191 * 3);
                memcpy(t.label, s.label, 105 * 191);
                transform_apply(&t, &o, 3, &err);
                if (rng_bernoulli(11, rng_stream_of("data.flip"), 3, 0.5) == i) break;
            }
            for (y = 0; y < 32 && ok; y++)
                for (x = 0; x < 48; x++) {
                    int xs = rng_bernoulli(11, rng_stream_of("data.flip"), 3, 0.5) ? 47 - x : x;
                    if (t.label[y * 48 + xs] != full_lab[(top + y) * 96 + left + x] ||
                        t.image[(y * 48 + xs) * 3 + 1] != full_img[((top + y) * 96 + left + x) * 3 + 1]) {
                        ok = 0;
                        break;
                    }
                }
            CHECK(ok, "transform_apply = resize, crop at (%d,%d), flip", top, left);
            sample_free(&t);
        }
        free(full_img);
        free(full_lab);
        sample_free(&s);
    }

    /* Evaluation: image resized to the crop size, label untouched. */
    {
        sample s;
        transform_opts o = transform_defaults(DATASET_CITYSCAPES, 0, 16, 32, 1);
        CHECK(sample_alloc(&s, 64, 128, &err) == LSD_OK, "sample_alloc");
        CHECK(transform_apply(&s, &o, 0, &err) == LSD_OK, "eval apply");
        CHECK(s.height == 16 && s.width == 32 && s.label_height == 64 && s.label_width == 128,
              "eval: image 32x16, label 128x64 kept; got %dx%d and %dx%d", s.width, s.height,
              s.label_width, s.label_height);
        sample_free(&s);
    }

    /* F's and D's inputs from the means of docs/method.md, "Inputs". */
    {
        uint8_t rgb[6] = {10, 20, 30, 255, 0, 128};
        real f[6], d[6];
        real f_ref[6], d_ref[6];
        to_bgr_minus_mean(f, rgb, 1, 2);
        to_rgb01(d, rgb, 1, 2);
        f_ref[0] = (real)(30 - 104.00698793); f_ref[1] = (real)(128 - 104.00698793);
        f_ref[2] = (real)(20 - 116.66876762); f_ref[3] = (real)(0 - 116.66876762);
        f_ref[4] = (real)(10 - 122.67891434); f_ref[5] = (real)(255 - 122.67891434);
        d_ref[0] = (real)(10 / 255.0); d_ref[1] = (real)1;
        d_ref[2] = (real)(20 / 255.0); d_ref[3] = (real)0;
        d_ref[4] = (real)(30 / 255.0); d_ref[5] = (real)(128 / 255.0);
        test_close_real("bgr minus mean", f, f_ref, 6, 0, 0);
        test_close_real("rgb01", d, d_ref, 6, 0, 0);
    }

    /* Flip twice is the identity; flip mirrors. */
    {
        uint8_t a[2 * 3 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        flip_u8(a, 2, 3, 2);
        CHECK(a[0] == 5 && a[1] == 6 && a[4] == 1 && a[6] == 11, "flip mirrors each row");
        flip_u8(a, 2, 3, 2);
        CHECK(a[0] == 1 && a[11] == 12 && a[2] == 3, "flip twice is the identity");
    }
    return test_summary();
}
