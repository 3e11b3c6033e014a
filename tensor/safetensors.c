/*
 * safetensors.c - reader and writer of the safetensors format (see safetensors.h).
 *
 * Every integer and float is decoded and encoded byte by byte in little-endian
 * order, so the code is the same on big-endian hosts. The header is validated
 * completely (JSON syntax, then the schema, then the layout of the data
 * section) before any entry is used.
 */
#include "safetensors.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define ST_JSON_DEPTH 64       /* nesting allowed by the syntax check (the schema needs 3) */
#define ST_CHUNK 4096          /* bytes converted per step when reading or writing data */

/* Names, widths in bits and classes, in st_dtype order. */
static const char *const dtype_names[ST_NDTYPES] = {
    "F32", "F64", "I64", "I32", "U8", "F16", "BF16", "BOOL", "I8", "U16", "I16", "U32", "U64",
    "F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2",
    "C64"};
static const unsigned char dtype_bits[ST_NDTYPES] = {32, 64, 64, 32, 8,  16, 16, 8, 8, 16, 16,
                                                     32, 64, 8,  8,  8,  8,  8,  4, 6, 6,  64};
static const unsigned char dtype_class[ST_NDTYPES] = {
    ST_CLASS_FLOAT, ST_CLASS_FLOAT, ST_CLASS_INT,   ST_CLASS_INT,   ST_CLASS_INT,
    ST_CLASS_FLOAT, ST_CLASS_FLOAT, ST_CLASS_RAW,   ST_CLASS_INT,   ST_CLASS_INT,
    ST_CLASS_INT,   ST_CLASS_INT,   ST_CLASS_INT,   ST_CLASS_FLOAT, ST_CLASS_FLOAT,
    ST_CLASS_FLOAT, ST_CLASS_FLOAT, ST_CLASS_FLOAT, ST_CLASS_RAW,   ST_CLASS_RAW,
    ST_CLASS_RAW,   ST_CLASS_RAW};

size_t st_dtype_size(st_dtype dt)
{
    return (unsigned)dt < ST_NDTYPES && dtype_bits[dt] % 8 == 0 ? dtype_bits[dt] / 8u : 0;
}

unsigned st_dtype_bits(st_dtype dt)
{
    return (unsigned)dt < ST_NDTYPES ? dtype_bits[dt] : 0;
}

const char *st_dtype_name(st_dtype dt)
{
    return (unsigned)dt < ST_NDTYPES ? dtype_names[dt] : "?";
}

int st_dtype_class(st_dtype dt)
{
    return (unsigned)dt < ST_NDTYPES ? dtype_class[dt] : ST_CLASS_RAW;
}

/* 1 for the signed integer dtypes. */
static int dtype_signed(st_dtype dt)
{
    return dt == ST_I8 || dt == ST_I16 || dt == ST_I32 || dt == ST_I64;
}

void st_printable(const char *s, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0) return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (o + 1 >= cap) break;
            buf[o++] = (char)c;
        } else {
            if (o + 4 >= cap) break;
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    if (*s && cap >= 4) { /* truncated: mark it */
        if (o > cap - 4) o = cap - 4;
        buf[o++] = '.';
        buf[o++] = '.';
        buf[o++] = '.';
    }
    buf[o] = '\0';
}

/* ---------------------------------------------------------------- byte order */

