#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "log.h"
#include "store.h"

/* A failed connect is not retried more often than this, so a database outage
 * costs each request one clock read, not one connect timeout. */
#define RECONNECT_BACKOFF_MS 1000

struct store {
    char *conninfo;
    PGconn *conn;
    int prepared;        /* statements exist on this connection */
    long long last_attempt_ms;
};

struct statement {
    const char *name;
    const char *sql;
    int nparams;
};

static const struct statement statements[] = {
    { "sk_ping", "SELECT 1", 0 },
    { "sk_latest",
      "SELECT version, sealed FROM share_record"
      " WHERE client_id = $1 AND kind = $2::smallint"
      " ORDER BY version DESC LIMIT 1", 2 },
    { "sk_insert",
      "INSERT INTO share_record (client_id, kind, version, kek_id, sealed)"
      " VALUES ($1, $2::smallint, $3::integer, $4::bigint, $5::bytea)", 5 },
};

/* First line of a libpq message, for one-line logs. */
static const char *first_line(const char *msg, char *buf, size_t len)
{
    size_t n = strcspn(msg, "\n");

    if (n >= len)
        n = len - 1;
    memcpy(buf, msg, n);
    buf[n] = '\0';
    return buf;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *store_strerror(store_status s)
{
    switch (s) {
    case STORE_OK: return "ok";
    case STORE_NOT_FOUND: return "not found";
    case STORE_CONFLICT: return "version conflict";
    case STORE_UNAVAILABLE: return "database unavailable";
    case STORE_ERROR: return "database error";
    }
    return "unknown";
}

static void disconnect(struct store *st)
{
    if (st->conn != NULL)
        PQfinish(st->conn);
    st->conn = NULL;
    st->prepared = 0;
}

/* libpq notices (e.g. "relation already exists, skipping") would otherwise go
 * to stderr unstructured. */
static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static store_status connect_now(struct store *st)
{
    /* Our defaults come first so that the operator's conninfo, expanded from
     * "dbname", overrides any of them. */
    const char *const keys[] = {
        "connect_timeout", "application_name", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "dbname", NULL
    };
    const char *const vals[] = { "5", "sharekeep", "1", "10", "5", "3", st->conninfo, NULL };
    store_status rc = STORE_UNAVAILABLE;
    char line[256];

    st->last_attempt_ms = now_ms();
    st->conn = PQconnectdbParams(keys, vals, 1);
    if (st->conn == NULL || PQstatus(st->conn) != CONNECTION_OK) {
        log_warn("database connect failed", "error=\"%s\"",
                 st->conn ? first_line(PQerrorMessage(st->conn), line, sizeof(line))
                          : "out of memory");
        goto out;
    }
    PQsetNoticeProcessor(st->conn, notice_to_log, NULL);
    rc = STORE_OK;
out:
    if (rc != STORE_OK)
        disconnect(st);
    return rc;
}

static store_status ensure_connected(struct store *st)
{
    if (st->conn != NULL && PQstatus(st->conn) == CONNECTION_OK)
        return STORE_OK;
    disconnect(st);
    if (st->last_attempt_ms != 0 && now_ms() - st->last_attempt_ms < RECONNECT_BACKOFF_MS)
        return STORE_UNAVAILABLE;
    return connect_now(st);
}

/* Prepared once per connection; kept apart from connecting so that migrate
 * can connect to a database that has no tables yet. */
static store_status ensure_ready(struct store *st)
{
    store_status s = ensure_connected(st);

    if (s != STORE_OK || st->prepared)
        return s;
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        PGresult *r = PQprepare(st->conn, statements[i].name, statements[i].sql,
                                statements[i].nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            /* A missing table means the schema was never migrated: say so. */
            log_error("preparing statement failed", "statement=%s sqlstate=%s hint=\"%s\"",
                      statements[i].name, state ? state : "-",
                      state && strcmp(state, "42P01") == 0 ? "run: sharekeep migrate" : "-");
            PQclear(r);
            disconnect(st);
            return STORE_UNAVAILABLE;
        }
        PQclear(r);
    }
    st->prepared = 1;
    return STORE_OK;
}

/* Maps a failed result to a status. Connection-level and "try elsewhere"
 * failures drop the connection so the next request reconnects, which is how
 * a multi-host conninfo finds the new primary after a failover. */
static store_status classify(struct store *st, PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int drop = 0;
    store_status s = STORE_ERROR;

    if (PQstatus(st->conn) != CONNECTION_OK || state == NULL) {
        s = STORE_UNAVAILABLE;
        drop = 1;
    } else if (strcmp(state, "23505") == 0) {
        return STORE_CONFLICT;
    } else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
               strcmp(state, "25006") == 0 /* read-only: we hit a standby */) {
        s = STORE_UNAVAILABLE;
        drop = 1;
    } else if (strncmp(state, "53", 2) == 0 || strncmp(state, "58", 2) == 0 ||
               strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
               strcmp(state, "55P03") == 0) {
        s = STORE_UNAVAILABLE;
    }
    log_warn("database statement failed", "statement=%s sqlstate=%s result=%s", what,
             state ? state : "-", store_strerror(s));
    if (drop)
        disconnect(st);
    return s;
}

store_status store_new(const char *conninfo, struct store **out)
{
    struct store *st = calloc(1, sizeof(*st));

    if (st == NULL || (st->conninfo = strdup(conninfo)) == NULL) {
        free(st);
        return STORE_ERROR;
    }
    *out = st;
    return STORE_OK;
}

