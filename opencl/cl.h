/*
 * cl.h - the OpenCL runtime of lsdseg's optional device backend (make OPENCL=1).
 *
 * An lsd_cl context, owned by the caller, holds everything: the platform and
 * device chosen by index, the OpenCL context and in-order queue, the program
 * built at run time from the kernel sources in opencl/kernels (*.cl), one
 * cl_kernel per kernel, the GEMM tile sizes chosen for the device, and a
 * scratch buffer the losses use for their block partial sums. There is no
 * global state: two contexts may coexist.
 *
 * Kernel sources are read from the folder $LSD_CL_DIR, else LSD_CL_DIR (a
 * compile-time default, "opencl/kernels" relative to the working directory),
 * else LSD_CL_INSTALL_DIR ("/usr/local/share/lsdseg/kernels"). The files of
 * lsd_cl_kernel_files are concatenated in that order and built as one program.
 *
 * Device buffers are lsd_clbuf: a cl_mem with its element count and element
 * size. The device computes in float32 only: this header refuses a
 * PRECISION=double build.
 */
#ifndef LSD_OPENCL_CL_H
#define LSD_OPENCL_CL_H

#include <stddef.h>
#include "../tensor/common.h"
#include "../layers/loss.h"

#ifdef LSD_DOUBLE
#error "the OpenCL backend computes in float32 only: build it with OPENCL=1 PRECISION=float"
#endif

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#ifdef __APPLE__
#include <OpenCL/opencl.h>
#else
#include <CL/cl.h>
#endif

#ifndef LSD_CL_DIR
#define LSD_CL_DIR "opencl/kernels"
#endif
#ifndef LSD_CL_INSTALL_DIR
#define LSD_CL_INSTALL_DIR "/usr/local/share/lsdseg/kernels"
#endif

/* The kernels of the program, in the order of lsd_cl_kernel_names (cl.c). */
typedef enum {
    LSD_K_GEMM = 0,
    LSD_K_IM2COL,
    LSD_K_COL2IM,
    LSD_K_ADD_BIAS,
    LSD_K_BIAS_GRAD,
    LSD_K_MAXPOOL_FWD,
    LSD_K_MAXPOOL_BWD,
    LSD_K_RELU_FWD,
    LSD_K_RELU_BWD,
    LSD_K_LEAKY_FWD,
    LSD_K_LEAKY_BWD,
    LSD_K_SIGMOID_FWD,
    LSD_K_SIGMOID_BWD,
    LSD_K_DROPOUT_MASK,
    LSD_K_DROPOUT_FWD,
    LSD_K_DROPOUT_BWD,
    LSD_K_DROPOUT2D_FWD,
    LSD_K_DROPOUT2D_BWD,
    LSD_K_CROP_FWD,
    LSD_K_CROP_BWD,
    LSD_K_CONCAT_FWD,
    LSD_K_CONCAT_BWD,
    LSD_K_INORM_FWD,
    LSD_K_INORM_BWD,
    LSD_K_LABEL_SCAN,
    LSD_K_CE_PIXEL,
    LSD_K_L1_ELEM,
    LSD_K_BLOCK_SUM,
    LSD_K_ADAM,
    LSD_K_FILL,
    LSD_K_AXPY,
    LSD_K_ADD,
    LSD_K_COUNT
} lsd_cl_kernel;

/* A device buffer: n elements of esize bytes (float: 4, int32: 4, uint8: 1) starting at
 * element off of mem. A view (lsd_clbuf_view) shares its parent's cl_mem and is not freed;
 * every kernel takes each buffer as (cl_mem, element offset), so views cost nothing. */
typedef struct {
    cl_mem mem;
    size_t off;
    size_t n;
    size_t esize;
    int is_view;
} lsd_clbuf;

typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    cl_context ctx;
    cl_command_queue queue;
    cl_program program;
    cl_kernel k[LSD_K_COUNT];
    int platform_index, device_index;
    char platform_name[128], device_name[128], device_version[128];
    int is_gpu;
    size_t max_wg;             /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    unsigned long long local_mem, global_mem;
    /* GEMM tiles (build defines): a work-group computes a TM x TN tile of C from K panels of
     * depth TK; each of its (TM/RM)*(TN/RN) work-items computes an RM x RN micro-tile. */
    int gemm_tm, gemm_tn, gemm_tk, gemm_rm, gemm_rn;
    size_t red_local;          /* work-group size of the tree reductions (power of two) */
    lsd_clbuf scratch;         /* floats, grows on demand (per-pixel losses) */
    lsd_clbuf part;            /* LSD_CL_PART 4-byte words: block partial sums, label counts */
    char source_dir[512];      /* where the kernels were read from ("" for a given source) */
} lsd_cl;

