/* test_diff.c - `lsdseg diff` against numpy. A Python script (numpy, safetensors) writes two
 * files with known differences (3 float32 ulps at a known index, 5 float64 ulps, NaN against
 * NaN and against a number, infinities, a float32 port against a float64 reference, F16,
 * integers, a shape mismatch, tensors in one file only, BOOL) and computes with numpy what
 * the report must say: per tensor pass/fail (checked against numpy.allclose), max abs, max
 * rel, max ulps (bit patterns viewed as integers, np.spacing), the worst element's index and
 * values, the first failure in A's file order and the counts. The report of each run is
 * parsed and compared number by number, for the defaults and for other options. Without
 * Python: files from the C writer, a 3-ulp difference made with nextafterf, exit statuses 0, 1
 * and 2, malformed and missing files, usage errors. Needs LSD_LSDSEG (set by make test). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/safetensors.h"
#include "harness.h"

static const char *exe;

/* Writes the two files (A: the "port", B: the reference) into DIR and numpy's expected
 * report for RTOL ATOL PREFIX into OUT: one "t" line per tensor in report order (A's file
 * order, then B's tensors missing from A), then "first NAME" (if any) and "summary N M". */
static const char py_ref[] =
    "import json, struct, sys\n"
    "import numpy as np\n"
    "from safetensors.numpy import save_file\n"
    "d, rtol, atol, prefix, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), "
    "sys.argv[4], sys.argv[5]\n"
    "if prefix == '-': prefix = ''\n"
    "rng = np.random.default_rng(7)\n"
    "A, B = {}, {}\n"
    "def bump(x, idx, k):\n"
    "    it = {2: np.int16, 4: np.int32, 8: np.int64}[x.dtype.itemsize]\n"
    "    x.view(it)[idx] += k\n"
    "b = rng.uniform(0.5, 1.0, (3, 4)).astype(np.float32)\n"
    "A['a.same'], B['a.same'] = b.copy(), b\n"
    "b = rng.uniform(-1, 1, (2, 3, 4, 5)).astype(np.float32)\n"
    "b[1, 2, 3, 4], b[0, 0, 0, 0] = 1.75, 0.25\n"
    "a = b.copy(); bump(a, (1, 2, 3, 4), 3); bump(a, (0, 0, 0, 0), 1)\n"
    "A['b.ulp3'], B['b.ulp3'] = a, b\n"
    "b = np.arange(1, 8) / 7.0\n"
    "a = b.copy(); bump(a, 5, 5)\n"
    "A['c.f64'], B['c.f64'] = a, b\n"
    "b = rng.uniform(0.5, 1.0, (3, 4)).astype(np.float32); b[0, 0] = np.nan\n"
    "a = b.copy(); a[2, 1] += np.float32(1e-3); a[1, 3] += np.float32(1e-4)\n"
    "A['d.fail'], B['d.fail'] = a, b\n"
    "b = np.array([1, 2, 3, 1, 5], np.float32); a = b.copy(); a[3] = np.nan\n"
    "A['e.nan'], B['e.nan'] = a, b\n"
    "b = np.array([np.inf, -np.inf, 1, 2]); a = b.copy(); a[2] += 1e-12\n"
    "A['f.inf'], B['f.inf'] = a, b\n"
    "b = np.array([1, 2, 3], np.float32); a = b.copy(); a[1] = np.inf\n"
    "A['g.infbad'], B['g.infbad'] = a, b\n"
    "b = rng.uniform(1.1, 1.9, (4, 8))\n"
    "A['h.mixed'], B['h.mixed'] = b.astype(np.float32), b\n"
    "b = np.linspace(0.5, 1.5, 6).astype(np.float16); a = b.copy(); bump(a, 4, 2)\n"
    "A['i.f16'], B['i.f16'] = a, b\n"
    "b = np.array([100, -5, 7, 0, 2**40, 3], np.int64); a = b.copy(); a[4] += 7; a[2] = 8\n"
    "A['j.ints'], B['j.ints'] = a, b\n"
    "b = np.array([0, 7, 255, 33], np.int64)\n"
    "A['k.labels'], B['k.labels'] = b.astype(np.uint8), b\n"
    "A['l.shape'], B['l.shape'] = np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32)\n"
    "A['m.onlyA'] = np.ones(3, np.float32)\n"
    "b = np.array(2.5, np.float32)\n"
    "A['n.scalar'], B['n.scalar'] = b.copy(), np.array(np.nextafter(b, np.float32(3)))\n"
    "b = np.array([True, False, True, True])\n"
    "A['o.bool'], B['o.bool'] = b.copy(), b\n"
    "B['p.onlyB'] = np.ones(2, np.float64)\n"
    "A['q.intfloat'], B['q.intfloat'] = np.array([1, 2, 3], np.int32), "
    "np.array([1, 2, 3.5], np.float32)\n"
    "save_file(A, d + '/diff_a.safetensors'); save_file(B, d + '/diff_b.safetensors')\n";
