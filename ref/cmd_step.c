/*
 * cmd_step.c - `lsdseg step`: one training iteration on a case file, the oracle a port
 * can be checked against. Also the case reader that `lsdseg forward` shares.
 *
 * CASE (safetensors) holds the parameters under F., G., D. names (the configuration is
 * read off their shapes), optionally Adam state (opt.<name>.exp_avg, .exp_avg_sq) and
 * opt.step, and one batch: xs, xt (N,3,H,W; BGR minus mean), xs_forD, xt_forD (N,3,H,W;
 * RGB in [0,1]), ys (N,H,W; int64, int32 or uint8; 255 or -1 = ignore), and optionally
 * masks.<name> for any dropout layer (see gan/lsd.h, LsdMaskRef), which replace the
 * random masks of that layer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gan/lsd.h"
#include "../tensor/safetensors.h"
#include "case.h"
#include "options.h"

int cmd_step(int argc, char **argv);

/* Reads one (N,3,H,W) image tensor of the case into a new array. */
static int read_image(st_file *sf, const char *name, const int64_t *shape, real **out,
                      lsd_err *err)
{
    size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
    *out = (real *)malloc(n * sizeof(real));
    if (!*out) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory for %s", name);
    return st_read_real(sf, name, *out, n, 4, shape, err);
}

/* Loads parameters, Adam state and the batch, creates the work, fills its masks as o says
 * (random for the model's step, or ones), then replaces those CASE gives. imgs holds the
 * four image arrays (free each), ys the labels. */
int lsd_case_load(const char *path, int source_only, const LsdStepOptions *o, LsdModel *m,
                  LsdWork *work, real **imgs, uint8_t **ys, LsdBatch *b, int *nmasks_given,
                  lsd_err *err)
{
    static const char *const IMG[4] = {"xs", "xt", "xs_forD", "xt_forD"};
    st_file sf;
    const st_entry *e;
    int64_t shape[4], yshape[3], *y64 = NULL;
    int i, rc, N, H, W, need = source_only ? 1 : 4;
    size_t np, j;
    memset(work, 0, sizeof *work);
    for (i = 0; i < 4; i++) imgs[i] = NULL;
    *ys = NULL;
    *nmasks_given = 0;
    if ((rc = lsd_model_load(m, path, err))) return rc;
    if ((rc = st_open(&sf, path, err))) return rc;
    e = st_find(&sf, "xs");
    if (!e || e->ndim != 4 || e->shape[1] != 3 || e->shape[0] < 1 || e->shape[0] > 4096 ||
        e->shape[2] > 65536 || e->shape[3] > 65536) {
        st_close(&sf);
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: needs xs of shape (N, 3, H, W)", path);
    }
    for (i = 0; i < 4; i++) shape[i] = e->shape[i];
    N = (int)shape[0], H = (int)shape[2], W = (int)shape[3];
    rc = lsd_work_create(work, &m->cfg, N, H, W,
                         source_only ? LSD_WORK_SOURCE_ONLY : LSD_WORK_TRAIN, err);
    for (i = 0; i < need && !rc; i++) rc = read_image(&sf, IMG[i], shape, &imgs[i], err);
    np = (size_t)N * H * W;
    yshape[0] = N, yshape[1] = H, yshape[2] = W;
    if (!rc) {
        y64 = (int64_t *)malloc(np * sizeof *y64);
        *ys = (uint8_t *)malloc(np);
        if (!y64 || !*ys) rc = lsd_fail(err, LSD_ERR_NOMEM, "out of memory for ys");
    }
    if (!rc) rc = st_read_i64(&sf, "ys", y64, np, 3, yshape, err);
    for (j = 0; !rc && j < np; j++) {
        if (y64[j] == -1 || y64[j] == 255)
            (*ys)[j] = 255;
        else if (y64[j] >= 0 && y64[j] < m->cfg.n_class)
            (*ys)[j] = (uint8_t)y64[j];
        else
            rc = lsd_fail(err, LSD_ERR_RANGE, "%s: ys holds %lld at %lu, not a class (0..%d), "
                          "255 or -1", path, (long long)y64[j], (unsigned long)j,
                          m->cfg.n_class - 1);
    }
    free(y64);
    if (!rc) lsd_work_draw_masks(work, o->dropout == LSD_DROPOUT_RNG, o->seed, m->step);
    for (i = 0; !rc && i < work->nmasks; i++) {
        LsdMaskRef *r = &work->masks[i];
        char name[96];
        int64_t ms[4];
        int d;
        sprintf(name, "masks.%s", r->name);
        if (!st_find(&sf, name)) continue;
        for (d = 0; d < r->ndim; d++) ms[d] = r->shape[d];
        rc = st_read_real(&sf, name, r->data, r->size, r->ndim, ms, err);
        (*nmasks_given)++;
    }
    st_close(&sf);
    b->xs = imgs[0], b->xt = imgs[1], b->xs01 = imgs[2], b->xt01 = imgs[3], b->ys = *ys;
    return rc;
}

