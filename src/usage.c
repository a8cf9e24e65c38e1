#include <string.h>

#include "command.h"
#include "usage.h"




void usage_all(FILE *f)
{
    fprintf(f, "usage: sharekeep [-c CONFIG] [COMMAND [ARGS]]\n\ncommands:\n");
    for (size_t i = 0; i < ncommands; i++)
        fprintf(f, "  %-48s %s\n", commands[i].synopsis, commands[i].summary);
    fprintf(f,
            "\noptions:\n"
            "  -c, --config FILE   config file (default: $SHAREKEEP_CONFIG, else\n"
            "                      " SHAREKEEP_CONFIG_DEFAULT " if it exists,\n"
            "                      else built-in defaults); SHAREKEEP_<KEY>\n"
            "                      variables override it\n"
            "  -V, --version       print the version\n"
            "  -h, --help          this text; 'sharekeep COMMAND --help' for one command\n"
            "\nAdmin commands (status ... prune) connect with admin_database\n"
            "(default: database). See sharekeep(8).\n");
}

int usage_command(FILE *f, const char *cmd)
{
    const struct command *c = command_find(cmd);

    if (c == NULL)
        return -1;
    fprintf(f, "usage: sharekeep [-c CONFIG] %s\n%s.\n\n%s", c->synopsis, c->summary,
            c->details);
    return 0;
}

int usage_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}
