/*
 * inflate.c - zlib inflate and deflate, CRC-32 and Adler-32, from RFC 1950,
 * RFC 1951 and the PNG specification (see inflate.h for the contract).
 *
 * Decoding uses two-level lookup tables: the low ROOT_BITS bits of the bit
 * buffer index a primary table whose entries are either a symbol with its
 * code length or a link to a subtable for the longer codes sharing that
 * prefix. The bit buffer is 64 bits wide and refilled byte by byte, so one
 * refill covers a whole length/distance pair (at most 48 bits). Past the end
 * of the input the buffer is filled with zero bytes; consuming any of them is
 * reported as a truncated stream.
 */
#include <stdlib.h>
#include <string.h>

#include "inflate.h"

/* ---------------------------------------------------------------- checksums */

static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
    0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
    0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
    0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
    0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
    0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
    0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
    0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
    0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
    0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
    0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
    0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
    0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
    0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
    0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
    0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
    0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
    0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
    0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

/* CRC-32 of buf continuing from crc, one table lookup per byte. */
uint32_t crc32_update(uint32_t crc, const uint8_t *buf, size_t len)
{
    size_t i;
    crc = ~crc;
    for (i = 0; i < len; i++) crc = crc_table[(crc ^ buf[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

/* Adler-32 of buf continuing from adler; sums are reduced every 5552 bytes, the most
 * that cannot overflow 32 bits (RFC 1950, section 9). */
uint32_t adler32_update(uint32_t adler, const uint8_t *buf, size_t len)
{
    uint32_t a = adler & 0xFFFFu, b = adler >> 16;
    while (len > 0) {
        size_t n = len < 5552 ? len : 5552, i;
        for (i = 0; i < n; i++) {
            a += buf[i];
            b += a;
        }
        a %= 65521u;
        b %= 65521u;
        buf += n;
        len -= n;
    }
    return (b << 16) | a;
}

/* ---------------------------------------------------------------- inflate */

#define ROOT_BITS 10
#define ROOT_SIZE (1u << ROOT_BITS)
/* A subtable holds at most 2^(15-ROOT_BITS) entries and each needs a distinct long code. */
#define LIT_TABLE_SIZE (ROOT_SIZE + 288u * (1u << (15 - ROOT_BITS)))
#define DIST_TABLE_SIZE (ROOT_SIZE + 32u * (1u << (15 - ROOT_BITS)))

/* Table entry: bits 0-4 code length, bits 5-7 kind, bits 8-11 subtable bits (links),
 * bits 16-31 symbol or subtable offset. */
#define E_SYM 0u
#define E_LINK 1u
#define E_BAD 2u
#define E_LEN(e) ((e) & 31u)
#define E_KIND(e) (((e) >> 5) & 7u)
#define E_SUB(e) (((e) >> 8) & 15u)
#define E_VAL(e) ((e) >> 16)
#define E_INVALID (E_BAD << 5)

/* Which incomplete codes a table may be built from (RFC 1951 allows one distance code;
 * zlib also accepts a single literal/length code of one bit and no distance codes). */
enum { CODE_LENGTHS, CODE_LITLEN, CODE_DIST };

typedef struct {
    const uint8_t *in;
    size_t len, pos; /* pos counts the zero bytes fed past the end too */
    uint64_t buf;    /* unread bits, least significant first */
    unsigned cnt;    /* number of bits in buf */
} bitreader;

typedef struct {
    uint32_t lit[LIT_TABLE_SIZE];
    uint32_t dist[DIST_TABLE_SIZE];
    uint32_t fixed_lit[LIT_TABLE_SIZE];
    uint32_t fixed_dist[DIST_TABLE_SIZE];
    int have_fixed;
} inflate_tables;

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,
                                      15, 17, 19, 23, 27, 31, 35, 43, 51,  59,
                                      67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,
                                       17,   25,   33,   49,   65,   97,    129,   193,
                                       257,  385,  513,  769,  1025, 1537,  2049,  3073,
                                       4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
/* The order in which code-length code lengths are stored (RFC 1951, 3.2.7). */
static const uint8_t cl_order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                     11, 4,  12, 3, 13, 2, 14, 1, 15};

/* Tops the bit buffer up to at least 57 bits; returns 1 if bits past the end of the input
 * have already been consumed (the stream is truncated). */
static int refill(bitreader *br)
{
    if (br->pos + 8 <= br->len) {
        while (br->cnt <= 56) {
            br->buf |= (uint64_t)br->in[br->pos++] << br->cnt;
            br->cnt += 8;
        }
        return 0;
    }
    if (br->pos > br->len && (uint64_t)(br->pos - br->len) * 8 > br->cnt) return 1;
    while (br->cnt <= 56) {
        uint64_t v = br->pos < br->len ? br->in[br->pos] : 0;
        br->buf |= v << br->cnt;
        br->pos++;
        br->cnt += 8;
    }
    return 0;
}

/* Takes n (<= 32, n <= cnt) bits from the buffer. */
static uint32_t take(bitreader *br, unsigned n)
{
    uint32_t v = (uint32_t)(br->buf & ((((uint64_t)1) << n) - 1));
    br->buf >>= n;
    br->cnt -= n;
    return v;
}

/* 1 if the reader has consumed bits that lie past the end of the input. */
static int overran(const bitreader *br)
{
    return br->pos > br->len && (uint64_t)(br->pos - br->len) * 8 > br->cnt;
}

/* Reverses the low n bits of code (Huffman codes are sent most significant bit first). */
static unsigned reverse_bits(unsigned code, unsigned n)
{
    unsigned r = 0, i;
    for (i = 0; i < n; i++) {
        r = (r << 1) | (code & 1u);
        code >>= 1;
    }
    return r;
}

/* Builds the decoding table of the canonical Huffman code with code lengths lens[0..n)
 * (RFC 1951, 3.2.2), checking that the code is neither over-subscribed nor incomplete
 * (beyond the single-code cases that kind allows). */
static int build_table(const uint8_t *lens, unsigned n, int kind, uint32_t *table, size_t cap,
                       const char *what, lsd_err *err)
{
    unsigned count[16] = {0}, next[16], first[16], sym, len, p, total = 0, max = 0;
    uint8_t submax[ROOT_SIZE];
    long left = 1;
    size_t off = ROOT_SIZE, i;

    for (sym = 0; sym < n; sym++) count[lens[sym]]++;
    for (len = 1; len <= 15; len++) {
        total += count[len];
        if (count[len]) max = len;
        left = left * 2 - (long)count[len];
        if (left < 0) return lsd_fail(err, LSD_ERR_FORMAT, "over-subscribed %s code", what);
    }
    if (total == 0 && kind != CODE_DIST)
        return lsd_fail(err, LSD_ERR_FORMAT, "%s code has no symbols", what);
    if (left > 0 && total > 0 && (kind == CODE_LENGTHS || max != 1))
        return lsd_fail(err, LSD_ERR_FORMAT, "incomplete %s code", what);

    next[1] = 0;
    count[0] = 0;
    for (len = 2; len <= 15; len++) next[len] = (next[len - 1] + count[len - 1]) << 1;
    memcpy(first, next, sizeof first);
    for (i = 0; i < ROOT_SIZE; i++) table[i] = E_INVALID;

    /* longest code behind each root prefix: sizes the subtables */
    memset(submax, 0, sizeof submax);
    for (sym = 0; sym < n; sym++) {
        len = lens[sym];
        if (len > ROOT_BITS) {
            p = reverse_bits(next[len], len) & (ROOT_SIZE - 1);
            if (len > submax[p]) submax[p] = (uint8_t)len;
        }
        if (len) next[len]++;
    }
    for (p = 0; p < ROOT_SIZE; p++) {
        size_t sub;
        if (!submax[p]) continue;
        sub = (size_t)1 << (submax[p] - ROOT_BITS);
        if (off + sub > cap) return lsd_fail(err, LSD_ERR_FORMAT, "%s code too large", what);
        table[p] = ((uint32_t)off << 16) | ((uint32_t)(submax[p] - ROOT_BITS) << 8) |
                   (E_LINK << 5);
        for (i = 0; i < sub; i++) table[off + i] = E_INVALID;
        off += sub;
    }

    memcpy(next, first, sizeof next);
    for (sym = 0; sym < n; sym++) {
        uint32_t entry;
        unsigned rev;
        len = lens[sym];
        if (!len) continue;
        rev = reverse_bits(next[len]++, len);
        entry = ((uint32_t)sym << 16) | len;
        if (len <= ROOT_BITS) {
            for (i = rev; i < ROOT_SIZE; i += (size_t)1 << len) table[i] = entry;
        } else {
            uint32_t link = table[rev & (ROOT_SIZE - 1)];
            size_t base = E_VAL(link), sub = (size_t)1 << E_SUB(link);
            for (i = rev >> ROOT_BITS; i < sub; i += (size_t)1 << (len - ROOT_BITS))
                table[base + i] = entry;
        }
    }
    return LSD_OK;
}

/* Decodes one symbol with table (the buffer must hold at least 15 bits); -1 for a bit
 * pattern that is no code. */
static int decode_sym(bitreader *br, const uint32_t *table)
{
    uint32_t e = table[br->buf & (ROOT_SIZE - 1)];
    if (E_KIND(e) == E_LINK)
        e = table[E_VAL(e) + ((br->buf >> ROOT_BITS) & ((1u << E_SUB(e)) - 1))];
    if (E_KIND(e) != E_SYM) return -1;
    br->buf >>= E_LEN(e);
    br->cnt -= E_LEN(e);
    return (int)E_VAL(e);
}

/* Reads the code lengths of a dynamic block and builds its two tables (RFC 1951, 3.2.7). */
static int read_dynamic(bitreader *br, inflate_tables *t, lsd_err *err)
{
    uint8_t cl_lens[19], lens[286 + 30];
    unsigned hlit, hdist, hclen, i, total;
    int rc;

    if (refill(br)) return lsd_fail(err, LSD_ERR_FORMAT, "truncated deflate stream");
    hlit = take(br, 5) + 257;
    hdist = take(br, 5) + 1;
    hclen = take(br, 4) + 4;
    if (hlit > 286) return lsd_fail(err, LSD_ERR_FORMAT, "%u literal/length codes (at most 286)", hlit);
    if (hdist > 30) return lsd_fail(err, LSD_ERR_FORMAT, "%u distance codes (at most 30)", hdist);
    memset(cl_lens, 0, sizeof cl_lens);
    for (i = 0; i < hclen; i++) {
        if (refill(br)) return lsd_fail(err, LSD_ERR_FORMAT, "truncated deflate stream");
        cl_lens[cl_order[i]] = (uint8_t)take(br, 3);
    }
    rc = build_table(cl_lens, 19, CODE_LENGTHS, t->lit, LIT_TABLE_SIZE, "code-length", err);
    if (rc) return rc;

    total = hlit + hdist;
    for (i = 0; i < total;) {
        int sym;
        unsigned rep, val;
        if (refill(br)) return lsd_fail(err, LSD_ERR_FORMAT, "truncated deflate stream");
        sym = decode_sym(br, t->lit);
        if (sym < 0) return lsd_fail(err, LSD_ERR_FORMAT, "invalid code-length code");
        if (sym < 16) {
            lens[i++] = (uint8_t)sym;
            continue;
        }
        if (sym == 16) {
            if (i == 0) return lsd_fail(err, LSD_ERR_FORMAT, "code-length repeat with no previous length");
            val = lens[i - 1];
            rep = 3 + take(br, 2);
        } else if (sym == 17) {
            val = 0;
            rep = 3 + take(br, 3);
        } else {
            val = 0;
            rep = 11 + take(br, 7);
        }
        if (rep > total - i)
            return lsd_fail(err, LSD_ERR_FORMAT, "code-length repeat runs past the %u lengths", total);
        while (rep--) lens[i++] = (uint8_t)val;
    }
    if (lens[256] == 0) return lsd_fail(err, LSD_ERR_FORMAT, "dynamic block has no end-of-block code");
    rc = build_table(lens, hlit, CODE_LITLEN, t->lit, LIT_TABLE_SIZE, "literal/length", err);
    if (rc) return rc;
    return build_table(lens + hlit, hdist, CODE_DIST, t->dist, DIST_TABLE_SIZE, "distance", err);
}

/* Builds the fixed tables of RFC 1951, 3.2.6 (once per call). */
static int build_fixed(inflate_tables *t, lsd_err *err)
{
    uint8_t lens[288];
    int rc;
    memset(lens, 8, 144);
    memset(lens + 144, 9, 112);
    memset(lens + 256, 7, 24);
    memset(lens + 280, 8, 8);
    rc = build_table(lens, 288, CODE_LITLEN, t->fixed_lit, LIT_TABLE_SIZE, "fixed literal", err);
    if (rc) return rc;
    memset(lens, 5, 32);
    rc = build_table(lens, 32, CODE_DIST, t->fixed_dist, DIST_TABLE_SIZE, "fixed distance", err);
    t->have_fixed = rc == LSD_OK;
    return rc;
}

/* Decodes the symbols of one Huffman block into out[*op..out_len). */
static int inflate_block(bitreader *br, const uint32_t *lit, const uint32_t *dist, uint8_t *out,
                         size_t out_len, size_t *op_io, lsd_err *err)
{
    size_t op = *op_io;
    for (;;) {
        int sym;
        unsigned len, d;
        uint8_t *dst;
        const uint8_t *src;
        if (refill(br)) return lsd_fail(err, LSD_ERR_FORMAT, "truncated deflate stream");
        sym = decode_sym(br, lit);
        if (sym < 0) return lsd_fail(err, LSD_ERR_FORMAT, "invalid literal/length code");
        if (sym < 256) {
            if (op >= out_len) goto too_much;
            out[op++] = (uint8_t)sym;
            continue;
        }
        if (sym == 256) break;
        sym -= 257;
        if (sym >= 29) return lsd_fail(err, LSD_ERR_FORMAT, "invalid length symbol %d", sym + 257);
        len = len_base[sym] + take(br, len_extra[sym]);
        sym = decode_sym(br, dist);
        if (sym < 0) return lsd_fail(err, LSD_ERR_FORMAT, "invalid distance code");
        if (sym >= 30) return lsd_fail(err, LSD_ERR_FORMAT, "invalid distance symbol %d", sym);
        d = dist_base[sym] + take(br, dist_extra[sym]);
        if (d > op)
            return lsd_fail(err, LSD_ERR_FORMAT,
                            "distance %u reaches before the start of the output (%lu bytes so far)",
                            d, (unsigned long)op);
        if (len > out_len - op) goto too_much;
        dst = out + op;
        src = dst - d;
        if (d >= len) {
            memcpy(dst, src, len);
        } else if (d == 1) {
            memset(dst, src[0], len);
        } else {
            unsigned i;
            for (i = 0; i < len; i++) dst[i] = src[i];
        }
        op += len;
    }
    *op_io = op;
    return LSD_OK;
too_much:
    return lsd_fail(err, LSD_ERR_FORMAT, "deflate stream holds more than the expected %lu bytes",
                    (unsigned long)out_len);
}

/* Inflates a raw DEFLATE stream into exactly out_len bytes (RFC 1951, 3.2.3). */
int deflate_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
                   size_t *in_used, lsd_err *err)
{
    bitreader br;
    inflate_tables *t;
    size_t op = 0;
    int final = 0, rc = LSD_OK;

    t = (inflate_tables *)malloc(sizeof *t);
    if (!t) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the inflate tables");
    t->have_fixed = 0;
    br.in = in;
    br.len = in_len;
    br.pos = 0;
    br.buf = 0;
    br.cnt = 0;
    while (!final && rc == LSD_OK) {
        unsigned type;
        if (refill(&br)) {
            rc = lsd_fail(err, LSD_ERR_FORMAT, "truncated deflate stream");
            break;
        }
        final = (int)take(&br, 1);
        type = take(&br, 2);
        if (type == 0) {
            size_t n, nn;
            take(&br, br.cnt & 7u);     /* stored blocks start at a byte boundary */
            br.pos -= br.cnt / 8;       /* hand the buffered whole bytes back */
            br.buf = 0;
            br.cnt = 0;
            if (br.pos > br.len || br.len - br.pos < 4) {
                rc = lsd_fail(err, LSD_ERR_FORMAT, "truncated stored block header");
                break;
            }
            n = (size_t)in[br.pos] | ((size_t)in[br.pos + 1] << 8);
            nn = (size_t)in[br.pos + 2] | ((size_t)in[br.pos + 3] << 8);
            br.pos += 4;
            if (n != (~nn & 0xFFFFu)) {
                rc = lsd_fail(err, LSD_ERR_FORMAT, "stored block length %lu does not match its complement",
                              (unsigned long)n);
            } else if (n > br.len - br.pos) {
                rc = lsd_fail(err, LSD_ERR_FORMAT, "truncated stored block");
            } else if (n > out_len - op) {
                rc = lsd_fail(err, LSD_ERR_FORMAT, "deflate stream holds more than the expected %lu bytes",
                              (unsigned long)out_len);
            } else {
                memcpy(out + op, in + br.pos, n);
                br.pos += n;
                op += n;
            }
        } else if (type == 1) {
            if (!t->have_fixed) rc = build_fixed(t, err);
            if (rc == LSD_OK) rc = inflate_block(&br, t->fixed_lit, t->fixed_dist, out, out_len, &op, err);
        } else if (type == 2) {
            rc = read_dynamic(&br, t, err);
            if (rc == LSD_OK) rc = inflate_block(&br, t->lit, t->dist, out, out_len, &op, err);
        } else {
            rc = lsd_fail(err, LSD_ERR_FORMAT, "invalid deflate block type 3");
        }
    }
    free(t);
    if (rc) return rc;
    if (overran(&br)) return lsd_fail(err, LSD_ERR_FORMAT, "truncated deflate stream");
    if (op != out_len)
        return lsd_fail(err, LSD_ERR_FORMAT, "deflate stream ends after %lu of the expected %lu bytes",
                        (unsigned long)op, (unsigned long)out_len);
    if (in_used) *in_used = br.pos - br.cnt / 8;
    return LSD_OK;
}

/* Inflates a zlib stream: checks the header (RFC 1950, 2.2), inflates, checks the Adler-32. */
int zlib_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len, lsd_err *err)
{
    size_t used;
    uint32_t want, got;
    int rc;
    if (in_len < 2) return lsd_fail(err, LSD_ERR_FORMAT, "truncated zlib header");
    if ((in[0] & 15u) != 8)
        return lsd_fail(err, LSD_ERR_FORMAT, "zlib compression method %u is not deflate (8)", in[0] & 15u);
    if ((in[0] >> 4) > 7)
        return lsd_fail(err, LSD_ERR_FORMAT, "zlib window size 2^%u exceeds 2^15", (in[0] >> 4) + 8);
    if (((unsigned)in[0] * 256u + in[1]) % 31u != 0)
        return lsd_fail(err, LSD_ERR_FORMAT, "zlib header check fails");
    if (in[1] & 0x20u) return lsd_fail(err, LSD_ERR_FORMAT, "zlib stream needs a preset dictionary");
    rc = deflate_decode(in + 2, in_len - 2, out, out_len, &used, err);
    if (rc) return rc;
    if (in_len - 2 - used < 4) return lsd_fail(err, LSD_ERR_FORMAT, "truncated zlib stream: no Adler-32");
    in += 2 + used;
    want = ((uint32_t)in[0] << 24) | ((uint32_t)in[1] << 16) | ((uint32_t)in[2] << 8) | in[3];
    got = adler32_update(1, out, out_len);
    if (want != got)
        return lsd_fail(err, LSD_ERR_FORMAT, "zlib Adler-32 mismatch (stored %08lx, computed %08lx)",
                        (unsigned long)want, (unsigned long)got);
    return LSD_OK;
}

/* ---------------------------------------------------------------- deflate */

#define WSIZE 32768u            /* the DEFLATE window */
#define HASH_BITS 15
#define HASH_SIZE (1u << HASH_BITS)
#define BLOCK_TOKENS 16384      /* symbols per block before the codes are rebuilt */
#define MAX_TREE_DEPTH 290

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint64_t bits;   /* pending bits, least significant first */
    unsigned n;      /* number of pending bits */
    int nomem;
} bitwriter;

