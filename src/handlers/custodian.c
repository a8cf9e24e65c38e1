/* The custodian backup webhook: {webhooks_root}/backup and /backup/fetch. */
#include <string.h>

#include <openssl/evp.h>

#include "handlers.h"

void handle_custodian_store(struct exchange *x)
{
    struct body_doc doc = { 0 };
    struct share_request rq;
    uint8_t body_sha256[32];
    char method[BACKUP_METHOD_MAX + 1], pair_id[PAIR_ID_MAX + 1];
    const char *client_id, *share;
    size_t id_len, share_len;

    if (handler_parse_body(x, &doc) != 0)
        goto out;
    if (handler_string_field(x, &doc, "clientId", &client_id, &id_len) != 0 ||
        handler_client_id(x, client_id, id_len) != 0 ||
        handler_string_field(x, &doc, "share", &share, &share_len) != 0 ||
        handler_identity(x, &doc, share, share_len, method, pair_id) != 0)
        goto out;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CUSTODIAN, method, pair_id);
    /* Only a signed delivery id is one (auth_webhook checked the signature
     * before any handler ran). */
    rq.delivery_id = auth_webhook_delivery_id(x->app->auth, x->req);
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

/* {"backupShares":[newest first...],"backupShare":newest}: SDK v3 and later
 * read the list and pick their share, older SDKs read the single one. */
static void answer_shares(struct exchange *x, const struct share_list *l)
{
    struct body_writer w;

    body_writer_init(&w);
    body_writer_raw(&w, "{\"backupShares\":[");
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0)
            body_writer_raw(&w, ",");
        body_writer_string(&w, (const char *)l->items[i].share, l->items[i].len);
    }
    body_writer_raw(&w, "],\"backupShare\":");
    body_writer_string(&w, (const char *)l->items[0].share, l->items[0].len);
    body_writer_raw(&w, "}");
    handler_answer(x, &w);
}

void handle_custodian_fetch(struct exchange *x)
{
    struct body_doc doc = { 0 };
    struct share_request rq;
    struct share_list list = { 0 };
    struct share_result r = { 0 };
    struct share_bounds bounds = { x->app->cfg->fetch_max_shares, x->app->cfg->fetch_max_bytes };
    const char *client_id;
    size_t id_len;
    share_status s;

    if (handler_parse_body(x, &doc) != 0)
        goto out;
    if (handler_string_field(x, &doc, "clientId", &client_id, &id_len) != 0 ||
        handler_client_id(x, client_id, id_len) != 0)
        goto out;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CUSTODIAN, NULL, "");
    s = share_get_all(x->app->store, x->app->kr, &rq, &bounds, &list, &r);
    handler_took(x, &r);
    if (s != SHARE_OK)
        handler_share_failure(x, s);
    else
        answer_shares(x, &list);
out:
    share_list_free(&list);
    body_doc_free(&doc);
}
