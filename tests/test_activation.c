/* test_activation.c - relu, leaky_relu(0.2) and sigmoid against PyTorch goldens, central
 * differences (double build) and thread-count independence. */
#include "../layers/activation.h"
#include "misc_util.h"

enum { ACT_RELU, ACT_LEAKY, ACT_SIGMOID };

/* Forward of activation kind into out. */
static void act_forward(int kind, real *out, const real *x, size_t n)
{
    if (kind == ACT_RELU) relu_forward(out, x, n);
    else if (kind == ACT_LEAKY) leaky_relu_forward(out, x, n, (real)0.2);
    else sigmoid_forward(out, x, n);
}

/* Backward of activation kind: din += dout * f'(x). */
static void act_backward(int kind, real *din, const real *dout, const real *x, const real *out,
                         size_t n)
{
    if (kind == ACT_RELU) relu_backward(din, dout, out, n);
    else if (kind == ACT_LEAKY) leaky_relu_backward(din, dout, x, n, (real)0.2);
    else sigmoid_backward(din, dout, out, n);
}

static const char *const act_names[] = {"relu", "leaky", "sigmoid"};

/* Golden cases: forward output, input gradient, and accumulation into a non-zero din. */
static void test_goldens(void)
{
    st_file sf;
    int kind, k;
    if (!gold_open(&sf, "activation.safetensors")) return;
    for (kind = 0; kind < 3; kind++)
        for (k = 0; k < 2; k++) {
            char nm[64], label[80];
            size_t n, n2, n3, n4, i;
            real *x, *out, *dout, *dx, *got, *din;
#define GET(var, field, cnt) (snprintf(nm, sizeof nm, "%s.%d.%s", act_names[kind], k, field), \
                              var = gold_get(&sf, nm, &cnt, NULL))
            GET(x, "x", n); GET(out, "out", n2); GET(dout, "dout", n3); GET(dx, "dx", n4);
#undef GET
            got = zalloc(n);
            din = zalloc(n);
            if (x && out && dout && dx && got && din && n == n2 && n == n3 && n == n4) {
                act_forward(kind, got, x, n);
                snprintf(label, sizeof label, "%s.%d forward", act_names[kind], k);
                gold_close(label, got, out, n);
                act_backward(kind, din, dout, x, got, n);
                snprintf(label, sizeof label, "%s.%d backward", act_names[kind], k);
                gold_close(label, din, dx, n);
                for (i = 0; i < n; i++) din[i] = 1;
                act_backward(kind, din, dout, x, got, n);
                for (i = 0; i < n; i++) din[i] -= 1;
                snprintf(label, sizeof label, "%s.%d backward accumulates", act_names[kind], k);
                gold_close(label, din, dx, n);
                act_backward(kind, NULL, dout, x, got, n); /* NULL din: skipped */
            } else {
                CHECK(0, "%s.%d: golden tensors missing or of different sizes", act_names[kind], k);
            }
            free(x); free(out); free(dout); free(dx); free(got); free(din);
        }
    st_close(&sf);
}

#ifdef LSD_DOUBLE
typedef struct { int kind; const real *r; size_t n; real *tmp; } act_ctx;

/* sum(f(x) * r): the scalar whose gradient is backward(dout = r). */
static double act_objective(const real *x, void *p)
{
    act_ctx *c = (act_ctx *)p;
    double s = 0;
    size_t i;
    act_forward(c->kind, c->tmp, x, c->n);
    for (i = 0; i < c->n; i++) s += c->tmp[i] * c->r[i];
    return s;
}

/* Central differences on a tiny shape, points kept at least 0.05 from the kinks. */
static void test_finite_differences(void)
{
    enum { n = 30 };
    real x[n], r[n], out[n], din[n], tmp[n];
    double fd[n];
    int kind;
    size_t i;
    for (kind = 0; kind < 3; kind++) {
        act_ctx c;
        char label[64];
        fill_uniform(x, n, 0.05, 2.0, 7 + kind);
        for (i = 0; i < n; i += 2) x[i] = -x[i];
        fill_uniform(r, n, -1, 1, 17 + kind);
        c.kind = kind; c.r = r; c.n = n; c.tmp = tmp;
        act_forward(kind, out, x, n);
        memset(din, 0, sizeof din);
        act_backward(kind, din, r, x, out, n);
        fd_grad(fd, x, n, act_objective, &c, 1e-6);
        snprintf(label, sizeof label, "%s finite differences", act_names[kind]);
        fd_close(label, din, fd, n, 1e-8);
    }
}
#endif

