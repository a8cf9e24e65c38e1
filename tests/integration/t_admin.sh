#!/bin/bash
# Operator commands against a running service: rotate the KEK under load,
# reload, rewrap, verify every record; retire; status per KEK and per
# backupMethod; export/import into a second database, identities included;
# a version 1 export (written before shares had a backupMethod) and records
# of format 1 still import, rewrap and verify; verify catches a damaged
# record and one moved to another identity. No command prints a share.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# Portal's own authentication (X-Webhook-Secret), where lib.sh offers it.
SK_WEBHOOK_MODE=${SK_WEBHOOK_MODE:-shared}
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

sk_init

# -- help: every command has usage text and a man page -------------------------
cmds=$(sk_run -- --help | awk '/^commands:/{on=1; next} /^$/{on=0} on {print $1}')
check "the overview lists the admin commands" grep -qx rewrap <<<"$cmds"
for cmd in $cmds; do
    out=$(sk_run -- "$cmd" --help 2>&1)
    rc=$?
    check "'$cmd --help' exits 0 with its usage" \
        test "$rc" -eq 0 -a -n "$(grep "^usage: sharekeep \[-c CONFIG\] $cmd" <<<"$out")"
    check "'$cmd' has a man page" test -s "$SHAREKEEP_SRCDIR/doc/man/sharekeep-$cmd.8"
done
# make install (and so a source install's migrate) ships sql/ from
# dist_sql_DATA: a migration missing there is a schema missing in production.
missing=""
for f in "$SHAREKEEP_SRCDIR"/sql/[0-9]*.sql; do
    grep -q "sql/$(basename "$f")" "$SHAREKEEP_SRCDIR/Makefile.am" || missing="$missing $(basename "$f")"
done
check "every migration in sql/ is installed by make install (dist_sql_DATA)${missing:+: missing$missing}" \
    test -z "$missing"
sk_run -- no-such-command >/dev/null 2>&1
check "an unknown command exits 2" test $? -eq 2
sk_run -- retire >/dev/null 2>&1
check "retire without a KEK id is a usage error (2)" test $? -eq 2
out=$(sk_run -- status --help 2>&1)
check "'status --help' says it counts per backupMethod" grep -q "per kind and backupMethod" <<<"$out"
out=$(sk_run -- import --help 2>&1)
check "'import --help' names both export versions" grep -q "versions 1 and 2" <<<"$out"

sk_setup

ADMIN_DB=$(pg_conninfo sharekeep_owner)
admin() { sk_run SHAREKEEP_ADMIN_DATABASE="$ADMIN_DB" -- -c "$SK_CONF" "$@"; }
# admin_in DB [NAME=value ...] -- ARGS: an admin command against another database.
admin_in() {
    local db=$1
    shift
    local -a env=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do env+=("$1"); shift; done
    shift
    sk_run SHAREKEEP_ADMIN_DATABASE="${ADMIN_DB/dbname=sharekeep/dbname=$db}" "${env[@]}" \
        -- -c "$SK_CONF" "$@"
}
new_db() {
    psql_as postgres postgres "CREATE DATABASE $1 OWNER sharekeep_owner" >/dev/null
    sk_run SHAREKEEP_DATABASE="${ADMIN_DB/dbname=sharekeep/dbname=$1}" -- -c "$SK_CONF" \
        migrate >>"$SK_LOG" 2>&1 || die "migrate $1 failed"
}
# show: the last command's output, in the log.
show() { sed 's/^/#   /' <<<"$out"; }
# in_db DB SQL: as the owner of DB.
in_db() { psql_as sharekeep_owner "$1" "$2"; }
# Every column of every record, for comparing two databases.
ROWS_SQL="SELECT string_agg(concat_ws('|', client_id, kind, backup_method, pair_id, version,
                  kek_id, encode(envelope || payload, 'hex'), created_at AT TIME ZONE 'UTC'), E'\\n'
                  ORDER BY client_id, kind, backup_method, pair_id, version) FROM share_record"

# -- legacy shares (no backupMethod): 20 under the first KEK -------------------
declare -A stored
for i in $(seq 1 20); do
    share='{"share":"'$(rand_token 48)'"}'
    req POST /webhook/backup "$(json clientId "adm-$i" share "$share")"
    [ "$STATUS" = 200 ] && stored[adm-$i]=$share
done
assert_eq 20 "${#stored[@]}" "20 legacy shares stored under the first KEK"
assert_eq 20 "$(rows "kek_id = 1")" "all records use KEK 1"

