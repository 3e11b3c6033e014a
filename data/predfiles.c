/* predfiles.c - prediction PNGs found and read as the official evaluation does (see
 * predfiles.h). */
#include "predfiles.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "png.h"

/* The file name part of a path. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A malloc'ed "dir/name", or NULL. */
static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    s[a] = '/';
    memcpy(s + a + 1, name, b + 1);
    return s;
}

/* qsort order of two paths: by file name, then by the whole path. */
static int cmp_path(const void *a, const void *b)
{
    const char *p = *(char *const *)a, *q = *(char *const *)b;
    int c = strcmp(base_name(p), base_name(q));
    return c ? c : strcmp(p, q);
}

/* Appends path (owned; freed on failure) to the list. */
static int push_path(pred_files *pf, size_t *cap, char *path, lsd_err *err)
{
    if (pf->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 256;
        char **v = realloc(pf->paths, nc * sizeof *v);
        if (!v) {
            free(path);
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory listing %s", pf->root);
        }
        pf->paths = v;
        *cap = nc;
    }
    pf->paths[pf->n++] = path;
    return LSD_OK;
}

/* Adds the *.png files of dir and, recursively, of its folders (not through links). */
static int scan_dir(pred_files *pf, size_t *cap, const char *dir, lsd_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    int rc = LSD_OK;
    if (!d) return lsd_fail(err, LSD_ERR_IO, "cannot open folder %s", dir);
    while (rc == LSD_OK && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char *full;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!(full = join(dir, e->d_name))) {
            rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory listing %s", dir);
        } else if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = scan_dir(pf, cap, full, err);
            free(full);
        } else if (len > 4 && !strcmp(e->d_name + len - 4, ".png") && stat(full, &st) == 0 &&
                   S_ISREG(st.st_mode)) {
            rc = push_path(pf, cap, full, err);
        } else {
            free(full);
        }
    }
    closedir(d);
    return rc;
}

/* Lists and sorts the candidates. */
int predfiles_scan(pred_files *pf, const char *root, lsd_err *err)
{
    struct stat st;
    size_t cap = 0;
    int rc;
    memset(pf, 0, sizeof *pf);
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return lsd_fail(err, LSD_ERR_NOTFOUND, "prediction folder %s not found", root);
    }
    pf->root = malloc(strlen(root) + 1);
    if (!pf->root) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory");
    strcpy(pf->root, root);
    rc = scan_dir(pf, &cap, root, err);
    if (rc == LSD_OK && pf->n) {
        pf->uses = calloc(pf->n, sizeof *pf->uses);
        if (!pf->uses) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory listing %s", root);
        else qsort(pf->paths, pf->n, sizeof *pf->paths, cmp_path);
    }
    if (rc != LSD_OK) predfiles_free(pf);
    return rc;
}

/* Frees the paths. */
void predfiles_free(pred_files *pf)
{
    size_t i;
    for (i = 0; pf->paths && i < pf->n; i++) free(pf->paths[i]);
    free(pf->paths);
    free(pf->uses);
    free(pf->root);
    memset(pf, 0, sizeof *pf);
}

/* Cityscapes: the first three '_' fields of the ground truth's name (getCsFileInfo);
 * otherwise the image's name without ".png" and "_leftImg8bit". */
int predfiles_key(char *key, size_t cap, const Dataset *ds, size_t i, lsd_err *err)
{
    const char *name, *p;
    size_t len;
    int fields = 0;
    if (i >= ds->n) return lsd_fail(err, LSD_ERR_RANGE, "sample %lu out of range", (unsigned long)i);
    if (ds->kind == DATASET_CITYSCAPES) {
        name = base_name(ds->labels[i]);
        for (p = name; *p && fields < 3; p++) fields += *p == '_';
        if (fields < 3) {
            return lsd_fail(err, LSD_ERR_FORMAT, "%s: not a Cityscapes file name "
                            "<city>_<seq>_<frame>_<type>.png", ds->labels[i]);
        }
        len = (size_t)(p - 1 - name);
    } else {
        name = base_name(ds->images[i]);
        len = strlen(name);
        if (len > 4 && !strcmp(name + len - 4, ".png")) len -= 4;
        if (len > 12 && !strncmp(name + len - 12, "_leftImg8bit", 12)) len -= 12;
    }
    if (len == 0 || len >= cap) {
        return lsd_fail(err, LSD_ERR_ARG, "%s: no usable frame name for a prediction",
                        ds->labels[i]);
    }
    memcpy(key, name, len);
    key[len] = '\0';
    return LSD_OK;
}

