/*
 * conv_geom.h - the geometry both convolution kinds share, for layers/conv.c and its
 * device twin opencl/ops.c (one definition: the two cut the same bands).
 *
 * A convolution reads an "image" (C, IH, IW) through a KH x KW window with stride and
 * padding and produces values on a "grid" (CG, GH, GW). conv2d's image is its input and
 * its grid is its output; a transposed convolution is the data-gradient of a convolution,
 * so its image is its *output* and its grid is its *input*. im2col unfolds the image for a
 * band of grid rows into a col buffer (C*KH*KW, rows*GW) of at most CONV_COL_BUDGET
 * elements.
 */
#ifndef LSD_CONV_GEOM_H
#define LSD_CONV_GEOM_H

#include "conv.h"

/* Largest im2col buffer, in elements (16 MiB in float, 32 MiB in double). */
#define CONV_COL_BUDGET ((size_t)1 << 22)

/* Image (C, IH, IW), window KH x KW with stride and padding, grid (CG, GH, GW). */
typedef struct {
    int C, IH, IW;
    int KH, KW, stride, pad;
    int CG, GH, GW;
    int point; /* 1x1, stride 1, no padding: the image is the grid's col buffer */
} ConvGeom;

/* 1 if the layer is a 1x1 convolution with stride 1 and no padding (no unfolding needed). */
static inline int conv_pointwise(const ConvShape *s)
{
    return s->KH == 1 && s->KW == 1 && s->stride == 1 && s->pad == 0 && s->outpad == 0;
}

/* The geometry of a convolution from image (C, IH, IW) to grid (CG, GH, GW). */
static inline ConvGeom conv_geom_of(const ConvShape *s, int C, int IH, int IW, int CG, int GH,
                                    int GW)
{
    ConvGeom g;
    g.C = C; g.IH = IH; g.IW = IW;
    g.KH = s->KH; g.KW = s->KW; g.stride = s->stride; g.pad = s->pad;
    g.CG = CG; g.GH = GH; g.GW = GW;
    g.point = conv_pointwise(s);
    return g;
}

/* The geometry of conv2d (image = input, grid = output). */
static inline ConvGeom conv_geom(const ConvShape *s)
{
    return conv_geom_of(s, s->C, s->H, s->W, s->OC, s->OH, s->OW);
}

/* The geometry of a transposed convolution (image = output, grid = input). */
static inline ConvGeom convt_geom(const ConvShape *s)
{
    return conv_geom_of(s, s->OC, s->OH, s->OW, s->C, s->H, s->W);
}

/* col elements per grid row: C*KH*KW*GW (at least 1). */
static inline size_t conv_col_per_row(const ConvGeom *g)
{
    size_t per_row = (size_t)g->C * g->KH * g->KW * (size_t)(g->GW > 0 ? g->GW : 1);
    return per_row > 0 ? per_row : 1;
}

/* Grid rows of the largest band whose col buffer fits `budget` elements: at least 1, at
 * most GH. The device cuts its bands so (opencl/ops.c); conv_work_size counts them. */
static inline int conv_band_rows_fit(const ConvGeom *g, size_t budget)
{
    size_t r = budget / conv_col_per_row(g);
    if (r < 1) r = 1;
    if (r > (size_t)g->GH) r = (size_t)(g->GH > 0 ? g->GH : 1);
    return (int)r;
}

#endif
