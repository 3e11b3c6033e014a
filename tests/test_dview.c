/* test_dview.c - "what D sees" (ref/dview.c): `lsdseg forward --png DIR` and the demo's
 * d_decisions.png, decoded by Pillow and checked against independent references.
 *
 * forward: a CASE (synthetic scenes, batch 2, 32x64, 8 classes) is run once with --png and
 * three more times with xs_forD replaced by G(F(xs)), xt_forD and G(F(xt)) from the first
 * RESULT, so that the command's own d_s_real / d_c_real (D on xs_forD) give D's outputs on
 * every picture of the PNG. Python (numpy, safetensors, Pillow) checks the PNG's size, its
 * white padding, the image tiles against xs_forD, xt_forD, gen_s, gen_t (rounded to 8 bits),
 * the domain tiles, decoded through the four documented colours, against argmax(d_s_real)
 * of image 0 enlarged 8x by nearest neighbour, and the segmentation tiles against
 * argmax(d_c_real) in the class palette; the printed fractions of pixels D labels correctly
 * against counts of those argmaxes. With dropout on, the source row's domain tile and
 * G(F(xs)) still match d_s_real and gen_s (the picture uses the forward's masks); with
 * --d-input bgr they match the run's d_s_real (D fed BGR), the tiles staying RGB. A file in
 * place of DIR is refused with one line.
 * demo: `lsdseg demo --quick` writes d_decisions.png (4 rows) and report.html's table of
 * fractions (D right on the image, on G(F(image)), G(F(image)) put in the other domain)
 * equals the colour counts of the PNG's domain tiles, and the end rows' images and
 * reconstructions equal those of reconstructions.png (also with --d-input bgr).
 * Needs LSD_LSDSEG and a Python with numpy, safetensors and Pillow (visible skips otherwise). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/synth.h"
#include "../data/synthset.h"
#include "../gan/lsd.h"
#include "../tensor/safetensors.h"
#include "harness.h"

enum { N = 2, H = 32, W = 64 };

static const char *exe;

/* The checker: argv = mode, then the paths and sizes its mode needs. It prints one line
 * "name ok detail" per check (ok 1 or 0) and "value name v" for the numbers C compares. */
