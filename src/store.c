#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "log.h"
#include "seal.h"
#include "metrics.h"
#include "store.h"
#include "store_int.h"

/* The runtime statements (stores, fetches, audit rows), each prepared on a
 * connection when it is first run there, or sent unnamed by a one-shot
 * store (a CGI process). The connection is store_conn.c's. */
struct statement {
    const char *name;
    const char *sql;
    int nparams;
};

/* Columns every share read returns, in this order: version, backup_method,
 * pair_id, envelope, payload (the sealed record, sql/006). "Newest" within
 * an identity is its highest version (the identity index's order, so no
 * sort); across identities, the one whose newest version was stored last. */
#define NEWEST_PER_IDENTITY(extra_where) \
    "SELECT DISTINCT ON (backup_method, pair_id)" \
    "   version, backup_method, pair_id, envelope, payload, created_at, id FROM share_record" \
    "   WHERE client_id = $1 AND kind = $2::smallint" extra_where \
    "   ORDER BY backup_method, pair_id, version DESC"

static const struct statement statements[] = {
    { "sk_ping", "SELECT 1", 0 },
    /* $1 client, $2 kind, $3 delivery id (NULL for none), $4 method, $5 pair */
    { "sk_lookup",
      "SELECT d.body_sha256, d.version, r.version, r.envelope, r.payload"
      " FROM (SELECT 1) AS one"
      " LEFT JOIN webhook_delivery d ON d.delivery_id = $3::text"
      " LEFT JOIN LATERAL (SELECT version, envelope, payload FROM share_record"
      "   WHERE client_id = $1 AND kind = $2::smallint"
      "     AND backup_method = $4 AND pair_id = $5"
      "   ORDER BY version DESC LIMIT 1) r ON true", 5 },
    /* $1 client, $2 kind, $3 version, $4 kek, $5 envelope, $6 delivery id,
     * $7 body sha256, $8 endpoint, $9 request id, $10 method, $11 pair,
     * $12 payload.
     * Data-modifying CTEs all run, so the three rows commit or fail
     * together. A version that exists already (a concurrent writer took it)
     * writes nothing and returns no row, rather than an error: the caller
     * looks again, and PostgreSQL's log gets no unique-violation detail
     * with the client id in it. */
    { "sk_put",
      "WITH s AS (INSERT INTO share_record"
      "   (client_id, kind, backup_method, pair_id, version, kek_id, envelope, payload)"
      "   SELECT $1, $2::smallint, $10, $11, $3::integer, $4::bigint, $5::bytea, $12::bytea"
      /* Version 1 only for an identity with no version at all: once old
       * versions are pruned (sql/007), version 1 is free again, and a new
       * share stored there would hide behind the newest. */
      "   WHERE $3::integer > 1 OR NOT EXISTS (SELECT 1 FROM share_record"
      "     WHERE client_id = $1 AND kind = $2::smallint AND backup_method = $10"
      "       AND pair_id = $11)"
      "   ON CONFLICT (client_id, kind, backup_method, pair_id, version) DO NOTHING"
      "   RETURNING version),"
      " d AS (INSERT INTO webhook_delivery (delivery_id, body_sha256, client_id, version)"
      "   SELECT $6::text, $7::bytea, $1, version FROM s WHERE $6::text IS NOT NULL),"
      " a AS (INSERT INTO audit_event (endpoint, client_id, result, request_id, version,"
      "   backup_method) SELECT $8, $1, 200, $9, version, $10 FROM s)"
      " SELECT version FROM s", 12 },
    /* $1 client, $2 version, $3 delivery id, $4 body sha256, $5 endpoint,
     * $6 request id, $7 method */
    { "sk_note",
      "WITH d AS (INSERT INTO webhook_delivery (delivery_id, body_sha256, client_id, version)"
      "   SELECT $3::text, $4::bytea, $1, $2::integer WHERE $3::text IS NOT NULL)"
      " INSERT INTO audit_event (endpoint, client_id, result, request_id, version,"
      "   backup_method)"
      " VALUES ($5, $1, 200, $6, $2::integer, $7)", 7 },
    /* $1 client, $2 kind, $3 limit; the fifth column counts every identity,
     * so the caller can tell how many the limit left out. */
    { "sk_fetch_newest",
      "SELECT version, backup_method, pair_id, envelope, payload, count(*) OVER ()"
      " FROM (" NEWEST_PER_IDENTITY("") ") n"
      " ORDER BY created_at DESC, id DESC LIMIT $3::integer", 3 },
    /* $1 client, $2 kind, $3 method: its newest share, else the newest
     * legacy one */
    { "sk_fetch_method",
      "SELECT version, backup_method, pair_id, envelope, payload FROM ("
      NEWEST_PER_IDENTITY(" AND backup_method IN ($3, 'UNKNOWN')") ") n"
      " ORDER BY backup_method = $3 DESC, created_at DESC, id DESC LIMIT 1", 3 },
    /* $1 endpoint, $2 client (nullable), $3 result, $4 request id,
     * $5 version (nullable), $6 method (nullable), $7 served (nullable),
     * $8 unopened (nullable) */
    { "sk_audit",
      "INSERT INTO audit_event (endpoint, client_id, result, request_id, version,"
      " backup_method, served, unopened)"
      " VALUES ($1, $2, $3::smallint, $4, $5::integer, $6, $7::integer, $8::integer)", 8 },
    /* $1 endpoint, $2 result, $3 request id (ours), $4 claimed client,
     * $5 claimed request id. set_config(..., true) lasts to the end of the
     * statement's own transaction, so its commit does not wait for the WAL
     * flush (nor a synchronous standby): one statement, no fsync. */
    { "sk_audit_refusal",
      "INSERT INTO audit_event (endpoint, result, request_id, claimed_client_id,"
      " claimed_request_id)"
      " SELECT $1, $2::smallint, $3, $4, $5"
      " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async", 5 },
};

