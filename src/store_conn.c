/* The connection under every statement: connecting (by the request's
 * deadline when serving), the session's timeouts, waiting for results no
 * longer than the deadline, mapping failures to statuses, reconnecting with
 * a back-off. The statements themselves are store.c's (and store_admin.c's,
 * store_migrate.c's). */
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
#include "metrics.h"
#include "seal.h"
#include "store.h"
#include "store_int.h"

/* A failed connect is not retried more often than this, so a database outage
 * costs each request one clock read, not one connect timeout. */
#define RECONNECT_BACKOFF_MS 1000

/* First line of a libpq message, for one-line logs. */
const char *store_first_line(const char *msg, char *buf, size_t len)
{
    size_t n = strcspn(msg, "\n");

    if (n >= len)
        n = len - 1;
    memcpy(buf, msg, n);
    buf[n] = '\0';
    return buf;
}

long long store_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_set_timeout(struct store *st, int timeout_ms)
{
    st->timeout_ms = timeout_ms;
}

void store_set_deadline(struct store *st, long long deadline_ms)
{
    st->deadline_ms = deadline_ms;
}

/* Milliseconds left before the deadline: > 0, or 0 when it has passed; -1
 * when there is none. */
long long store_time_left(const struct store *st)
{
    long long left;

    if (st->deadline_ms == 0)
        return -1;
    left = st->deadline_ms - store_now_ms();
    return left > 0 ? left : 0;
}

/* Waits until the connection's socket can be read (or written), at most
 * until the deadline. 0 when ready, -1 when the deadline passed first (or
 * the socket is gone). */
static int wait_socket(const struct store *st, int for_write)
{
    struct pollfd p = { PQsocket(st->conn), for_write ? POLLOUT : POLLIN, 0 };
    long long left;
    int r;

    if (p.fd < 0)
        return -1;
    do {
        left = store_time_left(st);
        if (left == 0)
            return -1;
        r = poll(&p, 1, left < 0 ? -1 : (int)(left > INT32_MAX ? INT32_MAX : left));
    } while (r < 0 && errno == EINTR);
    return r > 0 ? 0 : -1;
}

const char *store_last_sqlstate(const struct store *st)
{
    return st != NULL ? st->last_sqlstate : "";
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

void store_disconnect(struct store *st)
{
    if (st->conn != NULL)
        PQfinish(st->conn);
    st->conn = NULL;
    st->ready = 0;
    st->timeouts_due = 0;
    st->prepared = 0;
}

/* libpq notices (e.g. "relation already exists, skipping") would go to
 * stderr unstructured, so they are dropped, except that a WARNING is
 * remembered for the statement that caused it: a COMMIT whose wait for a
 * synchronous standby was cancelled succeeds with nothing but a WARNING
 * ("The transaction has already committed locally, but might not have been
 * replicated to the standby"). */
static void notice_receiver(void *arg, const PGresult *r)
{
    struct store *st = arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);

    if (sev != NULL && strcmp(sev, "WARNING") == 0)
        st->warned = 1;
}

/* A write that committed with a WARNING is not acknowledged: it may exist on
 * this server only. The caller answers 503, and a retry of the same
 * delivery is answered only after a later commit of ours (which waits for
 * the standby like any other) has gone through cleanly. Any WARNING counts:
 * a false alarm costs the provider a retry, a missed one a share. */
store_status store_durable(struct store *st, store_status s, const char *what)
{
    if (s == STORE_OK && st->warned) {
        log_warn("write committed with a warning; not acknowledged", "statement=%s", what);
        return STORE_UNAVAILABLE;
    }
    return s;
}

/* Our defaults come first so that the operator's conninfo, expanded from
 * "dbname", overrides any of them. */
static PGconn *connect_start(const struct store *st)
{
    const char *const keys[] = {
        "connect_timeout", "application_name", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "dbname", NULL
    };
    const char *const vals[] = { "5", "sharekeep", "1", "10", "5", "3", st->conninfo, NULL };

    return st->timeout_ms > 0 ? PQconnectStartParams(keys, vals, 1)
                              : PQconnectdbParams(keys, vals, 1);
}

