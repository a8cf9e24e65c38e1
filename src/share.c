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

static struct seal_context context_of(const char *client_id, enum share_kind kind,
                                      const char *method, const char *pair_id, uint32_t version)
{
    struct seal_context ctx = { client_id, strlen(client_id), kind, version,
                                method, strlen(method), pair_id, strlen(pair_id) };

    return ctx;
}

/* Whether the newest stored version already holds exactly these bytes: the
 * provider retries deliveries, and a retry must not mint a new version.
 * -1 when the KEK's token cannot open it now: then nobody can tell, and
 * the store waits for a retry rather than mint a version that may be one. */
static int newest_equals(const struct keyring *kr, const struct seal_context *ctx,
                         const uint8_t *sealed, size_t sealed_len,
                         const uint8_t *share, size_t share_len)
{
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    seal_status ss;
    int same = 0;

    ss = seal_open(kr, ctx, sealed, sealed_len, &plain, &plain_len);
    if (ss == SEAL_ERR_UNAVAILABLE) {
        same = -1;
        goto out;
    }
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

/* Seals share as ctx's version; *kek_id is the KEK that wrapped it.
 * STORE_UNAVAILABLE when the token holding the KEK cannot be used now (a
 * 503 the provider retries), STORE_ERROR for any other failure. */
static store_status seal_version(const struct keyring *kr, const struct seal_context *ctx,
                                 const uint8_t *share, size_t share_len, uint8_t **record,
                                 size_t *record_len, uint32_t *kek_id)
{
    seal_status ss = seal_share(kr, ctx, share, share_len, record, record_len);

    if (ss == SEAL_OK)
        ss = seal_record_kek(*record, *record_len, kek_id);
    if (ss != SEAL_OK) {
        log_error("sealing failed", "error=\"%s\"", seal_strerror(ss));
        return ss == SEAL_ERR_UNAVAILABLE ? STORE_UNAVAILABLE : STORE_ERROR;
    }
    return STORE_OK;
}

static void answered(struct share_result *res, uint32_t version, int created)
{
    if (created)
        metrics_share_stored();
    res->version = version;
    res->created = created;
    res->audited = 1;
}

/* What one share_put carries along its paths. */
struct put {
    struct store *st;
    const struct keyring *kr;
    const struct share_request *rq;
    struct store_write w;
    struct seal_context ctx;
    const uint8_t *share;
    size_t share_len;
    struct share_result *res;
};

/* Seals the share as version and inserts it: with store_put_first (version
 * 1, no look first) or store_put. */
static store_status put_version(struct put *p, uint32_t version, int first)
{
    uint8_t *record = NULL;
    size_t record_len = 0;
    uint32_t kek_id = 0;
    store_status s;

    p->ctx.version = version;
    s = seal_version(p->kr, &p->ctx, p->share, p->share_len, &record, &record_len, &kek_id);
    if (s != STORE_OK)
        return s;
    s = first ? store_put_first(p->st, &p->w, kek_id, record, record_len)
              : store_put(p->st, &p->w, version, kek_id, record, record_len);
    seal_buf_free(record, record_len);
    if (s == STORE_OK)
        answered(p->res, version, 1);
    return s;
}

/* A retry of a delivery we already committed: same answer, but only once a
 * commit made after it has gone through cleanly. The first commit is visible
 * here as soon as it is local, before a synchronous standby has it (and for
 * good if that wait was cancelled); this audit row's commit waits for the
 * standby, which then has the earlier one too. */
static share_status put_redelivered(struct put *p, const struct store_lookup *look)
{
    const struct share_request *rq = p->rq;
    struct store_audit_row a = { rq->endpoint, rq->client_id, 200, rq->request_id,
                                 look->delivery_version, rq->backup_method, -1, 0 };
    store_status s;

    if (CRYPTO_memcmp(look->delivery_sha256, rq->body_sha256, 32) != 0)
        return SHARE_REPLAY;
    s = store_audit(p->st, &a);
    if (s != STORE_OK)
        return from_store(s);
    answered(p->res, look->delivery_version, 0);
    return SHARE_OK;
}

/* The provider resent the newest version's bytes: record the retry (its
 * delivery id, an audit row) without minting a version. */
static store_status put_retry(struct put *p, uint32_t newest)
{
    store_status s = store_note(p->st, &p->w, newest);

    if (s == STORE_OK)
        answered(p->res, newest, 0);
    return s;
}

/* After the first path lost: look, then either answer a redelivery, note a
 * retry of the newest version, refuse an identity that holds max_versions
 * already, or add the next version. *again is set when a concurrent writer
 * took the version or the delivery id meanwhile. */
static share_status put_turn(struct put *p, int *again)
{
    struct store_lookup look = { 0 };
    share_status rc;
    store_status s;
    int same;

    *again = 0;
    s = store_lookup(p->st, &p->w, &look);
    if (s != STORE_OK) {
        rc = from_store(s);
        goto out;
    }
    if (look.delivery_seen) {
        rc = put_redelivered(p, &look);
        goto out;
    }
    p->ctx.version = look.latest_version;
    same = look.has_latest ? newest_equals(p->kr, &p->ctx, look.sealed, look.sealed_len,
                                           p->share, p->share_len) : 0;
    if (same < 0) {
        rc = SHARE_UNAVAILABLE;
        goto out;
    } else if (same) {
        s = put_retry(p, look.latest_version);
    } else if (look.latest_version >= p->rq->max_versions) {
        /* Refused, not rotated: every stored version stays. The caller's
         * audit row records the refusal. */
        log_warn("version limit reached", "kind=%d versions=%u max_versions=%u",
                 (int)p->rq->kind, look.latest_version, p->rq->max_versions);
        rc = SHARE_VERSION_LIMIT;
        goto out;
    } else if (look.latest_version >= INT32_MAX) {
        log_error("version space exhausted", "kind=%d", (int)p->rq->kind);
        rc = SHARE_ERROR;
        goto out;
    } else {
        s = put_version(p, look.latest_version + 1, 0);
    }
    *again = s == STORE_CONFLICT;
    rc = from_store(s);
out:
    store_lookup_free(&look);
    return rc;
}

share_status share_put(struct store *st, const struct keyring *kr, const struct share_request *rq,
                       const uint8_t *share, size_t share_len, struct share_result *res)
{
    struct put p = {
        st, kr, rq,
        { rq->client_id, (int)rq->kind, rq->backup_method, rq->pair_id, rq->delivery_id,
          rq->body_sha256, rq->endpoint, rq->request_id },
        context_of(rq->client_id, rq->kind, rq->backup_method, rq->pair_id, 0),
        share, share_len, res,
    };
    share_status rc;
    store_status s;
    int again = 1;

    memset(res, 0, sizeof(*res));
    /* An identity's first backup, the common case, needs nothing from the
     * database before its INSERT: seal it as version 1 and try. A version 1
     * already there (or a used delivery id) writes nothing, and the general
     * path looks first. One round trip instead of two for a first backup; a
     * wasted seal and statement for a later one. */
    s = put_version(&p, 1, 1);
    if (s != STORE_CONFLICT)
        return from_store(s);
    /* Concurrent writers of one identity race for the next version number
     * (or one delivery id); the unique key decides, and the loser looks
     * again. A race still lost after PUT_ATTEMPTS turns is "retry later". */
    rc = SHARE_UNAVAILABLE;
    for (int attempt = 0; attempt < PUT_ATTEMPTS && again; attempt++)
        rc = put_turn(&p, &again);
    if (again)
        log_warn("version race not settled", "attempts=%d", PUT_ATTEMPTS);
    return rc;
}

/* Room for n items in an empty list. */
static share_status list_alloc(struct share_list *l, size_t n)
{
    l->items = calloc(n, sizeof(*l->items));
    return l->items != NULL ? SHARE_OK : SHARE_UNAVAILABLE;
}

void share_list_free(struct share_list *l)
{
    if (l->items != NULL)
        for (size_t i = 0; i < l->n; i++)
            seal_buf_free(l->items[i].share, l->items[i].len);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* A record that does not open is an incident (tampering, a lost KEK): it is
 * never served; it leaves a log line and a counter here, and the request's
 * one audit row counts it (res->unopened). */
static void unopenable(const struct share_request *rq, const struct store_share *rec,
                       seal_status ss, struct share_result *res)
{
    metrics_record_unopenable();
    log_error("stored record did not open", "kind=%d backup_method=\"%s\" version=%u "
              "request_id=%s error=\"%s\"", (int)rq->kind, rec->backup_method, rec->version,
              rq->request_id, seal_strerror(ss));
    res->unopened++;
}

/* Opens rec into the next item of out. 0, -1 when it does not open (the
 * incident is recorded), or -2 when the token holding its KEK cannot be
 * used now (no incident: the record is fine, the request is a 503). */
static int open_into(const struct keyring *kr, const struct share_request *rq,
                     const struct store_share *rec, struct share_list *out,
                     struct share_result *res)
{
    struct seal_context ctx = context_of(rq->client_id, rq->kind, rec->backup_method,
                                         rec->pair_id, rec->version);
    struct share_item *it = &out->items[out->n];
    seal_status ss;

    memset(it, 0, sizeof(*it));
    ss = seal_open(kr, &ctx, rec->sealed, rec->sealed_len, &it->share, &it->len);
    if (ss == SEAL_ERR_UNAVAILABLE)
        return -2;
    if (ss != SEAL_OK) {
        unopenable(rq, rec, ss, res);
        return -1;
    }
    it->version = rec->version;
    memcpy(it->backup_method, rec->backup_method, sizeof(it->backup_method));
    memcpy(it->pair_id, rec->pair_id, sizeof(it->pair_id));
    out->n++;
    return 0;
}

/* No share leaves without its audit row: if the row cannot be written, the
 * caller gets a 503 instead of the shares. */
static share_status audit_served(struct store *st, const struct share_request *rq,
                                 const struct share_list *l, struct share_result *res)
{
    struct store_audit_row a = { rq->endpoint, rq->client_id, 200, rq->request_id,
                                 l->items[0].version,
                                 l->n == 1 ? l->items[0].backup_method : NULL, (int)l->n,
                                 res->unopened };
    store_status s = store_audit(st, &a);

    if (s != STORE_OK)
        return from_store(s);
    res->version = l->items[0].version;
    res->audited = 1;
    return SHARE_OK;
}

share_status share_get_all(struct store *st, const struct keyring *kr,
                           const struct share_request *rq, const struct share_bounds *bounds,
                           struct share_list *out, struct share_result *res)
{
    struct store_share *recs = NULL;
    size_t nrecs = 0, bytes = 0;
    long long total = 0;
    share_status rc;
    store_status s;
    int opened;

    memset(out, 0, sizeof(*out));
    memset(res, 0, sizeof(*res));
    s = store_fetch_newest(st, rq->client_id, (int)rq->kind, bounds->max_shares, &recs, &nrecs,
                           &total);
    if (s != STORE_OK) {
        rc = from_store(s);
        goto out;
    }
    if (nrecs == 0) {
        rc = SHARE_NOT_FOUND;
        goto out;
    }
    if ((rc = list_alloc(out, nrecs)) != SHARE_OK)
        goto out;
    for (size_t i = 0; i < nrecs; i++) {
        /* A record is its plaintext plus a fixed overhead, so the bound is
         * checked before opening anything. */
        size_t plain_len = recs[i].sealed_len > SEAL_OVERHEAD ? recs[i].sealed_len - SEAL_OVERHEAD
                                                               : 0;

        if (out->n > 0 && bytes + plain_len > bounds->max_bytes)
            break;
        opened = open_into(kr, rq, &recs[i], out, res);
        if (opened == -2) {
            rc = SHARE_UNAVAILABLE;
            goto out;
        }
        if (opened == 0)
            bytes += out->items[out->n - 1].len;
    }
    out->dropped = (size_t)total - out->n - (size_t)res->unopened;
    if (out->dropped > 0) {
        metrics_fetch_truncated();
        log_warn("fetch bound left out the oldest identities",
                 "identities=%lld served=%zu dropped=%zu max_shares=%d max_bytes=%zu", total,
                 out->n, out->dropped, bounds->max_shares, bounds->max_bytes);
    }
    if (out->n == 0) {
        rc = SHARE_ERROR;
        goto out;
    }
    rc = audit_served(st, rq, out, res);
out:
    store_shares_free(recs, nrecs);
    if (rc != SHARE_OK)
        share_list_free(out);
    return rc;
}

share_status share_get_method(struct store *st, const struct keyring *kr,
                              const struct share_request *rq, struct share_list *out,
                              struct share_result *res)
{
    struct store_share *recs = NULL;
    size_t nrecs = 0;
    long long total = 0;
    share_status rc;
    store_status s;

    memset(out, 0, sizeof(*out));
    memset(res, 0, sizeof(*res));
    if (rq->backup_method != NULL) {
        recs = calloc(1, sizeof(*recs));
        if (recs == NULL) {
            rc = SHARE_UNAVAILABLE;
            goto out;
        }
        s = store_fetch_method(st, rq->client_id, (int)rq->kind, rq->backup_method, recs);
        nrecs = s == STORE_OK ? 1 : 0;
    } else {
        s = store_fetch_newest(st, rq->client_id, (int)rq->kind, FETCH_SHARES_MAX, &recs,
                               &nrecs, &total);
        if (s == STORE_OK && nrecs == 0)
            s = STORE_NOT_FOUND;
    }
    if (s != STORE_OK) {
        rc = from_store(s);
        goto out;
    }
    if ((rc = list_alloc(out, nrecs)) != SHARE_OK)
        goto out;
    /* The newest that opens is served; the others only lend their method
     * names to the list of methods (never their bytes). */
    for (size_t i = 0; i < nrecs; i++) {
        if (out->n == 0) {
            if (open_into(kr, rq, &recs[i], out, res) == -2) {
                rc = SHARE_UNAVAILABLE;
                goto out;
            }
            continue;
        }
        memcpy(out->items[out->n].backup_method, recs[i].backup_method,
               sizeof(recs[i].backup_method));
        out->items[out->n].version = recs[i].version;
        out->n++;
    }
    if (out->n == 0) {
        rc = SHARE_ERROR;
        goto out;
    }
    {
        struct share_list first = { out->items, 1, 0 };
        rc = audit_served(st, rq, &first, res);
    }
out:
    store_shares_free(recs, nrecs);
    if (rc != SHARE_OK)
        share_list_free(out);
    return rc;
}
