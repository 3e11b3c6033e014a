/*
 * test_ascii.c - the house rule that sources are printable ASCII: every *.c, *.h,
 * *.cl and Makefile below the repository root may hold only bytes 0x20..0x7E,
 * newline and tab. One check per file; a failure names the file, line and byte.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static int nfiles;

/* 1 if name is a source file the rule covers. */
static int is_source(const char *name)
{
    size_t n = strlen(name);
    if (!strcmp(name, "Makefile")) return 1;
    if (n > 2 && (!strcmp(name + n - 2, ".c") || !strcmp(name + n - 2, ".h"))) return 1;
    if (n > 3 && !strcmp(name + n - 3, ".cl")) return 1;
    return 0;
}

/* Checks one file: every byte printable ASCII, newline or tab. */
static void check_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    int c, line = 1;
    long col = 0;
    if (!CHECK(f != NULL, "%s: cannot open", path)) return;
    nfiles++;
    while ((c = getc(f)) != EOF) {
        col++;
        if (c == '\n') {
            line++;
            col = 0;
            continue;
        }
        if (c == '\t' || (c >= 0x20 && c <= 0x7E)) continue;
        fclose(f);
        CHECK(0, "%s:%d:%ld: byte 0x%02X is not printable ASCII", path, line, col, c);
        return;
    }
    fclose(f);
    CHECK(1, "%s", path);
}

/* Walks dir recursively, skipping build output, git and hidden folders. */
static void walk(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d || depth > 8) {
        if (d) closedir(d);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char path[2048];
        struct stat st;
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "build")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode))
            walk(path, depth + 1);
        else if (S_ISREG(st.st_mode) && is_source(e->d_name))
            check_file(path);
    }
    closedir(d);
}

int main(void)
{
    test_begin("ascii");
    walk(".", 0);
    /* the tree has well over 50 sources; finding few means the walk ran somewhere else */
    CHECK(nfiles > 50, "found %d source files from the repository root", nfiles);
    return test_summary();
}
