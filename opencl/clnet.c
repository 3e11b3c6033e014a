/*
 * clnet.c - device mirrors of gan/'s parameter arenas, activations and networks (see
 * clnet.h). The forward and backward sequences follow gan/fcn.c, gan/generator.c and
 * gan/discriminator.c line by line, with the cl_* ops in place of the C layers:
 *   vec_add(y, x)               -> cl_vec_add(y, y, x)   (y += x, the same float sum)
 *   relu_backward_inplace(d, y) -> tmp = 0; cl_relu_backward(tmp, d, y); d = tmp
 *   memset of a gradient struct -> one fill of its device buffer
 * The networks' tables and constants (block indices, epsilon, slope) are gan/arch.h's.
 */
#include <stdlib.h>
#include <string.h>

#include "../gan/arch.h"
#include "clnet.h"

#define TRY(x)                                                                             \
    do {                                                                                   \
        int rc_ = (x);                                                                     \
        if (rc_) return rc_;                                                               \
    } while (0)

/* NULL for an absent buffer (a zero lsd_clbuf), as the C functions take NULL. */
static lsd_clbuf *OPT(lsd_clbuf *b)
{
    return b && b->mem ? b : NULL;
}
static const lsd_clbuf *COPT(const lsd_clbuf *b)
{
    return b && b->mem ? b : NULL;
}

/* ------------------------------------------------------------------ arenas */

static void arena_release(ClArena *a)
{
    lsd_clbuf_free(&a->param);
    lsd_clbuf_free(&a->grad);
    lsd_clbuf_free(&a->m);
    lsd_clbuf_free(&a->v);
    free(a->spec);
    memset(a, 0, sizeof *a);
}

static int arena_create(lsd_cl *cl, ClArena *a, const ParamArena *host, lsd_err *err)
{
    memset(a, 0, sizeof *a);
    a->spec = (ParamSpec *)malloc((size_t)(host->n ? host->n : 1) * sizeof *a->spec);
    if (!a->spec) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a parameter table");
    memcpy(a->spec, host->spec, (size_t)host->n * sizeof *a->spec);
    a->n = host->n;
    a->total = host->total;
    if (lsd_clbuf_alloc(cl, &a->param, host->total, sizeof(float), err) ||
        lsd_clbuf_alloc(cl, &a->grad, host->total, sizeof(float), err) ||
        lsd_clbuf_alloc(cl, &a->m, host->total, sizeof(float), err) ||
        lsd_clbuf_alloc(cl, &a->v, host->total, sizeof(float), err)) {
        arena_release(a);
        lsd_err_prefix(err, "device parameters");
        return err ? err->code : LSD_ERR_NOMEM;
    }
    return LSD_OK;
}

static int arena_up(lsd_cl *cl, ClArena *a, const ParamArena *host, lsd_err *err)
{
    if (a->total != host->total)
        return lsd_fail(err, LSD_ERR_ARG, "%s arena: %lu elements on the device, %lu on the host",
                        host->prefix, (unsigned long)a->total, (unsigned long)host->total);
    TRY(lsd_clbuf_write(cl, &a->param, 0, host->param, host->total, err));
    TRY(lsd_clbuf_write(cl, &a->grad, 0, host->grad, host->total, err));
    TRY(lsd_clbuf_write(cl, &a->m, 0, host->m, host->total, err));
    return lsd_clbuf_write(cl, &a->v, 0, host->v, host->total, err);
}

static int arena_down(lsd_cl *cl, const ClArena *a, ParamArena *host, lsd_err *err)
{
    if (a->total != host->total)
        return lsd_fail(err, LSD_ERR_ARG, "%s arena: %lu elements on the device, %lu on the host",
                        host->prefix, (unsigned long)a->total, (unsigned long)host->total);
    TRY(lsd_clbuf_read(cl, &a->param, 0, host->param, host->total, err));
    TRY(lsd_clbuf_read(cl, &a->grad, 0, host->grad, host->total, err));
    TRY(lsd_clbuf_read(cl, &a->m, 0, host->m, host->total, err));
    return lsd_clbuf_read(cl, &a->v, 0, host->v, host->total, err);
}

/* The view of the tensor that starts at host pointer p of arena host (in array base). */
static lsd_clbuf tensor_view(const lsd_clbuf *base, const ParamArena *host, const real *host_base,
                             const real *p)
{
    lsd_clbuf z;
    size_t off;
    int k;
    memset(&z, 0, sizeof z);
    if (!p) return z;
    off = (size_t)(p - host_base);
    for (k = 0; k < host->n; k++)
        if (host->spec[k].offset == off) return lsd_clbuf_view(base, off, host->spec[k].size);
    return z;
}

/* ClLayer views at the offsets of a host LayerParams. */
static void bind_layer(ClLayer *l, const ClArena *a, const ParamArena *host, const LayerParams *lp)
{
    l->weight = tensor_view(&a->param, host, host->param, lp->weight);
    l->bias = tensor_view(&a->param, host, host->param, lp->bias);
    l->dweight = tensor_view(&a->grad, host, host->grad, lp->dweight);
    l->dbias = tensor_view(&a->grad, host, host->grad, lp->dbias);
}

int cl_arena_zero_grad(lsd_cl *cl, ClArena *a, lsd_err *err)
{
    return lsd_clbuf_fill(cl, &a->grad, 0, a->total, 0.0f, err);
}

/* arena_adam: one adam_update per trainable tensor. */
int cl_arena_adam(lsd_cl *cl, ClArena *a, long t, double lr_weight, double lr_bias,
                  double beta1, double beta2, double eps, lsd_err *err)
{
    int k;
    for (k = 0; k < a->n; k++) {
        const ParamSpec *s = &a->spec[k];
        lsd_clbuf p, m, v, g;
        if (s->frozen) continue;
        p = lsd_clbuf_view(&a->param, s->offset, s->size);
        m = lsd_clbuf_view(&a->m, s->offset, s->size);
        v = lsd_clbuf_view(&a->v, s->offset, s->size);
        g = lsd_clbuf_view(&a->grad, s->offset, s->size);
        TRY(cl_adam_update(cl, &p, &m, &v, &g, s->size, t, s->is_bias ? lr_bias : lr_weight,
                           beta1, beta2, eps, 0.0, err));
    }
    return LSD_OK;
}

