/*
 * norm.cl - instance normalisation without affine parameters (layers/norm.c). One
 * work-group per (n, c) plane; its sums are compensated per work-item, then a fixed tree.
 * norm.c sums in double; here float with compensation (differences of a few ulp of the sums).
 */

/* instance_norm_forward: mean = sum(x)/HW, var = sum((x-mean)^2)/HW (two passes),
 * rstd = 1/sqrt(var + eps), y = (x - mean) * rstd. */
__kernel void instance_norm_forward(__global float *out, int oo, __global float *mean, int om,
                                    __global float *rstd, int orr, __global const float *in,
                                    int oi, int HW, float eps)
{
    __local float buf[RED_MAX];
    int p = (int)get_group_id(0), l = (int)get_local_id(0), L = (int)get_local_size(0), i;
    __global const float *x = in + oi + (long)p * HW;
    __global float *y = out + oo + (long)p * HW;
    float s = 0.0f, c = 0.0f, m, v, r;
    for (i = l; i < HW; i += L) kahan_add(&s, &c, x[i]);
    s = tree_sum(buf, s);
    m = HW > 0 ? s / (float)HW : 0.0f;
    s = 0.0f;
    c = 0.0f;
    for (i = l; i < HW; i += L) {
        float d = x[i] - m;
        kahan_add(&s, &c, d * d);
    }
    s = tree_sum(buf, s);
    v = HW > 0 ? s / (float)HW : 0.0f;
    r = 1.0f / sqrt(v + eps);
    for (i = l; i < HW; i += L) y[i] = (x[i] - m) * r;
    if (l == 0) {
        mean[om + p] = m;
        rstd[orr + p] = r;
    }
}

/* instance_norm_backward: din += rstd * (dout - mean(dout) - y * mean(dout * y)),
 * y = (x - mean) * rstd. */
__kernel void instance_norm_backward(__global float *din, int odi, __global const float *dout,
                                     int odo, __global const float *in, int oi,
                                     __global const float *mean, int om,
                                     __global const float *rstd, int orr, int HW)
{
    __local float buf[RED_MAX];
    int p = (int)get_group_id(0), l = (int)get_local_id(0), L = (int)get_local_size(0), i;
    __global const float *x = in + oi + (long)p * HW, *dy = dout + odo + (long)p * HW;
    __global float *dx = din + odi + (long)p * HW;
    float m = mean[om + p], r = rstd[orr + p];
    float s1 = 0.0f, c1 = 0.0f, s2 = 0.0f, c2 = 0.0f, mdy, mdyy;
    for (i = l; i < HW; i += L) {
        float y = (x[i] - m) * r;
        kahan_add(&s1, &c1, dy[i]);
        kahan_add(&s2, &c2, dy[i] * y);
    }
    s1 = tree_sum(buf, s1);
    s2 = tree_sum(buf, s2);
    mdy = s1 / (float)HW;
    mdyy = s2 / (float)HW;
    for (i = l; i < HW; i += L) {
        float y = (x[i] - m) * r;
        dx[i] += r * (dy[i] - mdy - y * mdyy);
    }
}
