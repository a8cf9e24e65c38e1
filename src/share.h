/* The two things sharekeep does with a share, independent of HTTP: keep a
 * new version (sealed, committed, idempotent for retries, replay-checked)
 * and give back the newest one. Handlers call these; these call seal and
 * store. */
#ifndef SHAREKEEP_SHARE_H
#define SHAREKEEP_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "keyring.h"
#include "seal.h"
#include "store.h"

typedef enum {
    SHARE_OK = 0,
    SHARE_NOT_FOUND,
    SHARE_REPLAY,        /* delivery id seen before with another body (409) */
    SHARE_UNAVAILABLE,   /* database: retry later (503) */
    SHARE_ERROR,         /* sealing/opening failed or store error (500, logged) */
} share_status;

struct share_request {
    const char *client_id;
    enum share_kind kind;
    const char *delivery_id;       /* NULL when none */
    const uint8_t *body_sha256;    /* 32 bytes, with delivery_id */
    const char *endpoint;          /* route name, for the audit row */
    const char *request_id;
};

struct share_result {
    uint32_t version;
    int created;         /* 0 when these bytes were already the newest version */
    int audited;         /* an audit row for this outcome is committed */
};

share_status share_put(struct store *st, const struct keyring *kr, const struct share_request *rq,
                       const uint8_t *share, size_t share_len, struct share_result *res);

/* *share is malloc'd; release with seal_buf_free(*share, *share_len). */
share_status share_get_latest(struct store *st, const struct keyring *kr,
                              const struct share_request *rq, uint8_t **share, size_t *share_len,
                              struct share_result *res);

/* [A-Za-z0-9_-]{1,CLIENT_ID_MAX} */
int share_client_id_valid(const char *id, size_t len);

#endif
