/* cmd_step.c - placeholder until the 'step' command lands: says so and fails. */
#include <stdio.h>

int cmd_step(int argc, char **argv);

int cmd_step(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "lsdseg step: not implemented yet\n");
    return 2;
}
