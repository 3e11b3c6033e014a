/*
 * dview.c - what D sees: D's four-way domain decision and its segmentation on an image and
 * on G's reconstruction of it, as PNG rows and HTML (see dview.h).
 */
#include "dview.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../data/labels.h"
#include "../data/synth.h"
#include "report.h"

/* Domain colours: hue tells the domain (blue source, orange target), lightness real (dark)
 * or fake (pale). */
static const uint8_t domain_colors[4][3] = {
    {31, 119, 180}, {158, 202, 237}, {230, 110, 0}, {255, 205, 140}};
static const char *const domain_names[4] = {"source real", "source fake", "target real",
                                            "target fake"};

void dview_domain_color(int k, uint8_t rgb[3])
{
    if (k >= 0 && k < 4)
        memcpy(rgb, domain_colors[k], 3);
    else
        rgb[0] = rgb[1] = rgb[2] = 0;
}

const char *dview_domain_name(int k) { return k >= 0 && k < 4 ? domain_names[k] : "?"; }

/* The class colour of a segmentation: the synthetic palette (the demo's label maps) for up
 * to SYNTH_NUM_CLASSES classes, Cityscapes' train-id colours beyond. */
static void class_color(int c, int n_class, uint8_t rgb[3])
{
    if (n_class <= SYNTH_NUM_CLASSES)
        synth_class_color(c, rgb);
    else
        labels_train_color(c, rgb);
}

void dview_free(DView *v, int n)
{
    int k;
    for (k = 0; k < n; k++) {
        free(v[k].img);
        free(v[k].rec);
        free(v[k].dom_img);
        free(v[k].dom_rec);
        free(v[k].seg);
        memset(&v[k], 0, sizeof v[k]);
    }
}

/* A planar image (3, hw) in [0, 1], RGB (or BGR when bgr), as 8-bit RGB (hw, 3), rounded as
 * report_grid_put_planar01. */
static void to_rgb8(uint8_t *rgb, const real *x, size_t hw, int bgr)
{
    size_t i;
    int k;
    for (i = 0; i < hw; i++)
        for (k = 0; k < 3; k++) {
            double v = (double)x[(size_t)(bgr ? 2 - k : k) * hw + i] * 255.0;
            rgb[3 * i + (size_t)k] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : (int)(v + 0.5));
        }
}

/* out (H, W) = argmax over the n channels of s (n, h, w) (the first maximum wins), upsampled
 * by nearest neighbour: pixel (y, x) reads cell (y * h / H, x * w / W). */
static void argmax_up(uint8_t *out, const real *s, int n, int h, int w, int H, int W)
{
    size_t hw = (size_t)h * (size_t)w;
    int y, x, c;
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) {
            size_t i = (size_t)((long)y * h / H) * (size_t)w + (size_t)((long)x * w / W);
            int best = 0;
            real bv = s[i];
            for (c = 1; c < n; c++)
                if (s[(size_t)c * hw + i] > bv) bv = s[(size_t)c * hw + i], best = c;
            out[(size_t)y * (size_t)W + (size_t)x] = (uint8_t)best;
        }
}

/* Fraction of the n labels equal to k. */
static double fraction(const uint8_t *lab, size_t n, int k)
{
    size_t i, hit = 0;
    for (i = 0; i < n; i++) hit += lab[i] == k;
    return n ? (double)hit / (double)n : 0;
}

int dview_compute(DView *v, const LsdModel *m, const real *x01, const real *rec01, int H, int W,
                  int domain, int bgr, const DMasks *mk_img, const DMasks *mk_rec, lsd_err *err)
{
    DActs a;
    real *scratch;
    size_t hw = (size_t)H * (size_t)W, nw;
    int rc;
    memset(v, 0, sizeof *v);
    v->H = H, v->W = W, v->domain = domain, v->n_class = m->cfg.n_class;
    if ((rc = d_acts_alloc(&a, &m->cfg, 1, H, W, 1, err))) return rc;
    nw = d_work_size(&a);
    scratch = (real *)malloc((nw ? nw : 1) * sizeof(real));
    v->img = (uint8_t *)malloc(3 * hw);
    v->rec = (uint8_t *)malloc(3 * hw);
    v->dom_img = (uint8_t *)malloc(hw);
    v->dom_rec = (uint8_t *)malloc(hw);
    v->seg = (uint8_t *)malloc(hw);
    if (!scratch || !v->img || !v->rec || !v->dom_img || !v->dom_rec || !v->seg) {
        free(scratch);
        d_acts_free(&a);
        dview_free(v, 1);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for D's view of a %dx%d image", H,
                        W);
    }
    to_rgb8(v->img, x01, hw, bgr);
    to_rgb8(v->rec, rec01, hw, bgr);
    d_forward(&a, x01, &m->D, mk_img, scratch);
    argmax_up(v->dom_img, a.domain_score, 4, a.h, a.w, H, W);
    argmax_up(v->seg, a.class_score, v->n_class, a.h, a.w, H, W);
    d_forward(&a, rec01, &m->D, mk_rec, scratch);
    argmax_up(v->dom_rec, a.domain_score, 4, a.h, a.w, H, W);
    v->acc_img = fraction(v->dom_img, hw, 2 * domain);
    v->acc_rec = fraction(v->dom_rec, hw, 2 * domain + 1);
    v->other_rec = fraction(v->dom_rec, hw, 2 - 2 * domain) +
                   fraction(v->dom_rec, hw, 3 - 2 * domain);
    free(scratch);
    d_acts_free(&a);
    return LSD_OK;
}

