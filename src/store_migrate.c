/* Migrations: each sql/NNN_*.sql applied once, in order, under a lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "store.h"
#include "store_int.h"

store_status store_migrate(struct store *st, const char *name, const char *sql, int *applied)
{
    const char *params[1] = { name };
    PGresult *r = NULL;
    store_status s;
    int in_tx = 0;

    *applied = 0;
    s = store_connected(st);
    if (s != STORE_OK)
        return s;
    if ((s = store_exec(st, "BEGIN", "begin")) != STORE_OK)
        goto out;
    in_tx = 1;
    /* Two migrators at once (two hosts deploying) take turns. */
    if ((s = store_exec(st, "SELECT pg_advisory_xact_lock(7310182505)", "lock")) != STORE_OK)
        goto out;
    if ((s = store_exec(st,
                         "CREATE TABLE IF NOT EXISTS schema_migration ("
                         " name text PRIMARY KEY,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                         "schema_migration")) != STORE_OK)
        goto out;
    r = PQexecParams(st->conn, "SELECT 1 FROM schema_migration WHERE name = $1", 1, NULL,
                     params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s = store_classify(st, r, "schema_migration select");
        goto out;
    }
    if (PQntuples(r) > 0) {
        s = STORE_OK;
        goto out;
    }
    PQclear(r);
    r = NULL;
    if ((s = store_exec(st, sql, name)) != STORE_OK)
        goto out;
    r = PQexecParams(st->conn, "INSERT INTO schema_migration (name) VALUES ($1)", 1, NULL,
                     params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        s = store_classify(st, r, "schema_migration insert");
        goto out;
    }
    *applied = 1;
    s = STORE_OK;
out:
    PQclear(r);
    if (in_tx && st->conn != NULL) {
        PGresult *e = PQexec(st->conn, s == STORE_OK ? "COMMIT" : "ROLLBACK");
        if (s == STORE_OK && PQresultStatus(e) != PGRES_COMMAND_OK) {
            s = store_classify(st, e, "commit");
            *applied = 0;
        }
        PQclear(e);
    }
    return s;
}
