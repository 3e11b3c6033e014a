/*
 * loop.c - the training loop of `lsdseg train` and `lsdseg demo` (see loop.h).
 */
#include "loop.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The losses of one update as the progress line shows them. */
static void loss_text(char *text, size_t cap, const LsdLosses *l, int source_only)
{
    if (source_only)
        snprintf(text, cap, "CE %.4g", l->loss_F);
    else
        snprintf(text, cap, "D %.4g G %.4g F %.4g (seg %.4g)", l->loss_D, l->loss_G, l->loss_F,
                 l->loss_seg);
}

int train_loop_run(TrainLoop *L, lsd_err *err)
{
    char text[256];
    int rc = LSD_OK;
    while (L->m->step < L->iters) {
        LsdBatch b;
        LsdLosses l;
        double t0 = lsd_now();
        memset(&b, 0, sizeof b);
        memset(&l, 0, sizeof l);
        if ((rc = L->batch(L, &b, err))) break;
        if ((rc = opt_dev_step(L->dev, L->dwork, L->m, L->work, &b, L->so, L->source_only, &l,
                               err)))
            break;
        loss_text(text, sizeof text, &l, L->source_only);
        if (!isfinite(l.loss_F) || (!L->source_only && (!isfinite(l.loss_D) ||
                                                        !isfinite(l.loss_G)))) {
            rc = lsd_fail(err, LSD_ERR_RANGE, "a loss is not finite at iteration %ld (%s)",
                          L->m->step, text);
            break;
        }
        if (L->after && (rc = L->after(L, &l, lsd_now() - t0, text, sizeof text, err))) break;
        progress_update(L->pr, L->m->step, text);
        if (L->stop && L->stop(L)) break;
    }
    return rc;
}
