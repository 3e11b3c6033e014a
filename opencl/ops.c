/*
 * ops.c - host wrappers of the device kernels, one per function of layers/ (see ops.h).
 *
 * The convolutions follow layers/conv.c step by step, with its geometry (layers/conv_geom.h):
 * bands of grid rows within the same CONV_COL_BUDGET (the largest that fit, where the CPU
 * prefers smaller ones), the same im2col / gemm / col2im sequence per sample, the same 1x1
 * path straight to gemm. Only the gemm and the summation orders of the reductions differ
 * from the C code, so results agree to float rounding.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

#include "../layers/conv_geom.h"
#include "../layers/optim.h"

/* ---- kernel arguments */

typedef struct {
    lsd_cl *cl;
    lsd_cl_kernel k;
    int i, rc;
    lsd_err *err;
} Args;

static Args args_of(lsd_cl *cl, lsd_cl_kernel k, lsd_err *err)
{
    Args a;
    a.cl = cl;
    a.k = k;
    a.i = 0;
    a.rc = LSD_OK;
    a.err = err;
    return a;
}

static void a_set(Args *a, size_t size, const void *v)
{
    if (a->rc == LSD_OK) a->rc = lsd_cl_arg(a->cl, a->k, a->i, size, v, a->err);
    a->i++;
}
static void a_int(Args *a, int v) { a_set(a, sizeof v, &v); }
static void a_float(Args *a, float v) { a_set(a, sizeof v, &v); }
static void a_ulong(Args *a, cl_ulong v) { a_set(a, sizeof v, &v); }
/* A bare cl_mem (the context's own buffers, offset 0). */
static void a_mem(Args *a, cl_mem m) { a_set(a, sizeof m, &m); }
/* A buffer as (cl_mem, element offset off + extra); NULL gives a NULL pointer and 0. */
static void a_bufx(Args *a, const lsd_clbuf *b, size_t extra)
{
    cl_mem m = b ? b->mem : NULL;
    a_set(a, sizeof m, &m);
    a_int(a, b ? (int)(b->off + extra) : 0);
}
static void a_buf(Args *a, const lsd_clbuf *b) { a_bufx(a, b, 0); }

/* Launches over n items (1-D, local size chosen by the implementation). */
static int run1(Args *a, size_t n, const char *what)
{
    if (a->rc != LSD_OK) return a->rc;
    return lsd_cl_launch1(a->cl, a->k, n, 0, what, a->err);
}
/* Launches over (g0, g1) items. */
static int run2(Args *a, size_t g0, size_t g1, const char *what)
{
    if (a->rc != LSD_OK) return a->rc;
    return lsd_cl_launch2(a->cl, a->k, g0, g1, 0, 0, what, a->err);
}
/* Launches `groups` work-groups of cl->red_local items (the tree reductions). */
static int run_groups(Args *a, size_t groups, const char *what)
{
    if (a->rc != LSD_OK) return a->rc;
    return lsd_cl_launch1(a->cl, a->k, groups * a->cl->red_local, a->cl->red_local, what,
                          a->err);
}

/* Checks that buffer b (named name) of op what holds n elements of esize bytes. A NULL b
 * passes when optional. */
