#!/bin/bash
# The only ways a share leaves (sql/007_share_removal.sql), each through the
# admin role only, each with its audit row in the same transaction:
#   sharekeep prune --keep N [--older-than AGE]: superseded versions beyond
#     the newest N of every identity; never the newest;
#   sharekeep purge CLIENT --yes: every share of one client and its delivery
#     ids (a user's right to erasure); then a fetch is 404 and a redelivery
#     of an old webhook stores again.
# The runtime role (what sharekeep serves as) can do neither: it has no
# DELETE at all; the owner and the admin role cannot DELETE by hand.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
SK_WEBHOOK_MODE=standard
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init
out=$(sk_run -- purge --help 2>&1)
check "'purge --help' names its audit row (admin.purge)" grep -q "admin.purge" <<<"$out"
check "'purge' has a man page" test -s "$SHAREKEEP_SRCDIR/doc/man/sharekeep-purge.8"
out=$(sk_run -- prune --help 2>&1)
check "'prune --help' describes --keep" grep -q "With --keep N" <<<"$out"
sk_run -- purge 'bad id!' --yes >/dev/null 2>&1
check "purge of something that is not a client id is a usage error (2)" test $? -eq 2
sk_run -- prune --keep 0 >/dev/null 2>&1
check "prune --keep 0 is a usage error (2): the newest always stays" test $? -eq 2

sk_setup
psql_as postgres postgres "CREATE ROLE sharekeep_ops LOGIN IN ROLE sharekeep_admin" >/dev/null ||
    die "creating role sharekeep_ops failed"
OPS_DB=$(pg_conninfo sharekeep_ops)
# run CMD ARGS...: an admin command as an operator would run it (admin_database
# a login role in sharekeep_admin); stdout in OUT, stderr in ERR, status in RC.
run() {
    sk_run SHAREKEEP_ADMIN_DATABASE="$OPS_DB" -- -c "$SK_CONF" "$@" >"$T/cmd.out" 2>"$T/cmd.err"
    RC=$?
    OUT=$(cat "$T/cmd.out")
    ERR=$(cat "$T/cmd.err")
    cat "$T/cmd.out" "$T/cmd.err" >>"$SK_LOG"
}
store() { req POST /webhook/backup "$(json clientId "$1" share "$2" backupMethod "$3")"; }
fetch() { req POST /webhook/backup/fetch "$(json clientId "$1")"; }
versions() {   # CLIENT METHOD: its versions, ascending, space separated
    pg_psql "SELECT coalesce(string_agg(version::text, ' ' ORDER BY version), '-')
             FROM share_record WHERE client_id = '$1' AND backup_method = '$2'"
}

# Five versions of two identities of rm-a, three of rm-b's one, one of rm-c's.
for v in 1 2 3 4 5; do
    store rm-a "{\"share\":\"a-pw-$v\"}" PASSWORD-SECP256K1
    store rm-a "{\"share\":\"a-ed-$v\"}" PASSWORD-ED25519
done
for v in 1 2 3; do store rm-b "{\"share\":\"b-$v\"}" GDRIVE; done
store rm-c '{"share":"c-1"}' ICLOUD
assert_status 200 "the shares are stored"
assert_eq 14 "$(rows)" "14 records before any removal"

# -- the runtime role and hand-typed DELETEs ----------------------------------
refused_sql() {  # ROLE DESC SQL ERE
    local o
    if o=$(psql_as "$1" sharekeep "$3" 2>&1); then
        not_ok "$1: $2 should be refused"
    elif grep -Eq -- "$4" <<<"$o"; then
        ok "$1: $2 is refused ($(grep -Eo -- "$4" <<<"$o" | head -n1))"
    else
        not_ok "$1: $2 refused, but not with /$4/: $(head -c 200 <<<"$o")"
    fi
}
refused_sql sharekeep "a DELETE of an old version" \
    "DELETE FROM share_record WHERE client_id = 'rm-a' AND version = 1" "permission denied"
refused_sql sharekeep "a purge as the runtime role would do it" \
    "BEGIN; SELECT set_config('sharekeep.share_removal', 'purge', true),
            set_config('sharekeep.purge_client', 'rm-c', true);
     DELETE FROM share_record WHERE client_id = 'rm-c'; COMMIT" "permission denied"
refused_sql sharekeep_ops "a DELETE typed by hand, even by the admin role" \
    "DELETE FROM share_record WHERE client_id = 'rm-a' AND version = 1" "append-only: DELETE refused"
refused_sql sharekeep_ops "a 'superseded' removal of a newest version" \
    "BEGIN; SELECT set_config('sharekeep.share_removal', 'superseded', true);
     DELETE FROM share_record WHERE client_id = 'rm-c'; COMMIT" "append-only: DELETE refused"
refused_sql sharekeep_ops "a purge setting for another client" \
    "BEGIN; SELECT set_config('sharekeep.share_removal', 'purge', true),
            set_config('sharekeep.purge_client', 'rm-b', true);
     DELETE FROM share_record WHERE client_id = 'rm-c'; COMMIT" "append-only: DELETE refused"
