#!/bin/bash
# Least privilege and the audit trail (sql/002_roles_delivery_audit.sql).
#
# sharekeep serve logs in as "sharekeep", a member of sharekeep_runtime
# only: it can add and read shares and add audit rows, nothing else.  Even
# the owner cannot delete a share or rewrite who/which version it belongs
# to (triggers); only a KEK rewrap (kek_id, envelope) may change a row.
# Every share fetch and store, whatever its outcome, leaves one audit row
# (time, route, client id, HTTP status, request id, version, backupMethod
# stored or served, number of shares a fetch served) that the runtime role
# can neither read nor change, and that never holds a share.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
sk_setup

SENT=0   # share-route requests sent: each must leave exactly one audit row
RID=""   # X-Request-Id of the last request

# areq METHOD PATH BODY|-- [curl args...]: req with a fresh X-Request-Id.
areq() {
    local method=$1 path=$2
    shift 2
    RID=priv-$(rand_token 12)
    SENT=$((SENT + 1))
    req "$method" "$path" "$@" -H "X-Request-Id: $RID"
}

# signed_post PATH BODY ID [KEY_HEX]: a webhook POST signed for delivery
# id ID (req signs every call with a fresh id), with a fresh X-Request-Id.
signed_post() {
    local path=$1 b=$2 id=$3 key=${4:-} ts
    ts=$(date +%s)
    printf '%s' "$b" >"$T/signed.body"
    RID=priv-$(rand_token 12)
    SENT=$((SENT + 1))
    REQ_AUTH=0 req POST "$path" "$b" -H "webhook-id: $id" -H "webhook-timestamp: $ts" \
        -H "webhook-signature: v1,$(webhook_sign "$id" "$ts" "$T/signed.body" "$key")" \
        -H "X-Request-Id: $RID"
}

# assert_audit DESC "endpoint|client_id|result|version|backup_method|served":
# the response echoed $RID, and audit_event holds exactly one row for $RID,
# that one (NULL spelled out).
AUDIT_ROW="endpoint || '|' || coalesce(client_id, 'NULL') || '|' || result || '|' || coalesce(version::text, 'NULL')
    || '|' || coalesce(backup_method, 'NULL') || '|' || coalesce(served::text, 'NULL')"
assert_audit() {
    local desc=$1 expected=$2
    assert_eq "$RID" "$(header X-Request-Id)" "$desc: the response carries our X-Request-Id"
    assert_sql "SELECT coalesce(string_agg($AUDIT_ROW, ' ; '), 'no row') FROM audit_event WHERE request_id = :'rid' OR claimed_request_id = :'rid'" \
        "$expected" "$desc: one audit row $expected" "rid=$RID"
}

# assert_refusal DESC "endpoint|claimed_client_id|result": a request that
# proved nothing (no or a wrong credential) left exactly one audit row, and
# what it claimed is kept as a claim: client_id NULL, its X-Request-Id in
# claimed_request_id, request_id sharekeep's own.
assert_refusal() {
    local desc=$1 expected=$2
    assert_eq "$RID" "$(header X-Request-Id)" "$desc: the response carries our X-Request-Id"
    assert_sql "SELECT coalesce(string_agg(endpoint || '|' || coalesce(claimed_client_id, 'NULL') || '|' || result
                    || '|' || (client_id IS NULL) || '|' || (request_id <> :'rid' AND request_id ~ '^[0-9a-f]{32}\$'), ' ; '), 'no row')
                FROM audit_event WHERE request_id = :'rid' OR claimed_request_id = :'rid'" \
        "$expected|true|true" "$desc: one refusal row $expected, client_id NULL, our own request_id" "rid=$RID"
}

