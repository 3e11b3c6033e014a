/*
 * bench_winograd.c - F's 3x3 convolutions (forward) by the paths lsdseg has and one it does
 * not: im2col and gemm (LSD_CONV_DIRECT=0), the default path (the direct path for every width
 * where it applies, layers/conv_kernels.c: no im2col, the same bits), and Winograd's F(2x2,
 * 3x3), a candidate that #12 weighed (docs/performance.md, "What is left").
 *
 * The candidate, for a 3x3 convolution with stride 1 and padding 1 (Lavin and Gray, 2016):
 * each 2x2 block of outputs ("tile") is A^T [ sum over ci of (G g G^T) .* (B^T d B) ] A, with
 * g a 3x3 filter, d the tile's 4x4 window of one input channel, and
 *     B^T = | 1  0 -1  0 |    G = | 1    0    0  |    A^T = | 1  1  1  0 |
 *           | 0  1  1  0 |        | 1/2  1/2  1/2 |          | 0  1 -1 -1 |
 *           | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
 *           | 0  1  0 -1 |        | 0    0    1  |
 * The sums over ci are 16 products of (CO x CI) by (CI x tiles) matrices (lsdseg's gemm): 16
 * multiplies a tile and channel pair where the direct sum takes 36, so 2.25x fewer. The
 * transforms here are plain loops that gcc vectorizes; the 16 products go through memory, as
 * matrices four times the size of the input and of the output (no fusion of the three steps
 * within cache, as oneDNN's Winograd kernels do).
 *
 * Prints CSV rows to stdout, for each case (a layer of F, the reduced configuration's at
 * 64x128 or the paper's at 320x640, on the padded maps F sees):
 *     winograd,<case>,1,im2col-gemm,<ms>,ms     conv2d_forward (no bias) with
 *                                               LSD_CONV_DIRECT=0, best of the runs
 *     winograd,<case>,1,direct,<ms>,ms          conv2d_forward as it runs by default
 *     winograd,<case>,1,winograd,<ms>,ms        the candidate, its four steps included
 *     winograd-error,<case>,1,<impl>,<e>,rel    max |y - y64| / max |y64| over a sample of
 *                                               outputs, y64 the sum in double
 * Inputs: relu-like (half zeros, the rest uniform in [0, 1)), He-scaled uniform weights,
 * drawn with lsdseg's counter RNG. One thread (the arithmetic, not the scaling); runs
 * alternate between the three, best of 7 (reduced) or 3 (full size). The default path's
 * output must equal im2col and gemm's bit for bit; a difference is reported on stderr and
 * makes the exit status 1.
 * Float build only (the rows are of float arithmetic). Usage: bench_winograd [substring].
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../layers/conv.h"
#include "../tensor/gemm.h"
#include "../tensor/rng.h"

/* Seconds on a monotonic clock. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* U (16, CO, CI) = G g G^T for each filter g of w (CO, CI, 3, 3); element (a, b) of the 4x4
 * result goes to U[4a + b]. */
static void winograd_weights(real *U, const real *w, int CO, int CI)
{
    size_t S = (size_t)CO * CI;
    int o, i, a, b;
    for (o = 0; o < CO; o++)
        for (i = 0; i < CI; i++) {
            const real *g = w + ((size_t)o * CI + i) * 9;
            real t[4][3];
            for (b = 0; b < 3; b++) { /* G g: rows */
                real g0 = g[b], g1 = g[3 + b], g2 = g[6 + b];
                t[0][b] = g0;
                t[1][b] = (real)0.5 * ((g0 + g1) + g2);
                t[2][b] = (real)0.5 * ((g0 - g1) + g2);
                t[3][b] = g2;
            }
            for (a = 0; a < 4; a++) { /* (G g) G^T: columns */
                real g0 = t[a][0], g1 = t[a][1], g2 = t[a][2];
                real *u = U + (size_t)(4 * a) * S + (size_t)o * CI + i;
                u[0] = g0;
                u[S] = (real)0.5 * ((g0 + g1) + g2);
                u[2 * S] = (real)0.5 * ((g0 - g1) + g2);
                u[3 * S] = g2;
            }
        }
}

