/* test_safetensors.c - the safetensors reader and writer: round trips of every dtype, exact
 * half/bfloat16 conversion, little-endian bytes on disk, malformed files rejected with
 * specific messages, interop with the Python safetensors package, a file of every dtype of
 * the format written by Python (tests/data/dtypes, committed, so it runs under qemu too)
 * checked value by value against Python's decoding, and 'lsdseg info'. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../tensor/safetensors.h"
#include "harness.h"

/* Path of a scratch file named name in the test directory. */
static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", test_tmp_dir(), name);
}

/* Writes n bytes to path; returns 0 on success. */
static int write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    size_t k;
    if (!f) return -1;
    k = fwrite(buf, 1, n, f);
    if (fclose(f) != 0 || k != n) return -1;
    return 0;
}

/* Reads the whole file at path into a malloc'ed buffer; *n its size. */
static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len;
    *n = 0;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = (unsigned char *)malloc((size_t)len + 1);
        if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) *n = (size_t)len;
        else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* Builds a file: 8-byte little-endian length hlen (the header's own length when hlen is
 * (uint64_t)-1 ... see callers), the header text, then ndata bytes of value 0xAB. */
static unsigned char *build_file(uint64_t hlen, const char *header, size_t hbytes, size_t ndata,
                                 size_t *n)
{
    unsigned char *buf = (unsigned char *)malloc(8 + hbytes + ndata + 1);
    int i;
    if (!buf) return NULL;
    for (i = 0; i < 8; i++) buf[i] = (unsigned char)((hlen >> (8 * i)) & 0xFF);
    memcpy(buf + 8, header, hbytes);
    memset(buf + 8 + hbytes, 0xAB, ndata);
    *n = 8 + hbytes + ndata;
    return buf;
}

/* Checks that the file made of bytes is rejected by st_open and st_open_mem with a message
 * holding the file name and want. */
static void expect_reject(const char *label, const unsigned char *bytes, size_t n,
                          const char *want)
{
    char path[512];
    st_file sf;
    lsd_err err;
    int rc;
    snprintf(path, sizeof path, "%s/bad_%s.safetensors", test_tmp_dir(), label);
    if (write_bytes(path, bytes, n) != 0) {
        CHECK(0, "%s: cannot write %s", label, path);
        return;
    }
    err.msg[0] = '\0';
    rc = st_open(&sf, path, &err);
    CHECK(rc != LSD_OK, "%s: malformed file accepted", label);
    CHECK(rc != LSD_OK && strstr(err.msg, want) != NULL, "%s: message lacks '%s': %s", label,
          want, err.msg);
    CHECK(rc != LSD_OK && strstr(err.msg, path) != NULL, "%s: message lacks the file name: %s",
          label, err.msg);
    CHECK(sf.entries == NULL && sf.f == NULL && sf.path == NULL, "%s: st_file not cleared", label);
    rc = st_open_mem(&sf, bytes, n, "memfile", &err);
    CHECK(rc != LSD_OK && strstr(err.msg, want) != NULL && strstr(err.msg, "memfile") != NULL,
          "%s (memory): message lacks '%s' or the name: %s", label, want, err.msg);
    if (rc == LSD_OK) st_close(&sf);
    remove(path);
}

/* Rejection of a file whose header is text (length field correct) followed by ndata bytes. */
static void reject_header(const char *label, const char *header, size_t ndata, const char *want)
{
    size_t n, hb = strlen(header);
    unsigned char *b = build_file((uint64_t)hb, header, hb, ndata, &n);
    if (!b) {
        CHECK(0, "out of memory");
        return;
    }
    expect_reject(label, b, n, want);
    free(b);
}

/* A valid one-tensor entry with the given name, used to build malformed headers. */
#define ENT(name, b, e, size) \
    "\"" name "\":{\"dtype\":\"U8\",\"shape\":[" #size "],\"data_offsets\":[" #b "," #e "]}"

static void test_malformed(void)
{
    char big[2048], deep[600];
    size_t n;
    int i;
    unsigned char *b;
    static const unsigned char tiny[5] = {1, 0, 0, 0, 0};

    expect_reject("short", tiny, sizeof tiny, "shorter than 8 bytes");
    b = build_file(100000001ULL, "{}", 2, 0, &n);
    if (b) { expect_reject("hlen_limit", b, n, "above the limit"); free(b); }
    b = build_file(0xFFFFFFFFFFFFFFFFULL, "{}", 2, 0, &n);
    if (b) { expect_reject("hlen_max", b, n, "above the limit"); free(b); }
    b = build_file(50, "{}", 2, 0, &n);
    if (b) { expect_reject("hlen_beyond", b, n, "beyond the file"); free(b); }
    b = build_file(0, "", 0, 0, &n);
    if (b) { expect_reject("empty_header", b, n, "does not begin with '{'"); free(b); }

    reject_header("array_top", "[]      ", 0, "does not begin with '{'");
    reject_header("leading_space", " {}     ", 0, "does not begin with '{'");
    reject_header("overlong_utf8", "{\"\xC0\xAF\":{}}", 0, "invalid UTF-8");
    reject_header("surrogate_utf8", "{\"\xED\xA0\x80\":{}}", 0, "invalid UTF-8");
    reject_header("above_10ffff", "{\"\xF4\x90\x80\x80\":{}}", 0, "invalid UTF-8");
    reject_header("lone_continuation", "{\"a\x80\":{}}", 0, "invalid UTF-8");
    reject_header("bad_escape", "{\"a\\q\":{}}", 0, "invalid escape");
    reject_header("short_u_escape", "{\"a\\u12\":{}}", 0, "invalid \\u escape");
    reject_header("lone_high_surrogate", "{\"a\\ud800\":{}}", 0, "unpaired high surrogate");
    reject_header("lone_low_surrogate", "{\"a\\udc00\":{}}", 0, "unpaired low surrogate");
    reject_header("control_char", "{\"a\tb\":{}}", 0, "unescaped control character");
    reject_header("truncated", "{\"a\":{\"dtype\":\"U8\"", 0, "truncated");
    reject_header("unterminated_string", "{\"a", 0, "unterminated string");
    reject_header("trailing_garbage", "{}  x", 0, "trailing garbage");
    reject_header("trailing_comma", "{" ENT("a", 0, 2, 2) ",}", 2, "trailing comma");
    reject_header("bad_literal", "{\"__metadata__\":{\"k\":nul}}", 0, "invalid literal");
    reject_header("leading_zero", "{\"a\":{\"dtype\":\"U8\",\"shape\":[02],\"data_offsets\":[0,2]}}",
                  2, "leading zero");
    for (i = 0; i < 200; i++) deep[i] = '[';
    for (i = 0; i < 200; i++) deep[200 + i] = ']';
    deep[400] = '\0';
    snprintf(big, sizeof big, "{\"a\":%s}", deep);
    reject_header("deep_nesting", big, 0, "nesting too deep");
    reject_header("huge_number",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[123456789012345678901234567890],"
                  "\"data_offsets\":[0,0]}}", 0, "integer too large");
    reject_header("dim_above_int64",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[9223372036854775808],"
                  "\"data_offsets\":[0,0]}}", 0, "integer too large");
    reject_header("float_dim", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2]}}",
                  2, "not an integer");
    reject_header("exp_offset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2e0]}}",
                  2, "not an integer");
    reject_header("unknown_dtype", "{\"a\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
                  2, "unknown dtype 'F8'");
    reject_header("negative_dim", "{\"a\":{\"dtype\":\"U8\",\"shape\":[-2],\"data_offsets\":[0,2]}}",
                  2, "negative number");
    reject_header("nelem_overflow",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,2],"
                  "\"data_offsets\":[0,0]}}", 0, "element count overflows");
    reject_header("bytes_overflow",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                  "\"data_offsets\":[0,0]}}", 0, "byte size overflows");
    reject_header("too_many_dims",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
                  1, "more than 8 dimensions");
    reject_header("length_mismatch",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                  "does not match dtype F32");
    reject_header("begin_after_end",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,2]}}", 4, "begin 4 > end 2");
    reject_header("offsets_3", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2,4]}}",
                  4, "exactly 2 integers");
    reject_header("offsets_huge",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],"
                  "\"data_offsets\":[18446744073709551614,18446744073709551616]}}", 0,
                  "integer too large");
    reject_header("out_of_bounds", "{" ENT("a", 0, 2, 2) "," ENT("b", 2, 6, 4) "}", 4, "out of bounds");
    reject_header("overlap", "{" ENT("a", 0, 4, 4) "," ENT("b", 2, 6, 4) "}", 6, "overlap");
    reject_header("aliased", "{" ENT("a", 0, 4, 4) "," ENT("b", 0, 4, 4) "}", 4, "aliased");
    reject_header("gap", "{" ENT("a", 0, 2, 2) "," ENT("b", 4, 6, 2) "}", 6, "gap of 2 bytes");
    reject_header("gap_at_start", "{" ENT("a", 2, 4, 2) "}", 4, "gap of 2 bytes");
    reject_header("data_after_end", "{" ENT("a", 0, 2, 2) "}", 3, "does not end at the end of the file");
    reject_header("dup_tensor", "{" ENT("a", 0, 2, 2) "," ENT("a", 2, 4, 2) "}", 4,
                  "duplicate tensor name 'a'");
    reject_header("dup_meta_key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
                  "duplicate metadata key 'k'");
    reject_header("dup_metadata", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
                  "duplicate key '__metadata__'");
    reject_header("dup_entry_key",
                  "{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
                  2, "duplicate key 'dtype'");
    reject_header("meta_number", "{\"__metadata__\":{\"k\":1}}", 0, "is a number, not a string");
    reject_header("meta_not_object", "{\"__metadata__\":[]}", 0, "not an object");
    reject_header("unknown_key",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"x\":1}}", 2,
                  "unknown key 'x'");
    reject_header("missing_offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2]}}", 2,
                  "has no 'data_offsets'");
    reject_header("entry_not_object", "{\"a\":3}", 0, "not an object");
    reject_header("nul_in_name", "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}",
                  1, "NUL character");
    reject_header("name_in_message", "{\"x\\n\\u00e9\":{\"dtype\":\"Q\",\"shape\":[],"
                  "\"data_offsets\":[0,1]}}", 1, "tensor 'x\\x0a\\xc3\\xa9'");
    {   /* a directory and a missing file */
        st_file sf;
        lsd_err err;
        char path[512];
        int rc = st_open(&sf, test_tmp_dir(), &err);
        CHECK(rc == LSD_ERR_IO && strstr(err.msg, "not a regular file"), "directory: %s", err.msg);
        tmp_path(path, sizeof path, "does_not_exist.safetensors");
        rc = st_open(&sf, path, &err);
        CHECK(rc == LSD_ERR_IO && strstr(err.msg, "cannot open") && strstr(err.msg, path),
              "missing file: %s", err.msg);
    }
}