void store_free(struct store *st)
{
    if (st == NULL)
        return;
    disconnect(st);
    /* The conninfo may carry a password. */
    OPENSSL_cleanse(st->conninfo, strlen(st->conninfo));
    free(st->conninfo);
    free(st);
}

store_status store_ping(struct store *st)
{
    PGresult *r = NULL;
    store_status s;

    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    r = PQexecPrepared(st->conn, "sk_ping", 0, NULL, NULL, NULL, 0);
    s = PQresultStatus(r) == PGRES_TUPLES_OK ? STORE_OK : classify(st, r, "sk_ping");
    PQclear(r);
    return s;
}

static uint32_t be32(const char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return ntohl(v);
}

store_status store_latest(struct store *st, const char *client_id, int kind,
                          uint32_t *version, uint8_t **sealed, size_t *sealed_len)
{
    char kind_s[4];
    const char *params[2] = { client_id, kind_s };
    PGresult *r = NULL;
    store_status s;
    size_t n;

    *sealed = NULL;
    *sealed_len = 0;
    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    snprintf(kind_s, sizeof(kind_s), "%d", kind);
    r = PQexecPrepared(st->conn, "sk_latest", 2, params, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s = classify(st, r, "sk_latest");
        goto out;
    }
    if (PQntuples(r) == 0) {
        s = STORE_NOT_FOUND;
        goto out;
    }
    if (PQgetlength(r, 0, 0) != 4) {
        s = STORE_ERROR;
        goto out;
    }
    *version = be32(PQgetvalue(r, 0, 0));
    n = (size_t)PQgetlength(r, 0, 1);
    *sealed = malloc(n > 0 ? n : 1);
    if (*sealed == NULL) {
        s = STORE_ERROR;
        goto out;
    }
    memcpy(*sealed, PQgetvalue(r, 0, 1), n);
    *sealed_len = n;
    s = STORE_OK;
out:
    PQclear(r);
    return s;
}

store_status store_insert(struct store *st, const char *client_id, int kind, uint32_t version,
                          uint32_t kek_id, const uint8_t *sealed, size_t sealed_len)
{
    char kind_s[4], version_s[12], kek_s[12];
    const char *params[5] = { client_id, kind_s, version_s, kek_s, (const char *)sealed };
    int lengths[5] = { 0, 0, 0, 0, (int)sealed_len };
    int formats[5] = { 0, 0, 0, 0, 1 };
    PGresult *r = NULL;
    store_status s;

    if (sealed_len > INT32_MAX)
        return STORE_ERROR;
    s = ensure_ready(st);
    if (s != STORE_OK)
        return s;
    snprintf(kind_s, sizeof(kind_s), "%d", kind);
    snprintf(version_s, sizeof(version_s), "%u", version);
    snprintf(kek_s, sizeof(kek_s), "%u", kek_id);
    r = PQexecPrepared(st->conn, "sk_insert", 5, params, lengths, formats, 0);
    s = PQresultStatus(r) == PGRES_COMMAND_OK ? STORE_OK : classify(st, r, "sk_insert");
    PQclear(r);
    return s;
}

static store_status exec_simple(struct store *st, const char *sql, const char *what)
{
    PGresult *r = PQexec(st->conn, sql);
    char line[256];
    store_status s = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK
                         ? STORE_OK : classify(st, r, what);

    if (s != STORE_OK && st->conn != NULL)
        log_error("migration statement failed", "step=%s error=\"%s\"", what,
                  first_line(PQerrorMessage(st->conn), line, sizeof(line)));
    PQclear(r);
    return s;
}

store_status store_migrate(struct store *st, const char *name, const char *sql, int *applied)
{
    const char *params[1] = { name };
    PGresult *r = NULL;
    store_status s;
    int in_tx = 0;

    *applied = 0;
    s = ensure_connected(st);
    if (s != STORE_OK)
        return s;
    if ((s = exec_simple(st, "BEGIN", "begin")) != STORE_OK)
        goto out;
    in_tx = 1;
    /* Two migrators at once (two hosts deploying) take turns. */
    if ((s = exec_simple(st, "SELECT pg_advisory_xact_lock(7310182505)", "lock")) != STORE_OK)
        goto out;
    if ((s = exec_simple(st,
                         "CREATE TABLE IF NOT EXISTS schema_migration ("
                         " name text PRIMARY KEY,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                         "schema_migration")) != STORE_OK)
        goto out;
    r = PQexecParams(st->conn, "SELECT 1 FROM schema_migration WHERE name = $1", 1, NULL,
                     params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s = classify(st, r, "schema_migration select");
        goto out;
    }
    if (PQntuples(r) > 0) {
        s = STORE_OK;
        goto out;
    }
    PQclear(r);
    r = NULL;
    if ((s = exec_simple(st, sql, name)) != STORE_OK)
        goto out;
    r = PQexecParams(st->conn, "INSERT INTO schema_migration (name) VALUES ($1)", 1, NULL,
                     params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        s = classify(st, r, "schema_migration insert");
        goto out;
    }
    *applied = 1;
    s = STORE_OK;
out:
    PQclear(r);
    if (in_tx && st->conn != NULL) {
        PGresult *e = PQexec(st->conn, s == STORE_OK ? "COMMIT" : "ROLLBACK");
        if (s == STORE_OK && PQresultStatus(e) != PGRES_COMMAND_OK) {
            s = classify(st, e, "commit");
            *applied = 0;
        }
        PQclear(e);
    }
    return s;
}