static int need(const lsd_clbuf *b, size_t n, size_t esize, int optional, const char *what,
                const char *name, lsd_err *err)
{
    if (!b) {
        if (optional) return LSD_OK;
        return lsd_fail(err, LSD_ERR_ARG, "%s: %s is NULL", what, name);
    }
    if (!b->mem) return lsd_fail(err, LSD_ERR_ARG, "%s: %s is not allocated", what, name);
    if (b->esize != esize)
        return lsd_fail(err, LSD_ERR_ARG, "%s: %s has %lu-byte elements, not %lu", what, name,
                        (unsigned long)b->esize, (unsigned long)esize);
    if (b->n < n)
        return lsd_fail(err, LSD_ERR_RANGE, "%s: %s holds %lu elements, needs %lu", what, name,
                        (unsigned long)b->n, (unsigned long)n);
    return LSD_OK;
}
#define NEED(b, n, opt, what) \
    do { int rc_ = need(b, n, sizeof(float), opt, what, #b, err); if (rc_) return rc_; } while (0)
#define NEEDI(b, n, esz, what) \
    do { int rc_ = need(b, n, esz, 0, what, #b, err); if (rc_) return rc_; } while (0)

/* ---- gemm */

int cl_gemm(lsd_cl *cl, int transA, int transB, int M, int N, int K, float alpha,
            const lsd_clbuf *A, size_t oa, int lda, const lsd_clbuf *B, size_t ob, int ldb,
            float beta, lsd_clbuf *C, size_t oc, int ldc, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_GEMM, err);
    size_t nx = (size_t)(cl->gemm_tn / cl->gemm_rn), ny = (size_t)(cl->gemm_tm / cl->gemm_rm);
    size_t gx, gy;
    if (M <= 0 || N <= 0) return LSD_OK;
    NEED(A, oa + (K > 0 ? (size_t)((transA ? K : M) - 1) * lda + (transA ? M : K) : 0), 0,
         "cl_gemm");
    NEED(B, ob + (K > 0 ? (size_t)((transB ? N : K) - 1) * ldb + (transB ? K : N) : 0), 0,
         "cl_gemm");
    NEED(C, oc + (size_t)(M - 1) * ldc + N, 0, "cl_gemm");
    a_int(&a, transA);
    a_int(&a, transB);
    a_int(&a, M);
    a_int(&a, N);
    a_int(&a, K);
    a_float(&a, alpha);
    a_bufx(&a, A, oa);
    a_int(&a, lda);
    a_bufx(&a, B, ob);
    a_int(&a, ldb);
    a_float(&a, beta);
    a_bufx(&a, C, oc);
    a_int(&a, ldc);
    if (a.rc != LSD_OK) return a.rc;
    gx = (size_t)((N + cl->gemm_tn - 1) / cl->gemm_tn) * nx;
    gy = (size_t)((M + cl->gemm_tm - 1) / cl->gemm_tm) * ny;
    return lsd_cl_launch2(cl, LSD_K_GEMM, gx, gy, nx, ny, "cl_gemm", err);
}

/* ---- convolutions (layers/conv_geom.h's geometry) */

/* col (C*KH*KW, nr*GW) of scratch = im2col of the image at element io of img. */
static int im2col(lsd_cl *cl, lsd_clbuf *scratch, const lsd_clbuf *img, size_t io,
                  const ConvGeom *g, int r0, int nr, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_IM2COL, err);
    a_buf(&a, scratch);
    a_bufx(&a, img, io);
    a_int(&a, g->IH); a_int(&a, g->IW); a_int(&a, g->KH); a_int(&a, g->KW);
    a_int(&a, g->stride); a_int(&a, g->pad); a_int(&a, g->GW); a_int(&a, r0); a_int(&a, nr);
    return run2(&a, (size_t)nr * g->GW, (size_t)g->C * g->KH * g->KW, "im2col");
}

/* The image at element io of img += col2im of scratch. */
static int col2im(lsd_cl *cl, lsd_clbuf *img, size_t io, const lsd_clbuf *scratch,
                  const ConvGeom *g, int r0, int nr, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_COL2IM, err);
    a_bufx(&a, img, io);
    a_buf(&a, scratch);
    a_int(&a, g->IH); a_int(&a, g->IW); a_int(&a, g->KH); a_int(&a, g->KW);
    a_int(&a, g->stride); a_int(&a, g->pad); a_int(&a, g->GW); a_int(&a, r0); a_int(&a, nr);
    return run2(&a, (size_t)g->IH * g->IW, (size_t)g->C, "col2im");
}

/* The two passes both convolution kinds are made of, on grid rows r0 .. r0+nr-1 of one
 * sample (as layers/conv_kernels.c: conv_grid_pass and conv_image_pass). The weight is
 * viewed as (R, KK) with KK = g->C*KH*KW; a grid tensor at element go has rows of g->GW and
 * planes of GH*GW.
 *
 * image_to_grid: col = im2col(image at io); then, when gout is given,
 *   gout band = weight * col + beta * gout band; and, when dweight is given,
 *   dweight += gin band * col^T. */
static int image_to_grid(lsd_cl *cl, const ConvGeom *g, int r0, int nr, const lsd_clbuf *img,
                         size_t io, const lsd_clbuf *weight, int R, lsd_clbuf *gout,
                         float beta, const lsd_clbuf *gin, lsd_clbuf *dweight, size_t go,
                         lsd_clbuf *scratch, lsd_err *err)
{
    int KK = g->C * g->KH * g->KW, P = nr * g->GW, ld = g->GH * g->GW, rc;
    size_t band = go + (size_t)r0 * g->GW;
    if ((rc = im2col(cl, scratch, img, io, g, r0, nr, err))) return rc;
    if (gout && (rc = cl_gemm(cl, 0, 0, R, P, KK, 1, weight, 0, KK, scratch, 0, P, beta, gout,
                              band, ld, err)))
        return rc;
    if (dweight && (rc = cl_gemm(cl, 0, 1, R, KK, P, 1, gin, band, ld, scratch, 0, P, 1, dweight,
                                 0, KK, err)))
        return rc;
    return LSD_OK;
}

/* grid_to_image: col = weight^T * gin band; image at io += col2im(col). */
static int grid_to_image(lsd_cl *cl, const ConvGeom *g, int r0, int nr, const lsd_clbuf *gin,
                         size_t go, const lsd_clbuf *weight, int R, lsd_clbuf *img, size_t io,
                         lsd_clbuf *scratch, lsd_err *err)
{
    int KK = g->C * g->KH * g->KW, P = nr * g->GW, ld = g->GH * g->GW, rc;
    if ((rc = cl_gemm(cl, 1, 0, KK, P, R, 1, weight, 0, KK, gin, go + (size_t)r0 * g->GW, ld,
                      0, scratch, 0, P, err)))
        return rc;
    return col2im(cl, img, io, scratch, g, r0, nr, err);
}

/* What the passes of one convolution read and write, sample by sample (NULL: not used).
 * The weight is (R, KK) as above; the image side is at element n*C*IH*IW of its buffers,
 * the grid side at n*R*GH*GW. */
typedef struct {
    const lsd_clbuf *weight;
    int R;
    const lsd_clbuf *img; /* the image the grid pass unfolds */
    lsd_clbuf *gout;      /* grid pass: gout = weight * col + beta * gout */
    float beta;
    const lsd_clbuf *gin; /* the grid of dweight's product and of the image pass */
    lsd_clbuf *dweight;   /* grid pass: dweight += gin * col^T */
    lsd_clbuf *dimg;      /* image pass: dimg = (add ? dimg : 0) + col2im(weight^T * gin) */
    int add;
} Passes;

/* Passes with the given weight and R, and nothing to compute yet. */
static Passes passes_of(const lsd_clbuf *weight, int R)
{
    Passes p;
    p.weight = weight;
    p.R = R;
    p.img = NULL;
    p.gout = NULL;
    p.beta = 0;
    p.gin = NULL;
    p.dweight = NULL;
    p.dimg = NULL;
    p.add = 0;
    return p;
}

/* Runs p for the s->N samples in order: per band of grid rows the grid pass (where gout or
 * dweight is given), then the image pass (where dimg is given). A pointwise shape needs no
 * unfolding: the image is its own col buffer, one gemm per product and sample. */
static int conv_passes(lsd_cl *cl, const ConvShape *s, const ConvGeom *g, const Passes *p,
                       lsd_clbuf *scratch, lsd_err *err)
{
    int band = conv_band_rows_fit(g, CONV_COL_BUDGET), KK = g->C, n, r0, rc;
    size_t IHW = (size_t)g->IH * g->IW, GHW = (size_t)g->GH * g->GW;
    for (n = 0; n < s->N; n++) {
        size_t io = (size_t)n * g->C * IHW, go = (size_t)n * p->R * GHW;
        if (conv_pointwise(s)) {
            if (p->gout && (rc = cl_gemm(cl, 0, 0, p->R, (int)GHW, KK, 1, p->weight, 0, KK,
                                         p->img, io, (int)IHW, p->beta, p->gout, go,
                                         (int)GHW, err)))
                return rc;
            if (p->dweight && (rc = cl_gemm(cl, 0, 1, p->R, KK, (int)GHW, 1, p->gin, go,
                                            (int)GHW, p->img, io, (int)IHW, 1, p->dweight, 0,
                                            KK, err)))
                return rc;
            if (p->dimg && (rc = cl_gemm(cl, 1, 0, KK, (int)IHW, p->R, 1, p->weight, 0, KK,
                                         p->gin, go, (int)GHW, p->add ? 1.0f : 0.0f, p->dimg,
                                         io, (int)IHW, err)))
                return rc;
            continue;
        }
        if (p->dimg && !p->add && (rc = lsd_clbuf_fill(cl, p->dimg, io, IHW * g->C, 0.0f, err)))
            return rc;
        for (r0 = 0; r0 < g->GH; r0 += band) {
            int nr = g->GH - r0 < band ? g->GH - r0 : band;
            if ((p->gout || p->dweight) &&
                (rc = image_to_grid(cl, g, r0, nr, p->img, io, p->weight, p->R, p->gout,
                                    p->beta, p->gin, p->dweight, go, scratch, err)))
                return rc;
            if (p->dimg && (rc = grid_to_image(cl, g, r0, nr, p->gin, go, p->weight, p->R,
                                               p->dimg, io, scratch, err)))
                return rc;
        }
    }
    return LSD_OK;
}

static int add_bias(lsd_cl *cl, lsd_clbuf *y, const lsd_clbuf *bias, int N, int OC, size_t HW,
                    lsd_err *err)
{
    Args a = args_of(cl, LSD_K_ADD_BIAS, err);
    a_buf(&a, y);
    a_buf(&a, bias);
    a_int(&a, OC);
    a_int(&a, (int)HW);
    return run2(&a, HW, (size_t)N * OC, "add_bias");
}

static int bias_grad(lsd_cl *cl, lsd_clbuf *dbias, const lsd_clbuf *dout, int N, int OC,
                     size_t HW, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_BIAS_GRAD, err);
    a_buf(&a, dbias);
    a_buf(&a, dout);
    a_int(&a, N);
    a_int(&a, OC);
    a_int(&a, (int)HW);
    return run_groups(&a, (size_t)OC, "bias_grad");
}

