/* test_norm.c - instance norm (no affine, eps 1e-5, biased variance) against
 * torch.nn.InstanceNorm2d goldens, central differences (double build), degenerate
 * planes and thread-count independence. */
#include "../layers/norm.h"
#include "misc_util.h"

#define EPS ((real)1e-5)

/* Golden cases: output, cached mean and rstd, input gradient, accumulation. */
static void test_goldens(void)
{
    st_file sf;
    int k, cases = 5;
    if (!gold_open(&sf, "norm.safetensors")) return;
    for (k = 0; k < cases; k++) {
        char nm[64], label[80];
        int sh[4], N, C, HW;
        size_t n, nn[5], i;
        real *x, *out, *dout, *dx, *gmean, *grstd, *y, *mean, *rstd, *din;
#define GET(var, field, cnt) (snprintf(nm, sizeof nm, "in.%d.%s", k, field), \
                              var = gold_get(&sf, nm, &cnt, NULL))
        snprintf(nm, sizeof nm, "in.%d.x", k);
        x = gold_get(&sf, nm, &n, sh);
        GET(out, "out", nn[0]); GET(dout, "dout", nn[1]); GET(dx, "dx", nn[2]);
        GET(gmean, "mean", nn[3]); GET(grstd, "rstd", nn[4]);
#undef GET
        N = sh[0]; C = sh[1]; HW = sh[2] * sh[3];
        y = zalloc(n); din = zalloc(n);
        mean = zalloc((size_t)N * C); rstd = zalloc((size_t)N * C);
        if (x && out && dout && dx && gmean && grstd && y && din && mean && rstd &&
            nn[0] == n && nn[1] == n && nn[2] == n && nn[3] == (size_t)N * C) {
            instance_norm_forward(y, mean, rstd, x, N, C, HW, EPS);
            snprintf(label, sizeof label, "in.%d (%dx%dx%dx%d) forward", k, N, C, sh[2], sh[3]);
            gold_close(label, y, out, n);
            snprintf(label, sizeof label, "in.%d mean", k);
            gold_close(label, mean, gmean, (size_t)N * C);
            snprintf(label, sizeof label, "in.%d rstd", k);
            gold_close(label, rstd, grstd, (size_t)N * C);
            instance_norm_backward(din, dout, x, mean, rstd, N, C, HW);
            snprintf(label, sizeof label, "in.%d backward", k);
            gold_close(label, din, dx, n);
            for (i = 0; i < n; i++) din[i] = 2;
            instance_norm_backward(din, dout, x, mean, rstd, N, C, HW);
            for (i = 0; i < n; i++) din[i] -= 2;
            snprintf(label, sizeof label, "in.%d backward accumulates", k);
            gold_close(label, din, dx, n);
            instance_norm_backward(NULL, dout, x, mean, rstd, N, C, HW);
        } else {
            CHECK(0, "in.%d: golden tensors missing or of different sizes", k);
        }
        free(x); free(out); free(dout); free(dx); free(gmean); free(grstd);
        free(y); free(din); free(mean); free(rstd);
    }
    st_close(&sf);
}

/* One spatial element (PyTorch refuses it in training): y = 0 and the gradient is 0;
 * a constant plane gives y = 0 and rstd = 1/sqrt(eps). */
static void test_degenerate(void)
{
    real x[6] = {3, -2, 7, 7, 7, 7}, y[6], mean[3], rstd[3];
    real dy[6] = {1, 2, 3, 4, 5, 6}, dx[6] = {0};
    instance_norm_forward(y, mean, rstd, x, 1, 2, 1, EPS);
    instance_norm_backward(dx, dy, x, mean, rstd, 1, 2, 1);
    CHECK(y[0] == 0 && y[1] == 0 && mean[0] == 3 && mean[1] == -2, "HW=1: y = 0, mean = x");
    CHECK(dx[0] == 0 && dx[1] == 0, "HW=1: zero gradient, got %g %g", (double)dx[0], (double)dx[1]);
    instance_norm_forward(y, mean, rstd, x + 2, 1, 1, 4, EPS);
    CHECK(y[0] == 0 && y[3] == 0 && mean[0] == 7, "constant plane: y = 0, mean 7");
    CHECK(fabs((double)rstd[0] - 1 / sqrt((double)EPS)) <= 1e-6 * rstd[0],
          "constant plane: rstd = 1/sqrt(eps), got %.17g", (double)rstd[0]);
}