void cl_model_free(ClModel *cm)
{
    arena_release(&cm->F.pa);
    arena_release(&cm->G.pa);
    arena_release(&cm->D.pa);
    memset(cm, 0, sizeof *cm);
}

int cl_model_create(ClModel *cm, lsd_cl *cl, const LsdModel *m, lsd_err *err)
{
    const FNet *f = &m->F;
    const GNet *g = &m->G;
    const DNet *d = &m->D;
    int l, k, rc;
    memset(cm, 0, sizeof *cm);
    cm->cl = cl;
    cm->cfg = m->cfg;
    if ((rc = arena_create(cl, &cm->F.pa, &f->pa, err)) ||
        (rc = arena_create(cl, &cm->G.pa, &g->pa, err)) ||
        (rc = arena_create(cl, &cm->D.pa, &d->pa, err))) {
        cl_model_free(cm);
        return rc;
    }
#define BF(X) bind_layer(&cm->F.X, &cm->F.pa, &f->pa, &f->X)
    for (l = 0; l < LSD_NCONV; l++) BF(conv[l]);
    BF(fc6);
    BF(fc7);
    BF(score_fr);
    BF(score_pool3);
    BF(score_pool4);
    BF(upscore2);
    BF(upscore8);
    BF(upscore_pool4);
#undef BF
    for (k = 0; k < LSD_GBLOCKS; k++) {
        bind_layer(&cm->G.blk[k].convt, &cm->G.pa, &g->pa, &g->blk[k].convt);
        bind_layer(&cm->G.blk[k].rb[0], &cm->G.pa, &g->pa, &g->blk[k].rb[0]);
        bind_layer(&cm->G.blk[k].rb[1], &cm->G.pa, &g->pa, &g->blk[k].rb[1]);
    }
    bind_layer(&cm->G.out, &cm->G.pa, &g->pa, &g->out);
    bind_layer(&cm->D.conv0, &cm->D.pa, &d->pa, &d->conv0);
    for (k = 0; k < LSD_DBLOCKS; k++) bind_layer(&cm->D.rb[k], &cm->D.pa, &d->pa, &d->rb[k]);
    bind_layer(&cm->D.out_s, &cm->D.pa, &d->pa, &d->out_s);
    bind_layer(&cm->D.out_c, &cm->D.pa, &d->pa, &d->out_c);
    if ((rc = cl_model_upload(cm, m, err))) cl_model_free(cm);
    return rc;
}

int cl_model_upload(ClModel *cm, const LsdModel *m, lsd_err *err)
{
    TRY(arena_up(cm->cl, &cm->F.pa, &m->F.pa, err));
    TRY(arena_up(cm->cl, &cm->G.pa, &m->G.pa, err));
    TRY(arena_up(cm->cl, &cm->D.pa, &m->D.pa, err));
    cm->step = m->step;
    return LSD_OK;
}

int cl_model_download(const ClModel *cm, LsdModel *m, lsd_err *err)
{
    TRY(arena_down(cm->cl, &cm->F.pa, &m->F.pa, err));
    TRY(arena_down(cm->cl, &cm->G.pa, &m->G.pa, err));
    TRY(arena_down(cm->cl, &cm->D.pa, &m->D.pa, err));
    m->step = cm->step;
    return LSD_OK;
}

size_t cl_model_bytes(const ClModel *cm)
{
    return 4 * sizeof(float) * (cm->F.pa.total + cm->G.pa.total + cm->D.pa.total);
}

/* ------------------------------------------------------------------ activation layouts */

/* The pointers of a host activation struct and the device views they become. Each host
 * pointer lies in the struct's real block (or int32 block); its view covers the elements up
 * to the next pointer of the block (the bump layout is contiguous), the last one up to the
 * block's end. */
#define MAP_CAP 256
typedef struct {
    const void *hp[MAP_CAP];
    lsd_clbuf *dst[MAP_CAP];
    int isint[MAP_CAP];
    int n;
} Map;

static void mp(Map *m, const void *hp, lsd_clbuf *dst, int isint)
{
    memset(dst, 0, sizeof *dst);
    if (!hp || m->n >= MAP_CAP) return;
    m->hp[m->n] = hp;
    m->dst[m->n] = dst;
    m->isint[m->n] = isint;
    m->n++;
}

/* Allocates the device blocks (nr reals from host_base, ni int32 from ibase) and resolves the
 * views. */
static int map_resolve(lsd_cl *cl, Map *m, const real *host_base, size_t nr, const int32_t *ibase,
                       size_t ni, lsd_clbuf *mem, lsd_clbuf *imem, lsd_err *err)
{
    int i, j;
    memset(mem, 0, sizeof *mem);
    memset(imem, 0, sizeof *imem);
    if (!host_base) return LSD_OK; /* the struct is not allocated in this mode */
    TRY(lsd_clbuf_alloc(cl, mem, nr, sizeof(float), err));
    if (ni) TRY(lsd_clbuf_alloc(cl, imem, ni, sizeof(int32_t), err));
    for (i = 0; i < m->n; i++) {
        size_t off, end, o;
        if (m->isint[i]) {
            off = (size_t)((const int32_t *)m->hp[i] - ibase);
            end = ni;
        } else {
            off = (size_t)((const real *)m->hp[i] - host_base);
            end = nr;
        }
        for (j = 0; j < m->n; j++) {
            if (m->isint[j] != m->isint[i]) continue;
            o = m->isint[j] ? (size_t)((const int32_t *)m->hp[j] - ibase)
                            : (size_t)((const real *)m->hp[j] - host_base);
            if (o > off && o < end) end = o;
        }
        if (off > end) return lsd_fail(err, LSD_ERR_ARG, "activation layout out of its block");
        *m->dst[i] = lsd_clbuf_view(m->isint[i] ? imem : mem, off, end - off);
    }
    return LSD_OK;
}

static size_t conv_out_n(const ConvShape *s)
{
    return (size_t)s->N * s->OC * s->OH * s->OW;
}

