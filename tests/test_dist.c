/*
 * test_dist.c - a batch split over processes gives the bits of the whole batch in one process
 * (gan/lsd.h, LsdDist; lsd.c, "Samples"), without MPI: K threads stand for K processes, each
 * with its own model and a work of B / K samples, joined by an in-process version of the
 * chain that ref/dist.c runs over MPI (the running sum passed from part to part in order,
 * each adding its samples' gradients one by one, then handed to every part).
 *
 *  1. masks: lsd_work_draw_masks_part of a part equals that slice of the whole batch's draw;
 *  2. lsd_step, batch 6, dropout on, the paper's recipe, 2 iterations: K = 2 and 3 parts give
 *     the parameters, Adam moments and losses of the whole batch in one work bit for bit, on
 *     every part, and C's scores of their samples; the authors' recipe, 1 iteration, K = 3;
 *  3. lsd_step_source_only likewise, 2 iterations, K = 3.
 * With LSD_SLOW=1: 3 iterations of the paper's recipe, 2 of the authors', and K = 2 and 3 for
 * all three.
 * A small model (vgg 2, fc 16, ngf 2, ndf 4, 5 classes, 32x32). tests/test_mpi.c runs the same
 * comparison through `lsdseg train` under mpirun.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gan/lsd.h"
#include "../tensor/rng.h"
#include "../tensor/tensor.h"
#include "../gan/checkpoint.h" /* ckpt_fnv1a64 */
#include "harness.h"

#ifdef LSD_NO_THREADS

int main(void)
{
    test_begin("dist");
    test_skip("built with LSD_NO_THREADS: the parts run as threads");
    return test_summary();
}

#else

#include <pthread.h>

#define B 6
#define KMAX 3
#define HH 32
#define WW 32

/* The processes' meeting point: turn says which part adds next (K: all have added). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int K, turn, copied;
    real *sum;   /* the running sum of an update's gradient */
    double all[B * 4];
} Chain;

/* One part: its rank, model, work, inputs and result. */
typedef struct {
    Chain *c;
    int rank, so, authors, iters;
    LsdModel m;
    LsdWork work;
    LsdBatch b;
    LsdDist d;
    uint64_t hash;
    int rc;
    lsd_err err;
} Part;

/* Parameters and both Adam moments of an arena. */
static uint64_t hash_arena(uint64_t h, const ParamArena *a)
{
    h = ckpt_fnv1a64(h, a->param, a->total * sizeof(real));
    h = ckpt_fnv1a64(h, a->m, a->total * sizeof(real));
    return ckpt_fnv1a64(h, a->v, a->total * sizeof(real));
}