#ifdef LSD_DOUBLE
typedef struct { const real *r; int N, C, HW; real *y, *mean, *rstd; } norm_ctx;

/* sum(IN(x) * r). */
static double norm_objective(const real *x, void *p)
{
    norm_ctx *c = (norm_ctx *)p;
    size_t i, n = (size_t)c->N * c->C * c->HW;
    double s = 0;
    instance_norm_forward(c->y, c->mean, c->rstd, x, c->N, c->C, c->HW, EPS);
    for (i = 0; i < n; i++) s += c->y[i] * c->r[i];
    return s;
}

/* Central differences of the full backward on (2, 3, 3x2), and on a 2x2 plane. */
static void test_finite_differences(void)
{
    enum { N = 2, C = 3, HW = 6, n = N * C * HW };
    real x[n], r[n], y[n], din[n], mean[N * C], rstd[N * C];
    double fd[n];
    norm_ctx c;
    fill_uniform(x, n, -2, 3, 11);
    fill_uniform(r, n, -1, 1, 12);
    c.r = r; c.N = N; c.C = C; c.HW = HW; c.y = y; c.mean = mean; c.rstd = rstd;
    instance_norm_forward(y, mean, rstd, x, N, C, HW, EPS);
    memset(din, 0, sizeof din);
    instance_norm_backward(din, r, x, mean, rstd, N, C, HW);
    fd_grad(fd, x, n, norm_objective, &c, 1e-6);
    fd_close("instance norm finite differences (2,3,3x2)", din, fd, n, 1e-7);
    c.N = 1; c.C = 1; c.HW = 4;
    instance_norm_forward(y, mean, rstd, x, 1, 1, 4, EPS);
    memset(din, 0, sizeof din);
    instance_norm_backward(din, r, x, mean, rstd, 1, 1, 4);
    fd_grad(fd, x, 4, norm_objective, &c, 1e-6);
    fd_close("instance norm finite differences (1,1,2x2)", din, fd, 4, 1e-7);
}
#endif

/* The planes' sums are sequential in double, plane by plane: checked bit for bit against
 * that loop written out here (forward: mean, then the squared deviations; backward: the
 * sums of dy and dy * y), for plane counts around the side-by-side lanes (1, 3, 4, 5, 9)
 * and 1 and 2 threads. The values (2^-8..2^8, both signs) carry +2^60 and later -2^60 in
 * each plane of x (forward) or of dy (backward, with x without them), so that the sums
 * depend on the order of the additions. */
