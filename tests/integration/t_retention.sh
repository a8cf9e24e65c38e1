#!/bin/bash
# Retention and per-client bounds.
#
# sharekeep prune (sql/005_retention.sql): audit rows older than
# audit_retention and webhook delivery ids older than delivery_retention
# are removed, in batches, through the admin role only; recent rows stay;
# the command writes one audit row of its own (admin.prune, with what it
# removed); shares are never touched. The audit trail stays append-only for
# everyone else: the runtime role cannot DELETE at all, the owner and the
# admin role cannot outside a retention run, nobody can remove a row
# younger than 30 days, and UPDATE and TRUNCATE stay refused.
#
# max_versions: an identity holds at most that many versions; a new share
# past them gets 409 version_limit and stores nothing, an identical retry of
# the newest is still 200. The example nginx site limits the rate per client
# id (the path's {clientId}), whatever the address.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init

# -- the command and its config: refused before it touches anything ------------
out=$(sk_run -- prune --help 2>&1)
check "'prune --help' names its audit row (admin.prune)" grep -q "admin.prune" <<<"$out"
check "'prune' has a man page" test -s "$SHAREKEEP_SRCDIR/doc/man/sharekeep-prune.8"

# Standard Webhooks first: its accepted deliveries leave delivery ids.
SK_WEBHOOK_MODE=standard
sk_setup
psql_as postgres postgres "CREATE ROLE sharekeep_ops LOGIN IN ROLE sharekeep_admin" >/dev/null ||
    die "creating role sharekeep_ops failed"
OPS_DB=$(pg_conninfo sharekeep_ops)
# prune [ARGS...]: as an operator would run it, with admin_database a
# login role in sharekeep_admin; stdout in OUT, stderr in ERR, status in RC.
prune() {
    sk_run SHAREKEEP_ADMIN_DATABASE="$OPS_DB" -- -c "$SK_CONF" prune "$@" >"$T/prune.out" 2>"$T/prune.err"
    RC=$?
    OUT=$(cat "$T/prune.out")
    ERR=$(cat "$T/prune.err")
    cat "$T/prune.out" "$T/prune.err" >>"$SK_LOG"
}
# as ROLE SQL: SQL as login role ROLE in database sharekeep; output in AS_OUT,
# status in AS_RC.
as() {
    AS_OUT=$(psql_as "$1" sharekeep "$2" 2>&1)
    AS_RC=$?
}
# refused ROLE DESC SQL ERE: SQL fails for ROLE with a message matching ERE.
refused() {
    as "$1" "$3"
    if [ "$AS_RC" -ne 0 ] && grep -Eq -- "$4" <<<"$AS_OUT"; then
        ok "$1: $2 is refused ($(grep -Eo -- "$4" <<<"$AS_OUT" | head -n1))"
    else
        not_ok "$1: $2 should fail with /$4/ (exit $AS_RC)"
        echo "#   output: $(head -c 300 <<<"$AS_OUT")"
    fi
}
# allowed ROLE DESC SQL EXPECTED: SQL succeeds for ROLE and prints EXPECTED.
allowed() {
    as "$1" "$3"
    if [ "$AS_RC" -eq 0 ] && [ "$AS_OUT" == "$4" ]; then
        ok "$1: $2"
    else
        not_ok "$1: $2 (exit $AS_RC)"
        echo "#   expected: $4"
        echo "#   output:   $(head -c 300 <<<"$AS_OUT")"
    fi
}
# Every column of every share, to prove a prune never touches one.
SHARES_SQL="SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws('|', id, client_id, kind,
                backup_method, pair_id, version, kek_id, encode(sealed, 'hex'), created_at), E'\\n'
                ORDER BY id)), '-') FROM share_record"
counts() {
    pg_psql "SELECT (SELECT count(*) FROM audit_event) || '/' || (SELECT count(*) FROM webhook_delivery)"
}

assert_refused "audit_retention under 30 days is refused" 1 'audit_retention: 29 is under the minimum of 30 days' \
    SHAREKEEP_ADMIN_DATABASE="$OPS_DB" SHAREKEEP_AUDIT_RETENTION=29d -- -c "$SK_CONF" prune