typedef struct {
    size_t head[HASH_SIZE];   /* 1 + latest position with each hash, 0 for none */
    size_t prev[WSIZE];       /* 1 + previous position with the same hash, by position mod WSIZE */
    uint16_t tok_len[BLOCK_TOKENS]; /* literal byte (dist 0) or match length */
    uint16_t tok_dist[BLOCK_TOKENS];
    uint8_t len_sym[259];     /* match length -> literal/length symbol - 257 */
    uint8_t dist_sym[512];    /* distance -> distance symbol, see dist_code */
    int ntok;
    size_t block_start;       /* first input byte of the pending block */
} deflate_state;

/* Appends one byte to the output, growing it; a failed allocation is remembered. */
static void bw_byte(bitwriter *w, uint8_t b)
{
    if (w->len == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 4096;
        uint8_t *nb = ncap > w->cap ? (uint8_t *)realloc(w->buf, ncap) : NULL;
        if (!nb) {
            w->nomem = 1;
            return;
        }
        w->buf = nb;
        w->cap = ncap;
    }
    w->buf[w->len++] = b;
}

/* Writes the n (<= 32) low bits of v, least significant first. */
static void bw_put(bitwriter *w, uint32_t v, unsigned n)
{
    w->bits |= (uint64_t)v << w->n;
    w->n += n;
    while (w->n >= 8) {
        bw_byte(w, (uint8_t)w->bits);
        w->bits >>= 8;
        w->n -= 8;
    }
}

