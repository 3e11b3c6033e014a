/*
 * dataset.h - the datasets LSD-seg trains and evaluates on, read from their
 * own folder layouts (docs/real-data.md, "Dataset layouts"):
 *
 *   DATASET_CITYSCAPES  leftImg8bit/<split>/<city>/<name>_leftImg8bit.png and
 *                       gtFine/<split>/<city>/<name>_gtFine_labelIds.png (label ids 0..33)
 *   DATASET_GTA5        images/NNNNN.png and labels/NNNNN.png (palette PNG whose
 *                       indices are Cityscapes label ids; the palette is ignored)
 *   DATASET_SYNTHIA     RGB/NNNNNNN.png and GT/LABELS/NNNNNNN.png (16-bit RGB: the
 *                       class id 0..22 is channel 0, the instance id channel 1)
 *   DATASET_LIST        a list file of "image label" pairs and an optional id table
 *                       (formats in listfile.h)
 *
 * Samples are listed in name order (cities, then files), or in the order of
 * the authors' list file when one is given. A sample is an RGB image and a
 * label map of Cityscapes train ids (255 = ignore) of the same size. A label
 * whose size differs from its image (some GTA5 frames) is resized to the
 * image with nearest neighbour, as datasets.md recommends, and flagged in the
 * sample so that the caller can count and report it.
 */
#ifndef LSD_DATASET_H
#define LSD_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include "../tensor/common.h"

typedef enum {
    DATASET_CITYSCAPES = 0,
    DATASET_GTA5 = 1,
    DATASET_SYNTHIA = 2,
    DATASET_LIST = 3
} dataset_kind;

/* One decoded sample; the caller frees it with sample_free. */
typedef struct {
    int height, width;   /* of both image and label */
    uint8_t *image;      /* (H, W, 3) RGB */
    uint8_t *label;      /* (H, W) train ids, 255 = ignore */
    int label_height, label_width; /* of the label array: the image's size after dataset_load;
                                      an evaluation transform keeps the full-size label */
    int label_resized;   /* 1 if the stored label had another size than its image (resized) */
} sample;

typedef struct {
    dataset_kind kind;
    char *root;          /* the dataset folder (list file's folder for DATASET_LIST) */
    size_t n;            /* number of samples */
    char **images;       /* n image paths */
    char **labels;       /* n label paths */
    uint8_t table[256];  /* stored id -> train id (255 = ignore) */
} Dataset;

/* Name of a kind ("cityscapes", "gta5", "synthia", "list"). */
const char *dataset_kind_name(dataset_kind kind);
/* Parses a kind name; returns LSD_ERR_ARG for an unknown one. */
int dataset_kind_parse(const char *name, dataset_kind *kind, lsd_err *err);

/* Opens a dataset of one of the three named kinds under root. split names the Cityscapes
 * split folder ("train", "val"; ignored by GTA5 and SYNTHIA). listfile, if not NULL, is the
 * authors' list of names (one per line) relative to the image folder, e.g.
 * "aachen/aachen_000000_000019_leftImg8bit.png" or "00001.png"; otherwise every image
 * found is used. Every label file must exist. For DATASET_LIST call dataset_open_list. */
int dataset_open(Dataset *ds, dataset_kind kind, const char *root, const char *split,
                 const char *listfile, lsd_err *err);
/* Opens a list dataset: listfile holds "image label" pairs; tablefile (may be NULL) maps
 * stored label values to train ids (without it the labels hold train ids already). */
int dataset_open_list(Dataset *ds, const char *listfile, const char *tablefile, lsd_err *err);
/* Number of samples. */
size_t dataset_size(const Dataset *ds);
/* Decodes sample i: RGB image, labels mapped to train ids and resized to the image if their
 * size differs. Safe to call from several threads at once (ds is not modified). */
int dataset_load(const Dataset *ds, size_t i, sample *s, lsd_err *err);
/* Decodes only the label of sample i into train ids at its stored size (no resize): *label is
 * malloc'ed (height * width bytes; the caller frees it). Thread-safe like dataset_load. */
int dataset_load_label(const Dataset *ds, size_t i, uint8_t **label, int *height, int *width,
                       lsd_err *err);
/* Frees the dataset's paths; safe on a zeroed Dataset. */
void dataset_close(Dataset *ds);

/* Allocates the buffers of an H x W sample (zeroed). */
int sample_alloc(sample *s, int height, int width, lsd_err *err);
/* Frees a sample's buffers and zeroes it; safe on a zeroed sample. */
void sample_free(sample *s);

#endif
