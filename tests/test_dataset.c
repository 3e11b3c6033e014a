/* test_dataset.c - miniature Cityscapes, GTA5, SYNTHIA and list datasets written in the real
 * file formats by a Python fixture (Pillow; SYNTHIA's 16-bit RGB labels with zlib by hand);
 * loaded samples must equal the mappings the fixture computes with numpy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../data/dataset.h"
#include "../data/labels.h"
#include "../data/listfile.h"
#include "harness.h"

/* The Python with numpy and Pillow: $LSD_PYTHON, /usr/bin/python3, or python3. */
static const char *const script[] = {
    "import sys, os, zlib, struct, shutil, numpy as np",
    "from PIL import Image",
    "R = sys.argv[1]; shutil.rmtree(R, ignore_errors=True)",
    "rng = np.random.RandomState(5)",
    "cs = np.full(256, 255, np.uint8)",
    "for t, i in enumerate([7,8,11,12,13,17,19,20,21,22,23,24,25,26,27,28,31,32,33]): cs[i] = t",
    "syn = np.full(65536, 255, np.uint8)",
    "for i, t in enumerate([255,10,2,0,1,4,8,5,13,7,11,18,17,255,255,6,255,12,255,15,255,3,255]): syn[i] = t",
    "def mk(p): os.makedirs(os.path.dirname(p), exist_ok=True); return p",
    "def expect(kind, k, img, lab):",
    "    img.astype(np.uint8).tofile(mk('%s/expect/%s_%d_img.bin' % (R, kind, k)))",
    "    lab.astype(np.uint8).tofile('%s/expect/%s_%d_lab.bin' % (R, kind, k))",
    "    open('%s/expect/%s_%d.txt' % (R, kind, k), 'w').write('%d %d\\n' % lab.shape)",
    "def rgb(h, w): return rng.randint(0, 256, (h, w, 3)).astype(np.uint8)",
    "# Cityscapes: 2 cities per split, sorted order aachen, bochum",
    "for split in ('train', 'val'):",
    "    k = 0",
    "    for city in ('aachen', 'bochum'):",
    "        for f in (19, 3):",
    "            stem = '%s_000000_%06d' % (city, f)",
    "            im = rgb(12, 16); ids = rng.randint(0, 34, (12, 16)).astype(np.uint8)",
    "            Image.fromarray(im).save(mk('%s/cs/leftImg8bit/%s/%s/%s_leftImg8bit.png' % (R, split, city, stem)))",
    "            Image.fromarray(ids).save(mk('%s/cs/gtFine/%s/%s/%s_gtFine_labelIds.png' % (R, split, city, stem)))",
    "            Image.fromarray(im).save('%s/cs/gtFine/%s/%s/%s_gtFine_color.png' % (R, split, city, stem))",
    "        open('%s/cs/leftImg8bit/%s/%s/README.txt' % (R, split, city), 'w').write('x')",
    "        for f in (3, 19):",
    "            stem = '%s_000000_%06d' % (city, f)",
    "            im = np.array(Image.open('%s/cs/leftImg8bit/%s/%s/%s_leftImg8bit.png' % (R, split, city, stem)))",
    "            ids = np.array(Image.open('%s/cs/gtFine/%s/%s/%s_gtFine_labelIds.png' % (R, split, city, stem)))",
    "            expect('cs_' + split, k, im, cs[ids]); k += 1",
    "open(R + '/cs_list.txt', 'w').write('# authors list\\nbochum/bochum_000000_000019_leftImg8bit.png\\naachen/aachen_000000_000003\\n')",
    "# GTA5: palette labels with a scrambled palette; frame 2 has a label of another size",
    "pal = rng.randint(0, 256, 768).astype(np.uint8).tolist()",
    "for k in range(3):",
    "    im = rgb(10, 14)",
    "    lh, lw = (13, 9) if k == 1 else (10, 14)",
    "    ids = rng.randint(0, 40, (lh, lw)).astype(np.uint8)",
    "    p = Image.fromarray(ids, 'P'); p.putpalette(pal)",
    "    Image.fromarray(im).save(mk('%s/gta/images/%05d.png' % (R, k + 1)))",
    "    p.save(mk('%s/gta/labels/%05d.png' % (R, k + 1)))",
    "    assert Image.open('%s/gta/labels/%05d.png' % (R, k + 1)).mode == 'P'",
    "    lab = np.array(Image.fromarray(ids).resize((14, 10), Image.NEAREST)) if k == 1 else ids",
    "    expect('gta', k, im, cs[lab])",
    "# SYNTHIA: 16-bit RGB labels written by hand (Pillow cannot): class in R, instance in G",
    "def png16(path, a):",
    "    h, w, _ = a.shape",
    "    raw = b''.join(b'\\0' + a[y].astype('>u2').tobytes() for y in range(h))",
    "    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)",
    "    open(mk(path), 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, 2, 0, 0, 0))",
    "        + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))",
    "for k in range(2):",
    "    im = rgb(9, 11)",
    "    a = np.zeros((9, 11, 3), np.uint16)",
    "    a[..., 0] = rng.randint(0, 23, (9, 11)); a[0, 0, 0] = 300; a[0, 1, 0] = 259",
    "    a[..., 1] = rng.randint(0, 65536, (9, 11)); a[..., 2] = 7",
    "    Image.fromarray(im).save(mk('%s/syn/RGB/%07d.png' % (R, k)))",
    "    png16('%s/syn/GT/LABELS/%07d.png' % (R, k), a)",
    "    expect('syn', k, im, syn[a[..., 0]])",
    "# list dataset with a quoted path and an id table",
    "tab = np.full(256, 255, np.uint8); tab[1] = 0; tab[2] = 5; tab[3] = 255; tab[9] = 1",
    "open(mk(R + '/own/table.txt'), 'w').write('# id trainId\\n1 0\\n2 5\\n3 -1\\n9 1\\n')",
    "lines = ['# my data', '']",
    "for k in range(2):",
    "    im = rgb(7, 8); lab = rng.choice([1, 2, 3, 9, 100], (7, 8)).astype(np.uint8)",
    "    Image.fromarray(im).save(mk('%s/own/my images/%d.png' % (R, k)))",
    "    Image.fromarray(lab).save(mk('%s/own/labels/%d.png' % (R, k)))",
    "    lines.append('\"my images/%d.png\"\\tlabels/%d.png   # sample %d' % (k, k, k))",
    "    expect('own', k, im, tab[lab])",
    "open(R + '/own/list.txt', 'w').write('\\r\\n'.join(lines) + '\\r\\n')",
    NULL};