/* Buffer checks shared by the four convolution functions. */
static int conv_check(const ConvShape *s, const lsd_clbuf *x, const lsd_clbuf *y,
                      const lsd_clbuf *weight, const lsd_clbuf *bias, const lsd_clbuf *scratch,
                      int bopt, int xopt, int yopt, const char *what, lsd_err *err)
{
    size_t nx = (size_t)s->N * s->C * s->H * s->W, ny = (size_t)s->N * s->OC * s->OH * s->OW;
    size_t nweight = (size_t)s->OC * s->C * s->KH * s->KW;
    int rc;
    if (s->N < 0 || s->C < 1 || s->OC < 1 || s->KH < 1 || s->KW < 1 || s->stride < 1)
        return lsd_fail(err, LSD_ERR_ARG, "%s: invalid shape", what);
    if ((rc = need(x, nx, 4, xopt, what, "the input (or its gradient)", err)) ||
        (rc = need(y, ny, 4, yopt, what, "the output (or its gradient)", err)) ||
        (rc = need(weight, nweight, 4, 0, what, "the weight (or its gradient)", err)) ||
        (rc = need(bias, (size_t)s->OC, 4, bopt, what, "the bias (or its gradient)", err)))
        return rc;
    if (!conv_pointwise(s)) {
        size_t nscratch = conv_work_size(s);
        if ((rc = need(scratch, nscratch, 4, 0, what, "the scratch (conv_work_size)", err)))
            return rc;
    }
    return LSD_OK;
}

/* A forward: the buffer checks, p, then out += bias (bias may be NULL). */
static int conv_forward(lsd_cl *cl, const ConvShape *s, const ConvGeom *g, const Passes *p,
                        lsd_clbuf *out, const lsd_clbuf *in, const lsd_clbuf *bias,
                        lsd_clbuf *scratch, const char *what, lsd_err *err)
{
    int rc;
    if (s->OH <= 0 || s->OW <= 0) return LSD_OK;
    if ((rc = conv_check(s, in, out, p->weight, bias, scratch, 1, 0, 0, what, err)) ||
        (rc = conv_passes(cl, s, g, p, scratch, err)))
        return rc;
    if (bias) return add_bias(cl, out, bias, s->N, s->OC, (size_t)s->OH * s->OW, err);
    return LSD_OK;
}

/* A backward: the buffer checks (in, dout, weight, dbias and scratch as for the forward, then
 * din and dweight, weight's size when NULL), p, then dbias += the sums of dout. */
