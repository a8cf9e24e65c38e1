/* Whole-table statements for the admin commands (admin.c): record batches,
 * counts, rewrap updates, imports. They run on the admin role's connection,
 * unprepared: each runs once per command or once per batch of records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "log.h"
#include "seal.h"
#include "store.h"
#include "store_int.h"

store_status store_begin(struct store *st)
{
    store_status s = store_connected(st);

    return s != STORE_OK ? s : store_exec(st, "BEGIN", "begin");
}

store_status store_commit(struct store *st)
{
    return store_exec(st, "COMMIT", "commit");
}

void store_rollback(struct store *st)
{
    if (st->conn != NULL)
        PQclear(PQexec(st->conn, "ROLLBACK"));
}

void store_records_free(struct store_record *r, size_t n)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(r[i].sealed);
    free(r);
}

store_status store_records(struct store *st, long long after_id, long long max_id,
                           uint32_t not_kek, int limit, struct store_record **out, size_t *n)
{
    char after_s[24], max_s[24], kek_s[12], limit_s[12];
    const char *params[4] = { after_s, max_s, kek_s, limit_s };
    struct store_record *recs = NULL;
    PGresult *r = NULL;
    store_status s;
    int rows = 0;

    *out = NULL;
    *n = 0;
    s = store_connected(st);
    if (s != STORE_OK)
        return s;
    snprintf(after_s, sizeof(after_s), "%lld", after_id);
    snprintf(max_s, sizeof(max_s), "%lld", max_id);
    snprintf(kek_s, sizeof(kek_s), "%u", not_kek);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    /* created_at as text in UTC: exports must read the same everywhere. */
    r = PQexecParams(st->conn,
                     "SELECT id, client_id, kind::integer, version, kek_id::integer, envelope, payload,"
                     " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
                     " backup_method, pair_id"
                     " FROM share_record"
                     " WHERE id > $1::bigint AND id <= $2::bigint"
                     "   AND ($3::bigint = 0 OR kek_id <> $3::bigint)"
                     " ORDER BY id LIMIT $4::integer",
                     4, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s = store_classify(st, r, "records");
        goto out;
    }
    rows = PQntuples(r);
    recs = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*recs));
    if (recs == NULL) {
        s = STORE_ERROR;
        goto out;
    }
    for (int i = 0; i < rows; i++) {
        size_t idlen = (size_t)PQgetlength(r, i, 1);
        size_t tlen = (size_t)PQgetlength(r, i, 7);

        if (PQgetlength(r, i, 0) != 8 || PQgetlength(r, i, 2) != 4 || PQgetlength(r, i, 3) != 4 ||
            PQgetlength(r, i, 4) != 4 || idlen >= sizeof(recs[i].client_id) ||
            tlen >= sizeof(recs[i].created_at)) {
            s = STORE_ERROR;
            goto out;
        }
        recs[i].id = store_be64(PQgetvalue(r, i, 0));
        memcpy(recs[i].client_id, PQgetvalue(r, i, 1), idlen);
        recs[i].kind = (int)store_be32(PQgetvalue(r, i, 2));
        recs[i].version = store_be32(PQgetvalue(r, i, 3));
        recs[i].kek_id = store_be32(PQgetvalue(r, i, 4));
        memcpy(recs[i].created_at, PQgetvalue(r, i, 7), tlen);
        if (store_copy_text(r, i, 8, recs[i].backup_method, sizeof(recs[i].backup_method)) != STORE_OK ||
            store_copy_text(r, i, 9, recs[i].pair_id, sizeof(recs[i].pair_id)) != STORE_OK ||
            store_copy_record(r, i, 5, &recs[i].sealed, &recs[i].sealed_len) != STORE_OK) {
            s = STORE_ERROR;
            goto out;
        }
    }
    *out = recs;
    *n = (size_t)rows;
    recs = NULL;
    s = STORE_OK;
out:
    store_records_free(recs, (size_t)rows);
    PQclear(r);
    return s;
}

