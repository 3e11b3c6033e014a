/* cmd_image.c - placeholder until the 'image' command lands: says so and fails. */
#include <stdio.h>

int cmd_image(int argc, char **argv);

int cmd_image(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "lsdseg image: not implemented yet\n");
    return 2;
}