static int conv_backward(lsd_cl *cl, const ConvShape *s, const ConvGeom *g, const Passes *p,
                         lsd_clbuf *din, lsd_clbuf *dweight, lsd_clbuf *dbias,
                         const lsd_clbuf *dout, const lsd_clbuf *in, lsd_clbuf *scratch,
                         const char *what, lsd_err *err)
{
    int rc;
    if (s->OH <= 0 || s->OW <= 0) return LSD_OK;
    if ((rc = conv_check(s, in, dout, p->weight, dbias, scratch, 1, 0, 0, what, err)) ||
        (rc = conv_check(s, din, dout, dweight ? dweight : p->weight, NULL, scratch, 1, 1, 0, what,
                         err)) ||
        (rc = conv_passes(cl, s, g, p, scratch, err)))
        return rc;
    if (dbias) return bias_grad(cl, dbias, dout, s->N, s->OC, (size_t)s->OH * s->OW, err);
    return LSD_OK;
}

/* The grid pass (image = in, grid = out). */
int cl_conv2d_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, const lsd_clbuf *weight,
                      const lsd_clbuf *bias, const ConvShape *s, lsd_clbuf *scratch, lsd_err *err)
{
    ConvGeom g = conv_geom(s);
    Passes p = passes_of(weight, s->OC);
    p.img = in;
    p.gout = out;
    return conv_forward(cl, s, &g, &p, out, in, bias, scratch, "cl_conv2d_forward", err);
}

/* dweight by the grid pass (image = in, grid = dout), din by the image pass. */
int cl_conv2d_backward(lsd_cl *cl, lsd_clbuf *din, lsd_clbuf *dweight, lsd_clbuf *dbias,
                       const lsd_clbuf *dout, const lsd_clbuf *in, const lsd_clbuf *weight,
                       const ConvShape *s, lsd_clbuf *scratch, lsd_err *err)
{
    ConvGeom g = conv_geom(s);
    Passes p = passes_of(weight, s->OC);
    p.img = in;
    p.gin = dout;
    p.dweight = dweight;
    p.dimg = din;
    p.add = 1;
    return conv_backward(cl, s, &g, &p, din, dweight, dbias, dout, in, scratch,
                         "cl_conv2d_backward", err);
}

/* The image pass (grid = in, image = out). */
int cl_convt_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, const lsd_clbuf *weight,
                     const lsd_clbuf *bias, const ConvShape *s, lsd_clbuf *scratch, lsd_err *err)
{
    ConvGeom g = convt_geom(s);
    Passes p = passes_of(weight, s->C);
    p.gin = in;
    p.dimg = out;
    return conv_forward(cl, s, &g, &p, out, in, bias, scratch, "cl_convt_forward", err);
}

/* One grid pass (image = dout, grid = in) gives din and dweight. */
int cl_convt_backward(lsd_cl *cl, lsd_clbuf *din, lsd_clbuf *dweight, lsd_clbuf *dbias,
                      const lsd_clbuf *dout, const lsd_clbuf *in, const lsd_clbuf *weight,
                      const ConvShape *s, lsd_clbuf *scratch, lsd_err *err)
{
    ConvGeom g = convt_geom(s);
    Passes p = passes_of(weight, s->C);
    p.img = dout;
    p.gout = din;
    p.beta = 1;
    p.gin = in;
    p.dweight = dweight;
    return conv_backward(cl, s, &g, &p, din, dweight, dbias, dout, in, scratch,
                         "cl_convt_backward", err);
}

/* ---- pooling */

/* kernel(b0, b1, b2, H, W, OH, OW) over (OH*OW, planes): the launch of both pooling kernels
 * (forward: out, argmax, in; backward: din, dout, argmax). */
static int pool(lsd_cl *cl, lsd_cl_kernel k, const lsd_clbuf *b0, const lsd_clbuf *b1,
                const lsd_clbuf *b2, size_t planes, int H, int W, int OH, int OW,
                const char *what, lsd_err *err)
{
    Args a = args_of(cl, k, err);
    a_buf(&a, b0);
    a_buf(&a, b1);
    a_buf(&a, b2);
    a_int(&a, H); a_int(&a, W); a_int(&a, OH); a_int(&a, OW);
    return run2(&a, (size_t)OH * OW, planes, what);
}

int cl_maxpool2d_forward(lsd_cl *cl, lsd_clbuf *out, lsd_clbuf *argmax, const lsd_clbuf *in,
                         int N, int C, int H, int W, int OH, int OW, lsd_err *err)
{
    size_t planes = (size_t)N * C;
    const char *what = "cl_maxpool2d_forward";
    if (OH > (H + 1) / 2 || OW > (W + 1) / 2 || OH < 0 || OW < 0)
        return lsd_fail(err, LSD_ERR_ARG, "%s: output %dx%d too large for %dx%d", what, OH, OW,
                        H, W);
    NEED(in, planes * H * W, 0, what);
    NEED(out, planes * OH * OW, 0, what);
    NEEDI(argmax, planes * OH * OW, 4, what);
    return pool(cl, LSD_K_MAXPOOL_FWD, out, argmax, in, planes, H, W, OH, OW, what, err);
}

int cl_maxpool2d_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout,
                          const lsd_clbuf *argmax, int N, int C, int H, int W, int OH, int OW,
                          lsd_err *err)
{
    size_t planes = (size_t)N * C;
    const char *what = "cl_maxpool2d_backward";
    if (!din) return LSD_OK;
    NEED(din, planes * H * W, 0, what);
    NEED(dout, planes * OH * OW, 0, what);
    NEEDI(argmax, planes * OH * OW, 4, what);
    return pool(cl, LSD_K_MAXPOOL_BWD, din, dout, argmax, planes, H, W, OH, OW, what, err);
}

/* ---- element-wise */

