/* cmd_info.c - placeholder until the 'info' command lands: says so and fails. */
#include <stdio.h>

int cmd_info(int argc, char **argv);

int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "lsdseg info: not implemented yet\n");
    return 2;
}
