#include <string.h>

#include "router.h"

enum pattern {
    PAT_ROOT_BACKUP,        /* {webhooks_root}/backup */
    PAT_ROOT_BACKUP_FETCH,  /* {webhooks_root}/backup/fetch */
    PAT_CLIENT_BACKUP,      /* /portal/clients/{clientId}/backup */
    PAT_HEALTH,             /* /healthz */
    PAT_METRICS,            /* /metrics */
};

struct route {
    enum pattern pattern;
    const char *method;
    enum route_id id;
    const char *name;
    int needs_body;
    enum route_auth auth;
};

static const struct route routes[] = {
    { PAT_ROOT_BACKUP,       "POST", ROUTE_CUSTODIAN_STORE, "custodian.store", 1, ROUTE_AUTH_WEBHOOK },
    { PAT_ROOT_BACKUP_FETCH, "POST", ROUTE_CUSTODIAN_FETCH, "custodian.fetch", 1, ROUTE_AUTH_WEBHOOK },
    { PAT_CLIENT_BACKUP,     "POST", ROUTE_CLIENT_STORE,    "client.store",    1, ROUTE_AUTH_CLIENT },
    { PAT_CLIENT_BACKUP,     "GET",  ROUTE_CLIENT_FETCH,    "client.fetch",    0, ROUTE_AUTH_CLIENT },
    { PAT_HEALTH,            "GET",  ROUTE_HEALTH,          "health",          0, ROUTE_AUTH_NONE },
    { PAT_METRICS,           "GET",  ROUTE_METRICS,         "metrics",         0, ROUTE_AUTH_METRICS },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Allow header value per pattern. */
static const char *const allow_for[] = {
    [PAT_ROOT_BACKUP] = "POST",
    [PAT_ROOT_BACKUP_FETCH] = "POST",
    [PAT_CLIENT_BACKUP] = "GET, POST",
    [PAT_HEALTH] = "GET",
    [PAT_METRICS] = "GET",
};

static int match_pattern(enum pattern p, const char *root, const char *path, char *param)
{
    static const char client_prefix[] = "/portal/clients/";
    static const char client_suffix[] = "/backup";
    size_t rlen = strlen(root);

    switch (p) {
    case PAT_ROOT_BACKUP:
        return strncmp(path, root, rlen) == 0 && strcmp(path + rlen, "/backup") == 0;
    case PAT_ROOT_BACKUP_FETCH:
        return strncmp(path, root, rlen) == 0 && strcmp(path + rlen, "/backup/fetch") == 0;
    case PAT_HEALTH:
        return strcmp(path, "/healthz") == 0;
    case PAT_METRICS:
        return strcmp(path, "/metrics") == 0;
    case PAT_CLIENT_BACKUP: {
        const char *seg, *slash;
        size_t n;

        if (strncmp(path, client_prefix, sizeof(client_prefix) - 1) != 0)
            return 0;
        seg = path + sizeof(client_prefix) - 1;
        slash = strchr(seg, '/');
        if (slash == NULL || slash == seg || strcmp(slash, client_suffix) != 0)
            return 0;
        n = (size_t)(slash - seg);
        if (n > PATH_MAX_LEN)
            return 0;
        memcpy(param, seg, n);
        param[n] = '\0';
        return 1;
    }
    }
    return 0;
}

int router_match(const char *webhooks_root, const char *method, const char *path,
                 struct route_match *m, const char **allow)
{
    int path_known = -1;

    memset(m, 0, sizeof(*m));
    *allow = NULL;
    for (size_t i = 0; i < NROUTES; i++) {
        char param[PATH_MAX_LEN + 1] = "";

        if (!match_pattern(routes[i].pattern, webhooks_root, path, param))
            continue;
        path_known = (int)routes[i].pattern;
        if (strcmp(method, routes[i].method) != 0)
            continue;
        m->id = routes[i].id;
        m->name = routes[i].name;
        m->needs_body = routes[i].needs_body;
        m->auth = routes[i].auth;
        memcpy(m->param, param, sizeof(param));
        return 0;
    }
    if (path_known < 0)
        return 404;
    *allow = allow_for[path_known];
    return 405;
}
