#include <string.h>

#include "handlers/handlers.h"
#include "router.h"

const struct route router_routes[] = {
    /* method  pattern                            handler                 auth                body             audit            name */
    { "POST", "{root}/backup",                    handle_custodian_store, ROUTE_AUTH_WEBHOOK, ROUTE_BODY_JSON, ROUTE_AUDIT_ALL,  "custodian.store" },
    { "POST", "{root}/backup/fetch",              handle_custodian_fetch, ROUTE_AUTH_WEBHOOK, ROUTE_BODY_JSON, ROUTE_AUDIT_ALL,  "custodian.fetch" },
    { "GET",  "/portal/clients/{clientId}/backup", handle_client_fetch,   ROUTE_AUTH_CLIENT,  ROUTE_BODY_NONE, ROUTE_AUDIT_ALL,  "client.fetch" },
    { "POST", "/portal/clients/{clientId}/backup", handle_client_store,   ROUTE_AUTH_CLIENT,  ROUTE_BODY_JSON, ROUTE_AUDIT_ALL,  "client.store" },
    { "GET",  "/healthz",                         handle_health,          ROUTE_AUTH_NONE,    ROUTE_BODY_NONE, ROUTE_AUDIT_NONE, "health" },
    { "GET",  "/metrics",                         handle_metrics,         ROUTE_AUTH_METRICS, ROUTE_BODY_NONE, ROUTE_AUDIT_NONE, "metrics" },
};
const size_t router_nroutes = sizeof(router_routes) / sizeof(router_routes[0]);

static const char ROOT_VAR[] = "{root}";
static const char ID_VAR[] = "{clientId}";

/* Whether path matches pattern; the {clientId} segment goes to param. */
static int match_pattern(const char *pattern, const char *root, const char *path, char *param)
{
    const char *p = pattern, *s = path;

    param[0] = '\0';
    while (*p != '\0') {
        if (strncmp(p, ROOT_VAR, sizeof(ROOT_VAR) - 1) == 0) {
            size_t n = strlen(root);

            if (strncmp(s, root, n) != 0)
                return 0;
            s += n;
            p += sizeof(ROOT_VAR) - 1;
        } else if (strncmp(p, ID_VAR, sizeof(ID_VAR) - 1) == 0) {
            size_t n = strcspn(s, "/");

            if (n == 0 || n > PATH_MAX_LEN)
                return 0;
            memcpy(param, s, n);
            param[n] = '\0';
            s += n;
            p += sizeof(ID_VAR) - 1;
        } else if (*p++ != *s++) {
            return 0;
        }
    }
    return *s == '\0';
}

/* Appends ", name" (or "name" first) to the Allow list. */
static void allow_add(struct route_match *m, const char *name)
{
    if (m->allow[0] != '\0')
        strncat(m->allow, ", ", sizeof(m->allow) - strlen(m->allow) - 1);
    strncat(m->allow, name, sizeof(m->allow) - strlen(m->allow) - 1);
}

int router_match(const char *webhooks_root, const char *method, const char *path,
                 struct route_match *m, const char **allow)
{
    /* HEAD is GET without the body (RFC 9110 9.3.2): it takes GET's row. */
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    int path_known = 0;

    memset(m, 0, sizeof(*m));
    *allow = NULL;
    for (size_t i = 0; i < router_nroutes; i++) {
        char param[PATH_MAX_LEN + 1];

        if (!match_pattern(router_routes[i].pattern, webhooks_root, path, param))
            continue;
        if (strcmp(want, router_routes[i].method) == 0) {
            memset(m->allow, 0, sizeof(m->allow));
            m->route = &router_routes[i];
            m->index = i;
            memcpy(m->param, param, sizeof(param));
            return 0;
        }
        /* Rows of one path are listed together, so this reads "GET, HEAD,
         * POST". */
        allow_add(m, router_routes[i].method);
        if (strcmp(router_routes[i].method, "GET") == 0)
            allow_add(m, "HEAD");
        path_known = 1;
    }
    if (!path_known)
        return 404;
    *allow = m->allow;
    return 405;
}
