/* listfile.c - parsers of list files and id tables (formats in listfile.h). */
#include "listfile.h"

#include <stdlib.h>
#include <string.h>

#include "png.h"

/* Up to 3 fields are read per line so that a third one can be reported. */
#define MAX_FIELDS 3

typedef struct {
    char text[MAX_FIELDS][LISTFILE_MAX_PATH + 1];
    size_t len[MAX_FIELDS];
    int n;
} line_fields;

/* Splits one line (no newline) into fields by the rules of listfile.h. */
static int split_line(const char *s, size_t len, int lineno, line_fields *f, lsd_err *err)
{
    size_t i = 0;
    f->n = 0;
    while (i < len) {
        char *dst;
        size_t k = 0;
        if (s[i] == ' ' || s[i] == '\t') {
            i++;
            continue;
        }
        if (s[i] == '#') break;
        if (f->n == MAX_FIELDS) {
            return lsd_fail(err, LSD_ERR_FORMAT, "line %d: more than %d fields", lineno,
                            MAX_FIELDS - 1);
        }
        dst = f->text[f->n];
        if (s[i] == '"') {
            int closed = 0;
            i++;
            while (i < len) {
                char c = s[i++];
                if (c == '"') {
                    closed = 1;
                    break;
                }
                if (c == '\\' && i < len) c = s[i++];
                if (k == LISTFILE_MAX_PATH) {
                    return lsd_fail(err, LSD_ERR_FORMAT, "line %d: path longer than %d bytes",
                                    lineno, LISTFILE_MAX_PATH);
                }
                dst[k++] = c;
            }
            if (!closed) {
                return lsd_fail(err, LSD_ERR_FORMAT, "line %d: unterminated quote", lineno);
            }
            if (i < len && s[i] != ' ' && s[i] != '\t') {
                return lsd_fail(err, LSD_ERR_FORMAT,
                                "line %d: expected a space or tab after a closing quote", lineno);
            }
        } else {
            while (i < len && s[i] != ' ' && s[i] != '\t') {
                if (k == LISTFILE_MAX_PATH) {
                    return lsd_fail(err, LSD_ERR_FORMAT, "line %d: path longer than %d bytes",
                                    lineno, LISTFILE_MAX_PATH);
                }
                dst[k++] = s[i++];
            }
        }
        if (k == 0) return lsd_fail(err, LSD_ERR_FORMAT, "line %d: empty path \"\"", lineno);
        dst[k] = '\0';
        f->len[f->n++] = k;
    }
    return LSD_OK;
}

/* Calls fn(ctx, fields, line) for each line that has fields; stops at the first error. */
static int for_each_line(const char *text, size_t len, void *ctx,
                         int (*fn)(void *, const line_fields *, int, lsd_err *), lsd_err *err)
{
    size_t start = 0;
    int lineno = 0, rc;
    line_fields *f = malloc(sizeof *f);
    if (!f) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory reading a list");
    while (start < len) {
        size_t end = start, n;
        while (end < len && text[end] != '\n') end++;
        n = end - start;
        lineno++;
        if (memchr(text + start, '\0', n)) {
            free(f);
            return lsd_fail(err, LSD_ERR_FORMAT, "line %d: NUL byte (not a text file?)", lineno);
        }
        if (n > 0 && text[start + n - 1] == '\r') n--;
        rc = split_line(text + start, n, lineno, f, err);
        if (rc == LSD_OK && f->n > 0) rc = fn(ctx, f, lineno, err);
        if (rc != LSD_OK) {
            free(f);
            return rc;
        }
        start = end + 1;
    }
    free(f);
    return LSD_OK;
}

/* A malloc'ed copy of path, joined to base when it is relative and base is set. */
static char *join_path(const char *base, const char *path, size_t plen)
{
    size_t blen = (base && *base && path[0] != '/') ? strlen(base) : 0;
    char *s = malloc(blen + 1 + plen + 1);
    if (!s) return NULL;
    if (blen) {
        memcpy(s, base, blen);
        s[blen] = '/';
        memcpy(s + blen + 1, path, plen + 1);
    } else {
        memcpy(s, path, plen + 1);
    }
    return s;
}

typedef struct {
    list_file *out;
    const char *base;
    int min_fields, max_fields;
} list_ctx;

/* Appends one line's entry to the list. */
static int add_entry(void *vctx, const line_fields *f, int lineno, lsd_err *err)
{
    list_ctx *c = vctx;
    list_file *l = c->out;
    list_entry *e;
    if (f->n < c->min_fields || f->n > c->max_fields) {
        if (c->min_fields == c->max_fields) {
            return lsd_fail(err, LSD_ERR_FORMAT, "line %d: expected %s, found %d field%s", lineno,
                            c->max_fields == 2 ? "two paths 'image label'" : "one name",
                            f->n, f->n == 1 ? "" : "s");
        }
        return lsd_fail(err, LSD_ERR_FORMAT, "line %d: expected %d to %d fields, found %d",
                        lineno, c->min_fields, c->max_fields, f->n);
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        list_entry *p = realloc(l->items, cap * sizeof *p);
        if (!p) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory at line %d", lineno);
        l->items = p;
        l->cap = cap;
    }
    e = &l->items[l->n];
    e->line = lineno;
    e->label = NULL;
    e->image = join_path(c->base, f->text[0], f->len[0]);
    if (!e->image) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory at line %d", lineno);
    if (f->n == 2) {
        e->label = join_path(c->base, f->text[1], f->len[1]);
        if (!e->label) {
            free(e->image);
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory at line %d", lineno);
        }
    }
    l->n++;
    return LSD_OK;
}

