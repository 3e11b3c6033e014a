/* loader.c - the prefetching sample stream (see loader.h). */
#include "loader.h"

#include <stdlib.h>
#include <string.h>

#include "../tensor/rng.h"

#if !defined(LSD_NO_THREADS)
#include <unistd.h>
#if defined(_POSIX_THREADS) && _POSIX_THREADS > 0
#define LSD_HAVE_PTHREADS 1
#include <pthread.h>
#endif
#endif

#define MAX_PREFETCH 64

/* A produced item with its status. */
typedef struct {
    loader_item item;
    int rc;
    lsd_err err;
} slot;

/* The producer's state: its own permutation buffer of the current epoch. */
typedef struct {
    size_t *perm;
    uint64_t perm_epoch; /* epoch held in perm, or UINT64_MAX */
} producer;

struct Loader {
    const Dataset *ds;
    loader_opts o;
    uint64_t start_pos;    /* the first position (read by the worker) */
    uint64_t next_pos;     /* position the consumer takes next */
    uint64_t n_resized;
    producer own;          /* synchronous loading and loader_index_at */
#ifdef LSD_HAVE_PTHREADS
    int threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    slot ring[MAX_PREFETCH];
    int head, count, stop;
    producer worker;
#endif
};

/* Fills p->perm with the order of epoch e (identity without shuffling). */
static void epoch_order(const Loader *lo, producer *p, uint64_t e)
{
    size_t n = lo->ds->n, j;
    uint64_t stream = rng_stream_of("data.shuffle");
    if (p->perm_epoch == e) return;
    for (j = 0; j < n; j++) p->perm[j] = j;
    if (lo->o.shuffle) {
        for (j = n; j-- > 1;) {
            size_t k =
                (size_t)rng_below(lo->o.t.seed, stream, e * (uint64_t)n + j, (uint64_t)j + 1);
            size_t t = p->perm[j];
            p->perm[j] = p->perm[k];
            p->perm[k] = t;
        }
    }
    p->perm_epoch = e;
}

/* Frees an item. */
void loader_item_free(loader_item *item)
{
    sample_free(&item->s);
    free(item->x_f);
    free(item->x_d);
    memset(item, 0, sizeof *item);
}

/* Loads, transforms and converts the item at position pos. */
static int produce(const Loader *lo, producer *p, uint64_t pos, loader_item *it, lsd_err *err)
{
    size_t n = lo->ds->n, hw;
    int rc;
    memset(it, 0, sizeof *it);
    epoch_order(lo, p, pos / n);
    it->index = p->perm[pos % n];
    it->position = pos;
    rc = dataset_load(lo->ds, it->index, &it->s, err);
    if (rc == LSD_OK) rc = transform_apply(&it->s, &lo->o.t, pos, err);
    if (rc != LSD_OK) {
        lsd_err_prefix(err, "sample %lu (%s)", (unsigned long)it->index, lo->ds->images[it->index]);
        loader_item_free(it);
        return rc;
    }
    hw = (size_t)it->s.height * it->s.width;
    if (lo->o.want_f) it->x_f = malloc(3 * hw * sizeof(real));
    if (lo->o.want_d) it->x_d = malloc(3 * hw * sizeof(real));
    if ((lo->o.want_f && !it->x_f) || (lo->o.want_d && !it->x_d)) {
        loader_item_free(it);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for network inputs");
    }
    if (it->x_f) to_bgr_minus_mean(it->x_f, it->s.image, it->s.height, it->s.width);
    if (it->x_d) to_rgb01(it->x_d, it->s.image, it->s.height, it->s.width);
    return LSD_OK;
}

#ifdef LSD_HAVE_PTHREADS
/* The worker: produces positions in order (stride apart) into the ring until stopped or
 * failed. */
static void *worker_main(void *arg)
{
    Loader *lo = arg;
    uint64_t pos;
    pthread_mutex_lock(&lo->mu);
    pos = lo->start_pos;
    for (;;) {
        slot s;
        while (!lo->stop && lo->count == lo->o.prefetch) pthread_cond_wait(&lo->not_full, &lo->mu);
        if (lo->stop) break;
        pthread_mutex_unlock(&lo->mu);
        s.rc = produce(lo, &lo->worker, pos, &s.item, &s.err);
        pthread_mutex_lock(&lo->mu);
        if (lo->stop) {
            loader_item_free(&s.item);
            break;
        }
        lo->ring[(lo->head + lo->count) % lo->o.prefetch] = s;
        lo->count++;
        pos += lo->o.stride ? lo->o.stride : 1;
        pthread_cond_signal(&lo->not_empty);
        if (s.rc != LSD_OK) break; /* the consumer will see the error */
    }
    pthread_mutex_unlock(&lo->mu);
    return NULL;
}
#endif

