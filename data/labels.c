/* labels.c - Cityscapes and SYNTHIA label tables (see labels.h and datasets.md). */
#include "labels.h"

#include <string.h>

/* Cityscapes label id of each train id 0..18. */
static const uint8_t train_to_id[CS_NUM_CLASSES] = {7,  8,  11, 12, 13, 17, 19, 20, 21, 22,
                                                    23, 24, 25, 26, 27, 28, 31, 32, 33};

static const char *const train_names[CS_NUM_CLASSES] = {
    "road",   "sidewalk", "building", "wall",  "fence", "pole",  "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck",  "bus",      "train",    "motorcycle", "bicycle"};

static const uint8_t train_colors[CS_NUM_CLASSES][3] = {
    {128, 64, 128}, {244, 35, 232}, {70, 70, 70},   {102, 102, 156}, {190, 153, 153},
    {153, 153, 153}, {250, 170, 30}, {220, 220, 0}, {107, 142, 35},  {152, 251, 152},
    {70, 130, 180}, {220, 20, 60},  {255, 0, 0},    {0, 0, 142},     {0, 0, 70},
    {0, 60, 100},   {0, 80, 100},   {0, 0, 230},    {119, 11, 32}};

/* SYNTHIA class id 0..22 -> Cityscapes train id (LSD synthia2cityscapes, 16 classes). */
static const uint8_t synthia_to_train[SYNTHIA_NUM_IDS] = {
    255, 10, 2, 0, 1, 4, 8, 5, 13, 7, 11, 18, 17, 255, 255, 6, 255, 12, 255, 15, 255, 3, 255};

static const int subset19[19] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
static const int subset16[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18};
static const int subset13[13] = {0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18};

/* Cityscapes id -> train id: the inverse of train_to_id, 255 elsewhere. */
void labels_cityscapes_table(uint8_t table[256])
{
    int t;
    memset(table, LABEL_IGNORE, 256);
    for (t = 0; t < CS_NUM_CLASSES; t++) table[train_to_id[t]] = (uint8_t)t;
}

/* SYNTHIA id -> train id, 255 for ids beyond 22. */
void labels_synthia_table(uint8_t table[256])
{
    int i;
    memset(table, LABEL_IGNORE, 256);
    for (i = 0; i < SYNTHIA_NUM_IDS; i++) table[i] = synthia_to_train[i];
}

/* Identity on 0..255 (255 stays the ignore value). */
void labels_identity_table(uint8_t table[256])
{
    int i;
    for (i = 0; i < 256; i++) table[i] = (uint8_t)i;
}

/* map[i] = table[map[i]]. */
void labels_apply(uint8_t *map, size_t n, const uint8_t table[256])
{
    size_t i;
    for (i = 0; i < n; i++) map[i] = table[map[i]];
}

/* Train id -> Cityscapes id; invalid train ids become id 0 (unlabeled). */
int labels_train_to_id(int t)
{
    return (t >= 0 && t < CS_NUM_CLASSES) ? train_to_id[t] : 0;
}

/* Class name of a train id. */
const char *labels_train_name(int t)
{
    if (t >= 0 && t < CS_NUM_CLASSES) return train_names[t];
    return t == LABEL_IGNORE ? "ignore" : "?";
}

/* Official RGB colour of a train id, black for ignore or invalid. */
void labels_train_color(int t, uint8_t rgb[3])
{
    if (t >= 0 && t < CS_NUM_CLASSES) {
        memcpy(rgb, train_colors[t], 3);
    } else {
        rgb[0] = rgb[1] = rgb[2] = 0;
    }
}

/* The 19-, 16- and 13-class evaluation subsets. */
int labels_subset(int n, const int **ids)
{
    switch (n) {
    case 19: *ids = subset19; return 19;
    case 16: *ids = subset16; return 16;
    case 13: *ids = subset13; return 13;
    default: *ids = NULL; return 0;
    }
}
