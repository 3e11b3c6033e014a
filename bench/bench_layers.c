/*
 * bench_layers.c - forward + backward time of every distinct convolution,
 * transposed convolution and max-pool shape of F, C, G and D at a 320x640
 * input, batch 1, with 1 and 2 threads.
 *
 * Prints CSV rows "layer,<case>,<threads>,lsdseg,<ms>,ms" (the best of up to 3
 * runs; fewer once a case has taken a second). bench/layers_torch.py prints the
 * same cases for PyTorch. Usage: bench_layers [substring-of-case-names [max-threads]].
 * LSD_BENCH_CLOCK=cpu times with the process CPU clock (clock()) instead of the wall
 * clock: steadier on a loaded machine for 1 thread (with 2 it sums both threads).
 * The backward computes every gradient the training step needs: din except for
 * conv1_1 (F's input is an image), dweight, and dbias where there is a bias.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../layers/conv.h"
#include "../layers/pool.h"

enum { CONV, CONVT, POOL };

typedef struct {
    const char *name;
    int kind, C, OC, H, W, K, stride, pad, bias, need_din, ceil_mode;
} Case;

/* Shapes as the networks compute them at 320x640 (conv1_1 padding 100 -> 518x838, pools in
 * ceil mode -> 259x419, 130x210, 65x105, 33x53, 17x27; fc6 -> 11x21; G back up to 320x640;
 * D -> 161x321, 80x160, 40x80). Repeated layers of the same shape appear once. */
static const Case CASES[] = {
    {"F.conv1_1 3>64 320x640 p100", CONV, 3, 64, 320, 640, 3, 1, 100, 1, 0, 0},
    {"F.conv1_2 64>64 518x838", CONV, 64, 64, 518, 838, 3, 1, 1, 1, 1, 0},
    {"F.pool1 64 518x838", POOL, 64, 64, 518, 838, 2, 2, 0, 0, 1, 1},
    {"F.conv2_1 64>128 259x419", CONV, 64, 128, 259, 419, 3, 1, 1, 1, 1, 0},
    {"F.conv2_2 128>128 259x419", CONV, 128, 128, 259, 419, 3, 1, 1, 1, 1, 0},
    {"F.pool2 128 259x419", POOL, 128, 128, 259, 419, 2, 2, 0, 0, 1, 1},
    {"F.conv3_1 128>256 130x210", CONV, 128, 256, 130, 210, 3, 1, 1, 1, 1, 0},
    {"F.conv3_2 256>256 130x210", CONV, 256, 256, 130, 210, 3, 1, 1, 1, 1, 0},
    {"F.pool3 256 130x210", POOL, 256, 256, 130, 210, 2, 2, 0, 0, 1, 1},
    {"F.conv4_1 256>512 65x105", CONV, 256, 512, 65, 105, 3, 1, 1, 1, 1, 0},
    {"F.conv4_2 512>512 65x105", CONV, 512, 512, 65, 105, 3, 1, 1, 1, 1, 0},
    {"F.pool4 512 65x105", POOL, 512, 512, 65, 105, 2, 2, 0, 0, 1, 1},
    {"F.conv5_x 512>512 33x53", CONV, 512, 512, 33, 53, 3, 1, 1, 1, 1, 0},
    {"F.pool5 512 33x53", POOL, 512, 512, 33, 53, 2, 2, 0, 0, 1, 1},
    {"F.fc6 k7 512>4096 17x27", CONV, 512, 4096, 17, 27, 7, 1, 0, 1, 1, 0},
    {"F.fc7 1x1 4096>4096 11x21", CONV, 4096, 4096, 11, 21, 1, 1, 0, 1, 1, 0},
    {"C.score_fr 4096>19 11x21", CONV, 4096, 19, 11, 21, 1, 1, 0, 1, 1, 0},
    {"C.upscore2 T4s2 19 11x21", CONVT, 19, 19, 11, 21, 4, 2, 0, 0, 1, 0},
    {"C.score_pool4 512>19 33x53", CONV, 512, 19, 33, 53, 1, 1, 0, 1, 1, 0},
    {"C.upscore_pool4 T4s2 24x44", CONVT, 19, 19, 24, 44, 4, 2, 0, 0, 1, 0},
    {"C.score_pool3 256>19 65x105", CONV, 256, 19, 65, 105, 1, 1, 0, 1, 1, 0},
    {"C.upscore8 T16s8 50x90", CONVT, 19, 19, 50, 90, 16, 8, 0, 0, 1, 0},
    {"G.s1 T7 4096>256 11x21", CONVT, 4096, 256, 11, 21, 7, 1, 0, 0, 1, 0},
    {"G.rb 256 17x27", CONV, 256, 256, 17, 27, 3, 1, 1, 0, 1, 0},
    {"G.s1 T3s2 256>512 17x27", CONVT, 256, 512, 17, 27, 3, 2, 1, 0, 1, 0},
    {"G.rb 512 33x53", CONV, 512, 512, 33, 53, 3, 1, 1, 0, 1, 0},
    {"G.s2 T3s2 1024>256 33x53", CONVT, 1024, 256, 33, 53, 3, 2, 1, 0, 1, 0},
    {"G.rb 256 65x105", CONV, 256, 256, 65, 105, 3, 1, 1, 0, 1, 0},
    {"G.s3 T5s2 512>128 65x105", CONVT, 512, 128, 65, 105, 5, 2, 2, 0, 1, 0},
    {"G.rb 128 129x209", CONV, 128, 128, 129, 209, 3, 1, 1, 0, 1, 0},
    {"G.s3 T5s2 128>64 129x209", CONVT, 128, 64, 129, 209, 5, 2, 2, 0, 1, 0},
    {"G.rb 64 257x417", CONV, 64, 64, 257, 417, 3, 1, 1, 0, 1, 0},
    {"G.s4 T8s2p100 64>3 257x417", CONVT, 64, 3, 257, 417, 8, 2, 100, 1, 1, 0},
    {"D.conv k4s2p2 3>128 320x640", CONV, 3, 128, 320, 640, 4, 2, 2, 1, 1, 0},
    {"D.rb 128 161x321", CONV, 128, 128, 161, 321, 3, 1, 1, 1, 1, 0},
    {"D.pool 128 161x321", POOL, 128, 128, 161, 321, 2, 2, 0, 0, 1, 0},
    {"D.rb 128 80x160", CONV, 128, 128, 80, 160, 3, 1, 1, 1, 1, 0},
    {"D.pool 128 80x160", POOL, 128, 128, 80, 160, 2, 2, 0, 0, 1, 0},
    {"D.rb 128 40x80", CONV, 128, 128, 40, 80, 3, 1, 1, 1, 1, 0},
    {"D.out_c 128>19 40x80", CONV, 128, 19, 40, 80, 3, 1, 1, 1, 1, 0},
};

