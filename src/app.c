#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "app.h"
#include "metrics.h"

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

/* Every outcome of an audited route leaves one audit row, written here and
 * only here unless the handler's own statement already wrote it with the
 * data (x->audited). This records the rest (bad input, refused auth,
 * failures), best effort: the database may be the failure. */
static void audit_outcome(struct exchange *x)
{
    const struct route *r = x->match->route;
    struct store_audit_row a = { r != NULL ? r->name : NULL,
                                 x->client_id[0] ? x->client_id : NULL, x->res->status,
                                 x->req->request_id, x->version, NULL, -1, x->unopened };

    if (x->audited || r == NULL || r->audit != ROUTE_AUDIT_ALL)
        return;
    if (!x->authenticated) {
        struct store_refusal_row f = { r->name, x->res->status, x->req->local_id,
                                       x->client_id[0] ? x->client_id : NULL,
                                       x->req->request_id_claimed ? x->req->request_id : NULL };

        if (store_audit_refusal(x->app->store, &f) != STORE_OK)
            log_warn("audit row not written", "route=%s status=%d request_id=%s", r->name,
                     x->res->status, x->req->request_id);
        return;
    }
    if (store_audit(x->app->store, &a) != STORE_OK)
        log_warn("audit row not written", "route=%s status=%d request_id=%s", r->name,
                 x->res->status, x->req->request_id);
}

/* The route's auth kind, checked with what the request has so far: header
 * credentials before the body is read, a webhook's secret or signature
 * after reading it (a signature covers the raw body) and before parsing.
 * Returns 0 when allowed, else the response is set. */
static int allowed(struct exchange *x, int body_read)
{
    const struct route_match *m = x->match;

    switch (m->route->auth) {
    case ROUTE_AUTH_NONE:
        return 0;
    case ROUTE_AUTH_CLIENT:
        return body_read ? 0 : auth_client(x->app->auth, x->req, m->param, x->res);
    case ROUTE_AUTH_METRICS:
        return body_read ? 0 : auth_metrics(x->app->auth, x->req, x->res);
    case ROUTE_AUTH_WEBHOOK:
        return body_read ? auth_webhook(x->app->auth, x->req, x->res) : 0;
    }
    return -1;
}

int app_load_config(const char *config_path, struct app_loaded *out, char *err, size_t errlen)
{
    extern char **environ;

    memset(out, 0, sizeof(*out));
    if (config_load(config_path, environ, &out->cfg, err, errlen) != 0) {
        app_loaded_free(out);
        return -1;
    }
    return 0;
}

int app_load_keys(struct app_loaded *out, char *err, size_t errlen)
{
    struct keyring_token_config tc;
    uint8_t tag_key[32];

    config_token(&out->cfg, &tc);
    if (keyring_load_with(out->cfg.keyring, &tc, &out->kr, err, errlen) != KEYRING_OK)
        goto fail;
    if (auth_load(&out->cfg, &out->auth, err, errlen) != 0)
        goto fail;
    if (keyring_log_tag_key(out->kr, tag_key) == KEYRING_OK)
        log_set_tag_key(tag_key);
    OPENSSL_cleanse(tag_key, sizeof(tag_key));
    return 0;
fail:
    app_loaded_free(out);
    return -1;
}

int app_load(const char *config_path, struct app_loaded *out, char *err, size_t errlen)
{
    if (app_load_config(config_path, out, err, errlen) != 0)
        return -1;
    return app_load_keys(out, err, errlen);
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
    struct route_match match = { 0 };
    struct exchange x = { .app = app, .req = &req, .res = &res, .match = &match,
                          .client_tag = "-" };
    const char *allow = NULL, *name;
    struct timespec t0;
    long long deadline;
    double dur_ms;
    int status;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (http_request_init(&req, envp, &res) != 0)
        goto respond;
    /* Answered within request_timeout of when the front end passed it on:
     * time spent queued for a worker counts. */
    deadline = store_now_ms() + app->cfg->request_timeout * 1000LL -
               (req.queued_ms < app->cfg->request_timeout * 1000LL
                    ? req.queued_ms : app->cfg->request_timeout * 1000LL);
    store_set_deadline(app->store, deadline);
    keyring_set_deadline(app->kr, deadline);
    snprintf(req.peer, sizeof(req.peer), "%s", peer ? peer : "");
    res.head = strcmp(req.method, "HEAD") == 0;
    status = router_match(app->cfg->webhooks_root, req.method, req.path, &match, &allow);
    if (status == 404) {
        http_error(&res, 404, "not_found", "no such resource");
        goto respond;
    }
    if (status == 405) {
        http_error(&res, 405, "method_not_allowed", "method not allowed for this resource");
        res.allow = allow;
        goto respond;
    }
    /* The path names the client a client route acts for: audited as a
     * claim until the caller has proved it may act for it. */
    if (match.route->auth == ROUTE_AUTH_CLIENT &&
        share_client_id_valid(match.param, strlen(match.param)))
        memcpy(x.client_id, match.param, strlen(match.param) + 1);
    if (allowed(&x, 0) != 0)
        goto respond;
    /* A client token or an address is proved before the body is read; a
     * webhook only once its secret or signature over the body is. */
    x.authenticated = match.route->auth != ROUTE_AUTH_WEBHOOK;
    if (match.route->body == ROUTE_BODY_JSON &&
        http_request_read_json_body(&req, io, app->cfg->max_body, &res) != 0)
        goto respond;
    if (allowed(&x, 1) != 0)
        goto respond;
    x.authenticated = 1;
    match.route->handler(&x);
    if (res.status == 0)
        http_error(&res, 500, "internal", "handler produced no response");
respond:
    audit_outcome(&x);
    status = http_send(io, &res, req.request_id) == 0 ? res.status : -1;
    dur_ms = elapsed_ms(&t0);
    name = match.route != NULL ? match.route->name : "-";
    metrics_request(match.route != NULL ? (int)match.index : -1, res.status, dur_ms / 1e3);
    /* The route name, not the path: client paths carry the client id. */
    log_info("request", "method=%s route=%s status=%d dur_ms=%.3f client=%s request_id=%s",
             loggable_method(req.method), name, res.status, dur_ms, x.client_tag,
             req.request_id);
    http_response_free(&res);
    http_request_free(&req);
    return status;
}
