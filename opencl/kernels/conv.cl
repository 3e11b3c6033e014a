/*
 * conv.cl - the pieces of layers/conv.c's convolutions that are not a gemm: im2col,
 * col2im, the bias and its gradient. The geometry is conv.c's Geom: an image (C, IH, IW)
 * read through a KH x KW window (stride, pad) at the points of a grid (., GW); a band is
 * grid rows r0 .. r0+nr-1, and col is (C*KH*KW, nr*GW).
 */

/* conv.c's im2col: col[q, r*GW + x] = img[c, (r0+r)*stride-pad+kh, x*stride-pad+kw] or 0,
 * q = (c*KH + kh)*KW + kw. Work-item (r*GW + x, q). */
__kernel void im2col(__global float *col, int ocol, __global const float *img, int oimg,
                     int IH, int IW, int KH, int KW, int stride, int pad, int GW, int r0, int nr)
{
    int p = (int)get_global_id(0), q = (int)get_global_id(1), P = nr * GW;
    int KK = KH * KW, c = q / KK, kh = (q % KK) / KW, kw = q % KW;
    int r = p / GW, x = p % GW;
    int ih = (r0 + r) * stride - pad + kh, iw = x * stride - pad + kw;
    float v = 0.0f;
    if (p >= P) return;
    if (ih >= 0 && ih < IH && iw >= 0 && iw < IW) v = img[oimg + (c * IH + ih) * IW + iw];
    col[ocol + q * P + p] = v;
}

/* conv.c's col2im: img[c, ih, iw] += every col term that lands on it, added in conv.c's
 * order (kh, kw); each image element is one work-item (ih*IW + iw, c), so the sum is
 * gathered rather than scattered. */
__kernel void col2im(__global float *img, int oimg, __global const float *col, int ocol,
                     int IH, int IW, int KH, int KW, int stride, int pad, int GW, int r0, int nr)
{
    int e = (int)get_global_id(0), c = (int)get_global_id(1);
    int ih = e / IW, iw = e % IW, P = nr * GW, KK = KH * KW, kh, kw;
    float acc;
    if (e >= IH * IW) return;
    acc = img[oimg + c * IH * IW + e];
    for (kh = 0; kh < KH; kh++) {
        int th = ih + pad - kh, r;
        if (th < 0 || th % stride) continue;
        r = th / stride - r0;
        if (r < 0 || r >= nr) continue;
        for (kw = 0; kw < KW; kw++) {
            int tw = iw + pad - kw, x;
            if (tw < 0 || tw % stride) continue;
            x = tw / stride;
            if (x >= GW) continue;
            acc += col[ocol + (c * KK + kh * KW + kw) * P + r * GW + x];
        }
    }
    img[oimg + c * IH * IW + e] = acc;
}

/* conv.c's add_bias over a whole batch: y[n, o, i] += bias[o]. Work-item (i, n*OC + o). */
__kernel void add_bias(__global float *y, int oy, __global const float *bias, int ob, int OC,
                       int HW)
{
    int i = (int)get_global_id(0), p = (int)get_global_id(1);
    if (i >= HW) return;
    y[oy + p * HW + i] += bias[ob + p % OC];
}

/* conv.c's bias_grad: dbias[o] += sum over n, i of dout[n, o, i]. One work-group per o;
 * item l sums elements l, l + L, ... of the N*HW (compensated), then a fixed tree. */
__kernel void bias_grad(__global float *dbias, int odb, __global const float *dout, int od,
                        int N, int OC, int HW)
{
    __local float buf[RED_MAX];
    int o = (int)get_group_id(0), l = (int)get_local_id(0), L = (int)get_local_size(0);
    long j, T = (long)N * HW;
    float s = 0.0f, c = 0.0f;
    for (j = l; j < T; j += L) {
        long n = j / HW, i = j % HW;
        kahan_add(&s, &c, dout[od + (n * OC + o) * HW + i]);
    }
    s = tree_sum(buf, s);
    if (l == 0) dbias[odb + o] += s;
}
