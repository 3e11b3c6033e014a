/*
 * params.h - parameter arenas: every network keeps its parameters in one flat
 * array, with a gradient array and Adam's two moment arrays of the same layout.
 * A table of ParamSpec (name, offset, shape, learning-rate group, frozen) drives
 * initialisation, Adam, zeroing and safetensors I/O, so each of those is one loop.
 *
 * Names are the authors' PyTorch module names (docs/method.md, "Parameter names");
 * in files they carry the network's prefix "F.", "G." or "D.". Adam state is
 * stored as "opt.<prefixed name>.exp_avg" and ".exp_avg_sq" (frozen tensors have
 * none), the completed iteration count as "opt.step" (I64, shape [1]), and the
 * configuration as metadata (vgg, fc, ngf, ndf, n_class).
 */
#ifndef LSD_PARAMS_H
#define LSD_PARAMS_H

#include <stdint.h>
#include "../tensor/common.h"
#include "../tensor/safetensors.h"

#define LSD_NAME_MAX 64

/* One named tensor of an arena. */
typedef struct {
    char name[LSD_NAME_MAX]; /* without the network prefix, e.g. "conv1_1.weight" */
    int ndim;
    int shape[4];
    size_t offset, size;     /* elements */
    int is_bias;             /* learning-rate group: F's biases train at twice the rate */
    int frozen;              /* not trained (FCN's bilinear upsampling) */
} ParamSpec;

/* The parameters of one network and their gradients and Adam moments, same layout. */
typedef struct {
    char prefix[4];          /* "F.", "G." or "D." */
    int n, cap;
    ParamSpec *spec;
    size_t total;            /* elements in each of the four arrays */
    real *param, *grad, *m, *v;
} ParamArena;

/* A layer's view into an arena: weight and bias (bias, dbias NULL without bias). */
typedef struct {
    real *weight, *bias;
    real *dweight, *dbias;
} LayerParams;

/* A layer to declare: "<name>.weight" of a 4-D shape and "<name>.bias" of bias_len (0: none). */
typedef struct {
    char name[LSD_NAME_MAX - 8];
    int shape[4];
    int bias_len;
    int frozen;
    LayerParams *lp; /* bound to the tensors once the arena is allocated */
} LayerDecl;

/* Builds an arena from a list of layers: table, allocation, views. */
int arena_build(ParamArena *a, const char *prefix, const LayerDecl *decl, int n, lsd_err *err);

/* Starts an empty arena with the given prefix ("F." ...). */
void arena_init(ParamArena *a, const char *prefix);
/* Appends a tensor to the table; returns its index (>= 0) or -1 after filling err. */
int arena_add(ParamArena *a, const char *name, int ndim, const int *shape, int is_bias,
              int frozen, lsd_err *err);
/* Allocates the four arrays (zero-filled) once the table is complete. */
int arena_alloc(ParamArena *a, lsd_err *err);
void arena_free(ParamArena *a);
/* Index of the tensor called name (without prefix), or -1. */
int arena_find(const ParamArena *a, const char *name);
/* Points a layer view at tensors iw (weight) and ib (bias, -1 for none). */
void arena_bind(LayerParams *lp, ParamArena *a, int iw, int ib);
/* Points the gradient views of n layers bound to arena a at the same offsets in grad (an
 * array laid out like a->grad) instead: a view of a network whose gradients go elsewhere. */
void layers_grad_to(LayerParams *lp, int n, const ParamArena *a, real *grad);
/* Zeroes the gradient array. */
void arena_zero_grad(ParamArena *a);
/* One Adam step (t 1-based) on every trainable tensor; biases use lr_bias, weights lr_weight;
 * pytorch02: PyTorch 0.2's Adam (adam02_update) instead of today's. */
void arena_adam(ParamArena *a, long t, double lr_weight, double lr_bias, double beta1,
                double beta2, double eps, int pytorch02);
/* Number of trainable (not frozen) elements. */
size_t arena_trainable(const ParamArena *a);

/* ---- deterministic rules (tests, goldens, the oracle command) */
/* u in [-1, 1) for element i of the tensor called name: splitmix64(fnv1a64(name) +
 * (i + 1) * 0x9E3779B97F4A7C15), top 53 bits. golden/model.py has the same rule. */
double lsd_hash_uniform(const char *name, uint64_t i);
/* Fills every tensor from the rule: name = prefix + name, scale 1/sqrt(shape[1]*KH*KW) for
 * 4-D weights and 0.1 for vectors; frozen tensors (bilinear upsampling) get bilinear weights. */
void arena_init_hash(ParamArena *a);
/* Sum of |x| of tensor k in double, a checksum for files that hold no weights. */
double arena_abs_sum(const ParamArena *a, int k);

/* ---- safetensors I/O */
/* Adds every parameter of a (prefixed names) to writer; with_opt also adds Adam state of
 * trainable tensors as "opt.<name>.exp_avg" / ".exp_avg_sq". The data stays owned by a. */
int arena_write(const ParamArena *a, st_writer *writer, int with_opt, lsd_err *err);
/* Reads every parameter of a from sf (prefixed names, shapes must match). with_opt: 0 skip
 * Adam state, 1 read it if present (all or nothing), 2 require it. *had_opt tells. */
int arena_read(ParamArena *a, st_file *sf, int with_opt, int *had_opt, lsd_err *err);

#endif
