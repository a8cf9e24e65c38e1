#!/bin/bash
# Concurrent edits of one key file lose no KEK: 50 `sharekeep rotate` runs
# racing in parallel batches leave 1 + 50 KEKs with unique ids and keys and
# exactly one active, `check` accepts the file, and records sealed before and
# after the race open (verify after a reload, and again after a rewrap). Two
# `keygen` of one new path at once, 20 times: exactly one wins each time, the
# other says the file exists. The lock file beside the key file is what
# serialises them (src/keyring_file.c); without it the last rename wins.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# Portal's own authentication (X-Webhook-Secret).
SK_WEBHOOK_MODE=${SK_WEBHOOK_MODE:-shared}
. "${SHAREKEEP_SRCDIR:-.}/tests/integration/lib.sh"

ROTATIONS=50
BATCH=10           # rotations started at once
KEYGEN_ROUNDS=20

sk_init
sk_setup

KEYRING=$T/sk/keyring
ADMIN_DB=$(pg_conninfo sharekeep_owner)
admin() { sk_run SHAREKEEP_ADMIN_DATABASE="$ADMIN_DB" -- -c "$SK_CONF" "$@"; }
show() { sed 's/^/#   /' <<<"$out"; }

# race DIR N CMD...: starts N copies of CMD in the background, each waiting
# for DIR/go so that they start together, then releases them and waits for
# all N (by pid: sharekeep and nginx are children of this shell too). Copy i
# leaves its output in DIR/i.out and its exit status in DIR/i.rc.
race() {
    local dir=$1 n=$2 i
    shift 2
    local -a pids=()
    mkdir -p "$dir"
    rm -f "$dir/go"
    for i in $(seq 1 "$n"); do
        (
            until [ -e "$dir/go" ]; do sleep 0.01; done
            "$@" >"$dir/$i.out" 2>&1
            echo $? >"$dir/$i.rc"
        ) &
        pids+=($!)
    done
    sleep 0.2
    : >"$dir/go"
    for i in "${pids[@]}"; do wait "$i"; done
}

# kek_field N: field N of every "kek" line of the key file (2 id, 3 state, 4 key).
kek_field() { awk -v f="$1" '$1 == "kek" { print $f }' "$KEYRING"; }

declare -A stored
# store PREFIX N: N custodian shares, clients PREFIX-1..PREFIX-N.
store() {
    local i share
    for i in $(seq 1 "$2"); do
        share='{"share":"'$(rand_token 48)'"}'
        req POST /webhook/backup "$(json clientId "$1-$i" share "$share")"
        [ "$STATUS" = 200 ] && stored[$1-$i]=$share
    done
}

# -- records under the first KEK ------------------------------------------------
store before 5
assert_eq 5 "${#stored[@]}" "5 shares stored before the race"
assert_eq 5 "$(rows "kek_id = 1")" "they are sealed with KEK 1"

# -- 50 rotations, BATCH at a time ------------------------------------------------
for b in $(seq 1 $((ROTATIONS / BATCH))); do
    race "$T/rot/$b" "$BATCH" admin rotate
done
cat "$T"/rot/*/*.out >"$T/rot.out"
passed=$(cat "$T"/rot/*/*.rc | grep -cx 0)
assert_eq "$ROTATIONS" "$passed" "all $ROTATIONS concurrent rotations exit 0"
[ "$passed" = "$ROTATIONS" ] || grep -h '^sharekeep:' "$T/rot.out" | sort | uniq -c | sed 's/^/#   /'
claimed=$(sed -n 's/^rotate: KEK \([0-9]*\) is now active.*/\1/p' "$T/rot.out" | sort -n)
assert_eq "$(seq 2 $((ROTATIONS + 1)))" "$claimed" \
    "the rotations report KEKs 2..$((ROTATIONS + 1)), each id once"

ids=$(kek_field 2 | sort -n)
assert_eq $((ROTATIONS + 1)) "$(kek_field 2 | wc -l)" "the key file holds 1 + $ROTATIONS KEKs"
assert_eq "" "$(kek_field 2 | sort | uniq -d | tr '\n' ' ')" "every KEK id in the file is unique"
assert_eq "$(seq 1 $((ROTATIONS + 1)))" "$ids" "the ids are 1..$((ROTATIONS + 1)): none lost"
assert_eq "" "$(kek_field 4 | sort | uniq -d | head -c 8)" "every KEK in the file is a different key"
assert_eq 1 "$(kek_field 3 | grep -cx active)" "exactly one KEK is active"
assert_eq "$((ROTATIONS + 1))" "$(awk '$1 == "kek" && $3 == "active" { print $2 }' "$KEYRING")" \
    "the active KEK is the last one, $((ROTATIONS + 1))"
