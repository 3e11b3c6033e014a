/* test_inflate.c - zlib inflate and deflate, CRC-32 and Adler-32: known check values, streams
 * made by Python's zlib (embedded, and generated at test time in every block type and
 * strategy), malformed streams built bit by bit from RFC 1951, and round trips of our deflate
 * through our inflate and through Python's zlib. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../data/inflate.h"
#include "../data/png.h" /* lsd_read_file */
#include "harness.h"

/* A stream written bit by bit, least significant bit first, as RFC 1951 packs it. */
typedef struct {
    uint8_t b[512];
    size_t n;
    unsigned bit;
} bits;

/* Starts a zlib stream (header 78 01). */
static void bs_start(bits *s)
{
    memset(s, 0, sizeof *s);
    s->b[0] = 0x78;
    s->b[1] = 0x01;
    s->n = 2;
}

/* Appends the n low bits of v, least significant first (header fields, extra bits). */
static void bs_put(bits *s, unsigned v, unsigned n)
{
    unsigned i;
    for (i = 0; i < n; i++) {
        if (v >> i & 1u) s->b[s->n] |= (uint8_t)(1u << s->bit);
        if (++s->bit == 8) {
            s->bit = 0;
            s->n++;
        }
    }
}

/* Starts a zlib stream whose first block is the final one, of type btype (RFC 1951 3.2.3). */
static void bs_block(bits *s, unsigned btype)
{
    bs_start(s);
    bs_put(s, 1, 1);
    bs_put(s, btype, 2);
}

/* Appends a Huffman code of n bits, most significant first. */
static void bs_code(bits *s, unsigned code, unsigned n)
{
    while (n--) bs_put(s, code >> n & 1u, 1);
}

/* Ends the stream with some zero padding (so errors are not mistaken for truncation). */
static size_t bs_end(bits *s)
{
    return s->n + (s->bit ? 1 : 0) + 8;
}

/* Expects zlib_inflate to refuse in[0..n) with a message containing want. */
static void expect_error(const char *what, const uint8_t *in, size_t n, size_t out_len, const char *want)
{
    uint8_t out[1024];
    lsd_err err;
    int rc = zlib_inflate(in, n, out, out_len, &err);
    CHECK(rc == LSD_ERR_FORMAT && strstr(err.msg, want) != NULL, "%s: expected '%s', got rc %d '%s'",
          what, want, rc, rc ? err.msg : "");
}

/* Starts a zlib stream with a final dynamic block header: HLIT, HDIST 1, HCLEN and the
 * code-length code lengths in RFC order, 1 for the symbols (0..18) set in the bit set ones and
 * 0 for the others. */
static void dyn_start(bits *s, unsigned hlit, unsigned hclen, unsigned long ones)
{
    static const unsigned order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                       11, 4, 12, 3, 13, 2, 14, 1, 15};
    unsigned i;
    bs_block(s, 2);
    bs_put(s, hlit - 257, 5);
    bs_put(s, 0, 5); /* HDIST - 1 */
    bs_put(s, hclen - 4, 4);
    for (i = 0; i < hclen; i++) bs_put(s, (unsigned)(ones >> order[i] & 1u), 3);
}

