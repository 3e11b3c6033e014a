/*
 * pool.cl - 2x2 stride-2 max pooling (layers/pool.c). The scan is pool.c's: the running
 * maximum starts at -inf with the window's first index; an element replaces it when
 * greater or NaN. Clipped windows (ceil mode, odd sizes) cover what lies inside.
 */

/* maxpool2d_forward: work-item (oh*OW + ow, plane). */
__kernel void maxpool2d_forward(__global float *out, int oo, __global int *argmax, int oa,
                                __global const float *in, int oi, int H, int W, int OH, int OW)
{
    int e = (int)get_global_id(0), p = (int)get_global_id(1);
    int oh = e / OW, ow = e % OW, h0 = 2 * oh, w0 = 2 * ow;
    int h1 = h0 + 2 < H ? h0 + 2 : H, w1 = w0 + 2 < W ? w0 + 2 : W, h, w;
    __global const float *x = in + oi + p * H * W;
    float best = -INFINITY;
    int bi = h0 * W + w0;
    if (e >= OH * OW) return;
    for (h = h0; h < h1; h++)
        for (w = w0; w < w1; w++) {
            float v = x[h * W + w];
            if (v > best || v != v) {
                best = v;
                bi = h * W + w;
            }
        }
    out[oo + p * OH * OW + e] = best;
    argmax[oa + p * OH * OW + e] = bi;
}

/* maxpool2d_backward: din[plane][argmax] += dout. Windows do not overlap, so the work-items
 * (oh*OW + ow, plane) write disjoint elements. */
__kernel void maxpool2d_backward(__global float *din, int odi, __global const float *dout,
                                 int odo, __global const int *argmax, int oa, int H, int W,
                                 int OH, int OW)
{
    int e = (int)get_global_id(0), p = (int)get_global_id(1);
    if (e >= OH * OW) return;
    din[odi + p * H * W + argmax[oa + p * OH * OW + e]] += dout[odo + p * OH * OW + e];
}
