/*
 * test_clnet.c - the networks and the LSD-seg iteration on an OpenCL device (opencl/clnet.h)
 * against the C reference (gan/).
 *
 * Built always; without OPENCL=1, or without an OpenCL platform, it skips visibly. It opens
 * device $LSD_CL_DEVICE of platform $LSD_CL_PLATFORM (default 0, 0). A reduced configuration
 * (vgg 4, fc 16, ngf 4, ndf 4, 5 classes, batch 1, 32x64; the hash-rule parameters and
 * inputs of the goldens, gan_fixture.h) is run through:
 *  1. lsd_forward_all vs cl_lsd_forward_all with the hash masks: every F, C, G, D output;
 *  2. one lsd_step vs cl_lsd_step (given hash masks): the four losses, the gradients of
 *     F, G and D left by the step (per tensor), the Adam moments, and the parameter
 *     updates as deltas from the common start; a second step with dropout drawn from the
 *     RNG: device masks bit-identical to lsd_work_draw_masks, losses and deltas again;
 *  3. lsd_step_source_only vs cl_lsd_step_source_only;
 *  4. lsd_infer vs cl_lsd_infer;
 *  5. (LSD_SLOW=1) the full-size widths (vgg 64, fc 4096, ngf 64, ndf 64, 19 classes) at
 *     32x64: forward_all.
 *
 * Tolerances. Activations and gradients: per tensor, |got - ref| <= tol * max|ref| +
 * tol * |ref| with tol = 2e-3 (float32 sums in another order through up to ~40 layers with
 * instance norms; measured errors are printed). Losses: relative 1e-4. Adam's first step
 * moves a parameter by about -lr * sign(g), so a delta is compared (to 1e-3 * lr) only where
 * |g_ref| > 1e-3 * max|g_ref| of its tensor (elsewhere the sign of a near-zero gradient may
 * legitimately differ); every delta must stay within 2 * lr of the reference.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#ifndef LSD_OPENCL

int main(void)
{
    test_begin("clnet");
    test_skip("built without OPENCL=1: the OpenCL backend is not compiled (make OPENCL=1)");
    return test_summary();
}

#else

#include "../opencl/clnet.h"
#include "gan_fixture.h"

#define TOL 2e-3

/* Worst |got - ref| / max|ref| of a tensor, for the log. */
static double rel_err(const real *got, const real *ref, size_t n)
{
    double m = test_max_abs(ref, n), e = 0;
    size_t i;
    for (i = 0; i < n; i++)
        if (fabs((double)got[i] - ref[i]) > e) e = fabs((double)got[i] - ref[i]);
    return m > 0 ? e / m : e;
}

static double worst; /* largest rel_err seen in a group (test-local, reset per group) */

static void close_t(const char *name, const real *got, const real *ref, size_t n)
{
    double m = test_max_abs(ref, n), r = rel_err(got, ref, n);
    if (r > worst) worst = r;
    test_close_real(name, got, ref, n, TOL * m + 1e-30, TOL);
}

static void copy_model(LsdModel *dst, const LsdModel *src)
{
    lsd_err err;
    const ParamArena *s[3];
    ParamArena *d[3];
    int i;
    if (lsd_model_create(dst, &src->cfg, &err)) test_die("model", &err);
    s[0] = &src->F.pa, s[1] = &src->G.pa, s[2] = &src->D.pa;
    d[0] = &dst->F.pa, d[1] = &dst->G.pa, d[2] = &dst->D.pa;
    for (i = 0; i < 3; i++) {
        size_t b = s[i]->total * sizeof(real);
        memcpy(d[i]->param, s[i]->param, b);
        memcpy(d[i]->grad, s[i]->grad, b);
        memcpy(d[i]->m, s[i]->m, b);
        memcpy(d[i]->v, s[i]->v, b);
    }
    dst->step = src->step;
}

/* Compares gradients, Adam moments and parameter deltas from start of every tensor of an
 * arena. With eps >= 1e-3 Adam's step -lr g / (|g| + eps) is smooth in g and every delta is
 * compared to lr * (TOL * max|g| / eps + 1e-3); with a tiny eps only the deltas of gradients
 * above 1e-3 of their tensor's max (to 1e-3 * lr). */