# -- shares under several methods and pair ids ----------------------------------
# custodian: multi-1 has PASSWORD-SECP256K1 under two pair ids (one backed up
# twice), PASSWORD-ED25519 with its pair id inside the share, GDRIVE-SECP256K1
# without one; multi-2 has PASSWORD-SECP256K1. client: PASSKEY and PASSWORD.
declare -A newest                  # "client method pair" -> newest share
mshare() { printf '{"backupSharePairId":"%s","share":"%s"}' "$1" "$(rand_token 40)"; }
store_multi() {                    # CLIENT METHOD TOP_PAIR SHARE_PAIR
    local cid=$1 m=$2 top=$3 inner=$4 share body
    share=$(mshare "$inner")
    if [ -n "$top" ]; then
        body=$(json clientId "$cid" share "$share" backupMethod "$m" backupSharePairId "$top")
    else
        body=$(json clientId "$cid" share "$share" backupMethod "$m")
    fi
    req POST /webhook/backup "$body"
    assert_status 200 "store $cid $m ${top:-$inner}"
    newest["$cid $m ${top:-$inner}"]=$share
}
store_multi multi-1 PASSWORD-SECP256K1 p-1 p-1
store_multi multi-1 PASSWORD-SECP256K1 p-1 p-1
assert_eq '{"ok":true,"version":2,"created":true}' "$BODY" "a re-backup of an identity is its version 2"
store_multi multi-1 PASSWORD-SECP256K1 p-9 p-9
store_multi multi-1 PASSWORD-ED25519 "" p-2
store_multi multi-1 GDRIVE-SECP256K1 "" ""
store_multi multi-2 PASSWORD-SECP256K1 p-3 p-3
req POST /portal/clients/multi-1/backup "$(json backupMethod PASSKEY backupShare "passkey-$(rand_token 32)")"
assert_status 200 "client share under PASSKEY"
req POST /portal/clients/multi-1/backup "$(json backupMethod PASSWORD cipherText "password-$(rand_token 32)")"
assert_status 200 "client share under PASSWORD"
N_MULTI=8
assert_sql "SELECT string_agg(concat_ws(' ', kind, backup_method, coalesce(nullif(pair_id, ''), '-'), version), ',' ORDER BY kind, backup_method, pair_id, version)
            FROM share_record WHERE client_id LIKE 'multi-%'" \
    "1 GDRIVE-SECP256K1 - 1,1 PASSWORD-ED25519 p-2 1,1 PASSWORD-SECP256K1 p-1 1,1 PASSWORD-SECP256K1 p-1 2,1 PASSWORD-SECP256K1 p-3 1,1 PASSWORD-SECP256K1 p-9 1,2 PASSKEY - 1,2 PASSWORD - 1" \
    "the rows carry each share's backupMethod and pair id"
TOTAL=$((20 + N_MULTI))

out=$(admin status 2>&1)
show
check "status names KEK 1 active with $TOTAL records" grep -q "KEK 1: active, $TOTAL records" <<<"$out"
check "status counts legacy custodian shares as UNKNOWN" grep -qx "custodian UNKNOWN: 20 records, 20 identities" <<<"$out"
check "status counts records and identities (client, pair id) per method" \
    grep -qx "custodian PASSWORD-SECP256K1: 4 records, 3 identities" <<<"$out"
check "status counts PASSWORD-ED25519 apart" grep -qx "custodian PASSWORD-ED25519: 1 records, 1 identities" <<<"$out"
check "status counts GDRIVE-SECP256K1 apart" grep -qx "custodian GDRIVE-SECP256K1: 1 records, 1 identities" <<<"$out"
check "status counts client shares per method" \
    test "$(grep -c '^client PASS\(KEY\|WORD\): 1 records, 1 identities$' <<<"$out")" = 2
out=$(admin verify 2>&1)
check "verify opens every record under its identity" grep -q "verify: $TOTAL records, $TOTAL opened, 0 failed" <<<"$out"

# -- rotate under load --------------------------------------------------------
load=$T/load.txt
: >"$load"
(
    for i in $(seq 1 120); do
        share='{"share":"'$(rand_token 48)'"}'
        req POST /webhook/backup "$(json clientId "load-$i" share "$share")"
        printf '%s load-%s %s\n' "$STATUS" "$i" "$share" >>"$load"
    done
) &
loader=$!
sleep 0.3

out=$(admin rotate 2>&1)
check "rotate makes KEK 2 active" grep -q "KEK 2 is now active" <<<"$out"
check "key file is still mode 0600 after rotate" test "$(stat -c %a "$T/sk/keyring")" = 600
kill -HUP "$SK_PID"
sleep 0.5
# As the runtime role (no admin_database set, as on a first day): refused,
# and the message says which user and which setting to fix.
out=$(sk_run SHAREKEEP_ADMIN_DATABASE= SHAREKEEP_DATABASE="$(pg_conninfo sharekeep)" \
    -- -c "$SK_CONF" rewrap 2>&1)
check "rewrap as the runtime role names the database user refused" \
    grep -q "permission denied for database user sharekeep (sqlstate 42501)" <<<"$out"
check "... and the setting to fix (admin_database, a member of sharekeep_admin)" \
    grep -q "admin_database (now unset: it falls back to database); set it to a" <<<"$out"
