/* dataset.c - Cityscapes, GTA5, SYNTHIA and list datasets (see dataset.h). */
#include "dataset.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "labels.h"
#include "listfile.h"
#include "png.h"
#include "transform.h"

/* A growing array of (image, label) path pairs. */
typedef struct {
    char **images, **labels;
    size_t n, cap;
} pair_vec;

/* A malloc'ed concatenation of the strings given, up to a NULL. */
static char *concat(const char *first, ...)
{
    va_list ap;
    const char *part;
    size_t len = 0, k = 0;
    char *s;
    va_start(ap, first);
    for (part = first; part; part = va_arg(ap, const char *)) len += strlen(part);
    va_end(ap);
    s = malloc(len + 1);
    if (!s) return NULL;
    va_start(ap, first);
    for (part = first; part; part = va_arg(ap, const char *)) {
        size_t m = strlen(part);
        memcpy(s + k, part, m);
        k += m;
    }
    va_end(ap);
    s[k] = '\0';
    return s;
}

/* 1 if path exists and is a directory. */
static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* 1 if path exists and is a regular file. */
static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* 1 if s ends with suffix. */
static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* qsort comparison of two C strings by byte value. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Frees an array of n strings. */
static void free_strs(char **v, size_t n)
{
    size_t i;
    if (!v) return;
    for (i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Lists the entries of dir that are folders (want_dirs) or files ending with suffix, sorted
 * by name. Hidden entries (starting with '.') are skipped. */
static int list_dir(const char *dir, int want_dirs, const char *suffix, char ***names, size_t *n,
                    lsd_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    *names = NULL;
    *n = 0;
    if (!d) return lsd_fail(err, LSD_ERR_IO, "cannot open folder %s", dir);
    while ((e = readdir(d)) != NULL) {
        char *full;
        int keep;
        if (e->d_name[0] == '.') continue;
        if (!want_dirs && !ends_with(e->d_name, suffix)) continue;
        full = concat(dir, "/", e->d_name, (char *)NULL);
        if (!full) goto nomem;
        keep = want_dirs ? is_dir(full) : is_file(full);
        free(full);
        if (!keep) continue;
        if (cnt == cap) {
            size_t nc = cap ? 2 * cap : 64;
            char **p = realloc(v, nc * sizeof *p);
            if (!p) goto nomem;
            v = p;
            cap = nc;
        }
        v[cnt] = concat(e->d_name, (char *)NULL);
        if (!v[cnt]) goto nomem;
        cnt++;
    }
    closedir(d);
    if (cnt) qsort(v, cnt, sizeof *v, cmp_str);
    *names = v;
    *n = cnt;
    return LSD_OK;
nomem:
    closedir(d);
    free_strs(v, cnt);
    return lsd_fail(err, LSD_ERR_NOMEM, "out of memory listing %s", dir);
}

/* Appends a pair, taking ownership of both strings (freed on failure). */
static int push_pair(pair_vec *p, char *image, char *label, lsd_err *err)
{
    if (!image || !label) {
        free(image);
        free(label);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory listing the dataset");
    }
    if (p->n == p->cap) {
        size_t nc = p->cap ? 2 * p->cap : 256;
        char **a = realloc(p->images, nc * sizeof *a), **b;
        if (a) p->images = a;
        b = a ? realloc(p->labels, nc * sizeof *b) : NULL;
        if (!b) {
            free(image);
            free(label);
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory listing the dataset");
        }
        p->labels = b;
        p->cap = nc;
    }
    p->images[p->n] = image;
    p->labels[p->n] = label;
    p->n++;
    return LSD_OK;
}

/* Checks that both files of every pair exist; expect describes the layout for the message. */
static int check_pairs(const pair_vec *p, const char *expect, lsd_err *err)
{
    size_t i;
    for (i = 0; i < p->n; i++) {
        if (!is_file(p->images[i])) {
            return lsd_fail(err, LSD_ERR_NOTFOUND, "image %s not found: expected %s",
                            p->images[i], expect);
        }
        if (!is_file(p->labels[i])) {
            return lsd_fail(err, LSD_ERR_NOTFOUND, "label %s not found for image %s: expected %s",
                            p->labels[i], p->images[i], expect);
        }
    }
    return LSD_OK;
}

/* Cityscapes pairs of one split: all cities, or the names of the authors' list. */
static int scan_cityscapes(pair_vec *p, const char *root, const char *split, const list_file *names,
                           lsd_err *err)
{
    static const char img_suffix[] = "_leftImg8bit.png", gt_suffix[] = "_gtFine_labelIds.png";
    char *img_dir = concat(root, "/leftImg8bit/", split, (char *)NULL);
    char *gt_dir = concat(root, "/gtFine/", split, (char *)NULL);
    char **cities = NULL, **files = NULL;
    size_t ncities = 0, nfiles = 0, c, f;
    int rc = LSD_OK;
    if (!img_dir || !gt_dir) {
        rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!is_dir(img_dir) || !is_dir(gt_dir)) {
        rc = lsd_fail(err, LSD_ERR_NOTFOUND,
                      "%s/%s not found under %s: expected the Cityscapes layout "
                      "leftImg8bit/{train,val}/<city>/*%s and gtFine/{train,val}/<city>/*%s",
                      is_dir(img_dir) ? "gtFine" : "leftImg8bit", split, root, img_suffix,
                      gt_suffix);
        goto done;
    }
    if (names) {
        for (f = 0; f < names->n && rc == LSD_OK; f++) {
            const char *name = names->items[f].image;
            size_t len = strlen(name);
            char *stem = malloc(len + 1);
            if (!stem) {
                rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(stem, name, len + 1);
            if (ends_with(stem, img_suffix)) stem[len - strlen(img_suffix)] = '\0';
            rc = push_pair(p, concat(img_dir, "/", stem, img_suffix, (char *)NULL),
                           concat(gt_dir, "/", stem, gt_suffix, (char *)NULL), err);
            free(stem);
        }
    } else {
        rc = list_dir(img_dir, 1, NULL, &cities, &ncities, err);
        for (c = 0; c < ncities && rc == LSD_OK; c++) {
            char *city_dir = concat(img_dir, "/", cities[c], (char *)NULL);
            if (!city_dir) {
                rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory");
                break;
            }
            rc = list_dir(city_dir, 0, img_suffix, &files, &nfiles, err);
            for (f = 0; f < nfiles && rc == LSD_OK; f++) {
                files[f][strlen(files[f]) - strlen(img_suffix)] = '\0'; /* the stem */
                rc = push_pair(p, concat(city_dir, "/", files[f], img_suffix, (char *)NULL),
                               concat(gt_dir, "/", cities[c], "/", files[f], gt_suffix,
                                      (char *)NULL), err);
            }
            free_strs(files, nfiles);
            files = NULL;
            free(city_dir);
        }
        if (rc == LSD_OK && p->n == 0) {
            rc = lsd_fail(err, LSD_ERR_NOTFOUND,
                          "no images under %s: expected <city>/*%s files", img_dir, img_suffix);
        }
    }
    if (rc == LSD_OK) {
        char expect[256];
        snprintf(expect, sizeof expect, "the Cityscapes layout gtFine/%s/<city>/*%s beside "
                 "leftImg8bit/%s/<city>/*%s", split, gt_suffix, split, img_suffix);
        rc = check_pairs(p, expect, err);
    }
done:
    free_strs(cities, ncities);
    free(img_dir);
    free(gt_dir);
    return rc;
}

/* GTA5 or SYNTHIA pairs: images in img_sub, labels of the same name in lab_sub. */
static int scan_flat(pair_vec *p, const char *root, const char *img_sub, const char *lab_sub,
                     const char *what, const list_file *names, lsd_err *err)
{
    char *img_dir = concat(root, "/", img_sub, (char *)NULL);
    char *lab_dir = concat(root, "/", lab_sub, (char *)NULL);
    char **files = NULL;
    size_t nfiles = 0, f;
    int rc = LSD_OK;
    char expect[256];
    snprintf(expect, sizeof expect, "the %s layout %s/<name>.png and %s/<name>.png", what,
             img_sub, lab_sub);
    if (!img_dir || !lab_dir) {
        rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!is_dir(img_dir) || !is_dir(lab_dir)) {
        rc = lsd_fail(err, LSD_ERR_NOTFOUND, "%s not found under %s: expected %s",
                      is_dir(img_dir) ? lab_sub : img_sub, root, expect);
        goto done;
    }
    if (names) {
        for (f = 0; f < names->n && rc == LSD_OK; f++) {
            const char *name = names->items[f].image;
            rc = push_pair(p, concat(img_dir, "/", name, (char *)NULL),
                           concat(lab_dir, "/", name, (char *)NULL), err);
        }
    } else {
        rc = list_dir(img_dir, 0, ".png", &files, &nfiles, err);
        for (f = 0; f < nfiles && rc == LSD_OK; f++) {
            rc = push_pair(p, concat(img_dir, "/", files[f], (char *)NULL),
                           concat(lab_dir, "/", files[f], (char *)NULL), err);
        }
        if (rc == LSD_OK && nfiles == 0) {
            rc = lsd_fail(err, LSD_ERR_NOTFOUND, "no *.png images in %s: expected %s", img_dir,
                          expect);
        }
    }
    if (rc == LSD_OK) rc = check_pairs(p, expect, err);
done:
    free_strs(files, nfiles);
    free(img_dir);
    free(lab_dir);
    return rc;
}

/* Kind names, in enum order. */
const char *dataset_kind_name(dataset_kind kind)
{
    switch (kind) {
    case DATASET_CITYSCAPES: return "cityscapes";
    case DATASET_GTA5: return "gta5";
    case DATASET_SYNTHIA: return "synthia";
    case DATASET_LIST: return "list";
    }
    return "?";
}

/* The kind of a name. */
int dataset_kind_parse(const char *name, dataset_kind *kind, lsd_err *err)
{
    int k;
    for (k = 0; k <= DATASET_LIST; k++) {
        if (strcmp(name, dataset_kind_name((dataset_kind)k)) == 0) {
            *kind = (dataset_kind)k;
            return LSD_OK;
        }
    }
    return lsd_fail(err, LSD_ERR_ARG,
                    "unknown dataset '%s': expected cityscapes, gta5, synthia or list", name);
}

/* Moves a scanned pair list into ds. */
static void take_pairs(Dataset *ds, pair_vec *p)
{
    ds->images = p->images;
    ds->labels = p->labels;
    ds->n = p->n;
    memset(p, 0, sizeof *p);
}

/* Opens a Cityscapes, GTA5 or SYNTHIA dataset. */
int dataset_open(Dataset *ds, dataset_kind kind, const char *root, const char *split,
                 const char *listfile, lsd_err *err)
{
    pair_vec p;
    list_file names;
    int rc;
    memset(ds, 0, sizeof *ds);
    memset(&p, 0, sizeof p);
    memset(&names, 0, sizeof names);
    if (kind == DATASET_LIST) {
        return lsd_fail(err, LSD_ERR_ARG, "a list dataset is opened with dataset_open_list");
    }
    if (!root || !*root) return lsd_fail(err, LSD_ERR_ARG, "no dataset folder given");
    if (!is_dir(root)) {
        return lsd_fail(err, LSD_ERR_NOTFOUND, "dataset folder %s not found (%s)", root,
                        dataset_kind_name(kind));
    }
    if (kind == DATASET_CITYSCAPES && (!split || !*split || strchr(split, '/'))) {
        return lsd_fail(err, LSD_ERR_ARG, "Cityscapes needs a split name (train or val)");
    }
    if (listfile) {
        rc = listfile_load(listfile, 0, 1, 1, &names, err);
        if (rc != LSD_OK) return rc;
        if (names.n == 0) {
            listfile_free(&names);
            return lsd_fail(err, LSD_ERR_FORMAT, "%s: the list names no files", listfile);
        }
    }
    ds->kind = kind;
    if (kind == DATASET_CITYSCAPES) {
        labels_cityscapes_table(ds->table);
        rc = scan_cityscapes(&p, root, split, listfile ? &names : NULL, err);
    } else if (kind == DATASET_GTA5) {
        labels_cityscapes_table(ds->table);
        rc = scan_flat(&p, root, "images", "labels", "GTA5", listfile ? &names : NULL, err);
    } else if (kind == DATASET_SYNTHIA) {
        labels_synthia_table(ds->table);
        rc = scan_flat(&p, root, "RGB", "GT/LABELS", "SYNTHIA-RAND-CITYSCAPES",
                       listfile ? &names : NULL, err);
    } else {
        rc = lsd_fail(err, LSD_ERR_ARG, "unknown dataset kind %d", (int)kind);
    }
    if (rc != LSD_OK && listfile) lsd_err_prefix(err, "with the list %s", listfile);
    listfile_free(&names);
    if (rc == LSD_OK) {
        ds->root = concat(root, (char *)NULL);
        if (!ds->root) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory");
    }
    take_pairs(ds, &p);
    if (rc != LSD_OK) dataset_close(ds);
    return rc;
}

/* Opens a list dataset of "image label" pairs with an optional id table. */
int dataset_open_list(Dataset *ds, const char *listfile, const char *tablefile, lsd_err *err)
{
    pair_vec p;
    list_file l;
    size_t i;
    int rc;
    const char *slash;
    memset(ds, 0, sizeof *ds);
    memset(&p, 0, sizeof p);
    ds->kind = DATASET_LIST;
    labels_identity_table(ds->table);
    if (tablefile) {
        rc = idtable_load(tablefile, ds->table, err);
        if (rc != LSD_OK) return rc;
    }
    rc = listfile_load(listfile, 1, 2, 2, &l, err);
    if (rc != LSD_OK) return rc;
    for (i = 0; i < l.n && rc == LSD_OK; i++) {
        rc = push_pair(&p, l.items[i].image, l.items[i].label, err);
        l.items[i].image = l.items[i].label = NULL;
    }
    listfile_free(&l);
    if (rc == LSD_OK && p.n == 0) {
        rc = lsd_fail(err, LSD_ERR_FORMAT, "the list names no 'image label' pairs");
    }
    if (rc == LSD_OK) rc = check_pairs(&p, "the files named by the list", err);
    if (rc == LSD_OK) {
        slash = strrchr(listfile, '/');
        ds->root = slash ? malloc((size_t)(slash - listfile) + 1) : concat(".", (char *)NULL);
        if (!ds->root) {
            rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory");
        } else if (slash) {
            memcpy(ds->root, listfile, (size_t)(slash - listfile));
            ds->root[slash - listfile] = '\0';
        }
    }
    take_pairs(ds, &p);
    if (rc != LSD_OK) {
        lsd_err_prefix(err, "%s", listfile);
        dataset_close(ds);
    }
    return rc;
}

/* Number of samples. */
size_t dataset_size(const Dataset *ds) { return ds->n; }

/* Frees the path lists. */
void dataset_close(Dataset *ds)
{
    free_strs(ds->images, ds->n);
    free_strs(ds->labels, ds->n);
    free(ds->root);
    memset(ds, 0, sizeof *ds);
}

/* Allocates an H x W sample. */
int sample_alloc(sample *s, int height, int width, lsd_err *err)
{
    size_t hw;
    memset(s, 0, sizeof *s);
    if (height <= 0 || width <= 0 || lsd_mul_size((size_t)height, (size_t)width, &hw) ||
        hw > ((size_t)-1) / 3) {
        return lsd_fail(err, LSD_ERR_ARG, "bad sample size %dx%d", width, height);
    }
    s->image = calloc(hw, 3);
    s->label = calloc(hw, 1);
    if (!s->image || !s->label) {
        sample_free(s);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for a %dx%d sample", width, height);
    }
    s->height = s->label_height = height;
    s->width = s->label_width = width;
    return LSD_OK;
}

/* Frees a sample. */
void sample_free(sample *s)
{
    free(s->image);
    free(s->label);
    memset(s, 0, sizeof *s);
}

/* Decodes a label file into train ids (H*W bytes, malloc'ed) with its size. */
static int load_label(const Dataset *ds, const char *path, uint8_t **out, int *h, int *w,
                      lsd_err *err)
{
    png_image img;
    size_t n, i;
    uint8_t *lab;
    int rc;
    if (ds->kind == DATASET_SYNTHIA) {
        rc = png_load(path, PNG_OUT_AS_STORED, 1, NULL, &img, err);
        if (rc != LSD_OK) return rc;
        if (img.info.color_type != 2 && img.info.color_type != 6 && img.info.color_type != 0) {
            png_image_free(&img);
            return lsd_fail(err, LSD_ERR_FORMAT,
                            "%s: expected a SYNTHIA GT/LABELS PNG (RGB, class id in channel 0), "
                            "found colour type %d", path, img.info.color_type);
        }
    } else {
        rc = png_load(path, PNG_OUT_GRAY, 0, NULL, &img, err);
        if (rc != LSD_OK) return rc;
        if (img.info.color_type != 0 && img.info.color_type != 3) {
            png_image_free(&img);
            return lsd_fail(err, LSD_ERR_FORMAT,
                            "%s: expected a label-id PNG (gray or palette indices), found colour "
                            "type %d (a colour rendering?)", path, img.info.color_type);
        }
    }
    n = (size_t)img.width * img.height;
    lab = malloc(n ? n : 1);
    if (!lab) {
        png_image_free(&img);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory decoding %s", path);
    }
    if (img.depth16) {
        const uint16_t *src = img.data;
        for (i = 0; i < n; i++) {
            unsigned v = src[i * (size_t)img.channels];
            lab[i] = v < 256 ? ds->table[v] : LABEL_IGNORE;
        }
    } else {
        const uint8_t *src = img.data;
        for (i = 0; i < n; i++) lab[i] = ds->table[src[i * (size_t)img.channels]];
    }
    *h = (int)img.height;
    *w = (int)img.width;
    *out = lab;
    png_image_free(&img);
    return LSD_OK;
}

/* Decodes the label of sample i at its stored size. */
int dataset_load_label(const Dataset *ds, size_t i, uint8_t **label, int *height, int *width,
                       lsd_err *err)
{
    *label = NULL;
    *height = *width = 0;
    if (i >= ds->n) {
        return lsd_fail(err, LSD_ERR_RANGE, "sample %lu out of range (dataset of %lu)",
                        (unsigned long)i, (unsigned long)ds->n);
    }
    return load_label(ds, ds->labels[i], label, height, width, err);
}

/* Decodes sample i (see dataset.h). */
int dataset_load(const Dataset *ds, size_t i, sample *s, lsd_err *err)
{
    png_image img;
    uint8_t *lab = NULL;
    int lh = 0, lw = 0, rc;
    memset(s, 0, sizeof *s);
    if (i >= ds->n) {
        return lsd_fail(err, LSD_ERR_RANGE, "sample %lu out of range (dataset of %lu)",
                        (unsigned long)i, (unsigned long)ds->n);
    }
    rc = png_load(ds->images[i], PNG_OUT_RGB, 0, NULL, &img, err);
    if (rc != LSD_OK) return rc;
    if (img.channels != 3 || img.depth16) {
        png_image_free(&img);
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: decoder gave %d channels, expected RGB",
                        ds->images[i], img.channels);
    }
    rc = load_label(ds, ds->labels[i], &lab, &lh, &lw, err);
    if (rc != LSD_OK) {
        png_image_free(&img);
        return rc;
    }
    s->height = (int)img.height;
    s->width = (int)img.width;
    s->image = img.data;
    img.data = NULL;
    png_image_free(&img);
    s->label_height = s->height;
    s->label_width = s->width;
    if (lh == s->height && lw == s->width) {
        s->label = lab;
        return LSD_OK;
    }
    s->label = malloc((size_t)s->height * (size_t)s->width);
    if (!s->label) {
        free(lab);
        sample_free(s);
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory resizing %s", ds->labels[i]);
    }
    rc = resize_nearest_u8(s->label, s->height, s->width, lab, lh, lw, 1, err);
    free(lab);
    if (rc != LSD_OK) {
        sample_free(s);
        return rc;
    }
    s->label_resized = 1;
    return LSD_OK;
}