static void compare_arena(const char *what, const ParamArena *dev, const ParamArena *ref,
                          const ParamArena *start, double lr_max, double eps)
{
    char name[128];
    int k, bad_delta = 0, compared = 0;
    double wg = 0, wd = 0, lastw = 0;
    size_t i;
    for (k = 0; k < ref->n; k++) {
        const ParamSpec *s = &ref->spec[k];
        size_t o = s->offset, n = s->size;
        double gm = test_max_abs(ref->grad + o, n);
        if (s->frozen) {
            CHECK(!memcmp(dev->param + o, ref->param + o, n * sizeof(real)),
                  "%s %s (frozen) changed", what, s->name);
            continue;
        }
        if (fixture_in_fed_bias(ref, s)) { /* gradient zero up to rounding: only its size */
            double md = test_max_abs(dev->grad + o, n);
            CHECK(md <= 1e-2 * lastw && gm <= 1e-2 * lastw, "%s %s: gradient %.3g (C %.3g) "
                  "is not small beside its weight's %.3g", what, s->name, md, gm, lastw);
            continue;
        }
        if (!s->is_bias) lastw = gm;
        sprintf(name, "%s grad %s", what, s->name);
        close_t(name, dev->grad + o, ref->grad + o, n);
        if (rel_err(dev->grad + o, ref->grad + o, n) > wg)
            wg = rel_err(dev->grad + o, ref->grad + o, n);
        sprintf(name, "%s adam m %s", what, s->name);
        close_t(name, dev->m + o, ref->m + o, n);
        for (i = 0; i < n; i++) {
            double dd = (double)dev->param[o + i] - start->param[o + i];
            double dr = (double)ref->param[o + i] - start->param[o + i];
            double e = fabs(dd - dr);
            if (e > 2 * lr_max * (1 + 1e-3)) bad_delta++;
            if (eps >= 1e-3) {
                compared++;
                if (e > wd) wd = e;
                if (e > lr_max * (TOL * gm / eps + 1e-3)) bad_delta++;
            } else if (fabs((double)ref->grad[o + i]) > 1e-3 * gm && gm > 0) {
                compared++;
                if (e > wd) wd = e;
                if (e > 1e-3 * lr_max) bad_delta++;
            }
        }
    }
    CHECK(bad_delta == 0, "%s: %d parameter deltas differ from the C step's", what, bad_delta);
    printf("clnet: %s: worst gradient error %.2e of max, worst delta error %.2e (lr %.0e, %d "
           "deltas compared)\n", what, wg, wd, lr_max, compared);
}

static void compare_losses(const char *what, const LsdLosses *d, const LsdLosses *r)
{
    double got[4], ref[4];
    got[0] = d->loss_D, got[1] = d->loss_G, got[2] = d->loss_F, got[3] = d->loss_seg;
    ref[0] = r->loss_D, ref[1] = r->loss_G, ref[2] = r->loss_F, ref[3] = r->loss_seg;
    test_close_double(what, got, ref, 4, 1e-6, 1e-4);
    printf("clnet: %s: D %.6f/%.6f G %.6f/%.6f F %.6f/%.6f seg %.6f/%.6f (device/C)\n", what,
           got[0], ref[0], got[1], ref[1], got[2], ref[2], got[3], ref[3]);
}