/* Half bits and their exact values, computed from the definition, not by the reader. */
static void test_half_conversion(void)
{
    static const unsigned short h[] = {0x3C00, 0xC000, 0x0001, 0x03FF, 0x0400, 0x7BFF,
                                       0x8000, 0x7C00, 0xFC00, 0x3555};
    static const unsigned short bf[] = {0x3F80, 0xC040, 0x0001, 0x007F, 0x7F7F, 0x7F80,
                                        0xFF80, 0x8000, 0x4049};
    const double hv[] = {1.0, -2.0, ldexp(1, -24), ldexp(1023, -24), ldexp(1, -14), 65504.0,
                         -0.0, INFINITY, -INFINITY, ldexp(1365, -12)};
    const double bv[] = {1.0, -3.0, ldexp(1, -133), ldexp(127, -133), ldexp(255, 120), INFINITY,
                         -INFINITY, -0.0, ldexp(201, -6)};
    unsigned short nan16[2] = {0x7E00, 0x7FC0};
    double got[16], nang[2];
    real gotr[16];
    int64_t s1[1] = {10}, s2[1] = {9}, s3[1] = {1};
    st_writer w;
    st_file sf;
    lsd_err err;
    char path[512];
    int i, ok = 1;
    tmp_path(path, sizeof path, "half.safetensors");
    st_writer_init(&w);
    CHECK(st_writer_add(&w, "h", ST_F16, 1, s1, h, &err) == LSD_OK, "add F16: %s", err.msg);
    CHECK(st_writer_add(&w, "bf", ST_BF16, 1, s2, bf, &err) == LSD_OK, "add BF16: %s", err.msg);
    CHECK(st_writer_add(&w, "hnan", ST_F16, 1, s3, &nan16[0], &err) == LSD_OK, "add nan");
    CHECK(st_writer_add(&w, "bnan", ST_BF16, 1, s3, &nan16[1], &err) == LSD_OK, "add nan");
    CHECK(st_writer_save(&w, path, &err) == LSD_OK, "save: %s", err.msg);
    st_writer_free(&w);
    if (st_open(&sf, path, &err) != LSD_OK) {
        CHECK(0, "open half file: %s", err.msg);
        return;
    }
    CHECK(st_read_f64(&sf, "h", got, 10, 1, s1, &err) == LSD_OK, "read F16: %s", err.msg);
    for (i = 0; i < 10; i++) ok &= got[i] == hv[i] && signbit(got[i]) == signbit(hv[i]);
    CHECK(ok, "F16 values exact (subnormals, max, -0, inf)");
    test_close_double("F16 -> double", got, hv, 10, 0, 0);
    CHECK(st_read_f64(&sf, "bf", got, 9, 1, s2, &err) == LSD_OK, "read BF16: %s", err.msg);
    test_close_double("BF16 -> double", got, bv, 9, 0, 0);
    CHECK(signbit(got[7]) != 0, "BF16 -0 keeps its sign");
    CHECK(st_read_real(&sf, "bf", gotr, 9, -1, NULL, &err) == LSD_OK, "read BF16 as real");
    for (i = 0; i < 9; i++) got[i] = (double)gotr[i];
    test_close_double("BF16 -> real", got, bv, 9, 0, 0);
    CHECK(st_read_f64(&sf, "hnan", &nang[0], 1, -1, NULL, &err) == LSD_OK &&
          st_read_f64(&sf, "bnan", &nang[1], 1, -1, NULL, &err) == LSD_OK &&
          isnan(nang[0]) && isnan(nang[1]), "F16/BF16 NaN read as NaN");
    st_close(&sf);
    remove(path);
}

/* Every writable dtype, 0-d, zero-size and 4-d shapes, metadata; checks values, shapes and
 * the little-endian bytes on disk. */