static const char *const script[] = {
    "import sys, re",
    "import numpy as np",
    "from PIL import Image",
    "DOM = np.array([[31,119,180],[158,202,237],[230,110,0],[255,205,140]], np.int64)",
    "PAD = 4",
    "def out(name, ok, detail=''): print(name, int(bool(ok)), detail)",
    "def decode(tile, pal):",
    "    t = tile.reshape(-1, 3).astype(np.int64)",
    "    hit = (t[:, None, :] == pal[None, :, :]).all(2)",
    "    idx = np.where(hit.any(1), hit.argmax(1), -1)",
    "    return idx.reshape(tile.shape[:2])",
    "def up(a, H, W):",
    "    return np.repeat(np.repeat(a, H // a.shape[0], 0), W // a.shape[1], 1)",
    "def tile(img, r, c, H, W):",
    "    y, x = PAD + r * (H + PAD), PAD + c * (W + PAD)",
    "    return img[y:y + H, x:x + W]",
    "def padding_white(img, rows, H, W):",
    "    m = np.ones(img.shape[:2], bool)",
    "    for r in range(rows):",
    "        for c in range(5):",
    "            y, x = PAD + r * (H + PAD), PAD + c * (W + PAD)",
    "            m[y:y + H, x:x + W] = False",
    "    return bool((img[m] == 255).all())",
    "mode = sys.argv[1]",
    "if mode == 'forward':",
    "    from safetensors.numpy import load_file",
    "    png, case, r0, r1, r2, r3 = sys.argv[2:8]",
    "    H, W = int(sys.argv[8]), int(sys.argv[9])",
    "    pal = np.array([int(v) for v in sys.argv[10].split(',')], np.int64).reshape(-1, 3)",
    "    im = Image.open(png)",
    "    out('mode', im.mode == 'RGB', im.mode)",
    "    img = np.asarray(im.convert('RGB'))",
    "    out('size', img.shape[:2] == (2 * H + 3 * PAD, 5 * W + 6 * PAD), img.shape)",
    "    out('padding', padding_white(img, 2, H, W))",
    "    c0 = load_file(case); R = [load_file(p) for p in (r0, r1, r2, r3)]",
    "    def rgb8(x):",
    "        return np.clip(np.floor(x[0].astype(np.float64).transpose(1, 2, 0) * 255 + 0.5), 0, 255)",
    "    classes = set()",
    "    # row, image, reconstruction, result of D on the image, on the reconstruction",
    "    for row, x, rec, di, dr, real in ((0, c0['xs_forD'], R[0]['gen_s'], R[0], R[1], 0),",
    "                                      (1, c0['xt_forD'], R[0]['gen_t'], R[2], R[3], 2)):",
    "        for col, ref in ((0, x), (2, rec)):",
    "            d = np.abs(tile(img, row, col, H, W).astype(np.float64) - rgb8(ref)).max()",
    "            out('image_r%dc%d' % (row, col), d == 0, 'max diff %g' % d)",
    "        for col, res, k in ((1, di, real), (3, dr, real + 1)):",
    "            a = res['d_s_real'][0].argmax(0)",
    "            want = up(a, H, W)",
    "            got = decode(tile(img, row, col, H, W), DOM)",
    "            out('domain_r%dc%d' % (row, col), (got == want).all() and want.shape == (H, W),",
    "                '%d of %d pixels differ (d_s_real %s)' % ((got != want).sum(), want.size, a.shape))",
    "            classes |= set(np.unique(a).tolist())",
    "            print('value', 'frac_r%dc%d' % (row, col), (a == k).mean())",
    "        want = up(di['d_c_real'][0].argmax(0), H, W)",
    "        got = decode(tile(img, row, 4, H, W), pal)",
    "        out('segment_r%d' % row, (got == want).all(), '%d pixels differ' % (got != want).sum())",
    "    out('several_domains', len(classes) >= 2, 'D chose %s' % sorted(classes))",
    "elif mode == 'single':",
    "    from safetensors.numpy import load_file",
    "    png, case, res, tag = sys.argv[2:6]",
    "    H, W, flip = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])",
    "    img = np.asarray(Image.open(png).convert('RGB')); R, C = load_file(res), load_file(case)",
    "    def rgb8(x, f):",
    "        a = (x[0][::-1] if f else x[0]).astype(np.float64).transpose(1, 2, 0)",
    "        return np.clip(np.floor(a * 255 + 0.5), 0, 255)",
    "    got, want = decode(tile(img, 0, 1, H, W), DOM), up(R['d_s_real'][0].argmax(0), H, W)",
    "    out(tag + '_domain', (got == want).all(), '%d pixels differ' % (got != want).sum())",
    "    out(tag + '_image', (tile(img, 0, 0, H, W) == rgb8(C['xs_forD'], 0)).all())",
    "    out(tag + '_gen', (tile(img, 0, 2, H, W) == rgb8(R['gen_s'], flip)).all())",
    "elif mode == 'demo':",
    "    png, html, H, W = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])",
    "    img = np.asarray(Image.open(png).convert('RGB'))",
    "    out('demo_size', img.shape[:2] == (4 * H + 5 * PAD, 5 * W + 6 * PAD), img.shape)",
    "    out('demo_padding', padding_white(img, 4, H, W))",
    "    text = open(html).read()",
    "    rows = re.findall(r'<tr><td class=\"l\">(source|target), (start|end)</td><td>([0-9.]+)% '",
    "                      r'\\(([a-z ]+)\\)</td><td>([0-9.]+)% \\(([a-z ]+)\\)</td><td>([0-9.]+)%</td></tr>',",
    "                      text)",
    "    out('demo_rows', [(d, t) for d, t, *_ in rows] == [('source', 'start'), ('source', 'end'),",
    "        ('target', 'start'), ('target', 'end')], rows)",
    "    names = ['source real', 'source fake', 'target real', 'target fake']",
    "    for r, (d, t, a, na, b, nb, o) in enumerate(rows):",
    "        real = 0 if d == 'source' else 2",
    "        out('demo_names_%d' % r, na == names[real] and nb == names[real + 1], (na, nb))",
    "        for what, col, shown, k in (('image', 1, a, [real]), ('rec', 3, b, [real + 1]),",
    "                                    ('other', 3, o, [2 - real, 3 - real])):",
    "            got = decode(tile(img, r, col, H, W), DOM)",
    "            f = 100 * np.isin(got, k).mean()",
    "            out('demo_frac_%s_%d' % (what, r), (got >= 0).all() and abs(f - float(shown)) <= 0.05 + 1e-9,",
    "                'caption %s%%, PNG %.3f%%' % (shown, f))",
    "    for n in names: out('legend ' + n.replace(' ', '_'), n + '&nbsp;' in text)",
    "    # the end rows show what reconstructions.png shows: scene 0 and G(F(scene 0))",
    "    rp = np.asarray(Image.open(png.replace('d_decisions', 'reconstructions')).convert('RGB'))",
    "    T = lambda a, r, c, n: a[PAD + r * (H + PAD):PAD + r * (H + PAD) + H,",
    "                             PAD + c * (W + PAD):PAD + c * (W + PAD) + W]",
    "    for r, c, rc in ((1, 0, 0), (1, 2, 1), (3, 0, 2), (3, 2, 3)):",
    "        out('demo_as_reconstructions_r%dc%d' % (r, c), (T(img, r, c, 0) == T(rp, 0, rc, 0)).all())",
    "    out('img_tag', 'src=\"d_decisions.png\"' in text)",
    NULL};