assert_refused "delivery_retention under 2 days is refused" 1 'delivery_retention: 1 is under the minimum of 2 days' \
    SHAREKEEP_ADMIN_DATABASE="$OPS_DB" SHAREKEEP_DELIVERY_RETENTION=1 -- -c "$SK_CONF" prune
assert_refused "audit_retention that is not a number of days is refused" 1 'audit_retention must be a number of days' \
    SHAREKEEP_ADMIN_DATABASE="$OPS_DB" SHAREKEEP_AUDIT_RETENTION=1y -- -c "$SK_CONF" prune
assert_refused "--older-than under 30 days is a usage error" 2 'older-than must be a number of days from 30' \
    SHAREKEEP_ADMIN_DATABASE="$OPS_DB" -- -c "$SK_CONF" prune --older-than 29d
assert_refused "--older-than 0 is a usage error" 2 'older-than must be' \
    SHAREKEEP_ADMIN_DATABASE="$OPS_DB" -- -c "$SK_CONF" prune --older-than 0
assert_refused "max_versions 0 is refused" 1 'max_versions must be a whole number from 1 to' \
    SHAREKEEP_MAX_VERSIONS=0 -- -c "$SK_CONF" check

# -- traffic: stores (with delivery ids), fetches, refusals ----------------------
for i in $(seq 1 6); do
    req POST /webhook/backup "$(json clientId "ret-$i" share "{\"share\":\"$(rand_token 32)\"}")"
    [ "$STATUS" = 200 ] || not_ok "store ret-$i: HTTP $STATUS"
    req POST /webhook/backup/fetch "$(json clientId "ret-$i")"
    REQ_AUTH=0 req POST /webhook/backup/fetch "$(json clientId "ret-$i")"
done
assert_sql "SELECT count(*) || '/' || count(*) FILTER (WHERE result = 401) FROM audit_event" "18/6" \
    "18 requests, 18 audit rows (6 of them refusals)"
assert_sql "SELECT count(*) FROM webhook_delivery" 6 "6 signed stores, 6 delivery ids"
shares_before=$(pg_psql "$SHARES_SQL")

# Back-date as the owner, the trigger off only for that (one transaction):
# ids 1-6 by 500 days, 7-12 by 100 days, 13-18 stay; 4 of the 6 delivery ids
# by 40 days. Ids follow time, as for real rows.
pg_psql "BEGIN;
ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only;
UPDATE audit_event SET at = at - interval '500 days' WHERE id <= 6;
UPDATE audit_event SET at = at - interval '100 days' WHERE id BETWEEN 7 AND 12;
ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only;
ALTER TABLE webhook_delivery DISABLE TRIGGER webhook_delivery_append_only;
UPDATE webhook_delivery SET received_at = received_at - interval '40 days'
 WHERE delivery_id IN (SELECT delivery_id FROM webhook_delivery ORDER BY received_at LIMIT 4);
ALTER TABLE webhook_delivery ENABLE TRIGGER webhook_delivery_append_only;
COMMIT;" >/dev/null || die "back-dating failed"
assert_sql "SELECT string_agg(tgname || '=' || tgenabled::text, ' ' ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid IN ('audit_event'::regclass, 'webhook_delivery'::regclass) AND NOT tgisinternal" \
    "audit_event_append_only=O audit_event_no_truncate=O webhook_delivery_append_only=O" \
    "the triggers are on again after the back-dating"
after_setup=$(counts)

# == who may delete ================================================================
OLD_ID=3      # 500 days old
MID_ID=9      # 100 days old
NEW_ID=15     # today
RUN="BEGIN; SET LOCAL sharekeep.retention = 'on';"
# -- the runtime role: no DELETE privilege, retention run or not
refused sharekeep "DELETE of an old audit row" "DELETE FROM audit_event WHERE id = $OLD_ID" "permission denied"
refused sharekeep "DELETE of an old audit row in a retention run" \
    "$RUN DELETE FROM audit_event WHERE id = $OLD_ID; COMMIT;" "permission denied"
refused sharekeep "DELETE of delivery ids" "DELETE FROM webhook_delivery" "permission denied"
refused sharekeep "TRUNCATE audit_event" "TRUNCATE audit_event" "permission denied"
# -- the owner: the trigger, inside a retention run too (not an admin member)
refused sharekeep_owner "DELETE of an old audit row outside a retention run" \
    "DELETE FROM audit_event WHERE id = $OLD_ID" "append-only: DELETE refused"
