/* test_optim.c - Adam and SGD against torch.optim (foreach=False) over several steps with two
 * parameter groups and a frozen tensor; beta^t against Python's beta ** t; the step schedule
 * against torch.optim.lr_scheduler.StepLR; a first Adam step in closed form; threads. */
#include "../layers/optim.h"
#include "misc_util.h"

/* Runs one optimiser case: weights and biases (two groups) for `steps` steps, each step's
 * parameters compared with PyTorch's; then the final optimiser state. */
static void test_adam_goldens(st_file *sf, int k, int steps)
{
    char nm[64], label[160];
    size_t nhp, nw, nb, ngw, ngb, nrw, nrb, nmw, nvw, nmb, nvb, nf0, nf;
    double *hp;
    real *w, *b, *gw, *gb, *rw, *rb, *mw_ref, *vw_ref, *mb_ref, *vb_ref, *f0, *f;
    real *mw, *vw, *mb, *vb;
    int s;
#define GET(var, field, cnt) (snprintf(nm, sizeof nm, "adam.%d.%s", k, field), \
                              var = gold_get(sf, nm, &cnt, NULL))
    snprintf(nm, sizeof nm, "adam.%d.hp", k);
    hp = gold_get_f64(sf, nm, &nhp);
    GET(w, "w0", nw); GET(b, "b0", nb); GET(gw, "gw", ngw); GET(gb, "gb", ngb);
    GET(rw, "w", nrw); GET(rb, "b", nrb); GET(mw_ref, "m_w", nmw); GET(vw_ref, "v_w", nvw);
    GET(mb_ref, "m_b", nmb); GET(vb_ref, "v_b", nvb); GET(f0, "frozen0", nf0); GET(f, "frozen", nf);
#undef GET
    mw = zalloc(nw); vw = zalloc(nw); mb = zalloc(nb); vb = zalloc(nb);
    if (hp && w && b && gw && gb && rw && rb && mw_ref && vw_ref && mb_ref && vb_ref && f0 && f &&
        mw && vw && mb && vb && nhp == 6 && ngw == steps * nw && nrw == ngw &&
        ngb == steps * nb && nrb == ngb && nmw == nw && nmb == nb && nf == nf0) {
        for (s = 0; s < steps; s++) {
            adam_update(w, mw, vw, gw + s * nw, nw, s + 1, hp[0], hp[2], hp[3], hp[4], hp[5]);
            adam_update(b, mb, vb, gb + s * nb, nb, s + 1, hp[1], hp[2], hp[3], hp[4], hp[5]);
            snprintf(label, sizeof label, "adam.%d (lr %g/%g, betas %g %g, wd %g) weights step %d",
                     k, hp[0], hp[1], hp[2], hp[3], hp[5], s + 1);
            gold_close(label, w, rw + s * nw, nw);
            snprintf(label, sizeof label, "adam.%d biases step %d", k, s + 1);
            gold_close(label, b, rb + s * nb, nb);
        }
        snprintf(label, sizeof label, "adam.%d exp_avg weights", k);
        gold_close(label, mw, mw_ref, nw);
        snprintf(label, sizeof label, "adam.%d exp_avg_sq weights", k);
        gold_close(label, vw, vw_ref, nw);
        snprintf(label, sizeof label, "adam.%d exp_avg biases", k);
        gold_close(label, mb, mb_ref, nb);
        snprintf(label, sizeof label, "adam.%d exp_avg_sq biases", k);
        gold_close(label, vb, vb_ref, nb);
        CHECK(memcmp(f, f0, nf * sizeof *f) == 0, "adam.%d: PyTorch left the frozen tensor as is",
              k);
    } else {
        CHECK(0, "adam.%d: golden tensors missing or of different sizes", k);
    }
    free(hp); free(w); free(b); free(gw); free(gb); free(rw); free(rb); free(mw_ref);
    free(vw_ref); free(mb_ref); free(vb_ref); free(f0); free(f); free(mw); free(vw); free(mb);
    free(vb);
}