static int f_map(lsd_cl *cl, ClFActs *d, const FActs *host, lsd_err *err)
{
    Map m;
    int l;
    size_t nr = 0, ni = 0;
    memset(d, 0, sizeof *d);
    m.n = 0;
    d->host = host;
    if (!host->mem) return LSD_OK;
    for (l = 0; l < LSD_NCONV; l++) mp(&m, host->conv[l], &d->conv[l], 0);
    for (l = 0; l < 5; l++) {
        mp(&m, host->pool[l], &d->pool[l], 0);
        mp(&m, host->argmax[l], &d->argmax[l], 1);
    }
    mp(&m, host->fc6, &d->fc6, 0);
    mp(&m, host->fc6_drop, &d->fc6_drop, 0);
    mp(&m, host->fc7, &d->fc7, 0);
    mp(&m, host->fc7_drop, &d->fc7_drop, 0);
    nr = (size_t)(host->fc7_drop - host->mem) + conv_out_n(&host->fc7_shape);
    if (host->argmax[4])
        ni = (size_t)(host->argmax[4] - host->imem) +
             (size_t)host->N * host->conv_shape[12].OC * host->pool_h[4] * host->pool_w[4];
    return map_resolve(cl, &m, host->mem, nr, host->imem, ni, &d->mem, &d->imem, err);
}

static int c_map(lsd_cl *cl, ClCActs *d, const CActs *host, lsd_err *err)
{
    Map m;
    lsd_clbuf unused;
    memset(d, 0, sizeof *d);
    m.n = 0;
    d->host = host;
    if (!host->mem) return LSD_OK;
    mp(&m, host->score_fr, &d->score_fr, 0);
    mp(&m, host->upscore2, &d->upscore2, 0);
    mp(&m, host->score_pool4, &d->score_pool4, 0);
    mp(&m, host->fuse4, &d->fuse4, 0);
    mp(&m, host->upscore_pool4, &d->upscore_pool4, 0);
    mp(&m, host->score_pool3, &d->score_pool3, 0);
    mp(&m, host->fuse3, &d->fuse3, 0);
    mp(&m, host->upscore8, &d->upscore8, 0);
    mp(&m, host->score, &d->score, 0);
    return map_resolve(cl, &m, host->mem,
                       (size_t)(host->score - host->mem) +
                           (size_t)host->N * host->score_fr_shape.OC * host->H * host->W,
                       NULL, 0, &d->mem, &unused, err);
}

static void rb_map(Map *m, ClRBActs *d, const RBActs *host)
{
    mp(m, host->z, &d->z, 0);
    mp(m, host->y, &d->y, 0);
    mp(m, host->a, &d->a, 0);
    mp(m, host->out, &d->out, 0);
    mp(m, host->mean, &d->mean, 0);
    mp(m, host->rstd, &d->rstd, 0);
}

static int g_map(lsd_cl *cl, ClGActs *d, const GActs *host, lsd_err *err)
{
    Map m;
    lsd_clbuf unused;
    int k;
    memset(d, 0, sizeof *d);
    m.n = 0;
    d->host = host;
    if (!host->mem) return LSD_OK;
    for (k = 0; k < LSD_GBLOCKS; k++) {
        const GBlockActs *b = &host->blk[k];
        ClGBlockActs *c = &d->blk[k];
        mp(&m, b->in, &c->in, 0);
        mp(&m, b->z, &c->z, 0);
        mp(&m, b->y, &c->y, 0);
        mp(&m, b->a, &c->a, 0);
        mp(&m, b->mean, &c->mean, 0);
        mp(&m, b->rstd, &c->rstd, 0);
        rb_map(&m, &c->rb[0], &b->rb[0]);
        rb_map(&m, &c->rb[1], &b->rb[1]);
    }
    mp(&m, host->z, &d->z, 0);
    mp(&m, host->img, &d->img, 0);
    return map_resolve(cl, &m, host->mem,
                       (size_t)(host->img - host->mem) + (size_t)host->N * 3 * host->H * host->W,
                       NULL, 0, &d->mem, &unused, err);
}

static int d_map(lsd_cl *cl, ClDActs *d, const DActs *host, lsd_err *err)
{
    Map m;
    int k;
    size_t ni = 0;
    memset(d, 0, sizeof *d);
    m.n = 0;
    d->host = host;
    if (!host->mem) return LSD_OK;
    mp(&m, host->z0, &d->z0, 0);
    mp(&m, host->y0, &d->y0, 0);
    mp(&m, host->a0, &d->a0, 0);
    mp(&m, host->mean0, &d->mean0, 0);
    mp(&m, host->rstd0, &d->rstd0, 0);
    for (k = 0; k < LSD_DBLOCKS; k++) rb_map(&m, &d->rb[k], &host->rb[k]);
    for (k = 0; k < 2; k++) {
        mp(&m, host->pool[k], &d->pool[k], 0);
        mp(&m, host->argmax[k], &d->argmax[k], 1);
    }
    mp(&m, host->domain_score, &d->domain_score, 0);
    mp(&m, host->class_score, &d->class_score, 0);
    if (host->argmax[1])
        ni = (size_t)(host->argmax[1] - host->imem) +
             (size_t)host->N * host->conv0_shape.OC * host->rb_shape[6].H * host->rb_shape[6].W;
    return map_resolve(cl, &m, host->mem,
                       (size_t)(host->class_score - host->mem) +
                           (size_t)host->N * host->class_score_shape.OC * host->h * host->w,
                       host->imem, ni, &d->mem, &d->imem, err);
}

/* The device view of host mask p (one of host->masks). */
static lsd_clbuf mask_of(const ClWork *work, const real *p)
{
    lsd_clbuf z;
    int i;
    memset(&z, 0, sizeof z);
    for (i = 0; p && i < work->host->nmasks; i++)
        if (work->host->masks[i].data == p) return work->masks[i];
    return z;
}