/* V (16, CI, TH*TW) = B^T d B for each tile's 4x4 window d of each channel of x (CI, H, W),
 * padded by 1 with zeros; tile (ty, tx) covers outputs 2ty..2ty+1, 2tx..2tx+1. work: 8 rows
 * of 2TW+2 values. */
static void winograd_input(real *V, const real *x, int CI, int H, int W, int TH, int TW,
                           real *work)
{
    size_t T = (size_t)TH * TW, S = (size_t)CI * T;
    int PW = 2 * TW + 2, c, ty, tx, a, j;
    real *r = work, *t = work + 4 * PW; /* r: the window's 4 padded rows; t: B^T applied */
    for (c = 0; c < CI; c++)
        for (ty = 0; ty < TH; ty++) {
            for (a = 0; a < 4; a++) {
                int ih = 2 * ty - 1 + a;
                real *ra = r + a * PW;
                for (j = 0; j < PW; j++) ra[j] = 0;
                if (ih >= 0 && ih < H) memcpy(ra + 1, x + ((size_t)c * H + ih) * W, W * sizeof(real));
            }
            for (j = 0; j < PW; j++) { /* B^T d, all the row's tiles at once */
                t[j] = r[j] - r[2 * PW + j];
                t[PW + j] = r[PW + j] + r[2 * PW + j];
                t[2 * PW + j] = r[2 * PW + j] - r[PW + j];
                t[3 * PW + j] = r[PW + j] - r[3 * PW + j];
            }
            for (a = 0; a < 4; a++) { /* (B^T d) B */
                const real *ta = t + a * PW;
                real *v = V + (size_t)(4 * a) * S + (size_t)c * T + (size_t)ty * TW;
                for (tx = 0; tx < TW; tx++) {
                    real d0 = ta[2 * tx], d1 = ta[2 * tx + 1], d2 = ta[2 * tx + 2], d3 = ta[2 * tx + 3];
                    v[tx] = d0 - d2;
                    v[S + tx] = d1 + d2;
                    v[2 * S + tx] = d2 - d1;
                    v[3 * S + tx] = d1 - d3;
                }
            }
        }
}

/* y (CO, H, W) = A^T m A for each tile's 4x4 m of M (16, CO, TH*TW). work: 10 TW values. */
static void winograd_output(real *y, const real *M, int CO, int H, int W, int TH, int TW,
                            real *work)
{
    size_t T = (size_t)TH * TW, S = (size_t)CO * T;
    int o, ty, tx, a, b;
    real *t = work, *row = work + 8 * TW; /* t[a][b][tx]: A^T m; row: one output row */
    for (o = 0; o < CO; o++)
        for (ty = 0; ty < TH; ty++) {
            const real *m = M + (size_t)o * T + (size_t)ty * TW;
            for (b = 0; b < 4; b++) { /* A^T m */
                const real *m0 = m + (size_t)b * S, *m1 = m0 + 4 * S, *m2 = m0 + 8 * S,
                           *m3 = m0 + 12 * S;
                real *t0 = t + b * TW, *t1 = t + (4 + b) * TW;
                for (tx = 0; tx < TW; tx++) {
                    t0[tx] = (m0[tx] + m1[tx]) + m2[tx];
                    t1[tx] = (m1[tx] - m2[tx]) - m3[tx];
                }
            }
            for (a = 0; a < 2 && 2 * ty + a < H; a++) { /* (A^T m) A */
                const real *q = t + 4 * a * TW;
                for (tx = 0; tx < TW; tx++) {
                    row[2 * tx] = (q[tx] + q[TW + tx]) + q[2 * TW + tx];
                    row[2 * tx + 1] = (q[TW + tx] - q[2 * TW + tx]) - q[3 * TW + tx];
                }
                memcpy(y + ((size_t)o * H + 2 * ty + a) * W, row, W * sizeof(real));
            }
        }
}