/* One bigint from sql (no parameters). */
static store_status one_bigint(struct store *st, const char *sql, const char *what,
                               long long *out)
{
    PGresult *r = NULL;
    store_status s = store_connected(st);

    if (s != STORE_OK)
        return s;
    r = PQexecParams(st->conn, sql, 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 8) {
        s = store_classify(st, r, what);
        goto out;
    }
    *out = store_be64(PQgetvalue(r, 0, 0));
out:
    PQclear(r);
    return s;
}

store_status store_max_id(struct store *st, long long *max_id)
{
    return one_bigint(st, "SELECT coalesce(max(id), 0) FROM share_record", "max_id", max_id);
}

store_status store_min_id(struct store *st, long long *min_id)
{
    return one_bigint(st, "SELECT coalesce(min(id), 0) FROM share_record", "min_id", min_id);
}

store_status store_kek_counts(struct store *st, uint32_t **ids, long long **counts, size_t *n)
{
    PGresult *r = NULL;
    store_status s = store_connected(st);
    int rows;

    *ids = NULL;
    *counts = NULL;
    *n = 0;
    if (s != STORE_OK)
        return s;
    r = PQexecParams(st->conn,
                     "SELECT kek_id::integer, count(*) FROM share_record GROUP BY kek_id"
                     " ORDER BY kek_id", 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s = store_classify(st, r, "kek_counts");
        goto out;
    }
    rows = PQntuples(r);
    *ids = calloc(rows > 0 ? (size_t)rows : 1, sizeof(**ids));
    *counts = calloc(rows > 0 ? (size_t)rows : 1, sizeof(**counts));
    if (*ids == NULL || *counts == NULL) {
        free(*ids);
        free(*counts);
        *ids = NULL;
        *counts = NULL;
        s = STORE_ERROR;
        goto out;
    }
    for (int i = 0; i < rows; i++) {
        (*ids)[i] = store_be32(PQgetvalue(r, i, 0));
        (*counts)[i] = store_be64(PQgetvalue(r, i, 1));
    }
    *n = (size_t)rows;
out:
    PQclear(r);
    return s;
}

store_status store_method_counts(struct store *st, struct store_method_count **out, size_t *n)
{
    struct store_method_count *c = NULL;
    PGresult *r = NULL;
    store_status s = store_connected(st);
    int rows = 0;

    *out = NULL;
    *n = 0;
    if (s != STORE_OK)
        return s;
    r = PQexecParams(st->conn,
                     "SELECT kind::integer, backup_method, count(*),"
                     " count(DISTINCT (client_id, pair_id)) FROM share_record"
                     " GROUP BY kind, backup_method ORDER BY kind, backup_method",
                     0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s = store_classify(st, r, "method_counts");
        goto out;
    }
    rows = PQntuples(r);
    c = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*c));
    if (c == NULL) {
        s = STORE_ERROR;
        goto out;
    }
    for (int i = 0; i < rows; i++) {
        if (PQgetlength(r, i, 0) != 4 || PQgetlength(r, i, 2) != 8 ||
            PQgetlength(r, i, 3) != 8 ||
            store_copy_text(r, i, 1, c[i].backup_method, sizeof(c[i].backup_method)) != STORE_OK) {
            s = STORE_ERROR;
            goto out;
        }
        c[i].kind = (int)store_be32(PQgetvalue(r, i, 0));
        c[i].records = store_be64(PQgetvalue(r, i, 2));
        c[i].identities = store_be64(PQgetvalue(r, i, 3));
    }
    *out = c;
    *n = (size_t)rows;
    c = NULL;
out:
    free(c);
    PQclear(r);
    return s;
}

