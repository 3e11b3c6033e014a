/*
 * loss.cl - layers/loss.c on the device: per-pixel softmax cross-entropy and L1 terms,
 * then block sums over loss.c's blocks (lsd_block_start), which the host adds in double in
 * block order, as loss.c does.
 */

/* Label check of softmax_ce, one work-item per block b of nblk over P pixels:
 * count[b] = labelled pixels, bad[b] = first pixel whose label is neither < C nor ignore
 * (or -1). */
__kernel void softmax_ce_label_scan(__global int *part, __global const uchar *labels, int ol,
                                    int P, int C, int ignore, int nblk)
{
    int b = (int)get_global_id(0);
    long q, q0, q1;
    int count = 0, bad = -1;
    if (b >= nblk) return;
    q0 = lsd_block_start(P, nblk, b);
    q1 = lsd_block_start(P, nblk, b + 1);
    for (q = q0; q < q1; q++) {
        int l = labels[ol + q];
        if (l == ignore) continue;
        if (l >= C) {
            if (bad < 0) bad = (int)q;
            continue;
        }
        count++;
    }
    part[LOSS_BLOCKS + b] = count; /* LOSS_BLOCKS: layers/loss.h, passed by opencl/cl.c */
    part[2 * LOSS_BLOCKS + b] = bad;
}

/* loss.c's pixel_ce for pixel q (work-item q of N*HW): loss[q] = log(sum_c e^(x_c - max))
 * + max - x_label (0 for an ignored pixel); if has_d, dlogits += scale * (softmax - onehot).
 * Labels come from `labels` (has_labels) or are all const_label (softmax_ce_const). */
__kernel void softmax_ce_pixel(__global float *loss, __global float *dlogits, int od, int has_d,
                               __global const float *logits, int ox,
                               __global const uchar *labels, int ol, int has_labels,
                               int const_label, int C, int HW, int P, int ignore, float scale)
{
    int q = (int)get_global_id(0), c, label;
    long off;
    __global const float *x;
    float mx, s = 0.0f, lse;
    if (q >= P) return;
    label = has_labels ? (int)labels[ol + q] : const_label;
    if (has_labels && label == ignore) {
        loss[q] = 0.0f;
        return;
    }
    off = (long)(q / HW) * C * HW + q % HW;
    x = logits + ox + off;
    mx = x[0];
    for (c = 1; c < C; c++)
        if (x[(long)c * HW] > mx) mx = x[(long)c * HW];
    for (c = 0; c < C; c++) s += exp(x[(long)c * HW] - mx);
    lse = log(s);
    if (has_d) {
        __global float *d = dlogits + od + off;
        for (c = 0; c < C; c++) {
            float pc = exp(x[(long)c * HW] - mx) / s;
            d[(long)c * HW] += scale * (c == label ? pc - 1.0f : pc);
        }
    }
    loss[q] = lse + mx - x[(long)label * HW];
}

/* l1_loss's element terms: absd[i] = |x - t|; if has_dx, dx += d > 0 ? g : -g for d != 0. */
__kernel void l1_loss_elem(__global float *absd, __global float *dx, int odx, int has_dx,
                           __global const float *x, int ox, __global const float *t, int ot,
                           int n, float g)
{
    int i = (int)get_global_id(0);
    float d;
    if (i >= n) return;
    d = x[ox + i] - t[ot + i];
    absd[i] = fabs(d);
    if (has_dx && d != 0.0f) dx[odx + i] += d > 0.0f ? g : -g;
}

/* part[b] = sum of v[block b of nblk over n]; one work-group per block. */
__kernel void block_sum(__global float *part, __global const float *v, int n, int nblk)
{
    __local float buf[RED_MAX];
    int b = (int)get_group_id(0), l = (int)get_local_id(0), L = (int)get_local_size(0);
    long q, q1 = lsd_block_start(n, nblk, b + 1);
    float s = 0.0f, c = 0.0f;
    for (q = lsd_block_start(n, nblk, b) + l; q < q1; q += L) kahan_add(&s, &c, v[q]);
    s = tree_sum(buf, s);
    if (l == 0) part[b] = s;
}
