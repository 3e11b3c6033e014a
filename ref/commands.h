/*
 * commands.h - the subcommands of the lsdseg program. Each cmd_* takes the
 * arguments after its name (argv[0] is the subcommand name) and returns the
 * process exit status. Only ref/ prints or exits.
 */
#ifndef LSD_COMMANDS_H
#define LSD_COMMANDS_H

typedef int (*lsd_command_fn)(int argc, char **argv);

typedef struct {
    const char *name;
    lsd_command_fn fn;
    const char *summary;
} lsd_command;

/* the table lives in main.c; commands are added there */
extern const lsd_command lsd_commands[];

#endif
