/* The only DELETEs of shares there are (sql/007): superseded versions
 * beyond the newest N of each identity, and every share of one client.
 * Each runs as one transaction that first says which removal it is (the
 * trigger's condition) and writes its own audit row in the same statement
 * as the DELETE, so a removal and its record commit together or not at all.
 * Through the admin role only; admin_remove.c is the command around them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_int.h"

/* BEGIN, then the removal's settings (set_config(..., true): to the end of
 * this transaction only). */
static store_status begin_removal(struct store *st, const char *kind, const char *client_id)
{
    const char *params[2] = { kind, client_id != NULL ? client_id : "" };
    PGresult *r;
    store_status s = store_begin(st);

    if (s != STORE_OK)
        return s;
    r = PQexecParams(st->conn,
                     "SELECT set_config('sharekeep.share_removal', $1, true),"
                     "       set_config('sharekeep.purge_client', $2, true)",
                     2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        s = store_classify(st, r, "share removal");
        store_rollback(st);
    }
    PQclear(r);
    return s;
}

store_status store_prune_versions(struct store *st, const struct store_prune_versions *p,
                                  long long after_id, int limit, int *scanned,
                                  long long *last_id, long long *removed)
{
    char keep_s[12], days_s[12], after_s[24], limit_s[12];
    const char *params[6] = { keep_s, days_s, after_s, limit_s, p->endpoint, p->request_id };
    PGresult *r = NULL;
    store_status s;

    *scanned = 0;
    *last_id = after_id;
    *removed = 0;
    snprintf(keep_s, sizeof(keep_s), "%d", p->keep);
    snprintf(days_s, sizeof(days_s), "%d", p->older_days);
    snprintf(after_s, sizeof(after_s), "%lld", after_id);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    if ((s = begin_removal(st, "superseded", NULL)) != STORE_OK)
        return s;
    /* A chunk of ids in order; of those, the versions with at least keep
     * newer ones of their identity (counted on the identity index), older
     * than the age if one is given. The trigger checks again that each has
     * a newer version: the newest never goes. */
    r = PQexecParams(st->conn,
                     "WITH chunk AS (SELECT id FROM share_record WHERE id > $3::bigint"
                     "               ORDER BY id LIMIT $4::integer),"
                     " doomed AS (SELECT r.id FROM share_record r JOIN chunk USING (id)"
                     "   WHERE ($2::integer = 0"
                     "          OR r.created_at < now() - make_interval(days => $2::integer))"
                     "     AND (SELECT count(*) FROM share_record n"
                     "           WHERE n.client_id = r.client_id AND n.kind = r.kind"
                     "             AND n.backup_method = r.backup_method"
                     "             AND n.pair_id = r.pair_id AND n.version > r.version)"
                     "         >= $1::integer),"
                     " del AS (DELETE FROM share_record WHERE id IN (SELECT id FROM doomed)"
                     "         RETURNING id),"
                     " a AS (INSERT INTO audit_event (endpoint, result, request_id, detail)"
                     "   SELECT $5, 200, $6, jsonb_build_object('keep', $1::integer,"
                     "     'older_than_days', nullif($2::integer, 0),"
                     "     'removed', (SELECT count(*) FROM del),"
                     "     'up_to_id', (SELECT max(id) FROM chunk), 'db_user', session_user::text)"
                     "   WHERE EXISTS (SELECT 1 FROM del))"
                     " SELECT (SELECT count(*) FROM chunk)::integer,"
                     "        coalesce((SELECT max(id) FROM chunk), $3::bigint),"
                     "        (SELECT count(*) FROM del)",
                     6, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        s = store_classify(st, r, "prune versions");
        store_rollback(st);
        goto out;
    }
    *scanned = atoi(PQgetvalue(r, 0, 0));
    *last_id = atoll(PQgetvalue(r, 0, 1));
    *removed = atoll(PQgetvalue(r, 0, 2));
    s = store_commit(st);
    if (s != STORE_OK) {
        *removed = 0;
        *scanned = 0;
    }
out:
    PQclear(r);
    return s;
}

store_status store_purge_client(struct store *st, const char *client_id, const char *endpoint,
                                const char *request_id, long long *shares, long long *deliveries)
{
    const char *params[3] = { client_id, endpoint, request_id };
    PGresult *r = NULL;
    store_status s;

    *shares = 0;
    *deliveries = 0;
    if ((s = begin_removal(st, "purge", client_id)) != STORE_OK)
        return s;
    /* The client's delivery ids go too: a redelivery of one of its old
     * webhooks must store its share again, not be answered as stored. */
    r = PQexecParams(st->conn,
                     "WITH d AS (DELETE FROM share_record WHERE client_id = $1 RETURNING 1),"
                     " w AS (DELETE FROM webhook_delivery WHERE client_id = $1 RETURNING 1),"
                     " a AS (INSERT INTO audit_event (endpoint, client_id, result, request_id,"
                     "   detail) VALUES ($2, $1, 200, $3, jsonb_build_object("
                     "   'shares_removed', (SELECT count(*) FROM d),"
                     "   'delivery_ids_removed', (SELECT count(*) FROM w),"
                     "   'db_user', session_user::text)))"
                     " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM w)",
                     3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        s = store_classify(st, r, "purge");
        store_rollback(st);
        goto out;
    }
    *shares = atoll(PQgetvalue(r, 0, 0));
    *deliveries = atoll(PQgetvalue(r, 0, 1));
    s = store_commit(st);
    if (s != STORE_OK)
        *shares = *deliveries = 0;
out:
    PQclear(r);
    return s;
}