# Every admin command that connects says the same when its role is refused:
# one without any grant as admin_database, and the runtime role for the
# commands that check membership first (prune, purge).
psql_as postgres postgres "CREATE ROLE sk_stranger LOGIN" >/dev/null || die "CREATE ROLE sk_stranger"
import_in=$T/stranger-export.jsonl
admin export >"$import_in" 2>/dev/null || die "export for the import as sk_stranger"
for cmd in status rewrap verify export import "retire 1" prune "purge adm-1 --yes"; do
    # shellcheck disable=SC2086 # the command's words
    out=$(sk_run SHAREKEEP_ADMIN_DATABASE="$(pg_conninfo sk_stranger)" -- -c "$SK_CONF" $cmd \
          <"$import_in" 2>&1 >/dev/null)
    check "$cmd as a role without grants names it and admin_database (now set)" \
        test -n "$(grep -E "^sharekeep: [a-z]+: (permission denied for database user sk_stranger \(sqlstate 42501\)|database user sk_stranger is not a member of sharekeep_admin)\.$" <<<"$out")" \
        -a -n "$(grep -F "admin_database (now set); set it to a" <<<"$out")" \
        -a -n "$(grep -F "IN ROLE sharekeep_admin:" <<<"$out")" || show
done
for cmd in prune "purge adm-1 --yes"; do
    # shellcheck disable=SC2086
    out=$(sk_run SHAREKEEP_ADMIN_DATABASE= SHAREKEEP_DATABASE="$(pg_conninfo sharekeep)" \
          -- -c "$SK_CONF" $cmd 2>&1 >/dev/null)
    check "$cmd as the runtime role names it and admin_database (unset), in whole sentences" \
        test -n "$(grep -Fx "sharekeep: ${cmd%% *}: database user sharekeep is not a member of sharekeep_admin." <<<"$out")" \
        -a -n "$(grep -F "admin_database (now unset: it falls back to database); set it to a" <<<"$out")" || show
done
out=$(sk_run SHAREKEEP_DATABASE="$(pg_conninfo sharekeep)" -- -c "$SK_CONF" migrate 2>&1 >/dev/null)
check "migrate as the runtime role names it and says to log in as the owner" \
    test -n "$(grep -F "permission denied for database user sharekeep (sqlstate 42501)" <<<"$out")" \
    -a -n "$(grep -F "must log" <<<"$out")" -a -n "$(grep -F "user=sharekeep_owner" <<<"$out")" || show
out=$(admin rewrap --batch 7 2>&1)
check "rewrap under load finishes" grep -q "rewrap: done" <<<"$out"
check "rewrap reports progress per batch" grep -q "moved to KEK 2" <<<"$out"
wait "$loader"
TOTAL=$((TOTAL + 120))

acked=$(grep -c '^200 ' "$load")
assert_eq 120 "$acked" "every store during the rotation got 200"
# Stores that reached a worker before SIGHUP were sealed with KEK 1: a
# second run picks them up, which is what "resumable" is for.
admin rewrap >/dev/null 2>&1
check "second rewrap run succeeds" test $? -eq 0
assert_eq 0 "$(rows "kek_id <> 2")" "no record left on the old KEK"

out=$(admin verify 2>&1)
rc=$?
assert_eq 0 "$rc" "verify exits 0"
check "verify opened all $TOTAL records" grep -q "verify: $TOTAL records, $TOTAL opened, 0 failed" <<<"$out"

lost=0
while read -r status cid share; do
    [ "$status" = 200 ] || continue
    req POST /webhook/backup/fetch "$(json clientId "$cid")"
    [ "$(jq -r .backupShare <<<"$BODY" 2>/dev/null)" = "$share" ] || lost=$((lost + 1))
done <"$load"
for cid in "${!stored[@]}"; do
    req POST /webhook/backup/fetch "$(json clientId "$cid")"
    [ "$(jq -r .backupShare <<<"$BODY" 2>/dev/null)" = "${stored[$cid]}" ] || lost=$((lost + 1))
done
assert_eq 0 "$lost" "every acknowledged share fetches byte-exact after rotation"
req POST /webhook/backup/fetch "$(json clientId multi-1)"
want=$(for k in "${!newest[@]}"; do case $k in "multi-1 "*) printf '%s\n' "${newest[$k]}" ;; esac; done | sort)
assert_eq "$want" "$(jq -r '.backupShares[]' <<<"$BODY" 2>/dev/null | sort)" \
    "after rewrap the fetch still serves the newest share of each of multi-1's identities"

# -- retire -------------------------------------------------------------------
out=$(admin retire 2 2>&1)
check "retiring the active KEK is refused" grep -q "is active" <<<"$out"
out=$(admin retire 1 2>&1)
check "retiring the unused old KEK works" grep -q "KEK 1 is retired" <<<"$out"
out=$(admin status 2>&1)
check "status shows KEK 1 retired" grep -q "KEK 1: retired, 0 records" <<<"$out"
check "status shows KEK 2 active with $TOTAL records" grep -q "KEK 2: active, $TOTAL records" <<<"$out"
check "status counts the load as UNKNOWN custodian shares" \
    grep -qx "custodian UNKNOWN: 140 records, 140 identities" <<<"$out"
