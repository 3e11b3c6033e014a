/*
 * optim.cl - Adam (layers/optim.c's adam_update), operation by operation: the scalars are
 * formed on the host in double and rounded to float, as the C float build does; with
 * contraction off and correctly rounded sqrt and division the update is the C one.
 */

/* g = has_wd ? grad + wd * p : grad; m = m * b1 + omb1 * g; v = v * b2 + omb2 * g * g;
 * p = p + neg_step * m / (sqrt(v) / bc2_sqrt + eps). */
__kernel void adam_update(__global float *param, int op, __global float *m, int om,
                          __global float *v, int ov, __global const float *grad, int og, int n,
                          float b1, float omb1, float b2, float omb2, float wd, int has_wd,
                          float eps, float neg_step, float bc2_sqrt)
{
    int i = (int)get_global_id(0);
    float g, p, mi, vi, denom;
    if (i >= n) return;
    p = param[op + i];
    g = has_wd ? grad[og + i] + wd * p : grad[og + i];
    mi = m[om + i] * b1 + omb1 * g;
    vi = v[ov + i] * b2 + omb2 * g * g;
    m[om + i] = mi;
    v[ov + i] = vi;
    denom = sqrt(vi) / bc2_sqrt + eps;
    param[op + i] = p + neg_step * mi / denom;
}