/* kernel(out, in, n) for the forwards; kernel(din, dout, x, n) for the backwards. */
static int unary(lsd_cl *cl, lsd_cl_kernel k, lsd_clbuf *out, const lsd_clbuf *in, size_t n,
                 const float *slope, const char *what, lsd_err *err)
{
    Args a = args_of(cl, k, err);
    NEED(out, n, 0, what);
    NEED(in, n, 0, what);
    a_buf(&a, out);
    a_buf(&a, in);
    a_int(&a, (int)n);
    if (slope) a_float(&a, *slope);
    return run1(&a, n, what);
}

static int binary(lsd_cl *cl, lsd_cl_kernel k, lsd_clbuf *out, const lsd_clbuf *x,
                  const lsd_clbuf *y, size_t n, const float *slope, const char *what,
                  lsd_err *err)
{
    Args a = args_of(cl, k, err);
    NEED(out, n, 0, what);
    NEED(x, n, 0, what);
    NEED(y, n, 0, what);
    a_buf(&a, out);
    a_buf(&a, x);
    a_buf(&a, y);
    a_int(&a, (int)n);
    if (slope) a_float(&a, *slope);
    return run1(&a, n, what);
}

int cl_relu_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, size_t n, lsd_err *err)
{
    return unary(cl, LSD_K_RELU_FWD, out, in, n, NULL, "cl_relu_forward", err);
}

int cl_relu_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout, const lsd_clbuf *out,
                     size_t n, lsd_err *err)
{
    if (!din) return LSD_OK;
    return binary(cl, LSD_K_RELU_BWD, din, dout, out, n, NULL, "cl_relu_backward", err);
}

int cl_leaky_relu_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, size_t n, float slope,
                          lsd_err *err)
{
    return unary(cl, LSD_K_LEAKY_FWD, out, in, n, &slope, "cl_leaky_relu_forward", err);
}

int cl_leaky_relu_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout,
                           const lsd_clbuf *in, size_t n, float slope, lsd_err *err)
{
    if (!din) return LSD_OK;
    return binary(cl, LSD_K_LEAKY_BWD, din, dout, in, n, &slope, "cl_leaky_relu_backward", err);
}

int cl_sigmoid_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, size_t n, lsd_err *err)
{
    return unary(cl, LSD_K_SIGMOID_FWD, out, in, n, NULL, "cl_sigmoid_forward", err);
}

int cl_sigmoid_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout, const lsd_clbuf *out,
                        size_t n, lsd_err *err)
{
    if (!din) return LSD_OK;
    return binary(cl, LSD_K_SIGMOID_BWD, din, dout, out, n, NULL, "cl_sigmoid_backward", err);
}

/* ---- instance norm */

int cl_instance_norm_forward(lsd_cl *cl, lsd_clbuf *out, lsd_clbuf *mean, lsd_clbuf *rstd,
                             const lsd_clbuf *in, int N, int C, int HW, float eps,
                             lsd_err *err)
{
    Args a = args_of(cl, LSD_K_INORM_FWD, err);
    size_t planes = (size_t)N * C;
    const char *what = "cl_instance_norm_forward";
    NEED(out, planes * HW, 0, what);
    NEED(in, planes * HW, 0, what);
    NEED(mean, planes, 0, what);
    NEED(rstd, planes, 0, what);
    a_buf(&a, out);
    a_buf(&a, mean);
    a_buf(&a, rstd);
    a_buf(&a, in);
    a_int(&a, HW);
    a_float(&a, eps);
    return run_groups(&a, planes, what);
}

int cl_instance_norm_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout,
                              const lsd_clbuf *in, const lsd_clbuf *mean,
                              const lsd_clbuf *rstd, int N, int C, int HW, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_INORM_BWD, err);
    size_t planes = (size_t)N * C;
    const char *what = "cl_instance_norm_backward";
    if (!din || HW <= 0) return LSD_OK;
    NEED(din, planes * HW, 0, what);
    NEED(dout, planes * HW, 0, what);
    NEED(in, planes * HW, 0, what);
    NEED(mean, planes, 0, what);
    NEED(rstd, planes, 0, what);
    a_buf(&a, din);
    a_buf(&a, dout);
    a_buf(&a, in);
    a_buf(&a, mean);
    a_buf(&a, rstd);
    a_int(&a, HW);
    return run_groups(&a, planes, what);
}

/* ---- dropout */

int cl_dropout_mask(lsd_cl *cl, lsd_clbuf *mask, size_t n, float p, uint64_t seed,
                    uint64_t stream, uint64_t index0, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_DROPOUT_MASK, err);
    const double two53 = 9007199254740992.0;
    double t = ceil((double)p * two53);
    float keep = (float)(1.0 / (1.0 - (double)p));
    NEED(mask, n, 0, "cl_dropout_mask");
    if (!(t > 0)) t = 0; /* p <= 0 (or NaN): nothing dropped */
    if (t > two53) t = two53;
    a_buf(&a, mask);
    a_int(&a, (int)n);
    a_ulong(&a, (cl_ulong)t);
    a_float(&a, keep);
    a_ulong(&a, (cl_ulong)seed);
    a_ulong(&a, (cl_ulong)stream);
    a_ulong(&a, (cl_ulong)index0);
    return run1(&a, n, "cl_dropout_mask");
}

int cl_dropout_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, const lsd_clbuf *mask,
                       size_t n, lsd_err *err)
{
    return binary(cl, LSD_K_DROPOUT_FWD, out, in, mask, n, NULL, "cl_dropout_forward", err);
}

int cl_dropout_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout,
                        const lsd_clbuf *mask, size_t n, lsd_err *err)
{
    if (!din) return LSD_OK;
    return binary(cl, LSD_K_DROPOUT_BWD, din, dout, mask, n, NULL, "cl_dropout_backward", err);
}

