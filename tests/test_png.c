/* test_png.c - the PNG decoder and encoder against independent references: the PngSuite
 * (every valid file against its json samples and against Pillow, every corrupt x*.png
 * rejected), images written by Pillow in each mode it can write, our encoder's files read
 * back by Pillow, and hand-made files for the limits and the chunk rules. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../data/inflate.h"
#include "../data/png.h"
#include "harness.h"

/* ---------------------------------------------------------------- helpers */

/* Writes text to path; 0 on success. */
static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* A PNG assembled chunk by chunk, with correct CRCs unless told otherwise. */
typedef struct {
    uint8_t b[1 << 16];
    size_t n;
} builder;

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Starts a file with the signature and an IHDR. */
static void b_start(builder *bd, uint32_t w, uint32_t h, int depth, int ct, int interlace);

/* Appends a chunk; a nonzero bad_crc stores a wrong CRC. */
static void b_chunk(builder *bd, const char *type, const uint8_t *data, size_t n, int bad_crc)
{
    uint32_t crc;
    put32(bd->b + bd->n, (uint32_t)n);
    memcpy(bd->b + bd->n + 4, type, 4);
    if (n) memcpy(bd->b + bd->n + 8, data, n);
    crc = crc32_update(0, bd->b + bd->n + 4, 4 + n);
    put32(bd->b + bd->n + 8 + n, bad_crc ? crc ^ 1u : crc);
    bd->n += 12 + n;
}

static void b_start(builder *bd, uint32_t w, uint32_t h, int depth, int ct, int interlace)
{
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    uint8_t ihdr[13];
    memcpy(bd->b, sig, 8);
    bd->n = 8;
    put32(ihdr, w);
    put32(ihdr + 4, h);
    ihdr[8] = (uint8_t)depth;
    ihdr[9] = (uint8_t)ct;
    ihdr[10] = ihdr[11] = 0;
    ihdr[12] = (uint8_t)interlace;
    b_chunk(bd, "IHDR", ihdr, 13, 0);
}

/* Appends an IDAT holding the zlib stream of raw (filter bytes included). */
static void b_idat(builder *bd, const uint8_t *raw, size_t n)
{
    uint8_t *z;
    size_t zn;
    lsd_err err;
    if (zlib_deflate(raw, n, 6, &z, &zn, &err) != LSD_OK) {
        CHECK(0, "deflate for a test file: %s", err.msg);
        return;
    }
    b_chunk(bd, "IDAT", z, zn, 0);
    free(z);
}

/* Decodes bd and expects failure with a message containing want. */
static void expect_error(const builder *bd, const char *what, const char *want)
{
    png_image img;
    lsd_err err;
    int rc = png_decode(bd->b, bd->n, PNG_OUT_RGBA, 0, NULL, &img, &err);
    CHECK(rc != LSD_OK && strstr(err.msg, want) != NULL, "%s: expected an error with '%s', got rc %d '%s'",
          what, want, rc, rc ? err.msg : "");
    if (rc == LSD_OK) png_image_free(&img);
}

/* Reads integers from a json array file; returns the count (0 on failure). */
static size_t read_json_ints(const char *path, long **vals)
{
    uint8_t *buf;
    size_t len, n = 0, cap = 0, i = 0;
    lsd_err err;
    *vals = NULL;
    if (lsd_read_file(path, &buf, &len, &err) != LSD_OK) return 0;
    while (i < len) {
        if (buf[i] >= '0' && buf[i] <= '9') {
            long v = 0;
            while (i < len && buf[i] >= '0' && buf[i] <= '9') v = v * 10 + (buf[i++] - '0');
            if (n == cap) {
                long *nv;
                cap = cap ? 2 * cap : 1024;
                nv = (long *)realloc(*vals, cap * sizeof(long));
                if (!nv) break;
                *vals = nv;
            }
            (*vals)[n++] = v;
        } else {
            i++;
        }
    }
    free(buf);
    return n;
}

/* Compares decoded samples (uint8 or uint16) with reference values, allowing a difference
 * of tol; one check. */