static void test_roundtrip(void)
{
    float f32[24];
    double f64[6], got64[24];
    int64_t i64[3] = {-1, 1099511627776LL, INT64_MIN}, gi[3];
    int32_t i32[4] = {-2, 2147483647, (int32_t)-2147483647 - 1, 7};
    uint8_t u8[5] = {0, 1, 127, 128, 255};
    real r[3] = {(real)0.5, (real)-1.25, (real)3}, gr[24];
    int64_t s4[4] = {2, 3, 1, 4}, s0[1] = {0}, sz[2] = {0, 5}, s1[1] = {3}, s32[1] = {4},
            su[1] = {5}, s6[2] = {2, 3}, wrong[4] = {2, 3, 4, 1};
    st_writer w;
    st_file sf;
    lsd_err err;
    char path[512];
    unsigned char *bytes;
    size_t n, i;
    const st_entry *e;
    int ok;
    for (i = 0; i < 24; i++) f32[i] = (float)i * 0.375f - 4.0f;
    for (i = 0; i < 6; i++) f64[i] = (double)i / 7.0;
    tmp_path(path, sizeof path, "roundtrip.safetensors");
    st_writer_init(&w);
    ok = st_writer_add(&w, "f32", ST_F32, 4, s4, f32, &err) == LSD_OK;
    ok &= st_writer_add(&w, "f64", ST_F64, 2, s6, f64, &err) == LSD_OK;
    ok &= st_writer_add(&w, "scalar", ST_F64, 0, s0, &f64[1], &err) == LSD_OK;
    ok &= st_writer_add(&w, "empty", ST_F32, 2, sz, NULL, &err) == LSD_OK;
    ok &= st_writer_add(&w, "i64", ST_I64, 1, s1, i64, &err) == LSD_OK;
    ok &= st_writer_add(&w, "i32", ST_I32, 1, s32, i32, &err) == LSD_OK;
    ok &= st_writer_add(&w, "u8", ST_U8, 1, su, u8, &err) == LSD_OK;
    ok &= st_writer_add_real(&w, "real", 1, s1, r, &err) == LSD_OK;
    ok &= st_writer_meta(&w, "format", "pt", &err) == LSD_OK;
    ok &= st_writer_meta(&w, "quote\"\\\n", "caf\xC3\xA9 \xF0\x9F\x98\x80", &err) == LSD_OK;
    CHECK(ok, "writer accepts all dtypes: %s", err.msg);
    CHECK(st_writer_add(&w, "f32", ST_F32, 1, s1, f32, &err) == LSD_ERR_ARG &&
          strstr(err.msg, "duplicate"), "writer refuses a duplicate name: %s", err.msg);
    CHECK(st_writer_add(&w, "neg", ST_F32, 2, (const int64_t[]){2, -1}, f32, &err) == LSD_ERR_ARG,
          "writer refuses a negative dimension");
    CHECK(st_writer_add(&w, "__metadata__", ST_U8, 1, su, u8, &err) == LSD_ERR_ARG,
          "writer refuses the name __metadata__");
    CHECK(st_writer_add(&w, "bad\xC0\xAF", ST_U8, 1, su, u8, &err) == LSD_ERR_ARG,
          "writer refuses a name that is not UTF-8");
    CHECK(st_writer_meta(&w, "format", "x", &err) == LSD_ERR_ARG, "writer refuses duplicate meta");
    CHECK(st_writer_save(&w, path, &err) == LSD_OK, "save: %s", err.msg);
    st_writer_free(&w);

    /* the bytes on disk: length little-endian, header padded to 8, data little-endian */
    bytes = read_bytes(path, &n);
    if (bytes) {
        uint64_t hl = 0;
        for (i = 0; i < 8; i++) hl |= (uint64_t)bytes[i] << (8 * i);
        CHECK(hl % 8 == 0 && 8 + hl <= n && bytes[8] == '{', "header length %lu padded to 8",
              (unsigned long)hl);
        /* f32 is the first tensor: -4.0f is 0xC0800000, stored 00 00 80 C0 */
        CHECK(8 + hl + 4 <= n && bytes[8 + hl] == 0x00 && bytes[8 + hl + 1] == 0x00 &&
              bytes[8 + hl + 2] == 0x80 && bytes[8 + hl + 3] == 0xC0, "F32 -4.0 little-endian");
        free(bytes);
    } else
        CHECK(0, "cannot read back %s", path);

    if (st_open(&sf, path, &err) != LSD_OK) {
        CHECK(0, "open round trip: %s", err.msg);
        return;
    }
    CHECK(sf.n == 8 && sf.nmeta == 2, "8 tensors and 2 metadata keys, got %d and %d", sf.n,
          sf.nmeta);
    CHECK(st_meta(&sf, "format") && !strcmp(st_meta(&sf, "format"), "pt"), "metadata format");
    CHECK(st_meta(&sf, "quote\"\\\n") &&
          !strcmp(st_meta(&sf, "quote\"\\\n"), "caf\xC3\xA9 \xF0\x9F\x98\x80"),
          "escaped key and UTF-8 value");
    CHECK(st_meta(&sf, "nope") == NULL, "missing metadata key is NULL");
    e = st_find(&sf, "f32");
    CHECK(e && e->ndim == 4 && e->shape[3] == 4 && e->nelem == 24 && e->dtype == ST_F32, "f32 entry");
    e = st_find(&sf, "scalar");
    CHECK(e && e->ndim == 0 && e->nelem == 1, "0-d entry");
    e = st_find(&sf, "empty");
    CHECK(e && e->nelem == 0 && e->begin == e->end && e->shape[1] == 5, "zero-size entry");

    CHECK(st_read_f64(&sf, "f32", got64, 24, 4, s4, &err) == LSD_OK, "F32 into double: %s", err.msg);
    ok = 1;
    for (i = 0; i < 24; i++) ok &= got64[i] == (double)i * 0.375 - 4.0;
    CHECK(ok, "F32 values read into double exactly");
    CHECK(st_read_real(&sf, "f64", gr, 6, 2, s6, &err) == LSD_OK, "F64 into real: %s", err.msg);
    ok = 1;
    for (i = 0; i < 6; i++) ok &= gr[i] == (real)((double)i / 7.0);
    CHECK(ok, "F64 values read into real (rounded once)");
    CHECK(st_read_f64(&sf, "scalar", got64, 1, 0, NULL, &err) == LSD_OK &&
          got64[0] == 1.0 / 7.0, "0-d tensor value");
    CHECK(st_read_real(&sf, "empty", gr, 0, 2, sz, &err) == LSD_OK, "zero-size read: %s", err.msg);
    CHECK(st_read_i64(&sf, "i64", gi, 3, 1, s1, &err) == LSD_OK && gi[0] == -1 &&
          gi[1] == 1099511627776LL && gi[2] == INT64_MIN, "I64 values");
    CHECK(st_read_i64(&sf, "i32", gi, 3, -1, NULL, &err) == LSD_ERR_ARG, "I32 count mismatch");
    {
        int64_t g4[4];
        CHECK(st_read_i64(&sf, "i32", g4, 4, 1, s32, &err) == LSD_OK && g4[0] == -2 &&
              g4[1] == 2147483647 && g4[2] == -2147483648LL && g4[3] == 7, "I32 values");
    }
    {
        int64_t g5[5];
        unsigned char raw[5];
        CHECK(st_read_i64(&sf, "u8", g5, 5, 1, su, &err) == LSD_OK && g5[0] == 0 && g5[3] == 128 &&
              g5[4] == 255, "U8 values");
        CHECK(st_read_raw(&sf, "u8", raw, 5, &err) == LSD_OK && memcmp(raw, u8, 5) == 0, "raw U8");
    }
    CHECK(st_read_real(&sf, "real", gr, 3, 1, s1, &err) == LSD_OK && gr[0] == r[0] &&
          gr[1] == r[1] && gr[2] == r[2], "real round trip");
    e = st_find(&sf, "real");
    CHECK(e && e->dtype == (sizeof(real) == 4 ? ST_F32 : ST_F64), "real stored in its precision");

    /* errors name the file and the tensor */
    CHECK(st_read_real(&sf, "f32", gr, 24, 4, wrong, &err) == LSD_ERR_ARG &&
          strstr(err.msg, "'f32'") && strstr(err.msg, path) && strstr(err.msg, "(2, 3, 1, 4)") &&
          strstr(err.msg, "(2, 3, 4, 1)"), "wrong shape names tensor, file and shapes: %s", err.msg);
    CHECK(st_read_real(&sf, "f32", gr, 23, -1, NULL, &err) == LSD_ERR_ARG &&
          strstr(err.msg, "'f32'"), "wrong count: %s", err.msg);
    CHECK(st_read_real(&sf, "nothere", gr, 1, -1, NULL, &err) == LSD_ERR_NOTFOUND &&
          strstr(err.msg, "'nothere'") && strstr(err.msg, path), "missing tensor: %s", err.msg);
    CHECK(st_read_real(&sf, "i64", gr, 3, -1, NULL, &err) == LSD_OK && gr[0] == -1 &&
          gr[1] == (real)1099511627776.0 && gr[2] == -(real)9223372036854775808.0,
          "integers exact in real convert (-1, 2^40, -2^63): %s", err.msg);
    if (sizeof(real) == sizeof(float))
        CHECK(st_read_real(&sf, "i32", gr, 4, -1, NULL, &err) == LSD_ERR_RANGE &&
              strstr(err.msg, "'i32': element 1 (I32 2147483647) is not exactly representable "
                     "as float"), "I32 2^31-1 into float refused: %s", err.msg);
    else
        CHECK(st_read_real(&sf, "i32", gr, 4, -1, NULL, &err) == LSD_OK && gr[1] == 2147483647.0,
              "I32 2^31-1 into double: %s", err.msg);
    CHECK(st_read_i64(&sf, "f64", gi, 6, -1, NULL, &err) == LSD_ERR_ARG &&
          strstr(err.msg, "not an integer dtype"), "float into int64 refused: %s", err.msg);
    CHECK(st_expect(&sf, "f32", ST_F32, 4, s4, &e, &err) == LSD_OK && e && e->nelem == 24,
          "st_expect dtype and shape: %s", err.msg);
    CHECK(st_expect(&sf, "f32", ST_F64, -1, NULL, &e, &err) == LSD_ERR_ARG && e == NULL &&
          strstr(err.msg, "'f32' is F32, expected F64") && strstr(err.msg, path),
          "st_expect wrong dtype: %s", err.msg);
    CHECK(st_expect(&sf, "i32", ST_I32, 1, s1, NULL, &err) == LSD_ERR_ARG &&
          strstr(err.msg, "has shape (4), expected (3)"), "st_expect wrong shape: %s", err.msg);
    CHECK(st_expect(&sf, "gone", ST_I32, -1, NULL, NULL, &err) == LSD_ERR_NOTFOUND,
          "st_expect missing tensor");
    st_close(&sf);
    st_close(&sf); /* safe twice */

    /* the memory path reads the same file */
    bytes = read_bytes(path, &n);
    if (bytes && st_open_mem(&sf, bytes, n, "mem", &err) == LSD_OK) {
        CHECK(st_read_f64(&sf, "f64", got64, 6, 2, s6, &err) == LSD_OK && got64[5] == 5.0 / 7.0,
              "st_open_mem reads values");
        st_close(&sf);
    } else
        CHECK(0, "st_open_mem: %s", err.msg);
    free(bytes);

    /* a failed save leaves no file and no tmp behind */
    {
        char bad[600];
        struct stat st;
        tmp_path(bad, sizeof bad, "no_such_dir/x.safetensors");
        st_writer_init(&w);
        CHECK(st_writer_add(&w, "a", ST_U8, 1, su, u8, &err) == LSD_OK, "add");
        CHECK(st_writer_save(&w, bad, &err) == LSD_ERR_IO && strstr(err.msg, bad),
              "save into a missing directory fails naming the file: %s", err.msg);
        st_writer_free(&w);
        snprintf(bad + strlen(bad), sizeof bad - strlen(bad), ".tmp");
        CHECK(stat(bad, &st) != 0, "no tmp file left");
        snprintf(bad, sizeof bad, "%s.tmp", path);
        CHECK(stat(bad, &st) != 0, "tmp renamed away after a good save");
    }
    /* an empty writer gives a valid empty file */
    st_writer_init(&w);
    CHECK(st_writer_save(&w, path, &err) == LSD_OK, "save empty: %s", err.msg);
    st_writer_free(&w);
    CHECK(st_open(&sf, path, &err) == LSD_OK && sf.n == 0 && sf.nmeta == 0, "open empty file");
    st_close(&sf);
    remove(path);
}