_Static_assert(sizeof(statements) / sizeof(statements[0]) <= 8 * sizeof(unsigned),
               "one bit of store.prepared per statement");

/* Connected, with time left; kept apart from preparing so that migrate can
 * connect to a database that has no tables yet. */
static store_status ensure_ready(struct store *st)
{
    /* Out of time before asking anything: answer now, keep the connection. */
    if (store_time_left(st) == 0)
        return STORE_UNAVAILABLE;
    return store_connected(st);
}

/* Prepares statement i on this connection the first time it is used: a
 * worker pays only for the statements it runs. */
static store_status ensure_prepared(struct store *st, size_t i)
{
    PGresult *r;

    if (st->prepared & (1u << i))
        return STORE_OK;
    r = PQsendPrepare(st->conn, statements[i].name, statements[i].sql, statements[i].nparams,
                      NULL) ? store_await(st, statements[i].name) : NULL;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        /* Preparing takes the table's lock too: a lock held elsewhere
         * (lock_timeout, 55P03) or the statement timeout (57014) leaves a
         * healthy connection, kept for the next request. */
        int transient = state != NULL && (strcmp(state, "55P03") == 0 ||
                                          strcmp(state, "57014") == 0);

        /* A missing table means the schema was never migrated: say so. */
        log_event(transient ? LOG_LVL_WARN : LOG_LVL_ERROR, "preparing statement failed",
                  "statement=%s sqlstate=%s hint=\"%s\"", statements[i].name,
                  state ? state : "-",
                  state && strcmp(state, "42P01") == 0 ? "run: sharekeep migrate" : "-");
        PQclear(r);
        if (!transient)
            store_disconnect(st);
        return STORE_UNAVAILABLE;
    }
    PQclear(r);
    st->prepared |= 1u << i;
    return STORE_OK;
}

void store_set_one_shot(struct store *st)
{
    st->one_shot = 1;
}

/* Runs a statement, prepared (or unnamed, for a one-shot store); text
 * parameters except those flagged binary; results in binary. NULL
 * (classified as unavailable) when it cannot even be prepared. */
static PGresult *run(struct store *st, const char *name, int n, const char *const *params,
                     const int *lengths, const int *formats)
{
    size_t i;

    for (i = 0; i < sizeof(statements) / sizeof(statements[0]); i++)
        if (strcmp(statements[i].name, name) == 0)
            break;
    if (i == sizeof(statements) / sizeof(statements[0]))
        return NULL;
    /* A statement prepared to be run once costs a round trip more and
     * saves nothing: the server parses it either way. */
    if (st->one_shot) {
        st->warned = 0;
        return n == statements[i].nparams
                   ? store_send(st, name, statements[i].sql, n, params, lengths, formats) : NULL;
    }
    if (ensure_prepared(st, i) != STORE_OK)
        return NULL;
    st->warned = 0;
    if (!PQsendQueryPrepared(st->conn, name, n, params, lengths, formats, 1))
        return NULL;
    return store_await(st, name);
}

store_status store_ping(struct store *st)
{
    PGresult *r = NULL;
    store_status s;

    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    r = run(st, "sk_ping", 0, NULL, NULL, NULL);
    s = PQresultStatus(r) == PGRES_TUPLES_OK ? STORE_OK : store_classify(st, r, "sk_ping");
    PQclear(r);
    return s;
}

