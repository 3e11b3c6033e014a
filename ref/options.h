/*
 * options.h - helpers shared by the lsdseg commands (train, eval, predict, demo,
 * ...): option values checked with one-line messages, dataset opening from
 * "--X-type KIND --X DIR" pairs, folders, and the authors' evaluation protocol
 * (implemented in cmd_eval.c, used by train's validation). The clock and the
 * progress line are progress.h's.
 *
 * Message and exit-code rule of every command: a usage problem (unknown
 * option, missing or invalid value) prints "lsdseg CMD: <what is wrong>" on
 * stderr and exits 2; a runtime problem (missing file, unreadable data,
 * out of memory) prints the library's message the same way and exits 1.
 * The opt_* parsers below print that message themselves and return 2, or
 * return 0 on success.
 */
#ifndef LSD_OPTIONS_H
#define LSD_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../data/dataset.h"
#include "../data/metrics.h"
#include "../gan/lsd.h"
#ifdef LSD_OPENCL
#include "../opencl/clnet.h"
#endif

/* 1 when a[i] is "--help" or "-h". */
int opt_is_help(const char *a);
/* The value after option argv[*i]: advances *i and returns it, or prints "OPT needs a value"
 * and returns NULL. */
const char *opt_value(const char *cmd, int argc, char **argv, int *i);
/* An integer in lo..hi. */
int opt_long(const char *cmd, const char *opt, const char *v, long lo, long hi, long *out);
/* A number in lo..hi. */
int opt_double(const char *cmd, const char *opt, const char *v, double lo, double hi,
               double *out);
/* "HxW" (e.g. 320x640), each 1..16384. */
int opt_size(const char *cmd, const char *opt, const char *v, int *h, int *w);
/* A dataset kind name (cityscapes, gta5, synthia, list). */
int opt_kind(const char *cmd, const char *opt, const char *v, dataset_kind *kind);
/* ---- --backend cpu|opencl, --cl-platform P, --cl-device D (train, eval, predict, step,
 * forward). With opencl the model lives on the device between opt_device_start and
 * opt_device_stop; opt_device_sync reads it back (before a checkpoint). Without OPENCL=1,
 * --backend opencl is refused with "rebuild with make OPENCL=1". */
typedef struct {
    int opencl, platform, device;
#ifdef LSD_OPENCL
    int ready;
    lsd_cl cl;
    ClModel m;
#endif
} opt_device;
/* A work's device mirror (one per LsdWork). */
typedef struct {
    int ready;
#ifdef LSD_OPENCL
    ClWork cw;
#endif
} opt_dwork;
/* 1 if opt is one of the three options (then v is its value: parsed into d, 0 or 2). */
int opt_is_device_option(const char *opt);
int opt_device_arg(const char *cmd, opt_device *d, const char *opt, const char *v);
/* Opens the device and uploads m (nothing for cpu). */
int opt_device_start(opt_device *d, const LsdModel *m, lsd_err *err);
void opt_device_stop(opt_device *d);
/* Device model -> m (parameters, Adam state, step); nothing for cpu. */
int opt_device_sync(opt_device *d, LsdModel *m, lsd_err *err);
/* The device mirror of work (nothing for cpu); stop releases it. */
int opt_dwork_start(opt_device *d, opt_dwork *dw, LsdWork *work, lsd_err *err);
void opt_dwork_stop(opt_dwork *dw);
/* lsd_step / lsd_step_source_only (loss into l->loss_F), lsd_infer, lsd_forward_all on the
 * chosen backend (d NULL or cpu: the C functions). On the device m->step follows. */
int opt_dev_step(opt_device *d, opt_dwork *dw, LsdModel *m, LsdWork *work, const LsdBatch *b,
                 const LsdStepOptions *o, int source_only, LsdLosses *l, lsd_err *err);
int opt_dev_infer(opt_device *d, opt_dwork *dw, const LsdModel *m, LsdWork *work, const real *x,
                  lsd_err *err);
int opt_dev_forward_all(opt_device *d, opt_dwork *dw, const LsdModel *m, LsdWork *work,
                        const LsdBatch *b, lsd_err *err);