/* A header padded with trailing spaces (as Python writes) and a zero-size tensor at the end. */
static void test_valid_handmade(void)
{
    const char *h = "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                    "\"z\":{\"shape\":[0,3],\"dtype\":\"F32\",\"data_offsets\":[2,2]},"
                    "\"a\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[2,6]}}        ";
    size_t n, hb = strlen(h);
    unsigned char *b = build_file(hb, h, hb, 6, &n);
    st_file sf;
    lsd_err err;
    int64_t v;
    if (!b) return;
    b[8 + hb + 2] = 0xFE; /* I32 -2 = FE FF FF FF */
    b[8 + hb + 3] = b[8 + hb + 4] = b[8 + hb + 5] = 0xFF;
    if (st_open_mem(&sf, b, n, "handmade", &err) == LSD_OK) {
        CHECK(sf.n == 3 && !strcmp(sf.entries[0].name, "b") && !strcmp(sf.entries[1].name, "z"),
              "entries in offset order");
        CHECK(st_read_i64(&sf, "a", &v, 1, 0, NULL, &err) == LSD_OK && v == -2, "I32 -2 decoded");
        st_close(&sf);
    } else
        CHECK(0, "handmade valid file rejected: %s", err.msg);
    free(b);
}

static const char *py_write =
    "import sys, torch\n"
    "from safetensors.torch import save_file\n"
    "i = lambda n: torch.arange(n, dtype=torch.float64)\n"
    "t = {'f32': ((i(24) - 5) * 0.375).float().reshape(2, 3, 1, 4),\n"
    "     'f64': (i(6) / 7).reshape(3, 2),\n"
    "     'f16': ((i(16) - 8) * 0.125).half(),\n"
    "     'bf16': ((i(8) - 4) * 0.5).bfloat16().reshape(2, 4),\n"
    "     'i64': (torch.arange(5, dtype=torch.int64) - 3) * 1000000000007,\n"
    "     'i32': (torch.arange(4, dtype=torch.int32) - 3) * 100003,\n"
    "     'u8': (torch.arange(6, dtype=torch.int64) * 37 % 256).to(torch.uint8),\n"
    "     'scalar': torch.tensor(2.5, dtype=torch.float32),\n"
    "     'empty': torch.zeros(0, 7)}\n"
    "save_file(t, sys.argv[1], metadata={'who': 'python', 'n': '9'})\n";

static const char *py_check =
    "import sys, torch\n"
    "from safetensors.torch import load_file\n"
    "from safetensors import safe_open\n"
    "t = load_file(sys.argv[1])\n"
    "with safe_open(sys.argv[1], 'pt') as f: m = f.metadata()\n"
    "i = lambda n: torch.arange(n, dtype=torch.float64)\n"
    "ok = m == {'a': 'b', 'c': 'd\\u00e9'}\n"
    "ok &= t['f32'].dtype == torch.float32 and t['f32'].shape == (2, 3, 1, 4)\n"
    "ok &= bool((t['f32'].double() == ((i(24) - 5) * 0.375).reshape(2, 3, 1, 4)).all())\n"
    "ok &= t['f64'].dtype == torch.float64 and bool((t['f64'] == (i(6) / 7).reshape(3, 2)).all())\n"
    "ok &= t['i64'].tolist() == [-3000000000021, 0, 1000000000007]\n"
    "ok &= t['i32'].dtype == torch.int32 and t['i32'].tolist() == [-7, 2147483647]\n"
    "ok &= t['u8'].dtype == torch.uint8 and t['u8'].tolist() == [[0, 200], [255, 7]]\n"
    "ok &= t['s'].shape == () and t['s'].item() == -0.5 and t['z'].shape == (3, 0)\n"
    "sys.exit(0 if ok else 1)\n";