/* (the second half: numpy's expectations; C99 caps a string literal at 4095 bytes) */
static const char py_ref2[] =
    "def order(path):\n"
    "    with open(path, 'rb') as f:\n"
    "        n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n))\n"
    "    h.pop('__metadata__', None)\n"
    "    return sorted(h, key=lambda k: h[k]['data_offsets'][0])\n"
    "names = order(d + '/diff_a.safetensors')\n"
    "names += [k for k in order(d + '/diff_b.safetensors') if k not in A]\n"
    "names = [k for k in names if k.startswith(prefix)]\n"
    "def num(x): return repr(float(x))\n"
    "def ulps(a, b):\n"
    "    # same dtype: bit patterns as sign-magnitude integers; else the coarser (float32)\n"
    "    # grid's spacing, every such pair here lying in one binade\n"
    "    if a.dtype == b.dtype and a.dtype.kind == 'f':\n"
    "        it = {2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize]\n"
    "        bits = 8 * a.dtype.itemsize - 1\n"
    "        def sm(x):\n"
    "            v = x.view(it).astype(object)\n"
    "            return np.array([-(int(u) & ((1 << bits) - 1)) if u < 0 else int(u) for u in "
    "v.ravel()], dtype=object).reshape(x.shape)\n"
    "        return np.abs(sm(a) - sm(b)).astype(np.float64)\n"
    "    if a.dtype.kind in 'iu' and b.dtype.kind in 'iu':\n"
    "        return np.abs(a.astype(np.float64) - b.astype(np.float64))\n"
    "    a64, b64 = a.astype(np.float64), b.astype(np.float64)\n"
    "    ok = np.isfinite(a64) & np.isfinite(b64) & (b64 != 0)\n"
    "    assert (np.frexp(a64[ok])[1] == np.frexp(b64[ok])[1]).all()\n"
    "    sp = np.spacing(np.abs(b64).astype(np.float32)).astype(np.float64)\n"
    "    return np.abs(a64 - b64) / sp\n"
    "lines, first, failed = [], None, 0\n"
    "for k in names:\n"
    "    if k not in B or k not in A or A[k].shape != B[k].shape or A[k].dtype == bool:\n"
    "        kind = 'only_a' if k not in B else 'only_b' if k not in A else \\\n"
    "            'shape' if A[k].shape != B[k].shape else 'raw'\n"
    "        fail = kind != 'raw' or not np.array_equal(A[k], B[k])\n"
    "        lines.append('t %s %s %s' % (k, 'FAIL' if fail else 'PASS', kind))\n"
    "    else:\n"
    "        a, b = A[k], B[k]\n"
    "        a64, b64 = a.astype(np.float64), b.astype(np.float64)\n"
    "        eq = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))\n"
    "        fin = np.isfinite(a64) & np.isfinite(b64)\n"
    "        with np.errstate(all='ignore'):\n"
    "            dd = np.where(fin, np.abs(a64 - b64), np.inf)\n"
    "            rel = np.where(fin, np.where(b64 != 0, dd / np.abs(b64), np.inf), np.inf)\n"
    "            ul = np.where(fin, ulps(a, b), np.inf)\n"
    "        dd, rel, ul = [np.where(eq, 0.0, x) for x in (dd, rel, ul)]\n"
    "        tol = atol + rtol * np.abs(b64)\n"
    "        bad = ~eq & ~(dd <= tol)\n"
    "        fail = bool(bad.any())\n"
    "        assert fail == (not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)), k\n"
    "        if fail:\n"
    "            with np.errstate(all='ignore'):\n"
    "                w = int(np.argmax(np.where(bad, np.where(np.isinf(dd), np.inf, dd - tol), "
    "-np.inf)))\n"
    "        elif (~eq).any(): w = int(np.argmax(np.where(eq, -1.0, dd)))\n"
    "        else: w = -1\n"
    "        def val(x, i):\n"
    "            v = x.ravel()[i]\n"
    "            return str(int(v)) if x.dtype.kind in 'iu' else 'nan' if np.isnan(v) else num(v)\n"
    "        if w < 0: widx, va, vb = '-', '-', '-'\n"
    "        else:\n"
    "            widx = '[' + ','.join(str(int(i)) for i in np.unravel_index(w, a.shape)) + ']'\n"
    "            va, vb = val(a, w), val(b, w)\n"
    "        lines.append('t %s %s %s %s %s %s %s %s %s %d %d %s %s' % (k, 'FAIL' if fail else "
    "'PASS', 'num' if w >= 0 else 'equal', num(dd.max() if dd.size else 0), "
    "num(rel.max() if rel.size else 0), num(ul.max() if ul.size else 0), widx, va, vb, "
    "int(bad.sum()), a.size, a.dtype.str[1:], b.dtype.str[1:]))\n"
    "    if fail:\n"
    "        failed += 1\n"
    "        if first is None: first = k\n"
    "if first: lines.append('first ' + first)\n"
    "lines.append('summary %d %d' % (len(names), failed))\n"
    "open(out, 'w').write('\\n'.join(lines) + '\\n')\n";