/* Opens the stream and, with prefetch > 0 and threads, starts the worker. */
int loader_open(Loader **out, const Dataset *ds, const loader_opts *opts, uint64_t start,
                lsd_err *err)
{
    Loader *lo;
    *out = NULL;
    if (!ds || ds->n == 0) return lsd_fail(err, LSD_ERR_ARG, "loader over an empty dataset");
    if (opts->prefetch < 0 || opts->prefetch > MAX_PREFETCH) {
        return lsd_fail(err, LSD_ERR_ARG, "prefetch must be 0..%d, not %d", MAX_PREFETCH,
                        opts->prefetch);
    }
    lo = calloc(1, sizeof *lo);
    if (!lo) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a loader");
    lo->ds = ds;
    lo->o = *opts;
    lo->start_pos = lo->next_pos = start;
    lo->own.perm = malloc(ds->n * sizeof *lo->own.perm);
    lo->own.perm_epoch = UINT64_MAX;
    if (!lo->own.perm) {
        loader_close(lo);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a loader");
    }
#ifdef LSD_HAVE_PTHREADS
    if (opts->prefetch > 0) {
        lo->worker.perm = malloc(ds->n * sizeof *lo->worker.perm);
        lo->worker.perm_epoch = UINT64_MAX;
        if (!lo->worker.perm) {
            loader_close(lo);
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a loader");
        }
        if (pthread_mutex_init(&lo->mu, NULL) != 0) {
            loader_close(lo);
            return lsd_fail(err, LSD_ERR_NOMEM, "cannot create a mutex");
        }
        pthread_cond_init(&lo->not_empty, NULL);
        pthread_cond_init(&lo->not_full, NULL);
        if (pthread_create(&lo->thread, NULL, worker_main, lo) != 0) {
            pthread_cond_destroy(&lo->not_empty);
            pthread_cond_destroy(&lo->not_full);
            pthread_mutex_destroy(&lo->mu);
        } else {
            lo->threaded = 1; /* else: fall back to synchronous loading */
        }
    }
#endif
    *out = lo;
    return LSD_OK;
}

/* Takes the next item from the worker, or loads it here. */
int loader_next(Loader *lo, loader_item *item, lsd_err *err)
{
    int rc;
#ifdef LSD_HAVE_PTHREADS
    if (lo->threaded) {
        slot s;
        pthread_mutex_lock(&lo->mu);
        while (lo->count == 0) pthread_cond_wait(&lo->not_empty, &lo->mu);
        s = lo->ring[lo->head];
        if (s.rc == LSD_OK) {
            lo->head = (lo->head + 1) % lo->o.prefetch;
            lo->count--;
            pthread_cond_signal(&lo->not_full);
        } else {
            memset(&s.item, 0, sizeof s.item); /* the error stays for later calls */
        }
        pthread_mutex_unlock(&lo->mu);
        if (s.rc != LSD_OK) {
            memset(item, 0, sizeof *item);
            if (err) *err = s.err;
            return s.rc;
        }
        *item = s.item;
        lo->next_pos += lo->o.stride ? lo->o.stride : 1;
        if (item->s.label_resized) lo->n_resized++;
        return LSD_OK;
    }
#endif
    rc = produce(lo, &lo->own, lo->next_pos, item, err);
    if (rc != LSD_OK) return rc;
    lo->next_pos += lo->o.stride ? lo->o.stride : 1;
    if (item->s.label_resized) lo->n_resized++;
    return LSD_OK;
}

/* The count of resized labels handed over. */
uint64_t loader_label_resized_count(const Loader *lo) { return lo->n_resized; }

/* Whether a worker thread runs. */
int loader_is_threaded(const Loader *lo)
{
#ifdef LSD_HAVE_PTHREADS
    return lo->threaded;
#else
    (void)lo;
    return 0;
#endif
}

/* The dataset index of position p (uses the consumer's permutation buffer). */
size_t loader_index_at(Loader *lo, uint64_t p)
{
    epoch_order(lo, &lo->own, p / lo->ds->n);
    return lo->own.perm[p % lo->ds->n];
}

/* Stops the worker, frees queued items and the loader. */
void loader_close(Loader *lo)
{
    if (!lo) return;
#ifdef LSD_HAVE_PTHREADS
    if (lo->threaded) {
        int i;
        pthread_mutex_lock(&lo->mu);
        lo->stop = 1;
        pthread_cond_broadcast(&lo->not_full);
        pthread_mutex_unlock(&lo->mu);
        pthread_join(lo->thread, NULL);
        for (i = 0; i < lo->count; i++) {
            loader_item_free(&lo->ring[(lo->head + i) % lo->o.prefetch].item);
        }
        pthread_cond_destroy(&lo->not_empty);
        pthread_cond_destroy(&lo->not_full);
        pthread_mutex_destroy(&lo->mu);
    }
    free(lo->worker.perm);
#endif
    free(lo->own.perm);
    free(lo);
}
