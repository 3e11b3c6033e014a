/* test_oracle.c - the oracle commands themselves, `lsdseg step` and `lsdseg forward`, against
 * PyTorch (golden/gen_nets.py). A CASE file is built with the library from the goldens' hash
 * rules (parameters, inputs, dropout masks); the command's RESULT is read back with the
 * safetensors reader and compared as test_step.c and test_nets.c compare the library: the
 * losses, every updated parameter (64x128 batch 1, one iteration), three iterations chained
 * by feeding each RESULT back with the batch (32x64 batch 2: Adam state and step count go
 * through the file; also with --recipe authors against golden/gen_authors.py), the
 * source-only iteration, the forward intermediates; --help and bad
 * arguments give one line and a non-zero status. Needs LSD_LSDSEG (set by make test). */
#include "gan_fixture.h"

static const char *exe; /* the command line that runs lsdseg (with RUNNER under qemu) */

/* Adds the batch of fx and every mask of work (the hash rule's) to wr. */
static int add_batch(st_writer *wr, const Fixture *fx, LsdWork *work, lsd_err *err)
{
    int64_t s[4];
    int i, d, rc;
    s[0] = fx->N, s[1] = 3, s[2] = fx->H, s[3] = fx->W;
    rc = st_writer_add_real(wr, "xs", 4, s, fx->xs, err);
    if (!rc) rc = st_writer_add_real(wr, "xt", 4, s, fx->xt, err);
    if (!rc) rc = st_writer_add_real(wr, "xs_forD", 4, s, fx->xs01, err);
    if (!rc) rc = st_writer_add_real(wr, "xt_forD", 4, s, fx->xt01, err);
    s[1] = fx->H, s[2] = fx->W;
    if (!rc) rc = st_writer_add(wr, "ys", ST_U8, 3, s, fx->ys, err);
    for (i = 0; !rc && i < work->nmasks; i++) {
        static char names[256][80]; /* the writer keeps the name pointers until it saves */
        const LsdMaskRef *r = &work->masks[i];
        int64_t ms[4];
        if (i >= 256) return lsd_fail(err, LSD_ERR_ARG, "more than 256 masks");
        sprintf(names[i], "masks.%s", r->name);
        for (d = 0; d < r->ndim; d++) ms[d] = r->shape[d];
        rc = st_writer_add_real(wr, names[i], r->ndim, ms, r->data, err);
    }
    return rc;
}

/* CASE for the first iteration: the hash-rule parameters (fresh Adam state, step 0). */
static int write_first_case(const char *path, const LsdModel *m, const Fixture *fx, LsdWork *work)
{
    st_writer wr;
    int64_t step_store;
    lsd_err err;
    int rc;
    st_writer_init(&wr);
    rc = lsd_model_write(m, &wr, &step_store, &err);
    if (!rc) rc = add_batch(&wr, fx, work, &err);
    if (!rc) rc = st_writer_save(&wr, path, &err);
    st_writer_free(&wr);
    return CHECK(rc == LSD_OK, "writing %s: %s", path, rc ? err.msg : "");
}

/* CASE for the next iteration: every tensor and metadata entry of RESULT (but the losses),
 * unchanged, plus the batch. */
static int write_next_case(const char *path, const char *result, const Fixture *fx, LsdWork *work)
{
    st_file sf;
    st_writer wr;
    lsd_err err;
    void **data;
    int rc, i;
    if (st_open(&sf, result, &err)) return CHECK(0, "%s", err.msg);
    data = (void **)test_alloc((size_t)sf.n * sizeof *data);
    st_writer_init(&wr);
    rc = LSD_OK;
    for (i = 0; !rc && i < sf.n; i++) {
        const st_entry *e = &sf.entries[i];
        size_t n = (size_t)e->nelem;
        if (!strncmp(e->name, "loss_", 5)) continue;
        if (e->dtype == ST_I64 || e->dtype == ST_I32 || e->dtype == ST_U8) {
            data[i] = test_alloc(n * sizeof(int64_t));
            rc = st_read_i64(&sf, e->name, (int64_t *)data[i], n, -1, NULL, &err);
            if (!rc) rc = st_writer_add(&wr, e->name, ST_I64, e->ndim, e->shape, data[i], &err);
        } else {
            data[i] = test_alloc(n * sizeof(real));
            rc = st_read_real(&sf, e->name, (real *)data[i], n, -1, NULL, &err);
            if (!rc) rc = st_writer_add_real(&wr, e->name, e->ndim, e->shape, data[i], &err);
        }
    }
    for (i = 0; !rc && i < sf.nmeta; i++)
        rc = st_writer_meta(&wr, sf.meta_keys[i], sf.meta_vals[i], &err);
    if (!rc) rc = add_batch(&wr, fx, work, &err);
    if (!rc) rc = st_writer_save(&wr, path, &err);
    st_writer_free(&wr);
    for (i = 0; i < sf.n; i++) free(data[i]);
    free(data);
    st_close(&sf);
    return CHECK(rc == LSD_OK, "writing %s from %s: %s", path, result, rc ? err.msg : "");
}