/* Frees what lsd_case_load made (imgs, ys, w, m). If rc is an error, prints it as
 * "lsdseg CMD: message" and returns 1; otherwise returns 0. */
int lsd_case_free(const char *cmd, int rc, const lsd_err *err, LsdModel *m, LsdWork *work,
                  real **imgs, uint8_t *ys)
{
    int i;
    for (i = 0; i < 4; i++) free(imgs[i]);
    free(ys);
    lsd_work_free(work);
    lsd_model_free(m);
    if (rc) {
        fprintf(stderr, "lsdseg %s: %s\n", cmd, err->msg);
        return 1;
    }
    return 0;
}

/* Adds a loss, a double of shape [1], to the writer. */
static int add_loss(st_writer *wr, const char *name, const double *v, lsd_err *err)
{
    int64_t one = 1;
    return st_writer_add(wr, name, ST_F64, 1, &one, v, err);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg step --in CASE.safetensors --out RESULT.safetensors [options]\n"
            "\n"
            "Runs exactly one LSD-seg training iteration (D update, G update, F+C update) on\n"
            "the parameters and batch in CASE and writes the updated parameters, Adam state,\n"
            "opt.step and the losses loss_D, loss_G, loss_F (shape [1]) to RESULT. Feed RESULT\n"
            "back with a batch to chain steps.\n"
            "\n"
            "  --no-dropout      no dropout (masks of ones) unless CASE gives masks\n"
            "  --source-only     the source-only baseline: F and C on CE(C(F(Xs)),Ys) only\n"
            "  --adv-weight W    weight of the adversarial terms in F's loss (0.1)\n"
            "  --c-weight W      weight of D's class term in F's loss (0.1)\n"
            "  --l1-weight W     weight of G's L1 reconstruction (1)\n"
            "  --seed S          dropout seed (1337)\n"
            "  --backend cpu|opencl, --cl-platform P, --cl-device D\n"
            "                    where the iteration runs (cpu; opencl: make OPENCL=1)\n"
            "\n"
            "The recipe (RESULT's metadata \"recipe\" records it):\n"
            OPT_RECIPE_USAGE);
}