/* Writes the checker, runs it with args, and turns its lines into checks; returns the
 * "value" lines' values by name through vals (names[k] -> vals[k], NaN when missing). */
static void run_checker(const char *args, const char *const *names, double *vals, int nv)
{
    char path[600], outp[600], line[4096];
    FILE *f;
    int i, n = 0;
    for (i = 0; i < nv; i++) vals[i] = -1;
    test_tmp_path(path, sizeof path, "dview_check.py");
    test_tmp_path(outp, sizeof outp, "dview_check.txt");
    if (!(f = fopen(path, "w"))) test_die("writing the checker", NULL);
    for (i = 0; script[i]; i++) fprintf(f, "%s\n", script[i]);
    fclose(f);
    if (!CHECK(test_run(NULL, 0, "%s %s %s > %s 2>&1", test_python(), path, args, outp) == 0,
               "the Python checker ran (see %s)", outp))
        return;
    if (!(f = fopen(outp, "r"))) test_die("reading the checker's output", NULL);
    while (fgets(line, sizeof line, f)) {
        char name[128];
        int ok, used = 0;
        double v;
        if (sscanf(line, "value %127s %lf", name, &v) == 2) {
            for (i = 0; i < nv; i++)
                if (!strcmp(names[i], name)) vals[i] = v;
        } else if (sscanf(line, "%127s %d %n", name, &ok, &used) == 2) {
            CHECK(ok == 1, "%s: %s", name, line + used);
            n++;
        }
    }
    fclose(f);
    CHECK(n > 0, "the checker reported its checks");
}

/* A CASE of model m and batch (xs, xt, xs01, xt01, ys) at path. */
static void write_case(const char *path, const LsdModel *m, const real *xs, const real *xt,
                       const real *xs01, const real *xt01, const uint8_t *ys)
{
    st_writer wr;
    int64_t s[4], step_store;
    lsd_err err;
    int rc;
    s[0] = N, s[1] = 3, s[2] = H, s[3] = W;
    st_writer_init(&wr);
    rc = lsd_model_write(m, &wr, &step_store, &err);
    if (!rc) rc = st_writer_add_real(&wr, "xs", 4, s, xs, &err);
    if (!rc) rc = st_writer_add_real(&wr, "xt", 4, s, xt, &err);
    if (!rc) rc = st_writer_add_real(&wr, "xs_forD", 4, s, xs01, &err);
    if (!rc) rc = st_writer_add_real(&wr, "xt_forD", 4, s, xt01, &err);
    s[1] = H, s[2] = W;
    if (!rc) rc = st_writer_add(&wr, "ys", ST_U8, 3, s, ys, &err);
    if (!rc) rc = st_writer_save(&wr, path, &err);
    st_writer_free(&wr);
    if (rc) test_die("writing a case", &err);
}

