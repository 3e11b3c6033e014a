/* test_dropout.c - dropout and dropout2d with PyTorch's own masks (goldens), the counter-RNG
 * masks (rate, values, reproducibility by seed/stream/index), central differences (double
 * build) and thread-count independence. */
#include "../layers/dropout.h"
#include "../tensor/rng.h"
#include "misc_util.h"

/* Golden cases: forward and backward with the mask PyTorch drew (recovered from its output). */
static void test_goldens(void)
{
    static const char *const kinds[4] = {"drop", "drop", "drop2d", "drop2d"};
    st_file sf;
    int k;
    if (!gold_open(&sf, "dropout.safetensors")) return;
    for (k = 0; k < 4; k++) {
        char nm[64], label[80];
        int sh[4], is2d = k >= 2, NC, HW;
        size_t n, nm_, n1, n2, n3, i, bad;
        real *x, *mask, *dout, *out, *dx, *y, *din;
        snprintf(nm, sizeof nm, "%s.%d.x", kinds[k], k);
        x = gold_get(&sf, nm, &n, sh);
#define GET(var, field, cnt) (snprintf(nm, sizeof nm, "%s.%d.%s", kinds[k], k, field), \
                              var = gold_get(&sf, nm, &cnt, NULL))
        GET(mask, "mask", nm_); GET(dout, "dout", n1); GET(out, "out", n2); GET(dx, "dx", n3);
#undef GET
        NC = sh[0] * sh[1];
        HW = sh[2] * sh[3];
        y = zalloc(n); din = zalloc(n);
        if (x && mask && dout && out && dx && y && din && n1 == n && n2 == n && n3 == n &&
            nm_ == (is2d ? (size_t)NC : n)) {
            for (i = 0, bad = 0; i < nm_; i++) bad += !(mask[i] == 0 || mask[i] == 2);
            CHECK(bad == 0, "%s.%d: golden mask values are 0 or 2", kinds[k], k);
            if (is2d) dropout2d_forward(y, x, mask, NC, HW);
            else dropout_forward(y, x, mask, n);
            snprintf(label, sizeof label, "%s.%d forward", kinds[k], k);
            gold_close(label, y, out, n);
            for (i = 0; i < n; i++) din[i] = -1;
            if (is2d) dropout2d_backward(din, dout, mask, NC, HW);
            else dropout_backward(din, dout, mask, n);
            for (i = 0; i < n; i++) din[i] += 1;
            snprintf(label, sizeof label, "%s.%d backward (accumulated)", kinds[k], k);
            gold_close(label, din, dx, n);
            dropout_backward(NULL, dout, mask, n);
            dropout2d_backward(NULL, dout, mask, NC, HW);
        } else {
            CHECK(0, "%s.%d: golden tensors missing or of different sizes", kinds[k], k);
        }
        free(x); free(mask); free(dout); free(out); free(dx); free(y); free(din);
    }
    st_close(&sf);
}

/* dropout_mask: values exactly 0 or 1/(1-p), drop rate within 5 sigma of p, the same mask
 * for the same (seed, stream, index), shifted by index0, different for another stream. */