/* Every output of the forward structs of two host works (one filled by the device). */
static void compare_forward(const char *what, const LsdWork *d, const LsdWork *r)
{
    char name[128];
    int s, k, l;
    worst = 0;
    for (s = 0; s < 2; s++) {
        const FActs *a = &d->fa[s], *b = &r->fa[s];
        for (l = 0; l < LSD_NCONV; l++) {
            const ConvShape *cs = &b->conv_shape[l];
            sprintf(name, "%s F[%d] conv %d", what, s, l);
            close_t(name, a->conv[l], b->conv[l], (size_t)cs->N * cs->OC * cs->OH * cs->OW);
        }
        sprintf(name, "%s F[%d] fc7_drop", what, s);
        close_t(name, a->fc7_drop, b->fc7_drop,
                (size_t)b->N * b->fc7_shape.OC * b->fc7_shape.OH * b->fc7_shape.OW);
        for (k = 0; k < LSD_GBLOCKS; k++) {
            const ConvShape *cs = &r->ga[s].blk[k].convt_shape;
            sprintf(name, "%s G[%d] block %d", what, s, k);
            close_t(name, d->ga[s].blk[k].rb[1].out, r->ga[s].blk[k].rb[1].out,
                    (size_t)cs->N * cs->OC * cs->OH * cs->OW);
        }
        sprintf(name, "%s G[%d] img", what, s);
        close_t(name, d->ga[s].img, r->ga[s].img, (size_t)r->N * 3 * r->H * r->W);
    }
    sprintf(name, "%s C score", what);
    close_t(name, d->ca.score, r->ca.score, (size_t)r->N * r->ca.score_fr_shape.OC * r->H * r->W);
    sprintf(name, "%s D domain_score", what);
    close_t(name, d->da.domain_score, r->da.domain_score, (size_t)r->N * 4 * r->da.h * r->da.w);
    sprintf(name, "%s D class_score", what);
    close_t(name, d->da.class_score, r->da.class_score,
            (size_t)r->N * r->da.class_score_shape.OC * r->da.h * r->da.w);
    printf("clnet: %s: worst error %.2e of the tensor's max\n", what, worst);
}

/* The reference side: model m with the hash-rule parameters, work with the hash masks. */
static void setup(LsdModel *m, LsdWork *work, const LsdConfig *c, int N, int H, int W,
                  lsd_work_mode mode)
{
    lsd_err err;
    if (lsd_model_create(m, c, &err)) test_die("model", &err);
    lsd_model_init_hash(m);
    if (lsd_work_create(work, c, N, H, W, mode, &err)) test_die("work", &err);
    lsd_work_hash_masks(work);
}

/* The device side of a comparison on model m: a host work wd of the mode (with the hash masks
 * in a training work), the inputs fx (batch 1, H x W), and the device model cm and work cw;
 * one check. Returns the status of the device set-up. */
static int setup_device(lsd_cl *cl, ClModel *cm, ClWork *cw, LsdWork *wd, Fixture *fx,
                        const LsdModel *m, const LsdConfig *c, int H, int W,
                        lsd_work_mode mode, const char *what)
{
    lsd_err err;
    int rc;
    if (lsd_work_create(wd, c, 1, H, W, mode, &err)) test_die("work", &err);
    if (mode == LSD_WORK_TRAIN) lsd_work_hash_masks(wd);
    if (!fixture_make(fx, 1, H, W, c->n_class)) test_die("fixture", NULL);
    rc = cl_model_create(cm, cl, m, &err);
    if (!rc) rc = cl_work_create(cw, cl, wd, &err);
    CHECK(rc == LSD_OK, "%s: device model and work: %s", what, rc ? err.msg : "");
    return rc;
}

/* Frees the host side of a comparison: the inputs, the device's host work wd and the
 * reference work wr. */
static void free_works(Fixture *fx, LsdWork *wd, LsdWork *wr)
{
    fixture_free(fx);
    lsd_work_free(wd);
    lsd_work_free(wr);
}

/* 1. forward intermediates. */
static void test_forward(lsd_cl *cl, const LsdConfig *c, int H, int W, const char *what)
{
    LsdModel m;
    LsdWork wr, wd;
    ClModel cm;
    ClWork cw;
    Fixture fx;
    lsd_err err;
    int rc;
    setup(&m, &wr, c, 1, H, W, LSD_WORK_TRAIN);
    rc = setup_device(cl, &cm, &cw, &wd, &fx, &m, c, H, W, LSD_WORK_TRAIN, what);
    if (!rc) {
        printf("clnet: %s: device model %.1f MB, work %.1f MB\n", what,
               cl_model_bytes(&cm) / 1e6, cw.bytes / 1e6);
        lsd_forward_all(&m, &wr, &fx.b);
        rc = cl_lsd_forward_all(&cm, &cw, &fx.b, &err);
        CHECK(rc == LSD_OK, "%s: cl_lsd_forward_all: %s", what, rc ? err.msg : "");
        if (!rc) compare_forward(what, &wd, &wr);
        cl_work_free(&cw);
        cl_model_free(&cm);
    }
    free_works(&fx, &wd, &wr);
    lsd_model_free(&m);
}

