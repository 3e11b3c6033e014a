/*
 * inflate.h - zlib (RFC 1950) and DEFLATE (RFC 1951) written from the
 * specifications, with the CRC-32 of the PNG specification.
 *
 * The inflater works on whole buffers: the caller says exactly how many bytes
 * the stream must produce, and inflation stops there. A stream that would
 * produce more is refused at the first byte too many (a decompression bomb
 * costs no more than the expected output); a stream that produces less, is
 * cut short, or carries a wrong Adler-32 is refused too. Every malformed
 * construct of RFC 1951 is an error: block type 3, a stored block whose
 * length check fails, an over-subscribed or incomplete code, a code-length
 * repeat with nothing to repeat or running past the end, literal/length
 * symbols 286 and 287, distance symbols 30 and 31, and distances reaching
 * before the start of the output. The work is bounded by the input and the
 * output sizes, so no input can make it loop forever.
 *
 * The deflater does LZ77 with bounded hash chains and lazy matching and writes
 * each block in whichever of the stored, fixed-Huffman and dynamic-Huffman
 * forms is smallest.
 */
#ifndef LSD_INFLATE_H
#define LSD_INFLATE_H

#include <stddef.h>
#include <stdint.h>
#include "../tensor/common.h"

/* CRC-32 (ISO 3309, polynomial 0xEDB88320 reflected) of buf, continuing from crc
 * (start with 0). crc32_update(0, "123456789", 9) == 0xCBF43926. */
uint32_t crc32_update(uint32_t crc, const uint8_t *buf, size_t len);

/* Adler-32 of buf, continuing from adler (start with 1). */
uint32_t adler32_update(uint32_t adler, const uint8_t *buf, size_t len);

/* Inflates a raw DEFLATE stream (no zlib header) into out, which must receive exactly
 * out_len bytes. *in_used (may be NULL) receives the number of input bytes consumed,
 * counting the final partial byte. */
int deflate_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
                   size_t *in_used, lsd_err *err);

/* Inflates a zlib stream (2-byte header, DEFLATE data, big-endian Adler-32) into out,
 * which must receive exactly out_len bytes. Preset dictionaries are refused. Bytes after
 * the Adler-32 are ignored. */
int zlib_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len, lsd_err *err);

/* Compresses in into a zlib stream. level 0 stores, 1..9 trade speed for size (6 is a
 * good default: hash chains of 128, lazy matching). *out is malloc'ed; the caller frees it. */
int zlib_deflate(const uint8_t *in, size_t in_len, int level, uint8_t **out, size_t *out_len,
                 lsd_err *err);

#endif
