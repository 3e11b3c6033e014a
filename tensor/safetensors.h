/*
 * safetensors.h - reader and writer of the safetensors format
 * (https://github.com/huggingface/safetensors): 8-byte little-endian header
 * length N, N bytes of UTF-8 JSON {"name": {"dtype": .., "shape": [..],
 * "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "value"}}, then
 * the data, little-endian, tensors packed without gaps.
 *
 * st_open reads and validates the header only (every rule of the format is
 * checked before anything is used); tensors are then read one at a time, so
 * loading needs no memory beyond the tensors themselves. Tensor names are
 * never used as paths.
 */
#ifndef LSD_SAFETENSORS_H
#define LSD_SAFETENSORS_H

#include <stdint.h>
#include <stdio.h>
#include "common.h"

typedef enum { ST_F32, ST_F64, ST_I64, ST_I32, ST_U8, ST_F16, ST_BF16 } st_dtype;

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000ULL

typedef struct {
    char *name;                  /* NUL-terminated UTF-8 */
    st_dtype dtype;
    int ndim;                    /* 0..ST_MAX_DIMS */
    int64_t shape[ST_MAX_DIMS];
    uint64_t nelem;              /* product of the shape */
    uint64_t begin, end;         /* byte offsets relative to the data section */
} st_entry;

typedef struct {
    char *path;                  /* copy of the path given to st_open */
    FILE *f;
    uint64_t file_size, data_start;
    int n;                       /* tensors, in file order of their offsets */
    st_entry *entries;
    int nmeta;
    char **meta_keys, **meta_vals;
} st_file;

/* Bytes per element of a dtype; its name ("F32", ...). */
size_t st_dtype_size(st_dtype dt);
const char *st_dtype_name(st_dtype dt);

/* Opens path and validates its header. On failure the message names the file and the fault. */
int st_open(st_file *sf, const char *path, lsd_err *err);
void st_close(st_file *sf);

/* Like st_open, for a whole file held in memory (len bytes at buf, which must stay valid
 * until st_close); name stands for the path in messages. */
int st_open_mem(st_file *sf, const void *buf, size_t len, const char *name, lsd_err *err);

/* Validates a header held in memory (the JSON after the 8 length bytes) against a data
 * section of data_len bytes and fills entries and metadata (used by st_open and the fuzzer). */
int st_parse_header(st_file *sf, const char *json, size_t json_len, uint64_t data_len,
                    lsd_err *err);

/* Copies s into buf (cap bytes) for a message: bytes outside printable ASCII (and '\\')
 * become \xNN, and a string too long is cut with "...". */
void st_printable(const char *s, char *buf, size_t cap);

/* The entry called name, or NULL. */
const st_entry *st_find(const st_file *sf, const char *name);
/* The metadata value for key, or NULL. */
const char *st_meta(const st_file *sf, const char *key);

/* Looks up tensor name and checks that it has exactly the given dtype and shape (ndim
 * dimensions; ndim < 0 skips the shape check); *out (if not NULL) receives the entry.
 * Errors name the file, the tensor and the mismatch. */
int st_expect(const st_file *sf, const char *name, st_dtype dtype, int ndim,
              const int64_t *shape, const st_entry **out, lsd_err *err);

/* Reads tensor name into dst as real, converting from any floating dtype (F32, F64, F16,
 * BF16). If ndim >= 0 the tensor must have exactly that shape; if ndim < 0 only its element
 * count must be n. Errors name the file, the tensor and the mismatch. */
int st_read_real(st_file *sf, const char *name, real *dst, size_t n, int ndim,
                 const int64_t *shape, lsd_err *err);
/* The same for double destinations (any floating dtype). */
int st_read_f64(st_file *sf, const char *name, double *dst, size_t n, int ndim,
                const int64_t *shape, lsd_err *err);
/* Reads an integer tensor (I64, I32 or U8) into int64 values; same shape rules. */
int st_read_i64(st_file *sf, const char *name, int64_t *dst, size_t n, int ndim,
                const int64_t *shape, lsd_err *err);
/* Reads the raw little-endian bytes of a tensor (exactly end-begin bytes into dst). */
int st_read_raw(st_file *sf, const char *name, void *dst, size_t nbytes, lsd_err *err);

/* ---- writer: collect tensors (pointers are kept, not copied) and metadata, then write. */
typedef struct {
    const char *name;
    st_dtype dtype;              /* F32, F64, I64, I32 or U8 */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;            /* host-order values of the dtype's C type */
} st_out_tensor;

typedef struct {
    int n, cap;
    st_out_tensor *t;
    int nmeta, capmeta;
    char **meta_keys, **meta_vals; /* copies */
} st_writer;

/* Elements of an output tensor (product of its shape). */
uint64_t st_out_nelem(const st_out_tensor *t);
/* Encodes elements first .. first+count-1 of t into buf in the file's little-endian byte form
 * (count * st_dtype_size bytes), as st_writer_save writes them. */
void st_out_encode(const st_out_tensor *t, uint64_t first, size_t count, unsigned char *buf);

void st_writer_init(st_writer *w);
void st_writer_free(st_writer *w);
/* Adds a tensor; data must stay valid until st_writer_save. Duplicate names are refused. */
int st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                  const void *data, lsd_err *err);
/* Adds a real array, stored as F32 in the float build and F64 in the double build. */
int st_writer_add_real(st_writer *w, const char *name, int ndim, const int64_t *shape,
                       const real *data, lsd_err *err);
int st_writer_meta(st_writer *w, const char *key, const char *value, lsd_err *err);
/* Writes the file. Crash-safe: writes path.tmp in the same directory, flushes and fsyncs it,
 * renames it over path and fsyncs the directory, so path is always either the old or the
 * new complete file. */
int st_writer_save(st_writer *w, const char *path, lsd_err *err);

#endif
