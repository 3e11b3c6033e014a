/*
 * shape.h - the layers that only move data: crop, channel concat, and the
 * nearest-neighbour resize of label maps.
 */
#ifndef LSD_SHAPE_H
#define LSD_SHAPE_H

#include <stdint.h>
#include "../tensor/common.h"

/* out (N,C,OH,OW) = in (N,C,H,W) [:, :, top:top+OH, left:left+OW]. */
void crop_forward(real *out, const real *in, int N, int C, int H, int W, int top, int left,
                  int OH, int OW);
/* din[:, :, top:top+OH, left:left+OW] += dout. */
void crop_backward(real *din, const real *dout, int N, int C, int H, int W, int top, int left,
                   int OH, int OW);
/* out (N, Ca+Cb, HW) = concat(a (N,Ca,HW), b (N,Cb,HW)) along channels. */
void concat_forward(real *out, const real *a, int Ca, const real *b, int Cb, int N, int HW);
/* da += dout[:, :Ca], db += dout[:, Ca:]; da or db may be NULL. */
void concat_backward(real *da, real *db, const real *dout, int Ca, int Cb, int N, int HW);
/* Label map (H,W) -> (OH,OW) by nearest neighbour with PIL's convention: output index i takes
 * the input index under its centre, floor((i + 0.5) * H / OH), computed as Pillow does (a
 * double accumulation that differs from the exact value only at some ties). */
void resize_labels_nearest(uint8_t *out, const uint8_t *in, int H, int W, int OH, int OW);

#endif