assert_eq "$ROTATIONS" "$(kek_field 3 | grep -cx decrypt)" "the $ROTATIONS others still decrypt"
assert_eq 600 "$(stat -c %a "$KEYRING")" "the key file is still mode 0600"
assert_eq "" "$(find "$T/sk" -maxdepth 1 -name 'keyring.tmp.*' | tr '\n' ' ')" "no temp file is left"
assert_eq "600 $(id -u) 0" "$(stat -c '%a %u %s' "$KEYRING.lock" 2>&1)" \
    "the lock file keyring.lock is an empty 0600 file of ours"
out=$(sk_run -- -c "$SK_CONF" check 2>&1)
rc=$?
show
assert_eq 0 "$rc" "sharekeep check accepts the key file"
check "check sees KEK $((ROTATIONS + 1)) active among $((ROTATIONS + 1)) keys" \
    grep -q "active KEK $((ROTATIONS + 1)), $((ROTATIONS + 1)) keys" <<<"$out"

# -- reload, records under the new KEK, verify, rewrap, verify -------------------
kill -HUP "$SK_PID"
sleep 0.5
check "sharekeep survives the reload" alive "$SK_PID"
store after 5
assert_eq 10 "${#stored[@]}" "5 more shares stored after the reload"
assert_eq 5 "$(rows "kek_id = $((ROTATIONS + 1))")" "they are sealed with KEK $((ROTATIONS + 1))"
out=$(admin verify 2>&1)
rc=$?
show
assert_eq 0 "$rc" "verify exits 0 after the reload"
check "verify opens the 10 records under both KEKs" grep -q "verify: 10 records, 10 opened, 0 failed" <<<"$out"
out=$(admin rewrap 2>&1)
rc=$?
show
assert_eq 0 "$rc" "rewrap exits 0"
check "rewrap moves the old records to the active KEK" \
    grep -q "rewrap: done: 5 records moved to KEK $((ROTATIONS + 1))" <<<"$out"
assert_eq 0 "$(rows "kek_id <> $((ROTATIONS + 1))")" "no record is left on an older KEK"
out=$(admin verify 2>&1)
rc=$?
show
assert_eq 0 "$rc" "verify exits 0 after the rewrap"
check "verify opens all 10 records" grep -q "verify: 10 records, 10 opened, 0 failed" <<<"$out"
lost=0
for cid in "${!stored[@]}"; do
    req POST /webhook/backup/fetch "$(json clientId "$cid")"
    [ "$STATUS" = 200 ] && [ "$(jq -r .backupShare <<<"$BODY" 2>/dev/null)" = "${stored[$cid]}" ] ||
        lost=$((lost + 1))
done
assert_eq 0 "$lost" "every share fetches back byte for byte"

# -- two keygens of one new path, 20 times ----------------------------------------
one_winner=0 exists_said=0 loads=0
for r in $(seq 1 "$KEYGEN_ROUNDS"); do
    f=$T/sk/kg-$r
    race "$T/kg/$r" 2 sk_run -- keygen "$f"
    wins=$(cat "$T/kg/$r"/*.rc | grep -cx 0)
    [ "$wins" = 1 ] && one_winner=$((one_winner + 1))
    grep -q "keyring $f: already exists; refusing to overwrite it" "$T/kg/$r"/*.out &&
        exists_said=$((exists_said + 1))
    [ "$wins" = 1 ] || sed "s/^/#   round $r: /" "$T/kg/$r"/*.out
    sk_run SHAREKEEP_KEYRING="$f" -- -c "$SK_CONF" check 2>&1 | grep -q "active KEK 1, 1 keys" &&
        [ "$(stat -c %a "$f")" = 600 ] && loads=$((loads + 1))
done
assert_eq "$KEYGEN_ROUNDS" "$one_winner" "exactly one of two racing keygens succeeds, every round"
assert_eq "$KEYGEN_ROUNDS" "$exists_said" "the other one says the file already exists"
assert_eq "$KEYGEN_ROUNDS" "$loads" "every keygen'd file is a 0600 key file with one active KEK"