/* 2. two full iterations (given masks, then RNG dropout). */
static void test_step(lsd_cl *cl, const LsdConfig *c)
{
    LsdModel m0, mr, md;
    LsdWork wr, wd;
    ClModel cm;
    ClWork cw;
    Fixture fx;
    LsdLosses lr, ld;
    LsdStepOptions o = lsd_step_defaults();
    lsd_err err;
    int rc, H = 32, W = 64, it;
    setup(&m0, &wr, c, 1, H, W, LSD_WORK_TRAIN);
    copy_model(&mr, &m0);
    copy_model(&md, &m0);
    rc = setup_device(cl, &cm, &cw, &wd, &fx, &md, c, H, W, LSD_WORK_TRAIN, "step");
    if (rc) goto out;
    for (it = 0; it < 2; it++) {
        /* step 1: given masks and a large eps (smooth Adam, every delta comparable); step 2:
         * dropout drawn from the RNG and the paper's eps */
        o.dropout = it == 0 ? LSD_DROPOUT_GIVEN : LSD_DROPOUT_RNG;
        o.eps = it == 0 ? 0.1 : lsd_step_defaults().eps;
        o.seed = 77;
        rc = lsd_step(&mr, &wr, &fx.b, &o, &lr, &err);
        CHECK(rc == LSD_OK, "lsd_step: %s", rc ? err.msg : "");
        rc = cl_lsd_step(&cm, &cw, &fx.b, &o, &ld, &err);
        CHECK(rc == LSD_OK, "cl_lsd_step: %s", rc ? err.msg : "");
        if (rc) break;
        rc = cl_model_download(&cm, &md, &err);
        CHECK(rc == LSD_OK, "download: %s", rc ? err.msg : "");
        CHECK(md.step == mr.step && md.step == it + 1, "step count %ld vs %ld", md.step,
              mr.step);
        compare_losses(it ? "step 2 (RNG dropout) losses" : "step 1 (given masks) losses", &ld,
                       &lr);
        if (it == 1) {
            rc = cl_work_download_masks(&cw, &err);
            CHECK(rc == LSD_OK && wd.nmasks == wr.nmasks &&
                      !memcmp(wd.mask_mem, wr.mask_mem, cw.mask_total * sizeof(real)),
                  "device dropout masks differ from lsd_work_draw_masks's");
        }
        worst = 0;
        if (it == 0) {
            compare_arena("step 1 F", &md.F.pa, &mr.F.pa, &m0.F.pa, o.lr_f_bias, o.eps);
            compare_arena("step 1 G", &md.G.pa, &mr.G.pa, &m0.G.pa, o.lr_gd, o.eps);
        }
        /* with eps 1e-8, Adam's first moves of near-zero gradients have random signs on
         * both sides, and G's and F's gradients of step 2 come after such moves of D and G:
         * only D's (computed first) are compared */
        compare_arena(it ? "step 2 D" : "step 1 D", &md.D.pa, &mr.D.pa, &m0.D.pa, o.lr_gd,
                      o.eps);
        /* the next step starts from the same parameters on both sides: compare its deltas
         * from here */
        lsd_model_free(&m0);
        copy_model(&m0, &mr);
        rc = cl_model_upload(&cm, &mr, &err);
        CHECK(rc == LSD_OK, "upload: %s", rc ? err.msg : "");
    }
    if (!rc) { /* a label neither a class nor 255 is refused before anything changes */
        long before = cm.step;
        uint8_t keep = fx.ys[100];
        fx.ys[100] = (uint8_t)c->n_class;
        rc = cl_lsd_step(&cm, &cw, &fx.b, &o, &ld, &err);
        CHECK(rc == LSD_ERR_RANGE && strstr(err.msg, "pixel 100") && cm.step == before,
              "cl_lsd_step refuses label %d at pixel 100: %s", c->n_class,
              rc ? err.msg : "accepted");
        fx.ys[100] = keep;
    }
    cl_work_free(&cw);
    cl_model_free(&cm);
out:
    free_works(&fx, &wd, &wr);
    lsd_model_free(&m0);
    lsd_model_free(&mr);
    lsd_model_free(&md);
}

