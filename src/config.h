/* Configuration: a key = value file, then SHAREKEEP_<KEY> environment
 * overrides, then validation. Everything is checked once at start (and on
 * SIGHUP) so a bad value fails loudly instead of at the first request. */
#ifndef SHAREKEEP_CONFIG_H
#define SHAREKEEP_CONFIG_H

#include <stddef.h>

#include "log.h"

struct config {
    char *listen;           /* "unix:/path" or "host:port" */
    unsigned socket_mode;   /* for unix sockets */
    int workers;
    char *database;         /* libpq conninfo, passed through */
    char *keyring;          /* key file path */
    char *webhooks_root;    /* "/webhook": no trailing slash */
    size_t max_body;
    char *sql_dir;
    enum log_level log_level;
};

/* Loads defaults, then path (may be NULL: no file), then overrides from envp
 * (NULL-terminated "NAME=value" array; may be NULL), then validates. On
 * failure err gets one line naming the key or file and the problem. */
int config_load(const char *path, char *const *envp, struct config *out,
                char *err, size_t errlen);

/* Same as config_load, but from an in-memory file text (for tests). */
int config_load_text(const char *text, size_t len, const char *name, char *const *envp,
                     struct config *out, char *err, size_t errlen);

void config_free(struct config *cfg);

#endif
