/*
 * dview.h - what D sees (teaching pictures): D's per-pixel decision among the four domain
 * classes (0 source real, 1 source fake, 2 target real, 3 target fake) and its auxiliary
 * segmentation, on an image x and on G's reconstruction G(F(x)), drawn as one row of
 * d_decisions.png (`lsdseg demo`, `lsdseg forward --png DIR`). docs/demo.md describes it.
 *
 * A row has DVIEW_COLS tiles of the image size, 4 pixels of white around each:
 *   image | D's domain on the image | G(F(x)) | D's domain on G(F(x)) | D's segmentation
 * D's outputs (H/8, W/8) are upsampled to the tile by nearest neighbour.
 */
#ifndef LSD_DVIEW_H
#define LSD_DVIEW_H

#include <stdint.h>
#include <stdio.h>

#include "../data/synthset.h"
#include "../gan/lsd.h"

#define DVIEW_COLS 5
#define DVIEW_PAD 4

/* D's view of one image and of its reconstruction. */
typedef struct {
    int H, W;                   /* the image, and each tile */
    int domain;                 /* LSD_SRC or LSD_TGT */
    int n_class;
    uint8_t *img, *rec;         /* (H, W, 3) the image and G(F(x)), 8-bit RGB */
    uint8_t *dom_img, *dom_rec; /* (H, W) argmax of Ds (domain scores), upsampled (nearest) */
    uint8_t *seg;               /* (H, W) argmax of Dc (class scores) on the image, upsampled */
    double acc_img;             /* fraction of dom_img equal to the real class 2 * domain */
    double acc_rec;             /* fraction of dom_rec equal to the fake class 2 * domain + 1 */
    double other_rec;           /* fraction of dom_rec in the other domain's two classes */
} DView;

/* Runs D (mk_img, mk_rec: the masks of image 0 of a batch, or of ones) on x01 and rec01,
 * (3, H, W) in [0, 1] in D's channel order (RGB, or BGR when bgr: recipe d_input bgr), of an
 * image of `domain` and fills v (tiles in RGB; freed by dview_free). */
int dview_compute(DView *v, const LsdModel *m, const real *x01, const real *rec01, int H, int W,
                  int domain, int bgr, const DMasks *mk_img, const DMasks *mk_rec, lsd_err *err);
/* Frees v[0..n-1]; safe on zeroed structs. */
void dview_free(DView *v, int n);

/* The demo's capture: F, G and D without dropout (sets work's masks to ones) on the first scene
 * of src (v[0], source) and of tgt (v[1], target); bgr: D sees BGR (recipe d_input bgr). */
int dview_capture(DView v[2], const LsdModel *m, LsdWork *work, const SynthSet *src,
                  const SynthSet *tgt, int bgr, lsd_err *err);

/* The display colour and name of domain class k (0..3). */
void dview_domain_color(int k, uint8_t rgb[3]);
const char *dview_domain_name(int k);

/* Writes rows[0..n-1] (one DView each) as a PNG; 0, or -1 with a message on stderr. */
int dview_save_png(const char *path, const DView *const *rows, int n);

/* The demo's picture: dir/d_decisions.png from v = {source start, target start, source end,
 * target end} (rows: source start, source end, target start, target end), and its HTML
 * section (heading, explanation, legend, fractions) into f; width: the most pixels to show
 * the picture at (it is shown at twice its size up to that). */
int dview_demo_png(const char *dir, const DView v[4]);
void dview_demo_html(FILE *f, const DView v[4], int width);

/* `lsdseg forward --png DIR`: D's views of image 0 of b's source and target batches (D's
 * inputs, BGR when bgr) and of their reconstructions in work (after a forward), with the work's D
 * masks; writes dir/d_decisions.png (creating dir) and prints one line. 0, or -1 after a
 * message. */
int dview_forward_png(const char *dir, const LsdModel *m, const LsdWork *work, const LsdBatch *b,
                      int bgr);

#endif