store_status store_envelopes(struct store *st, long long after_id, long long max_id,
                             uint32_t not_kek, int limit, struct store_envelope **out,
                             size_t *n)
{
    char after_s[24], max_s[24], kek_s[12], limit_s[12];
    const char *params[4] = { after_s, max_s, kek_s, limit_s };
    struct store_envelope *e = NULL;
    PGresult *r = NULL;
    store_status s;
    int rows;

    *out = NULL;
    *n = 0;
    s = store_connected(st);
    if (s != STORE_OK)
        return s;
    snprintf(after_s, sizeof(after_s), "%lld", after_id);
    snprintf(max_s, sizeof(max_s), "%lld", max_id);
    snprintf(kek_s, sizeof(kek_s), "%u", not_kek);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    r = PQexecParams(st->conn,
                     "SELECT id, kek_id::integer, envelope FROM share_record"
                     " WHERE id > $1::bigint AND id <= $2::bigint"
                     "   AND ($3::bigint = 0 OR kek_id <> $3::bigint)"
                     " ORDER BY id LIMIT $4::integer",
                     4, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s = store_classify(st, r, "envelopes");
        goto out;
    }
    rows = PQntuples(r);
    e = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*e));
    if (e == NULL) {
        s = STORE_ERROR;
        goto out;
    }
    for (int i = 0; i < rows; i++) {
        if (PQgetlength(r, i, 0) != 8 || PQgetlength(r, i, 1) != 4 ||
            PQgetlength(r, i, 2) != (int)sizeof(e[i].envelope)) {
            s = STORE_ERROR;
            goto out;
        }
        e[i].id = store_be64(PQgetvalue(r, i, 0));
        e[i].kek_id = store_be32(PQgetvalue(r, i, 1));
        memcpy(e[i].envelope, PQgetvalue(r, i, 2), sizeof(e[i].envelope));
    }
    *out = e;
    *n = (size_t)rows;
    e = NULL;
    s = STORE_OK;
out:
    free(e);
    PQclear(r);
    return s;
}

/* Appends text of len bytes to the buffer b (cap, *used). */
static void put_text(char *b, size_t *used, const char *text, size_t len)
{
    memcpy(b + *used, text, len);
    *used += len;
}

store_status store_rewrap_batch(struct store *st, const struct store_envelope *e, size_t n,
                                uint32_t new_kek, long long *updated)
{
    static const char hex[] = "0123456789abcdef";
    /* Array literals: {1,2,...}, and bytea elements as "\\x<hex>". */
    size_t cap_ids = n * 22 + 3, cap_env = n * (sizeof(e->envelope) * 2 + 6) + 3;
    char *ids = NULL, *keks = NULL, *envs = NULL, kek_s[12], num[24];
    const char *params[4] = { NULL, NULL, NULL, kek_s };
    size_t ui = 0, uk = 0, ue = 0;
    PGresult *r = NULL;
    store_status s = STORE_ERROR;

    *updated = 0;
    if (n == 0)
        return STORE_OK;
    ids = malloc(cap_ids);
    keks = malloc(cap_ids);
    envs = malloc(cap_env);
    if (ids == NULL || keks == NULL || envs == NULL)
        goto out;
    put_text(ids, &ui, "{", 1);
    put_text(keks, &uk, "{", 1);
    put_text(envs, &ue, "{", 1);
    for (size_t i = 0; i < n; i++) {
        int len;

        if (i > 0) {
            put_text(ids, &ui, ",", 1);
            put_text(keks, &uk, ",", 1);
            put_text(envs, &ue, ",", 1);
        }
        len = snprintf(num, sizeof(num), "%lld", e[i].id);
        put_text(ids, &ui, num, (size_t)len);
        len = snprintf(num, sizeof(num), "%u", e[i].kek_id);
        put_text(keks, &uk, num, (size_t)len);
        put_text(envs, &ue, "\"\\\\x", 4);
        for (size_t k = 0; k < sizeof(e[i].envelope); k++) {
            envs[ue++] = hex[e[i].envelope[k] >> 4];
            envs[ue++] = hex[e[i].envelope[k] & 15];
        }
        put_text(envs, &ue, "\"", 1);
    }
    put_text(ids, &ui, "}", 2);     /* with its NUL */
    put_text(keks, &uk, "}", 2);
    put_text(envs, &ue, "}", 2);
    snprintf(kek_s, sizeof(kek_s), "%u", new_kek);
    params[0] = ids;
    params[1] = keks;
    params[2] = envs;
    s = store_connected(st);
    if (s != STORE_OK)
        goto out;
    r = PQexecParams(st->conn,
                     "UPDATE share_record s SET kek_id = $4::bigint, envelope = u.e"
                     " FROM unnest($1::bigint[], $2::bigint[], $3::bytea[]) AS u(id, old, e)"
                     " WHERE s.id = u.id AND s.kek_id = u.old",
                     4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        s = store_classify(st, r, "rewrap");
        goto out;
    }
    *updated = atoll(PQcmdTuples(r));
    s = STORE_OK;
out:
    PQclear(r);
    free(ids);
    free(keks);
    if (envs != NULL)
        OPENSSL_cleanse(envs, cap_env);
    free(envs);
    return s;
}

