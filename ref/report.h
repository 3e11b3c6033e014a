/*
 * report.h - pieces of a self-contained HTML report: SVG line charts, PNG image
 * grids (RGB tiles and colourised label maps), and an HTML table of per-class
 * scores; and the demo's report made of them. Files are written next to each other
 * so report.html opens in a browser from the disk, without a server. ref/ code: it
 * may print.
 */
#ifndef LSD_REPORT_H
#define LSD_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "demo.h"

/* One line of a chart: n points (x[i], y[i]); NaN y values are skipped. */
typedef struct {
    const char *name;
    const char *color; /* an SVG colour, e.g. "#1f77b4" */
    const double *x, *y;
    int n;
} report_series;

/* Writes an SVG line chart (width x height pixels) with axes, ticks, a legend and a title.
 * log_y: logarithmic y axis (non-positive values skipped). Returns 0, or -1 with a message
 * on stderr. */
int report_svg_chart(const char *path, const char *title, const char *xlabel,
                     const char *ylabel, const report_series *s, int ns, int width, int height,
                     int log_y);

/* Moving average over a centred window of `win` points (edges use what exists). */
void report_smooth(double *out, const double *y, int n, int win);

/* An RGB image made of rows x cols tiles of th x tw pixels, separated by pad pixels of
 * white. */
typedef struct {
    int rows, cols, th, tw, pad, H, W;
    uint8_t *rgb; /* (H, W, 3) */
} report_grid;

int report_grid_create(report_grid *g, int rows, int cols, int th, int tw, int pad);
void report_grid_free(report_grid *g);
/* Tile (r, c) from an RGB image (th, tw, 3). */
void report_grid_put_rgb(report_grid *g, int r, int c, const uint8_t *rgb);
/* Tile (r, c) from a label map (th, tw) coloured with synth_class_color. */
void report_grid_put_labels(report_grid *g, int r, int c, const uint8_t *label);
/* Tile (r, c) from a planar float image (3, th, tw) in [0, 1] (G's output). */
void report_grid_put_planar01(report_grid *g, int r, int c, const double *x);
/* Writes the grid as a PNG; returns 0, or -1 with a message on stderr. */
int report_grid_save(const report_grid *g, const char *path);

/* Writes s into f with &, <, >, " escaped. */
void report_html_escape(FILE *f, const char *s);

/* The demo's report folder o->out: summary.csv, the curves (miou.svg, loss_f.svg,
 * loss_gd.svg), the pictures (predictions.png, reconstructions.png, d_decisions.png) and
 * report.html around them. r: the three runs (M_COUNT). Returns 0, or -1 after a message. */
int report_demo_write(const DemoOpts *o, const DemoData *d, const DemoResult *r);
/* The per-class IoU table of the three runs on stdout. */
void report_demo_print(const DemoOpts *o, const DemoResult *r);

#endif
