/*
 * cmd_forward.c - `lsdseg forward`: the forward intermediates of F, C, G and D on a case
 * file (the same CASE as `lsdseg step`), before any update, with the masks the first pass
 * of `lsdseg step` would use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gan/lsd.h"
#include "../tensor/safetensors.h"
#include "dview.h"
#include "case.h"
#include "options.h"

int cmd_forward(int argc, char **argv);

/* Adds an (N, C, h, w) buffer to the writer. */
static int add4(st_writer *wr, const char *name, const real *p, int n, int c, int h, int w,
                lsd_err *err)
{
    int64_t s[4];
    s[0] = n, s[1] = c, s[2] = h, s[3] = w;
    return st_writer_add_real(wr, name, 4, s, p, err);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg forward --in CASE.safetensors --out RESULT.safetensors\n"
            "                      [--no-dropout] [--seed S] [--png DIR] [recipe options]\n"
            "                      [--backend cpu|opencl] [--cl-platform P] [--cl-device D]\n"
            "\n"
            "Of the recipe options (lsdseg step --help) only --d-input matters here: with bgr,\n"
            "D sees xs_forD and xt_forD with their channels reversed (--recipe authors too).\n"
            "\n"
            "Writes, before any update: score (C's output on xs), fc7, pool4, pool3 (F on xs),\n"
            "gen_s, gen_t (G on xs and xt), d_s_real, d_c_real (D's two heads on xs_forD).\n"
            "Masks: masks.<name> from CASE where given, otherwise random (seed, step) or, with\n"
            "--no-dropout, none.\n"
            "\n"
            "--png DIR writes DIR/d_decisions.png (DIR is created if missing): what D sees on\n"
            "the first source and the first target image (one row each) with the same masks.\n"
            "Columns: the image (xs_forD, xt_forD); D's argmax over its 4 domain classes on it\n"
            "(dark blue source real, light blue source fake, orange target real, light orange\n"
            "target fake); G(F(x)) (gen_s, gen_t); D's domain argmax on G(F(x)); D's class\n"
            "argmax on the image (synthetic palette up to 8 classes, Cityscapes' beyond). D's\n"
            "H/8 x W/8 maps are enlarged by nearest neighbour; tiles are H x W with 4 white\n"
            "pixels around each, images in RGB (with --d-input bgr, D is fed BGR as above).\n"
            "It also prints the fraction of pixels D labels correctly.\n");
}

/* `lsdseg forward`. */
int cmd_forward(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *png = NULL;
    LsdStepOptions o = lsd_step_defaults();
    LsdModel m;
    LsdWork work;
    LsdBatch b;
    real *imgs[4];
    uint8_t *ys = NULL;
    real *bgr = NULL;
    lsd_err err;
    st_writer wr;
    int i, rc, given = 0, png_rc = 0;
    opt_device dev;
    opt_dwork dw;
    opt_recipe rec;
    memset(&dev, 0, sizeof dev);
    memset(&dw, 0, sizeof dw);
    memset(&rec, 0, sizeof rec);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-dropout")) {
            o.dropout = LSD_DROPOUT_OFF;
        } else if (v && !strcmp(a, "--in")) {
            in = v, i++;
        } else if (v && !strcmp(a, "--out")) {
            out = v, i++;
        } else if (v && !strcmp(a, "--png")) {
            png = v, i++;
        } else if (v && !strcmp(a, "--seed")) {
            o.seed = (uint64_t)strtoull(v, NULL, 10), i++;
        } else if (v && opt_is_device_option(a)) {
            if (opt_device_arg("forward", &dev, a, v)) return 2;
            i++;
        } else if (v && opt_is_recipe_option(a)) {
            if (opt_recipe_arg("forward", &rec, a, v)) return 2;
            i++;
        } else {
            fprintf(stderr, "lsdseg forward: unknown or incomplete option '%s' (try --help)\n",
                    a);
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "lsdseg forward: --in and --out are required (try --help)\n");
        return 2;
    }
    memset(&m, 0, sizeof m);
    rc = lsd_case_load(in, 0, &o, &m, &work, imgs, &ys, &b, &given, &err);
    if (!rc) rc = opt_device_start(&dev, &m, &err);
    if (!rc) rc = opt_dwork_start(&dev, &dw, &work, &err);
    o.recipe = opt_recipe_value(&rec);
    if (!rc && o.recipe.d_input == LSD_DINPUT_BGR) { /* D's real images in BGR order */
        size_t n_img = (size_t)work.N * 3 * work.H * work.W;
        if (!(bgr = (real *)malloc(2 * n_img * sizeof(real))))
            rc = lsd_fail(&err, LSD_ERR_NOMEM, "out of memory for D's BGR images");
        if (!rc) {
            lsd_flip_channels(bgr, b.xs01, work.N, work.H, work.W);
            lsd_flip_channels(bgr + n_img, b.xt01, work.N, work.H, work.W);
            b.xs01 = bgr, b.xt01 = bgr + n_img;
        }
    }
    if (!rc) rc = opt_dev_forward_all(&dev, &dw, &m, &work, &b, &err);
    opt_dwork_stop(&dw);
    opt_device_stop(&dev);
    if (!rc) {
        const FActs *f = &work.fa[0];
        const ConvShape *s7 = &f->fc7_shape;
        int N = work.N, k = m.cfg.n_class;
        st_writer_init(&wr);
        rc = add4(&wr, "score", work.ca.score, N, k, work.H, work.W, &err);
        if (!rc) rc = add4(&wr, "fc7", f->fc7_drop, N, s7->OC, s7->OH, s7->OW, &err);
        if (!rc)
            rc = add4(&wr, "pool4", f->pool[3], N, 8 * m.cfg.vgg, f->pool_h[3], f->pool_w[3], &err);
        if (!rc)
            rc = add4(&wr, "pool3", f->pool[2], N, 4 * m.cfg.vgg, f->pool_h[2], f->pool_w[2], &err);
        if (!rc) rc = add4(&wr, "gen_s", work.ga[0].img, N, 3, work.H, work.W, &err);
        if (!rc) rc = add4(&wr, "gen_t", work.ga[1].img, N, 3, work.H, work.W, &err);
        if (!rc) rc = add4(&wr, "d_s_real", work.da.domain_score, N, 4, work.da.h, work.da.w, &err);
        if (!rc) rc = add4(&wr, "d_c_real", work.da.class_score, N, k, work.da.h, work.da.w, &err);
        if (!rc) rc = st_writer_save(&wr, out, &err);
        st_writer_free(&wr);
        if (!rc && png) /* ref/dview.c; with --d-input bgr, b's D images are BGR */
            png_rc = dview_forward_png(png, &m, &work, &b, o.recipe.d_input == LSD_DINPUT_BGR);
    }
    free(bgr);
    if (lsd_case_free("forward", rc, &err, &m, &work, imgs, ys) || png_rc) return 1;
    printf("forward: %d masks from the case file\n", given);
    return 0;
}
