/*
 * report.c - SVG charts, PNG grids and HTML helpers for reports, and the demo's report
 * folder made of them (see report.h).
 */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../data/png.h"
#include "../data/synth.h"

static int finite_d(double v) { return v == v && v < HUGE_VAL && v > -HUGE_VAL; }

void report_html_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

void report_smooth(double *out, const double *y, int n, int win)
{
    int i, j, h = win / 2;
    for (i = 0; i < n; i++) {
        double s = 0;
        int k = 0;
        for (j = i - h; j <= i + h; j++)
            if (j >= 0 && j < n && finite_d(y[j])) s += y[j], k++;
        out[i] = k ? s / k : y[i];
    }
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / n, p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

int report_svg_chart(const char *path, const char *title, const char *xlabel,
                     const char *ylabel, const report_series *s, int ns, int width, int height,
                     int log_y)
{
    FILE *f = fopen(path, "w");
    double x0 = HUGE_VAL, x1 = -HUGE_VAL, y0 = HUGE_VAL, y1 = -HUGE_VAL, st, t;
    int i, k, L = 64, R = 16, T = 28, B = 44, pw = width - L - R, ph = height - T - B;
    if (!f) {
        fprintf(stderr, "lsdseg: cannot write %s\n", path);
        return -1;
    }
    for (k = 0; k < ns; k++)
        for (i = 0; i < s[k].n; i++) {
            double y = s[k].y[i];
            if (!finite_d(y) || (log_y && y <= 0)) continue;
            if (log_y) y = log10(y);
            if (s[k].x[i] < x0) x0 = s[k].x[i];
            if (s[k].x[i] > x1) x1 = s[k].x[i];
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
    if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 - x0 < 1e-12) x1 = x0 + 1;
    if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
    {
        double m = 0.05 * (y1 - y0);
        y0 -= m, y1 += m;
    }
#define SX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define SY(v) (T + (y1 - (v)) / (y1 - y0) * ph)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
            width, height, width, height);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, height);
    fprintf(f, "<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\">", L);
    report_html_escape(f, title);
    fprintf(f, "</text>\n");
    /* grid and ticks */
    st = nice_step(x1 - x0, 6);
    for (t = ceil(x0 / st) * st; t <= x1 + 1e-9 * st; t += st) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", SX(t),
                T, SX(t), T + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", SX(t),
                T + ph + 14, t);
    }
    st = nice_step(y1 - y0, 5);
    for (t = ceil(y0 / st) * st; t <= y1 + 1e-9 * st; t += st) {
        double shown = log_y ? pow(10.0, t) : t;
        if (fabs(t) < 1e-9 * st) t = 0, shown = log_y ? 1 : 0;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L,
                SY(t), L + pw, SY(t));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 4,
                SY(t) + 4, shown);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#444\"/>\n", L, T, pw, ph);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", L + pw / 2, height - 8);
    report_html_escape(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(14,%d) rotate(-90)\" "
               "text-anchor=\"middle\">", T + ph / 2);
    report_html_escape(f, ylabel);
    if (log_y) fputs(" (log scale)", f);
    fprintf(f, "</text>\n");
    /* lines */
    for (k = 0; k < ns; k++) {
        int open = 0;
        for (i = 0; i < s[k].n; i++) {
            double y = s[k].y[i];
            if (!finite_d(y) || (log_y && y <= 0)) continue;
            if (log_y) y = log10(y);
            if (!open) {
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" "
                           "points=\"", s[k].color);
                open = 1;
            }
            fprintf(f, "%.1f,%.1f ", SX(s[k].x[i]), SY(y));
        }
        if (open) fprintf(f, "\"/>\n");
        if (s[k].n <= 40)
            for (i = 0; i < s[k].n; i++) {
                double y = s[k].y[i];
                if (!finite_d(y) || (log_y && y <= 0)) continue;
                if (log_y) y = log10(y);
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                        SX(s[k].x[i]), SY(y), s[k].color);
            }
        /* legend */
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"3\" fill=\"%s\"/>\n",
                L + 10, T + 10 + 15 * k, s[k].color);
        fprintf(f, "<text x=\"%d\" y=\"%d\">", L + 30, T + 15 + 15 * k);
        report_html_escape(f, s[k].name);
        fprintf(f, "</text>\n");
    }
