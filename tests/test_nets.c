/* test_nets.c - F, C, G, D forward passes against PyTorch (golden/gen_nets.py), the
 * parameter tables and names, the configuration read back from a file, size checks. */
#include "gan_fixture.h"

/* The reduced networks at 64x128, batch 1, with the golden's masks. */
static void small_forward(void)
{
    LsdConfig c = fixture_small();
    LsdModel m;
    LsdWork work;
    Fixture fx;
    st_file sf;
    lsd_err err;
    if (!fixture_open(&sf, "nets_small_b1.safetensors")) return;
    fixture_setup(&m, &work, &fx, &c, 1, 64, 128);
    lsd_model_init_hash(&m);
    lsd_work_hash_masks(&work);
    lsd_forward_all(&m, &work, &fx.b);
    check_against(&sf, "fwd.fc7", work.fa[0].fc7_drop, 1 * 16 * 3 * 5, FWD_RTOL);
    check_against(&sf, "fwd.pool4", work.fa[0].pool[3], (size_t)16 * 17 * 21, FWD_RTOL);
    check_against(&sf, "fwd.pool3", work.fa[0].pool[2], (size_t)8 * 33 * 41, FWD_RTOL);
    check_against(&sf, "fwd.score", work.ca.score, (size_t)5 * 64 * 128, FWD_RTOL);
    check_against(&sf, "fwd.gen_s", work.ga[0].img, (size_t)3 * 64 * 128, FWD_RTOL);
    check_against(&sf, "fwd.d_s_real", work.da.domain_score, (size_t)4 * 8 * 16, FWD_RTOL);
    check_against(&sf, "fwd.d_c_real", work.da.class_score, (size_t)5 * 8 * 16, FWD_RTOL);
    /* inference keeps no backward buffers and runs without dropout */
    {
        LsdWork wi;
        CHECK(lsd_work_create(&wi, &c, 1, 64, 128, LSD_WORK_INFER, &err) == LSD_OK, "infer work");
        CHECK(wi.fg.mem == NULL && wi.ga[0].mem == NULL && wi.bytes < work.bytes / 3,
              "inference work %lu bytes vs training %lu", (unsigned long)wi.bytes,
              (unsigned long)work.bytes);
        lsd_infer(&m, &wi, fx.xs);
        CHECK(wi.ca.score[0] == wi.ca.score[0], "inference runs");
        lsd_work_free(&wi);
    }
    fixture_teardown(&m, &work, &fx);
    st_close(&sf);
}

/* The names, counts and groups of the paper's networks (no allocation of the big arrays
 * is touched: calloc'd pages stay virtual). */
static void full_tables(void)
{
    LsdConfig c = lsd_config_default();
    LsdModel m;
    lsd_err err;
    int k;
    if (lsd_model_create(&m, &c, &err)) {
        test_skip("full-size arenas: %s", err.msg);
        return;
    }
    CHECK(m.F.pa.n == 2 * 18 + 3, "F has %d tensors", m.F.pa.n);
    CHECK(m.G.pa.n == 17, "G has %d tensors", m.G.pa.n);
    CHECK(m.D.pa.n == 2 * 12, "D has %d tensors", m.D.pa.n);
    CHECK(arena_find(&m.F.pa, "fc6.weight") >= 0 &&
              m.F.pa.spec[arena_find(&m.F.pa, "fc6.weight")].shape[1] == 512,
          "fc6.weight (4096, 512, 7, 7)");
    CHECK(arena_find(&m.G.pa, "stage3_upsample.9.conv_layer.weight") >= 0, "G block names");
    CHECK(arena_find(&m.G.pa, "stage4_upsample.0.bias") >= 0, "stage4 bias");
    CHECK(arena_find(&m.D.pa, "feature.13.conv_layer.bias") >= 0, "D block names");
    k = arena_find(&m.F.pa, "upscore8.weight");
    CHECK(k >= 0 && m.F.pa.spec[k].frozen, "upscore8 frozen");
    k = arena_find(&m.F.pa, "conv1_1.bias");
    CHECK(k >= 0 && m.F.pa.spec[k].is_bias, "bias group");
    {
        size_t total = m.F.pa.total + m.G.pa.total + m.D.pa.total;
        CHECK(total > 190000000 && total < 210000000, "about 200M parameters: %lu",
              (unsigned long)total);
    }
    lsd_model_free(&m);
}

/* Sizes that are not multiples of 32 are refused with the nearest valid ones. */
static void size_checks(void)
{
    LsdConfig c = fixture_small();
    LsdWork work;
    lsd_err err;
    CHECK(lsd_work_create(&work, &c, 1, 100, 64, LSD_WORK_TRAIN, &err) == LSD_ERR_ARG,
          "100 refused");
    CHECK(strstr(err.msg, "96") && strstr(err.msg, "128"), "names 96 and 128: %s", err.msg);
    CHECK(lsd_work_create(&work, &c, 1, 64, 70, LSD_WORK_TRAIN, &err) == LSD_ERR_ARG, "70 refused");
    CHECK(strstr(err.msg, "64 or 96") != NULL, "names 64 or 96: %s", err.msg);
    CHECK(lsd_work_create(&work, &c, 1, 50, 70, LSD_WORK_INFER, &err) == LSD_OK,
          "inference takes any size: %s", err.msg);
    lsd_work_free(&work);
}