/* Files written by the Python safetensors package read correctly; ours read back there. */
static void test_python_interop(void)
{
    char script[512], file[512], cmd[2048];
    FILE *f;
    st_file sf;
    lsd_err err;
    if (!test_have_python_module("torch, safetensors, numpy")) {
        test_skip("python3 with torch and safetensors not available (%s): interop skipped",
                  test_python());
        return;
    }
    tmp_path(script, sizeof script, "st_write.py");
    tmp_path(file, sizeof file, "from_python.safetensors");
    f = fopen(script, "w");
    if (!f || fputs(py_write, f) < 0 || fclose(f) != 0) {
        CHECK(0, "cannot write %s", script);
        return;
    }
    snprintf(cmd, sizeof cmd, "%s '%s' '%s'", test_python(), script, file);
    if (system(cmd) != 0) {
        CHECK(0, "python writer failed: %s", cmd);
        return;
    }
    if (st_open(&sf, file, &err) != LSD_OK) {
        CHECK(0, "python file rejected: %s", err.msg);
        return;
    }
    {
        double g[24];
        real gr[24];
        int64_t gi[6];
        int64_t s4[4] = {2, 3, 1, 4}, s32[2] = {3, 2}, sb[2] = {2, 4}, se[2] = {0, 7};
        int i, ok;
        CHECK(sf.n == 9 && st_meta(&sf, "who") && !strcmp(st_meta(&sf, "who"), "python") &&
              st_meta(&sf, "n") && !strcmp(st_meta(&sf, "n"), "9"), "python entries and metadata");
        ok = st_read_f64(&sf, "f32", g, 24, 4, s4, &err) == LSD_OK;
        for (i = 0; ok && i < 24; i++) ok = g[i] == (i - 5) * 0.375;
        CHECK(ok, "python F32 values: %s", err.msg);
        ok = st_read_f64(&sf, "f64", g, 6, 2, s32, &err) == LSD_OK;
        for (i = 0; ok && i < 6; i++) ok = g[i] == i / 7.0;
        CHECK(ok, "python F64 values: %s", err.msg);
        ok = st_read_real(&sf, "f16", gr, 16, -1, NULL, &err) == LSD_OK;
        for (i = 0; ok && i < 16; i++) ok = gr[i] == (real)((i - 8) * 0.125);
        CHECK(ok, "python F16 values: %s", err.msg);
        ok = st_read_f64(&sf, "bf16", g, 8, 2, sb, &err) == LSD_OK;
        for (i = 0; ok && i < 8; i++) ok = g[i] == (i - 4) * 0.5;
        CHECK(ok, "python BF16 values: %s", err.msg);
        ok = st_read_i64(&sf, "i64", gi, 5, -1, NULL, &err) == LSD_OK;
        for (i = 0; ok && i < 5; i++) ok = gi[i] == (i - 3) * 1000000000007LL;
        CHECK(ok, "python I64 values: %s", err.msg);
        ok = st_read_i64(&sf, "i32", gi, 4, -1, NULL, &err) == LSD_OK;
        for (i = 0; ok && i < 4; i++) ok = gi[i] == (i - 3) * 100003LL;
        CHECK(ok, "python I32 values: %s", err.msg);
        ok = st_read_i64(&sf, "u8", gi, 6, -1, NULL, &err) == LSD_OK;
        for (i = 0; ok && i < 6; i++) ok = gi[i] == i * 37 % 256;
        CHECK(ok, "python U8 values: %s", err.msg);
        CHECK(st_read_f64(&sf, "scalar", g, 1, 0, NULL, &err) == LSD_OK && g[0] == 2.5,
              "python 0-d value");
        CHECK(st_read_real(&sf, "empty", gr, 0, 2, se, &err) == LSD_OK, "python zero-size");
    }
    st_close(&sf);

    {   /* ours, read by Python */
        float f32[24];
        double f64[6];
        int64_t i64[3] = {-3000000000021LL, 0, 1000000000007LL};
        int32_t i32[2] = {-7, 2147483647};
        uint8_t u8[4] = {0, 200, 255, 7};
        float s = -0.5f;
        int64_t s4[4] = {2, 3, 1, 4}, s32[2] = {3, 2}, s3[1] = {3}, s2[1] = {2}, s22[2] = {2, 2},
                sz[2] = {3, 0};
        st_writer w;
        int i, ok;
        for (i = 0; i < 24; i++) f32[i] = (float)((i - 5) * 0.375);
        for (i = 0; i < 6; i++) f64[i] = i / 7.0;
        st_writer_init(&w);
        ok = st_writer_add(&w, "f32", ST_F32, 4, s4, f32, &err) == LSD_OK;
        ok &= st_writer_add(&w, "f64", ST_F64, 2, s32, f64, &err) == LSD_OK;
        ok &= st_writer_add(&w, "i64", ST_I64, 1, s3, i64, &err) == LSD_OK;
        ok &= st_writer_add(&w, "i32", ST_I32, 1, s2, i32, &err) == LSD_OK;
        ok &= st_writer_add(&w, "u8", ST_U8, 2, s22, u8, &err) == LSD_OK;
        ok &= st_writer_add(&w, "s", ST_F32, 0, NULL, &s, &err) == LSD_OK;
        ok &= st_writer_add(&w, "z", ST_F32, 2, sz, NULL, &err) == LSD_OK;
        ok &= st_writer_meta(&w, "a", "b", &err) == LSD_OK;
        ok &= st_writer_meta(&w, "c", "d\xC3\xA9", &err) == LSD_OK;
        tmp_path(file, sizeof file, "to_python.safetensors");
        ok &= st_writer_save(&w, file, &err) == LSD_OK;
        st_writer_free(&w);
        CHECK(ok, "write file for python: %s", err.msg);
        tmp_path(script, sizeof script, "st_check.py");
        f = fopen(script, "w");
        if (!f || fputs(py_check, f) < 0 || fclose(f) != 0) {
            CHECK(0, "cannot write %s", script);
            return;
        }
        snprintf(cmd, sizeof cmd, "%s '%s' '%s'", test_python(), script, file);
        CHECK(system(cmd) == 0, "python reads our file with the right values: %s", cmd);
    }
}

/* ---- every dtype of the format, from files written by the Python safetensors package
 * (tests/data/safetensors_dtypes.py) and the values Python decoded (expected.txt) */

#define DTYPE_DIR "tests/data/dtypes"
#define MAX_BLOCKS 64

/* One tensor of expected.txt: its file's dtype, name, shape, stored bytes (hex) and values. */
typedef struct {
    char dtype[16], name[32];
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const char *raw;      /* hex digits, NUL-terminated in place */
    char kind;            /* 'i' int, 'f' float, 'n' none */
    long f24, f53, i64;   /* int: first element not exact in float / double, above INT64_MAX */
    const char *values;   /* the value tokens */
} dt_block;

/* The next space-separated token of *p (NUL-terminated in place), or NULL at the end. */
static char *next_tok(char **p)
{
    char *s = *p, *t;
    while (*s == ' ') s++;
    if (!*s) return NULL;
    t = s;
    while (*s && *s != ' ') s++;
    if (*s) *s++ = '\0';
    *p = s;
    return t;
}

/* Parses expected.txt (text, modified in place) into at most cap blocks; returns the count,
 * or -1 on a malformed line. */
static int parse_expected(char *text, dt_block *b, int cap)
{
    int n = 0;
    char *line = text, *nl, *p, *t;
    for (; *line; line = nl) {
        nl = strchr(line, '\n');
        if (nl) *nl++ = '\0';
        else nl = line + strlen(line);
        p = line;
        t = next_tok(&p);
        if (!t || t[0] == '#') continue;
        if (!strcmp(t, "tensor")) {
            char *dt = next_tok(&p), *nm = next_tok(&p), *nd = next_tok(&p);
            int i;
            if (n == cap || !dt || !nm || !nd || strlen(dt) >= 16 || strlen(nm) >= 32) return -1;
            memset(&b[n], 0, sizeof b[n]);
            strcpy(b[n].dtype, dt);
            strcpy(b[n].name, nm);
            b[n].ndim = atoi(nd);
            if (b[n].ndim < 0 || b[n].ndim > ST_MAX_DIMS) return -1;
            for (i = 0; i < b[n].ndim; i++) {
                if (!(t = next_tok(&p))) return -1;
                b[n].shape[i] = strtoll(t, NULL, 10);
            }
            n++;
        } else if (n == 0) {
            return -1;
        } else if (!strcmp(t, "raw")) {
            b[n - 1].raw = (t = next_tok(&p)) ? t : "";
        } else if (!strcmp(t, "int")) {
            char *a = next_tok(&p), *c = next_tok(&p), *d = next_tok(&p);
            if (!a || !c || !d) return -1;
            b[n - 1].kind = 'i';
            b[n - 1].f24 = atol(a);
            b[n - 1].f53 = atol(c);
            b[n - 1].i64 = atol(d);
            b[n - 1].values = p;
        } else if (!strcmp(t, "float")) {
            b[n - 1].kind = 'f';
            b[n - 1].values = p;
        } else if (!strcmp(t, "none")) {
            b[n - 1].kind = 'n';
        } else
            return -1;
    }
    return n;
}

/* Value of hex digit c (-1 if none). */
static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Checks a failed read: code rc, the tensor's name and (if elem >= 0) the element named. */
static void expect_refusal(const dt_block *b, const char *what, int rc, int want_rc, long elem,
                           const char *want, const lsd_err *err)
{
    char nm[64], el[64];
    snprintf(nm, sizeof nm, "'%s'", b->name);
    snprintf(el, sizeof el, "element %ld ", elem);
    CHECK(rc == want_rc && strstr(err->msg, nm) && (elem < 0 || strstr(err->msg, el)) &&
              strstr(err->msg, want),
          "%s '%s' %s: refused with code %d (want %d), message must name the tensor%s and say "
          "'%s': %s", b->dtype, b->name, what, rc, want_rc, elem >= 0 ? " and the element" : "",
          want, err->msg);
}