admin rotate >/dev/null 2>&1
out=$(admin retire 2 2>&1)
check "retiring a KEK that records still use is refused" grep -q "still protects $TOTAL records" <<<"$out"

# -- export / import ------------------------------------------------------------
export_file=$T/export.jsonl
admin export >"$export_file" 2>"$T/export.err"
assert_eq 0 "$?" "export exits 0"
assert_eq $((TOTAL + 1)) "$(wc -l <"$export_file")" "export has a header and $TOTAL records"
assert_eq '{"format":"sharekeep-export","version":2}' "$(head -n 1 "$export_file")" \
    "the export header is format version 2"
check "export reports its count on stderr" grep -q "export: $TOTAL records" "$T/export.err"
assert_eq "$TOTAL" "$(tail -n +2 "$export_file" | jq -c 'select((.backupMethod | type == "string") and has("backupSharePairId"))' | wc -l)" \
    "every record line names its backupMethod and backupSharePairId"
assert_eq 'UNKNOWN null' "$(grep -m1 '"clientId":"adm-1"' "$export_file" | jq -r '"\(.backupMethod) \(.backupSharePairId)"')" \
    "a legacy record exports as UNKNOWN with a null pair id"
assert_eq 'GDRIVE-SECP256K1 null' "$(grep '"clientId":"multi-1"' "$export_file" | jq -r 'select(.backupMethod == "GDRIVE-SECP256K1") | "\(.backupMethod) \(.backupSharePairId)"')" \
    "a share without a pair id exports it as null"
assert_eq 'p-1 p-1 p-2 p-9' "$(grep '"clientId":"multi-1"' "$export_file" | jq -r 'select(.kind == "custodian") | .backupSharePairId // empty' | sort | tr '\n' ' ' | sed 's/ $//')" \
    "pair ids are exported (top-level and from inside the share)"
check "the pair id is written right after backupMethod, as JSON" \
    grep -q '"kind":"custodian","backupMethod":"PASSWORD-SECP256K1","backupSharePairId":"p-3","version":1,' "$export_file"
