/*
 * png.c - PNG decoder and encoder (PNG specification, ISO/IEC 15948), on top of
 * the zlib code of inflate.c.
 *
 * Decoding is three steps over a buffer held in memory:
 *   1. parse_chunks walks the chunks once: signature, CRCs, chunk order, IHDR
 *      rules and the size limits, PLTE and tRNS. Nothing is allocated here.
 *   2. the IDAT payloads (concatenated when there are several) are inflated
 *      into exactly the bytes the header implies: one filter byte per row of
 *      each Adam7 pass, then the packed samples.
 *   3. each row is unfiltered in place and its samples are written to the
 *      output in the mode the caller asked for.
 *
 * Policy on ancillary chunks: they are never inflated; one whose CRC is wrong
 * is skipped and counted (as libpng does); a PLTE in a gray image and a tRNS in
 * an image with an alpha channel are ignored (libpng calls both benign); a
 * tRNS after the first IDAT is ignored; a malformed tRNS is an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inflate.h"
#include "png.h"

static const uint8_t png_signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};

/* Adam7 pass origins and steps (PNG specification, 8.2). */
static const uint32_t adam7_x0[7] = {0, 4, 0, 2, 0, 1, 0};
static const uint32_t adam7_y0[7] = {0, 0, 4, 0, 2, 0, 1};
static const uint32_t adam7_dx[7] = {8, 8, 4, 4, 2, 2, 1};
static const uint32_t adam7_dy[7] = {8, 8, 8, 4, 4, 2, 2};

/* Big-endian 32-bit and 16-bit integers, byte by byte. */
static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static unsigned be16(const uint8_t *p) { return ((unsigned)p[0] << 8) | p[1]; }

/* Stores v big-endian in 4 bytes. */
static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The default limits: 16384 x 16384 and 2^26 pixels. */
png_limits png_default_limits(void)
{
    png_limits l;
    l.max_width = 16384;
    l.max_height = 16384;
    l.max_pixels = (uint64_t)1 << 26;
    return l;
}

/* Samples per pixel of a colour type (0 for an invalid type). */
static int stored_channels(int color_type)
{
    switch (color_type) {
    case 0: return 1;
    case 2: return 3;
    case 3: return 1;
    case 4: return 2;
    case 6: return 4;
    default: return 0;
    }
}

/* ---------------------------------------------------------------- chunks */

typedef struct {
    const uint8_t *idat_first; /* payload of the only IDAT, when there is one */
    size_t idat_total;         /* sum of the IDAT payload lengths */
    size_t idat_count;
    char last[5];              /* chunk list: the type of the current run and its length */
    unsigned run;
    size_t used;               /* characters written to info->chunks */
    int full;
} chunk_walk;

/* Appends the finished run of equal chunk types to info->chunks ("TYPE" or "TYPE*N"). */
static void flush_run(png_info *info, chunk_walk *w)
{
    char item[32];
    size_t n;
    if (w->run == 0 || w->full) return;
    if (w->run == 1)
        sprintf(item, "%s%s", w->used ? " " : "", w->last);
    else
        sprintf(item, "%s%s*%u", w->used ? " " : "", w->last, w->run);
    n = strlen(item);
    if (w->used + n + 4 >= sizeof info->chunks) {
        strcpy(info->chunks + w->used, w->used ? " ..." : "...");
        w->full = 1;
        return;
    }
    memcpy(info->chunks + w->used, item, n + 1);
    w->used += n;
}

/* Notes a chunk type in the chunk list. */
static void note_chunk(png_info *info, chunk_walk *w, const char *type)
{
    if (w->run && !strcmp(w->last, type)) {
        w->run++;
        return;
    }
    flush_run(info, w);
    memcpy(w->last, type, 5);
    w->run = 1;
}