/* One device as lsd_cl_list_devices reports it. */
typedef struct {
    int platform, device; /* the indices --cl-platform and --cl-device take */
    char platform_name[128], platform_version[128];
    char device_name[128], device_version[128], driver_version[64], type[16];
    unsigned compute_units;
    unsigned long long global_mem, local_mem;
    size_t max_wg;
} lsd_cl_devinfo;

/* The kernel source files, in build order, NULL-terminated. */
extern const char *const lsd_cl_kernel_files[];

/* Fills up to cap entries of out with every device of every platform and sets *count to
 * the total. No platform at all is LSD_ERR_NOTFOUND with a message saying how to get one. */
int lsd_cl_list_devices(lsd_cl_devinfo *out, int cap, int *count, lsd_err *err);

/* Opens device `device` of platform `platform` (indices as listed), reads the kernel
 * sources (see above) and builds them. A build failure gives LSD_ERR_FORMAT with the
 * build log (truncated to fit) in the message. On failure nothing stays allocated. */
int lsd_cl_open(lsd_cl *cl, int platform, int device, lsd_err *err);
/* The same with the program source given as text (tests; a deliberately broken source
 * exercises the build-failure path). */
int lsd_cl_open_source(lsd_cl *cl, int platform, int device, const char *source,
                       lsd_err *err);
/* Releases everything (safe on a zeroed or failed context). */
void lsd_cl_close(lsd_cl *cl);
/* Waits until every queued command has finished. */
int lsd_cl_finish(lsd_cl *cl, lsd_err *err);
/* A short name for an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *lsd_cl_error_name(cl_int code);

/* Words of cl->part: the losses' block partials (LOSS_BLOCKS sums, then as many counts and
 * first-bad indices; layers/loss.h), rounded up to 4 * LOSS_BLOCKS. */
#define LSD_CL_PART (4 * LOSS_BLOCKS)

/* Buffers. alloc gives an uninitialised buffer of n elements (at least one is allocated);
 * write/read copy n elements at element offset off; fill sets n float elements from off. */
int lsd_clbuf_alloc(lsd_cl *cl, lsd_clbuf *b, size_t n, size_t esize, lsd_err *err);
void lsd_clbuf_free(lsd_clbuf *b);
int lsd_clbuf_write(lsd_cl *cl, lsd_clbuf *b, size_t off, const void *src, size_t n,
                    lsd_err *err);
int lsd_clbuf_read(lsd_cl *cl, const lsd_clbuf *b, size_t off, void *dst, size_t n,
                   lsd_err *err);
int lsd_clbuf_fill(lsd_cl *cl, lsd_clbuf *b, size_t off, size_t n, float value, lsd_err *err);
/* A view of elements [off, off+n) of parent (which must contain them); never freed. */
lsd_clbuf lsd_clbuf_view(const lsd_clbuf *parent, size_t off, size_t n);
/* Allocates a float buffer of n elements and uploads src (n floats). */
int lsd_clbuf_from_host(lsd_cl *cl, lsd_clbuf *b, const float *src, size_t n, lsd_err *err);
/* Makes cl->scratch hold at least n floats. */
int lsd_cl_scratch(lsd_cl *cl, size_t n, lsd_err *err);

/* Kernel launches. Arguments are given as (size, pointer) pairs through lsd_cl_arg; the
 * launch is 1-D (local 0: the implementation chooses) or 2-D with an explicit local size.
 * `what` names the operation in error messages. */
int lsd_cl_arg(lsd_cl *cl, lsd_cl_kernel k, int index, size_t size, const void *value,
               lsd_err *err);
int lsd_cl_launch1(lsd_cl *cl, lsd_cl_kernel k, size_t global, size_t local, const char *what,
                   lsd_err *err);
int lsd_cl_launch2(lsd_cl *cl, lsd_cl_kernel k, size_t g0, size_t g1, size_t l0, size_t l1,
                   const char *what, lsd_err *err);

#endif
