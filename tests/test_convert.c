/*
 * test_convert.c - tools/convert_torch.py against PyTorch, without downloads:
 * tests/convert_torch_case.py builds random reduced-width models with torchvision's VGG16
 * names and with the authors' FCN8s_LSD / _netG / _netD structure (golden/model.py), saves
 * them the way torchvision and the authors do, converts them, and records PyTorch's outputs.
 * Here the converted files are loaded (lsd_model_init's VGG16 path; ckpt_load, which also
 * checks the digests the Python writer computed) and C's forward must give PyTorch's outputs;
 * --channels rgb must give them with G's output and D's input colours reversed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../gan/checkpoint.h"
#include "harness.h"

#define H_IMG 32
#define W_IMG 64

#ifdef LSD_DOUBLE
#define RTOL 1e-9
#else
#define RTOL 1e-4
#endif

/* got against ref tensor name: |d| <= rtol (|ref| + max|ref|), with matching sizes. */
static void compare(st_file *ref, const char *name, const real *got, size_t n)
{
    const st_entry *e = st_find(ref, name);
    real *r;
    double mx = 0;
    size_t i;
    lsd_err err;
    if (!e) {
        CHECK(0, "reference %s missing", name);
        return;
    }
    if (!CHECK(e->nelem == (uint64_t)n, "%s: %llu elements in PyTorch, %lu in C", name,
               (unsigned long long)e->nelem, (unsigned long)n))
        return;
    r = (real *)malloc(n * sizeof(real));
    if (!r || st_read_real(ref, name, r, n, -1, NULL, &err)) {
        CHECK(0, "reading %s", name);
        free(r);
        return;
    }
    for (i = 0; i < n; i++)
        if (mx < (r[i] < 0 ? -r[i] : r[i])) mx = r[i] < 0 ? -r[i] : r[i];
    CHECK(mx > 0, "%s is not all zero in PyTorch", name);
    test_close_real(name, got, r, n, RTOL * mx, RTOL);
    free(r);
}

/* Reads the reference inputs x (BGR minus mean) and x01. */
static int read_inputs(st_file *ref, real *x, real *x01)
{
    lsd_err err;
    size_t n = 3 * H_IMG * W_IMG;
    if (st_read_real(ref, "x", x, n, -1, NULL, &err) ||
        st_read_real(ref, "x01", x01, n, -1, NULL, &err)) {
        CHECK(0, "reference inputs: %s", err.msg);
        return 0;
    }
    return 1;
}

/* Forward of F, C, G, D without dropout on one input. */
static int forward(LsdModel *m, LsdWork *work, const real *x, const real *x01, uint8_t *ys,
                   lsd_err *err)
{
    LsdBatch b;
    int rc = lsd_work_create(work, &m->cfg, 1, H_IMG, W_IMG, LSD_WORK_TRAIN, err);
    if (rc) return rc;
    lsd_work_draw_masks(work, 0, 0, 0);
    b.xs = x, b.xt = x, b.xs01 = x01, b.xt01 = x01, b.ys = ys;
    lsd_forward_all(m, work, &b);
    return LSD_OK;
}

static size_t f_size(const FActs *a, int which, int C)
{
    if (which == 7) return (size_t)a->N * C * a->fc7_shape.OH * a->fc7_shape.OW;
    return (size_t)a->N * C * a->pool_h[which] * a->pool_w[which];
}

static void test_vgg16(const char *dir, st_file *ref, const real *x, const real *x01,
                       uint8_t *ys)
{
    LsdConfig c;
    LsdModel m;
    LsdWork work;
    lsd_err err;
    char path[1200];
    c.vgg = 2, c.fc = 16, c.ngf = 2, c.ndf = 4, c.n_class = 5;
    snprintf(path, sizeof path, "%s/vgg_f.safetensors", dir);
    if (lsd_model_create(&m, &c, &err)) {
        CHECK(0, "model: %s", err.msg);
        return;
    }
    if (!CHECK(!lsd_model_init(&m, 1, path, &err), "lsd_model_init with the converted VGG16: %s",
               err.msg) ||
        !CHECK(!forward(&m, &work, x, x01, ys, &err), "work: %s", err.msg)) {
        lsd_model_free(&m);
        return;
    }
    compare(ref, "vgg.fc7", work.fa[0].fc7_drop, f_size(&work.fa[0], 7, c.fc));
    compare(ref, "vgg.pool4", work.fa[0].pool[3], f_size(&work.fa[0], 3, 8 * c.vgg));
    compare(ref, "vgg.pool3", work.fa[0].pool[2], f_size(&work.fa[0], 2, 4 * c.vgg));
    lsd_work_free(&work);
    lsd_model_free(&m);
}

