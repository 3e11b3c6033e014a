/* test_synth.c - the built-in synthetic domains: reproducible, labelled, and different. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../data/synth.h"
#include "harness.h"

enum { H = 64, W = 128, NSCENES = 24 };

int main(void)
{
    static uint8_t rgb_s[H * W * 3], rgb_t[H * W * 3], rgb_2[H * W * 3];
    static uint8_t lab_s[H * W], lab_t[H * W], lab_2[H * W];
    long class_pixels[SYNTH_NUM_CLASSES] = {0};
    double mean_s[SYNTH_NUM_CLASSES][3] = {{0}}, mean_t[SYNTH_NUM_CLASSES][3] = {{0}};
    double step_s = 0, step_t = 0; /* sum of |difference| of horizontal neighbours, one class */
    long nsteps = 0;
    lsd_err err;
    int i, p, c, bad_label = 0, same_layout = 1, reproducible = 1;
    test_begin("synth");

    for (i = 0; i < NSCENES; i++) {
        CHECK(synth_render(rgb_s, lab_s, H, W, SYNTH_SOURCE, 1337, (uint64_t)i, &err) == LSD_OK,
              "render source %d: %s", i, err.msg);
        CHECK(synth_render(rgb_t, lab_t, H, W, SYNTH_TARGET, 1337, (uint64_t)i, &err) == LSD_OK,
              "render target %d: %s", i, err.msg);
        CHECK(synth_render(rgb_2, lab_2, H, W, SYNTH_TARGET, 1337, (uint64_t)i, &err) == LSD_OK,
              "render target again %d", i);
        if (memcmp(rgb_t, rgb_2, sizeof rgb_t) || memcmp(lab_t, lab_2, sizeof lab_t))
            reproducible = 0;
        if (memcmp(lab_s, lab_t, sizeof lab_s)) same_layout = 0;
        for (p = 0; p < H * W; p++) {
            if (lab_s[p] >= SYNTH_NUM_CLASSES) {
                bad_label = 1;
                continue;
            }
            class_pixels[lab_s[p]]++;
            if (p % W != W - 1 && lab_s[p + 1] == lab_s[p])
                for (c = 0; c < 3; c++, nsteps++) {
                    step_s += fabs((double)rgb_s[3 * p + c] - rgb_s[3 * (p + 1) + c]);
                    step_t += fabs((double)rgb_t[3 * p + c] - rgb_t[3 * (p + 1) + c]);
                }
            for (c = 0; c < 3; c++) {
                mean_s[lab_s[p]][c] += rgb_s[3 * p + c];
                mean_t[lab_s[p]][c] += rgb_t[3 * p + c];
            }
        }
    }
    CHECK(reproducible, "the same (style, seed, index) renders the same bits");
    CHECK(same_layout, "source and target styles share the label map of a scene");
    CHECK(!bad_label, "every label is a class id below %d", SYNTH_NUM_CLASSES);
    for (c = 0; c < SYNTH_NUM_CLASSES; c++) {
        double frac = (double)class_pixels[c] / (double)(NSCENES * H * W), dist = 0;
        int k;
        CHECK(frac > 0.002, "class %s covers %.4f of the pixels (at least 0.2%%)",
              synth_class_name(c), frac);
        for (k = 0; k < 3 && class_pixels[c]; k++) {
            double d = (mean_s[c][k] - mean_t[c][k]) / (double)class_pixels[c];
            dist += d * d;
        }
        /* the styles must differ: the mean colour of every class moves by > 25 levels */
        CHECK(sqrt(dist) > 25.0, "class %s mean colour moves %.1f levels between styles",
              synth_class_name(c), sqrt(dist));
    }
    /* source regions are flat (only two objects of one class with other shades meet);
     * target regions carry texture and noise of amplitude >= 15 levels: two independent
     * noise draws alone differ by 0.8 x 15 / sqrt(3) ~ 7 levels on average */
    CHECK(step_s / (double)nsteps < 1.0, "source regions are flat: neighbours differ by %.2f",
          step_s / (double)nsteps);
    CHECK(step_t / (double)nsteps > 7.0,
          "target regions are textured and noisy: neighbours differ by %.2f levels",
          step_t / (double)nsteps);
    /* different seeds give different scenes */
    synth_render(NULL, lab_2, H, W, SYNTH_SOURCE, 1338, 0, &err);
    synth_render(NULL, lab_s, H, W, SYNTH_SOURCE, 1337, 0, &err);
    CHECK(memcmp(lab_s, lab_2, sizeof lab_s) != 0, "seed changes the layout");
    CHECK(synth_render(rgb_s, lab_s, 8, W, SYNTH_SOURCE, 1, 0, &err) == LSD_ERR_ARG,
          "a height below 16 is refused");
    CHECK(strstr(err.msg, "8x128") != NULL, "the message names the size: %s", err.msg);
    return test_summary();
}
