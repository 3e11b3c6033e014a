/* json.c - strict pull reader of JSON text (see json.h). */
#include "json.h"

#include <stdlib.h>
#include <string.h>

void json_init(json_reader *r, const char *s, size_t len, int max_depth)
{
    r->s = s;
    r->len = len;
    r->pos = 0;
    r->depth = 0;
    r->max_depth = max_depth;
}

/* Advances past the four JSON whitespace bytes: space, tab, line feed, carriage return. */
static void skip_ws(json_reader *r)
{
    while (r->pos < r->len) {
        char c = r->s[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        r->pos++;
    }
}

/* Fails with a message that gives the byte position of the fault. */
static int fail_at(json_reader *r, size_t pos, lsd_err *err, const char *what)
{
    (void)r;
    return lsd_fail(err, LSD_ERR_FORMAT, "JSON error at byte %lu: %s", (unsigned long)pos, what);
}

json_type json_peek(json_reader *r)
{
    char c;
    skip_ws(r);
    if (r->pos >= r->len) return JSON_INVALID;
    c = r->s[r->pos];
    if (c == '{') return JSON_OBJECT;
    if (c == '[') return JSON_ARRAY;
    if (c == '"') return JSON_STRING;
    if (c == '-' || (c >= '0' && c <= '9')) return JSON_NUMBER;
    if (c == 't' || c == 'f') return JSON_BOOL;
    if (c == 'n') return JSON_NULL;
    return JSON_INVALID;
}

const char *json_type_name(json_type t)
{
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "boolean";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    default: return "invalid value";
    }
}

size_t json_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t len, i;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;      /* no overlong 3-byte forms */
        if (c == 0xED) hi = 0x9F;      /* no surrogates U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;      /* no overlong 4-byte forms */
        if (c == 0xF4) hi = 0x8F;      /* nothing above U+10FFFF */
    } else
        return 0;                      /* continuation byte, C0/C1 overlong lead, F5..FF */
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

int json_utf8_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = json_utf8_seq((const unsigned char *)s + i, n - i);
        if (k == 0) return 0;
        i += k;
    }
    return 1;
}