/* Runs "exe diff ARGS"; returns the exit status, the output in text. */
static int run_diff(char *text, size_t cap, const char *args)
{
    return test_run(text, cap, "%s diff %s", exe, args);
}

/* The report line of tensor name (status, spaces, name, space), or NULL. */
static const char *find_line(const char *text, const char *name, char *line, size_t cap)
{
    const char *p = text;
    size_t nl = strlen(name);
    while (p && *p) {
        const char *e = strchr(p, '\n'), *q = p + 4;
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if ((!strncmp(p, "PASS", 4) || !strncmp(p, "FAIL", 4)) && len > 6) {
            while (*q == ' ') q++;
            if (!strncmp(q, name, nl) && q[nl] == ' ') {
                if (len >= cap) len = cap - 1;
                memcpy(line, p, len);
                line[len] = '\0';
                return line;
            }
        }
        p = e ? e + 1 : NULL;
    }
    return NULL;
}

/* The number after key in line (NAN if absent; "inf" and "nan" parse). */
static double after(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p ? strtod(p + strlen(key), NULL) : NAN;
}

/* 1 if got agrees with numpy's ref: exactly when ref is an integer (ulps, counts), both
 * infinite, or within rel relative error. */
static int agree(double got, double ref, double rel)
{
    if (isinf(ref) || isnan(ref)) return isinf(ref) ? got == ref : isnan(got);
    if (ref == floor(ref) && fabs(ref) < 1e15) return got == ref;
    return fabs(got - ref) <= rel * fabs(ref);
}

/* A printed value against numpy's repr: the same number in the tensor's dtype (f4: float, f2:
 * half, read as float; f8 and integers exactly). */
static int same_value(const char *got, const char *ref, const char *dtype)
{
    double g, r;
    if (!strcmp(ref, "nan")) return !strcmp(got, "nan");
    g = strtod(got, NULL), r = strtod(ref, NULL);
    if (!strcmp(dtype, "f8") || dtype[0] == 'i' || dtype[0] == 'u') return g == r;
    return (float)g == (float)r;
}