static void test_order(void)
{
    static const int counts[] = {1, 3, 4, 5, 9};
    const int HW = 1013;
    unsigned long long u = 0x9E3779B97F4A7C15ull;
    int k, t;
    for (k = 0; k < (int)(sizeof counts / sizeof counts[0]); k++) {
        int P = counts[k], p, i, bad = 0;
        size_t n = (size_t)P * HW, j;
        real *x = zalloc(n), *dy = zalloc(n), *y = zalloc(n), *d = zalloc(n), *wy = zalloc(n);
        real *wd = zalloc(n), mean[9], rstd[9], wm[9], wr[9];
        if (!x || !dy || !y || !d || !wy || !wd) {
            CHECK(0, "out of memory");
            free(x); free(dy); free(y); free(d); free(wy); free(wd);
            return;
        }
        for (j = 0; j < 2 * n; j++) {
            real v;
            u ^= u << 13; u ^= u >> 7; u ^= u << 17;
            v = (real)ldexp((double)(u >> 40) / 16777216.0 * ((u & 1) ? -1 : 1),
                            (int)((u >> 8) % 17) - 8);
            if (j < n) x[j] = v; else dy[j - n] = v;
        }
        for (p = 0; p < P; p++) { /* dy: +2^60 at 1/4 of the plane, -2^60 at 2/3, where x
                                     * is the same (their products with y cancel too) */
            dy[(size_t)p * HW + HW / 4] = (real)ldexp(1, 60);
            dy[(size_t)p * HW + 2 * HW / 3] = (real)-ldexp(1, 60);
            x[(size_t)p * HW + 2 * HW / 3] = x[(size_t)p * HW + HW / 4];
        }
        /* the backward's reference and its cache, from x without the large values */
        instance_norm_forward(y, mean, rstd, x, 1, P, HW, EPS);
        for (p = 0; p < P; p++) {
            const real *xp = x + (size_t)p * HW, *dp = dy + (size_t)p * HW;
            double m = mean[p], r = rstd[p], sdy = 0, sdyy = 0;
            for (i = 0; i < HW; i++) {
                double yy = (xp[i] - m) * r;
                sdy += dp[i];
                sdyy += dp[i] * yy;
            }
            for (i = 0; i < HW; i++) {
                double yy = (xp[i] - m) * r;
                wd[(size_t)p * HW + i] = (real)(r * (dp[i] - sdy / HW - yy * (sdyy / HW)));
            }
        }
        for (t = 1; t <= 2; t++) {
            test_set_threads(t);
            memset(d, 0, n * sizeof *d);
            instance_norm_backward(d, dy, x, mean, rstd, 1, P, HW);
            CHECK(memcmp(d, wd, n * sizeof *d) == 0, "instance norm backward, %d planes, %d "
                  "thread(s): not the bits of the sequential double sums", P, t);
        }
        for (p = 0; p < P; p++) { /* x: +2^60 at 1/5 of the plane, -2^60 at 3/5 */
            x[(size_t)p * HW + HW / 5] = (real)ldexp(1, 60);
            x[(size_t)p * HW + 3 * HW / 5] = (real)-ldexp(1, 60);
        }
        for (p = 0; p < P; p++) { /* the forward's reference: one plane after the other */
            const real *xp = x + (size_t)p * HW;
            double s = 0, m, v = 0, r;
            for (i = 0; i < HW; i++) s += xp[i];
            m = s / HW;
            for (i = 0; i < HW; i++) {
                double e = xp[i] - m;
                v += e * e;
            }
            r = 1.0 / sqrt(v / HW + (double)EPS);
            for (i = 0; i < HW; i++) wy[(size_t)p * HW + i] = (real)((xp[i] - m) * r);
            wm[p] = (real)m;
            wr[p] = (real)r;
        }
        for (t = 1; t <= 2; t++) {
            test_set_threads(t);
            instance_norm_forward(y, mean, rstd, x, 1, P, HW, EPS);
            bad = memcmp(y, wy, n * sizeof *y) != 0 || memcmp(mean, wm, P * sizeof *mean) != 0 ||
                  memcmp(rstd, wr, P * sizeof *rstd) != 0;
            CHECK(!bad, "instance norm forward, %d planes, %d thread(s): not the bits of the "
                  "sequential double sums", P, t);
        }
        free(x); free(dy); free(y); free(d); free(wy); free(wd);
    }
}

/* Bit-identical results with 1 and 2 threads. */
static void test_threads(void)
{
    int N = 2, C = 8, HW = 4099;
    size_t n = (size_t)N * C * HW;
    real *x = zalloc(n), *dy = zalloc(n), *y1 = zalloc(n), *y2 = zalloc(n), *d1 = zalloc(n),
         *d2 = zalloc(n), m1[16], m2[16], r1[16], r2[16];
    if (x && dy && y1 && y2 && d1 && d2) {
        fill_uniform(x, n, -3, 5, 21);
        fill_uniform(dy, n, -1, 1, 22);
        test_set_threads(1);
        instance_norm_forward(y1, m1, r1, x, N, C, HW, EPS);
        instance_norm_backward(d1, dy, x, m1, r1, N, C, HW);
        test_set_threads(2);
        instance_norm_forward(y2, m2, r2, x, N, C, HW, EPS);
        instance_norm_backward(d2, dy, x, m2, r2, N, C, HW);
        CHECK(memcmp(y1, y2, n * sizeof *y1) == 0 && memcmp(d1, d2, n * sizeof *d1) == 0 &&
                  memcmp(m1, m2, sizeof m1) == 0 && memcmp(r1, r2, sizeof r1) == 0,
              "instance norm: 1 and 2 threads give different bits");
    } else {
        CHECK(0, "out of memory");
    }
    free(x); free(dy); free(y1); free(y2); free(d1); free(d2);
}

int main(void)
{
    test_begin("norm");
    test_goldens();
    test_degenerate();
    DOUBLE_ONLY(test_finite_differences(), "finite differences");
    test_threads();
    test_order();
    return test_summary();
}
