/*
 * cl.c - the OpenCL runtime: devices, context, program build, buffers, launches
 * (see cl.h). Every failure becomes an lsd_err message naming the OpenCL call, its
 * error code and, for a failed build, the compiler's log.
 */
#include "cl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kernel source files, concatenated in this order into one program. */
const char *const lsd_cl_kernel_files[] = {
    "common.cl", "gemm.cl", "conv.cl", "pool.cl", "elementwise.cl",
    "norm.cl", "loss.cl", "optim.cl", NULL
};

/* Kernel names, indexed by lsd_cl_kernel; each is the device twin of a C function. */
static const char *const kernel_names[LSD_K_COUNT] = {
    "gemm", "im2col", "col2im", "add_bias", "bias_grad",
    "maxpool2d_forward", "maxpool2d_backward",
    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "dropout_mask", "dropout_forward", "dropout_backward", "dropout2d_forward",
    "dropout2d_backward",
    "crop_forward", "crop_backward", "concat_forward", "concat_backward",
    "instance_norm_forward", "instance_norm_backward",
    "softmax_ce_label_scan", "softmax_ce_pixel", "l1_loss_elem", "block_sum",
    "adam_update", "vec_fill", "vec_axpy", "vec_add"
};

const char *lsd_cl_error_name(cl_int code)
{
    switch (code) {
    case CL_SUCCESS: return "CL_SUCCESS";
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM: return "CL_INVALID_PROGRAM";
    case CL_INVALID_PROGRAM_EXECUTABLE: return "CL_INVALID_PROGRAM_EXECUTABLE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL: return "CL_INVALID_KERNEL";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_DIMENSION: return "CL_INVALID_WORK_DIMENSION";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_OFFSET: return "CL_INVALID_GLOBAL_OFFSET";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

/* How to get an OpenCL platform, appended to "no platform" messages. */
#define NO_PLATFORM_HINT                                                                    \
    "install an OpenCL driver (an ICD): on Debian 'apt-get install pocl-opencl-icd' for the " \
    "CPU; on NVIDIA register the driver with 'mkdir -p /etc/OpenCL/vendors && echo "         \
    "/usr/lib/libnvidia-opencl.so.1 > /etc/OpenCL/vendors/nvidia.icd'"

/* The platforms, allocated (*ids to free); no platform is LSD_ERR_NOTFOUND. */
static int get_platforms(cl_platform_id **ids, cl_uint *np, lsd_err *err)
{
    cl_int rc = clGetPlatformIDs(0, NULL, np);
    *ids = NULL;
    if (rc == -1001 || (rc == CL_SUCCESS && *np == 0))
        return lsd_fail(err, LSD_ERR_NOTFOUND, "no OpenCL platform found: %s", NO_PLATFORM_HINT);
    if (rc != CL_SUCCESS)
        return lsd_fail(err, LSD_ERR_NOTFOUND, "clGetPlatformIDs failed (%s, %d): %s",
                        lsd_cl_error_name(rc), (int)rc, NO_PLATFORM_HINT);
    *ids = malloc(sizeof(cl_platform_id) * *np);
    if (!*ids) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory listing OpenCL platforms");
    rc = clGetPlatformIDs(*np, *ids, NULL);
    if (rc != CL_SUCCESS) {
        free(*ids);
        *ids = NULL;
        return lsd_fail(err, LSD_ERR_NOTFOUND, "clGetPlatformIDs failed (%s, %d)",
                        lsd_cl_error_name(rc), (int)rc);
    }
    return LSD_OK;
}

/* The devices of a platform, allocated; a platform without devices gives *nd = 0. */
static int get_devices(cl_platform_id p, cl_device_id **ids, cl_uint *nd, lsd_err *err)
{
    cl_int rc = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, NULL, nd);
    *ids = NULL;
    if (rc == CL_DEVICE_NOT_FOUND) {
        *nd = 0;
        return LSD_OK;
    }
    if (rc != CL_SUCCESS)
        return lsd_fail(err, LSD_ERR_NOTFOUND, "clGetDeviceIDs failed (%s, %d)",
                        lsd_cl_error_name(rc), (int)rc);
    if (*nd == 0) return LSD_OK;
    *ids = malloc(sizeof(cl_device_id) * *nd);
    if (!*ids) return lsd_fail(err, LSD_ERR_NOMEM, "out of memory listing OpenCL devices");
    rc = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, *nd, *ids, NULL);
    if (rc != CL_SUCCESS) {
        free(*ids);
        *ids = NULL;
        return lsd_fail(err, LSD_ERR_NOTFOUND, "clGetDeviceIDs failed (%s, %d)",
                        lsd_cl_error_name(rc), (int)rc);
    }
    return LSD_OK;
}

