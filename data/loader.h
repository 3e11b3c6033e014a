/*
 * loader.h - a sample stream for training and evaluation: dataset order (or
 * a fresh shuffle each epoch), the dataset's transform, and the inputs of F
 * and D, decoded ahead of the training loop on a worker thread.
 *
 * Position p of the stream is sample k = p mod n of epoch e = p / n. With
 * shuffling, the order of epoch e is a Fisher-Yates permutation whose swap j
 * draws index e * n + j of the stream rng_stream_of("data.shuffle"); the
 * sample's own random crop and flip use draw p (transform.h). Every item is a
 * pure function of (dataset, options, p), so the stream is the same with and
 * without the worker thread, and a run can restart at any position.
 *
 * The worker uses POSIX threads; building with -DLSD_NO_THREADS (or without
 * pthreads) loads synchronously in loader_next.
 */
#ifndef LSD_LOADER_H
#define LSD_LOADER_H

#include <stdint.h>
#include "../tensor/common.h"
#include "dataset.h"
#include "transform.h"

typedef struct {
    transform_opts t;   /* applied to every sample */
    int shuffle;        /* 1: a new order each epoch (seed t.seed) */
    int prefetch;       /* samples decoded ahead on the worker (0: synchronous; at most 64) */
    int want_f;         /* 1: fill x_f, F's input */
    int want_d;         /* 1: fill x_d, D's input */
    uint64_t stride;    /* positions from one item to the next (0 or 1: every position; B:
                           one slot of a batch of B, as a training process takes it) */
} loader_opts;

typedef struct {
    sample s;           /* the transformed sample */
    real *x_f;          /* (3, H, W) BGR minus mean, or NULL */
    real *x_d;          /* (3, H, W) RGB / 255, or NULL */
    size_t index;       /* dataset index */
    uint64_t position;  /* stream position */
} loader_item;

typedef struct Loader Loader;

/* Starts a stream over ds (which must outlive the loader) at position start. */
int loader_open(Loader **lo, const Dataset *ds, const loader_opts *opts, uint64_t start,
                lsd_err *err);
/* Hands over the next item (the caller frees it with loader_item_free). A failed load is
 * reported here, at its position; the stream stops there. */
int loader_next(Loader *lo, loader_item *item, lsd_err *err);
/* Frees an item's buffers and zeroes it. */
void loader_item_free(loader_item *item);
/* Items handed over so far whose stored label had another size than the image (resized). */
uint64_t loader_label_resized_count(const Loader *lo);
/* 1 if a worker thread decodes ahead, 0 if loading is synchronous. */
int loader_is_threaded(const Loader *lo);
/* Dataset index at stream position p (the epoch's permutation). */
size_t loader_index_at(Loader *lo, uint64_t p);
/* Stops the worker and frees everything; safe on NULL. */
void loader_close(Loader *lo);

#endif
