/*
 * cmd_train.c - `lsdseg train`: LSD-seg (or the source-only baseline) on real
 * datasets with the authors' defaults (docs/method.md, "Inputs", "Optimisers"):
 * batch 1, 320x640 crops chosen per dataset kind, Adam (F, C: lr 1e-5 weights,
 * 2e-5 biases, betas 0.9/0.999; G, D: lr 1e-4, betas 0.7/0.999), F's learning
 * rates x0.1 every 8 epochs (an epoch = min(#source, #target) samples),
 * 100k iterations, validation every 500, seed 1337.
 *
 * The output folder receives crash-safe checkpoints (gan/checkpoint.h), log.csv
 * (one row per iteration), val.csv (one row per validation), best.safetensors
 * (parameters of the best validation mIoU) and samples/ (image | prediction |
 * truth panels of the first validation images). SIGINT/SIGTERM finish the
 * current iteration, save a checkpoint and exit with status 130; a second one
 * kills at once (the previous checkpoint stays valid). --resume auto continues
 * from the newest valid checkpoint with the same data stream, dropout masks and
 * learning rates as an uninterrupted run.
 *
 * --batch B takes B samples per iteration: slot s of every batch reads stream positions
 * s, s + B, s + 2B, ... (each slot steps over its own failed samples), so the data order is
 * decided by the seed alone. Under mpirun -np K (a build with MPI=1; ref/dist.h) rank k
 * computes slots k * B/K .. (k + 1) * B/K - 1, and every rank ends each iteration with the
 * bits of one process running the whole batch; rank 0 writes every file, validation images
 * are split over the ranks.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/labels.h"
#include "../data/loader.h"
#include "../gan/checkpoint.h"
#include "../layers/optim.h"
#include "dist.h"
#include "loop.h"
#include "options.h"
#include "progress.h"

int cmd_train(int argc, char **argv);

/* One dataset of the run, as given on the command line. */
typedef struct {
    const char *dir, *split, *list, *table;
    dataset_kind kind;
    int kind_set;
    Dataset ds;
} DataArg;

typedef struct {
    DataArg src, tgt, val;
    const char *out, *init, *resume;
    int source_only, H, W, quiet;
    long iters, val_every, val_max, save_every, samples, keep, print_every, prefetch,
        decay_epochs, classes, subset;
    long vgg, fc, ngf, ndf;
    long batch;     /* --batch (0: not given; the checkpoint's or 1) */
    double width_mult;
    uint64_t seed;
    LsdStepOptions so;
    opt_recipe rec; /* --recipe and its switches (a resumed run keeps its checkpoint's) */
    opt_device dev; /* --backend, --cl-platform, --cl-device */
} TrainArgs;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg train --source-type KIND --source DIR --target-type KIND --target DIR\n"
            "                    --out DIR [options]\n"
            "\n"
            "Trains LSD-seg (default) or the source-only baseline with the authors' defaults:\n"
            "batch 1, 320x640 crops (GTA5 resized to width 1280 first, SYNTHIA and Cityscapes\n"
            "cropped from the full image; source crops hold a labelled pixel), Adam (F, C: lr\n"
            "1e-5 weights, 2e-5 biases, betas 0.9, 0.999; G, D: lr 1e-4, betas 0.7, 0.999),\n"
            "F's rates x0.1 every 8 epochs (epoch = min(#source, #target) samples).\n"
            "KIND is cityscapes, gta5, synthia or list (then DIR is the list file).\n"
            "Labels are Cityscapes train ids; ids >= --classes are ignored. SYNTHIA maps onto\n"
            "16 of the 19 classes: train with 19 outputs, report mIoU over 16 (automatic).\n"
            "\n"
            "data:\n"
            "  --source-type KIND --source DIR    labelled source (split: train)\n"
            "  --target-type KIND --target DIR    unlabelled target (split: train; not used by\n"
            "                                     sourceonly, where it is optional)\n"
            "  --val-type KIND --val DIR          labelled validation set (split: val)\n"
            "  --{source,target,val}-split NAME   Cityscapes split folder\n"
            "  --{source,target,val}-list FILE    the authors' list of image names\n"
            "  --{source,target,val}-table FILE   id table of a list dataset\n"
            "run:\n"
            "  --out DIR           output folder (created)\n"
            "  --method M          lsd (default) or sourceonly\n"
            "  --iters N           iterations in all (100000)\n"
            "  --init FILE         ImageNet VGG16 weights (safetensors, torchvision or FCN\n"
            "                      names), or F's trunk of an lsdseg checkpoint (F.conv1_1...,\n"
            "                      e.g. a source-only run); without it F starts from He-normal\n"
            "                      noise\n"
            "  --resume CKPT|auto  continue from a checkpoint, or from the newest valid one\n"
            "                      in --out (auto starts afresh when there is none)\n"
            "  --size HxW          crop and validation size, multiples of 32 (320x640)\n"
            "  --seed S            initialisation, data order, crops, dropout (1337)\n"
            "  --batch B           samples per iteration (1, the paper's); with mpirun -np K\n"
            "                      (a build with make MPI=1) each of the K processes takes\n"
            "                      B/K of them, with the same results as one process\n"
            "  --val-every N       validate every N iterations (500; 0: never)\n"
            "  --val-max N         validate on the first N images only (0: all)\n"
            "  --val-subset N      classes in the validation mIoU: 19, 16, 13 (default 16\n"
            "                      for a SYNTHIA source with 19 classes, else 19)\n"
            "  --samples N         sample panels per validation in DIR/samples (3)\n"
            "  --save-every N      checkpoint every N iterations (1000)\n"
            "  --keep N            checkpoints kept (2)\n"
            "  --lr-decay-epochs N F's rates x0.1 every N epochs (8; 0: never)\n"
            "  --lr-f W            F and C weight rate (1e-5; biases twice)\n"
            "  --lr-gd R           G and D rate (1e-4)\n"
            "  --adv-weight W  --c-weight W  --l1-weight W   loss weights (0.1, 0.1, 1)\n"
            "recipe (recorded in the checkpoints; --resume keeps it):\n"
            OPT_RECIPE_USAGE);
    fprintf(f,
            "model (ignored on resume: the checkpoint's sizes are used):\n"
            "  --classes N         output classes (19)\n"
            "  --width-mult X      scales vgg 64, fc 4096, ngf 64, ndf 64 (1; small runs)\n"
            "  --vgg N --fc N --ngf N --ndf N    the widths one by one\n"
            "machine:\n"
            "  --threads N         OpenMP threads (default: all)\n"
            "  --prefetch N        samples decoded ahead on a worker thread (4)\n"
            "  --backend cpu|opencl   compute backend (opencl: a build with make OPENCL=1;\n"
            "                      the model stays on the device, read back for checkpoints)\n"
            "  --cl-platform P --cl-device D   the OpenCL device (lsdseg devices lists them)\n"
            "  --print-every N     progress line every N iterations when not a terminal (20)\n"
            "  --quiet             no progress line\n"
            "  --help              this text\n"
            "\n"
            "Files in DIR: ckpt-NNNNNNNN.safetensors, log.csv (iter,loss_D,loss_G,loss_F,\n"
            "loss_seg,lr_f,seconds; source-only: iter,loss,lr_f,seconds), val.csv, best.safetensors,\n"
            "samples/. Ctrl-C saves a checkpoint and exits with status 130.\n"
            "Exit status: 0 done, 1 runtime error, 2 usage error, 130 interrupted.\n");
}