# as ROLE SQL: run SQL in database sharekeep as login role ROLE; output
# (stdout and stderr) in OUT, exit status in RC.
as() {
    OUT=$(psql_as "$1" sharekeep "$2" 2>&1)
    RC=$?
}
# refused ROLE DESC SQL [ERE]: SQL fails for ROLE with a message matching
# ERE (default: permission denied).
refused() {
    local role=$1 desc=$2 sql=$3 re=${4:-permission denied}
    as "$role" "$sql"
    if [ "$RC" -ne 0 ] && grep -Eq -- "$re" <<<"$OUT"; then
        ok "$role: $desc is refused ($(grep -Eo -- "$re" <<<"$OUT" | head -n1))"
    else
        not_ok "$role: $desc should fail with /$re/ (exit $RC)"
        echo "#   output: $(head -c 300 <<<"$OUT")"
    fi
}
# allowed ROLE DESC SQL EXPECTED: SQL succeeds for ROLE and prints EXPECTED.
allowed() {
    local role=$1 desc=$2 sql=$3 expected=$4
    as "$role" "$sql"
    if [ "$RC" -eq 0 ] && [ "$OUT" == "$expected" ]; then
        ok "$role: $desc"
    else
        not_ok "$role: $desc (exit $RC)"
        echo "#   expected: $expected"
        echo "#   output:   $(head -c 300 <<<"$OUT")"
    fi
}
counts() {
    pg_psql "SELECT (SELECT count(*) FROM share_record) || '/' || (SELECT count(*) FROM audit_event)
             || '/' || (SELECT count(*) FROM webhook_delivery)" 2>&1
}

t0=$(pg_psql "SELECT now()")
tok1=$(rand_token 64)
tok2=$(rand_token 64)
tokc=$(rand_token 64)
s1='{"share":"'$tok1'","backupMethod":"GDRIVE"}'
s2='{"share":"'$tok2'","backupMethod":"GDRIVE"}'
sc='{"backup":"'$tokc'"}'
export PRIV_S1=$s1 PRIV_S2=$s2

# == audit: one row per share request, whatever the outcome ====================
# -- custodian webhook ------------------------------------------------------
b1=$(json clientId priv-1 share "$s1")
areq POST /webhook/backup "$b1"
assert_status 200 "custodian store"
assert_audit "custodian store" "custodian.store|priv-1|200|1|UNKNOWN|NULL"

areq POST /webhook/backup "$b1"
assert_status 200 "identical store, new delivery id"
assert_jq '.created == false and .version == 1' "it is an idempotent retry of version 1"
assert_audit "idempotent retry" "custodian.store|priv-1|200|1|UNKNOWN|NULL"

did=msg_priv_$(rand_token 12)
b2=$(json clientId priv-1 share "$s2")
signed_post /webhook/backup "$b2" "$did"
assert_status 200 "store a new share (version 2) with delivery id $did"
assert_audit "store of version 2" "custodian.store|priv-1|200|2|UNKNOWN|NULL"
signed_post /webhook/backup "$b2" "$did"
assert_status 200 "the same delivery again"
assert_audit "redelivery of $did" "custodian.store|priv-1|200|2|UNKNOWN|NULL"
signed_post /webhook/backup "$b1" "$did"
assert_error 409 "delivery id $did with another body"
assert_audit "replayed delivery id" "custodian.store|priv-1|409|NULL|NULL|NULL"

areq POST /webhook/backup/fetch "$(json clientId priv-1)"
assert_status 200 "custodian fetch"
assert_fetched "$s2" "fetch returns the newest share"
assert_audit "custodian fetch" "custodian.fetch|priv-1|200|2|UNKNOWN|1"

areq POST /webhook/backup/fetch "$(json clientId priv-nobody)"
assert_error 404 "fetch for an unknown client"
assert_audit "fetch for an unknown client" "custodian.fetch|priv-nobody|404|NULL|NULL|NULL"

# a refused webhook never names a client: its body is not trusted
REQ_AUTH=0 areq POST /webhook/backup "$(json clientId priv-1 share "$s1")"
assert_error 401 "unsigned store"
assert_refusal "unsigned store" "custodian.store|NULL|401"