/* (N, 3, H, W) tensor name of a RESULT into x. */
static void read_result(real *x, const char *path, const char *name)
{
    st_file sf;
    lsd_err err;
    int64_t s[4];
    s[0] = N, s[1] = 3, s[2] = H, s[3] = W;
    if (st_open(&sf, path, &err) || st_read_real(&sf, name, x, (size_t)N * 3 * H * W, 4, s, &err))
        test_die("reading a result", &err);
    st_close(&sf);
}

static void check_forward(void)
{
    static const char *const vnames[4] = {"frac_r0c1", "frac_r0c3", "frac_r1c1", "frac_r1c3"};
    static real xs[N * 3 * H * W], xt[N * 3 * H * W], xs01[N * 3 * H * W], xt01[N * 3 * H * W],
        gs[N * 3 * H * W], gt[N * 3 * H * W];
    static uint8_t ys[N * H * W];
    char cs[4][600], rs[4][600], rx[600], dir[600], text[4096], args[8000], pal[400];
    double vals[4], printed[4];
    LsdConfig c;
    LsdModel m;
    LsdWork work;
    LsdStepOptions o = lsd_step_defaults();
    LsdBatch b;
    LsdLosses L;
    SynthSet s, t;
    lsd_err err;
    int idx[N] = {3, 1}, k, rc;
    const char *p;
    c.vgg = 2, c.fc = 16, c.ngf = 2, c.ndf = 4, c.n_class = SYNTH_NUM_CLASSES;
    if (synthset_create(&s, SYNTH_SOURCE, 11, 0, 4, H, W, &err) ||
        synthset_create(&t, SYNTH_TARGET, 12, 0, 4, H, W, &err) ||
        lsd_model_create(&m, &c, &err) || lsd_model_init(&m, 5, NULL, &err) ||
        lsd_work_create(&work, &c, N, H, W, LSD_WORK_TRAIN, &err))
        test_die("set-up", &err);
    synthset_batch(&s, idx, N, xs, xs01, ys);
    synthset_batch(&t, idx, N, xt, xt01, NULL);
    /* a few iterations, so that D's decisions are not those of its initialisation */
    b.xs = xs, b.xt = xt, b.xs01 = xs01, b.xt01 = xt01, b.ys = ys;
    o.lr_gd = 1e-3, o.dropout = LSD_DROPOUT_OFF;
    for (k = 0; k < 3; k++)
        if (lsd_step(&m, &work, &b, &o, &L, &err)) test_die("lsd_step", &err);
    for (k = 0; k < 4; k++) {
        char name[64];
        sprintf(name, "dview_case%d.safetensors", k);
        test_tmp_path(cs[k], sizeof cs[k], name);
        sprintf(name, "dview_result%d.safetensors", k);
        test_tmp_path(rs[k], sizeof rs[k], name);
    }
    test_tmp_path(dir, sizeof dir, "dview_png");
    write_case(cs[0], &m, xs, xt, xs01, xt01, ys);
    rc = test_run(text, sizeof text, "rm -rf '%s' && %s forward --in '%s' --out '%s' --png '%s' "
                  "--no-dropout", dir, exe, cs[0], rs[0], dir);
    if (!CHECK(rc == 0 && (p = strstr(text, "d_decisions.png: D right on ")) &&
                   sscanf(p, "d_decisions.png: D right on %lf%% of xs_forD, %lf%% of G(F(xs)), "
                          "%lf%% of xt_forD, %lf%% of G(F(xt))", &printed[0], &printed[1],
                          &printed[2], &printed[3]) == 4,
               "forward --png: status %d, output:\n%s", rc, text))
        goto done;
    /* D on G(F(xs)), xt_forD, G(F(xt)) through the command's own d_s_real, d_c_real */
    read_result(gs, rs[0], "gen_s");
    read_result(gt, rs[0], "gen_t");
    write_case(cs[1], &m, xs, xt, gs, xt01, ys);
    write_case(cs[2], &m, xs, xt, xt01, xt01, ys);
    write_case(cs[3], &m, xs, xt, gt, xt01, ys);
    for (k = 1; k < 4; k++)
        CHECK(test_run(text, sizeof text, "%s forward --in '%s' --out '%s' --no-dropout", exe,
                       cs[k], rs[k]) == 0, "forward on case %d: %s", k, text);
    pal[0] = 0;
    for (k = 0; k < SYNTH_NUM_CLASSES; k++) {
        uint8_t rgb[3];
        synth_class_color(k, rgb);
        sprintf(pal + strlen(pal), "%s%d,%d,%d", k ? "," : "", rgb[0], rgb[1], rgb[2]);
    }
    snprintf(args, sizeof args, "forward '%s/d_decisions.png' '%s' '%s' '%s' '%s' '%s' %d %d %s",
             dir, cs[0], rs[0], rs[1], rs[2], rs[3], H, W, pal);
    run_checker(args, vnames, vals, 4);
    for (k = 0; k < 4; k++)
        CHECK(vals[k] >= 0 && vals[k] * 100 - printed[k] <= 0.05 + 1e-9 &&
                  printed[k] - vals[k] * 100 <= 0.05 + 1e-9,
              "printed fraction %s: %.1f%%, argmax of d_s_real gives %.4f%%", vnames[k],
              printed[k], 100 * vals[k]);
    /* with dropout: D's view of xs_forD uses the work's masks, as d_s_real does; with
     * --d-input bgr, D sees xs_forD flipped, and the tiles are still shown in RGB */
    test_tmp_path(rx, sizeof rx, "dview_result_x.safetensors");
    for (k = 0; k < 2; k++) {
        rc = test_run(text, sizeof text, "rm -rf '%s_%d' && %s forward --in '%s' --out '%s' "
                      "--png '%s_%d' %s", dir, k, exe, cs[0], rx, dir, k,
                      k ? "--no-dropout --d-input bgr" : "--seed 9");
        if (CHECK(rc == 0, "forward --png %s: %s", k ? "bgr" : "with dropout", text)) {
            snprintf(args, sizeof args, "single '%s_%d/d_decisions.png' '%s' '%s' %s %d %d %d",
                     dir, k, cs[0], rx, k ? "bgr" : "dropout", H, W, k);
            run_checker(args, NULL, vals, 0);
        }
    }
    /* a file where the folder should be */
    test_tmp_path(dir, sizeof dir, "dview_check.py");
    rc = test_run(text, sizeof text, "%s forward --in '%s' --out '%s' --png '%s'", exe, cs[0],
                  rx, dir);
    CHECK(rc == 1 && test_one_line_with(text, "--png"), "--png onto a file: status %d, %s", rc,
          text);
    rc = test_run(text, sizeof text, "%s forward --help", exe);
    CHECK(rc == 0 && strstr(text, "--png DIR") && strstr(text, "d_decisions.png"),
          "forward --help documents --png");
done:
    lsd_work_free(&work);
    lsd_model_free(&m);
    synthset_free(&s);
    synthset_free(&t);
}

