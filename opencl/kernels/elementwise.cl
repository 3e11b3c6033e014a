/*
 * elementwise.cl - layers/activation.c, layers/dropout.c, layers/shape.c (crop, concat)
 * and the vector helpers. One work-item per element; n is checked because the host may
 * round the global size up.
 */

/* relu_forward: out = max(x, 0). */
__kernel void relu_forward(__global float *out, int oo, __global const float *in, int oi, int n)
{
    int i = (int)get_global_id(0);
    float x;
    if (i >= n) return;
    x = in[oi + i];
    out[oo + i] = x > 0.0f ? x : 0.0f;
}

/* relu_backward: din += dout * [out > 0]. */
__kernel void relu_backward(__global float *din, int odi, __global const float *dout, int odo,
                            __global const float *out, int oo, int n)
{
    int i = (int)get_global_id(0);
    if (i >= n) return;
    if (out[oo + i] > 0.0f) din[odi + i] += dout[odo + i];
}

/* leaky_relu_forward: out = x > 0 ? x : x * slope. */
__kernel void leaky_relu_forward(__global float *out, int oo, __global const float *in, int oi,
                                 int n, float slope)
{
    int i = (int)get_global_id(0);
    float x;
    if (i >= n) return;
    x = in[oi + i];
    out[oo + i] = x > 0.0f ? x : x * slope;
}

/* leaky_relu_backward: din += x > 0 ? dout : dout * slope. */
__kernel void leaky_relu_backward(__global float *din, int odi, __global const float *dout,
                                  int odo, __global const float *in, int oi, int n, float slope)
{
    int i = (int)get_global_id(0);
    float g;
    if (i >= n) return;
    g = dout[odo + i];
    din[odi + i] += in[oi + i] > 0.0f ? g : g * slope;
}

/* sigmoid_forward: out = 1 / (1 + e^-x) in float (the C build evaluates it in double and
 * rounds once; the two differ by a few ulp). */
__kernel void sigmoid_forward(__global float *out, int oo, __global const float *in, int oi,
                              int n)
{
    int i = (int)get_global_id(0);
    if (i >= n) return;
    out[oo + i] = 1.0f / (1.0f + exp(-in[oi + i]));
}

/* sigmoid_backward: din += dout * (1 - y) * y. */
__kernel void sigmoid_backward(__global float *din, int odi, __global const float *dout,
                               int odo, __global const float *out, int oo, int n)
{
    int i = (int)get_global_id(0);
    float y;
    if (i >= n) return;
    y = out[oo + i];
    din[odi + i] += dout[odo + i] * (1.0f - y) * y;
}

