/*
 * conv_kernels.h - the internals of layers/conv.c, in layers/conv_kernels.c (not part of
 * the library's interface). Geometry and bands: layers/conv_geom.h.
 */
#ifndef LSD_CONV_KERNELS_H
#define LSD_CONV_KERNELS_H

#include "conv_geom.h"

/* The grid pass, for N samples (weight (CG, C, KH, KW)), in bands of at most `budget` col
 * elements:
 *   gout (N, CG, GH, GW) = beta * gout + weight * im2col(img)     (gout may be NULL)
 *   dweight (CG, C*KH*KW) += gin (N, CG, GH, GW) * im2col(img)^T  (dweight may be NULL) */
void conv_grid_pass(real *gout, real beta, real *dweight, const real *gin, const real *img,
                    const real *weight, const ConvGeom *g, int N, size_t budget, real *scratch);
/* The image pass, the adjoint of the grid pass's product, for N samples:
 *   img (N, C, IH, IW) = (add ? img : 0) + weight^T "*" grid (N, CG, GH, GW). */
void conv_image_pass(real *img, int add, const real *grid, const real *weight,
                     const ConvGeom *g, int N, real *scratch);
/* Turns on (1, the default) or off (0) the backward passes' skipping of grid points whose
 * gradient is 0 in every channel (exact: the bits are the same either way); returns the
 * previous state. For tests and benchmarks; not thread-safe. */
int conv_zero_skip(int on);
/* How many bands have skipped zero points so far: *wgrad in weight gradients, *igrad in input
 * gradients (for tests). */
void conv_zero_skip_counts(long *wgrad, long *igrad);
/* How many forward passes so far ran the bands of rows that F's padding repeats one band a
 * thread (for tests). */
long conv_band_parallel_count(void);
/* How many input gradients have run tap by tap (conv_kernels.c, "the image pass tap by tap")
 * so far (for tests). */
long conv_tap_pass_count(void);
/* How many input gradients so far ran their bands of zero-gradient skipping one a thread (for
 * tests). */
long conv_sparse_parallel_count(void);
/* How many input gradients (col2im or 1x1 image passes) so far left out channels with no
 * gradient (for tests). */
long conv_live_pass_count(void);
/* How many rectangles of grid points the direct path for every width has computed so far
 * (for tests). */
long conv_wide_count(void);
/* Sets how many elements a block of the live channels' weights holds in those passes (0: the
 * default, 2^20); returns the previous value. For tests (small blocks); not thread-safe. */
size_t conv_live_block(size_t elems);
/* Work elements both passes of geometry g need (conv_work_size takes the larger kind). */
size_t conv_pass_elems(const ConvGeom *g);

/* y (N, OC, HW) += bias[oc]. */
void conv_add_bias(real *y, const real *bias, int N, int OC, size_t HW);
/* y (N, OC, HW) = max(y + bias[oc], 0) (as relu_forward), one pass. */
void conv_add_bias_relu(real *y, const real *bias, int N, int OC, size_t HW);
/* dbias[oc] += sum of dout (N, OC, HW) over N and HW, in double in a fixed order. */
void conv_bias_grad(real *dbias, const real *dout, int N, int OC, size_t HW);

/* The direct references' loops, each output element a sum gathered in double:
 * grid (N, CG, GH, GW) (= or +=) bias + weight "*" img, the image side's adjoint, and
 * dweight (CG, C, KH, KW) += grid (x) img. bias may be NULL. */
void conv_direct_to_grid(real *grid, int add, const real *img, const real *weight,
                         const real *bias, const ConvGeom *g, int N);
void conv_direct_to_image(real *img, int add, const real *grid, const real *weight,
                          const real *bias, const ConvGeom *g, int N);
void conv_direct_weight_grad(real *dweight, const real *grid, const real *img, const ConvGeom *g,
                             int N);

#endif
