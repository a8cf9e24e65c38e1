/* Path + method -> route. The table in router.c is the single list of what
 * sharekeep serves, and each row says everything about its route: pattern,
 * method, handler, who may call it, whether it reads a JSON body, whether
 * its outcomes are audited, and its name in logs, metrics and audit rows.
 * Anything not in it is a 404 or 405 before any body is read. Adding a
 * route is one row there and one handler. */
#ifndef SHAREKEEP_ROUTER_H
#define SHAREKEEP_ROUTER_H

#include <stddef.h>

#include "bounds.h"

struct exchange;
typedef void (*route_handler)(struct exchange *x);

/* Who may call a route; app.c checks it before the handler runs. */
enum route_auth {
    ROUTE_AUTH_NONE = 0,     /* health */
    ROUTE_AUTH_WEBHOOK,      /* the provider's secret or signature, over the raw body */
    ROUTE_AUTH_CLIENT,       /* a credential for the path's {clientId} */
    ROUTE_AUTH_METRICS,      /* the HTTP client's address is on metrics_allow */
};

enum route_body {
    ROUTE_BODY_NONE = 0,     /* no body is read */
    ROUTE_BODY_JSON,         /* a JSON body of at most max_body is read first */
};

enum route_audit {
    ROUTE_AUDIT_NONE = 0,    /* operational routes */
    ROUTE_AUDIT_ALL,         /* share routes: every outcome leaves one audit row */
};

struct route {
    const char *method;
    /* Literal text, "{root}" for webhooks_root and "{clientId}" for one
     * non-empty path segment (kept raw, validated by the handler so that a
     * bad id is a 422, not a 404). */
    const char *pattern;
    route_handler handler;
    enum route_auth auth;
    enum route_body body;
    enum route_audit audit;
    const char *name;        /* stable label, e.g. "custodian.store" */
};

extern const struct route router_routes[];
extern const size_t router_nroutes;

struct route_match {
    const struct route *route;     /* NULL unless matched */
    size_t index;                  /* of route in router_routes */
    char param[PATH_MAX_LEN + 1];  /* the {clientId} segment, "" if none */
    char allow[32];                /* for a 405: the methods the path takes */
};

/* Returns 0 with *m filled, 404 when no route has this path, or 405 with
 * *allow set to the methods the path does accept (m->allow). */
int router_match(const char *webhooks_root, const char *method, const char *path,
                 struct route_match *m, const char **allow);

#endif
