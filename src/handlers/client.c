/* The app's encrypted client backup share, one per backup method:
 * /portal/clients/{clientId}/backup. */
#include <string.h>

#include "handlers.h"

void handle_client_store(struct exchange *x)
{
    struct body_doc doc = { 0 };
    struct share_request rq;
    char method[BACKUP_METHOD_MAX + 1];
    const char *client_id = x->match->param, *share = NULL, *cipher = NULL;
    size_t share_len = 0, cipher_len = 0;
    int has_share, has_cipher;

    if (handler_client_id(x, client_id, strlen(client_id)) != 0)
        goto out;
    if (handler_parse_body(x, &doc) != 0)
        goto out;
    /* Portal's guides name the field backupShare (seed guide) or cipherText
     * (web, React Native, its demo exchange): either, never both. */
    if (handler_optional_string(x, &doc, "backupShare", &share, &share_len, &has_share) != 0 ||
        handler_optional_string(x, &doc, "cipherText", &cipher, &cipher_len, &has_cipher) != 0)
        goto out;
    if (has_share == has_cipher) {
        http_error(x->res, 422, "invalid_field",
                   "exactly one of the fields 'backupShare' and 'cipherText' is required");
        goto out;
    }
    if (has_cipher) {
        share = cipher;
        share_len = cipher_len;
    }
    if (share_len == 0) {
        http_error(x->res, 422, "invalid_field",
                   has_cipher ? "field 'cipherText' must not be empty"
                              : "field 'backupShare' must not be empty");
        goto out;
    }
    if (handler_identity(x, &doc, share, share_len, method, NULL) != 0)
        goto out;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CLIENT, method, "");
    handler_put_share(x, &rq, share, share_len);
out:
    body_doc_free(&doc);
}

/* {"backupMethod":M,"backupShare":s,"cipherText":s[,"backupMethods":[...]]}:
 * both field names, as Portal's guides read either. */
static void answer_share(struct exchange *x, const struct share_list *l, int with_methods)
{
    const struct share_item *it = &l->items[0];
    struct body_writer w;

    body_writer_init(&w);
    body_writer_raw(&w, "{\"backupMethod\":");
    body_writer_string(&w, it->backup_method, strlen(it->backup_method));
    body_writer_raw(&w, ",\"backupShare\":");
    body_writer_string(&w, (const char *)it->share, it->len);
    body_writer_raw(&w, ",\"cipherText\":");
    body_writer_string(&w, (const char *)it->share, it->len);
    if (with_methods) {
        body_writer_raw(&w, ",\"backupMethods\":[");
        for (size_t i = 0; i < l->n; i++) {
            int seen = 0;

            /* Newest first; a method listed once even with several pair ids. */
            for (size_t j = 0; j < i && !seen; j++)
                seen = strcmp(l->items[j].backup_method, l->items[i].backup_method) == 0;
            if (seen)
                continue;
            if (i > 0)
                body_writer_raw(&w, ",");
            body_writer_string(&w, l->items[i].backup_method, strlen(l->items[i].backup_method));
        }
        body_writer_raw(&w, "]");
    }
    body_writer_raw(&w, "}");
    handler_answer(x, &w);
}

void handle_client_fetch(struct exchange *x)
{
    static const char *const params[] = { "backupMethod" };
    char *query[1] = { NULL };
    struct share_request rq;
    struct share_list list = { 0 };
    struct share_result r = { 0 };
    const char *client_id = x->match->param;
    share_status s;

    if (handler_client_id(x, client_id, strlen(client_id)) != 0)
        goto out;
    if (http_query(x->req, params, 1, query, x->res) != 0)
        goto out;
    if (query[0] != NULL && !seal_method_valid(query[0], strlen(query[0]))) {
        http_error(x->res, 422, "invalid_field",
                   "query parameter 'backupMethod' must be 1 to 64 printable ASCII characters");
        goto out;
    }
    handler_share_request(x, &rq, client_id, SHARE_KIND_CLIENT, query[0], "");
    s = share_get_method(x->app->store, x->app->kr, &rq, &list, &r);
    handler_took(x, &r);
    if (s != SHARE_OK)
        handler_share_failure(x, s);
    else
        answer_share(x, &list, query[0] == NULL);
out:
    share_list_free(&list);
    http_query_free(query, 1);
}