void cl_work_free(ClWork *work)
{
    int i;
    ClFActs *f[3];
    ClGActs *g[3];
    ClDActs *d[2];
    f[0] = &work->fa[0], f[1] = &work->fa[1], f[2] = &work->fg;
    g[0] = &work->ga[0], g[1] = &work->ga[1], g[2] = &work->gg;
    d[0] = &work->da, d[1] = &work->dg;
    for (i = 0; i < 3; i++) {
        lsd_clbuf_free(&f[i]->mem);
        lsd_clbuf_free(&f[i]->imem);
        lsd_clbuf_free(&g[i]->mem);
    }
    for (i = 0; i < 2; i++) {
        lsd_clbuf_free(&d[i]->mem);
        lsd_clbuf_free(&d[i]->imem);
    }
    lsd_clbuf_free(&work->ca.mem);
    lsd_clbuf_free(&work->cg.mem);
    lsd_clbuf_free(&work->mask_mem);
    lsd_clbuf_free(&work->scratch);
    lsd_clbuf_free(&work->tmp);
    lsd_clbuf_free(&work->xs);
    lsd_clbuf_free(&work->xt);
    lsd_clbuf_free(&work->xs01);
    lsd_clbuf_free(&work->xt01);
    lsd_clbuf_free(&work->ys);
    lsd_clbuf_free(&work->yd);
    free(work->masks);
    memset(work, 0, sizeof *work);
}

static size_t buf_bytes(const lsd_clbuf *b)
{
    return b->mem && !b->is_view ? b->n * b->esize : 0;
}

static int work_create(ClWork *work, lsd_cl *cl, LsdWork *host, lsd_err *err)
{
    int i, k, j, N = host->N;
    size_t nimg = (size_t)N * 3 * host->H * host->W, tmp_n = 0;
    const FActs *fa = &host->fa[0];
    work->cl = cl;
    work->host = host;
    TRY(f_map(cl, &work->fa[0], &host->fa[0], err));
    TRY(f_map(cl, &work->fa[1], &host->fa[1], err));
    TRY(f_map(cl, &work->fg, &host->fg, err));
    TRY(c_map(cl, &work->ca, &host->ca, err));
    TRY(c_map(cl, &work->cg, &host->cg, err));
    TRY(g_map(cl, &work->ga[0], &host->ga[0], err));
    TRY(g_map(cl, &work->ga[1], &host->ga[1], err));
    TRY(g_map(cl, &work->gg, &host->gg, err));
    TRY(d_map(cl, &work->da, &host->da, err));
    TRY(d_map(cl, &work->dg, &host->dg, err));
    /* masks: the host table's layout in one block */
    work->masks = (lsd_clbuf *)calloc((size_t)(host->nmasks ? host->nmasks : 1),
                                      sizeof *work->masks);
    if (!work->masks) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the mask table");
    for (i = 0; i < host->nmasks; i++) {
        size_t end = (size_t)(host->masks[i].data - host->mask_mem) + host->masks[i].size;
        if (end > work->mask_total) work->mask_total = end;
    }
    TRY(lsd_clbuf_alloc(cl, &work->mask_mem, work->mask_total, sizeof(float), err));
    for (i = 0; i < host->nmasks; i++)
        work->masks[i] = lsd_clbuf_view(&work->mask_mem,
                                        (size_t)(host->masks[i].data - host->mask_mem),
                                        host->masks[i].size);
    for (i = 0; i < 2; i++) {
        work->fm[i].fc6 = mask_of(work, host->fm[i].fc6);
        work->fm[i].fc7 = mask_of(work, host->fm[i].fc7);
        for (k = 0; k < LSD_GBLOCKS; k++)
            for (j = 0; j < 2; j++) work->gm[i].rb[k][j] = mask_of(work, host->gm[i].rb[k][j]);
    }
    for (i = 0; i < 4; i++)
        for (k = 0; k < LSD_DBLOCKS; k++) work->dm[i].rb[k] = mask_of(work, host->dm[i].rb[k]);
    /* scratch, F's ReLU temporary, the batch */
    TRY(lsd_clbuf_alloc(cl, &work->scratch, host->scratch_n, sizeof(float), err));
    for (i = 0; i < LSD_NCONV; i++)
        if (conv_out_n(&fa->conv_shape[i]) > tmp_n) tmp_n = conv_out_n(&fa->conv_shape[i]);
    if (conv_out_n(&fa->fc6_shape) > tmp_n) tmp_n = conv_out_n(&fa->fc6_shape);
    TRY(lsd_clbuf_alloc(cl, &work->tmp, tmp_n, sizeof(float), err));
    TRY(lsd_clbuf_alloc(cl, &work->xs, nimg, sizeof(float), err));
    if (host->mode == LSD_WORK_TRAIN) {
        TRY(lsd_clbuf_alloc(cl, &work->xt, nimg, sizeof(float), err));
        TRY(lsd_clbuf_alloc(cl, &work->xs01, nimg, sizeof(float), err));
        TRY(lsd_clbuf_alloc(cl, &work->xt01, nimg, sizeof(float), err));
        TRY(lsd_clbuf_alloc(cl, &work->yd, (size_t)N * host->da.h * host->da.w, 1, err));
    }
    if (host->mode != LSD_WORK_INFER)
        TRY(lsd_clbuf_alloc(cl, &work->ys, (size_t)N * host->H * host->W, 1, err));
    {
        const lsd_clbuf *all[] = {&work->fa[0].mem, &work->fa[0].imem, &work->fa[1].mem,
                                  &work->fa[1].imem, &work->fg.mem, &work->ca.mem, &work->cg.mem,
                                  &work->ga[0].mem, &work->ga[1].mem, &work->gg.mem, &work->da.mem,
                                  &work->da.imem, &work->dg.mem, &work->mask_mem, &work->scratch,
                                  &work->tmp, &work->xs, &work->xt, &work->xs01, &work->xt01,
                                  &work->ys, &work->yd};
        for (i = 0; i < (int)(sizeof all / sizeof all[0]); i++) work->bytes += buf_bytes(all[i]);
    }
    return cl_work_upload_masks(work, err);
}

int cl_work_create(ClWork *work, lsd_cl *cl, LsdWork *host, lsd_err *err)
{
    int rc;
    memset(work, 0, sizeof *work);
    if ((rc = work_create(work, cl, host, err))) {
        cl_work_free(work);
        lsd_err_prefix(err, "device work");
    }
    return rc;
}

int cl_work_upload_masks(ClWork *work, lsd_err *err)
{
    if (!work->mask_total) return LSD_OK;
    return lsd_clbuf_write(work->cl, &work->mask_mem, 0, work->host->mask_mem, work->mask_total,
                           err);
}