/* Parses the options shared by step and forward; returns 0, or 2 after a message. */
static int parse(int argc, char **argv, const char **in, const char **out, LsdStepOptions *o,
                 int *source_only, opt_device *dev, opt_recipe *rec)
{
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--no-dropout")) {
            o->dropout = LSD_DROPOUT_OFF;
        } else if (!strcmp(a, "--source-only")) {
            *source_only = 1;
        } else if (v && !strcmp(a, "--in")) {
            *in = v, i++;
        } else if (v && !strcmp(a, "--out")) {
            *out = v, i++;
        } else if (v && opt_is_device_option(a)) {
            if (opt_device_arg("step", dev, a, v)) return 2;
            i++;
        } else if (v && opt_is_recipe_option(a)) {
            if (opt_recipe_arg("step", rec, a, v)) return 2;
            i++;
        } else if (v && (!strcmp(a, "--adv-weight") || !strcmp(a, "--c-weight") ||
                         !strcmp(a, "--l1-weight") || !strcmp(a, "--seed"))) {
            double x = strtod(v, &end);
            if (!end || *end || x < 0) {
                fprintf(stderr, "lsdseg step: %s needs a number >= 0, not '%s'\n", a, v);
                return 2;
            }
            if (!strcmp(a, "--adv-weight")) o->adv_weight = x;
            if (!strcmp(a, "--c-weight")) o->c_weight = x;
            if (!strcmp(a, "--l1-weight")) o->l1_weight = x;
            if (!strcmp(a, "--seed")) o->seed = (uint64_t)x;
            i++;
        } else {
            fprintf(stderr, "lsdseg %s: unknown or incomplete option '%s' (try --help)\n",
                    argv[0], a);
            return 2;
        }
    }
    if (!*in || !*out) {
        fprintf(stderr, "lsdseg %s: --in and --out are required (try --help)\n", argv[0]);
        return 2;
    }
    return 0;
}

/* `lsdseg step`. */
int cmd_step(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    LsdStepOptions o = lsd_step_defaults();
    LsdModel m;
    LsdWork work;
    LsdBatch b;
    LsdLosses l;
    real *imgs[4];
    uint8_t *ys = NULL;
    lsd_err err;
    st_writer wr;
    int64_t step_store;
    long step;
    int source_only = 0, given = 0, rc;
    opt_device dev;
    opt_dwork dw;
    memset(&dev, 0, sizeof dev);
    memset(&dw, 0, sizeof dw);
    opt_recipe rec;
    memset(&rec, 0, sizeof rec);
    if ((rc = parse(argc, argv, &in, &out, &o, &source_only, &dev, &rec))) return rc;
    o.recipe = opt_recipe_value(&rec);
    memset(&m, 0, sizeof m);
    rc = lsd_case_load(in, source_only, &o, &m, &work, imgs, &ys, &b, &given, &err);
    memset(&l, 0, sizeof l);
    o.dropout = LSD_DROPOUT_GIVEN; /* the masks are in the work now */
    if (!rc) rc = opt_device_start(&dev, &m, &err);
    if (!rc) rc = opt_dwork_start(&dev, &dw, &work, &err);
    if (!rc) rc = opt_dev_step(&dev, &dw, &m, &work, &b, &o, source_only, &l, &err);
    if (!rc) rc = opt_device_sync(&dev, &m, &err);
    opt_dwork_stop(&dw);
    opt_device_stop(&dev);
    step = m.step;
    if (!rc) {
        st_writer_init(&wr);
        char text[128];
        lsd_recipe_format(text, sizeof text, &o.recipe);
        rc = lsd_model_write(&m, &wr, &step_store, &err);
        if (!rc) rc = st_writer_meta(&wr, "recipe", text, &err);
        if (!rc) rc = add_loss(&wr, "loss_F", &l.loss_F, &err);
        if (!rc && !source_only) rc = add_loss(&wr, "loss_D", &l.loss_D, &err);
        if (!rc && !source_only) rc = add_loss(&wr, "loss_G", &l.loss_G, &err);
        if (!rc) rc = st_writer_save(&wr, out, &err);
        st_writer_free(&wr);
    }
    if (lsd_case_free("step", rc, &err, &m, &work, imgs, ys)) return 1;
    if (source_only)
        printf("step %ld: loss_F %.9g (source only)\n", step, l.loss_F);
    else
        printf("step %ld: loss_D %.9g loss_G %.9g loss_F %.9g\n", step, l.loss_D, l.loss_G,
               l.loss_F);
    (void)given;
    return 0;
}
