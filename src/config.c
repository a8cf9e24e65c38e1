#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "bounds.h"
#include "config.h"
#include "file.h"
#include "keyring.h"

#define DEFAULT_LISTEN        "127.0.0.1:9000"
#define DEFAULT_DATABASE      "dbname=sharekeep"
#define DEFAULT_KEYRING       "/etc/sharekeep/keyring"
#define DEFAULT_WEBHOOKS_ROOT "/webhook"

enum key_type { K_STR, K_INT, K_SIZE, K_MODE, K_LEVEL, K_SECONDS, K_BOOL, K_DAYS };

struct key_def {
    const char *name;
    const char *env;
    enum key_type type;
    size_t offset;
    unsigned long long max;    /* K_INT: largest value (the smallest is 1) */
};

#define OFF(field) offsetof(struct config, field)
static const struct key_def keys[] = {
    { "listen",        "SHAREKEEP_LISTEN",        K_STR,   OFF(listen), 0 },
    { "socket_mode",   "SHAREKEEP_SOCKET_MODE",   K_MODE,  OFF(socket_mode), 0 },
    { "workers",       "SHAREKEEP_WORKERS",       K_INT,   OFF(workers), WORKERS_MAX },
    { "database",      "SHAREKEEP_DATABASE",      K_STR,   OFF(database), 0 },
    { "admin_database", "SHAREKEEP_ADMIN_DATABASE", K_STR, OFF(admin_database), 0 },
    { "keyring",       "SHAREKEEP_KEYRING",       K_STR,   OFF(keyring), 0 },
    { "pkcs11_module", "SHAREKEEP_PKCS11_MODULE", K_STR,   OFF(pkcs11_module), 0 },
    { "pkcs11_uri",    "SHAREKEEP_PKCS11_URI",    K_STR,   OFF(pkcs11_uri), 0 },
    { "pkcs11_pin_file", "SHAREKEEP_PKCS11_PIN_FILE", K_STR, OFF(pkcs11_pin_file), 0 },
    { "webhooks_root", "SHAREKEEP_WEBHOOKS_ROOT", K_STR,   OFF(webhooks_root), 0 },
    { "max_body",      "SHAREKEEP_MAX_BODY",      K_SIZE,  OFF(max_body), 0 },
    { "fetch_max_shares", "SHAREKEEP_FETCH_MAX_SHARES", K_INT, OFF(fetch_max_shares),
      FETCH_SHARES_MAX },
    { "fetch_max_bytes", "SHAREKEEP_FETCH_MAX_BYTES", K_SIZE, OFF(fetch_max_bytes), 0 },
    { "max_versions",  "SHAREKEEP_MAX_VERSIONS",  K_INT,   OFF(max_versions), VERSIONS_MAX },
    { "audit_retention", "SHAREKEEP_AUDIT_RETENTION", K_DAYS, OFF(audit_retention), 0 },
    { "delivery_retention", "SHAREKEEP_DELIVERY_RETENTION", K_DAYS, OFF(delivery_retention), 0 },
    { "sql_dir",       "SHAREKEEP_SQL_DIR",       K_STR,   OFF(sql_dir), 0 },
    { "log_level",     "SHAREKEEP_LOG_LEVEL",     K_LEVEL, OFF(log_level), 0 },
    { "webhook_auth",          "SHAREKEEP_WEBHOOK_AUTH",          K_STR, OFF(webhook_auth), 0 },
    { "webhook_secrets",       "SHAREKEEP_WEBHOOK_SECRETS",       K_STR, OFF(webhook_secrets), 0 },
    { "webhook_secret_header", "SHAREKEEP_WEBHOOK_SECRET_HEADER", K_STR, OFF(webhook_secret_header), 0 },
    { "webhook_tolerance",     "SHAREKEEP_WEBHOOK_TOLERANCE",     K_SECONDS, OFF(webhook_tolerance), 0 },
    { "request_timeout",       "SHAREKEEP_REQUEST_TIMEOUT",       K_INT, OFF(request_timeout),
      REQUEST_TIMEOUT_MAX },
    { "request_timeout_beyond_portal", "SHAREKEEP_REQUEST_TIMEOUT_BEYOND_PORTAL", K_BOOL,
      OFF(request_timeout_beyond_portal), 0 },
    { "client_auth",           "SHAREKEEP_CLIENT_AUTH",           K_STR, OFF(client_auth), 0 },
    { "jwt_hs256_secret",      "SHAREKEEP_JWT_HS256_SECRET",      K_STR, OFF(jwt_hs256_secret), 0 },
    { "jwt_es256_public_key",  "SHAREKEEP_JWT_ES256_PUBLIC_KEY",  K_STR, OFF(jwt_es256_public_key), 0 },
    { "jwt_audience",          "SHAREKEEP_JWT_AUDIENCE",          K_STR, OFF(jwt_audience), 0 },
    { "jwt_issuer",            "SHAREKEEP_JWT_ISSUER",            K_STR, OFF(jwt_issuer), 0 },
    { "jwt_leeway",            "SHAREKEEP_JWT_LEEWAY",            K_SECONDS, OFF(jwt_leeway), 0 },
    { "trusted_header",        "SHAREKEEP_TRUSTED_HEADER",        K_STR, OFF(trusted_header), 0 },
    { "trusted_peers",         "SHAREKEEP_TRUSTED_PEERS",         K_STR, OFF(trusted_peers), 0 },
    { "metrics_allow",         "SHAREKEEP_METRICS_ALLOW",         K_STR, OFF(metrics_allow), 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int replace_str(char **slot, const char *value)
{
    char *copy = strdup(value);

    if (copy == NULL)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

static int parse_ulong(const char *s, int base, unsigned long long max, unsigned long long *out)
{
    char *end;
    unsigned long long v;

    if (*s == '\0' || *s == '-' || *s == '+' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoull(s, &end, base);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* A size in bytes, "k" or "m" suffix allowed, within the body limits. */
static int parse_size(const char *value, unsigned long long *out)
{
    unsigned long long mult = 1, v;
    char num[32];
    size_t n = strlen(value);

    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, value, n + 1);
    if (num[n - 1] == 'k' || num[n - 1] == 'K')
        mult = 1024, num[n - 1] = '\0';
    else if (num[n - 1] == 'm' || num[n - 1] == 'M')
        mult = 1024 * 1024, num[n - 1] = '\0';
    if (parse_ulong(num, 10, BODY_MAX_CEILING, &v) != 0 || v * mult < BODY_MAX_MIN ||
        v * mult > BODY_MAX_CEILING)
        return -1;
    *out = v * mult;
    return 0;
}

static int parse_bool(const char *value, int *out)
{
    if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
        *out = 1;
    else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

/* Sets one key from a string value; where says "file:line" or "env NAME". */
static int set_key(struct config *cfg, const struct key_def *k, const char *value,
                   const char *where, char *err, size_t errlen)
{
    unsigned long long v;
    void *slot = (char *)cfg + k->offset;

    switch (k->type) {
    case K_STR:
        if (replace_str((char **)slot, value) != 0) {
            errbuf_set(err, errlen, "%s: out of memory", where);
            return -1;
        }
        return 0;
    case K_INT:
        if (parse_ulong(value, 10, k->max, &v) != 0 || v < 1) {
            errbuf_set(err, errlen, "%s: %s must be a whole number from 1 to %llu", where,
                       k->name, k->max);
            return -1;
        }
        *(int *)slot = (int)v;
        return 0;
    case K_SIZE:
        if (parse_size(value, &v) != 0) {
            errbuf_set(err, errlen, "%s: %s must be a size from %u to %u bytes (k/m suffix allowed)",
                    where, k->name, BODY_MAX_MIN, BODY_MAX_CEILING);
            return -1;
        }
        *(size_t *)slot = (size_t)v;
        return 0;
    case K_MODE:
        if (parse_ulong(value, 8, 0777, &v) != 0) {
            errbuf_set(err, errlen, "%s: %s must be an octal mode such as 0660", where, k->name);
            return -1;
        }
        *(unsigned *)slot = (unsigned)v;
        return 0;
    case K_SECONDS:
        if (parse_ulong(value, 10, 86400, &v) != 0) {
            errbuf_set(err, errlen, "%s: %s must be a whole number of seconds from 0 to 86400",
                    where, k->name);
            return -1;
        }
        *(long *)slot = (long)v;
        return 0;
    case K_BOOL:
        if (parse_bool(value, (int *)slot) != 0) {
            errbuf_set(err, errlen, "%s: %s must be yes or no", where, k->name);
            return -1;
        }
        return 0;
    case K_DAYS: {
        int days;

        if (config_parse_days(value, &days) != 0) {
            errbuf_set(err, errlen, "%s: %s must be a number of days from 1 to %d (d suffix "
                       "allowed)", where, k->name, RETENTION_DAYS_MAX);
            return -1;
        }
        *(int *)slot = days;
        return 0;
    }
    case K_LEVEL:
        if (log_parse_level(value, (enum log_level *)slot) != 0) {
            errbuf_set(err, errlen, "%s: %s must be one of debug, info, warn, error", where, k->name);
            return -1;
        }
        return 0;
    }
    return -1;
}

int config_parse_days(const char *s, int *days)
{
    char num[16];
    unsigned long long v;
    size_t n = strlen(s);

    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n + 1);
    if (num[n - 1] == 'd')
        num[n - 1] = '\0';
    if (parse_ulong(num, 10, RETENTION_DAYS_MAX, &v) != 0 || v < 1)
        return -1;
    *days = (int)v;
    return 0;
}

static const struct key_def *find_key(const char *name, size_t len)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strlen(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
            return &keys[i];
    return NULL;
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static int parse_text(struct config *cfg, const char *text, size_t len, const char *name,
                      char *err, size_t errlen)
{
    char line[CONFIG_LINE_MAX + 1];
    char where[512];
    size_t pos = 0;
    unsigned lineno = 0;

    if (len > CONFIG_FILE_MAX) {
        errbuf_set(err, errlen, "%s: larger than %u bytes", name, CONFIG_FILE_MAX);
        return -1;
    }
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
        char *p, *eq, *key, *value;
        const struct key_def *k;

        lineno++;
        snprintf(where, sizeof(where), "%s:%u", name, lineno);
        if (n > CONFIG_LINE_MAX) {
            errbuf_set(err, errlen, "%s: line longer than %u bytes", where, CONFIG_LINE_MAX);
            return -1;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + (nl != NULL ? 1 : 0);
        if (memchr(line, '\0', n) != NULL) {
            errbuf_set(err, errlen, "%s: NUL byte in line", where);
            return -1;
        }
        p = trim(line);
        if (*p == '\0' || *p == '#')
            continue;
        eq = strchr(p, '=');
        if (eq == NULL) {
            errbuf_set(err, errlen, "%s: expected 'key = value'", where);
            return -1;
        }
        *eq = '\0';
        key = trim(p);
        value = trim(eq + 1);
        k = find_key(key, strlen(key));
        if (k == NULL) {
            errbuf_set(err, errlen, "%s: unknown key '%.64s'", where, key);
            return -1;
        }
        if (set_key(cfg, k, value, where, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int apply_env(struct config *cfg, char *const *envp, char *err, size_t errlen)
{
    if (envp == NULL)
        return 0;
    for (size_t i = 0; i < NKEYS; i++) {
        size_t elen = strlen(keys[i].env);

        for (char *const *e = envp; *e != NULL; e++) {
            char where[64];

            if (strncmp(*e, keys[i].env, elen) != 0 || (*e)[elen] != '=')
                continue;
            snprintf(where, sizeof(where), "env %s", keys[i].env);
            if (set_key(cfg, &keys[i], *e + elen + 1, where, err, errlen) != 0)
                return -1;
        }
    }
    return 0;
}

static int valid_root(const char *root)
{
    size_t n = strlen(root);

    if (n < 2 || n > 256 || root[0] != '/' || root[n - 1] == '/')
        return 0;
    for (const char *p = root; *p; p++) {
        if (!isalnum((unsigned char)*p) && strchr("/_.-", *p) == NULL)
            return 0;
        if (p[0] == '/' && p[1] == '/')
            return 0;
        if (p[0] == '/' && p[1] == '.')
            return 0;
    }
    return 1;
}

static int valid_optional_path(const char *p)
{
    return p[0] == '\0' || p[0] == '/';
}

static int valid_header_name(const char *h)
{
    size_t n = strlen(h);

    if (n == 0 || n > 64)
        return 0;
    for (; *h; h++)
        if (!isalnum((unsigned char)*h) && *h != '-')
            return 0;
    return 1;
}

static int valid_listen(const char *listen)
{
    const char *colon;
    unsigned long long port;

    if (strncmp(listen, "unix:", 5) == 0)
        return listen[5] == '/' && strlen(listen + 5) < 100;
    colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen)
        return 0;
    return parse_ulong(colon + 1, 10, 65535, &port) == 0 && port > 0;
}

/* Below these, a prune could remove recent evidence (the audit trail) or a
 * delivery id a replay could still use (bounds.h). */
static int validate_retention(const struct config *cfg, char *err, size_t errlen)
{
    if (cfg->audit_retention < AUDIT_RETENTION_MIN) {
        errbuf_set(err, errlen, "audit_retention: %d is under the minimum of %d days",
                   cfg->audit_retention, AUDIT_RETENTION_MIN);
        return -1;
    }
    if (cfg->delivery_retention < DELIVERY_RETENTION_MIN) {
        errbuf_set(err, errlen, "delivery_retention: %d is under the minimum of %d days",
                   cfg->delivery_retention, DELIVERY_RETENTION_MIN);
        return -1;
    }
    return 0;
}

static int validate(const struct config *cfg, char *err, size_t errlen)
{
    /* Portal fails the user's backup or recovery when a webhook has not
     * answered within its 10 seconds: a deadline at or past it would answer
     * nobody. */
    if (cfg->request_timeout >= PORTAL_TIMEOUT_SECONDS && !cfg->request_timeout_beyond_portal) {
        errbuf_set(err, errlen, "request_timeout: %d s is not below Portal's %d s webhook "
                   "timeout; set request_timeout_beyond_portal = yes if you mean it",
                   cfg->request_timeout, PORTAL_TIMEOUT_SECONDS);
        return -1;
    }
    if (!valid_listen(cfg->listen)) {
        errbuf_set(err, errlen, "listen: '%.200s' is neither unix:/absolute/path (under 100 bytes) "
                "nor host:port", cfg->listen);
        return -1;
    }
    if (cfg->database[0] == '\0') {
        errbuf_set(err, errlen, "database: empty libpq connection string");
        return -1;
    }
    if (cfg->keyring[0] != '/') {
        errbuf_set(err, errlen, "keyring: '%.200s' must be an absolute path", cfg->keyring);
        return -1;
    }
    if (cfg->pkcs11_uri[0] != '\0' &&
        (cfg->pkcs11_module[0] != '/' || cfg->pkcs11_pin_file[0] != '/')) {
        errbuf_set(err, errlen, "pkcs11_uri is set: pkcs11_module and pkcs11_pin_file must be "
                   "absolute paths");
        return -1;
    }
    if (cfg->pkcs11_uri[0] != '\0' && strncmp(cfg->pkcs11_uri, "pkcs11:", 7) != 0) {
        errbuf_set(err, errlen, "pkcs11_uri: must start with 'pkcs11:' (RFC 7512)");
        return -1;
    }
    if (!valid_root(cfg->webhooks_root)) {
        errbuf_set(err, errlen, "webhooks_root: '%.200s' must start with '/', not end with '/', "
                "and hold only letters, digits, '/', '_', '.', '-'", cfg->webhooks_root);
        return -1;
    }
    if (cfg->sql_dir[0] == '\0') {
        errbuf_set(err, errlen, "sql_dir: empty");
        return -1;
    }
    if (strcmp(cfg->webhook_auth, "standard-webhooks") != 0 &&
        strcmp(cfg->webhook_auth, "shared-secret") != 0) {
        errbuf_set(err, errlen, "webhook_auth: '%.64s' must be standard-webhooks or shared-secret",
                cfg->webhook_auth);
        return -1;
    }
    if (strcmp(cfg->client_auth, "jwt") != 0 && strcmp(cfg->client_auth, "trusted-header") != 0) {
        errbuf_set(err, errlen, "client_auth: '%.64s' must be jwt or trusted-header",
                cfg->client_auth);
        return -1;
    }
    if (!valid_optional_path(cfg->webhook_secrets) ||
        !valid_optional_path(cfg->jwt_hs256_secret) ||
        !valid_optional_path(cfg->jwt_es256_public_key)) {
        errbuf_set(err, errlen, "webhook_secrets, jwt_hs256_secret and jwt_es256_public_key must "
                "be absolute paths when set");
        return -1;
    }
    if (!valid_header_name(cfg->webhook_secret_header) ||
        !valid_header_name(cfg->trusted_header)) {
        errbuf_set(err, errlen, "webhook_secret_header and trusted_header must be header names "
                "(letters, digits, '-')");
        return -1;
    }
    return validate_retention(cfg, err, errlen);
}

static int set_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->socket_mode = 0660;
    cfg->workers = 2;
    cfg->max_body = BODY_MAX_DEFAULT;
    cfg->fetch_max_shares = FETCH_SHARES_DEFAULT;
    cfg->fetch_max_bytes = FETCH_BYTES_DEFAULT;
    cfg->max_versions = VERSIONS_DEFAULT;
    cfg->audit_retention = AUDIT_RETENTION_DEFAULT;
    cfg->delivery_retention = DELIVERY_RETENTION_DEFAULT;
    cfg->request_timeout = REQUEST_TIMEOUT_DEFAULT;
    cfg->log_level = LOG_LVL_INFO;
    if (replace_str(&cfg->listen, DEFAULT_LISTEN) != 0 ||
        replace_str(&cfg->database, DEFAULT_DATABASE) != 0 ||
        replace_str(&cfg->admin_database, "") != 0 ||
        replace_str(&cfg->keyring, DEFAULT_KEYRING) != 0 ||
        replace_str(&cfg->pkcs11_module, "") != 0 ||
        replace_str(&cfg->pkcs11_uri, "") != 0 ||
        replace_str(&cfg->pkcs11_pin_file, "") != 0 ||
        replace_str(&cfg->webhooks_root, DEFAULT_WEBHOOKS_ROOT) != 0 ||
        replace_str(&cfg->sql_dir, SHAREKEEP_SQLDIR) != 0 ||
        /* What Portal sends: its dashboard's secret in X-Webhook-Secret. */
        replace_str(&cfg->webhook_auth, "shared-secret") != 0 ||
        replace_str(&cfg->webhook_secrets, "") != 0 ||
        replace_str(&cfg->webhook_secret_header, "X-Webhook-Secret") != 0 ||
        replace_str(&cfg->client_auth, "jwt") != 0 ||
        replace_str(&cfg->jwt_hs256_secret, "") != 0 ||
        replace_str(&cfg->jwt_es256_public_key, "") != 0 ||
        replace_str(&cfg->jwt_audience, "") != 0 ||
        replace_str(&cfg->jwt_issuer, "") != 0 ||
        replace_str(&cfg->trusted_header, "X-Sharekeep-Client") != 0 ||
        replace_str(&cfg->trusted_peers, "127.0.0.1 ::1") != 0 ||
        replace_str(&cfg->metrics_allow, "127.0.0.1 ::1") != 0)
        return -1;
    cfg->webhook_tolerance = 300;
    cfg->jwt_leeway = 30;
    return 0;
}

void config_token(const struct config *cfg, struct keyring_token_config *tc)
{
    tc->module = cfg->pkcs11_module;
    tc->uri = cfg->pkcs11_uri;
    tc->pin_file = cfg->pkcs11_pin_file;
}

int config_load_text(const char *text, size_t len, const char *name, char *const *envp,
                     struct config *out, char *err, size_t errlen)
{
    int rc = -1;

    if (set_defaults(out) != 0) {
        errbuf_set(err, errlen, "out of memory");
        goto out;
    }
    if (text != NULL && parse_text(out, text, len, name, err, errlen) != 0)
        goto out;
    if (apply_env(out, envp, err, errlen) != 0)
        goto out;
    if (validate(out, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        config_free(out);
    return rc;
}

int config_load(const char *path, char *const *envp, struct config *out, char *err, size_t errlen)
{
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = -1;

    /* A failed load leaves *out safe to config_free, whatever it held. */
    memset(out, 0, sizeof(*out));
    if (path != NULL && file_read("config", path, CONFIG_FILE_MAX, FILE_PLAIN, &text, &len, err,
                                  errlen) != FILE_OK)
        goto out;
    rc = config_load_text((const char *)text, len, path != NULL ? path : "(defaults)", envp, out,
                          err, errlen);
out:
    file_free(text, len);
    return rc;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type == K_STR)
            free(*(char **)((char *)cfg + keys[i].offset));
    memset(cfg, 0, sizeof(*cfg));
}