/* Drives a started connection (st->conn, st->poll) as far as it goes
 * without waiting, or, with wait set, to its end but never past the
 * deadline: libpq's own connect_timeout is per host and does not cover a
 * server that accepts the connection and then says nothing (a frozen
 * postmaster). 0 when it ended (PQstatus says how) or, without wait, would
 * have to wait; -1 when the deadline passed first. */
static int connect_poll(struct store *st, int wait)
{
    struct pollfd p;

    while (st->poll != PGRES_POLLING_OK && st->poll != PGRES_POLLING_FAILED) {
        if (wait) {
            if (wait_socket(st, st->poll == PGRES_POLLING_WRITING) != 0)
                return -1;
        } else {
            p.fd = PQsocket(st->conn);
            p.events = st->poll == PGRES_POLLING_WRITING ? POLLOUT : POLLIN;
            p.revents = 0;
            if (p.fd < 0 || poll(&p, 1, 0) != 1)
                return 0;
        }
        st->poll = PQconnectPoll(st->conn);
    }
    return 0;
}

/* The server gives up before we do: a statement, a lock wait or an open
 * transaction that outlives the request is cancelled there, not only
 * abandoned here. Session settings (set_config's false), from our own
 * integers. */
static int send_timeouts(struct store *st)
{
    char v[3][12];
    const char *params[3] = { v[0], v[1], v[2] };

    snprintf(v[0], sizeof(v[0]), "%d", st->timeout_ms * 3 / 4);
    snprintf(v[1], sizeof(v[1]), "%d", st->timeout_ms / 2);
    snprintf(v[2], sizeof(v[2]), "%d", st->timeout_ms);
    return PQsendQueryParams(st->conn,
                             "SELECT set_config('statement_timeout', $1, false),"
                             " set_config('lock_timeout', $2, false),"
                             " set_config('idle_in_transaction_session_timeout', $3, false)",
                             3, NULL, params, NULL, NULL, 0);
}

static int session_timeouts(struct store *st)
{
    PGresult *r;
    int ok;

    if (!send_timeouts(st))
        return -1;
    r = store_await(st, "session timeouts");
    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

/* The results of the two statements of a pipeline that ends each with a
 * Sync (see store_send), waiting no longer than the deadline. 0 with both
 * set (either may be an error); -1, none set, when the deadline passed or
 * the connection failed. */
static int await_pipeline(struct store *st, const char *what, PGresult **first,
                          PGresult **second)
{
    PGresult *got[2] = { NULL, NULL }, *r;
    int syncs = 0, ends = 0, f;

    while ((f = PQflush(st->conn)) > 0)
        if (wait_socket(st, 1) != 0)
            goto timed_out;
    if (f < 0)
        goto failed;
    while (syncs < 2) {
        while (syncs < 2 && !PQisBusy(st->conn)) {
            r = PQgetResult(st->conn);
            /* One NULL ends each statement's results; two in a row mean
             * nothing more is coming. */
            if (r == NULL) {
                if (++ends > 1)
                    goto failed;
                continue;
            }
            ends = 0;
            if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
                PQclear(r);
                syncs++;
                continue;
            }
            PQclear(got[syncs]);
            got[syncs] = r;
        }
        if (syncs < 2 && wait_socket(st, 0) != 0)
            goto timed_out;
        if (syncs < 2 && !PQconsumeInput(st->conn))
            goto failed;
    }
    if (!PQexitPipelineMode(st->conn))
        goto failed;
    *first = got[0];
    *second = got[1];
    return 0;
timed_out:
    log_warn("database statement past the request deadline; abandoned", "statement=%s", what);
failed:
    PQclear(got[0]);
    PQclear(got[1]);
    return -1;
}

