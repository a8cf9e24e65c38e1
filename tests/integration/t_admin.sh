#!/bin/bash
# Operator commands against a running service: rotate the KEK under load,
# reload, rewrap, verify every record; retire; status; export/import into a
# second database; verify catches a damaged record. No command prints a
# share.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
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
sk_run -- no-such-command >/dev/null 2>&1
check "an unknown command exits 2" test $? -eq 2
sk_run -- retire >/dev/null 2>&1
check "retire without a KEK id is a usage error (2)" test $? -eq 2

sk_setup

ADMIN_DB=$(pg_conninfo sharekeep_owner)
admin() { sk_run SHAREKEEP_ADMIN_DATABASE="$ADMIN_DB" -- -c "$SK_CONF" "$@"; }

declare -A stored
for i in $(seq 1 20); do
    share='{"share":"'$(rand_token 48)'"}'
    req POST /webhook/backup "$(json clientId "adm-$i" share "$share")"
    [ "$STATUS" = 200 ] && stored[adm-$i]=$share
done
assert_eq 20 "${#stored[@]}" "20 shares stored under the first KEK"
assert_eq 20 "$(rows "kek_id = 1")" "all records use KEK 1"

out=$(admin status 2>&1)
check "status names KEK 1 active with 20 records" grep -q "KEK 1: active, 20 records" <<<"$out"

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
out=$(admin rewrap --batch 7 2>&1)
check "rewrap under load finishes" grep -q "rewrap: done" <<<"$out"
check "rewrap reports progress per batch" grep -q "moved to KEK 2" <<<"$out"
wait "$loader"

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
check "verify opened all 140 records" grep -q "verify: 140 records, 140 opened, 0 failed" <<<"$out"

lost=0
while read -r status cid share; do
    [ "$status" = 200 ] || continue
    req POST /webhook/backup/fetch "$(json clientId "$cid")"
    [ "$(jq -r .share <<<"$BODY" 2>/dev/null)" = "$share" ] || lost=$((lost + 1))
done <"$load"
for cid in "${!stored[@]}"; do
    req POST /webhook/backup/fetch "$(json clientId "$cid")"
    [ "$(jq -r .share <<<"$BODY" 2>/dev/null)" = "${stored[$cid]}" ] || lost=$((lost + 1))
done
assert_eq 0 "$lost" "every acknowledged share fetches byte-exact after rotation"

# -- retire -------------------------------------------------------------------
out=$(admin retire 2 2>&1)
check "retiring the active KEK is refused" grep -q "is active" <<<"$out"
out=$(admin retire 1 2>&1)
check "retiring the unused old KEK works" grep -q "KEK 1 is retired" <<<"$out"
out=$(admin status 2>&1)
check "status shows KEK 1 retired" grep -q "KEK 1: retired, 0 records" <<<"$out"
check "status shows KEK 2 active with 140 records" grep -q "KEK 2: active, 140 records" <<<"$out"
admin rotate >/dev/null 2>&1
out=$(admin retire 2 2>&1)
check "retiring a KEK that records still use is refused" grep -q "still protects 140 records" <<<"$out"

# -- export / import ------------------------------------------------------------
export_file=$T/export.jsonl
admin export >"$export_file" 2>"$T/export.err"
assert_eq 0 "$?" "export exits 0"
assert_eq 141 "$(wc -l <"$export_file")" "export has a header and 140 records"
leaked=0
for cid in "${!stored[@]}"; do
    tok=${stored[$cid]#*:\"}; tok=${tok%\"\}}
    grep -qF "$tok" "$export_file" && leaked=$((leaked + 1))
done
assert_eq 0 "$leaked" "no plaintext share appears in the export"

pg_psql_as postgres postgres "CREATE DATABASE sharekeep_dr OWNER sharekeep_owner" >/dev/null
DR_DB=${ADMIN_DB/dbname=sharekeep/dbname=sharekeep_dr}
sk_run SHAREKEEP_DATABASE="$DR_DB" -- -c "$SK_CONF" migrate >>"$SK_LOG" 2>&1
out=$(sk_run SHAREKEEP_ADMIN_DATABASE="$DR_DB" -- -c "$SK_CONF" import <"$export_file" 2>&1)
check "import inserts all 140 records" grep -q "140 records inserted, 0 already present" <<<"$out"
out=$(sk_run SHAREKEEP_ADMIN_DATABASE="$DR_DB" -- -c "$SK_CONF" import <"$export_file" 2>&1)
check "importing again changes nothing" grep -q "0 records inserted, 140 already present" <<<"$out"
out=$(sk_run SHAREKEEP_ADMIN_DATABASE="$DR_DB" -- -c "$SK_CONF" verify 2>&1)
check "the restored database verifies" grep -q "140 records, 140 opened, 0 failed" <<<"$out"

# a damaged line is refused before anything of it is written
sed -n 1p "$export_file" >"$T/bad.jsonl"
sed -n 2p "$export_file" | jq -c '.clientId = "someone-else"' >>"$T/bad.jsonl"
out=$(sk_run SHAREKEEP_ADMIN_DATABASE="$DR_DB" -- -c "$SK_CONF" import <"$T/bad.jsonl" 2>&1)
rc=$?
check "import refuses a record moved to another client" test "$rc" -ne 0
check "the refusal says the record does not open" grep -q "does not open" <<<"$out"
check "nothing for the moved record was written" \
    test "$(pg_psql_as sharekeep_owner sharekeep_dr "SELECT count(*) FROM share_record WHERE client_id = 'someone-else'")" = 0

# -- verify finds damage --------------------------------------------------------
pg_psql_as sharekeep_owner sharekeep \
    "UPDATE share_record SET sealed = overlay(sealed placing '\\x00'::bytea from 140 for 1)
     WHERE client_id = 'adm-3'" >/dev/null
out=$(admin verify 2>&1)
rc=$?
assert_eq 1 "$rc" "verify exits 1 when a record is damaged"
check "verify names the damaged record" grep -q "does not open" <<<"$out"
check "verify counts one failure" grep -q "140 records, 139 opened, 1 failed" <<<"$out"