/* Parses a list from memory (see listfile.h). */
int listfile_parse(const char *text, size_t len, const char *base_dir, int min_fields,
                   int max_fields, list_file *out, lsd_err *err)
{
    list_ctx c;
    int rc;
    memset(out, 0, sizeof *out);
    if (min_fields < 1 || max_fields > 2 || min_fields > max_fields) {
        return lsd_fail(err, LSD_ERR_ARG, "list fields must be 1 or 2, not %d..%d", min_fields,
                        max_fields);
    }
    c.out = out;
    c.base = base_dir;
    c.min_fields = min_fields;
    c.max_fields = max_fields;
    rc = for_each_line(text, len, &c, add_entry, err);
    if (rc != LSD_OK) listfile_free(out);
    return rc;
}

/* Reads a list file and parses it relative to its folder. */
int listfile_load(const char *path, int relative_to_file, int min_fields, int max_fields,
                  list_file *out, lsd_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char *dir = NULL;
    const char *slash;
    int rc;
    memset(out, 0, sizeof *out);
    rc = lsd_read_file(path, &buf, &len, err);
    if (rc != LSD_OK) return rc;
    slash = strrchr(path, '/');
    if (relative_to_file) {
        size_t dlen = slash ? (size_t)(slash - path) : 1;
        dir = malloc(dlen + 1);
        if (!dir) {
            free(buf);
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory reading %s", path);
        }
        if (slash) {
            memcpy(dir, path, dlen);
            if (dlen == 0) dir[dlen++] = '/';
        } else {
            dir[0] = '.';
        }
        dir[dlen] = '\0';
    }
    rc = listfile_parse((const char *)buf, len, dir, min_fields, max_fields, out, err);
    if (rc != LSD_OK) lsd_err_prefix(err, "%s", path);
    free(dir);
    free(buf);
    return rc;
}

/* Frees the list's paths and array. */
void listfile_free(list_file *l)
{
    size_t i;
    for (i = 0; i < l->n; i++) {
        free(l->items[i].image);
        free(l->items[i].label);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Parses a decimal integer in [lo, hi] that fills the whole field. */
static int parse_int(const char *s, long lo, long hi, long *v)
{
    long x = 0;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (!*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        x = 10 * x + (*s - '0');
        if (x > 100000) return 0;
    }
    if (neg) x = -x;
    if (x < lo || x > hi) return 0;
    *v = x;
    return 1;
}

typedef struct {
    uint8_t *table;
    uint8_t seen[256];
} table_ctx;

/* Records one "id trainId" line. */
static int add_table_row(void *vctx, const line_fields *f, int lineno, lsd_err *err)
{
    table_ctx *c = vctx;
    long id, tr;
    if (f->n != 2) {
        return lsd_fail(err, LSD_ERR_FORMAT, "line %d: expected 'id trainId', found %d field%s",
                        lineno, f->n, f->n == 1 ? "" : "s");
    }
    if (!parse_int(f->text[0], 0, 255, &id)) {
        return lsd_fail(err, LSD_ERR_FORMAT, "line %d: id '%.40s' is not an integer in 0..255",
                        lineno, f->text[0]);
    }
    if (!parse_int(f->text[1], -1, 255, &tr)) {
        return lsd_fail(err, LSD_ERR_FORMAT,
                        "line %d: trainId '%.40s' is not an integer in -1..255", lineno,
                        f->text[1]);
    }
    if (c->seen[id]) {
        return lsd_fail(err, LSD_ERR_FORMAT, "line %d: id %ld listed twice", lineno, id);
    }
    c->seen[id] = 1;
    c->table[id] = (uint8_t)(tr < 0 ? 255 : tr);
    return LSD_OK;
}

/* Parses an id table from memory. */
int idtable_parse(const char *text, size_t len, uint8_t table[256], lsd_err *err)
{
    table_ctx c;
    memset(table, 255, 256);
    memset(c.seen, 0, sizeof c.seen);
    c.table = table;
    return for_each_line(text, len, &c, add_table_row, err);
}

/* Reads and parses an id table file. */
int idtable_load(const char *path, uint8_t table[256], lsd_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = lsd_read_file(path, &buf, &len, err);
    if (rc != LSD_OK) return rc;
    rc = idtable_parse((const char *)buf, len, table, err);
    if (rc != LSD_OK) lsd_err_prefix(err, "%s", path);
    free(buf);
    return rc;
}