PGresult *store_send(struct store *st, const char *what, const char *sql, int n,
                     const char *const *params, const int *lengths, const int *formats)
{
    PGresult *timeouts = NULL, *r = NULL;

    if (!st->timeouts_due)
        return PQsendQueryParams(st->conn, sql, n, NULL, params, lengths, formats, 1)
                   ? store_await(st, what) : NULL;
    /* The session's timeouts and the statement in one round trip, each in
     * its own transaction (a Sync after each). Should the timeouts fail,
     * the statement's result is not used: the caller answers "unavailable"
     * (for a write: not acknowledged), as for any connection failure. */
    st->timeouts_due = 0;
    if (!PQenterPipelineMode(st->conn) || !send_timeouts(st) || !PQpipelineSync(st->conn) ||
        !PQsendQueryParams(st->conn, sql, n, NULL, params, lengths, formats, 1) ||
        !PQpipelineSync(st->conn) || await_pipeline(st, what, &timeouts, &r) != 0)
        return NULL;
    if (PQresultStatus(timeouts) != PGRES_TUPLES_OK) {
        log_warn("database session timeouts not set", "statement=%s", what);
        PQclear(r);
        r = NULL;
    }
    PQclear(timeouts);
    return r;
}

/* Starts a connection unless one is there or under way. */
static void start_now(struct store *st)
{
    if (st->conn != NULL)
        return;
    st->last_attempt_ms = store_now_ms();
    st->conn = connect_start(st);
    st->poll = PGRES_POLLING_WRITING;
}

/* Finishes what start_now began: connected, with the session's timeouts. */
static store_status finish_now(struct store *st)
{
    store_status rc = STORE_UNAVAILABLE;
    const char *why = "out of memory";
    char line[256];

    if (st->conn != NULL && PQstatus(st->conn) != CONNECTION_BAD && st->timeout_ms > 0 &&
        connect_poll(st, 1) != 0) {
        why = "no answer before the request deadline";
        PQfinish(st->conn);
        st->conn = NULL;
    }
    if (st->conn == NULL || PQstatus(st->conn) != CONNECTION_OK) {
        metrics_db_error();
        log_warn("database connect failed", "error=\"%s\"",
                 st->conn ? store_first_line(PQerrorMessage(st->conn), line, sizeof(line))
                          : why);
        goto out;
    }
    PQsetNoticeReceiver(st->conn, notice_receiver, st);
    if (st->timeout_ms > 0 && PQsetnonblocking(st->conn, 1) != 0)
        goto out;
    /* A one-shot store sends them with its first statement (store_send). */
    if (st->timeout_ms > 0 && st->one_shot)
        st->timeouts_due = 1;
    else if (st->timeout_ms > 0 && session_timeouts(st) != 0)
        goto out;
    st->ready = 1;
    rc = STORE_OK;
out:
    if (rc != STORE_OK)
        store_disconnect(st);
    return rc;
}

void store_connect_start(struct store *st)
{
    if (st->timeout_ms <= 0)
        return;
    start_now(st);
    if (st->conn != NULL && PQstatus(st->conn) != CONNECTION_BAD)
        (void)connect_poll(st, 0);
}

store_status store_connected(struct store *st)
{
    if (st->conn != NULL && st->ready && PQstatus(st->conn) == CONNECTION_OK)
        return STORE_OK;
    /* Started by store_connect_start: this request's own attempt. */
    if (st->conn != NULL && !st->ready)
        return finish_now(st);
    store_disconnect(st);
    if (st->last_attempt_ms != 0 && store_now_ms() - st->last_attempt_ms < RECONNECT_BACKOFF_MS)
        return STORE_UNAVAILABLE;
    start_now(st);
    return finish_now(st);
}

/* Maps a failed result to a status. Connection-level and "try elsewhere"
 * failures drop the connection so the next request reconnects, which is how
 * a multi-host conninfo finds the new primary after a failover. */