/* Compares one run's report with numpy's expectation file. */
static void check_report(const char *what, const char *text, int rc, const char *refpath,
                         int quiet)
{
    FILE *f = fopen(refpath, "r");
    char ref[1024], line[2048];
    const char *prev = text;
    int want_fail = 0, ntens = -1, nfail = -1, seen_first = 0;
    if (!f) {
        CHECK(0, "%s: numpy's expectations %s missing", what, refpath);
        return;
    }
    while (fgets(ref, sizeof ref, f)) {
        char name[128], status[8], kind[16], widx[128], va[64], vb[64], da[8], db[8];
        double mabs, mrel, mulp;
        long nbad, n;
        int k = sscanf(ref, "t %127s %7s %15s %lf %lf %lf %127s %63s %63s %ld %ld %7s %7s",
                       name, status, kind, &mabs, &mrel, &mulp, widx, va, vb, &nbad, &n, da, db);
        if (!strncmp(ref, "first ", 6)) {
            char want[1100];
            ref[strcspn(ref, "\n")] = '\0';
            snprintf(want, sizeof want, "\nfirst failure: %s: ", ref + 6);
            CHECK(strstr(text, want) != NULL, "%s: first failure should be '%s':\n%s", what,
                  ref + 6, text);
            seen_first = 1;
            continue;
        }
        if (sscanf(ref, "summary %d %d", &ntens, &nfail) == 2) continue;
        if (k < 3) continue;
        if (!strcmp(status, "FAIL")) want_fail = 1;
        if (!find_line(text, name, line, sizeof line)) {
            CHECK(quiet && !strcmp(status, "PASS"), "%s: no line for %s:\n%s", what, name, text);
            continue;
        }
        CHECK(!quiet || !strcmp(status, "FAIL"), "%s: --quiet printed a passing tensor: %s",
              what, line);
        CHECK(!strncmp(line, status, 4), "%s: %s should be %s: %s", what, name, status, line);
        {   /* report order: A's file order, then B's extra tensors */
            const char *at = strstr(prev, line);
            CHECK(at != NULL, "%s: %s out of order:\n%s", what, name, text);
            if (at) prev = at + strlen(line);
        }
        if (!strcmp(kind, "only_a") || !strcmp(kind, "only_b")) {
            CHECK(strstr(line, kind[5] == 'a' ? "only in A" : "only in B") != NULL,
                  "%s: %s: %s", what, kind, line);
        } else if (!strcmp(kind, "shape")) {
            CHECK(strstr(line, "shape (2, 3) in A, (3, 2) in B") != NULL, "%s: shape: %s", what,
                  line);
        } else if (!strcmp(kind, "raw")) {
            CHECK(strstr(line, "raw bytes equal") != NULL, "%s: raw: %s", what, line);
        } else if (k == 13) {
            int ok = agree(after(line, "max abs "), mabs, 1e-5) &&
                     agree(after(line, "max rel "), mrel, 1e-5) &&
                     agree(after(line, "max ulp "), mulp, 1e-5);
            CHECK(ok, "%s: %s: numpy says max abs %.9g, rel %.9g, ulp %.9g: %s", what, name,
                  mabs, mrel, mulp, line);
            if (!strcmp(kind, "equal")) {
                CHECK(strstr(line, "  equal") != NULL, "%s: %s equal: %s", what, name, line);
            } else {
                char gi[128] = "", ga[64] = "", gb[64] = "";
                const char *w = strstr(line, "worst ");
                CHECK(w && sscanf(w, "worst %127s %63s vs %63s", gi, ga, gb) == 3 &&
                          !strcmp(gi, widx) && same_value(ga, va, da) && same_value(gb, vb, db),
                      "%s: %s: numpy's worst is %s %s vs %s: %s", what, name, widx, va, vb, line);
                if (nbad) {
                    char cnt[64];
                    snprintf(cnt, sizeof cnt, "(%ld of %ld outside tolerance)", nbad, n);
                    CHECK(strstr(line, cnt) != NULL, "%s: %s: %s: %s", what, name, cnt, line);
                } else {
                    CHECK(!strstr(line, "outside"), "%s: %s passes: %s", what, name, line);
                }
            }
        }
    }
    fclose(f);
    {
        char want[96];
        snprintf(want, sizeof want, "\n%d tensor%s compared, %d failed\n", ntens,
                 ntens == 1 ? "" : "s", nfail);
        CHECK(ntens >= 0 && strstr(text, want) != NULL, "%s: summary should be '%s':\n%s", what,
              want + 1, text);
    }
    CHECK(seen_first == want_fail, "%s: numpy's expectations inconsistent", what);
    if (!want_fail) CHECK(!strstr(text, "first failure"), "%s: no first failure:\n%s", what, text);
    CHECK(rc == want_fail, "%s: exit status %d, expected %d", what, rc, want_fail);
}