int cl_work_download_masks(ClWork *work, lsd_err *err)
{
    if (!work->mask_total) return LSD_OK;
    return lsd_clbuf_read(work->cl, &work->mask_mem, 0, work->host->mask_mem, work->mask_total,
                          err);
}

/* One device block into the host block it mirrors. */
static int down(lsd_cl *cl, const lsd_clbuf *d, void *host, lsd_err *err)
{
    if (!d->mem || !host) return LSD_OK;
    return lsd_clbuf_read(cl, d, 0, host, d->n, err);
}

int cl_work_download(ClWork *work, lsd_err *err)
{
    LsdWork *host = work->host;
    lsd_cl *cl = work->cl;
    int i;
    for (i = 0; i < 2; i++) {
        TRY(down(cl, &work->fa[i].mem, host->fa[i].mem, err));
        TRY(down(cl, &work->fa[i].imem, host->fa[i].imem, err));
        TRY(down(cl, &work->ga[i].mem, host->ga[i].mem, err));
    }
    TRY(down(cl, &work->fg.mem, host->fg.mem, err));
    TRY(down(cl, &work->ca.mem, host->ca.mem, err));
    TRY(down(cl, &work->cg.mem, host->cg.mem, err));
    TRY(down(cl, &work->gg.mem, host->gg.mem, err));
    TRY(down(cl, &work->da.mem, host->da.mem, err));
    TRY(down(cl, &work->da.imem, host->da.imem, err));
    return down(cl, &work->dg.mem, host->dg.mem, err);
}

/* ------------------------------------------------------------------ F and C (fcn.c) */

/* layers/activation.c's relu_backward_inplace: d <- d * [y > 0], through tmp. */
static int relu_backward_inplace(lsd_cl *cl, lsd_clbuf *d, const lsd_clbuf *y, size_t n,
                                 lsd_clbuf *tmp, lsd_err *err)
{
    TRY(lsd_clbuf_fill(cl, tmp, 0, n, 0.0f, err));
    TRY(cl_relu_backward(cl, tmp, d, y, n, err));
    return cl_vec_copy(cl, d, tmp, n, err);
}

/* fcn.c's conv_input. */
static const lsd_clbuf *conv_input(const ClFActs *a, const lsd_clbuf *x, int l)
{
    if (l == 0) return x;
    if (LSD_VGG_STAGE[l - 1] != LSD_VGG_STAGE[l]) return &a->pool[LSD_VGG_STAGE[l - 1]];
    return &a->conv[l - 1];
}

int cl_f_forward(lsd_cl *cl, ClFActs *a, const lsd_clbuf *x, const ClFNet *f,
                 const ClFMasks *mk, lsd_clbuf *scratch, lsd_err *err)
{
    const FActs *host = a->host;
    int N = host->N, l, s;
    const ConvShape *s6 = &host->fc6_shape, *s7 = &host->fc7_shape;
    for (l = 0; l < LSD_NCONV; l++) {
        const ConvShape *cs = &host->conv_shape[l];
        TRY(cl_conv2d_forward(cl, &a->conv[l], conv_input(a, x, l), &f->conv[l].weight,
                              COPT(&f->conv[l].bias), cs, scratch, err));
        TRY(cl_relu_forward(cl, &a->conv[l], &a->conv[l], conv_out_n(cs), err));
        s = LSD_VGG_STAGE[l];
        if (l == LSD_VGG_LAST[s])
            TRY(cl_maxpool2d_forward(cl, &a->pool[s], &a->argmax[s], &a->conv[l], N, cs->OC,
                                     cs->OH, cs->OW, host->pool_h[s], host->pool_w[s], err));
    }
    TRY(cl_conv2d_forward(cl, &a->fc6, &a->pool[4], &f->fc6.weight, COPT(&f->fc6.bias), s6,
                          scratch, err));
    TRY(cl_relu_forward(cl, &a->fc6, &a->fc6, conv_out_n(s6), err));
    TRY(cl_dropout2d_forward(cl, &a->fc6_drop, &a->fc6, &mk->fc6, N * s6->OC, s6->OH * s6->OW,
                             err));
    TRY(cl_conv2d_forward(cl, &a->fc7, &a->fc6_drop, &f->fc7.weight, COPT(&f->fc7.bias), s7,
                          scratch, err));
    TRY(cl_relu_forward(cl, &a->fc7, &a->fc7, conv_out_n(s7), err));
    return cl_dropout2d_forward(cl, &a->fc7_drop, &a->fc7, &mk->fc7, N * s7->OC, s7->OH * s7->OW,
                                err);
}

int cl_f_backward(lsd_cl *cl, ClFActs *fg, const ClFActs *a, const lsd_clbuf *x, ClFNet *f,
                  const ClFMasks *mk, lsd_clbuf *scratch, lsd_clbuf *tmp, lsd_err *err)
{
    const FActs *host = a->host;
    int N = host->N, l, s;
    const ConvShape *s6 = &host->fc6_shape, *s7 = &host->fc7_shape;
    TRY(cl_dropout2d_backward(cl, &fg->fc7, &fg->fc7_drop, &mk->fc7, N * s7->OC, s7->OH * s7->OW,
                              err));
    TRY(relu_backward_inplace(cl, &fg->fc7, &a->fc7, conv_out_n(s7), tmp, err));
    TRY(cl_conv2d_backward(cl, &fg->fc6_drop, &f->fc7.dweight, OPT(&f->fc7.dbias), &fg->fc7,
                           &a->fc6_drop, &f->fc7.weight, s7, scratch, err));
    TRY(cl_dropout2d_backward(cl, &fg->fc6, &fg->fc6_drop, &mk->fc6, N * s6->OC, s6->OH * s6->OW,
                              err));
    TRY(relu_backward_inplace(cl, &fg->fc6, &a->fc6, conv_out_n(s6), tmp, err));
    TRY(cl_conv2d_backward(cl, &fg->pool[4], &f->fc6.dweight, OPT(&f->fc6.dbias), &fg->fc6,
                           &a->pool[4], &f->fc6.weight, s6, scratch, err));
    for (l = LSD_NCONV - 1; l >= 0; l--) {
        const ConvShape *cs = &host->conv_shape[l];
        s = LSD_VGG_STAGE[l];
        if (l == LSD_VGG_LAST[s])
            TRY(cl_maxpool2d_backward(cl, &fg->conv[l], &fg->pool[s], &a->argmax[s], N, cs->OC,
                                      cs->OH, cs->OW, host->pool_h[s], host->pool_w[s], err));
        TRY(relu_backward_inplace(cl, &fg->conv[l], &a->conv[l], conv_out_n(cs), tmp, err));
        TRY(cl_conv2d_backward(cl, l ? (lsd_clbuf *)conv_input(fg, NULL, l) : NULL,
                               &f->conv[l].dweight, OPT(&f->conv[l].dbias), &fg->conv[l],
                               conv_input(a, x, l), &f->conv[l].weight, cs, scratch, err));
    }
    return LSD_OK;
}