/* tensor/rng.c's philox4x32 for counter (index, stream) and key seed: ten rounds. */
uint4 philox4x32(ulong seed, ulong stream, ulong index)
{
    uint c0 = (uint)index, c1 = (uint)(index >> 32), c2 = (uint)stream,
         c3 = (uint)(stream >> 32), k0 = (uint)seed, k1 = (uint)(seed >> 32);
    int r;
    for (r = 0; r < 10; r++) {
        uint hi0 = mul_hi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint hi1 = mul_hi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return (uint4)(c0, c1, c2, c3);
}

/* dropout_mask: mask[i] = uniform(seed, stream, index0 + i) < p ? 0 : keep. The uniform is
 * rng_uniform's top 53 bits u of words 0 and 1 times 2^-53, so u * 2^-53 < p exactly when
 * u < thresh = ceil(p * 2^53) (computed on the host): bit-identical without doubles. */
__kernel void dropout_mask(__global float *mask, int om, int n, ulong thresh, float keep,
                           ulong seed, ulong stream, ulong index0)
{
    int i = (int)get_global_id(0);
    uint4 w;
    ulong u;
    if (i >= n) return;
    w = philox4x32(seed, stream, index0 + (ulong)i);
    u = (((ulong)w.x << 32) | (ulong)w.y) >> 11;
    mask[om + i] = u < thresh ? 0.0f : keep;
}

/* dropout_forward: out = in * mask. */
__kernel void dropout_forward(__global float *out, int oo, __global const float *in, int oi,
                              __global const float *mask, int om, int n)
{
    int i = (int)get_global_id(0);
    if (i >= n) return;
    out[oo + i] = in[oi + i] * mask[om + i];
}

/* dropout_backward: din += dout * mask. */
__kernel void dropout_backward(__global float *din, int odi, __global const float *dout,
                               int odo, __global const float *mask, int om, int n)
{
    int i = (int)get_global_id(0);
    if (i >= n) return;
    din[odi + i] += dout[odo + i] * mask[om + i];
}

/* dropout2d_forward: out[c, i] = in[c, i] * mask[c]. Work-item (i, c). */
__kernel void dropout2d_forward(__global float *out, int oo, __global const float *in, int oi,
                                __global const float *mask, int om, int HW)
{
    int i = (int)get_global_id(0), c = (int)get_global_id(1);
    if (i >= HW) return;
    out[oo + c * HW + i] = in[oi + c * HW + i] * mask[om + c];
}

/* dropout2d_backward: din[c, i] += dout[c, i] * mask[c]. */
__kernel void dropout2d_backward(__global float *din, int odi, __global const float *dout,
                                 int odo, __global const float *mask, int om, int HW)
{
    int i = (int)get_global_id(0), c = (int)get_global_id(1);
    if (i >= HW) return;
    din[odi + c * HW + i] += dout[odo + c * HW + i] * mask[om + c];
}

/* crop_forward: out[p, y, x] = in[p, top + y, left + x]. Work-item (y*OW + x, plane). */
__kernel void crop_forward(__global float *out, int oo, __global const float *in, int oi, int H,
                           int W, int top, int left, int OH, int OW)
{
    int e = (int)get_global_id(0), p = (int)get_global_id(1);
    if (e >= OH * OW) return;
    out[oo + p * OH * OW + e] = in[oi + p * H * W + (top + e / OW) * W + left + e % OW];
}

/* crop_backward: din[p, top + y, left + x] += dout[p, y, x]. */
__kernel void crop_backward(__global float *din, int odi, __global const float *dout, int odo,
                            int H, int W, int top, int left, int OH, int OW)
{
    int e = (int)get_global_id(0), p = (int)get_global_id(1);
    if (e >= OH * OW) return;
    din[odi + p * H * W + (top + e / OW) * W + left + e % OW] += dout[odo + p * OH * OW + e];
}

/* concat_forward: out[n] = (a[n] (Ca, HW) over b[n] (Cb, HW)). Work-item (j, n). */
__kernel void concat_forward(__global float *out, int oo, __global const float *a, int oa,
                             int Ca, __global const float *b, int ob, int Cb, int HW)
{
    int j = (int)get_global_id(0), n = (int)get_global_id(1), sa = Ca * HW, sb = Cb * HW;
    if (j >= sa + sb) return;
    out[oo + n * (sa + sb) + j] = j < sa ? a[oa + n * sa + j] : b[ob + n * sb + j - sa];
}

/* concat_backward: da += dout[:, :Ca], db += dout[:, Ca:] (has_a, has_b: 0 skips a side). */
__kernel void concat_backward(__global float *da, int oa, int has_a, __global float *db, int ob,
                              int has_b, __global const float *dout, int od, int Ca, int Cb,
                              int HW)
{
    int j = (int)get_global_id(0), n = (int)get_global_id(1), sa = Ca * HW, sb = Cb * HW;
    float g;
    if (j >= sa + sb) return;
    g = dout[od + n * (sa + sb) + j];
    if (j < sa) {
        if (has_a) da[oa + n * sa + j] += g;
    } else if (has_b) {
        db[ob + n * sb + j - sa] += g;
    }
}

/* vec_fill: x[i] = v. */
__kernel void vec_fill(__global float *x, int ox, float v)
{
    x[ox + (int)get_global_id(0)] = v;
}

/* vec_axpy: y += alpha * x. */
__kernel void vec_axpy(__global float *y, int oy, float alpha, __global const float *x, int ox,
                       int n)
{
    int i = (int)get_global_id(0);
    if (i >= n) return;
    y[oy + i] += alpha * x[ox + i];
}

/* vec_add: out = a + b. */
__kernel void vec_add(__global float *out, int oo, __global const float *a, int oa,
                      __global const float *b, int ob, int n)
{
    int i = (int)get_global_id(0);
    if (i >= n) return;
    out[oo + i] = a[oa + i] + b[ob + i];
}