static void test_masks(void)
{
    size_t n = 100000, i, zeros, bad, same;
    real *a = zalloc(n), *b = zalloc(n);
    double ps[2] = {0.5, 0.3};
    int j;
    if (!a || !b) {
        CHECK(0, "out of memory");
        free(a); free(b);
        return;
    }
    for (j = 0; j < 2; j++) {
        real p = (real)ps[j], keep = (real)(1.0 / (1.0 - (double)p));
        double rate, sigma = sqrt(ps[j] * (1 - ps[j]) / (double)n);
        dropout_mask(a, n, p, 1337, 7, 0);
        zeros = bad = 0;
        for (i = 0; i < n; i++) {
            if (a[i] == 0) zeros++;
            else if (a[i] != keep) bad++;
        }
        rate = (double)zeros / (double)n;
        CHECK(bad == 0, "p=%g: %lu mask values neither 0 nor 1/(1-p)", ps[j], (unsigned long)bad);
        CHECK(fabs(rate - ps[j]) < 5 * sigma, "p=%g: drop rate %.5f is more than 5 sigma off",
              ps[j], rate);
    }
    dropout_mask(a, n, (real)0.5, 1337, 7, 0);
    dropout_mask(b, n, (real)0.5, 1337, 7, 0);
    CHECK(memcmp(a, b, n * sizeof *a) == 0, "same (seed, stream, index): same mask");
    dropout_mask(b, 1000, (real)0.5, 1337, 7, 500);
    CHECK(memcmp(a + 500, b, 1000 * sizeof *a) == 0, "index0 = 500 continues the same draws");
    for (i = 0, bad = 0; i < 1000; i++)
        bad += (rng_uniform(1337, 7, i) < 0.5) != (a[i] == 0);
    CHECK(bad == 0, "mask[i] = 0 exactly when uniform(seed, stream, i) < p");
    dropout_mask(b, n, (real)0.5, 1337, 8, 0);
    for (i = 0, same = 0; i < n; i++) same += a[i] == b[i];
    CHECK(fabs((double)same / (double)n - 0.5) < 0.01, "another stream: independent mask "
          "(agreement %.4f, expected 0.5)", (double)same / (double)n);
    dropout_mask(b, n, (real)0.5, 1338, 7, 0);
    for (i = 0, same = 0; i < n; i++) same += a[i] == b[i];
    CHECK(fabs((double)same / (double)n - 0.5) < 0.01, "another seed: independent mask "
          "(agreement %.4f, expected 0.5)", (double)same / (double)n);
    dropout_mask(a, 10, (real)0, 1, 2, 3);
    for (i = 0, bad = 0; i < 10; i++) bad += a[i] != 1;
    CHECK(bad == 0, "p = 0 keeps everything with multiplier 1");
    free(a);
    free(b);
}

#ifdef LSD_DOUBLE
#define NEXT_REAL(x, to) nextafter(x, to)
#else
#define NEXT_REAL(x, to) nextafterf(x, to)
#endif

/* dropout_mask equals the per-element reference mask[i] = (rng_uniform(seed, stream,
 * index0 + i) < p) ? 0 : (real)(1 / (1 - p)) bit for bit: sizes around the block size,
 * p = 0, 1/2, 1, 0.1, 0.3, a draw's own value and the reals on either side of it, several
 * seeds and streams, index0 at 0, across the carry into the counter's high word
 * (2^32 - 5) and across the 2^64 wrap (2^64 - 3). mask[n] must stay untouched. */
static void test_mask_reference(void)
{
    enum { NMAX = 100003, NP = 8 };
    static const size_t ns[] = {0, 1, 7, 63, 64, 65, 100003};
    static const uint64_t index0s[] = {0, 4294967291ULL, 18446744073709551613ULL};
    static const uint64_t keys[][2] = {{1337, 7}, {0x0123456789abcdefULL, 0xfedcba9876543210ULL}};
    double *u = (double *)test_alloc(NMAX * sizeof *u);
    real *m = (real *)test_alloc((NMAX + 1) * sizeof *m), canary = (real)-3;
    size_t cases = 0, bad_cases = 0;
    int s, q, j;
    for (s = 0; s < 2; s++) {
        for (q = 0; q < 3; q++) {
            uint64_t seed = keys[s][0], stream = keys[s][1], index0 = index0s[q];
            real ps[NP], b;
            size_t i, ni;
            for (i = 0; i < NMAX; i++) u[i] = rng_uniform(seed, stream, index0 + (uint64_t)i);
            b = (real)u[5];
            ps[0] = 0; ps[1] = (real)0.5; ps[2] = 1; ps[3] = (real)0.1; ps[4] = (real)0.3;
            ps[5] = b; ps[6] = NEXT_REAL(b, 0); ps[7] = NEXT_REAL(b, 1);
            for (ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                size_t n = ns[ni];
                for (j = 0; j < NP; j++) {
                    real p = ps[j], keep = (real)(1.0 / (1.0 - (double)p));
                    size_t bad = 0;
                    m[n] = canary;
                    dropout_mask(m, n, p, seed, stream, index0);
                    for (i = 0; i < n; i++) {
                        real want = u[i] < (double)p ? 0 : keep;
                        bad += memcmp(&m[i], &want, sizeof want) != 0;
                    }
                    bad += memcmp(&m[n], &canary, sizeof canary) != 0;
                    cases++;
                    if (bad && bad_cases++ < 5)
                        CHECK(0, "dropout_mask(n %lu, p %.9g, seed 0x%llx, stream 0x%llx, index0 "
                              "%llu): %lu elements differ from the per-element reference",
                              (unsigned long)n, (double)p, (unsigned long long)seed,
                              (unsigned long long)stream, (unsigned long long)index0,
                              (unsigned long)bad);
                }
            }
        }
    }
    CHECK(bad_cases == 0, "dropout_mask: %lu of %lu cases differ from the per-element reference",
          (unsigned long)bad_cases, (unsigned long)cases);
    free(u);
    free(m);
}