/* Little-endian unsigned integer of k bytes (k <= 8) at p. */
static uint64_t get_le(const unsigned char *p, int k)
{
    uint64_t v = 0;
    int i;
    for (i = k - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Stores the k low bytes of v at p, least significant first. */
static void put_le(unsigned char *p, uint64_t v, int k)
{
    int i;
    for (i = 0; i < k; i++) {
        p[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
}

/* The float whose IEEE-754 binary32 bits are u. */
static float float_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The double whose IEEE-754 binary64 bits are u. */
static double double_from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* (-1)^neg * sig * 2^exp2 as a double, built from its bit pattern (no libm): exact for
 * sig < 2^53 whenever the result is a normal double (true of every small float here). */
static double scaled(int neg, uint64_t sig, int exp2)
{
    uint64_t bits = neg ? (uint64_t)1 << 63 : 0;
    if (sig == 0) return double_from_bits(bits); /* +-0 */
    while (!(sig >> 52)) { /* normalise: the leading 1 to bit 52 */
        sig <<= 1;
        exp2--;
    }
    bits |= (uint64_t)(exp2 + 52 + 1023) << 52 | (sig & (((uint64_t)1 << 52) - 1));
    return double_from_bits(bits);
}

/* A quiet NaN (neg: with the sign bit) or an infinity. */
static double special(int neg, int nan)
{
    return double_from_bits((neg ? (uint64_t)1 << 63 : 0) |
                            (nan ? 0x7FF8000000000000ULL : 0x7FF0000000000000ULL));
}

/* The exact value of the finite small binary float with exponent field e, significand field
 * m (mbits bits) and the given bias: (1 + m / 2^mbits) * 2^(e - bias) if e > 0, else the
 * subnormal m / 2^mbits * 2^(1 - bias). */
static double small_float(int neg, unsigned e, unsigned m, int mbits, int bias)
{
    uint64_t sig = e ? ((uint64_t)1 << mbits) | m : m;
    return scaled(neg, sig, (e ? (int)e : 1) - bias - mbits);
}

/* Decodes the little-endian element of floating dtype dt at p as a double, exactly. */
static double decode_float(const unsigned char *p, st_dtype dt)
{
    unsigned u = p[0];
    int neg = (u >> 7) & 1;
    switch (dt) {
    case ST_F32: return (double)float_from_bits((uint32_t)get_le(p, 4));
    case ST_F64: return double_from_bits(get_le(p, 8));
    case ST_BF16: return (double)float_from_bits((uint32_t)get_le(p, 2) << 16);
    case ST_F16: {
        unsigned h = (unsigned)get_le(p, 2), e = (h >> 10) & 0x1F, m = h & 0x3FF;
        neg = (int)(h >> 15);
        if (e == 31) return special(neg, m != 0);
        return small_float(neg, e, m, 10, 15);
    }
    case ST_F8_E5M2: /* S EEEEE MM, bias 15: e = 31 holds inf (m = 0) and NaN */
        if (((u >> 2) & 0x1F) == 31) return special(neg, (u & 3) != 0);
        return small_float(neg, (u >> 2) & 0x1F, u & 3, 2, 15);
    case ST_F8_E4M3: /* S EEEE MMM, bias 7: only S.1111.111 is NaN, no inf */
        if ((u & 0x7F) == 0x7F) return special(neg, 1);
        return small_float(neg, (u >> 3) & 0xF, u & 7, 3, 7);
    case ST_F8_E4M3FNUZ: /* bias 8; 0x80 (the would-be -0) is the NaN */
        if (u == 0x80) return special(0, 1);
        return small_float(neg, (u >> 3) & 0xF, u & 7, 3, 8);
    case ST_F8_E5M2FNUZ: /* bias 16; 0x80 is the NaN */
        if (u == 0x80) return special(0, 1);
        return small_float(neg, (u >> 2) & 0x1F, u & 3, 2, 16);
    case ST_F8_E8M0: /* unsigned, 2^(u - 127); 0xFF is the NaN */
        if (u == 0xFF) return special(0, 1);
        return scaled(0, 1, (int)u - 127);
    default: return 0.0;
    }
}

/* Decodes the little-endian element of integer dtype dt at p as a sign and a magnitude
 * (I64's -2^63 has magnitude 2^63). */
static void decode_int(const unsigned char *p, st_dtype dt, int *neg, uint64_t *mag)
{
    int bits = (int)dtype_bits[dt];
    uint64_t u = get_le(p, bits / 8), sign = (uint64_t)1 << (bits - 1);
    *neg = dtype_signed(dt) && (u & sign);
    /* two's complement: the magnitude is 2^bits - u, computed modulo 2^64 and masked */
    *mag = *neg ? (~u + 1) & (sign | (sign - 1)) : u;
}

/* 1 if the integer of magnitude mag is exactly representable with a significand of p bits. */
static int int_fits(uint64_t mag, int p)
{
    while (mag && !(mag & 1)) mag >>= 1; /* trailing zeros go into the exponent */
    return p >= 64 || mag < ((uint64_t)1 << p);
}

/* ---------------------------------------------------------------- header parsing */

/* Releases the entries and metadata of sf (leaves path and file alone). */
static void free_header(st_file *sf)
{
    int i;
    for (i = 0; i < sf->n; i++) free(sf->entries[i].name);
    free(sf->entries);
    for (i = 0; i < sf->nmeta; i++) {
        free(sf->meta_keys[i]);
        free(sf->meta_vals[i]);
    }
    free(sf->meta_keys);
    free(sf->meta_vals);
    sf->entries = NULL;
    sf->meta_keys = sf->meta_vals = NULL;
    sf->n = sf->nmeta = 0;
}

/* The dtype called name, or -1 if unknown. */
static int dtype_from_name(const char *name)
{
    int i;
    for (i = 0; i < ST_NDTYPES; i++)
        if (!strcmp(name, dtype_names[i])) return i;
    return -1;
}

/* Fails for a string (key, name or value) that holds an escaped NUL, which C strings cannot. */
static int check_no_nul(const char *s, size_t n, const char *what, lsd_err *err)
{
    char q[128];
    if (strlen(s) == n) return LSD_OK;
    st_printable(s, q, sizeof q);
    return lsd_fail(err, LSD_ERR_FORMAT, "%s '%s' contains a NUL character (\\u0000)", what, q);
}

/* Parses the metadata object {"key": "value", ...}; every value must be a string. */
static int parse_metadata(st_file *sf, json_reader *r, lsd_err *err)
{
    size_t count = 0, n;
    int more, rc, cap = 0;
    char q[128];
    if (json_peek(r) != JSON_OBJECT)
        return lsd_fail(err, LSD_ERR_FORMAT, "__metadata__ is a %s, not an object",
                        json_type_name(json_peek(r)));
    rc = json_enter(r, '{', err);
    while (!rc) {
        char *key = NULL, *val = NULL;
        rc = json_next(r, '}', &count, &more, err);
        if (rc || !more) break;
        rc = json_read_key(r, &key, &n, err);
        if (rc) break;
        rc = check_no_nul(key, n, "metadata key", err);
        if (!rc && json_peek(r) != JSON_STRING) {
            st_printable(key, q, sizeof q);
            rc = lsd_fail(err, LSD_ERR_FORMAT, "metadata value of '%s' is a %s, not a string", q,
                          json_type_name(json_peek(r)));
        }
        if (!rc) rc = json_read_string(r, &val, &n, err);
        if (!rc) rc = check_no_nul(val, n, "metadata value", err);
        if (!rc && sf->nmeta == cap) {
            int ncap = cap ? 2 * cap : 8;
            char **k2 = NULL, **v2 = NULL;
            if (ncap > 0 && (size_t)ncap < ((size_t)-1) / sizeof(char *)) {
                k2 = (char **)realloc(sf->meta_keys, (size_t)ncap * sizeof(char *));
                if (k2) sf->meta_keys = k2;
                v2 = (char **)realloc(sf->meta_vals, (size_t)ncap * sizeof(char *));
                if (v2) sf->meta_vals = v2;
            }
            if (!k2 || !v2) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory for metadata");
            else cap = ncap;
        }
        if (rc) {
            free(key);
            free(val);
            break;
        }
        sf->meta_keys[sf->nmeta] = key;
        sf->meta_vals[sf->nmeta] = val;
        sf->nmeta++;
    }
    return rc;
}

/* Parses the array of integers of "shape" into e (at most ST_MAX_DIMS, each <= INT64_MAX). */
static int parse_shape(st_entry *e, json_reader *r, const char *q, lsd_err *err)
{
    size_t count = 0;
    int more, rc;
    if (json_peek(r) != JSON_ARRAY)
        return lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s': shape is a %s, not an array", q,
                        json_type_name(json_peek(r)));
    rc = json_enter(r, '[', err);
    while (!rc) {
        uint64_t d;
        rc = json_next(r, ']', &count, &more, err);
        if (rc || !more) break;
        if (e->ndim == ST_MAX_DIMS)
            return lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s': shape has more than %d dimensions",
                            q, ST_MAX_DIMS);
        rc = json_read_uint(r, (uint64_t)INT64_MAX, &d, err);
        if (rc) {
            lsd_err_prefix(err, "tensor '%s': bad dimension in shape", q);
            break;
        }
        e->shape[e->ndim++] = (int64_t)d;
    }
    return rc;
}

/* Parses "data_offsets": exactly two integers [begin, end]. */
static int parse_offsets(st_entry *e, json_reader *r, const char *q, lsd_err *err)
{
    size_t count = 0;
    int more, rc;
    uint64_t v[2] = {0, 0};
    if (json_peek(r) != JSON_ARRAY)
        return lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s': data_offsets is a %s, not an array",
                        q, json_type_name(json_peek(r)));
    rc = json_enter(r, '[', err);
    while (!rc) {
        rc = json_next(r, ']', &count, &more, err);
        if (rc || !more) break;
        if (count > 2) break;
        rc = json_read_uint(r, UINT64_MAX, &v[count - 1], err);
        if (rc) lsd_err_prefix(err, "tensor '%s': bad data_offsets", q);
    }
    if (!rc && count != 2)
        return lsd_fail(err, LSD_ERR_FORMAT,
                        "tensor '%s': data_offsets must have exactly 2 integers", q);
    e->begin = v[0];
    e->end = v[1];
    return rc;
}

/* Parses one tensor entry {"dtype": .., "shape": [..], "data_offsets": [b, e]}. Unknown keys
 * are rejected (stricter than the reference implementation, on purpose: a misspelt key must
 * not pass silently). Checks the byte size against dtype x shape. */
static int parse_entry(st_entry *e, json_reader *r, lsd_err *err)
{
    size_t count = 0, n;
    int more, rc, seen = 0; /* bits: 1 dtype, 2 shape, 4 data_offsets */
    char q[128], kq[128];
    uint64_t nelem = 1, bytes;
    int i;
    st_printable(e->name, q, sizeof q);
    if (json_peek(r) != JSON_OBJECT)
        return lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s' is a %s, not an object", q,
                        json_type_name(json_peek(r)));
    rc = json_enter(r, '{', err);
    while (!rc) {
        char *key = NULL, *val = NULL;
        int bit;
        rc = json_next(r, '}', &count, &more, err);
        if (rc || !more) break;
        rc = json_read_key(r, &key, &n, err);
        if (rc) break;
        st_printable(key, kq, sizeof kq);
        bit = !strcmp(key, "dtype") ? 1 : !strcmp(key, "shape") ? 2
              : !strcmp(key, "data_offsets") ? 4 : 0;
        if (bit == 0 || strlen(key) != n)
            rc = lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s': unknown key '%s'", q, kq);
        else if (seen & bit)
            rc = lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s': duplicate key '%s'", q, kq);
        free(key);
        if (rc) break;
        seen |= bit;
        if (bit == 1) {
            int dt;
            if (json_peek(r) != JSON_STRING)
                return lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s': dtype is a %s, not a string",
                                q, json_type_name(json_peek(r)));
            rc = json_read_string(r, &val, &n, err);
            if (rc) break;
            dt = strlen(val) == n ? dtype_from_name(val) : -1;
            if (dt < 0) {
                st_printable(val, kq, sizeof kq);
                rc = lsd_fail(err, LSD_ERR_FORMAT,
                              "tensor '%s': unknown dtype '%s' (the format's dtypes: BOOL U8 I8 "
                              "U16 I16 U32 I32 U64 I64 F16 BF16 F32 F64 F8_E4M3 F8_E5M2 "
                              "F8_E4M3FNUZ F8_E5M2FNUZ F8_E8M0 F4 F6_E2M3 F6_E3M2 C64)", q, kq);
            }
            free(val);
            e->dtype = (st_dtype)dt;
        } else if (bit == 2)
            rc = parse_shape(e, r, q, err);
        else
            rc = parse_offsets(e, r, q, err);
    }
    if (rc) return rc;
    if (seen != 7)
        return lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s' has no '%s'", q,
                        !(seen & 1) ? "dtype" : !(seen & 2) ? "shape" : "data_offsets");
    for (i = 0; i < e->ndim; i++) {
        uint64_t d = (uint64_t)e->shape[i];
        if (d != 0 && nelem > UINT64_MAX / d)
            return lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s': element count overflows", q);
        nelem *= d;
    }
    e->nelem = nelem;
    if (st_dtype_size(e->dtype) > 0) {
        if (nelem > UINT64_MAX / st_dtype_size(e->dtype))
            return lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s': byte size overflows", q);
        bytes = nelem * st_dtype_size(e->dtype);
    } else { /* packed F4 / F6: the elements must fill whole bytes (nelem * bits / 8) */
        unsigned bits = st_dtype_bits(e->dtype);
        if ((nelem % 8) * bits % 8 != 0)
            return lsd_fail(err, LSD_ERR_FORMAT,
                            "tensor '%s': %llu elements of %s (%u bits each) do not fill a "
                            "whole number of bytes", q, (unsigned long long)nelem,
                            st_dtype_name(e->dtype), bits);
        bytes = nelem / 8 * bits + (nelem % 8) * bits / 8;
    }
    if (e->begin > e->end)
        return lsd_fail(err, LSD_ERR_FORMAT, "tensor '%s': data_offsets begin %llu > end %llu", q,
                        (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end - e->begin != bytes)
        return lsd_fail(err, LSD_ERR_FORMAT,
                        "tensor '%s': byte length %llu does not match dtype %s x %llu elements "
                        "= %llu bytes", q, (unsigned long long)(e->end - e->begin),
                        st_dtype_name(e->dtype), (unsigned long long)nelem,
                        (unsigned long long)bytes);
    return LSD_OK;
}

