/* Path + method -> handler. The table is the single list of what sharekeep
 * serves; anything not in it is a 404 or 405 before any body is read. */
#ifndef SHAREKEEP_ROUTER_H
#define SHAREKEEP_ROUTER_H

#include <stddef.h>

#include "bounds.h"

enum route_id {
    ROUTE_CUSTODIAN_STORE = 1,
    ROUTE_CUSTODIAN_FETCH,
    ROUTE_CLIENT_STORE,
    ROUTE_CLIENT_FETCH,
    ROUTE_HEALTH,
    ROUTE_METRICS,
};

/* Who may call a route; app.c checks it before the handler runs. */
enum route_auth {
    ROUTE_AUTH_NONE = 0,     /* health */
    ROUTE_AUTH_WEBHOOK,      /* signed by the provider, over the raw body */
    ROUTE_AUTH_CLIENT,       /* a credential for the path's clientId */
    ROUTE_AUTH_METRICS,      /* the HTTP client's address is on metrics_allow */
};

struct route_match {
    enum route_id id;
    enum route_auth auth;
    const char *name;          /* stable label for logs, e.g. "custodian.store" */
    int needs_body;
    /* Raw path segment for patterns with {clientId}; validated by the handler
     * so a bad id is a 422, not a 404. */
    char param[PATH_MAX_LEN + 1];
};

/* Returns 0 with *m filled, 404 when no route has this path, or 405 with
 * *allow set to the methods the path does accept. */
int router_match(const char *webhooks_root, const char *method, const char *path,
                 struct route_match *m, const char **allow);

#endif
