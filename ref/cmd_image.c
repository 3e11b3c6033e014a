/* cmd_image.c - 'lsdseg image FILE.png [--out FILE.safetensors] [--mode M]': the header of a
 * PNG file and, with --out, its decoded samples as a tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/png.h"
#include "../tensor/safetensors.h"

int cmd_image(int argc, char **argv);

/* Prints the usage of the command to f. */
static void image_usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg image FILE.png [--out FILE.safetensors] [--mode stored|rgb|rgba|gray]\n"
            "\n"
            "Decodes FILE completely and prints its header: size, colour type, bit depth,\n"
            "interlace, palette and the chunks in file order. With --out, writes the samples\n"
            "as the tensor \"image\" of shape (H, W, C): U8, or I32 for 16-bit samples (kept\n"
            "exact). --mode picks the samples (default stored: palette indices, gray, gray+alpha,\n"
            "RGB or RGBA as in the file). Exit status 1 with the decoder's reason for a bad file.\n");
}

/* The name of a PNG colour type. */
static const char *color_name(int ct)
{
    switch (ct) {
    case 0: return "gray";
    case 2: return "RGB";
    case 3: return "palette";
    case 4: return "gray+alpha";
    case 6: return "RGBA";
    default: return "?";
    }
}

/* Writes the decoded samples of img to path as the tensor "image" (H, W, C). */
static int write_tensor(const png_image *img, const char *path, lsd_err *err)
{
    st_writer w;
    int64_t shape[3];
    size_t n = (size_t)img->width * img->height * (size_t)img->channels, i;
    int32_t *wide = NULL;
    char val[32];
    int rc;
    shape[0] = img->height;
    shape[1] = img->width;
    shape[2] = img->channels;
    st_writer_init(&w);
    if (img->depth16) {
        wide = (int32_t *)malloc(n * sizeof *wide);
        if (!wide) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the 16-bit samples");
        for (i = 0; i < n; i++) wide[i] = ((const uint16_t *)img->data)[i];
        rc = st_writer_add(&w, "image", ST_I32, 3, shape, wide, err);
    } else {
        rc = st_writer_add(&w, "image", ST_U8, 3, shape, img->data, err);
    }
    sprintf(val, "%d", img->info.color_type);
    if (!rc) rc = st_writer_meta(&w, "png_color_type", val, err);
    sprintf(val, "%d", img->info.bit_depth);
    if (!rc) rc = st_writer_meta(&w, "png_bit_depth", val, err);
    if (!rc) rc = st_writer_save(&w, path, err);
    st_writer_free(&w);
    free(wide);
    return rc;
}

int cmd_image(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    png_out_mode mode = PNG_OUT_AS_STORED;
    png_image img;
    lsd_err err;
    int i, rc;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            image_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            const char *m = argv[++i];
            if (!strcmp(m, "stored")) mode = PNG_OUT_AS_STORED;
            else if (!strcmp(m, "rgb")) mode = PNG_OUT_RGB;
            else if (!strcmp(m, "rgba")) mode = PNG_OUT_RGBA;
            else if (!strcmp(m, "gray")) mode = PNG_OUT_GRAY;
            else {
                fprintf(stderr, "lsdseg image: unknown mode '%s' (stored, rgb, rgba or gray)\n", m);
                return 2;
            }
        } else if (argv[i][0] != '-' && !in) {
            in = argv[i];
        } else {
            fprintf(stderr, "lsdseg image: unexpected argument '%s'\n", argv[i]);
            image_usage(stderr);
            return 2;
        }
    }
    if (!in) {
        image_usage(stderr);
        return 2;
    }
    rc = png_load(in, mode, 1, NULL, &img, &err);
    if (rc) {
        fprintf(stderr, "lsdseg image: %s\n", err.msg);
        return 1;
    }
    printf("file:        %s\n", in);
    printf("size:        %lu x %lu\n", (unsigned long)img.info.width, (unsigned long)img.info.height);
    printf("colour type: %d (%s)\n", img.info.color_type, color_name(img.info.color_type));
    printf("bit depth:   %d\n", img.info.bit_depth);
    printf("interlace:   %s\n", img.info.interlace ? "Adam7" : "none");
    if (img.info.has_plte) printf("palette:     %d entries\n", img.info.palette_size);
    if (img.info.has_trns) printf("tRNS:        yes\n");
    if (img.info.ancillary_crc_errors)
        printf("skipped:     %d ancillary chunks with bad CRCs\n", img.info.ancillary_crc_errors);
    printf("chunks:      %s\n", img.info.chunks);
    printf("samples:     (%lu, %lu, %d) %s\n", (unsigned long)img.height, (unsigned long)img.width,
           img.channels, img.depth16 ? "16-bit" : "8-bit");
    if (out) {
        rc = write_tensor(&img, out, &err);
        if (rc) {
            fprintf(stderr, "lsdseg image: %s\n", err.msg);
            png_image_free(&img);
            return 1;
        }
        printf("wrote:       %s (tensor \"image\", %s)\n", out, img.depth16 ? "I32" : "U8");
    }
    png_image_free(&img);
    return 0;
}
