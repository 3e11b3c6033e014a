/*
 * labels.h - the label spaces of Cityscapes, GTA5 and SYNTHIA and the maps
 * between them (docs/real-data.md, "Dataset layouts").
 *
 * Training and evaluation work in the 19 Cityscapes train ids 0..18, with 255
 * meaning "ignore". Cityscapes and GTA5 store label ids 0..33 (GTA5 as palette
 * indices); SYNTHIA stores its own class ids 0..22. An id table is a uint8_t
 * array of 256 entries, id -> train id (255 = ignore). All tables here are
 * constant data; nothing is mutable.
 */
#ifndef LSD_LABELS_H
#define LSD_LABELS_H

#include <stddef.h>
#include <stdint.h>
#include "../tensor/common.h"

#define LABEL_IGNORE 255
#define CS_NUM_CLASSES 19  /* Cityscapes train ids 0..18 */
#define CS_NUM_IDS 34      /* Cityscapes label ids 0..33 */
#define SYNTHIA_NUM_IDS 23 /* SYNTHIA class ids 0..22 */

/* Fills table with the Cityscapes id -> train id map (7->0 ... 33->18, all else 255). */
void labels_cityscapes_table(uint8_t table[256]);
/* Fills table with the SYNTHIA class id -> Cityscapes train id map of the LSD/16-class
 * convention (3->0 road ... 11->18 bicycle; void, parking-slot, road-work, terrain, truck,
 * train, lanemarking and ids >= 23 -> 255). */
void labels_synthia_table(uint8_t table[256]);
/* Fills table with the identity on 0..254 (labels already hold train ids) and 255 -> 255. */
void labels_identity_table(uint8_t table[256]);
/* Replaces every value v of map (n entries) by table[v]. */
void labels_apply(uint8_t *map, size_t n, const uint8_t table[256]);

/* Cityscapes label id of train id t (0..18); 0 ("unlabeled") for 255 or any other value. */
int labels_train_to_id(int t);
/* Name of train id t ("road", ...), "ignore" for 255, "?" otherwise. */
const char *labels_train_name(int t);
/* Official colour of train id t (0..18); black for anything else. */
void labels_train_color(int t, uint8_t rgb[3]);

/* The evaluation subsets in train ids: 19 (all), 16 (SYNTHIA: no terrain, truck, train) and
 * 13 (the 16 without wall, fence, pole). Returns the count and points *ids at a constant
 * list; returns 0 for any other n. */
int labels_subset(int n, const int **ids);

#endif
