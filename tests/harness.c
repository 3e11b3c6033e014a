/* harness.c - counters, tolerant comparisons and summary for the test programs. */
#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char *suite_name = "tests";
static int n_pass, n_fail, n_skip;

void test_begin(const char *suite) { suite_name = suite; }

int test_check(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        n_pass++;
        return 1;
    }
    n_fail++;
    {
        va_list ap;
        fprintf(stdout, "FAIL %s (%s:%d): ", suite_name, file, line);
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
    }
    return 0;
}

static int close_generic(const char *name, size_t n, double atol, double rtol,
                         double (*get)(const void *, size_t), const void *got, const void *ref)
{
    size_t i, worst = 0, nbad = 0;
    double worst_excess = -1.0;
    for (i = 0; i < n; i++) {
        double g = get(got, i), r = get(ref, i), tol, diff;
        if (!isfinite(r)) {
            if (!(g == r || (isnan(g) && isnan(r)))) {
                nbad++;
                if (worst_excess < INFINITY) { worst_excess = INFINITY; worst = i; }
            }
            continue;
        }
        diff = fabs(g - r);
        tol = atol + rtol * fabs(r);
        if (!(diff <= tol)) {
            double excess = isnan(diff) ? INFINITY : diff / (tol > 0 ? tol : 1e-300);
            nbad++;
            if (excess > worst_excess) { worst_excess = excess; worst = i; }
        }
    }
    if (nbad == 0) {
        n_pass++;
        return 1;
    }
    n_fail++;
    printf("FAIL %s: %s: %lu of %lu elements outside atol=%g rtol=%g; worst [%lu] got %.17g ref %.17g (diff %.3g)\n",
           suite_name, name, (unsigned long)nbad, (unsigned long)n, atol, rtol, (unsigned long)worst,
           get(got, worst), get(ref, worst), fabs(get(got, worst) - get(ref, worst)));
    fflush(stdout);
    return 0;
}

static double get_real(const void *p, size_t i) { return (double)((const real *)p)[i]; }
static double get_double(const void *p, size_t i) { return ((const double *)p)[i]; }

int test_close_real(const char *name, const real *got, const real *ref, size_t n,
                    double atol, double rtol)
{
    return close_generic(name, n, atol, rtol, get_real, got, ref);
}

int test_close_double(const char *name, const double *got, const double *ref, size_t n,
                      double atol, double rtol)
{
    return close_generic(name, n, atol, rtol, get_double, got, ref);
}

void test_skip(const char *fmt, ...)
{
    va_list ap;
    n_skip++;
    printf("SKIP %s: ", suite_name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

int test_summary(void)
{
    printf("%s: %d passed, %d failed, %d skipped\n", suite_name, n_pass, n_fail, n_skip);
    fflush(stdout);
    return n_fail ? 1 : 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *test_shared_dir(void)
{
    static int warned;
    const char *p = getenv("LSD_SHARED");
    if (!p || !*p) p = "../shared";
    if (is_dir(p)) return p;
    if (!warned) {
        test_skip("shared folder '%s' not found (set LSD_SHARED): tests that read it are skipped", p);
        warned = 1;
    }
    return NULL;
}

const char *test_golden_dir(void)
{
    const char *p = getenv("LSD_GOLDEN");
    return (p && *p) ? p : "golden";
}

const char *test_tmp_dir(void)
{
    const char *p = getenv("LSD_TMP");
    if (!p || !*p) p = "build/tmp";
    if (!is_dir(p)) {
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
        if (system(cmd) != 0) return ".";
    }
    return p;
}

const char *test_python(void)
{
    const char *py = getenv("LSD_PYTHON");
    struct stat st;
    if (py && *py) return py;
    if (stat("/usr/bin/python3", &st) == 0) return "/usr/bin/python3";
    return "python3";
}

int test_have_python_module(const char *module)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s -c 'import %s' >/dev/null 2>&1", test_python(), module);
    return system(cmd) == 0;
}

char *test_tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", test_tmp_dir(), name);
    return buf;
}

int test_run(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[8192], buf[4096];
    va_list ap;
    FILE *p;
    size_t len = 0, k;
    int st;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd - 16, fmt, ap);
    va_end(ap);
    strcat(cmd, " 2>&1");
    if (out && cap) out[0] = '\0';
    fflush(stdout);
    fflush(stderr);
    if (!(p = popen(cmd, "r"))) return -1;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0) {
        if (out && len + 1 < cap) {
            size_t room = cap - 1 - len, m = k < room ? k : room;
            memcpy(out + len, buf, m);
            len += m;
            out[len] = '\0';
        }
    }
    st = pclose(p);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int test_one_line_with(const char *text, const char *word)
{
    const char *nl = strchr(text, '\n');
    return nl && nl[1] == '\0' && strstr(text, word) != NULL;
}

void *test_alloc(size_t n)
{
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "%s: out of memory (%lu bytes)\n", suite_name, (unsigned long)n);
        exit(1);
    }
    return p;
}

void test_die(const char *what, const lsd_err *err)
{
    fprintf(stderr, "test_%s: %s: %s\n", suite_name, what, err ? err->msg : "out of memory");
    printf("%s: set-up failure (%s)\n", suite_name, what);
    exit(1);
}

double test_max_abs(const real *x, size_t n)
{
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++)
        if (fabs((double)x[i]) > m) m = fabs((double)x[i]);
    return m;
}

void test_fill_random(real *x, size_t n, unsigned long seed)
{
    size_t i;
    unsigned long s = seed * 2654435761UL + 12345UL;
    for (i = 0; i < n; i++) {
        s = (s * 1103515245UL + 12345UL) & 0x7fffffffUL;
        x[i] = (real)((double)(s >> 4) / (double)(0x7fffffffUL >> 4) * 2.0 - 1.0);
    }
}

void test_set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

#ifdef LSD_OPENCL
int test_cl_open(lsd_cl *cl)
{
    lsd_err err;
    const char *ps = getenv("LSD_CL_PLATFORM"), *ds = getenv("LSD_CL_DEVICE");
    int plat = ps ? atoi(ps) : 0, dev = ds ? atoi(ds) : 0;
    int rc = lsd_cl_open(cl, plat, dev, &err);
    if (rc == LSD_ERR_NOTFOUND) {
        test_skip("%s", err.msg);
        return 0;
    }
    return CHECK(rc == LSD_OK, "opening OpenCL platform %d device %d: %s", plat, dev,
                 rc ? err.msg : "");
}
#endif