/* Compares a loaded sample with the fixture's expected image and label. */
static void check_sample(const char *root, const char *kind, int k, const sample *s)
{
    char path[700];
    int h = 0, w = 0;
    size_t n;
    uint8_t *img, *lab;
    FILE *f;
    snprintf(path, sizeof path, "%s/expect/%s_%d.txt", root, kind, k);
    f = fopen(path, "r");
    if (!f || fscanf(f, "%d %d", &h, &w) != 2) {
        CHECK(0, "expected size of %s %d", kind, k);
        if (f) fclose(f);
        return;
    }
    fclose(f);
    CHECK(s->height == h && s->width == w && s->label_height == h && s->label_width == w,
          "%s %d: size %dx%d, expected %dx%d", kind, k, s->width, s->height, w, h);
    if (s->height != h || s->width != w) return;
    n = (size_t)h * w;
    img = malloc(3 * n);
    lab = malloc(n);
    snprintf(path, sizeof path, "%s/expect/%s_%d_img.bin", root, kind, k);
    f = fopen(path, "rb");
    CHECK(f && img && fread(img, 1, 3 * n, f) == 3 * n && memcmp(img, s->image, 3 * n) == 0,
          "%s %d: image equals Pillow's decoding", kind, k);
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/expect/%s_%d_lab.bin", root, kind, k);
    f = fopen(path, "rb");
    CHECK(f && lab && fread(lab, 1, n, f) == n && memcmp(lab, s->label, n) == 0,
          "%s %d: train ids equal the numpy mapping", kind, k);
    if (f) fclose(f);
    free(img);
    free(lab);
}