/* Malformed streams, each built from RFC 1950/1951. */
static void test_malformed(void)
{
    bits s;
    unsigned i;
    static const uint8_t hdr_bad_check[] = {0x78, 0x9d, 0x03, 0x00};
    static const uint8_t hdr_method9[] = {0x79, 0x9c};
    static const uint8_t hdr_dict[] = {0x78, 0xbb, 0, 0, 0, 1, 0x03, 0x00};
    static const uint8_t stored_bad_len[] = {0x78, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00, 'a', 'b', 'c', 'd', 'e'};

    expect_error("header check", hdr_bad_check, sizeof hdr_bad_check, 0, "header check");
    expect_error("method 9", hdr_method9, sizeof hdr_method9, 0, "not deflate");
    expect_error("preset dictionary", hdr_dict, sizeof hdr_dict, 0, "preset dictionary");
    expect_error("stored length check", stored_bad_len, sizeof stored_bad_len, 5, "complement");

    bs_block(&s, 3); /* BTYPE 11 is reserved */
    expect_error("block type 3", s.b, bs_end(&s), 0, "block type 3");

    /* fixed block: length 3 (symbol 257, code 0000001) at distance 1 with no output yet */
    bs_block(&s, 1);
    bs_code(&s, 1, 7);
    bs_code(&s, 0, 5);
    expect_error("distance too far", s.b, bs_end(&s), 3, "reaches before the start");

    /* fixed block: literal 'a' (0x30 + 0x61, 8 bits), length 3, distance symbol 30 */
    bs_block(&s, 1);
    bs_code(&s, 0x30 + 'a', 8);
    bs_code(&s, 1, 7);
    bs_code(&s, 30, 5);
    expect_error("distance symbol 30", s.b, bs_end(&s), 4, "invalid distance symbol 30");

    /* fixed block: literal/length symbol 286 (codes 280..287 are 11000000 + n) */
    bs_block(&s, 1);
    bs_code(&s, 0xC0 + 6, 8);
    expect_error("length symbol 286", s.b, bs_end(&s), 4, "invalid length symbol 286");

    /* dynamic: 19 code-length codes all of length 1: over-subscribed */
    dyn_start(&s, 257, 19, 0x7FFFFul);
    expect_error("over-subscribed", s.b, bs_end(&s), 4, "over-subscribed code-length code");

    /* dynamic: one code-length code of length 1 (symbol 16): incomplete */
    dyn_start(&s, 257, 4, 1ul << 16);
    expect_error("incomplete", s.b, bs_end(&s), 4, "incomplete code-length code");

    /* dynamic: symbols 0 and 16 of length 1 (codes 0 and 1); a repeat comes first */
    dyn_start(&s, 257, 4, 1ul << 16 | 1ul << 0);
    bs_code(&s, 1, 1);
    bs_put(&s, 0, 2);
    expect_error("repeat first", s.b, bs_end(&s), 4, "no previous length");

    /* dynamic: lengths 0 and 1 (codes 0 and 1); symbols 0 and 1 get length 1, the
     * others (end-of-block included) 0 */
    dyn_start(&s, 257, 18, 1ul << 0 | 1ul << 1);
    bs_code(&s, 1, 1);
    bs_code(&s, 1, 1);
    for (i = 2; i < 258; i++) bs_code(&s, 0, 1);
    expect_error("no end-of-block", s.b, bs_end(&s), 4, "no end-of-block");

    /* dynamic: zero run (symbol 18, 138 zeros) twice past 258 lengths */
    dyn_start(&s, 257, 4, 1ul << 18 | 1ul << 0);
    bs_code(&s, 1, 1);
    bs_put(&s, 127, 7);
    bs_code(&s, 1, 1);
    bs_put(&s, 127, 7);
    expect_error("repeat past end", s.b, bs_end(&s), 4, "runs past");

    /* HLIT of 287 */
    dyn_start(&s, 287, 4, 0);
    expect_error("HLIT 287", s.b, bs_end(&s), 4, "287 literal/length codes");
}

/* The embedded Python zlib streams (a fixed and a dynamic block), plus truncation, a wrong
 * Adler-32 and wrong expected sizes on them. */
static void test_embedded(void)
{
    static const uint8_t za[] = "\x78\xda\xcb\x48\xcd\xc9\xc9\x57\xc8\x40\x27\x75\x14\x52\x52\xd3\x72\x12"
                                "\x4b\x52\x15\x01\xcf\xf3\x0b\xf3";
    static const char pa[] = "hello hello hello hello, deflate!";
    static const uint8_t zb[] =
        "\x78\xda\x4d\x8e\x81\x0d\x00\x31\x08\x02\x67\x05\x75\xff\x15\x9e\xb3\x6d\xf2\x8d\x36\x88"
        "\xa8\x48\x1e\x69\x9c\x9c\x92\x44\xca\x21\xab\xaa\x03\xc2\xcb\xe5\x4a\x40\xc3\x78\xc5\x41"
        "\xd1\xa6\xc1\x10\x14\xda\x07\xf3\x65\x3c\x13\xc4\x56\x47\xdd\xc1\xc3\x01\x10\xdb\xf2\xea"
        "\x1c\xbc\xfb\xac\xa6\x6c\x5f\x1f\xcb\x23\xc7\xc3\xba\xc3\x66\xff\x0e\xe2\x50\xfe\x00\x11"
        "\x2d\x4c\x86";
    static const char pb[] =
        "aabeaaebaaeecaaacaaaababecccdabaaaeabcbccbcabababaabbaaeeabacaabcc"
        "aaacbbaabaaaaacbbaabbbaccdcabcabcbbbacbacaabdbbbeaaabbdbbababbbbca"
        "aabababacaabbadaabadbaaaababbabacbbdbcbccacaaaecaadbbaabaaaaacaaea"
        "ab";
    uint8_t out[256], bad[sizeof zb];
    lsd_err err;
    size_t la = sizeof za - 1, lb = sizeof zb - 1;
    int rc;

    rc = zlib_inflate(za, la, out, strlen(pa), &err);
    CHECK(rc == LSD_OK && memcmp(out, pa, strlen(pa)) == 0, "fixed block from Python zlib: %s", rc ? err.msg : "");
    rc = zlib_inflate(zb, lb, out, strlen(pb), &err);
    CHECK(rc == LSD_OK && memcmp(out, pb, strlen(pb)) == 0, "dynamic block from Python zlib: %s", rc ? err.msg : "");
    expect_error("truncated", zb, lb / 2, strlen(pb), "truncated");
    expect_error("no Adler-32", zb, lb - 4, strlen(pb), "Adler-32");
    memcpy(bad, zb, lb);
    bad[lb - 1] ^= 0x10;
    expect_error("wrong Adler-32", bad, lb, strlen(pb), "Adler-32 mismatch");
    expect_error("one byte too many", zb, lb, strlen(pb) - 1, "more than the expected");
    expect_error("one byte too few", zb, lb, strlen(pb) + 1, "ends after 200 of the expected 201");
}

