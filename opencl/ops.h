/*
 * ops.h - the layers of layers/ on an OpenCL device (make OPENCL=1), one to one.
 *
 * Each cl_X mirrors the C function X: the same arguments in the same order, with device
 * buffers (lsd_clbuf, float unless stated) for the arrays, the context first and an
 * lsd_err last; each returns LSD_OK or a status. Backwards accumulate (+=) like the C
 * ones; a NULL gradient buffer is skipped. Buffers are checked to hold the elements an op
 * touches. Work is queued in order on cl->queue; results are visible to the next op, and to
 * the host after lsd_clbuf_read (blocking) or lsd_cl_finish.
 *
 * The functions that return a loss (softmax_ce, l1_loss) read their block partial sums back
 * and add them in double, so they wait for the device.
 */
#ifndef LSD_OPENCL_OPS_H
#define LSD_OPENCL_OPS_H

#include <stdint.h>
#include "cl.h"
#include "../layers/conv.h"
#include "../layers/loss.h"

/* gemm (tensor/gemm.h) on buffers, each matrix starting at element offset oX of its buffer. */
int cl_gemm(lsd_cl *cl, int transA, int transB, int M, int N, int K, float alpha,
            const lsd_clbuf *A, size_t oa, int lda, const lsd_clbuf *B, size_t ob, int ldb,
            float beta, lsd_clbuf *C, size_t oc, int ldc, lsd_err *err);

/* layers/conv.h; scratch holds conv_work_size(s) floats. bias / din / dweight / dbias may be
 * NULL. */
int cl_conv2d_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, const lsd_clbuf *weight,
                      const lsd_clbuf *bias, const ConvShape *s, lsd_clbuf *scratch, lsd_err *err);
int cl_conv2d_backward(lsd_cl *cl, lsd_clbuf *din, lsd_clbuf *dweight, lsd_clbuf *dbias,
                       const lsd_clbuf *dout, const lsd_clbuf *in, const lsd_clbuf *weight,
                       const ConvShape *s, lsd_clbuf *scratch, lsd_err *err);
int cl_convt_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, const lsd_clbuf *weight,
                     const lsd_clbuf *bias, const ConvShape *s, lsd_clbuf *scratch, lsd_err *err);
int cl_convt_backward(lsd_cl *cl, lsd_clbuf *din, lsd_clbuf *dweight, lsd_clbuf *dbias,
                      const lsd_clbuf *dout, const lsd_clbuf *in, const lsd_clbuf *weight,
                      const ConvShape *s, lsd_clbuf *scratch, lsd_err *err);

/* layers/pool.h; argmax is an int32 buffer. */
int cl_maxpool2d_forward(lsd_cl *cl, lsd_clbuf *out, lsd_clbuf *argmax, const lsd_clbuf *in,
                         int N, int C, int H, int W, int OH, int OW, lsd_err *err);
int cl_maxpool2d_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout,
                          const lsd_clbuf *argmax, int N, int C, int H, int W, int OH, int OW,
                          lsd_err *err);

/* layers/activation.h */
int cl_relu_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, size_t n, lsd_err *err);
int cl_relu_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout, const lsd_clbuf *out,
                     size_t n, lsd_err *err);
int cl_leaky_relu_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, size_t n, float slope,
                          lsd_err *err);
int cl_leaky_relu_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout,
                           const lsd_clbuf *in, size_t n, float slope, lsd_err *err);
int cl_sigmoid_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, size_t n, lsd_err *err);
int cl_sigmoid_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout, const lsd_clbuf *out,
                        size_t n, lsd_err *err);

/* layers/norm.h */
int cl_instance_norm_forward(lsd_cl *cl, lsd_clbuf *out, lsd_clbuf *mean, lsd_clbuf *rstd,
                             const lsd_clbuf *in, int N, int C, int HW, float eps,
                             lsd_err *err);
int cl_instance_norm_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout,
                              const lsd_clbuf *in, const lsd_clbuf *mean,
                              const lsd_clbuf *rstd, int N, int C, int HW, lsd_err *err);

/* layers/dropout.h; the device mask is bit-identical to dropout_mask's. */
int cl_dropout_mask(lsd_cl *cl, lsd_clbuf *mask, size_t n, float p, uint64_t seed,
                    uint64_t stream, uint64_t index0, lsd_err *err);