/* SGD (momentum 0.99, weight decay 5e-4, biases at twice the lr) over several steps. */
static void test_sgd_goldens(st_file *sf, int steps)
{
    char label[96];
    size_t nhp, nw, nb, ngw, ngb, nrw, nrb, n1, n2;
    double *hp = gold_get_f64(sf, "sgd.0.hp", &nhp);
    real *w = gold_get(sf, "sgd.0.w0", &nw, NULL), *b = gold_get(sf, "sgd.0.b0", &nb, NULL),
         *gw = gold_get(sf, "sgd.0.gw", &ngw, NULL), *gb = gold_get(sf, "sgd.0.gb", &ngb, NULL),
         *rw = gold_get(sf, "sgd.0.w", &nrw, NULL), *rb = gold_get(sf, "sgd.0.b", &nrb, NULL),
         *bw_ref = gold_get(sf, "sgd.0.buf_w", &n1, NULL),
         *bb_ref = gold_get(sf, "sgd.0.buf_b", &n2, NULL), *bw = zalloc(nw), *bb = zalloc(nb);
    int s;
    if (hp && w && b && gw && gb && rw && rb && bw_ref && bb_ref && bw && bb && nhp == 4 &&
        ngw == steps * nw && nrw == ngw && ngb == steps * nb && nrb == ngb && n1 == nw &&
        n2 == nb) {
        for (s = 0; s < steps; s++) {
            sgd_update(w, bw, gw + s * nw, nw, hp[0], hp[2], hp[3], s == 0);
            sgd_update(b, bb, gb + s * nb, nb, hp[1], hp[2], hp[3], s == 0);
            snprintf(label, sizeof label, "sgd (momentum %g, wd %g) weights step %d", hp[2],
                     hp[3], s + 1);
            gold_close(label, w, rw + s * nw, nw);
            snprintf(label, sizeof label, "sgd biases (lr x2) step %d", s + 1);
            gold_close(label, b, rb + s * nb, nb);
        }
        gold_close("sgd momentum buffer weights", bw, bw_ref, nw);
        gold_close("sgd momentum buffer biases", bb, bb_ref, nb);
    } else {
        CHECK(0, "sgd.0: golden tensors missing or of different sizes");
    }
    free(hp); free(w); free(b); free(gw); free(gb); free(rw); free(rb); free(bw_ref);
    free(bb_ref); free(bw); free(bb);
}

/* StepLR's learning rates (bit for bit) and beta^t against Python's beta ** t. */
static void test_schedules(st_file *sf)
{
    size_t nhp, nlr, nb, nt, nv, i, j;
    double *hp = gold_get_f64(sf, "steplr.hp", &nhp), *lr = gold_get_f64(sf, "steplr.lr", &nlr),
           *betas = gold_get_f64(sf, "betapow.beta", &nb),
           *val = gold_get_f64(sf, "betapow.val", &nv);
    int64_t *ts = gold_get_i64(sf, "betapow.t", &nt);
    if (hp && lr && nhp == 3) {
        double *got = (double *)malloc(nlr * sizeof *got);
        if (got) {
            for (i = 0; i < nlr; i++) got[i] = lr_step_schedule(hp[0], (long)i, (long)hp[1], hp[2]);
            test_close_double("lr_step_schedule vs StepLR (bit-exact)", got, lr, nlr, 0, 0);
        }
        free(got);
    }
    if (betas && ts && val && nv == nb * nt) {
        double worst_pow = 0, worst_bc = 0;
        for (i = 0; i < nb; i++)
            for (j = 0; j < nt; j++) {
                double g = adam_beta_pow(betas[i], (long)ts[j]), r = val[i * nt + j], e1 = 0, e2;
                if (r != 0) e1 = fabs(g - r) / r;
                else e1 = g == 0 ? 0 : 1;
                e2 = fabs((1 - g) - (1 - r)) / (1 - r);
                if (e1 > worst_pow) worst_pow = e1;
                if (e2 > worst_bc) worst_bc = e2;
            }
        /* repeated squaring rounds once per multiplication: the relative error of beta^t
         * grows at most like t * 2^-53 (1e-10 at t = 1e6); the bias correction 1 - beta^t
         * that Adam uses is much closer */
        CHECK(worst_pow <= 2e-10, "beta^t vs Python beta ** t: worst relative error %.3g",
              worst_pow);
        CHECK(worst_bc <= 1e-12, "1 - beta^t vs Python: worst relative error %.3g", worst_bc);
    }
    CHECK(adam_beta_pow(0.9, 0) == 1 && adam_beta_pow(0.9, 1) == 0.9 &&
              adam_beta_pow(0.5, 10) == 1.0 / 1024, "beta^0 = 1, beta^1 = beta, 0.5^10 exact");
    CHECK(lr_step_schedule(1e-3, 100, 0, 0.1) == 1e-3, "step_iters 0: no decay");
    free(hp); free(lr); free(betas); free(val); free(ts);
}