leaked=0
for cid in "${!stored[@]}"; do
    tok=${stored[$cid]#*:\"}; tok=${tok%\"\}}
    grep -qF "$tok" "$export_file" && leaked=$((leaked + 1))
done
for k in "${!newest[@]}"; do
    tok=${newest[$k]##*\"share\":\"}; tok=${tok%\"\}}
    grep -qF "$tok" "$export_file" && leaked=$((leaked + 1))
done
assert_eq 0 "$leaked" "no plaintext share appears in the export"

new_db sharekeep_dr
out=$(admin_in sharekeep_dr -- import <"$export_file" 2>&1)
check "import inserts all $TOTAL records" grep -q "$TOTAL records inserted, 0 already present" <<<"$out"
out=$(admin_in sharekeep_dr -- import <"$export_file" 2>&1)
check "importing again changes nothing" grep -q "0 records inserted, $TOTAL already present" <<<"$out"
out=$(admin_in sharekeep_dr -- verify 2>&1)
check "the restored database verifies" grep -q "$TOTAL records, $TOTAL opened, 0 failed" <<<"$out"
assert_eq "$(pg_psql "$ROWS_SQL")" "$(in_db sharekeep_dr "$ROWS_SQL")" \
    "the round trip keeps every row: identity, version, KEK, sealed bytes, time"
assert_eq "p-1 2" "$(in_db sharekeep_dr "SELECT pair_id, version FROM share_record WHERE client_id = 'multi-1' AND backup_method = 'PASSWORD-SECP256K1' ORDER BY version DESC, pair_id LIMIT 1" | tr '|' ' ')" \
    "the restored database has backup_method and pair_id of each record"
out=$(admin_in sharekeep_dr -- status 2>&1)
check "the restored database counts the same per method" \
    grep -qx "custodian PASSWORD-SECP256K1: 4 records, 3 identities" <<<"$out"

# import refuses, before anything of the line is written: ...
# refused DESC FILE [SAYS] [DB]: importing FILE into DB (default
# sharekeep_dr) exits 1, writes nothing, and says SAYS (a fixed string).
refused() {
    local desc=$1 file=$2 says=${3:-} db=${4:-sharekeep_dr} before after
    before=$(in_db "$db" "SELECT count(*) FROM share_record")
    out=$(admin_in "$db" -- import <"$file" 2>&1)
    rc=$?
    after=$(in_db "$db" "SELECT count(*) FROM share_record")
    check "import refuses $desc (exit 1)" test "$rc" -eq 1
    check "nothing was written for $desc ($before rows before, $after after)" test -n "$before" -a "$before" = "$after"
    [ -z "$says" ] || check "the refusal of $desc says: $says" grep -qF -- "$says" <<<"$out"
}
line_of() {                        # CLIENT METHOD: its first record line in the export
    grep "\"clientId\":\"$1\"" "$export_file" | jq -c --arg m "$2" 'select(.backupMethod == $m)' | head -n 1
}
v2_file() { { echo '{"format":"sharekeep-export","version":2}'; cat; } >"$T/$1.jsonl"; }

# ... a record moved to another client, method or pair id
line_of adm-1 UNKNOWN | jq -c '.clientId = "someone-else"' | v2_file moved
refused "a record moved to another client" "$T/moved.jsonl" "does not open"
check "nothing for the moved record was written" \
    test "$(in_db sharekeep_dr "SELECT count(*) FROM share_record WHERE client_id = 'someone-else'")" = 0
line_of multi-1 PASSWORD-ED25519 | jq -c '.backupMethod = "PASSWORD-SECP256K1"' | v2_file method
refused "a record moved to another backupMethod" "$T/method.jsonl" \
    "line 2 (custodian PASSWORD-SECP256K1 version 1, KEK 2) does not open"
line_of multi-1 PASSWORD-ED25519 | jq -c '.backupSharePairId = null' | v2_file pair
refused "a record moved to another pair id" "$T/pair.jsonl" "does not open"
# ... a bad identity
line_of multi-1 PASSWORD-ED25519 | jq -c 'del(.backupMethod)' | v2_file nomethod
refused "a version 2 line without backupMethod" "$T/nomethod.jsonl" "line 2: bad backupMethod"
# (each case: what it is, then the JSON value)
for bad in 'empty:""' "65 characters:\"$(printf 'M%.0s' $(seq 1 65))\"" 'a tab:"A\tB"' \
           'a number:1' 'null:null'; do
    line_of multi-1 PASSWORD-ED25519 | jq -c ".backupMethod = ${bad#*:}" | v2_file badmethod
    refused "a backupMethod that is ${bad%%:*}" "$T/badmethod.jsonl" "line 2: bad backupMethod"
done
for bad in 'empty:""' "129 characters:\"$(printf 'P%.0s' $(seq 1 129))\"" \
           'a control character:"p\u0001"' 'a number:7'; do
    line_of multi-1 PASSWORD-ED25519 | jq -c ".backupSharePairId = ${bad#*:}" | v2_file badpair
    refused "a backupSharePairId that is ${bad%%:*}" "$T/badpair.jsonl" "line 2: bad backupSharePairId"
done
line_of multi-1 PASSWORD-ED25519 | jq -c '.backupSharePairId = "p-2"' | v2_file okpair
out=$(admin_in sharekeep_dr -- import <"$T/okpair.jsonl" 2>&1)
check "the same line with its own pair id is accepted (already present)" \
    grep -q "0 records inserted, 1 already present" <<<"$out"
line_of multi-1 PASSWORD-ED25519 | jq -c 'del(.backupSharePairId)' | v2_file nopair
refused "a version 2 line without backupSharePairId" "$T/nopair.jsonl"
line_of multi-1 PASSWORD-ED25519 | jq -c '.createdAt = 1' | v2_file badtime
refused "a createdAt that is not a string" "$T/badtime.jsonl" "line 2: bad createdAt"
: >"$T/empty.jsonl"
refused "an empty file" "$T/empty.jsonl" "empty input"
# ... a header that is not a sharekeep export of a version it reads
hdr_file() { { printf '%s\n' "$1"; line_of adm-2 UNKNOWN; } >"$T/hdr.jsonl"; }
hdr_file '{"format":"sharekeep-export","version":3}'
refused "export format version 3" "$T/hdr.jsonl" \
    "export format version 3 is not supported (this sharekeep reads versions 1 and 2)"
show
hdr_file '{"format":"sharekeep-export","version":12}'
refused "export format version 12 (not mistaken for 1)" "$T/hdr.jsonl" \
    "export format version 12 is not supported"
hdr_file '{"format":"sharekeep-export","version":0}'
refused "export format version 0" "$T/hdr.jsonl" "export format version 0 is not supported"
hdr_file '{"format":"other-export","version":2,"note":"\"format\":\"sharekeep-export\""}'
refused "another format" "$T/hdr.jsonl" "not a sharekeep export"
hdr_file '{"format":"sharekeep-export","version":"2"}'
refused "a version that is not a number" "$T/hdr.jsonl" "no version number"
hdr_file '{"format":"sharekeep-export","version":2'
refused "a header that is not JSON" "$T/hdr.jsonl" "line 1 is not a JSON object"
hdr_file '{"format":"sharekeep-export","version":2,"version":1}'
refused "a header with a repeated key" "$T/hdr.jsonl" "line 1 is not a JSON object: JSON has duplicate keys"
hdr_file '{"version":2,"format":"sharekeep-export","written-by":"a later sharekeep"}'
out=$(admin_in sharekeep_dr -- import <"$T/hdr.jsonl" 2>&1)
check "a header is JSON: key order and extra members do not matter" \
    grep -q "0 records inserted, 1 already present" <<<"$out"

# -- import in batches --------------------------------------------------------
# Records are committed N per transaction (--batch); a stop in the middle of
# a batch still leaves every line before the offending one stored, and a
# rerun finishes the job.
new_db sharekeep_b3
out=$(admin_in sharekeep_b3 -- import --batch 3 <"$export_file" 2>&1)
check "import --batch 3 inserts all $TOTAL records" grep -q "$TOTAL records inserted, 0 already present" <<<"$out"
assert_eq "$(pg_psql "$ROWS_SQL")" "$(in_db sharekeep_b3 "$ROWS_SQL")" \
    "batches of 3 keep every row as the one-batch import does"
admin_in sharekeep_b3 -- import --batch 0 <"$export_file" >/dev/null 2>&1
check "import --batch 0 is a usage error (2)" test $? -eq 2
batch_rows() { in_db sharekeep_batch "SELECT string_agg(client_id, ' ' ORDER BY client_id) FROM share_record"; }
new_db sharekeep_batch
for i in 1 2 3 4 5; do
    if [ "$i" = 4 ]; then line_of adm-4 UNKNOWN | jq -c '.clientId = "someone-else"'; else line_of "adm-$i" UNKNOWN; fi
done | v2_file stop4
out=$(admin_in sharekeep_batch -- import --batch 10 <"$T/stop4.jsonl" 2>&1)
rc=$?
show
check "a record that does not open in the middle of a batch stops the import (exit 1)" test "$rc" -eq 1
check "the stop names that line" grep -q "line 5 (custodian UNKNOWN version 1, KEK 2) does not open" <<<"$out"
assert_eq "adm-1 adm-2 adm-3" "$(batch_rows)" "the lines of its batch before it are committed, none after"
for i in 1 2 3 4 5; do line_of "adm-$i" UNKNOWN; done | v2_file good5
out=$(admin_in sharekeep_batch -- import --batch 10 <"$T/good5.jsonl" 2>&1)
check "running the import again finishes the job" grep -q "2 records inserted, 3 already present" <<<"$out"
assert_eq "adm-1 adm-2 adm-3 adm-4 adm-5" "$(batch_rows)" "all five records are there"
# A conflict: the database holds adm-5's bytes as adm-7 (a moved row), so
# adm-7's own record, which opens, is different bytes for that identity.
in_db sharekeep_batch "ALTER TABLE share_record DISABLE TRIGGER share_record_append_only;
    UPDATE share_record SET client_id = 'adm-7' WHERE client_id = 'adm-5';
    ALTER TABLE share_record ENABLE TRIGGER share_record_append_only" >/dev/null
for i in 6 7 8; do line_of "adm-$i" UNKNOWN; done | v2_file conflict7
out=$(admin_in sharekeep_batch -- import --batch 10 <"$T/conflict7.jsonl" 2>&1)
rc=$?
show
check "different bytes for an identity in the middle of a batch stop the import (exit 1)" test "$rc" -eq 1
check "the stop names the conflicting line" \
    grep -q "line 3: the database holds different bytes for this client, kind, backupMethod, pair id and version; stopping" <<<"$out"
assert_eq "adm-1 adm-2 adm-3 adm-4 adm-6 adm-7" "$(batch_rows)" \
    "the line before the conflict is committed, the one after is not"
check "the conflicting row is left as it was" \
    test "$(in_db sharekeep_batch "SELECT count(*) FROM share_record WHERE client_id = 'adm-7' AND envelope || payload = decode('$(line_of adm-5 UNKNOWN | jq -r .sealed)', 'base64')")" = 1
# The same record twice in one batch: inserted once, then already present.
for i in 9 9; do line_of "adm-$i" UNKNOWN; done | v2_file twice9
out=$(admin_in sharekeep_batch -- import --batch 10 <"$T/twice9.jsonl" 2>&1)
check "a record twice in one batch is inserted once, then already present" \
    grep -q "1 records inserted, 1 already present" <<<"$out"

# -- version 1 exports and records of format 1 ----------------------------------
# A version 1 export line has no backupMethod and no pair id: its records are
# legacy shares. These two records were sealed in format 1 (the fuzz seeds of
# tests/fuzz/corpus/fuzz_seal, keyring "KEK 1 = 32 bytes of 0x11"):
# fuzz-client-1 client version 1 '{"share":"backup share bytes"}', and
# client-42 custodian version 7 with an empty share.
V1_REC_CLIENT=U0tTUgEBAAAAAQAokQAalmHNmyqEJTsFbtbse5CJYjcLc2wD5dQRinvzpHOYZFlkhFAYzB26fa2oGzDumnC4/tTCCYKBgYelTD2IUQGXDhoZot9e9hLlsOKv4z6Le7ZHam7mmfuT1DI9E8MYuBRuAwRtjAm15b/W+vH+zXY63MgAAAAewnu59wGEsMUgKrm1pz0VblBU9zmb2v9uqTPsEtXZiXv3Rm/KvSoU5SdgaeT/Hg==
V1_REC_CUSTODIAN=U0tTUgEBAAAAAQAoYr+V9wDpyn/5xs/JYqtME5nVaHDVJ2E+aWqt9vButePghbfKUuRjXk7ug3MzGzaC++c9oNobLnAPbqS8pvD5o8GwWnk4xnu8LPgbT58sm8aQ41BMco7ZELIkpXBOQtasMlkAV6JjK/5o1/QgqlpLE43nvJAAAAAArZQHJDeeNw2UH4wjhyvxMw==
V1_KEYRING=$T/sk/keyring-v1
(umask 077; printf '# the fuzz seeds key\nkek 1 active %s\n' \
    "$(head -c 32 /dev/zero | tr '\0' '\021' | base64 -w0)" >"$V1_KEYRING")
v1kr=SHAREKEEP_KEYRING=$V1_KEYRING
cat >"$T/v1.jsonl" <<EOF
{"format":"sharekeep-export","version":1}
{"clientId":"fuzz-client-1","kind":"client","version":1,"kekId":1,"createdAt":"2026-01-02T03:04:05.000006Z","sealed":"$V1_REC_CLIENT"}
{"clientId":"client-42","kind":"custodian","version":7,"kekId":1,"createdAt":"2026-01-02T03:04:06.000000Z","sealed":"$V1_REC_CUSTODIAN"}
EOF
new_db sharekeep_v1
out=$(admin_in sharekeep_v1 "$v1kr" -- import <"$T/v1.jsonl" 2>&1)
check "a version 1 export of format 1 records imports" grep -q "2 records inserted, 0 already present" <<<"$out"
assert_eq "client-42 1 UNKNOWN  7 1,fuzz-client-1 2 UNKNOWN  1 1" \
    "$(in_db sharekeep_v1 "SELECT string_agg(concat_ws(' ', client_id, kind, backup_method, pair_id, version, get_byte(envelope, 4)), ',' ORDER BY client_id) FROM share_record")" \
    "its records are UNKNOWN without a pair id, still format 1"
assert_eq "2026-01-02 03:04:05.000006" "$(in_db sharekeep_v1 "SELECT created_at AT TIME ZONE 'UTC' FROM share_record WHERE client_id = 'fuzz-client-1'")" \
    "createdAt of a version 1 line is kept"
out=$(admin_in sharekeep_v1 "$v1kr" -- import <"$T/v1.jsonl" 2>&1)
check "importing the version 1 export again changes nothing" grep -q "0 records inserted, 2 already present" <<<"$out"
out=$(admin_in sharekeep_v1 "$v1kr" -- status 2>&1)
show
check "status counts format 1 records as UNKNOWN" grep -qx "custodian UNKNOWN: 1 records, 1 identities" <<<"$out"
out=$(admin_in sharekeep_v1 "$v1kr" -- verify 2>&1)
check "format 1 records verify" grep -q "verify: 2 records, 2 opened, 0 failed" <<<"$out"
# rewrap moves format 1 records too, and leaves them format 1
admin_in sharekeep_v1 "$v1kr" -- rotate >/dev/null 2>&1
out=$(admin_in sharekeep_v1 "$v1kr" -- rewrap 2>&1)
check "rewrap moves format 1 records" grep -q "rewrap: done: 2 records moved to KEK 2" <<<"$out"
assert_eq "2 1" "$(in_db sharekeep_v1 "SELECT string_agg(DISTINCT concat_ws(' ', kek_id, get_byte(envelope, 4)), ',') FROM share_record")" \
    "rewrapped format 1 records name KEK 2 and are still format 1"
out=$(admin_in sharekeep_v1 "$v1kr" -- verify 2>&1)
check "rewrapped format 1 records verify" grep -q "verify: 2 records, 2 opened, 0 failed" <<<"$out"
# ... and export as version 2 lines, UNKNOWN with a null pair id
admin_in sharekeep_v1 "$v1kr" -- export >"$T/v1-re.jsonl" 2>/dev/null
assert_eq "UNKNOWN null,UNKNOWN null" "$(tail -n +2 "$T/v1-re.jsonl" | jq -r '"\(.backupMethod) \(.backupSharePairId)"' | paste -sd,)" \
    "format 1 records export as UNKNOWN with a null pair id"
out=$(admin_in sharekeep_v1 "$v1kr" -- import <"$T/v1-re.jsonl" 2>&1)
check "that export imports back as the same records" grep -q "0 records inserted, 2 already present" <<<"$out"
# a format 1 record claimed for another identity does not open
grep '"fuzz-client-1"' "$T/v1-re.jsonl" | jq -c '.backupMethod = "PASSKEY"' | v2_file v1moved
new_db sharekeep_v1b
refused "a format 1 record under a backupMethod" "$T/v1moved.jsonl" \
    "a format 1 record opens only as backupMethod UNKNOWN without a pair id" sharekeep_v1b
# a version 1 line that names an identity is not a version 1 line
{ echo '{"format":"sharekeep-export","version":1}'; grep '"fuzz-client-1"' "$T/v1-re.jsonl"; } >"$T/v1mixed.jsonl"
refused "a version 1 line with a backupMethod" "$T/v1mixed.jsonl" "in a version 1 export" sharekeep_v1b

# A version 1 file of records sealed today (format 2): they import as
# UNKNOWN, so a legacy share opens and one stored under a method does not.
v1_file() { { echo '{"format":"sharekeep-export","version":1}'; jq -c 'del(.backupMethod, .backupSharePairId)'; } >"$T/$1.jsonl"; }
new_db sharekeep_v1c
line_of adm-4 UNKNOWN | v1_file v1legacy
out=$(admin_in sharekeep_v1c -- import <"$T/v1legacy.jsonl" 2>&1)
check "a version 1 line of a legacy share sealed today imports" grep -q "1 records inserted, 0 already present" <<<"$out"
assert_eq "adm-4 UNKNOWN " "$(in_db sharekeep_v1c "SELECT concat_ws(' ', client_id, backup_method, pair_id) FROM share_record")" \
    "it is stored as UNKNOWN without a pair id"
line_of multi-1 GDRIVE-SECP256K1 | v1_file v1method
refused "a version 1 line of a share stored under a method" "$T/v1method.jsonl" \
    "line 2 (custodian UNKNOWN version 1, KEK 2) does not open" sharekeep_v1c

# -- verify finds damage --------------------------------------------------------
# A byte of the ciphertext (the payload's 8th): no UPDATE may name the
# payload, so the damage is done with its trigger off, as an attacker who
# owns the table would.
psql_as sharekeep_owner sharekeep \
    "ALTER TABLE share_record DISABLE TRIGGER share_record_payload_fixed;
     UPDATE share_record SET payload = overlay(payload placing '\\x00'::bytea from 8 for 1)
     WHERE client_id = 'adm-3';
     ALTER TABLE share_record ENABLE TRIGGER share_record_payload_fixed" >/dev/null
out=$(admin verify 2>&1)
rc=$?
assert_eq 1 "$rc" "verify exits 1 when a record is damaged"
check "verify names the damaged record" grep -q "(custodian UNKNOWN version 1, KEK 2) does not open" <<<"$out"
check "verify counts one failure" grep -q "$TOTAL records, $((TOTAL - 1)) opened, 1 failed" <<<"$out"

# ... and a record moved to another identity. The table is append-only; its
# owner can switch the guard off, as someone tampering with it would.
tamper() {                         # DB SQL
    in_db "$1" "ALTER TABLE share_record DISABLE TRIGGER share_record_append_only;
                $2;
                ALTER TABLE share_record ENABLE TRIGGER share_record_append_only" >/dev/null
}
tamper sharekeep "UPDATE share_record SET backup_method = 'PASSWORD-ED25519'
                  WHERE client_id = 'multi-1' AND backup_method = 'GDRIVE-SECP256K1'"
assert_eq 1 "$(rows "client_id = 'multi-1' AND backup_method = 'PASSWORD-ED25519' AND pair_id = ''")" \
    "the GDRIVE-SECP256K1 record now claims PASSWORD-ED25519"
out=$(admin verify 2>&1)
rc=$?
assert_eq 1 "$rc" "verify exits 1 when a record's backupMethod was changed"
check "verify names the record by kind, backupMethod and version" \
    grep -q "(custodian PASSWORD-ED25519 version 1, KEK 2) does not open: sealed record failed authentication" <<<"$out"
check "verify counts two failures" grep -q "$TOTAL records, $((TOTAL - 2)) opened, 2 failed" <<<"$out"
tamper sharekeep "UPDATE share_record SET pair_id = 'p-1' WHERE client_id = 'multi-2'"
out=$(admin verify 2>&1)
verify_out=$out
show
check "verify catches a changed pair id too" grep -q "$TOTAL records, $((TOTAL - 3)) opened, 3 failed" <<<"$out"
check "verify names that record" grep -q "(custodian PASSWORD-SECP256K1 version 1, KEK 2) does not open" <<<"$out"
tamper sharekeep_v1 "UPDATE share_record SET backup_method = 'PASSWORD' WHERE client_id = 'fuzz-client-1'"
out=$(admin_in sharekeep_v1 "$v1kr" -- verify 2>&1)
rc=$?
show
assert_eq 1 "$rc" "verify exits 1 when a format 1 record's backupMethod was changed"
check "verify explains the format 1 record" \
    grep -q "(client PASSWORD version 1, KEK 2) does not open: sealed record failed authentication (a format 1 record opens only as backupMethod UNKNOWN without a pair id)" <<<"$out"
leaked=0
for k in "${!newest[@]}"; do
    tok=${newest[$k]##*\"share\":\"}; tok=${tok%\"\}}
    grep -qF "$tok" <<<"$verify_out" && leaked=$((leaked + 1))
done
grep -qF "backup share bytes" <<<"$out" && leaked=$((leaked + 1))
assert_eq 0 "$leaked" "no share appears in what verify printed"