store_status store_lookup(struct store *st, const struct store_write *w, struct store_lookup *out)
{
    char kind_s[4];
    const char *params[5] = { w->client_id, kind_s, w->delivery_id, w->backup_method,
                              w->pair_id };
    PGresult *r = NULL;
    store_status s;

    memset(out, 0, sizeof(*out));
    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    snprintf(kind_s, sizeof(kind_s), "%d", w->kind);
    r = run(st, "sk_lookup", 5, params, NULL, NULL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        s = store_classify(st, r, "sk_lookup");
        goto out;
    }
    if (!PQgetisnull(r, 0, 0)) {
        if (PQgetlength(r, 0, 0) != 32 || PQgetlength(r, 0, 1) != 4) {
            s = STORE_ERROR;
            goto out;
        }
        out->delivery_seen = 1;
        memcpy(out->delivery_sha256, PQgetvalue(r, 0, 0), 32);
        out->delivery_version = store_be32(PQgetvalue(r, 0, 1));
    }
    if (!PQgetisnull(r, 0, 2)) {
        if (PQgetlength(r, 0, 2) != 4) {
            s = STORE_ERROR;
            goto out;
        }
        out->latest_version = store_be32(PQgetvalue(r, 0, 2));
        s = store_copy_record(r, 0, 3, &out->sealed, &out->sealed_len);
        if (s != STORE_OK)
            goto out;
        out->has_latest = 1;
    }
    s = STORE_OK;
out:
    PQclear(r);
    return s;
}

void store_lookup_free(struct store_lookup *l)
{
    free(l->sealed);
    memset(l, 0, sizeof(*l));
}

static store_status put(struct store *st, const char *stmt, const struct store_write *w,
                        uint32_t version, uint32_t kek_id, const uint8_t *sealed,
                        size_t sealed_len);

store_status store_put(struct store *st, const struct store_write *w, uint32_t version,
                       uint32_t kek_id, const uint8_t *sealed, size_t sealed_len)
{
    return put(st, "sk_put", w, version, kek_id, sealed, sealed_len);
}

store_status store_put_first(struct store *st, const struct store_write *w, uint32_t kek_id,
                             const uint8_t *sealed, size_t sealed_len)
{
    return put(st, "sk_put", w, 1, kek_id, sealed, sealed_len);
}

static store_status put(struct store *st, const char *stmt, const struct store_write *w,
                        uint32_t version, uint32_t kek_id, const uint8_t *sealed,
                        size_t sealed_len)
{
    char kind_s[4], version_s[12], kek_s[12];
    const char *params[12] = { w->client_id, kind_s, version_s, kek_s, (const char *)sealed,
                               w->delivery_id,
                               w->delivery_id ? (const char *)w->body_sha256 : NULL,
                               w->endpoint, w->request_id, w->backup_method, w->pair_id,
                               (const char *)sealed + SEAL_ENVELOPE_LEN };
    int lengths[12] = { 0, 0, 0, 0, (int)SEAL_ENVELOPE_LEN, 0, 32, 0, 0, 0, 0,
                        (int)(sealed_len - SEAL_ENVELOPE_LEN) };
    int formats[12] = { 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1 };
    PGresult *r = NULL;
    store_status s;

    if (sealed_len > INT32_MAX || sealed_len < SEAL_OVERHEAD)
        return STORE_ERROR;
    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    snprintf(kind_s, sizeof(kind_s), "%d", w->kind);
    snprintf(version_s, sizeof(version_s), "%u", version);
    snprintf(kek_s, sizeof(kek_s), "%u", kek_id);
    r = run(st, stmt, 12, params, lengths, formats);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        s = store_classify(st, r, stmt);
    else
        s = PQntuples(r) == 1 ? STORE_OK : STORE_CONFLICT;   /* that version exists */
    s = store_durable(st, s, stmt);
    PQclear(r);
    return s;
}

store_status store_note(struct store *st, const struct store_write *w, uint32_t version)
{
    char version_s[12];
    const char *params[7] = { w->client_id, version_s, w->delivery_id,
                              w->delivery_id ? (const char *)w->body_sha256 : NULL,
                              w->endpoint, w->request_id, w->backup_method };
    int lengths[7] = { 0, 0, 0, 32, 0, 0, 0 };
    int formats[7] = { 0, 0, 0, 1, 0, 0, 0 };
    PGresult *r = NULL;
    store_status s;

    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    snprintf(version_s, sizeof(version_s), "%u", version);
    r = run(st, "sk_note", 7, params, lengths, formats);
    s = PQresultStatus(r) == PGRES_COMMAND_OK ? STORE_OK : store_classify(st, r, "sk_note");
    s = store_durable(st, s, "sk_note");
    PQclear(r);
    return s;
}

void store_shares_free(struct store_share *s, size_t n)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(s[i].sealed);
        s[i].sealed = NULL;
    }
    free(s);
}