/* qsort order of strings (through pointers to them). */
static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* qsort order of entries by data offsets, then by name (zero-size tensors share offsets). */
static int cmp_offsets(const void *a, const void *b)
{
    const st_entry *x = (const st_entry *)a, *y = (const st_entry *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Fails if two of the n strings are equal; what names them in the message. */
static int check_unique(char **s, int n, const char *what, lsd_err *err)
{
    char **tmp, q[128];
    int i, rc = LSD_OK;
    if (n < 2) return LSD_OK;
    tmp = (char **)malloc((size_t)n * sizeof *tmp);
    if (!tmp) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory checking %s names", what);
    memcpy(tmp, s, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_strp);
    for (i = 1; i < n; i++)
        if (!strcmp(tmp[i - 1], tmp[i])) {
            st_printable(tmp[i], q, sizeof q);
            rc = lsd_fail(err, LSD_ERR_FORMAT, "duplicate %s '%s'", what, q);
            break;
        }
    free(tmp);
    return rc;
}

/* Checks that the entries, sorted by offset, tile [0, data_len) exactly. */
static int check_layout(st_file *sf, uint64_t data_len, lsd_err *err)
{
    uint64_t pos = 0;
    int i;
    char q[128], q2[128];
    for (i = 0; i < sf->n; i++) {
        const st_entry *e = &sf->entries[i];
        st_printable(e->name, q, sizeof q);
        if (e->end > data_len)
            return lsd_fail(err, LSD_ERR_FORMAT,
                            "tensor '%s': data_offsets [%llu, %llu] out of bounds of the data "
                            "section (%llu bytes)", q, (unsigned long long)e->begin,
                            (unsigned long long)e->end, (unsigned long long)data_len);
    }
    if (sf->n > 1) qsort(sf->entries, (size_t)sf->n, sizeof *sf->entries, cmp_offsets);
    for (i = 0; i < sf->n; i++) {
        const st_entry *e = &sf->entries[i];
        if (e->begin > pos) {
            st_printable(e->name, q, sizeof q);
            return lsd_fail(err, LSD_ERR_FORMAT, "gap of %llu bytes in the data before tensor '%s'",
                            (unsigned long long)(e->begin - pos), q);
        }
        if (e->begin < pos) {
            const st_entry *p = &sf->entries[i - 1];
            st_printable(e->name, q, sizeof q);
            st_printable(p->name, q2, sizeof q2);
            if (p->begin == e->begin && p->end == e->end)
                return lsd_fail(err, LSD_ERR_FORMAT, "tensors '%s' and '%s' are aliased (same data)",
                                q2, q);
            return lsd_fail(err, LSD_ERR_FORMAT, "tensors '%s' and '%s' overlap", q2, q);
        }
        pos = e->end;
    }
    if (pos != data_len)
        return lsd_fail(err, LSD_ERR_FORMAT,
                        "data does not end at the end of the file (%llu bytes used of %llu)",
                        (unsigned long long)pos, (unsigned long long)data_len);
    return LSD_OK;
}

/* Parses the top-level object into sf's entries and metadata (schema pass). */
static int parse_top(st_file *sf, json_reader *r, lsd_err *err)
{
    size_t count = 0, n;
    int more, rc, cap = 0, seen_meta = 0;
    rc = json_enter(r, '{', err);
    while (!rc) {
        char *key = NULL;
        rc = json_next(r, '}', &count, &more, err);
        if (rc || !more) break;
        rc = json_read_key(r, &key, &n, err);
        if (rc) break;
        if (!strcmp(key, "__metadata__") && strlen(key) == n) {
            free(key);
            if (seen_meta) return lsd_fail(err, LSD_ERR_FORMAT, "duplicate key '__metadata__'");
            seen_meta = 1;
            rc = parse_metadata(sf, r, err);
            continue;
        }
        rc = check_no_nul(key, n, "tensor name", err);
        if (!rc && sf->n == cap) {
            int ncap = cap ? 2 * cap : 16;
            st_entry *e2 = NULL;
            if (ncap > 0 && (size_t)ncap < ((size_t)-1) / sizeof(st_entry))
                e2 = (st_entry *)realloc(sf->entries, (size_t)ncap * sizeof(st_entry));
            if (!e2) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory for tensor entries");
            else {
                sf->entries = e2;
                cap = ncap;
            }
        }
        if (rc) {
            free(key);
            break;
        }
        memset(&sf->entries[sf->n], 0, sizeof(st_entry));
        sf->entries[sf->n].name = key;
        sf->n++;
        rc = parse_entry(&sf->entries[sf->n - 1], r, err);
    }
    return rc;
}

int st_parse_header(st_file *sf, const char *json, size_t json_len, uint64_t data_len,
                    lsd_err *err)
{
    json_reader r;
    int rc;
    char **names;
    int i;
    sf->n = sf->nmeta = 0;
    sf->entries = NULL;
    sf->meta_keys = sf->meta_vals = NULL;
    if (json_len == 0 || json[0] != '{')
        return lsd_fail(err, LSD_ERR_FORMAT, "header does not begin with '{'");
    /* 1: syntax, UTF-8 and depth of the whole text */
    rc = json_validate(json, json_len, ST_JSON_DEPTH, err);
    if (rc) {
        lsd_err_prefix(err, "header is not valid JSON");
        return rc;
    }
    /* 2: the schema */
    json_init(&r, json, json_len, ST_JSON_DEPTH);
    rc = parse_top(sf, &r, err);
    /* 3: unique names at every level, then the layout of the data */
    if (!rc) rc = check_unique(sf->meta_keys, sf->nmeta, "metadata key", err);
    if (!rc && sf->n > 1) {
        names = (char **)malloc((size_t)sf->n * sizeof *names);
        if (!names) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory checking tensor names");
        else {
            for (i = 0; i < sf->n; i++) names[i] = sf->entries[i].name;
            rc = check_unique(names, sf->n, "tensor name", err);
            free(names);
        }
    }
    if (!rc) rc = check_layout(sf, data_len, err);
    if (rc) free_header(sf);
    return rc;
}

/* ---------------------------------------------------------------- opening */

/* Reads the 8-byte length and the header from f (size bytes long) and validates them. */
static int open_stream(st_file *sf, uint64_t size, lsd_err *err)
{
    unsigned char len8[8];
    uint64_t hlen;
    char *json;
    int rc;
    sf->file_size = size;
    if (size < 8)
        return lsd_fail(err, LSD_ERR_FORMAT, "file is shorter than 8 bytes (%llu bytes)",
                        (unsigned long long)size);
    if (fread(len8, 1, 8, sf->f) != 8)
        return lsd_fail(err, LSD_ERR_IO, "cannot read the header length: %s", strerror(errno));
    hlen = get_le(len8, 8);
    if (hlen > ST_MAX_HEADER)
        return lsd_fail(err, LSD_ERR_FORMAT, "header length %llu is above the limit of %llu bytes",
                        (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
    if (hlen > size - 8)
        return lsd_fail(err, LSD_ERR_FORMAT, "header length %llu goes beyond the file (%llu bytes)",
                        (unsigned long long)hlen, (unsigned long long)size);
    json = (char *)malloc((size_t)hlen + 1);
    if (!json)
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a header of %llu bytes",
                        (unsigned long long)hlen);
    if (fread(json, 1, (size_t)hlen, sf->f) != (size_t)hlen) {
        free(json);
        return lsd_fail(err, LSD_ERR_IO, "cannot read the header (file changed or unreadable)");
    }
    json[hlen] = '\0';
    sf->data_start = 8 + hlen;
    rc = st_parse_header(sf, json, (size_t)hlen, size - sf->data_start, err);
    free(json);
    return rc;
}

/* Copies path into sf->path. */
static int set_path(st_file *sf, const char *path, lsd_err *err)
{
    size_t n = strlen(path);
    sf->path = (char *)malloc(n + 1);
    if (!sf->path) return lsd_fail(err, LSD_ERR_NOMEM, "%s: out of memory", path);
    memcpy(sf->path, path, n + 1);
    return LSD_OK;
}

int st_open(st_file *sf, const char *path, lsd_err *err)
{
    struct stat st;
    int rc;
    memset(sf, 0, sizeof *sf);
    rc = set_path(sf, path, err);
    if (rc) return rc;
    sf->f = fopen(path, "rb");
    if (!sf->f) {
        rc = lsd_fail(err, LSD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        st_close(sf);
        return rc;
    }
    if (fstat(fileno(sf->f), &st) != 0)
        rc = lsd_fail(err, LSD_ERR_IO, "cannot stat: %s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = lsd_fail(err, LSD_ERR_IO, "not a regular file");
    else
        rc = open_stream(sf, (uint64_t)st.st_size, err);
    if (rc) {
        lsd_err_prefix(err, "%s", path);
        st_close(sf);
    }
    return rc;
}

int st_open_mem(st_file *sf, const void *buf, size_t len, const char *name, lsd_err *err)
{
    int rc;
    memset(sf, 0, sizeof *sf);
    rc = set_path(sf, name, err);
    if (rc) return rc;
    if (len < 8) rc = lsd_fail(err, LSD_ERR_FORMAT, "file is shorter than 8 bytes (%lu bytes)",
                               (unsigned long)len);
    else {
        sf->f = fmemopen((void *)buf, len, "rb");
        if (!sf->f) rc = lsd_fail(err, LSD_ERR_IO, "cannot open memory stream: %s", strerror(errno));
        else rc = open_stream(sf, (uint64_t)len, err);
    }
    if (rc) {
        lsd_err_prefix(err, "%s", name);
        st_close(sf);
    }
    return rc;
}

void st_close(st_file *sf)
{
    if (!sf) return;
    free_header(sf);
    if (sf->f) fclose(sf->f);
    free(sf->path);
    memset(sf, 0, sizeof *sf);
}

const st_entry *st_find(const st_file *sf, const char *name)
{
    int i;
    for (i = 0; i < sf->n; i++)
        if (!strcmp(sf->entries[i].name, name)) return &sf->entries[i];
    return NULL;
}

const char *st_meta(const st_file *sf, const char *key)
{
    int i;
    for (i = 0; i < sf->nmeta; i++)
        if (!strcmp(sf->meta_keys[i], key)) return sf->meta_vals[i];
    return NULL;
}

/* ---------------------------------------------------------------- reading tensors */

/* Writes "(2, 3, 4)" for a shape into buf. */
static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t o = 0;
    int i;
    o += (size_t)snprintf(buf, cap, "(");
    for (i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, ")");
}

/* Fails for a tensor that the typed readers do not take as numbers, saying what to do. */
static int refuse_raw(const st_file *sf, const st_entry *e, const char *q, lsd_err *err)
{
    const char *why =
        e->dtype == ST_BOOL ? "it holds truth values; save it as U8 (0/1), e.g. t.to(torch.uint8)"
        : e->dtype == ST_C64 ? "it holds complex numbers; save real and imaginary parts as F32 "
                               "(torch.view_as_real)"
                             : "it is a packed sub-byte float whose order within a byte the "
                               "format does not fix; save it as F16, BF16 or F32";
    return lsd_fail(err, LSD_ERR_ARG, "%s: %s tensor '%s' cannot be read as numbers: %s",
                    sf->path, st_dtype_name(e->dtype), q, why);
}

/* Finds name and checks its dtype class and shape; errors name the file and the tensor.
 * kind: 0 any, 1 numbers (floating or integer), 2 integer. */
static int lookup(const st_file *sf, const char *name, int kind, size_t n, int ndim,
                  const int64_t *shape, const st_entry **out, lsd_err *err)
{
    const st_entry *e = st_find(sf, name);
    char q[128], a[256], b[256];
    int i, same;
    st_printable(name, q, sizeof q);
    *out = NULL;
    if (!e) return lsd_fail(err, LSD_ERR_NOTFOUND, "%s: no tensor '%s'", sf->path, q);
    if (kind != 0 && st_dtype_class(e->dtype) == ST_CLASS_RAW) return refuse_raw(sf, e, q, err);
    if (kind == 2 && st_dtype_class(e->dtype) != ST_CLASS_INT)
        return lsd_fail(err, LSD_ERR_ARG, "%s: tensor '%s' is %s, not an integer dtype", sf->path,
                        q, st_dtype_name(e->dtype));
    if (ndim >= 0) {
        same = ndim == e->ndim;
        for (i = 0; same && i < ndim; i++) same = shape[i] == e->shape[i];
        if (!same) {
            shape_str(a, sizeof a, e->ndim, e->shape);
            shape_str(b, sizeof b, ndim < ST_MAX_DIMS ? ndim : ST_MAX_DIMS, shape);
            return lsd_fail(err, LSD_ERR_ARG, "%s: tensor '%s' has shape %s, expected %s",
                            sf->path, q, a, b);
        }
    }
    if ((uint64_t)n != e->nelem)
        return lsd_fail(err, LSD_ERR_ARG, "%s: tensor '%s' has %llu elements, expected %lu",
                        sf->path, q, (unsigned long long)e->nelem, (unsigned long)n);
    *out = e;
    return LSD_OK;
}

int st_expect(const st_file *sf, const char *name, st_dtype dtype, int ndim,
              const int64_t *shape, const st_entry **out, lsd_err *err)
{
    const st_entry *e = st_find(sf, name);
    char q[128];
    int rc;
    if (out) *out = NULL;
    if (e && e->dtype != dtype) {
        st_printable(name, q, sizeof q);
        return lsd_fail(err, LSD_ERR_ARG, "%s: tensor '%s' is %s, expected %s", sf->path, q,
                        st_dtype_name(e->dtype), st_dtype_name(dtype));
    }
    rc = lookup(sf, name, 0, e ? (size_t)e->nelem : 0, ndim, shape, &e, err);
    if (!rc && out) *out = e;
    return rc;
}

/* Positions the stream at byte offset off of the data section of sf. */
static int seek_data(st_file *sf, const st_entry *e, lsd_err *err)
{
    if (fseeko(sf->f, (off_t)(sf->data_start + e->begin), SEEK_SET) != 0)
        return lsd_fail(err, LSD_ERR_IO, "%s: cannot seek to tensor data: %s", sf->path,
                        strerror(errno));
    return LSD_OK;
}

/* Reads up to ST_CHUNK bytes (whole elements) of e's data into buf; *got elements. */
static int read_chunk(st_file *sf, const st_entry *e, unsigned char *buf, uint64_t left,
                      size_t *got, lsd_err *err)
{
    size_t es = st_dtype_size(e->dtype), k = ST_CHUNK / es;
    char q[128];
    if ((uint64_t)k > left) k = (size_t)left;
    if (fread(buf, es, k, sf->f) != k) {
        st_printable(e->name, q, sizeof q);
        return lsd_fail(err, LSD_ERR_IO, "%s: tensor '%s': file ended early or is unreadable",
                        sf->path, q);
    }
    *got = k;
    return LSD_OK;
}

/* Element types the typed readers convert to. */
enum { OUT_REAL, OUT_F64, OUT_I64 };

/* Fails for element idx of integer tensor e (sign neg, magnitude mag) that the destination
 * cannot hold: above INT64_MAX for int64, or not exact in a significand of p bits. */
static int refuse_value(const st_file *sf, const st_entry *e, uint64_t idx, int neg, uint64_t mag,
                        int out_type, int p, lsd_err *err)
{
    char q[128];
    st_printable(e->name, q, sizeof q);
    if (out_type == OUT_I64)
        return lsd_fail(err, LSD_ERR_RANGE,
                        "%s: tensor '%s': element %llu (%s %llu) is above INT64_MAX and cannot "
                        "be read as int64", sf->path, q, (unsigned long long)idx,
                        st_dtype_name(e->dtype), (unsigned long long)mag);
    return lsd_fail(err, LSD_ERR_RANGE,
                    "%s: tensor '%s': element %llu (%s %s%llu) is not exactly representable as "
                    "%s (%d significant bits); integers are not rounded: store the tensor as "
                    "F32 or F64 if rounding is acceptable", sf->path, q, (unsigned long long)idx,
                    st_dtype_name(e->dtype), neg ? "-" : "", (unsigned long long)mag,
                    p == DBL_MANT_DIG ? "double" : "float", p);
}

/* Shared body of st_read_real, st_read_f64 and st_read_i64: reads tensor `name` chunk by
 * chunk and converts each element into dst, whose element type is given by out_type.
 * Integers into real or double are converted only when exact (see int_fits). */
static int read_elems(st_file *sf, const char *name, void *dst, int out_type, size_t n,
                      int ndim, const int64_t *shape, lsd_err *err)
{
    const st_entry *e;
    unsigned char buf[ST_CHUNK];
    uint64_t done = 0;
    size_t es, i, got = 0;
    int isint, p = out_type == OUT_F64 || sizeof(real) == sizeof(double) ? DBL_MANT_DIG
                                                                          : FLT_MANT_DIG;
    int rc = lookup(sf, name, out_type == OUT_I64 ? 2 : 1, n, ndim, shape, &e, err);
    if (rc) return rc;
    isint = st_dtype_class(e->dtype) == ST_CLASS_INT;
    rc = seek_data(sf, e, err);
    es = st_dtype_size(e->dtype);
    while (!rc && done < e->nelem) {
        rc = read_chunk(sf, e, buf, e->nelem - done, &got, err);
        for (i = 0; !rc && i < got; i++) {
            const unsigned char *b = buf + i * es;
            double v;
            if (isint) {
                int neg;
                uint64_t mag;
                decode_int(b, e->dtype, &neg, &mag);
                if (out_type == OUT_I64) {
                    if (!neg && mag > (uint64_t)INT64_MAX)
                        rc = refuse_value(sf, e, done + i, neg, mag, out_type, p, err);
                    else /* -(mag - 1) - 1 reaches INT64_MIN without overflow */
                        ((int64_t *)dst)[done + i] = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
                    continue;
                }
                if (!int_fits(mag, p)) {
                    rc = refuse_value(sf, e, done + i, neg, mag, out_type, p, err);
                    continue;
                }
                v = neg ? -(double)mag : (double)mag; /* exact: mag fits in p <= 53 bits */
            } else
                v = decode_float(b, e->dtype);
            if (out_type == OUT_F64) ((double *)dst)[done + i] = v;
            else ((real *)dst)[done + i] = (real)v;
        }
        done += got;
    }
    return rc;
}

int st_read_real(st_file *sf, const char *name, real *dst, size_t n, int ndim,
                 const int64_t *shape, lsd_err *err)
{
    return read_elems(sf, name, dst, OUT_REAL, n, ndim, shape, err);
}

int st_read_f64(st_file *sf, const char *name, double *dst, size_t n, int ndim,
                const int64_t *shape, lsd_err *err)
{
    return read_elems(sf, name, dst, OUT_F64, n, ndim, shape, err);
}

int st_read_i64(st_file *sf, const char *name, int64_t *dst, size_t n, int ndim,
                const int64_t *shape, lsd_err *err)
{
    return read_elems(sf, name, dst, OUT_I64, n, ndim, shape, err);
}

int st_read_raw(st_file *sf, const char *name, void *dst, size_t nbytes, lsd_err *err)
{
    const st_entry *e = st_find(sf, name);
    char q[128];
    int rc;
    st_printable(name, q, sizeof q);
    if (!e) return lsd_fail(err, LSD_ERR_NOTFOUND, "%s: no tensor '%s'", sf->path, q);
    if ((uint64_t)nbytes != e->end - e->begin)
        return lsd_fail(err, LSD_ERR_ARG, "%s: tensor '%s' has %llu bytes, expected %lu", sf->path,
                        q, (unsigned long long)(e->end - e->begin), (unsigned long)nbytes);
    rc = seek_data(sf, e, err);
    if (rc) return rc;
    if (nbytes && fread(dst, 1, nbytes, sf->f) != nbytes)
        return lsd_fail(err, LSD_ERR_IO, "%s: tensor '%s': file ended early or is unreadable",
                        sf->path, q);
    return LSD_OK;
}

/* ---------------------------------------------------------------- writer */

void st_writer_init(st_writer *w)
{
    memset(w, 0, sizeof *w);
}

void st_writer_free(st_writer *w)
{
    int i;
    for (i = 0; i < w->n; i++) free((char *)w->t[i].name); /* names are our copies */
    free(w->t);
    for (i = 0; i < w->nmeta; i++) {
        free(w->meta_keys[i]);
        free(w->meta_vals[i]);
    }
    free(w->meta_keys);
    free(w->meta_vals);
    memset(w, 0, sizeof *w);
}

/* A malloc'ed copy of s, or NULL. */
static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *p = (char *)malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

/* Element count and byte size of a shape, overflow-checked; fails on a negative dimension. */
static int shape_bytes(int ndim, const int64_t *shape, size_t esize, uint64_t *nelem,
                       uint64_t *bytes, const char *q, lsd_err *err)
{
    uint64_t ne = 1;
    int i;
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return lsd_fail(err, LSD_ERR_ARG, "tensor '%s': %d dimensions (0..%d allowed)", q, ndim,
                        ST_MAX_DIMS);
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return lsd_fail(err, LSD_ERR_ARG, "tensor '%s': negative dimension %lld", q,
                            (long long)shape[i]);
        if (shape[i] != 0 && ne > UINT64_MAX / (uint64_t)shape[i])
            return lsd_fail(err, LSD_ERR_ARG, "tensor '%s': element count overflows", q);
        ne *= (uint64_t)shape[i];
    }
    if (ne > UINT64_MAX / esize)
        return lsd_fail(err, LSD_ERR_ARG, "tensor '%s': byte size overflows", q);
    *nelem = ne;
    *bytes = ne * esize;
    return LSD_OK;
}

int st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                  const void *data, lsd_err *err)
{
    char q[128];
    uint64_t ne = 0, bytes = 0;
    int i, rc;
    st_out_tensor *t;
    if (!name) return lsd_fail(err, LSD_ERR_ARG, "tensor name is NULL");
    st_printable(name, q, sizeof q);
    if (!json_utf8_valid(name, strlen(name)))
        return lsd_fail(err, LSD_ERR_ARG, "tensor name '%s' is not valid UTF-8", q);
    if (!strcmp(name, "__metadata__"))
        return lsd_fail(err, LSD_ERR_ARG, "'__metadata__' is reserved, not a tensor name");
    if ((unsigned)dtype >= ST_NDTYPES)
        return lsd_fail(err, LSD_ERR_ARG, "tensor '%s': unknown dtype %d", q, (int)dtype);
    if (dtype == ST_F4 || dtype == ST_F6_E2M3 || dtype == ST_F6_E3M2 || dtype == ST_C64)
        return lsd_fail(err, LSD_ERR_ARG, "tensor '%s': the writer does not store %s", q,
                        st_dtype_name(dtype));
    rc = shape_bytes(ndim, shape, st_dtype_size(dtype), &ne, &bytes, q, err);
    if (rc) return rc;
    if (!data && ne > 0) return lsd_fail(err, LSD_ERR_ARG, "tensor '%s': data is NULL", q);
    for (i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name))
            return lsd_fail(err, LSD_ERR_ARG, "duplicate tensor name '%s'", q);
    if (w->n == w->cap) {
        int ncap = w->cap ? 2 * w->cap : 16;
        st_out_tensor *t2 = NULL;
        if (ncap > 0 && (size_t)ncap < ((size_t)-1) / sizeof *t2)
            t2 = (st_out_tensor *)realloc(w->t, (size_t)ncap * sizeof *t2);
        if (!t2) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory adding tensor '%s'", q);
        w->t = t2;
        w->cap = ncap;
    }
    t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = dup_str(name);
    if (!t->name) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory adding tensor '%s'", q);
    t->dtype = dtype;
    t->ndim = ndim;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    w->n++;
    return LSD_OK;
}

int st_writer_add_real(st_writer *w, const char *name, int ndim, const int64_t *shape,
                       const real *data, lsd_err *err)
{
#ifdef LSD_DOUBLE
    return st_writer_add(w, name, ST_F64, ndim, shape, data, err);
#else
    return st_writer_add(w, name, ST_F32, ndim, shape, data, err);
#endif
}

int st_writer_meta(st_writer *w, const char *key, const char *value, lsd_err *err)
{
    int i;
    char q[128];
    if (!key || !value) return lsd_fail(err, LSD_ERR_ARG, "metadata key or value is NULL");
    st_printable(key, q, sizeof q);
    if (!json_utf8_valid(key, strlen(key)) || !json_utf8_valid(value, strlen(value)))
        return lsd_fail(err, LSD_ERR_ARG, "metadata '%s': key or value is not valid UTF-8", q);
    for (i = 0; i < w->nmeta; i++)
        if (!strcmp(w->meta_keys[i], key))
            return lsd_fail(err, LSD_ERR_ARG, "duplicate metadata key '%s'", q);
    if (w->nmeta == w->capmeta) {
        int ncap = w->capmeta ? 2 * w->capmeta : 8;
        char **k2 = NULL, **v2 = NULL;
        if (ncap > 0 && (size_t)ncap < ((size_t)-1) / sizeof(char *)) {
            k2 = (char **)realloc(w->meta_keys, (size_t)ncap * sizeof(char *));
            if (k2) w->meta_keys = k2;
            v2 = (char **)realloc(w->meta_vals, (size_t)ncap * sizeof(char *));
            if (v2) w->meta_vals = v2;
        }
        if (!k2 || !v2) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for metadata");
        w->capmeta = ncap;
    }
    w->meta_keys[w->nmeta] = dup_str(key);
    w->meta_vals[w->nmeta] = dup_str(value);
    if (!w->meta_keys[w->nmeta] || !w->meta_vals[w->nmeta]) {
        free(w->meta_keys[w->nmeta]);
        free(w->meta_vals[w->nmeta]);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for metadata");
    }
    w->nmeta++;
    return LSD_OK;
}

/* A growing text buffer for the header; a NULL data pointer only measures. */
typedef struct {
    char *data;
    size_t len;
} textbuf;

/* Appends n bytes. */
static void tb_put(textbuf *b, const char *s, size_t n)
{
    if (b->data) memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* Appends a NUL-terminated string. */
static void tb_str(textbuf *b, const char *s)
{
    tb_put(b, s, strlen(s));
}

/* Appends s as a JSON string literal: quotes, backslashes and control bytes escaped. */
static void tb_json_string(textbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    tb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2];
            e[0] = '\\';
            e[1] = (char)c;
            tb_put(b, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', 0, 0};
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            tb_put(b, e, 6);
        } else
            tb_put(b, (const char *)&c, 1);
    }
    tb_put(b, "\"", 1);
}

