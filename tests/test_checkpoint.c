/*
 * test_checkpoint.c - checkpoints (gan/checkpoint.h): FNV-1a reference vectors, the digests
 * recomputed by an independent Python reader from the documented rules, save / prune / find /
 * load round trips, refusal of torn, zero-filled and bit-flipped files with fall-back to the
 * previous checkpoint, exact resume (N iterations = N/2 + save + load + N/2, bit for bit), and
 * training runs killed with SIGKILL at random moments, after each of which resume must find a
 * valid checkpoint that never goes back in time.
 */
#include <poll.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../gan/checkpoint.h"
#include "../tensor/rng.h"
#include "harness.h"

#define H_IMG 32
#define W_IMG 64

/* The reduced configuration (golden/gen_nets.py's SMALL). */
static LsdConfig small_cfg(void)
{
    LsdConfig c;
    c.vgg = 2, c.fc = 16, c.ngf = 2, c.ndf = 4, c.n_class = 5;
    return c;
}

/* A batch of one whose content depends on the step index only (the data order rule). */
typedef struct {
    real xs[3 * H_IMG * W_IMG], xt[3 * H_IMG * W_IMG];
    real xs01[3 * H_IMG * W_IMG], xt01[3 * H_IMG * W_IMG];
    uint8_t ys[H_IMG * W_IMG];
    LsdBatch b;
} Batch;

static void batch_fill(Batch *B, long step)
{
    size_t n = 3 * H_IMG * W_IMG, i, off = (size_t)(step % 3) * n;
    for (i = 0; i < n; i++) {
        B->xs[i] = (real)(100 * lsd_hash_uniform("ckpt.xs", off + i));
        B->xt[i] = (real)(100 * lsd_hash_uniform("ckpt.xt", off + i));
        B->xs01[i] = (real)((1 + lsd_hash_uniform("ckpt.xs01", off + i)) / 2);
        B->xt01[i] = (real)((1 + lsd_hash_uniform("ckpt.xt01", off + i)) / 2);
    }
    for (i = 0; i < (size_t)H_IMG * W_IMG; i++) {
        int y = (int)((1 + lsd_hash_uniform("ckpt.ys", off + i)) / 2 * 6);
        B->ys[i] = (uint8_t)(y >= 5 ? 255 : y);
    }
    B->b.xs = B->xs, B->b.xt = B->xt, B->b.xs01 = B->xs01, B->b.xt01 = B->xt01;
    B->b.ys = B->ys;
}

/* Options of a run whose learning rates come from info. */
static LsdStepOptions opts_from(const CkptInfo *ci)
{
    LsdStepOptions o = lsd_step_defaults();
    o.lr_f_weight = ci->lr_f_weight;
    o.lr_f_bias = ci->lr_f_bias;
    o.lr_gd = ci->lr_gd;
    o.seed = ci->seed;
    o.dropout = LSD_DROPOUT_RNG;
    return o;
}

/* Runs iterations until m->step == upto (the batch from the step index). */
static int train_to(LsdModel *m, LsdWork *work, const CkptInfo *ci, long upto, lsd_err *err)
{
    static Batch B; /* test program only: too big for the stack of a forked child */
    LsdStepOptions o = opts_from(ci);
    LsdLosses L;
    int rc = LSD_OK;
    while (!rc && m->step < upto) {
        batch_fill(&B, m->step);
        rc = lsd_step(m, work, &B.b, &o, &L, err);
    }
    return rc;
}

