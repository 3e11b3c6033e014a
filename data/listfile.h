/*
 * listfile.h - the text formats of the generic list dataset.
 *
 * A list file names one sample per line:
 *
 *     # comment lines and blank lines are skipped
 *     images/0001.png   labels/0001.png
 *     "my photos/a b.png" "my labels/a b.png"   # quoted paths may hold spaces
 *
 * Fields are separated by spaces or tabs. A field is either bare (no spaces;
 * it ends at the next space or tab) or double-quoted (inside quotes a
 * backslash takes the next character literally, so \" and \\ write a quote
 * and a backslash). A '#' at the start of a field starts a comment that runs
 * to the end of the line. Lines end with LF or CRLF. A relative path is taken
 * relative to the list file's folder; a path starting with '/' is kept. A line
 * has one field (a name, as in the authors' split lists) or two (image and
 * label); the caller says which it accepts. NUL bytes, unterminated quotes,
 * empty paths and paths longer than LISTFILE_MAX_PATH are errors naming the line.
 *
 * An id table file maps label ids to train ids, one "id trainId" pair per line
 * (same comments and blank lines), with 0 <= id <= 255 and trainId in 0..255
 * or -1 (both mean ignore for 255 and -1). Ids not listed map to 255; an id
 * listed twice is an error.
 */
#ifndef LSD_LISTFILE_H
#define LSD_LISTFILE_H

#include <stddef.h>
#include <stdint.h>
#include "../tensor/common.h"

#define LISTFILE_MAX_PATH 4096

typedef struct {
    char *image; /* first field, joined to the base folder */
    char *label; /* second field, joined; NULL when the line had one field */
    int line;    /* 1-based line number in the file */
} list_entry;

typedef struct {
    list_entry *items;
    size_t n, cap;
} list_file;

/* Parses a list held in memory (len bytes, no terminator needed). Relative paths are joined
 * to base_dir unless it is NULL or empty. Every line must have between min_fields and
 * max_fields fields (each 1 or 2). On failure out is left empty. */
int listfile_parse(const char *text, size_t len, const char *base_dir, int min_fields,
                   int max_fields, list_file *out, lsd_err *err);
/* Reads and parses a list file, relative paths taken from the file's folder (or kept as they
 * are when relative_to_file is 0). Errors are prefixed with the path. */
int listfile_load(const char *path, int relative_to_file, int min_fields, int max_fields,
                  list_file *out, lsd_err *err);
/* Frees every path and the array; safe on a zeroed list_file. */
void listfile_free(list_file *l);

/* Parses an id table held in memory into table (unlisted ids -> 255). */
int idtable_parse(const char *text, size_t len, uint8_t table[256], lsd_err *err);
/* Reads and parses an id table file; errors are prefixed with the path. */
int idtable_load(const char *path, uint8_t table[256], lsd_err *err);

#endif
