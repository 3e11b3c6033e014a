/* test_labels.c - label tables against cityscapesscripts' labels.py and the SYNTHIA table and
 * evaluation subsets of ../shared/docs/datasets.md (parsed by Python, not copied). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../data/labels.h"
#include "harness.h"

/* The Python with numpy and Pillow: $LSD_PYTHON, /usr/bin/python3, or python3. */
/* Runs a Python snippet whose output lines are "key a b c d"; returns the open output. */
static FILE *run(const char *code, const char *tmp, const char *name)
{
    char path[600], cmd[3000];
    snprintf(path, sizeof path, "%s/%s.txt", tmp, name);
    snprintf(cmd, sizeof cmd, "%s -c \"%s\" > %s 2>/dev/null", test_python(), code, path);
    if (system(cmd) != 0) return NULL;
    return fopen(path, "r");
}

int main(void)
{
    const char *tmp = test_tmp_dir(), *shared = test_shared_dir();
    uint8_t table[256], rgb[3];
    FILE *f;
    char key[32];
    int a, b, c, d, e, n;
    const int *ids;
    test_begin("labels");

    /* Self-consistency: train -> id -> train is the identity. */
    labels_cityscapes_table(table);
    for (a = 0; a < CS_NUM_CLASSES; a++)
        CHECK(table[labels_train_to_id(a)] == a, "train id %d round trip", a);
    CHECK(labels_train_to_id(255) == 0 && strcmp(labels_train_name(255), "ignore") == 0, "ignore");

    /* Cityscapes: every label of labels.py (id, trainId, colour) and trainId2label. */
    f = run("from cityscapesscripts.helpers.labels import labels, trainId2label\n"
            "for l in labels:\n"
            "    if l.id >= 0: print('id', l.id, l.trainId if 0 <= l.trainId < 19 else 255, *l.color)\n"
            "for t in range(19): print('tr', t, trainId2label[t].id, 0, 0, 0)",
            tmp, "labels_cs");
    if (!f) {
        test_skip("cityscapesscripts not importable: Cityscapes table not cross-checked");
    } else {
        n = 0;
        while (fscanf(f, "%31s %d %d %d %d %d", key, &a, &b, &c, &d, &e) == 6) {
            if (strcmp(key, "id") == 0) {
                CHECK(table[a] == b, "id %d -> train id %d (labels.py), ours %d", a, b, table[a]);
                if (b != 255) {
                    labels_train_color(b, rgb);
                    CHECK(rgb[0] == c && rgb[1] == d && rgb[2] == e, "colour of train id %d", b);
                }
            } else {
                CHECK(labels_train_to_id(a) == b, "train id %d -> id %d (trainId2label)", a, b);
            }
            n++;
        }
        fclose(f);
        CHECK(n == 34 + 19, "labels.py gave %d rows, expected 53", n);
        for (a = 34; a < 256; a++) CHECK(table[a] == 255, "id %d beyond 33 ignored", a);
    }

    /* SYNTHIA and the subsets, parsed from datasets.md. */
    if (shared) {
        char code[2000];
        snprintf(code, sizeof code,
                 "import re\n"
                 "t = open('%s/docs/datasets.md').read()\n"
                 "s = t[t.index('SYNTHIA-RAND-CITYSCAPES'):]\n"
                 "for row in re.findall(r'^\\| \\d+ \\|.*$', s, re.M):\n"
                 "    c = [x.strip() for x in row.strip('|').split('|')]\n"
                 "    for k in (0, 5):\n"
                 "        if len(c) > k + 3 and c[k].isdigit(): print('syn', c[k], c[k + 3].split()[0], 0, 0, 0)\n"
                 "for n, m in ((16, re.search(r'16 classes\\*\\* = \\{([0-9,]+)\\}', t)),):\n"
                 "    for v in m.group(1).split(','): print('sub16', v, 0, 0, 0, 0)",
                 shared);
        f = run(code, tmp, "labels_syn");
        if (!f) {
            CHECK(0, "datasets.md parsed by Python");
        } else {
            int seen = 0, k16 = 0;
            labels_synthia_table(table);
            labels_subset(16, &ids);
            while (fscanf(f, "%31s %d %d %d %d %d", key, &a, &b, &c, &d, &e) == 6) {
                if (strcmp(key, "syn") == 0) {
                    CHECK(table[a] == b, "SYNTHIA id %d -> %d (datasets.md), ours %d", a, b, table[a]);
                    seen++;
                } else {
                    CHECK(k16 < 16 && ids[k16] == a, "16-class subset entry %d = %d", k16, a);
                    k16++;
                }
            }
            fclose(f);
            CHECK(seen == 23 && k16 == 16, "23 SYNTHIA rows (got %d), 16 subset ids (got %d)",
                  seen, k16);
            for (a = 23; a < 256; a++) CHECK(table[a] == 255, "SYNTHIA id %d ignored", a);
        }
    }
    /* 13 = the 16 without wall 3, fence 4, pole 5 (datasets.md wording). */
    {
        const int *s16;
        int k, j = 0;
        CHECK(labels_subset(13, &ids) == 13 && labels_subset(16, &s16) == 16, "subset sizes");
        for (k = 0; k < 16; k++)
            if (s16[k] < 3 || s16[k] > 5) {
                CHECK(ids[j] == s16[k], "13-subset entry %d", j);
                j++;
            }
        CHECK(j == 13 && labels_subset(7, &ids) == 0 && ids == NULL, "only 19, 16, 13");
    }
    return test_summary();
}
