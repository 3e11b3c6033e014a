/* test_step.c - the LSD-seg training iteration against PyTorch (golden/gen_nets.py): the
 * three losses, each step's gradients and every updated parameter after one iteration
 * (64x128, batch 1) and after three in a row (32x64, batch 2), the source-only iteration,
 * and a short training run on fixed data that lowers the segmentation loss. */
#include "gan_fixture.h"

/* Checks each step's gradients (D from step 1, G from step 2, F from step 3). */
static void check_grads(st_file *sf, const ParamArena *a)
{
    char name[160];
    int k;
    for (k = 0; k < a->n; k++) {
        const ParamSpec *s = &a->spec[k];
        real *ref;
        if (s->frozen || fixture_in_fed_bias(a, s)) continue;
        sprintf(name, "grad.%s%s", a->prefix, s->name);
        if (!(ref = golden_read(sf, name, s->size))) continue;
        test_close_real(name, a->grad + s->offset, ref, s->size,
                        GRAD_RTOL * test_max_abs(ref, s->size), GRAD_RTOL);
        free(ref);
    }
}

/* Runs `iters` iterations on a golden case and checks losses, gradients and updates. */
static void golden_case(const char *file, int N, int H, int W, int iters)
{
    LsdConfig c = fixture_small();
    LsdStepOptions o = lsd_step_defaults();
    LsdModel m;
    LsdWork w;
    LsdLosses l;
    Fixture fx;
    st_file sf;
    lsd_err err;
    real *f0, *g0, *d0;
    int it;
    if (!fixture_open(&sf, file)) return;
    fixture_setup(&m, &w, &fx, &c, N, H, W);
    lsd_model_init_hash(&m);
    lsd_work_hash_masks(&w);
    o.dropout = LSD_DROPOUT_GIVEN;
    f0 = fixture_snapshot(&m.F.pa);
    g0 = fixture_snapshot(&m.G.pa);
    d0 = fixture_snapshot(&m.D.pa);
    for (it = 0; it < iters; it++) {
        CHECK(lsd_step(&m, &w, &fx.b, &o, &l, &err) == LSD_OK, "step %d: %s", it, err.msg);
        fixture_check_loss(&sf, "loss_D", l.loss_D, it, iters);
        fixture_check_loss(&sf, "loss_G", l.loss_G, it, iters);
        fixture_check_loss(&sf, "loss_F", l.loss_F, it, iters);
    }
    CHECK(m.step == iters, "step count %ld", m.step);
    if (iters == 1) {
        check_grads(&sf, &m.D.pa);
        check_grads(&sf, &m.G.pa);
        check_grads(&sf, &m.F.pa);
    }
    fixture_check_updates(&sf, &m.F.pa, f0, o.lr_f_weight, o.lr_f_bias, "");
    fixture_check_updates(&sf, &m.G.pa, g0, o.lr_gd, o.lr_gd, "");
    fixture_check_updates(&sf, &m.D.pa, d0, o.lr_gd, o.lr_gd, "");
    if (iters > 1) { /* the source-only iteration from the initial parameters */
        double loss;
        LsdModel m2;
        CHECK(lsd_model_create(&m2, &c, &err) == LSD_OK, "create");
        lsd_model_init_hash(&m2);
        CHECK(lsd_step_source_only(&m2, &w, &fx.b, &o, &loss, &err) == LSD_OK, "source only");
        fixture_check_loss(&sf, "so.loss", loss, 0, 1);
        fixture_check_updates(&sf, &m2.F.pa, f0, o.lr_f_weight, o.lr_f_bias, "so.");
        lsd_model_free(&m2);
    }
    free(f0), free(g0), free(d0);
    fixture_teardown(&m, &w, &fx);
    st_close(&sf);
}

/* The reduced networks trained on one fixed batch: the segmentation loss goes down. */
static void smoke_training(void)
{
    LsdConfig c = fixture_small();
    LsdStepOptions o = lsd_step_defaults();
    LsdModel m;
    LsdWork w;
    LsdLosses l;
    Fixture fx;
    lsd_err err;
    double first = 0, last = 0;
    int it, n = 16;
    fixture_setup(&m, &w, &fx, &c, 1, 32, 32);
    CHECK(lsd_model_init(&m, 7, NULL, &err) == LSD_OK, "init: %s", err.msg);
    o.lr_f_weight = 5e-3, o.lr_f_bias = 1e-2; /* faster than the paper, to see it in 16 steps */
    for (it = 0; it < n; it++) {
        if (lsd_step(&m, &w, &fx.b, &o, &l, &err)) {
            CHECK(0, "step %d: %s", it, err.msg);
            break;
        }
        if (it < 3) first += l.loss_seg / 3;
        if (it >= n - 3) last += l.loss_seg / 3;
    }
    CHECK(last < 0.8 * first, "segmentation loss %.1f -> %.1f", first, last);
    CHECK(l.loss_D == l.loss_D && l.loss_G == l.loss_G, "losses finite");
    fixture_teardown(&m, &w, &fx);
}

/* Labels outside 0..n-1 and 255 are refused before anything changes. */
static void bad_labels(void)
{
    LsdConfig c = fixture_small();
    LsdStepOptions o = lsd_step_defaults();
    LsdModel m;
    LsdWork w;
    LsdLosses l;
    Fixture fx;
    lsd_err err;
    real before;
    fixture_setup(&m, &w, &fx, &c, 1, 32, 32);
    lsd_model_init_hash(&m);
    fx.ys[100] = 7;
    before = m.D.pa.param[0];
    CHECK(lsd_step(&m, &w, &fx.b, &o, &l, &err) == LSD_ERR_RANGE, "label 7 refused");
    CHECK(strstr(err.msg, "label 7") != NULL, "message: %s", err.msg);
    CHECK(m.D.pa.param[0] == before && m.step == 0, "nothing changed");
    fixture_teardown(&m, &w, &fx);
}

int main(void)
{
    test_begin("step");
    golden_case("nets_small_b1.safetensors", 1, 64, 128, 1);
    golden_case("nets_small_b2.safetensors", 2, 32, 64, 3);
    bad_labels();
    smoke_training();
    return test_summary();
}
