/* The app's encrypted client backup share: /portal/clients/{clientId}/backup. */
#include <string.h>

#include "handlers.h"

void handle_client_store(struct exchange *x)
{
    struct body_doc doc = { 0 };
    struct share_result r = { 0 };
    struct share_request rq;
    const char *client_id = x->route->param, *share;
    size_t share_len;
    share_status s;

    if (handler_client_id(x, client_id, strlen(client_id)) != 0)
        goto out;
    if (handler_parse_body(x, &doc) != 0)
        goto out;
    if (handler_string_field(x, &doc, "backupShare", &share, &share_len) != 0)
        goto out;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CLIENT);
    s = share_put(x->app->store, x->app->kr, &rq, (const uint8_t *)share, share_len, &r);
    x->audited = r.audited;
    x->version = r.version;
    if (s != SHARE_OK) {
        handler_share_failure(x, s);
        goto out;
    }
    handler_stored(x, &r);
out:
    body_doc_free(&doc);
}

void handle_client_fetch(struct exchange *x)
{
    struct share_result r = { 0 };
    struct share_request rq;
    const char *client_id = x->route->param;
    uint8_t *share = NULL;
    size_t share_len = 0;
    share_status s;

    if (handler_client_id(x, client_id, strlen(client_id)) != 0)
        goto out;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CLIENT);
    s = share_get_latest(x->app->store, x->app->kr, &rq, &share, &share_len, &r);
    x->audited = r.audited;
    x->version = r.version;
    if (s != SHARE_OK) {
        handler_share_failure(x, s);
        goto out;
    }
    handler_share_body(x, "backupShare", share, share_len);
out:
    seal_buf_free(share, share_len);
}