/* A saved model tells its configuration; parameters survive the round trip. */
static void config_round_trip(void)
{
    LsdConfig c = fixture_small(), c2;
    LsdModel m, m2;
    lsd_err err;
    char path[512];
    st_file sf;
    c.ngf = 3, c.ndf = 5, c.n_class = 7;
    sprintf(path, "%s/nets_roundtrip.safetensors", test_tmp_dir());
    CHECK(lsd_model_create(&m, &c, &err) == LSD_OK, "create");
    lsd_model_init_hash(&m);
    m.step = 41;
    m.G.pa.m[3] = (real)0.25;
    CHECK(lsd_model_save(&m, path, &err) == LSD_OK, "save: %s", err.msg);
    CHECK(st_open(&sf, path, &err) == LSD_OK, "open");
    CHECK(lsd_config_from_file(&c2, &sf, &err) == LSD_OK && c2.vgg == 2 && c2.fc == 16 &&
              c2.ngf == 3 && c2.ndf == 5 && c2.n_class == 7,
          "config from shapes: %d %d %d %d %d", c2.vgg, c2.fc, c2.ngf, c2.ndf, c2.n_class);
    st_close(&sf);
    CHECK(lsd_model_load(&m2, path, &err) == LSD_OK, "load: %s", err.msg);
    CHECK(m2.step == 41, "step %ld", m2.step);
    CHECK(m2.G.pa.m[3] == (real)0.25, "Adam state restored");
    CHECK(!memcmp(m.F.pa.param, m2.F.pa.param, m.F.pa.total * sizeof(real)) &&
              !memcmp(m.D.pa.param, m2.D.pa.param, m.D.pa.total * sizeof(real)),
          "parameters restored bit for bit");
    lsd_model_free(&m2);
    lsd_model_free(&m);
}

/* The paper's networks at 32x64 against PyTorch (float64, hash-rule parameters). */
static void full_forward(void)
{
    LsdConfig c = lsd_config_default();
    LsdModel m;
    LsdWork work;
    Fixture fx;
    st_file sf;
    lsd_err err;
    int k;
    double worst = 0;
    if (!fixture_open(&sf, "nets_full_fwd.safetensors")) return;
    fixture_setup(&m, &work, &fx, &c, 1, 32, 64);
    lsd_model_init_hash(&m);
    {
        const ParamArena *as[3];
        int a;
        char name[128];
        as[0] = &m.F.pa, as[1] = &m.G.pa, as[2] = &m.D.pa;
        for (a = 0; a < 3; a++)
            for (k = 0; k < as[a]->n; k++) {
                real ref;
                double got = arena_abs_sum(as[a], k), d;
                sprintf(name, "abssum.%s%s", as[a]->prefix, as[a]->spec[k].name);
                if (st_read_real(&sf, name, &ref, 1, -1, NULL, &err)) continue;
                d = fabs(got - (double)ref) / (fabs((double)ref) + 1e-30);
                if (d > worst) worst = d;
            }
        CHECK(worst < (sizeof(real) == 8 ? 1e-9 : 1e-4), "parameter checksums, worst %.2e",
              worst);
    }
    lsd_forward_all(&m, &work, &fx.b);
    check_against(&sf, "fwd.fc7", work.fa[0].fc7_drop, (size_t)4096 * 2 * 3, FWD_RTOL);
    check_against(&sf, "fwd.score", work.ca.score, (size_t)19 * 32 * 64, FWD_RTOL);
    check_against(&sf, "fwd.gen_s", work.ga[0].img, (size_t)3 * 32 * 64, FWD_RTOL);
    check_against(&sf, "fwd.d_s_real", work.da.domain_score, (size_t)4 * 4 * 8, FWD_RTOL);
    check_against(&sf, "fwd.d_c_real", work.da.class_score, (size_t)19 * 4 * 8, FWD_RTOL);
    {
        size_t n4 = (size_t)512 * 15 * 17, n3 = (size_t)256 * 29 * 33, i, j;
        real *s4 = golden_read(&sf, "sample.fwd.pool4", (n4 + 96) / 97);
        real *s3 = golden_read(&sf, "sample.fwd.pool3", (n3 + 96) / 97);
        real *g4 = (real *)malloc(((n4 + 96) / 97) * sizeof(real));
        real *g3 = (real *)malloc(((n3 + 96) / 97) * sizeof(real));
        if (s4 && s3 && g4 && g3) {
            for (i = 0, j = 0; i < n4; i += 97) g4[j++] = work.fa[0].pool[3][i];
            for (i = 0, j = 0; i < n3; i += 97) g3[j++] = work.fa[0].pool[2][i];
            test_close_real("pool4 samples", g4, s4, (n4 + 96) / 97,
                            FWD_RTOL * test_max_abs(s4, (n4 + 96) / 97), FWD_RTOL);
            test_close_real("pool3 samples", g3, s3, (n3 + 96) / 97,
                            FWD_RTOL * test_max_abs(s3, (n3 + 96) / 97), FWD_RTOL);
        }
        free(s4), free(s3), free(g4), free(g3);
    }
    fixture_teardown(&m, &work, &fx);
    st_close(&sf);
}

int main(void)
{
    test_begin("nets");
    small_forward();
    full_tables();
    size_checks();
    config_round_trip();
    if (getenv("LSD_SLOW"))
        full_forward();
    else
        test_skip("full-size forward at 32x64 (set LSD_SLOW=1)");
    return test_summary();
}