/* Runs `lsdseg <cmd> --in CASE --out RESULT [extra]`; one check that it succeeded. */
static int run_oracle(const char *cmd, const char *in, const char *out, const char *extra)
{
    char text[4096];
    int rc;
    remove(out);
    rc = test_run(text, sizeof text, "%s %s --in '%s' --out '%s' %s", exe, cmd, in, out, extra);
    return CHECK(rc == 0, "lsdseg %s --in %s %s: status %d: %s", cmd, in, extra, rc, text);
}

/* Reads loss name (shape [1]) from RESULT and compares it with element it of the golden's. */
static void result_loss(st_file *res, st_file *gold, const char *name, const char *gname,
                        int it, int iters)
{
    double v = 0;
    lsd_err err;
    int64_t one = 1;
    if (!CHECK(st_read_f64(res, name, &v, 1, 1, &one, &err) == LSD_OK, "RESULT %s: %s", name,
               err.msg))
        return;
    fixture_check_loss(gold, gname, v, it, iters);
}

/* Iterations of `lsdseg step` (with the options extra) chained through RESULT files on a
 * golden case: losses of each iteration, then step count and updated parameters; with so, the
 * source-only iteration. */
static void step_case(const char *file, int N, int H, int W, int iters, int so,
                      const char *extra)
{
    LsdConfig c = fixture_small();
    LsdStepOptions o = lsd_step_defaults();
    LsdModel m, r;
    LsdWork work;
    Fixture fx;
    st_file gold, res;
    lsd_err err;
    char in[512], out[512], name[64];
    int it;
    if (!fixture_open(&gold, file)) return;
    if (lsd_model_create(&m, &c, &err) ||
        lsd_work_create(&work, &c, N, H, W, LSD_WORK_TRAIN, &err) ||
        !fixture_make(&fx, N, H, W, c.n_class)) {
        CHECK(0, "set-up: %s", err.msg);
        return;
    }
    lsd_model_init_hash(&m);
    lsd_work_hash_masks(&work);
    for (it = 0; it < iters; it++) {
        sprintf(name, "oracle_case%d_%d.safetensors", N, it);
        test_tmp_path(in, sizeof in, name);
        if (!(it == 0 ? write_first_case(in, &m, &fx, &work)
                      : write_next_case(in, out, &fx, &work)))
            break;
        sprintf(name, "oracle_result%d_%d.safetensors", N, it);
        test_tmp_path(out, sizeof out, name);
        if (!run_oracle("step", in, out, extra)) break;
        if (!CHECK(st_open(&res, out, &err) == LSD_OK, "%s", err.msg)) break;
        result_loss(&res, &gold, "loss_D", "loss_D", it, iters);
        result_loss(&res, &gold, "loss_G", "loss_G", it, iters);
        result_loss(&res, &gold, "loss_F", "loss_F", it, iters);
        st_close(&res);
    }
    if (it == iters && CHECK(lsd_model_load(&r, out, &err) == LSD_OK, "%s", err.msg)) {
        CHECK(r.step == iters, "RESULT's opt.step is %ld after %d chained steps", r.step, iters);
        fixture_check_updates(&gold, &r.F.pa, m.F.pa.param, o.lr_f_weight, o.lr_f_bias, "");
        fixture_check_updates(&gold, &r.G.pa, m.G.pa.param, o.lr_gd, o.lr_gd, "");
        fixture_check_updates(&gold, &r.D.pa, m.D.pa.param, o.lr_gd, o.lr_gd, "");
        lsd_model_free(&r);
    }
    if (so) { /* --source-only from the initial parameters */
        sprintf(name, "oracle_case%d_0.safetensors", N);
        test_tmp_path(in, sizeof in, name);
        test_tmp_path(out, sizeof out, "oracle_result_so.safetensors");
        if (run_oracle("step", in, out, "--source-only") &&
            CHECK(st_open(&res, out, &err) == LSD_OK, "%s", err.msg)) {
            CHECK(!st_find(&res, "loss_D") && !st_find(&res, "loss_G"),
                  "source-only RESULT holds no loss_D, loss_G");
            result_loss(&res, &gold, "loss_F", "so.loss", 0, 1);
            st_close(&res);
            if (CHECK(lsd_model_load(&r, out, &err) == LSD_OK, "%s", err.msg)) {
                CHECK(r.step == 1, "source-only step count %ld", r.step);
                fixture_check_updates(&gold, &r.F.pa, m.F.pa.param, o.lr_f_weight,
                                      o.lr_f_bias, "so.");
                lsd_model_free(&r);
            }
        }
    }
    fixture_free(&fx);
    lsd_work_free(&work);
    lsd_model_free(&m);
    st_close(&gold);
}