int cl_dropout_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, const lsd_clbuf *mask,
                       size_t n, lsd_err *err);
int cl_dropout_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout,
                        const lsd_clbuf *mask, size_t n, lsd_err *err);
int cl_dropout2d_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, const lsd_clbuf *mask,
                         int NC, int HW, lsd_err *err);
int cl_dropout2d_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout,
                          const lsd_clbuf *mask, int NC, int HW, lsd_err *err);

/* layers/shape.h (crop, concat) */
int cl_crop_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, int N, int C, int H, int W,
                    int top, int left, int OH, int OW, lsd_err *err);
int cl_crop_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout, int N, int C, int H,
                     int W, int top, int left, int OH, int OW, lsd_err *err);
int cl_concat_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *a, int Ca, const lsd_clbuf *b,
                      int Cb, int N, int HW, lsd_err *err);
int cl_concat_backward(lsd_cl *cl, lsd_clbuf *da, lsd_clbuf *db, const lsd_clbuf *dout, int Ca,
                       int Cb, int N, int HW, lsd_err *err);

/* layers/resblock.h; ClRBActs holds the block's device buffers (zero buffers for the caches
 * of a gradient). bias, dweight, dbias may be NULL. */
typedef struct {
    lsd_clbuf z, y, a, out, mean, rstd;
} ClRBActs;
int cl_rb_forward(lsd_cl *cl, ClRBActs *a, const lsd_clbuf *x, const lsd_clbuf *weight,
                  const lsd_clbuf *bias, const lsd_clbuf *mask, const ConvShape *s, float eps,
                  float slope, lsd_clbuf *scratch, lsd_err *err);
int cl_rb_backward(lsd_cl *cl, lsd_clbuf *dx, lsd_clbuf *dweight, lsd_clbuf *dbias, ClRBActs *g,
                   const ClRBActs *a, const lsd_clbuf *x, const lsd_clbuf *weight,
                   const lsd_clbuf *mask, const ConvShape *s, float slope, lsd_clbuf *scratch,
                   lsd_err *err);

/* layers/loss.h; labels is a uint8 buffer (N, HW). Per-pixel terms are computed on the
 * device, summed per loss.c block on the device and the block sums added on the host in
 * double. A bad label is LSD_ERR_RANGE with loss.c's message; nothing is written then. */
int cl_softmax_ce(lsd_cl *cl, double *loss, lsd_clbuf *dlogits, const lsd_clbuf *logits,
                  const lsd_clbuf *labels, int N, int C, int HW, int ignore, loss_reduction red,
                  float grad_scale, lsd_err *err);
int cl_softmax_ce_const(lsd_cl *cl, double *loss, lsd_clbuf *dlogits, const lsd_clbuf *logits,
                        int label, int N, int C, int HW, float grad_scale, lsd_err *err);
int cl_l1_loss(lsd_cl *cl, double *loss, lsd_clbuf *dx, const lsd_clbuf *x,
               const lsd_clbuf *target, size_t n, float grad_scale, lsd_err *err);

/* layers/optim.h's adam_update, bit-identical to the C float build where the device rounds
 * sqrt and division correctly. */
int cl_adam_update(lsd_cl *cl, lsd_clbuf *param, lsd_clbuf *m, lsd_clbuf *v,
                   const lsd_clbuf *grad, size_t n, long t, double lr, double beta1,
                   double beta2, double eps, double weight_decay, lsd_err *err);

/* Vector helpers: x = value; y += alpha * x; out = a + b; dst = src (n elements). */
int cl_vec_fill(lsd_cl *cl, lsd_clbuf *x, size_t n, float value, lsd_err *err);
int cl_vec_axpy(lsd_cl *cl, lsd_clbuf *y, float alpha, const lsd_clbuf *x, size_t n,
                lsd_err *err);
int cl_vec_add(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *a, const lsd_clbuf *b, size_t n,
               lsd_err *err);
int cl_vec_copy(lsd_cl *cl, lsd_clbuf *dst, const lsd_clbuf *src, size_t n, lsd_err *err);

#endif