/* The DataArg an option prefix names. */
static DataArg *data_of(TrainArgs *a, const char *opt, const char **rest)
{
    if (!strncmp(opt, "--source", 8)) return *rest = opt + 8, &a->src;
    if (!strncmp(opt, "--target", 8)) return *rest = opt + 8, &a->tgt;
    if (!strncmp(opt, "--val", 5)) return *rest = opt + 5, &a->val;
    return NULL;
}

/* Parses the command line into a; returns 0, or 2 after a message (-1 after --help). */
static int parse(int argc, char **argv, TrainArgs *a)
{
    static const char *const valued[] = {
        "--out", "--method", "--iters", "--init", "--resume", "--size", "--seed", "--val-every",
        "--val-max", "--val-subset", "--samples", "--save-every", "--keep", "--lr-decay-epochs",
        "--lr-f", "--lr-gd", "--adv-weight", "--c-weight", "--l1-weight", "--classes",
        "--width-mult", "--vgg", "--fc", "--ngf", "--ndf", "--threads", "--prefetch", "--backend",
        "--print-every", "--cl-platform", "--cl-device", "--batch", NULL};
    int i, k, rc;
    for (i = 1; i < argc; i++) {
        const char *o = argv[i], *v, *rest = NULL;
        DataArg *d;
        double y = 0;
        if (opt_is_help(o)) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(o, "--quiet")) {
            a->quiet = 1;
            continue;
        }
        if (strncmp(o, "--", 2) || !strcmp(o, "--")) {
            fprintf(stderr, "lsdseg train: unexpected argument '%s' (try --help)\n", o);
            return 2;
        }
        if (opt_is_recipe_option(o)) {
            if (!(v = opt_value("train", argc, argv, &i)) ||
                opt_recipe_arg("train", &a->rec, o, v))
                return 2;
            continue;
        }
        d = data_of(a, o, &rest);
        if (d && strcmp(rest, "") && strcmp(rest, "-type") && strcmp(rest, "-split") &&
            strcmp(rest, "-list") && strcmp(rest, "-table") &&
            !(d == &a->val && (!strcmp(rest, "-every") || !strcmp(rest, "-max") ||
                               !strcmp(rest, "-subset"))))
            return opt_unknown("train", o);
        if (d && (!strcmp(rest, "-every") || !strcmp(rest, "-max") || !strcmp(rest, "-subset")))
            d = NULL;
        for (k = 0; !d && valued[k] && strcmp(valued[k], o); k++) continue;
        if (!d && !valued[k]) return opt_unknown("train", o);
        if (!(v = opt_value("train", argc, argv, &i))) return 2;
        rc = 0;
        if (d) {
            if (!*rest) d->dir = v;
            else if (!strcmp(rest, "-type")) rc = opt_kind("train", o, v, &d->kind), d->kind_set = 1;
            else if (!strcmp(rest, "-split")) d->split = v;
            else if (!strcmp(rest, "-list")) d->list = v;
            else d->table = v;
        } else if (!strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--init")) a->init = v;
        else if (!strcmp(o, "--resume")) a->resume = v;
        else if (!strcmp(o, "--method")) {
            if (!strcmp(v, "lsd")) a->source_only = 0;
            else if (!strcmp(v, "sourceonly") || !strcmp(v, "source-only") ||
                     !strcmp(v, "source_only")) a->source_only = 1;
            else {
                fprintf(stderr, "lsdseg train: --method needs lsd or sourceonly, not '%s'\n", v);
                rc = 2;
            }
        } else if (!strcmp(o, "--size")) rc = opt_size("train", o, v, &a->H, &a->W);
        else if (!strcmp(o, "--seed")) {
            rc = opt_double("train", o, v, 0, 9007199254740992.0, &y);
            if (!rc && y != floor(y)) {
                fprintf(stderr, "lsdseg train: --seed needs a whole number, not '%s'\n", v);
                rc = 2;
            }
            a->seed = (uint64_t)y;
        } else if (opt_is_device_option(o)) rc = opt_device_arg("train", &a->dev, o, v);
        else if (!strcmp(o, "--threads")) rc = opt_threads("train", v);
        else if (!strcmp(o, "--width-mult")) rc = opt_double("train", o, v, 1e-3, 16, &a->width_mult);
        else if (!strcmp(o, "--lr-f") || !strcmp(o, "--lr-gd") || !strcmp(o, "--adv-weight") ||
                 !strcmp(o, "--c-weight") || !strcmp(o, "--l1-weight")) {
            rc = opt_double("train", o, v, 0, 1e6, &y);
            if (!strcmp(o, "--lr-f")) a->so.lr_f_weight = y, a->so.lr_f_bias = 2 * y;
            if (!strcmp(o, "--lr-gd")) a->so.lr_gd = y;
            if (!strcmp(o, "--adv-weight")) a->so.adv_weight = y;
            if (!strcmp(o, "--c-weight")) a->so.c_weight = y;
            if (!strcmp(o, "--l1-weight")) a->so.l1_weight = y;
        } else {
            long lo = 1, hi = 1000000000L, *dst = NULL;
            if (!strcmp(o, "--iters")) dst = &a->iters;
            if (!strcmp(o, "--val-every")) dst = &a->val_every, lo = 0;
            if (!strcmp(o, "--val-max")) dst = &a->val_max, lo = 0;
            if (!strcmp(o, "--val-subset")) dst = &a->subset, lo = 13, hi = 19;
            if (!strcmp(o, "--samples")) dst = &a->samples, lo = 0, hi = 1000;
            if (!strcmp(o, "--save-every")) dst = &a->save_every;
            if (!strcmp(o, "--keep")) dst = &a->keep, hi = 1000000;
            if (!strcmp(o, "--lr-decay-epochs")) dst = &a->decay_epochs, lo = 0;
            if (!strcmp(o, "--classes")) dst = &a->classes, lo = 2, hi = 255;
            if (!strcmp(o, "--vgg")) dst = &a->vgg, hi = 4096;
            if (!strcmp(o, "--fc")) dst = &a->fc, hi = 65536;
            if (!strcmp(o, "--ngf")) dst = &a->ngf, hi = 4096;
            if (!strcmp(o, "--ndf")) dst = &a->ndf, hi = 4096;
            if (!strcmp(o, "--prefetch")) dst = &a->prefetch, lo = 0, hi = 64;
            if (!strcmp(o, "--print-every")) dst = &a->print_every;
            if (!strcmp(o, "--batch")) dst = &a->batch, hi = 4096;
            rc = opt_long("train", o, v, lo, hi, dst);
            if (!rc && dst == &a->subset && *dst != 13 && *dst != 16 && *dst != 19) {
                fprintf(stderr, "lsdseg train: --val-subset needs 19, 16 or 13, not '%s'\n", v);
                rc = 2;
            }
        }
        if (rc) return rc;
    }
    if (!a->src.dir || !a->src.kind_set || !a->out) {
        fprintf(stderr, "lsdseg train: --source-type, --source and --out are required (try "
                "--help)\n");
        return 2;
    }
    if (!a->source_only && (!a->tgt.dir || !a->tgt.kind_set)) {
        fprintf(stderr, "lsdseg train: --method lsd needs --target-type and --target (try "
                "--help)\n");
        return 2;
    }
    if ((a->tgt.dir != NULL) != (a->tgt.kind_set != 0) ||
        (a->val.dir != NULL) != (a->val.kind_set != 0)) {
        fprintf(stderr, "lsdseg train: give --target with --target-type and --val with "
                "--val-type\n");
        return 2;
    }
    if (a->subset != 19 && a->subset != 0 && a->classes != CS_NUM_CLASSES) {
        fprintf(stderr, "lsdseg train: --val-subset %ld needs --classes 19\n", a->subset);
        return 2;
    }
    return 0;
}

