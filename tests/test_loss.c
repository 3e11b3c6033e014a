/* test_loss.c - softmax cross-entropy (sum, mean, ignore 255), its constant-target form and
 * the L1 loss against torch.nn.functional goldens; label errors; stability; central
 * differences (double build); thread-count independence. */
#include "../layers/loss.h"
#include "misc_util.h"

/* Compares a scalar loss with its golden value (relative tolerance GOLD_RTOL). */
static void loss_close(const char *name, double got, const real *ref)
{
    double r = (double)ref[0];
    test_close_double(name, &got, &r, 1, 0, GOLD_RTOL);
}

/* Cross-entropy golden cases: loss and gradient for sum and mean, a gradient scale,
 * and the loss alone (dlogits NULL). */
static void test_ce_goldens(st_file *sf)
{
    int k;
    for (k = 0; k < 5; k++) {
        char nm[64], label[96];
        int sh[4], N, C, HW, r;
        size_t n, nl, n1, i;
        real *logits, *ref[2] = {NULL, NULL}, *lref[2] = {NULL, NULL}, *d = NULL;
        int64_t *lab64;
        uint8_t *lab = NULL;
        snprintf(nm, sizeof nm, "ce.%d.logits", k);
        logits = gold_get(sf, nm, &n, sh);
        snprintf(nm, sizeof nm, "ce.%d.labels", k);
        lab64 = gold_get_i64(sf, nm, &nl);
        for (r = 0; r < 2; r++) {
            snprintf(nm, sizeof nm, "ce.%d.dlogits_%s", k, r ? "mean" : "sum");
            ref[r] = gold_get(sf, nm, &n1, NULL);
            snprintf(nm, sizeof nm, "ce.%d.loss_%s", k, r ? "mean" : "sum");
            lref[r] = gold_get(sf, nm, &n1, NULL);
        }
        N = sh[0]; C = sh[1]; HW = sh[2] * sh[3];
        d = zalloc(n);
        lab = (uint8_t *)malloc(nl ? nl : 1);
        if (logits && lab64 && ref[0] && ref[1] && lref[0] && lref[1] && d && lab &&
            nl == (size_t)N * HW) {
            for (i = 0; i < nl; i++) lab[i] = (uint8_t)lab64[i];
            for (r = 0; r < 2; r++) {
                double loss = -1;
                loss_reduction red = r ? LOSS_MEAN : LOSS_SUM;
                lsd_err err;
                memset(d, 0, n * sizeof *d);
                CHECK(softmax_ce(&loss, d, logits, lab, N, C, HW, 255, red, 1, &err) == LSD_OK,
                      "ce.%d: softmax_ce failed", k);
                snprintf(label, sizeof label, "ce.%d (%dx%dx%dx%d) %s loss", k, N, C, sh[2],
                         sh[3], r ? "mean" : "sum");
                loss_close(label, loss, lref[r]);
                snprintf(label, sizeof label, "ce.%d %s dlogits", k, r ? "mean" : "sum");
                gold_close(label, d, ref[r], n);
                /* accumulation with a gradient scale: d += 0.25 * grad */
                softmax_ce(&loss, d, logits, lab, N, C, HW, 255, red, (real)0.25, &err);
                for (i = 0; i < n; i++) d[i] = (real)(d[i] / 1.25);
                snprintf(label, sizeof label, "ce.%d %s dlogits, scaled 0.25 and accumulated", k,
                         r ? "mean" : "sum");
                gold_close(label, d, ref[r], n);
                loss = -1;
                softmax_ce(&loss, NULL, logits, lab, N, C, HW, 255, red, 1, &err);
                snprintf(label, sizeof label, "ce.%d %s loss without gradient", k,
                         r ? "mean" : "sum");
                loss_close(label, loss, lref[r]);
            }
        } else {
            CHECK(0, "ce.%d: golden tensors missing or of different sizes", k);
        }
        free(logits); free(lab64); free(lab); free(d);
        for (r = 0; r < 2; r++) { free(ref[r]); free(lref[r]); }
    }
}