/* kernel(out, x, mask, HW) over (HW, NC). */
static int channelwise(lsd_cl *cl, lsd_cl_kernel k, lsd_clbuf *out, const lsd_clbuf *x,
                       const lsd_clbuf *mask, int NC, int HW, const char *what, lsd_err *err)
{
    Args a = args_of(cl, k, err);
    NEED(out, (size_t)NC * HW, 0, what);
    NEED(x, (size_t)NC * HW, 0, what);
    NEED(mask, (size_t)NC, 0, what);
    a_buf(&a, out);
    a_buf(&a, x);
    a_buf(&a, mask);
    a_int(&a, HW);
    return run2(&a, (size_t)HW, (size_t)NC, what);
}

int cl_dropout2d_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, const lsd_clbuf *mask,
                         int NC, int HW, lsd_err *err)
{
    return channelwise(cl, LSD_K_DROPOUT2D_FWD, out, in, mask, NC, HW, "cl_dropout2d_forward",
                       err);
}

int cl_dropout2d_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout,
                          const lsd_clbuf *mask, int NC, int HW, lsd_err *err)
{
    if (!din) return LSD_OK;
    return channelwise(cl, LSD_K_DROPOUT2D_BWD, din, dout, mask, NC, HW,
                       "cl_dropout2d_backward", err);
}

/* ---- crop and concat */

/* kernel(dst, src, H, W, top, left, OH, OW) over (OH*OW, N*C). */
static int crop(lsd_cl *cl, lsd_cl_kernel k, lsd_clbuf *dst, const lsd_clbuf *src, int N,
                int C, int H, int W, int top, int left, int OH, int OW, int fwd,
                const char *what, lsd_err *err)
{
    Args a = args_of(cl, k, err);
    size_t planes = (size_t)N * C;
    if (top < 0 || left < 0 || OH < 0 || OW < 0 || top + OH > H || left + OW > W)
        return lsd_fail(err, LSD_ERR_ARG, "%s: window %dx%d at (%d, %d) outside %dx%d", what, OH,
                        OW, top, left, H, W);
    NEED(dst, planes * (fwd ? (size_t)OH * OW : (size_t)H * W), 0, what);
    NEED(src, planes * (fwd ? (size_t)H * W : (size_t)OH * OW), 0, what);
    a_buf(&a, dst);
    a_buf(&a, src);
    a_int(&a, H); a_int(&a, W); a_int(&a, top); a_int(&a, left); a_int(&a, OH); a_int(&a, OW);
    return run2(&a, (size_t)OH * OW, planes, what);
}

int cl_crop_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *in, int N, int C, int H, int W,
                    int top, int left, int OH, int OW, lsd_err *err)
{
    return crop(cl, LSD_K_CROP_FWD, out, in, N, C, H, W, top, left, OH, OW, 1,
                "cl_crop_forward", err);
}

int cl_crop_backward(lsd_cl *cl, lsd_clbuf *din, const lsd_clbuf *dout, int N, int C, int H,
                     int W, int top, int left, int OH, int OW, lsd_err *err)
{
    if (!din) return LSD_OK;
    return crop(cl, LSD_K_CROP_BWD, din, dout, N, C, H, W, top, left, OH, OW, 0,
                "cl_crop_backward", err);
}

int cl_concat_forward(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *a_, int Ca,
                      const lsd_clbuf *b, int Cb, int N, int HW, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_CONCAT_FWD, err);
    const char *what = "cl_concat_forward";
    NEED(out, (size_t)N * (Ca + Cb) * HW, 0, what);
    NEED(a_, (size_t)N * Ca * HW, 0, what);
    NEED(b, (size_t)N * Cb * HW, 0, what);
    a_buf(&a, out);
    a_buf(&a, a_);
    a_int(&a, Ca);
    a_buf(&a, b);
    a_int(&a, Cb);
    a_int(&a, HW);
    return run2(&a, (size_t)(Ca + Cb) * HW, (size_t)N, what);
}

int cl_concat_backward(lsd_cl *cl, lsd_clbuf *da, lsd_clbuf *db, const lsd_clbuf *dout, int Ca,
                       int Cb, int N, int HW, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_CONCAT_BWD, err);
    const char *what = "cl_concat_backward";
    if (!da && !db) return LSD_OK;
    NEED(dout, (size_t)N * (Ca + Cb) * HW, 0, what);
    NEED(da, (size_t)N * Ca * HW, 1, what);
    NEED(db, (size_t)N * Cb * HW, 1, what);
    a_buf(&a, da);
    a_int(&a, da != NULL);
    a_buf(&a, db);
    a_int(&a, db != NULL);
    a_buf(&a, dout);
    a_int(&a, Ca);
    a_int(&a, Cb);
    a_int(&a, HW);
    return run2(&a, (size_t)(Ca + Cb) * HW, (size_t)N, what);
}

/* ---- the residual block (layers/resblock.c, op for op) */

int cl_rb_forward(lsd_cl *cl, ClRBActs *a, const lsd_clbuf *x, const lsd_clbuf *weight,
                  const lsd_clbuf *bias, const lsd_clbuf *mask, const ConvShape *s, float eps,
                  float slope, lsd_clbuf *scratch, lsd_err *err)
{
    int N = s->N, C = s->OC, HW = s->OH * s->OW, rc;
    size_t n = (size_t)N * C * HW;
    if ((rc = cl_conv2d_forward(cl, &a->z, x, weight, bias, s, scratch, err)) ||
        (rc = cl_instance_norm_forward(cl, &a->y, &a->mean, &a->rstd, &a->z, N, C, HW, eps,
                                       err)) ||
        (rc = slope != 0 ? cl_leaky_relu_forward(cl, &a->a, &a->y, n, slope, err)
                         : cl_relu_forward(cl, &a->a, &a->y, n, err)) ||
        (rc = cl_dropout_forward(cl, &a->out, &a->a, mask, n, err)))
        return rc;
    return cl_vec_add(cl, &a->out, &a->out, x, n, err);
}