/* Validates the 13 bytes of IHDR and the size limits. */
static int read_ihdr(const uint8_t *d, png_info *info, const png_limits *lim, lsd_err *err)
{
    int bd, ct;
    info->width = be32(d);
    info->height = be32(d + 4);
    info->bit_depth = bd = d[8];
    info->color_type = ct = d[9];
    info->interlace = d[12];
    if (info->width == 0 || info->height == 0 || info->width > 0x7FFFFFFFu ||
        info->height > 0x7FFFFFFFu)
        return lsd_fail(err, LSD_ERR_FORMAT, "invalid image size %lux%lu in IHDR",
                        (unsigned long)info->width, (unsigned long)info->height);
    if (stored_channels(ct) == 0)
        return lsd_fail(err, LSD_ERR_FORMAT, "invalid colour type %d in IHDR", ct);
    if (!((bd == 8) || (bd == 16 && ct != 3) ||
          ((bd == 1 || bd == 2 || bd == 4) && (ct == 0 || ct == 3))))
        return lsd_fail(err, LSD_ERR_FORMAT, "bit depth %d is not allowed for colour type %d", bd, ct);
    if (d[10] != 0) return lsd_fail(err, LSD_ERR_FORMAT, "unknown compression method %d in IHDR", d[10]);
    if (d[11] != 0) return lsd_fail(err, LSD_ERR_FORMAT, "unknown filter method %d in IHDR", d[11]);
    if (d[12] > 1) return lsd_fail(err, LSD_ERR_FORMAT, "unknown interlace method %d in IHDR", d[12]);
    if (info->width > lim->max_width || info->height > lim->max_height ||
        (uint64_t)info->width * info->height > lim->max_pixels)
        return lsd_fail(err, LSD_ERR_RANGE,
                        "image of %lux%lu pixels exceeds the limits (%lux%lu, %llu pixels; see png_limits)",
                        (unsigned long)info->width, (unsigned long)info->height,
                        (unsigned long)lim->max_width, (unsigned long)lim->max_height,
                        (unsigned long long)lim->max_pixels);
    return LSD_OK;
}

/* Reads a tRNS chunk (before the first IDAT). */
static int read_trns(const uint8_t *d, uint32_t n, png_info *info, lsd_err *err)
{
    uint32_t i;
    if (info->has_trns) return lsd_fail(err, LSD_ERR_FORMAT, "second tRNS chunk");
    switch (info->color_type) {
    case 3:
        if (!info->has_plte) return lsd_fail(err, LSD_ERR_FORMAT, "tRNS before PLTE");
        if (n > (uint32_t)info->palette_size)
            return lsd_fail(err, LSD_ERR_FORMAT, "tRNS has %lu entries for a palette of %d",
                            (unsigned long)n, info->palette_size);
        for (i = 0; i < n; i++) info->palette[i][3] = d[i];
        break;
    case 0:
        if (n != 2) return lsd_fail(err, LSD_ERR_FORMAT, "tRNS of a gray image has %lu bytes, not 2", (unsigned long)n);
        info->trns_key[0] = (uint16_t)be16(d);
        break;
    case 2:
        if (n != 6) return lsd_fail(err, LSD_ERR_FORMAT, "tRNS of an RGB image has %lu bytes, not 6", (unsigned long)n);
        for (i = 0; i < 3; i++) info->trns_key[i] = (uint16_t)be16(d + 2 * i);
        break;
    default:
        return LSD_OK; /* the image has an alpha channel: ignored */
    }
    info->has_trns = 1;
    return LSD_OK;
}