#ifdef LSD_DOUBLE
typedef struct { const real *r, *mask; int NC, HW, is2d; real *y; } drop_ctx;

/* sum(dropout(x) * r). */
static double drop_objective(const real *x, void *p)
{
    drop_ctx *c = (drop_ctx *)p;
    size_t i, n = (size_t)c->NC * c->HW;
    double s = 0;
    if (c->is2d) dropout2d_forward(c->y, x, c->mask, c->NC, c->HW);
    else dropout_forward(c->y, x, c->mask, n);
    for (i = 0; i < n; i++) s += c->y[i] * c->r[i];
    return s;
}

/* Central differences of both backwards on a (6, 5) input with RNG masks. */
static void test_finite_differences(void)
{
    enum { NC = 6, HW = 5, n = NC * HW };
    real x[n], r[n], y[n], din[n], mask[n];
    double fd[n];
    drop_ctx c;
    int is2d;
    fill_uniform(x, n, -2, 2, 31);
    fill_uniform(r, n, -1, 1, 32);
    for (is2d = 0; is2d < 2; is2d++) {
        dropout_mask(mask, is2d ? NC : n, (real)0.5, 5, 6, 0);
        c.r = r; c.mask = mask; c.NC = NC; c.HW = HW; c.is2d = is2d; c.y = y;
        memset(din, 0, sizeof din);
        if (is2d) dropout2d_backward(din, r, mask, NC, HW);
        else dropout_backward(din, r, mask, n);
        fd_grad(fd, x, n, drop_objective, &c, 1e-6);
        fd_close(is2d ? "dropout2d finite differences" : "dropout finite differences", din, fd,
                 n, 1e-8);
    }
}
#endif

/* Masks and products are bit-identical with 1 and 2 threads. */
static void test_threads(void)
{
    size_t n = 150001;
    real *m1 = zalloc(n), *m2 = zalloc(n), *x = zalloc(n), *y1 = zalloc(n), *y2 = zalloc(n);
    if (m1 && m2 && x && y1 && y2) {
        fill_uniform(x, n, -1, 1, 41);
        test_set_threads(1);
        dropout_mask(m1, n, (real)0.5, 9, 10, 11);
        dropout_forward(y1, x, m1, n);
        dropout2d_forward(y1, y1, m1, 1001, 149);
        test_set_threads(2);
        dropout_mask(m2, n, (real)0.5, 9, 10, 11);
        dropout_forward(y2, x, m2, n);
        dropout2d_forward(y2, y2, m2, 1001, 149);
        CHECK(memcmp(m1, m2, n * sizeof *m1) == 0 && memcmp(y1, y2, n * sizeof *y1) == 0,
              "dropout: 1 and 2 threads give different bits");
    } else {
        CHECK(0, "out of memory");
    }
    free(m1); free(m2); free(x); free(y1); free(y2);
}

int main(void)
{
    test_begin("dropout");
    test_goldens();
    test_masks();
    test_mask_reference();
    DOUBLE_ONLY(test_finite_differences(), "finite differences");
    test_threads();
    return test_summary();
}