refused sharekeep_owner "DELETE of an old audit row in a retention run (not in sharekeep_admin)" \
    "$RUN DELETE FROM audit_event WHERE id = $OLD_ID; COMMIT;" "append-only: DELETE refused"
refused sharekeep_owner "UPDATE of an audit row in a retention run" \
    "$RUN UPDATE audit_event SET result = 200 WHERE id = $OLD_ID; COMMIT;" "append-only: UPDATE refused"
refused sharekeep_owner "TRUNCATE audit_event in a retention run" \
    "$RUN TRUNCATE audit_event; COMMIT;" "append-only: TRUNCATE refused"
# -- the admin role: only old rows, only in a retention run
refused sharekeep_ops "DELETE of an old audit row outside a retention run" \
    "DELETE FROM audit_event WHERE id = $OLD_ID" "append-only: DELETE refused"
refused sharekeep_ops "DELETE of a recent row with sharekeep.retention set for the whole session" \
    "SET sharekeep.retention = 'on'; DELETE FROM audit_event WHERE id = $NEW_ID" "append-only: DELETE refused"
refused sharekeep_ops "DELETE of a row younger than 30 days in a retention run" \
    "$RUN DELETE FROM audit_event WHERE id = $NEW_ID; COMMIT;" "append-only: DELETE refused"
refused sharekeep_ops "a DELETE of everything in a retention run (recent rows among them)" \
    "$RUN DELETE FROM audit_event; COMMIT;" "append-only: DELETE refused"
refused sharekeep_ops "UPDATE of an audit row" \
    "$RUN UPDATE audit_event SET result = 200 WHERE id = $OLD_ID; COMMIT;" "permission denied"
refused sharekeep_ops "TRUNCATE audit_event" "$RUN TRUNCATE audit_event; COMMIT;" "permission denied"
refused sharekeep_ops "DELETE of a share" "DELETE FROM share_record" "append-only: DELETE refused"
allowed sharekeep_ops "may DELETE an old audit row in a retention run (rolled back)" \
    "$RUN WITH d AS (DELETE FROM audit_event WHERE id IN ($OLD_ID, $MID_ID) RETURNING 1) SELECT count(*) FROM d; ROLLBACK;" 2
assert_eq "$after_setup" "$(counts)" "audit rows/delivery ids unchanged by the attempts ($after_setup)"

# -- prune as a role that is not an admin member: refused, nothing removed ----------
assert_refused "prune with the runtime role (admin_database unset) is refused" 1 \
    'database user sharekeep is not a member of sharekeep_admin' -- -c "$SK_CONF" prune
assert_refused "prune as the owner is refused" 1 'database user sharekeep_owner is not a member of sharekeep_admin' \
    SHAREKEEP_ADMIN_DATABASE="$(pg_conninfo sharekeep_owner)" -- -c "$SK_CONF" prune
assert_eq "$after_setup" "$(counts)" "a refused prune removes nothing and audits nothing"

# == sharekeep prune: the defaults (400 days, 30 days), 4 rows per batch ===========
prune --batch 4
check "prune exits 0" test "$RC" -eq 0
rid=$(grep -Eo 'audit row [0-9a-f]{32}$' <<<"$OUT" | cut -d' ' -f3)
check "prune says what it removed and names its audit row: $OUT" \
    grep -Eq '^prune: done: 6 audit rows from before .* \(400 days\) and 4 delivery ids from before .* \(30 days\) removed; audit row [0-9a-f]{32}$' <<<"$OUT"
check "a progress line per batch of audit rows ($(grep -c 'audit_event:' <<<"$ERR") lines)" \
    test "$(grep -c '^prune: audit_event: [0-9]* rows removed, up to id [0-9]*$' <<<"$ERR")" -eq 2
check "a progress line per batch of delivery ids" grep -q '^prune: webhook_delivery: 4 delivery ids removed$' <<<"$ERR"
assert_sql "SELECT count(*) FROM audit_event WHERE id <= 6" 0 "the audit rows 500 days old are gone"
assert_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM audit_event WHERE id BETWEEN 7 AND 18" \
    "7,8,9,10,11,12,13,14,15,16,17,18" "the rows 100 days old and today's are all kept"
