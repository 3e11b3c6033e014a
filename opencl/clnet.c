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

static int arena_create(lsd_cl *cl, ClArena *a, const ParamArena *h, lsd_err *err)
{
    memset(a, 0, sizeof *a);
    a->spec = (ParamSpec *)malloc((size_t)(h->n ? h->n : 1) * sizeof *a->spec);
    if (!a->spec) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a parameter table");
    memcpy(a->spec, h->spec, (size_t)h->n * sizeof *a->spec);
    a->n = h->n;
    a->total = h->total;
    if (lsd_clbuf_alloc(cl, &a->param, h->total, sizeof(float), err) ||
        lsd_clbuf_alloc(cl, &a->grad, h->total, sizeof(float), err) ||
        lsd_clbuf_alloc(cl, &a->m, h->total, sizeof(float), err) ||
        lsd_clbuf_alloc(cl, &a->v, h->total, sizeof(float), err)) {
        arena_release(a);
        lsd_err_prefix(err, "device parameters");
        return err ? err->code : LSD_ERR_NOMEM;
    }
    return LSD_OK;
}

static int arena_up(lsd_cl *cl, ClArena *a, const ParamArena *h, lsd_err *err)
{
    if (a->total != h->total)
        return lsd_fail(err, LSD_ERR_ARG, "%s arena: %lu elements on the device, %lu on the host",
                        h->prefix, (unsigned long)a->total, (unsigned long)h->total);
    TRY(lsd_clbuf_write(cl, &a->param, 0, h->param, h->total, err));
    TRY(lsd_clbuf_write(cl, &a->grad, 0, h->grad, h->total, err));
    TRY(lsd_clbuf_write(cl, &a->m, 0, h->m, h->total, err));
    return lsd_clbuf_write(cl, &a->v, 0, h->v, h->total, err);
}

static int arena_down(lsd_cl *cl, const ClArena *a, ParamArena *h, lsd_err *err)
{
    if (a->total != h->total)
        return lsd_fail(err, LSD_ERR_ARG, "%s arena: %lu elements on the device, %lu on the host",
                        h->prefix, (unsigned long)a->total, (unsigned long)h->total);
    TRY(lsd_clbuf_read(cl, &a->param, 0, h->param, h->total, err));
    TRY(lsd_clbuf_read(cl, &a->grad, 0, h->grad, h->total, err));
    TRY(lsd_clbuf_read(cl, &a->m, 0, h->m, h->total, err));
    return lsd_clbuf_read(cl, &a->v, 0, h->v, h->total, err);
}

/* The view of the tensor that starts at host pointer p of arena h (in array base). */
static lsd_clbuf tensor_view(const lsd_clbuf *base, const ParamArena *h, const real *hbase,
                             const real *p)
{
    lsd_clbuf z;
    size_t off;
    int k;
    memset(&z, 0, sizeof z);
    if (!p) return z;
    off = (size_t)(p - hbase);
    for (k = 0; k < h->n; k++)
        if (h->spec[k].offset == off) return lsd_clbuf_view(base, off, h->spec[k].size);
    return z;
}

