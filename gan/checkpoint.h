/*
 * checkpoint.h - training checkpoints: crash-safe saving, validation and resume
 * (docs/checkpoints.md).
 *
 * A checkpoint is one safetensors file DIR/ckpt-<iteration, 8 digits>.safetensors with
 * everything lsd_model_write stores (parameters under F., G., D., Adam state under opt.,
 * opt.step, the network sizes) plus metadata: the format name, the iteration, the learning
 * rates, the RNG seed, the method, the data position, a free-form configuration string, and
 * two digests (64-bit FNV-1a, "digest_alg"): "digest" over the data section bytes in file
 * order and "header_digest" over the tensor table and every other metadata entry.
 *
 * Saving writes the new file beside the old ones (temporary file, fsync, rename, fsync of the
 * directory: st_writer_save) and only then removes checkpoints beyond the newest `keep`, so a
 * crash at any moment leaves the previous complete checkpoint in place. Resuming removes
 * stale temporary files, then tries the checkpoints newest first and takes the first that
 * validates; if there are checkpoint files but none validates it fails (it never silently
 * starts again at iteration 0).
 */
#ifndef LSD_CHECKPOINT_H
#define LSD_CHECKPOINT_H

#include <stdint.h>
#include "../tensor/common.h"
#include "../tensor/safetensors.h"
#include "lsd.h"

#define CKPT_FORMAT "lsdseg-checkpoint-1"
#define CKPT_DIGEST_ALG "fnv1a64"
#define CKPT_KEEP_DEFAULT 2
#define CKPT_PATH_MAX 4096

/* What a checkpoint records beside the model. */
typedef struct {
    long iteration;        /* completed iterations; equals the model's step when saved */
    double lr_f_weight;    /* F and C learning rates in force (after any decay) */
    double lr_f_bias;
    double lr_gd;          /* G and D learning rate */
    uint64_t seed;         /* the run's RNG seed (dropout masks, data order) */
    char method[32];       /* "lsd" or "source_only" */
    long epoch;            /* data position: epoch and index within it of the next sample */
    long data_index;
    char config[1024];     /* the run's configuration as text (free form, may be empty) */
    LsdRecipe recipe;      /* metadata "recipe" (lsd_recipe_format); the paper's if absent */
} CkptInfo;

/* Defaults: iteration 0, the paper's learning rates, seed 1337, method "lsd", the paper's
 * recipe. */
void ckpt_info_init(CkptInfo *ci);

/* Saves m to dir/ckpt-<info->iteration>.safetensors (the model's step must equal
 * info->iteration) crash-safely, then removes the older checkpoints of dir beyond the newest
 * keep (keep < 1 means CKPT_KEEP_DEFAULT; files of a later iteration are left alone).
 * path_out (cap bytes, may be NULL) receives the path written. */
int ckpt_save(const LsdModel *m, const char *dir, const CkptInfo *info, int keep,
              char *path_out, size_t cap, lsd_err *err);

/* Removes the temporary files an interrupted save leaves (dir/ckpt-*.tmp); *removed (may be
 * NULL) receives their count. A missing directory is not an error. */
int ckpt_clean_stale(const char *dir, int *removed, lsd_err *err);

/* Checks a checkpoint file without loading the model: header, format, both digests, the
 * configuration (sizes in the metadata agree with the tensor shapes and with expect, if not
 * NULL), and iteration == opt.step. The message says what is wrong. */
int ckpt_validate(const char *path, const LsdConfig *expect, lsd_err *err);

/* Scans dir for ckpt-*.safetensors and returns in path_out the newest that validates.
 * *found = 1 then; *found = 0 with LSD_OK only when dir holds no checkpoint file at all (or
 * does not exist). If checkpoint files exist but none validates, fails with LSD_ERR_FORMAT
 * and a message listing each file and why it was refused. refused (cap refused_cap, may be
 * NULL) receives one line "path: reason" per newer file that was passed over. */
int ckpt_find_latest(const char *dir, const LsdConfig *expect, char *path_out, size_t cap,
                     int *found, char *refused, size_t refused_cap, lsd_err *err);

/* Validates path, then creates m from it (lsd_model_load) and fills info (may be NULL) from
 * its metadata. */
int ckpt_load(LsdModel *m, const char *path, CkptInfo *info, lsd_err *err);

/* The resume rule: ckpt_clean_stale, ckpt_find_latest, ckpt_load. *resumed = 1 with m and info
 * filled from the newest valid checkpoint; *resumed = 0 (m untouched) when dir holds none.
 * Fails when checkpoints exist and none validates. refused as for ckpt_find_latest. */
int ckpt_resume(LsdModel *m, const char *dir, const LsdConfig *expect, CkptInfo *info,
                int *resumed, char *refused, size_t refused_cap, lsd_err *err);

/* 64-bit FNV-1a of n bytes, continuing from h (start with CKPT_FNV_OFFSET). */
#define CKPT_FNV_OFFSET 0xcbf29ce484222325ULL
uint64_t ckpt_fnv1a64(uint64_t h, const void *data, size_t n);

/* The data-section digest of what writer would write, computed from its tensors in their
 * little-endian on-disk form, in the writer's order. */
uint64_t ckpt_writer_digest(const st_writer *writer);

#endif