other_key=$(head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
signed_post /webhook/backup/fetch "$(json clientId priv-1)" "msg_$(rand_token 12)" "$other_key"
assert_error 401 "fetch signed with another key"
assert_refusal "fetch signed with another key" "custodian.fetch|NULL|401"

areq POST /webhook/backup "$(json clientId 'bad id!' share "$s1")"
assert_error 422 "signed store with an invalid clientId"
assert_audit "invalid clientId" "custodian.store|NULL|422|NULL|NULL|NULL"

areq POST /webhook/backup "$(json clientId priv-2)"
assert_error 422 "signed store without a share"
assert_audit "store without a share (valid clientId)" "custodian.store|priv-2|422|NULL|NULL|NULL"

areq POST /webhook/backup "$(json clientId priv-2 share "$s1" backupMethod "")"
assert_error 422 "signed store with an empty backupMethod"
assert_audit "store with an invalid backupMethod" "custodian.store|priv-2|422|NULL|NULL|NULL"

# several methods: each store audits its method; a fetch that serves
# several shares names no single method, and says how many it served
areq POST /webhook/backup "$(json clientId priv-m share "$s1" backupMethod PASSWORD-SECP256K1)"
assert_status 200 "store PASSWORD-SECP256K1"
assert_audit "store of PASSWORD-SECP256K1" "custodian.store|priv-m|200|1|PASSWORD-SECP256K1|NULL"
areq POST /webhook/backup "$(json clientId priv-m share "$s2" backupMethod PASSWORD-ED25519)"
assert_status 200 "store PASSWORD-ED25519"
assert_audit "store of PASSWORD-ED25519" "custodian.store|priv-m|200|1|PASSWORD-ED25519|NULL"
areq POST /webhook/backup/fetch "$(json clientId priv-m)"
assert_status 200 "fetch of a client with two identities"
assert_jq '.backupShares == [$ENV.PRIV_S2, $ENV.PRIV_S1] and .backupShare == $ENV.PRIV_S2' "it serves both, newest first"
assert_sql "SELECT endpoint || '|' || client_id || '|' || result || '|' || coalesce(backup_method, 'NULL') || '|' || coalesce(served::text, 'NULL')
            FROM audit_event WHERE request_id = :'rid'" "custodian.fetch|priv-m|200|NULL|2" \
    "fetch of two identities: one audit row, no single backup_method, served 2" "rid=$RID"

areq POST /webhook/backup '{"clientId":'
assert_error 400 "signed store with malformed JSON"
assert_audit "malformed JSON" "custodian.store|NULL|400|NULL|NULL|NULL"

# -- client endpoints -----------------------------------------------------------
areq POST /portal/clients/priv-c1/backup "$(json backupShare "$sc")"
assert_status 200 "client store"
assert_audit "client store" "client.store|priv-c1|200|1|UNKNOWN|NULL"
areq POST /portal/clients/priv-c1/backup "$(json backupMethod PASSKEY cipherText "$sc")"
assert_status 200 "client store of a PASSKEY ciphertext"
assert_audit "client store with a method" "client.store|priv-c1|200|1|PASSKEY|NULL"

areq GET /portal/clients/priv-c1/backup --
assert_status 200 "client fetch"
assert_json .backupShare "$sc" "client fetch returns the share"
assert_audit "client fetch" "client.fetch|priv-c1|200|1|PASSKEY|1"
areq GET "/portal/clients/priv-c1/backup?backupMethod=GDRIVE" --
assert_status 200 "client fetch of GDRIVE: the UNKNOWN fallback"
assert_audit "client fetch, UNKNOWN fallback" "client.fetch|priv-c1|200|1|UNKNOWN|1"
areq GET "/portal/clients/priv-c1/backup?bogus=1" --
assert_error 400 "client fetch with an unknown query parameter"
assert_audit "client fetch, bad query" "client.fetch|priv-c1|400|NULL|NULL|NULL"

# the path names the client even when the caller may not act for it
REQ_AUTH=0 areq GET /portal/clients/priv-c1/backup -- -H "Authorization: Bearer $(client_token priv-other)"
assert_error 403 "client fetch with another client's token"
assert_refusal "client fetch, token of another client" "client.fetch|priv-c1|403"

REQ_AUTH=0 areq GET /portal/clients/priv-c1/backup --
assert_error 401 "client fetch without a token"
assert_refusal "client fetch without a token" "client.fetch|priv-c1|401"

REQ_AUTH=0 areq POST /portal/clients/priv-c2/backup "$(json backupShare "$sc")" \
    -H "Authorization: Bearer $(client_token priv-other)"
assert_error 403 "client store with another client's token"
assert_refusal "client store, token of another client" "client.store|priv-c2|403"
assert_eq 0 "$(rows "client_id = 'priv-c2'")" "the refused client store stored nothing"

areq GET /portal/clients/priv-c9/backup --
assert_error 404 "client fetch, nothing stored"
assert_audit "client fetch, nothing stored" "client.fetch|priv-c9|404|NULL|NULL|NULL"

# -- request ids --------------------------------------------------------------
SENT=$((SENT + 1))
req POST /webhook/backup/fetch "$(json clientId priv-1)"
rid=$(header X-Request-Id)
check "without X-Request-Id sharekeep makes one (got '$rid')" grep -Eq '^[0-9a-f]{32}$' <<<"$rid"
assert_sql "SELECT $AUDIT_ROW FROM audit_event WHERE request_id = :'rid'" \
    "custodian.fetch|priv-1|200|2|UNKNOWN|1" "the generated request id is the audit row's" "rid=$rid"
SENT=$((SENT + 1))
req POST /webhook/backup/fetch "$(json clientId priv-1)" -H 'X-Request-Id: not/a token'
rid=$(header X-Request-Id)
check "an X-Request-Id that is not a plain token is replaced (got '$rid')" grep -Eq '^[0-9a-f]{32}$' <<<"$rid"
assert_sql "SELECT count(*) FROM audit_event WHERE request_id = :'rid'" 1 \
    "the replacement id is the one audited" "rid=$rid"

# -- the trail as a whole ---------------------------------------------------------
assert_sql "SELECT count(*) FROM audit_event" "$SENT" \
    "one audit row per share request ($SENT sent), no more, no less"
assert_sql "SELECT bool_and(at >= :'t0'::timestamptz AND at <= now()) FROM audit_event" t \
    "every audit row is timestamped within this test" "t0=$t0"
assert_sql "SELECT count(*) FROM audit_event WHERE endpoint NOT IN ('custodian.store', 'custodian.fetch', 'client.store', 'client.fetch')" 0 \
    "audit endpoints are route names, never paths"

# == who sharekeep is in the database =============================================
assert_sql "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = 'sharekeep' AND application_name = 'sharekeep'" t \
    "sharekeep serve holds database sessions (application_name sharekeep)"
assert_sql "SELECT string_agg(DISTINCT usename::text, ',') FROM pg_stat_activity WHERE datname = 'sharekeep' AND application_name = 'sharekeep'" \
    sharekeep "every sharekeep session is logged in as the runtime login role sharekeep"
assert_sql "SELECT pg_has_role('sharekeep', 'sharekeep_runtime', 'member') || '|' || pg_has_role('sharekeep', 'sharekeep_admin', 'member') || '|' || pg_has_role('sharekeep', 'sharekeep_owner', 'member')" \
    "true|false|false" "sharekeep is a member of sharekeep_runtime, not of sharekeep_admin or the owner"
assert_sql "SELECT rolsuper || '|' || rolcreaterole || '|' || rolcreatedb || '|' || rolbypassrls || '|' || rolreplication FROM pg_roles WHERE rolname = 'sharekeep'" \
    "false|false|false|false|false" "sharekeep has no superuser/createrole/createdb/bypassrls/replication"
assert_sql "SELECT string_agg(rolname || '=' || rolcanlogin, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('sharekeep_runtime', 'sharekeep_admin')" \
    "sharekeep_admin=false sharekeep_runtime=false" "the group roles from the migration cannot log in"
assert_sql "SELECT string_agg(DISTINCT tableowner::text, ',') FROM pg_tables WHERE tablename IN ('share_record', 'audit_event', 'webhook_delivery', 'schema_migration')" \
    sharekeep_owner "the tables belong to the migration role, not to sharekeep"
# the whole grant matrix of the login role serve uses
assert_sql "SELECT string_agg(t || '.' || p || '=' || CASE WHEN has_table_privilege('sharekeep', t, p) THEN 'y' ELSE 'n' END, ' ' ORDER BY t, p)
            FROM unnest(ARRAY['audit_event', 'schema_migration', 'share_record', 'webhook_delivery']) t,
                 unnest(ARRAY['DELETE', 'INSERT', 'SELECT', 'TRUNCATE', 'UPDATE']) p" \
    "audit_event.DELETE=n audit_event.INSERT=y audit_event.SELECT=n audit_event.TRUNCATE=n audit_event.UPDATE=n schema_migration.DELETE=n schema_migration.INSERT=n schema_migration.SELECT=n schema_migration.TRUNCATE=n schema_migration.UPDATE=n share_record.DELETE=n share_record.INSERT=y share_record.SELECT=y share_record.TRUNCATE=n share_record.UPDATE=n webhook_delivery.DELETE=n webhook_delivery.INSERT=y webhook_delivery.SELECT=y webhook_delivery.TRUNCATE=n webhook_delivery.UPDATE=n" \
    "sharekeep may INSERT+SELECT shares and deliveries, only INSERT audit rows, nothing else"

# == the runtime role (what sharekeep logs in as) tries to change history ======
before=$(counts)
refused sharekeep "DELETE FROM share_record" "DELETE FROM share_record"
refused sharekeep "DELETE of one client's shares" "DELETE FROM share_record WHERE client_id = 'priv-1'"
refused sharekeep "UPDATE share_record" "UPDATE share_record SET kek_id = kek_id"
refused sharekeep "UPDATE of a share's envelope" "UPDATE share_record SET envelope = envelope WHERE client_id = 'priv-1'"
refused sharekeep "UPDATE of a share's ciphertext" "UPDATE share_record SET payload = payload WHERE client_id = 'priv-1'"
refused sharekeep "TRUNCATE share_record" "TRUNCATE share_record"
refused sharekeep "DELETE FROM audit_event" "DELETE FROM audit_event"
refused sharekeep "UPDATE audit_event" "UPDATE audit_event SET result = 200"
refused sharekeep "TRUNCATE audit_event" "TRUNCATE audit_event"
refused sharekeep "reading the audit trail" "SELECT count(*) FROM audit_event"
refused sharekeep "DELETE FROM webhook_delivery (forgetting delivery ids)" "DELETE FROM webhook_delivery"
refused sharekeep "UPDATE webhook_delivery" "UPDATE webhook_delivery SET version = version"
refused sharekeep "reading schema_migration" "SELECT count(*) FROM schema_migration"
refused sharekeep "DROP TABLE share_record" "DROP TABLE share_record" "must be owner"
refused sharekeep "disabling the append-only trigger" \
    "ALTER TABLE share_record DISABLE TRIGGER share_record_append_only" "must be owner"
refused sharekeep "creating a table" "CREATE TABLE sk_probe (x int)" "permission denied"
refused sharekeep "SET ROLE sharekeep_admin" "SET ROLE sharekeep_admin" "permission denied"
refused sharekeep "SET ROLE sharekeep_owner" "SET ROLE sharekeep_owner" "permission denied"
allowed sharekeep "SELECT on share_record works" "SELECT count(*) FROM share_record" "$(rows)"
allowed sharekeep "INSERT into share_record works (rolled back)" \
    "BEGIN; INSERT INTO share_record (client_id, kind, version, kek_id, envelope, payload)
     VALUES ('priv-direct', 1, 1, 1, '\\x534b5352'::bytea || decode(repeat('00', 128), 'hex'),
             decode(repeat('00', 16), 'hex')) RETURNING client_id; ROLLBACK;" priv-direct
allowed sharekeep "INSERT into audit_event works (rolled back)" \
    "BEGIN; INSERT INTO audit_event (endpoint, result, request_id) VALUES ('probe', 200, 'probe'); ROLLBACK;" ""
assert_eq "$before" "$(counts)" "shares/audit rows/deliveries unchanged by the runtime role ($before)"

# == the owner: append-only even for the role that ran the migrations ===========
refused sharekeep_owner "DELETE FROM share_record" "DELETE FROM share_record" "append-only: DELETE refused"
refused sharekeep_owner "moving a share to another client" \
    "UPDATE share_record SET client_id = 'priv-moved' WHERE client_id = 'priv-1'" "append-only"
refused sharekeep_owner "renumbering versions" "UPDATE share_record SET version = version + 100" "append-only"
refused sharekeep_owner "changing a share's kind" "UPDATE share_record SET kind = 3 - kind" "append-only"
refused sharekeep_owner "changing a share's backupMethod" "UPDATE share_record SET backup_method = 'GDRIVE'" "append-only"
refused sharekeep_owner "changing a share's pair id" "UPDATE share_record SET pair_id = 'moved'" "append-only"
refused sharekeep_owner "backdating a share" "UPDATE share_record SET created_at = created_at - interval '1 day'" "append-only"
refused sharekeep_owner "TRUNCATE share_record" "TRUNCATE share_record" "append-only: TRUNCATE refused"
refused sharekeep_owner "DELETE FROM audit_event" "DELETE FROM audit_event" "append-only"
refused sharekeep_owner "UPDATE audit_event" "UPDATE audit_event SET result = 200" "append-only"
refused sharekeep_owner "TRUNCATE audit_event" "TRUNCATE audit_event" "append-only"
refused sharekeep_owner "UPDATE webhook_delivery" "UPDATE webhook_delivery SET version = version" "append-only"
nrows=$(rows)
allowed sharekeep_owner "a KEK rewrap may UPDATE kek_id" \
    "WITH u AS (UPDATE share_record SET kek_id = kek_id RETURNING 1) SELECT count(*) FROM u" "$nrows"
allowed sharekeep_owner "a KEK rewrap may UPDATE the envelope" \
    "WITH u AS (UPDATE share_record SET envelope = envelope RETURNING 1) SELECT count(*) FROM u" "$nrows"
refused sharekeep_owner "no UPDATE may name a share's ciphertext, not even the owner's" \
    "UPDATE share_record SET payload = payload" "ciphertext never changes"

# == an operator login in sharekeep_admin (rotation, audit review) ==============
psql_as postgres postgres "CREATE ROLE sharekeep_ops LOGIN IN ROLE sharekeep_admin" >/dev/null ||
    die "creating role sharekeep_ops failed"
allowed sharekeep_ops "the admin role reads the audit trail" "SELECT count(*) FROM audit_event" "$SENT"
allowed sharekeep_ops "the admin role may rewrap (UPDATE kek_id)" \
    "WITH u AS (UPDATE share_record SET kek_id = kek_id RETURNING 1) SELECT count(*) FROM u" "$nrows"
allowed sharekeep_ops "the admin role may prune delivery ids (rolled back)" \
    "BEGIN; WITH d AS (DELETE FROM webhook_delivery RETURNING 1) SELECT count(*) > 0 FROM d; ROLLBACK;" t
refused sharekeep_ops "DELETE FROM share_record" "DELETE FROM share_record" "append-only: DELETE refused"
refused sharekeep_ops "TRUNCATE share_record" "TRUNCATE share_record"
# The admin role may UPDATE only kek_id and envelope (column privileges,
# sql/006); the trigger stays behind that for the owner.
refused sharekeep_ops "moving a share to another client" \
    "UPDATE share_record SET client_id = 'priv-moved' WHERE client_id = 'priv-1'" "permission denied"
refused sharekeep_ops "moving a share to another backupMethod" \
    "UPDATE share_record SET backup_method = 'ICLOUD' WHERE client_id = 'priv-m'" "permission denied"
refused sharekeep_ops "changing a share's ciphertext" \
    "UPDATE share_record SET payload = payload" "permission denied"
allowed sharekeep_ops "the admin role may rewrap (UPDATE envelope)" \
    "WITH u AS (UPDATE share_record SET envelope = envelope RETURNING 1) SELECT count(*) FROM u" "$nrows"
refused sharekeep_ops "UPDATE audit_event" "UPDATE audit_event SET result = 200"
refused sharekeep_ops "DELETE FROM audit_event" "DELETE FROM audit_event"
assert_eq "$before" "$(counts)" "shares/audit rows/deliveries unchanged after the owner and admin attempts"

# == no plaintext at rest, none in the audit trail ================================
assert_sealed priv-1 1 "$s1" "custodian version 1"
assert_sealed priv-1 1 "$s2" "custodian version 2"
assert_sealed priv-c1 2 "$sc" "client share"
for t in "$tok1" "$tok2" "$tokc"; do
    assert_sql "SELECT count(*) FROM share_record WHERE position(convert_to(:'t', 'UTF8') in envelope || payload) > 0" 0 \
        "no sealed row contains token ${t:0:8}..." "t=$t"
    assert_sql "SELECT (SELECT count(*) FROM audit_event a WHERE strpos(a::text, :'t') > 0)
                     + (SELECT count(*) FROM webhook_delivery d WHERE strpos(d::text, :'t') > 0)" 0 \
        "no audit or delivery row (any column) contains token ${t:0:8}..." "t=$t"
done

# == a record that no longer opens is refused, and the refusal audited ===========
# The owner may rewrite the envelope (the rewrap path), so a damaged record is
# possible; sharekeep must answer 500 without any share and audit a 500.
areq POST /webhook/backup "$(json clientId priv-dmg share "$s1")"
assert_status 200 "store a share to damage"
pg_psql "UPDATE share_record SET envelope = set_byte(envelope, 99, (get_byte(envelope, 99) + 1) % 256) WHERE client_id = 'priv-dmg'" >/dev/null
areq POST /webhook/backup/fetch "$(json clientId priv-dmg)"
assert_error 500 "fetch of a record that does not open"
not_in_body() { if grep -qF -- "$1" "$RESP_BODY"; then not_ok "$2"; else ok "$2"; fi; }
not_in_body "$tok1" "the damaged fetch reveals nothing"
assert_eq "$RID" "$(header X-Request-Id)" "damaged fetch: the response carries our X-Request-Id"
assert_sql "SELECT count(*) FROM audit_event WHERE request_id = :'rid' AND endpoint = 'custodian.fetch' AND client_id = 'priv-dmg' AND result = 500" \
    1 "damaged fetch: audited with result 500" "rid=$RID"
assert_sql "SELECT count(*) FROM audit_event WHERE request_id = :'rid'" \
    1 "damaged fetch: exactly one audit row (no optimistic 200 beside the 500)" "rid=$RID"

# a damaged record beside good ones: the others are still served
areq POST /webhook/backup "$(json clientId priv-dmg2 share "$s1" backupMethod GDRIVE-SECP256K1)"
areq POST /webhook/backup "$(json clientId priv-dmg2 share "$s2" backupMethod GDRIVE-ED25519)"
assert_status 200 "store a second identity beside the one to damage"
pg_psql "UPDATE share_record SET envelope = set_byte(envelope, 99, (get_byte(envelope, 99) + 1) % 256) WHERE client_id = 'priv-dmg2' AND backup_method = 'GDRIVE-SECP256K1'" >/dev/null
areq POST /webhook/backup/fetch "$(json clientId priv-dmg2)"
assert_status 200 "fetch of a client with one damaged record of two"
assert_jq '.backupShares == [$ENV.PRIV_S2] and .backupShare == $ENV.PRIV_S2' "the share that opens is served, the damaged one is not"
assert_sql "SELECT count(*) || '|' || max(result) FROM audit_event WHERE request_id = :'rid'" \
    "1|200" "damaged record beside a good one: one audit row, 200" "rid=$RID"
