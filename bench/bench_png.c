/* bench_png.c - PNG decoding speed: a 2048x1024 RGB picture and a 1914x1052 palette label map
 * (written by Pillow at its default compression, or by our encoder when Pillow is missing),
 * decoded by lsdseg and, side by side, by Debian's libpng through its simplified API (loaded
 * with dlopen, benchmark only). Prints rows "bench,case,threads,impl,value,unit" (best of
 * several runs, milliseconds). The files stay in $LSD_TMP/bench_png (default build/tmp) for
 * bench/png_pillow.py. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../data/png.h"

#define RUNS 7

/* The simplified-API image structure of libpng 1.6 (png.h, PNG_IMAGE_VERSION 1). */
typedef struct {
    void *opaque;
    uint32_t version, width, height, format, flags, colormap_entries, warning_or_error;
    char message[64];
} lp_image;
typedef int (*lp_begin_fn)(lp_image *, const void *, size_t);
typedef int (*lp_finish_fn)(lp_image *, const void *, void *, int32_t, void *);
typedef void (*lp_free_fn)(lp_image *);

typedef struct {
    lp_begin_fn begin;
    lp_finish_fn finish;
    lp_free_fn free_;
} libpng_api;

/* Seconds on the monotonic clock. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Loads libpng16 with dlopen; returns 0 if it is not installed. */
static int load_libpng(libpng_api *api)
{
    void *h = dlopen("libpng16.so.16", RTLD_NOW), *sym;
    if (!h) return 0;
    sym = dlsym(h, "png_image_begin_read_from_memory");
    memcpy(&api->begin, &sym, sizeof sym);
    sym = dlsym(h, "png_image_finish_read");
    memcpy(&api->finish, &sym, sizeof sym);
    sym = dlsym(h, "png_image_free");
    memcpy(&api->free_, &sym, sizeof sym);
    return api->begin && api->finish && api->free_;
}

/* Writes the two test images with Pillow (default compression); falls back to our encoder. */
static int make_images(const char *dir, const char *rgb, const char *pal)
{
    const char *py = getenv("PYTHON");
    char cmd[4096];
    uint8_t *pix, palette[3 * 34];
    uint32_t x, y, s = 1;
    lsd_err err;
    int rc;
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return -1;
    snprintf(cmd, sizeof cmd,
             "%s -c \"\n"
             "import numpy as np\nfrom PIL import Image\n"
             "rng = np.random.default_rng(0)\n"
             "y, x = np.mgrid[0:1024, 0:2048]\n"
             "img = np.stack([(x // 8 + y // 16) %% 256, (y // 4) %% 256, (x * y // 4096) %% 256], -1)\n"
             "img = (img + rng.integers(0, 6, img.shape)).clip(0, 255).astype(np.uint8)\n"
             "Image.fromarray(img, 'RGB').save('%s')\n"
             "y, x = np.mgrid[0:1052, 0:1914]\n"
             "lab = ((x // 97 + (y // 61) * 5 + ((x + 2 * y) // 301)) %% 34).astype(np.uint8)\n"
             "p = Image.fromarray(lab, 'P')\n"
             "p.putpalette([(i * 71 + c * 29) %% 256 for i in range(34) for c in range(3)])\n"
             "p.save('%s')\n\" >/dev/null 2>&1",
             py && *py ? py : "python3", rgb, pal);
    if (system(cmd) == 0) return 0;
    fprintf(stderr, "bench_png: Pillow not available: test images written by our encoder\n");
    pix = (uint8_t *)malloc((size_t)2048 * 1024 * 3);
    if (!pix) return -1;
    for (y = 0; y < 1024; y++)
        for (x = 0; x < 2048; x++) {
            uint8_t *p = pix + ((size_t)y * 2048 + x) * 3;
            s = s * 1103515245u + 12345u;
            p[0] = (uint8_t)((x / 8 + y / 16) % 256 + (s >> 28) % 6);
            p[1] = (uint8_t)((y / 4) % 256);
            p[2] = (uint8_t)((x * y / 4096) % 256);
        }
    rc = png_save(rgb, pix, 2048, 1024, 3, NULL, 0, &err);
    for (y = 0; y < 1052 && rc == 0; y++)
        for (x = 0; x < 1914; x++) pix[(size_t)y * 1914 + x] = (uint8_t)((x / 97 + (y / 61) * 5 + (x + 2 * y) / 301) % 34);
    for (x = 0; x < sizeof palette; x++) palette[x] = (uint8_t)(x * 29);
    if (rc == 0) rc = png_save(pal, pix, 1914, 1052, 1, palette, 34, &err);
    free(pix);
    return rc;
}