#undef SX
#undef SY
    fprintf(f, "</svg>\n");
    if (fclose(f)) {
        fprintf(stderr, "lsdseg: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int report_grid_create(report_grid *g, int rows, int cols, int th, int tw, int pad)
{
    size_t n;
    memset(g, 0, sizeof *g);
    g->rows = rows, g->cols = cols, g->th = th, g->tw = tw, g->pad = pad;
    g->H = rows * th + (rows + 1) * pad;
    g->W = cols * tw + (cols + 1) * pad;
    n = (size_t)g->H * (size_t)g->W * 3;
    g->rgb = (uint8_t *)malloc(n);
    if (!g->rgb) {
        fprintf(stderr, "lsdseg: out of memory for a %dx%d image grid\n", g->H, g->W);
        return -1;
    }
    memset(g->rgb, 255, n);
    return 0;
}

void report_grid_free(report_grid *g)
{
    free(g->rgb);
    memset(g, 0, sizeof *g);
}

/* Address of pixel (y, x) of tile (r, c). */
static uint8_t *tile_px(report_grid *g, int r, int c, int y, int x)
{
    int Y = g->pad + r * (g->th + g->pad) + y, X = g->pad + c * (g->tw + g->pad) + x;
    return g->rgb + 3 * ((size_t)Y * (size_t)g->W + (size_t)X);
}

void report_grid_put_rgb(report_grid *g, int r, int c, const uint8_t *rgb)
{
    int y;
    for (y = 0; y < g->th; y++)
        memcpy(tile_px(g, r, c, y, 0), rgb + 3 * (size_t)y * (size_t)g->tw, 3 * (size_t)g->tw);
}

void report_grid_put_labels(report_grid *g, int r, int c, const uint8_t *label)
{
    int y, x;
    for (y = 0; y < g->th; y++)
        for (x = 0; x < g->tw; x++)
            synth_class_color(label[(size_t)y * (size_t)g->tw + (size_t)x],
                              tile_px(g, r, c, y, x));
}

void report_grid_put_planar01(report_grid *g, int r, int c, const double *x)
{
    size_t hw = (size_t)g->th * (size_t)g->tw;
    int y, xx, k;
    for (y = 0; y < g->th; y++)
        for (xx = 0; xx < g->tw; xx++) {
            uint8_t *p = tile_px(g, r, c, y, xx);
            for (k = 0; k < 3; k++) {
                double v = x[(size_t)k * hw + (size_t)y * (size_t)g->tw + (size_t)xx] * 255.0;
                p[k] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : (int)(v + 0.5));
            }
        }
}

int report_grid_save(const report_grid *g, const char *path)
{
    lsd_err e;
    if (png_save(path, g->rgb, (uint32_t)g->W, (uint32_t)g->H, 3, NULL, 0, &e)) {
        fprintf(stderr, "lsdseg: %s\n", e.msg);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ the demo's report */

static const char *const method_title[M_COUNT] = {"source only", "LSD (adapted)",
                                                  "oracle (target labels)"};
static const char *const method_color[M_COUNT] = {"#d62728", "#1f77b4", "#2ca02c"};

/* Opens dir/name for writing (its path into path, cap bytes); NULL after a message. */
static FILE *open_report_file(const char *dir, const char *name, char *path, size_t cap)
{
    FILE *f;
    snprintf(path, cap, "%s/%s", dir, name);
    if (!(f = fopen(path, "w"))) fprintf(stderr, "lsdseg demo: cannot write %s\n", path);
    return f;
}

/* summary.csv: each method's target mIoU and per-class IoU (%). */
static int write_summary(const DemoOpts *o, const DemoResult *r)
{
    char path[4096];
    FILE *f;
    int k, c;
    if (!(f = open_report_file(o->out, "summary.csv", path, sizeof path))) return -1;
    fprintf(f, "method,seed,target_miou");
    for (c = 0; c < SYNTH_NUM_CLASSES; c++) fprintf(f, ",%s", synth_class_name(c));
    fprintf(f, "\n");
    for (k = 0; k < M_COUNT; k++) {
        fprintf(f, "%s,%llu,%.4f", demo_method_name[k], (unsigned long long)o->seed, r[k].miou);
        for (c = 0; c < SYNTH_NUM_CLASSES; c++) fprintf(f, ",%.4f", 100 * r[k].iou[c]);
        fprintf(f, "\n");
    }
    if (fclose(f)) {
        fprintf(stderr, "lsdseg demo: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

/* miou.svg, loss_f.svg, loss_gd.svg: the curves. */
static int write_charts(const DemoOpts *o, const DemoResult *r)
{
    char path[4096];
    report_series s[M_COUNT + 1];
    double *x = (double *)malloc((size_t)o->iters * sizeof(double));
    double *sm[4];
    int k, rc = 0, win = (int)(o->iters / 25) | 1;
    long i;
    for (k = 0; k < 4; k++) sm[k] = (double *)malloc((size_t)o->iters * sizeof(double));
    if (!x || !sm[0] || !sm[1] || !sm[2] || !sm[3]) {
        fprintf(stderr, "lsdseg demo: out of memory\n");
        rc = -1;
        goto done;
    }
    for (i = 0; i < o->iters; i++) x[i] = (double)(i + 1);
    /* target mIoU over iterations */
    for (k = 0; k < M_COUNT; k++) {
        s[k].name = method_title[k], s[k].color = method_color[k];
        s[k].x = r[k].eval_it, s[k].y = r[k].eval_miou, s[k].n = r[k].n_eval;
    }
    snprintf(path, sizeof path, "%s/miou.svg", o->out);
    rc |= report_svg_chart(path, "Target validation mIoU (%)", "iteration", "mIoU (%)", s,
                           M_COUNT, 640, 320, 0);
    /* F's loss (segmentation CE; LSD's also holds its adversarial terms) */
    for (k = 0; k < M_COUNT; k++) {
        report_smooth(sm[k], r[k].loss_F, (int)o->iters, win);
        s[k].x = x, s[k].y = sm[k], s[k].n = (int)o->iters;
    }
    s[M_LSD].name = "LSD: CE + adversarial terms";
    s[M_ORACLE].name = "oracle (CE on target)";
    s[M_SOURCE].name = "source only (CE on source)";
    snprintf(path, sizeof path, "%s/loss_f.svg", o->out);
    rc |= report_svg_chart(path, "loss of F and C per image (moving average)", "iteration",
                           "loss", s, M_COUNT, 640, 320, 1);
    /* LSD's D and G */
    report_smooth(sm[0], r[M_LSD].loss_D, (int)o->iters, win);
    report_smooth(sm[1], r[M_LSD].loss_G, (int)o->iters, win);
    s[0].name = "loss_D", s[0].color = "#9467bd", s[0].x = x, s[0].y = sm[0];
    s[1].name = "loss_G", s[1].color = "#ff7f0e", s[1].x = x, s[1].y = sm[1];
    s[0].n = s[1].n = (int)o->iters;
    snprintf(path, sizeof path, "%s/loss_gd.svg", o->out);
    rc |= report_svg_chart(path, "LSD: losses of D and G (moving average)", "iteration", "loss",
                           s, 2, 640, 320, 1);
done:
    free(x);
    for (k = 0; k < 4; k++) free(sm[k]);
    return rc ? -1 : 0;
}

/* predictions.png, reconstructions.png, d_decisions.png. */
static int write_grids(const DemoOpts *o, const DemoData *d, const DemoResult *r)
{
    report_grid g;
    char path[4096];
    size_t hw = (size_t)o->H * o->W;
    int k, rc = 0;
    /* predictions: target image, ground truth, source-only, LSD, oracle */
    if (report_grid_create(&g, o->n_show, 5, o->H, o->W, 4)) return -1;
    for (k = 0; k < o->n_show; k++) {
        report_grid_put_rgb(&g, k, 0, d->val.rgb + (size_t)k * hw * 3);
        report_grid_put_labels(&g, k, 1, d->val.label + (size_t)k * hw);
        report_grid_put_labels(&g, k, 2, r[M_SOURCE].pred + (size_t)k * hw);
        report_grid_put_labels(&g, k, 3, r[M_LSD].pred + (size_t)k * hw);
        report_grid_put_labels(&g, k, 4, r[M_ORACLE].pred + (size_t)k * hw);
    }
    snprintf(path, sizeof path, "%s/predictions.png", o->out);
    rc |= report_grid_save(&g, path);
    report_grid_free(&g);
    /* G's reconstructions: source, G(F(source)), target, G(F(target)) */
    if (report_grid_create(&g, o->n_show, 4, o->H, o->W, 4)) return -1;
    for (k = 0; k < o->n_show; k++) {
        report_grid_put_rgb(&g, k, 0, d->src.rgb + (size_t)k * hw * 3);
        report_grid_put_planar01(&g, k, 1, r[M_LSD].recon + (size_t)(2 * k) * 3 * hw);
        report_grid_put_rgb(&g, k, 2, d->val.rgb + (size_t)k * hw * 3);
        report_grid_put_planar01(&g, k, 3, r[M_LSD].recon + (size_t)(2 * k + 1) * 3 * hw);
    }
    snprintf(path, sizeof path, "%s/reconstructions.png", o->out);
    rc |= report_grid_save(&g, path);
    report_grid_free(&g);
    rc |= dview_demo_png(o->out, r[M_LSD].dview); /* D's decisions, start and end */
    return rc ? -1 : 0;
}

/* An IoU in % with one decimal, or "-" for a class absent from truth and prediction. */
static void fmt_iou(char *buf, double v)
{
    if (v == v)
        sprintf(buf, "%.1f", 100 * v);
    else
        strcpy(buf, "-");
}

/* report.html: the configuration, the table, the curves and the pictures. */
static int write_html(const DemoOpts *o, const DemoResult *r)
{
    char path[4096], b[32];
    FILE *f;
    int k, c;
    if (!(f = open_report_file(o->out, "report.html", path, sizeof path))) return -1;
    fprintf(f,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
            "<title>lsdseg demo, seed %llu</title>\n<style>\n"
            "body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}\n"
            "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px;"
            "text-align:right}th{background:#eee}td.l{text-align:left}\n"
            "img{max-width:100%%;image-rendering:pixelated}.sw{display:inline-block;width:12px;"
            "height:12px;margin-right:4px;vertical-align:middle}\n</style></head><body>\n"
            "<h1>LSD-seg on the built-in synthetic domains</h1>\n"
            "<p>A segmenter (FCN-8s F and C) trained on the flat-shaded <i>source</i> style is "
            "evaluated on held-out scenes of the textured, noisy <i>target</i> style. "
            "<b>source only</b> trains on labelled source scenes; <b>LSD</b> adds unlabelled "
            "target scenes and the generator/discriminator of Sankaranarayanan et al. (CVPR "
            "2018); the <b>oracle</b> trains on labelled target scenes (an upper bound). All "
            "three start from the same initialisation and see the data in the same order.</p>\n",
            (unsigned long long)o->seed);
    fprintf(f,
            "<p>Configuration: seed %llu, %dx%d images, widths vgg %d, fc %d, ngf %d, ndf %d, "
            "%d classes; %ld iterations of batch 1 per method; Adam, F and C lr %g (biases "
            "%g; both x0.1 after %.0f%% of the iterations), G and D lr %g; loss weights adv %g, "
            "cls %g, L1 %g; %d source and %d target "
            "training scenes, %d held-out target scenes (evaluated every %d iterations). "
            "F starts from He-normal weights (no VGG16 file).</p>\n",
            (unsigned long long)o->seed, o->H, o->W, o->cfg.vgg, o->cfg.fc, o->cfg.ngf,
            o->cfg.ndf, o->cfg.n_class, o->iters, o->lr_f, 2 * o->lr_f, 100 * o->decay_at,
            o->lr_gd, o->adv_w,
            o->c_w, o->l1_w, o->n_src, o->n_tgt, o->n_val, o->eval_every);
    fprintf(f, "<h2>Target IoU per class (%%)</h2>\n<table><tr><th>method</th><th>mIoU</th>");
    for (c = 0; c < SYNTH_NUM_CLASSES; c++) {
        uint8_t rgb[3];
        synth_class_color(c, rgb);
        fprintf(f, "<th><span class=\"sw\" style=\"background:#%02x%02x%02x\"></span>%s</th>",
                rgb[0], rgb[1], rgb[2], synth_class_name(c));
    }
    fprintf(f, "<th>pixel acc.</th></tr>\n");
    for (k = 0; k < M_COUNT; k++) {
        fprintf(f, "<tr><td class=\"l\">%s</td><td><b>%.1f</b></td>", method_title[k],
                r[k].miou);
        for (c = 0; c < SYNTH_NUM_CLASSES; c++) {
            fmt_iou(b, r[k].iou[c]);
            fprintf(f, "<td>%s</td>", b);
        }
        fprintf(f, "<td>%.1f</td></tr>\n", r[k].pixel_acc);
    }
    fprintf(f, "</table>\n<p>LSD minus source only: <b>%+.1f</b> mIoU points; the oracle "
               "leaves %.1f points to gain.</p>\n",
            r[M_LSD].miou - r[M_SOURCE].miou, r[M_ORACLE].miou - r[M_LSD].miou);
    fprintf(f,
            "<h2>Curves</h2>\n<p><img src=\"miou.svg\" alt=\"target mIoU\"></p>\n"
            "<p><img src=\"loss_f.svg\" alt=\"loss of F\"></p>\n"
            "<p><img src=\"loss_gd.svg\" alt=\"losses of D and G\"></p>\n"
            "<h2>Predictions on held-out target scenes</h2>\n"
            "<p>Columns: target image, ground truth, source only, LSD, oracle.</p>\n"
            "<p><img src=\"predictions.png\" alt=\"predictions\" width=\"%d\"></p>\n"
            "<h2>G's reconstructions (LSD)</h2>\n"
            "<p>Columns: source image, G(F(source)), target image, G(F(target)).</p>\n"
            "<p><img src=\"reconstructions.png\" alt=\"reconstructions\" width=\"%d\"></p>\n",
            (5 * o->W + 24) * 2 > 960 ? 960 : (5 * o->W + 24) * 2,
            (4 * o->W + 20) * 2 > 960 ? 960 : (4 * o->W + 20) * 2);
    dview_demo_html(f, r[M_LSD].dview, 960); /* ref/dview.c: d_decisions.png */
    fprintf(f,
            "<p>Files: <a href=\"summary.csv\">summary.csv</a>, "
            "<a href=\"source-only/log.csv\">source-only/log.csv</a>, "
            "<a href=\"lsd/log.csv\">lsd/log.csv</a>, "
            "<a href=\"oracle/log.csv\">oracle/log.csv</a>. Written by lsdseg %s "
            "(real = %s).</p>\n</body></html>\n",
            LSD_VERSION, LSD_PRECISION_NAME);
    if (fclose(f)) {
        fprintf(stderr, "lsdseg demo: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

void report_demo_print(const DemoOpts *o, const DemoResult *r)
{
    int k, c;
    char b[32];
    printf("\nTarget IoU per class (%%), seed %llu, %ld iterations, %dx%d:\n\n",
           (unsigned long long)o->seed, o->iters, o->H, o->W);
    printf("%-23s %6s", "method", "mIoU");
    for (c = 0; c < SYNTH_NUM_CLASSES; c++) printf(" %10.10s", synth_class_name(c));
    printf("\n");
    for (k = 0; k < M_COUNT; k++) {
        printf("%-23s %6.1f", method_title[k], r[k].miou);
        for (c = 0; c < SYNTH_NUM_CLASSES; c++) {
            fmt_iou(b, r[k].iou[c]);
            printf(" %10s", b);
        }
        printf("\n");
    }
    printf("\nLSD - source only: %+.1f mIoU points (oracle - LSD: %.1f)\n",
           r[M_LSD].miou - r[M_SOURCE].miou, r[M_ORACLE].miou - r[M_LSD].miou);
}

int report_demo_write(const DemoOpts *o, const DemoData *d, const DemoResult *r)
{
    if (write_summary(o, r) || write_charts(o, r) || write_grids(o, d, r) || write_html(o, r))
        return -1;
    return 0;
}
