/* cmd_devices.c - 'lsdseg devices': the OpenCL platforms and devices with the indices that
 * --cl-platform and --cl-device take; with --check, builds the kernels on one of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/common.h"
#ifdef LSD_OPENCL
#include "../opencl/cl.h"
#endif

int cmd_devices(int argc, char **argv);

static void devices_usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg devices [--check] [--cl-platform P] [--cl-device D]\n"
            "\n"
            "Lists the OpenCL platforms and devices with their indices (the values of\n"
            "--cl-platform and --cl-device). With --check, also builds the kernels on\n"
            "device D of platform P (default 0, 0) and reports the GEMM tiles chosen.\n"
            "The kernel sources are read from $LSD_CL_DIR, else opencl/kernels.\n"
            "Needs a build with OPENCL=1; exit status 1 when no device is usable.\n");
}

/* A non-negative index option value. */
static int parse_index(const char *opt, const char *v, int *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : -1;
    if (!v || *end || end == v || x < 0 || x > 1000) {
        fprintf(stderr, "lsdseg devices: %s needs an index 0..1000, not '%s'\n", opt,
                v ? v : "");
        return 2;
    }
    *out = (int)x;
    return 0;
}

int cmd_devices(int argc, char **argv)
{
    int i, check = 0, plat = 0, dev = 0;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            devices_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--check")) {
            check = 1;
        } else if (!strcmp(argv[i], "--cl-platform") || !strcmp(argv[i], "--cl-device")) {
            int rc = parse_index(argv[i], i + 1 < argc ? argv[i + 1] : NULL,
                                 argv[i][5] == 'p' ? &plat : &dev);
            if (rc) return rc;
            i++;
        } else {
            fprintf(stderr, "lsdseg devices: unknown option '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
#ifndef LSD_OPENCL
    (void)check;
    fprintf(stderr,
            "lsdseg devices: this lsdseg was built without the OpenCL backend; rebuild with "
            "'make OPENCL=1' (needs an OpenCL ICD loader and headers, e.g. Debian's "
            "ocl-icd-opencl-dev)\n");
    return 1;
#else
    {
        lsd_cl_devinfo info[64];
        lsd_err err;
        int n, k, last = -1;
        if (lsd_cl_list_devices(info, 64, &n, &err) != LSD_OK) {
            fprintf(stderr, "lsdseg devices: %s\n", err.msg);
            return 1;
        }
        for (k = 0; k < n && k < 64; k++) {
            const lsd_cl_devinfo *d = &info[k];
            if (d->platform != last) {
                printf("platform %d: %s (%s)\n", d->platform, d->platform_name,
                       d->platform_version);
                last = d->platform;
            }
            printf("  device %d: %s [%s] %s, driver %s, %u compute units, %.1f GiB, "
                   "local %llu KiB, work-group %lu\n",
                   d->device, d->device_name, d->type, d->device_version, d->driver_version,
                   d->compute_units, (double)d->global_mem / (1024.0 * 1024.0 * 1024.0),
                   d->local_mem / 1024ULL, (unsigned long)d->max_wg);
        }
        if (n == 0) printf("no OpenCL devices (the platforms list none)\n");
        if (check) {
            lsd_cl cl;
            if (lsd_cl_open(&cl, plat, dev, &err) != LSD_OK) {
                fprintf(stderr, "lsdseg devices: %s\n", err.msg);
                return 1;
            }
            printf("check: platform %d device %d (%s): kernels from %s built; gemm tiles "
                   "%dx%dx%d, micro-tiles %dx%d; reductions %lu work-items\n",
                   plat, dev, cl.device_name, cl.source_dir, cl.gemm_tm, cl.gemm_tn,
                   cl.gemm_tk, cl.gemm_rm, cl.gemm_rn, (unsigned long)cl.red_local);
            lsd_cl_close(&cl);
        }
        return n > 0 ? 0 : 1;
    }
#endif
}
