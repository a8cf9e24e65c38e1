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
    char *admin_database;   /* conninfo for admin commands; "" = database */
    char *keyring;          /* key file path */
    char *pkcs11_module;    /* PKCS#11 module of the token holding KEKs; "" = none */
    char *pkcs11_uri;       /* pkcs11: URI naming that token; "" = no token */
    char *pkcs11_pin_file;  /* the token's user PIN, a 0600 file */
    char *webhooks_root;    /* "/webhook": no trailing slash */
    size_t max_body;
    int fetch_max_shares;   /* custodian fetch: identities answered at most */
    size_t fetch_max_bytes; /* ... and bytes of shares, the newest always */
    int max_versions;       /* versions one identity may hold */
    int audit_retention;    /* days; `sharekeep prune` removes older audit rows */
    int delivery_retention; /* days; ... and older webhook delivery ids */
    int request_timeout;    /* seconds: every request is answered by then */
    int request_timeout_beyond_portal;  /* allow request_timeout >= Portal's 10 s */
    char *sql_dir;
    enum log_level log_level;

    /* Webhook authentication (auth_webhook.h). */
    char *webhook_auth;          /* "standard-webhooks" or "shared-secret" */
    char *webhook_secrets;       /* secrets file, 0600; required to serve */
    char *webhook_secret_header; /* shared-secret mode: header carrying it */
    long webhook_tolerance;      /* seconds, both directions */

    /* Client share endpoints (auth_jwt.h or a trusted header). */
    char *client_auth;           /* "jwt" or "trusted-header" */
    char *jwt_hs256_secret;      /* file, 0600 */
    char *jwt_es256_public_key;  /* PEM file */
    char *jwt_audience;          /* "" = not checked */
    char *jwt_issuer;            /* "" = not checked */
    long jwt_leeway;             /* seconds of clock skew allowed */
    char *trusted_header;        /* e.g. X-Sharekeep-Client */
    char *trusted_peers;         /* FastCGI peers allowed to set it: IPs, "unix", "cgi" */

    char *metrics_allow;         /* HTTP client addresses that may GET /metrics; "" = none */
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

/* The token settings of cfg, for keyring_load_with (pointers into cfg). */
struct keyring_token_config;
void config_token(const struct config *cfg, struct keyring_token_config *tc);

/* A number of days, "N" or "Nd", 1 to RETENTION_DAYS_MAX: the syntax of
 * audit_retention, delivery_retention and `prune --older-than`. 0 or -1. */
int config_parse_days(const char *s, int *days);

#endif