/* Constant-target cases (D's domain labels) and their agreement with softmax_ce. */
static void test_const_goldens(st_file *sf)
{
    int k;
    for (k = 0; k < 3; k++) {
        char nm[64], label[96];
        int sh[4], N, C, HW;
        size_t n, n1, n2, nlab, i;
        real *logits, *dref, *lref, *d, *d2;
        int64_t *labv;
        uint8_t *lab;
        snprintf(nm, sizeof nm, "cec.%d.logits", k);
        logits = gold_get(sf, nm, &n, sh);
        snprintf(nm, sizeof nm, "cec.%d.dlogits", k);
        dref = gold_get(sf, nm, &n1, NULL);
        snprintf(nm, sizeof nm, "cec.%d.loss", k);
        lref = gold_get(sf, nm, &n2, NULL);
        snprintf(nm, sizeof nm, "cec.%d.label", k);
        labv = gold_get_i64(sf, nm, &nlab);
        N = sh[0]; C = sh[1]; HW = sh[2] * sh[3];
        d = zalloc(n); d2 = zalloc(n);
        lab = (uint8_t *)malloc((size_t)N * HW);
        if (logits && dref && lref && labv && d && d2 && lab && n1 == n && nlab == 1) {
            double loss = -1, loss2 = -2;
            softmax_ce_const(&loss, d, logits, (int)labv[0], N, C, HW, 1);
            snprintf(label, sizeof label, "cec.%d (label %d) loss", k, (int)labv[0]);
            loss_close(label, loss, lref);
            snprintf(label, sizeof label, "cec.%d dlogits", k);
            gold_close(label, d, dref, n);
            for (i = 0; i < (size_t)N * HW; i++) lab[i] = (uint8_t)labv[0];
            softmax_ce(&loss2, d2, logits, lab, N, C, HW, 255, LOSS_SUM, 1, NULL);
            CHECK(loss == loss2 && memcmp(d, d2, n * sizeof *d) == 0,
                  "cec.%d: softmax_ce_const equals softmax_ce with constant labels", k);
        } else {
            CHECK(0, "cec.%d: golden tensors missing or of different sizes", k);
        }
        free(logits); free(dref); free(lref); free(labv); free(d); free(d2); free(lab);
    }
}

/* L1 golden cases (x == target at some elements: zero gradient there). */
static void test_l1_goldens(st_file *sf)
{
    int k;
    for (k = 0; k < 2; k++) {
        char nm[64], label[96];
        size_t n, n1, n2, n3;
        real *x, *t, *dref, *lref, *d;
        snprintf(nm, sizeof nm, "l1.%d.x", k);
        x = gold_get(sf, nm, &n, NULL);
        snprintf(nm, sizeof nm, "l1.%d.target", k);
        t = gold_get(sf, nm, &n1, NULL);
        snprintf(nm, sizeof nm, "l1.%d.dx", k);
        dref = gold_get(sf, nm, &n2, NULL);
        snprintf(nm, sizeof nm, "l1.%d.loss", k);
        lref = gold_get(sf, nm, &n3, NULL);
        d = zalloc(n);
        if (x && t && dref && lref && d && n1 == n && n2 == n) {
            double loss = l1_loss(d, x, t, n, 1);
            snprintf(label, sizeof label, "l1.%d loss", k);
            loss_close(label, loss, lref);
            snprintf(label, sizeof label, "l1.%d dx", k);
            gold_close(label, d, dref, n);
            snprintf(label, sizeof label, "l1.%d loss without gradient", k);
            loss_close(label, l1_loss(NULL, x, t, n, 1), lref);
        } else {
            CHECK(0, "l1.%d: golden tensors missing or of different sizes", k);
        }
        free(x); free(t); free(dref); free(lref); free(d);
    }
}

/* Label out of range: LSD_ERR_RANGE naming value and position, nothing written; an all-ignored
 * mean is 0 with no gradient; huge logits stay finite; bad constant label gives NaN. */