/* The cases written and computed by numpy. */
static void test_numpy_cases(void)
{
    char script[512], refp[512], a[512], b[512], cmd[4096], *text;
    static const struct {
        const char *what, *rtol, *atol, *prefix, *opts;
        int quiet;
    } runs[] = {
        {"defaults", "1e-5", "1e-8", "-", "", 0},
        {"exact, --only b., --quiet", "0", "0", "b.", "--rtol 0 --atol 0 --only b. --quiet", 1},
        {"--only c.", "1e-5", "1e-8", "c.", "--only c.", 0},
        {"loose", "1e-2", "1e-3", "-", "--rtol 1e-2 --atol 1e-3", 0},
    };
    FILE *f;
    size_t r;
    if (!test_have_python_module("numpy, safetensors")) {
        test_skip("python3 with numpy and safetensors not available (%s): lsdseg diff not "
                  "checked against numpy",
                  test_python());
        return;
    }
    test_tmp_path(script, sizeof script, "diff_ref.py");
    test_tmp_path(refp, sizeof refp, "diff_ref.txt");
    test_tmp_path(a, sizeof a, "diff_a.safetensors");
    test_tmp_path(b, sizeof b, "diff_b.safetensors");
    f = fopen(script, "w");
    if (!f || fputs(py_ref, f) < 0 || fputs(py_ref2, f) < 0 || fclose(f) != 0) {
        CHECK(0, "cannot write %s", script);
        return;
    }
    text = (char *)test_alloc(1 << 16);
    for (r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        int rc;
        snprintf(cmd, sizeof cmd, "%s '%s' '%s' %s %s '%s' '%s'", test_python(), script,
                 test_tmp_dir(), runs[r].rtol, runs[r].atol, runs[r].prefix, refp);
        if (system(cmd) != 0) {
            CHECK(0, "numpy reference script failed: %s", cmd);
            break;
        }
        snprintf(cmd, sizeof cmd, "'%s' '%s' %s", a, b, runs[r].opts);
        rc = run_diff(text, 1 << 16, cmd);
        check_report(runs[r].what, text, rc, refp, runs[r].quiet);
        if (!runs[r].quiet)
            CHECK(strstr(text, "comparing ") == text, "%s: header line first:\n%s", runs[r].what,
                  text);
        else
            CHECK(!strstr(text, "comparing "), "--quiet prints no header:\n%s", text);
    }
    /* the known differences, said plainly (numpy agreed above) */
    snprintf(cmd, sizeof cmd, "'%s' '%s'", a, b);
    run_diff(text, 1 << 16, cmd);
    CHECK(strstr(text, "max ulp 3  worst [1,2,3,4] 1.75000036 vs 1.75\n") != NULL,
          "3 float32 ulps at [1,2,3,4]:\n%s", text);
    free(text);
    remove(script);
    remove(refp);
    remove(a);
    remove(b);
}

/* Writes a file of one F32 tensor "w" (2, 3) and one I64 "n" (3) with the C writer. */
static int write_c(const char *path, const float *w, const int64_t *n)
{
    st_writer wr;
    lsd_err err;
    int64_t s[2] = {2, 3}, s1[1] = {3};
    int rc;
    st_writer_init(&wr);
    rc = st_writer_add(&wr, "w", ST_F32, 2, s, w, &err);
    if (!rc) rc = st_writer_add(&wr, "n", ST_I64, 1, s1, n, &err);
    if (!rc) rc = st_writer_save(&wr, path, &err);
    st_writer_free(&wr);
    return CHECK(rc == LSD_OK, "write %s: %s", path, rc ? err.msg : "");
}

/* Exit statuses, usage and file errors, and a 3-ulp difference made with nextafterf: no
 * Python needed. */