/* Pads the pending bits with zeros to a byte boundary. */
static void bw_align(bitwriter *w)
{
    if (w->n > 0) bw_put(w, 0, 8 - w->n);
}

/* Distance symbol of a distance 1..32768 (table lookup, as zlib's d_code). */
static unsigned dist_code(const deflate_state *s, unsigned d)
{
    return d <= 256 ? s->dist_sym[d - 1] : s->dist_sym[256 + ((d - 1) >> 7)];
}

/* Fills the length and distance symbol tables from the RFC 1951 base tables. */
static void init_symbol_tables(deflate_state *s)
{
    unsigned sym, v;
    for (sym = 0; sym < 29; sym++) {
        unsigned hi = sym == 28 ? 258 : (unsigned)(len_base[sym] + (1u << len_extra[sym]) - 1);
        if (sym == 27) hi = 257; /* 227..257; 258 has its own symbol */
        for (v = len_base[sym]; v <= hi; v++) s->len_sym[v] = (uint8_t)sym;
    }
    for (sym = 0; sym < 30; sym++) {
        unsigned lo = dist_base[sym], hi = lo + (1u << dist_extra[sym]) - 1;
        for (v = lo; v <= hi; v++) {
            if (v <= 256) s->dist_sym[v - 1] = (uint8_t)sym;
            else s->dist_sym[256 + ((v - 1) >> 7)] = (uint8_t)sym;
        }
    }
}

