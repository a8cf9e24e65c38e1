/* The app's encrypted client backup share: /portal/clients/{clientId}/backup. */
#include <string.h>

#include "handlers.h"

void handle_client_store(struct exchange *x)
{
    struct body_doc doc = { 0 };
    struct share_request rq;
    const char *client_id = x->route->param, *share;
    size_t share_len;

    if (handler_client_id(x, client_id, strlen(client_id)) != 0)
        goto out;
    if (handler_parse_body(x, &doc) != 0)
        goto out;
    if (handler_string_field(x, &doc, "backupShare", &share, &share_len) != 0)
        goto out;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CLIENT);
    handler_put_share(x, &rq, share, share_len);
out:
    body_doc_free(&doc);
}

void handle_client_fetch(struct exchange *x)
{
    struct share_request rq;
    const char *client_id = x->route->param;

    if (handler_client_id(x, client_id, strlen(client_id)) != 0)
        return;
    handler_share_request(x, &rq, client_id, SHARE_KIND_CLIENT);
    handler_get_share(x, &rq, "backupShare");
}