static void test_lsd(const char *dir, st_file *ref, const real *x, const real *x01, uint8_t *ys)
{
    LsdModel m;
    LsdWork work;
    CkptInfo ci;
    lsd_err err;
    char path[1200], cdir[1200], latest[CKPT_PATH_MAX];
    int found = 0, rc;
    size_t hw = (size_t)H_IMG * W_IMG, hw8 = (size_t)(H_IMG / 8) * (W_IMG / 8);
    snprintf(path, sizeof path, "%s/lsd.safetensors", dir);
    rc = ckpt_validate(path, NULL, &err);
    CHECK(!rc, "the converted checkpoint validates (digests written by Python): %s",
          rc ? err.msg : "");
    if (!CHECK(!ckpt_load(&m, path, &ci, &err), "ckpt_load: %s", err.msg)) return;
    CHECK(m.cfg.vgg == 2 && m.cfg.fc == 16 && m.cfg.ngf == 2 && m.cfg.ndf == 4 &&
              m.cfg.n_class == 5 && m.step == 0 && ci.iteration == 0,
          "configuration from the converted file, iteration 0");
    if (CHECK(!forward(&m, &work, x, x01, ys, &err), "work: %s", err.msg)) {
        compare(ref, "lsd.fc7", work.fa[0].fc7_drop, f_size(&work.fa[0], 7, 16));
        compare(ref, "lsd.pool4", work.fa[0].pool[3], f_size(&work.fa[0], 3, 16));
        compare(ref, "lsd.pool3", work.fa[0].pool[2], f_size(&work.fa[0], 2, 8));
        compare(ref, "lsd.score", work.ca.score, 5 * hw);
        compare(ref, "lsd.gen", work.ga[0].img, 3 * hw);
        compare(ref, "lsd.d_s", work.da.domain_score, 4 * hw8);
        compare(ref, "lsd.d_c", work.da.class_score, 5 * hw8);
        lsd_work_free(&work);
    }
    lsd_model_free(&m);
    /* as the first checkpoint of a run */
    snprintf(cdir, sizeof cdir, "%s/run", dir);
    mkdir(cdir, 0777);
    snprintf(latest, sizeof latest, "cp '%s' '%s/ckpt-00000000.safetensors'", path, cdir);
    CHECK(system(latest) == 0, "copy");
    rc = ckpt_find_latest(cdir, NULL, latest, sizeof latest, &found, NULL, 0, &err);
    CHECK(!rc && found, "resume finds the converted checkpoint: %s", rc ? err.msg : latest);
}

/* --channels: bgr records the authors' recipe (weights as they are, checked above); rgb
 * reverses G's output and D's input colours: G(F(x)) is PyTorch's with the channels reversed,
 * and D on x01 with its channels reversed gives PyTorch's D on x01. */