/* ---- --recipe paper|authors and its four switches --schedule, --adam, --d-labels,
 * --d-input (step, forward, train, demo; docs/method.md, "Two schedules"). A switch given on
 * its own overrides the recipe's choice whatever the order of the options. */
typedef struct {
    LsdRecipe base;   /* from --recipe (the paper's if not given) */
    LsdRecipe single; /* the switches given on their own */
    int given;        /* bit k: switch k given on its own (1 schedule, 2 adam, 4 labels, 8 input) */
    int any;          /* 1 if --recipe or any switch was given */
} opt_recipe;
#define OPT_RECIPE_USAGE                                                                     \
    "  --recipe paper|authors   the paper's recipe (default) or the authors' released code\n" \
    "                           (the four switches below at once; docs/method.md)\n"          \
    "  --schedule paper|authors fresh forward passes for each update, or one forward pass\n"  \
    "                           and three backward passes through updated weights\n"          \
    "  --adam modern|pytorch02  today's Adam, or PyTorch 0.2's (eps outside the correction)\n" \
    "  --d-labels centre|authors  D's class labels: Ys at pixel centres, or the authors'\n"   \
    "                           transposed resize\n"                                           \
    "  --d-input rgb|bgr        channel order of D's real images and G's targets\n"
/* 1 if opt is --recipe or one of the four switches. */
int opt_is_recipe_option(const char *opt);
/* Parses one of them (0, or prints the message and returns 2). */
int opt_recipe_arg(const char *cmd, opt_recipe *r, const char *opt, const char *v);
/* The recipe the options ask for. */
LsdRecipe opt_recipe_value(const opt_recipe *r);

/* --threads N: sets the OpenMP thread count (no effect without OpenMP). */
int opt_threads(const char *cmd, const char *v);
/* Prints "lsdseg CMD: unknown option 'A' (try --help)" and returns 2. */
int opt_unknown(const char *cmd, const char *a);

/* Opens a dataset: kind with root (split and list for the named kinds), or for DATASET_LIST
 * root is the list file and table the optional id table. Prints the failure and returns 1. */
int opt_open_dataset(const char *cmd, const char *what, Dataset *ds, dataset_kind kind,
                     const char *root, const char *split, const char *list, const char *table);

/* 1 if path is an existing directory / regular file. */
int opt_is_dir(const char *path);
int opt_is_file(const char *path);
/* Creates a directory and its parents (like mkdir -p). */
int opt_mkdirs(const char *path, lsd_err *err);
/* The file name of path without its folder, its ".png" and a "_leftImg8bit" suffix. */
void opt_stem(char *out, size_t cap, const char *path);
/* ---- the authors' evaluation protocol (cmd_eval.c) */
typedef struct {
    int H, W;                /* inference size (320 x 640) */
    size_t max_images;       /* 0: all */
    const char *save_dir;    /* not NULL: labelIds/<stem>.png and color/<stem>.png here */
    const char *sample_dir;  /* not NULL: panels (image | prediction | truth) of the first */
    int n_samples;           /* n_samples images as <sample_dir>/<sample_prefix>_<k>.png */
    const char *sample_prefix;
    const char *cmd;         /* for progress ("lsdseg eval"); NULL: no progress line */
    opt_device *dev;         /* NULL or cpu: C inference; opencl: the started device's model */
    int part, parts;         /* parts > 1: only images part * n / parts .. (part + 1) * n /
                                parts - 1 of the n (one MPI rank's share) */
} eval_opts;

/* Runs every image of ds through the protocol (resize to H x W with Lanczos, BGR minus mean,
 * C(F(x)) without dropout, argmax, nearest upsampling to the label's full size) and adds it
 * to c (n = the model's classes). Ground truth outside the classes counts as ignore. */
int lsd_evaluate(const LsdModel *m, const Dataset *ds, const eval_opts *o, confusion *c,
                 lsd_err *err);
/* Argmax over the classes of scores (n, H, W) into pred (H, W); the first maximum wins. */
void lsd_argmax(uint8_t *pred, const real *scores, int n, int H, int W);
/* The model's checkpoint at path (configuration from shapes); prints the failure, returns 1. */
int opt_load_model(const char *cmd, LsdModel *m, const char *path);

#endif