int cl_c_forward(lsd_cl *cl, ClCActs *c, const ClFActs *a, const ClFNet *f, lsd_clbuf *scratch,
                 lsd_err *err)
{
    const CActs *host = c->host;
    const FActs *fhost = a->host;
    int N = host->N, k = host->score_fr_shape.OC;
    const ConvShape *u2 = &host->upscore2_shape, *u4 = &host->upscore_pool4_shape;
    const ConvShape *u8 = &host->upscore8_shape;
    TRY(cl_conv2d_forward(cl, &c->score_fr, &a->fc7_drop, &f->score_fr.weight,
                          COPT(&f->score_fr.bias), &host->score_fr_shape, scratch, err));
    TRY(cl_convt_forward(cl, &c->upscore2, &c->score_fr, &f->upscore2.weight, NULL, u2, scratch,
                         err));
    TRY(cl_conv2d_forward(cl, &c->score_pool4, &a->pool[3], &f->score_pool4.weight,
                          COPT(&f->score_pool4.bias), &host->score_pool4_shape, scratch, err));
    TRY(cl_crop_forward(cl, &c->fuse4, &c->score_pool4, N, k, fhost->pool_h[3], fhost->pool_w[3], 5,
                        5, u2->OH, u2->OW, err));
    TRY(cl_vec_add(cl, &c->fuse4, &c->fuse4, &c->upscore2, conv_out_n(u2), err));
    TRY(cl_convt_forward(cl, &c->upscore_pool4, &c->fuse4, &f->upscore_pool4.weight, NULL, u4,
                         scratch, err));
    TRY(cl_conv2d_forward(cl, &c->score_pool3, &a->pool[2], &f->score_pool3.weight,
                          COPT(&f->score_pool3.bias), &host->score_pool3_shape, scratch, err));
    TRY(cl_crop_forward(cl, &c->fuse3, &c->score_pool3, N, k, fhost->pool_h[2], fhost->pool_w[2], 9,
                        9, u4->OH, u4->OW, err));
    TRY(cl_vec_add(cl, &c->fuse3, &c->fuse3, &c->upscore_pool4, conv_out_n(u4), err));
    TRY(cl_convt_forward(cl, &c->upscore8, &c->fuse3, &f->upscore8.weight, NULL, u8, scratch, err));
    return cl_crop_forward(cl, &c->score, &c->upscore8, N, k, u8->OH, u8->OW, 31, 31, host->H,
                           host->W, err);
}

int cl_c_backward(lsd_cl *cl, ClCActs *cg, ClFActs *fg, const ClCActs *c, const ClFActs *a,
                  ClFNet *f, int want_param_grads, lsd_clbuf *scratch, lsd_err *err)
{
    const CActs *host = c->host;
    const FActs *fhost = a->host;
    int N = host->N, k = host->score_fr_shape.OC, want = want_param_grads;
    const ConvShape *u2 = &host->upscore2_shape, *u4 = &host->upscore_pool4_shape;
    const ConvShape *u8 = &host->upscore8_shape;
    TRY(cl_crop_backward(cl, &cg->upscore8, &cg->score, N, k, u8->OH, u8->OW, 31, 31, host->H,
                         host->W, err));
    TRY(cl_convt_backward(cl, &cg->fuse3, NULL, NULL, &cg->upscore8, &c->fuse3,
                          &f->upscore8.weight, u8, scratch, err));
    TRY(cl_vec_add(cl, &cg->upscore_pool4, &cg->upscore_pool4, &cg->fuse3, conv_out_n(u4),
                   err));
    TRY(cl_crop_backward(cl, &cg->score_pool3, &cg->fuse3, N, k, fhost->pool_h[2], fhost->pool_w[2],
                         9, 9, u4->OH, u4->OW, err));
    TRY(cl_conv2d_backward(cl, &fg->pool[2], want ? &f->score_pool3.dweight : NULL,
                           want ? OPT(&f->score_pool3.dbias) : NULL, &cg->score_pool3, &a->pool[2],
                           &f->score_pool3.weight, &host->score_pool3_shape, scratch, err));
    TRY(cl_convt_backward(cl, &cg->fuse4, NULL, NULL, &cg->upscore_pool4, &c->fuse4,
                          &f->upscore_pool4.weight, u4, scratch, err));
    TRY(cl_vec_add(cl, &cg->upscore2, &cg->upscore2, &cg->fuse4, conv_out_n(u2), err));
    TRY(cl_crop_backward(cl, &cg->score_pool4, &cg->fuse4, N, k, fhost->pool_h[3], fhost->pool_w[3],
                         5, 5, u2->OH, u2->OW, err));
    TRY(cl_conv2d_backward(cl, &fg->pool[3], want ? &f->score_pool4.dweight : NULL,
                           want ? OPT(&f->score_pool4.dbias) : NULL, &cg->score_pool4, &a->pool[3],
                           &f->score_pool4.weight, &host->score_pool4_shape, scratch, err));
    TRY(cl_convt_backward(cl, &cg->score_fr, NULL, NULL, &cg->upscore2, &c->score_fr,
                          &f->upscore2.weight, u2, scratch, err));
    return cl_conv2d_backward(cl, &fg->fc7_drop, want ? &f->score_fr.dweight : NULL,
                              want ? OPT(&f->score_fr.dbias) : NULL, &cg->score_fr, &a->fc7_drop,
                              &f->score_fr.weight, &host->score_fr_shape, scratch, err);
}

/* ------------------------------------------------------------------ G (generator.c) */