assert_sql "SELECT count(*) || '/' || count(*) FILTER (WHERE received_at > now() - interval '1 day') FROM webhook_delivery" \
    "2/2" "the delivery ids 40 days old are gone, the 2 recent ones kept"
assert_sql "SELECT result || '|' || coalesce(client_id, 'NULL') || '|' || (detail->>'audit_removed') || '|' ||
                   (detail->>'deliveries_removed') || '|' || (detail->>'db_user') || '|' ||
                   ((detail->>'audit_before')::timestamptz BETWEEN now() - interval '400 days 1 hour' AND now() - interval '400 days')
            FROM audit_event WHERE endpoint = 'admin.prune' AND request_id = :'rid'" \
    "200|NULL|6|4|sharekeep_ops|true" "its own audit row: admin.prune, 200, 6 audit rows and 4 delivery ids, by sharekeep_ops, cut 400 days back" "rid=$rid"
assert_sql "SELECT count(*) FROM audit_event WHERE endpoint = 'admin.prune'" 1 "exactly one audit row for the run"
assert_eq "$shares_before" "$(pg_psql "$SHARES_SQL")" "every share is untouched"

# -- again: nothing more to remove, still one row of its own -----------------------
prune
check "a second prune exits 0 and removes nothing: $OUT" \
    grep -Eq '^prune: done: 0 audit rows .* and 0 delivery ids .* removed' <<<"$OUT"
assert_empty "... without a progress line" "$ERR"
assert_sql "SELECT count(*) FROM audit_event WHERE id BETWEEN 7 AND 18" 12 "the rows younger than 400 days are still there"

# -- --older-than: the override, never under the minimum ----------------------------
prune --older-than 90d --batch 5
check "prune --older-than 90d exits 0: $OUT" grep -Eq '^prune: done: 6 audit rows .* \(90 days\)' <<<"$OUT"
assert_sql "SELECT string_agg(id::text, ',' ORDER BY id) FROM audit_event WHERE id <= 18" \
    "13,14,15,16,17,18" "the rows 100 days old are gone, today's kept"
prune --older-than 30
check "prune --older-than 30 (the minimum) removes nothing recent: $OUT" grep -Eq '^prune: done: 0 audit rows' <<<"$OUT"
assert_sql "SELECT count(*) || '/' || count(*) FILTER (WHERE endpoint = 'admin.prune') || '/' || max(result) FILTER (WHERE endpoint = 'admin.prune')
            FROM audit_event" "10/4/200" "6 request rows and one row of each of the 4 runs remain"
assert_eq "$shares_before" "$(pg_psql "$SHARES_SQL")" "every share is still untouched"

# -- the service still writes its audit rows and delivery ids -----------------------
req POST /webhook/backup "$(json clientId ret-after share '{"share":"after-the-prune"}')"
assert_status 200 "a store after the prunes"
assert_sql "SELECT count(*) FROM audit_event WHERE client_id = 'ret-after' AND result = 200" 1 "... is audited"

# == max_versions: per-identity cap ================================================
sk_stop || not_ok "sharekeep did not stop cleanly"
SK_WEBHOOK_MODE=shared
sk_write_config
sk_start SHAREKEEP_MAX_VERSIONS=3
cap_body() { json clientId cap-1 share "$1" backupMethod PASSWORD-SECP256K1; }
for v in 1 2 3; do
    req POST /webhook/backup "$(cap_body "share-v$v")"
    assert_status 200 "custodian version $v of 3"
    assert_stored "$v" true "custodian version $v is stored"
done
req POST /webhook/backup "$(cap_body share-v4)" -H "X-Request-Id: cap-4-$$"
assert_error 409 "custodian: a 4th version past max_versions 3"
assert_json .error.code version_limit "... code version_limit"
assert_sql "SELECT string_agg(version::text, ',' ORDER BY version) FROM share_record WHERE client_id = 'cap-1'" \
    "1,2,3" "nothing stored past the cap, nothing dropped"
