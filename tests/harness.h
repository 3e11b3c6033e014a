/*
 * harness.h - the test harness of lsdseg.
 *
 * Every tests/test_*.c is its own program. It calls the check functions below
 * (each check is one "passed" or "failed"), prints one line per failed check
 * with the values involved, and finishes with test_summary(), which prints
 * "<suite>: N passed, N failed" and returns the exit code. `make test` runs all
 * programs and adds their counts into the final "N passed, N failed" line.
 *
 * Skips are visible: test_skip() prints "SKIP <reason>" and counts a skip.
 */
#ifndef LSD_HARNESS_H
#define LSD_HARNESS_H

#include <stddef.h>
#include "../tensor/common.h"

/* Sets the suite name used in messages and in the summary line. */
void test_begin(const char *suite);
/* Records the result of a boolean check; on failure prints the formatted detail. */
int test_check(int ok, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
#define CHECK(cond, ...) test_check((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

/* Checks |got[i]-ref[i]| <= atol + rtol*|ref[i]| for all i (NaN in got fails;
 * non-finite reference elements must match exactly). On failure prints the worst
 * element, its index and both values. One check for the whole array. */
int test_close_real(const char *name, const real *got, const real *ref, size_t n,
                    double atol, double rtol);
int test_close_double(const char *name, const double *got, const double *ref, size_t n,
                      double atol, double rtol);
/* Records a skipped group with a visible reason. */
void test_skip(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Prints the summary line and returns 0 if nothing failed, 1 otherwise. */
int test_summary(void);

/* Path of the shared/ folder beside the checkout: $LSD_SHARED or "../shared".
 * Returns NULL (after a visible SKIP) when it does not exist. */
const char *test_shared_dir(void);
/* Path of the golden/ folder: $LSD_GOLDEN or "golden". */
const char *test_golden_dir(void);
/* A scratch directory for files a test writes: $LSD_TMP or "build/tmp"; created if missing. */
const char *test_tmp_dir(void);
/* The Python interpreter tests use: $LSD_PYTHON, else /usr/bin/python3 if it exists
 * (Debian's, where python3-torch installs), else python3 from the PATH. */
const char *test_python(void);
/* 1 if `<python> -c "import <module>"` succeeds. */
int test_have_python_module(const char *module);
/* "<test_tmp_dir()>/<name>" into buf (cap bytes); returns buf. */
char *test_tmp_path(char *buf, size_t cap, const char *name);

/* Runs the shell command made from fmt, with stdout and stderr together into out (cap bytes,
 * NUL-terminated, the rest dropped; out may be NULL). Returns the exit status, or -1 when the
 * command could not run or died by a signal. */
int test_run(char *out, size_t cap, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* 1 if text is exactly one line (one newline, at the end) that contains word. */
int test_one_line_with(const char *text, const char *word);

/* calloc of n bytes (at least one); exits the test program when memory is short. */
void *test_alloc(size_t n);
/* Ends the test program on a failure of its own set-up (allocation, transfer): prints
 * "test_<suite>: what: reason" to stderr and "<suite>: set-up failure (what)", exits 1.
 * err may be NULL (out of memory). */
void test_die(const char *what, const lsd_err *err);
/* Largest |x[i]| (0 for n == 0). */
double test_max_abs(const real *x, size_t n);
/* Reproducible values in [-1, 1) from a small LCG (test data only). */
void test_fill_random(real *x, size_t n, unsigned long seed);
/* Sets the OpenMP thread count (nothing without OpenMP). */
void test_set_threads(int n);

#ifdef LSD_OPENCL
#include "../opencl/cl.h"
/* Opens device $LSD_CL_DEVICE of platform $LSD_CL_PLATFORM (default 0, 0): 1 when open; 0
 * after a visible skip (no OpenCL platform) or a failed check. */
int test_cl_open(lsd_cl *cl);
#endif

/* A check that runs in the double build only (finite differences): there it is the call,
 * in the float build a visible skip (the call is not compiled). */
#ifdef LSD_DOUBLE
#define DOUBLE_ONLY(call, what) (call)
#else
#define DOUBLE_ONLY(call, what) test_skip("%s run in the double build only", what)
#endif

#endif