static void test_edges(void)
{
    real logits[8] = {1, 2, 3, 4, 5, 6, 7, 8}, d[8], big[4] = {1000, -1000, 0, 0};
    uint8_t lab[4] = {0, 255, 1, 0}, none[4] = {255, 255, 255, 255};
    double loss = 123;
    lsd_err err;
    int i, untouched = 1, rc;
    for (i = 0; i < 8; i++) d[i] = (real)0.5;
    lab[2] = 7;
    rc = softmax_ce(&loss, d, logits, lab, 1, 2, 4, 255, LOSS_SUM, 1, &err);
    for (i = 0; i < 8; i++) untouched &= d[i] == (real)0.5;
    CHECK(rc == LSD_ERR_RANGE, "label 7 of 2 classes: LSD_ERR_RANGE, got %d", rc);
    CHECK(strstr(err.msg, "label 7") != NULL && strstr(err.msg, "pixel 2") != NULL,
          "message names the value and the pixel: %s", err.msg);
    CHECK(untouched && loss == 123, "nothing written on a label error");
    rc = softmax_ce(&loss, d, logits, none, 1, 2, 4, 255, LOSS_MEAN, 1, &err);
    for (i = 0; i < 8; i++) untouched &= d[i] == (real)0.5;
    CHECK(rc == LSD_OK && loss == 0 && untouched, "mean over no labelled pixel: 0, no gradient");
    rc = softmax_ce(&loss, d, logits, none, 1, 2, 4, 255, LOSS_SUM, 1, &err);
    CHECK(rc == LSD_OK && loss == 0, "sum over no labelled pixel: 0");
    CHECK(softmax_ce(&loss, d, logits, lab, 1, 0, 4, 255, LOSS_SUM, 1, &err) == LSD_ERR_ARG,
          "zero classes refused");
    /* logits (1, 2, 2): pixel 0 is (1000, 0), pixel 1 is (-1000, 0); labels 1 and 1:
     * losses log(1 + e^1000) = 1000 (to double precision) and log(1 + e^-1000) = 0 */
    lab[0] = 1; lab[1] = 1;
    for (i = 0; i < 4; i++) d[i] = 0;
    softmax_ce(&loss, d, big, lab, 1, 2, 2, 255, LOSS_SUM, 1, &err);
    CHECK(loss == 1000.0, "huge logits: loss 1000, got %.17g", loss);
    CHECK(d[0] == 1 && d[2] == -1 && d[1] == 0 && d[3] == 0,
          "huge logits: gradient (1, 0, -1, 0), got (%g, %g, %g, %g)", (double)d[0],
          (double)d[1], (double)d[2], (double)d[3]);
    softmax_ce_const(&loss, NULL, logits, 2, 1, 2, 4, 1);
    CHECK(loss != loss, "softmax_ce_const with label >= C gives NaN");
    {
        real x[3] = {1, 2, 3}, t[3] = {1, 0, 5}, dx[3] = {0, 0, 0};
        double l = l1_loss(dx, x, t, 3, 3);
        CHECK(fabs(l - 4.0 / 3) < 1e-15 && dx[0] == 0 && dx[1] == 1 && dx[2] == -1,
              "l1 of (1,2,3) vs (1,0,5): 4/3, gradient 3*(0, 1, -1)/3");
    }
}

#ifdef LSD_DOUBLE
typedef struct { const uint8_t *lab; int N, C, HW, kind; const real *t; } loss_ctx;

/* The loss as a function of its input: kind 0 CE sum, 1 CE mean, 2 CE const label 1, 3 L1. */
static double loss_objective(const real *x, void *p)
{
    loss_ctx *c = (loss_ctx *)p;
    double loss = 0;
    size_t n = (size_t)c->N * c->C * c->HW;
    if (c->kind <= 1)
        softmax_ce(&loss, NULL, x, c->lab, c->N, c->C, c->HW, 255, c->kind ? LOSS_MEAN : LOSS_SUM,
                   1, NULL);
    else if (c->kind == 2)
        softmax_ce_const(&loss, NULL, x, 1, c->N, c->C, c->HW, 1);
    else
        loss = l1_loss(NULL, x, c->t, n, 1);
    return loss;
}