static void test_channels(const char *dir, st_file *ref, const real *x, const real *x01,
                          uint8_t *ys)
{
    LsdModel m;
    LsdWork work;
    CkptInfo ci;
    lsd_err err;
    LsdRecipe a = lsd_recipe_authors(), p = lsd_recipe_paper();
    char path[1200];
    size_t hw = (size_t)H_IMG * W_IMG, hw8 = (size_t)(H_IMG / 8) * (W_IMG / 8);
    real *flip = (real *)malloc(3 * hw * sizeof(real)), *gen = (real *)malloc(3 * hw * sizeof(real));
    if (!CHECK(flip && gen, "memory")) goto done;
    snprintf(path, sizeof path, "%s/lsd.safetensors", dir);
    if (CHECK(!ckpt_load(&m, path, &ci, &err), "ckpt_load: %s", err.msg)) {
        CHECK(!memcmp(&ci.recipe, &a, sizeof a), "--channels bgr records the authors' recipe");
        lsd_model_free(&m);
    }
    snprintf(path, sizeof path, "%s/lsd_rgb.safetensors", dir);
    if (!CHECK(!ckpt_load(&m, path, &ci, &err), "ckpt_load: %s", err.msg)) goto done;
    CHECK(!memcmp(&ci.recipe, &p, sizeof p), "--channels rgb records the paper's recipe");
    lsd_flip_channels(flip, x01, 1, H_IMG, W_IMG);
    if (CHECK(!forward(&m, &work, x, flip, ys, &err), "work: %s", err.msg)) {
        lsd_flip_channels(gen, work.ga[0].img, 1, H_IMG, W_IMG);
        compare(ref, "lsd.gen", gen, 3 * hw);
        compare(ref, "lsd.d_s", work.da.domain_score, 4 * hw8);
        compare(ref, "lsd.d_c", work.da.class_score, 5 * hw8);
        lsd_work_free(&work);
    }
    lsd_model_free(&m);
done:
    free(flip);
    free(gen);
}

/* The conversion that convert_torch_case.py ran as `tag` failed, with word in its stderr. */
static void refused(const char *dir, const char *tag, const char *word, const char *what)
{
    char path[700], text[8192];
    FILE *f;
    size_t n = 0;
    int rc = 0;
    snprintf(path, sizeof path, "%s/%s.rc", dir, tag);
    if ((f = fopen(path, "r"))) {
        if (fscanf(f, "%d", &rc) != 1) rc = 0;
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/%s.err", dir, tag);
    text[0] = '\0';
    if ((f = fopen(path, "r"))) {
        n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    CHECK(rc != 0 && strstr(text, word) != NULL, "%s fails clearly (status %d): %s", what, rc,
          text);
}

int main(void)
{
    char dir[512], path[700], out[4096];
    st_file ref;
    lsd_err err;
    int rc;
    static real x[3 * H_IMG * W_IMG], x01[3 * H_IMG * W_IMG];
    static uint8_t ys[H_IMG * W_IMG];
    test_begin("convert");
    snprintf(dir, sizeof dir, "%s/convert_%ld", test_tmp_dir(), (long)getpid());
    /* one Python run (torch imported once): the cases, the conversions and two refusals */
    rc = test_run(out, sizeof out, "rm -rf '%s' && mkdir -p '%s' && '%s' "
                  "tests/convert_torch_case.py '%s'", dir, dir, test_python(), dir);
    if (rc == 77 || rc == 127) {
        test_skip("python3 with torch, numpy and safetensors not available: "
                  "tools/convert_torch.py not tested (%s)", out);
        test_run(NULL, 0, "rm -rf '%s'", dir);
        return test_summary();
    }
    if (!CHECK(rc == 0, "tests/convert_torch_case.py ran (status %d): %s", rc, out))
        return test_summary();
    snprintf(path, sizeof path, "%s/ref.safetensors", dir);
    if (!CHECK(!st_open(&ref, path, &err), "reference: %s", err.msg)) return test_summary();
    if (read_inputs(&ref, x, x01)) {
        memset(ys, 0, sizeof ys);
        test_vgg16(dir, &ref, x, x01, ys);
        test_lsd(dir, &ref, x, x01, ys);
        test_channels(dir, &ref, x, x01, ys);
    }
    st_close(&ref);
    refused(dir, "refuse_vgg", "features.0.weight", "convert_torch.py vgg16 on a discriminator");
    refused(dir, "refuse_lsd", "stage4_upsample", "convert_torch.py lsd with swapped files");
    if (test_run(NULL, 0, "rm -rf '%s'", dir) != 0) CHECK(0, "cannot remove %s", dir);
    return test_summary();
}