/* Seconds on a monotonic clock, or of process CPU time if cpu is set. */
static double now(int cpu)
{
    struct timespec t;
    if (cpu) return (double)clock() / CLOCKS_PER_SEC;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* n reals in [-1, 1) from a small LCG (benchmark data only), or NULL. */
static real *rand_buf(size_t n, unsigned long seed)
{
    real *p = malloc((n ? n : 1) * sizeof(real));
    size_t i;
    unsigned long s = seed;
    if (!p) return NULL;
    for (i = 0; i < n; i++) {
        s = (s * 1103515245UL + 12345UL) & 0x7fffffffUL;
        p[i] = (real)((double)s / 1073741824.0 - 1.0);
    }
    return p;
}

/* Best time in ms of forward + backward of case c; < 0 if memory is short. */
static double run_case(const Case *c, int cpu)
{
    ConvShape s;
    size_t nx, ny, nw;
    real *x, *y, *dy, *dx, *w = NULL, *b = NULL, *dw = NULL, *db = NULL, *scratch = NULL;
    int32_t *am = NULL;
    int rep, OH, OW, ok;
    double best = -1, total = 0;
    if (c->kind == POOL) {
        OH = maxpool_out_size(c->H, c->ceil_mode);
        OW = maxpool_out_size(c->W, c->ceil_mode);
        nw = 0;
    } else {
        s = c->kind == CONV ? conv2d_shape(1, c->C, c->H, c->W, c->OC, c->K, c->stride, c->pad)
                            : convt_shape(1, c->C, c->H, c->W, c->OC, c->K, c->stride, c->pad, 0);
        OH = s.OH;
        OW = s.OW;
        nw = (size_t)c->C * c->OC * c->K * c->K;
    }
    nx = (size_t)c->C * c->H * c->W;
    ny = (size_t)c->OC * OH * OW;
    x = rand_buf(nx, 1); y = rand_buf(ny, 2); dy = rand_buf(ny, 3); dx = rand_buf(nx, 4);
    ok = x && y && dy && dx;
    if (c->kind == POOL) {
        am = malloc(ny * sizeof(int32_t));
        ok = ok && am;
    } else {
        w = rand_buf(nw, 5); dw = rand_buf(nw, 6); b = rand_buf(c->OC, 7); db = rand_buf(c->OC, 8);
        scratch = rand_buf(conv_work_size(&s), 9);
        ok = ok && w && dw && b && db && scratch;
    }
    for (rep = 0; ok && rep < 3 && total < 1.0; rep++) {
        double t0 = now(cpu), t;
        real *din = c->need_din ? dx : NULL, *bb = c->bias ? b : NULL, *dbb = c->bias ? db : NULL;
        if (c->kind == POOL) {
            maxpool2d_forward(y, am, x, 1, c->C, c->H, c->W, OH, OW);
            maxpool2d_backward(dx, dy, am, 1, c->C, c->H, c->W, OH, OW);
        } else if (c->kind == CONV) {
            conv2d_forward(y, x, w, bb, &s, scratch);
            conv2d_backward(din, dw, dbb, dy, x, w, &s, scratch);
        } else {
            convt_forward(y, x, w, bb, &s, scratch);
            convt_backward(din, dw, dbb, dy, x, w, &s, scratch);
        }
        t = now(cpu) - t0;
        total += t;
        if (best < 0 || t < best) best = t;
    }
    free(x); free(y); free(dy); free(dx); free(w); free(b); free(dw); free(db); free(scratch);
    free(am);
    return ok ? best * 1e3 : -1;
}

int main(int argc, char **argv)
{
    size_t i;
    int t, maxthr = 1;
    const char *clk = getenv("LSD_BENCH_CLOCK");
    int cpu = clk && strcmp(clk, "cpu") == 0;
#ifdef _OPENMP
    maxthr = argc > 2 ? atoi(argv[2]) : 2;
#endif
    for (i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        if (argc > 1 && argv[1][0] && !strstr(CASES[i].name, argv[1])) continue;
        for (t = 1; t <= maxthr; t++) {
            double ms;
#ifdef _OPENMP
            omp_set_num_threads(t);
#endif
            ms = run_case(&CASES[i], cpu);
            if (ms < 0) {
                fprintf(stderr, "bench_layers: out of memory in %s\n", CASES[i].name);
                continue;
            }
            printf("layer,%s,%d,lsdseg,%.3f,ms\n", CASES[i].name, t, ms);
            fflush(stdout);
        }
    }
    return 0;
}