/* Value of one hexadecimal digit, or -1. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at r->pos (after "\u"); -1 on a bad digit. */
static long read_hex4(json_reader *r)
{
    long v = 0;
    int i;
    if (r->len - r->pos < 4) return -1;
    for (i = 0; i < 4; i++) {
        int h = hexval(r->s[r->pos + (size_t)i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    r->pos += 4;
    return v;
}

/* Appends code point cp as UTF-8 to out (if not NULL) at *n, advancing *n. */
static void put_utf8(char *out, size_t *n, unsigned long cp)
{
    unsigned char b[4];
    size_t k, i;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    for (i = 0; i < k; i++) {
        if (out) out[*n] = (char)b[i];
        (*n)++;
    }
}

/* Scans the string at r->pos (which must be '"'), validating it; when out is not NULL the
 * decoded bytes are written there. *n receives the decoded length. On success r->pos is
 * past the closing quote; on failure r->pos is unspecified. */
static int scan_string(json_reader *r, char *out, size_t *n, lsd_err *err)
{
    size_t start = r->pos;
    *n = 0;
    if (r->pos >= r->len || r->s[r->pos] != '"') return fail_at(r, r->pos, err, "expected a string");
    r->pos++;
    for (;;) {
        unsigned char c;
        if (r->pos >= r->len) return fail_at(r, start, err, "unterminated string");
        c = (unsigned char)r->s[r->pos];
        if (c == '"') {
            r->pos++;
            return LSD_OK;
        }
        if (c < 0x20) return fail_at(r, r->pos, err, "unescaped control character in string");
        if (c == '\\') {
            size_t at = r->pos;
            char e;
            long cp;
            if (r->pos + 1 >= r->len) return fail_at(r, start, err, "unterminated string");
            e = r->s[r->pos + 1];
            r->pos += 2;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                cp = read_hex4(r);
                if (cp < 0) return fail_at(r, at, err, "invalid \\u escape (needs 4 hex digits)");
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fail_at(r, at, err, "unpaired low surrogate in \\u escape");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    long lo;
                    if (r->len - r->pos < 2 || r->s[r->pos] != '\\' || r->s[r->pos + 1] != 'u')
                        return fail_at(r, at, err, "unpaired high surrogate in \\u escape");
                    r->pos += 2;
                    lo = read_hex4(r);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fail_at(r, at, err, "unpaired high surrogate in \\u escape");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                break;
            default:
                return fail_at(r, at, err, "invalid escape in string");
            }
            put_utf8(out, n, (unsigned long)cp);
            continue;
        }
        {
            size_t k = json_utf8_seq((const unsigned char *)r->s + r->pos, r->len - r->pos), i;
            if (k == 0) return fail_at(r, r->pos, err, "invalid UTF-8 in string");
            for (i = 0; i < k; i++) {
                if (out) out[*n] = r->s[r->pos + i];
                (*n)++;
            }
            r->pos += k;
        }
    }
}

int json_read_string(json_reader *r, char **out, size_t *n, lsd_err *err)
{
    size_t start, len;
    int rc;
    char *buf;
    *out = NULL;
    *n = 0;
    skip_ws(r);
    start = r->pos;
    rc = scan_string(r, NULL, &len, err); /* first pass: validate and measure */
    if (rc) return rc;
    buf = (char *)malloc(len + 1);
    if (!buf) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a JSON string of %lu bytes",
                              (unsigned long)len);
    r->pos = start;
    rc = scan_string(r, buf, &len, err); /* second pass: decode */
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *n = len;
    return LSD_OK;
}

/* Scans a number per the RFC grammar; reports whether it had a sign, fraction or exponent,
 * and where its integer digits are. */
static int scan_number(json_reader *r, int *neg, int *frac, size_t *d0, size_t *d1,
                       lsd_err *err)
{
    size_t start = r->pos;
    *neg = *frac = 0;
    if (r->pos < r->len && r->s[r->pos] == '-') {
        *neg = 1;
        r->pos++;
    }
    *d0 = r->pos;
    if (r->pos >= r->len || r->s[r->pos] < '0' || r->s[r->pos] > '9')
        return fail_at(r, start, err, "invalid number (no digits)");
    if (r->s[r->pos] == '0') {
        r->pos++;
        if (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9')
            return fail_at(r, start, err, "invalid number (leading zero)");
    } else
        while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9') r->pos++;
    *d1 = r->pos;
    if (r->pos < r->len && r->s[r->pos] == '.') {
        size_t k;
        *frac = 1;
        r->pos++;
        k = r->pos;
        while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9') r->pos++;
        if (r->pos == k) return fail_at(r, start, err, "invalid number (no digits after '.')");
    }
    if (r->pos < r->len && (r->s[r->pos] == 'e' || r->s[r->pos] == 'E')) {
        size_t k;
        *frac = 1;
        r->pos++;
        if (r->pos < r->len && (r->s[r->pos] == '+' || r->s[r->pos] == '-')) r->pos++;
        k = r->pos;
        while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9') r->pos++;
        if (r->pos == k) return fail_at(r, start, err, "invalid number (no digits in exponent)");
    }
    return LSD_OK;
}

int json_read_uint(json_reader *r, uint64_t max, uint64_t *out, lsd_err *err)
{
    int neg, frac, rc;
    size_t d0, d1, i, start;
    uint64_t v = 0;
    skip_ws(r);
    start = r->pos;
    if (json_peek(r) != JSON_NUMBER)
        return fail_at(r, start, err, "expected a number");
    rc = scan_number(r, &neg, &frac, &d0, &d1, err);
    if (rc) return rc;
    if (neg) return fail_at(r, start, err, "negative number where a size is expected");
    if (frac) return fail_at(r, start, err, "number is not an integer (fraction or exponent)");
    for (i = d0; i < d1; i++) {
        uint64_t d = (uint64_t)(r->s[i] - '0');
        if (v > (max - d) / 10) return fail_at(r, start, err, "integer too large");
        v = v * 10 + d;
    }
    *out = v;
    return LSD_OK;
}

int json_enter(json_reader *r, char open, lsd_err *err)
{
    skip_ws(r);
    if (r->pos >= r->len || r->s[r->pos] != open)
        return fail_at(r, r->pos, err, open == '{' ? "expected an object" : "expected an array");
    if (r->depth >= r->max_depth) return fail_at(r, r->pos, err, "nesting too deep");
    r->pos++;
    r->depth++;
    return LSD_OK;
}

int json_next(json_reader *r, char close, size_t *count, int *more, lsd_err *err)
{
    skip_ws(r);
    if (r->pos >= r->len) return fail_at(r, r->pos, err, "unexpected end of text (truncated?)");
    if (r->s[r->pos] == close) {
        r->pos++;
        r->depth--;
        *more = 0;
        return LSD_OK;
    }
    if (*count > 0) {
        if (r->s[r->pos] != ',')
            return fail_at(r, r->pos, err, close == '}' ? "expected ',' or '}' in object"
                                                        : "expected ',' or ']' in array");
        r->pos++;
        skip_ws(r);
        if (r->pos < r->len && r->s[r->pos] == close)
            return fail_at(r, r->pos, err, "trailing comma");
    }
    (*count)++;
    *more = 1;
    return LSD_OK;
}

int json_read_key(json_reader *r, char **key, size_t *n, lsd_err *err)
{
    int rc;
    skip_ws(r);
    if (r->pos >= r->len || r->s[r->pos] != '"')
        return fail_at(r, r->pos, err, "expected a string key in object");
    rc = json_read_string(r, key, n, err);
    if (rc) return rc;
    skip_ws(r);
    if (r->pos >= r->len || r->s[r->pos] != ':') {
        free(*key);
        *key = NULL;
        return fail_at(r, r->pos, err, "expected ':' after object key");
    }
    r->pos++;
    return LSD_OK;
}

/* Consumes the literal word at r->pos or fails. */
static int expect_word(json_reader *r, const char *word, lsd_err *err)
{
    size_t k = strlen(word);
    if (r->len - r->pos < k || memcmp(r->s + r->pos, word, k) != 0)
        return fail_at(r, r->pos, err, "invalid literal (expected true, false or null)");
    r->pos += k;
    return LSD_OK;
}

int json_skip(json_reader *r, lsd_err *err)
{
    json_type t = json_peek(r);
    size_t count = 0, n;
    int more = 1, rc, neg, frac;
    switch (t) {
    case JSON_NULL: return expect_word(r, "null", err);
    case JSON_BOOL: return expect_word(r, r->s[r->pos] == 't' ? "true" : "false", err);
    case JSON_NUMBER: {
        size_t d0, d1;
        return scan_number(r, &neg, &frac, &d0, &d1, err);
    }
    case JSON_STRING: return scan_string(r, NULL, &n, err);
    case JSON_ARRAY:
    case JSON_OBJECT: {
        char close = t == JSON_ARRAY ? ']' : '}';
        rc = json_enter(r, t == JSON_ARRAY ? '[' : '{', err);
        if (rc) return rc;
        for (;;) {
            rc = json_next(r, close, &count, &more, err);
            if (rc || !more) return rc;
            if (t == JSON_OBJECT) {
                skip_ws(r);
                if (r->pos >= r->len || r->s[r->pos] != '"')
                    return fail_at(r, r->pos, err, "expected a string key in object");
                rc = scan_string(r, NULL, &n, err);
                if (rc) return rc;
                skip_ws(r);
                if (r->pos >= r->len || r->s[r->pos] != ':')
                    return fail_at(r, r->pos, err, "expected ':' after object key");
                r->pos++;
            }
            rc = json_skip(r, err);
            if (rc) return rc;
        }
    }
    default:
        if (r->pos >= r->len) return fail_at(r, r->pos, err, "unexpected end of text (truncated?)");
        return fail_at(r, r->pos, err, "unexpected character (not a JSON value)");
    }
}

int json_finish(json_reader *r, lsd_err *err)
{
    skip_ws(r);
    if (r->pos != r->len) return fail_at(r, r->pos, err, "trailing garbage after the value");
    return LSD_OK;
}

int json_validate(const char *s, size_t len, int max_depth, lsd_err *err)
{
    json_reader r;
    int rc;
    json_init(&r, s, len, max_depth);
    rc = json_skip(&r, err);
    if (rc) return rc;
    return json_finish(&r, err);
}