/* Walks every chunk up to IEND, checking CRCs, order and the header, and fills info. */
static int parse_chunks(const uint8_t *buf, size_t len, png_info *info, const png_limits *lim,
                        chunk_walk *w, lsd_err *err)
{
    size_t pos = 8;
    int seen_ihdr = 0, idat_state = 0, seen_iend = 0, rc, i;

    memset(info, 0, sizeof *info);
    memset(w, 0, sizeof *w);
    for (i = 0; i < 256; i++) info->palette[i][3] = 255;
    if (len < 8 || memcmp(buf, png_signature, 8) != 0)
        return lsd_fail(err, LSD_ERR_FORMAT, "not a PNG file: bad signature");
    while (!seen_iend) {
        const uint8_t *d;
        uint32_t n, crc;
        char type[5];
        int critical;
        if (len - pos < 12) {
            if (pos == len) break;
            return lsd_fail(err, LSD_ERR_FORMAT, "truncated chunk header at byte %lu", (unsigned long)pos);
        }
        n = be32(buf + pos);
        memcpy(type, buf + pos + 4, 4);
        type[4] = 0;
        for (i = 0; i < 4; i++) {
            unsigned char c = (unsigned char)type[i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
                return lsd_fail(err, LSD_ERR_FORMAT, "invalid chunk type bytes at byte %lu", (unsigned long)pos);
        }
        if (n > 0x7FFFFFFFu)
            return lsd_fail(err, LSD_ERR_FORMAT, "%s chunk length %lu exceeds 2^31-1", type, (unsigned long)n);
        if (n > len - pos - 12)
            return lsd_fail(err, LSD_ERR_FORMAT, "%s chunk at byte %lu runs past the end of the file (truncated?)",
                            type, (unsigned long)pos);
        d = buf + pos + 8;
        critical = !(type[0] & 0x20);
        crc = crc32_update(crc32_update(0, buf + pos + 4, 4), d, n);
        pos += 12 + (size_t)n;
        note_chunk(info, w, type);
        if (!seen_ihdr && strcmp(type, "IHDR") != 0)
            return lsd_fail(err, LSD_ERR_FORMAT, "first chunk is %s, not IHDR", type);
        if (crc != be32(d + n)) {
            if (critical)
                return lsd_fail(err, LSD_ERR_FORMAT, "CRC error in %s chunk (stored %08lx, computed %08lx)",
                                type, (unsigned long)be32(d + n), (unsigned long)crc);
            info->ancillary_crc_errors++;
            continue;
        }
        if (idat_state == 1 && strcmp(type, "IDAT") != 0) idat_state = 2;
        if (!strcmp(type, "IHDR")) {
            if (seen_ihdr) return lsd_fail(err, LSD_ERR_FORMAT, "second IHDR chunk");
            if (n != 13) return lsd_fail(err, LSD_ERR_FORMAT, "IHDR has %lu bytes, not 13", (unsigned long)n);
            seen_ihdr = 1;
            rc = read_ihdr(d, info, lim, err);
            if (rc) return rc;
        } else if (!strcmp(type, "PLTE")) {
            uint32_t k;
            if (idat_state) return lsd_fail(err, LSD_ERR_FORMAT, "PLTE after IDAT");
            if (info->has_plte) return lsd_fail(err, LSD_ERR_FORMAT, "second PLTE chunk");
            if (n == 0 || n % 3 != 0 || n > 768)
                return lsd_fail(err, LSD_ERR_FORMAT, "PLTE of %lu bytes is not 1 to 256 RGB entries", (unsigned long)n);
            if (info->has_trns) return lsd_fail(err, LSD_ERR_FORMAT, "PLTE after tRNS");
            if (info->color_type == 0 || info->color_type == 4) continue; /* ignored */
            info->has_plte = 1;
            info->palette_size = (int)(n / 3);
            for (k = 0; k < n / 3; k++) {
                info->palette[k][0] = d[3 * k];
                info->palette[k][1] = d[3 * k + 1];
                info->palette[k][2] = d[3 * k + 2];
            }
        } else if (!strcmp(type, "tRNS")) {
            if (idat_state) continue; /* ancillary chunk after the image data: ignored */
            rc = read_trns(d, n, info, err);
            if (rc) return rc;
        } else if (!strcmp(type, "IDAT")) {
            if (idat_state == 2) return lsd_fail(err, LSD_ERR_FORMAT, "IDAT chunks are not consecutive");
            if (info->color_type == 3 && !info->has_plte)
                return lsd_fail(err, LSD_ERR_FORMAT, "palette image has no PLTE before its IDAT");
            idat_state = 1;
            if (w->idat_count++ == 0) w->idat_first = d;
            w->idat_total += n; /* cannot overflow: bounded by len */
        } else if (!strcmp(type, "IEND")) {
            if (n != 0) return lsd_fail(err, LSD_ERR_FORMAT, "IEND chunk has %lu bytes of data", (unsigned long)n);
            seen_iend = 1;
        } else if (critical) {
            return lsd_fail(err, LSD_ERR_FORMAT, "unknown critical chunk %s", type);
        }
    }
    flush_run(info, w);
    if (!seen_ihdr) return lsd_fail(err, LSD_ERR_FORMAT, "no IHDR chunk");
    if (!w->idat_count) return lsd_fail(err, LSD_ERR_FORMAT, "no IDAT chunk");
    if (!seen_iend) return lsd_fail(err, LSD_ERR_FORMAT, "no IEND chunk (truncated file?)");
    return LSD_OK;
}

/* Reads the header and chunk list without decompressing anything. */
int png_read_info(const uint8_t *buf, size_t len, png_info *info, const png_limits *lim,
                  lsd_err *err)
{
    chunk_walk w;
    png_limits def = png_default_limits();
    return parse_chunks(buf, len, info, lim ? lim : &def, &w, err);
}

/* ---------------------------------------------------------------- decoding */

/* The Paeth predictor (PNG specification, 9.4): whichever of a (left), b (up) and
 * c (upper left) is closest to a + b - c. */
static int paeth(int a, int b, int c)
{
    int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

/* Reverses the filter of one row of n bytes in place (PNG specification, 9.2); prev is the
 * previous unfiltered row of the same pass, or NULL for the first (all zero). bpp is the
 * byte distance to the corresponding byte of the pixel on the left (at least 1).
 * Returns -1 for an unknown filter type. */
static int unfilter(uint8_t *row, const uint8_t *prev, size_t n, size_t bpp, int type)
{
    size_t i;
    switch (type) {
    case 0: /* None */
        return 0;
    case 1: /* Sub */
        for (i = bpp; i < n; i++) row[i] = (uint8_t)(row[i] + row[i - bpp]);
        return 0;
    case 2: /* Up */
        if (prev)
            for (i = 0; i < n; i++) row[i] = (uint8_t)(row[i] + prev[i]);
        return 0;
    case 3: /* Average */
        if (prev) {
            for (i = 0; i < bpp && i < n; i++) row[i] = (uint8_t)(row[i] + (prev[i] >> 1));
            for (; i < n; i++) row[i] = (uint8_t)(row[i] + ((row[i - bpp] + prev[i]) >> 1));
        } else {
            for (i = bpp; i < n; i++) row[i] = (uint8_t)(row[i] + (row[i - bpp] >> 1));
        }
        return 0;
    case 4: /* Paeth; with no previous row it predicts from the left byte, like Sub */
        if (prev) {
            for (i = 0; i < bpp && i < n; i++) row[i] = (uint8_t)(row[i] + prev[i]);
            for (; i < n; i++)
                row[i] = (uint8_t)(row[i] + paeth(row[i - bpp], prev[i], prev[i - bpp]));
        } else {
            for (i = bpp; i < n; i++) row[i] = (uint8_t)(row[i] + row[i - bpp]);
        }
        return 0;
    default:
        return -1;
    }
}

/* What the decoder needs to write one row of samples into the output. */
typedef struct {
    const png_info *info;
    int ch, depth;      /* stored samples per pixel and bit depth */
    int out_ch, out16;  /* output samples per pixel; 1 if they are uint16 */
    int gray_mul;       /* scales gray of depth < 8 to 0..255 (255/(2^depth-1)), else 1 */
    png_out_mode mode;
    uint8_t *out8;
    uint16_t *out16p;
    uint16_t *tmp;      /* one row of unpacked stored samples */
} emitter;

/* Samples per output pixel for a colour type and mode. */
static int out_channels(int color_type, png_out_mode mode)
{
    switch (mode) {
    case PNG_OUT_AS_STORED: return stored_channels(color_type);
    case PNG_OUT_RGB: return 3;
    case PNG_OUT_RGBA: return 4;
    default: return 1;
    }
}

/* Luminance as Pillow's convert("L") computes it (ITU-R 601-2 weights in 16-bit fixed point). */
static unsigned luma(unsigned r, unsigned g, unsigned b)
{
    return (unsigned)(((unsigned long)r * 19595u + (unsigned long)g * 38470u +
                       (unsigned long)b * 7471u + 0x8000u) >> 16);
}

/* Writes the pw pixels of one unfiltered row (of a pass starting at column x0 with step dx)
 * into output row y. Returns -1 (with *bad set to the index) for an index beyond the palette. */
static int emit_row(const emitter *e, const uint8_t *row, uint32_t pw, uint32_t y, uint32_t x0,
                    uint32_t dx, unsigned *bad)
{
    const png_info *info = e->info;
    size_t o = ((size_t)y * info->width + x0) * (size_t)e->out_ch;
    size_t ostep = (size_t)dx * (size_t)e->out_ch;
    uint32_t k;
    int c, ct = info->color_type;
    unsigned maxv = e->out16 ? 65535u : 255u, npal = (unsigned)info->palette_size;
    const uint16_t *s;

    /* fast paths for 8-bit samples */
    if (e->depth == 8 && ct == 3) {
        for (k = 0; k < pw; k++, o += ostep) {
            unsigned idx = row[k];
            if (idx >= npal) {
                *bad = idx;
                return -1;
            }
            if (e->out_ch == 1) {
                e->out8[o] = (uint8_t)idx;
            } else {
                for (c = 0; c < e->out_ch; c++) e->out8[o + (size_t)c] = info->palette[idx][c];
            }
        }
        return 0;
    }
    if (e->depth == 8 && e->out_ch == e->ch &&
        (e->mode == PNG_OUT_AS_STORED || (ct == 2 && e->mode == PNG_OUT_RGB) ||
         (ct == 6 && e->mode == PNG_OUT_RGBA) || (ct == 0 && e->mode == PNG_OUT_GRAY))) {
        if (dx == 1) { /* memmove: the row may be moving down within the same buffer */
            memmove(e->out8 + o, row, (size_t)pw * (size_t)e->ch);
        } else {
            for (k = 0; k < pw; k++, o += ostep)
                for (c = 0; c < e->ch; c++) e->out8[o + (size_t)c] = row[(size_t)k * e->ch + c];
        }
        return 0;
    }

    /* general case: unpack the stored samples, then map each pixel */
    if (e->depth == 16) {
        for (k = 0; k < pw * (uint32_t)e->ch; k++) e->tmp[k] = (uint16_t)be16(row + 2 * (size_t)k);
    } else if (e->depth == 8) {
        for (k = 0; k < pw * (uint32_t)e->ch; k++) e->tmp[k] = row[k];
    } else {
        unsigned mask = (1u << e->depth) - 1u;
        for (k = 0; k < pw; k++) {
            size_t bit = (size_t)k * (size_t)e->depth;
            e->tmp[k] = (uint16_t)((row[bit >> 3] >> (8 - e->depth - (int)(bit & 7))) & mask);
        }
    }
    for (k = 0, s = e->tmp; k < pw; k++, s += e->ch, o += ostep) {
        unsigned v[4], a = maxv;
        int n = 0;
        for (c = 0; c < e->ch; c++)
            v[c] = e->out16 ? s[c] : e->depth == 16 ? (unsigned)(s[c] >> 8) : s[c] * (unsigned)e->gray_mul;
        switch (ct) {
        case 3:
            if (s[0] >= npal) {
                *bad = s[0];
                return -1;
            }
            if (e->out_ch == 1) {
                v[0] = s[0];
            } else {
                for (c = 0; c < 4; c++) v[c] = info->palette[s[0]][c];
            }
            n = e->out_ch;
            break;
        case 0:
            if (info->has_trns && s[0] == info->trns_key[0]) a = 0;
            v[1] = v[2] = v[0];
            v[3] = a;
            n = e->mode == PNG_OUT_RGB ? 3 : e->mode == PNG_OUT_RGBA ? 4 : 1;
            break;
        case 4:
            a = v[1];
            if (e->mode == PNG_OUT_AS_STORED) break;
            v[1] = v[2] = v[0];
            v[3] = a;
            n = e->out_ch;
            break;
        case 2:
            if (info->has_trns && s[0] == info->trns_key[0] && s[1] == info->trns_key[1] &&
                s[2] == info->trns_key[2])
                a = 0;
            v[3] = a;
            break;
        default: /* 6 */
            break;
        }
        if ((ct == 2 || ct == 6) && e->mode == PNG_OUT_GRAY) v[0] = luma(v[0], v[1], v[2]);
        (void)n;
        if (e->out16) {
            for (c = 0; c < e->out_ch; c++) e->out16p[o + (size_t)c] = (uint16_t)v[c];
        } else {
            for (c = 0; c < e->out_ch; c++) e->out8[o + (size_t)c] = (uint8_t)v[c];
        }
    }
    return 0;
}

/* Size of the inflated image data: for each pass, rows * (1 filter byte + packed samples),
 * in 64 bits with overflow checks. Returns 0 on overflow. */
static int raw_size(const png_info *info, int bits, uint64_t *size)
{
    int p, passes = info->interlace ? 7 : 1;
    uint64_t total = 0;
    for (p = 0; p < passes; p++) {
        uint32_t x0 = info->interlace ? adam7_x0[p] : 0, y0 = info->interlace ? adam7_y0[p] : 0;
        uint32_t dx = info->interlace ? adam7_dx[p] : 1, dy = info->interlace ? adam7_dy[p] : 1;
        uint64_t pw, ph, rowbytes;
        if (info->width <= x0 || info->height <= y0) continue;
        pw = (info->width - x0 + dx - 1) / dx;
        ph = (info->height - y0 + dy - 1) / dy;
        rowbytes = (pw * (uint64_t)bits + 7) / 8 + 1;
        if (rowbytes > UINT64_MAX / ph || total + rowbytes * ph < total) return 0;
        total += rowbytes * ph;
    }
    *size = total;
    return 1;
}

/* Decodes a PNG held in memory (see png.h). */
int png_decode(const uint8_t *buf, size_t len, png_out_mode mode, int want16,
               const png_limits *lim, png_image *img, lsd_err *err)
{
    png_limits def = png_default_limits();
    chunk_walk w;
    png_info *info;
    emitter e;
    uint8_t *idat = NULL, *raw = NULL, *ptr;
    void *out = NULL;
    uint64_t rsize;
    size_t npix, osize;
    int rc, p, passes, bits, inplace = 0;

    if (!img) return lsd_fail(err, LSD_ERR_ARG, "png_decode: img is NULL");
    memset(img, 0, sizeof *img);
    if (!buf) return lsd_fail(err, LSD_ERR_ARG, "png_decode: buffer is NULL");
    if (mode != PNG_OUT_AS_STORED && mode != PNG_OUT_RGB && mode != PNG_OUT_RGBA && mode != PNG_OUT_GRAY)
        return lsd_fail(err, LSD_ERR_ARG, "png_decode: unknown output mode %d", (int)mode);
    info = &img->info;
    rc = parse_chunks(buf, len, info, lim ? lim : &def, &w, err);
    if (rc) return rc;

    memset(&e, 0, sizeof e);
    e.info = info;
    e.ch = stored_channels(info->color_type);
    e.depth = info->bit_depth;
    e.mode = mode;
    e.out_ch = out_channels(info->color_type, mode);
    e.out16 = want16 && info->bit_depth == 16;
    e.gray_mul = info->color_type != 3 && e.depth < 8 ? 255 / ((1 << e.depth) - 1) : 1;
    bits = e.ch * e.depth;
    if (!raw_size(info, bits, &rsize) || rsize > (uint64_t)(size_t)-1 ||
        lsd_mul_size(info->width, info->height, &npix) ||
        lsd_mul_size(npix, (size_t)e.out_ch * (e.out16 ? 2u : 1u), &osize))
        return lsd_fail(err, LSD_ERR_RANGE, "image of %lux%lu is too large for this machine",
                        (unsigned long)info->width, (unsigned long)info->height);

    /* the header is valid and within the limits: allocate */
    if (w.idat_count > 1) {
        size_t pos = 8, k = 0;
        idat = (uint8_t *)malloc(w.idat_total ? w.idat_total : 1);
        if (!idat) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for %lu bytes of IDAT", (unsigned long)w.idat_total);
        while (pos + 12 <= len) { /* the chunks were validated by parse_chunks */
            uint32_t n = be32(buf + pos);
            if (!memcmp(buf + pos + 4, "IDAT", 4)) {
                memcpy(idat + k, buf + pos + 8, n);
                k += n;
            } else if (!memcmp(buf + pos + 4, "IEND", 4)) {
                break;
            }
            pos += 12 + (size_t)n;
        }
    }
    /* 8-bit rows that come out as stored are unfiltered and moved down within the inflated
     * buffer, which then becomes the image (half the memory to touch) */
    inplace = !info->interlace && e.depth == 8 && e.out_ch == e.ch &&
              (mode == PNG_OUT_AS_STORED || (info->color_type == 2 && mode == PNG_OUT_RGB) ||
               (info->color_type == 6 && mode == PNG_OUT_RGBA) ||
               ((info->color_type == 0 || info->color_type == 3) && mode == PNG_OUT_GRAY));
    raw = (uint8_t *)malloc((size_t)rsize);
    out = inplace ? (void *)raw : malloc(osize);
    e.tmp = (uint16_t *)malloc((size_t)info->width * (size_t)e.ch * sizeof(uint16_t));
    if (!raw || !out || !e.tmp) {
        rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a %lux%lu image",
                      (unsigned long)info->width, (unsigned long)info->height);
        goto done;
    }
    e.out8 = (uint8_t *)out;
    e.out16p = (uint16_t *)out;
    rc = zlib_inflate(idat ? idat : w.idat_first, w.idat_total, raw, (size_t)rsize, err);
    if (rc) {
        lsd_err_prefix(err, "image data (IDAT)");
        goto done;
    }

    passes = info->interlace ? 7 : 1;
    ptr = raw;
    for (p = 0; p < passes; p++) {
        uint32_t x0 = info->interlace ? adam7_x0[p] : 0, y0 = info->interlace ? adam7_y0[p] : 0;
        uint32_t dx = info->interlace ? adam7_dx[p] : 1, dy = info->interlace ? adam7_dy[p] : 1;
        uint32_t pw, ph, y;
        size_t rowbytes, bpp = (size_t)(bits + 7) / 8;
        const uint8_t *prev = NULL;
        if (info->width <= x0 || info->height <= y0) continue;
        pw = (info->width - x0 + dx - 1) / dx;
        ph = (info->height - y0 + dy - 1) / dy;
        rowbytes = ((size_t)pw * (size_t)bits + 7) / 8;
        for (y = 0; y < ph; y++) {
            unsigned bad = 0;
            if (unfilter(ptr + 1, prev, rowbytes, bpp, ptr[0]) != 0) {
                rc = lsd_fail(err, LSD_ERR_FORMAT, "unknown filter type %d in row %lu%s", ptr[0],
                              (unsigned long)(y0 + y * dy), info->interlace ? " (interlaced)" : "");
                goto done;
            }
            if (emit_row(&e, ptr + 1, pw, y0 + y * dy, x0, dx, &bad) != 0) {
                rc = lsd_fail(err, LSD_ERR_FORMAT, "palette index %u beyond the palette of %d entries in row %lu",
                              bad, info->palette_size, (unsigned long)(y0 + y * dy));
                goto done;
            }
            prev = inplace ? e.out8 + (size_t)y * rowbytes : ptr + 1;
            ptr += rowbytes + 1;
        }
    }
    if (inplace) {
        void *shrunk = realloc(raw, osize);
        out = shrunk ? shrunk : raw;
        raw = NULL;
    }
    img->width = info->width;
    img->height = info->height;
    img->channels = e.out_ch;
    img->depth16 = e.out16;
    img->data = out;
    out = NULL;
done:
    free(idat);
    free(raw);
    free(e.tmp);
    if (!inplace) free(out);
    return rc;
}

/* Reads a file and decodes it; errors are prefixed with the path. */
int png_load(const char *path, png_out_mode mode, int want16, const png_limits *lim,
             png_image *img, lsd_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;
    if (img) memset(img, 0, sizeof *img);
    rc = lsd_read_file(path, &buf, &len, err);
    if (rc) return rc;
    rc = png_decode(buf, len, mode, want16, lim, img, err);
    free(buf);
    if (rc) lsd_err_prefix(err, "%s", path);
    return rc;
}

/* Frees the samples of an image and zeroes it (safe on a zeroed image). */
void png_image_free(png_image *img)
{
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* Reads a whole file into memory, growing the buffer as it goes (works on pipes too). */
int lsd_read_file(const char *path, uint8_t **data, size_t *len, lsd_err *err)
{
    FILE *f;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    *data = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (!f) return lsd_fail(err, LSD_ERR_IO, "%s: cannot open for reading", path);
    for (;;) {
        size_t got;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            uint8_t *nb;
            if (ncap < cap) {
                free(buf);
                fclose(f);
                return lsd_fail(err, LSD_ERR_NOMEM, "%s: file too large", path);
            }
            nb = (uint8_t *)realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return lsd_fail(err, LSD_ERR_NOMEM, "%s: out of memory reading the file", path);
            }
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return lsd_fail(err, LSD_ERR_IO, "%s: read error", path);
    }
    fclose(f);
    *data = buf;
    *len = n;
    return LSD_OK;
}

/* ---------------------------------------------------------------- encoding */

/* Filters one row of n bytes with filter type ft into dst (PNG specification, 9.2);
 * prev is the previous unfiltered row or NULL. */
static void filter_row(uint8_t *dst, const uint8_t *row, const uint8_t *prev, size_t n, size_t bpp,
                       int ft)
{
    size_t i;
    for (i = 0; i < n; i++) {
        int a = i >= bpp ? row[i - bpp] : 0, b = prev ? prev[i] : 0;
        int c = (i >= bpp && prev) ? prev[i - bpp] : 0, pred;
        switch (ft) {
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) >> 1; break;
        case 4: pred = paeth(a, b, c); break;
        default: pred = 0; break;
        }
        dst[i] = (uint8_t)(row[i] - pred);
    }
}