/* Opens a dataset and checks every sample against the expectations. */
static void check_dataset(const char *root, Dataset *ds, const char *kind, size_t n,
                          int expect_resized)
{
    size_t i;
    int resized = 0;
    lsd_err err;
    CHECK(dataset_size(ds) == n, "%s: %lu samples, expected %lu", kind,
          (unsigned long)dataset_size(ds), (unsigned long)n);
    for (i = 0; i < dataset_size(ds) && i < n; i++) {
        sample s;
        int rc = dataset_load(ds, i, &s, &err);
        CHECK(rc == LSD_OK, "%s %lu loads: %s", kind, (unsigned long)i, rc ? err.msg : "");
        if (rc != LSD_OK) continue;
        check_sample(root, kind, (int)i, &s);
        resized += s.label_resized;
        sample_free(&s);
    }
    CHECK(resized == expect_resized, "%s: %d labels resized, expected %d", kind, resized,
          expect_resized);
}

int main(void)
{
    char root[400], cmd[1400], path[900], a[500], b[500];
    Dataset ds;
    lsd_err err;
    FILE *f;
    int i;
    test_begin("dataset");
    snprintf(root, sizeof root, "%s/minids", test_tmp_dir());
    snprintf(path, sizeof path, "%s/minids_fixture.py", test_tmp_dir());
    f = fopen(path, "w");
    if (f) {
        for (i = 0; script[i]; i++) fprintf(f, "%s\n", script[i]);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "%s %s %s", test_python(), path, root);
    if (!f || system(cmd) != 0) {
        test_skip("python3 with numpy and Pillow failed: miniature datasets not built");
        return test_summary();
    }

    snprintf(a, sizeof a, "%s/cs", root);
    CHECK(dataset_open(&ds, DATASET_CITYSCAPES, a, "train", NULL, &err) == LSD_OK, "cityscapes: %s", err.msg);
    check_dataset(root, &ds, "cs_train", 4, 0);
    CHECK(ds.n == 4 && strstr(ds.images[1], "aachen/aachen_000000_000019_leftImg8bit.png") &&
          strstr(ds.labels[1], "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png"),
          "sorted pairing: %s", ds.n ? ds.labels[1] : "");
    dataset_close(&ds);
    CHECK(dataset_open(&ds, DATASET_CITYSCAPES, a, "val", NULL, &err) == LSD_OK, "cityscapes val");
    check_dataset(root, &ds, "cs_val", 4, 0);
    dataset_close(&ds);
    /* the authors' list: order of the list, names with or without the suffix */
    snprintf(b, sizeof b, "%s/cs_list.txt", root);
    CHECK(dataset_open(&ds, DATASET_CITYSCAPES, a, "train", b, &err) == LSD_OK, "list: %s", err.msg);
    CHECK(ds.n == 2 && strstr(ds.images[0], "bochum_000000_000019_leftImg8bit.png") &&
          strstr(ds.labels[1], "aachen_000000_000003_gtFine_labelIds.png"), "listed order");
    dataset_close(&ds);
    /* errors name what is missing and what was expected */
    CHECK(dataset_open(&ds, DATASET_CITYSCAPES, a, "test", NULL, &err) == LSD_ERR_NOTFOUND &&
          strstr(err.msg, "leftImg8bit/test not found under") && strstr(err.msg, "gtFine/{train,val}"),
          "missing split: %s", err.msg);
    snprintf(path, sizeof path, "%s/gtFine/val/bochum/bochum_000000_000003_gtFine_labelIds.png", a);
    remove(path);
    CHECK(dataset_open(&ds, DATASET_CITYSCAPES, a, "val", NULL, &err) == LSD_ERR_NOTFOUND &&
          strstr(err.msg, "bochum_000000_000003_gtFine_labelIds.png not found"), "missing label: %s", err.msg);
    snprintf(b, sizeof b, "%s/nowhere", root);
    CHECK(dataset_open(&ds, DATASET_GTA5, b, NULL, NULL, &err) == LSD_ERR_NOTFOUND &&
          strstr(err.msg, "nowhere"), "missing root: %s", err.msg);
    CHECK(dataset_open(&ds, DATASET_SYNTHIA, a, NULL, NULL, &err) == LSD_ERR_NOTFOUND &&
          strstr(err.msg, "RGB not found under") && strstr(err.msg, "GT/LABELS"),
          "wrong layout: %s", err.msg);

    snprintf(a, sizeof a, "%s/gta", root);
    CHECK(dataset_open(&ds, DATASET_GTA5, a, NULL, NULL, &err) == LSD_OK, "gta5: %s", err.msg);
    check_dataset(root, &ds, "gta", 3, 1);
    dataset_close(&ds);

    snprintf(a, sizeof a, "%s/syn", root);
    CHECK(dataset_open(&ds, DATASET_SYNTHIA, a, NULL, NULL, &err) == LSD_OK, "synthia: %s", err.msg);
    check_dataset(root, &ds, "syn", 2, 0);
    dataset_close(&ds);

    snprintf(a, sizeof a, "%s/own/list.txt", root);
    snprintf(b, sizeof b, "%s/own/table.txt", root);
    CHECK(dataset_open_list(&ds, a, b, &err) == LSD_OK, "list dataset: %s", err.msg);
    check_dataset(root, &ds, "own", 2, 0);
    dataset_close(&ds);
    CHECK(dataset_open_list(&ds, b, NULL, &err) == LSD_ERR_NOTFOUND && strstr(err.msg, "image"),
          "a table read as a list names the missing image: %s", err.msg);

    /* list-file parser details */
    {
        list_file l;
        uint8_t t[256];
        static const char good[] = "a b\n\"c d\" \"e\\\"f\"\t# x\r\n#c\n   \n/abs g";
        CHECK(listfile_parse(good, sizeof good - 1, "base", 2, 2, &l, &err) == LSD_OK, "parse: %s", err.msg);
        CHECK(l.n == 3 && strcmp(l.items[0].image, "base/a") == 0 &&
              strcmp(l.items[1].image, "base/c d") == 0 && strcmp(l.items[1].label, "base/e\"f") == 0 &&
              strcmp(l.items[2].image, "/abs") == 0 && l.items[2].line == 5, "parsed fields");
        listfile_free(&l);
        CHECK(listfile_parse("a b c\n", 6, NULL, 2, 2, &l, &err) == LSD_ERR_FORMAT &&
              strstr(err.msg, "line 1"), "three fields: %s", err.msg);
        CHECK(listfile_parse("a\n\"b c\n", 7, NULL, 1, 2, &l, &err) == LSD_ERR_FORMAT &&
              strstr(err.msg, "line 2: unterminated quote"), "quote: %s", err.msg);
        CHECK(listfile_parse("a\0b\n", 4, NULL, 1, 2, &l, &err) == LSD_ERR_FORMAT, "NUL refused");
        CHECK(listfile_parse("\"\" x\n", 5, NULL, 1, 2, &l, &err) == LSD_ERR_FORMAT, "empty path refused");
        CHECK(idtable_parse("7 0\n33 18\n0 -1\n", 15, t, &err) == LSD_OK && t[7] == 0 &&
              t[33] == 18 && t[0] == 255 && t[8] == 255, "id table");
        CHECK(idtable_parse("7 0\n7 1\n", 8, t, &err) == LSD_ERR_FORMAT && strstr(err.msg, "twice"),
              "duplicate id: %s", err.msg);
        CHECK(idtable_parse("256 0\n", 6, t, &err) == LSD_ERR_FORMAT, "id 256 refused");
        CHECK(idtable_parse("1 x\n", 4, t, &err) == LSD_ERR_FORMAT, "bad train id refused");
    }
    return test_summary();
}