assert_sql "SELECT endpoint || '|' || client_id || '|' || result || '|' || coalesce(version::text, 'NULL')
            FROM audit_event WHERE request_id = :'rid'" "custodian.store|cap-1|409|NULL" \
    "the refusal is audited" "rid=cap-4-$$"
req POST /webhook/backup "$(cap_body share-v3)"
assert_status 200 "an identical retry of the newest (version 3)"
assert_stored 3 false "... answers version 3, created false"
req POST /webhook/backup "$(cap_body share-v2)"
assert_error 409 "an older version's bytes again would be a 4th version"
req POST /webhook/backup/fetch "$(json clientId cap-1)"
assert_fetched share-v3 "the newest version is still served"
req POST /webhook/backup "$(json clientId cap-1 share other-identity backupMethod PASSWORD-ED25519)"
assert_status 200 "another identity of the same client has versions of its own"
assert_stored 1 true "... starting at 1"

for v in 1 2 3; do
    req POST /portal/clients/cap-c/backup "$(json backupMethod PASSKEY cipherText "client-v$v")"
    assert_stored "$v" true "client version $v of 3"
done
req POST /portal/clients/cap-c/backup "$(json backupMethod PASSKEY cipherText client-v4)"
assert_error 409 "client: a 4th version past max_versions 3"
assert_json .error.code version_limit "... code version_limit"
req POST /portal/clients/cap-c/backup "$(json backupMethod PASSKEY cipherText client-v3)"
assert_stored 3 false "client: an identical retry of the newest is 200"
assert_sql "SELECT string_agg(version::text, ',' ORDER BY version) FROM share_record WHERE client_id = 'cap-c'" \
    "1,2,3" "client: three versions, no more"

# the cap is the config's: raised, the identity takes versions again
sk_restart SHAREKEEP_MAX_VERSIONS=4 || not_ok "sharekeep did not restart cleanly"
req POST /webhook/backup "$(cap_body share-v4)"
assert_stored 4 true "with max_versions 4 the 4th version is stored"

# == the example site: a rate limit per client id, from any address ===============
S=$T/site
example_site_dir "$S"
P80=$(free_port) && P443=$(free_port) || die "no free port"
example_site_copy "$S" "$S/site.conf" "$P80" "$P443" "$SK_PORT"
example_site_wrapper "$S" "$S/site.conf"
"$NGINX_BIN" -t -q -p "$S/" -c "$S/nginx.conf" >"$S/t.out" 2>&1 || { cat "$S/t.out"; die "nginx -t rejects example-site.conf"; }
"$NGINX_BIN" -p "$S/" -c "$S/nginx.conf" </dev/null >>"$S/stdout.log" 2>&1 &
SITE_PID=$!
for i in $(seq 1 100); do port_listening "$P443" && break; sleep 0.1; done
port_listening "$P443" || { cat "$S/error.log"; die "example site did not start"; }
U=https://127.0.0.1:$P443
# 15 requests for one client id on one connection, well inside the
# per-address limit (burst 20): the per-client burst of 10 passes (401 from
# sharekeep: no token), then nginx answers 429
codes=$(curl -k -s -o /dev/null -w '%{http_code}\n' "$U/portal/clients/rl-same/backup?n=[1-15]")
n401=$(grep -c '^401$' <<<"$codes")
n429=$(grep -c '^429$' <<<"$codes")
check "example site: one client id gets its burst through ($n401 x 401 from sharekeep)" test "$n401" -ge 10
check "example site: then 429 for that client id ($n429 of 15)" test "$n429" -ge 3 -a "$((n401 + n429))" -eq 15
codes=$(curl -k -s -o /dev/null -w '%{http_code} ' "$U/portal/clients/rl%2Dsame/backup")
assert_eq "429 " "$codes" "example site: an escaped spelling of the same client id counts against it"
codes=$(curl -k -s -o /dev/null -w '%{http_code} ' "$U/portal/clients/rl-other/backup?n=[1-3]")
assert_eq "401 401 401 " "$codes" "example site: another client id from the same address is not limited by it"
check "example site: nginx logs the per-client zone" grep -q 'by zone "sharekeep_per_client"' "$S/error.log"
kill -QUIT "$SITE_PID" 2>/dev/null
wait "$SITE_PID" 2>/dev/null
