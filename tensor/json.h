/*
 * json.h - a strict, allocation-light pull reader of JSON text (RFC 8259).
 *
 * The reader walks a buffer (not NUL-terminated) one token at a time; the
 * caller drives it by the structure it expects, so no document tree is built.
 * Strictness: strings must be valid UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), escapes must be one of \" \\ \/ \b \f \n \r \t \uXXXX
 * with surrogate pairs matched, control characters must be escaped, numbers
 * follow the RFC grammar exactly (no leading zeros, no '+', no bare '.'), and
 * nesting is limited to max_depth. Errors say what is wrong and at which byte.
 */
#ifndef LSD_JSON_H
#define LSD_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"

typedef enum {
    JSON_INVALID, /* end of text, or a byte that cannot start a value */
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct {
    const char *s;  /* the text */
    size_t len;     /* its length in bytes */
    size_t pos;     /* the next byte to read */
    int depth;      /* containers currently open */
    int max_depth;  /* limit on depth */
} json_reader;

/* Starts reading the len bytes at s, allowing max_depth nested containers. */
void json_init(json_reader *r, const char *s, size_t len, int max_depth);
/* Skips whitespace and classifies the next value by its first byte. */
json_type json_peek(json_reader *r);
/* Human-readable name of a type ("string", "object", ...). */
const char *json_type_name(json_type t);

/* Reads a string value; *out receives a malloc'ed NUL-terminated UTF-8 copy and *n its
 * length (an escaped \u0000 gives an embedded NUL, so *n may exceed strlen). */
int json_read_string(json_reader *r, char **out, size_t *n, lsd_err *err);
/* Reads a number that must be a non-negative integer without fraction or exponent and at
 * most max; distinct messages for negative, non-integer and too large values. */
int json_read_uint(json_reader *r, uint64_t max, uint64_t *out, lsd_err *err);
/* Consumes the opening '{' or '[' (open) of a container, counting depth. */
int json_enter(json_reader *r, char open, lsd_err *err);
/* Steps to the next element of the container closed by close: *count elements were read
 * so far (updated here); sets *more to 0 after consuming close, else 1 (after a comma). */
int json_next(json_reader *r, char close, size_t *count, int *more, lsd_err *err);
/* Reads an object key and the ':' after it (as json_read_string). */
int json_read_key(json_reader *r, char **key, size_t *n, lsd_err *err);
/* Validates and skips one value of any type. */
int json_skip(json_reader *r, lsd_err *err);
/* Checks that only whitespace remains. */
int json_finish(json_reader *r, lsd_err *err);
/* Validates a whole text: exactly one value, optionally surrounded by whitespace. */
int json_validate(const char *s, size_t len, int max_depth, lsd_err *err);

/* Length (1..4) of the strictly valid UTF-8 sequence at s (n bytes available), or 0. */
size_t json_utf8_seq(const unsigned char *s, size_t n);
/* 1 if the n bytes at s are strictly valid UTF-8, else 0. */
int json_utf8_valid(const char *s, size_t n);

#endif