static void compare_samples_tol(const char *what, const png_image *img, const long *ref, size_t n,
                                long tol)
{
    size_t i, total = (size_t)img->width * img->height * (size_t)img->channels;
    if (!CHECK(n == total, "%s: %lu reference samples for %lu decoded", what, (unsigned long)n,
               (unsigned long)total))
        return;
    for (i = 0; i < n; i++) {
        long got = img->depth16 ? ((const uint16_t *)img->data)[i] : ((const uint8_t *)img->data)[i];
        if (got - ref[i] > tol || ref[i] - got > tol) {
            CHECK(0, "%s: sample %lu (pixel %lu, channel %lu) is %ld, reference %ld", what,
                  (unsigned long)i, (unsigned long)(i / (size_t)img->channels),
                  (unsigned long)(i % (size_t)img->channels), got, ref[i]);
            return;
        }
    }
    CHECK(1, "%s", what);
}

/* Compares decoded samples (uint8 or uint16) with reference values exactly. */
static void compare_samples(const char *what, const png_image *img, const long *ref, size_t n)
{
    compare_samples_tol(what, img, ref, n, 0);
}

/* Compares decoded samples with a raw dump (uint8, or little-endian uint16 when img->depth16). */
static void compare_raw(const char *what, const png_image *img, const char *path)
{
    uint8_t *buf;
    size_t len, i, n;
    long *ref;
    lsd_err err;
    if (!CHECK(lsd_read_file(path, &buf, &len, &err) == LSD_OK, "%s: %s", what, err.msg)) return;
    n = img->depth16 ? len / 2 : len;
    ref = (long *)malloc((n ? n : 1) * sizeof(long));
    if (!ref) {
        free(buf);
        return;
    }
    for (i = 0; i < n; i++) ref[i] = img->depth16 ? (long)(buf[2 * i] | (buf[2 * i + 1] << 8)) : (long)buf[i];
    compare_samples(what, img, ref, n);
    free(ref);
    free(buf);
}

/* 1 if path exists. */
static int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

/* ---------------------------------------------------------------- hand-made files */

