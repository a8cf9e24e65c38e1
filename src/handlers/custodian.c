/* The custodian backup webhook: {webhooks_root}/backup and /backup/fetch. */
#include "handlers.h"

void handle_custodian_store(struct exchange *x)
{
    struct body_doc doc = { 0 };
    struct share_result r = { 0 };
    const char *client_id, *share;
    size_t id_len, share_len;
    share_status s;

    if (handler_parse_body(x, &doc) != 0)
        goto out;
    if (handler_string_field(x, &doc, "clientId", &client_id, &id_len) != 0 ||
        handler_client_id(x, client_id, id_len) != 0 ||
        handler_string_field(x, &doc, "share", &share, &share_len) != 0)
        goto out;
    s = share_put(x->app->store, x->app->kr, client_id, SHARE_KIND_CUSTODIAN,
                  (const uint8_t *)share, share_len, &r);
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
    const char *client_id;
    uint8_t *share = NULL;
    size_t id_len, share_len = 0;
    uint32_t version = 0;
    share_status s;

    if (handler_parse_body(x, &doc) != 0)
        goto out;
    if (handler_string_field(x, &doc, "clientId", &client_id, &id_len) != 0 ||
        handler_client_id(x, client_id, id_len) != 0)
        goto out;
    s = share_get_latest(x->app->store, x->app->kr, client_id, SHARE_KIND_CUSTODIAN, &share,
                         &share_len, &version);
    if (s != SHARE_OK) {
        handler_share_failure(x, s);
        goto out;
    }
    handler_share_body(x, "share", share, share_len);
out:
    seal_buf_free(share, share_len);
    body_doc_free(&doc);
}