/* The candidate: y (CO, H, W) = conv3x3(x (CI, H, W), w), stride 1, padding 1. */
static void winograd_conv(real *y, const real *x, const real *w, int CI, int CO, int H, int W,
                          real *U, real *V, real *M, real *work)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2, k;
    size_t T = (size_t)TH * TW;
    winograd_weights(U, w, CO, CI);
    winograd_input(V, x, CI, H, W, TH, TW, work);
    for (k = 0; k < 16; k++)
        gemm(0, 0, CO, (int)T, CI, 1, U + (size_t)k * CO * CI, CI, V + (size_t)k * CI * T,
             (int)T, 0, M + (size_t)k * CO * T, (int)T);
    winograd_output(y, M, CO, H, W, TH, TW, work);
}

/* max |y - ref| / max |ref| over every 7th output (ref: the sum in double, any order). */
static double max_rel_error(const real *y, const real *x, const real *w, int CI, int CO, int H,
                            int W)
{
    size_t n = (size_t)CO * H * W, p;
    double err = 0, top = 0;
    for (p = 0; p < n; p += 7) {
        int o = (int)(p / ((size_t)H * W)), h = (int)(p / W % H), v = (int)(p % W), c, kh, kw;
        double s = 0;
        for (c = 0; c < CI; c++)
            for (kh = 0; kh < 3; kh++)
                for (kw = 0; kw < 3; kw++) {
                    int ih = h + kh - 1, iw = v + kw - 1;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    s += (double)w[((size_t)o * CI + c) * 9 + kh * 3 + kw] *
                         (double)x[((size_t)c * H + ih) * W + iw];
                }
        if (fabs(y[p] - s) > err) err = fabs(y[p] - s);
        if (fabs(s) > top) top = fabs(s);
    }
    return top > 0 ? err / top : err;
}

typedef struct {
    const char *name;
    int CI, CO, H, W;
} Case;

/* F's 3x3 layers of two widths (vgg 16 at 64x128, vgg 64 at 320x640; maps after the padding
 * of 100: conv1 262x326 and 518x838, halved by each pooling). */
static const Case cases[] = {
    {"conv1_2-16-262x326-reduced", 16, 16, 262, 326},
    {"conv2_2-32-131x163-reduced", 32, 32, 131, 163},
    {"conv3_2-64-66x82-reduced", 64, 64, 66, 82},
    {"conv4_2-128-33x41-reduced", 128, 128, 33, 41},
    {"conv5_2-128-17x21-reduced", 128, 128, 17, 21},
    {"conv2_2-128-259x419-full", 128, 128, 259, 419},
    {"conv3_2-256-130x210-full", 256, 256, 130, 210},
    {"conv4_2-512-65x105-full", 512, 512, 65, 105},
};

/* conv2d_forward by im2col and gemm (LSD_CONV_DIRECT=0) or by the default path. */
static void forward_path(real *y, const real *x, const real *w, const ConvShape *s,
                         real *scratch, int im2col)
{
    if (im2col) setenv("LSD_CONV_DIRECT", "0", 1);
    conv2d_forward(y, x, w, NULL, s, scratch);
    if (im2col) unsetenv("LSD_CONV_DIRECT");
}

/* Times the three on one case and prints its rows; returns 1 if the default path's bits
 * differ from im2col and gemm's (0 otherwise, and where memory is short: a note on stderr). */
