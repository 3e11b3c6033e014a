/*
 * main.c - the lsdseg command: dispatches to the subcommands in ref/cmd_*.c.
 */
#include <stdio.h>
#include <string.h>

#include "../tensor/common.h"
#include "commands.h"

const lsd_command lsd_commands[] = {
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

int main(int argc, char **argv)
{
    int i;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("lsdseg %s (real = %s, threads = %d)\n", LSD_VERSION, LSD_PRECISION_NAME,
               lsd_num_threads());
        return 0;
    }
    for (i = 0; lsd_commands[i].name; i++)
        if (!strcmp(argv[1], lsd_commands[i].name)) return lsd_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "lsdseg: unknown command '%s' (run 'lsdseg --help' for the list)\n", argv[1]);
    return 2;
}