/* One row of the share reads (version, backup_method, pair_id, envelope,
 * payload). */
static store_status share_from_row(const PGresult *r, int row, struct store_share *out)
{
    store_status s;

    memset(out, 0, sizeof(*out));
    if (PQgetlength(r, row, 0) != 4)
        return STORE_ERROR;
    out->version = store_be32(PQgetvalue(r, row, 0));
    if ((s = store_copy_text(r, row, 1, out->backup_method, sizeof(out->backup_method))) != STORE_OK ||
        (s = store_copy_text(r, row, 2, out->pair_id, sizeof(out->pair_id))) != STORE_OK)
        return s;
    return store_copy_record(r, row, 3, &out->sealed, &out->sealed_len);
}

store_status store_fetch_newest(struct store *st, const char *client_id, int kind, int limit,
                                struct store_share **out, size_t *n, long long *total)
{
    char kind_s[4], limit_s[12];
    const char *params[3] = { client_id, kind_s, limit_s };
    struct store_share *shares = NULL;
    PGresult *r = NULL;
    store_status s;
    int rows = 0, done = 0;

    *out = NULL;
    *n = 0;
    *total = 0;
    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    snprintf(kind_s, sizeof(kind_s), "%d", kind);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    r = run(st, "sk_fetch_newest", 3, params, NULL, NULL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s = store_classify(st, r, "sk_fetch_newest");
        goto out;
    }
    rows = PQntuples(r);
    s = STORE_OK;
    if (rows == 0)
        goto out;
    if (PQgetlength(r, 0, 5) != 8) {
        s = STORE_ERROR;
        goto out;
    }
    *total = store_be64(PQgetvalue(r, 0, 5));
    shares = calloc((size_t)rows, sizeof(*shares));
    if (shares == NULL) {
        s = STORE_ERROR;
        goto out;
    }
    for (; done < rows; done++)
        if ((s = share_from_row(r, done, &shares[done])) != STORE_OK) {
            done++;     /* the failed row may hold a copy too */
            goto out;
        }
    *out = shares;
    *n = (size_t)rows;
    shares = NULL;
out:
    store_shares_free(shares, (size_t)done);
    PQclear(r);
    return s;
}

store_status store_fetch_method(struct store *st, const char *client_id, int kind,
                                const char *backup_method, struct store_share *out)
{
    char kind_s[4];
    const char *params[3] = { client_id, kind_s, backup_method };
    PGresult *r = NULL;
    store_status s;

    memset(out, 0, sizeof(*out));
    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    snprintf(kind_s, sizeof(kind_s), "%d", kind);
    r = run(st, "sk_fetch_method", 3, params, NULL, NULL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        s = store_classify(st, r, "sk_fetch_method");
    else if (PQntuples(r) == 0)
        s = STORE_NOT_FOUND;
    else if ((s = share_from_row(r, 0, out)) != STORE_OK) {
        free(out->sealed);
        memset(out, 0, sizeof(*out));
    }
    PQclear(r);
    return s;
}

store_status store_audit(struct store *st, const struct store_audit_row *a)
{
    char result_s[8], version_s[12], served_s[12], unopened_s[12];
    const char *params[8] = { a->endpoint, a->client_id, result_s, a->request_id,
                              a->version > 0 ? version_s : NULL, a->backup_method,
                              a->served >= 0 ? served_s : NULL,
                              a->unopened > 0 ? unopened_s : NULL };
    PGresult *r = NULL;
    store_status s;

    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    snprintf(result_s, sizeof(result_s), "%d", a->result);
    snprintf(version_s, sizeof(version_s), "%u", a->version);
    snprintf(served_s, sizeof(served_s), "%d", a->served);
    snprintf(unopened_s, sizeof(unopened_s), "%d", a->unopened);
    r = run(st, "sk_audit", 8, params, NULL, NULL);
    s = PQresultStatus(r) == PGRES_COMMAND_OK ? STORE_OK : store_classify(st, r, "sk_audit");
    s = store_durable(st, s, "sk_audit");
    PQclear(r);
    return s;
}

store_status store_audit_refusal(struct store *st, const struct store_refusal_row *a)
{
    char result_s[8];
    const char *params[5] = { a->endpoint, result_s, a->request_id, a->claimed_client_id,
                              a->claimed_request_id };
    PGresult *r = NULL;
    store_status s;

    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    snprintf(result_s, sizeof(result_s), "%d", a->result);
    r = run(st, "sk_audit_refusal", 5, params, NULL, NULL);
    s = PQresultStatus(r) == PGRES_COMMAND_OK ? STORE_OK : store_classify(st, r, "sk_audit_refusal");
    PQclear(r);
    return s;
}