/* Reads block b's tensor from its file with every reader and compares against Python. */
static void check_block(const dt_block *b)
{
    char path[256], nm[64];
    st_file sf;
    lsd_err err;
    const st_entry *e;
    size_t n, i, nraw;
    unsigned char *raw = NULL, *got = NULL;
    double *ev = NULL, *g64 = NULL;
    real *gr = NULL;
    int64_t *gi = NULL;
    int ok, rc, isdouble = sizeof(real) == sizeof(double);
    snprintf(path, sizeof path, "%s/%.15s.safetensors", DTYPE_DIR, b->dtype);
    snprintf(nm, sizeof nm, "%.15s '%.31s'", b->dtype, b->name);
    if (st_open(&sf, path, &err) != LSD_OK) {
        CHECK(0, "%s: the file Python wrote is refused: %s", nm, err.msg);
        return;
    }
    e = st_find(&sf, b->name);
    ok = e && !strcmp(st_dtype_name(e->dtype), b->dtype) && e->ndim == b->ndim;
    for (i = 0; ok && i < (size_t)b->ndim; i++) ok = e->shape[i] == b->shape[i];
    CHECK(ok, "%s: entry with Python's dtype and shape", nm);
    if (!ok) {
        st_close(&sf);
        return;
    }
    n = (size_t)e->nelem;
    nraw = strlen(b->raw) / 2;
    raw = (unsigned char *)test_alloc(nraw + 1);
    got = (unsigned char *)test_alloc(nraw + 1);
    ev = (double *)test_alloc((n + 1) * sizeof *ev);
    g64 = (double *)test_alloc((n + 1) * sizeof *g64);
    gr = (real *)test_alloc((n + 1) * sizeof *gr);
    gi = (int64_t *)test_alloc((n + 1) * sizeof *gi);
    for (i = 0; i < nraw; i++) raw[i] = (unsigned char)(hexval(b->raw[2 * i]) * 16 + hexval(b->raw[2 * i + 1]));
    err.msg[0] = '\0';
    CHECK(st_read_raw(&sf, b->name, got, nraw, &err) == LSD_OK && memcmp(got, raw, nraw) == 0 &&
              nraw == e->end - e->begin,
          "%s: raw bytes as Python stored them (%lu bytes): %s", nm, (unsigned long)nraw, err.msg);

    if (b->kind == 'n') {
        err.msg[0] = '\0';
        rc = st_read_real(&sf, b->name, gr, n, -1, NULL, &err);
        expect_refusal(b, "into real", rc, LSD_ERR_ARG, -1, "cannot be read as numbers", &err);
        err.msg[0] = '\0';
        rc = st_read_f64(&sf, b->name, g64, n, -1, NULL, &err);
        expect_refusal(b, "into double", rc, LSD_ERR_ARG, -1, "cannot be read as numbers", &err);
        err.msg[0] = '\0';
        rc = st_read_i64(&sf, b->name, gi, n, -1, NULL, &err);
        expect_refusal(b, "into int64", rc, LSD_ERR_ARG, -1, "cannot be read as numbers", &err);
    } else if (b->kind == 'i') {
        /* the decimal strings: int64 by strtoll / strtoull, doubles by strtod */
        char *text = (char *)test_alloc(strlen(b->values) + 1), *p = text, *t;
        int64_t *iv = (int64_t *)test_alloc((n + 1) * sizeof *iv);
        long fr = isdouble ? b->f53 : b->f24;
        strcpy(text, b->values);
        for (i = 0; (t = next_tok(&p)) != NULL && i < n; i++) {
            ev[i] = strtod(t, NULL);
            iv[i] = t[0] == '-' ? strtoll(t, NULL, 10) : (int64_t)strtoull(t, NULL, 10);
        }
        CHECK(i == n && next_tok(&p) == NULL, "%s: %lu expected values", nm, (unsigned long)n);
        err.msg[0] = '\0';
        rc = st_read_i64(&sf, b->name, gi, n, b->ndim, b->shape, &err);
        if (b->i64 < 0) {
            ok = rc == LSD_OK;
            for (i = 0; ok && i < n; i++) ok = gi[i] == iv[i];
            CHECK(ok, "%s: int64 values equal Python's: %s", nm, err.msg);
        } else
            expect_refusal(b, "above INT64_MAX into int64", rc, LSD_ERR_RANGE, b->i64,
                           "above INT64_MAX", &err);
        err.msg[0] = '\0';
        rc = st_read_f64(&sf, b->name, g64, n, -1, NULL, &err);
        if (b->f53 < 0) {
            ok = rc == LSD_OK;
            for (i = 0; ok && i < n; i++) ok = g64[i] == ev[i];
            CHECK(ok, "%s: into double, exactly Python's values: %s", nm, err.msg);
        } else
            expect_refusal(b, "not exact into double", rc, LSD_ERR_RANGE, b->f53,
                           "not exactly representable as double", &err);
        err.msg[0] = '\0';
        rc = st_read_real(&sf, b->name, gr, n, -1, NULL, &err);
        if (fr < 0) {
            ok = rc == LSD_OK;
            for (i = 0; ok && i < n; i++) ok = (double)gr[i] == ev[i];
            CHECK(ok, "%s: into real, exactly Python's values: %s", nm, err.msg);
        } else
            expect_refusal(b, "not exact into real", rc, LSD_ERR_RANGE, fr,
                           isdouble ? "not exactly representable as double"
                                    : "not exactly representable as float", &err);
        free(text);
        free(iv);
    } else {
        /* hex floats, inf, -inf, nan: strtod reads them exactly */
        char *text = (char *)test_alloc(strlen(b->values) + 1), *p = text, *t;
        int is64 = !strcmp(b->dtype, "F64"), exact = 1;
        strcpy(text, b->values);
        for (i = 0; (t = next_tok(&p)) != NULL && i < n; i++) ev[i] = strtod(t, NULL);
        CHECK(i == n && next_tok(&p) == NULL, "%s: %lu expected values", nm, (unsigned long)n);
        err.msg[0] = '\0';
        rc = st_read_f64(&sf, b->name, g64, n, b->ndim, b->shape, &err);
        ok = rc == LSD_OK;
        for (i = 0; ok && i < n; i++)
            ok = isnan(ev[i]) ? isnan(g64[i]) != 0
                              : g64[i] == ev[i] && !signbit(g64[i]) == !signbit(ev[i]);
        CHECK(ok, "%s: into double, bit for bit Python's values (zero signs, inf, NaN; first "
                  "difference at %lu): %s", nm, (unsigned long)(i ? i - 1 : 0), err.msg);
        err.msg[0] = '\0';
        rc = st_read_real(&sf, b->name, gr, n, -1, NULL, &err);
        ok = rc == LSD_OK;
        for (i = 0; ok && i < n; i++) {
            real want = (real)ev[i]; /* F64 into float rounds once; the others are exact */
            if (!isnan(ev[i]) && !is64) exact &= (double)want == ev[i];
            ok = isnan(ev[i]) ? isnan(gr[i]) != 0
                              : gr[i] == want && !signbit(gr[i]) == !signbit(want);
        }
        CHECK(ok && exact, "%s: into real, Python's values (exactly, except F64 into float): %s",
              nm, err.msg);
        err.msg[0] = '\0';
        rc = st_read_i64(&sf, b->name, gi, n, -1, NULL, &err);
        expect_refusal(b, "into int64", rc, LSD_ERR_ARG, -1, "not an integer dtype", &err);
        free(text);
    }
    free(raw);
    free(got);
    free(ev);
    free(g64);
    free(gr);
    free(gi);
    st_close(&sf);
}

/* Loads expected.txt into blocks (the text stays allocated in *text); returns the count, or
 * -1 after a visible skip or a failed check. */
static int load_expected(dt_block *blocks, char **text)
{
    size_t n;
    int nb;
    *text = (char *)read_bytes(DTYPE_DIR "/expected.txt", &n);
    if (!*text) {
        test_skip("%s/expected.txt not found (run from the repository root; regenerate with "
                  "tests/data/safetensors_dtypes.py): dtype files not checked", DTYPE_DIR);
        return -1;
    }
    (*text)[n] = '\0';
    nb = parse_expected(*text, blocks, MAX_BLOCKS);
    if (!CHECK(nb > 0, "%s/expected.txt parses", DTYPE_DIR)) return -1;
    return nb;
}