/* Keeps the header and the rows whose first field is <= step (a resumed run rewrites what
 * the interrupted one logged after its checkpoint). */
static int trim_csv(const char *path, long step, lsd_err *err)
{
    char tmp[4200], line[4096];
    FILE *in, *out;
    int first = 1;
    if (!(in = fopen(path, "r"))) return LSD_OK;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(out = fopen(tmp, "w"))) {
        fclose(in);
        return lsd_fail(err, LSD_ERR_IO, "cannot write %s", tmp);
    }
    while (fgets(line, sizeof line, in)) {
        if (first || atol(line) <= step) fputs(line, out);
        first = 0;
    }
    fclose(in);
    if (fclose(out) || rename(tmp, path))
        return lsd_fail(err, LSD_ERR_IO, "cannot rewrite %s", path);
    return LSD_OK;
}

/* Opens DIR/name for appending, writing header when the file is new or empty. */
static FILE *open_csv(const char *dir, const char *name, const char *header, lsd_err *err)
{
    char path[4200];
    FILE *f;
    long pos;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(f = fopen(path, "a"))) {
        lsd_fail(err, LSD_ERR_IO, "cannot write %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    pos = ftell(f);
    if (pos == 0) fprintf(f, "%s\n", header);
    fflush(f);
    return f;
}

/* A data stream that steps over samples that fail to load or crop (logged), at most 100 in a
 * row. *pos is the stream position of the next item. */
typedef struct {
    const char *what;
    const Dataset *ds;
    loader_opts o;
    Loader *lo;
    uint64_t pos;
    long skipped;
} Stream;

static int stream_open(Stream *s, lsd_err *err)
{
    return loader_open(&s->lo, s->ds, &s->o, s->pos, err);
}

static int stream_next(Stream *s, loader_item *it, int n_class, lsd_err *err)
{
    int tries, rc = LSD_OK;
    for (tries = 0; tries < 100; tries++) {
        size_t j, n;
        rc = loader_next(s->lo, it, err);
        if (!rc) {
            n = (size_t)it->s.height * it->s.width;
            for (j = 0; j < n; j++)
                if (it->s.label[j] >= n_class) it->s.label[j] = LABEL_IGNORE;
            s->pos += s->o.stride ? s->o.stride : 1;
            return LSD_OK;
        }
        if (err->code == LSD_ERR_NOMEM) return rc;
        fprintf(stderr, "lsdseg train: %s sample at position %llu skipped: %s\n", s->what,
                (unsigned long long)s->pos, err->msg);
        s->skipped++;
        s->pos += s->o.stride ? s->o.stride : 1;
        loader_close(s->lo);
        s->lo = NULL;
        if ((rc = stream_open(s, err))) return rc;
    }
    lsd_err_prefix(err, "%s: 100 samples in a row failed; last", s->what);
    return rc;
}

/* Writes the parameters only (no Adam state) to DIR/best.safetensors. */
static int save_best(const LsdModel *m, const char *dir, lsd_err *err)
{
    char path[4200], v[32];
    st_writer writer;
    int64_t step = m->step, one = 1;
    int rc;
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    st_writer_init(&writer);
    rc = arena_write(&m->F.pa, &writer, 0, err);
    if (!rc) rc = arena_write(&m->G.pa, &writer, 0, err);
    if (!rc) rc = arena_write(&m->D.pa, &writer, 0, err);
    if (!rc) rc = st_writer_add(&writer, "opt.step", ST_I64, 1, &one, &step, err);
    sprintf(v, "%d", m->cfg.n_class);
    if (!rc) rc = st_writer_meta(&writer, "n_class", v, err);
    if (!rc) rc = st_writer_save(&writer, path, err);
    st_writer_free(&writer);
    return rc;
}

/* Appends " key=d0,d1,..." for the slots of a batch whose stream positions are not slot 0's
 * plus the slot number (a slot stepped over failed samples): pos[s] = pos[0] + s + B * d_s. */
static size_t put_slots(char *buf, size_t cap, const char *key, const uint64_t *pos, long B)
{
    size_t n;
    long s;
    int any = 0;
    for (s = 1; s < B; s++) any |= pos[s] != pos[0] + (uint64_t)s;
    if (!any || cap < 2) return 0;
    n = (size_t)snprintf(buf, cap, " %s=", key);
    for (s = 0; s < B && n < cap; s++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", s ? "," : "",
                              ((long long)pos[s] - (long long)pos[0] - s) / B);
    return n < cap ? n : cap - 1;
}

/* The run's configuration text stored in checkpoints; positions are read back on resume:
 * source_pos, target_pos (slot 0's), and with --batch B > 1 batch=B and the slots'
 * (put_slots), all before the free-form part. spos, tpos: (B) every slot's next position. */
static void config_text(char *buf, size_t cap, const TrainArgs *a, const uint64_t *spos,
                        const uint64_t *tpos)
{
    size_t n = (size_t)snprintf(buf, cap, "source_pos=%llu target_pos=%llu",
                                (unsigned long long)spos[0], (unsigned long long)tpos[0]);
    if (a->batch > 1 && n < cap) {
        n += (size_t)snprintf(buf + n, cap - n, " batch=%ld", a->batch);
        if (n < cap) n += put_slots(buf + n, cap - n, "source_slots", spos, a->batch);
        if (n < cap) n += put_slots(buf + n, cap - n, "target_slots", tpos, a->batch);
    }
    if (n < cap)
        snprintf(buf + n, cap - n,
                 " method=%s size=%dx%d source=%s:%s target=%s:%s "
                 "decay_epochs=%ld adv=%g c=%g l1=%g",
                 a->source_only ? "sourceonly" : "lsd", a->H, a->W,
                 dataset_kind_name(a->src.kind), a->src.dir,
                 a->tgt.dir ? dataset_kind_name(a->tgt.kind) : "-",
                 a->tgt.dir ? a->tgt.dir : "-", a->decay_epochs, a->so.adv_weight,
                 a->so.c_weight, a->so.l1_weight);
}

/* The value of key= among the words of a configuration text before its free-form part
 * (" method=" on, which holds paths), or NULL. */
static const char *config_find(const char *text, const char *key)
{
    const char *end = strstr(text, " method="), *p = text;
    size_t k = strlen(key);
    while (p && *p && (!end || p < end)) {
        while (*p == ' ') p++;
        if (!strncmp(p, key, k)) return p + k;
        p = strchr(p, ' ');
    }
    return NULL;
}

/* Reads key=N from a configuration text; def if absent. */
static uint64_t config_pos(const char *text, const char *key, uint64_t def)
{
    const char *p = config_find(text, key);
    unsigned long long v;
    if (!p || sscanf(p, "%llu", &v) != 1) return def;
    return (uint64_t)v;
}

/* Every slot's position (B) from a configuration text: slot 0's from key_pos (def0 if
 * absent), the others' from it and key_slots (put_slots). */
static void config_slots(uint64_t *pos, long B, const char *text, const char *key_pos,
                         const char *key_slots, uint64_t def0)
{
    const char *q = config_find(text, key_slots);
    uint64_t p0 = config_pos(text, key_pos, def0);
    long s;
    for (s = 0; s < B; s++) {
        long long d = 0;
        char *e;
        if (q) {
            d = strtoll(q, &e, 10);
            q = *e == ',' ? e + 1 : NULL;
        }
        pos[s] = p0 + (uint64_t)s + (uint64_t)(d * B);
    }
}

/* The model: fresh, or from --resume. info receives the checkpoint's record. */
static int make_model(TrainArgs *a, LsdModel *m, CkptInfo *info, int *resumed)
{
    lsd_err err;
    char refused[2048] = "";
    int rc, found = 0;
    *resumed = 0;
    ckpt_info_init(info);
    if (a->resume && strcmp(a->resume, "auto")) {
        if (!opt_is_file(a->resume)) {
            fprintf(stderr, "lsdseg train: checkpoint %s not found\n", a->resume);
            return 1;
        }
        if ((rc = ckpt_load(m, a->resume, info, &err))) {
            fprintf(stderr, "lsdseg train: %s\n", err.msg);
            return 1;
        }
        *resumed = 1;
    } else if (a->resume) {
        if ((rc = ckpt_resume(m, a->out, NULL, info, resumed, refused, sizeof refused, &err))) {
            fprintf(stderr, "lsdseg train: %s\n", err.msg);
            return 1;
        }
        if (*refused) fprintf(stderr, "lsdseg train: passed over:\n%s", refused);
    } else {
        char path[CKPT_PATH_MAX];
        rc = ckpt_find_latest(a->out, NULL, path, sizeof path, &found, NULL, 0, &err);
        if (rc || found) {
            fprintf(stderr, "lsdseg train: %s already holds checkpoints: pass --resume auto to "
                    "continue, or choose another --out\n", a->out);
            return 2;
        }
    }
    if (*resumed) {
        const char *want = a->source_only ? "source_only" : "lsd";
        if (strcmp(info->method, want) && !(a->source_only && !strcmp(info->method, "sourceonly"))) {
            fprintf(stderr, "lsdseg train: the checkpoint was trained with method %s, not %s\n",
                    info->method, a->source_only ? "sourceonly" : "lsd");
            lsd_model_free(m);
            return 2;
        }
        return 0;
    } else {
        LsdConfig c = lsd_config_default();
        double k = a->width_mult;
        c.vgg = a->vgg ? (int)a->vgg : (int)floor(c.vgg * k + 0.5);
        c.fc = a->fc ? (int)a->fc : (int)floor(c.fc * k + 0.5);
        c.ngf = a->ngf ? (int)a->ngf : (int)floor(c.ngf * k + 0.5);
        c.ndf = a->ndf ? (int)a->ndf : (int)floor(c.ndf * k + 0.5);
        c.n_class = (int)a->classes;
        if (c.vgg < 1) c.vgg = 1;
        if (c.fc < 1) c.fc = 1;
        if (c.ngf < 1) c.ngf = 1;
        if (c.ndf < 1) c.ndf = 1;
        if (a->init && !opt_is_file(a->init)) {
            fprintf(stderr, "lsdseg train: --init %s not found\n", a->init);
            return 1;
        }
        if ((rc = lsd_config_check(&c, &err)) || (rc = lsd_model_create(m, &c, &err)) ||
            (rc = lsd_model_init(m, a->seed, a->init, &err))) {
            fprintf(stderr, "lsdseg train: %s\n", err.msg);
            lsd_model_free(m);
            return 1;
        }
    }
    return 0;
}

/* Saves a checkpoint at the model's step into path (cap bytes). spos, tpos: every slot's
 * stream position (--batch). */
static int save_ckpt(const LsdModel *m, const TrainArgs *a, CkptInfo *info,
                     const uint64_t *spos, const uint64_t *tpos, size_t ns, double lr_w,
                     char *path, size_t cap, lsd_err *err)
{
    info->iteration = m->step;
    info->lr_f_weight = lr_w;
    info->lr_f_bias = 2 * lr_w;
    info->lr_gd = a->so.lr_gd;
    info->seed = a->seed;
    info->recipe = a->so.recipe;
    snprintf(info->method, sizeof info->method, "%s", a->source_only ? "source_only" : "lsd");
    info->epoch = (long)(spos[0] / ns);
    info->data_index = (long)(spos[0] % ns);
    config_text(info->config, sizeof info->config, a, spos, tpos);
    if (ckpt_save(m, a->out, info, (int)a->keep, path, cap, err)) {
        lsd_err_prefix(err, "saving a checkpoint");
        return err->code;
    }
    return LSD_OK;
}

/* A failure of this process at run time: with several processes, the message names the rank
 * and every rank ends (dist_abort), so that none waits forever for this one. */
static int run_failed(const char *msg)
{
    Dist *d = dist_world();
    if (d->size > 1) {
        fprintf(stderr, "lsdseg train (rank %d of %d): %s; ending every rank\n", d->rank,
                d->size, msg);
        dist_abort(1);
    }
    fprintf(stderr, "lsdseg train: %s\n", msg);
    return 1;
}

/* Every slot's next stream positions (B each) on every rank: this rank's nb slots from its
 * streams, the others' summed in from theirs (a collective call). */
static int slot_positions(uint64_t *spos, uint64_t *tpos, const Stream *ss, const Stream *ts,
                          int nb, long B, lsd_err *err)
{
    int j, first = dist_world()->rank * nb, rc;
    memset(spos, 0, (size_t)B * sizeof *spos);
    memset(tpos, 0, (size_t)B * sizeof *tpos);
    for (j = 0; j < nb; j++) spos[first + j] = ss[j].pos, tpos[first + j] = ts[j].pos;
    if ((rc = dist_sum_u64(spos, (size_t)B, err))) return rc;
    return dist_sum_u64(tpos, (size_t)B, err);
}

/* Rank 0's model (fresh or resumed), its checkpoint record and the resume flag on every rank;
 * rc: rank 0's status of make_model (0, or 1/2 after its message), the same on every rank. */
static int share_model(LsdModel *m, CkptInfo *info, int *resumed, int rc)
{
    Dist *d = dist_world();
    int st[2];
    LsdConfig c;
    lsd_err err;
    st[0] = rc, st[1] = *resumed;
    if (d->size <= 1) return rc;
    dist_bcast(st, sizeof st, &err);
    if ((rc = st[0])) return rc;
    *resumed = st[1];
    if (d->rank == 0) c = m->cfg;
    dist_bcast(&c, sizeof c, &err);
    dist_bcast(info, sizeof *info, &err);
    if (d->rank > 0 && lsd_model_create(m, &c, &err)) return run_failed(err.msg);
    if (dist_bcast_model(m, &err)) return run_failed(err.msg);
    return 0;
}

/* ------------------------------------------------------------------ one run */

/* Everything a training run holds from its setup to its end (zeroed: nothing held). */
typedef struct {
    TrainArgs a;
    LsdModel m;
    LsdWork work;
    opt_dwork dwork;           /* work's mirror on the OpenCL device */
    CkptInfo info;             /* the checkpoint record (resumed from, then written) */
    int rank, K;               /* this process, and the number of processes */
    int resumed, n_class, subset;
    long B;                    /* samples per iteration, all processes together */
    int nb;                    /* this process's share of them: B / K */
    size_t ns, nt;             /* source and target samples */
    long start, epoch_len;     /* the first iteration of this run; samples per epoch */
    long saved_at;             /* the iteration of the last checkpoint (-1: none yet) */
    double best;               /* the best validation mIoU (-1: none yet) */
    double lr_w, base_w, base_b; /* F's weight learning rate now; F's base learning rates */
    Stream *ss, *ts;           /* (nb) this process's slots of the batch */
    loader_item *si, *ti;      /* (nb) the current samples */
    uint64_t *spos, *tpos;     /* (B) every slot's position, for checkpoints */
    real *bx;                  /* (4, nb, 3, H, W) the batch when nb > 1 */
    uint8_t *by;               /* (nb, H, W) */
    FILE *logf, *valf;         /* log.csv, val.csv (rank 0) */
    lsd_progress pr;
    int stop;                  /* every rank agreed to stop (a signal) */
    int kill_rank;             /* LSD_TEST_KILL=RANK:ITER (tests/test_mpi.c) */
    long kill_iter;
    char path[CKPT_PATH_MAX + 64]; /* the last checkpoint written */
} TrainRun;

/* The options' defaults: the authors' (see the top of this file). */
static void train_defaults(TrainArgs *a)
{
    memset(a, 0, sizeof *a);
    a->src.split = a->tgt.split = "train";
    a->val.split = "val";
    a->H = 320, a->W = 640;
    a->iters = 100000, a->val_every = 500, a->save_every = 1000, a->samples = 3, a->keep = 2;
    a->print_every = 20, a->prefetch = 4, a->decay_epochs = 8, a->classes = 19;
    a->width_mult = 1;
    a->seed = 1337;
    a->so = lsd_step_defaults();
}

/* Checks what parse() cannot check alone; opens the datasets (a missing folder is reported
 * before any long setup). Returns 0, or 1/2 after a message. */
static int open_data(TrainRun *t)
{
    TrainArgs *a = &t->a;
    lsd_err err;
    if (lsd_check_size(a->H, a->W, &err)) {
        fprintf(stderr, "lsdseg train: --size: %s\n", err.msg);
        return 2;
    }
    if (a->init && a->resume) {
        fprintf(stderr, "lsdseg train: --init and --resume exclude each other (the checkpoint "
                "holds the weights)\n");
        return 2;
    }
    if (a->batch && a->batch % t->K) {
        fprintf(stderr, "lsdseg train: --batch %ld is not a multiple of the %d processes "
                "(mpirun -np)\n", a->batch, t->K);
        return 2;
    }
    if (opt_open_dataset("train", "--source", &a->src.ds, a->src.kind, a->src.dir, a->src.split,
                         a->src.list, a->src.table))
        return 1;
    t->ns = dataset_size(&a->src.ds);
    if (a->tgt.dir && opt_open_dataset("train", "--target", &a->tgt.ds, a->tgt.kind, a->tgt.dir,
                                       a->tgt.split, a->tgt.list, a->tgt.table))
        return 1;
    t->nt = a->tgt.dir ? dataset_size(&a->tgt.ds) : 0;
    if (a->val.dir && opt_open_dataset("train", "--val", &a->val.ds, a->val.kind, a->val.dir,
                                       a->val.split, a->val.list, a->val.table))
        return 1;
    return 0;
}

/* The model on rank 0 (only it reads and writes --out), then on every rank; the recipe and
 * the batch, checked against a resumed checkpoint's. Returns 0, or 1/2 after a message. */
static int setup_model(TrainRun *t)
{
    TrainArgs *a = &t->a;
    lsd_err err;
    int rc = 0;
    if (t->rank == 0 && (rc = opt_mkdirs(a->out, &err))) {
        fprintf(stderr, "lsdseg train: --out: %s\n", err.msg);
        rc = 1;
    }
    if (t->rank == 0 && !rc) rc = make_model(a, &t->m, &t->info, &t->resumed);
    if ((rc = share_model(&t->m, &t->info, &t->resumed, rc))) return rc;
    a->so.recipe = opt_recipe_value(&a->rec);
    if (t->resumed && a->rec.any && memcmp(&a->so.recipe, &t->info.recipe, sizeof t->info.recipe)) {
        char want[128], have[128];
        lsd_recipe_format(want, sizeof want, &a->so.recipe);
        lsd_recipe_format(have, sizeof have, &t->info.recipe);
        if (t->rank == 0)
            fprintf(stderr, "lsdseg train: the checkpoint was trained with %s, not %s: --resume "
                    "keeps the checkpoint's recipe (drop the recipe options, or choose another "
                    "--out)\n", have, want);
        return 2;
    }
    if (t->resumed) a->so.recipe = t->info.recipe;
    /* the batch: --batch, or the checkpoint's on resume */
    t->B = t->resumed ? (long)config_pos(t->info.config, "batch=", 1) : a->batch ? a->batch : 1;
    if ((t->resumed && a->batch && a->batch != t->B) || t->B < 1 || t->B > 4096 ||
        t->B % t->K || (a->dev.opencl && t->B > 1)) {
        if (t->rank == 0 && a->dev.opencl && t->B > 1)
            fprintf(stderr, "lsdseg train: the OpenCL backend trains with --batch 1 in one "
                    "process: use --backend cpu for --batch and mpirun\n");
        else if (t->rank == 0 && t->B % t->K)
            fprintf(stderr, "lsdseg train: the checkpoint's batch %ld is not a multiple of the "
                    "%d processes (mpirun -np): choose -np among its divisors\n", t->B, t->K);
        else if (t->rank == 0)
            fprintf(stderr, "lsdseg train: the checkpoint was trained with --batch %ld, not %ld: "
                    "--resume keeps the checkpoint's batch (drop --batch, or choose another "
                    "--out)\n", t->B, a->batch);
        return 2;
    }
    a->batch = t->B;
    t->nb = (int)(t->B / t->K);
    t->n_class = t->m.cfg.n_class;
    t->subset = (int)a->subset;
    if (!t->subset)
        t->subset = a->src.kind == DATASET_SYNTHIA && t->n_class == CS_NUM_CLASSES ? 16 : 19;
    if (t->n_class != CS_NUM_CLASSES) t->subset = 0;
    t->start = t->m.step;
    t->epoch_len = (long)(a->source_only || !t->nt ? t->ns : (t->ns < t->nt ? t->ns : t->nt));
    t->base_w = a->so.lr_f_weight, t->base_b = a->so.lr_f_bias;
    return 0;
}

/* This process's slots of the batch: their streams, at the positions of a fresh run or of the
 * checkpoint (slot s of every batch reads positions s, s + B, s + 2B, ...), and buffers. */
static int setup_streams(TrainRun *t, lsd_err *err)
{
    TrainArgs *a = &t->a;
    size_t img = (size_t)3 * a->H * a->W, pix = (size_t)a->H * a->W;
    uint64_t first = (uint64_t)t->start * (uint64_t)t->B;
    const char *config = t->resumed ? t->info.config : "";
    int j, nb = t->nb;
    t->ss = (Stream *)calloc((size_t)nb, sizeof *t->ss);
    t->ts = (Stream *)calloc((size_t)nb, sizeof *t->ts);
    t->si = (loader_item *)calloc((size_t)nb, sizeof *t->si);
    t->ti = (loader_item *)calloc((size_t)nb, sizeof *t->ti);
    t->spos = (uint64_t *)calloc((size_t)t->B, sizeof *t->spos);
    t->tpos = (uint64_t *)calloc((size_t)t->B, sizeof *t->tpos);
    if (nb > 1) {
        t->bx = (real *)calloc(4 * (size_t)nb * img, sizeof *t->bx);
        t->by = (uint8_t *)calloc((size_t)nb * pix, 1);
    }
    if (!t->ss || !t->ts || !t->si || !t->ti || !t->spos || !t->tpos ||
        (nb > 1 && (!t->bx || !t->by)))
        return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for the batch of %ld", t->B);
    config_slots(t->spos, t->B, config, "source_pos=", "source_slots=", first);
    config_slots(t->tpos, t->B, config, "target_pos=", "target_slots=", first);
    for (j = 0; j < nb; j++) {
        Stream *s = &t->ss[j], *u = &t->ts[j];
        s->what = "source", s->ds = &a->src.ds;
        s->o.t = transform_defaults(a->src.kind, 1, a->H, a->W, a->seed);
        s->o.shuffle = 1, s->o.prefetch = (int)a->prefetch, s->o.want_f = 1;
        s->o.want_d = !a->source_only;
        s->o.stride = (uint64_t)t->B;
        s->pos = t->spos[t->rank * nb + j];
        u->what = "target", u->ds = &a->tgt.ds;
        u->o.t = transform_defaults(a->tgt.kind, 1, a->H, a->W, a->seed + 1);
        u->o.t.need_label = 0; /* the target's labels are not used */
        u->o.shuffle = 1, u->o.prefetch = (int)a->prefetch, u->o.want_f = 1, u->o.want_d = 1;
        u->o.stride = (uint64_t)t->B;
        u->pos = t->tpos[t->rank * nb + j];
    }
    return LSD_OK;
}

/* log.csv and val.csv on rank 0: a resumed run drops the rows after its checkpoint. */
static int open_logs(TrainRun *t, lsd_err *err)
{
    TrainArgs *a = &t->a;
    char path[CKPT_PATH_MAX + 64];
    int rc;
    if (t->rank != 0) return LSD_OK;
    snprintf(path, sizeof path, "%s/log.csv", a->out);
    rc = trim_csv(path, t->start, err);
    snprintf(path, sizeof path, "%s/val.csv", a->out);
    if (!rc) rc = trim_csv(path, t->start, err);
    if (rc) return rc;
    t->logf = open_csv(a->out, "log.csv",
                       a->source_only ? "iter,loss,lr_f,seconds"
                                      : "iter,loss_D,loss_G,loss_F,loss_seg,lr_f,seconds",
                       err);
    if (!t->logf) return err->code;
    if (a->val.dir &&
        !(t->valf = open_csv(a->out, "val.csv",
                             "iter,miou,classes,pixel_acc,mean_acc,fwiou,seconds", err)))
        return err->code;
    return LSD_OK;
}

/* Streams, logs, the work buffers, the device; then the run's one-line description. */
static int setup_run(TrainRun *t, lsd_err *err)
{
    TrainArgs *a = &t->a;
    int j, rc;
    if ((rc = setup_streams(t, err)) || (rc = open_logs(t, err))) return rc;
    if ((rc = lsd_work_create(&t->work, &t->m.cfg, t->nb, a->H, a->W,
                              a->source_only ? LSD_WORK_SOURCE_ONLY : LSD_WORK_TRAIN, err)) ||
        (rc = opt_device_start(&a->dev, &t->m, err)) ||
        (rc = opt_dwork_start(&a->dev, &t->dwork, &t->work, err)))
        return rc;
    for (j = 0; j < t->nb; j++) {
        if ((rc = stream_open(&t->ss[j], err))) return rc;
        if (!a->source_only && (rc = stream_open(&t->ts[j], err))) return rc;
    }
    a->so.dist = dist_hooks((int)t->B, t->nb);
    if (t->rank == 0) {
        char procs[96] = "";
        if (t->K > 1) snprintf(procs, sizeof procs, " in %d processes of %d", t->K, t->nb);
        fprintf(stderr,
                "lsdseg train: %s, %s %s (%lu) -> %s %s (%lu), %dx%d, vgg %d fc %d ngf %d ndf %d, "
                "%d classes, %s iteration %ld of %ld, batch %ld%s, %.0f MB model + %.0f MB "
                "buffers, %s loading, recipe %s\n",
                a->source_only ? "source only" : "LSD", dataset_kind_name(a->src.kind),
                a->src.dir, (unsigned long)t->ns,
                a->tgt.dir ? dataset_kind_name(a->tgt.kind) : "-", a->tgt.dir ? a->tgt.dir : "-",
                (unsigned long)t->nt, a->H, a->W, t->m.cfg.vgg, t->m.cfg.fc, t->m.cfg.ngf,
                t->m.cfg.ndf, t->n_class, t->resumed ? "resuming at" : "starting at", t->start,
                a->iters, t->B, procs, lsd_model_bytes(&t->m) / 1e6, t->work.bytes / 1e6,
                loader_is_threaded(t->ss[0].lo) ? "threaded" : "synchronous",
                lsd_recipe_name(&a->so.recipe));
    }
    return LSD_OK;
}

/* A checkpoint now (a collective call: every rank's stream positions; rank 0 writes). */
static int save_now(TrainRun *t, lsd_err *err)
{
    int rc;
    progress_break(&t->pr);
    if ((rc = opt_device_sync(&t->a.dev, &t->m, err)) ||
        (rc = slot_positions(t->spos, t->tpos, t->ss, t->ts, t->nb, t->B, err)))
        return rc;
    if (t->rank == 0 && (rc = save_ckpt(&t->m, &t->a, &t->info, t->spos, t->tpos, t->ns,
                                        t->lr_w, t->path, sizeof t->path, err)))
        return rc;
    t->saved_at = t->m.step;
    return LSD_OK;
}

/* Scores the model on --val (the images split over the ranks, the confusion matrices summed):
 * a row of val.csv, a line on stderr, sample panels, and best.safetensors when it improves. */
static int validate(TrainRun *t, lsd_err *err)
{
    TrainArgs *a = &t->a;
    confusion c;
    seg_scores sc;
    eval_opts eo;
    const int *ids = NULL;
    int nsub = t->subset && t->subset != CS_NUM_CLASSES ? labels_subset(t->subset, &ids) : 0;
    int rc;
    double v0 = lsd_now();
    char sdir[4200], prefix[64];
    progress_break(&t->pr);
    memset(&eo, 0, sizeof eo);
    eo.H = a->H, eo.W = a->W, eo.max_images = (size_t)a->val_max;
    snprintf(sdir, sizeof sdir, "%s/samples", a->out);
    snprintf(prefix, sizeof prefix, "iter%08ld", t->m.step);
    eo.sample_dir = t->rank == 0 ? sdir : NULL; /* the first images: rank 0's share */
    eo.n_samples = (int)a->samples, eo.sample_prefix = prefix;
    eo.dev = &a->dev;
    eo.part = t->rank, eo.parts = t->K;
    if ((rc = confusion_init(&c, t->n_class, err))) return rc;
    rc = lsd_evaluate(&t->m, &a->val.ds, &eo, &c, err);
    if (!rc) rc = dist_sum_u64(c.count, (size_t)t->n_class * t->n_class, err);
    if (!rc) {
        confusion_scores(&c, nsub ? ids : NULL, nsub, &sc);
        if (t->valf) {
            fprintf(t->valf, "%ld,%.6f,%d,%.6f,%.6f,%.6f,%.2f\n", t->m.step, sc.miou,
                    nsub ? nsub : t->n_class, sc.pixel_acc, sc.mean_acc, sc.fwiou,
                    lsd_now() - v0);
            fflush(t->valf);
        }
        if (t->rank == 0)
            fprintf(stderr, "lsdseg train: validation at iteration %ld: mIoU %.2f (%d "
                    "classes), pixel acc %.2f%s\n", t->m.step, 100 * sc.miou,
                    nsub ? nsub : t->n_class, 100 * sc.pixel_acc,
                    sc.miou > t->best ? ", best so far" : "");
        if (sc.miou > t->best || t->best < 0) {
            t->best = sc.miou;
            if (t->rank == 0 && !(rc = opt_device_sync(&a->dev, &t->m, err)))
                rc = save_best(&t->m, a->out, err);
        }
    }
    confusion_free(&c);
    return rc;
}

/* ---- the loop's hooks (ref/loop.h) */

/* F's learning rates (x0.1 every decay_epochs epochs, in samples: B per iteration; one
 * multiplication per decay, as the authors' step_scheduler), and the next samples of this
 * process's slots. */
static int next_batch(TrainLoop *L, LsdBatch *b, lsd_err *err)
{
    TrainRun *t = (TrainRun *)L->ctx;
    TrainArgs *a = &t->a;
    size_t img = (size_t)3 * a->H * a->W, pix = (size_t)a->H * a->W;
    long decays = a->decay_epochs > 0 ? t->m.step * t->B / (a->decay_epochs * t->epoch_len) : 0;
    int j, nb = t->nb, rc = LSD_OK;
    t->lr_w = lr_decayed(t->base_w, decays, 0.1);
    a->so.lr_f_weight = t->lr_w, a->so.lr_f_bias = lr_decayed(t->base_b, decays, 0.1);
    for (j = 0; j < nb; j++) { /* the previous iteration's samples */
        loader_item_free(&t->si[j]);
        loader_item_free(&t->ti[j]);
    }
    for (j = 0; j < nb && !rc; j++) {
        loader_item *s = &t->si[j], *u = &t->ti[j];
        rc = stream_next(&t->ss[j], s, t->n_class, err);
        if (!rc && !a->source_only) rc = stream_next(&t->ts[j], u, t->n_class, err);
        if (!rc && nb > 1) { /* the batch's slot j */
            if ((size_t)s->s.height * s->s.width != pix)
                return lsd_fail(err, LSD_ERR_FORMAT, "a source sample of %dx%d, not the crop "
                                "size %dx%d", s->s.height, s->s.width, a->H, a->W);
            memcpy(t->bx + j * img, s->x_f, img * sizeof *t->bx);
            memcpy(t->by + j * pix, s->s.label, pix);
            if (s->x_d) memcpy(t->bx + (2 * nb + j) * img, s->x_d, img * sizeof *t->bx);
            if (u->x_f) memcpy(t->bx + (nb + j) * img, u->x_f, img * sizeof *t->bx);
            if (u->x_d) memcpy(t->bx + (3 * nb + j) * img, u->x_d, img * sizeof *t->bx);
        }
    }
    if (rc) return rc;
    if (nb == 1) {
        b->xs = t->si[0].x_f, b->xs01 = t->si[0].x_d, b->ys = t->si[0].s.label;
        b->xt = t->ti[0].x_f, b->xt01 = t->ti[0].x_d;
    } else {
        b->xs = t->bx, b->xt = t->bx + nb * img, b->xs01 = t->bx + 2 * nb * img;
        b->xt01 = t->bx + 3 * nb * img, b->ys = t->by;
    }
    return LSD_OK;
}

/* A row of log.csv; a checkpoint every --save-every iterations and at the last; a validation
 * every --val-every. */
static int after_iteration(TrainLoop *L, const LsdLosses *l, double seconds, char *text,
                           size_t cap, lsd_err *err)
{
    TrainRun *t = (TrainRun *)L->ctx;
    TrainArgs *a = &t->a;
    long step = t->m.step;
    size_t n = strlen(text);
    int rc;
    if (t->kill_rank == t->rank && t->kill_iter == step) raise(SIGKILL); /* tests/test_mpi.c */
    snprintf(text + n, cap - n, " lr %.3g", t->lr_w);
    if (t->logf) {
        if (a->source_only)
            fprintf(t->logf, "%ld,%.9g,%.6g,%.4f\n", step, l->loss_F, t->lr_w, seconds);
        else
            fprintf(t->logf, "%ld,%.9g,%.9g,%.9g,%.9g,%.6g,%.4f\n", step, l->loss_D, l->loss_G,
                    l->loss_F, l->loss_seg, t->lr_w, seconds);
        fflush(t->logf);
    }
    if ((step % a->save_every == 0 || step == a->iters) && (rc = save_now(t, err))) return rc;
    if (a->val.dir && a->val_every > 0 && (step % a->val_every == 0 || step == a->iters) &&
        (rc = validate(t, err)))
        return rc;
    return LSD_OK;
}

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    g_stop = sig;
}