int cl_rb_backward(lsd_cl *cl, lsd_clbuf *dx, lsd_clbuf *dweight, lsd_clbuf *dbias, ClRBActs *g,
                   const ClRBActs *a, const lsd_clbuf *x, const lsd_clbuf *weight,
                   const lsd_clbuf *mask, const ConvShape *s, float slope, lsd_clbuf *scratch,
                   lsd_err *err)
{
    int N = s->N, C = s->OC, HW = s->OH * s->OW, rc;
    size_t n = (size_t)N * C * HW;
    if ((rc = cl_vec_add(cl, dx, dx, &g->out, n, err)) ||
        (rc = cl_dropout_backward(cl, &g->a, &g->out, mask, n, err)) ||
        (rc = slope != 0 ? cl_leaky_relu_backward(cl, &g->y, &g->a, &a->y, n, slope, err)
                         : cl_relu_backward(cl, &g->y, &g->a, &a->a, n, err)) ||
        (rc = cl_instance_norm_backward(cl, &g->z, &g->y, &a->z, &a->mean, &a->rstd, N, C, HW,
                                        err)))
        return rc;
    return cl_conv2d_backward(cl, dx, dweight, dbias, &g->z, x, weight, s, scratch, err);
}

/* ---- losses */

/* layers/loss.c's block count for n terms. */
static long loss_blocks(long n) { return n < LOSS_BLOCKS ? n : LOSS_BLOCKS; }

/* The sum of the n floats of cl->scratch: per-block sums on the device (loss.c's blocks),
 * added on the host in double in block order. */
static int blocked_sum(lsd_cl *cl, long n, double *total, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_BLOCK_SUM, err);
    float part[LOSS_BLOCKS];
    long nblk = loss_blocks(n), b;
    int rc;
    *total = 0;
    if (n <= 0) return LSD_OK;
    a_mem(&a, cl->part.mem);
    a_mem(&a, cl->scratch.mem);
    a_int(&a, (int)n);
    a_int(&a, (int)nblk);
    if ((rc = run_groups(&a, (size_t)nblk, "loss block sums")) ||
        (rc = lsd_clbuf_read(cl, &cl->part, 0, part, (size_t)nblk, err)))
        return rc;
    for (b = 0; b < nblk; b++) *total += part[b];
    return LSD_OK;
}

/* Per-pixel cross-entropy into cl->scratch (and the gradient), then the blocked sum. */
static int ce_run(lsd_cl *cl, double *total, lsd_clbuf *dlogits, const lsd_clbuf *logits,
                  const lsd_clbuf *labels, int const_label, int C, int HW, long P, int ignore,
                  float scale, const char *what, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_CE_PIXEL, err);
    int rc;
    if ((rc = lsd_cl_scratch(cl, (size_t)P, err))) return rc;
    a_mem(&a, cl->scratch.mem);
    a_buf(&a, dlogits);
    a_int(&a, dlogits != NULL);
    a_buf(&a, logits);
    a_buf(&a, labels);
    a_int(&a, labels != NULL);
    a_int(&a, const_label);
    a_int(&a, C);
    a_int(&a, HW);
    a_int(&a, (int)P);
    a_int(&a, ignore);
    a_float(&a, scale);
    if ((rc = run1(&a, (size_t)P, what))) return rc;
    return blocked_sum(cl, P, total, err);
}

int cl_softmax_ce(lsd_cl *cl, double *loss, lsd_clbuf *dlogits, const lsd_clbuf *logits,
                  const lsd_clbuf *labels, int N, int C, int HW, int ignore, loss_reduction red,
                  float grad_scale, lsd_err *err)
{
    const char *what = "cl_softmax_ce";
    long P = (long)N * HW, nblk = loss_blocks(P), count = 0, b;
    cl_int part[2 * LOSS_BLOCKS];
    double total, scale;
    int rc;
    Args a = args_of(cl, LSD_K_LABEL_SCAN, err);
    if (N < 0 || C < 1 || HW < 0)
        return lsd_fail(err, LSD_ERR_ARG, "softmax_ce: invalid shape N=%d C=%d HW=%d", N, C, HW);
    if (red != LOSS_SUM && red != LOSS_MEAN)
        return lsd_fail(err, LSD_ERR_ARG, "softmax_ce: unknown reduction %d", (int)red);
    NEED(logits, (size_t)P * C, 0, what);
    NEED(dlogits, (size_t)P * C, 1, what);
    NEEDI(labels, (size_t)P, 1, what);
    *loss = 0;
    if (P == 0) return LSD_OK;
    a_mem(&a, cl->part.mem);
    a_buf(&a, labels);
    a_int(&a, (int)P);
    a_int(&a, C);
    a_int(&a, ignore);
    a_int(&a, (int)nblk);
    if ((rc = run1(&a, (size_t)nblk, "softmax_ce label check")) ||
        (rc = lsd_clbuf_read(cl, &cl->part, LOSS_BLOCKS, part, 2 * LOSS_BLOCKS, err)))
        return rc;
    for (b = 0; b < nblk; b++) {
        long bad = part[LOSS_BLOCKS + b];
        if (bad >= 0) {
            unsigned char l = 0;
            if ((rc = lsd_clbuf_read(cl, labels, (size_t)bad, &l, 1, err))) return rc;
            return lsd_fail(err, LSD_ERR_RANGE,
                            "softmax_ce: label %d at sample %ld, pixel %ld is neither below the "
                            "class count %d nor the ignore label %d",
                            (int)l, bad / (HW > 0 ? HW : 1), bad % (HW > 0 ? HW : 1), C, ignore);
        }
        count += part[b];
    }
    if (red == LOSS_MEAN && count == 0) return LSD_OK;
    scale = red == LOSS_MEAN ? (double)grad_scale / (double)count : (double)grad_scale;
    if ((rc = ce_run(cl, &total, dlogits, logits, labels, 0, C, HW, P, ignore, (float)scale,
                     what, err)))
        return rc;
    *loss = red == LOSS_MEAN ? total / (double)count : total;
    return LSD_OK;
}

