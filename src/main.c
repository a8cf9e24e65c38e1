#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "app.h"
#include "config.h"
#include "keyring.h"
#include "log.h"
#include "migrate.h"
#include "server.h"
#include "usage.h"

extern char **environ;

static int load_config(const char *path, struct config *cfg)
{
    char err[512];

    if (config_load(path, environ, cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "sharekeep: %s\n", err);
        return -1;
    }
    log_set_level(cfg->log_level);
    return 0;
}

static int load_all(const char *path, struct app_loaded *l)
{
    char err[512];

    if (app_load(path, l, err, sizeof(err)) != 0) {
        fprintf(stderr, "sharekeep: %s\n", err);
        return -1;
    }
    log_set_level(l->cfg.log_level);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_path = getenv("SHAREKEEP_CONFIG");
    const char *cmd;
    struct app_loaded l;
    struct config cfg;
    int c, rc;

    /* As CGI, argv may carry a query string: never treat it as options. */
    if (server_is_cgi()) {
        if (load_all(config_path, &l) != 0) {
            fputs("Status: 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                  "Cache-Control: no-store\r\nRetry-After: 30\r\n\r\n"
                  "{\"error\":{\"code\":\"unavailable\",\"message\":\"misconfigured\"}}", stdout);
            return 1;
        }
        rc = server_run_cgi(&l);
        app_loaded_free(&l);
        return rc;
    }

    while ((c = getopt_long(argc, argv, "+c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'V': printf("sharekeep %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage_all(stdout); return 0;
        default: usage_all(stderr); return 2;
        }
    }
    cmd = optind < argc ? argv[optind++] : "serve";
    if (strcmp(cmd, "help") == 0) {
        if (optind < argc)
            return usage_command(stdout, argv[optind]) == 0 ? 0 : 2;
        usage_all(stdout);
        return 0;
    }
    if (usage_wants_help(argc - optind + 1, argv + optind - 1)) {
        if (usage_command(stdout, cmd) == 0)
            return 0;
        fprintf(stderr, "sharekeep: unknown command '%s'\n", cmd);
        return 2;
    }

    if (strcmp(cmd, "keygen") == 0) {
        char err[512];
        if (optind != argc - 1) {
            usage_command(stderr, "keygen");
            return 2;
        }
        if (keyring_file_create(argv[optind], err, sizeof(err)) != KEYRING_OK) {
            fprintf(stderr, "sharekeep: %s\n", err);
            return 1;
        }
        printf("wrote %s (one active KEK, mode 0600)\n", argv[optind]);
        return 0;
    }
    if (admin_dispatch(config_path, cmd, argc - optind + 1, argv + optind - 1, &rc))
        return rc;
    if (optind != argc) {
        if (usage_command(stderr, cmd) != 0)
            usage_all(stderr);
        return 2;
    }
    if (strcmp(cmd, "serve") == 0) {
        if (load_all(config_path, &l) != 0)
            return 1;
        return server_run(config_path, &l);
    }
    if (strcmp(cmd, "migrate") == 0) {
        if (load_config(config_path, &cfg) != 0)
            return 1;
        rc = migrate_run(&cfg);
        config_free(&cfg);
        return rc;
    }
    if (strcmp(cmd, "check") == 0) {
        if (load_all(config_path, &l) != 0)
            return 1;
        printf("config, keyring and auth files OK (active KEK %u, %zu keys)\n",
               keyring_active_id(l.kr), keyring_count(l.kr));
        app_loaded_free(&l);
        return 0;
    }
    fprintf(stderr, "sharekeep: unknown command '%s'\n", cmd);
    usage_all(stderr);
    return 2;
}