/* Path of a fresh (emptied) scratch folder for this test. */
static void scratch(char *out, size_t cap, const char *name)
{
    char cmd[1200];
    snprintf(out, cap, "%s/ckpt_%s_%ld", test_tmp_dir(), name, (long)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    if (system(cmd) != 0) CHECK(0, "cannot empty %s", out);
    mkdir(out, 0777);
}

static void rm_rf(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) CHECK(0, "cannot remove %s", dir);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Copies src to dst byte for byte. */
static int copy_file(const char *src, const char *dst)
{
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    char buf[65536];
    size_t k;
    int ok = a && b;
    while (ok && (k = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, k, b) == k;
    if (a) fclose(a);
    if (b && fclose(b) != 0) ok = 0;
    return ok;
}

/* ------------------------------------------------------------------ FNV-1a */
static void test_fnv(void)
{
    /* reference vectors of the FNV specification (draft-eastlake-fnv, test suite) */
    CHECK(ckpt_fnv1a64(CKPT_FNV_OFFSET, "", 0) == 0xcbf29ce484222325ULL, "fnv1a64('')");
    CHECK(ckpt_fnv1a64(CKPT_FNV_OFFSET, "a", 1) == 0xaf63dc4c8601ec8cULL, "fnv1a64('a')");
    CHECK(ckpt_fnv1a64(CKPT_FNV_OFFSET, "foobar", 6) == 0x85944171f73967e8ULL,
          "fnv1a64('foobar')");
    CHECK(ckpt_fnv1a64(ckpt_fnv1a64(CKPT_FNV_OFFSET, "foo", 3), "bar", 3) ==
              0x85944171f73967e8ULL, "fnv1a64 continues across calls");
}

/* ------------------------------------------------------------------ round trip, pruning */

/* A model with the hash rule's parameters and Adam state made non-zero by one iteration. */
static int make_model(LsdModel *m, LsdWork *work, lsd_err *err)
{
    LsdConfig c = small_cfg();
    int rc = lsd_model_create(m, &c, err);
    if (rc) return rc;
    rc = lsd_work_create(work, &c, 1, H_IMG, W_IMG, LSD_WORK_TRAIN, err);
    if (rc) {
        lsd_model_free(m);
        return rc;
    }
    lsd_model_init_hash(m);
    return LSD_OK;
}

/* Python re-reads a checkpoint and recomputes both digests from docs/checkpoints.md. */
static void python_digests(const char *path)
{
    char cmd[3 * CKPT_PATH_MAX + 64];
    const char *py = test_python();
    FILE *f;
    char script[1200];
    snprintf(script, sizeof script, "%s/ckpt_digest_%ld.py", test_tmp_dir(), (long)getpid());
    f = fopen(script, "w");
    if (!f) {
        CHECK(0, "cannot write %s", script);
        return;
    }
    fputs("import json, struct, sys\n"
          "def fnv(h, b):\n"
          "    for x in b:\n"
          "        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff\n"
          "    return h\n"
          "raw = open(sys.argv[1], 'rb').read()\n"
          "n = struct.unpack('<Q', raw[:8])[0]\n"
          "hdr = json.loads(raw[8:8 + n])\n"
          "meta = hdr.pop('__metadata__')\n"
          "data = raw[8 + n:]\n"
          "ok = 1\n"
          "if '%016x' % fnv(0xcbf29ce484222325, data) != meta['digest']: ok = 0; print('data')\n"
          "if int(meta['data_bytes']) != len(data): ok = 0; print('bytes')\n"
          "h = 0xcbf29ce484222325\n"
          "for k, e in sorted(hdr.items(), key=lambda kv: kv[1]['data_offsets'][0]):\n"
          "    s = k.encode() + b'\\0' + e['dtype'].encode() + b'\\0'\n"
          "    s += ','.join(str(d) for d in e['shape']).encode()\n"
          "    s += b'\\0%d\\0%d\\n' % tuple(e['data_offsets'])\n"
          "    h = fnv(h, s)\n"
          "for k in sorted(meta):\n"
          "    if k != 'header_digest': h = fnv(h, k.encode() + b'\\0' + meta[k].encode() + b'\\n')\n"
          "if '%016x' % h != meta['header_digest']: ok = 0; print('header')\n"
          "if not ok: print('BAD')\n"
          "sys.exit(0 if ok else 1)\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", py, script, path);
    CHECK(system(cmd) == 0, "Python recomputes data and header digests of %s", path);
    remove(script);
}

/* lsd_model_init with a checkpoint as its VGG16 file (train --init): F's trunk and fc6/fc7
 * come from the file's F.* tensors; score layers, G and D are initialised afresh. */
static void init_from_checkpoint(const LsdModel *m, const char *path)
{
    LsdModel a, fresh;
    lsd_err err;
    int k, trunk_same = 1, score_zero = 1, n_trunk = 0;
    memset(&a, 0, sizeof a);
    memset(&fresh, 0, sizeof fresh);
    if (lsd_model_create(&a, &m->cfg, &err) || lsd_model_create(&fresh, &m->cfg, &err) ||
        lsd_model_init(&fresh, 77, NULL, &err)) {
        CHECK(0, "models: %s", err.msg);
        goto done;
    }
    if (!CHECK(!lsd_model_init(&a, 77, path, &err), "init from a checkpoint's F.*: %s", err.msg))
        goto done;
    for (k = 0; k < a.F.pa.n; k++) {
        const ParamSpec *sp = &a.F.pa.spec[k];
        const real *got = a.F.pa.param + sp->offset, *want = m->F.pa.param + sp->offset;
        size_t i;
        if (!strncmp(sp->name, "conv", 4) || !strncmp(sp->name, "fc", 2)) {
            n_trunk++;
            if (memcmp(got, want, sp->size * sizeof(real))) trunk_same = 0;
        } else if (!strncmp(sp->name, "score_", 6))
            for (i = 0; i < sp->size; i++)
                if (got[i] != 0) score_zero = 0;
    }
    CHECK(n_trunk == 2 * 15 && trunk_same, "the 30 trunk and fc6/fc7 tensors are the file's (%d)",
          n_trunk);
    CHECK(score_zero, "score layers start at zero");
    CHECK(!memcmp(a.G.pa.param, fresh.G.pa.param, a.G.pa.total * sizeof(real)) &&
              !memcmp(a.D.pa.param, fresh.D.pa.param, a.D.pa.total * sizeof(real)),
          "G and D are the seed's fresh initialisation, not the file's");
    { /* a file with none of the three spellings is refused, naming all three */
        char other[4200];
        st_writer sw;
        int64_t shape[1] = {1};
        real one = 1;
        snprintf(other, sizeof other, "%s.other.safetensors", path);
        st_writer_init(&sw);
        if (!st_writer_add_real(&sw, "unrelated", 1, shape, &one, &err) &&
            !st_writer_save(&sw, other, &err)) {
            int rc = lsd_model_init(&a, 77, other, &err);
            CHECK(rc == LSD_ERR_NOTFOUND && strstr(err.msg, "features.0.weight") &&
                      strstr(err.msg, "F.conv1_1.weight") && strstr(err.msg, other),
                  "a file without VGG16 tensors is refused: %s", err.msg);
        } else
            CHECK(0, "writing %s: %s", other, err.msg);
        st_writer_free(&sw);
        remove(other);
    }
done:
    lsd_model_free(&a);
    lsd_model_free(&fresh);
}

static void test_roundtrip(void)
{
    LsdModel m, m2;
    LsdWork work;
    CkptInfo ci, got;
    lsd_err err;
    char dir[1024], path[CKPT_PATH_MAX], latest[CKPT_PATH_MAX], refused[4096];
    int found = 0, i, removed = -1;
    long it;
    FILE *f;
    if (make_model(&m, &work, &err)) {
        CHECK(0, "model: %s", err.msg);
        return;
    }
    scratch(dir, sizeof dir, "rt");
    ckpt_info_init(&ci);
    CHECK(!ckpt_find_latest(dir, NULL, latest, sizeof latest, &found, NULL, 0, &err) &&
              !found, "an empty folder holds no checkpoint, and that is not an error");
    ci.seed = 4242;
    ci.lr_f_weight = 1.2345678901234567e-5;
    strcpy(ci.method, "lsd");
    strcpy(ci.config, "{\"size\": [32, 64], \"note\": \"quote \\\" and backslash\"}");
    for (it = 0; it < 4; it++) {
        int rc = train_to(&m, &work, &ci, it, &err);
        ci.iteration = it, ci.epoch = it / 3, ci.data_index = it % 3;
        if (!rc) rc = ckpt_save(&m, dir, &ci, 2, path, sizeof path, &err);
        CHECK(!rc, "save iteration %ld: %s", it, rc ? err.msg : "");
    }
    /* pruning: only the newest two remain */
    for (it = 0; it < 4; it++) {
        char p[2048];
        snprintf(p, sizeof p, "%s/ckpt-%08ld.safetensors", dir, it);
        CHECK((file_size(p) > 0) == (it >= 2), "ckpt %ld %s", it, it >= 2 ? "kept" : "pruned");
    }
    CHECK(ckpt_save(&m, dir, &ci, 0, NULL, 0, &err) == 0, "saving the same iteration again");
    ci.iteration = 99;
    CHECK(ckpt_save(&m, dir, &ci, 2, NULL, 0, &err) == LSD_ERR_ARG &&
              strstr(err.msg, "differs from the model's step") != NULL,
          "a mismatched iteration is refused: %s", err.msg);
    ci.iteration = 3;
    if (test_python() && test_have_python_module("json"))
        python_digests(path);
    else
        test_skip("python3 not found: digests not recomputed independently");
    /* stale temporary files */
    snprintf(latest, sizeof latest, "%s/ckpt-00000004.safetensors.tmp", dir);
    f = fopen(latest, "wb");
    if (f) {
        fputs("half-written", f);
        fclose(f);
    }
    snprintf(latest, sizeof latest, "%s/other.tmp", dir);
    f = fopen(latest, "wb");
    if (f) fclose(f);
    CHECK(!ckpt_clean_stale(dir, &removed, &err) && removed == 1, "stale ckpt tmp removed (%d)",
          removed);
    CHECK(file_size(latest) == 0, "files that are not ours are left alone");
    remove(latest);
    /* find and load */
    CHECK(!ckpt_find_latest(dir, NULL, latest, sizeof latest, &found, refused, sizeof refused,
                            &err) && found && !strcmp(latest, path) && refused[0] == 0,
          "latest is %s (%s)", path, latest);
    if (!ckpt_load(&m2, path, &got, &err)) {
        int same = 1;
        CHECK(got.iteration == 3 && m2.step == 3, "iteration %ld, step %ld", got.iteration,
              m2.step);
        CHECK(got.seed == 4242 && got.lr_f_weight == ci.lr_f_weight &&
                  got.lr_f_bias == ci.lr_f_bias && got.lr_gd == ci.lr_gd,
              "seed and learning rates round-trip exactly");
        CHECK(!strcmp(got.method, "lsd") && !strcmp(got.config, ci.config) && got.epoch == 1 &&
                  got.data_index == 0, "method, config, data position round-trip (%s)",
              got.config);
        same = !memcmp(m.F.pa.param, m2.F.pa.param, m.F.pa.total * sizeof(real)) &&
               !memcmp(m.G.pa.v, m2.G.pa.v, m.G.pa.total * sizeof(real)) &&
               !memcmp(m.D.pa.m, m2.D.pa.m, m.D.pa.total * sizeof(real));
        CHECK(same, "parameters and Adam state identical after load");
        lsd_model_free(&m2);
    } else
        CHECK(0, "load: %s", err.msg);
    {
        LsdConfig other = small_cfg();
        other.n_class = 7;
        CHECK(ckpt_validate(path, &other, &err) == LSD_ERR_ARG &&
                  strstr(err.msg, "n_class is 5 in the checkpoint, 7 in this run"),
              "a different configuration is refused: %s", err.msg);
    }
    init_from_checkpoint(&m, path);
    (void)i;
    lsd_work_free(&work);
    lsd_model_free(&m);
    rm_rf(dir);
}

/* ------------------------------------------------------------------ damaged files */

/* Writes ckpt 1 and 2 into dir; damage() spoils 2; resume must fall back to 1. */
static void damage_case(const char *what, const char *expect_msg, int kind)
{
    LsdModel m, m2;
    LsdWork work;
    CkptInfo ci, got;
    lsd_err err;
    char dir[1024], p1[CKPT_PATH_MAX], p2[CKPT_PATH_MAX], latest[CKPT_PATH_MAX];
    char refused[4096];
    int found = 0, resumed = 0, rc;
    long size;
    FILE *f;
    if (make_model(&m, &work, &err)) {
        CHECK(0, "model: %s", err.msg);
        return;
    }
    scratch(dir, sizeof dir, "dmg");
    ckpt_info_init(&ci);
    m.step = 1; /* no training needed here: the files only have to differ */
    ci.iteration = 1;
    rc = ckpt_save(&m, dir, &ci, 5, p1, sizeof p1, &err);
    m.step = 2;
    m.G.pa.param[0] += 1;
    ci.iteration = 2;
    if (!rc) rc = ckpt_save(&m, dir, &ci, 5, p2, sizeof p2, &err);
    if (rc) {
        CHECK(0, "%s: setup: %s", what, err.msg);
        goto done;
    }
    size = file_size(p2);
    if (kind == 0) { /* torn: cut in the middle of the data */
        CHECK(truncate(p2, size / 2) == 0, "truncate");
    } else if (kind == 1) { /* zero-filled, same length (a file system that lost the data) */
        char *z = (char *)calloc((size_t)size, 1);
        f = fopen(p2, "wb");
        if (f && z) fwrite(z, 1, (size_t)size, f);
        if (f) fclose(f);
        free(z);
    } else if (kind == 2 || kind == 3) { /* one bit flipped in the data / in a metadata value */
        unsigned char b;
        long at = kind == 2 ? size - 100 : -1;
        if (kind == 3) { /* find the learning rate value in the header */
            char *buf = (char *)malloc((size_t)size + 1), *hit;
            f = fopen(p2, "rb");
            if (f && buf && fread(buf, 1, (size_t)size, f) == (size_t)size) {
                buf[size] = 0;
                hit = NULL;
                {
                    long i;
                    for (i = 8; i + 12 < size && !hit; i++)
                        if (!memcmp(buf + i, "\"lr_gd\":\"", 9)) hit = buf + i + 9;
                }
                if (hit) at = (long)(hit - buf);
            }
            if (f) fclose(f);
            free(buf);
        }
        CHECK(at > 8, "%s: position found", what);
        f = fopen(p2, "r+b");
        if (f && at > 8 && fseek(f, at, SEEK_SET) == 0 && fread(&b, 1, 1, f) == 1) {
            b ^= kind == 2 ? 0x10 : 0x02; /* '1' (0x31) -> '3' (0x33): still a number */
            fseek(f, at, SEEK_SET);
            fwrite(&b, 1, 1, f);
        }
        if (f) fclose(f);
    } else if (kind == 4) { /* an older checkpoint renamed over a newer name */
        remove(p2);
        CHECK(copy_file(p1, p2), "copy");
    }
    rc = kind == 4 ? 1 : ckpt_validate(p2, NULL, &err);
    if (kind != 4)
        CHECK(rc != 0 && strstr(err.msg, expect_msg) && strstr(err.msg, "ckpt-00000002"),
          "%s refused with a clear message: '%s'", what, rc ? err.msg : "(accepted)");
    rc = ckpt_find_latest(dir, NULL, latest, sizeof latest, &found, refused, sizeof refused,
                          &err);
    CHECK(!rc && found && !strcmp(latest, p1) && strstr(refused, "ckpt-00000002") &&
              strstr(refused, expect_msg),
          "%s: resume falls back to the previous checkpoint (%s; refused: %s)", what, latest,
          refused);
    rc = ckpt_resume(&m2, dir, NULL, &got, &resumed, NULL, 0, &err);
    CHECK(!rc && resumed && m2.step == 1 && got.iteration == 1, "%s: resumed at 1", what);
    if (!rc && resumed) lsd_model_free(&m2);
    /* with the previous one damaged too, resume fails loudly instead of starting at 0 */
    CHECK(truncate(p1, 20) == 0, "truncate p1");
    rc = ckpt_resume(&m2, dir, NULL, &got, &resumed, NULL, 0, &err);
    CHECK(rc == LSD_ERR_FORMAT && !resumed && strstr(err.msg, "none valid") &&
              strstr(err.msg, "iteration 0"),
          "%s: no valid checkpoint is an error: %s", what, err.msg);
    if (!rc && resumed) lsd_model_free(&m2);
done:
    lsd_work_free(&work);
    lsd_model_free(&m);
    rm_rf(dir);
}

static void test_damage(void)
{
    damage_case("torn file", "", 0);
    damage_case("zero-filled file", "", 1);
    damage_case("bit flip in the data", "data digest mismatch", 2);
    damage_case("bit flip in a metadata value", "header digest mismatch", 3);
    damage_case("content of another iteration", "file name says iteration 2", 4);
}

/* ------------------------------------------------------------------ exact resume */
static void test_exact_resume(void)
{
    const long N = getenv("LSD_SLOW") ? 8 : 4;
    LsdModel a, b, c;
    LsdWork work;
    CkptInfo ci, got;
    lsd_err err;
    char dir[1024], path[CKPT_PATH_MAX];
    int rc, resumed = 0;
    if (make_model(&a, &work, &err)) {
        CHECK(0, "model: %s", err.msg);
        return;
    }
    if ((rc = lsd_model_create(&b, &a.cfg, &err)) != 0) {
        CHECK(0, "model: %s", err.msg);
        lsd_work_free(&work);
        lsd_model_free(&a);
        return;
    }
    lsd_model_init_hash(&b);
    scratch(dir, sizeof dir, "exact");
    ckpt_info_init(&ci);
    ci.seed = 77;
    ci.lr_gd = 3e-4; /* something the continuation can only get from the file */
    rc = train_to(&a, &work, &ci, N, &err);
    CHECK(!rc, "one run of %ld iterations: %s", N, rc ? err.msg : "");
    rc = train_to(&b, &work, &ci, N / 2, &err);
    ci.iteration = N / 2;
    if (!rc) rc = ckpt_save(&b, dir, &ci, 2, path, sizeof path, &err);
    lsd_model_free(&b);
    memset(&got, 0, sizeof got);
    if (!rc) rc = ckpt_resume(&c, dir, &a.cfg, &got, &resumed, NULL, 0, &err);
    CHECK(!rc && resumed && c.step == N / 2, "resumed at %ld: %s", N / 2, rc ? err.msg : "");
    if (!rc && resumed) {
        rc = train_to(&c, &work, &got, N, &err);
        CHECK(!rc && c.step == N, "continued to %ld", N);
        CHECK(!memcmp(a.F.pa.param, c.F.pa.param, a.F.pa.total * sizeof(real)) &&
                  !memcmp(a.G.pa.param, c.G.pa.param, a.G.pa.total * sizeof(real)) &&
                  !memcmp(a.D.pa.param, c.D.pa.param, a.D.pa.total * sizeof(real)),
              "parameters bit-identical: %ld iterations = %ld + save + load + %ld", N, N / 2,
              N - N / 2);
        CHECK(!memcmp(a.F.pa.m, c.F.pa.m, a.F.pa.total * sizeof(real)) &&
                  !memcmp(a.F.pa.v, c.F.pa.v, a.F.pa.total * sizeof(real)) &&
                  !memcmp(a.G.pa.m, c.G.pa.m, a.G.pa.total * sizeof(real)) &&
                  !memcmp(a.G.pa.v, c.G.pa.v, a.G.pa.total * sizeof(real)) &&
                  !memcmp(a.D.pa.m, c.D.pa.m, a.D.pa.total * sizeof(real)) &&
                  !memcmp(a.D.pa.v, c.D.pa.v, a.D.pa.total * sizeof(real)),
              "Adam state bit-identical");
        lsd_model_free(&c);
    }
    lsd_work_free(&work);
    lsd_model_free(&a);
    rm_rf(dir);
}

/* ------------------------------------------------------------------ SIGKILL */

/* The child: resume (or start), then train and save after every iteration, forever, writing
 * one byte to fd after each completed save (so the parent counts saves instead of guessing
 * from the clock: a loaded machine only slows the rounds down). */
static void child_train(const char *dir, int fd)
{
    LsdModel m;
    LsdWork work;
    CkptInfo ci;
    lsd_err err;
    LsdConfig c = small_cfg();
    int resumed = 0;
    long i;
    pid_t parent = getppid();
    test_set_threads(1); /* the parent may be busy; keep the child's steps short */
    if (ckpt_resume(&m, dir, &c, &ci, &resumed, NULL, 0, &err)) _exit(3);
    if (!resumed) {
        ckpt_info_init(&ci);
        if (lsd_model_create(&m, &c, &err) || lsd_model_init(&m, 5, NULL, &err)) _exit(4);
    }
    if (lsd_work_create(&work, &c, 1, H_IMG, W_IMG, LSD_WORK_TRAIN, &err)) _exit(5);
    for (i = 0; i < 100000 && getppid() == parent; i++) { /* ends if the test dies */
        if (train_to(&m, &work, &ci, m.step + 1, &err)) _exit(6);
        ci.iteration = m.step;
        if (ckpt_save(&m, dir, &ci, 2, NULL, 0, &err)) _exit(7);
        if (write(fd, "s", 1) != 1) _exit(8);
    }
    _exit(0);
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

/* Waits (up to 10 minutes) for one byte from fd: 1, or 0 if the child ended or time ran out. */
static int wait_save(int fd)
{
    struct pollfd p;
    char c;
    p.fd = fd, p.events = POLLIN, p.revents = 0;
    if (poll(&p, 1, 600000) != 1) return 0;
    return read(fd, &c, 1) == 1;
}

/* Each round forks a child that resumes training in the same folder, waits until the child
 * has reported k completed saves (k random in 0..2), sleeps a random delay (up to the child's
 * start-up time plus one period when k = 0, else up to one period, both measured in earlier
 * rounds through the pipe) and kills it with SIGKILL: kills land during start-up, training
 * and saving. Resume must then find a valid checkpoint at least k iterations after the
 * previous round's, or none only while no save has ever been reported. */
static void test_sigkill(void)
{
    int rounds = getenv("LSD_SLOW") ? 200 : 12, r, status, had_before = 0;
    long last = 0, dmin = 1000000000L, dmax = 0, nvalid = 0, nnone = 0, nsaves = 0;
    double startup = 0, period = 0;
    char dir[1024];
    scratch(dir, sizeof dir, "kill");
    for (r = 0; r < rounds; r++) {
        long delay_us, k;
        struct timespec ts;
        LsdModel m;
        CkptInfo ci;
        lsd_err err;
        char refused[4096];
        int resumed = 0, rc, fds[2], got = 0;
        pid_t pid;
        double t0, t1 = 0;
        k = r == 0 ? 0 : r == 1 ? 2 : (long)rng_below(2024, 78, (uint64_t)r, 3);
        delay_us = (long)((k == 0 ? startup + period : period) *
                          rng_uniform(2024, 77, (uint64_t)r));
        if (r == 0) delay_us = 1000; /* most likely before the first save: no checkpoint yet */
        if (pipe(fds) != 0) {
            CHECK(0, "pipe: %s", strerror(errno));
            break;
        }
        fflush(stdout);
        fflush(stderr);
        t0 = now_us();
        pid = fork();
        if (pid < 0) {
            CHECK(0, "fork: %s", strerror(errno));
            close(fds[0]), close(fds[1]);
            break;
        }
        if (pid == 0) {
            close(fds[0]);
            child_train(dir, fds[1]);
        }
        close(fds[1]);
        while (got < k && wait_save(fds[0])) {
            double t = now_us();
            if (got == 0 && r == 1) startup = t - t0; /* first save: start-up + one period */
            if (got == 1 && r == 1) period = t - t1, startup -= period;
            t1 = t;
            got++;
        }
        if (delay_us > 0) {
            ts.tv_sec = delay_us / 1000000;
            ts.tv_nsec = (delay_us % 1000000) * 1000;
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        close(fds[0]);
        if (!CHECK(got == k, "round %d: the child reported %d of %ld saves (status %d)", r, got,
                   k, status))
            break;
        if (WIFEXITED(status)) {
            CHECK(0, "round %d: the child exited with %d before the kill", r,
                  WEXITSTATUS(status));
            continue;
        }
        nsaves += k;
        if (delay_us < dmin) dmin = delay_us;
        if (delay_us > dmax) dmax = delay_us;
        rc = ckpt_resume(&m, dir, NULL, &ci, &resumed, refused, sizeof refused, &err);
        if (rc) {
            CHECK(0, "round %d (killed %ld us after save %ld): resume failed: %s", r, delay_us,
                  k, err.msg);
            continue;
        }
        if (!resumed) {
            /* only while no save was ever reported complete */
            nnone++;
            if (had_before || k > 0) CHECK(0, "round %d: no checkpoint after a save", r);
            continue;
        }
        had_before = 1;
        nvalid++;
        if (!(m.step == ci.iteration && m.step >= last + k && m.step >= 1))
            CHECK(0, "round %d: resumed at %ld, expected >= %ld + %ld saves (refused: %s)", r,
                  m.step, last, k, refused);
        last = m.step;
        lsd_model_free(&m);
    }
    CHECK(nvalid + nnone == rounds, "%d kills (%ld..%ld us after the reported saves): %ld "
          "resumed from a valid checkpoint, %ld before the first, last at iteration %ld",
          rounds, dmin, dmax, nvalid, nnone, last);
    CHECK(last >= nsaves && last >= 2, "training made progress across kills (iteration %ld, "
          "%ld saves reported)", last, nsaves);
    printf("sigkill: %d kills (%ld..%ld us after the reported saves; start-up %.0f us, "
           "iteration + save %.0f us), %ld resumes, reached iteration %ld\n", rounds, dmin, dmax,
           startup, period, nvalid, last);
    rm_rf(dir);
}

int main(void)
{
    test_begin("checkpoint");
    test_fnv();
    test_sigkill(); /* first: fork before this process ever starts OpenMP threads */
    test_roundtrip();
    test_damage();
    test_exact_resume();
    return test_summary();
}