/* Replaces every byte that is not printable ASCII (newlines kept) by '?', in place. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((*s < 32 || *s > 126) && *s != '\n') *s = '?';
}

/* A string property of a platform or device into buf (empty on failure). */
static void plat_str(cl_platform_id p, cl_platform_info what, char *buf, size_t cap)
{
    buf[0] = 0;
    if (clGetPlatformInfo(p, what, cap, buf, NULL) != CL_SUCCESS) buf[0] = 0;
    buf[cap - 1] = 0;
    printable(buf);
}
static void dev_str(cl_device_id d, cl_device_info what, char *buf, size_t cap)
{
    buf[0] = 0;
    if (clGetDeviceInfo(d, what, cap, buf, NULL) != CL_SUCCESS) buf[0] = 0;
    buf[cap - 1] = 0;
    printable(buf);
}

int lsd_cl_list_devices(lsd_cl_devinfo *out, int cap, int *count, lsd_err *err)
{
    cl_platform_id *ps;
    cl_uint np, nd, i, j;
    int rc, n = 0;
    *count = 0;
    if ((rc = get_platforms(&ps, &np, err)) != LSD_OK) return rc;
    for (i = 0; i < np; i++) {
        cl_device_id *ds;
        if ((rc = get_devices(ps[i], &ds, &nd, err)) != LSD_OK) {
            free(ps);
            return rc;
        }
        for (j = 0; j < nd; j++, n++) {
            lsd_cl_devinfo *e;
            cl_device_type t = 0;
            cl_uint cu = 0;
            cl_ulong gm = 0, lm = 0;
            size_t wg = 0;
            if (n >= cap) continue;
            e = &out[n];
            memset(e, 0, sizeof *e);
            e->platform = (int)i;
            e->device = (int)j;
            plat_str(ps[i], CL_PLATFORM_NAME, e->platform_name, sizeof e->platform_name);
            plat_str(ps[i], CL_PLATFORM_VERSION, e->platform_version,
                     sizeof e->platform_version);
            dev_str(ds[j], CL_DEVICE_NAME, e->device_name, sizeof e->device_name);
            dev_str(ds[j], CL_DEVICE_VERSION, e->device_version, sizeof e->device_version);
            dev_str(ds[j], CL_DRIVER_VERSION, e->driver_version, sizeof e->driver_version);
            clGetDeviceInfo(ds[j], CL_DEVICE_TYPE, sizeof t, &t, NULL);
            clGetDeviceInfo(ds[j], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
            clGetDeviceInfo(ds[j], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gm, &gm, NULL);
            clGetDeviceInfo(ds[j], CL_DEVICE_LOCAL_MEM_SIZE, sizeof lm, &lm, NULL);
            clGetDeviceInfo(ds[j], CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
            strcpy(e->type, (t & CL_DEVICE_TYPE_GPU) ? "GPU"
                            : (t & CL_DEVICE_TYPE_CPU) ? "CPU"
                            : (t & CL_DEVICE_TYPE_ACCELERATOR) ? "accelerator"
                                                                : "other");
            e->compute_units = cu;
            e->global_mem = gm;
            e->local_mem = lm;
            e->max_wg = wg;
        }
        free(ds);
    }
    free(ps);
    *count = n;
    return LSD_OK;
}

/* Reads a whole file into a NUL-terminated allocation. */
static int read_text(const char *path, char **text, size_t *len, lsd_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *nb;
    size_t n = 0, capn = 0, got;
    *text = NULL;
    if (!f) return lsd_fail(err, LSD_ERR_IO, "cannot open %s", path);
    for (;;) {
        if (n + 4096 + 1 > capn) {
            capn = (n + 4096 + 1) * 2;
            nb = realloc(buf, capn);
            if (!nb) {
                free(buf);
                fclose(f);
                return lsd_fail(err, LSD_ERR_NOMEM, "out of memory reading %s", path);
            }
            buf = nb;
        }
        got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return lsd_fail(err, LSD_ERR_IO, "cannot read %s", path);
    }
    fclose(f);
    buf[n] = 0;
    *text = buf;
    *len = n;
    return LSD_OK;
}

/* 1 if dir holds the first kernel file. */
static int has_kernels(const char *dir)
{
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, lsd_cl_kernel_files[0]);
    f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

/* Finds the kernel folder and concatenates its files (each preceded by a line comment naming
 * it) into *src. */
static int load_sources(char *dir_out, size_t dir_cap, char **src, lsd_err *err)
{
    const char *env = getenv("LSD_CL_DIR"), *dir = NULL;
    char *all = NULL, *nb;
    size_t len = 0;
    int i, rc;
    *src = NULL;
    if (env && *env) {
        if (!has_kernels(env))
            return lsd_fail(err, LSD_ERR_IO,
                            "the OpenCL kernel sources are not in LSD_CL_DIR=%s (no %s there); "
                            "point LSD_CL_DIR at the repository's opencl/kernels folder",
                            env, lsd_cl_kernel_files[0]);
        dir = env;
    } else if (has_kernels(LSD_CL_DIR)) {
        dir = LSD_CL_DIR;
    } else if (has_kernels(LSD_CL_INSTALL_DIR)) {
        dir = LSD_CL_INSTALL_DIR;
    } else {
        return lsd_fail(err, LSD_ERR_IO,
                        "the OpenCL kernel sources (%s ...) are neither in %s nor in %s; run "
                        "from the repository root or set LSD_CL_DIR to the opencl/kernels folder",
                        lsd_cl_kernel_files[0], LSD_CL_DIR, LSD_CL_INSTALL_DIR);
    }
    snprintf(dir_out, dir_cap, "%s", dir);
    for (i = 0; lsd_cl_kernel_files[i]; i++) {
        char path[1024], *text;
        size_t n = 0, head;
        snprintf(path, sizeof path, "%s/%s", dir, lsd_cl_kernel_files[i]);
        if ((rc = read_text(path, &text, &n, err)) != LSD_OK) {
            free(all);
            lsd_err_prefix(err, "OpenCL kernels (LSD_CL_DIR)");
            return rc;
        }
        head = strlen(lsd_cl_kernel_files[i]) + 16;
        nb = realloc(all, len + head + n + 2);
        if (!nb) {
            free(text);
            free(all);
            return lsd_fail(err, LSD_ERR_NOMEM, "out of memory reading the OpenCL kernels");
        }
        all = nb;
        len += (size_t)sprintf(all + len, "// ---- %s\n", lsd_cl_kernel_files[i]);
        memcpy(all + len, text, n);
        len += n;
        all[len++] = '\n';
        all[len] = 0;
        free(text);
    }
    *src = all;
    return LSD_OK;
}

/* Chooses the GEMM tiles: $LSD_CL_GEMM="TM,TN,TK,RM,RN" if set and valid, else 64x64x16 with
 * 4x4 micro-tiles (256 work-items), smaller where the device allows fewer work-items. */
static void choose_tiles(lsd_cl *cl)
{
    const char *env = getenv("LSD_CL_GEMM");
    int t[5];
    cl->gemm_tm = 64; cl->gemm_tn = 64; cl->gemm_tk = 16; cl->gemm_rm = 4; cl->gemm_rn = 4;
    if (env && sscanf(env, "%d,%d,%d,%d,%d", &t[0], &t[1], &t[2], &t[3], &t[4]) == 5 &&
        t[0] > 0 && t[1] > 0 && t[2] > 0 && t[3] > 0 && t[4] > 0 && t[0] % t[3] == 0 &&
        t[1] % t[4] == 0 && t[0] <= 256 && t[1] <= 256 && t[2] <= 64) {
        int nt = (t[0] / t[3]) * (t[1] / t[4]);
        if ((t[2] * t[0]) % nt == 0 && (t[2] * t[1]) % nt == 0 && (size_t)nt <= cl->max_wg) {
            cl->gemm_tm = t[0]; cl->gemm_tn = t[1]; cl->gemm_tk = t[2];
            cl->gemm_rm = t[3]; cl->gemm_rn = t[4];
            return;
        }
    }
    if (cl->max_wg < 256) {
        cl->gemm_tm = 32; cl->gemm_tn = 32; cl->gemm_tk = 16; /* 64 work-items */
        if (cl->max_wg < 64) { cl->gemm_tm = 16; cl->gemm_tn = 16; } /* 16 */
    }
}

/* Sets up platform, device, context and queue. */
static int open_device(lsd_cl *cl, int platform, int device, lsd_err *err)
{
    cl_platform_id *ps;
    cl_device_id *ds;
    cl_uint np, nd;
    cl_int rc;
    cl_device_type t = 0;
    cl_ulong lm = 0, gm = 0;
    int st;
    if ((st = get_platforms(&ps, &np, err)) != LSD_OK) return st;
    if (platform < 0 || (cl_uint)platform >= np) {
        free(ps);
        return lsd_fail(err, LSD_ERR_ARG,
                        "OpenCL platform %d does not exist (there %s %u, numbered from 0; "
                        "'lsdseg devices' lists them)", platform, np == 1 ? "is" : "are", np);
    }
    cl->platform = ps[platform];
    free(ps);
    if ((st = get_devices(cl->platform, &ds, &nd, err)) != LSD_OK) return st;
    if (device < 0 || (cl_uint)device >= nd) {
        free(ds);
        return lsd_fail(err, LSD_ERR_ARG,
                        "OpenCL platform %d has no device %d (it has %u, numbered from 0; "
                        "'lsdseg devices' lists them)", platform, device, nd);
    }
    cl->device = ds[device];
    free(ds);
    cl->platform_index = platform;
    cl->device_index = device;
    plat_str(cl->platform, CL_PLATFORM_NAME, cl->platform_name, sizeof cl->platform_name);
    dev_str(cl->device, CL_DEVICE_NAME, cl->device_name, sizeof cl->device_name);
    dev_str(cl->device, CL_DEVICE_VERSION, cl->device_version, sizeof cl->device_version);
    clGetDeviceInfo(cl->device, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof cl->max_wg, &cl->max_wg,
                    NULL);
    clGetDeviceInfo(cl->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lm, &lm, NULL);
    clGetDeviceInfo(cl->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gm, &gm, NULL);
    cl->is_gpu = (t & CL_DEVICE_TYPE_GPU) != 0;
    cl->local_mem = lm;
    cl->global_mem = gm;
    if (cl->max_wg < 1) cl->max_wg = 1;
    cl->ctx = clCreateContext(NULL, 1, &cl->device, NULL, NULL, &rc);
    if (!cl->ctx)
        return lsd_fail(err, LSD_ERR_NOTFOUND, "clCreateContext on %s failed (%s, %d)",
                        cl->device_name, lsd_cl_error_name(rc), (int)rc);
    cl->queue = clCreateCommandQueue(cl->ctx, cl->device, 0, &rc);
    if (!cl->queue)
        return lsd_fail(err, LSD_ERR_NOTFOUND, "clCreateCommandQueue on %s failed (%s, %d)",
                        cl->device_name, lsd_cl_error_name(rc), (int)rc);
    return LSD_OK;
}

/* Builds src and creates the kernels; a failed build reports the (truncated) build log. */
static int build(lsd_cl *cl, const char *src, lsd_err *err)
{
    char opts[512];
    cl_int rc;
    cl_device_fp_config fp = 0;
    size_t red = 1, wg;
    int i;
    choose_tiles(cl);
again:
    clGetDeviceInfo(cl->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    snprintf(opts, sizeof opts,
             "-cl-std=CL1.2 -DGEMM_TM=%d -DGEMM_TN=%d -DGEMM_TK=%d -DGEMM_RM=%d -DGEMM_RN=%d "
             "-DLOSS_BLOCKS=%d%s",
             cl->gemm_tm, cl->gemm_tn, cl->gemm_tk, cl->gemm_rm, cl->gemm_rn, LOSS_BLOCKS,
             (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT)
                 ? " -cl-fp32-correctly-rounded-divide-sqrt" : "");
    cl->program = clCreateProgramWithSource(cl->ctx, 1, &src, NULL, &rc);
    if (!cl->program)
        return lsd_fail(err, LSD_ERR_FORMAT, "clCreateProgramWithSource failed (%s, %d)",
                        lsd_cl_error_name(rc), (int)rc);
    rc = clBuildProgram(cl->program, 1, &cl->device, opts, NULL, NULL);
    if (rc != CL_SUCCESS) {
        char log[640];
        size_t got = 0, n;
        log[0] = 0;
        /* the start of the log holds the first error; keep as much as the message allows */
        if (clGetProgramBuildInfo(cl->program, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL,
                                  &got) == CL_SUCCESS && got > 0) {
            char *full = malloc(got + 1);
            if (full && clGetProgramBuildInfo(cl->program, cl->device, CL_PROGRAM_BUILD_LOG,
                                              got, full, NULL) == CL_SUCCESS) {
                full[got] = 0;
                n = strlen(full);
                if (n >= sizeof log) {
                    memcpy(log, full, sizeof log - 17);
                    strcpy(log + sizeof log - 17, "\n[log truncated]");
                } else {
                    memcpy(log, full, n + 1);
                }
            }
            free(full);
        }
        printable(log);
        return lsd_fail(err, LSD_ERR_FORMAT,
                        "building the OpenCL kernels from %s for %s failed (%s, %d); build "
                        "log:\n%s", cl->source_dir[0] ? cl->source_dir : "the given source",
                        cl->device_name, lsd_cl_error_name(rc), (int)rc,
                        log[0] ? log : "(empty)");
    }
    for (i = 0; i < LSD_K_COUNT; i++) {
        cl->k[i] = clCreateKernel(cl->program, kernel_names[i], &rc);
        if (!cl->k[i])
            return lsd_fail(err, LSD_ERR_FORMAT,
                            "the OpenCL program has no kernel '%s' (%s, %d): are the files in "
                            "%s complete?", kernel_names[i], lsd_cl_error_name(rc), (int)rc,
                            cl->source_dir[0] ? cl->source_dir : "the given source");
    }
    /* the reductions' work-group: the largest power of two <= 256 every reduction allows */
    wg = cl->max_wg < 256 ? cl->max_wg : 256;
    {
        const lsd_cl_kernel rk[] = {LSD_K_BIAS_GRAD, LSD_K_INORM_FWD, LSD_K_INORM_BWD,
                                    LSD_K_BLOCK_SUM};
        for (i = 0; i < 4; i++) {
            size_t kw = 0;
            if (clGetKernelWorkGroupInfo(cl->k[rk[i]], cl->device, CL_KERNEL_WORK_GROUP_SIZE,
                                         sizeof kw, &kw, NULL) == CL_SUCCESS && kw > 0 && kw < wg)
                wg = kw;
        }
    }
    while (red * 2 <= wg) red *= 2;
    cl->red_local = red;
    {
        size_t kw = 0, need = (size_t)(cl->gemm_tm / cl->gemm_rm) * (cl->gemm_tn / cl->gemm_rn);
        if (clGetKernelWorkGroupInfo(cl->k[LSD_K_GEMM], cl->device, CL_KERNEL_WORK_GROUP_SIZE,
                                     sizeof kw, &kw, NULL) == CL_SUCCESS && kw > 0 && kw < need &&
            cl->gemm_tm > cl->gemm_rm * 4 && cl->gemm_tn > cl->gemm_rn * 4) {
            /* the compiled gemm cannot run groups that large (registers): halve the tiles */
            for (i = 0; i < LSD_K_COUNT; i++)
                if (cl->k[i]) clReleaseKernel(cl->k[i]);
            memset(cl->k, 0, sizeof cl->k);
            clReleaseProgram(cl->program);
            cl->program = NULL;
            cl->gemm_tm /= 2;
            cl->gemm_tn /= 2;
            red = 1;
            goto again;
        }
        if (kw > 0 && kw < need)
            return lsd_fail(err, LSD_ERR_ARG,
                            "the gemm kernel allows %lu work-items per group on %s but its tiles "
                            "need %lu; set LSD_CL_GEMM=TM,TN,TK,RM,RN to smaller tiles",
                            (unsigned long)kw, cl->device_name, (unsigned long)need);
    }
    return LSD_OK;
}

/* Opens a device and builds src (or the files when src is NULL). */
static int open_common(lsd_cl *cl, int platform, int device, const char *src, lsd_err *err)
{
    char *text = NULL;
    int rc;
    memset(cl, 0, sizeof *cl);
    if (!src) {
        rc = load_sources(cl->source_dir, sizeof cl->source_dir, &text, err);
        if (rc != LSD_OK) return rc;
        src = text;
    }
    rc = open_device(cl, platform, device, err);
    if (rc == LSD_OK) rc = build(cl, src, err);
    if (rc == LSD_OK) rc = lsd_clbuf_alloc(cl, &cl->part, LSD_CL_PART, 4, err);
    free(text);
    if (rc != LSD_OK) lsd_cl_close(cl);
    return rc;
}

int lsd_cl_open(lsd_cl *cl, int platform, int device, lsd_err *err)
{
    return open_common(cl, platform, device, NULL, err);
}

int lsd_cl_open_source(lsd_cl *cl, int platform, int device, const char *source, lsd_err *err)
{
    if (!source) return lsd_fail(err, LSD_ERR_ARG, "lsd_cl_open_source: no source");
    return open_common(cl, platform, device, source, err);
}

void lsd_cl_close(lsd_cl *cl)
{
    int i;
    if (!cl) return;
    if (cl->queue) clFinish(cl->queue);
    lsd_clbuf_free(&cl->scratch);
    lsd_clbuf_free(&cl->part);
    for (i = 0; i < LSD_K_COUNT; i++)
        if (cl->k[i]) clReleaseKernel(cl->k[i]);
    if (cl->program) clReleaseProgram(cl->program);
    if (cl->queue) clReleaseCommandQueue(cl->queue);
    if (cl->ctx) clReleaseContext(cl->ctx);
    memset(cl, 0, sizeof *cl);
}

int lsd_cl_finish(lsd_cl *cl, lsd_err *err)
{
    cl_int rc = clFinish(cl->queue);
    if (rc != CL_SUCCESS)
        return lsd_fail(err, LSD_ERR_IO, "clFinish on %s failed (%s, %d)", cl->device_name,
                        lsd_cl_error_name(rc), (int)rc);
    return LSD_OK;
}

int lsd_clbuf_alloc(lsd_cl *cl, lsd_clbuf *b, size_t n, size_t esize, lsd_err *err)
{
    size_t bytes;
    cl_int rc;
    memset(b, 0, sizeof *b);
    b->esize = esize;
    if (n > 0x7fffffffUL || lsd_mul_size(n ? n : 1, esize, &bytes))
        return lsd_fail(err, LSD_ERR_RANGE,
                        "OpenCL buffer of %lu elements is too large (the kernels index with "
                        "32-bit integers)", (unsigned long)n);
    b->mem = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    if (!b->mem)
        return lsd_fail(err, LSD_ERR_NOMEM, "clCreateBuffer of %lu bytes on %s failed (%s, %d)",
                        (unsigned long)bytes, cl->device_name, lsd_cl_error_name(rc), (int)rc);
    b->n = n;
    return LSD_OK;
}

void lsd_clbuf_free(lsd_clbuf *b)
{
    if (!b) return;
    if (b->mem && !b->is_view) clReleaseMemObject(b->mem);
    b->mem = NULL;
    b->n = 0;
    b->off = 0;
}

lsd_clbuf lsd_clbuf_view(const lsd_clbuf *parent, size_t off, size_t n)
{
    lsd_clbuf v;
    v = *parent;
    v.off = parent->off + off;
    v.n = n;
    v.is_view = 1;
    return v;
}

/* Checks that [off, off+n) lies in b. */
static int check_range(const lsd_clbuf *b, size_t off, size_t n, const char *what, lsd_err *err)
{
    if (!b || !b->mem || off > b->n || n > b->n - off)
        return lsd_fail(err, LSD_ERR_RANGE, "%s: elements [%lu, %lu) outside a buffer of %lu",
                        what, (unsigned long)off, (unsigned long)(off + n),
                        (unsigned long)(b && b->mem ? b->n : 0));
    return LSD_OK;
}

int lsd_clbuf_write(lsd_cl *cl, lsd_clbuf *b, size_t off, const void *src, size_t n,
                    lsd_err *err)
{
    cl_int rc;
    int st = check_range(b, off, n, "lsd_clbuf_write", err);
    if (st != LSD_OK || n == 0) return st;
    rc = clEnqueueWriteBuffer(cl->queue, b->mem, CL_TRUE, (b->off + off) * b->esize, n * b->esize, src, 0,
                              NULL, NULL);
    if (rc != CL_SUCCESS)
        return lsd_fail(err, LSD_ERR_IO, "clEnqueueWriteBuffer failed (%s, %d)",
                        lsd_cl_error_name(rc), (int)rc);
    return LSD_OK;
}

int lsd_clbuf_read(lsd_cl *cl, const lsd_clbuf *b, size_t off, void *dst, size_t n,
                   lsd_err *err)
{
    cl_int rc;
    int st = check_range(b, off, n, "lsd_clbuf_read", err);
    if (st != LSD_OK || n == 0) return st;
    rc = clEnqueueReadBuffer(cl->queue, b->mem, CL_TRUE, (b->off + off) * b->esize, n * b->esize, dst, 0,
                             NULL, NULL);
    if (rc != CL_SUCCESS)
        return lsd_fail(err, LSD_ERR_IO, "clEnqueueReadBuffer failed (%s, %d)",
                        lsd_cl_error_name(rc), (int)rc);
    return LSD_OK;
}

int lsd_clbuf_fill(lsd_cl *cl, lsd_clbuf *b, size_t off, size_t n, float value, lsd_err *err)
{
    int o = (int)(b->off + off), st = check_range(b, off, n, "lsd_clbuf_fill", err);
    if (st != LSD_OK || n == 0) return st;
    if (b->esize != sizeof(float))
        return lsd_fail(err, LSD_ERR_ARG, "lsd_clbuf_fill: not a float buffer");
    if ((st = lsd_cl_arg(cl, LSD_K_FILL, 0, sizeof(cl_mem), &b->mem, err)) != LSD_OK ||
        (st = lsd_cl_arg(cl, LSD_K_FILL, 1, sizeof(int), &o, err)) != LSD_OK ||
        (st = lsd_cl_arg(cl, LSD_K_FILL, 2, sizeof(float), &value, err)) != LSD_OK)
        return st;
    return lsd_cl_launch1(cl, LSD_K_FILL, n, 0, "fill", err);
}

int lsd_clbuf_from_host(lsd_cl *cl, lsd_clbuf *b, const float *src, size_t n, lsd_err *err)
{
    int rc = lsd_clbuf_alloc(cl, b, n, sizeof(float), err);
    if (rc == LSD_OK && (rc = lsd_clbuf_write(cl, b, 0, src, n, err)) != LSD_OK)
        lsd_clbuf_free(b);
    return rc;
}

int lsd_cl_scratch(lsd_cl *cl, size_t n, lsd_err *err)
{
    if (cl->scratch.mem && cl->scratch.n >= n) return LSD_OK;
    lsd_clbuf_free(&cl->scratch);
    return lsd_clbuf_alloc(cl, &cl->scratch, n + n / 4 + 64, sizeof(float), err);
}

int lsd_cl_arg(lsd_cl *cl, lsd_cl_kernel k, int index, size_t size, const void *value,
               lsd_err *err)
{
    cl_int rc = clSetKernelArg(cl->k[k], (cl_uint)index, size, value);
    if (rc != CL_SUCCESS)
        return lsd_fail(err, LSD_ERR_ARG, "clSetKernelArg(%s, %d) failed (%s, %d)",
                        kernel_names[k], index, lsd_cl_error_name(rc), (int)rc);
    return LSD_OK;
}

/* Enqueues kernel k over dims dimensions. */
static int launch(lsd_cl *cl, lsd_cl_kernel k, cl_uint dims, const size_t *g, const size_t *l,
                  const char *what, lsd_err *err)
{
    cl_int rc = clEnqueueNDRangeKernel(cl->queue, cl->k[k], dims, NULL, g, l, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return lsd_fail(err, rc == CL_MEM_OBJECT_ALLOCATION_FAILURE || rc == CL_OUT_OF_RESOURCES
                                 ? LSD_ERR_NOMEM : LSD_ERR_ARG,
                        "%s: launching kernel %s on %s failed (%s, %d)", what, kernel_names[k],
                        cl->device_name, lsd_cl_error_name(rc), (int)rc);
    return LSD_OK;
}

int lsd_cl_launch1(lsd_cl *cl, lsd_cl_kernel k, size_t global, size_t local, const char *what,
                   lsd_err *err)
{
    if (global == 0) return LSD_OK;
    return launch(cl, k, 1, &global, local ? &local : NULL, what, err);
}

int lsd_cl_launch2(lsd_cl *cl, lsd_cl_kernel k, size_t g0, size_t g1, size_t l0, size_t l1,
                   const char *what, lsd_err *err)
{
    size_t g[2], l[2];
    if (g0 == 0 || g1 == 0) return LSD_OK;
    g[0] = g0; g[1] = g1; l[0] = l0; l[1] = l1;
    return launch(cl, k, 2, g, l0 ? l : NULL, what, err);
}
