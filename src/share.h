/* The two things sharekeep does with a share, independent of HTTP: keep a
 * new version (sealed, committed, idempotent for retries, replay-checked)
 * and give back the newest one. Handlers call these; these call seal and
 * store. */
#ifndef SHAREKEEP_SHARE_H
#define SHAREKEEP_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "keyring.h"
#include "seal.h"
#include "store.h"

typedef enum {
    SHARE_OK = 0,
    SHARE_NOT_FOUND,
    SHARE_REPLAY,        /* delivery id seen before with another body (409) */
    SHARE_VERSION_LIMIT, /* the identity holds max_versions already: nothing stored (409) */
    SHARE_UNAVAILABLE,   /* database: retry later (503) */
    SHARE_ERROR,         /* sealing/opening failed or store error (500, logged) */
} share_status;

struct share_request {
    const char *client_id;
    enum share_kind kind;
    /* The identity (store), or the method asked for (client fetch). Valid
     * per seal_method_valid / seal_pair_id_valid; pair_id "" = none. */
    const char *backup_method;
    const char *pair_id;
    const char *delivery_id;       /* NULL when none */
    const uint8_t *body_sha256;    /* 32 bytes, with delivery_id */
    const char *endpoint;          /* route name, for the audit row */
    const char *request_id;
    /* share_put: versions the identity may hold (>= 1); a new share past
     * them is refused, a retry of the newest still answered. */
    uint32_t max_versions;
};

struct share_result {
    uint32_t version;
    int created;         /* 0 when these bytes were already the newest version */
    int audited;         /* an audit row for this outcome is committed */
    int unopened;        /* records that did not open, for the outcome's audit row */
};

/* One opened share and the identity it was stored under. */
struct share_item {
    uint8_t *share;                /* plaintext; wiped by share_items_free */
    size_t len;
    uint32_t version;
    char backup_method[BACKUP_METHOD_MAX + 1];
    char pair_id[PAIR_ID_MAX + 1];
};

/* What a fetch answers with: newest first. */
struct share_list {
    struct share_item *items;
    size_t n;
    size_t dropped;      /* identities left out by the bounds */
};

/* How much one custodian fetch may answer with: at most max_shares shares
 * and max_bytes of them in all, except that the newest is always served. */
struct share_bounds {
    int max_shares;
    size_t max_bytes;
};

/* Keeps a new version of the request's identity (or recognises a retry). */
share_status share_put(struct store *st, const struct keyring *kr, const struct share_request *rq,
                       const uint8_t *share, size_t share_len, struct share_result *res);

/* The newest version of every identity of the client and kind, within
 * bounds, newest first. A record that does not open is an incident: logged,
 * counted, and recorded in the request's audit row (res->unopened); the
 * others are served, and SHARE_ERROR comes only when none opens.
 * Release with share_list_free. */
share_status share_get_all(struct store *st, const struct keyring *kr,
                           const struct share_request *rq, const struct share_bounds *bounds,
                           struct share_list *out, struct share_result *res);

/* The newest share of rq->backup_method, else the newest legacy ("UNKNOWN")
 * one: list->n is 1. With backup_method NULL, the newest share of any
 * method, and list->items[1..] name the other methods that have one (their
 * share fields empty). Release with share_list_free. */
share_status share_get_method(struct store *st, const struct keyring *kr,
                              const struct share_request *rq, struct share_list *out,
                              struct share_result *res);

void share_list_free(struct share_list *l);

/* [A-Za-z0-9_-]{1,CLIENT_ID_MAX} */
int share_client_id_valid(const char *id, size_t len);

#endif
