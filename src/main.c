/* sharekeep's entry point: one CGI request, or a command from the table in
 * command.c (serve by default). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "file.h"
#include "keyring.h"
#include "server.h"
#include "usage.h"

/* As CGI, argv may carry a query string: never treat it as options. */
/* The config file when -c names none: $SHAREKEEP_CONFIG, else the
 * installed one ($(sysconfdir)/sharekeep/sharekeep.conf) if it exists,
 * else none (built-in defaults and SHAREKEEP_<KEY> variables only). */
static const char *config_default(void)
{
    const char *env = getenv("SHAREKEEP_CONFIG");

    if (env != NULL && env[0] != '\0')
        return env;
    return access(SHAREKEEP_CONFIG_DEFAULT, F_OK) == 0 ? SHAREKEEP_CONFIG_DEFAULT : NULL;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_path = config_default();
    char **argv_typed = argv;
    const int argc_typed = argc;
    const struct command *command;
    const char *name;
    int c;

    /* Before anything loads a key, so every key lands in the secure heap. */
    (void)secure_heap_start();
    if (server_is_cgi())
        server_run_cgi(config_path);
    while ((c = getopt_long(argc, argv, "+c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'V': printf("sharekeep %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage_all(stdout); return 0;
        default: usage_all(stderr); return 2;
        }
    }
    name = optind < argc ? argv[optind++] : "serve";
    if (strcmp(name, "help") == 0) {
        if (optind < argc)
            return usage_command(stdout, argv[optind]) == 0 ? 0 : 2;
        usage_all(stdout);
        return 0;
    }
    command = command_find(name);
    if (command == NULL) {
        fprintf(stderr, "sharekeep: unknown command '%s'\n", name);
        usage_all(stderr);
        return 2;
    }
    /* A file of the wrong owner is then named with the user to run as. */
    file_set_runner(strcmp(name, "serve") == 0 || strcmp(name, "check") == 0, argc_typed,
                    argv_typed);
    /* The command's own argv, argv[0] its name. */
    argc -= optind - 1;
    argv += optind - 1;
    if (usage_wants_help(argc, argv)) {
        usage_command(stdout, name);
        return 0;
    }
    return command->run(config_path, argc, argv);
}