/* ClLayer views at the offsets of a host LayerParams. */
static void bind_layer(ClLayer *l, const ClArena *a, const ParamArena *h, const LayerParams *lp)
{
    l->w = tensor_view(&a->param, h, h->param, lp->w);
    l->b = tensor_view(&a->param, h, h->param, lp->b);
    l->dw = tensor_view(&a->grad, h, h->grad, lp->dw);
    l->db = tensor_view(&a->grad, h, h->grad, lp->db);
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

/* Allocates the device blocks (nr reals from hbase, ni int32 from ibase) and resolves the
 * views. */
static int map_resolve(lsd_cl *cl, Map *m, const real *hbase, size_t nr, const int32_t *ibase,
                       size_t ni, lsd_clbuf *mem, lsd_clbuf *imem, lsd_err *err)
{
    int i, j;
    memset(mem, 0, sizeof *mem);
    memset(imem, 0, sizeof *imem);
    if (!hbase) return LSD_OK; /* the struct is not allocated in this mode */
    TRY(lsd_clbuf_alloc(cl, mem, nr, sizeof(float), err));
    if (ni) TRY(lsd_clbuf_alloc(cl, imem, ni, sizeof(int32_t), err));
    for (i = 0; i < m->n; i++) {
        size_t off, end, o;
        if (m->isint[i]) {
            off = (size_t)((const int32_t *)m->hp[i] - ibase);
            end = ni;
        } else {
            off = (size_t)((const real *)m->hp[i] - hbase);
            end = nr;
        }
        for (j = 0; j < m->n; j++) {
            if (m->isint[j] != m->isint[i]) continue;
            o = m->isint[j] ? (size_t)((const int32_t *)m->hp[j] - ibase)
                            : (size_t)((const real *)m->hp[j] - hbase);
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

static int f_map(lsd_cl *cl, ClFActs *d, const FActs *h, lsd_err *err)
{
    Map m;
    int l;
    size_t nr = 0, ni = 0;
    memset(d, 0, sizeof *d);
    m.n = 0;
    d->h = h;
    if (!h->mem) return LSD_OK;
    for (l = 0; l < LSD_NCONV; l++) mp(&m, h->conv[l], &d->conv[l], 0);
    for (l = 0; l < 5; l++) {
        mp(&m, h->pool[l], &d->pool[l], 0);
        mp(&m, h->argmax[l], &d->argmax[l], 1);
    }
    mp(&m, h->fc6, &d->fc6, 0);
    mp(&m, h->fc6d, &d->fc6d, 0);
    mp(&m, h->fc7, &d->fc7, 0);
    mp(&m, h->fc7d, &d->fc7d, 0);
    nr = (size_t)(h->fc7d - h->mem) + conv_out_n(&h->fc7_s);
    if (h->argmax[4])
        ni = (size_t)(h->argmax[4] - h->imem) +
             (size_t)h->N * h->conv_s[12].OC * h->pool_h[4] * h->pool_w[4];
    return map_resolve(cl, &m, h->mem, nr, h->imem, ni, &d->mem, &d->imem, err);
}

static int c_map(lsd_cl *cl, ClCActs *d, const CActs *h, lsd_err *err)
{
    Map m;
    lsd_clbuf unused;
    memset(d, 0, sizeof *d);
    m.n = 0;
    d->h = h;
    if (!h->mem) return LSD_OK;
    mp(&m, h->score_fr, &d->score_fr, 0);
    mp(&m, h->upscore2, &d->upscore2, 0);
    mp(&m, h->score_pool4, &d->score_pool4, 0);
    mp(&m, h->fuse4, &d->fuse4, 0);
    mp(&m, h->upscore_pool4, &d->upscore_pool4, 0);
    mp(&m, h->score_pool3, &d->score_pool3, 0);
    mp(&m, h->fuse3, &d->fuse3, 0);
    mp(&m, h->upscore8, &d->upscore8, 0);
    mp(&m, h->score, &d->score, 0);
    return map_resolve(cl, &m, h->mem,
                       (size_t)(h->score - h->mem) +
                           (size_t)h->N * h->score_fr_s.OC * h->H * h->W,
                       NULL, 0, &d->mem, &unused, err);
}

static void rb_map(Map *m, ClRBActs *d, const RBActs *h)
{
    mp(m, h->z, &d->z, 0);
    mp(m, h->y, &d->y, 0);
    mp(m, h->a, &d->a, 0);
    mp(m, h->out, &d->out, 0);
    mp(m, h->mean, &d->mean, 0);
    mp(m, h->rstd, &d->rstd, 0);
}

static int g_map(lsd_cl *cl, ClGActs *d, const GActs *h, lsd_err *err)
{
    Map m;
    lsd_clbuf unused;
    int k;
    memset(d, 0, sizeof *d);
    m.n = 0;
    d->h = h;
    if (!h->mem) return LSD_OK;
    for (k = 0; k < LSD_GBLOCKS; k++) {
        const GBlockActs *b = &h->blk[k];
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
    mp(&m, h->z, &d->z, 0);
    mp(&m, h->img, &d->img, 0);
    return map_resolve(cl, &m, h->mem, (size_t)(h->img - h->mem) + (size_t)h->N * 3 * h->H * h->W,
                       NULL, 0, &d->mem, &unused, err);
}

static int d_map(lsd_cl *cl, ClDActs *d, const DActs *h, lsd_err *err)
{
    Map m;
    int k;
    size_t ni = 0;
    memset(d, 0, sizeof *d);
    m.n = 0;
    d->h = h;
    if (!h->mem) return LSD_OK;
    mp(&m, h->z0, &d->z0, 0);
    mp(&m, h->y0, &d->y0, 0);
    mp(&m, h->a0, &d->a0, 0);
    mp(&m, h->mean0, &d->mean0, 0);
    mp(&m, h->rstd0, &d->rstd0, 0);
    for (k = 0; k < LSD_DBLOCKS; k++) rb_map(&m, &d->rb[k], &h->rb[k]);
    for (k = 0; k < 2; k++) {
        mp(&m, h->pool[k], &d->pool[k], 0);
        mp(&m, h->argmax[k], &d->argmax[k], 1);
    }
    mp(&m, h->out_s, &d->out_s, 0);
    mp(&m, h->out_c, &d->out_c, 0);
    if (h->argmax[1])
        ni = (size_t)(h->argmax[1] - h->imem) +
             (size_t)h->N * h->conv0_s.OC * h->rb_s[6].H * h->rb_s[6].W;
    return map_resolve(cl, &m, h->mem,
                       (size_t)(h->out_c - h->mem) + (size_t)h->N * h->headc_s.OC * h->h * h->w,
                       h->imem, ni, &d->mem, &d->imem, err);
}

/* The device view of host mask p (one of h->masks). */
static lsd_clbuf mask_of(const ClWork *w, const real *p)
{
    lsd_clbuf z;
    int i;
    memset(&z, 0, sizeof z);
    for (i = 0; p && i < w->h->nmasks; i++)
        if (w->h->masks[i].data == p) return w->masks[i];
    return z;
}

void cl_work_free(ClWork *w)
{
    int i;
    ClFActs *f[3];
    ClGActs *g[3];
    ClDActs *d[2];
    f[0] = &w->fa[0], f[1] = &w->fa[1], f[2] = &w->fg;
    g[0] = &w->ga[0], g[1] = &w->ga[1], g[2] = &w->gg;
    d[0] = &w->da, d[1] = &w->dg;
    for (i = 0; i < 3; i++) {
        lsd_clbuf_free(&f[i]->mem);
        lsd_clbuf_free(&f[i]->imem);
        lsd_clbuf_free(&g[i]->mem);
    }
    for (i = 0; i < 2; i++) {
        lsd_clbuf_free(&d[i]->mem);
        lsd_clbuf_free(&d[i]->imem);
    }
    lsd_clbuf_free(&w->ca.mem);
    lsd_clbuf_free(&w->cg.mem);
    lsd_clbuf_free(&w->mask_mem);
    lsd_clbuf_free(&w->work);
    lsd_clbuf_free(&w->tmp);
    lsd_clbuf_free(&w->xs);
    lsd_clbuf_free(&w->xt);
    lsd_clbuf_free(&w->xs01);
    lsd_clbuf_free(&w->xt01);
    lsd_clbuf_free(&w->ys);
    lsd_clbuf_free(&w->yd);
    free(w->masks);
    memset(w, 0, sizeof *w);
}

static size_t buf_bytes(const lsd_clbuf *b)
{
    return b->mem && !b->is_view ? b->n * b->esize : 0;
}

static int work_create(ClWork *w, lsd_cl *cl, LsdWork *h, lsd_err *err)
{
    int i, k, j, N = h->N;
    size_t nimg = (size_t)N * 3 * h->H * h->W, tmp_n = 0;
    const FActs *fa = &h->fa[0];
    w->cl = cl;
    w->h = h;
    TRY(f_map(cl, &w->fa[0], &h->fa[0], err));
    TRY(f_map(cl, &w->fa[1], &h->fa[1], err));
    TRY(f_map(cl, &w->fg, &h->fg, err));
    TRY(c_map(cl, &w->ca, &h->ca, err));
    TRY(c_map(cl, &w->cg, &h->cg, err));
    TRY(g_map(cl, &w->ga[0], &h->ga[0], err));
    TRY(g_map(cl, &w->ga[1], &h->ga[1], err));
    TRY(g_map(cl, &w->gg, &h->gg, err));
    TRY(d_map(cl, &w->da, &h->da, err));
    TRY(d_map(cl, &w->dg, &h->dg, err));
    /* masks: the host table's layout in one block */
    w->masks = (lsd_clbuf *)calloc((size_t)(h->nmasks ? h->nmasks : 1), sizeof *w->masks);
    if (!w->masks) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the mask table");
    for (i = 0; i < h->nmasks; i++) {
        size_t end = (size_t)(h->masks[i].data - h->mask_mem) + h->masks[i].size;
        if (end > w->mask_total) w->mask_total = end;
    }
    TRY(lsd_clbuf_alloc(cl, &w->mask_mem, w->mask_total, sizeof(float), err));
    for (i = 0; i < h->nmasks; i++)
        w->masks[i] = lsd_clbuf_view(&w->mask_mem, (size_t)(h->masks[i].data - h->mask_mem),
                                     h->masks[i].size);
    for (i = 0; i < 2; i++) {
        w->fm[i].fc6 = mask_of(w, h->fm[i].fc6);
        w->fm[i].fc7 = mask_of(w, h->fm[i].fc7);
        for (k = 0; k < LSD_GBLOCKS; k++)
            for (j = 0; j < 2; j++) w->gm[i].rb[k][j] = mask_of(w, h->gm[i].rb[k][j]);
    }
    for (i = 0; i < 4; i++)
        for (k = 0; k < LSD_DBLOCKS; k++) w->dm[i].rb[k] = mask_of(w, h->dm[i].rb[k]);
    /* scratch, F's ReLU temporary, the batch */
    TRY(lsd_clbuf_alloc(cl, &w->work, h->work_n, sizeof(float), err));
    for (i = 0; i < LSD_NCONV; i++)
        if (conv_out_n(&fa->conv_s[i]) > tmp_n) tmp_n = conv_out_n(&fa->conv_s[i]);
    if (conv_out_n(&fa->fc6_s) > tmp_n) tmp_n = conv_out_n(&fa->fc6_s);
    TRY(lsd_clbuf_alloc(cl, &w->tmp, tmp_n, sizeof(float), err));
    TRY(lsd_clbuf_alloc(cl, &w->xs, nimg, sizeof(float), err));
    if (h->mode == LSD_WORK_TRAIN) {
        TRY(lsd_clbuf_alloc(cl, &w->xt, nimg, sizeof(float), err));
        TRY(lsd_clbuf_alloc(cl, &w->xs01, nimg, sizeof(float), err));
        TRY(lsd_clbuf_alloc(cl, &w->xt01, nimg, sizeof(float), err));
        TRY(lsd_clbuf_alloc(cl, &w->yd, (size_t)N * h->da.h * h->da.w, 1, err));
    }
    if (h->mode != LSD_WORK_INFER)
        TRY(lsd_clbuf_alloc(cl, &w->ys, (size_t)N * h->H * h->W, 1, err));
    {
        const lsd_clbuf *all[] = {&w->fa[0].mem, &w->fa[0].imem, &w->fa[1].mem, &w->fa[1].imem,
                                  &w->fg.mem, &w->ca.mem, &w->cg.mem, &w->ga[0].mem,
                                  &w->ga[1].mem, &w->gg.mem, &w->da.mem, &w->da.imem,
                                  &w->dg.mem, &w->mask_mem, &w->work, &w->tmp, &w->xs, &w->xt,
                                  &w->xs01, &w->xt01, &w->ys, &w->yd};
        for (i = 0; i < (int)(sizeof all / sizeof all[0]); i++) w->bytes += buf_bytes(all[i]);
    }
    return cl_work_upload_masks(w, err);
}

int cl_work_create(ClWork *w, lsd_cl *cl, LsdWork *h, lsd_err *err)
{
    int rc;
    memset(w, 0, sizeof *w);
    if ((rc = work_create(w, cl, h, err))) {
        cl_work_free(w);
        lsd_err_prefix(err, "device work");
    }
    return rc;
}

int cl_work_upload_masks(ClWork *w, lsd_err *err)
{
    if (!w->mask_total) return LSD_OK;
    return lsd_clbuf_write(w->cl, &w->mask_mem, 0, w->h->mask_mem, w->mask_total, err);
}

int cl_work_download_masks(ClWork *w, lsd_err *err)
{
    if (!w->mask_total) return LSD_OK;
    return lsd_clbuf_read(w->cl, &w->mask_mem, 0, w->h->mask_mem, w->mask_total, err);
}

/* One device block into the host block it mirrors. */
static int down(lsd_cl *cl, const lsd_clbuf *d, void *h, lsd_err *err)
{
    if (!d->mem || !h) return LSD_OK;
    return lsd_clbuf_read(cl, d, 0, h, d->n, err);
}

int cl_work_download(ClWork *w, lsd_err *err)
{
    LsdWork *h = w->h;
    lsd_cl *cl = w->cl;
    int i;
    for (i = 0; i < 2; i++) {
        TRY(down(cl, &w->fa[i].mem, h->fa[i].mem, err));
        TRY(down(cl, &w->fa[i].imem, h->fa[i].imem, err));
        TRY(down(cl, &w->ga[i].mem, h->ga[i].mem, err));
    }
    TRY(down(cl, &w->fg.mem, h->fg.mem, err));
    TRY(down(cl, &w->ca.mem, h->ca.mem, err));
    TRY(down(cl, &w->cg.mem, h->cg.mem, err));
    TRY(down(cl, &w->gg.mem, h->gg.mem, err));
    TRY(down(cl, &w->da.mem, h->da.mem, err));
    TRY(down(cl, &w->da.imem, h->da.imem, err));
    return down(cl, &w->dg.mem, h->dg.mem, err);
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
                 const ClFMasks *mk, lsd_clbuf *work, lsd_err *err)
{
    const FActs *h = a->h;
    int N = h->N, l, s;
    const ConvShape *s6 = &h->fc6_s, *s7 = &h->fc7_s;
    for (l = 0; l < LSD_NCONV; l++) {
        const ConvShape *cs = &h->conv_s[l];
        TRY(cl_conv2d_forward(cl, &a->conv[l], conv_input(a, x, l), &f->conv[l].w,
                              COPT(&f->conv[l].b), cs, work, err));
        TRY(cl_relu_forward(cl, &a->conv[l], &a->conv[l], conv_out_n(cs), err));
        s = LSD_VGG_STAGE[l];
        if (l == LSD_VGG_LAST[s])
            TRY(cl_maxpool2d_forward(cl, &a->pool[s], &a->argmax[s], &a->conv[l], N, cs->OC,
                                     cs->OH, cs->OW, h->pool_h[s], h->pool_w[s], err));
    }
    TRY(cl_conv2d_forward(cl, &a->fc6, &a->pool[4], &f->fc6.w, COPT(&f->fc6.b), s6, work, err));
    TRY(cl_relu_forward(cl, &a->fc6, &a->fc6, conv_out_n(s6), err));
    TRY(cl_dropout2d_forward(cl, &a->fc6d, &a->fc6, &mk->fc6, N * s6->OC, s6->OH * s6->OW,
                             err));
    TRY(cl_conv2d_forward(cl, &a->fc7, &a->fc6d, &f->fc7.w, COPT(&f->fc7.b), s7, work, err));
    TRY(cl_relu_forward(cl, &a->fc7, &a->fc7, conv_out_n(s7), err));
    return cl_dropout2d_forward(cl, &a->fc7d, &a->fc7, &mk->fc7, N * s7->OC, s7->OH * s7->OW,
                                err);
}

int cl_f_backward(lsd_cl *cl, ClFActs *g, const ClFActs *a, const lsd_clbuf *x, ClFNet *f,
                  const ClFMasks *mk, lsd_clbuf *work, lsd_clbuf *tmp, lsd_err *err)
{
    const FActs *h = a->h;
    int N = h->N, l, s;
    const ConvShape *s6 = &h->fc6_s, *s7 = &h->fc7_s;
    TRY(cl_dropout2d_backward(cl, &g->fc7, &g->fc7d, &mk->fc7, N * s7->OC, s7->OH * s7->OW,
                              err));
    TRY(relu_backward_inplace(cl, &g->fc7, &a->fc7, conv_out_n(s7), tmp, err));
    TRY(cl_conv2d_backward(cl, &g->fc6d, &f->fc7.dw, OPT(&f->fc7.db), &g->fc7, &a->fc6d,
                           &f->fc7.w, s7, work, err));
    TRY(cl_dropout2d_backward(cl, &g->fc6, &g->fc6d, &mk->fc6, N * s6->OC, s6->OH * s6->OW,
                              err));
    TRY(relu_backward_inplace(cl, &g->fc6, &a->fc6, conv_out_n(s6), tmp, err));
    TRY(cl_conv2d_backward(cl, &g->pool[4], &f->fc6.dw, OPT(&f->fc6.db), &g->fc6, &a->pool[4],
                           &f->fc6.w, s6, work, err));
    for (l = LSD_NCONV - 1; l >= 0; l--) {
        const ConvShape *cs = &h->conv_s[l];
        s = LSD_VGG_STAGE[l];
        if (l == LSD_VGG_LAST[s])
            TRY(cl_maxpool2d_backward(cl, &g->conv[l], &g->pool[s], &a->argmax[s], N, cs->OC,
                                      cs->OH, cs->OW, h->pool_h[s], h->pool_w[s], err));
        TRY(relu_backward_inplace(cl, &g->conv[l], &a->conv[l], conv_out_n(cs), tmp, err));
        TRY(cl_conv2d_backward(cl, l ? (lsd_clbuf *)conv_input(g, NULL, l) : NULL,
                               &f->conv[l].dw, OPT(&f->conv[l].db), &g->conv[l],
                               conv_input(a, x, l), &f->conv[l].w, cs, work, err));
    }
    return LSD_OK;
}

int cl_c_forward(lsd_cl *cl, ClCActs *c, const ClFActs *a, const ClFNet *f, lsd_clbuf *work,
                 lsd_err *err)
{
    const CActs *h = c->h;
    const FActs *fh = a->h;
    int N = h->N, k = h->score_fr_s.OC;
    const ConvShape *u2 = &h->up2_s, *u4 = &h->up4_s, *u8 = &h->up8_s;
    TRY(cl_conv2d_forward(cl, &c->score_fr, &a->fc7d, &f->score_fr.w, COPT(&f->score_fr.b),
                          &h->score_fr_s, work, err));
    TRY(cl_convt_forward(cl, &c->upscore2, &c->score_fr, &f->upscore2.w, NULL, u2, work, err));
    TRY(cl_conv2d_forward(cl, &c->score_pool4, &a->pool[3], &f->score_pool4.w,
                          COPT(&f->score_pool4.b), &h->sp4_s, work, err));
    TRY(cl_crop_forward(cl, &c->fuse4, &c->score_pool4, N, k, fh->pool_h[3], fh->pool_w[3], 5,
                        5, u2->OH, u2->OW, err));
    TRY(cl_vec_add(cl, &c->fuse4, &c->fuse4, &c->upscore2, conv_out_n(u2), err));
    TRY(cl_convt_forward(cl, &c->upscore_pool4, &c->fuse4, &f->upscore_pool4.w, NULL, u4, work,
                         err));
    TRY(cl_conv2d_forward(cl, &c->score_pool3, &a->pool[2], &f->score_pool3.w,
                          COPT(&f->score_pool3.b), &h->sp3_s, work, err));
    TRY(cl_crop_forward(cl, &c->fuse3, &c->score_pool3, N, k, fh->pool_h[2], fh->pool_w[2], 9,
                        9, u4->OH, u4->OW, err));
    TRY(cl_vec_add(cl, &c->fuse3, &c->fuse3, &c->upscore_pool4, conv_out_n(u4), err));
    TRY(cl_convt_forward(cl, &c->upscore8, &c->fuse3, &f->upscore8.w, NULL, u8, work, err));
    return cl_crop_forward(cl, &c->score, &c->upscore8, N, k, u8->OH, u8->OW, 31, 31, h->H,
                           h->W, err);
}

int cl_c_backward(lsd_cl *cl, ClCActs *gc, ClFActs *gf, const ClCActs *c, const ClFActs *a,
                  ClFNet *f, int want_param_grads, lsd_clbuf *work, lsd_err *err)
{
    const CActs *h = c->h;
    const FActs *fh = a->h;
    int N = h->N, k = h->score_fr_s.OC, w = want_param_grads;
    const ConvShape *u2 = &h->up2_s, *u4 = &h->up4_s, *u8 = &h->up8_s;
    TRY(cl_crop_backward(cl, &gc->upscore8, &gc->score, N, k, u8->OH, u8->OW, 31, 31, h->H,
                         h->W, err));
    TRY(cl_convt_backward(cl, &gc->fuse3, NULL, NULL, &gc->upscore8, &c->fuse3,
                          &f->upscore8.w, u8, work, err));
    TRY(cl_vec_add(cl, &gc->upscore_pool4, &gc->upscore_pool4, &gc->fuse3, conv_out_n(u4),
                   err));
    TRY(cl_crop_backward(cl, &gc->score_pool3, &gc->fuse3, N, k, fh->pool_h[2], fh->pool_w[2],
                         9, 9, u4->OH, u4->OW, err));
    TRY(cl_conv2d_backward(cl, &gf->pool[2], w ? &f->score_pool3.dw : NULL,
                           w ? OPT(&f->score_pool3.db) : NULL, &gc->score_pool3, &a->pool[2],
                           &f->score_pool3.w, &h->sp3_s, work, err));
    TRY(cl_convt_backward(cl, &gc->fuse4, NULL, NULL, &gc->upscore_pool4, &c->fuse4,
                          &f->upscore_pool4.w, u4, work, err));
    TRY(cl_vec_add(cl, &gc->upscore2, &gc->upscore2, &gc->fuse4, conv_out_n(u2), err));
    TRY(cl_crop_backward(cl, &gc->score_pool4, &gc->fuse4, N, k, fh->pool_h[3], fh->pool_w[3],
                         5, 5, u2->OH, u2->OW, err));
    TRY(cl_conv2d_backward(cl, &gf->pool[3], w ? &f->score_pool4.dw : NULL,
                           w ? OPT(&f->score_pool4.db) : NULL, &gc->score_pool4, &a->pool[3],
                           &f->score_pool4.w, &h->sp4_s, work, err));
    TRY(cl_convt_backward(cl, &gc->score_fr, NULL, NULL, &gc->upscore2, &c->score_fr,
                          &f->upscore2.w, u2, work, err));
    return cl_conv2d_backward(cl, &gf->fc7d, w ? &f->score_fr.dw : NULL,
                              w ? OPT(&f->score_fr.db) : NULL, &gc->score_fr, &a->fc7d,
                              &f->score_fr.w, &h->score_fr_s, work, err);
}

/* ------------------------------------------------------------------ G (generator.c) */

static int gblock_forward(lsd_cl *cl, ClGBlockActs *a, const GBlockActs *h,
                          const lsd_clbuf *in, const ClGBlock *p, const lsd_clbuf *mask,
                          lsd_clbuf *work, lsd_err *err)
{
    const ConvShape *s = &h->convt_s;
    int N = s->N, C = s->OC, HW = s->OH * s->OW;
    TRY(cl_convt_forward(cl, &a->z, in, &p->convt.w, NULL, s, work, err));
    TRY(cl_instance_norm_forward(cl, &a->y, &a->mean, &a->rstd, &a->z, N, C, HW, LSD_IN_EPS, err));
    TRY(cl_relu_forward(cl, &a->a, &a->y, (size_t)N * C * HW, err));
    TRY(cl_rb_forward(cl, &a->rb[0], &a->a, &p->rb[0].w, COPT(&p->rb[0].b), &mask[0], &h->rb_s,
                      LSD_IN_EPS, 0, work, err));
    return cl_rb_forward(cl, &a->rb[1], &a->rb[0].out, &p->rb[1].w, COPT(&p->rb[1].b), &mask[1],
                         &h->rb_s, LSD_IN_EPS, 0, work, err);
}

static int gblock_backward(lsd_cl *cl, lsd_clbuf *din, ClGBlockActs *g, const ClGBlockActs *a,
                           const GBlockActs *h, const lsd_clbuf *in, ClGBlock *p,
                           const lsd_clbuf *mask, int want, lsd_clbuf *work, lsd_err *err)
{
    const ConvShape *s = &h->convt_s;
    int N = s->N, C = s->OC, HW = s->OH * s->OW;
    TRY(cl_rb_backward(cl, &g->rb[0].out, want ? &p->rb[1].dw : NULL,
                       want ? OPT(&p->rb[1].db) : NULL, &g->rb[1], &a->rb[1], &a->rb[0].out,
                       &p->rb[1].w, &mask[1], &h->rb_s, 0, work, err));
    TRY(cl_rb_backward(cl, &g->a, want ? &p->rb[0].dw : NULL, want ? OPT(&p->rb[0].db) : NULL,
                       &g->rb[0], &a->rb[0], &a->a, &p->rb[0].w, &mask[0], &h->rb_s, 0, work,
                       err));
    TRY(cl_relu_backward(cl, &g->y, &g->a, &a->a, (size_t)N * C * HW, err));
    TRY(cl_instance_norm_backward(cl, &g->z, &g->y, &a->z, &a->mean, &a->rstd, N, C, HW, err));
    return cl_convt_backward(cl, din, want ? &p->convt.dw : NULL, NULL, &g->z, in, &p->convt.w,
                             s, work, err);
}

int cl_g_forward(lsd_cl *cl, ClGActs *a, const lsd_clbuf *fc7, const lsd_clbuf *pool4,
                 const lsd_clbuf *pool3, const ClGNet *g, const ClGMasks *mk, lsd_clbuf *work,
                 lsd_err *err)
{
    const GActs *h = a->h;
    const GBlockActs *hb = h->blk;
    ClGBlockActs *b = a->blk;
    int N = h->N;
    size_t n = (size_t)N * 3 * h->H * h->W;
    TRY(gblock_forward(cl, &b[0], &hb[0], fc7, &g->blk[0], mk->rb[0], work, err));
    TRY(gblock_forward(cl, &b[1], &hb[1], &b[1].in, &g->blk[1], mk->rb[1], work, err));
    TRY(cl_concat_forward(cl, &b[2].in, &b[1].rb[1].out, hb[1].convt_s.OC, pool4,
                          hb[2].convt_s.C - hb[1].convt_s.OC, N,
                          hb[2].convt_s.H * hb[2].convt_s.W, err));
    TRY(gblock_forward(cl, &b[2], &hb[2], &b[2].in, &g->blk[2], mk->rb[2], work, err));
    TRY(cl_concat_forward(cl, &b[3].in, &b[2].rb[1].out, hb[2].convt_s.OC, pool3,
                          hb[3].convt_s.C - hb[2].convt_s.OC, N,
                          hb[3].convt_s.H * hb[3].convt_s.W, err));
    TRY(gblock_forward(cl, &b[3], &hb[3], &b[3].in, &g->blk[3], mk->rb[3], work, err));
    TRY(gblock_forward(cl, &b[4], &hb[4], &b[4].in, &g->blk[4], mk->rb[4], work, err));
    TRY(cl_convt_forward(cl, &a->z, &b[4].rb[1].out, &g->out.w, COPT(&g->out.b), &h->out_s,
                         work, err));
    return cl_sigmoid_forward(cl, &a->img, &a->z, n, err);
}

int cl_g_backward(lsd_cl *cl, lsd_clbuf *dfc7, lsd_clbuf *dpool4, lsd_clbuf *dpool3,
                  ClGActs *ga, const ClGActs *a, const lsd_clbuf *fc7, ClGNet *g,
                  const ClGMasks *mk, int want_param_grads, lsd_clbuf *work, lsd_err *err)
{
    const GActs *h = a->h;
    const GBlockActs *hb = h->blk;
    ClGBlockActs *gb = ga->blk;
    const ClGBlockActs *b = a->blk;
    int N = h->N, w = want_param_grads;
    size_t n = (size_t)N * 3 * h->H * h->W;
    TRY(cl_sigmoid_backward(cl, &ga->z, &ga->img, &a->img, n, err));
    TRY(cl_convt_backward(cl, &gb[4].rb[1].out, w ? &g->out.dw : NULL,
                          w ? OPT(&g->out.db) : NULL, &ga->z, &b[4].rb[1].out, &g->out.w,
                          &h->out_s, work, err));
    TRY(gblock_backward(cl, &gb[4].in, &gb[4], &b[4], &hb[4], &b[4].in, &g->blk[4], mk->rb[4],
                        w, work, err));
    TRY(gblock_backward(cl, &gb[3].in, &gb[3], &b[3], &hb[3], &b[3].in, &g->blk[3], mk->rb[3],
                        w, work, err));
    TRY(cl_concat_backward(cl, &gb[2].rb[1].out, dpool3, &gb[3].in, hb[2].convt_s.OC,
                           hb[3].convt_s.C - hb[2].convt_s.OC, N,
                           hb[3].convt_s.H * hb[3].convt_s.W, err));
    TRY(gblock_backward(cl, &gb[2].in, &gb[2], &b[2], &hb[2], &b[2].in, &g->blk[2], mk->rb[2],
                        w, work, err));
    TRY(cl_concat_backward(cl, &gb[1].rb[1].out, dpool4, &gb[2].in, hb[1].convt_s.OC,
                           hb[2].convt_s.C - hb[1].convt_s.OC, N,
                           hb[2].convt_s.H * hb[2].convt_s.W, err));
    TRY(gblock_backward(cl, &gb[1].in, &gb[1], &b[1], &hb[1], &b[1].in, &g->blk[1], mk->rb[1],
                        w, work, err));
    return gblock_backward(cl, dfc7, &gb[0], &b[0], &hb[0], fc7, &g->blk[0], mk->rb[0], w, work,
                           err);
}

/* ------------------------------------------------------------------ D (discriminator.c) */

static const lsd_clbuf *rb_input(const ClDActs *a, int k)
{
    if (k == 0) return &a->a0;
    if (k == 3 || k == 6) return &a->pool[k / 3 - 1];
    return &a->rb[k - 1].out;
}

int cl_d_forward(lsd_cl *cl, ClDActs *a, const lsd_clbuf *x, const ClDNet *d,
                 const ClDMasks *mk, lsd_clbuf *work, lsd_err *err)
{
    const DActs *h = a->h;
    const ConvShape *s0 = &h->conv0_s;
    int N = h->N, C = s0->OC, k;
    const lsd_clbuf *top;
    TRY(cl_conv2d_forward(cl, &a->z0, x, &d->conv0.w, COPT(&d->conv0.b), s0, work, err));
    TRY(cl_instance_norm_forward(cl, &a->y0, &a->mean0, &a->rstd0, &a->z0, N, C,
                                 s0->OH * s0->OW, LSD_IN_EPS, err));
    TRY(cl_leaky_relu_forward(cl, &a->a0, &a->y0, (size_t)N * C * s0->OH * s0->OW, LSD_LEAK, err));
    for (k = 0; k < LSD_DBLOCKS; k++) {
        const ConvShape *s = &h->rb_s[k];
        TRY(cl_rb_forward(cl, &a->rb[k], rb_input(a, k), &d->rb[k].w, COPT(&d->rb[k].b),
                          &mk->rb[k], s, LSD_IN_EPS, LSD_LEAK, work, err));
        if (k == 2 || k == 5)
            TRY(cl_maxpool2d_forward(cl, &a->pool[k / 3], &a->argmax[k / 3], &a->rb[k].out, N,
                                     C, s->OH, s->OW, h->rb_s[k + 1].H, h->rb_s[k + 1].W, err));
    }
    top = &a->rb[LSD_DBLOCKS - 1].out;
    TRY(cl_conv2d_forward(cl, &a->out_s, top, &d->out_s.w, COPT(&d->out_s.b), &h->head_s, work,
                          err));
    return cl_conv2d_forward(cl, &a->out_c, top, &d->out_c.w, COPT(&d->out_c.b), &h->headc_s,
                             work, err);
}

int cl_d_backward(lsd_cl *cl, lsd_clbuf *dx, ClDActs *ga, const ClDActs *a, const lsd_clbuf *x,
                  ClDNet *d, const ClDMasks *mk, int want_param_grads, lsd_clbuf *work,
                  lsd_err *err)
{
    const DActs *h = a->h;
    const ConvShape *s0 = &h->conv0_s;
    int N = h->N, C = s0->OC, k, w = want_param_grads;
    const lsd_clbuf *top = &a->rb[LSD_DBLOCKS - 1].out;
    lsd_clbuf *gtop = &ga->rb[LSD_DBLOCKS - 1].out;
    TRY(cl_conv2d_backward(cl, gtop, w ? &d->out_c.dw : NULL, w ? OPT(&d->out_c.db) : NULL,
                           &ga->out_c, top, &d->out_c.w, &h->headc_s, work, err));
    TRY(cl_conv2d_backward(cl, gtop, w ? &d->out_s.dw : NULL, w ? OPT(&d->out_s.db) : NULL,
                           &ga->out_s, top, &d->out_s.w, &h->head_s, work, err));
    for (k = LSD_DBLOCKS - 1; k >= 0; k--) {
        const ConvShape *s = &h->rb_s[k];
        if (k == 2 || k == 5)
            TRY(cl_maxpool2d_backward(cl, &ga->rb[k].out, &ga->pool[k / 3], &a->argmax[k / 3],
                                      N, C, s->OH, s->OW, h->rb_s[k + 1].H, h->rb_s[k + 1].W,
                                      err));
        TRY(cl_rb_backward(cl, (lsd_clbuf *)rb_input(ga, k), w ? &d->rb[k].dw : NULL,
                           w ? OPT(&d->rb[k].db) : NULL, &ga->rb[k], &a->rb[k], rb_input(a, k),
                           &d->rb[k].w, &mk->rb[k], s, LSD_LEAK, work, err));
    }
    TRY(cl_leaky_relu_backward(cl, &ga->y0, &ga->a0, &a->y0, (size_t)N * C * s0->OH * s0->OW,
                               LSD_LEAK, err));
    TRY(cl_instance_norm_backward(cl, &ga->z0, &ga->y0, &a->z0, &a->mean0, &a->rstd0, N, C,
                                  s0->OH * s0->OW, err));
    return cl_conv2d_backward(cl, OPT(dx), w ? &d->conv0.dw : NULL, w ? OPT(&d->conv0.db) : NULL,
                              &ga->z0, x, &d->conv0.w, s0, work, err);
}