/* Binary search for the first name >= key; the names starting with key follow it. */
int predfiles_match(pred_files *pf, const char *key, const char *gt, size_t *index,
                    lsd_err *err)
{
    size_t lo = 0, hi = pf->n, klen = strlen(key), i, found = 0, first = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(base_name(pf->paths[mid]), key) < 0) lo = mid + 1;
        else hi = mid;
    }
    for (i = lo; i < pf->n && !strncmp(base_name(pf->paths[i]), key, klen); i++) {
        if (strlen(base_name(pf->paths[i])) < klen + 4) continue; /* "<key>*.png" */
        if (found++) {
            return lsd_fail(err, LSD_ERR_FORMAT, "two predictions for frame %s (ground truth %s): "
                            "%s and %s both match %s*.png; keep one file per frame (point at a "
                            "folder that holds only the label-id PNGs)", key, gt,
                            pf->paths[first], pf->paths[i], key);
        }
        first = i;
    }
    if (!found) {
        return lsd_fail(err, LSD_ERR_NOTFOUND, "no prediction for frame %s (ground truth %s): "
                        "no file named %s*.png under %s (searched recursively)", key, gt, key,
                        pf->root);
    }
    pf->uses[first]++;
    *index = first;
    return LSD_OK;
}

/* The name of a PNG colour type. */
static const char *color_name(int t)
{
    switch (t) {
    case 0: return "grey";
    case 2: return "RGB";
    case 3: return "palette";
    case 4: return "grey+alpha";
    case 6: return "RGBA";
    }
    return "?";
}

/* Decodes, checks format and size, and maps every value to a train id or PRED_VOID. */
int predfiles_load(const char *path, pred_format fmt, int H, int W, uint8_t *out, lsd_err *err)
{
    uint8_t table[256];
    png_image img;
    const uint8_t *v;
    size_t i, n = (size_t)H * W;
    int rc, k;
    rc = png_load(path, PNG_OUT_AS_STORED, 0, NULL, &img, err);
    if (rc != LSD_OK) return rc;
    if (!(img.info.color_type == 3 || (img.info.color_type == 0 && img.info.bit_depth == 8)) ||
        img.channels != 1 || img.depth16) {
        rc = lsd_fail(err, LSD_ERR_FORMAT, "%s: colour type %s, %d bits per sample; a prediction "
                      "must be an 8-bit grey (or palette) PNG of label ids, one value per pixel "
                      "(a colour rendering? write the ids themselves)", path,
                      color_name(img.info.color_type), img.info.bit_depth);
    } else if ((int)img.width != W || (int)img.height != H) {
        rc = lsd_fail(err, LSD_ERR_FORMAT, "%s is %lux%lu (width x height) but its ground truth "
                      "is %dx%d: predictions are scored at the ground truth's full size, without "
                      "resizing; write them at that size", path, (unsigned long)img.width,
                      (unsigned long)img.height, W, H);
    }
    if (rc != LSD_OK) {
        png_image_free(&img);
        return rc;
    }
    if (fmt == PRED_IDS) {
        labels_cityscapes_table(table);
        for (k = 0; k < 256; k++)
            if (table[k] == LABEL_IGNORE) table[k] = k < CS_NUM_IDS ? PRED_VOID : LABEL_IGNORE;
    } else {
        for (k = 0; k < 256; k++) table[k] = k < CS_NUM_CLASSES ? (uint8_t)k : LABEL_IGNORE;
        table[255] = PRED_VOID;
    }
    v = img.data;
    for (i = 0; i < n && table[v[i]] != LABEL_IGNORE; i++) out[i] = table[v[i]];
    if (i < n) {
        rc = lsd_fail(err, LSD_ERR_RANGE, "%s: pixel (x %lu, y %lu) holds %d, not %s; are the "
                      "values %s (--pred-format %s)?", path, (unsigned long)(i % (size_t)W),
                      (unsigned long)(i / (size_t)W), v[i],
                      fmt == PRED_IDS ? "a Cityscapes label id 0..33" : "a train id 0..18 or 255",
                      fmt == PRED_IDS ? "train ids" : "label ids",
                      fmt == PRED_IDS ? "trainid" : "id");
    }
    png_image_free(&img);
    return rc;
}