/* Best-of-RUNS milliseconds for lsdseg decoding buf in mode. */
static double time_ours(const uint8_t *buf, size_t len, png_out_mode mode)
{
    double best = 1e30;
    int r;
    for (r = 0; r < RUNS; r++) {
        png_image img;
        lsd_err err;
        double t0 = now(), t;
        if (png_decode(buf, len, mode, 0, NULL, &img, &err) != LSD_OK) {
            fprintf(stderr, "bench_png: %s\n", err.msg);
            return -1;
        }
        t = now() - t0;
        png_image_free(&img);
        if (t < best) best = t;
    }
    return best * 1e3;
}

/* Best-of-RUNS milliseconds for libpng decoding buf to 8-bit RGB. */
static double time_libpng(const libpng_api *api, const uint8_t *buf, size_t len)
{
    double best = 1e30;
    int r;
    for (r = 0; r < RUNS; r++) {
        lp_image im;
        void *out;
        double t0 = now(), t;
        memset(&im, 0, sizeof im);
        im.version = 1;
        if (!api->begin(&im, buf, len)) return -1;
        im.format = 2; /* PNG_FORMAT_RGB */
        out = malloc((size_t)im.width * im.height * 3);
        if (!out || !api->finish(&im, NULL, out, 0, NULL)) {
            free(out);
            api->free_(&im);
            return -1;
        }
        t = now() - t0;
        free(out);
        if (t < best) best = t;
    }
    return best * 1e3;
}

int main(void)
{
    const char *tmp = getenv("LSD_TMP");
    char dir[1024], rgb[1100], pal[1100];
    const char *paths[2], *cases[2] = {"decode-2048x1024-rgb", "decode-1914x1052-palette"};
    libpng_api api;
    int have_libpng = load_libpng(&api), k;
    snprintf(dir, sizeof dir, "%s/bench_png", tmp && *tmp ? tmp : "build/tmp");
    snprintf(rgb, sizeof rgb, "%s/rgb_2048x1024.png", dir);
    snprintf(pal, sizeof pal, "%s/palette_1914x1052.png", dir);
    paths[0] = rgb;
    paths[1] = pal;
    if (make_images(dir, rgb, pal) != 0) {
        fprintf(stderr, "bench_png: cannot write the test images in %s\n", dir);
        return 1;
    }
    if (!have_libpng) fprintf(stderr, "bench_png: libpng16.so.16 not found: libpng column left out\n");
    for (k = 0; k < 2; k++) {
        uint8_t *buf;
        size_t len;
        lsd_err err;
        double t;
        if (lsd_read_file(paths[k], &buf, &len, &err) != LSD_OK) {
            fprintf(stderr, "bench_png: %s\n", err.msg);
            return 1;
        }
        fprintf(stderr, "bench_png: %s is %lu bytes\n", paths[k], (unsigned long)len);
        t = time_ours(buf, len, PNG_OUT_RGB);
        if (t >= 0) printf("png,%s-to-rgb,1,lsdseg,%.2f,ms\n", cases[k], t);
        if (have_libpng) {
            t = time_libpng(&api, buf, len);
            if (t >= 0) printf("png,%s-to-rgb,1,libpng,%.2f,ms\n", cases[k], t);
        }
        if (k == 1) {
            t = time_ours(buf, len, PNG_OUT_AS_STORED);
            if (t >= 0) printf("png,%s-indices,1,lsdseg,%.2f,ms\n", cases[k], t);
        }
        free(buf);
    }
    return 0;
}