/* Limits, bombs, chunk order and the other rules, on files built here. */
static void test_rules(void)
{
    builder *bd = (builder *)malloc(sizeof *bd);
    uint8_t raw[64], *big, plte[6] = {10, 20, 30, 40, 50, 60}, trns[4] = {0, 1, 2, 3};
    png_image img;
    png_info info;
    png_limits lim;
    lsd_err err;
    int rc, i;
    if (!bd) return;

    /* 3x2 gray 8-bit with filters None and Sub: samples come back exactly */
    b_start(bd, 3, 2, 8, 0, 0);
    raw[0] = 0; raw[1] = 7; raw[2] = 200; raw[3] = 255;
    raw[4] = 1; raw[5] = 10; raw[6] = 5; raw[7] = 250; /* Sub: 10, 15, 265 & 255 = 9 */
    b_idat(bd, raw, 8);
    b_chunk(bd, "IEND", NULL, 0, 0);
    rc = png_decode(bd->b, bd->n, PNG_OUT_AS_STORED, 0, NULL, &img, &err);
    CHECK(rc == LSD_OK, "3x2 gray: %s", rc ? err.msg : "");
    if (rc == LSD_OK) {
        const uint8_t *d = (const uint8_t *)img.data;
        CHECK(img.channels == 1 && d[0] == 7 && d[2] == 255 && d[3] == 10 && d[4] == 15 && d[5] == 9,
              "3x2 gray samples %d %d %d %d %d %d", d[0], d[1], d[2], d[3], d[4], d[5]);
        png_image_free(&img);
    }
    rc = png_decode(bd->b, bd->n, PNG_OUT_RGBA, 0, NULL, &img, &err);
    if (CHECK(rc == LSD_OK, "3x2 gray as RGBA")) {
        const uint8_t *d = (const uint8_t *)img.data;
        CHECK(img.channels == 4 && d[4] == 200 && d[5] == 200 && d[6] == 200 && d[7] == 255, "gray to RGBA");
        png_image_free(&img);
    }

    /* an IHDR claiming 100000 x 100000 is refused before anything is allocated */
    b_start(bd, 100000, 100000, 8, 2, 0);
    b_idat(bd, raw, 8);
    b_chunk(bd, "IEND", NULL, 0, 0);
    rc = png_decode(bd->b, bd->n, PNG_OUT_RGB, 0, NULL, &img, &err);
    CHECK(rc == LSD_ERR_RANGE && strstr(err.msg, "exceeds the limits"), "100000x100000 refused: %s", err.msg);
    CHECK(img.data == NULL, "no image on failure");
    rc = png_read_info(bd->b, bd->n, &info, NULL, &err);
    CHECK(rc == LSD_ERR_RANGE, "png_read_info refuses it too");
    lim = png_default_limits();
    CHECK(lim.max_width >= 2048 && lim.max_height >= 1052 && lim.max_pixels >= (uint64_t)2048 * 1052,
          "default limits hold 2048x1024 and 1914x1052");
    lim.max_width = 2;
    b_start(bd, 3, 2, 8, 0, 0);
    b_idat(bd, raw, 8);
    b_chunk(bd, "IEND", NULL, 0, 0);
    CHECK(png_decode(bd->b, bd->n, PNG_OUT_RGB, 0, &lim, &img, &err) == LSD_ERR_RANGE, "settable width limit");

    /* a zlib bomb: 16x16 gray whose IDAT inflates to 1 MB stops at the 272 expected bytes */
    big = (uint8_t *)calloc(1 << 20, 1);
    if (big) {
        uint8_t *z;
        size_t zn;
        if (zlib_deflate(big, 1 << 20, 9, &z, &zn, &err) == LSD_OK) {
            b_start(bd, 16, 16, 8, 0, 0);
            b_chunk(bd, "IDAT", z, zn, 0);
            b_chunk(bd, "IEND", NULL, 0, 0);
            expect_error(bd, "zlib bomb", "more than the expected 272 bytes");
            free(z);
        }
        free(big);
    }
    /* too little data */
    b_start(bd, 16, 16, 8, 0, 0);
    b_idat(bd, raw, 8);
    b_chunk(bd, "IEND", NULL, 0, 0);
    expect_error(bd, "short image data", "ends after 8 of the expected 272");

    /* palette index beyond the palette */
    b_start(bd, 4, 1, 8, 3, 0);
    b_chunk(bd, "PLTE", plte, 6, 0);
    raw[0] = 0; raw[1] = 0; raw[2] = 1; raw[3] = 5; raw[4] = 1;
    b_idat(bd, raw, 5);
    b_chunk(bd, "IEND", NULL, 0, 0);
    expect_error(bd, "index beyond palette", "palette index 5 beyond the palette of 2");
    /* the same with valid indices, a tRNS, and modes */
    b_start(bd, 4, 1, 8, 3, 0);
    b_chunk(bd, "PLTE", plte, 6, 0);
    b_chunk(bd, "tRNS", trns, 1, 0);
    raw[3] = 0;
    b_idat(bd, raw, 5);
    b_chunk(bd, "IEND", NULL, 0, 0);
    rc = png_decode(bd->b, bd->n, PNG_OUT_RGBA, 0, NULL, &img, &err);
    if (CHECK(rc == LSD_OK, "palette with tRNS: %s", rc ? err.msg : "")) {
        const uint8_t *d = (const uint8_t *)img.data;
        CHECK(d[0] == 10 && d[3] == 0 && d[4] == 40 && d[7] == 255, "palette RGBA %d %d %d %d", d[0], d[3], d[4], d[7]);
        CHECK(img.info.has_trns && img.info.palette_size == 2, "palette info");
        png_image_free(&img);
    }
    /* tRNS longer than the palette; tRNS before PLTE; palette image without PLTE */
    b_start(bd, 4, 1, 8, 3, 0);
    b_chunk(bd, "PLTE", plte, 6, 0);
    b_chunk(bd, "tRNS", trns, 3, 0);
    b_idat(bd, raw, 5);
    b_chunk(bd, "IEND", NULL, 0, 0);
    expect_error(bd, "long tRNS", "tRNS has 3 entries for a palette of 2");
    b_start(bd, 4, 1, 8, 3, 0);
    b_idat(bd, raw, 5);
    b_chunk(bd, "IEND", NULL, 0, 0);
    expect_error(bd, "no PLTE", "no PLTE");
    b_start(bd, 4, 1, 8, 3, 0);
    b_idat(bd, raw, 5);
    b_chunk(bd, "PLTE", plte, 6, 0);
    b_chunk(bd, "IEND", NULL, 0, 0);
    expect_error(bd, "PLTE after IDAT", "PLTE");

    /* chunk order and CRCs, on a 2x2 gray image */
    memset(raw, 0, sizeof raw);
    b_start(bd, 2, 2, 8, 0, 0);
    b_idat(bd, raw, 3);
    b_chunk(bd, "tEXt", (const uint8_t *)"a\0b", 3, 0);
    b_idat(bd, raw + 3, 3);
    b_chunk(bd, "IEND", NULL, 0, 0);
    expect_error(bd, "IDAT not consecutive", "not consecutive");
    b_start(bd, 2, 2, 8, 0, 0);
    b_chunk(bd, "ABCD", raw, 4, 0);
    b_idat(bd, raw, 6);
    b_chunk(bd, "IEND", NULL, 0, 0);
    expect_error(bd, "unknown critical chunk", "unknown critical chunk ABCD");
    b_start(bd, 2, 2, 8, 0, 0);
    b_idat(bd, raw, 6);
    expect_error(bd, "missing IEND", "no IEND");
    b_chunk(bd, "IEND", NULL, 0, 0);
    bd->b[bd->n - 16] ^= 1; /* last byte of the IDAT data: CRC no longer matches */
    expect_error(bd, "IDAT CRC", "CRC error in IDAT");
    b_start(bd, 2, 2, 8, 0, 0);
    bd->b[12] = 'i'; /* IHDR -> iHDR */
    expect_error(bd, "first chunk", "not IHDR");
    b_start(bd, 2, 2, 16, 3, 0);
    expect_error(bd, "16-bit palette", "bit depth 16 is not allowed for colour type 3");
    raw[3] = 5; /* filter type 5 on the second row */
    b_start(bd, 2, 2, 8, 0, 0);
    b_idat(bd, raw, 6);
    b_chunk(bd, "IEND", NULL, 0, 0);
    expect_error(bd, "filter 5", "unknown filter type 5 in row 1");
    raw[3] = 0;
    /* ancillary chunks: an unknown one is skipped, one with a bad CRC is skipped and counted;
     * split IDATs, a zero-length IDAT and the chunk list */
    b_start(bd, 2, 2, 8, 0, 0);
    b_chunk(bd, "abCd", raw, 4, 0);
    b_chunk(bd, "gAMA", raw, 4, 1);
    {
        uint8_t *z;
        size_t zn;
        if (zlib_deflate(raw, 6, 6, &z, &zn, &err) == LSD_OK) {
            b_chunk(bd, "IDAT", z, 2, 0);
            b_chunk(bd, "IDAT", z, 0, 0);
            b_chunk(bd, "IDAT", z + 2, zn - 2, 0);
            free(z);
        }
    }
    b_chunk(bd, "IEND", NULL, 0, 0);
    rc = png_decode(bd->b, bd->n, PNG_OUT_GRAY, 0, NULL, &img, &err);
    CHECK(rc == LSD_OK, "ancillary chunks skipped: %s", rc ? err.msg : "");
    CHECK(img.info.ancillary_crc_errors == 1, "one ancillary CRC error counted");
    CHECK(!strcmp(img.info.chunks, "IHDR abCd gAMA IDAT*3 IEND"), "chunk list '%s'", img.info.chunks);
    png_image_free(&img);

    /* 2-bit gray with a tRNS key: scaled samples and alpha */
    b_start(bd, 4, 1, 2, 0, 0);
    trns[0] = 0;
    trns[1] = 2;
    b_chunk(bd, "tRNS", trns, 2, 0);
    raw[0] = 0;
    raw[1] = 0x1B; /* 0 1 2 3 */
    b_idat(bd, raw, 2);
    b_chunk(bd, "IEND", NULL, 0, 0);
    rc = png_decode(bd->b, bd->n, PNG_OUT_RGBA, 0, NULL, &img, &err);
    if (CHECK(rc == LSD_OK, "2-bit gray: %s", rc ? err.msg : "")) {
        const uint8_t *d = (const uint8_t *)img.data;
        CHECK(d[0] == 0 && d[4] == 85 && d[8] == 170 && d[12] == 255 && d[11] == 0 && d[15] == 255,
              "2-bit gray scaled to 0 85 170 255, key 2 transparent");
        png_image_free(&img);
    }

    /* 16-bit gray: exact with want16 (the SYNTHIA label case), high byte without */
    {
        static const unsigned v16[5] = {0, 1, 256, 12345, 65535};
        b_start(bd, 5, 1, 16, 0, 0);
        raw[0] = 0;
        for (i = 0; i < 5; i++) {
            raw[1 + 2 * i] = (uint8_t)(v16[i] >> 8);
            raw[2 + 2 * i] = (uint8_t)v16[i];
        }
        b_idat(bd, raw, 11);
        b_chunk(bd, "IEND", NULL, 0, 0);
        rc = png_decode(bd->b, bd->n, PNG_OUT_AS_STORED, 1, NULL, &img, &err);
        if (CHECK(rc == LSD_OK && img.depth16, "16-bit gray want16")) {
            const uint16_t *d = (const uint16_t *)img.data;
            CHECK(d[0] == 0 && d[1] == 1 && d[2] == 256 && d[3] == 12345 && d[4] == 65535, "16-bit exact");
            png_image_free(&img);
        }
        rc = png_decode(bd->b, bd->n, PNG_OUT_AS_STORED, 0, NULL, &img, &err);
        if (CHECK(rc == LSD_OK && !img.depth16, "16-bit gray to 8")) {
            const uint8_t *d = (const uint8_t *)img.data;
            CHECK(d[1] == 0 && d[2] == 1 && d[3] == 48 && d[4] == 255, "16-bit high bytes");
            png_image_free(&img);
        }
    }
    free(bd);
}