/* Writes one chunk (length, type, data, CRC) at dst; returns the bytes written. */
static size_t put_chunk(uint8_t *dst, const char *type, const uint8_t *data, size_t n)
{
    uint32_t crc;
    put_be32(dst, (uint32_t)n);
    memcpy(dst + 4, type, 4);
    if (n) memcpy(dst + 8, data, n);
    crc = crc32_update(0, dst + 4, 4 + n);
    put_be32(dst + 8 + n, crc);
    return 12 + n;
}

/* Encodes 8-bit pixels as a PNG (see png.h): rows filtered with the filter whose output has
 * the smallest sum of absolute values (palette images: no filter, as the specification
 * advises), compressed with zlib_deflate at level 6, in one IDAT chunk per 1 MiB. */
int png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
               const uint8_t *palette, int palette_size, uint8_t **out, size_t *out_len,
               lsd_err *err)
{
    static const uint8_t color_of_channels[5] = {0, 0, 4, 2, 6};
    uint8_t ihdr[13], *raw = NULL, *z = NULL, *png, *trial = NULL;
    size_t rowbytes, rawsize, zlen, total, nidat, pos, i, y;
    int rc;

    *out = NULL;
    *out_len = 0;
    if (!pixels) return lsd_fail(err, LSD_ERR_ARG, "png_encode: pixels is NULL");
    if (width == 0 || height == 0 || width > 0x7FFFFFFFu || height > 0x7FFFFFFFu)
        return lsd_fail(err, LSD_ERR_ARG, "png_encode: invalid size %lux%lu", (unsigned long)width,
                        (unsigned long)height);
    if (palette) {
        if (channels != 1) return lsd_fail(err, LSD_ERR_ARG, "png_encode: a palette image has 1 channel, not %d", channels);
        if (palette_size < 1 || palette_size > 256)
            return lsd_fail(err, LSD_ERR_ARG, "png_encode: palette size %d is not 1..256", palette_size);
    } else if (channels < 1 || channels > 4) {
        return lsd_fail(err, LSD_ERR_ARG, "png_encode: %d channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA)", channels);
    }
    if (lsd_mul_size(width, (size_t)channels, &rowbytes) || lsd_add_size(rowbytes, 1, &rawsize) ||
        lsd_mul_size(rawsize, height, &rawsize))
        return lsd_fail(err, LSD_ERR_ARG, "png_encode: image too large");
    if (palette) {
        size_t npix = (size_t)width * height;
        for (i = 0; i < npix; i++)
            if (pixels[i] >= palette_size)
                return lsd_fail(err, LSD_ERR_RANGE, "png_encode: pixel %lu has index %d beyond the palette of %d",
                                (unsigned long)i, pixels[i], palette_size);
    }

    raw = (uint8_t *)malloc(rawsize);
    trial = (uint8_t *)malloc(rowbytes);
    if (!raw || !trial) {
        rc = lsd_fail(err, LSD_ERR_NOMEM, "png_encode: out of memory");
        goto done;
    }
    for (y = 0; y < height; y++) {
        const uint8_t *row = pixels + y * rowbytes, *prev = y ? row - rowbytes : NULL;
        uint8_t *dst = raw + y * (rowbytes + 1);
        int ft, best = 0;
        unsigned long best_cost = (unsigned long)-1;
        for (ft = 0; ft < (palette ? 1 : 5); ft++) {
            unsigned long cost = 0;
            filter_row(trial, row, prev, rowbytes, (size_t)channels, ft);
            for (i = 0; i < rowbytes; i++) cost += trial[i] < 128 ? trial[i] : 256u - trial[i];
            if (cost < best_cost) {
                best_cost = cost;
                best = ft;
            }
        }
        dst[0] = (uint8_t)best;
        filter_row(dst + 1, row, prev, rowbytes, (size_t)channels, best);
    }
    rc = zlib_deflate(raw, rawsize, 6, &z, &zlen, err);
    if (rc) goto done;

    nidat = zlen / ((size_t)1 << 20) + 1;
    total = 8 + 25 + (palette ? 12 + 3 * (size_t)palette_size : 0) + 12 * nidat + zlen + 12;
    png = (uint8_t *)malloc(total);
    if (!png) {
        rc = lsd_fail(err, LSD_ERR_NOMEM, "png_encode: out of memory");
        goto done;
    }
    memcpy(png, png_signature, 8);
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = 8;
    ihdr[9] = palette ? 3 : color_of_channels[channels];
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    pos = 8 + put_chunk(png + 8, "IHDR", ihdr, 13);
    if (palette) pos += put_chunk(png + pos, "PLTE", palette, 3 * (size_t)palette_size);
    for (i = 0; i < nidat; i++) {
        size_t off = i << 20, n = zlen - off < ((size_t)1 << 20) ? zlen - off : (size_t)1 << 20;
        pos += put_chunk(png + pos, "IDAT", z + off, n);
    }
    pos += put_chunk(png + pos, "IEND", NULL, 0);
    *out = png;
    *out_len = pos;
done:
    free(raw);
    free(trial);
    free(z);
    return rc;
}

/* Encodes and writes a file. */
int png_save(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
             int channels, const uint8_t *palette, int palette_size, lsd_err *err)
{
    uint8_t *png;
    size_t n;
    FILE *f;
    int rc = png_encode(pixels, width, height, channels, palette, palette_size, &png, &n, err);
    if (rc) return rc;
    if (!png) return lsd_fail(err, LSD_ERR_NOMEM, "png_save: no encoded data");
    f = fopen(path, "wb");
    if (!f) {
        free(png);
        return lsd_fail(err, LSD_ERR_IO, "%s: cannot open for writing", path);
    }
    if (fwrite(png, 1, n, f) != n) rc = lsd_fail(err, LSD_ERR_IO, "%s: write error", path);
    if (fclose(f) != 0 && rc == LSD_OK) rc = lsd_fail(err, LSD_ERR_IO, "%s: write error on close", path);
    free(png);
    return rc;
}