/* Round trips of our deflate through our inflate, at several levels and sizes. */
static void test_roundtrip(void)
{
    static const size_t sizes[] = {0, 1, 2, 3, 100, 65535, 65536, 70000, 300000};
    static const int levels[] = {0, 1, 6, 9};
    size_t si, i;
    int li, kind;
    uint8_t *in = (uint8_t *)malloc(300000), *out = (uint8_t *)malloc(300001);
    if (!in || !out) return;
    for (kind = 0; kind < 3; kind++)
        for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
            for (li = 0; li < 4; li++) {
                size_t n = sizes[si], zn;
                uint8_t *z;
                lsd_err err;
                uint32_t s = 99;
                int rc;
                for (i = 0; i < n; i++) {
                    s = s * 1664525u + 1013904223u;
                    in[i] = kind == 0 ? (uint8_t)(s >> 24)                          /* random */
                          : kind == 1 ? (uint8_t)"abcabcabd"[(i / 7) % 9]           /* repetitive */
                                      : (uint8_t)((s >> 28) < 3 ? s >> 20 : i / 1000); /* runs, noise */
                }
                rc = zlib_deflate(in, n, levels[li], &z, &zn, &err);
                if (!CHECK(rc == LSD_OK, "deflate kind %d size %lu level %d: %s", kind, (unsigned long)n,
                           levels[li], rc ? err.msg : ""))
                    continue;
                rc = zlib_inflate(z, zn, out, n, &err);
                CHECK(rc == LSD_OK && memcmp(in, out, n) == 0, "round trip kind %d size %lu level %d: %s", kind,
                      (unsigned long)n, levels[li], rc ? err.msg : "");
                if (kind == 1 && n == 300000 && levels[li] == 6)
                    CHECK(zn < 2000, "repetitive 300000 bytes compress to %lu bytes", (unsigned long)zn);
                if (kind == 0 && n == 300000 && levels[li] == 6)
                    CHECK(zn < n + n / 1000 + 64, "random data grows by at most 0.1%%: %lu", (unsigned long)zn);
                free(z);
            }
    free(in);
    free(out);
}

static const char *gen_script =
    "import sys, os, zlib, random\n"
    "d = sys.argv[1]\n"
    "random.seed(5)\n"
    "text = b' '.join(random.choice([b'road', b'car', b'sky', b'building', b'person', b'tree'])\n"
    "                 for _ in range(60000))\n"
    "noise = bytes(random.getrandbits(8) for _ in range(70000))\n"
    "data = text + noise + bytes(100000) + text[:5000]\n"
    "open(os.path.join(d, 'plain.bin'), 'wb').write(data)\n"
    "def put(name, level, strategy=zlib.Z_DEFAULT_STRATEGY, wbits=15, flushes=False):\n"
    "    c = zlib.compressobj(level, zlib.DEFLATED, wbits, 9, strategy)\n"
    "    if flushes:\n"
    "        z = b''.join(c.compress(data[i:i + 9999]) + c.flush(zlib.Z_FULL_FLUSH) for i in range(0, len(data), 9999))\n"
    "    else:\n"
    "        z = c.compress(data)\n"
    "    z += c.flush()\n"
    "    open(os.path.join(d, name), 'wb').write(z)\n"
    "for lv in (0, 1, 6, 9): put('level%d.z' % lv, lv)\n"
    "put('fixed.z', 6, zlib.Z_FIXED)\n"
    "put('huffman.z', 6, zlib.Z_HUFFMAN_ONLY)\n"
    "put('rle.z', 6, zlib.Z_RLE)\n"
    "put('filtered.z', 6, zlib.Z_FILTERED)\n"
    "put('window9.z', 6, wbits=9)\n"
    "put('flushes.z', 6, flushes=True)\n"
    "open(os.path.join(d, 'bomb.z'), 'wb').write(zlib.compress(bytes(10000000), 9))\n";