/* ---------------------------------------------------------------- PngSuite */

static const char *suite_script =
    "import sys, os\n"
    "import numpy as np\n"
    "from PIL import Image\n"
    "src, dst = sys.argv[1], sys.argv[2]\n"
    "for f in sorted(os.listdir(src)):\n"
    "    if not f.endswith('.png') or f.startswith('x'): continue\n"
    "    n = f[:-4]\n"
    "    im = Image.open(os.path.join(src, f)); im.load()\n"
    "    if im.mode == 'P': np.asarray(im, dtype=np.uint8).tofile(os.path.join(dst, n + '.idx'))\n"
    "    if im.mode.startswith('I'):\n"
    "        np.asarray(im).astype('<u2').tofile(os.path.join(dst, n + '.i16'))\n"
    "    else:\n"
    "        np.asarray(im.convert('RGBA'), dtype=np.uint8).tofile(os.path.join(dst, n + '.rgba'))\n";

/* Every PngSuite file: x*.png rejected with a reason, the others accepted and equal to the
 * suite's json (RGBA; 16-bit images at 16 bits and, in *_to8.json, at 8) and to Pillow. */
static void test_pngsuite(void)
{
    const char *shared = test_shared_dir();
    char dir[1024], path[2048], jpath[2048], tmp[1024], cmd[4096];
    DIR *d;
    struct dirent *ent;
    int accepted = 0, rejected = 0, pil = 0, njson = 0, npil = 0;
    if (!shared) return;
    snprintf(dir, sizeof dir, "%s/pngsuite/png", shared);
    d = opendir(dir);
    if (!d) {
        test_skip("no %s", dir);
        return;
    }
    snprintf(tmp, sizeof tmp, "%s/pngsuite-pil", test_tmp_dir());
    if (test_have_python_module("PIL, numpy")) {
        char script[1100];
        snprintf(script, sizeof script, "%s/pngsuite_dump.py", test_tmp_dir());
        snprintf(cmd, sizeof cmd, "mkdir -p %s", tmp);
        pil = system(cmd) == 0 && write_text(script, suite_script) == 0;
        snprintf(cmd, sizeof cmd, "%s %s %s %s", test_python(), script, dir, tmp);
        pil = pil && system(cmd) == 0;
        CHECK(pil, "Pillow dump of the PngSuite: %s", cmd);
    } else {
        test_skip("Pillow not available to %s: PngSuite not compared with Pillow", test_python());
    }
    while ((ent = readdir(d)) != NULL) {
        const char *f = ent->d_name;
        size_t fl = strlen(f);
        png_image img;
        lsd_err err;
        char name[256];
        int rc;
        long *ref;
        size_t nref;
        if (fl < 5 || fl > 200 || strcmp(f + fl - 4, ".png") != 0) continue;
        memcpy(name, f, fl - 4);
        name[fl - 4] = 0;
        snprintf(path, sizeof path, "%s/%s", dir, f);
        rc = png_load(path, PNG_OUT_RGBA, 1, NULL, &img, &err);
        if (f[0] == 'x') {
            CHECK(rc == LSD_ERR_FORMAT && strlen(err.msg) > strlen(path) + 10, "%s must be rejected (rc %d)", f, rc);
            if (rc) rejected++;
            if (rc == LSD_OK) png_image_free(&img);
            continue;
        }
        if (!CHECK(rc == LSD_OK, "%s: %s", f, rc ? err.msg : "")) continue;
        accepted++;
        snprintf(jpath, sizeof jpath, "%s/pngsuite/json/%s.json", shared, name);
        if ((nref = read_json_ints(jpath, &ref)) > 0) {
            compare_samples(f, &img, ref, nref);
            free(ref);
            njson++;
        }
        png_image_free(&img);
        if (png_load(path, PNG_OUT_RGBA, 0, NULL, &img, &err) != LSD_OK) continue;
        snprintf(jpath, sizeof jpath, "%s/pngsuite/json/%s_to8.json", shared, name);
        if ((nref = read_json_ints(jpath, &ref)) > 0) {
            char what[300];
            /* the json rounds v/257 where we (and Pillow) take the high byte */
            snprintf(what, sizeof what, "%s at 8 bits (within 1)", f);
            compare_samples_tol(what, &img, ref, nref, 1);
            free(ref);
            njson++;
        }
        if (pil) {
            char what[300];
            snprintf(jpath, sizeof jpath, "%s/%s.rgba", tmp, name);
            /* Pillow compares a tRNS key of 16-bit or 1..4-bit gray with its 8-bit samples:
             * its alpha is wrong there (the json has the right one) */
            if (exists(jpath) && !(img.info.has_trns && img.info.color_type != 3 && img.info.bit_depth != 8)) {
                snprintf(what, sizeof what, "%s vs Pillow RGBA", f);
                compare_raw(what, &img, jpath);
                npil++;
            }
            png_image_free(&img);
            snprintf(jpath, sizeof jpath, "%s/%s.idx", tmp, name);
            if (exists(jpath) && png_load(path, PNG_OUT_AS_STORED, 0, NULL, &img, &err) == LSD_OK) {
                snprintf(what, sizeof what, "%s vs Pillow palette indices", f);
                compare_raw(what, &img, jpath);
                png_image_free(&img);
                npil++;
            }
            snprintf(jpath, sizeof jpath, "%s/%s.i16", tmp, name);
            if (exists(jpath) && png_load(path, PNG_OUT_AS_STORED, 1, NULL, &img, &err) == LSD_OK) {
                snprintf(what, sizeof what, "%s vs Pillow 16-bit gray", f);
                compare_raw(what, &img, jpath);
                npil++;
            }
        }
        png_image_free(&img);
    }
    closedir(d);
    printf("pngsuite: %d accepted, %d rejected, %d json and %d Pillow comparisons\n", accepted,
           rejected, njson, npil);
    CHECK(accepted == 161 && rejected == 14, "PngSuite: 161 valid files accepted (%d), 14 corrupt rejected (%d)",
          accepted, rejected);
}

