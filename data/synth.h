/*
 * synth.h - the built-in synthetic domains of the demo.
 *
 * A procedural street-scene generator draws a layout (sky, buildings, trees,
 * road, sidewalks, poles, cars, people; random sizes, positions, occlusion)
 * from (seed, index) alone, and renders it in one of two styles:
 *
 *   SYNTH_SOURCE  the "synthetic" look: flat-shaded, clean, saturated colours;
 *   SYNTH_TARGET  the "real" look: the same palette through another camera:
 *                 exposure and colour cast, a light gradient and vignetting,
 *                 strong surface textures, lens blur and sensor noise.
 *
 * The label map is the same whichever style renders it, so a held-out labelled
 * target set measures what a model trained on the source style loses on the
 * target style. Every pixel is a pure function of (style, seed, index, H, W):
 * sets are reproducible to the bit on every platform.
 */
#ifndef LSD_SYNTH_H
#define LSD_SYNTH_H

#include <stdint.h>
#include "../tensor/common.h"

typedef enum { SYNTH_SOURCE = 0, SYNTH_TARGET = 1 } synth_style;

enum {
    SYNTH_ROAD = 0,
    SYNTH_SIDEWALK,
    SYNTH_BUILDING,
    SYNTH_VEGETATION,
    SYNTH_SKY,
    SYNTH_POLE,
    SYNTH_PERSON,
    SYNTH_CAR,
    SYNTH_NUM_CLASSES
};

/* Name of class c ("road", ...), or "?" out of range. */
const char *synth_class_name(int c);
/* Display colour of class c (the Cityscapes colour of the same class). */
void synth_class_color(int c, uint8_t rgb[3]);

/* Renders scene `index` of the generator seeded with `seed`: rgb (H,W,3) 8-bit and
 * label (H,W) with values 0..SYNTH_NUM_CLASSES-1 (every pixel labelled).
 * H and W must be at least 16. Either output pointer may be NULL. */
int synth_render(uint8_t *rgb, uint8_t *label, int H, int W, synth_style style, uint64_t seed,
                 uint64_t index, lsd_err *err);

#endif
