/*
 * test_mpi.c - `lsdseg train --batch 6` over MPI (a build with make MPI=1; ref/dist.c) equals
 * one process bit for bit: `make MPI=1 TESTS=mpi test`. On miniature GTA5 and Cityscapes
 * folders (as test_cli.c; 32x64 crops, --width-mult 0.0625, dropout on, 3 iterations, 1
 * thread per process):
 *  1. mpirun -np 2 and -np 3 give the parameters and both Adam moments of one process's
 *     checkpoint (every network), its log.csv losses and its val.csv scores;
 *  2. --resume auto with another -np (3, then 2) continues to the same bits;
 *  3. a rank killed mid-run (LSD_TEST_KILL=RANK:ITER, ref/cmd_train.c) ends the whole job with
 *     a non-zero status within the time limit (no rank waits forever), the newest checkpoint
 *     validates, and resuming from it reaches the same bits again;
 *  4. lsdseg eval over 2 processes prints one process's scores.
 * Skips visibly in builds without MPI, without mpirun, or without LSD_LSDSEG (make test sets it).
 * mpirun is $LSD_MPIRUN or `mpirun` (Open MPI: with --allow-run-as-root --oversubscribe).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../data/png.h"
#include "../gan/checkpoint.h"
#include "../gan/lsd.h"
#include "harness.h"
#include "mini_data.h"

static const char *exe;
static char root[256], mpirun[512];


/* 1 if path exists. */
static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Runs `lsdseg train` on np processes (np 0: without mpirun) into root/out; env is a prefix
 * of environment assignments (may be ""). Returns the exit status, output in text. */
static int train(char *text, size_t cap, int np, const char *env, const char *out, long iters,
                 const char *extra)
{
    char launch[700] = "";
    if (np > 0) snprintf(launch, sizeof launch, "%s -np %d", mpirun, np);
    return test_run(text, cap,
                    "%s timeout 300 %s %s train --source-type gta5 --source '%s/gta' "
                    "--target-type cityscapes --target '%s/cs' --val-type cityscapes --val "
                    "'%s/cs' --out '%s/%s' --iters %ld --size 32x64 --width-mult 0.0625 "
                    "--batch 6 --save-every 1 --keep 5 --val-every 3 --samples 1 --prefetch 2 "
                    "--threads 1 --quiet %s",
                    env, launch, exe, root, root, root, root, out, iters, extra);
}

/* 1 if two checkpoints hold the same step and bit-identical parameters and Adam moments. */
static int same_model(const char *a, const char *b)
{
    LsdModel ma, mb;
    const ParamArena *x[3], *y[3];
    lsd_err err;
    int ok, k;
    if (lsd_model_load(&ma, a, &err)) return 0;
    if (lsd_model_load(&mb, b, &err)) {
        lsd_model_free(&ma);
        return 0;
    }
    x[0] = &ma.F.pa, x[1] = &ma.G.pa, x[2] = &ma.D.pa;
    y[0] = &mb.F.pa, y[1] = &mb.G.pa, y[2] = &mb.D.pa;
    ok = ma.step == mb.step;
    for (k = 0; k < 3 && ok; k++) {
        size_t n = x[k]->total * sizeof(real);
        ok = x[k]->total == y[k]->total && !memcmp(x[k]->param, y[k]->param, n) &&
             !memcmp(x[k]->m, y[k]->m, n) && !memcmp(x[k]->v, y[k]->v, n);
    }
    lsd_model_free(&ma);
    lsd_model_free(&mb);
    return ok;
}

/* run out's checkpoint of iteration 3, log.csv and (with val) val.csv equal those of the
 * one-process run (a run cut short validates at its end as well). */
static void same_run(const char *out, const char *what, int val)
{
    char p[900], q[900], a[4096], b[4096];
    snprintf(p, sizeof p, "%s/one/ckpt-00000003.safetensors", root);
    snprintf(q, sizeof q, "%s/%s/ckpt-00000003.safetensors", root, out);
    CHECK(same_model(p, q), "%s: parameters and Adam moments after 3 iterations equal one "
          "process's bit for bit", what);
    snprintf(p, sizeof p, "%s/one/log.csv", root);
    snprintf(q, sizeof q, "%s/%s/log.csv", root, out);
    csv_without_last(p, a, sizeof a);
    csv_without_last(q, b, sizeof b);
    CHECK(a[0] && !strcmp(a, b), "%s: log.csv losses equal one process's:\n%s---\n%s", what, a,
          b);
    if (!val) return;
    snprintf(p, sizeof p, "%s/one/val.csv", root);
    snprintf(q, sizeof q, "%s/%s/val.csv", root, out);
    csv_without_last(p, a, sizeof a);
    csv_without_last(q, b, sizeof b);
    CHECK(a[0] && !strcmp(a, b), "%s: val.csv equals one process's:\n%s---\n%s", what, a, b);
}

