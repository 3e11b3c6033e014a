/*
 * main.c - the lsdseg command: dispatches to the subcommands in ref/cmd_*.c.
 */
#include <stdio.h>
#include <string.h>

#include "../layers/conv.h"
#include "../tensor/common.h"
#include "../tensor/gemm.h"
#include "commands.h"
#include "dist.h"

/* one line per subcommand; each cmd_* lives in ref/cmd_<name>.c */
int cmd_info(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_step(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_devices(int argc, char **argv);

const lsd_command lsd_commands[] = {
    {"train", cmd_train, "train LSD-seg or source-only on GTA5/SYNTHIA -> Cityscapes"},
    {"eval", cmd_eval, "mIoU of a checkpoint (authors' protocol) or of label PNGs"},
    {"predict", cmd_predict, "label-id and colour PNGs of images"},
    {"demo", cmd_demo, "source-only vs LSD vs oracle on the built-in synthetic domains"},
    {"step", cmd_step, "one training iteration on a case file (the oracle for ports)"},
    {"forward", cmd_forward, "forward intermediates of F, C, G, D on a case file"},
    {"info", cmd_info, "tensors, shapes and configuration of a safetensors file"},
    {"diff", cmd_diff, "compare the tensors of two safetensors files (checking a port)"},
    {"image", cmd_image, "header of a PNG file; --out writes its samples as a tensor"},
    {"devices", cmd_devices, "OpenCL platforms and devices (--cl-platform/--cl-device indices)"},
    {NULL, NULL, NULL}
};

static void usage(FILE *f)
{
    int i;
    fprintf(f,
            "lsdseg %s - LSD-seg (Sankaranarayanan et al., CVPR 2018) in portable C99\n"
            "\n"
            "usage: lsdseg COMMAND [OPTIONS]   (lsdseg COMMAND --help for its options)\n"
            "\n"
            "commands:\n",
            LSD_VERSION);
    for (i = 0; lsd_commands[i].name; i++)
        fprintf(f, "  %-10s %s\n", lsd_commands[i].name, lsd_commands[i].summary);
    fprintf(f,
            "\n"
            "options:\n"
            "  --help     this text\n"
            "  --version  version and build configuration\n");
}

/* Runs command i; in a build with MPI (ref/dist.h) inside MPI_Init .. MPI_Finalize, and only
 * train and eval run as several processes (mpirun -np K). */
static int run_command(int i, int argc, char **argv)
{
    const char *name = lsd_commands[i].name;
    int rc;
    if (!dist_built()) return lsd_commands[i].fn(argc, argv);
    if (dist_start()) return 1;
    if (dist_world()->size > 1 && strcmp(name, "train") && strcmp(name, "eval")) {
        if (dist_world()->rank == 0)
            fprintf(stderr, "lsdseg %s runs as one process: start it without mpirun (only "
                    "train and eval split their work over processes)\n", name);
        dist_stop();
        return 2;
    }
    rc = lsd_commands[i].fn(argc, argv);
    dist_stop();
    return rc;
}

int main(int argc, char **argv)
{
    int i;
    lsd_err err;
    /* the switches that force a code path (tests, benchmarks) must name one that exists */
    if (gemm_check_env(&err) || conv_check_env(&err)) {
        fprintf(stderr, "lsdseg: %s\n", err.msg);
        return 2;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("lsdseg %s (real = %s, threads = %d, gemm kernel %s, direct convolutions: few "
               "channels %s, every width %s%s)\n",
               LSD_VERSION, LSD_PRECISION_NAME, lsd_num_threads(), gemm_kernel_name(),
               conv_direct_on() ? "on" : "off", conv_wide_ckk_max() > 0 && conv_wide_on() ? "on" : "off",
               dist_built() ? ", MPI" : "");
        return 0;
    }
    for (i = 0; lsd_commands[i].name; i++)
        if (!strcmp(argv[1], lsd_commands[i].name)) return run_command(i, argc - 1, argv + 1);
    fprintf(stderr, "lsdseg: unknown command '%s' (run 'lsdseg --help' for the list)\n", argv[1]);
    return 2;
}
