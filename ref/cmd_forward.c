/* cmd_forward.c - placeholder until the 'forward' command lands: says so and fails. */
#include <stdio.h>

int cmd_forward(int argc, char **argv);

int cmd_forward(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "lsdseg forward: not implemented yet\n");
    return 2;
}
