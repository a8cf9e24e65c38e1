/* sharekeep's commands, one table (command.c). */
#ifndef SHAREKEEP_COMMAND_H
#define SHAREKEEP_COMMAND_H

#include <stddef.h>

struct command {
    const char *name;
    /* argv[0] is the command name; returns the exit status (2: usage). */
    int (*run)(const char *config_path, int argc, char **argv);
    const char *synopsis;
    const char *summary;
    const char *details;
};

extern const struct command commands[];
extern const size_t ncommands;

/* The command of that name, or NULL. */
const struct command *command_find(const char *name);

#endif
