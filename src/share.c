#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bounds.h"
#include "log.h"
#include "metrics.h"
#include "share.h"

/* Concurrent writers for one client race for the next version number; the
 * unique key decides, and the loser re-reads and tries again. */
#define PUT_ATTEMPTS 5

int share_client_id_valid(const char *id, size_t len)
{
    if (len == 0 || len > CLIENT_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static share_status from_store(store_status s)
{
    switch (s) {
    case STORE_OK: return SHARE_OK;
    case STORE_NOT_FOUND: return SHARE_NOT_FOUND;
    case STORE_UNAVAILABLE: case STORE_CONFLICT: return SHARE_UNAVAILABLE;
    case STORE_ERROR: return SHARE_ERROR;
    }
    return SHARE_ERROR;
}

/* Whether the newest stored version already holds exactly these bytes: the
 * provider retries deliveries, and a retry must not mint a new version. */
static int newest_equals(const struct keyring *kr, const struct seal_context *ctx,
                         const uint8_t *sealed, size_t sealed_len,
                         const uint8_t *share, size_t share_len)
{
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    seal_status ss;
    int same = 0;

    ss = seal_open(kr, ctx, sealed, sealed_len, &plain, &plain_len);
    if (ss != SEAL_OK) {
        /* Not fatal for a store: the new version is kept regardless. */
        log_warn("newest version did not open", "version=%u error=\"%s\"", ctx->version,
                 seal_strerror(ss));
        goto out;
    }
    same = plain_len == share_len && CRYPTO_memcmp(plain, share, share_len) == 0;
out:
    seal_buf_free(plain, plain_len);
    return same;
}

/* Seals share as ctx's version; *kek_id is the KEK that wrapped it. */
static int seal_version(const struct keyring *kr, const struct seal_context *ctx,
                        const uint8_t *share, size_t share_len, uint8_t **record,
                        size_t *record_len, uint32_t *kek_id)
{
    seal_status ss = seal_share(kr, ctx, share, share_len, record, record_len);

    if (ss == SEAL_OK)
        ss = seal_record_kek(*record, *record_len, kek_id);
    if (ss != SEAL_OK) {
        log_error("sealing failed", "error=\"%s\"", seal_strerror(ss));
        return -1;
    }
    return 0;
}

static void stored(struct share_result *res, uint32_t version)
{
    metrics_share_stored();
    res->version = version;
    res->created = 1;
    res->audited = 1;
}

share_status share_put(struct store *st, const struct keyring *kr, const struct share_request *rq,
                       const uint8_t *share, size_t share_len, struct share_result *res)
{
    struct seal_context ctx = { rq->client_id, strlen(rq->client_id), rq->kind, 0 };
    struct store_write w = { rq->client_id, (int)rq->kind, rq->delivery_id, rq->body_sha256,
                             rq->endpoint, rq->request_id };
    struct store_lookup look = { 0 };
    uint8_t *record = NULL;
    size_t record_len = 0;
    share_status rc = SHARE_ERROR;

    memset(res, 0, sizeof(*res));
    /* A client's first backup, the common case, needs nothing from the
     * database before its INSERT: seal it as version 1 and try. A version 1
     * already there (or a used delivery id) writes nothing, and the general
     * path below looks first. One round trip instead of two for a first
     * backup; a wasted seal and statement for a later one. */
    {
        uint32_t kek_id = 0;
        store_status s;

        ctx.version = 1;
        if (seal_version(kr, &ctx, share, share_len, &record, &record_len, &kek_id) != 0)
            goto out;
        s = store_put_first(st, &w, kek_id, record, record_len);
        seal_buf_free(record, record_len);
        record = NULL;
        record_len = 0;
        if (s == STORE_OK) {
            stored(res, 1);
            rc = SHARE_OK;
            goto out;
        }
        if (s != STORE_CONFLICT) {
            rc = from_store(s);
            goto out;
        }
    }
    for (int attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
        uint32_t kek_id = 0;
        store_status s;

        store_lookup_free(&look);
        s = store_lookup(st, &w, &look);
        if (s != STORE_OK) {
            rc = from_store(s);
            goto out;
        }
        if (look.delivery_seen) {
            if (CRYPTO_memcmp(look.delivery_sha256, rq->body_sha256, 32) != 0) {
                rc = SHARE_REPLAY;
                goto out;
            }
            /* A retry of a delivery we already committed: same answer, but
             * only once a commit made after it has gone through cleanly.
             * The first commit is visible here as soon as it is local,
             * before a synchronous standby has it (and for good if that
             * wait was cancelled); this audit row's commit waits for the
             * standby, which then has the earlier one too. */
            s = store_audit(st, rq->endpoint, rq->client_id, 200, rq->request_id,
                            look.delivery_version);
            if (s != STORE_OK) {
                rc = from_store(s);
                goto out;
            }
            res->version = look.delivery_version;
            res->created = 0;
            res->audited = 1;
            rc = SHARE_OK;
            goto out;
        }
        if (look.has_latest) {
            ctx.version = look.latest_version;
            if (newest_equals(kr, &ctx, look.sealed, look.sealed_len, share, share_len)) {
                s = store_note(st, &w, look.latest_version);
                if (s == STORE_CONFLICT)
                    continue;
                if (s != STORE_OK) {
                    rc = from_store(s);
                    goto out;
                }
                res->version = look.latest_version;
                res->created = 0;
                res->audited = 1;
                rc = SHARE_OK;
                goto out;
            }
        }
        if (look.latest_version >= INT32_MAX) {
            log_error("version space exhausted", "kind=%d", (int)rq->kind);
            goto out;
        }
        ctx.version = look.latest_version + 1;
        if (seal_version(kr, &ctx, share, share_len, &record, &record_len, &kek_id) != 0)
            goto out;
        s = store_put(st, &w, ctx.version, kek_id, record, record_len);
        seal_buf_free(record, record_len);
        record = NULL;
        record_len = 0;
        if (s == STORE_OK) {
            stored(res, ctx.version);
            rc = SHARE_OK;
            goto out;
        }
        if (s != STORE_CONFLICT) {
            rc = from_store(s);
            goto out;
        }
        /* A concurrent writer took this version or this delivery id: look again. */
        rc = SHARE_UNAVAILABLE;
    }
    log_warn("version race not settled", "attempts=%d", PUT_ATTEMPTS);
out:
    store_lookup_free(&look);
    seal_buf_free(record, record_len);
    return rc;
}

share_status share_get_latest(struct store *st, const struct keyring *kr,
                              const struct share_request *rq, uint8_t **share, size_t *share_len,
                              struct share_result *res)
{
    struct seal_context ctx = { rq->client_id, strlen(rq->client_id), rq->kind, 0 };
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    share_status rc;
    store_status s;
    seal_status ss;

    memset(res, 0, sizeof(*res));
    *share = NULL;
    *share_len = 0;
    s = store_fetch(st, rq->client_id, (int)rq->kind, &res->version, &sealed, &sealed_len);
    if (s != STORE_OK) {
        rc = from_store(s);
        goto out;
    }
    ctx.version = res->version;
    ss = seal_open(kr, &ctx, sealed, sealed_len, share, share_len);
    if (ss != SEAL_OK) {
        /* A record that does not open is an incident (tampering, lost KEK):
         * refuse loudly rather than serve anything. */
        log_error("stored record did not open", "version=%u error=\"%s\"", res->version,
                  seal_strerror(ss));
        rc = SHARE_ERROR;
        goto out;
    }
    /* No share leaves without its audit row: if the row cannot be written,
     * the caller gets a 503 instead of the share. */
    s = store_audit(st, rq->endpoint, rq->client_id, 200, rq->request_id, res->version);
    if (s != STORE_OK) {
        rc = from_store(s);
        goto out;
    }
    res->audited = 1;
    rc = SHARE_OK;
out:
    if (rc != SHARE_OK) {
        seal_buf_free(*share, *share_len);
        *share = NULL;
        *share_len = 0;
    }
    free(sealed);
    return rc;
}
