/*
 * arch.h - the networks' fixed tables (docs/method.md, "The four networks"), in one place for
 * gan/fcn.c, gan/generator.c, gan/discriminator.c, gan/lsd.c and their device mirror
 * opencl/clnet.c: block counts, the authors' module indices, and the constants of the
 * layers G and D share. The sizes that vary (vgg, fc, ngf, ndf, n_class) are LsdConfig's.
 */
#ifndef LSD_ARCH_H
#define LSD_ARCH_H

#include "../tensor/common.h"

#define LSD_NCONV 13  /* F: conv1_1 .. conv5_3 */
#define LSD_GBLOCKS 5 /* G's ConvT-IN-ReLU-RB-RB blocks */
#define LSD_DBLOCKS 9 /* D's residual blocks */

/* F's VGG16 trunk: the stage (0..4) of each conv, each stage's channels as a multiple of
 * LsdConfig's vgg, the last conv of each stage (its pool follows), the convs' names. */
static const int LSD_VGG_STAGE[LSD_NCONV] = {0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4};
static const int LSD_VGG_MULT[5] = {1, 2, 4, 8, 8};
static const int LSD_VGG_LAST[5] = {1, 3, 6, 9, 12};
static const char *const LSD_VGG_NAME[LSD_NCONV] = {
    "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
    "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"};

/* Instance norm's epsilon (nn.InstanceNorm2d's default), in every IN of G and D. */
#define LSD_IN_EPS ((real)1e-5)
/* LeakyReLU's negative slope in D (feature.0 and its residual blocks); G uses ReLU. */
#define LSD_LEAK ((real)0.2)

/* G's blocks in the authors' nn.Sequential modules: block k is stage[k].first .. first + 4,
 * the ConvT at first, its residual blocks at first + 3 and first + 4; the ConvT has kernel
 * K, stride S, padding P (its channels follow from LsdConfig, gan/generator.c). */
typedef struct {
    const char *stage;
    int first, K, S, P;
} GBlockArch;
static const GBlockArch LSD_GBLOCK[LSD_GBLOCKS] = {
    {"stage1_upsample", 0, 7, 1, 0}, {"stage1_upsample", 5, 3, 2, 1},
    {"stage2_upsample", 0, 3, 2, 1}, {"stage3_upsample", 0, 5, 2, 2},
    {"stage3_upsample", 5, 5, 2, 2}};

/* Index of D's residual block k in the authors' `feature` Sequential (feature.0 is the first
 * conv, feature.6 and feature.10 the pools). */
static const int LSD_DBLOCK_INDEX[LSD_DBLOCKS] = {3, 4, 5, 7, 8, 9, 11, 12, 13};

#endif