/* Sorts symbol indices by ascending frequency (ties by symbol), insertion sort. */
static void sort_by_freq(unsigned *syms, int m, const uint32_t *freq)
{
    int i, j;
    for (i = 1; i < m; i++) {
        unsigned t = syms[i];
        for (j = i; j > 0 && (freq[syms[j - 1]] > freq[t] ||
                              (freq[syms[j - 1]] == freq[t] && syms[j - 1] > t)); j--)
            syms[j] = syms[j - 1];
        syms[j] = t;
    }
}

/* Huffman code lengths (at most maxlen bits) for freq[0..n): builds the Huffman tree with
 * two queues, then, if it is too deep, moves codes up the way miniz does (the count of
 * codes per length is fixed to satisfy the Kraft equality) and hands the shortest
 * lengths to the most frequent symbols. Symbols of frequency 0 get length 0. */
static void huff_lengths(const uint32_t *freq, int n, int maxlen, uint8_t *lens)
{
    unsigned syms[288], parent[2 * 288], depth[2 * 288], bl[MAX_TREE_DEPTH + 1];
    uint32_t weight[2 * 288];
    int m = 0, i, k, leaf = 0, node, len;
    unsigned long total;

    for (i = 0; i < n; i++) {
        lens[i] = 0;
        if (freq[i]) syms[m++] = (unsigned)i;
    }
    if (m == 0) return;
    if (m == 1) {
        lens[syms[0]] = 1;
        return;
    }
    sort_by_freq(syms, m, freq);
    for (i = 0; i < m; i++) weight[i] = freq[syms[i]];
    node = m;
    for (k = m; k < 2 * m - 1; k++) {
        int pick;
        for (pick = 0; pick < 2; pick++) {
            int c;
            if (leaf < m && (node >= k || weight[leaf] <= weight[node])) c = leaf++;
            else c = node++;
            parent[c] = (unsigned)k;
            weight[k] = pick ? weight[k] + weight[c] : weight[c];
        }
    }
    depth[2 * m - 2] = 0;
    for (k = 2 * m - 3; k >= 0; k--) depth[k] = depth[parent[k]] + 1;

    memset(bl, 0, sizeof bl);
    for (i = 0; i < m; i++) bl[depth[i] < (unsigned)maxlen ? depth[i] : (unsigned)maxlen]++;
    total = 0;
    for (len = maxlen; len > 0; len--) total += (unsigned long)bl[len] << (maxlen - len);
    while (total != (1ul << maxlen)) {
        bl[maxlen]--;
        for (len = maxlen - 1; len > 0; len--)
            if (bl[len]) {
                bl[len]--;
                bl[len + 1] += 2;
                break;
            }
        total--;
    }
    /* least frequent symbols (first in syms) get the longest codes */
    for (len = maxlen, i = 0; len > 0; len--) {
        unsigned c;
        for (c = 0; c < bl[len]; c++) lens[syms[i++]] = (uint8_t)len;
    }
}

