/*
 * dist.c - data-parallel training over MPI (dist.h, docs/scaling.md). Without LSD_MPI every
 * function is the one-process case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/tensor.h"
#include "dist.h"

#ifdef LSD_MPI
#include <mpi.h>
#ifdef LSD_DOUBLE
#define MPI_REAL_T MPI_DOUBLE
#else
#define MPI_REAL_T MPI_FLOAT
#endif
/* reals per message of the chain: 1 MB of floats; a link carries the next chunk while the
 * receiver adds the last */
#define CHUNK ((size_t)1 << 18)
/* bytes per MPI_Bcast call (its count is an int) */
#define BCAST_MAX ((size_t)1 << 30)
#define TAG_UP 11
#define TAG_DOWN 12
#endif

static Dist g_world = {0, 1, 0, {0, 0, NULL, NULL, NULL}, {NULL, NULL}, NULL, 0, 0, 0};

/* The one MPI world of the process. */
Dist *dist_world(void)
{
    return &g_world;
}

/* 1 in MPI builds. */
int dist_built(void)
{
#ifdef LSD_MPI
    return 1;
#else
    return 0;
#endif
}

/* MPI_Init (MPI builds); the rank and size. */
int dist_start(void)
{
#ifdef LSD_MPI
    Dist *d = &g_world;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        fprintf(stderr, "lsdseg: MPI_Init failed (start the command with mpirun, or use a "
                "build without MPI=1)\n");
        return 1;
    }
    d->started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
#endif
    return 0;
}

/* MPI_Finalize if started; frees the chain's buffers. */
void dist_stop(void)
{
    Dist *d = &g_world;
    free(d->chunk[0]);
    free(d->chunk[1]);
    free(d->req);
    d->chunk[0] = d->chunk[1] = NULL;
    d->req = NULL;
    d->req_n = 0;
#ifdef LSD_MPI
    if (d->started) MPI_Finalize();
#endif
    d->started = 0;
}

