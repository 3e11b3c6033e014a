/*
 * case.h - the case files of `lsdseg step` and `lsdseg forward` (read in cmd_step.c):
 * parameters, optional Adam state, one batch and optional dropout masks.
 */
#ifndef LSD_CASE_H
#define LSD_CASE_H

#include "../gan/lsd.h"

/* Loads parameters, Adam state and the batch, creates the work, fills its masks as o says
 * (random for the model's step, or ones), then replaces those the case gives. imgs holds
 * the four image arrays (free each), ys the labels. */
int lsd_case_load(const char *path, int source_only, const LsdStepOptions *o, LsdModel *m,
                  LsdWork *work, real **imgs, uint8_t **ys, LsdBatch *b, int *nmasks_given,
                  lsd_err *err);
/* Frees what lsd_case_load made (imgs, ys, work, m). If rc is an error, prints it as
 * "lsdseg CMD: ..." and returns 1, else returns 0. */
int lsd_case_free(const char *cmd, int rc, const lsd_err *err, LsdModel *m, LsdWork *work,
                  real **imgs, uint8_t *ys);

#endif