/* Canonical codes for code lengths lens[0..n), bit-reversed for LSB-first output. */
static void canonical_codes(const uint8_t *lens, int n, uint16_t *codes)
{
    unsigned count[16] = {0}, next[16], len;
    int i;
    for (i = 0; i < n; i++) count[lens[i]]++;
    count[0] = 0;
    next[1] = 0;
    for (len = 2; len <= 15; len++) next[len] = (next[len - 1] + count[len - 1]) << 1;
    for (i = 0; i < n; i++)
        codes[i] = lens[i] ? (uint16_t)reverse_bits(next[lens[i]]++, lens[i]) : 0;
}

/* Run-length codes of the code lengths of a dynamic block (RFC 1951, 3.2.7): symbols
 * 0..15, 16 (repeat previous 3..6), 17 (zeros 3..10), 18 (zeros 11..138), with their
 * extra bits. Returns the number of symbols. */
static int rle_lengths(const uint8_t *lens, int n, uint8_t *sym, uint8_t *extra)
{
    int i = 0, k = 0;
    while (i < n) {
        int run = 1;
        while (i + run < n && lens[i + run] == lens[i]) run++;
        if (lens[i] == 0 && run >= 3) {
            int r = run > 138 ? 138 : run;
            sym[k] = r >= 11 ? 18 : 17;
            extra[k++] = (uint8_t)(r >= 11 ? r - 11 : r - 3);
            i += r;
        } else if (lens[i] != 0 && run >= 4) {
            int r = run - 1 > 6 ? 6 : run - 1;
            sym[k] = lens[i];
            extra[k++] = 0;
            sym[k] = 16;
            extra[k++] = (uint8_t)(r - 3);
            i += 1 + r;
        } else {
            sym[k] = lens[i];
            extra[k++] = 0;
            i++;
        }
    }
    return k;
}