static int gblock_forward(lsd_cl *cl, ClGBlockActs *a, const GBlockActs *host,
                          const lsd_clbuf *in, const ClGBlock *p, const lsd_clbuf *mask,
                          lsd_clbuf *scratch, lsd_err *err)
{
    const ConvShape *s = &host->convt_shape;
    int N = s->N, C = s->OC, HW = s->OH * s->OW;
    TRY(cl_convt_forward(cl, &a->z, in, &p->convt.weight, NULL, s, scratch, err));
    TRY(cl_instance_norm_forward(cl, &a->y, &a->mean, &a->rstd, &a->z, N, C, HW, LSD_IN_EPS, err));
    TRY(cl_relu_forward(cl, &a->a, &a->y, (size_t)N * C * HW, err));
    TRY(cl_rb_forward(cl, &a->rb[0], &a->a, &p->rb[0].weight, COPT(&p->rb[0].bias), &mask[0],
                      &host->rb_shape, LSD_IN_EPS, 0, scratch, err));
    return cl_rb_forward(cl, &a->rb[1], &a->rb[0].out, &p->rb[1].weight, COPT(&p->rb[1].bias),
                         &mask[1], &host->rb_shape, LSD_IN_EPS, 0, scratch, err);
}

static int gblock_backward(lsd_cl *cl, lsd_clbuf *din, ClGBlockActs *g, const ClGBlockActs *a,
                           const GBlockActs *host, const lsd_clbuf *in, ClGBlock *p,
                           const lsd_clbuf *mask, int want, lsd_clbuf *scratch, lsd_err *err)
{
    const ConvShape *s = &host->convt_shape;
    int N = s->N, C = s->OC, HW = s->OH * s->OW;
    TRY(cl_rb_backward(cl, &g->rb[0].out, want ? &p->rb[1].dweight : NULL,
                       want ? OPT(&p->rb[1].dbias) : NULL, &g->rb[1], &a->rb[1], &a->rb[0].out,
                       &p->rb[1].weight, &mask[1], &host->rb_shape, 0, scratch, err));
    TRY(cl_rb_backward(cl, &g->a, want ? &p->rb[0].dweight : NULL,
                       want ? OPT(&p->rb[0].dbias) : NULL, &g->rb[0], &a->rb[0], &a->a,
                       &p->rb[0].weight, &mask[0], &host->rb_shape, 0, scratch, err));
    TRY(cl_relu_backward(cl, &g->y, &g->a, &a->a, (size_t)N * C * HW, err));
    TRY(cl_instance_norm_backward(cl, &g->z, &g->y, &a->z, &a->mean, &a->rstd, N, C, HW, err));
    return cl_convt_backward(cl, din, want ? &p->convt.dweight : NULL, NULL, &g->z, in,
                             &p->convt.weight, s, scratch, err);
}

int cl_g_forward(lsd_cl *cl, ClGActs *a, const lsd_clbuf *fc7, const lsd_clbuf *pool4,
                 const lsd_clbuf *pool3, const ClGNet *g, const ClGMasks *mk, lsd_clbuf *scratch,
                 lsd_err *err)
{
    const GActs *host = a->host;
    const GBlockActs *hblk = host->blk;
    ClGBlockActs *b = a->blk;
    int N = host->N;
    size_t n = (size_t)N * 3 * host->H * host->W;
    TRY(gblock_forward(cl, &b[0], &hblk[0], fc7, &g->blk[0], mk->rb[0], scratch, err));
    TRY(gblock_forward(cl, &b[1], &hblk[1], &b[1].in, &g->blk[1], mk->rb[1], scratch, err));
    TRY(cl_concat_forward(cl, &b[2].in, &b[1].rb[1].out, hblk[1].convt_shape.OC, pool4,
                          hblk[2].convt_shape.C - hblk[1].convt_shape.OC, N,
                          hblk[2].convt_shape.H * hblk[2].convt_shape.W, err));
    TRY(gblock_forward(cl, &b[2], &hblk[2], &b[2].in, &g->blk[2], mk->rb[2], scratch, err));
    TRY(cl_concat_forward(cl, &b[3].in, &b[2].rb[1].out, hblk[2].convt_shape.OC, pool3,
                          hblk[3].convt_shape.C - hblk[2].convt_shape.OC, N,
                          hblk[3].convt_shape.H * hblk[3].convt_shape.W, err));
    TRY(gblock_forward(cl, &b[3], &hblk[3], &b[3].in, &g->blk[3], mk->rb[3], scratch, err));
    TRY(gblock_forward(cl, &b[4], &hblk[4], &b[4].in, &g->blk[4], mk->rb[4], scratch, err));
    TRY(cl_convt_forward(cl, &a->z, &b[4].rb[1].out, &g->out.weight, COPT(&g->out.bias),
                         &host->out_shape, scratch, err));
    return cl_sigmoid_forward(cl, &a->img, &a->z, n, err);
}

int cl_g_backward(lsd_cl *cl, lsd_clbuf *dfc7, lsd_clbuf *dpool4, lsd_clbuf *dpool3,
                  ClGActs *gg, const ClGActs *a, const lsd_clbuf *fc7, ClGNet *g,
                  const ClGMasks *mk, int want_param_grads, lsd_clbuf *scratch, lsd_err *err)
{
    const GActs *host = a->host;
    const GBlockActs *hblk = host->blk;
    ClGBlockActs *gb = gg->blk;
    const ClGBlockActs *b = a->blk;
    int N = host->N, want = want_param_grads;
    size_t n = (size_t)N * 3 * host->H * host->W;
    TRY(cl_sigmoid_backward(cl, &gg->z, &gg->img, &a->img, n, err));
    TRY(cl_convt_backward(cl, &gb[4].rb[1].out, want ? &g->out.dweight : NULL,
                          want ? OPT(&g->out.dbias) : NULL, &gg->z, &b[4].rb[1].out, &g->out.weight,
                          &host->out_shape, scratch, err));
    TRY(gblock_backward(cl, &gb[4].in, &gb[4], &b[4], &hblk[4], &b[4].in, &g->blk[4], mk->rb[4],
                        want, scratch, err));
    TRY(gblock_backward(cl, &gb[3].in, &gb[3], &b[3], &hblk[3], &b[3].in, &g->blk[3], mk->rb[3],
                        want, scratch, err));
    TRY(cl_concat_backward(cl, &gb[2].rb[1].out, dpool3, &gb[3].in, hblk[2].convt_shape.OC,
                           hblk[3].convt_shape.C - hblk[2].convt_shape.OC, N,
                           hblk[3].convt_shape.H * hblk[3].convt_shape.W, err));
    TRY(gblock_backward(cl, &gb[2].in, &gb[2], &b[2], &hblk[2], &b[2].in, &g->blk[2], mk->rb[2],
                        want, scratch, err));
    TRY(cl_concat_backward(cl, &gb[1].rb[1].out, dpool4, &gb[2].in, hblk[1].convt_shape.OC,
                           hblk[2].convt_shape.C - hblk[1].convt_shape.OC, N,
                           hblk[2].convt_shape.H * hblk[2].convt_shape.W, err));
    TRY(gblock_backward(cl, &gb[1].in, &gb[1], &b[1], &hblk[1], &b[1].in, &g->blk[1], mk->rb[1],
                        want, scratch, err));
    return gblock_backward(cl, dfc7, &gb[0], &b[0], &hblk[0], fc7, &g->blk[0], mk->rb[0], want,
                           scratch, err);
}