int cl_softmax_ce_const(lsd_cl *cl, double *loss, lsd_clbuf *dlogits, const lsd_clbuf *logits,
                        int label, int N, int C, int HW, float grad_scale, lsd_err *err)
{
    const char *what = "cl_softmax_ce_const";
    long P = (long)N * HW;
    if (N < 0 || C < 1 || HW < 0)
        return lsd_fail(err, LSD_ERR_ARG, "%s: invalid shape N=%d C=%d HW=%d", what, N, C, HW);
    NEED(logits, (size_t)P * C, 0, what);
    NEED(dlogits, (size_t)P * C, 1, what);
    if (label < 0 || label >= C) {
        *loss = NAN; /* as softmax_ce_const: a caller's error, nothing written */
        return LSD_OK;
    }
    *loss = 0;
    if (P == 0) return LSD_OK;
    return ce_run(cl, loss, dlogits, logits, NULL, label, C, HW, P, -1, grad_scale, what, err);
}

int cl_l1_loss(lsd_cl *cl, double *loss, lsd_clbuf *dx, const lsd_clbuf *x,
               const lsd_clbuf *target, size_t n, float grad_scale, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_L1_ELEM, err);
    const char *what = "cl_l1_loss";
    double total;
    int rc;
    NEED(x, n, 0, what);
    NEED(target, n, 0, what);
    NEED(dx, n, 1, what);
    *loss = 0;
    if (n == 0) return LSD_OK;
    if ((rc = lsd_cl_scratch(cl, n, err))) return rc;
    a_mem(&a, cl->scratch.mem);
    a_buf(&a, dx);
    a_int(&a, dx != NULL);
    a_buf(&a, x);
    a_buf(&a, target);
    a_int(&a, (int)n);
    a_float(&a, (float)((double)grad_scale / (double)n));
    if ((rc = run1(&a, n, what)) || (rc = blocked_sum(cl, (long)n, &total, err))) return rc;
    *loss = total / (double)n;
    return LSD_OK;
}

/* ---- Adam */

int cl_adam_update(lsd_cl *cl, lsd_clbuf *param, lsd_clbuf *m, lsd_clbuf *v,
                   const lsd_clbuf *grad, size_t n, long t, double lr, double beta1,
                   double beta2, double eps, double weight_decay, lsd_err *err)
{
    Args a = args_of(cl, LSD_K_ADAM, err);
    const char *what = "cl_adam_update";
    /* the scalars exactly as layers/optim.c forms them */
    double bc1 = 1.0 - adam_beta_pow(beta1, t), bc2 = 1.0 - adam_beta_pow(beta2, t);
    NEED(param, n, 0, what);
    NEED(m, n, 0, what);
    NEED(v, n, 0, what);
    NEED(grad, n, 0, what);
    a_buf(&a, param);
    a_buf(&a, m);
    a_buf(&a, v);
    a_buf(&a, grad);
    a_int(&a, (int)n);
    a_float(&a, (float)beta1);
    a_float(&a, (float)(1.0 - beta1));
    a_float(&a, (float)beta2);
    a_float(&a, (float)(1.0 - beta2));
    a_float(&a, (float)weight_decay);
    a_int(&a, weight_decay != 0);
    a_float(&a, (float)eps);
    a_float(&a, (float)(-(lr / bc1)));
    a_float(&a, (float)sqrt(bc2));
    return run1(&a, n, what);
}

/* ---- vector helpers */

int cl_vec_fill(lsd_cl *cl, lsd_clbuf *x, size_t n, float value, lsd_err *err)
{
    return lsd_clbuf_fill(cl, x, 0, n, value, err);
}

int cl_vec_axpy(lsd_cl *cl, lsd_clbuf *y, float alpha, const lsd_clbuf *x, size_t n,
                lsd_err *err)
{
    Args a = args_of(cl, LSD_K_AXPY, err);
    NEED(y, n, 0, "cl_vec_axpy");
    NEED(x, n, 0, "cl_vec_axpy");
    a_buf(&a, y);
    a_float(&a, alpha);
    a_buf(&a, x);
    a_int(&a, (int)n);
    return run1(&a, n, "cl_vec_axpy");
}

int cl_vec_add(lsd_cl *cl, lsd_clbuf *out, const lsd_clbuf *x, const lsd_clbuf *y, size_t n,
               lsd_err *err)
{
    return binary(cl, LSD_K_ADD, out, x, y, n, NULL, "cl_vec_add", err);
}

int cl_vec_copy(lsd_cl *cl, lsd_clbuf *dst, const lsd_clbuf *src, size_t n, lsd_err *err)
{
    cl_int rc;
    NEED(dst, n, 0, "cl_vec_copy");
    NEED(src, n, 0, "cl_vec_copy");
    if (n == 0) return LSD_OK;
    if (dst->mem == src->mem && dst->off < src->off + n && src->off < dst->off + n)
        return lsd_fail(err, LSD_ERR_ARG, "cl_vec_copy: source and destination overlap");
    rc = clEnqueueCopyBuffer(cl->queue, src->mem, dst->mem, src->off * sizeof(float),
                             dst->off * sizeof(float), n * sizeof(float), 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return lsd_fail(err, LSD_ERR_IO, "cl_vec_copy: clEnqueueCopyBuffer failed (%s, %d)",
                        lsd_cl_error_name(rc), (int)rc);
    return LSD_OK;
}