/* ---- import: arrays in PostgreSQL's binary format ------------------------ */

/* Element type OIDs (pg_type.h), which array_recv checks against the
 * parameter's declared element type. */
#define OID_BYTEA 17
#define OID_INT8  20
#define OID_INT2  21
#define OID_INT4  23
#define OID_TEXT  25

/* One column of a batch as a one-dimensional array (array_send's layout:
 * ndim, has-nulls, element type, size, lower bound, then each element as
 * its length, -1 for null, and its bytes; all integers big-endian). */
struct pg_array {
    char *buf;
    size_t len, cap;
};

static void put_be32(struct pg_array *a, uint32_t v)
{
    unsigned char *p = (unsigned char *)a->buf + a->len;

    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    a->len += 4;
}

/* Room for n elements of data_bytes in all. 0, or -1 without memory. */
static int array_start(struct pg_array *a, size_t n, size_t data_bytes, uint32_t oid,
                       int has_null)
{
    a->len = 0;
    a->cap = 20 + 4 * n + data_bytes;
    a->buf = malloc(a->cap);
    if (a->buf == NULL)
        return -1;
    put_be32(a, 1);
    put_be32(a, has_null ? 1 : 0);
    put_be32(a, oid);
    put_be32(a, (uint32_t)n);
    put_be32(a, 1);
    return 0;
}

/* One element of len bytes (NULL: a null). */
static void array_put(struct pg_array *a, const void *p, size_t len)
{
    if (p == NULL) {
        put_be32(a, UINT32_MAX);   /* -1 */
        return;
    }
    put_be32(a, (uint32_t)len);
    memcpy(a->buf + a->len, p, len);
    a->len += len;
}