/* A first Adam step without weight decay in closed form: p - lr * g / (|g| + eps). */
static void test_first_step(void)
{
    real p[4] = {1, -2, 0.5, 3}, g[4] = {0.1, -3, 0, 1e-3}, m[4] = {0}, v[4] = {0};
    double lr = 1e-2, eps = 1e-8;
    int i, ok = 1;
    adam_update(p, m, v, g, 4, 1, lr, 0.9, 0.999, eps, 0);
    for (i = 0; i < 4; i++) {
        double p0[4] = {1, -2, 0.5, 3}, gi = (double)g[i];
        double ref = p0[i] - lr * gi / (fabs(gi) + eps);
        ok &= fabs((double)p[i] - ref) <= 1e-6 * fabs(ref) + 1e-12;
    }
    CHECK(ok, "first Adam step = p - lr * g / (|g| + eps)");
}

/* Updates are bit-identical with 1 and 2 threads. */
static void test_threads(void)
{
    size_t n = 100003;
    real *p1 = zalloc(n), *p2 = zalloc(n), *g = zalloc(n), *m1 = zalloc(n), *m2 = zalloc(n),
         *v1 = zalloc(n), *v2 = zalloc(n);
    if (p1 && p2 && g && m1 && m2 && v1 && v2) {
        long t;
        fill_uniform(p1, n, -1, 1, 71);
        memcpy(p2, p1, n * sizeof *p1);
        fill_uniform(g, n, -1, 1, 72);
        for (t = 1; t <= 3; t++) {
            test_set_threads(1);
            adam_update(p1, m1, v1, g, n, t, 1e-3, 0.9, 0.999, 1e-8, 1e-2);
            sgd_update(p1, v1, g, n, 1e-3, 0.99, 5e-4, t == 1);
            test_set_threads(2);
            adam_update(p2, m2, v2, g, n, t, 1e-3, 0.9, 0.999, 1e-8, 1e-2);
            sgd_update(p2, v2, g, n, 1e-3, 0.99, 5e-4, t == 1);
        }
        CHECK(memcmp(p1, p2, n * sizeof *p1) == 0 && memcmp(m1, m2, n * sizeof *m1) == 0,
              "optimisers: 1 and 2 threads give different bits");
    } else {
        CHECK(0, "out of memory");
    }
    free(p1); free(p2); free(g); free(m1); free(m2); free(v1); free(v2);
}

int main(void)
{
    st_file sf;
    test_begin("optim");
    if (gold_open(&sf, "optim.safetensors")) {
        int k;
        for (k = 0; k < 3; k++) test_adam_goldens(&sf, k, 5);
        test_sgd_goldens(&sf, 5);
        test_schedules(&sf);
        st_close(&sf);
    }
    test_first_step();
    test_threads();
    return test_summary();
}
