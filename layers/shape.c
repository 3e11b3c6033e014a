/*
 * shape.c - layers that only move data: crop, channel concatenation and the
 * nearest-neighbour resize of label maps (PIL's pixel-centre convention).
 */
#include <string.h>

#include "shape.h"

/* out[n,c,y,x] = in[n,c,top+y,left+x]. */
void crop_forward(real *out, const real *in, int N, int C, int H, int W, int top, int left,
                  int OH, int OW)
{
    int p, y;
    for (p = 0; p < N * C; p++) {
        const real *x = in + (size_t)p * H * W + (size_t)top * W + left; /* (H, W) window */
        real *o = out + (size_t)p * OH * OW;                             /* (OH, OW) */
        for (y = 0; y < OH; y++)
            memcpy(o + (size_t)y * OW, x + (size_t)y * W, (size_t)OW * sizeof(real));
    }
}

/* din[n,c,top+y,left+x] += dout[n,c,y,x] (the derivative of a crop is the identity on the
 * window and 0 elsewhere). */
void crop_backward(real *din, const real *dout, int N, int C, int H, int W, int top, int left,
                   int OH, int OW)
{
    int p, y, x;
    for (p = 0; p < N * C; p++) {
        real *d = din + (size_t)p * H * W + (size_t)top * W + left; /* (H, W) window */
        const real *g = dout + (size_t)p * OH * OW;                 /* (OH, OW) */
        for (y = 0; y < OH; y++)
            for (x = 0; x < OW; x++) d[(size_t)y * W + x] += g[(size_t)y * OW + x];
    }
}

/* out[n] = (a[n] (Ca, HW) stacked over b[n] (Cb, HW)). */
void concat_forward(real *out, const real *a, int Ca, const real *b, int Cb, int N, int HW)
{
    int n;
    size_t sa = (size_t)Ca * HW, sb = (size_t)Cb * HW;
    for (n = 0; n < N; n++) {
        memcpy(out + (size_t)n * (sa + sb), a + (size_t)n * sa, sa * sizeof(real));
        memcpy(out + (size_t)n * (sa + sb) + sa, b + (size_t)n * sb, sb * sizeof(real));
    }
}

/* da += dout[:, :Ca], db += dout[:, Ca:] (the derivative splits the gradient). */
void concat_backward(real *da, real *db, const real *dout, int Ca, int Cb, int N, int HW)
{
    int n;
    size_t sa = (size_t)Ca * HW, sb = (size_t)Cb * HW, i;
    for (n = 0; n < N; n++) {
        const real *g = dout + (size_t)n * (sa + sb); /* (Ca+Cb, HW) */
        if (da)
            for (i = 0; i < sa; i++) da[(size_t)n * sa + i] += g[i];
        if (db)
            for (i = 0; i < sb; i++) db[(size_t)n * sb + i] += g[sa + i];
    }
}

/* out[i][j] = in[y_i][x_j], y_i the input row under the centre of output row i, about
 * floor((i + 0.5) * H / OH), exactly as Pillow's NEAREST resize computes it. */
void resize_labels_nearest(uint8_t *out, const uint8_t *in, int H, int W, int OH, int OW)
{
    /* Pillow walks the source coordinate in double steps of in/out from in/(2 out) and
     * truncates; at exact ties this can land one below floor((i + 0.5) * in / out) (64 -> 30,
     * i = 7 gives 15), and Pillow's choice is the reference. For the integer ratios of the
     * networks (D's output is exactly 1/8) both rules agree. */
    double sy = (double)(float)H / OH, sx = (double)(float)W / OW, y = sy * 0.5;
    int i, j;
    for (i = 0; i < OH; i++, y += sy) {
        int si = (int)y < H ? (int)y : H - 1;
        const uint8_t *row = in + (size_t)si * W;
        double x = sx * 0.5;
        for (j = 0; j < OW; j++, x += sx) {
            int sj = (int)x < W ? (int)x : W - 1;
            out[(size_t)i * OW + j] = row[sj];
        }
    }
}