/* ---------------------------------------------------------------- Pillow-written files */

static const char *pillow_write_script =
    "import sys, os\n"
    "import numpy as np\n"
    "from PIL import Image\n"
    "dst = sys.argv[1]\n"
    "rng = np.random.default_rng(7)\n"
    "H, W = 23, 37\n"
    "def noise(shape, hi=256):\n"
    "    a = rng.integers(0, hi, size=shape)\n"
    "    a[: H // 2] = (np.arange(W) * 7 % hi)[None, :, None] if len(shape) == 3 else np.arange(W) * 7 % hi\n"
    "    return a\n"
    "def save(name, im, **kw):\n"
    "    im.save(os.path.join(dst, name + '.png'), **kw)\n"
    "    r = Image.open(os.path.join(dst, name + '.png')); r.load()\n"
    "    if r.mode == 'P': np.asarray(r, dtype=np.uint8).tofile(os.path.join(dst, name + '.idx'))\n"
    "    if r.mode.startswith('I'): np.asarray(r).astype('<u2').tofile(os.path.join(dst, name + '.i16'))\n"
    "    else: np.asarray(r.convert('RGBA'), dtype=np.uint8).tofile(os.path.join(dst, name + '.rgba'))\n"
    "save('mode1', Image.fromarray(noise((H, W), 2).astype(bool)))\n"
    "save('modeL', Image.fromarray(noise((H, W)).astype(np.uint8), 'L'))\n"
    "save('modeL_trns', Image.fromarray(noise((H, W)).astype(np.uint8), 'L'), transparency=21)\n"
    "save('modeLA', Image.fromarray(noise((H, W, 2)).astype(np.uint8), 'LA'))\n"
    "p = Image.fromarray(noise((H, W), 200).astype(np.uint8), 'P')\n"
    "p.putpalette([(i * 37 + c * 11) % 256 for i in range(256) for c in range(3)])\n"
    "save('modeP', p)\n"
    "save('modeP_trns', p, transparency=bytes([(i * 5) % 256 for i in range(200)]))\n"
    "p4 = Image.fromarray(noise((H, W), 16).astype(np.uint8), 'P')\n"
    "p4.putpalette([(i * 53 + c * 17) % 256 for i in range(16) for c in range(3)])\n"
    "save('modeP4', p4, bits=4)\n"
    "rgb = Image.fromarray(noise((H, W, 3)).astype(np.uint8), 'RGB')\n"
    "save('modeRGB', rgb)\n"
    "save('modeRGB_z0', rgb, compress_level=0)\n"
    "save('modeRGB_z1', rgb, compress_level=1)\n"
    "save('modeRGB_z9', rgb, compress_level=9)\n"
    "save('modeRGB_trns', rgb, transparency=(14, 21, 28))\n"
    "save('modeRGBA', Image.fromarray(noise((H, W, 4)).astype(np.uint8), 'RGBA'))\n"
    "save('modeI16', Image.fromarray(noise((H, W), 65536).astype(np.uint16), 'I;16'))\n"
    "save('modeI', Image.fromarray(noise((H, W), 65536).astype(np.int32), 'I'))\n";

