/*
 * synthset.c - in-memory sets of built-in synthetic scenes (see synthset.h).
 */
#include "synthset.h"

#include <stdlib.h>
#include <string.h>

#include "../tensor/rng.h"

int synthset_create(SynthSet *s, synth_style style, uint64_t seed, uint64_t first, int n, int H,
                    int W, lsd_err *err)
{
    size_t hw;
    int k, rc;
    memset(s, 0, sizeof *s);
    if (n < 1 || n > 1000000) return lsd_fail(err, LSD_ERR_ARG, "synthset: %d scenes", n);
    if (H < 16 || W < 16 || H > 8192 || W > 8192)
        return lsd_fail(err, LSD_ERR_ARG, "synthset: image size %dx%d outside 16..8192", H, W);
    hw = (size_t)H * (size_t)W;
    s->rgb = (uint8_t *)malloc((size_t)n * hw * 3);
    s->label = (uint8_t *)malloc((size_t)n * hw);
    if (!s->rgb || !s->label) {
        synthset_free(s);
        return lsd_fail(err, LSD_ERR_NOMEM, "synthset: cannot hold %d scenes of %dx%d", n, H,
                        W);
    }
    s->n = n, s->H = H, s->W = W, s->style = style, s->seed = seed, s->first = first;
    for (k = 0; k < n; k++) {
        rc = synth_render(s->rgb + (size_t)k * hw * 3, s->label + (size_t)k * hw, H, W, style,
                          seed, first + (uint64_t)k, err);
        if (rc) {
            synthset_free(s);
            return rc;
        }
    }
    return LSD_OK;
}

void synthset_free(SynthSet *s)
{
    free(s->rgb);
    free(s->label);
    memset(s, 0, sizeof *s);
}

/* The VGG mean of docs/method.md ("Inputs"), in BGR order. */
static const double vgg_mean_bgr[3] = {104.00698793, 116.66876762, 122.67891434};

void synth_image_to_input(real *x, real *x01, const uint8_t *rgb, int H, int W)
{
    size_t i, hw = (size_t)H * (size_t)W;
    int c;
    for (c = 0; c < 3; c++)
        for (i = 0; i < hw; i++) {
            double v = rgb[3 * i + (size_t)c];
            /* channel c of x is B, G, R: RGB channel 2 - c */
            if (x) x[(size_t)c * hw + i] = (real)((double)rgb[3 * i + (size_t)(2 - c)] -
                                                  vgg_mean_bgr[c]);
            if (x01) x01[(size_t)c * hw + i] = (real)(v / 255.0);
        }
}

void synthset_batch(const SynthSet *s, const int *idx, int N, real *x, real *x01, uint8_t *y)
{
    size_t hw = (size_t)s->H * (size_t)s->W;
    int b;
    for (b = 0; b < N; b++) {
        const uint8_t *rgb = s->rgb + (size_t)idx[b] * hw * 3;
        synth_image_to_input(x ? x + (size_t)b * 3 * hw : NULL,
                             x01 ? x01 + (size_t)b * 3 * hw : NULL, rgb, s->H, s->W);
        if (y) memcpy(y + (size_t)b * hw, s->label + (size_t)idx[b] * hw, hw);
    }
}

void synthset_shuffle(int *perm, int n, uint64_t seed, uint64_t stream, uint64_t epoch)
{
    int i;
    for (i = 0; i < n; i++) perm[i] = i;
    for (i = n - 1; i > 0; i--) {
        int j = (int)rng_below(seed, stream, epoch * (uint64_t)n + (uint64_t)i, (uint64_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

int synthset_order(int *perm, int n, uint64_t seed, uint64_t stream, long pos)
{
    /* recomputed every call: n is small and the permutation is a pure function */
    synthset_shuffle(perm, n, seed, stream, (uint64_t)(pos / n));
    return perm[pos % n];
}
