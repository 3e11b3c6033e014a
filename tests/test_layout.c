/*
 * test_layout.c - the folders' dependency direction (docs/conventions.md, "Where things
 * live"): tensor <- layers <- gan <- opencl <- ref, with data beside them on tensor only. Every
 * `#include "../X/..."` in a *.c or *.h of a library folder must name a folder to its left;
 * one check per file, a failure names the file, the line and the include. Run from the
 * repository root (as `make test` does).
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* Each folder and the folders it may include from. */
static const struct {
    const char *dir;
    const char *may_use; /* space-separated */
} LAYERS[] = {
    {"tensor", ""},
    {"layers", "tensor"},
    {"gan", "tensor layers"},
    {"data", "tensor"},
    {"opencl", "tensor layers gan"},
    {"ref", "tensor layers gan data opencl"},
};
#define N_LAYERS ((int)(sizeof LAYERS / sizeof LAYERS[0]))

/* 1 if the word w (n bytes) is one of the space-separated words of list. */
static int has_word(const char *list, const char *w, size_t n)
{
    const char *p = list;
    while (*p) {
        size_t k = strcspn(p, " ");
        if (k == n && !strncmp(p, w, n)) return 1;
        p += k;
        while (*p == ' ') p++;
    }
    return 0;
}

/* Checks every include of one file; returns 1 if it was read. */
static int check_file(const char *path, const char *may_use)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0, bad = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = line, *q;
        n++;
        while (*p == ' ' || *p == '\t') p++;
        if (strncmp(p, "#include \"../", 13)) continue;
        p += 13;
        q = strchr(p, '/');
        if (!q || has_word(may_use, p, (size_t)(q - p))) continue;
        line[strcspn(line, "\n")] = '\0';
        CHECK(0, "%s:%d: %s reaches a folder to its right (allowed: %s)", path, n, line,
              *may_use ? may_use : "none");
        bad = 1;
        break;
    }
    fclose(f);
    if (!bad) CHECK(1, "%s", path);
    return 1;
}

int main(void)
{
    int k, files = 0;
    test_begin("layout");
    for (k = 0; k < N_LAYERS; k++) {
        DIR *d = opendir(LAYERS[k].dir);
        struct dirent *e;
        if (!CHECK(d != NULL, "folder %s/ (run from the repository root)", LAYERS[k].dir))
            continue;
        while ((e = readdir(d)) != NULL) {
            size_t n = strlen(e->d_name);
            char path[1024];
            if (n < 3 || (strcmp(e->d_name + n - 2, ".c") && strcmp(e->d_name + n - 2, ".h")))
                continue;
            snprintf(path, sizeof path, "%s/%s", LAYERS[k].dir, e->d_name);
            files += check_file(path, LAYERS[k].may_use);
        }
        closedir(d);
    }
    /* the library folders hold well over 50 sources; fewer means a walk somewhere else */
    CHECK(files > 50, "read %d sources in the library folders", files);
    return test_summary();
}