/* Images Pillow writes in each mode decode to the samples Pillow reads back. */
static void test_pillow_written(void)
{
    static const char *names[] = {"mode1", "modeL", "modeL_trns", "modeLA", "modeP", "modeP_trns",
                                  "modeP4", "modeRGB", "modeRGB_z0", "modeRGB_z1", "modeRGB_z9",
                                  "modeRGB_trns", "modeRGBA", "modeI16", "modeI"};
    char dir[1024], script[1100], cmd[4096], path[2048], ref[2048], what[256];
    size_t k;
    if (!test_have_python_module("PIL, numpy")) {
        test_skip("Pillow not available to %s: Pillow-written images not tested", test_python());
        return;
    }
    snprintf(dir, sizeof dir, "%s/pillow-written", test_tmp_dir());
    snprintf(script, sizeof script, "%s/pillow_write.py", test_tmp_dir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && %s %s %s", dir, test_python(), script, dir);
    if (!CHECK(write_text(script, pillow_write_script) == 0 && system(cmd) == 0, "%s", cmd)) return;
    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
        png_image img;
        lsd_err err;
        snprintf(path, sizeof path, "%s/%s.png", dir, names[k]);
        snprintf(ref, sizeof ref, "%s/%s.rgba", dir, names[k]);
        if (exists(ref)) {
            if (CHECK(png_load(path, PNG_OUT_RGBA, 0, NULL, &img, &err) == LSD_OK, "%s", err.msg)) {
                snprintf(what, sizeof what, "Pillow %s as RGBA", names[k]);
                compare_raw(what, &img, ref);
                png_image_free(&img);
            }
        }
        snprintf(ref, sizeof ref, "%s/%s.idx", dir, names[k]);
        if (exists(ref)) {
            if (CHECK(png_load(path, PNG_OUT_AS_STORED, 0, NULL, &img, &err) == LSD_OK, "%s", err.msg)) {
                snprintf(what, sizeof what, "Pillow %s indices", names[k]);
                compare_raw(what, &img, ref);
                png_image_free(&img);
            }
        }
        snprintf(ref, sizeof ref, "%s/%s.i16", dir, names[k]);
        if (exists(ref)) {
            if (CHECK(png_load(path, PNG_OUT_AS_STORED, 1, NULL, &img, &err) == LSD_OK, "%s", err.msg)) {
                snprintf(what, sizeof what, "Pillow %s 16-bit", names[k]);
                CHECK(img.depth16 && img.channels == 1, "%s is 16-bit, 1 channel", names[k]);
                compare_raw(what, &img, ref);
                png_image_free(&img);
            }
        }
    }
}