static void test_dtype_files(void)
{
    dt_block blocks[MAX_BLOCKS];
    char *text;
    int nb = load_expected(blocks, &text), i, dt, have;
    if (nb < 0) {
        free(text);
        return;
    }
    for (dt = 0; dt < ST_NDTYPES; dt++) { /* every dtype the reader knows has a Python file */
        have = 0;
        for (i = 0; i < nb; i++) have |= !strcmp(blocks[i].dtype, st_dtype_name((st_dtype)dt));
        CHECK(have, "dtype %s has a file written by Python in %s", st_dtype_name((st_dtype)dt),
              DTYPE_DIR);
    }
    for (i = 0; i < nb; i++) check_block(&blocks[i]);
    free(text);
}

/* Byte lengths that do not fit the dtype, sub-byte counts that leave a partial byte, and the
 * spellings that are not the format's. */
static void test_dtype_malformed(void)
{
#define DT_ENT(dt, shape, end) \
    "{\"a\":{\"dtype\":\"" dt "\",\"shape\":[" shape "],\"data_offsets\":[0," #end "]}}"
    reject_header("i16_odd", DT_ENT("I16", "1", 3), 3,
                  "byte length 3 does not match dtype I16 x 1 elements = 2 bytes");
    reject_header("i16_short", DT_ENT("I16", "2", 3), 3, "does not match dtype I16");
    reject_header("u16_long", DT_ENT("U16", "1", 4), 4, "does not match dtype U16");
    reject_header("i8_long", DT_ENT("I8", "3", 4), 4, "does not match dtype I8 x 3 elements");
    reject_header("u32_short", DT_ENT("U32", "2", 7), 7, "does not match dtype U32");
    reject_header("u64_short", DT_ENT("U64", "1", 7), 7, "does not match dtype U64");
    reject_header("bool_short", DT_ENT("BOOL", "2", 1), 1, "does not match dtype BOOL");
    reject_header("f8_long", DT_ENT("F8_E4M3", "2", 3), 3, "does not match dtype F8_E4M3");
    reject_header("e8m0_short", DT_ENT("F8_E8M0", "2,2", 3), 3, "does not match dtype F8_E8M0");
    reject_header("c64_half", DT_ENT("C64", "1", 4), 4, "does not match dtype C64 x 1 elements = 8");
    reject_header("f4_partial", DT_ENT("F4", "3", 2), 2,
                  "3 elements of F4 (4 bits each) do not fill a whole number of bytes");
    reject_header("f4_scalar", DT_ENT("F4", "", 1), 1, "1 elements of F4");
    reject_header("f6_partial", DT_ENT("F6_E3M2", "2", 2), 2, "F6_E3M2 (6 bits each)");
    reject_header("f6_length", DT_ENT("F6_E2M3", "4", 4), 4,
                  "does not match dtype F6_E2M3 x 4 elements = 3 bytes");
    reject_header("f4_huge", DT_ENT("F4", "4611686018427387904", 0), 0,
                  "does not match dtype F4 x 4611686018427387904 elements = 2305843009213693952 "
                  "bytes");
    reject_header("torch_spelling", DT_ENT("F8_E4M3FN", "1", 1), 1,
                  "unknown dtype 'F8_E4M3FN' (the format's dtypes: BOOL U8 I8");
    reject_header("lower_case", DT_ENT("i16", "1", 2), 2, "unknown dtype 'i16'");
#undef DT_ENT
    {   /* a packed tensor whose count fills whole bytes: raw bytes, no numbers */
        const char *h = "{\"p\":{\"dtype\":\"F4\",\"shape\":[2,3],\"data_offsets\":[0,3]},"
                        "\"q\":{\"dtype\":\"F6_E2M3\",\"shape\":[8],\"data_offsets\":[3,9]}}";
        size_t n, hb = strlen(h);
        unsigned char *b = build_file(hb, h, hb, 9, &n), raw[9];
        st_file sf;
        lsd_err err;
        real r[8];
        if (!b) return;
        if (st_open_mem(&sf, b, n, "packed", &err) == LSD_OK) {
            const st_entry *e = st_find(&sf, "p");
            CHECK(e && e->nelem == 6 && e->end - e->begin == 3 && st_dtype_bits(e->dtype) == 4,
                  "F4 (2, 3) takes 3 bytes");
            CHECK(st_read_raw(&sf, "q", raw, 6, &err) == LSD_OK && raw[0] == 0xAB,
                  "F6 raw bytes: %s", err.msg);
            CHECK(st_read_real(&sf, "p", r, 6, -1, NULL, &err) == LSD_ERR_ARG &&
                      strstr(err.msg, "F4 tensor 'p' cannot be read as numbers") &&
                      strstr(err.msg, "packed"), "F4 into real refused: %s", err.msg);
            st_close(&sf);
        } else
            CHECK(0, "packed F4/F6 file rejected: %s", err.msg);
        free(b);
    }
}

/* The writer stores the new integer kinds, BOOL and F8 bits little-endian; Python (numpy)
 * reads the integers back; F4, F6 and C64 are refused. */