/* Outputs and gradients are bit-identical with 1 and 2 threads (sizes above the
 * parallel thresholds). */
static void test_threads(void)
{
    size_t n = 200003, i;
    real *x = zalloc(n), *dout = zalloc(n), *o1 = zalloc(n), *o2 = zalloc(n), *d1 = zalloc(n),
         *d2 = zalloc(n);
    int kind;
    if (!x || !dout || !o1 || !o2 || !d1 || !d2) {
        CHECK(0, "out of memory");
    } else {
        fill_uniform(x, n, -5, 5, 3);
        fill_uniform(dout, n, -1, 1, 4);
        for (kind = 0; kind < 3; kind++) {
            for (i = 0; i < n; i++) d1[i] = d2[i] = 0;
            test_set_threads(1);
            act_forward(kind, o1, x, n);
            act_backward(kind, d1, dout, x, o1, n);
            test_set_threads(2);
            act_forward(kind, o2, x, n);
            act_backward(kind, d2, dout, x, o2, n);
            CHECK(memcmp(o1, o2, n * sizeof *o1) == 0 && memcmp(d1, d2, n * sizeof *d1) == 0,
                  "%s: 1 and 2 threads give different bits", act_names[kind]);
        }
    }
    free(x); free(dout); free(o1); free(o2); free(d1); free(d2);
}

/* relu_backward_inplace: d keeps its value where out > 0 and becomes 0 elsewhere (NaN
 * included); on a large input (parallel) it equals relu_backward into a zeroed buffer (the
 * gradients are nonzero, so 0 + d = d exactly), with 1 and 2 threads. */
static void test_relu_inplace(void)
{
    real d[5] = {1, -2, 3, 4, 5}, out[5] = {0, 1, -1, 0, 2};
    size_t n = 200003, i;
    real *g = zalloc(n), *y = zalloc(n), *ref = zalloc(n), *d1 = zalloc(n), *d2 = zalloc(n);
    out[3] = out[3] / out[3]; /* NaN */
    relu_backward_inplace(d, out, 5);
    CHECK(d[0] == 0 && d[1] == -2 && d[2] == 0 && d[3] == 0 && d[4] == 5,
          "relu_backward_inplace of 1 -2 3 4 5 at out 0 1 -1 NaN 2: %g %g %g %g %g",
          (double)d[0], (double)d[1], (double)d[2], (double)d[3], (double)d[4]);
    if (!g || !y || !ref || !d1 || !d2) {
        CHECK(0, "out of memory");
    } else {
        fill_uniform(g, n, 0.5, 1, 5);
        fill_uniform(y, n, -1, 1, 6);
        relu_backward(ref, g, y, n);
        memcpy(d1, g, n * sizeof *g);
        memcpy(d2, g, n * sizeof *g);
        test_set_threads(1);
        relu_backward_inplace(d1, y, n);
        test_set_threads(2);
        relu_backward_inplace(d2, y, n);
        for (i = 0; i < n && d1[i] == ref[i]; i++) {}
        CHECK(i == n, "relu_backward_inplace differs from relu_backward at %lu", (unsigned long)i);
        CHECK(memcmp(d1, d2, n * sizeof *d1) == 0, "relu_backward_inplace: 1 and 2 threads differ");
    }
    free(g); free(y); free(ref); free(d1); free(d2);
}

int main(void)
{
    real x[4] = {-1, 0, 2, -3}, y[4];
    test_begin("activation");
    relu_forward(y, x, 4);
    CHECK(y[0] == 0 && y[1] == 0 && y[2] == 2 && y[3] == 0, "relu of -1 0 2 -3");
    test_relu_inplace();
    leaky_relu_forward(y, x, 4, (real)0.2);
    CHECK(y[0] == (real)-0.2 && y[1] == 0 && y[2] == 2 && y[3] == (real)-3 * (real)0.2,
          "leaky relu of -1 0 2 -3");
    sigmoid_forward(y, x, 4);
    CHECK(y[1] == (real)0.5, "sigmoid(0) = 0.5, got %.17g", (double)y[1]);
    test_goldens();
    DOUBLE_ONLY(test_finite_differences(), "finite differences");
    test_threads();
    return test_summary();
}