/* `lsdseg forward` on step_case's 64x128 batch-1 CASE against the golden's fwd.* (as
 * test_nets compares lsd_forward_all). */
static void forward_case(void)
{
    static const char *const NAMES[7] = {"fc7", "pool4", "pool3", "score", "gen_s",
                                         "d_s_real", "d_c_real"};
    char in[512], out[512], gname[64];
    st_file gold, res;
    lsd_err err;
    int i;
    if (!fixture_open(&gold, "nets_small_b1.safetensors")) return;
    test_tmp_path(in, sizeof in, "oracle_case1_0.safetensors");
    test_tmp_path(out, sizeof out, "oracle_forward.safetensors");
    if (run_oracle("forward", in, out, "") &&
        CHECK(st_open(&res, out, &err) == LSD_OK, "%s", err.msg)) {
        for (i = 0; i < 7; i++) {
            const st_entry *e = st_find(&res, NAMES[i]);
            real *got;
            sprintf(gname, "fwd.%s", NAMES[i]);
            if (!CHECK(e && e->ndim == 4 && e->shape[0] == 1, "RESULT has %s (1, C, h, w)",
                       NAMES[i]))
                continue;
            if ((got = golden_read(&res, NAMES[i], (size_t)e->nelem))) {
                check_against(&gold, gname, got, (size_t)e->nelem, FWD_RTOL);
                free(got);
            }
        }
        CHECK(st_find(&res, "gen_t") != NULL, "RESULT has gen_t");
        st_close(&res);
    }
    st_close(&gold);
}

/* --help, a missing file and missing arguments: one line, the right exit status. */
static void usage_errors(void)
{
    static const char *const CMDS[2] = {"step", "forward"};
    char text[4096], out[512], bad[512];
    int i, rc;
    test_tmp_path(out, sizeof out, "oracle_never.safetensors");
    test_tmp_path(bad, sizeof bad, "oracle_no_such_case.safetensors");
    remove(bad);
    for (i = 0; i < 2; i++) {
        const char *c = CMDS[i];
        rc = test_run(text, sizeof text, "%s %s --help", exe, c);
        CHECK(rc == 0 && strstr(text, "usage: lsdseg ") && strstr(text, "--in CASE"),
              "%s --help: status %d: %s", c, rc, text);
        remove(out);
        rc = test_run(text, sizeof text, "%s %s --in '%s' --out '%s'", exe, c, bad, out);
        CHECK(rc == 1 && test_one_line_with(text, "oracle_no_such_case"),
              "%s with a missing CASE: status %d, one line naming it: %s", c, rc, text);
        CHECK(fopen(out, "rb") == NULL, "%s wrote no RESULT after the error", c);
        rc = test_run(text, sizeof text, "%s %s --out '%s'", exe, c, out);
        CHECK(rc == 2 && test_one_line_with(text, "--in"),
              "%s without --in: status 2 and one line: %d %s", c, rc, text);
        rc = test_run(text, sizeof text, "%s %s --in '%s' --out '%s' --bogus", exe, c, bad, out);
        CHECK(rc == 2 && test_one_line_with(text, "--bogus"),
              "%s --bogus: status 2 and one line: %d %s", c, rc, text);
        rc = test_run(text, sizeof text, "%s %s --in '%s' --out '%s' --recipe fast", exe, c, bad,
                      out);
        CHECK(rc == 2 && test_one_line_with(text, "'fast'") && strstr(text, "authors"),
              "%s --recipe fast: status 2, one line naming the choices: %d %s", c, rc, text);
    }
}

int main(void)
{
    test_begin("oracle");
    exe = getenv("LSD_LSDSEG");
    if (!exe || !*exe) {
        test_skip("LSD_LSDSEG is not set (make test sets it): lsdseg step/forward not run");
        return test_summary();
    }
    step_case("nets_small_b1.safetensors", 1, 64, 128, 1, 0, "");
    step_case("nets_small_b2.safetensors", 2, 32, 64, 3, 1, "");
    step_case("authors_small_b2.safetensors", 2, 32, 64, 3, 0, "--recipe authors");
    forward_case();
    usage_errors();
    return test_summary();
}
