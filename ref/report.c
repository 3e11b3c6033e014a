/*
 * report.c - SVG charts, PNG grids and HTML helpers for reports (see report.h).
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
