/* Endpoint handlers. Each gets one parsed request and fills one response;
 * none touches the transport, SQL or keys directly. */
#ifndef SHAREKEEP_HANDLERS_H
#define SHAREKEEP_HANDLERS_H

#include "auth.h"
#include "body.h"
#include "config.h"
#include "http.h"
#include "identity.h"
#include "keyring.h"
#include "log.h"
#include "router.h"
#include "share.h"
#include "store.h"

/* What a worker holds for its lifetime. */
struct app {
    const struct config *cfg;
    const struct keyring *kr;
    const struct auth *auth;
    struct store *store;
};

struct exchange {
    struct app *app;
    struct http_request *req;
    struct http_response *res;
    const struct route_match *match;   /* the route and its {clientId} */
    char client_tag[LOG_CLIENT_TAG_LEN];   /* for the request log line */
    char client_id[CLIENT_ID_MAX + 1];     /* validated id, for the audit row; "" if none */
    int audited;                           /* the outcome's audit row is written */
    uint32_t version;                      /* share version stored or served, 0 if none */
    int unopened;                          /* stored records that did not open */
    int authenticated;                     /* its credential passed the route's auth */
};

/* The handlers the route table (router.c) names. */
void handle_custodian_store(struct exchange *x);
void handle_custodian_fetch(struct exchange *x);
void handle_client_store(struct exchange *x);
void handle_client_fetch(struct exchange *x);
void handle_health(struct exchange *x);
void handle_metrics(struct exchange *x);

/* Shared by the handlers (common.c). */

/* Parses the body; on failure sets the 400/422 response and returns -1. */
int handler_parse_body(struct exchange *x, struct body_doc *doc);
/* Gets a required string field; on failure sets a 422 and returns -1. */
int handler_string_field(struct exchange *x, const struct body_doc *doc, const char *name,
                         const char **val, size_t *len);
/* Gets an optional string field: absent or null leaves *present 0; another
 * type is a 422 (returns -1). */
int handler_optional_string(struct exchange *x, const struct body_doc *doc, const char *name,
                            const char **val, size_t *len, int *present);
/* The share's identity from the body (identity.h): its backupMethod and,
 * when pair_id is not NULL, its pair id. On failure sets a 422 and returns
 * -1. */
int handler_identity(struct exchange *x, const struct body_doc *doc, const char *share,
                     size_t share_len, char method[BACKUP_METHOD_MAX + 1],
                     char pair_id[PAIR_ID_MAX + 1]);
/* Checks the client id and records its log tag; on failure sets a 422. */
int handler_client_id(struct exchange *x, const char *id, size_t len);
/* Fills the parts of a share request every handler shares; backup_method
 * and pair_id ("" = none) name the identity. */
void handler_share_request(struct exchange *x, struct share_request *rq, const char *client_id,
                           enum share_kind kind, const char *backup_method, const char *pair_id);
/* Records what a share_* call did (audit row written, version, records
 * that did not open) for the request's audit and log. */
void handler_took(struct exchange *x, const struct share_result *r);
/* Maps a failed share_* status to the response. */
void handler_share_failure(struct exchange *x, share_status s);
/* Stores the share and answers 200 {"ok":true,"version":N,"created":B} or
 * the failure. */
void handler_put_share(struct exchange *x, const struct share_request *rq, const char *share,
                       size_t share_len);
/* Hands a finished writer's buffer to the response as a 200, or answers 503
 * when writing it ran out of memory. */
void handler_answer(struct exchange *x, struct body_writer *w);

#endif