static void test_c_cases(void)
{
    char a[512], b[512], bad[512], args[2048], text[8192];
    float w[6] = {0.5f, -1.25f, 3.0f, 1e-3f, 0.0f, 7.5f}, w2[6];
    int64_t n[3] = {1, -2, 300};
    int k, rc;
    static const char malformed[] = "\x07\0\0\0\0\0\0\0{\"a\":1}";
    FILE *f;
    test_tmp_path(a, sizeof a, "diff_c_a.safetensors");
    test_tmp_path(b, sizeof b, "diff_c_b.safetensors");
    test_tmp_path(bad, sizeof bad, "diff_c_bad.safetensors");
    memcpy(w2, w, sizeof w);
    for (k = 0; k < 3; k++) w2[5] = nextafterf(w2[5], 10.0f);
    if (!write_c(a, w2, n) || !write_c(b, w, n)) return;

    snprintf(args, sizeof args, "'%s' '%s'", b, b);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 0 && strstr(text, "\n2 tensors compared, 0 failed\n") && strstr(text, "equal"),
          "a file against itself: status 0: %d\n%s", rc, text);
    snprintf(args, sizeof args, "'%s' '%s' --rtol 0 --atol 0", a, b);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 1 && strstr(text, "FAIL  w") && strstr(text, "max ulp 3  worst [1,2] ") &&
              strstr(text, "(1 of 6 outside tolerance)") && strstr(text, "first failure: w: ") &&
              strstr(text, "PASS  n") && strstr(text, "\n2 tensors compared, 1 failed\n"),
          "3 ulps (nextafterf) at [1,2] with zero tolerance: status 1: %d\n%s", rc, text);
    {   /* the printed abs error is the float difference */
        double d = (double)w2[5] - (double)w[5], got = NAN;
        const char *p = strstr(text, "max abs ");
        if (p) got = strtod(p + 8, NULL);
        CHECK(fabs(got - d) <= 1e-5 * d, "max abs %.9g, nextafterf says %.9g", got, d);
    }
    snprintf(args, sizeof args, "'%s' '%s'", a, b);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 0, "3 ulps of 7.5 pass the default tolerance: %d\n%s", rc, text);
    snprintf(args, sizeof args, "'%s' '%s' --only zz", a, b);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 1 && strstr(text, "no tensor name starts with 'zz'"), "--only zz: %d\n%s", rc,
          text);

    f = fopen(bad, "wb");
    if (!f || fwrite(malformed, 1, sizeof malformed - 1, f) != sizeof malformed - 1 ||
        fclose(f) != 0) {
        CHECK(0, "cannot write %s", bad);
        return;
    }
    snprintf(args, sizeof args, "'%s' '%s'", a, bad);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 2 && test_one_line_with(text, bad), "malformed B: status 2, names it: %d\n%s",
          rc, text);
    snprintf(args, sizeof args, "'%s' '%s'", bad, b);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 2 && test_one_line_with(text, bad), "malformed A: status 2, names it: %d\n%s",
          rc, text);
    snprintf(args, sizeof args, "'%s' '%s.missing'", a, a);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 2 && test_one_line_with(text, ".missing"), "missing file: %d\n%s", rc, text);

    rc = run_diff(text, sizeof text, "");
    CHECK(rc == 2 && test_one_line_with(text, "two files"), "no files: %d\n%s", rc, text);
    snprintf(args, sizeof args, "'%s'", a);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 2 && test_one_line_with(text, "two files"), "one file: %d\n%s", rc, text);
    snprintf(args, sizeof args, "'%s' '%s' '%s'", a, b, b);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 2 && test_one_line_with(text, "more than two"), "three files: %d\n%s", rc, text);
    snprintf(args, sizeof args, "'%s' '%s' --bogus", a, b);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 2 && test_one_line_with(text, "--bogus"), "--bogus: %d\n%s", rc, text);
    snprintf(args, sizeof args, "'%s' '%s' --rtol x", a, b);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 2 && test_one_line_with(text, "--rtol"), "--rtol x: %d\n%s", rc, text);
    snprintf(args, sizeof args, "'%s' '%s' --atol -1", a, b);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 2 && test_one_line_with(text, "--atol"), "--atol -1: %d\n%s", rc, text);
    snprintf(args, sizeof args, "'%s' '%s' --only", a, b);
    rc = run_diff(text, sizeof text, args);
    CHECK(rc == 2 && test_one_line_with(text, "--only"), "--only without value: %d\n%s", rc,
          text);
    rc = run_diff(text, sizeof text, "--help");
    CHECK(rc == 0 && strstr(text, "usage: lsdseg diff") && strstr(text, "1e-05") &&
              strstr(text, "1e-08") && strstr(text, "allclose"),
          "--help: %d\n%s", rc, text);
    rc = test_run(text, sizeof text, "%s --help", exe);
    CHECK(rc == 0 && strstr(text, "\n  diff "), "lsdseg --help lists diff: %d\n%s", rc, text);
    remove(a);
    remove(b);
    remove(bad);
}

int main(void)
{
    test_begin("diff");
    exe = getenv("LSD_LSDSEG");
    if (!exe || !*exe) {
        test_skip("LSD_LSDSEG is not set (make test sets it): lsdseg diff not run");
        return test_summary();
    }
    test_c_cases();
    test_numpy_cases();
    return test_summary();
}