/* MPI_Abort: every rank ends (the caller printed why). */
void dist_abort(int code)
{
#ifdef LSD_MPI
    if (g_world.started && g_world.size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    exit(code);
}

#ifdef LSD_MPI
/* Seconds of the wall clock. */
static double now(void)
{
    return MPI_Wtime();
}

/* The chain's buffers and n_req request slots, allocated once. */
static int chain_buffers(Dist *d, size_t n_req, lsd_err *err)
{
    if (!d->chunk[0]) {
        d->chunk[0] = (real *)malloc(CHUNK * sizeof(real));
        d->chunk[1] = (real *)malloc(CHUNK * sizeof(real));
        if (!d->chunk[0] || !d->chunk[1])
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the MPI chain's buffers");
    }
    if (n_req > d->req_n) {
        free(d->req);
        d->req_n = 0;
        if (!(d->req = malloc(n_req * sizeof(MPI_Request))))
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the MPI requests");
        d->req_n = n_req;
    }
    return LSD_OK;
}

/* LsdDist's reduce: rank 0 sends its sum g[0] up the chain chunk by chunk; rank r > 0 adds
 * g[0], g[1], ... in order onto each chunk it receives and sends it on; rank K - 1 then
 * holds the batch's gradient and sends it back down, rank by rank, into every g[0]. Each
 * link carries the gradient once each way. */
static int chain_reduce(void *ctx, int update, real *const *g, int ng, size_t n, lsd_err *err)
{
    Dist *d = (Dist *)ctx;
    int r = d->rank, K = d->size, j, rc;
    size_t nch = (n + CHUNK - 1) / CHUNK, c;
    MPI_Request rq[2], *sq;
    double t0 = now();
    (void)update;
    if (K == 1) return LSD_OK;
    if ((rc = chain_buffers(d, nch ? nch : 1, err))) return rc;
    sq = (MPI_Request *)d->req;
    /* up: the running sum from rank 0 to rank K - 1 */
    if (r > 0 && nch)
        MPI_Irecv(d->chunk[0], (int)(n < CHUNK ? n : CHUNK), MPI_REAL_T, r - 1, TAG_UP,
                  MPI_COMM_WORLD, &rq[0]);
    for (c = 0; c < nch; c++) {
        size_t off = c * CHUNK, len = n - off < CHUNK ? n - off : CHUNK;
        if (r > 0) {
            real *p = d->chunk[c % 2];
            MPI_Wait(&rq[c % 2], MPI_STATUS_IGNORE);
            if (c + 1 < nch) {
                size_t len1 = n - off - len < CHUNK ? n - off - len : CHUNK;
                MPI_Irecv(d->chunk[(c + 1) % 2], (int)len1, MPI_REAL_T, r - 1, TAG_UP,
                          MPI_COMM_WORLD, &rq[(c + 1) % 2]);
            }
            for (j = 0; j < ng; j++) vec_add(p, g[j] + off, len); /* ((P + g0) + g1) + ... */
            memcpy(g[0] + off, p, len * sizeof(real));
        }
        if (r < K - 1) {
            MPI_Isend(g[0] + off, (int)len, MPI_REAL_T, r + 1, TAG_UP, MPI_COMM_WORLD, &sq[c]);
            d->bytes_sent += (double)len * sizeof(real);
        }
    }
    if (r < K - 1) MPI_Waitall((int)nch, sq, MPI_STATUSES_IGNORE);
    /* down: the batch's gradient from rank K - 1 to rank 0, forwarded as it arrives */
    for (c = 0; c < nch; c++) {
        size_t off = c * CHUNK, len = n - off < CHUNK ? n - off : CHUNK;
        if (r < K - 1)
            MPI_Recv(g[0] + off, (int)len, MPI_REAL_T, r + 1, TAG_DOWN, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        if (r > 0) {
            MPI_Isend(g[0] + off, (int)len, MPI_REAL_T, r - 1, TAG_DOWN, MPI_COMM_WORLD, &sq[c]);
            d->bytes_sent += (double)len * sizeof(real);
        }
    }
    if (r > 0) MPI_Waitall((int)nch, sq, MPI_STATUSES_IGNORE);
    d->seconds += now() - t0;
    return LSD_OK;
}

/* LsdDist's gather: every rank's rows, in rank order (= sample order). */
static int all_rows(void *ctx, const double *mine, int n_mine, double *all, int k, lsd_err *err)
{
    Dist *d = (Dist *)ctx;
    double t0 = now();
    (void)err;
    MPI_Allgather((void *)mine, n_mine * k, MPI_DOUBLE, all, n_mine * k, MPI_DOUBLE,
                  MPI_COMM_WORLD);
    d->bytes_sent += (double)n_mine * k * sizeof(double) * (d->size - 1);
    d->seconds += now() - t0;
    return LSD_OK;
}
#endif

/* The hooks for a batch split over the ranks (NULL with one rank). */
const LsdDist *dist_hooks(int batch, int per_rank)
{
#ifdef LSD_MPI
    Dist *d = &g_world;
    if (d->size <= 1) return NULL;
    d->hooks.batch = batch;
    d->hooks.first = d->rank * per_rank;
    d->hooks.reduce = chain_reduce;
    d->hooks.gather = all_rows;
    d->hooks.ctx = d;
    return &d->hooks;
#else
    (void)batch, (void)per_rank;
    return NULL;
#endif
}

/* MPI_Bcast from rank 0 in pieces of at most BCAST_MAX bytes. */
int dist_bcast(void *buf, size_t bytes, lsd_err *err)
{
#ifdef LSD_MPI
    size_t off = 0;
    (void)err;
    if (g_world.size <= 1) return LSD_OK;
    while (off < bytes) {
        size_t len = bytes - off < BCAST_MAX ? bytes - off : BCAST_MAX;
        MPI_Bcast((char *)buf + off, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD);
        off += len;
    }
#else
    (void)buf, (void)bytes, (void)err;
#endif
    return LSD_OK;
}

/* Parameters, Adam moments and step of rank 0's model to every rank. */
int dist_bcast_model(LsdModel *m, lsd_err *err)
{
    ParamArena *a[3];
    long step = m->step;
    int k, rc = LSD_OK;
    a[0] = &m->F.pa, a[1] = &m->G.pa, a[2] = &m->D.pa;
    for (k = 0; k < 3 && !rc; k++) {
        size_t bytes = a[k]->total * sizeof(real);
        if (!(rc = dist_bcast(a[k]->param, bytes, err)) && !(rc = dist_bcast(a[k]->m, bytes, err)))
            rc = dist_bcast(a[k]->v, bytes, err);
    }
    if (!rc) rc = dist_bcast(&step, sizeof step, err);
    m->step = step;
    return rc;
}

/* MPI_Allreduce with MPI_MAX. */
int dist_max_int(int v)
{
#ifdef LSD_MPI
    int out = v;
    if (g_world.size > 1) MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return out;
#else
    return v;
#endif
}

/* MPI_Allreduce with MPI_SUM over 64-bit counters (exact in any order). */
int dist_sum_u64(uint64_t *x, size_t n, lsd_err *err)
{
#ifdef LSD_MPI
    size_t off = 0;
    if (g_world.size <= 1) return LSD_OK;
    if (sizeof(unsigned long long) != sizeof(uint64_t))
        return lsd_fail(err, LSD_ERR_ARG, "64-bit counters are not unsigned long long here");
    while (off < n) {
        size_t len = n - off < ((size_t)1 << 26) ? n - off : ((size_t)1 << 26);
        MPI_Allreduce(MPI_IN_PLACE, x + off, (int)len, MPI_UNSIGNED_LONG_LONG, MPI_SUM,
                      MPI_COMM_WORLD);
        off += len;
    }
#else
    (void)x, (void)n, (void)err;
#endif
    return LSD_OK;
}