/* Writes the pending tokens of s as one block (stored, fixed or dynamic, whichever is
 * smallest), covering input bytes [s->block_start, end). */
static void flush_block(deflate_state *s, bitwriter *w, const uint8_t *in, size_t end, int final,
                        int force_stored)
{
    uint32_t lfreq[286], dfreq[30], cfreq[19];
    uint8_t llens[286 + 30], flens[288], fdl[30], clens[19], rsym[286 + 30], rextra[286 + 30];
    uint16_t lcodes[288], dcodes[30], ccodes[19];
    const uint8_t *lens_lit, *lens_dist;
    const uint16_t *codes_lit, *codes_dist;
    uint64_t dyn_bits, fixed_bits, stored_bits, nbytes = end - s->block_start;
    int i, hlit, hdist, hclen, nr, use;
    static const uint8_t rextra_bits[3] = {2, 3, 7};

    memset(lfreq, 0, sizeof lfreq);
    memset(dfreq, 0, sizeof dfreq);
    memset(cfreq, 0, sizeof cfreq);
    for (i = 0; i < s->ntok; i++) {
        if (s->tok_dist[i] == 0) {
            lfreq[s->tok_len[i]]++;
        } else {
            lfreq[257 + s->len_sym[s->tok_len[i]]]++;
            dfreq[dist_code(s, s->tok_dist[i])]++;
        }
    }
    lfreq[256] = 1;
    /* at least two codes of each kind, as zlib does, so that every code is complete */
    if (lfreq[0] == 0) lfreq[0] = 1;
    if (dfreq[0] == 0) dfreq[0] = 1;
    if (dfreq[1] == 0) dfreq[1] = 1;
    huff_lengths(lfreq, 286, 15, llens);
    huff_lengths(dfreq, 30, 15, llens + 286);
    for (hlit = 286; hlit > 257 && llens[hlit - 1] == 0; hlit--) {}
    for (hdist = 30; hdist > 1 && llens[286 + hdist - 1] == 0; hdist--) {}
    memmove(llens + hlit, llens + 286, (size_t)hdist);
    nr = rle_lengths(llens, hlit + hdist, rsym, rextra);
    for (i = 0; i < nr; i++) cfreq[rsym[i]]++;
    huff_lengths(cfreq, 19, 7, clens);
    for (hclen = 19; hclen > 4 && clens[cl_order[hclen - 1]] == 0; hclen--) {}
    memmove(llens + 286, llens + hlit, (size_t)hdist); /* back to 286 + 30 layout */
    for (i = hlit; i < 286; i++) llens[i] = 0;

    memset(flens, 8, 144);
    memset(flens + 144, 9, 112);
    memset(flens + 256, 7, 24);
    memset(flens + 280, 8, 8);
    memset(fdl, 5, 30);

    dyn_bits = 3 + 5 + 5 + 4 + 3 * (uint64_t)hclen;
    for (i = 0; i < nr; i++) dyn_bits += clens[rsym[i]] + (rsym[i] >= 16 ? rextra_bits[rsym[i] - 16] : 0);
    fixed_bits = 3;
    for (i = 0; i < 286; i++) {
        uint64_t f = lfreq[i];
        dyn_bits += f * llens[i];
        fixed_bits += f * flens[i];
        if (i >= 257) {
            dyn_bits += f * len_extra[i - 257];
            fixed_bits += f * len_extra[i - 257];
        }
    }
    for (i = 0; i < 30; i++) {
        dyn_bits += (uint64_t)dfreq[i] * (llens[286 + i] + dist_extra[i]);
        fixed_bits += (uint64_t)dfreq[i] * (5u + dist_extra[i]);
    }
    stored_bits = (nbytes / 65535 + 1) * (3 + 7 + 32) + 8 * nbytes;
    use = force_stored || (stored_bits <= dyn_bits && stored_bits <= fixed_bits) ? 0
          : fixed_bits <= dyn_bits ? 1 : 2;

    if (use == 0) {
        size_t pos = s->block_start;
        do {
            size_t n = end - pos > 65535 ? 65535 : end - pos, j;
            bw_put(w, (final && pos + n == end) ? 1u : 0u, 1);
            bw_put(w, 0, 2);
            bw_align(w);
            bw_put(w, (uint32_t)n, 16);
            bw_put(w, (uint32_t)(~n & 0xFFFFu), 16);
            for (j = 0; j < n; j++) bw_byte(w, in[pos + j]);
            pos += n;
        } while (pos < end);
        s->ntok = 0;
        s->block_start = end;
        return;
    }
    bw_put(w, final ? 1u : 0u, 1);
    if (use == 1) {
        bw_put(w, 1, 2);
        lens_lit = flens;
        lens_dist = fdl;
        canonical_codes(flens, 288, lcodes);
        canonical_codes(fdl, 30, dcodes);
    } else {
        bw_put(w, 2, 2);
        bw_put(w, (uint32_t)(hlit - 257), 5);
        bw_put(w, (uint32_t)(hdist - 1), 5);
        bw_put(w, (uint32_t)(hclen - 4), 4);
        for (i = 0; i < hclen; i++) bw_put(w, clens[cl_order[i]], 3);
        canonical_codes(clens, 19, ccodes);
        for (i = 0; i < nr; i++) {
            bw_put(w, ccodes[rsym[i]], clens[rsym[i]]);
            if (rsym[i] >= 16) bw_put(w, rextra[i], rextra_bits[rsym[i] - 16]);
        }
        lens_lit = llens;
        lens_dist = llens + 286;
        canonical_codes(llens, 286, lcodes);
        canonical_codes(llens + 286, 30, dcodes);
    }
    codes_lit = lcodes;
    codes_dist = dcodes;
    for (i = 0; i < s->ntok; i++) {
        unsigned l = s->tok_len[i], d = s->tok_dist[i];
        if (d == 0) {
            bw_put(w, codes_lit[l], lens_lit[l]);
        } else {
            unsigned ls = s->len_sym[l], ds = dist_code(s, d);
            bw_put(w, codes_lit[257 + ls], lens_lit[257 + ls]);
            bw_put(w, l - len_base[ls], len_extra[ls]);
            bw_put(w, codes_dist[ds], lens_dist[ds]);
            bw_put(w, d - dist_base[ds], dist_extra[ds]);
        }
    }
    bw_put(w, codes_lit[256], lens_lit[256]);
    s->ntok = 0;
    s->block_start = end;
}