/* A signal received by any rank stops every rank after the same iteration. */
static int stop_requested(TrainLoop *L)
{
    TrainRun *t = (TrainRun *)L->ctx;
    t->stop = dist_max_int(g_stop != 0);
    return t->stop;
}

/* The loop, with SIGINT/SIGTERM caught (a second one kills at once), and the final
 * checkpoint. Returns 0, 130 (interrupted) or 1 after a message. */
static int train_run(TrainRun *t)
{
    TrainArgs *a = &t->a;
    TrainLoop L;
    struct sigaction sa, old_int, old_term;
    lsd_err err;
    Dist *dist = dist_world();
    double t_run;
    long j, done, skipped_s = 0, skipped_t = 0;
    int rc;
    if ((rc = setup_run(t, &err))) return run_failed(err.msg);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    progress_start(&t->pr, "iter", a->iters, a->quiet || t->rank != 0);
    t->pr.start = t->start, t->pr.every = a->print_every;
    memset(&L, 0, sizeof L);
    L.m = &t->m, L.work = &t->work, L.dev = &a->dev, L.dwork = &t->dwork, L.so = &a->so;
    L.source_only = a->source_only, L.iters = a->iters, L.pr = &t->pr, L.ctx = t;
    L.batch = next_batch, L.after = after_iteration, L.stop = stop_requested;
    t_run = lsd_now();
    rc = train_loop_run(&L, &err);
    progress_break(&t->pr);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc == LSD_ERR_RANGE) { /* a loss that is not finite */
        size_t n = strlen(err.msg);
        snprintf(err.msg + n, sizeof err.msg - n, "; the last checkpoint is kept");
    }
    if (!rc && t->saved_at != t->m.step && t->m.step > t->start) rc = save_now(t, &err);
    if (rc) return run_failed(err.msg);
    done = t->m.step - t->start;
    if (t->rank == 0 && t->K > 1 && done > 0)
        fprintf(stderr, "lsdseg train: %d processes of %d samples: rank 0 sent %.1f MB and spent "
                "%.3f s joining gradients and losses per iteration (of %.3f s)\n", t->K, t->nb,
                dist->bytes_sent / 1e6 / (double)done, dist->seconds / (double)done,
                (lsd_now() - t_run) / (double)done);
    if (t->stop && t->m.step < a->iters) {
        if (t->rank == 0)
            fprintf(stderr, "lsdseg train: interrupted at iteration %ld; checkpoint %s; "
                    "continue with --resume auto\n", t->m.step, done > 0 ? t->path : "(none new)");
        rc = 130;
    } else if (t->rank == 0 && done > 0) {
        fprintf(stderr, "lsdseg train: done, iteration %ld; checkpoint %s\n", t->m.step, t->path);
    } else if (t->rank == 0) {
        fprintf(stderr, "lsdseg train: already at iteration %ld (--iters %ld): nothing to do\n",
                t->m.step, a->iters);
    }
    for (j = 0; j < t->nb; j++) skipped_s += t->ss[j].skipped, skipped_t += t->ts[j].skipped;
    if (skipped_s || skipped_t)
        fprintf(stderr, "lsdseg train: %ld source and %ld target samples skipped%s\n", skipped_s,
                skipped_t, t->K > 1 ? " (this rank's slots)" : "");
    return rc;
}

