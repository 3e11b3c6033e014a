/*
 * png.h - PNG decoder and encoder with no image library (zlib inflate and
 * deflate of our own, data/inflate.h). Memory is the primitive; the file
 * helpers read or write whole files around it.
 */
#ifndef LSD_PNG_H
#define LSD_PNG_H

#include <stdint.h>
#include "../tensor/common.h"

typedef struct {
    uint32_t max_width, max_height; /* defaults 16384 each */
    uint64_t max_pixels;            /* default 1 << 26 (67M pixels) */
} png_limits;

/* The default limits (large enough for 2048x1024 and 1914x1052 frames). */
png_limits png_default_limits(void);

typedef struct {
    uint32_t width, height;
    int bit_depth;        /* 1, 2, 4, 8 or 16, as stored */
    int color_type;       /* 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA, as stored */
    int interlace;        /* 0 none, 1 Adam7 */
    int has_trns, has_plte;
    int palette_size;
    uint8_t palette[256][4]; /* RGBA; alpha from tRNS (255 otherwise) */
    char chunks[512];     /* chunk types in file order, e.g. "IHDR PLTE IDAT*3 IEND" (a run
                           * of N equal types is written TYPE*N; "..." ends a list too long) */
    uint16_t trns_key[3]; /* tRNS colour key as stored: gray in [0], or R, G, B */
    int ancillary_crc_errors; /* ancillary chunks skipped because their CRC was wrong */
} png_info;

/* How decoded samples come out. */
typedef enum {
    PNG_OUT_AS_STORED,  /* channels as stored: palette images give indices (1 channel) */
    PNG_OUT_RGB,        /* palette expanded, gray replicated, alpha dropped */
    PNG_OUT_RGBA,       /* palette expanded with tRNS, alpha 255 where absent */
    PNG_OUT_GRAY        /* 1 channel: gray as stored, or palette index */
} png_out_mode;

typedef struct {
    uint32_t width, height;
    int channels;       /* samples per pixel in data */
    int depth16;        /* 1: samples are uint16 (16-bit images with want16); 0: uint8 */
    void *data;         /* height*width*channels samples, row-major; free with png_image_free */
    png_info info;
} png_image;

/* Reads only the header and chunk list (no decompression). */
int png_read_info(const uint8_t *buf, size_t len, png_info *info, const png_limits *lim,
                  lsd_err *err);
/* Decodes a PNG held in memory. want16 = 1 keeps 16-bit samples exact (uint16); want16 = 0
 * gives 8-bit samples (16-bit values take their high byte, as Pillow does; low bit depths are
 * scaled to 0..255 for gray, kept as indices for palettes). lim may be NULL (defaults). */
int png_decode(const uint8_t *buf, size_t len, png_out_mode mode, int want16,
               const png_limits *lim, png_image *img, lsd_err *err);
/* Reads a file and decodes it; errors are prefixed with the path. */
int png_load(const char *path, png_out_mode mode, int want16, const png_limits *lim,
             png_image *img, lsd_err *err);
void png_image_free(png_image *img);

/* Encodes 8-bit pixels: channels 1 (gray), 3 (RGB) or 4 (RGBA); or a palette image when
 * palette != NULL (channels 1, indices into palette of palette_size RGB triples).
 * *out is malloc'ed; the caller frees it. */
int png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
               const uint8_t *palette, int palette_size, uint8_t **out, size_t *out_len,
               lsd_err *err);
/* Encodes and writes a file. */
int png_save(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
             int channels, const uint8_t *palette, int palette_size, lsd_err *err);

/* Reads a whole file into memory (malloc'ed); used by the decoders and dataset loaders. */
int lsd_read_file(const char *path, uint8_t **data, size_t *len, lsd_err *err);

#endif