/* Hash of the 3 bytes at p (multiplicative). */
static unsigned hash3(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
    return (unsigned)((v * 2654435761u) >> (32 - HASH_BITS));
}

/* Inserts position p (which has 3 bytes after it) into the hash chains. */
static void insert_pos(deflate_state *s, const uint8_t *in, size_t p)
{
    unsigned h = hash3(in + p);
    s->prev[p & (WSIZE - 1)] = s->head[h];
    s->head[h] = p + 1;
}

/* Longest match for position p among up to max_chain earlier positions with the same hash
 * (inserts p). Returns the length (0 if under 3) and sets *dist. */
static unsigned longest_match(deflate_state *s, const uint8_t *in, size_t n, size_t p,
                              unsigned max_chain, unsigned nice, unsigned *dist)
{
    size_t cand, limit = n - p < 258 ? n - p : 258;
    unsigned best = 0;
    if (n - p < 3) return 0;
    cand = s->head[hash3(in + p)];
    insert_pos(s, in, p);
    while (cand && max_chain--) {
        size_t c = cand - 1, k;
        if (p - c > WSIZE) break;
        if (in[c + best] == in[p + best] || best == 0) {
            for (k = 0; k < limit && in[c + k] == in[p + k]; k++) {}
            if (k > best) {
                best = (unsigned)k;
                *dist = (unsigned)(p - c);
                if (k >= nice || k == limit) break;
            }
        }
        cand = s->prev[c & (WSIZE - 1)];
        if (cand >= c + 1) break; /* a slot overwritten by a newer position */
    }
    return best >= 3 ? best : 0;
}