/* 3. the source-only iteration. */
static void test_source_only(lsd_cl *cl, const LsdConfig *c)
{
    LsdModel m0, mr, md;
    LsdWork wr, wd;
    ClModel cm;
    ClWork cw;
    Fixture fx;
    LsdStepOptions o = lsd_step_defaults();
    lsd_err err;
    double lr = 0, ld = 0;
    int rc, H = 32, W = 64;
    setup(&m0, &wr, c, 1, H, W, LSD_WORK_SOURCE_ONLY);
    copy_model(&mr, &m0);
    copy_model(&md, &m0);
    o.dropout = LSD_DROPOUT_RNG;
    rc = setup_device(cl, &cm, &cw, &wd, &fx, &md, c, H, W, LSD_WORK_SOURCE_ONLY, "source-only");
    if (!rc) {
        rc = lsd_step_source_only(&mr, &wr, &fx.b, &o, &lr, &err);
        CHECK(rc == LSD_OK, "lsd_step_source_only: %s", rc ? err.msg : "");
        rc = cl_lsd_step_source_only(&cm, &cw, &fx.b, &o, &ld, &err);
        CHECK(rc == LSD_OK, "cl_lsd_step_source_only: %s", rc ? err.msg : "");
        if (!rc) rc = cl_model_download(&cm, &md, &err);
        if (!rc) {
            test_close_double("source-only loss", &ld, &lr, 1, 1e-6, 1e-4);
            printf("clnet: source-only loss %.6f/%.6f (device/C)\n", ld, lr);
            compare_arena("source-only F", &md.F.pa, &mr.F.pa, &m0.F.pa, o.lr_f_bias, o.eps);
            CHECK(!memcmp(md.G.pa.param, m0.G.pa.param, m0.G.pa.total * sizeof(real)),
                  "source-only changed G");
        }
        cl_work_free(&cw);
        cl_model_free(&cm);
    }
    free_works(&fx, &wd, &wr);
    lsd_model_free(&m0);
    lsd_model_free(&mr);
    lsd_model_free(&md);
}

/* 4. inference (any size C accepts, here 64x96), and errors. */
static void test_infer(lsd_cl *cl, const LsdConfig *c)
{
    LsdModel m;
    LsdWork wr, wd;
    ClModel cm;
    ClWork cw;
    Fixture fx;
    lsd_err err;
    int rc, H = 64, W = 96;
    setup(&m, &wr, c, 1, H, W, LSD_WORK_INFER);
    rc = setup_device(cl, &cm, &cw, &wd, &fx, &m, c, H, W, LSD_WORK_INFER, "infer");
    if (!rc) {
        LsdLosses l;
        LsdStepOptions o = lsd_step_defaults();
        lsd_infer(&m, &wr, fx.xs);
        rc = cl_lsd_infer(&cm, &cw, fx.xs, &err);
        CHECK(rc == LSD_OK, "cl_lsd_infer: %s", rc ? err.msg : "");
        worst = 0;
        if (!rc) close_t("infer scores", wd.ca.score, wr.ca.score,
                         (size_t)c->n_class * H * W);
        printf("clnet: infer: worst error %.2e of max\n", worst);
        rc = cl_lsd_step(&cm, &cw, &fx.b, &o, &l, &err);
        CHECK(rc == LSD_ERR_ARG, "cl_lsd_step on an inference work: refused (%d)", rc);
        cl_work_free(&cw);
        cl_model_free(&cm);
    }
    free_works(&fx, &wd, &wr);
    lsd_model_free(&m);
}

int main(void)
{
    lsd_cl cl;
    LsdConfig c;
    (void)fixture_small; /* gan_fixture.h's helpers this program does not need */
    (void)check_against;
    test_begin("clnet");
    if (!test_cl_open(&cl)) return test_summary();
    printf("clnet: %s / %s\n", cl.platform_name, cl.device_name);
    c.vgg = 4, c.fc = 16, c.ngf = 4, c.ndf = 4, c.n_class = 5;
    test_forward(&cl, &c, 32, 64, "forward (reduced)");
    test_step(&cl, &c);
    test_source_only(&cl, &c);
    test_infer(&cl, &c);
    if (getenv("LSD_SLOW") && atoi(getenv("LSD_SLOW"))) {
        c = lsd_config_default();
        test_forward(&cl, &c, 32, 64, "forward (full widths)");
    } else {
        test_skip("full-size widths at 32x64 (set LSD_SLOW=1)");
    }
    lsd_cl_close(&cl);
    return test_summary();
}

#endif