static void array_put_int(struct pg_array *a, uint64_t v, size_t bytes)
{
    unsigned char b[8];

    for (size_t i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    array_put(a, b, bytes);
}

static void array_free(struct pg_array *a)
{
    if (a->buf != NULL) {
        OPENSSL_cleanse(a->buf, a->cap);
        free(a->buf);
    }
    a->buf = NULL;
}

enum { IMP_CLIENT, IMP_KIND, IMP_METHOD, IMP_PAIR, IMP_VERSION, IMP_KEK, IMP_ENVELOPE,
       IMP_PAYLOAD, IMP_CREATED, IMP_COLUMNS };

store_status store_import_batch(struct store *st, const struct store_record *recs, size_t n,
                                long long *inserted, size_t *conflict)
{
    static const uint32_t oids[IMP_COLUMNS] = { OID_TEXT, OID_INT2, OID_TEXT, OID_TEXT, OID_INT4,
                                                OID_INT8, OID_BYTEA, OID_BYTEA, OID_TEXT };
    struct pg_array col[IMP_COLUMNS];
    size_t bytes[IMP_COLUMNS] = { 0 };
    const char *params[IMP_COLUMNS];
    int lengths[IMP_COLUMNS], formats[IMP_COLUMNS], has_null = 0;
    PGresult *r = NULL;
    store_status s = STORE_ERROR;

    memset(col, 0, sizeof(col));
    *inserted = 0;
    *conflict = 0;
    if (n == 0)
        return STORE_OK;
    bytes[IMP_KIND] = 2 * n;
    bytes[IMP_VERSION] = 4 * n;
    bytes[IMP_KEK] = 8 * n;
    bytes[IMP_ENVELOPE] = SEAL_ENVELOPE_LEN * n;
    for (size_t i = 0; i < n; i++) {
        /* The caller opened each record, so it is at least SEAL_OVERHEAD long. */
        if (recs[i].sealed_len < SEAL_OVERHEAD || recs[i].sealed_len > INT32_MAX / 2)
            return STORE_ERROR;
        bytes[IMP_CLIENT] += strlen(recs[i].client_id);
        bytes[IMP_METHOD] += strlen(recs[i].backup_method);
        bytes[IMP_PAIR] += strlen(recs[i].pair_id);
        bytes[IMP_PAYLOAD] += recs[i].sealed_len - SEAL_ENVELOPE_LEN;
        bytes[IMP_CREATED] += strlen(recs[i].created_at);
        has_null |= recs[i].created_at[0] == '\0';
    }
    for (int c = 0; c < IMP_COLUMNS; c++) {
        if (20 + 4 * n + bytes[c] > INT32_MAX ||
            array_start(&col[c], n, bytes[c], oids[c], c == IMP_CREATED && has_null) != 0)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_record *rec = &recs[i];

        array_put(&col[IMP_CLIENT], rec->client_id, strlen(rec->client_id));
        array_put_int(&col[IMP_KIND], (uint64_t)rec->kind, 2);
        array_put(&col[IMP_METHOD], rec->backup_method, strlen(rec->backup_method));
        array_put(&col[IMP_PAIR], rec->pair_id, strlen(rec->pair_id));
        array_put_int(&col[IMP_VERSION], rec->version, 4);
        array_put_int(&col[IMP_KEK], rec->kek_id, 8);
        array_put(&col[IMP_ENVELOPE], rec->sealed, SEAL_ENVELOPE_LEN);
        array_put(&col[IMP_PAYLOAD], rec->sealed + SEAL_ENVELOPE_LEN,
                  rec->sealed_len - SEAL_ENVELOPE_LEN);
        /* no createdAt: the importing database's clock */
        array_put(&col[IMP_CREATED], rec->created_at[0] ? rec->created_at : NULL,
                  strlen(rec->created_at));
    }
    for (int c = 0; c < IMP_COLUMNS; c++) {
        params[c] = col[c].buf;
        lengths[c] = (int)col[c].len;
        formats[c] = 1;
    }
    s = store_connected(st);
    if (s != STORE_OK)
        goto out;
    /* DO NOTHING, then compare: a record already present must be the same
     * bytes, or the two databases disagree about a share. The final SELECT
     * sees the table as it was before this statement plus, through ins,
     * what the statement inserted; a line is fine when either holds its
     * identity with its bytes. So a second line of an identity in the same
     * batch is compared with the first (inserted in line order), as it
     * would have been had each line been a statement of its own. The
     * table is read through LATERAL ... LIMIT 1 (the identity is unique
     * anyway) so that each line is one lookup in the identity index: a
     * plain join lets the planner hash the whole table, payloads detoasted,
     * once per batch. */
    r = PQexecParams(st->conn,
                     "WITH u AS (SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[],"
                     "     $4::text[], $5::integer[], $6::bigint[], $7::bytea[], $8::bytea[],"
                     "     $9::text[]) WITH ORDINALITY AS u(client_id, kind, backup_method,"
                     "     pair_id, version, kek_id, envelope, payload, created_at, n)),"
                     " ins AS (INSERT INTO share_record"
                     "   (client_id, kind, backup_method, pair_id, version, kek_id, envelope,"
                     "    payload, created_at)"
                     "   SELECT client_id, kind, backup_method, pair_id, version, kek_id, envelope,"
                     "          payload, coalesce(created_at::timestamptz, now())"
                     "     FROM u ORDER BY n"
                     "   ON CONFLICT (client_id, kind, backup_method, pair_id, version)"
                     "   DO NOTHING"
                     "   RETURNING client_id, kind, backup_method, pair_id, version, envelope,"
                     "             payload)"
                     " SELECT (SELECT count(*) FROM ins)::integer,"
                     "        (SELECT min(u.n) FROM u"
                     "           LEFT JOIN ins i ON i.client_id = u.client_id AND i.kind = u.kind"
                     "                AND i.backup_method = u.backup_method"
                     "                AND i.pair_id = u.pair_id AND i.version = u.version"
                     "           LEFT JOIN LATERAL (SELECT s.envelope, s.payload FROM share_record s"
                     "                WHERE s.client_id = u.client_id AND s.kind = u.kind"
                     "                  AND s.backup_method = u.backup_method"
                     "                  AND s.pair_id = u.pair_id AND s.version = u.version"
                     "                LIMIT 1) s ON true"
                     "          WHERE (i.envelope, i.payload) IS DISTINCT FROM (u.envelope, u.payload)"
                     "            AND (s.envelope, s.payload) IS DISTINCT FROM (u.envelope, u.payload))",
                     IMP_COLUMNS, NULL, params, lengths, formats, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        s = store_classify(st, r, "import");
        /* a unique violation here is not a record of the batch in conflict */
        if (s == STORE_CONFLICT)
            s = STORE_ERROR;
        goto out;
    }
    if (!PQgetisnull(r, 0, 1)) {
        long long k = atoll(PQgetvalue(r, 0, 1));

        if (k < 1 || (size_t)k > n) {
            s = STORE_ERROR;
            goto out;
        }
        *conflict = (size_t)k - 1;
        s = STORE_CONFLICT;
        goto out;
    }
    *inserted = atoll(PQgetvalue(r, 0, 0));
    s = STORE_OK;
out:
    PQclear(r);
    for (int c = 0; c < IMP_COLUMNS; c++)
        array_free(&col[c]);
    return s;
}

/* ---- retention (sharekeep prune) ----------------------------------------- */

store_status store_admin_role(struct store *st, char user[64], int *member)
{
    PGresult *r = NULL;
    store_status s = store_connected(st);

    *member = 0;
    if (s != STORE_OK)
        return s;
    r = PQexecParams(st->conn,
                     "SELECT current_user::text,"
                     " pg_has_role(current_user, 'sharekeep_admin', 'MEMBER')::text",
                     0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        s = store_classify(st, r, "admin_role");
        goto out;
    }
    if (store_copy_text(r, 0, 0, user, 64) != STORE_OK) {
        s = STORE_ERROR;
        goto out;
    }
    *member = strcmp(PQgetvalue(r, 0, 1), "true") == 0;
out:
    PQclear(r);
    return s;
}

store_status store_retention_cutoff(struct store *st, int days, char cutoff[STORE_TIME_LEN])
{
    char days_s[12];
    const char *params[1] = { days_s };
    PGresult *r = NULL;
    store_status s = store_connected(st);

    if (s != STORE_OK)
        return s;
    snprintf(days_s, sizeof(days_s), "%d", days);
    r = PQexecParams(st->conn,
                     "SELECT to_char((now() - $1::integer * interval '1 day') AT TIME ZONE 'UTC',"
                     " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
                     1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        s = store_classify(st, r, "retention_cutoff");
        goto out;
    }
    if (store_copy_text(r, 0, 0, cutoff, STORE_TIME_LEN) != STORE_OK)
        s = STORE_ERROR;
out:
    PQclear(r);
    return s;
}

/* In id order rather than by time: audit_event has no index on `at`, and
 * none is added, as every request writes a row. The rows a run removes are
 * the oldest ids (`at` is the start of the row's own short transaction), so
 * the caller walks ids until a batch holds nothing older than the cutoff. */
store_status store_prune_audit(struct store *st, const char *cutoff, long long after_id,
                               int limit, int *scanned, long long *last_id, long long *removed)
{
    char after_s[24], limit_s[12];
    const char *params[3] = { after_s, limit_s, cutoff };
    PGresult *r = NULL;
    long long last = 0, gone = 0;
    int seen = 0;
    store_status s;

    if ((s = store_begin(st)) != STORE_OK)
        return s;
    /* What sql/005's trigger asks of a DELETE on audit_event, besides the
     * admin role and the row's age; for this transaction only. */
    r = PQexecParams(st->conn, "SELECT set_config('sharekeep.retention', 'on', true)", 0, NULL,
                     NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s = store_classify(st, r, "prune_audit retention run");
        goto out;
    }
    PQclear(r);
    snprintf(after_s, sizeof(after_s), "%lld", after_id);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    r = PQexecParams(st->conn,
                     "WITH batch AS ("
                     "   SELECT id, at < $3::timestamptz AS old FROM audit_event"
                     "    WHERE id > $1::bigint ORDER BY id LIMIT $2::integer),"
                     " gone AS ("
                     "   DELETE FROM audit_event a USING batch b"
                     "    WHERE a.id = b.id AND b.old RETURNING 1)"
                     " SELECT (SELECT count(*) FROM batch)::integer,"
                     "        (SELECT coalesce(max(id), $1::bigint) FROM batch),"
                     "        (SELECT count(*) FROM gone)",
                     3, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
        PQgetlength(r, 0, 0) != 4 || PQgetlength(r, 0, 1) != 8 || PQgetlength(r, 0, 2) != 8) {
        s = store_classify(st, r, "prune_audit");
        goto out;
    }
    seen = (int)store_be32(PQgetvalue(r, 0, 0));
    last = store_be64(PQgetvalue(r, 0, 1));
    gone = store_be64(PQgetvalue(r, 0, 2));
    s = store_commit(st);
out:
    PQclear(r);
    if (s != STORE_OK) {
        store_rollback(st);
        return s;
    }
    *scanned = seen;
    *last_id = last;
    *removed = gone;
    return STORE_OK;
}

/* webhook_delivery is keyed by delivery id: sql/005 indexes received_at
 * for this. */
store_status store_prune_deliveries(struct store *st, const char *cutoff, int limit,
                                    long long *removed)
{
    char limit_s[12];
    const char *params[2] = { cutoff, limit_s };
    PGresult *r = NULL;
    store_status s = store_connected(st);

    if (s != STORE_OK)
        return s;
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    r = PQexecParams(st->conn,
                     "WITH gone AS ("
                     "   DELETE FROM webhook_delivery WHERE delivery_id IN ("
                     "     SELECT delivery_id FROM webhook_delivery"
                     "      WHERE received_at < $1::timestamptz"
                     "      ORDER BY received_at LIMIT $2::integer)"
                     "   RETURNING 1)"
                     " SELECT count(*) FROM gone",
                     2, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 8) {
        s = store_classify(st, r, "prune_deliveries");
        goto out;
    }
    *removed = store_be64(PQgetvalue(r, 0, 0));
out:
    PQclear(r);
    return s;
}

store_status store_audit_prune(struct store *st, const struct store_prune_row *p)
{
    char result_s[8], audit_s[24], deliveries_s[24];
    const char *params[7] = { p->endpoint, result_s, p->request_id, p->audit_before,
                              p->delivery_before, audit_s, deliveries_s };
    PGresult *r = NULL;
    store_status s = store_connected(st);

    if (s != STORE_OK)
        return s;
    snprintf(result_s, sizeof(result_s), "%d", p->result);
    snprintf(audit_s, sizeof(audit_s), "%lld", p->audit_removed);
    snprintf(deliveries_s, sizeof(deliveries_s), "%lld", p->deliveries_removed);
    r = PQexecParams(st->conn,
                     "INSERT INTO audit_event (endpoint, result, request_id, detail)"
                     " VALUES ($1, $2::smallint, $3, jsonb_build_object("
                     "   'audit_before', $4::text, 'delivery_before', $5::text,"
                     "   'audit_removed', $6::bigint, 'deliveries_removed', $7::bigint,"
                     "   'db_user', session_user::text))",
                     7, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        s = store_classify(st, r, "audit_prune");
    PQclear(r);
    return s;
}