/* ------------------------------------------------------------------ D (discriminator.c) */

static const lsd_clbuf *rb_input(const ClDActs *a, int k)
{
    if (k == 0) return &a->a0;
    if (k == 3 || k == 6) return &a->pool[k / 3 - 1];
    return &a->rb[k - 1].out;
}

int cl_d_forward(lsd_cl *cl, ClDActs *a, const lsd_clbuf *x, const ClDNet *d,
                 const ClDMasks *mk, lsd_clbuf *scratch, lsd_err *err)
{
    const DActs *host = a->host;
    const ConvShape *s0 = &host->conv0_shape;
    int N = host->N, C = s0->OC, k;
    const lsd_clbuf *top;
    TRY(cl_conv2d_forward(cl, &a->z0, x, &d->conv0.weight, COPT(&d->conv0.bias), s0, scratch, err));
    TRY(cl_instance_norm_forward(cl, &a->y0, &a->mean0, &a->rstd0, &a->z0, N, C,
                                 s0->OH * s0->OW, LSD_IN_EPS, err));
    TRY(cl_leaky_relu_forward(cl, &a->a0, &a->y0, (size_t)N * C * s0->OH * s0->OW, LSD_LEAK, err));
    for (k = 0; k < LSD_DBLOCKS; k++) {
        const ConvShape *s = &host->rb_shape[k];
        TRY(cl_rb_forward(cl, &a->rb[k], rb_input(a, k), &d->rb[k].weight, COPT(&d->rb[k].bias),
                          &mk->rb[k], s, LSD_IN_EPS, LSD_LEAK, scratch, err));
        if (k == 2 || k == 5)
            TRY(cl_maxpool2d_forward(cl, &a->pool[k / 3], &a->argmax[k / 3], &a->rb[k].out, N,
                                     C, s->OH, s->OW, host->rb_shape[k + 1].H,
                                     host->rb_shape[k + 1].W, err));
    }
    top = &a->rb[LSD_DBLOCKS - 1].out;
    TRY(cl_conv2d_forward(cl, &a->domain_score, top, &d->out_s.weight, COPT(&d->out_s.bias),
                          &host->domain_score_shape, scratch, err));
    return cl_conv2d_forward(cl, &a->class_score, top, &d->out_c.weight, COPT(&d->out_c.bias),
                             &host->class_score_shape, scratch, err);
}

int cl_d_backward(lsd_cl *cl, lsd_clbuf *dx, ClDActs *dg, const ClDActs *a, const lsd_clbuf *x,
                  ClDNet *d, const ClDMasks *mk, int want_param_grads, lsd_clbuf *scratch,
                  lsd_err *err)
{
    const DActs *host = a->host;
    const ConvShape *s0 = &host->conv0_shape;
    int N = host->N, C = s0->OC, k, want = want_param_grads;
    const lsd_clbuf *top = &a->rb[LSD_DBLOCKS - 1].out;
    lsd_clbuf *dtop = &dg->rb[LSD_DBLOCKS - 1].out;
    TRY(cl_conv2d_backward(cl, dtop, want ? &d->out_c.dweight : NULL,
                           want ? OPT(&d->out_c.dbias) : NULL, &dg->class_score, top,
                           &d->out_c.weight, &host->class_score_shape, scratch, err));
    TRY(cl_conv2d_backward(cl, dtop, want ? &d->out_s.dweight : NULL,
                           want ? OPT(&d->out_s.dbias) : NULL, &dg->domain_score, top,
                           &d->out_s.weight, &host->domain_score_shape, scratch, err));
    for (k = LSD_DBLOCKS - 1; k >= 0; k--) {
        const ConvShape *s = &host->rb_shape[k];
        if (k == 2 || k == 5)
            TRY(cl_maxpool2d_backward(cl, &dg->rb[k].out, &dg->pool[k / 3], &a->argmax[k / 3],
                                      N, C, s->OH, s->OW, host->rb_shape[k + 1].H,
                                      host->rb_shape[k + 1].W, err));
        TRY(cl_rb_backward(cl, (lsd_clbuf *)rb_input(dg, k), want ? &d->rb[k].dweight : NULL,
                           want ? OPT(&d->rb[k].dbias) : NULL, &dg->rb[k], &a->rb[k],
                           rb_input(a, k), &d->rb[k].weight, &mk->rb[k], s, LSD_LEAK, scratch,
                           err));
    }
    TRY(cl_leaky_relu_backward(cl, &dg->y0, &dg->a0, &a->y0, (size_t)N * C * s0->OH * s0->OW,
                               LSD_LEAK, err));
    TRY(cl_instance_norm_backward(cl, &dg->z0, &dg->y0, &a->z0, &a->mean0, &a->rstd0, N, C,
                                  s0->OH * s0->OW, err));
    return cl_conv2d_backward(cl, OPT(dx), want ? &d->conv0.dweight : NULL,
                              want ? OPT(&d->conv0.dbias) : NULL,
                              &dg->z0, x, &d->conv0.weight, s0, scratch, err);
}