/* The quick demo, with the paper's recipe and with D fed BGR (tiles still RGB). */
static void check_demo(void)
{
    char dir[600], args[2000], text[4096];
    double none;
    int rc, k;
    for (k = 0; k < 2; k++) {
        test_tmp_path(dir, sizeof dir, k ? "dview_demo_bgr" : "dview_demo");
        rc = test_run(text, sizeof text, "OMP_WAIT_POLICY=passive %s demo --quick --quiet "
                      "--threads 2 --seed 4 --out '%s' %s", exe, dir, k ? "--d-input bgr" : "");
        if (!CHECK(rc == 0, "demo --quick %s: %d %s", k ? "--d-input bgr" : "", rc, text))
            continue;
        snprintf(args, sizeof args, "demo '%s/d_decisions.png' '%s/report.html' 32 64", dir,
                 dir);
        run_checker(args, NULL, &none, 0);
    }
}

int main(void)
{
    test_begin("dview");
    exe = getenv("LSD_LSDSEG");
    if (!exe || !*exe) {
        test_skip("LSD_LSDSEG is not set (make test sets it): forward --png and demo not run");
    } else if (!test_have_python_module("numpy") || !test_have_python_module("PIL") ||
               !test_have_python_module("safetensors")) {
        test_skip("%s lacks numpy, Pillow or safetensors: d_decisions.png not checked",
                  test_python());
    } else {
        check_forward();
        check_demo();
    }
    return test_summary();
}