/* Central differences on (2, 3, 2x3) with ignored pixels; L1 with |x - t| >= 0.05. */
static void test_finite_differences(void)
{
    enum { N = 2, C = 3, HW = 6, n = N * C * HW };
    static const char *const names[4] = {"softmax_ce sum", "softmax_ce mean", "softmax_ce_const",
                                         "l1"};
    real x[n], t[n], d[n];
    uint8_t lab[N * HW] = {0, 1, 2, 255, 1, 0, 2, 2, 255, 0, 1, 1};
    double fd[n];
    loss_ctx c;
    char label[64];
    size_t i;
    fill_uniform(x, n, -3, 3, 51);
    fill_uniform(t, n, 0.05, 1, 52);
    for (i = 0; i < n; i++) t[i] = x[i] + (i % 2 ? t[i] : -t[i]);
    c.lab = lab; c.N = N; c.C = C; c.HW = HW; c.t = t;
    for (c.kind = 0; c.kind < 4; c.kind++) {
        double loss;
        memset(d, 0, sizeof d);
        if (c.kind <= 1)
            softmax_ce(&loss, d, x, lab, N, C, HW, 255, c.kind ? LOSS_MEAN : LOSS_SUM, 1, NULL);
        else if (c.kind == 2)
            softmax_ce_const(&loss, d, x, 1, N, C, HW, 1);
        else
            l1_loss(d, x, t, n, 1);
        fd_grad(fd, x, n, loss_objective, &c, 1e-6);
        snprintf(label, sizeof label, "%s finite differences", names[c.kind]);
        fd_close(label, d, fd, n, 1e-8);
    }
}
#endif

/* Loss and gradient bit-identical with 1 and 2 threads. */
static void test_threads(void)
{
    int N = 2, C = 19, HW = 1001;
    size_t n = (size_t)N * C * HW, i;
    real *x = zalloc(n), *t = zalloc(n), *d1 = zalloc(n), *d2 = zalloc(n);
    uint8_t *lab = (uint8_t *)malloc((size_t)N * HW);
    if (x && t && d1 && d2 && lab) {
        double l1s[4], l2s[4];
        int th;
        fill_uniform(x, n, -4, 4, 61);
        fill_uniform(t, n, -4, 4, 62);
        for (i = 0; i < (size_t)N * HW; i++) lab[i] = (uint8_t)(i % 7 == 3 ? 255 : i * 5 % 19);
        for (th = 1; th <= 2; th++) {
            real *d = th == 1 ? d1 : d2;
            double *l = th == 1 ? l1s : l2s;
            test_set_threads(th);
            softmax_ce(&l[0], d, x, lab, N, C, HW, 255, LOSS_SUM, 1, NULL);
            softmax_ce(&l[1], d, x, lab, N, C, HW, 255, LOSS_MEAN, 1, NULL);
            softmax_ce_const(&l[2], d, x, 3, N, C, HW, 1);
            l[3] = l1_loss(d, x, t, n, 1);
        }
        CHECK(memcmp(l1s, l2s, sizeof l1s) == 0 && memcmp(d1, d2, n * sizeof *d1) == 0,
              "losses: 1 and 2 threads give different bits");
    } else {
        CHECK(0, "out of memory");
    }
    free(x); free(t); free(d1); free(d2); free(lab);
}

int main(void)
{
    st_file sf;
    test_begin("loss");
    if (gold_open(&sf, "loss.safetensors")) {
        test_ce_goldens(&sf);
        test_const_goldens(&sf);
        test_l1_goldens(&sf);
        st_close(&sf);
    }
    test_edges();
    DOUBLE_ONLY(test_finite_differences(), "finite differences");
    test_threads();
    return test_summary();
}