/* mpirun -np 2 and 3 against one process; resume with another -np; refusals. */
static void test_train(void)
{
    static char t[16384];
    char p[900];
    int rc, np;
    rc = train(t, sizeof t, 0, "", "one", 3, "");
    CHECK(rc == 0 && strstr(t, "batch 6"), "one process, batch 6: %d %s", rc, t);
    for (np = 2; np <= 3; np++) {
        char out[16], what[64];
        snprintf(out, sizeof out, "np%d", np);
        snprintf(what, sizeof what, "mpirun -np %d", np);
        rc = train(t, sizeof t, np, "", out, 3, "");
        CHECK(rc == 0 && strstr(t, "processes of"), "%s: %d %s", what, rc, t);
        same_run(out, what, 1);
        snprintf(p, sizeof p, "%s/%s/samples/iter00000003_0.png", root, out);
        CHECK(exists(p), "%s: rank 0 writes the sample panel %s", what, p);
    }
    /* another number of processes on resume */
    rc = train(t, sizeof t, 3, "", "resume", 2, "");
    CHECK(rc == 0, "-np 3, 2 iterations: %d %s", rc, t);
    rc = train(t, sizeof t, 2, "", "resume", 3, "--resume auto");
    CHECK(rc == 0 && strstr(t, "resuming at iteration 2"), "-np 2 --resume auto: %d %s", rc, t);
    same_run("resume", "2 iterations on 3 processes + 1 on 2", 0);
    rc = train(t, sizeof t, 2, "", "resume", 4, "--resume auto --batch 4");
    CHECK(rc == 2 && strstr(t, "--batch 6"), "a resume with another --batch is refused: %d %s",
          rc, t);
    rc = train(t, sizeof t, 4, "", "np4", 1, "");
    CHECK(rc == 2 && strstr(t, "multiple"), "-np 4 with --batch 6 refused: %d %s", rc, t);
}

/* A rank dies: the job ends, the checkpoints stay valid, a resume reaches the same bits. */
static void test_kill(void)
{
    static char t[16384];
    char dir[700], path[900];
    long iter = 0;
    int found = 0, rc;
    lsd_err err;
    rc = train(t, sizeof t, 2, "LSD_TEST_KILL=1:2", "kill", 3, "");
    CHECK(rc != 0 && rc != 124 && rc != -1, "rank 1 killed after iteration 2: the job ends with "
          "status %d (124: timed out, a rank hung) %s", rc, t);
    snprintf(dir, sizeof dir, "%s/kill", root);
    rc = ckpt_find_latest(dir, NULL, path, sizeof path, &found, NULL, 0, &err);
    if (found) iter = atol(strrchr(path, '-') + 1);
    CHECK(rc == 0 && found && iter >= 1 && iter <= 2 && ckpt_validate(path, NULL, &err) == 0,
          "the newest checkpoint (%s) validates", found ? path : "none");
    rc = train(t, sizeof t, 2, "", "kill", 3, "--resume auto");
    CHECK(rc == 0, "resume after the crash: %d %s", rc, t);
    same_run("kill", "killed and resumed", 0);
}

/* eval over 2 processes: the same scores as one. */
static void test_eval(void)
{
    static char a[8192], b[8192];
    char *p, *q;
    int ra, rb;
    ra = test_run(a, sizeof a, "timeout 300 %s eval --ckpt '%s/one/ckpt-00000003.safetensors' "
                  "--data '%s/cs' --size 32x64 --quiet --threads 1", exe, root, root);
    rb = test_run(b, sizeof b, "timeout 300 %s -np 2 %s eval --ckpt "
                  "'%s/one/ckpt-00000003.safetensors' --data '%s/cs' --size 32x64 --quiet "
                  "--threads 1", mpirun, exe, root, root);
    p = strstr(a, "mIoU");
    q = strstr(b, "mIoU");
    CHECK(ra == 0 && rb == 0 && p && q && !strncmp(p, q, 40),
          "eval on 2 processes prints the scores of one: %d %d\n%s---\n%s", ra, rb, a, b);
}

int main(void)
{
    char out[512];
    const char *mr = getenv("LSD_MPIRUN");
    test_begin("mpi");
#ifndef LSD_MPI
    test_skip("built without MPI=1: training over MPI is not compiled (make MPI=1 TESTS=mpi "
              "test)");
    return test_summary();
#endif
    exe = getenv("LSD_LSDSEG");
    if (!exe || !*exe) {
        test_skip("LSD_LSDSEG not set: the lsdseg commands are not checked");
        return test_summary();
    }
    if (test_run(out, sizeof out, "%s --version", mr && *mr ? mr : "mpirun") != 0) {
        test_skip("no mpirun (Debian: openmpi-bin), or $LSD_MPIRUN does not run");
        return test_summary();
    }
    snprintf(mpirun, sizeof mpirun, "%s%s", mr && *mr ? mr : "mpirun",
             strstr(out, "Open MPI") ? " --allow-run-as-root --oversubscribe" : "");
    snprintf(root, sizeof root, "%s/mpi", test_tmp_dir());
    /* GTA5 (4 frames) and Cityscapes (6: 3 train, 3 val) */
    if (make_mini_root(root, 4, 6) != 0) {
        CHECK(0, "cannot write the miniature datasets under %s", root);
        return test_summary();
    }
    test_train();
    test_kill();
    test_eval();
    return test_summary();
}
