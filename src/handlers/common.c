#include <stdio.h>
#include <string.h>

#include "handlers.h"

int handler_parse_body(struct exchange *x, struct body_doc *doc)
{
    const char *why = NULL;

    switch (body_parse(x->req->body, x->req->body_len, doc, &why)) {
    case BODY_OK:
        return 0;
    case BODY_NOT_OBJECT:
        http_error(x->res, 422, "invalid_body", why);
        return -1;
    case BODY_NOMEM:
        http_error(x->res, 503, "unavailable", "out of memory");
        return -1;
    default:
        http_error(x->res, 400, "malformed_json", why);
        return -1;
    }
}

int handler_string_field(struct exchange *x, const struct body_doc *doc, const char *name,
                         const char **val, size_t *len)
{
    char msg[128];

    switch (body_get_string(doc, name, val, len)) {
    case BODY_OK:
        if (*len > 0)
            return 0;
        snprintf(msg, sizeof(msg), "field '%s' must not be empty", name);
        break;
    case BODY_MISSING:
        snprintf(msg, sizeof(msg), "field '%s' is required", name);
        break;
    default:
        snprintf(msg, sizeof(msg), "field '%s' must be a string", name);
        break;
    }
    http_error(x->res, 422, "invalid_field", msg);
    return -1;
}

int handler_optional_string(struct exchange *x, const struct body_doc *doc, const char *name,
                            const char **val, size_t *len, int *present)
{
    char msg[128];

    *present = 0;
    switch (body_get_optional_string(doc, name, val, len)) {
    case BODY_OK:
        *present = 1;
        return 0;
    case BODY_MISSING:
        return 0;
    default:
        snprintf(msg, sizeof(msg), "field '%s' must be a string", name);
        http_error(x->res, 422, "invalid_field", msg);
        return -1;
    }
}

int handler_identity(struct exchange *x, const struct body_doc *doc, const char *share,
                     size_t share_len, char method[BACKUP_METHOD_MAX + 1],
                     char pair_id[PAIR_ID_MAX + 1])
{
    const char *why = NULL;

    if (identity_method(doc, method, &why) != 0 ||
        (pair_id != NULL && identity_pair_id(doc, share, share_len, pair_id, &why) != 0)) {
        http_error(x->res, 422, "invalid_field", why);
        return -1;
    }
    return 0;
}

int handler_client_id(struct exchange *x, const char *id, size_t len)
{
    if (!share_client_id_valid(id, len)) {
        http_error(x->res, 422, "invalid_client_id",
                   "clientId must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'");
        return -1;
    }
    log_client_tag(id, len, x->client_tag);
    memcpy(x->client_id, id, len);
    x->client_id[len] = '\0';
    return 0;
}

void handler_share_request(struct exchange *x, struct share_request *rq, const char *client_id,
                           enum share_kind kind, const char *backup_method, const char *pair_id)
{
    memset(rq, 0, sizeof(*rq));
    rq->client_id = client_id;
    rq->kind = kind;
    rq->backup_method = backup_method;
    rq->pair_id = pair_id;
    rq->endpoint = x->match->route->name;
    rq->request_id = x->req->request_id;
    rq->max_versions = (uint32_t)x->app->cfg->max_versions;
}

void handler_share_failure(struct exchange *x, share_status s)
{
    switch (s) {
    case SHARE_NOT_FOUND:
        http_error(x->res, 404, "not_found", "no backup share is stored for this client");
        break;
    case SHARE_REPLAY:
        http_error(x->res, 409, "delivery_conflict",
                   "this delivery id was already used with a different body");
        break;
    case SHARE_VERSION_LIMIT:
        /* 409, not 429: waiting does not help; the identity is full until
         * the operator raises max_versions. */
        http_error(x->res, 409, "version_limit",
                   "this share already has the most versions allowed (max_versions); "
                   "nothing was stored");
        break;
    case SHARE_UNAVAILABLE:
        http_error(x->res, 503, "unavailable", "storage is unavailable; retry later");
        x->res->retry_after = 2;
        break;
    default:
        http_error(x->res, 500, "internal", "the share could not be processed");
        break;
    }
}

void handler_answer(struct exchange *x, struct body_writer *w)
{
    if (body_writer_failed(w)) {
        body_writer_free(w);
        http_error(x->res, 503, "unavailable", "out of memory");
        return;
    }
    http_json(x->res, 200, w->buf, w->len);
    body_writer_init(w);    /* the response owns the buffer now */
}

static void stored(struct exchange *x, const struct share_result *r)
{
    struct body_writer w;

    body_writer_init(&w);
    body_writer_raw(&w, "{\"ok\":true,\"version\":");
    body_writer_uint(&w, r->version);
    body_writer_raw(&w, r->created ? ",\"created\":true}" : ",\"created\":false}");
    handler_answer(x, &w);
}

void handler_took(struct exchange *x, const struct share_result *r)
{
    x->audited = r->audited;
    x->version = r->version;
    x->unopened = r->unopened;
}

void handler_put_share(struct exchange *x, const struct share_request *rq, const char *share,
                       size_t share_len)
{
    struct share_result r = { 0 };
    share_status s;

    s = share_put(x->app->store, x->app->kr, rq, (const uint8_t *)share, share_len, &r);
    handler_took(x, &r);
    if (s != SHARE_OK)
        handler_share_failure(x, s);
    else
        stored(x, &r);
}