/* Appends an unsigned decimal integer. */
static void tb_uint(textbuf *b, uint64_t v)
{
    char d[24];
    int k = 0;
    do {
        d[k++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    while (k > 0) tb_put(b, &d[--k], 1);
}

/* Writes the whole header JSON into b (or measures it when b->data is NULL). */
static void build_header(const st_writer *w, textbuf *b)
{
    uint64_t off = 0;
    int i, j;
    tb_str(b, "{");
    if (w->nmeta > 0) {
        tb_str(b, "\"__metadata__\":{");
        for (i = 0; i < w->nmeta; i++) {
            if (i) tb_str(b, ",");
            tb_json_string(b, w->meta_keys[i]);
            tb_str(b, ":");
            tb_json_string(b, w->meta_vals[i]);
        }
        tb_str(b, "}");
    }
    for (i = 0; i < w->n; i++) {
        const st_out_tensor *t = &w->t[i];
        uint64_t ne = 1;
        if (i || w->nmeta > 0) tb_str(b, ",");
        tb_json_string(b, t->name);
        tb_str(b, ":{\"dtype\":\"");
        tb_str(b, st_dtype_name(t->dtype));
        tb_str(b, "\",\"shape\":[");
        for (j = 0; j < t->ndim; j++) {
            if (j) tb_str(b, ",");
            tb_uint(b, (uint64_t)t->shape[j]);
            ne *= (uint64_t)t->shape[j];
        }
        tb_str(b, "],\"data_offsets\":[");
        tb_uint(b, off);
        tb_str(b, ",");
        off += ne * st_dtype_size(t->dtype);
        tb_uint(b, off);
        tb_str(b, "]}");
    }
    tb_str(b, "}");
    while (b->len % 8) tb_put(b, " ", 1); /* pad: the data section starts 8-byte aligned */
}

uint64_t st_out_nelem(const st_out_tensor *t)
{
    uint64_t ne = 1;
    int j;
    for (j = 0; j < t->ndim; j++) ne *= (uint64_t)t->shape[j];
    return ne;
}

void st_out_encode(const st_out_tensor *t, uint64_t first, size_t count, unsigned char *buf)
{
    size_t es = st_dtype_size(t->dtype), i;
    for (i = 0; i < count; i++) {
        unsigned char *p = buf + i * es;
        size_t at = (size_t)(first + i);
        switch (t->dtype) {
        case ST_F32: {
            uint32_t u;
            memcpy(&u, (const float *)t->data + at, 4);
            put_le(p, u, 4);
            break;
        }
        case ST_F64: {
            uint64_t u;
            memcpy(&u, (const double *)t->data + at, 8);
            put_le(p, u, 8);
            break;
        }
        case ST_I64: put_le(p, (uint64_t)((const int64_t *)t->data)[at], 8); break;
        case ST_U64: put_le(p, ((const uint64_t *)t->data)[at], 8); break;
        case ST_I32: put_le(p, (uint64_t)(uint32_t)((const int32_t *)t->data)[at], 4); break;
        case ST_U32: put_le(p, ((const uint32_t *)t->data)[at], 4); break;
        case ST_I16: put_le(p, (uint64_t)(uint16_t)((const int16_t *)t->data)[at], 2); break;
        case ST_U16: case ST_F16: case ST_BF16: /* F16, BF16: their bits */
            put_le(p, ((const uint16_t *)t->data)[at], 2);
            break;
        case ST_I8: p[0] = (unsigned char)(uint8_t)((const int8_t *)t->data)[at]; break;
        case ST_BOOL: p[0] = ((const uint8_t *)t->data)[at] != 0; break;
        default: p[0] = ((const uint8_t *)t->data)[at]; break; /* U8, F8_* bits */
        }
    }
}

/* Writes t's values to f in little-endian order, a chunk at a time. */
static int write_tensor(FILE *f, const st_out_tensor *t)
{
    unsigned char buf[ST_CHUNK];
    size_t es = st_dtype_size(t->dtype), per = ST_CHUNK / es, k;
    uint64_t ne = st_out_nelem(t), done = 0;
    while (done < ne) {
        k = (ne - done < (uint64_t)per) ? (size_t)(ne - done) : per;
        st_out_encode(t, done, k, buf);
        if (fwrite(buf, es, k, f) != k) return -1;
        done += k;
    }
    return 0;
}

/* fsyncs the directory that holds path, so a rename in it is durable. EINVAL (a file system
 * that cannot sync directories) is not an error. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    size_t n;
    int fd, rc = 0;
    if (!slash) dir = dup_str(".");
    else {
        n = slash == path ? 1 : (size_t)(slash - path);
        dir = (char *)malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    fd = open(dir, O_RDONLY);
    free(dir);
    if (fd < 0) return -1;
    if (fsync(fd) != 0 && errno != EINVAL) rc = -1;
    close(fd);
    return rc;
}

/* Writes the length, header and data to the open file f and makes them durable. */
static int write_all(const st_writer *w, const textbuf *hb, FILE *f, const char **what)
{
    unsigned char len8[8];
    int i;
    put_le(len8, (uint64_t)hb->len, 8);
    *what = "cannot write";
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(hb->data, 1, hb->len, f) != hb->len) return -1;
    for (i = 0; i < w->n; i++)
        if (write_tensor(f, &w->t[i]) != 0) return -1;
    if (fflush(f) != 0) return -1;
    *what = "cannot sync";
    if (fsync(fileno(f)) != 0) return -1;
    return 0;
}

int st_writer_save(st_writer *w, const char *path, lsd_err *err)
{
    textbuf hb = {NULL, 0};
    char *tmp;
    size_t plen = strlen(path);
    FILE *f;
    int rc = LSD_OK, e;
    const char *what = NULL;
    build_header(w, &hb); /* first pass measures */
    if ((uint64_t)hb.len > ST_MAX_HEADER)
        return lsd_fail(err, LSD_ERR_RANGE, "%s: header of %lu bytes is above the limit", path,
                        (unsigned long)hb.len);
    hb.data = (char *)malloc(hb.len);
    tmp = (char *)malloc(plen + 5);
    if (!hb.data || !tmp) {
        free(hb.data);
        free(tmp);
        return lsd_fail(err, LSD_ERR_NOMEM, "%s: out of memory for the header", path);
    }
    hb.len = 0;
    build_header(w, &hb); /* second pass writes */
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    f = fopen(tmp, "wb");
    if (!f) {
        rc = lsd_fail(err, LSD_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    } else {
        if (write_all(w, &hb, f, &what) != 0) {
            e = errno;
            fclose(f);
            remove(tmp);
            rc = lsd_fail(err, LSD_ERR_IO, "%s: %s %s: %s", path, what, tmp, strerror(e));
        } else if (fclose(f) != 0) {
            e = errno;
            remove(tmp);
            rc = lsd_fail(err, LSD_ERR_IO, "%s: cannot close %s: %s", path, tmp, strerror(e));
        } else if (rename(tmp, path) != 0) {
            e = errno;
            remove(tmp);
            rc = lsd_fail(err, LSD_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp,
                          strerror(e));
        } else if (sync_dir(path) != 0) {
            rc = lsd_fail(err, LSD_ERR_IO, "%s: written, but cannot sync its directory: %s", path,
                          strerror(errno));
        }
    }
    free(hb.data);
    free(tmp);
    return rc;
}
