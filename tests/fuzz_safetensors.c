/* fuzz_safetensors.c - libFuzzer target: the input is a whole safetensors file. It is opened
 * from memory (every header rule checked) and, if valid, every tensor is read as its dtype
 * class; the same bytes are also given to the strict JSON validator as text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/json.h"
#include "../tensor/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads one tensor with the readers its dtype class allows, and its raw bytes: floats always
 * read; integers read or are refused as out of range (a value that does not fit the
 * destination exactly); the raw kinds are refused as not numbers. */
static void read_entry(st_file *sf, const st_entry *e)
{
    lsd_err err;
    size_t n = (size_t)e->nelem, bytes = (size_t)(e->end - e->begin);
    void *buf = malloc(n * 8 + bytes + 1); /* bytes <= input size, so this stays small */
    int cls = st_dtype_class(e->dtype), rc;
    if (!buf) return;
    if (cls == ST_CLASS_INT) {
        rc = st_read_i64(sf, e->name, (int64_t *)buf, n, e->ndim, e->shape, &err);
        if (rc != LSD_OK && rc != LSD_ERR_RANGE) abort();
        rc = st_read_f64(sf, e->name, (double *)buf, n, e->ndim, e->shape, &err);
        if (rc != LSD_OK && rc != LSD_ERR_RANGE) abort();
    } else if (cls == ST_CLASS_FLOAT) {
        if (st_read_f64(sf, e->name, (double *)buf, n, e->ndim, e->shape, &err) != LSD_OK) abort();
        if (st_read_real(sf, e->name, (real *)buf, n, -1, NULL, &err) != LSD_OK) abort();
    } else {
        if (st_read_f64(sf, e->name, (double *)buf, n, e->ndim, e->shape, &err) != LSD_ERR_ARG)
            abort();
    }
    if (st_read_raw(sf, e->name, buf, bytes, &err) != LSD_OK) abort();
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file sf;
    lsd_err err;
    int i;
    (void)json_validate((const char *)data, size, 64, &err);
    if (st_open_mem(&sf, data, size, "fuzz", &err) == LSD_OK) {
        for (i = 0; i < sf.n; i++) {
            /* every name is findable and the lookup returns the same entry */
            if (st_find(&sf, sf.entries[i].name) != &sf.entries[i]) abort();
            read_entry(&sf, &sf.entries[i]);
        }
        for (i = 0; i < sf.nmeta; i++)
            if (st_meta(&sf, sf.meta_keys[i]) != sf.meta_vals[i]) abort();
        st_close(&sf);
    } else if (strstr(err.msg, "fuzz") != err.msg)
        abort(); /* every rejection names the file first */
    return 0;
}
