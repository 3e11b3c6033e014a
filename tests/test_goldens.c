/*
 * test_goldens.c - the goldens are reproducible to the byte: golden/gen.py, run again into a
 * scratch folder, writes files identical to the committed safetensors files in golden/.
 *
 * Needs Python with torch and the same torch version as the one that made the goldens (their
 * metadata "torch_version"); otherwise it skips, saying why.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/png.h" /* lsd_read_file */
#include "../tensor/safetensors.h"
#include "harness.h"

/* 1 if name ends in ".safetensors". */
static int is_safetensors(const char *name)
{
    size_t n = strlen(name), k = strlen(".safetensors");
    return n > k && !strcmp(name + n - k, ".safetensors");
}

int main(void)
{
    const char *gold = test_golden_dir(), *py = test_python();
    char out[1024], probe[1024], path[2200], version[256] = "", made[256] = "";
    char log[4096];
    st_file sf;
    lsd_err err;
    DIR *d;
    struct dirent *e;
    int nfiles = 0;
    test_begin("goldens");
    if (!test_have_python_module("torch") || !test_have_python_module("numpy")) {
        test_skip("python3 with torch and numpy not found: goldens not regenerated");
        return test_summary();
    }
    snprintf(probe, sizeof probe, "%s/optim.safetensors", gold);
    if (st_open(&sf, probe, &err)) {
        CHECK(0, "cannot open %s: %s", probe, err.msg);
        return test_summary();
    }
    if (st_meta(&sf, "torch_version"))
        snprintf(made, sizeof made, "%s", st_meta(&sf, "torch_version"));
    st_close(&sf);
    if (test_run(version, sizeof version, "%s -c \"import torch; print(torch.__version__)\"", py) ||
        !strchr(version, '\n')) {
        CHECK(0, "cannot ask torch its version: %s", version);
        return test_summary();
    }
    *strchr(version, '\n') = '\0';
    if (strcmp(version, made)) {
        test_skip("the goldens were made with torch %s, this is torch %s: a byte comparison "
                  "needs the same version", made, version);
        return test_summary();
    }
    test_tmp_path(out, sizeof out, "goldens_again");
    CHECK(test_run(log, sizeof log, "rm -rf '%s' && mkdir -p '%s' && %s golden/gen.py --out '%s'",
                   out, out, py, out) == 0, "golden/gen.py --out %s runs: %s", out, log);
    if (!(d = opendir(gold))) {
        CHECK(0, "cannot list %s", gold);
        return test_summary();
    }
    while ((e = readdir(d)) != NULL) {
        uint8_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        if (!is_safetensors(e->d_name)) continue;
        nfiles++;
        snprintf(path, sizeof path, "%s/%s", gold, e->d_name);
        if (lsd_read_file(path, &a, &na, &err)) a = NULL;
        snprintf(path, sizeof path, "%s/%s", out, e->d_name);
        if (lsd_read_file(path, &b, &nb, &err)) b = NULL;
        CHECK(a && b && na == nb && !memcmp(a, b, na),
              "%s regenerated is identical to the byte (%lu and %lu bytes)", e->d_name,
              (unsigned long)na, (unsigned long)nb);
        free(a);
        free(b);
    }
    closedir(d);
    CHECK(nfiles >= 10, "%d golden files compared", nfiles);
    test_run(NULL, 0, "rm -rf '%s'", out);
    return test_summary();
}
