/* What store.c shares with store_admin.c and store_migrate.c: the handle
 * and the helpers every statement uses. Not for anything outside store*.c. */
#ifndef SHAREKEEP_STORE_INT_H
#define SHAREKEEP_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store.h"

struct store {
    char *conninfo;
    PGconn *conn;
    int ready;           /* conn is connected, with its session set up */
    PostgresPollingStatusType poll;   /* of a connect under way */
    unsigned prepared;   /* bit i: statement i exists on this connection */
    int one_shot;        /* store_set_one_shot: nothing is prepared */
    int timeouts_due;    /* one-shot: the session's timeouts go with the next statement */
    long long last_attempt_ms;
    int warned;          /* the server sent a WARNING during the last statement */
    /* Serving only (store_set_timeout): the session's server-side timeouts
     * derive from timeout_ms, and every connect and statement gives up at
     * deadline_ms (CLOCK_MONOTONIC; 0 = none, as for the admin commands,
     * which block as libpq does). */
    int timeout_ms;
    long long deadline_ms;
    char last_sqlstate[6];   /* of the last failed statement; "" for none */
};

/* Milliseconds left before the deadline: > 0, or 0 when it has passed; -1
 * when there is none. */
long long store_time_left(const struct store *st);
/* The result of what was just sent (the last one, for several), no later
 * than the deadline; NULL when it passed or the connection failed (and
 * store_classify then drops the connection). */
PGresult *store_await(struct store *st, const char *what);
/* Sends one unnamed statement (results in binary) and awaits its result as
 * store_await does; a one-shot store's first statement carries the
 * session's timeouts with it, in the same round trip. */
PGresult *store_send(struct store *st, const char *what, const char *sql, int n,
                     const char *const *params, const int *lengths, const int *formats);
/* A write that committed with a WARNING is not acknowledged (see
 * store_conn.c). */
store_status store_durable(struct store *st, store_status s, const char *what);
void store_disconnect(struct store *st);

/* Connects now if not connected (with the reconnect back-off). */
store_status store_connected(struct store *st);
/* Maps a failed result to a status, logs it, and drops the connection when
 * it is gone or points at a server that cannot take writes. */
store_status store_classify(struct store *st, PGresult *r, const char *what);
/* Runs one SQL string without parameters; a failure is logged with its
 * first line. */
store_status store_exec(struct store *st, const char *sql, const char *what);

/* First line of a libpq message, for one-line logs. */
const char *store_first_line(const char *msg, char *buf, size_t len);
/* Binary result columns. */
uint32_t store_be32(const char *p);
long long store_be64(const char *p);
store_status store_copy_bytes(const PGresult *r, int row, int col, uint8_t **out, size_t *len);
/* A sealed record stored as its envelope (column col, SEAL_ENVELOPE_LEN
 * bytes) and payload (col + 1), joined again into one malloc'd record. */
store_status store_copy_record(const PGresult *r, int row, int col, uint8_t **out, size_t *len);
store_status store_copy_text(const PGresult *r, int row, int col, char *out, size_t cap);

#endif
