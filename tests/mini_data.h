/*
 * mini_data.h - the miniature GTA5 and Cityscapes folders that the end-to-end tests of the
 * commands train and evaluate on (test_cli.c, test_mpi.c), written with our PNG encoder.
 * Header-only (static functions: a program need not use them all).
 */
#ifndef LSD_MINI_DATA_H
#define LSD_MINI_DATA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/png.h"

/* mkdir -p. */
static int mkdirs(const char *p)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    return system(cmd);
}

/* Deterministic bytes for the fixture. */
static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16, x *= 0x7feb352dU, x ^= x >> 15, x *= 0x846ca68bU, x ^= x >> 16;
    return x;
}

/* A street-like image and its label ids: sky on top (23), building (11) or car (26) in the
 * middle, road (7) at the bottom, some void (0) pixels; colours follow the class. */
static void scene(uint8_t *rgb, uint8_t *ids, int H, int W, uint32_t seed)
{
    int y, x;
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) {
            uint32_t r = hash32(seed * 7919u + (uint32_t)(y * W + x));
            int id = y < H / 3 ? 23 : y < 2 * H / 3 ? ((x + (int)(seed % 13)) % 24 < 12 ? 11 : 26) : 7;
            uint8_t *p = rgb + 3 * ((size_t)y * W + x);
            if (r % 17 == 0) id = 0;
            p[0] = (uint8_t)((id * 37 + (r & 31)) & 255);
            p[1] = (uint8_t)((id * 91 + ((r >> 5) & 31)) & 255);
            p[2] = (uint8_t)((id * 53 + ((r >> 10) & 31)) & 255);
            ids[(size_t)y * W + x] = (uint8_t)id;
        }
}

/* The rows of a CSV file without their last column (log.csv's and val.csv's seconds). */
static void csv_without_last(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[512];
    size_t o = 0;
    out[0] = '\0';
    if (!f) return;
    while (fgets(line, sizeof line, f) && o + strlen(line) < cap) {
        char *c = strrchr(line, ',');
        if (c) *c = '\0';
        o += (size_t)snprintf(out + o, cap - o, "%s\n", line);
    }
    fclose(f);
}

/* Writes under root: GTA5 (n_gta frames 40x1280, already at the authors' width 1280, so no
 * resize; palette labels) and Cityscapes (n_cs frames at 48x96 of city ulm: the first 3 in
 * train, the others in val). Returns 0, or non-zero if a folder or file could not be made. */
static int write_mini_datasets(const char *root, int n_gta, int n_cs)
{
    static uint8_t rgb[3 * 48 * 1280], ids[48 * 1280];
    uint8_t pal[3 * 256];
    char p[900];
    lsd_err err;
    int k, rc = 0;
    for (k = 0; k < 256; k++) pal[3 * k] = (uint8_t)k, pal[3 * k + 1] = (uint8_t)(255 - k), pal[3 * k + 2] = 9;
    snprintf(p, sizeof p, "%s/gta/images", root);
    rc |= mkdirs(p);
    snprintf(p, sizeof p, "%s/gta/labels", root);
    rc |= mkdirs(p);
    for (k = 1; k <= n_gta && !rc; k++) {
        scene(rgb, ids, 40, 1280, (uint32_t)k);
        snprintf(p, sizeof p, "%s/gta/images/%05d.png", root, k);
        rc |= png_save(p, rgb, 1280, 40, 3, NULL, 0, &err);
        snprintf(p, sizeof p, "%s/gta/labels/%05d.png", root, k);
        rc |= png_save(p, ids, 1280, 40, 1, pal, 256, &err);
    }
    for (k = 0; k < n_cs && !rc; k++) {
        const char *split = k < 3 ? "train" : "val";
        snprintf(p, sizeof p, "%s/cs/leftImg8bit/%s/ulm", root, split);
        rc |= mkdirs(p);
        snprintf(p, sizeof p, "%s/cs/gtFine/%s/ulm", root, split);
        rc |= mkdirs(p);
        scene(rgb, ids, 48, 96, (uint32_t)(100 + k));
        snprintf(p, sizeof p, "%s/cs/leftImg8bit/%s/ulm/ulm_000000_%06d_leftImg8bit.png", root,
                 split, k);
        rc |= png_save(p, rgb, 96, 48, 3, NULL, 0, &err);
        snprintf(p, sizeof p, "%s/cs/gtFine/%s/ulm/ulm_000000_%06d_gtFine_labelIds.png", root,
                 split, k);
        rc |= png_save(p, ids, 96, 48, 1, NULL, 0, &err);
    }
    return rc;
}

/* A fresh root (what was there removed) holding the miniature datasets; 0 on success. */
static int make_mini_root(const char *root, int n_gta, int n_cs)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0 || mkdirs(root) != 0) return 1;
    return write_mini_datasets(root, n_gta, n_cs);
}

#endif