int dview_capture(DView v[2], const LsdModel *m, LsdWork *work, const SynthSet *src,
                  const SynthSet *tgt, int bgr, lsd_err *err)
{
    size_t n3 = (size_t)3 * work->H * work->W, nb = n3 * (size_t)work->N;
    real *x = (real *)malloc(6 * nb * sizeof(real)); /* xs, xt, xs01, xt01, the last two BGR */
    LsdBatch b;
    int k, zero = 0, rc;
    memset(v, 0, 2 * sizeof *v);
    if (!x) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for D's view");
    for (k = 0; k < work->N; k++) { /* every image of the batch: the first scene */
        size_t o = (size_t)k * n3;
        synthset_batch(src, &zero, 1, x + o, x + 2 * nb + o, NULL);
        synthset_batch(tgt, &zero, 1, x + nb + o, x + 3 * nb + o, NULL);
    }
    lsd_flip_channels(x + 4 * nb, x + 2 * nb, 2 * work->N, work->H, work->W);
    b.xs = x, b.xt = x + nb, b.ys = NULL;
    b.xs01 = x + (bgr ? 4 : 2) * nb, b.xt01 = x + (bgr ? 5 : 3) * nb; /* D's inputs */
    lsd_work_draw_masks(work, 0, 0, 0);
    lsd_forward_all(m, work, &b);
    rc = dview_compute(&v[0], m, b.xs01, work->ga[LSD_SRC].img, work->H, work->W, LSD_SRC, bgr,
                       &work->dm[LSD_SRC_REAL], &work->dm[LSD_SRC_FAKE], err);
    if (!rc)
        rc = dview_compute(&v[1], m, b.xt01, work->ga[LSD_TGT].img, work->H, work->W, LSD_TGT, bgr,
                           &work->dm[LSD_TGT_REAL], &work->dm[LSD_TGT_FAKE], err);
    if (rc) dview_free(v, 1);
    free(x);
    return rc;
}

/* Tile (r, c) of g from a label map (th, tw): domain colours, or class colours of n_class
 * classes; tmp holds (th, tw, 3). */
static void put_map(report_grid *g, uint8_t *tmp, int r, int c, const uint8_t *lab, int n_class,
                    int domains)
{
    size_t i, hw = (size_t)g->th * (size_t)g->tw;
    for (i = 0; i < hw; i++) {
        if (domains)
            dview_domain_color(lab[i], tmp + 3 * i);
        else
            class_color(lab[i], n_class, tmp + 3 * i);
    }
    report_grid_put_rgb(g, r, c, tmp);
}

int dview_save_png(const char *path, const DView *const *rows, int n)
{
    report_grid g;
    uint8_t *tmp;
    int r, rc;
    if (n < 1) return -1;
    tmp = (uint8_t *)malloc((size_t)3 * rows[0]->H * rows[0]->W);
    if (!tmp) {
        fprintf(stderr, "lsdseg: out of memory for %s\n", path);
        return -1;
    }
    if (report_grid_create(&g, n, DVIEW_COLS, rows[0]->H, rows[0]->W, DVIEW_PAD)) {
        free(tmp);
        return -1;
    }
    for (r = 0; r < n; r++) {
        const DView *v = rows[r];
        report_grid_put_rgb(&g, r, 0, v->img);
        put_map(&g, tmp, r, 1, v->dom_img, v->n_class, 1);
        report_grid_put_rgb(&g, r, 2, v->rec);
        put_map(&g, tmp, r, 3, v->dom_rec, v->n_class, 1);
        put_map(&g, tmp, r, 4, v->seg, v->n_class, 0);
    }
    rc = report_grid_save(&g, path);
    report_grid_free(&g);
    free(tmp);
    return rc;
}

/* The demo's rows in display order: source start, source end, target start, target end. */
static void demo_rows(const DView *rows[4], const DView v[4])
{
    rows[0] = &v[0], rows[1] = &v[2], rows[2] = &v[1], rows[3] = &v[3];
}

int dview_demo_png(const char *dir, const DView v[4])
{
    char path[4096];
    const DView *rows[4];
    demo_rows(rows, v);
    snprintf(path, sizeof path, "%s/d_decisions.png", dir);
    return dview_save_png(path, rows, 4);
}

