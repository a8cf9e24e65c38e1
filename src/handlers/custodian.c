/* The custodian backup webhook: {webhooks_root}/backup and /backup/fetch. */
#include <openssl/evp.h>

#include "handlers.h"

void handle_custodian_store(struct exchange *x)
{
    struct body_doc doc = { 0 };
    struct share_result r = { 0 };
    struct share_request rq;
    uint8_t body_sha256[32];
    const char *client_id, *share;
    size_t id_len, share_len;
    share_status s;

    if (handler_parse_body(x, &doc) != 0)
        goto out;
    if (handler_string_field(x, &doc, "clientId", &client_id, &id_len) != 0 ||
        handler_client_id(x, client_id, id_len) != 0 ||
        handler_string_field(x, &doc, "share", &share, &share_len) != 0)
        goto out;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CUSTODIAN);
    /* The delivery id is only trusted once the signature covering it is
     * checked (auth runs before any handler). */
    rq.delivery_id = http_header(x->req, "Webhook-Id");
    if (rq.delivery_id != NULL) {
        if (EVP_Digest(x->req->body, x->req->body_len, body_sha256, NULL, EVP_sha256(),
                       NULL) != 1) {
            http_error(x->res, 500, "internal", "digest failed");
            goto out;
        }
        rq.body_sha256 = body_sha256;
    }
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

void handle_custodian_fetch(struct exchange *x)
{
    struct body_doc doc = { 0 };
    struct share_result r = { 0 };
    struct share_request rq;
    const char *client_id;
    uint8_t *share = NULL;
    size_t id_len, share_len = 0;
    share_status s;

    if (handler_parse_body(x, &doc) != 0)
        goto out;
    if (handler_string_field(x, &doc, "clientId", &client_id, &id_len) != 0 ||
        handler_client_id(x, client_id, id_len) != 0)
        goto out;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CUSTODIAN);
    s = share_get_latest(x->app->store, x->app->kr, &rq, &share, &share_len, &r);
    x->audited = r.audited;
    x->version = r.version;
    if (s != SHARE_OK) {
        handler_share_failure(x, s);
        goto out;
    }
    handler_share_body(x, "share", share, share_len);
out:
    seal_buf_free(share, share_len);
    body_doc_free(&doc);
}