refused_sql sharekeep_owner "a DELETE as the owner" "DELETE FROM share_record" "append-only: DELETE refused"
sk_run SHAREKEEP_ADMIN_DATABASE="$(pg_conninfo sharekeep)" -- -c "$SK_CONF" prune --keep 1 \
    >"$T/rt.out" 2>&1
check "prune --keep as the runtime role is refused" test $? -ne 0
check "... naming the role to use" grep -q "not a member of sharekeep_admin" "$T/rt.out"
assert_eq 14 "$(rows)" "nothing was removed by any of that"

# -- prune --keep ---------------------------------------------------------------------
run prune --keep 2 --older-than 1d
assert_eq 0 "$RC" "prune --keep 2 --older-than 1d exits 0"
assert_eq 14 "$(rows)" "... and removes nothing: every version is younger than a day"
run prune --keep 2 --batch 3
assert_eq 0 "$RC" "prune --keep 2 exits 0 (batches of 3)"
check "it says how many it removed" grep -q "prune: done: 7 superseded versions removed, the newest 2" <<<"$OUT"
assert_eq "4 5" "$(versions rm-a PASSWORD-SECP256K1)" "rm-a PASSWORD-SECP256K1 keeps its newest 2"
assert_eq "4 5" "$(versions rm-a PASSWORD-ED25519)" "rm-a PASSWORD-ED25519 keeps its newest 2"
assert_eq "2 3" "$(versions rm-b GDRIVE)" "rm-b keeps its newest 2"
assert_eq "1" "$(versions rm-c ICLOUD)" "rm-c's only version stays"
fetch rm-a
assert_status 200 "rm-a still fetches"
assert_jq '(.backupShares | length) == 2' "... both its identities' newest shares"
check "... byte-exact (PASSWORD-SECP256K1 5)" grep -qF 'a-pw-5' "$RESP_BODY"
assert_sql "SELECT coalesce(sum((detail->>'removed')::int), 0) || '|' || count(*) || '|' ||
                   min(detail->>'keep') || '|' || min(detail->>'db_user')
            FROM audit_event WHERE endpoint = 'admin.prune-versions'" "7|3|2|sharekeep_ops" \
    "each batch that removed something left its audit row (7 removed in 3 rows, by sharekeep_ops)"
run prune --keep 1
assert_eq "5" "$(versions rm-a PASSWORD-SECP256K1)" "prune --keep 1 leaves only the newest"
assert_eq "3" "$(versions rm-b GDRIVE)" "... of every identity"
run prune --keep 1
check "a second run finds nothing more" grep -q "prune: done: 0 superseded versions removed" <<<"$OUT"
# A new version after the prune: the identity goes on counting.
store rm-b '{"share":"b-4"}' GDRIVE
assert_stored 4 true "a new version after the prune is version 4"

# -- purge ------------------------------------------------------------------------------
id=msg_rm_d_$(rand_token 8)
body=$(json clientId rm-d share '{"share":"d-1"}' backupMethod GDRIVE)
REQ_WEBHOOK_ID=$id req POST /webhook/backup "$body"
assert_stored 1 true "rm-d's first delivery is stored"
run purge rm-b
assert_eq 2 "$RC" "purge without --yes does nothing (2)"
check "... and says how to do it" grep -q "run 'sharekeep purge rm-b --yes'" <<<"$ERR"
assert_eq 2 "$(rows "client_id = 'rm-b'")" "rm-b still has its shares"
run purge rm-b --yes
assert_eq 0 "$RC" "purge rm-b --yes exits 0"
check "it says what it removed" grep -q "purge: done: 2 shares and .* delivery ids of client rm-b removed" <<<"$OUT"
assert_eq 0 "$(rows "client_id = 'rm-b'")" "every share of rm-b is gone"
assert_eq 0 "$(pg_psql "SELECT count(*) FROM webhook_delivery WHERE client_id = 'rm-b'")" \
    "... and its delivery ids"
fetch rm-b
assert_status 404 "a fetch of the purged client is 404"
fetch rm-a
assert_status 200 "other clients are untouched"
assert_sql "SELECT result || '|' || client_id || '|' || (detail->>'shares_removed') || '|' ||
                   (detail->>'db_user') FROM audit_event WHERE endpoint = 'admin.purge'" \
    "200|rm-b|2|sharekeep_ops" "the purge left one audit row: who, how many"
check "the audit rows of rm-b's own requests stay" \
    test "$(pg_psql "SELECT count(*) FROM audit_event WHERE client_id = 'rm-b' AND endpoint <> 'admin.purge'")" -gt 0
REQ_WEBHOOK_ID=$id req POST /webhook/backup "$body"
assert_stored 1 false "before the purge, a redelivery is answered as stored"
run purge rm-d --yes
REQ_WEBHOOK_ID=$id req POST /webhook/backup "$body"
assert_status 200 "a redelivery of a purged client's old webhook ..."
assert_jq '.created == true' "... stores it again (its delivery id went with the purge)"
run purge no-such-client --yes
check "purging a client with no shares removes nothing and says so" \
    grep -q "purge: done: 0 shares and 0 delivery ids of client no-such-client" <<<"$OUT"
