/*
 * dist.h - data-parallel training over MPI (docs/scaling.md): the one module of lsdseg that
 * talks to MPI. Built with `make MPI=1` (mpicc, -DLSD_MPI); in other builds every function is
 * the one-process case and no MPI header is needed.
 *
 * A batch of B samples is split into K ranks of B / K consecutive samples. lsd_step runs each
 * rank's samples one by one and hands every update's gradient to dist_hooks()'s reduce: a
 * chain from rank 0 to rank K - 1, each rank adding its samples' gradients in order onto the
 * running sum it receives (pipelined in chunks), then the sum passed back down the chain, so
 * every rank holds the same bits as one process running the whole batch (gan/lsd.h, LsdDist).
 * Losses are gathered and added in sample order by lsd_step. MPI's default error handler
 * aborts the job on a communication failure; dist_abort takes every rank down after a
 * rank's own error, so no rank waits forever.
 */
#ifndef LSD_DIST_H
#define LSD_DIST_H

#include <stddef.h>
#include <stdint.h>
#include "../gan/lsd.h"

typedef struct {
    int rank, size;   /* this process and the number of processes (0, 1 without MPI) */
    int started;      /* MPI_Init ran (dist_start) */
    LsdDist hooks;    /* for LsdStepOptions.dist (dist_hooks) */
    real *chunk[2];   /* receive buffers of the chain */
    void *req;        /* MPI requests of the chain */
    size_t req_n;
    double bytes_sent; /* by this rank's reductions and gathers, for the report */
    double seconds;    /* spent in them */
} Dist;

/* The process's MPI world (one per process: MPI is process-global). */
Dist *dist_world(void);
/* Starts MPI (MPI_Init) in MPI builds; returns 0, or 1 after a message. */
int dist_start(void);
/* Ends MPI (MPI_Finalize) if it was started. */
void dist_stop(void);
/* Ends every rank of the job with status code (MPI_Abort; exit without MPI). */
void dist_abort(int code);
/* 1 in builds with MPI. */
int dist_built(void);

/* The hooks that join batch parts of `batch` samples held by the ranks, this rank holding
 * samples rank * per_rank .. + per_rank - 1; NULL with one process (nothing to join). */
const LsdDist *dist_hooks(int batch, int per_rank);
/* Copies rank 0's bytes to every rank. */
int dist_bcast(void *buf, size_t bytes, lsd_err *err);
/* Copies rank 0's parameters, Adam moments and step count to every rank (the others' model
 * has the same configuration, created before). */
int dist_bcast_model(LsdModel *m, lsd_err *err);
/* The largest of every rank's value (e.g. "a signal arrived"). */
int dist_max_int(int v);
/* Sums n counters over the ranks, in place on every rank (confusion matrices). */
int dist_sum_u64(uint64_t *x, size_t n, lsd_err *err);

#endif
