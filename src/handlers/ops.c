/* Operational endpoints. */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "metrics.h"

void handle_health(struct exchange *x)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    char *body;

    if (store_ping(x->app->store) != STORE_OK) {
        http_error(x->res, 503, "unavailable", "database is not answering");
        x->res->retry_after = 2;
        return;
    }
    /* A worker whose KEK token is gone can neither store nor fetch: a load
     * balancer should take it out as it would for the database. */
    if (keyring_ready(x->app->kr) != KEYRING_OK) {
        http_error(x->res, 503, "unavailable", "key token is not answering");
        x->res->retry_after = 2;
        return;
    }
    body = strdup(ok);
    if (body == NULL) {
        http_error(x->res, 503, "unavailable", "out of memory");
        return;
    }
    http_json(x->res, 200, body, sizeof(ok) - 1);
}

void handle_metrics(struct exchange *x)
{
    char *body = NULL;
    size_t len = 0;

    if (metrics_render(&body, &len) != 0) {
        http_error(x->res, 503, "unavailable", "out of memory");
        return;
    }
    http_json(x->res, 200, body, len);
    x->res->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