/* Releases whatever the run holds (any part may be missing). */
static void train_free(TrainRun *t)
{
    int j;
    for (j = 0; j < t->nb && t->ss && t->ts && t->si && t->ti; j++) {
        loader_item_free(&t->si[j]);
        loader_item_free(&t->ti[j]);
        loader_close(t->ss[j].lo);
        loader_close(t->ts[j].lo);
    }
    free(t->ss), free(t->ts), free(t->si), free(t->ti), free(t->spos), free(t->tpos);
    free(t->bx), free(t->by);
    opt_dwork_stop(&t->dwork);
    opt_device_stop(&t->a.dev);
    lsd_work_free(&t->work);
    if (t->logf) fclose(t->logf);
    if (t->valf) fclose(t->valf);
    lsd_model_free(&t->m);
    dataset_close(&t->a.src.ds);
    dataset_close(&t->a.tgt.ds);
    dataset_close(&t->a.val.ds);
}

int cmd_train(int argc, char **argv)
{
    TrainRun t;
    Dist *dist = dist_world();
    const char *kill = getenv("LSD_TEST_KILL");
    int rc;
    memset(&t, 0, sizeof t);
    t.rank = dist->rank, t.K = dist->size;
    t.saved_at = -1, t.best = -1, t.kill_rank = -1, t.kill_iter = -1;
    train_defaults(&t.a);
    if ((rc = parse(argc, argv, &t.a))) return rc < 0 ? 0 : rc;
    t.a.so.seed = t.a.seed;
    t.a.so.dropout = LSD_DROPOUT_RNG;
    /* LSD_TEST_KILL=RANK:ITER: that rank dies after that iteration (tests/test_mpi.c) */
    if (kill && sscanf(kill, "%d:%ld", &t.kill_rank, &t.kill_iter) != 2) t.kill_rank = -1;
    if (!(rc = open_data(&t)) && !(rc = setup_model(&t))) {
        rc = train_run(&t);
        /* a rank that leaves early would leave the others waiting: every one ends */
        if (rc == 1 && t.K > 1) dist_abort(1);
    }
    train_free(&t);
    return rc;
}
