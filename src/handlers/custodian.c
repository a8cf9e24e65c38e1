/* The custodian backup webhook: {webhooks_root}/backup and /backup/fetch. */
#include <openssl/evp.h>

#include "handlers.h"

void handle_custodian_store(struct exchange *x)
{
    struct body_doc doc = { 0 };
    struct share_request rq;
    uint8_t body_sha256[32];
    const char *client_id, *share;
    size_t id_len, share_len;

    if (handler_parse_body(x, &doc) != 0)
        goto out;
    if (handler_string_field(x, &doc, "clientId", &client_id, &id_len) != 0 ||
        handler_client_id(x, client_id, id_len) != 0 ||
        handler_string_field(x, &doc, "share", &share, &share_len) != 0)
        goto out;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CUSTODIAN);
    /* The delivery id is trusted only because the signature covering it was
     * checked before any handler ran. */
    rq.delivery_id = http_header(x->req, "Webhook-Id");
    if (rq.delivery_id != NULL) {
        if (EVP_Digest(x->req->body, x->req->body_len, body_sha256, NULL, EVP_sha256(),
                       NULL) != 1) {
            http_error(x->res, 500, "internal", "digest failed");
            goto out;
        }
        rq.body_sha256 = body_sha256;
    }
    handler_put_share(x, &rq, share, share_len);
out:
    body_doc_free(&doc);
}

void handle_custodian_fetch(struct exchange *x)
{
    struct body_doc doc = { 0 };
    struct share_request rq;
    const char *client_id;
    size_t id_len;

    if (handler_parse_body(x, &doc) != 0)
        goto out;
    if (handler_string_field(x, &doc, "clientId", &client_id, &id_len) != 0 ||
        handler_client_id(x, client_id, id_len) != 0)
        goto out;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CUSTODIAN);
    handler_get_share(x, &rq, "share");
out:
    body_doc_free(&doc);
}
