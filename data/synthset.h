/*
 * synthset.h - a data set of built-in synthetic scenes (data/synth.h) held in
 * memory, and its conversion into the network inputs of gan/lsd.h.
 *
 * A set is n scenes of one style rendered once: scene k is
 * synth_render(style, seed, first + k). The demo uses three sets whose
 * layouts never overlap (different generator seeds): labelled source
 * training scenes, target training scenes (whose labels are only read by the
 * oracle), and held-out labelled target validation scenes.
 *
 * Data order is a pure function of (seed, stream, epoch): each epoch is a
 * Fisher-Yates permutation drawn from the counter RNG (tensor/rng.h).
 */
#ifndef LSD_SYNTHSET_H
#define LSD_SYNTHSET_H

#include <stdint.h>
#include "../tensor/common.h"
#include "synth.h"

typedef struct {
    int n, H, W;
    synth_style style;
    uint64_t seed, first;
    uint8_t *rgb;   /* (n, H, W, 3) */
    uint8_t *label; /* (n, H, W) */
} SynthSet;

/* Renders scenes first .. first + n - 1 of the generator seeded with seed, in style. */
int synthset_create(SynthSet *s, synth_style style, uint64_t seed, uint64_t first, int n, int H,
                    int W, lsd_err *err);
/* Frees the set; safe on a zeroed struct. */
void synthset_free(SynthSet *s);

/* One 8-bit RGB image (H, W, 3) as the networks' inputs: x (3, H, W) BGR minus the VGG mean
 * (docs/method.md, "Inputs"), and x01 (3, H, W) RGB / 255. Either output may be NULL. */
void synth_image_to_input(real *x, real *x01, const uint8_t *rgb, int H, int W);
/* Scenes idx[0..N-1] of the set into x, x01 (N, 3, H, W) and y (N, H, W); any may be NULL. */
void synthset_batch(const SynthSet *s, const int *idx, int N, real *x, real *x01, uint8_t *y);

/* perm[0..n-1] = the permutation of epoch `epoch` of stream `stream` (Fisher-Yates). */
void synthset_shuffle(int *perm, int n, uint64_t seed, uint64_t stream, uint64_t epoch);
/* The scene used at position `pos` (0, 1, ...) of an epoch-wise shuffled order; perm is
 * a caller buffer of n ints that caches the current epoch (recomputed as needed). */
int synthset_order(int *perm, int n, uint64_t seed, uint64_t stream, long pos);

#endif