static int run_case(const Case *cs)
{
    int CI = cs->CI, CO = cs->CO, H = cs->H, W = cs->W, TH = (H + 1) / 2, TW = (W + 1) / 2;
    int reps = (size_t)CO * CI * H * W > ((size_t)1 << 28) ? 3 : 7, r;
    size_t nx = (size_t)CI * H * W, ny = (size_t)CO * H * W, nw = (size_t)CO * CI * 9, j;
    size_t T = (size_t)TH * TW;
    ConvShape s = conv2d_shape(1, CI, H, W, CO, 3, 1, 1);
    real *x = malloc(nx * sizeof(real)), *w = malloc(nw * sizeof(real));
    real *y0 = malloc(ny * sizeof(real)), *y1 = malloc(ny * sizeof(real));
    real *y2 = malloc(ny * sizeof(real));
    real *scratch = malloc(conv_work_size(&s) * sizeof(real));
    real *U = malloc((size_t)16 * CO * CI * sizeof(real));
    real *V = malloc((size_t)16 * CI * T * sizeof(real));
    real *M = malloc((size_t)16 * CO * T * sizeof(real));
    real *work = malloc((size_t)8 * (2 * TW + 2) * sizeof(real));
    double best0 = 1e30, best1 = 1e30, best2 = 1e30;
    int differ = 0;
    if (!x || !w || !y0 || !y1 || !y2 || !scratch || !U || !V || !M || !work) {
        fprintf(stderr, "bench_winograd: out of memory for %s; skipped\n", cs->name);
        goto done;
    }
    rng_fill_uniform(x, nx, 0, 1, 7, 1, 0);
    rng_fill_uniform(w, nw, -1, 1, 7, 2, 0);
    for (j = 0; j < nx; j++) /* half zeros, as after relu */
        if (rng_uniform(7, 3, j) < 0.5) x[j] = 0;
    for (j = 0; j < nw; j++) w[j] *= (real)sqrt(6.0 / (9.0 * CI));
    fprintf(stderr, "== bench_winograd %s\n", cs->name);
    for (r = 0; r < reps; r++) { /* alternately */
        double t0 = now(), t1, t2, t3;
        forward_path(y0, x, w, &s, scratch, 1);
        t1 = now();
        winograd_conv(y1, x, w, CI, CO, H, W, U, V, M, work);
        t2 = now();
        forward_path(y2, x, w, &s, scratch, 0);
        t3 = now();
        if (t1 - t0 < best0) best0 = t1 - t0;
        if (t2 - t1 < best1) best1 = t2 - t1;
        if (t3 - t2 < best2) best2 = t3 - t2;
    }
    differ = memcmp(y0, y2, ny * sizeof(real)) != 0;
    if (differ)
        fprintf(stderr, "bench_winograd: %s: the default path's output differs from im2col "
                "and gemm's (it must be the same bits; tests/test_conv.c wide_identity)\n",
                cs->name);
    printf("winograd,%s,1,im2col-gemm,%.3f,ms\n", cs->name, best0 * 1e3);
    printf("winograd,%s,1,direct,%.3f,ms\n", cs->name, best2 * 1e3);
    printf("winograd,%s,1,winograd,%.3f,ms\n", cs->name, best1 * 1e3);
    printf("winograd-error,%s,1,im2col-gemm,%.3g,rel\n", cs->name,
           max_rel_error(y0, x, w, CI, CO, H, W));
    printf("winograd-error,%s,1,winograd,%.3g,rel\n", cs->name,
           max_rel_error(y1, x, w, CI, CO, H, W));
    fflush(stdout);
done:
    free(x), free(w), free(y0), free(y1), free(y2), free(scratch), free(U), free(V), free(M);
    free(work);
    return differ;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    int i, differ = 0;
    if (sizeof(real) != sizeof(float)) {
        fprintf(stderr, "bench_winograd: float build only; nothing run\n");
        return 0;
    }
    if (getenv("LSD_CONV_DIRECT")) { /* the default path is the one without it */
        fprintf(stderr, "bench_winograd: LSD_CONV_DIRECT=%s ignored\n", getenv("LSD_CONV_DIRECT"));
        unsetenv("LSD_CONV_DIRECT");
    }
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        if (!filter || strstr(cases[i].name, filter)) differ |= run_case(&cases[i]);
    return differ;
}
