/* loss.c - softmax cross-entropy and L1 loss (see loss.h).
 *
 * Fixed-order sums: the pixels (or elements) are cut into at most LOSS_BLOCKS consecutive
 * blocks whose bounds depend only on the count; each block is summed sequentially in
 * double by one thread, then the block sums are added in block order. The result is
 * therefore the same for any thread count. */
#include "loss.h"

#include <math.h>

#include "../tensor/mathfn.h"

/* Start of block b of nblk blocks over [0, n). */
static long block_start(long n, long nblk, long b) { return n / nblk * b + n % nblk * b / nblk; }

/* Classes whose e^(x_c - max) pixel_ce keeps from the sum for the gradient (more classes
 * compute them again: the same values). */
#define CE_KEEP 64

/* Loss of one pixel, -log softmax(x)[label] = log(sum_c e^(x_c - max)) + max - x_label,
 * and (if d is not NULL) d_c += scale * (softmax_c - [c == label]). The C logits of the
 * pixel are x[c * stride]; everything is evaluated in double with own exp/log. */
static double pixel_ce(real *d, const real *x, long stride, int C, int label, double scale)
{
    double mx = x[0], s = 0, lse, e[CE_KEEP];
    int c;
    for (c = 1; c < C; c++)
        if (x[c * stride] > mx) mx = x[c * stride];
    for (c = 0; c < C; c++) {
        double v = lsd_exp(x[c * stride] - mx);
        if (c < CE_KEEP) e[c] = v;
        s += v;
    }
    lse = lsd_log(s);
    if (d) {
        for (c = 0; c < C; c++) {
            double pc = (c < CE_KEEP ? e[c] : lsd_exp(x[c * stride] - mx)) / s;
            d[c * stride] += (real)(scale * (c == label ? pc - 1.0 : pc));
        }
    }
    return lse + mx - x[label * stride];
}

/* Sum (or mean over labelled pixels) of the pixel losses; dlogits += grad_scale times the
 * derivative, softmax - onehot (over the labelled count for LOSS_MEAN). Labels are all
 * checked before anything is written. A mean over zero labelled pixels is 0 with no
 * gradient (PyTorch gives NaN there). */
int softmax_ce(double *loss, real *dlogits, const real *logits, const uint8_t *labels, int N,
               int C, int HW, int ignore, loss_reduction red, real grad_scale, lsd_err *err)
{
    /* logits, dlogits (N, C, HW); labels (N, HW) */
    long P = (long)N * HW, p, b, nblk, count = 0;
    double part[LOSS_BLOCKS], total = 0, scale;
    if (N < 0 || C < 1 || HW < 0)
        return lsd_fail(err, LSD_ERR_ARG, "softmax_ce: invalid shape N=%d C=%d HW=%d", N, C, HW);
    if (red != LOSS_SUM && red != LOSS_MEAN)
        return lsd_fail(err, LSD_ERR_ARG, "softmax_ce: unknown reduction %d", (int)red);
    for (p = 0; p < P; p++) {
        int l = labels[p];
        if (l == ignore) continue;
        if (l >= C)
            return lsd_fail(err, LSD_ERR_RANGE,
                            "softmax_ce: label %d at sample %ld, pixel %ld is neither below the "
                            "class count %d nor the ignore label %d",
                            l, p / (HW > 0 ? HW : 1), p % (HW > 0 ? HW : 1), C, ignore);
        count++;
    }
    if (red == LOSS_MEAN && count == 0) {
        *loss = 0;
        return LSD_OK;
    }
    scale = red == LOSS_MEAN ? (double)grad_scale / (double)count : (double)grad_scale;
    nblk = P < LOSS_BLOCKS ? P : LOSS_BLOCKS;
#pragma omp parallel for schedule(static) if (P * C > 16384)
    for (b = 0; b < nblk; b++) {
        long q, q1 = block_start(P, nblk, b + 1);
        double s = 0;
        for (q = block_start(P, nblk, b); q < q1; q++) {
            long n = q / HW, i = q % HW;
            size_t off = (size_t)n * C * HW + (size_t)i;
            if (labels[q] == ignore) continue;
            s += pixel_ce(dlogits ? dlogits + off : NULL, logits + off, HW, C, labels[q], scale);
        }
        part[b] = s;
    }
    for (b = 0; b < nblk; b++) total += part[b];
    *loss = red == LOSS_MEAN ? total / (double)count : total;
    return LSD_OK;
}

/* softmax_ce with every pixel labelled `label`, reduction SUM. A label outside [0, C)
 * is a caller's error: *loss is NaN and nothing is written. */
void softmax_ce_const(double *loss, real *dlogits, const real *logits, int label, int N, int C,
                      int HW, real grad_scale)
{
    /* logits, dlogits (N, C, HW) */
    long P = (long)N * HW, b, nblk;
    double part[LOSS_BLOCKS], total = 0;
    if (label < 0 || label >= C) {
        *loss = NAN;
        return;
    }
    nblk = P < LOSS_BLOCKS ? P : LOSS_BLOCKS;
#pragma omp parallel for schedule(static) if (P * C > 16384)
    for (b = 0; b < nblk; b++) {
        long q, q1 = block_start(P, nblk, b + 1);
        double s = 0;
        for (q = block_start(P, nblk, b); q < q1; q++) {
            size_t off = (size_t)(q / HW) * C * HW + (size_t)(q % HW);
            s += pixel_ce(dlogits ? dlogits + off : NULL, logits + off, HW, C, label,
                          (double)grad_scale);
        }
        part[b] = s;
    }
    for (b = 0; b < nblk; b++) total += part[b];
    *loss = total;
}

/* Mean |x - target| over n elements (sum in double, fixed blocks);
 * dx += grad_scale * sign(x - target) / n with sign(0) = 0. */
double l1_loss(real *dx, const real *x, const real *target, size_t n, real grad_scale)
{
    /* dx, x, target (n) */
    long len = (long)n, b, nblk;
    double part[LOSS_BLOCKS], total = 0, g;
    if (len == 0) return 0;
    g = (double)grad_scale / (double)len;
    nblk = len < LOSS_BLOCKS ? len : LOSS_BLOCKS;
#pragma omp parallel for schedule(static) if (len > 65536)
    for (b = 0; b < nblk; b++) {
        long i, i1 = block_start(len, nblk, b + 1);
        double s = 0;
        for (i = block_start(len, nblk, b); i < i1; i++) {
            double d = (double)x[i] - (double)target[i];
            s += d < 0 ? -d : d;
            if (dx && d != 0) dx[i] += (real)(d > 0 ? g : -g);
        }
        part[b] = s;
    }
    for (b = 0; b < nblk; b++) total += part[b];
    return total / (double)len;
}
