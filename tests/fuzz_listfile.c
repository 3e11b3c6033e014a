/* fuzz_listfile.c - libFuzzer target: the list-file and id-table parsers on arbitrary bytes.
 * The first byte selects the parser and its field counts; the rest is the text. Checks that
 * every parsed path is a non-empty C string within the length limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../data/listfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses data as selected by its first byte; aborts on a broken invariant. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsd_err err;
    list_file l;
    uint8_t table[256];
    const char *text;
    size_t i;
    int sel, lo, hi;
    if (size == 0) return 0;
    sel = data[0] % 4;
    text = (const char *)data + 1;
    size--;
    if (sel == 3) {
        if (idtable_parse(text, size, table, &err) != LSD_OK && err.msg[0] == '\0') abort();
        return 0;
    }
    lo = sel == 1 ? 2 : 1;
    hi = sel == 0 ? 1 : 2;
    if (listfile_parse(text, size, (data[0] & 4) ? "base/dir" : NULL, lo, hi, &l, &err) !=
        LSD_OK) {
        if (l.n != 0 || l.items != NULL || err.msg[0] == '\0') abort();
        return 0;
    }
    for (i = 0; i < l.n; i++) {
        size_t n = strlen(l.items[i].image);
        if (n == 0 || n > LISTFILE_MAX_PATH + 10) abort();
        if (hi == 1 && l.items[i].label != NULL) abort();
        if (lo == 2 && (l.items[i].label == NULL || strlen(l.items[i].label) == 0)) abort();
        if (l.items[i].line < 1) abort();
    }
    listfile_free(&l);
    return 0;
}
