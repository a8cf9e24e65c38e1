/* Every command's synopsis and description, in one table: the overview,
 * `sharekeep CMD --help` and usage errors all print from here. */
#ifndef SHAREKEEP_USAGE_H
#define SHAREKEEP_USAGE_H

#include <stdio.h>

/* Prints the overview of all commands. */
void usage_all(FILE *f);
/* Prints one command's usage; returns -1 if there is no such command. */
int usage_command(FILE *f, const char *cmd);
/* Whether argv (argc entries, argv[0] the command) asks for --help/-h. */
int usage_wants_help(int argc, char **argv);

#endif
