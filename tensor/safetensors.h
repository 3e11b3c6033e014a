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

/* Every dtype of the format (as the Python safetensors package 0.8 spells them). The first
 * seven keep their values. */
typedef enum {
    ST_F32, ST_F64, ST_I64, ST_I32, ST_U8, ST_F16, ST_BF16,
    ST_BOOL, ST_I8, ST_U16, ST_I16, ST_U32, ST_U64,
    ST_F8_E4M3,     /* torch.float8_e4m3fn: bias 7, no infinities, S.1111.111 is NaN */
    ST_F8_E5M2,     /* torch.float8_e5m2: IEEE-like, bias 15, infinities and NaNs */
    ST_F8_E4M3FNUZ, /* bias 8, no infinities, no -0: 0x80 is the only NaN */
    ST_F8_E5M2FNUZ, /* bias 16, no infinities, no -0: 0x80 is the only NaN */
    ST_F8_E8M0,     /* exponent only: 2^(e-127), 0xFF is NaN (MX scales) */
    ST_F4,          /* E2M1, two to a byte (packed: raw bytes only) */
    ST_F6_E2M3, ST_F6_E3M2, /* 6-bit floats, four in three bytes (packed: raw bytes only) */
    ST_C64          /* complex64: two F32 (raw bytes only) */
} st_dtype;
#define ST_NDTYPES 22

/* What the typed readers can make of a dtype (st_dtype_class). */
enum {
    ST_CLASS_RAW = 0,   /* BOOL, C64, F4, F6_*: not numbers to lsdseg; st_read_raw only */
    ST_CLASS_FLOAT = 1, /* F64 F32 F16 BF16 F8_*: st_read_real, st_read_f64 */
    ST_CLASS_INT = 2    /* I8..I64, U8..U64: st_read_i64, st_read_real, st_read_f64 */
};

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

/* Bytes per element of a dtype (0 for the packed F4 and F6_* and for an unknown value); its
 * width in bits (4 for F4, 6 for F6_*, 8 for BOOL, 64 for C64); its name ("F32", ...); its
 * class (ST_CLASS_*). */
size_t st_dtype_size(st_dtype dt);
unsigned st_dtype_bits(st_dtype dt);
const char *st_dtype_name(st_dtype dt);
int st_dtype_class(st_dtype dt);

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

/* Reads tensor name into dst as real. Floating dtypes convert exactly (F16, BF16 and the F8
 * kinds are all exactly float; F64 into float rounds to nearest); integer dtypes convert when
 * every value is exactly representable in real (at most 24 significant bits in float, 53 in
 * double: 2^31 is, 2^24 + 1 is not in float), else LSD_ERR_RANGE names the tensor and the
 * first element that is not. BOOL, C64, F4 and F6_* are refused (LSD_ERR_ARG). If ndim >= 0
 * the tensor must have exactly that shape; if ndim < 0 only its element count must be n.
 * Errors name the file, the tensor and the mismatch; on error dst may be partly written. */
int st_read_real(st_file *sf, const char *name, real *dst, size_t n, int ndim,
                 const int64_t *shape, lsd_err *err);
/* The same for double destinations (integers exact within 53 bits). */
int st_read_f64(st_file *sf, const char *name, double *dst, size_t n, int ndim,
                const int64_t *shape, lsd_err *err);
/* Reads an integer tensor (I8, I16, I32, I64, U8, U16, U32, U64) into int64 values; a U64
 * value above INT64_MAX is refused (LSD_ERR_RANGE, naming the tensor and the element).
 * Floating and raw-only dtypes are refused. Same shape rules. */
int st_read_i64(st_file *sf, const char *name, int64_t *dst, size_t n, int ndim,
                const int64_t *shape, lsd_err *err);
/* Reads the raw little-endian bytes of a tensor (exactly end-begin bytes into dst). */
int st_read_raw(st_file *sf, const char *name, void *dst, size_t nbytes, lsd_err *err);

/* ---- writer: collect tensors (pointers are kept, not copied) and metadata, then write. */
typedef struct {
    const char *name;
    st_dtype dtype;              /* any but F4, F6_* and C64 */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;            /* host-order values of the dtype's C type: float, double,
                                  * int64_t, uint64_t, int32_t, uint32_t, int16_t, uint16_t,
                                  * int8_t, uint8_t; BOOL: uint8_t (nonzero is written as 1);
                                  * F16, BF16: uint16_t bits; F8_*: uint8_t bits */
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
/* Adds a tensor; data must stay valid until st_writer_save. Duplicate names and the dtypes
 * the writer does not store (F4, F6_*, C64) are refused. */
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