/* ---------------------------------------------------------------- our encoder */

static const char *pillow_read_script =
    "import sys, os\n"
    "import numpy as np\n"
    "from PIL import Image\n"
    "d = sys.argv[1]\n"
    "for n, mode in [('enc_gray', 'L'), ('enc_ga', 'LA'), ('enc_rgb', 'RGB'), ('enc_rgba', 'RGBA'), ('enc_pal', 'P'), ('enc_label', 'P')]:\n"
    "    im = Image.open(os.path.join(d, n + '.png')); im.load()\n"
    "    want = np.fromfile(os.path.join(d, n + '.raw'), dtype=np.uint8)\n"
    "    got = np.asarray(im, dtype=np.uint8).reshape(-1)\n"
    "    ok = im.mode == mode and got.shape == want.shape and (got == want).all()\n"
    "    if ok and mode == 'P':\n"
    "        pal = np.fromfile(os.path.join(d, n + '.pal'), dtype=np.uint8)\n"
    "        ok = bytes(im.getpalette()[:len(pal)]) == pal.tobytes()\n"
    "    print(n, 'OK' if ok else 'BAD mode ' + im.mode)\n";

/* Our encoder: decoded back by our decoder, and by Pillow, to the same pixels. */
static void test_encoder(void)
{
    static const char *names[] = {"enc_gray", "enc_ga", "enc_rgb", "enc_rgba", "enc_pal", "enc_label"};
    static const int chans[] = {1, 2, 3, 4, 1, 1};
    const uint32_t W = 61, H = 47, LW = 320, LH = 200;
    uint8_t *pix, pal[3 * 19];
    char dir[1024], path[2048], cmd[4096], script[1100], line[256];
    size_t k, i;
    lsd_err err;
    FILE *f;
    snprintf(dir, sizeof dir, "%s/encoder", test_tmp_dir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return;
    pix = (uint8_t *)malloc((size_t)LW * LH * 4);
    if (!pix) return;
    for (i = 0; i < sizeof pal; i++) pal[i] = (uint8_t)(i * 29 + 3);
    for (k = 0; k < 6; k++) {
        uint32_t w = k == 5 ? LW : W, h = k == 5 ? LH : H;
        size_t n = (size_t)w * h * (size_t)chans[k];
        png_image img;
        int rc;
        uint32_t s = 12345u + (uint32_t)k;
        for (i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            if (k == 5) /* a label map: large regions of 19 classes */
                pix[i] = (uint8_t)((((i % w) / 40) + ((i / w) / 30) * 3) % 19);
            else if (k == 4)
                pix[i] = (uint8_t)((s >> 16) % 19);
            else
                pix[i] = (uint8_t)(i < n / 2 ? (i * 3) & 255 : (s >> 16) & 255);
        }
        snprintf(path, sizeof path, "%s/%s.png", dir, names[k]);
        rc = png_save(path, pix, w, h, chans[k], k >= 4 ? pal : NULL, k >= 4 ? 19 : 0, &err);
        if (!CHECK(rc == LSD_OK, "encode %s: %s", names[k], rc ? err.msg : "")) continue;
        rc = png_load(path, PNG_OUT_AS_STORED, 0, NULL, &img, &err);
        if (CHECK(rc == LSD_OK, "decode our %s: %s", names[k], rc ? err.msg : "")) {
            CHECK(img.channels == chans[k] && memcmp(img.data, pix, n) == 0, "%s round trip", names[k]);
            if (k == 5) {
                long fsize;
                f = fopen(path, "rb");
                fseek(f, 0, SEEK_END);
                fsize = f ? ftell(f) : -1;
                fclose(f);
                CHECK(fsize > 0 && fsize < 3000, "label map 320x200 compresses to %ld bytes (< 3000)", fsize);
            }
            png_image_free(&img);
        }
        snprintf(path, sizeof path, "%s/%s.raw", dir, names[k]);
        f = fopen(path, "wb");
        if (f) {
            fwrite(pix, 1, n, f);
            fclose(f);
        }
        snprintf(path, sizeof path, "%s/%s.pal", dir, names[k]);
        f = fopen(path, "wb");
        if (f) {
            fwrite(pal, 1, sizeof pal, f);
            fclose(f);
        }
    }
    {
        uint8_t *enc;
        pix[5] = 7;
        CHECK(png_encode(pix, 4, 4, 1, pal, 2, &enc, &i, &err) == LSD_ERR_RANGE &&
                  strstr(err.msg, "index 7 beyond the palette of 2"), "index beyond palette refused");
    }
    free(pix);
    if (!test_have_python_module("PIL, numpy")) {
        test_skip("Pillow not available to %s: our PNGs not read by Pillow", test_python());
        return;
    }
    snprintf(script, sizeof script, "%s/pillow_read.py", test_tmp_dir());
    snprintf(cmd, sizeof cmd, "%s %s %s", test_python(), script, dir);
    if (!CHECK(write_text(script, pillow_read_script) == 0, "write %s", script)) return;
    f = popen(cmd, "r");
    if (!CHECK(f != NULL, "%s", cmd)) return;
    k = 0;
    while (fgets(line, sizeof line, f)) {
        CHECK(strstr(line, " OK") != NULL, "Pillow reads our file: %s", line);
        k++;
    }
    pclose(f);
    CHECK(k == 6, "Pillow checked %lu of our 6 files", (unsigned long)k);
}

int main(void)
{
    test_begin("png");
    test_rules();
    test_pngsuite();
    test_pillow_written();
    test_encoder();
    return test_summary();
}
