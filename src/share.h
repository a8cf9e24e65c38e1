/* The two things sharekeep does with a share, independent of HTTP: keep a
 * new version (sealed, committed, idempotent for retries) and give back the
 * newest one. Handlers call these; these call seal and store. */
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
    SHARE_UNAVAILABLE,   /* database: retry later (503) */
    SHARE_ERROR,         /* sealing/opening failed or store error (503, logged) */
} share_status;

struct share_result {
    uint32_t version;
    int created;         /* 0 when the newest version already held these bytes */
};

share_status share_put(struct store *st, const struct keyring *kr, const char *client_id,
                       enum share_kind kind, const uint8_t *share, size_t share_len,
                       struct share_result *res);

/* *share is malloc'd; release with seal_buf_free(*share, *share_len). */
share_status share_get_latest(struct store *st, const struct keyring *kr, const char *client_id,
                              enum share_kind kind, uint8_t **share, size_t *share_len,
                              uint32_t *version);

/* [A-Za-z0-9_-]{1,CLIENT_ID_MAX} */
int share_client_id_valid(const char *id, size_t len);

#endif