/* Adds a token (a literal when dist is 0) whose input ends at end, flushing a full block. */
static void add_token(deflate_state *s, bitwriter *w, const uint8_t *in, size_t end,
                      unsigned len, unsigned dist)
{
    s->tok_len[s->ntok] = (uint16_t)len;
    s->tok_dist[s->ntok] = (uint16_t)dist;
    if (++s->ntok == BLOCK_TOKENS) flush_block(s, w, in, end, 0, 0);
}

/* Compresses in into a zlib stream (RFC 1950 around RFC 1951). */
int zlib_deflate(const uint8_t *in, size_t in_len, int level, uint8_t **out, size_t *out_len,
                 lsd_err *err)
{
    static const unsigned chains[10] = {0, 4, 8, 16, 32, 64, 128, 256, 1024, 4096};
    static const uint8_t flg[10] = {0x01, 0x01, 0x5E, 0x5E, 0x5E, 0x5E, 0x9C, 0xDA, 0xDA, 0xDA};
    deflate_state *s;
    bitwriter w;
    unsigned max_chain, nice, plen = 0, pdist = 0;
    int lazy, pending = 0;
    size_t p = 0, i;
    uint32_t adler;

    *out = NULL;
    *out_len = 0;
    if (level < 0 || level > 9) return lsd_fail(err, LSD_ERR_ARG, "zlib_deflate: level %d is not 0..9", level);
    s = (deflate_state *)malloc(sizeof *s);
    if (!s) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the deflate state");
    memset(s->head, 0, sizeof s->head);
    s->ntok = 0;
    s->block_start = 0;
    init_symbol_tables(s);
    memset(&w, 0, sizeof w);
    max_chain = chains[level];
    nice = level >= 8 ? 258 : level >= 4 ? 128 : 32;
    lazy = level >= 4;

    bw_byte(&w, 0x78);
    bw_byte(&w, flg[level]);
    if (level == 0) {
        s->block_start = 0;
        flush_block(s, &w, in, in_len, 1, 1);
    } else {
        while (p < in_len) {
            unsigned dist = 0, len = longest_match(s, in, in_len, p, max_chain, nice, &dist);
            if (pending) {
                if (plen >= len) { /* the match found one byte earlier wins */
                    size_t endm = p - 1 + plen;
                    add_token(s, &w, in, endm, plen, pdist);
                    for (i = p + 1; i < endm; i++)
                        if (in_len - i >= 3) insert_pos(s, in, i);
                    p = endm;
                    pending = 0;
                    continue;
                }
                add_token(s, &w, in, p, in[p - 1], 0);
                pending = 0;
            }
            if (len && lazy && len < nice) {
                pending = 1;
                plen = len;
                pdist = dist;
                p++;
            } else if (len) {
                add_token(s, &w, in, p + len, len, dist);
                for (i = p + 1; i < p + len; i++)
                    if (in_len - i >= 3) insert_pos(s, in, i);
                p += len;
            } else {
                add_token(s, &w, in, p + 1, in[p], 0);
                p++;
            }
        }
        if (pending) add_token(s, &w, in, p - 1 + plen, plen, pdist);
        flush_block(s, &w, in, in_len, 1, 0);
    }
    bw_align(&w);
    adler = adler32_update(1, in, in_len);
    for (i = 0; i < 4; i++) bw_byte(&w, (uint8_t)(adler >> (24 - 8 * i)));
    free(s);
    if (w.nomem) {
        free(w.buf);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the compressed data");
    }
    *out = w.buf;
    *out_len = w.len;
    return LSD_OK;
}