store_status store_classify(struct store *st, PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int drop = 0;
    store_status s = STORE_ERROR;

    snprintf(st->last_sqlstate, sizeof(st->last_sqlstate), "%s", state ? state : "");

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
    /* A missing table means the schema was never migrated. A one-shot
     * store, which prepares nothing, meets it here rather than at prepare,
     * and answers as a failed prepare does: unavailable, with the hint. */
    if (st->one_shot && state != NULL && strcmp(state, "42P01") == 0) {
        s = STORE_UNAVAILABLE;
        drop = 1;
        log_error("table missing", "statement=%s hint=\"run: sharekeep migrate\"", what);
    }
    metrics_db_error();
    log_warn("database statement failed", "statement=%s sqlstate=%s result=%s", what,
             state ? state : "-", store_strerror(s));
    if (drop)
        store_disconnect(st);
    return s;
}

/* The result of what was just sent (the last one, for several), waiting on
 * the socket no longer than the deadline. NULL when the deadline passed or
 * the connection failed: store_classify then drops the connection, which
 * is the only way to abandon a statement without waiting for the server. */
PGresult *store_await(struct store *st, const char *what)
{
    PGresult *last = NULL, *r;
    int f;

    while ((f = PQflush(st->conn)) > 0)
        if (wait_socket(st, 1) != 0)
            goto timed_out;
    if (f < 0)
        goto failed;
    for (;;) {
        while (!PQisBusy(st->conn)) {
            r = PQgetResult(st->conn);
            if (r == NULL)
                return last;
            PQclear(last);
            last = r;
        }
        if (wait_socket(st, 0) != 0)
            goto timed_out;
        if (!PQconsumeInput(st->conn))
            goto failed;
    }
timed_out:
    log_warn("database statement past the request deadline; abandoned", "statement=%s", what);
failed:
    PQclear(last);
    return NULL;
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
    store_disconnect(st);
    /* The conninfo may carry a password. */
    OPENSSL_cleanse(st->conninfo, strlen(st->conninfo));
    free(st->conninfo);
    free(st);
}

uint32_t store_be32(const char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return ntohl(v);
}

long long store_be64(const char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | (uint8_t)p[i];
    return (long long)v;
}

store_status store_copy_bytes(const PGresult *r, int row, int col, uint8_t **out, size_t *len)
{
    size_t n = (size_t)PQgetlength(r, row, col);

    *out = malloc(n > 0 ? n : 1);
    if (*out == NULL)
        return STORE_ERROR;
    memcpy(*out, PQgetvalue(r, row, col), n);
    *len = n;
    return STORE_OK;
}

store_status store_copy_record(const PGresult *r, int row, int col, uint8_t **out, size_t *len)
{
    size_t ne = (size_t)PQgetlength(r, row, col), np = (size_t)PQgetlength(r, row, col + 1);

    *out = NULL;
    *len = 0;
    if (ne != SEAL_ENVELOPE_LEN || np > SIZE_MAX - ne)
        return STORE_ERROR;
    *out = malloc(ne + np);
    if (*out == NULL)
        return STORE_ERROR;
    memcpy(*out, PQgetvalue(r, row, col), ne);
    memcpy(*out + ne, PQgetvalue(r, row, col + 1), np);
    *len = ne + np;
    return STORE_OK;
}

/* Copies a text column into a fixed buffer of cap bytes (NUL included). */
store_status store_copy_text(const PGresult *r, int row, int col, char *out, size_t cap)
{
    size_t n = (size_t)PQgetlength(r, row, col);

    if (n >= cap)
        return STORE_ERROR;
    memcpy(out, PQgetvalue(r, row, col), n);
    out[n] = '\0';
    return STORE_OK;
}

store_status store_exec(struct store *st, const char *sql, const char *what)
{
    PGresult *r = PQexec(st->conn, sql);
    char line[256];
    store_status s = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK
                         ? STORE_OK : store_classify(st, r, what);

    if (s != STORE_OK && st->conn != NULL)
        log_error("migration statement failed", "step=%s error=\"%s\"", what,
                  store_first_line(PQerrorMessage(st->conn), line, sizeof(line)));
    PQclear(r);
    return s;
}