/* A colour swatch and its name (the report's "sw" style). */
static void swatch(FILE *f, const uint8_t rgb[3], const char *name)
{
    fprintf(f, "<span class=\"sw\" style=\"background:#%02x%02x%02x\"></span>%s&nbsp;&nbsp; ",
            rgb[0], rgb[1], rgb[2], name);
}

void dview_demo_html(FILE *f, const DView v[4], int width)
{
    static const char *const row_name[4] = {"source, start", "source, end", "target, start",
                                            "target, end"};
    const DView *rows[4];
    uint8_t rgb[3];
    int k, shown = (DVIEW_COLS * v[0].W + (DVIEW_COLS + 1) * DVIEW_PAD) * 2;
    demo_rows(rows, v);
    if (shown > width) shown = width;
    fprintf(f,
            "<h2>What D sees (LSD)</h2>\n"
            "<p>D labels every pixel (at 1/8 of the resolution, shown enlarged) with one of "
            "four domain classes, and also segments it. Columns: image, D's domain decision on "
            "it, G's reconstruction G(F(image)), D's domain decision on the reconstruction, "
            "D's segmentation of the image (class colours as above). Rows: the first source "
            "training scene and the first held-out target scene, before the first LSD "
            "iteration (start: D untrained, its decisions arbitrary) and after the last "
            "(end), without dropout.</p>\n"
            "<p>What to look for. The images never pass through F or G: D's decision on them "
            "only shows how well D tells the two real styles apart, and it usually ends near "
            "100%%. The contest is on the reconstructions. D is trained to call them fake "
            "(source fake, target fake); G to make D call them real of their own domain; F "
            "to make D call them real of the <i>other</i> domain (G(F(target)) source real, "
            "G(F(source)) target real), which is the feature alignment. So when what D gets "
            "right on G(F(image)) falls from start to end, D has lost its grip on the "
            "reconstructions, and the colour it falls to says who won: the image's own real "
            "colour is G's realism, the other domain's colours are F's alignment (D can no "
            "longer tell which domain a reconstruction came from; last column of the table)."
            "</p>\n<p>");
    for (k = 0; k < 4; k++) {
        dview_domain_color(k, rgb);
        swatch(f, rgb, dview_domain_name(k));
    }
    fprintf(f, "</p>\n<p><img src=\"d_decisions.png\" alt=\"D's decisions\" width=\"%d\"></p>\n",
            shown);
    fprintf(f, "<table><tr><th>row</th><th>D right on the image</th>"
               "<th>D right on G(F(image))</th><th>G(F(image)) put in the other domain</th>"
               "</tr>\n");
    for (k = 0; k < 4; k++)
        fprintf(f, "<tr><td class=\"l\">%s</td><td>%.1f%% (%s)</td><td>%.1f%% (%s)</td>"
                   "<td>%.1f%%</td></tr>\n",
                row_name[k], 100 * rows[k]->acc_img, dview_domain_name(2 * rows[k]->domain),
                100 * rows[k]->acc_rec, dview_domain_name(2 * rows[k]->domain + 1),
                100 * rows[k]->other_rec);
    fprintf(f, "</table>\n");
}

int dview_forward_png(const char *dir, const LsdModel *m, const LsdWork *work, const LsdBatch *b,
                      int bgr)
{
    DView v[2];
    const DView *rows[2];
    char path[4096];
    lsd_err e;
    struct stat st;
    int rc = -1;
    memset(v, 0, sizeof v);
    if (stat(dir, &st) == 0 ? !S_ISDIR(st.st_mode) : mkdir(dir, 0777) != 0) {
        fprintf(stderr, "lsdseg forward: cannot create the folder %s for --png (a file of "
                        "that name, or a missing parent folder?)\n", dir);
        return -1;
    }
    if (dview_compute(&v[0], m, b->xs01, work->ga[LSD_SRC].img, work->H, work->W, LSD_SRC, bgr,
                      &work->dm[LSD_SRC_REAL], &work->dm[LSD_SRC_FAKE], &e) ||
        dview_compute(&v[1], m, b->xt01, work->ga[LSD_TGT].img, work->H, work->W, LSD_TGT, bgr,
                      &work->dm[LSD_TGT_REAL], &work->dm[LSD_TGT_FAKE], &e)) {
        fprintf(stderr, "lsdseg forward: %s\n", e.msg);
        goto done;
    }
    rows[0] = &v[0], rows[1] = &v[1];
    snprintf(path, sizeof path, "%s/d_decisions.png", dir);
    if (dview_save_png(path, rows, 2)) goto done;
    printf("forward: %s: D right on %.1f%% of xs_forD, %.1f%% of G(F(xs)), %.1f%% of "
           "xt_forD, %.1f%% of G(F(xt))\n",
           path, 100 * v[0].acc_img, 100 * v[0].acc_rec, 100 * v[1].acc_img,
           100 * v[1].acc_rec);
    rc = 0;
done:
    dview_free(v, 2);
    return rc;
}