/* Python's zlib streams of every kind decode exactly; a 10 MB bomb stops at the expected size;
 * Python's zlib decompresses ours. */
static void test_python_interop(void)
{
    static const char *names[] = {"level0.z", "level1.z", "level6.z", "level9.z", "fixed.z", "huffman.z",
                                  "rle.z", "filtered.z", "window9.z", "flushes.z"};
    char dir[1024], path[2048], cmd[4096];
    uint8_t *plain, *z, *out;
    size_t np, zn, k;
    lsd_err err;
    FILE *f;
    int rc;
    snprintf(cmd, sizeof cmd, "%s -c 'import zlib' >/dev/null 2>&1", test_python());
    if (system(cmd) != 0) {
        test_skip("no Python zlib (%s): generated streams not tested", test_python());
        return;
    }
    snprintf(dir, sizeof dir, "%s/inflate", test_tmp_dir());
    snprintf(path, sizeof path, "%s/gen.py", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0 || !(f = fopen(path, "w"))) return;
    fputs(gen_script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s %s", test_python(), path, dir);
    if (!CHECK(system(cmd) == 0, "%s", cmd)) return;
    snprintf(path, sizeof path, "%s/plain.bin", dir);
    if (!CHECK(lsd_read_file(path, &plain, &np, &err) == LSD_OK, "%s", err.msg)) return;
    out = (uint8_t *)malloc(np);
    if (!out) return;
    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        if (!CHECK(lsd_read_file(path, &z, &zn, &err) == LSD_OK, "%s", err.msg)) continue;
        rc = zlib_inflate(z, zn, out, np, &err);
        CHECK(rc == LSD_OK && memcmp(out, plain, np) == 0, "Python zlib %s: %s", names[k], rc ? err.msg : "");
        free(z);
    }
    snprintf(path, sizeof path, "%s/bomb.z", dir);
    if (CHECK(lsd_read_file(path, &z, &zn, &err) == LSD_OK, "%s", err.msg)) {
        rc = zlib_inflate(z, zn, out, 4096, &err);
        CHECK(rc == LSD_ERR_FORMAT && strstr(err.msg, "more than the expected 4096"), "10 MB bomb stopped: %s", err.msg);
        free(z);
    }
    /* ours through Python */
    rc = zlib_deflate(plain, np, 6, &z, &zn, &err);
    if (CHECK(rc == LSD_OK, "deflate: %s", rc ? err.msg : "")) {
        snprintf(path, sizeof path, "%s/ours.z", dir);
        f = fopen(path, "wb");
        if (f) {
            fwrite(z, 1, zn, f);
            fclose(f);
        }
        snprintf(cmd, sizeof cmd,
                 "%s -c \"import zlib,sys; d=sys.argv[1]; "
                 "sys.exit(0 if zlib.decompress(open(d+'/ours.z','rb').read())==open(d+'/plain.bin','rb').read() else 1)\" %s",
                 test_python(), dir);
        CHECK(system(cmd) == 0, "Python's zlib decompresses our stream");
        free(z);
    }
    free(out);
    free(plain);
}

int main(void)
{
    static const uint8_t check[] = "123456789";
    test_begin("inflate");
    CHECK(crc32_update(0, check, 9) == 0xCBF43926u, "CRC-32 check value %08lx",
          (unsigned long)crc32_update(0, check, 9));
    CHECK(crc32_update(crc32_update(0, check, 4), check + 4, 5) == 0xCBF43926u, "CRC-32 continued");
    CHECK(adler32_update(1, (const uint8_t *)"Wikipedia", 9) == 0x11E60398u, "Adler-32 of Wikipedia");
    test_malformed();
    test_embedded();
    test_roundtrip();
    test_python_interop();
    return test_summary();
}
