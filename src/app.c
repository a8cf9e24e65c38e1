#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "metrics.h"

typedef void (*handler_fn)(struct exchange *x);

static handler_fn handler_for(enum route_id id)
{
    switch (id) {
    case ROUTE_CUSTODIAN_STORE: return handle_custodian_store;
    case ROUTE_CUSTODIAN_FETCH: return handle_custodian_fetch;
    case ROUTE_CLIENT_STORE:    return handle_client_store;
    case ROUTE_CLIENT_FETCH:    return handle_client_fetch;
    case ROUTE_HEALTH:          return handle_health;
    case ROUTE_METRICS:         return handle_metrics;
    }
    return NULL;
}

/* The method goes into the log line, so only a plain token is echoed. */
static const char *loggable_method(const char *m)
{
    size_t n = 0;

    if (m == NULL)
        return "-";
    for (; m[n] != '\0'; n++)
        if (n >= 16 || m[n] < 'A' || m[n] > 'Z')
            return "invalid";
    return n > 0 ? m : "-";
}

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Every outcome of a share route leaves an audit row. Successes wrote theirs
 * in the same statement as the data; this records the rest (bad input,
 * refused auth, failures), best effort: the database may be the failure. */
static void audit_outcome(struct exchange *x)
{
    struct store_audit_row a = { x->route->name, x->client_id[0] ? x->client_id : NULL,
                                 x->res->status, x->req->request_id, x->version, NULL, -1 };
    store_status s;

    if (x->audited || x->route->name == NULL || x->route->id == ROUTE_HEALTH ||
        x->route->id == ROUTE_METRICS)
        return;
    s = store_audit(x->app->store, &a);
    if (s != STORE_OK)
        log_warn("audit row not written", "route=%s status=%d request_id=%s", x->route->name,
                 x->res->status, x->req->request_id);
}

int app_load(const char *config_path, struct app_loaded *out, char *err, size_t errlen)
{
    extern char **environ;

    memset(out, 0, sizeof(*out));
    if (config_load(config_path, environ, &out->cfg, err, errlen) != 0)
        goto fail;
    if (keyring_load(out->cfg.keyring, &out->kr, err, errlen) != KEYRING_OK)
        goto fail;
    if (auth_load(&out->cfg, &out->auth, err, errlen) != 0)
        goto fail;
    return 0;
fail:
    app_loaded_free(out);
    return -1;
}

void app_loaded_free(struct app_loaded *l)
{
    auth_free(l->auth);
    keyring_free(l->kr);
    config_free(&l->cfg);
    memset(l, 0, sizeof(*l));
}

int app_handle(struct app *app, char *const *envp, const struct http_io *io, const char *peer)
{
    struct http_request req;
    struct http_response res = { 0 };
    struct route_match route = { 0 };
    struct exchange x = { .app = app, .req = &req, .res = &res, .route = &route,
                          .client_tag = "-" };
    const char *allow = NULL;
    struct timespec t0;
    handler_fn fn;
    double dur_ms;
    int status;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (http_request_init(&req, envp, &res) != 0)
        goto respond;
    snprintf(req.peer, sizeof(req.peer), "%s", peer ? peer : "");
    status = router_match(app->cfg->webhooks_root, req.method, req.path, &route, &allow);
    if (status == 404) {
        http_error(&res, 404, "not_found", "no such resource");
        goto respond;
    }
    if (status == 405) {
        http_error(&res, 405, "method_not_allowed", "method not allowed for this resource");
        res.allow = allow;
        goto respond;
    }
    /* The path names the client a client route acts for: audit it even
     * when the caller turns out not to be allowed to. */
    if (route.auth == ROUTE_AUTH_CLIENT && share_client_id_valid(route.param, strlen(route.param)))
        memcpy(x.client_id, route.param, strlen(route.param) + 1);
    /* Credentials in headers are checked before the body is read; a webhook
     * signature covers the raw body, so it is checked after reading and
     * before any parsing. */
    if (route.auth == ROUTE_AUTH_CLIENT && auth_client(app->auth, &req, route.param, &res) != 0)
        goto respond;
    if (route.auth == ROUTE_AUTH_METRICS && auth_metrics(app->auth, &req, &res) != 0)
        goto respond;
    if (route.needs_body &&
        http_request_read_json_body(&req, io, app->cfg->max_body, &res) != 0)
        goto respond;
    if (route.auth == ROUTE_AUTH_WEBHOOK && auth_webhook(app->auth, &req, &res) != 0)
        goto respond;
    fn = handler_for(route.id);
    if (fn == NULL) {
        http_error(&res, 404, "not_found", "no such resource");
        goto respond;
    }
    fn(&x);
    if (res.status == 0)
        http_error(&res, 500, "internal", "handler produced no response");
respond:
    audit_outcome(&x);
    status = http_send(io, &res, req.request_id) == 0 ? res.status : -1;
    dur_ms = elapsed_ms(&t0);
    metrics_request(route.name, res.status, dur_ms / 1e3);
    /* The route name, not the path: client paths carry the client id. */
    log_info("request", "method=%s route=%s status=%d dur_ms=%.3f client=%s request_id=%s",
             loggable_method(req.method), route.name ? route.name : "-", res.status, dur_ms,
             x.client_tag, req.request_id);
    http_response_free(&res);
    http_request_free(&req);
    return status;
}