static void test_writer_dtypes(void)
{
    int8_t i8[3] = {-128, -1, 127};
    int16_t i16[3] = {-2, (int16_t)-32768, 32767};
    uint16_t u16[2] = {65535, 258};
    uint32_t u32[2] = {4294967295u, 16909060u};
    uint64_t u64[2] = {18446744073709551615ull, 72623859790382856ull};
    uint8_t bl[3] = {0, 1, 7}, f8[2] = {0x7E, 0xFF};
    int64_t s3[1] = {3}, s2[1] = {2};
    st_writer w;
    st_file sf;
    lsd_err err;
    char path[512], script[512], cmd[2048];
    unsigned char raw[24];
    int64_t gi[3];
    double g[2];
    real gr[3];
    int ok;
    FILE *f;
    tmp_path(path, sizeof path, "writer_dtypes.safetensors");
    st_writer_init(&w);
    ok = st_writer_add(&w, "i8", ST_I8, 1, s3, i8, &err) == LSD_OK;
    ok &= st_writer_add(&w, "i16", ST_I16, 1, s3, i16, &err) == LSD_OK;
    ok &= st_writer_add(&w, "u16", ST_U16, 1, s2, u16, &err) == LSD_OK;
    ok &= st_writer_add(&w, "u32", ST_U32, 1, s2, u32, &err) == LSD_OK;
    ok &= st_writer_add(&w, "u64", ST_U64, 1, s2, u64, &err) == LSD_OK;
    ok &= st_writer_add(&w, "bool", ST_BOOL, 1, s3, bl, &err) == LSD_OK;
    ok &= st_writer_add(&w, "f8", ST_F8_E4M3, 1, s2, f8, &err) == LSD_OK;
    CHECK(ok, "writer takes I8 I16 U16 U32 U64 BOOL F8_E4M3: %s", err.msg);
    CHECK(st_writer_add(&w, "f4", ST_F4, 1, s2, f8, &err) == LSD_ERR_ARG &&
              strstr(err.msg, "does not store F4"), "writer refuses F4: %s", err.msg);
    CHECK(st_writer_add(&w, "c", ST_C64, 1, s2, u64, &err) == LSD_ERR_ARG, "writer refuses C64");
    CHECK(st_writer_save(&w, path, &err) == LSD_OK, "save new dtypes: %s", err.msg);
    st_writer_free(&w);
    if (st_open(&sf, path, &err) != LSD_OK) {
        CHECK(0, "open new dtypes: %s", err.msg);
        return;
    }
    CHECK(st_read_raw(&sf, "i16", raw, 6, &err) == LSD_OK && raw[0] == 0xFE && raw[1] == 0xFF &&
              raw[2] == 0x00 && raw[3] == 0x80 && raw[4] == 0xFF && raw[5] == 0x7F,
          "I16 little-endian on disk");
    CHECK(st_read_raw(&sf, "u32", raw, 8, &err) == LSD_OK && raw[4] == 0x04 && raw[5] == 0x03 &&
              raw[6] == 0x02 && raw[7] == 0x01, "U32 little-endian on disk");
    CHECK(st_read_raw(&sf, "u64", raw, 16, &err) == LSD_OK && raw[8] == 0x08 && raw[15] == 0x01,
          "U64 little-endian on disk");
    CHECK(st_read_raw(&sf, "bool", raw, 3, &err) == LSD_OK && raw[0] == 0 && raw[1] == 1 &&
              raw[2] == 1, "BOOL stored as 0/1");
    CHECK(st_read_i64(&sf, "i8", gi, 3, 1, s3, &err) == LSD_OK && gi[0] == -128 && gi[1] == -1 &&
              gi[2] == 127, "I8 round trip: %s", err.msg);
    CHECK(st_read_i64(&sf, "i16", gi, 3, 1, s3, &err) == LSD_OK && gi[0] == -2 &&
              gi[1] == -32768 && gi[2] == 32767, "I16 round trip: %s", err.msg);
    CHECK(st_read_i64(&sf, "u64", gi, 2, 1, s2, &err) == LSD_ERR_RANGE &&
              strstr(err.msg, "'u64': element 0 (U64 18446744073709551615) is above INT64_MAX"),
          "U64 above INT64_MAX refused naming tensor and element: %s", err.msg);
    CHECK(st_read_f64(&sf, "f8", g, 2, 1, s2, &err) == LSD_OK && g[0] == 448.0 && isnan(g[1]) &&
              signbit(g[1]), "F8_E4M3 bits: 448 and -NaN: %s", err.msg);
    CHECK(st_read_real(&sf, "bool", gr, 3, -1, NULL, &err) == LSD_ERR_ARG &&
              strstr(err.msg, "BOOL tensor 'bool' cannot be read as numbers") &&
              strstr(err.msg, "U8"), "BOOL into real refused, saying what to do: %s", err.msg);
    st_close(&sf);
    if (!test_have_python_module("numpy, safetensors")) {
        test_skip("python3 with numpy and safetensors not available: new dtypes not read by "
                  "Python");
        return;
    }
    tmp_path(script, sizeof script, "st_check_dtypes.py");
    f = fopen(script, "w");
    if (!f || fputs("import sys\nfrom safetensors import safe_open\n"
                    "with safe_open(sys.argv[1], 'np') as s:\n"   /* numpy has no F8 */
                    "    t = {k: s.get_tensor(k) for k in s.keys() if k != 'f8'}\n"
                    "ok = t['i8'].tolist() == [-128, -1, 127] and t['i8'].dtype.name == 'int8'\n"
                    "ok &= t['i16'].tolist() == [-2, -32768, 32767] and t['i16'].dtype.name == 'int16'\n"
                    "ok &= t['u16'].tolist() == [65535, 258] and t['u16'].dtype.name == 'uint16'\n"
                    "ok &= t['u32'].tolist() == [4294967295, 16909060]\n"
                    "ok &= t['u64'].tolist() == [2**64 - 1, 72623859790382856]\n"
                    "ok &= t['bool'].tolist() == [False, True, True]\n"
                    "sys.exit(0 if ok else 1)\n", f) < 0 || fclose(f) != 0) {
        CHECK(0, "cannot write %s", script);
        return;
    }
    snprintf(cmd, sizeof cmd, "%s '%s' '%s'", test_python(), script, path);
    CHECK(system(cmd) == 0, "Python reads the new dtypes we wrote with their values: %s", cmd);
    remove(path);
}

/* 'lsdseg info' lists the tensor of every dtype file: name, dtype and shape. */
static void test_info_dtypes(const char *exe)
{
    dt_block blocks[MAX_BLOCKS];
    char *text, out[4096], shape[128];
    int nb = load_expected(blocks, &text), i, j, rc;
    if (nb < 0) {
        free(text);
        return;
    }
    for (i = 0; i < nb; i++) {
        size_t o = 0;
        o += (size_t)snprintf(shape, sizeof shape, "(");
        for (j = 0; j < blocks[i].ndim && o < sizeof shape; j++)
            o += (size_t)snprintf(shape + o, sizeof shape - o, j ? ", %lld" : "%lld",
                                  (long long)blocks[i].shape[j]);
        if (o < sizeof shape) snprintf(shape + o, sizeof shape - o, ")");
        rc = test_run(out, sizeof out, "'%s' info '%s/%s.safetensors'", exe, DTYPE_DIR,
                      blocks[i].dtype);
        {   /* the tensor's own line: name, dtype, shape, count */
            int found = 0;
            char *line = out, *nl, *p, *t;
            for (; *line && !found; line = nl) {
                nl = strchr(line, '\n');
                if (nl) *nl++ = '\0';
                else nl = line + strlen(line);
                p = line;
                if (!(t = next_tok(&p)) || strcmp(t, blocks[i].name)) continue;
                if (!(t = next_tok(&p)) || strcmp(t, blocks[i].dtype)) continue;
                found = strstr(p, shape) != NULL;
            }
            CHECK(rc == 0 && found, "lsdseg info lists %s '%s' %s (exit status %d)",
                  blocks[i].dtype, blocks[i].name, shape, rc);
        }
    }
    free(text);
}

/* 'lsdseg info' prints the table and the total, and fails with the reader's message. */
static void test_info_command(void)
{
    const char *exe = getenv("LSD_LSDSEG");
    char file[512], out[512], cmd[2048], *text;
    size_t n;
    st_writer w;
    lsd_err err;
    float v[12] = {0};
    int64_t s[3] = {2, 3, 2};
    uint8_t u = 1;
    int rc;
    if (!exe || !*exe) {
        test_skip("LSD_LSDSEG not set: 'lsdseg info' not checked");
        return;
    }
    tmp_path(file, sizeof file, "info.safetensors");
    tmp_path(out, sizeof out, "info.txt");
    st_writer_init(&w);
    rc = st_writer_add(&w, "conv.weight", ST_F32, 3, s, v, &err);
    if (!rc) rc = st_writer_add(&w, "flag", ST_U8, 0, NULL, &u, &err);
    if (!rc) rc = st_writer_meta(&w, "epoch", "7", &err);
    if (!rc) rc = st_writer_save(&w, file, &err);
    st_writer_free(&w);
    CHECK(rc == LSD_OK, "write info file: %s", err.msg);
    snprintf(cmd, sizeof cmd, "'%s' info '%s' >'%s' 2>&1", exe, file, out);
    rc = system(cmd);
    text = (char *)read_bytes(out, &n);
    if (text) text[n] = '\0';
    CHECK(rc == 0 && text && strstr(text, "conv.weight") && strstr(text, "(2, 3, 2)") &&
          strstr(text, "epoch = 7") && strstr(text, "total parameters: 13"),
          "lsdseg info output: %s", text ? text : "(none)");
    free(text);
    {
        static const char bad[] = "\x07\0\0\0\0\0\0\0{\"a\":1}";
        char badpath[512];
        tmp_path(badpath, sizeof badpath, "info_bad.safetensors");
        write_bytes(badpath, bad, sizeof bad - 1);
        snprintf(cmd, sizeof cmd, "'%s' info '%s' >'%s' 2>&1", exe, badpath, out);
        rc = system(cmd);
        text = (char *)read_bytes(out, &n);
        if (text) text[n] = '\0';
        CHECK(rc != 0 && text && strstr(text, "not an object") && strstr(text, badpath),
              "lsdseg info on a bad file fails with the message: %s", text ? text : "(none)");
        free(text);
        remove(badpath);
    }
    remove(file);
    remove(out);
    test_info_dtypes(exe);
}

int main(void)
{
    test_begin("safetensors");
    CHECK(st_dtype_size(ST_F32) == 4 && st_dtype_size(ST_BF16) == 2 && st_dtype_size(ST_I64) == 8,
          "dtype sizes");
    CHECK(!strcmp(st_dtype_name(ST_BF16), "BF16") && !strcmp(st_dtype_name(ST_U8), "U8"),
          "dtype names");
    test_roundtrip();
    test_half_conversion();
    test_valid_handmade();
    test_malformed();
    test_python_interop();
    test_dtype_files();
    test_dtype_malformed();
    test_writer_dtypes();
    test_info_command();
    return test_summary();
}
