/*
 * loop.h - the training loop that `lsdseg train` and `lsdseg demo` share. A demo run is a
 * training run on built-in data with a report at the end: both drive this loop and differ
 * only in their hooks (where batches come from, what is logged, validated and saved).
 *
 * One iteration:
 *   1. hook `batch`: set the learning rates of iteration m->step + 1 in *so, fill the batch;
 *   2. one update: lsd_step, or lsd_step_source_only (on the CPU or the OpenCL device);
 *   3. the losses must be finite (an error otherwise, naming the iteration and the losses);
 *   4. hook `after`: log, evaluate, save; it may extend the progress text;
 *   5. the progress line; hook `stop` (Ctrl-C, agreed by every MPI rank) ends the loop early.
 * ref/ code: it may print (the progress line only).
 */
#ifndef LSD_LOOP_H
#define LSD_LOOP_H

#include "options.h"
#include "progress.h"

typedef struct TrainLoop TrainLoop;
struct TrainLoop {
    LsdModel *m;        /* trained in place; m->step counts the updates */
    LsdWork *work;
    opt_device *dev;    /* NULL: the CPU */
    opt_dwork *dwork;   /* dev's mirror of work (NULL with dev NULL) */
    LsdStepOptions *so; /* the hooks may change it (learning rates) */
    int source_only;    /* lsd_step_source_only instead of lsd_step */
    long iters;         /* the loop ends when m->step reaches iters */
    lsd_progress *pr;
    void *ctx;          /* the caller's state, for the hooks */
    /* Before the update: learning rates into L->so, the batch into *b (zeroed). */
    int (*batch)(TrainLoop *L, LsdBatch *b, lsd_err *err);
    /* After the update, m->step done: l holds its losses, seconds its time from the start of
     * `batch`; text (cap bytes) is the progress text, to extend. NULL: nothing. */
    int (*after)(TrainLoop *L, const LsdLosses *l, double seconds, char *text, size_t cap,
                 lsd_err *err);
    /* After every iteration: nonzero ends the loop. NULL: never. */
    int (*stop)(TrainLoop *L);
};

/* Runs the loop until m->step == iters, a hook fails or `stop` says so. Returns LSD_OK or the
 * first error (LSD_ERR_RANGE for a loss that is not finite). */
int train_loop_run(TrainLoop *L, lsd_err *err);

#endif