/* Waits for the part's turn, runs fn, passes the turn on, waits for all, then runs after. */
static void in_turn(Chain *c, int rank, void (*fn)(void *), void (*after)(void *), void *ctx)
{
    pthread_mutex_lock(&c->mu);
    while (c->turn != rank) pthread_cond_wait(&c->cv, &c->mu);
    fn(ctx);
    c->turn++;
    pthread_cond_broadcast(&c->cv);
    while (c->turn != c->K) pthread_cond_wait(&c->cv, &c->mu);
    after(ctx);
    if (++c->copied == c->K) {
        c->copied = 0;
        c->turn = 0;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

/* One hook call's arguments, for the functions run in turn. */
typedef struct {
    Part *p;
    real *const *g;
    int ng;
    size_t n;
    const double *mine;
    double *all;
    int n_mine, k;
} Call;

/* Part 0 starts the sum with its own; the others add each of theirs in order. */
static void add_part(void *ctx)
{
    Call *a = (Call *)ctx;
    int i;
    if (a->p->rank == 0) memcpy(a->p->c->sum, a->g[0], a->n * sizeof(real));
    for (i = a->p->rank == 0 ? 1 : 0; i < a->ng; i++) vec_add(a->p->c->sum, a->g[i], a->n);
}

/* Every part takes the finished sum. */
static void take_sum(void *ctx)
{
    Call *a = (Call *)ctx;
    memcpy(a->g[0], a->p->c->sum, a->n * sizeof(real));
}

/* LsdDist's reduce, in process: the parts add in turn, then all take the sum. */
static int reduce(void *ctx, int update, real *const *g, int ng, size_t n, lsd_err *err)
{
    Call a;
    Part *p = (Part *)ctx;
    (void)update, (void)err;
    memset(&a, 0, sizeof a);
    a.p = p, a.g = g, a.ng = ng, a.n = n;
    CHECK(ng == (p->rank ? p->work.N : 1), "part %d: %d gradients handed to reduce", p->rank, ng);
    in_turn(p->c, p->rank, add_part, take_sum, &a);
    return LSD_OK;
}

/* A part's loss rows into the batch's table. */
static void put_rows(void *ctx)
{
    Call *a = (Call *)ctx;
    memcpy(a->p->c->all + (size_t)a->p->d.first * a->k, a->mine,
           (size_t)a->n_mine * a->k * sizeof(double));
}

/* The batch's table to a part. */
static void get_rows(void *ctx)
{
    Call *a = (Call *)ctx;
    memcpy(a->all, a->p->c->all, (size_t)B * a->k * sizeof(double));
}

/* LsdDist's gather, in process. */
static int gather(void *ctx, const double *mine, int n_mine, double *all, int k, lsd_err *err)
{
    Call a;
    Part *p = (Part *)ctx;
    (void)err;
    memset(&a, 0, sizeof a);
    a.p = p, a.mine = mine, a.n_mine = n_mine, a.all = all, a.k = k;
    in_turn(p->c, p->rank, put_rows, get_rows, &a);
    return LSD_OK;
}

/* The batch's inputs from the counter RNG (images, D's images, labels with some 255). */
static real *make_inputs(LsdBatch *b, uint8_t **ys)
{
    const size_t n = (size_t)B * 3 * HH * WW, npix = (size_t)B * HH * WW;
    real *x = (real *)test_alloc(4 * n * sizeof(real));
    size_t i;
    *ys = (uint8_t *)test_alloc(npix);
    rng_fill_uniform(x, n, (real)-100, (real)100, 21, 1, 0);
    rng_fill_uniform(x + n, n, (real)-100, (real)100, 21, 2, 0);
    rng_fill_uniform(x + 2 * n, n, (real)0, (real)1, 21, 3, 0);
    rng_fill_uniform(x + 3 * n, n, (real)0, (real)1, 21, 4, 0);
    for (i = 0; i < npix; i++) {
        uint64_t k = rng_below(21, 5, (uint64_t)i, 6);
        (*ys)[i] = (uint8_t)(k == 5 ? 255 : k);
    }
    b->xs = x, b->xt = x + n, b->xs01 = x + 2 * n, b->xt01 = x + 3 * n, b->ys = *ys;
    return x;
}

/* vgg 2, fc 16, ngf 2, ndf 4, 5 classes. */
static LsdConfig small(void)
{
    LsdConfig c;
    c.vgg = 2, c.fc = 16, c.ngf = 2, c.ndf = 4, c.n_class = 5;
    return c;
}

/* Trains part p (its samples of the batch) and hashes its losses, parameters and moments. */
static void *run_part(void *arg)
{
    Part *p = (Part *)arg;
    LsdStepOptions o = lsd_step_defaults();
    LsdLosses L;
    uint64_t h = 0xcbf29ce484222325ULL;
    int it;
    double loss;
    o.seed = 4242;
    o.dropout = LSD_DROPOUT_RNG;
    if (p->authors) o.recipe = lsd_recipe_authors();
    o.dist = p->c ? &p->d : NULL;
    for (it = 0; !p->rc && it < p->iters; it++) {
        if (p->so) {
            p->rc = lsd_step_source_only(&p->m, &p->work, &p->b, &o, &loss, &p->err);
            h = ckpt_fnv1a64(h, &loss, sizeof loss);
        } else {
            p->rc = lsd_step(&p->m, &p->work, &p->b, &o, &L, &p->err);
            h = ckpt_fnv1a64(h, &L, sizeof L);
        }
    }
    h = hash_arena(h, &p->m.F.pa);
    h = hash_arena(h, &p->m.G.pa);
    h = hash_arena(h, &p->m.D.pa);
    p->hash = h;
    return NULL;
}

/* Sets up part rank of K (K = 1: the whole batch, no hooks) on the batch's inputs. */
static void part_setup(Part *p, Chain *c, int rank, int K, const LsdBatch *all, int so,
                       int authors, int iters)
{
    LsdConfig cfg = small();
    lsd_err err;
    int N = B / K, first = rank * N;
    size_t img = (size_t)3 * HH * WW, pix = (size_t)HH * WW;
    memset(p, 0, sizeof *p);
    p->c = K > 1 ? c : NULL;
    p->rank = rank, p->so = so, p->authors = authors, p->iters = iters;
    if (lsd_model_create(&p->m, &cfg, &err) ||
        lsd_work_create(&p->work, &cfg, N, HH, WW, so ? LSD_WORK_SOURCE_ONLY : LSD_WORK_TRAIN,
                        &err) ||
        lsd_model_init(&p->m, 9, NULL, &err))
        test_die("part set-up", &err);
    p->b.xs = all->xs + first * img, p->b.xt = all->xt + first * img;
    p->b.xs01 = all->xs01 + first * img, p->b.xt01 = all->xt01 + first * img;
    p->b.ys = all->ys + first * pix;
    p->d.batch = B, p->d.first = first;
    p->d.reduce = reduce, p->d.gather = gather, p->d.ctx = p;
}

/* Frees a part's work and model. */
static void part_free(Part *p)
{
    lsd_work_free(&p->work);
    lsd_model_free(&p->m);
}

/* The whole batch in one work, then K parts as threads: every part's hash equals it. */
static void compare(const LsdBatch *all, int so, int authors, int iters, const int *ks, int nk)
{
    static Part parts[KMAX];
    Part whole;
    Chain c;
    const char *what = so ? "source only" : authors ? "lsd_step, authors' recipe"
                                                    : "lsd_step, paper's recipe";
    int i, r;
    part_setup(&whole, NULL, 0, 1, all, so, authors, iters);
    run_part(&whole);
    CHECK(whole.rc == LSD_OK, "%s, whole batch: %s", what, whole.err.msg);
    for (i = 0; i < nk; i++) {
        int K = ks[i], same = 1;
        pthread_t th[KMAX];
        memset(&c, 0, sizeof c);
        pthread_mutex_init(&c.mu, NULL);
        pthread_cond_init(&c.cv, NULL);
        c.K = K;
        c.sum = (real *)test_alloc((whole.m.F.pa.total + whole.m.G.pa.total +
                                    whole.m.D.pa.total) * sizeof(real));
        for (r = 0; r < K; r++) part_setup(&parts[r], &c, r, K, all, so, authors, iters);
        for (r = 0; r < K; r++)
            if (pthread_create(&th[r], NULL, run_part, &parts[r])) test_die("thread", NULL);
        for (r = 0; r < K; r++) pthread_join(th[r], NULL);
        for (r = 0; r < K; r++) {
            size_t one = (size_t)whole.m.cfg.n_class * HH * WW * (B / K);
            CHECK(parts[r].rc == LSD_OK, "%s, %d parts, part %d: %s", what, K, r,
                  parts[r].err.msg);
            if (parts[r].hash != whole.hash) same = 0;
            /* C's scores of the part's samples (the last iteration's forward pass) */
            if (memcmp(parts[r].work.ca.score, whole.work.ca.score + r * one, one * sizeof(real)))
                same = 0;
        }
        CHECK(same, "%s, batch %d in %d parts of %d: every part's parameters, Adam moments and "
              "losses equal the whole batch's (hash 0x%016llx; part 0 0x%016llx)", what, B, K,
              B / K, (unsigned long long)whole.hash, (unsigned long long)parts[0].hash);
        for (r = 0; r < K; r++) part_free(&parts[r]);
        free(c.sum);
        pthread_cond_destroy(&c.cv);
        pthread_mutex_destroy(&c.mu);
    }
    part_free(&whole);
}

/* The masks of part (first 2 .. 3 of 6) are that slice of the whole batch's. */
static void masks(void)
{
    LsdConfig c = small();
    LsdWork whole, part;
    lsd_err err;
    int i, same = 1;
    if (lsd_work_create(&whole, &c, B, HH, WW, LSD_WORK_TRAIN, &err) ||
        lsd_work_create(&part, &c, 2, HH, WW, LSD_WORK_TRAIN, &err))
        test_die("works", &err);
    lsd_work_draw_masks(&whole, 1, 77, 5);
    lsd_work_draw_masks_part(&part, 1, 77, 5, B, 2);
    for (i = 0; i < whole.nmasks; i++) {
        size_t one = part.masks[i].size / 2;
        if (memcmp(part.masks[i].data, whole.masks[i].data + 2 * one, 2 * one * sizeof(real)))
            same = 0;
    }
    CHECK(same && whole.nmasks == part.nmasks, "every mask of samples 2, 3 of a batch of 6 is "
          "that slice of the batch's (%d masks)", whole.nmasks);
    lsd_work_free(&part);
    lsd_work_free(&whole);
}

int main(void)
{
    static const int K23[2] = {2, 3}, K3[1] = {3};
    int slow = getenv("LSD_SLOW") != NULL;
    LsdBatch all;
    uint8_t *ys;
    real *x;
    test_begin("dist");
    masks();
    x = make_inputs(&all, &ys);
    compare(&all, 0, 0, slow ? 3 : 2, K23, 2);
    compare(&all, 0, 1, slow ? 2 : 1, slow ? K23 : K3, slow ? 2 : 1);
    compare(&all, 1, 0, 2, slow ? K23 : K3, slow ? 2 : 1);
    free(x);
    free(ys);
    return test_summary();
}

#endif
